/*
 * relink.h - re-resolve the whole store under the model and decisions in
 * force (nova-hub relink): after `learn`, after review decisions, or after
 * a matching rule changed.  One write transaction: all or nothing.
 */
#ifndef NOVA_HUB_RELINK_H
#define NOVA_HUB_RELINK_H

#include <stdint.h>

#include "../core/hub.h"

struct nv_relink_stats {
    uint64_t records;  /* records re-resolved */
    uint64_t moved;    /* records whose RCU changed */
    uint64_t rcus_before, rcus_after;
    uint64_t stayed;   /* RCUs whose members are exactly as before */
    uint64_t merged;   /* RCUs after that hold records of several RCUs before
                          (the RCUs that went are aliases of the one kept) */
    uint64_t split;    /* RCUs before whose records are now in several */
    uint64_t review;   /* review pairs opened */
};

/* Every record resolved again by nv_link_bundle (RCUs kept where their
 * clusters persist, aliases on merges, every decision honoured), golden
 * records recomputed (no update is sent: the entities' data did not
 * change), in one transaction; dry_run: the same, then rolled back. */
int nv_hub_relink(struct nv_hub *h, int dry_run, struct nv_relink_stats *st)
    __attribute__((warn_unused_result));

#endif
