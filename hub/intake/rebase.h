/*
 * rebase.h - re-baselining an entity's stream (nova-hub rebase).
 *
 * An agent restored from a backup, reinstalled or re-keyed no longer
 * continues the stream the hub holds (its bundles are replayed or forked).
 * The hub issues a rebase order: a hub -> agent bundle of kind rebase,
 * signed by the hub, recorded in the ledger (rebase/<entity>/<epoch>/),
 * that opens a new epoch of the entity's stream at the sequence number the
 * hub holds (payload rebase.json: entity, epoch, seq, the id of that
 * bundle).  The agent, accepting it only from its trusted hub, continues
 * from there with bundles that say "epoch: E", and its next pass ships a
 * full snapshot; the hub reconciles it (nv_hub_snapshot).  A bundle of an
 * older epoch that was not applied before is stale (NV_ESTALE): set aside
 * in DIR/stale/, never quarantined.
 */
#ifndef NOVA_REBASE_H
#define NOVA_REBASE_H

#include "../core/hub.h"
#include "../store/store.h"
#include "apply.h"

/* Issue a rebase order to entity (enrolled, unrevoked key): sealed into
 * DIR/outbox/<entity>/ (and kept in sent/), its epoch recorded in the
 * store in the same transaction, then recorded in the ledger.  *out gets
 * the new epoch's state. */
int nv_hub_rebase(struct nv_hub *h, const char *entity, struct nv_hrebase *out)
    __attribute__((warn_unused_result));

/* At open: record in the ledger the rebase orders a crash kept from it. */
int nv_hub_rebase_repair(struct nv_hub *h) __attribute__((warn_unused_result));

/* Is m of the sender's current epoch?  NV_ESTALE for an older one (sealed
 * before a rebase), NV_EFORK for one this hub never opened, NV_EFORMAT for
 * a kind an agent does not send. */
int nv_hub_epoch_check(struct nv_hub *h, MDB_txn *txn, const struct nv_manifest *m)
    __attribute__((warn_unused_result));

/* The payload in dir holds snapshot.json (the final part of a full
 * snapshot): each source it says is whole is reconciled against the store
 * (nv_apply_reconcile, from the base it names).  live: a bundle being
 * applied (its epoch and base must be the rebase's; the rebase is then no
 * longer pending), else a replay. */
int nv_hub_snapshot(struct nv_hub *h, MDB_txn *txn, const struct nv_manifest *m,
                    const char *dir, int live, struct nv_apply_ctx *a,
                    struct nv_apply_stats *st) __attribute__((warn_unused_result));

#endif
