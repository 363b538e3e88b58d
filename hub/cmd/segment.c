/*
 * cmd/segment.c - `nova-hub segment DIR set|show|log|diff|run|count NAME`:
 * marketing segments (hub/segment/segment.h), versioned in the mapping
 * repository, and the people they reach.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../formats/cli.h"
#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/util.h"
#include "cmds.h"
#include "../gdpr/gdpr.h"
#include "../intake/ingest.h"
#include "../model/rules.h"
#include "../segment/run.h"
#include "../segment/segment.h"
#include "../store/maprepo.h"

#define USAGE "segment DIR set NAME FILE [--author 'Name <email>'] [--message TEXT] | " \
              "segment DIR show NAME [--rev REV] | segment DIR log NAME | " \
              "segment DIR diff NAME [REV [REV]] | segment DIR run NAME [--format csv|ndjson] " \
              "[--fields F,F...] [--why TEXT] | segment DIR count NAME [--json] [--why TEXT]"

static const char default_fields[] = "first_name,last_name,email,phone,postcode,city";

struct seg_opts {
    const char *pos[5];
    int npos;
    const char *author, *message, *rev, *format, *fields, *why;
    int json;
};

static int
seg_set(struct nv_hub *h, const char *name, const char *file, const struct seg_opts *o)
{
    struct nv_buf text = NV_BUF_INIT;
    struct nv_segment seg;
    char abuf[512], commit[41], rn[NV_SEGMENT_NAME_MAX + 16], msg[128];
    const char *aname, *aemail;
    int r;

    if (nv_hub_author(o->author, abuf, sizeof(abuf), &aname, &aemail) < 0)
        return nv_cli_usage("--author must be 'Name <email>'");
    if ((r = nv_read_file(file, NV_SEGMENT_MAX_TEXT, &text)) < 0)
        return nv_cli_fail(r);
    nv_error_clear();
    if ((r = nv_segment_parse((char *)text.data, text.len, &seg)) == 0) {
        r = nv_segment_check_hub(h, &seg);
        nv_segment_release(&seg);
    }
    if (r < 0) {
        fprintf(stderr, "nova-hub: error: '%s' refused: %s\n", file, nv_errmsg(r));
        nv_buf_release(&text);
        return nv_exit_status(r);
    }
    nv_segment_repo_name(name, rn, sizeof(rn));
    snprintf(msg, sizeof(msg), "segment %s", name);
    r = nv_maprepo_set(h->maps, rn, (char *)text.data, text.len, aname, aemail,
                       o->message ? o->message : msg, commit);
    if (r == 1) {
        printf("unchanged: segment %s is already this text (commit %.12s)\n", name, commit);
        r = 0;
    } else if (r == 0) {
        printf("segment %s committed: %.12s\n", name, commit);
    }
    nv_buf_release(&text);
    return r < 0 ? nv_cli_fail(r) : 0;
}

static int
log_one(void *ctx, const struct nv_maprepo_change *c)
{
    char when[21];

    (void)ctx;
    printf("%.12s  %s  %s%s\n    %s\n", c->commit, nv_time_format(c->time, when), c->author,
           c->removed ? "  (removed)" : "", c->message);
    return 0;
}

/* What run writes: the fields, the format, the CSV buffer. */
struct run_out {
    int fields[NV_F_COUNT], nf, csv;
    struct nv_buf b;
};

static int
emit(void *ctx, const char *rcu, json_t *doc)
{
    struct run_out *o = ctx;
    json_t *fs = json_object_get(doc, "fields");
    int r = 0;

    nv_buf_reset(&o->b);
    if (o->csv) {
        struct nv_csv_dialect dl = { ',', '"', 1, NV_ENC_UTF8 };
        const char *vals[1 + NV_F_COUNT];
        vals[0] = rcu;
        for (int i = 0; i < o->nf; i++)
            vals[1 + i] = json_string_value(json_object_get(
                              json_object_get(fs, nv_fields[o->fields[i]].name), "value")) ?: "";
        r = nv_csv_write_row(&o->b, &dl, vals, (size_t)o->nf + 1);
    } else {
        json_t *line = json_pack("{s:s}", "rcu", rcu);
        char *t;
        for (int i = 0; i < o->nf; i++) {
            json_t *v = json_object_get(json_object_get(fs, nv_fields[o->fields[i]].name),
                                        "value");
            json_object_set(line, nv_fields[o->fields[i]].name, v ? v : json_null());
        }
        t = json_dumps(line, JSON_COMPACT);
        json_decref(line);
        r = t ? nv_buf_addf(&o->b, "%s\n", t) : nv_fail(NV_ENOMEM, "out of memory");
        free(t);
    }
    if (r == 0 && fwrite(o->b.data, 1, o->b.len, stdout) != o->b.len)
        r = nv_fail_errno("cannot write the segment");
    return r;
}

