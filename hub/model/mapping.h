/*
 * mapping.h - per-entity mappings from source columns to the common contact
 * model (formats/contact.h), and their application to change records.
 *
 * A mapping is a UTF-8 text file, one directive per line; blank lines and
 * lines starting with '#' are ignored.  Tokens are separated by blanks; a
 * token holding blanks is written in double quotes ("" inside stands for
 * one quote).  Example:
 *
 *   nova-mapping 1
 *   entity acme
 *   key id_client
 *   field first_name Prénom
 *   field last_name  nom
 *   field email      email email_pro        # several values, in this order
 *   field phone      tel_mobile tel_fixe
 *   field address    adresse1 adresse2      # joined with ", "
 *   field postcode   "code postal"
 *   field birth_date date_naissance
 *   ext   loyalty    carte_fidelite         # kept as extension field "loyalty"
 *   ignore notes                            # received, stored, never mapped
 *   inverse email email                     # updates to email go to column email
 *   match birth_date                        # also a matching criterion
 *   country FR                              # default country of the entity
 *
 * Directives:
 *   nova-mapping 1        first directive, the format version
 *   entity NAME           the entity this mapping is for (required)
 *   key COLUMN...         the column(s) that make the entity's record key
 *                         (required; what the agent was configured with)
 *   field FIELD COLUMN... FIELD is a common field; email and phone take one
 *                         or more columns (one value each), address one or
 *                         more (joined), every other field exactly one
 *   ext NAME COLUMN [TYPE] an extension field: NAME is [a-z0-9_], 1-64 chars;
 *                         TYPE (text if absent) is text, date, number or
 *                         yesno (also yes/no): a typed value is normalised
 *                         at ingest like a common field (date: ISO 8601 as
 *                         nv_norm_timestamp gives it; number: a decimal
 *                         point, no grouping, "%.15g"; yesno: "1" or "0"),
 *                         and one that does not parse is left out and
 *                         counted (or, without skip, rejects the record)
 *   ignore COLUMN...      columns received and kept in the source record,
 *                         but not mapped
 *   inverse FIELD COLUMN  updates of FIELD are written back to COLUMN, which
 *                         must be one of FIELD's columns; a field without an
 *                         inverse is never sent back to this entity
 *   match FIELD...        matching criteria added to the default five (first
 *                         and last name, e-mails, phones, postal code):
 *                         birth_date, person_id, address, city
 *   country CC            default country (ISO alpha-2) for phones and
 *                         postal codes when a record has none; FR if absent
 *
 * A column appears in at most one field, ext or ignore directive (a key
 * column may also be mapped); each field and ext name at most once.  Column
 * names are compared exactly (they are what the CRM exports).  Every column
 * a record carries must be in the mapping: a record with an unknown column
 * is rejected, so a CRM that starts exporting a new column is noticed.
 */
#ifndef NOVA_MAPPING_H
#define NOVA_MAPPING_H

#include <stddef.h>

#include <jansson.h>

#include "../../formats/contact.h"
#include "../../keys/identity.h"
#include "recparse.h"

#define NV_MAP_MAX_COLUMNS 1024
#define NV_MAP_MAX_TEXT (1u << 20)    /* a mapping file, at most */
#define NV_MAP_EXT_MAX_BYTES 65536    /* an extension value, at most */

struct nv_norm_values;

enum nv_map_role { NV_ROLE_FIELD = 1, NV_ROLE_EXT, NV_ROLE_IGNORE, NV_ROLE_KEY };

/* The type of an extension field (ext NAME COLUMN [TYPE]). */
enum nv_ext_type { NV_EXT_TEXT = 0, NV_EXT_DATE, NV_EXT_NUMBER, NV_EXT_YESNO };
/* "text", "date", "number", "yesno" */
extern const char *const nv_ext_type_names[4];
/* The type called name ("yes/no" is yesno), or -1. */
int nv_ext_type_lookup(const char *name);
/* Normalise one value of an extension field of type t (text: trimmed,
 * blanks collapsed), appended to out; NV_EFORMAT with the reason when it
 * does not parse.  A blank value appends nothing. */
int nv_ext_normalise(int t, const char *in, size_t len, struct nv_buf *out)
    __attribute__((warn_unused_result));
/* Normalise one value of common field f as ingest does (country: the
 * default country of phones and postal codes), appended to out. */
int nv_field_normalise(int f, const char *in, size_t len, const char *country,
                       struct nv_buf *out) __attribute__((warn_unused_result));

struct nv_map_column {
    char *name;
    int role;       /* enum nv_map_role (NV_ROLE_KEY: key column only) */
    int field;      /* NV_F_* for NV_ROLE_FIELD */
    char *ext;      /* extension name for NV_ROLE_EXT */
    int ext_type;   /* enum nv_ext_type for NV_ROLE_EXT */
    int line;       /* where it was declared */
    int is_key;
};

