#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "../formats/csv.h"
#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "../formats/record.h"
#include "inbox.h"
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
    json_t *snapshot;     /* a full snapshot after a rebase: each source's
                             state ("whole" or why not), else NULL */
    int snapshot_again;   /* a newest export was still being written: the
                             snapshot goes on at the next pass */
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

/* A whole export file was rejected: the pass fails (nova-agent scan exits
 * with the first such code), whatever else it shipped. */
static void
whole_file_rejected(struct scan *sc, int code)
{
    sc->stats->files_rejected++;
    if (sc->stats->file_reject_code == 0)
        sc->stats->file_reject_code = code;
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

/* ---- withheld deletes ---- */

/* Drop the source's withheld deletes (and their summary). */
static int
withheld_clear(struct scan *sc, const char *source)
{
    MDB_txn *txn = nv_outbox_txn(&sc->o);
    MDB_cursor *cur;
    MDB_val k, v;
    size_t plen = strlen(source) + 1;
    int rc;

    if ((rc = mdb_cursor_open(txn, sc->a->st.withheld, &cur)) != 0)
        return nv_mdb_fail(rc, "cannot read withheld deletes");
    k.mv_size = plen;
    k.mv_data = (void *)source;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, source, plen) != 0)
            break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_mdb_fail(rc, "cannot clear withheld deletes");
    return 0;
}

/* Record the withheld deletes of a source: gone holds key\0key\0... */
static int
withheld_store(struct scan *sc, const char *source, const char *file,
               const struct nv_buf *gone, uint64_t ngone, const char *reason)
{
    MDB_txn *txn = nv_outbox_txn(&sc->o);
    struct nv_buf sum = NV_BUF_INIT;
    char when[21];
    MDB_val k, v = { 0, (void *)"" };
    int r, rc = 0;

    if ((r = withheld_clear(sc, source)) < 0)
        return r;
    for (size_t off = 0; off < gone->len && rc == 0;) {
        const char *key = (char *)gone->data + off;
        size_t klen = strlen(key);
        if ((r = set_dbkey(&sc->dbkey, source, key, klen)) < 0)
            return r;
        k.mv_size = sc->dbkey.len;
        k.mv_data = sc->dbkey.data;
        rc = mdb_put(txn, sc->a->st.withheld, &k, &v, 0);
        off += klen + 1;
    }
    if (rc != 0)
        return nv_mdb_fail(rc, "cannot record withheld deletes");
    if ((r = nv_buf_addf(&sum, "%llu\t%s\t%s\t%s", (unsigned long long)ngone,
                         nv_time_format(nv_now(), when), file, reason)) < 0 ||
        (r = set_dbkey(&sc->dbkey, source, "", 0)) < 0) {
        nv_buf_release(&sum);
        return r;
    }
    k.mv_size = sc->dbkey.len;
    k.mv_data = sc->dbkey.data;
    v.mv_size = sum.len;
    v.mv_data = sum.data;
    rc = mdb_put(txn, sc->a->st.withheld, &k, &v, 0);
    nv_buf_release(&sum);
    return rc ? nv_mdb_fail(rc, "cannot record withheld deletes") : 0;
}

/* Release the withheld deletes of one source: each key still known is
 * deleted.  *n: deletes shipped. */
static int
withheld_release(struct scan *sc, const char *source, uint64_t *n)
{
    MDB_txn *txn = nv_outbox_txn(&sc->o);
    struct nv_buf keys = NV_BUF_INIT;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t plen = strlen(source) + 1;
    int r = 0, rc;

    *n = 0;
    if ((rc = mdb_cursor_open(txn, sc->a->st.withheld, &cur)) != 0)
        return nv_mdb_fail(rc, "cannot read withheld deletes");
    k.mv_size = plen;
    k.mv_data = (void *)source;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, source, plen) != 0)
            break;
        if (k.mv_size == plen)
            continue; /* the summary */
        if ((r = nv_buf_add(&keys, (uint8_t *)k.mv_data + plen, k.mv_size - plen)) == 0)
            r = nv_buf_add(&keys, "", 1);
    }
    mdb_cursor_close(cur);
    for (size_t off = 0; r == 0 && off < keys.len;) {
        const char *key = (char *)keys.data + off;
        size_t klen = strlen(key);
        off += klen + 1;
        if ((r = set_dbkey(&sc->dbkey, source, key, klen)) < 0)
            break;
        k.mv_size = sc->dbkey.len;
        k.mv_data = sc->dbkey.data;
        rc = mdb_get(nv_outbox_txn(&sc->o), sc->a->st.fp, &k, &v);
        if (rc == MDB_NOTFOUND)
            continue; /* erased or deleted since */
        if (rc != 0) {
            r = nv_mdb_fail(rc, "cannot read a fingerprint");
            break;
        }
        if ((r = emit_delete(sc, source, key, klen)) == 0)
            (*n)++;
    }
    nv_buf_release(&keys);
    if (r == 0)
        r = withheld_clear(sc, source);
    return r;
}

