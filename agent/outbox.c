#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "../formats/record.h"
#include "outbox.h"

static char *
pending_dir(const char *outbox)
{
    return nv_path_join(outbox, ".pending");
}

static void
stream_key(char *key, size_t n, const char *peer)
{
    snprintf(key, n, "out:%s", peer);
}

int
nv_outbox_recover(const char *outbox, MDB_env *env, MDB_dbi streams)
{
    char *pd = pending_dir(outbox);
    DIR *d = NULL;
    struct dirent *e;
    int r = 0, moved = !nv_exists(pd); /* a new .pending must last, too */

    if ((r = nv_mkdir_p(pd, 0700)) < 0)
        goto out;
    if ((d = opendir(pd)) == NULL) {
        r = nv_fail_errno("cannot open '%s'", pd);
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        struct nv_bundle b;
        struct nv_stream_state st;
        MDB_txn *txn;
        char key[80], *from, *to;
        int committed = 0;

        if (e->d_name[0] == '.') {
            /* a temporary file of a write cut short by a crash */
            if (strstr(e->d_name, ".tmp.") != NULL) {
                char *t = nv_path_join(pd, e->d_name);
                unlink(t);
                free(t);
            }
            continue;
        }
        from = nv_path_join(pd, e->d_name);
        to = nv_path_join(outbox, e->d_name);
        if (nv_bundle_read(&b, from, 0) == 0) {
            stream_key(key, sizeof(key), b.m.recipient);
            if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
                if (nv_stream_db_get(txn, streams, key, &st) == 0)
                    committed = st.seq >= b.m.seq;
                mdb_txn_abort(txn);
            }
            nv_bundle_release(&b);
        }
        if (committed) {
            if (rename(from, to) < 0)
                r = nv_fail_errno("cannot move '%s' to the outbox", from);
            else {
                moved++;
                nv_info("outbox", "recovered pending bundle '%s'", e->d_name);
            }
        } else {
            unlink(from);
            nv_info("outbox", "dropped uncommitted bundle '%s'", e->d_name);
        }
        free(from);
        free(to);
    }
    /* Only a bundle moved here (or a new .pending) needs the outbox made
     * durable now.  A rename into the outbox that a crash left unsynced
     * needs nothing: if it is lost, the bundle is back in .pending and is
     * recovered again.  (An fsync of a directory waits for the file
     * system's journal, other programs' changes included: every seal paid
     * for it.) */
    if (r == 0 && moved > 0)
        r = nv_fsync_dir(outbox);
out:
    if (d != NULL)
        closedir(d);
    free(pd);
    return r;
}

static int
begin_txn(struct nv_outbox *o)
{
    int rc = mdb_txn_begin(o->env, NULL, 0, &o->txn);

    if (rc != 0) {
        o->txn = NULL;
        return nv_mdb_fail(rc, "cannot start a transaction");
    }
    return 0;
}

static int
start_part(struct nv_outbox *o)
{
    struct nv_bundle_params p;
    struct nv_stream_state st;
    char key[80], *pd = pending_dir(o->outbox);
    int r;

    stream_key(key, sizeof(key), o->peer->id.entity);
    if ((r = nv_stream_db_get(o->txn, o->streams, key, &st)) < 0) {
        free(pd);
        return r;
    }
    memset(&p, 0, sizeof(p));
    p.kind = o->kind;
    p.sender = o->self->pub.entity;
    p.recipient = o->peer->id.entity;
    p.sign_key = o->self->sign;
    p.recipient_pk = o->peer->id.age;
    p.seq = st.seq + 1;
    p.prev = st.seq ? st.last_id : NULL;
    p.part = ++o->part;
    p.created = nv_now();
    p.zstd_level = o->zstd_level;
    p.tmp_dir = pd;
    p.ledger_head = o->ledger_head;
    r = nv_bundle_writer_new(&o->w, &p);
    free(pd);
    o->records = o->upserts = o->deletes = o->rejects = o->files = 0;
    return r;
}

