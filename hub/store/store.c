#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
#include "../link/link.h"
#include "../model/mapping.h"
#include "../model/normalize.h"
#include "../model/recparse.h"
#include "store.h"

int
nv_hmdb_fail(int rc, const char *what)
{
    return nv_fail(rc == MDB_MAP_FULL ? NV_ENOSPC : NV_ECORRUPT,
                   "hub store: %s: %s", what, mdb_strerror(rc));
}

int
nv_hstore_key_split(const char *k, size_t len, const char **entity, const char **source,
                    const char **key)
{
    const char *z1 = memchr(k, 0, len), *z2;

    if (z1 == NULL || (z2 = memchr(z1 + 1, 0, len - (size_t)(z1 + 1 - k))) == NULL)
        return -1;
    *entity = k;
    *source = z1 + 1;
    *key = z2 + 1;
    return 0;
}

int
nv_hstore_open(struct nv_hstore *s, const char *dir)
{
    char *path = nv_path_join(dir, "store");
    MDB_txn *txn = NULL;
    int rc, r;

    memset(s, 0, sizeof(*s));
    if ((r = nv_mkdir_p(path, 0700)) < 0)
        goto out;
    if ((rc = mdb_env_create(&s->env)) != 0 ||
        (rc = mdb_env_set_maxdbs(s->env, 64)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)1 << 40)) != 0 ||
        (rc = mdb_env_open(s->env, path, 0, 0600)) != 0) {
        r = nv_hmdb_fail(rc, "cannot open");
        goto out;
    }
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &s->streams)) != 0 ||
        (rc = mdb_dbi_open(txn, "bundles", MDB_CREATE, &s->bundles)) != 0 ||
        (rc = mdb_dbi_open(txn, "records", MDB_CREATE, &s->records)) != 0 ||
        (rc = mdb_dbi_open(txn, "receipts", MDB_CREATE, &s->receipts)) != 0 ||
        (rc = mdb_dbi_open(txn, "rejects", MDB_CREATE, &s->rejects)) != 0 ||
        (rc = mdb_dbi_open(txn, "unnorm", MDB_CREATE, &s->unnorm)) != 0 ||
        (rc = mdb_dbi_open(txn, "bstats", MDB_CREATE, &s->bstats)) != 0 ||
        (rc = mdb_dbi_open(txn, "columns", MDB_CREATE, &s->columns)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != 0 ||
        (rc = nv_link_open(txn, &s->link) < 0 ? MDB_INVALID : 0) != 0 ||
        (rc = nv_gdpr_open(txn, &s->gdpr) < 0 ? MDB_INVALID : 0) != 0 ||
        (rc = nv_golden_open(txn, &s->golden) < 0 ? MDB_INVALID : 0) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0) {
        if (txn != NULL)
            mdb_txn_abort(txn);
        r = nv_hmdb_fail(rc, "cannot open databases");
    }
out:
    free(path);
    if (r < 0)
        nv_hstore_close(s);
    return r;
}

int
nv_hstore_compact(struct nv_hstore *s, const char *dir)
{
    char *sd = nv_path_join(dir, "store"), *cd = nv_path_join(dir, "store.compact");
    char *from = nv_path_join(cd, "data.mdb"), *to = nv_path_join(sd, "data.mdb");
    int rc, r;

    /* a copy holding only live pages: erased data leaves the file too */
    if ((r = nv_rm_rf(cd)) < 0 || (r = nv_mkdir_p(cd, 0700)) < 0)
        goto out;
    if ((rc = mdb_env_copy2(s->env, cd, MDB_CP_COMPACT)) != 0) {
        r = nv_hmdb_fail(rc, "cannot compact");
        goto out;
    }
    {
        int fd = open(from, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0) {
            r = nv_fail_errno("cannot sync the compacted store");
            if (fd >= 0)
                close(fd);
            goto out;
        }
        close(fd);
    }
    nv_hstore_close(s);
    if (rename(from, to) < 0) {
        r = nv_fail_errno("cannot replace the store with its compacted copy");
        if (nv_hstore_open(s, dir) < 0)
            nv_err("store", "cannot reopen the store: %s", nv_errmsg(NV_ECORRUPT));
        goto out;
    }
    if ((r = nv_fsync_dir(sd)) < 0)
        goto out;
    (void)nv_rm_rf(cd);
    r = nv_hstore_open(s, dir);
out:
    free(sd);
    free(cd);
    free(from);
    free(to);
    return r;
}

