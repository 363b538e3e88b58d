/*
 * test_record.c - unit tests for formats/record.c: what a change record is,
 * and each way a line fails to be one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../formats/record.h"

static int
chk(const char *s)
{
    nv_error_clear();
    return nv_record_check(s, strlen(s));
}

static void
expect_bad(const char *s, const char *needle)
{
    int r = chk(s);

    if (r >= 0)
        fail_msg("accepted: %s", s);
    if (strstr(nv_errmsg(r), needle) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", s, nv_errmsg(r), needle);
}

static void
test_valid(void **state)
{
    (void)state;
    assert_int_equal(chk("{\"op\":\"upsert\",\"key\":\"C1\",\"fields\":{\"nom\":\"Dupont\"}}"), NV_OP_UPSERT);
    assert_int_equal(chk(" { \"key\" : \"C1\" , \"op\" : \"delete\" } "), NV_OP_DELETE);
    assert_int_equal(chk("{\"op\":\"upsert\",\"source\":\"s\",\"key\":\"K\\u00e9\\n\",\"fields\":{}}"), NV_OP_UPSERT);
    assert_int_equal(chk("{\"op\":\"upsert\",\"key\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"fields\":{\"a\":null,\"b\":\"\\ud83d\\ude00\"}}"), NV_OP_UPSERT);
    assert_int_equal(chk("{\"op\":\"delete\",\"key\":\"k\",\"extra\":[1,-2.5e+3,true,false,null,{\"x\":[]}]}"), NV_OP_DELETE);
}

static void
test_invalid(void **state)
{
    (void)state;
    expect_bad("", "not a JSON object");
    expect_bad("[1]", "not a JSON object");
    expect_bad("{\"op\":\"upsert\",\"key\":\"k\"}", "lacks a 'fields' object");
    expect_bad("{\"op\":\"upsert\",\"key\":\"\",\"fields\":{}}", "non-empty 'key'");
    expect_bad("{\"op\":\"merge\",\"key\":\"k\"}", "op must be");
    expect_bad("{\"op\":1,\"key\":\"k\"}", "string 'op'");
    expect_bad("{\"op\":\"delete\",\"key\":\"k\",\"key\":\"j\"}", "twice");
    expect_bad("{\"op\":\"upsert\",\"key\":\"k\",\"fields\":{\"a\":\"1\",\"a\":\"2\"}}", "twice");
    expect_bad("{\"op\":\"upsert\",\"key\":\"k\",\"fields\":{\"a\":1}}", "must be strings");
    expect_bad("{\"op\":\"delete\",\"key\":\"k\"} x", "data after");
    expect_bad("{\"op\":\"delete\",\"key\":\"k\"", "expected");
    expect_bad("{\"op\":\"delete\",\"key\":\"\xff\"}", "invalid UTF-8");
    expect_bad("{\"op\":\"delete\",\"key\":\"\xc0\xaf\"}", "invalid UTF-8");
    expect_bad("{\"op\":\"delete\",\"key\":\"\xed\xa0\x80\"}", "invalid UTF-8");
    expect_bad("{\"op\":\"delete\",\"key\":\"a\\q\"}", "bad escape");
    expect_bad("{\"op\":\"delete\",\"key\":\"\\ud800\"}", "surrogate");
    expect_bad("{\"op\":\"delete\",\"key\":\"a\tb\"}", "control character");
    expect_bad("{\"op\":\"delete\",\"key\":\"k\",\"n\":01}", "expected");
    expect_bad("{\"op\":\"delete\",\"key\":\"k\",\"n\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", "nested too deeply");
}

static void
test_many_fields(void **state)
{
    /* more fields than the inline table: duplicates still found */
    char buf[40000];
    size_t o = 0;

    (void)state;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{\"op\":\"upsert\",\"key\":\"k\",\"fields\":{");
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"c%d\":\"v\"", i ? "," : "", i);
    snprintf(buf + o, sizeof(buf) - o, "}}");
    assert_int_equal(chk(buf), NV_OP_UPSERT);
    snprintf(buf + o, sizeof(buf) - o, ",\"c500\":\"again\"}}");
    assert_int_equal(chk(buf), NV_EFORMAT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_many_fields),
    };
    return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
