#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/progress.h"
#include "../../formats/log.h"
#include "../../formats/spool.h"
#include "../../formats/erased.h"
#include "../../formats/record.h"
#include "../model/recparse.h"
#include "../../agent/outbox.h"
#include "ingest.h"
#include "retain.h"
#include "../gdpr/gdpr.h"
#include "../store/ledger.h"
#include "../golden/golden.h"
#include "../link/link.h"
#include "../model/mapping.h"
#include "../store/maprepo.h"
#include "rebase.h"

static const char *layout[] = { "inbox", "quarantine", "received", "archive" };

int
nv_hub_layout(const char *dir)
{
    int r = nv_mkdir_p(dir, 0700);

    for (size_t i = 0; r == 0 && i < sizeof(layout) / sizeof(layout[0]); i++) {
        char *p = nv_path_join(dir, layout[i]);
        r = nv_mkdir_p(p, 0700);
        free(p);
    }
    return r;
}

/* Remove staging left by a crash and received dirs never committed. */
static int
recover(struct nv_hub *h)
{
    char *rd = nv_path_join(h->dir, "received");
    DIR *d = opendir(rd);
    struct dirent *e;
    MDB_txn *txn = NULL;
    int r = 0;

    if (d == NULL) {
        free(rd);
        return nv_fail_errno("cannot open '%s/received'", h->dir);
    }
    if (mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn) != 0)
        txn = NULL;
    while ((e = readdir(d)) != NULL && r == 0) {
        char *sub = nv_path_join(rd, e->d_name);
        if (strncmp(e->d_name, ".staging-", 9) == 0) {
            r = nv_rm_rf(sub);
        } else if (e->d_name[0] != '.' && txn != NULL) {
            struct nv_stream_state st;
            DIR *sd = opendir(sub);
            struct dirent *se;
            if (sd != NULL && nv_hstore_stream_get(txn, &h->store, e->d_name, &st) == 0) {
                while ((se = readdir(sd)) != NULL) {
                    char *end;
                    unsigned long long seq = strtoull(se->d_name, &end, 10);
                    if (se->d_name[0] >= '0' && se->d_name[0] <= '9' &&
                        *end == '\0' && seq > st.seq) {
                        char *x = nv_path_join(sub, se->d_name);
                        nv_warn("ingest", "removing uncommitted '%s/%s'", e->d_name,
                                se->d_name);
                        r = nv_rm_rf(x);
                        free(x);
                    }
                }
            }
            if (sd != NULL)
                closedir(sd);
        }
        free(sub);
    }
    if (txn != NULL)
        mdb_txn_abort(txn);
    closedir(d);
    free(rd);
    return r;
}

static int finish_replays(struct nv_hub *h);

#define LEDGER_HEAD_KEY "ledger:head"

/* Note in the store the ledger's head after the hub wrote to it: the next
 * open checks that main still holds it (nv_ledger_check_head). */
static int
note_ledger_head(struct nv_hub *h)
{
    char hex[41];
    MDB_txn *txn;
    MDB_val k = { sizeof(LEDGER_HEAD_KEY) - 1, (void *)LEDGER_HEAD_KEY }, v = { 40, hex };
    int r, rc;

    if (h->ledger == NULL)
        return 0;
    if ((r = nv_ledger_head(h->ledger, hex, NULL)) < 0)
        return r;
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot write");
    if ((rc = mdb_put(txn, h->store.meta, &k, &v, 0)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
        if (rc != 0 && txn != NULL)
            mdb_txn_abort(txn);
        return nv_hmdb_fail(rc, "cannot note the ledger head");
    }
    return 0;
}

/* The next ledger commits witness the access log's head (its last line's
 * SHA-256), so a line removed from its end is caught by an auditor. */
static void
ledger_witness_accesslog(struct nv_hub *h)
{
    char hex[65];

    if (h->ledger != NULL && nv_access_log_head(h->dir, hex) == 0)
        nv_ledger_set_trailer(h->ledger, "Accesslog-Head", hex);
}

/* The head noted last ("" when none). */
static void
noted_ledger_head(struct nv_hub *h, char out[41])
{
    MDB_txn *txn;
    MDB_val k = { sizeof(LEDGER_HEAD_KEY) - 1, (void *)LEDGER_HEAD_KEY }, v;

    out[0] = '\0';
    if (mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn) != 0)
        return;
    if (mdb_get(txn, h->store.meta, &k, &v) == 0 && v.mv_size == 40) {
        memcpy(out, v.mv_data, 40);
        out[40] = '\0';
    }
    mdb_txn_abort(txn);
}

/* One nova-hub at a time works in DIR: wait for the one that does (a
 * `nova-hub run` pass, an ingest) up to NOVA_LOCK_WAIT seconds (30). */
static int
lock_hub(const char *dir)
{
    const char *e = getenv("NOVA_LOCK_WAIT");
    long wait_ms = (e != NULL && *e) ? strtol(e, NULL, 10) * 1000 : 30000;
    int r, said = 0;

    for (long waited = 0;; waited += 100) {
        r = nv_dir_lock(dir, "hub.lock", "nova-hub");
        if (r != NV_EEXIST || waited >= wait_ms)
            return r;
        if (!said && waited >= 1000) {
            nv_info("ingest", "waiting for another nova-hub working in '%s'", dir);
            said = 1;
        }
        usleep(100000);
    }
}

static int ledger_register(struct nv_hub *h);

