/*
 * link.h - identity resolution at the hub: every mapped source record gets
 * one customer ID (RCU), incrementally, in the same LMDB write transaction
 * as the bundle that brought the record (hub/match.h does the comparing).
 *
 * Per bundle: the records it changed are taken out of their clusters, put
 * back in the blocking index, and resolved together with the stored records
 * that share a blocking key with them and with every member of those
 * records' clusters (match_batch: EM-fitted Fellegi-Sunter weights, term
 * frequencies counted over the whole store, clustering that does not chain
 * through one weak link).  Clusters then take RCUs: a cluster keeps the RCU
 * most of its members had; an RCU whose members all joined another cluster
 * becomes an alias of that cluster's RCU (a merge: the old ID still
 * resolves); a cluster whose RCU was taken by a bigger part gets a new one
 * (a split).  RCUs are opaque ("R" and 12 base32 characters, random) and
 * never reused.  Pairs scoring between the review and link thresholds go to
 * the review queue; the team's decisions are kept, applied to the clusters
 * (an accepted pair is merged, a rejected pair never linked again) and
 * used as labels that refine the weights.
 *
 * Store (named LMDB databases, beside store.h's):
 *   mrec     rid (8 bytes, big-endian) -> record key length (2 bytes) +
 *            record key + the 14 match values, each NUL-terminated
 *   links    record key -> struct nv_link_val (binary, 32 bytes)
 *   rcus     RCU -> member rids (sorted duplicates)
 *   alias    RCU -> the RCU it was merged into
 *   review   rid a + rid b (a < b) -> {"score":S,"cmp":C,"since":T}
 *   revby    rid -> the rids it has open review pairs with (duplicates)
 *   decide   rid a + rid b -> {"decision":"accept"|"reject","by":..,"at":..}
 *   tf       field (1 byte) + value hash (8) -> count (8 bytes)
 *   ident    hash of an e-mail or phone (8 bytes) -> rids (duplicates)
 *   lkre     RCU + NUL + entity -> links of that RCU in that entity (8 bytes)
 *   lkrcu    RCU -> its links and its entities (two 8-byte counts)
 *   lkcnt    "multi" (RCUs in several entities), "dups" (RCUs with two
 *            records in one entity), "review" (links in review) -> count:
 *            the matching figures of `status`, kept by every writer of
 *            links (nv_link_tally), counted once when a store without
 *            them is opened
 *   linkmeta "model" (match model text), "rid" (next rid), "tf:<f>" and
 *            "tfsq:<f>" (per-field totals), "rcu" (RCUs issued), "cache"
 *            (the token of the process whose memory is current, below),
 *            "em_records", "em_ent:<entity>", "frozen" (the fits)
 * None of it holds a value in clear but mrec (normalised match values,
 * erased with the record).  A store written before blocking moved into
 * memory also had "blocks": nv_link_open deletes it (the one migration).
 *
 * In memory, per process: every stored record prepared for comparison, its
 * link, the members of each RCU and the blocking keys (hashes), built from
 * mrec and links by the first bundle and kept up to date by the next ones.
 * linkmeta "cache" holds a random token that the process writes with each
 * bundle; when the stored token is another (a review decision, another
 * process, an aborted transaction) the memory is rebuilt.  A bundle
 * compares the pairs that involve its records or the clusters they were in
 * (and the pairs within each stored cluster it meets); two stored records
 * of different clusters were weighed when they came.
 */
#ifndef NOVA_LINK_H
#define NOVA_LINK_H

#include <stdint.h>

#include <lmdb.h>

#include "../../formats/buf.h"
#include "../lib/hmap.h"
#include "../match/match.h"
#include "../store/store.h"

#define NV_RCU_LEN 13 /* "R" + 12 base32 characters */

enum nv_link_status { NV_LINK_NEW = 0, NV_LINK_LINKED = 1, NV_LINK_REVIEW = 2 };

struct nv_link_val {
    uint64_t rid;
    char rcu[16];  /* NUL-terminated */
    uint8_t status; /* enum nv_link_status */
    uint8_t pad[3];
    float score;   /* best link score, bits (0 for new) */
};

/* The matching databases in the store (see above; meta is linkmeta). */
struct nv_link_db {
    MDB_dbi mrec, links, rcus, alias, review, revby, decide, tf, meta, ident;
    MDB_dbi lkre, lkrcu, lkcnt; /* the status counters (above) */
    /* the store whose change log (store.h) a link written or an RCU's
     * membership changed is stamped in; NULL: none */
    const struct nv_hstore *store;
};
/* Open them, creating them, in txn (an nv_hstore_open_fn: db is a struct
 * nv_link_db), and migrate an older store (blocks). */
