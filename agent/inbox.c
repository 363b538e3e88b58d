#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "../formats/csv.h"
#include "../formats/erased.h"
#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/hook.h"
#include "../formats/log.h"
#include "../formats/record.h"
#include "../formats/spool.h"
#include "inbox.h"

#define PAYLOAD_MAX (1ULL << 30)

/* Outcomes answered to the hub: an erasure order's, and delivered for the
 * records of a rectification, restriction or objection. */
enum { O_ERASED, O_FAILED, O_RETAINED, O_NODATA, O_HANDED, O_DELIVERED };

static const char *const outcome_names[] = { "erased", "failed", "retained", "no-data",
                                             "handed-off", "delivered" };

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
    json_t *acks;           /* [request, key, what] of records a request sent */
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
        json_array_append_new(u->acks, json_pack("[s,s,s]", req, key, "flag"));
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
    if (json_is_string(json_object_get(o, "request")) &&
        json_is_string(json_object_get(o, "key")))
        json_array_append_new(u->acks, json_pack("[O,O,s]", json_object_get(o, "request"),
                                                 json_object_get(o, "key"), "update"));
    return 0;
}

static int write_import(const struct nv_agent *a, const char *name, const struct nv_buf *out);
static int import_dir_ready(const struct nv_agent *a);

/* The flags as nova-flags-<sender>-<seq>.csv in the import directory:
 * source, key, flag (restrict: stop processing but storage; object: no
 * marketing), request id. */
static int
write_flags(struct nv_agent *a, const struct nv_manifest *m, json_t *flags,
            struct nv_inbox_stats *stats)
{
    static const char *const head[] = { "source", "key", "flag", "request" };
    struct nv_buf out = NV_BUF_INIT, side = NV_BUF_INIT;
    struct nv_csv_dialect utf8 = a->cfg.import_dialect;
    char name[180];
    size_t i;
    json_t *row;
    int r = nv_csv_write_row(&out, &a->cfg.import_dialect, head, 4);

    utf8.encoding = NV_ENC_UTF8;
    json_array_foreach(flags, i, row) {
        const char *v[4];
        for (int c = 0; c < 4; c++)
            v[c] = json_string_value(json_array_get(row, (size_t)c));
        if (r < 0)
            break;
        if (nv_csv_write_row(&out, &a->cfg.import_dialect, v, 4) == 0)
            continue;
        /* a key the encoding lacks: exact, in UTF-8, beside */
        if ((side.len == 0 && (r = nv_csv_write_row(&side, &utf8, head, 4)) < 0) ||
            (r = nv_csv_write_row(&side, &utf8, v, 4)) < 0)
            break;
        stats->side++;
        nv_warn("inbox", "flag %zu cannot be written in %s: written in UTF-8 to "
                "'nova-flags-%s-%010llu.utf-8.csv'", i + 1,
                nv_encoding_name(a->cfg.import_dialect.encoding), m->sender,
                (unsigned long long)m->seq);
    }
    if (r == 0)
        r = import_dir_ready(a);
    if (r == 0) {
        snprintf(name, sizeof(name), "nova-flags-%s-%010llu.csv", m->sender,
                 (unsigned long long)m->seq);
        if ((r = write_import(a, name, &out)) == 0)
            nv_info("inbox", "wrote %zu restriction/objection flag(s) to '%s'",
                    json_array_size(flags), name);
    }
    if (r == 0 && side.len > 0) {
        snprintf(name, sizeof(name), "nova-flags-%s-%010llu.utf-8.csv", m->sender,
                 (unsigned long long)m->seq);
        r = write_import(a, name, &side);
    }
    nv_buf_release(&out);
    nv_buf_release(&side);
    return r;
}

/* Is column a record key column of one of the sources? Such a value is
 * never transliterated: the CRM would update another record. */
static int
is_key_column(const struct nv_agent *a, const char *column)
{
    for (int i = 0; i < a->cfg.nsrc; i++)
        for (int k = 0; k < a->cfg.src[i].nkeycols; k++)
            if (strcmp(a->cfg.src[i].keycols[k], column) == 0)
                return 1;
    return 0;
}

/* Write one file of an updates bundle: out holds the rows that the import
 * encoding can represent, side (UTF-8) the records it cannot represent
 * exactly, so no value is lost and the bundle is never refused for an
 * encoding limit. */
static int
write_import(const struct nv_agent *a, const char *name, const struct nv_buf *out)
{
    char *path = nv_path_join(a->cfg.import_dir, name);
    int r = nv_write_file_as(path, out->data, out->len, a->cfg.import_mode,
                             (gid_t)a->cfg.import_gid);

    free(path);
    return r;
}

/* The import directory, made if needed, readable (r-x) by whom the files
 * are (import_mode) and of import_group: the CRM's import job, running as
 * another user, must reach them.  Only a directory of the agent's own is
 * changed, and only ever opened wider for reading. */
