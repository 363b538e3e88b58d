/*
 * csv.c - streaming CSV reader and writer; the contract is in csv.h.
 *
 * The reader keeps one window of the file.  A row is parsed from its first
 * byte; when the window ends before the row does, the window is refilled
 * (moving the row to its start, growing up to max_row) and the row parsed
 * again.  Field bytes are unquoted into fbuf, then decoded (UTF-8 validated
 * in place; Windows-1252 and ISO-8859-1 converted into dbuf).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <utf8proc.h>

#include "csv.h"
#include "errors.h"
#include "fileio.h"

#define WINDOW_MIN (256u << 10)

struct nv_csv {
    int fd;
    struct nv_csv_dialect d;
    size_t max_field, max_row;
    uint8_t *win;
    size_t cap, pos, len; /* window: [pos, len) unread */
    int eof;
    uint64_t line;        /* line of win[pos] */
    uint64_t offset;      /* file offset of win[0] */
    int skipping;         /* discarding an over-long row */
    /* current row */
    struct nv_buf fbuf;   /* unquoted field bytes, NUL after each */
    size_t *foff, *flen, fcap;
    struct nv_buf dbuf;   /* decoded fields (non-UTF-8 input) */
    char **field;
    size_t *dlen;
    struct nv_csv_row row;
    struct nv_csv_row header;
    struct nv_buf hbuf;   /* header storage */
    uint64_t reject_line;
    size_t key[NV_CSV_MAX_KEYS], nkey; /* key columns, for the stray-quote check */
    int partial;          /* the last row read had no line end */
};

/* Windows-1252 0x80..0x9F; 0 = undefined */
static const uint16_t cp1252[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

int
nv_encoding_parse(const char *name)
{
    static const struct {
        const char *n;
        int e;
    } names[] = {
        { "utf-8", NV_ENC_UTF8 }, { "utf8", NV_ENC_UTF8 },
        { "windows-1252", NV_ENC_CP1252 }, { "cp1252", NV_ENC_CP1252 },
        { "win1252", NV_ENC_CP1252 }, { "iso-8859-1", NV_ENC_LATIN1 },
        { "iso8859-1", NV_ENC_LATIN1 }, { "latin1", NV_ENC_LATIN1 },
        { "latin-1", NV_ENC_LATIN1 },
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i].n) == 0)
            return names[i].e;
    return 0;
}

const char *
nv_encoding_name(int enc)
{
    return enc == NV_ENC_CP1252 ? "windows-1252"
           : enc == NV_ENC_LATIN1 ? "iso-8859-1" : "utf-8";
}

/* ---- decoding ---- */

/* Length of the valid UTF-8 prefix of p[0..n) (n if all valid). */
static size_t
utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ULL)
                    break;
                i += 8;
            }
            if (i < n && p[i] < 0x80)
                i++;
            continue;
        }
        {
            size_t k;
            uint32_t cp;
            if (c >= 0xC2 && c <= 0xDF)
                k = 1, cp = c & 0x1F;
            else if (c >= 0xE0 && c <= 0xEF)
                k = 2, cp = c & 0x0F;
            else if (c >= 0xF0 && c <= 0xF4)
                k = 3, cp = c & 0x07;
            else
                return i;
            if (i + k >= n)
                return i;
            for (size_t j = 1; j <= k; j++) {
                if ((p[i + j] & 0xC0) != 0x80)
                    return i;
                cp = cp << 6 | (p[i + j] & 0x3F);
            }
            if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
                return i;
            i += k + 1;
        }
    }
    return n;
}

static int
put_utf8(struct nv_buf *b, uint32_t cp)
{
    uint8_t o[4];
    size_t n;

    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    }
    return nv_buf_add(b, o, n);
}

