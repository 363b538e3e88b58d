#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "../formats/csv.h"
#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "../formats/record.h"
#include "../formats/spool.h"
#include "inbox.h"

#define PAYLOAD_MAX (1ULL << 30)

/* Call fn for every record line of every staged .ndjson file. */
static int
each_record(const char *dir, int (*fn)(void *, json_t *, uint64_t), void *ctx)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort), r = 0;

    if (n < 0)
        return nv_fail_errno("cannot read '%s'", dir);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(ents[i]->d_name);
        if (r == 0 && l > 7 && strcmp(ents[i]->d_name + l - 7, ".ndjson") == 0) {
            char *p = nv_path_join(dir, ents[i]->d_name);
            FILE *f = fopen(p, "re");
            char *line = NULL;
            size_t cap = 0;
            ssize_t len;
            uint64_t no = 0;
            if (f == NULL)
                r = nv_fail_errno("cannot open '%s'", p);
            while (r == 0 && f != NULL && (len = getline(&line, &cap, f)) > 0) {
                json_error_t err;
                json_t *o;
                no++;
                if (len > 0 && line[len - 1] == '\n')
                    line[--len] = '\0';
                if (len == 0)
                    continue;
                o = json_loadb(line, (size_t)len, 0, &err);
                if (o == NULL || !json_is_object(o)) {
                    r = nv_fail(NV_EFORMAT, "payload file '%s' line %llu is not a JSON object",
                                ents[i]->d_name, (unsigned long long)no);
                } else {
                    r = fn(ctx, o, no);
                }
                json_decref(o);
            }
            free(line);
            if (f != NULL)
                fclose(f);
            free(p);
        }
        free(ents[i]);
    }
    free(ents);
    return r;
}

/* ---- updates ---- */

#define NV_MAX_UPDATE_COLUMNS 1024 /* as a mapping's columns, at most */

struct upd {
    json_t *rows;           /* array of field objects */
    uint64_t count;
    json_t *flags;          /* [source, key, flag, request] rows */
};

static int
upd_collect(void *ctx, json_t *o, uint64_t no)
{
    struct upd *u = ctx;
    json_t *fields = json_object_get(o, "fields");
    const char *k, *op = json_string_value(json_object_get(o, "op"));
    json_t *v;

    if (op != NULL && strcmp(op, "flag") == 0) {
        /* a restriction of processing or an objection (GDPR Art. 18, 21)
         * on one of the entity's records */
        const char *src = json_string_value(json_object_get(o, "source"));
        const char *key = json_string_value(json_object_get(o, "key"));
        const char *flag = json_string_value(json_object_get(o, "flag"));
        const char *req = json_string_value(json_object_get(o, "request"));
        if (key == NULL || flag == NULL || req == NULL ||
            (strcmp(flag, "restrict") != 0 && strcmp(flag, "object") != 0))
            return nv_fail(NV_EFORMAT, "flag record %llu needs a key, a flag (restrict or "
                           "object) and a request", (unsigned long long)no);
        json_array_append_new(u->flags, json_pack("[s,s,s,s]", src ? src : "", key, flag, req));
        return 0;
    }
    if (!json_is_object(fields) || json_object_size(fields) == 0)
        return nv_fail(NV_EFORMAT, "update record %llu has no fields object",
                       (unsigned long long)no);
    json_object_foreach(fields, k, v)
        if (!json_is_string(v) && !json_is_null(v))
            return nv_fail(NV_EFORMAT, "update record %llu: field values must be strings",
                           (unsigned long long)no);
    json_array_append(u->rows, fields);
    u->count++;
    return 0;
}

/* The flags as nova-flags-<sender>-<seq>.csv in the import directory:
 * source, key, flag (restrict: stop processing but storage; object: no
 * marketing), request id. */
