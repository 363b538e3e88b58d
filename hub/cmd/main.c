/*
 * nova-hub - the group side: keys, enrolment of agents, revocation, and the
 * verified intake of bundles.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../../formats/cli.h"
#include "../../formats/progress.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../../keys/identity.h"
#include "../../keys/keyring.h"
#include "../../agent/outbox.h"
#include "../../formats/csv.h"
#include "../../formats/record.h"
#include "../../formats/contact.h"
#include "cmds.h"
#include "../gdpr/gdpr.h"
#include "../link/link.h"
#include "../model/mapping.h"
#include "../store/maprepo.h"
#include "../intake/ingest.h"
#include "../lib/hugepages.h"
#include "../golden/golden.h"
#include "../store/ledger.h"
#include "../intake/retain.h"
#include "../export/lake.h"

#include <jansson.h>

static int
cmd_init(int argc, char **argv)
{
    const char *dir = NULL, *entity = "hub";
    int r;

    if ((r = nv_cli_dir_opt(argc, argv, "--entity", &entity, &dir)) != 0)
        return r;
    if ((r = nv_hub_layout(dir)) < 0 ||
        (r = nv_identity_create(dir, entity, NV_ROLE_HUB)) < 0)
        return nv_cli_fail(r);
    printf("hub '%s' initialised in %s\n"
           "hand %s/keys/identity.pub to each agent (nova-agent trust), and enroll\n"
           "each agent's identity with: nova-hub enroll %s AGENT-IDENTITY.pub\n",
           entity, dir, dir, dir);
    return 0;
}

static int
cmd_enroll(int argc, char **argv)
{
    const char *dir = NULL, *file = NULL;
    struct nv_identity_pub id;
    char kid[17];
    int force = 0, r;

    {
        const char *pos[2];
        if ((r = nv_cli_args(argc, argv, "--force", &force, pos, 2)) != 0)
            return r;
        dir = pos[0];
        file = pos[1];
    }
    if (file == NULL)
        return nv_cli_usage("DIR and FILE are required");
    if ((r = nv_keyring_add_file(dir, file, force, NV_ROLE_AGENT, &id)) < 0)
        return nv_cli_fail(r);
    nv_keyid_hex(id.sign.keyid, kid);
    printf("agent '%s' enrolled with key %s\n", id.entity, kid);
    return 0;
}

static int
cmd_revoke(int argc, char **argv)
{
    const char *pos[2], *reason = NULL, *dir, *what;
    struct nv_keyring kr;
    int r;

    if ((r = nv_cli_pos_opt(argc, argv, "--reason", NULL, &reason, pos, 2)) != 0)
        return r;
    dir = pos[0];
    what = pos[1];
    if (what == NULL || reason == NULL)
        return nv_cli_usage("DIR, ENTITY|KEYID and --reason are required");
    if ((r = nv_keyring_load(&kr, dir)) < 0)
        return nv_cli_fail(r);
    if ((r = nv_keyring_revoke(&kr, what, reason)) == 0)
        r = nv_keyring_save(&kr);
    nv_keyring_release(&kr);
    if (r < 0)
        return nv_cli_fail(r);
    printf("revoked '%s': bundles it signs are now refused\n", what);
    return 0;
}

static int
cmd_rotate(int argc, char **argv)
{
    int r;

    if (argc != 2 || argv[1][0] == '-')
        return nv_cli_usage("DIR is required");
    if ((r = nv_identity_rotate(argv[1])) < 0)
        return nv_cli_fail(r);
    printf("new hub keys in %s/keys; the old encryption key is kept to open bundles in flight.\n"
           "hand keys/identity.pub and keys/identity.pub.minisig to every agent (nova-agent trust)\n",
           argv[1]);
    return 0;
}

static int
cmd_keys(int argc, char **argv)
{
    struct nv_keyring kr;
    int json = 0, r;
    const char *dir = NULL;

    if ((r = nv_cli_args(argc, argv, "--json", &json, &dir, 1)) != 0)
        return r;
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_keyring_load(&kr, dir)) < 0)
        return nv_cli_fail(r);
    if (json)
        printf("[");
    for (size_t i = 0; i < kr.n; i++) {
        char kid[17], when[21];
        nv_keyid_hex(kr.e[i].id.sign.keyid, kid);
        nv_time_format(kr.e[i].since, when);
        if (json)
            printf("%s{\"entity\":\"%s\",\"key_id\":\"%s\",\"state\":\"%s\",\"since\":\"%s\"}",
                   i ? "," : "", kr.e[i].id.entity, kid,
                   nv_key_state_name(kr.e[i].state), when);
        else
            printf("%-20s %s  %-8s since %s%s%s\n", kr.e[i].id.entity, kid,
                   nv_key_state_name(kr.e[i].state), when,
                   kr.e[i].reason[0] ? "  " : "", kr.e[i].reason);
    }
    if (json)
        printf("]\n");
    nv_keyring_release(&kr);
    return 0;
}

static int
parse_hub_opts(int argc, char **argv, const char **dir, int *json,
               uint64_t *max_payload, long *settle_s, const char ***files, int *nfiles)
{
    const char *v;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_flag(argv, i, "--json")) {
            *json = 1;
        } else if (nv_opt_val(argc, argv, &i, "--settle", &v)) {
            char *end;
            long n = v ? strtol(v, &end, 10) : -1;
            if (v == NULL || *end != '\0' || n < 0 || n > 86400)
                return nv_cli_usage("--settle needs seconds (0 to 86400)");
            *settle_s = n;
        } else if (nv_opt_val(argc, argv, &i, "--max-size", &v)) {
            if (v == NULL || nv_parse_size(v, max_payload) < 0)
                return nv_cli_usage("--max-size needs a size (e.g. 512M)");
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (*dir == NULL) {
            *dir = argv[i];
        } else {
            (*files)[(*nfiles)++] = argv[i];
        }
    }
    if (*dir == NULL)
        return nv_cli_usage("DIR is required");
    return 0;
}

static void
json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

struct ingest_report {
    int json;
    unsigned waiting;  /* bundles waiting for a missing one */
    unsigned applied, quarantined;
    uint64_t records;  /* of the bundles applied */
    unsigned stale;    /* bundles sealed before a rebase, set aside */
};

