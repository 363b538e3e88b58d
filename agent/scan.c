#include <dirent.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../formats/csv.h"
#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "../formats/record.h"
#include "scan.h"

#define KEY_MAX 400            /* LMDB keys are at most 511 bytes */
#define REJECT_REPORT_MAX 10000
#define HLEN 16

/* ---- a set of 16-byte hashes (keys seen in one export) ---- */

struct seen {
    uint8_t *slot;
    size_t cap, n;
};

static void
seen_release(struct seen *s)
{
    free(s->slot);
    memset(s, 0, sizeof(*s));
}

static int
seen_grow(struct seen *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 1024;
    uint8_t *ns = calloc(ncap, HLEN), *old = s->slot;
    size_t ocap = s->cap;

    if (ns == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    s->slot = ns;
    s->cap = ncap;
    s->n = 0;
    for (size_t i = 0; i < ocap; i++) {
        uint8_t *e = old + i * HLEN;
        uint64_t h;
        if (e[0] == 0 && memcmp(e, e + 1, HLEN - 1) == 0)
            continue;
        memcpy(&h, e, 8);
        for (size_t j = h & (ncap - 1);; j = (j + 1) & (ncap - 1)) {
            uint8_t *d = ns + j * HLEN;
            if (d[0] == 0 && memcmp(d, d + 1, HLEN - 1) == 0) {
                memcpy(d, e, HLEN);
                s->n++;
                break;
            }
        }
    }
    free(old);
    return 0;
}

/* Start loading the slot of h: the probe comes after other work (the row's
 * fingerprint and its LMDB lookup), so the cache miss overlaps it. */
static void
seen_prefetch(const struct seen *s, const uint8_t h[HLEN])
{
    uint64_t v;

    if (s->cap == 0)
        return;
    memcpy(&v, h, 8);
    __builtin_prefetch(s->slot + (v & (s->cap - 1)) * HLEN);
}

/* 1 if present, 0 if inserted (when insert), <0 on error. */
static int
seen_probe(struct seen *s, const uint8_t h[HLEN], int insert)
{
    uint8_t key[HLEN];
    uint64_t v;
    int r;

    memcpy(key, h, HLEN);
    if (key[0] == 0)
        key[0] = 1; /* all-zero marks an empty slot */
    if (insert && (s->n + 1) * 2 > s->cap && (r = seen_grow(s)) < 0)
        return r;
    if (s->cap == 0)
        return 0;
    memcpy(&v, key, 8);
    for (size_t j = v & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        uint8_t *d = s->slot + j * HLEN;
        if (d[0] == 0 && memcmp(d, d + 1, HLEN - 1) == 0) {
            if (insert) {
                memcpy(d, key, HLEN);
                s->n++;
            }
            return 0;
        }
        if (memcmp(d, key, HLEN) == 0)
            return 1;
    }
}

/* Hash of a record key for the seen-set: SipHash-128 under a key drawn once
 * per process, so no export can be crafted to collide. */
static void
key_hash(uint8_t h[HLEN], const void *key, size_t len)
{
    static uint8_t k[crypto_shorthash_siphashx24_KEYBYTES];
    static int ready;

    if (!ready) {
        randombytes_buf(k, sizeof(k));
        ready = 1;
    }
    crypto_shorthash_siphashx24(h, key, len, k);
}

/* ---- JSON output ---- */

static int
json_str(struct nv_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    int r;

    if ((r = nv_buf_add(b, "\"", 1)) < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((r = nv_buf_add(b, s + start, i - start)) < 0)
            return r;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            r = nv_buf_add(b, e, 2);
        } else {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            r = nv_buf_add(b, e, 6);
        }
        if (r < 0)
            return r;
        start = i + 1;
    }
    if ((r = nv_buf_add(b, s + start, n - start)) < 0)
        return r;
    return nv_buf_add(b, "\"", 1);
}

/* ---- one scan ---- */

struct scan {
    struct nv_agent *a;
    struct nv_outbox o;
    struct nv_scan_stats *stats;
    struct nv_buf report; /* rejects.ndjson */
    uint64_t reported;
    struct nv_buf line;
    struct nv_buf dbkey;
};

