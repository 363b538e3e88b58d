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
 *             "not_normalised":N,
 *             "applied":"<time>"}: what each applied bundle did
 *   columns   "<entity>\0<column>" -> "": every column the entity has sent
 *   receipts  "<entity>\0<order>\0<key>" -> {"outcome":...,"reason":...,
 *             "seq":N}: the agents' answers to erasure orders
 *   meta      "replay:<entity>" -> "": a replay in progress (redone at open)
 */
#ifndef NOVA_HUB_STORE_H
#define NOVA_HUB_STORE_H

#include <lmdb.h>

#include "../../formats/buf.h"
#include "../../formats/stream.h"
#include "../gdpr/gdpr.h"
#include "../golden/golden.h"

/* The matching databases (hub/link.h). */
struct nv_link_db {
    MDB_dbi mrec, links, blocks, rcus, alias, review, revby, decide, tf, meta, ident;
};

struct nv_hstore {
    MDB_env *env;
    MDB_dbi streams, bundles, records, receipts, rejects, unnorm, bstats, columns, meta;
    struct nv_link_db link;
    struct nv_gdpr_db gdpr;
    struct nv_golden_db golden;
};

struct nv_apply_stats {
    uint64_t upserts, deletes, acks, rejected, unmapped;
    uint64_t unnormalised; /* values that did not parse, left out (mapping.h) */
    uint64_t linked, review, new_rcus, merged; /* matching (hub/link.h) */
    uint64_t rcus_touched;
    uint64_t suppressed; /* records of erased people, dropped (gdpr.h) */
    uint64_t updates;    /* update records queued for other entities (golden.h) */
};

struct nv_mapping;
struct nv_rec;
struct nv_link_set;
struct nv_norm_values;

/* How a bundle's records are applied: with the entity's current mapping
 * (NULL: stored unmapped, to be mapped by a replay once one is set). */
struct nv_apply_ctx {
    const struct nv_mapping *map;
    const char *map_commit; /* 40 hex, or NULL without a mapping */
    char **cols;            /* columns seen in this bundle */
    size_t ncols, capcols;
    struct nv_buf cb, xb, vb; /* scratch: common, extension, stored value */
    struct nv_buf scratch, raw;
    struct nv_rec *rec;
    struct nv_link_set *links; /* the records to resolve (NULL: none) */
    struct nv_norm_values *nv;
    const uint8_t *gkey;       /* the suppression list (gdpr.h) */
    const struct nv_gdpr_db *gdb;
    json_t *suppressed;        /* [[source, key], ...] dropped as erased */
    json_t *prev;              /* versions the bundle overwrote (golden.h), or NULL */
};
void nv_apply_ctx_release(struct nv_apply_ctx *a);

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
/* Apply the change records (or acks) of one payload file of bundle m in
 * txn, through a->map.  A line that is not a valid record, or a record that
 * cannot be mapped, is counted in st->rejected, recorded in rejects with its
 * reason (never quoting values) and skipped; the rest applies.  A value
 * that does not parse (a date, a phone...) does not reject its record: it
 * is left out of the common fields, counted in st->unnormalised and its
 * reason recorded in unnorm.  Errors: store or I/O only. */
int nv_hstore_apply_file(MDB_txn *txn, const struct nv_hstore *s,
                         const struct nv_manifest *m, const char *path,
                         struct nv_apply_ctx *a, struct nv_apply_stats *st)
    __attribute__((warn_unused_result));
/* After the files of bundle m: its statistics and the columns it used. */
int nv_hstore_bundle_done(MDB_txn *txn, const struct nv_hstore *s,
                          const struct nv_manifest *m, struct nv_apply_ctx *a,
                          const struct nv_apply_stats *st)
    __attribute__((warn_unused_result));
/* Every column entity has sent (sorted; free each and the array). */
int nv_hstore_columns(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                      char ***names, size_t *n) __attribute__((warn_unused_result));
/* Delete every record, reject and unnorm entry of entity (a replay starts
 * with this). */
int nv_hstore_drop_entity(MDB_txn *txn, const struct nv_hstore *s,
                          const char *entity) __attribute__((warn_unused_result));
int nv_hmdb_fail(int rc, const char *what);
/* Split a record key "entity\0source\0key" of len bytes, followed by a NUL
 * (k[len] == '\0'), into its three parts (pointers into k).  -1 when it has
 * not three parts. */
int nv_hstore_key_split(const char *k, size_t len, const char **entity, const char **source,
                        const char **key);

/* Drop this process's mappings of the store's pages (they stay in the page
 * cache; the map is read-only, written through write()).  Reading and
 * writing hundreds of thousands of records touches gigabytes of the map,
 * which would otherwise count in the hub's resident memory. */
void nv_hstore_unmap(MDB_txn *txn);

#endif
