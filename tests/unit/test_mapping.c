/*
 * test_mapping.c - unit tests for hub/mapping.c: the mapping file format
 * (every refusal names its line), the column check, and the mapping of
 * records to the common model with per-record rejects.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/errors.h"
#include "../../hub/model/mapping.h"
#include "../../hub/model/suggest.h"

static const char good[] =
    "# a comment\n"
    "nova-mapping 1\n"
    "entity acme\n"
    "key id\n"
    "field first_name \"Prénom usuel\"\n"
    "field last_name nom\n"
    "field email email email_pro   # two columns\n"
    "field phone tel\n"
    "field address adr1 adr2\n"
    "field postcode cp\n"
    "field birth_date naissance\n"
    "field consent optin\n"
    "field updated_at maj\n"
    "field person_id id\n"
    "ext loyalty \"carte \"\"or\"\"\"\n"
    "ignore notes\n"
    "inverse email email\n"
    "match birth_date person_id\n"
    "country FR\n";

static void
parse_ok(struct nv_mapping *m)
{
    int r;

    nv_error_clear();
    r = nv_mapping_parse(good, strlen(good), "acme", m);
    if (r != 0)
        fail_msg("refused: %s", nv_errmsg(r));
}

static void
test_parse(void **state)
{
    struct nv_mapping m;
    int i;

    (void)state;
    parse_ok(&m);
    assert_string_equal(m.entity, "acme");
    assert_int_equal(m.nkey, 1);
    assert_string_equal(m.key[0], "id");
    assert_int_equal(m.nfcols[NV_F_EMAIL], 2);
    assert_string_equal(m.cols[m.fcols[NV_F_EMAIL][0]].name, "email");
    assert_string_equal(m.cols[m.fcols[NV_F_EMAIL][1]].name, "email_pro");
    assert_true((i = nv_mapping_find(&m, "Prénom usuel")) >= 0);
    assert_int_equal(m.cols[i].field, NV_F_FIRST_NAME);
    assert_true((i = nv_mapping_find(&m, "carte \"or\"")) >= 0);
    assert_string_equal(m.cols[i].ext, "loyalty");
    assert_true((i = nv_mapping_find(&m, "id")) >= 0);
    assert_true(m.cols[i].is_key);
    assert_int_equal(m.cols[i].field, NV_F_PERSON_ID);
    assert_int_equal(m.cols[nv_mapping_find(&m, "notes")].role, NV_ROLE_IGNORE);
    assert_int_equal(m.inverse[NV_F_EMAIL], nv_mapping_find(&m, "email"));
    assert_int_equal(m.inverse[NV_F_PHONE], -1);
    assert_true(m.match[NV_F_BIRTH_DATE]);
    assert_string_equal(m.country, "FR");
    nv_mapping_release(&m);
}

/* text must be refused with a message containing want. */
static void
refused(const char *text, const char *want)
{
    struct nv_mapping m;
    int r;

    nv_error_clear();
    r = nv_mapping_parse(text, strlen(text), "acme", &m);
    if (r == 0) {
        nv_mapping_release(&m);
        fail_msg("accepted: %s", text);
    }
    assert_int_equal(r, NV_EFORMAT);
    if (strstr(nv_errmsg(r), want) == NULL)
        fail_msg("message '%s' lacks '%s'", nv_errmsg(r), want);
}

#define H "nova-mapping 1\nentity acme\nkey id\n"

static void
test_refusals(void **state)
{
    (void)state;
    refused("", "must start with 'nova-mapping 1'");
    refused("entity acme\n", "line 1: the file must start with 'nova-mapping 1'");
    refused("nova-mapping 2\n", "line 1: format version 2 is not supported");
    refused("nova-mapping 1\nentity acme\n", "no 'key' line");
    refused("nova-mapping 1\nkey id\n", "no 'entity' line");
    refused("nova-mapping 1\nentity other\nkey id\n", "line 2: this mapping is for entity 'other'");
    refused(H "field fist_name prenom\n", "line 4: unknown field 'fist_name'");
    refused(H "field first_name a b\n", "line 4: field 'first_name' takes one column");
    refused(H "field first_name a\nfield last_name a\n", "line 5: column 'a' is already used on line 4");
    refused(H "field first_name a\nfield first_name b\n", "line 5: field 'first_name' is already mapped on line 4");
    refused(H "field first_name\n", "line 4: 'field' needs a field and a column");
    refused(H "ext Bad a\n", "line 4: extension name 'Bad'");
    refused(H "ext x a\next x b\n", "line 5: extension 'x' is already defined on line 4");
    refused(H "inverse email e\n", "the inverse of email must be one of its columns");
    refused(H "field email a\ninverse email b\n", "line 5: the inverse of email");
    refused(H "match last_name\n", "line 4: 'last_name' cannot be added");
    refused(H "match birth_date\n", "'match birth_date' but field birth_date is not mapped");
    refused(H "country Atlantis\n", "line 4: unknown country");
    refused(H "frobnicate x\n", "line 4: unknown directive 'frobnicate'");
    refused(H "field first_name \"unterminated\n", "line 4: unterminated quote");
    refused(H "field first_name a\"b\n", "line 4: a quote inside a name");
    refused(H "key other\n", "line 4: a second 'key' line");
    refused("nova-mapping 1\nentity acme\nkey id id\n", "line 3: key column 'id' listed twice");
}

