#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "../../agent/outbox.h"
#include "../../formats/cli.h"
#include "../../formats/contact.h"
#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "../../formats/hook.h"
#include "../../formats/progress.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
#include "gdpr.h"
#include "../golden/golden.h"
#include "../core/hub.h"
#include "../link/link.h"
#include "../model/mapping.h"
#include "../model/normalize.h"
#include "../model/recparse.h"

int
nv_gdpr_open(MDB_txn *txn, void *dbs)
{
    struct nv_gdpr_db *db = dbs;
    int rc;

    if ((rc = mdb_dbi_open(txn, "gdpr", MDB_CREATE, &db->req)) != 0 ||
        (rc = mdb_dbi_open(txn, "suppress", MDB_CREATE, &db->suppress)) != 0 ||
        (rc = mdb_dbi_open(txn, "object", MDB_CREATE, &db->object)) != 0 ||
        (rc = mdb_dbi_open(txn, "flags", MDB_CREATE, &db->flags)) != 0 ||
        (rc = mdb_dbi_open(txn, "gdprlog", MDB_CREATE, &db->log)) != 0)
        return nv_hmdb_fail(rc, "cannot open the GDPR register");
    return 0;
}

int
nv_gdpr_key(const char *hubdir, uint8_t key[32])
{
    char *p = nv_path_join(hubdir, NV_GDPR_KEY_FILE);
    struct nv_buf b = NV_BUF_INIT;
    int r;

    b.secret = 1;
    r = nv_read_file(p, 64, &b);
    if (r == NV_ENOTFOUND || (r < 0 && errno == ENOENT)) {
        uint8_t fresh[32];
        randombytes_buf(fresh, sizeof(fresh));
        r = nv_write_file(p, fresh, sizeof(fresh), 0600);
        if (r == 0)
            memcpy(key, fresh, 32);
        sodium_memzero(fresh, sizeof(fresh));
    } else if (r == 0) {
        if (b.len != 32)
            r = nv_fail(NV_EKEY, "'%s' is not a 32-byte key", p);
        else
            memcpy(key, b.data, 32);
    }
    nv_buf_release(&b);
    free(p);
    return r;
}

void
nv_gdpr_hash(const uint8_t key[32], char kind, const char *a, size_t alen, const char *b,
             size_t blen, uint8_t out[16])
{
    crypto_generichash_state st;
    uint8_t k = (uint8_t)kind, colon = ':', nul = 0;

    crypto_generichash_init(&st, key, 32, 16);
    crypto_generichash_update(&st, &k, 1);
    crypto_generichash_update(&st, &colon, 1);
    crypto_generichash_update(&st, (const uint8_t *)a, alen);
    if (b != NULL) {
        crypto_generichash_update(&st, &nul, 1);
        crypto_generichash_update(&st, (const uint8_t *)b, blen);
    }
    crypto_generichash_final(&st, out, 16);
}

void
nv_gdpr_receipt_hash(const uint8_t key[32], const char *entity, const char *reckey,
                     char hex[33])
{
    uint8_t h[16];

    nv_gdpr_hash(key, 'k', entity, strlen(entity), reckey, strlen(reckey), h);
    nv_hex(h, 16, hex);
}

void
nv_gdpr_record_id(const uint8_t key[32], const char *entity, const char *source,
                  const char *reckey, char hex[33])
{
    uint8_t h[16];
    char es[2 * (NV_NAME_MAX + 1) + 512];
    int n = snprintf(es, sizeof(es), "%s%c%s", entity, 0, source);

    if (n < 0 || (size_t)n >= sizeof(es))
        n = (int)sizeof(es) - 1;
    nv_gdpr_hash(key, 'r', es, (size_t)n, reckey, strlen(reckey), h);
    nv_hex(h, 16, hex);
}

json_t *
nv_gdpr_flags(struct nv_hub *h, MDB_txn *txn, const char *rcu)
{
    MDB_val k = { strlen(rcu), (void *)rcu }, v;

    if (mdb_get(txn, h->gdpr->flags, &k, &v) != 0)
        return NULL;
    return json_loadb(v.mv_data, v.mv_size, 0, NULL);
}

static int
in_db(MDB_txn *txn, MDB_dbi dbi, const uint8_t h[16])
{
    MDB_val k = { 16, (void *)h }, v;

    return mdb_get(txn, dbi, &k, &v) == 0;
}

int
nv_gdpr_suppressed(MDB_txn *txn, const struct nv_gdpr_db *db, const uint8_t key[32],
                   const struct nv_norm_values *nv, const char *entity, const char *reckey)
{
    uint8_t h[16];

    nv_gdpr_hash(key, 'k', entity, strlen(entity), reckey, strlen(reckey), h);
    if (in_db(txn, db->suppress, h))
        return 1;
    for (unsigned i = 0; nv != NULL && i < NV_NORM_VALUES_MAX; i++) {
        const char *e = nv_norm_value(nv, NV_F_EMAIL, i), *p = nv_norm_value(nv, NV_F_PHONE, i);
        if (e != NULL) {
            nv_gdpr_hash(key, 'e', e, strlen(e), NULL, 0, h);
            if (in_db(txn, db->suppress, h))
                return 1;
        }
        if (p != NULL) {
            nv_gdpr_hash(key, 'p', p, strlen(p), NULL, 0, h);
            if (in_db(txn, db->suppress, h))
                return 1;
        }
    }
    return 0;
}

/* ---- access log ---- */

/* Who reads: the account the process runs as (the real user, never an
 * empty $USER under cron or systemd). */
static void
who(char *out, size_t n)
{
    struct passwd *pw = getpwuid(geteuid());

    if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0])
        snprintf(out, n, "%s", pw->pw_name);
    else
        snprintf(out, n, "uid %u", (unsigned)geteuid());
}

/* The SHA-256 (hex) of the access log's last line, without its line end;
 * 64 zeros when the log is empty or absent. */
static int
last_line_hash(int fd, char hex[65])
{
    struct stat st;
    char *buf = NULL;
    off_t size, start;
    size_t len, end;
    uint8_t h[32];

    memset(hex, '0', 64);
    hex[64] = '\0';
    if (fstat(fd, &st) < 0)
        return nv_fail_errno("cannot read the access log");
    size = st.st_size;
    if (size == 0)
        return 0;
    /* a line is under 64 KiB: read the tail */
    start = size > 65536 ? size - 65536 : 0;
    len = (size_t)(size - start);
    if ((buf = malloc(len + 1)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if (pread(fd, buf, len, start) != (ssize_t)len) {
        free(buf);
        return nv_fail_errno("cannot read the access log");
    }
    end = len;
    while (end > 0 && buf[end - 1] == '\n')
        end--;
    {
        size_t b = end;
        while (b > 0 && buf[b - 1] != '\n')
            b--;
        crypto_hash_sha256(h, (const uint8_t *)buf + b, end - b);
    }
    nv_hex(h, 32, hex);
    free(buf);
    return 0;
}

int
nv_access_log_head(const char *hubdir, char hex[65])
{
    char *p = nv_path_join(hubdir, "accesslog.ndjson");
    int fd = open(p, O_RDONLY | O_CLOEXEC), r;

    free(p);
    if (fd < 0) {
        memset(hex, '0', 64);
        hex[64] = '\0';
        return errno == ENOENT ? 0 : nv_fail_errno("cannot read the access log");
    }
    r = last_line_hash(fd, hex);
    close(fd);
    return r;
}

int
nv_access_log(const char *hubdir, const char *what, const char *why)
{
    char *p = nv_path_join(hubdir, "accesslog.ndjson"), when[21], *t = NULL, user[64],
         prev[65];
    const char *by = getenv("NOVA_USER");
    json_t *o = NULL;
    int fd, r = 0;
    size_t n;

    who(user, sizeof(user));
    /* append-only, each line chained to the one before by its SHA-256, one
     * write per line, fsynced before the data is shown */
    fd = open(p, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = nv_fail_errno("cannot write the access log '%s'", p);
        goto out;
    }
    if ((r = last_line_hash(fd, prev)) < 0)
        goto out;
    o = json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s}", "at", nv_time_format(nv_now(), when), "who",
                  user, "by", by && *by ? by : NULL, "what", what, "why",
                  why && *why ? why : "not given", "prev", prev);
    if (o == NULL || (t = json_dumps(o, JSON_COMPACT)) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    n = strlen(t);
    t[n] = '\n';
    if (write(fd, t, n + 1) != (ssize_t)(n + 1) || fsync(fd) < 0)
        r = nv_fail_errno("cannot write the access log '%s'", p);
out:
    if (fd >= 0)
        close(fd);
    free(t);
    json_decref(o);
    free(p);
    return r;
}

/* ---- dates ---- */

static int64_t
nv_gdpr_add_months(int64_t t, int months)
{
    time_t tt = (time_t)t;
    struct tm tm;
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, dim;

    gmtime_r(&tt, &tm);
    m = tm.tm_mon + months;
    y = tm.tm_year + 1900 + m / 12;
    m %= 12;
    dim = mdays[m] + (m == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    if (tm.tm_mday > dim)
        tm.tm_mday = dim; /* 31 January + 1 month: the last day of February */
    tm.tm_year = y - 1900;
    tm.tm_mon = m;
    return (int64_t)timegm(&tm);
}

static char *
nv_gdpr_day(int64_t t, char out[11])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
    return out;
}

int64_t
nv_gdpr_parse_day(const char *s)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (strlen(s) != 10 || strptime(s, "%Y-%m-%d", &tm) == NULL)
        return -1;
    return (int64_t)timegm(&tm);
}

/* ---- requests ---- */

