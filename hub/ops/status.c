/*
 * status.c - the hub's status document (`nova-hub status --json`): streams,
 * entities (mapping, records, rejected records and why), matching figures,
 * bundles waiting for a missing one, inbox and quarantine.  Never personal
 * data: reasons name columns and fields.  Metrics, alerts and the dashboard
 * read the same document (hub/ops/ops.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../formats/cli.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/spool.h"
#include "../../formats/util.h"
#include "ops.h"
#include "../intake/ingest.h"
#include "../gdpr/gdpr.h"
#include "../golden/golden.h"
#include "../link/link.h"
#include "../model/mapping.h"
#include "../store/maprepo.h"


struct ent {
    char name[NV_NAME_MAX + 1];
    uint64_t records, mapped, rejected;
    json_t *reasons; /* reason -> count */
    uint64_t unnorm_records, unnorm_values;
    json_t *unnorm;  /* reason of a value left out -> count */
    json_t *last;    /* the last bundle's statistics */
    uint64_t seq;
    uint64_t agent_rejects; /* source rows the agent rejected, every bundle */
    json_t *agent_reasons;  /* their reasons -> count */
};

struct ents {
    struct ent *v;
    size_t n;
};

static struct ent *
ent_get(struct ents *e, const char *name, size_t len)
{
    struct ent *x;

    if (len > NV_NAME_MAX)
        len = NV_NAME_MAX;
    for (size_t i = 0; i < e->n; i++)
        if (strlen(e->v[i].name) == len && memcmp(e->v[i].name, name, len) == 0)
            return &e->v[i];
    if ((x = realloc(e->v, (e->n + 1) * sizeof(*x))) == NULL)
        abort();
    e->v = x;
    x = &e->v[e->n++];
    memset(x, 0, sizeof(*x));
    memcpy(x->name, name, len);
    x->reasons = json_object();
    x->unnorm = json_object();
    x->agent_reasons = json_object();
    return x;
}

static int
count_cmp(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "count"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "count"));

    return x < y ? 1 : x > y ? -1 : 0;
}

/* The same, ties by reason: the order of the records' reasons whether
 * counted (the counters come in reason order) or scanned. */
static int
count_name_cmp(const void *a, const void *b)
{
    int c = count_cmp(a, b);

    return c ? c
             : strcmp(json_string_value(json_object_get(*(json_t *const *)a, "reason")),
                      json_string_value(json_object_get(*(json_t *const *)b, "reason")));
}

/* Reasons (reason -> count), most frequent first (ties: with by_name, in
 * reason order, else as they came), as [{"reason":..,"count":..}]. */
static json_t *
top_reasons(json_t *reasons, int by_name)
{
    json_t *a = json_array(), *v;
    const char *k;
    size_t n = json_object_size(reasons), i = 0;
    json_t **items = calloc(n ? n : 1, sizeof(json_t *));

    if (a == NULL || items == NULL)
        abort();
    json_object_foreach(reasons, k, v)
        items[i++] = json_pack("{s:s,s:O}", "reason", k, "count", v);
    qsort(items, n, sizeof(json_t *), by_name ? count_name_cmp : count_cmp);
    for (i = 0; i < n; i++)
        json_array_append_new(a, items[i]);
    free(items);
    return a;
}

/* One more of reason in counts (reason -> count). */
static void
count_reason(json_t *counts, const char *reason)
{
    json_object_set_new(counts, reason,
                        json_integer(json_integer_value(json_object_get(counts, reason)) + 1));
}

/* The figures of records, rejects and unnorm from the counters the
 * writers keep (the tally database, store.h): a few keys per entity. */
