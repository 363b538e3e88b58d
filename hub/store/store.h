/*
 * store.h - the hub's store (LMDB in DIR/store).  One write transaction per
 * bundle: a bundle is applied entirely or not at all.
 *
 * Named databases:
 *   streams   "<sender>" -> stream state (stream.h storage form)
 *   bundles   "<sender>/<seq, 20 digits>" -> bundle id (32 bytes): every
 *             applied bundle, so a re-delivered one is recognised
 *   records   "<entity>\0<source>\0<key>" -> {"fields":{...},"seq":N,
 *             "map":"<commit>","c":{...},"o":{...},"x":{...}} (compact JSON,
 *             member names sorted): each source record as its entity last
 *             sent it (fields: the source columns), the bundle that brought
 *             it, and when the entity has a mapping, the mapping commit, the
 *             normalised common fields (c), their originals (o) and the
 *             extension fields (x) -- see hub/mapping.h
 *   rejects   "<entity>\0<source>\0<key>" -> {"seq":N,"line":L,"reason":...}:
 *             records whose latest version could not be mapped (the stored
 *             version, if any, is the one before); cleared when a later
 *             version applies.  A line that is not a change record at all is
 *             kept under the key "\x01<seq>:<line>".  Reasons never quote values.
 *   unnorm    "<entity>\0<source>\0<key>" -> {"seq":N,"line":L,"n":V,
 *             "reasons":[...]}: stored records of which V values did not
 *             parse (a date, a phone...) and were left out of the common
 *             fields (the source fields keep them as sent); cleared when a
 *             later version parses entirely.  Reasons never quote values.
 *   bstats    "<sender>/<seq, 20 digits>" -> {"map":"<commit>"|null,
 *             "upserts":N,"deletes":N,"acks":N,"rejected":N,"unmapped":N,
 *             "not_normalised":N,"columns":[the columns its records carried],
 *             "applied":"<time>"}: what each applied bundle did
 *   columns   "<entity>\0<column>" -> "": every column the entity has sent
 *   receipts  "<entity>\0<order>\0<key>" -> {"outcome":...,"reason":...,
 *             "seq":N}: the agents' answers to erasure orders
 *   meta      "replay:<entity>" -> "": a replay in progress (redone at open);
 *             "schema" -> the store's schema version (decimal text,
 *             nv_schema_migrate in agent/state.h)
 *             "rebase:<entity>" -> {"epoch":E,"base":S,"base_id":hex,
 *             "hub_seq":R,"bundle":name,"issued":time,"pending":bool,
 *             "ledgered":bool}: the entity's stream epoch, opened by the
 *             rebase order R (nova-hub rebase) at the entity's seq S;
 *             pending until its full snapshot is reconciled
 *   chgidx    kind + what -> change seq (8 bytes, big-endian): the change
 *             log the data-lake export reads (changes.c), one entry per
 *             item, its latest change.  Kinds: 'r' + record key (its record
 *             or its link changed), 'g' + RCU (its golden record changed),
 *             'x' + entity NUL source NUL record id (a record erased: its
 *             key is not kept).  meta "changes:head" -> the last seq given
 *             out (8 bytes, big-endian).  Schema 2 also kept the log in seq
 *             order ("changes"); schema 3 deleted it.
 *   tally     "<entity>\0<counter>" -> count (8 bytes, native order): what
 *             records, rejects and unnorm hold per entity, kept by every
 *             writer of those in its own transaction (nv_hstore_tally), so
 *             `status` reads counters instead of scanning.  Counters:
 *             "records", "mapped", "rejected", "unnorm_records",
 *             "unnorm_values", "r:<reason>" (rejects by reason),
 *             "u:<reason>" (values left out by reason); a counter at 0 is
 *             no entry.  Schema 2 counted them once for older stores.
 */
#ifndef NOVA_HUB_STORE_H
#define NOVA_HUB_STORE_H

#include <lmdb.h>

#include "../../agent/state.h"
#include "../../formats/buf.h"
#include "../../formats/stream.h"
#include <jansson.h>

/* A module above the store (link, gdpr, golden) opens its own databases
 * in the store's environment: open(txn, dbs) fills the module's handles. */
typedef int (*nv_hstore_open_fn)(MDB_txn *txn, void *dbs);
struct nv_hstore_module {
    nv_hstore_open_fn open;
    void *dbs;
};
#define NV_HSTORE_MODULES 8

