#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/buf.h"
#include "../../formats/errors.h"
#include "../../formats/util.h"
#include "mapping.h"
#include "normalize.h"

/* ---- tokenizer ---- */

#define MAX_TOKENS 256

struct line_toks {
    char *tok[MAX_TOKENS];
    size_t n;
};

/* Split one line (NUL-terminated, modified in place) into tokens. */
static int
tokenize(char *s, int lineno, struct line_toks *t)
{
    t->n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            return 0;
        if (t->n == MAX_TOKENS)
            return nv_fail(NV_EFORMAT, "mapping line %d: more than %d words",
                           lineno, MAX_TOKENS);
        if (*s == '"') {
            char *w = ++s, *start = s;
            for (;;) {
                if (*s == '\0')
                    return nv_fail(NV_EFORMAT, "mapping line %d: unterminated quote",
                                   lineno);
                if (*s == '"') {
                    if (s[1] == '"') {
                        *w++ = '"';
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                *w++ = *s++;
            }
            if (*s != '\0' && *s != ' ' && *s != '\t')
                return nv_fail(NV_EFORMAT, "mapping line %d: a quoted name must be "
                               "followed by a blank", lineno);
            if (*s != '\0')
                s++;
            *w = '\0';
            if (w == start)
                return nv_fail(NV_EFORMAT, "mapping line %d: empty column name", lineno);
            t->tok[t->n++] = start;
        } else {
            t->tok[t->n++] = s;
            while (*s != '\0' && *s != ' ' && *s != '\t') {
                if (*s == '"')
                    return nv_fail(NV_EFORMAT, "mapping line %d: a quote inside a "
                                   "name (quote the whole name)", lineno);
                s++;
            }
            if (*s != '\0')
                *s++ = '\0';
        }
    }
}

/* ---- parse ---- */

static int
valid_ext_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int
col_cmp(const void *a, const void *b)
{
    return strcmp(((const struct nv_map_column *)a)->name,
                  ((const struct nv_map_column *)b)->name);
}

int
nv_mapping_find(const struct nv_mapping *m, const char *name)
{
    size_t lo = 0, hi = m->ncols;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, m->cols[mid].name);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* Linear lookup while parsing (cols not yet sorted). */
static struct nv_map_column *
find_linear(struct nv_mapping *m, const char *name)
{
    for (size_t i = 0; i < m->ncols; i++)
        if (strcmp(m->cols[i].name, name) == 0)
            return &m->cols[i];
    return NULL;
}

static char *
xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static int
valid_column_name(const char *s, int lineno)
{
    size_t n = strlen(s);

    if (n > 256)
        return nv_fail(NV_EFORMAT, "mapping line %d: a column name is over 256 bytes",
                       lineno);
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return nv_fail(NV_EFORMAT, "mapping line %d: control character in a "
                           "column name", lineno);
    return 0;
}

/* Declare column name with a role; a key column may be mapped once too. */
static int
add_column(struct nv_mapping *m, const char *name, int role, int field,
           const char *ext, int lineno)
{
    struct nv_map_column *c;
    int r;

    if ((r = valid_column_name(name, lineno)) < 0)
        return r;
    c = find_linear(m, name);
    if (c != NULL) {
        if (role == NV_ROLE_KEY) {
            if (c->is_key)
                return nv_fail(NV_EFORMAT, "mapping line %d: key column '%s' listed "
                               "twice", lineno, name);
            c->is_key = 1;
            return (int)(c - m->cols);
        }
        if (c->role == NV_ROLE_KEY) {
            c->role = role;
            c->field = field;
            c->ext = ext ? xstrdup(ext) : NULL;
            c->line = lineno;
            return (int)(c - m->cols);
        }
        return nv_fail(NV_EFORMAT, "mapping line %d: column '%s' is already used on "
                       "line %d", lineno, name, c->line);
    }
    if (m->ncols == NV_MAP_MAX_COLUMNS)
        return nv_fail(NV_EFORMAT, "mapping line %d: more than %d columns", lineno,
                       NV_MAP_MAX_COLUMNS);
    c = realloc(m->cols, (m->ncols + 1) * sizeof(*c));
    if (c == NULL)
        abort();
    m->cols = c;
    c = &m->cols[m->ncols];
    memset(c, 0, sizeof(*c));
    c->name = xstrdup(name);
    c->role = role;
    c->field = field;
    c->ext = ext ? xstrdup(ext) : NULL;
    c->line = lineno;
    c->is_key = role == NV_ROLE_KEY;
    return (int)m->ncols++;
}

void
nv_mapping_release(struct nv_mapping *m)
{
    for (size_t i = 0; i < m->ncols; i++) {
        free(m->cols[i].name);
        free(m->cols[i].ext);
    }
    free(m->cols);
    for (size_t i = 0; i < m->nkey; i++)
        free(m->key[i]);
    free(m->key);
    for (int f = 0; f < NV_F_COUNT; f++)
        free(m->fcols[f]);
    memset(m, 0, sizeof(*m));
}

/* Field columns are kept by name while parsing (indexes move when sorted). */
struct pending {
    char **names[NV_F_COUNT];
    size_t n[NV_F_COUNT];
    int line[NV_F_COUNT];
    char *inverse[NV_F_COUNT];
    int inverse_line[NV_F_COUNT];
};

static void
pending_free(struct pending *p)
{
    for (int f = 0; f < NV_F_COUNT; f++) {
        for (size_t i = 0; i < p->n[f]; i++)
            free(p->names[f][i]);
        free(p->names[f]);
        free(p->inverse[f]);
    }
}

/* entity NAME: the entity the mapping is for (entity: the one expected, or
 * NULL). */
static int
dir_entity(struct nv_mapping *m, struct line_toks *t, int ln, const char *entity,
           int *have_entity)
{
    if (t->n != 2)
        return nv_fail(NV_EFORMAT, "mapping line %d: 'entity' takes one name", ln);
    if (*have_entity)
        return nv_fail(NV_EFORMAT, "mapping line %d: a second 'entity' line", ln);
    if (!nv_name_valid(t->tok[1]))
        return nv_fail(NV_EFORMAT, "mapping line %d: '%s' is not a valid entity "
                       "name", ln, t->tok[1]);
    if (entity != NULL && strcmp(entity, t->tok[1]) != 0)
        return nv_fail(NV_EFORMAT, "mapping line %d: this mapping is for entity "
                       "'%s', not '%s'", ln, t->tok[1], entity);
    snprintf(m->entity, sizeof(m->entity), "%s", t->tok[1]);
    *have_entity = 1;
    return 0;
}

/* key COLUMN...: the columns that make the record key, all on one line. */
static int
dir_key(struct nv_mapping *m, struct line_toks *t, int ln)
{
    int r;

    if (t->n < 2)
        return nv_fail(NV_EFORMAT, "mapping line %d: 'key' needs a column", ln);
    if (m->nkey > 0)
        return nv_fail(NV_EFORMAT, "mapping line %d: a second 'key' line (list "
                       "every key column on one line)", ln);
    m->key = calloc(t->n - 1, sizeof(char *));
    if (m->key == NULL)
        abort();
    for (size_t i = 1; i < t->n; i++) {
        if ((r = add_column(m, t->tok[i], NV_ROLE_KEY, -1, NULL, ln)) < 0)
            return r;
        m->key[m->nkey++] = xstrdup(t->tok[i]);
    }
    m->key_line = ln;
    return 0;
}

/* field FIELD COLUMN...: the columns of one common field (several only for
 * a multi-valued field or the address). */
static int
dir_field(struct nv_mapping *m, struct pending *p, struct line_toks *t, int ln)
{
    int f, r;

    if (t->n < 3)
        return nv_fail(NV_EFORMAT, "mapping line %d: 'field' needs a field and a "
                       "column", ln);
    if ((f = nv_field_lookup(t->tok[1])) < 0)
        return nv_fail(NV_EFORMAT, "mapping line %d: unknown field '%s' (fields: "
                       "first_name last_name birth_name title email phone "
                       "address postcode city country birth_date consent "
                       "person_id created_at updated_at)", ln, t->tok[1]);
    if (p->n[f] > 0)
        return nv_fail(NV_EFORMAT, "mapping line %d: field '%s' is already mapped "
                       "on line %d", ln, t->tok[1], p->line[f]);
    if (t->n > 3 && !nv_fields[f].multi && f != NV_F_ADDRESS)
        return nv_fail(NV_EFORMAT, "mapping line %d: field '%s' takes one column",
                       ln, t->tok[1]);
    p->names[f] = calloc(t->n - 2, sizeof(char *));
    if (p->names[f] == NULL)
        abort();
    for (size_t i = 2; i < t->n; i++) {
        if ((r = add_column(m, t->tok[i], NV_ROLE_FIELD, f, NULL, ln)) < 0)
            return r;
        p->names[f][p->n[f]++] = xstrdup(t->tok[i]);
    }
    p->line[f] = ln;
    return 0;
}

const char *const nv_ext_type_names[4] = { "text", "date", "number", "yesno" };

int
nv_ext_type_lookup(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, nv_ext_type_names[i]) == 0)
            return i;
    if (strcmp(name, "yes/no") == 0)
        return NV_EXT_YESNO;
    return -1;
}

