/*
 * segment.c - the segment file format: parser, check against the mappings,
 * and the conditions on one record and on one person (see segment.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/buf.h"
#include "../../formats/contact.h"
#include "../../formats/errors.h"
#include "../../formats/util.h"
#include "../model/mapping.h"
#include "../model/normalize.h"
#include "segment.h"

/* ---- tokens ---- */

enum { T_END, T_WORD, T_STR, T_LP, T_RP, T_COMMA, T_EQ };

struct tok {
    int type;
    int line;
    char *s; /* T_WORD, T_STR: NUL-terminated (in the parser's copy) */
};

struct parser {
    struct tok *t;
    size_t n, cap, i;
    char *copy;
    struct nv_segment *seg;
    int depth;
    int inner; /* inside 'where (...)': the leaves are FIELD PREDICATE */
};

static int
perr(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
perr(int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        return nv_fail(NV_EFORMAT, "segment line %d: %s", line, msg);
    return nv_fail(NV_EFORMAT, "segment: %s", msg);
}

static void
push(struct parser *p, int type, int line, char *s)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        if ((p->t = realloc(p->t, p->cap * sizeof(*p->t))) == NULL)
            abort();
    }
    p->t[p->n].type = type;
    p->t[p->n].line = line;
    p->t[p->n].s = s;
    p->n++;
}

static int
word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == '*' || c == '/' || c == ':' || c == '+' ||
           c == '@' || c == '\'' || c >= 0x80;
}

/* Split s (the text after the header line, modified in place) into p->t. */
static int
tokenize(struct parser *p, char *s, int line)
{
    for (;;) {
        unsigned char c = (unsigned char)*s;
        if (c == '\0') {
            /* the end is where the last token was */
            push(p, T_END, p->n > 0 ? p->t[p->n - 1].line : line, NULL);
            return 0;
        }
        if (c == '\n') {
            line++;
            s++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            s++;
        } else if (c == '#') {
            while (*s != '\0' && *s != '\n')
                s++;
        } else if (c == '(' || c == ')' || c == ',' || c == '=') {
            push(p, c == '(' ? T_LP : c == ')' ? T_RP : c == ',' ? T_COMMA : T_EQ, line, NULL);
            *s++ = '\0';
        } else if (c == '"') {
            char *w = ++s, *start = s;
            int l0 = line;
            for (;;) {
                if (*s == '\0' || *s == '\n')
                    return perr(l0, "unterminated quote");
                if (*s == '"') {
                    if (s[1] == '"') {
                        *w++ = '"';
                        s += 2;
                        continue;
                    }
                    break;
                }
                *w++ = *s++;
            }
            *s++ = '\0';
            *w = '\0';
            push(p, T_STR, l0, start);
        } else if (word_char(c)) {
            char *start = s;
            while (word_char((unsigned char)*s))
                s++;
            push(p, T_WORD, line, start);
            if (*s == '\0') {
                push(p, T_END, line, NULL);
                return 0;
            }
            /* the separator is a token of its own or a blank: keep it */
            if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' || *s == '#') {
                char sep = *s;
                *s++ = '\0';
                if (sep == '\n')
                    line++;
                else if (sep == '#')
                    while (*s != '\0' && *s != '\n')
                        s++;
            } else if (*s == '(' || *s == ')' || *s == ',' || *s == '=') {
                char sep = *s;
                *s++ = '\0';
                push(p, sep == '(' ? T_LP : sep == ')' ? T_RP : sep == ',' ? T_COMMA : T_EQ,
                     line, NULL);
            } else if (*s == '"') {
                return perr(line, "a quote inside a word (quote the whole value)");
            } else {
                return perr(line, "unexpected character (byte 0x%02x)", (unsigned char)*s);
            }
        } else {
            return perr(line, "unexpected character (byte 0x%02x)", c);
        }
    }
}

static struct tok *
peek(struct parser *p)
{
    return &p->t[p->i];
}

