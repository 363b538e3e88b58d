/*
 * golden.c - golden records, survivorship rules and outbound updates (see
 * golden.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../agent/outbox.h"
#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "../../formats/progress.h"
#include "../../formats/record.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
#include "golden.h"
#include "../core/hub.h"
#include "../link/link.h"
#include "../model/mapping.h"
#include "../store/maprepo.h"
#include "../model/normalize.h"
#include "../store/store.h"

/* The rules at the tip of the mapping repository (defaults without a
 * rules file). */
static int
rules_load(struct nv_hub *h, struct nv_rules *out)
{
    struct nv_buf text = NV_BUF_INIT;
    char commit[41];
    int r = nv_maprepo_get(h->maps, NV_RULES_NAME, NULL, &text, commit);

    if (r == NV_ENOTFOUND) {
        nv_rules_default(out);
        nv_buf_release(&text);
        return 0;
    }
    if (r == 0 && (r = nv_rules_parse((char *)text.data, text.len, out)) < 0)
        r = nv_fail(NV_ECONFIG, "the survivorship rules at commit %.12s do not parse "
                    "(fix them with nova-hub rules set): %s", commit, nv_errmsg(r));
    if (r == 0)
        memcpy(out->commit, commit, sizeof(commit));
    nv_buf_release(&text);
    return r;
}

/* ---- store ---- */

int
nv_golden_open(MDB_txn *txn, void *dbs)
{
    struct nv_golden_db *db = dbs;
    int rc;

    if ((rc = mdb_dbi_open(txn, "gstate", MDB_CREATE, &db->gstate)) != 0 ||
        (rc = mdb_dbi_open(txn, "outq", MDB_CREATE, &db->outq)) != 0)
        return nv_hmdb_fail(rc, "cannot open the golden databases");
    return 0;
}

static json_t *
get_json(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen)
{
    MDB_val k = { klen, (void *)key }, v;

    if (mdb_get(txn, dbi, &k, &v) != 0)
        return NULL;
    return json_loadb(v.mv_data, v.mv_size, 0, NULL);
}

/* Write o (compact, sorted) under key unless the stored value is the same;
 * o NULL deletes. */