int
nv_hub_open(struct nv_hub *h, const char *dir)
{
    int r;

    memset(h, 0, sizeof(*h));
    h->dir = dir;
    h->lock_fd = -1;
    h->settle_ms = (unsigned)nv_spool_settle_ms(); /* NOVA_INBOX_SETTLE, --settle */
    {
        /* a directory nova-hub init made: nothing is created elsewhere */
        char *id = nv_path_join(dir, "keys/identity.pub");
        int there = nv_exists(id);
        free(id);
        if (!there)
            return nv_fail(NV_ENOTFOUND, "'%s' is not a hub directory (no keys/identity.pub; "
                           "nova-hub init makes one)", dir);
    }
    if ((r = nv_hub_layout(dir)) < 0)
        return r;
    if ((r = lock_hub(dir)) < 0)
        return r;
    h->lock_fd = r;
    if ((r = nv_identity_load(dir, &h->self)) < 0)
        goto fail;
    if ((r = nv_keyring_load(&h->kr, dir)) < 0)
        goto fail;
    /* every module's databases open with the store's: the one place that
     * knows them all */
    if ((h->link = calloc(1, sizeof(*h->link))) == NULL ||
        (h->gdpr = calloc(1, sizeof(*h->gdpr))) == NULL ||
        (h->golden = calloc(1, sizeof(*h->golden))) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto fail;
    }
    h->person_flags = nv_gdpr_flags;
    h->link->store = &h->store; /* links stamp the change log */
    nv_hstore_register(&h->store, nv_link_open, h->link);
    nv_hstore_register(&h->store, nv_gdpr_open, h->gdpr);
    nv_hstore_register(&h->store, nv_golden_open, h->golden);
    if ((r = nv_hstore_open(&h->store, dir)) < 0)
        goto fail;
    if ((r = recover(h)) < 0)
        goto fail;
    if ((r = nv_maprepo_open(&h->maps, dir)) < 0)
        goto fail;
    if ((r = nv_gdpr_key(dir, h->gkey)) < 0)
        goto fail;
    if ((r = finish_replays(h)) < 0)
        goto fail;
    if (h->self.ledger == NULL) {
        nv_warn("ingest", "the hub has no ledger key: bundles are not recorded "
                "in a ledger");
    } else {
        /* and append what a crash kept from it (applied, archived, not
         * recorded) */
        char *ad = nv_path_join(dir, "archive");
        char *stale = nv_path_join(dir, "ledger/refs/heads/main.lock");
        int added = 0;
        /* we hold hub.lock: a ref lock left by a killed process is stale */
        if (unlink(stale) == 0)
            nv_warn("ingest", "removed a stale ledger lock left by a crash");
        free(stale);
        char noted[41];
        noted_ledger_head(h, noted);
        if ((r = nv_ledger_open(&h->ledger, dir, &h->self)) == 0 &&
            (r = nv_ledger_check_head(h->ledger, noted)) == 0 &&
            (ledger_witness_accesslog(h), 1) &&
            (r = nv_ledger_reconcile(h->ledger, ad, &added)) == 0 &&
            (r = nv_hub_ledger_sent(h)) == 0 && (r = ledger_register(h)) == 0 &&
            (r = note_ledger_head(h)) == 0)
            r = nv_hub_rebase_repair(h);
        free(ad);
        if (r < 0)
            goto fail;
        h->ledger_ok = 1;
    }
    return 0;
fail:
    nv_hub_close(h);
    return r;
}

/* ---- the GDPR register's events into the ledger ---- */

#define REGISTER_BATCH 65536

struct reg_batch {
    struct nv_ledger_event ev[REGISTER_BATCH];
    char *strings[REGISTER_BATCH][4];
    size_t n;
};

static void
reg_batch_clear(struct reg_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        for (int j = 0; j < 4; j++)
            free(b->strings[i][j]);
    b->n = 0;
}