static void
reject(struct scan *sc, const char *source, const char *file, uint64_t line,
       const char *reason)
{
    char esc[256];
    struct nv_buf *b = &sc->report;

    sc->stats->rejects++;
    /* the CSV reader's reasons start with the line, given separately here */
    if (strncmp(reason, "line ", 5) == 0 && strstr(reason, ": ") != NULL)
        reason = strstr(reason, ": ") + 2;
    if (line)
        nv_warn("scan", "source %s: line %llu of '%s' rejected: %s", source,
                (unsigned long long)line, nv_log_escape(file, esc, sizeof(esc)),
                reason);
    else
        nv_warn("scan", "source %s: file '%s' rejected: %s", source,
                nv_log_escape(file, esc, sizeof(esc)), reason);
    if (sc->reported++ >= REJECT_REPORT_MAX)
        return;
    if (nv_buf_adds(b, "{\"source\":") < 0 || json_str(b, source, strlen(source)) < 0 ||
        nv_buf_adds(b, ",\"file\":") < 0 || json_str(b, file, strlen(file)) < 0 ||
        nv_buf_addf(b, ",\"line\":%llu,\"reason\":", (unsigned long long)line) < 0 ||
        json_str(b, reason, strlen(reason)) < 0 || nv_buf_adds(b, "}\n") < 0)
        nv_err("scan", "cannot grow the reject report");
}

static int
set_dbkey(struct nv_buf *k, const char *source, const char *key, size_t klen)
{
    int r;

    nv_buf_reset(k);
    if ((r = nv_buf_add(k, source, strlen(source) + 1)) < 0)
        return r;
    return nv_buf_add(k, key, klen);
}

struct colorder {
    const char *name;
    size_t idx;
};

static int
colcmp(const void *a, const void *b)
{
    return strcmp(((const struct colorder *)a)->name,
                  ((const struct colorder *)b)->name);
}

/* File identity for "already processed": size | mtime ns | inode. */
static void
file_sig(const struct stat *st, uint8_t out[24])
{
    uint64_t v[3] = { (uint64_t)st->st_size,
                      (uint64_t)st->st_mtim.tv_sec * 1000000000ULL +
                          (uint64_t)st->st_mtim.tv_nsec,
                      (uint64_t)st->st_ino };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 8; j++)
            out[i * 8 + j] = (uint8_t)(v[i] >> (8 * j));
}

static int
mark_processed(struct scan *sc, const char *source, const char *name,
               const struct stat *st)
{
    uint8_t sig[24];
    MDB_val k, v = { sizeof(sig), sig };
    int r, rc;

    file_sig(st, sig);
    if ((r = set_dbkey(&sc->dbkey, source, name, strlen(name))) < 0)
        return r;
    k.mv_size = sc->dbkey.len;
    k.mv_data = sc->dbkey.data;
    if ((rc = mdb_put(nv_outbox_txn(&sc->o), sc->a->st.files, &k, &v, 0)) != 0)
        return nv_mdb_fail(rc, "cannot record a processed file");
    return 0;
}

