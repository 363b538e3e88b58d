/*
 * store.h - the hub's store (LMDB in DIR/store).  One write transaction per
 * bundle: a bundle is applied entirely or not at all.
 *
 * Named databases:
 *   streams   "<sender>" -> stream state (stream.h storage form)
 *   bundles   "<sender>/<seq, 20 digits>" -> bundle id (32 bytes): every
 *             applied bundle, so a re-delivered one is recognised
 *   records   "<entity>\0<source>\0<key>" -> {"fields":{...},"seq":N}
 *             (compact JSON, member names sorted): each source record as
 *             its entity last sent it, with the bundle that brought it
 *   receipts  "<entity>\0<order>\0<key>" -> {"outcome":...,"reason":...,
 *             "seq":N}: the agents' answers to erasure orders
 */
#ifndef NOVA_HUB_STORE_H
#define NOVA_HUB_STORE_H

#include <lmdb.h>

#include "../formats/stream.h"

struct nv_hstore {
    MDB_env *env;
    MDB_dbi streams, bundles, records, receipts;
};

struct nv_apply_stats {
    uint64_t upserts, deletes, acks, rejected;
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
/* Apply the change records (or acks) of one payload file of bundle m in
 * txn.  A line that is not a valid record is counted in st->rejected and
 * skipped (never quoted); the rest applies.  Errors: store or I/O only. */
int nv_hstore_apply_file(MDB_txn *txn, const struct nv_hstore *s,
                         const struct nv_manifest *m, const char *path,
                         struct nv_apply_stats *st)
    __attribute__((warn_unused_result));
int nv_hmdb_fail(int rc, const char *what);

#endif