/* Decode the row's fields from fbuf into UTF-8 field pointers. */
static int
decode_row(struct nv_csv *c, size_t n, uint64_t line)
{
    int r;

    nv_buf_reset(&c->dbuf);
    if (c->d.encoding == NV_ENC_UTF8 || c->d.encoding == 0) {
        for (size_t i = 0; i < n; i++) {
            uint8_t *p = c->fbuf.data + c->foff[i];
            if (utf8_valid(p, c->flen[i]) != c->flen[i])
                return nv_fail(NV_EFORMAT, "line %llu: invalid UTF-8 in column %zu",
                               (unsigned long long)line, i + 1);
        }
        for (size_t i = 0; i < n; i++) {
            c->field[i] = (char *)c->fbuf.data + c->foff[i];
            c->dlen[i] = c->flen[i];
        }
        return 0;
    }
    /* first pass into dbuf with offsets, then pointers (dbuf may move) */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = c->fbuf.data + c->foff[i];
        size_t start = c->dbuf.len;
        for (size_t k = 0; k < c->flen[i]; k++) {
            uint8_t ch = p[k];
            uint32_t cp = ch;
            if (ch >= 0x80 && ch < 0xA0 && c->d.encoding == NV_ENC_CP1252) {
                cp = cp1252[ch - 0x80];
                if (cp == 0)
                    return nv_fail(NV_EFORMAT,
                                   "line %llu: byte 0x%02X in column %zu is not a windows-1252 character",
                                   (unsigned long long)line, ch, i + 1);
            }
            if (cp < 0x80) {
                size_t run = 1;
                while (k + run < c->flen[i] && p[k + run] < 0x80)
                    run++;
                if ((r = nv_buf_add(&c->dbuf, p + k, run)) < 0)
                    return r;
                k += run - 1;
                continue;
            }
            if ((r = put_utf8(&c->dbuf, cp)) < 0)
                return r;
        }
        if ((r = nv_buf_add(&c->dbuf, "", 1)) < 0)
            return r;
        c->foff[i] = start; /* reuse as the offset into dbuf */
        c->dlen[i] = c->dbuf.len - start - 1;
    }
    for (size_t i = 0; i < n; i++)
        c->field[i] = (char *)c->dbuf.data + c->foff[i];
    return 0;
}

/* ---- reading ---- */

/* Read more into the window, keeping [keep, len).  Returns bytes read, 0 at
 * end of file, or a negative code. */
