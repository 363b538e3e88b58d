#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
#include "store.h"

/* The directory of the store last opened: a full disk is told from a
 * failing one by its free space (nv_lmdb_code). */
static char store_dir[PATH_MAX];

int
nv_hmdb_fail(int rc, const char *what)
{
    return nv_fail(nv_lmdb_code(rc, store_dir[0] ? store_dir : NULL), "hub store: %s: %s",
                   what, mdb_strerror(rc));
}

int
nv_hmdb_commit(MDB_txn **txn)
{
    int rc = mdb_txn_commit(*txn);

    *txn = NULL;
    return rc != 0 ? nv_hmdb_fail(rc, "cannot commit") : 0;
}

int
nv_hstore_key_split(const char *k, size_t len, const char **entity, const char **source,
                    const char **key)
{
    const char *z1 = memchr(k, 0, len), *z2;

    if (z1 == NULL || (z2 = memchr(z1 + 1, 0, len - (size_t)(z1 + 1 - k))) == NULL)
        return -1;
    *entity = k;
    *source = z1 + 1;
    *key = z2 + 1;
    return 0;
}

void
nv_hstore_register(struct nv_hstore *s, nv_hstore_open_fn open, void *dbs)
{
    if (s->nmod == NV_HSTORE_MODULES)
        abort(); /* a programming error: raise NV_HSTORE_MODULES */
    s->mod[s->nmod].open = open;
    s->mod[s->nmod].dbs = dbs;
    s->nmod++;
}

/* Schema 1: the layout of stores written before schema versions, less the
 * "blocks" database (blocking key -> rids) that a store written before
 * blocking moved into memory has: deleted, contents and name. */
static int
drop_blocks(MDB_txn *txn, void *ctx)
{
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, "blocks", MDB_DUPSORT | MDB_DUPFIXED, &dbi);

    (void)ctx;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0 || (rc = mdb_drop(txn, dbi, 1)) != 0)
        return nv_hmdb_fail(rc, "cannot delete the old blocking index");
    return 0;
}

static const struct nv_migration hstore_migrations[] = {
    { 1, "the old blocking index (blocks) deleted", drop_blocks },
    { 2, "the status counters (tally) counted once", nv_hstore_tally_recount },
    { 3, "the change log kept as its index alone (changes deleted, its last seq kept)",
      nv_hstore_change_drop_log },
};

const char *
nv_hstore_migration(unsigned v)
{
    for (size_t i = 0; i < sizeof(hstore_migrations) / sizeof(hstore_migrations[0]); i++)
        if (hstore_migrations[i].to == v)
            return hstore_migrations[i].what;
    return "";
}