static void
report(void *ctx, const char *name, const struct nv_ingest_result *res)
{
    static const char *words[] = { "", "applied", "waiting", "quarantined",
                                   "duplicate", "failed", "arriving", "stale" };
    struct ingest_report *ir = ctx;
    int json = ir->json;

    nv_progress_clear();
    if (res->outcome == NV_WAITING)
        ir->waiting++;
    if (res->outcome == NV_APPLIED) {
        ir->applied++;
        ir->records += res->m.records;
    }
    ir->quarantined += res->outcome == NV_QUARANTINED;
    if (res->outcome == NV_STALE)
        ir->stale++;

    if (json) {
        printf("{\"bundle\":");
        json_str(name);
        printf(",\"outcome\":\"%s\"", words[res->outcome]);
        if (res->have_manifest)
            printf(",\"sender\":\"%s\",\"seq\":%llu,\"records\":%llu,"
                   "\"upserts\":%llu,\"deletes\":%llu,\"acks\":%llu,\"rejected\":%llu",
                   res->m.sender, (unsigned long long)res->m.seq,
                   (unsigned long long)res->m.records,
                   (unsigned long long)res->applied.upserts,
                   (unsigned long long)res->applied.deletes,
                   (unsigned long long)res->applied.acks,
                   (unsigned long long)res->applied.rejected);
        if (res->have_manifest)
            printf(",\"not_normalised\":%llu,\"agent_rejects\":%llu",
                   (unsigned long long)res->applied.unnormalised,
                   (unsigned long long)res->m.rejects);
        if (res->code)
            printf(",\"status\":%d,\"reason\":", nv_exit_status(res->code)),
                json_str(res->reason);
        printf("}\n");
        fflush(stdout);
        return;
    }
    if (res->outcome == NV_APPLIED) {
        printf("%-11s %s->%s seq %llu (%llu records: %llu upserts, %llu deletes, %llu acks, %llu rejected) %s\n",
               words[res->outcome], res->m.sender, res->m.recipient,
               (unsigned long long)res->m.seq, (unsigned long long)res->m.records,
               (unsigned long long)res->applied.upserts,
               (unsigned long long)res->applied.deletes,
               (unsigned long long)res->applied.acks,
               (unsigned long long)res->applied.rejected, name);
        if (res->m.rejects > 0)
            printf("            %llu source row(s) rejected by the agent (its rejects.ndjson: "
                   "nova-hub status counts them per entity and reason)\n",
                   (unsigned long long)res->m.rejects);
        if (res->applied.unnormalised > 0)
            printf("            %llu value(s) that did not parse left out of matching, kept as "
                   "sent (nova-hub status says which columns)\n",
                   (unsigned long long)res->applied.unnormalised);
        if (res->applied.suppressed > 0)
            printf("            %llu record(s) of people erased at their request dropped "
                   "(suppression list)\n", (unsigned long long)res->applied.suppressed);
        if (res->applied.rcus_touched > 0)
            printf("            matching: %llu records resolved, %llu linked, %llu review "
                   "pair(s), %llu new RCU(s)\n",
                   (unsigned long long)res->applied.rcus_touched,
                   (unsigned long long)res->applied.linked,
                   (unsigned long long)res->applied.review,
                   (unsigned long long)res->applied.new_rcus);
        if (res->applied.updates > 0)
            printf("            golden records: %llu update(s) for the other entities\n",
                   (unsigned long long)res->applied.updates);
    }
    else if (res->outcome == NV_DUPLICATE)
        printf("%-11s %s->%s seq %llu (%llu records) %s: applied before, archived\n",
               words[res->outcome], res->m.sender, res->m.recipient,
               (unsigned long long)res->m.seq, (unsigned long long)res->m.records, name);
    else
        printf("%-11s %s: %s\n", words[res->outcome], name, res->reason);
    fflush(stdout);
}

static int
cmd_ingest(int argc, char **argv)
{
    const char *dir = NULL;
    const char **files = calloc((size_t)argc, sizeof(char *));
    int json = 0, nfiles = 0, r, first = 0;
    uint64_t max = 0;
    long settle = -1;
    struct nv_hub h;
    struct ingest_report ir = { 0, 0, 0 };

    if (files == NULL)
        return 3;
    if ((r = parse_hub_opts(argc, argv, &dir, &json, &max, &settle, &files, &nfiles)) != 0) {
        free(files);
        return r;
    }
    if ((r = nv_hub_open(&h, dir)) < 0) {
        free(files);
        return nv_cli_fail(r);
    }
    h.max_payload = max;
    if (settle >= 0)
        h.settle_ms = (unsigned)settle * 1000;
    ir.json = json;
    nv_progress_begin("ingest", "records");
    if (nfiles == 0) {
        first = nv_hub_ingest_inbox(&h, report, &ir);
    } else {
        for (int i = 0; i < nfiles; i++) {
            struct nv_ingest_result res;
            const char *base = strrchr(files[i], '/');
            r = nv_hub_ingest_file(&h, files[i], 1, &res);
            report(&ir, base ? base + 1 : files[i], &res);
            if ((res.outcome == NV_QUARANTINED || res.outcome == NV_FAILED) && first == 0)
                first = res.code ? res.code : r;
        }
    }
    if ((r = nv_hub_after_ingest(&h)) < 0) {
        nv_progress_clear();
        fprintf(stderr, "nova-hub: error: GDPR requests not advanced: %s\n", nv_errmsg(r));
        if (first == 0)
            first = r;
    }
    nv_hub_close(&h);
    free(files);
    nv_progress_end(ir.records, "%u bundle(s) applied, %u quarantined, %u waiting",
                    ir.applied, ir.quarantined, ir.waiting);
    if (first == 0 && ir.waiting > 0) {
        fprintf(stderr, "nova-hub: error: %u bundle(s) wait in the inbox for a missing one "
                "(nova-hub status names it; the agent's 'nova-agent resend' sends it again)\n",
                ir.waiting);
        return nv_exit_status(NV_EWAITING);
    }
    if (first == 0 && ir.stale > 0) {
        fprintf(stderr, "nova-hub: error: %u stale bundle(s), sealed before a rebase of their "
                "stream, set aside in stale/ (not applied; the snapshot after the rebase "
                "carries their changes)\n", ir.stale);
        return nv_exit_status(NV_ESTALE);
    }
    if (first < 0) {
        fprintf(stderr, "nova-hub: error: not every bundle was applied (first problem: %s)\n",
                nv_strerror(first));
        return nv_exit_status(first);
    }
    return 0;
}

static int
cmd_verify(int argc, char **argv)
{
    const char *dir = NULL;
    const char **files = calloc((size_t)argc, sizeof(char *));
    int json = 0, nfiles = 0, r, first = 0;
    uint64_t max = 0;
    long settle = -1;
    struct nv_hub h;

    if (files == NULL)
        return 3;
    if ((r = parse_hub_opts(argc, argv, &dir, &json, &max, &settle, &files, &nfiles)) != 0 ||
        nfiles == 0) {
        free(files);
        return r ? r : nv_cli_usage("DIR and at least one BUNDLE are required");
    }
    if ((r = nv_hub_open(&h, dir)) < 0) {
        free(files);
        return nv_cli_fail(r);
    }
    h.max_payload = max;
    for (int i = 0; i < nfiles; i++) {
        struct nv_bundle b;
        nv_error_clear();
        r = nv_hub_verify_file(&h, files[i], &b);
        if (r < 0) {
            fprintf(stderr, "nova-hub: error: '%s': %s\n", files[i], nv_errmsg(r));
            if (first == 0)
                first = r;
            continue;
        }
        printf("ok %s: %s bundle %s->%s seq %llu, %llu records\n", files[i],
               nv_kind_name(b.m.kind), b.m.sender, b.m.recipient,
               (unsigned long long)b.m.seq, (unsigned long long)b.m.records);
        nv_bundle_release(&b);
    }
    nv_hub_close(&h);
    free(files);
    return first ? nv_exit_status(first) : 0;
}

static int
send_file(struct nv_outbox *o, const char *path, int kind, uint64_t *bad)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long no = 0;
    int r = 0;

    if (f == NULL)
        return nv_fail_errno("cannot open '%s'", path);
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t err;
        json_t *o2;
        int ok, op = 0;
        no++;
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (kind == NV_KIND_UPDATES) {
            op = nv_record_check(line, (size_t)n);
            ok = op == NV_OP_UPSERT;
        } else {
            o2 = json_loadb(line, (size_t)n, 0, &err);
            ok = json_is_object(o2) && json_is_string(json_object_get(o2, "order")) &&
                 json_is_string(json_object_get(o2, "key"));
            json_decref(o2);
        }
        if (!ok) {
            fprintf(stderr, "nova-hub: warning: line %lu of '%s' is not a valid %s record: skipped\n",
                    no, path, kind == NV_KIND_UPDATES ? "update" : "erasure order");
            (*bad)++;
            continue;
        }
        if ((r = nv_outbox_add_record(o, line, (size_t)n, op)) < 0)
            break;
    }
    free(line);
    fclose(f);
    return r;
}

