/*
 * eval.c - pairwise evaluation of the matching; the contract is in eval.h.
 *
 * Hash maps give every record, RCU and person a dense number.  One pass
 * over the links then counts records per RCU, per person and per
 * (RCU, person) cell, and each kind of pair is a sum of n(n-1)/2 over its
 * groups.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../lib/hmap.h"
#include "eval.h"

/* ---- string keys (a, or the pair a, b) to dense ids ---- */

struct skey {
    const char *a, *b; /* b NULL for a single string */
};

struct slot {
    uint32_t tag; /* high half of the hash (the low half is the place) */
    uint32_t id1; /* id + 1; 0 = empty */
};

struct smap {
    struct slot *slot;
    size_t cap;        /* power of two, or 0 */
    struct skey *key;  /* key[id] */
    size_t n, keycap;
};

static uint64_t
mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* FNV-1a over a, a byte that UTF-8 never holds, then b; mixed at the end
 * so that the low bits index the table well.  The inputs come from nova and
 * its tests, so no keyed hash is needed against flooding. */
static uint64_t
key_hash(const char *a, const char *b)
{
    static const unsigned char sep = 0xff;
    uint64_t h = nv_fnv1a_str(NV_FNV_OFFSET, a);

    if (b != NULL)
        h = nv_fnv1a_str(nv_fnv1a(h, &sep, 1), b);
    return mix64(h);
}

static void
smap_release(struct smap *m)
{
    free(m->slot);
    free(m->key);
    memset(m, 0, sizeof(*m));
}