static void
nv_gdpr_event(json_t *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
nv_gdpr_event(json_t *req, const char *fmt, ...)
{
    char when[21], text[512];
    va_list ap;
    json_t *ev = json_object_get(req, "events");

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (!json_is_array(ev)) {
        ev = json_array();
        json_object_set_new(req, "events", ev);
    }
    json_array_append_new(ev, json_pack("{s:s,s:s}", "at", nv_time_format(nv_now(), when),
                                        "event", text));
}

static void
be64_put(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

/* The request's events not yet in gdprlog go there, numbered on from the
 * register's counter ("#log"); "logged" moves to their count. */
static int
log_events(MDB_txn *txn, const struct nv_gdpr_db *db, json_t *req, const char *id)
{
    json_t *ev = json_object_get(req, "events");
    size_t total = json_array_size(ev);
    json_int_t logged = json_integer_value(json_object_get(req, "logged"));
    MDB_val ck = { 4, (void *)"#log" }, cv;
    uint64_t last = 0;
    char num[24];
    int rc;

    if (logged < 0 || (size_t)logged >= total)
        return 0;
    if ((rc = mdb_get(txn, db->req, &ck, &cv)) == 0 && cv.mv_size < sizeof(num)) {
        memcpy(num, cv.mv_data, cv.mv_size);
        num[cv.mv_size] = '\0';
        last = strtoull(num, NULL, 10);
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
        return nv_hmdb_fail(rc, "cannot read the register's event counter");
    }
    for (size_t i = (size_t)logged; i < total; i++) {
        uint8_t kb[8];
        char *t = NULL;
        json_t *o = json_pack("{s:s,s:s?,s:I}", "req", id,
                              "kind", json_string_value(json_object_get(req, "kind")),
                              "n", (json_int_t)i);
        MDB_val k = { 8, kb }, v;
        if (o == NULL || (t = json_dumps(o, JSON_COMPACT)) == NULL) {
            json_decref(o);
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        json_decref(o);
        be64_put(kb, ++last);
        v.mv_size = strlen(t);
        v.mv_data = t;
        rc = mdb_put(txn, db->log, &k, &v, MDB_APPEND);
        free(t);
        if (rc != 0)
            return nv_hmdb_fail(rc, "cannot write the register's event log");
    }
    snprintf(num, sizeof(num), "%llu", (unsigned long long)last);
    cv.mv_size = strlen(num);
    cv.mv_data = num;
    if ((rc = mdb_put(txn, db->req, &ck, &cv, 0)) != 0)
        return nv_hmdb_fail(rc, "cannot write the register's event counter");
    json_object_set_new(req, "logged", json_integer((json_int_t)total));
    return 0;
}

void
nv_gdpr_event_public(const char *text, char *out, size_t n)
{
    static const char closed[] = "closed by the DPO: ", extended[] = "deadline extended by ",
                      told[] = " (the person was told on ", access[] = "access document produced in ";
    const char *c, *t;

    if (strncmp(text, closed, sizeof(closed) - 1) == 0) {
        snprintf(out, n, "closed by the DPO (the reason is in the register)");
    } else if (strncmp(text, extended, sizeof(extended) - 1) == 0 &&
               (c = strstr(text, ": ")) != NULL && (t = strstr(c, told)) != NULL) {
        snprintf(out, n, "%.*s (the reason is in the register; the person was told on %s",
                 (int)(c - text), text, t + sizeof(told) - 1);
    } else if (strncmp(text, access, sizeof(access) - 1) == 0) {
        snprintf(out, n, "access document produced in a file");
    } else {
        nv_hook_scrub(text, NULL, 1, out, n);
    }
}

int
nv_gdpr_events_after(MDB_txn *txn, const struct nv_gdpr_db *db, uint64_t after,
                     int (*fn)(void *ctx, uint64_t seq, const char *req, const char *right,
                               uint64_t n, const char *at, const char *text),
                     void *ctx)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint8_t kb[8];
    int rc, r = 0;

    if ((rc = mdb_cursor_open(txn, db->log, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read the register's event log");
    be64_put(kb, after + 1);
    k.mv_size = 8;
    k.mv_data = kb;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t seq = 0;
        json_t *o = NULL, *req = NULL, *e;
        const char *id;
        json_int_t n;
        if (k.mv_size != 8)
            continue;
        for (int i = 0; i < 8; i++)
            seq = seq << 8 | ((const uint8_t *)k.mv_data)[i];
        if ((o = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL ||
            (id = json_string_value(json_object_get(o, "req"))) == NULL) {
            json_decref(o);
            r = nv_fail(NV_ECORRUPT, "hub store: the register's event %llu does not parse",
                        (unsigned long long)seq);
            break;
        }
        n = json_integer_value(json_object_get(o, "n"));
        if ((r = nv_gdpr_req_get(txn, db, id, &req)) == 0) {
            e = json_array_get(json_object_get(req, "events"), (size_t)n);
            if (e == NULL)
                r = nv_fail(NV_ECORRUPT, "hub store: %s has no event %lld", id, (long long)n);
            else
                r = fn(ctx, seq, id, json_string_value(json_object_get(o, "kind")),
                       (uint64_t)n, json_string_value(json_object_get(e, "at")),
                       json_string_value(json_object_get(e, "event")));
        }
        json_decref(req);
        json_decref(o);
    }
    mdb_cursor_close(c);
    if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
        r = nv_hmdb_fail(rc, "cannot read the register's event log");
    return r;
}

int
nv_gdpr_req_put(MDB_txn *txn, const struct nv_gdpr_db *db, json_t *req)
{
    const char *id = json_string_value(json_object_get(req, "id"));
    char *t;
    MDB_val k = { strlen(id), (void *)id }, v;
    int rc, r;

    if ((r = log_events(txn, db, req, id)) < 0)
        return r;
    if ((t = json_dumps(req, JSON_COMPACT)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    v.mv_size = strlen(t);
    v.mv_data = t;
    rc = mdb_put(txn, db->req, &k, &v, 0);
    free(t);
    return rc ? nv_hmdb_fail(rc, "cannot write a request") : 0;
}

int
nv_gdpr_req_get(MDB_txn *txn, const struct nv_gdpr_db *db, const char *id, json_t **out)
{
    MDB_val k = { strlen(id), (void *)id }, v;
    int rc = mdb_get(txn, db->req, &k, &v);

    *out = NULL;
    if (rc == MDB_NOTFOUND)
        return nv_fail(NV_ENOTFOUND, "no request '%s'", id);
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot read a request");
    if ((*out = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
        return nv_fail(NV_ECORRUPT, "hub store: request '%s' does not parse", id);
    return 0;
}

static int
next_id(MDB_txn *txn, const struct nv_gdpr_db *db, char out[16])
{
    MDB_val k = { 5, (void *)"#next" }, v;
    uint64_t n = 1;
    char num[24];
    int rc = mdb_get(txn, db->req, &k, &v);

    if (rc == 0 && v.mv_size < sizeof(num)) {
        memcpy(num, v.mv_data, v.mv_size);
        num[v.mv_size] = '\0';
        n = strtoull(num, NULL, 10);
    }
    snprintf(out, 16, "REQ-%06llu", (unsigned long long)n);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)(n + 1));
    v.mv_size = strlen(num);
    v.mv_data = num;
    if ((rc = mdb_put(txn, db->req, &k, &v, 0)) != 0)
        return nv_hmdb_fail(rc, "cannot write a request");
    return 0;
}

/* ---- subjects ---- */

#define MAX_RCUS 16

struct subject {
    char by[8];
    uint8_t hash[16];
    char rcus[MAX_RCUS][NV_RCU_LEN + 1];
    size_t nrcus;
};

static void
add_rcu(struct subject *s, const char *rcu)
{
    for (size_t i = 0; i < s->nrcus; i++)
        if (strcmp(s->rcus[i], rcu) == 0)
            return;
    if (s->nrcus < MAX_RCUS)
        snprintf(s->rcus[s->nrcus++], NV_RCU_LEN + 1, "%s", rcu);
}

/* The RCU of record rid. */
static int
rcu_of(MDB_txn *txn, const struct nv_link_db *db, uint64_t rid, char rcu[NV_RCU_LEN + 1])
{
    struct match_rec r;
    struct nv_buf key = NV_BUF_INIT;
    struct nv_link_val lv;
    int e = nv_link_load(txn, db, rid, &r, &key);

    if (e < 0) {
        nv_buf_release(&key);
        return e;
    }
    match_rec_release(&r);
    e = nv_link_get(txn, db, (char *)key.data, key.len, &lv);
    nv_buf_release(&key);
    if (e == 0)
        snprintf(rcu, NV_RCU_LEN + 1, "%.13s", lv.rcu);
    return e;
}

/* Resolve a subject given as "email:X", "phone:X", "rcu:X" or
 * "record:ENTITY:KEY" (also --email X etc. by the caller). */
static int
resolve(struct nv_hub *h, MDB_txn *txn, const uint8_t key[32], const char *by,
        const char *value, struct subject *s)
{
    struct nv_buf n = NV_BUF_INIT;
    int r = 0;

    memset(s, 0, sizeof(*s));
    snprintf(s->by, sizeof(s->by), "%s", by);
    if (strcmp(by, "email") == 0 || strcmp(by, "phone") == 0) {
        uint64_t *rids = NULL;
        size_t nr = 0;
        char kind = by[0] == 'e' ? 'e' : 'p';
        r = kind == 'e' ? nv_norm_email(value, strlen(value), &n)
                        : nv_norm_phone(value, strlen(value), &n);
        if (r < 0 || n.len == 0) {
            nv_buf_release(&n);
            return nv_fail(NV_EINVAL, "the subject's %s does not parse: %s", by,
                           r < 0 ? nv_errmsg(r) : "empty");
        }
        nv_gdpr_hash(key, kind, (char *)n.data, n.len, NULL, 0, s->hash);
        if ((r = nv_link_ident(txn, h->link, kind, (char *)n.data, &rids, &nr)) == 0)
            for (size_t i = 0; i < nr && r == 0; i++) {
                char rcu[NV_RCU_LEN + 1];
                if ((r = rcu_of(txn, h->link, rids[i], rcu)) == 0)
                    add_rcu(s, rcu);
                else if (r == NV_ENOTFOUND)
                    r = 0;
            }
        free(rids);
    } else if (strcmp(by, "rcu") == 0) {
        char live[NV_RCU_LEN + 1];
        nv_gdpr_hash(key, 'r', value, strlen(value), NULL, 0, s->hash);
        if (strlen(value) == NV_RCU_LEN &&
            (r = nv_link_resolve(txn, h->link, value, live)) == 0) {
            MDB_val k = { NV_RCU_LEN, live }, v;
            if (mdb_get(txn, h->link->rcus, &k, &v) == 0)
                add_rcu(s, live);
        }
    } else if (strcmp(by, "record") == 0) {
        const char *colon = strchr(value, ':');
        MDB_cursor *c;
        MDB_val k, v;
        size_t el;
        if (colon == NULL || colon == value || colon[1] == '\0')
            return nv_fail(NV_EINVAL, "a record subject is ENTITY:KEY");
        el = (size_t)(colon - value);
        nv_gdpr_hash(key, 'k', value, el, colon + 1, strlen(colon + 1), s->hash);
        if (mdb_cursor_open(txn, h->link->links, &c) != 0)
            return nv_fail(NV_ECORRUPT, "hub store: cannot read links");
        k.mv_size = el + 1;
        k.mv_data = (void *)value;
        {
            char pre[NV_NAME_MAX + 2];
            snprintf(pre, sizeof(pre), "%.*s", (int)el, value);
            k.mv_size = el + 1;
            k.mv_data = pre;
            for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
                 rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
                const char *kk = k.mv_data, *z;
                struct nv_link_val lv;
                if (k.mv_size <= el || memcmp(kk, pre, el + 1) != 0)
                    break;
                z = memchr(kk + el + 1, 0, k.mv_size - el - 1);
                if (z == NULL || (size_t)(kk + k.mv_size - z - 1) != strlen(colon + 1) ||
                    memcmp(z + 1, colon + 1, strlen(colon + 1)) != 0 ||
                    v.mv_size != sizeof(lv))
                    continue;
                memcpy(&lv, v.mv_data, sizeof(lv));
                lv.rcu[15] = '\0';
                add_rcu(s, lv.rcu);
            }
        }
        mdb_cursor_close(c);
    } else {
        r = nv_fail(NV_EINVAL, "a subject is given by email, phone, rcu or record");
    }
    nv_buf_release(&n);
    return r;
}

static int
member_json(void *ctx, uint64_t rid, const char *key, size_t keylen)
{
    json_t *out = ctx, *arr;
    char *k = malloc(keylen + 1); /* the key holds NULs: no strndup */
    const char *e, *src, *rk;

    (void)rid;
    if (k == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    memcpy(k, key, keylen);
    k[keylen] = '\0';
    if (nv_hstore_key_split(k, keylen, &e, &src, &rk) == 0) {
        if ((arr = json_object_get(out, e)) == NULL) {
            arr = json_array();
            json_object_set_new(out, e, arr);
        }
        json_array_append_new(arr, json_pack("[s,s]", src, rk));
    }
    free(k);
    return 0;
}

/* Every record of an RCU: entity -> [[source, key], ...] into out. */
static int
nv_gdpr_members(MDB_txn *txn, const struct nv_link_db *db, const char *rcu, json_t *out)
{
    return nv_link_members(txn, db, rcu, member_json, out);
}

/* ---- orders out ---- */

/* Send the pending orders of erasure requests ids[n]: one bundle per
 * entity for all of them, each request's new state committed with it. */
int
nv_gdpr_send_orders_many(struct nv_hub *h, char **ids, size_t n)
{
    json_t *names = json_object();
    const char *e;
    json_t *unused;
    MDB_txn *txn;
    int r = 0, rc;

    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0) {
        json_decref(names);
        return nv_hmdb_fail(rc, "cannot read");
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        json_t *req, *ent;
        const char *en;
        if ((r = nv_gdpr_req_get(txn, h->gdpr, ids[i], &req)) < 0)
            break;
        json_object_foreach(json_object_get(req, "entities"), en, ent)
            if (strcmp(json_string_value(json_object_get(ent, "status")) ?: "", "pending") == 0)
                json_object_set_new(names, en, json_true());
        json_decref(req);
    }
    mdb_txn_abort(txn);
    json_object_foreach(names, e, unused) {
        struct nv_outbox o;
        char *obox, when[21];
        size_t orders = 0, recs = 0;
        if (r < 0)
            break;
        if ((r = nv_hub_outbox(h, e, NV_KIND_ERASURE, &o, &obox)) < 0) {
            nv_warn("gdpr", "orders to '%s' not sent: %s", e, nv_errmsg(r));
            r = 0; /* they stay pending; sent when the agent is enrolled again */
            continue;
        }
        for (size_t i = 0; i < n && r == 0; i++) {
            json_t *req, *ent, *keys, *kv;
            size_t j;
            /* read again in the outbox's transaction (a part sealed on the
             * way commits the requests with it) */
            if ((r = nv_gdpr_req_get(nv_outbox_txn(&o), h->gdpr, ids[i], &req)) < 0)
                break;
            ent = json_object_get(json_object_get(req, "entities"), e);
            if (ent == NULL ||
                strcmp(json_string_value(json_object_get(ent, "status")) ?: "", "pending") != 0) {
                json_decref(req);
                continue;
            }
            json_object_set_new(ent, "status", json_string("sent"));
            json_object_set_new(ent, "sent", json_string(nv_time_format(nv_now(), when)));
            keys = json_object_get(ent, "keys");
            nv_gdpr_event(req, "erasure order sent to %s (%zu records)", e, json_array_size(keys));
            r = nv_gdpr_req_put(nv_outbox_txn(&o), h->gdpr, req);
            json_array_foreach(keys, j, kv) {
                json_t *line;
                char *t;
                if (r < 0)
                    break;
                line = json_pack("{s:s,s:O,s:O}", "order", ids[i], "source",
                                 json_array_get(kv, 0), "key", json_array_get(kv, 1));
                t = line ? json_dumps(line, JSON_COMPACT) : NULL;
                r = t ? nv_outbox_add_record(&o, t, strlen(t), 0)
                      : nv_fail(NV_ENOMEM, "out of memory");
                free(t);
                json_decref(line);
                recs++;
            }
            orders++;
            json_decref(req);
        }
        if (r == 0)
            r = nv_outbox_end(&o);
        else
            nv_outbox_abort(&o);
        if (r == 0)
            nv_info("gdpr", "%zu erasure order(s) for %zu record(s) sent to '%s'", orders, recs, e);
        free(obox);
    }
    json_decref(names);
    return r;
}

int
nv_gdpr_send_orders(struct nv_hub *h, const char *id)
{
    char *ids[1] = { (char *)id };

    return nv_gdpr_send_orders_many(h, ids, 1);
}

/* ---- completion ---- */

/* Remove from the payload files of one retained bundle directory the
 * lines of the records keys names ([[source, key], ...]). */
/* keys ([[source, key], ...]) as a set: "source\x1fkey" -> true */
static json_t *
key_set(json_t *keys)
{
    json_t *set = json_object(), *kv;
    size_t i;

    json_array_foreach(keys, i, kv) {
        char *k;
        if (asprintf(&k, "%s\x1f%s", json_string_value(json_array_get(kv, 0)),
                     json_string_value(json_array_get(kv, 1))) < 0)
            abort();
        json_object_set_new(set, k, json_true());
        free(k);
    }
    return set;
}

int
nv_gdpr_purge_dir(const char *sd, json_t *keys, const uint8_t *gkey, const char *entity)
{
    json_t *set = json_is_object(keys) ? json_incref(keys) : key_set(keys);
    json_t *bykey = json_object(); /* the keys alone, for receipts */
    struct nv_buf probe = NV_BUF_INIT;
    struct dirent **files = NULL;
    struct nv_rec *rec = malloc(sizeof(*rec));
    struct nv_buf scratch = NV_BUF_INIT;
    int nf, r = 0;

    if (rec == NULL) {
        json_decref(set);
        json_decref(bykey);
        return nv_fail(NV_ENOMEM, "out of memory");
    }
    {
        const char *kk;
        json_t *unused;
        json_object_foreach(set, kk, unused) {
            const char *sep = strchr(kk, '\x1f');
            if (sep != NULL)
                json_object_set_new(bykey, sep + 1, json_true());
        }
    }
    nf = scandir(sd, &files, NULL, alphasort);
    for (int j = 0; j < nf; j++) {
        char *fp;
        FILE *f;
        struct nv_buf out = NV_BUF_INIT;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        int dropped = 0;
        if (strncmp(files[j]->d_name, "changes-", 8) != 0 || r < 0) {
            free(files[j]);
            continue;
        }
        fp = nv_path_join(sd, files[j]->d_name);
        if ((f = fopen(fp, "re")) == NULL) {
            r = nv_fail_errno("cannot read '%s'", fp);
        } else {
            while (r == 0 && (len = getline(&line, &cap, f)) > 0) {
                int drop = 0;
                const char *kk;
                json_t *unused;
                if (nv_rec_parse(line, (size_t)len - (line[len - 1] == '\n'), rec,
                                 &scratch) == 0 && rec->key.s != NULL && rec->op.s != NULL &&
                    strcmp(rec->op.s, "ack") == 0) {
                    /* a receipt: kept, its record key as a keyed hash */
                    if (json_object_get(bykey, rec->key.s) != NULL) {
                        json_t *o = json_loadb(line, (size_t)len, 0, NULL);
                        char hex[33], *t = NULL;
                        if (o != NULL && gkey != NULL && entity != NULL) {
                            nv_gdpr_receipt_hash(gkey, entity, rec->key.s, hex);
                            json_object_del(o, "key");
                            json_object_set_new(o, "key_hash", json_string(hex));
                            t = json_dumps(o, JSON_COMPACT);
                        }
                        json_decref(o);
                        dropped++;
                        if (t != NULL) {
                            r = nv_buf_adds(&out, t);
                            if (r == 0)
                                r = nv_buf_add(&out, "\n", 1);
                        }
                        free(t);
                        continue;
                    }
                } else if (nv_rec_parse(line, (size_t)len - (line[len - 1] == '\n'), rec,
                                 &scratch) == 0 && rec->key.s != NULL) {
                    nv_buf_reset(&probe);
                    if (nv_buf_addf(&probe, "%s\x1f%s", rec->source.s ? rec->source.s : "",
                                    rec->key.s) == 0)
                        drop = json_object_get(set, (char *)probe.data) != NULL;
                } else {
                    /* an unusual line: dropped if it names a key at all
                     * (never keep a line of the person) */
                    json_object_foreach(set, kk, unused) {
                        const char *sep = strchr(kk, '\x1f');
                        if (sep != NULL && strstr(line, sep + 1) != NULL)
                            drop = 1;
                    }
                }
                if (drop)
                    dropped++;
                else
                    r = nv_buf_add(&out, line, (size_t)len);
            }
            fclose(f);
            if (r == 0 && dropped > 0)
                r = nv_write_file(fp, out.data ? out.data : (uint8_t *)"", out.len, 0600);
        }
        free(line);
        nv_buf_release(&out);
        free(fp);
        free(files[j]);
    }
    free(files);
    free(rec);
    nv_buf_release(&scratch);
    nv_buf_release(&probe);
    json_decref(set);
    json_decref(bykey);
    return r;
}

/* ... and from every retained bundle of entity (DIR/received/<entity>/). */
static int
purge_received(const char *hubdir, const uint8_t *gkey, const char *entity, json_t *keys)
{
    char *rd = nv_path_join(hubdir, "received"), *ed = nv_path_join(rd, entity);
    struct dirent **seqs = NULL;
    int ns, r = 0;

    free(rd);
    ns = scandir(ed, &seqs, NULL, alphasort);
    for (int i = 0; i < ns; i++) {
        if (seqs[i]->d_name[0] != '.' && r == 0) {
            char *sd = nv_path_join(ed, seqs[i]->d_name);
            r = nv_gdpr_purge_dir(sd, keys, gkey, entity);
            free(sd);
        }
        free(seqs[i]);
    }
    free(seqs);
    free(ed);
    return r;
}

/* Erase the hub's copy of a request's records and suppress them. */
struct erase_batch {
    struct nv_link_set set;  /* the records to take out of their clusters */
    json_t *purge;           /* entity -> {"source\x1fkey": true} */
};

static int
erase_copy(struct nv_hub *h, MDB_txn *txn, const uint8_t key[32], json_t *req,
           uint64_t *erased, struct erase_batch *eb)
{
    json_t *ents = json_object_get(req, "entities"), *ent;
    const char *e;
    struct nv_buf k = NV_BUF_INIT;
    const char *id = json_string_value(json_object_get(req, "id"));
    int r = 0;

    json_object_foreach(ents, e, ent) {
        size_t j;
        json_t *kv;
        json_array_foreach(json_object_get(ent, "keys"), j, kv) {
            const char *src = json_string_value(json_array_get(kv, 0));
            const char *rk = json_string_value(json_array_get(kv, 1));
            uint8_t hh[16];
            MDB_val kk, vv = { strlen(id), (void *)id };
            struct nv_link_val lv;
            int rc;
            if (r < 0 || src == NULL || rk == NULL)
                break;
            nv_buf_reset(&k);
            if ((r = nv_buf_add(&k, e, strlen(e) + 1)) < 0 ||
                (r = nv_buf_add(&k, src, strlen(src) + 1)) < 0 ||
                (r = nv_buf_add(&k, rk, strlen(rk))) < 0)
                break;
            /* the identifiers it had, as keyed hashes, before they go */
            if (nv_link_get(txn, h->link, (char *)k.data, k.len, &lv) == 0) {
                uint8_t kb[8];
                MDB_val mk = { 8, kb }, mv;
                for (int i = 0; i < 8; i++)
                    kb[i] = (uint8_t)(lv.rid >> (56 - 8 * i));
                if (mdb_get(txn, h->link->mrec, &mk, &mv) == 0 && mv.mv_size > 2) {
                    const char *p = mv.mv_data, *end = p + mv.mv_size;
                    size_t kl = (size_t)((unsigned char)p[0] << 8 | (unsigned char)p[1]);
                    p += 2 + kl;
                    for (int i = 0; i < 9 && p < end; i++) {
                        size_t l = strnlen(p, (size_t)(end - p));
                        if (i >= 3 && l > 0) { /* 3 e-mails, then 3 phones */
                            nv_gdpr_hash(key, i < 6 ? 'e' : 'p', p, l, NULL, 0, hh);
                            kk.mv_size = 16;
                            kk.mv_data = hh;
                            if ((rc = mdb_put(txn, h->gdpr->suppress, &kk, &vv, 0)) != 0)
                                r = nv_hmdb_fail(rc, "cannot write the suppression list");
                        }
                        p += l + 1;
                    }
                }
            }
            nv_gdpr_hash(key, 'k', e, strlen(e), rk, strlen(rk), hh);
            kk.mv_size = 16;
            kk.mv_data = hh;
            if (r == 0 && (rc = mdb_put(txn, h->gdpr->suppress, &kk, &vv, 0)) != 0)
                r = nv_hmdb_fail(rc, "cannot write the suppression list");
            kk.mv_size = k.len;
            kk.mv_data = k.data;
            if (r == 0)
                r = nv_hstore_put_counted(txn, &h->store, h->store.records, k.data, k.len,
                                          NULL);
            /* the next data-lake export carries a tombstone naming the
             * record by its id only: the change log forgets its key */
            if (r == 0) {
                char rid[33];
                nv_gdpr_record_id(key, e, src, rk, rid);
                r = nv_hstore_touch_erased(txn, &h->store, (char *)k.data, k.len, rid);
            }
            if (r == 0)
                r = nv_hstore_put_counted(txn, &h->store, h->store.rejects, k.data, k.len,
                                          NULL);
            if (r == 0)
                r = nv_hstore_put_counted(txn, &h->store, h->store.unnorm, k.data, k.len,
                                          NULL);
            if (r == 0 && (r = nv_link_set_add(&eb->set, (char *)k.data, k.len, NULL)) == 0) {
                json_t *pe = json_object_get(eb->purge, e);
                char *sk;
                (*erased)++;
                if (pe == NULL) {
                    pe = json_object();
                    json_object_set_new(eb->purge, e, pe);
                }
                if (asprintf(&sk, "%s\x1f%s", src, rk) < 0)
                    abort();
                json_object_set_new(pe, sk, json_true());
                free(sk);
            }
        }
        /* the record keys are not kept once erased */
        json_object_set_new(ent, "keys", json_array());
        if (r < 0)
            break;
    }
    nv_buf_release(&k);
    return r;
}

/* After every completed request of a pass: the records out of their
 * clusters in one go, and each entity's retained payloads purged once. */
static int
erase_finish(struct nv_hub *h, MDB_txn *txn, struct erase_batch *eb)
{
    struct nv_link_stats ls;
    const char *e;
    json_t *set;
    int r = 0;

    if (eb->set.n > 0)
        r = nv_link_bundle(txn, h->link, &eb->set, &ls);
    /* their per-field times go with them */
    if (eb->set.n > 0 && r == 0) {
        struct nv_golden_stats gs;
        r = nv_golden_after_link(h, txn, &eb->set, NULL, NULL, 0, 0, &gs);
    }
    /* and updates still queued for them (an entity without a valid key)
     * are dropped: they hold the person's values */
    if (r == 0) {
        uint64_t dropped = 0;
        if ((r = nv_golden_forget(txn, h->golden, eb->purge, &dropped)) == 0 && dropped > 0)
            nv_info("gdpr", "%llu queued update(s) of erased records dropped",
                    (unsigned long long)dropped);
    }
    json_object_foreach(eb->purge, e, set)
        if (r == 0)
            r = purge_received(h->dir, h->gkey, e, set);
    return r;
}

/* The receipts key of request id's record rkey at entity e. */
static int
receipt_key(struct nv_buf *rk, const uint8_t key[32], const char *e, const char *id,
            const char *rkey)
{
    char hex[33];

    nv_gdpr_receipt_hash(key, e, rkey, hex);
    nv_buf_reset(rk);
    if (nv_buf_add(rk, e, strlen(e) + 1) < 0 || nv_buf_add(rk, id, strlen(id) + 1) < 0 ||
        nv_buf_add(rk, hex, 32) < 0)
        return nv_fail(NV_ENOMEM, "out of memory");
    return 0;
}

/* Outcomes an entity answers with, in the order show lists them; final:
 * the entity is done with the record. */
static const struct {
    const char *name;
    int final;
} outcomes[] = {
    { "erased", 1 },  { "retained", 1 },   { "no-data", 1 },
    { "delivered", 1 }, { "handed-off", 0 }, { "failed", 0 },
};
#define NOUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

static int
outcome_index(const char *o)
{
    if (strcmp(o, "done") == 0) /* agents before outcomes were told apart */
        return 0;
    for (size_t i = 0; i < NOUTCOMES; i++)
        if (strcmp(outcomes[i].name, o) == 0)
            return (int)i;
    return 5; /* unknown: failed */
}

/* An entity's status from its counts: failed first, then handed-off (both
 * keep the request open), retained, no-data (every record), and erased or
 * delivered. */
static const char *
entity_status(const size_t *cnt, size_t n)
{
    if (cnt[5])
        return "failed";
    if (cnt[4])
        return "handed-off";
    if (cnt[1])
        return "retained";
    if (cnt[2] == n)
        return "no-data";
    return cnt[3] ? "delivered" : "erased";
}

/* "2 erased, 1 retained" from the counts. */
static void
counts_text(const size_t *cnt, char *out, size_t n)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < NOUTCOMES && o < n; i++)
        if (cnt[i])
            o += (size_t)snprintf(out + o, n - o, "%s%zu %s", o ? ", " : "", cnt[i],
                                  outcomes[i].name);
    if (o == 0)
        snprintf(out, n, "no answer");
}

/* One entity of request id: its receipts counted; *all cleared when one of
 * its records has no final answer yet. */
static int
progress_entity(struct nv_hub *h, MDB_txn *txn, const uint8_t key[32], json_t *req,
                const char *id, const char *e, json_t *ent, int *all, int *changed)
{
    const char *st = json_string_value(json_object_get(ent, "status")) ?: "";
    size_t j, cnt[NOUTCOMES] = { 0 }, answered = 0, nk;
    json_t *kv, *reasons = json_array(), *counts = json_object();
    struct nv_buf rk = NV_BUF_INIT;
    char when[21], text[200];
    int r = 0;

    if (strcmp(st, "pending") == 0 || strcmp(st, "nothing-sent") == 0) {
        *all = 0;
        json_decref(reasons);
        json_decref(counts);
        return 0;
    }
    nk = json_array_size(json_object_get(ent, "keys"));
    json_array_foreach(json_object_get(ent, "keys"), j, kv) {
        const char *rkey = json_string_value(json_array_get(kv, 1));
        MDB_val kk, vv;
        if (rkey == NULL || (r = receipt_key(&rk, key, e, id, rkey)) < 0)
            break;
        kk.mv_size = rk.len;
        kk.mv_data = rk.data;
        if (mdb_get(txn, h->store.receipts, &kk, &vv) == 0) {
            json_t *rc2 = json_loadb(vv.mv_data, vv.mv_size, 0, NULL);
            const char *out = json_string_value(json_object_get(rc2, "outcome")) ?: "";
            const char *why = json_string_value(json_object_get(rc2, "reason"));
            int oi = outcome_index(out);
            answered++;
            cnt[oi]++;
            if (why != NULL && *why && oi != 0 && oi != 3 && json_array_size(reasons) < 10)
                json_array_append_new(reasons, json_sprintf("%s: %s", outcomes[oi].name, why));
            json_decref(rc2);
        }
    }
    nv_buf_release(&rk);
    for (size_t i = 0; i < NOUTCOMES; i++)
        if (cnt[i])
            json_object_set_new(counts, outcomes[i].name, json_integer((json_int_t)cnt[i]));
    if (!json_equal(counts, json_object_get(ent, "counts")))
        *changed = 1;
    json_object_set_new(ent, "counts", counts);
    json_object_set_new(ent, "reasons", reasons);
    if (answered < nk || r < 0) {
        *all = 0;
        return r;
    }
    {
        const char *ns = entity_status(cnt, nk);
        if (strcmp(ns, st) != 0) {
            json_object_set_new(ent, "status", json_string(ns));
            json_object_set_new(ent, "answered", json_string(nv_time_format(nv_now(), when)));
            counts_text(cnt, text, sizeof(text));
            nv_gdpr_event(req, "%s answered: %s%s", e, text,
                          cnt[4] && !cnt[5] ? " (the request stays open until a later "
                                              "export proves the erasure)" : "");
            *changed = 1;
        }
    }
    if (cnt[4] || cnt[5])
        *all = 0;
    return 0;
}

static int
progress_one(struct nv_hub *h, MDB_txn *txn, const uint8_t key[32], const char *id,
             uint64_t *erased, char ***pending, size_t *npending, struct erase_batch *eb)
{
    json_t *req, *ents, *ent;
    const char *e, *kind;
    int all = 1, any_pending = 0, changed = 0, r;
    char when[21];

    if ((r = nv_gdpr_req_get(txn, h->gdpr, id, &req)) < 0)
        return r;
    kind = json_string_value(json_object_get(req, "kind")) ?: "";
    ents = json_object_get(req, "entities");
    json_object_foreach(ents, e, ent) {
        if (strcmp(json_string_value(json_object_get(ent, "status")) ?: "", "pending") == 0)
            any_pending = strcmp(kind, "erase") == 0;
        if (r == 0)
            r = progress_entity(h, txn, key, req, id, e, ent, &all, &changed);
    }
    if (r == 0 && all && json_object_size(ents) > 0) {
        uint64_t n = 0;
        if (strcmp(kind, "erase") == 0) {
            r = erase_copy(h, txn, key, req, &n, eb);
            if (r == 0) {
                *erased += n;
                json_object_set_new(req, "erased", json_integer((json_int_t)n));
                nv_gdpr_event(req, "every entity answered with a final outcome: the hub "
                              "erased its copy (%llu records) and keeps keyed hashes in the "
                              "suppression list", (unsigned long long)n);
            }
        } else {
            json_object_foreach(ents, e, ent)
                json_object_set_new(ent, "keys", json_array());
            nv_gdpr_event(req, "every entity answered: the %s reached each of them", kind);
        }
        if (r == 0) {
            json_object_set_new(req, "status", json_string("complete"));
            json_object_set_new(req, "completed", json_string(nv_time_format(nv_now(), when)));
            changed = 1;
        }
    }
    if (r == 0 && changed)
        r = nv_gdpr_req_put(txn, h->gdpr, req);
    if (r == 0 && any_pending) {
        if ((*pending = realloc(*pending, (*npending + 1) * sizeof(char *))) == NULL)
            abort();
        (*pending)[(*npending)++] = strdup(id);
    }
    json_decref(req);
    return r;
}

/* The ids of the open requests of the register, read through cursor c
 * (closed here): of that kind, or (kind NULL) of every kind but access. */
static char **
open_request_ids(MDB_cursor *c, const char *kind, size_t *n)
{
    char want[40];
    char **ids = NULL;
    MDB_val k, v;

    *n = 0;
    snprintf(want, sizeof(want), "\"kind\":\"%s\"", kind != NULL ? kind : "access");
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        int of_kind = memmem(v.mv_data, v.mv_size, want, strlen(want)) != NULL;
        if (k.mv_size == 0 || ((char *)k.mv_data)[0] == '#' ||
            (kind != NULL ? !of_kind : of_kind) ||
            memmem(v.mv_data, v.mv_size, "\"status\":\"open\"", 15) == NULL)
            continue;
        if ((ids = realloc(ids, (*n + 1) * sizeof(char *))) == NULL ||
            (ids[(*n)++] = strndup(k.mv_data, k.mv_size)) == NULL)
            abort();
    }
    mdb_cursor_close(c);
    return ids;
}

int
nv_gdpr_progress(struct nv_hub *h, uint64_t *erased)
{
    MDB_txn *txn;
    MDB_cursor *c;
    uint8_t key[32];
    char **pending = NULL;
    size_t npending = 0;
    int rc, r;

    *erased = 0;
    if ((r = nv_gdpr_key(h->dir, key)) < 0)
        return r;
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0) {
        sodium_memzero(key, sizeof(key));
        return nv_hmdb_fail(rc, "cannot write");
    }
    if ((rc = mdb_cursor_open(txn, h->gdpr->req, &c)) != 0) {
        r = nv_hmdb_fail(rc, "cannot read the register");
        goto out;
    }
    /* the open erasure requests first, then each in turn (no cursor
     * left open on the register while it is written) */
    {
        size_t nids;
        char **ids = open_request_ids(c, NULL, &nids);
        c = NULL;
        struct erase_batch eb;
        memset(&eb, 0, sizeof(eb));
        eb.purge = json_object();
        for (size_t q = 0; q < nids; q++) {
            if (r == 0)
                r = progress_one(h, txn, key, ids[q], erased, &pending, &npending, &eb);
            free(ids[q]);
        }
        free(ids);
        if (r == 0)
            r = erase_finish(h, txn, &eb);
        nv_link_set_release(&eb.set);
        json_decref(eb.purge);
    }
out:
    if (r == 0) {
        if ((rc = mdb_txn_commit(txn)) != 0)
            r = nv_hmdb_fail(rc, "cannot commit");
    } else {
        mdb_txn_abort(txn);
    }
    sodium_memzero(key, sizeof(key));
    if (r == 0 && npending > 0)
        r = nv_gdpr_send_orders_many(h, pending, npending);
    for (size_t i = 0; i < npending; i++)
        free(pending[i]);
    free(pending);
    return r;
}

/* ---- the command ---- */

static const char *kinds[] = { "erase", "access", "portability", "rectify", "restrict", "object",
                                NULL };

int
nv_gdpr_valid_kind(const char *k)
{
    for (int i = 0; kinds[i]; i++)
        if (strcmp(kinds[i], k) == 0)
            return 1;
    return 0;
}

/* Each stored record of a person's records mem ({entity: [[source, key]]}):
 * fn(ctx, entity, source, key, record, when its bundle was applied or
 * NULL).  Records gone since are skipped. */
static void
each_record(struct nv_hub *h, MDB_txn *txn, json_t *mem,
            void (*fn)(void *ctx, const char *e, const char *src, const char *rk, json_t *rec,
                       json_t *received),
            void *ctx)
{
    json_t *arr, *kv;
    const char *e;
    size_t j;
    struct nv_buf k = NV_BUF_INIT;

    json_object_foreach(mem, e, arr) {
        json_array_foreach(arr, j, kv) {
            const char *src = json_string_value(json_array_get(kv, 0));
            const char *rk = json_string_value(json_array_get(kv, 1));
            MDB_val kk, vv, bv;
            json_t *rec, *bs = NULL;
            char bk[128];
            if (src == NULL || rk == NULL || nv_hstore_key3(&k, e, src, rk) < 0)
                continue;
            kk.mv_size = k.len;
            kk.mv_data = k.data;
            if (mdb_get(txn, h->store.records, &kk, &vv) != 0 ||
                (rec = json_loadb(vv.mv_data, vv.mv_size, 0, NULL)) == NULL)
                continue;
            /* when the entity sent it */
            nv_hstore_bundle_key(bk, sizeof(bk), e,
                                 (uint64_t)json_integer_value(json_object_get(rec, "seq")));
            kk.mv_size = strlen(bk);
            kk.mv_data = bk;
            if (mdb_get(txn, h->store.bstats, &kk, &bv) == 0)
                bs = json_loadb(bv.mv_data, bv.mv_size, 0, NULL);
            fn(ctx, e, src, rk, rec, json_object_get(bs, "applied"));
            json_decref(bs);
            json_decref(rec);
        }
    }
    nv_buf_release(&k);
}

static void
access_one(void *ctx, const char *e, const char *src, const char *rk, json_t *rec,
           json_t *received)
{
    json_t *one = json_pack("{s:s,s:s,s:s,s:O,s:O*,s:O*,s:O*,s:O*}", "entity", e, "source",
                            src, "key", rk, "fields", json_object_get(rec, "fields"), "common",
                            json_object_get(rec, "c"), "extension", json_object_get(rec, "x"),
                            "mapping", json_object_get(rec, "map"), "bundle_seq",
                            json_object_get(rec, "seq"));

    if (received != NULL)
        json_object_set(one, "received", received);
    json_array_append_new(ctx, one);
}

/* Everything held about an RCU's records: the access document. */
static json_t *
access_doc(struct nv_hub *h, MDB_txn *txn, const char *rcu, json_t *mem)
{
    json_t *doc = json_pack("{s:s,s:[]}", "rcu", rcu, "records");

    each_record(h, txn, mem, access_one, json_object_get(doc, "records"));
    return doc;
}

/* ---- portability (Art. 20) ---- */

struct porta {
    struct nv_hub *h;
    json_t *records;
};

/* One record as the person provided it: its columns as the entity sent
 * them, and the same values under the common model's names (as written,
 * not normalised); nothing the hub derived (RCU, scores, golden values). */
static void
portability_one(void *ctx, const char *e, const char *src, const char *rk, json_t *rec,
                json_t *received)
{
    struct porta *p = ctx;
    const struct nv_mapping *m = NULL;
    const char *commit;
    json_t *fields = json_object_get(rec, "fields");
    json_t *one = json_pack("{s:s,s:s,s:O}", "entity", e, "source", src, "provided",
                            fields ? fields : json_object());

    (void)rk;
    if (nv_hub_mapping(p->h, e, &m, &commit) == 0 && m != NULL && fields != NULL)
        json_object_set_new(one, "contact", nv_mapping_originals(m, fields));
    if (received != NULL)
        json_object_set(one, "received", received);
    json_array_append_new(p->records, one);
}

/* The portability document of request req's person (records mem) as JSON,
 * or as CSV (entity,source,record,column,value: one row per value given),
 * into out; *nrec and *nent get what it holds. */
static int
portability_doc(struct nv_hub *h, MDB_txn *txn, json_t *req, json_t *mem, int csv,
                struct nv_buf *out, size_t *nrec, size_t *nent)
{
    struct porta p = { h, json_array() };
    char when[21];
    size_t i;
    json_t *one;
    int r = 0;

    each_record(h, txn, mem, portability_one, &p);
    *nrec = json_array_size(p.records);
    *nent = json_object_size(mem);
    if (csv) {
        struct nv_csv_dialect dl = { ',', '"', 1, NV_ENC_UTF8 };
        const char *head[5] = { "entity", "source", "record", "column", "value" };
        r = nv_csv_write_row(out, &dl, head, 5);
        json_array_foreach(p.records, i, one) {
            const char *col;
            json_t *v;
            char no[24];
            snprintf(no, sizeof(no), "%zu", i + 1);
            json_object_foreach(json_object_get(one, "provided"), col, v) {
                const char *row[5] = { json_string_value(json_object_get(one, "entity")),
                                       json_string_value(json_object_get(one, "source")), no,
                                       col, json_string_value(v) ?: "" };
                if (r == 0)
                    r = nv_csv_write_row(out, &dl, row, 5);
            }
        }
    } else {
        json_t *doc = json_pack("{s:s,s:s,s:s,s:s,s:o}", "format", "nova-portability 1",
                                "request", json_string_value(json_object_get(req, "id")),
                                "produced", nv_time_format(nv_now(), when), "about",
                                "the personal data you provided to the group's entities, "
                                "as each received it (GDPR Art. 20)",
                                "records", p.records);
        char *t = json_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
        p.records = NULL;
        r = t ? nv_buf_addf(out, "%s\n", t) : nv_fail(NV_ENOMEM, "out of memory");
        free(t);
    }
    json_decref(p.records);
    return r;
}

/* Deliver request req's portability export (its person's records mem) to
 * out_file (0600, written atomically) or stdout, in format (json or csv):
 * the request is complete, its delivery (format, counts, size, SHA-256, no
 * path: a file name may name the person) in the register. */
static int
portability_deliver(struct nv_hub *h, MDB_txn *txn, json_t *req, json_t *mem,
                    const char *out_file, const char *format)
{
    struct nv_buf out = NV_BUF_INIT;
    int csv = format != NULL && strcmp(format, "csv") == 0;
    size_t nrec = 0, nent = 0;
    uint8_t sha[32];
    char hex[65], when[21];
    int r;

    if ((r = portability_doc(h, txn, req, mem, csv, &out, &nrec, &nent)) < 0)
        goto out;
    if (out_file != NULL)
        r = nv_write_file(out_file, out.data, out.len, 0600);
    else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
        r = nv_fail_errno("cannot write the portability export");
    if (r < 0)
        goto out;
    crypto_hash_sha256(sha, out.data, out.len);
    nv_hex(sha, 32, hex);
    nv_time_format(nv_now(), when);
    json_object_set_new(req, "delivered",
                        json_pack("{s:s,s:s,s:I,s:I,s:I,s:s}", "at", when, "format",
                                  csv ? "csv" : "json", "records", (json_int_t)nrec,
                                  "entities", (json_int_t)nent, "bytes", (json_int_t)out.len,
                                  "sha256", hex));
    json_object_set_new(req, "status", json_string("complete"));
    json_object_set_new(req, "completed", json_string(when));
    nv_gdpr_event(req, "portability export delivered %s: %s, %zu record(s) from %zu "
                  "entit%s, %zu bytes, SHA-256 %s", out_file ? "in the file given" : "on "
                  "standard output", csv ? "CSV" : "JSON", nrec, nent, nent == 1 ? "y" : "ies",
                  out.len, hex);
out:
    nv_buf_release(&out);
    return r;
}

int
nv_gdpr_deliver(struct nv_hub *h, const char *id, const char *out_file, const char *format)
{
    MDB_txn *txn;
    json_t *req = NULL, *mem = json_object();
    const char *kind, *st, *rcu;
    int r, rc;

    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0) {
        json_decref(mem);
        return nv_hmdb_fail(rc, "cannot write");
    }
    if ((r = nv_gdpr_req_get(txn, h->gdpr, id, &req)) < 0)
        goto out;
    kind = json_string_value(json_object_get(req, "kind")) ?: "";
    st = json_string_value(json_object_get(req, "status")) ?: "";
    rcu = json_string_value(json_array_get(json_object_get(req, "rcus"), 0));
    if (strcmp(kind, "portability") != 0) {
        r = nv_fail(NV_EINVAL, "%s is a%s %s request: only a portability request is "
                    "delivered", id, kind[0] == 'a' || kind[0] == 'e' || kind[0] == 'o' ? "n" : "",
                    kind);
        goto out;
    }
    if (strcmp(st, "open") != 0 || rcu == NULL) {
        r = nv_fail(NV_EINVAL, "%s is %s: %s", id, st,
                    strcmp(st, "ambiguous") == 0 ? "choose the person first (gdpr choose)"
                                                 : "there is nothing to deliver");
        goto out;
    }
    if ((r = nv_gdpr_members(txn, h->link, rcu, mem)) < 0 ||
        (r = portability_deliver(h, txn, req, mem, out_file, format)) < 0 ||
        (r = nv_gdpr_req_put(txn, h->gdpr, req)) < 0)
        goto out;
    r = nv_hmdb_commit(&txn);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    json_decref(req);
    json_decref(mem);
    return r;
}

/* Rectification: the new value goes to every entity holding the person and
 * mapping the field back (inverse), as an updates bundle. */
static int
rectify(struct nv_hub *h, json_t *req, json_t *mem, json_t *sets, const char *flag)
{
    const char *e, *id = json_string_value(json_object_get(req, "id"));
    const char *what = flag == NULL ? "rectification" : flag;
    json_t *arr, *ents = json_object_get(req, "entities"), *sentkeys = NULL;
    int r = 0;

    json_object_foreach(mem, e, arr) {
        const struct nv_mapping *m;
        const char *commit;
        struct nv_outbox o;
        char *obox;
        size_t j, n = 0;
        json_t *kv;
        if ((r = nv_hub_mapping(h, e, &m, &commit)) < 0)
            return r;
        if (m == NULL) {
            nv_gdpr_event(req, "%s has no mapping: %s not sent there", e, what);
            json_object_set_new(ents, e, json_pack("{s:s,s:I,s:s,s:[]}", "status",
                                                   "nothing-sent", "records",
                                                   (json_int_t)json_array_size(arr), "why",
                                                   "the entity has no mapping", "keys"));
            continue;
        }
        if ((r = nv_hub_outbox(h, e, NV_KIND_UPDATES, &o, &obox)) < 0) {
            nv_gdpr_event(req, "%s: %s not sent: %s", e, what, nv_errmsg(r));
            json_object_set_new(ents, e, json_pack("{s:s,s:I,s:s,s:[]}", "status",
                                                   "nothing-sent", "records",
                                                   (json_int_t)json_array_size(arr), "why",
                                                   "the entity could not be sent to", "keys"));
            r = 0;
            continue;
        }
        sentkeys = json_array();
        json_array_foreach(arr, j, kv) {
            const char *src = json_string_value(json_array_get(kv, 0));
            const char *rk = json_string_value(json_array_get(kv, 1));
            struct nv_buf k = NV_BUF_INIT;
            json_t *rec = NULL;
            char *t = NULL;
            MDB_val kk, vv;
            /* the record's own key columns go with the new values */
            if (nv_buf_add(&k, e, strlen(e) + 1) < 0 || nv_buf_add(&k, src, strlen(src) + 1) < 0 ||
                nv_buf_add(&k, rk, strlen(rk)) < 0)
                abort();
            kk.mv_size = k.len;
            kk.mv_data = k.data;
            if (mdb_get(nv_outbox_txn(&o), h->store.records, &kk, &vv) == 0)
                rec = json_loadb(vv.mv_data, vv.mv_size, 0, NULL);
            nv_buf_release(&k);
            if (flag != NULL) {
                /* a restriction or objection: the entity flags its record */
                json_t *fl = json_pack("{s:s,s:s,s:s,s:s,s:s}", "op", "flag", "source", src,
                                       "key", rk, "flag", flag, "request",
                                       json_string_value(json_object_get(req, "id")));
                t = fl ? json_dumps(fl, JSON_COMPACT) : NULL;
                json_decref(fl);
                r = t ? 0 : nv_fail(NV_ENOMEM, "out of memory");
            } else {
                r = nv_golden_update_line(h, e, src, rk, json_object_get(rec, "fields"), sets,
                                          &t);
                if (r == 0 && t != NULL) {
                    /* the request's id: the agent answers with a receipt */
                    json_t *ul = json_loads(t, 0, NULL);
                    free(t);
                    t = NULL;
                    if (ul != NULL) {
                        json_object_set_new(ul, "request", json_string(id));
                        t = json_dumps(ul, JSON_COMPACT);
                    }
                    json_decref(ul);
                    if (t == NULL)
                        r = nv_fail(NV_ENOMEM, "out of memory");
                }
            }
            json_decref(rec);
            if (r == 0 && t != NULL) {
                r = nv_outbox_add_record(&o, t, strlen(t), 1);
                json_array_append_new(sentkeys, json_pack("[s,s]", src, rk));
                n++;
            }
            free(t);
            if (r < 0)
                break;
        }
        if (r == 0)
            r = nv_outbox_end(&o);
        else
            nv_outbox_abort(&o);
        free(obox);
        if (r < 0) {
            json_decref(sentkeys);
            return r;
        }
        /* the entity's receipts complete the request; one that got
         * nothing keeps it open (gdpr show says so; gdpr close ends it) */
        if (n > 0)
            json_object_set_new(ents, e, json_pack("{s:s,s:I,s:o}", "status", "sent",
                                                   "records", (json_int_t)n, "keys",
                                                   sentkeys));
        else {
            json_object_set_new(ents, e, json_pack("{s:s,s:I,s:s,s:[]}", "status",
                                                   "nothing-sent", "records",
                                                   (json_int_t)json_array_size(arr), "why",
                                                   "its mapping maps none of the rectified "
                                                   "fields back", "keys"));
            json_decref(sentkeys);
        }
        sentkeys = NULL;
        if (flag != NULL)
            nv_gdpr_event(req, "%s flag sent to %s (%zu records)", flag, e, n);
        else
            nv_gdpr_event(req, n ? "rectification sent to %s as updates (%zu records)"
                         : "%s maps none of the rectified fields back: nothing sent (%zu)",
                  e, n);
    }
    return r;
}


/* Entities that received the subject's data: those holding records, and
 * those the hub sent updates to (the outbound streams). */
static json_t *
nv_gdpr_recipients(struct nv_hub *h, json_t *mem)
{
    json_t *out = json_array();
    const char *e;
    json_t *arr;

    (void)h;
    json_object_foreach(mem, e, arr)
        json_array_append_new(out, json_string(e));
    return out;
}

/* No record matches the subject of request id: answered "no data"; an
 * objection is still kept, as the subject's keyed hash. */
static int
create_no_data(struct nv_hub *h, MDB_txn *txn, json_t *req, const struct subject *s,
               const char *kind, const char *id)
{
    int rc;

    json_object_set_new(req, "status", json_string("no-data"));
    nv_gdpr_event(req, "no record matches the subject: answered that the group holds no data");
    if (strcmp(kind, "object") == 0) {
        MDB_val kk = { 16, (void *)s->hash }, vv = { strlen(id), (void *)id };
        if ((rc = mdb_put(txn, h->gdpr->object, &kk, &vv, 0)) != 0)
            return nv_hmdb_fail(rc, "cannot write");
        nv_gdpr_event(req, "the objection is kept as a keyed hash: a later import cannot undo it");
    }
    return 0;
}

/* The subject matches several people: each becomes a candidate (its RCU
 * and records per entity) for nova-hub gdpr choose. */
static int
create_ambiguous(struct nv_hub *h, MDB_txn *txn, json_t *req, const struct subject *s)
{
    json_t *cands = json_array();
    int r;

    json_object_set_new(req, "status", json_string("ambiguous"));
    for (size_t i = 0; i < s->nrcus; i++) {
        json_t *m = json_object(), *counts = json_object();
        const char *e;
        json_t *arr;
        json_array_append_new(json_object_get(req, "rcus"), json_string(s->rcus[i]));
        if ((r = nv_gdpr_members(txn, h->link, s->rcus[i], m)) < 0) {
            json_decref(m);
            json_decref(counts);
            json_decref(cands);
            return r;
        }
        json_object_foreach(m, e, arr)
            json_object_set_new(counts, e, json_integer((json_int_t)json_array_size(arr)));
        json_array_append_new(cands, json_pack("{s:s,s:o}", "rcu", s->rcus[i], "records",
                                               counts));
        json_decref(m);
    }
    json_object_set_new(req, "candidates", cands);
    nv_gdpr_event(req, "the subject matches %zu people: choose one with nova-hub gdpr choose",
                  s->nrcus);
    return 0;
}

/* An access request for rcu (its records mem): the document, to out_file
 * or stdout; the request is complete. */
static int
create_access(struct nv_hub *h, MDB_txn *txn, json_t *req, const char *rcu, json_t *mem,
              const char *out_file)
{
    json_t *doc = access_doc(h, txn, rcu, mem);
    char *t = json_dumps(doc, JSON_INDENT(2));
    int r = 0;

    json_decref(doc);
    if (t == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if (out_file != NULL)
        r = nv_write_file(out_file, t, strlen(t), 0600);
    else
        printf("%s\n", t);
    free(t);
    if (r < 0)
        return r;
    json_object_set_new(req, "status", json_string("complete"));
    nv_gdpr_event(req, "access document produced%s%s", out_file ? " in " : "",
                  out_file ? out_file : " on standard output");
    return 0;
}

/* A restriction or objection (kind) of request id: the flag on the
 * person's RCU, and for an objection the subject's keyed hash too; the
 * request is complete (the entities are told after the commit). */
static int
create_flag(struct nv_hub *h, MDB_txn *txn, json_t *req, const struct subject *s,
            const char *kind, const char *id)
{
    MDB_val kk = { strlen(s->rcus[0]), (void *)s->rcus[0] }, vv;
    json_t *fl = NULL;
    char *t;
    int rc;

    if (mdb_get(txn, h->gdpr->flags, &kk, &vv) == 0)
        fl = json_loadb(vv.mv_data, vv.mv_size, 0, NULL);
    if (fl == NULL)
        fl = json_object();
    json_object_set_new(fl, kind, json_string(id));
    t = json_dumps(fl, JSON_COMPACT);
    json_decref(fl);
    vv.mv_size = strlen(t);
    vv.mv_data = t;
    rc = mdb_put(txn, h->gdpr->flags, &kk, &vv, 0);
    free(t);
    if (rc == 0) {
        /* the golden record shows the flag: the data-lake export sends it */
        int r = nv_hstore_touch(txn, &h->store, NV_CHG_PERSON, s->rcus[0], strlen(s->rcus[0]));
        if (r < 0)
            return r;
    }
    if (rc == 0 && strcmp(kind, "object") == 0) {
        MDB_val hk = { 16, (void *)s->hash }, iv = { strlen(id), (void *)id };
        rc = mdb_put(txn, h->gdpr->object, &hk, &iv, 0);
    }
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot write");
    nv_gdpr_event(req, "%s flag set on %s: marketing exports leave the person out%s",
                  kind, s->rcus[0],
                  strcmp(kind, "restrict") == 0 ? " and no update goes out for them" : "");
    return 0;
}

/* The subject is one person: its records by entity into mem, then what
 * kind asks inside txn (*send: erasure orders are to go out). */
static int
create_resolved(struct nv_hub *h, MDB_txn *txn, json_t *req, const struct subject *s,
                const char *kind, const char *id, const char *out_file, const char *format,
                json_t *mem, int *send)
{
    int r;

    json_array_append_new(json_object_get(req, "rcus"), json_string(s->rcus[0]));
    if ((r = nv_gdpr_members(txn, h->link, s->rcus[0], mem)) < 0)
        return r;
    json_object_set_new(req, "recipients", nv_gdpr_recipients(h, mem));
    nv_gdpr_event(req, "resolved to %s: %zu entities hold the person", s->rcus[0],
                  json_object_size(mem));
    if (strcmp(kind, "erase") == 0) {
        const char *e;
        json_t *arr;
        json_object_foreach(mem, e, arr)
            json_object_set_new(json_object_get(req, "entities"), e,
                                json_pack("{s:s,s:I,s:O}", "status", "pending", "records",
                                          (json_int_t)json_array_size(arr), "keys", arr));
        *send = 1;
    } else if (strcmp(kind, "access") == 0) {
        return create_access(h, txn, req, s->rcus[0], mem, out_file);
    } else if (strcmp(kind, "portability") == 0) {
        return portability_deliver(h, txn, req, mem, out_file, format);
    } else if (strcmp(kind, "restrict") == 0 || strcmp(kind, "object") == 0) {
        return create_flag(h, txn, req, s, kind, id);
    }
    return 0;
}

/* After the request is committed: the rectified values (kind rectify) or
 * the flag (restrict, object) go to every entity holding the person (mem),
 * and the request, open until their receipts are in, is stored again. */
static int
create_tell_entities(struct nv_hub *h, json_t *req, json_t *mem, json_t *sets,
                     const char *kind)
{
    MDB_txn *txn = NULL;
    int r, rc;

    if ((r = rectify(h, req, mem, sets, kind[0] == 'r' && kind[2] == 'c' ? NULL : kind)) < 0)
        return r;
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0 ||
        (r = nv_gdpr_req_put(txn, h->gdpr, req)) < 0 || (rc = mdb_txn_commit(txn)) != 0) {
        if (txn && r < 0)
            mdb_txn_abort(txn);
        return r < 0 ? r : nv_hmdb_fail(rc, "cannot commit");
    }
    return 0;
}

/* merge ({"kind\x1fRCU": id}): a request of the same kind for the same
 * person in this batch takes the subject as one more line of it (the
 * event recorded); its id into id_out.  0, or an NV_E code. */
static int
create_merge(struct nv_hub *h, MDB_txn *txn, const char *id, const char *by, char id_out[16],
             char status_out[16])
{
    json_t *req = NULL;
    int r, rc;

    if ((r = nv_gdpr_req_get(txn, h->gdpr, id, &req)) < 0) {
        mdb_txn_abort(txn);
        return r;
    }
    nv_gdpr_event(req, "the same person's %s request, subject given by %s, merged into it",
                  json_string_value(json_object_get(req, "kind")), by);
    if ((r = nv_gdpr_req_put(txn, h->gdpr, req)) == 0) {
        if ((rc = mdb_txn_commit(txn)) != 0)
            r = nv_hmdb_fail(rc, "cannot commit");
    } else {
        mdb_txn_abort(txn);
    }
    snprintf(id_out, 16, "%s", id);
    if (status_out != NULL)
        snprintf(status_out, 16, "%s", json_string_value(json_object_get(req, "status")) ?: "");
    json_decref(req);
    return r;
}

int
nv_gdpr_create(struct nv_hub *h, const char *kind, const char *by, const char *value,
       unsigned target_days, const char *received, const char *out_file, const char *format,
       json_t *sets, int json, int defer, const char *ref, json_t *merge, char id_out[16],
       char status_out[16])
{
    uint8_t key[32];
    struct subject s;
    MDB_txn *txn = NULL;
    json_t *req = NULL, *mem = json_object();
    char id[16], hex[33], d1[11], d2[11], when[21];
    int64_t t0;
    int r, rc, send = 0;

    if ((r = nv_gdpr_key(h->dir, key)) < 0)
        return r;
    t0 = received ? nv_gdpr_parse_day(received) : nv_now();
    if (t0 < 0) {
        r = nv_fail(NV_EINVAL, "--received must be YYYY-MM-DD");
        goto out;
    }
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot write");
        goto out;
    }
    if ((r = resolve(h, txn, key, by, value, &s)) < 0)
        goto out;
    if (merge != NULL && s.nrcus == 1) {
        char mk[NV_RCU_LEN + 20];
        const char *prev;
        snprintf(mk, sizeof(mk), "%s\x1f%s", kind, s.rcus[0]);
        if ((prev = json_string_value(json_object_get(merge, mk))) != NULL) {
            r = create_merge(h, txn, prev, by, id_out, status_out);
            txn = NULL;
            if (r == 0)
                r = NV_GDPR_MERGED;
            goto out;
        }
    }
    if ((r = next_id(txn, h->gdpr, id)) < 0)
        goto out;
    if (merge != NULL && s.nrcus == 1) {
        char mk[NV_RCU_LEN + 20];
        snprintf(mk, sizeof(mk), "%s\x1f%s", kind, s.rcus[0]);
        json_object_set_new(merge, mk, json_string(id));
    }
    nv_hex(s.hash, 16, hex);
    req = json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:s,s:s,s:n,s:s,s:[],s:{},s:[]}", "id", id,
                    "kind", kind, "subject", "by", by, "hash", hex, "received",
                    received ? received : nv_time_format(t0, when), "deadline",
                    nv_gdpr_day(nv_gdpr_add_months(t0, 1), d1), "target",
                    nv_gdpr_day(t0 + (int64_t)target_days * 86400, d2), "extended", "status",
                    "open", "rcus", "entities", "events");
    if (ref != NULL)
        json_object_set_new(req, "ref", json_string(ref));
    nv_gdpr_event(req, "received: %s request, subject given by %s%s%s", kind, by,
                  ref ? ", reference " : "", ref ? ref : "");
    if (s.nrcus == 0)
        r = create_no_data(h, txn, req, &s, kind, id);
    else if (s.nrcus > 1)
        r = create_ambiguous(h, txn, req, &s);
    else
        r = create_resolved(h, txn, req, &s, kind, id, out_file, format, mem, &send);
    if (r < 0 || (r = nv_gdpr_req_put(txn, h->gdpr, req)) < 0)
        goto out;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        r = nv_hmdb_fail(rc, "cannot commit");
        goto out;
    }
    if ((strcmp(kind, "rectify") == 0 || strcmp(kind, "restrict") == 0 ||
         strcmp(kind, "object") == 0) && s.nrcus == 1 &&
        (r = create_tell_entities(h, req, mem, sets, kind)) < 0)
        goto out;
    if (send && !defer && (r = nv_gdpr_send_orders(h, id)) < 0)
        goto out;
    memcpy(id_out, id, 16);
    if (status_out != NULL)
        snprintf(status_out, 16, "%s", json_string_value(json_object_get(req, "status")) ?: "");
    if (!json)
        /* a portability export on stdout stays alone there */
        fprintf(strcmp(kind, "portability") == 0 && out_file == NULL ? stderr : stdout,
                "%s: %s request registered (%s)\n", id, kind,
                json_string_value(json_object_get(req, "status")));
    r = s.nrcus > 1 ? NV_EEXIST : 0;
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    json_decref(req);
    json_decref(mem);
    sodium_memzero(key, sizeof(key));
    return r;
}

