#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "store.h"

int
nv_hmdb_fail(int rc, const char *what)
{
    return nv_fail(rc == MDB_MAP_FULL ? NV_ENOSPC : NV_ECORRUPT,
                   "hub store: %s: %s", what, mdb_strerror(rc));
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
        (rc = mdb_env_set_maxdbs(s->env, 32)) != 0 ||
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

void
nv_hstore_close(struct nv_hstore *s)
{
    if (s->env != NULL)
        mdb_env_close(s->env);
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

static int
apply_line(MDB_txn *txn, const struct nv_hstore *s, const struct nv_manifest *m,
           const char *line, size_t len, struct nv_buf *k,
           struct nv_apply_stats *st)
{
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL), *v = NULL;
    const char *op = json_string_value(json_object_get(o, "op"));
    const char *key = json_string_value(json_object_get(o, "key"));
    const char *src = json_string_value(json_object_get(o, "source"));
    int r = 0, rc;

    if (src == NULL)
        src = "";
    if (o == NULL || op == NULL || key == NULL || *key == '\0') {
        st->rejected++;
        goto out;
    }
    if (m->kind == NV_KIND_ACKS) {
        const char *order = json_string_value(json_object_get(o, "order"));
        const char *outcome = json_string_value(json_object_get(o, "outcome"));
        if (strcmp(op, "ack") != 0 || order == NULL || outcome == NULL ||
            key3(k, m->sender, order, key) < 0) {
            st->rejected++;
            goto out;
        }
        v = json_pack("{s:s,s:O,s:I}", "outcome", outcome, "reason",
                      json_object_get(o, "reason") ? json_object_get(o, "reason")
                                                   : json_null(),
                      "seq", (json_int_t)m->seq);
        r = put_json(txn, s->receipts, k, v);
        st->acks += r == 0;
        goto out;
    }
    if (key3(k, m->sender, src, key) < 0) {
        st->rejected++;
        goto out;
    }
    if (strcmp(op, "delete") == 0) {
        MDB_val kv = { k->len, k->data };
        rc = mdb_del(txn, s->records, &kv, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            r = nv_hmdb_fail(rc, "cannot delete a record");
        else
            st->deletes++;
    } else if (strcmp(op, "upsert") == 0 && json_is_object(json_object_get(o, "fields"))) {
        v = json_pack("{s:O,s:I}", "fields", json_object_get(o, "fields"), "seq",
                      (json_int_t)m->seq);
        r = put_json(txn, s->records, k, v);
        st->upserts += r == 0;
    } else {
        st->rejected++;
    }
out:
    json_decref(v);
    json_decref(o);
    return r;
}

int
nv_hstore_apply_file(MDB_txn *txn, const struct nv_hstore *s,
                     const struct nv_manifest *m, const char *path,
                     struct nv_apply_stats *st)
{
    FILE *f = fopen(path, "re");
    struct nv_buf k = NV_BUF_INIT;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int r = 0;

    if (f == NULL)
        return nv_fail_errno("cannot open a staged payload file");
    while (r == 0 && (n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n > 0)
            r = apply_line(txn, s, m, line, (size_t)n, &k, st);
    }
    if (r == 0 && ferror(f))
        r = nv_fail_errno("cannot read a staged payload file");
    free(line);
    fclose(f);
    nv_buf_release(&k);
    return r;
}
