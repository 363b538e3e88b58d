/*
 * lake.h - the data-lake export: what changed since a cursor (the store's
 * change log, hub/store/store.h), as files a warehouse loader picks up.
 *
 * One export is one batch, a directory made whole and then renamed into
 * place (a loader never sees half of one):
 *
 *   OUT/<what>/batch=<FROM>-<TO>/                 FROM, TO: 20-digit cursors
 *       entity=<E>/part-00000.ndjson              records, links: by entity
 *       part-00000.ndjson                         golden
 *       schema.json                               BigQuery JSON schema
 *       manifest.json                             counts, bytes, SHA-256s
 *       SHA256SUMS                                the same, for sha256sum -c
 *
 * Each file is written to a temporary name, fsynced and renamed.  A row is
 * an item's state as of TO ("nova_op":"upsert") or its deletion
 * ("nova_op":"delete", a tombstone: the record id or RCU, never a key,
 * name or value); "nova_seq" orders them.  A full export (FROM 0) holds
 * every live item and no tombstone; applying every batch in cursor order
 * gives the same state as a full export at the last TO.
 */
#ifndef NOVA_EXPORT_LAKE_H
#define NOVA_EXPORT_LAKE_H

#include <limits.h>
#include <stdint.h>

struct nv_hub;

/* A cursor as printed by an export: decimal digits only.  NV_EFORMAT with
 * a message naming the text otherwise. */
int nv_lake_cursor(const char *text, uint64_t *out) __attribute__((warn_unused_result));

struct nv_lake_opts {
    const char *what; /* records, links or golden */
    const char *out;  /* the output directory (created) */
    int csv;          /* CSV instead of NDJSON */
    uint64_t since;   /* 0: a full export */
    uint64_t part_rows; /* rows per file before the next part (0: a default) */
};

struct nv_lake_result {
    uint64_t from, to;        /* changes after from, up to to: print to */
    uint64_t upserts, deletes;
    uint64_t changes;         /* change log entries read */
    unsigned files;
    char batch[PATH_MAX];     /* the batch directory; "" when nothing changed */
};

/* Write the batch of h's changes after o->since (every live item when 0).
 * A cursor past the change log's head is NV_ENOTFOUND; a batch of that
 * range already written is NV_EEXIST.  Nothing changed: no batch. */
int nv_lake_export(struct nv_hub *h, const struct nv_lake_opts *o, struct nv_lake_result *res)
    __attribute__((warn_unused_result));

#endif
