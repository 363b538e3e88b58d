/*
 * cmd_golden.c - `nova-hub show` (a golden record, value by value, with
 * where each came from) and `nova-hub rules set|show|log` (the
 * survivorship rules in the mapping repository).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../formats/cli.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "cmds.h"
#include "../gdpr/gdpr.h"
#include "../golden/golden.h"
#include "../intake/ingest.h"
#include "../link/link.h"
#include "../store/maprepo.h"

/* Spaces that pad UTF-8 text s to width characters (0 when longer). */
static int
pad(const char *s, int width)
{
    int n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n < width ? width - n : 0;
}

int
nv_cmd_person_begin(int argc, char **argv, const char *cmd, struct nv_hub *h, MDB_txn **txn,
                    char *rcu, const char **subject, int *json)
{
    const char *pos[2] = { NULL, NULL }, *why = NULL, *v;
    char what[200];
    int npos = 0, r, rc;

    *json = 0;
    *txn = NULL;
    for (int i = 1; i < argc; i++) {
        if (nv_opt_flag(argv, i, "--json"))
            *json = 1;
        else if (nv_opt_val(argc, argv, &i, "--why", &v))
            why = v;
        else if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else if (npos < 2)
            pos[npos++] = argv[i];
        else
            return nv_cli_usage("too many arguments");
    }
    if (npos != 2 || pos[1][0] == '\0')
        return nv_cli_usage("%s DIR RCU|ENTITY:KEY [--json] [--why TEXT]", cmd);
    *subject = pos[1];
    if ((r = nv_hub_open(h, pos[0])) < 0)
        return nv_cli_fail(r);
    /* every read of personal data is logged first */
    /* a record key is logged as its keyed hash (gdpr.h): it must not
     * outlive the record's erasure in the log */
    {
        const char *colon = strchr(pos[1], ':');
        if (colon != NULL && colon != pos[1] && colon[1] != '\0') {
            char ent[NV_NAME_MAX + 1], hex[33];
            snprintf(ent, sizeof(ent), "%.*s", (int)(colon - pos[1]), pos[1]);
            nv_gdpr_receipt_hash(h->gkey, ent, colon + 1, hex);
            snprintf(what, sizeof(what), "%s %.63s:#%s", cmd, ent, hex);
        } else {
            snprintf(what, sizeof(what), "%s %.120s", cmd, pos[1]);
        }
    }
    if ((r = nv_access_log(pos[0], what, why)) == 0) {
        if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, txn)) != 0) {
            *txn = NULL;
            r = nv_hmdb_fail(rc, "cannot read");
        } else {
            r = nv_link_subject(*txn, h->link, pos[1], rcu);
        }
    }
    if (r < 0) {
        if (*txn != NULL)
            mdb_txn_abort(*txn);
        *txn = NULL;
        nv_hub_close(h);
        return nv_cli_fail(r);
    }
    return 0;
}

/* nova-hub show DIR RCU|ENTITY:KEY [--json] [--why TEXT] */
int
nv_cmd_show(int argc, char **argv)
{
    const char *subject;
    struct nv_hub h;
    MDB_txn *txn;
    char rcu[NV_RCU_LEN + 1];
    json_t *doc = NULL;
    int json, r;

    if ((r = nv_cmd_person_begin(argc, argv, "show", &h, &txn, rcu, &subject, &json)) != 0)
        return r;
    if ((r = nv_golden_show(&h, txn, rcu, &doc)) < 0)
        goto out;
    if (json_array_size(json_object_get(doc, "records")) == 0) {
        r = nv_fail(NV_ENOTFOUND, "RCU %s holds no record (erased, or merged away)", rcu);
        goto out;
    }
    if (json) {
        char *t = json_dumps(doc, JSON_COMPACT);
        printf("%s\n", t ? t : "{}");
        free(t);
    } else {
        json_t *fs = json_object_get(doc, "fields"), *f, *recs = json_object_get(doc, "records");
        const char *name, *rules = json_string_value(json_object_get(doc, "rules"));
        const char *restrict_id =
            json_string_value(json_object_get(json_object_get(doc, "flags"), "restrict"));
        const char *object_id =
            json_string_value(json_object_get(json_object_get(doc, "flags"), "object"));
        size_t i;
        printf("%s  %zu record(s)", rcu, json_array_size(recs));
        if (strcmp(rcu, subject) != 0 && strchr(subject, ':') == NULL)
            printf("  (%s was merged into it)", subject);
        printf("\nsurvivorship rules: %s\n",
               rules ? rules : "none (most recent value, then most complete record)");
        if (restrict_id)
            printf("restricted processing (%s): no update goes out\n", restrict_id);
        if (object_id)
            printf("objection (%s): left out of marketing exports\n", object_id);
        printf("\n%-11s %-34s %s\n", "field", "value", "from");
        json_object_foreach(fs, name, f) {
            const char *val = json_string_value(json_object_get(f, "value"));
            printf("%-11s %s%*s %s:%s  %s\n", name, val, pad(val, 34), "",
                   json_string_value(json_object_get(f, "entity")),
                   json_string_value(json_object_get(f, "key")),
                   json_string_value(json_object_get(f, "time")));
        }
        printf("\nrecords:\n");
        json_array_foreach(recs, i, f)
            printf("  %s:%s  %s\n", json_string_value(json_object_get(f, "entity")),
                   json_string_value(json_object_get(f, "key")),
                   json_string_value(json_object_get(f, "status")));
    }
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    json_decref(doc);
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}

