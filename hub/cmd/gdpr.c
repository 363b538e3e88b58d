/*
 * gdpr.c - `nova-hub gdpr` and `nova-hub accesslog`: arguments and printing
 * around the register (hub/gdpr/gdpr.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lmdb.h>

#include "../../formats/cli.h"
#include "../../formats/progress.h"
#include "../../formats/contact.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/util.h"
#include "../gdpr/gdpr.h"
#include "../link/link.h"
#include "../intake/ingest.h"
#include "cmds.h"

static int
print_req(json_t *req, int json)
{
    json_t *ents, *ent, *evs, *ev;
    const char *e;
    size_t i;

    if (json) {
        char *t = json_dumps(req, JSON_COMPACT);
        printf("%s\n", t ? t : "{}");
        free(t);
        return 0;
    }
    printf("request %s: %s, %s\n", json_string_value(json_object_get(req, "id")),
           json_string_value(json_object_get(req, "kind")),
           json_string_value(json_object_get(req, "status")));
    printf("  subject   by %s (keyed hash %.16s...)\n",
           json_string_value(json_object_get(json_object_get(req, "subject"), "by")),
           json_string_value(json_object_get(json_object_get(req, "subject"), "hash")));
    printf("  received  %s\n  target    %s\n  deadline  %s%s\n",
           json_string_value(json_object_get(req, "received")),
           json_string_value(json_object_get(req, "target")),
           json_string_value(json_object_get(req, "deadline")),
           json_is_object(json_object_get(req, "extended")) ? " (extended)" : "");
    if (json_array_size(json_object_get(req, "rcus")) > 0)
        printf("  rcu       %s\n",
               json_string_value(json_array_get(json_object_get(req, "rcus"), 0)));
    if (json_is_string(json_object_get(req, "ref")))
        printf("  reference %s\n", json_string_value(json_object_get(req, "ref")));
    ents = json_object_get(req, "entities");
    json_object_foreach(ents, e, ent) {
        const char *st = json_string_value(json_object_get(ent, "status")) ?: "";
        const char *o;
        json_t *nv;
        int first = 1;
        printf("  entity    %-12s %-12s records %lld", e, st,
               (long long)json_integer_value(json_object_get(ent, "records")));
        json_object_foreach(json_object_get(ent, "counts"), o, nv) {
            printf("%s%lld %s", first ? ": " : ", ", (long long)json_integer_value(nv), o);
            first = 0;
        }
        printf("\n");
        if (strcmp(st, "nothing-sent") == 0)
            printf("              nothing sent: %s; the request cannot complete on this "
                   "entity (act there, then gdpr close with the reason)\n",
                   json_string_value(json_object_get(ent, "why")) ?: "no record went out");
        else if (strcmp(st, "handed-off") == 0)
            printf("              handed to the CRM team: erased once its next full export "
                   "no longer holds the records\n");
        json_array_foreach(json_object_get(ent, "reasons"), i, ev)
            printf("              %s\n", json_string_value(ev));
    }
    if (json_is_object(json_object_get(req, "closed")))
        printf("  closed    %s: %s\n",
               json_string_value(json_object_get(json_object_get(req, "closed"), "at")),
               json_string_value(json_object_get(json_object_get(req, "closed"), "reason")));
    if (json_array_size(json_object_get(req, "recipients")) > 0) {
        printf("  recipients (Art. 19):");
        json_array_foreach(json_object_get(req, "recipients"), i, ev)
            printf(" %s", json_string_value(ev));
        printf("\n");
    }
    printf("  timeline\n");
    evs = json_object_get(req, "events");
    json_array_foreach(evs, i, ev)
        printf("    %s  %s\n", json_string_value(json_object_get(ev, "at")),
               json_string_value(json_object_get(ev, "event")));
    return 0;
}

static int
subject_arg(int argc, char **argv, int *i, const char **by, const char **value)
{
    static const char *opts[] = { "--email", "--phone", "--rcu", "--record" };
    const char *v;

    for (int k = 0; k < 4; k++)
        if (nv_opt_val(argc, argv, i, opts[k], &v)) {
            if (v == NULL)
                return nv_cli_usage("%s needs a value", opts[k]);
            *by = opts[k] + 2;
            *value = v;
            return 1;
        }
    return 0;
}

/* To stderr: request id matches several people; their RCUs and records
 * per entity, and how to choose one. */