static void
test_check_columns(void **state)
{
    struct nv_mapping m;
    const char *all[] = { "id", "Prénom usuel", "nom", "email", "email_pro", "tel", "adr1",
                    "adr2", "cp", "naissance", "optin", "maj", "carte \"or\"", "notes" };
    const char *less[] = { "id", "nom" };

    (void)state;
    parse_ok(&m);
    assert_int_equal(nv_mapping_check_columns(&m, all, 14), 0);
    assert_int_equal(nv_mapping_check_columns(&m, NULL, 0), 0); /* unknown: fine */
    nv_error_clear();
    assert_int_equal(nv_mapping_check_columns(&m, less, 2), NV_EFORMAT);
    assert_non_null(strstr(nv_errmsg(NV_EFORMAT), "is not in acme's exports"));
    nv_mapping_release(&m);
}

/* Apply the good mapping to a JSON object; returns the result (or NULL and
 * the reason in why). */
static json_t *
apply(const char *fields_json, char *why, size_t n)
{
    struct nv_mapping m;
    json_t *f = json_loads(fields_json, 0, NULL), *out = NULL;
    struct nv_buf c = NV_BUF_INIT, x = NV_BUF_INIT;
    json_error_t err;
    int r;

    assert_non_null(f);
    parse_ok(&m);
    why[0] = '\0';
    r = nv_mapping_apply_json(&m, f, &c, &x, why, n);
    if (r == 0) {
        json_t *cj = json_loadb((char *)c.data, c.len, 0, &err);
        json_t *xj = json_loadb((char *)x.data, x.len, 0, &err);
        if (cj == NULL || xj == NULL)
            fail_msg("not JSON: %s / %s (%s)", c.data, x.data, err.text);
        out = json_pack("{s:o,s:o,s:o}", "c", cj, "x", xj, "o",
                        nv_mapping_originals(&m, f));
    } else {
        assert_int_equal(r, NV_EFORMAT);
        assert_int_equal(c.len, 0);
        assert_int_equal(x.len, 0);
    }
    nv_buf_release(&c);
    nv_buf_release(&x);
    nv_mapping_release(&m);
    json_decref(f);
    return out;
}

static const char *
cstr(json_t *o, const char *part, const char *field)
{
    return json_string_value(json_object_get(json_object_get(o, part), field));
}

