#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
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

/* Keep a copy of the sealed bundle path (named name) in sent/: a hard link,
 * or a copy when sent/ is on another file system.  One already there is
 * the same bundle (a crash after the link). */
static int
keep_sent(const char *path, const char *sent, const char *name)
{
    char *dst;
    int r;

    if ((r = nv_mkdir_p(sent, 0700)) < 0)
        return r;
    dst = nv_path_join(sent, name);
    if (nv_exists(dst))
        r = 0;
    else if (link(path, dst) == 0)
        r = 0;
    else if (errno == EXDEV || errno == EPERM || errno == EMLINK)
        r = nv_copy_file(path, dst, 0600, 0);
    else
        r = nv_fail_errno("cannot keep '%s' in '%s'", name, sent);
    if (r == 0)
        r = nv_fsync_dir(sent);
    free(dst);
    return r;
}

int
nv_outbox_recover(const char *outbox, MDB_env *env, MDB_dbi streams)
{
    return nv_outbox_recover_sent(outbox, NULL, env, streams);
}

int
nv_outbox_recover_sent(const char *outbox, const char *sent, MDB_env *env, MDB_dbi streams)
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
        if (committed && sent != NULL && (r = keep_sent(from, sent, e->d_name)) < 0) {
            /* left pending: the next recovery tries again */
        } else if (committed) {
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
    p.has_acked = o->has_acked;
    p.acked = o->acked;
    p.epoch = o->epoch;
    p.snapshot = o->snapshot;
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
    /* committed: the copy kept until the peer acknowledges it, then the
     * outbox (a crash between them: nv_outbox_recover_sent finishes) */
    if (o->sent != NULL && (r = keep_sent(pending, o->sent, name)) < 0)
        goto out;
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

    if (o->receipt && o->w == NULL && o->txn != NULL) {
        int r = start_part(o);
        if (r < 0) {
            nv_outbox_abort(o);
            return r;
        }
    }
    if (o->w != NULL && (o->records || o->rejects || o->files || o->receipt))
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

/* ---- acknowledged streams ---- */

uint64_t
nv_sent_seq(const char *name)
{
    size_t n = strlen(name);
    const char *dot, *dash, *p;
    uint64_t seq = 0;

    if (name[0] == '.' || n < 6 + 10 || strcmp(name + n - 5, NV_BUNDLE_EXT) != 0)
        return 0;
    /* sender-recipient-SEQ.kind.nova */
    dot = memchr(name, '.', n - 5);
    if (dot == NULL)
        return 0;
    for (dash = dot; dash > name && dash[-1] != '-'; dash--)
        ;
    if (dash == name || dot - dash != 10)
        return 0;
    for (p = dash; p < dot; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        seq = seq * 10 + (uint64_t)(*p - '0');
    }
    return seq;
}

/* Call fn on each kept bundle of sent/ (a missing directory holds none). */
static int
each_sent(const char *sent, int (*fn)(void *, const char *, uint64_t, const struct stat *),
          void *ctx)
{
    DIR *d = opendir(sent);
    struct dirent *e;
    int r = 0;

    if (d == NULL)
        return errno == ENOENT ? 0 : nv_fail_errno("cannot open '%s'", sent);
    while (r == 0 && (e = readdir(d)) != NULL) {
        uint64_t seq = nv_sent_seq(e->d_name);
        struct stat st;
        char *p;
        if (seq == 0)
            continue;
        p = nv_path_join(sent, e->d_name);
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
            r = fn(ctx, p, seq, &st);
        free(p);
    }
    closedir(d);
    return r;
}

struct backlog_ctx {
    uint64_t acked;
    struct nv_sent_backlog *b;
};

static int
backlog_one(void *ctx, const char *path, uint64_t seq, const struct stat *st)
{
    struct backlog_ctx *c = ctx;

    (void)path;
    if (seq <= c->acked)
        return 0;
    c->b->count++;
    c->b->bytes += (uint64_t)st->st_size;
    if (c->b->oldest == 0 || st->st_mtime < c->b->oldest)
        c->b->oldest = st->st_mtime;
    if (c->b->first == 0 || seq < c->b->first)
        c->b->first = seq;
    if (seq > c->b->last)
        c->b->last = seq;
    return 0;
}

int
nv_sent_backlog(const char *sent, uint64_t acked, struct nv_sent_backlog *b)
{
    struct backlog_ctx c = { acked, b };

    memset(b, 0, sizeof(*b));
    return each_sent(sent, backlog_one, &c);
}

struct prune_ctx {
    uint64_t acked, n;
};

static int
prune_one(void *ctx, const char *path, uint64_t seq, const struct stat *st)
{
    struct prune_ctx *c = ctx;

    (void)st;
    if (seq > c->acked)
        return 0;
    if (unlink(path) < 0 && errno != ENOENT)
        return nv_fail_errno("cannot remove '%s'", path);
    c->n++;
    return 0;
}

int
nv_sent_prune(const char *sent, uint64_t acked, uint64_t *n)
{
    struct prune_ctx c = { acked, 0 };
    int r = each_sent(sent, prune_one, &c);

    if (n != NULL)
        *n = c.n;
    if (r == 0 && c.n > 0) {
        nv_info("outbox", "%llu bundle(s) acknowledged up to seq %llu: removed from '%s'",
                (unsigned long long)c.n, (unsigned long long)acked, sent);
        r = nv_fsync_dir(sent);
    }
    return r;
}

struct resend_ctx {
    const char *outbox;
    uint64_t from, n;
};

static int
resend_one(void *ctx, const char *path, uint64_t seq, const struct stat *st)
{
    struct resend_ctx *c = ctx;
    const char *base = strrchr(path, '/');
    char *dst;
    int r = 0;

    (void)st;
    if (seq < c->from)
        return 0;
    base = base ? base + 1 : path;
    dst = nv_path_join(c->outbox, base);
    if (!nv_exists(dst)) {
        if ((r = nv_copy_file(path, dst, 0600, 0)) == 0) {
            c->n++;
            nv_info("outbox", "'%s' copied back into the outbox", base);
        }
    }
    free(dst);
    return r;
}

int
nv_sent_resend(const char *sent, const char *outbox, uint64_t from, uint64_t *n)
{
    struct resend_ctx c = { outbox, from, 0 };
    int r = each_sent(sent, resend_one, &c);

    *n = c.n;
    return r;
}

static void
acked_key(char *key, size_t n, const char *peer)
{
    snprintf(key, n, "acked:%s", peer);
}

int
nv_acked_get(MDB_txn *txn, MDB_dbi dbi, const char *peer, uint64_t *acked)
{
    char key[80];
    MDB_val k, v;
    int rc;

    acked_key(key, sizeof(key), peer);
    k.mv_size = strlen(key);
    k.mv_data = key;
    *acked = 0;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_mdb_fail(rc, "cannot read the acknowledged sequence");
    if (v.mv_size != 8)
        return nv_fail(NV_ECORRUPT, "the acknowledged sequence of '%s' is damaged", peer);
    for (int i = 7; i >= 0; i--)
        *acked = (*acked << 8) | ((const uint8_t *)v.mv_data)[i];
    return 0;
}

int
nv_acked_put(MDB_txn *txn, MDB_dbi dbi, const char *peer, uint64_t acked)
{
    uint64_t old;
    int r;

    if ((r = nv_acked_get(txn, dbi, peer, &old)) < 0)
        return r;
    if (acked <= old)
        return 0;
    return nv_acked_set(txn, dbi, peer, acked);
}

int
nv_acked_set(MDB_txn *txn, MDB_dbi dbi, const char *peer, uint64_t acked)
{
    char key[80];
    uint8_t b[8];
    MDB_val k, v = { 8, b };
    int rc;

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(acked >> (8 * i));
    acked_key(key, sizeof(key), peer);
    k.mv_size = strlen(key);
    k.mv_data = key;
    if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
        return nv_mdb_fail(rc, "cannot keep the acknowledged sequence");
    return 0;
}
