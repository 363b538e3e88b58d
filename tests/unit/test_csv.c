/*
 * test_csv.c - unit tests for formats/csv.c: dialects, encodings, every
 * kind of bad row (rejected, reading goes on, line numbers right), rows cut
 * at every window boundary, and the writer's round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/csv.h"
#include "../../formats/errors.h"

/* Read text with dialect d; write "f1|f2|...\n" per row and "!L:reason\n"
 * per rejected row (L its line) into out. Returns open's result. */
static size_t run_key[2] = { 0, 0 };
static size_t run_nkey;

static int
run(const char *text, size_t len, struct nv_csv_dialect d, char *out, size_t outsz)
{
    FILE *f = tmpfile();
    struct nv_csv *c;
    const struct nv_csv_row *row;
    size_t o = 0;
    int r;

    fwrite(text, 1, len, f);
    fflush(f);
    rewind(f);
    out[0] = '\0';
    r = nv_csv_open(&c, fileno(f), &d, 64, 256);
    if (r < 0) {
        snprintf(out, outsz, "%s", nv_errmsg(r));
        fclose(f);
        return r;
    }
    if (d.header) {
        const struct nv_csv_row *h = nv_csv_header(c);
        for (size_t i = 0; i < h->n; i++)
            o += (size_t)snprintf(out + o, outsz - o, "%s%s", i ? "|" : "H:", h->field[i]);
        o += (size_t)snprintf(out + o, outsz - o, "\n");
    }
    if (run_nkey)
        nv_csv_set_key(c, run_key, run_nkey);
    while ((r = nv_csv_next(c, &row)) != 0) {
        if (r == NV_EFORMAT) {
            const char *m = nv_errmsg(r);
            o += (size_t)snprintf(out + o, outsz - o, "!%llu:%s\n",
                                  (unsigned long long)nv_csv_reject_line(c),
                                  strstr(m, ": ") ? strstr(m, ": ") + 2 : m);
            continue;
        }
        assert_true(r > 0);
        for (size_t i = 0; i < row->n; i++)
            o += (size_t)snprintf(out + o, outsz - o, "%s%s", i ? "|" : "", row->field[i]);
        o += (size_t)snprintf(out + o, outsz - o, "%s\n", row->partial ? " (partial)" : "");
    }
    nv_csv_free(c);
    fclose(f);
    return 0;
}

static const struct nv_csv_dialect UTF8 = { 0, '"', 1, NV_ENC_UTF8 };

#define EXPECT(text, d, want)                                              \
    do {                                                                   \
        char got[4096];                                                    \
        run(text, sizeof(text) - 1, d, got, sizeof(got));                  \
        assert_string_equal(got, want);                                    \
    } while (0)

static void
test_basic(void **s)
{
    (void)s;
    EXPECT("id,nom\n1,Dupont\n2,Martin", UTF8, "H:id|nom\n1|Dupont\n2|Martin (partial)\n");
    EXPECT("id,nom\n1,Dupont\r", UTF8, "H:id|nom\n1|Dupont\n");
    EXPECT("id,nom\r\n1,\"Du,pont\"\r\n2,\"say \"\"hi\"\"\"\r\n", UTF8,
           "H:id|nom\n1|Du,pont\n2|say \"hi\"\n");
    EXPECT("\xEF\xBB\xBFid,nom\n1,\xC3\xA9\n", UTF8, "H:id|nom\n1|\xC3\xA9\n");
    EXPECT("id,nom\n\n1,a\n\r\n2,b\n", UTF8, "H:id|nom\n1|a\n2|b\n");
    EXPECT("id,nom\n1,\"two\nlines\"\n2,b\n3\n", UTF8,
           "H:id|nom\n1|two\nlines\n2|b\n!5:1 fields where the header has 2\n");
}

static void
test_detection(void **s)
{
    struct nv_csv_dialect d = { 0, '"', 1, NV_ENC_UTF8 };
    (void)s;
    EXPECT("id;nom;ville\n1;a,b;c\n", d, "H:id|nom|ville\n1|a,b|c\n");
    EXPECT("id\tnom\n1\tx\n", d, "H:id|nom\n1|x\n");
    EXPECT("id|nom\n1|x\n", d, "H:id|nom\n1|x\n");
    EXPECT("\"a;b\",c\n1,2\n", d, "H:a;b|c\n1|2\n");
}

