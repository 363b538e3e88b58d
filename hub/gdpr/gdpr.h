/*
 * gdpr.h - the group's register of data-subject requests (GDPR Art. 12-21),
 * the suppression list, objections and restrictions, and the access log.
 *
 * A request enters once at the hub, gets an id (REQ-000001), the date it
 * was received, its legal deadline (one month, extendable by two more with a
 * reason and the date the person was told) and the group's target (10 days
 * unless --target-days), and is resolved to the subject's RCU (by e-mail,
 * phone, RCU or entity:key).  Erasure sends one signed order per entity that
 * holds a linked record, tracks each entity's signed receipts (erased,
 * retained with its legal ground, Art. 17(3), no-data; handed-off and
 * failed are not final), and once every entity has answered finally
 * erases the hub's own copy and
 * keeps only keyed hashes of the subject's identifiers in the suppression
 * list, so a later export that still holds the person is dropped and
 * counted, never re-created.
 *
 * Store (LMDB, beside store.h's):
 *   gdpr      "<id>" -> the request (JSON, below); "next" -> counter
 *   suppress  keyed hash (16 bytes) -> request id: erased identifiers
 *   object    keyed hash (16 bytes) -> request id: objections (marketing)
 *   flags     RCU -> {"restrict":ID|null,"object":ID|null}
 *   gdprlog   event number (8 bytes, big-endian, from 1) -> {"req":ID,
 *             "kind":K,"n":N}: every event of every request, in the order
 *             they were written (nv_gdpr_req_put), for the ledger; the
 *             request keeps "logged", how many of its events are here
 * Keyed hashes are BLAKE2b-128 keyed by DIR/keys/suppress.key (32 random
 * bytes, 0600), of "e:" + normalised e-mail, "p:" + E.164 phone, or
 * "k:" + entity + NUL + record key: without the key they cannot be tested
 * against a list of addresses.
 *
 * Request JSON: {"id","kind","subject":{"by":"email|phone|rcu|record",
 * "hash":hex},"received","deadline","target","extended":{...}|null,
 * "status":"open|complete|no-data|ambiguous|closed","ref":TICKET?,"rcus":[...],
 * "entities":{"acme":{"status":"pending|sent|erased|handed-off|retained|
 * no-data|failed|delivered|nothing-sent","records":N,"keys":[[source,key],
 * ...],"counts":{outcome:N},"reasons":[...],"sent":T,"answered":T}},
 * "recipients":[...],"closed":{"at","reason"}?,
 * "events":[{"at":T,"event":"..."}]}.  No e-mail, phone or name: the
 * subject is the keyed hash, records are named by their entity's key, and
 * record keys are dropped when the request completes.
 */
#ifndef NOVA_GDPR_H
#define NOVA_GDPR_H

#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

#include "../../formats/buf.h"

struct nv_hub;
struct nv_norm_values;

#define NV_GDPR_KEY_FILE "keys/suppress.key"
#define NV_GDPR_TARGET_DAYS 10

struct nv_gdpr_db {
    MDB_dbi req, suppress, object, flags, log;
};

/* an nv_hstore_open_fn: db is a struct nv_gdpr_db */
int nv_gdpr_open(MDB_txn *txn, void *db) __attribute__((warn_unused_result));

/* The hub's suppression key (created, 0600, on first use). */
int nv_gdpr_key(const char *hubdir, uint8_t key[32]) __attribute__((warn_unused_result));
void nv_gdpr_hash(const uint8_t key[32], char kind, const char *a, size_t alen,
                  const char *b, size_t blen, uint8_t out[16]);

/* The receipts key's last part for a record key of entity: the keyed hash
 * ('k', entity, key) in hex (32 characters and a NUL). */
void nv_gdpr_receipt_hash(const uint8_t key[32], const char *entity, const char *reckey,
                          char hex[33]);
/* The record id of a record in exports (32 hex + NUL): the keyed hash of
 * entity, source and record key, the same for the life of the store's
 * suppression key, so a warehouse keys its rows on it and a tombstone names
 * an erased record by it alone (hub/export). */
void nv_gdpr_record_id(const uint8_t key[32], const char *entity, const char *source,
                       const char *reckey, char hex[33]);

