/*
 * tally.c - the counters `status` reads (the tally database, store.h):
 * what records, rejects and unnorm hold per entity, kept true by every
 * writer of those databases in its own write transaction, so that status
 * answers in milliseconds instead of scanning the store.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../formats/errors.h"
#include "store.h"

/* What one value contributes to its entity's counters. */
struct contrib {
    int mapped;       /* records: mapped */
    const char *why;  /* rejects: the reason */
    uint64_t n;       /* unnorm: the values left out */
    json_t *reasons;  /* unnorm: their reasons */
    json_t *doc;      /* the parsed value (owns why, reasons) */
};

static void
contrib_read(MDB_dbi dbi, const struct nv_hstore *s, const MDB_val *v, struct contrib *c)
{
    memset(c, 0, sizeof(*c));
    if (v == NULL)
        return;
    if (dbi == s->records) {
        c->mapped = memmem(v->mv_data, v->mv_size, "\"map\":\"", 7) != NULL;
        return;
    }
    c->doc = json_loadb(v->mv_data, v->mv_size, 0, NULL);
    if (dbi == s->rejects) {
        c->why = json_string_value(json_object_get(c->doc, "reason"));
        if (c->why == NULL)
            c->why = "-";
    } else {
        c->n = (uint64_t)json_integer_value(json_object_get(c->doc, "n"));
        c->reasons = json_object_get(c->doc, "reasons");
    }
}

/* Counter tag of entity (elen bytes) plus delta; an entry at 0 goes. */
static int
bump(MDB_txn *txn, const struct nv_hstore *s, const char *entity, size_t elen,
     const char *prefix, const char *tag, int64_t delta)
{
    char kb[512];
    size_t pl = strlen(prefix), tl = strlen(tag);
    MDB_val k, v;
    uint64_t n = 0;
    int rc;

    if (delta == 0)
        return 0;
    if (elen + 1 + pl + tl > 500)
        tl = 500 - elen - 1 - pl; /* a reason past LMDB's key limit: cut */
    memcpy(kb, entity, elen);
    kb[elen] = '\0';
    memcpy(kb + elen + 1, prefix, pl);
    memcpy(kb + elen + 1 + pl, tag, tl);
    k.mv_size = elen + 1 + pl + tl;
    k.mv_data = kb;
    if ((rc = mdb_get(txn, s->tally, &k, &v)) == 0 && v.mv_size == sizeof(n))
        memcpy(&n, v.mv_data, sizeof(n));
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot read the status counters");
    n = delta < 0 && (uint64_t)-delta > n ? 0 : n + (uint64_t)delta;
    if (n == 0)
        rc = mdb_del(txn, s->tally, &k, NULL);
    else {
        v.mv_size = sizeof(n);
        v.mv_data = &n;
        rc = mdb_put(txn, s->tally, &k, &v, 0);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot write the status counters");
    return 0;
}

/* One value's counters, with sign (+1 it arrives, -1 it leaves). */
static int
apply_contrib(MDB_txn *txn, const struct nv_hstore *s, MDB_dbi dbi, const char *e, size_t el,
              const struct contrib *c, int sign)
{
    json_t *r;
    size_t i;
    int x = 0;

    if (dbi == s->records) {
        if ((x = bump(txn, s, e, el, "", "records", sign)) == 0)
            x = bump(txn, s, e, el, "", "mapped", sign * c->mapped);
        return x;
    }
    if (dbi == s->rejects) {
        if ((x = bump(txn, s, e, el, "", "rejected", sign)) == 0)
            x = bump(txn, s, e, el, "r:", c->why, sign);
        return x;
    }
    if ((x = bump(txn, s, e, el, "", "unnorm_records", sign)) == 0)
        x = bump(txn, s, e, el, "", "unnorm_values", sign * (int64_t)c->n);
    json_array_foreach(c->reasons, i, r)
        if (x == 0 && json_string_value(r) != NULL)
            x = bump(txn, s, e, el, "u:", json_string_value(r), sign);
    return x;
}

int
nv_hstore_tally(MDB_txn *txn, const struct nv_hstore *s, MDB_dbi dbi, const void *key,
                size_t klen, const MDB_val *old, const MDB_val *nw)
{
    const char *z = memchr(key, 0, klen);
    struct contrib co, cn;
    char ent[256];
    size_t el;
    int r = 0;

    if ((dbi != s->records && dbi != s->rejects && dbi != s->unnorm) || z == NULL ||
        (old == NULL && nw == NULL))
        return 0;
    el = (size_t)(z - (const char *)key);
    if (el >= sizeof(ent))
        el = sizeof(ent) - 1;
    memcpy(ent, key, el); /* the key may live in a page the puts move */
    /* both values read before any write: their pages may move */
    contrib_read(dbi, s, old, &co);
    contrib_read(dbi, s, nw, &cn);
    if (old != NULL)
        r = apply_contrib(txn, s, dbi, ent, el, &co, -1);
    if (r == 0 && nw != NULL)
        r = apply_contrib(txn, s, dbi, ent, el, &cn, +1);
    json_decref(co.doc);
    json_decref(cn.doc);
    return r;
}

int
nv_hstore_put_counted(MDB_txn *txn, const struct nv_hstore *s, MDB_dbi dbi, const void *key,
                      size_t klen, const MDB_val *v)
{
    MDB_val k = { klen, (void *)key }, old;
    int rc = mdb_get(txn, dbi, &k, &old), r;

    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot read");
    if (rc == MDB_NOTFOUND && v == NULL)
        return 0;
    if ((r = nv_hstore_tally(txn, s, dbi, key, klen, rc == 0 ? &old : NULL, v)) < 0)
        return r;
    rc = v != NULL ? mdb_put(txn, dbi, &k, (MDB_val *)v, 0) : mdb_del(txn, dbi, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, v != NULL ? "cannot write a record" : "cannot delete");
    return 0;
}

/* Every counter counted afresh from records, rejects and unnorm (schema 2,
 * and the check `status --scan` is compared with). */
int
nv_hstore_tally_recount(MDB_txn *txn, void *ctx)
{
    const struct nv_hstore *s = ctx;
    MDB_dbi dbs[3] = { s->records, s->rejects, s->unnorm };
    int rc, r = 0;

    if ((rc = mdb_drop(txn, s->tally, 0)) != 0)
        return nv_hmdb_fail(rc, "cannot reset the status counters");
    for (int i = 0; r == 0 && i < 3; i++) {
        MDB_cursor *c;
        MDB_val k, v;
        if ((rc = mdb_cursor_open(txn, dbs[i], &c)) != 0)
            return nv_hmdb_fail(rc, "cannot read");
        while (r == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
            /* the key copied: the tally's writes must not see it move */
            char kb[512];
            size_t kl = k.mv_size < sizeof(kb) ? k.mv_size : sizeof(kb);
            memcpy(kb, k.mv_data, kl);
            r = nv_hstore_tally(txn, s, dbs[i], kb, kl, NULL, &v);
        }
        mdb_cursor_close(c);
        if (r == 0 && rc != MDB_NOTFOUND)
            r = nv_hmdb_fail(rc, "cannot read");
    }
    return r;
}

int
nv_hstore_put_json_counted(MDB_txn *txn, const struct nv_hstore *s, MDB_dbi dbi,
                           const struct nv_buf *k, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    MDB_val vv;
    int r;

    if (text == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    vv.mv_size = strlen(text);
    vv.mv_data = text;
    r = nv_hstore_put_counted(txn, s, dbi, k->data, k->len, &vv);
    free(text);
    return r;
}
