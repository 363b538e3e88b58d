/*
 * scan.h - turning CRM export files into change records.
 *
 * For each source, the export files matching its pattern are read in order
 * of modification time (a file changed less than `settle` ago is left for
 * later: it may still be being written).  A file already processed (same
 * size, mtime and inode) is skipped.  Each row's record key and fingerprint
 * (BLAKE2b-128 of its columns, by column name, so a reordered export is not
 * a change) are compared with the fingerprint last shipped:
 *   - new or changed rows become upserts;
 *   - in a full export, known records absent from the file become deletes;
 *     deletes are withheld when rows were rejected (their keys are unknown)
 *     or when they would remove more than half of the known records (a
 *     truncated export), and the withholding is reported;
 *   - a delta export gives upserts only.
 * Rejected rows (and rejected files) are listed in a reject report
 * (rejects.ndjson in the bundle, counted in the manifest): source, file,
 * line and reason, never the row itself.
 */
#ifndef NOVA_SCAN_H
#define NOVA_SCAN_H

#include "agent.h"

struct nv_scan_stats {
    uint64_t files, skipped, waiting, rows, upserts, deletes, unchanged,
        rejects, withheld;
    uint64_t bytes;
    unsigned bundles;
};

/* One pass over every source; all changes go out as one change set. */
int nv_scan(struct nv_agent *a, struct nv_scan_stats *stats)
    __attribute__((warn_unused_result));

#endif
