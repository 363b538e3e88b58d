/*
 * rebase.c - re-baselining an entity's stream (rebase.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../agent/outbox.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../gdpr/gdpr.h"
#include "../store/ledger.h"
#include "ingest.h"
#include "rebase.h"

/* Record the rebase order of rb in the ledger, from the copy the hub keeps
 * (sent/<entity>/, or the outbox), then note it recorded. */
static int
rebase_ledger(struct nv_hub *h, const char *entity, const struct nv_hrebase *rb)
{
    /* a crash may leave it committed in the outbox's .pending/ */
    static const char *const where[] = { "sent", "outbox", "outbox" };
    struct nv_hrebase now;
    struct nv_bundle b;
    MDB_txn *txn;
    char *path = NULL;
    int r = NV_ENOTFOUND, rc;

    if (h->ledger == NULL)
        return 0;
    for (size_t i = 0; i < 3 && r == NV_ENOTFOUND; i++) {
        char *d = nv_path_join(h->dir, where[i]), *ed = nv_path_join(d, entity);
        char *pd = nv_path_join(ed, ".pending");
        path = nv_path_join(i == 2 ? pd : ed, rb->bundle);
        free(d);
        free(ed);
        free(pd);
        if (nv_exists(path))
            r = 0;
        else {
            free(path);
            path = NULL;
        }
    }
    if (r < 0)
        return nv_fail(NV_ENOTFOUND, "the rebase order '%s' to %s is neither in sent/ nor in "
                       "the outbox: it cannot be recorded in the ledger", rb->bundle, entity);
    if ((r = nv_bundle_read(&b, path, 0)) == 0) {
        nv_hub_ledger_witness(h);
        r = nv_ledger_record_rebase(h->ledger, &b);
        nv_bundle_release(&b);
        if (r == 0)
            r = nv_hub_ledger_noted(h);
    }
    free(path);
    if (r < 0)
        return r;
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot write");
    if ((r = nv_hstore_rebase_get(txn, &h->store, entity, &now)) == 0 &&
        now.epoch == rb->epoch) {
        now.ledgered = 1;
        r = nv_hstore_rebase_put(txn, &h->store, entity, &now);
    }
    if (r == 0 && (rc = mdb_txn_commit(txn)) != 0)
        return nv_hmdb_fail(rc, "cannot commit");
    if (r < 0)
        mdb_txn_abort(txn);
    return r;
}

