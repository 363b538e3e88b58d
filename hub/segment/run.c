/*
 * run.c - a segment against the hub's store (see run.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../formats/buf.h"
#include "../../formats/errors.h"
#include "../core/hub.h"
#include "../gdpr/gdpr.h"
#include "../golden/golden.h"
#include "../lib/hmap.h"
#include "../link/link.h"
#include "../model/mapping.h"
#include "../store/maprepo.h"
#include "../store/store.h"
#include "run.h"

void
nv_segment_repo_name(const char *name, char *out, size_t n)
{
    snprintf(out, n, NV_SEGMENT_FILE_PREFIX "%s.segment", name);
}

int
nv_segment_get(struct nv_hub *h, const char *name, const char *rev, struct nv_buf *text,
               char commit[41])
{
    char rn[NV_SEGMENT_NAME_MAX + 16];
    int r;

    if (!nv_segment_name_valid(name))
        return nv_fail(NV_EINVAL, "'%s' is not a segment name (1 to %d of a-z, 0-9, _ and "
                       "-)", name, NV_SEGMENT_NAME_MAX);
    nv_segment_repo_name(name, rn, sizeof(rn));
    r = nv_maprepo_get(h->maps, rn, rev, text, commit);
    if (r == NV_ENOTFOUND)
        r = nv_fail(NV_ENOTFOUND, "no segment '%s'%s%s (nova-hub segment DIR set %s FILE)",
                    name, rev ? " at " : "", rev ? rev : "", name);
    return r;
}

/* ---- check ---- */

static int
hub_type(void *ctx, const char *entity, const char *field)
{
    struct nv_hub *h = ctx;
    const struct nv_mapping *m;
    const char *commit;
    int f;

    if (entity == NULL) {
        /* any entity: a common field, or an extension field some mapping
         * may have (not checked) */
        f = field ? nv_field_lookup(field) : -1;
        if (f == NV_F_BIRTH_DATE || f == NV_F_CREATED_AT || f == NV_F_UPDATED_AT)
            return NV_EXT_DATE;
        return f >= 0 ? NV_EXT_TEXT : NV_EXT_DATE;
    }
    if (nv_hub_mapping(h, entity, &m, &commit) < 0 || m == NULL)
        return -2;
    if (field == NULL)
        return 0;
    if ((f = nv_field_lookup(field)) >= 0) {
        if (m->nfcols[f] == 0)
            return -1;
        return f == NV_F_BIRTH_DATE || f == NV_F_CREATED_AT || f == NV_F_UPDATED_AT
                   ? NV_EXT_DATE : NV_EXT_TEXT;
    }
    return nv_mapping_ext_type(m, field);
}

int
nv_segment_check_hub(struct nv_hub *h, const struct nv_segment *s)
{
    nv_error_clear();
    return nv_segment_check(s, hub_type, h);
}

/* ---- selection ---- */

/* One person in the pass: the RCU, then a count per leaf (uint32). */
struct person {
    char rcu[16];
    uint32_t counts[];
};

static uint64_t
rcu_hash(const char *s)
{
    return nv_fnv1a_str(NV_FNV_OFFSET_LINK, s);
}

static int
person_eq(const void *value, const void *key)
{
    return strcmp(((const struct person *)value)->rcu, key) == 0;
}

static double
mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
rcu_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Does the segment look at records of entity (a leaf names it, or any)? */
static int
wants_entity(const struct nv_segment *s, const char *e)
{
    for (size_t i = 0; i < s->nleaves; i++)
        if (s->leaves[i]->entity == NULL || strcmp(s->leaves[i]->entity, e) == 0)
            return 1;
    return 0;
}

/* The end of the JSON value that starts at p (before end), or NULL: a
 * string, or an object or array (nesting counted, strings skipped), or a
 * scalar up to the next ',', '}' or ']'. */
