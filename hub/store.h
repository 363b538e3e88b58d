/*
 * store.h - the hub's store (LMDB in DIR/store).  One write transaction per
 * bundle: a bundle is applied entirely or not at all.
 *
 * Named databases:
 *   streams   "<sender>" -> stream state (stream.h storage form)
 *   bundles   "<sender>/<seq, 20 digits>" -> bundle id (32 bytes): every
 *             applied bundle, so a re-delivered one is recognised
 */
#ifndef NOVA_HUB_STORE_H
#define NOVA_HUB_STORE_H

#include <lmdb.h>

#include "../formats/stream.h"

struct nv_hstore {
    MDB_env *env;
    MDB_dbi streams, bundles;
};

int nv_hstore_open(struct nv_hstore *s, const char *dir)
    __attribute__((warn_unused_result));
void nv_hstore_close(struct nv_hstore *s);
int nv_hstore_stream_get(MDB_txn *txn, const struct nv_hstore *s,
                         const char *sender, struct nv_stream_state *out)
    __attribute__((warn_unused_result));
/* Record bundle (sender, m->seq, id) as applied and advance the stream. */
int nv_hstore_stream_advance(MDB_txn *txn, const struct nv_hstore *s,
                             const struct nv_manifest *m, const uint8_t id[32])
    __attribute__((warn_unused_result));
/* 1 if that exact bundle (sender, seq, id) was applied, else 0. */
int nv_hstore_bundle_applied(MDB_txn *txn, const struct nv_hstore *s,
                             const char *sender, uint64_t seq,
                             const uint8_t id[32]);
int nv_hmdb_fail(int rc, const char *what);

#endif