static int
is_word(struct parser *p, const char *w)
{
    struct tok *t = peek(p);

    return t->type == T_WORD && strcmp(t->s, w) == 0;
}

static const char *
tok_text(const struct tok *t)
{
    switch (t->type) {
    case T_END: return "the end of the file";
    case T_LP: return "'('";
    case T_RP: return "')'";
    case T_COMMA: return "','";
    case T_EQ: return "'='";
    default: return t->s;
    }
}

static int
expect_word(struct parser *p, const char *w, const char *what)
{
    if (!is_word(p, w))
        return perr(peek(p)->line, "%s, not %s%s%s", what,
                    peek(p)->type == T_WORD || peek(p)->type == T_STR ? "'" : "",
                    tok_text(peek(p)),
                    peek(p)->type == T_WORD || peek(p)->type == T_STR ? "'" : "");
    p->i++;
    return 0;
}

/* ---- nodes ---- */

static struct nv_seg_node *
node_new(int kind, int line)
{
    struct nv_seg_node *n = calloc(1, sizeof(*n));

    if (n == NULL)
        abort();
    n->kind = kind;
    n->line = line;
    n->common = -1;
    return n;
}

static void
node_free(struct nv_seg_node *n)
{
    if (n == NULL)
        return;
    node_free(n->a);
    node_free(n->b);
    node_free(n->where);
    free(n->entity);
    free(n->field);
    for (size_t i = 0; i < n->nvals; i++)
        free(n->vals[i]);
    free(n->vals);
    free(n);
}

void
nv_segment_release(struct nv_segment *s)
{
    node_free(s->root);
    memset(s, 0, sizeof(*s));
}

int
nv_segment_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > NV_SEGMENT_NAME_MAX)
        return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int
valid_field_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* ---- values ---- */

static int
has_digit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= '0' && s[i] <= '9')
            return 1;
    return 0;
}

int
nv_segment_canon(const char *in, size_t len, struct nv_buf *out)
{
    size_t save = out->len;
    int v, r;

    /* a date (with or without a time: the date only) */
    if (len >= 6 && has_digit(in, len) && nv_norm_timestamp(in, len, out) == 0 &&
        out->len - save >= 10) {
        out->len = save + 10;
        out->data[out->len] = '\0';
        return nv_buf_add(out, "", 1);
    }
    out->len = save;
    /* a number without a leading zero that a number would lose */
    {
        size_t b = 0;
        while (b < len && (in[b] == ' ' || in[b] == '\t'))
            b++;
        if (has_digit(in, len) && !(len - b > 1 && in[b] == '0' && in[b + 1] >= '0' &&
                                    in[b + 1] <= '9') &&
            nv_ext_normalise(NV_EXT_NUMBER, in, len, out) == 0 && out->len > save)
            return nv_buf_add(out, "", 1);
    }
    out->len = save;
    /* yes / no in words */
    if (!has_digit(in, len) && nv_norm_bool(in, len, &v) == 0 && v >= 0)
        return nv_buf_add(out, v ? "1" : "0", 2);
    nv_error_clear();
    out->len = save;
    if (out->data != NULL)
        out->data[save] = '\0';
    if ((r = nv_norm_name(in, len, out)) < 0) {
        /* not a name (digits, symbols): compare the text trimmed, lower case */
        out->len = save;
        for (size_t i = 0; i < len; i++) {
            char c = in[i];
            if (c == ' ' || c == '\t')
                continue;
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if ((r = nv_buf_add(out, &c, 1)) < 0)
                return r;
        }
    }
    return nv_buf_add(out, "", 1);
}

/* Is field f compared folded (free text) rather than as normalised? */
static int
folded_field(int f)
{
    return f < 0 || nv_fields[f].kind == NV_K_NAME || nv_fields[f].kind == NV_K_TEXT ||
           f == NV_F_ADDRESS;
}

static int
date_field(int f)
{
    return f == NV_F_BIRTH_DATE || f == NV_F_CREATED_AT || f == NV_F_UPDATED_AT;
}