static long
refill(struct nv_csv *c, size_t keep, size_t limit)
{
    ssize_t n;

    if (keep > 0) {
        memmove(c->win, c->win + keep, c->len - keep);
        c->len -= keep;
        c->pos -= keep;
        c->offset += keep;
    }
    if (c->len == c->cap) {
        size_t ncap = c->cap * 2;
        uint8_t *nw;
        if (ncap > limit)
            ncap = limit;
        if (ncap <= c->cap)
            return NV_ETOOBIG;
        if ((nw = realloc(c->win, ncap + 1)) == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        c->win = nw;
        c->cap = ncap;
    }
    n = nv_read_full(c->fd, c->win + c->len, c->cap - c->len);
    if (n < 0)
        return n;
    if (n == 0)
        c->eof = 1;
    c->len += (size_t)n;
    return n;
}

static int
add_field(struct nv_csv *c, size_t *n, size_t off, size_t len)
{
    if (*n == c->fcap) {
        size_t ncap = c->fcap ? c->fcap * 2 : 32;
        if (ncap > NV_CSV_MAX_FIELDS + 1)
            ncap = NV_CSV_MAX_FIELDS + 1;
        if (*n >= ncap)
            return NV_ETOOBIG;
        c->foff = realloc(c->foff, ncap * sizeof(size_t));
        c->flen = realloc(c->flen, ncap * sizeof(size_t));
        c->dlen = realloc(c->dlen, ncap * sizeof(size_t));
        c->field = realloc(c->field, ncap * sizeof(char *));
        if (!c->foff || !c->flen || !c->dlen || !c->field)
            return nv_fail(NV_ENOMEM, "out of memory");
        c->fcap = ncap;
    }
    c->foff[*n] = off;
    c->flen[*n] = len;
    (*n)++;
    return 0;
}

enum { ROW_OK = 1, ROW_MORE = 2, ROW_OPENQUOTE = 3 };

/* Flags of a parsed row */
enum {
    F_LONG = 1, F_NUL = 2, F_MANY = 4, F_QUOTED = 8,
    F_MIDCLOSE = 16, /* a multi-line quoted field closed inside a field */
    F_NOEOL = 32,    /* the row ended at end of file without a line end */
};

/* Parse one row at c->pos.  ROW_OK: fields in fbuf, *end after the line
 * end, *lines LFs consumed, *qlines the most LFs one quoted field held;
 * ROW_MORE: the window ends first (not at EOF); ROW_OPENQUOTE: EOF inside a
 * quoted field.  *flags: the F_ values. */
static int
parse_row(struct nv_csv *c, size_t *nf, size_t *end, uint64_t *lines,
          uint64_t *qlines, int *flags)
{
    const uint8_t *w = c->win;
    size_t p = c->pos, L = c->len;
    const char dl = c->d.delim, q = c->d.quote;
    int r;

    *nf = 0;
    *lines = 0;
    *qlines = 0;
    *flags = 0;
    nv_buf_reset(&c->fbuf);
    for (;;) {
        size_t start = c->fbuf.len;
        if (p < L && q && w[p] == (uint8_t)q) {
            uint64_t before = *lines;
            *flags |= F_QUOTED;
            p++;
            for (;;) {
                const uint8_t *qp = p < L ? memchr(w + p, q, L - p) : NULL;
                size_t stop = qp ? (size_t)(qp - w) : L;
                for (size_t k = p; k < stop; k++)
                    if (w[k] == '\n')
                        (*lines)++;
                if ((r = nv_buf_add(&c->fbuf, w + p, stop - p)) < 0)
                    return r;
                if (qp == NULL)
                    return c->eof ? ROW_OPENQUOTE : ROW_MORE;
                p = stop + 1;
                if (p < L && w[p] == (uint8_t)q) { /* doubled quote */
                    if ((r = nv_buf_add(&c->fbuf, &q, 1)) < 0)
                        return r;
                    p++;
                    continue;
                }
                if (p == L && !c->eof)
                    return ROW_MORE;
                break;
            }
            if (*lines - before > *qlines)
                *qlines = *lines - before;
            if (*lines > before && p < L && w[p] != (uint8_t)dl && w[p] != '\n' &&
                w[p] != '\r')
                *flags |= F_MIDCLOSE;
        }
        /* unquoted part (or text after a closing quote, kept as data) */
        {
            size_t s = p;
            while (p < L && w[p] != (uint8_t)dl && w[p] != '\n' && w[p] != '\r')
                p++;
            if ((r = nv_buf_add(&c->fbuf, w + s, p - s)) < 0)
                return r;
        }
        if (p == L && !c->eof)
            return ROW_MORE;
        if (c->fbuf.len - start > c->max_field)
            *flags |= F_LONG;
        if (memchr(c->fbuf.data + start, '\0', c->fbuf.len - start) != NULL)
            *flags |= F_NUL;
        if ((r = add_field(c, nf, start, c->fbuf.len - start)) == NV_ETOOBIG) {
            *flags |= F_MANY;
            *nf = 0;
        } else if (r < 0) {
            return r;
        }
        if ((r = nv_buf_add(&c->fbuf, "", 1)) < 0)
            return r;
        if (p < L && w[p] == (uint8_t)dl) {
            p++;
            continue;
        }
        /* end of line: CR LF, LF, lone CR, or end of file */
        if (p == L)
            *flags |= F_NOEOL;
        if (p < L && w[p] == '\r') {
            p++;
            if (p == L && !c->eof)
                return ROW_MORE;
        }
        if (p < L && w[p] == '\n') {
            p++;
            (*lines)++;
        }
        *end = p;
        return ROW_OK;
    }
}

/* Discard the rest of an over-long row; returns 0 when past its end. */
static int
skip_row(struct nv_csv *c)
{
    int inq = c->skipping == 2;

    for (;;) {
        while (c->pos < c->len) {
            uint8_t b = c->win[c->pos++];
            if (c->d.quote && b == (uint8_t)c->d.quote)
                inq = !inq;
            else if (b == '\n') {
                c->line++;
                if (!inq) {
                    c->skipping = 0;
                    return 0;
                }
            }
        }
        if (c->eof) {
            c->skipping = 0;
            return 0;
        }
        c->skipping = inq ? 2 : 1;
        {
            long n = refill(c, c->pos, c->cap);
            if (n < 0)
                return (int)n;
        }
        inq = c->skipping == 2;
    }
}

/* The shape of a key value: runs of digits, of letters (any byte over
 * 0x7F counts as a letter) and each other byte, as 9, a and the byte. */
static size_t
key_shape(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char k = p[i] >= '0' && p[i] <= '9' ? '9'
                 : (p[i] >= 0x80 || ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z')) ? 'a'
                 : (char)p[i];
        if (o == 0 || out[o - 1] != k || (k != '9' && k != 'a'))
            out[o++] = k;
    }
    out[o] = '\0';
    return o;
}

/* Does the line [a, b) of the window parse on its own as a whole row: the
 * header's field count, each key value non-empty and shaped like the key
 * of the row being read (whose fields are in fbuf)? */
static int
line_is_row(const struct nv_csv *c, size_t a, size_t b)
{
    const uint8_t *w = c->win;
    const char dl = c->d.delim, q = c->d.quote;
    size_t nf = 0, ks[NV_CSV_MAX_KEYS], kl[NV_CSV_MAX_KEYS];
    size_t p = a;

    if (b > a && w[b - 1] == '\r')
        b--;
    for (size_t i = 0; i < c->nkey; i++)
        kl[i] = ks[i] = 0;
    for (;;) {
        size_t fs = p, fe;
        if (p < b && q && w[p] == (uint8_t)q) {
            fs = ++p;
            for (;;) {
                while (p < b && w[p] != (uint8_t)q)
                    p++;
                if (p == b)
                    return 0; /* a quote left open: not a row on its own */
                if (p + 1 < b && w[p + 1] == (uint8_t)q) {
                    p += 2;
                    continue;
                }
                break;
            }
            fe = p++;
            while (p < b && w[p] != (uint8_t)dl)
                p++;
        } else {
            while (p < b && w[p] != (uint8_t)dl)
                p++;
            fe = p;
        }
        for (size_t i = 0; i < c->nkey; i++)
            if (c->key[i] == nf) {
                ks[i] = fs;
                kl[i] = fe - fs;
            }
        if (++nf > c->header.n)
            return 0;
        if (p >= b)
            break;
        p++; /* the delimiter */
    }
    if (nf != c->header.n)
        return 0;
    for (size_t i = 0; i < c->nkey; i++) {
        char s1[64], s2[64];
        if (kl[i] == 0)
            return 0;
        key_shape(w + ks[i], kl[i], s1, sizeof(s1));
        key_shape(c->fbuf.data + c->foff[c->key[i]], c->flen[c->key[i]], s2, sizeof(s2));
        if (strcmp(s1, s2) != 0)
            return 0;
    }
    return 1;
}

/* A row whose quoted field spans lines: NULL if plausible, else why not. */
static const char *
implausible(const struct nv_csv *c, size_t end, size_t nf, uint64_t qlines, int flags)
{
    unsigned maxl = c->d.max_field_lines ? c->d.max_field_lines
                                         : NV_CSV_MAX_FIELD_LINES_DEFAULT;

    if (flags & F_MIDCLOSE)
        return "a quoted field runs over several lines and closes in the middle of a "
               "later field (a stray quote?)";
    if (qlines > maxl)
        return "a quoted field runs over more lines than max_field_lines (a stray quote?)";
    if (c->nkey > 0 && c->d.header && c->header.n >= 2 && nf == c->header.n) {
        /* lines strictly inside the row: after its first LF, before its last */
        const uint8_t *w = c->win;
        size_t a = c->pos, last = end;
        const uint8_t *nl;
        if (last > a && w[last - 1] == '\n')
            last--;
        nl = memchr(w + a, '\n', last - a);
        while (nl != NULL) {
            size_t s = (size_t)(nl - w) + 1;
            const uint8_t *nx = s < last ? memchr(w + s, '\n', last - s) : NULL;
            if (nx == NULL)
                break; /* the row's last line: ends with the rest of the row */
            if (line_is_row(c, s, (size_t)(nx - w)))
                return "a quoted field runs over lines that read as whole rows of their "
                       "own (a stray quote?)";
            nl = nx;
        }
    }
    return NULL;
}

void
nv_csv_set_key(struct nv_csv *c, const size_t *idx, size_t n)
{
    c->nkey = 0;
    for (size_t i = 0; i < n && i < NV_CSV_MAX_KEYS; i++)
        if (!c->d.header || idx[i] < c->header.n)
            c->key[c->nkey++] = idx[i];
}

static int
next_raw(struct nv_csv *c, size_t *nf, uint64_t *line)
{
    size_t end;
    uint64_t lines, qlines;
    int flags, k;

    for (;;) {
        if (c->skipping && (k = skip_row(c)) < 0)
            return k;
        if (c->pos == c->len) {
            if (c->eof)
                return 0;
            {
                long n = refill(c, c->pos, c->max_row + WINDOW_MIN);
                if (n < 0)
                    return (int)n;
                continue;
            }
        }
        k = parse_row(c, nf, &end, &lines, &qlines, &flags);
        if (k < 0)
            return k;
        *line = c->line;
        if (k == ROW_MORE) {
            long n = c->len - c->pos >= c->max_row ? NV_ETOOBIG
                                                   : refill(c, c->pos, c->max_row + WINDOW_MIN);
            if (n == NV_ETOOBIG) {
                /* over max_row: an open quote is unbalanced, else a long row */
                int inq = 0;
                for (size_t i = c->pos; i < c->len; i++)
                    if (c->d.quote && c->win[i] == (uint8_t)c->d.quote)
                        inq = !inq;
                c->reject_line = c->line;
                if (inq)
                    goto unbalanced;
                c->skipping = 1;
                c->pos = c->len;
                return nv_fail(NV_EFORMAT, "line %llu: row over %zu bytes",
                               (unsigned long long)*line, c->max_row);
            }
            if (n < 0)
                return (int)n;
            continue;
        }
        if (k == ROW_OPENQUOTE) {
            c->reject_line = c->line;
            goto unbalanced;
        }
        if (qlines > 0 && c->d.header && c->header.n > 0) {
            const char *why = implausible(c, end, *nf, qlines, flags);
            if (why != NULL) {
                uint8_t *nl = memchr(c->win + c->pos, '\n', end - c->pos);
                c->reject_line = c->line;
                c->pos = nl ? (size_t)(nl - c->win) + 1 : end;
                c->line++;
                return nv_fail(NV_EFORMAT, "line %llu: %s; the row is rejected and "
                               "reading goes on at the next line",
                               (unsigned long long)c->reject_line, why);
            }
        }
        {
            size_t rowlen = end - c->pos;
            c->pos = end;
            c->line += lines;
            c->reject_line = *line;
            c->partial = (flags & F_NOEOL) != 0;
            if (rowlen > c->max_row)
                return nv_fail(NV_EFORMAT, "line %llu: row over %zu bytes",
                               (unsigned long long)*line, c->max_row);
        }
        if (flags & F_MANY)
            return nv_fail(NV_EFORMAT, "line %llu: more than %d fields",
                           (unsigned long long)*line, NV_CSV_MAX_FIELDS);
        if (flags & F_NUL)
            return nv_fail(NV_EFORMAT, "line %llu: NUL byte", (unsigned long long)*line);
        if (flags & F_LONG)
            return nv_fail(NV_EFORMAT, "line %llu: field over %zu bytes",
                           (unsigned long long)*line, c->max_field);
        /* an empty line is not a row */
        if (*nf == 1 && c->flen[0] == 0 && !(flags & F_QUOTED))
            continue;
        return 1;
    unbalanced:
        {
            /* resume at the line after the one where the row started */
            uint8_t *nl = memchr(c->win + c->pos, '\n', c->len - c->pos);
            c->pos = nl ? (size_t)(nl - c->win) + 1 : c->len;
            c->line++;
            return nv_fail(NV_EFORMAT, "line %llu: unbalanced quote",
                           (unsigned long long)c->reject_line);
        }
    }
}

static char
detect(const uint8_t *p, size_t n, char quote)
{
    static const char cand[] = { ',', ';', '\t', '|' };
    size_t count[4] = { 0 };
    int inq = 0;

    for (size_t i = 0; i < n && (inq || p[i] != '\n'); i++) {
        if (quote && p[i] == (uint8_t)quote) {
            inq = !inq;
            continue;
        }
        if (!inq)
            for (int k = 0; k < 4; k++)
                count[k] += p[i] == (uint8_t)cand[k];
    }
    {
        int best = 0;
        for (int k = 1; k < 4; k++)
            if (count[k] > count[best])
                best = k;
        return count[best] ? cand[best] : ',';
    }
}

int
nv_csv_open(struct nv_csv **out, int fd, const struct nv_csv_dialect *d,
            size_t max_field, size_t max_row)
{
    struct nv_csv *c;
    uint64_t line;
    size_t nf;
    int r;

    *out = NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    c->fd = fd;
    c->d = *d;
    if (c->d.encoding == 0)
        c->d.encoding = NV_ENC_UTF8;
    c->max_field = max_field ? max_field : NV_CSV_MAX_FIELD_DEFAULT;
    c->max_row = max_row ? max_row : NV_CSV_MAX_ROW_DEFAULT;
    if (c->max_field > c->max_row)
        c->max_field = c->max_row;
    c->cap = WINDOW_MIN;
    c->line = 1;
    nv_buf_init(&c->fbuf);
    nv_buf_init(&c->dbuf);
    nv_buf_init(&c->hbuf);
    if ((c->win = malloc(c->cap + 1)) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto fail;
    }
    /* fill the first window (at least the first line, if it fits) */
    do {
        long n = refill(c, 0, c->cap);
        if (n < 0 && n != NV_ETOOBIG) {
            r = (int)n;
            goto fail;
        }
        if (n <= 0)
            break;
    } while (c->len < c->cap);
    if (c->len >= 2) {
        const uint8_t *w = c->win;
        const char *u = NULL;
        if (c->len >= 4 && memcmp(w, "\xFF\xFE\0\0", 4) == 0)
            u = "UTF-32 (little-endian, byte order mark FF FE 00 00)";
        else if (c->len >= 4 && memcmp(w, "\0\0\xFE\xFF", 4) == 0)
            u = "UTF-32 (big-endian, byte order mark 00 00 FE FF)";
        else if (w[0] == 0xFF && w[1] == 0xFE)
            u = "UTF-16 (little-endian, byte order mark FF FE)";
        else if (w[0] == 0xFE && w[1] == 0xFF)
            u = "UTF-16 (big-endian, byte order mark FE FF)";
        else if (c->len >= 4 && w[0] && !w[1] && w[2] && !w[3] && w[0] < 0x80 && w[2] < 0x80)
            u = "UTF-16 (little-endian, without a byte order mark)";
        else if (c->len >= 4 && !w[0] && w[1] && !w[2] && w[3] && w[1] < 0x80 && w[3] < 0x80)
            u = "UTF-16 (big-endian, without a byte order mark)";
        if (u != NULL) {
            r = nv_fail(NV_EFORMAT, "the file is encoded in %s; nova reads utf-8, "
                        "windows-1252 or iso-8859-1: export it in one of them", u);
            goto fail;
        }
    }
    if (c->d.encoding == NV_ENC_UTF8 && c->len >= 3 &&
        memcmp(c->win, "\xEF\xBB\xBF", 3) == 0)
        c->pos = 3;
    if (c->d.delim == 0)
        c->d.delim = detect(c->win + c->pos, c->len - c->pos, c->d.quote);
    if (!c->d.header) {
        *out = c;
        return 0;
    }
    r = next_raw(c, &nf, &line);
    if (r == 0) {
        r = nv_fail(NV_ENOTFOUND, "empty file");
        goto fail;
    }
    if (r < 0) {
        r = nv_fail_prefix(NV_EFORMAT, "header");
        goto fail;
    }
    if ((r = decode_row(c, nf, line)) < 0) {
        r = nv_fail_prefix(r, "header");
        goto fail;
    }
    /* keep the header in its own storage */
    {
        size_t *offs = malloc(nf * sizeof(size_t));
        if (offs == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < nf && r == 0; i++) {
            offs[i] = c->hbuf.len;
            if (c->dlen[i] == 0)
                r = nv_fail(NV_EFORMAT, "header: column %zu has no name", i + 1);
            for (size_t k = 0; k < i && r == 0; k++)
                if (c->dlen[k] == c->dlen[i] && memcmp(c->field[k], c->field[i], c->dlen[i]) == 0)
                    r = nv_fail(NV_EFORMAT, "header: column name in columns %zu and %zu is repeated",
                                k + 1, i + 1);
            if (r == 0)
                r = nv_buf_add(&c->hbuf, c->field[i], c->dlen[i] + 1);
        }
        if (r == 0) {
            c->header.n = nf;
            c->header.field = malloc(nf * sizeof(char *));
            c->header.len = malloc(nf * sizeof(size_t));
            c->header.line = line;
            if (c->header.field == NULL || c->header.len == NULL)
                r = nv_fail(NV_ENOMEM, "out of memory");
            for (size_t i = 0; r == 0 && i < nf; i++) {
                c->header.field[i] = (char *)c->hbuf.data + offs[i];
                c->header.len[i] = c->dlen[i];
            }
        }
        free(offs);
        if (r < 0)
            goto fail;
    }
    *out = c;
    return 0;
fail:
    nv_csv_free(c);
    return r;
}

const struct nv_csv_row *
nv_csv_header(const struct nv_csv *c)
{
    return c->d.header ? &c->header : NULL;
}

char
nv_csv_delim(const struct nv_csv *c)
{
    return c->d.delim;
}

int
nv_csv_next(struct nv_csv *c, const struct nv_csv_row **row)
{
    uint64_t line;
    size_t nf;
    int r;

    *row = NULL;
    r = next_raw(c, &nf, &line);
    if (r <= 0)
        return r;
    c->reject_line = line;
    if (c->d.header && nf != c->header.n)
        return nv_fail(NV_EFORMAT, "line %llu: %zu fields where the header has %zu",
                       (unsigned long long)line, nf, c->header.n);
    if ((r = decode_row(c, nf, line)) < 0)
        return r;
    c->row.n = nf;
    c->row.field = c->field;
    c->row.len = c->dlen;
    c->row.line = line;
    c->row.partial = c->partial;
    *row = &c->row;
    return 1;
}

uint64_t
nv_csv_reject_line(const struct nv_csv *c)
{
    return c->reject_line;
}

uint64_t
nv_csv_offset(const struct nv_csv *c)
{
    return c->offset + c->pos;
}

void
nv_csv_free(struct nv_csv *c)
{
    if (c == NULL)
        return;
    free(c->win);
    nv_buf_release(&c->fbuf);
    nv_buf_release(&c->dbuf);
    nv_buf_release(&c->hbuf);
    free(c->foff);
    free(c->flen);
    free(c->dlen);
    free(c->field);
    free(c->header.field);
    free(c->header.len);
    free(c);
}

/* ---- writer ---- */

static int
encode(struct nv_buf *out, const char *s, size_t n, int enc)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;

    if (enc == NV_ENC_UTF8 || enc == 0)
        return utf8_valid(p, n) == n ? nv_buf_add(out, s, n) : NV_EFORMAT;
    while (i < n) {
        uint32_t cp;
        uint8_t b;
        size_t k;
        if (p[i] < 0x80) {
            if (nv_buf_add(out, p + i, 1) < 0)
                return NV_ENOMEM;
            i++;
            continue;
        }
        if (utf8_valid(p + i, n - i) == 0)
            return NV_EFORMAT;
        k = p[i] >= 0xF0 ? 3 : p[i] >= 0xE0 ? 2 : 1;
        cp = p[i] & (0x3F >> k);
        for (size_t j = 1; j <= k; j++)
            cp = cp << 6 | (p[i + j] & 0x3F);
        i += k + 1;
        if (cp >= 0xA0 && cp <= 0xFF) {
            b = (uint8_t)cp;
        } else if (enc == NV_ENC_LATIN1 && cp >= 0x80 && cp <= 0x9F) {
            b = (uint8_t)cp;
        } else {
            int found = -1;
            if (enc == NV_ENC_CP1252)
                for (int t = 0; t < 32; t++)
                    if (cp1252[t] == cp && cp != 0)
                        found = t;
            if (found < 0)
                return NV_EFORMAT;
            b = (uint8_t)(0x80 + found);
        }
        if (nv_buf_add(out, &b, 1) < 0)
            return NV_ENOMEM;
    }
    return 0;
}