static int
reg_collect(void *ctx, uint64_t seq, const char *req, const char *right, uint64_t n,
            const char *at, const char *text)
{
    struct reg_batch *b = ctx;
    char **s;

    if (b->n == REGISTER_BATCH)
        return 1; /* full: recorded, then read on from here */
    s = b->strings[b->n];
    s[0] = strdup(req);
    s[1] = strdup(right ? right : "-");
    s[2] = strdup(at ? at : "-");
    {
        char pub[512];
        nv_gdpr_event_public(text ? text : "-", pub, sizeof(pub));
        s[3] = strdup(pub);
    }
    b->ev[b->n] = (struct nv_ledger_event){ seq, s[0], s[1], n, s[2], s[3] };
    b->n++;
    if (s[0] == NULL || s[1] == NULL || s[2] == NULL || s[3] == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    return 0;
}

/*
 * The register's events the ledger lacks (after the last number it holds:
 * the ledger is its own note, so a crash anywhere records nothing twice and
 * loses nothing), one commit per batch.
 */
static int
ledger_register(struct nv_hub *h)
{
    struct reg_batch *b;
    int r = 0;

    if (h->ledger == NULL || h->gdpr == NULL)
        return 0;
    if ((b = calloc(1, sizeof(*b))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (;;) {
        MDB_txn *txn;
        uint64_t after;
        int rc;
        if ((r = nv_ledger_register_last(h->ledger, &after)) < 0)
            break;
        if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0) {
            r = nv_hmdb_fail(rc, "cannot read");
            break;
        }
        r = nv_gdpr_events_after(txn, h->gdpr, after, reg_collect, b);
        mdb_txn_abort(txn);
        if (r < 0 || b->n == 0)
            break;
        if ((r = nv_ledger_record_events(h->ledger, b->ev, b->n)) < 0)
            break;
        if (b->n < REGISTER_BATCH)
            break;
        reg_batch_clear(b);
    }
    reg_batch_clear(b);
    free(b);
    return r < 0 ? r : 0;
}

void
nv_hub_close(struct nv_hub *h)
{
    /* what this process sealed to the agents goes into the ledger (a
     * failure is logged: the next open records it) */
    int r;
    if (h->ledger != NULL && h->ledger_ok)
        ledger_witness_accesslog(h); /* what this process logged, witnessed */
    if (h->ledger != NULL && h->ledger_ok && h->lock_fd >= 0 && h->store.env != NULL &&
        ((r = nv_hub_ledger_sent(h)) < 0 || (r = ledger_register(h)) < 0 ||
         (r = note_ledger_head(h)) < 0))
        nv_warn("ledger", "the bundles sealed to the agents are not all recorded yet "
                "(the next open records them): %s", nv_errmsg(r));
    nv_hub_mappings_release(h);
    nv_maprepo_close(h->maps);
    h->maps = NULL;
    sodium_memzero(h->gkey, sizeof(h->gkey));
    nv_ledger_close(h->ledger);
    h->ledger = NULL;
    h->ledger_ok = 0;
    nv_hstore_close(&h->store);
    free(h->link);
    free(h->gdpr);
    free(h->golden);
    free(h->acked_ents);
    h->acked_ents = NULL;
    h->nacked_ents = h->cacked_ents = 0;
    h->link = NULL;
    h->gdpr = NULL;
    h->golden = NULL;
    nv_keyring_release(&h->kr);
    nv_identity_release(&h->self);
    if (h->lock_fd >= 0)
        close(h->lock_fd);
    h->lock_fd = -1;
}

/* ---- sinks ---- */

static int
null_entry(void *ctx, const char *name, uint64_t size)
{
    (void)ctx, (void)name, (void)size;
    return 0;
}

static int
null_data(void *ctx, const void *p, size_t n)
{
    (void)p;
    *(uint64_t *)ctx += n;
    return 0;
}

static int
null_end(void *ctx)
{
    (void)ctx;
    return 0;
}

/* ---- checks ---- */

static int
check_head(struct nv_hub *h, const char *path, struct nv_bundle *b)
{
    int r;

    if ((r = nv_bundle_read(b, path, h->max_payload)) < 0)
        return r;
    if (strcmp(b->m.recipient, h->self.pub.entity) != 0) {
        r = nv_fail(NV_EWRONGRCPT, "stream %s->%s bundle %llu is addressed to '%s', not to this hub ('%s')",
                    b->m.sender, b->m.recipient, (unsigned long long)b->m.seq,
                    b->m.recipient, h->self.pub.entity);
        goto fail;
    }
    if ((r = nv_bundle_verify(b, nv_keyring_lookup, &h->kr)) < 0)
        goto fail;
    /* before the stream rules, so a tampered copy is named as such */
    if ((r = nv_bundle_check_hash(b)) < 0)
        goto fail;
    return 0;
fail:
    nv_bundle_release(b);
    return r;
}

static int
check_stream(struct nv_hub *h, struct nv_bundle *b, int *duplicate)
{
    struct nv_stream_state st;
    MDB_txn *txn;
    int rc, r;

    *duplicate = 0;
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    r = nv_hstore_stream_get(txn, &h->store, b->m.sender, &st);
    /* of the epoch the last rebase opened (an older one: stale) */
    if (r == 0)
        r = nv_hub_epoch_check(h, txn, &b->m);
    if (r == 0)
        r = nv_stream_check(&st, &b->m);
    /* the very bundle applied before: a crash kept it from the archive, or
     * it was delivered again (a copy, nova-agent resend): a duplicate,
     * archived and never quarantined */
    if ((r == NV_EREPLAY || r == NV_ESTALE) &&
        nv_hstore_bundle_applied(txn, &h->store, b->m.sender, b->m.seq, b->id))
        *duplicate = 1;
    mdb_txn_abort(txn);
    return r;
}

int
nv_hub_verify_file(struct nv_hub *h, const char *path, struct nv_bundle *b)
{
    struct nv_payload_sink sink;
    uint64_t dummy = 0;
    int r, dup;

    if ((r = check_head(h, path, b)) < 0)
        return r;
    if ((r = check_stream(h, b, &dup)) < 0)
        goto out;
    sink.entry = null_entry;
    sink.data = null_data;
    sink.end = null_end;
    sink.ctx = &dummy;
    r = nv_bundle_open_payload(b, h->self.age, h->self.nage, &sink, &h->lim);
out:
    if (r < 0)
        nv_bundle_release(b);
    return r;
}

static int
is_transient(int code)
{
    return code == NV_ESYS || code == NV_ENOMEM || code == NV_ENOSPC ||
           code == NV_ECORRUPT;
}

/* Record an applied bundle in the ledger.  It is applied already: a failure
 * is made transient, so the bundle stays in the inbox and the next run
 * records it (as a duplicate) before archiving it. */
static int
ledger_applied(struct nv_hub *h, struct nv_bundle *b)
{
    int r;

    if (h->ledger == NULL)
        return 0;
    ledger_witness_accesslog(h);
    if ((r = nv_ledger_record(h->ledger, b, 1, 0, NULL)) < 0 && !is_transient(r))
        r = nv_fail(NV_ECORRUPT, "stream %s->%s bundle %llu: cannot record it in "
                    "the ledger: %s", b->m.sender, b->m.recipient,
                    (unsigned long long)b->m.seq, nv_errmsg(r));
    if (r == 0 && note_ledger_head(h) < 0)
        nv_warn("ingest", "cannot note the ledger head in the store: %s", nv_errmsg(-1));
    return r;
}

static int ingest_path(struct nv_hub *h, const char *path, int quar,
                       struct nv_ingest_result *res);

static void
quarantine(struct nv_hub *h, const char *path, struct nv_ingest_result *res)
{
    const char *base = strrchr(path, '/');
    char *qd = nv_path_join(h->dir, "quarantine"), *to, *rp;
    struct nv_buf b = NV_BUF_INIT;
    char when[21];

    base = base ? base + 1 : path;
    /* into the ledger first: if that fails the bundle stays in the inbox and
     * the next run tries again (recording is idempotent) */
    if (h->ledger != NULL) {
        int r;
        ledger_witness_accesslog(h);
        r = nv_ledger_record_file(h->ledger, path, res->code, res->reason);
        if (r == 0 && note_ledger_head(h) < 0)
            nv_warn("ingest", "cannot note the ledger head in the store");
        if (r < 0) {
            nv_err("ingest", "cannot record '%s' in the ledger: %s", base,
                   nv_errmsg(r));
            res->outcome = NV_FAILED;
            free(qd);
            return;
        }
    }
    to = nv_path_join(qd, base);
    rp = malloc(strlen(to) + 8);
    if (rp == NULL)
        abort();
    sprintf(rp, "%s.reason", to);
    if (nv_buf_addf(&b, "time: %s\ncode: %d\nreason: %s\n",
                    nv_time_format(nv_now(), when), nv_exit_status(res->code),
                    res->reason) == 0 &&
        nv_write_file(rp, b.data, b.len, 0640) == 0 && rename(path, to) == 0 &&
        nv_fsync_dir(qd) == 0) {
        res->outcome = NV_QUARANTINED;
    } else {
        nv_err("ingest", "cannot quarantine '%s': %s", base, nv_errmsg(NV_ESYS));
        res->outcome = NV_FAILED;
    }
    nv_buf_release(&b);
    free(qd);
    free(to);
    free(rp);
}

static int
move_to_archive(struct nv_hub *h, const char *path, const struct nv_manifest *m)
{
    char name[160], *ad = nv_path_join(h->dir, "archive"), *to;
    int r = 0;

    nv_bundle_filename(m, name, sizeof(name));
    to = nv_path_join(ad, name);
    if (rename(path, to) < 0)
        r = nv_fail_errno("cannot archive bundle");
    else
        r = nv_fsync_dir(ad);
    free(ad);
    free(to);
    return r;
}

/* The agent's reject report of a payload: each line's reason counted in
 * a->agent_reasons; a->agent_rejects is the manifest's count (or the
 * report's lines, for a replay, which has no manifest). */
static void
agent_rejects(const char *dir, const struct nv_manifest *m, struct nv_apply_ctx *a)
{
    char *p = nv_path_join(dir, "rejects.ndjson");
    FILE *f = fopen(p, "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lines = 0;

    free(p);
    a->agent_rejects = m->rejects;
    if (f == NULL)
        return;
    if (a->agent_reasons == NULL)
        a->agent_reasons = json_object();
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)n, 0, NULL);
        const char *why = json_string_value(json_object_get(o, "reason"));
        if (why != NULL && a->agent_reasons != NULL)
            json_object_set_new(a->agent_reasons, why,
                                json_integer(json_integer_value(
                                                 json_object_get(a->agent_reasons, why)) + 1));
        lines += o != NULL;
        json_decref(o);
    }
    free(line);
    fclose(f);
    if (a->agent_rejects < lines)
        a->agent_rejects = lines;
}