/* 1 when a record (its normalised values nv and record key) was erased by
 * a request: it must not come back.  0 otherwise. */
/* A person's flags ({"restrict":ID|null,"object":ID|null}, a new
 * reference) or NULL: the hub's person_flags (hub/core/hub.h). */
struct nv_hub;
json_t *nv_gdpr_flags(struct nv_hub *h, MDB_txn *txn, const char *rcu);
int nv_gdpr_suppressed(MDB_txn *txn, const struct nv_gdpr_db *db, const uint8_t key[32],
                       const struct nv_norm_values *nv, const char *entity,
                       const char *reckey);

/* Advance open erasure requests: send pending orders, count receipts,
 * complete (erase the hub's copy, suppress) those every entity answered.
 * *erased gets the number of records erased (the caller compacts the store
 * when it is not 0). */
int nv_gdpr_progress(struct nv_hub *h, uint64_t *erased) __attribute__((warn_unused_result));

/* Remove the lines of the records keys names ([[source, key], ...]) from
 * the payload files of one retained bundle directory of entity; a receipt
 * (op ack) of one of them keeps its line with the record key replaced by
 * its keyed hash ("key_hash", nv_gdpr_receipt_hash; gkey NULL: dropped). */
int nv_gdpr_purge_dir(const char *dir, json_t *keys, const uint8_t *gkey, const char *entity)
    __attribute__((warn_unused_result));

/* Append one line to DIR/accesslog.ndjson (who, when, what, why). */
/* The SHA-256 (hex) of the access log's last line (64 zeros when empty):
 * its head, which each ledger commit witnesses. */
int nv_access_log_head(const char *hubdir, char hex[65]) __attribute__((warn_unused_result));
int nv_access_log(const char *hubdir, const char *what, const char *why)
    __attribute__((warn_unused_result));

/* ---- the register, for the commands (hub/cmd/gdpr.c) ---- */

/* Register a request of kind for the subject given by (by, value): resolve
 * it to people, record the request (id_out: REQ-NNNNNN; status_out, when
 * not NULL, its status) with its external reference ref (a ticket, or
 * NULL) and, unless defer, send its orders.  NV_EEXIST: the subject
 * matches several people (the request waits for nova-hub gdpr choose);
 * NV_EINVAL: a subject that does not parse.  merge (or NULL): {"kind\x1fRCU":
 * id} of this batch; a subject resolving to a person already there is
 * merged into that request (NV_GDPR_MERGED, its id in id_out). */
#define NV_GDPR_MERGED 1
int nv_gdpr_create(struct nv_hub *h, const char *kind, const char *by, const char *value,
                   unsigned target_days, const char *received, const char *out_file,
                   const char *format, json_t *sets, int json, int defer, const char *ref,
                   json_t *merge, char id_out[16], char status_out[16]);
/* Deliver open portability request id (its subject chosen): the export of
 * what the person provided (JSON, or format "csv") to out_file or stdout;
 * the request is complete.  NV_EINVAL for another kind or status. */
int nv_gdpr_deliver(struct nv_hub *h, const char *id, const char *out_file,
                    const char *format) __attribute__((warn_unused_result));
/* nv_gdpr_create for each line "by:value" of the file from (lines that
 * start with '#' skipped), deferred, with one sync for the whole file, then
 * the erasure orders of them all (nv_gdpr_send_orders_many).  lines gets
 * one object per input line: {"line":N,"id":ID,"status":S[,"merged":true]}
 * or {"line":N,"skipped":WHY}; lines resolving to the same person and kind
 * become one request.  *n: requests registered; *bad: lines skipped. */
int nv_gdpr_create_many(struct nv_hub *h, const char *kind, const char *from,
                        unsigned target_days, const char *received, json_t *sets,
                        const char *ref, json_t *lines, size_t *n, size_t *bad)
    __attribute__((warn_unused_result));
int nv_gdpr_req_get(MDB_txn *txn, const struct nv_gdpr_db *db, const char *id, json_t **out)
    __attribute__((warn_unused_result));
int nv_gdpr_req_put(MDB_txn *txn, const struct nv_gdpr_db *db, json_t *req)
    __attribute__((warn_unused_result));
/* An event's text as the ledger may hold it (n bytes at out): the free
 * text a DPO wrote (a closure's or an extension's reason) and a file's
 * path left out, e-mails and runs of digits scrubbed. */
