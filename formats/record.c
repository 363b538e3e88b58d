/*
 * record.c - checking change records without building a JSON tree: one pass,
 * no allocation for records with up to 256 fields (sealing checks every
 * record, so this runs at the speed of reading).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "errors.h"
#include "utf8.h"
#include "record.h"

#define MAX_DEPTH 32
#define SMALL_FIELDS 256

struct jp {
    const unsigned char *p, *end;
    int depth;
};

struct span {
    const unsigned char *s;
    size_t n;
};

static void
ws(struct jp *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int
bad(const char *what)
{
    return nv_fail(NV_EFORMAT, "record is not valid JSON (%s)", what);
}

/* The first byte in [p, end) that ends a run of plain string content (a
 * quote, a backslash, a control character or a byte of a multi-byte UTF-8
 * sequence), or end.  Sixteen bytes at a time with SSE2 (a signed compare
 * below 0x20 catches both the control characters and the bytes >= 0x80),
 * else eight with the word tricks; the last few bytes one at a time. */
static inline const unsigned char *
skip_plain(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);

    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                              _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask != 0)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#else
    /* 8 bytes at a time: no quote, backslash, control character or byte
     * >= 0x80 in the word */
    while (end - p >= 8) {
        uint64_t w, q, b;
        memcpy(&w, p, 8);
        q = w ^ 0x2222222222222222ULL;  /* '"' */
        b = w ^ 0x5c5c5c5c5c5c5c5cULL;  /* '\\' */
        if ((((w & 0x6060606060606060ULL) + 0x6060606060606060ULL) & ~w &
             0x8080808080808080ULL) != 0x8080808080808080ULL)
            break; /* a byte < 0x20 (neither bit 5 nor 6) or >= 0x80 */
        if (((q - 0x0101010101010101ULL) & ~q & 0x8080808080808080ULL) ||
            ((b - 0x0101010101010101ULL) & ~b & 0x8080808080808080ULL))
            break;
        p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80)
        p++;
    return p;
}

/* The rest of a string from p, where skip_plain stopped: escapes, UTF-8
 * sequences, errors, then plain runs again up to the closing quote. */
static int
string_slow(struct jp *j, struct span *out, const unsigned char *p)
{
    const unsigned char *end = j->end;

    for (;; p = skip_plain(p, end)) {
        unsigned c;
        size_t n;

        if (p >= end)
            break;
        c = *p;
        if (c == '"') {
            out->n = (size_t)(p - out->s);
            j->p = p + 1;
            return 0;
        }
        if (c < 0x20)
            return bad("control character in a string");
        if (c == '\\') {
            unsigned v, lo;
            if (p + 1 >= end)
                break;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                continue;
            case 'u':
                if (end - p < 6 || nv_hex4(p + 2, &v) < 0)
                    return bad("bad \\u escape");
                p += 6;
                if (v >= 0xD800 && v <= 0xDBFF) {
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                        nv_hex4(p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                        return bad("unpaired surrogate escape");
                    p += 6;
                } else if (v >= 0xDC00 && v <= 0xDFFF) {
                    return bad("unpaired surrogate escape");
                }
                continue;
            default:
                return bad("bad escape");
            }
        }
        /* a UTF-8 sequence (c >= 0x80) */
        if ((n = nv_utf8_seq(p, end)) == 0)
            return bad("invalid UTF-8");
        p += n;
    }
    return bad("unterminated string");
}

/* A string at j->p (on the opening quote); *out gets the raw bytes between
 * the quotes.  Escapes and UTF-8 are checked strictly.  Inline: most
 * strings are one plain run up to the closing quote. */
static inline int
string(struct jp *j, struct span *out)
{
    const unsigned char *s = j->p + 1, *p = skip_plain(s, j->end);

    out->s = s;
    if (p < j->end && *p == '"') {
        out->n = (size_t)(p - s);
        j->p = p + 1;
        return 0;
    }
    return string_slow(j, out, p);
}

static int value(struct jp *j);

static int
literal(struct jp *j, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return bad("unexpected character");
    j->p += n;
    return 0;
}