/* The canonical form of a literal for predicate n (its field known). */
static int
literal(struct nv_seg_node *n, const char *lit, int line)
{
    struct nv_buf b = NV_BUF_INIT;
    size_t l = strlen(lit);
    int r;

    if (l == 0)
        return perr(line, "an empty value (use 'is empty')");
    if (n->op == NV_SEG_PREFIX) {
        if (folded_field(n->common))
            r = nv_segment_canon(lit, l, &b);
        else {
            /* e-mail, phone, postal code... prefixes: blanks out, lower case */
            r = 0;
            for (size_t i = 0; i < l && r == 0; i++) {
                char c = lit[i];
                if (c == ' ' || c == '\t')
                    continue;
                if (c >= 'A' && c <= 'Z')
                    c = (char)(c - 'A' + 'a');
                r = nv_buf_add(&b, &c, 1);
            }
            if (r == 0)
                r = nv_buf_add(&b, "", 1);
        }
    } else if (n->common < 0) {
        r = nv_segment_canon(lit, l, &b);
    } else {
        r = nv_field_normalise(n->common, lit, l, "FR", &b);
        if (r == NV_EFORMAT) {
            char why[200];
            snprintf(why, sizeof(why), "%s", nv_errmsg(r));
            nv_buf_release(&b);
            return perr(line, "'%.100s' is not a valid %s (%s)", lit,
                        nv_fields[n->common].name, why);
        }
        if (r == 0 && b.len > 0 && folded_field(n->common)) {
            struct nv_buf f = NV_BUF_INIT;
            if ((r = nv_segment_canon((char *)b.data, b.len, &f)) == 0) {
                nv_buf_release(&b);
                b = f;
            } else {
                nv_buf_release(&f);
            }
        } else if (r == 0) {
            r = nv_buf_add(&b, "", 1);
        }
    }
    if (r < 0) {
        nv_buf_release(&b);
        return r;
    }
    if (b.len <= 1) {
        nv_buf_release(&b);
        return perr(line, "'%.100s' leaves nothing to compare", lit);
    }
    if ((n->vals = realloc(n->vals, (n->nvals + 1) * sizeof(char *))) == NULL)
        abort();
    n->vals[n->nvals++] = (char *)b.data; /* NUL-terminated, owned */
    return 0;
}

/* YYYY-MM-DD, a real date. */
static int
iso_date(const char *s, char out[11])
{
    struct nv_buf b = NV_BUF_INIT;
    int ok = strlen(s) == 10 && s[4] == '-' && s[7] == '-' &&
             nv_norm_date(s, 10, &b) == 0 && b.len == 10 && memcmp(b.data, s, 10) == 0;

    if (ok) {
        memcpy(out, s, 10);
        out[10] = '\0';
    }
    nv_buf_release(&b);
    nv_error_clear();
    return ok;
}

static int
value_tok(struct parser *p, const char **v)
{
    struct tok *t = peek(p);

    if (t->type != T_WORD && t->type != T_STR)
        return perr(t->line, "a value, not %s", tok_text(t));
    *v = t->s;
    p->i++;
    return 0;
}

