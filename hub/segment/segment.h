/*
 * segment.h - marketing segments: which people (RCUs) a campaign reaches,
 * by conditions on their records in any entity.
 *
 * A segment is a UTF-8 text file, versioned in the mapping repository
 * (hub/store/maprepo.h) as "<name>.segment", like mappings and the
 * survivorship rules.  The first line is "nova-segment 1"; the rest is one
 * condition, over as many lines as it likes ('#' starts a comment).  Example
 * (readers of a MediaPulse title who came to an EventClick event in the last
 * six months):
 *
 *   nova-segment 1
 *   mediapulse.publication is not empty
 *   and eventclick.event_date within last 6 months
 *
 * Conditions on one person:
 *
 *   ENTITY has a record                     the entity holds a record of them
 *   ENTITY has at least N records           N or more
 *   ENTITY has a record where (RECORD-CONDITION)
 *   ENTITY has at least N records where (RECORD-CONDITION)
 *   ENTITY.FIELD PREDICATE                  = ENTITY has a record where
 *                                             (FIELD PREDICATE)
 *   *.FIELD PREDICATE                       a record in any entity
 *   C and C, C or C, not C, ( C )           "and" binds tighter than "or"
 *
 * A record condition is FIELD PREDICATE, combined the same way, all on one
 * record.  FIELD is a common field (first_name ... updated_at, consent) or
 * an extension field of the entity's mapping ([a-z0-9_]).  ENTITY is an
 * entity name (split from FIELD at the last '.').  PREDICATE:
 *
 *   = VALUE                   equals (names and text compared folded: case,
 *                             accents; e-mails, phones, dates, numbers
 *                             compared normalised)
 *   in (VALUE, VALUE...)      is one of
 *   starts with VALUE         a prefix (folded like =)
 *   is empty, is not empty    the record has no value / has one
 *   within last N days|months a date between N days or calendar months
 *                             before today and today ("last" optional)
 *   between DATE and DATE     a date in that range, both included
 *
 * VALUE is a word or a double-quoted text ("" inside for one quote); DATE
 * is YYYY-MM-DD.  A common field's value is normalised as ingest does (a
 * value that cannot be one, "31/02/1990" for birth_date, is refused).
 */
#ifndef NOVA_SEGMENT_H
#define NOVA_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define NV_SEGMENT_MAX_TEXT (64u * 1024)
#define NV_SEGMENT_MAX_LEAVES 64   /* person conditions (ENTITY has ...) */
#define NV_SEGMENT_MAX_DEPTH 48
#define NV_SEGMENT_NAME_MAX 48

enum nv_seg_kind { NV_SEG_AND, NV_SEG_OR, NV_SEG_NOT, NV_SEG_HAS, NV_SEG_PRED };
enum nv_seg_op {
    NV_SEG_EQ,        /* = and in (...) */
    NV_SEG_PREFIX,
    NV_SEG_EMPTY,
    NV_SEG_NOTEMPTY,
    NV_SEG_WITHIN_DAYS,
    NV_SEG_WITHIN_MONTHS,
    NV_SEG_BETWEEN
};

struct nv_seg_node {
    int kind;   /* enum nv_seg_kind */
    int line;   /* where it starts */
    struct nv_seg_node *a, *b; /* and/or: both; not: a */
    /* NV_SEG_HAS: a person condition */
    char *entity;              /* NULL: any entity */
    unsigned min;              /* at least this many records */
    struct nv_seg_node *where; /* record condition, or NULL */
    int leaf;                  /* index in struct nv_segment's leaves */
    /* NV_SEG_PRED: a record condition */
    char *field;
    int common;                /* NV_F_* or -1: an extension field */
    int op;                    /* enum nv_seg_op */
    char **vals;               /* canonical forms (nv_segment_canon) */
    size_t nvals;
    unsigned n;                /* within N */
    char from[11], to[11];     /* dates, YYYY-MM-DD (within: set by bind) */
};

struct nv_segment {
    struct nv_seg_node *root;
    struct nv_seg_node *leaves[NV_SEGMENT_MAX_LEAVES];
    size_t nleaves;
};

/* Strict parse: NV_EFORMAT "segment line N: reason" on the first problem. */
int nv_segment_parse(const char *text, size_t len, struct nv_segment *out)
    __attribute__((warn_unused_result));
void nv_segment_release(struct nv_segment *s);

/* 1 when name is a valid segment name: 1-48 of a-z, 0-9, _ and -, starting
 * with a letter or digit. */
int nv_segment_name_valid(const char *name);

/* Check the segment against the mappings: type(ctx, entity, field) gives
 * the field's type in entity's mapping (an enum nv_ext_type: common fields
 * as text, or date for birth_date, created_at and updated_at), -1 when the
 * mapping has no such field, -2 when the entity has no mapping (entity
 * NULL: any entity has it).  NV_EFORMAT "segment line N: reason": an
 * unknown entity or field, a date condition on a field that is not a
 * date. */
int nv_segment_check(const struct nv_segment *s,
                     int (*type)(void *ctx, const char *entity, const char *field),
                     void *ctx) __attribute__((warn_unused_result));

/* Fix "today" for the within conditions (now: Unix time, NOVA_NOW in
 * tests through nv_now). */
void nv_segment_bind(struct nv_segment *s, int64_t now);

/* The canonical form values of a field are compared in, for extension
 * fields and free text: a date (ISO), a number ("%.15g"), yes/no ("1",
 * "0"), else the text folded (case, accents, blanks).  Appended to out (a
 * NUL ends it). */
struct nv_buf;
int nv_segment_canon(const char *in, size_t len, struct nv_buf *out)
    __attribute__((warn_unused_result));

/* Does one stored record (its JSON: "c" common fields, "x" extension
 * fields) of entity satisfy leaf's record condition (and entity)? */
int nv_segment_record_matches(const struct nv_seg_node *leaf, const char *entity,
                              json_t *rec, struct nv_buf *scratch);

/* Is the person selected, given for each leaf the number of their records
 * that satisfy it (counts[nleaves])? */
int nv_segment_person(const struct nv_segment *s, const uint32_t *counts);

#endif