/* Apply the payload files in dir (changes-*, in name order) for bundle m in
 * txn, then record the bundle's statistics. */
static int
apply_dir(struct nv_hub *h, MDB_txn *txn, const struct nv_manifest *m,
          const char *dir, int counted, struct nv_apply_stats *stats)
{
    struct nv_apply_ctx a;
    struct dirent **ents;
    const char *commit = NULL;
    const struct nv_mapping *map = NULL;
    int ne, r = 0;

    memset(&a, 0, sizeof(a));
    if (m->kind == NV_KIND_CHANGES &&
        (r = nv_hub_mapping(h, m->sender, &map, &commit)) < 0)
        return r;
    a.map = map;
    a.map_commit = map != NULL ? commit : NULL;
    a.gkey = h->gkey;
    a.gdb = h->gdpr;
    if (m->kind == NV_KIND_CHANGES) {
        if ((a.links = calloc(1, sizeof(*a.links))) == NULL ||
            (a.prev = json_object()) == NULL ||
            (a.nv = calloc(1, sizeof(*a.nv))) == NULL) {
            free(a.links);
            json_decref(a.prev);
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        a.links->stamped = 1; /* apply stamps each record it writes */
    }
    if ((ne = scandir(dir, &ents, NULL, alphasort)) < 0) {
        r = nv_fail_errno("cannot read the applied payload");
        goto done;
    }
    /* a replay has no manifest: its count is not known beforehand */
    nv_progress_step(counted ? m->records : 0, "%s seq %llu", m->sender,
                     (unsigned long long)m->seq);
    for (int i = 0; i < ne; i++) {
        if (r == 0 && strncmp(ents[i]->d_name, "changes-", 8) == 0) {
            char *fp = nv_path_join(dir, ents[i]->d_name);
            r = nv_apply_file(txn, &h->store, m, fp, &a, stats);
            free(fp);
        }
        free(ents[i]);
    }
    free(ents);
    /* the payload must be what the signed manifest says, before anything
     * of it is linked, sent on or committed (a replay has no manifest: its
     * payload was checked when it came, and erasures may have thinned it) */
    if (r == 0 && counted && (stats->lines != m->records || stats->op_upserts != m->upserts ||
                   stats->op_deletes != m->deletes))
        r = nv_fail(NV_ECOUNTS, "bundle %s->%s seq %llu: its payload holds %llu records "
                    "(%llu upserts, %llu deletes) but its signed manifest says %llu (%llu "
                    "upserts, %llu deletes)", m->sender, m->recipient,
                    (unsigned long long)m->seq, (unsigned long long)stats->lines,
                    (unsigned long long)stats->op_upserts,
                    (unsigned long long)stats->op_deletes, (unsigned long long)m->records,
                    (unsigned long long)m->upserts, (unsigned long long)m->deletes);
    /* the final part of a full snapshot after a rebase: what the entity
     * no longer holds goes */
    if (r == 0 && m->kind == NV_KIND_CHANGES)
        r = nv_hub_snapshot(h, txn, m, dir, counted, &a, stats);
    if (r == 0 && a.links != NULL && a.links->n > 0) {
        /* one customer ID per person, in the same transaction */
        struct nv_link_stats ls;
        if ((r = nv_link_bundle(txn, h->link, a.links, &ls)) == 0) {
            stats->linked += ls.linked;
            stats->review += ls.review;
            stats->new_rcus += ls.new_rcus;
            stats->merged += ls.merged;
            stats->rcus_touched += ls.records;
        }
        /* golden records of the RCUs it touched, and the updates their
         * changes send to the other entities (not for a replay) */
        if (r == 0) {
            struct nv_golden_stats gs;
            if ((r = nv_golden_after_link(h, txn, a.links, a.prev, m->sender, !h->replaying,
                                          m->created, &gs)) == 0)
                stats->updates += gs.updates;
        }
    }
    /* the rows the agent rejected (its report, rejects.ndjson): counted per
     * reason for status */
    if (r == 0 && m->kind == NV_KIND_CHANGES)
        agent_rejects(dir, m, &a);
    /* the retained payload keeps no line of an erased person */
    if (r == 0 && a.suppressed != NULL)
        r = nv_gdpr_purge_dir(dir, a.suppressed, h->gkey, m->sender);
    if (r == 0)
        r = nv_apply_bundle_done(txn, &h->store, m, &a, stats);
done:
    if (a.links != NULL)
        nv_link_set_release(a.links);
    free(a.links);
    if (a.nv != NULL)
        nv_buf_release(&a.nv->arena);
    free(a.nv);
    json_decref(a.prev);
    nv_apply_ctx_release(&a);
    return r;
}

static int
apply(struct nv_hub *h, const char *path, struct nv_bundle *b,
      struct nv_apply_stats *stats)
{
    struct nv_stage s;
    struct nv_payload_sink sink;
    char sub[96], seqname[32], *rd = nv_path_join(h->dir, "received"),
                                *final_dir = NULL, *sender_dir = NULL, *sdir;
    MDB_txn *txn = NULL;
    int r, rc, committed = 0;

    snprintf(sub, sizeof(sub), ".staging-%s-%llu", b->m.sender,
             (unsigned long long)b->m.seq);
    sdir = nv_path_join(rd, sub);
    nv_stage_sink(&s, sdir, &sink);
    if ((r = nv_rm_rf(sdir)) < 0 || (r = nv_mkdir_p(sdir, 0700)) < 0)
        goto out;
    if ((r = nv_bundle_open_payload(b, h->self.age, h->self.nage, &sink, &h->lim)) < 0) {
        nv_stage_abort(&s);
        goto out;
    }
    if ((r = nv_fsync_dir(sdir)) < 0)
        goto out;
    sender_dir = nv_path_join(rd, b->m.sender);
    if ((r = nv_mkdir_p(sender_dir, 0700)) < 0)
        goto out;
    snprintf(seqname, sizeof(seqname), "%010llu", (unsigned long long)b->m.seq);
    final_dir = nv_path_join(sender_dir, seqname);
    if ((r = nv_rm_rf(final_dir)) < 0)
        goto out;
    if (rename(sdir, final_dir) < 0) {
        r = nv_fail_errno("cannot move staged payload");
        goto out;
    }
    if ((r = nv_fsync_dir(sender_dir)) < 0)
        goto out;
    /* commit point: one transaction per bundle */
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot write");
        goto out;
    }
    /* every record of the bundle, then its stream state: all or nothing */
    if ((r = apply_dir(h, txn, &b->m, final_dir, 1, stats)) < 0)
        goto out;
    if ((r = nv_hstore_stream_advance(txn, &h->store, &b->m, b->id)) < 0)
        goto out;
    /* what the agent says it applied of ours */
    if (b->m.has_acked &&
        (r = nv_acked_put(txn, h->store.streams, b->m.sender, b->m.acked)) < 0)
        goto out;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        r = nv_hmdb_fail(rc, "cannot commit");
        goto out;
    }
    committed = 1;
    nv_hub_note_acked(h, b->m.sender);
    if (b->m.has_acked) {
        char *sd = nv_hub_sent_dir(h, b->m.sender);
        if (nv_sent_prune(sd, b->m.acked, NULL) < 0)
            nv_warn("ingest", "cannot prune '%s': %s", sd, nv_errmsg(-1));
        free(sd);
    }
    if ((r = ledger_applied(h, b)) < 0)
        goto out;
    r = move_to_archive(h, path, &b->m);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (r < 0)
        (void)nv_rm_rf(sdir);
    /* a refused bundle leaves no payload behind (recover() would remove it
     * at the next open anyway) */
    if (r < 0 && !committed && final_dir != NULL)
        (void)nv_rm_rf(final_dir);
    free(sdir);
    free(rd);
    free(final_dir);
    free(sender_dir);
    return r;
}