int
nv_mapping_ext_type(const struct nv_mapping *m, const char *name)
{
    for (size_t i = 0; i < m->ncols; i++)
        if (m->cols[i].role == NV_ROLE_EXT && strcmp(m->cols[i].ext, name) == 0)
            return m->cols[i].ext_type;
    return -1;
}

/* ext NAME COLUMN [TYPE]: a column kept as the extension field NAME. */
static int
dir_ext(struct nv_mapping *m, struct line_toks *t, int ln)
{
    int r, type = NV_EXT_TEXT;

    if (t->n != 3 && t->n != 4)
        return nv_fail(NV_EFORMAT, "mapping line %d: 'ext' takes a name, one "
                       "column and an optional type (text, date, number, yesno)", ln);
    if (t->n == 4 && (type = nv_ext_type_lookup(t->tok[3])) < 0)
        return nv_fail(NV_EFORMAT, "mapping line %d: unknown extension type '%s' "
                       "(text, date, number, yesno)", ln, t->tok[3]);
    if (!valid_ext_name(t->tok[1]))
        return nv_fail(NV_EFORMAT, "mapping line %d: extension name '%s' must be "
                       "1 to 64 of a-z, 0-9 and _", ln, t->tok[1]);
    for (size_t i = 0; i < m->ncols; i++)
        if (m->cols[i].ext != NULL && strcmp(m->cols[i].ext, t->tok[1]) == 0)
            return nv_fail(NV_EFORMAT, "mapping line %d: extension '%s' is already "
                           "defined on line %d", ln, t->tok[1], m->cols[i].line);
    r = add_column(m, t->tok[2], NV_ROLE_EXT, -1, t->tok[1], ln);
    if (r < 0)
        return r;
    m->cols[r].ext_type = type;
    return 0;
}

