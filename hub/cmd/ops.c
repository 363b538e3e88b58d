/*
 * cmd/ops.c - operating the hub: `metrics`, `expect`, `alerts`,
 * `dashboard` (arguments and printing; hub/ops computes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../../formats/cli.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
#include "cmds.h"
#include "../gdpr/gdpr.h"
#include "../intake/ingest.h"
#include "../ops/ops.h"

/* Open the hub at dir and compute its facts. */
static int
facts_of(const char *dir, json_t **facts)
{
    struct nv_hub h;
    int r;

    if ((r = nv_hub_open(&h, dir)) < 0)
        return r;
    r = nv_ops_facts(&h, dir, facts);
    nv_hub_close(&h);
    return r;
}

/* The metrics of facts to textfile, or stdout when NULL. */
static int
metrics_write(const json_t *facts, const char *textfile)
{
    struct nv_buf b = NV_BUF_INIT;
    int r;

    if ((r = nv_ops_metrics(facts, &b)) == 0) {
        if (textfile != NULL)
            r = nv_ops_textfile(textfile, &b);
        else if (fwrite(b.data, 1, b.len, stdout) != b.len)
            r = nv_fail_errno("cannot write");
    }
    nv_buf_release(&b);
    return r;
}

/* Compare what fires now with the last look (the alert hook runs for each
 * start and end); *changes as nv_ops_alerts_track gives them. */
static int
alerts_track(const char *dir, const json_t *facts, const json_t *alerts, json_t **changes)
{
    return nv_ops_alerts_track(
        dir, json_string_value(json_object_get(json_object_get(facts, "status"), "hub")),
        json_object_get(facts, "expect"), alerts, json_integer_value(json_object_get(facts, "now")),
        changes);
}

int
nv_hub_after_pass(const char *dir, const char *textfile)
{
    json_t *facts = NULL, *alerts;
    int r;

    if ((r = facts_of(dir, &facts)) < 0)
        return r;
    if (textfile != NULL && (r = metrics_write(facts, textfile)) < 0)
        nv_err("run", "cannot write the metrics to '%s': %s", textfile, nv_errmsg(r));
    if (json_array_size(json_object_get(json_object_get(facts, "expect"), "alert_hook")) > 0) {
        alerts = nv_ops_alerts(facts);
        if ((r = alerts_track(dir, facts, alerts, NULL)) < 0)
            nv_err("run", "cannot keep the alerts' state: %s", nv_errmsg(r));
        json_decref(alerts);
    }
    json_decref(facts);
    return 0;
}

int
nv_cmd_metrics(int argc, char **argv)
{
    static const char need[] = "--textfile needs a path (e.g. "
                               "/var/lib/prometheus/node-exporter/nova.prom)";
    const char *dir = NULL, *textfile = NULL;
    json_t *facts = NULL;
    int r;

    if ((r = nv_cli_pos_opt(argc, argv, "--textfile", need, &textfile, &dir, 1)) != 0)
        return r;
    if (textfile != NULL && *textfile == '\0')
        return nv_cli_usage("%s", need);
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = facts_of(dir, &facts)) == 0)
        r = metrics_write(facts, textfile);
    json_decref(facts);
    if (r < 0)
        return nv_cli_fail(r);
    return 0;
}

static void
print_expect(const json_t *doc)
{
    const char *ent;
    json_t *v;

    if (json_object_size(json_object_get(doc, "cadence")) == 0)
        printf("no cadence expected of any entity (nova-hub expect DIR ENTITY every 1h)\n");
    json_object_foreach(json_object_get(doc, "cadence"), ent, v)
        printf("expect %s every %lld s\n", ent, (long long)json_integer_value(v));
    printf("review_max_age %lld s\nreject_share %g\n",
           (long long)json_integer_value(json_object_get(doc, "review_max_age")),
           json_real_value(json_object_get(doc, "reject_share")));
    if (json_array_size(json_object_get(doc, "alert_hook")) > 0) {
        size_t i;
        json_t *w;
        printf("alert_hook");
        json_array_foreach(json_object_get(doc, "alert_hook"), i, w)
            printf(" %s", json_string_value(w));
        printf("\nalert_hook_timeout %lld s\n",
               (long long)json_integer_value(json_object_get(doc, "alert_hook_timeout")));
    }
    if (json_string_value(json_object_get(doc, "commit")))
        printf("(mapping repository commit %.12s)\n",
               json_string_value(json_object_get(doc, "commit")));
}

/* The first word of an alert hook's command (static storage). */
static const char *
hook_path(const char *cmd)
{
    static char p[1025];
    size_t l;

    while (*cmd == ' ' || *cmd == '\t')
        cmd++;
    l = strcspn(cmd, " \t");
    snprintf(p, sizeof(p), "%.*s", (int)(l < 1024 ? l : 1024), cmd);
    return p;
}