int
nv_hub_rebase(struct nv_hub *h, const char *entity, struct nv_hrebase *out)
{
    struct nv_outbox o;
    struct nv_stream_state in, os;
    struct nv_manifest stub;
    char *obox = NULL, *text = NULL, key[NV_NAME_MAX + 8], idh[65];
    json_t *j;
    int r;

    memset(out, 0, sizeof(*out));
    if (!nv_name_valid(entity))
        return nv_fail(NV_EINVAL, "'%s' is not an entity name", entity);
    if ((r = nv_hub_outbox(h, entity, NV_KIND_REBASE, &o, &obox)) < 0)
        return r;
    snprintf(key, sizeof(key), "out:%s", entity);
    if ((r = nv_hstore_stream_get(nv_outbox_txn(&o), &h->store, entity, &in)) < 0 ||
        (r = nv_hstore_rebase_get(nv_outbox_txn(&o), &h->store, entity, out)) < 0 ||
        (r = nv_stream_db_get(nv_outbox_txn(&o), h->store.streams, key, &os)) < 0)
        goto fail;
    /* the new epoch starts where the hub's copy of the stream ends */
    out->epoch++;
    out->base = in.seq;
    memset(out->base_id, 0, 32);
    if (in.seq > 0)
        memcpy(out->base_id, in.last_id, 32);
    out->hub_seq = os.seq + 1;
    memset(&stub, 0, sizeof(stub));
    snprintf(stub.sender, sizeof(stub.sender), "%s", h->self.pub.entity);
    snprintf(stub.recipient, sizeof(stub.recipient), "%s", entity);
    stub.seq = out->hub_seq;
    stub.kind = NV_KIND_REBASE;
    nv_bundle_filename(&stub, out->bundle, sizeof(out->bundle));
    nv_time_format(nv_now(), out->issued);
    out->pending = 1;
    out->ledgered = 0;
    o.epoch = out->epoch;
    j = json_pack("{s:s,s:s,s:I,s:I,s:s?}", "hub", h->self.pub.entity, "entity", entity,
                  "epoch", (json_int_t)out->epoch, "seq", (json_int_t)out->base, "last",
                  in.seq > 0 ? nv_hex(in.last_id, 32, idh) : NULL);
    text = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (text == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto fail;
    }
    if ((r = nv_outbox_add_file(&o, "rebase.json", text, strlen(text))) < 0 ||
        (r = nv_hstore_rebase_put(nv_outbox_txn(&o), &h->store, entity, out)) < 0)
        goto fail;
    free(text);
    text = NULL;
    /* the order and the epoch commit together */
    r = nv_outbox_end(&o);
    free(obox);
    if (r < 0)
        return r;
    nv_info("rebase", "rebase order to %s sealed: epoch %llu from seq %llu (%s)", entity,
            (unsigned long long)out->epoch, (unsigned long long)out->base, out->bundle);
    if ((r = rebase_ledger(h, entity, out)) == 0)
        out->ledgered = h->ledger != NULL;
    /* erasure orders the entity never answered were sealed before the
     * order: stale at its agent, so they go again, after it */
    if (r == 0 && (r = nv_gdpr_resend_unanswered(h, entity, &out->resent)) == 0 &&
        out->resent > 0)
        nv_info("rebase", "the orders of %zu open erasure request(s) %s had not answered "
                "sealed again", out->resent, entity);
    return r;
fail:
    nv_outbox_abort(&o);
    free(obox);
    free(text);
    return r;
}

int
nv_hub_rebase_repair(struct nv_hub *h)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    char (*names)[NV_NAME_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    int r = 0, rc;

    if (h->ledger == NULL)
        return 0;
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    if ((rc = mdb_cursor_open(txn, h->store.meta, &c)) == 0) {
        k.mv_size = 7;
        k.mv_data = (void *)"rebase:";
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            if (k.mv_size < 8 || memcmp(k.mv_data, "rebase:", 7) != 0)
                break;
            if (k.mv_size - 7 > NV_NAME_MAX)
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                if ((names = realloc(names, cap * sizeof(*names))) == NULL)
                    abort();
            }
            memcpy(names[n], (char *)k.mv_data + 7, k.mv_size - 7);
            names[n++][k.mv_size - 7] = '\0';
        }
        mdb_cursor_close(c);
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        struct nv_hrebase rb;
        if ((r = nv_hstore_rebase_get(txn, &h->store, names[i], &rb)) < 0 || rb.ledgered)
            continue;
        nv_warn("rebase", "recording the rebase order to %s (epoch %llu) that a crash kept "
                "from the ledger", names[i], (unsigned long long)rb.epoch);
        mdb_txn_abort(txn);
        txn = NULL;
        r = rebase_ledger(h, names[i], &rb);
        if (r == NV_ENOTFOUND) {
            /* the hub goes on; the order is in the store, not the ledger */
            nv_err("rebase", "%s", nv_errmsg(r));
            r = 0;
        }
        if (r == 0 && (rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0) {
            txn = NULL;
            r = nv_hmdb_fail(rc, "cannot read");
        }
    }
    if (txn != NULL)
        mdb_txn_abort(txn);
    free(names);
    return r;
}

