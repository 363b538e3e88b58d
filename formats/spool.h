/*
 * spool.h - what the hub's inbox and the agent's inbox share: listing the
 * bundles of a directory in stream order, and staging a payload's files in
 * a directory until the bundle is known to be good.
 */
#ifndef NOVA_SPOOL_H
#define NOVA_SPOOL_H

#include <stdint.h>

#include "bundle.h"

struct nv_spool_entry {
    char *name;                       /* file name in the directory */
    char sender[NV_NAME_MAX + 1];     /* empty when unreadable */
    uint64_t seq;
};

/* The *.nova files of dir, ordered by sender then sequence number; files
 * whose manifest cannot be read come first (to be refused with their
 * reason).  Free with nv_spool_list_free. */
int nv_spool_list(const char *dir, uint64_t max_payload,
                  struct nv_spool_entry **out, size_t *n)
    __attribute__((warn_unused_result));
void nv_spool_list_free(struct nv_spool_entry *v, size_t n);

/* A bundle file refused with code that may still be being copied: a
 * refusal a copy cut short can cause (truncated, malformed, hash or payload
 * damage: a bundle that reads whole is complete) on a file modified less
 * than settle_ms ago.  *age_s (may be NULL) gets its age in seconds. */
#define NV_SPOOL_SETTLE_MS 10000
int nv_spool_arriving(const char *path, int code, long settle_ms, unsigned *age_s);
/* The settle time: NOVA_INBOX_SETTLE seconds, else NV_SPOOL_SETTLE_MS. */
long nv_spool_settle_ms(void);

/* A payload sink writing each payload file into dir (which must exist and
 * be empty), fsynced. */
struct nv_stage {
    const char *dir;
    int fd;
    uint64_t files, bytes;
};

void nv_stage_sink(struct nv_stage *s, const char *dir,
                   struct nv_payload_sink *sink);
/* Close a file left open by a failed payload. */
void nv_stage_abort(struct nv_stage *s);

#endif