/* expect DIR [ENTITY every DURATION | ENTITY none] [--alert-hook CMD|none]
 * [--alert-hook-timeout S] [--author A] [--message M] */
int
nv_cmd_expect(int argc, char **argv)
{
    const char *pos[4] = { NULL, NULL, NULL, NULL }, *author = NULL, *message = NULL, *v;
    const char *aname, *aemail, *hook = NULL;
    char abuf[512], commit[41];
    struct nv_buf msg = NV_BUF_INIT;
    int np = 0, r;
    int64_t secs = 0;
    long htimeout = 0;
    struct nv_hub h;
    json_t *doc;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--author", &v)) {
            if ((author = v) == NULL)
                return nv_cli_usage("--author needs 'Name <email>'");
        } else if (nv_opt_val(argc, argv, &i, "--message", &v)) {
            if ((message = v) == NULL)
                return nv_cli_usage("--message needs a text");
        } else if (nv_opt_val(argc, argv, &i, "--alert-hook", &v)) {
            json_t *w;
            if ((hook = v) == NULL)
                return nv_cli_usage("--alert-hook needs '/PATH [ARG...]' (or none)");
            if (strcmp(hook, "none") != 0) {
                if ((w = nv_ops_hook_argv(hook)) == NULL)
                    return nv_cli_usage("%s", nv_errmsg(NV_EFORMAT));
                json_decref(w);
            }
        } else if (nv_opt_val(argc, argv, &i, "--alert-hook-timeout", &v)) {
            char *end;
            htimeout = v ? strtol(v, &end, 10) : 0;
            if (v == NULL || !(*end == '\0' || (end[0] == 's' && end[1] == '\0')) ||
                htimeout < 1 || htimeout > 3600)
                return nv_cli_usage("--alert-hook-timeout needs seconds (1 to 3600)");
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (np < 4) {
            pos[np++] = argv[i];
        } else {
            return nv_cli_usage("too many arguments");
        }
    }
    if (np == 0)
        return nv_cli_usage("DIR is required");
    if (np == 1 && hook == NULL && htimeout == 0) {
        if ((r = nv_hub_open(&h, pos[0])) < 0)
            return nv_cli_fail(r);
        r = nv_ops_expect_load(&h, &doc);
        nv_hub_close(&h);
        if (r < 0)
            return nv_cli_fail(r);
        print_expect(doc);
        json_decref(doc);
        return 0;
    }
    if (np > 1 && (hook != NULL || htimeout != 0))
        return nv_cli_usage("set a cadence or the alert hook, one at a time");
    if (np == 1 && hook == NULL)
        return nv_cli_usage("--alert-hook-timeout goes with --alert-hook CMD");
    if (np > 1) {
        if (!nv_name_valid(pos[1]))
            return nv_cli_usage("'%s' is not an entity name", pos[1]);
        if (np == 3 && strcmp(pos[2], "none") == 0)
            secs = 0;
        else if (np == 4 && strcmp(pos[2], "every") == 0) {
            if ((secs = nv_ops_duration(pos[3])) < 0)
                return nv_cli_usage("'%s' is not a duration from 60s to 90d (15m, 1h, 1d)",
                                    pos[3]);
        } else {
            return nv_cli_usage("expect DIR ENTITY every DURATION, or expect DIR ENTITY none");
        }
    }
    if (nv_hub_author(author, abuf, sizeof(abuf), &aname, &aemail) < 0)
        return nv_cli_usage("--author must be 'Name <email>'");
    if ((r = nv_hub_open(&h, pos[0])) < 0)
        return nv_cli_fail(r);
    if (np > 1 && secs > 0 && nv_keyring_active(&h.kr, pos[1]) == NULL) {
        nv_hub_close(&h);
        fprintf(stderr, "nova-hub: error: no enrolled agent is called '%s' (nova-hub keys "
                        "lists them)\n", pos[1]);
        return nv_exit_status(NV_EINVAL);
    }
    if (message != NULL)
        r = nv_buf_addf(&msg, "%s\n", message);
    else if (hook != NULL)
        r = nv_buf_addf(&msg, "expect: alert hook %s\n",
                        strcmp(hook, "none") == 0 ? "removed" : "set");
    else if (secs > 0)
        r = nv_buf_addf(&msg, "expect: %s every %s\n", pos[1], pos[3]);
    else
        r = nv_buf_addf(&msg, "expect: nothing of %s\n", pos[1]);
    if (r == 0 && hook != NULL)
        r = nv_ops_expect_set_hook(&h, strcmp(hook, "none") == 0 ? NULL : hook,
                                   (unsigned)htimeout, aname, aemail, (char *)msg.data, commit);
    else if (r == 0)
        r = nv_ops_expect_set(&h, pos[1], secs, aname, aemail, (char *)msg.data, commit);
    nv_hub_close(&h);
    nv_buf_release(&msg);
    if (r < 0)
        return nv_cli_fail(r);
    if (r == 1)
        printf("unchanged (commit %.12s)\n", commit);
    else if (hook != NULL && strcmp(hook, "none") == 0)
        printf("committed %.12s: no alert hook\n", commit);
    else if (hook != NULL)
        printf("committed %.12s: the alert hook runs when an alert starts and when it ends "
               "(nova-hub alerts, nova-hub run)%s\n", commit,
               access(hook_path(hook), X_OK) == 0 ? "" : "; warning: it is not an executable file here");
    else if (secs > 0)
        printf("committed %.12s: a bundle from %s is expected at least every %lld s; "
               "NovaFlowLate fires after twice that\n", commit, pos[1], (long long)secs);
    else
        printf("committed %.12s: nothing expected of %s\n", commit, pos[1]);
    return 0;
}