static int
cmd_send(int argc, char **argv)
{
    const char *dir = NULL, *entity = NULL, *v;
    int kind = 0, r, nfiles = 0;
    uint64_t bad = 0;
    struct nv_hub h;
    struct nv_outbox o;
    char *obox = NULL;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--kind", &v)) {
            kind = v ? nv_kind_parse(v) : 0;
            if (kind != NV_KIND_UPDATES && kind != NV_KIND_ERASURE)
                return nv_cli_usage("--kind must be updates or erasure");
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (dir == NULL) {
            dir = argv[i];
        } else if (entity == NULL) {
            entity = argv[i];
        } else {
            nfiles++;
        }
    }
    if (dir == NULL || entity == NULL || nfiles == 0 || kind == 0)
        return nv_cli_usage("DIR, ENTITY, --kind and at least one FILE are required");
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    /* the hub's outbox to that agent, as every bundle it sends */
    if ((r = nv_hub_outbox(&h, entity, kind, &o, &obox)) < 0)
        goto out;
    for (int i = 1, seen = 0; i < argc && r == 0; i++) {
        if (!strcmp(argv[i], "--kind")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' || seen++ < 2)
            continue;
        r = send_file(&o, argv[i], kind, &bad);
    }
    if (r == 0)
        r = nv_outbox_end(&o);
    else
        nv_outbox_abort(&o);
out:
    nv_hub_close(&h);
    if (r < 0) {
        free(obox);
        return nv_cli_fail(r);
    }
    printf("%u %s bundle(s) for '%s' in %s (%llu lines skipped)\n", o.bundles,
           nv_kind_name(kind), entity, obox, (unsigned long long)bad);
    free(obox);
    return bad ? 1 : 0;
}

/* nova-hub ledger DIR [--allowed-signers FILE]: where the ledger is, its tip
 * and size; with --allowed-signers, write the file stock git needs
 * (git -c gpg.ssh.allowedSignersFile=FILE verify-commit ...). */
static int
cmd_ledger(int argc, char **argv)
{
    const char *dir = NULL, *as = NULL;
    struct nv_buf line = NV_BUF_INIT;
    struct nv_hub h;
    char tip[41];
    uint64_t n = 0;
    int r;

    if ((r = nv_cli_dir_opt(argc, argv, "--allowed-signers", &as, &dir)) != 0)
        return r;
    if ((r = nv_hub_open(&h, dir)) < 0) /* opens and reconciles the ledger */
        return nv_cli_fail(r);
    if (h.ledger == NULL) {
        nv_hub_close(&h);
        return nv_cli_fail(nv_fail(NV_EKEY, "the hub has no ledger key"));
    }
    if ((r = nv_ledger_head(h.ledger, tip, &n)) < 0 ||
        (r = nv_ledger_allowed_signers(h.ledger, &line)) < 0 ||
        (as != NULL && (r = nv_write_file(as, line.data, line.len, 0644)) < 0))
        goto out;
    printf("ledger %s/%s: branch main at %s, %llu commits\n", dir, NV_LEDGER_DIR,
           tip, (unsigned long long)n);
    printf("allowed signer: %s", (const char *)line.data);
    if (as != NULL) {
        char *abs = realpath(as, NULL); /* git -C changes directory */
        printf("wrote %s; verify with: git -C %s/%s -c gpg.ssh.allowedSignersFile=%s "
               "verify-commit main\n", as, dir, NV_LEDGER_DIR, abs ? abs : as);
        free(abs);
    }
out:
    nv_buf_release(&line);
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}
/* table entry:
    { "ledger", cmd_ledger, "ledger DIR [--allowed-signers FILE]",
      "show the signed ledger's tip; write the allowed_signers file for git" },
   and #include "../store/ledger.h" at the top. */

/* Split a store key "<a>\0<b>\0<c>" into its parts (borrowed, NUL-ended
 * copies in buf). */
static int
split3(const MDB_val *k, char *buf, size_t n, const char **a, const char **b,
       const char **c)
{
    if (k->mv_size >= n)
        return -1;
    memcpy(buf, k->mv_data, k->mv_size);
    buf[k->mv_size] = '\0';
    return nv_hstore_key_split(buf, k->mv_size, a, b, c);
}

/* One CSV cell from a common value: text, a number, or a list joined by
 * " | ". */
static const char *
common_cell(json_t *v, char *num, size_t n, struct nv_buf *tmp)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(num, n, "%lld", (long long)json_integer_value(v));
        return num;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        nv_buf_reset(tmp);
        json_array_foreach(v, i, e) {
            if ((i > 0 && nv_buf_adds(tmp, " | ") < 0) ||
                nv_buf_adds(tmp, json_string_value(e) ? json_string_value(e) : "") < 0)
                return "";
        }
        return tmp->data ? (const char *)tmp->data : "";
    }
    return "";
}

/* Mappings by entity and commit, for the originals of exported records. */
struct map_cache {
    struct { char key[NV_NAME_MAX + 42]; struct nv_mapping m; int ok; } *v;
    size_t n;
};

static const struct nv_mapping *
mapping_at(struct nv_hub *h, struct map_cache *c, const char *entity, const char *commit)
{
    char key[NV_NAME_MAX + 42];
    struct nv_buf text = NV_BUF_INIT;
    size_t i;

    if (commit == NULL || strlen(entity) > NV_NAME_MAX || strlen(commit) != 40)
        return NULL;
    snprintf(key, sizeof(key), "%.63s/%.40s", entity, commit);
    for (i = 0; i < c->n; i++)
        if (strcmp(c->v[i].key, key) == 0)
            return c->v[i].ok ? &c->v[i].m : NULL;
    if ((c->v = realloc(c->v, (c->n + 1) * sizeof(*c->v))) == NULL)
        abort();
    i = c->n++;
    memset(&c->v[i], 0, sizeof(c->v[i]));
    snprintf(c->v[i].key, sizeof(c->v[i].key), "%s", key);
    c->v[i].ok = nv_maprepo_get(h->maps, entity, commit, &text, NULL) == 0 &&
                 nv_mapping_parse((char *)text.data, text.len, entity, &c->v[i].m) == 0;
    nv_buf_release(&text);
    return c->v[i].ok ? &c->v[i].m : NULL;
}

static void
map_cache_free(struct map_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].ok)
            nv_mapping_release(&c->v[i].m);
    free(c->v);
}

/* What `export` was asked for. */
struct export_opts {
    const char *dir, *what, *format, *entity, *why, *since, *out;
    int common, marketing;
    uint64_t part_rows;
};

