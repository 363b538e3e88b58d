#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "store.h"

int
nv_hmdb_fail(int rc, const char *what)
{
    return nv_fail(rc == MDB_MAP_FULL ? NV_ENOSPC : NV_ECORRUPT,
                   "hub store: %s: %s", what, mdb_strerror(rc));
}

int
nv_hstore_open(struct nv_hstore *s, const char *dir)
{
    char *path = nv_path_join(dir, "store");
    MDB_txn *txn = NULL;
    int rc, r;

    memset(s, 0, sizeof(*s));
    if ((r = nv_mkdir_p(path, 0700)) < 0)
        goto out;
    if ((rc = mdb_env_create(&s->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(s->env, 32)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)1 << 40)) != 0 ||
        (rc = mdb_env_open(s->env, path, 0, 0600)) != 0) {
        r = nv_hmdb_fail(rc, "cannot open");
        goto out;
    }
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &s->streams)) != 0 ||
        (rc = mdb_dbi_open(txn, "bundles", MDB_CREATE, &s->bundles)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        r = nv_hmdb_fail(rc, "cannot open databases");
    }
out:
    free(path);
    if (r < 0)
        nv_hstore_close(s);
    return r;
}

void
nv_hstore_close(struct nv_hstore *s)
{
    if (s->env != NULL)
        mdb_env_close(s->env);
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

static void
bundle_key(char *out, size_t n, const char *sender, uint64_t seq)
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
    bundle_key(bk, sizeof(bk), m->sender, m->seq);
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

    bundle_key(bk, sizeof(bk), sender, seq);
    k.mv_size = strlen(bk);
    k.mv_data = bk;
    if (mdb_get(txn, s->bundles, &k, &v) != 0 || v.mv_size != 32)
        return 0;
    return sodium_memcmp(v.mv_data, id, 32) == 0;
}