int
nv_gdpr_extend(json_t *req, const char *id, int months, const char *reason, const char *told)
{
    const char *rec = json_string_value(json_object_get(req, "received"));
    const char *st = json_string_value(json_object_get(req, "status")) ?: "";
    int64_t t0;
    char d[11];
    json_t *ext = json_object_get(req, "extended");
    int r, before = json_is_object(ext) ? (int)json_integer_value(json_object_get(ext, "months")) : 0;

    if (strcmp(st, "open") != 0 && strcmp(st, "ambiguous") != 0) {
        r = nv_fail(NV_EINVAL, "%s is %s: nothing to extend", id, st);
        return r;
    }
    if (before + months > 2) {
        r = nv_fail(NV_EINVAL, "%s: the deadline can be extended by two months at most "
                    "(already %d)", id, before);
        return r;
    }
    t0 = rec ? (nv_time_parse(rec, &t0) == 0 ? t0 : nv_gdpr_parse_day(rec)) : nv_now();
    json_object_set_new(req, "extended", json_pack("{s:i,s:s,s:s}", "months", before + months,
                                                   "reason", reason, "told", told));
    json_object_set_new(req, "deadline", json_string(nv_gdpr_day(nv_gdpr_add_months(t0, 1 + before + months), d)));
    nv_gdpr_event(req, "deadline extended by %d month(s) to %s: %s (the person was told on %s)",
                  months, d, reason, told);
    return 0;
}