/* export's arguments into o.  0 to go on, else the exit status (usage). */
static int
export_args(int argc, char **argv, struct export_opts *o)
{
    const char *v;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--format", &v)) {
            if (v == NULL || (strcmp(v, "csv") && strcmp(v, "ndjson")))
                return nv_cli_usage("--format must be csv or ndjson");
            o->format = v;
        } else if (nv_opt_val(argc, argv, &i, "--entity", &v)) {
            if (v == NULL)
                return nv_cli_usage("--entity needs a name");
            o->entity = v;
        } else if (nv_opt_val(argc, argv, &i, "--since", &v)) {
            if ((o->since = v) == NULL)
                return nv_cli_usage("--since needs a cursor (0 for everything)");
        } else if (nv_opt_val(argc, argv, &i, "--out", &v)) {
            if ((o->out = v) == NULL)
                return nv_cli_usage("--out needs a directory");
        } else if (nv_opt_val(argc, argv, &i, "--part-rows", &v)) {
            if (v == NULL || nv_parse_u64(v, &o->part_rows) < 0 || o->part_rows == 0)
                return nv_cli_usage("--part-rows needs a number of rows, at least 1");
        } else if (nv_opt_flag(argv, i, "--common")) {
            o->common = 1;
        } else if (nv_opt_flag(argv, i, "--marketing")) {
            o->marketing = 1;
        } else if (nv_opt_val(argc, argv, &i, "--why", &v)) {
            if ((o->why = v) == NULL)
                return nv_cli_usage("--why needs a text");
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (o->dir == NULL) {
            o->dir = argv[i];
        } else if (o->what == NULL) {
            o->what = argv[i];
        } else {
            return nv_cli_usage("too many arguments");
        }
    }
    if (o->dir == NULL || o->what == NULL ||
        (strcmp(o->what, "records") != 0 && strcmp(o->what, "links") != 0 &&
         strcmp(o->what, "golden") != 0))
        return nv_cli_usage("DIR and what to export (records, golden or links) are required");
    return 0;
}

/* One export of records in progress: options, the CSV columns (every field,
 * or extension with --common, name seen in the first pass), counts. */
struct rec_export {
    struct nv_hub *h;
    const struct export_opts *o;
    MDB_txn *txn;
    int csv;
    json_t *cols;
    size_t ncols, fixed;
    struct nv_csv_dialect dl;
    struct nv_buf out;
    struct map_cache mcache;
    uint64_t n, left_out;
    json_t *chosen; /* --marketing: {store key: true} of the one record per person */
};

/* The RCU of the record with store key k, or "". */
static void
rcu_of_key(struct rec_export *x, const MDB_val *k, char rcu[NV_RCU_LEN + 1])
{
    struct nv_link_val lv;

    rcu[0] = '\0';
    if (nv_link_get(x->txn, x->h->link, k->mv_data, k->mv_size, &lv) == 0)
        snprintf(rcu, NV_RCU_LEN + 1, "%.13s", lv.rcu);
}

/* The CSV header line, to stdout: the fixed columns, then x->cols. */
static int
export_csv_header(struct rec_export *x)
{
    const char *name;
    json_t *unused;
    size_t i = 5;
    const char **vals;
    char **heads;
    int r;

    x->ncols = x->fixed + json_object_size(x->cols);
    vals = calloc(x->ncols, sizeof(char *));
    heads = calloc(x->ncols, sizeof(char *));
    if (vals == NULL || heads == NULL)
        abort();
    vals[0] = "entity", vals[1] = "source", vals[2] = "key", vals[3] = "seq", vals[4] = "rcu";
    if (x->o->common) {
        vals[i++] = "mapping";
        for (int f = 0; f < NV_F_COUNT; f++)
            vals[i++] = nv_fields[f].name;
    }
    json_object_foreach(x->cols, name, unused) {
        if (x->o->common) {
            if (asprintf(&heads[i], "ext.%s", name) < 0)
                abort();
            vals[i] = heads[i];
            i++;
        } else {
            vals[i++] = name;
        }
    }
    if ((r = nv_csv_write_row(&x->out, &x->dl, vals, x->ncols)) == 0)
        fwrite(x->out.data, 1, x->out.len, stdout);
    for (size_t j = 0; j < x->ncols; j++)
        free(heads[j]);
    free(heads);
    free(vals);
    return r;
}

/* One record as a CSV row, to stdout, in the columns of the header. */
static int
export_csv_row(struct rec_export *x, const char *e, const char *src, const char *key,
               const char *rcu, json_t *rec)
{
    const char **row = calloc(x->ncols, sizeof(char *));
    char nums[NV_F_COUNT][24], seq[24];
    const char *name;
    json_t *unused, *c = json_object_get(rec, "c");
    json_t *fields = json_object_get(rec, "fields"), *extra = json_object_get(rec, "x");
    size_t i = 5;
    struct nv_buf *lists = calloc(NV_F_COUNT, sizeof(struct nv_buf));
    int r;

    if (row == NULL || lists == NULL)
        abort();
    snprintf(seq, sizeof(seq), "%lld", (long long)json_integer_value(json_object_get(rec, "seq")));
    row[0] = e, row[1] = src, row[2] = key, row[3] = seq, row[4] = rcu;
    if (x->o->common) {
        const char *mc = json_string_value(json_object_get(rec, "map"));
        row[i++] = mc ? mc : "";
        for (int f = 0; f < NV_F_COUNT; f++)
            row[i++] = common_cell(json_object_get(c, nv_fields[f].name), nums[f],
                                   sizeof(nums[f]), &lists[f]);
    }
    json_object_foreach(x->cols, name, unused) {
        json_t *fv = json_object_get(x->o->common ? extra : fields, name);
        row[i++] = json_is_string(fv) ? json_string_value(fv) : "";
    }
    nv_buf_reset(&x->out);
    if ((r = nv_csv_write_row(&x->out, &x->dl, row, x->ncols)) == 0)
        fwrite(x->out.data, 1, x->out.len, stdout);
    for (int f = 0; f < NV_F_COUNT; f++)
        nv_buf_release(&lists[f]);
    free(lists);
    free(row);
    x->n++;
    return r;
}

/* One record as an NDJSON line, to stdout: as sent, and once mapped with
 * its mapping, common fields, originals and extensions. */
static void
export_ndjson_row(struct rec_export *x, const char *e, const char *src, const char *key,
                  const char *rcu, json_t *rec)
{
    json_t *fields = json_object_get(rec, "fields"), *extra = json_object_get(rec, "x");
    json_t *o = json_pack("{s:s,s:s,s:s,s:O,s:s?,s:O}", "entity", e, "source", src, "key",
                          key, "seq", json_object_get(rec, "seq"), "rcu",
                          rcu[0] ? rcu : NULL, "fields", fields ? fields : json_null());
    char *text;

    if (o != NULL && json_object_get(rec, "map") != NULL) {
        const struct nv_mapping *mp =
            mapping_at(x->h, &x->mcache, e, json_string_value(json_object_get(rec, "map")));
        json_object_set(o, "mapping", json_object_get(rec, "map"));
        json_object_set(o, "common", json_object_get(rec, "c"));
        if (mp != NULL && fields != NULL)
            json_object_set_new(o, "original", nv_mapping_originals(mp, fields));
        json_object_set(o, "ext", extra);
    }
    text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(o);
    x->n++;
}

/* One pass over the records in x->txn: pass 0 collects the CSV columns,
 * pass 1 writes the rows (after the header, for CSV).  0 or an NV_E code. */