static int
put_json(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, json_t *o)
{
    MDB_val k = { klen, (void *)key }, v;
    char *t = NULL;
    int rc;

    if (o == NULL) {
        rc = mdb_del(txn, dbi, &k, NULL);
        return rc == 0 || rc == MDB_NOTFOUND ? 0 : nv_hmdb_fail(rc, "cannot write");
    }
    if ((t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == strlen(t) &&
        memcmp(v.mv_data, t, v.mv_size) == 0) {
        free(t);
        return 0;
    }
    v.mv_size = strlen(t);
    v.mv_data = t;
    rc = mdb_put(txn, dbi, &k, &v, 0);
    free(t);
    return rc == 0 ? 0 : nv_hmdb_fail(rc, "cannot write");
}

/* ---- times ---- */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Seconds since the epoch of a normalised timestamp (hub/mapping.h's
 * nv_norm_timestamp: YYYY-MM-DD[THH:MM:SS[zone]]); 0 if it is not one. */
static int64_t
ts_epoch(const char *s)
{
    int y, mo, d, hh = 0, mi = 0, ss = 0, n = 0;
    int64_t t;

    if (s == NULL || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 || mo < 1 ||
        mo > 12 || d < 1 || d > 31)
        return 0;
    s += n;
    if (*s == 'T' || *s == ' ') {
        if (sscanf(s + 1, "%2d:%2d:%2d%n", &hh, &mi, &ss, &n) != 3 || n != 8)
            return 0;
        s += 1 + n;
    }
    t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mi * 60 + ss;
    if ((*s == '+' || *s == '-') && strlen(s) >= 3) {
        int zh = (s[1] - '0') * 10 + (s[2] - '0'), zm = 0;
        const char *p = s + 3;
        if (*p == ':')
            p++;
        if (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9')
            zm = (p[0] - '0') * 10 + (p[1] - '0');
        t += (*s == '+' ? -1 : 1) * (int64_t)(zh * 3600 + zm * 60);
    }
    return t;
}


/* ---- values ---- */

/* The normalised value of field f in c (the first one of a multi-valued
 * field), or NULL; consent's 0/1 as text. */
static const char *
cval(json_t *c, int f)
{
    json_t *v = json_object_get(c, nv_fields[f].name);

    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_integer(v))
        return json_integer_value(v) ? "1" : "0";
    return json_string_value(v);
}

static const char *
oval(json_t *o, int f)
{
    json_t *v = json_object_get(o, nv_fields[f].name);

    if (json_is_array(v))
        v = json_array_get(v, 0);
    return json_string_value(v);
}

/* The value of field f as the golden record gives it and updates carry:
 * as the entity wrote it for text (names, address, e-mail, country: their
 * normalised forms are folded or canonical, not for people), normalised
 * for the rest (ISO dates, E.164 phones, postal codes, 0/1). */
static const char *
outval(int f, json_t *c, json_t *o)
{
    int k = nv_fields[f].kind;
    const char *v = NULL;

    if (k == NV_K_NAME || k == NV_K_TEXT || k == NV_K_EMAIL || k == NV_K_COUNTRY)
        v = oval(o, f);
    return v ? v : cval(c, f);
}

/* The form values are compared in: free text folded like names (case,
 * accents, punctuation), the rest as normalised.  Into b; returns b's text. */
static const char *
cmpkey(int f, const char *n, struct nv_buf *b)
{
    nv_buf_reset(b);
    if (n == NULL)
        return "";
    if (nv_fields[f].kind == NV_K_TEXT && nv_norm_name(n, strlen(n), b) == 0 && b->data)
        return (char *)b->data;
    return n;
}

/* 1 when record c already holds value n for field f. */
static int
holds(json_t *c, int f, const char *n)
{
    json_t *v = json_object_get(c, nv_fields[f].name);
    struct nv_buf a = NV_BUF_INIT, b = NV_BUF_INIT;
    int same = 0;

    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            if (json_is_string(e) && strcmp(json_string_value(e), n) == 0)
                same = 1;
    } else {
        const char *x = cval(c, f);
        same = x != NULL && strcmp(cmpkey(f, x, &a), cmpkey(f, n, &b)) == 0;
    }
    nv_buf_release(&a);
    nv_buf_release(&b);
    return same;
}

/* ---- computing ---- */

static double
mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct member {
    char *key;         /* entity\0source\0key */
    size_t keylen;
    const char *entity, *source, *rkey;
    json_t *rec;       /* the stored record (NULL: gone) */
    json_t *c;         /* its common values (borrowed from rec) */
    const struct nv_mapping *map;
    int64_t t[NV_F_COUNT]; /* when each field's value last changed */
    int complete;
    json_t *upd;       /* {field: value} to send */
};

struct mapcache {
    char entity[NV_NAME_MAX + 1];
    const struct nv_mapping *map;
};

struct gctx {
    struct nv_hub *h;
    MDB_txn *txn;
    struct nv_rules rules;
    int64_t when;
    struct mapcache *maps;
    size_t nmaps;
    struct member *m;
    size_t nm, capm;
    struct nv_golden_stats *st;
    struct nv_buf b1, b2;
};

static int
mapping_of(struct gctx *g, const char *entity, const struct nv_mapping **out)
{
    const char *commit;
    int r;

    for (size_t i = 0; i < g->nmaps; i++)
        if (strcmp(g->maps[i].entity, entity) == 0) {
            *out = g->maps[i].map;
            return 0;
        }
    if ((r = nv_hub_mapping(g->h, entity, out, &commit)) < 0)
        return r;
    if ((g->maps = realloc(g->maps, (g->nmaps + 1) * sizeof(*g->maps))) == NULL)
        abort();
    snprintf(g->maps[g->nmaps].entity, sizeof(g->maps[0].entity), "%s", entity);
    g->maps[g->nmaps++].map = *out;
    return 0;
}

static void
members_release(struct gctx *g)
{
    for (size_t i = 0; i < g->nm; i++) {
        free(g->m[i].key);
        json_decref(g->m[i].rec);
        json_decref(g->m[i].upd);
    }
    g->nm = 0;
}

