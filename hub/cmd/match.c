/*
 * cmd_match.c - the matching commands: `export links`, `eval`, `review`,
 * `explain`, `learn`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../../formats/cli.h"
#include "../../formats/progress.h"
#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/util.h"
#include "cmds.h"
#include "../match/eval.h"
#include "../intake/ingest.h"
#include "../gdpr/gdpr.h"
#include "../link/link.h"
#include "../ops/ops.h"

static const char *status_names[] = { "new", "linked", "review" };

/* Call fn for every linked record. */
static int
each_link(struct nv_hub *h, MDB_txn *txn,
          int (*fn)(void *ctx, const char *entity, const char *source, const char *key,
                    const struct nv_link_val *lv),
          void *ctx)
{
    MDB_cursor *c;
    MDB_val k, v;
    char kb[520];
    int rc, r = 0;

    if ((rc = mdb_cursor_open(txn, h->link->links, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read links");
    while (r == 0 && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        struct nv_link_val lv;
        const char *e, *s, *key;
        if (k.mv_size >= sizeof(kb) || v.mv_size != sizeof(lv))
            continue;
        memcpy(kb, k.mv_data, k.mv_size);
        kb[k.mv_size] = '\0';
        memcpy(&lv, v.mv_data, sizeof(lv));
        lv.rcu[15] = '\0';
        if (nv_hstore_key_split(kb, k.mv_size, &e, &s, &key) < 0)
            continue;
        r = fn(ctx, e, s, key, &lv);
    }
    mdb_cursor_close(c);
    return r;
}

struct csv_out {
    struct nv_buf line;
    uint64_t n;
};

static int
write_link(void *ctx, const char *e, const char *s, const char *key,
           const struct nv_link_val *lv)
{
    struct csv_out *o = ctx;
    struct nv_csv_dialect d = { ',', '"', 1, NV_ENC_UTF8 };
    const char *row[4] = { e, key, lv->rcu, status_names[lv->status % 3] };
    int r;

    (void)s;
    nv_buf_reset(&o->line);
    if ((r = nv_csv_write_row(&o->line, &d, row, 4)) < 0)
        return r;
    fwrite(o->line.data, 1, o->line.len, stdout);
    o->n++;
    return 0;
}

int
nv_export_links(struct nv_hub *h)
{
    struct csv_out o = { NV_BUF_INIT, 0 };
    MDB_txn *txn;
    int rc, r;

    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    printf("entity,source_key,rcu_id,status\n");
    r = each_link(h, txn, write_link, &o);
    mdb_txn_abort(txn);
    fflush(stdout);
    fprintf(stderr, "nova-hub: exported %llu link(s)\n", (unsigned long long)o.n);
    nv_buf_release(&o.line);
    return r;
}

/* ---- eval ---- */

struct links_mem {
    struct nv_eval_link *v;
    size_t n, cap;
    struct nv_buf strings;
    size_t *off; /* 4 per link: offsets into strings */
};

static int
keep_link(void *ctx, const char *e, const char *s, const char *key,
          const struct nv_link_val *lv)
{
    struct links_mem *m = ctx;
    const char *parts[4] = { e, key, lv->rcu, status_names[lv->status % 3] };
    int r;

    (void)s;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 4096;
        if ((m->v = realloc(m->v, m->cap * sizeof(*m->v))) == NULL ||
            (m->off = realloc(m->off, 4 * m->cap * sizeof(size_t))) == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
    }
    for (int i = 0; i < 4; i++) {
        m->off[4 * m->n + (size_t)i] = m->strings.len;
        if ((r = nv_buf_add(&m->strings, parts[i], strlen(parts[i]) + 1)) < 0)
            return r;
    }
    m->n++;
    return 0;
}

/* Read the truth CSV (entity,source_key,person) into arrays. */
static int
read_truth(const char *path, struct nv_eval_truth **out, size_t *n, struct nv_buf *strings,
           size_t **offs)
{
    struct nv_csv_dialect d = { ',', '"', 1, NV_ENC_UTF8 };
    struct nv_csv *csv = NULL;
    const struct nv_csv_row *row, *hdr;
    int fd = nv_open_read(path), r, col[3] = { -1, -1, -1 };
    static const char *names[3] = { "entity", "source_key", "person" };
    size_t cap = 0;

    *out = NULL;
    *n = 0;
    *offs = NULL;
    if (fd < 0)
        return fd;
    if ((r = nv_csv_open(&csv, fd, &d, 0, 0)) < 0)
        goto out;
    hdr = nv_csv_header(csv);
    for (size_t i = 0; i < hdr->n; i++)
        for (int j = 0; j < 3; j++)
            if (strcmp(hdr->field[i], names[j]) == 0)
                col[j] = (int)i;
    for (int j = 0; j < 3; j++)
        if (col[j] < 0) {
            r = nv_fail(NV_EFORMAT, "'%s': no column '%s' (want entity,source_key,person)",
                        path, names[j]);
            goto out;
        }
    while ((r = nv_csv_next(csv, &row)) != 0) {
        if (r < 0) {
            r = nv_fail(NV_EFORMAT, "'%s' line %llu: %s", path,
                        (unsigned long long)nv_csv_reject_line(csv), nv_errmsg(r));
            goto out;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 4096;
            if ((*offs = realloc(*offs, 3 * cap * sizeof(size_t))) == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                goto out;
            }
        }
        for (int j = 0; j < 3; j++) {
            (*offs)[3 * *n + (size_t)j] = strings->len;
            if ((r = nv_buf_add(strings, row->field[col[j]], row->len[col[j]] + 1)) < 0)
                goto out;
        }
        (*n)++;
    }
    if ((*out = calloc(*n ? *n : 1, sizeof(**out))) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < *n; i++) {
        (*out)[i].entity = (char *)strings->data + (*offs)[3 * i];
        (*out)[i].source_key = (char *)strings->data + (*offs)[3 * i + 1];
        (*out)[i].person = (char *)strings->data + (*offs)[3 * i + 2];
    }
    r = 0;
out:
    nv_csv_free(csv);
    close(fd);
    return r;
}

int
nv_cmd_eval(int argc, char **argv)
{
    const char *pos[2] = { NULL, NULL };
    struct links_mem lm = { NULL, 0, 0, NV_BUF_INIT, NULL };
    struct nv_eval_truth *truth = NULL;
    struct nv_eval_result res;
    struct nv_buf ts = NV_BUF_INIT, out = NV_BUF_INIT;
    size_t nt = 0, *toff = NULL;
    struct nv_hub h;
    MDB_txn *txn;
    int json = 0, r, rc;

    if ((r = nv_cli_args(argc, argv, "--json", &json, pos, 2)) != 0)
        return r;
    if (pos[1] == NULL)
        return nv_cli_usage("DIR and TRUTH.csv are required");
    if ((r = read_truth(pos[1], &truth, &nt, &ts, &toff)) < 0)
        return nv_cli_fail(r);
    if ((r = nv_hub_open(&h, pos[0])) < 0)
        goto out;
    if ((rc = mdb_txn_begin(h.store.env, NULL, MDB_RDONLY, &txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot read");
        nv_hub_close(&h);
        goto out;
    }
    r = each_link(&h, txn, keep_link, &lm);
    mdb_txn_abort(txn);
    nv_hub_close(&h);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < lm.n; i++) {
        lm.v[i].entity = (char *)lm.strings.data + lm.off[4 * i];
        lm.v[i].source_key = (char *)lm.strings.data + lm.off[4 * i + 1];
        lm.v[i].rcu_id = (char *)lm.strings.data + lm.off[4 * i + 2];
        lm.v[i].status = (char *)lm.strings.data + lm.off[4 * i + 3];
    }
    if ((r = nv_eval_compute(lm.v, lm.n, truth, nt, &res)) < 0 ||
        (r = nv_eval_format(&res, json, &out)) < 0)
        goto out;
    fwrite(out.data, 1, out.len, stdout);
out:
    free(lm.v);
    free(lm.off);
    nv_buf_release(&lm.strings);
    free(truth);
    free(toff);
    nv_buf_release(&ts);
    nv_buf_release(&out);
    return r < 0 ? nv_cli_fail(r) : 0;
}

/* ---- review, explain, learn ---- */

/* The displayed values of a match record: from its mrec (normalised). */
struct shown {
    struct nv_buf key;
    struct match_rec rec;
    const char *val[MATCH_NFIELDS];
    const char *birth; /* the birth name, "" when none */
    struct nv_buf raw, addr;
};

static int
load_shown(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid, struct shown *s)
{
    uint8_t kb[8];
    MDB_val k = { 8, kb }, v;
    const char *p, *e;
    size_t kl;
    const char *vals[14];
    int r;

    memset(s, 0, sizeof(*s));
    for (int i = 7, x = 0; i >= 0; i--, x++)
        kb[i] = (uint8_t)(rid >> (8 * x));
    if ((r = nv_link_load(txn, db, rid, &s->rec, &s->key)) < 0)
        return r;
    if (mdb_get(txn, db->mrec, &k, &v) != 0 || v.mv_size < 2)
        return nv_fail(NV_ECORRUPT, "hub store: a match record vanished");
    if ((r = nv_buf_add(&s->raw, v.mv_data, v.mv_size)) < 0)
        return r;
    p = (const char *)s->raw.data;
    e = p + s->raw.len;
    kl = (size_t)((unsigned char)p[0] << 8 | (unsigned char)p[1]);
    p += 2 + kl;
    for (int i = 0; i < 14 && p < e; i++) {
        vals[i] = p;
        p += strlen(p) + 1;
    }
    s->val[MATCH_F_FIRST] = vals[0];
    s->val[MATCH_F_LAST] = vals[1];
    s->birth = vals[2];
    s->val[MATCH_F_EMAIL] = vals[3];
    s->val[MATCH_F_PHONE] = vals[6];
    s->val[MATCH_F_BIRTH_DATE] = vals[12];
    s->val[MATCH_F_NATIONAL_ID] = vals[13];
    /* the address: street, postcode, city */
    for (int i = 11, first = 1; i >= 9; i = i == 11 ? 9 : i + 1) {
        if (vals[i][0] != '\0') {
            if ((!first && nv_buf_adds(&s->addr, " ") < 0) || nv_buf_adds(&s->addr, vals[i]) < 0)
                return nv_fail(NV_ENOMEM, "out of memory");
            first = 0;
        }
        if (i == 10)
            break;
    }
    s->val[MATCH_F_ADDRESS] = s->addr.data ? (const char *)s->addr.data : "";
    return 0;
}

static void
free_shown(struct shown *s)
{
    match_rec_release(&s->rec);
    nv_buf_release(&s->key);
    nv_buf_release(&s->raw);
    nv_buf_release(&s->addr);
}

static void
label_of(const struct nv_buf *k, char *out, size_t n)
{
    const char *e, *s, *key;

    if (nv_hstore_key_split((const char *)k->data, k->len, &e, &s, &key) < 0)
        snprintf(out, n, "?");
    else
        snprintf(out, n, "%s:%s", e, key);
}

/* One pair side by side: every field's level and weight, and the score. */
static json_t *
pair_json(MDB_txn *txn, const struct nv_link_db *db, const struct match_model *mo,
          uint64_t a, uint64_t b, int *err)
{
    struct shown sa, sb;
    struct match_cmp cmp;
    json_t *o = NULL, *fields;
    char la[600], lb[600];
    double score, prior, w[MATCH_NFIELDS], tf[MATCH_NFIELDS];

    *err = 0;
    if ((*err = load_shown(txn, db, a, &sa)) < 0)
        return NULL;
    if ((*err = load_shown(txn, db, b, &sb)) < 0) {
        free_shown(&sa);
        return NULL;
    }
    match_compare(&sa.rec, &sb.rec, &cmp);
    score = match_score_parts(mo, &sa.rec, &sb.rec, &cmp, &prior, w, tf);
    label_of(&sa.key, la, sizeof(la));
    label_of(&sb.key, lb, sizeof(lb));
    fields = json_array();
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        int l = cmp.level[f];
        const char *rule = match_cmp_rule(&cmp, f);
        const char *va = sa.val[f] ? sa.val[f] : "", *vb = sb.val[f] ? sb.val[f] : "";
        char ma[300], mb[300];
        /* a married name: the names the rule compared */
        if (f == MATCH_F_LAST && (cmp.flags & MATCH_CMP_MARRIED)) {
            snprintf(ma, sizeof(ma), "%s%s%s%s", va, sa.birth[0] ? " (born " : "", sa.birth,
                     sa.birth[0] ? ")" : "");
            snprintf(mb, sizeof(mb), "%s%s%s%s", vb, sb.birth[0] ? " (born " : "", sb.birth,
                     sb.birth[0] ? ")" : "");
            va = ma;
            vb = mb;
        }
        json_array_append_new(fields, json_pack("{s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:s?}", "field",
                                                match_field_name(f), "a", va, "b", vb, "level",
                                                match_level_name(l), "weight", w[f], "tf", tf[f],
                                                "total", w[f] + tf[f], "rule", rule));
    }
    o = json_pack("{s:s,s:s,s:s,s:f,s:f,s:o,s:{s:b,s:b,s:b,s:b,s:b,s:b,s:b},s:b,s:s?}", "id", "",
                  "a", la, "b", lb, "score", score, "prior", prior, "fields", fields, "flags",
                  "swapped", (cmp.flags & MATCH_CMP_SWAPPED) != 0, "married",
                  (cmp.flags & MATCH_CMP_MARRIED) != 0, "nickname",
                  (cmp.flags & MATCH_CMP_NICKNAME) != 0, "role_email",
                  (cmp.flags & MATCH_CMP_ROLE_EMAIL) != 0, "name_email",
                  (cmp.flags & MATCH_CMP_NAME_EMAIL) != 0, "initial",
                  (cmp.flags & MATCH_CMP_INITIAL) != 0, "mobile",
                  (cmp.flags & MATCH_CMP_MOBILE) != 0, "contradicted",
                  match_cmp_contradicted(&cmp, match_model_rules(mo, MATCH_RULES_DEFAULT)) != 0,
                  "contradiction",
                  match_cmp_contradiction(&cmp, match_model_rules(mo, MATCH_RULES_DEFAULT)));
    {
        char id[48];
        snprintf(id, sizeof(id), "%llu-%llu", (unsigned long long)a, (unsigned long long)b);
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "liftable",
                            json_boolean(match_cmp_liftable(
                                &cmp, match_model_rules(mo, MATCH_RULES_DEFAULT))));
    }
    free_shown(&sa);
    free_shown(&sb);
    return o;
}

static void
print_pair(json_t *p, int json)
{
    size_t i;
    json_t *f;

    if (json) {
        char *t = json_dumps(p, JSON_COMPACT);
        if (t != NULL)
            printf("%s\n", t);
        free(t);
        return;
    }
    /* a contradicted pair in one RCU: the rule set aside, or a decision */
    if (json_is_true(json_object_get(p, "contradicted")) &&
        json_is_true(json_object_get(p, "same_rcu"))) {
        printf("pair %s  score %+.2f bits  (in one RCU although %s: %s)\n",
               json_string_value(json_object_get(p, "id")),
               json_real_value(json_object_get(p, "score")),
               json_string_value(json_object_get(p, "contradiction")) ?: "a rule applies",
               json_is_true(json_object_get(p, "liftable"))
                   ? "set aside, nobody near could be the short form"
                   : "a review decision joined them");
    } else
    printf("pair %s  score %+.2f bits%s%s%s\n", json_string_value(json_object_get(p, "id")),
           json_real_value(json_object_get(p, "score")),
           json_is_true(json_object_get(p, "contradicted"))
               ? "  (kept apart unless decided: " : "",
           json_is_true(json_object_get(p, "contradicted"))
               ? (json_string_value(json_object_get(p, "contradiction")) ?: "a rule")
               : "",
           json_is_true(json_object_get(p, "contradicted")) ? ")" : "");
    printf("  %-12s %-30s %-30s %-9s %7s %6s %7s\n", "field",
           json_string_value(json_object_get(p, "a")),
           json_string_value(json_object_get(p, "b")), "level", "weight", "tf", "sum");
    printf("  %-12s %-30s %-30s %-9s %7s %6s %+7.2f  (chance two records are one person, "
           "before looking)\n", "prior", "", "", "", "", "",
           json_real_value(json_object_get(p, "prior")));
    json_array_foreach(json_object_get(p, "fields"), i, f) {
        const char *rule = json_string_value(json_object_get(f, "rule"));
        double tf = json_real_value(json_object_get(f, "tf"));
        char tfs[16] = "";
        if (tf != 0)
            snprintf(tfs, sizeof(tfs), "%+6.2f", tf);
        printf("  %-12s %-30.30s %-30.30s %-9s %+7.2f %6s %+7.2f%s%s\n",
               json_string_value(json_object_get(f, "field")),
               json_string_value(json_object_get(f, "a")),
               json_string_value(json_object_get(f, "b")),
               json_string_value(json_object_get(f, "level")),
               json_real_value(json_object_get(f, "weight")), tfs,
               json_real_value(json_object_get(f, "total")), rule ? "  " : "", rule ? rule : "");
    }
    printf("  %-12s %-30s %-30s %-9s %7s %6s %+7.2f\n", "= score", "", "", "", "", "",
           json_real_value(json_object_get(p, "score")));
}

static int
parse_pair_id(const char *s, uint64_t *a, uint64_t *b)
{
    char *end;

    *a = strtoull(s, &end, 10);
    if (*end != '-' || *a == 0)
        return -1;
    *b = strtoull(end + 1, &end, 10);
    return *end == '\0' && *b != 0 ? 0 : -1;
}

static const char *why_opt(int argc, char **argv);

/* Accept (accept != 0) or reject the open review pair a-b (id as the user
 * wrote it, for the message), recording who decided, in one write
 * transaction.  0 or an NV_E code (NV_ENOTFOUND: no such open pair). */
static int
review_decide(struct nv_hub *h, uint64_t a, uint64_t b, const char *id, int accept,
              const char *who)
{
    MDB_txn *txn = NULL;
    uint8_t kb[16];
    MDB_val k = { 16, kb }, d;
    int r, rc;

    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot write");
    for (int i = 0; i < 8; i++) {
        kb[i] = (uint8_t)(a >> (56 - 8 * i));
        kb[8 + i] = (uint8_t)(b >> (56 - 8 * i));
    }
    if (mdb_get(txn, h->link->review, &k, &d) != 0) {
        r = nv_fail(NV_ENOTFOUND, "no open review pair '%s' (decided already, or the "
                    "records changed since: see review list)", id);
        goto out;
    }
    if ((r = nv_link_decide(txn, h->link, a, b, accept, who)) < 0)
        goto out;
    r = nv_hmdb_commit(&txn);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    return r;
}

/* The open review pairs in txn, each once, the first limit of them printed
 * (print_pair), then their count in text.  0 or an NV_E code. */
static int
review_list(struct nv_hub *h, MDB_txn *txn, const struct match_model *mo,
            unsigned long limit, int json)
{
    struct nv_review_item *q;
    size_t n, shown = 0;
    int r;

    /* the pairs whose decision is worth most first (nv_link_review_queue) */
    if ((r = nv_link_review_queue(txn, h->link, &q, &n)) < 0)
        return r;
    for (size_t i = 0; i < n && shown < limit; i++) {
        json_t *p;
        if ((p = pair_json(txn, h->link, mo, q[i].a, q[i].b, &r)) == NULL)
            break;
        json_object_set_new(p, "p", json_real(q[i].p));
        json_object_set_new(p, "moves", json_integer(q[i].moves));
        json_object_set_new(p, "value", json_real(q[i].value));
        print_pair(p, json);
        if (!json)
            printf("\n");
        json_decref(p);
        shown++;
    }
    free(q);
    if (!json && r == 0)
        printf("%zu pair(s) to review, the most valuable decision first (chance of one "
               "person x (1 - it) x records the decision moves)%s\n", n,
               n > shown ? " (--limit to see more)" : "");
    return r;
}

/* review list or show ID (in pos[1], pos[2]), after logging the access:
 * reads the model and the pairs in one read transaction.  0 or an NV_E
 * code. */
static int
review_read(struct nv_hub *h, const char **pos, int npos, unsigned long limit, int json,
            const char *why)
{
    struct match_model mo;
    MDB_txn *txn = NULL;
    char what[96];
    int r, rc;

    snprintf(what, sizeof(what), "review %s%s%.40s", pos[1], npos == 3 ? " " : "",
             npos == 3 ? pos[2] : "");
    if ((r = nv_access_log(pos[0], what, why)) < 0)
        return r;
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    if ((r = nv_link_model(txn, h->link, &mo)) < 0)
        goto out;
    if (strcmp(pos[1], "show") == 0) {
        uint64_t a, b;
        json_t *p;
        if (parse_pair_id(pos[2], &a, &b) < 0) {
            r = nv_fail(NV_EINVAL, "'%s' is not a pair id (like 12-345)", pos[2]);
            goto out;
        }
        if ((p = pair_json(txn, h->link, &mo, a, b, &r)) == NULL)
            goto out;
        print_pair(p, json);
        json_decref(p);
    } else {
        r = review_list(h, txn, &mo, limit, json);
    }
out:
    mdb_txn_abort(txn);
    return r;
}

int
nv_cmd_review(int argc, char **argv)
{
    const char *pos[3] = { NULL, NULL, NULL }, *by = NULL, *v;
    struct nv_hub h;
    int json = 0, r = 0, npos = 0;
    unsigned long limit = 50;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_flag(argv, i, "--json")) {
            json = 1;
        } else if (nv_opt_val(argc, argv, &i, "--by", &v)) {
            if ((by = v) == NULL)
                return nv_cli_usage("--by needs a name");
        } else if (nv_opt_val(argc, argv, &i, "--why", &v)) {
            (void)v;
        } else if (nv_opt_val(argc, argv, &i, "--limit", &v)) {
            char *end;
            if (v == NULL || (limit = strtoul(v, &end, 10)) == 0 || *end != '\0')
                return nv_cli_usage("--limit needs a positive number");
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (npos == 3) {
            return nv_cli_usage("too many arguments");
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (npos < 2)
        return nv_cli_usage("review DIR list|show ID|accept ID|reject ID");
    if (strcmp(pos[1], "list") != 0 && npos != 3)
        return nv_cli_usage("review DIR %s ID (an id from review list)", pos[1]);
    if (strcmp(pos[1], "list") && strcmp(pos[1], "show") && strcmp(pos[1], "accept") &&
        strcmp(pos[1], "reject"))
        return nv_cli_usage("unknown action '%s' (list, show, accept, reject)", pos[1]);
    if ((r = nv_hub_open(&h, pos[0])) < 0)
        return nv_cli_fail(r);
    if (strcmp(pos[1], "accept") == 0 || strcmp(pos[1], "reject") == 0) {
        uint64_t a, b;
        char who[128];
        if (parse_pair_id(pos[2], &a, &b) < 0) {
            nv_hub_close(&h);
            return nv_cli_usage("'%s' is not a pair id (like 12-345)", pos[2]);
        }
        if (by == NULL) {
            const char *u = getenv("NOVA_USER") ? getenv("NOVA_USER") : getenv("USER");
            by = u ? u : "operator";
        }
        snprintf(who, sizeof(who), "%s", by);
        if ((r = review_decide(&h, a, b, pos[2], pos[1][0] == 'a', who)) >= 0)
            printf("%s %s: %s, and the weights learn from it\n",
                   pos[1][0] == 'a' ? "accepted" : "rejected", pos[2],
                   pos[1][0] == 'a' ? "the two records now share one RCU"
                                    : "the two records stay apart for good");
    } else {
        r = review_read(&h, pos, npos, limit, json, why_opt(argc, argv));
    }
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}

/* ---- explain, learn ---- */

static const char *why_opt(int argc, char **argv);

struct rids {
    uint64_t *v;
    size_t n, cap;
};

static int
rid_add(void *ctx, uint64_t rid, const char *key, size_t keylen)
{
    struct rids *rs = ctx;

    (void)key;
    (void)keylen;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 8;
        if ((rs->v = realloc(rs->v, rs->cap * sizeof(uint64_t))) == NULL)
            abort();
    }
    rs->v[rs->n++] = rid;
    return 0;
}

/* explain DIR A B with A and B ENTITY:KEY (argv[second] is B): the pair's
 * waterfall under the model in force, and what the hub made of it.  The
 * access log gets both records (person_begin logs A; B is logged here). */
static int
explain_pair(int argc, char **argv, int second)
{
    const char *subject, *other = argv[second];
    struct nv_hub h;
    struct match_model mo;
    MDB_txn *txn;
    char rcu[NV_RCU_LEN + 1], rcu2[NV_RCU_LEN + 1], *av[16];
    uint64_t a = 0, b = 0;
    int json, r, ac = 0;
    json_t *p = NULL;

    if (argc > 16)
        return nv_cli_usage("too many arguments");
    for (int i = 0; i < argc; i++)
        if (i != second)
            av[ac++] = argv[i];
    if (strchr(other, ':') == NULL)
        return nv_cli_usage("explain DIR ENTITY:KEY ENTITY:KEY: '%s' is not ENTITY:KEY", other);
    if ((r = nv_cmd_person_begin(ac, av, "explain", &h, &txn, rcu, &subject, &json)) != 0)
        return r;
    if (strchr(subject, ':') == NULL) {
        r = nv_fail(NV_EINVAL, "explain DIR ENTITY:KEY ENTITY:KEY: '%.80s' is not ENTITY:KEY",
                    subject);
        goto out;
    }
    {
        const char *colon = strchr(other, ':');
        char ent[NV_NAME_MAX + 1], hex[33], what[200];
        snprintf(ent, sizeof(ent), "%.*s", (int)(colon - other), other);
        nv_gdpr_receipt_hash(h.gkey, ent, colon + 1, hex);
        snprintf(what, sizeof(what), "explain %.63s:#%s", ent, hex);
        if ((r = nv_access_log(av[1], what, why_opt(argc, argv))) < 0)
            goto out;
    }
    if ((r = nv_link_subject_rid(txn, h.link, subject, rcu, &a)) < 0 ||
        (r = nv_link_subject_rid(txn, h.link, other, rcu2, &b)) < 0 ||
        (r = nv_link_model(txn, h.link, &mo)) < 0)
        goto out;
    if (a == b) {
        r = nv_fail(NV_EINVAL, "'%.80s' and '%.80s' are the same record", subject, other);
        goto out;
    }
    if ((p = pair_json(txn, h.link, &mo, a < b ? a : b, a < b ? b : a, &r)) == NULL)
        goto out;
    {
        double sc = json_real_value(json_object_get(p, "score"));
        int same = strcmp(rcu, rcu2) == 0, contra = json_is_true(json_object_get(p, "contradicted"));
        const char *alone = contra ? (sc >= mo.link ? "above the link threshold, but a rule "
                                                      "sends the pair to review"
                                                    : "kept apart by a rule")
                            : sc >= mo.link   ? "above the link threshold"
                            : sc >= mo.review ? "in the review band"
                                              : "below the review threshold";
        json_object_set_new(p, "same_rcu", json_boolean(same));
        json_object_set_new(p, "rcu_a", json_string(a < b ? rcu : rcu2));
        json_object_set_new(p, "rcu_b", json_string(a < b ? rcu2 : rcu));
        json_object_set_new(p, "threshold_link", json_real(mo.link));
        json_object_set_new(p, "threshold_review", json_real(mo.review));
        print_pair(p, json);
        if (!json) {
            printf("\nthis score is %s (link from %.1f bits, review from %.1f)\n", alone,
                   mo.link, mo.review);
            if (same)
                printf("both records are in RCU %s\n", rcu);
            else
                printf("the records are in two RCUs: %s and %s\n", rcu, rcu2);
        }
    }
    r = 0;
out:
    json_decref(p);
    if (txn != NULL)
        mdb_txn_abort(txn);
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}

int
nv_cmd_explain(int argc, char **argv)
{
    const char *subject;
    struct nv_hub h;
    struct match_model mo;
    MDB_txn *txn;
    char rcu[NV_RCU_LEN + 1];
    uint64_t *m = NULL;
    size_t n = 0;
    int json, r;
    json_t *out = NULL, *pairs;

    /* explain DIR ENTITY:KEY ENTITY:KEY: one pair, linked or not */
    {
        int npos = 0, second = 0;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--why") == 0)
                i++;
            else if (argv[i][0] != '-' && ++npos == 3)
                second = i;
        }
        if (second != 0 && npos == 3)
            return explain_pair(argc, argv, second);
    }
    if ((r = nv_cmd_person_begin(argc, argv, "explain", &h, &txn, rcu, &subject, &json)) != 0)
        return r;
    if ((r = nv_link_model(txn, h.link, &mo)) < 0)
        goto out;
    {
        struct rids rs = { NULL, 0, 0 };
        if ((r = nv_link_members(txn, h.link, rcu, rid_add, &rs)) < 0) {
            free(rs.v);
            goto out;
        }
        m = rs.v;
        n = rs.n;
    }
    if (n == 0) {
        r = nv_fail(NV_ENOTFOUND, "no RCU '%s'", subject);
        goto out;
    }
    out = json_pack("{s:s,s:s,s:[],s:[]}", "rcu", rcu, "asked", subject, "members", "pairs");
    pairs = json_object_get(out, "pairs");
    for (size_t i = 0; i < n; i++) {
        struct nv_buf key = NV_BUF_INIT;
        struct match_rec mr;
        char label[600];
        if (nv_link_load(txn, h.link, m[i], &mr, &key) == 0) {
            match_rec_release(&mr);
            label_of(&key, label, sizeof(label));
            json_array_append_new(json_object_get(out, "members"), json_string(label));
        }
        nv_buf_release(&key);
    }
    /* each member against the others (at most the first 20) */
    for (size_t i = 0; i < n && i < 20; i++)
        for (size_t j = i + 1; j < n && j < 20; j++) {
            json_t *p = pair_json(txn, h.link, &mo, m[i], m[j], &r);
            if (p == NULL)
                goto out;
            json_object_set_new(p, "same_rcu", json_true());
            json_array_append_new(pairs, p);
        }
    if (json) {
        char *t = json_dumps(out, JSON_COMPACT);
        printf("%s\n", t ? t : "{}");
        free(t);
    } else {
        size_t i;
        json_t *x;
        printf("%s: %zu record(s)\n", rcu, n);
        json_array_foreach(json_object_get(out, "members"), i, x)
            printf("  %s\n", json_string_value(x));
        if (strcmp(rcu, subject) != 0 && strchr(subject, ':') == NULL)
            printf("  (%s was merged into %s and still resolves to it)\n", subject, rcu);
        json_array_foreach(pairs, i, x) {
            printf("\n");
            print_pair(x, 0);
        }
        if (n == 1)
            printf("\nnot linked to any other record: no candidate scored above the "
                   "link threshold (%.1f bits)\n", mo.link);
    }
    r = 0;
out:
    (void)why_opt;
    json_decref(out);
    free(m);
    if (txn != NULL)
        mdb_txn_abort(txn);
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}

static const char *
why_opt(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--why") == 0)
            return argv[i + 1];
    return NULL;
}

static void print_weights(const struct match_model *mo);

static void print_weights(const struct match_model *mo);

/* What learn did: the fit, what the labels moved, the cross-validation
 * against the team's decisions, and whether the new weights were kept. */
static void
print_learn(const struct match_model *mo, const struct nv_learn_report *rep)
{
    int moved = 0;

    if (rep->kept_old)
        printf("weights NOT changed: refitted by EM with the %zu review decisions as labels, "
               "the new weights agree with %zu of them (each judged by weights fitted "
               "without it, %zu folds) where the weights in force agree with %zu; the "
               "weights in force are kept\n", rep->decisions, rep->agree_new, rep->folds,
               rep->agree_old);
    else
        printf("weights refitted by EM (%u iterations over %.0f candidate pairs), with %zu "
               "review decisions as labels\n", mo->em_iterations, mo->em_pairs,
               rep->decisions);
    if (!rep->kept_old && rep->folds > 0)
        printf("the team's decisions: the new weights agree with %zu of %zu (each judged by "
               "weights fitted without it, %zu folds); the previous weights agreed with %zu\n",
               rep->agree_new, rep->decisions, rep->folds, rep->agree_old);
    else if (!rep->kept_old && rep->decisions > 0)
        printf("too few decisions (%zu) to judge the new weights on them; the previous "
               "weights agreed with %zu\n", rep->decisions, rep->agree_old);
    print_weights(mo);
    if (rep->decisions > 0 && !rep->kept_old) {
        printf("what the labels changed (bits, against the same fit without them):\n");
        for (int f = 0; f < MATCH_NFIELDS; f++)
            for (int l = 0; l < MATCH_NLEVELS; l++) {
                double d = mo->weight[f][l] - rep->nolabels.weight[f][l];
                if (fabs(d) >= 0.05) {
                    printf("  %-12s %-9s %+6.2f -> %+6.2f\n", match_field_name(f),
                           match_level_name(l), rep->nolabels.weight[f][l], mo->weight[f][l]);
                    moved++;
                }
            }
        if (moved == 0)
            printf("  nothing: the decisions agree with what the unlabelled pairs show\n");
    }
    if (!rep->kept_old)
        printf("run 'nova-hub relink DIR' to re-resolve the records already linked under the "
               "new weights ('--dry-run' first to see what would change)\n");
}

int
nv_cmd_learn(int argc, char **argv)
{
    static const char need[] = "--sample needs a number of records";
    const char *dir = NULL, *v = NULL;
    unsigned long sample = 200000;
    struct nv_hub h;
    struct match_model mo;
    struct nv_learn_report rep;
    MDB_txn *txn;
    MDB_stat ms;
    int r, rc;

    if ((r = nv_cli_pos_opt(argc, argv, "--sample", need, &v, &dir, 1)) != 0)
        return r;
    if (v != NULL) {
        char *end;
        if ((sample = strtoul(v, &end, 10)) == 0 || *end)
            return nv_cli_usage("%s", need);
    }
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    if ((rc = mdb_txn_begin(h.store.env, NULL, 0, &txn)) != 0) {
        nv_hub_close(&h);
        return nv_cli_fail(nv_hmdb_fail(rc, "cannot write"));
    }
    nv_progress_begin("learn", "records");
    if (mdb_stat(txn, h.link->mrec, &ms) != 0)
        ms.ms_entries = 0;
    r = nv_link_learn(txn, h.link, sample, &mo, &rep);
    if (r == 0 && (rc = mdb_txn_commit(txn)) != 0)
        r = nv_hmdb_fail(rc, "cannot commit");
    else if (r < 0)
        mdb_txn_abort(txn);
    nv_progress_end(ms.ms_entries, "%s", r < 0 ? "stopped" : rep.kept_old ? "the weights in force stay"
                                                           : "new weights fitted");
    if (r == 0)
        print_learn(&mo, &rep);
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}

static void
print_weights(const struct match_model *mo)
{
    printf("  %-12s %9s %9s %9s %9s   (log2 m/u, bits)\n", "field", "exact", "close",
           "partial", "different");
    for (int f = 0; f < MATCH_NFIELDS; f++)
        printf("  %-12s %+9.2f %+9.2f %+9.2f %+9.2f\n", match_field_name(f), mo->weight[f][0],
               mo->weight[f][1], mo->weight[f][2], mo->weight[f][3]);
    printf("thresholds: link at %.1f bits, review from %.1f bits; %.0f accepted and %.0f "
           "rejected decisions learnt\n", mo->link, mo->review, mo->n_lab_m, mo->n_lab_u);
    if (mo->lifted & MATCH_RULE_TWINS)
        printf("twins rule: lifted at the last fit (of %.0f pairs agreeing on last name, birth "
               "date and address, first names and ids disagree apart, not together: odds "
               "ratio <= %.2f)\n", mo->twins.pairs, mo->twins.odds_hi);
    else if (mo->twins.pairs > 0)
        printf("twins rule: on (a birth date shared with another first name is kept apart "
               "unless the ids agree; last fit's test: odds ratio <= %.2f over %.0f pairs)\n",
               mo->twins.odds_hi, mo->twins.pairs);
    else
        printf("twins rule: on (a birth date shared with another first name is kept apart "
               "unless the ids agree; no ids to test it on)\n");
}

/* nova-hub model DIR show | export FILE | import FILE | freeze | unfreeze */
int
nv_cmd_model(int argc, char **argv)
{
    const char *pos[3] = { NULL, NULL, NULL };
    struct nv_hub h;
    struct match_model mo;
    struct nv_buf text = NV_BUF_INIT;
    MDB_txn *txn = NULL;
    int npos = 0, r, rc, write;

    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        if (npos == 3)
            return nv_cli_usage("too many arguments");
        pos[npos++] = argv[i];
    }
    if (npos < 2 || (strcmp(pos[1], "show") && strcmp(pos[1], "export") &&
                     strcmp(pos[1], "import") && strcmp(pos[1], "freeze") &&
                     strcmp(pos[1], "unfreeze")))
        return nv_cli_usage("model DIR show|export FILE|import FILE|freeze|unfreeze");
    if ((!strcmp(pos[1], "export") || !strcmp(pos[1], "import")) && npos != 3)
        return nv_cli_usage("model DIR %s FILE", pos[1]);
    write = strcmp(pos[1], "show") != 0 && strcmp(pos[1], "export") != 0;
    if (!strcmp(pos[1], "import")) {
        if ((r = nv_read_file(pos[2], MATCH_MODEL_MAX_BYTES, &text)) < 0)
            return nv_cli_fail(r);
        if ((r = match_model_parse(&mo, (char *)text.data, text.len)) < 0) {
            nv_buf_release(&text);
            fprintf(stderr, "nova-hub: error: '%s' refused: %s\n", pos[2], nv_errmsg(r));
            return nv_exit_status(r);
        }
    }
    if ((r = nv_hub_open(&h, pos[0])) < 0) {
        nv_buf_release(&text);
        return nv_cli_fail(r);
    }
    if ((rc = mdb_txn_begin(h.store.env, NULL, write ? 0 : MDB_RDONLY, &txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot open the store");
        txn = NULL;
        goto out;
    }
    if (!strcmp(pos[1], "import")) {
        /* imported weights stay as they are: frozen */
        if ((r = nv_link_model_save(txn, h.link, &mo)) < 0 ||
            (r = nv_link_freeze(txn, h.link, 1)) < 0)
            goto out;
        printf("weights imported from %s and frozen (nova-hub model %s unfreeze to let "
               "them learn again)\n", pos[2], pos[0]);
    } else if (!strcmp(pos[1], "freeze") || !strcmp(pos[1], "unfreeze")) {
        if ((r = nv_link_freeze(txn, h.link, pos[1][0] == 'f')) < 0)
            goto out;
        printf("weights %s\n", pos[1][0] == 'f' ? "frozen: no automatic refit"
                                                : "refitted again as the store grows");
    } else {
        if ((r = nv_link_model(txn, h.link, &mo)) < 0)
            goto out;
        if (!strcmp(pos[1], "show")) {
            json_t *ws = nv_weights_state(txn, h.link);
            print_weights(&mo);
            nv_weights_state_print(ws);
            json_decref(ws);
        } else {
            nv_buf_reset(&text);
            if ((r = match_model_format(&mo, &text)) < 0 ||
                (r = nv_write_file(pos[2], text.data, text.len, 0644)) < 0)
                goto out;
            printf("weights written to %s\n", pos[2]);
        }
    }
    if (write)
        r = nv_hmdb_commit(&txn);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    nv_buf_release(&text);
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}