static int
emit_delete(struct scan *sc, const char *source, const char *key, size_t klen)
{
    MDB_val k;
    int r, rc;

    nv_buf_reset(&sc->line);
    if ((r = nv_buf_adds(&sc->line, "{\"op\":\"delete\",\"source\":")) < 0 ||
        (r = json_str(&sc->line, source, strlen(source))) < 0 ||
        (r = nv_buf_adds(&sc->line, ",\"key\":")) < 0 ||
        (r = json_str(&sc->line, key, klen)) < 0 ||
        (r = nv_buf_adds(&sc->line, "}")) < 0)
        return r;
    if ((r = nv_outbox_add_record(&sc->o, (char *)sc->line.data, sc->line.len,
                                  NV_OP_DELETE)) < 0)
        return r;
    if ((r = set_dbkey(&sc->dbkey, source, key, klen)) < 0)
        return r;
    k.mv_size = sc->dbkey.len;
    k.mv_data = sc->dbkey.data;
    rc = mdb_del(nv_outbox_txn(&sc->o), sc->a->st.fp, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_mdb_fail(rc, "cannot delete a fingerprint");
    sc->stats->deletes++;
    return 0;
}

/* Full export: known records of the source that the file did not hold. */
static int
emit_deletes(struct scan *sc, const struct nv_source *s, const char *file,
             struct seen *seen, uint64_t rejected)
{
    struct nv_buf gone = NV_BUF_INIT; /* key\0key\0... */
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t plen = strlen(s->name) + 1;
    uint64_t known = 0, ngone = 0;
    int r = 0, rc;

    if ((rc = mdb_cursor_open(nv_outbox_txn(&sc->o), sc->a->st.fp, &cur)) != 0)
        return nv_mdb_fail(rc, "cannot read fingerprints");
    k.mv_size = plen;
    k.mv_data = (void *)s->name;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint8_t h[HLEN];
        if (k.mv_size < plen || memcmp(k.mv_data, s->name, plen) != 0)
            break;
        known++;
        key_hash(h, (uint8_t *)k.mv_data + plen, k.mv_size - plen);
        if (seen_probe(seen, h, 0) == 1)
            continue;
        ngone++;
        if ((r = nv_buf_add(&gone, (uint8_t *)k.mv_data + plen, k.mv_size - plen)) < 0 ||
            (r = nv_buf_add(&gone, "", 1)) < 0)
            goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (ngone == 0)
        goto out;
    if (rejected > 0 || (ngone * 2 > known && ngone > 100)) {
        char why[200];
        snprintf(why, sizeof(why),
                 rejected ? "%llu deletes withheld: %llu rows were rejected, so the records they held are unknown"
                          : "%llu deletes withheld: they would remove more than half of the %llu known records (truncated export?)",
                 (unsigned long long)ngone,
                 (unsigned long long)(rejected ? rejected : known));
        sc->stats->withheld += ngone;
        reject(sc, s->name, file, 0, why);
        goto out;
    }
    for (size_t off = 0; off < gone.len;) {
        const char *key = (char *)gone.data + off;
        size_t klen = strlen(key);
        if ((r = emit_delete(sc, s->name, key, klen)) < 0)
            goto out;
        off += klen + 1;
    }
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    nv_buf_release(&gone);
    return r;
}

static int
scan_file(struct scan *sc, const struct nv_source *s, const char *path,
          const char *name, const struct stat *st)
{
    struct nv_csv *csv = NULL;
    const struct nv_csv_row *hdr, *row;
    struct colorder *order = NULL;
    size_t keyidx[NV_MAX_KEYCOLS];
    struct seen seen = { NULL, 0, 0 };
    struct nv_buf key = NV_BUF_INIT, fpb = NV_BUF_INIT;
    uint64_t rows = 0, up = 0, same = 0, rejected = 0;
    int fd = -1, r = 0, rc;
    char esc[256];

    if ((fd = nv_open_read(path)) < 0)
        return fd;
    r = nv_csv_open(&csv, fd, &s->dialect, 0, 0);
    if (r == NV_ENOTFOUND || r == NV_EFORMAT) {
        reject(sc, s->name, name, 0, r == NV_ENOTFOUND ? "empty file" : nv_errmsg(r));
        r = mark_processed(sc, s->name, name, st);
        goto out;
    }
    if (r < 0)
        goto out;
    hdr = nv_csv_header(csv);
    for (int k = 0; k < s->nkeycols; k++) {
        size_t i;
        for (i = 0; i < hdr->n; i++)
            if (strcmp(hdr->field[i], s->keycols[k]) == 0)
                break;
        if (i == hdr->n) {
            char why[200];
            snprintf(why, sizeof(why), "key column '%.64s' is not in the header",
                     s->keycols[k]);
            reject(sc, s->name, name, 0, why);
            r = mark_processed(sc, s->name, name, st);
            goto out;
        }
        keyidx[k] = i;
    }
    if ((order = calloc(hdr->n, sizeof(*order))) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < hdr->n; i++) {
        order[i].name = hdr->field[i];
        order[i].idx = i;
    }
    qsort(order, hdr->n, sizeof(*order), colcmp);

    for (;;) {
        uint8_t kh[HLEN], fp[HLEN];
        MDB_val k, v;
        int changed;

        r = nv_csv_next(csv, &row);
        if (r == 0)
            break;
        if (r == NV_EFORMAT) {
            rejected++;
            reject(sc, s->name, name, nv_csv_reject_line(csv), nv_errmsg(r));
            r = 0;
            continue;
        }
        if (r < 0)
            goto out;
        rows++;
        nv_buf_reset(&key);
        for (int c = 0; c < s->nkeycols; c++) {
            if ((c > 0 && (r = nv_buf_add(&key, "\x1f", 1)) < 0) ||
                (r = nv_buf_add(&key, row->field[keyidx[c]], row->len[keyidx[c]])) < 0)
                goto out;
        }
        if (key.len == 0 || key.len > KEY_MAX || memchr(key.data, '\0', key.len)) {
            rejected++;
            reject(sc, s->name, name, row->line,
                   key.len == 0 ? "empty record key" : "record key over 400 bytes");
            continue;
        }
        key_hash(kh, key.data, key.len);
        seen_prefetch(&seen, kh);
        /* fingerprint: BLAKE2b-128 of name NUL value NUL ..., by column
         * name, hashed in one call */
        nv_buf_reset(&fpb);
        for (size_t i = 0; i < hdr->n; i++) {
            size_t c = order[i].idx;
            if ((r = nv_buf_add(&fpb, hdr->field[c], hdr->len[c] + 1)) < 0 ||
                (r = nv_buf_add(&fpb, row->field[c], row->len[c] + 1)) < 0)
                goto out;
        }
        crypto_generichash(fp, HLEN, fpb.data, fpb.len, NULL, 0);
        if ((r = set_dbkey(&sc->dbkey, s->name, (char *)key.data, key.len)) < 0)
            goto out;
        k.mv_size = sc->dbkey.len;
        k.mv_data = sc->dbkey.data;
        rc = mdb_get(nv_outbox_txn(&sc->o), sc->a->st.fp, &k, &v);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            r = nv_mdb_fail(rc, "cannot read a fingerprint");
            goto out;
        }
        changed = rc == MDB_NOTFOUND || v.mv_size != HLEN || memcmp(v.mv_data, fp, HLEN) != 0;
        if ((r = seen_probe(&seen, kh, 1)) < 0)
            goto out;
        if (r == 1) {
            r = 0;
            rejected++;
            reject(sc, s->name, name, row->line,
                   "duplicate record key (already on an earlier line of this file)");
            continue;
        }
        if (!changed) {
            same++;
            continue;
        }
        nv_buf_reset(&sc->line);
        if ((r = nv_buf_adds(&sc->line, "{\"op\":\"upsert\",\"source\":")) < 0 ||
            (r = json_str(&sc->line, s->name, strlen(s->name))) < 0 ||
            (r = nv_buf_adds(&sc->line, ",\"key\":")) < 0 ||
            (r = json_str(&sc->line, (char *)key.data, key.len)) < 0 ||
            (r = nv_buf_adds(&sc->line, ",\"fields\":{")) < 0)
            goto out;
        for (size_t i = 0; i < hdr->n; i++) {
            if ((i > 0 && (r = nv_buf_add(&sc->line, ",", 1)) < 0) ||
                (r = json_str(&sc->line, hdr->field[i], hdr->len[i])) < 0 ||
                (r = nv_buf_add(&sc->line, ":", 1)) < 0 ||
                (r = json_str(&sc->line, row->field[i], row->len[i])) < 0)
                goto out;
        }
        if ((r = nv_buf_adds(&sc->line, "}}")) < 0)
            goto out;
        if ((r = nv_outbox_add_record(&sc->o, (char *)sc->line.data, sc->line.len,
                                      NV_OP_UPSERT)) < 0)
            goto out;
        /* the transaction may be a new one after a sealed part */
        v.mv_size = HLEN;
        v.mv_data = fp;
        if ((rc = mdb_put(nv_outbox_txn(&sc->o), sc->a->st.fp, &k, &v, 0)) != 0) {
            r = nv_mdb_fail(rc, "cannot write a fingerprint");
            goto out;
        }
        up++;
    }
    if (s->mode == NV_MODE_FULL &&
        (r = emit_deletes(sc, s, name, &seen, rejected)) < 0)
        goto out;
    r = mark_processed(sc, s->name, name, st);
    sc->stats->rows += rows;
    sc->stats->upserts += up;
    sc->stats->unchanged += same;
    sc->stats->bytes += (uint64_t)st->st_size;
    sc->stats->files++;
    nv_info("scan", "source %s: '%s': %llu rows, %llu changed, %llu unchanged, %llu rejected",
            s->name, nv_log_escape(name, esc, sizeof(esc)), (unsigned long long)rows,
            (unsigned long long)up, (unsigned long long)same,
            (unsigned long long)rejected);
out:
    nv_csv_free(csv);
    if (fd >= 0)
        close(fd);
    free(order);
    seen_release(&seen);
    nv_buf_release(&key);
    nv_buf_release(&fpb);
    return r;
}

