/*
 * nova-agent - the edge side: keys, trust of the hub, sealing change
 * records into signed, encrypted bundles in the outbox.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../formats/bundle.h"
#include "../formats/cli.h"
#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "../formats/record.h"
#include "../keys/identity.h"
#include "../keys/keyring.h"
#include "agent.h"
#include "backup.h"
#include "push.h"
#include "config.h"
#include "inbox.h"
#include "outbox.h"
#include "scan.h"
#include "state.h"
#include "stats.h"
#include "watch.h"

static int
cmd_init(int argc, char **argv)
{
    const char *dir = NULL, *entity = NULL;
    static const char *subdirs[] = { "outbox", "outbox/.pending", "inbox",
                                     "quarantine", "import", "archive" };
    int r;

    if ((r = nv_cli_dir_opt(argc, argv, "--entity", &entity, &dir)) != 0)
        return r;
    if (entity == NULL)
        return nv_cli_usage("DIR and --entity NAME are required");
    if ((r = nv_mkdir_p(dir, 0700)) < 0 ||
        (r = nv_identity_create(dir, entity, NV_ROLE_AGENT)) < 0)
        return nv_cli_fail(r);
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        char *p = nv_path_join(dir, subdirs[i]);
        r = nv_mkdir_p(p, 0700);
        free(p);
        if (r < 0)
            return nv_cli_fail(r);
    }
    /* DIR/agent.conf, or the --config file (kept if it exists: a
     * package's /etc/nova/agent.conf) */
    char *conf = nv_agent_config_path(dir);
    {
        const char *t = nv_agent_config_template(entity);
        r = nv_exists(conf) ? 0 : nv_write_file(conf, t, strlen(t), 0640);
        if (r < 0) {
            free(conf);
            return nv_cli_fail(r);
        }
    }
    printf("agent '%s' initialised in %s\n"
           "describe the CRM's export directories in %s, then check it with\n"
           "'nova-agent %s%s%scheck %s'; hand %s/keys/identity.pub to the hub (nova-hub enroll), and trust the hub's\n"
           "identity with: nova-agent trust %s HUB-IDENTITY.pub\n",
           entity, dir, conf, getenv("NOVA_AGENT_CONFIG") ? "--config " : "",
           getenv("NOVA_AGENT_CONFIG") ? conf : "", getenv("NOVA_AGENT_CONFIG") ? " " : "",
           dir, dir, dir);
    free(conf);
    return 0;
}

static int
cmd_trust(int argc, char **argv)
{
    const char *pos[2], *dir, *file;
    int force = 0, u;

    if ((u = nv_cli_args(argc, argv, "--force", &force, pos, 2)) != 0)
        return u;
    dir = pos[0];
    file = pos[1];
    if (file == NULL)
        return nv_cli_usage("DIR and FILE are required");
    {
        struct nv_identity_pub id;
        char kid[17];
        int r = nv_keyring_add_file(dir, file, force, NV_ROLE_HUB, &id);
        if (r < 0)
            return nv_cli_fail(r);
        nv_keyid_hex(id.sign.keyid, kid);
        printf("hub '%s' key %s is now trusted\n", id.entity, kid);
        return 0;
    }
}

/* One line of a change-record file: check it, then add it (or count it as
 * rejected). */
static int
seal_line(struct nv_outbox *o, const char *path, unsigned long lineno,
          const char *line, size_t n, uint64_t *bad)
{
    int op;

    if (n == 0)
        return 0;
    /* a line too long to be a record is not kept in memory: see
     * seal_file; nv_record_check refuses it on its length alone */
    op = n > NV_RECORD_MAX ? nv_fail(NV_ETOOBIG, "record over %u bytes", NV_RECORD_MAX)
                           : nv_record_check(line, n);
    if (op < 0) {
        char esc[256];
        nv_warn("seal", "line %lu of '%s' rejected: %s", lineno,
                nv_log_escape(path, esc, sizeof(esc)), nv_errmsg(op));
        (*bad)++;
        return 0;
    }
    return nv_outbox_add_record(o, line, n, op);
}

/* Read a change-record file in large blocks and split it into lines in
 * place (no stdio, no per-line copy).  A line that does not fit in the
 * buffer grows it, up to one record's maximum; past that the line is only
 * measured (and then rejected), so memory stays bounded. */