static int
export_pass(struct rec_export *x, MDB_cursor *cur, int pass)
{
    MDB_val k, d;
    int r = 0;

    if (pass == 1 && x->csv)
        r = export_csv_header(x);
    while (r == 0 && mdb_cursor_get(cur, &k, &d, MDB_NEXT) == 0) {
        char kb[520], rcu[NV_RCU_LEN + 1];
        const char *e, *src, *key;
        json_t *rec;
        nv_progress_add(1);
        if (split3(&k, kb, sizeof(kb), &e, &src, &key) < 0)
            continue;
        if (x->o->entity != NULL && strcmp(x->o->entity, e) != 0)
            continue;
        if (x->o->marketing && json_object_getn(x->chosen, k.mv_data, k.mv_size) == NULL) {
            x->left_out += pass == 1;
            continue;
        }
        rec = json_loadb(d.mv_data, d.mv_size, 0, NULL);
        rcu_of_key(x, &k, rcu);
        if (pass == 0) {
            const char *name;
            json_t *fv;
            json_object_foreach(json_object_get(rec, x->o->common ? "x" : "fields"), name, fv)
                json_object_set(x->cols, name, json_true());
        } else if (x->csv) {
            r = export_csv_row(x, e, src, key, rcu, rec);
        } else {
            export_ndjson_row(x, e, src, key, rcu, rec);
        }
        json_decref(rec);
    }
    return r;
}

/* To stderr: how many people a marketing selection keeps and why the
 * others are left out. */
static void
marketing_note(json_t *people, json_t *why)
{
    static const char *const reasons[][2] = {
        { "no-explicit-yes", "without an explicit yes" },
        { "refused", "refused in one of the entities" },
        { "restricted-or-objected", "restricted processing or objected" },
        { "suppressed", "erased" },
    };

    fprintf(stderr, "nova-hub: marketing: %zu people with an explicit yes and no refusal, "
            "one row each; left out:", json_object_size(people));
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        fprintf(stderr, "%s %lld %s", i ? "," : "",
                (long long)json_integer_value(json_object_get(why, reasons[i][0])),
                reasons[i][1]);
    fprintf(stderr, " (GDPR)\n");
}

/* `export DIR records`: the records of the opened hub h, to stdout, in
 * two passes for CSV (the columns are every field or extension name
 * seen).  Counts records written and, with --marketing, left out. */
static int
export_records(struct nv_hub *h, const struct export_opts *o, uint64_t *n,
               uint64_t *left_out)
{
    struct rec_export x = { .h = h, .o = o, .dl = { ',', '"', 1, NV_ENC_UTF8 },
                            .out = NV_BUF_INIT, .mcache = { NULL, 0 } };
    MDB_cursor *cur = NULL;
    int r = 0;

    x.csv = strcmp(o->format, "csv") == 0;
    x.fixed = o->common ? 6 + NV_F_COUNT : 5;
    x.cols = json_object();
    x.chosen = json_object();
    if (o->marketing) {
        /* one record per person: the one with the explicit yes */
        json_t *people = NULL, *why = NULL, *kv;
        const char *rcu;
        int rc;
        if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &x.txn)) != 0)
            r = nv_hmdb_fail(rc, "cannot read records");
        else {
            r = nv_gdpr_marketing(h, x.txn, &people, &why);
            mdb_txn_abort(x.txn);
            x.txn = NULL;
        }
        json_object_foreach(people, rcu, kv)
            json_object_setn_new_nocheck(x.chosen, json_string_value(kv),
                                         json_string_length(kv), json_true());
        if (r == 0)
            marketing_note(people, why);
        json_decref(people);
        json_decref(why);
    }
    for (int pass = x.csv ? 0 : 1; pass < 2 && r == 0; pass++) {
        int rc;
        if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &x.txn)) != 0 ||
            (rc = mdb_cursor_open(x.txn, h->store.records, &cur)) != 0) {
            r = nv_hmdb_fail(rc, "cannot read records");
            break;
        }
        {
            MDB_stat ms;
            nv_progress_step(mdb_stat(x.txn, h->store.records, &ms) == 0 ? ms.ms_entries : 0,
                             pass == 0 ? "reading the columns" : "writing the records");
        }
        r = export_pass(&x, cur, pass);
        mdb_cursor_close(cur);
        mdb_txn_abort(x.txn);
        cur = NULL;
        x.txn = NULL;
    }
    *n = x.n;
    *left_out = x.left_out;
    json_decref(x.chosen);
    map_cache_free(&x.mcache);
    json_decref(x.cols);
    nv_buf_release(&x.out);
    return r;
}

/* `export DIR WHAT --since CURSOR --out DIR`: one batch for the data lake
 * (hub/export/lake.h); the cursor to give next time on stdout. */
static int
export_lake(const struct export_opts *o)
{
    struct nv_lake_opts lo = { .what = o->what, .out = o->out, .part_rows = o->part_rows };
    struct nv_lake_result res;
    struct nv_hub h;
    struct timespec t0, t1;
    double s;
    int r;

    lo.csv = strcmp(o->format, "csv") == 0;
    if (o->since != NULL && (r = nv_lake_cursor(o->since, &lo.since)) < 0)
        return nv_cli_fail(r);
    if ((r = nv_hub_open(&h, o->dir)) < 0)
        return nv_cli_fail(r);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = nv_lake_export(&h, &lo, &res);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    nv_hub_close(&h);
    if (r < 0)
        return nv_cli_fail(r);
    s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (res.batch[0] == '\0')
        fprintf(stderr, "nova-hub: export %s: nothing changed since cursor %llu: no batch\n",
                o->what, (unsigned long long)res.from);
    else
        fprintf(stderr, "nova-hub: export %s: %s from cursor %llu to %llu: %llu upsert(s), "
                "%llu delete(s) in %u file(s), %s\n"
                "nova-hub: %llu row(s) in %.2f s (%.0f rows/s)\n", o->what,
                lo.since == 0 ? "everything" : "the changes", (unsigned long long)res.from,
                (unsigned long long)res.to, (unsigned long long)res.upserts,
                (unsigned long long)res.deletes, res.files, res.batch,
                (unsigned long long)(res.upserts + res.deletes), s,
                (double)(res.upserts + res.deletes) / (s > 0 ? s : 1e-9));
    printf("%llu\n", (unsigned long long)res.to);
    return fflush(stdout) == 0 ? 0 : nv_cli_fail(nv_fail_errno("cannot write the cursor"));
}

