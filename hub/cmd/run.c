/*
 * run.c - `nova-hub run DIR`: the hub's unattended intake.
 *
 * inotify watches DIR/inbox (close-after-write, moved-in).  A pass (open
 * the hub, ingest the inbox in stream order, close) runs at start, after
 * events once files have settled, after an inotify queue overflow, while
 * bundles wait for a missing one (every rescan interval), and every rescan
 * interval as a safety net.  The hub is locked only during a pass, so other
 * nova-hub commands (status, mapping, export...) run between passes.
 * SIGTERM and SIGINT stop after the current pass.  SIGHUP (systemctl
 * reload) has no configuration to reload: it reads the inbox at once.
 * Under systemd (Type=notify) it says READY=1 once the inbox is watched and
 * STOPPING=1 when it leaves.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "../../formats/cli.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../../formats/spool.h"
#include "../../formats/util.h"
#include "cmds.h"
#include "../intake/ingest.h"
#include "../ops/ops.h"

#define SETTLE_MS 200

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct pass_stats {
    unsigned applied, waiting, quarantined, failed, arriving;
    int hook; /* an alert hook is set (the expect file) */
};

static void
log_result(void *ctx, const char *name, const struct nv_ingest_result *res)
{
    struct pass_stats *ps = ctx;

    switch (res->outcome) {
    case NV_APPLIED:
        ps->applied++;
        nv_info("run", "applied %s->%s seq %llu: %llu upserts, %llu deletes, %llu acks, "
                "%llu rejected", res->m.sender, res->m.recipient,
                (unsigned long long)res->m.seq, (unsigned long long)res->applied.upserts,
                (unsigned long long)res->applied.deletes,
                (unsigned long long)res->applied.acks,
                (unsigned long long)res->applied.rejected);
        break;
    case NV_DUPLICATE:
        ps->applied++;
        break;
    case NV_WAITING:
        ps->waiting++;
        nv_warn("run", "%s waits: %s", name, res->reason);
        break;
    case NV_ARRIVING:
        ps->arriving++;
        nv_info("run", "%s: %s", name, res->reason);
        break;
    case NV_QUARANTINED:
        ps->quarantined++;
        nv_err("run", "quarantined %s: %s", name, res->reason);
        break;
    default:
        ps->failed++;
        nv_err("run", "%s not applied, will retry: %s", name, res->reason);
        break;
    }
}

/* 0, or a code when the pass could not run (the hub is busy or broken). */
static int
pass(const char *dir, uint64_t max, long settle, struct pass_stats *ps)
{
    struct nv_hub h;
    int r;
    int64_t t0 = now_ms();

    memset(ps, 0, sizeof(*ps));
    if ((r = nv_hub_open(&h, dir)) < 0)
        return r;
    h.max_payload = max;
    if (settle >= 0)
        h.settle_ms = (unsigned)settle * 1000;
    (void)nv_hub_ingest_inbox(&h, log_result, ps);
    if ((r = nv_hub_after_ingest(&h)) < 0)
        nv_err("run", "GDPR requests not advanced: %s", nv_errmsg(r));
    {
        json_t *ex = NULL;
        int er = nv_ops_expect_load(&h, &ex);
        if (er == 0)
            ps->hook = json_array_size(json_object_get(ex, "alert_hook")) > 0;
        else
            nv_warn("run", "cannot read the expect file: %s", nv_errmsg(er));
        json_decref(ex);
    }
    nv_hub_close(&h);
    if (nv_ops_note_pass(dir, nv_now(), (double)(now_ms() - t0) / 1000.0, ps->applied,
                         ps->quarantined) < 0)
        nv_warn("run", "cannot note the pass: %s", nv_errmsg(-1));
    return 0;
}

/* nova-hub run's options. */
struct run_opts {
    const char *dir, *textfile;
    uint64_t max;
    unsigned rescan_s;
    long settle;
};

/* Parse run's arguments into o: 0, or the usage exit status. */
static int
run_args(int argc, char **argv, struct run_opts *o)
{
    const char *v;

    memset(o, 0, sizeof(*o));
    o->rescan_s = 300;
    o->settle = -1;
    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--rescan", &v)) {
            char *end;
            unsigned long s = v ? strtoul(v, &end, 10) : 0;
            if (v == NULL || *end != '\0' || s == 0 || s > 86400)
                return nv_cli_usage("--rescan needs seconds (1 to 86400)");
            o->rescan_s = (unsigned)s;
        } else if (nv_opt_val(argc, argv, &i, "--max-size", &v)) {
            if (v == NULL || nv_parse_size(v, &o->max) < 0)
                return nv_cli_usage("--max-size needs a size (e.g. 512M)");
        } else if (nv_opt_val(argc, argv, &i, "--settle", &v)) {
            char *end;
            long n = v ? strtol(v, &end, 10) : -1;
            if (v == NULL || *end != '\0' || n < 0 || n > 86400)
                return nv_cli_usage("--settle needs seconds (0 to 86400)");
            o->settle = n;
        } else if (nv_opt_val(argc, argv, &i, "--textfile", &v)) {
            if (v == NULL || *v == '\0')
                return nv_cli_usage("--textfile needs a path");
            o->textfile = v;
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (o->dir == NULL) {
            o->dir = argv[i];
        } else {
            return nv_cli_usage("too many arguments");
        }
    }
    if (o->dir == NULL)
        return nv_cli_usage("DIR is required");
    return 0;
}

