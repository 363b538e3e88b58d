/*
 * lktally.c - the matching figures of `status` (records linked, people,
 * people in several entities, people with duplicates in one entity,
 * records in review) as counters kept by every writer of links (link.h:
 * lkre, lkrcu, lkcnt), so status reads a few keys instead of every link.
 * People and (RCU, entity) pairs are the entries of lkrcu and lkre (their
 * count is LMDB's), records the entries of links.
 *
 * A bundle writes hundreds of thousands of links, most to RCUs of random
 * names: it defers its counts (nv_link_tally_defer) and writes each RCU's
 * once, in key order, at the end (nv_link_tally_flush).  The counters
 * come out the same: the link counts add up, and "multi" and "dups" change
 * by each RCU's state after less its state before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/errors.h"
#include "link.h"

/* The 8-byte counts at key in dbi into v (n of them); zeros when absent. */
static int
lt_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, uint64_t *v, size_t n)
{
    MDB_val k = { klen, (void *)key }, d;
    int rc = mdb_get(txn, dbi, &k, &d);

    memset(v, 0, n * sizeof(*v));
    if (rc == 0 && d.mv_size == n * sizeof(*v))
        memcpy(v, d.mv_data, n * sizeof(*v));
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot read the matching counters");
    return 0;
}

/* The counts v (n) at key in dbi; all zero: no entry. */
static int
lt_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, const uint64_t *v, size_t n)
{
    MDB_val k = { klen, (void *)key }, d = { n * sizeof(*v), (void *)v };
    int rc, zero = 1;

    for (size_t i = 0; i < n; i++)
        zero &= v[i] == 0;
    rc = zero ? mdb_del(txn, dbi, &k, NULL) : mdb_put(txn, dbi, &k, &d, 0);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot write the matching counters");
    return 0;
}

static int
lt_bump(MDB_txn *txn, const struct nv_link_db *db, const char *name, int64_t delta)
{
    uint64_t n;
    int r;

    if (delta == 0)
        return 0;
    if ((r = lt_get(txn, db->lkcnt, name, strlen(name), &n, 1)) < 0)
        return r;
    n = delta < 0 && (uint64_t)-delta > n ? 0 : n + (uint64_t)delta;
    return lt_put(txn, db->lkcnt, name, strlen(name), &n, 1);
}

/* The key of lkre: rcu (rl bytes), a NUL, entity (el bytes); its length. */
static size_t
lt_rekey(char kb[16 + NV_NAME_MAX + 1], const char *rcu, size_t rl, const char *ent,
         size_t el)
{
    memcpy(kb, rcu, rl);
    kb[rl] = '\0';
    memcpy(kb + rl + 1, ent, el);
    return rl + 1 + el;
}

/* One entity's links in an RCU moved by delta from c: the new count, and
 * the RCU's counts st (links, entities) after it (never below zero). */
static uint64_t
lt_shift(uint64_t st[2], uint64_t c, int64_t delta)
{
    uint64_t c1 = delta < 0 && (uint64_t)-delta > c ? 0 : c + (uint64_t)delta;

    st[1] += (c == 0 && c1 > 0);
    st[1] -= (c > 0 && c1 == 0 && st[1] > 0);
    st[0] = c1 >= c ? st[0] + (c1 - c) : (st[0] > c - c1 ? st[0] - (c - c1) : 0);
    return c1;
}

/* One link of rcu in entity (el bytes) added (sign 1) or taken (-1); the
 * changes of "multi" and "dups" into dm and dd. */
static int
lt_move(MDB_txn *txn, const struct nv_link_db *db, const char *rcu, const char *ent,
        size_t el, int sign, int64_t *dm, int64_t *dd)
{
    char kb[16 + NV_NAME_MAX + 1];
    size_t rl = strnlen(rcu, 13), kl;
    uint64_t st[2], c; /* st: the RCU's links, its entities */
    int mb, db0, r;

    if (el > NV_NAME_MAX)
        el = NV_NAME_MAX;
    if ((r = lt_get(txn, db->lkrcu, rcu, rl, st, 2)) < 0)
        return r;
    mb = st[1] > 1;
    db0 = st[0] > st[1];
    kl = lt_rekey(kb, rcu, rl, ent, el);
    if ((r = lt_get(txn, db->lkre, kb, kl, &c, 1)) < 0)
        return r;
    c = lt_shift(st, c, sign);
    if ((r = lt_put(txn, db->lkre, kb, kl, &c, 1)) < 0 ||
        (r = lt_put(txn, db->lkrcu, rcu, rl, st, 2)) < 0)
        return r;
    *dm += (st[1] > 1) - mb;
    *dd += (st[0] > st[1]) - db0;
    return 0;
}