int
nv_hstore_open(struct nv_hstore *s, const char *dir)
{
    char *path = nv_path_join(dir, "store");
    MDB_txn *txn = NULL;
    int rc, r;

    {
        /* what nv_hstore_register said survives the reset */
        struct nv_hstore_module mod[NV_HSTORE_MODULES];
        size_t nmod = s->nmod;
        memcpy(mod, s->mod, sizeof(mod));
        memset(s, 0, sizeof(*s));
        memcpy(s->mod, mod, sizeof(mod));
        s->nmod = nmod;
    }
    if ((r = nv_mkdir_p(path, 0700)) < 0)
        goto out;
    snprintf(store_dir, sizeof(store_dir), "%s", path);
    if ((rc = mdb_env_create(&s->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(s->env, 64)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)1 << 40)) != 0 ||
        (rc = mdb_env_open(s->env, path, 0, 0600)) != 0) {
        r = nv_hmdb_fail(rc, "cannot open");
        goto out;
    }
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &s->streams)) != 0 ||
        (rc = mdb_dbi_open(txn, "bundles", MDB_CREATE, &s->bundles)) != 0 ||
        (rc = mdb_dbi_open(txn, "records", MDB_CREATE, &s->records)) != 0 ||
        (rc = mdb_dbi_open(txn, "receipts", MDB_CREATE, &s->receipts)) != 0 ||
        (rc = mdb_dbi_open(txn, "rejects", MDB_CREATE, &s->rejects)) != 0 ||
        (rc = mdb_dbi_open(txn, "unnorm", MDB_CREATE, &s->unnorm)) != 0 ||
        (rc = mdb_dbi_open(txn, "bstats", MDB_CREATE, &s->bstats)) != 0 ||
        (rc = mdb_dbi_open(txn, "columns", MDB_CREATE, &s->columns)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "chgidx", MDB_CREATE, &s->chgidx)) != 0 ||
        (rc = mdb_dbi_open(txn, "tally", MDB_CREATE, &s->tally)) != 0) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        r = nv_hmdb_fail(rc, "cannot open databases");
        goto out;
    }
    /* in the same transaction, before any module opens its databases: a
     * store newer than we know is refused before anything is written, an
     * older one migrated and stamped */
    if ((r = nv_schema_migrate(txn, s->meta, "hub store", path, NV_HSTORE_SCHEMA,
                               hstore_migrations,
                               sizeof(hstore_migrations) / sizeof(hstore_migrations[0]), s,
                               &s->schema_was)) < 0) {
        mdb_txn_abort(txn);
        goto out;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot open databases");
        goto out;
    }
    txn = NULL;
    /* the modules above the store open theirs (nv_hstore_register) */
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot open databases");
        goto out;
    }
    for (size_t i = 0; r == 0 && i < s->nmod; i++)
        r = s->mod[i].open(txn, s->mod[i].dbs);
    if (r < 0) {
        mdb_txn_abort(txn);
    } else if ((rc = mdb_txn_commit(txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot open databases");
    }
out:
    free(path);
    if (r < 0)
        nv_hstore_close(s);
    return r;
}

/* Copy database sd of rt (flags fl) into dd of wt, in key order. */
static int
copy_dbi(MDB_txn *rt, MDB_dbi sd, MDB_txn *wt, MDB_dbi dd, unsigned fl)
{
    MDB_cursor *sc = NULL, *dc = NULL;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(rt, sd, &sc)) != 0 || (rc = mdb_cursor_open(wt, dd, &dc)) != 0)
        goto out;
    for (rc = mdb_cursor_get(sc, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(sc, &k, &v, MDB_NEXT))
        if ((rc = mdb_cursor_put(dc, &k, &v, (fl & MDB_DUPSORT) ? MDB_APPENDDUP : MDB_APPEND)) !=
            0)
            break;
    if (rc == MDB_NOTFOUND)
        rc = 0;
out:
    if (dc != NULL)
        mdb_cursor_close(dc);
    if (sc != NULL)
        mdb_cursor_close(sc);
    return rc;
}

/*
 * A copy of every database of env into a new environment in dir, entry by
 * entry in key order, so every tree is built afresh.  mdb_env_copy2 copies
 * pages as they are, and LMDB keeps the key a branch page took from a
 * deleted entry as its separator: an erased record's key would stay in the
 * file.  One read transaction: a consistent copy.
 */
static int
copy_fresh(MDB_env *env, const char *dir)
{
    MDB_env *dst = NULL;
    MDB_txn *rt = NULL, *wt = NULL;
    MDB_cursor *mc = NULL;
    MDB_dbi smain, dmain;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_env_create(&dst)) != 0 || (rc = mdb_env_set_maxdbs(dst, 64)) != 0 ||
        (rc = mdb_env_set_mapsize(dst, (size_t)1 << 40)) != 0 ||
        (rc = mdb_env_open(dst, dir, 0, 0600)) != 0 ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &rt)) != 0 ||
        (rc = mdb_dbi_open(rt, NULL, 0, &smain)) != 0 ||
        (rc = mdb_cursor_open(rt, smain, &mc)) != 0)
        goto out;
    for (rc = mdb_cursor_get(mc, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) {
        char name[256];
        MDB_dbi sd, dd;
        unsigned fl = 0;
        if ((rc = mdb_txn_begin(dst, NULL, 0, &wt)) != 0)
            break;
        if (k.mv_size < sizeof(name) && memchr(k.mv_data, 0, k.mv_size) == NULL) {
            memcpy(name, k.mv_data, k.mv_size);
            name[k.mv_size] = '\0';
            rc = mdb_dbi_open(rt, name, 0, &sd);
        } else {
            rc = MDB_INCOMPATIBLE;
        }
        if (rc == 0) {
            /* a database: the same flags, its entries in order */
            if ((rc = mdb_dbi_flags(rt, sd, &fl)) == 0 &&
                (rc = mdb_dbi_open(wt, name,
                                   MDB_CREATE | (fl & (MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERKEY |
                                                       MDB_INTEGERDUP | MDB_REVERSEKEY |
                                                       MDB_REVERSEDUP)),
                                   &dd)) == 0)
                rc = copy_dbi(rt, sd, wt, dd, fl);
        } else if (rc == MDB_INCOMPATIBLE) {
            /* a plain entry of the main database */
            if ((rc = mdb_dbi_open(wt, NULL, 0, &dmain)) == 0)
                rc = mdb_put(wt, dmain, &k, &v, 0);
        }
        if (rc != 0 || (rc = mdb_txn_commit(wt)) != 0) {
            if (rc != 0 && wt != NULL)
                mdb_txn_abort(wt);
            wt = NULL;
            break;
        }
        wt = NULL;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0)
        rc = mdb_env_sync(dst, 1);
out:
    if (mc != NULL)
        mdb_cursor_close(mc);
    if (rt != NULL)
        mdb_txn_abort(rt);
    if (dst != NULL)
        mdb_env_close(dst);
    return rc;
}

