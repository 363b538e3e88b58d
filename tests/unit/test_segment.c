/*
 * test_segment.c - unit tests for hub/segment/segment.c: the segment file
 * format (what parses, every refusal with its line), the canonical forms
 * values are compared in, the dates "within" binds, the conditions on one
 * record and on one person.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/buf.h"
#include "../../formats/errors.h"
#include "../../hub/segment/segment.h"

static void
parse_ok(const char *text, struct nv_segment *s)
{
    int r;

    nv_error_clear();
    if ((r = nv_segment_parse(text, strlen(text), s)) != 0)
        fail_msg("refused: %s\n%s", nv_errmsg(r), text);
}

static void
refused(const char *text, const char *msg)
{
    struct nv_segment s;
    int r;

    nv_error_clear();
    r = nv_segment_parse(text, strlen(text), &s);
    if (r == 0) {
        nv_segment_release(&s);
        fail_msg("accepted: %s", text);
    }
    if (strstr(nv_errmsg(r), msg) == NULL)
        fail_msg("for %s: '%s' does not hold '%s'", text, nv_errmsg(r), msg);
}

/* the README's example */
static const char readme[] =
    "nova-segment 1\n"
    "# readers of a MediaPulse title who came to an EventClick event lately\n"
    "mediapulse.publication is not empty\n"
    "and eventclick.event_date within last 6 months\n";

static void
test_parse(void **state)
{
    struct nv_segment s;

    (void)state;
    parse_ok(readme, &s);
    assert_int_equal(s.nleaves, 2);
    assert_int_equal(s.root->kind, NV_SEG_AND);
    assert_string_equal(s.leaves[0]->entity, "mediapulse");
    assert_int_equal(s.leaves[0]->where->op, NV_SEG_NOTEMPTY);
    assert_string_equal(s.leaves[0]->where->field, "publication");
    assert_int_equal(s.leaves[0]->where->common, -1);
    assert_string_equal(s.leaves[1]->entity, "eventclick");
    assert_int_equal(s.leaves[1]->where->op, NV_SEG_WITHIN_MONTHS);
    assert_int_equal(s.leaves[1]->where->n, 6);
    assert_int_equal(s.leaves[1]->line, 4);
    nv_segment_release(&s);

    /* precedence: and binds tighter than or; not; parentheses */
    parse_ok("nova-segment 1\na.x = 1 or b has a record and not c.y is empty\n", &s);
    assert_int_equal(s.root->kind, NV_SEG_OR);
    assert_int_equal(s.root->b->kind, NV_SEG_AND);
    assert_int_equal(s.root->b->b->kind, NV_SEG_NOT);
    assert_int_equal(s.nleaves, 3);
    nv_segment_release(&s);
    parse_ok("nova-segment 1\n(a.x = 1 or b has a record) and c.y is empty\n", &s);
    assert_int_equal(s.root->kind, NV_SEG_AND);
    assert_int_equal(s.root->a->kind, NV_SEG_OR);
    nv_segment_release(&s);

    /* counts, record conditions, lists, any entity, dotted entity names */
    parse_ok("nova-segment 1\n"
             "eventclick has at least 3 records where (event in (\"Forum RH\", salon) and\n"
             "   not places = 0 or event_date between 2026-01-01 and 2026-03-31)\n"
             "or *.email = Ana.Dupont@Example.FR\n"
             "or acme.fr.city starts with \"Saint-\"\n", &s);
    assert_int_equal(s.nleaves, 3);
    assert_int_equal(s.leaves[0]->min, 3);
    assert_int_equal(s.leaves[0]->where->kind, NV_SEG_OR);
    assert_int_equal(s.leaves[0]->where->a->a->nvals, 2);
    assert_string_equal(s.leaves[0]->where->a->a->vals[0], "forum rh");
    assert_string_equal(s.leaves[0]->where->b->from, "2026-01-01");
    assert_null(s.leaves[1]->entity);
    assert_string_equal(s.leaves[1]->where->vals[0], "ana.dupont@example.fr");
    assert_string_equal(s.leaves[2]->entity, "acme.fr");
    assert_string_equal(s.leaves[2]->where->field, "city");
    nv_segment_release(&s);

    /* a common field's literal is normalised as ingest does */
    parse_ok("nova-segment 1\n*.phone = \"06 12 34 56 78\" or *.birth_date = 14/03/1975 "
             "or *.consent = oui\n", &s);
    assert_string_equal(s.leaves[0]->where->vals[0], "+33612345678");
    assert_string_equal(s.leaves[1]->where->vals[0], "1975-03-14");
    assert_string_equal(s.leaves[2]->where->vals[0], "1");
    nv_segment_release(&s);

    /* blank lines, comments, CRLF, a BOM before the header */
    parse_ok("\xef\xbb\xbf# segment\r\n\r\nnova-segment 1 # v1\r\nx has record # any\r\n", &s);
    assert_int_equal(s.nleaves, 1);
    nv_segment_release(&s);
}