static int
import_dir_ready(const struct nv_agent *a)
{
    struct stat st;
    mode_t want;
    int r;

    if ((r = nv_mkdir_p(a->cfg.import_dir, 0700)) < 0)
        return r;
    if (stat(a->cfg.import_dir, &st) < 0 || st.st_uid != geteuid())
        return 0;
    want = st.st_mode & 07777;
    if (a->cfg.import_mode & 0040)
        want |= 0050;
    if (a->cfg.import_mode & 0004)
        want |= 0005;
    if (want != (st.st_mode & 07777) && chmod(a->cfg.import_dir, want) < 0)
        return nv_fail_errno("cannot open '%s' to the CRM (mode %04o)", a->cfg.import_dir,
                             (unsigned)want);
    if (a->cfg.import_gid >= 0 && st.st_gid != (gid_t)a->cfg.import_gid &&
        chown(a->cfg.import_dir, (uid_t)-1, (gid_t)a->cfg.import_gid) < 0)
        return nv_fail_errno("cannot give '%s' to group %ld", a->cfg.import_dir,
                             a->cfg.import_gid);
    return 0;
}
static int send_ack(struct nv_outbox *o, const char *order, const char *key, int outcome,
                    const char *why);

static int
apply_updates(struct nv_agent *a, struct nv_outbox *ob, const char *stage,
              const struct nv_manifest *m, struct nv_inbox_stats *stats)
{
    struct upd u;
    struct nv_buf out = NV_BUF_INIT, side = NV_BUF_INIT, tr = NV_BUF_INIT;
    struct nv_csv_dialect utf8 = a->cfg.import_dialect;
    const int enc = a->cfg.import_dialect.encoding;
    char name[200];
    json_t *groups = NULL, *order = NULL;
    size_t i;
    int r;

    utf8.encoding = NV_ENC_UTF8;
    memset(&u, 0, sizeof(u));
    u.rows = json_array();
    u.flags = json_array();
    u.acks = json_array();
    if ((r = each_record(stage, upd_collect, &u)) < 0)
        goto out;
    if (json_array_size(u.flags) > 0 && (r = write_flags(a, m, u.flags, stats)) < 0)
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
    if ((r = import_dir_ready(a)) < 0)
        goto out;
    for (size_t gi = 0; gi < json_array_size(order) && r == 0; gi++) {
        json_t *g = json_object_get(groups, json_string_value(json_array_get(order, gi)));
        json_t *first = json_array_get(g, 0), *v;
        const char *cols[NV_MAX_UPDATE_COLUMNS], *vals[NV_MAX_UPDATE_COLUMNS], *k;
        size_t nc = 0, nside = 0, nmain = 0;
        char base[180];
        if (json_object_size(first) > NV_MAX_UPDATE_COLUMNS) {
            r = nv_fail(NV_EFORMAT, "an update of over %d columns", NV_MAX_UPDATE_COLUMNS);
            break;
        }
        json_object_foreach(first, k, v)
            cols[nc++] = k;
        nv_buf_reset(&out);
        nv_buf_reset(&side);
        if (json_array_size(order) == 1)
            snprintf(base, sizeof(base), "nova-updates-%s-%010llu", m->sender,
                     (unsigned long long)m->seq);
        else
            snprintf(base, sizeof(base), "nova-updates-%s-%010llu-%zu", m->sender,
                     (unsigned long long)m->seq, gi + 1);
        if (nv_csv_write_row(&out, &a->cfg.import_dialect, cols, nc) < 0)
            nv_buf_reset(&out); /* a column name the encoding lacks: all in UTF-8 */
        r = 0;
        for (i = 0; i < json_array_size(g) && r >= 0; i++) {
            json_t *f = json_array_get(g, i);
            const char *tv[NV_MAX_UPDATE_COLUMNS];
            size_t bad = 0, badkey = 0, nrep = 0;
            r = 0;
            for (size_t c = 0; c < nc; c++) {
                json_t *x = json_object_get(f, cols[c]);
                vals[c] = json_is_string(x) ? json_string_value(x) : "";
                if (!nv_csv_representable(vals[c], enc) || !nv_csv_representable(cols[c], enc)) {
                    bad++;
                    badkey += is_key_column(a, cols[c]) || !nv_csv_representable(cols[c], enc);
                }
            }
            if (bad == 0 && out.len > 0) {
                if ((r = nv_csv_write_row(&out, &a->cfg.import_dialect, vals, nc)) < 0)
                    r = nv_fail_prefix(r, "update %zu cannot be written", i + 1);
                nmain++;
                continue;
            }
            /* the exact record, in UTF-8, in the side file */
            if (side.len == 0 && (r = nv_csv_write_row(&side, &utf8, cols, nc)) < 0)
                break;
            if ((r = nv_csv_write_row(&side, &utf8, vals, nc)) < 0) {
                r = nv_fail_prefix(r, "update %zu cannot be written", i + 1);
                break;
            }
            nside++;
            stats->side++;
            if (a->cfg.import_unrepresentable != NV_UNREP_TRANSLITERATE || badkey || out.len == 0) {
                nv_warn("inbox", "update %zu of '%s': %zu value(s) that %s cannot represent%s; "
                        "written to '%s.utf-8.csv' only", i + 1, base, bad,
                        nv_encoding_name(enc), badkey ? " (in a key column)" : "", base);
                continue;
            }
            /* transliterated into the import file as well */
            nv_buf_reset(&tr);
            {
                size_t offs[NV_MAX_UPDATE_COLUMNS];
                for (size_t c = 0; c < nc && r >= 0; c++) {
                    offs[c] = tr.len;
                    if ((r = nv_csv_transliterate(&tr, vals[c], enc)) >= 0) {
                        nrep += (size_t)r;
                        r = nv_buf_add(&tr, "", 1);
                    }
                }
                for (size_t c = 0; c < nc && r >= 0; c++)
                    tv[c] = (const char *)tr.data + offs[c];
            }
            if (r < 0 || (r = nv_csv_write_row(&out, &a->cfg.import_dialect, tv, nc)) < 0)
                break;
            nmain++;
            stats->transliterated++;
            nv_warn("inbox", "update %zu of '%s': %zu character(s) that %s cannot represent "
                    "transliterated; the exact record is in '%s.utf-8.csv'", i + 1, base, nrep,
                    nv_encoding_name(enc), base);
        }
        if (r < 0)
            break;
        if (nmain > 0) {
            snprintf(name, sizeof(name), "%s.csv", base);
            if ((r = write_import(a, name, &out)) == 0)
                nv_info("inbox", "wrote %zu updates to '%s'", nmain, name);
        }
        if (r == 0 && nside > 0) {
            snprintf(name, sizeof(name), "%s.utf-8.csv", base);
            if ((r = write_import(a, name, &side)) == 0)
                nv_info("inbox", "wrote %zu updates in UTF-8 to '%s'", nside, name);
        }
    }
    if (r == 0)
        stats->updates += (unsigned)u.count;
out:
    /* a data-subject request's records: the hub learns they were written
     * for the CRM's import (its receipt) */
    for (i = 0; r == 0 && i < json_array_size(u.acks); i++) {
        json_t *ak = json_array_get(u.acks, i);
        char why[200];
        int fl = strcmp(json_string_value(json_array_get(ak, 2)), "flag") == 0;
        snprintf(why, sizeof(why), "written to import_dir as nova-%s-%s-%010llu.csv",
                 fl ? "flags" : "updates", m->sender, (unsigned long long)m->seq);
        r = send_ack(ob, json_string_value(json_array_get(ak, 0)),
                     json_string_value(json_array_get(ak, 1)), O_DELIVERED, why);
    }
    json_decref(u.acks);
    json_decref(groups);
    json_decref(order);
    json_decref(u.rows);
    json_decref(u.flags);
    nv_buf_release(&out);
    nv_buf_release(&side);
    nv_buf_release(&tr);
    return r;
}