#define SEAL_READ (256u << 10)

static int
seal_file(struct nv_outbox *o, const char *path, uint64_t *bad)
{
    char *buf;
    size_t cap = SEAL_READ, have = 0, scan = 0;
    uint64_t skipped = 0; /* bytes of an over-long line already dropped */
    unsigned long lineno = 0;
    int fd, r = 0, eof = 0;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return nv_fail_errno("cannot open '%s'", path);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if ((buf = malloc(cap)) == NULL) {
        close(fd);
        return nv_fail(NV_ENOMEM, "out of memory");
    }
    while (r == 0 && !eof) {
        size_t start = 0;
        ssize_t got;

        if (have == cap) {
            if (cap <= NV_RECORD_MAX) {
                /* a long line: room for a whole record and its newline */
                size_t ncap = cap * 2 > NV_RECORD_MAX + 1 ? NV_RECORD_MAX + 1 : cap * 2;
                char *nb = realloc(buf, ncap);
                if (nb == NULL) {
                    r = nv_fail(NV_ENOMEM, "out of memory");
                    break;
                }
                buf = nb;
                cap = ncap;
            } else {
                /* longer than any record: keep counting, drop the bytes */
                skipped += have;
                have = scan = 0;
            }
        }
        got = read(fd, buf + have, cap - have);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            r = nv_fail_errno("cannot read '%s'", path);
            break;
        }
        if (got == 0)
            eof = 1;
        have += (size_t)got;
        for (;;) {
            char *nl = memchr(buf + scan, '\n', have - scan);
            size_t end = nl != NULL ? (size_t)(nl - buf) : have;
            if (nl == NULL && !(eof && (have > start || skipped > 0)))
                break;
            lineno++;
            if (skipped > 0)
                r = seal_line(o, path, lineno, NULL, (size_t)(skipped + (end - start)), bad);
            else
                r = seal_line(o, path, lineno, buf + start, end - start, bad);
            skipped = 0;
            start = scan = nl != NULL ? end + 1 : have;
            if (r < 0 || nl == NULL)
                break;
        }
        /* keep the unfinished line at the front of the buffer */
        if (start > 0) {
            memmove(buf, buf + start, have - start);
            have -= start;
            scan = have;
        } else {
            scan = have;
        }
    }
    free(buf);
    close(fd);
    return r;
}

static int
cmd_seal(int argc, char **argv)
{
    const char *dir = NULL, *v;
    int nfiles = 0, r = 0, first_file = 0;
    uint64_t cap = 0, bad = 0;
    struct nv_agent a;
    struct nv_outbox o;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--cap", &v)) {
            if (v == NULL || nv_parse_size(v, &cap) < 0 || cap < 1024)
                return nv_cli_usage("--cap needs a size of at least 1K (e.g. 64M)");
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            if (nfiles++ == 0)
                first_file = i;
        }
    }
    if (dir == NULL || nfiles == 0)
        return nv_cli_usage("DIR and at least one FILE are required");
    if ((r = nv_agent_open(&a, dir, 1)) < 0)
        return nv_cli_fail(r);
    nv_agent_outbox(&a, &o);
    if (cap)
        o.cap = cap;
    if ((r = nv_outbox_begin(&o, NV_KIND_CHANGES)) == 0) {
        for (int i = first_file; i < argc && r == 0; i++) {
            if (argv[i][0] == '-') {
                if (!strcmp(argv[i], "--cap"))
                    i++;
                continue;
            }
            r = seal_file(&o, argv[i], &bad);
        }
        if (r == 0) {
            nv_outbox_add_rejects(&o, bad);
            r = nv_outbox_end(&o);
        } else {
            nv_outbox_abort(&o);
        }
    }
    nv_agent_close(&a);
    if (r < 0)
        return nv_cli_fail(r);
    printf("%u bundle(s) written to the outbox (%llu rejected lines)\n", o.bundles,
           (unsigned long long)bad);
    return 0;
}

static int
one_dir(int argc, char **argv, const char **dir, int *json)
{
    int u = nv_cli_args(argc, argv, json ? "--json" : NULL, json, dir, 1);

    if (u != 0)
        return u;
    return *dir == NULL ? nv_cli_usage("DIR is required") : 0;
}