int
nv_link_tally(MDB_txn *txn, const struct nv_link_db *db, const char *key, size_t keylen,
              const struct nv_link_val *old, const struct nv_link_val *nw)
{
    const char *z = memchr(key, 0, keylen);
    char ent[NV_NAME_MAX + 1];
    size_t el;
    int64_t dm = 0, dd = 0;
    int r = 0;

    if (z == NULL)
        return 0; /* not a record's link: status does not count it */
    el = (size_t)(z - key) > NV_NAME_MAX ? NV_NAME_MAX : (size_t)(z - key);
    memcpy(ent, key, el); /* the key may live in a page the writes move */
    if (old == NULL || nw == NULL || strncmp(old->rcu, nw->rcu, 13) != 0) {
        if (old != NULL)
            r = lt_move(txn, db, old->rcu, ent, el, -1, &dm, &dd);
        if (r == 0 && nw != NULL)
            r = lt_move(txn, db, nw->rcu, ent, el, 1, &dm, &dd);
    }
    if (r == 0)
        r = lt_bump(txn, db, "multi", dm);
    if (r == 0)
        r = lt_bump(txn, db, "dups", dd);
    if (r == 0)
        r = lt_bump(txn, db, "review",
                    (int64_t)(nw != NULL && nw->status == NV_LINK_REVIEW) -
                        (int64_t)(old != NULL && old->status == NV_LINK_REVIEW));
    return r;
}

int
nv_link_tally_read(MDB_txn *txn, const struct nv_link_db *db, uint64_t *records,
                   uint64_t *people, uint64_t *multi, uint64_t *dups, uint64_t *dup_records,
                   uint64_t *review)
{
    MDB_stat ls, rs, es;
    int rc, r;

    if ((rc = mdb_stat(txn, db->links, &ls)) != 0 || (rc = mdb_stat(txn, db->lkrcu, &rs)) != 0 ||
        (rc = mdb_stat(txn, db->lkre, &es)) != 0)
        return nv_hmdb_fail(rc, "cannot read the matching counters");
    if ((r = lt_get(txn, db->lkcnt, "multi", 5, multi, 1)) < 0 ||
        (r = lt_get(txn, db->lkcnt, "dups", 4, dups, 1)) < 0 ||
        (r = lt_get(txn, db->lkcnt, "review", 6, review, 1)) < 0)
        return r;
    *records = ls.ms_entries;
    *people = rs.ms_entries;
    /* each link past the first of its RCU in its entity is a duplicate */
    *dup_records = ls.ms_entries - es.ms_entries;
    return 0;
}

