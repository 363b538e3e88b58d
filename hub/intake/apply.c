/*
 * apply.c - one bundle's change records into the store (apply.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../formats/errors.h"
#include "../../formats/log.h"
#include "../../formats/progress.h"
#include "../../formats/util.h"
#include "../gdpr/gdpr.h"
#include "../golden/golden.h"
#include "../link/link.h"
#include "../model/mapping.h"
#include "../model/normalize.h"
#include "../model/recparse.h"
#include "apply.h"

void
nv_apply_ctx_release(struct nv_apply_ctx *a)
{
    for (size_t i = 0; i < a->ncols; i++)
        free(a->cols[i]);
    free(a->cols);
    a->cols = NULL;
    a->ncols = a->capcols = 0;
    nv_buf_release(&a->cb);
    nv_buf_release(&a->xb);
    nv_buf_release(&a->vb);
    nv_buf_release(&a->scratch);
    nv_buf_release(&a->raw);
    free(a->rec);
    a->rec = NULL;
    json_decref(a->suppressed);
    a->suppressed = NULL;
    json_decref(a->agent_reasons);
    a->agent_reasons = NULL;
}

static int
put_reject(MDB_txn *txn, const struct nv_hstore *s, const struct nv_buf *k,
           const struct nv_manifest *m, uint64_t line, const char *reason)
{
    json_t *v = json_pack("{s:I,s:I,s:s}", "seq", (json_int_t)m->seq, "line",
                          (json_int_t)line, "reason", reason);
    int r;

    if (v == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    r = nv_hstore_put_json_counted(txn, s, s->rejects, k, v);
    json_decref(v);
    return r;
}

/* The values of a stored record that did not parse (none: the entry goes). */
static int put_unnorm(MDB_txn *txn, const struct nv_hstore *s, const struct nv_buf *k,
                      const struct nv_manifest *m, uint64_t line,
                      const struct nv_map_skipped *skip);

static int
dump_to_buf(const char *p, size_t n, void *ctx)
{
    return nv_buf_add(ctx, p, n) < 0 ? -1 : 0;
}

/* The full JSON parser's reading of a line the fast reader did not take,
 * into the same shape.  *why gets a reject reason when the line is JSON but
 * not a usable record. */
static int
slow_parse(const char *line, size_t len, json_t **keep, struct nv_rec *rec,
           struct nv_buf *raw, const char **why)
{
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL), *f, *v;
    struct nv_rec_str *dst[6] = { &rec->op, &rec->key, &rec->source, &rec->order,
                                  &rec->outcome, &rec->reason };
    static const char *const names[] = { "op", "key", "source", "order", "outcome",
                                         "reason" };
    const char *name;

    *keep = o;
    *why = NULL;
    rec->nfields = 0;
    rec->has_fields = 0;
    if (!json_is_object(o)) {
        *why = "not a JSON change record";
        return 0;
    }
    for (int i = 0; i < 6; i++) {
        v = json_object_get(o, names[i]);
        dst[i]->s = json_string_value(v);
        dst[i]->n = dst[i]->s ? json_string_length(v) : 0;
        if (dst[i]->s != NULL && memchr(dst[i]->s, 0, dst[i]->n) != NULL)
            *why = "a NUL character in a record's op, key or source";
    }
    f = json_object_get(o, "fields");
    if (f == NULL)
        return 0;
    if (!json_is_object(f)) {
        *why = "fields is not an object";
        return 0;
    }
    if (json_object_size(f) > NV_REC_MAX_FIELDS) {
        *why = "more than 1024 fields";
        return 0;
    }
    rec->has_fields = 1;
    json_object_foreach(f, name, v) {
        if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v))) {
            *why = "a field value is not text";
            return 0;
        }
        rec->name[rec->nfields].s = name;
        rec->name[rec->nfields].n = strlen(name);
        rec->value[rec->nfields].s = json_string_value(v);
        rec->value[rec->nfields].n = json_string_length(v);
        rec->nfields++;
    }
    nv_buf_reset(raw);
    if (json_dump_callback(f, dump_to_buf, raw, JSON_COMPACT) < 0)
        return nv_fail(NV_ENOMEM, "out of memory");
    rec->fields_raw = (const char *)raw->data;
    rec->fields_raw_len = raw->len;
    return 0;
}

