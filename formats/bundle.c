/*
 * bundle.c - bundle writer and reader; the file layout is in bundle.h.
 *
 * Writing: payload files -> libarchive (ustar, unblocked) -> zstd stream ->
 * age STREAM encryption -> SHA-256 + unnamed spool file.  Then the manifest
 * (with the payload size and hash) is signed and the three members are
 * written to a temp file beside the destination, fsynced and linked into
 * place.
 *
 * Reading: the container is parsed strictly (each header must be exactly the
 * canonical one), the manifest parsed and its signature checked; then the
 * payload's SHA-256 is checked against the signed manifest *before* any of
 * it is decrypted, so nothing unauthenticated reaches the sink; then age ->
 * zstd (with a cap on the unpacked size) -> libarchive -> sink.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>
#include <zstd.h>

#include "bundle.h"
#include "errors.h"
#include "fileio.h"

#define BLOCK 512
#define IOBUF (256 * 1024)
#define USTAR_SIZE_MAX 077777777777ULL /* 11 octal digits */

static const char *member_names[3] = { "manifest", "manifest.minisig",
                                       "payload.age" };

/* ---- canonical ustar headers ---- */

static void
ustar_header(uint8_t h[BLOCK], const char *name, uint64_t size)
{
    unsigned sum = 0;

    memset(h, 0, BLOCK);
    memcpy(h, name, strlen(name));
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    memcpy(h + 136, "00000000000", 12);
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 329, "0000000", 8);
    memcpy(h + 337, "0000000", 8);
    for (int i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

static uint64_t
padded(uint64_t n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

static int
write_member(int fd, const char *name, const void *p, size_t n)
{
    uint8_t h[BLOCK];
    static const uint8_t zeros[BLOCK];
    int r;

    ustar_header(h, name, n);
    if ((r = nv_write_all(fd, h, BLOCK)) < 0 || (r = nv_write_all(fd, p, n)) < 0)
        return r;
    return nv_write_all(fd, zeros, (size_t)(padded(n) - n));
}

/* ---- writer ---- */

struct nv_bundle_writer {
    struct nv_bundle_params p;
    uint8_t prev[32]; /* p.prev points here */
    struct archive *ar;
    ZSTD_CCtx *zc;
    uint8_t *zout;
    size_t zout_cap;
    struct nv_age_enc *age;
    crypto_hash_sha256_state sha;
    int spool;
    uint64_t spooled;
    uint64_t raw;
    struct nv_buf records;
    unsigned record_files;
    uint64_t n_records, n_upserts, n_deletes, n_rejects;
    int err;
    int finished;
};

static int
spool_sink(void *ctx, const void *p, size_t n)
{
    struct nv_bundle_writer *w = ctx;
    int r;

    crypto_hash_sha256_update(&w->sha, p, n);
    if ((r = nv_write_all(w->spool, p, n)) < 0)
        return nv_fail_prefix(r, "cannot spool the bundle payload");
    w->spooled += n;
    if (w->spooled > USTAR_SIZE_MAX)
        return nv_fail(NV_ETOOBIG, "bundle payload over 8 GiB: lower the bundle size cap");
    return 0;
}

static int
zstd_push(struct nv_bundle_writer *w, const void *p, size_t n,
          ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = { p, n, 0 };
    int r;

    for (;;) {
        ZSTD_outBuffer out = { w->zout, w->zout_cap, 0 };
        size_t left = ZSTD_compressStream2(w->zc, &out, &in, mode);
        if (ZSTD_isError(left))
            return nv_fail(NV_EINVAL, "zstd: %s", ZSTD_getErrorName(left));
        if (out.pos > 0 && (r = nv_age_enc_write(w->age, w->zout, out.pos)) < 0)
            return r;
        if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
            return 0;
    }
}

static la_ssize_t
archive_sink(struct archive *a, void *ctx, const void *p, size_t n)
{
    struct nv_bundle_writer *w = ctx;
    int r = zstd_push(w, p, n, ZSTD_e_continue);

    if (r < 0) {
        w->err = r;
        archive_set_error(a, EIO, "payload write failed");
        return -1;
    }
    return (la_ssize_t)n;
}

static int
open_spool(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        char *tmpl = nv_path_join(dir, ".nova-spool.XXXXXX");
        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd >= 0)
            unlink(tmpl);
        free(tmpl);
    }
    if (fd < 0)
        return nv_fail_errno("cannot create a spool file in '%s'", dir);
    return fd;
}