/* Run the hook; outcome text into why (empty when done).  0 erased, 1
 * failed, 2 retained (the hook exits with status 3 and prints the legal
 * ground and how long on its first output line, GDPR Art. 17(3)), 3 no
 * data (the hook exits with status 5: the CRM holds no such record).  Its
 * stdout and stderr are read while it runs (formats/hook.h), so it may
 * print as much as it likes. */
static int
run_hook(const struct nv_agent *a, const char *order, const char *key,
         const char *source, char *why, size_t whylen)
{
    char *argv[] = { (char *)"/bin/sh", (char *)"-c", a->cfg.erase_hook, NULL };
    char *env[5] = { NULL, NULL, NULL, NULL, NULL };
    struct nv_hook_out *h = calloc(1, sizeof(*h));
    int status, r = 1;

    if (h == NULL) {
        snprintf(why, whylen, "cannot start the erase hook: out of memory");
        return 1;
    }
    if (asprintf(&env[0], "NOVA_ORDER_ID=%s", order) < 0 ||
        asprintf(&env[1], "NOVA_RECORD_KEY=%s", key) < 0 ||
        asprintf(&env[2], "NOVA_SOURCE=%s", source) < 0 ||
        asprintf(&env[3], "NOVA_ENTITY=%s", a->cfg.entity) < 0) {
        snprintf(why, whylen, "cannot start the erase hook: out of memory");
        goto out;
    }
    if (nv_hook_run(argv, env, a->cfg.erase_timeout, "erase hook", h, &status, why,
                    whylen) < 0)
        goto out;
    if (h->total > NV_HOOK_TAIL)
        nv_info("inbox", "erase hook printed %llu bytes (the last %d kept)",
                (unsigned long long)h->total, NV_HOOK_TAIL);
    {
        char clean[sizeof(h->first)];
        nv_hook_scrub(h->first, key, 0, clean, sizeof(clean));
        memcpy(h->first, clean, sizeof(clean));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
        snprintf(why, whylen, "%s", h->first[0] ? h->first : "retained (no ground given)");
        r = 2;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        r = 0;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 5) {
        snprintf(why, whylen, "the CRM holds no such record");
        r = 3;
    } else {
        nv_hook_failure("erase hook", status, h, key, why, whylen);
    }
out:
    for (int i = 0; i < 4; i++) {
        if (env[i] != NULL)
            sodium_memzero(env[i], strlen(env[i]));
        free(env[i]);
    }
    free(h);
    return r;
}

