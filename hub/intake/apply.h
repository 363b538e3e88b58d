/*
 * apply.h - applying one bundle's change records to the store: each line
 * parsed (hub/model/recparse.h), mapped and normalised through the entity's
 * mapping (hub/model/mapping.h), checked against the suppression list of
 * erased people (hub/gdpr/gdpr.h), written to the store's records, rejects
 * and unnorm databases, and queued for identity resolution
 * (hub/link/link.h).  The intake's part of "one write transaction per
 * bundle": the caller owns the transaction.
 */
#ifndef NOVA_HUB_APPLY_H
#define NOVA_HUB_APPLY_H

#include <jansson.h>

#include "../../formats/buf.h"
#include "../../formats/bundle.h"
#include "../store/store.h"

struct nv_mapping;
struct nv_rec;
struct nv_link_set;
struct nv_norm_values;
struct nv_gdpr_db;

struct nv_apply_stats {
    uint64_t upserts, deletes, acks, rejected, unmapped;
    uint64_t unnormalised; /* values that did not parse, left out (mapping.h) */
    uint64_t linked, review, new_rcus, merged; /* matching (hub/link.h) */
    uint64_t rcus_touched;
    uint64_t suppressed; /* records of erased people, dropped (gdpr.h) */
    uint64_t updates;    /* update records queued for other entities (golden.h) */
    /* what the payload holds, whatever became of it: checked against the
     * signed manifest's counts before the bundle's transaction commits */
    uint64_t lines, op_upserts, op_deletes;
    uint64_t reconciled; /* deletes of a snapshot's reconciliation (rebase) */
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
    uint64_t agent_rejects;    /* source rows the agent rejected (its manifest's
                                  rejects, or its rejects.ndjson's lines) */
    json_t *agent_reasons;     /* their reasons -> count, or NULL */
};
void nv_apply_ctx_release(struct nv_apply_ctx *a);

/* Apply the change records (or acks) of one payload file of bundle m in
 * txn, through a->map.  A line that is not a valid record, or a record that
 * cannot be mapped, is counted in st->rejected, recorded in rejects with its
 * reason (never quoting values) and skipped; the rest applies.  A value
 * that does not parse (a date, a phone...) does not reject its record: it
 * is left out of the common fields, counted in st->unnormalised and its
 * reason recorded in unnorm.  Errors: store or I/O only. */
int nv_apply_file(MDB_txn *txn, const struct nv_hstore *s,
                  const struct nv_manifest *m, const char *path,
                  struct nv_apply_ctx *a, struct nv_apply_stats *st)
    __attribute__((warn_unused_result));
/* After the files of bundle m: its statistics and the columns it used. */
int nv_apply_bundle_done(MDB_txn *txn, const struct nv_hstore *s,
                         const struct nv_manifest *m, struct nv_apply_ctx *a,
                         const struct nv_apply_stats *st)
    __attribute__((warn_unused_result));

/* A full snapshot (nova-hub rebase) of entity's source is applied: every
 * stored record of that source no bundle after base wrote (the snapshot
 * started at base + 1) is deleted, as a delete record would (its reject
 * and values left out too, the links told), and counted in st->deletes and
 * st->reconciled; a lone reject that old goes too.  A record the snapshot
 * held but whose new version was rejected is kept. */
int nv_apply_reconcile(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                       const char *source, uint64_t base, struct nv_apply_ctx *a,
                       struct nv_apply_stats *st) __attribute__((warn_unused_result));

#endif