static int
cmd_check(int argc, char **argv)
{
    const char *dir;
    struct nv_agent a;
    int r, problems;
    static char newest[NV_MAX_SOURCES][256];

    if ((r = one_dir(argc, argv, &dir, NULL)) != 0)
        return r;
    if ((r = nv_agent_open(&a, dir, 0)) < 0)
        return nv_cli_fail(r);
    problems = nv_agent_config_check(&a.cfg, stderr);
    /* the newest export of each source, read as a scan would read it */
    for (int i = 0; i < a.cfg.nsrc; i++)
        problems += nv_scan_check_source(&a.cfg.src[i], stderr, newest[i], sizeof(newest[i]));
    if (a.hub == NULL) {
        fprintf(stderr, "no hub is trusted: run 'nova-agent trust %s HUB-IDENTITY.pub'\n", dir);
        problems++;
    }
    if (problems) {
        fprintf(stderr, "nova-agent: error: %d problem(s) in %s\n", problems, a.cfg.path);
        nv_agent_close(&a);
        return nv_exit_status(NV_ECONFIG);
    }
    printf("%s is valid: entity '%s', hub '%s', %d source(s)\n", a.cfg.path,
           a.cfg.entity, a.hub->id.entity, a.cfg.nsrc);
    for (int i = 0; i < a.cfg.nsrc; i++)
        printf("  source %s: %s/%s (%s, key %s%s); newest export: %s\n", a.cfg.src[i].name,
               a.cfg.src[i].dir, a.cfg.src[i].pattern,
               a.cfg.src[i].mode == NV_MODE_FULL ? "full snapshots" : "deltas",
               a.cfg.src[i].keycols[0], a.cfg.src[i].nkeycols > 1 ? ", ..." : "",
               newest[i][0] ? newest[i] : "none yet");
    nv_agent_close(&a);
    return 0;
}