/* ignore COLUMN...: columns left out. */
static int
dir_ignore(struct nv_mapping *m, struct line_toks *t, int ln)
{
    int r;

    if (t->n < 2)
        return nv_fail(NV_EFORMAT, "mapping line %d: 'ignore' needs a column", ln);
    for (size_t i = 1; i < t->n; i++)
        if ((r = add_column(m, t->tok[i], NV_ROLE_IGNORE, -1, NULL, ln)) < 0)
            return r;
    return 0;
}

/* inverse FIELD COLUMN: the column updates of FIELD go back to. */
static int
dir_inverse(struct pending *p, struct line_toks *t, int ln)
{
    int f;

    if (t->n != 3)
        return nv_fail(NV_EFORMAT, "mapping line %d: 'inverse' takes a field and "
                       "one column", ln);
    if ((f = nv_field_lookup(t->tok[1])) < 0)
        return nv_fail(NV_EFORMAT, "mapping line %d: unknown field '%s'", ln,
                       t->tok[1]);
    if (p->inverse[f] != NULL)
        return nv_fail(NV_EFORMAT, "mapping line %d: field '%s' has a second "
                       "inverse", ln, t->tok[1]);
    p->inverse[f] = xstrdup(t->tok[2]);
    p->inverse_line[f] = ln;
    return 0;
}

/* match FIELD...: optional matching criteria turned on. */
static int
dir_match(struct nv_mapping *m, struct line_toks *t, int ln)
{
    int f;

    if (t->n < 2)
        return nv_fail(NV_EFORMAT, "mapping line %d: 'match' needs a field", ln);
    for (size_t i = 1; i < t->n; i++) {
        f = nv_field_lookup(t->tok[i]);
        if (f != NV_F_BIRTH_DATE && f != NV_F_PERSON_ID && f != NV_F_ADDRESS &&
            f != NV_F_CITY)
            return nv_fail(NV_EFORMAT, "mapping line %d: '%s' cannot be added as a "
                           "matching criterion (birth_date, person_id, address, "
                           "city)", ln, t->tok[i]);
        m->match[f] = 1;
    }
    return 0;
}

/* country CODE: the country of numbers and postcodes without one. */
static int
dir_country(struct nv_mapping *m, struct line_toks *t, int ln)
{
    struct nv_buf b = NV_BUF_INIT;
    int r;

    if (t->n != 2)
        return nv_fail(NV_EFORMAT, "mapping line %d: 'country' takes one code", ln);
    r = nv_norm_country(t->tok[1], strlen(t->tok[1]), &b);
    if (r < 0 || b.len != 2) {
        nv_buf_release(&b);
        return nv_fail(NV_EFORMAT, "mapping line %d: unknown country '%s'", ln,
                       t->tok[1]);
    }
    memcpy(m->country, b.data, 3);
    nv_buf_release(&b);
    return 0;
}

/* One directive line t (line ln) of a mapping, into m and p. */
static int
directive(struct nv_mapping *m, struct pending *p, struct line_toks *t, int ln,
          const char *entity, int *have_entity)
{
    const char *d = t->tok[0];

    if (strcmp(d, "entity") == 0)
        return dir_entity(m, t, ln, entity, have_entity);
    if (strcmp(d, "key") == 0)
        return dir_key(m, t, ln);
    if (strcmp(d, "field") == 0)
        return dir_field(m, p, t, ln);
    if (strcmp(d, "ext") == 0)
        return dir_ext(m, t, ln);
    if (strcmp(d, "ignore") == 0)
        return dir_ignore(m, t, ln);
    if (strcmp(d, "inverse") == 0)
        return dir_inverse(p, t, ln);
    if (strcmp(d, "match") == 0)
        return dir_match(m, t, ln);
    if (strcmp(d, "country") == 0)
        return dir_country(m, t, ln);
    if (strcmp(d, "nova-mapping") == 0)
        return nv_fail(NV_EFORMAT, "mapping line %d: a second 'nova-mapping' line", ln);
    return nv_fail(NV_EFORMAT, "mapping line %d: unknown directive '%s' (entity key "
                   "field ext ignore inverse match country)", ln, d);
}

static int
finish(struct nv_mapping *m, struct pending *p, int have_entity)
{
    if (!have_entity)
        return nv_fail(NV_EFORMAT, "mapping: no 'entity' line");
    if (m->nkey == 0)
        return nv_fail(NV_EFORMAT, "mapping: no 'key' line (the column or columns "
                       "that identify a record)");
    for (int f = 0; f < NV_F_COUNT; f++) {
        if (m->match[f] && p->n[f] == 0)
            return nv_fail(NV_EFORMAT, "mapping: 'match %s' but field %s is not mapped",
                           nv_fields[f].name, nv_fields[f].name);
        if (p->inverse[f] != NULL) {
            size_t i;
            for (i = 0; i < p->n[f]; i++)
                if (strcmp(p->names[f][i], p->inverse[f]) == 0)
                    break;
            if (i == p->n[f])
                return nv_fail(NV_EFORMAT, "mapping line %d: the inverse of %s must be "
                               "one of its columns", p->inverse_line[f],
                               nv_fields[f].name);
        }
    }
    qsort(m->cols, m->ncols, sizeof(m->cols[0]), col_cmp);
    for (int f = 0; f < NV_F_COUNT; f++) {
        m->inverse[f] = p->inverse[f] ? nv_mapping_find(m, p->inverse[f]) : -1;
        if (p->n[f] == 0)
            continue;
        m->fcols[f] = calloc(p->n[f], sizeof(size_t));
        if (m->fcols[f] == NULL)
            abort();
        for (size_t i = 0; i < p->n[f]; i++)
            m->fcols[f][i] = (size_t)nv_mapping_find(m, p->names[f][i]);
        m->nfcols[f] = p->n[f];
    }
    if (m->country[0] == '\0')
        memcpy(m->country, "FR", 3);
    return 0;
}