static int
member_add(void *ctx, uint64_t rid, const char *key, size_t keylen)
{
    struct gctx *g = ctx;
    struct member *m;

    (void)rid;
    if (g->nm == g->capm) {
        g->capm = g->capm ? 2 * g->capm : 8;
        if ((g->m = realloc(g->m, g->capm * sizeof(*g->m))) == NULL)
            abort();
    }
    m = &g->m[g->nm++];
    memset(m, 0, sizeof(*m));
    if ((m->key = malloc(keylen + 1)) == NULL)
        abort();
    memcpy(m->key, key, keylen);
    m->key[keylen] = '\0';
    m->keylen = keylen;
    if (nv_hstore_key_split(m->key, keylen, &m->entity, &m->source, &m->rkey) < 0) {
        free(m->key);
        g->nm--;
        return nv_fail(NV_ECORRUPT, "hub store: a bad record key");
    }
    return 0;
}

/* The time of one version of a record (rec): its updated_at, else when the
 * bundle that brought it was applied, else the current bundle's time. */
static int64_t
rec_time(struct gctx *g, const char *entity, json_t *rec)
{
    int64_t t = ts_epoch(json_string_value(json_object_get(json_object_get(rec, "c"),
                                                            "updated_at")));
    char k[NV_NAME_MAX + 32];
    json_t *bs;

    if (t != 0)
        return t;
    snprintf(k, sizeof(k), "%s/%020llu", entity,
             (unsigned long long)json_integer_value(json_object_get(rec, "seq")));
    bs = get_json(g->txn, g->h->store.bstats, k, strlen(k));
    if (bs != NULL && nv_time_parse(json_string_value(json_object_get(bs, "applied")) ?: "",
                                    &t) == 0) {
        json_decref(bs);
        return t;
    }
    json_decref(bs);
    return g->when;
}

/* Per-field times of a record: those kept in gstate (fields changed since
 * it first came), else the time of its version rec. */
static void
field_times(struct gctx *g, const char *key, size_t keylen, const char *entity, json_t *rec,
            int64_t t[NV_F_COUNT])
{
    json_t *gs = get_json(g->txn, g->h->golden->gstate, key, keylen);
    json_t *ts = json_object_get(gs, "t");
    int64_t rt = -1;

    for (int f = 0; f < NV_F_COUNT; f++) {
        json_t *v = json_object_get(ts, nv_fields[f].name);
        if (json_is_integer(v)) {
            t[f] = json_integer_value(v);
        } else {
            if (rt < 0)
                rt = rec_time(g, entity, rec);
            t[f] = rt;
        }
    }
    json_decref(gs);
}

/* Load the member's stored record, mapping and per-field times. */
static int
member_load(struct gctx *g, struct member *m)
{
    int r;

    m->rec = get_json(g->txn, g->h->store.records, m->key, m->keylen);
    m->c = json_object_get(m->rec, "c");
    if (m->rec == NULL || m->c == NULL)
        return 0;
    if ((r = mapping_of(g, m->entity, &m->map)) < 0)
        return r;
    m->complete = (int)json_object_size(m->c);
    field_times(g, m->key, m->keylen, m->entity, m->rec, m->t);
    return 0;
}

/* Is a better than b for field f? */
static int
better(const struct gctx *g, int f, const struct member *a, const struct member *b)
{
    size_t ra = nv_rules_rank(&g->rules, f, a->entity), rb = nv_rules_rank(&g->rules, f, b->entity);
    int c;

    if (ra != rb)
        return ra < rb;
    if (a->t[f] != b->t[f])
        return a->t[f] > b->t[f];
    if (a->complete != b->complete)
        return a->complete > b->complete;
    if ((c = strcmp(a->entity, b->entity)) != 0)
        return c < 0;
    if ((c = strcmp(a->rkey, b->rkey)) != 0)
        return c < 0;
    return strcmp(a->source, b->source) < 0;
}

/* The member whose value of field f the golden record keeps, or NULL. */
static struct member *
winner(struct gctx *g, int f)
{
    struct member *best = NULL;

    for (size_t i = 0; i < g->nm; i++)
        if (cval(g->m[i].c, f) != NULL && (best == NULL || better(g, f, &g->m[i], best)))
            best = &g->m[i];
    return best;
}

static int
restricted(struct gctx *g, const char *rcu)
{
    json_t *fl = g->h->person_flags(g->h, g->txn, rcu);
    int yes = fl != NULL && json_is_string(json_object_get(fl, "restrict"));

    json_decref(fl);
    return yes;
}