/* Room for n keys without growing: the table stays at most 3/4 full. */
static int
smap_reserve(struct smap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 1024;
    struct slot *s;

    if (n > m->keycap) {
        struct skey *nk = realloc(m->key, n * sizeof(*nk));
        if (nk == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        m->key = nk;
        m->keycap = n;
    }
    while (n * 4 > cap * 3)
        cap *= 2;
    if (cap == m->cap)
        return 0;
    if ((s = calloc(cap, sizeof(*s))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    /* re-place every key: the place comes from the hash, kept whole in
     * no slot, so hash the key again */
    for (size_t i = 0; i < m->cap; i++) {
        const struct skey *k;
        size_t j;
        if (m->slot[i].id1 == 0)
            continue;
        k = &m->key[m->slot[i].id1 - 1];
        for (j = key_hash(k->a, k->b) & (cap - 1); s[j].id1 != 0; j = (j + 1) & (cap - 1))
            ;
        s[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = s;
    m->cap = cap;
    return 0;
}

/* The id of key (a, b), adding it as the next id if new; *added says which.
 * The strings are borrowed for the life of the map. */
static int
smap_intern(struct smap *m, const char *a, const char *b, uint32_t *id, int *added)
{
    uint64_t h = key_hash(a, b);
    uint32_t tag = (uint32_t)(h >> 32);
    size_t j;

    for (j = h & (m->cap - 1); m->cap && m->slot[j].id1 != 0; j = (j + 1) & (m->cap - 1)) {
        const struct skey *k = &m->key[m->slot[j].id1 - 1];
        if (m->slot[j].tag == tag && strcmp(k->a, a) == 0 &&
            (b == NULL || strcmp(k->b, b) == 0)) {
            *id = m->slot[j].id1 - 1;
            *added = 0;
            return 0;
        }
    }
    if (m->n == m->keycap || (m->n + 1) * 4 > m->cap * 3) {
        int r = smap_reserve(m, m->n < 512 ? 1024 : m->n * 2);
        if (r < 0)
            return r;
        for (j = h & (m->cap - 1); m->slot[j].id1 != 0; j = (j + 1) & (m->cap - 1))
            ;
    }
    m->key[m->n].a = a;
    m->key[m->n].b = b;
    m->slot[j].tag = tag;
    m->slot[j].id1 = (uint32_t)m->n + 1;
    *id = (uint32_t)m->n++;
    *added = 1;
    return 0;
}

/* ---- (RCU, person) cells to record counts ---- */

struct cellmap {
    uint64_t *key;   /* (rcu << 32 | person) + 1; 0 = empty */
    uint32_t *count; /* records of the cell (fewer than 2^31) */
    size_t cap, n;
};

static void
cellmap_release(struct cellmap *m)
{
    free(m->key);
    free(m->count);
    memset(m, 0, sizeof(*m));
}

/* Room for n cells: the table stays at most 3/4 full. */
static int
cellmap_reserve(struct cellmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 1024;
    uint64_t *k;
    uint32_t *c;

    while (n * 4 > cap * 3)
        cap *= 2;
    if (cap == m->cap)
        return 0;
    k = calloc(cap, sizeof(*k));
    c = calloc(cap, sizeof(*c));

    if (k == NULL || c == NULL) {
        free(k);
        free(c);
        return nv_fail(NV_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < m->cap; i++) {
        size_t j;
        if (m->key[i] == 0)
            continue;
        for (j = mix64(m->key[i]) & (cap - 1); k[j] != 0; j = (j + 1) & (cap - 1))
            ;
        k[j] = m->key[i];
        c[j] = m->count[i];
    }
    free(m->key);
    free(m->count);
    m->key = k;
    m->count = c;
    m->cap = cap;
    return 0;
}

static int
cellmap_add(struct cellmap *m, uint32_t rcu, uint32_t person)
{
    uint64_t key = ((uint64_t)rcu << 32 | person) + 1;
    size_t j;

    if ((m->n + 1) * 4 > m->cap * 3) {
        int r = cellmap_reserve(m, m->n < 512 ? 1024 : m->n * 2);
        if (r < 0)
            return r;
    }
    for (j = mix64(key) & (m->cap - 1); m->key[j] != 0; j = (j + 1) & (m->cap - 1))
        if (m->key[j] == key) {
            m->count[j]++;
            return 0;
        }
    m->key[j] = key;
    m->count[j] = 1;
    m->n++;
    return 0;
}

static uint64_t
pairs(uint64_t n)
{
    return n < 2 ? 0 : n * (n - 1) / 2;
}

/* ---- the metrics ---- */

/* Where a record is, for messages: a file and a line, or a position. */
struct side {
    const char *path;      /* NULL for arrays */
    const uint64_t *line;  /* line of each record (files) */
    const char *what;      /* "link" or "truth record" (arrays) */
};

static void
where(char *buf, size_t cap, const struct side *s, size_t i)
{
    if (s->path != NULL)
        snprintf(buf, cap, "'%s' line %llu", s->path, (unsigned long long)s->line[i]);
    else
        snprintf(buf, cap, "%s %zu", s->what, i + 1);
}

static int
repeated(const struct side *s, size_t i, size_t first)
{
    char here[320], there[320];

    where(here, sizeof(here), s, i);
    if (s->path != NULL) /* same file: the line is enough */
        snprintf(there, sizeof(there), "line %llu", (unsigned long long)s->line[first]);
    else
        where(there, sizeof(there), s, first);
    return nv_fail(NV_EFORMAT, "%s: record repeated (first at %s)", here, there);
}

static int
empty_field(const struct side *s, size_t i, const char *name)
{
    char here[320];

    where(here, sizeof(here), s, i);
    return nv_fail(NV_EFORMAT, "%s: empty %s", here, name);
}

static int
is_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static int
eval_run(const struct nv_eval_link *links, size_t nl, const struct side *ls,
         const struct nv_eval_truth *truth, size_t nt, const struct side *ts,
         struct nv_eval_result *out)
{
    struct smap recs = { 0 }, rcus = { 0 }, persons = { 0 };
    struct cellmap cells = { 0 };
    uint32_t *person_of = NULL;   /* truth record -> person */
    size_t *first_link = NULL;    /* record -> link that named it, + 1 */
    uint64_t *rcount = NULL, *pcount = NULL;
    struct nv_eval_result res;
    uint32_t id;
    int added, r;

    memset(&res, 0, sizeof(res));
    if (nl > NV_EVAL_MAX_RECORDS || nt > NV_EVAL_MAX_RECORDS)
        return nv_fail(NV_ETOOBIG, "more than %zu records on one side",
                       (size_t)NV_EVAL_MAX_RECORDS);
    person_of = malloc((nt ? nt : 1) * sizeof(*person_of));
    first_link = calloc(nt + nl + 1, sizeof(*first_link));
    rcount = calloc(nl + 1, sizeof(*rcount));
    pcount = calloc(nt + 1, sizeof(*pcount));
    if (person_of == NULL || first_link == NULL || rcount == NULL || pcount == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    /* sized once for the usual case: records and links the same, few
     * persons or RCUs short of one per record */
    if ((r = smap_reserve(&recs, nt > nl ? nt : nl)) < 0 ||
        (r = smap_reserve(&persons, nt)) < 0 ||
        (r = smap_reserve(&rcus, nl)) < 0 ||
        (r = cellmap_reserve(&cells, nl)) < 0)
        goto out;

    /* the truth: record ids 0..nt-1 in order, and their persons */
    for (size_t i = 0; i < nt; i++) {
        const struct nv_eval_truth *t = &truth[i];
        if (is_empty(t->entity) || is_empty(t->source_key) || is_empty(t->person)) {
            r = empty_field(ts, i, is_empty(t->entity) ? "entity"
                                   : is_empty(t->source_key) ? "source_key" : "person");
            goto out;
        }
        if ((r = smap_intern(&recs, t->entity, t->source_key, &id, &added)) < 0)
            goto out;
        if (!added) {
            r = repeated(ts, i, id);
            goto out;
        }
        if ((r = smap_intern(&persons, t->person, NULL, &person_of[i], &added)) < 0)
            goto out;
    }

    /* the links: count by RCU, person and cell */
    for (size_t i = 0; i < nl; i++) {
        const struct nv_eval_link *l = &links[i];
        uint32_t rcu, rec;
        if (is_empty(l->entity) || is_empty(l->source_key)) {
            r = empty_field(ls, i, is_empty(l->entity) ? "entity" : "source_key");
            goto out;
        }
        if ((r = smap_intern(&recs, l->entity, l->source_key, &rec, &added)) < 0)
            goto out;
        if (first_link[rec] != 0) {
            r = repeated(ls, i, first_link[rec] - 1);
            goto out;
        }
        first_link[rec] = i + 1;
        if (rec >= nt) { /* not in the truth */
            res.links_only++;
            continue;
        }
        res.records++;
        pcount[person_of[rec]]++;
        if (l->status != NULL && strcmp(l->status, "review") == 0)
            res.review++;
        if (is_empty(l->rcu_id)) { /* a cluster of its own: no pair */
            res.rcus++;
            continue;
        }
        if ((r = smap_intern(&rcus, l->rcu_id, NULL, &rcu, &added)) < 0)
            goto out;
        rcount[rcu]++;
        if ((r = cellmap_add(&cells, rcu, person_of[rec])) < 0)
            goto out;
    }
    res.truth_only = nt - res.records;

    for (size_t i = 0; i < rcus.n; i++)
        res.predicted_pairs += pairs(rcount[i]);
    res.rcus += rcus.n;
    for (size_t i = 0; i < persons.n; i++) {
        res.true_pairs += pairs(pcount[i]);
        res.persons += pcount[i] > 0;
    }
    for (size_t i = 0; i < cells.cap; i++)
        if (cells.key[i] != 0)
            res.correct_pairs += pairs(cells.count[i]);

    res.precision = res.predicted_pairs
        ? (double)res.correct_pairs / (double)res.predicted_pairs : 1.0;
    res.recall = res.true_pairs
        ? (double)res.correct_pairs / (double)res.true_pairs : 1.0;
    res.f1 = res.precision + res.recall > 0
        ? 2 * res.precision * res.recall / (res.precision + res.recall) : 0.0;
    res.review_share = res.records ? (double)res.review / (double)res.records : 0.0;
    *out = res;
    r = 0;
out:
    smap_release(&recs);
    smap_release(&rcus);
    smap_release(&persons);
    cellmap_release(&cells);
    free(person_of);
    free(first_link);
    free(rcount);
    free(pcount);
    return r;
}

int
nv_eval_compute(const struct nv_eval_link *links, size_t nlinks,
                const struct nv_eval_truth *truth, size_t ntruth,
                struct nv_eval_result *out)
{
    const struct side ls = { NULL, NULL, "link" };
    const struct side ts = { NULL, NULL, "truth record" };

    return eval_run(links, nlinks, &ls, truth, ntruth, &ts, out);
}

/* ---- reading the two CSV files ---- */

#define TABLE_MAX_COLS 4

/* Chosen columns of a CSV file: the fields of row i, column k, are at
 * text.data + off[i * ncols + k], NUL-terminated. */
struct table {
    struct nv_buf text;   /* under NV_BUF_MAX, so offsets fit 32 bits */
    uint32_t *off;
    uint64_t *line;
    size_t ncols, n, cap;
};

static void
table_release(struct table *t)
{
    nv_buf_release(&t->text);
    free(t->off);
    free(t->line);
    memset(t, 0, sizeof(*t));
}

static const char *
table_field(const struct table *t, size_t i, size_t k)
{
    return (const char *)t->text.data + t->off[i * t->ncols + k];
}

static int
table_push(struct table *t, const struct nv_csv_row *row, const size_t *col,
           const char *path)
{
    int r;

    if (t->n == NV_EVAL_MAX_RECORDS)
        return nv_fail(NV_ETOOBIG, "'%s': more than %zu records", path,
                       (size_t)NV_EVAL_MAX_RECORDS);
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 4096;
        uint32_t *no = realloc(t->off, nc * t->ncols * sizeof(*no));
        uint64_t *nl;
        if (no == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        t->off = no;
        nl = realloc(t->line, nc * sizeof(*nl));
        if (nl == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        t->line = nl;
        t->cap = nc;
    }
    for (size_t k = 0; k < t->ncols; k++) {
        t->off[t->n * t->ncols + k] = (uint32_t)t->text.len;
        /* the field and its NUL */
        if ((r = nv_buf_add(&t->text, row->field[col[k]], row->len[col[k]] + 1)) < 0)
            return nv_fail_prefix(r, "'%s'", path);
    }
    t->line[t->n++] = row->line;
    return 0;
}

static int
table_read(const char *path, const char *const *names, size_t ncols, struct table *t)
{
    const struct nv_csv_dialect d = { ',', '"', 1, NV_ENC_UTF8 };
    const struct nv_csv_row *h, *row;
    struct nv_csv *c = NULL;
    size_t col[TABLE_MAX_COLS];
    int fd, r;

    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    fd = nv_open_read(path);
    if (fd < 0)
        return fd;
    if ((r = nv_csv_open(&c, fd, &d, 0, 0)) < 0) {
        r = nv_fail_prefix(r, "'%s'", path);
        goto out;
    }
    h = nv_csv_header(c);
    for (size_t k = 0; k < ncols; k++) {
        for (col[k] = 0; col[k] < h->n; col[k]++)
            if (strcmp(h->field[col[k]], names[k]) == 0)
                break;
        if (col[k] == h->n) {
            r = nv_fail(NV_EFORMAT, "'%s' line %llu: no column '%s'", path,
                        (unsigned long long)h->line, names[k]);
            goto out;
        }
    }
    while ((r = nv_csv_next(c, &row)) > 0)
        if ((r = table_push(t, row, col, path)) < 0)
            goto out;
    if (r < 0) {
        r = nv_fail_prefix(r, "'%s'", path);
        goto out;
    }
    r = 0;
out:
    nv_csv_free(c);
    close(fd);
    if (r < 0)
        table_release(t);
    return r;
}

int
nv_eval_files(const char *links_csv, const char *truth_csv,
              struct nv_eval_result *out)
{
    static const char *const lcols[] = { "entity", "source_key", "rcu_id", "status" };
    static const char *const tcols[] = { "entity", "source_key", "person" };
    struct table lt = { 0 }, tt = { 0 };
    struct nv_eval_link *links = NULL;
    struct nv_eval_truth *truth = NULL;
    int r;

    if ((r = table_read(links_csv, lcols, 4, &lt)) < 0)
        return r;
    if ((r = table_read(truth_csv, tcols, 3, &tt)) < 0)
        goto out;
    links = malloc((lt.n ? lt.n : 1) * sizeof(*links));
    truth = malloc((tt.n ? tt.n : 1) * sizeof(*truth));
    if (links == NULL || truth == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < lt.n; i++) {
        links[i].entity = table_field(&lt, i, 0);
        links[i].source_key = table_field(&lt, i, 1);
        links[i].rcu_id = table_field(&lt, i, 2);
        links[i].status = table_field(&lt, i, 3);
    }
    for (size_t i = 0; i < tt.n; i++) {
        truth[i].entity = table_field(&tt, i, 0);
        truth[i].source_key = table_field(&tt, i, 1);
        truth[i].person = table_field(&tt, i, 2);
    }
    {
        const struct side ls = { links_csv, lt.line, NULL };
        const struct side ts = { truth_csv, tt.line, NULL };
        r = eval_run(links, lt.n, &ls, truth, tt.n, &ts, out);
    }
out:
    free(links);
    free(truth);
    table_release(&lt);
    table_release(&tt);
    return r;
}

int
nv_eval_format(const struct nv_eval_result *r, int json, struct nv_buf *out)
{
    typedef unsigned long long ull;

    if (json)
        return nv_buf_addf(out,
            "{\"records\":%llu,\"links_only\":%llu,\"truth_only\":%llu,"
            "\"rcus\":%llu,\"persons\":%llu,\"predicted_pairs\":%llu,"
            "\"true_pairs\":%llu,\"correct_pairs\":%llu,\"precision\":%.6f,"
            "\"recall\":%.6f,\"f1\":%.6f,\"review\":%llu,\"review_share\":%.6f}\n",
            (ull)r->records, (ull)r->links_only, (ull)r->truth_only,
            (ull)r->rcus, (ull)r->persons, (ull)r->predicted_pairs,
            (ull)r->true_pairs, (ull)r->correct_pairs, r->precision, r->recall,
            r->f1, (ull)r->review, r->review_share);
    return nv_buf_addf(out,
        "records    %llu on both sides (links only %llu, truth only %llu)\n"
        "clusters   %llu RCUs for %llu persons\n"
        "pairs      %llu predicted, %llu true, %llu correct\n"
        "precision  %.4f\n"
        "recall     %.4f\n"
        "F1         %.4f\n"
        "review     %llu records (%.2f%%)\n",
        (ull)r->records, (ull)r->links_only, (ull)r->truth_only, (ull)r->rcus,
        (ull)r->persons, (ull)r->predicted_pairs, (ull)r->true_pairs,
        (ull)r->correct_pairs, r->precision, r->recall, r->f1,
        (ull)r->review, 100.0 * r->review_share);
}