static void
test_apply(void **state)
{
    char why[400];
    json_t *o, *e;

    (void)state;
    o = apply("{\"id\":\"C-1\",\"Prénom usuel\":\"Jean-Pierre\",\"nom\":\"LEFÈVRE\","
              "\"email\":\"JP.Lefevre+crm@Example.FR\",\"email_pro\":\"jp.lefevre@example.fr\","
              "\"tel\":\"06 12 34 56 78\",\"adr1\":\"12 rue  de la Paix\",\"adr2\":\"Bât. B\","
              "\"cp\":\"1000\",\"naissance\":\"14/03/1975\",\"optin\":\"Oui\","
              "\"maj\":\"2026-11-30 14:05\",\"carte \\\"or\\\"\":\"GOLD-1\",\"notes\":\"x\"}",
              why, sizeof(why));
    if (o == NULL)
        fail_msg("rejected: %s", why);
    assert_string_equal(cstr(o, "c", "first_name"), "jean pierre");
    assert_string_equal(cstr(o, "o", "first_name"), "Jean-Pierre");
    assert_string_equal(cstr(o, "c", "last_name"), "lefevre");
    assert_string_equal(cstr(o, "o", "last_name"), "LEFÈVRE");
    /* the two addresses are one once canonical: kept once */
    e = json_object_get(json_object_get(o, "c"), "email");
    assert_int_equal(json_array_size(e), 1);
    assert_string_equal(json_string_value(json_array_get(e, 0)), "jp.lefevre@example.fr");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_object_get(o, "o"), "email"), 0)),
                        "JP.Lefevre+crm@Example.FR");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_object_get(o, "c"), "phone"), 0)),
                        "+33612345678");
    assert_string_equal(cstr(o, "c", "address"), "12 rue de la Paix, Bât. B");
    assert_string_equal(cstr(o, "c", "postcode"), "01000");
    assert_string_equal(cstr(o, "c", "birth_date"), "1975-03-14");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "c"), "consent")), 1);
    assert_string_equal(cstr(o, "c", "updated_at"), "2026-11-30T14:05:00");
    assert_string_equal(cstr(o, "c", "person_id"), "C1");
    assert_string_equal(cstr(o, "x", "loyalty"), "GOLD-1");
    assert_null(json_object_get(json_object_get(o, "c"), "notes"));
    json_decref(o);

    /* empty values are left out, not rejected */
    o = apply("{\"id\":\"C-2\",\"nom\":\"Martin\",\"naissance\":\" \",\"email\":\"\"}", why,
              sizeof(why));
    assert_non_null(o);
    assert_null(json_object_get(json_object_get(o, "c"), "birth_date"));
    assert_null(json_object_get(json_object_get(o, "c"), "email"));
    json_decref(o);
}

static void
rejects(const char *fields_json, const char *want)
{
    char why[400];
    json_t *o = apply(fields_json, why, sizeof(why));

    if (o != NULL) {
        json_decref(o);
        fail_msg("accepted: %s", fields_json);
    }
    if (strstr(why, want) == NULL)
        fail_msg("reason '%s' lacks '%s'", why, want);
}

static void
test_rejects(void **state)
{
    char *big;

    (void)state;
    rejects("{\"id\":\"1\",\"surprise\":\"x\"}", "column 'surprise' is not in the mapping");
    rejects("{\"id\":\"1\",\"naissance\":\"31/02/1990\"}", "column 'naissance' (birth_date)");
    rejects("{\"id\":\"1\",\"email\":\"no-at-sign\"}", "column 'email' (email)");
    rejects("{\"id\":\"1\",\"tel\":\"call me\"}", "column 'tel' (phone)");
    rejects("{\"id\":\"1\",\"maj\":\"2026-11-30T25:00\"}", "column 'maj' (updated_at)");
    rejects("{\"id\":\"1\",\"nom\":\"Lef\xc2\x92vre\"}", "could not decode");
    rejects("{\"id\":\"1\",\"nom\":\"Lef\xef\xbf\xbdvre\"}", "could not decode");
    rejects("{\"id\":\"1\",\"nom\":12}", "not a text value");
    /* a 10 MB field: refused without reading it as a name */
    big = malloc(10u << 20);
    assert_non_null(big);
    memset(big, 'a', 10u << 20);
    memcpy(big, "{\"id\":\"1\",\"nom\":\"", 17);
    memcpy(big + (10u << 20) - 3, "\"}", 3);
    rejects(big, "over the 4096-byte limit");
    free(big);
    /* and the reason never quotes the value */
    {
        char why[400];
        json_t *o = apply("{\"id\":\"1\",\"email\":\"secret.person@nowhere\"}", why,
                          sizeof(why));
        json_decref(o);
        assert_null(strstr(why, "secret"));
    }
}

/* With a skip list (the hub's ingest), values that do not parse are left
 * out and counted; the record is kept.  Structural problems still reject. */
