/*
 * golden.c - golden records, survivorship rules and outbound updates (see
 * golden.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../agent/outbox.h"
#include "../formats/errors.h"
#include "../formats/record.h"
#include "../formats/log.h"
#include "../formats/util.h"
#include "golden.h"
#include "ingest.h"
#include "link.h"
#include "mapping.h"
#include "maprepo.h"
#include "normalize.h"
#include "store.h"

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
nv_golden_open(MDB_txn *txn, struct nv_golden_db *db)
{
    int rc;

    if ((rc = mdb_dbi_open(txn, "golden", MDB_CREATE, &db->golden)) != 0 ||
        (rc = mdb_dbi_open(txn, "gstate", MDB_CREATE, &db->gstate)) != 0 ||
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
 * o NULL deletes.  *changed (may be NULL) gets 1 when something changed. */
static int
put_json(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, json_t *o, int *changed)
{
    MDB_val k = { klen, (void *)key }, v;
    char *t = NULL;
    int rc;

    if (o == NULL) {
        rc = mdb_del(txn, dbi, &k, NULL);
        if (rc == 0 && changed)
            *changed = 1;
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
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot write");
    if (changed)
        *changed = 1;
    return 0;
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

static uint64_t
fnv64(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
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

struct member {
    char *key;         /* entity\0source\0key */
    size_t keylen;
    const char *entity, *source, *rkey;
    json_t *rec;       /* the stored record (NULL: gone) */
    json_t *c, *o;     /* common values (borrowed from rec), originals (owned) */
    json_t *gs;        /* gstate */
    const struct nv_mapping *map;
    int64_t t[NV_F_COUNT];
    int complete;
    json_t *upd;       /* {field: value} to send */
    int is_item;       /* changed by the bundle being applied */
    uint8_t changed[NV_F_COUNT]; /* the field's value changed since last seen */
};

struct mapcache {
    char entity[NV_NAME_MAX + 1];
    const struct nv_mapping *map;
};

struct gctx {
    struct nv_hub *h;
    MDB_txn *txn;
    struct nv_rules rules;
    const char *sender; /* NULL: no updates */
    int64_t when;
    struct mapcache *maps;
    size_t nmaps;
    /* RCUs to recompute, and those done */
    char (*work)[16];
    size_t nwork, capwork, next;
    struct member *m;
    size_t nm, capm;
    struct nv_golden_stats *st;
    struct nv_buf b1, b2;
    uint64_t *items;   /* hashes of the bundle's record keys, sorted */
    size_t nitems;
    int readonly;      /* show: nothing is written */
};

static int
u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int
is_item(const struct gctx *g, const char *key, size_t len)
{
    uint64_t h = fnv64(key, len);

    return g->nitems > 0 && bsearch(&h, g->items, g->nitems, sizeof(h), u64_cmp) != NULL;
}

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
work_add(struct gctx *g, const char *rcu)
{
    if (rcu == NULL || rcu[0] == '\0')
        return;
    for (size_t i = 0; i < g->nwork; i++)
        if (strcmp(g->work[i], rcu) == 0)
            return;
    if (g->nwork == g->capwork) {
        g->capwork = g->capwork ? 2 * g->capwork : 64;
        if ((g->work = realloc(g->work, g->capwork * sizeof(*g->work))) == NULL)
            abort();
    }
    snprintf(g->work[g->nwork++], 16, "%s", rcu);
}

static void
members_release(struct gctx *g)
{
    for (size_t i = 0; i < g->nm; i++) {
        free(g->m[i].key);
        json_decref(g->m[i].rec);
        json_decref(g->m[i].o);
        json_decref(g->m[i].gs);
        json_decref(g->m[i].upd);
    }
    g->nm = 0;
}

static int
member_add(void *ctx, uint64_t rid, const char *key, size_t keylen)
{
    struct gctx *g = ctx;
    struct member *m;
    const char *z1, *z2;

    (void)rid;
    z1 = memchr(key, 0, keylen);
    z2 = z1 ? memchr(z1 + 1, 0, keylen - (size_t)(z1 + 1 - key)) : NULL;
    if (z2 == NULL)
        return nv_fail(NV_ECORRUPT, "hub store: a bad record key");
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
    m->entity = m->key;
    m->source = m->key + (z1 + 1 - key);
    m->rkey = m->key + (z2 + 1 - key);
    return 0;
}

/* The time of the record's current version: its updated_at, else when the
 * bundle that brought it was applied, else the current bundle's time. */
static int64_t
rec_time(struct gctx *g, struct member *m)
{
    int64_t t = ts_epoch(json_string_value(json_object_get(m->c, "updated_at")));
    char k[NV_NAME_MAX + 32];
    json_t *bs;

    if (t != 0)
        return t;
    snprintf(k, sizeof(k), "%s/%020llu", m->entity,
             (unsigned long long)json_integer_value(json_object_get(m->rec, "seq")));
    bs = get_json(g->txn, g->h->store.bstats, k, strlen(k));
    if (bs != NULL && nv_time_parse(json_string_value(json_object_get(bs, "applied")) ?: "",
                                    &t) == 0) {
        json_decref(bs);
        return t;
    }
    json_decref(bs);
    return g->when;
}

/* Load the member's record, mapping and gstate; refresh the per-field
 * times (a field whose value hash changed takes the record's time) and
 * point the gstate at rcu. */
static int
member_load(struct gctx *g, struct member *m, const char *rcu)
{
    json_t *times, *ts;
    int64_t rt = -1;
    int r;

    m->rec = get_json(g->txn, g->h->store.records, m->key, m->keylen);
    m->c = json_object_get(m->rec, "c");
    if (m->rec == NULL || m->c == NULL)
        return 0;
    if ((r = mapping_of(g, m->entity, &m->map)) < 0)
        return r;
    if (m->map != NULL)
        m->o = nv_mapping_originals(m->map, json_object_get(m->rec, "fields"));
    m->complete = (int)json_object_size(m->c);
    m->is_item = is_item(g, m->key, m->keylen);
    m->gs = get_json(g->txn, g->h->store.golden.gstate, m->key, m->keylen);
    if (m->gs == NULL)
        m->gs = json_object();
    if ((times = json_object_get(m->gs, "t")) == NULL) {
        times = json_object();
        json_object_set_new(m->gs, "t", times);
    }
    ts = json_object();
    for (int f = 0; f < NV_F_COUNT; f++) {
        json_t *v = json_object_get(m->c, nv_fields[f].name), *old;
        char *text, hex[17];
        if (!nv_golden_field(f) || v == NULL)
            continue;
        if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
            abort();
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)fnv64(text, strlen(text)));
        free(text);
        old = json_object_get(times, nv_fields[f].name);
        if (json_is_array(old) &&
            strcmp(json_string_value(json_array_get(old, 1)) ?: "", hex) == 0) {
            m->t[f] = json_integer_value(json_array_get(old, 0));
        } else {
            m->changed[f] = old != NULL;
            if (rt < 0)
                rt = rec_time(g, m);
            m->t[f] = rt;
        }
        json_object_set_new(ts, nv_fields[f].name, json_pack("[I,s]", (json_int_t)m->t[f], hex));
    }
    json_object_set_new(m->gs, "t", ts);
    if (g->readonly)
        return 0;
    {
        const char *was = json_string_value(json_object_get(m->gs, "g"));
        if (was != NULL && strcmp(was, rcu) != 0)
            work_add(g, was); /* the golden record it was in loses it */
    }
    json_object_set_new(m->gs, "g", json_string(rcu));
    return put_json(g->txn, g->h->store.golden.gstate, m->key, m->keylen, m->gs, NULL);
}

/* Is candidate a better than b for field f? */
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
    return strcmp(a->rkey, b->rkey) < 0 ||
           (strcmp(a->rkey, b->rkey) == 0 && strcmp(a->source, b->source) < 0);
}