static void
note_rec_columns(struct nv_apply_ctx *a, const struct nv_rec *rec)
{
    for (size_t i = 0; i < rec->nfields; i++) {
        const char *name = rec->name[i].s;
        size_t j;
        /* a bundle's records mostly share the columns, in the same order */
        if (i < a->ncols && strcmp(a->cols[i], name) == 0)
            continue;
        for (j = 0; j < a->ncols; j++)
            if (strcmp(a->cols[j], name) == 0)
                break;
        if (j == a->ncols && a->ncols < NV_MAP_MAX_COLUMNS) {
            if (a->ncols == a->capcols) {
                a->capcols = a->capcols ? 2 * a->capcols : 32;
                a->cols = realloc(a->cols, a->capcols * sizeof(char *));
                if (a->cols == NULL)
                    abort();
            }
            if ((a->cols[a->ncols++] = strdup(name)) == NULL)
                abort();
        }
    }
}

/* The record's match values (hub/link.h order) from its normalised values:
 * the five default criteria, and those the mapping adds. */
static int
link_person(struct nv_apply_ctx *a, const struct nv_buf *k)
{
    const struct nv_mapping *m = a->map;
    const struct nv_norm_values *nv = a->nv;
    const char *p[14];
    struct nv_buf street = NV_BUF_INIT;
    int r;

    memset(p, 0, sizeof(p));
    p[0] = nv_norm_value(nv, NV_F_FIRST_NAME, 0);
    p[1] = nv_norm_value(nv, NV_F_LAST_NAME, 0);
    p[2] = nv_norm_value(nv, NV_F_BIRTH_NAME, 0);
    for (unsigned i = 0; i < 3; i++) {
        p[3 + i] = nv_norm_value(nv, NV_F_EMAIL, i);
        p[6 + i] = nv_norm_value(nv, NV_F_PHONE, i);
    }
    p[9] = nv_norm_value(nv, NV_F_POSTCODE, 0);
    if (m->match[NV_F_CITY])
        p[10] = nv_norm_value(nv, NV_F_CITY, 0);
    if (m->match[NV_F_ADDRESS] && nv_norm_value(nv, NV_F_ADDRESS, 0) != NULL) {
        const char *ad = nv_norm_value(nv, NV_F_ADDRESS, 0);
        if (nv_norm_name(ad, strlen(ad), &street) == 0 && street.len > 0)
            p[11] = (const char *)street.data;
    }
    if (m->match[NV_F_BIRTH_DATE])
        p[12] = nv_norm_value(nv, NV_F_BIRTH_DATE, 0);
    if (m->match[NV_F_PERSON_ID])
        p[13] = nv_norm_value(nv, NV_F_PERSON_ID, 0);
    r = nv_link_set_add(a->links, (char *)k->data, k->len, p);
    nv_buf_release(&street);
    return r;
}

/* A line with no usable record key: counted, and kept as a reject under a
 * key of its own (the bundle's seq and the line number). */
static inline int
reject_keyless(MDB_txn *txn, const struct nv_hstore *s, const struct nv_manifest *m,
               uint64_t lineno, struct nv_buf *k, const char *why, struct nv_apply_stats *st)
{
    char tag[48];
    int r;

    st->rejected++;
    snprintf(tag, sizeof(tag), "\x01%llu:%llu", (unsigned long long)m->seq,
             (unsigned long long)lineno);
    if ((r = nv_hstore_key3(k, m->sender, "", tag)) == 0)
        r = put_reject(txn, s, k, m, lineno, why);
    return r;
}

/* A record of an acknowledgements bundle: the outcome (and reason) of an
 * order, stored in receipts under (sender, order, keyed hash of the record
 * key in hex: nv_gdpr_receipt_key), so no record key outlives an erasure
 * there. */