static void
test_encodings(void **s)
{
    struct nv_csv_dialect w = { ';', '"', 1, NV_ENC_CP1252 };
    struct nv_csv_dialect l = { ';', '"', 1, NV_ENC_LATIN1 };
    (void)s;
    EXPECT("id;nom\n1;Lef\xE8vre\n2;\x80uro \x9C\n3;\x81x\n4;ok\n", w,
           "H:id|nom\n1|Lef\xC3\xA8vre\n2|\xE2\x82\xAC" "uro \xC5\x93\n"
           "!4:byte 0x81 in column 2 is not a windows-1252 character\n4|ok\n");
    EXPECT("id;nom\n1;\xE9\x80\n", l, "H:id|nom\n1|\xC3\xA9\xC2\x80\n");
    EXPECT("id,nom\n1,\xFF\n2,\xC0\xAF\n3,\xED\xA0\x80\n4,ok\n", UTF8,
           "H:id|nom\n!2:invalid UTF-8 in column 2\n!3:invalid UTF-8 in column 2\n"
           "!4:invalid UTF-8 in column 2\n4|ok\n");
}

static void
test_bad_rows(void **s)
{
    (void)s;
    EXPECT("id,nom\n1,a,extra\n2\n3,ok\n", UTF8,
           "H:id|nom\n!2:3 fields where the header has 2\n!3:1 fields where the header has 2\n3|ok\n");
    EXPECT("id,nom\n1,a\0b\n2,ok\n", UTF8, "H:id|nom\n!2:NUL byte\n2|ok\n");
    /* field over 64 bytes (the test's max_field) */
    EXPECT("id,nom\n1,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n2,ok\n",
           UTF8, "H:id|nom\n!2:field over 64 bytes\n2|ok\n");
    /* unbalanced quote mid-file: rejected, reading resumes on the next line */
    EXPECT("id,nom\n1,\"open\n2,b\n3,c\n", UTF8,
           "H:id|nom\n!2:unbalanced quote\n2|b\n3|c\n");
    /* file cut inside a quoted field on its last row */
    EXPECT("id,nom\n1,a\n2,\"cut", UTF8, "H:id|nom\n1|a\n!3:unbalanced quote\n");
}

/* A stray quote must not swallow the rows after it (issue 13 item 1). */
static void
test_stray_quotes(void **s)
{
    (void)s;
    /* two-row variant: the "closing" quote is in the middle of row 4 */
    EXPECT("id,nom,email,tel\n3,\"Le Grand Cafe,c@x.fr,01\n4,Person 4 dit \"Toto,p4@x.fr,02\n5,ok,o@x.fr,03\n",
           UTF8,
           "H:id|nom|email|tel\n!2:a quoted field runs over several lines and closes in the middle "
           "of a later field (a stray quote?); the row is rejected and reading goes on at the "
           "next line\n4|Person 4 dit \"Toto|p4@x.fr|02\n5|ok|o@x.fr|03\n");
    /* the closing quote happens to end a field: whole rows inside, caught
     * with the key column known */
    run_key[0] = 0;
    run_nkey = 1;
    EXPECT("id,note,email\nC100,\"Client VIP,a@x.fr\nC101,n,b@x.fr\nC102,n,c@x.fr\nC103,x\",d@x.fr\nC104,n,e@x.fr\n",
           UTF8,
           "H:id|note|email\n!2:a quoted field runs over lines that read as whole rows of their "
           "own (a stray quote?); the row is rejected and reading goes on at the next line\n"
           "C101|n|b@x.fr\nC102|n|c@x.fr\nC103|x\"|d@x.fr\nC104|n|e@x.fr\n");
    /* legitimate multi-line notes and addresses, even with commas and a
     * line shaped like a row but not like a key */
    EXPECT("id,note,email\nC1,\"12 rue X\nBat B, esc 2\n75001 Paris\",a@x.fr\n"
           "C2,\"Appel, rappel, ok\nsuite, et, fin\nfin\",b@x.fr\nC3,\"x\"\"y\nz\",c@x.fr\n",
           UTF8,
           "H:id|note|email\nC1|12 rue X\nBat B, esc 2\n75001 Paris|a@x.fr\n"
           "C2|Appel, rappel, ok\nsuite, et, fin\nfin|b@x.fr\nC3|x\"y\nz|c@x.fr\n");
    run_nkey = 0;
    /* over max_field_lines */
    {
        struct nv_csv_dialect d = UTF8;
        d.max_field_lines = 2;
        EXPECT("id,note\n1,\"a\nb\nc\nd\"\n2,\"a\nb\"\n", d,
               "H:id|note\n!2:a quoted field runs over more lines than max_field_lines (a stray "
               "quote?); the row is rejected and reading goes on at the next line\n"
               "!3:1 fields where the header has 2\n!4:1 fields where the header has 2\n"
               "!5:1 fields where the header has 2\n2|a\nb\n");
    }
}