int
nv_gdpr_choose(struct nv_hub *h, MDB_txn *txn, json_t *req, const char *id, const char *arg)
{
    const char *st = json_string_value(json_object_get(req, "status")) ?: "";
    size_t i;
    json_t *c;
    int found = 0;
    json_t *mem = json_object();
    int r;

    if (strcmp(st, "ambiguous") != 0) {
        r = nv_fail(NV_EINVAL, "%s is %s, not waiting for a choice", id, st);
        json_decref(mem);
        return r;
    }
    json_array_foreach(json_object_get(req, "candidates"), i, c)
        found |= strcmp(json_string_value(json_object_get(c, "rcu")), arg) == 0;
    if (!found) {
        r = nv_fail(NV_EINVAL, "%s is not one of the candidates of %s", arg, id);
        json_decref(mem);
        return r;
    }
    if ((r = nv_gdpr_members(txn, h->link, arg, mem)) < 0) {
        json_decref(mem);
        return r;
    }
    json_object_set_new(req, "rcus", json_pack("[s]", arg));
    json_object_set_new(req, "recipients", nv_gdpr_recipients(h, mem));
    nv_gdpr_event(req, "the DPO chose %s", arg);
    if (strcmp(json_string_value(json_object_get(req, "kind")), "erase") == 0) {
        const char *e;
        json_t *arr;
        json_object_foreach(mem, e, arr)
            json_object_set_new(json_object_get(req, "entities"), e,
                                json_pack("{s:s,s:I,s:O}", "status", "pending", "records",
                                          (json_int_t)json_array_size(arr), "keys", arr));
        json_object_set_new(req, "status", json_string("open"));
    } else if (strcmp(json_string_value(json_object_get(req, "kind")), "portability") == 0) {
        nv_gdpr_event(req, "open until the export is delivered: nova-hub gdpr deliver DIR %s "
                      "--out FILE", id);
        json_object_set_new(req, "status", json_string("open"));
    } else {
        nv_gdpr_event(req, "run the request again with --rcu %s to act on it", arg);
        json_object_set_new(req, "status", json_string("complete"));
    }
    json_decref(mem);
    return 0;
}