static inline int
apply_ack(MDB_txn *txn, const struct nv_hstore *s, const struct nv_manifest *m,
          uint64_t lineno, struct nv_buf *k, const struct nv_rec *rec,
          const struct nv_apply_ctx *a, struct nv_apply_stats *st)
{
    json_t *v;
    char hex[33];
    int r;

    if (strcmp(rec->op.s, "ack") != 0 || rec->order.s == NULL || rec->outcome.s == NULL) {
        st->rejected++;
        return put_reject(txn, s, k, m, lineno, "an acknowledgement without an "
                          "order or an outcome");
    }
    if (a->gkey == NULL)
        return nv_fail(NV_EINVAL, "acknowledgements need the suppression key");
    nv_gdpr_receipt_hash(a->gkey, m->sender, rec->key.s, hex);
    if (nv_hstore_key3(k, m->sender, rec->order.s, hex) < 0) {
        st->rejected++;
        return 0;
    }
    v = json_pack("{s:s,s:s?,s:I}", "outcome", rec->outcome.s, "reason",
                  rec->reason.s, "seq", (json_int_t)m->seq);
    if (v == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    r = nv_hstore_put_json(txn, s->receipts, k, v);
    json_decref(v);
    st->acks += r == 0;
    return r;
}

/* A delete: the record, its reject and its values left out go, and the
 * links learn it. */
static inline int
apply_delete(MDB_txn *txn, const struct nv_hstore *s, const struct nv_buf *k,
             struct nv_apply_ctx *a, struct nv_apply_stats *st)
{
    MDB_val kv = { k->len, k->data }, ov;
    int r = 0, rc = mdb_get(txn, s->records, &kv, &ov);

    /* a record that was stored leaves a tombstone in the change log (one
     * never stored, or erased, does not: its key is not kept) */
    if (rc == 0 && (r = nv_hstore_tally(txn, s, s->records, k->data, k->len, &ov, NULL)) == 0)
        rc = mdb_del(txn, s->records, &kv, NULL);
    if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
        r = nv_hmdb_fail(rc, "cannot delete a record");
    else if (r == 0 && rc == 0)
        r = nv_hstore_touch(txn, s, NV_CHG_RECORD, k->data, k->len);
    if (r == 0 &&
        (r = nv_hstore_put_counted(txn, s, s->rejects, k->data, k->len, NULL)) == 0 &&
        (r = nv_hstore_put_counted(txn, s, s->unnorm, k->data, k->len, NULL)) == 0)
        st->deletes++;
    if (r == 0 && a->links != NULL)
        r = nv_link_set_add(a->links, (char *)k->data, k->len, NULL);
    return r;
}

/* With the entity's mapping: the record's common fields into a->cb, a->xb
 * and a->nv (skip: values left out), then the head of the stored value
 * into a->vb.  1 when the record is not stored (a reject, kept; or a person
 * erased at their request, listed in a->suppressed), 0 to go on, or an
 * NV_E code. */
static inline int
map_record(MDB_txn *txn, const struct nv_hstore *s, const struct nv_manifest *m,
           uint64_t lineno, const struct nv_buf *k, struct nv_apply_ctx *a,
           struct nv_apply_stats *st, struct nv_map_skipped *skip)
{
    const struct nv_rec *rec = a->rec;
    char reason[400];
    int r;

    nv_buf_reset(&a->cb);
    nv_buf_reset(&a->xb);
    r = nv_mapping_apply(a->map, rec->name, rec->value, rec->nfields, &a->cb, &a->xb,
                         a->nv, skip, reason, sizeof(reason));
    if (r == NV_EFORMAT) {
        st->rejected++;
        return (r = put_reject(txn, s, k, m, lineno, reason)) < 0 ? r : 1;
    }
    if (r < 0)
        return r;
    /* a person erased at their request does not come back */
    if (a->gkey != NULL && a->gdb != NULL) {
        const char *ke, *ks, *kk;
        if (nv_hstore_key_split((char *)k->data, k->len, &ke, &ks, &kk) == 0 &&
            nv_gdpr_suppressed(txn, a->gdb, a->gkey, a->nv, m->sender, kk)) {
            st->suppressed++;
            if (a->suppressed == NULL)
                a->suppressed = json_array();
            json_array_append_new(a->suppressed, json_pack("[s,s]", ks, kk));
            return 1;
        }
    }
    if ((r = nv_buf_adds(&a->vb, "{\"c\":")) < 0 ||
        (r = nv_buf_add(&a->vb, a->cb.data, a->cb.len)) < 0 ||
        (r = nv_buf_adds(&a->vb, ",\"fields\":")) < 0)
        return r;
    return 0;
}

/* The rest of the stored value in a->vb, after its head: the source fields
 * as they came, then the mapping's commit, the seq and the extensions. */
static inline int
record_tail(struct nv_apply_ctx *a, const struct nv_manifest *m)
{
    const struct nv_rec *rec = a->rec;
    int r;

    if ((r = nv_buf_add(&a->vb, rec->fields_raw, rec->fields_raw_len)) < 0)
        return r;
    if (a->map != NULL)
        r = nv_buf_addf(&a->vb, ",\"map\":\"%s\",\"seq\":%llu,\"x\":", a->map_commit,
                        (unsigned long long)m->seq);
    else
        r = nv_buf_addf(&a->vb, ",\"seq\":%llu}", (unsigned long long)m->seq);
    if (r == 0 && a->map != NULL && ((r = nv_buf_add(&a->vb, a->xb.data, a->xb.len)) < 0 ||
                                     (r = nv_buf_adds(&a->vb, "}")) < 0))
        return r;
    return r;
}

/* a->vb stored under k in records; the version it replaces goes to golden
 * first (what changed decides the updates). */
static inline int
put_record(MDB_txn *txn, const struct nv_hstore *s, const struct nv_buf *k,
           struct nv_apply_ctx *a)
{
    MDB_val kv = { k->len, k->data }, vv = { a->vb.len, a->vb.data }, ov;
    int rc = mdb_get(txn, s->records, &kv, &ov), r;

    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot read a record");
    if (rc == 0 && a->prev != NULL)
        nv_golden_prev(a->prev, (char *)k->data, k->len, ov.mv_data, ov.mv_size);
    /* the status counters, in this transaction */
    if ((r = nv_hstore_tally(txn, s, s->records, k->data, k->len, rc == 0 ? &ov : NULL,
                             &vv)) < 0)
        return r;
    rc = mdb_put(txn, s->records, &kv, &vv, 0);
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot write a record");
    return nv_hstore_touch(txn, s, NV_CHG_RECORD, k->data, k->len);
}

/* An upsert: mapped when the entity has a mapping (else stored unmapped),
 * stored, its reject cleared, its values left out noted, the links told. */
static inline int
apply_upsert(MDB_txn *txn, const struct nv_hstore *s, const struct nv_manifest *m,
             uint64_t lineno, const struct nv_buf *k, struct nv_apply_ctx *a,
             struct nv_apply_stats *st)
{
    struct nv_map_skipped skip;
    int r;

    skip.n = 0;
    note_rec_columns(a, a->rec);
    nv_buf_reset(&a->vb);
    if (a->map != NULL) {
        if ((r = map_record(txn, s, m, lineno, k, a, st, &skip)) != 0)
            return r < 0 ? r : 0;
    } else {
        st->unmapped++;
        if ((r = nv_buf_adds(&a->vb, "{\"fields\":")) < 0)
            return r;
    }
    if ((r = record_tail(a, m)) < 0 || (r = put_record(txn, s, k, a)) < 0)
        return r;
    if ((r = nv_hstore_put_counted(txn, s, s->rejects, k->data, k->len, NULL)) == 0 &&
        (r = put_unnorm(txn, s, k, m, lineno, &skip)) == 0) {
        st->upserts++;
        st->unnormalised += skip.n;
    }
    if (r == 0 && a->links != NULL && a->map != NULL && a->nv != NULL)
        r = link_person(a, k);
    return r;
}

static int
apply_line(MDB_txn *txn, const struct nv_hstore *s, const struct nv_manifest *m,
           const char *line, size_t len, uint64_t lineno, struct nv_buf *k,
           struct nv_apply_ctx *a, struct nv_apply_stats *st)
{
    struct nv_rec *rec = a->rec;
    json_t *keep = NULL;
    const char *why = NULL, *src;
    int r = 0;

    if (nv_rec_parse(line, len, rec, &a->scratch) < 0 &&
        (r = slow_parse(line, len, &keep, rec, &a->raw, &why)) < 0)
        goto out;
    st->lines++;
    if (rec->op.s != NULL && rec->op.n == 6 && memcmp(rec->op.s, "upsert", 6) == 0)
        st->op_upserts++;
    else if (rec->op.s != NULL && rec->op.n == 6 && memcmp(rec->op.s, "delete", 6) == 0)
        st->op_deletes++;
    src = rec->source.s ? rec->source.s : "";
    /* a receipt whose record was erased since: its key is a keyed hash
     * (nv_gdpr_purge_dir), its request complete */
    if (m->kind == NV_KIND_ACKS && rec->key.s == NULL && memmem(line, len, "\"key_hash\"", 10))
        goto out;
    if (why == NULL && (rec->op.s == NULL || rec->key.s == NULL || rec->key.n == 0))
        why = rec->key.s == NULL || rec->key.n == 0 ? "a change record without a key"
                                                    : "a change record without an op";
    if (why == NULL && nv_hstore_key3(k, m->sender, src, rec->key.s) < 0)
        why = "a record key over the store's 500-byte limit";
    if (why != NULL)
        r = reject_keyless(txn, s, m, lineno, k, why, st);
    else if (m->kind == NV_KIND_ACKS)
        r = apply_ack(txn, s, m, lineno, k, rec, a, st);
    else if (strcmp(rec->op.s, "delete") == 0)
        r = apply_delete(txn, s, k, a, st);
    else if (strcmp(rec->op.s, "upsert") != 0 || !rec->has_fields) {
        st->rejected++;
        r = put_reject(txn, s, k, m, lineno, strcmp(rec->op.s, "upsert") != 0
                                                 ? "unknown op (upsert or delete)"
                                                 : "an upsert without fields");
    } else
        r = apply_upsert(txn, s, m, lineno, k, a, st);
out:
    json_decref(keep);
    return r;
}

int
nv_apply_file(MDB_txn *txn, const struct nv_hstore *s,
                     const struct nv_manifest *m, const char *path,
                     struct nv_apply_ctx *a, struct nv_apply_stats *st)
{
    FILE *f;
    struct nv_buf k = NV_BUF_INIT;
    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0;
    ssize_t n;
    int r = 0;

    if (a->rec == NULL && (a->rec = malloc(sizeof(*a->rec))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if ((f = fopen(path, "re")) == NULL)
        return nv_fail_errno("cannot open a staged payload file");
    while (r == 0 && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n > 0)
            r = apply_line(txn, s, m, line, (size_t)n, lineno, &k, a, st);
        nv_progress_add(1);
        nv_hstore_unmap_every(txn, lineno - 1, 2048);
    }
    if (r == 0 && ferror(f))
        r = nv_fail_errno("cannot read a staged payload file");
    free(line);
    fclose(f);
    nv_buf_release(&k);
    return r;
}

int
nv_apply_bundle_done(MDB_txn *txn, const struct nv_hstore *s,
                      const struct nv_manifest *m, struct nv_apply_ctx *a,
                      const struct nv_apply_stats *st)
{
    struct nv_buf k = NV_BUF_INIT;
    char bk[128], when[21];
    json_t *v;
    int r = 0;

    nv_hstore_bundle_key(bk, sizeof(bk), m->sender, m->seq);
    v = json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "kind",
                  nv_kind_name(m->kind), "map", a->map_commit, "linked",
                  (json_int_t)st->linked, "review", (json_int_t)st->review,
                  "suppressed", (json_int_t)st->suppressed,
                  "upserts", (json_int_t)st->upserts, "deletes",
                  (json_int_t)st->deletes, "acks", (json_int_t)st->acks, "rejected",
                  (json_int_t)st->rejected, "unmapped", (json_int_t)st->unmapped,
                  "not_normalised", (json_int_t)st->unnormalised,
                  "applied", nv_time_format(nv_now(), when));
    if (v == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if (a->ncols > 0) {
        /* the columns its records carried: NovaMappingColumnsChanged
         * compares the last bundle's with the mapping */
        json_t *cols = json_array();
        for (size_t i = 0; i < a->ncols; i++)
            json_array_append_new(cols, json_string(a->cols[i]));
        json_object_set_new(v, "columns", cols);
    }
    if (a->agent_rejects > 0) {
        json_object_set_new(v, "agent_rejects", json_integer((json_int_t)a->agent_rejects));
        if (a->agent_reasons != NULL)
            json_object_set(v, "agent_reasons", a->agent_reasons);
    }
    if ((r = nv_buf_adds(&k, bk)) == 0)
        r = nv_hstore_put_json(txn, s->bstats, &k, v);
    json_decref(v);
    for (size_t i = 0; r == 0 && i < a->ncols; i++) {
        MDB_val kv, vv = { 0, (void *)"" };
        int rc;
        nv_buf_reset(&k);
        if (nv_buf_add(&k, m->sender, strlen(m->sender) + 1) < 0 ||
            nv_buf_adds(&k, a->cols[i]) < 0 || k.len > 500)
            continue;
        kv.mv_size = k.len;
        kv.mv_data = k.data;
        if ((rc = mdb_put(txn, s->columns, &kv, &vv, 0)) != 0)
            r = nv_hmdb_fail(rc, "cannot write columns");
    }
    nv_buf_release(&k);
    return r;
}

static int
put_unnorm(MDB_txn *txn, const struct nv_hstore *s, const struct nv_buf *k,
           const struct nv_manifest *m, uint64_t line, const struct nv_map_skipped *skip)
{
    json_t *v, *a;
    int r;

    if (skip->n == 0)
        return nv_hstore_put_counted(txn, s, s->unnorm, k->data, k->len, NULL);
    if ((a = json_array()) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (unsigned i = 0; i < skip->n && i < NV_MAP_SKIP_KEEP; i++)
        json_array_append_new(a, json_string(skip->reason[i]));
    v = json_pack("{s:I,s:I,s:I,s:o}", "seq", (json_int_t)m->seq, "line", (json_int_t)line,
                  "n", (json_int_t)skip->n, "reasons", a);
    if (v == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    r = nv_hstore_put_json_counted(txn, s, s->unnorm, k, v);
    json_decref(v);
    return r;
}

/* The bundle seq a stored value (records, rejects) names; 0 when none. */
static uint64_t
stored_seq(const MDB_val *v)
{
    json_t *o = json_loadb(v->mv_data, v->mv_size, 0, NULL);
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));

    json_decref(o);
    return seq;
}

int
nv_apply_reconcile(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                   const char *source, uint64_t base, struct nv_apply_ctx *a,
                   struct nv_apply_stats *st)
{
    struct nv_buf prefix = NV_BUF_INIT, gone = NV_BUF_INIT, k = NV_BUF_INIT;
    MDB_cursor *c = NULL;
    MDB_val kv, vv, rv;
    uint64_t before = st->reconciled;
    int r, rc;

    if ((r = nv_hstore_key3(&prefix, entity, source, "")) < 0)
        goto out;
    /* the records (and lone rejects) no bundle after base wrote: not in the
     * snapshot.  A record whose new version the snapshot held but that was
     * rejected keeps its stored version, as any rejected update does. */
    for (int db = 0; db < 2 && r == 0; db++) {
        MDB_dbi dbi = db == 0 ? s->records : s->rejects;
        if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
            r = nv_hmdb_fail(rc, "cannot read");
            break;
        }
        kv.mv_size = prefix.len;
        kv.mv_data = prefix.data;
        for (rc = mdb_cursor_get(c, &kv, &vv, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(c, &kv, &vv, MDB_NEXT)) {
            if (kv.mv_size < prefix.len || memcmp(kv.mv_data, prefix.data, prefix.len) != 0)
                break;
            if (stored_seq(&vv) > base)
                continue;
            if (db == 0 && mdb_get(txn, s->rejects, &kv, &rv) == 0 && stored_seq(&rv) > base)
                continue;
            if (db == 1 && mdb_get(txn, s->records, &kv, &rv) == 0)
                continue; /* the record's own turn (db 0) decides */
            if ((r = nv_buf_add(&gone, &kv.mv_size, sizeof(kv.mv_size))) < 0 ||
                (r = nv_buf_add(&gone, kv.mv_data, kv.mv_size)) < 0)
                break;
        }
        mdb_cursor_close(c);
        c = NULL;
    }
    for (size_t off = 0; r == 0 && off < gone.len;) {
        size_t n;
        memcpy(&n, gone.data + off, sizeof(n));
        off += sizeof(n);
        nv_buf_reset(&k);
        if ((r = nv_buf_add(&k, gone.data + off, n)) < 0)
            break;
        off += n;
        if ((r = apply_delete(txn, s, &k, a, st)) == 0)
            st->reconciled++;
    }
    if (r == 0 && st->reconciled > before)
        nv_info("apply", "snapshot of %s source %s: %llu record(s) it no longer holds deleted",
                entity, source, (unsigned long long)(st->reconciled - before));
out:
    nv_buf_release(&prefix);
    nv_buf_release(&gone);
    nv_buf_release(&k);
    return r;
}