/* A bundle named from outside the inbox is copied in (temporary name,
 * fsync, rename): what follows moves the copy, never the caller's file.
 * *inpath (free it) is the path to ingest. */
static int
into_inbox(struct nv_hub *h, const char *path, char **inpath)
{
    char *inbox = nv_path_join(h->dir, "inbox");
    char *ri = realpath(inbox, NULL), *rp = realpath(path, NULL), *slash;
    const char *base = strrchr(path, '/');
    int r = 0;

    *inpath = NULL;
    base = base ? base + 1 : path;
    if (ri != NULL && rp != NULL && (slash = strrchr(rp, '/')) != NULL) {
        *slash = '\0';
        if (strcmp(rp, ri) == 0) { /* already in the inbox */
            *inpath = strdup(path);
            goto out;
        }
    }
    *inpath = nv_path_join(inbox, base);
    if (nv_exists(*inpath)) {
        r = nv_fail(NV_EEXIST, "'%s' is already in the inbox", base);
        goto out;
    }
    r = nv_copy_file(path, *inpath, 0600, 1);
out:
    if (r < 0) {
        free(*inpath);
        *inpath = NULL;
    } else if (*inpath == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
    }
    free(inbox);
    free(ri);
    free(rp);
    return r;
}

int
nv_hub_ingest_file(struct nv_hub *h, const char *path, int quar,
                   struct nv_ingest_result *res)
{
    char *inpath = NULL;
    int r;

    memset(res, 0, sizeof(*res));
    nv_error_clear();
    if ((r = into_inbox(h, path, &inpath)) < 0) {
        res->outcome = NV_FAILED;
        res->code = r;
        snprintf(res->reason, sizeof(res->reason), "%s", nv_errmsg(r));
        return r;
    }
    r = ingest_path(h, inpath, quar, res);
    free(inpath);
    return r;
}

