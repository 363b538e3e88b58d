#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <jansson.h>
#include <sodium.h>

#include "../../formats/errors.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
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

static void
be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static uint64_t
get_be64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* Sorted bulk inserts into a duplicate-key database (blocks, ident, rcus):
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
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
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
        (rc = mdb_dbi_open(txn, "blocks", dup, &db->blocks)) != 0 ||
        (rc = mdb_dbi_open(txn, "rcus", dup, &db->rcus)) != 0 ||
        (rc = mdb_dbi_open(txn, "alias", MDB_CREATE, &db->alias)) != 0 ||
        (rc = mdb_dbi_open(txn, "review", MDB_CREATE, &db->review)) != 0 ||
        (rc = mdb_dbi_open(txn, "revby", dup, &db->revby)) != 0 ||
        (rc = mdb_dbi_open(txn, "decide", MDB_CREATE, &db->decide)) != 0 ||
        (rc = mdb_dbi_open(txn, "tf", MDB_CREATE, &db->tf)) != 0 ||
        (rc = mdb_dbi_open(txn, "ident", dup, &db->ident)) != 0 ||
        (rc = mdb_dbi_open(txn, "linkmeta", MDB_CREATE, &db->meta)) != 0)
        return mdb_fail(rc, "cannot open the matching databases");
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
    uint64_t h = 1469598103934665603ULL;

    h = (h ^ (unsigned char)kind) * 1099511628211ULL;
    for (; *value; value++)
        h = (h ^ (unsigned char)*value) * 1099511628211ULL;
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

/* Term-frequency changes of one bundle, kept in memory and written once
 * (a bundle of 450,000 records would otherwise read and write the counters
 * millions of times). */
struct tfd {
    uint64_t *key; /* field in the top byte, value hash below; 0 free */
    int64_t *delta;
    size_t cap, n;
};

static void
tfd_free(struct tfd *t)
{
    free(t->key);
    free(t->delta);
    memset(t, 0, sizeof(*t));
}

static int
tfd_add(struct tfd *t, int field, uint64_t h, int64_t d)
{
    uint64_t key = ((uint64_t)field << 56) ^ (h & 0x00ffffffffffffffULL);
    size_t i;

    if (key == 0)
        key = 1;
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 1 << 14;
        uint64_t *nk = calloc(ncap, sizeof(uint64_t));
        int64_t *nd = calloc(ncap, sizeof(int64_t));
        if (nk == NULL || nd == NULL) {
            free(nk);
            free(nd);
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        for (size_t j = 0; j < t->cap; j++)
            if (t->key[j] != 0) {
                size_t q = (size_t)(t->key[j] * 0x9e3779b97f4a7c15ULL) & (ncap - 1);
                while (nk[q] != 0)
                    q = (q + 1) & (ncap - 1);
                nk[q] = t->key[j];
                nd[q] = t->delta[j];
            }
        free(t->key);
        free(t->delta);
        t->key = nk;
        t->delta = nd;
        t->cap = ncap;
    }
    for (i = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (t->cap - 1); t->key[i] != 0;
         i = (i + 1) & (t->cap - 1))
        if (t->key[i] == key) {
            t->delta[i] += d;
            return 0;
        }
    t->key[i] = key;
    t->delta[i] = d;
    t->n++;
    return 0;
}

