/*
 * relink.c - re-resolve the whole store (relink.h).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../formats/errors.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
#include "../golden/golden.h"
#include "../lib/hmap.h"
#include "../link/link.h"
#include "relink.h"

/* One RCU's fate: the first RCU met on the other side, and whether another
 * was met (several). */
struct fate {
    char first[16];
    uint32_t several;
    uint32_t members;
};

static uint64_t
rcu_key(const char *rcu)
{
    return nv_fnv1a_str(NV_FNV_OFFSET_LINK, rcu);
}

/* Note that an RCU on one side (from) holds a record that is in to on the
 * other. */
static int
note(struct nv_hmap *m, const char *from, const char *to)
{
    int isnew;
    struct fate *f = nv_hmap_put(m, rcu_key(from), &isnew);

    if (f == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if (isnew) {
        memset(f, 0, sizeof(*f));
        snprintf(f->first, sizeof(f->first), "%s", to);
    } else if (strcmp(f->first, to) != 0) {
        f->several = 1;
    }
    f->members++;
    return 0;
}

/* Count merges, splits and RCUs kept from each record's RCU before and
 * after. */
static int
fates(MDB_txn *txn, struct nv_hub *h, const struct nv_link_set *set, struct nv_relink_stats *st)
{
    struct nv_hmap before, after; /* RCU -> struct fate */
    int r = 0;

    nv_hmap_init(&before, sizeof(struct fate), set->n);
    nv_hmap_init(&after, sizeof(struct fate), set->n);
    for (size_t i = 0; i < set->n && r == 0; i++) {
        const struct nv_link_item *it = &set->v[i];
        struct nv_link_val lv;
        if (it->skip || it->deleted)
            continue;
        if ((r = nv_link_get(txn, h->link, it->key, it->keylen, &lv)) < 0)
            break;
        st->records++;
        if (it->old_rcu[0] == '\0')
            continue;
        if (strcmp(it->old_rcu, lv.rcu) != 0)
            st->moved++;
        if ((r = note(&before, it->old_rcu, lv.rcu)) == 0)
            r = note(&after, lv.rcu, it->old_rcu);
    }
    if (r == 0) {
        size_t pos = 0;
        uint64_t k;
        struct fate *f;
        while ((f = nv_hmap_next(&before, &pos, &k)) != NULL) {
            st->rcus_before++;
            if (f->several)
                st->split++;
        }
        pos = 0;
        while ((f = nv_hmap_next(&after, &pos, &k)) != NULL) {
            struct fate *b;
            st->rcus_after++;
            if (f->several) {
                st->merged++;
            } else if ((b = nv_hmap_get(&before, rcu_key(f->first))) != NULL && !b->several) {
                /* one RCU before, one after: the same members */
                st->stayed++;
            }
        }
    }
    nv_hmap_release(&before);
    nv_hmap_release(&after);
    return r;
}

int
nv_hub_relink(struct nv_hub *h, int dry_run, struct nv_relink_stats *st)
{
    struct nv_link_set set;
    struct nv_link_stats ls;
    struct nv_golden_stats gs;
    json_t *prev = json_object();
    MDB_txn *txn = NULL;
    int r, rc;

    memset(st, 0, sizeof(*st));
    memset(&set, 0, sizeof(set));
    if (prev == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0) {
        json_decref(prev);
        return nv_hmdb_fail(rc, "cannot write");
    }
    if ((r = nv_link_all(txn, h->link, &set)) < 0)
        goto out;
    if (set.n == 0)
        goto out;
    nv_info("relink", "re-resolving %zu records", set.n);
    if ((r = nv_link_bundle(txn, h->link, &set, &ls)) < 0)
        goto out;
    st->review = ls.review;
    if ((r = fates(txn, h, &set, st)) < 0)
        goto out;
    /* golden records follow the clusters; nothing is sent: no entity's
     * data changed, and the next change of a record sends what it must */
    h->replaying = 1;
    r = nv_golden_after_link(h, txn, &set, prev, "", 0, nv_now(), &gs);
    h->replaying = 0;
out:
    if (r == 0 && !dry_run)
        r = nv_hmdb_commit(&txn);
    if (txn != NULL)
        mdb_txn_abort(txn);
    nv_link_set_release(&set);
    json_decref(prev);
    return r;
}
