/*
 * suggest.c - propose a mapping from a sample export: column names (French
 * and English, accents, case and separators ignored) and value shapes
 * (e-mail, phone, postal code, dates, yes/no).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "mapping.h"
#include "normalize.h"
#include "suggest.h"

#define SAMPLE_ROWS 2000
#define KEY_FIELD (-2)

/* Header words per field, already folded (lower case, no accents, no
 * separators).  A header matches a word when it equals it or starts with it;
 * the longest matching word wins. */
static const struct {
    int field;
    const char *words[24];
} names[] = {
    { NV_F_BIRTH_NAME, { "nomdenaissance", "nomnaissance", "nomdejeunefille",
                         "nomjeunefille", "birthname", "maidenname", "nee", NULL } },
    { NV_F_FIRST_NAME, { "prenom", "firstname", "givenname", "forename", "first",
                         "prenoms", NULL } },
    { NV_F_LAST_NAME, { "nom", "lastname", "surname", "familyname", "nomdefamille",
                        "nomusage", "name", "last", NULL } },
    { NV_F_TITLE, { "civilite", "civ", "title", "salutation", "titre", NULL } },
    { NV_F_EMAIL, { "email", "mail", "courriel", "adressemail", "adresseemail",
                    "emailaddress", "adresseelectronique", NULL } },
    { NV_F_PHONE, { "telephone", "tel", "phone", "mobile", "portable", "gsm", "fixe",
                    "cellphone", "cell", "phonenumber", "numerotel", NULL } },
    { NV_F_ADDRESS, { "adresse", "address", "rue", "street", "voie", "addr",
                      "complementadresse", "ligneadresse", "numerovoie", NULL } },
    { NV_F_POSTCODE, { "codepostal", "cp", "zip", "zipcode", "postcode",
                       "postalcode", "codepost", NULL } },
    { NV_F_CITY, { "ville", "city", "town", "commune", "localite", "suburb", NULL } },
    { NV_F_COUNTRY, { "pays", "country", "countrycode", "codepays", NULL } },
    { NV_F_BIRTH_DATE, { "datenaissance", "datedenaissance", "dob", "birthdate",
                         "dateofbirth", "naissance", "birthday", "nele", "nea",
                         NULL } },
    { NV_F_CONSENT, { "optin", "consentement", "newsletter", "consent", "marketing",
                      "accordcommercial", "abonnenewsletter", "optinemail", NULL } },
    { NV_F_PERSON_ID, { "nir", "numsecu", "numerosecu", "ssn", "socsecid",
                        "nationalid", "numerosecuritesociale", NULL } },
    { NV_F_CREATED_AT, { "datecreation", "datedecreation", "created", "createdat",
                         "creationdate", "datecrea", NULL } },
    { NV_F_UPDATED_AT, { "datemaj", "datemiseajour", "datemodification", "lastmodified",
                         "modified", "updated", "updatedat", "lastupdate",
                         "modifiele", "datemodif", "dernieremodif", "dernieremaj",
                         "dernieremiseajour", "miseajour", "majle", "lastchange",
                         "changed", NULL } },
    { KEY_FIELD, { "id", "idclient", "clientid", "customerid", "customerno",
                   "customernumber", "numclient", "numeroclient", "codeclient",
                   "refclient", "reference", "recid", "contactid", "idcontact",
                   NULL } },
};

enum shape { S_EMAIL, S_PHONE, S_POSTCODE, S_DATE, S_BOOL, S_TIMESTAMP, S_NUMBER, S_NSHAPES };

struct col {
    char *name;
    char folded[128];
    int field;       /* by name, or -1 */
    size_t wordlen;  /* length of the word that matched */
    uint64_t nonempty, shape[S_NSHAPES];
    uint64_t old_dates; /* dates before 2005: birth dates rather than events */
    int unique;
    int placed;      /* final field, -1 none */
    const char *why;
};

static void
fold(const char *in, char *out, size_t n)
{
    struct nv_buf b = NV_BUF_INIT;
    size_t j = 0;

    if (nv_norm_name(in, strlen(in), &b) == 0 && b.data != NULL)
        for (size_t i = 0; i < b.len && j + 1 < n; i++) {
            unsigned char c = b.data[i];
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                out[j++] = (char)c;
        }
    out[j] = '\0';
    nv_buf_release(&b);
}