static void
test_utf16(void **s)
{
    char got[512];
    (void)s;
    assert_int_equal(run("\xFF\xFEi\0d\0\n\0", 8, UTF8, got, sizeof(got)), NV_EFORMAT);
    assert_non_null(strstr(got, "UTF-16 (little-endian, byte order mark FF FE)"));
    assert_int_equal(run("\xFE\xFF\0i\0d\0\n", 8, UTF8, got, sizeof(got)), NV_EFORMAT);
    assert_non_null(strstr(got, "UTF-16 (big-endian"));
    assert_int_equal(run("i\0d\0,\0n\0\n\0", 10, UTF8, got, sizeof(got)), NV_EFORMAT);
    assert_non_null(strstr(got, "without a byte order mark"));
}

static void
test_long_rows(void **s)
{
    /* a row over max_row (256) without quotes: rejected, the next row read */
    char text[2048], got[4096];
    size_t o = (size_t)snprintf(text, sizeof(text), "id,nom\n1,");
    (void)s;
    for (int i = 0; i < 20; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "%s", "aaaaaaaaaaaaaaaaaaaa,");
    o += (size_t)snprintf(text + o, sizeof(text) - o, "x\n2,ok\n");
    run(text, o, UTF8, got, sizeof(got));
    assert_string_equal(got, "H:id|nom\n!2:row over 256 bytes\n2|ok\n");
}

static void
test_empty_and_header_only(void **s)
{
    char got[256];
    (void)s;
    assert_int_equal(run("", 0, UTF8, got, sizeof(got)), NV_ENOTFOUND);
    assert_int_equal(run("id,nom\n", 7, UTF8, got, sizeof(got)), 0);
    assert_string_equal(got, "H:id|nom\n");
    assert_int_equal(run("id,,x\n", 6, UTF8, got, sizeof(got)), NV_EFORMAT);
    assert_non_null(strstr(got, "column 2 has no name"));
    assert_int_equal(run("id,a,a\n", 7, UTF8, got, sizeof(got)), NV_EFORMAT);
    assert_non_null(strstr(got, "columns 2 and 3 is repeated"));
}

/* Many rows through a window that must be refilled at every position. */
static void
test_window_boundaries(void **s)
{
    size_t cap = 3u << 20, o = 0;
    char *text = malloc(cap);
    FILE *f = tmpfile();
    struct nv_csv *c;
    const struct nv_csv_row *row;
    struct nv_csv_dialect d = UTF8;
    unsigned long n = 0;
    int r;

    (void)s;
    o += (size_t)snprintf(text + o, cap - o, "id,nom,note\n");
    for (unsigned long i = 1; o + 100 < cap; i++)
        o += (size_t)snprintf(text + o, cap - o, "%lu,\"n%lu,\nx\",%.*s\r\n", i, i,
                              (int)(2 * (i % 18)), "éééééééééééééééééé");
    fwrite(text, 1, o, f);
    rewind(f);
    assert_int_equal(nv_csv_open(&c, fileno(f), &d, 0, 0), 0);
    while ((r = nv_csv_next(c, &row)) == 1) {
        char want[32];
        n++;
        snprintf(want, sizeof(want), "%lu", n);
        assert_string_equal(row->field[0], want);
        assert_int_equal(row->line, 2 * n);
    }
    if (r != 0)
        fail_msg("after row %lu: %s", n, nv_errmsg(r));
    assert_true(n > 30000);
    nv_csv_free(c);
    fclose(f);
    free(text);
}

