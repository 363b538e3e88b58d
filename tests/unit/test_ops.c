/*
 * test_ops.c - unit tests for operating the hub: the expect file's alert
 * hook lines (parse, refusals naming the line, text round trip), the two
 * alerts on synthetic facts (updates stuck for a revoked key, a mapping
 * whose columns no longer match), and the hook runner (formats/hook.h):
 * argv exec without a shell, environment, output kept, failure, timeout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../../formats/errors.h"
#include "../../formats/hook.h"
#include "../../hub/ops/ops.h"

static json_t *
parse_ok(const char *text)
{
    json_t *doc = NULL;

    assert_int_equal(nv_ops_expect_parse(text, strlen(text), &doc), 0);
    assert_non_null(doc);
    return doc;
}

static void
parse_bad(const char *text, const char *want)
{
    json_t *doc = NULL;

    assert_int_equal(nv_ops_expect_parse(text, strlen(text), &doc), NV_EFORMAT);
    assert_null(doc);
    assert_non_null(strstr(nv_errmsg(NV_EFORMAT), want));
}

static void
test_hook_lines(void **state)
{
    json_t *doc, *again, *argv;
    char *text;

    (void)state;
    doc = parse_ok("nova-expect 1\nexpect acme every 1h\n"
                   "alert_hook /usr/local/bin/notify  --to\tops@example.org\n"
                   "alert_hook_timeout 2m\n");
    argv = json_object_get(doc, "alert_hook");
    assert_int_equal(json_array_size(argv), 3);
    assert_string_equal(json_string_value(json_array_get(argv, 0)), "/usr/local/bin/notify");
    assert_string_equal(json_string_value(json_array_get(argv, 1)), "--to");
    assert_string_equal(json_string_value(json_array_get(argv, 2)), "ops@example.org");
    assert_int_equal(json_integer_value(json_object_get(doc, "alert_hook_timeout")), 120);
    /* the text written back parses to the same document */
    text = nv_ops_expect_text(doc);
    assert_non_null(text);
    again = parse_ok(text);
    assert_true(json_equal(json_object_get(doc, "alert_hook"),
                           json_object_get(again, "alert_hook")));
    assert_true(json_equal(json_object_get(doc, "alert_hook_timeout"),
                           json_object_get(again, "alert_hook_timeout")));
    assert_true(json_equal(json_object_get(doc, "cadence"), json_object_get(again, "cadence")));
    free(text);
    json_decref(again);
    json_decref(doc);
    /* no hook: null, the default timeout, and no hook line written */
    doc = parse_ok("nova-expect 1\n");
    assert_true(json_is_null(json_object_get(doc, "alert_hook")));
    assert_int_equal(json_integer_value(json_object_get(doc, "alert_hook_timeout")), 30);
    text = nv_ops_expect_text(doc);
    assert_null(strstr(text, "alert_hook"));
    free(text);
    json_decref(doc);
}

