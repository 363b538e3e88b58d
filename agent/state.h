/*
 * state.h - the agent's state store (LMDB in DIR/state): outbound stream
 * state per recipient, and (with the watcher) record fingerprints.
 *
 * Named databases:
 *   streams   "out:<peer>" / "in:<peer>" -> u64 seq (LE) | 32-byte last id
 *   fp        "<source>\0<record key>" -> 16-byte fingerprint of the record
 *             as last shipped
 *   files     "<source>\0<file name>" -> size | mtime ns | inode (u64 LE
 *             each): export files already processed
 *   orders    "<order id>\0<record key>" -> outcome text: erasure orders
 *             already answered
 *   withheld  "<source>\0<record key>" -> "": deletes a full export implied
 *             but the guard withheld (released by accept-deletes, replaced by
 *             the source's next full snapshot); "<source>\0" -> summary
 *             "count\ttime\tfile\treason"
 *   meta      "schema" -> the store's schema version (decimal text)
 */
#ifndef NOVA_AGENT_STATE_H
#define NOVA_AGENT_STATE_H

#include <lmdb.h>

#include "../formats/stream.h"

struct nv_astate {
    MDB_env *env;
    MDB_dbi streams, fp, files, orders, withheld, meta;
    unsigned schema_was; /* the version found at open (0: not stamped) */
};

/* The layout of the agent's state store that this program writes. */
#define NV_ASTATE_SCHEMA 1

int nv_astate_open(struct nv_astate *s, const char *dir)
    __attribute__((warn_unused_result));
void nv_astate_close(struct nv_astate *s);

/* Read a stream's state within txn (missing = seq 0). */
int nv_astate_stream_get(MDB_txn *txn, const struct nv_astate *s,
                         const char *dir_peer, struct nv_stream_state *out)
    __attribute__((warn_unused_result));
int nv_astate_stream_put(MDB_txn *txn, const struct nv_astate *s,
                         const char *dir_peer, const struct nv_stream_state *st)
    __attribute__((warn_unused_result));

/* The same on any database holding stream states (the hub's too). */
int nv_stream_db_get(MDB_txn *txn, MDB_dbi dbi, const char *key,
                     struct nv_stream_state *out)
    __attribute__((warn_unused_result));
int nv_stream_db_put(MDB_txn *txn, MDB_dbi dbi, const char *key,
                     const struct nv_stream_state *st)
    __attribute__((warn_unused_result));

/*
 * Schema versions, for the agent's state store and the hub's store alike.
 * Each LMDB store says in its meta database, key "schema", the version of
 * its layout (decimal text).  At open, in the one write transaction that
 * opens its databases, nv_schema_migrate reads it: a store newer than the
 * program knows is refused (NV_ESCHEMA, nothing written); an older one (0:
 * not stamped, the layout from before schema versions) goes through the
 * registered migrations in order, then is stamped.  All or nothing: a crash
 * leaves the store as it was, and the next open does it again.
 */
struct nv_migration {
    unsigned to;      /* the version it makes (from to - 1) */
    const char *what; /* what it does, for the log and `migrate` */
    int (*run)(MDB_txn *txn, void *ctx); /* NULL: stamping is all */
};
/* The stamped version (0 when none) in meta. */
int nv_schema_get(MDB_txn *txn, MDB_dbi meta, unsigned *version)
    __attribute__((warn_unused_result));
/* Bring the store (what: "hub store", "state store"; path: its directory)
 * to version known with the migrations m[0..n) (ordered by to); *was gets
 * the version found. */
int nv_schema_migrate(MDB_txn *txn, MDB_dbi meta, const char *what, const char *path,
                      unsigned known, const struct nv_migration *m, size_t n, void *ctx,
                      unsigned *was) __attribute__((warn_unused_result));
/* The version of the store in path without changing it (a read
 * transaction): NV_ENOTFOUND when path holds no store. */
int nv_schema_peek(const char *path, unsigned *version)
    __attribute__((warn_unused_result));

/* What migration to version v of the agent's store does ("" when none). */
const char *nv_astate_migration(unsigned v);
/* Tell on stdout where the store in path (what: "hub store") stands:
 * found (the version read, or the one before a migration just run when
 * done), against known; migration(v) names what reaching v does.  Returns
 * NV_ESCHEMA (with its sentence) when found is newer than known, else 0. */
int nv_schema_print(const char *what, const char *path, unsigned found, unsigned known,
                    int done, const char *(*migration)(unsigned));

/* A consistent copy of env into dir (made if missing): only live pages
 * (mdb_env_copy2 with MDB_CP_COMPACT, which reads in one read transaction,
 * so a running writer does not disturb it), data.mdb and dir fsynced. */
int nv_lmdb_copy(MDB_env *env, const char *dir) __attribute__((warn_unused_result));
/* Each stream state in the database "streams" of the store copy in path
 * (opened read-only, no lock: a copy nobody else uses): fn(ctx, key, st). */
int nv_lmdb_copy_streams(const char *path,
                         void (*fn)(void *ctx, const char *key,
                                    const struct nv_stream_state *st),
                         void *ctx) __attribute__((warn_unused_result));

/* NV_ESCHEMA (with nv_schema_print's sentence) when the store in path is
 * newer than known; a missing store is NV_ENOTFOUND.  A restore checks
 * its copy with it before putting it in place. */
int nv_schema_check(const char *what, const char *path, unsigned known,
                    const char *(*migration)(unsigned)) __attribute__((warn_unused_result));

/* LMDB error to an nv code with a sentence. */
int nv_mdb_fail(int rc, const char *what);

#endif