int
nv_hstore_compact(struct nv_hstore *s, const char *dir)
{
    char *sd = nv_path_join(dir, "store"), *cd = nv_path_join(dir, "store.compact");
    char *from = nv_path_join(cd, "data.mdb"), *to = nv_path_join(sd, "data.mdb");
    int r, rc;

    /* a copy holding only live entries, its trees built afresh: erased
     * data leaves the file too, separators included (copy_fresh) */
    if ((r = nv_rm_rf(cd)) < 0 || (r = nv_mkdir_p(cd, 0700)) < 0)
        goto out;
    if ((rc = copy_fresh(s->env, cd)) != 0) {
        r = nv_hmdb_fail(rc, "cannot compact");
        goto out;
    }
    {
        int fd = open(from, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0) {
            r = nv_fail_errno("cannot sync the compacted store");
            if (fd >= 0)
                close(fd);
            goto out;
        }
        close(fd);
    }
    nv_hstore_close(s);
    if (rename(from, to) < 0) {
        r = nv_fail_errno("cannot replace the store with its compacted copy");
        if (nv_hstore_open(s, dir) < 0)
            nv_err("store", "cannot reopen the store: %s", nv_errmsg(NV_ECORRUPT));
        goto out;
    }
    if ((r = nv_fsync_dir(sd)) < 0)
        goto out;
    (void)nv_rm_rf(cd);
    r = nv_hstore_open(s, dir);
out:
    free(sd);
    free(cd);
    free(from);
    free(to);
    return r;
}

/* Where nv_hstore_unmap found the store's map (forgotten when the
 * environment closes: a new one may get the same address, its map not). */
static MDB_env *menv;
static void *maddr;
static size_t msize;

void
nv_hstore_close(struct nv_hstore *s)
{
    if (s->env != NULL) {
        nv_hstore_change_forget(s->env);
        mdb_env_close(s->env);
    }
    if (s->env == menv) {
        menv = NULL;
        maddr = NULL;
    }
    s->env = NULL;
}

int
nv_hstore_stream_get(MDB_txn *txn, const struct nv_hstore *s,
                     const char *sender, struct nv_stream_state *out)
{
    MDB_val k = { strlen(sender), (void *)sender }, v;
    int rc = mdb_get(txn, s->streams, &k, &v);

    memset(out, 0, sizeof(*out));
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot read stream state");
    if (v.mv_size != NV_STREAM_STATE_LEN)
        return nv_fail(NV_ECORRUPT, "hub store: stream '%s' has a bad record",
                       sender);
    nv_stream_decode(v.mv_data, out);
    return 0;
}

void
nv_hstore_bundle_key(char *out, size_t n, const char *sender, uint64_t seq)
{
    snprintf(out, n, "%s/%020llu", sender, (unsigned long long)seq);
}

int
nv_hstore_stream_advance(MDB_txn *txn, const struct nv_hstore *s,
                         const struct nv_manifest *m, const uint8_t id[32])
{
    struct nv_stream_state st;
    uint8_t buf[NV_STREAM_STATE_LEN];
    char bk[128];
    MDB_val k = { strlen(m->sender), (void *)m->sender }, v = { sizeof(buf), buf };
    MDB_val k2, v2 = { 32, (void *)id };
    int rc;

    memset(&st, 0, sizeof(st));
    nv_stream_advance(&st, m, id);
    nv_stream_encode(&st, buf);
    nv_hstore_bundle_key(bk, sizeof(bk), m->sender, m->seq);
    k2.mv_size = strlen(bk);
    k2.mv_data = bk;
    if ((rc = mdb_put(txn, s->streams, &k, &v, 0)) != 0 ||
        (rc = mdb_put(txn, s->bundles, &k2, &v2, 0)) != 0)
        return nv_hmdb_fail(rc, "cannot write stream state");
    return 0;
}

int
nv_hstore_bundle_applied(MDB_txn *txn, const struct nv_hstore *s,
                         const char *sender, uint64_t seq, const uint8_t id[32])
{
    char bk[128];
    MDB_val k, v;

    nv_hstore_bundle_key(bk, sizeof(bk), sender, seq);
    k.mv_size = strlen(bk);
    k.mv_data = bk;
    if (mdb_get(txn, s->bundles, &k, &v) != 0 || v.mv_size != 32)
        return 0;
    return sodium_memcmp(v.mv_data, id, 32) == 0;
}