struct nv_hstore {
    MDB_env *env;
    MDB_dbi streams, bundles, records, receipts, rejects, unnorm, bstats, columns, meta;
    MDB_dbi chgidx, tally;
    struct nv_hstore_module mod[NV_HSTORE_MODULES];
    size_t nmod;
    unsigned schema_was; /* the version found at open (0: not stamped) */
};

/* The layout of the hub's store that this program writes; its migrations
 * are in store.c (hstore_migrations), run at open before any module opens
 * its databases. */
#define NV_HSTORE_SCHEMA 3
/* What migration to version v does ("" when none such). */
const char *nv_hstore_migration(unsigned v);

/* The one registration point: before nv_hstore_open, each module above the
 * store says how to open its databases; the store calls it at open and at
 * every reopen (nv_hstore_compact).  The store knows nothing else of them. */
void nv_hstore_register(struct nv_hstore *s, nv_hstore_open_fn open, void *dbs);
int nv_hstore_open(struct nv_hstore *s, const char *dir)
    __attribute__((warn_unused_result));
void nv_hstore_close(struct nv_hstore *s);
/* Replace the store with a compacted copy (only live pages: what was
 * deleted is gone from the file), then reopen it. */
int nv_hstore_compact(struct nv_hstore *s, const char *dir)
    __attribute__((warn_unused_result));
int nv_hstore_stream_get(MDB_txn *txn, const struct nv_hstore *s,
                         const char *sender, struct nv_stream_state *out)
    __attribute__((warn_unused_result));
/* Record bundle (sender, m->seq, id) as applied and advance the stream. */
int nv_hstore_stream_advance(MDB_txn *txn, const struct nv_hstore *s,
                             const struct nv_manifest *m, const uint8_t id[32])
    __attribute__((warn_unused_result));
/* 1 if that exact bundle (sender, seq, id) was applied, else 0. */
int nv_hstore_bundle_applied(MDB_txn *txn, const struct nv_hstore *s,
                             const char *sender, uint64_t seq,
                             const uint8_t id[32]);
/* Every column entity has sent (sorted; free each and the array). */
int nv_hstore_columns(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                      char ***names, size_t *n) __attribute__((warn_unused_result));
/* Delete every record, reject and unnorm entry of entity (a replay starts
 * with this). */
int nv_hstore_drop_entity(MDB_txn *txn, const struct nv_hstore *s,
                          const char *entity) __attribute__((warn_unused_result));
int nv_hmdb_fail(int rc, const char *what);
/* Commit *txn, which is NULL after, committed or not (LMDB frees it
 * either way); nv_hmdb_fail's "cannot commit" when LMDB refuses. */
int nv_hmdb_commit(MDB_txn **txn) __attribute__((warn_unused_result));

/* Keep the tally (store.h) true across one change of key (klen bytes) in
 * dbi (records, rejects or unnorm; any other: nothing): old its value
 * before (NULL: none), nw after (NULL: deleted).  Call it before the put or
 * delete, in the same transaction.  Keys without an entity (no NUL) are not
 * counted. */
int nv_hstore_tally(MDB_txn *txn, const struct nv_hstore *s, MDB_dbi dbi, const void *key,
                    size_t klen, const MDB_val *old, const MDB_val *nw)
    __attribute__((warn_unused_result));
/* Put v under k in dbi, or delete k (v NULL; a missing key is not an
 * error), keeping the tally true. */
int nv_hstore_put_counted(MDB_txn *txn, const struct nv_hstore *s, MDB_dbi dbi,
                          const void *key, size_t klen, const MDB_val *v)
    __attribute__((warn_unused_result));
/* nv_hstore_put_json's put, counted. */
int nv_hstore_put_json_counted(MDB_txn *txn, const struct nv_hstore *s, MDB_dbi dbi,
                               const struct nv_buf *k, json_t *v)
    __attribute__((warn_unused_result));
/* Every counter of the tally counted afresh from what the store holds
 * (ctx: the struct nv_hstore; the schema 2 migration). */
int nv_hstore_tally_recount(MDB_txn *txn, void *ctx) __attribute__((warn_unused_result));

/* An entity's stream epoch (meta "rebase:<entity>"); epoch 0 when no
 * rebase was ever issued. */
