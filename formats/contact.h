/*
 * contact.h - the common contact model: the fields every entity's records
 * are mapped to at the hub (hub/mapping.h), whatever the CRM called them.
 *
 *   field        values  what
 *   first_name   one     given name(s)
 *   last_name    one     family name as used now
 *   birth_name   one     family name at birth (maiden name), if different
 *   title        one     civility as written (M., Mme, Dr...)
 *   email        many    e-mail addresses, most used first
 *   phone        many    telephone numbers, most used first
 *   address      one     street lines (several columns are joined by ", ")
 *   postcode     one     postal code
 *   city         one     town
 *   country      one     country (ISO 3166-1 alpha-2 once normalised)
 *   birth_date   one     date of birth (ISO YYYY-MM-DD once normalised)
 *   consent      one     marketing consent: 1, 0, or unknown
 *   person_id    one     an identifier shared across sources (a national or
 *                        loyalty number), usable as a matching criterion
 *   created_at   one     the source's creation time (ISO 8601)
 *   updated_at   one     the source's last modification time (ISO 8601)
 *
 * Columns that have no common field are kept per entity as extension
 * fields, so nothing an entity sends is lost.
 */
#ifndef NOVA_CONTACT_H
#define NOVA_CONTACT_H

enum nv_field {
    NV_F_FIRST_NAME,
    NV_F_LAST_NAME,
    NV_F_BIRTH_NAME,
    NV_F_TITLE,
    NV_F_EMAIL,
    NV_F_PHONE,
    NV_F_ADDRESS,
    NV_F_POSTCODE,
    NV_F_CITY,
    NV_F_COUNTRY,
    NV_F_BIRTH_DATE,
    NV_F_CONSENT,
    NV_F_PERSON_ID,
    NV_F_CREATED_AT,
    NV_F_UPDATED_AT,
    NV_F_COUNT
};

/* How a field's raw values are normalised (hub/normalize.h). */
enum nv_field_kind {
    NV_K_NAME,      /* nv_norm_name */
    NV_K_TEXT,      /* trimmed, blanks collapsed */
    NV_K_EMAIL,     /* nv_norm_email */
    NV_K_PHONE,     /* nv_norm_phone */
    NV_K_POSTCODE,  /* nv_norm_postcode (with the record's country) */
    NV_K_COUNTRY,   /* nv_norm_country */
    NV_K_DATE,      /* nv_norm_date */
    NV_K_BOOL,      /* nv_norm_bool */
    NV_K_ID,        /* upper-cased, blanks and separators removed */
    NV_K_TIMESTAMP  /* ISO 8601 date and time */
};

struct nv_field_def {
    const char *name;
    int kind;  /* enum nv_field_kind */
    int multi; /* several values (one per mapped column) */
};

extern const struct nv_field_def nv_fields[NV_F_COUNT];

/* The field called name, or -1. */
int nv_field_lookup(const char *name);

#endif