int
nv_mapping_parse(const char *text, size_t len, const char *entity,
                 struct nv_mapping *out)
{
    struct pending p;
    struct line_toks t;
    char *copy, *line, *next;
    int ln = 0, r = 0, have_header = 0, have_entity = 0;

    memset(out, 0, sizeof(*out));
    memset(&p, 0, sizeof(p));
    for (int f = 0; f < NV_F_COUNT; f++)
        out->inverse[f] = -1;
    if (len > NV_MAP_MAX_TEXT)
        return nv_fail(NV_ETOOBIG, "mapping: over %u bytes", NV_MAP_MAX_TEXT);
    if (memchr(text, '\0', len) != NULL)
        return nv_fail(NV_EFORMAT, "mapping: holds a NUL byte (not a text file)");
    if ((copy = malloc(len + 1)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (len >= 3 && memcmp(copy, "\xef\xbb\xbf", 3) == 0)
        memset(copy, ' ', 3); /* a BOM from an editor */
    for (line = copy; line != NULL && r == 0; line = next) {
        size_t n;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        ln++;
        n = strlen(line);
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if ((r = tokenize(line, ln, &t)) < 0 || t.n == 0)
            continue;
        if (!have_header) {
            if (t.n != 2 || strcmp(t.tok[0], "nova-mapping") != 0)
                r = nv_fail(NV_EFORMAT, "mapping line %d: the file must start with "
                            "'nova-mapping 1'", ln);
            else if (strcmp(t.tok[1], "1") != 0)
                r = nv_fail(NV_EFORMAT, "mapping line %d: format version %s is not "
                            "supported (this nova reads version 1)", ln, t.tok[1]);
            have_header = 1;
            continue;
        }
        r = directive(out, &p, &t, ln, entity, &have_entity);
    }
    if (r == 0 && !have_header)
        r = nv_fail(NV_EFORMAT, "mapping: empty (it must start with 'nova-mapping 1')");
    if (r == 0)
        r = finish(out, &p, have_entity);
    pending_free(&p);
    free(copy);
    if (r < 0)
        nv_mapping_release(out);
    return r;
}

int
nv_mapping_check_columns(const struct nv_mapping *m, const char *const *names, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < m->ncols; i++) {
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(names[j], m->cols[i].name) == 0)
                break;
        if (j == n) {
            int line = m->cols[i].is_key && m->cols[i].role == NV_ROLE_KEY
                           ? m->key_line : m->cols[i].line;
            return nv_fail(NV_EFORMAT, "mapping line %d: column '%s' is not in %s's "
                           "exports", line, m->cols[i].name, m->entity);
        }
    }
    return 0;
}

/* ---- apply ---- */

int
nv_norm_timestamp(const char *in, size_t len, struct nv_buf *out)
{
    size_t b = 0, e = len, i, dlen;
    size_t save = out->len;
    int hh, mi, ss = 0, r;
    const char *t;

    while (b < e && (in[b] == ' ' || in[b] == '\t'))
        b++;
    while (e > b && (in[e - 1] == ' ' || in[e - 1] == '\t'))
        e--;
    if (b == e)
        return 0;
    for (i = b; i < e && in[i] != 'T' && in[i] != ' '; i++)
        ;
    dlen = i - b;
    if ((r = nv_norm_date(in + b, dlen, out)) < 0)
        return r;
    if (i == e)
        return 0;
    t = in + i + 1;
    len = e - i - 1;
#define D2(p) (((p)[0] - '0') * 10 + ((p)[1] - '0'))
#define ISD(c) ((c) >= '0' && (c) <= '9')
    if (len < 5 || !ISD(t[0]) || !ISD(t[1]) || t[2] != ':' || !ISD(t[3]) || !ISD(t[4]))
        goto bad;
    hh = D2(t);
    mi = D2(t + 3);
    t += 5;
    len -= 5;
    if (len >= 3 && t[0] == ':' && ISD(t[1]) && ISD(t[2])) {
        ss = D2(t + 1);
        t += 3;
        len -= 3;
        if (len > 0 && (t[0] == '.' || t[0] == ',')) {
            t++, len--;
            if (len == 0 || !ISD(t[0]))
                goto bad;
            while (len > 0 && ISD(t[0]))
                t++, len--;
        }
    }
    if (hh > 23 || mi > 59 || ss > 60)
        goto bad;
    if (nv_buf_addf(out, "T%02d:%02d:%02d", hh, mi, ss) < 0)
        goto nomem;
    if (len == 1 && t[0] == 'Z') {
        if (nv_buf_adds(out, "Z") < 0)
            goto nomem;
    } else if ((len == 6 && (t[0] == '+' || t[0] == '-') && ISD(t[1]) && ISD(t[2]) &&
                t[3] == ':' && ISD(t[4]) && ISD(t[5])) ||
               (len == 5 && (t[0] == '+' || t[0] == '-') && ISD(t[1]) && ISD(t[2]) &&
                ISD(t[3]) && ISD(t[4]))) {
        const char *mm = len == 6 ? t + 4 : t + 3;
        if (D2(t + 1) > 14 || D2(mm) > 59)
            goto bad;
        if (nv_buf_addf(out, "%c%c%c:%c%c", t[0], t[1], t[2], mm[0], mm[1]) < 0)
            goto nomem;
    } else if (len != 0) {
        goto bad;
    }
#undef D2
#undef ISD
    return 0;
bad:
    out->len = save;
    if (out->data != NULL)
        out->data[save] = '\0';
    return nv_fail(NV_EFORMAT, "timestamp: the time is not HH:MM[:SS] with an "
                   "optional zone");
nomem:
    out->len = save;
    if (out->data != NULL)
        out->data[save] = '\0';
    return nv_fail(NV_ENOMEM, "out of memory");
}