int
nv_hub_epoch_check(struct nv_hub *h, MDB_txn *txn, const struct nv_manifest *m)
{
    struct nv_hrebase rb;
    int r;

    if (m->kind != NV_KIND_CHANGES && m->kind != NV_KIND_ACKS)
        return nv_fail(NV_EFORMAT, "stream %s->%s bundle %llu: a hub does not accept '%s' "
                       "bundles", m->sender, m->recipient, (unsigned long long)m->seq,
                       nv_kind_name(m->kind));
    if ((r = nv_hstore_rebase_get(txn, &h->store, m->sender, &rb)) < 0)
        return r;
    if (m->epoch < rb.epoch)
        return nv_fail(NV_ESTALE, "stream %s->%s bundle %llu is of epoch %llu, sealed before "
                       "the rebase to epoch %llu (issued %s at seq %llu): stale, set aside in "
                       "stale/", m->sender, m->recipient, (unsigned long long)m->seq,
                       (unsigned long long)m->epoch, (unsigned long long)rb.epoch, rb.issued,
                       (unsigned long long)rb.base);
    if (m->epoch > rb.epoch)
        return nv_fail(NV_EFORK, "stream %s->%s bundle %llu says epoch %llu, but this hub "
                       "opened epoch %llu only", m->sender, m->recipient,
                       (unsigned long long)m->seq, (unsigned long long)m->epoch,
                       (unsigned long long)rb.epoch);
    return 0;
}

int
nv_hub_snapshot(struct nv_hub *h, MDB_txn *txn, const struct nv_manifest *m,
                const char *dir, int live, struct nv_apply_ctx *a,
                struct nv_apply_stats *st)
{
    char *path = nv_path_join(dir, "snapshot.json");
    struct nv_hrebase rb;
    json_t *o = NULL, *srcs, *v;
    json_error_t e;
    const char *name;
    uint64_t epoch, base;
    int r = 0;

    if (!nv_exists(path))
        goto out;
    if (live && !m->snapshot) {
        r = nv_fail(NV_EFORMAT, "stream %s->%s bundle %llu holds snapshot.json but its "
                    "manifest does not say snapshot", m->sender, m->recipient,
                    (unsigned long long)m->seq);
        goto out;
    }
    o = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    srcs = json_object_get(o, "sources");
    if (!json_is_integer(json_object_get(o, "epoch")) ||
        !json_is_integer(json_object_get(o, "base")) || !json_is_object(srcs)) {
        r = nv_fail(NV_EFORMAT, "stream %s->%s bundle %llu: snapshot.json is not "
                    "{epoch, base, sources}", m->sender, m->recipient,
                    (unsigned long long)m->seq);
        goto out;
    }
    epoch = (uint64_t)json_integer_value(json_object_get(o, "epoch"));
    base = (uint64_t)json_integer_value(json_object_get(o, "base"));
    if (live) {
        if ((r = nv_hstore_rebase_get(txn, &h->store, m->sender, &rb)) < 0)
            goto out;
        if (rb.epoch != epoch || rb.base != base || m->epoch != epoch) {
            r = nv_fail(NV_EFORMAT, "stream %s->%s bundle %llu: a snapshot of epoch %llu "
                        "from seq %llu, but the rebase opened epoch %llu from seq %llu",
                        m->sender, m->recipient, (unsigned long long)m->seq,
                        (unsigned long long)epoch, (unsigned long long)base,
                        (unsigned long long)rb.epoch, (unsigned long long)rb.base);
            goto out;
        }
    }
    json_object_foreach(srcs, name, v) {
        const char *state = json_string_value(v);
        if (state != NULL && strcmp(state, "whole") == 0) {
            if ((r = nv_apply_reconcile(txn, &h->store, m->sender, name, base, a, st)) < 0)
                goto out;
        } else {
            nv_warn("rebase", "snapshot of %s source %s is not whole (%s): records it lacks "
                    "are kept", m->sender, name, state ? state : "?");
        }
    }
    if (live && rb.pending) {
        rb.pending = 0;
        r = nv_hstore_rebase_put(txn, &h->store, m->sender, &rb);
    }
out:
    json_decref(o);
    free(path);
    return r;
}
