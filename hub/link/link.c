#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <jansson.h>
#include <sodium.h>

#include "../../formats/errors.h"
#include "../../formats/progress.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
#include "../lib/hmap.h"
#include "link.h"

#define NVALS 14
#define BLOCK_MAX 100     /* a blocking key held by more records says little */
#define CLUSTER_MAX 50
/* The hub's link threshold (a new store's model; a stored model keeps its
 * own), in bits of log2 odds.  The hub's fit keeps EM's m with u from
 * random pairs and the prior of all pairs (nv_link_learn), so a score is
 * the log odds of a match among all pairs: 7 bits is 128 to 1.  (With u held
 * to the random pairs' during EM the namesakes joined the match class and
 * every score came out higher, hence the generic 10.) */
#define HUB_LINK 7.0
#define EM_MIN_TOTAL NV_LINK_FIT_MIN /* the first fit waits for this many records */
#define EM_SAMPLE 200000        /* records an automatic fit looks at, at most */

/* match values in mrec order */
enum { V_FIRST, V_LAST, V_BIRTH_NAME, V_EMAIL0, V_PHONE0 = V_EMAIL0 + 3,
       V_POSTCODE = V_PHONE0 + 3, V_CITY, V_STREET, V_BIRTH_DATE, V_NATIONAL_ID };

/* ---- small helpers ---- */

#define be64 nv_be64_put     /* formats/util.h */
#define get_be64 nv_be64_get

/* Sorted bulk inserts into a duplicate-key database (ident, rcus):
 * one bundle adds millions of entries, and inserting them in key order
 * keeps LMDB's pages hot. */
static int mdb_fail(int rc, const char *what);
static void be64(uint8_t out[8], uint64_t v);
static void fresh_start(struct match_model *mo);

struct bulk {
    uint8_t *v;
    size_t n, cap, klen;
};

static size_t bulk_w; /* entry width while sorting */

static int
bulk_cmp(const void *a, const void *b)
{
    return memcmp(a, b, bulk_w);
}

static int
bulk_add(struct bulk *b, const void *key, uint64_t rid)
{
    size_t w = b->klen + 8;

    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1 << 16;
        uint8_t *v = realloc(b->v, cap * w);
        if (v == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n * w, key, b->klen);
    be64(b->v + b->n * w + b->klen, rid);
    b->n++;
    return 0;
}

static int
bulk_flush(MDB_txn *txn, MDB_dbi dbi, struct bulk *b, size_t klen_used)
{
    size_t w = b->klen + 8;
    MDB_cursor *c;
    int rc;

    if (b->n == 0)
        return 0;
    bulk_w = w;
    qsort(b->v, b->n, w, bulk_cmp);
    if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
        return mdb_fail(rc, "cannot write an index");
    for (size_t i = 0; i < b->n; i++) {
        uint8_t *e = b->v + i * w;
        MDB_val k = { klen_used ? klen_used : b->klen, e }, v = { 8, e + b->klen };
        if (klen_used == 0 && b->klen == 16)
            k.mv_size = strnlen((char *)e, 16); /* an RCU string */
        nv_hstore_unmap_every(txn, i, 16384);
        rc = mdb_cursor_put(c, &k, &v, MDB_NODUPDATA);
        if (rc != 0 && rc != MDB_KEYEXIST) {
            mdb_cursor_close(c);
            return mdb_fail(rc, "cannot write an index");
        }
    }
    mdb_cursor_close(c);
    b->n = 0;
    return 0;
}

static void
bulk_free(struct bulk *b)
{
    free(b->v);
    memset(b, 0, sizeof(*b));
}

static uint64_t
fnv64(const char *s)
{
    uint64_t h = nv_fnv1a_str(NV_FNV_OFFSET_LINK, s);

    return h ? h : 1;
}

static int
mdb_fail(int rc, const char *what)
{
    return nv_hmdb_fail(rc, what);
}

int
nv_link_open(MDB_txn *txn, void *dbs)
{
    struct nv_link_db *db = dbs;
    const unsigned dup = MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED;
    int rc;

    if ((rc = mdb_dbi_open(txn, "mrec", MDB_CREATE, &db->mrec)) != 0 ||
        (rc = mdb_dbi_open(txn, "links", MDB_CREATE, &db->links)) != 0 ||
        (rc = mdb_dbi_open(txn, "rcus", dup, &db->rcus)) != 0 ||
        (rc = mdb_dbi_open(txn, "alias", MDB_CREATE, &db->alias)) != 0 ||
        (rc = mdb_dbi_open(txn, "review", MDB_CREATE, &db->review)) != 0 ||
        (rc = mdb_dbi_open(txn, "revby", dup, &db->revby)) != 0 ||
        (rc = mdb_dbi_open(txn, "decide", MDB_CREATE, &db->decide)) != 0 ||
        (rc = mdb_dbi_open(txn, "tf", MDB_CREATE, &db->tf)) != 0 ||
        (rc = mdb_dbi_open(txn, "ident", dup, &db->ident)) != 0 ||
        (rc = mdb_dbi_open(txn, "linkmeta", MDB_CREATE, &db->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "lkre", MDB_CREATE, &db->lkre)) != 0 ||
        (rc = mdb_dbi_open(txn, "lkcnt", MDB_CREATE, &db->lkcnt)) != 0)
        return mdb_fail(rc, "cannot open the matching databases");
    /* a store from before the status counters: counted once (lkrcu is
     * created last, in the same transaction as the count) */
    if ((rc = mdb_dbi_open(txn, "lkrcu", 0, &db->lkrcu)) == MDB_NOTFOUND) {
        int r;
        if ((rc = mdb_dbi_open(txn, "lkrcu", MDB_CREATE, &db->lkrcu)) != 0)
            return mdb_fail(rc, "cannot open the matching databases");
        if ((rc = mdb_drop(txn, db->lkre, 0)) != 0 || (rc = mdb_drop(txn, db->lkcnt, 0)) != 0)
            return mdb_fail(rc, "cannot reset the matching counters");
        if ((r = nv_link_tally_recount(txn, db)) < 0)
            return r;
    } else if (rc != 0)
        return mdb_fail(rc, "cannot open the matching databases");
    /* the old "blocks" database is deleted by the store's migration to
     * schema 1 (hub/store/store.c) */
    return 0;
}

/* ---- the change set ---- */