struct era {
    struct nv_agent *a;
    struct nv_outbox *o;
    const struct nv_manifest *m;
    struct nv_buf file;      /* erasure file without a hook */
    struct nv_buf side;      /* its rows the import encoding cannot hold, UTF-8 */
    struct nv_buf line, k;
    unsigned orders, failed;
    json_t *keys;            /* every key ordered erased: its files are scrubbed */
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


/* A stored outcome's code ("done", before outcomes were told apart, is
 * erased by the hook). */
static int
outcome_code(const char *rec)
{
    for (int i = 0; i <= O_HANDED; i++) {
        size_t l = strlen(outcome_names[i]);
        if (strncmp(rec, outcome_names[i], l) == 0 && (rec[l] == '\t' || rec[l] == '\0'))
            return i;
    }
    return strncmp(rec, "done", 4) == 0 ? O_ERASED : O_FAILED;
}

/* The hand-off's key: NV_HANDOFF_PREFIX \0 source \0 order \0 key. */
static int
handoff_key(struct nv_buf *b, const char *source, const char *order, const char *key)
{
    nv_buf_reset(b);
    if (nv_buf_add(b, NV_HANDOFF_PREFIX, sizeof(NV_HANDOFF_PREFIX)) < 0 ||
        nv_buf_add(b, source, strlen(source) + 1) < 0 ||
        nv_buf_add(b, order, strlen(order) + 1) < 0 || nv_buf_adds(b, key) < 0)
        return nv_fail(NV_ENOMEM, "out of memory");
    return 0;
}

/* Write the order to the CRM team's file (no hook). */
static int
hand_off(struct era *e, const char *order, const char *key, const char *source, char *why,
         size_t whylen)
{
    const char *vals[3] = { order, key, source };
    static const char *hdr[3] = { "order_id", "record_key", "source" };
    int r;

    if (e->file.len == 0 &&
        (r = nv_csv_write_row(&e->file, &e->a->cfg.import_dialect, hdr, 3)) < 0)
        return r;
    if (nv_csv_write_row(&e->file, &e->a->cfg.import_dialect, vals, 3) < 0) {
        /* a key the encoding lacks: exact, in UTF-8, beside */
        struct nv_csv_dialect utf8 = e->a->cfg.import_dialect;
        utf8.encoding = NV_ENC_UTF8;
        if ((e->side.len == 0 && (r = nv_csv_write_row(&e->side, &utf8, hdr, 3)) < 0) ||
            (r = nv_csv_write_row(&e->side, &utf8, vals, 3)) < 0)
            return r;
        snprintf(why, whylen, "handed to the CRM team in nova-erasure-%s-%010llu.utf-8.csv; "
                 "erased once a full export no longer holds it", e->m->sender,
                 (unsigned long long)e->m->seq);
    } else {
        snprintf(why, whylen, "handed to the CRM team in nova-erasure-%s-%010llu.csv; "
                 "erased once a full export no longer holds it", e->m->sender,
                 (unsigned long long)e->m->seq);
    }
    return 0;
}

static int
send_ack(struct nv_outbox *o, const char *order, const char *key, int outcome, const char *why)
{
    json_t *ack = json_pack("{s:s,s:s,s:s,s:s,s:s}", "op", "ack", "order", order, "key", key,
                            "outcome", outcome_names[outcome], "reason", why);
    char *out = ack ? json_dumps(ack, JSON_COMPACT) : NULL;
    int r = out ? nv_outbox_add_record(o, out, strlen(out), 0)
                : nv_fail(NV_ENOMEM, "out of memory");

    free(out);
    json_decref(ack);
    return r;
}

static int
era_one(void *ctx, json_t *o, uint64_t no)
{
    struct era *e = ctx;
    const char *order = json_string_value(json_object_get(o, "order"));
    const char *key = json_string_value(json_object_get(o, "key"));
    const char *source = json_string_value(json_object_get(o, "source"));
    char why[512];
    MDB_val k, v;
    MDB_txn *txn = nv_outbox_txn(e->o);
    int outcome, rc, r, fresh = 1;

    if (order == NULL || key == NULL || !*order || !*key || strlen(order) > 128 ||
        strlen(key) > 300)
        return nv_fail(NV_EFORMAT, "erasure record %llu lacks an order id or a key",
                       (unsigned long long)no);
    if (source == NULL)
        source = "";
    if (e->keys != NULL)
        json_object_set_new(e->keys, key, json_true());
    nv_buf_reset(&e->k);
    if ((r = nv_buf_add(&e->k, order, strlen(order) + 1)) < 0 ||
        (r = nv_buf_adds(&e->k, key)) < 0)
        return r;
    k.mv_size = e->k.len;
    k.mv_data = e->k.data;
    rc = mdb_get(txn, e->a->st.orders, &k, &v);
    if (rc == 0) {
        /* answered before: same answer, nothing run again, unless it
         * failed (the hub retries it) */
        char rec[600], *tab;
        snprintf(rec, sizeof(rec), "%.*s", (int)v.mv_size, (char *)v.mv_data);
        tab = strchr(rec, '\t');
        outcome = outcome_code(rec);
        snprintf(why, sizeof(why), "%s", tab ? tab + 1 : "");
        fresh = outcome == O_FAILED;
    }
    if (fresh && e->a->cfg.erase_hook != NULL) {
        int h = run_hook(e->a, order, key, source, why, sizeof(why));
        outcome = h == 0 ? O_ERASED : h == 2 ? O_RETAINED : h == 3 ? O_NODATA : O_FAILED;
    } else if (fresh) {
        outcome = O_HANDED;
        if ((r = hand_off(e, order, key, source, why, sizeof(why))) < 0)
            return r;
    }
    if (fresh) {
        /* record the outcome now, with the fingerprints forgotten, so the
         * order is never run again whatever happens next */
        char rec[600];
        int n = snprintf(rec, sizeof(rec), "%s\t%s", outcome_names[outcome], why);
        if (outcome != O_FAILED && (r = forget(e, txn, key, source)) < 0)
            return r;
        v.mv_size = (size_t)n;
        v.mv_data = rec;
        k.mv_size = e->k.len;
        k.mv_data = e->k.data;
        if ((rc = mdb_put(txn, e->a->st.orders, &k, &v, 0)) != 0)
            return nv_mdb_fail(rc, "cannot record an order");
        if (outcome == O_HANDED) {
            /* the next full exports tell whether the CRM team erased it */
            char since[32];
            if ((r = handoff_key(&e->line, source, order, key)) < 0)
                return r;
            n = snprintf(since, sizeof(since), "%lld\twait", (long long)nv_now());
            k.mv_size = e->line.len;
            k.mv_data = e->line.data;
            v.mv_size = (size_t)n;
            v.mv_data = since;
            if ((rc = mdb_put(txn, e->a->st.orders, &k, &v, 0)) != 0)
                return nv_mdb_fail(rc, "cannot record a hand-off");
        }
    }
    e->orders++;
    e->failed += outcome == O_FAILED;
    nv_info("inbox", "erasure order %s record %llu: %s%s%s", order,
            (unsigned long long)no, outcome_names[outcome], why[0] ? ": " : "", why);
    return send_ack(e->o, order, key, outcome, why);
}

/* ---- hand-offs proven ---- */

int
nv_inbox_confirm(struct nv_agent *a, unsigned *n)
{
    struct nv_outbox o;
    MDB_txn *rt;
    MDB_cursor *c;
    MDB_val k, v;
    json_t *todo = json_array(), *t;
    int64_t now = nv_now(), limit = (int64_t)a->cfg.erase_confirm_days * 86400;
    size_t i;
    int rc, r = 0;

    *n = 0;
    if ((rc = mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &rt)) != 0) {
        json_decref(todo);
        return nv_mdb_fail(rc, "cannot read");
    }
    if ((rc = mdb_cursor_open(rt, a->st.orders, &c)) == 0) {
        k.mv_size = sizeof(NV_HANDOFF_PREFIX);
        k.mv_data = (void *)NV_HANDOFF_PREFIX;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            char val[64], *tab;
            long long since;
            int gone;
            if (k.mv_size <= sizeof(NV_HANDOFF_PREFIX) ||
                memcmp(k.mv_data, NV_HANDOFF_PREFIX, sizeof(NV_HANDOFF_PREFIX)) != 0)
                break;
            snprintf(val, sizeof(val), "%.*s", (int)v.mv_size, (char *)v.mv_data);
            since = strtoll(val, &tab, 10);
            if (*tab != '\t')
                continue;
            gone = strcmp(tab + 1, "gone") == 0;
            if (!gone && !(strcmp(tab + 1, "present") == 0 && now - since >= limit))
                continue;
            json_array_append_new(todo, json_pack("{s:s%,s:b,s:I}", "k", (char *)k.mv_data,
                                                  k.mv_size, "gone", gone, "days",
                                                  (json_int_t)((now - since) / 86400)));
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(rt);
    if (json_array_size(todo) == 0 || a->hub == NULL) {
        json_decref(todo);
        return 0;
    }
    nv_agent_outbox(a, &o);
    if ((r = nv_outbox_begin(&o, NV_KIND_ACKS)) < 0) {
        json_decref(todo);
        return r;
    }
    json_array_foreach(todo, i, t) {
        const char *hk = json_string_value(json_object_get(t, "k"));
        size_t hl = json_string_length(json_object_get(t, "k"));
        const char *src = hk + sizeof(NV_HANDOFF_PREFIX);
        const char *order = src + strlen(src) + 1, *key = order + strlen(order) + 1;
        int gone = json_is_true(json_object_get(t, "gone"));
        char why[300], rec[600];
        struct nv_buf ok = NV_BUF_INIT;
        int outcome = gone ? O_ERASED : O_FAILED, m;
        if ((size_t)(key - hk) > hl)
            continue;
        if (gone)
            snprintf(why, sizeof(why), "handed to the CRM team; a later full export of %s no "
                     "longer holds the record", src[0] ? src : "the source");
        else
            snprintf(why, sizeof(why), "handed to the CRM team %lld day(s) ago and still in "
                     "the full export of %s (erase_confirm_days %u)",
                     (long long)json_integer_value(json_object_get(t, "days")),
                     src[0] ? src : "the source", a->cfg.erase_confirm_days);
        if ((r = send_ack(&o, order, key, outcome, why)) < 0)
            break;
        /* the order's answer is the proven one now (a failed one runs again
         * when the hub retries it) */
        m = snprintf(rec, sizeof(rec), "%s\t%s", outcome_names[outcome], why);
        if (nv_buf_add(&ok, order, strlen(order) + 1) < 0 || nv_buf_adds(&ok, key) < 0)
            abort();
        k.mv_size = ok.len;
        k.mv_data = ok.data;
        v.mv_size = (size_t)m;
        v.mv_data = rec;
        rc = mdb_put(nv_outbox_txn(&o), a->st.orders, &k, &v, 0);
        nv_buf_release(&ok);
        k.mv_size = hl;
        k.mv_data = (void *)hk;
        if (rc == 0)
            rc = mdb_del(nv_outbox_txn(&o), a->st.orders, &k, NULL);
        if (rc != 0) {
            r = nv_mdb_fail(rc, "cannot record a proven erasure");
            break;
        }
        nv_info("inbox", "erasure order %s handed to the CRM team: %s", order,
                gone ? "erased (a full export no longer holds the record)"
                     : "still in the export: reported failed");
        (*n)++;
    }
    if (r == 0)
        r = nv_outbox_end(&o);
    else
        nv_outbox_abort(&o);
    json_decref(todo);
    return r;
}

/* ---- one bundle ---- */

static void
stream_key(char *out, size_t n, const char *hub)
{
    snprintf(out, n, "in:%s", hub);
}

/* "rcvd:<hub>:<seq, 20 digits>" -> the id of every hub bundle applied, so
 * one delivered again (nova-hub resend) is known for what it is */
static void
rcvd_key(char *out, size_t n, const char *hub, uint64_t seq)
{
    snprintf(out, n, "rcvd:%s:%020llu", hub, (unsigned long long)seq);
}

static int
rcvd_put(MDB_txn *txn, struct nv_agent *a, const struct nv_bundle *b)
{
    char key[120];
    MDB_val k, v = { 32, (void *)b->id };
    int rc;

    rcvd_key(key, sizeof(key), b->m.sender, b->m.seq);
    k.mv_size = strlen(key);
    k.mv_data = key;
    if ((rc = mdb_put(txn, a->st.streams, &k, &v, 0)) != 0)
        return nv_mdb_fail(rc, "cannot record a received bundle");
    return 0;
}

/* Was this very bundle applied already?  By its recorded id, or (bundles
 * applied before ids were recorded) by the copy in the archive. */
static int
applied_already(struct nv_agent *a, MDB_txn *txn, const struct nv_bundle *b)
{
    char key[120], name[160], *ad, *ap;
    MDB_val k, v;
    struct nv_bundle old;
    int same = 0;

    rcvd_key(key, sizeof(key), b->m.sender, b->m.seq);
    k.mv_size = strlen(key);
    k.mv_data = key;
    if (mdb_get(txn, a->st.streams, &k, &v) == 0)
        return v.mv_size == 32 && sodium_memcmp(v.mv_data, b->id, 32) == 0;
    nv_bundle_filename(&b->m, name, sizeof(name));
    ad = nv_path_join(a->dir, "archive");
    ap = nv_path_join(ad, name);
    if (nv_exists(ap) && nv_bundle_read(&old, ap, PAYLOAD_MAX) == 0) {
        same = sodium_memcmp(old.id, b->id, 32) == 0;
        nv_bundle_release(&old);
    }
    nv_error_clear();
    free(ad);
    free(ap);
    return same;
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
    if (r == 0)
        r = nv_stream_check(&st, &b->m);
    /* the very bundle applied before (a crash kept it from the archive, or
     * it was delivered again): a duplicate, archived, never quarantined */
    if (r == NV_EREPLAY &&
        ((st.seq == b->m.seq && sodium_memcmp(st.last_id, b->id, 32) == 0) ||
         applied_already(a, txn, b)))
        *applied_before = 1;
    mdb_txn_abort(txn);
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
apply(struct nv_agent *a, struct nv_bundle *b, struct nv_inbox_stats *stats, json_t *erased)
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
    /* the acks answering this bundle say it is applied */
    o.has_acked = 1;
    o.acked = b->m.seq;
    if (b->m.ledger_head[0] != '\0')
        memcpy(o.ledger_head, b->m.ledger_head, sizeof(o.ledger_head));
    if ((r = nv_outbox_begin(&o, NV_KIND_ACKS)) < 0)
        goto out;
    if (b->m.kind == NV_KIND_UPDATES) {
        r = apply_updates(a, &o, sdir, &b->m, stats);
    } else {
        struct era e;
        memset(&e, 0, sizeof(e));
        e.a = a;
        e.o = &o;
        e.m = &b->m;
        e.keys = erased;
        if (a->hub == NULL)
            r = nv_fail(NV_ECONFIG, "no hub to answer erasure orders to");
        else
            r = each_record(sdir, era_one, &e);
        if (r == 0 && e.file.len > 0) {
            char name[160], *p;
            snprintf(name, sizeof(name), "nova-erasure-%s-%010llu.csv", b->m.sender,
                     (unsigned long long)b->m.seq);
            p = nv_path_join(a->cfg.import_dir, name);
            if ((r = import_dir_ready(a)) == 0)
                r = nv_write_file_as(p, e.file.data, e.file.len, a->cfg.import_mode,
                                     (gid_t)a->cfg.import_gid);
            free(p);
        }
        if (r == 0 && e.side.len > 0) {
            char name[170], *p;
            snprintf(name, sizeof(name), "nova-erasure-%s-%010llu.utf-8.csv", b->m.sender,
                     (unsigned long long)b->m.seq);
            p = nv_path_join(a->cfg.import_dir, name);
            if ((r = import_dir_ready(a)) == 0)
                r = nv_write_file_as(p, e.side.data, e.side.len, a->cfg.import_mode,
                                     (gid_t)a->cfg.import_gid);
            free(p);
        }
        nv_buf_release(&e.side);
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
    if ((r = nv_astate_stream_put(nv_outbox_txn(&o), &a->st, key, &st)) < 0 ||
        (r = rcvd_put(nv_outbox_txn(&o), a, b)) < 0 ||
        (b->m.has_acked &&
         (r = nv_acked_put(nv_outbox_txn(&o), a->st.streams, b->m.sender, b->m.acked)) < 0) ||
        (b->m.ledger_head[0] != '\0' &&
         (r = nv_agent_witness_put(nv_outbox_txn(&o), a, b->m.ledger_head)) < 0)) {
        nv_outbox_abort(&o);
        goto out;
    }
    r = nv_outbox_end(&o);
out:
    (void)nv_rm_rf(sdir);
    free(sdir);
    return r;
}

/* ---- an erasure reaches the agent's own files ---- */

/* The fields of one CSV line as written (quotes kept), compared with want
 * (one field as the import dialect writes it): 1 when one is it. */
static int
line_has_field(const char *line, size_t n, char delim, const char *want, size_t wn)
{
    size_t start = 0;
    int inq = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i < n && line[i] == '"')
            inq = !inq;
        if (i == n || (!inq && line[i] == delim)) {
            size_t end = i;
            while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n'))
                end--;
            if (end - start == wn && memcmp(line + start, want, wn) == 0)
                return 1;
            start = i + 1;
        }
    }
    return 0;
}

