/*
 * golden.h - golden records (one value per common field for each RCU, with
 * the entity, record and time it came from), the survivorship rules that
 * choose those values, and the updates that carry a changed value to the
 * other entities that know the person.
 *
 * The survivorship rules (hub/rules.h) choose each value.
 *
 * Updates.  When a golden value changes because of one entity (the value
 * that now wins is that entity's), every other entity holding a record of
 * the RCU whose mapping has an inverse column for the field gets, through
 * its outbox, an upsert of that record with the entity's key columns and
 * only the fields whose value differs from what the entity last sent
 * (values compared normalised, accents and case folded).  The entity's CRM
 * imports it and re-exports the record: its value now equals the golden
 * value, which does not change again, so nothing more flows (no echo).  An
 * RCU under a restriction of processing (GDPR Art. 18) sends nothing.
 * Replays and erasures recompute golden records without sending updates.
 * Updates are queued in the store in the bundle's own transaction and sent
 * after it (one updates bundle per entity, in order on its stream).
 *
 * Store (LMDB, beside store.h's):
 *   golden   RCU -> {"at":T,"rules":commit|null,"f":{field:{"v":value as
 *            the winning entity wrote it,"n":normalised,"e":entity,"s":source,
 *            "k":key,"t":T}}} for RCUs of two or more records (a lone
 *            record's golden record is the record itself, computed on read)
 *   gstate   record key -> {"g":RCU,"t":{field:[T,hash]}}: per field, when
 *            its value last changed (T, seconds) and a hash of the value,
 *            for records of RCUs of two or more; g is the RCU whose golden
 *            record last used the record
 *   outq     entity + NUL + counter (8 bytes) -> one update record (NDJSON
 *            line) waiting for the entity's outbox
 */
#ifndef NOVA_GOLDEN_H
#define NOVA_GOLDEN_H

#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

#include "../formats/contact.h"
#include "rules.h"

struct nv_hub;
struct nv_link_set;

struct nv_golden_db {
    MDB_dbi golden, gstate, outq;
};
int nv_golden_open(MDB_txn *txn, struct nv_golden_db *db) __attribute__((warn_unused_result));

struct nv_golden_stats {
    uint64_t golden;   /* golden records written */
    uint64_t changed;  /* golden values changed */
    uint64_t updates;  /* update records queued */
};

/* After nv_link_bundle resolved set in txn: per-field change times of the
 * set's records, the golden records of every RCU they touched and, when
 * sender is not NULL and updates is 1, the updates that go out (queued in
 * outq).  sender: the entity whose bundle it is ("" for a decision that is
 * no entity's: every winning entity's change goes out).  when: the
 * bundle's time, for records without updated_at. */
int nv_golden_after_link(struct nv_hub *h, MDB_txn *txn, const struct nv_link_set *set,
                         const char *sender, int updates, int64_t when,
                         struct nv_golden_stats *st) __attribute__((warn_unused_result));

/* Recompute the golden records of the given live RCUs (after a review
 * decision), sending updates as a decision ("" sender). */
int nv_golden_rcus(struct nv_hub *h, MDB_txn *txn, const char *const *rcus, size_t n,
                   int updates, struct nv_golden_stats *st)
    __attribute__((warn_unused_result));

/* Recompute every golden record under the current rules, sending nothing
 * (after the rules changed). */
int nv_golden_rebuild(struct nv_hub *h, struct nv_golden_stats *st)
    __attribute__((warn_unused_result));

/* The golden record of a live RCU (computed when not stored) as JSON:
 * {"rcu","fields":{field:{"value","entity","source","key","time"}},
 * "records":[{"entity","source","key","status"}],"rules":commit|null,
 * "flags":{...}}.  New reference in *out. */
int nv_golden_show(struct nv_hub *h, MDB_txn *txn, const char *rcu, json_t **out)
    __attribute__((warn_unused_result));

/* Send the queued updates: one updates bundle per entity (the queue entries
 * leave in the bundle's transaction).  *sent gets the records sent. */
int nv_golden_flush(struct nv_hub *h, uint64_t *sent) __attribute__((warn_unused_result));

/* The update record of one source record (entity, source, key, its source
 * fields): the entity's key columns and, for each common field of sets
 * ({field: value}) the entity maps back, its inverse column.  *line (free
 * it) is NULL when the entity maps none of them back. */
int nv_golden_update_line(struct nv_hub *h, const char *entity, const char *source,
                          const char *key, json_t *fields, json_t *sets, char **line)
    __attribute__((warn_unused_result));

#endif
