/*
 * fuzz_normalize.c - libFuzzer target for hub/normalize.c: the whole input
 * goes through every normaliser, and its two halves through Jaro-Winkler and
 * Levenshtein.  Checked: results are 0 or NV_EFORMAT; a refusal leaves the
 * output buffer as it was; names and e-mails come out as valid UTF-8, phones,
 * postal codes, dates, countries and phonetic keys as ASCII of their
 * documented alphabet; phones, e-mails, dates, postal codes and countries are
 * fixed points (normalising a normalised value changes nothing); similarity
 * scores stay in range and the Levenshtein cap is consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "../../formats/buf.h"
#include "../../formats/errors.h"
#include "../../hub/model/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*norm_fn)(const char *, size_t, struct nv_buf *);

#define PREFIX "pre"

static const char *pc_country;

static int
pc(const char *in, size_t len, struct nv_buf *out)
{
    return nv_norm_postcode(in, len, pc_country, out);
}

/* a phone read in pc_country's dialling plan */
static int
phone_in(const char *in, size_t len, struct nv_buf *out)
{
    return nv_norm_phone_in(in, len, pc_country, out);
}

static int
utf8_ok(const uint8_t *p, size_t n)
{
    utf8proc_int32_t c;
    utf8proc_ssize_t r;

    while (n > 0) {
        r = utf8proc_iterate(p, (utf8proc_ssize_t)n, &c);
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

static int
only(const uint8_t *p, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0 || strchr(set, p[i]) == NULL)
            return 0;
    return 1;
}

/* Run fn on in, appending to a buffer that already holds PREFIX; abort on a
 * broken contract.  Returns the normalised value (a copy, without the
 * prefix; free() it), or NULL when refused. */
static char *
run(norm_fn fn, const char *in, size_t len, const char *alphabet)
{
    struct nv_buf b = NV_BUF_INIT;
    const size_t pl = sizeof(PREFIX) - 1;
    char *res;
    int r;

    if (nv_buf_adds(&b, PREFIX) != 0)
        abort();
    r = fn(in, len, &b);
    if (r != 0 && r != NV_EFORMAT)
        abort();
    if (b.len < pl || memcmp(b.data, PREFIX, pl) != 0 || b.data[b.len] != 0)
        abort();
    if (r != 0) {
        if (b.len != pl)
            abort();
        nv_buf_release(&b);
        return NULL;
    }
    if (memchr(b.data, 0, b.len) != NULL || !utf8_ok(b.data + pl, b.len - pl))
        abort();
    if (alphabet != NULL && !only(b.data + pl, b.len - pl, alphabet))
        abort();
    res = strdup((char *)b.data + pl);
    if (res == NULL)
        abort();
    nv_buf_release(&b);
    return res;
}

/* fn must accept its own output and give it back unchanged. */
static void
fixed_point(norm_fn fn, const char *in, size_t len, const char *alphabet)
{
    char *a = run(fn, in, len, alphabet), *b;

    if (a == NULL)
        return;
    b = run(fn, a, strlen(a), alphabet);
    if (b == NULL || strcmp(a, b) != 0)
        abort();
    free(a);
    free(b);
}

static void
similarity(const char *a, const char *b)
{
    double jw = nv_jaro_winkler(a, b);
    size_t d, d3;

    if (!(jw >= 0.0 && jw <= 1.0 + 1e-9))
        abort();
    if (nv_jaro_winkler(a, a) != 1.0)
        abort();
    d = nv_levenshtein(a, b, SIZE_MAX);
    d3 = nv_levenshtein(a, b, 3);
    if (d3 != (d < 4 ? d : 4) || d != nv_levenshtein(b, a, SIZE_MAX))
        abort();
    if (nv_levenshtein(a, a, 0) != 0)
        abort();
    if (strcmp(a, b) == 0 && (d != 0 || jw != 1.0))
        abort();
    if (d > 0 && jw == 1.0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const countries[] = { NULL, "FR", "GB", "US", "IT", "RE", "KZ", "x" };
    const char *in = (const char *)data;
    char *name, *s, *half;
    struct nv_buf key = NV_BUF_INIT;
    int v = 7;

    if (size > 2 * NV_NORM_MAX_BYTES)
        return 0;

    /* names, and the phonetic key of what comes out */
    name = run(nv_norm_name, in, size, NULL);
    if (name != NULL) {
        if (nv_phonetic_fr(name, &key) != 0 ||
            !only(key.data != NULL ? key.data : (const uint8_t *)"", key.len,
                  "abcdefghijklmnopqrstuvwxyzACINOW ") ||
            (key.len > 0 && (key.data[0] == ' ' || key.data[key.len - 1] == ' ')))
            abort();
        nv_buf_release(&key);
        free(name);
    }

    fixed_point(nv_norm_phone, in, size, "+0123456789");
    fixed_point(nv_norm_email, in, size, NULL);
    fixed_point(nv_norm_date, in, size, "0123456789-");
    fixed_point(nv_norm_country, in, size, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    for (size_t k = 0; k < sizeof(countries) / sizeof(countries[0]); k++) {
        pc_country = countries[k];
        fixed_point(pc, in, size, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -");
        fixed_point(phone_in, in, size, "+0123456789");
    }

    s = run(nv_norm_email, in, size, NULL);
    if (s != NULL) {
        (void)nv_email_is_role(s);
        free(s);
    }
    s = run(nv_norm_date, in, size, NULL);
    if (s != NULL && s[0] != '\0' && (strlen(s) != 10 || s[4] != '-' || s[7] != '-'))
        abort();
    free(s);

    if (nv_norm_bool(in, size, &v) == 0) {
        if (v < -1 || v > 1)
            abort();
    } else if (v != 7) {
        abort();
    }

    /* the two halves as C strings (cut at any NUL) */
    s = malloc(size + 2);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    half = s + size / 2 + 1;
    memmove(half, s + size / 2, size - size / 2);
    s[size / 2] = '\0';
    half[size - size / 2] = '\0';
    similarity(s, half);
    free(s);
    return 0;
}