static void
test_skip_bad_values(void **state)
{
    static const char *const names[] = { "id", "nom", "naissance", "tel", "email", "cp" };
    static const char *const vals[] = { "C-9", "Martin", "31/02/1990", "call me",
                                        "m@example.fr", "75001" };
    struct nv_rec_str n[6], v[6];
    struct nv_mapping m;
    struct nv_map_skipped skip;
    struct nv_norm_values nv;
    struct nv_buf c = NV_BUF_INIT, x = NV_BUF_INIT;
    char why[400];
    json_t *cj;

    (void)state;
    parse_ok(&m);
    for (int i = 0; i < 6; i++) {
        n[i].s = names[i], n[i].n = strlen(names[i]);
        v[i].s = vals[i], v[i].n = strlen(vals[i]);
    }
    memset(&nv, 0, sizeof(nv));
    skip.n = 99; /* reset by the call */
    assert_int_equal(nv_mapping_apply(&m, n, v, 6, &c, &x, &nv, &skip, why, sizeof(why)), 0);
    assert_int_equal(skip.n, 2);
    /* in the order of the common fields */
    assert_string_equal(skip.reason[0], "column 'tel' (phone): phone number: unexpected letter");
    assert_string_equal(skip.reason[1], "column 'naissance' (birth_date): date: day out of range");
    cj = json_loadb((char *)c.data, c.len, 0, NULL);
    assert_non_null(cj);
    assert_null(json_object_get(cj, "birth_date"));
    assert_null(json_object_get(cj, "phone"));
    assert_string_equal(json_string_value(json_object_get(cj, "last_name")), "martin");
    assert_string_equal(json_string_value(json_array_get(json_object_get(cj, "email"), 0)),
                        "m@example.fr");
    assert_null(nv_norm_value(&nv, NV_F_BIRTH_DATE, 0));
    assert_string_equal(nv_norm_value(&nv, NV_F_POSTCODE, 0), "75001");
    json_decref(cj);
    /* everything parses: nothing skipped */
    v[2].s = "14/03/1975", v[2].n = 10;
    v[3].s = "0612345678", v[3].n = 10;
    nv_buf_reset(&c);
    nv_buf_reset(&x);
    assert_int_equal(nv_mapping_apply(&m, n, v, 6, &c, &x, &nv, &skip, why, sizeof(why)), 0);
    assert_int_equal(skip.n, 0);
    assert_string_equal(nv_norm_value(&nv, NV_F_BIRTH_DATE, 0), "1975-03-14");
    /* an unknown column still rejects the record */
    n[5].s = "surprise", n[5].n = 8;
    nv_buf_reset(&c);
    nv_buf_reset(&x);
    assert_int_equal(nv_mapping_apply(&m, n, v, 6, &c, &x, &nv, &skip, why, sizeof(why)),
                     NV_EFORMAT);
    assert_non_null(strstr(why, "column 'surprise' is not in the mapping"));
    assert_int_equal(c.len, 0);
    nv_buf_release(&c);
    nv_buf_release(&x);
    nv_buf_release(&nv.arena);
    nv_mapping_release(&m);
}

/* An entity's country reads its records' national phones and postal codes,
 * unless the record names another country. */
static void
test_entity_country(void **state)
{
    static const char text[] = "nova-mapping 1\nentity bxl\nkey id\nfield last_name nom\n"
                               "field phone tel\nfield postcode cp\nfield country pays\n"
                               "country BE\n";
    struct nv_mapping m;
    json_t *f, *cj;
    struct nv_buf c = NV_BUF_INIT, x = NV_BUF_INIT;
    char why[400];

    (void)state;
    assert_int_equal(nv_mapping_parse(text, strlen(text), "bxl", &m), 0);
    f = json_pack("{s:s,s:s,s:s,s:s}", "id", "1", "nom", "Peeters", "tel", "02 123 45 67", "cp",
                  "1000");
    assert_int_equal(nv_mapping_apply_json(&m, f, &c, &x, why, sizeof(why)), 0);
    cj = json_loadb((char *)c.data, c.len, 0, NULL);
    assert_string_equal(json_string_value(json_array_get(json_object_get(cj, "phone"), 0)),
                        "+3221234567");
    assert_string_equal(json_string_value(json_object_get(cj, "postcode")), "1000");
    json_decref(cj);
    json_decref(f);
    /* a record from France in the same CRM */
    f = json_pack("{s:s,s:s,s:s,s:s}", "id", "2", "tel", "06 12 34 56 78", "cp", "1000", "pays",
                  "France");
    nv_buf_reset(&c);
    nv_buf_reset(&x);
    assert_int_equal(nv_mapping_apply_json(&m, f, &c, &x, why, sizeof(why)), 0);
    cj = json_loadb((char *)c.data, c.len, 0, NULL);
    assert_string_equal(json_string_value(json_array_get(json_object_get(cj, "phone"), 0)),
                        "+33612345678");
    assert_string_equal(json_string_value(json_object_get(cj, "postcode")), "01000");
    assert_string_equal(json_string_value(json_object_get(cj, "country")), "FR");
    json_decref(cj);
    json_decref(f);
    nv_buf_release(&c);
    nv_buf_release(&x);
    nv_mapping_release(&m);
}