/* Seal the current part: pending file, commit, rename into the outbox. */
static int
seal_part(struct nv_outbox *o, int final)
{
    struct nv_manifest m;
    struct nv_stream_state st;
    uint8_t id[32];
    char name[160], key[80], *pd = pending_dir(o->outbox), *tmp = NULL,
                             *pending = NULL, *dst = NULL;
    int r, rc;

    nv_bundle_set_counts(o->w, o->records, o->upserts, o->deletes, o->rejects);
    nv_bundle_set_final(o->w, final);
    tmp = nv_path_join(pd, "current.nova");
    unlink(tmp);
    if ((r = nv_bundle_writer_finish(o->w, tmp, id, &m)) < 0)
        goto out;
    nv_bundle_filename(&m, name, sizeof(name));
    pending = nv_path_join(pd, name);
    dst = nv_path_join(o->outbox, name);
    if (rename(tmp, pending) < 0) {
        r = nv_fail_errno("cannot rename '%s'", tmp);
        goto out;
    }
    if ((r = nv_fsync_dir(pd)) < 0)
        goto out;
    /* commit point: the caller's state and the stream, together */
    stream_key(key, sizeof(key), o->peer->id.entity);
    memset(&st, 0, sizeof(st));
    nv_stream_advance(&st, &m, id);
    if ((r = nv_stream_db_put(o->txn, o->streams, key, &st)) < 0)
        goto out;
    rc = mdb_txn_commit(o->txn);
    o->txn = NULL;
    if (rc != 0) {
        unlink(pending);
        r = nv_mdb_fail(rc, "cannot commit");
        goto out;
    }
    if (rename(pending, dst) < 0)
        r = nv_fail_errno("cannot move '%s' into the outbox", pending);
    else
        r = nv_fsync_dir(o->outbox);
    if (r == 0) {
        o->bundles++;
        o->sent_records += m.records;
        nv_info("outbox", "sealed %s bundle %s->%s seq %llu part %u: %llu records (%llu upserts, %llu deletes), %llu rejects",
                nv_kind_name(m.kind), m.sender, m.recipient,
                (unsigned long long)m.seq, m.part, (unsigned long long)m.records,
                (unsigned long long)m.upserts, (unsigned long long)m.deletes,
                (unsigned long long)m.rejects);
    }
out:
    /* a part that could not be sealed kills its change set: nothing of it
     * is committed */
    if (r < 0 && o->txn != NULL) {
        mdb_txn_abort(o->txn);
        o->txn = NULL;
    }
    nv_bundle_writer_free(o->w);
    o->w = NULL;
    free(pd);
    free(tmp);
    free(pending);
    free(dst);
    return r;
}

int
nv_outbox_begin(struct nv_outbox *o, int kind)
{
    o->kind = kind;
    o->part = 0;
    o->w = NULL;
    if (o->cap == 0)
        o->cap = 64u << 20;
    return begin_txn(o);
}

MDB_txn *
nv_outbox_txn(struct nv_outbox *o)
{
    return o->txn;
}

static int
need_writer(struct nv_outbox *o, size_t len)
{
    int r;

    if (o->w != NULL && nv_bundle_raw_bytes(o->w) > 0 &&
        nv_bundle_raw_bytes(o->w) + len + 1 > o->cap) {
        if ((r = seal_part(o, 0)) < 0 || (r = begin_txn(o)) < 0)
            return r;
    }
    if (o->w == NULL)
        return start_part(o);
    return 0;
}

int
nv_outbox_add_record(struct nv_outbox *o, const char *line, size_t len, int op)
{
    int r;

    if ((r = need_writer(o, len)) < 0 ||
        (r = nv_bundle_add_record(o->w, line, len)) < 0)
        return r;
    o->records++;
    if (op == NV_OP_UPSERT)
        o->upserts++;
    else if (op == NV_OP_DELETE)
        o->deletes++;
    return 0;
}

int
nv_outbox_add_file(struct nv_outbox *o, const char *name, const void *data,
                   size_t len)
{
    int r;

    if ((r = need_writer(o, len)) < 0 ||
        (r = nv_bundle_add_file(o->w, name, data, len)) < 0)
        return r;
    o->files++;
    return 0;
}

void
nv_outbox_add_rejects(struct nv_outbox *o, uint64_t n)
{
    o->rejects += n;
}

int
nv_outbox_end(struct nv_outbox *o)
{
    int rc;

    if (o->w != NULL && (o->records || o->rejects || o->files))
        return seal_part(o, 1);
    nv_bundle_writer_free(o->w);
    o->w = NULL;
    if (o->txn == NULL)
        return 0;
    rc = mdb_txn_commit(o->txn);
    o->txn = NULL;
    return rc ? nv_mdb_fail(rc, "cannot commit") : 0;
}

void
nv_outbox_abort(struct nv_outbox *o)
{
    nv_bundle_writer_free(o->w);
    o->w = NULL;
    if (o->txn != NULL)
        mdb_txn_abort(o->txn);
    o->txn = NULL;
}