static int
number(struct jp *j)
{
    const unsigned char *p = j->p, *e = j->end;

    if (p < e && *p == '-')
        p++;
    if (p < e && *p == '0')
        p++;
    else if (p < e && *p >= '1' && *p <= '9')
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    else
        return bad("bad number");
    if (p < e && *p == '.') {
        if (++p >= e || *p < '0' || *p > '9')
            return bad("bad number");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        if (++p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return bad("bad number");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    j->p = p;
    return 0;
}

static int
span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* A hash of a name, for has_dup: its length and three of its bytes. */
static inline unsigned
name_hash(const struct span *k)
{
    unsigned h = (unsigned)k->n * 0x9Du;

    if (k->n > 0)
        h += k->s[0] * 31u + k->s[k->n - 1] * 7u + k->s[k->n / 2];
    return (h ^ (h >> 8)) & 255;
}

/* Are two of the names equal?  For the usual few, a 256-bit set of their
 * hashes: only a name whose hash was seen is compared with the others (no
 * pairwise loop, whose exits the branch predictor misses); sorted past. */
static int
has_dup(struct span *v, size_t n)
{
    if (n <= 64) {
        uint64_t seen[4] = { 0, 0, 0, 0 };
        for (size_t i = 0; i < n; i++) {
            unsigned h = name_hash(&v[i]);
            if (seen[h >> 6] >> (h & 63) & 1) {
                for (size_t k = 0; k < i; k++)
                    if (v[k].n == v[i].n && memcmp(v[k].s, v[i].s, v[i].n) == 0)
                        return 1;
            }
            seen[h >> 6] |= (uint64_t)1 << (h & 63);
        }
        return 0;
    }
    qsort(v, n, sizeof(*v), span_cmp);
    for (size_t i = 1; i < n; i++)
        if (span_cmp(&v[i - 1], &v[i]) == 0)
            return 1;
    return 0;
}

/* An object; with keys != NULL its member names are collected (up to
 * *nkeys_cap, growing a heap array past the inline one) so duplicates can be
 * found; with strings_only, every value must be a string or null. */
static int
object(struct jp *j, int strings_only, int check_dups)
{
    struct span inl[SMALL_FIELDS], *keys = inl, *heap = NULL;
    size_t n = 0, cap = SMALL_FIELDS;
    int r = 0;

    if (++j->depth > MAX_DEPTH)
        return bad("nested too deeply");
    j->p++; /* { */
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        j->depth--;
        return 0;
    }
    for (;;) {
        struct span scratch;
        ws(j);
        if (j->p >= j->end || *j->p != '"') {
            r = bad("expected a member name");
            goto out;
        }
        if (check_dups && n == cap) {
            struct span *nk = malloc(2 * cap * sizeof(*nk));
            if (nk == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                goto out;
            }
            memcpy(nk, keys, n * sizeof(*nk));
            free(heap);
            keys = heap = nk;
            cap *= 2;
        }
        /* the name goes straight to its slot (no copy of a just-written
         * span: that stalls on store forwarding) */
        if ((r = string(j, check_dups ? &keys[n] : &scratch)) < 0)
            goto out;
        if (check_dups)
            n++;
        ws(j);
        if (j->p >= j->end || *j->p != ':') {
            r = bad("expected ':'");
            goto out;
        }
        j->p++;
        ws(j);
        if (strings_only && (j->p >= j->end || (*j->p != '"' && *j->p != 'n'))) {
            r = nv_fail(NV_EFORMAT, "record field values must be strings");
            goto out;
        }
        if (j->p < j->end && *j->p == '"') {
            struct span v;
            if ((r = string(j, &v)) < 0)
                goto out;
        } else if ((r = value(j)) < 0) {
            goto out;
        }
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            break;
        }
        r = bad("expected ',' or '}'");
        goto out;
    }
    if (check_dups && has_dup(keys, n)) {
        r = nv_fail(NV_EFORMAT, "record has a field name twice");
        goto out;
    }
    j->depth--;
out:
    free(heap);
    return r;
}