int
nv_hstore_key3(struct nv_buf *k, const char *a, const char *b, const char *c)
{
    int r;

    nv_buf_reset(k);
    if ((r = nv_buf_add(k, a, strlen(a) + 1)) < 0 ||
        (r = nv_buf_add(k, b, strlen(b) + 1)) < 0 ||
        (r = nv_buf_add(k, c, strlen(c))) < 0)
        return r;
    return k->len > 500 ? NV_ETOOBIG : 0;
}

int
nv_hstore_put_json(MDB_txn *txn, MDB_dbi dbi, const struct nv_buf *k, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    MDB_val kv = { k->len, k->data }, vv;
    int rc;

    if (text == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    vv.mv_size = strlen(text);
    vv.mv_data = text;
    rc = mdb_put(txn, dbi, &kv, &vv, 0);
    free(text);
    return rc ? nv_hmdb_fail(rc, "cannot write a record") : 0;
}




int
nv_hstore_del(MDB_txn *txn, MDB_dbi dbi, const struct nv_buf *k)
{
    MDB_val kv = { k->len, k->data };
    int rc = mdb_del(txn, dbi, &kv, NULL);

    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot delete");
    return 0;
}






/* Drop this process's mappings of the store's pages (the data stay in the
 * page cache and come back on the next read; the store is mapped read-only
 * and written through write(), so nothing is lost).  Reading a million
 * records and writing a bundle touches gigabytes of the map, which all
 * counted in the hub's resident memory until it exits. */
void
nv_hstore_unmap(MDB_txn *txn)
{
    MDB_env *env = mdb_txn_env(txn);
    MDB_envinfo ei;
    MDB_stat es;
    size_t len;

    if (env != menv) {
        /* LMDB tells the map's address only for a fixed map: find it */
        const char *path = NULL;
        char want[PATH_MAX + 16], line[PATH_MAX + 128], *abs = NULL;
        FILE *f;
        int bad;
        menv = env;
        maddr = NULL;
        if (mdb_env_get_path(env, &path) != 0 || path == NULL || (abs = realpath(path, NULL)) == NULL)
            return;
        bad = snprintf(want, sizeof(want), "%s/data.mdb", abs) >= (int)sizeof(want);
        free(abs);
        if (bad || (f = fopen("/proc/self/maps", "r")) == NULL)
            return;
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long lo, hi;
            char *name = strchr(line, '/');
            if (name == NULL)
                continue;
            name[strcspn(name, "\n")] = '\0';
            if (strcmp(name, want) == 0 && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
                maddr = (void *)lo;
                msize = hi - lo;
                break;
            }
        }
        fclose(f);
    }
    if (maddr == NULL || mdb_env_info(env, &ei) != 0 || mdb_env_stat(env, &es) != 0)
        return;
    /* pages this transaction wrote past the last committed one are not
     * mapped yet; a margin covers a file grown by another process */
    len = ((size_t)ei.me_last_pgno + 1 + ((size_t)1 << 18)) * es.ms_psize;
    if (len > msize)
        len = msize;
    (void)madvise(maddr, len, MADV_DONTNEED);
}

void
nv_hstore_unmap_every(MDB_txn *txn, size_t i, size_t n)
{
    if (i % n == n - 1)
        nv_hstore_unmap(txn);
}



/* Iterate the keys of dbi starting with prefix (prefix_len bytes). */
static int
prefix_cursor(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen,
              MDB_cursor **c, MDB_val *k, MDB_val *v)
{
    int rc;

    if ((rc = mdb_cursor_open(txn, dbi, c)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    k->mv_size = plen;
    k->mv_data = (void *)prefix;
    rc = mdb_cursor_get(*c, k, v, MDB_SET_RANGE);
    if (rc == 0 && (k->mv_size < plen || memcmp(k->mv_data, prefix, plen) != 0))
        rc = MDB_NOTFOUND;
    return rc;
}

int
nv_hstore_columns(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                  char ***names, size_t *n)
{
    size_t plen = strlen(entity) + 1, cap = 0;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc;

    *names = NULL;
    *n = 0;
    for (rc = prefix_cursor(txn, s->columns, entity, plen, &c, &k, &v); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, entity, plen) != 0)
            break;
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            if ((*names = realloc(*names, cap * sizeof(char *))) == NULL)
                abort();
        }
        (*names)[*n] = strndup((char *)k.mv_data + plen, k.mv_size - plen);
        if ((*names)[(*n)++] == NULL)
            abort();
    }
    if (c != NULL)
        mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND && rc < 0)
        return nv_hmdb_fail(rc, "cannot read columns");
    return 0;
}