static void
test_timestamp(void **state)
{
    static const char *ok[][2] = {
        { "2026-11-30", "2026-11-30" },
        { "2026-11-30T14:05:09Z", "2026-11-30T14:05:09Z" },
        { "2026-11-30 14:05", "2026-11-30T14:05:00" },
        { "30/11/2026 14:05:09", "2026-11-30T14:05:09" },
        { "2026-11-30T14:05:09.123+01:00", "2026-11-30T14:05:09+01:00" },
        { "2026-11-30T14:05:09-0500", "2026-11-30T14:05:09-05:00" },
        { "  ", "" },
    };
    static const char *bad[] = { "2026-13-01", "2026-11-30T24:00", "2026-11-30T10",
                                 "2026-11-30T10:00:00+25:00", "2026-11-30T10:00 UTC",
                                 "yesterday" };
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct nv_buf b = NV_BUF_INIT;
        int r = nv_norm_timestamp(ok[i][0], strlen(ok[i][0]), &b);
        if (r != 0)
            fail_msg("'%s' refused: %s", ok[i][0], nv_errmsg(r));
        assert_string_equal(b.data ? (char *)b.data : "", ok[i][1]);
        nv_buf_release(&b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nv_buf b = NV_BUF_INIT;
        if (nv_norm_timestamp(bad[i], strlen(bad[i]), &b) != NV_EFORMAT)
            fail_msg("'%s' accepted", bad[i]);
        assert_int_equal(b.len, 0);
        nv_buf_release(&b);
    }
}

/* suggest: a date column is updated_at only when its name says so (an
 * event date or a subscription start is not the time the record changed),
 * old dates are birth dates, and the match line names the criteria placed */
static void
test_suggest_dates_and_match(void **state)
{
    static const char csv[] =
        "id,nom,prenom,ddn,date evenement,abonne_depuis,derniere modification\n"
        "1,Martin,Jean,1960-02-03,2026-05-01,2024-01-02,2026-11-01 10:00:00\n"
        "2,Durand,Anne,1971-07-08,2026-04-11,2023-03-04,2026-10-01 11:00:00\n"
        "3,Petit,Luc,1982-09-10,2026-03-21,2022-05-06,2026-09-01 12:00:00\n"
        "4,Roux,Marie,1955-11-12,2026-02-14,2021-07-08,2026-08-01 13:00:00\n";
    struct nv_buf out = NV_BUF_INIT, unplaced = NV_BUF_INIT;
    char path[] = "/tmp/nova-test-suggest-XXXXXX";
    int fd = mkstemp(path);
    const char *t;

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, csv, sizeof(csv) - 1), (ssize_t)(sizeof(csv) - 1));
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(nv_mapping_suggest("acme", fd, 0, &out, &unplaced), 0);
    close(fd);
    unlink(path);
    assert_int_equal(nv_buf_add(&out, "", 1), 0);
    t = (const char *)out.data;
    assert_non_null(strstr(t, "field birth_date ddn"));
    assert_non_null(strstr(t, "field updated_at \"derniere modification\""));
    assert_null(strstr(t, "updated_at \"date evenement\""));
    assert_null(strstr(t, "updated_at abonne_depuis"));
    assert_non_null(strstr(t, "\nmatch birth_date\n"));
    /* the dates that are not updated_at become typed extension fields */
    assert_non_null(strstr(t, "\"date evenement\" date"));
    assert_non_null(strstr(t, "abonne_depuis date"));
    nv_buf_release(&out);
    nv_buf_release(&unplaced);
}

/* Typed extension fields: declared with a type, normalised at ingest, a
 * value that does not parse left out and counted; old mappings unchanged. */
