/*
 * lake.c - the data-lake export (lake.h): the change log's entries after a
 * cursor (or every live item) as partitioned NDJSON or CSV files with a
 * BigQuery schema, a manifest and SHA256SUMS, in a batch directory renamed
 * into place once whole.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>

#include "../../formats/contact.h"
#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/util.h"
#include "../core/hub.h"
#include "../gdpr/gdpr.h"
#include "../golden/golden.h"
#include "../lib/hmap.h"
#include "../link/link.h"
#include "../model/rules.h"
#include "../store/store.h"
#include "lake.h"

#define PART_ROWS_DEFAULT 1000000
#define FLUSH_AT (1u << 20)

int
nv_lake_cursor(const char *text, uint64_t *out)
{
    if (nv_parse_u64(text, out) < 0)
        return nv_fail(NV_EFORMAT, "'%.40s' is not a cursor: a cursor is the number a previous "
                       "export printed (0 for everything)", text);
    return 0;
}

/* ---- columns ---- */

/* A column of the CSV files: where its value is in a row (up to three
 * member names), its BigQuery type and mode. */
struct ccol {
    char name[48];
    const char *p[3];
    const char *type, *mode;
};

/* One output file of a partition (an entity, or "" for golden), and the
 * part it is at. */
struct part {
    char name[NV_NAME_MAX + 1];
    unsigned n;
    int open;
    char rel[NV_NAME_MAX + 64];
    struct nv_atomic a;
    struct nv_buf buf;
    crypto_hash_sha256_state sha;
    uint64_t rows, ups, dels, bytes;
};

struct lake {
    struct nv_hub *h;
    const struct nv_lake_opts *o;
    MDB_txn *txn;
    char *tmp;             /* the batch being written (.batch=...tmp) */
    struct part *parts;
    size_t nparts;
    json_t *files;         /* the manifest's file entries */
    struct nv_buf sums;    /* SHA256SUMS */
    struct ccol cols[64];
    size_t ncols;
    struct nv_csv_dialect dl;
    struct nv_hmap people; /* golden: the RCUs written (rcu_id) */
    uint64_t part_rows;
    struct nv_lake_result *res;
};

static void
col(struct lake *x, const char *name, const char *a, const char *b, const char *c,
    const char *type, const char *mode)
{
    struct ccol *k = &x->cols[x->ncols++];

    snprintf(k->name, sizeof(k->name), "%s", name);
    k->p[0] = a, k->p[1] = b, k->p[2] = c;
    k->type = type;
    k->mode = mode;
}

/* The columns of x->o->what (CSV, and the schema's top level). */
static void
columns(struct lake *x)
{
    const char *w = x->o->what;

    col(x, "nova_op", "nova_op", NULL, NULL, "STRING", "REQUIRED");
    col(x, "nova_seq", "nova_seq", NULL, NULL, "INTEGER", "REQUIRED");
    if (strcmp(w, "golden") == 0) {
        col(x, "rcu", "rcu", NULL, NULL, "STRING", "REQUIRED");
        for (int f = 0; f < NV_F_COUNT; f++)
            if (nv_golden_field(f))
                col(x, nv_fields[f].name, "fields", nv_fields[f].name, "value", "STRING",
                    "NULLABLE");
        col(x, "records", "records", NULL, NULL, "JSON", "NULLABLE");
        col(x, "rules", "rules", NULL, NULL, "STRING", "NULLABLE");
        col(x, "flags", "flags", NULL, NULL, "JSON", "NULLABLE");
        col(x, "merged_into", "merged_into", NULL, NULL, "STRING", "NULLABLE");
        return;
    }
    col(x, "record_id", "record_id", NULL, NULL, "STRING", "REQUIRED");
    col(x, "entity", "entity", NULL, NULL, "STRING", "REQUIRED");
    col(x, "source", "source", NULL, NULL, "STRING", "REQUIRED");
    col(x, "key", "key", NULL, NULL, "STRING", "NULLABLE");
    col(x, "rcu", "rcu", NULL, NULL, "STRING", "NULLABLE");
    if (strcmp(w, "links") == 0) {
        col(x, "status", "status", NULL, NULL, "STRING", "NULLABLE");
        col(x, "score", "score", NULL, NULL, "FLOAT", "NULLABLE");
        return;
    }
    col(x, "seq", "seq", NULL, NULL, "INTEGER", "NULLABLE");
    col(x, "mapping", "mapping", NULL, NULL, "STRING", "NULLABLE");
    for (int f = 0; f < NV_F_COUNT; f++)
        col(x, nv_fields[f].name, "common", nv_fields[f].name, NULL,
            nv_fields[f].multi && !x->o->csv ? "STRING" : nv_fields[f].multi ? "JSON"
                                                                              : "STRING",
            nv_fields[f].multi && !x->o->csv ? "REPEATED" : "NULLABLE");
    col(x, "ext", "ext", NULL, NULL, "JSON", "NULLABLE");
    col(x, "fields", "fields", NULL, NULL, "JSON", "NULLABLE");
}