int nv_link_open(MDB_txn *txn, void *db) __attribute__((warn_unused_result));
/* Keep the matching counters (lkre, lkrcu, lkcnt) true across one change of
 * the link of key (keylen bytes): old before (NULL: none), nw after (NULL:
 * deleted).  Called by each writer of links, in its transaction. */
int nv_link_tally(MDB_txn *txn, const struct nv_link_db *db, const char *key, size_t keylen,
                  const struct nv_link_val *old, const struct nv_link_val *nw)
    __attribute__((warn_unused_result));
/* The same for many links, deferred: the changes of each (RCU, entity) add
 * up in memory and nv_link_tally_flush writes each RCU's counters once, in
 * key order, in txn (before it commits; release after, or after an abort).
 * The counters come out as nv_link_tally would leave them. */
struct nv_link_tally_batch {
    struct nv_hmap m;               /* (RCU, entity) -> links added less taken */
    char ent[32][NV_NAME_MAX + 1];  /* entity names (past 32: tallied at once) */
    size_t nent;
    int64_t review;
};
void nv_link_tally_batch_init(struct nv_link_tally_batch *b);
void nv_link_tally_batch_release(struct nv_link_tally_batch *b);
int nv_link_tally_defer(MDB_txn *txn, const struct nv_link_db *db,
                        struct nv_link_tally_batch *b, const char *key, size_t keylen,
                        const struct nv_link_val *old, const struct nv_link_val *nw)
    __attribute__((warn_unused_result));
int nv_link_tally_flush(MDB_txn *txn, const struct nv_link_db *db,
                        struct nv_link_tally_batch *b) __attribute__((warn_unused_result));
/* Count them afresh from the links (nv_link_open, for a store without
 * them). */
int nv_link_tally_recount(MDB_txn *txn, const struct nv_link_db *db)
    __attribute__((warn_unused_result));
/* The matching counters into *records (links), *people (RCUs), *multi,
 * *dups, *dup_records and *review, as status reports them. */
int nv_link_tally_read(MDB_txn *txn, const struct nv_link_db *db, uint64_t *records,
                       uint64_t *people, uint64_t *multi, uint64_t *dups,
                       uint64_t *dup_records, uint64_t *review)
    __attribute__((warn_unused_result));

/* The records a bundle changed, in order; a key given twice keeps its last
 * version. */
struct nv_link_item {
    char *key;     /* record key "entity\0source\0key", owned */
    size_t keylen;
    int deleted;
    struct nv_buf person; /* mrec values (nv_link_set_add), empty if deleted */
    char old_rcu[16];     /* its RCU before this bundle (set while resolving) */
    uint64_t rid;         /* set while resolving */
    int skip;             /* a later item has the same key */
};

struct nv_link_set {
    struct nv_link_item *v;
    size_t n, cap;
    int stamped; /* its writer (apply) stamped each record in the change log
                    (store.h): their links, when written, are not stamped
                    again */
};

void nv_link_set_release(struct nv_link_set *s);
/* Add one change: person (may be NULL for a delete) is the 14 values in
 * match order (first, last, birth name, 3 e-mails, 3 phones, postcode,
 * city, street, birth date, national id), NULL for missing. */
int nv_link_set_add(struct nv_link_set *s, const char *key, size_t keylen,
                    const char *const person[14]) __attribute__((warn_unused_result));

struct nv_link_stats {
    uint64_t records;   /* records resolved in this bundle */
    uint64_t compared;  /* candidate records loaded from the store */
    uint64_t linked;    /* of records, in a cluster of two or more */
    uint64_t review;    /* review pairs opened */
    uint64_t new_rcus, merged, split;
    int em_fitted;
};

/* Every record the store has resolved into set, with the match values it
 * was resolved on, as if each had been sent again: nv_link_bundle over set
 * then re-resolves the whole store under the model and the decisions in
 * force (nova-hub relink). */
int nv_link_all(MDB_txn *txn, const struct nv_link_db *db, struct nv_link_set *set)
    __attribute__((warn_unused_result));

/* Resolve the records of set in txn (see the top of this file). */
int nv_link_bundle(MDB_txn *txn, const struct nv_link_db *db, struct nv_link_set *set,
                   struct nv_link_stats *st) __attribute__((warn_unused_result));

/* The RCU a record is in (following no alias: links always hold the live
 * RCU); NV_ENOTFOUND when not linked. */
int nv_link_get(MDB_txn *txn, const struct nv_link_db *db, const char *key,
                size_t keylen, struct nv_link_val *out) __attribute__((warn_unused_result));
/* The records of a live RCU: fn(ctx, rid, record key) for each, in rid
 * order (fn may write to the store); stops at fn's first error. */