/* import/: the rows of the files written for the CRM (updates, flags,
 * side files) that hold an erased key go. */
static int
scrub_imports(struct nv_agent *a, json_t *keys)
{
    DIR *d = opendir(a->cfg.import_dir);
    struct dirent *de;
    int r = 0;

    if (d == NULL)
        return 0;
    while (r == 0 && (de = readdir(d)) != NULL) {
        struct nv_buf in = NV_BUF_INIT, out = NV_BUF_INIT;
        char *p;
        const char *k, *c, *e;
        json_t *unused;
        int dropped = 0, first = 1;
        if (strncmp(de->d_name, "nova-updates-", 13) != 0 &&
            strncmp(de->d_name, "nova-flags-", 11) != 0)
            continue;
        p = nv_path_join(a->cfg.import_dir, de->d_name);
        if (nv_read_file(p, (size_t)1 << 30, &in) < 0) {
            free(p);
            continue;
        }
        c = (const char *)in.data;
        e = c + in.len;
        while (r == 0 && c < e) {
            const char *nl = memchr(c, '\n', (size_t)(e - c));
            size_t len = nl ? (size_t)(nl - c) + 1 : (size_t)(e - c);
            int drop = 0;
            if (!first) {
                json_object_foreach(keys, k, unused) {
                    struct nv_buf f = NV_BUF_INIT;
                    struct nv_csv_dialect dl = a->cfg.import_dialect;
                    const char *one[1] = { k };
                    if (strstr(de->d_name, ".utf-8.") != NULL)
                        dl.encoding = NV_ENC_UTF8;
                    dl.formula_guard = 0;
                    if (nv_csv_write_row(&f, &dl, one, 1) == 0) {
                        size_t fl = f.len;
                        while (fl > 0 && (f.data[fl - 1] == '\n' || f.data[fl - 1] == '\r'))
                            fl--;
                        drop = line_has_field(c, len, dl.delim, (const char *)f.data, fl);
                    }
                    nv_buf_release(&f);
                    if (drop)
                        break;
                }
            }
            if (drop)
                dropped++;
            else
                r = nv_buf_add(&out, c, len);
            first = 0;
            c += len;
        }
        if (r == 0 && dropped > 0) {
            r = nv_write_file(p, out.data ? out.data : (uint8_t *)"", out.len, 0640);
            nv_info("inbox", "%d row(s) of erased records removed from '%s'", dropped,
                    de->d_name);
        }
        nv_buf_release(&in);
        nv_buf_release(&out);
        free(p);
    }
    closedir(d);
    return r;
}