int
nv_gdpr_create_many(struct nv_hub *h, const char *kind, const char *from,
                    unsigned target_days, const char *received, json_t *sets, const char *ref,
                    json_t *lines, size_t *n_out, size_t *bad_out)
{
    FILE *f = fopen(from, "re");
    char *line = NULL, **ids = NULL, id[16], st[16];
    size_t cap = 0, n = 0, bad = 0, no = 0;
    ssize_t len;
    json_t *merge = json_object();
    int r = 0;

    if (f == NULL)
        r = nv_fail_errno("cannot open '%s'", from);
    /* the lines, for the progress shown on a terminal */
    if (f != NULL) {
        uint64_t lines_in = 0;
        int ch;
        while ((ch = getc_unlocked(f)) != EOF)
            lines_in += ch == '\n';
        rewind(f);
        nv_progress_step(lines_in, "registering the subjects of '%s'", from);
    }
    /* one sync for the whole file, before any order leaves */
    mdb_env_set_flags(h->store.env, MDB_NOSYNC, 1);
    while (r == 0 && f != NULL && (len = getline(&line, &cap, f)) > 0) {
        char *colon;
        no++;
        nv_progress_add(1);
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if ((colon = strchr(line, ':')) == NULL) {
            bad++;
            json_array_append_new(lines, json_pack("{s:I,s:s}", "line", (json_int_t)no,
                                                   "skipped", "no subject (by:value)"));
            continue;
        }
        *colon = '\0';
        st[0] = '\0';
        nv_error_clear();
        r = nv_gdpr_create(h, kind, line, colon + 1, target_days, received, NULL, NULL, sets,
                           1, 1, ref, merge, id, st);
        if (r == NV_EINVAL) {
            bad++;
            json_array_append_new(lines, json_pack("{s:I,s:s}", "line", (json_int_t)no,
                                                   "skipped", nv_errmsg(r)));
            r = 0;
            continue;
        }
        if (r == NV_GDPR_MERGED) {
            json_array_append_new(lines, json_pack("{s:I,s:s,s:s,s:b}", "line", (json_int_t)no,
                                                   "id", id, "status", st, "merged", 1));
            r = 0;
            continue;
        }
        if (r == NV_EEXIST) {
            json_array_append_new(lines, json_pack("{s:I,s:s,s:s}", "line", (json_int_t)no,
                                                   "id", id, "status", "ambiguous"));
            r = 0;
            continue;
        }
        if (r == 0) {
            json_array_append_new(lines, json_pack("{s:I,s:s,s:s}", "line", (json_int_t)no,
                                                   "id", id, "status", st));
            if ((ids = realloc(ids, (n + 1) * sizeof(char *))) == NULL)
                abort();
            ids[n++] = strdup(id);
        }
    }
    if (f != NULL)
        fclose(f);
    free(line);
    json_decref(merge);
    mdb_env_set_flags(h->store.env, MDB_NOSYNC, 0);
    if (mdb_env_sync(h->store.env, 1) != 0 && r == 0)
        r = nv_fail(NV_ESYS, "cannot sync the register");
    if (r == 0 && strcmp(kind, "erase") == 0 && n > 0) {
        nv_progress_step(0, "sealing the erasure orders of %zu request(s)", n);
        r = nv_gdpr_send_orders_many(h, ids, n);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    *n_out = n;
    *bad_out = bad;
    return r;
}

int
nv_gdpr_amend(struct nv_hub *h, const char *id, const char *rcu, int months,
              const char *reason, const char *told)
{
    MDB_txn *txn = NULL;
    json_t *req = NULL;
    int r, rc;

    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot read");
    if ((r = nv_gdpr_req_get(txn, h->gdpr, id, &req)) < 0)
        goto out;
    if (rcu == NULL)
        r = nv_gdpr_extend(req, id, months, reason, told);
    else
        r = nv_gdpr_choose(h, txn, req, id, rcu);
    if (r == 0)
        r = nv_gdpr_req_put(txn, h->gdpr, req);
    if (r == 0 && (r = nv_hmdb_commit(&txn)) == 0 && rcu != NULL)
        r = nv_gdpr_send_orders(h, id);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    json_decref(req);
    return r;
}

int
nv_gdpr_resend_unanswered(struct nv_hub *h, const char *entity, size_t *n_out)
{
    MDB_txn *txn;
    MDB_cursor *c;
    char **ids;
    size_t nids, n = 0;
    int r = 0, rc;

    *n_out = 0;
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot write");
    if ((rc = mdb_cursor_open(txn, h->gdpr->req, &c)) != 0) {
        mdb_txn_abort(txn);
        return nv_hmdb_fail(rc, "cannot read the register");
    }
    ids = open_request_ids(c, "erase", &nids);
    for (size_t i = 0; i < nids && r == 0; i++) {
        json_t *req, *ent;
        if ((r = nv_gdpr_req_get(txn, h->gdpr, ids[i], &req)) < 0)
            break;
        ent = json_object_get(json_object_get(req, "entities"), entity);
        if (ent != NULL &&
            strcmp(json_string_value(json_object_get(ent, "status")) ?: "", "sent") == 0) {
            json_object_set_new(ent, "status", json_string("pending"));
            nv_gdpr_event(req, "rebase of %s: its unanswered orders go again", entity);
            r = nv_gdpr_req_put(txn, h->gdpr, req);
            /* the first n ids are those to send */
            char *t = ids[n];
            ids[n++] = ids[i];
            ids[i] = t;
        }
        json_decref(req);
    }
    if (r == 0 && (rc = mdb_txn_commit(txn)) != 0)
        r = nv_hmdb_fail(rc, "cannot commit");
    else if (r < 0)
        mdb_txn_abort(txn);
    if (r == 0 && n > 0)
        r = nv_gdpr_send_orders_many(h, ids, n);
    if (r == 0)
        *n_out = n;
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    return r;
}

int
nv_gdpr_retry(struct nv_hub *h, const char *id, const char *entity, size_t *n_out)
{
    MDB_txn *txn = NULL;
    json_t *req = NULL, *ent;
    const char *e, *kind, *st;
    struct nv_buf rk = NV_BUF_INIT;
    size_t n = 0;
    int r, rc;

    *n_out = 0;
    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot write");
    if ((r = nv_gdpr_req_get(txn, h->gdpr, id, &req)) < 0)
        goto out;
    kind = json_string_value(json_object_get(req, "kind")) ?: "";
    st = json_string_value(json_object_get(req, "status")) ?: "";
    if (strcmp(kind, "erase") != 0 || strcmp(st, "open") != 0) {
        r = nv_fail(NV_EINVAL, "%s is %s %s: only an open erasure has orders to retry", id,
                    st, kind);
        goto out;
    }
    if (entity != NULL && json_object_get(json_object_get(req, "entities"), entity) == NULL) {
        r = nv_fail(NV_EINVAL, "%s sent nothing to '%s'", id, entity);
        goto out;
    }
    json_object_foreach(json_object_get(req, "entities"), e, ent) {
        size_t j;
        json_t *kv;
        if ((entity != NULL && strcmp(entity, e) != 0) ||
            strcmp(json_string_value(json_object_get(ent, "status")) ?: "", "failed") != 0)
            continue;
        /* its failed receipts go: the new answers replace them */
        json_array_foreach(json_object_get(ent, "keys"), j, kv) {
            const char *rkey = json_string_value(json_array_get(kv, 1));
            MDB_val kk, vv;
            if (rkey == NULL || (r = receipt_key(&rk, h->gkey, e, id, rkey)) < 0)
                break;
            kk.mv_size = rk.len;
            kk.mv_data = rk.data;
            if (mdb_get(txn, h->store.receipts, &kk, &vv) == 0 &&
                memmem(vv.mv_data, vv.mv_size, "\"outcome\":\"failed\"", 18) != NULL &&
                (rc = mdb_del(txn, h->store.receipts, &kk, NULL)) != 0) {
                r = nv_hmdb_fail(rc, "cannot write");
                break;
            }
        }
        if (r < 0)
            break;
        json_object_set_new(ent, "status", json_string("pending"));
        json_object_del(ent, "reasons");
        json_object_del(ent, "counts");
        nv_gdpr_event(req, "retry: the failed orders go to %s again", e);
        n++;
    }
    if (r == 0 && n == 0)
        r = nv_fail(NV_EINVAL, "%s has no failed order%s%s", id, entity ? " at " : "",
                    entity ? entity : "");
    if (r == 0)
        r = nv_gdpr_req_put(txn, h->gdpr, req);
    if (r == 0 && (r = nv_hmdb_commit(&txn)) == 0)
        r = nv_gdpr_send_orders(h, id);
    *n_out = n;
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    nv_buf_release(&rk);
    json_decref(req);
    return r;
}

int
nv_gdpr_close(struct nv_hub *h, const char *id, const char *reason)
{
    MDB_txn *txn = NULL;
    json_t *req = NULL, *ent;
    const char *e, *st;
    char when[21];
    int r, rc;

    if ((rc = mdb_txn_begin(h->store.env, NULL, 0, &txn)) != 0)
        return nv_hmdb_fail(rc, "cannot write");
    if ((r = nv_gdpr_req_get(txn, h->gdpr, id, &req)) < 0)
        goto out;
    st = json_string_value(json_object_get(req, "status")) ?: "";
    if (strcmp(st, "open") != 0 && strcmp(st, "ambiguous") != 0) {
        r = nv_fail(NV_EINVAL, "%s is %s: only an open request is closed", id, st);
        goto out;
    }
    json_object_set_new(req, "status", json_string("closed"));
    json_object_set_new(req, "closed", json_pack("{s:s,s:s}", "at",
                                                 nv_time_format(nv_now(), when), "reason",
                                                 reason));
    /* the record keys are not kept once the request ends */
    json_object_foreach(json_object_get(req, "entities"), e, ent)
        json_object_set_new(ent, "keys", json_array());
    nv_gdpr_event(req, "closed by the DPO: %s", reason);
    if ((r = nv_gdpr_req_put(txn, h->gdpr, req)) == 0)
        r = nv_hmdb_commit(&txn);
out:
    if (txn != NULL)
        mdb_txn_abort(txn);
    json_decref(req);
    return r;
}

/* What an open request waits for: failed, handed-off or nothing-sent when
 * one of its entities is so, ambiguous (a choice), else answers. */
const char *
nv_gdpr_waiting_on(json_t *req)
{
    const char *st = json_string_value(json_object_get(req, "status")) ?: "";
    const char *e, *w = "answers";
    json_t *ent;
    int rank = 0;

    if (strcmp(st, "open") != 0)
        return st;
    if (strcmp(json_string_value(json_object_get(req, "kind")) ?: "", "portability") == 0)
        return "delivery";
    json_object_foreach(json_object_get(req, "entities"), e, ent) {
        const char *es = json_string_value(json_object_get(ent, "status")) ?: "";
        int k = strcmp(es, "failed") == 0         ? 3
                : strcmp(es, "nothing-sent") == 0 ? 2
                : strcmp(es, "handed-off") == 0   ? 1
                                                  : 0;
        if (k > rank) {
            rank = k;
            w = es;
        }
    }
    return w;
}

json_t *
nv_gdpr_counts(MDB_txn *txn, const struct nv_gdpr_db *db, int64_t now)
{
    json_t *kinds = json_object(), *sts = json_object();
    MDB_cursor *c;
    MDB_val k, v;
    json_int_t open = 0, late = 0, overdue = 0;
    char next[11] = "";

    if (mdb_cursor_open(txn, db->req, &c) == 0) {
        while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
            json_t *req;
            const char *st, *kind, *dl, *tg, *w;
            if (k.mv_size == 0 || ((char *)k.mv_data)[0] == '#' ||
                (req = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
                continue;
            st = json_string_value(json_object_get(req, "status")) ?: "";
            kind = json_string_value(json_object_get(req, "kind")) ?: "";
            dl = json_string_value(json_object_get(req, "deadline"));
            tg = json_string_value(json_object_get(req, "target"));
            if (strcmp(st, "open") == 0 || strcmp(st, "ambiguous") == 0) {
                open++;
                json_object_set_new(kinds, kind, json_integer(
                    json_integer_value(json_object_get(kinds, kind)) + 1));
                w = nv_gdpr_waiting_on(req);
                json_object_set_new(sts, w, json_integer(
                    json_integer_value(json_object_get(sts, w)) + 1));
                if (tg && nv_gdpr_parse_day(tg) >= 0 && now >= nv_gdpr_parse_day(tg) + 86400)
                    late++;
                if (dl && nv_gdpr_parse_day(dl) >= 0 && now >= nv_gdpr_parse_day(dl) + 86400)
                    overdue++;
                if (dl && strlen(dl) == 10 && (next[0] == '\0' || strcmp(dl, next) < 0))
                    memcpy(next, dl, 11);
            }
            json_decref(req);
        }
        mdb_cursor_close(c);
    }
    return json_pack("{s:I,s:o,s:o,s:I,s:I,s:s?}", "open", open, "open_by_kind", kinds,
                     "open_by_status", sts, "late", late, "overdue", overdue,
                     "nearest_deadline", next[0] ? next : NULL);
}

/* The person's exclusion from marketing, for one of its records (its
 * store key k, common fields c), or NULL. */
static const char *
marketing_refusal(struct nv_hub *h, MDB_txn *txn, const MDB_val *k, json_t *c,
                  const char *rcu)
{
    MDB_val fk = { strlen(rcu), (void *)rcu }, fv;
    json_t *v;
    size_t i;

    if (json_is_integer(json_object_get(c, "consent")) &&
        json_integer_value(json_object_get(c, "consent")) == 0)
        return "refused";
    if (mdb_get(txn, h->gdpr->flags, &fk, &fv) == 0) {
        json_t *fl = json_loadb(fv.mv_data, fv.mv_size, 0, NULL);
        int any = json_is_string(json_object_get(fl, "restrict")) ||
                  json_is_string(json_object_get(fl, "object"));
        json_decref(fl);
        if (any)
            return "restricted-or-objected";
    }
    for (int f = 0; f < 2; f++)
        json_array_foreach(json_object_get(c, f ? "phone" : "email"), i, v) {
            uint8_t hh[16];
            const char *s = json_string_value(v);
            if (s == NULL)
                continue;
            nv_gdpr_hash(h->gkey, f ? 'p' : 'e', s, strlen(s), NULL, 0, hh);
            if (in_db(txn, h->gdpr->object, hh))
                return "restricted-or-objected";
            if (in_db(txn, h->gdpr->suppress, hh))
                return "suppressed";
        }
    {
        const char *e = k->mv_data, *z = memchr(e, '\0', k->mv_size), *z2;
        if (z != NULL && (z2 = memchr(z + 1, '\0', k->mv_size - (size_t)(z + 1 - e))) != NULL) {
            uint8_t hh[16];
            nv_gdpr_hash(h->gkey, 'k', e, (size_t)(z - e), z2 + 1,
                         k->mv_size - (size_t)(z2 + 1 - e), hh);
            if (in_db(txn, h->gdpr->suppress, hh))
                return "suppressed";
        }
    }
    return NULL;
}

int
nv_gdpr_marketing(struct nv_hub *h, MDB_txn *txn, json_t **people, json_t **left_out)
{
    json_t *st = json_object(), *out = json_object(), *why = json_object(), *p;
    MDB_cursor *c;
    MDB_val k, v;
    const char *rcu;
    int rc;

    *people = *left_out = NULL;
    if ((rc = mdb_cursor_open(txn, h->store.records, &c)) != 0) {
        json_decref(st);
        json_decref(out);
        json_decref(why);
        return nv_hmdb_fail(rc, "cannot read records");
    }
    /* each person: the first record with an explicit yes, or the reason
     * that excludes them (any record's refusal, a flag, an objection, a
     * suppression) */
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        struct nv_link_val lv;
        char r[NV_RCU_LEN + 1];
        json_t *rec, *cm, *one;
        const char *no;
        if (nv_link_get(txn, h->link, k.mv_data, k.mv_size, &lv) != 0)
            continue; /* not resolved to a person: no one to ask */
        snprintf(r, sizeof(r), "%.13s", lv.rcu);
        if ((rec = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
            continue;
        cm = json_object_get(rec, "c");
        if ((one = json_object_get(st, r)) == NULL) {
            one = json_object();
            json_object_set_new(st, r, one);
        }
        if ((no = marketing_refusal(h, txn, &k, cm, r)) != NULL &&
            !json_is_string(json_object_get(one, "no")))
            json_object_set_new(one, "no", json_string(no));
        if (json_integer_value(json_object_get(cm, "consent")) == 1 &&
            json_is_integer(json_object_get(cm, "consent")) &&
            json_object_get(one, "yes") == NULL)
            json_object_set_new(one, "yes", json_stringn(k.mv_data, k.mv_size));
        json_decref(rec);
    }
    mdb_cursor_close(c);
    json_object_foreach(st, rcu, p) {
        const char *no = json_string_value(json_object_get(p, "no"));
        if (no == NULL && json_object_get(p, "yes") == NULL)
            no = "no-explicit-yes";
        if (no != NULL)
            json_object_set_new(why, no, json_integer(
                json_integer_value(json_object_get(why, no)) + 1));
        else
            json_object_set(out, rcu, json_object_get(p, "yes"));
    }
    json_decref(st);
    *people = out;
    *left_out = why;
    return 0;
}