static int
rules_set(const char *dir, const char *file, const char *author, const char *message)
{
    struct nv_hub h;
    struct nv_rules ru;
    struct nv_buf text = NV_BUF_INIT;
    char abuf[512], commit[41];
    const char *aname, *aemail;
    int r;

    if (nv_hub_author(author, abuf, sizeof(abuf), &aname, &aemail) < 0)
        return nv_cli_usage("--author must be 'Name <email>'");
    if ((r = nv_read_file(file, NV_RULES_MAX_TEXT, &text)) < 0)
        return nv_cli_fail(r);
    if ((r = nv_rules_parse((char *)text.data, text.len, &ru)) < 0) {
        fprintf(stderr, "nova-hub: error: '%s' refused: %s\n", file, nv_errmsg(r));
        nv_buf_release(&text);
        return nv_exit_status(r);
    }
    nv_rules_release(&ru);
    if ((r = nv_hub_open(&h, dir)) < 0) {
        nv_buf_release(&text);
        return nv_cli_fail(r);
    }
    {
        /* new rules change every golden record: stamped for the data-lake
         * export first (stamped for nothing if the commit then fails:
         * re-exported, never missed) */
        struct nv_buf cur = NV_BUF_INIT;
        uint64_t n = 0;
        if ((nv_maprepo_get(h.maps, NV_RULES_NAME, NULL, &cur, NULL) < 0 || cur.len != text.len ||
             memcmp(cur.data, text.data, text.len) != 0) &&
            (r = nv_golden_touch_all(&h, &n)) < 0) {
            nv_buf_release(&cur);
            nv_buf_release(&text);
            nv_hub_close(&h);
            return nv_cli_fail(r);
        }
        nv_buf_release(&cur);
    }
    r = nv_maprepo_set(h.maps, NV_RULES_NAME, (char *)text.data, text.len, aname, aemail,
                       message ? message : "survivorship rules", commit);
    if (r == 1) {
        printf("unchanged: the survivorship rules are already this text (commit %.12s)\n",
               commit);
        r = 0;
    } else if (r == 0) {
        /* golden records are computed when read: they follow at once; no
         * update goes out for it */
        printf("survivorship rules committed: %.12s (golden records follow them now)\n",
               commit);
    }
    nv_buf_release(&text);
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}

static int
log_one(void *ctx, const struct nv_maprepo_change *c)
{
    char when[21];

    (void)ctx;
    printf("%.12s  %s  %s\n    %s\n", c->commit, nv_time_format(c->time, when), c->author,
           c->message);
    return 0;
}

/* nova-hub rules set DIR FILE [--author A] [--message M] | show DIR [--rev R] | log DIR */
int
nv_cmd_rules(int argc, char **argv)
{
    const char *pos[3] = { NULL }, *author = NULL, *message = NULL, *rev = NULL, *v;
    int npos = 0, r;
    struct nv_hub h;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--author", &v))
            author = v;
        else if (nv_opt_val(argc, argv, &i, "--message", &v))
            message = v;
        else if (nv_opt_val(argc, argv, &i, "--rev", &v))
            rev = v;
        else if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else if (npos < 3)
            pos[npos++] = argv[i];
        else
            return nv_cli_usage("too many arguments");
    }
    if (npos >= 1 && strcmp(pos[0], "set") == 0) {
        if (npos != 3)
            return nv_cli_usage("rules set DIR FILE [--author 'Name <email>'] [--message TEXT]");
        return rules_set(pos[1], pos[2], author, message);
    }
    if (npos != 2 || (strcmp(pos[0], "show") != 0 && strcmp(pos[0], "log") != 0))
        return nv_cli_usage("rules set DIR FILE | rules show DIR [--rev REV] | rules log DIR");
    if ((r = nv_hub_open(&h, pos[1])) < 0)
        return nv_cli_fail(r);
    if (pos[0][0] == 's') {
        struct nv_buf text = NV_BUF_INIT;
        char commit[41];
        r = nv_maprepo_get(h.maps, NV_RULES_NAME, rev, &text, commit);
        if (r == 0)
            printf("# commit %.12s\n%.*s", commit, (int)text.len, (char *)text.data);
        nv_buf_release(&text);
    } else {
        r = nv_maprepo_log(h.maps, NV_RULES_NAME, log_one, NULL);
    }
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}