/* Characters a decoder leaves when it could not decode: U+FFFD, and C1
 * controls (Windows-1252 read as Latin-1). */
static int
undecodable(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xc2 && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f)
            return 1;
        if (c == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbf &&
            (unsigned char)s[i + 2] == 0xbd)
            return 1;
    }
    return 0;
}

static int
norm_text(const char *in, size_t len, struct nv_buf *out)
{
    size_t save = out->len;
    int space = 0, any = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = any;
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            continue;
        if ((space && nv_buf_add(out, " ", 1) < 0) || nv_buf_add(out, &in[i], 1) < 0) {
            out->len = save;
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        space = 0;
        any = 1;
    }
    return 0;
}

static int
norm_id(const char *in, size_t len, struct nv_buf *out)
{
    size_t save = out->len;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '-' || c == '.' || c == '/' || c == '_')
            continue;
        if (c < 0x21 || c > 0x7e) {
            out->len = save;
            if (out->data != NULL)
                out->data[save] = '\0';
            return nv_fail(NV_EFORMAT, "identifier: only ASCII letters, digits and "
                           "separators are allowed");
        }
        c = (unsigned char)toupper(c);
        if (nv_buf_add(out, &c, 1) < 0) {
            out->len = save;
            return nv_fail(NV_ENOMEM, "out of memory");
        }
    }
    if (out->len - save > 64) {
        out->len = save;
        out->data[save] = '\0';
        return nv_fail(NV_EFORMAT, "identifier: over 64 characters");
    }
    return 0;
}

static int
normalise(int kind, const char *in, size_t len, const char *country,
          struct nv_buf *out)
{
    int v, r;

    switch (kind) {
    case NV_K_NAME: return nv_norm_name(in, len, out);
    case NV_K_TEXT: return norm_text(in, len, out);
    case NV_K_EMAIL: return nv_norm_email(in, len, out);
    case NV_K_PHONE: return nv_norm_phone_in(in, len, country, out);
    case NV_K_POSTCODE: return nv_norm_postcode(in, len, country, out);
    case NV_K_COUNTRY: return nv_norm_country(in, len, out);
    case NV_K_DATE: return nv_norm_date(in, len, out);
    case NV_K_ID: return norm_id(in, len, out);
    case NV_K_TIMESTAMP: return nv_norm_timestamp(in, len, out);
    case NV_K_BOOL:
        if ((r = nv_norm_bool(in, len, &v)) < 0)
            return r;
        if (v >= 0)
            return nv_buf_adds(out, v ? "1" : "0");
        return 0;
    }
    return nv_fail(NV_EINVAL, "unknown field kind");
}

/* A decimal number: an optional sign, digits with optional grouping blanks
 * (space, U+00A0, U+202F), a decimal comma or point; with both, the last
 * one is the decimal separator and the other groups.  "%.15g". */
static int
norm_number(const char *in, size_t len, struct nv_buf *out)
{
    char buf[128];
    size_t n = 0, b = 0, e = len;
    const char *lastsep = NULL;
    char dec = 0;
    int digits = 0;
    double d;
    char *end;

    while (b < e && (in[b] == ' ' || in[b] == '\t'))
        b++;
    while (e > b && (in[e - 1] == ' ' || in[e - 1] == '\t'))
        e--;
    if (b == e)
        return 0;
    for (size_t i = b; i < e; i++)
        if (in[i] == ',' || in[i] == '.')
            lastsep = in + i;
    if (lastsep != NULL)
        dec = *lastsep;
    for (size_t i = b; i < e; i++) {
        unsigned char c = (unsigned char)in[i];
        if (n + 2 >= sizeof(buf))
            goto bad;
        if (c >= '0' && c <= '9') {
            buf[n++] = (char)c;
            digits++;
        } else if ((c == '-' || c == '+') && n == 0) {
            buf[n++] = (char)c;
        } else if (in + i == lastsep) {
            buf[n++] = '.';
        } else if ((c == ',' || c == '.') && c != (unsigned char)dec && digits > 0) {
            continue; /* grouping */
        } else if (c == ' ' && digits > 0) {
            continue;
        } else if (c == 0xc2 && i + 1 < e && (unsigned char)in[i + 1] == 0xa0 && digits > 0) {
            i++;
        } else if (c == 0xe2 && i + 2 < e && (unsigned char)in[i + 1] == 0x80 &&
                   (unsigned char)in[i + 2] == 0xaf && digits > 0) {
            i += 2;
        } else {
            goto bad;
        }
    }
    buf[n] = '\0';
    if (digits == 0)
        goto bad;
    d = strtod(buf, &end);
    if (*end != '\0' || d != d || d > 1e300 || d < -1e300)
        goto bad;
    if (d == 0)
        d = 0; /* no "-0" */
    return nv_buf_addf(out, "%.15g", d);
bad:
    return nv_fail(NV_EFORMAT, "number: not a decimal number");
}

int
nv_ext_normalise(int t, const char *in, size_t len, struct nv_buf *out)
{
    int v, r;

    switch (t) {
    case NV_EXT_TEXT: return norm_text(in, len, out);
    case NV_EXT_DATE: return nv_norm_timestamp(in, len, out);
    case NV_EXT_NUMBER: return norm_number(in, len, out);
    case NV_EXT_YESNO:
        if ((r = nv_norm_bool(in, len, &v)) < 0)
            return r;
        if (v >= 0)
            return nv_buf_adds(out, v ? "1" : "0");
        return 0;
    }
    return nv_fail(NV_EINVAL, "unknown extension type");
}