/* Every counter counted from the links (a store without them). */
int
nv_link_tally_recount(MDB_txn *txn, const struct nv_link_db *db)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc, r = 0;

    if ((rc = mdb_cursor_open(txn, db->links, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read links");
    while (r == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        struct nv_link_val lv;
        char kb[512];
        size_t kl = k.mv_size < sizeof(kb) ? k.mv_size : sizeof(kb);
        if (v.mv_size != sizeof(lv))
            continue;
        memcpy(&lv, v.mv_data, sizeof(lv));
        memcpy(kb, k.mv_data, kl);
        r = nv_link_tally(txn, db, kb, kl, NULL, &lv);
    }
    mdb_cursor_close(c);
    if (r == 0 && rc != MDB_NOTFOUND)
        r = nv_hmdb_fail(rc, "cannot read links");
    return r;
}

/* ---- deferred: a bundle's links ---- */

struct lt_delta {
    char rcu[14];
    uint8_t ent;   /* index into the batch's entity names */
    int64_t delta; /* links added less links taken */
};

struct lt_dkey {
    const char *rcu;
    uint8_t ent;
};

static int
lt_eq(const void *value, const void *key)
{
    const struct lt_delta *d = value;
    const struct lt_dkey *k = key;

    return d->ent == k->ent && strncmp(d->rcu, k->rcu, 13) == 0;
}

void
nv_link_tally_batch_init(struct nv_link_tally_batch *b)
{
    memset(b, 0, sizeof(*b));
    nv_hmap_init_eq(&b->m, sizeof(struct lt_delta), 1 << 14, lt_eq);
}

void
nv_link_tally_batch_release(struct nv_link_tally_batch *b)
{
    nv_hmap_release(&b->m);
    memset(b, 0, sizeof(*b));
}

/* The index of entity ent (el bytes) in b's names; -1 when they are full. */
static int
lt_entity(struct nv_link_tally_batch *b, const char *ent, size_t el)
{
    for (size_t i = 0; i < b->nent; i++)
        if (strlen(b->ent[i]) == el && memcmp(b->ent[i], ent, el) == 0)
            return (int)i;
    if (b->nent == sizeof(b->ent) / sizeof(b->ent[0]))
        return -1;
    memcpy(b->ent[b->nent], ent, el);
    b->ent[b->nent][el] = '\0';
    return (int)b->nent++;
}

static int
lt_add(struct nv_link_tally_batch *b, const char *rcu, int ent, int64_t delta)
{
    struct lt_dkey k = { rcu, (uint8_t)ent };
    size_t rl = strnlen(rcu, 13);
    uint64_t h = nv_fnv1a(nv_fnv1a(NV_FNV_OFFSET, rcu, rl), &k.ent, 1);
    int isnew;
    struct lt_delta *d = nv_hmap_insert(&b->m, h, &k, &isnew);

    if (d == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if (isnew) {
        memcpy(d->rcu, rcu, rl);
        d->ent = (uint8_t)ent;
    }
    d->delta += delta;
    return 0;
}

int
nv_link_tally_defer(MDB_txn *txn, const struct nv_link_db *db, struct nv_link_tally_batch *b,
                    const char *key, size_t keylen, const struct nv_link_val *old,
                    const struct nv_link_val *nw)
{
    const char *z = memchr(key, 0, keylen);
    size_t el;
    int ei, r = 0;

    if (z == NULL)
        return 0;
    el = (size_t)(z - key) > NV_NAME_MAX ? NV_NAME_MAX : (size_t)(z - key);
    if ((ei = lt_entity(b, key, el)) < 0)
        return nv_link_tally(txn, db, key, keylen, old, nw); /* at once */
    if (old == NULL || nw == NULL || strncmp(old->rcu, nw->rcu, 13) != 0) {
        if (old != NULL)
            r = lt_add(b, old->rcu, ei, -1);
        if (r == 0 && nw != NULL)
            r = lt_add(b, nw->rcu, ei, 1);
    }
    b->review += (int64_t)(nw != NULL && nw->status == NV_LINK_REVIEW) -
                 (int64_t)(old != NULL && old->status == NV_LINK_REVIEW);
    return r;
}

/* By RCU (the key of lkrcu and the start of lkre's), then entity. */
static int
by_rcu(const void *a, const void *b)
{
    const struct lt_delta *x = *(const struct lt_delta *const *)a,
                          *y = *(const struct lt_delta *const *)b;
    int c = strncmp(x->rcu, y->rcu, 13);

    return c != 0 ? c : (int)x->ent - (int)y->ent;
}

int
nv_link_tally_flush(MDB_txn *txn, const struct nv_link_db *db, struct nv_link_tally_batch *b)
{
    size_t n = nv_hmap_count(&b->m), it = 0, k = 0, groups = 0;
    struct lt_delta **v = n > 0 ? malloc(n * sizeof(*v)) : NULL, *d;
    int64_t dm = 0, dd = 0;
    int r = 0;

    if (n > 0 && v == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    while ((d = nv_hmap_next(&b->m, &it, NULL)) != NULL)
        if (d->delta != 0)
            v[k++] = d;
    if (k > 1)
        qsort(v, k, sizeof(*v), by_rcu);
    /* each RCU: its counts once, each of its entities' once */
    for (size_t i = 0; i < k && r == 0;) {
        char rcu[14];
        uint64_t st[2];
        int mb, db0;
        size_t rl = strnlen(v[i]->rcu, 13);
        memcpy(rcu, v[i]->rcu, rl);
        rcu[rl] = '\0';
        if ((r = lt_get(txn, db->lkrcu, rcu, rl, st, 2)) < 0)
            break;
        nv_hstore_unmap_every(txn, groups++, 4096);
        mb = st[1] > 1;
        db0 = st[0] > st[1];
        for (; i < k && r == 0 && strncmp(v[i]->rcu, rcu, 13) == 0; i++) {
            char kb[16 + NV_NAME_MAX + 1];
            const char *ent = b->ent[v[i]->ent];
            size_t kl = lt_rekey(kb, rcu, rl, ent, strlen(ent));
            uint64_t c;
            if ((r = lt_get(txn, db->lkre, kb, kl, &c, 1)) < 0)
                break;
            c = lt_shift(st, c, v[i]->delta);
            r = lt_put(txn, db->lkre, kb, kl, &c, 1);
        }
        if (r == 0)
            r = lt_put(txn, db->lkrcu, rcu, rl, st, 2);
        dm += (st[1] > 1) - mb;
        dd += (st[0] > st[1]) - db0;
    }
    free(v);
    if (r == 0)
        r = lt_bump(txn, db, "multi", dm);
    if (r == 0)
        r = lt_bump(txn, db, "dups", dd);
    if (r == 0)
        r = lt_bump(txn, db, "review", b->review);
    if (r == 0) {
        nv_hmap_release(&b->m);
        b->review = 0;
    }
    return r;
}