int nv_link_members(MDB_txn *txn, const struct nv_link_db *db, const char *rcu,
                    int (*fn)(void *ctx, uint64_t rid, const char *key, size_t keylen),
                    void *ctx) __attribute__((warn_unused_result));
/* The live RCU of what: an RCU (through aliases) or ENTITY:KEY (a record
 * key of the entity, whatever its source).  rcu: NV_RCU_LEN + 1 bytes. */
int nv_link_subject(MDB_txn *txn, const struct nv_link_db *db, const char *what,
                    char *rcu) __attribute__((warn_unused_result));
/* The same for ENTITY:KEY only, with the record's rid in *rid. */
int nv_link_subject_rid(MDB_txn *txn, const struct nv_link_db *db, const char *what,
                        char *rcu, uint64_t *rid) __attribute__((warn_unused_result));
/* Resolve an RCU through aliases to the live one (out: NV_RCU_LEN + 1). */
int nv_link_resolve(MDB_txn *txn, const struct nv_link_db *db, const char *rcu,
                    char *out) __attribute__((warn_unused_result));

/* An open review pair and what deciding it is worth: p the chance it is
 * one person (from its score), moves the records a decision moves (the
 * smaller of the two clusters), value = p (1 - p) moves. */
struct nv_review_item {
    uint64_t a, b;
    double score, p, value;
    uint32_t moves;
};
/* The open review pairs, most valuable decision first (value, then the
 * pair ids): a team answering the first ones gains the most.  *out (free
 * it) gets n items. */
int nv_link_review_queue(MDB_txn *txn, const struct nv_link_db *db,
                         struct nv_review_item **out, size_t *n)
    __attribute__((warn_unused_result));

/* The model in store (or the defaults) into mo. */
int nv_link_model(MDB_txn *txn, const struct nv_link_db *db, struct match_model *mo)
    __attribute__((warn_unused_result));
int nv_link_model_save(MDB_txn *txn, const struct nv_link_db *db,
                       const struct match_model *mo) __attribute__((warn_unused_result));

/* Load the match record of rid (with term frequencies from the store) and
 * its record key (appended to key). */
int nv_link_load(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid,
                 struct match_rec *r, struct nv_buf *key) __attribute__((warn_unused_result));

/* The records holding an identifier: kind 'e' (a normalised e-mail) or 'p'
 * (a phone in E.164).  *rids (free it) gets n rids. */
int nv_link_ident(MDB_txn *txn, const struct nv_link_db *db, char kind, const char *value,
                  uint64_t **rids, size_t *n) __attribute__((warn_unused_result));
uint64_t nv_link_ident_hash(char kind, const char *value);

/* Review decisions: accept merges the two records' clusters, reject keeps
 * them apart for good; both are kept as labels (the model learns them) and
 * close the review pair. by names who decided. */
int nv_link_decide(MDB_txn *txn, const struct nv_link_db *db, uint64_t a, uint64_t b,
                   int accept, const char *by) __attribute__((warn_unused_result));

/* Refit the model by EM over a sample of up to max_records stored records
 * (and every labelled decision). */
/* What an explicit learn found (nv_link_learn with a report). */
struct nv_learn_report {
    size_t decisions;       /* the team's decisions used as labels */
    size_t folds;           /* cross-validation folds (0: too few decisions) */
    size_t agree_new;       /* decisions the new weights agree with, each
                               judged by weights fitted without it */
    size_t agree_old;       /* decisions the weights in force agree with */
    int kept_old;           /* 1: the new weights agreed less: not saved */
    struct match_model nolabels; /* the same fit without labels: what the
                                    labels changed is new - nolabels */
};
int nv_link_learn(MDB_txn *txn, const struct nv_link_db *db, size_t max_records,
                  struct match_model *out, struct nv_learn_report *report)
    __attribute__((warn_unused_result));

/* When the weights were fitted: *fitted the store's records at the last
 * fit (0: never, the generic weights), *frozen 1 if frozen, *records the
 * store's records now.  The next automatic fit comes when records reach
 * 2 * fitted (at least NV_LINK_FIT_MIN), or with the first records of an
 * entity no fit has seen, unless frozen. */
#define NV_LINK_FIT_MIN 200
int nv_link_fit_state(MDB_txn *txn, const struct nv_link_db *db, uint64_t *fitted,
                      uint64_t *frozen, uint64_t *records) __attribute__((warn_unused_result));

/* Freeze the weights (no automatic refit; `learn` still refits) or not. */
int nv_link_freeze(MDB_txn *txn, const struct nv_link_db *db, int frozen)
    __attribute__((warn_unused_result));

#endif