/* What a snapshot (one file, or the files of one run) left undecided. */
struct snap {
    const char *file;    /* for the report: the (first) file */
    struct seen seen;    /* keys read */
    uint64_t rows, rejected;
    unsigned unreadable; /* files of the source that could not be read */
    unsigned files, parts_missing;
};

static int handoff_mark(struct scan *sc, const struct nv_source *s, struct snap *sn);

/* Full export: known records of the source that the snapshot did not hold.
 * The deletes are withheld (kept for accept-deletes) when the snapshot may
 * not be whole: unreadable files, rejected rows, no row at all, parts
 * missing, or more deletes than max_delete_share of the known records or
 * max_delete_count. */
static int
emit_deletes(struct scan *sc, const struct nv_source *s, struct snap *sn)
{
    struct nv_buf gone = NV_BUF_INIT; /* key\0key\0... */
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t plen = strlen(s->name) + 1;
    uint64_t known = 0, ngone = 0;
    char why[300];
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
        if (seen_probe(&sn->seen, h, 0) == 1)
            continue;
        ngone++;
        if ((r = nv_buf_add(&gone, (uint8_t *)k.mv_data + plen, k.mv_size - plen)) < 0 ||
            (r = nv_buf_add(&gone, "", 1)) < 0)
            goto out;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (ngone == 0) {
        r = withheld_clear(sc, s->name); /* a whole snapshot supersedes */
        goto out;
    }
    why[0] = '\0';
    if (sn->unreadable)
        snprintf(why, sizeof(why), "%u file(s) of the source could not be read", sn->unreadable);
    else if (sn->rejected)
        snprintf(why, sizeof(why), "%llu rows were rejected, so the records they held are unknown",
                 (unsigned long long)sn->rejected);
    else if (sn->rows == 0)
        snprintf(why, sizeof(why), "the export holds no record (header only?)");
    else if (sn->parts_missing)
        snprintf(why, sizeof(why), "the export run has %u of its %u files (snapshot_parts)",
                 sn->files, sn->files + sn->parts_missing);
    else if (s->max_delete_count > 0 && ngone > s->max_delete_count)
        snprintf(why, sizeof(why), "more than max_delete_count (%llu)",
                 (unsigned long long)s->max_delete_count);
    else if ((double)ngone > s->max_delete_share * (double)known)
        snprintf(why, sizeof(why), "%.1f%% of the %llu known records, over max_delete_share (%g%%)",
                 100.0 * (double)ngone / (double)known, (unsigned long long)known,
                 100.0 * s->max_delete_share);
    if (why[0]) {
        char line[420];
        snprintf(line, sizeof(line), "%llu deletes withheld: %s",
                 (unsigned long long)ngone, why);
        sc->stats->withheld += ngone;
        reject(sc, s->name, sn->file, 0, line);
        nv_warn("scan", "source %s: %llu deletes withheld (%llu known records): %s; after "
                "checking the export, release them with 'nova-agent accept-deletes %s %s'",
                s->name, (unsigned long long)ngone, (unsigned long long)known, why,
                sc->a->dir, s->name);
        r = withheld_store(sc, s->name, sn->file, &gone, ngone, why);
        goto out;
    }
    if ((r = withheld_clear(sc, s->name)) < 0)
        goto out;
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

/* One export file's rows into upserts; its keys go into sn->seen.  A file
 * that cannot be read as CSV at all is rejected whole (and counted in
 * sn->rejected). */
static int
scan_file(struct scan *sc, const struct nv_source *s, int fd, const char *name,
          const struct stat *st, struct snap *sn)
{
    struct nv_csv *csv = NULL;
    const struct nv_csv_row *hdr, *row;
    struct colorder *order = NULL;
    size_t keyidx[NV_MAX_KEYCOLS];
    struct seen *seen = &sn->seen;
    struct nv_buf key = NV_BUF_INIT, fpb = NV_BUF_INIT;
    uint64_t rows = 0, up = 0, same = 0, rejected = 0;
    int r = 0, rc;
    char esc[256];

    r = nv_csv_open(&csv, fd, &s->dialect, 0, 0);
    if (r == NV_ENOTFOUND || r == NV_EFORMAT) {
        reject(sc, s->name, name, 0, r == NV_ENOTFOUND ? "empty file" : nv_errmsg(r));
        sn->rejected++;
        whole_file_rejected(sc, r == NV_ENOTFOUND ? NV_EFORMAT : r);
        r = 0;
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
            sn->rejected++;
            whole_file_rejected(sc, NV_ECONFIG);
            goto out;
        }
        keyidx[k] = i;
    }
    nv_csv_set_key(csv, keyidx, (size_t)s->nkeycols);
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
        if (row->partial) {
            /* no line end: the file was cut, or is still being written
             * (it waited incomplete_wait): never ship a fragment */
            rejected++;
            reject(sc, s->name, name, row->line,
                   "the last line has no line end (a cut or unfinished export): not shipped");
            continue;
        }
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
        seen_prefetch(seen, kh);
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
        if ((r = seen_probe(seen, kh, 1)) < 0)
            goto out;
        if (r == 1) {
            r = 0;
            rejected++;
            reject(sc, s->name, name, row->line,
                   sn->files > 1 ? "duplicate record key (already on an earlier line or file of this export)"
                                 : "duplicate record key (already on an earlier line of this file)");
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
    sn->rows += rows;
    sn->rejected += rejected;
    sc->stats->rows += rows;
    sc->stats->upserts += up;
    sc->stats->unchanged += same;
    sc->stats->bytes += (uint64_t)st->st_size;
    nv_info("scan", "source %s: '%s': %llu rows, %llu changed, %llu unchanged, %llu rejected",
            s->name, nv_log_escape(name, esc, sizeof(esc)), (unsigned long long)rows,
            (unsigned long long)up, (unsigned long long)same,
            (unsigned long long)rejected);
out:
    nv_csv_free(csv);
    free(order);
    nv_buf_release(&key);
    nv_buf_release(&fpb);
    return r;
}

struct entry {
    char *name;
    char *path;     /* what to open (a symlink's target) */
    struct stat st; /* of what is opened */
    int fd;
    int state;      /* E_* */
};

enum { E_NEW, E_DONE, E_WAIT, E_BAD };

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

static const char *
kind_name(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket"
           : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
           : "not a regular file";
}

/* A directory entry matching the pattern: a regular file, or a symbolic
 * link to a regular file inside the source directory.  Anything else is
 * skipped with a log line.  Returns 1 with e->path and e->st set. */
static int
admit(struct scan *sc, const struct nv_source *s, const char *rdir, const char *name,
      struct entry *e)
{
    struct stat st;
    char esc[256], *p = nv_path_join(s->dir, name);
    const char *why = NULL;

    nv_log_escape(name, esc, sizeof(esc));
    if (lstat(p, &st) < 0) {
        free(p); /* gone since the listing: not there */
        return 0;
    }
    if (S_ISREG(st.st_mode)) {
        e->path = p;
        e->st = st;
        return 1;
    }
    if (S_ISLNK(st.st_mode)) {
        char *t = realpath(p, NULL);
        size_t dl = rdir ? strlen(rdir) : 0;
        if (t == NULL || stat(t, &st) < 0)
            why = "a symbolic link to nothing (dangling)";
        else if (!S_ISREG(st.st_mode))
            why = "a symbolic link to something that is not a regular file";
        else if (rdir == NULL || strncmp(t, rdir, dl) != 0 || t[dl] != '/')
            why = "a symbolic link to a file outside the source directory";
        if (why == NULL) {
            free(p);
            e->path = t;
            e->st = st;
            return 1;
        }
        free(t);
    } else {
        why = kind_name(st.st_mode);
    }
    free(p);
    sc->stats->ignored++;
    nv_warn("scan", "source %s: '%s' matches the pattern but is skipped: %s", s->name, esc,
            why);
    return 0;
}

/* Open an admitted file; it must still be the regular file listed. */
static int
open_entry(const struct nv_source *s, struct entry *e, uint64_t *unreadable)
{
    struct stat st;
    char esc[256];
    int fd = open(e->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    nv_log_escape(e->name, esc, sizeof(esc));
    if (fd < 0) {
        int en = errno;
        nv_warn("scan", "source %s: '%s' skipped: cannot open it: %s%s", s->name, esc,
                strerror(en), en == ENOENT ? " (removed after the listing)" : "");
        (*unreadable)++;
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        nv_warn("scan", "source %s: '%s' skipped: it is no longer a regular file", s->name, esc);
        close(fd);
        (*unreadable)++;
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    e->st = st; /* what is read is what is recorded */
    return fd;
}

/* Does the file end without a line end (cut, or still being written)?  A
 * last NUL byte (UTF-16, binary) is left to the reader, which names it. */
static int
unterminated(int fd, const struct stat *st)
{
    char c;

    return st->st_size > 0 && pread(fd, &c, 1, st->st_size - 1) == 1 && c != '\n' &&
           c != '\r' && c != '\0';
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
    uint64_t unreadable = 0;
    char *rdir;
    int r = 0;

    if (d == NULL) {
        /* a vanished export directory is not fatal: it may come back */
        nv_warn("scan", "source %s: cannot open '%s': %s", s->name, s->dir,
                nv_errmsg(nv_fail_errno("opendir")));
        return 0;
    }
    rdir = realpath(s->dir, NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || fnmatch(s->pattern, e->d_name, FNM_PERIOD) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = realloc(v, cap * sizeof(*v));
            if (v == NULL)
                abort();
        }
        memset(&v[n], 0, sizeof(v[n]));
        v[n].fd = -1;
        if (admit(sc, s, rdir, e->d_name, &v[n])) {
            v[n].name = strdup(e->d_name);
            n++;
        }
    }
    closedir(d);
    free(rdir);
    if (n > 0)
        qsort(v, n, sizeof(*v), entry_cmp);

    /* a snapshot after a rebase reads the newest export (run) again, and
     * takes the older ones for read */
    size_t newest = n;
    if (sc->snapshot != NULL && n > 0) {
        newest = n - 1;
        if (s->mode == NV_MODE_FULL && s->snapshot == NV_SNAP_MULTI)
            while (newest > 0 && v[newest].st.st_mtim.tv_sec - v[newest - 1].st.st_mtim.tv_sec <=
                                     (time_t)s->snapshot_window)
                newest--;
    }

    /* what each file is: done, settling, to read (opened now, so that a
     * file that cannot be read withholds the deletes of the whole pass) */
    for (size_t i = 0; i < n; i++) {
        int64_t mt = (int64_t)v[i].st.st_mtim.tv_sec * 1000 + v[i].st.st_mtim.tv_nsec / 1000000;
        if (sc->snapshot != NULL && i < newest) {
            v[i].state = E_DONE;
            if (!already_processed(sc, s->name, v[i].name, &v[i].st) &&
                (r = mark_processed(sc, s->name, v[i].name, &v[i].st)) < 0)
                break;
            continue;
        }
        if (sc->snapshot == NULL && already_processed(sc, s->name, v[i].name, &v[i].st)) {
            v[i].state = E_DONE;
            continue;
        }
        if (now_ms - mt < (int64_t)sc->a->cfg.settle_ms) {
            v[i].state = E_WAIT;
            continue;
        }
        if ((v[i].fd = open_entry(s, &v[i], &unreadable)) < 0) {
            v[i].state = E_BAD;
            continue;
        }
        if (unterminated(v[i].fd, &v[i].st) &&
            now_ms - mt < (int64_t)sc->a->cfg.incomplete_wait_ms) {
            char esc[256];
            nv_info("scan", "source %s: '%s' ends without a line end: waiting (incomplete_wait)",
                    s->name, nv_log_escape(v[i].name, esc, sizeof(esc)));
            v[i].state = E_WAIT;
            continue;
        }
        v[i].state = E_NEW;
    }
    sc->stats->unreadable += unreadable;

    /* snapshots: each file, or (snapshot = multi) the files of one run */
    for (size_t i = 0; i < n && r == 0;) {
        size_t j = i + 1, nnew = 0, nwait = 0, nbad = 0;
        struct snap sn;
        if (s->mode == NV_MODE_FULL && s->snapshot == NV_SNAP_MULTI)
            while (j < n && v[j].st.st_mtim.tv_sec - v[j - 1].st.st_mtim.tv_sec <=
                                (time_t)s->snapshot_window)
                j++;
        for (size_t k = i; k < j; k++) {
            nnew += v[k].state == E_NEW;
            nwait += v[k].state == E_WAIT;
            nbad += v[k].state == E_BAD;
        }
        if (sc->snapshot != NULL && i == newest && nwait > 0) {
            json_object_set_new(sc->snapshot, s->name,
                                json_string("the newest export is still being written: "
                                            "snapshot at the next pass"));
            sc->snapshot_again = 1;
        }
        if (nwait > 0 || nnew == 0) {
            /* a run still being written waits whole; a done one is done */
            for (size_t k = i; k < j; k++)
                sc->stats->skipped += v[k].state == E_DONE;
            sc->stats->waiting += nwait;
            i = j;
            continue;
        }
        memset(&sn, 0, sizeof(sn));
        sn.file = v[i].name;
        sn.unreadable = (unsigned)unreadable;
        sn.files = (unsigned)(j - i - nbad);
        if (s->snapshot == NV_SNAP_MULTI && s->snapshot_parts > sn.files)
            sn.parts_missing = s->snapshot_parts - sn.files;
        for (size_t k = i; k < j && r == 0; k++) {
            if (v[k].state == E_BAD)
                continue;
            if (v[k].fd < 0 && (v[k].fd = open_entry(s, &v[k], &unreadable)) < 0) {
                /* an earlier part of this run, read again with the rest */
                sn.unreadable++;
                sc->stats->unreadable++;
                v[k].state = E_BAD;
                continue;
            }
            r = scan_file(sc, s, v[k].fd, v[k].name, &v[k].st, &sn);
            if (r == 0)
                sc->stats->files++;
        }
        if (r == 0 && s->mode == NV_MODE_FULL)
            r = emit_deletes(sc, s, &sn);
        if (r == 0 && sc->snapshot != NULL && i == newest) {
            char why[200];
            if (s->mode != NV_MODE_FULL)
                snprintf(why, sizeof(why), "a delta source: no export holds all its records");
            else if (sn.unreadable)
                snprintf(why, sizeof(why), "%u file(s) could not be read", sn.unreadable);
            else if (sn.rejected)
                snprintf(why, sizeof(why), "%llu row(s) rejected", (unsigned long long)sn.rejected);
            else if (sn.rows == 0)
                snprintf(why, sizeof(why), "the export holds no record");
            else if (sn.parts_missing)
                snprintf(why, sizeof(why), "%u file(s) of the run missing", sn.parts_missing);
            else
                snprintf(why, sizeof(why), "whole");
            json_object_set_new(sc->snapshot, s->name, json_string(why));
        }
        if (r == 0 && s->mode == NV_MODE_FULL)
            r = handoff_mark(sc, s, &sn);
        for (size_t k = i; k < j && r == 0; k++)
            if (v[k].state != E_BAD)
                r = mark_processed(sc, s->name, v[k].name, &v[k].st);
        seen_release(&sn.seen);
        i = j;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].fd >= 0)
            close(v[i].fd);
        free(v[i].name);
        free(v[i].path);
    }
    free(v);
    return r;
}