static int
write_flags(struct nv_agent *a, const struct nv_manifest *m, json_t *flags)
{
    static const char *const head[] = { "source", "key", "flag", "request" };
    struct nv_buf out = NV_BUF_INIT;
    char name[160], *path = NULL;
    size_t i;
    json_t *row;
    int r = nv_csv_write_row(&out, &a->cfg.import_dialect, head, 4);

    json_array_foreach(flags, i, row) {
        const char *v[4];
        for (int c = 0; c < 4; c++)
            v[c] = json_string_value(json_array_get(row, (size_t)c));
        if (r == 0 && (r = nv_csv_write_row(&out, &a->cfg.import_dialect, v, 4)) < 0)
            r = nv_fail_prefix(r, "flag %zu cannot be written in %s", i + 1,
                               nv_encoding_name(a->cfg.import_dialect.encoding));
    }
    snprintf(name, sizeof(name), "nova-flags-%s-%010llu.csv", m->sender,
             (unsigned long long)m->seq);
    if (r == 0 && (r = nv_mkdir_p(a->cfg.import_dir, 0700)) == 0) {
        path = nv_path_join(a->cfg.import_dir, name);
        if ((r = nv_write_file(path, out.data, out.len, 0640)) == 0)
            nv_info("inbox", "wrote %zu restriction/objection flag(s) to '%s'",
                    json_array_size(flags), name);
    }
    free(path);
    nv_buf_release(&out);
    return r;
}

static int
apply_updates(struct nv_agent *a, const char *stage, const struct nv_manifest *m,
              unsigned *count)
{
    struct upd u;
    struct nv_buf out = NV_BUF_INIT;
    char name[180], *path = NULL;
    json_t *groups = NULL, *order = NULL;
    size_t i;
    int r;

    memset(&u, 0, sizeof(u));
    u.rows = json_array();
    u.flags = json_array();
    if ((r = each_record(stage, upd_collect, &u)) < 0)
        goto out;
    if (json_array_size(u.flags) > 0 && (r = write_flags(a, m, u.flags)) < 0)
        goto out;
    if (u.count == 0)
        goto out;
    /* one file per set of columns: a record that does not update a column
     * must not meet an empty cell there (an import would clear the field) */
    groups = json_object();
    order = json_array();
    for (i = 0; i < json_array_size(u.rows); i++) {
        json_t *f = json_array_get(u.rows, i), *g;
        const char *k;
        json_t *v;
        nv_buf_reset(&out);
        json_object_foreach(f, k, v)
            if (nv_buf_adds(&out, k) < 0 || nv_buf_add(&out, "\x1f", 1) < 0)
                abort();
        if ((g = json_object_get(groups, (char *)out.data)) == NULL) {
            g = json_array();
            json_object_set_new_nocheck(groups, (char *)out.data, g);
            json_array_append_new(order, json_string_nocheck((char *)out.data));
        }
        json_array_append(g, f);
    }
    if ((r = nv_mkdir_p(a->cfg.import_dir, 0700)) < 0)
        goto out;
    for (size_t gi = 0; gi < json_array_size(order) && r == 0; gi++) {
        json_t *g = json_object_get(groups, json_string_value(json_array_get(order, gi)));
        json_t *first = json_array_get(g, 0), *v;
        const char *cols[NV_MAX_UPDATE_COLUMNS], *vals[NV_MAX_UPDATE_COLUMNS], *k;
        size_t nc = 0;
        if (json_object_size(first) > NV_MAX_UPDATE_COLUMNS) {
            r = nv_fail(NV_EFORMAT, "an update of over %d columns", NV_MAX_UPDATE_COLUMNS);
            break;
        }
        json_object_foreach(first, k, v)
            cols[nc++] = k;
        nv_buf_reset(&out);
        if ((r = nv_csv_write_row(&out, &a->cfg.import_dialect, cols, nc)) < 0)
            break;
        for (i = 0; i < json_array_size(g) && r == 0; i++) {
            json_t *f = json_array_get(g, i);
            for (size_t c = 0; c < nc; c++) {
                json_t *x = json_object_get(f, cols[c]);
                vals[c] = json_is_string(x) ? json_string_value(x) : "";
            }
            if ((r = nv_csv_write_row(&out, &a->cfg.import_dialect, vals, nc)) < 0)
                r = nv_fail_prefix(r, "update %zu cannot be written in %s", i + 1,
                                   nv_encoding_name(a->cfg.import_dialect.encoding));
        }
        if (r < 0)
            break;
        if (json_array_size(order) == 1)
            snprintf(name, sizeof(name), "nova-updates-%s-%010llu.csv", m->sender,
                     (unsigned long long)m->seq);
        else
            snprintf(name, sizeof(name), "nova-updates-%s-%010llu-%zu.csv", m->sender,
                     (unsigned long long)m->seq, gi + 1);
        free(path);
        path = nv_path_join(a->cfg.import_dir, name);
        if ((r = nv_write_file(path, out.data, out.len, 0640)) == 0)
            nv_info("inbox", "wrote %zu updates to '%s'", json_array_size(g), name);
    }
    if (r == 0)
        *count += (unsigned)u.count;
out:
    json_decref(groups);
    json_decref(order);
    json_decref(u.rows);
    json_decref(u.flags);
    nv_buf_release(&out);
    free(path);
    return r;
}