/* Where nv_hstore_unmap found the store's map (forgotten when the
 * environment closes: a new one may get the same address, its map not). */
static MDB_env *menv;
static void *maddr;
static size_t msize;

void
nv_hstore_close(struct nv_hstore *s)
{
    if (s->env != NULL)
        mdb_env_close(s->env);
    if (s->env == menv) {
        menv = NULL;
        maddr = NULL;
    }
    s->env = NULL;
}

int
nv_hstore_stream_get(MDB_txn *txn, const struct nv_hstore *s,
                     const char *sender, struct nv_stream_state *out)
{
    MDB_val k = { strlen(sender), (void *)sender }, v;
    int rc = mdb_get(txn, s->streams, &k, &v);

    memset(out, 0, sizeof(*out));
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot read stream state");
    if (v.mv_size != NV_STREAM_STATE_LEN)
        return nv_fail(NV_ECORRUPT, "hub store: stream '%s' has a bad record",
                       sender);
    nv_stream_decode(v.mv_data, out);
    return 0;
}

static void
bundle_key(char *out, size_t n, const char *sender, uint64_t seq)
{
    snprintf(out, n, "%s/%020llu", sender, (unsigned long long)seq);
}

int
nv_hstore_stream_advance(MDB_txn *txn, const struct nv_hstore *s,
                         const struct nv_manifest *m, const uint8_t id[32])
{
    struct nv_stream_state st;
    uint8_t buf[NV_STREAM_STATE_LEN];
    char bk[128];
    MDB_val k = { strlen(m->sender), (void *)m->sender }, v = { sizeof(buf), buf };
    MDB_val k2, v2 = { 32, (void *)id };
    int rc;

    memset(&st, 0, sizeof(st));
    nv_stream_advance(&st, m, id);
    nv_stream_encode(&st, buf);
    bundle_key(bk, sizeof(bk), m->sender, m->seq);
    k2.mv_size = strlen(bk);
    k2.mv_data = bk;
    if ((rc = mdb_put(txn, s->streams, &k, &v, 0)) != 0 ||
        (rc = mdb_put(txn, s->bundles, &k2, &v2, 0)) != 0)
        return nv_hmdb_fail(rc, "cannot write stream state");
    return 0;
}

int
nv_hstore_bundle_applied(MDB_txn *txn, const struct nv_hstore *s,
                         const char *sender, uint64_t seq, const uint8_t id[32])
{
    char bk[128];
    MDB_val k, v;

    bundle_key(bk, sizeof(bk), sender, seq);
    k.mv_size = strlen(bk);
    k.mv_data = bk;
    if (mdb_get(txn, s->bundles, &k, &v) != 0 || v.mv_size != 32)
        return 0;
    return sodium_memcmp(v.mv_data, id, 32) == 0;
}

/* "<a>\0<b>\0<c>" into k; 0 or NV_ETOOBIG past LMDB's key limit. */
static int
key3(struct nv_buf *k, const char *a, const char *b, const char *c)
{
    int r;

    nv_buf_reset(k);
    if ((r = nv_buf_add(k, a, strlen(a) + 1)) < 0 ||
        (r = nv_buf_add(k, b, strlen(b) + 1)) < 0 ||
        (r = nv_buf_add(k, c, strlen(c))) < 0)
        return r;
    return k->len > 500 ? NV_ETOOBIG : 0;
}

static int
put_json(MDB_txn *txn, MDB_dbi dbi, const struct nv_buf *k, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    MDB_val kv = { k->len, k->data }, vv;
    int rc;

    if (text == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    vv.mv_size = strlen(text);
    vv.mv_data = text;
    rc = mdb_put(txn, dbi, &kv, &vv, 0);
    free(text);
    return rc ? nv_hmdb_fail(rc, "cannot write a record") : 0;
}

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
    r = put_json(txn, s->rejects, k, v);
    json_decref(v);
    return r;
}

/* The values of a stored record that did not parse (none: the entry goes). */
static int put_unnorm(MDB_txn *txn, const struct nv_hstore *s, const struct nv_buf *k,
                      const struct nv_manifest *m, uint64_t line,
                      const struct nv_map_skipped *skip);

