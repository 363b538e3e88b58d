/*
 * test_rules.c - unit tests for hub/rules.c: the survivorship rules file
 * (every refusal names its line) and the source ranks it gives.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../hub/model/rules.h"

static void
test_defaults(void **state)
{
    struct nv_rules r;

    (void)state;
    nv_rules_default(&r);
    assert_int_equal(r.update[NV_F_EMAIL], 1);
    assert_int_equal(r.update[NV_F_LAST_NAME], 1);
    assert_int_equal(r.update[NV_F_CONSENT], 0);
    assert_int_equal(r.update[NV_F_PERSON_ID], 0);
    assert_int_equal(r.update[NV_F_UPDATED_AT], 0);
    assert_int_equal(nv_golden_field(NV_F_CREATED_AT), 0);
    assert_int_equal(nv_golden_field(NV_F_CONSENT), 1);
    /* no priorities: every entity ranks the same */
    assert_int_equal(nv_rules_rank(&r, NV_F_EMAIL, "acme"), nv_rules_rank(&r, NV_F_EMAIL, "zz"));
    nv_rules_release(&r);
}

static void
test_parse(void **state)
{
    static const char text[] =
        "# the group's rules\n"
        "\n"
        "nova-survivorship 1\n"
        "priority *      groupe  # comment\n"
        "priority email  acquis groupe\n"
        "\tnoupdate title\n"
        "update consent\r\n";
    struct nv_rules r;

    (void)state;
    assert_int_equal(nv_rules_parse(text, strlen(text), &r), 0);
    assert_int_equal(nv_rules_rank(&r, NV_F_EMAIL, "acquis"), 0);
    assert_int_equal(nv_rules_rank(&r, NV_F_EMAIL, "groupe"), 1);
    assert_int_equal(nv_rules_rank(&r, NV_F_EMAIL, "other"), 2);
    /* a field without its own line follows "*" */
    assert_int_equal(nv_rules_rank(&r, NV_F_PHONE, "groupe"), 0);
    assert_int_equal(nv_rules_rank(&r, NV_F_PHONE, "acquis"), 1);
    assert_int_equal(nv_rules_rank(&r, NV_F_PHONE, "other"), 1);
    assert_int_equal(r.update[NV_F_TITLE], 0);
    assert_int_equal(r.update[NV_F_CONSENT], 1);
    assert_int_equal(r.update[NV_F_EMAIL], 1);
    nv_rules_release(&r);
}

static void
test_refusals(void **state)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        { "priority email a\n", "rules line 1: the first directive must be 'nova-survivorship 1'" },
        { "", "rules line 1: the first directive must be" },
        { "nova-survivorship 2\n", "rules line 1: the first directive" },
        { "nova-survivorship 1\nfrobnicate x\n", "rules line 2: unknown directive 'frobnicate'" },
        { "nova-survivorship 1\npriority email\n", "rules line 2: priority FIELD|* ENTITY" },
        { "nova-survivorship 1\npriority mail acme\n", "rules line 2: 'mail' is not a field" },
        { "nova-survivorship 1\npriority updated_at acme\n", "rules line 2: 'updated_at' is not a field" },
        { "nova-survivorship 1\npriority email Acme\n", "rules line 2: 'Acme' is not an entity name" },
        { "nova-survivorship 1\npriority email a b a\n", "rules line 2: entity 'a' twice" },
        { "nova-survivorship 1\n\npriority email a\npriority email b\n",
          "rules line 4: a second priority line for email" },
        { "nova-survivorship 1\npriority * a\npriority * b\n", "rules line 3: a second priority line for *" },
        { "nova-survivorship 1\nupdate\n", "rules line 2: update FIELD" },
        { "nova-survivorship 1\nupdate email\nnoupdate email\n", "rules line 3: email is named twice" },
        { "nova-survivorship 1\nnoupdate created_at\n", "rules line 2: 'created_at' is not a field" },
    };
    struct nv_rules r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nv_error_clear();
        if (nv_rules_parse(bad[i].text, strlen(bad[i].text), &r) != NV_EFORMAT)
            fail_msg("accepted: %s", bad[i].text);
        if (strstr(nv_errmsg(NV_EFORMAT), bad[i].msg) == NULL)
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, nv_errmsg(NV_EFORMAT),
                     bad[i].msg);
    }
    /* a NUL byte: not a text file */
    assert_int_equal(nv_rules_parse("nova-survivorship 1\n\0", 21, &r), NV_EFORMAT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