static int
cmd_scan(int argc, char **argv)
{
    const char *dir;
    struct nv_agent a;
    struct nv_scan_stats ss;
    struct nv_inbox_stats is;
    struct timespec t0, t1;
    int json = 0, r, ri;

    if ((r = one_dir(argc, argv, &dir, &json)) != 0)
        return r;
    if ((r = nv_agent_open(&a, dir, 1)) < 0)
        return nv_cli_fail(r);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ri = nv_inbox_process(&a, &is);
    r = nv_scan(&a, &ss);
    if (r == 0) {
        unsigned nc = 0;
        r = nv_inbox_confirm(&a, &nc);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (nv_agent_stats_note(dir, r < 0 ? NULL : &ss, &is,
                            (double)(t1.tv_sec - t0.tv_sec) +
                                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9) < 0)
        nv_warn("scan", "cannot keep the pass's statistics: %s", nv_errmsg(-1));
    if (a.cfg.metrics_textfile != NULL && nv_agent_metrics_write(&a, a.cfg.metrics_textfile) < 0)
        nv_warn("scan", "cannot write the metrics: %s", nv_errmsg(-1));
    nv_agent_close(&a);
    if (r < 0)
        return nv_cli_fail(r);
    if (json)
        printf("{\"files\":%llu,\"rows\":%llu,\"upserts\":%llu,\"deletes\":%llu,"
               "\"unchanged\":%llu,\"rejects\":%llu,\"withheld_deletes\":%llu,"
               "\"waiting\":%llu,\"bundles\":%u,\"inbox_applied\":%u,"
               "\"inbox_waiting\":%u,\"inbox_quarantined\":%u,\"updates\":%u,"
               "\"orders\":%u,\"orders_failed\":%u,\"unreadable\":%llu,\"ignored\":%llu,"
               "\"released_deletes\":%llu,\"transliterated\":%u,\"utf8_side\":%u,"
               "\"files_rejected\":%llu,\"inbox_duplicates\":%u,\"acked_seq\":%llu,"
               "\"rebased\":%u,\"stale\":%u,\"snapshot\":%s}\n",
               (unsigned long long)ss.files, (unsigned long long)ss.rows,
               (unsigned long long)ss.upserts, (unsigned long long)ss.deletes,
               (unsigned long long)ss.unchanged, (unsigned long long)ss.rejects,
               (unsigned long long)ss.withheld, (unsigned long long)ss.waiting,
               ss.bundles, is.applied, is.waiting, is.quarantined, is.updates,
               is.orders, is.failed, (unsigned long long)ss.unreadable,
               (unsigned long long)ss.ignored, (unsigned long long)ss.released,
               is.transliterated, is.side, (unsigned long long)ss.files_rejected,
               is.duplicates, (unsigned long long)is.acked, is.rebased, is.stale,
               ss.snapshot ? "true" : "false");
    else
        printf("exports: %llu file(s), %llu rows: %llu upserts, %llu deletes, %llu unchanged, "
               "%llu rejected; %u bundle(s) sealed%s\n"
               "         %llu deletes withheld, %llu released; %llu file(s) unreadable, "
               "%llu entries skipped (not files to read)\n"
               "inbox:   %u bundle(s) applied (%u updates, %u erasure orders, %u failed), "
               "%u waiting, %u quarantined; %u update(s) transliterated, %u in UTF-8 side files\n",
               (unsigned long long)ss.files, (unsigned long long)ss.rows,
               (unsigned long long)ss.upserts, (unsigned long long)ss.deletes,
               (unsigned long long)ss.unchanged, (unsigned long long)ss.rejects,
               ss.bundles, ss.waiting ? " (some files still settling)" : "",
               (unsigned long long)ss.withheld, (unsigned long long)ss.released,
               (unsigned long long)ss.unreadable, (unsigned long long)ss.ignored,
               is.applied, is.updates, is.orders, is.failed, is.waiting,
               is.quarantined, is.transliterated, is.side);
    if (!json && (is.rebased || is.stale || ss.snapshot))
        printf("rebase:  %u rebase order(s) applied, %u stale bundle(s) set aside in stale/%s\n",
               is.rebased, is.stale, ss.snapshot ? "; a full snapshot shipped" : "");
    if (!json && (is.duplicates || is.pruned))
        printf("         %u duplicate(s) archived; %u sent bundle(s) acknowledged by the hub "
               "(up to seq %llu) removed from sent/\n", is.duplicates, is.pruned,
               (unsigned long long)is.acked);
    if (ss.files_rejected > 0) {
        fprintf(stderr, "nova-agent: error: %llu export file(s) rejected whole (the log and "
                "the bundle's rejects.ndjson say why; 'nova-agent check %s' checks the "
                "newest export of each source)\n",
                (unsigned long long)ss.files_rejected, dir);
        return nv_exit_status(ss.file_reject_code);
    }
    return ri < 0 ? nv_exit_status(ri) : 0;
}

static int
cmd_accept_deletes(int argc, char **argv)
{
    const char *pos[2] = { NULL, NULL };
    struct nv_agent a;
    struct nv_scan_stats ss;
    int u, r;

    if ((u = nv_cli_args(argc, argv, NULL, NULL, pos, 2)) != 0)
        return u;
    if (pos[0] == NULL)
        return nv_cli_usage("DIR is required");
    r = nv_agent_open(&a, pos[0], 1);
    if (r == NV_EEXIST) {
        /* `run` holds the lock: it applies the request at its next pass */
        if ((r = nv_scan_request_accept(pos[0], pos[1])) < 0)
            return nv_cli_fail(r);
        printf("another nova-agent is working in %s: it releases the withheld deletes of %s "
               "at its next pass (send it SIGHUP to pass now)\n",
               pos[0], pos[1] ? pos[1] : "every source");
        return 0;
    }
    if (r < 0)
        return nv_cli_fail(r);
    r = nv_scan_accept(&a, pos[1], &ss);
    nv_agent_close(&a);
    if (r < 0)
        return nv_cli_fail(r);
    printf("%llu withheld delete(s) released%s; %u bundle(s) sealed\n",
           (unsigned long long)ss.released,
           ss.released ? "" : " (nothing was withheld)", ss.bundles);
    return 0;
}

static int
cmd_run(int argc, char **argv)
{
    const char *dir = NULL, *v, *textfile = NULL;
    uint64_t rescan = 300;
    int r;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--rescan", &v)) {
            if (v == NULL || nv_parse_u64(v, &rescan) < 0 || rescan == 0)
                return nv_cli_usage("--rescan needs a number of seconds");
        } else if (nv_opt_val(argc, argv, &i, "--textfile", &v)) {
            if (v == NULL || *v == '\0')
                return nv_cli_usage("--textfile needs a path");
            textfile = v;
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else {
            dir = argv[i];
        }
    }
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_watch_run(dir, (unsigned)rescan, textfile)) < 0)
        return nv_cli_fail(r);
    return 0;
}