static void
test_ext_types(void **state)
{
    static const char text[] =
        "nova-mapping 1\n"
        "entity ev\n"
        "key id\n"
        "field last_name nom\n"
        "ext event_date \"Date événement\" date\n"
        "ext places nb number\n"
        "ext vip vip yes/no\n"
        "ext note note\n"
        "ext kind kind text\n";
    static const char *const names[] = { "id", "nom", "Date événement", "nb", "vip", "note",
                                          "kind" };
    const char *vals[] = { "E1", "Roux", "05/03/2026", "1 234,50", "oui", " hello ", "x" };
    struct nv_rec_str n[7], v[7];
    struct nv_mapping m;
    struct nv_map_skipped skip;
    struct nv_buf c = NV_BUF_INIT, x = NV_BUF_INIT, b = NV_BUF_INIT;
    char why[400];
    json_t *xj;

    (void)state;
    nv_error_clear();
    assert_int_equal(nv_mapping_parse(text, strlen(text), "ev", &m), 0);
    assert_int_equal(nv_mapping_ext_type(&m, "event_date"), NV_EXT_DATE);
    assert_int_equal(nv_mapping_ext_type(&m, "places"), NV_EXT_NUMBER);
    assert_int_equal(nv_mapping_ext_type(&m, "vip"), NV_EXT_YESNO);
    assert_int_equal(nv_mapping_ext_type(&m, "note"), NV_EXT_TEXT);
    assert_int_equal(nv_mapping_ext_type(&m, "kind"), NV_EXT_TEXT);
    assert_int_equal(nv_mapping_ext_type(&m, "nope"), -1);
    for (int i = 0; i < 7; i++) {
        n[i].s = names[i], n[i].n = strlen(names[i]);
        v[i].s = vals[i], v[i].n = strlen(vals[i]);
    }
    assert_int_equal(nv_mapping_apply(&m, n, v, 7, &c, &x, NULL, &skip, why, sizeof(why)), 0);
    assert_int_equal(skip.n, 0);
    xj = json_loadb((char *)x.data, x.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(xj, "event_date")), "2026-03-05");
    assert_string_equal(json_string_value(json_object_get(xj, "places")), "1234.5");
    assert_string_equal(json_string_value(json_object_get(xj, "vip")), "1");
    assert_string_equal(json_string_value(json_object_get(xj, "note")), " hello "); /* as sent */
    json_decref(xj);
    /* values that do not parse: left out, counted, the record kept */
    v[2].s = "31/02/2026", v[2].n = 10;
    v[3].s = "beaucoup", v[3].n = 8;
    nv_buf_reset(&c);
    nv_buf_reset(&x);
    assert_int_equal(nv_mapping_apply(&m, n, v, 7, &c, &x, NULL, &skip, why, sizeof(why)), 0);
    assert_int_equal(skip.n, 2);
    assert_non_null(strstr(skip.reason[0], "column 'Date événement' (extension event_date)"));
    assert_non_null(strstr(skip.reason[1], "(extension places): number"));
    xj = json_loadb((char *)x.data, x.len, 0, NULL);
    assert_null(json_object_get(xj, "event_date"));
    assert_null(json_object_get(xj, "places"));
    json_decref(xj);
    /* without skip, such a value rejects the record */
    nv_buf_reset(&c);
    nv_buf_reset(&x);
    assert_int_equal(nv_mapping_apply(&m, n, v, 7, &c, &x, NULL, NULL, why, sizeof(why)),
                     NV_EFORMAT);
    nv_mapping_release(&m);
    /* numbers */
    static const struct { const char *in, *out; } nums[] = {
        { "12", "12" }, { "-3,25", "-3.25" }, { "1.234,5", "1234.5" }, { "1,234.5", "1234.5" },
        { "10 000", "10000" }, { "0,0", "0" }, { "+7", "7" } };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        nv_buf_reset(&b);
        assert_int_equal(nv_ext_normalise(NV_EXT_NUMBER, nums[i].in, strlen(nums[i].in), &b), 0);
        assert_int_equal(nv_buf_add(&b, "", 1), 0);
        assert_string_equal((char *)b.data, nums[i].out);
    }
    static const char *const notnum[] = { "abc", "1-2", "--1", ",", "1e5", "12 ans" };
    for (size_t i = 0; i < sizeof(notnum) / sizeof(notnum[0]); i++) {
        nv_buf_reset(&b);
        assert_int_equal(nv_ext_normalise(NV_EXT_NUMBER, notnum[i], strlen(notnum[i]), &b),
                         NV_EFORMAT);
    }
    /* an unknown type is refused with its line */
    static const char bad[] = "nova-mapping 1\nentity ev\nkey id\next a b colour\n";
    assert_int_equal(nv_mapping_parse(bad, strlen(bad), "ev", &m), NV_EFORMAT);
    assert_non_null(strstr(nv_errmsg(NV_EFORMAT), "mapping line 4: unknown extension type"));
    nv_buf_release(&b);
    nv_buf_release(&c);
    nv_buf_release(&x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_check_columns),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_skip_bad_values),
        cmocka_unit_test(test_entity_country),
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_suggest_dates_and_match),
        cmocka_unit_test(test_ext_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