int
nv_cmd_run(int argc, char **argv)
{
    const char *dir, *textfile;
    uint64_t max;
    unsigned rescan_s;
    long settle;
    struct run_opts o;
    sigset_t mask;
    int sfd, in, wd, r = 0, stop = 0;
    int64_t due, next_rescan;
    char *inbox;
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

    if ((r = run_args(argc, argv, &o)) != 0)
        return r;
    dir = o.dir, max = o.max, rescan_s = o.rescan_s, settle = o.settle, textfile = o.textfile;
    {
        /* refuse at once what cannot work: no hub, no keys */
        struct nv_hub h;
        if ((r = nv_hub_open(&h, dir)) < 0)
            return nv_cli_fail(r);
        nv_info("run", "hub '%s' running: watching '%s/inbox', rescan every %u s",
                h.self.pub.entity, dir, rescan_s);
        nv_hub_close(&h);
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
        return nv_cli_fail(nv_fail_errno("signalfd"));
    if ((in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
        close(sfd);
        return nv_cli_fail(nv_fail_errno("inotify"));
    }
    inbox = nv_path_join(dir, "inbox");
    wd = inotify_add_watch(in, inbox, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
    if (wd < 0) {
        r = nv_fail_errno("cannot watch '%s'", inbox);
        goto out;
    }
    due = now_ms();
    next_rescan = due + (int64_t)rescan_s * 1000;
    sd_notify(0, "READY=1"); /* no-op outside systemd */
    while (!stop) {
        struct pollfd pf[2] = { { in, POLLIN, 0 }, { sfd, POLLIN, 0 } };
        int64_t t = now_ms(), wake = next_rescan;
        int timeout;

        if (due && due < wake)
            wake = due;
        timeout = wake <= t ? 0 : (int)(wake - t > 60000 ? 60000 : wake - t);
        if (poll(pf, 2, timeout) < 0 && errno != EINTR) {
            r = nv_fail_errno("poll");
            break;
        }
        if (pf[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    nv_info("run", "SIGHUP: nothing to reload; reading the inbox now");
                    due = now_ms();
                } else {
                    nv_info("run", "signal %u: stopping", si.ssi_signo);
                    stop = 1;
                    break;
                }
            }
        }
        if (pf[0].revents & POLLIN) {
            ssize_t n;
            while ((n = read(in, buf, sizeof(buf))) > 0) {
                for (char *p = buf; p < buf + n;) {
                    struct inotify_event *ev = (struct inotify_event *)p;
                    if (ev->mask & IN_Q_OVERFLOW)
                        nv_warn("run", "inotify queue overflow: reading the whole inbox");
                    if (ev->mask & IN_IGNORED) {
                        r = nv_fail(NV_ENOTFOUND, "'%s' went away", inbox);
                        stop = 1;
                    }
                    p += sizeof(*ev) + ev->len;
                }
                due = now_ms() + SETTLE_MS;
            }
        }
        t = now_ms();
        if (!stop && ((due && t >= due) || t >= next_rescan)) {
            struct pass_stats ps;
            int pr = pass(dir, max, settle, &ps);
            due = 0;
            /* the metrics after every pass (node_exporter's textfile),
             * and the alert hook's look */
            if (pr == 0 && (textfile != NULL || ps.hook) &&
                (pr = nv_hub_after_pass(dir, textfile)) < 0) {
                nv_err("run", "no metrics or alerts after the pass: %s", nv_errmsg(pr));
                pr = 0;
            }
            if (pr < 0) {
                nv_err("run", "pass failed (%s); retrying in 10 s", nv_errmsg(pr));
                due = now_ms() + 10000;
            } else if (ps.failed > 0) {
                due = now_ms() + 10000; /* disk full, I/O: try again */
            } else if (ps.arriving > 0) {
                /* a copy still running: look again once it may have settled
                 * (its next writes wake us sooner) */
                due = now_ms() + (settle >= 0 ? settle * 1000 : nv_spool_settle_ms()) + 500;
            } else if (ps.applied + ps.quarantined > 0 || ps.waiting > 0) {
                if (ps.applied + ps.quarantined > 0)
                    nv_info("run", "pass: %u applied, %u quarantined, %u waiting for a "
                            "missing bundle", ps.applied, ps.quarantined, ps.waiting);
            }
            next_rescan = now_ms() + (int64_t)rescan_s * 1000;
        }
    }
out:
    sd_notify(0, "STOPPING=1");
    free(inbox);
    close(in);
    close(sfd);
    return r < 0 ? nv_cli_fail(r) : 0;
}
