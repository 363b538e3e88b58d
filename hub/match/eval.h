/*
 * eval.h - pairwise quality of the hub's matching against a known truth
 * (issue 5: tests/gen/gencrm writes the truth of the exports it generates).
 *
 * Every source record is identified by (entity, source_key).  The hub puts
 * records in clusters (one RCU each); the truth puts them in persons.  Over
 * the records present on both sides:
 *   predicted pairs = pairs of records that share an RCU
 *   true pairs      = pairs of records that share a person
 *   correct pairs   = pairs that share both
 *   precision = correct / predicted,  recall = correct / true,
 *   F1 = 2 * precision * recall / (precision + recall).
 * Pairs are counted per group, never enumerated: a group of n records holds
 * n(n-1)/2 pairs, so correct = sum over (RCU, person) cells, predicted = sum
 * over RCUs, true = sum over persons.  Time and memory are linear in the
 * number of records.
 *
 * With no predicted pair, precision is 1 (no link is wrong); with no true
 * pair, recall is 1; F1 is 0 when precision + recall is 0.  A record whose
 * rcu_id is empty is a cluster of its own.  The review share is the part of
 * the records on both sides whose status is exactly "review" (their RCU, a
 * provisional one, still counts for the pairs).  Records on one side only
 * are counted apart and take no part in the pairs.
 *
 * Errors (no result is set): NV_EFORMAT for a record that appears twice on
 * one side, or an empty entity, source_key or person; NV_ETOOBIG over
 * NV_EVAL_MAX_RECORDS; NV_ENOMEM.  Messages name the line (files) or the
 * 1-based position (arrays), never a value.
 */
#ifndef NOVA_HUB_EVAL_H
#define NOVA_HUB_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "../../formats/buf.h"

/* Most records on one side. */
#define NV_EVAL_MAX_RECORDS ((size_t)1 << 31)

/* One record as the hub linked it.  All strings are borrowed by
 * nv_eval_compute for the call only; status may be NULL (not in review). */
struct nv_eval_link {
    const char *entity;
    const char *source_key;
    const char *rcu_id;
    const char *status;
};

/* One record and the person it belongs to. */
struct nv_eval_truth {
    const char *entity;
    const char *source_key;
    const char *person;
};

struct nv_eval_result {
    uint64_t records;         /* records on both sides */
    uint64_t links_only;      /* linked records absent from the truth */
    uint64_t truth_only;      /* records of the truth never linked */
    uint64_t rcus;            /* distinct RCUs among `records` */
    uint64_t persons;         /* distinct persons among `records` */
    uint64_t predicted_pairs;
    uint64_t true_pairs;
    uint64_t correct_pairs;
    uint64_t review;          /* of `records`, those with status "review" */
    double precision, recall, f1;
    double review_share;      /* review / records; 0 with no record */
};

/* Compute the metrics.  *out is written only on success. */
int nv_eval_compute(const struct nv_eval_link *links, size_t nlinks,
                    const struct nv_eval_truth *truth, size_t ntruth,
                    struct nv_eval_result *out)
    __attribute__((warn_unused_result));

/*
 * Read the links export and the truth, both CSV (UTF-8, ',' and RFC 4180
 * quotes, a header row naming the columns; other columns are ignored, in
 * any order):
 *   links_csv: entity,source_key,rcu_id,status
 *   truth_csv: entity,source_key,person
 * and compute the metrics.  Besides the errors above: NV_ENOTFOUND (no
 * such file, or an empty one), NV_EFORMAT for a missing column or a bad row
 * ("'PATH' line N: ..."), NV_ESYS.  *out is written only on success.
 */
int nv_eval_files(const char *links_csv, const char *truth_csv,
                  struct nv_eval_result *out)
    __attribute__((warn_unused_result));

/* Append r to out as text lines for people, or (json) as one JSON object
 * and a newline.  NV_ENOMEM or NV_ETOOBIG if out cannot grow. */
int nv_eval_format(const struct nv_eval_result *r, int json, struct nv_buf *out)
    __attribute__((warn_unused_result));

#endif
