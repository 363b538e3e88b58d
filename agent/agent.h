/*
 * agent.h - one running agent: its configuration, keys, trusted hub and
 * state store, opened together from the agent directory.
 */
#ifndef NOVA_AGENT_H
#define NOVA_AGENT_H

#include "../keys/identity.h"
#include "../keys/keyring.h"
#include "config.h"
#include "outbox.h"
#include "state.h"

struct nv_agent {
    const char *dir;
    struct nv_agent_config cfg;
    struct nv_identity self;
    struct nv_keyring kr;
    const struct nv_keyring_entry *hub;
    struct nv_astate st;
    int have_cfg, have_self, have_kr, have_st;
    int lock_fd; /* DIR/agent.lock: one nova-agent at a time */
    char *sent;  /* DIR/sent: every bundle sealed to the hub, kept until the
                    hub acknowledges it */
};

/* Open everything and recover the outbox after a crash.  need_hub: fail if
 * no hub is trusted. */
int nv_agent_open(struct nv_agent *a, const char *dir, int need_hub)
    __attribute__((warn_unused_result));
void nv_agent_close(struct nv_agent *a);
/* The last sequence number of ours the hub has acknowledged (0: none). */
uint64_t nv_agent_acked(struct nv_agent *a);
/* Remove the copies in sent/ that the hub has acknowledged. */
int nv_agent_prune_sent(struct nv_agent *a, uint64_t *n)
    __attribute__((warn_unused_result));
/* An outbox to the hub, set up from the configuration: each bundle is kept
 * in sent/ and carries the last hub bundle applied (acked). */
void nv_agent_outbox(struct nv_agent *a, struct nv_outbox *o);
/* The newest head of the hub's ledger that a hub bundle carried (40 hex;
 * "" when none yet): the agent witnesses it in every bundle it seals, so
 * an auditor can check that the hub's ledger still holds it. */
void nv_agent_witness(struct nv_agent *a, char out[41]);
/* Keep head (40 hex; NULL or other: nothing) as the witnessed head, in
 * txn. */
int nv_agent_witness_put(MDB_txn *txn, struct nv_agent *a, const char *head)
    __attribute__((warn_unused_result));

/* The stream epoch the hub's last rebase order opened (streams database,
 * "rebase:<hub>" -> {"epoch":E,"base":S,"hub_seq":R,"snapshot":bool}):
 * every bundle sealed says "epoch: E"; hub bundles below R are stale; with
 * snapshot, the next pass ships a full snapshot (agent/scan.c).  All zero
 * when no rebase was applied. */
struct nv_arebase {
    uint64_t epoch, base, hub_seq;
    int snapshot;
};
int nv_agent_rebase_get(MDB_txn *txn, struct nv_agent *a, struct nv_arebase *out)
    __attribute__((warn_unused_result));
int nv_agent_rebase_put(MDB_txn *txn, struct nv_agent *a, const struct nv_arebase *rb)
    __attribute__((warn_unused_result));

#endif