static void
json_print_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int
cmd_status(int argc, char **argv)
{
    struct nv_agent a;
    struct nv_stream_state out, in;
    char kid[17], key[80], witness[41];
    int json = 0, r;
    const char *dir;
    MDB_txn *txn;
    size_t nfp = 0;
    struct nv_sent_backlog bl;
    uint64_t acked;
    char oldest[21] = "";
    struct nv_arebase rb;

    memset(&rb, 0, sizeof(rb));
    if ((r = one_dir(argc, argv, &dir, &json)) != 0)
        return r;
    if ((r = nv_agent_open(&a, dir, 0)) < 0)
        return nv_cli_fail(r);
    memset(&out, 0, sizeof(out));
    memset(&in, 0, sizeof(in));
    if (mdb_txn_begin(a.st.env, NULL, MDB_RDONLY, &txn) == 0) {
        MDB_stat ms;
        if (a.hub != NULL) {
            snprintf(key, sizeof(key), "out:%s", a.hub->id.entity);
            r = nv_astate_stream_get(txn, &a.st, key, &out);
            snprintf(key, sizeof(key), "in:%s", a.hub->id.entity);
            if (r == 0)
                r = nv_astate_stream_get(txn, &a.st, key, &in);
        }
        if (mdb_stat(txn, a.st.fp, &ms) == 0)
            nfp = ms.ms_entries;
        if (a.hub != NULL && r == 0)
            r = nv_agent_rebase_get(txn, &a, &rb);
        mdb_txn_abort(txn);
    }
    nv_keyid_hex(a.self.pub.sign.keyid, kid);
    nv_agent_witness(&a, witness);
    acked = nv_agent_acked(&a);
    memset(&bl, 0, sizeof(bl));
    if (r == 0)
        r = nv_sent_backlog(a.sent, acked, &bl);
    if (bl.oldest)
        nv_time_format(bl.oldest, oldest);
    if (json)
        printf("{\"entity\":\"%s\",\"key_id\":\"%s\",\"hub\":%s%s%s,\"sent_seq\":%llu,"
               "\"received_seq\":%llu,\"records\":%zu,\"ledger_head_witnessed\":%s%s%s,"
               "\"sources\":%d,",
               a.self.pub.entity, kid, a.hub ? "\"" : "",
               a.hub ? a.hub->id.entity : "null", a.hub ? "\"" : "",
               (unsigned long long)out.seq, (unsigned long long)in.seq, nfp,
               witness[0] ? "\"" : "", witness[0] ? witness : "null", witness[0] ? "\"" : "",
               a.cfg.nsrc);
    else
        printf("entity:        %s\nkey id:        %s\nhub:           %s\n"
               "sent seq:      %llu\nreceived seq:  %llu\nrecords known: %zu\n"
               "hub ledger:    %s\n"
               "sources:       %d\n",
               a.self.pub.entity, kid, a.hub ? a.hub->id.entity : "(none trusted)",
               (unsigned long long)out.seq, (unsigned long long)in.seq, nfp,
               witness[0] ? witness : "(no head witnessed yet)", a.cfg.nsrc);
    if (json)
        printf("\"epoch\":%llu,\"snapshot_pending\":%s,", (unsigned long long)rb.epoch,
               rb.snapshot ? "true" : "false");
    else if (rb.epoch > 0)
        printf("epoch:         %llu (rebase order seq %llu, from seq %llu)%s\n",
               (unsigned long long)rb.epoch, (unsigned long long)rb.hub_seq,
               (unsigned long long)rb.base,
               rb.snapshot ? "; the next pass ships a full snapshot" : "");
    if (json)
        printf("\"acked_seq\":%llu,\"unacked\":{\"count\":%llu,\"bytes\":%llu,"
               "\"oldest\":%s%s%s,\"first_seq\":%llu,\"last_seq\":%llu,\"age_s\":%lld},"
               "\"source\":[",
               (unsigned long long)acked, (unsigned long long)bl.count,
               (unsigned long long)bl.bytes, oldest[0] ? "\"" : "", oldest[0] ? oldest : "null",
               oldest[0] ? "\"" : "", (unsigned long long)bl.first, (unsigned long long)bl.last,
               bl.oldest ? (long long)(nv_now() - bl.oldest) : 0LL);
    else if (bl.count == 0)
        printf("hub acked:     seq %llu; nothing sent waits for its acknowledgement\n",
               (unsigned long long)acked);
    else
        printf("hub acked:     seq %llu; %llu bundle(s) not yet acknowledged (seq %llu-%llu, "
               "%llu bytes, oldest sealed %s, %lld s ago) kept in %s\n"
               "               if one was lost: nova-agent resend %s\n",
               (unsigned long long)acked, (unsigned long long)bl.count,
               (unsigned long long)bl.first, (unsigned long long)bl.last,
               (unsigned long long)bl.bytes, oldest, (long long)(nv_now() - bl.oldest),
               a.sent, dir);
    for (int i = 0; i < a.cfg.nsrc && r == 0; i++) {
        const struct nv_source *s = &a.cfg.src[i];
        struct nv_withheld w;
        if ((r = nv_scan_withheld(&a, s->name, &w)) < 0)
            break;
        if (json) {
            printf("%s{\"name\":\"%s\",\"mode\":\"%s\",\"snapshot\":\"%s\","
                   "\"snapshot_window\":%u,\"snapshot_parts\":%u,\"max_delete_share\":%g,"
                   "\"max_delete_count\":%llu,\"max_field_lines\":%u,\"withheld_deletes\":%llu",
                   i ? "," : "", s->name, s->mode == NV_MODE_FULL ? "full" : "delta",
                   s->snapshot == NV_SNAP_MULTI ? "multi" : "file", s->snapshot_window,
                   s->snapshot_parts, s->max_delete_share,
                   (unsigned long long)s->max_delete_count,
                   s->dialect.max_field_lines ? s->dialect.max_field_lines
                                              : NV_CSV_MAX_FIELD_LINES_DEFAULT,
                   (unsigned long long)w.count);
            if (w.count) {
                printf(",\"withheld_at\":\"%s\",\"withheld_reason\":", w.when);
                json_print_str(stdout, w.reason);
            }
            printf("}");
            continue;
        }
        printf("source %s: %s\n", s->name,
               s->mode == NV_MODE_DELTA ? "delta exports: upserts only, never a delete"
               : s->snapshot == NV_SNAP_MULTI ? "full snapshots of several files (snapshot = multi)"
                                              : "full snapshots, one file each");
        if (s->mode == NV_MODE_FULL) {
            printf("  snapshot:      ");
            if (s->snapshot == NV_SNAP_MULTI)
                printf("the files written within %u s of each other are one export run, read "
                       "together%s\n", s->snapshot_window,
                       s->snapshot_parts ? "; a run with fewer than snapshot_parts files "
                                           "withholds its deletes" : "");
            else
                printf("each file is the whole export\n");
            printf("  deletes guard: withheld when over %g%% of the known records",
                   100.0 * s->max_delete_share);
            if (s->max_delete_count)
                printf(" or over %llu records", (unsigned long long)s->max_delete_count);
            printf(", and whenever the export holds no record, has rejected rows or a "
                   "file of the source could not be read;\n"
                   "                 released only by 'nova-agent accept-deletes %s %s'\n",
                   dir, s->name);
            printf("  withheld:      ");
            if (w.count)
                printf("%llu deletes since %s: %s\n", (unsigned long long)w.count, w.when,
                       w.reason);
            else
                printf("none\n");
        }
        printf("  rows:          a quoted field may span %u lines (max_field_lines) and must "
               "not hold whole rows; a last line without a line end waits %u ms "
               "(incomplete_wait), then is rejected\n",
               s->dialect.max_field_lines ? s->dialect.max_field_lines
                                          : NV_CSV_MAX_FIELD_LINES_DEFAULT,
               a.cfg.incomplete_wait_ms);
    }
    if (json)
        printf("]}\n");
    nv_agent_close(&a);
    return r < 0 ? nv_cli_fail(r) : 0;
}