struct nv_hrebase {
    uint64_t epoch;      /* the epoch the last rebase order opened */
    uint64_t base;       /* the entity's seq the hub held then */
    uint8_t base_id[32]; /* the id of that bundle (zero when base is 0) */
    uint64_t hub_seq;    /* the order's seq on the hub -> entity stream */
    char bundle[160];    /* its file name */
    char issued[21];
    int pending;         /* its full snapshot not reconciled yet */
    int ledgered;        /* recorded in the ledger */
    size_t resent;       /* nv_hub_rebase: erasure requests whose orders
                            went again (not stored) */
};
int nv_hstore_rebase_get(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                         struct nv_hrebase *out) __attribute__((warn_unused_result));
int nv_hstore_rebase_put(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                         const struct nv_hrebase *rb) __attribute__((warn_unused_result));
/* "<a>\0<b>\0<c>" into k; 0 or NV_ETOOBIG past LMDB's key limit. */
int nv_hstore_key3(struct nv_buf *k, const char *a, const char *b, const char *c)
    __attribute__((warn_unused_result));
/* v as compact JSON (members sorted) under k in dbi. */
int nv_hstore_put_json(MDB_txn *txn, MDB_dbi dbi, const struct nv_buf *k, json_t *v)
    __attribute__((warn_unused_result));
/* Delete k from dbi; a missing key is not an error. */
int nv_hstore_del(MDB_txn *txn, MDB_dbi dbi, const struct nv_buf *k)
    __attribute__((warn_unused_result));
/* The bundles and bstats key of (sender, seq): "<sender>/<seq, 20 digits>". */
void nv_hstore_bundle_key(char *out, size_t n, const char *sender, uint64_t seq);
/* Split a record key "entity\0source\0key" of len bytes, followed by a NUL
 * (k[len] == '\0'), into its three parts (pointers into k).  -1 when it has
 * not three parts. */
int nv_hstore_key_split(const char *k, size_t len, const char **entity, const char **source,
                        const char **key);

/* The change log (changes.c).  Every writer of what the data-lake export
 * reads stamps the item it changed, in its own write transaction:
 * NV_CHG_RECORD a record key "entity\0source\0key" (apply, replay, a
 * link written), NV_CHG_PERSON an RCU (a golden record that may have
 * changed: a member or flag changed, rules).  An item stamped twice in one
 * transaction keeps its first stamp (the export reads committed states). */
#define NV_CHG_RECORD 'r'
#define NV_CHG_PERSON 'g'
#define NV_CHG_ERASED 'x'
int nv_hstore_touch(MDB_txn *txn, const struct nv_hstore *s, char kind, const void *what,
                    size_t len) __attribute__((warn_unused_result));
/* A record erased at its person's request: its entry (and index) leave the
 * log, and an NV_CHG_ERASED entry "entity\0source\0<record id>" takes its
 * place, so the next export carries a tombstone without the record key.
 * key: the record key (len bytes); id: its record id (nv_gdpr_record_id). */
int nv_hstore_touch_erased(MDB_txn *txn, const struct nv_hstore *s, const char *key,
                           size_t len, const char *id) __attribute__((warn_unused_result));
/* Forget the stamp state of env's write transaction (its close: a new
 * environment may get the same address and transaction ids). */
void nv_hstore_change_forget(MDB_env *env);
/* Schema 3's migration (an nv_migration run, ctx the store): the
 * seq-ordered log of schema 2 ("changes") gives its last seq to the head
 * and is deleted. */
int nv_hstore_change_drop_log(MDB_txn *txn, void *ctx) __attribute__((warn_unused_result));
/* The last change seq committed in txn's view (0: none yet). */
int nv_hstore_change_head(MDB_txn *txn, const struct nv_hstore *s, uint64_t *head)
    __attribute__((warn_unused_result));
/* Each change after since, in order: fn(ctx, seq, kind, what, len); stops at
 * fn's first error (a negative NV_E code). */
int nv_hstore_changes(MDB_txn *txn, const struct nv_hstore *s, uint64_t since,
                      int (*fn)(void *ctx, uint64_t seq, char kind, const char *what,
                                size_t len),
                      void *ctx) __attribute__((warn_unused_result));

/* Drop this process's mappings of the store's pages (they stay in the page
 * cache; the map is read-only, written through write()).  Reading and
 * writing hundreds of thousands of records touches gigabytes of the map,
 * which would otherwise count in the hub's resident memory. */
void nv_hstore_unmap(MDB_txn *txn);
/* nv_hstore_unmap at the last of every n turns of a loop over many
 * records (i: the turn, from 0). */
void nv_hstore_unmap_every(MDB_txn *txn, size_t i, size_t n);

#endif