static int
queue_update(struct gctx *g, struct member *m)
{
    char *line = NULL;
    int r = nv_golden_update_line(g->h, m->entity, m->source, m->rkey,
                                  json_object_get(m->rec, "fields"), m->upd, &line);
    MDB_val k, v, ck = { 4, (void *)"outq" }, cv;
    uint8_t kb[NV_NAME_MAX + 1 + 8];
    uint64_t seq = 0;
    size_t el = strlen(m->entity);
    int rc;

    if (r < 0 || line == NULL)
        return r;
    if (mdb_get(g->txn, g->h->store.meta, &ck, &cv) == 0 && cv.mv_size == 8)
        memcpy(&seq, cv.mv_data, 8);
    seq++;
    cv.mv_size = 8;
    cv.mv_data = &seq;
    memcpy(kb, m->entity, el + 1);
    for (int i = 0; i < 8; i++)
        kb[el + 1 + i] = (uint8_t)(seq >> (56 - 8 * i));
    k.mv_size = el + 9;
    k.mv_data = kb;
    v.mv_size = strlen(line);
    v.mv_data = line;
    if ((rc = mdb_put(g->txn, g->h->store.meta, &ck, &cv, 0)) != 0 ||
        (rc = mdb_put(g->txn, g->h->golden->outq, &k, &v, 0)) != 0)
        r = nv_hmdb_fail(rc, "cannot queue an update");
    else
        g->st->updates++;
    free(line);
    return r;
}

static int
gctx_init(struct gctx *g, struct nv_hub *h, MDB_txn *txn, struct nv_golden_stats *st)
{
    memset(g, 0, sizeof(*g));
    memset(st, 0, sizeof(*st));
    g->h = h;
    g->txn = txn;
    g->st = st;
    g->when = nv_now();
    g->b1 = (struct nv_buf)NV_BUF_INIT;
    g->b2 = (struct nv_buf)NV_BUF_INIT;
    return rules_load(h, &g->rules);
}

static void
gctx_release(struct gctx *g)
{
    members_release(g);
    free(g->m);
    free(g->maps);
    nv_rules_release(&g->rules);
    nv_buf_release(&g->b1);
    nv_buf_release(&g->b2);
}

/* One record that changed golden fields (changed[f]): its per-field times,
 * then the updates its new values call for. */
