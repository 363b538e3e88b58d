#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "agent.h"

static const struct nv_keyring_entry *
find_hub(const struct nv_keyring *kr, const char *name)
{
    const struct nv_keyring_entry *hub = NULL;

    for (size_t i = 0; i < kr->n; i++)
        if (kr->e[i].state == NV_KEY_ACTIVE && kr->e[i].id.role == NV_ROLE_HUB &&
            (name[0] == '\0' || strcmp(kr->e[i].id.entity, name) == 0))
            hub = &kr->e[i];
    return hub;
}

int
nv_agent_open(struct nv_agent *a, const char *dir, int need_hub)
{
    int r;

    memset(a, 0, sizeof(*a));
    a->dir = dir;
    a->lock_fd = -1;
    if ((r = nv_dir_lock(dir, "agent.lock", "nova-agent")) < 0)
        return r;
    a->lock_fd = r;
    if ((r = nv_agent_config_load(&a->cfg, dir)) < 0)
        goto fail;
    a->have_cfg = 1;
    if ((r = nv_identity_load(dir, &a->self)) < 0)
        goto fail;
    a->have_self = 1;
    if (a->cfg.entity[0] == '\0') /* not set: the keys' entity */
        strcpy(a->cfg.entity, a->self.pub.entity);
    if (strcmp(a->self.pub.entity, a->cfg.entity) != 0) {
        r = nv_fail(NV_ECONFIG, "%s says entity '%s' but the keys are those of '%s'",
                    a->cfg.path, a->cfg.entity, a->self.pub.entity);
        goto fail;
    }
    if ((r = nv_keyring_load(&a->kr, dir)) < 0)
        goto fail;
    a->have_kr = 1;
    a->hub = find_hub(&a->kr, a->cfg.hub);
    if (a->hub == NULL && need_hub) {
        r = a->cfg.hub[0]
                ? nv_fail(NV_ECONFIG, "hub '%s' is not trusted: run 'nova-agent trust %s HUB-IDENTITY.pub'",
                          a->cfg.hub, dir)
                : nv_fail(NV_ECONFIG, "no hub is trusted yet: run 'nova-agent trust %s HUB-IDENTITY.pub'",
                          dir);
        goto fail;
    }
    if ((r = nv_astate_open(&a->st, dir)) < 0)
        goto fail;
    a->have_st = 1;
    a->sent = nv_path_join(dir, "sent");
    /* the outbox is never created here: a mistyped path must not become a
     * new directory anywhere (init makes the default one) */
    {
        struct stat st;
        if (stat(a->cfg.outbox, &st) < 0 || !S_ISDIR(st.st_mode)) {
            if (!need_hub)
                return 0; /* check and status: check reports it */
            r = nv_fail(NV_ECONFIG, "outbox '%s' is not a directory: create it or correct "
                        "'outbox' in %s", a->cfg.outbox, a->cfg.path);
            goto fail;
        }
    }
    if ((r = nv_outbox_recover_sent(a->cfg.outbox, a->sent, a->st.env, a->st.streams)) < 0)
        goto fail;
    return 0;
fail:
    nv_agent_close(a);
    return r;
}

void
nv_agent_close(struct nv_agent *a)
{
    if (a->have_st)
        nv_astate_close(&a->st);
    if (a->have_kr)
        nv_keyring_release(&a->kr);
    if (a->have_self)
        nv_identity_release(&a->self);
    if (a->have_cfg)
        nv_agent_config_release(&a->cfg);
    a->have_st = a->have_kr = a->have_self = a->have_cfg = 0;
    free(a->sent);
    a->sent = NULL;
    if (a->lock_fd >= 0)
        close(a->lock_fd);
    a->lock_fd = -1;
}

void
nv_agent_outbox(struct nv_agent *a, struct nv_outbox *o)
{
    memset(o, 0, sizeof(*o));
    o->outbox = a->cfg.outbox;
    o->self = &a->self;
    o->peer = a->hub;
    o->env = a->st.env;
    o->streams = a->st.streams;
    o->cap = a->cfg.bundle_cap;
    o->zstd_level = a->cfg.compression_level;
    o->sent = a->sent;
    /* every bundle tells the hub what the agent applied of its stream */
    if (a->hub != NULL && a->st.env != NULL) {
        struct nv_stream_state in;
        MDB_txn *txn;
        char key[80];
        snprintf(key, sizeof(key), "in:%s", a->hub->id.entity);
        if (mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn) == 0) {
            if (nv_astate_stream_get(txn, &a->st, key, &in) == 0) {
                o->has_acked = 1;
                o->acked = in.seq;
            }
            mdb_txn_abort(txn);
        }
    }
    /* every bundle witnesses the newest ledger head the hub sent */
    nv_agent_witness(a, o->ledger_head);
    /* and says the epoch of the stream (a rebase order opened it) */
    if (a->hub != NULL && a->st.env != NULL) {
        struct nv_arebase rb;
        MDB_txn *txn;
        if (mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn) == 0) {
            if (nv_agent_rebase_get(txn, a, &rb) == 0)
                o->epoch = rb.epoch;
            mdb_txn_abort(txn);
        }
    }
}