static void
test_refusals(void **state)
{
    (void)state;
    refused("", "empty");
    refused("nova-segment 2\na has a record\n", "line 1: format version '2'");
    refused("nova-mapping 1\na has a record\n", "line 1: the file must start");
    refused("nova-segment 1\n", "no condition");
    refused("nova-segment 1\n# nothing\n", "no condition");
    refused("nova-segment 1\na.x = 1 b.y = 2\n", "line 2: 'and', 'or' or the end");
    refused("nova-segment 1\na.x = 1\nand\n", "line 3: a condition");
    refused("nova-segment 1\na.x\n", "line 2: after x: =, in");
    refused("nova-segment 1\nax = 1\n", "line 2: 'ax': a condition is ENTITY.FIELD");
    refused("nova-segment 1\nA.x = 1\n", "line 2: 'A' is not an entity name");
    refused("nova-segment 1\na.X = 1\n", "line 2: 'X' is not a field name");
    refused("nova-segment 1\na.x = \"open\n", "line 2: unterminated quote");
    refused("nova-segment 1\na.x = \"\"\n", "line 2: an empty value");
    refused("nova-segment 1\na.x in (1, 2\n", "line 2: ',' or ')' in the list");
    refused("nova-segment 1\na.x in 1\n", "line 2: 'in' takes a list");
    refused("nova-segment 1\na.x starts \"b\"\n", "'starts with'");
    refused("nova-segment 1\na.x is full\n", "'is empty' or 'is not empty'");
    refused("nova-segment 1\na.d within 6 weeks\n", "line 2: 'within N' takes days or months");
    refused("nova-segment 1\na.d within 0 days\n", "'within' takes a number");
    refused("nova-segment 1\na.d within six months\n", "'within' takes a number");
    refused("nova-segment 1\na.d between 2026-02-30 and 2026-03-01\n", "takes dates YYYY-MM-DD");
    refused("nova-segment 1\na.d between 2026-03-01 and 2026-02-01\n", "is after the second");
    refused("nova-segment 1\na.d between 2026-03-01 2026-04-01\n", "'between DATE and DATE'");
    refused("nova-segment 1\na.city within 3 days\n", "'within' needs a date field; city");
    refused("nova-segment 1\na.birth_date = 31/02/1990\n", "line 2: '31/02/1990' is not a valid birth_date");
    refused("nova-segment 1\na.email = nobody\n", "is not a valid email");
    refused("nova-segment 1\na has records where x = 1\n", "'where' takes a condition in parentheses");
    refused("nova-segment 1\na has at most 2 records\n", "'at least N records'");
    refused("nova-segment 1\na has 2 records\n", "'has a record' or 'has at least N records'");
    refused("nova-segment 1\n(a.x = 1\n\n", "line 2: ')' expected");
    refused("nova-segment 1\na.x = 1)\n", "line 2: 'and', 'or' or the end");
    refused("nova-segment 1\na.x = 1 ; b.y = 2\n", "unexpected character");
    {
        struct nv_segment s;
        static const char nul[] = "nova-segment 1\na.x = 1\0\n";
        assert_int_equal(nv_segment_parse(nul, sizeof(nul) - 1, &s), NV_EFORMAT);
        assert_non_null(strstr(nv_errmsg(NV_EFORMAT), "NUL"));
    }
    {
        /* nesting is bounded */
        char deep[600] = "nova-segment 1\n";
        for (int i = 0; i < 100; i++)
            strcat(deep, "(");
        strcat(deep, "a.x = 1");
        refused(deep, "nested more than");
        /* and so are the conditions on entities */
        struct nv_buf b = NV_BUF_INIT;
        assert_int_equal(nv_buf_adds(&b, "nova-segment 1\na has a record"), 0);
        for (int i = 0; i < NV_SEGMENT_MAX_LEAVES; i++)
            assert_int_equal(nv_buf_adds(&b, " or a has a record"), 0);
        assert_int_equal(nv_buf_add(&b, "", 1), 0);
        refused((char *)b.data, "more than 64 conditions");
        nv_buf_release(&b);
    }
}

static void
canon(const char *in, const char *want)
{
    struct nv_buf b = NV_BUF_INIT;

    assert_int_equal(nv_segment_canon(in, strlen(in), &b), 0);
    if (strcmp((char *)b.data, want) != 0)
        fail_msg("canon(%s) = '%s', want '%s'", in, (char *)b.data, want);
    nv_buf_release(&b);
}

static void
test_canon(void **state)
{
    (void)state;
    canon("05/03/2026", "2026-03-05");
    canon("2026-03-05T10:00:00Z", "2026-03-05");
    canon("1 234,50", "1234.5");
    canon("3", "3");
    canon("007", "007");       /* a code keeps its zeros */
    canon("Oui", "1");
    canon("non", "0");
    canon("Forum  RH", "forum rh");
    canon("Décideurs", "decideurs");
}