static const char *
skip_value(const char *p, const char *end)
{
    int depth = 0;

    if (p >= end)
        return NULL;
    if (*p != '"' && *p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']')
            p++;
        return p;
    }
    while (p < end) {
        char c = *p;
        if (c == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            if (p >= end)
                return NULL;
            p++;
            if (depth == 0)
                return p;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']') {
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

/* The spans of the top-level members "c" and "x" of a stored record (its
 * compact JSON, as the store writes it), without reading the rest: the
 * source fields are most of a record.  0, or -1 when it does not scan. */
static int
record_spans(const char *p, size_t len, const char **c, size_t *clen, const char **x,
             size_t *xlen)
{
    const char *end = p + len, *k, *v;

    *c = *x = NULL;
    if (len < 2 || *p != '{')
        return -1;
    p++;
    while (p < end && *p != '}') {
        if (*p != '"')
            return -1;
        k = p + 1;
        if ((p = skip_value(p, end)) == NULL || p >= end || *p != ':')
            return -1;
        v = ++p;
        if ((p = skip_value(p, end)) == NULL || p >= end)
            return -1;
        if (v - k == 3 && k[1] == '"' && (k[0] == 'c' || k[0] == 'x')) {
            *(k[0] == 'c' ? c : x) = v;
            *(k[0] == 'c' ? clen : xlen) = (size_t)(p - v);
        }
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Does a record condition look at common fields (1), extension fields
 * (2), or both (3)? */
static int
needs(const struct nv_seg_node *n)
{
    if (n == NULL)
        return 0;
    if (n->kind == NV_SEG_PRED)
        return n->common >= 0 ? 1 : 2;
    return needs(n->a) | needs(n->b) | needs(n->where);
}

/* The record's "c" and "x" (those the segment needs) as a new object. */
static json_t *
record_read(const MDB_val *d, int need)
{
    const char *c, *x;
    size_t cl = 0, xl = 0;
    json_t *rec;

    if (record_spans(d->mv_data, d->mv_size, &c, &cl, &x, &xl) < 0)
        return json_loadb(d->mv_data, d->mv_size, 0, NULL);
    if ((rec = json_object()) == NULL)
        return NULL;
    if ((need & 1) && c != NULL)
        json_object_set_new(rec, "c", json_loadb(c, cl, 0, NULL));
    if ((need & 2) && x != NULL)
        json_object_set_new(rec, "x", json_loadb(x, xl, 0, NULL));
    return rec;
}

/* The pass over the records: people and their counts into m. */
static int
scan(struct nv_hub *h, MDB_txn *txn, const struct nv_segment *s, struct nv_hmap *m,
     struct nv_segment_stats *st)
{
    MDB_cursor *c;
    MDB_val k, d;
    struct nv_buf sb = NV_BUF_INIT;
    char last[NV_NAME_MAX + 1] = "", kb[1024];
    int want = 0, need = 0, rc, r = 0;

    for (size_t i = 0; i < s->nleaves; i++)
        need |= needs(s->leaves[i]->where);

    if ((rc = mdb_cursor_open(txn, h->store.records, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read records");
    while ((rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) == 0) {
        const char *e, *src, *key;
        struct nv_link_val lv;
        struct person *p;
        json_t *rec;
        int isnew;
        st->records++;
        if (k.mv_size >= sizeof(kb))
            continue;
        memcpy(kb, k.mv_data, k.mv_size);
        kb[k.mv_size] = '\0';
        if (nv_hstore_key_split(kb, k.mv_size, &e, &src, &key) < 0)
            continue;
        if (nv_link_get(txn, h->link, k.mv_data, k.mv_size, &lv) != 0 || lv.rcu[0] == '\0')
            continue;
        lv.rcu[sizeof(lv.rcu) - 1] = '\0';
        if ((p = nv_hmap_insert(m, rcu_hash(lv.rcu), lv.rcu, &isnew)) == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            break;
        }
        if (isnew)
            memcpy(p->rcu, lv.rcu, sizeof(p->rcu));
        /* records come entity by entity: is this one's entity named? */
        if (strcmp(last, e) != 0) {
            snprintf(last, sizeof(last), "%s", e);
            want = wants_entity(s, e);
        }
        if (!want)
            continue;
        if ((rec = record_read(&d, need)) == NULL)
            continue;
        st->parsed++;
        for (size_t i = 0; i < s->nleaves; i++)
            if (p->counts[i] < UINT32_MAX &&
                nv_segment_record_matches(s->leaves[i], e, rec, &sb))
                p->counts[i]++;
        json_decref(rec);
    }
    mdb_cursor_close(c);
    nv_buf_release(&sb);
    if (r == 0 && rc != MDB_NOTFOUND)
        r = nv_hmdb_fail(rc, "cannot read records");
    nv_error_clear();
    return r;
}

/* Why one selected person is left out: what their records say. */
struct why {
    struct nv_hub *h;
    MDB_txn *txn;
    int yes, no, suppressed, objected;
};

static int
in_db(MDB_txn *txn, MDB_dbi dbi, const uint8_t hh[16])
{
    MDB_val k = { 16, (void *)hh }, v;

    return mdb_get(txn, dbi, &k, &v) == 0;
}

static int
member(void *ctx, uint64_t rid, const char *key, size_t keylen)
{
    struct why *w = ctx;
    MDB_val k = { keylen, (void *)key }, d;
    json_t *rec, *c, *v;
    char kb[1024];
    const char *e, *src, *rk;
    uint8_t hh[16];
    size_t i;

    (void)rid;
    if (mdb_get(w->txn, w->h->store.records, &k, &d) != 0 || keylen >= sizeof(kb))
        return 0;
    memcpy(kb, key, keylen);
    kb[keylen] = '\0';
    if (nv_hstore_key_split(kb, keylen, &e, &src, &rk) == 0) {
        nv_gdpr_hash(w->h->gkey, 'k', e, strlen(e), rk, strlen(rk), hh);
        if (in_db(w->txn, w->h->gdpr->suppress, hh))
            w->suppressed = 1;
    }
    if ((rec = json_loadb(d.mv_data, d.mv_size, 0, NULL)) == NULL)
        return 0;
    c = json_object_get(rec, "c");
    v = json_object_get(c, "consent");
    if (json_is_integer(v)) {
        if (json_integer_value(v))
            w->yes = 1;
        else
            w->no = 1;
    }
    for (int f = 0; f < 2; f++)
        json_array_foreach(json_object_get(c, f ? "phone" : "email"), i, v) {
            const char *s = json_string_value(v);
            if (s == NULL)
                continue;
            nv_gdpr_hash(w->h->gkey, f ? 'p' : 'e', s, strlen(s), NULL, 0, hh);
            if (in_db(w->txn, w->h->gdpr->suppress, hh))
                w->suppressed = 1;
            if (in_db(w->txn, w->h->gdpr->object, hh))
                w->objected = 1;
        }
    json_decref(rec);
    return 0;
}

/* 1 when the person may be reached; else 0 and the reason counted. */
static int
reachable(struct nv_hub *h, MDB_txn *txn, const char *rcu, struct nv_segment_stats *st)
{
    struct why w = { h, txn, 0, 0, 0, 0 };
    json_t *fl = nv_gdpr_flags(h, txn, rcu);
    int restricted = json_is_string(json_object_get(fl, "restrict"));
    int objected = json_is_string(json_object_get(fl, "object"));

    json_decref(fl);
    if (nv_link_members(txn, h->link, rcu, member, &w) < 0)
        nv_error_clear();
    if (w.suppressed)
        st->suppressed++;
    else if (restricted)
        st->restricted++;
    else if (objected || w.objected)
        st->objected++;
    else if (w.no)
        st->refused++;
    else if (!w.yes)
        st->no_consent++;
    else
        return 1;
    return 0;
}

int
nv_segment_select(struct nv_hub *h, const struct nv_segment *s,
                  int (*emit)(void *, const char *, json_t *), void *ctx,
                  struct nv_segment_stats *st)
{
    struct nv_hmap m;
    MDB_txn *txn;
    char **sel = NULL;
    size_t nsel = 0, it = 0;
    struct person *p;
    double t0 = mono_s();
    int rc, r;

    memset(st, 0, sizeof(*st));
    nv_hmap_init_eq(&m, sizeof(struct person) + s->nleaves * sizeof(uint32_t), 1024,
                    person_eq);
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    r = scan(h, txn, s, &m, st);
    st->seconds = mono_s() - t0;
    st->people = nv_hmap_count(&m);
    if (r == 0 && (sel = calloc(st->people + 1, sizeof(char *))) == NULL)
        r = nv_fail(NV_ENOMEM, "out of memory");
    while (r == 0 && (p = nv_hmap_next(&m, &it, NULL)) != NULL)
        if (nv_segment_person(s, p->counts))
            sel[nsel++] = p->rcu;
    st->selected = nsel;
    if (r == 0)
        qsort(sel, nsel, sizeof(char *), rcu_cmp);
    for (size_t i = 0; i < nsel && r == 0; i++) {
        json_t *doc = NULL;
        if (!reachable(h, txn, sel[i], st))
            continue;
        st->kept++;
        if (emit == NULL)
            continue;
        if ((r = nv_golden_show(h, txn, sel[i], &doc)) == 0)
            r = emit(ctx, sel[i], doc);
        json_decref(doc);
    }
    free(sel);
    mdb_txn_abort(txn);
    nv_hmap_release(&m);
    st->total_seconds = mono_s() - t0;
    return r;
}