struct entry {
    char *name;
    struct stat st;
};

static int
entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    if (x->st.st_mtim.tv_sec != y->st.st_mtim.tv_sec)
        return x->st.st_mtim.tv_sec < y->st.st_mtim.tv_sec ? -1 : 1;
    if (x->st.st_mtim.tv_nsec != y->st.st_mtim.tv_nsec)
        return x->st.st_mtim.tv_nsec < y->st.st_mtim.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int
already_processed(struct scan *sc, const char *source, const char *name,
                  const struct stat *st)
{
    uint8_t sig[24];
    MDB_val k, v;

    file_sig(st, sig);
    if (set_dbkey(&sc->dbkey, source, name, strlen(name)) < 0)
        return 0;
    k.mv_size = sc->dbkey.len;
    k.mv_data = sc->dbkey.data;
    return mdb_get(nv_outbox_txn(&sc->o), sc->a->st.files, &k, &v) == 0 &&
           v.mv_size == sizeof(sig) && memcmp(v.mv_data, sig, sizeof(sig)) == 0;
}

static int
scan_source(struct scan *sc, const struct nv_source *s)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    struct entry *v = NULL;
    size_t n = 0, cap = 0;
    int64_t now_ms;
    struct timespec ts;
    int r = 0;

    if (d == NULL) {
        /* a vanished export directory is not fatal: it may come back */
        nv_warn("scan", "source %s: cannot open '%s': %s", s->name, s->dir,
                nv_errmsg(nv_fail_errno("opendir")));
        return 0;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        char *p;
        if (e->d_name[0] == '.' || fnmatch(s->pattern, e->d_name, FNM_PERIOD) != 0)
            continue;
        p = nv_path_join(s->dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                v = realloc(v, cap * sizeof(*v));
                if (v == NULL)
                    abort();
            }
            v[n].name = strdup(e->d_name);
            v[n].st = st;
            n++;
        }
        free(p);
    }
    closedir(d);
    if (n > 0)
        qsort(v, n, sizeof(*v), entry_cmp);
    for (size_t i = 0; i < n; i++) {
        int64_t mt = (int64_t)v[i].st.st_mtim.tv_sec * 1000 + v[i].st.st_mtim.tv_nsec / 1000000;
        char *p;
        if (r < 0)
            goto next;
        if (already_processed(sc, s->name, v[i].name, &v[i].st)) {
            sc->stats->skipped++;
            goto next;
        }
        if (now_ms - mt < (int64_t)sc->a->cfg.settle_ms) {
            sc->stats->waiting++;
            goto next;
        }
        p = nv_path_join(s->dir, v[i].name);
        r = scan_file(sc, s, p, v[i].name, &v[i].st);
        free(p);
    next:
        free(v[i].name);
    }
    free(v);
    return r;
}

int
nv_scan(struct nv_agent *a, struct nv_scan_stats *stats)
{
    struct scan sc;
    int r;

    memset(&sc, 0, sizeof(sc));
    memset(stats, 0, sizeof(*stats));
    sc.a = a;
    sc.stats = stats;
    nv_agent_outbox(a, &sc.o);
    if ((r = nv_outbox_begin(&sc.o, NV_KIND_CHANGES)) < 0)
        return r;
    for (int i = 0; i < a->cfg.nsrc && r == 0; i++)
        r = scan_source(&sc, &a->cfg.src[i]);
    if (r == 0 && sc.report.len > 0) {
        r = nv_outbox_add_file(&sc.o, "rejects.ndjson", sc.report.data, sc.report.len);
        nv_outbox_add_rejects(&sc.o, stats->rejects);
    }
    if (r == 0)
        r = nv_outbox_end(&sc.o);
    else
        nv_outbox_abort(&sc.o);
    stats->bundles = sc.o.bundles;
    nv_buf_release(&sc.report);
    nv_buf_release(&sc.line);
    nv_buf_release(&sc.dbkey);
    return r;
}