/* After a full export of source s: its erasures handed to the CRM team
 * are marked present (the export still holds the key) or, when the
 * snapshot is whole, gone (nv_inbox_confirm answers the hub). */
static int
handoff_mark(struct scan *sc, const struct nv_source *s, struct snap *sn)
{
    MDB_txn *txn = nv_outbox_txn(&sc->o);
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct nv_buf pre = NV_BUF_INIT;
    json_t *marks = json_object();
    const char *hk;
    json_t *st;
    int whole = sn->unreadable == 0 && sn->rejected == 0 && sn->parts_missing == 0 &&
                sn->rows > 0;
    int r = 0, rc;

    if (nv_buf_add(&pre, NV_HANDOFF_PREFIX, sizeof(NV_HANDOFF_PREFIX)) < 0 ||
        nv_buf_add(&pre, s->name, strlen(s->name) + 1) < 0)
        abort();
    if ((rc = mdb_cursor_open(txn, sc->a->st.orders, &cur)) != 0) {
        nv_buf_release(&pre);
        json_decref(marks);
        return nv_mdb_fail(rc, "cannot read hand-offs");
    }
    k.mv_size = pre.len;
    k.mv_data = pre.data;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *order, *key, *tab;
        char val[64], nv[64];
        uint8_t h[HLEN];
        size_t kl;
        int present;
        if (k.mv_size <= pre.len || memcmp(k.mv_data, pre.data, pre.len) != 0)
            break;
        order = (const char *)k.mv_data + pre.len;
        key = memchr(order, '\0', k.mv_size - pre.len);
        if (key == NULL)
            continue;
        key++;
        kl = (size_t)((const char *)k.mv_data + k.mv_size - key);
        key_hash(h, key, kl);
        present = seen_probe(&sn->seen, h, 0) == 1;
        if (!present && !whole)
            continue;
        snprintf(val, sizeof(val), "%.*s", (int)v.mv_size, (char *)v.mv_data);
        tab = strchr(val, '\t');
        if (tab == NULL)
            continue;
        snprintf(nv, sizeof(nv), "%.*s\t%s", (int)(tab - val), val,
                 present ? "present" : "gone");
        if (strcmp(nv, val) != 0)
            json_object_setn_new_nocheck(marks, k.mv_data, k.mv_size, json_string(nv));
    }
    mdb_cursor_close(cur);
    {
        size_t hl;
        void *iter;
        for (iter = json_object_iter(marks); iter && r == 0;
             iter = json_object_iter_next(marks, iter)) {
            hk = json_object_iter_key(iter);
            hl = json_object_iter_key_len(iter);
            st = json_object_iter_value(iter);
            k.mv_size = hl;
            k.mv_data = (void *)hk;
            v.mv_size = json_string_length(st);
            v.mv_data = (void *)json_string_value(st);
            if ((rc = mdb_put(txn, sc->a->st.orders, &k, &v, 0)) != 0)
                r = nv_mdb_fail(rc, "cannot mark a hand-off");
        }
    }
    nv_buf_release(&pre);
    json_decref(marks);
    return r;
}