struct nv_mapping {
    char entity[NV_NAME_MAX + 1];
    char country[3];
    struct nv_map_column *cols; /* sorted by name */
    size_t ncols;
    char **key;
    size_t nkey;
    int key_line;
    /* per field: its columns in declaration order (indexes into cols) */
    size_t *fcols[NV_F_COUNT];
    size_t nfcols[NV_F_COUNT];
    int inverse[NV_F_COUNT]; /* index into cols, -1 if none */
    int match[NV_F_COUNT];   /* 1 if an extra matching criterion */
};

/* Strict parse.  entity (may be NULL) must be the entity line's name.
 * NV_EFORMAT with "mapping line N: reason" on the first problem. */
int nv_mapping_parse(const char *text, size_t len, const char *entity,
                     struct nv_mapping *out) __attribute__((warn_unused_result));
void nv_mapping_release(struct nv_mapping *m);

/* Check the mapping's columns against the columns the entity's exports are
 * known to have (names[n]; n == 0 means unknown: nothing is checked).
 * NV_EFORMAT "mapping line N: column 'X' is not in ENTITY's exports". */
int nv_mapping_check_columns(const struct nv_mapping *m, const char *const *names,
                             size_t n) __attribute__((warn_unused_result));

/* The type of extension field name in m (enum nv_ext_type), or -1 when m
 * has no such extension field. */
int nv_mapping_ext_type(const struct nv_mapping *m, const char *name);

/* Index of column name in m->cols, or -1. */
int nv_mapping_find(const struct nv_mapping *m, const char *name);

/*
 * Map and normalise one record's source fields: nfields columns, names[i]
 * holding values[i] (NUL-terminated strings, as hub/recparse.h gives them).
 * On success appends to c the JSON object of the normalised common fields
 * ({"email":["a@b.fr"],"last_name":"dupont","consent":1,...}: multi-valued
 * fields as arrays, a value found in two columns once, consent as 0/1,
 * empty values left out) and to x the JSON object of the extension fields.
 * With nv (may be NULL), the normalised values are also kept there, raw.
 * A record that cannot be mapped returns NV_EFORMAT, leaves c and x as they
 * were and writes the reason to reason[n] (it names the column and field,
 * never the value): an unknown column, a value that is not a string, a value
 * over the size limits, a value that does not parse (a date, a phone, an
 * e-mail...), or characters the agent could not decode (U+FFFD, C1
 * controls).  NV_ENOMEM otherwise.
 *
 * With skip (may be NULL), a value that does not parse does not reject the
 * record: it is left out of c and nv (the record is matched without it; a
 * bad country leaves the mapping's default) and its reason is counted in
 * skip.  The source fields, kept by the caller, still hold it as sent.
 */
#define NV_MAP_SKIP_KEEP 4 /* reasons kept in struct nv_map_skipped */
struct nv_map_skipped {
    unsigned n;                            /* values left out */
    char reason[NV_MAP_SKIP_KEEP][200];    /* the first ones' reasons */
};
int nv_mapping_apply(const struct nv_mapping *m, const struct nv_rec_str *names,
                     const struct nv_rec_str *values, size_t nfields, struct nv_buf *c,
                     struct nv_buf *x, struct nv_norm_values *nv,
                     struct nv_map_skipped *skip, char *reason, size_t n)
    __attribute__((warn_unused_result));
/* The same for fields given as a JSON object (a value that is not a string
 * is a reject: "not a text value"). */
int nv_mapping_apply_json(const struct nv_mapping *m, json_t *fields, struct nv_buf *c,
                          struct nv_buf *x, char *reason, size_t n)
    __attribute__((warn_unused_result));

/* The original values of the common fields m maps, from the source fields
 * (same shape as nv_mapping_apply's c, values as the entity sent them).
 * New reference, NULL when out of memory. */
json_t *nv_mapping_originals(const struct nv_mapping *m, json_t *fields);

/* The normalised values of one record, as nv_mapping_apply wrote them
 * (when given nv): up to NV_NORM_VALUES_MAX per field, NUL-terminated in
 * arena.  Initialise with NV_BUF_INIT for arena; release arena after use. */
#define NV_NORM_VALUES_MAX 3
struct nv_norm_values {
    struct nv_buf arena;
    size_t off[NV_F_COUNT][NV_NORM_VALUES_MAX];
    unsigned n[NV_F_COUNT];
};
/* Value i of field f, or NULL. */
const char *nv_norm_value(const struct nv_norm_values *nv, int f, unsigned i);

/* ISO 8601 timestamp normalisation: a date nv_norm_date accepts, optionally
 * followed by 'T' or a blank and HH:MM[:SS[.fraction]] and a zone (Z or
 * +HH:MM / +HHMM).  Output "YYYY-MM-DD", or "YYYY-MM-DDTHH:MM:SS" followed by
 * the zone when given.  Appends to out; NV_EFORMAT with the reason. */
int nv_norm_timestamp(const char *in, size_t len, struct nv_buf *out)
    __attribute__((warn_unused_result));

#endif