static int
cmd_export(int argc, char **argv)
{
    struct export_opts o = { .format = "ndjson" };
    struct nv_hub h;
    uint64_t n = 0, left_out = 0;
    int r;

    if ((r = export_args(argc, argv, &o)) != 0)
        return r;
    if (o.since != NULL || o.out != NULL) {
        if (o.out == NULL)
            return nv_cli_usage("--since writes a batch of files: give --out DIR");
        if (o.common || o.marketing || o.entity != NULL)
            return nv_cli_usage("export --since/--out takes --format, --part-rows and --why "
                                "only (not --common, --marketing or --entity)");
        /* a cursor that is not one is refused before anything is read */
        if (o.since != NULL && (r = nv_lake_cursor(o.since, &(uint64_t){ 0 })) < 0)
            return nv_cli_fail(r);
    } else if (o.part_rows != 0) {
        return nv_cli_usage("--part-rows is for export --out DIR");
    }
    if (nv_exists(o.dir)) {
        /* every read of personal data is logged first */
        char line[160];
        snprintf(line, sizeof(line), "export %s%s%.63s%s%.24s%s", o.what,
                 o.entity ? " --entity " : "", o.entity ? o.entity : "",
                 o.out ? " --since " : "", o.out ? (o.since ? o.since : "0") : "",
                 o.out ? " --out (data lake)" : "");
        if ((r = nv_access_log(o.dir, line, o.why)) < 0)
            return nv_cli_fail(r);
    }
    if (o.out != NULL)
        return export_lake(&o);
    if (strcmp(o.what, "links") == 0) {
        if ((r = nv_hub_open(&h, o.dir)) < 0)
            return nv_cli_fail(r);
        r = nv_export_links(&h);
        nv_hub_close(&h);
        return r < 0 ? nv_cli_fail(r) : 0;
    }
    /* progress on the terminal only when the data goes elsewhere */
    if (!isatty(1))
        nv_progress_begin("export", strcmp(o.what, "golden") == 0 ? "people" : "records");
    if (strcmp(o.what, "golden") == 0) {
        json_t *people = NULL, *why = NULL;
        if (o.common || o.entity != NULL)
            return nv_cli_usage("export golden takes --format and --marketing only");
        if ((r = nv_hub_open(&h, o.dir)) < 0)
            return nv_cli_fail(r);
        if (o.marketing) {
            MDB_txn *txn;
            int rc;
            if ((rc = mdb_txn_begin(h.store.env, NULL, MDB_RDONLY, &txn)) != 0) {
                nv_hub_close(&h);
                return nv_cli_fail(nv_hmdb_fail(rc, "cannot read"));
            }
            r = nv_gdpr_marketing(&h, txn, &people, &why);
            mdb_txn_abort(txn);
            if (r < 0) {
                nv_hub_close(&h);
                return nv_cli_fail(r);
            }
            marketing_note(people, why);
        }
        r = nv_golden_export(&h, strcmp(o.format, "csv") == 0, people, &n);
        json_decref(people);
        json_decref(why);
        nv_hub_close(&h);
        fflush(stdout);
        nv_progress_end(n, "golden records written");
        if (r == 0)
            nv_info("export", "%llu golden record(s)", (unsigned long long)n);
        return r < 0 ? nv_cli_fail(r) : 0;
    }
    if (o.common && strcmp(o.format, "csv") != 0)
        return nv_cli_usage("--common is for --format csv (ndjson always has both)");
    if ((r = nv_hub_open(&h, o.dir)) < 0)
        return nv_cli_fail(r);
    r = export_records(&h, &o, &n, &left_out);
    fflush(stdout);
    nv_progress_end(n, "records written");
    fprintf(stderr, "nova-hub: exported %llu record(s)\n", (unsigned long long)n);
    if (o.marketing)
        fprintf(stderr, "nova-hub: %llu record(s) left out: no explicit marketing consent "
                "for the person, a refusal, a restriction or objection, or another record "
                "of the same person (GDPR)\n", (unsigned long long)left_out);
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}

/* Read "key: value" from a .reason file into out (empty if absent). */
static void
reason_field(const char *text, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    const char *p = text;

    out[0] = '\0';
    while (p && *p) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':' && p[kl + 1] == ' ') {
            const char *v = p + kl + 2, *e = strchr(v, '\n');
            int len = (int)(e ? (size_t)(e - v) : strlen(v));
            snprintf(out, n, "%.*s", len, v);
            return;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
}

static int
cmd_quarantine(int argc, char **argv)
{
    const char *dir = NULL, *action = NULL, *name = NULL;
    struct dirent **ents = NULL;
    char *qd = NULL;
    int json = 0, n, r = 0, shown = 0;

    {
        const char *pos[3];
        if ((r = nv_cli_args(argc, argv, "--json", &json, pos, 3)) != 0)
            return r;
        dir = pos[0];
        action = pos[1];
        name = pos[2];
    }
    if (dir == NULL || action == NULL ||
        (strcmp(action, "list") && strcmp(action, "show") && strcmp(action, "retry") &&
         strcmp(action, "drop")))
        return nv_cli_usage("DIR and list, show NAME, retry NAME|all or drop NAME|all are "
                            "required");
    if (strcmp(action, "list") != 0 && name == NULL)
        return nv_cli_usage("%s needs a bundle name (or 'all' for retry and drop)", action);
    if (name != NULL && strcmp(name, "all") != 0 &&
        (strchr(name, '/') || name[0] == '.'))
        return nv_cli_usage("a bundle name is a file name in DIR/quarantine");
    qd = nv_path_join(dir, "quarantine");
    n = scandir(qd, &ents, NULL, alphasort);
    if (n < 0) {
        r = nv_fail_errno("cannot read '%s'", qd);
        free(qd);
        return nv_cli_fail(r);
    }
    if (json && strcmp(action, "list") == 0)
        printf("[");
    for (int i = 0; i < n; i++) {
        const char *f = ents[i]->d_name;
        size_t l = strlen(f);
        char *bp, *rp;
        struct nv_buf rs = NV_BUF_INIT;
        char when[32], code[16], why[512];

        if (f[0] == '.' || l < 6 || strcmp(f + l - 5, NV_BUNDLE_EXT) != 0 ||
            (name != NULL && strcmp(name, "all") != 0 && strcmp(name, f) != 0)) {
            free(ents[i]);
            continue;
        }
        bp = nv_path_join(qd, f);
        rp = malloc(strlen(bp) + 8);
        sprintf(rp, "%s.reason", bp);
        (void)!nv_read_file(rp, 65536, &rs);
        reason_field(rs.len ? (char *)rs.data : "", "time", when, sizeof(when));
        reason_field(rs.len ? (char *)rs.data : "", "code", code, sizeof(code));
        reason_field(rs.len ? (char *)rs.data : "", "reason", why, sizeof(why));
        if (strcmp(action, "list") == 0) {
            if (json) {
                printf("%s{\"bundle\":", shown ? "," : "");
                json_str(f);
                printf(",\"time\":\"%s\",\"status\":%s,\"reason\":", when,
                       code[0] ? code : "null");
                json_str(why);
                printf("}");
            } else {
                printf("%-44s %s  %3s  %s\n", f, when, code, why);
            }
        } else if (strcmp(action, "show") == 0) {
            struct nv_bundle b;
            printf("bundle: %s\ntime:   %s\nstatus: %s\nreason: %s\n", f, when, code, why);
            if (nv_bundle_read(&b, bp, 0) == 0) {
                printf("\n%s", (char *)b.manifest_text.data);
                nv_bundle_release(&b);
            } else {
                printf("(the manifest cannot be read)\n");
            }
        } else if (strcmp(action, "drop") == 0) {
            /* its entry stays in the ledger: the refusal remains auditable */
            if (unlink(bp) < 0) {
                r = nv_fail_errno("cannot remove '%s'", f);
            } else {
                unlink(rp);
                printf("dropped %s (status %s: %s); the ledger keeps its entry\n", f,
                       code[0] ? code : "?", why);
            }
        } else {
            char *ib = nv_path_join(dir, "inbox"), *to = nv_path_join(ib, f);
            if (rename(bp, to) < 0) {
                r = nv_fail_errno("cannot move '%s' back to the inbox", f);
            } else {
                unlink(rp);
                printf("moved %s back to the inbox\n", f);
            }
            free(ib);
            free(to);
        }
        shown++;
        nv_buf_release(&rs);
        free(bp);
        free(rp);
        free(ents[i]);
    }
    free(ents);
    if (json && strcmp(action, "list") == 0)
        printf("]\n");
    free(qd);
    if (r < 0)
        return nv_cli_fail(r);
    if (name != NULL && shown == 0)
        return nv_cli_fail(nv_fail(NV_ENOTFOUND, "no quarantined bundle '%s'", name));
    if (strcmp(action, "retry") == 0) {
        char *args[] = { (char *)"ingest", (char *)dir, NULL };
        printf("ingesting the inbox again:\n");
        fflush(stdout);
        return cmd_ingest(2, args);
    }
    return 0;
}

