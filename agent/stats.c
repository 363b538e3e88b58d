/*
 * stats.c - the agent's counters and metrics (stats.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/util.h"
#include "stats.h"

/* the counters of DIR/stats, in this order */
enum {
    S_PASSES, S_FILES, S_ROWS, S_UPSERTS, S_DELETES, S_UNCHANGED, S_REJECTS, S_WITHHELD,
    S_BYTES, S_BUNDLES, S_IN_APPLIED, S_IN_QUARANTINED, S_IN_UPDATES, S_ORDERS,
    S_ORDERS_FAILED, S_UNREADABLE, S_LAST_SCAN, S_LAST_SECONDS_MS, S_N
};
static const char *const names[S_N] = {
    "passes", "files", "rows", "upserts", "deletes", "unchanged", "rejects", "withheld",
    "bytes", "bundles", "inbox_applied", "inbox_quarantined", "inbox_updates", "orders",
    "orders_failed", "unreadable", "last_scan", "last_duration_ms",
};

static void
load(const char *dir, uint64_t v[S_N])
{
    char *p = nv_path_join(dir, "stats");
    FILE *f = fopen(p, "r");
    char k[64];
    unsigned long long n;

    memset(v, 0, S_N * sizeof(*v));
    while (f != NULL && fscanf(f, "%63s %llu", k, &n) == 2)
        for (int i = 0; i < S_N; i++)
            if (strcmp(k, names[i]) == 0)
                v[i] = n;
    if (f != NULL)
        fclose(f);
    free(p);
}

int
nv_agent_stats_note(const char *dir, const struct nv_scan_stats *ss,
                    const struct nv_inbox_stats *is, double seconds)
{
    uint64_t v[S_N];
    struct nv_buf b = NV_BUF_INIT;
    char *p = nv_path_join(dir, "stats");
    int r = 0;

    load(dir, v);
    v[S_PASSES]++;
    if (ss != NULL) {
        v[S_FILES] += ss->files;
        v[S_ROWS] += ss->rows;
        v[S_UPSERTS] += ss->upserts;
        v[S_DELETES] += ss->deletes;
        v[S_UNCHANGED] += ss->unchanged;
        v[S_REJECTS] += ss->rejects;
        v[S_WITHHELD] += ss->withheld;
        v[S_BYTES] += ss->bytes;
        v[S_BUNDLES] += ss->bundles;
        v[S_UNREADABLE] += ss->unreadable;
        v[S_LAST_SCAN] = (uint64_t)nv_now();
        v[S_LAST_SECONDS_MS] = (uint64_t)(seconds * 1000 + 0.5);
    }
    if (is != NULL) {
        v[S_IN_APPLIED] += is->applied;
        v[S_IN_QUARANTINED] += is->quarantined;
        v[S_IN_UPDATES] += is->updates;
        v[S_ORDERS] += is->orders;
        v[S_ORDERS_FAILED] += is->failed;
    }
    for (int i = 0; i < S_N && r == 0; i++)
        r = nv_buf_addf(&b, "%s %llu\n", names[i], (unsigned long long)v[i]);
    if (r == 0)
        r = nv_write_file(p, b.data, b.len, 0640);
    nv_buf_release(&b);
    free(p);
    return r;
}

struct m {
    struct nv_buf *b;
    const char *entity;
    int err;
};

static void
metric(struct m *m, const char *name, const char *type, const char *help, double v,
       const char *label, const char *lv)
{
    int r = 0;

    if (help != NULL)
        r = nv_buf_addf(m->b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (r == 0 && label != NULL)
        r = nv_buf_addf(m->b, "%s{entity=\"%s\",%s=\"%s\"} %.17g\n", name, m->entity, label,
                        lv, v);
    else if (r == 0)
        r = nv_buf_addf(m->b, "%s{entity=\"%s\"} %.17g\n", name, m->entity, v);
    if (r < 0)
        m->err = 1;
}

/* *.nova files in dir and the mtime of the oldest (0 none). */
static unsigned
count_dir(const char *dir, int64_t *oldest)
{
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    unsigned n = 0;

    *oldest = 0;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        char p[4096];
        struct stat st;
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".nova") != 0)
            continue;
        n++;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0 && (*oldest == 0 || st.st_mtime < *oldest))
            *oldest = st.st_mtime;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