void
nv_link_set_release(struct nv_link_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        nv_buf_release(&s->v[i].person);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

int
nv_link_set_add(struct nv_link_set *s, const char *key, size_t keylen,
                const char *const person[NVALS])
{
    struct nv_link_item *it;
    int r;

    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        struct nv_link_item *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        s->v = v;
        s->cap = cap;
    }
    it = &s->v[s->n];
    memset(it, 0, sizeof(*it));
    if ((it->key = malloc(keylen + 1)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    memcpy(it->key, key, keylen);
    it->key[keylen] = '\0';
    it->keylen = keylen;
    it->deleted = person == NULL;
    for (int i = 0; person != NULL && i < NVALS; i++) {
        const char *v = person[i] ? person[i] : "";
        if ((r = nv_buf_add(&it->person, v, strlen(v) + 1)) < 0) {
            free(it->key);
            nv_buf_release(&it->person);
            return r;
        }
    }
    s->n++;
    return 0;
}

/* ---- records ---- */

/* Decode an mrec value into p (pointers into the value) and the key. */
static int
decode_mrec(const MDB_val *v, struct match_person *p, const char **key, size_t *keylen,
            char *entity, size_t entn)
{
    const char *b = v->mv_data, *e = b + v->mv_size, *s;
    const char *vals[NVALS];
    size_t kl;

    if (v->mv_size < 2)
        return nv_fail(NV_ECORRUPT, "hub store: a match record is too short");
    kl = (size_t)((unsigned char)b[0] << 8 | (unsigned char)b[1]);
    if (kl + 2 > v->mv_size)
        return nv_fail(NV_ECORRUPT, "hub store: a match record is cut");
    *key = b + 2;
    *keylen = kl;
    s = b + 2 + kl;
    for (int i = 0; i < NVALS; i++) {
        const char *z = memchr(s, 0, (size_t)(e - s));
        if (z == NULL)
            return nv_fail(NV_ECORRUPT, "hub store: a match record is cut");
        vals[i] = s;
        s = z + 1;
    }
    snprintf(entity, entn, "%.*s", (int)strnlen(*key, kl), *key);
    memset(p, 0, sizeof(*p));
    p->entity = entity;
    p->first = vals[V_FIRST];
    p->last = vals[V_LAST];
    p->birth_name = vals[V_BIRTH_NAME];
    for (int i = 0; i < 3; i++) {
        p->emails[i] = vals[V_EMAIL0 + i];
        p->phones[i] = vals[V_PHONE0 + i];
    }
    p->postcode = vals[V_POSTCODE];
    p->city = vals[V_CITY];
    p->street = vals[V_STREET];
    p->birth_date = vals[V_BIRTH_DATE];
    p->national_id = vals[V_NATIONAL_ID];
    return 0;
}

static int
put_mrec(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid, const char *key,
         size_t keylen, const struct nv_buf *person, int append)
{
    uint8_t kb[8];
    MDB_val k = { 8, kb }, v;
    int rc;

    be64(kb, rid);
    v.mv_size = 2 + keylen + person->len;
    /* new rids only grow: appended at the end of the tree */
    rc = mdb_put(txn, db->mrec, &k, &v, MDB_RESERVE | (append ? MDB_APPEND : 0));
    if (rc == MDB_KEYEXIST && append)
        rc = mdb_put(txn, db->mrec, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return mdb_fail(rc, "cannot write a match record");
    ((uint8_t *)v.mv_data)[0] = (uint8_t)(keylen >> 8);
    ((uint8_t *)v.mv_data)[1] = (uint8_t)keylen;
    memcpy((char *)v.mv_data + 2, key, keylen);
    memcpy((char *)v.mv_data + 2 + keylen, person->data, person->len);
    return 0;
}

/* ---- identifiers: e-mail and phone -> records (GDPR requests) ---- */

uint64_t
nv_link_ident_hash(char kind, const char *value)
{
    uint64_t h = nv_fnv1a_str(nv_fnv1a(NV_FNV_OFFSET_LINK, &kind, 1), value);

    return h ? h : 1;
}

static int
ident_collect(struct bulk *bi, const struct match_person *p, uint64_t rid)
{
    for (int i = 0; i < 6; i++) {
        const char *x = i < 3 ? p->emails[i] : p->phones[i - 3];
        uint8_t kb[8];
        int r;
        if (x == NULL || *x == '\0')
            continue;
        be64(kb, nv_link_ident_hash(i < 3 ? 'e' : 'p', x));
        if ((r = bulk_add(bi, kb, rid)) < 0)
            return r;
    }
    return 0;
}

static int
ident_index(MDB_txn *txn, const struct nv_link_db *db, const struct match_person *p,
            uint64_t rid, int add)
{
    uint8_t kb[8], vb[8];
    MDB_val k = { 8, kb }, v = { 8, vb };

    be64(vb, rid);
    for (int i = 0; i < 6; i++) {
        const char *x = i < 3 ? p->emails[i] : p->phones[i - 3];
        int rc;
        if (x == NULL || *x == '\0')
            continue;
        be64(kb, nv_link_ident_hash(i < 3 ? 'e' : 'p', x));
        rc = add ? mdb_put(txn, db->ident, &k, &v, MDB_NODUPDATA)
                 : mdb_del(txn, db->ident, &k, &v);
        if (rc != 0 && rc != MDB_NOTFOUND && rc != MDB_KEYEXIST)
            return mdb_fail(rc, "cannot write the identifier index");
    }
    return 0;
}

int
nv_link_ident(MDB_txn *txn, const struct nv_link_db *db, char kind, const char *value,
              uint64_t **rids, size_t *n)
{
    uint8_t kb[8];
    MDB_val k = { 8, kb }, v;
    MDB_cursor *c;
    size_t cap = 0;
    int rc;

    *rids = NULL;
    *n = 0;
    be64(kb, nv_link_ident_hash(kind, value));
    if ((rc = mdb_cursor_open(txn, db->ident, &c)) != 0)
        return mdb_fail(rc, "cannot read the identifier index");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            if ((*rids = realloc(*rids, cap * sizeof(uint64_t))) == NULL)
                abort();
        }
        (*rids)[(*n)++] = get_be64(v.mv_data);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : mdb_fail(rc, "cannot read the identifier index");
}

/* ---- term frequencies ---- */

static const int tf_fields[] = { MATCH_F_FIRST, MATCH_F_LAST, MATCH_F_EMAIL,
                                 MATCH_F_PHONE };
#define NTF (sizeof(tf_fields) / sizeof(tf_fields[0]))

static const char *
tf_value(const struct match_person *p, int f)
{
    switch (f) {
    case MATCH_F_FIRST: return p->first;
    case MATCH_F_LAST: return p->last;
    case MATCH_F_EMAIL: return p->emails[0];
    case MATCH_F_PHONE: return p->phones[0];
    }
    return NULL;
}

static int
meta_get_u64(MDB_txn *txn, const struct nv_link_db *db, const char *name, uint64_t *out)
{
    MDB_val k = { strlen(name), (void *)name }, v;
    int rc = mdb_get(txn, db->meta, &k, &v);

    *out = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return mdb_fail(rc, "cannot read");
    if (v.mv_size != 8)
        return nv_fail(NV_ECORRUPT, "hub store: bad counter '%s'", name);
    *out = get_be64(v.mv_data);
    return 0;
}

static int
meta_put_u64(MDB_txn *txn, const struct nv_link_db *db, const char *name, uint64_t val)
{
    uint8_t b[8];
    MDB_val k = { strlen(name), (void *)name }, v = { 8, b };
    int rc;

    be64(b, val);
    if ((rc = mdb_put(txn, db->meta, &k, &v, 0)) != 0)
        return mdb_fail(rc, "cannot write");
    return 0;
}

/* The key of a term-frequency count (as in the tf DB: the field in the
 * top byte, the value hash below). */
static uint64_t
tf_key(int field, uint64_t h)
{
    uint64_t key = ((uint64_t)field << 56) ^ (h & 0x00ffffffffffffffULL);

    return key ? key : 1;
}

/* Term-frequency changes of one bundle, kept in memory and written once
 * (a bundle of 450,000 records would otherwise read and write the counters
 * millions of times): an nv_hmap of tf_key -> int64_t delta. */
static void
tfd_init(struct nv_hmap *t)
{
    nv_hmap_init(t, sizeof(int64_t), 1 << 13);
}

static int
tfd_add(struct nv_hmap *t, int field, uint64_t h, int64_t d)
{
    int64_t *v = nv_hmap_put(t, tf_key(field, h), NULL);

    if (v == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    *v += d;
    return 0;
}

/* Count (delta +1/-1) the values of p. */
static int
tf_count(struct nv_hmap *t, const struct match_person *p, int delta)
{
    int r;

    for (size_t i = 0; i < NTF; i++) {
        const char *v = tf_value(p, tf_fields[i]);
        if (v == NULL || *v == '\0')
            continue;
        if ((r = tfd_add(t, tf_fields[i], fnv64(v), delta)) < 0)
            return r;
    }
    return 0;
}

/* Write the changes: counts, per-field totals and sums of squares. */
static int
tfd_flush(MDB_txn *txn, const struct nv_link_db *db, const struct nv_hmap *t)
{
    int64_t dtotal[MATCH_NFIELDS] = { 0 }, dsq[MATCH_NFIELDS] = { 0 }, *delta;
    uint64_t key, *keys = NULL;
    size_t it = 0, n = 0;
    int r;

    /* in key order (the top byte is the field, as in LMDB's keys): the
     * bundle's values meet the stored counts page by page */
    if (nv_hmap_count(t) > 0 && (keys = malloc(nv_hmap_count(t) * sizeof(*keys))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    while ((delta = nv_hmap_next(t, &it, &key)) != NULL)
        if (*delta != 0)
            keys[n++] = key;
    if ((r = match_sort_u64(keys, n)) < 0) {
        free(keys);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t kb[9], vb[8];
        MDB_val k = { 9, kb }, d;
        int field;
        int64_t c = 0, nc;
        int rc;
        key = keys[i];
        delta = nv_hmap_get(t, key);
        nv_hstore_unmap_every(txn, i, 8192);
        field = (int)(key >> 56);
        kb[0] = (uint8_t)field;
        be64(kb + 1, key & 0x00ffffffffffffffULL);
        rc = mdb_get(txn, db->tf, &k, &d);
        if (rc == 0 && d.mv_size == 8)
            c = (int64_t)get_be64(d.mv_data);
        else if (rc != 0 && rc != MDB_NOTFOUND) {
            free(keys);
            return mdb_fail(rc, "cannot read term frequencies");
        }
        nc = c + *delta;
        if (nc < 0)
            nc = 0;
        dtotal[field] += nc - c;
        dsq[field] += nc * nc - c * c;
        if (nc == 0) {
            rc = mdb_del(txn, db->tf, &k, NULL);
        } else {
            MDB_val nv = { 8, vb };
            be64(vb, (uint64_t)nc);
            rc = mdb_put(txn, db->tf, &k, &nv, 0);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) {
            free(keys);
            return mdb_fail(rc, "cannot write term frequencies");
        }
    }
    free(keys);
    for (size_t i = 0; i < NTF; i++) {
        int f = tf_fields[i];
        char tn[16], sn[16];
        uint64_t total, sumsq;
        int r;
        if (dtotal[f] == 0 && dsq[f] == 0)
            continue;
        snprintf(tn, sizeof(tn), "tf:%d", f);
        snprintf(sn, sizeof(sn), "tfsq:%d", f);
        if ((r = meta_get_u64(txn, db, tn, &total)) < 0 ||
            (r = meta_get_u64(txn, db, sn, &sumsq)) < 0 ||
            (r = meta_put_u64(txn, db, tn, (uint64_t)((int64_t)total + dtotal[f]))) < 0 ||
            (r = meta_put_u64(txn, db, sn, (uint64_t)((int64_t)sumsq + dsq[f]))) < 0)
            return r;
    }
    return 0;
}

/* The term frequencies of p's values as the store counts them, into r (one
 * record: nv_link_load; the resolver counts in memory, lc_share).  Left
 * as match_rec_init set them if the totals cannot be read. */
static void
tf_from_store(MDB_txn *txn, const struct nv_link_db *db, const struct match_person *p,
              struct match_rec *r)
{
    uint64_t total[NTF];

    for (size_t i = 0; i < NTF; i++) {
        char tn[16], sn[16];
        uint64_t sq;
        snprintf(tn, sizeof(tn), "tf:%d", tf_fields[i]);
        snprintf(sn, sizeof(sn), "tfsq:%d", tf_fields[i]);
        if (meta_get_u64(txn, db, tn, &total[i]) < 0 || meta_get_u64(txn, db, sn, &sq) < 0)
            return;
    }
    for (size_t i = 0; i < NTF; i++) {
        const char *v = tf_value(p, tf_fields[i]);
        uint8_t kb[9];
        MDB_val k = { 9, kb }, d;
        float share = 0;
        if (v != NULL && *v != '\0' && total[i] > 0) {
            /* the counts are stored under the hash without its top byte */
            kb[0] = (uint8_t)tf_fields[i];
            be64(kb + 1, fnv64(v) & 0x00ffffffffffffffULL);
            if (mdb_get(txn, db->tf, &k, &d) == 0 && d.mv_size == 8)
                share = (float)((double)get_be64(d.mv_data) / (double)total[i]);
        }
        r->tf[tf_fields[i]] = share;
    }
}

/* ---- model ---- */

int
nv_link_model(MDB_txn *txn, const struct nv_link_db *db, struct match_model *mo)
{
    MDB_val k = { 5, (void *)"model" }, v;
    int rc = mdb_get(txn, db->meta, &k, &v);

    match_model_init(mo);
    if (rc == MDB_NOTFOUND) {
        mo->link = HUB_LINK;
        match_model_refine(mo);
        return 0;
    }
    if (rc != 0)
        return mdb_fail(rc, "cannot read the model");
    if (match_model_parse(mo, v.mv_data, v.mv_size) < 0)
        return nv_fail(NV_ECORRUPT, "hub store: the stored match model does not parse: %s",
                       nv_errmsg(NV_EFORMAT));
    return 0;
}

int
nv_link_model_save(MDB_txn *txn, const struct nv_link_db *db, const struct match_model *mo)
{
    struct nv_buf b = NV_BUF_INIT;
    MDB_val k = { 5, (void *)"model" }, v;
    int r, rc;

    if ((r = match_model_format(mo, &b)) < 0)
        return r;
    v.mv_size = b.len;
    v.mv_data = b.data;
    rc = mdb_put(txn, db->meta, &k, &v, 0);
    nv_buf_release(&b);
    return rc ? mdb_fail(rc, "cannot write the model") : 0;
}

/* ---- links and RCUs ---- */

int
nv_link_get(MDB_txn *txn, const struct nv_link_db *db, const char *key, size_t keylen,
            struct nv_link_val *out)
{
    MDB_val k = { keylen, (void *)key }, v;
    int rc = mdb_get(txn, db->links, &k, &v);

    if (rc == MDB_NOTFOUND)
        return NV_ENOTFOUND;
    if (rc != 0)
        return mdb_fail(rc, "cannot read links");
    if (v.mv_size != sizeof(*out))
        return nv_fail(NV_ECORRUPT, "hub store: a link has a bad size");
    memcpy(out, v.mv_data, sizeof(*out));
    out->rcu[sizeof(out->rcu) - 1] = '\0';
    return 0;
}

/* The change log (store.h): kind + what changed in txn. */
static inline int
stamp(MDB_txn *txn, const struct nv_link_db *db, char kind, const char *what, size_t len)
{
    return db->store != NULL ? nv_hstore_touch(txn, db->store, kind, what, len) : 0;
}

/* A record's link written: the record is stamped changed (its RCU and
 * status; the export finds the RCU's golden record through the link).  tb:
 * the status counters deferred to it (a bundle), or NULL: counted now. */
static int
put_link_as(MDB_txn *txn, const struct nv_link_db *db, const char *key, size_t keylen,
            const struct nv_link_val *lv, int stamped, struct nv_link_tally_batch *tb)
{
    MDB_val k = { keylen, (void *)key }, v = { sizeof(*lv), (void *)lv }, ov;
    struct nv_link_val old;
    int rc = mdb_get(txn, db->links, &k, &ov), r;
    const struct nv_link_val *was = rc == 0 && ov.mv_size == sizeof(old) ? &old : NULL;

    if (rc != 0 && rc != MDB_NOTFOUND)
        return mdb_fail(rc, "cannot read links");
    if (was != NULL)
        memcpy(&old, ov.mv_data, sizeof(old));
    /* the status counters, in this transaction */
    if ((r = tb != NULL ? nv_link_tally_defer(txn, db, tb, key, keylen, was, lv)
                        : nv_link_tally(txn, db, key, keylen, was, lv)) < 0)
        return r;
    if ((rc = mdb_put(txn, db->links, &k, &v, 0)) != 0)
        return mdb_fail(rc, "cannot write a link");
    return stamped ? 0 : stamp(txn, db, NV_CHG_RECORD, key, keylen);
}

static int
put_link(MDB_txn *txn, const struct nv_link_db *db, const char *key, size_t keylen,
         const struct nv_link_val *lv)
{
    return put_link_as(txn, db, key, keylen, lv, 0, NULL);
}

int
nv_link_resolve(MDB_txn *txn, const struct nv_link_db *db, const char *rcu, char *out)
{
    char cur[NV_RCU_LEN + 1];

    if (strlen(rcu) != NV_RCU_LEN)
        return nv_fail(NV_ENOTFOUND, "no RCU '%.40s' (an RCU is R and 12 characters)", rcu);
    snprintf(cur, sizeof(cur), "%s", rcu);
    for (int hops = 0; hops < 1000; hops++) {
        MDB_val k = { strlen(cur), cur }, v;
        int rc = mdb_get(txn, db->alias, &k, &v);
        if (rc == MDB_NOTFOUND) {
            memcpy(out, cur, NV_RCU_LEN + 1);
            return 0;
        }
        if (rc != 0)
            return mdb_fail(rc, "cannot read aliases");
        if (v.mv_size != NV_RCU_LEN)
            return nv_fail(NV_ECORRUPT, "hub store: a bad alias");
        memcpy(cur, v.mv_data, NV_RCU_LEN);
        cur[NV_RCU_LEN] = '\0';
    }
    return nv_fail(NV_ECORRUPT, "hub store: an alias loop");
}

static void
new_rcu(char out[16])
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    static uint8_t pool[4096];
    static size_t left = 0;
    uint8_t r[8];

    /* one getrandom() per 512 RCUs, not one each */
    if (left < sizeof(r)) {
        randombytes_buf(pool, sizeof(pool));
        left = sizeof(pool);
    }
    memcpy(r, pool + sizeof(pool) - left, sizeof(r));
    sodium_memzero(pool + sizeof(pool) - left, sizeof(r));
    left -= sizeof(r);
    out[0] = 'R';
    for (int i = 0; i < 12; i++) {
        uint64_t v = get_be64(r);
        out[1 + i] = b32[(v >> (5 * i)) & 31];
    }
    memset(out + NV_RCU_LEN, 0, 16 - NV_RCU_LEN);
}

static int
rcu_member(MDB_txn *txn, const struct nv_link_db *db, const char *rcu, uint64_t rid,
           int add)
{
    uint8_t b[8];
    MDB_val k = { strlen(rcu), (void *)rcu }, v = { 8, b };
    int rc;

    be64(b, rid);
    rc = add ? mdb_put(txn, db->rcus, &k, &v, MDB_NODUPDATA)
             : mdb_del(txn, db->rcus, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND && rc != MDB_KEYEXIST)
        return mdb_fail(rc, "cannot write cluster members");
    /* a member that left is found through no link: its golden record
     * changed, or is gone (a member that came is stamped with its link,
     * and the export finds this RCU through it) */
    return add ? 0 : stamp(txn, db, NV_CHG_PERSON, rcu, strlen(rcu));
}

/* The member rids of rcu, appended to *v (n, cap). */
static int
rcu_members(MDB_txn *txn, const struct nv_link_db *db, const char *rcu, uint64_t **v,
            size_t *n, size_t *cap)
{
    MDB_cursor *c;
    MDB_val k = { strlen(rcu), (void *)rcu }, d;
    int rc;

    if ((rc = mdb_cursor_open(txn, db->rcus, &c)) != 0)
        return mdb_fail(rc, "cannot read cluster members");
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_DUP)) {
        if (d.mv_size != 8)
            continue;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 16;
            if ((*v = realloc(*v, *cap * sizeof(uint64_t))) == NULL)
                abort();
        }
        (*v)[(*n)++] = get_be64(d.mv_data);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : mdb_fail(rc, "cannot read cluster members");
}

/* ---- review pairs and decisions (stored both ways: a+b and b+a) ---- */

static void
pair_key(uint8_t out[16], uint64_t a, uint64_t b)
{
    be64(out, a);
    be64(out + 8, b);
}

static int
put_both(MDB_txn *txn, MDB_dbi dbi, uint64_t a, uint64_t b, const char *text)
{
    uint8_t k1[16], k2[16];
    MDB_val ka = { 16, k1 }, kb = { 16, k2 }, v = { strlen(text), (void *)text };
    int rc;

    pair_key(k1, a, b);
    pair_key(k2, b, a);
    if ((rc = mdb_put(txn, dbi, &ka, &v, 0)) != 0 || (rc = mdb_put(txn, dbi, &kb, &v, 0)) != 0)
        return mdb_fail(rc, "cannot write a pair");
    return 0;
}

static int
del_both(MDB_txn *txn, MDB_dbi dbi, uint64_t a, uint64_t b)
{
    uint8_t k1[16], k2[16];
    MDB_val ka = { 16, k1 }, kb = { 16, k2 };
    int rc;

    pair_key(k1, a, b);
    pair_key(k2, b, a);
    if (((rc = mdb_del(txn, dbi, &ka, NULL)) != 0 && rc != MDB_NOTFOUND) ||
        ((rc = mdb_del(txn, dbi, &kb, NULL)) != 0 && rc != MDB_NOTFOUND))
        return mdb_fail(rc, "cannot delete a pair");
    return 0;
}

/* The partners of rid in dbi (review or decide), with the value text. */
static int
partners(MDB_txn *txn, MDB_dbi dbi, uint64_t rid,
         int (*fn)(void *ctx, uint64_t other, const MDB_val *v), void *ctx)
{
    MDB_cursor *c;
    uint8_t kb[16];
    MDB_val k = { 8, kb }, v;
    int rc, r = 0;

    be64(kb, rid);
    if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
        return mdb_fail(rc, "cannot read pairs");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16 || get_be64(k.mv_data) != rid)
            break;
        r = fn(ctx, get_be64((char *)k.mv_data + 8), &v);
    }
    mdb_cursor_close(c);
    if (r != 0)
        return r;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_fail(rc, "cannot read pairs");
}

struct collect {
    uint64_t *v;
    size_t n, cap;
    int *accept; /* for decisions */
};

static int
collect_fn(void *ctx, uint64_t other, const MDB_val *val)
{
    struct collect *c = ctx;

    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        if ((c->v = realloc(c->v, c->cap * sizeof(uint64_t))) == NULL ||
            (c->accept = realloc(c->accept, c->cap * sizeof(int))) == NULL)
            abort();
    }
    c->accept[c->n] = val->mv_size > 0 && memmem(val->mv_data, val->mv_size,
                                                  "\"accept\"", 8) != NULL;
    c->v[c->n++] = other;
    return 0;
}

/* Note rid in a set (an nv_hmap of rids, values of no size). */
static int
rid_note(struct nv_hmap *set, uint64_t rid)
{
    return nv_hmap_put(set, rid, NULL) != NULL ? 0 : nv_fail(NV_ENOMEM, "out of memory");
}

/* Close the review pairs of rid; their partners are noted in touched. */
static int
drop_reviews(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid, struct nv_hmap *touched)
{
    struct collect c = { NULL, 0, 0, NULL };
    int r = partners(txn, db->review, rid, collect_fn, &c);

    for (size_t i = 0; r == 0 && i < c.n; i++)
        if ((r = del_both(txn, db->review, rid, c.v[i])) == 0)
            r = rid_note(touched, c.v[i]);
    free(c.v);
    free(c.accept);
    return r;
}