static void
test_writer(void **s)
{
    struct nv_buf b = NV_BUF_INIT;
    struct nv_csv_dialect d = { ';', '"', 1, NV_ENC_UTF8 };
    struct nv_csv_dialect w = { ';', '"', 1, NV_ENC_CP1252 };
    const char *row[] = { "plain", "a;b", "say \"hi\"", "two\nlines", " pad", "\xC3\xA9\xE2\x82\xAC" };
    const char *bad[] = { "ok", "\xE2\x98\x83" }; /* snowman */
    char got[1024];
    (void)s;
    assert_int_equal(nv_csv_write_row(&b, &d, row, 6), 0);
    assert_string_equal((char *)b.data,
                        "plain;\"a;b\";\"say \"\"hi\"\"\";\"two\nlines\";\" pad\";\xC3\xA9\xE2\x82\xAC\n");
    /* round trip through the reader (the row is its own header here) */
    run((char *)b.data, b.len, (struct nv_csv_dialect){ ';', '"', 0, NV_ENC_UTF8 }, got, sizeof(got));
    assert_string_equal(got, "plain|a;b|say \"hi\"|two\nlines| pad|\xC3\xA9\xE2\x82\xAC\n");
    nv_buf_reset(&b);
    assert_int_equal(nv_csv_write_row(&b, &w, row + 5, 1), 0);
    assert_string_equal((char *)b.data, "\xE9\x80\n");
    nv_buf_reset(&b);
    assert_int_equal(nv_csv_write_row(&b, &w, bad, 2), NV_EFORMAT);
    assert_int_equal(b.len, 0);
    assert_non_null(strstr(nv_errmsg(NV_EFORMAT), "field 2"));
    nv_buf_release(&b);
    assert_int_equal(nv_encoding_parse("Windows-1252"), NV_ENC_CP1252);
    assert_int_equal(nv_encoding_parse("latin1"), NV_ENC_LATIN1);
    assert_int_equal(nv_encoding_parse("UTF8"), NV_ENC_UTF8);
    assert_int_equal(nv_encoding_parse("ebcdic"), 0);
}

static void
test_formula_guard(void **s)
{
    struct nv_buf b = NV_BUF_INIT;
    struct nv_csv_dialect d = { ';', '"', 1, NV_ENC_UTF8, 0, 1 };
    const char *row[] = { "=HYPERLINK(\"x\")", "+33 6 12 34 56 78", "-12.5", "@SUM(A1)",
                          "\tx", "+1+cmd|' /C calc'!A0", "-", "plain" };
    (void)s;
    assert_int_equal(nv_csv_write_row(&b, &d, row, 8), 0);
    assert_string_equal((char *)b.data,
                        "\"'=HYPERLINK(\"\"x\"\")\";+33 6 12 34 56 78;-12.5;'@SUM(A1);'\tx;"
                        "'+1+cmd|' /C calc'!A0;'-;plain\n");
    nv_buf_reset(&b);
    d.formula_guard = 0;
    assert_int_equal(nv_csv_write_row(&b, &d, row + 3, 1), 0);
    assert_string_equal((char *)b.data, "@SUM(A1)\n");
    nv_buf_release(&b);
}

static void
test_transliterate(void **s)
{
    struct nv_buf b = NV_BUF_INIT;
    (void)s;
    assert_false(nv_csv_representable("Dvo\xC5\x99\xC3\xA1k", NV_ENC_CP1252));
    assert_true(nv_csv_representable("Lef\xC3\xA8vre \xE2\x82\xAC", NV_ENC_CP1252));
    assert_int_equal(nv_csv_transliterate(&b, "Dvo\xC5\x99\xC3\xA1k", NV_ENC_CP1252), 1);
    assert_string_equal((char *)b.data, "Dvor\xC3\xA1k");
    nv_buf_reset(&b);
    /* no base letter: a question mark */
    assert_int_equal(nv_csv_transliterate(&b, "\xE2\x98\x83 \xC5\x82", NV_ENC_LATIN1), 2);
    assert_string_equal((char *)b.data, "? ?");
    nv_buf_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_stray_quotes),
        cmocka_unit_test(test_utf16),
        cmocka_unit_test(test_long_rows),
        cmocka_unit_test(test_empty_and_header_only),
        cmocka_unit_test(test_window_boundaries),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_formula_guard),
        cmocka_unit_test(test_transliterate),
    };
    return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
