/*
 * rules.h - survivorship rules: which entity's value a golden record
 * (hub/golden.h) keeps, field by field.
 *
 * Survivorship rules: one text file, "survivorship.rules", in the mapping
 * repository (hub/maprepo.h), so it is versioned with the mappings.  One
 * directive per line, '#' starts a comment, tokens separated by blanks:
 *
 *   nova-survivorship 1
 *   priority *      groupe               # every field: groupe's value first
 *   priority email  acquis groupe        # e-mail: acquis, then groupe
 *   noupdate title                       # kept in the golden record, never sent
 *   update consent                       # consent changes are sent too
 *
 * For each field, the candidate values are those of the RCU's records that
 * have one; the value kept is the first by, in order:
 *   1. source priority: the entity's rank in the field's priority line (or,
 *      without one, in "priority *"); unlisted entities come after, equal;
 *   2. the most recent: when the record's value of that field last changed
 *      (the record's updated_at when it has one, else the bundle's time),
 *      tracked per field, so a record re-exported with one new value does
 *      not win the fields it did not change;
 *   3. the most complete: the record with the most common fields;
 *   4. then entity name and record key, so the choice is deterministic.
 * Without a rules file: no priorities, most recent then most complete.
 * Fields: every common field but created_at and updated_at.  Updates carry
 * first and last name, birth name, title, e-mail, phone, address, postal
 * code, city, country and birth date (not consent, not person_id) unless
 * "update" or "noupdate" says otherwise.
 *
 */
#ifndef NOVA_RULES_H
#define NOVA_RULES_H

#include <stddef.h>

#include "../../formats/contact.h"

#define NV_RULES_NAME ":survivorship.rules" /* maprepo name of the rules file */
#define NV_RULES_MAX_TEXT (1u << 20)

struct nv_rules {
    char commit[41];            /* the rules' commit ("" without rules) */
    char **prio[NV_F_COUNT];    /* entities, first wins (NULL: "*" line) */
    size_t nprio[NV_F_COUNT];
    char **any;                 /* the "priority *" line */
    size_t nany;
    int update[NV_F_COUNT];     /* 1: changes are sent as updates */
};

/* Defaults (no priorities, the default update set). */
void nv_rules_default(struct nv_rules *r);
/* Strict parse; NV_EFORMAT "rules line N: reason". */
int nv_rules_parse(const char *text, size_t len, struct nv_rules *out)
    __attribute__((warn_unused_result));
void nv_rules_release(struct nv_rules *r);
/* 1 when field f is part of golden records. */
int nv_golden_field(int f);

/* Rank of entity for field f (0 first): its position in the field's
 * priority line, else in the "*" line, else past the end of it. */
size_t nv_rules_rank(const struct nv_rules *r, int f, const char *entity);

#endif