static json_t *
field(const char *name, const char *type, const char *mode, json_t *sub)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "name", name, "type", type, "mode", mode);

    if (sub != NULL)
        json_object_set_new(o, "fields", sub);
    return o;
}

/* The BigQuery JSON schema of the batch's files: the CSV columns as they
 * are, or for NDJSON the nested records (common fields, golden fields). */
static json_t *
schema(struct lake *x)
{
    json_t *s = json_array();

    for (size_t i = 0; i < x->ncols; i++) {
        const struct ccol *c = &x->cols[i];
        if (x->o->csv || c->p[1] == NULL) {
            json_array_append_new(s, field(c->name, c->type, c->mode, NULL));
        } else if (strcmp(c->p[0], "common") == 0) {
            json_t *sub = json_array();
            for (; i < x->ncols && x->cols[i].p[1] != NULL; i++)
                json_array_append_new(sub, field(x->cols[i].name, x->cols[i].type,
                                                 x->cols[i].mode, NULL));
            i--;
            json_array_append_new(s, field("common", "RECORD", "NULLABLE", sub));
        } else { /* golden fields: value and where it came from */
            json_t *sub = json_array();
            for (; i < x->ncols && x->cols[i].p[1] != NULL; i++) {
                json_t *w = json_array();
                const char *const parts[] = { "value", "entity", "source", "key" };
                for (size_t j = 0; j < 4; j++)
                    json_array_append_new(w, field(parts[j], "STRING", "NULLABLE", NULL));
                json_array_append_new(w, field("time", "TIMESTAMP", "NULLABLE", NULL));
                json_array_append_new(sub, field(x->cols[i].name, "RECORD", "NULLABLE", w));
            }
            i--;
            json_array_append_new(s, field("fields", "RECORD", "NULLABLE", sub));
        }
    }
    if (!x->o->csv && strcmp(x->o->what, "golden") == 0) {
        /* records as a repeated record in NDJSON */
        size_t i;
        json_t *e;
        json_array_foreach(s, i, e) {
            if (strcmp(json_string_value(json_object_get(e, "name")), "records") == 0) {
                json_t *sub = json_array();
                const char *const parts[] = { "entity", "source", "key", "status" };
                for (size_t j = 0; j < 4; j++)
                    json_array_append_new(sub, field(parts[j], "STRING", "NULLABLE", NULL));
                json_array_set_new(s, i, field("records", "RECORD", "REPEATED", sub));
                break;
            }
        }
    }
    return s;
}

/* ---- files ---- */

static int
part_flush(struct part *p)
{
    int r;

    if (p->buf.len == 0)
        return 0;
    crypto_hash_sha256_update(&p->sha, p->buf.data, p->buf.len);
    if ((r = nv_write_all(p->a.fd, p->buf.data, p->buf.len)) < 0)
        return nv_fail(r, "cannot write %s: %s", p->rel, strerror(errno));
    p->bytes += p->buf.len;
    nv_buf_reset(&p->buf);
    return 0;
}