static void
read_tally(struct nv_hub *h, MDB_txn *txn, struct ents *es)
{
    MDB_cursor *c;
    MDB_val k, v;

    if (mdb_cursor_open(txn, h->store.tally, &c) != 0)
        return;
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        const char *z = memchr(k.mv_data, 0, k.mv_size), *t;
        char tag[512];
        uint64_t n;
        struct ent *e;
        if (z == NULL || v.mv_size != sizeof(n))
            continue;
        memcpy(&n, v.mv_data, sizeof(n));
        t = z + 1;
        snprintf(tag, sizeof(tag), "%.*s", (int)((char *)k.mv_data + k.mv_size - t), t);
        e = ent_get(es, k.mv_data, (size_t)(z - (char *)k.mv_data));
        if (strcmp(tag, "records") == 0)
            e->records = n;
        else if (strcmp(tag, "mapped") == 0)
            e->mapped = n;
        else if (strcmp(tag, "rejected") == 0)
            e->rejected = n;
        else if (strcmp(tag, "unnorm_records") == 0)
            e->unnorm_records = n;
        else if (strcmp(tag, "unnorm_values") == 0)
            e->unnorm_values = n;
        else if (strncmp(tag, "r:", 2) == 0)
            json_object_set_new(e->reasons, tag + 2, json_integer((json_int_t)n));
        else if (strncmp(tag, "u:", 2) == 0)
            json_object_set_new(e->unnorm, tag + 2, json_integer((json_int_t)n));
    }
    mdb_cursor_close(c);
}

/* The same figures counted by reading every record, reject and unnorm
 * entry (status --scan: what the counters are checked against). */
static void
scan_store(struct nv_hub *h, MDB_txn *txn, struct ents *es)
{
    MDB_cursor *c;
    MDB_val k, v;

    if (mdb_cursor_open(txn, h->store.records, &c) == 0) {
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            const char *z = memchr(k.mv_data, 0, k.mv_size);
            struct ent *e;
            if (z == NULL)
                continue;
            e = ent_get(es, k.mv_data, (size_t)(z - (char *)k.mv_data));
            e->records++;
            e->mapped += memmem(v.mv_data, v.mv_size, "\"map\":\"", 7) != NULL;
        }
        mdb_cursor_close(c);
    }
    if (mdb_cursor_open(txn, h->store.rejects, &c) == 0) {
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            const char *z = memchr(k.mv_data, 0, k.mv_size);
            json_t *o;
            const char *reason;
            struct ent *e;
            if (z == NULL)
                continue;
            e = ent_get(es, k.mv_data, (size_t)(z - (char *)k.mv_data));
            e->rejected++;
            o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
            reason = json_string_value(json_object_get(o, "reason"));
            count_reason(e->reasons, reason != NULL ? reason : "-");
            json_decref(o);
        }
        mdb_cursor_close(c);
    }
    if (mdb_cursor_open(txn, h->store.unnorm, &c) == 0) {
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            const char *z = memchr(k.mv_data, 0, k.mv_size);
            json_t *o, *r;
            size_t i;
            struct ent *e;
            if (z == NULL)
                continue;
            e = ent_get(es, k.mv_data, (size_t)(z - (char *)k.mv_data));
            o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
            e->unnorm_records++;
            e->unnorm_values += (uint64_t)json_integer_value(json_object_get(o, "n"));
            json_array_foreach(json_object_get(o, "reasons"), i, r)
                if (json_string_value(r) != NULL)
                    count_reason(e->unnorm, json_string_value(r));
            json_decref(o);
        }
        mdb_cursor_close(c);
    }
}

/* The rows each agent rejected, from every bundle's statistics (one entry
 * per bundle), and the statistics of each entity's last bundle. */
