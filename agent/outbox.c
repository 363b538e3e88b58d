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
pending_dir(const char *dir)
{
    return nv_path_join(dir, "outbox/.pending");
}

int
nv_outbox_recover(const char *dir, struct nv_astate *state)
{
    char *pd = pending_dir(dir), *ob = nv_path_join(dir, "outbox");
    DIR *d = NULL;
    struct dirent *e;
    int r = 0;

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

        if (e->d_name[0] == '.')
            continue;
        from = nv_path_join(pd, e->d_name);
        to = nv_path_join(ob, e->d_name);
        if (nv_bundle_read(&b, from, 0) == 0) {
            snprintf(key, sizeof(key), "out:%s", b.m.recipient);
            if (mdb_txn_begin(state->env, NULL, MDB_RDONLY, &txn) == 0) {
                if (nv_astate_stream_get(txn, state, key, &st) == 0)
                    committed = st.seq >= b.m.seq;
                mdb_txn_abort(txn);
            }
            nv_bundle_release(&b);
        }
        if (committed) {
            if (rename(from, to) < 0)
                r = nv_fail_errno("cannot move '%s' to the outbox", from);
            else
                nv_info("outbox", "recovered pending bundle '%s'", e->d_name);
        } else {
            unlink(from);
            nv_info("outbox", "dropped uncommitted bundle '%s'", e->d_name);
        }
        free(from);
        free(to);
    }
    if (r == 0)
        r = nv_fsync_dir(ob);
out:
    if (d != NULL)
        closedir(d);
    free(pd);
    free(ob);
    return r;
}

static int
start_part(struct nv_outbox *o)
{
    struct nv_bundle_params p;
    struct nv_stream_state st;
    MDB_txn *txn;
    char key[80], *pd = pending_dir(o->dir);
    int r;

    snprintf(key, sizeof(key), "out:%s", o->peer->id.entity);
    if ((r = mdb_txn_begin(o->state->env, NULL, MDB_RDONLY, &txn)) != 0) {
        free(pd);
        return nv_mdb_fail(r, "cannot read");
    }
    r = nv_astate_stream_get(txn, o->state, key, &st);
    mdb_txn_abort(txn);
    if (r < 0) {
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
    r = nv_bundle_writer_new(&o->w, &p);
    free(pd);
    o->records = o->upserts = o->deletes = o->rejects = 0;
    return r;
}

/* Seal the current part: pending file, state commit, rename. */
static int
seal_part(struct nv_outbox *o, int final)
{
    struct nv_manifest m;
    struct nv_stream_state st;
    MDB_txn *txn = NULL;
    uint8_t id[32];
    char name[160], key[80], *pd = pending_dir(o->dir), *from = NULL,
                             *to = NULL;
    int r, rc;

    nv_bundle_set_counts(o->w, o->records, o->upserts, o->deletes, o->rejects);
    nv_bundle_set_final(o->w, final);
    snprintf(key, sizeof(key), "out:%s", o->peer->id.entity);
    /* name is known only after finish; write under a temp pending name */
    from = nv_path_join(pd, "current.nova");
    unlink(from);
    if ((r = nv_bundle_writer_finish(o->w, from, id, &m)) < 0)
        goto out;
    nv_bundle_filename(&m, name, sizeof(name));
    free(to);
    to = nv_path_join(pd, name);
    if (rename(from, to) < 0) {
        r = nv_fail_errno("cannot rename '%s'", from);
        goto out;
    }
    free(from);
    from = to;
    to = NULL;
    if ((r = nv_fsync_dir(pd)) < 0)
        goto out;
    /* commit point */
    if ((rc = mdb_txn_begin(o->state->env, NULL, 0, &txn)) != 0) {
        r = nv_mdb_fail(rc, "cannot write");
        goto out;
    }
    memset(&st, 0, sizeof(st));
    nv_stream_advance(&st, &m, id);
    if ((r = nv_astate_stream_put(txn, o->state, key, &st)) < 0)
        goto out;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        r = nv_mdb_fail(rc, "cannot commit");
        goto out;
    }
    to = nv_path_join(o->dir, "outbox");
    {
        char *dst = nv_path_join(to, name);
        if (rename(from, dst) < 0)
            r = nv_fail_errno("cannot move '%s' into the outbox", from);
        else
            r = nv_fsync_dir(to);
        free(dst);
    }
    if (r == 0) {
        o->bundles++;
        nv_info("outbox", "sealed %s bundle %s->%s seq %llu part %u (%llu records)",
                nv_kind_name(m.kind), m.sender, m.recipient,
                (unsigned long long)m.seq, m.part,
                (unsigned long long)m.records);
    }
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    nv_bundle_writer_free(o->w);
    o->w = NULL;
    free(pd);
    free(from);
    free(to);
    return r;
}

int
nv_outbox_begin(struct nv_outbox *o, int kind)
{
    o->kind = kind;
    o->part = 0;
    if (o->cap == 0)
        o->cap = 64u << 20;
    return start_part(o);
}

int
nv_outbox_add_record(struct nv_outbox *o, const char *line, size_t len, int op)
{
    int r;

    if (nv_bundle_raw_bytes(o->w) > 0 &&
        nv_bundle_raw_bytes(o->w) + len + 1 > o->cap) {
        if ((r = seal_part(o, 0)) < 0 || (r = start_part(o)) < 0)
            return r;
    }
    if ((r = nv_bundle_add_record(o->w, line, len)) < 0)
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
    return nv_bundle_add_file(o->w, name, data, len);
}

void
nv_outbox_add_rejects(struct nv_outbox *o, uint64_t n)
{
    o->rejects += n;
}

int
nv_outbox_end(struct nv_outbox *o)
{
    return seal_part(o, 1);
}

void
nv_outbox_abort(struct nv_outbox *o)
{
    nv_bundle_writer_free(o->w);
    o->w = NULL;
}