static int
changed_record(struct gctx *g, const struct nv_link_item *it, json_t *oldrec, json_t *newrec,
               const uint8_t changed[NV_F_COUNT], const char *sender, int updates)
{
    const char *entity = it->key;
    int64_t told[NV_F_COUNT], tnew[NV_F_COUNT], rt = rec_time(g, entity, newrec);
    struct nv_link_val lv;
    struct member *me = NULL;
    json_t *ts = json_object(), *gs;
    int r;

    /* times: a changed field takes the new version's time */
    field_times(g, it->key, it->keylen, entity, oldrec, told);
    for (int f = 0; f < NV_F_COUNT; f++) {
        tnew[f] = changed[f] ? rt : told[f];
        if (nv_golden_field(f) && json_object_get(json_object_get(newrec, "c"),
                                                  nv_fields[f].name) != NULL)
            json_object_set_new(ts, nv_fields[f].name, json_integer((json_int_t)tnew[f]));
    }
    gs = json_pack("{s:o}", "t", ts);
    r = put_json(g->txn, g->h->golden->gstate, it->key, it->keylen, gs);
    json_decref(gs);
    if (r < 0 || !updates)
        return r;
    if ((r = nv_link_get(g->txn, g->h->link, it->key, it->keylen, &lv)) < 0)
        return r == NV_ENOTFOUND ? 0 : r;
    if (restricted(g, lv.rcu))
        return 0;
    members_release(g);
    if ((r = nv_link_members(g->txn, g->h->link, lv.rcu, member_add, g)) < 0)
        return r;
    if (g->nm < 2)
        return 0;
    for (size_t i = 0; i < g->nm && r == 0; i++) {
        if ((r = member_load(g, &g->m[i])) < 0)
            return r;
        if (g->m[i].keylen == it->keylen && memcmp(g->m[i].key, it->key, it->keylen) == 0)
            me = &g->m[i];
    }
    if (me == NULL || me->c == NULL || strcmp(me->entity, sender) != 0)
        return 0;
    memcpy(me->t, tnew, sizeof(tnew));
    for (int f = 0; f < NV_F_COUNT; f++) {
        struct member *now, *before;
        const char *n, *was = NULL, *v;
        json_t *o;
        if (!changed[f] || !g->rules.update[f] || !nv_golden_field(f))
            continue;
        /* the value kept now: it must be this record's new value */
        if ((now = winner(g, f)) != me || (n = cval(me->c, f)) == NULL)
            continue;
        /* the value kept before, with this record as it was */
        me->c = json_object_get(oldrec, "c");
        memcpy(me->t, told, sizeof(told));
        before = winner(g, f);
        if (before != NULL)
            was = cval(before->c, f);
        if (was != NULL && strcmp(cmpkey(f, n, &g->b1), cmpkey(f, was, &g->b2)) == 0)
            was = n; /* unchanged */
        else
            was = NULL;
        me->c = json_object_get(me->rec, "c");
        memcpy(me->t, tnew, sizeof(tnew));
        if (was != NULL)
            continue;
        g->st->changed++;
        /* the value as the entity wrote it */
        o = nv_mapping_originals(me->map, json_object_get(me->rec, "fields"));
        v = outval(f, me->c, o);
        for (size_t i = 0; i < g->nm; i++) {
            struct member *m = &g->m[i];
            if (m->c == NULL || m->map == NULL || strcmp(m->entity, me->entity) == 0 ||
                m->map->inverse[f] < 0 || holds(m->c, f, n))
                continue;
            if (m->upd == NULL)
                m->upd = json_object();
            json_object_set_new(m->upd, nv_fields[f].name, json_string(v));
        }
        json_decref(o);
    }
    for (size_t i = 0; i < g->nm && r == 0; i++)
        if (g->m[i].upd != NULL)
            r = queue_update(g, &g->m[i]);
    return r;
}

/* The record key as a string for the prev table. */
static void
prev_key(const char *key, size_t keylen, struct nv_buf *b)
{
    nv_buf_reset(b);
    if (nv_buf_add(b, key, keylen) < 0)
        abort();
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] == '\0')
            b->data[i] = 0x1f;
    b->data[b->len] = '\0';
}

void
nv_golden_prev(json_t *prev, const char *key, size_t keylen, const char *old, size_t oldlen)
{
    struct nv_buf b = NV_BUF_INIT;

    prev_key(key, keylen, &b);
    if (json_object_get(prev, (char *)b.data) == NULL)
        json_object_set_new_nocheck(prev, (char *)b.data, json_stringn_nocheck(old, oldlen));
    nv_buf_release(&b);
}

int
nv_golden_after_link(struct nv_hub *h, MDB_txn *txn, const struct nv_link_set *set,
                     json_t *prev, const char *sender, int updates, int64_t when,
                     struct nv_golden_stats *st)
{
    struct gctx g;
    struct nv_buf pk = NV_BUF_INIT;
    double t0 = mono_s();
    size_t nchanged = 0;
    int r;

    if ((r = gctx_init(&g, h, txn, st)) < 0) {
        gctx_release(&g);
        return r;
    }
    if (when != 0)
        g.when = when;
    for (size_t i = 0; i < set->n && r == 0; i++) {
        const struct nv_link_item *it = &set->v[i];
        json_t *ov, *oldrec, *newrec;
        uint8_t changed[NV_F_COUNT];
        int any = 0;
        if (it->skip)
            continue;
        if (it->deleted) {
            /* deleted or erased: its field times go with it */
            r = put_json(txn, h->golden->gstate, it->key, it->keylen, NULL);
            continue;
        }
        /* a record seen for the first time changed nothing */
        prev_key(it->key, it->keylen, &pk);
        if ((ov = json_object_get(prev, (char *)pk.data)) == NULL)
            continue;
        oldrec = json_loadb(json_string_value(ov), json_string_length(ov), 0, NULL);
        newrec = get_json(txn, h->store.records, it->key, it->keylen);
        memset(changed, 0, sizeof(changed));
        for (int f = 0; f < NV_F_COUNT && newrec != NULL; f++) {
            json_t *a = json_object_get(json_object_get(oldrec, "c"), nv_fields[f].name);
            json_t *b = json_object_get(json_object_get(newrec, "c"), nv_fields[f].name);
            if (nv_golden_field(f) && !(a == NULL ? b == NULL : b != NULL && json_equal(a, b)))
                any = changed[f] = 1;
        }
        if (any) {
            nchanged++;
            r = changed_record(&g, it, oldrec, newrec, changed, sender ? sender : "",
                               updates && sender != NULL);
        }
        json_decref(oldrec);
        json_decref(newrec);
    }
    if (r == 0 && nchanged > 0)
        nv_debug("golden", "%zu of %zu records changed golden fields, %llu golden value(s) "
                 "changed: %llu update(s) queued, %.2f s", nchanged, set->n,
                 (unsigned long long)st->changed, (unsigned long long)st->updates,
                 mono_s() - t0);
    nv_buf_release(&pk);
    gctx_release(&g);
    return r;
}