static void
scan_bundles(struct nv_hub *h, MDB_txn *txn, struct ents *es)
{
    MDB_cursor *c;
    MDB_val k, v;

    if (mdb_cursor_open(txn, h->store.bstats, &c) == 0) {
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            const char *sl = memchr(k.mv_data, '/', k.mv_size);
            struct ent *e;
            json_t *o, *rs, *n;
            const char *why;
            if (sl == NULL || memmem(v.mv_data, v.mv_size, "agent_rejects", 13) == NULL)
                continue;
            o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
            e = ent_get(es, k.mv_data, (size_t)(sl - (char *)k.mv_data));
            e->agent_rejects += (uint64_t)json_integer_value(json_object_get(o, "agent_rejects"));
            rs = json_object_get(o, "agent_reasons");
            json_object_foreach(rs, why, n)
                json_object_set_new(e->agent_reasons, why,
                                    json_integer(json_integer_value(json_object_get(
                                                     e->agent_reasons, why)) +
                                                 json_integer_value(n)));
            json_decref(o);
        }
        mdb_cursor_close(c);
    }
    /* the last bundle of each entity */
    for (size_t i = 0; i < es->n; i++) {
        struct nv_stream_state st;
        char bk[128];
        if (nv_hstore_stream_get(txn, &h->store, es->v[i].name, &st) < 0 || st.seq == 0)
            continue;
        es->v[i].seq = st.seq;
        snprintf(bk, sizeof(bk), "%s/%020llu", es->v[i].name, (unsigned long long)st.seq);
        k.mv_size = strlen(bk);
        k.mv_data = bk;
        if (mdb_get(txn, h->store.bstats, &k, &v) == 0)
            es->v[i].last = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    }
}

static int
count_nova(const char *dir)
{
    struct dirent **ents;
    int n = 0, m = scandir(dir, &ents, NULL, NULL);

    for (int i = 0; i < m; i++) {
        size_t l = strlen(ents[i]->d_name);
        n += l > 5 && strcmp(ents[i]->d_name + l - 5, ".nova") == 0;
        free(ents[i]);
    }
    if (m > 0)
        free(ents);
    return n;
}

struct lk {
    char rcu[16];
    char entity[NV_NAME_MAX + 1];
    uint8_t status;
};

static int
lk_cmp(const void *a, const void *b)
{
    const struct lk *x = a, *y = b;
    int c = strcmp(x->rcu, y->rcu);

    return c ? c : strcmp(x->entity, y->entity);
}

json_t *
nv_weights_state(MDB_txn *txn, const struct nv_link_db *db)
{
    uint64_t fitted, frozen, records;

    if (nv_link_fit_state(txn, db, &fitted, &frozen, &records) < 0)
        return NULL;
    return json_pack("{s:I,s:I,s:b,s:o}", "fitted_at", (json_int_t)fitted, "records",
                     (json_int_t)records, "frozen", frozen != 0, "next_fit_at",
                     frozen ? json_null()
                            : json_integer((json_int_t)(2 * fitted > NV_LINK_FIT_MIN
                                                            ? 2 * fitted
                                                            : NV_LINK_FIT_MIN)));
}

/* What the data team looks at first: records linked, people, people known
 * to several entities, duplicates inside one entity, review. */
static json_t *
matching_figures(struct nv_hub *h, MDB_txn *txn, int scan)
{
    MDB_cursor *c;
    MDB_val k, v;
    struct lk *a = NULL;
    size_t n = 0, cap = 0, people = 0, multi = 0, dups = 0, dup_records = 0, review = 0;
    MDB_stat ms;

    if (!scan) {
        /* the counters the writers of links keep (hub/link/lktally.c) */
        uint64_t x[6];
        if (nv_link_tally_read(txn, h->link, &x[0], &x[1], &x[2], &x[3], &x[4], &x[5]) < 0)
            return NULL;
        n = x[0], people = x[1], multi = x[2], dups = x[3], dup_records = x[4], review = x[5];
        goto out;
    }
    if (mdb_cursor_open(txn, h->link->links, &c) != 0)
        return NULL;
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        struct nv_link_val lv;
        const char *z = memchr(k.mv_data, 0, k.mv_size);
        if (z == NULL || v.mv_size != sizeof(lv))
            continue;
        memcpy(&lv, v.mv_data, sizeof(lv));
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            if ((a = realloc(a, cap * sizeof(*a))) == NULL)
                abort();
        }
        snprintf(a[n].rcu, sizeof(a[n].rcu), "%.13s", lv.rcu);
        snprintf(a[n].entity, sizeof(a[n].entity), "%.*s",
                 (int)(z - (char *)k.mv_data), (char *)k.mv_data);
        a[n].status = lv.status;
        review += lv.status == NV_LINK_REVIEW;
        n++;
    }
    mdb_cursor_close(c);
    if (n > 1)
        qsort(a, n, sizeof(*a), lk_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i, ents = 0, extra = 0;
        while (j < n && strcmp(a[j].rcu, a[i].rcu) == 0) {
            if (j == i || strcmp(a[j].entity, a[j - 1].entity) != 0)
                ents++;
            else
                extra++;
            j++;
        }
        people++;
        multi += ents > 1;
        dups += extra > 0;
        dup_records += extra;
        i = j;
    }
    free(a);