/* PREDICATE after FIELD, into n. */
static int
predicate(struct parser *p, struct nv_seg_node *n)
{
    struct tok *t = peek(p);
    const char *v;
    int r;

    if (t->type == T_EQ) {
        p->i++;
        n->op = NV_SEG_EQ;
        if ((r = value_tok(p, &v)) < 0)
            return r;
        return literal(n, v, t->line);
    }
    if (is_word(p, "in")) {
        p->i++;
        n->op = NV_SEG_EQ;
        if (peek(p)->type != T_LP)
            return perr(peek(p)->line, "'in' takes a list in parentheses: in (A, B)");
        p->i++;
        for (;;) {
            if ((r = value_tok(p, &v)) < 0 || (r = literal(n, v, t->line)) < 0)
                return r;
            if (n->nvals > 1000)
                return perr(t->line, "more than 1000 values in a list");
            if (peek(p)->type == T_COMMA) {
                p->i++;
                continue;
            }
            if (peek(p)->type == T_RP) {
                p->i++;
                return 0;
            }
            return perr(peek(p)->line, "',' or ')' in the list, not %s", tok_text(peek(p)));
        }
    }
    if (is_word(p, "starts")) {
        p->i++;
        if ((r = expect_word(p, "with", "'starts with'")) < 0)
            return r;
        n->op = NV_SEG_PREFIX;
        if ((r = value_tok(p, &v)) < 0)
            return r;
        return literal(n, v, t->line);
    }
    if (is_word(p, "is")) {
        p->i++;
        n->op = NV_SEG_EMPTY;
        if (is_word(p, "not")) {
            p->i++;
            n->op = NV_SEG_NOTEMPTY;
        }
        return expect_word(p, "empty", "'is empty' or 'is not empty'");
    }
    if (is_word(p, "within")) {
        uint64_t num;
        p->i++;
        if (is_word(p, "the"))
            p->i++;
        if (is_word(p, "last"))
            p->i++;
        if (peek(p)->type != T_WORD || nv_parse_u64(peek(p)->s, &num) < 0 || num == 0 ||
            num > 100000)
            return perr(peek(p)->line, "'within' takes a number of days or months "
                        "(1 to 100000), not %s", tok_text(peek(p)));
        p->i++;
        n->n = (unsigned)num;
        if (is_word(p, "days") || is_word(p, "day"))
            n->op = NV_SEG_WITHIN_DAYS;
        else if (is_word(p, "months") || is_word(p, "month"))
            n->op = NV_SEG_WITHIN_MONTHS;
        else
            return perr(peek(p)->line, "'within N' takes days or months, not %s",
                        tok_text(peek(p)));
        p->i++;
        if (n->common >= 0 && !date_field(n->common))
            return perr(t->line, "'within' needs a date field; %s is not one", n->field);
        return 0;
    }
    if (is_word(p, "between")) {
        p->i++;
        n->op = NV_SEG_BETWEEN;
        if ((r = value_tok(p, &v)) < 0)
            return r;
        if (!iso_date(v, n->from))
            return perr(t->line, "'between' takes dates YYYY-MM-DD, not '%.40s'", v);
        if ((r = expect_word(p, "and", "'between DATE and DATE'")) < 0 ||
            (r = value_tok(p, &v)) < 0)
            return r;
        if (!iso_date(v, n->to))
            return perr(t->line, "'between' takes dates YYYY-MM-DD, not '%.40s'", v);
        if (strcmp(n->from, n->to) > 0)
            return perr(t->line, "'between %s and %s': the first date is after the second",
                        n->from, n->to);
        if (n->common >= 0 && !date_field(n->common))
            return perr(t->line, "'between' needs a date field; %s is not one", n->field);
        return 0;
    }
    return perr(t->line, "after %s: =, in, starts with, is empty, is not empty, within or "
                "between, not %s", n->field, tok_text(t));
}

/* FIELD PREDICATE with the field name given. */
static int
pred_of(struct parser *p, const char *field, int line, struct nv_seg_node **out)
{
    struct nv_seg_node *n = node_new(NV_SEG_PRED, line);
    int r;

    *out = n;
    if (!valid_field_name(field))
        return perr(line, "'%.80s' is not a field name (a common field or an extension "
                    "field: a-z, 0-9, _)", field);
    if ((n->field = strdup(field)) == NULL)
        abort();
    n->common = nv_field_lookup(field);
    if ((r = predicate(p, n)) < 0)
        return r;
    return 0;
}

static int expr(struct parser *p, struct nv_seg_node **out);

/* and / or chains over sub (factor, then term) */
static int
chain(struct parser *p, struct nv_seg_node **out, int (*sub)(struct parser *, struct nv_seg_node **),
      const char *op, int kind)
{
    int r;

    if ((r = sub(p, out)) < 0)
        return r;
    while (is_word(p, op)) {
        struct nv_seg_node *n = node_new(kind, peek(p)->line);
        p->i++;
        n->a = *out;
        *out = n;
        if ((r = sub(p, &n->b)) < 0)
            return r;
    }
    return 0;
}