/* ---- erasure ---- */

/* Run the hook; outcome text into why (empty when done).  0 done, 1
 * failed, 2 retained (the hook exits with status 3 and prints the legal
 * ground and how long on its first output line, GDPR Art. 17(3)). */
static int
run_hook(const struct nv_agent *a, const char *order, const char *key,
         const char *source, char *why, size_t whylen)
{
    pid_t pid;
    int status = 0, out[2];
    struct timespec start, now;

    why[0] = '\0';
    if (pipe2(out, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "cannot start the erase hook: %s", strerror(errno));
        return 1;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "cannot start the erase hook: %s", strerror(errno));
        close(out[0]);
        close(out[1]);
        return 1;
    }
    if (pid == 0) {
        int dn = open("/dev/null", O_RDWR);
        setpgid(0, 0);
        if (dn >= 0) {
            dup2(dn, 0);
            dup2(out[1], 1);
            dup2(dn, 2);
        }
        close_range(3, ~0U, 0);
        setenv("NOVA_ORDER_ID", order, 1);
        setenv("NOVA_RECORD_KEY", key, 1);
        setenv("NOVA_SOURCE", source, 1);
        setenv("NOVA_ENTITY", a->cfg.entity, 1);
        execl("/bin/sh", "sh", "-c", a->cfg.erase_hook, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        struct timespec nap = { 0, 10 * 1000 * 1000 };
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(why, whylen, "lost the erase hook: %s", strerror(errno));
            close(out[0]);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= (time_t)a->cfg.erase_timeout) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(why, whylen, "erase hook timed out after %u s", a->cfg.erase_timeout);
            close(out[0]);
            return 1;
        }
        nanosleep(&nap, NULL);
    }
    {
        /* the first line of what it printed (a retention's ground) */
        char line[256];
        ssize_t n = read(out[0], line, sizeof(line) - 1);
        close(out[0]);
        if (n < 0)
            n = 0;
        line[n] = '\0';
        line[strcspn(line, "\r\n")] = '\0';
        for (char *c = line; *c; c++)
            if ((unsigned char)*c < 0x20)
                *c = ' ';
        if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
            snprintf(why, whylen, "%s", line[0] ? line : "retained (no ground given)");
            return 2;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        snprintf(why, whylen, "erase hook exited with status %d", WEXITSTATUS(status));
    else
        snprintf(why, whylen, "erase hook killed by signal %d", WTERMSIG(status));
    return 1;
}

struct era {
    struct nv_agent *a;
    struct nv_outbox *o;
    const struct nv_manifest *m;
    struct nv_buf file;      /* erasure file without a hook */
    struct nv_buf line, k;
    unsigned orders, failed;
};