/* A payload's lines, for erased keys. */
struct kscan {
    json_t *keys;
    struct nv_buf line;
    int found;
};

static void
kscan_line(struct kscan *s)
{
    json_t *o;

    if (s->found || s->line.len == 0)
        return;
    if ((o = json_loadb((const char *)s->line.data, s->line.len, 0, NULL)) != NULL) {
        const char *k = json_string_value(json_object_get(o, "key"));
        if (k != NULL && json_object_get(s->keys, k) != NULL)
            s->found = 1;
        json_decref(o);
    }
    nv_buf_reset(&s->line);
}

static int
kscan_entry(void *ctx, const char *name, uint64_t size)
{
    (void)name, (void)size;
    kscan_line(ctx);
    return 0;
}

static int
kscan_data(void *ctx, const void *p, size_t n)
{
    struct kscan *s = ctx;
    const char *c = p, *e = c + n;

    while (c < e && !s->found) {
        const char *nl = memchr(c, '\n', (size_t)(e - c));
        size_t k = nl ? (size_t)(nl - c) : (size_t)(e - c);
        if (s->line.len + k < ((size_t)16 << 20) && nv_buf_add(&s->line, c, k) < 0)
            return -1;
        if (nl == NULL)
            break;
        kscan_line(s);
        c = nl + 1;
    }
    return 0;
}

