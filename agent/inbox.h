/*
 * inbox.h - what the hub sends back.
 *
 * Every bundle in the inbox is checked as the hub checks its own (container,
 * signature by a trusted hub key, addressed to this entity, payload hash,
 * sequence and chain of the hub -> agent stream) and applied, or moved to
 * the quarantine directory with a .reason file.  A bundle ahead of a missing
 * one waits.
 *
 *   updates: records {"op":"upsert","key":K,"fields":{column: value}} in the
 *            entity's own columns become one CSV file in the import dialect,
 *            written atomically to import_dir as
 *            nova-updates-<hub>-<seq>.csv.  A record with a value the import
 *            encoding lacks is transliterated (never a key column) or left
 *            out (import_unrepresentable), and written exactly in UTF-8 to
 *            nova-updates-<hub>-<seq>.utf-8.csv: a bundle is never refused
 *            for an encoding limit.
 *   erasure: records {"order":ID,"key":K[,"source":S]}.  The erase hook runs
 *            once per record (environment NOVA_ORDER_ID, NOVA_RECORD_KEY,
 *            NOVA_SOURCE, NOVA_ENTITY; stdin is /dev/null, stdout and
 *            stderr are read while it runs and their last 4 KiB kept (its
 *            last line goes in a failure's reason); killed after
 *            erase_timeout); without a hook, the
 *            orders are written to import_dir/nova-erasure-<hub>-<seq>.csv.
 *            Either way the record's fingerprints are forgotten and an acks
 *            bundle answers each order: {"order":ID,"key":K,"outcome":
 *            "erased"|"retained"|"no-data"|"failed"|"handed-off","reason":
 *            ...} (hook exit 0, 3, 5, other; no hook).  A failure's reason
 *            holds the hook's last stderr lines, scrubbed (nv_hook_scrub).
 *            An order already answered is not run again unless it failed
 *            (a hook may run twice only if the agent dies between the hook's
 *            exit and the recording of its outcome: hooks should be
 *            idempotent).  A hand-off is proven by the next full exports
 *            (nv_inbox_confirm).  Updates and flags with a "request" are
 *            answered "delivered" once written.
 */
#ifndef NOVA_INBOX_H
#define NOVA_INBOX_H

#include "agent.h"
#include "../formats/hook.h" /* nv_hook_scrub */

struct nv_inbox_stats {
    unsigned applied, waiting, quarantined, updates, orders, failed;
    unsigned transliterated; /* updates written with characters replaced */
    unsigned side;           /* records written to UTF-8 side files */
    unsigned duplicates;     /* bundles applied before, delivered again */
    unsigned pruned;         /* copies in sent/ the hub acknowledged */
    uint64_t acked;          /* the last of ours the hub acknowledged */
};

/* Process every bundle in the inbox. Returns the first refusal code (the
 * refused bundles are quarantined) or 0. */
int nv_inbox_process(struct nv_agent *a, struct nv_inbox_stats *stats);


/* Erasures handed to the CRM team wait in the state store under
 * "\x01handoff\0SOURCE\0ORDER\0KEY" (orders database) with
 * "SINCE\tSTATE": wait, gone (a later full export of SOURCE no longer holds
 * KEY) or present (it still does).  nv_scan marks them; nv_inbox_confirm
 * answers the hub: erased for a key gone, failed for one still present
 * erase_confirm_days after the hand-off.  *n: answers sent. */
#define NV_HANDOFF_PREFIX "\x01handoff"
int nv_inbox_confirm(struct nv_agent *a, unsigned *n) __attribute__((warn_unused_result));

#endif