/* Forget every fingerprint of key (in the given source, or all sources). */
static int
forget(struct era *e, MDB_txn *txn, const char *key, const char *source)
{
    struct nv_buf fk = NV_BUF_INIT;
    int r = 0;

    for (int i = 0; i < e->a->cfg.nsrc && r == 0; i++) {
        const char *s = e->a->cfg.src[i].name;
        MDB_val k;
        int rc;
        if (source[0] && strcmp(source, s) != 0)
            continue;
        nv_buf_reset(&fk);
        if ((r = nv_buf_add(&fk, s, strlen(s) + 1)) < 0 ||
            (r = nv_buf_adds(&fk, key)) < 0)
            break;
        k.mv_size = fk.len;
        k.mv_data = fk.data;
        rc = mdb_del(txn, e->a->st.fp, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            r = nv_mdb_fail(rc, "cannot forget a fingerprint");
    }
    nv_buf_release(&fk);
    return r;
}

static const char *
outcome_name(int failed)
{
    return failed == 0 ? "done" : failed == 2 ? "retained" : "failed";
}

static int
era_one(void *ctx, json_t *o, uint64_t no)
{
    struct era *e = ctx;
    const char *order = json_string_value(json_object_get(o, "order"));
    const char *key = json_string_value(json_object_get(o, "key"));
    const char *source = json_string_value(json_object_get(o, "source"));
    char why[256], *out = NULL;
    MDB_val k, v;
    MDB_txn *txn = nv_outbox_txn(e->o);
    int failed, rc, r;
    json_t *ack;

    if (order == NULL || key == NULL || !*order || !*key || strlen(order) > 128 ||
        strlen(key) > 300)
        return nv_fail(NV_EFORMAT, "erasure record %llu lacks an order id or a key",
                       (unsigned long long)no);
    if (source == NULL)
        source = "";
    nv_buf_reset(&e->k);
    if ((r = nv_buf_add(&e->k, order, strlen(order) + 1)) < 0 ||
        (r = nv_buf_adds(&e->k, key)) < 0)
        return r;
    k.mv_size = e->k.len;
    k.mv_data = e->k.data;
    rc = mdb_get(txn, e->a->st.orders, &k, &v);
    if (rc == 0) {
        /* answered before: same answer, nothing run again */
        char rec[300], *tab;
        snprintf(rec, sizeof(rec), "%.*s", (int)v.mv_size, (char *)v.mv_data);
        tab = strchr(rec, '\t');
        failed = strncmp(rec, "done", 4) == 0 ? 0 : strncmp(rec, "retained", 8) == 0 ? 2 : 1;
        snprintf(why, sizeof(why), "%s", tab ? tab + 1 : "");
    } else if (e->a->cfg.erase_hook != NULL) {
        failed = run_hook(e->a, order, key, source, why, sizeof(why));
    } else {
        const char *vals[3] = { order, key, source };
        failed = 0;
        if (e->file.len == 0) {
            static const char *hdr[3] = { "order_id", "record_key", "source" };
            if ((r = nv_csv_write_row(&e->file, &e->a->cfg.import_dialect, hdr, 3)) < 0)
                return r;
        }
        if (nv_csv_write_row(&e->file, &e->a->cfg.import_dialect, vals, 3) < 0) {
            failed = 1;
            snprintf(why, sizeof(why), "the record key cannot be written in %s",
                     nv_encoding_name(e->a->cfg.import_dialect.encoding));
        } else {
            snprintf(why, sizeof(why), "handed to the CRM team in nova-erasure-%s-%010llu.csv",
                     e->m->sender, (unsigned long long)e->m->seq);
        }
    }
    if (rc != 0) {
        /* record the outcome now, with the fingerprints forgotten, so the
         * order is never run again whatever happens next */
        char rec[300];
        int n = snprintf(rec, sizeof(rec), "%s\t%s", outcome_name(failed), why);
        if (failed != 1 && (r = forget(e, txn, key, source)) < 0)
            return r;
        v.mv_size = (size_t)n;
        v.mv_data = rec;
        k.mv_size = e->k.len;
        k.mv_data = e->k.data;
        if ((rc = mdb_put(txn, e->a->st.orders, &k, &v, 0)) != 0)
            return nv_mdb_fail(rc, "cannot record an order");
    }
    e->orders++;
    e->failed += failed == 1;
    nv_info("inbox", "erasure order %s record %llu: %s%s%s", order,
            (unsigned long long)no, outcome_name(failed), why[0] ? ": " : "", why);
    ack = json_pack("{s:s,s:s,s:s,s:s,s:s}", "op", "ack", "order", order, "key", key,
                    "outcome", outcome_name(failed), "reason", why);
    if (ack == NULL || (out = json_dumps(ack, JSON_COMPACT)) == NULL) {
        json_decref(ack);
        return nv_fail(NV_ENOMEM, "out of memory");
    }
    r = nv_outbox_add_record(e->o, out, strlen(out), 0);
    free(out);
    json_decref(ack);
    return r;
}

/* ---- one bundle ---- */

static void
stream_key(char *out, size_t n, const char *hub)
{
    snprintf(out, n, "in:%s", hub);
}

static int
check(struct nv_agent *a, const char *path, struct nv_bundle *b, int *applied_before)
{
    struct nv_stream_state st;
    MDB_txn *txn;
    char key[80];
    int r;

    *applied_before = 0;
    if ((r = nv_bundle_read(b, path, PAYLOAD_MAX)) < 0)
        return r;
    if (strcmp(b->m.recipient, a->cfg.entity) != 0) {
        r = nv_fail(NV_EWRONGRCPT, "stream %s->%s bundle %llu is addressed to '%s', not to '%s'",
                    b->m.sender, b->m.recipient, (unsigned long long)b->m.seq,
                    b->m.recipient, a->cfg.entity);
        goto fail;
    }
    if (b->m.kind != NV_KIND_UPDATES && b->m.kind != NV_KIND_ERASURE) {
        r = nv_fail(NV_EFORMAT, "stream %s->%s bundle %llu: an agent does not accept '%s' bundles",
                    b->m.sender, b->m.recipient, (unsigned long long)b->m.seq,
                    nv_kind_name(b->m.kind));
        goto fail;
    }
    if ((r = nv_bundle_verify(b, nv_keyring_lookup, &a->kr)) < 0 ||
        (r = nv_bundle_check_hash(b)) < 0)
        goto fail;
    stream_key(key, sizeof(key), b->m.sender);
    if ((r = mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn)) != 0) {
        r = nv_mdb_fail(r, "cannot read");
        goto fail;
    }
    r = nv_astate_stream_get(txn, &a->st, key, &st);
    mdb_txn_abort(txn);
    if (r == 0)
        r = nv_stream_check(&st, &b->m);
    /* the very bundle applied before a crash kept it from the archive */
    if (r == NV_EREPLAY && st.seq == b->m.seq &&
        sodium_memcmp(st.last_id, b->id, 32) == 0) {
        char name[160], *ad = nv_path_join(a->dir, "archive"), *ap;
        nv_bundle_filename(&b->m, name, sizeof(name));
        ap = nv_path_join(ad, name);
        *applied_before = !nv_exists(ap);
        free(ad);
        free(ap);
    }
    if (r < 0)
        goto fail;
    return 0;
fail:
    nv_bundle_release(b);
    return r;
}