/* The golden record of the loaded members. */
static json_t *
golden_of(struct gctx *g, int only_old)
{
    json_t *fs = json_object();
    char when[21];

    for (int f = 0; f < NV_F_COUNT; f++) {
        struct member *best = NULL;
        const char *n, *v;
        if (!nv_golden_field(f))
            continue;
        for (size_t i = 0; i < g->nm; i++)
            if (cval(g->m[i].c, f) != NULL && !(only_old && g->m[i].is_item) &&
                (best == NULL || better(g, f, &g->m[i], best)))
                best = &g->m[i];
        if (best == NULL)
            continue;
        n = cval(best->c, f);
        v = oval(best->o, f);
        json_object_set_new(fs, nv_fields[f].name,
                            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "v", v ? v : n, "n", n,
                                      "e", best->entity, "s", best->source, "k", best->rkey,
                                      "t", nv_time_format(best->t[f], when)));
    }
    return fs;
}

static int
restricted(struct gctx *g, const char *rcu)
{
    json_t *fl = get_json(g->txn, g->h->store.gdpr.flags, rcu, strlen(rcu));
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
        (rc = mdb_put(g->txn, g->h->store.golden.outq, &k, &v, 0)) != 0)
        r = nv_hmdb_fail(rc, "cannot queue an update");
    else
        g->st->updates++;
    free(line);
    return r;
}