static int
kscan_end(void *ctx)
{
    kscan_line(ctx);
    return 0;
}

/* archive/ and quarantine/: a bundle from the hub that holds an erased
 * key (updates, flags) is reduced to its receipt (formats/erased.h). */
static int
scrub_bundles(struct nv_agent *a, json_t *keys)
{
    const char *dirs[2];
    char *ad = nv_path_join(a->dir, "archive");
    int r = 0;

    dirs[0] = ad;
    dirs[1] = a->cfg.quarantine;
    for (int d = 0; d < 2 && r == 0; d++) {
        struct dirent **ents = NULL;
        int n = dirs[d] ? scandir(dirs[d], &ents, NULL, alphasort) : -1;
        for (int i = 0; i < n; i++) {
            size_t l = strlen(ents[i]->d_name);
            struct nv_bundle b;
            struct kscan s = { keys, NV_BUF_INIT, 0 };
            struct nv_payload_sink sink = { kscan_entry, kscan_data, kscan_end, &s };
            char *p;
            if (r < 0 || l < 6 || ents[i]->d_name[0] == '.' ||
                strcmp(ents[i]->d_name + l - 5, NV_BUNDLE_EXT) != 0 ||
                strstr(ents[i]->d_name, ".erasure.") != NULL) {
                free(ents[i]);
                continue;
            }
            p = nv_path_join(dirs[d], ents[i]->d_name);
            if (nv_bundle_read(&b, p, PAYLOAD_MAX) == 0) {
                b.verified = 1; /* read to scan it, never applied */
                if (nv_bundle_open_payload(&b, a->self.age, a->self.nage, &sink, NULL) < 0)
                    kscan_end(&s);
                if (s.found) {
                    uint8_t sha[32];
                    if ((r = nv_file_sha256(p, sha)) == 0 &&
                        (r = nv_erased_replace(p, &b.manifest_text, &b.sig_text, sha,
                                               "payload erased at a data subject's request "
                                               "(GDPR Art. 17)")) == 0)
                        nv_info("inbox", "'%s' held an erased record: reduced to its receipt",
                                ents[i]->d_name);
                }
                nv_bundle_release(&b);
            }
            nv_buf_release(&s.line);
            free(p);
            free(ents[i]);
        }
        free(ents);
    }
    free(ad);
    nv_error_clear();
    return r;
}

