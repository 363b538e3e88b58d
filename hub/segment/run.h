/*
 * run.h - segments against the hub's store: load one from the mapping
 * repository, check it against the mappings, and select its people in one
 * pass over the records, leaving out everyone a campaign must not reach.
 *
 * A person (RCU) reached by a segment is left out, and counted under the
 * first reason that applies:
 *   suppressed   one of their e-mails, phones or record keys is on the
 *                suppression list (an erasure)
 *   restricted   a restriction of processing (GDPR Art. 18) on the RCU
 *   objected     an objection (Art. 21): a flag on the RCU, or one of their
 *                e-mails or phones among the objections' keyed hashes
 *   refused      a record of theirs says no to marketing (consent 0)
 *   no_consent   no record says yes (consent 1): consent must be explicit
 */
#ifndef NOVA_SEGMENT_RUN_H
#define NOVA_SEGMENT_RUN_H

#include <stdint.h>

#include <jansson.h>

#include "segment.h"

struct nv_hub;

#define NV_SEGMENT_FILE_PREFIX ":" /* maprepo name: ":<name>.segment" */

/* The text of segment name at rev (NULL: the tip) into text, its commit. */
struct nv_buf;
int nv_segment_get(struct nv_hub *h, const char *name, const char *rev, struct nv_buf *text,
                   char commit[41]) __attribute__((warn_unused_result));
/* The maprepo name of segment name (":<name>.segment"), into out. */
void nv_segment_repo_name(const char *name, char *out, size_t n);

/* Check s against the entities' current mappings (nv_segment_check). */
int nv_segment_check_hub(struct nv_hub *h, const struct nv_segment *s)
    __attribute__((warn_unused_result));

struct nv_segment_stats {
    uint64_t records;     /* records scanned */
    uint64_t parsed;      /* of them, read as JSON (an entity the segment names) */
    uint64_t people;      /* people seen */
    uint64_t selected;    /* people the conditions select */
    uint64_t kept;        /* of them, reachable */
    uint64_t suppressed, restricted, objected, refused, no_consent;
    double seconds;       /* the pass over the records */
    double total_seconds;
};

/* The people of segment s (bound with nv_segment_bind): one pass over the
 * records, then, for each person selected, their flags, consent and
 * suppression.  emit (may be NULL: count only) gets each person kept, in
 * RCU order, with their golden record (nv_golden_show's document). */
int nv_segment_select(struct nv_hub *h, const struct nv_segment *s,
                      int (*emit)(void *ctx, const char *rcu, json_t *golden), void *ctx,
                      struct nv_segment_stats *st) __attribute__((warn_unused_result));

#endif