void nv_gdpr_event_public(const char *text, char *out, size_t n);
/* The register's events after event number after, in order: fn(ctx, the
 * event's number, its request, its right, its index in the request, its
 * time, its text); stops at fn's first error. */
int nv_gdpr_events_after(MDB_txn *txn, const struct nv_gdpr_db *db, uint64_t after,
                         int (*fn)(void *ctx, uint64_t seq, const char *req, const char *right,
                                   uint64_t n, const char *at, const char *text),
                         void *ctx) __attribute__((warn_unused_result));
/* Send the erasure orders of requests ids (one bundle per entity). */
int nv_gdpr_send_orders_many(struct nv_hub *h, char **ids, size_t n)
    __attribute__((warn_unused_result));
int nv_gdpr_send_orders(struct nv_hub *h, const char *id) __attribute__((warn_unused_result));
/* erase, access, rectify, restrict or object */
int nv_gdpr_valid_kind(const char *k);
/* "YYYY-MM-DD" as a Unix time, or -1. */
int64_t nv_gdpr_parse_day(const char *s);
/* Extend request req's deadline by months (1 or 2 in all), with the reason
 * and the day the person was told; the caller stores req. */
int nv_gdpr_extend(json_t *req, const char *id, int months, const char *reason,
                   const char *told) __attribute__((warn_unused_result));
/* The DPO's choice of rcu among an ambiguous request's candidates; the
 * caller stores req, then sends the orders. */
int nv_gdpr_choose(struct nv_hub *h, MDB_txn *txn, json_t *req, const char *id,
                   const char *rcu) __attribute__((warn_unused_result));
/* gdpr extend and gdpr choose on the stored request id, in one write
 * transaction: rcu NULL extends the deadline (nv_gdpr_extend), else chooses
 * rcu (nv_gdpr_choose) and, once committed, sends the orders. */
int nv_gdpr_amend(struct nv_hub *h, const char *id, const char *rcu, int months,
                  const char *reason, const char *told) __attribute__((warn_unused_result));
/* gdpr retry: the failed orders of open erasure id (at entity, or every
 * entity when NULL) sent again, their failed receipts dropped; *n gets the
 * entities retried.  NV_EINVAL: nothing to retry. */
/* After a rebase of entity's stream (hub/intake/rebase.h): the orders of
 * open erasure requests that entity has not answered at all (status
 * "sent": sealed before the rebase, stale at its agent) are sealed again;
 * *n gets how many requests. */
int nv_gdpr_resend_unanswered(struct nv_hub *h, const char *entity, size_t *n)
    __attribute__((warn_unused_result));
int nv_gdpr_retry(struct nv_hub *h, const char *id, const char *entity, size_t *n)
    __attribute__((warn_unused_result));
/* gdpr close: an open or ambiguous request closed with the DPO's reason
 * (status "closed", {"closed":{"at","reason"}}, record keys dropped). */
int nv_gdpr_close(struct nv_hub *h, const char *id, const char *reason)
    __attribute__((warn_unused_result));
/* What an open request waits for: "failed", "nothing-sent" or
 * "handed-off" when one of its entities is so, else "answers"; another
 * request's status. */
const char *nv_gdpr_waiting_on(json_t *req);
/* The register's figures for status --json: {"open":N,"open_by_kind":{},
 * "open_by_status":{},"late":N,"overdue":N,"nearest_deadline":DAY|null}. */
json_t *nv_gdpr_counts(MDB_txn *txn, const struct nv_gdpr_db *db, int64_t now);
/* Marketing selection, per person across entities: a person (RCU) is in
 * when one of its records has an explicit yes (consent 1 under its
 * mapping) and none refuses (consent 0), and the person neither restricted
 * processing nor objected (flags, or an objection kept as a keyed hash)
 * nor was erased (suppressed).  *people: {RCU: store key of the record
 * with the yes}; *left_out: {"refused"|"restricted-or-objected"|
 * "suppressed"|"no-explicit-yes": people}.  New references. */
int nv_gdpr_marketing(struct nv_hub *h, MDB_txn *txn, json_t **people, json_t **left_out)
    __attribute__((warn_unused_result));

#endif