int
nv_csv_formula_like(const char *s)
{
    if (s[0] == '=' || s[0] == '@' || s[0] == '\t' || s[0] == '\r')
        return 1;
    if (s[0] == '+' || s[0] == '-') {
        /* +33 6 12 34 56 78, -12.5, (01) 23: numbers, not formulas */
        int digits = 0;
        for (const char *p = s + 1; *p; p++) {
            if (*p >= '0' && *p <= '9')
                digits = 1;
            else if (!strchr(" .,/()-", *p))
                return 1;
        }
        return !digits;
    }
    return 0;
}

int
nv_csv_representable(const char *s, int enc)
{
    struct nv_buf b = NV_BUF_INIT;
    int r = encode(&b, s, strlen(s), enc);

    nv_buf_release(&b);
    return r == 0;
}

int
nv_csv_transliterate(struct nv_buf *out, const char *s, int enc)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s), i = 0;
    struct nv_buf tmp = NV_BUF_INIT;
    int replaced = 0, r = 0;

    while (i < n && r >= 0) {
        utf8proc_int32_t cp, dec[8];
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        int lbc = 0;
        if (k <= 0) {
            r = NV_EFORMAT;
            break;
        }
        nv_buf_reset(&tmp);
        if (encode(&tmp, (const char *)p + i, (size_t)k, enc) == 0) {
            r = nv_buf_add(out, p + i, (size_t)k);
        } else {
            /* the base letter of the decomposition, if enc has it */
            utf8proc_uint8_t u[8];
            utf8proc_ssize_t nd = utf8proc_decompose_char(
                cp, dec, 8, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &lbc);
            utf8proc_ssize_t ul = nd > 0 ? utf8proc_encode_char(dec[0], u) : 0;
            nv_buf_reset(&tmp);
            if (ul > 0 && dec[0] != cp && encode(&tmp, (const char *)u, (size_t)ul, enc) == 0)
                r = nv_buf_add(out, u, (size_t)ul);
            else
                r = nv_buf_add(out, "?", 1);
            replaced++;
        }
        i += (size_t)k;
    }
    nv_buf_release(&tmp);
    return r < 0 ? r : replaced;
}