static int
array(struct jp *j)
{
    int r;

    if (++j->depth > MAX_DEPTH)
        return bad("nested too deeply");
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        j->depth--;
        return 0;
    }
    for (;;) {
        ws(j);
        if ((r = value(j)) < 0)
            return r;
        ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            j->depth--;
            return 0;
        }
        return bad("expected ',' or ']'");
    }
}

static int
value(struct jp *j)
{
    struct span s;

    if (j->p >= j->end)
        return bad("unexpected end");
    switch (*j->p) {
    case '"':
        return string(j, &s);
    case '{':
        return object(j, 0, 1);
    case '[':
        return array(j);
    case 't':
        return literal(j, "true");
    case 'f':
        return literal(j, "false");
    case 'n':
        return literal(j, "null");
    default:
        return number(j);
    }
}

static int
is(const struct span *s, const char *w)
{
    size_t n = strlen(w);
    return s->n == n && memcmp(s->s, w, n) == 0;
}

int
nv_record_check(const char *line, size_t len)
{
    struct jp j = { (const unsigned char *)line, (const unsigned char *)line + len, 0 };
    struct span op = { NULL, 0 }, key = { NULL, 0 }, names[64 + 1];
    size_t nnames = 0;
    int have_op = 0, have_key = 0, have_fields = 0, r;

    if (len > NV_RECORD_MAX)
        return nv_fail(NV_ETOOBIG, "record over %u bytes", NV_RECORD_MAX);
    ws(&j);
    if (j.p >= j.end || *j.p != '{')
        return nv_fail(NV_EFORMAT, "record is not a JSON object");
    j.p++;
    ws(&j);
    if (j.p < j.end && *j.p == '}')
        j.p++;
    else
        for (;;) {
            const struct span *k = &names[nnames]; /* written in place */
            ws(&j);
            if (j.p >= j.end || *j.p != '"')
                return bad("expected a member name");
            if ((r = string(&j, &names[nnames])) < 0)
                return r;
            if (nnames == 64)
                return nv_fail(NV_EFORMAT, "record has more than 64 members");
            nnames++;
            ws(&j);
            if (j.p >= j.end || *j.p != ':')
                return bad("expected ':'");
            j.p++;
            ws(&j);
            if (is(k, "op") || is(k, "key")) {
                struct span *dst = is(k, "op") ? &op : &key;
                int *seen = is(k, "op") ? &have_op : &have_key;
                if (*seen)
                    return nv_fail(NV_EFORMAT, "record has a field name twice");
                *seen = 1;
                if (j.p >= j.end || *j.p != '"')
                    return nv_fail(NV_EFORMAT, "record lacks a string 'op' and a non-empty 'key'");
                if ((r = string(&j, dst)) < 0)
                    return r;
            } else if (is(k, "fields")) {
                if (have_fields++)
                    return nv_fail(NV_EFORMAT, "record has a field name twice");
                if (j.p >= j.end || *j.p != '{')
                    return nv_fail(NV_EFORMAT, "upsert record lacks a 'fields' object");
                if ((r = object(&j, 1, 1)) < 0)
                    return r;
            } else if ((r = value(&j)) < 0) {
                return r;
            }
            ws(&j);
            if (j.p < j.end && *j.p == ',') {
                j.p++;
                continue;
            }
            if (j.p < j.end && *j.p == '}') {
                j.p++;
                break;
            }
            return bad("expected ',' or '}'");
        }
    ws(&j);
    if (j.p != j.end)
        return bad("data after the object");
    if (has_dup(names, nnames))
        return nv_fail(NV_EFORMAT, "record has a field name twice");
    if (!have_op || !have_key || key.n == 0)
        return nv_fail(NV_EFORMAT, "record lacks a string 'op' and a non-empty 'key'");
    if (is(&op, "upsert"))
        return have_fields ? NV_OP_UPSERT
                           : nv_fail(NV_EFORMAT, "upsert record lacks a 'fields' object");
    if (is(&op, "delete"))
        return NV_OP_DELETE;
    return nv_fail(NV_EFORMAT, "record op must be 'upsert' or 'delete'");
}