/* ---- reading ---- */

int
nv_golden_show(struct nv_hub *h, MDB_txn *txn, const char *rcu, json_t **out)
{
    struct gctx g;
    struct nv_golden_stats st;
    json_t *doc = NULL, *fs, *recs, *fl;
    int r;

    *out = NULL;
    if ((r = gctx_init(&g, h, txn, &st)) < 0 ||
        (r = nv_link_members(txn, h->link, rcu, member_add, &g)) < 0)
        goto out;
    recs = json_array();
    for (size_t i = 0; i < g.nm; i++) {
        struct member *m = &g.m[i];
        struct nv_link_val lv;
        static const char *const st_names[] = { "new", "linked", "review" };
        if ((r = member_load(&g, m)) < 0) {
            json_decref(recs);
            goto out;
        }
        r = nv_link_get(txn, h->link, m->key, m->keylen, &lv);
        json_array_append_new(recs, json_pack("{s:s,s:s,s:s,s:s}", "entity", m->entity,
                                              "source", m->source, "key", m->rkey, "status",
                                              r == 0 && lv.status <= 2 ? st_names[lv.status]
                                                                       : "new"));
        r = 0;
    }
    fs = json_object();
    for (int f = 0; f < NV_F_COUNT; f++) {
        struct member *w;
        json_t *o;
        const char *v;
        char when[21];
        if (!nv_golden_field(f) || (w = winner(&g, f)) == NULL)
            continue;
        o = w->map ? nv_mapping_originals(w->map, json_object_get(w->rec, "fields")) : NULL;
        v = outval(f, w->c, o);
        json_object_set_new(fs, nv_fields[f].name,
                            json_pack("{s:s,s:s,s:s,s:s,s:s}", "value", v,
                                      "entity", w->entity, "source", w->source, "key",
                                      w->rkey, "time", nv_time_format(w->t[f], when)));
        json_decref(o);
    }
    doc = json_object();
    json_object_set_new(doc, "rcu", json_string(rcu));
    json_object_set_new(doc, "fields", fs);
    json_object_set_new(doc, "records", recs);
    json_object_set_new(doc, "rules", g.rules.commit[0] ? json_string(g.rules.commit)
                                                        : json_null());
    fl = h->person_flags(h, txn, rcu);
    json_object_set_new(doc, "flags", fl ? fl : json_object());
    *out = doc;
out:
    gctx_release(&g);
    return r;
}

/* ---- updates out ---- */

int
nv_golden_update_line(struct nv_hub *h, const char *entity, const char *source,
                      const char *key, json_t *fields, json_t *sets, char **line)
{
    const struct nv_mapping *m;
    const char *commit, *f;
    json_t *out, *cols, *val;
    size_t sent = 0;
    int r;

    *line = NULL;
    if ((r = nv_hub_mapping(h, entity, &m, &commit)) < 0 || m == NULL)
        return r;
    cols = json_object();
    for (size_t i = 0; i < m->nkey; i++) {
        json_t *kv = json_object_get(fields, m->key[i]);
        if (json_is_string(kv))
            json_object_set(cols, m->key[i], kv);
        else if (m->nkey == 1)
            json_object_set_new(cols, m->key[i], json_string(key));
    }
    json_object_foreach(sets, f, val) {
        int fi = nv_field_lookup(f);
        if (fi >= 0 && m->inverse[fi] >= 0 && json_is_string(val)) {
            json_object_set(cols, m->cols[m->inverse[fi]].name, val);
            sent++;
        }
    }
    if (sent == 0) {
        json_decref(cols);
        return 0;
    }
    out = json_pack("{s:s,s:s,s:s,s:o}", "op", "upsert", "source", source, "key", key,
                    "fields", cols);
    if (out == NULL || (*line = json_dumps(out, JSON_COMPACT)) == NULL)
        r = nv_fail(NV_ENOMEM, "out of memory");
    json_decref(out);
    return r;
}