int
nv_field_normalise(int f, const char *in, size_t len, const char *country, struct nv_buf *out)
{
    if (f < 0 || f >= NV_F_COUNT)
        return nv_fail(NV_EINVAL, "unknown field");
    if (f == NV_F_ADDRESS)
        return norm_text(in, len, out);
    return normalise(nv_fields[f].kind, in, len, country ? country : "FR", out);
}

static int
blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* Append s (len bytes of valid UTF-8) as a JSON string. */
static int
jstr(struct nv_buf *b, const char *s, size_t len)
{
    size_t start = 0;
    int r;

    if ((r = nv_buf_reserve(b, len + 2)) < 0 || (r = nv_buf_add(b, "\"", 1)) < 0)
        return r;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((r = nv_buf_add(b, s + start, i - start)) < 0)
            return r;
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        if ((r = nv_buf_adds(b, esc)) < 0)
            return r;
        start = i + 1;
    }
    if ((r = nv_buf_add(b, s + start, len - start)) < 0)
        return r;
    return nv_buf_add(b, "\"", 1);
}

/* Append ,"name": (or "name": for the first member). */
static int
jkey(struct nv_buf *b, int *first, const char *name)
{
    int r;

    if (!*first && (r = nv_buf_add(b, ",", 1)) < 0)
        return r;
    *first = 0;
    if ((r = jstr(b, name, strlen(name))) < 0)
        return r;
    return nv_buf_add(b, ":", 1);
}

int
nv_mapping_apply_json(const struct nv_mapping *m, json_t *fields, struct nv_buf *c,
                      struct nv_buf *x, char *reason, size_t n)
{
    size_t nf = json_object_size(fields), i = 0;
    struct nv_rec_str *names, *vals;
    const char *name;
    json_t *v;
    int r;

    if (nf > NV_MAP_MAX_COLUMNS) {
        snprintf(reason, n, "more than %d columns", NV_MAP_MAX_COLUMNS);
        return NV_EFORMAT;
    }
    names = calloc(nf + 1, sizeof(*names));
    vals = calloc(nf + 1, sizeof(*vals));
    if (names == NULL || vals == NULL) {
        free(names);
        free(vals);
        return nv_fail(NV_ENOMEM, "out of memory");
    }
    json_object_foreach(fields, name, v) {
        if (!json_is_string(v)) {
            snprintf(reason, n, "column '%.100s': not a text value", name);
            free(names);
            free(vals);
            return NV_EFORMAT;
        }
        names[i].s = name;
        names[i].n = strlen(name);
        vals[i].s = json_string_value(v);
        vals[i].n = json_string_length(v);
        i++;
    }
    r = nv_mapping_apply(m, names, vals, nf, c, x, NULL, NULL, reason, n);
    free(names);
    free(vals);
    return r;
}

static int
keep_value(struct nv_norm_values *nv, int f, const char *p, size_t len)
{
    int r;

    if (nv == NULL || nv->n[f] >= NV_NORM_VALUES_MAX)
        return 0;
    nv->off[f][nv->n[f]] = nv->arena.len;
    if ((r = nv_buf_add(&nv->arena, p, len)) < 0 || (r = nv_buf_add(&nv->arena, "", 1)) < 0)
        return r;
    nv->n[f]++;
    return 0;
}

const char *
nv_norm_value(const struct nv_norm_values *nv, int f, unsigned i)
{
    if (i >= nv->n[f])
        return NULL;
    return (const char *)nv->arena.data + nv->off[f][i];
}

/* A value that does not parse: with skip, left out and counted (r becomes
 * 0); without, the record's reject reason. */
static int
bad_value(struct nv_map_skipped *skip, int r, const char *col, const char *field,
          char *reason, size_t n)
{
    if (r != NV_EFORMAT)
        return r;
    if (skip == NULL) {
        snprintf(reason, n, "column '%.100s' (%s): %s", col, field, nv_errmsg(r));
        return r;
    }
    if (skip->n < NV_MAP_SKIP_KEEP)
        snprintf(skip->reason[skip->n], sizeof(skip->reason[0]), "column '%.100s' (%s): %s",
                 col, field, nv_errmsg(r));
    skip->n++;
    return 0;
}

/* One record being mapped by nv_mapping_apply: the source values by
 * mapping column, the record's country, the outputs and their first-member
 * flags, and the two scratch buffers every step reuses (no allocation of
 * its own: the steps below are static and inlined). */
struct apply {
    const struct nv_mapping *m;
    const char *vals[NV_MAP_MAX_COLUMNS];
    size_t lens[NV_MAP_MAX_COLUMNS];
    const char *country;
    struct nv_buf *c, *x, nb, ob;
    int cfirst, xfirst;
    struct nv_norm_values *nv;
    struct nv_map_skipped *skip;
    char *reason;
    size_t n;
};

/* Each source field into a->vals and a->lens by mapping column; refuses
 * (a->reason, NV_EFORMAT) a column not in the mapping, a value over its
 * limit or with characters the agent could not decode.  Extension values
 * go to a->x as they come. */
