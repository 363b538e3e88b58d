/*
 * facts.c - what the hub's metrics, alerts and dashboard are computed from
 * (ops.h lists the document): one read transaction over the store, the
 * inbox, quarantine, archive and outbox directories, the expectations in
 * the mapping repository.  Aggregates only.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/spool.h"
#include "../../formats/util.h"
#include "ops.h"
#include "../intake/ingest.h"
#include "../gdpr/gdpr.h"
#include "../golden/golden.h"
#include "../link/link.h"
#include "../match/match.h"
#include "../model/mapping.h"

#define DAYS 30

static json_t *
obj_at(json_t *o, const char *k)
{
    json_t *x = json_object_get(o, k);

    if (x == NULL) {
        x = json_object();
        json_object_set_new(o, k, x);
    }
    return x;
}

static void
add_int(json_t *o, const char *k, json_int_t n)
{
    json_object_set_new(o, k, json_integer(json_integer_value(json_object_get(o, k)) + n));
}

static json_t *
flow_new(void)
{
    json_t *d = json_array(), *dr = json_array();

    for (int i = 0; i < DAYS; i++) {
        json_array_append_new(d, json_integer(0));
        json_array_append_new(dr, json_integer(0));
    }
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:o,s:o}", "seq", 0,
                     "last_applied", 0, "bundles", 0, "upserts", 0, "deletes", 0, "acks", 0,
                     "rejected", 0, "not_normalised", 0, "bytes", 0, "days", d,
                     "days_records", dr);
}

static json_t *
flow_get(json_t *flows, const char *entity)
{
    json_t *f = json_object_get(flows, entity);

    if (f == NULL) {
        f = flow_new();
        json_object_set_new(flows, entity, f);
    }
    return f;
}

static void
day_add(json_t *a, int i, json_int_t n)
{
    json_array_set_new(a, (size_t)i, json_integer(json_integer_value(json_array_get(a, (size_t)i)) + n));
}

/* Every applied bundle's statistics, per sender. */
static void
flows_from_bstats(struct nv_hub *h, MDB_txn *txn, json_t *flows, int64_t now)
{
    MDB_cursor *c;
    MDB_val k, v;
    int64_t today = now / 86400;

    if (mdb_cursor_open(txn, h->store.bstats, &c) != 0)
        return;
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        char name[NV_NAME_MAX + 1];
        const char *sl = memchr(k.mv_data, '/', k.mv_size);
        size_t l = sl ? (size_t)(sl - (char *)k.mv_data) : 0;
        json_t *o, *f;
        int64_t t = 0;
        json_int_t recs;
        if (l == 0 || l > NV_NAME_MAX)
            continue;
        memcpy(name, k.mv_data, l);
        name[l] = '\0';
        if ((o = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
            continue;
        f = flow_get(flows, name);
        (void)nv_time_parse(json_string_value(json_object_get(o, "applied"))
                                ? json_string_value(json_object_get(o, "applied"))
                                : "",
                            &t);
        recs = json_integer_value(json_object_get(o, "upserts")) +
               json_integer_value(json_object_get(o, "deletes")) +
               json_integer_value(json_object_get(o, "acks"));
        add_int(f, "bundles", 1);
        /* the columns of the entity's last bundle of records (keys in
         * sequence order) */
        if (json_array_size(json_object_get(o, "columns")) > 0) {
            json_object_set(f, "columns", json_object_get(o, "columns"));
            json_object_set_new(f, "columns_seq",
                                json_integer(strtoll(sl + 1, NULL, 10)));
            json_object_set_new(f, "columns_at", json_integer(t));
        }
        add_int(f, "upserts", json_integer_value(json_object_get(o, "upserts")));
        add_int(f, "deletes", json_integer_value(json_object_get(o, "deletes")));
        add_int(f, "acks", json_integer_value(json_object_get(o, "acks")));
        add_int(f, "rejected", json_integer_value(json_object_get(o, "rejected")));
        add_int(f, "not_normalised", json_integer_value(json_object_get(o, "not_normalised")));
        if (t > json_integer_value(json_object_get(f, "last_applied")))
            json_object_set_new(f, "last_applied", json_integer(t));
        if (t > 0 && t / 86400 <= today && t / 86400 > today - DAYS) {
            int i = (int)(DAYS - 1 - (today - t / 86400));
            day_add(json_object_get(f, "days"), i, 1);
            day_add(json_object_get(f, "days_records"), i, recs);
        }
        json_decref(o);
    }
    mdb_cursor_close(c);
}

/* The bytes of the archived bundles of each known sender
 * ("<sender>-<hub>-<seq>.<kind>.nova"). */
static void
archive_bytes(const char *dir, const char *hub, json_t *flows)
{
    char *ad = nv_path_join(dir, "archive");
    DIR *d = opendir(ad);
    struct dirent *e;

    while (d != NULL && (e = readdir(d)) != NULL) {
        const char *ent;
        json_t *f;
        char p[4096];
        struct stat st;
        json_object_foreach(flows, ent, f) {
            size_t l = strlen(ent), hl = strlen(hub);
            if (strncmp(e->d_name, ent, l) != 0 || e->d_name[l] != '-' ||
                strncmp(e->d_name + l + 1, hub, hl) != 0 || e->d_name[l + 1 + hl] != '-')
                continue;
            snprintf(p, sizeof(p), "%s/%s", ad, e->d_name);
            if (stat(p, &st) == 0)
                add_int(f, "bytes", (json_int_t)st.st_size);
            break;
        }
    }
    if (d != NULL)
        closedir(d);
    free(ad);
}

/* The refusal behind an exit status, as a label. */
static const char *
reason_slug(int status)
{
    static const struct {
        int code;
        const char *slug;
    } t[] = {
        { NV_EFORMAT, "format" },         { NV_ETRUNCATED, "truncated" },
        { NV_ETOOBIG, "too_big" },        { NV_ESIG, "signature" },
        { NV_EUNKNOWNKEY, "unknown_key" }, { NV_EREVOKED, "revoked_key" },
        { NV_EREPLAY, "replay" },         { NV_ESEQGAP, "sequence_gap" },
        { NV_EFORK, "fork" },             { NV_EHASH, "payload_hash" },
        { NV_ENOMATCH, "not_for_us" },    { NV_EHEADER, "encryption" },
        { NV_EHMAC, "encryption" },       { NV_EPAYLOAD, "encryption" },
        { NV_EUNSAFE, "unsafe_entry" },   { NV_EBOMB, "decompression_bomb" },
        { NV_EWRONGRCPT, "wrong_recipient" }, { NV_ECOUNTS, "counts" },
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (nv_exit_status(t[i].code) == status)
            return t[i].slug;
    return "other";
}

/* The bundles in quarantine, with their reason and time (the .reason file
 * beside each). */
static json_t *
quarantine_json(const char *dir)
{
    json_t *a = json_array();
    char *qd = nv_path_join(dir, "quarantine");
    struct nv_spool_entry *sv;
    size_t sn;

    if (nv_spool_list(qd, 0, &sv, &sn) == 0) {
        for (size_t i = 0; i < sn; i++) {
            char p[4096];
            struct nv_buf b = NV_BUF_INIT;
            int code = 1;
            int64_t since = 0;
            struct stat st;
            snprintf(p, sizeof(p), "%s/%s.reason", qd, sv[i].name);
            if (nv_read_file(p, 65536, &b) == 0 && nv_buf_add(&b, "", 1) == 0) {
                const char *c = strstr((char *)b.data, "code: ");
                const char *t = strstr((char *)b.data, "time: ");
                char tb[21];
                if (c != NULL)
                    code = atoi(c + 6);
                if (t != NULL && sscanf(t + 6, "%20s", tb) == 1)
                    (void)nv_time_parse(tb, &since);
            }
            nv_buf_release(&b);
            if (since == 0) {
                snprintf(p, sizeof(p), "%s/%s", qd, sv[i].name);
                if (stat(p, &st) == 0)
                    since = st.st_mtime;
            }
            json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:I}", "entity", sv[i].sender,
                                               "file", sv[i].name, "reason",
                                               reason_slug(code), "since",
                                               (json_int_t)since));
        }
        nv_spool_list_free(sv, sn);
    }
    free(qd);
    return a;
}