/* --fields a,b,c into o->fields: golden fields only. */
static int
parse_fields(const char *list, struct run_out *o)
{
    char buf[512], *save = NULL, *f;

    snprintf(buf, sizeof(buf), "%s", list);
    o->nf = 0;
    for (f = strtok_r(buf, ",", &save); f != NULL; f = strtok_r(NULL, ",", &save)) {
        int fi = nv_field_lookup(f);
        if (fi < 0 || !nv_golden_field(fi))
            return nv_cli_usage("--fields: '%s' is not a field of golden records", f);
        if (o->nf == NV_F_COUNT)
            return nv_cli_usage("--fields: too many fields");
        o->fields[o->nf++] = fi;
    }
    if (o->nf == 0)
        return nv_cli_usage("--fields needs at least one field");
    return 0;
}

static void
summary(const char *name, const char *commit, const struct nv_segment_stats *st)
{
    uint64_t out = st->selected - st->kept;

    fprintf(stderr, "nova-hub: segment %s (commit %.12s): %llu of %llu people selected, %llu "
            "kept; %llu left out: %llu without marketing consent, %llu who refused it, %llu "
            "restricted, %llu objected, %llu suppressed\n", name, commit,
            (unsigned long long)st->selected, (unsigned long long)st->people,
            (unsigned long long)st->kept, (unsigned long long)out,
            (unsigned long long)st->no_consent, (unsigned long long)st->refused,
            (unsigned long long)st->restricted, (unsigned long long)st->objected,
            (unsigned long long)st->suppressed);
    fprintf(stderr, "nova-hub: %llu records scanned in %.2f s (%.0f records/s), %.2f s in all\n",
            (unsigned long long)st->records, st->seconds,
            st->seconds > 0 ? (double)st->records / st->seconds : 0.0, st->total_seconds);
}

static int
seg_run(struct nv_hub *h, const char *dir, const char *name, int count,
        const struct seg_opts *o)
{
    struct nv_buf text = NV_BUF_INIT;
    struct nv_segment seg;
    struct nv_segment_stats st;
    struct run_out ro = { .b = NV_BUF_INIT };
    char commit[41], what[160];
    int r;

    ro.csv = o->format != NULL && strcmp(o->format, "csv") == 0;
    if (!count && (r = parse_fields(o->fields ? o->fields : default_fields, &ro)) != 0)
        return r;
    if ((r = nv_segment_get(h, name, o->rev, &text, commit)) < 0)
        return nv_cli_fail(r);
    if ((r = nv_segment_parse((char *)text.data, text.len, &seg)) < 0) {
        nv_buf_release(&text);
        return nv_cli_fail(nv_fail(NV_ECONFIG, "segment %s at commit %.12s does not parse: %s",
                                   name, commit, nv_errmsg(r)));
    }
    nv_buf_release(&text);
    nv_segment_bind(&seg, nv_now());
    /* every read of personal data is logged first (count too: it reads
     * the records) */
    snprintf(what, sizeof(what), "segment %s %s at %.12s", count ? "count" : "run", name,
             commit);
    if ((r = nv_access_log(dir, what, o->why)) < 0) {
        nv_segment_release(&seg);
        return nv_cli_fail(r);
    }
    if (!count && ro.csv) {
        struct nv_csv_dialect dl = { ',', '"', 1, NV_ENC_UTF8 };
        const char *head[1 + NV_F_COUNT];
        head[0] = "rcu_id";
        for (int i = 0; i < ro.nf; i++)
            head[1 + i] = nv_fields[ro.fields[i]].name;
        if ((r = nv_csv_write_row(&ro.b, &dl, head, (size_t)ro.nf + 1)) == 0)
            fwrite(ro.b.data, 1, ro.b.len, stdout);
    }
    if (r == 0)
        r = nv_segment_select(h, &seg, count ? NULL : emit, &ro, &st);
    fflush(stdout);
    if (r == 0) {
        if (count && o->json) {
            json_t *j = json_pack(
                "{s:s,s:s,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I},s:I,s:f}", "segment", name,
                "commit", commit, "count", (json_int_t)st.kept, "selected",
                (json_int_t)st.selected, "people", (json_int_t)st.people, "left_out",
                "no_consent", (json_int_t)st.no_consent, "refused", (json_int_t)st.refused,
                "restricted", (json_int_t)st.restricted, "objected", (json_int_t)st.objected,
                "suppressed", (json_int_t)st.suppressed, "records_scanned",
                (json_int_t)st.records, "seconds", st.seconds);
            char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
            printf("%s\n", t ? t : "{}");
            free(t);
            json_decref(j);
        } else if (count) {
            printf("%llu\n", (unsigned long long)st.kept);
        }
        summary(name, commit, &st);
    }
    nv_buf_release(&ro.b);
    nv_segment_release(&seg);
    return r < 0 ? nv_cli_fail(r) : 0;
}