int
nv_csv_write_row(struct nv_buf *out, const struct nv_csv_dialect *d,
                 const char *const *fields, size_t n)
{
    char dl = d->delim ? d->delim : ',', q = d->quote;
    size_t mark = out->len;
    int r;

    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i] ? fields[i] : "";
        size_t len = strlen(f);
        int guard = d->formula_guard && nv_csv_formula_like(f);
        int quote = q && (strchr(f, dl) || strchr(f, q) || strpbrk(f, "\r\n") ||
                          (len > 0 && (f[0] == ' ' || f[len - 1] == ' ')) ||
                          (guard && q == '\''));
        if (i > 0 && (r = nv_buf_add(out, &dl, 1)) < 0)
            goto fail;
        if (!q && (strchr(f, dl) || strpbrk(f, "\r\n"))) {
            r = nv_fail(NV_EFORMAT, "field %zu holds the delimiter or a line end and the dialect has no quote",
                        i + 1);
            goto fail;
        }
        if (quote && (r = nv_buf_add(out, &q, 1)) < 0)
            goto fail;
        if (guard && (r = nv_buf_add(out, "''", q == '\'' ? 2 : 1)) < 0)
            goto fail;
        for (const char *s = f;;) {
            const char *e = quote ? strchr(s, q) : NULL;
            size_t seg = e ? (size_t)(e - s) : strlen(s);
            if ((r = encode(out, s, seg, d->encoding)) < 0) {
                if (r == NV_EFORMAT)
                    r = nv_fail(NV_EFORMAT, "field %zu has a character that %s cannot represent",
                                i + 1, nv_encoding_name(d->encoding));
                goto fail;
            }
            if (e == NULL)
                break;
            if ((r = nv_buf_add(out, &q, 1)) < 0 || (r = nv_buf_add(out, &q, 1)) < 0)
                goto fail;
            s = e + 1;
        }
        if (quote && (r = nv_buf_add(out, &q, 1)) < 0)
            goto fail;
    }
    if ((r = nv_buf_add(out, "\n", 1)) < 0)
        goto fail;
    return 0;
fail:
    out->len = mark;
    if (out->data != NULL)
        out->data[mark] = '\0';
    return r;
}