/* Bundles in the inbox past a gap in their stream: the first of each
 * stream, since the oldest of them arrived. */
static json_t *
gaps_json(struct nv_hub *h, MDB_txn *txn, const char *dir)
{
    json_t *a = json_array();
    char *ib = nv_path_join(dir, "inbox");
    struct nv_spool_entry *sv;
    size_t sn;

    if (nv_spool_list(ib, 0, &sv, &sn) == 0) {
        for (size_t i = 0; i < sn; i++) {
            struct nv_stream_state st;
            struct stat fs;
            char p[4096];
            json_t *last = json_array_get(a, json_array_size(a) - 1);
            if (sv[i].sender[0] == '\0' ||
                nv_hstore_stream_get(txn, &h->store, sv[i].sender, &st) < 0 ||
                sv[i].seq <= st.seq + 1)
                continue;
            snprintf(p, sizeof(p), "%s/%s", ib, sv[i].name);
            if (stat(p, &fs) < 0)
                fs.st_mtime = 0;
            if (last != NULL &&
                strcmp(json_string_value(json_object_get(last, "entity")), sv[i].sender) == 0) {
                if (fs.st_mtime < json_integer_value(json_object_get(last, "since")))
                    json_object_set_new(last, "since", json_integer(fs.st_mtime));
                continue;
            }
            json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:I}", "entity", sv[i].sender,
                                               "missing_from", (json_int_t)(st.seq + 1),
                                               "missing_to", (json_int_t)(sv[i].seq - 1),
                                               "since", (json_int_t)fs.st_mtime));
        }
        nv_spool_list_free(sv, sn);
    }
    free(ib);
    return a;
}