/* nova-agent resend DIR [--from SEQ]: the bundles the hub has not
 * acknowledged, copied from sent/ back into the outbox (the hub drops as a
 * duplicate one it had applied after all). */
static int
cmd_resend(int argc, char **argv)
{
    static const char need[] = "--from needs a sequence number";
    const char *dir = NULL, *v = NULL;
    uint64_t from = 0, n = 0, acked;
    struct nv_agent a;
    struct nv_sent_backlog bl;
    int r;

    if ((r = nv_cli_pos_opt(argc, argv, "--from", need, &v, &dir, 1)) != 0)
        return r;
    if (v != NULL && (nv_parse_u64(v, &from) < 0 || from == 0))
        return nv_cli_usage("%s", need);
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_agent_open(&a, dir, 1)) < 0)
        return nv_cli_fail(r);
    acked = nv_agent_acked(&a);
    if (from == 0)
        from = acked + 1;
    if ((r = nv_sent_backlog(a.sent, from > 0 ? from - 1 : 0, &bl)) == 0)
        r = nv_sent_resend(a.sent, a.cfg.outbox, from, &n);
    if (r == 0 && n > 0)
        r = nv_fsync_dir(a.cfg.outbox);
    nv_agent_close(&a);
    if (r < 0)
        return nv_cli_fail(r);
    if (bl.count == 0)
        printf("nothing to resend: the hub acknowledged up to seq %llu and sent/ keeps no "
               "bundle from seq %llu\n", (unsigned long long)acked, (unsigned long long)from);
    else
        printf("%llu bundle(s) copied back to the outbox (seq %llu-%llu; %llu already "
               "there); the hub acknowledged up to seq %llu and drops any it already "
               "applied as a duplicate\n", (unsigned long long)n,
               (unsigned long long)bl.first, (unsigned long long)bl.last,
               (unsigned long long)(bl.count - n), (unsigned long long)acked);
    return 0;
}