static int
scrub(struct nv_agent *a, json_t *keys)
{
    int r = scrub_imports(a, keys);

    return r < 0 ? r : scrub_bundles(a, keys);
}

int
nv_inbox_process(struct nv_agent *a, struct nv_inbox_stats *stats)
{
    struct nv_spool_entry *v;
    size_t n;
    char *archive;
    json_t *erased;
    int first = 0, r;

    memset(stats, 0, sizeof(*stats));
    if ((r = nv_spool_list(a->cfg.inbox, PAYLOAD_MAX, &v, &n)) < 0)
        return r;
    if ((erased = json_object()) == NULL) {
        nv_spool_list_free(v, n);
        return nv_fail(NV_ENOMEM, "out of memory");
    }
    archive = nv_path_join(a->dir, "archive");
    for (size_t i = 0; i < n; i++) {
        struct nv_bundle b;
        char *p = nv_path_join(a->cfg.inbox, v[i].name);
        int before, r;
        nv_error_clear();
        r = check(a, p, &b, &before);
        if (r == 0) {
            r = apply(a, &b, stats, erased);
            if (r == 0) {
                char name[160];
                nv_bundle_filename(&b.m, name, sizeof(name));
                r = move_to(archive, p, name);
                stats->applied++;
            }
            nv_bundle_release(&b);
        } else if (before) {
            nv_info("inbox", "'%s' was applied before: a duplicate, archived", v[i].name);
            r = move_to(archive, p, v[i].name);
            stats->duplicates++;
        } else if (r == NV_ESEQGAP) {
            stats->waiting++;
            nv_info("inbox", "'%s' waits: %s", v[i].name, nv_errmsg(r));
            r = 0;
        }
        if (r < 0 && nv_spool_arriving(p, r, nv_spool_settle_ms(), NULL)) {
            /* a copy still running (a USB key, a slow share): looked at
             * again once it has stopped changing */
            nv_info("inbox", "'%s' is still being copied (%s): left in the inbox",
                    v[i].name, nv_errmsg(r));
            stats->waiting++;
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
    /* what the hub acknowledged leaves sent/ */
    {
        uint64_t pruned = 0;
        if (a->hub != NULL && (r = nv_agent_prune_sent(a, &pruned)) < 0) {
            nv_warn("inbox", "cannot prune the acknowledged bundles: %s", nv_errmsg(r));
            if (first == 0)
                first = r;
        }
        stats->acked = nv_agent_acked(a);
        stats->pruned = (unsigned)pruned;
    }
    /* the erasure reaches every file here that holds the person */
    if (json_object_size(erased) > 0 && (r = scrub(a, erased)) < 0 && first == 0)
        first = r;
    json_decref(erased);
    return first;
}