static int
add_leaf(struct parser *p, struct nv_seg_node *n)
{
    if (p->seg->nleaves == NV_SEGMENT_MAX_LEAVES)
        return perr(n->line, "more than %d conditions on entities", NV_SEGMENT_MAX_LEAVES);
    n->leaf = (int)p->seg->nleaves;
    p->seg->leaves[p->seg->nleaves++] = n;
    return 0;
}

/* ENTITY has ... (after "has") */
static int
has_cond(struct parser *p, struct nv_seg_node *n)
{
    int r;

    n->min = 1;
    if (is_word(p, "a") || is_word(p, "one"))
        p->i++;
    if (is_word(p, "at")) {
        uint64_t num;
        p->i++;
        if ((r = expect_word(p, "least", "'at least N records'")) < 0)
            return r;
        if (peek(p)->type != T_WORD || nv_parse_u64(peek(p)->s, &num) < 0 || num == 0 ||
            num > 1000000)
            return perr(peek(p)->line, "'at least' takes a number (1 to 1000000), not %s",
                        tok_text(peek(p)));
        n->min = (unsigned)num;
        p->i++;
    }
    if (!is_word(p, "record") && !is_word(p, "records"))
        return perr(peek(p)->line, "'has a record' or 'has at least N records', not %s",
                    tok_text(peek(p)));
    p->i++;
    if (is_word(p, "where")) {
        p->i++;
        if (peek(p)->type != T_LP)
            return perr(peek(p)->line, "'where' takes a condition in parentheses");
        p->i++;
        p->inner = 1;
        r = expr(p, &n->where);
        p->inner = 0;
        if (r < 0)
            return r;
        if (peek(p)->type != T_RP)
            return perr(peek(p)->line, "')' expected, not %s", tok_text(peek(p)));
        p->i++;
    }
    return 0;
}

static int
set_entity(struct nv_seg_node *n, const char *e, size_t len, int line)
{
    char buf[NV_NAME_MAX + 1];

    if (len == 1 && e[0] == '*')
        return 0;
    if (len > NV_NAME_MAX)
        return perr(line, "an entity name is at most %d characters", NV_NAME_MAX);
    memcpy(buf, e, len);
    buf[len] = '\0';
    if (!nv_name_valid(buf))
        return perr(line, "'%s' is not an entity name (a-z, 0-9, '.', '_', '-'), or '*'",
                    buf);
    if ((n->entity = strdup(buf)) == NULL)
        abort();
    return 0;
}

/* A person condition: ENTITY has ..., ENTITY.FIELD PREDICATE */
static int
cond(struct parser *p, struct nv_seg_node **out)
{
    struct tok *t = peek(p);
    struct nv_seg_node *n = node_new(NV_SEG_HAS, t->line);
    const char *dot;
    int r;

    *out = n;
    p->i++;
    if (is_word(p, "has")) {
        p->i++;
        if ((r = set_entity(n, t->s, strlen(t->s), t->line)) < 0 || (r = has_cond(p, n)) < 0)
            return r;
        return add_leaf(p, n);
    }
    if ((dot = strrchr(t->s, '.')) == NULL)
        return perr(t->line, "'%.80s': a condition is ENTITY.FIELD PREDICATE or ENTITY has "
                    "...", t->s);
    n->min = 1;
    if ((r = set_entity(n, t->s, (size_t)(dot - t->s), t->line)) < 0 ||
        (r = pred_of(p, dot + 1, t->line, &n->where)) < 0)
        return r;
    return add_leaf(p, n);
}