/* A stale bundle into DIR/stale/ (kept for an auditor; prune may go). */
static int
set_aside_stale(struct nv_hub *h, const char *path)
{
    const char *base = strrchr(path, '/');
    char *sd = nv_path_join(h->dir, "stale"), *to;
    int r;

    base = base ? base + 1 : path;
    to = nv_path_join(sd, base);
    if ((r = nv_mkdir_p(sd, 0700)) == 0) {
        if (rename(path, to) < 0)
            r = nv_fail_errno("cannot set '%s' aside in stale/", base);
        else
            r = nv_fsync_dir(sd);
    }
    free(sd);
    free(to);
    return r;
}

static int
ingest_path(struct nv_hub *h, const char *path, int quar, struct nv_ingest_result *res)
{
    struct nv_bundle b;
    int r, dup = 0;

    if ((r = check_head(h, path, &b)) < 0)
        goto refused;
    res->m = b.m;
    res->have_manifest = 1;
    if ((r = check_stream(h, &b, &dup)) < 0) {
        if (dup) {
            /* applied before a crash kept it from reaching the archive (and
             * perhaps the ledger) */
            r = ledger_applied(h, &b);
            nv_bundle_release(&b);
            if (r < 0)
                goto refused;
            res->outcome = NV_DUPLICATE;
            res->code = 0;
            snprintf(res->reason, sizeof(res->reason), "applied before: archived");
            /* the agent may not know it was applied: a receipt tells it */
            nv_hub_note_acked(h, res->m.sender);
            return move_to_archive(h, path, &res->m);
        }
        nv_bundle_release(&b);
        if (r == NV_ESEQGAP) {
            res->outcome = NV_WAITING;
            res->code = r;
            snprintf(res->reason, sizeof(res->reason), "%s", nv_errmsg(r));
            return 0;
        }
        if (r == NV_ESTALE) {
            /* merely old (sealed before a rebase): set aside, not applied,
             * not taken for tampering */
            res->code = r;
            snprintf(res->reason, sizeof(res->reason), "%s", nv_errmsg(r));
            if ((r = set_aside_stale(h, path)) < 0) {
                res->outcome = NV_FAILED;
                return r;
            }
            res->outcome = NV_STALE;
            nv_warn("ingest", "%s", res->reason);
            return 0;
        }
        goto refused;
    }
    r = apply(h, path, &b, &res->applied);
    nv_bundle_release(&b);
    if (r < 0)
        goto refused;
    res->outcome = NV_APPLIED;
    return 0;
refused:
    res->code = r;
    snprintf(res->reason, sizeof(res->reason), "%s", nv_errmsg(r));
    if (is_transient(r)) {
        res->outcome = NV_FAILED;
        return r;
    }
    if (quar)
        quarantine(h, path, res);
    else
        res->outcome = NV_QUARANTINED;
    return r;
}

/* Names a copy uses while it runs: never read. */
static int
temporary_name(const char *name)
{
    return nv_temporary_name(name);
}

int
nv_hub_ingest_inbox(struct nv_hub *h,
                    void (*report)(void *, const char *,
                                   const struct nv_ingest_result *),
                    void *ctx)
{
    char *inbox = nv_path_join(h->dir, "inbox");
    struct nv_spool_entry *v;
    size_t n;
    int first = 0, r;

    if ((r = nv_spool_list(inbox, h->max_payload, &v, &n)) < 0) {
        free(inbox);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        struct nv_ingest_result res;
        char *p;
        unsigned age;
        if (temporary_name(v[i].name))
            continue;
        p = nv_path_join(inbox, v[i].name);
        r = nv_hub_ingest_file(h, p, 0, &res);
        if (res.outcome == NV_QUARANTINED) {
            /* only what a copy cut short can cause: a bundle that reads
             * whole is complete, whatever else is wrong with it */
            if (nv_spool_arriving(p, res.code, (long)h->settle_ms, &age)) {
                res.outcome = NV_ARRIVING;
                snprintf(res.reason, sizeof(res.reason),
                         "still being copied (changed %u s ago; %s): left in the inbox, "
                         "quarantined if it is still refused once unchanged for %u s",
                         age, nv_errmsg(res.code), (h->settle_ms + 999) / 1000);
                res.code = 0;
            } else {
                quarantine(h, p, &res);
            }
        }
        if (res.outcome == NV_QUARANTINED || res.outcome == NV_FAILED) {
            if (first == 0)
                first = res.code ? res.code : r;
        }
        if (report != NULL)
            report(ctx, v[i].name, &res);
        free(p);
    }
    nv_spool_list_free(v, n);
    free(inbox);
    return first;
}

/* ---- replay ---- */