static json_t *
review_json(struct nv_hub *h, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v;
    json_int_t n = 0;
    int64_t oldest = 0;

    if (mdb_cursor_open(txn, h->link->review, &c) == 0) {
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            const char *s = memmem(v.mv_data, v.mv_size, "\"since\":\"", 9);
            char tb[21];
            int64_t t;
            n++;
            if (s == NULL || (size_t)(s + 9 + 20 - (char *)v.mv_data) > v.mv_size)
                continue;
            memcpy(tb, s + 9, 20);
            tb[20] = '\0';
            if (nv_time_parse(tb, &t) == 0 && (oldest == 0 || t < oldest))
                oldest = t;
        }
        mdb_cursor_close(c);
    }
    return json_pack("{s:I,s:I}", "pairs", n, "oldest", (json_int_t)oldest);
}

struct lk {
    char rcu[16];
    char entity[NV_NAME_MAX + 1];
};

static int
lk_cmp(const void *a, const void *b)
{
    const struct lk *x = a, *y = b;
    int c = strcmp(x->rcu, y->rcu);

    return c ? c : strcmp(x->entity, y->entity);
}

#define WBINS 40

/* The best link scores of the records linked or in review, as a histogram
 * {"link","review" (the thresholds, bits),"from","bin" (bits),"counts":[],
 * "scored"}: bins of a whole number of bits over the scores and both
 * thresholds, at most WBINS. */
static json_t *
weights_json(struct nv_hub *h, MDB_txn *txn, const float *sc, size_t n)
{
    struct match_model *mo = malloc(sizeof(*mo));
    double lo, hi, link = 10, review = 0;
    long counts[WBINS] = { 0 };
    int bin, nb;
    json_t *a = json_array();

    if (mo != NULL && nv_link_model(txn, h->link, mo) == 0) {
        link = mo->link;
        review = mo->review;
    }
    nv_error_clear();
    free(mo);
    lo = review - 4;
    hi = link + 4;
    for (size_t i = 0; i < n; i++) {
        if (sc[i] < lo)
            lo = sc[i];
        if (sc[i] > hi)
            hi = sc[i];
    }
    lo = floor(lo);
    hi = ceil(hi) + 1;
    bin = (int)ceil((hi - lo) / WBINS);
    if (bin < 1)
        bin = 1;
    nb = (int)ceil((hi - lo) / bin);
    if (nb > WBINS)
        nb = WBINS;
    for (size_t i = 0; i < n; i++) {
        int b = (int)((sc[i] - lo) / bin);
        counts[b < 0 ? 0 : b >= nb ? nb - 1 : b]++;
    }
    for (int i = 0; i < nb; i++)
        json_array_append_new(a, json_integer(counts[i]));
    return json_pack("{s:f,s:f,s:f,s:i,s:o,s:I}", "link", link, "review", review, "from", lo,
                     "bin", bin, "counts", a, "scored", (json_int_t)n);
}

/* People shared by each pair of entities, and people by how many entities
 * know them; the match-weight histogram (weights_json) into *weights. */
