/*
 * retain.h - how long DIR/received keeps the payloads it applied.
 *
 * `nova-hub replay` applies an entity's retained payloads again, in order,
 * under its current mapping; it needs, of every record, its last version
 * as sent (a delete included), not every version before.  So received/
 * is never thinned by age alone: the payloads of an entity's bundles
 * applied before a time are merged, in their order, into one payload that
 * keeps the last line of each (source, key) -- the base -- under the
 * sequence number of the newest changes bundle among them; replay applies
 * the base, then what came after, and gets what it got before.  A line
 * that is not a change record (stored as a reject) is kept as it is.
 *
 * Crash-safe: the base is written under received/.staging-... (removed
 * by the next open when a crash leaves it), then swapped with the newest
 * directory in one rename (RENAME_EXCHANGE), then the older directories
 * are removed; one a crash leaves is replayed before the base, which
 * supersedes it (its deletes kept for that).
 */
#ifndef NOVA_HUB_RETAIN_H
#define NOVA_HUB_RETAIN_H

#include <stdint.h>

#include "../core/hub.h"

struct nv_retain_stats {
    uint64_t entities;  /* entities whose payloads were merged */
    uint64_t merged;    /* bundle directories merged into bases */
    uint64_t lines_in, lines_out;
    uint64_t bytes_in, bytes_out;
};

/* The kind (acks or not) and applied time of a bundle the hub applied,
 * from bstats: -1 when it has none (a time of 0 when bstats has no time). */
int nv_hub_bundle_info(MDB_txn *txn, struct nv_hub *h, const char *sender, uint64_t seq,
                       int *acks, int64_t *applied);
/* A directory name of received/<entity>/: digits only (scandir filter). */
struct dirent;
int nv_hub_is_seq_dir(const struct dirent *e);

/* Merge, for each entity, the payloads of the bundles applied before
 * before (s, nv_now's scale) into its base. */
int nv_hub_retain_received(struct nv_hub *h, int64_t before, struct nv_retain_stats *st)
    __attribute__((warn_unused_result));

#endif