static int
replay_marker(struct nv_hub *h, const char *entity, int set)
{
    char key[NV_NAME_MAX + 16];
    MDB_val k, v = { 0, (void *)"" };
    MDB_txn *txn;
    int rc;

    snprintf(key, sizeof(key), "replay:%s", entity);
    k.mv_size = strlen(key);
    k.mv_data = key;
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot write");
    if (set) {
        int r;
        rc = mdb_put(txn, h->store.meta, &k, &v, 0);
        if (rc == 0 && (r = nv_hstore_drop_entity(txn, &h->store, entity)) < 0) {
            mdb_txn_abort(txn);
            return r;
        }
    } else {
        rc = mdb_del(txn, h->store.meta, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc != 0) {
        mdb_txn_abort(txn);
        return nv_hmdb_fail(rc, "cannot write the replay marker");
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return nv_hmdb_fail(rc, "cannot commit");
    return 0;
}

/* The kind of a bundle the hub applied (changes when bstats does not
 * say). */
static int
applied_kind(MDB_txn *txn, struct nv_hub *h, const char *sender, uint64_t seq)
{
    int64_t applied;
    int acks = 0;

    return nv_hub_bundle_info(txn, h, sender, seq, &acks, &applied) == 0 && acks
               ? NV_KIND_ACKS
               : NV_KIND_CHANGES;
}

int
nv_hub_replay(struct nv_hub *h, const char *entity,
              void (*report)(void *, uint64_t, const struct nv_apply_stats *),
              void *ctx, struct nv_apply_stats *total)
{
    char *rd = nv_path_join(h->dir, "received"), *ed = nv_path_join(rd, entity);
    struct dirent **ents = NULL;
    struct nv_stream_state st;
    MDB_txn *txn = NULL;
    int ne = 0, r, rc;

    memset(total, 0, sizeof(*total));
    if (!nv_name_valid(entity)) {
        r = nv_fail(NV_EINVAL, "'%s' is not an entity name", entity);
        goto out;
    }
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot read");
        goto out;
    }
    r = nv_hstore_stream_get(txn, &h->store, entity, &st);
    mdb_txn_abort(txn);
    txn = NULL;
    if (r < 0)
        goto out;
    if (st.seq == 0) {
        r = nv_fail(NV_ENOTFOUND, "no bundle from '%s' has been applied", entity);
        goto out;
    }
    if ((r = replay_marker(h, entity, 1)) < 0)
        goto out;
    if ((ne = scandir(ed, &ents, nv_hub_is_seq_dir, alphasort)) < 0) {
        r = nv_fail_errno("cannot read '%s/received/%s'", h->dir, entity);
        ne = 0;
        goto out;
    }
    h->replaying = 1;
    for (int i = 0; i < ne && r == 0; i++) {
        struct nv_manifest m;
        struct nv_apply_stats one;
        uint64_t seq = strtoull(ents[i]->d_name, NULL, 10);
        char *sd;
        if (seq == 0 || seq > st.seq)
            continue; /* not applied: recover() removes such leftovers */
        memset(&m, 0, sizeof(m));
        memset(&one, 0, sizeof(one));
        snprintf(m.sender, sizeof(m.sender), "%s", entity);
        snprintf(m.recipient, sizeof(m.recipient), "%s", h->self.pub.entity);
        m.seq = seq;
        if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0) {
            r = nv_hmdb_fail(rc, "cannot write");
            break;
        }
        m.kind = applied_kind(txn, h, entity, seq);
        if (m.kind != NV_KIND_CHANGES) {
            mdb_txn_abort(txn);
            txn = NULL;
            continue;
        }
        sd = nv_path_join(ed, ents[i]->d_name);
        r = apply_dir(h, txn, &m, sd, 0, &one);
        free(sd);
        if (r == 0 && (rc = mdb_txn_commit(txn)) != 0)
            r = nv_hmdb_fail(rc, "cannot commit");
        else if (r < 0)
            mdb_txn_abort(txn);
        txn = NULL;
        if (r == 0) {
            total->upserts += one.upserts;
            total->deletes += one.deletes;
            total->rejected += one.rejected;
            total->unmapped += one.unmapped;
            total->unnormalised += one.unnormalised;
            if (report != NULL)
                report(ctx, seq, &one);
        }
    }
    if (r == 0)
        r = replay_marker(h, entity, 0);
out:
    h->replaying = 0;
    for (int i = 0; i < ne; i++)
        free(ents[i]);
    free(ents);
    free(rd);
    free(ed);
    return r;
}

/* Replays a crash interrupted: redo them from the start. */
static int
finish_replays(struct nv_hub *h)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    char names[16][NV_NAME_MAX + 1];
    int n = 0, rc, r = 0;

    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    if ((rc = mdb_cursor_open(txn, h->store.meta, &c)) == 0) {
        while (n < 16 && mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0)
            if (k.mv_size > 7 && k.mv_size - 7 <= NV_NAME_MAX &&
                memcmp(k.mv_data, "replay:", 7) == 0) {
                memcpy(names[n], (char *)k.mv_data + 7, k.mv_size - 7);
                names[n++][k.mv_size - 7] = '\0';
            }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    for (int i = 0; i < n && r == 0; i++) {
        struct nv_apply_stats t;
        nv_warn("ingest", "finishing the replay of '%s' that was interrupted",
                names[i]);
        r = nv_hub_replay(h, names[i], NULL, NULL, &t);
    }
    return r;
}

/* ---- erasure reaches the files ---- */

/* Scanning one payload for records of erased people: each payload file's
 * lines, as they come. */
struct scrub {
    struct nv_hub *h;
    MDB_txn *txn;
    const char *entity;
    struct nv_buf line;
    struct nv_rec *rec;
    struct nv_buf scratch;
    int found;
};

static void
scrub_line(struct scrub *s)
{
    char key[512];

    if (s->found || s->line.len == 0)
        return;
    if (nv_rec_parse((const char *)s->line.data, s->line.len, s->rec, &s->scratch) == 0 &&
        s->rec->key.s != NULL && s->rec->key.n < sizeof(key)) {
        memcpy(key, s->rec->key.s, s->rec->key.n);
        key[s->rec->key.n] = '\0';
        if (nv_gdpr_suppressed(s->txn, s->h->gdpr, s->h->gkey, NULL, s->entity, key))
            s->found = 1;
    }
}

static int
scrub_entry(void *ctx, const char *name, uint64_t size)
{
    struct scrub *s = ctx;

    (void)name, (void)size;
    scrub_line(s);
    nv_buf_reset(&s->line);
    return 0;
}

static int
scrub_data(void *ctx, const void *p, size_t n)
{
    struct scrub *s = ctx;
    const char *c = p, *e = c + n;

    while (c < e && !s->found) {
        const char *nl = memchr(c, '\n', (size_t)(e - c));
        size_t k = nl ? (size_t)(nl - c) : (size_t)(e - c);
        if (s->line.len + k > NV_RECORD_MAX + 2) {
            nv_buf_reset(&s->line); /* not a record: too long */
        } else if (nv_buf_add(&s->line, c, k) < 0) {
            return -1;
        }
        if (nl == NULL)
            break;
        scrub_line(s);
        nv_buf_reset(&s->line);
        c = nl + 1;
    }
    return 0;
}