static inline int
apply_columns(struct apply *a, const struct nv_rec_str *names,
              const struct nv_rec_str *values, size_t nfields)
{
    const struct nv_mapping *m = a->m;
    int r;

    for (size_t fi = 0; fi < nfields; fi++) {
        const char *name = names[fi].s;
        int i = nv_mapping_find(m, name);
        size_t len = values[fi].n;
        if (i < 0) {
            snprintf(a->reason, a->n, "column '%.100s' is not in the mapping", name);
            return NV_EFORMAT;
        }
        if (m->cols[i].role == NV_ROLE_FIELD && len > NV_NORM_MAX_BYTES) {
            snprintf(a->reason, a->n, "column '%.100s' (%s): value of %zu bytes, over the "
                     "%d-byte limit", name, nv_fields[m->cols[i].field].name, len,
                     NV_NORM_MAX_BYTES);
            return NV_EFORMAT;
        }
        if (m->cols[i].role == NV_ROLE_EXT && len > NV_MAP_EXT_MAX_BYTES) {
            snprintf(a->reason, a->n, "column '%.100s' (extension %s): value of %zu bytes, "
                     "over the %d-byte limit", name, m->cols[i].ext, len,
                     NV_MAP_EXT_MAX_BYTES);
            return NV_EFORMAT;
        }
        a->vals[i] = values[fi].s;
        a->lens[i] = len;
        if ((m->cols[i].role == NV_ROLE_FIELD || m->cols[i].role == NV_ROLE_EXT) &&
            undecodable(a->vals[i], len)) {
            snprintf(a->reason, a->n, "column '%.100s': characters the agent could not "
                     "decode (check the export's encoding)", name);
            return NV_EFORMAT;
        }
        if (m->cols[i].role == NV_ROLE_EXT && !blank(a->vals[i], len)) {
            const char *v = a->vals[i];
            if (m->cols[i].ext_type != NV_EXT_TEXT) {
                /* a typed extension: normalised like a common field */
                nv_buf_reset(&a->nb);
                if ((r = nv_ext_normalise(m->cols[i].ext_type, v, len, &a->nb)) < 0) {
                    char what[96];
                    snprintf(what, sizeof(what), "extension %.64s", m->cols[i].ext);
                    if ((r = bad_value(a->skip, r, name, what, a->reason, a->n)) < 0)
                        return r;
                    continue;
                }
                if (a->nb.len == 0)
                    continue;
                v = (const char *)a->nb.data;
                len = a->nb.len;
            }
            if ((r = jkey(a->x, &a->xfirst, m->cols[i].ext)) < 0 ||
                (r = jstr(a->x, v, len)) < 0)
                return r;
        }
    }
    return 0;
}

/* The record's country, first: postal codes depend on it.  a->country
 * stays the mapping's default unless the record gives one that parses
 * (cbuf holds it).  Without skip, a country that does not parse rejects the
 * record; with skip it is counted later, with the other fields. */
static inline int
apply_country(struct apply *a, char cbuf[3])
{
    const struct nv_mapping *m = a->m;
    size_t ci;
    int r;

    a->country = m->country;
    if (m->nfcols[NV_F_COUNTRY] == 0)
        return 0;
    ci = m->fcols[NV_F_COUNTRY][0];
    if (a->vals[ci] == NULL || blank(a->vals[ci], a->lens[ci]))
        return 0;
    if ((r = nv_norm_country(a->vals[ci], a->lens[ci], &a->nb)) < 0) {
        if (a->skip == NULL || r != NV_EFORMAT) {
            (void)bad_value(NULL, r, m->cols[ci].name, "country", a->reason, a->n);
            return r;
        }
    } else if (a->nb.len == 2) {
        memcpy(cbuf, a->nb.data, 3);
        a->country = cbuf;
    }
    return 0;
}

/* The values of common field f from its columns: the address's columns
 * joined with ", " in a->ob; another field's values normalised (one that
 * does not parse: bad_value), a single-valued field's written to a->c and
 * a->nv at once, a multi-valued field's distinct ones NUL-separated in
 * a->ob (*nvals of them). */
static inline int
apply_collect(struct apply *a, int f, size_t *nvals)
{
    const struct nv_mapping *m = a->m;
    int r;

    nv_buf_reset(&a->ob);
    for (size_t k = 0; k < m->nfcols[f]; k++) {
        size_t ci = m->fcols[f][k];
        if (a->vals[ci] == NULL || blank(a->vals[ci], a->lens[ci]))
            continue;
        if (f == NV_F_ADDRESS) {
            if ((a->ob.len > 0 && (r = nv_buf_adds(&a->ob, ", ")) < 0) ||
                (r = nv_buf_add(&a->ob, a->vals[ci], a->lens[ci])) < 0)
                return r;
            continue;
        }
        nv_buf_reset(&a->nb);
        if ((r = normalise(nv_fields[f].kind, a->vals[ci], a->lens[ci], a->country,
                           &a->nb)) < 0) {
            if ((r = bad_value(a->skip, r, m->cols[ci].name, nv_fields[f].name, a->reason,
                               a->n)) < 0)
                return r;
            continue;
        }
        if (a->nb.len == 0)
            continue;
        if (!nv_fields[f].multi) {
            if ((r = jkey(a->c, &a->cfirst, nv_fields[f].name)) < 0 ||
                (r = f == NV_F_CONSENT ? nv_buf_add(a->c, a->nb.data, 1)
                                       : jstr(a->c, (char *)a->nb.data, a->nb.len)) < 0 ||
                (r = keep_value(a->nv, f, (char *)a->nb.data, a->nb.len)) < 0)
                return r;
            continue;
        }
        /* several values: the same one from two columns counts once */
        if (*nvals > 0) {
            size_t j, vl;
            const char *p = (const char *)a->ob.data;
            for (j = 0; j < *nvals; j++) {
                vl = strlen(p);
                if (vl == a->nb.len && memcmp(p, a->nb.data, vl) == 0)
                    break;
                p += vl + 1;
            }
            if (j < *nvals)
                continue;
        }
        if ((r = nv_buf_add(&a->ob, a->nb.data, a->nb.len + 1)) < 0)
            return r;
        (*nvals)++;
    }
    return 0;
}