static int
del_key(MDB_txn *txn, MDB_dbi dbi, const struct nv_buf *k)
{
    MDB_val kv = { k->len, k->data };
    int rc = mdb_del(txn, dbi, &kv, NULL);

    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot delete");
    return 0;
}

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

static int
apply_line(MDB_txn *txn, const struct nv_hstore *s, const struct nv_manifest *m,
           const char *line, size_t len, uint64_t lineno, struct nv_buf *k,
           struct nv_apply_ctx *a, struct nv_apply_stats *st)
{
    struct nv_rec *rec = a->rec;
    json_t *keep = NULL;
    const char *why = NULL, *src;
    char reason[400];
    struct nv_map_skipped skip;
    int r = 0;

    skip.n = 0;
    if (nv_rec_parse(line, len, rec, &a->scratch) < 0 &&
        (r = slow_parse(line, len, &keep, rec, &a->raw, &why)) < 0)
        goto out;
    src = rec->source.s ? rec->source.s : "";
    if (why == NULL && (rec->op.s == NULL || rec->key.s == NULL || rec->key.n == 0))
        why = rec->key.s == NULL || rec->key.n == 0 ? "a change record without a key"
                                                    : "a change record without an op";
    if (why == NULL && key3(k, m->sender, src, rec->key.s) < 0)
        why = "a record key over the store's 500-byte limit";
    if (why != NULL) {
        char tag[48];
        st->rejected++;
        snprintf(tag, sizeof(tag), "\x01%llu:%llu", (unsigned long long)m->seq,
                 (unsigned long long)lineno);
        if ((r = key3(k, m->sender, "", tag)) == 0)
            r = put_reject(txn, s, k, m, lineno, why);
        goto out;
    }
    if (m->kind == NV_KIND_ACKS) {
        json_t *v;
        if (strcmp(rec->op.s, "ack") != 0 || rec->order.s == NULL || rec->outcome.s == NULL) {
            st->rejected++;
            r = put_reject(txn, s, k, m, lineno, "an acknowledgement without an "
                           "order or an outcome");
            goto out;
        }
        if (key3(k, m->sender, rec->order.s, rec->key.s) < 0) {
            st->rejected++;
            goto out;
        }
        v = json_pack("{s:s,s:s?,s:I}", "outcome", rec->outcome.s, "reason",
                      rec->reason.s, "seq", (json_int_t)m->seq);
        if (v == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            goto out;
        }
        r = put_json(txn, s->receipts, k, v);
        json_decref(v);
        st->acks += r == 0;
        goto out;
    }
    if (strcmp(rec->op.s, "delete") == 0) {
        if ((r = del_key(txn, s->records, k)) == 0 &&
            (r = del_key(txn, s->rejects, k)) == 0 &&
            (r = del_key(txn, s->unnorm, k)) == 0)
            st->deletes++;
        if (r == 0 && a->links != NULL)
            r = nv_link_set_add(a->links, (char *)k->data, k->len, NULL);
        goto out;
    }
    if (strcmp(rec->op.s, "upsert") != 0 || !rec->has_fields) {
        st->rejected++;
        r = put_reject(txn, s, k, m, lineno, strcmp(rec->op.s, "upsert") != 0
                                                 ? "unknown op (upsert or delete)"
                                                 : "an upsert without fields");
        goto out;
    }
    note_rec_columns(a, rec);
    nv_buf_reset(&a->vb);
    if (a->map != NULL) {
        nv_buf_reset(&a->cb);
        nv_buf_reset(&a->xb);
        r = nv_mapping_apply(a->map, rec->name, rec->value, rec->nfields, &a->cb, &a->xb,
                             a->nv, &skip, reason, sizeof(reason));
        if (r == NV_EFORMAT) {
            st->rejected++;
            r = put_reject(txn, s, k, m, lineno, reason);
            goto out;
        }
        if (r < 0)
            goto out;
        /* a person erased at their request does not come back */
        if (a->gkey != NULL && a->gdb != NULL) {
            const char *ke, *ks, *kk;
            if (nv_hstore_key_split((char *)k->data, k->len, &ke, &ks, &kk) == 0 &&
                nv_gdpr_suppressed(txn, a->gdb, a->gkey, a->nv, m->sender, kk)) {
                st->suppressed++;
                if (a->suppressed == NULL)
                    a->suppressed = json_array();
                json_array_append_new(a->suppressed, json_pack("[s,s]", ks, kk));
                r = 0;
                goto out;
            }
        }
        if ((r = nv_buf_adds(&a->vb, "{\"c\":")) < 0 ||
            (r = nv_buf_add(&a->vb, a->cb.data, a->cb.len)) < 0 ||
            (r = nv_buf_adds(&a->vb, ",\"fields\":")) < 0)
            goto out;
    } else {
        st->unmapped++;
        if ((r = nv_buf_adds(&a->vb, "{\"fields\":")) < 0)
            goto out;
    }
    /* the source fields as they came, then the rest */
    if ((r = nv_buf_add(&a->vb, rec->fields_raw, rec->fields_raw_len)) < 0)
        goto out;
    if (a->map != NULL)
        r = nv_buf_addf(&a->vb, ",\"map\":\"%s\",\"seq\":%llu,\"x\":", a->map_commit,
                        (unsigned long long)m->seq);
    else
        r = nv_buf_addf(&a->vb, ",\"seq\":%llu}", (unsigned long long)m->seq);
    if (r == 0 && a->map != NULL && ((r = nv_buf_add(&a->vb, a->xb.data, a->xb.len)) < 0 ||
                                     (r = nv_buf_adds(&a->vb, "}")) < 0))
        goto out;
    if (r < 0)
        goto out;
    {
        MDB_val kv = { k->len, k->data }, vv = { a->vb.len, a->vb.data }, ov;
        int rc;
        /* the version it replaces: what changed decides the updates */
        if (a->prev != NULL && mdb_get(txn, s->records, &kv, &ov) == 0)
            nv_golden_prev(a->prev, (char *)k->data, k->len, ov.mv_data, ov.mv_size);
        rc = mdb_put(txn, s->records, &kv, &vv, 0);
        if (rc != 0) {
            r = nv_hmdb_fail(rc, "cannot write a record");
            goto out;
        }
    }
    if ((r = del_key(txn, s->rejects, k)) == 0 &&
        (r = put_unnorm(txn, s, k, m, lineno, &skip)) == 0) {
        st->upserts++;
        st->unnormalised += skip.n;
    }
    if (r == 0 && a->links != NULL && a->map != NULL && a->nv != NULL)
        r = link_person(a, k);
out:
    json_decref(keep);
    return r;
}

