#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "../formats/util.h"
#include "state.h"

/* The directory of the state store last opened (nv_lmdb_code). */
static char state_dir[PATH_MAX];

int
nv_mdb_fail(int rc, const char *what)
{
    return nv_fail(nv_lmdb_code(rc, state_dir[0] ? state_dir : NULL), "state store: %s: %s",
                   what, mdb_strerror(rc));
}

/* ---- schema versions ---- */

#define SCHEMA_KEY "schema"

int
nv_schema_get(MDB_txn *txn, MDB_dbi meta, unsigned *version)
{
    MDB_val k = { sizeof(SCHEMA_KEY) - 1, (void *)SCHEMA_KEY }, v;
    char text[16];
    uint64_t n;
    int rc = mdb_get(txn, meta, &k, &v);

    *version = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_mdb_fail(rc, "cannot read the schema version");
    if (v.mv_size == 0 || v.mv_size >= sizeof(text))
        return nv_fail(NV_ECORRUPT, "the store's schema version is damaged");
    memcpy(text, v.mv_data, v.mv_size);
    text[v.mv_size] = '\0';
    if (nv_parse_u64(text, &n) < 0 || n == 0 || n > 1000000)
        return nv_fail(NV_ECORRUPT, "the store's schema version '%s' is not a version", text);
    *version = (unsigned)n;
    return 0;
}

static int
too_new(const char *what, const char *path, unsigned found, unsigned known)
{
    return nv_fail(NV_ESCHEMA, "%s '%s' has schema version %u, newer than this program "
                   "knows (%u): it was written by a newer nova; run that version, or "
                   "restore a backup taken before the upgrade", what, path, found, known);
}

int
nv_schema_migrate(MDB_txn *txn, MDB_dbi meta, const char *what, const char *path,
                  unsigned known, const struct nv_migration *m, size_t n, void *ctx,
                  unsigned *was)
{
    MDB_val k = { sizeof(SCHEMA_KEY) - 1, (void *)SCHEMA_KEY }, v;
    char text[16];
    unsigned cur;
    int r, rc;
    MDB_envinfo ei;
    int fresh;

    if ((r = nv_schema_get(txn, meta, &cur)) < 0)
        return r;
    /* a store that never committed a page but its two meta pages is new:
     * stamped, nothing to say */
    fresh = cur == 0 && mdb_env_info(mdb_txn_env(txn), &ei) == 0 && ei.me_last_pgno < 2;
    *was = fresh ? known : cur;
    if (cur > known)
        return too_new(what, path, cur, known);
    if (cur == known)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].to <= cur || m[i].to > known)
            continue;
        if (m[i].run != NULL && (r = m[i].run(txn, ctx)) < 0)
            return nv_fail_prefix(r, "%s: migration to schema %u (%s)", what, m[i].to,
                                  m[i].what);
    }
    for (size_t i = 0; !fresh && i < n; i++)
        if (m[i].to > cur && m[i].to <= known)
            nv_info("store", "%s '%s': migrated to schema %u: %s", what, path, m[i].to,
                    m[i].what);
    snprintf(text, sizeof(text), "%u", known);
    v.mv_size = strlen(text);
    v.mv_data = text;
    if ((rc = mdb_put(txn, meta, &k, &v, 0)) != 0)
        return nv_mdb_fail(rc, "cannot stamp the schema version");
    if (cur == 0 && !fresh)
        nv_info("store", "%s '%s': stamped schema %u", what, path, known);
    return 0;
}

int
nv_schema_peek(const char *path, unsigned *version)
{
    char *data = nv_path_join(path, "data.mdb");
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi meta;
    int rc, r = 0, there = nv_exists(data);

    free(data);
    *version = 0;
    if (!there)
        return nv_fail(NV_ENOTFOUND, "'%s' holds no store", path);
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 64)) != 0 ||
        (rc = mdb_env_open(env, path, 0, 0600)) != 0 ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
        r = nv_mdb_fail(rc, "cannot open");
        goto out;
    }
    rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == 0)
        r = nv_schema_get(txn, meta, version);
    else if (rc != MDB_NOTFOUND)
        r = nv_mdb_fail(rc, "cannot open the meta database");
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (env != NULL)
        mdb_env_close(env);
    return r;
}