int
nv_bundle_writer_new(struct nv_bundle_writer **out,
                     const struct nv_bundle_params *p)
{
    struct nv_bundle_writer *w;
    const uint8_t (*rcpt)[NV_AGE_KEYLEN];
    int r, threads;

    *out = NULL;
    if (p->seq == 0 || (p->seq == 1) != (p->prev == NULL) ||
        !nv_name_valid(p->sender) || !nv_name_valid(p->recipient) ||
        p->part == 0)
        return nv_fail(NV_EINVAL, "invalid bundle parameters");
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    w->p = *p;
    if (p->prev != NULL) {
        memcpy(w->prev, p->prev, 32);
        w->p.prev = w->prev;
    }
    w->spool = -1;
    nv_buf_init(&w->records);
    crypto_hash_sha256_init(&w->sha);
    if ((w->spool = open_spool(p->tmp_dir ? p->tmp_dir : "/tmp")) < 0) {
        r = w->spool;
        goto fail;
    }
    w->zc = ZSTD_createCCtx();
    w->zout_cap = ZSTD_CStreamOutSize();
    w->zout = malloc(w->zout_cap);
    if (w->zc == NULL || w->zout == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto fail;
    }
    ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel,
                           p->zstd_level ? p->zstd_level : 1);
    ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1);
    threads = p->zstd_threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? 1 : n > 4 ? 4 : (int)n;
    }
    if (threads > 1)
        ZSTD_CCtx_setParameter(w->zc, ZSTD_c_nbWorkers, threads);
    rcpt = (const uint8_t(*)[NV_AGE_KEYLEN])p->recipient_pk;
    if ((r = nv_age_enc_new(&w->age, rcpt, 1, spool_sink, w)) < 0)
        goto fail;
    w->ar = archive_write_new();
    if (w->ar == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto fail;
    }
    if (archive_write_set_format_ustar(w->ar) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(w->ar, BLOCK * 20) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(w->ar, 1) != ARCHIVE_OK ||
        archive_write_open(w->ar, w, NULL, archive_sink, NULL) != ARCHIVE_OK) {
        r = nv_fail(NV_EINVAL, "libarchive: %s", archive_error_string(w->ar));
        goto fail;
    }
    *out = w;
    return 0;
fail:
    nv_bundle_writer_free(w);
    return r;
}

int
nv_bundle_add_file(struct nv_bundle_writer *w, const char *name,
                   const void *data, size_t len)
{
    struct archive_entry *e;
    int r = 0;

    if (!nv_entry_name_valid(name))
        return nv_fail(NV_EINVAL, "invalid payload file name");
    if ((e = archive_entry_new()) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, w->p.created, 0);
    if (archive_write_header(w->ar, e) != ARCHIVE_OK ||
        (len > 0 && archive_write_data(w->ar, data, len) != (la_ssize_t)len)) {
        r = w->err ? w->err
                   : nv_fail(NV_EINVAL, "libarchive: %s",
                             archive_error_string(w->ar));
    }
    archive_entry_free(e);
    if (r == 0)
        w->raw += len;
    return r;
}

static int
flush_records(struct nv_bundle_writer *w)
{
    char name[64];
    int r;

    if (w->records.len == 0)
        return 0;
    snprintf(name, sizeof(name), "changes-%06u.ndjson", ++w->record_files);
    r = nv_bundle_add_file(w, name, w->records.data, w->records.len);
    nv_buf_reset(&w->records);
    return r;
}