struct qitem {
    MDB_val k;
    char *key, *line;
    size_t klen, len;
};

int
nv_golden_flush(struct nv_hub *h, uint64_t *sent)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    struct qitem *q = NULL;
    size_t nq = 0, cap = 0, i = 0;
    int rc, r = 0;

    *sent = 0;
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    if ((rc = mdb_cursor_open(txn, h->golden->outq, &c)) != 0) {
        mdb_txn_abort(txn);
        return nv_hmdb_fail(rc, "cannot read the update queue");
    }
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        if (nq == cap) {
            cap = cap ? 2 * cap : 64;
            if ((q = realloc(q, cap * sizeof(*q))) == NULL)
                abort();
        }
        q[nq].klen = k.mv_size;
        q[nq].len = v.mv_size;
        if ((q[nq].key = malloc(k.mv_size)) == NULL ||
            (q[nq].line = malloc(v.mv_size)) == NULL)
            abort();
        memcpy(q[nq].key, k.mv_data, k.mv_size);
        memcpy(q[nq].line, v.mv_data, v.mv_size);
        nq++;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    /* entity by entity (the queue is sorted by entity, then order) */
    while (i < nq && r == 0) {
        const char *e = q[i].key;
        size_t j = i, n = 0;
        struct nv_outbox o;
        char *obox = NULL;
        while (j < nq && strcmp(q[j].key, e) == 0)
            j++;
        if ((r = nv_hub_outbox(h, e, NV_KIND_UPDATES, &o, &obox)) < 0) {
            nv_warn("updates", "%zu update(s) for '%s' wait: %s", j - i, e, nv_errmsg(r));
            r = 0;
            i = j;
            continue;
        }
        for (; i < j && r == 0; i++) {
            MDB_val dk = { q[i].klen, q[i].key };
            /* the line is in the current part: its queue entry leaves in
             * the transaction that commits with that part */
            if ((r = nv_outbox_add_record(&o, q[i].line, q[i].len, NV_OP_UPSERT)) == 0 &&
                (rc = mdb_del(nv_outbox_txn(&o), h->golden->outq, &dk, NULL)) != 0)
                r = nv_hmdb_fail(rc, "cannot write the update queue");
            n++;
        }
        if (r == 0)
            r = nv_outbox_end(&o);
        else
            nv_outbox_abort(&o);
        free(obox);
        if (r == 0) {
            *sent += n;
            nv_info("updates", "%zu update(s) sent to '%s'", n, e);
        }
        i = j;
    }
    for (size_t x = 0; x < nq; x++) {
        free(q[x].key);
        free(q[x].line);
    }
    free(q);
    return r;
}

/* ---- export ---- */