/* Recompute one RCU's golden record; queue the updates its changes call for. */
static int
recompute(struct gctx *g, const char *rcu)
{
    char live[NV_RCU_LEN + 1];
    json_t *old, *fs, *doc;
    int r, changed = 0;

    members_release(g);
    if ((r = nv_link_resolve(g->txn, &g->h->store.link, rcu, live)) < 0)
        return r == NV_ENOTFOUND ? 0 : r;
    if (strcmp(live, rcu) == 0 &&
        (r = nv_link_members(g->txn, &g->h->store.link, rcu, member_add, g)) < 0)
        return r;
    if (g->nm < 2) {
        /* merged away, gone, or a lone record: no golden record kept */
        return put_json(g->txn, g->h->store.golden.golden, rcu, strlen(rcu), NULL, NULL);
    }
    for (size_t i = 0; i < g->nm; i++)
        if ((r = member_load(g, &g->m[i], rcu)) < 0)
            return r;
    old = get_json(g->txn, g->h->store.golden.golden, rcu, strlen(rcu));
    fs = golden_of(g, 0);
    if (g->sender != NULL && !restricted(g, rcu)) {
        /* the values before: the stored golden record, or for an RCU that
         * had none (a lone record until now), its records this bundle did
         * not change */
        json_t *prev = old != NULL ? NULL : golden_of(g, 1);
        json_t *of = old != NULL ? json_object_get(old, "f") : prev;
        for (int f = 0; f < NV_F_COUNT; f++) {
            json_t *nw = json_object_get(fs, nv_fields[f].name);
            const char *n = json_string_value(json_object_get(nw, "n"));
            const char *was = json_string_value(
                json_object_get(json_object_get(of, nv_fields[f].name), "n"));
            const char *we = json_string_value(json_object_get(nw, "e"));
            if (!g->rules.update[f] || n == NULL || json_object_size(of) == 0)
                continue;
            if (was != NULL && strcmp(cmpkey(f, n, &g->b1), cmpkey(f, was, &g->b2)) == 0)
                continue;
            g->st->changed++;
            /* the change is the sender's: its record's value changed and
             * now wins (a record that only joins the person sends nothing) */
            {
                size_t w;
                for (w = 0; w < g->nm; w++)
                    if (strcmp(g->m[w].entity, we) == 0 &&
                        strcmp(g->m[w].rkey, json_string_value(json_object_get(nw, "k"))) == 0 &&
                        strcmp(g->m[w].source, json_string_value(json_object_get(nw, "s"))) == 0)
                        break;
                if (strcmp(we, g->sender) != 0 || w == g->nm || !g->m[w].is_item ||
                    !g->m[w].changed[f])
                    continue;
            }
            for (size_t i = 0; i < g->nm; i++) {
                struct member *m = &g->m[i];
                if (m->c == NULL || m->map == NULL || strcmp(m->entity, we) == 0 ||
                    m->map->inverse[f] < 0 || holds(m->c, f, n))
                    continue;
                if (m->upd == NULL)
                    m->upd = json_object();
                json_object_set(m->upd, nv_fields[f].name, json_object_get(nw, "v"));
            }
        }
        for (size_t i = 0; i < g->nm; i++)
            if (g->m[i].upd != NULL && (r = queue_update(g, &g->m[i])) < 0)
                break;
        json_decref(prev);
    }
    if (r == 0) {
        char when[21];
        doc = json_pack("{s:o,s:s,s:s?}", "f", fs, "at", nv_time_format(g->when, when),
                        "rules", g->rules.commit[0] ? g->rules.commit : NULL);
        /* "at" changes only with the values */
        if (old != NULL && json_equal(json_object_get(old, "f"), fs) &&
            json_equal(json_object_get(old, "rules"), json_object_get(doc, "rules")))
            json_object_set(doc, "at", json_object_get(old, "at"));
        r = put_json(g->txn, g->h->store.golden.golden, rcu, strlen(rcu), doc, &changed);
        g->st->golden += changed;
        json_decref(doc);
    } else {
        json_decref(fs);
    }
    json_decref(old);
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
    free(g->work);
    free(g->maps);
    free(g->items);
    nv_rules_release(&g->rules);
    nv_buf_release(&g->b1);
    nv_buf_release(&g->b2);
}