static json_t *
people_json(struct nv_hub *h, MDB_txn *txn, json_t **weights)
{
    MDB_cursor *c;
    MDB_val k, v;
    struct lk *a = NULL;
    float *sc = NULL;
    size_t n = 0, cap = 0, ns = 0;
    json_t *pairs = json_object(), *by = json_object(), *pa = json_array();
    const char *pk;
    json_t *pv;

    if (mdb_cursor_open(txn, h->link->links, &c) == 0) {
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            struct nv_link_val lv;
            const char *z = memchr(k.mv_data, 0, k.mv_size);
            if (z == NULL || v.mv_size != sizeof(lv))
                continue;
            memcpy(&lv, v.mv_data, sizeof(lv));
            if (n == cap) {
                cap = cap ? 2 * cap : 4096;
                if ((a = realloc(a, cap * sizeof(*a))) == NULL ||
                    (sc = realloc(sc, cap * sizeof(*sc))) == NULL)
                    abort();
            }
            snprintf(a[n].rcu, sizeof(a[n].rcu), "%.13s", lv.rcu);
            snprintf(a[n].entity, sizeof(a[n].entity), "%.*s", (int)(z - (char *)k.mv_data),
                     (char *)k.mv_data);
            if (lv.status != NV_LINK_NEW && isfinite(lv.score))
                sc[ns++] = lv.score;
            n++;
        }
        mdb_cursor_close(c);
    }
    *weights = weights_json(h, txn, sc, ns);
    free(sc);
    if (n > 1)
        qsort(a, n, sizeof(*a), lk_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i, ents = 0;
        const char *el[16];
        char key[2 * NV_NAME_MAX + 2], nb[8];
        while (j < n && strcmp(a[j].rcu, a[i].rcu) == 0) {
            if (j == i || strcmp(a[j].entity, a[j - 1].entity) != 0) {
                if (ents < 16)
                    el[ents] = a[j].entity;
                ents++;
            }
            j++;
        }
        snprintf(nb, sizeof(nb), "%zu", ents);
        add_int(by, nb, 1);
        for (size_t x = 0; x < ents && x < 16; x++)
            for (size_t y = x + 1; y < ents && y < 16; y++) {
                snprintf(key, sizeof(key), "%s\t%s", el[x], el[y]);
                add_int(pairs, key, 1);
            }
        i = j;
    }
    free(a);
    json_object_foreach(pairs, pk, pv) {
        const char *tab = strchr(pk, '\t');
        json_array_append_new(pa, json_pack("{s:s%,s:s,s:O}", "a", pk, (size_t)(tab - pk),
                                            "b", tab + 1, "people", pv));
    }
    json_decref(pairs);
    return json_pack("{s:o,s:o}", "pairs", pa, "by_entities", by);
}

/* Values that did not parse, per entity and field (the reasons read
 * "column 'C' (field): why"). */