static void
by_name(struct col *c)
{
    c->field = -1;
    c->wordlen = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        for (int w = 0; names[i].words[w] != NULL; w++) {
            const char *word = names[i].words[w];
            size_t l = strlen(word);
            if (strncmp(c->folded, word, l) == 0 && l > c->wordlen &&
                /* short words only as the whole name or before a digit */
                (l >= 4 || c->folded[l] == '\0' ||
                 (c->folded[l] >= '0' && c->folded[l] <= '9'))) {
                c->field = names[i].field;
                c->wordlen = l;
            }
        }
}

static void
shapes(struct col *c, const char *v, size_t len)
{
    struct nv_buf b = NV_BUF_INIT;
    int x;
    size_t digits = 0;

    for (size_t i = 0; i < len; i++)
        digits += v[i] >= '0' && v[i] <= '9';
    if (memchr(v, '@', len) && nv_norm_email(v, len, &b) == 0 && b.len > 0)
        c->shape[S_EMAIL]++;
    nv_buf_reset(&b);
    if (digits >= 9 && nv_norm_phone(v, len, &b) == 0 && b.len > 0)
        c->shape[S_PHONE]++;
    nv_buf_reset(&b);
    if (digits >= 4 && digits <= 5 && len <= 8 && nv_norm_postcode(v, len, "FR", &b) == 0)
        c->shape[S_POSTCODE]++;
    nv_buf_reset(&b);
    if (digits >= 6 && nv_norm_date(v, len, &b) == 0 && b.len >= 4) {
        c->shape[S_DATE]++;
        if (memcmp(b.data, "2005", 4) < 0)
            c->old_dates++;
    }
    if (nv_norm_bool(v, len, &x) == 0 && x >= 0)
        c->shape[S_BOOL]++;
    /* for an extension field's type: dates with a time too, and numbers
     * (not codes with a leading zero, which a number would lose) */
    nv_buf_reset(&b);
    if (digits >= 6 && nv_norm_timestamp(v, len, &b) == 0 && b.len >= 10)
        c->shape[S_TIMESTAMP]++;
    nv_buf_reset(&b);
    while (len > 0 && (*v == ' ' || *v == '\t'))
        v++, len--;
    if (digits > 0 && !(len > 1 && v[0] == '0' && v[1] >= '0' && v[1] <= '9') &&
        nv_ext_normalise(NV_EXT_NUMBER, v, len, &b) == 0 && b.len > 0)
        c->shape[S_NUMBER]++;
    nv_buf_release(&b);
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Write one token, quoted when needed. */
static int
token(struct nv_buf *out, const char *s)
{
    int quote = *s == '\0' || *s == '#' || *s == '"';
    int r;

    for (const char *p = s; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == '"')
            quote = 1;
    if (!quote)
        return nv_buf_adds(out, s);
    if ((r = nv_buf_adds(out, "\"")) < 0)
        return r;
    for (const char *p = s; *p; p++)
        if ((r = nv_buf_add(out, p, 1)) < 0 || (*p == '"' && (r = nv_buf_add(out, p, 1)) < 0))
            return r;
    return nv_buf_adds(out, "\"");
}

static void
ext_name(const struct col *c, char *out, size_t n, struct col *cols, size_t ncols)
{
    size_t j = 0;
    const char *f = c->folded[0] ? c->folded : "column";

    for (; *f && j + 1 < n && j < 60; f++)
        out[j++] = *f;
    out[j] = '\0';
    /* two columns folding to the same name: number the later one */
    for (size_t i = 0; i < ncols && &cols[i] != c; i++)
        if (strcmp(cols[i].folded, c->folded) == 0) {
            snprintf(out + j, n - j, "_%zu", (size_t)(c - cols) + 1);
            break;
        }
}

/* Up to SAMPLE_ROWS rows of csv: each column's shapes, and its non-blank
 * values in seen[column][row] (NULL when blank); *rows gets the rows read.
 * Rows that do not parse are skipped.  0 or an NV_E code. */
static int
sample_rows(struct nv_csv *csv, struct col *cols, char ***seen, size_t ncols, size_t *rows)
{
    const struct nv_csv_row *row;
    int r;

    while (*rows < SAMPLE_ROWS && (r = nv_csv_next(csv, &row)) != 0) {
        if (r == NV_EFORMAT)
            continue; /* a bad row says nothing about the shapes */
        if (r < 0)
            return r;
        for (size_t i = 0; i < ncols && i < row->n; i++) {
            size_t b = 0, len = row->len[i];
            while (b < len && row->field[i][b] == ' ')
                b++;
            if (b == len) {
                seen[i][*rows] = NULL;
                continue;
            }
            cols[i].nonempty++;
            shapes(&cols[i], row->field[i], len);
            if ((seen[i][*rows] = strdup(row->field[i])) == NULL)
                abort();
        }
        (*rows)++;
    }
    return 0;
}

/* Each column is unique when every one of the rows sampled has a value and
 * no two are the same (seen's lists are compacted and sorted). */
static void
mark_unique(struct col *cols, char ***seen, size_t ncols, size_t rows)
{
    for (size_t i = 0; i < ncols; i++) {
        size_t n = 0;
        char **v = seen[i];
        for (size_t j = 0; j < rows; j++)
            if (v[j] != NULL)
                v[n++] = v[j];
        for (size_t j = n; j < rows; j++)
            v[j] = NULL;
        qsort(v, n, sizeof(char *), str_cmp);
        cols[i].unique = n == rows && n > 0;
        for (size_t j = 1; j < n && cols[i].unique; j++)
            if (strcmp(v[j - 1], v[j]) == 0)
                cols[i].unique = 0;
    }
}

/* The key column: a key-like name with unique values, else the first
 * column with unique values that is not an e-mail or phone; -1 if none. */
static int
pick_key(const struct col *cols, size_t ncols, size_t rows)
{
    int key = -1;

    for (size_t i = 0; i < ncols && key < 0; i++)
        if (cols[i].field == KEY_FIELD && (cols[i].unique || rows == 0))
            key = (int)i;
    for (size_t i = 0; i < ncols && key < 0; i++)
        if (cols[i].unique && cols[i].field < 0 &&
            cols[i].shape[S_EMAIL] * 2 < cols[i].nonempty &&
            cols[i].shape[S_PHONE] * 2 < cols[i].nonempty)
            key = (int)i;
    return key;
}

/* Recent dates, with no name to say what they are (field_by_values). */
#define S_RECENT_DATE 1000

/* The field a column's values say clearly (80% of them one shape), -1, or
 * S_RECENT_DATE. */
static int
field_by_values(const struct col *c)
{
    uint64_t ne = c->nonempty;

    if (ne == 0)
        return -1;
    if (c->shape[S_EMAIL] * 10 >= ne * 8)
        return NV_F_EMAIL;
    if (c->shape[S_PHONE] * 10 >= ne * 8 && c->shape[S_DATE] * 2 < ne)
        return NV_F_PHONE;
    /* old dates are birth dates; recent ones could be anything (an event,
     * a subscription): updated_at only when the name says so */
    if (c->shape[S_DATE] * 10 >= ne * 8)
        return c->old_dates * 2 >= c->shape[S_DATE] ? NV_F_BIRTH_DATE : S_RECENT_DATE;
    if (c->shape[S_POSTCODE] * 10 >= ne * 8)
        return NV_F_POSTCODE;
    return -1;
}

/* Place every column but the key: by values when they say something clear,
 * else by name; then, for single-valued fields, the first column wins and
 * the others stay apart. */
static void
place_columns(struct col *cols, size_t ncols, int key)
{
    for (size_t i = 0; i < ncols; i++) {
        struct col *c = &cols[i];
        int by_value;
        if ((int)i == key)
            continue;
        by_value = field_by_values(c);
        if (c->field >= 0) {
            /* a name says which kind of date or code it is; values overrule a
             * name only when they clearly disagree with it */
            int kind_ok = by_value < 0 || by_value == c->field || by_value == S_RECENT_DATE ||
                          ((by_value == NV_F_BIRTH_DATE || by_value == NV_F_UPDATED_AT) &&
                           (c->field == NV_F_BIRTH_DATE || c->field == NV_F_CREATED_AT ||
                            c->field == NV_F_UPDATED_AT)) ||
                          (by_value == NV_F_POSTCODE && c->field == NV_F_PERSON_ID);
            c->placed = kind_ok ? c->field : by_value;
            c->why = kind_ok ? "by name" : "by values (the name suggested otherwise)";
        } else if (by_value >= 0 && by_value != S_RECENT_DATE) {
            c->placed = by_value;
            c->why = "by values";
        }
    }
    for (int f = 0; f < NV_F_COUNT; f++) {
        int first = -1;
        if (nv_fields[f].multi || f == NV_F_ADDRESS)
            continue;
        for (size_t i = 0; i < ncols; i++)
            if (cols[i].placed == f) {
                if (first < 0)
                    first = (int)i;
                else
                    cols[i].placed = -1, cols[i].why = NULL;
            }
    }
}

/* The mapping's head and key line (or a note that there is none, also in
 * unplaced when given). */
static int
write_head(struct nv_buf *out, struct nv_buf *unplaced, const char *entity,
           const struct col *cols, int key, size_t rows)
{
    int r;

    if ((r = nv_buf_addf(out, "nova-mapping 1\n# suggested by nova-hub mapping suggest "
                         "from %zu sample rows: check every line\nentity %s\n", rows,
                         entity)) < 0)
        return r;
    if (key >= 0) {
        if ((r = nv_buf_addf(out, "# the record key: %s\nkey ",
                             cols[key].field == KEY_FIELD ? "by name, unique in the sample"
                                                          : "unique in the sample")) < 0 ||
            (r = token(out, cols[key].name)) < 0 || (r = nv_buf_adds(out, "\n")) < 0)
            return r;
        return 0;
    }
    if ((r = nv_buf_adds(out, "# no column has unique values in the sample: give "
                         "the record key yourself\n")) < 0)
        return r;
    if (unplaced && (r = nv_buf_adds(unplaced, "(the record key)\n")) < 0)
        return r;
    return 0;
}

/* One "field" line per common field placed, its columns in order, and why
 * (the first column's reason). */
static int
write_fields(struct nv_buf *out, const struct col *cols, size_t ncols)
{
    int r;

    for (int f = 0; f < NV_F_COUNT; f++) {
        int any = 0;
        const char *why = NULL;
        for (size_t i = 0; i < ncols; i++)
            if (cols[i].placed == f) {
                if (!any && ((r = nv_buf_addf(out, "field %-10s ", nv_fields[f].name)) < 0))
                    return r;
                if ((any && (r = nv_buf_adds(out, " ")) < 0) || (r = token(out, cols[i].name)) < 0)
                    return r;
                any = 1;
            }
        if (!any)
            continue;
        for (size_t i = 0; i < ncols && why == NULL; i++)
            if (cols[i].placed == f)
                why = cols[i].why;
        if ((r = nv_buf_addf(out, "    # %s\n", why)) < 0)
            return r;
    }
    return 0;
}

/* The type an extension field's values say (80% of them: yes/no, then a
 * date, then a number), else text. */
static int
ext_type_by_values(const struct col *c)
{
    uint64_t ne = c->nonempty;

    if (ne == 0)
        return NV_EXT_TEXT;
    if (c->shape[S_BOOL] * 10 >= ne * 8 && c->shape[S_BOOL] == ne)
        return NV_EXT_YESNO;
    if ((c->shape[S_DATE] > c->shape[S_TIMESTAMP] ? c->shape[S_DATE] : c->shape[S_TIMESTAMP]) *
            10 >= ne * 8)
        return NV_EXT_DATE;
    if (c->shape[S_NUMBER] * 10 >= ne * 8 && c->shape[S_PHONE] * 2 < ne)
        return NV_EXT_NUMBER;
    return NV_EXT_TEXT;
}

/* One "ext" line per column neither key nor placed (named in unplaced too,
 * when given). */
static int
write_exts(struct nv_buf *out, struct nv_buf *unplaced, struct col *cols, size_t ncols,
           int key)
{
    int r;

    for (size_t i = 0; i < ncols; i++) {
        char en[80];
        if ((int)i == key || cols[i].placed >= 0)
            continue;
        int t = ext_type_by_values(&cols[i]);
        ext_name(&cols[i], en, sizeof(en), cols, ncols);
        if ((r = nv_buf_addf(out, "ext %s ", en)) < 0 || (r = token(out, cols[i].name)) < 0 ||
            (t != NV_EXT_TEXT && (r = nv_buf_addf(out, " %s", nv_ext_type_names[t])) < 0) ||
            (r = nv_buf_adds(out, t != NV_EXT_TEXT
                                      ? "    # not placed: an extension field, typed by its values\n"
                                      : "    # not placed: kept as an extension field\n")) < 0)
            return r;
        if (unplaced && ((r = nv_buf_adds(unplaced, cols[i].name)) < 0 ||
                         (r = nv_buf_adds(unplaced, "\n")) < 0))
            return r;
    }
    return 0;
}

/* Updates go back to the first column of the fields people correct: one
 * "inverse" line each. */
static int
write_inverses(struct nv_buf *out, const struct col *cols, size_t ncols)
{
    static const int inv[] = { NV_F_FIRST_NAME, NV_F_LAST_NAME, NV_F_EMAIL,
                               NV_F_PHONE, NV_F_POSTCODE, NV_F_CITY, NV_F_CONSENT };
    int r;

    for (size_t k = 0; k < sizeof(inv) / sizeof(inv[0]); k++)
        for (size_t i = 0; i < ncols; i++)
            if (cols[i].placed == inv[k]) {
                if ((r = nv_buf_addf(out, "inverse %-10s ", nv_fields[inv[k]].name)) < 0 ||
                    (r = token(out, cols[i].name)) < 0 || (r = nv_buf_adds(out, "\n")) < 0)
                    return r;
                break;
            }
    return 0;
}

/* The matching criteria beyond the five defaults (names, e-mail, phone,
 * postcode): each of birth_date, address, city and person_id for which a
 * column was placed, on one "match" line. */
static int
write_matches(struct nv_buf *out, const struct col *cols, size_t ncols)
{
    static const int crit[] = { NV_F_BIRTH_DATE, NV_F_ADDRESS, NV_F_CITY, NV_F_PERSON_ID };
    int r, any = 0;

    for (size_t k = 0; k < sizeof(crit) / sizeof(crit[0]); k++)
        for (size_t i = 0; i < ncols; i++)
            if (cols[i].placed == crit[k]) {
                if (!any && (r = nv_buf_adds(out, "# matching criteria besides names, e-mail, "
                                                  "phone and postcode: the fields placed "
                                                  "above\nmatch")) < 0)
                    return r;
                if ((r = nv_buf_addf(out, " %s", nv_fields[crit[k]].name)) < 0)
                    return r;
                any = 1;
                break;
            }
    return any ? nv_buf_adds(out, "\n") : 0;
}

int
nv_mapping_suggest(const char *entity, int fd, int encoding, struct nv_buf *out,
                   struct nv_buf *unplaced)
{
    struct nv_csv_dialect d = { 0, '"', 1, encoding ? encoding : NV_ENC_UTF8 };
    struct nv_csv *csv = NULL;
    const struct nv_csv_row *hdr;
    struct col *cols = NULL;
    char ***seen = NULL; /* per column, the sample values (for uniqueness) */
    size_t ncols, rows = 0;
    int r, key;

    if ((r = nv_csv_open(&csv, fd, &d, 0, 0)) < 0)
        return r;
    hdr = nv_csv_header(csv);
    ncols = hdr->n;
    if ((cols = calloc(ncols, sizeof(*cols))) == NULL ||
        (seen = calloc(ncols, sizeof(*seen))) == NULL)
        abort();
    for (size_t i = 0; i < ncols; i++) {
        if ((cols[i].name = strdup(hdr->field[i])) == NULL ||
            (seen[i] = calloc(SAMPLE_ROWS, sizeof(char *))) == NULL)
            abort();
        fold(cols[i].name, cols[i].folded, sizeof(cols[i].folded));
        by_name(&cols[i]);
        cols[i].placed = -1;
    }
    if ((r = sample_rows(csv, cols, seen, ncols, &rows)) < 0)
        goto out;
    mark_unique(cols, seen, ncols, rows);
    key = pick_key(cols, ncols, rows);
    place_columns(cols, ncols, key);
    if ((r = write_head(out, unplaced, entity, cols, key, rows)) < 0 ||
        (r = write_fields(out, cols, ncols)) < 0 ||
        (r = write_exts(out, unplaced, cols, ncols, key)) < 0)
        goto out;
    if ((r = write_inverses(out, cols, ncols)) == 0)
        r = write_matches(out, cols, ncols);
out:
    for (size_t i = 0; i < ncols; i++) {
        for (size_t j = 0; seen && seen[i] && j < SAMPLE_ROWS; j++)
            free(seen[i][j]);
        if (seen)
            free(seen[i]);
        free(cols[i].name);
    }
    free(seen);
    free(cols);
    nv_csv_free(csv);
    return r;
}