out:
    if (mdb_stat(txn, h->link->review, &ms) != 0)
        ms.ms_entries = 0;
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "records", (json_int_t)n, "rcus",
                     (json_int_t)people, "in_several_entities", (json_int_t)multi,
                     "with_duplicates_in_one_entity", (json_int_t)dups,
                     "duplicate_records", (json_int_t)dup_records, "records_in_review",
                     (json_int_t)review, "review_pairs", (json_int_t)(ms.ms_entries / 2));
}

/* The streams of the store, as [{"sender"|"to":..,"seq":..,"last_id":..}];
 * each sender becomes an entity of es, in the order of the streams. */
static json_t *
streams_json(struct nv_hub *h, MDB_txn *txn, struct ents *es)
{
    json_t *streams = json_array();
    MDB_cursor *cur;
    MDB_val k, v;

    if (mdb_cursor_open(txn, h->store.streams, &cur) != 0)
        return streams;
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        struct nv_stream_state st;
        char id[65], name[NV_NAME_MAX + 8];
        int o = k.mv_size > 4 && memcmp(k.mv_data, "out:", 4) == 0;
        size_t skip = o ? 4 : 0, l = k.mv_size - skip;
        if (v.mv_size != NV_STREAM_STATE_LEN || l > NV_NAME_MAX)
            continue;
        nv_stream_decode(v.mv_data, &st);
        nv_hex(st.last_id, 32, id);
        memcpy(name, (char *)k.mv_data + skip, l);
        name[l] = '\0';
        json_t *one = json_pack("{s:s,s:I,s:s}", o ? "to" : "sender", name, "seq",
                                (json_int_t)st.seq, "last_id", id);
        struct nv_hrebase rb;
        /* the epoch a rebase opened, and whether its snapshot is awaited */
        if (!o && one != NULL && nv_hstore_rebase_get(txn, &h->store, name, &rb) == 0 &&
            rb.epoch > 0) {
            json_object_set_new(one, "epoch", json_integer((json_int_t)rb.epoch));
            json_object_set_new(one, "rebase_base", json_integer((json_int_t)rb.base));
            json_object_set_new(one, "snapshot_pending", json_boolean(rb.pending));
        }
        json_array_append_new(streams, one);
        if (!o)
            (void)ent_get(es, name, l);
    }
    mdb_cursor_close(cur);
    return streams;
}

/* Bundles in dir's inbox ahead of their stream (a gap): the first bundle
 * past the gap of each stream, as [{"entity","applied","missing_from",
 * "missing_to"}]. */
static json_t *
waiting_json(struct nv_hub *h, MDB_txn *txn, const char *dir)
{
    json_t *waiting = json_array();
    char *ib = nv_path_join(dir, "inbox");
    struct nv_spool_entry *sv;
    size_t sn;

    if (nv_spool_list(ib, 0, &sv, &sn) == 0) {
        for (size_t i = 0; i < sn; i++) {
            struct nv_stream_state st;
            if (sv[i].sender[0] == '\0' ||
                nv_hstore_stream_get(txn, &h->store, sv[i].sender, &st) < 0 ||
                sv[i].seq <= st.seq + 1)
                continue;
            /* only the first bundle past the gap of each stream */
            if (i > 0 && strcmp(sv[i - 1].sender, sv[i].sender) == 0 &&
                sv[i - 1].seq > st.seq + 1)
                continue;
            json_array_append_new(waiting,
                                  json_pack("{s:s,s:I,s:I,s:I}", "entity",
                                            sv[i].sender, "applied", (json_int_t)st.seq,
                                            "missing_from", (json_int_t)(st.seq + 1),
                                            "missing_to", (json_int_t)(sv[i].seq - 1)));
        }
        nv_spool_list_free(sv, sn);
    }
    free(ib);
    return waiting;
}