/* Drop this process's mappings of the store's pages (the data stay in the
 * page cache and come back on the next read; the store is mapped read-only
 * and written through write(), so nothing is lost).  Reading a million
 * records and writing a bundle touches gigabytes of the map, which all
 * counted in the hub's resident memory until it exits. */
void
nv_hstore_unmap(MDB_txn *txn)
{
    MDB_env *env = mdb_txn_env(txn);
    MDB_envinfo ei;
    MDB_stat es;
    size_t len;

    if (env != menv) {
        /* LMDB tells the map's address only for a fixed map: find it */
        const char *path = NULL;
        char want[PATH_MAX + 16], line[PATH_MAX + 128], *abs = NULL;
        FILE *f;
        int bad;
        menv = env;
        maddr = NULL;
        if (mdb_env_get_path(env, &path) != 0 || path == NULL || (abs = realpath(path, NULL)) == NULL)
            return;
        bad = snprintf(want, sizeof(want), "%s/data.mdb", abs) >= (int)sizeof(want);
        free(abs);
        if (bad || (f = fopen("/proc/self/maps", "r")) == NULL)
            return;
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long lo, hi;
            char *name = strchr(line, '/');
            if (name == NULL)
                continue;
            name[strcspn(name, "\n")] = '\0';
            if (strcmp(name, want) == 0 && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
                maddr = (void *)lo;
                msize = hi - lo;
                break;
            }
        }
        fclose(f);
    }
    if (maddr == NULL || mdb_env_info(env, &ei) != 0 || mdb_env_stat(env, &es) != 0)
        return;
    /* pages this transaction wrote past the last committed one are not
     * mapped yet; a margin covers a file grown by another process */
    len = ((size_t)ei.me_last_pgno + 1 + ((size_t)1 << 18)) * es.ms_psize;
    if (len > msize)
        len = msize;
    (void)madvise(maddr, len, MADV_DONTNEED);
}