/* nova-agent prune DIR [--archive-days N]: the copies the hub acknowledged
 * leave sent/; with --archive-days, the applied hub bundles older than N
 * days leave archive/. */
static int
cmd_prune(int argc, char **argv)
{
    static const char need[] = "--archive-days needs a number of days";
    const char *dir = NULL, *v = NULL;
    uint64_t days = 0, n = 0, na = 0;
    int have_days, r;
    struct nv_agent a;

    if ((r = nv_cli_pos_opt(argc, argv, "--archive-days", need, &v, &dir, 1)) != 0)
        return r;
    if ((have_days = v != NULL) && nv_parse_u64(v, &days) < 0)
        return nv_cli_usage("%s", need);
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_agent_open(&a, dir, 0)) < 0)
        return nv_cli_fail(r);
    r = nv_agent_prune_sent(&a, &n);
    if (r == 0 && have_days) {
        char *ad = nv_path_join(dir, "archive");
        r = nv_prune_older(ad, nv_now() - (int64_t)days * 86400, &na);
        free(ad);
    }
    printf("sent/: %llu acknowledged bundle(s) removed (the hub acknowledged up to seq %llu)\n",
           (unsigned long long)n, (unsigned long long)nv_agent_acked(&a));
    if (have_days)
        printf("archive/: %llu applied hub bundle(s) older than %llu day(s) removed\n",
               (unsigned long long)na, (unsigned long long)days);
    nv_agent_close(&a);
    return r < 0 ? nv_cli_fail(r) : 0;
}

static int
cmd_metrics(int argc, char **argv)
{
    static const char need[] = "--textfile needs a path";
    const char *dir = NULL, *textfile = NULL;
    struct nv_agent a;
    int r;

    if ((r = nv_cli_pos_opt(argc, argv, "--textfile", need, &textfile, &dir, 1)) != 0)
        return r;
    if (textfile != NULL && *textfile == '\0')
        return nv_cli_usage("%s", need);
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_agent_open(&a, dir, 0)) < 0)
        return nv_cli_fail(r);
    r = nv_agent_metrics_write(&a, textfile);
    nv_agent_close(&a);
    return r < 0 ? nv_cli_fail(r) : 0;
}