int
nv_cmd_alerts(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0, r;
    json_t *facts = NULL, *alerts, *x, *changes = NULL;
    size_t i, n;

    if ((r = nv_cli_args(argc, argv, "--json", &json, &dir, 1)) != 0)
        return r;
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = facts_of(dir, &facts)) < 0)
        return nv_cli_fail(r);
    alerts = nv_ops_alerts(facts);
    n = json_array_size(alerts);
    if ((r = alerts_track(dir, facts, alerts, &changes)) < 0) {
        json_decref(alerts);
        json_decref(facts);
        return nv_cli_fail(r);
    }
    if (json) {
        char *t = json_dumps(alerts, JSON_COMPACT);
        if (t != NULL)
            printf("%s\n", t);
        free(t);
    } else if (n == 0) {
        printf("no alert fires\n");
    } else {
        json_array_foreach(alerts, i, x) {
            const char *e = json_string_value(json_object_get(x, "entity"));
            const char *s = json_string_value(json_object_get(x, "since"));
            printf("%-8s %s%s%s: %s", json_string_value(json_object_get(x, "severity")),
                   json_string_value(json_object_get(x, "alert")), *e ? " " : "", e,
                   json_string_value(json_object_get(x, "summary")));
            if (*s)
                printf(" (since %s)", s);
            printf("\n         what to do: %s\n",
                   json_string_value(json_object_get(x, "action")));
        }
    }
    /* what started and ended since the last look */
    json_array_foreach(json ? NULL : changes, i, x) {
        const char *e = json_string_value(json_object_get(x, "entity"));
        printf("%-8s %s%s%s\n",
               strcmp(json_string_value(json_object_get(x, "state")), "firing") == 0 ? "started"
                                                                                     : "ended",
               json_string_value(json_object_get(x, "alert")), *e ? " " : "", e);
    }
    json_decref(changes);
    json_decref(alerts);
    json_decref(facts);
    return n == 0 ? 0 : 1;
}

int
nv_cmd_dashboard(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *v;
    json_t *facts = NULL, *alerts;
    char what[512];
    struct nv_atomic a;
    FILE *f;
    size_t n;
    int r, fd;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--out", &v)) {
            if ((out = v) == NULL || *v == '\0')
                return nv_cli_usage("--out needs a file (FILE.html)");
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            return nv_cli_usage("too many arguments");
        }
    }
    if (dir == NULL || out == NULL)
        return nv_cli_usage("DIR and --out FILE.html are required");
    /* aggregates only, but what the hub shows is logged all the same */
    snprintf(what, sizeof(what), "dashboard %.400s", out);
    if ((r = nv_access_log(dir, what, "operations dashboard (aggregates only)")) < 0)
        return nv_cli_fail(r);
    if ((r = facts_of(dir, &facts)) < 0)
        return nv_cli_fail(r);
    alerts = nv_ops_alerts(facts);
    if ((r = nv_atomic_open(&a, out, 0644)) == 0) {
        if ((fd = dup(a.fd)) < 0 || (f = fdopen(fd, "w")) == NULL) {
            r = nv_fail_errno("cannot write '%s'", out);
            nv_atomic_abort(&a);
        } else {
            r = nv_ops_dashboard(facts, alerts, f);
            if (fclose(f) != 0 && r == 0)
                r = nv_fail_errno("cannot write '%s'", out);
            if (r == 0)
                r = nv_atomic_commit(&a, 0);
            else
                nv_atomic_abort(&a);
        }
    }
    n = json_array_size(alerts);
    json_decref(alerts);
    json_decref(facts);
    if (r < 0)
        return nv_cli_fail(r);
    printf("dashboard written to %s (%zu alert(s) firing)\n", out, n);
    return 0;
}