static void
print_candidates(struct nv_hub *h, const char *dir, const char *id)
{
    MDB_txn *txn;
    json_t *req = NULL;
    size_t i;
    json_t *c;

    if (mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn) != 0)
        return;
    if (nv_gdpr_req_get(txn, h->gdpr, id, &req) == 0) {
        fprintf(stderr, "nova-hub: %s: the subject matches %zu people; choose "
                "one with: nova-hub gdpr choose %s %s RCU\n", id,
                json_array_size(json_object_get(req, "candidates")), dir, id);
        json_array_foreach(json_object_get(req, "candidates"), i, c) {
            char *t = json_dumps(json_object_get(c, "records"), JSON_COMPACT);
            fprintf(stderr, "  %s  records %s\n",
                    json_string_value(json_object_get(c, "rcu")), t ? t : "");
            free(t);
        }
        json_decref(req);
    }
    mdb_txn_abort(txn);
}

/* The stored request id, as JSON. */
static void
print_req_id(struct nv_hub *h, const char *id)
{
    MDB_txn *txn;
    json_t *req = NULL;

    if (mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn) != 0)
        return;
    if (nv_gdpr_req_get(txn, h->gdpr, id, &req) == 0)
        print_req(req, 1);
    json_decref(req);
    mdb_txn_abort(txn);
}

/* gdpr request: over 120 lines for its options alone (one branch each,
 * each with its own usage message); the work is nv_gdpr_create and
 * nv_gdpr_create_many. */
