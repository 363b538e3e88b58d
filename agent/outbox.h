/*
 * outbox.h - sending bundles exactly once.
 *
 * A change set is sent as one or more bundles (parts).  While it is built,
 * one LMDB write transaction is open (nv_outbox_txn): the caller records in
 * it the state that goes with the records it adds (fingerprints, processed
 * files, answered orders).  Sealing a part writes the bundle complete and
 * fsynced under OUTBOX/.pending/, then commits that transaction together
 * with the stream's new sequence number and id, then renames the bundle into
 * OUTBOX/.  After a crash, nv_outbox_recover() finishes the rename of a
 * pending bundle whose transaction committed and deletes one whose
 * transaction did not, so what the caller recorded and what was sent always
 * agree: a change is never lost, never sent twice, and a sequence number is
 * never used for two bundles nor skipped.
 */
#ifndef NOVA_OUTBOX_H
#define NOVA_OUTBOX_H

#include "../formats/bundle.h"
#include "../keys/identity.h"
#include "../keys/keyring.h"
#include "state.h"

struct nv_outbox {
    /* set by the caller */
    const char *outbox;              /* directory */
    struct nv_identity *self;
    const struct nv_keyring_entry *peer; /* recipient, active key */
    MDB_env *env;                    /* state store holding the stream */
    MDB_dbi streams;
    uint64_t cap;                    /* raw payload bytes per bundle */
    int zstd_level;
    char ledger_head[41];            /* the hub ledger head to witness in
                                        each manifest ("" none) */
    const char *sent;                /* NULL, or a directory keeping a copy
                                        of every sealed bundle until the
                                        peer acknowledges it (nv_sent_*) */
    int has_acked;                   /* put "acked: <acked>" in each
                                        manifest: the last seq applied of
                                        the peer's stream to us */
    uint64_t acked;
    uint64_t epoch;                  /* the stream's epoch, in each
                                        manifest (0: none) */
    int snapshot;                    /* each part says "snapshot: yes" */
    int receipt;                     /* nv_outbox_end seals a bundle even
                                        with nothing in it (a receipt that
                                        carries acked) */
    /* current change set */
    MDB_txn *txn;
    struct nv_bundle_writer *w;
    uint32_t part;
    uint64_t records, upserts, deletes, rejects, files;
    int kind;
    /* totals */
    unsigned bundles;
    uint64_t sent_records;
};

int nv_outbox_recover(const char *outbox, MDB_env *env, MDB_dbi streams)
    __attribute__((warn_unused_result));
/* Start a change set of kind: opens the write transaction. */
int nv_outbox_begin(struct nv_outbox *o, int kind)
    __attribute__((warn_unused_result));
/* The open write transaction (valid until the next add, end or abort). */
MDB_txn *nv_outbox_txn(struct nv_outbox *o);
/* Add one change record; when the part reaches the cap it is sealed (the
 * transaction committed) and a new one started.  op: NV_OP_UPSERT/DELETE. */
int nv_outbox_add_record(struct nv_outbox *o, const char *line, size_t len,
                         int op) __attribute__((warn_unused_result));
int nv_outbox_add_file(struct nv_outbox *o, const char *name, const void *data,
                       size_t len) __attribute__((warn_unused_result));
void nv_outbox_add_rejects(struct nv_outbox *o, uint64_t n);
/* Seal the last part (final: yes) and commit.  With nothing to send, only
 * the transaction is committed and no bundle is written. */
int nv_outbox_end(struct nv_outbox *o) __attribute__((warn_unused_result));
/* Drop the change set: nothing of it is committed or sent. */
void nv_outbox_abort(struct nv_outbox *o);

/*
 * Acknowledged streams.  With o->sent set, every sealed bundle is also kept
 * in that directory (a hard link, or a copy on another file system), made
 * after the commit and before the rename into the outbox: a crash between
 * the two is finished by nv_outbox_recover (given the same directory), so a
 * bundle in the outbox always has its copy in sent/.  The copies stay until
 * the peer acknowledges them (the acked line of a bundle it sends back);
 * nv_sent_resend puts copies back into the outbox when one was lost.
 */
int nv_outbox_recover_sent(const char *outbox, const char *sent, MDB_env *env,
                           MDB_dbi streams) __attribute__((warn_unused_result));
/* The sequence number in a bundle file name (sender-recipient-SEQ.kind.nova);
 * 0 when it is not one. */
uint64_t nv_sent_seq(const char *name);
struct nv_sent_backlog {
    uint64_t count, bytes;
    int64_t oldest;      /* mtime (s) of the oldest copy kept, 0 if none */
    uint64_t first, last; /* their sequence numbers */
};
/* What sent/ holds above acked (the unacknowledged bundles). */
int nv_sent_backlog(const char *sent, uint64_t acked, struct nv_sent_backlog *b)
    __attribute__((warn_unused_result));
/* Remove the copies up to acked (inclusive); *n gets how many. */
int nv_sent_prune(const char *sent, uint64_t acked, uint64_t *n)
    __attribute__((warn_unused_result));
/* Copy the kept bundles with seq >= from back into the outbox (a name
 * already there is left alone); *n gets how many were copied. */
int nv_sent_resend(const char *sent, const char *outbox, uint64_t from, uint64_t *n)
    __attribute__((warn_unused_result));
/* The acked value kept in a state database: key "acked:<peer>" -> u64 LE. */
int nv_acked_get(MDB_txn *txn, MDB_dbi dbi, const char *peer, uint64_t *acked)
    __attribute__((warn_unused_result));
/* Keep acked if it is above the one kept. */
int nv_acked_put(MDB_txn *txn, MDB_dbi dbi, const char *peer, uint64_t acked)
    __attribute__((warn_unused_result));
/* Keep acked, whatever was kept (a rebase moves the stream). */
int nv_acked_set(MDB_txn *txn, MDB_dbi dbi, const char *peer, uint64_t acked)
    __attribute__((warn_unused_result));

#endif