static int
run_work(struct gctx *g)
{
    int r = 0;

    /* recompute may add RCUs (the former golden record of a member) */
    for (g->next = 0; g->next < g->nwork && r == 0; g->next++) {
        char rcu[16];
        memcpy(rcu, g->work[g->next], 16);
        r = recompute(g, rcu);
    }
    return r;
}

int
nv_golden_after_link(struct nv_hub *h, MDB_txn *txn, const struct nv_link_set *set,
                     const char *sender, int updates, int64_t when,
                     struct nv_golden_stats *st)
{
    struct gctx g;
    int r;

    if ((r = gctx_init(&g, h, txn, st)) < 0) {
        gctx_release(&g);
        return r;
    }
    g.sender = updates ? sender : NULL;
    if (when != 0)
        g.when = when;
    if ((g.items = malloc((set->n + 1) * sizeof(uint64_t))) == NULL)
        abort();
    for (size_t i = 0; i < set->n; i++)
        if (!set->v[i].skip)
            g.items[g.nitems++] = fnv64(set->v[i].key, set->v[i].keylen);
    qsort(g.items, g.nitems, sizeof(uint64_t), u64_cmp);
    for (size_t i = 0; i < set->n && r == 0; i++) {
        const struct nv_link_item *it = &set->v[i];
        struct nv_link_val lv;
        json_t *gs;
        if (it->skip)
            continue;
        work_add(&g, it->old_rcu);
        if ((gs = get_json(txn, h->store.golden.gstate, it->key, it->keylen)) != NULL) {
            work_add(&g, json_string_value(json_object_get(gs, "g")));
            json_decref(gs);
            if (it->deleted)
                r = put_json(txn, h->store.golden.gstate, it->key, it->keylen, NULL, NULL);
        }
        if (r == 0 && !it->deleted &&
            (r = nv_link_get(txn, &h->store.link, it->key, it->keylen, &lv)) == 0)
            work_add(&g, lv.rcu);
        if (r == NV_ENOTFOUND)
            r = 0;
    }
    if (r == 0)
        r = run_work(&g);
    gctx_release(&g);
    return r;
}

int
nv_golden_rcus(struct nv_hub *h, MDB_txn *txn, const char *const *rcus, size_t n,
               int updates, struct nv_golden_stats *st)
{
    struct gctx g;
    int r;

    if ((r = gctx_init(&g, h, txn, st)) == 0) {
        g.sender = updates ? "" : NULL;
        for (size_t i = 0; i < n; i++)
            work_add(&g, rcus[i]);
        r = run_work(&g);
    }
    gctx_release(&g);
    return r;
}