/* accept-deletes requests left while another nova-agent held the lock */
#define ACCEPT_REQUEST "accept-deletes.request"

static int
accept_one(struct scan *sc, const char *source, uint64_t *n)
{
    int r = withheld_release(sc, source, n);

    if (r == 0 && *n > 0)
        nv_info("scan", "source %s: %llu withheld deletes released (accept-deletes)", source,
                (unsigned long long)*n);
    return r;
}

/* Release the withheld deletes of source (NULL or "*": every source) in
 * the change set being built. */
static int
accept_sources(struct scan *sc, const char *source, uint64_t *n)
{
    int r = 0, found = 0;

    *n = 0;
    for (int i = 0; i < sc->a->cfg.nsrc && r == 0; i++) {
        uint64_t k = 0;
        if (source != NULL && strcmp(source, "*") != 0 && strcmp(source, sc->a->cfg.src[i].name))
            continue;
        found = 1;
        r = accept_one(sc, sc->a->cfg.src[i].name, &k);
        *n += k;
    }
    if (r == 0 && !found)
        r = nv_fail(NV_ENOTFOUND, "no source '%s' in the configuration", source);
    return r;
}

static int
accept_requests(struct scan *sc, int *had)
{
    char *p = nv_path_join(sc->a->dir, ACCEPT_REQUEST);
    struct nv_buf b = NV_BUF_INIT;
    int r;

    *had = 0;
    r = nv_read_file(p, 64 << 10, &b);
    free(p);
    if (r == NV_ENOTFOUND)
        return 0;
    if (r < 0)
        return r;
    *had = 1;
    for (char *s = (char *)b.data, *nl; r == 0 && s && *s; s = nl) {
        uint64_t n = 0;
        if ((nl = strchr(s, '\n')) != NULL)
            *nl++ = '\0';
        if (*s && (r = accept_sources(sc, s, &n)) == NV_ENOTFOUND) {
            nv_warn("scan", "accept-deletes request: %s", nv_errmsg(r));
            r = 0;
        } else if (r == 0) {
            sc->stats->released += n;
        }
    }
    nv_buf_release(&b);
    return r;
}

