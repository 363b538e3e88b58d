/*
 * backup.c - `nova-hub backup` and `nova-hub restore` (backup.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/backup.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../agent/state.h"
#include "../store/ledger.h"
#include "../store/maprepo.h"
#include "backup.h"

/* Everything of the hub's directory but the store (copied apart), what a
 * crash or a compaction leaves, the lock, and names starting with '.'
 * (staging, copies in progress, temporary files). */
static int
hub_filter(void *ctx, const char *rel, const char *name, int isdir)
{
    (void)ctx, (void)isdir;
    if (nv_temporary_name(name))
        return 0;
    if (strchr(rel, '/') == NULL &&
        (strcmp(name, "store") == 0 || strcmp(name, "store.compact") == 0 ||
         strcmp(name, "hub.lock") == 0))
        return 0;
    return 1;
}

static void
note_stream(void *ctx, const char *key, const struct nv_stream_state *st)
{
    struct nv_backup *b = ctx;

    if (strncmp(key, "out:", 4) == 0)
        nv_backup_note(b, "sent", "%s seq %llu", key + 4, (unsigned long long)st->seq);
    else
        nv_backup_note(b, "applied", "%s seq %llu", key, (unsigned long long)st->seq);
}

int
nv_hub_backup(struct nv_hub *h, const char *dest, char **path, struct nv_buf *info)
{
    struct nv_backup b;
    char head[41] = "", tip[41], *p;
    int r;

    *path = NULL;
    if ((r = nv_backup_outside(h->dir, dest)) < 0 ||
        (r = nv_backup_begin(&b, dest, "nova-hub", h->self.pub.entity)) < 0)
        return r;
    nv_backup_note(&b, "schema", "%u", NV_HSTORE_SCHEMA);
    /* the store: one read transaction's view */
    p = nv_backup_path(&b, "dir/store/data.mdb");
    p[strlen(p) - strlen("/data.mdb")] = '\0';
    r = nv_lmdb_copy(h->store.env, p);
    if (r == 0)
        r = nv_lmdb_copy_streams(p, note_stream, &b);
    free(p);
    if (r < 0)
        goto fail;
    /* the rest of the directory: hub.lock is ours, nothing writes */
    if ((r = nv_backup_tree(&b, h->dir, "dir", hub_filter, NULL)) < 0)
        goto fail;
    /* the repositories' copies say what the originals say */
    if (h->ledger != NULL) {
        char *lp = nv_backup_path(&b, "dir/ledger");
        if ((r = nv_ledger_head(h->ledger, head, NULL)) == 0 &&
            (r = nv_ledger_holds(lp, head)) != 1)
            r = r < 0 ? r : nv_fail(NV_ECORRUPT, "the copy of the ledger does not hold its "
                                    "head %.12s", head);
        else if (r == 1)
            r = 0;
        free(lp);
        if (r < 0)
            goto fail;
        nv_backup_note(&b, "ledger-head", "%s", head);
    }
    if ((r = nv_maprepo_tip(h->maps, tip)) == 0) {
        struct nv_maprepo *copy = NULL;
        char *dp = nv_backup_path(&b, "dir"), ctip[41] = "";
        if ((r = nv_maprepo_open(&copy, dp)) == 0 && (r = nv_maprepo_tip(copy, ctip)) == 0 &&
            strcmp(tip, ctip) != 0)
            r = nv_fail(NV_ECORRUPT, "the copy of the mapping repository is at %.12s, not "
                        "%.12s", ctip, tip);
        nv_maprepo_close(copy);
        free(dp);
        nv_backup_note(&b, "mappings-tip", "%s", tip);
    }
    if (r < 0)
        goto fail;
    return nv_backup_commit(&b, path, info);
fail:
    nv_backup_abort(&b);
    return r;
}

static int
check_restored(void *ctx, const char *tmp)
{
    char *sp = nv_path_join(tmp, "store");
    int r = nv_schema_check("hub store", sp, NV_HSTORE_SCHEMA, nv_hstore_migration);

    (void)ctx;
    free(sp);
    return r;
}

int
nv_hub_restore(const char *backup, const char *dir, struct nv_buf *info)
{
    return nv_backup_restore(backup, "nova-hub", dir, check_restored, NULL, info);
}
