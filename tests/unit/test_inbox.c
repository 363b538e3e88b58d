/*
 * test_inbox.c - unit tests for agent/inbox.c's scrubbing of an erase
 * hook's message (nv_hook_scrub): the record key, e-mails and long digit
 * runs leave, the rest of the message stays, the output is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "../../agent/inbox.h"

static void
scrub(const char *in, const char *key, int numbers, const char *want)
{
    char out[256];

    nv_hook_scrub(in, key, numbers, out, sizeof(out));
    assert_string_equal(out, want);
}

static void
test_key_email_phone(void **state)
{
    (void)state;
    scrub("CRM error for CLI-42 (ana@example.fr, tel 06 11 22 33 44)", "CLI-42", 1,
          "CRM error for <key> (<e-mail>, tel <number>)");
    scrub("mail=ana.b@x.example; phone=+33611223344", "K", 1, "mail=<e-mail>; phone=<number>");
    scrub("born 17/05/1980 at 10:30", NULL, 1, "born <number> at 10:30");
}

static void
test_keeps_the_rest(void **state)
{
    (void)state;
    scrub("HTTP 503 after 3 tries", "X", 1, "HTTP 503 after 3 tries");
    scrub("invoice retained until 2031-12-31 (L123-22)", "K9", 0,
          "invoice retained until 2031-12-31 (L123-22)");
    scrub("tab\there\x7f", NULL, 1, "tab here ");
    /* a one-character key is not scrubbed (it would eat the message) */
    scrub("a b", "a", 1, "a b");
}

static void
test_bounded(void **state)
{
    char big[600], out[32];

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    nv_hook_scrub(big, NULL, 1, out, sizeof(out));
    assert_int_equal(strlen(out), sizeof(out) - 1);
    nv_hook_scrub("ana@example.fr", NULL, 1, out, 5);
    assert_int_equal(strlen(out), 0); /* never half a placeholder */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_email_phone),
        cmocka_unit_test(test_keeps_the_rest),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