static int
scrub_end(void *ctx)
{
    scrub_line(ctx);
    return 0;
}

/* Every bundle file the hub keeps and its key can open (archive/,
 * quarantine/) that holds a record of a person erased at their request is
 * reduced to its receipt (formats/erased.h): manifest and signature kept,
 * the ledger and the chain still verify, the payload is gone. */
static int
scrub_files(struct nv_hub *h, uint64_t *reduced)
{
    static const char *const dirs[] = { "archive", "quarantine" };
    struct scrub s;
    MDB_txn *txn;
    int r = 0, rc;

    *reduced = 0;
    memset(&s, 0, sizeof(s));
    if ((s.rec = malloc(sizeof(*s.rec))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0) {
        free(s.rec);
        return nv_hmdb_fail(rc, "cannot read");
    }
    s.h = h;
    s.txn = txn;
    for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]) && r == 0; d++) {
        char *dir = nv_path_join(h->dir, dirs[d]);
        struct dirent **ents = NULL;
        int n = scandir(dir, &ents, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            size_t l = strlen(ents[i]->d_name);
            char *p;
            struct nv_bundle b;
            struct nv_payload_sink sink = { scrub_entry, scrub_data, scrub_end, &s };
            if (r < 0 || ents[i]->d_name[0] == '.' || l < 6 ||
                strcmp(ents[i]->d_name + l - 5, NV_BUNDLE_EXT) != 0) {
                free(ents[i]);
                continue;
            }
            p = nv_path_join(dir, ents[i]->d_name);
            if (nv_bundle_read(&b, p, 0) == 0) {
                if (strcmp(b.m.recipient, h->self.pub.entity) == 0) {
                    s.entity = b.m.sender;
                    s.found = 0;
                    nv_buf_reset(&s.line);
                    b.verified = 1; /* read to scan it, never applied */
                    /* a payload that does not open whole is scanned as far as
                     * it opens: what no key here reads is no copy of ours */
                    if (nv_bundle_open_payload(&b, h->self.age, h->self.nage, &sink, &h->lim) < 0)
                        scrub_end(&s);
                    if (s.found) {
                        uint8_t sha[32];
                        if ((r = nv_file_sha256(p, sha)) == 0 &&
                            (r = nv_erased_replace(p, &b.manifest_text, &b.sig_text, sha,
                                                   "payload erased at a data subject's "
                                                   "request (GDPR Art. 17)")) == 0)
                            (*reduced)++;
                    }
                }
                nv_bundle_release(&b);
            }
            free(p);
            free(ents[i]);
        }
        free(ents);
        free(dir);
    }
    mdb_txn_abort(txn);
    nv_buf_release(&s.line);
    nv_buf_release(&s.scratch);
    free(s.rec);
    nv_error_clear();
    return r;
}

/* The hub's outbound sequence to entity (0: none). */
static uint64_t
out_seq(struct nv_hub *h, const char *entity)
{
    struct nv_stream_state st;
    MDB_txn *txn;
    char key[NV_NAME_MAX + 8];

    memset(&st, 0, sizeof(st));
    snprintf(key, sizeof(key), "out:%s", entity);
    if (mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    if (nv_stream_db_get(txn, h->store.streams, key, &st) < 0)
        st.seq = 0;
    mdb_txn_abort(txn);
    return st.seq;
}

/* After an ingest pass: each entity whose bundles were applied (or
 * delivered again) and that got no bundle from the hub in the pass gets a
 * receipt, an updates bundle of no record whose manifest says what the hub
 * applied (acked), so that a site that sees the hub only through files
 * learns what it may forget. */
static int
send_receipts(struct nv_hub *h, const uint64_t *before)
{
    int r = 0;

    for (size_t i = 0; i < h->nacked_ents && r == 0; i++) {
        const char *e = h->acked_ents[i];
        struct nv_outbox o;
        char *obox = NULL;
        if (out_seq(h, e) != before[i])
            continue; /* a bundle went out after the apply: it carries acked */
        if (nv_keyring_active(&h->kr, e) == NULL) {
            nv_warn("ingest", "no receipt to '%s': no enrolled, unrevoked key", e);
            continue;
        }
        if ((r = nv_hub_outbox(h, e, NV_KIND_UPDATES, &o, &obox)) < 0)
            break;
        o.receipt = 1;
        r = nv_outbox_end(&o);
        if (r == 0)
            nv_info("ingest", "receipt to '%s': applied up to seq %llu", e,
                    (unsigned long long)o.acked);
        h->receipts += r == 0;
        free(obox);
    }
    return r;
}

int
nv_hub_after_ingest(struct nv_hub *h)
{
    uint64_t erased = 0, sent = 0, *before = NULL;
    int r = 0;

    if (h->nacked_ents > 0 &&
        (before = calloc(h->nacked_ents, sizeof(*before))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (size_t i = 0; i < h->nacked_ents; i++)
        before[i] = out_seq(h, h->acked_ents[i]);
    r = nv_golden_flush(h, &sent);
    if (r == 0)
        r = nv_gdpr_progress(h, &erased);
    if (r == 0)
        r = send_receipts(h, before);
    free(before);
    h->nacked_ents = 0;

    if (r == 0 && erased > 0) {
        uint64_t reduced = 0;
        nv_info("gdpr", "erased %llu record(s) at the subjects' request; compacting the store",
                (unsigned long long)erased);
        if ((r = scrub_files(h, &reduced)) == 0 && reduced > 0)
            nv_info("gdpr", "%llu archived or quarantined bundle(s) held an erased person: "
                    "reduced to their receipts (manifest and signature)",
                    (unsigned long long)reduced);
        if (r == 0)
            r = nv_hstore_compact(&h->store, h->dir);
    }
    return r;
}

void
nv_hub_ledger_witness(struct nv_hub *h)
{
    ledger_witness_accesslog(h);
}

int
nv_hub_ledger_noted(struct nv_hub *h)
{
    return note_ledger_head(h);
}