static int
cmd_request(int argc, char **argv)
{
    const char *dir = NULL, *kind = NULL, *by = NULL, *value = NULL, *received = NULL,
               *out_file = NULL, *from = NULL, *ref = NULL, *format = NULL, *v;
    unsigned target = NV_GDPR_TARGET_DAYS;
    json_t *sets = json_object();
    struct nv_hub h;
    char id[16];
    int json = 0, r, s;

    for (int i = 2; i < argc; i++) {
        if ((s = subject_arg(argc, argv, &i, &by, &value)) != 0) {
            if (s != 1) {
                json_decref(sets);
                return s;
            }
        } else if (nv_opt_flag(argv, i, "--json")) {
            json = 1;
        } else if (nv_opt_val(argc, argv, &i, "--target-days", &v)) {
            char *end;
            unsigned long d = v ? strtoul(v, &end, 10) : 0;
            if (v == NULL || *end || d == 0 || d > 90) {
                json_decref(sets);
                return nv_cli_usage("--target-days needs 1 to 90");
            }
            target = (unsigned)d;
        } else if (nv_opt_val(argc, argv, &i, "--received", &received)) {
        } else if (nv_opt_val(argc, argv, &i, "--out", &out_file)) {
        } else if (nv_opt_val(argc, argv, &i, "--format", &format)) {
            if (format == NULL || (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)) {
                json_decref(sets);
                return nv_cli_usage("--format must be json or csv");
            }
        } else if (nv_opt_val(argc, argv, &i, "--from", &from)) {
        } else if (nv_opt_val(argc, argv, &i, "--ref", &ref)) {
            if (ref == NULL || *ref == '\0' || strlen(ref) > 120) {
                json_decref(sets);
                return nv_cli_usage("--ref needs the external reference (a ticket number, "
                                    "at most 120 bytes)");
            }
        } else if (nv_opt_val(argc, argv, &i, "--set", &v)) {
            const char *eq = v ? strchr(v, '=') : NULL;
            char f[64];
            if (eq == NULL || eq == v || (size_t)(eq - v) >= sizeof(f)) {
                json_decref(sets);
                return nv_cli_usage("--set needs FIELD=VALUE");
            }
            snprintf(f, sizeof(f), "%.*s", (int)(eq - v), v);
            if (nv_field_lookup(f) < 0) {
                json_decref(sets);
                return nv_cli_usage("unknown common field '%s'", f);
            }
            json_object_set_new(sets, f, json_string(eq + 1));
        } else if (argv[i][0] == '-') {
            json_decref(sets);
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (dir == NULL) {
            dir = argv[i];
        } else if (kind == NULL) {
            kind = argv[i];
        } else {
            json_decref(sets);
            return nv_cli_usage("too many arguments");
        }
    }
    if (dir == NULL || kind == NULL || !nv_gdpr_valid_kind(kind)) {
        json_decref(sets);
        return nv_cli_usage("gdpr request DIR erase|access|portability|rectify|restrict|object "
                            "--email X|--phone X|--rcu R|--record ENTITY:KEY");
    }
    if (format != NULL && strcmp(kind, "portability") != 0) {
        json_decref(sets);
        return nv_cli_usage("--format is for portability (json or csv)");
    }
    if (from != NULL && (strcmp(kind, "portability") == 0 || strcmp(kind, "access") == 0)) {
        json_decref(sets);
        return nv_cli_usage("%s produces one person's document: give one subject, not --from",
                            kind);
    }
    if ((by == NULL) == (from == NULL)) {
        json_decref(sets);
        return nv_cli_usage("give the subject (--email, --phone, --rcu or --record) or "
                            "--from FILE (one subject per line, like email:a@b.fr)");
    }
    if (strcmp(kind, "rectify") == 0 && json_object_size(sets) == 0) {
        json_decref(sets);
        return nv_cli_usage("rectify needs at least one --set FIELD=VALUE");
    }
    if ((r = nv_hub_open(&h, dir)) < 0) {
        json_decref(sets);
        return nv_cli_fail(r);
    }
    if (strcmp(kind, "access") == 0 || strcmp(kind, "portability") == 0)
        if ((r = nv_access_log(dir, kind[0] == 'a' ? "gdpr access request"
                                                   : "gdpr portability request",
                               kind[0] == 'a' ? "data-subject access request"
                                              : "data-subject portability request")) < 0) {
            nv_hub_close(&h);
            json_decref(sets);
            return nv_cli_fail(r);
        }
    if (from == NULL) {
        r = nv_gdpr_create(&h, kind, by, value, target, received, out_file, format, sets, json,
                           0, ref, NULL, id, NULL);
        if (r == NV_EEXIST)
            print_candidates(&h, dir, id);
        else if (r == 0 && json)
            print_req_id(&h, id);
    } else {
        /* many subjects: every request registered, then one bundle of
         * orders per entity */
        size_t n = 0, bad = 0, i;
        json_t *lines = json_array(), *l;
        nv_progress_begin("gdpr intake", "lines");
        r = nv_gdpr_create_many(&h, kind, from, target, received, sets, ref, lines, &n, &bad);
        nv_progress_end(json_array_size(lines), "%zu %s request(s) registered, %zu line(s) "
                        "skipped", n, kind, bad);
        /* one line per input line, with its request id */
        json_array_foreach(lines, i, l) {
            long long no = (long long)json_integer_value(json_object_get(l, "line"));
            if (json) {
                char *t = json_dumps(l, JSON_COMPACT);
                printf("%s\n", t ? t : "{}");
                free(t);
            } else if (json_is_string(json_object_get(l, "skipped"))) {
                printf("line %lld: skipped: %s\n", no,
                       json_string_value(json_object_get(l, "skipped")));
            } else {
                printf("line %lld: %s (%s%s)\n", no,
                       json_string_value(json_object_get(l, "id")),
                       json_string_value(json_object_get(l, "status")),
                       json_is_true(json_object_get(l, "merged"))
                           ? ", the same person as an earlier line: merged" : "");
            }
        }
        json_decref(lines);
        if (r == 0 && !json)
            printf("%zu %s request(s) registered%s; %zu line(s) skipped\n", n, kind,
                   strcmp(kind, "erase") == 0 ? ", orders in the outboxes" : "", bad);
    }
    nv_hub_close(&h);
    json_decref(sets);
    if (r == NV_EEXIST)
        return nv_exit_status(r);
    return r < 0 ? nv_cli_fail(r) : 0;
}

/* Past a date field of req (its day included) while the request is
 * still open or waiting for a choice. */
static int
past(json_t *req, const char *field, int64_t now)
{
    const char *d = json_string_value(json_object_get(req, field));
    const char *st = json_string_value(json_object_get(req, "status")) ?: "";
    int64_t t = d ? nv_gdpr_parse_day(d) : -1;

    return (strcmp(st, "open") == 0 || strcmp(st, "ambiguous") == 0) && t >= 0 &&
           now >= t + 86400;
}

static int
overdue(json_t *req, int64_t now)
{
    return past(req, "deadline", now);
}

/* past the group's internal target (10 days unless --target-days) */
static int
late(json_t *req, int64_t now)
{
    return past(req, "target", now);
}

/* Whether gdpr list shows req: with only_open, an open or ambiguous one;
 * with only_late, one past its target; with only_overdue, one past its
 * legal deadline. */
static int
listed(json_t *req, int only_open, int only_late, int only_overdue)
{
    const char *st = json_string_value(json_object_get(req, "status")) ?: "";

    return !((only_open && strcmp(st, "open") != 0 && strcmp(st, "ambiguous") != 0) ||
             (only_late && !late(req, nv_now())) ||
             (only_overdue && !overdue(req, nv_now())));
}

/* One request of gdpr list, without its events and record keys: a JSON
 * line, or a row of the table. */
static void
print_req_row(json_t *req, int json)
{
    const char *st = json_string_value(json_object_get(req, "status")) ?: "";
    const char *e;
    json_t *ent;

    json_object_del(req, "events");
    json_object_foreach(json_object_get(req, "entities"), e, ent)
        json_object_del(ent, "keys");
    if (json) {
        char *t = json_dumps(req, JSON_COMPACT);
        printf("%s\n", t ? t : "{}");
        free(t);
    } else {
        char rec[12];
        snprintf(rec, sizeof(rec), "%.10s", json_string_value(json_object_get(req, "received")));
        printf("%-11s %-11s %-10s %-11s %-11s %-11s", json_string_value(json_object_get(req, "id")),
               json_string_value(json_object_get(req, "kind")),
               overdue(req, nv_now()) ? "OVERDUE" : late(req, nv_now()) ? "LATE" : st, rec,
               json_string_value(json_object_get(req, "target")),
               json_string_value(json_object_get(req, "deadline")));
        json_object_foreach(json_object_get(req, "entities"), e, ent)
            printf(" %s:%s", e, json_string_value(json_object_get(ent, "status")));
        if (json_is_string(json_object_get(req, "ref")))
            printf(" ref:%s", json_string_value(json_object_get(req, "ref")));
        printf("\n");
    }
}

static int
cmd_list(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0, only_open = 0, only_late = 0, only_overdue = 0, r, rc;
    struct nv_hub h;
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    unsigned n = 0;

    for (int i = 2; i < argc; i++) {
        if (nv_opt_flag(argv, i, "--json"))
            json = 1;
        else if (nv_opt_flag(argv, i, "--open"))
            only_open = 1;
        else if (nv_opt_flag(argv, i, "--overdue"))
            only_overdue = 1;
        else if (nv_opt_flag(argv, i, "--late"))
            only_late = 1;
        else if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else if (dir == NULL)
            dir = argv[i];
        else
            return nv_cli_usage("too many arguments");
    }
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    if ((rc = mdb_txn_begin(h.store.env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (rc = mdb_cursor_open(txn, h.gdpr->req, &c)) != 0) {
        nv_hub_close(&h);
        return nv_cli_fail(nv_hmdb_fail(rc, "cannot read the register"));
    }
    if (!json)
        printf("%-11s %-11s %-10s %-11s %-11s %-11s %s\n", "id", "kind", "status", "received",
               "target", "deadline", "entities");
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        json_t *req;
        if (k.mv_size == 0 || ((char *)k.mv_data)[0] == '#')
            continue;
        if ((req = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
            continue;
        if (listed(req, only_open, only_late, only_overdue)) {
            print_req_row(req, json);
            n++;
        }
        json_decref(req);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    nv_hub_close(&h);
    if (!json)
        printf("%u request(s)\n", n);
    return 0;
}

/* gdpr show: request id as stored, its record keys counted, not listed. */
static int
show_req(struct nv_hub *h, const char *id, int json)
{
    MDB_txn *txn;
    json_t *req = NULL, *ent;
    const char *e;
    int r, rc;

    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    if ((r = nv_gdpr_req_get(txn, h->gdpr, id, &req)) == 0) {
        json_object_foreach(json_object_get(req, "entities"), e, ent)
            json_object_set_new(ent, "keys",
                                json_integer((json_int_t)json_array_size(json_object_get(ent, "keys"))));
        print_req(req, json);
    }
    mdb_txn_abort(txn);
    json_decref(req);
    return r;
}

static int
cmd_one(int argc, char **argv)
{
    const char *action = argv[1], *dir = NULL, *id = NULL, *arg = NULL, *reason = NULL,
               *told = NULL, *entity = NULL, *out_file = NULL, *format = NULL, *v;
    int json = 0, r, months = 0;
    struct nv_hub h;

    for (int i = 2; i < argc; i++) {
        if (nv_opt_flag(argv, i, "--json")) {
            json = 1;
        } else if (nv_opt_val(argc, argv, &i, "--reason", &reason)) {
        } else if (nv_opt_val(argc, argv, &i, "--told", &told)) {
        } else if (nv_opt_val(argc, argv, &i, "--entity", &entity)) {
            if (entity == NULL)
                return nv_cli_usage("--entity needs a name");
        } else if (nv_opt_val(argc, argv, &i, "--months", &v)) {
            months = v ? atoi(v) : 0;
        } else if (strcmp(action, "deliver") == 0 &&
                   nv_opt_val(argc, argv, &i, "--out", &out_file)) {
            if (out_file == NULL)
                return nv_cli_usage("--out needs a file");
        } else if (strcmp(action, "deliver") == 0 &&
                   nv_opt_val(argc, argv, &i, "--format", &format)) {
            if (format == NULL || (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0))
                return nv_cli_usage("--format must be json or csv");
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (dir == NULL) {
            dir = argv[i];
        } else if (id == NULL) {
            id = argv[i];
        } else if (arg == NULL) {
            arg = argv[i];
        } else {
            return nv_cli_usage("too many arguments");
        }
    }
    if (dir == NULL || id == NULL)
        return nv_cli_usage("gdpr %s DIR ID%s", action,
                            strcmp(action, "choose") == 0 ? " RCU" : "");
    if (strcmp(action, "extend") == 0 &&
        (months < 1 || months > 2 || reason == NULL || told == NULL || nv_gdpr_parse_day(told) < 0))
        return nv_cli_usage("gdpr extend DIR ID --months 1|2 --reason TEXT --told YYYY-MM-DD "
                            "(the date the person was told)");
    if (strcmp(action, "choose") == 0 && (arg == NULL || strlen(arg) != NV_RCU_LEN))
        return nv_cli_usage("gdpr choose DIR ID RCU (one of the candidates gdpr show lists)");
    if (strcmp(action, "close") == 0 && (reason == NULL || *reason == '\0'))
        return nv_cli_usage("gdpr close DIR ID --reason TEXT (recorded in the register)");
    if (strcmp(action, "deliver") == 0 &&
        (r = nv_access_log(dir, "gdpr portability delivery", "data-subject portability request")) < 0)
        return nv_cli_fail(r);
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    if (strcmp(action, "show") == 0) {
        r = show_req(&h, id, json);
    } else if (strcmp(action, "deliver") == 0) {
        r = nv_gdpr_deliver(&h, id, out_file, format);
        if (r == 0)
            fprintf(stderr, "nova-hub: %s: portability export delivered (complete)\n", id);
    } else if (strcmp(action, "retry") == 0) {
        size_t n = 0;
        r = nv_gdpr_retry(&h, id, entity, &n);
        if (r == 0)
            printf("%s: failed orders sent again to %zu entit%s\n", id, n, n == 1 ? "y" : "ies");
    } else if (strcmp(action, "close") == 0) {
        r = nv_gdpr_close(&h, id, reason);
        if (r == 0)
            printf("%s: closed (%s)\n", id, reason);
    } else {
        r = nv_gdpr_amend(&h, id, strcmp(action, "choose") == 0 ? arg : NULL, months, reason,
                          told);
        if (r == 0)
            printf("%s: %s\n", id, strcmp(action, "extend") == 0 ? "deadline extended"
                                                                 : "subject chosen");
    }
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}

int
nv_cmd_gdpr(int argc, char **argv)
{
    if (argc < 2)
        return nv_cli_usage("gdpr request|list|show|extend|choose|retry|close|deliver DIR ...");
    if (strcmp(argv[1], "request") == 0)
        return cmd_request(argc, argv);
    if (strcmp(argv[1], "list") == 0)
        return cmd_list(argc, argv);
    if (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "extend") == 0 ||
        strcmp(argv[1], "choose") == 0 || strcmp(argv[1], "retry") == 0 ||
        strcmp(argv[1], "close") == 0 || strcmp(argv[1], "deliver") == 0)
        return cmd_one(argc, argv);
    return nv_cli_usage("unknown action '%s' (request, list, show, extend, choose, retry, "
                        "close, deliver)", argv[1]);
}

int
nv_cmd_accesslog(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0, r;
    char *p;
    FILE *f;
    char *line = NULL;
    size_t cap = 0;

    if ((r = nv_cli_args(argc, argv, "--json", &json, &dir, 1)) != 0)
        return r;
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    p = nv_path_join(dir, "accesslog.ndjson");
    if ((f = fopen(p, "re")) == NULL) {
        if (errno == ENOENT) {
            printf("no read of personal data has been logged\n");
            free(p);
            return 0;
        }
        r = nv_fail_errno("cannot read '%s'", p);
        free(p);
        return nv_cli_fail(r);
    }
    while (getline(&line, &cap, f) > 0) {
        json_t *o;
        if (json) {
            fputs(line, stdout);
            continue;
        }
        if ((o = json_loads(line, 0, NULL)) == NULL)
            continue;
        printf("%s  %-12s %-40s why: %s\n", json_string_value(json_object_get(o, "at")),
               json_string_value(json_object_get(o, "who")),
               json_string_value(json_object_get(o, "what")),
               json_string_value(json_object_get(o, "why")));
        json_decref(o);
    }
    free(line);
    fclose(f);
    free(p);
    return 0;
}