/* Count (delta +1/-1) the values of p. */
static int
tf_count(struct tfd *t, const struct match_person *p, int delta)
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
tfd_flush(MDB_txn *txn, const struct nv_link_db *db, const struct tfd *t)
{
    int64_t dtotal[MATCH_NFIELDS] = { 0 }, dsq[MATCH_NFIELDS] = { 0 };

    for (size_t i = 0; i < t->cap; i++) {
        uint8_t kb[9], vb[8];
        MDB_val k = { 9, kb }, d;
        int field;
        int64_t c = 0, nc;
        int rc;
        if (t->key[i] == 0 || t->delta[i] == 0)
            continue;
        field = (int)(t->key[i] >> 56);
        kb[0] = (uint8_t)field;
        be64(kb + 1, t->key[i] & 0x00ffffffffffffffULL);
        rc = mdb_get(txn, db->tf, &k, &d);
        if (rc == 0 && d.mv_size == 8)
            c = (int64_t)get_be64(d.mv_data);
        else if (rc != 0 && rc != MDB_NOTFOUND)
            return mdb_fail(rc, "cannot read term frequencies");
        nc = c + t->delta[i];
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
        if (rc != 0 && rc != MDB_NOTFOUND)
            return mdb_fail(rc, "cannot write term frequencies");
    }
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

/* Term-frequency cache for one bundle: value hash per field -> share. */
struct tfc {
    uint64_t *key;
    float *val;
    size_t cap, n;
    uint64_t total[MATCH_NFIELDS];
    double sumsq[MATCH_NFIELDS];
};

static int
tfc_init(struct tfc *c, MDB_txn *txn, const struct nv_link_db *db)
{
    memset(c, 0, sizeof(*c));
    c->cap = 1 << 16;
    c->key = calloc(c->cap, sizeof(uint64_t));
    c->val = calloc(c->cap, sizeof(float));
    if (c->key == NULL || c->val == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (size_t i = 0; i < NTF; i++) {
        char tn[16], sn[16];
        uint64_t sq;
        int r;
        snprintf(tn, sizeof(tn), "tf:%d", tf_fields[i]);
        snprintf(sn, sizeof(sn), "tfsq:%d", tf_fields[i]);
        if ((r = meta_get_u64(txn, db, tn, &c->total[tf_fields[i]])) < 0 ||
            (r = meta_get_u64(txn, db, sn, &sq)) < 0)
            return r;
        c->sumsq[tf_fields[i]] = (double)sq;
    }
    return 0;
}

static void
tfc_free(struct tfc *c)
{
    free(c->key);
    free(c->val);
}

/* The share of records holding the value of hash vh (fnv64) in field f. */
static float
tfc_get(struct tfc *c, MDB_txn *txn, const struct nv_link_db *db, int f, uint64_t vh)
{
    uint64_t h = vh * 31 + (uint64_t)f, hk = h ? h : 1;
    size_t i;
    uint8_t kb[9];
    MDB_val k = { 9, kb }, d;
    float share = 0;

    if (c->total[f] == 0)
        return 0;
    if (c->n * 2 >= c->cap) { /* grow */
        size_t ncap = c->cap * 2;
        uint64_t *nk = calloc(ncap, sizeof(uint64_t));
        float *nv = calloc(ncap, sizeof(float));
        if (nk == NULL || nv == NULL) {
            free(nk);
            free(nv);
            return 0;
        }
        for (size_t j = 0; j < c->cap; j++)
            if (c->key[j] != 0) {
                size_t p = (size_t)(c->key[j] & (ncap - 1));
                while (nk[p] != 0)
                    p = (p + 1) & (ncap - 1);
                nk[p] = c->key[j];
                nv[p] = c->val[j];
            }
        free(c->key);
        free(c->val);
        c->key = nk;
        c->val = nv;
        c->cap = ncap;
    }
    for (i = (size_t)(hk & (c->cap - 1)); c->key[i] != 0; i = (i + 1) & (c->cap - 1))
        if (c->key[i] == hk)
            return c->val[i];
    /* the counts are stored under the hash without its top byte (tfd) */
    kb[0] = (uint8_t)f;
    be64(kb + 1, vh & 0x00ffffffffffffffULL);
    if (mdb_get(txn, db->tf, &k, &d) == 0 && d.mv_size == 8)
        share = (float)((double)get_be64(d.mv_data) / (double)c->total[f]);
    c->key[i] = hk;
    c->val[i] = share;
    c->n++;
    return share;
}

static void
tfc_apply(struct tfc *c, MDB_txn *txn, const struct nv_link_db *db,
          const struct match_person *p, struct match_rec *r)
{
    for (size_t i = 0; i < NTF; i++) {
        const char *v = tf_value(p, tf_fields[i]);
        r->tf[tf_fields[i]] = v && *v ? tfc_get(c, txn, db, tf_fields[i], fnv64(v)) : 0;
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

static int
put_link(MDB_txn *txn, const struct nv_link_db *db, const char *key, size_t keylen,
         const struct nv_link_val *lv)
{
    MDB_val k = { keylen, (void *)key }, v = { sizeof(*lv), (void *)lv };
    int rc = mdb_put(txn, db->links, &k, &v, 0);

    return rc ? mdb_fail(rc, "cannot write a link") : 0;
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
    return 0;
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

struct u64map;
static int u64map_put(struct u64map *m, uint64_t key, uint32_t val);

/* Close the review pairs of rid; their partners are noted in touched. */
static int
drop_reviews(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid, struct u64map *touched)
{
    struct collect c = { NULL, 0, 0, NULL };
    int r = partners(txn, db->review, rid, collect_fn, &c);

    for (size_t i = 0; r == 0 && i < c.n; i++)
        if ((r = del_both(txn, db->review, rid, c.v[i])) == 0)
            r = u64map_put(touched, c.v[i], 1);
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

/* ---- maps: 64-bit key (never 0) -> 32-bit value, open addressing ---- */

struct u64map {
    uint64_t *k; /* 0: free */
    uint32_t *v;
    size_t cap, n;
};

static size_t
u64map_slot(const struct u64map *m, uint64_t key)
{
    return (size_t)(key * 0x9e3779b97f4a7c15ULL >> 20) & (m->cap - 1);
}

static uint32_t *
u64map_find(const struct u64map *m, uint64_t key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = u64map_slot(m, key); m->k[i] != 0; i = (i + 1) & (m->cap - 1))
        if (m->k[i] == key)
            return &m->v[i];
    return NULL;
}

/* Set key to val (added or replaced). */
static int
u64map_put(struct u64map *m, uint64_t key, uint32_t val)
{
    size_t i;

    if ((m->n + 1) * 2 > m->cap) {
        struct u64map g = { NULL, NULL, m->cap ? 2 * m->cap : 1024, 0 };
        if ((g.k = calloc(g.cap, sizeof(uint64_t))) == NULL ||
            (g.v = malloc(g.cap * sizeof(uint32_t))) == NULL) {
            free(g.k);
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        for (size_t j = 0; j < m->cap; j++)
            if (m->k[j] != 0) {
                for (i = u64map_slot(&g, m->k[j]); g.k[i] != 0; i = (i + 1) & (g.cap - 1))
                    ;
                g.k[i] = m->k[j];
                g.v[i] = m->v[j];
            }
        g.n = m->n;
        free(m->k);
        free(m->v);
        *m = g;
    }
    for (i = u64map_slot(m, key); m->k[i] != 0; i = (i + 1) & (m->cap - 1))
        if (m->k[i] == key) {
            m->v[i] = val;
            return 0;
        }
    m->k[i] = key;
    m->v[i] = val;
    m->n++;
    return 0;
}

/* Remove key (backward-shift deletion: no tombstones). */
static void
u64map_del(struct u64map *m, uint64_t key)
{
    size_t i, j;

    if (m->cap == 0)
        return;
    for (i = u64map_slot(m, key); m->k[i] != key; i = (i + 1) & (m->cap - 1))
        if (m->k[i] == 0)
            return;
    for (j = (i + 1) & (m->cap - 1); m->k[j] != 0; j = (j + 1) & (m->cap - 1)) {
        size_t h = u64map_slot(m, m->k[j]);
        /* j's entry may move to i if its home is not in (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
            m->k[i] = m->k[j];
            m->v[i] = m->v[j];
            i = j;
        }
    }
    m->k[i] = 0;
    m->n--;
}

static void
u64map_free(struct u64map *m)
{
    free(m->k);
    free(m->v);
    memset(m, 0, sizeof(*m));
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
    struct u64map byrid;         /* rid -> slot */
    struct u64map byrcu;         /* fnv64(RCU) -> first slot */
    uint64_t *bk;                /* blocking keys: hash >> 32 << 32 | slot, sorted */
    size_t nbk;
    uint32_t *bdir;              /* bdir[d]: first key of bk whose top LC_DIRBITS
                                    bits are >= d (1 << LC_DIRBITS + 1 entries) */
    /* term frequencies of the live records: tf_key(field, fnv64) -> count,
     * and per field the total and the sum of squared counts (the tf DB and
     * its meta totals hold the same for other readers) */
    struct u64map tfn;
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
    u64map_free(&lc.byrid);
    u64map_free(&lc.byrcu);
    free(lc.bk);
    free(lc.bdir);
    u64map_free(&lc.tfn);
    memset(&lc, 0, sizeof(lc));
}

static const char *
lc_key(uint32_t s)
{
    return (const char *)lc.keys.data + lc.koff[s];
}

static uint32_t
lc_slot(uint64_t rid)
{
    uint32_t *v = u64map_find(&lc.byrid, rid);

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
    if ((r = u64map_put(&lc.byrid, rid, s)) < 0)
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

/* The key of a term-frequency count (as in the tf DB: the field in the
 * top byte, the value hash below). */
static uint64_t
tf_key(int field, uint64_t h)
{
    uint64_t key = ((uint64_t)field << 56) ^ (h & 0x00ffffffffffffffULL);

    return key ? key : 1;
}

/* Count delta more records holding value hash h in field f. */
static int
lc_tfadd(int f, uint64_t h, int64_t delta)
{
    uint64_t key = tf_key(f, h);
    uint32_t *v = u64map_find(&lc.tfn, key);
    int64_t c = v != NULL ? *v : 0, nc = c + delta;

    if (nc < 0)
        nc = 0;
    if (nc > UINT32_MAX)
        nc = UINT32_MAX;
    lc.tftot[f] = (uint64_t)((int64_t)lc.tftot[f] + (nc - c));
    lc.tfsq[f] += (double)nc * (double)nc - (double)c * (double)c;
    if (nc == 0) {
        if (v != NULL)
            u64map_del(&lc.tfn, key);
        return 0;
    }
    if (v != NULL) {
        *v = (uint32_t)nc;
        return 0;
    }
    return u64map_put(&lc.tfn, key, (uint32_t)nc);
}

/* The share of live records holding value hash h in field f (0: none). */
static float
lc_share(int f, uint64_t h)
{
    uint32_t *v;

    if (lc.tftot[f] == 0 || (v = u64map_find(&lc.tfn, tf_key(f, h))) == NULL)
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
    head = u64map_find(&lc.byrcu, h);
    lc.rnext[s] = head != NULL ? *head : LC_NONE;
    if ((r = u64map_put(&lc.byrcu, h, s)) < 0)
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
    head = u64map_find(&lc.byrcu, h);
    lc.inlist[s] = 0;
    if (head == NULL)
        return;
    if (*head == s) {
        if (lc.rnext[s] == LC_NONE)
            u64map_del(&lc.byrcu, h);
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

/* Prepare the records of slots [lo, hi) from their mrec values. */
struct lc_job {
    const MDB_val *vals;
    size_t lo, hi;
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
            (j->r = match_rec_init(&lc.rec[s], &p)) < 0)
            break;
        lc_tf((uint32_t)s, &p);
    }
    return NULL;
}

static int lc_dir(void);

/* Build the cache from the store. */
static int
lc_build(MDB_txn *txn, const struct nv_link_db *db)
{
    MDB_cursor *c = NULL;
    MDB_val k, v, *vals = NULL;
    size_t cap = 0, vcap = 0;
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
        /* two threads (the hub's machine has two cores) */
        struct lc_job jobs[2] = { { vals, 0, lc.n / 2, 0 }, { vals, lc.n / 2, lc.n, 0 } };
        pthread_t tid;
        int started = lc.n >= 10000 && pthread_create(&tid, NULL, lc_prepare, &jobs[1]) == 0;
        lc_prepare(&jobs[0]);
        if (started)
            pthread_join(tid, NULL);
        else
            lc_prepare(&jobs[1]);
        r = jobs[0].r < 0 ? jobs[0].r : jobs[1].r;
    }
    free(vals);
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
    for (size_t s = 0; r == 0 && s < lc.n; s++)
        r = lc_keys((uint32_t)s, &lc.bk, &lc.nbk, &cap);
    if (r == 0)
        r = match_sort_u64(lc.bk, lc.nbk);
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
        size_t i, j, o;
        if (nb == NULL) {
            free(add);
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        lc.bk = nb;
        if ((r = match_sort_u64(add, nadd)) < 0) {
            free(add);
            return r;
        }
        /* merge from the end, in place */
        i = lc.nbk, j = nadd, o = lc.nbk + nadd;
        while (j > 0) {
            if (i > 0 && lc.bk[i - 1] > add[j - 1])
                lc.bk[--o] = lc.bk[--i];
            else
                lc.bk[--o] = add[--j];
        }
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
    struct u64map idx; /* rid -> index */
    uint32_t *byslot;  /* cache slot -> index + 1, 0 not in the batch */
    size_t nslot;
};

static int
batch_find(const struct batch *b, uint64_t rid)
{
    uint32_t *v = u64map_find(&b->idx, rid);

    return v != NULL ? (int)*v : -1;
}

static void
batch_free(struct batch *b)
{
    free(b->e);
    free(b->recs);
    free(b->byslot);
    u64map_free(&b->idx);
    memset(b, 0, sizeof(*b));
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
    b->recs[b->n] = lc.rec[s];
    memset(b->recs[b->n].tf, 0, sizeof(b->recs[b->n].tf));
    for (size_t i = 0; i < NTF; i++)
        if (lc.tfh[s][i] != 0)
            b->recs[b->n].tf[tf_fields[i]] = lc_share(tf_fields[i], lc.tfh[s][i]);
    if (!bundle && lc.lv[s].rcu[0] != '\0') {
        e->lv = lc.lv[s];
        memcpy(e->old_rcu, e->lv.rcu, sizeof(e->old_rcu));
    }
    if ((r = u64map_put(&b->idx, e->rid, (uint32_t)b->n)) < 0)
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

    if (rcu[0] == '\0' || (head = u64map_find(&lc.byrcu, rcu_hash(rcu))) == NULL)
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
    const uint64_t *pairs; /* slot << 32 | batch index */
    uint8_t *keep;
    const struct match_model *mo;
    size_t lo, hi;
};

static void *
near_worker(void *arg)
{
    struct near_job *j = arg;
    struct match_cmp c;

    for (size_t k = j->lo; k < j->hi; k++) {
        const struct match_rec *st = &lc.rec[j->pairs[k] >> 32];
        const struct match_rec *nw = &j->b->recs[j->pairs[k] & 0xFFFFFFFF];
        if (k + 16 < j->hi)
            __builtin_prefetch(&j->b->recs[j->pairs[k + 16] & 0xFFFFFFFF]);
        if (k + 8 < j->hi)
            __builtin_prefetch(j->b->recs[j->pairs[k + 8] & 0xFFFFFFFF].arena);
        match_compare(nw, st, &c);
        j->keep[k] = match_score(j->mo, nw, st, &c) >= j->mo->review;
    }
    return NULL;
}

static int
near(struct batch *b, size_t nbundle, const struct match_model *mo, uint64_t *loaded,
     size_t *npairs)
{
    struct match_key keys[MATCH_MAX_KEYS];
    uint64_t *pairs = NULL;
    uint8_t *keep = NULL;
    size_t n = 0, cap = 0, w = 0;
    int r = 0;

    for (size_t i = 0; i < nbundle && r == 0; i++) {
        size_t nk = match_rec_keys(&b->recs[i], keys, MATCH_MAX_KEYS);
        for (size_t k = 0; k < nk && r == 0; k++) {
            size_t lo, hi;
            lc_block(keys[k].hash, &lo, &hi);
            if (hi - lo > BLOCK_MAX || hi - lo < 2)
                continue;
            if (n + (hi - lo) > cap) {
                size_t c = cap ? 2 * cap : 1 << 20;
                uint64_t *p;
                while (c < n + (hi - lo))
                    c *= 2;
                if ((p = realloc(pairs, c * sizeof(uint64_t))) == NULL) {
                    r = nv_fail(NV_ENOMEM, "out of memory");
                    break;
                }
                pairs = p;
                cap = c;
            }
            for (size_t j = lo; j < hi; j++) {
                uint32_t s = (uint32_t)lc.bk[j];
                if ((s < b->nslot && b->byslot[s] != 0) || lc.rid[s] == 0)
                    continue;
                pairs[n++] = (uint64_t)s << 32 | i;
            }
        }
    }
    if (r == 0)
        r = match_sort_u64(pairs, n);
    for (size_t k = 0; r == 0 && k < n; k++)
        if (w == 0 || pairs[k] != pairs[w - 1])
            pairs[w++] = pairs[k];
    n = w;
    *npairs = n;
    if (r == 0 && n > 0 && (keep = malloc(n)) == NULL)
        r = nv_fail(NV_ENOMEM, "out of memory");
    if (r == 0 && n > 0) {
        /* the stored records' term frequencies, as of now */
        for (size_t k = 0; k < n; k++) {
            uint32_t s = (uint32_t)(pairs[k] >> 32);
            if (k > 0 && (uint32_t)(pairs[k - 1] >> 32) == s)
                continue;
            memset(lc.rec[s].tf, 0, sizeof(lc.rec[s].tf));
            for (size_t f = 0; f < NTF; f++)
                if (lc.tfh[s][f] != 0)
                    lc.rec[s].tf[tf_fields[f]] = lc_share(tf_fields[f], lc.tfh[s][f]);
        }
        {
            struct near_job jobs[2] = { { b, pairs, keep, mo, 0, n / 2 },
                                        { b, pairs, keep, mo, n / 2, n } };
            pthread_t tid;
            int started = n >= 10000 && pthread_create(&tid, NULL, near_worker, &jobs[1]) == 0;
            near_worker(&jobs[0]);
            if (started)
                pthread_join(tid, NULL);
            else
                near_worker(&jobs[1]);
        }
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

/* RCU -> vote, open addressing (a bundle can touch a million clusters). */
struct rmap {
    struct vote *s;
    size_t cap;
};

static struct vote *
rmap_get(struct rmap *m, const char *rcu, int create)
{
    uint64_t h = fnv64(rcu);
    size_t i;

    for (i = (size_t)h & (m->cap - 1); m->s[i].rcu[0] != '\0'; i = (i + 1) & (m->cap - 1))
        if (strcmp(m->s[i].rcu, rcu) == 0)
            return &m->s[i];
    if (!create)
        return NULL;
    snprintf(m->s[i].rcu, sizeof(m->s[i].rcu), "%s", rcu);
    m->s[i].n = 0;
    m->s[i].target = 0;
    return &m->s[i];
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

int
nv_link_bundle(MDB_txn *txn, const struct nv_link_db *db, struct nv_link_set *set,
               struct nv_link_stats *st)
{
    struct batch b;
    struct tfd tfd;
    struct bulk bi = { NULL, 0, 0, 8 }, br = { NULL, 0, 0, 16 };
    struct match_model mo;
    struct match_opts opts;
    struct match_result res;
    uint64_t next_rid;
    double t[5] = { 0, 0, 0, 0, 0 }, lambda0 = 0;
    size_t ncand = 0;
    int rc;
    uint32_t *cl = NULL, *order = NULL;
    struct cl *cls = NULL;
    size_t ncl = 0, nbundle;
    char (*chosen)[16] = NULL;
    float *best = NULL;
    uint8_t *active = NULL;
    uint32_t *group = NULL;
    struct u64map revt = { NULL, NULL, 0, 0 }; /* rids whose review pairs changed */
    size_t first_new = 0;
    int r, have_res = 0;

    memset(st, 0, sizeof(*st));
    memset(&b, 0, sizeof(b));
    memset(&res, 0, sizeof(res));
    memset(&tfd, 0, sizeof(tfd));
    if (set->n == 0)
        return 0;
    t[0] = now_s();
    nv_hstore_unmap(txn);
    if ((r = lc_ready(txn, db)) < 0)
        goto out;
    first_new = lc.n;
    {
        /* blocking is in memory now: a store written before keeps no stale
         * index */
        MDB_stat bs;
        if (mdb_stat(txn, db->blocks, &bs) == 0 && bs.ms_entries > 0 &&
            (rc = mdb_drop(txn, db->blocks, 0)) != 0) {
            r = mdb_fail(rc, "cannot empty the old blocking index");
            goto out;
        }
    }
    if ((r = meta_get_u64(txn, db, "rid", &next_rid)) < 0)
        goto out;
    if (next_rid == 0)
        next_rid = 1;
    /* a key given twice: its last version counts */
    {
        size_t cap = 1;
        uint32_t *slot;
        while (cap < 2 * set->n)
            cap <<= 1;
        if ((slot = calloc(cap, sizeof(uint32_t))) == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = set->n; i-- > 0;) {
            uint64_t h = 1469598103934665603ULL;
            size_t q;
            for (size_t j = 0; j < set->v[i].keylen; j++)
                h = (h ^ (unsigned char)set->v[i].key[j]) * 1099511628211ULL;
            set->v[i].skip = 0;
            for (q = (size_t)h & (cap - 1); slot[q] != 0; q = (q + 1) & (cap - 1)) {
                const struct nv_link_item *o = &set->v[slot[q] - 1];
                if (o->keylen == set->v[i].keylen &&
                    memcmp(o->key, set->v[i].key, o->keylen) == 0) {
                    set->v[i].skip = 1;
                    break;
                }
            }
            if (!set->v[i].skip)
                slot[q] = (uint32_t)(i + 1);
        }
        free(slot);
    }
    /* 1. take the changed records out, put their new versions in */
    for (size_t i = 0; i < set->n; i++) {
        struct nv_link_item *it = &set->v[i];
        struct nv_link_val old;
        int had, is_new = 0;
        uint64_t rid;
        if (it->skip)
            continue;
        if (i % 16384 == 16383)
            nv_hstore_unmap(txn);
        had = nv_link_get(txn, db, it->key, it->keylen, &old);
        if (had < 0 && had != NV_ENOTFOUND) {
            r = had;
            goto out;
        }
        if (had == 0) {
            uint8_t kb[8];
            MDB_val k = { 8, kb }, v;
            struct match_person p;
            const char *key;
            size_t keylen;
            char entity[NV_NAME_MAX + 1];
            int rc;
            uint32_t os = lc_slot(old.rid);
            be64(kb, old.rid);
            rc = mdb_get(txn, db->mrec, &k, &v);
            if (rc == 0) {
                if ((r = decode_mrec(&v, &p, &key, &keylen, entity, sizeof(entity))) < 0)
                    goto out;
                r = tf_count(&tfd, &p, -1);
                if (r == 0)
                    r = ident_index(txn, db, &p, old.rid, 0);
                if (r < 0)
                    goto out;
            }
            /* its blocking keys are replaced once the candidates are in */
            if (os != LC_NONE) {
                lc.chg[os] = 1;
                lc_unlink(os);
            }
            if ((r = rcu_member(txn, db, old.rcu, old.rid, 0)) < 0 ||
                (r = drop_reviews(txn, db, old.rid, &revt)) < 0)
                goto out;
            if (it->deleted) {
                MDB_val lk = { it->keylen, it->key };
                if ((rc = mdb_del(txn, db->mrec, &k, NULL)) != 0 && rc != MDB_NOTFOUND) {
                    r = mdb_fail(rc, "cannot delete a match record");
                    goto out;
                }
                if ((rc = mdb_del(txn, db->links, &lk, NULL)) != 0 && rc != MDB_NOTFOUND) {
                    r = mdb_fail(rc, "cannot delete a link");
                    goto out;
                }
                if (os != LC_NONE) {
                    u64map_del(&lc.byrid, old.rid);
                    match_rec_release(&lc.rec[os]);
                    memset(&lc.lv[os], 0, sizeof(lc.lv[os]));
                    lc.rid[os] = 0;
                }
                /* the rest of its cluster is resolved again below */
                memcpy(it->old_rcu, old.rcu, sizeof(it->old_rcu));
                continue;
            }
            rid = old.rid;
        } else {
            if (it->deleted)
                continue;
            rid = next_rid++;
            is_new = 1;
            memset(&old, 0, sizeof(old));
        }
        it->rid = rid;
        memcpy(it->old_rcu, old.rcu, sizeof(it->old_rcu));
        /* the new version: stored now, linked below */
        {
            const char *key;
            size_t keylen;
            char entity[NV_NAME_MAX + 1];
            struct match_person p;
            MDB_val v = { 0, NULL };
            struct nv_buf tmp = NV_BUF_INIT;
            if ((r = put_mrec(txn, db, rid, it->key, it->keylen, &it->person, is_new)) < 0)
                goto out;
            /* decode what was just written for the term frequencies */
            if ((r = nv_buf_add(&tmp, "\0\0", 2)) < 0 ||
                (r = nv_buf_add(&tmp, it->person.data, it->person.len)) < 0) {
                nv_buf_release(&tmp);
                goto out;
            }
            v.mv_size = tmp.len;
            v.mv_data = tmp.data;
            if ((r = decode_mrec(&v, &p, &key, &keylen, entity, sizeof(entity))) == 0)
                r = tf_count(&tfd, &p, +1);
            if (r == 0)
                r = ident_collect(&bi, &p, rid);
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
            if (r < 0)
                goto out;
        }
    }
    if ((r = meta_put_u64(txn, db, "rid", next_rid)) < 0 || (r = tfd_flush(txn, db, &tfd)) < 0 ||
        (r = bulk_flush(txn, db->ident, &bi, 8)) < 0)
        goto out;
    /* the counts in memory follow */
    for (size_t i = 0; i < tfd.cap && r == 0; i++)
        if (tfd.key[i] != 0 && tfd.delta[i] != 0)
            r = lc_tfadd((int)(tfd.key[i] >> 56), tfd.key[i], tfd.delta[i]);
    if (r < 0)
        goto out;
    /* 2. the batch: the bundle's records (each once), then their neighbours
     * and the clusters they were and are in */
    for (size_t i = 0; i < set->n; i++) {
        int idx;
        if (set->v[i].deleted || set->v[i].skip)
            continue;
        uint32_t s = lc_slot(set->v[i].rid);
        if (s == LC_NONE)
            continue;
        if ((r = batch_load(&b, s, 1, &idx)) < 0)
            goto out;
        if (idx >= 0)
            memcpy(b.e[idx].old_rcu, set->v[i].old_rcu, sizeof(set->v[i].old_rcu));
    }
    nbundle = b.n;
    st->records = nbundle;
    t[4] = now_s();
    /* deleted records: what remains of their clusters is resolved again,
     * and so are the clusters the bundle's records were in */
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i].deleted && !set->v[i].skip &&
            (r = batch_cluster(&b, set->v[i].old_rcu, &st->compared)) < 0)
            goto out;
    for (size_t i = 0; i < nbundle; i++)
        if ((r = batch_cluster(&b, b.e[i].old_rcu, &st->compared)) < 0)
            goto out;
    /* the bundle's keys in the index: its records meet each other there */
    if ((r = lc_reindex(first_new)) < 0)
        goto out;
    /* the weights, refitted by EM over the whole store (unless frozen)
     * each time it has doubled since the last fit, so they do not depend
     * on how the data was cut into bundles, and when an entity no fit has
     * seen sends its first records (an acquisition's first bundle): its
     * pairs across entities are new to the weights.  On the 1,000,000 +
     * 450,000 benchmark that fit costs about 3 s and lifted recall from
     * 0.958 to 0.964, and review from 1.29% to 1.05% of the records, at
     * the same precision. */
    {
        uint64_t frozen, fitted, seen = 1;
        char ek[8 + NV_NAME_MAX + 1] = "";
        MDB_stat ms;
        if ((r = meta_get_u64(txn, db, "frozen", &frozen)) < 0 ||
            (r = meta_get_u64(txn, db, "em_records", &fitted)) < 0)
            goto out;
        if ((rc = mdb_stat(txn, db->mrec, &ms)) != 0) {
            r = mdb_fail(rc, "cannot read");
            goto out;
        }
        /* the entity of the bundle's first record that is not a delete */
        for (size_t i = 0; i < set->n && seen; i++)
            if (!set->v[i].deleted && !set->v[i].skip) {
                snprintf(ek, sizeof(ek), "em_ent:%s", set->v[i].key);
                if ((r = meta_get_u64(txn, db, ek, &seen)) < 0)
                    goto out;
                break;
            }
        if (!frozen && ms.ms_entries >= EM_MIN_TOTAL &&
            (ms.ms_entries >= 2 * fitted || !seen)) {
            if ((r = nv_link_learn(txn, db, EM_SAMPLE, &mo)) < 0)
                goto out;
            st->em_fitted = 1;
            if (ek[0] != '\0' && (r = meta_put_u64(txn, db, ek, 1)) < 0)
                goto out;
        }
    }
    if ((r = nv_link_model(txn, db, &mo)) < 0)
        goto out;
    lc_tf_model(&mo);
    {
        /* a person has about as many records whatever the store's size,
         * so the share of matches among all pairs falls as 1/records:
         * the prior of the last fit, for the store as it is now */
        uint64_t fitted;
        MDB_stat ms;
        if ((r = meta_get_u64(txn, db, "em_records", &fitted)) < 0)
            goto out;
        lambda0 = mo.lambda;
        if (fitted > 0 && mdb_stat(txn, db->mrec, &ms) == 0 && ms.ms_entries > fitted) {
            mo.lambda *= (double)fitted / (double)ms.ms_entries;
            match_model_refine(&mo);
        }
    }
    t[1] = now_s();
    if ((r = near(&b, nbundle, &mo, &st->compared, &ncand)) < 0)
        goto out;
    if (b.n == 0)
        goto save;
    /* Incremental: the bundle's records and the clusters they were in are
     * resolved afresh (active); the other stored records keep the pairs
     * within their clusters, and a pair of two of them from different
     * clusters, weighed when they came, is not compared again. */
    {
        struct u64map touched = { NULL, NULL, 0, 0 }, gid = { NULL, NULL, 0, 0 };
        if ((active = calloc(b.n, 1)) == NULL || (group = calloc(b.n, sizeof(uint32_t))) == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < set->n && r == 0; i++)
            if (!set->v[i].skip && set->v[i].old_rcu[0] != '\0')
                r = u64map_put(&touched, rcu_hash(set->v[i].old_rcu), 1);
        for (size_t i = 0; i < b.n && r == 0; i++) {
            uint64_t h;
            uint32_t *g;
            if (b.e[i].bundle) {
                active[i] = 1;
                continue;
            }
            if (b.e[i].old_rcu[0] == '\0') {
                active[i] = 1;
                continue;
            }
            h = rcu_hash(b.e[i].old_rcu);
            if (u64map_find(&touched, h) != NULL) {
                active[i] = 1;
                continue;
            }
            if ((g = u64map_find(&gid, h)) != NULL)
                group[i] = *g;
            else if ((r = u64map_put(&gid, h, (uint32_t)(gid.n + 1))) == 0)
                group[i] = (uint32_t)gid.n;
        }
        u64map_free(&touched);
        u64map_free(&gid);
        if (r < 0)
            goto out;
    }
    t[2] = now_s();
    /* 3. resolve */
    match_opts_init(&opts);
    opts.block_max = BLOCK_MAX;
    opts.cluster_max = CLUSTER_MAX;
    opts.threads = 2;
    opts.flags = MATCH_NO_EM;
    opts.active = active;
    opts.group = group;
    if ((r = match_batch(b.recs, b.n, &opts, &mo, &res)) < 0)
        goto out;
    have_res = 1;
    t[3] = now_s();
    lc_tf_model(&mo);
    /* 4. decisions, then clusters to RCUs */
    if ((cl = malloc(b.n * sizeof(uint32_t))) == NULL ||
        (order = malloc(b.n * sizeof(uint32_t))) == NULL ||
        (best = calloc(b.n, sizeof(float))) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(cl, res.cluster, b.n * sizeof(uint32_t));
    if ((r = apply_decisions(txn, db, &b, cl)) < 0)
        goto out;
    for (size_t i = 0; i < b.n; i++) {
        cl[i] = uf_find(cl, (uint32_t)i);
        order[i] = (uint32_t)i;
    }
    sort_roots = cl;
    qsort(order, b.n, sizeof(uint32_t), by_root);
    if ((cls = malloc(b.n * sizeof(*cls))) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < b.n;) {
        size_t j = i;
        while (j < b.n && cl[order[j]] == cl[order[i]])
            j++;
        cls[ncl].root = cl[order[i]];
        cls[ncl].first = (uint32_t)i;
        cls[ncl].n = (uint32_t)(j - i);
        ncl++;
        i = j;
    }
    qsort(cls, ncl, sizeof(*cls), cl_cmp);
    if ((chosen = calloc(ncl, sizeof(*chosen))) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    {
        /* RCUs taken, and the former RCUs with the cluster that holds most
         * of their members (for the aliases of a merge) */
        struct rmap taken = { NULL, 0 }, formers = { NULL, 0 };
        size_t cap = 16;
        while (cap < 4 * (b.n + 1))
            cap <<= 1;
        taken.cap = formers.cap = cap;
        if ((taken.s = calloc(cap, sizeof(struct vote))) == NULL ||
            (formers.s = calloc(cap, sizeof(struct vote))) == NULL) {
            free(taken.s);
            r = nv_fail(NV_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t c = 0; c < ncl; c++) {
            struct vote *votes = calloc(cls[c].n, sizeof(*votes));
            size_t nv = 0, k;
            if (votes == NULL)
                abort();
            for (uint32_t m = 0; m < cls[c].n; m++) {
                const char *o = b.e[order[cls[c].first + m]].old_rcu;
                if (o[0] == '\0')
                    continue;
                for (k = 0; k < nv && strcmp(votes[k].rcu, o) != 0; k++)
                    ;
                if (k == nv) {
                    memcpy(votes[nv].rcu, o, 16);
                    nv++;
                }
                votes[k].n++;
            }
            qsort(votes, nv, sizeof(*votes), vote_cmp);
            for (k = 0; k < nv && rmap_get(&taken, votes[k].rcu, 0) != NULL; k++)
                ;
            if (k < nv) {
                memcpy(chosen[c], votes[k].rcu, 16);
            } else {
                new_rcu(chosen[c]);
                if (nv > 0)
                    st->split++;
                else if (cls[c].n > 0)
                    st->new_rcus++;
            }
            (void)rmap_get(&taken, chosen[c], 1);
            /* former RCUs not chosen here: remember the biggest share */
            for (size_t q = 0; q < nv; q++) {
                struct vote *f;
                if (strcmp(votes[q].rcu, chosen[c]) == 0)
                    continue;
                f = rmap_get(&formers, votes[q].rcu, 1);
                if (votes[q].n > f->n) {
                    f->n = votes[q].n;
                    f->target = c;
                }
            }
            free(votes);
        }
        /* a former RCU taken by no cluster: merged into where most went */
        for (size_t f = 0; f < formers.cap && r == 0; f++) {
            if (formers.s[f].rcu[0] == '\0' || rmap_get(&taken, formers.s[f].rcu, 0) != NULL)
                continue;
            {
                char from[NV_RCU_LEN + 1];
                MDB_val k, v = { NV_RCU_LEN, chosen[formers.s[f].target] };
                int rc2;
                memcpy(from, formers.s[f].rcu, NV_RCU_LEN);
                from[NV_RCU_LEN] = '\0';
                k.mv_size = NV_RCU_LEN;
                k.mv_data = from;
                if ((rc2 = mdb_put(txn, db->alias, &k, &v, 0)) != 0)
                    r = mdb_fail(rc2, "cannot write an alias");
                st->merged++;
            }
        }
        free(taken.s);
        free(formers.s);
        if (r < 0)
            goto out;
    }
    /* 5. review pairs of the bundle's records; best link scores */
    for (size_t i = 0; i < nbundle; i++)
        if ((r = drop_reviews(txn, db, b.e[i].rid, &revt)) < 0)
            goto out;
    for (size_t p = 0; p < res.npairs; p++) {
        const struct match_pair *mp = &res.pairs[p];
        uint64_t ra = b.e[mp->a].rid, rb = b.e[mp->b].rid;
        if (p % 16384 == 16383)
            nv_hstore_unmap(txn);
        if (cl[mp->a] == cl[mp->b]) {
            if (mp->score > best[mp->a])
                best[mp->a] = mp->score;
            if (mp->score > best[mp->b])
                best[mp->b] = mp->score;
            continue;
        }
        if (mp->status != MATCH_REVIEW || (!b.e[mp->a].bundle && !b.e[mp->b].bundle))
            continue;
        /* a pair the rules say are two people (a household, twins, another
         * generation) stays apart: the queue is for real doubt */
        if (match_cmp_contradicted(&mp->cmp, match_model_rules(&mo, MATCH_RULES_DEFAULT)))
            continue;
        {
            uint8_t kb[16];
            MDB_val k = { 16, kb }, v;
            char text[160], when[21];
            pair_key(kb, ra, rb);
            if (mdb_get(txn, db->decide, &k, &v) == 0)
                continue; /* decided already: kept apart */
            snprintf(text, sizeof(text), "{\"score\":%.3f,\"cmp\":%u,\"since\":\"%s\"}",
                     (double)mp->score, (unsigned)match_cmp_pack(&mp->cmp),
                     nv_time_format(nv_now(), when));
            if ((r = put_both(txn, db->review, ra, rb, text)) < 0 ||
                (r = u64map_put(&revt, ra, 1)) < 0 || (r = u64map_put(&revt, rb, 1)) < 0)
                goto out;
            st->review++;
        }
    }
    /* 6. write the links */
    for (size_t c = 0; c < ncl; c++) {
        for (uint32_t m = 0; m < cls[c].n; m++) {
            uint32_t i = order[cls[c].first + m];
            struct ent *e = &b.e[i];
            struct nv_link_val lv;
            if (i % 16384 == 16383)
                nv_hstore_unmap(txn);
            memset(&lv, 0, sizeof(lv));
            lv.rid = e->rid;
            memcpy(lv.rcu, chosen[c], 16);
            lv.status = cls[c].n > 1 ? NV_LINK_LINKED : NV_LINK_NEW;
            /* open review pairs: unchanged unless this bundle opened or
             * closed one of the record's */
            if (u64map_find(&revt, e->rid) != NULL ? has_review(txn, db, e->rid)
                                                    : !e->bundle && e->lv.status == NV_LINK_REVIEW)
                lv.status = NV_LINK_REVIEW;
            lv.score = best[i];
            if (e->bundle && cls[c].n > 1)
                st->linked++;
            if (!e->bundle && memcmp(&lv, &e->lv, sizeof(lv)) == 0)
                continue;
            if (strcmp(e->old_rcu, lv.rcu) != 0) {
                if (!e->bundle && e->old_rcu[0] != '\0' &&
                    (r = rcu_member(txn, db, e->old_rcu, e->rid, 0)) < 0)
                    goto out;
            }
            if ((r = bulk_add(&br, lv.rcu, e->rid)) < 0 ||
                (r = put_link(txn, db, e->key, e->keylen, &lv)) < 0 ||
                (r = lc_set_link(e->slot, &lv)) < 0)
                goto out;
        }
    }
    if ((r = bulk_flush(txn, db->rcus, &br, 0)) < 0)
        goto out;
save:
    if (have_res) {
        mo.lambda = lambda0; /* stored as fitted (scaled by each bundle) */
        match_model_refine(&mo);
        if ((r = nv_link_model_save(txn, db, &mo)) < 0)
            goto out;
    }
    if ((r = lc_seal(txn, db)) < 0)
        goto out;
    if (have_res)
        nv_debug("link", "%zu records (%zu from the bundle, %zu pairs with stored ones "
                 "scored): store %.2f s, model %.2f s, candidates %.2f s, "
                 "match_batch %.2f s (blocking %.2f, comparing %.2f, EM %.2f, clusters "
                 "%.2f), RCUs %.2f s", b.n, nbundle, ncand, t[4] - t[0], t[1] - t[4],
                 t[2] - t[1], t[3] - t[2],
                 res.seconds[0], res.seconds[1], res.seconds[2], res.seconds[3],
                 now_s() - t[3]);
    r = 0;
out:
    if (r < 0)
        lc_free(); /* part of the bundle is in it: rebuilt next time */
    nv_hstore_unmap(txn);
    if (have_res)
        match_result_release(&res);
    batch_free(&b);
    tfd_free(&tfd);
    bulk_free(&bi);
    bulk_free(&br);
    free(active);
    free(group);
    u64map_free(&revt);
    free(cl);
    free(order);
    free(cls);
    free(chosen);
    free(best);
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
    struct tfc tc;
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
    if (tfc_init(&tc, txn, db) == 0)
        tfc_apply(&tc, txn, db, &p, r);
    tfc_free(&tc);
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

int
nv_link_learn(MDB_txn *txn, const struct nv_link_db *db, size_t max_records,
              struct match_model *out)
{
    struct batch b;
    struct match_opts opts;
    struct match_result res;
    MDB_cursor *c;
    MDB_val k, v;
    size_t total = 0;
    MDB_stat ms;
    size_t step, i = 0;
    int r, rc;

    memset(&b, 0, sizeof(b));
    if ((r = nv_link_model(txn, db, out)) < 0)
        return r;
    if ((rc = mdb_stat(txn, db->mrec, &ms)) != 0)
        return mdb_fail(rc, "cannot read");
    total = ms.ms_entries;
    if (total == 0)
        return nv_fail(NV_ENOTFOUND, "no mapped record to learn from");
    step = max_records > 0 && total > max_records ? (size_t)(total / max_records) : 1;
    if ((r = lc_ready(txn, db)) < 0)
        return r;
    if ((rc = mdb_cursor_open(txn, db->mrec, &c)) != 0)
        return mdb_fail(rc, "cannot read");
    /* a sample that keeps the records of one family name together (the
     * pairs EM learns from are mostly there); a spelling of the name that
     * differs is the price */
    while (r == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        struct match_person p;
        const char *key;
        size_t keylen;
        char entity[NV_NAME_MAX + 1], word[32];
        int idx;
        if (k.mv_size != 8)
            continue;
        i++;
        if (step > 1) {
            if (decode_mrec(&v, &p, &key, &keylen, entity, sizeof(entity)) < 0)
                continue;
            snprintf(word, sizeof(word), "%.*s", (int)strcspn(p.last, " "), p.last);
            if (fnv64(word) % step != 0)
                continue;
        }
        {
            uint32_t s = lc_slot(get_be64(k.mv_data));
            if (s != LC_NONE)
                r = batch_load(&b, s, 1, &idx);
        }
    }
    mdb_cursor_close(c);
    if (r == 0) {
        lc_tf_model(out);
        match_opts_init(&opts);
        opts.block_max = BLOCK_MAX;
        opts.cluster_max = CLUSTER_MAX;
        opts.threads = 2;
        opts.flags = MATCH_EM_M_ONLY;
        /* EM from the generic start with the team's decisions kept (a poor
         * earlier fit is not a starting point), m and u free over the pairs
         * that could be linked, then m kept with u from random pairs
         * (MATCH_EM_M_ONLY: EM's u there is the namesakes', and made an
         * agreement of first names count for nothing, so every fit was
         * rejected); if the weights still come out absurd (agreement
         * counting against a match, disagreement for it), fit again with u
         * held to the random pairs' during EM */
        {
            struct match_model start = *out;
            fresh_start(out);
            r = match_batch(b.recs, b.n, &opts, out, &res);
            /* u describes random pairs: so must the prior, the share of
             * matches among all pairs of the store, not among the
             * candidates.  The sample keeps a family's records together,
             * so it holds about n/total of the store's matches among
             * (n/total)^2 of its pairs: the sample's share is scaled down
             * by n/total (at a million records the prior was 2-3 bits too
             * high and namesakes linked) */
            if (r == 0) {
                double all = (double)b.n * (double)(b.n - 1) / 2;
                if (all > 0 && res.ncandidates > 0) {
                    out->lambda *= (double)res.ncandidates / all;
                    /* the random pairs u came from held that share of
                     * matches: u without them */
                    match_model_u_without_matches(out, out->lambda,
                                                  0.5 / (opts.u_samples + 2.0));
                    if (total > b.n)
                        out->lambda *= (double)b.n / (double)total;
                    match_model_refine(out);
                }
            }
            if (r == 0) {
                match_result_release(&res);
                if (!sane(out)) {
                    nv_warn("link", "EM weights rejected (EM found another structure than "
                            "\"same person\"); fitting again with u from random pairs");
                    *out = start;
                    fresh_start(out);
                    opts.flags = MATCH_FIX_U;
                    if ((r = match_batch(b.recs, b.n, &opts, out, &res)) == 0) {
                        /* u describes random pairs now: so must the prior
                         * (the share of matches among all pairs, not among
                         * the candidates blocking chose) */
                        double all = (double)b.n * (double)(b.n - 1) / 2;
                        if (all > 0 && res.ncandidates > 0) {
                            out->lambda *= (double)res.ncandidates / all;
                            match_model_refine(out);
                        }
                        match_result_release(&res);
                        if (!sane(out)) {
                            nv_warn("link", "EM weights rejected again: keeping the "
                                    "previous weights");
                            *out = start;
                        }
                    }
                }
            }
        }
        if (r == 0) {
            lc_tf_model(out);
            if ((r = nv_link_model_save(txn, db, out)) == 0)
                r = meta_put_u64(txn, db, "em_records", total);
        }
    }
    batch_free(&b);
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
    const char *colon = strchr(what, ':');
    MDB_cursor *c;
    MDB_val k, d;
    char pre[NV_NAME_MAX + 2];
    size_t el, kl;
    int rc, found = 0;

    if (colon == NULL)
        return nv_link_resolve(txn, db, what, rcu);
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
            found = 1;
        }
    }
    mdb_cursor_close(c);
    if (!found)
        return nv_fail(NV_ENOTFOUND, "no linked record '%.120s' (unmapped, or unknown)", what);
    return 0;
}