/* "<hex>  <rel>" into SHA256SUMS and {path, rows...} into the manifest. */
static void
note_file(struct lake *x, const char *rel, const uint8_t sha[32], uint64_t bytes, json_t *counts)
{
    char hex[65];
    json_t *e = counts ? counts : json_object();

    nv_hex(sha, 32, hex);
    if (nv_buf_addf(&x->sums, "%s  %s\n", hex, rel) < 0)
        abort();
    json_object_set_new(e, "path", json_string(rel));
    json_object_set_new(e, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(e, "sha256", json_string(hex));
    json_array_append_new(x->files, e);
}

static int
part_close(struct lake *x, struct part *p)
{
    uint8_t sha[32];
    int r;

    if (!p->open)
        return 0;
    p->open = 0;
    if ((r = part_flush(p)) < 0) {
        nv_atomic_abort(&p->a);
        return r;
    }
    crypto_hash_sha256_final(&p->sha, sha);
    if ((r = nv_atomic_commit(&p->a, 1)) < 0)
        return r;
    note_file(x, p->rel, sha, p->bytes,
              json_pack("{s:s?,s:I,s:I,s:I}", "partition", p->name[0] ? p->name : NULL,
                        "rows", (json_int_t)p->rows, "upserts", (json_int_t)p->ups,
                        "deletes", (json_int_t)p->dels));
    x->res->files++;
    p->n++;
    return 0;
}

/* The CSV header of the columns, into p's buffer. */
static int
csv_header(struct lake *x, struct part *p)
{
    const char *v[64];

    for (size_t i = 0; i < x->ncols; i++)
        v[i] = x->cols[i].name;
    return nv_csv_write_row(&p->buf, &x->dl, v, x->ncols);
}

static int
part_open(struct lake *x, struct part *p)
{
    char *path, *dir = NULL;
    const char *ext = x->o->csv ? "csv" : "ndjson";
    int r;

    if (p->name[0] != '\0') {
        snprintf(p->rel, sizeof(p->rel), "entity=%s/part-%05u.%s", p->name, p->n, ext);
        char sub[NV_NAME_MAX + 16];
        snprintf(sub, sizeof(sub), "entity=%s", p->name);
        dir = nv_path_join(x->tmp, sub);
        r = nv_mkdir_p(dir, 0700);
        free(dir);
        if (r < 0)
            return r;
    } else {
        snprintf(p->rel, sizeof(p->rel), "part-%05u.%s", p->n, ext);
    }
    path = nv_path_join(x->tmp, p->rel);
    r = nv_atomic_open(&p->a, path, 0600);
    free(path);
    if (r < 0)
        return r;
    p->open = 1;
    p->rows = p->ups = p->dels = p->bytes = 0;
    crypto_hash_sha256_init(&p->sha);
    return x->o->csv ? csv_header(x, p) : 0;
}

/* The partition of entity (golden: ""), its file open. */
static int
part_of(struct lake *x, const char *entity, struct part **out)
{
    struct part *p = NULL;

    for (size_t i = 0; i < x->nparts; i++)
        if (strcmp(x->parts[i].name, entity) == 0)
            p = &x->parts[i];
    if (p == NULL) {
        if (entity[0] != '\0' && !nv_name_valid(entity))
            return nv_fail(NV_ECORRUPT, "hub store: an entity name that cannot name a file");
        if ((x->parts = realloc(x->parts, (x->nparts + 1) * sizeof(*p))) == NULL)
            abort();
        p = &x->parts[x->nparts++];
        memset(p, 0, sizeof(*p));
        snprintf(p->name, sizeof(p->name), "%s", entity);
    }
    if (p->open && p->rows >= x->part_rows) {
        int r = part_close(x, p);
        if (r < 0)
            return r;
    }
    *out = p;
    return p->open ? 0 : part_open(x, p);
}

/* One CSV cell of a row's value. */
static const char *
cell(json_t *v, char *num, size_t n, char **dump)
{
    *dump = NULL;
    if (v == NULL || json_is_null(v))
        return "";
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(num, n, "%lld", (long long)json_integer_value(v));
        return num;
    }
    if (json_is_real(v)) {
        snprintf(num, n, "%.9g", json_real_value(v));
        return num;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    *dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    return *dump ? *dump : "";
}

/* Write row (its reference taken) to entity's partition. */
static int
emit(struct lake *x, const char *entity, json_t *row)
{
    struct part *p = NULL;
    int del = strcmp(json_string_value(json_object_get(row, "nova_op")), "delete") == 0;
    int r;

    if ((r = part_of(x, entity, &p)) < 0) {
        json_decref(row);
        return r;
    }
    if (x->o->csv) {
        const char *v[64];
        char nums[64][32], *dumps[64];
        for (size_t i = 0; i < x->ncols; i++) {
            json_t *e = row;
            for (int j = 0; j < 3 && x->cols[i].p[j] != NULL && e != NULL; j++)
                e = json_object_get(e, x->cols[i].p[j]);
            v[i] = cell(e, nums[i], sizeof(nums[i]), &dumps[i]);
        }
        r = nv_csv_write_row(&p->buf, &x->dl, v, x->ncols);
        for (size_t i = 0; i < x->ncols; i++)
            free(dumps[i]);
    } else {
        char *t = json_dumps(row, JSON_COMPACT);
        r = t ? nv_buf_addf(&p->buf, "%s\n", t) : nv_fail(NV_ENOMEM, "out of memory");
        free(t);
    }
    json_decref(row);
    if (r < 0)
        return r;
    p->rows++;
    if (del) {
        p->dels++;
        x->res->deletes++;
    } else {
        p->ups++;
        x->res->upserts++;
    }
    return p->buf.len >= FLUSH_AT ? part_flush(p) : 0;
}

/* ---- rows ---- */

static json_t *
row_head(const char *op, uint64_t seq)
{
    return json_pack("{s:s,s:I}", "nova_op", op, "nova_seq", (json_int_t)seq);
}

/* A record's tombstone: its entity, source and record id, nothing else. */
static int
record_gone(struct lake *x, uint64_t seq, const char *e, const char *src, const char *id)
{
    json_t *row = row_head("delete", seq);

    json_object_set_new(row, "record_id", json_string(id));
    json_object_set_new(row, "entity", json_string(e));
    json_object_set_new(row, "source", json_string(src));
    return emit(x, e, row);
}

/* The common fields of a stored record, each a text (email and phone a
 * list of texts). */
static json_t *
common_of(json_t *c)
{
    json_t *out = json_object();

    for (int f = 0; f < NV_F_COUNT; f++) {
        json_t *v = json_object_get(c, nv_fields[f].name), *e;
        char num[32], *d;
        size_t i;
        if (v == NULL)
            continue;
        if (json_is_array(v)) {
            json_t *a = json_array();
            json_array_foreach(v, i, e) {
                const char *s = cell(e, num, sizeof(num), &d);
                json_array_append_new(a, json_string(s));
                free(d);
            }
            json_object_set_new(out, nv_fields[f].name, a);
        } else {
            const char *s = cell(v, num, sizeof(num), &d);
            json_object_set_new(out, nv_fields[f].name, json_string(s));
            free(d);
        }
    }
    return out;
}

/* The record (store key k, NUL-terminated, klen bytes) as a row: present,
 * an upsert; gone, a tombstone. */
static int
record_row(struct lake *x, uint64_t seq, const char *k, size_t klen)
{
    const char *e, *src, *key;
    char id[33];
    MDB_val kv = { klen, (void *)k }, v;
    struct nv_link_val lv;
    json_t *row, *rec;
    int rc, links = strcmp(x->o->what, "links") == 0;

    if (nv_hstore_key_split(k, klen, &e, &src, &key) < 0)
        return 0; /* a reject's own key: not a record */
    nv_gdpr_record_id(x->h->gkey, e, src, key, id);
    if (links) {
        int r = nv_link_get(x->txn, x->h->link, k, klen, &lv);
        if (r == NV_ENOTFOUND)
            return record_gone(x, seq, e, src, id);
        if (r < 0)
            return r;
        row = row_head("upsert", seq);
        json_object_set_new(row, "record_id", json_string(id));
        json_object_set_new(row, "entity", json_string(e));
        json_object_set_new(row, "source", json_string(src));
        json_object_set_new(row, "key", json_string(key));
        json_object_set_new(row, "rcu", json_string(lv.rcu));
        json_object_set_new(row, "status", json_string(lv.status == NV_LINK_LINKED ? "linked"
                                                       : lv.status == NV_LINK_REVIEW ? "review"
                                                                                     : "new"));
        json_object_set_new(row, "score", json_real(lv.score));
        return emit(x, e, row);
    }
    if ((rc = mdb_get(x->txn, x->h->store.records, &kv, &v)) == MDB_NOTFOUND)
        return record_gone(x, seq, e, src, id);
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot read records");
    if ((rec = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
        return nv_fail(NV_ECORRUPT, "hub store: a record that is not JSON");
    row = row_head("upsert", seq);
    json_object_set_new(row, "record_id", json_string(id));
    json_object_set_new(row, "entity", json_string(e));
    json_object_set_new(row, "source", json_string(src));
    json_object_set_new(row, "key", json_string(key));
    if (nv_link_get(x->txn, x->h->link, k, klen, &lv) == 0)
        json_object_set_new(row, "rcu", json_string(lv.rcu));
    json_object_set(row, "seq", json_object_get(rec, "seq"));
    if (json_object_get(rec, "map") != NULL) {
        json_object_set(row, "mapping", json_object_get(rec, "map"));
        json_object_set_new(row, "common", common_of(json_object_get(rec, "c")));
        json_object_set(row, "ext", json_object_get(rec, "x"));
    }
    json_object_set(row, "fields", json_object_get(rec, "fields"));
    json_decref(rec);
    return emit(x, e, row);
}

/* The golden record of rcu as a row; a person gone (erased, merged), a
 * tombstone with the RCU it was merged into, if any. */
static int
golden_row(struct lake *x, uint64_t seq, const char *rcu)
{
    json_t *doc = NULL, *row;
    int r;

    if (strlen(rcu) != NV_RCU_LEN)
        return 0;
    if ((r = nv_golden_show(x->h, x->txn, rcu, &doc)) < 0)
        return r;
    if (json_array_size(json_object_get(doc, "records")) == 0) {
        char live[NV_RCU_LEN + 1];
        json_decref(doc);
        row = row_head("delete", seq);
        json_object_set_new(row, "rcu", json_string(rcu));
        if (nv_link_resolve(x->txn, x->h->link, rcu, live) == 0 && strcmp(live, rcu) != 0)
            json_object_set_new(row, "merged_into", json_string(live));
        return emit(x, "", row);
    }
    row = row_head("upsert", seq);
    json_object_update(row, doc);
    json_decref(doc);
    return emit(x, "", row);
}

/* An RCU ("R" and 12 base32 characters) as the 60-bit number it spells:
 * the key of the people already written.  -1 when it is not one. */
static int
rcu_id(const char *rcu, uint64_t *id)
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    *id = 0;
    if (strlen(rcu) != NV_RCU_LEN || rcu[0] != 'R')
        return -1;
    for (int i = 1; i < NV_RCU_LEN; i++) {
        const char *p = strchr(b32, rcu[i]);
        if (p == NULL || rcu[i] == '\0')
            return -1;
        *id = *id << 5 | (uint64_t)(p - b32);
    }
    return 0;
}

/* One change log entry into the batch. */
static int
one_change(void *ctx, uint64_t seq, char kind, const char *what, size_t len)
{
    struct lake *x = ctx;
    char buf[520];
    int golden = strcmp(x->o->what, "golden") == 0;

    x->res->changes++;
    if (len >= sizeof(buf))
        return nv_fail(NV_ECORRUPT, "hub store: a change log entry over 512 bytes");
    memcpy(buf, what, len);
    buf[len] = '\0';
    if (golden) {
        /* a person whose record changed (found through its link), or who
         * lost a record or got a flag; each once */
        struct nv_link_val lv;
        uint64_t id;
        int isnew = 0;
        if (kind == NV_CHG_RECORD) {
            if (nv_link_get(x->txn, x->h->link, buf, len, &lv) != 0)
                return 0;
            snprintf(buf, sizeof(buf), "%.13s", lv.rcu);
        } else if (kind != NV_CHG_PERSON) {
            return 0;
        }
        if (rcu_id(buf, &id) < 0)
            return 0;
        if (nv_hmap_put(&x->people, id, &isnew) == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        return isnew ? golden_row(x, seq, buf) : 0;
    }
    if (kind == NV_CHG_RECORD)
        return record_row(x, seq, buf, len);
    if (kind == NV_CHG_ERASED) {
        const char *e, *src, *id;
        if (nv_hstore_key_split(buf, len, &e, &src, &id) < 0)
            return nv_fail(NV_ECORRUPT, "hub store: an erasure entry without three parts");
        return record_gone(x, seq, e, src, id);
    }
    return 0;
}

/* Every live item, each as of x->res->to. */
static int
full(struct lake *x)
{
    const char *w = x->o->what;
    MDB_dbi dbi = strcmp(w, "golden") == 0  ? x->h->link->rcus
                  : strcmp(w, "links") == 0 ? x->h->link->links
                                            : x->h->store.records;
    MDB_cursor *c;
    MDB_val k, v;
    int rc, r = 0;

    if ((rc = mdb_cursor_open(x->txn, dbi, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read the store");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
         rc = mdb_cursor_get(c, &k, &v, dbi == x->h->link->rcus ? MDB_NEXT_NODUP : MDB_NEXT)) {
        char buf[520];
        if (k.mv_size >= sizeof(buf))
            continue;
        memcpy(buf, k.mv_data, k.mv_size);
        buf[k.mv_size] = '\0';
        r = dbi == x->h->link->rcus ? golden_row(x, x->res->to, buf)
                                    : record_row(x, x->res->to, buf, k.mv_size);
    }
    mdb_cursor_close(c);
    if (r == 0 && rc != MDB_NOTFOUND && rc != 0)
        r = nv_hmdb_fail(rc, "cannot read the store");
    return r;
}

/* ---- the batch ---- */

/* schema.json, manifest.json and SHA256SUMS into the batch. */
static int
finish(struct lake *x)
{
    json_t *sc = schema(x), *man;
    char *t, *path;
    uint8_t sha[32];
    int r = 0;

    for (size_t i = 0; i < x->nparts && r == 0; i++)
        r = part_close(x, &x->parts[i]);
    if (r < 0) {
        json_decref(sc);
        return r;
    }
    t = json_dumps(sc, JSON_INDENT(2));
    json_decref(sc);
    path = nv_path_join(x->tmp, "schema.json");
    r = t ? nv_write_file(path, t, strlen(t), 0600) : nv_fail(NV_ENOMEM, "out of memory");
    free(path);
    if (r == 0) {
        crypto_hash_sha256(sha, (const uint8_t *)t, strlen(t));
        note_file(x, "schema.json", sha, strlen(t), NULL);
    }
    free(t);
    if (r < 0)
        return r;
    man = json_pack("{s:s,s:s,s:s,s:I,s:I,s:b,s:I,s:I,s:I,s:O}", "format", "nova-lake 1",
                    "what", x->o->what, "files_format", x->o->csv ? "csv" : "ndjson",
                    "from", (json_int_t)x->res->from, "to", (json_int_t)x->res->to, "full",
                    x->o->since == 0, "rows",
                    (json_int_t)(x->res->upserts + x->res->deletes), "upserts",
                    (json_int_t)x->res->upserts, "deletes", (json_int_t)x->res->deletes,
                    "files", x->files);
    t = man ? json_dumps(man, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(man);
    path = nv_path_join(x->tmp, "manifest.json");
    r = t ? nv_write_file(path, t, strlen(t), 0600) : nv_fail(NV_ENOMEM, "out of memory");
    free(path);
    if (r == 0) {
        char hex[65];
        crypto_hash_sha256(sha, (const uint8_t *)t, strlen(t));
        nv_hex(sha, 32, hex);
        r = nv_buf_addf(&x->sums, "%s  manifest.json\n", hex);
    }
    free(t);
    if (r < 0)
        return r;
    path = nv_path_join(x->tmp, "SHA256SUMS");
    r = nv_write_file(path, x->sums.data, x->sums.len, 0600);
    free(path);
    return r;
}

int
nv_lake_export(struct nv_hub *h, const struct nv_lake_opts *o, struct nv_lake_result *res)
{
    struct lake x;
    char name[64], *kdir = NULL, *final = NULL;
    uint64_t head;
    int rc, r;

    memset(res, 0, sizeof(*res));
    memset(&x, 0, sizeof(x));
    x.h = h;
    x.o = o;
    x.res = res;
    x.dl = (struct nv_csv_dialect){ ',', '"', 1, NV_ENC_UTF8 };
    x.part_rows = o->part_rows ? o->part_rows : PART_ROWS_DEFAULT;
    x.files = json_array();
    nv_hmap_init(&x.people, 0, 1024);
    columns(&x);
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &x.txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot read the store");
        goto out;
    }
    if ((r = nv_hstore_change_head(x.txn, &h->store, &head)) < 0)
        goto out;
    if (o->since > head) {
        r = nv_fail(NV_ENOTFOUND, "cursor %llu is ahead of this hub's change log (its last "
                    "change is %llu): a cursor of another hub, or of a store restored from "
                    "an older backup; export again from 0",
                    (unsigned long long)o->since, (unsigned long long)head);
        goto out;
    }
    res->from = o->since;
    res->to = head;
    if (o->since != 0 && o->since == head) {
        r = 0; /* nothing changed: no batch */
        goto out;
    }
    kdir = nv_path_join(o->out, o->what);
    snprintf(name, sizeof(name), "batch=%020llu-%020llu", (unsigned long long)res->from,
             (unsigned long long)res->to);
    final = nv_path_join(kdir, name);
    if (nv_exists(final)) {
        r = nv_fail(NV_EEXIST, "%s exists: this batch was exported before (cursor %llu "
                    "to %llu)", final, (unsigned long long)res->from,
                    (unsigned long long)res->to);
        goto out;
    }
    {
        char tname[80];
        snprintf(tname, sizeof(tname), ".%s.tmp", name);
        x.tmp = nv_path_join(kdir, tname);
    }
    if ((r = nv_mkdir_p(kdir, 0700)) < 0 || (r = nv_rm_rf(x.tmp)) < 0 ||
        (r = nv_mkdir_p(x.tmp, 0700)) < 0)
        goto out;
    r = o->since == 0 ? full(&x) : nv_hstore_changes(x.txn, &h->store, o->since, one_change, &x);
    mdb_txn_abort(x.txn);
    x.txn = NULL;
    if (r == 0)
        r = finish(&x);
    if (r == 0 && rename(x.tmp, final) < 0)
        r = errno == EEXIST || errno == ENOTEMPTY
                ? nv_fail(NV_EEXIST, "%s exists: this batch was exported before", final)
                : nv_fail_errno("cannot rename the batch into place");
    if (r == 0 && (r = nv_fsync_dir(kdir)) == 0)
        snprintf(res->batch, sizeof(res->batch), "%s", final);
out:
    if (x.txn != NULL)
        mdb_txn_abort(x.txn);
    for (size_t i = 0; i < x.nparts; i++) {
        if (x.parts[i].open)
            nv_atomic_abort(&x.parts[i].a);
        nv_buf_release(&x.parts[i].buf);
    }
    free(x.parts);
    if (r < 0 && x.tmp != NULL)
        (void)nv_rm_rf(x.tmp);
    free(x.tmp);
    free(kdir);
    free(final);
    json_decref(x.files);
    nv_hmap_release(&x.people);
    nv_buf_release(&x.sums);
    return r;
}