static json_t *
unparsed_json(struct nv_hub *h, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v;
    json_t *o = json_object();

    if (mdb_cursor_open(txn, h->store.unnorm, &c) != 0)
        return o;
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        const char *z = memchr(k.mv_data, 0, k.mv_size);
        char ent[NV_NAME_MAX + 1];
        json_t *x, *r, *e;
        size_t i;
        if (z == NULL || (size_t)(z - (char *)k.mv_data) > NV_NAME_MAX)
            continue;
        snprintf(ent, sizeof(ent), "%.*s", (int)(z - (char *)k.mv_data), (char *)k.mv_data);
        e = obj_at(o, ent);
        if ((x = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
            continue;
        json_array_foreach(json_object_get(x, "reasons"), i, r) {
            const char *s = json_string_value(r), *p, *q;
            char field[64] = "other";
            if (s != NULL && (p = strstr(s, "' (")) != NULL && (q = strchr(p + 3, ')')) != NULL &&
                q - p - 3 > 0 && q - p - 3 < (long)sizeof(field))
                snprintf(field, sizeof(field), "%.*s", (int)(q - p - 3), p + 3);
            add_int(e, field, 1);
        }
        json_decref(x);
    }
    mdb_cursor_close(c);
    return o;
}

/* Sealed bundles not yet collected in DIR/outbox/<entity>/, by kind. */
static void
outbox_json(const char *dir, json_t *queued)
{
    char *od = nv_path_join(dir, "outbox");
    DIR *d = opendir(od), *d2;
    struct dirent *e, *f;

    while (d != NULL && (e = readdir(d)) != NULL) {
        char p[4096];
        json_t *q;
        if (e->d_name[0] == '.' || !nv_name_valid(e->d_name))
            continue;
        snprintf(p, sizeof(p), "%s/%s", od, e->d_name);
        if ((d2 = opendir(p)) == NULL)
            continue;
        q = NULL;
        while ((f = readdir(d2)) != NULL) {
            size_t l = strlen(f->d_name);
            char fp[4096 + 256];
            struct stat st;
            if (f->d_name[0] == '.' || l < 6 || strcmp(f->d_name + l - 5, ".nova") != 0)
                continue;
            if (q == NULL)
                q = obj_at(queued, e->d_name);
            add_int(q, strstr(f->d_name, ".erasure.") ? "outbox_erasure" : "outbox_updates",
                    1);
            snprintf(fp, sizeof(fp), "%s/%s", p, f->d_name);
            if (stat(fp, &st) == 0 && (json_integer_value(json_object_get(q, "oldest")) == 0 ||
                                       st.st_mtime < json_integer_value(json_object_get(q, "oldest"))))
                json_object_set_new(q, "oldest", json_integer(st.st_mtime));
        }
        closedir(d2);
    }
    if (d != NULL)
        closedir(d);
    free(od);
}

static void
updates_queued(struct nv_hub *h, MDB_txn *txn, json_t *queued)
{
    MDB_cursor *c;
    MDB_val k, v;

    if (mdb_cursor_open(txn, h->golden->outq, &c) != 0)
        return;
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        const char *z = memchr(k.mv_data, 0, k.mv_size);
        char ent[NV_NAME_MAX + 1];
        if (z == NULL || (size_t)(z - (char *)k.mv_data) > NV_NAME_MAX)
            continue;
        snprintf(ent, sizeof(ent), "%.*s", (int)(z - (char *)k.mv_data), (char *)k.mv_data);
        add_int(obj_at(queued, ent), "updates", 1);
    }
    mdb_cursor_close(c);
}

static int64_t
day_time(const char *s)
{
    int64_t t;

    if (s == NULL)
        return 0;
    if (strlen(s) > 10 && nv_time_parse(s, &t) == 0)
        return t;
    t = nv_gdpr_parse_day(s);
    return t < 0 ? 0 : t;
}

#define ER_MONTHS 6

/* Days from receipt to completion of the erasures completed, in all and by
 * month of completion (the last ER_MONTHS, oldest first). */
struct erasures {
    int64_t now;
    long n, within;
    double sum, max;
    long mn[ER_MONTHS];
    double msum[ER_MONTHS];
};

/* Months from t's to now's (0 the same month). */
static int
months_ago(int64_t t, int64_t now)
{
    struct tm a, b;
    time_t x = (time_t)t, y = (time_t)now;

    gmtime_r(&x, &a);
    gmtime_r(&y, &b);
    return (b.tm_year - a.tm_year) * 12 + (b.tm_mon - a.tm_mon);
}

static void
erasure_note(struct erasures *er, const json_t *r)
{
    int64_t rc = day_time(json_string_value(json_object_get(r, "received")));
    int64_t done = day_time(json_string_value(json_object_get(r, "completed")));
    int64_t tg = day_time(json_string_value(json_object_get(r, "target")));
    double days;
    int m;

    if (rc == 0 || done == 0 || done < rc)
        return;
    days = (double)(done - rc) / 86400.0;
    er->n++;
    er->sum += days;
    if (days > er->max)
        er->max = days;
    /* the target is a day: met when done by its end */
    er->within += tg == 0 ? days <= NV_GDPR_TARGET_DAYS : done < tg + 86400;
    m = months_ago(done, er->now);
    if (m >= 0 && m < ER_MONTHS) {
        er->mn[ER_MONTHS - 1 - m]++;
        er->msum[ER_MONTHS - 1 - m] += days;
    }
}

static json_t *
erasure_json(const struct erasures *er)
{
    json_t *months = json_array();

    for (int i = 0; i < ER_MONTHS; i++) {
        char ym[32];
        struct tm t;
        time_t now = (time_t)er->now;
        gmtime_r(&now, &t);
        t.tm_mon -= ER_MONTHS - 1 - i;
        while (t.tm_mon < 0) {
            t.tm_mon += 12;
            t.tm_year--;
        }
        snprintf(ym, sizeof(ym), "%04d-%02d", t.tm_year + 1900, t.tm_mon + 1);
        json_array_append_new(months, json_pack("{s:s,s:i,s:f}", "month", ym, "completed",
                                                (int)er->mn[i], "mean_days",
                                                er->mn[i] ? er->msum[i] / er->mn[i] : 0.0));
    }
    return json_pack("{s:i,s:f,s:f,s:i,s:i,s:o}", "completed", (int)er->n, "mean_days",
                     er->n ? er->sum / er->n : 0.0, "max_days", er->max, "within_target",
                     (int)er->within, "target_days", NV_GDPR_TARGET_DAYS, "months", months);
}