int
nv_bundle_add_record(struct nv_bundle_writer *w, const void *line, size_t len)
{
    int r;

    if (w->records.len > 0 && w->records.len + len + 1 > NV_ENTRY_CHUNK &&
        (r = flush_records(w)) < 0)
        return r;
    if ((r = nv_buf_add(&w->records, line, len)) < 0 ||
        (r = nv_buf_add(&w->records, "\n", 1)) < 0)
        return r;
    if (w->records.len >= NV_ENTRY_CHUNK)
        return flush_records(w);
    return 0;
}

void
nv_bundle_set_counts(struct nv_bundle_writer *w, uint64_t records,
                     uint64_t upserts, uint64_t deletes, uint64_t rejects)
{
    w->n_records = records;
    w->n_upserts = upserts;
    w->n_deletes = deletes;
    w->n_rejects = rejects;
}

void
nv_bundle_set_final(struct nv_bundle_writer *w, int final)
{
    w->p.final = final;
}

uint64_t
nv_bundle_raw_bytes(const struct nv_bundle_writer *w)
{
    return w->raw + w->records.len;
}

static int
copy_spool(int from, int to, uint64_t n)
{
    uint8_t *buf = NULL;
    off_t off = 0;
    int r = 0;

    while (n > 0) {
        ssize_t c = copy_file_range(from, &off, to, NULL, n, 0);
        if (c > 0) {
            n -= (uint64_t)c;
            continue;
        }
        if (c == 0) {
            errno = EIO;
            return nv_fail_errno("spool file shorter than expected");
        }
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP &&
            errno != EINVAL)
            return nv_fail_errno("cannot copy the payload");
        break;
    }
    if (n == 0)
        return 0;
    /* fall back to read/write */
    if ((buf = malloc(IOBUF)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    while (n > 0) {
        size_t want = n < IOBUF ? (size_t)n : IOBUF;
        ssize_t got = pread(from, buf, want, off);
        if (got <= 0) {
            r = got < 0 ? nv_fail_errno("cannot read the spool file")
                        : nv_fail(NV_ESYS, "spool file shorter than expected");
            break;
        }
        if ((r = nv_write_all(to, buf, (size_t)got)) < 0)
            break;
        off += got;
        n -= (uint64_t)got;
    }
    free(buf);
    return r;
}

int
nv_bundle_write_container(const char *path, const struct nv_buf *manifest,
                          const struct nv_buf *sig, int payload_fd,
                          uint64_t payload_size)
{
    static const uint8_t zeros[2 * BLOCK];
    struct nv_atomic at;
    uint8_t h[BLOCK];
    int r;

    if (payload_size > USTAR_SIZE_MAX)
        return nv_fail(NV_ETOOBIG, "bundle payload over 8 GiB");
    if ((r = nv_atomic_open(&at, path, 0640)) < 0)
        return r;
    ustar_header(h, member_names[2], payload_size);
    if ((r = write_member(at.fd, member_names[0], manifest->data,
                          manifest->len)) < 0 ||
        (r = write_member(at.fd, member_names[1], sig->data, sig->len)) < 0 ||
        (r = nv_write_all(at.fd, h, BLOCK)) < 0 ||
        (r = copy_spool(payload_fd, at.fd, payload_size)) < 0 ||
        (r = nv_write_all(at.fd, zeros,
                          (size_t)(padded(payload_size) - payload_size))) < 0 ||
        (r = nv_write_all(at.fd, zeros, sizeof(zeros))) < 0) {
        nv_atomic_abort(&at);
        return nv_fail_prefix(r, "cannot write bundle '%s'", path);
    }
    return nv_atomic_commit(&at, 1);
}

int
nv_bundle_writer_finish(struct nv_bundle_writer *w, const char *path,
                        uint8_t id[32], struct nv_manifest *manifest_out)
{
    struct nv_manifest m;
    struct nv_buf mtext = NV_BUF_INIT, sig = NV_BUF_INIT;
    char trusted[256], kid[17];
    int r;

    if (w->finished)
        return nv_fail(NV_EINVAL, "bundle writer already finished");
    w->finished = 1;
    if ((r = flush_records(w)) < 0)
        goto out;
    if (archive_write_close(w->ar) != ARCHIVE_OK) {
        r = w->err ? w->err
                   : nv_fail(NV_EINVAL, "libarchive: %s",
                             archive_error_string(w->ar));
        goto out;
    }
    if ((r = zstd_push(w, NULL, 0, ZSTD_e_end)) < 0 ||
        (r = nv_age_enc_finish(w->age)) < 0)
        goto out;

    memset(&m, 0, sizeof(m));
    m.kind = w->p.kind;
    strcpy(m.sender, w->p.sender);
    memcpy(m.sender_key, w->p.sign_key->keyid, NV_KEYID_LEN);
    strcpy(m.recipient, w->p.recipient);
    memcpy(m.recipient_key, w->p.recipient_pk, NV_AGE_KEYLEN);
    m.seq = w->p.seq;
    if (w->p.prev != NULL) {
        m.has_prev = 1;
        memcpy(m.prev, w->p.prev, 32);
    }
    m.created = w->p.created;
    m.part = w->p.part;
    m.final = w->p.final;
    m.records = w->n_records;
    m.upserts = w->n_upserts;
    m.deletes = w->n_deletes;
    m.rejects = w->n_rejects;
    m.payload_size = w->spooled;
    crypto_hash_sha256_final(&w->sha, m.payload_sha256);
    if ((r = nv_manifest_format(&m, &mtext)) < 0)
        goto out;
    nv_keyid_hex(m.sender_key, kid);
    snprintf(trusted, sizeof(trusted),
             "nova %s %s->%s seq:%llu\tfile:manifest\thashed",
             nv_kind_name(m.kind), m.sender, m.recipient,
             (unsigned long long)m.seq);
    if ((r = nv_minisign_sign(w->p.sign_key, mtext.data, mtext.len,
                              NV_SIG_COMMENT, trusted,
                              &sig)) < 0)
        goto out;

    r = nv_bundle_write_container(path, &mtext, &sig, w->spool, w->spooled);
    if (r == 0) {
        nv_manifest_id(mtext.data, mtext.len, id);
        if (manifest_out != NULL)
            *manifest_out = m;
    }
out:
    nv_buf_release(&mtext);
    nv_buf_release(&sig);
    return r;
}

void
nv_bundle_writer_free(struct nv_bundle_writer *w)
{
    if (w == NULL)
        return;
    if (w->ar != NULL)
        archive_write_free(w->ar); /* closes if still open */
    ZSTD_freeCCtx(w->zc);
    free(w->zout);
    nv_age_enc_free(w->age);
    if (w->spool >= 0)
        close(w->spool);
    nv_buf_release(&w->records);
    sodium_memzero(&w->sha, sizeof(w->sha));
    free(w);
}

/* ---- reader ---- */

static int
read_exact(struct nv_bundle *b, void *p, size_t n, const char *what)
{
    ssize_t got = nv_read_full(b->fd, p, n);

    if (got < 0)
        return (int)got;
    if ((size_t)got < n)
        return nv_fail(NV_ETRUNCATED, "bundle truncated in %s", what);
    return 0;
}

/* Read one member header; check it is exactly the canonical one for name. */
static int
read_member_header(struct nv_bundle *b, int idx, uint64_t max, uint64_t *size)
{
    uint8_t h[BLOCK], want[BLOCK];
    uint64_t n = 0;
    int r;

    if ((r = read_exact(b, h, BLOCK, "a member header")) < 0)
        return r;
    for (int i = 124; i < 135; i++) {
        if (h[i] < '0' || h[i] > '7')
            return nv_fail(NV_EFORMAT, "bundle member %d: bad size field",
                           idx + 1);
        n = n * 8 + (uint64_t)(h[i] - '0');
    }
    ustar_header(want, member_names[idx], n);
    if (memcmp(h, want, BLOCK) != 0) {
        if (memcmp(h, member_names[idx], strlen(member_names[idx]) + 1) != 0)
            return nv_fail(NV_EFORMAT, "bundle member %d is not '%s'", idx + 1,
                           member_names[idx]);
        return nv_fail(NV_EFORMAT, "bundle member '%s' has a non-canonical header",
                       member_names[idx]);
    }
    if (max && n > max)
        return nv_fail(NV_ETOOBIG, "bundle member '%s' is %llu bytes, over the %llu-byte limit",
                       member_names[idx], (unsigned long long)n,
                       (unsigned long long)max);
    *size = n;
    return 0;
}

static int
read_member(struct nv_bundle *b, int idx, uint64_t max, struct nv_buf *out)
{
    uint8_t pad[BLOCK];
    uint64_t n;
    int r;

    if ((r = read_member_header(b, idx, max, &n)) < 0)
        return r;
    if ((r = nv_buf_reserve(out, (size_t)n)) < 0 ||
        (r = read_exact(b, out->data, (size_t)n, member_names[idx])) < 0)
        return r;
    out->len = (size_t)n;
    out->data[n] = '\0';
    if ((r = read_exact(b, pad, (size_t)(padded(n) - n), member_names[idx])) < 0)
        return r;
    for (size_t i = 0; i < padded(n) - n; i++)
        if (pad[i] != 0)
            return nv_fail(NV_EFORMAT, "bundle member '%s' has non-zero padding",
                           member_names[idx]);
    return 0;
}

int
nv_bundle_read(struct nv_bundle *b, const char *path, uint64_t max_payload)
{
    struct stat st;
    uint64_t psize, expect;
    int r;

    memset(b, 0, sizeof(*b));
    b->fd = -1;
    nv_buf_init(&b->manifest_text);
    nv_buf_init(&b->sig_text);
    if ((b->fd = nv_open_read(path)) < 0) {
        r = b->fd;
        goto fail;
    }
    if (fstat(b->fd, &st) < 0) {
        r = nv_fail_errno("cannot stat '%s'", path);
        goto fail;
    }
    b->file_size = (uint64_t)st.st_size;
    if ((r = read_member(b, 0, NV_MANIFEST_MAX, &b->manifest_text)) < 0 ||
        (r = read_member(b, 1, NV_SIG_MAX, &b->sig_text)) < 0)
        goto fail;
    if ((r = nv_manifest_parse((char *)b->manifest_text.data,
                               b->manifest_text.len, &b->m)) < 0)
        goto fail;
    if ((r = nv_minisig_parse((char *)b->sig_text.data, b->sig_text.len,
                              &b->sig)) < 0) {
        r = nv_fail_prefix(r, "bundle signature");
        goto fail;
    }
    /* The untrusted comment is not signed: only the two known texts are
     * accepted, so that no byte of a bundle can change unnoticed. */
    if (strcmp(b->sig.untrusted, NV_SIG_COMMENT) != 0 &&
        strcmp(b->sig.untrusted, NV_SIG_COMMENT_STOCK) != 0) {
        r = nv_fail(NV_EFORMAT, "bundle signature: unexpected untrusted comment");
        goto fail;
    }
    nv_manifest_id(b->manifest_text.data, b->manifest_text.len, b->id);
    if ((r = read_member_header(b, 2, max_payload, &psize)) < 0)
        goto fail;
    if (psize != b->m.payload_size) {
        r = nv_fail(NV_EHASH, "payload.age is %llu bytes but the manifest says %llu",
                    (unsigned long long)psize,
                    (unsigned long long)b->m.payload_size);
        goto fail;
    }
    b->payload_off = (uint64_t)lseek(b->fd, 0, SEEK_CUR);
    expect = b->payload_off + padded(psize) + 2 * BLOCK;
    if (b->file_size < expect) {
        r = nv_fail(NV_ETRUNCATED, "bundle truncated: %llu of %llu bytes",
                    (unsigned long long)b->file_size, (unsigned long long)expect);
        goto fail;
    }
    if (b->file_size > expect) {
        r = nv_fail(NV_EFORMAT, "bundle has %llu bytes of trailing data",
                    (unsigned long long)(b->file_size - expect));
        goto fail;
    }
    /* padding after the payload and the two end blocks must be zero */
    {
        uint8_t tail[3 * BLOCK];
        size_t n = (size_t)(padded(psize) - psize) + 2 * BLOCK;
        ssize_t got = pread(b->fd, tail, n, (off_t)(b->payload_off + psize));
        if (got != (ssize_t)n) {
            r = nv_fail(NV_ETRUNCATED, "bundle truncated in its end blocks");
            goto fail;
        }
        for (size_t i = 0; i < n; i++)
            if (tail[i] != 0) {
                r = nv_fail(NV_EFORMAT, "bundle end blocks are not zero");
                goto fail;
            }
    }
    return 0;
fail:
    nv_bundle_release(b);
    return r;
}

int
nv_bundle_verify(struct nv_bundle *b, nv_key_lookup_fn lookup, void *ctx)
{
    struct nv_sign_pub pk;
    char kid[17];
    int r;

    nv_keyid_hex(b->m.sender_key, kid);
    if (memcmp(b->sig.keyid, b->m.sender_key, NV_KEYID_LEN) != 0)
        return nv_fail(NV_EUNKNOWNKEY,
                       "stream %s->%s bundle %llu: signed by a key other than sender-key %s",
                       b->m.sender, b->m.recipient,
                       (unsigned long long)b->m.seq, kid);
    if ((r = lookup(ctx, b->m.sender, b->m.sender_key, &pk)) < 0)
        return nv_fail_prefix(r, "stream %s->%s bundle %llu", b->m.sender,
                              b->m.recipient, (unsigned long long)b->m.seq);
    if ((r = nv_minisign_verify(&pk, &b->sig, b->manifest_text.data,
                                b->manifest_text.len, 0)) < 0)
        return nv_fail(r, "stream %s->%s bundle %llu: manifest signature does not verify with key %s",
                       b->m.sender, b->m.recipient,
                       (unsigned long long)b->m.seq, kid);
    b->verified = 1;
    return 0;
}

struct rd {
    struct nv_bundle *b;
    uint64_t left;
    struct nv_age_dec *age;
    ZSTD_DStream *z;
    uint8_t *zin, *zout;
    size_t zin_cap, zout_cap;
    ZSTD_inBuffer in;
    size_t zret;
    int age_eof;
    uint64_t unpacked, max_unpacked, max_ratio;
    int err;
};

static long
payload_source(void *ctx, void *p, size_t n)
{
    struct rd *rd = ctx;
    ssize_t got;

    if (rd->left == 0)
        return 0;
    if (n > rd->left)
        n = (size_t)rd->left;
    got = read(rd->b->fd, p, n);
    if (got < 0)
        return nv_fail_errno("cannot read payload");
    if (got == 0)
        return nv_fail(NV_ETRUNCATED, "payload shorter than its header says");
    rd->left -= (uint64_t)got;
    return got;
}

/* Produce the next piece of decompressed payload: >0 bytes in rd->zout,
 * 0 at the end, <0 error. */
static long
rd_next(struct rd *rd)
{
    for (;;) {
        ZSTD_outBuffer out = { rd->zout, rd->zout_cap, 0 };
        if (rd->in.pos == rd->in.size) {
            long n;
            if (rd->age_eof) {
                if (rd->zret != 0)
                    return nv_fail(NV_EFORMAT, "payload compression stream is truncated");
                return 0;
            }
            n = nv_age_dec_read(rd->age, rd->zin, rd->zin_cap);
            if (n < 0)
                return n;
            if (n == 0) {
                rd->age_eof = 1;
                continue;
            }
            rd->in.src = rd->zin;
            rd->in.size = (size_t)n;
            rd->in.pos = 0;
        }
        rd->zret = ZSTD_decompressStream(rd->z, &out, &rd->in);
        if (ZSTD_isError(rd->zret))
            return nv_fail(NV_EFORMAT, "payload is not valid zstd: %s",
                           ZSTD_getErrorName(rd->zret));
        rd->unpacked += out.pos;
        if (rd->unpacked > rd->max_unpacked ||
            (rd->unpacked > (64u << 20) &&
             rd->unpacked / (rd->b->m.payload_size + 1) > rd->max_ratio))
            return nv_fail(NV_EBOMB,
                           "stream %s->%s bundle %llu: payload unpacks to over %llu bytes from %llu (compression bomb)",
                           rd->b->m.sender, rd->b->m.recipient,
                           (unsigned long long)rd->b->m.seq,
                           (unsigned long long)rd->unpacked,
                           (unsigned long long)rd->b->m.payload_size);
        if (out.pos > 0)
            return (long)out.pos;
    }
}

static la_ssize_t
archive_source(struct archive *a, void *ctx, const void **buf)
{
    struct rd *rd = ctx;
    long n = rd_next(rd);

    if (n < 0) {
        rd->err = (int)n;
        archive_set_error(a, EIO, "payload read failed");
        return -1;
    }
    *buf = rd->zout;
    return n;
}

int
nv_bundle_check_hash(struct nv_bundle *b)
{
    crypto_hash_sha256_state sha;
    uint8_t *buf, got_hash[32];
    uint64_t left = b->m.payload_size;
    off_t off = (off_t)b->payload_off;
    int r = 0;

    if ((buf = malloc(IOBUF)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    crypto_hash_sha256_init(&sha);
    while (left > 0) {
        size_t want = left < IOBUF ? (size_t)left : IOBUF;
        ssize_t n = pread(b->fd, buf, want, off);
        if (n <= 0) {
            r = n < 0 ? nv_fail_errno("cannot read payload")
                      : nv_fail(NV_ETRUNCATED, "bundle truncated in payload");
            goto out;
        }
        crypto_hash_sha256_update(&sha, buf, (size_t)n);
        left -= (uint64_t)n;
        off += n;
    }
    crypto_hash_sha256_final(&sha, got_hash);
    b->hash_ok = sodium_memcmp(got_hash, b->m.payload_sha256, 32) == 0;
    if (!b->hash_ok)
        r = nv_fail(NV_EHASH,
                    "stream %s->%s bundle %llu: payload.age does not match the payload-sha256 of its signed manifest (tampered)",
                    b->m.sender, b->m.recipient, (unsigned long long)b->m.seq);
out:
    free(buf);
    return r;
}

static int
untar(struct rd *rd, struct archive *a, const struct nv_payload_sink *sink,
      uint32_t max_entries)
{
    struct archive_entry *e;
    uint32_t entries = 0;
    uint8_t *buf;
    int r = 0, ar;

    if ((buf = malloc(65536)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (;;) {
        const char *name;
        ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar != ARCHIVE_OK) {
            r = rd->err ? rd->err
                        : nv_fail(NV_EFORMAT, "payload archive: %s",
                                  archive_error_string(a));
            goto out;
        }
        name = archive_entry_pathname(e);
        if (++entries > max_entries) {
            r = nv_fail(NV_ETOOBIG, "payload has more than %u files", max_entries);
            goto out;
        }
        if (name == NULL || !nv_entry_name_valid(name) ||
            archive_entry_filetype(e) != AE_IFREG ||
            archive_entry_hardlink(e) != NULL ||
            archive_entry_symlink(e) != NULL) {
            char esc[160];
            size_t o = 0;
            for (const char *s = name ? name : "(none)"; *s && o + 5 < sizeof(esc); s++)
                o += (size_t)snprintf(esc + o, sizeof(esc) - o,
                                      (unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ? "\\x%02x" : "%c",
                                      (unsigned char)*s);
            r = nv_fail(NV_EUNSAFE,
                        "stream %s->%s bundle %llu: payload entry '%s' is not a plain file with a safe name",
                        rd->b->m.sender, rd->b->m.recipient,
                        (unsigned long long)rd->b->m.seq, esc);
            goto out;
        }
        if ((r = sink->entry(sink->ctx, name, (uint64_t)archive_entry_size(e))) < 0)
            goto out;
        for (;;) {
            la_ssize_t n = archive_read_data(a, buf, 65536);
            if (n == 0)
                break;
            if (n < 0) {
                r = rd->err ? rd->err
                            : nv_fail(NV_EFORMAT, "payload archive: %s",
                                      archive_error_string(a));
                goto out;
            }
            if ((r = sink->data(sink->ctx, buf, (size_t)n)) < 0)
                goto out;
        }
        if ((r = sink->end(sink->ctx)) < 0)
            goto out;
    }
    /* drain: the payload must authenticate to its very end */
    for (;;) {
        long n = rd_next(rd);
        if (n < 0) {
            r = (int)n;
            goto out;
        }
        if (n == 0)
            break;
        for (long i = 0; i < n; i++)
            if (rd->zout[i] != 0) {
                r = nv_fail(NV_EFORMAT, "payload has data after its archive");
                goto out;
            }
    }
out:
    free(buf);
    return r;
}

int
nv_bundle_open_payload(struct nv_bundle *b, struct nv_age_identity *const *ids,
                       size_t nids, const struct nv_payload_sink *sink,
                       const struct nv_open_limits *lim)
{
    struct rd rd;
    struct archive *a = NULL;
    size_t i;
    int r;

    memset(&rd, 0, sizeof(rd));
    if (!b->verified)
        return nv_fail(NV_EINVAL, "bundle not verified");
    for (i = 0; i < nids; i++)
        if (sodium_memcmp(ids[i]->pk, b->m.recipient_key, NV_AGE_KEYLEN) == 0)
            break;
    if (i == nids) {
        char rcpt[NV_AGE_RECIPIENT_LEN + 1];
        nv_age_recipient_encode(b->m.recipient_key, rcpt);
        return nv_fail(NV_EWRONGRCPT,
                       "stream %s->%s bundle %llu is encrypted to %s, which is not one of our keys",
                       b->m.sender, b->m.recipient, (unsigned long long)b->m.seq,
                       rcpt);
    }
    if (!b->hash_ok && (r = nv_bundle_check_hash(b)) < 0)
        return r;
    rd.b = b;
    rd.left = b->m.payload_size;
    rd.max_unpacked = lim && lim->max_unpacked ? lim->max_unpacked : 16ULL << 30;
    rd.max_ratio = lim && lim->max_ratio ? lim->max_ratio : 1000;
    if (lseek(b->fd, (off_t)b->payload_off, SEEK_SET) < 0)
        return nv_fail_errno("cannot seek in bundle");
    rd.z = ZSTD_createDStream();
    rd.zin_cap = NV_AGE_CHUNK;
    rd.zout_cap = ZSTD_DStreamOutSize();
    rd.zin = malloc(rd.zin_cap);
    rd.zout = malloc(rd.zout_cap);
    if (rd.z == NULL || rd.zin == NULL || rd.zout == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    /* a window larger than 128 MiB is refused: bounded memory */
    ZSTD_DCtx_setParameter(rd.z, ZSTD_d_windowLogMax, 27);
    if ((r = nv_age_dec_new(&rd.age, ids, nids, payload_source, &rd)) < 0) {
        r = nv_fail_prefix(r, "stream %s->%s bundle %llu: cannot decrypt payload",
                           b->m.sender, b->m.recipient,
                           (unsigned long long)b->m.seq);
        goto out;
    }
    if ((a = archive_read_new()) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    archive_read_support_format_tar(a);
    if (archive_read_open(a, &rd, NULL, archive_source, NULL) != ARCHIVE_OK) {
        r = rd.err ? rd.err
                   : nv_fail(NV_EFORMAT, "payload archive: %s",
                             archive_error_string(a));
        goto out;
    }
    r = untar(&rd, a, sink, lim && lim->max_entries ? lim->max_entries : 100000);
out:
    if (a != NULL)
        archive_read_free(a);
    nv_age_dec_free(rd.age);
    ZSTD_freeDStream(rd.z);
    free(rd.zin);
    free(rd.zout);
    return r;
}

void
nv_bundle_release(struct nv_bundle *b)
{
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
    nv_buf_release(&b->manifest_text);
    nv_buf_release(&b->sig_text);
}

void
nv_bundle_filename(const struct nv_manifest *m, char *out, size_t n)
{
    snprintf(out, n, "%s-%s-%010llu.%s%s", m->sender, m->recipient,
             (unsigned long long)m->seq, nv_kind_name(m->kind), NV_BUNDLE_EXT);
}

int
nv_entry_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > NV_ENTRY_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
