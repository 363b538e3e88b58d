/*
 * golden.h - golden records (one value per common field for each RCU, with
 * the entity, record and time it came from) and the updates that carry a
 * value an entity changed to the other entities that know the person.
 *
 * A golden record is computed from the RCU's stored records when read (so
 * it always follows the current survivorship rules, hub/rules.h, and the
 * current clusters); what the store keeps is, per record, when each field's
 * value last changed, so that "most recent" is judged field by field.
 *
 * Updates.  When a bundle changes a record's value of a field and that
 * value is now the golden one (and was not before), every other entity
 * holding a record of the RCU whose mapping has an inverse column for the
 * field gets, through its outbox, an upsert of that record with the
 * entity's key columns and only the fields whose value differs from what
 * the entity last sent (values compared normalised, accents and case
 * folded for free text).  The entity's CRM imports it and re-exports the
 * record: its value now equals the golden one, which does not change, so
 * nothing more flows (no echo).  A record seen for the first time, a link,
 * a merge, a review decision, a replay or an erasure changes no record's
 * values and sends nothing.  An RCU under a restriction of processing
 * (GDPR Art. 18) sends nothing.  Updates are queued in the store in the
 * bundle's own transaction and sent after it (one updates bundle per
 * entity, in order on its stream).
 *
 * Store (LMDB, beside store.h's):
 *   gstate   record key -> {"t":{field:T}}: when each field's value last
 *            changed (seconds), for records that changed since they came;
 *            other records' fields date from the record's updated_at, else
 *            from when its bundle was applied
 *   outq     entity + NUL + counter (8 bytes) -> one update record (NDJSON
 *            line) waiting for the entity's outbox
 */
#ifndef NOVA_GOLDEN_H
#define NOVA_GOLDEN_H

#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

#include "../../formats/contact.h"
#include "../model/rules.h"

struct nv_hub;
struct nv_link_set;

struct nv_golden_db {
    MDB_dbi gstate, outq;
};
/* an nv_hstore_open_fn: db is a struct nv_golden_db */
int nv_golden_open(MDB_txn *txn, void *db) __attribute__((warn_unused_result));

struct nv_golden_stats {
    uint64_t changed;  /* golden values changed by the bundle */
    uint64_t updates;  /* update records queued */
};

/* Keep the stored version (old, oldlen: the records value) of record key
 * before a bundle overwrites it, in prev (a JSON object). */
void nv_golden_prev(json_t *prev, const char *key, size_t keylen, const char *old,
                    size_t oldlen);

/* After nv_link_bundle resolved set in txn: the per-field change times of
 * the set's records that changed (prev: their versions before) and, when
 * updates is 1, the updates their changes send to the other entities
 * (queued in outq).  sender: the bundle's entity.  when: the bundle's time,
 * for records without updated_at. */
int nv_golden_after_link(struct nv_hub *h, MDB_txn *txn, const struct nv_link_set *set,
                         json_t *prev, const char *sender, int updates, int64_t when,
                         struct nv_golden_stats *st) __attribute__((warn_unused_result));

/* The golden record of a live RCU as JSON: {"rcu","fields":{field:
 * {"value","entity","source","key","time"}},"records":[{"entity","source",
 * "key","status"}],"rules":commit|null,"flags":{...}}.  New reference in
 * *out. */
int nv_golden_show(struct nv_hub *h, MDB_txn *txn, const char *rcu, json_t **out)
    __attribute__((warn_unused_result));

/* Every person's golden record to stdout: NDJSON (nv_golden_show's
 * documents), or CSV (rcu_id, one column per field, records).  *count gets
 * the number of people.  only (or NULL): {RCU: ...}, the people to
 * export (a marketing selection). */
int nv_golden_export(struct nv_hub *h, int csv, json_t *only, uint64_t *count)
    __attribute__((warn_unused_result));

/* Stamp every live RCU in the store's change log (their golden records
 * change: new survivorship rules), in one write transaction; *n gets how
 * many. */
int nv_golden_touch_all(struct nv_hub *h, uint64_t *n) __attribute__((warn_unused_result));

/* Drop the queued updates of erased records: purge is {entity: {"<source>
 * \x1f<key>": true}}.  *dropped gets their number. */
int nv_golden_forget(MDB_txn *txn, const struct nv_golden_db *db, json_t *purge,
                     uint64_t *dropped) __attribute__((warn_unused_result));

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