uint64_t
nv_agent_acked(struct nv_agent *a)
{
    MDB_txn *txn;
    uint64_t acked = 0;

    if (a->hub == NULL || a->st.env == NULL ||
        mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    if (nv_acked_get(txn, a->st.streams, a->hub->id.entity, &acked) < 0)
        acked = 0;
    mdb_txn_abort(txn);
    return acked;
}

int
nv_agent_prune_sent(struct nv_agent *a, uint64_t *n)
{
    uint64_t acked = nv_agent_acked(a);

    if (n != NULL)
        *n = 0;
    if (acked == 0 || a->sent == NULL)
        return 0;
    return nv_sent_prune(a->sent, acked, n);
}

/* The key of the witnessed ledger head in the state's streams database. */
#define WITNESS_KEY "witness:ledger"

void
nv_agent_witness(struct nv_agent *a, char out[41])
{
    MDB_txn *txn;
    MDB_val k = { sizeof(WITNESS_KEY) - 1, (void *)WITNESS_KEY }, v;

    out[0] = '\0';
    if (a->st.env == NULL || mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn) != 0)
        return;
    if (mdb_get(txn, a->st.streams, &k, &v) == 0 && v.mv_size == 40) {
        memcpy(out, v.mv_data, 40);
        out[40] = '\0';
    }
    mdb_txn_abort(txn);
}

int
nv_agent_witness_put(MDB_txn *txn, struct nv_agent *a, const char *head)
{
    MDB_val k = { sizeof(WITNESS_KEY) - 1, (void *)WITNESS_KEY }, v = { 40, (void *)head };
    int rc;

    if (head == NULL || strlen(head) != 40)
        return 0;
    if ((rc = mdb_put(txn, a->st.streams, &k, &v, 0)) != 0)
        return nv_mdb_fail(rc, "cannot keep the witnessed ledger head");
    return 0;
}

static void
rebase_key(char *out, size_t n, const struct nv_agent *a)
{
    snprintf(out, n, "rebase:%s", a->hub != NULL ? a->hub->id.entity : "");
}

int
nv_agent_rebase_get(MDB_txn *txn, struct nv_agent *a, struct nv_arebase *out)
{
    char key[NV_NAME_MAX + 16];
    MDB_val k, v;
    json_t *o;
    int rc;

    memset(out, 0, sizeof(*out));
    rebase_key(key, sizeof(key), a);
    k.mv_size = strlen(key);
    k.mv_data = key;
    if ((rc = mdb_get(txn, a->st.streams, &k, &v)) == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_mdb_fail(rc, "cannot read the stream epoch");
    if ((o = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL ||
        !json_is_integer(json_object_get(o, "epoch"))) {
        json_decref(o);
        return nv_fail(NV_ECORRUPT, "state store: the stream epoch is damaged");
    }
    out->epoch = (uint64_t)json_integer_value(json_object_get(o, "epoch"));
    out->base = (uint64_t)json_integer_value(json_object_get(o, "base"));
    out->hub_seq = (uint64_t)json_integer_value(json_object_get(o, "hub_seq"));
    out->snapshot = json_is_true(json_object_get(o, "snapshot"));
    json_decref(o);
    return 0;
}

int
nv_agent_rebase_put(MDB_txn *txn, struct nv_agent *a, const struct nv_arebase *rb)
{
    char key[NV_NAME_MAX + 16], *text;
    json_t *o = json_pack("{s:I,s:I,s:I,s:b}", "epoch", (json_int_t)rb->epoch, "base",
                          (json_int_t)rb->base, "hub_seq", (json_int_t)rb->hub_seq,
                          "snapshot", rb->snapshot);
    MDB_val k, v;
    int rc;

    text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (text == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    rebase_key(key, sizeof(key), a);
    k.mv_size = strlen(key);
    k.mv_data = key;
    v.mv_size = strlen(text);
    v.mv_data = text;
    rc = mdb_put(txn, a->st.streams, &k, &v, 0);
    free(text);
    return rc != 0 ? nv_mdb_fail(rc, "cannot keep the stream epoch") : 0;
}
