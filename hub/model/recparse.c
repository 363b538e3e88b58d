#include <string.h>

#include "../../formats/errors.h"
#include "../../formats/utf8.h"
#include "recparse.h"

struct p {
    const unsigned char *s, *end;
    struct nv_buf *out;
};

static void
ws(struct p *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n'))
        p->s++;
}

static int
put_cp(struct nv_buf *b, unsigned cp)
{
    unsigned char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return nv_buf_add(b, u, n);
}

/* A string at p->s (on its opening quote): unescaped into out, NUL
 * appended; *off gets its offset in out. */
static int
string(struct p *p, size_t *off, size_t *len)
{
    const unsigned char *s = p->s + 1, *run = s;
    struct nv_buf *b = p->out;

    *off = b->len;
    for (;;) {
        if (s >= p->end)
            return NV_EFORMAT;
        if (*s == '"')
            break;
        if (*s < 0x20)
            return NV_EFORMAT;
        if (*s < 0x80 && *s != '\\') {
            s++;
            continue;
        }
        if (*s >= 0x80) {
            size_t n = nv_utf8_seq(s, p->end);
            if (n == 0)
                return NV_EFORMAT;
            s += n;
            continue;
        }
        /* an escape */
        if (nv_buf_add(b, run, (size_t)(s - run)) < 0 || s + 1 >= p->end)
            return NV_EFORMAT;
        switch (s[1]) {
        case '"': case '\\': case '/':
            if (nv_buf_add(b, s + 1, 1) < 0)
                return NV_EFORMAT;
            s += 2;
            break;
        case 'b': case 'f': case 'n': case 'r': case 't': {
            static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
            char c = to[strchr(from, s[1]) - from];
            if (nv_buf_add(b, &c, 1) < 0)
                return NV_EFORMAT;
            s += 2;
            break;
        }
        case 'u': {
            unsigned cp, lo;
            if (p->end - s < 6 || nv_hex4(s + 2, &cp) < 0)
                return NV_EFORMAT;
            s += 6;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (p->end - s < 6 || s[0] != '\\' || s[1] != 'u' || nv_hex4(s + 2, &lo) < 0 ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return NV_EFORMAT;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                s += 6;
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return NV_EFORMAT;
            }
            if (cp == 0 || put_cp(b, cp) < 0) /* a NUL would cut the C string */
                return NV_EFORMAT;
            break;
        }
        default:
            return NV_EFORMAT;
        }
        run = s;
    }
    if (nv_buf_add(b, run, (size_t)(s - run)) < 0)
        return NV_EFORMAT;
    *len = b->len - *off;
    if (nv_buf_add(b, "", 1) < 0)
        return NV_EFORMAT;
    p->s = s + 1;
    return 0;
}

/* Offsets are turned into pointers once the scratch buffer stops moving. */
struct pend {
    size_t off, len;
    int set, null;
};

static int
lit(struct p *p, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
        return NV_EFORMAT;
    p->s += n;
    return 0;
}

/* A top-level member's value at p: null or a string (its place in the
 * scratch buffer), into t, which must not be set already. */
static inline int
top_value(struct p *p, struct pend *t)
{
    if (t->set)
        return NV_EFORMAT;
    if (p->s < p->end && *p->s == 'n') {
        if (lit(p, "null") < 0)
            return NV_EFORMAT;
        t->null = 1;
    } else if (p->s < p->end && *p->s == '"') {
        if (string(p, &t->off, &t->len) < 0)
            return NV_EFORMAT;
    } else {
        return NV_EFORMAT;
    }
    t->set = 1;
    return 0;
}

/* The "fields" object at p: up to NV_REC_MAX_FIELDS string members, names
 * and values placed in the scratch buffer (fn, fv; *nf of them). */