/* nova-hub resend DIR ENTITY [--from SEQ]: the bundles the entity has not
 * acknowledged, copied from DIR/sent/ENTITY back into DIR/outbox/ENTITY. */
static int
cmd_resend(int argc, char **argv)
{
    static const char need[] = "--from needs a sequence number";
    const char *pos[2], *dir, *entity, *v = NULL;
    uint64_t from = 0, n = 0, acked;
    struct nv_sent_backlog bl;
    struct nv_hub h;
    char *sd, *ob;
    int r;

    if ((r = nv_cli_pos_opt(argc, argv, "--from", need, &v, pos, 2)) != 0)
        return r;
    if (v != NULL && (nv_parse_u64(v, &from) < 0 || from == 0))
        return nv_cli_usage("%s", need);
    dir = pos[0];
    entity = pos[1];
    if (entity == NULL)
        return nv_cli_usage("DIR and ENTITY are required");
    if (!nv_name_valid(entity))
        return nv_cli_usage("'%s' is not an entity name", entity);
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    acked = nv_hub_acked_by(&h, entity);
    if (from == 0)
        from = acked + 1;
    sd = nv_hub_sent_dir(&h, entity);
    ob = NULL;
    if (asprintf(&ob, "%s/outbox/%s", dir, entity) < 0)
        abort();
    if ((r = nv_sent_backlog(sd, from - 1, &bl)) == 0 && bl.count > 0 &&
        (r = nv_mkdir_p(ob, 0700)) == 0 && (r = nv_sent_resend(sd, ob, from, &n)) == 0 && n > 0)
        r = nv_fsync_dir(ob);
    nv_hub_close(&h);
    free(sd);
    free(ob);
    if (r < 0)
        return nv_cli_fail(r);
    if (bl.count == 0)
        printf("nothing to resend to %s: it acknowledged up to seq %llu and sent/%s keeps no "
               "bundle from seq %llu\n", entity, (unsigned long long)acked, entity,
               (unsigned long long)from);
    else
        printf("%llu bundle(s) to %s copied back to outbox/%s (seq %llu-%llu; %llu already "
               "there); it acknowledged up to seq %llu and archives any it already applied "
               "as a duplicate\n", (unsigned long long)n, entity, entity,
               (unsigned long long)bl.first, (unsigned long long)bl.last,
               (unsigned long long)(bl.count - n), (unsigned long long)acked);
    return 0;
}

/* nova-hub prune DIR [--archive-days N] [--received-days N]: what each
 * agent acknowledged leaves DIR/sent/; with --archive-days, applied bundles
 * older than N days leave DIR/archive/ (the ledger keeps their manifests,
 * signatures and SHA-256); with --received-days, the payloads applied more
 * than N days ago are merged into each entity's base, the last version of
 * each record, which is what replay needs (hub/intake/retain.h). */
static int
cmd_prune(int argc, char **argv)
{
    const char *dir = NULL, *v;
    uint64_t days = 0, rdays = 0, total = 0, na = 0;
    int have_days = 0, have_rdays = 0, r = 0;
    struct nv_hub h;
    struct dirent **ents = NULL;
    char *sent;
    int n;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--archive-days", &v)) {
            if (v == NULL || nv_parse_u64(v, &days) < 0)
                return nv_cli_usage("--archive-days needs a number of days");
            have_days = 1;
        } else if (nv_opt_val(argc, argv, &i, "--received-days", &v)) {
            if (v == NULL || nv_parse_u64(v, &rdays) < 0 || rdays > 100000)
                return nv_cli_usage("--received-days needs a number of days");
            have_rdays = 1;
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            return nv_cli_usage("too many arguments");
        }
    }
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    sent = nv_path_join(dir, "sent");
    n = scandir(sent, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *e = ents[i]->d_name;
        if (r == 0 && e[0] != '.' && nv_name_valid(e)) {
            uint64_t acked = nv_hub_acked_by(&h, e), k = 0;
            char *sd = nv_hub_sent_dir(&h, e);
            if (acked > 0 && (r = nv_sent_prune(sd, acked, &k)) == 0)
                printf("sent/%s: %llu acknowledged bundle(s) removed (acknowledged up to "
                       "seq %llu)\n", e, (unsigned long long)k, (unsigned long long)acked);
            total += k;
            free(sd);
        }
        free(ents[i]);
    }
    free(ents);
    free(sent);
    if (r == 0 && have_days) {
        char *ad = nv_path_join(dir, "archive");
        if ((r = nv_prune_older(ad, nv_now() - (int64_t)days * 86400, &na)) == 0)
            printf("archive/: %llu applied bundle(s) older than %llu day(s) removed (the "
                   "ledger keeps their manifests)\n", (unsigned long long)na,
                   (unsigned long long)days);
        free(ad);
    }
    if (r == 0 && have_rdays) {
        struct nv_retain_stats rs;
        if ((r = nv_hub_retain_received(&h, nv_now() - (int64_t)rdays * 86400, &rs)) == 0)
            printf("received/: %llu payload(s) applied more than %llu day(s) ago merged into "
                   "the base of %llu entit%s (%llu lines kept of %llu, %llu bytes of %llu): "
                   "the last version of each record, which replay needs\n",
                   (unsigned long long)rs.merged, (unsigned long long)rdays,
                   (unsigned long long)rs.entities, rs.entities == 1 ? "y" : "ies",
                   (unsigned long long)rs.lines_out, (unsigned long long)rs.lines_in,
                   (unsigned long long)rs.bytes_out, (unsigned long long)rs.bytes_in);
    }
    nv_hub_close(&h);
    if (r < 0)
        return nv_cli_fail(r);
    printf("%llu bundle(s) removed from sent/\n", (unsigned long long)total);
    return 0;
}