static int
factor(struct parser *p, struct nv_seg_node **out)
{
    struct tok *t = peek(p);
    int r;

    *out = NULL;
    if (++p->depth > NV_SEGMENT_MAX_DEPTH)
        return perr(t->line, "nested more than %d deep", NV_SEGMENT_MAX_DEPTH);
    if (is_word(p, "not")) {
        p->i++;
        *out = node_new(NV_SEG_NOT, t->line);
        r = factor(p, &(*out)->a);
    } else if (t->type == T_LP) {
        p->i++;
        if ((r = expr(p, out)) == 0) {
            if (peek(p)->type != T_RP)
                r = perr(peek(p)->line, "')' expected, not %s", tok_text(peek(p)));
            else
                p->i++;
        }
    } else if (t->type == T_WORD && p->inner) {
        p->i++;
        r = pred_of(p, t->s, t->line, out);
    } else if (t->type == T_WORD) {
        r = cond(p, out);
    } else if (p->inner) {
        r = perr(t->line, "a field, 'not' or '(', not %s", tok_text(t));
    } else {
        r = perr(t->line, "a condition (ENTITY.FIELD ..., ENTITY has ..., not, '('), not %s",
                 tok_text(t));
    }
    p->depth--;
    return r;
}

static int
term(struct parser *p, struct nv_seg_node **out)
{
    return chain(p, out, factor, "and", NV_SEG_AND);
}

static int
expr(struct parser *p, struct nv_seg_node **out)
{
    return chain(p, out, term, "or", NV_SEG_OR);
}