static inline int
fields_object(struct p *p, struct pend *fn, struct pend *fv, size_t *nf)
{
    if (p->s >= p->end || *p->s++ != '{')
        return NV_EFORMAT;
    ws(p);
    if (p->s < p->end && *p->s == '}') {
        p->s++;
        return 0;
    }
    for (;;) {
        if (*nf == NV_REC_MAX_FIELDS)
            return NV_EFORMAT;
        ws(p);
        if (p->s >= p->end || *p->s != '"' || string(p, &fn[*nf].off, &fn[*nf].len) < 0)
            return NV_EFORMAT;
        ws(p);
        if (p->s >= p->end || *p->s++ != ':')
            return NV_EFORMAT;
        ws(p);
        if (p->s >= p->end || *p->s != '"' || string(p, &fv[*nf].off, &fv[*nf].len) < 0)
            return NV_EFORMAT;
        (*nf)++;
        ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == '}') {
            p->s++;
            return 0;
        }
        return NV_EFORMAT;
    }
}

/* r's pointers into scratch, now that it is final; a field name given
 * twice is refused. */
static inline int
rec_place(struct nv_rec *r, const struct nv_buf *scratch, const struct pend *top,
          const struct pend *fn, const struct pend *fv, size_t nf)
{
    struct nv_rec_str *dst[6] = { &r->op, &r->key, &r->source, &r->order,
                                  &r->outcome, &r->reason };

    for (int k = 0; k < 6; k++) {
        dst[k]->s = top[k].set && !top[k].null ? (char *)scratch->data + top[k].off : NULL;
        dst[k]->n = top[k].len;
    }
    for (size_t i = 0; i < nf; i++) {
        r->name[i].s = (char *)scratch->data + fn[i].off;
        r->name[i].n = fn[i].len;
        r->value[i].s = (char *)scratch->data + fv[i].off;
        r->value[i].n = fv[i].len;
        for (size_t j = 0; j < i; j++)
            if (r->name[j].n == fn[i].len &&
                memcmp(r->name[j].s, r->name[i].s, fn[i].len) == 0)
                return NV_EFORMAT;
    }
    return 0;
}

int
nv_rec_parse(const char *line, size_t len, struct nv_rec *r, struct nv_buf *scratch)
{
    static const char *const names[] = { "op", "key", "source", "order", "outcome",
                                         "reason" };
    struct pend top[6], fn[NV_REC_MAX_FIELDS], fv[NV_REC_MAX_FIELDS];
    struct p p = { (const unsigned char *)line, (const unsigned char *)line + len,
                   scratch };
    size_t off, n, nf = 0;
    int has_fields = 0;

    memset(top, 0, sizeof(top));
    nv_buf_reset(scratch);
    r->fields_raw = NULL;
    r->fields_raw_len = 0;
    ws(&p);
    if (p.s >= p.end || *p.s++ != '{')
        return NV_EFORMAT;
    ws(&p);
    if (p.s < p.end && *p.s == '}')
        return NV_EFORMAT; /* no op, no key: let the full parser say so */
    for (;;) {
        size_t k;
        int which = -1;
        ws(&p);
        if (p.s >= p.end || *p.s != '"' || string(&p, &off, &n) < 0)
            return NV_EFORMAT;
        for (k = 0; k < 6; k++)
            if (strcmp((char *)scratch->data + off, names[k]) == 0)
                which = (int)k;
        if (which < 0 && strcmp((char *)scratch->data + off, "fields") != 0)
            return NV_EFORMAT;
        scratch->len = off; /* the name is not needed */
        ws(&p);
        if (p.s >= p.end || *p.s++ != ':')
            return NV_EFORMAT;
        ws(&p);
        if (which >= 0) {
            if (top_value(&p, &top[which]) < 0)
                return NV_EFORMAT;
        } else {
            const unsigned char *start = p.s;
            if (has_fields || fields_object(&p, fn, fv, &nf) < 0)
                return NV_EFORMAT;
            has_fields = 1;
            r->fields_raw = (const char *)start;
            r->fields_raw_len = (size_t)(p.s - start);
        }
        ws(&p);
        if (p.s < p.end && *p.s == ',') {
            p.s++;
            continue;
        }
        if (p.s < p.end && *p.s == '}') {
            p.s++;
            break;
        }
        return NV_EFORMAT;
    }
    ws(&p);
    if (p.s != p.end || rec_place(r, scratch, top, fn, fv, nf) < 0)
        return NV_EFORMAT;
    r->nfields = nf;
    r->has_fields = has_fields;
    return 0;
}