static int
move_to(const char *dir, const char *path, const char *name)
{
    char *to;
    int r;

    if ((r = nv_mkdir_p(dir, 0700)) < 0)
        return r;
    to = nv_path_join(dir, name);
    r = rename(path, to) < 0 ? nv_fail_errno("cannot move '%s'", path)
                             : nv_fsync_dir(dir);
    free(to);
    return r;
}

static void
quarantine(struct nv_agent *a, const char *path, const char *name, int code)
{
    struct nv_buf b = NV_BUF_INIT;
    char when[21], *rp, *qd = a->cfg.quarantine;

    rp = malloc(strlen(qd) + strlen(name) + 10);
    if (rp == NULL)
        abort();
    sprintf(rp, "%s/%s.reason", qd, name);
    if (nv_mkdir_p(qd, 0700) == 0 &&
        nv_buf_addf(&b, "time: %s\ncode: %d\nreason: %s\n",
                    nv_time_format(nv_now(), when), nv_exit_status(code),
                    nv_errmsg(code)) == 0)
        (void)!nv_write_file(rp, b.data, b.len, 0640);
    if (move_to(qd, path, name) < 0)
        nv_err("inbox", "cannot quarantine '%s'", name);
    nv_buf_release(&b);
    free(rp);
}

static int
apply(struct nv_agent *a, struct nv_bundle *b, struct nv_inbox_stats *stats)
{
    struct nv_stage s;
    struct nv_payload_sink sink;
    struct nv_outbox o;
    struct nv_stream_state st;
    char sub[64], key[80], *sdir;
    int r;

    snprintf(sub, sizeof(sub), ".staging-%llu", (unsigned long long)b->m.seq);
    sdir = nv_path_join(a->cfg.inbox, sub);
    nv_stage_sink(&s, sdir, &sink);
    if ((r = nv_rm_rf(sdir)) < 0 || (r = nv_mkdir_p(sdir, 0700)) < 0)
        goto out;
    if ((r = nv_bundle_open_payload(b, a->self.age, a->self.nage, &sink, NULL)) < 0) {
        nv_stage_abort(&s);
        goto out;
    }
    nv_agent_outbox(a, &o);
    if ((r = nv_outbox_begin(&o, NV_KIND_ACKS)) < 0)
        goto out;
    if (b->m.kind == NV_KIND_UPDATES) {
        r = apply_updates(a, sdir, &b->m, &stats->updates);
    } else {
        struct era e;
        memset(&e, 0, sizeof(e));
        e.a = a;
        e.o = &o;
        e.m = &b->m;
        if (a->hub == NULL)
            r = nv_fail(NV_ECONFIG, "no hub to answer erasure orders to");
        else
            r = each_record(sdir, era_one, &e);
        if (r == 0 && e.file.len > 0) {
            char name[160], *p;
            snprintf(name, sizeof(name), "nova-erasure-%s-%010llu.csv", b->m.sender,
                     (unsigned long long)b->m.seq);
            p = nv_path_join(a->cfg.import_dir, name);
            if ((r = nv_mkdir_p(a->cfg.import_dir, 0700)) == 0)
                r = nv_write_file(p, e.file.data, e.file.len, 0640);
            free(p);
        }
        stats->orders += e.orders;
        stats->failed += e.failed;
        nv_buf_release(&e.file);
        nv_buf_release(&e.line);
        nv_buf_release(&e.k);
    }
    if (r < 0) {
        nv_outbox_abort(&o);
        goto out;
    }
    /* the inbound stream advances with the acks, in one transaction */
    stream_key(key, sizeof(key), b->m.sender);
    memset(&st, 0, sizeof(st));
    nv_stream_advance(&st, &b->m, b->id);
    if ((r = nv_astate_stream_put(nv_outbox_txn(&o), &a->st, key, &st)) < 0) {
        nv_outbox_abort(&o);
        goto out;
    }
    r = nv_outbox_end(&o);
out:
    (void)nv_rm_rf(sdir);
    free(sdir);
    return r;
}