int
nv_segment_parse(const char *text, size_t len, struct nv_segment *out)
{
    struct parser p;
    char *s, *nl;
    int r, line = 1;

    memset(out, 0, sizeof(*out));
    memset(&p, 0, sizeof(p));
    if (len > NV_SEGMENT_MAX_TEXT)
        return nv_fail(NV_ETOOBIG, "segment: over %u bytes", NV_SEGMENT_MAX_TEXT);
    if (memchr(text, '\0', len) != NULL)
        return nv_fail(NV_EFORMAT, "segment: holds a NUL byte (not a text file)");
    if ((p.copy = malloc(len + 1)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    memcpy(p.copy, text, len);
    p.copy[len] = '\0';
    s = p.copy;
    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        s += 3;
    /* the header: the first line that is not blank or a comment */
    for (;;) {
        char *e;
        nl = strchr(s, '\n');
        if (nl != NULL)
            *nl = '\0';
        if ((e = strchr(s, '#')) != NULL)
            *e = '\0';
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            *--e = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s != '\0')
            break;
        if (nl == NULL) {
            r = perr(0, "empty (it must start with 'nova-segment 1')");
            goto out;
        }
        s = nl + 1;
        line++;
    }
    if (strncmp(s, "nova-segment", 12) != 0 || (s[12] != ' ' && s[12] != '\t')) {
        r = perr(line, "the file must start with 'nova-segment 1'");
        goto out;
    }
    s += 12;
    while (*s == ' ' || *s == '\t')
        s++;
    if (strcmp(s, "1") != 0) {
        r = perr(line, "format version '%.20s' is not supported (this nova reads version 1)",
                 s);
        goto out;
    }
    if (nl == NULL) {
        r = perr(line, "no condition after the header");
        goto out;
    }
    p.seg = out;
    if ((r = tokenize(&p, nl + 1, line + 1)) < 0)
        goto out;
    if (p.t[0].type == T_END) {
        r = perr(p.t[0].line, "no condition after the header");
        goto out;
    }
    if ((r = expr(&p, &out->root)) < 0)
        goto out;
    if (peek(&p)->type != T_END)
        r = perr(peek(&p)->line, "'and', 'or' or the end of the file expected, not %s%s%s",
                 peek(&p)->type == T_WORD ? "'" : "", tok_text(peek(&p)),
                 peek(&p)->type == T_WORD ? "'" : "");
out:
    free(p.t);
    free(p.copy);
    if (r < 0)
        nv_segment_release(out);
    return r;
}

/* ---- check against the mappings ---- */

static int
check_pred(const struct nv_seg_node *n, const char *entity, int line,
           int (*type)(void *, const char *, const char *), void *ctx)
{
    int t, r;

    if (n == NULL)
        return 0;
    if (n->kind != NV_SEG_PRED) {
        if ((r = check_pred(n->a, entity, line, type, ctx)) < 0)
            return r;
        return check_pred(n->b, entity, line, type, ctx);
    }
    t = type(ctx, entity, n->field);
    if (t == -2)
        return perr(line, "entity '%s' has no mapping", entity ? entity : "*");
    if (t == -1) {
        if (entity != NULL)
            return perr(n->line, "%s's mapping has no field '%s'", entity, n->field);
        return perr(n->line, "no entity's mapping has a field '%s'", n->field);
    }
    if ((n->op == NV_SEG_WITHIN_DAYS || n->op == NV_SEG_WITHIN_MONTHS ||
         n->op == NV_SEG_BETWEEN) && t != NV_EXT_DATE)
        return perr(n->line, "%s%s%s is not a date field (declare it in the mapping: ext %s "
                    "COLUMN date)", entity ? entity : "", entity ? "." : "", n->field,
                    n->field);
    return 0;
}

static int
check_node(const struct nv_seg_node *n, int (*type)(void *, const char *, const char *),
           void *ctx)
{
    int r;

    if (n == NULL)
        return 0;
    if (n->kind == NV_SEG_HAS) {
        if (n->entity != NULL && type(ctx, n->entity, NULL) == -2)
            return perr(n->line, "entity '%s' has no mapping", n->entity);
        return check_pred(n->where, n->entity, n->line, type, ctx);
    }
    if ((r = check_node(n->a, type, ctx)) < 0)
        return r;
    return check_node(n->b, type, ctx);
}

int
nv_segment_check(const struct nv_segment *s, int (*type)(void *, const char *, const char *),
                 void *ctx)
{
    return check_node(s->root, type, ctx);
}

/* ---- dates ---- */

static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static void
fmt_date(int y, int m, int d, char out[11])
{
    if (y < 0)
        y = 0, m = 1, d = 1;
    if (y > 9999)
        y = 9999;
    snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

static void
bind_node(struct nv_seg_node *n, int64_t today)
{
    int y, m, d;

    if (n == NULL)
        return;
    bind_node(n->a, today);
    bind_node(n->b, today);
    bind_node(n->where, today);
    if (n->kind != NV_SEG_PRED)
        return;
    civil_from_days(today, &y, &m, &d);
    if (n->op == NV_SEG_WITHIN_DAYS) {
        fmt_date(y, m, d, n->to);
        civil_from_days(today - (int64_t)n->n, &y, &m, &d);
        fmt_date(y, m, d, n->from);
    } else if (n->op == NV_SEG_WITHIN_MONTHS) {
        static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        int64_t mm = (int64_t)y * 12 + (m - 1) - (int64_t)n->n;
        int ny, nm, dim;
        fmt_date(y, m, d, n->to);
        ny = (int)(mm >= 0 ? mm / 12 : 0);
        nm = (int)(mm >= 0 ? mm % 12 : 0) + 1;
        dim = mdays[nm - 1] + (nm == 2 && ((ny % 4 == 0 && ny % 100 != 0) || ny % 400 == 0));
        fmt_date(ny, nm, d > dim ? dim : d, n->from);
    }
}

void
nv_segment_bind(struct nv_segment *s, int64_t now)
{
    int64_t days = now >= 0 ? now / 86400 : -((-now + 86399) / 86400);

    bind_node(s->root, days);
}

/* ---- evaluation ---- */

/* The values of field in record rec (arrays for multi-valued fields). */
static json_t *
field_value(const struct nv_seg_node *n, json_t *rec)
{
    return json_object_get(json_object_get(rec, n->common >= 0 ? "c" : "x"), n->field);
}

/* One value v (a JSON string or consent's integer) against predicate n. */
static int
value_matches(const struct nv_seg_node *n, json_t *v, struct nv_buf *sb)
{
    const char *s;
    size_t len;
    char num[4];

    if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%d", json_integer_value(v) ? 1 : 0);
        s = num;
        len = 1;
    } else if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);
    } else {
        return 0;
    }
    switch (n->op) {
    case NV_SEG_EQ:
    case NV_SEG_PREFIX: {
        const char *c = s;
        size_t cl = len;
        if (folded_field(n->common)) {
            nv_buf_reset(sb);
            if (nv_segment_canon(s, len, sb) < 0 || sb->len == 0)
                return 0;
            c = (const char *)sb->data;
            cl = sb->len - 1;
        } else if (n->op == NV_SEG_PREFIX) {
            /* lower case, no blanks (as the literal) */
            nv_buf_reset(sb);
            for (size_t i = 0; i < len; i++) {
                char ch = s[i];
                if (ch == ' ' || ch == '\t')
                    continue;
                if (ch >= 'A' && ch <= 'Z')
                    ch = (char)(ch - 'A' + 'a');
                if (nv_buf_add(sb, &ch, 1) < 0)
                    return 0;
            }
            c = sb->data ? (const char *)sb->data : "";
            cl = sb->len;
        }
        for (size_t i = 0; i < n->nvals; i++) {
            size_t vl = strlen(n->vals[i]);
            if (n->op == NV_SEG_EQ ? vl == cl && memcmp(c, n->vals[i], vl) == 0
                                   : vl <= cl && memcmp(c, n->vals[i], vl) == 0)
                return 1;
        }
        return 0;
    }
    case NV_SEG_WITHIN_DAYS:
    case NV_SEG_WITHIN_MONTHS:
    case NV_SEG_BETWEEN: {
        char d[11];
        if (len >= 10 && s[4] == '-' && s[7] == '-') {
            memcpy(d, s, 10);
        } else {
            nv_buf_reset(sb);
            if (nv_norm_timestamp(s, len, sb) < 0 || sb->len < 10) {
                nv_error_clear();
                return 0;
            }
            memcpy(d, sb->data, 10);
        }
        d[10] = '\0';
        return strcmp(d, n->from) >= 0 && strcmp(d, n->to) <= 0;
    }
    default:
        return 0;
    }
}