int
nv_agent_metrics(struct nv_agent *a, struct nv_buf *out)
{
    uint64_t v[S_N];
    struct m m = { out, a->cfg.entity[0] ? a->cfg.entity : a->self.pub.entity, 0 };
    struct nv_stream_state st_out, st_in;
    int64_t oldest, now = nv_now();
    unsigned n;
    MDB_txn *txn;

    load(a->dir, v);
    memset(&st_out, 0, sizeof(st_out));
    memset(&st_in, 0, sizeof(st_in));
    if (a->hub != NULL && mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn) == 0) {
        char key[80];
        snprintf(key, sizeof(key), "out:%s", a->hub->id.entity);
        if (nv_astate_stream_get(txn, &a->st, key, &st_out) < 0)
            memset(&st_out, 0, sizeof(st_out));
        snprintf(key, sizeof(key), "in:%s", a->hub->id.entity);
        if (nv_astate_stream_get(txn, &a->st, key, &st_in) < 0)
            memset(&st_in, 0, sizeof(st_in));
        mdb_txn_abort(txn);
    }
    metric(&m, "nova_agent_last_scan_timestamp_seconds", "gauge",
           "When the agent last scanned its exports (Unix time; 0 never).",
           (double)v[S_LAST_SCAN], NULL, NULL);
    metric(&m, "nova_agent_last_scan_duration_seconds", "gauge",
           "How long the last pass (inbox and scan) took.", (double)v[S_LAST_SECONDS_MS] / 1000,
           NULL, NULL);
    metric(&m, "nova_agent_passes_total", "counter", "Passes over the inbox and the exports.",
           (double)v[S_PASSES], NULL, NULL);
    metric(&m, "nova_agent_files_read_total", "counter", "Export files read.",
           (double)v[S_FILES], NULL, NULL);
    metric(&m, "nova_agent_read_bytes_total", "counter", "Bytes of export files read.",
           (double)v[S_BYTES], NULL, NULL);
    metric(&m, "nova_agent_files_unreadable_total", "counter",
           "Export files that could not be opened.", (double)v[S_UNREADABLE], NULL, NULL);
    metric(&m, "nova_agent_rows_read_total", "counter", "Export rows read.",
           (double)v[S_ROWS], NULL, NULL);
    metric(&m, "nova_agent_rows_changed_total", "counter",
           "Rows that became change records, by kind (upsert, delete).", (double)v[S_UPSERTS],
           "kind", "upsert");
    metric(&m, "nova_agent_rows_changed_total", "counter", NULL, (double)v[S_DELETES], "kind",
           "delete");
    metric(&m, "nova_agent_rows_unchanged_total", "counter", "Rows unchanged since last sent.",
           (double)v[S_UNCHANGED], NULL, NULL);
    metric(&m, "nova_agent_rows_rejected_total", "counter", "Rows rejected (not readable).",
           (double)v[S_REJECTS], NULL, NULL);
    metric(&m, "nova_agent_deletes_withheld_total", "counter",
           "Deletes withheld by the guard.", (double)v[S_WITHHELD], NULL, NULL);
    metric(&m, "nova_agent_bundles_sealed_total", "counter", "Bundles sealed for the hub.",
           (double)v[S_BUNDLES], NULL, NULL);
    metric(&m, "nova_agent_sent_seq", "gauge", "Sequence number of the last bundle sealed.",
           (double)st_out.seq, NULL, NULL);
    n = count_dir(a->cfg.outbox, &oldest);
    metric(&m, "nova_agent_outbox_bundles", "gauge",
           "Bundles in the outbox, not yet collected for the hub.", n, NULL, NULL);
    metric(&m, "nova_agent_outbox_oldest_age_seconds", "gauge",
           "Age of the oldest bundle in the outbox (0 none).",
           oldest ? (double)(now - oldest) : 0, NULL, NULL);
    metric(&m, "nova_agent_inbox_bundles_applied_total", "counter",
           "Bundles from the hub applied.", (double)v[S_IN_APPLIED], NULL, NULL);
    metric(&m, "nova_agent_inbox_bundles_quarantined_total", "counter",
           "Bundles from the hub refused and quarantined.", (double)v[S_IN_QUARANTINED], NULL,
           NULL);
    metric(&m, "nova_agent_updates_applied_total", "counter",
           "Update records from the hub written for the CRM.", (double)v[S_IN_UPDATES], NULL,
           NULL);
    n = count_dir(a->cfg.inbox, &oldest);
    metric(&m, "nova_agent_inbox_bundles", "gauge", "Bundles waiting in the inbox.", n, NULL,
           NULL);
    metric(&m, "nova_agent_received_seq", "gauge",
           "Sequence number of the last bundle from the hub applied.", (double)st_in.seq,
           NULL, NULL);
    metric(&m, "nova_agent_erasure_orders_answered_total", "counter",
           "Erasure orders answered, by outcome (done, failed).",
           (double)(v[S_ORDERS] - (v[S_ORDERS_FAILED] < v[S_ORDERS] ? v[S_ORDERS_FAILED]
                                                                      : v[S_ORDERS])),
           "outcome", "done");
    metric(&m, "nova_agent_erasure_orders_answered_total", "counter", NULL,
           (double)v[S_ORDERS_FAILED], "outcome", "failed");
    metric(&m, "nova_agent_hook_failures_total", "counter",
           "Erase hook runs that failed (the order answered failed).",
           (double)v[S_ORDERS_FAILED], NULL, NULL);
    return m.err ? nv_fail(NV_ENOMEM, "out of memory") : 0;
}

int
nv_agent_metrics_write(struct nv_agent *a, const char *path)
{
    struct nv_buf b = NV_BUF_INIT;
    int r = nv_agent_metrics(a, &b);

    if (r == 0 && path != NULL) {
        struct nv_atomic at;
        if ((r = nv_atomic_open(&at, path, 0644)) == 0) {
            if ((r = nv_write_all(at.fd, b.data, b.len)) < 0)
                nv_atomic_abort(&at);
            else
                r = nv_atomic_commit(&at, 0);
        }
    } else if (r == 0 && fwrite(b.data, 1, b.len, stdout) != b.len) {
        r = nv_fail_errno("cannot write");
    }
    nv_buf_release(&b);
    return r;
}