int
nv_golden_export(struct nv_hub *h, int csv, json_t *only, uint64_t *count)
{
    struct nv_csv_dialect dl = { ',', '"', 1, NV_ENC_UTF8 };
    struct nv_buf out = NV_BUF_INIT;
    const char *head[1 + NV_F_COUNT + 1];
    int fields[NV_F_COUNT], nf = 0, r = 0, rc;
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;

    *count = 0;
    for (int f = 0; f < NV_F_COUNT; f++)
        if (nv_golden_field(f))
            fields[nf++] = f;
    if (csv) {
        head[0] = "rcu_id";
        for (int i = 0; i < nf; i++)
            head[1 + i] = nv_fields[fields[i]].name;
        head[1 + nf] = "records";
        if ((r = nv_csv_write_row(&out, &dl, head, (size_t)nf + 2)) < 0)
            return r;
        fwrite(out.data, 1, out.len, stdout);
    }
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0) {
        nv_buf_release(&out);
        return nv_hmdb_fail(rc, "cannot read");
    }
    if ((rc = mdb_cursor_open(txn, h->link->rcus, &c)) != 0) {
        mdb_txn_abort(txn);
        nv_buf_release(&out);
        return nv_hmdb_fail(rc, "cannot read clusters");
    }
    nv_progress_step(0, "golden records");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP)) {
        char rcu[NV_RCU_LEN + 1];
        json_t *doc = NULL;
        nv_progress_add(1);
        if (k.mv_size != NV_RCU_LEN)
            continue;
        memcpy(rcu, k.mv_data, NV_RCU_LEN);
        rcu[NV_RCU_LEN] = '\0';
        if (only != NULL && json_object_get(only, rcu) == NULL)
            continue;
        if ((r = nv_golden_show(h, txn, rcu, &doc)) < 0)
            break;
        if (json_array_size(json_object_get(doc, "records")) > 0) {
            nv_buf_reset(&out);
            if (csv) {
                const char *vals[1 + NV_F_COUNT + 1];
                char n[24];
                json_t *fs = json_object_get(doc, "fields");
                vals[0] = rcu;
                for (int i = 0; i < nf; i++)
                    vals[1 + i] = json_string_value(json_object_get(
                                      json_object_get(fs, nv_fields[fields[i]].name), "value"))
                                      ?: "";
                snprintf(n, sizeof(n), "%zu", json_array_size(json_object_get(doc, "records")));
                vals[1 + nf] = n;
                r = nv_csv_write_row(&out, &dl, vals, (size_t)nf + 2);
            } else {
                char *t = json_dumps(doc, JSON_COMPACT);
                r = t ? nv_buf_addf(&out, "%s\n", t) : nv_fail(NV_ENOMEM, "out of memory");
                free(t);
            }
            if (r == 0 && fwrite(out.data, 1, out.len, stdout) != out.len)
                r = nv_fail_errno("cannot write the export");
            (*count)++;
        }
        json_decref(doc);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    nv_buf_release(&out);
    if (r == 0 && fflush(stdout) != 0)
        r = nv_fail_errno("cannot write the export");
    return r;
}

int
nv_golden_touch_all(struct nv_hub *h, uint64_t *n)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    int rc, r = 0;

    *n = 0;
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot write");
    if ((rc = mdb_cursor_open(txn, h->link->rcus, &c)) != 0) {
        mdb_txn_abort(txn);
        return nv_hmdb_fail(rc, "cannot read clusters");
    }
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP)) {
        if (k.mv_size != NV_RCU_LEN)
            continue;
        if ((r = nv_hstore_touch(txn, &h->store, NV_CHG_PERSON, k.mv_data, k.mv_size)) == 0)
            (*n)++;
    }
    mdb_cursor_close(c);
    if (r == 0 && rc != MDB_NOTFOUND && rc != 0)
        r = nv_hmdb_fail(rc, "cannot read clusters");
    if (r < 0) {
        mdb_txn_abort(txn);
        return r;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return nv_hmdb_fail(rc, "cannot commit");
    return 0;
}

int
nv_golden_forget(MDB_txn *txn, const struct nv_golden_db *db, json_t *purge, uint64_t *dropped)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc;

    *dropped = 0;
    if (json_object_size(purge) == 0)
        return 0;
    if ((rc = mdb_cursor_open(txn, db->outq, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read the update queue");
    while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
        const char *e = k.mv_data;
        json_t *set, *line;
        char *sk = NULL;
        int hit = 0;
        if (memchr(e, 0, k.mv_size) == NULL || (set = json_object_get(purge, e)) == NULL)
            continue;
        line = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        if (asprintf(&sk, "%s\x1f%s",
                     json_string_value(json_object_get(line, "source")) ?: "",
                     json_string_value(json_object_get(line, "key")) ?: "") < 0)
            abort();
        hit = json_object_get(set, sk) != NULL;
        free(sk);
        json_decref(line);
        if (hit) {
            if ((rc = mdb_cursor_del(c, 0)) != 0)
                break;
            (*dropped)++;
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : nv_hmdb_fail(rc, "cannot write the update queue");
}
