/*
 * ingest.h - the hub's intake: every bundle in DIR/inbox is checked
 * (container, signature, enrolled and unrevoked key, sequence, chain,
 * recipient, payload hash) and either applied or quarantined with a reason.
 *
 * Applying a bundle: its payload files are extracted to a staging directory,
 * moved to DIR/received/<sender>/<seq>/, then one store transaction records
 * the stream's new state, then the bundle moves to DIR/archive/.  A crash at
 * any point is repaired by the next run: nothing is applied twice, nothing
 * is lost.  A bundle that arrives ahead of a missing one waits in the inbox.
 */
#ifndef NOVA_INGEST_H
#define NOVA_INGEST_H

#include "../../formats/bundle.h"
#include "../../keys/identity.h"
#include "../../keys/keyring.h"
#include "../core/hub.h"
#include "apply.h"


/* NV_ARRIVING: a bundle in the inbox that does not read whole yet and
 * changed less than settle_ms ago: still being copied, left where it is. */
/* NV_STALE: sealed before a rebase of its stream (an older epoch), not
 * applied before: set aside in DIR/stale/, never quarantined. */
enum nv_outcome { NV_APPLIED = 1, NV_WAITING, NV_QUARANTINED, NV_DUPLICATE,
                  NV_FAILED, NV_ARRIVING, NV_STALE };

struct nv_ingest_result {
    int outcome;
    int code; /* refusal code, 0 when applied */
    struct nv_manifest m;
    int have_manifest;
    char reason[512];
    struct nv_apply_stats applied; /* what the bundle changed in the store */
};

int nv_hub_open(struct nv_hub *h, const char *dir)
    __attribute__((warn_unused_result));
void nv_hub_close(struct nv_hub *h);
/* Create the hub directory layout (keys made separately). */
int nv_hub_layout(const char *dir) __attribute__((warn_unused_result));

/* Check one bundle completely (including decryption into nothing) without
 * applying it. 0 or the refusal code. */
int nv_hub_verify_file(struct nv_hub *h, const char *path, struct nv_bundle *b)
    __attribute__((warn_unused_result));
/* Ingest one bundle file; quarantine=1 moves refused ones to
 * DIR/quarantine with a .reason file.  A file outside DIR/inbox is copied
 * into the inbox first (the caller's file stays where it is). */
int nv_hub_ingest_file(struct nv_hub *h, const char *path, int quarantine,
                       struct nv_ingest_result *res);
/* Ingest everything in DIR/inbox in stream order; calls report per bundle.
 * Names that copies use while they run (".*", "*.part", "*.tmp") are not
 * read.  A bundle that is refused but changed less than h->settle_ms ago
 * is taken for a copy still running: left in the inbox (NV_ARRIVING) and
 * quarantined only once it has stopped changing.  Returns the first
 * refusal code (0 if none). */
int nv_hub_ingest_inbox(struct nv_hub *h,
                        void (*report)(void *ctx, const char *name,
                                       const struct nv_ingest_result *res),
                        void *ctx);

/* Re-apply every retained changes bundle of entity (DIR/received/<entity>/)
 * under its current mapping: its records and rejects are dropped and
 * rebuilt, bundle by bundle, in sequence order.  A crash during a replay is
 * finished by the next nv_hub_open.  report (may be NULL) is called after
 * each bundle; *total gets the sum. */
int nv_hub_replay(struct nv_hub *h, const char *entity,
                  void (*report)(void *ctx, uint64_t seq,
                                 const struct nv_apply_stats *st),
                  void *ctx, struct nv_apply_stats *total)
    __attribute__((warn_unused_result));

/* After an ingest pass: advance the GDPR requests (receipts in, orders
 * out) and compact the store when something was erased. */
int nv_hub_after_ingest(struct nv_hub *h) __attribute__((warn_unused_result));

/* Before a ledger commit of the hub's own (a rebase order): the access
 * log's head as its trailer; after it: the ledger's head noted in the
 * store (nv_ledger_check_head at the next open). */
void nv_hub_ledger_witness(struct nv_hub *h);
int nv_hub_ledger_noted(struct nv_hub *h) __attribute__((warn_unused_result));

#endif