int
nv_scan_request_accept(const char *dir, const char *source)
{
    char *p = nv_path_join(dir, ACCEPT_REQUEST);
    struct nv_buf b = NV_BUF_INIT;
    int r = nv_read_file(p, 64 << 10, &b);

    if (r == NV_ENOTFOUND)
        r = 0;
    if (r == 0 && (r = nv_buf_addf(&b, "%s\n", source ? source : "*")) == 0)
        r = nv_write_file(p, b.data, b.len, 0600);
    free(p);
    nv_buf_release(&b);
    return r;
}

/* The end of a full snapshot: snapshot.json in its final part (the epoch,
 * the seq it starts after, each source whole or why not; the hub
 * reconciles the whole ones) and the rebase's snapshot done, in the same
 * transaction. */
static int
snapshot_end(struct scan *sc, struct nv_arebase *rb)
{
    json_t *o;
    char *text;
    int r;

    for (int i = 0; i < sc->a->cfg.nsrc; i++)
        if (json_object_get(sc->snapshot, sc->a->cfg.src[i].name) == NULL)
            json_object_set_new(sc->snapshot, sc->a->cfg.src[i].name,
                                json_string("no export read in the snapshot pass"));
    o = json_pack("{s:I,s:I,s:O}", "epoch", (json_int_t)rb->epoch, "base",
                  (json_int_t)rb->base, "sources", sc->snapshot);
    text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (text == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    r = nv_outbox_add_file(&sc->o, "snapshot.json", text, strlen(text));
    free(text);
    /* records a later pass ships have a seq above the base too: the hub's
     * reconciliation of the source then is as right as now */
    rb->snapshot = sc->snapshot_again;
    if (r == 0)
        r = nv_agent_rebase_put(nv_outbox_txn(&sc->o), sc->a, rb);
    if (r == 0)
        nv_info("scan", "full snapshot of epoch %llu after seq %llu%s", (unsigned long long)rb->epoch,
                (unsigned long long)rb->base,
                sc->snapshot_again ? " (a source's newest export is still being written: it "
                                     "goes on at the next pass)" : "");
    return r;
}

static int
scan_or_accept(struct nv_agent *a, struct nv_scan_stats *stats, int accept_only,
               const char *source)
{
    struct scan sc;
    struct nv_arebase rb;
    int r = 0, had = 0;

    memset(&sc, 0, sizeof(sc));
    memset(stats, 0, sizeof(*stats));
    sc.a = a;
    sc.stats = stats;
    nv_agent_outbox(a, &sc.o);
    if ((r = nv_outbox_begin(&sc.o, NV_KIND_CHANGES)) < 0)
        return r;
    if (!accept_only && (r = nv_agent_rebase_get(nv_outbox_txn(&sc.o), a, &rb)) == 0 &&
        rb.snapshot) {
        /* the first pass after a rebase: a full snapshot, flagged */
        if ((sc.snapshot = json_object()) == NULL)
            r = nv_fail(NV_ENOMEM, "out of memory");
        sc.o.snapshot = 1;
        sc.o.receipt = 1;
    }
    if (r < 0) {
        nv_outbox_abort(&sc.o);
        return r;
    }
    if (accept_only) {
        r = accept_sources(&sc, source, &stats->released);
    } else {
        r = accept_requests(&sc, &had);
        for (int i = 0; i < a->cfg.nsrc && r == 0; i++)
            r = scan_source(&sc, &a->cfg.src[i]);
    }
    if (r == 0 && sc.report.len > 0) {
        r = nv_outbox_add_file(&sc.o, "rejects.ndjson", sc.report.data, sc.report.len);
        nv_outbox_add_rejects(&sc.o, stats->rejects);
    }
    if (r == 0 && sc.snapshot != NULL)
        r = snapshot_end(&sc, &rb);
    if (r == 0)
        r = nv_outbox_end(&sc.o);
    else
        nv_outbox_abort(&sc.o);
    if (r == 0 && had) {
        /* committed: the request is done (applying it twice is harmless) */
        char *p = nv_path_join(a->dir, ACCEPT_REQUEST);
        unlink(p);
        free(p);
    }
    stats->bundles = sc.o.bundles;
    stats->snapshot = sc.snapshot != NULL && r == 0;
    json_decref(sc.snapshot);
    nv_buf_release(&sc.report);
    nv_buf_release(&sc.line);
    nv_buf_release(&sc.dbkey);
    return r;
}

int
nv_scan(struct nv_agent *a, struct nv_scan_stats *stats)
{
    return scan_or_accept(a, stats, 0, NULL);
}

int
nv_scan_accept(struct nv_agent *a, const char *source, struct nv_scan_stats *stats)
{
    return scan_or_accept(a, stats, 1, source);
}

int
nv_scan_withheld(struct nv_agent *a, const char *source, struct nv_withheld *w)
{
    MDB_txn *txn;
    MDB_val k, v;
    struct nv_buf key = NV_BUF_INIT;
    int rc, r = 0;

    memset(w, 0, sizeof(*w));
    if ((rc = mdb_txn_begin(a->st.env, NULL, MDB_RDONLY, &txn)) != 0)
        return nv_mdb_fail(rc, "cannot read");
    if ((r = set_dbkey(&key, source, "", 0)) == 0) {
        k.mv_size = key.len;
        k.mv_data = key.data;
        rc = mdb_get(txn, a->st.withheld, &k, &v);
        if (rc == 0) {
            char buf[600], *f[4] = { NULL, NULL, NULL, NULL }, *save = NULL;
            snprintf(buf, sizeof(buf), "%.*s", (int)v.mv_size, (char *)v.mv_data);
            f[0] = strtok_r(buf, "\t", &save);
            for (int i = 1; i < 4 && f[i - 1]; i++)
                f[i] = strtok_r(NULL, i == 3 ? "" : "\t", &save);
            w->count = f[0] ? strtoull(f[0], NULL, 10) : 0;
            snprintf(w->when, sizeof(w->when), "%s", f[1] ? f[1] : "");
            snprintf(w->file, sizeof(w->file), "%s", f[2] ? f[2] : "");
            snprintf(w->reason, sizeof(w->reason), "%s", f[3] ? f[3] : "");
        } else if (rc != MDB_NOTFOUND) {
            r = nv_mdb_fail(rc, "cannot read withheld deletes");
        }
    }
    mdb_txn_abort(txn);
    nv_buf_release(&key);
    return r;
}

/* ---- nova-agent check: the newest export of a source ---- */

int
nv_scan_check_source(const struct nv_source *s, FILE *f, char *newest, size_t nnewest)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    struct timespec best = { 0, 0 };
    struct nv_csv *csv = NULL;
    const struct nv_csv_row *hdr;
    char *path = NULL, esc[256];
    int fd, r, problems = 0;

    newest[0] = '\0';
    if (d == NULL)
        return 0; /* nv_agent_config_check reports the directory */
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        char *p;
        if (e->d_name[0] == '.' || fnmatch(s->pattern, e->d_name, FNM_PERIOD) != 0)
            continue;
        p = nv_path_join(s->dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
            (st.st_mtim.tv_sec > best.tv_sec ||
             (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec > best.tv_nsec) ||
             path == NULL)) {
            best = st.st_mtim;
            free(path);
            path = p;
            snprintf(newest, nnewest, "%s", e->d_name);
        } else {
            free(p);
        }
    }
    closedir(d);
    if (path == NULL)
        return 0;
    nv_log_escape(newest, esc, sizeof(esc));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
        fprintf(f, "source %s: the newest export '%s' cannot be opened: %s\n", s->name, esc,
                strerror(errno));
        free(path);
        return 1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    r = nv_csv_open(&csv, fd, &s->dialect, 0, 0);
    if (r < 0) {
        fprintf(f, "source %s: the newest export '%s' does not read with the source's "
                "dialect (delimiter, quote, encoding): %s\n", s->name, esc,
                r == NV_ENOTFOUND ? "empty file" : nv_errmsg(r));
        problems++;
    } else {
        hdr = nv_csv_header(csv);
        for (int k = 0; k < s->nkeycols; k++) {
            size_t i;
            for (i = 0; i < hdr->n; i++)
                if (strcmp(hdr->field[i], s->keycols[k]) == 0)
                    break;
            if (i < hdr->n)
                continue;
            fprintf(f, "source %s: key column '%s' is not in the header of the newest "
                    "export '%s'; its columns are:", s->name, s->keycols[k], esc);
            for (i = 0; i < hdr->n && i < 40; i++)
                fprintf(f, "%s '%s'", i ? "," : "",
                        nv_log_escape(hdr->field[i], esc, sizeof(esc)));
            fprintf(f, "%s\n", hdr->n > 40 ? ", ..." : "");
            problems++;
        }
        if (problems == 0 && hdr->n < 2)
            fprintf(f, "source %s: warning: the header of '%s' has one column: is the "
                    "delimiter right?\n", s->name, newest);
    }
    nv_csv_free(csv);
    close(fd);
    free(path);
    return problems;
}