static void
test_hook_refusals(void **state)
{
    struct nv_buf b = NV_BUF_INIT;

    (void)state;
    parse_bad("nova-expect 1\nalert_hook notify --to ops\n", "expect line 2: the alert hook must "
                                                           "start with the command's absolute path");
    parse_bad("alert_hook_timeout 0\n", "expect line 1: alert_hook_timeout needs seconds");
    parse_bad("alert_hook_timeout 3601\n", "alert_hook_timeout needs seconds");
    parse_bad("alert_hook_timeout 10h\n", "alert_hook_timeout needs seconds");
    assert_int_equal(nv_buf_adds(&b, "alert_hook /bin/true"), 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(nv_buf_adds(&b, " w"), 0);
    assert_int_equal(nv_buf_add(&b, "", 1), 0);
    parse_bad((char *)b.data, "the alert hook is too long");
    nv_buf_release(&b);
    assert_null(nv_ops_hook_argv("   "));
    assert_null(nv_ops_hook_argv("/bin/echo a\x01"));
}

/* The facts the two alerts read: acme's last bundle of records and its
 * mapping; globex's keys revoked with what waits for it. */
static json_t *
facts(int missing, int new_cols, int queued, int sealed)
{
    json_t *miss = json_array(), *nw = json_array();
    const char *names[] = { "a", "b", "c", "d", "e", "f" };

    for (int i = 0; i < missing; i++)
        json_array_append_new(miss, json_string(names[i]));
    for (int i = 0; i < new_cols; i++)
        json_array_append_new(nw, json_string(names[i]));
    return json_pack("{s:I,s:{s:{s:I,s:I,s:o,s:o}},s:{s:{s:I}},s:{s:{s:i,s:i,s:i}},"
                     "s:{s:{},s:I,s:f}}",
                     "now", (json_int_t)1800000000, "drift", "acme", "seq", (json_int_t)7,
                     "at", (json_int_t)1799990000, "missing", miss, "new", nw, "keys",
                     "globex", "revoked", (json_int_t)1799000000, "queued", "globex",
                     "updates", queued, "outbox_updates", sealed, "outbox_erasure", 0,
                     "expect", "cadence", "review_max_age", (json_int_t)86400,
                     "reject_share", 0.2);
}

static const json_t *
find(const json_t *alerts, const char *name)
{
    size_t i;
    json_t *x;

    json_array_foreach(alerts, i, x)
        if (strcmp(json_string_value(json_object_get(x, "alert")), name) == 0)
            return x;
    return NULL;
}

static void
test_two_alerts(void **state)
{
    json_t *f, *a;
    const json_t *x;

    (void)state;
    /* nothing missing, 2 new columns, nothing waiting: quiet */
    f = facts(0, 2, 0, 0);
    a = nv_ops_alerts(f);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
    json_decref(f);
    /* 3 new columns fire; one mapped column missing fires */
    f = facts(0, 3, 0, 0);
    a = nv_ops_alerts(f);
    assert_non_null(x = find(a, "NovaMappingColumnsChanged"));
    assert_string_equal(json_string_value(json_object_get(x, "summary")),
                        "acme's last bundle (seq 7) carries column(s) the mapping lacks: "
                        "'a', 'b', 'c'");
    assert_string_equal(json_string_value(json_object_get(x, "key")),
                        "NovaMappingColumnsChanged/acme");
    assert_int_equal(json_integer_value(json_object_get(x, "since_unix")), 1799990000);
    json_decref(a);
    json_decref(f);
    f = facts(1, 6, 0, 0);
    a = nv_ops_alerts(f);
    assert_non_null(x = find(a, "NovaMappingColumnsChanged"));
    assert_string_equal(json_string_value(json_object_get(x, "summary")),
                        "acme's last bundle (seq 7) lacks mapped column(s) 'a' and carries "
                        "column(s) the mapping lacks: 'a', 'b', 'c', 'd', ... (6 in all)");
    json_decref(a);
    json_decref(f);
    /* a revoked key with updates queued, or a bundle sealed, fires */
    f = facts(0, 0, 4, 0);
    a = nv_ops_alerts(f);
    assert_non_null(x = find(a, "NovaUpdatesStuckRevokedKey"));
    assert_string_equal(json_string_value(json_object_get(x, "entity")), "globex");
    assert_int_equal(json_integer_value(json_object_get(x, "since_unix")), 1799000000);
    assert_non_null(strstr(json_string_value(json_object_get(x, "summary")),
                           "4 update record(s) queued and 0 bundle(s) sealed"));
    json_decref(a);
    json_decref(f);
    f = facts(0, 0, 0, 1);
    a = nv_ops_alerts(f);
    assert_non_null(find(a, "NovaUpdatesStuckRevokedKey"));
    json_decref(a);
    json_decref(f);
}

static void
test_hook_run(void **state)
{
    char *argv[] = { (char *)"/bin/sh", (char *)"-c",
                     (char *)"echo \"first $NOVA_T\"; echo line2; echo to ana@example.fr >&2; "
                             "exit 3",
                     NULL };
    char *env[] = { (char *)"NOVA_T=set", NULL };
    char why[512];
    struct nv_hook_out *h = calloc(1, sizeof(*h));
    int status;

    (void)state;
    assert_non_null(h);
    assert_int_equal(nv_hook_run(argv, env, 10, "test hook", h, &status, why, sizeof(why)), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_string_equal(h->first, "first set");
    nv_hook_failure("test hook", status, h, NULL, why, sizeof(why));
    assert_string_equal(why, "test hook exited with status 3; its last output: to <e-mail>");
    /* argv[0] is run as it is: no PATH search, no shell */
    {
        char *bad[] = { (char *)"echo", (char *)"x", NULL };
        assert_int_equal(nv_hook_run(bad, NULL, 10, "test hook", h, &status, why, sizeof(why)),
                         0);
        assert_int_equal(WEXITSTATUS(status), 127);
        nv_hook_failure("test hook", status, h, NULL, why, sizeof(why));
        assert_non_null(strstr(why, "cannot run 'echo'"));
    }
    /* killed at its time */
    {
        char *slow[] = { (char *)"/bin/sleep", (char *)"30", NULL };
        assert_int_equal(nv_hook_run(slow, NULL, 1, "test hook", h, &status, why, sizeof(why)),
                         -1);
        assert_string_equal(why, "test hook timed out after 1 s");
    }
    free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_lines),
        cmocka_unit_test(test_hook_refusals),
        cmocka_unit_test(test_two_alerts),
        cmocka_unit_test(test_hook_run),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
