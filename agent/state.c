#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "state.h"

/* The directory of the state store last opened (nv_lmdb_code). */
static char state_dir[PATH_MAX];

int
nv_mdb_fail(int rc, const char *what)
{
    return nv_fail(nv_lmdb_code(rc, state_dir[0] ? state_dir : NULL), "state store: %s: %s",
                   what, mdb_strerror(rc));
}

int
nv_astate_open(struct nv_astate *s, const char *dir)
{
    char *path = nv_path_join(dir, "state");
    MDB_txn *txn = NULL;
    int rc, r = 0;

    memset(s, 0, sizeof(*s));
    if ((r = nv_mkdir_p(path, 0700)) < 0)
        goto out;
    snprintf(state_dir, sizeof(state_dir), "%s", path);
    if ((rc = mdb_env_create(&s->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(s->env, 8)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)64 << 30)) != 0 ||
        (rc = mdb_env_open(s->env, path, 0, 0600)) != 0) {
        r = nv_mdb_fail(rc, "cannot open");
        goto out;
    }
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &s->streams)) != 0 ||
        (rc = mdb_dbi_open(txn, "fp", MDB_CREATE, &s->fp)) != 0 ||
        (rc = mdb_dbi_open(txn, "files", MDB_CREATE, &s->files)) != 0 ||
        (rc = mdb_dbi_open(txn, "orders", MDB_CREATE, &s->orders)) != 0 ||
        (rc = mdb_dbi_open(txn, "withheld", MDB_CREATE, &s->withheld)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        r = nv_mdb_fail(rc, "cannot open databases");
    }
    /* LMDB leaves its data fd inheritable: the erase hook must not get it */
    if (r == 0) {
        int fd;
        if (mdb_env_get_fd(s->env, &fd) == 0)
            fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
    }
out:
    free(path);
    if (r < 0)
        nv_astate_close(s);
    return r;
}

void
nv_astate_close(struct nv_astate *s)
{
    if (s->env != NULL)
        mdb_env_close(s->env);
    s->env = NULL;
}

int
nv_stream_db_get(MDB_txn *txn, MDB_dbi dbi, const char *key,
                 struct nv_stream_state *out)
{
    MDB_val k = { strlen(key), (void *)key }, v;
    int rc = mdb_get(txn, dbi, &k, &v);

    memset(out, 0, sizeof(*out));
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_mdb_fail(rc, "cannot read stream state");
    if (v.mv_size != NV_STREAM_STATE_LEN)
        return nv_fail(NV_ECORRUPT, "state store: stream '%s' has a bad record", key);
    nv_stream_decode(v.mv_data, out);
    return 0;
}

int
nv_stream_db_put(MDB_txn *txn, MDB_dbi dbi, const char *key,
                 const struct nv_stream_state *st)
{
    uint8_t buf[NV_STREAM_STATE_LEN];
    MDB_val k = { strlen(key), (void *)key }, v = { sizeof(buf), buf };
    int rc;

    nv_stream_encode(st, buf);
    if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
        return nv_mdb_fail(rc, "cannot write stream state");
    return 0;
}

int
nv_astate_stream_get(MDB_txn *txn, const struct nv_astate *s,
                     const char *dir_peer, struct nv_stream_state *out)
{
    return nv_stream_db_get(txn, s->streams, dir_peer, out);
}

int
nv_astate_stream_put(MDB_txn *txn, const struct nv_astate *s,
                     const char *dir_peer, const struct nv_stream_state *st)
{
    return nv_stream_db_put(txn, s->streams, dir_peer, st);
}