/* Delete every key of dbi that starts with entity's prefix; with log, each
 * is stamped in the change log (a record that leaves). */
static int
drop_prefix(MDB_txn *txn, const struct nv_hstore *s, MDB_dbi dbi, const char *entity,
            int log)
{
    size_t plen = strlen(entity) + 1;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc;

    for (rc = prefix_cursor(txn, dbi, entity, plen, &c, &k, &v); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, entity, plen) != 0)
            break;
        if (log) {
            int r = nv_hstore_touch(txn, s, NV_CHG_RECORD, k.mv_data, k.mv_size);
            if (r < 0) {
                mdb_cursor_close(c);
                return r;
            }
        }
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
    }
    if (c != NULL)
        mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL)
        return nv_hmdb_fail(rc, "cannot drop records");
    return 0;
}

int
nv_hstore_drop_entity(MDB_txn *txn, const struct nv_hstore *s, const char *entity)
{
    int r;

    /* nothing of the entity left: nor any of its status counters */
    if ((r = drop_prefix(txn, s, s->records, entity, 1)) < 0 ||
        (r = drop_prefix(txn, s, s->unnorm, entity, 0)) < 0 ||
        (r = drop_prefix(txn, s, s->rejects, entity, 0)) < 0)
        return r;
    return drop_prefix(txn, s, s->tally, entity, 0);
}


/* ---- stream epochs (nova-hub rebase) ---- */

static void
rebase_key(char *out, size_t n, const char *entity)
{
    snprintf(out, n, "rebase:%s", entity);
}

int
nv_hstore_rebase_get(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                     struct nv_hrebase *out)
{
    char key[NV_NAME_MAX + 16];
    MDB_val k, v;
    json_t *o;
    const char *str;
    int rc;

    memset(out, 0, sizeof(*out));
    rebase_key(key, sizeof(key), entity);
    k.mv_size = strlen(key);
    k.mv_data = key;
    if ((rc = mdb_get(txn, s->meta, &k, &v)) == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot read the stream epoch");
    if ((o = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL ||
        !json_is_integer(json_object_get(o, "epoch")) ||
        !json_is_integer(json_object_get(o, "base"))) {
        json_decref(o);
        return nv_fail(NV_ECORRUPT, "hub store: the stream epoch of '%s' is damaged", entity);
    }
    out->epoch = (uint64_t)json_integer_value(json_object_get(o, "epoch"));
    out->base = (uint64_t)json_integer_value(json_object_get(o, "base"));
    out->hub_seq = (uint64_t)json_integer_value(json_object_get(o, "hub_seq"));
    if ((str = json_string_value(json_object_get(o, "base_id"))) != NULL)
        (void)nv_unhex(str, out->base_id, 32);
    if ((str = json_string_value(json_object_get(o, "bundle"))) != NULL)
        snprintf(out->bundle, sizeof(out->bundle), "%s", str);
    if ((str = json_string_value(json_object_get(o, "issued"))) != NULL)
        snprintf(out->issued, sizeof(out->issued), "%s", str);
    out->pending = json_is_true(json_object_get(o, "pending"));
    out->ledgered = json_is_true(json_object_get(o, "ledgered"));
    json_decref(o);
    return 0;
}

int
nv_hstore_rebase_put(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                     const struct nv_hrebase *rb)
{
    char key[NV_NAME_MAX + 16], idh[65];
    struct nv_buf k = NV_BUF_INIT;
    json_t *v;
    int r;

    rebase_key(key, sizeof(key), entity);
    nv_hex(rb->base_id, 32, idh);
    v = json_pack("{s:I,s:I,s:s,s:I,s:s,s:s,s:b,s:b}", "epoch", (json_int_t)rb->epoch,
                  "base", (json_int_t)rb->base, "base_id", idh, "hub_seq",
                  (json_int_t)rb->hub_seq, "bundle", rb->bundle, "issued", rb->issued,
                  "pending", rb->pending, "ledgered", rb->ledgered);
    if (v == NULL || nv_buf_adds(&k, key) < 0) {
        json_decref(v);
        return nv_fail(NV_ENOMEM, "out of memory");
    }
    r = nv_hstore_put_json(txn, s->meta, &k, v);
    json_decref(v);
    nv_buf_release(&k);
    return r;
}
