/*
 * hub.c - the hub's working context (hub.h): the mapping cache and the
 * outboxes to the agents.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/util.h"
#include "../../agent/outbox.h"
#include "../model/mapping.h"
#include "../store/ledger.h"
#include "../store/maprepo.h"
#include "hub.h"

/* ---- outboxes ---- */

int
nv_hub_outbox(struct nv_hub *h, const char *entity, int kind, struct nv_outbox *o, char **obox)
{
    const struct nv_keyring_entry *peer = nv_keyring_active(&h->kr, entity);
    int r;

    memset(o, 0, sizeof(*o));
    *obox = NULL;
    if (peer == NULL)
        return nv_fail(NV_ENOTFOUND, "no enrolled, unrevoked agent '%s'", entity);
    {
        /* one allocation: the outbox, then the sent directory */
        size_t n = strlen(h->dir) + strlen(entity) + 16;
        if ((*obox = malloc(2 * n)) == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        snprintf(*obox, n, "%s/outbox/%s", h->dir, entity);
        snprintf(*obox + n, n, "%s/sent/%s", h->dir, entity);
        o->sent = *obox + n;
    }
    o->outbox = *obox;
    o->self = &h->self;
    o->peer = peer;
    o->env = h->store.env;
    o->streams = h->store.streams;
    /* every bundle to an agent carries the ledger's head: the agents
     * witness it and return it, so a rollback of the ledger is caught */
    if (h->ledger != NULL && nv_ledger_head(h->ledger, o->ledger_head, NULL) < 0)
        o->ledger_head[0] = '\0';
    if ((r = nv_mkdir_p(*obox, 0700)) < 0 ||
        (r = nv_outbox_recover_sent(*obox, o->sent, o->env, o->streams)) < 0 ||
        (r = nv_outbox_begin(o, kind)) < 0) {
        free(*obox);
        *obox = NULL;
        return r;
    }
    {
        /* what the hub applied of the entity's stream, read in the
         * outbox's own transaction */
        struct nv_stream_state in;
        if ((r = nv_hstore_stream_get(nv_outbox_txn(o), &h->store, entity, &in)) < 0) {
            nv_outbox_abort(o);
            free(*obox);
            *obox = NULL;
            return r;
        }
        o->has_acked = 1;
        o->acked = in.seq;
    }
    return 0;
}

struct sent_file {
    uint64_t seq;
    char *path;
};

static int
sent_file_cmp(const void *a, const void *b)
{
    const struct sent_file *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The bundles of one entity's sent/ directory into the ledger, in
 * sequence order.  A copy whose entry the ledger holds (by the name's
 * sequence number) is not read again: the hub opens and closes with every
 * command, and sent/ may hold many bundles waiting for an agent. */
static int
ledger_sent_dir(struct nv_hub *h, const char *dir, const char *entity)
{
    struct sent_file *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d = opendir(dir);
    int r = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL && r == 0) {
        uint64_t seq = nv_sent_seq(de->d_name);
        if (seq == 0 || de->d_name[0] == '.')
            continue;
        if (n == cap) {
            struct sent_file *w = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
            if (w == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                break;
            }
            v = w;
        }
        v[n].seq = seq;
        if ((v[n].path = nv_path_join(dir, de->d_name)) == NULL)
            r = nv_fail(NV_ENOMEM, "out of memory");
        else
            n++;
    }
    closedir(d);
    qsort(v, n, sizeof(*v), sent_file_cmp);
    for (size_t i = 0; i < n && r == 0; i++)
        if ((r = nv_ledger_has_stream_entry(h->ledger, h->self.pub.entity, entity, v[i].seq)) == 0)
            r = nv_ledger_record_sent(h->ledger, v[i].path);
        else if (r > 0)
            r = 0;
    for (size_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
    return r;
}

int
nv_hub_ledger_sent(struct nv_hub *h)
{
    char *root;
    struct dirent *de;
    DIR *d;
    int r = 0;

    if (h->ledger == NULL)
        return 0;
    root = nv_path_join(h->dir, "sent");
    if (root == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if ((d = opendir(root)) != NULL) {
        while ((de = readdir(d)) != NULL && r == 0) {
            char *p;
            if (de->d_name[0] == '.' || !nv_name_valid(de->d_name))
                continue;
            if ((p = nv_path_join(root, de->d_name)) == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                break;
            }
            r = ledger_sent_dir(h, p, de->d_name);
            free(p);
        }
        closedir(d);
    }
    free(root);
    return r;
}

char *
nv_hub_sent_dir(struct nv_hub *h, const char *entity)
{
    char *sent = nv_path_join(h->dir, "sent"), *p = nv_path_join(sent, entity);

    free(sent);
    return p;
}

uint64_t
nv_hub_acked_by(struct nv_hub *h, const char *entity)
{
    MDB_txn *txn;
    uint64_t acked = 0;

    if (mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    if (nv_acked_get(txn, h->store.streams, entity, &acked) < 0)
        acked = 0;
    mdb_txn_abort(txn);
    return acked;
}

void
nv_hub_note_acked(struct nv_hub *h, const char *entity)
{
    for (size_t i = 0; i < h->nacked_ents; i++)
        if (strcmp(h->acked_ents[i], entity) == 0)
            return;
    if (h->nacked_ents == h->cacked_ents) {
        size_t c = h->cacked_ents ? 2 * h->cacked_ents : 8;
        void *v = realloc(h->acked_ents, c * sizeof(*h->acked_ents));
        if (v == NULL)
            return; /* no receipt: the next bundle carries acked anyway */
        h->acked_ents = v;
        h->cacked_ents = c;
    }
    snprintf(h->acked_ents[h->nacked_ents++], NV_NAME_MAX + 1, "%s", entity);
}

/* ---- mappings ---- */

int
nv_hub_mapping(struct nv_hub *h, const char *entity, const struct nv_mapping **map,
               const char **commit)
{
    struct nv_hub_map *c = NULL;
    struct nv_buf text = NV_BUF_INIT;
    char tip[41];
    int r;

    *map = NULL;
    *commit = NULL;
    if ((r = nv_maprepo_tip(h->maps, tip)) < 0)
        return r;
    for (size_t i = 0; i < h->nmcache; i++)
        if (strcmp(h->mcache[i]->entity, entity) == 0)
            c = h->mcache[i];
    if (c == NULL) {
        /* entries stay where they are: callers keep their commit */
        struct nv_hub_map **v = realloc(h->mcache, (h->nmcache + 1) * sizeof(*v));
        if (v == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
            if (v != NULL)
                h->mcache = v;
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        h->mcache = v;
        h->mcache[h->nmcache++] = c;
        snprintf(c->entity, sizeof(c->entity), "%s", entity);
    }
    if (strcmp(c->commit, tip) != 0) {
        if (c->map != NULL) {
            nv_mapping_release(c->map);
            free(c->map);
            c->map = NULL;
        }
        c->have = 0;
        c->commit[0] = '\0';
        r = nv_maprepo_get(h->maps, entity, tip, &text, NULL);
        if (r == 0) {
            if ((c->map = calloc(1, sizeof(*c->map))) == NULL)
                abort();
            if ((r = nv_mapping_parse((char *)text.data, text.len, entity, c->map)) < 0) {
                free(c->map);
                c->map = NULL;
                r = nv_fail(NV_ECONFIG, "the mapping of '%s' at commit %.12s does not "
                            "parse (fix it with nova-hub mapping set): %s", entity, tip,
                            nv_errmsg(r));
                nv_buf_release(&text);
                return r;
            }
            c->have = 1;
        } else if (r != NV_ENOTFOUND) {
            nv_buf_release(&text);
            return r;
        }
        nv_buf_release(&text);
        memcpy(c->commit, tip, sizeof(tip));
    }
    *map = c->have ? c->map : NULL;
    *commit = c->commit;
    return 0;
}


void
nv_hub_mappings_release(struct nv_hub *h)
{
    for (size_t i = 0; i < h->nmcache; i++) {
        if (h->mcache[i]->map != NULL)
            nv_mapping_release(h->mcache[i]->map);
        free(h->mcache[i]->map);
        free(h->mcache[i]);
    }
    free(h->mcache);
    h->mcache = NULL;
    h->nmcache = 0;
}
