#include <errno.h>
#include <limits.h>
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

#include "../formats/errors.h"
#include "../formats/log.h"
#include "inbox.h"
#include "scan.h"
#include "stats.h"
#include "watch.h"

struct w {
    int in;
    int wd[NV_MAX_SOURCES + 1];      /* sources, then the inbox */
    int pwd[NV_MAX_SOURCES];         /* parents of sources */
};

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
parent_of(const char *p)
{
    char *d = strdup(p), *s;
    if (d == NULL)
        abort();
    s = strrchr(d, '/');
    if (s == d)
        s[1] = '\0';
    else if (s != NULL)
        *s = '\0';
    else
        strcpy(d, ".");
    return d;
}

static void
add_watches(struct w *w, const struct nv_agent *a)
{
    const uint32_t files = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF |
                           IN_MOVE_SELF | IN_ONLYDIR;

    for (int i = 0; i < a->cfg.nsrc; i++) {
        if (w->wd[i] < 0) {
            w->wd[i] = inotify_add_watch(w->in, a->cfg.src[i].dir, files);
            if (w->wd[i] < 0)
                nv_warn("watch", "source %s: cannot watch '%s' (%s); waiting for it",
                        a->cfg.src[i].name, a->cfg.src[i].dir, strerror(errno));
        }
        if (w->pwd[i] < 0) {
            char *p = parent_of(a->cfg.src[i].dir);
            w->pwd[i] = inotify_add_watch(w->in, p, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
            free(p);
        }
    }
    if (w->wd[NV_MAX_SOURCES] < 0)
        w->wd[NV_MAX_SOURCES] = inotify_add_watch(w->in, a->cfg.inbox, files);
}

static void
reset_watches(struct w *w)
{
    if (w->in >= 0)
        close(w->in);
    w->in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    for (int i = 0; i <= NV_MAX_SOURCES; i++)
        w->wd[i] = -1;
    for (int i = 0; i < NV_MAX_SOURCES; i++)
        w->pwd[i] = -1;
}

static const char *textfile_opt; /* run --textfile, over metrics_textfile */

static int
pass(struct nv_agent *a, int *waiting)
{
    struct nv_inbox_stats is;
    struct nv_scan_stats ss;
    int64_t t0 = now_ms();
    int r = nv_inbox_process(a, &is), r2;
    const char *tf = textfile_opt ? textfile_opt : a->cfg.metrics_textfile;

    r2 = nv_scan(a, &ss);
    if (r2 == 0) {
        unsigned nc = 0;
        r2 = nv_inbox_confirm(a, &nc);
    }
    *waiting = (int)ss.waiting + (int)is.waiting;
    if (nv_agent_stats_note(a->dir, r2 < 0 ? NULL : &ss, &is,
                            (double)(now_ms() - t0) / 1000.0) < 0)
        nv_warn("watch", "cannot keep the pass's statistics: %s", nv_errmsg(-1));
    if (tf != NULL && nv_agent_metrics_write(a, tf) < 0)
        nv_warn("watch", "cannot write the metrics to '%s': %s", tf, nv_errmsg(-1));
    if (r2 < 0) {
        nv_err("watch", "scan failed: %s", nv_errmsg(r2));
        return r2;
    }
    if (ss.files || is.applied)
        nv_info("watch", "pass: %llu files, %llu upserts, %llu deletes, %llu rejects, %u bundles out, %u bundles in",
                (unsigned long long)ss.files, (unsigned long long)ss.upserts,
                (unsigned long long)ss.deletes, (unsigned long long)ss.rejects,
                ss.bundles, is.applied);
    return r < 0 && (r == NV_ESYS || r == NV_ENOSPC) ? r : 0;
}

int
nv_watch_run(const char *dir, unsigned rescan_s, const char *textfile)
{
    struct nv_agent a;
    struct w w;
    sigset_t mask;
    int sfd, r, stop = 0, waiting = 0;
    int64_t due = 0, next_rescan;
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

    textfile_opt = textfile;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
        return nv_fail_errno("signalfd");
    if ((r = nv_agent_open(&a, dir, 1)) < 0) {
        close(sfd);
        return r;
    }
    w.in = -1;
    reset_watches(&w);
    if (w.in < 0) {
        r = nv_fail_errno("inotify");
        goto out;
    }
    add_watches(&w, &a);
    nv_info("watch", "agent '%s' running: %d source(s)", a.cfg.entity, a.cfg.nsrc);
    sd_notify(0, "READY=1"); /* Type=notify: no-op outside systemd */
    due = now_ms(); /* pass at start */
    next_rescan = now_ms() + (int64_t)rescan_s * 1000;
    while (!stop) {
        struct pollfd pf[2] = { { w.in, POLLIN, 0 }, { sfd, POLLIN, 0 } };
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
                    struct nv_agent_config probe;
                    nv_info("watch", "SIGHUP: reloading the configuration");
                    sd_notify(0, "RELOADING=1");
                    /* check the new file first: a bad one keeps the old */
                    if ((r = nv_agent_config_load(&probe, dir)) < 0) {
                        nv_err("watch", "reload refused, keeping the old configuration: %s",
                               nv_errmsg(r));
                    } else {
                        nv_agent_config_release(&probe);
                        nv_agent_close(&a); /* LMDB: one env per process */
                        if ((r = nv_agent_open(&a, dir, 1)) < 0) {
                            nv_err("watch", "cannot restart after reload: %s",
                                   nv_errmsg(r));
                            sd_notify(0, "STOPPING=1");
                            goto out_closed;
                        }
                        reset_watches(&w);
                        add_watches(&w, &a);
                        due = now_ms();
                    }
                    r = 0;
                    sd_notify(0, "READY=1");
                } else {
                    nv_info("watch", "signal %u: stopping", si.ssi_signo);
                    stop = 1;
                    break;
                }
            }
        }
        if (pf[0].revents & POLLIN) {
            ssize_t n;
            while ((n = read(w.in, buf, sizeof(buf))) > 0) {
                for (char *p = buf; p < buf + n;) {
                    struct inotify_event *ev = (struct inotify_event *)p;
                    if (ev->mask & IN_Q_OVERFLOW)
                        nv_warn("watch", "inotify queue overflow: rescanning everything");
                    if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                        for (int i = 0; i <= NV_MAX_SOURCES; i++)
                            if (w.wd[i] == ev->wd) {
                                if (ev->mask & IN_MOVE_SELF)
                                    inotify_rm_watch(w.in, ev->wd);
                                w.wd[i] = -1;
                            }
                    }
                    p += sizeof(*ev) + ev->len;
                }
                /* any event: re-add lost watches, pass once files settle */
                add_watches(&w, &a);
                due = now_ms() + a.cfg.settle_ms + 50;
            }
        }
        t = now_ms();
        if ((due && t >= due) || t >= next_rescan) {
            due = 0;
            add_watches(&w, &a);
            r = pass(&a, &waiting);
            if (r < 0) {
                /* disk full or I/O error: keep running, retry later */
                nv_err("watch", "pass failed (%s); retrying in 10 s", nv_errmsg(r));
                due = now_ms() + 10000;
                r = 0;
            } else if (waiting) {
                due = now_ms() + a.cfg.settle_ms + 50;
            }
            next_rescan = now_ms() + (int64_t)rescan_s * 1000;
        }
    }
out:
    sd_notify(0, "STOPPING=1");
    nv_agent_close(&a);
out_closed:
    if (w.in >= 0)
        close(w.in);
    close(sfd);
    return r;
}