int
nv_inbox_process(struct nv_agent *a, struct nv_inbox_stats *stats)
{
    struct nv_spool_entry *v;
    size_t n;
    char *archive;
    int first = 0, r;

    memset(stats, 0, sizeof(*stats));
    if ((r = nv_spool_list(a->cfg.inbox, PAYLOAD_MAX, &v, &n)) < 0)
        return r;
    archive = nv_path_join(a->dir, "archive");
    for (size_t i = 0; i < n; i++) {
        struct nv_bundle b;
        char *p = nv_path_join(a->cfg.inbox, v[i].name);
        int before, r;
        nv_error_clear();
        r = check(a, p, &b, &before);
        if (r == 0) {
            r = apply(a, &b, stats);
            if (r == 0) {
                char name[160];
                nv_bundle_filename(&b.m, name, sizeof(name));
                r = move_to(archive, p, name);
                stats->applied++;
            }
            nv_bundle_release(&b);
        } else if (before) {
            r = move_to(archive, p, v[i].name);
        } else if (r == NV_ESEQGAP) {
            stats->waiting++;
            nv_info("inbox", "'%s' waits: %s", v[i].name, nv_errmsg(r));
            r = 0;
        }
        if (r < 0) {
            nv_err("inbox", "'%s' refused: %s", v[i].name, nv_errmsg(r));
            if (r != NV_ESYS && r != NV_ENOSPC && r != NV_ENOMEM && r != NV_ECORRUPT) {
                quarantine(a, p, v[i].name, r);
                stats->quarantined++;
            }
            if (first == 0)
                first = r;
        }
        free(p);
    }
    nv_spool_list_free(v, n);
    free(archive);
    return first;
}