int
nv_cmd_segment(int argc, char **argv)
{
    struct seg_opts o;
    struct nv_hub h;
    const char *dir, *act, *name, *v;
    int r;

    memset(&o, 0, sizeof(o));
    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--author", &v))
            o.author = v;
        else if (nv_opt_val(argc, argv, &i, "--message", &v))
            o.message = v;
        else if (nv_opt_val(argc, argv, &i, "--rev", &v))
            o.rev = v;
        else if (nv_opt_val(argc, argv, &i, "--format", &v)) {
            if (v == NULL || (strcmp(v, "csv") != 0 && strcmp(v, "ndjson") != 0))
                return nv_cli_usage("--format must be csv or ndjson");
            o.format = v;
        } else if (nv_opt_val(argc, argv, &i, "--fields", &v))
            o.fields = v;
        else if (nv_opt_val(argc, argv, &i, "--why", &v))
            o.why = v;
        else if (nv_opt_flag(argv, i, "--json"))
            o.json = 1;
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else if (o.npos < 5)
            o.pos[o.npos++] = argv[i];
        else
            return nv_cli_usage("too many arguments");
    }
    if (o.npos < 3)
        return nv_cli_usage("%s", USAGE);
    dir = o.pos[0], act = o.pos[1], name = o.pos[2];
    if (!nv_segment_name_valid(name))
        return nv_cli_usage("'%s' is not a segment name (1 to %d of a-z, 0-9, _ and -)", name,
                            NV_SEGMENT_NAME_MAX);
    if (strcmp(act, "set") == 0 ? o.npos != 4
                                : strcmp(act, "diff") == 0 ? o.npos > 5 : o.npos != 3)
        return nv_cli_usage("%s", USAGE);
    if (strcmp(act, "set") != 0 && strcmp(act, "show") != 0 && strcmp(act, "log") != 0 &&
        strcmp(act, "diff") != 0 && strcmp(act, "run") != 0 && strcmp(act, "count") != 0)
        return nv_cli_usage("unknown action '%s' (set, show, log, diff, run, count)", act);
    if (!nv_exists(dir))
        return nv_cli_fail(nv_fail(NV_ENOTFOUND, "no hub directory '%s'", dir));
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    if (strcmp(act, "set") == 0) {
        r = seg_set(&h, name, o.pos[3], &o);
    } else if (strcmp(act, "run") == 0 || strcmp(act, "count") == 0) {
        r = seg_run(&h, dir, name, act[0] == 'c', &o);
    } else {
        struct nv_buf out = NV_BUF_INIT;
        char commit[41], rn[NV_SEGMENT_NAME_MAX + 16];
        nv_segment_repo_name(name, rn, sizeof(rn));
        if (act[0] == 's') {
            r = nv_segment_get(&h, name, o.rev, &out, commit);
            if (r == 0) {
                fprintf(stderr, "# segment %s at commit %.12s\n", name, commit);
                fwrite(out.data, 1, out.len, stdout);
            }
        } else if (act[0] == 'l') {
            r = nv_maprepo_log(h.maps, rn, log_one, NULL);
        } else {
            const char *a = o.npos > 3 ? o.pos[3] : NULL, *b = o.npos > 4 ? o.pos[4] : NULL;
            r = nv_maprepo_diff(h.maps, rn, b ? a : NULL, b ? b : a, &out);
            if (r == 0)
                fwrite(out.data, 1, out.len, stdout);
        }
        nv_buf_release(&out);
        r = r < 0 ? nv_cli_fail(r) : 0;
    }
    nv_hub_close(&h);
    return r;
}