/* The register: counts by kind and status, the requests still open (ids,
 * kinds, dates: never the subject), and the erasure timeline. */
static json_t *
gdpr_json(struct nv_hub *h, MDB_txn *txn, int64_t now)
{
    MDB_cursor *c;
    MDB_val k, v;
    json_t *counts = json_object(), *open = json_array();
    struct erasures er0 = { .now = now }, *er = &er0;

    if (mdb_cursor_open(txn, h->gdpr->req, &c) == 0) {
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            json_t *r;
            const char *kind, *status;
            if (k.mv_size < 4 || memcmp(k.mv_data, "REQ-", 4) != 0 ||
                (r = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
                continue;
            kind = json_string_value(json_object_get(r, "kind"));
            status = json_string_value(json_object_get(r, "status"));
            if (kind == NULL || status == NULL) {
                json_decref(r);
                continue;
            }
            add_int(obj_at(counts, kind), status, 1);
            if (strcmp(kind, "erase") == 0 && strcmp(status, "complete") == 0)
                erasure_note(er, r);
            if (strcmp(status, "complete") != 0 && strcmp(status, "no-data") != 0)
                json_array_append_new(
                    open, json_pack("{s:O,s:s,s:s,s:I,s:I,s:I}", "id",
                                    json_object_get(r, "id"), "kind", kind, "status", status,
                                    "received",
                                    (json_int_t)day_time(json_string_value(
                                        json_object_get(r, "received"))),
                                    /* the end of the day named */
                                    "target",
                                    (json_int_t)(day_time(json_string_value(
                                                     json_object_get(r, "target"))) + 86400),
                                    "deadline",
                                    (json_int_t)(day_time(json_string_value(
                                                     json_object_get(r, "deadline"))) + 86400)));
            json_decref(r);
        }
        mdb_cursor_close(c);
    }
    return json_pack("{s:o,s:o,s:o}", "counts", counts, "open", open, "erasure",
                     erasure_json(er));
}

static json_t *
lastpass_json(const char *dir)
{
    char *p = nv_path_join(dir, "ops/lastpass.json");
    json_t *o = json_load_file(p, 0, NULL);

    free(p);
    return o != NULL ? o : json_object();
}

int
nv_ops_note_pass(const char *dir, int64_t at, double seconds, unsigned applied,
                 unsigned quarantined)
{
    char *od = nv_path_join(dir, "ops"), *p = nv_path_join(dir, "ops/lastpass.json");
    char *t;
    json_t *o = json_pack("{s:I,s:f,s:i,s:i}", "at", (json_int_t)at, "seconds", seconds,
                          "applied", (int)applied, "quarantined", (int)quarantined);
    int r;

    t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if ((r = nv_mkdir_p(od, 0750)) == 0)
        r = t ? nv_write_file(p, t, strlen(t), 0640) : nv_fail(NV_ENOMEM, "out of memory");
    free(t);
    free(od);
    free(p);
    return r;
}

/* The columns of each entity's last bundle of records against its mapping
 * now: {entity: {"seq","at" (applied, Unix),"missing":[mapped columns not sent],"new":[columns
 * sent the mapping lacks]}} (entities with a mapping and such a bundle). */
static json_t *
drift_json(struct nv_hub *h, const json_t *flows)
{
    json_t *o = json_object(), *f, *c;
    const char *ent;
    size_t i;

    json_object_foreach((json_t *)flows, ent, f) {
        const struct nv_mapping *m = NULL;
        const char *commit = NULL;
        json_t *cols = json_object_get(f, "columns"), *missing, *nw;
        if (json_array_size(cols) == 0 || nv_hub_mapping(h, ent, &m, &commit) < 0 ||
            m == NULL) {
            nv_error_clear();
            continue;
        }
        missing = json_array();
        nw = json_array();
        for (size_t k = 0; k < m->ncols; k++) {
            int sent = 0;
            if (m->cols[k].role == NV_ROLE_IGNORE)
                continue;
            json_array_foreach(cols, i, c)
                if (strcmp(json_string_value(c), m->cols[k].name) == 0) {
                    sent = 1;
                    break;
                }
            if (!sent)
                json_array_append_new(missing, json_string(m->cols[k].name));
        }
        json_array_foreach(cols, i, c)
            if (nv_mapping_find(m, json_string_value(c)) < 0)
                json_array_append(nw, c);
        json_object_set_new(o, ent, json_pack("{s:O,s:O,s:o,s:o}", "seq",
                                              json_object_get(f, "columns_seq"), "at",
                                              json_object_get(f, "columns_at"), "missing",
                                              missing, "new", nw));
    }
    return o;
}

/* Entities whose keys are all revoked: {entity: {"revoked": Unix time of
 * the last revocation}}. */
static json_t *
keys_json(const struct nv_hub *h)
{
    json_t *o = json_object();

    for (size_t i = 0; i < h->kr.n; i++) {
        const struct nv_keyring_entry *e = &h->kr.e[i];
        json_t *x;
        if (e->state != NV_KEY_REVOKED || nv_keyring_active(&h->kr, e->id.entity) != NULL)
            continue;
        x = json_object_get(o, e->id.entity);
        if (x == NULL || json_integer_value(json_object_get(x, "revoked")) < e->since)
            json_object_set_new(o, e->id.entity,
                                json_pack("{s:I}", "revoked", (json_int_t)e->since));
    }
    return o;
}

int
nv_ops_facts(struct nv_hub *h, const char *dir, json_t **out)
{
    json_t *o, *status = NULL, *flows, *queued, *expect = NULL, *x, *people, *weights;
    const char *ent;
    int64_t now = nv_now();
    MDB_txn *txn;
    size_t i;
    int r, rc;

    if ((r = nv_ops_status(h, dir, &status)) < 0)
        return r;
    if ((r = nv_ops_expect_load(h, &expect)) < 0) {
        json_decref(status);
        return r;
    }
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0) {
        json_decref(status);
        json_decref(expect);
        return nv_hmdb_fail(rc, "cannot read");
    }
    flows = json_object();
    /* every stream from an entity, and every entity expected, has a flow */
    json_array_foreach(json_object_get(status, "streams"), i, x) {
        const char *s = json_string_value(json_object_get(x, "sender"));
        if (s != NULL)
            json_object_set_new(flow_get(flows, s), "seq",
                                json_integer(json_integer_value(json_object_get(x, "seq"))));
    }
    json_array_foreach(json_object_get(status, "entities"), i, x)
        if (json_object_get(x, "last_bundle") != NULL)
            json_object_set(flow_get(flows, json_string_value(json_object_get(x, "entity"))),
                            "last", json_object_get(x, "last_bundle"));
    json_object_foreach(json_object_get(expect, "cadence"), ent, x)
        (void)flow_get(flows, ent);
    flows_from_bstats(h, txn, flows, now);
    archive_bytes(dir, h->self.pub.entity, flows);
    queued = json_object();
    updates_queued(h, txn, queued);
    outbox_json(dir, queued);
    people = people_json(h, txn, &weights);
    o = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "now",
                  (json_int_t)now, "status", status, "flows", flows, "quarantine",
                  quarantine_json(dir), "gaps", gaps_json(h, txn, dir), "review",
                  review_json(h, txn), "people", people, "weights", weights, "unparsed",
                  unparsed_json(h, txn), "queued", queued, "gdpr", gdpr_json(h, txn, now),
                  "expect", expect, "pass", lastpass_json(dir));
    mdb_txn_abort(txn);
    if (o == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    /* the mappings are read outside the store's transaction */
    json_object_set_new(o, "drift", drift_json(h, flows));
    json_object_set_new(o, "keys", keys_json(h));
    *out = o;
    return 0;
}

int
nv_ops_textfile(const char *path, const struct nv_buf *text)
{
    struct nv_atomic a;
    int r;

    if ((r = nv_atomic_open(&a, path, 0644)) < 0)
        return r;
    if (nv_write_all(a.fd, text->data, text->len) < 0) {
        r = nv_fail_errno("cannot write '%s'", path);
        nv_atomic_abort(&a);
        return r;
    }
    return nv_atomic_commit(&a, 0);
}