static int
has_review(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid)
{
    MDB_cursor *c;
    uint8_t kb[8];
    MDB_val k = { 8, kb }, v;
    int rc, yes = 0;

    be64(kb, rid);
    if (mdb_cursor_open(txn, db->review, &c) != 0)
        return 0;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    yes = rc == 0 && k.mv_size == 16 && get_be64(k.mv_data) == rid;
    mdb_cursor_close(c);
    return yes;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A 32-bit value in an nv_hmap, added or replaced. */
static int
map_set32(struct nv_hmap *m, uint64_t key, uint32_t val)
{
    uint32_t *v = nv_hmap_put(m, key, NULL);

    if (v == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    *v = val;
    return 0;
}

/* ---- the resolver's memory: every stored record, prepared, per process ----
 *
 * Resolving a bundle reads a few blocks of candidates per record, and the
 * candidates' clusters: with the store in LMDB alone that is millions of
 * B-tree lookups and decodings per bundle, and the blocking index alone
 * dirtied most of its pages in every bundle.  The hub process keeps instead
 * every stored match record prepared (struct match_rec), its link, the
 * members of every RCU and the blocking keys in memory, built once from
 * mrec and links and then kept up to date by each bundle.  It stays valid
 * as long as the store's "cache" token (linkmeta) is the one this process
 * wrote last: any other writer (a review decision, another process, a
 * transaction that was aborted after a bundle) leaves another token and the
 * next bundle rebuilds it. */

#define LC_NONE UINT32_MAX
#define LC_DIRBITS 21

struct lcache {
    int valid;
    uint64_t token;
    MDB_env *env;
    size_t n, cap;               /* slots, in rid order; a dead slot has rid 0 */
    uint64_t *rid;
    struct match_rec *rec;
    uint32_t *koff;              /* record key: keys.data + koff, klen bytes */
    uint16_t *klen;
    struct nv_buf keys;
    struct nv_link_val *lv;      /* lv.rcu[0] == 0: no link */
    uint32_t *rnext;             /* next slot of the same RCU */
    uint8_t *inlist;             /* the slot is in its RCU's list */
    uint8_t *chg;                /* this bundle: keys to replace in bk */
    uint64_t (*tfh)[NTF];        /* fnv64 of the term-frequency values, 0 none */
    struct nv_hmap byrid;        /* rid -> slot (uint32_t) */
    struct nv_hmap byrcu;        /* fnv64(RCU) -> first slot (uint32_t); RCUs
                                    whose hashes collide share the list, and
                                    its readers compare the RCU */
    uint64_t *bk;                /* blocking keys: hash >> 32 << 32 | slot, sorted */
    size_t nbk;
    uint32_t *bdir;              /* bdir[d]: first key of bk whose top LC_DIRBITS
                                    bits are >= d (1 << LC_DIRBITS + 1 entries) */
    /* term frequencies of the live records: tf_key(field, fnv64) -> count,
     * and per field the total and the sum of squared counts (the tf DB and
     * its meta totals hold the same for other readers) */
    struct nv_hmap tfn;          /* uint32_t counts */
    uint64_t tftot[MATCH_NFIELDS];
    double tfsq[MATCH_NFIELDS];
};

static struct lcache lc;

static void
lc_free(void)
{
    for (size_t i = 0; i < lc.n; i++)
        match_rec_release(&lc.rec[i]);
    free(lc.rid);
    free(lc.rec);
    free(lc.koff);
    free(lc.klen);
    nv_buf_release(&lc.keys);
    free(lc.lv);
    free(lc.rnext);
    free(lc.inlist);
    free(lc.chg);
    free(lc.tfh);
    nv_hmap_release(&lc.byrid);
    nv_hmap_release(&lc.byrcu);
    free(lc.bk);
    free(lc.bdir);
    nv_hmap_release(&lc.tfn);
    memset(&lc, 0, sizeof(lc));
    nv_hmap_init(&lc.byrid, sizeof(uint32_t), 0);
    nv_hmap_init(&lc.byrcu, sizeof(uint32_t), 0);
    nv_hmap_init(&lc.tfn, sizeof(uint32_t), 0);
}

static const char *
lc_key(uint32_t s)
{
    return (const char *)lc.keys.data + lc.koff[s];
}

static uint32_t
lc_slot(uint64_t rid)
{
    uint32_t *v = nv_hmap_get(&lc.byrid, rid);

    return v != NULL ? *v : LC_NONE;
}

/* A new slot for rid with record key key (rec empty, no link). */
static int
lc_add(uint64_t rid, const char *key, size_t keylen, uint32_t *out)
{
    uint32_t s;
    int r;

    if (keylen > UINT16_MAX || lc.keys.len + keylen > UINT32_MAX || lc.n >= LC_NONE - 1)
        return nv_fail(NV_ETOOBIG, "hub store: too many records to resolve in memory");
    if (lc.n == lc.cap) {
        size_t cap = lc.cap ? 2 * lc.cap : 1 << 14;
#define GROW(p)                                                              \
    do {                                                                     \
        void *q_ = realloc(p, cap * sizeof(*(p)));                           \
        if (q_ == NULL)                                                      \
            return nv_fail(NV_ENOMEM, "out of memory");                      \
        (p) = q_;                                                            \
    } while (0)
        GROW(lc.rid);
        GROW(lc.rec);
        GROW(lc.koff);
        GROW(lc.klen);
        GROW(lc.lv);
        GROW(lc.rnext);
        GROW(lc.inlist);
        GROW(lc.chg);
        GROW(lc.tfh);
#undef GROW
        lc.cap = cap;
    }
    s = (uint32_t)lc.n;
    lc.koff[s] = (uint32_t)lc.keys.len;
    lc.klen[s] = (uint16_t)keylen;
    if ((r = nv_buf_add(&lc.keys, key, keylen)) < 0 || (r = nv_buf_add(&lc.keys, "", 1)) < 0)
        return r;
    lc.rid[s] = rid;
    memset(&lc.rec[s], 0, sizeof(lc.rec[s]));
    memset(&lc.lv[s], 0, sizeof(lc.lv[s]));
    lc.rnext[s] = LC_NONE;
    lc.inlist[s] = 0;
    lc.chg[s] = 0;
    memset(lc.tfh[s], 0, sizeof(lc.tfh[s]));
    if ((r = map_set32(&lc.byrid, rid, s)) < 0)
        return r;
    lc.n++;
    *out = s;
    return 0;
}

static void
lc_tf(uint32_t s, const struct match_person *p)
{
    for (size_t i = 0; i < NTF; i++) {
        const char *v = tf_value(p, tf_fields[i]);
        lc.tfh[s][i] = v != NULL && *v != '\0' ? fnv64(v) : 0;
    }
}

/* Count delta more records holding value hash h in field f. */
static int
lc_tfadd(int f, uint64_t h, int64_t delta)
{
    uint64_t key = tf_key(f, h);
    uint32_t *v = nv_hmap_get(&lc.tfn, key);
    int64_t c = v != NULL ? *v : 0, nc = c + delta;

    if (nc < 0)
        nc = 0;
    if (nc > UINT32_MAX)
        nc = UINT32_MAX;
    lc.tftot[f] = (uint64_t)((int64_t)lc.tftot[f] + (nc - c));
    lc.tfsq[f] += (double)nc * (double)nc - (double)c * (double)c;
    if (nc == 0) {
        if (v != NULL)
            nv_hmap_del(&lc.tfn, key);
        return 0;
    }
    if (v != NULL) {
        *v = (uint32_t)nc;
        return 0;
    }
    return map_set32(&lc.tfn, key, (uint32_t)nc);
}

/* The share of live records holding value hash h in field f (0: none). */
static float
lc_share(int f, uint64_t h)
{
    uint32_t *v;

    if (lc.tftot[f] == 0 || (v = nv_hmap_get(&lc.tfn, tf_key(f, h))) == NULL)
        return 0;
    return (float)((double)*v / (double)lc.tftot[f]);
}

/* The model's mean term frequencies, from the counts in memory. */
static void
lc_tf_model(struct match_model *mo)
{
    for (size_t i = 0; i < NTF; i++) {
        int f = tf_fields[i];
        double t = (double)lc.tftot[f];
        mo->tf_mean[f] = t > 0 ? lc.tfsq[f] / (t * t) : 0;
    }
}

static uint64_t
rcu_hash(const char *rcu)
{
    return fnv64(rcu);
}

/* Put slot s in (or take it out of) the member list of its RCU lv.rcu. */
static int
lc_link(uint32_t s)
{
    uint64_t h;
    uint32_t *head;
    int r;

    if (lc.inlist[s] || lc.lv[s].rcu[0] == '\0')
        return 0;
    h = rcu_hash(lc.lv[s].rcu);
    head = nv_hmap_get(&lc.byrcu, h);
    lc.rnext[s] = head != NULL ? *head : LC_NONE;
    if ((r = map_set32(&lc.byrcu, h, s)) < 0)
        return r;
    lc.inlist[s] = 1;
    return 0;
}

static void
lc_unlink(uint32_t s)
{
    uint64_t h;
    uint32_t *head, *p;

    if (!lc.inlist[s])
        return;
    h = rcu_hash(lc.lv[s].rcu);
    head = nv_hmap_get(&lc.byrcu, h);
    lc.inlist[s] = 0;
    if (head == NULL)
        return;
    if (*head == s) {
        if (lc.rnext[s] == LC_NONE)
            nv_hmap_del(&lc.byrcu, h);
        else
            *head = lc.rnext[s];
        return;
    }
    for (p = head; *p != LC_NONE; p = &lc.rnext[*p])
        if (lc.rnext[*p] == s) {
            lc.rnext[*p] = lc.rnext[s];
            return;
        }
}

/* The link of slot s becomes lv (member lists follow). */
static int
lc_set_link(uint32_t s, const struct nv_link_val *lv)
{
    if (strcmp(lc.lv[s].rcu, lv->rcu) != 0)
        lc_unlink(s);
    lc.lv[s] = *lv;
    return lc_link(s);
}

/* Add the blocking keys of slot s to v (hash >> 32 << 32 | s). */
static int
lc_keys(uint32_t s, uint64_t **v, size_t *n, size_t *cap)
{
    struct match_key keys[MATCH_MAX_KEYS];
    size_t nk = match_rec_keys(&lc.rec[s], keys, MATCH_MAX_KEYS);

    if (*n + nk > *cap) {
        size_t c = *cap ? *cap : 1 << 16;
        uint64_t *p;
        while (c < *n + nk)
            c *= 2;
        if ((p = realloc(*v, c * sizeof(uint64_t))) == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        *v = p;
        *cap = c;
    }
    for (size_t i = 0; i < nk; i++)
        (*v)[(*n)++] = (keys[i].hash & 0xFFFFFFFF00000000ULL) | s;
    return 0;
}

/* Run fn on jobs[0] here and on jobs[1] in a second thread (the hub's
 * machine has two cores), or both here when that thread cannot start or
 * the work is small. */
static void
two_jobs(void *(*fn)(void *), void *job0, void *job1, int small)
{
    pthread_t tid;
    int started = !small && pthread_create(&tid, NULL, fn, job1) == 0;

    fn(job0);
    if (started)
        pthread_join(tid, NULL);
    else
        fn(job1);
}

/* Prepare the records of slots [lo, hi) from their mrec values, and
 * their blocking keys, sorted, into bk. */
struct lc_job {
    _Alignas(64) const MDB_val *vals; /* a cache line each: no false sharing */
    size_t lo, hi;
    uint64_t *bk;
    size_t nbk, cap;
    int r;
};

static void *
lc_prepare(void *arg)
{
    struct lc_job *j = arg;

    for (size_t s = j->lo; s < j->hi && j->r == 0; s++) {
        struct match_person p;
        const char *key;
        size_t keylen;
        char entity[NV_NAME_MAX + 1];
        if ((j->r = decode_mrec(&j->vals[s], &p, &key, &keylen, entity, sizeof(entity))) < 0 ||
            (j->r = match_rec_init(&lc.rec[s], &p)) < 0 ||
            (j->r = lc_keys((uint32_t)s, &j->bk, &j->nbk, &j->cap)) < 0)
            break;
        lc_tf((uint32_t)s, &p);
    }
    if (j->r == 0)
        j->r = match_sort_u64(j->bk, j->nbk);
    return NULL;
}

/* Merge sorted add[0, nadd) into sorted v[0, n), which has room for
 * both: from the end, in place. */
static void
merge_u64(uint64_t *v, size_t n, const uint64_t *add, size_t nadd)
{
    size_t i = n, j = nadd, o = n + nadd;

    while (j > 0)
        v[--o] = i > 0 && v[i - 1] > add[j - 1] ? v[--i] : add[--j];
}

/* lc.bk: the two jobs' sorted keys, merged (a's array becomes lc.bk). */
static int
lc_merge_keys(struct lc_job *a, struct lc_job *b)
{
    uint64_t *p;

    if (b->nbk > 0 && a->cap < a->nbk + b->nbk) {
        if ((p = realloc(a->bk, (a->nbk + b->nbk) * sizeof(uint64_t))) == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        a->bk = p;
        a->cap = a->nbk + b->nbk;
    }
    merge_u64(a->bk, a->nbk, b->bk, b->nbk);
    lc.bk = a->bk;
    lc.nbk = a->nbk + b->nbk;
    a->bk = NULL;
    return 0;
}

static int lc_dir(void);

/* Build the cache from the store. */
static int
lc_build(MDB_txn *txn, const struct nv_link_db *db)
{
    MDB_cursor *c = NULL;
    MDB_val k, v, *vals = NULL;
    size_t vcap = 0;
    double t0 = now_s();
    int rc, r = 0;

    lc_free();
    if ((rc = mdb_cursor_open(txn, db->mrec, &c)) != 0)
        return mdb_fail(rc, "cannot read match records");
    /* the values stay valid until the transaction writes again */
    while (r == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        struct match_person p;
        const char *key;
        size_t keylen;
        char entity[NV_NAME_MAX + 1];
        uint32_t s;
        if (k.mv_size != 8)
            continue;
        if ((r = decode_mrec(&v, &p, &key, &keylen, entity, sizeof(entity))) < 0 ||
            (r = lc_add(get_be64(k.mv_data), key, keylen, &s)) < 0)
            break;
        if (s >= vcap) {
            MDB_val *nv;
            vcap = vcap ? 2 * vcap : 1 << 16;
            if ((nv = realloc(vals, vcap * sizeof(*nv))) == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                break;
            }
            vals = nv;
        }
        vals[s] = v;
    }
    mdb_cursor_close(c);
    if (r == 0 && rc != MDB_NOTFOUND)
        r = mdb_fail(rc, "cannot read match records");
    if (r == 0 && lc.n > 0) {
        struct lc_job jobs[2] = { { .vals = vals, .lo = 0, .hi = lc.n / 2 },
                                  { .vals = vals, .lo = lc.n / 2, .hi = lc.n } };
        two_jobs(lc_prepare, &jobs[0], &jobs[1], lc.n < 10000);
        r = jobs[0].r < 0 ? jobs[0].r : jobs[1].r;
        if (r == 0)
            r = lc_merge_keys(&jobs[0], &jobs[1]);
        free(jobs[0].bk);
        free(jobs[1].bk);
    }
    free(vals);
    nv_hstore_unmap(txn); /* the match records read */
    if (r == 0 && (rc = mdb_cursor_open(txn, db->links, &c)) != 0)
        r = mdb_fail(rc, "cannot read links");
    while (r == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        struct nv_link_val lv;
        uint32_t s;
        if (v.mv_size != sizeof(lv))
            continue;
        memcpy(&lv, v.mv_data, sizeof(lv));
        lv.rcu[sizeof(lv.rcu) - 1] = '\0';
        if ((s = lc_slot(lv.rid)) == LC_NONE)
            continue;
        nv_hstore_unmap_every(txn, s, 65536);
        lc.lv[s] = lv;
        r = lc_link(s);
    }
    if (r == 0) {
        mdb_cursor_close(c);
        if (rc != MDB_NOTFOUND)
            r = mdb_fail(rc, "cannot read links");
    }
    for (size_t s = 0; r == 0 && s < lc.n; s++)
        for (size_t i = 0; r == 0 && i < NTF; i++)
            if (lc.tfh[s][i] != 0)
                r = lc_tfadd(tf_fields[i], lc.tfh[s][i], 1);
    if (r == 0)
        r = lc_dir();
    if (r < 0) {
        lc_free();
        return r;
    }
    lc.valid = 1;
    lc.env = mdb_txn_env(txn);
    nv_hstore_unmap(txn);
    nv_debug("link", "%zu records prepared in memory in %.2f s", lc.n, now_s() - t0);
    return 0;
}

/* The cache, valid for txn (rebuilt if another writer came between). */
static int
lc_ready(MDB_txn *txn, const struct nv_link_db *db)
{
    uint64_t token;
    int r;

    if ((r = meta_get_u64(txn, db, "cache", &token)) < 0)
        return r;
    if (lc.valid && token == lc.token && lc.env == mdb_txn_env(txn))
        return 0;
    if ((r = lc_build(txn, db)) < 0)
        return r;
    lc.token = token;
    return 0;
}

/* After a successful change of the store in txn: a new token, so that the
 * cache is trusted only if txn commits. */
static int
lc_seal(MDB_txn *txn, const struct nv_link_db *db)
{
    uint64_t token;

    do
        randombytes_buf(&token, sizeof(token));
    while (token == 0);
    if (meta_put_u64(txn, db, "cache", token) < 0) {
        lc_free();
        return NV_ECORRUPT;
    }
    lc.token = token;
    return 0;
}

/* Another writer changed links or clusters in txn: the cache is rebuilt by
 * the next bundle. */
static int
lc_invalidate(MDB_txn *txn, const struct nv_link_db *db)
{
    lc_free();
    return meta_put_u64(txn, db, "cache", 0);
}

/* Replace the blocking keys of the changed slots (chg) and add those of
 * slots from first on. */
static int
lc_reindex(size_t first)
{
    uint64_t *add = NULL;
    size_t nadd = 0, cap = 0, w = 0;
    int r = 0;

    for (size_t s = 0; s < lc.n && r == 0; s++)
        if ((lc.chg[s] || s >= first) && lc.rid[s] != 0)
            r = lc_keys((uint32_t)s, &add, &nadd, &cap);
    if (r < 0) {
        free(add);
        return r;
    }
    for (size_t i = 0; i < lc.nbk; i++) {
        uint32_t s = (uint32_t)lc.bk[i];
        if (!lc.chg[s])
            lc.bk[w++] = lc.bk[i];
    }
    lc.nbk = w;
    if (nadd > 0) {
        uint64_t *nb = realloc(lc.bk, (lc.nbk + nadd) * sizeof(uint64_t));
        if (nb == NULL) {
            free(add);
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        lc.bk = nb;
        if ((r = match_sort_u64(add, nadd)) < 0) {
            free(add);
            return r;
        }
        merge_u64(lc.bk, lc.nbk, add, nadd);
        lc.nbk += nadd;
    }
    free(add);
    for (size_t s = 0; s < lc.n; s++)
        lc.chg[s] = 0;
    return lc_dir();
}

/* The directory of bk (a binary search over tens of millions of keys
 * missed the cache at every step). */
static int
lc_dir(void)
{
    size_t nd = (size_t)1 << LC_DIRBITS, i = 0;

    if (lc.nbk >= UINT32_MAX)
        return nv_fail(NV_ETOOBIG, "hub store: too many blocking keys to resolve in memory");
    if (lc.bdir == NULL && (lc.bdir = malloc((nd + 1) * sizeof(uint32_t))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (size_t d = 0; d <= nd; d++) {
        while (i < lc.nbk && (lc.bk[i] >> (64 - LC_DIRBITS)) < d)
            i++;
        lc.bdir[d] = (uint32_t)i;
    }
    return 0;
}

/* The range of bk holding key hash h (top 32 bits). */
static void
lc_block(uint64_t h, size_t *lo, size_t *hi)
{
    uint64_t k = h & 0xFFFFFFFF00000000ULL;
    size_t d = (size_t)(k >> (64 - LC_DIRBITS));
    size_t a = lc.bdir[d], b = lc.bdir[d + 1];

    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (lc.bk[m] < k)
            a = m + 1;
        else
            b = m;
    }
    *lo = a;
    for (b = a; b < lc.nbk && (lc.bk[b] & 0xFFFFFFFF00000000ULL) == k; b++)
        ;
    *hi = b;
}

/* ---- the batch of one bundle ---- */

struct ent {
    uint64_t rid;
    uint32_t slot;                 /* in the cache */
    int bundle;                    /* a record the bundle changed */
    char old_rcu[16];              /* its RCU before ("" none) */
    struct nv_link_val lv;         /* stored records: their link */
    const char *key;               /* record key (the cache's) */
    size_t keylen;
};

/* The records of one resolution: borrowed from the cache (recs are bytewise
 * copies of the cache's records, with their term frequencies). */
struct batch {
    struct ent *e;
    struct match_rec *recs;
    size_t n, cap;
    struct nv_hmap idx; /* rid -> index (uint32_t) */
    uint32_t *byslot;  /* cache slot -> index + 1, 0 not in the batch */
    size_t nslot;
};

static int
batch_find(const struct batch *b, uint64_t rid)
{
    uint32_t *v = nv_hmap_get(&b->idx, rid);

    return v != NULL ? (int)*v : -1;
}

static void
batch_init(struct batch *b)
{
    memset(b, 0, sizeof(*b));
    nv_hmap_init(&b->idx, sizeof(uint32_t), 0);
}

static void
batch_free(struct batch *b)
{
    free(b->e);
    free(b->recs);
    free(b->byslot);
    nv_hmap_release(&b->idx);
    batch_init(b);
}

/* The term frequencies of slot s's values now, per field (0: unknown). */
static void
lc_tf_now(uint32_t s, float tf[MATCH_NFIELDS])
{
    memset(tf, 0, MATCH_NFIELDS * sizeof(float));
    for (size_t i = 0; i < NTF; i++)
        if (lc.tfh[s][i] != 0)
            tf[tf_fields[i]] = lc_share(tf_fields[i], lc.tfh[s][i]);
}

/* The cached record of slot s, with its term frequencies now, into *out
 * (a shallow copy: it shares the cache's values). */
static void
lc_rec_tf(uint32_t s, struct match_rec *out)
{
    *out = lc.rec[s];
    lc_tf_now(s, out->tf);
}

/* Add cache slot s to the batch (*idx its index). */
static int
batch_load(struct batch *b, uint32_t s, int bundle, int *idx)
{
    struct ent *e;
    int r;

    if (b->nslot < lc.n) {
        uint32_t *p = realloc(b->byslot, lc.n * sizeof(uint32_t));
        if (p == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        memset(p + b->nslot, 0, (lc.n - b->nslot) * sizeof(uint32_t));
        b->byslot = p;
        b->nslot = lc.n;
    }
    if (b->byslot[s] != 0) {
        *idx = (int)b->byslot[s] - 1;
        return 0;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4096;
        struct ent *ne = realloc(b->e, cap * sizeof(*ne));
        struct match_rec *nr;
        if (ne == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        b->e = ne;
        if ((nr = realloc(b->recs, cap * sizeof(*nr))) == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        b->recs = nr;
        b->cap = cap;
    }
    e = &b->e[b->n];
    memset(e, 0, sizeof(*e));
    e->rid = lc.rid[s];
    e->slot = s;
    e->bundle = bundle;
    e->key = lc_key(s);
    e->keylen = lc.klen[s];
    lc_rec_tf(s, &b->recs[b->n]);
    if (!bundle && lc.lv[s].rcu[0] != '\0') {
        e->lv = lc.lv[s];
        memcpy(e->old_rcu, e->lv.rcu, sizeof(e->old_rcu));
    }
    if ((r = map_set32(&b->idx, e->rid, (uint32_t)b->n)) < 0)
        return r;
    b->byslot[s] = (uint32_t)b->n + 1;
    *idx = (int)b->n++;
    return 0;
}

/* Add every member of rcu (not yet in the batch), at most CLUSTER_MAX. */
static int
batch_cluster(struct batch *b, const char *rcu, uint64_t *stat)
{
    uint32_t *head;
    size_t seen = 0;
    int r = 0, idx;

    if (rcu[0] == '\0' || (head = nv_hmap_get(&lc.byrcu, rcu_hash(rcu))) == NULL)
        return 0;
    for (uint32_t s = *head; s != LC_NONE && seen < CLUSTER_MAX && r == 0; s = lc.rnext[s]) {
        if (strcmp(lc.lv[s].rcu, rcu) != 0)
            continue;
        seen++;
        if (s < b->nslot && b->byslot[s] != 0)
            continue;
        if ((r = batch_load(b, s, 0, &idx)) == 0)
            (*stat)++;
    }
    return r;
}

/* Stored records near the bundle's: every stored record sharing a blocking
 * key (in a block of at most BLOCK_MAX) with one of the bundle's records is
 * compared with it and scored with the model now, and only those with a
 * pair that scores at least the review threshold join the batch, with
 * their clusters.  A stored record whose every pair with the bundle scores
 * below review takes no part: its pairs would be kept apart, listed
 * nowhere, and its cluster stays as it is.  At a million stored records a
 * bundle's keys reach several stored records per record of the bundle, and
 * carrying them all through match_batch and the RCU step cost most of the
 * bundle's time and memory. */
struct near_job {
    const struct batch *b;
    const uint64_t *pairs; /* slot << 32 | batch index, sorted */
    uint8_t *keep;
    const struct match_model *mo;
    size_t lo, hi;
};

/* The pairs [lo, hi) scored; a stored record's term frequencies are set
 * as of now before its first pair that needs them (its pairs are all in
 * one job's range). */
static void *
near_worker(void *arg)
{
    struct near_job *j = arg;
    struct match_cmp c;
    uint32_t tf_slot = UINT32_MAX; /* whose term frequencies are set */

    for (size_t k = j->lo; k < j->hi; k++) {
        uint32_t s = (uint32_t)(j->pairs[k] >> 32);
        const struct match_rec *st = &lc.rec[s];
        const struct match_rec *nw = &j->b->recs[j->pairs[k] & 0xFFFFFFFF];
        /* both records' values, ahead: the pairs are memory-bound */
        if (k + 16 < j->hi)
            __builtin_prefetch(&j->b->recs[j->pairs[k + 16] & 0xFFFFFFFF]);
        if (k + 8 < j->hi) {
            const char *x = j->b->recs[j->pairs[k + 8] & 0xFFFFFFFF].arena;
            const char *y = lc.rec[j->pairs[k + 8] >> 32].arena;
            for (int l = 0; l < 4; l++) {
                __builtin_prefetch(x + 64 * l);
                __builtin_prefetch(y + 64 * l);
            }
        }
        /* most pairs cannot reach review whatever their names and term
         * frequencies say */
        if (match_score_bound(j->mo, nw, st) < j->mo->review - 1e-9) {
            j->keep[k] = 0;
            continue;
        }
        if (tf_slot != s) {
            lc_tf_now(s, lc.rec[s].tf);
            tf_slot = s;
        }
        match_compare(nw, st, &c);
        j->keep[k] = match_score(j->mo, nw, st, &c) >= j->mo->review;
    }
    return NULL;
}

/* The candidate pairs of the bundle's records [lo, hi): each stored record
 * (not in the batch) sharing a blocking key with one of them, in a block
 * of at most BLOCK_MAX, once per record. */
struct cand_job {
    _Alignas(64) const struct batch *b; /* a cache line each */
    size_t lo, hi;
    int progress;          /* the main thread's job ticks the progress */
    uint64_t *pairs;       /* slot << 32 | batch index */
    size_t n, cap;
    int r;
};

static void *
cand_worker(void *arg)
{
    struct cand_job *j = arg;
    const struct batch *b = j->b;
    struct match_key keys[MATCH_MAX_KEYS];

    for (size_t i = j->lo; i < j->hi && j->r == 0; i++) {
        size_t nk = match_rec_keys(&b->recs[i], keys, MATCH_MAX_KEYS), first = j->n;
        if (j->progress)
            nv_progress_add(2);
        for (size_t k = 0; k < nk; k++) {
            size_t lo, hi;
            lc_block(keys[k].hash, &lo, &hi);
            if (hi - lo > BLOCK_MAX || hi - lo < 2)
                continue;
            if (j->n + (hi - lo) > j->cap) {
                size_t c = j->cap ? 2 * j->cap : 1 << 20;
                uint64_t *p;
                while (c < j->n + (hi - lo))
                    c *= 2;
                if ((p = realloc(j->pairs, c * sizeof(uint64_t))) == NULL) {
                    j->r = nv_fail(NV_ENOMEM, "out of memory");
                    return NULL;
                }
                j->pairs = p;
                j->cap = c;
            }
            for (size_t x = lo; x < hi; x++) {
                uint32_t s = (uint32_t)lc.bk[x];
                if ((s < b->nslot && b->byslot[s] != 0) || lc.rid[s] == 0)
                    continue;
                j->pairs[j->n++] = (uint64_t)s << 32 | i;
            }
        }
        /* a stored record shares several keys with this one as often as
         * not: once each, so that the array to sort stays small */
        if (j->n - first > 1 && (j->r = match_sort_u64(j->pairs + first, j->n - first)) == 0) {
            size_t u = first + 1;
            for (size_t k = first + 1; k < j->n; k++)
                if (j->pairs[k] != j->pairs[u - 1])
                    j->pairs[u++] = j->pairs[k];
            j->n = u;
        }
    }
    return NULL;
}

static int
near(struct batch *b, size_t nbundle, const struct match_model *mo, uint64_t *loaded,
     size_t *npairs)
{
    struct cand_job cj[2] = { { .b = b, .lo = 0, .hi = nbundle / 2, .progress = 1 },
                              { .b = b, .lo = nbundle / 2, .hi = nbundle } };
    uint64_t *pairs = NULL;
    uint8_t *keep = NULL;
    size_t n = 0;
    int r;

    /* the candidates, from both halves of the bundle at once */
    two_jobs(cand_worker, &cj[0], &cj[1], nbundle < 2048);
    r = cj[0].r < 0 ? cj[0].r : cj[1].r;
    if (r == 0 && cj[1].n > 0 && cj[0].cap < cj[0].n + cj[1].n) {
        uint64_t *p = realloc(cj[0].pairs, (cj[0].n + cj[1].n) * sizeof(uint64_t));
        if (p == NULL)
            r = nv_fail(NV_ENOMEM, "out of memory");
        else
            cj[0].pairs = p;
    }
    if (r == 0 && cj[1].n > 0)
        memcpy(cj[0].pairs + cj[0].n, cj[1].pairs, cj[1].n * sizeof(uint64_t));
    pairs = cj[0].pairs;
    n = cj[0].n + cj[1].n;
    free(cj[1].pairs);
    /* by stored record; no pair twice (cand_worker keeps each record's
     * once, and the records have batch indexes of their own) */
    if (r == 0)
        r = match_sort_u64(pairs, n);
    *npairs = n;
    if (r == 0 && n > 0 && (keep = malloc(n)) == NULL)
        r = nv_fail(NV_ENOMEM, "out of memory");
    if (r == 0 && n > 0) {
        /* split between two stored records */
        size_t half = n / 2;
        while (half > 0 && half < n && (pairs[half] >> 32) == (pairs[half - 1] >> 32))
            half++;
        struct near_job jobs[2] = { { b, pairs, keep, mo, 0, half },
                                    { b, pairs, keep, mo, half, n } };
        two_jobs(near_worker, &jobs[0], &jobs[1], n < 10000);
    }
    for (size_t k = 0; r == 0 && k < n; k++) {
        uint32_t s = (uint32_t)(pairs[k] >> 32);
        int idx;
        if (!keep[k] || (s < b->nslot && b->byslot[s] != 0))
            continue;
        if ((r = batch_load(b, s, 0, &idx)) == 0) {
            (*loaded)++;
            r = batch_cluster(b, b->e[idx].old_rcu, loaded);
        }
    }
    free(pairs);
    free(keep);
    return r;
}

/* ---- clusters to RCUs ---- */

struct vote {
    char rcu[16];
    unsigned n;
    size_t target; /* formers: the cluster holding most of its members */
};

static int
vote_cmp(const void *x, const void *y)
{
    const struct vote *a = x, *b = y;

    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return strcmp(a->rcu, b->rcu);
}

/* RCU maps (a bundle can touch a million clusters): nv_hmaps keyed by the
 * RCU, hashed with rcu_hash; the value starts with the RCU string. */
static int
rcu_eq(const void *value, const void *key)
{
    return strcmp(value, key) == 0;
}

/* The entry of rcu in m (created, zeroed but for the RCU, if absent);
 * NULL if out of memory. */
static void *
rcu_entry(struct nv_hmap *m, const char *rcu)
{
    int isnew;
    char *e = nv_hmap_insert(m, rcu_hash(rcu), rcu, &isnew);

    if (e == NULL)
        return NULL;
    if (isnew)
        snprintf(e, 16, "%s", rcu);
    return e;
}

struct cl {
    uint32_t root;
    uint32_t first, n; /* range in order[] */
};

static int
cl_cmp(const void *x, const void *y)
{
    const struct cl *a = x, *b = y;

    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return a->root < b->root ? -1 : a->root > b->root;
}

static const uint32_t *sort_roots;

static int
by_root(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    if (sort_roots[a] != sort_roots[b])
        return sort_roots[a] < sort_roots[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* Union-find over the batch, to apply decisions to match_batch's clusters. */
static uint32_t
uf_find(uint32_t *p, uint32_t x)
{
    while (p[x] != x) {
        p[x] = p[p[x]];
        x = p[x];
    }
    return x;
}

/* Apply the team's decisions: an accepted pair in two clusters joins them;
 * a rejected pair in one cluster sends the bundle's record (or the second)
 * out to a cluster of its own. */
static int
apply_decisions(MDB_txn *txn, const struct nv_link_db *db, struct batch *b, uint32_t *cl)
{
    struct collect c = { NULL, 0, 0, NULL };
    int r = 0;

    for (size_t i = 0; i < b->n && r == 0; i++) {
        if (!b->e[i].bundle)
            continue;
        c.n = 0;
        if ((r = partners(txn, db->decide, b->e[i].rid, collect_fn, &c)) < 0)
            break;
        for (size_t j = 0; j < c.n; j++) {
            int o = batch_find(b, c.v[j]);
            uint32_t ri, ro;
            if (o < 0)
                continue;
            ri = uf_find(cl, (uint32_t)i);
            ro = uf_find(cl, (uint32_t)o);
            if (c.accept[j] && ri != ro) {
                cl[ri < ro ? ro : ri] = ri < ro ? ri : ro;
            } else if (!c.accept[j] && ri == ro) {
                /* out: i becomes its own root; members pointing at i move */
                uint32_t keep = (uint32_t)o;
                for (size_t k = 0; k < b->n; k++)
                    if (k != i && uf_find(cl, (uint32_t)k) == ri)
                        cl[k] = keep;
                cl[keep] = keep;
                for (size_t k = 0; k < b->n; k++)
                    if (k != i && uf_find(cl, (uint32_t)k) == keep)
                        cl[k] = keep;
                cl[i] = (uint32_t)i;
            }
        }
    }
    free(c.v);
    free(c.accept);
    return r;
}

/* ---- one bundle, step by step ----
 *
 * nv_link_bundle runs these steps in order over one context, struct
 * bundle: store (the changes into the store and the cache), collect (the
 * batch: the bundle's records and the clusters they were in), weigh (the
 * model, refitted when due), near (the stored records worth comparing,
 * above), prepare (what match_batch resolves afresh), compare
 * (match_batch), cluster (the team's decisions applied), assign RCUs, the
 * review pairs, write the links, save.  A step that fails leaves the rest
 * undone: nv_link_bundle drops the cache and the caller aborts txn. */

struct bundle {
    MDB_txn *txn;
    const struct nv_link_db *db;
    struct nv_link_set *set;
    struct nv_link_stats *st;
    size_t first_new;    /* cache slots from here on came with the bundle */
    struct nv_hmap tfd;  /* term-frequency changes (tfd_add) */
    struct bulk bi, br;  /* ident and rcus entries, written sorted */
    struct nv_link_tally_batch tb; /* the links' status counters, deferred */
    struct nv_hmap revt; /* rids whose review pairs changed (a set) */
    struct batch b;      /* the records resolved together */
    size_t nbundle;      /* b.e[0, nbundle) are the bundle's records */
    size_t ncand;        /* pairs with stored records scored by near() */
    struct match_model mo;
    double lambda0;      /* mo's prior as fitted (and stored) */
    uint8_t *active;     /* for match_batch: opts.active, opts.group */
    uint32_t *group;
    struct match_result res;
    int have_res;
    uint32_t *cl;        /* batch index -> the root of its cluster */
    uint32_t *order;     /* batch indexes, grouped by cluster */
    struct cl *cls;      /* the clusters (ranges of order), biggest first */
    size_t ncl;
    char (*chosen)[16];  /* cluster -> its RCU */
    float *best;         /* batch index -> best score within its cluster */
    uint64_t *woken;     /* after a refit: review pairs (a, b) the new
                            weights put above link, resolved again */
    size_t nwoken;
    double t[5];         /* timings for the debug line */
};

static void
bundle_init(struct bundle *bs, MDB_txn *txn, const struct nv_link_db *db,
            struct nv_link_set *set, struct nv_link_stats *st)
{
    memset(bs, 0, sizeof(*bs));
    bs->txn = txn;
    bs->db = db;
    bs->set = set;
    bs->st = st;
    tfd_init(&bs->tfd);
    nv_link_tally_batch_init(&bs->tb);
    bs->bi.klen = 8;
    bs->br.klen = 16;
    nv_hmap_init(&bs->revt, 0, 0);
    batch_init(&bs->b);
    bs->t[0] = now_s();
}

static void
bundle_release(struct bundle *bs)
{
    if (bs->have_res)
        match_result_release(&bs->res);
    batch_free(&bs->b);
    nv_hmap_release(&bs->tfd);
    nv_link_tally_batch_release(&bs->tb);
    bulk_free(&bs->bi);
    bulk_free(&bs->br);
    nv_hmap_release(&bs->revt);
    free(bs->active);
    free(bs->group);
    free(bs->woken);
    free(bs->cl);
    free(bs->order);
    free(bs->cls);
    free(bs->chosen);
    free(bs->best);
}

static uint64_t
key_hash(const char *key, size_t len)
{
    return nv_fnv1a(NV_FNV_OFFSET_LINK, key, len);
}

/* A map of items by record key: the value points to the item. */
static int
item_key_eq(const void *value, const void *key)
{
    const struct nv_link_item *a = *(const struct nv_link_item *const *)value, *b = key;

    return a->keylen == b->keylen && memcmp(a->key, b->key, a->keylen) == 0;
}

/* Mark (skip) each item whose key comes again later in set: a key given
 * twice counts with its last version. */
static int
mark_repeats(struct nv_link_set *set)
{
    struct nv_hmap last; /* record key -> the item that counts */
    int r = 0;

    nv_hmap_init_eq(&last, sizeof(struct nv_link_item *), set->n, item_key_eq);
    for (size_t i = set->n; i-- > 0;) {
        struct nv_link_item *it = &set->v[i], **e;
        int isnew;
        if ((e = nv_hmap_insert(&last, key_hash(it->key, it->keylen), it, &isnew)) == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            break;
        }
        it->skip = !isnew;
        if (isnew)
            *e = it;
    }
    nv_hmap_release(&last);
    return r;
}

/* Store, for an item whose key is stored (old): the old version leaves the
 * term frequencies, the identifier index, its cluster and its review pairs
 * (their partners noted in revt); its cache slot is marked for new
 * blocking keys (lc_reindex, once the candidates are in).  A delete leaves
 * the store (mrec, links) and the cache altogether. */
static int
take_out(struct bundle *bs, const struct nv_link_item *it, const struct nv_link_val *old)
{
    MDB_txn *txn = bs->txn;
    const struct nv_link_db *db = bs->db;
    uint8_t kb[8];
    MDB_val k = { 8, kb }, v, lk = { it->keylen, it->key };
    uint32_t os = lc_slot(old->rid);
    int rc, r;

    be64(kb, old->rid);
    if (mdb_get(txn, db->mrec, &k, &v) == 0) {
        struct match_person p;
        const char *key;
        size_t keylen;
        char entity[NV_NAME_MAX + 1];
        if ((r = decode_mrec(&v, &p, &key, &keylen, entity, sizeof(entity))) < 0 ||
            (r = tf_count(&bs->tfd, &p, -1)) < 0 ||
            (r = ident_index(txn, db, &p, old->rid, 0)) < 0)
            return r;
    }
    if (os != LC_NONE) {
        lc.chg[os] = 1;
        lc_unlink(os);
    }
    if ((r = rcu_member(txn, db, old->rcu, old->rid, 0)) < 0 ||
        (r = drop_reviews(txn, db, old->rid, &bs->revt)) < 0)
        return r;
    if (!it->deleted)
        return 0;
    if ((rc = mdb_del(txn, db->mrec, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
        return mdb_fail(rc, "cannot delete a match record");
    /* the status counters: the link as stored leaves them */
    if (mdb_get(txn, db->links, &lk, &v) == 0 && v.mv_size == sizeof(struct nv_link_val)) {
        struct nv_link_val was;
        memcpy(&was, v.mv_data, sizeof(was));
        if ((r = nv_link_tally(txn, db, it->key, it->keylen, &was, NULL)) < 0)
            return r;
    }
    if ((rc = mdb_del(txn, db->links, &lk, NULL)) != 0 && rc != MDB_NOTFOUND)
        return mdb_fail(rc, "cannot delete a link");
    if (os != LC_NONE) {
        nv_hmap_del(&lc.byrid, old->rid);
        match_rec_release(&lc.rec[os]);
        memset(&lc.lv[os], 0, sizeof(lc.lv[os]));
        lc.rid[os] = 0;
    }
    return 0;
}

/* Store, the new version of an item under rid (is_new: a rid never
 * stored, appended to mrec): its match record written, its values counted
 * (term frequencies; identifier index entries into bi), and the record
 * prepared in its cache slot (added if new), marked for new blocking keys.
 * Its link is written by the last steps. */
static int
put_in(struct bundle *bs, const struct nv_link_item *it, uint64_t rid, int is_new)
{
    const char *key;
    size_t keylen;
    char entity[NV_NAME_MAX + 1];
    struct match_person p;
    MDB_val v = { 0, NULL };
    struct nv_buf tmp = NV_BUF_INIT;
    int r;

    if ((r = put_mrec(bs->txn, bs->db, rid, it->key, it->keylen, &it->person, is_new)) < 0)
        return r;
    /* decode what was just written for the term frequencies */
    if ((r = nv_buf_add(&tmp, "\0\0", 2)) < 0 ||
        (r = nv_buf_add(&tmp, it->person.data, it->person.len)) < 0) {
        nv_buf_release(&tmp);
        return r;
    }
    v.mv_size = tmp.len;
    v.mv_data = tmp.data;
    if ((r = decode_mrec(&v, &p, &key, &keylen, entity, sizeof(entity))) == 0)
        r = tf_count(&bs->tfd, &p, +1);
    if (r == 0)
        r = ident_collect(&bs->bi, &p, rid);
    if (r == 0) {
        /* prepared once, kept in memory */
        uint32_t s = lc_slot(rid);
        struct match_rec mr;
        if (s == LC_NONE)
            r = lc_add(rid, it->key, it->keylen, &s);
        if (r == 0 && (r = match_rec_init(&mr, &p)) == 0) {
            match_rec_release(&lc.rec[s]);
            lc.rec[s] = mr;
            lc.chg[s] = 1;
            lc_tf(s, &p);
        }
    }
    nv_buf_release(&tmp);
    return r;
}

/* Step 1, store: the bundle's changes into the store and the cache, each
 * key once (mark_repeats): a stored key's old version is taken out
 * (take_out), a new version is put in (put_in) under the key's rid or the
 * next one; then the rid counter, the term-frequency counts (in the store
 * and in memory) and the identifier index are written.  Sets each item's
 * rid (not for deletes) and old_rcu (its RCU before, "" if none). */
static int
bundle_store(struct bundle *bs)
{
    struct nv_link_set *set = bs->set;
    uint64_t next_rid, key;
    int64_t *d;
    size_t it = 0;
    int r;

    if ((r = meta_get_u64(bs->txn, bs->db, "rid", &next_rid)) < 0 ||
        (r = mark_repeats(set)) < 0)
        return r;
    if (next_rid == 0)
        next_rid = 1;
    for (size_t i = 0; i < set->n; i++) {
        struct nv_link_item *item = &set->v[i];
        struct nv_link_val old;
        uint64_t rid;
        int had;
        nv_progress_add(1);
        if (item->skip)
            continue;
        nv_hstore_unmap_every(bs->txn, i, 2048);
        had = nv_link_get(bs->txn, bs->db, item->key, item->keylen, &old);
        if (had < 0 && had != NV_ENOTFOUND)
            return had;
        if (had == 0) {
            if ((r = take_out(bs, item, &old)) < 0)
                return r;
            /* a delete: the rest of its cluster is resolved again */
            memcpy(item->old_rcu, old.rcu, sizeof(item->old_rcu));
            if (item->deleted)
                continue;
            rid = old.rid;
        } else {
            if (item->deleted)
                continue;
            rid = next_rid++;
            memset(item->old_rcu, 0, sizeof(item->old_rcu));
        }
        item->rid = rid;
        if ((r = put_in(bs, item, rid, had != 0)) < 0)
            return r;
    }
    if ((r = meta_put_u64(bs->txn, bs->db, "rid", next_rid)) < 0 ||
        (r = tfd_flush(bs->txn, bs->db, &bs->tfd)) < 0 ||
        (r = bulk_flush(bs->txn, bs->db->ident, &bs->bi, 8)) < 0)
        return r;
    /* the counts in memory follow */
    while (r == 0 && (d = nv_hmap_next(&bs->tfd, &it, &key)) != NULL)
        if (*d != 0)
            r = lc_tfadd((int)(key >> 56), key, *d);
    return r;
}

/* Step 2, collect: the batch starts with the bundle's records, each once
 * with its old RCU (nbundle of them, st->records), then takes the members
 * of the clusters the bundle's records and deletes were in (what remains
 * of them is resolved again); the bundle's blocking keys then go into the
 * index, where its records meet each other and the stored ones (near). */
static int
bundle_collect(struct bundle *bs)
{
    struct nv_link_set *set = bs->set;
    struct batch *b = &bs->b;
    int r;

    for (size_t i = 0; i < set->n; i++) {
        uint32_t s;
        int idx;
        if (set->v[i].deleted || set->v[i].skip || (s = lc_slot(set->v[i].rid)) == LC_NONE)
            continue;
        if ((r = batch_load(b, s, 1, &idx)) < 0)
            return r;
        if (idx >= 0)
            memcpy(b->e[idx].old_rcu, set->v[i].old_rcu, sizeof(set->v[i].old_rcu));
    }
    bs->nbundle = b->n;
    bs->st->records = b->n;
    bs->t[4] = now_s();
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i].deleted && !set->v[i].skip &&
            (r = batch_cluster(b, set->v[i].old_rcu, &bs->st->compared)) < 0)
            return r;
    for (size_t i = 0; i < bs->nbundle; i++)
        if ((r = batch_cluster(b, b->e[i].old_rcu, &bs->st->compared)) < 0)
            return r;
    return lc_reindex(bs->first_new);
}

/* Weigh: refit the weights if due (into bs->mo; the weigh step reads the
 * stored model next).  They are refitted by EM over the whole store
 * (unless frozen) each time it has doubled since the last fit, so they do
 * not depend on how the data was cut into bundles, and when an entity no
 * fit has seen sends its first records (an acquisition's first bundle):
 * its pairs across entities are new to the weights.  On the 1,000,000 +
 * 450,000 benchmark that fit costs about 3 s and lifted recall from 0.958
 * to 0.964, and review from 1.29% to 1.05% of the records, at the same
 * precision. */
static int
refit_if_due(struct bundle *bs)
{
    uint64_t frozen, fitted, seen = 1;
    char ek[8 + NV_NAME_MAX + 1] = "";
    MDB_stat ms;
    int r, rc;

    if ((r = meta_get_u64(bs->txn, bs->db, "frozen", &frozen)) < 0 ||
        (r = meta_get_u64(bs->txn, bs->db, "em_records", &fitted)) < 0)
        return r;
    if ((rc = mdb_stat(bs->txn, bs->db->mrec, &ms)) != 0)
        return mdb_fail(rc, "cannot read");
    /* the entity of the bundle's first record that is not a delete */
    for (size_t i = 0; i < bs->set->n && seen; i++)
        if (!bs->set->v[i].deleted && !bs->set->v[i].skip) {
            snprintf(ek, sizeof(ek), "em_ent:%s", bs->set->v[i].key);
            if ((r = meta_get_u64(bs->txn, bs->db, ek, &seen)) < 0)
                return r;
            break;
        }
    if (frozen || ms.ms_entries < EM_MIN_TOTAL || (ms.ms_entries < 2 * fitted && seen))
        return 0;
    if ((r = nv_link_learn(bs->txn, bs->db, EM_SAMPLE, &bs->mo, NULL)) < 0)
        return r;
    bs->st->em_fitted = 1;
    if (ek[0] != '\0' && (r = meta_put_u64(bs->txn, bs->db, ek, 1)) < 0)
        return r;
    return 0;
}

/* Step 3, weigh: the model of this bundle (refit_if_due, then the stored
 * one) with the term frequencies in memory, and its prior scaled to the
 * store's size now: a person has about as many records whatever the
 * store's size, so the share of matches among all pairs falls as
 * 1/records.  lambda0 keeps the prior as fitted, for the save step. */
/*
 * After a refit, the review queue as the new weights see it.  Pairs of two
 * stored records in different clusters are not compared again (see
 * bundle_prepare), so an open review pair the new weights put above the
 * link threshold, with no rule against it, would wait for a person
 * although the hub now links such pairs itself: its two clusters join the
 * batch, active, and are resolved with the bundle; a pair that then shares
 * a cluster leaves the queue (bundle_reviews).  The weights of a store's
 * first entity alone put an in-file duplicate in review that the weights
 * fitted with the second entity link.
 */
static int
wake_reviews(struct bundle *bs)
{
    MDB_cursor *c;
    MDB_val k, v;
    size_t cap = 0;
    int rc, r = 0;
    unsigned rules = match_model_rules(&bs->mo, MATCH_RULES_DEFAULT);

    if (!bs->st->em_fitted)
        return 0;
    if ((rc = mdb_cursor_open(bs->txn, bs->db->review, &c)) != 0)
        return mdb_fail(rc, "cannot read the review queue");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t a, b;
        uint32_t sa, sb;
        struct match_rec ra, rb;
        struct match_cmp cmp;
        if (k.mv_size != 16)
            continue;
        a = get_be64(k.mv_data);
        b = get_be64((const uint8_t *)k.mv_data + 8);
        if (a >= b || (sa = lc_slot(a)) == LC_NONE || (sb = lc_slot(b)) == LC_NONE ||
            lc.lv[sa].rcu[0] == '\0' || lc.lv[sb].rcu[0] == '\0' ||
            strcmp(lc.lv[sa].rcu, lc.lv[sb].rcu) == 0)
            continue;
        lc_rec_tf(sa, &ra);
        lc_rec_tf(sb, &rb);
        match_compare(&ra, &rb, &cmp);
        if (match_cmp_contradicted(&cmp, rules) || match_score(&bs->mo, &ra, &rb, &cmp) < bs->mo.link)
            continue;
        if (bs->nwoken == cap) {
            uint64_t *w = realloc(bs->woken, (cap = cap ? 2 * cap : 64) * 2 * sizeof(*w));
            if (w == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                break;
            }
            bs->woken = w;
        }
        bs->woken[2 * bs->nwoken] = a;
        bs->woken[2 * bs->nwoken + 1] = b;
        bs->nwoken++;
    }
    mdb_cursor_close(c);
    if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
        r = mdb_fail(rc, "cannot read the review queue");
    for (size_t i = 0; i < 2 * bs->nwoken && r == 0; i++)
        r = batch_cluster(&bs->b, lc.lv[lc_slot(bs->woken[i])].rcu, &bs->st->compared);
    return r;
}

static int
bundle_weigh(struct bundle *bs)
{
    uint64_t fitted;
    MDB_stat ms;
    int r;

    if ((r = refit_if_due(bs)) < 0 || (r = nv_link_model(bs->txn, bs->db, &bs->mo)) < 0)
        return r;
    lc_tf_model(&bs->mo);
    if ((r = meta_get_u64(bs->txn, bs->db, "em_records", &fitted)) < 0)
        return r;
    bs->lambda0 = bs->mo.lambda;
    if (fitted > 0 && mdb_stat(bs->txn, bs->db->mrec, &ms) == 0 && ms.ms_entries > fitted) {
        bs->mo.lambda *= (double)fitted / (double)ms.ms_entries;
        match_model_refine(&bs->mo);
    }
    if ((r = wake_reviews(bs)) < 0)
        return r;
    nv_hstore_unmap(bs->txn); /* what a refit read */
    bs->t[1] = now_s();
    return 0;
}

/* RCU -> its group among the stored records that keep their pairs. */
struct rcu_group {
    char rcu[16];
    uint32_t group; /* 0: a cluster the bundle's records were in */
};

/* Step 5, prepare (incremental): the records match_batch resolves afresh
 * (active: the bundle's, those of no cluster, and the members of the
 * clusters the bundle's records were in); the other stored records get a
 * group per cluster (1, 2, ... in batch order): they keep the pairs within
 * their clusters, and a pair of two of them from different clusters,
 * weighed when they came, is not compared again. */
static int
bundle_prepare(struct bundle *bs)
{
    const struct batch *b = &bs->b;
    struct nv_hmap groups;
    uint32_t ngroups = 0;
    int r = 0;

    if ((bs->active = calloc(b->n, 1)) == NULL ||
        (bs->group = calloc(b->n, sizeof(uint32_t))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    nv_hmap_init_eq(&groups, sizeof(struct rcu_group), 0, rcu_eq);
    for (size_t i = 0; i < bs->set->n && r == 0; i++)
        if (!bs->set->v[i].skip && bs->set->v[i].old_rcu[0] != '\0' &&
            rcu_entry(&groups, bs->set->v[i].old_rcu) == NULL)
            r = nv_fail(NV_ENOMEM, "out of memory");
    for (size_t i = 0; i < 2 * bs->nwoken && r == 0; i++)
        if (rcu_entry(&groups, lc.lv[lc_slot(bs->woken[i])].rcu) == NULL)
            r = nv_fail(NV_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->n && r == 0; i++) {
        const char *rcu = b->e[i].old_rcu;
        struct rcu_group *g;
        int isnew;
        if (b->e[i].bundle || rcu[0] == '\0') {
            bs->active[i] = 1;
            continue;
        }
        if ((g = nv_hmap_insert(&groups, rcu_hash(rcu), rcu, &isnew)) == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            break;
        }
        if (isnew) {
            memcpy(g->rcu, rcu, sizeof(g->rcu));
            g->group = ++ngroups;
        }
        if (g->group == 0)
            bs->active[i] = 1;
        else
            bs->group[i] = g->group;
    }
    nv_hmap_release(&groups);
    bs->t[2] = now_s();
    return r;
}

/* Step 6, compare: match_batch over the batch, the active records
 * resolved afresh, with the model as weighed (no EM here); res gets the
 * scored pairs and the clusters. */
static int
bundle_compare(struct bundle *bs)
{
    struct match_opts opts;
    int r;

    match_opts_init(&opts);
    opts.block_max = BLOCK_MAX;
    opts.cluster_max = CLUSTER_MAX;
    opts.threads = 2;
    opts.flags = MATCH_NO_EM;
    opts.active = bs->active;
    opts.group = bs->group;
    if ((r = match_batch(bs->b.recs, bs->b.n, &opts, &bs->mo, &bs->res)) < 0)
        return r;
    bs->have_res = 1;
    bs->t[3] = now_s();
    lc_tf_model(&bs->mo);
    return 0;
}

/* Step 7, cluster: match_batch's clusters with the team's decisions
 * applied (apply_decisions), as cl (batch index -> root), order (batch
 * indexes grouped by root) and cls (the clusters as ranges of order,
 * biggest first, then by root). */
static int
bundle_cluster(struct bundle *bs)
{
    size_t n = bs->b.n;
    uint32_t *cl;
    int r;

    if ((cl = bs->cl = malloc(n * sizeof(uint32_t))) == NULL ||
        (bs->order = malloc(n * sizeof(uint32_t))) == NULL ||
        (bs->cls = malloc(n * sizeof(*bs->cls))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    memcpy(cl, bs->res.cluster, n * sizeof(uint32_t));
    if ((r = apply_decisions(bs->txn, bs->db, &bs->b, cl)) < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        cl[i] = uf_find(cl, (uint32_t)i);
        bs->order[i] = (uint32_t)i;
    }
    sort_roots = cl;
    qsort(bs->order, n, sizeof(uint32_t), by_root);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && cl[bs->order[j]] == cl[bs->order[i]])
            j++;
        bs->cls[bs->ncl].root = cl[bs->order[i]];
        bs->cls[bs->ncl].first = (uint32_t)i;
        bs->cls[bs->ncl].n = (uint32_t)(j - i);
        bs->ncl++;
        i = j;
    }
    qsort(bs->cls, bs->ncl, sizeof(*bs->cls), cl_cmp);
    return 0;
}

/* Cluster c's RCU: the former RCU most of its members had that no bigger
 * cluster took (taken), else a new one (a split when it had one, new
 * otherwise); into chosen[c] and taken.  Each former RCU it did not keep
 * notes, in formers, the cluster that holds most of its members. */
static int
choose_rcu(struct bundle *bs, size_t c, struct nv_hmap *taken, struct nv_hmap *formers)
{
    const struct cl *k = &bs->cls[c];
    struct vote *votes = calloc(k->n, sizeof(*votes));
    size_t nv = 0, v;
    int r = 0;

    if (votes == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (uint32_t m = 0; m < k->n; m++) {
        const char *o = bs->b.e[bs->order[k->first + m]].old_rcu;
        if (o[0] == '\0')
            continue;
        for (v = 0; v < nv && strcmp(votes[v].rcu, o) != 0; v++)
            ;
        if (v == nv)
            memcpy(votes[nv++].rcu, o, 16);
        votes[v].n++;
    }
    qsort(votes, nv, sizeof(*votes), vote_cmp);
    for (v = 0; v < nv && nv_hmap_find(taken, rcu_hash(votes[v].rcu), votes[v].rcu) != NULL; v++)
        ;
    if (v < nv) {
        memcpy(bs->chosen[c], votes[v].rcu, 16);
    } else {
        new_rcu(bs->chosen[c]);
        if (nv > 0)
            bs->st->split++;
        else if (k->n > 0)
            bs->st->new_rcus++;
    }
    if (rcu_entry(taken, bs->chosen[c]) == NULL)
        r = nv_fail(NV_ENOMEM, "out of memory");
    /* former RCUs not chosen here: remember the biggest share */
    for (size_t q = 0; q < nv && r == 0; q++) {
        struct vote *f;
        if (strcmp(votes[q].rcu, bs->chosen[c]) == 0)
            continue;
        if ((f = rcu_entry(formers, votes[q].rcu)) == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
        } else if (votes[q].n > f->n) {
            f->n = votes[q].n;
            f->target = c;
        }
    }
    free(votes);
    return r;
}

/* Step 8, assign RCUs: each cluster, biggest first, gets its RCU
 * (choose_rcu, into chosen); a former RCU that no cluster kept becomes an
 * alias of the RCU of the cluster holding most of its members (a merge:
 * the old ID still resolves).  Counts new_rcus, split and merged. */
static int
bundle_assign_rcus(struct bundle *bs)
{
    struct nv_hmap taken, formers; /* RCU (char[16]); RCU -> struct vote */
    struct vote *f;
    size_t it = 0;
    int r = 0;

    if ((bs->chosen = calloc(bs->ncl, sizeof(*bs->chosen))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    nv_hmap_init_eq(&taken, 16, bs->ncl, rcu_eq);
    nv_hmap_init_eq(&formers, sizeof(struct vote), 0, rcu_eq);
    for (size_t c = 0; c < bs->ncl && r == 0; c++)
        r = choose_rcu(bs, c, &taken, &formers);
    while (r == 0 && (f = nv_hmap_next(&formers, &it, NULL)) != NULL) {
        char from[NV_RCU_LEN + 1];
        MDB_val k = { NV_RCU_LEN, from }, v = { NV_RCU_LEN, bs->chosen[f->target] };
        int rc;
        if (nv_hmap_find(&taken, rcu_hash(f->rcu), f->rcu) != NULL)
            continue;
        memcpy(from, f->rcu, NV_RCU_LEN);
        from[NV_RCU_LEN] = '\0';
        if ((rc = mdb_put(bs->txn, bs->db->alias, &k, &v, 0)) != 0)
            r = mdb_fail(rc, "cannot write an alias");
        bs->st->merged++;
    }
    nv_hmap_release(&taken);
    nv_hmap_release(&formers);
    return r;
}

/* Open the review pair mp (two records of different clusters, one of them
 * the bundle's, scored between the thresholds) unless the rules say two
 * people or the team decided it already; both rids noted in revt. */
static int
open_review(struct bundle *bs, const struct match_pair *mp)
{
    uint64_t ra = bs->b.e[mp->a].rid, rb = bs->b.e[mp->b].rid;
    uint8_t kb[16];
    MDB_val k = { 16, kb }, v;
    char text[160], when[21];
    int r;

    /* a pair the rules say are two people (a household, twins, another
     * generation) stays apart: the queue is for real doubt */
    if (match_cmp_contradicted(&mp->cmp, match_model_rules(&bs->mo, MATCH_RULES_DEFAULT)))
        return 0;
    pair_key(kb, ra, rb);
    if (mdb_get(bs->txn, bs->db->decide, &k, &v) == 0)
        return 0; /* decided already: kept apart */
    snprintf(text, sizeof(text), "{\"score\":%.3f,\"cmp\":%u,\"since\":\"%s\"}",
             (double)mp->score, (unsigned)match_cmp_pack(&mp->cmp),
             nv_time_format(nv_now(), when));
    if ((r = put_both(bs->txn, bs->db->review, ra, rb, text)) < 0 ||
        (r = rid_note(&bs->revt, ra)) < 0 || (r = rid_note(&bs->revt, rb)) < 0)
        return r;
    bs->st->review++;
    return 0;
}

/* Step 9, review pairs: those of the bundle's records are closed, then
 * each pair match_batch put in review across two clusters, with one of
 * the bundle's records, opens (open_review).  best gets each record's best
 * score within its cluster. */
static int
bundle_reviews(struct bundle *bs)
{
    const uint32_t *cl = bs->cl;
    float *best;
    int r;

    if ((best = bs->best = calloc(bs->b.n, sizeof(float))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (size_t i = 0; i < bs->nbundle; i++)
        if ((r = drop_reviews(bs->txn, bs->db, bs->b.e[i].rid, &bs->revt)) < 0)
            return r;
    /* a review pair woken by a refit (wake_reviews) that now shares a
     * cluster is no longer a question */
    for (size_t w = 0; w < bs->nwoken; w++) {
        uint64_t a = bs->woken[2 * w], b = bs->woken[2 * w + 1];
        uint32_t *ia = nv_hmap_get(&bs->b.idx, a), *ib = nv_hmap_get(&bs->b.idx, b);
        if (ia == NULL || ib == NULL || cl[*ia] != cl[*ib])
            continue;
        if ((r = del_both(bs->txn, bs->db->review, a, b)) < 0 ||
            (r = rid_note(&bs->revt, a)) < 0 || (r = rid_note(&bs->revt, b)) < 0)
            return r;
    }
    for (size_t p = 0; p < bs->res.npairs; p++) {
        const struct match_pair *mp = &bs->res.pairs[p];
        nv_hstore_unmap_every(bs->txn, p, 2048);
        if (cl[mp->a] == cl[mp->b]) {
            if (mp->score > best[mp->a])
                best[mp->a] = mp->score;
            if (mp->score > best[mp->b])
                best[mp->b] = mp->score;
            continue;
        }
        if (mp->status != MATCH_REVIEW || (!bs->b.e[mp->a].bundle && !bs->b.e[mp->b].bundle))
            continue;
        if ((r = open_review(bs, mp)) < 0)
            return r;
    }
    return 0;
}

/* A link to write: the record's key (the cache's), batch index, new value. */
struct wlink {
    const char *key;
    size_t keylen;
    uint32_t i;
    struct nv_link_val lv;
};

/* In the order LMDB keeps keys: bytes, then the shorter first. */
static int
wlink_cmp(const void *x, const void *y)
{
    const struct wlink *a = x, *b = y;
    int c = memcmp(a->key, b->key, a->keylen < b->keylen ? a->keylen : b->keylen);

    return c != 0 ? c : (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

/* Step 10, write back: each record of the batch gets its link (its
 * cluster's RCU, a status, its best score) when it changed: in the cache in
 * cluster order, then in the store in key order; a stored record leaving
 * its RCU leaves its members, and the new memberships go to rcus at the
 * end, sorted.  Counts linked. */
static int
bundle_write_links(struct bundle *bs)
{
    struct wlink *w = NULL;
    size_t nw = 0;
    int r = 0;

    /* the links that change, noted in cluster order (the cache's member
     * lists follow that order) */
    for (size_t c = 0; c < bs->ncl && r == 0; c++) {
        for (uint32_t m = 0; m < bs->cls[c].n && r == 0; m++) {
            uint32_t i = bs->order[bs->cls[c].first + m];
            const struct ent *e = &bs->b.e[i];
            struct nv_link_val lv;
            memset(&lv, 0, sizeof(lv));
            lv.rid = e->rid;
            memcpy(lv.rcu, bs->chosen[c], 16);
            lv.status = bs->cls[c].n > 1 ? NV_LINK_LINKED : NV_LINK_NEW;
            /* open review pairs: unchanged unless this bundle opened or
             * closed one of the record's */
            if (nv_hmap_get(&bs->revt, e->rid) != NULL
                    ? has_review(bs->txn, bs->db, e->rid)
                    : !e->bundle && e->lv.status == NV_LINK_REVIEW)
                lv.status = NV_LINK_REVIEW;
            lv.score = bs->best[i];
            if (e->bundle && bs->cls[c].n > 1)
                bs->st->linked++;
            if (!e->bundle && memcmp(&lv, &e->lv, sizeof(lv)) == 0)
                continue;
            if (w == NULL && (w = malloc(bs->b.n * sizeof(*w))) == NULL)
                return nv_fail(NV_ENOMEM, "out of memory");
            w[nw].key = e->key;
            w[nw].keylen = e->keylen;
            w[nw].i = i;
            w[nw++].lv = lv;
            if ((r = bulk_add(&bs->br, lv.rcu, e->rid)) == 0)
                r = lc_set_link(e->slot, &lv);
        }
    }
    /* written in key order: a bundle moves records all over a store of a
     * million, and links and the change index are keyed by record */
    if (r == 0 && nw > 1)
        qsort(w, nw, sizeof(*w), wlink_cmp);
    for (size_t k = 0; k < nw && r == 0; k++) {
        const struct ent *e = &bs->b.e[w[k].i];
        nv_hstore_unmap_every(bs->txn, k, 2048);
        if (strcmp(e->old_rcu, w[k].lv.rcu) != 0 && !e->bundle && e->old_rcu[0] != '\0' &&
            (r = rcu_member(bs->txn, bs->db, e->old_rcu, e->rid, 0)) < 0)
            break;
        r = put_link_as(bs->txn, bs->db, e->key, e->keylen, &w[k].lv,
                        e->bundle && bs->set->stamped, &bs->tb);
    }
    free(w);
    if (r < 0 || (r = nv_link_tally_flush(bs->txn, bs->db, &bs->tb)) < 0)
        return r;
    return bulk_flush(bs->txn, bs->db->rcus, &bs->br, 0);
}

/* Step 11, save: when the batch was resolved, the model as fitted (the
 * prior unscaled: each bundle scales it to the store's size); then a new
 * cache token (lc_seal), and the timings to the debug log. */
static int
bundle_save(struct bundle *bs)
{
    const double *t = bs->t;
    int r;

    if (bs->have_res) {
        bs->mo.lambda = bs->lambda0;
        match_model_refine(&bs->mo);
        if ((r = nv_link_model_save(bs->txn, bs->db, &bs->mo)) < 0)
            return r;
    }
    if ((r = lc_seal(bs->txn, bs->db)) < 0)
        return r;
    if (bs->have_res)
        nv_debug("link", "%zu records (%zu from the bundle, %zu pairs with stored ones "
                 "scored): store %.2f s, model %.2f s, candidates %.2f s, "
                 "match_batch %.2f s (blocking %.2f, comparing %.2f, EM %.2f, clusters "
                 "%.2f), RCUs %.2f s", bs->b.n, bs->nbundle, bs->ncand, t[4] - t[0],
                 t[1] - t[4], t[2] - t[1], t[3] - t[2], bs->res.seconds[0],
                 bs->res.seconds[1], bs->res.seconds[2], bs->res.seconds[3],
                 now_s() - t[3]);
    return 0;
}

/* The steps are above ("one bundle, step by step"). */
int
nv_link_bundle(MDB_txn *txn, const struct nv_link_db *db, struct nv_link_set *set,
               struct nv_link_stats *st)
{
    struct bundle bs;
    int r;

    memset(st, 0, sizeof(*st));
    if (set->n == 0)
        return 0;
    bundle_init(&bs, txn, db, set, st);
    nv_hstore_unmap(txn);
    if ((r = lc_ready(txn, db)) < 0)
        goto out;
    bs.first_new = lc.n;
    nv_progress_step(set->n, "linking: storing");
    if ((r = bundle_store(&bs)) < 0 || (r = bundle_collect(&bs)) < 0 ||
        (r = bundle_weigh(&bs)) < 0)
        goto out;
    nv_progress_step(bs.nbundle, "linking: finding candidates");
    if ((r = near(&bs.b, bs.nbundle, &bs.mo, &st->compared, &bs.ncand)) < 0)
        goto out;
    /* nothing to resolve (a bundle of deletes that emptied its clusters) */
    if (bs.b.n > 0) {
        nv_progress_step(bs.b.n, "linking: comparing");
        if ((r = bundle_prepare(&bs)) < 0 || (r = bundle_compare(&bs)) < 0)
            goto out;
        nv_progress_add(bs.b.n);
        nv_progress_step(bs.b.n, "linking: clustering, writing the links");
        if ((r = bundle_cluster(&bs)) < 0 || (r = bundle_assign_rcus(&bs)) < 0 ||
            (r = bundle_reviews(&bs)) < 0 || (r = bundle_write_links(&bs)) < 0)
            goto out;
        nv_progress_add(bs.b.n);
    }
    r = bundle_save(&bs);
out:
    if (r < 0)
        lc_free(); /* part of the bundle is in it: rebuilt next time */
    nv_hstore_unmap(txn);
    bundle_release(&bs);
    return r;
}

/* ---- loading, deciding, learning ---- */

int
nv_link_load(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid, struct match_rec *r,
             struct nv_buf *keyout)
{
    uint8_t kb[8];
    MDB_val k = { 8, kb }, v;
    struct match_person p;
    const char *key;
    size_t keylen;
    char entity[NV_NAME_MAX + 1];
    int rc, e;

    be64(kb, rid);
    if ((rc = mdb_get(txn, db->mrec, &k, &v)) == MDB_NOTFOUND)
        return nv_fail(NV_ENOTFOUND, "no record %llu", (unsigned long long)rid);
    if (rc != 0)
        return mdb_fail(rc, "cannot read a match record");
    if ((e = decode_mrec(&v, &p, &key, &keylen, entity, sizeof(entity))) < 0)
        return e;
    if (keyout != NULL && (e = nv_buf_add(keyout, key, keylen)) < 0)
        return e;
    if ((e = match_rec_init(r, &p)) < 0)
        return e;
    tf_from_store(txn, db, &p, r);
    return 0;
}

static int
key_of(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid, struct nv_buf *key)
{
    struct match_rec r;
    int e = nv_link_load(txn, db, rid, &r, key);

    if (e == 0)
        match_rec_release(&r);
    return e;
}

/* Set the status of rid's link from its cluster size and open reviews. */
static int
restatus(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid)
{
    struct nv_buf key = NV_BUF_INIT;
    struct nv_link_val lv;
    uint64_t *m = NULL;
    size_t n = 0, cap = 0;
    int r;

    if ((r = key_of(txn, db, rid, &key)) < 0)
        goto out;
    if ((r = nv_link_get(txn, db, (char *)key.data, key.len, &lv)) < 0)
        goto out;
    if ((r = rcu_members(txn, db, lv.rcu, &m, &n, &cap)) < 0)
        goto out;
    lv.status = has_review(txn, db, rid) ? NV_LINK_REVIEW
                : n > 1 ? NV_LINK_LINKED : NV_LINK_NEW;
    r = put_link(txn, db, (char *)key.data, key.len, &lv);
out:
    free(m);
    nv_buf_release(&key);
    return r;
}

int
nv_link_decide(MDB_txn *txn, const struct nv_link_db *db, uint64_t a, uint64_t b,
               int accept, const char *by)
{
    struct match_rec ra, rb;
    struct match_cmp cmp;
    struct match_model mo;
    struct nv_buf ka = NV_BUF_INIT, kb = NV_BUF_INIT;
    struct nv_link_val la, lb;
    json_t *d = NULL;
    char when[21], *text = NULL;
    int r, have_a = 0, have_b = 0;

    if ((r = nv_link_load(txn, db, a, &ra, &ka)) < 0)
        goto out;
    have_a = 1;
    if ((r = nv_link_load(txn, db, b, &rb, &kb)) < 0)
        goto out;
    have_b = 1;
    if ((r = nv_link_get(txn, db, (char *)ka.data, ka.len, &la)) < 0 ||
        (r = nv_link_get(txn, db, (char *)kb.data, kb.len, &lb)) < 0)
        goto out;
    match_compare(&ra, &rb, &cmp);
    /* the label refines the weights */
    if ((r = nv_link_model(txn, db, &mo)) < 0)
        goto out;
    match_model_learn(&mo, &cmp, accept);
    if ((r = nv_link_model_save(txn, db, &mo)) < 0)
        goto out;
    d = json_pack("{s:s,s:s,s:s,s:I}", "decision", accept ? "accept" : "reject", "by",
                  by, "at", nv_time_format(nv_now(), when), "cmp",
                  (json_int_t)match_cmp_pack(&cmp));
    if (d == NULL || (text = json_dumps(d, JSON_COMPACT)) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    if ((r = put_both(txn, db->decide, a, b, text)) < 0 ||
        (r = del_both(txn, db->review, a, b)) < 0)
        goto out;
    if (accept && strcmp(la.rcu, lb.rcu) != 0) {
        /* merge: the bigger cluster's RCU survives, the other is an alias */
        uint64_t *ma = NULL, *mb = NULL;
        size_t na = 0, nb = 0, ca = 0, cb = 0;
        const char *keep, *gone;
        uint64_t *mv;
        size_t nm;
        if ((r = rcu_members(txn, db, la.rcu, &ma, &na, &ca)) < 0 ||
            (r = rcu_members(txn, db, lb.rcu, &mb, &nb, &cb)) < 0) {
            free(ma);
            free(mb);
            goto out;
        }
        if (na > nb || (na == nb && strcmp(la.rcu, lb.rcu) < 0)) {
            keep = la.rcu, gone = lb.rcu, mv = mb, nm = nb;
        } else {
            keep = lb.rcu, gone = la.rcu, mv = ma, nm = na;
        }
        for (size_t i = 0; i < nm && r == 0; i++) {
            struct nv_buf k = NV_BUF_INIT;
            struct nv_link_val lv;
            if ((r = key_of(txn, db, mv[i], &k)) == 0 &&
                (r = nv_link_get(txn, db, (char *)k.data, k.len, &lv)) == 0) {
                memcpy(lv.rcu, keep, 16);
                if ((r = put_link(txn, db, (char *)k.data, k.len, &lv)) == 0 &&
                    (r = rcu_member(txn, db, gone, mv[i], 0)) == 0)
                    r = rcu_member(txn, db, keep, mv[i], 1);
            }
            nv_buf_release(&k);
        }
        if (r == 0) {
            MDB_val k = { strlen(gone), (void *)gone }, v = { strlen(keep), (void *)keep };
            int rc = mdb_put(txn, db->alias, &k, &v, 0);
            if (rc != 0)
                r = mdb_fail(rc, "cannot write an alias");
        }
        free(ma);
        free(mb);
        if (r < 0)
            goto out;
    } else if (!accept && strcmp(la.rcu, lb.rcu) == 0) {
        /* split: b leaves for a new RCU */
        char fresh[16];
        new_rcu(fresh);
        if ((r = rcu_member(txn, db, lb.rcu, b, 0)) < 0 ||
            (r = rcu_member(txn, db, fresh, b, 1)) < 0)
            goto out;
        memcpy(lb.rcu, fresh, 16);
        if ((r = put_link(txn, db, (char *)kb.data, kb.len, &lb)) < 0)
            goto out;
    }
    if ((r = restatus(txn, db, a)) == 0)
        r = restatus(txn, db, b);
    if (r == 0)
        r = lc_invalidate(txn, db);
out:
    free(text);
    json_decref(d);
    if (have_a)
        match_rec_release(&ra);
    if (have_b)
        match_rec_release(&rb);
    nv_buf_release(&ka);
    nv_buf_release(&kb);
    return r;
}

/* Weights a person would accept: on the main fields, an exact agreement
 * counts for a match and a disagreement does not. */
static int
sane(const struct match_model *mo)
{
    static const int f[] = { MATCH_F_FIRST, MATCH_F_LAST, MATCH_F_BIRTH_DATE, MATCH_F_EMAIL,
                             MATCH_F_PHONE, MATCH_F_ADDRESS };

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (!(mo->weight[f[i]][MATCH_EXACT] > 0) ||
            !(mo->weight[f[i]][MATCH_DIFFERENT] < 0.5) ||
            !(mo->weight[f[i]][MATCH_EXACT] >= mo->weight[f[i]][MATCH_DIFFERENT]))
            return 0;
    return 1;
}

/* The generic starting model, with the labels (review decisions) and the
 * thresholds of mo kept. */
static void
fresh_start(struct match_model *mo)
{
    struct match_model m;

    match_model_init(&m);
    memcpy(m.lab_m, mo->lab_m, sizeof(m.lab_m));
    memcpy(m.lab_u, mo->lab_u, sizeof(m.lab_u));
    m.n_lab_m = mo->n_lab_m;
    m.n_lab_u = mo->n_lab_u;
    m.link = mo->link;
    m.review = mo->review;
    memcpy(m.tf_mean, mo->tf_mean, sizeof(m.tf_mean));
    match_model_refine(&m);
    *mo = m;
}

/* Learn, the sample: the cached records of mrec into b, all of them or,
 * with more than max_records, about max_records of them chosen by family
 * name, so that the records of one family name stay together (the pairs
 * EM learns from are mostly there; a spelling of the name that differs is
 * the price).  *total gets the store's records. */
static int
learn_sample(MDB_txn *txn, const struct nv_link_db *db, size_t max_records,
             struct batch *b, size_t *total)
{
    MDB_cursor *c;
    MDB_val k, v;
    MDB_stat ms;
    size_t step;
    int r = 0, rc;

    if ((rc = mdb_stat(txn, db->mrec, &ms)) != 0)
        return mdb_fail(rc, "cannot read");
    *total = ms.ms_entries;
    if (*total == 0)
        return nv_fail(NV_ENOTFOUND, "no mapped record to learn from");
    step = max_records > 0 && *total > max_records ? (size_t)(*total / max_records) : 1;
    if ((r = lc_ready(txn, db)) < 0)
        return r;
    if ((rc = mdb_cursor_open(txn, db->mrec, &c)) != 0)
        return mdb_fail(rc, "cannot read");
    nv_progress_step(*total, "reading the sample");
    while (r == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        struct match_person p;
        const char *key;
        size_t keylen;
        char entity[NV_NAME_MAX + 1], word[32];
        uint32_t s;
        int idx;
        nv_progress_add(1);
        if (k.mv_size != 8)
            continue;
        if (step > 1) {
            if (decode_mrec(&v, &p, &key, &keylen, entity, sizeof(entity)) < 0)
                continue;
            snprintf(word, sizeof(word), "%.*s", (int)strcspn(p.last, " "), p.last);
            if (fnv64(word) % step != 0)
                continue;
        }
        if ((s = lc_slot(get_be64(k.mv_data))) != LC_NONE)
            r = batch_load(b, s, 1, &idx);
    }
    mdb_cursor_close(c);
    return r;
}

/* Learn, one fit by match_batch over the sample b with opts (flags say
 * which), then the prior made the share of matches among all pairs of the
 * store: u describes random pairs, so must the prior, not the candidates
 * blocking chose.  m_only (MATCH_EM_M_ONLY): u is taken without the
 * matches the random pairs held, and the prior scaled down by n/total
 * too: the sample keeps a family's records together, so it holds about
 * n/total of the store's matches among (n/total)^2 of its pairs (at a
 * million records the prior was 2-3 bits too high and namesakes linked). */
static int
learn_fit(const struct batch *b, struct match_opts *opts, struct match_model *out,
          size_t total, int m_only)
{
    struct match_result res;
    double all = (double)b->n * (double)(b->n - 1) / 2;
    int r;

    if ((r = match_batch(b->recs, b->n, opts, out, &res)) < 0)
        return r;
    if (all > 0 && res.ncandidates > 0) {
        out->lambda *= (double)res.ncandidates / all;
        if (m_only) {
            /* the random pairs u came from held that share of matches:
             * u without them */
            match_model_u_without_matches(out, out->lambda, 0.5 / (opts->u_samples + 2.0));
            if (total > b->n)
                out->lambda *= (double)b->n / (double)total;
        }
        match_model_refine(out);
    }
    match_result_release(&res);
    return 0;
}

/* The team's decisions: each pair compared under today's comparators (a
 * decision keeps its pair, not the comparison it was made on), with its
 * label.  *pairs (free it) gets a, b per decision. */
struct decision {
    uint64_t a, b;
    struct match_pattern pat;
    struct match_cmp cmp;
    struct match_rec ra, rb;
};

static void
decisions_free(struct decision *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        match_rec_release(&d[i].ra);
        match_rec_release(&d[i].rb);
    }
    free(d);
}

static int
learn_decisions(MDB_txn *txn, const struct nv_link_db *db, struct decision **out, size_t *n)
{
    MDB_cursor *c;
    MDB_val k, v;
    size_t cap = 0;
    int r = 0, rc;

    *out = NULL;
    *n = 0;
    if ((rc = mdb_cursor_open(txn, db->decide, &c)) != 0)
        return mdb_fail(rc, "cannot read the decisions");
    while (r == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        struct decision *d;
        struct nv_buf key = NV_BUF_INIT;
        uint64_t a, b;
        int accept;
        if (k.mv_size != 16)
            continue;
        a = get_be64(k.mv_data);
        b = get_be64((uint8_t *)k.mv_data + 8);
        if (a >= b)
            continue; /* each pair is stored both ways */
        accept = memmem(v.mv_data, v.mv_size, "\"accept\"", 8) != NULL;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            if ((d = realloc(*out, cap * sizeof(*d))) == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                break;
            }
            *out = d;
        }
        d = &(*out)[*n];
        memset(d, 0, sizeof(*d));
        if (nv_link_load(txn, db, a, &d->ra, &key) < 0) {
            nv_buf_release(&key);
            continue; /* a record gone since (erased, deleted) */
        }
        if (nv_link_load(txn, db, b, &d->rb, &key) < 0) {
            match_rec_release(&d->ra);
            nv_buf_release(&key);
            continue;
        }
        nv_buf_release(&key);
        d->a = a;
        d->b = b;
        match_compare(&d->ra, &d->rb, &d->cmp);
        d->pat.code = match_cmp_pack(&d->cmp);
        d->pat.label = accept;
        d->pat.count = 1;
        (*n)++;
    }
    mdb_cursor_close(c);
    if (r < 0) {
        decisions_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return r;
}

/* One fit of the sample with labels (n of them, NULL: none) from the
 * generic start; *out keeps start's thresholds and labels counts.  Falls
 * back as nv_link_learn says; 1 when no fit was sane (out = start). */
static int
learn_one(const struct batch *b, const struct match_model *start,
          const struct match_pattern *labels, size_t n, size_t total, struct match_model *out)
{
    struct match_opts opts;
    int r;

    match_opts_init(&opts);
    opts.block_max = BLOCK_MAX;
    opts.cluster_max = CLUSTER_MAX;
    opts.threads = 2;
    opts.flags = MATCH_EM_M_ONLY;
    opts.labels = labels;
    opts.nlabels = n;
    *out = *start;
    fresh_start(out);
    if ((r = learn_fit(b, &opts, out, total, 1)) < 0)
        return r;
    if (sane(out))
        return 0;
    nv_warn("link", "EM weights rejected (EM found another structure than "
            "\"same person\"); fitting again with u from random pairs");
    *out = *start;
    fresh_start(out);
    opts.flags = MATCH_FIX_U;
    if ((r = learn_fit(b, &opts, out, total, 0)) < 0)
        return r;
    if (sane(out))
        return 0;
    nv_warn("link", "EM weights rejected again: keeping the previous weights");
    *out = *start;
    return 1;
}

/* Does mo decide the pair of d as the team did? */
static int
agrees(const struct match_model *mo, const struct decision *d)
{
    double s = match_score(mo, &d->ra, &d->rb, &d->cmp);
    int link = s >= mo->link &&
               !match_cmp_contradicted(&d->cmp, match_model_rules(mo, MATCH_RULES_DEFAULT));

    return link == (d->pat.label == 1);
}

#define LEARN_FOLDS 5
#define LEARN_MIN_DECISIONS 10

/* Refit the weights (link.h).  EM from the generic start (a poor earlier
 * fit is not a starting point), m and u free over the pairs that could be
 * linked, then m kept with u from random pairs (MATCH_EM_M_ONLY: EM's u
 * there is the namesakes', and made an agreement of first names count for
 * nothing, so every fit was rejected); if the weights still come out
 * absurd (agreement counting against a match, disagreement for it), fit
 * again with u held to the random pairs' during EM (MATCH_FIX_U), and if
 * that is absurd too, keep the weights.  The team's decisions are labels
 * inside EM (match_opts.labels).  With a report (an explicit learn), the
 * new weights are judged on the decisions by k-fold cross-validation
 * (each decision predicted by weights fitted without its fold) against
 * the weights in force; when they agree less, the weights in force stay. */
int
nv_link_learn(MDB_txn *txn, const struct nv_link_db *db, size_t max_records,
              struct match_model *out, struct nv_learn_report *report)
{
    struct batch b;
    struct match_model start, fold;
    struct decision *dec = NULL;
    struct match_pattern *lab = NULL;
    size_t total = 0, nd = 0;
    int r;

    batch_init(&b);
    if (report != NULL)
        memset(report, 0, sizeof(*report));
    if ((r = nv_link_model(txn, db, out)) < 0)
        return r;
    if ((r = learn_sample(txn, db, max_records, &b, &total)) < 0 ||
        (r = learn_decisions(txn, db, &dec, &nd)) < 0)
        goto out;
    lc_tf_model(out);
    start = *out;
    if (nd > 0 && (lab = malloc(nd * sizeof(*lab))) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    nv_progress_step(b.n, "fitting the weights");
    if ((r = learn_one(&b, &start, NULL, 0, total, out)) < 0)
        goto out;
    nv_progress_add(b.n);
    if (report != NULL)
        report->nolabels = *out;
    if (nd > 0) {
        for (size_t i = 0; i < nd; i++)
            lab[i] = dec[i].pat;
        nv_progress_step(b.n, "fitting the weights with %zu decisions", nd);
        if ((r = learn_one(&b, &start, lab, nd, total, out)) < 0)
            goto out;
        nv_progress_add(b.n);
    }
    if (report != NULL) {
        report->decisions = nd;
        for (size_t i = 0; i < nd; i++)
            report->agree_old += agrees(&start, &dec[i]);
        if (nd >= LEARN_MIN_DECISIONS) {
            report->folds = LEARN_FOLDS;
            for (size_t f = 0; f < LEARN_FOLDS && r == 0; f++) {
                size_t nl = 0;
                for (size_t i = 0; i < nd; i++)
                    if (i % LEARN_FOLDS != f)
                        lab[nl++] = dec[i].pat;
                nv_progress_step(b.n, "cross-validation, fold %zu of %d", f + 1,
                                 LEARN_FOLDS);
                if ((r = learn_one(&b, &start, lab, nl, total, &fold)) < 0)
                    break;
                nv_progress_add(b.n);
                lc_tf_model(&fold);
                for (size_t i = f; i < nd; i += LEARN_FOLDS)
                    report->agree_new += agrees(&fold, &dec[i]);
            }
            if (r < 0)
                goto out;
            if (report->agree_new < report->agree_old) {
                report->kept_old = 1;
                *out = start;
            }
        }
    }
    lc_tf_model(out);
    if (report == NULL || !report->kept_old) {
        if ((r = nv_link_model_save(txn, db, out)) == 0)
            r = meta_put_u64(txn, db, "em_records", total);
    }
out:
    free(lab);
    decisions_free(dec, nd);
    batch_free(&b);
    return r;
}

/* The size of rid's cluster (1 when it cannot be read). */
static uint32_t
cluster_size(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid)
{
    struct nv_buf k = NV_BUF_INIT;
    struct nv_link_val lv;
    MDB_cursor *c;
    MDB_val rk, d;
    size_t n = 1;

    if (key_of(txn, db, rid, &k) == 0 && nv_link_get(txn, db, (char *)k.data, k.len, &lv) == 0 &&
        mdb_cursor_open(txn, db->rcus, &c) == 0) {
        rk.mv_size = strlen(lv.rcu);
        rk.mv_data = lv.rcu;
        if (mdb_cursor_get(c, &rk, &d, MDB_SET_KEY) == 0 && mdb_cursor_count(c, &n) != 0)
            n = 1;
        mdb_cursor_close(c);
    }
    nv_buf_release(&k);
    return n > 0 ? (uint32_t)n : 1;
}

static int
review_cmp(const void *x, const void *y)
{
    const struct nv_review_item *a = x, *b = y;

    if (a->value != b->value)
        return a->value > b->value ? -1 : 1;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

int
nv_link_review_queue(MDB_txn *txn, const struct nv_link_db *db, struct nv_review_item **out,
                     size_t *n)
{
    MDB_cursor *c;
    MDB_val k, v;
    size_t cap = 0;
    int r = 0, rc;

    *out = NULL;
    *n = 0;
    if ((rc = mdb_cursor_open(txn, db->review, &c)) != 0)
        return mdb_fail(rc, "cannot read the review queue");
    while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        struct nv_review_item *it;
        json_t *o;
        uint32_t sa, sb;
        if (k.mv_size != 16)
            continue;
        if (get_be64(k.mv_data) > get_be64((uint8_t *)k.mv_data + 8))
            continue; /* each pair is stored both ways */
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            if ((it = realloc(*out, cap * sizeof(*it))) == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                break;
            }
            *out = it;
        }
        it = &(*out)[(*n)++];
        it->a = get_be64(k.mv_data);
        it->b = get_be64((uint8_t *)k.mv_data + 8);
        o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        it->score = json_number_value(json_object_get(o, "score"));
        json_decref(o);
        it->p = 1.0 / (1.0 + exp2(-it->score));
        sa = cluster_size(txn, db, it->a);
        sb = cluster_size(txn, db, it->b);
        it->moves = sa < sb ? sa : sb;
        it->value = it->p * (1 - it->p) * it->moves;
    }
    mdb_cursor_close(c);
    if (r < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return r;
    }
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), review_cmp);
    return 0;
}

int
nv_link_all(MDB_txn *txn, const struct nv_link_db *db, struct nv_link_set *set)
{
    MDB_cursor *c;
    MDB_val k, v;
    int r = 0, rc;

    if ((rc = mdb_cursor_open(txn, db->mrec, &c)) != 0)
        return mdb_fail(rc, "cannot read");
    {
        MDB_stat ms;
        nv_progress_step(mdb_stat(txn, db->mrec, &ms) == 0 ? ms.ms_entries : 0,
                         "reading the records");
    }
    while (r == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        struct match_person p;
        const char *key, *person[14];
        size_t keylen;
        nv_progress_add(1);
        char entity[NV_NAME_MAX + 1];
        if (k.mv_size != 8)
            continue;
        if ((r = decode_mrec(&v, &p, &key, &keylen, entity, sizeof(entity))) < 0)
            break;
        person[0] = p.first;
        person[1] = p.last;
        person[2] = p.birth_name;
        for (int i = 0; i < 3; i++) {
            person[3 + i] = p.emails[i];
            person[6 + i] = p.phones[i];
        }
        person[9] = p.postcode;
        person[10] = p.city;
        person[11] = p.street;
        person[12] = p.birth_date;
        person[13] = p.national_id;
        for (int i = 0; i < 14; i++)
            if (person[i] != NULL && person[i][0] == '\0')
                person[i] = NULL;
        r = nv_link_set_add(set, key, keylen, person);
    }
    mdb_cursor_close(c);
    return r;
}

int
nv_link_fit_state(MDB_txn *txn, const struct nv_link_db *db, uint64_t *fitted,
                  uint64_t *frozen, uint64_t *records)
{
    MDB_stat ms;
    int r, rc;

    *records = 0;
    if ((r = meta_get_u64(txn, db, "em_records", fitted)) < 0 ||
        (r = meta_get_u64(txn, db, "frozen", frozen)) < 0)
        return r;
    if ((rc = mdb_stat(txn, db->mrec, &ms)) != 0)
        return mdb_fail(rc, "cannot read");
    *records = ms.ms_entries;
    return 0;
}

int
nv_link_freeze(MDB_txn *txn, const struct nv_link_db *db, int frozen)
{
    return meta_put_u64(txn, db, "frozen", frozen ? 1 : 0);
}

int
nv_link_members(MDB_txn *txn, const struct nv_link_db *db, const char *rcu,
                int (*fn)(void *ctx, uint64_t rid, const char *key, size_t keylen),
                void *ctx)
{
    MDB_cursor *c;
    MDB_val k = { strlen(rcu), (void *)rcu }, v;
    uint64_t *rids = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;

    /* the rids first: fn may write to the store */
    if ((rc = mdb_cursor_open(txn, db->rcus, &c)) != 0)
        return mdb_fail(rc, "cannot read cluster members");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
        if (v.mv_size != 8)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            if ((rids = realloc(rids, cap * sizeof(*rids))) == NULL)
                abort();
        }
        rids[n++] = get_be64(v.mv_data);
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) {
        free(rids);
        return mdb_fail(rc, "cannot read cluster members");
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        uint8_t b[8];
        MDB_val mk = { 8, b }, mv;
        size_t kl;
        be64(b, rids[i]);
        if ((rc = mdb_get(txn, db->mrec, &mk, &mv)) == MDB_NOTFOUND)
            continue;
        if (rc != 0) {
            r = mdb_fail(rc, "cannot read match records");
            break;
        }
        if (mv.mv_size < 2 ||
            (kl = (size_t)((const uint8_t *)mv.mv_data)[0] << 8 |
                  ((const uint8_t *)mv.mv_data)[1]) + 2 > mv.mv_size) {
            r = nv_fail(NV_ECORRUPT, "hub store: a bad match record");
            break;
        }
        r = fn(ctx, rids[i], (const char *)mv.mv_data + 2, kl);
    }
    free(rids);
    return r;
}

int
nv_link_subject(MDB_txn *txn, const struct nv_link_db *db, const char *what, char *rcu)
{
    return nv_link_subject_rid(txn, db, what, rcu, NULL);
}

int
nv_link_subject_rid(MDB_txn *txn, const struct nv_link_db *db, const char *what, char *rcu,
                    uint64_t *rid)
{
    const char *colon = strchr(what, ':');
    MDB_cursor *c;
    MDB_val k, d;
    char pre[NV_NAME_MAX + 2];
    size_t el, kl;
    int rc, found = 0;

    if (colon == NULL) {
        if (rid != NULL)
            return nv_fail(NV_EINVAL, "'%.80s' is not ENTITY:KEY", what);
        return nv_link_resolve(txn, db, what, rcu);
    }
    /* entity:key, whatever the record's source: the first one linked */
    el = (size_t)(colon - what);
    kl = strlen(colon + 1);
    if (el == 0 || el > NV_NAME_MAX || kl == 0)
        return nv_fail(NV_EINVAL, "'%.80s' is not ENTITY:KEY", what);
    snprintf(pre, sizeof(pre), "%.*s", (int)el, what);
    if ((rc = mdb_cursor_open(txn, db->links, &c)) != 0)
        return mdb_fail(rc, "cannot read links");
    k.mv_size = el + 1;
    k.mv_data = pre;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0 && !found;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        const char *kk = k.mv_data, *z;
        if (k.mv_size <= el || memcmp(kk, pre, el + 1) != 0)
            break;
        z = memchr(kk + el + 1, 0, k.mv_size - el - 1);
        if (z && (size_t)(kk + k.mv_size - z - 1) == kl && memcmp(z + 1, colon + 1, kl) == 0 &&
            d.mv_size == sizeof(struct nv_link_val)) {
            struct nv_link_val lv;
            memcpy(&lv, d.mv_data, sizeof(lv));
            snprintf(rcu, NV_RCU_LEN + 1, "%.13s", lv.rcu);
            if (rid != NULL)
                *rid = lv.rid;
            found = 1;
        }
    }
    mdb_cursor_close(c);
    if (!found)
        return nv_fail(NV_ENOTFOUND, "no linked record '%.120s' (unmapped, or unknown)", what);
    return 0;
}