static json_t *
rec(const char *json)
{
    json_t *r = json_loads(json, 0, NULL);

    assert_non_null(r);
    return r;
}

static void
test_records_and_people(void **state)
{
    struct nv_segment s;
    struct nv_buf sb = NV_BUF_INIT;
    json_t *a, *b, *c, *d;
    uint32_t counts[NV_SEGMENT_MAX_LEAVES];

    (void)state;
    parse_ok(readme, &s);
    /* 2026-06-15: six months back is 2025-12-15 */
    nv_segment_bind(&s, 1781524800);
    assert_string_equal(s.leaves[1]->where->from, "2025-12-15");
    assert_string_equal(s.leaves[1]->where->to, "2026-06-15");
    a = rec("{\"c\":{},\"x\":{\"publication\":\"Business Hebdo\"}}");
    b = rec("{\"c\":{},\"x\":{\"event_date\":\"2025-12-15\"}}");
    c = rec("{\"c\":{},\"x\":{\"event_date\":\"2025-12-14\"}}");
    d = rec("{\"c\":{},\"x\":{\"publication\":\"\"}}");
    assert_true(nv_segment_record_matches(s.leaves[0], "mediapulse", a, &sb));
    assert_false(nv_segment_record_matches(s.leaves[0], "othermedia", a, &sb));
    assert_false(nv_segment_record_matches(s.leaves[0], "mediapulse", d, &sb));
    assert_true(nv_segment_record_matches(s.leaves[1], "eventclick", b, &sb));
    assert_false(nv_segment_record_matches(s.leaves[1], "eventclick", c, &sb));
    memset(counts, 0, sizeof(counts));
    assert_false(nv_segment_person(&s, counts));
    counts[0] = 1;
    assert_false(nv_segment_person(&s, counts));
    counts[1] = 2;
    assert_true(nv_segment_person(&s, counts));
    nv_segment_release(&s);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);

    /* months are calendar months: 31 March - 1 month is 28 February */
    parse_ok("nova-segment 1\ne.d within 1 month or e.d within 10 days\n", &s);
    nv_segment_bind(&s, 1774958400); /* 2026-03-31 12:00 */
    assert_string_equal(s.leaves[0]->where->from, "2026-02-28");
    assert_string_equal(s.leaves[1]->where->from, "2026-03-21");
    nv_segment_release(&s);

    /* multi-valued common fields, consent's integer, folded text, prefixes,
     * counts, not */
    refused("nova-segment 1\ne has at least 2 records where (*.email = B@x.fr)\n",
            "'*.email' is not a field name");
    /* inside where (...) the leaves are fields; outside, conditions, and
     * each side says what it expected */
    refused("nova-segment 1\ne has a record where (not (= x))\n",
            "a field, 'not' or '(', not");
    refused("nova-segment 1\ne has a record where (email = a@x.fr and f has a record)\n",
            "after f: =, in,");
    refused("nova-segment 1\nnot (= x)\n",
            "a condition (ENTITY.FIELD ..., ENTITY has ..., not, '('), not");
    parse_ok("nova-segment 1\n"
             "e has at least 2 records where (email = B@x.fr and consent = yes)\n"
             "and not f.last_name starts with dup\n"
             "and e.address = \"12  RUE de la Paix\"\n", &s);
    a = rec("{\"c\":{\"email\":[\"a@x.fr\",\"b@x.fr\"],\"consent\":1,"
            "\"address\":\"12 rue de la Paix\"},\"x\":{}}");
    b = rec("{\"c\":{\"email\":[\"b@x.fr\"],\"consent\":0},\"x\":{}}");
    c = rec("{\"c\":{\"last_name\":\"dupont\"},\"x\":{}}");
    assert_true(nv_segment_record_matches(s.leaves[0], "e", a, &sb));
    assert_false(nv_segment_record_matches(s.leaves[0], "e", b, &sb));
    assert_true(nv_segment_record_matches(s.leaves[1], "f", c, &sb));
    assert_true(nv_segment_record_matches(s.leaves[2], "e", a, &sb));
    memset(counts, 0, sizeof(counts));
    counts[0] = 1, counts[2] = 1;
    assert_false(nv_segment_person(&s, counts)); /* one record, two wanted */
    counts[0] = 2;
    assert_true(nv_segment_person(&s, counts));
    counts[1] = 1;
    assert_false(nv_segment_person(&s, counts)); /* not f.last_name ... */
    nv_segment_release(&s);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    nv_buf_release(&sb);
    assert_true(nv_segment_name_valid("business-events_2"));
    assert_false(nv_segment_name_valid("Business"));
    assert_false(nv_segment_name_valid("-x"));
    assert_false(nv_segment_name_valid("a/b"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_canon),
        cmocka_unit_test(test_records_and_people),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