int
nv_hstore_apply_file(MDB_txn *txn, const struct nv_hstore *s,
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
        if (lineno % 4096 == 0)
            nv_hstore_unmap(txn);
    }
    if (r == 0 && ferror(f))
        r = nv_fail_errno("cannot read a staged payload file");
    free(line);
    fclose(f);
    nv_buf_release(&k);
    return r;
}

int
nv_hstore_bundle_done(MDB_txn *txn, const struct nv_hstore *s,
                      const struct nv_manifest *m, struct nv_apply_ctx *a,
                      const struct nv_apply_stats *st)
{
    struct nv_buf k = NV_BUF_INIT;
    char bk[128], when[21];
    json_t *v;
    int r = 0;

    bundle_key(bk, sizeof(bk), m->sender, m->seq);
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
    if ((r = nv_buf_adds(&k, bk)) == 0)
        r = put_json(txn, s->bstats, &k, v);
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

/* Iterate the keys of dbi starting with prefix (prefix_len bytes). */
static int
prefix_cursor(MDB_txn *txn, MDB_dbi dbi, const char *prefix, size_t plen,
              MDB_cursor **c, MDB_val *k, MDB_val *v)
{
    int rc;

    if ((rc = mdb_cursor_open(txn, dbi, c)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    k->mv_size = plen;
    k->mv_data = (void *)prefix;
    rc = mdb_cursor_get(*c, k, v, MDB_SET_RANGE);
    if (rc == 0 && (k->mv_size < plen || memcmp(k->mv_data, prefix, plen) != 0))
        rc = MDB_NOTFOUND;
    return rc;
}

int
nv_hstore_columns(MDB_txn *txn, const struct nv_hstore *s, const char *entity,
                  char ***names, size_t *n)
{
    size_t plen = strlen(entity) + 1, cap = 0;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc;

    *names = NULL;
    *n = 0;
    for (rc = prefix_cursor(txn, s->columns, entity, plen, &c, &k, &v); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, entity, plen) != 0)
            break;
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            if ((*names = realloc(*names, cap * sizeof(char *))) == NULL)
                abort();
        }
        (*names)[*n] = strndup((char *)k.mv_data + plen, k.mv_size - plen);
        if ((*names)[(*n)++] == NULL)
            abort();
    }
    if (c != NULL)
        mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND && rc < 0)
        return nv_hmdb_fail(rc, "cannot read columns");
    return 0;
}

static int
drop_prefix(MDB_txn *txn, MDB_dbi dbi, const char *entity)
{
    size_t plen = strlen(entity) + 1;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc;

    for (rc = prefix_cursor(txn, dbi, entity, plen, &c, &k, &v); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, entity, plen) != 0)
            break;
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
    }
    if (c != NULL)
        mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND && rc != EINVAL)
        return nv_hmdb_fail(rc, "cannot drop records");
    return 0;
}

int
nv_hstore_drop_entity(MDB_txn *txn, const struct nv_hstore *s, const char *entity)
{
    int r;

    if ((r = drop_prefix(txn, s->records, entity)) < 0 ||
        (r = drop_prefix(txn, s->unnorm, entity)) < 0)
        return r;
    return drop_prefix(txn, s->rejects, entity);
}

static int
put_unnorm(MDB_txn *txn, const struct nv_hstore *s, const struct nv_buf *k,
           const struct nv_manifest *m, uint64_t line, const struct nv_map_skipped *skip)
{
    json_t *v, *a;
    int r;

    if (skip->n == 0)
        return del_key(txn, s->unnorm, k);
    if ((a = json_array()) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (unsigned i = 0; i < skip->n && i < NV_MAP_SKIP_KEEP; i++)
        json_array_append_new(a, json_string(skip->reason[i]));
    v = json_pack("{s:I,s:I,s:I,s:o}", "seq", (json_int_t)m->seq, "line", (json_int_t)line,
                  "n", (json_int_t)skip->n, "reasons", a);
    if (v == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    r = put_json(txn, s->unnorm, k, v);
    json_decref(v);
    return r;
}