int
nv_lmdb_copy(MDB_env *env, const char *dir)
{
    char *data = nv_path_join(dir, "data.mdb");
    int rc, r, fd;

    if ((r = nv_mkdir_p(dir, 0700)) < 0)
        goto out;
    if ((rc = mdb_env_copy2(env, dir, MDB_CP_COMPACT)) != 0) {
        r = nv_mdb_fail(rc, "cannot copy the store");
        goto out;
    }
    if ((fd = open(data, O_RDONLY | O_CLOEXEC)) < 0 || fsync(fd) < 0) {
        r = nv_fail_errno("cannot sync the copy of the store");
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    r = nv_fsync_dir(dir);
out:
    free(data);
    return r;
}

int
nv_lmdb_copy_streams(const char *path,
                     void (*fn)(void *ctx, const char *key, const struct nv_stream_state *st),
                     void *ctx)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_dbi dbi;
    MDB_val k, v;
    int rc, r = 0;

    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 64)) != 0 ||
        (rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK, 0600)) != 0 ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "streams", 0, &dbi)) != 0 ||
        (rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
        if (rc != MDB_NOTFOUND) /* no streams database: no stream */
            r = nv_mdb_fail(rc, "cannot read the copy of the store");
        goto out;
    }
    while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        char key[128];
        struct nv_stream_state st;
        if (v.mv_size != NV_STREAM_STATE_LEN || k.mv_size >= sizeof(key))
            continue; /* acked:, witness: and the like */
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        nv_stream_decode(v.mv_data, &st);
        fn(ctx, key, &st);
    }
out:
    if (c != NULL)
        mdb_cursor_close(c);
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (env != NULL)
        mdb_env_close(env);
    return r;
}

/* The agent's migrations (none yet: an unstamped store has today's layout
 * but for the meta database, which its open just made). */
static const struct nv_migration astate_migrations[] = {
    { 1, "meta database with the schema version", NULL },
};

const char *
nv_astate_migration(unsigned v)
{
    for (size_t i = 0; i < sizeof(astate_migrations) / sizeof(astate_migrations[0]); i++)
        if (astate_migrations[i].to == v)
            return astate_migrations[i].what;
    return "";
}

int
nv_schema_print(const char *what, const char *path, unsigned found, unsigned known, int done,
                const char *(*migration)(unsigned))
{
    if (found > known)
        return too_new(what, path, found, known);
    if (found == known) {
        printf("%s %s: schema %u, current%s\n", what, path, found,
               done ? " (nothing to migrate)" : "");
        return 0;
    }
    if (done)
        printf("%s %s: migrated from schema %u%s to %u\n", what, path, found,
               found == 0 ? " (not stamped: written before schema versions)" : "", known);
    else
        printf("%s %s: schema %u%s; this program writes %u: 'migrate' (or any command that "
               "opens it) migrates it\n", what, path, found,
               found == 0 ? " (not stamped: written before schema versions)" : "", known);
    for (unsigned v = found + 1; v <= known; v++)
        printf("  to schema %u: %s\n", v, *migration(v) ? migration(v) : "stamped");
    return 0;
}

int
nv_schema_check(const char *what, const char *path, unsigned known,
                const char *(*migration)(unsigned))
{
    unsigned v;
    int r = nv_schema_peek(path, &v);

    if (r == 0 && v > known)
        r = nv_schema_print(what, path, v, known, 0, migration);
    return r;
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
        (rc = mdb_env_set_maxdbs(s->env, 16)) != 0 ||
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
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != 0) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        r = nv_mdb_fail(rc, "cannot open databases");
        goto out;
    }
    /* in the same transaction: a store newer than we know is refused
     * before anything is written, an older one migrated and stamped */
    if ((r = nv_schema_migrate(txn, s->meta, "state store", path, NV_ASTATE_SCHEMA,
                               astate_migrations,
                               sizeof(astate_migrations) / sizeof(astate_migrations[0]),
                               s, &s->schema_was)) < 0) {
        mdb_txn_abort(txn);
        goto out;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        r = nv_mdb_fail(rc, "cannot open databases");
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