int
nv_golden_rebuild(struct nv_hub *h, struct nv_golden_stats *st)
{
    struct gctx g;
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    int rc, r;

    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot write");
    if ((r = gctx_init(&g, h, txn, st)) < 0)
        goto out;
    /* every RCU of two or more records, and every stored golden record */
    if ((rc = mdb_cursor_open(txn, h->store.link.rcus, &c)) != 0) {
        r = nv_hmdb_fail(rc, "cannot read clusters");
        goto out;
    }
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP)) {
        size_t cnt = 0;
        char rcu[16];
        if (mdb_cursor_count(c, &cnt) != 0 || cnt < 2 || k.mv_size >= sizeof(rcu))
            continue;
        memcpy(rcu, k.mv_data, k.mv_size);
        rcu[k.mv_size] = '\0';
        work_add(&g, rcu);
    }
    mdb_cursor_close(c);
    if ((rc = mdb_cursor_open(txn, h->store.golden.golden, &c)) != 0) {
        r = nv_hmdb_fail(rc, "cannot read golden records");
        goto out;
    }
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        char rcu[16];
        if (k.mv_size >= sizeof(rcu))
            continue;
        memcpy(rcu, k.mv_data, k.mv_size);
        rcu[k.mv_size] = '\0';
        work_add(&g, rcu);
    }
    mdb_cursor_close(c);
    r = run_work(&g);
out:
    gctx_release(&g);
    if (r == 0 && (rc = mdb_txn_commit(txn)) != 0)
        r = nv_hmdb_fail(rc, "cannot commit");
    else if (r < 0)
        mdb_txn_abort(txn);
    return r;
}

/* ---- reading ---- */

int
nv_golden_show(struct nv_hub *h, MDB_txn *txn, const char *rcu, json_t **out)
{
    struct gctx g;
    struct nv_golden_stats st;
    json_t *doc = NULL, *fs = NULL, *recs, *stored, *fl;
    int r;

    *out = NULL;
    if ((r = gctx_init(&g, h, txn, &st)) < 0)
        goto out;
    g.readonly = 1;
    if ((r = nv_link_members(txn, &h->store.link, rcu, member_add, &g)) < 0)
        goto out;
    recs = json_array();
    for (size_t i = 0; i < g.nm; i++) {
        struct member *m = &g.m[i];
        struct nv_link_val lv;
        static const char *const st_names[] = { "new", "linked", "review" };
        if ((r = member_load(&g, m, rcu)) < 0) {
            json_decref(recs);
            goto out;
        }
        r = nv_link_get(txn, &h->store.link, m->key, m->keylen, &lv);
        json_array_append_new(recs, json_pack("{s:s,s:s,s:s,s:s}", "entity", m->entity,
                                              "source", m->source, "key", m->rkey, "status",
                                              r == 0 && lv.status <= 2 ? st_names[lv.status]
                                                                       : "new"));
        r = 0;
    }
    stored = get_json(txn, h->store.golden.golden, rcu, strlen(rcu));
    fs = golden_of(&g, 0);
    doc = json_object();
    json_object_set_new(doc, "rcu", json_string(rcu));
    {
        json_t *pretty = json_object(), *v;
        const char *name;
        json_object_foreach(fs, name, v)
            json_object_set_new(pretty, name,
                                json_pack("{s:O,s:O,s:O,s:O,s:O}", "value",
                                          json_object_get(v, "v"), "entity",
                                          json_object_get(v, "e"), "source",
                                          json_object_get(v, "s"), "key",
                                          json_object_get(v, "k"), "time",
                                          json_object_get(v, "t")));
        json_object_set_new(doc, "fields", pretty);
    }
    json_object_set_new(doc, "records", recs);
    json_object_set_new(doc, "rules", g.rules.commit[0] ? json_string(g.rules.commit)
                                                        : json_null());
    json_object_set_new(doc, "updated", json_is_object(stored) && json_object_get(stored, "at")
                                            ? json_incref(json_object_get(stored, "at"))
                                            : json_null());
    fl = get_json(txn, h->store.gdpr.flags, rcu, strlen(rcu));
    json_object_set_new(doc, "flags", fl ? fl : json_object());
    json_decref(stored);
    json_decref(fs);
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
    if ((rc = mdb_cursor_open(txn, h->store.golden.outq, &c)) != 0) {
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
                (rc = mdb_del(nv_outbox_txn(&o), h->store.golden.outq, &dk, NULL)) != 0)
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