/* Field f's values collected in a->ob (apply_collect), to a->c and a->nv:
 * the address normalised as text, a multi-valued field as an array. */
static inline int
apply_emit(struct apply *a, int f, size_t nvals)
{
    const char *p = (const char *)a->ob.data;
    int r;

    if (f == NV_F_ADDRESS && a->ob.len > 0) {
        nv_buf_reset(&a->nb);
        if ((r = norm_text((char *)a->ob.data, a->ob.len, &a->nb)) < 0)
            return r;
        if (a->nb.len > 0 && ((r = jkey(a->c, &a->cfirst, "address")) < 0 ||
                              (r = jstr(a->c, (char *)a->nb.data, a->nb.len)) < 0 ||
                              (r = keep_value(a->nv, f, (char *)a->nb.data, a->nb.len)) < 0))
            return r;
        return 0;
    }
    if (nvals == 0)
        return 0;
    if ((r = jkey(a->c, &a->cfirst, nv_fields[f].name)) < 0 ||
        (r = nv_buf_add(a->c, "[", 1)) < 0)
        return r;
    for (size_t k = 0; k < nvals; k++) {
        size_t vl = strlen(p);
        if ((k > 0 && (r = nv_buf_add(a->c, ",", 1)) < 0) || (r = jstr(a->c, p, vl)) < 0 ||
            (r = keep_value(a->nv, f, p, vl)) < 0)
            return r;
        p += vl + 1;
    }
    return nv_buf_add(a->c, "]", 1);
}

int
nv_mapping_apply(const struct nv_mapping *m, const struct nv_rec_str *names,
                 const struct nv_rec_str *values, size_t nfields, struct nv_buf *c,
                 struct nv_buf *x, struct nv_norm_values *nv, struct nv_map_skipped *skip,
                 char *reason, size_t n)
{
    struct apply a;
    size_t c0 = c->len, x0 = x->len;
    char cbuf[3];
    int r = 0;

    a.m = m;
    a.c = c;
    a.x = x;
    a.nb = (struct nv_buf)NV_BUF_INIT;
    a.ob = (struct nv_buf)NV_BUF_INIT;
    a.cfirst = a.xfirst = 1;
    a.nv = nv;
    a.skip = skip;
    a.reason = reason;
    a.n = n;
    for (size_t i = 0; i < m->ncols; i++)
        a.vals[i] = NULL;
    if (skip != NULL)
        skip->n = 0;
    if (nv != NULL) {
        nv_buf_reset(&nv->arena);
        memset(nv->n, 0, sizeof(nv->n));
    }
    if ((r = nv_buf_add(c, "{", 1)) < 0 || (r = nv_buf_add(x, "{", 1)) < 0)
        goto out;
    if (nfields > NV_MAP_MAX_COLUMNS) {
        snprintf(reason, n, "more than %d columns", NV_MAP_MAX_COLUMNS);
        r = NV_EFORMAT;
        goto out;
    }
    if ((r = apply_columns(&a, names, values, nfields)) < 0 ||
        (r = apply_country(&a, cbuf)) < 0)
        goto out;
    for (int f = 0; f < NV_F_COUNT; f++) {
        size_t nvals = 0;
        if (m->nfcols[f] == 0)
            continue;
        if ((r = apply_collect(&a, f, &nvals)) < 0 || (r = apply_emit(&a, f, nvals)) < 0)
            goto out;
    }
    if ((r = nv_buf_add(c, "}", 1)) < 0 || (r = nv_buf_add(x, "}", 1)) < 0)
        goto out;
out:
    if (r < 0 && nv != NULL)
        memset(nv->n, 0, sizeof(nv->n));
    if (r < 0) {
        c->len = c0;
        x->len = x0;
        if (c->data != NULL)
            c->data[c0] = '\0';
        if (x->data != NULL)
            x->data[x0] = '\0';
    }
    nv_buf_release(&a.nb);
    nv_buf_release(&a.ob);
    return r;
}

json_t *
nv_mapping_originals(const struct nv_mapping *m, json_t *fields)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    for (int f = 0; f < NV_F_COUNT; f++) {
        json_t *a = nv_fields[f].multi ? json_array() : NULL;
        struct nv_buf ad = NV_BUF_INIT;
        for (size_t k = 0; k < m->nfcols[f]; k++) {
            json_t *v = json_object_get(fields, m->cols[m->fcols[f][k]].name);
            const char *s = json_string_value(v);
            if (s == NULL || blank(s, json_string_length(v)))
                continue;
            if (a != NULL) {
                json_array_append(a, v);
            } else if (f == NV_F_ADDRESS) {
                if ((ad.len > 0 && nv_buf_adds(&ad, ", ") < 0) ||
                    nv_buf_add(&ad, s, json_string_length(v)) < 0)
                    break;
            } else {
                json_object_set(o, nv_fields[f].name, v);
                break;
            }
        }
        if (a != NULL && json_array_size(a) > 0)
            json_object_set(o, nv_fields[f].name, a);
        if (f == NV_F_ADDRESS && ad.len > 0)
            json_object_set_new(o, "address", json_stringn((char *)ad.data, ad.len));
        json_decref(a);
        nv_buf_release(&ad);
    }
    return o;
}