static const struct nv_cmd cmds[] = {
    { "init", cmd_init, "init DIR [--entity NAME]",
      "create the hub's keys (signing, encryption, ledger) and directories" },
    { "enroll", cmd_enroll, "enroll DIR AGENT-IDENTITY.pub [--force]",
      "accept an agent's public identity (a new key needs its .minisig)" },
    { "revoke", cmd_revoke, "revoke DIR ENTITY|KEYID --reason TEXT",
      "refuse every bundle signed by that key (or entity) from now on" },
    { "rotate", cmd_rotate, "rotate DIR",
      "replace the hub's signing and encryption keys" },
    { "keys", cmd_keys, "keys DIR [--json]", "list enrolled keys and their state" },
    { "verify", cmd_verify, "verify DIR [--max-size SIZE] BUNDLE...",
      "check bundles completely without applying them" },
    { "ingest", cmd_ingest, "ingest DIR [--json] [--max-size SIZE] [--settle SECONDS] [BUNDLE...]",
      "apply the bundles of DIR/inbox (or copies of those given), quarantine the refused "
      "once unchanged for --settle seconds (10)" },
    { "run", nv_cmd_run, "run DIR [--rescan SECONDS] [--max-size SIZE] [--settle SECONDS] [--textfile PATH]",
      "watch DIR/inbox (inotify) and ingest bundles as they arrive, until SIGTERM" },
    { "metrics", nv_cmd_metrics, "metrics DIR [--textfile PATH]",
      "the hub's metrics in the Prometheus text format (--textfile: written atomically for node_exporter)" },
    { "expect", nv_cmd_expect, "expect DIR [ENTITY every DURATION | ENTITY none | --alert-hook '/PATH ARG...'|none [--alert-hook-timeout S]] [--author 'Name <email>'] [--message TEXT]",
      "the cadence expected of each entity's flow, versioned in the mapping repository" },
    { "alerts", nv_cmd_alerts, "alerts DIR [--json]",
      "what fires now (late flow, gap, quarantine, review, GDPR deadlines); exit 1 when any" },
    { "dashboard", nv_cmd_dashboard, "dashboard DIR --out FILE.html",
      "one self-contained HTML page: flows, alerts, matching, data quality, GDPR" },
    { "status", nv_cmd_status, "status DIR [--json] [--scan]",
      "streams, entities (mapping, records, rejected and why), gaps, inbox, quarantine "
      "(--scan: count by reading the store, to check its counters)" },
    { "ledger", cmd_ledger, "ledger DIR [--allowed-signers FILE]",
      "show the signed ledger's tip; write the allowed_signers file for git" },
    { "quarantine", cmd_quarantine,
      "quarantine DIR list|show NAME|retry NAME|all|drop NAME|all [--json]",
      "see refused bundles and their reasons; move them back and ingest again, or drop them" },
    { "resend", cmd_resend, "resend DIR ENTITY [--from SEQ]",
      "copy the bundles ENTITY has not acknowledged (sent/ENTITY) back into outbox/ENTITY" },
    { "rebase", nv_cmd_rebase, "rebase DIR ENTITY [--key AGENT-IDENTITY.pub]",
      "a restored, reinstalled or re-keyed agent: a signed, ledgered order opening a new "
      "epoch of its stream at the seq the hub holds; its next pass ships a full snapshot "
      "(--key: enroll its new key first, as enroll --force)" },
    { "prune", cmd_prune, "prune DIR [--archive-days N] [--received-days N]",
      "remove from sent/ what the agents acknowledged (and applied bundles older than N days "
      "from archive/; received/ payloads older than N days merged into the last version of "
      "each record)" },
    { "migrate", nv_cmd_migrate, "migrate DIR [--check]",
      "the store's schema version; without --check, migrate it (any command that opens "
      "the hub does); a store of a newer version is refused (status 37)" },
    { "backup", nv_cmd_backup, "backup DIR DEST",
      "a consistent copy of the hub (store, ledger, mappings, keys, spools) in a new "
      "directory DEST/<hub>-<time>, with the SHA-256 of every file (it holds personal data)" },
    { "restore", nv_cmd_restore, "restore BACKUP DIR",
      "check a backup against its SHA256SUMS and restore it into DIR (new or empty); then "
      "the agents resend what it lacks" },
    { "eval", nv_cmd_eval, "eval DIR TRUTH.csv [--json]",
      "pairwise precision, recall and F1 of the links against a truth (entity,source_key,person)" },
    { "review", nv_cmd_review, "review DIR list|show ID|accept ID|reject ID [--json] [--by NAME] [--why TEXT]",
      "uncertain pairs side by side with each field's level and weight; decide them" },
    { "explain", nv_cmd_explain, "explain DIR RCU|ENTITY:KEY [ENTITY:KEY] [--json] [--why TEXT]",
      "why records are in one cluster, or (two records) why they are or are not one person" },
    { "learn", nv_cmd_learn, "learn DIR [--sample N]",
      "refit the matching weights by EM over the store, with the review decisions as labels" },
    { "relink", nv_cmd_relink, "relink DIR [--dry-run] [--json]",
      "re-resolve every record under the weights and decisions in force, in one "
      "transaction (after learn); --dry-run says what would merge, split and stay" },
    { "model", nv_cmd_model, "model DIR show|export FILE|import FILE|freeze|unfreeze",
      "the matching weights: see them, carry them to another hub, freeze them" },
    { "gdpr", nv_cmd_gdpr,
      "gdpr request DIR erase|access|portability|rectify|restrict|object --email X|--phone X|--rcu R|--record E:K "
      "[--set FIELD=VALUE] [--out FILE] [--format json|csv] [--from FILE] | list DIR [--open|--late|--overdue] | show DIR ID | "
      "extend DIR ID --months N --reason TEXT --told DATE | choose DIR ID RCU | "
      "deliver DIR ID [--out FILE] [--format json|csv] | retry DIR ID [--entity E] | close DIR ID --reason TEXT",
      "the register of data-subject requests: deadlines, orders, receipts, proof" },
    { "show", nv_cmd_show, "show DIR RCU|ENTITY:KEY [--json] [--why TEXT]",
      "a person's golden record: each value with the entity, record and time it came from" },
    { "rules", nv_cmd_rules, "rules set DIR FILE [--author 'Name <email>'] [--message TEXT] | show DIR [--rev REV] | log DIR",
      "the survivorship rules (per-field source priority) in the mapping repository" },
    { "segment", nv_cmd_segment,
      "segment DIR set NAME FILE [--author 'Name <email>'] [--message TEXT] | "
      "segment DIR show NAME [--rev REV] | segment DIR log NAME | segment DIR diff NAME [REV [REV]] | "
      "segment DIR run NAME [--format csv|ndjson] [--fields F,F...] [--rev REV] [--why TEXT] | "
      "segment DIR count NAME [--json] [--rev REV] [--why TEXT]",
      "marketing segments across entities, versioned in DIR/mappings: the people they "
      "reach, with their golden contact fields, without those GDPR and consent keep out" },
    { "accesslog", nv_cmd_accesslog, "accesslog DIR [--json]",
      "every read of personal data: who, when, what, why" },
    { "export", cmd_export, "export DIR records [--format csv|ndjson] [--common] [--marketing] [--entity NAME] [--why TEXT] | export DIR golden [--format csv|ndjson] [--marketing] | export DIR links | export DIR records|links|golden --since CURSOR --out DIR [--format ndjson|csv] [--part-rows N]",
      "write the stored records to stdout: ndjson with source, normalised and original values; CSV of source columns, or --common: the common model" },
    { "mapping", nv_cmd_mapping,
      "mapping set DIR ENTITY FILE [--author 'Name <email>'] [--message TEXT] | "
      "show DIR ENTITY [--rev REV] [--json] | log DIR ENTITY [--json] | "
      "diff DIR ENTITY [REV [REV]] | suggest ENTITY SAMPLE.csv [--encoding ENC]",
      "per-entity mappings to the common model, versioned in DIR/mappings (git)" },
    { "replay", nv_cmd_replay, "replay DIR ENTITY",
      "re-apply an entity's retained bundles under its current mapping" },
    { "push", nv_cmd_push, "push DIR ENTITY DEST",
      "move the bundles waiting for an agent to DEST (a directory, a mounted key, or "
      "user@host:path over rsync/ssh): copied under a temporary name, checked, renamed, "
      "then removed here" },
    { "send", cmd_send, "send DIR ENTITY --kind updates|erasure FILE.ndjson...",
      "seal update records or erasure orders for an agent into DIR/outbox/ENTITY" },
    { NULL, NULL, NULL, NULL },
};

int
main(int argc, char **argv)
{
    nv_hugepages_exec(argv);
    if (sodium_init() < 0) {
        fprintf(stderr, "nova-hub: error: cannot initialise libsodium\n");
        return 3;
    }
    umask(077);
    nv_log_init("nova-hub", NV_LOG_INFO);
    return nv_cli_main("nova-hub",
                       "nova hub: verifies, records and applies bundles from the agents",
                       cmds, argc, argv);
}
