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
 */
#ifndef NOVA_AGENT_STATE_H
#define NOVA_AGENT_STATE_H

#include <lmdb.h>

#include "../formats/stream.h"

struct nv_astate {
    MDB_env *env;
    MDB_dbi streams, fp, files, orders, withheld;
};

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

/* LMDB error to an nv code with a sentence. */
int nv_mdb_fail(int rc, const char *what);

#endif