static int
pred_matches(const struct nv_seg_node *n, json_t *rec, struct nv_buf *sb)
{
    json_t *v;

    switch (n->kind) {
    case NV_SEG_AND: return pred_matches(n->a, rec, sb) && pred_matches(n->b, rec, sb);
    case NV_SEG_OR: return pred_matches(n->a, rec, sb) || pred_matches(n->b, rec, sb);
    case NV_SEG_NOT: return !pred_matches(n->a, rec, sb);
    case NV_SEG_PRED: break;
    default: return 0;
    }
    v = field_value(n, rec);
    if (json_is_array(v) && json_array_size(v) == 0)
        v = NULL;
    if (json_is_string(v) && json_string_length(v) == 0)
        v = NULL;
    if (n->op == NV_SEG_EMPTY)
        return v == NULL;
    if (n->op == NV_SEG_NOTEMPTY)
        return v != NULL;
    if (v == NULL)
        return 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            if (value_matches(n, e, sb))
                return 1;
        return 0;
    }
    return value_matches(n, v, sb);
}

int
nv_segment_record_matches(const struct nv_seg_node *leaf, const char *entity, json_t *rec,
                          struct nv_buf *scratch)
{
    if (leaf->entity != NULL && strcmp(leaf->entity, entity) != 0)
        return 0;
    return leaf->where == NULL || pred_matches(leaf->where, rec, scratch);
}

static int
person(const struct nv_seg_node *n, const uint32_t *counts)
{
    switch (n->kind) {
    case NV_SEG_AND: return person(n->a, counts) && person(n->b, counts);
    case NV_SEG_OR: return person(n->a, counts) || person(n->b, counts);
    case NV_SEG_NOT: return !person(n->a, counts);
    case NV_SEG_HAS: return counts[n->leaf] >= n->min;
    default: return 0;
    }
}

int
nv_segment_person(const struct nv_segment *s, const uint32_t *counts)
{
    return s->root != NULL && person(s->root, counts);
}