static int
cmd_rotate(int argc, char **argv)
{
    int r;

    if (argc != 2 || argv[1][0] == '-')
        return nv_cli_usage("DIR is required");
    if ((r = nv_identity_rotate(argv[1])) < 0)
        return nv_cli_fail(r);
    printf("new keys in %s/keys; hand keys/identity.pub and keys/identity.pub.minisig to the hub (nova-hub enroll)\n",
           argv[1]);
    return 0;
}

static const struct nv_cmd cmds[] = {
    { "init", cmd_init, "init DIR --entity NAME",
      "create the agent's keys and directories in DIR" },
    { "trust", cmd_trust, "trust DIR HUB-IDENTITY.pub [--force]",
      "trust the hub's public identity (a rotated one must carry its .minisig)" },
    { "check", cmd_check, "check DIR",
      "validate DIR/agent.conf and say exactly what is wrong" },
    { "scan", cmd_scan, "scan DIR [--json]",
      "one pass: apply the inbox, turn new exports into bundles, exit (for cron)" },
    { "run", cmd_run, "run DIR [--rescan SECONDS] [--textfile PATH]",
      "watch the exports and the inbox with inotify until SIGTERM (SIGHUP reloads)" },
    { "seal", cmd_seal, "seal DIR [--cap SIZE] FILE.ndjson...",
      "seal ready-made change records (one JSON object per line) into the outbox" },
    { "push", nv_agent_cmd_push, "push DIR DEST",
      "move the outbox to DEST (a directory, a mounted USB key, or user@host:path over "
      "rsync/ssh): each bundle copied under a temporary name, checked, renamed, then removed "
      "here" },
    { "status", cmd_status, "status DIR [--json]",
      "identity, streams, records known, each source's guards and withheld deletes" },
    { "metrics", cmd_metrics, "metrics DIR [--textfile PATH]",
      "the agent's metrics in the Prometheus text format (--textfile: written atomically)" },
    { "accept-deletes", cmd_accept_deletes, "accept-deletes DIR [SOURCE]",
      "ship once the deletes the guard withheld (every source, or SOURCE)" },
    { "resend", cmd_resend, "resend DIR [--from SEQ]",
      "copy the bundles the hub has not acknowledged (sent/) back into the outbox" },
    { "prune", cmd_prune, "prune DIR [--archive-days N]",
      "remove what the hub acknowledged from sent/ (and applied hub bundles older than N days)" },
    { "migrate", nv_agent_cmd_migrate, "migrate DIR [--check]",
      "the state store's schema version; without --check, migrate it (any command that "
      "opens the agent does); a store of a newer version is refused (status 37)" },
    { "backup", nv_agent_cmd_backup, "backup DIR DEST",
      "a consistent copy of the agent (state, keys, configuration, unacknowledged bundles) in "
      "a new directory DEST/<entity>-<time>, with the SHA-256 of every file; works while "
      "nova-agent run does" },
    { "restore", nv_agent_cmd_restore, "restore BACKUP DIR",
      "check a backup against its SHA256SUMS and restore it into DIR (new or empty)" },
    { "rotate", cmd_rotate, "rotate DIR",
      "replace the agent's keys; the new identity is signed by the old key" },
    { NULL, NULL, NULL, NULL },
};

int
main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "nova-agent: error: cannot initialise libsodium\n");
        return 3;
    }
    umask(077);
    nv_log_init("nova-agent", NV_LOG_INFO);
    /* --config FILE, anywhere: every command reads FILE instead of
     * DIR/agent.conf (as NOVA_AGENT_CONFIG=FILE does) */
    for (int i = 1; i < argc; i++) {
        const char *v;
        int j = i;
        if (!nv_opt_val(argc, argv, &j, "--config", &v))
            continue;
        if (v == NULL || *v == '\0') {
            fprintf(stderr, "nova-agent: --config needs a file\n");
            return 2;
        }
        setenv("NOVA_AGENT_CONFIG", v, 1);
        memmove(argv + i, argv + j + 1, (size_t)(argc - j) * sizeof(*argv));
        argc -= j + 1 - i;
        i--;
    }
    return nv_cli_main("nova-agent",
                       "nova edge agent: ships CRM changes to the hub as signed, encrypted bundles\n"
                       "(--config FILE, or NOVA_AGENT_CONFIG=FILE: the configuration instead of DIR/agent.conf)",
                       cmds, argc, argv);
}