/* One entity's figures, as status --json lists them (its mapping read
 * through h, outside any transaction). */
static json_t *
entity_json(struct nv_hub *h, const struct ent *e)
{
    const struct nv_mapping *m = NULL;
    const char *commit = NULL;
    json_t *o;

    if (nv_hub_mapping(h, e->name, &m, &commit) < 0)
        m = NULL, commit = NULL;
    o = json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:o}", "entity", e->name, "mapping",
                  m ? commit : NULL, "seq", (json_int_t)e->seq, "records",
                  (json_int_t)e->records, "unmapped",
                  (json_int_t)(e->records - e->mapped), "rejected",
                  (json_int_t)e->rejected, "reasons", top_reasons(e->reasons, 1));
    json_object_set_new(o, "not_normalised",
                        json_pack("{s:I,s:I,s:o}", "records", (json_int_t)e->unnorm_records,
                                  "values", (json_int_t)e->unnorm_values, "reasons",
                                  top_reasons(e->unnorm, 1)));
    if (e->last != NULL)
        json_object_set(o, "last_bundle", e->last);
    json_object_set_new(o, "agent_rejects",
                        json_pack("{s:I,s:o}", "rows", (json_int_t)e->agent_rejects,
                                  "reasons", top_reasons(e->agent_reasons, 0)));
    return o;
}

static void
ents_release(struct ents *es)
{
    for (size_t i = 0; i < es->n; i++) {
        json_decref(es->v[i].reasons);
        json_decref(es->v[i].unnorm);
        json_decref(es->v[i].last);
        json_decref(es->v[i].agent_reasons);
    }
    free(es->v);
}

/* The status of the hub h opened at dir, as status --json prints it (keys
 * in the order printed).  0, or an NV_E code when the store cannot be read
 * (*out untouched). */
int
nv_ops_status(struct nv_hub *h, const char *dir, json_t **out)
{
    return nv_ops_status_scan(h, dir, 0, out);
}

int
nv_ops_status_scan(struct nv_hub *h, const char *dir, int scan, json_t **out)
{
    struct ents es = { NULL, 0 };
    json_t *o, *streams, *ents, *waiting, *mf, *ws;
    char *qd, *ib;
    MDB_txn *txn;
    MDB_stat ms;
    int rc;

    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    o = json_object();
    ents = json_array();
    streams = streams_json(h, txn, &es);
    if (scan)
        scan_store(h, txn, &es);
    else
        read_tally(h, txn, &es);
    scan_bundles(h, txn, &es);
    mf = matching_figures(h, txn, scan);
    ws = nv_weights_state(txn, h->link);
    if (ws != NULL)
        json_object_set_new(o, "weights", ws);
    if (mf != NULL)
        json_object_set_new(o, "matching", mf);
    waiting = waiting_json(h, txn, dir);
    /* updates queued and not yet sealed (an entity without an enrolled
     * key, or a pass that stopped before sending) */
    json_object_set_new(o, "updates_queued",
                        json_integer(mdb_stat(txn, h->golden->outq, &ms) == 0
                                         ? (json_int_t)ms.ms_entries : 0));
    json_object_set_new(o, "gdpr", nv_gdpr_counts(txn, h->gdpr, nv_now()));
    mdb_txn_abort(txn);
    for (size_t i = 0; i < es.n; i++)
        json_array_append_new(ents, entity_json(h, &es.v[i]));
    ents_release(&es);
    json_object_set_new(o, "hub", json_string(h->self.pub.entity));
    json_object_set_new(o, "streams", streams);
    json_object_set_new(o, "entities", ents);
    json_object_set_new(o, "waiting", waiting);
    qd = nv_path_join(dir, "quarantine");
    ib = nv_path_join(dir, "inbox");
    json_object_set_new(o, "inbox", json_integer(count_nova(ib)));
    json_object_set_new(o, "quarantine", json_integer(count_nova(qd)));
    free(qd);
    free(ib);
    *out = o;
    return 0;
}

