/*
 * scan.h - turning CRM export files into change records.
 *
 * For each source, the export files matching its pattern are read in order
 * of modification time (a file changed less than `settle` ago is left for
 * later: it may still be being written; one whose last line has no line end
 * waits `incomplete_wait`, then that line is rejected).  A file already
 * processed (same size, mtime and inode) is skipped.  A symbolic link to a
 * regular file inside the source directory is read; other links, FIFOs,
 * devices and directories are skipped with a log line.  A file that cannot
 * be opened (permissions, removed after the listing) is skipped with a log
 * line, counted, and tried again next pass; the other files and sources go
 * on.  With `snapshot = multi` (full mode), the files whose modification
 * times lie within `snapshot_window` seconds of each other are one export
 * run, read together as one snapshot.  Each row's record key and fingerprint
 * (BLAKE2b-128 of its columns, by column name, so a reordered export is not
 * a change) are compared with the fingerprint last shipped:
 *   - new or changed rows become upserts;
 *   - in a full export, known records absent from the snapshot become
 *     deletes; they are withheld when the snapshot may not be whole (a file
 *     of the source could not be read, rows were rejected, no row at all,
 *     fewer files than snapshot_parts) or when they exceed max_delete_share
 *     of the known records or max_delete_count; withheld deletes are
 *     reported, kept in the state store and shipped only by accept-deletes
 *     (the source's next whole snapshot replaces them);
 *   - a delta export gives upserts only.
 * After a rebase order (inbox.h), the next pass is a full snapshot: the
 * fingerprints are gone, so the newest export (run) of each source is read
 * again and every row ships as an upsert; older exports are taken for
 * read; each part says "snapshot: yes" and the final one holds
 * snapshot.json: {"epoch":E,"base":S,"sources":{NAME:"whole" or why not}}.
 * A full source is whole when its newest export read entirely (no file
 * unreadable, no row rejected, not empty, no part missing); the hub deletes
 * the records of whole sources that the snapshot lacks.  A source whose
 * newest export has not settled yet keeps the snapshot pending: the next
 * pass is a snapshot again (what it ships also has a seq above the base).
 * Rejected rows (and rejected files) are listed in a reject report
 * (rejects.ndjson in the bundle, counted in the manifest): source, file,
 * line and reason, never the row itself.
 */
#ifndef NOVA_SCAN_H
#define NOVA_SCAN_H

#include <stdio.h>

#include "agent.h"

struct nv_scan_stats {
    uint64_t files, skipped, waiting, rows, upserts, deletes, unchanged,
        rejects, withheld;
    uint64_t unreadable; /* files that could not be opened (skipped) */
    uint64_t ignored;    /* matching entries that are not files to read */
    uint64_t released;   /* withheld deletes shipped by accept-deletes */
    uint64_t bytes;
    unsigned bundles;
    uint64_t files_rejected; /* export files rejected whole */
    int file_reject_code;    /* the first one's code (the pass fails) */
    int snapshot;            /* the pass shipped a full snapshot (rebase) */
};

/* One pass over every source; all changes go out as one change set. */
int nv_scan(struct nv_agent *a, struct nv_scan_stats *stats)
    __attribute__((warn_unused_result));

/* Ship the withheld deletes of source (NULL: every source), once. */
int nv_scan_accept(struct nv_agent *a, const char *source, struct nv_scan_stats *stats)
    __attribute__((warn_unused_result));
/* Leave a request (DIR/accept-deletes.request) that the agent holding the
 * lock applies at the start of its next pass. */
int nv_scan_request_accept(const char *dir, const char *source)
    __attribute__((warn_unused_result));

struct nv_withheld {
    uint64_t count; /* 0: none */
    char when[21], file[256], reason[300];
};
/* The withheld deletes of a source. */
int nv_scan_withheld(struct nv_agent *a, const char *source, struct nv_withheld *w)
    __attribute__((warn_unused_result));

/* nova-agent check: the newest export file of s (its name in newest, ""
 * when there is none yet) read with the source's dialect, its header
 * holding the key column(s).  Each problem printed to f; their number. */
int nv_scan_check_source(const struct nv_source *s, FILE *f, char *newest, size_t nnewest);

#endif
