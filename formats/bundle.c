/*
 * bundle.c - bundle writer and reader; the file layout is in bundle.h.
 *
 * Writing: payload files -> ustar entries (the bytes libarchive wrote) ->
 * zstd frames (one per entry of records, compressed in parallel) -> age
 * STREAM encryption -> SHA-256 + an unnamed spool file, in a pipeline of
 * threads (see "writer" below).  The payload is
 * spooled at the offset it will have in the bundle, so that at the end the
 * manifest (with the payload size and hash) is signed, the members before
 * and the end blocks after it are written around it, and the spool is
 * fsynced and linked into place as the bundle; if the guessed offset was
 * wrong or the spool cannot be linked, the members are copied to a temp file
 * beside the destination instead.  SHA-256 is nettle's (SHA-NI when the CPU
 * has it).
 *
 * Reading: the container is parsed strictly (each header must be exactly the
 * canonical one), the manifest parsed and its signature checked; then the
 * payload's SHA-256 is checked against the signed manifest *before* any of
 * it is decrypted, so nothing unauthenticated reaches the sink; then age ->
 * zstd (with a cap on the unpacked size) -> libarchive -> sink.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <nettle/sha2.h>
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

/* ---- writer ----
 *
 * Sealing is a pipeline of three stages:
 *
 *   caller   copies records into batches of up to 4 MiB, one batch per
 *            "changes-NNNNNN.ndjson" entry (the caller also checks each
 *            record before adding it: see nv_record_check)
 *   packers  one thread per core (at most NPACK): each tars a batch and
 *            compresses the entry into one zstd frame of its own, in one
 *            pass straight from the batch (its header and padding have room
 *            around the records), then hands the frame over in the order of
 *            the batches (w->next_out)
 *   sealer   encrypts the frames (age), hashes and spools the result
 *
 * A payload of several zstd frames is one valid zstd stream (zstd -d reads
 * them in turn); compressing each entry alone costs about 0.3% of size and
 * lets the entries be compressed on every core.
 *
 * Buffers go round between two stages through a struct ring: a fixed number
 * of them, so memory stays bounded, and a stage waits when the next one is
 * behind.  Whole files (nv_bundle_add_file) and the end of the payload are
 * compressed by the caller's thread, streaming, each in a frame of its own,
 * once the packers are idle, so the payload keeps the order of the calls.
 *
 * Each piece of pipeline state (a packer's zstd context; the caller's zstd
 * context and current output buffer; age encryptor, hash, spool) is used by
 * one thread at a time; ownership passes under w->mu.  An error met in the
 * pipeline is recorded in w->perr (never with nv_fail, whose detail is
 * global: the caller's thread may be reporting a rejected record
 * meanwhile); the stages then drop their work, and the caller's thread
 * raises it at its next call.  Without threads (if they cannot be started)
 * each stage runs inline.
 *
 * Memory: npack batches of 4 MiB (2 at least), npack + 2 output buffers
 * (each touched up to one compressed entry, in huge pages) and npack + 1
 * zstd contexts, whatever the size of the bundle (nova-agent seal peaks
 * near 24 MiB with two cores).
 */

#define NPACK 4                 /* packer threads, at most */
#define NBATCH NPACK            /* record batches */
#define NZBUF (NPACK + 2)       /* compressed output buffers */
#define ZBUF_SIZE (256u << 10)  /* the caller's streaming output step */
#define SYNC_STEP (4u << 20)   /* spooled bytes between two write-outs */
#define RING_MAX 8
_Static_assert(NBATCH <= RING_MAX && NZBUF <= RING_MAX, "ring too small");

/* A batch's records are at data, with room for the entry's header before
 * them and its padding after them: the entry is one contiguous buffer. */
struct batch {
    uint8_t *data; /* BLOCK bytes into the allocation */
    size_t len, cap;
    unsigned no; /* its entry is changes-<no>.ndjson */
};

struct zbuf {
    uint8_t *data;
    size_t len, cap; /* cap >= ZBUF_SIZE */
};

struct packer {
    struct nv_bundle_writer *w;
    ZSTD_CCtx *zc;
    pthread_t thread;
    int started;
};

/* Buffers between a producer and a consumer stage; under w->mu. */
struct ring {
    void *queue[RING_MAX]; /* handed to the consumer, in order */
    unsigned head, len;
    void *pool[RING_MAX];  /* free, for the producer */
    unsigned npool;
    int busy;              /* buffers the consumers are working on */
    int stop;              /* the consumers exit once the queue is empty */
    pthread_t thread;      /* the consumer (the sealer's ring) */
    int started;
    pthread_cond_t work;   /* to the consumer: a buffer, or stop */
    pthread_cond_t done;   /* to the producer: a free buffer, or idle */
};

/* An error met in the pipeline, raised later by the caller's thread. */
struct perr {
    int code;           /* 0: none */
    int errnum;         /* errno of a system error, else 0 */
    const char *what;   /* static strings */
    const char *arg;
    const char *prefix;
};

struct nv_bundle_writer {
    struct nv_bundle_params p;
    uint8_t prev[32]; /* p.prev points here */
    /* the caller's compression (whole files, the end of the payload) */
    ZSTD_CCtx *zc;
    struct zbuf *zcur; /* being filled, or NULL */
    /* the packers */
    struct packer packers[NPACK];
    int npack;
    unsigned next_out; /* the batch whose frame goes to the sealer next */
    pthread_cond_t turn; /* to the packers: next_out moved */
    /* sealer state (the caller's before and after the pipeline runs) */
    struct nv_age_enc *age;
    struct sha256_ctx sha;
    int spool;
    uint64_t spool_off; /* where the payload starts in the spool file */
    uint64_t spooled;
    uint64_t flushed;   /* spooled bytes made durable */
    int direct;         /* the spool may become the bundle (O_TMPFILE) */
    /* the caller's */
    struct batch batches[NBATCH];
    struct zbuf zbufs[NZBUF];
    struct batch *cur; /* being filled, or NULL */
    uint64_t raw;      /* bytes of the entries handed over */
    unsigned record_files;
    uint64_t n_records, n_upserts, n_deletes, n_rejects;
    int finished;
    /* shared */
    int threaded; /* the packer and sealer threads run (set before they
                   * start, cleared after they end) */
    pthread_mutex_t mu;
    struct ring batch_ring; /* caller -> packer */
    struct ring zbuf_ring;  /* packer (or caller) -> sealer */
    int failed;             /* perr is set: the stages drop their work */
    int aborted;            /* the writer is being freed: likewise */
    struct perr perr;
};

/* ---- the rings ---- */

static void
lock(struct nv_bundle_writer *w)
{
    if (w->threaded)
        pthread_mutex_lock(&w->mu);
}

static void
unlock(struct nv_bundle_writer *w)
{
    if (w->threaded)
        pthread_mutex_unlock(&w->mu);
}

static void
wake_all(struct nv_bundle_writer *w)
{
    if (!w->threaded)
        return;
    pthread_cond_broadcast(&w->batch_ring.work);
    pthread_cond_broadcast(&w->batch_ring.done);
    pthread_cond_broadcast(&w->zbuf_ring.work);
    pthread_cond_broadcast(&w->zbuf_ring.done);
    pthread_cond_broadcast(&w->turn);
}

/* Record the pipeline's first error; any thread. */
static int
perr_set(struct nv_bundle_writer *w, int code, int errnum, const char *what,
         const char *arg, const char *prefix)
{
    lock(w);
    if (w->perr.code == 0) {
        w->perr.code = code;
        w->perr.errnum = errnum;
        w->perr.what = what;
        w->perr.arg = arg;
        w->perr.prefix = prefix;
    }
    code = w->perr.code;
    w->failed = 1;
    wake_all(w);
    unlock(w);
    return code;
}

/* Report the pipeline's error with nv_fail; the caller's thread, once it has
 * seen w->failed under the lock. */
static int
perr_raise(struct nv_bundle_writer *w)
{
    const struct perr *e = &w->perr;
    int r;

    if (e->code == 0)
        return nv_fail(NV_EINVAL, "bundle writer stopped");
    if (e->errnum != 0) {
        errno = e->errnum;
        r = nv_fail_errno("%s", e->what);
    } else {
        r = nv_fail(e->code, "%s%s", e->what, e->arg ? e->arg : "");
    }
    if (e->prefix != NULL)
        r = nv_fail_prefix(r, "%s", e->prefix);
    return r;
}

/* Producer: a free buffer (waits for one); NULL once the pipeline failed. */
static void *
ring_take(struct nv_bundle_writer *w, struct ring *g)
{
    void *b = NULL;

    lock(w);
    while (w->threaded && g->npool == 0 && !w->failed && !w->aborted)
        pthread_cond_wait(&g->done, &w->mu);
    if (!w->failed && !w->aborted)
        b = g->pool[--g->npool];
    unlock(w);
    return b;
}

/* Producer: give a free buffer back unused. */
static void
ring_untake(struct nv_bundle_writer *w, struct ring *g, void *b)
{
    lock(w);
    g->pool[g->npool++] = b;
    unlock(w);
}

/* Consumer: give a buffer back once used (or dropped). */
static void
ring_release(struct nv_bundle_writer *w, struct ring *g, void *b)
{
    lock(w);
    g->pool[g->npool++] = b;
    g->busy--;
    if (w->threaded)
        pthread_cond_broadcast(&g->done);
    unlock(w);
}

/* Consumer thread: the next buffer (waits for one); NULL to exit.  *drop
 * says whether to drop it unused. */
static void *
ring_next(struct nv_bundle_writer *w, struct ring *g, int *drop)
{
    void *b = NULL;

    pthread_mutex_lock(&w->mu);
    while (g->len == 0 && !g->stop)
        pthread_cond_wait(&g->work, &w->mu);
    if (g->len > 0) {
        b = g->queue[g->head];
        g->head = (g->head + 1) % RING_MAX;
        g->len--;
        g->busy++;
        *drop = w->failed || w->aborted;
    }
    pthread_mutex_unlock(&w->mu);
    return b;
}

/* Producer: wait until the consumer has used every buffer handed over. */
static void
ring_idle(struct nv_bundle_writer *w, struct ring *g)
{
    lock(w);
    while (w->threaded && (g->len > 0 || g->busy))
        pthread_cond_wait(&g->done, &w->mu);
    unlock(w);
}

static int
failed(struct nv_bundle_writer *w)
{
    int f;

    lock(w);
    f = w->failed;
    unlock(w);
    return f;
}

/* ---- the sealer stage ---- */

/* The age sink: hash and spool the sealed payload. */
static int
spool_sink(void *ctx, const void *p, size_t n)
{
    struct nv_bundle_writer *w = ctx;
    const uint8_t *c = p;
    size_t left = n;

    sha256_update(&w->sha, n, c);
    while (left > 0) {
        ssize_t k = write(w->spool, c, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return perr_set(w, NV_ESYS, k < 0 ? errno : ENOSPC,
                            k < 0 ? "write failed" : "write made no progress",
                            NULL, "cannot spool the bundle payload");
        c += k;
        left -= (size_t)k;
    }
    w->spooled += n;
    if (w->spooled > USTAR_SIZE_MAX)
        return perr_set(w, NV_ETOOBIG, 0,
                        "bundle payload over 8 GiB: lower the bundle size cap",
                        NULL, NULL);
    /* The spool is the bundle-to-be: start writing it out as it grows, so
     * that the final fsync (which costs in proportion to what it writes)
     * has little left to do.  Without waiting: an fdatasync here waited
     * for the file system's journal (other programs' writes too) and held
     * up the whole pipeline.  A write error is kept for the final fsync on
     * this descriptor, which reports it and fails the bundle. */
    if (w->direct && w->spooled - w->flushed >= SYNC_STEP) {
        if (sync_file_range(w->spool, (off_t)(w->spool_off + w->flushed),
                            (off_t)(w->spooled - w->flushed),
                            SYNC_FILE_RANGE_WRITE) < 0 &&
            errno == EIO)
            return perr_set(w, NV_ESYS, errno, "write failed", NULL,
                            "cannot spool the bundle payload");
        w->flushed = w->spooled;
    }
    return 0;
}

static void
seal_zbuf(struct nv_bundle_writer *w, struct zbuf *z)
{
    int r = nv_age_enc_write(w->age, z->data, z->len);

    /* the sink's error is recorded; age's own cannot happen here */
    if (r < 0)
        perr_set(w, r, 0, "cannot encrypt the bundle payload", NULL, NULL);
}

static void *
sealer_main(void *arg)
{
    struct nv_bundle_writer *w = arg;
    struct zbuf *z;
    int drop;

    while ((z = ring_next(w, &w->zbuf_ring, &drop)) != NULL) {
        if (!drop)
            seal_zbuf(w, z);
        z->len = 0;
        ring_release(w, &w->zbuf_ring, z);
    }
    return NULL;
}

/* Hand a filled output buffer to the sealer (or seal it inline); under
 * w->mu when threaded. */
static void
queue_zbuf_locked(struct nv_bundle_writer *w, struct zbuf *z)
{
    if (!w->threaded) {
        if (!w->failed)
            seal_zbuf(w, z);
        z->len = 0;
        w->zbuf_ring.pool[w->zbuf_ring.npool++] = z;
        return;
    }
    w->zbuf_ring.queue[(w->zbuf_ring.head + w->zbuf_ring.len) % RING_MAX] = z;
    w->zbuf_ring.len++;
    pthread_cond_signal(&w->zbuf_ring.work);
}

/* Hand the caller's current output buffer to the sealer. */
static void
put_zbuf(struct nv_bundle_writer *w)
{
    struct zbuf *z = w->zcur;

    w->zcur = NULL;
    if (z->len == 0) {
        ring_untake(w, &w->zbuf_ring, z);
        return;
    }
    lock(w);
    queue_zbuf_locked(w, z);
    unlock(w);
}

/* ---- the caller's compression: whole files, the end of the payload ---- */

static int
zstd_push(struct nv_bundle_writer *w, const void *p, size_t n,
          ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = { p, n, 0 };

    if (n == 0 && mode == ZSTD_e_continue)
        return 0;
    for (;;) {
        ZSTD_outBuffer out;
        size_t left;

        if (w->zcur == NULL &&
            (w->zcur = ring_take(w, &w->zbuf_ring)) == NULL)
            return NV_EINVAL; /* failed: perr has the error */
        out.dst = w->zcur->data;
        out.size = ZBUF_SIZE;
        out.pos = w->zcur->len;
        left = ZSTD_compressStream2(w->zc, &out, &in, mode);
        w->zcur->len = out.pos;
        if (ZSTD_isError(left))
            return perr_set(w, NV_EINVAL, 0, "zstd: ",
                            ZSTD_getErrorName(left), NULL);
        if (w->zcur->len == ZBUF_SIZE)
            put_zbuf(w);
        if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
            return 0;
    }
}

/* The ustar header libarchive's writer made for payload entries, byte for
 * byte: mode, uid, gid and device numbers as 6 octal digits, a space and a
 * NUL; size and mtime as 11 digits and a space; no user or group name. */
static void
entry_header(uint8_t h[BLOCK], const char *name, uint64_t size, int64_t mtime)
{
    char num[16];
    unsigned sum = 0;

    memset(h, 0, BLOCK);
    memcpy(h, name, strlen(name)); /* at most 100 bytes */
    memcpy(h + 100, "000644 ", 8);
    memcpy(h + 108, "000000 ", 8);
    memcpy(h + 116, "000000 ", 8);
    snprintf(num, sizeof(num), "%011llo ", (unsigned long long)size);
    memcpy(h + 124, num, 12);
    snprintf(num, sizeof(num), "%011llo ", (unsigned long long)mtime);
    memcpy(h + 136, num, 12);
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 329, "000000 ", 8);
    memcpy(h + 337, "000000 ", 8);
    for (int i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf(num, sizeof(num), "%06o", sum);
    memcpy(h + 148, num, 7); /* 6 digits and a NUL; the space stays */
}

/* Tar and compress one whole file as a frame of its own (the caller's). */
static int
pack_file(struct nv_bundle_writer *w, const char *name, const void *data,
          size_t len)
{
    static const uint8_t zeros[BLOCK];
    uint8_t h[BLOCK];
    int r;

    entry_header(h, name, len, w->p.created);
    if ((r = zstd_push(w, h, BLOCK, ZSTD_e_continue)) < 0 ||
        (len > 0 && (r = zstd_push(w, data, len, ZSTD_e_continue)) < 0) ||
        (r = zstd_push(w, zeros, (size_t)(padded(len) - len),
                       ZSTD_e_continue)) < 0 ||
        (r = zstd_push(w, NULL, 0, ZSTD_e_end)) < 0)
        return r;
    /* the packers' frames may follow: this one goes to the sealer whole */
    if (w->zcur != NULL)
        put_zbuf(w);
    return 0;
}

/* ---- the packers ---- */

/* n bytes for a batch or an output buffer, aligned for huge pages: they
 * are written page after page, and on some systems (virtual machines
 * notably) a page fault costs as much as copying 50 KiB; with huge pages
 * a 4 MiB batch takes 2 faults instead of 1024. */
#define HUGE_PAGE (2u << 20)

static uint8_t *
big_alloc(size_t n)
{
    void *p;

    if (posix_memalign(&p, HUGE_PAGE, n) != 0)
        return NULL;
    if (n >= HUGE_PAGE)
        (void)madvise(p, n & ~((size_t)HUGE_PAGE - 1), MADV_HUGEPAGE);
    return p;
}

/* The output room for an entry of n bytes: a buffer of the usual size is
 * kept, one grown for a huge record is given back. */
static int
zbuf_fit(struct zbuf *z, size_t n)
{
    size_t usual = ZSTD_compressBound(BLOCK + NV_ENTRY_CHUNK + BLOCK);
    size_t need = ZSTD_compressBound(n);
    size_t want = need > usual ? need : usual;

    if (z->cap == want || (z->cap > want && want == need))
        return 0;
    if (z->cap > want || z->cap < need) {
        uint8_t *d = big_alloc(want);
        if (d == NULL)
            return -1;
        free(z->data);
        z->data = d;
        z->cap = want;
    }
    return 0;
}

/* Tar a batch and compress the entry into one frame; then hand the frame to
 * the sealer in its turn.  Gives the batch back as soon as it is
 * compressed. */
static void
pack_batch(struct nv_bundle_writer *w, struct packer *pk, struct batch *b,
           int drop)
{
    char name[32];
    uint8_t *entry = b->data - BLOCK;
    size_t n = BLOCK + (size_t)padded(b->len), c = 0;
    unsigned no = b->no;
    struct zbuf *z = NULL;

    if (!drop && (z = ring_take(w, &w->zbuf_ring)) != NULL) {
        snprintf(name, sizeof(name), "changes-%06u.ndjson", no);
        entry_header(entry, name, b->len, w->p.created);
        memset(b->data + b->len, 0, n - BLOCK - b->len);
        if (zbuf_fit(z, n) < 0) {
            perr_set(w, NV_ENOMEM, 0, "out of memory", NULL, NULL);
        } else {
            c = ZSTD_compress2(pk->zc, z->data, z->cap, entry, n);
            if (ZSTD_isError(c))
                perr_set(w, NV_EINVAL, 0, "zstd: ", ZSTD_getErrorName(c), NULL);
            else
                z->len = c;
        }
    }
    b->len = 0;
    if (w->threaded)
        ring_release(w, &w->batch_ring, b);
    else
        ring_untake(w, &w->batch_ring, b);
    /* in turn; after a failure nothing is handed over any more */
    lock(w);
    while (w->threaded && w->next_out != no && !w->failed && !w->aborted)
        pthread_cond_wait(&w->turn, &w->mu);
    if (w->next_out == no) {
        w->next_out++;
        if (w->threaded)
            pthread_cond_broadcast(&w->turn);
    }
    if (z != NULL) {
        if (z->len > 0 && !w->failed && !w->aborted) {
            queue_zbuf_locked(w, z);
        } else {
            z->len = 0;
            w->zbuf_ring.pool[w->zbuf_ring.npool++] = z;
            if (w->threaded)
                pthread_cond_broadcast(&w->zbuf_ring.done);
        }
    }
    unlock(w);
}

static void *
packer_main(void *arg)
{
    struct packer *pk = arg;
    struct nv_bundle_writer *w = pk->w;
    struct batch *b;
    int drop;

    while ((b = ring_next(w, &w->batch_ring, &drop)) != NULL)
        pack_batch(w, pk, b, drop);
    return NULL;
}

/* ---- the caller's stage ---- */

static void end_threads(struct nv_bundle_writer *w);

/* Start the packers and the sealer; without them, all runs inline. */
static void
start_threads(struct nv_bundle_writer *w)
{
    struct ring *rings[2] = { &w->batch_ring, &w->zbuf_ring };
    sigset_t all, old;
    int i, ok = 1;

    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return;
    if (pthread_cond_init(&w->turn, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        return;
    }
    for (i = 0; i < 2; i++) {
        if (pthread_cond_init(&rings[i]->work, NULL) != 0)
            break;
        if (pthread_cond_init(&rings[i]->done, NULL) != 0) {
            pthread_cond_destroy(&rings[i]->work);
            break;
        }
    }
    if (i < 2) {
        while (i-- > 0) {
            pthread_cond_destroy(&rings[i]->work);
            pthread_cond_destroy(&rings[i]->done);
        }
        pthread_cond_destroy(&w->turn);
        pthread_mutex_destroy(&w->mu);
        return;
    }
    w->threaded = 1;
    /* signals stay with the caller's thread */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    w->zbuf_ring.started =
        pthread_create(&w->zbuf_ring.thread, NULL, sealer_main, w) == 0;
    ok = w->zbuf_ring.started;
    for (i = 0; ok && i < w->npack; i++)
        ok = w->packers[i].started =
            pthread_create(&w->packers[i].thread, NULL, packer_main,
                           &w->packers[i]) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok)
        end_threads(w); /* then all runs inline */
}

static void
end_threads(struct nv_bundle_writer *w)
{
    if (!w->threaded)
        return;
    /* the packers first: they feed the sealer */
    pthread_mutex_lock(&w->mu);
    w->batch_ring.stop = 1;
    pthread_cond_broadcast(&w->batch_ring.work);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->npack; i++)
        if (w->packers[i].started) {
            pthread_join(w->packers[i].thread, NULL);
            w->packers[i].started = 0;
        }
    if (w->zbuf_ring.started) {
        pthread_mutex_lock(&w->mu);
        w->zbuf_ring.stop = 1;
        pthread_cond_signal(&w->zbuf_ring.work);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->zbuf_ring.thread, NULL);
        w->zbuf_ring.started = 0;
    }
    pthread_cond_destroy(&w->batch_ring.work);
    pthread_cond_destroy(&w->batch_ring.done);
    pthread_cond_destroy(&w->zbuf_ring.work);
    pthread_cond_destroy(&w->zbuf_ring.done);
    pthread_cond_destroy(&w->turn);
    pthread_mutex_destroy(&w->mu);
    w->threaded = 0;
}

/* A free batch for the caller to fill. */
static int
take_batch(struct nv_bundle_writer *w)
{
    struct batch *b = ring_take(w, &w->batch_ring);

    if (b == NULL)
        return perr_raise(w);
    /* a batch grown for a huge record is given back */
    if (b->cap > NV_ENTRY_CHUNK) {
        free(b->data - BLOCK);
        b->data = NULL;
        b->cap = 0;
    }
    if (b->data == NULL) {
        uint8_t *d = big_alloc(BLOCK + NV_ENTRY_CHUNK + BLOCK);
        if (d == NULL) {
            ring_untake(w, &w->batch_ring, b);
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        b->data = d + BLOCK;
        b->cap = NV_ENTRY_CHUNK;
    }
    b->len = 0;
    w->cur = b;
    return 0;
}

/* Hand the current batch to the packers (or pack it inline). */
static int
put_batch(struct nv_bundle_writer *w)
{
    struct batch *b = w->cur;

    w->cur = NULL;
    if (b->len == 0) {
        ring_untake(w, &w->batch_ring, b);
        return 0;
    }
    b->no = ++w->record_files;
    w->raw += b->len;
    if (!w->threaded) {
        pack_batch(w, &w->packers[0], b, w->failed);
    } else {
        pthread_mutex_lock(&w->mu);
        w->batch_ring.queue[(w->batch_ring.head + w->batch_ring.len) % RING_MAX] = b;
        w->batch_ring.len++;
        pthread_cond_signal(&w->batch_ring.work);
        pthread_mutex_unlock(&w->mu);
    }
    return failed(w) ? perr_raise(w) : 0;
}

/* An unnamed spool file in dir; *linkable when it is an O_TMPFILE file,
 * which can later be given the bundle's name.  The mode is the bundle's. */
static int
open_spool(const char *dir, int *linkable)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0640);

    *linkable = fd >= 0;
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

/* The manifest of the bundle being written, as far as it is known. */
static void
fill_manifest(const struct nv_bundle_writer *w, struct nv_manifest *m)
{
    memset(m, 0, sizeof(*m));
    m->kind = w->p.kind;
    strcpy(m->sender, w->p.sender);
    memcpy(m->sender_key, w->p.sign_key->keyid, NV_KEYID_LEN);
    strcpy(m->recipient, w->p.recipient);
    memcpy(m->recipient_key, w->p.recipient_pk, NV_AGE_KEYLEN);
    m->seq = w->p.seq;
    if (w->p.prev != NULL) {
        m->has_prev = 1;
        memcpy(m->prev, w->p.prev, 32);
    }
    m->created = w->p.created;
    m->part = w->p.part;
    m->final = w->p.final;
    m->records = w->n_records;
    m->upserts = w->n_upserts;
    m->deletes = w->n_deletes;
    m->rejects = w->n_rejects;
    m->payload_size = w->spooled;
    if (w->p.ledger_head != NULL && strlen(w->p.ledger_head) == 40)
        memcpy(m->ledger_head, w->p.ledger_head, 41);
    m->has_acked = w->p.has_acked;
    m->acked = w->p.acked;
    m->epoch = w->p.epoch;
    m->snapshot = w->p.snapshot;
}

static void
trusted_comment(const struct nv_manifest *m, char *out, size_t n)
{
    snprintf(out, n, "nova %s %s->%s seq:%llu\tfile:manifest\thashed",
             nv_kind_name(m->kind), m->sender, m->recipient,
             (unsigned long long)m->seq);
}

/* The container bytes before the payload: three headers, the manifest and
 * the signature, each padded. */
static uint64_t
prefix_size(size_t manifest_len, size_t sig_len)
{
    return 3 * BLOCK + padded(manifest_len) + padded(sig_len);
}

static size_t
manifest_len(const struct nv_manifest *m)
{
    struct nv_buf t = NV_BUF_INIT;
    size_t n = nv_manifest_format(m, &t) < 0 ? 0 : t.len;

    nv_buf_release(&t);
    return n;
}

/* Guess where the payload will start in the bundle, so that it can be
 * spooled right there and the spool become the bundle.  The signature's
 * length is known now; the manifest's depends on the counts and the payload
 * size: if their possible range spans a 512-byte boundary, typical values
 * decide.  A wrong guess costs a copy at the end, nothing else.  0: none. */
static uint64_t
guess_payload_offset(const struct nv_bundle_writer *w)
{
    struct nv_manifest m;
    struct nv_buf sig = NV_BUF_INIT;
    char trusted[256];
    size_t lo, hi, mid, slen;

    fill_manifest(w, &m);
    m.final = 0;
    lo = manifest_len(&m);
    m.final = 1;
    m.records = m.upserts = m.deletes = m.rejects = 9999999999ULL;
    m.payload_size = USTAR_SIZE_MAX;
    hi = manifest_len(&m);
    m.final = w->p.final;
    m.records = m.upserts = 999999;
    m.deletes = 99999;
    m.rejects = 9;
    m.payload_size = 99999999;
    mid = manifest_len(&m);
    trusted_comment(&m, trusted, sizeof(trusted));
    /* the signature's length does not depend on what is signed */
    if (lo == 0 || nv_minisign_sign(w->p.sign_key, "", 0, NV_SIG_COMMENT,
                                    trusted, &sig) < 0) {
        nv_buf_release(&sig);
        return 0;
    }
    slen = sig.len;
    nv_buf_release(&sig);
    return prefix_size(padded(lo) == padded(hi) ? lo : mid, slen);
}

int
nv_bundle_writer_new(struct nv_bundle_writer **out,
                     const struct nv_bundle_params *p)
{
    struct nv_bundle_writer *w;
    const uint8_t (*rcpt)[NV_AGE_KEYLEN];
    int r;
    long ncpu;

    *out = NULL;
    if (p->seq == 0 || (p->seq == 1) != (p->prev == NULL) ||
        !nv_name_valid(p->sender) || !nv_name_valid(p->recipient) ||
        p->part == 0)
        return nv_fail(NV_EINVAL, "invalid bundle parameters");
    /* the entries' mtime: 11 octal digits */
    if (p->created < 0 || (uint64_t)p->created > USTAR_SIZE_MAX)
        return nv_fail(NV_EINVAL, "invalid bundle parameters (creation time)");
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    w->p = *p;
    if (p->prev != NULL) {
        memcpy(w->prev, p->prev, 32);
        w->p.prev = w->prev;
    }
    w->spool = -1;
    /* One packer per core: the caller and the sealer need less than a
     * core between them, and the packers wait for batches when they are
     * ahead.  As many batches as packers, two at least: the caller is the
     * slowest stage, a packer gives its batch back long before the caller
     * has filled the next.  Two output buffers more than packers (one
     * being sealed, one waiting). */
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    w->npack = p->zstd_threads > 0 ? p->zstd_threads : ncpu > 0 ? (int)ncpu : 1;
    if (w->npack > NPACK)
        w->npack = NPACK;
    w->next_out = 1;
    for (int i = 0; i < (w->npack > 1 ? w->npack : 2); i++)
        w->batch_ring.pool[w->batch_ring.npool++] = &w->batches[i];
    for (int i = 0; i < w->npack + 2; i++) {
        if ((w->zbufs[i].data = malloc(ZBUF_SIZE)) == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            goto fail;
        }
        w->zbufs[i].cap = ZBUF_SIZE;
        w->zbuf_ring.pool[w->zbuf_ring.npool++] = &w->zbufs[i];
    }
    sha256_init(&w->sha);
    if ((w->spool = open_spool(p->tmp_dir ? p->tmp_dir : "/tmp",
                               &w->direct)) < 0) {
        r = w->spool;
        goto fail;
    }
    if (w->direct)
        w->spool_off = guess_payload_offset(w);
    w->direct = w->spool_off > 0;
    if (w->direct && lseek(w->spool, (off_t)w->spool_off, SEEK_SET) < 0) {
        r = nv_fail_errno("cannot seek in the spool file");
        goto fail;
    }
    for (int i = 0; i <= w->npack; i++) {
        ZSTD_CCtx *zc = ZSTD_createCCtx();
        if (zc == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            goto fail;
        }
        ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel,
                               p->zstd_level ? p->zstd_level : 1);
        ZSTD_CCtx_setParameter(zc, ZSTD_c_checksumFlag, 1);
        if (i < w->npack) {
            w->packers[i].w = w;
            w->packers[i].zc = zc;
        } else {
            w->zc = zc;
        }
    }
    rcpt = (const uint8_t(*)[NV_AGE_KEYLEN])p->recipient_pk;
    if ((r = nv_age_enc_new(&w->age, rcpt, 1, spool_sink, w)) < 0) {
        if (w->perr.code != 0)
            r = perr_raise(w);
        goto fail;
    }
    start_threads(w);
    *out = w;
    return 0;
fail:
    nv_bundle_writer_free(w);
    return r;
}

/* Wait until the packers have handed to the sealer the frame of every
 * batch handed over: then the caller may compress. */
static int
packer_idle(struct nv_bundle_writer *w)
{
    lock(w);
    while (w->threaded && w->next_out != w->record_files + 1 && !w->failed)
        pthread_cond_wait(&w->turn, &w->mu);
    unlock(w);
    ring_idle(w, &w->batch_ring);
    return failed(w) ? perr_raise(w) : 0;
}

int
nv_bundle_add_file(struct nv_bundle_writer *w, const char *name,
                   const void *data, size_t len)
{
    int r;

    if (!nv_entry_name_valid(name))
        return nv_fail(NV_EINVAL, "invalid payload file name");
    if (w->finished)
        return nv_fail(NV_EINVAL, "bundle writer already finished");
    if ((uint64_t)len > USTAR_SIZE_MAX)
        return nv_fail(NV_ETOOBIG, "payload file over 8 GiB");
    if ((r = packer_idle(w)) < 0)
        return r;
    if (pack_file(w, name, data, len) < 0 || failed(w))
        return perr_raise(w);
    w->raw += len;
    return 0;
}

int
nv_bundle_add_record(struct nv_bundle_writer *w, const void *line, size_t len)
{
    struct batch *b;
    int r;

    if (w->finished)
        return nv_fail(NV_EINVAL, "bundle writer already finished");
    if (len > NV_BUF_MAX - 1)
        return nv_fail(NV_ETOOBIG, "record over %zu bytes", (size_t)NV_BUF_MAX);
    if (w->cur != NULL && w->cur->len > 0 &&
        w->cur->len + len + 1 > NV_ENTRY_CHUNK && (r = put_batch(w)) < 0)
        return r;
    if (w->cur == NULL && (r = take_batch(w)) < 0)
        return r;
    b = w->cur;
    if (b->len + len + 1 > b->cap) {
        /* one record over NV_ENTRY_CHUNK: it gets an entry of its own */
        uint8_t *nd = realloc(b->data - BLOCK, BLOCK + b->len + len + 1 + BLOCK);
        if (nd == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        b->data = nd + BLOCK;
        b->cap = b->len + len + 1;
    }
    memcpy(b->data + b->len, line, len);
    b->data[b->len + len] = '\n';
    b->len += len + 1;
    if (b->len >= NV_ENTRY_CHUNK)
        return put_batch(w);
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
    return w->raw + (w->cur != NULL ? w->cur->len : 0);
}

static int
copy_spool(int from, off_t off, int to, uint64_t n)
{
    uint8_t *buf = NULL;
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

static int
write_container_at(const char *path, const struct nv_buf *manifest,
                   const struct nv_buf *sig, int payload_fd,
                   uint64_t payload_off, uint64_t payload_size)
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
        (r = copy_spool(payload_fd, (off_t)payload_off, at.fd,
                        payload_size)) < 0 ||
        (r = nv_write_all(at.fd, zeros,
                          (size_t)(padded(payload_size) - payload_size))) < 0 ||
        (r = nv_write_all(at.fd, zeros, sizeof(zeros))) < 0) {
        nv_atomic_abort(&at);
        return nv_fail_prefix(r, "cannot write bundle '%s'", path);
    }
    return nv_atomic_commit(&at, 1);
}

int
nv_bundle_write_container(const char *path, const struct nv_buf *manifest,
                          const struct nv_buf *sig, int payload_fd,
                          uint64_t payload_size)
{
    return write_container_at(path, manifest, sig, payload_fd, 0,
                              payload_size);
}

/* The spool already holds the payload at the right offset: write the rest
 * of the container around it, fsync, and give it the name path (never
 * replacing a file).  1: the spool cannot be named (no /proc, another file
 * system...): copy it instead. */
static int
commit_spool(struct nv_bundle_writer *w, const char *path,
             const struct nv_buf *manifest, const struct nv_buf *sig)
{
    static const uint8_t zeros[2 * BLOCK];
    uint64_t size = w->spooled;
    char fdpath[64], *dir;
    uint8_t h[BLOCK];
    int r;

    if (lseek(w->spool, 0, SEEK_SET) < 0)
        return nv_fail_errno("cannot seek in the spool file");
    ustar_header(h, member_names[2], size);
    if ((r = write_member(w->spool, member_names[0], manifest->data,
                          manifest->len)) < 0 ||
        (r = write_member(w->spool, member_names[1], sig->data, sig->len)) < 0 ||
        (r = nv_write_all(w->spool, h, BLOCK)) < 0)
        return nv_fail_prefix(r, "cannot write bundle '%s'", path);
    if (lseek(w->spool, (off_t)(w->spool_off + size), SEEK_SET) < 0)
        return nv_fail_errno("cannot seek in the spool file");
    if ((r = nv_write_all(w->spool, zeros, (size_t)(padded(size) - size))) < 0 ||
        (r = nv_write_all(w->spool, zeros, sizeof(zeros))) < 0)
        return nv_fail_prefix(r, "cannot write bundle '%s'", path);
    if (fsync(w->spool) < 0)
        return nv_fail_errno("cannot fsync '%s'", path);
    snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", w->spool);
    if (linkat(AT_FDCWD, fdpath, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0) {
        if (errno == EEXIST)
            return nv_fail(NV_EEXIST, "'%s' already exists", path);
        return 1;
    }
    if ((dir = strdup(path)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    r = nv_fsync_dir(dirname(dir));
    free(dir);
    return r;
}

int
nv_bundle_writer_finish(struct nv_bundle_writer *w, const char *path,
                        uint8_t id[32], struct nv_manifest *manifest_out)
{
    static const uint8_t tar_end[2 * BLOCK];
    struct nv_manifest m;
    struct nv_buf mtext = NV_BUF_INIT, sig = NV_BUF_INIT;
    char trusted[256];
    int r;

    if (w->finished)
        return nv_fail(NV_EINVAL, "bundle writer already finished");
    w->finished = 1;
    /* the last batch; then the caller ends the tar and the zstd frame */
    if ((w->cur != NULL && (r = put_batch(w)) < 0) ||
        (r = packer_idle(w)) < 0)
        goto out;
    if (zstd_push(w, tar_end, sizeof(tar_end), ZSTD_e_continue) < 0 ||
        zstd_push(w, NULL, 0, ZSTD_e_end) < 0) {
        r = perr_raise(w);
        goto out;
    }
    if (w->zcur != NULL)
        put_zbuf(w);
    ring_idle(w, &w->zbuf_ring);
    end_threads(w);
    if (w->failed) {
        r = perr_raise(w);
        goto out;
    }
    if ((r = nv_age_enc_finish(w->age)) < 0) {
        if (w->perr.code != 0)
            r = perr_raise(w);
        goto out;
    }

    fill_manifest(w, &m);
    sha256_digest(&w->sha, sizeof(m.payload_sha256), m.payload_sha256);
    if ((r = nv_manifest_format(&m, &mtext)) < 0)
        goto out;
    trusted_comment(&m, trusted, sizeof(trusted));
    if ((r = nv_minisign_sign(w->p.sign_key, mtext.data, mtext.len,
                              NV_SIG_COMMENT, trusted,
                              &sig)) < 0)
        goto out;

    r = 1;
    if (w->direct &&
        prefix_size(mtext.len, sig.len) == w->spool_off)
        r = commit_spool(w, path, &mtext, &sig);
    if (r == 1)
        r = write_container_at(path, &mtext, &sig, w->spool, w->spool_off,
                               w->spooled);
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
    if (w->threaded) {
        pthread_mutex_lock(&w->mu);
        w->aborted = 1;
        wake_all(w);
        pthread_mutex_unlock(&w->mu);
        end_threads(w);
    }
    ZSTD_freeCCtx(w->zc);
    for (int i = 0; i < NPACK; i++)
        ZSTD_freeCCtx(w->packers[i].zc);
    nv_age_enc_free(w->age);
    if (w->spool >= 0)
        close(w->spool);
    for (int i = 0; i < NBATCH; i++)
        if (w->batches[i].data != NULL)
            free(w->batches[i].data - BLOCK);
    for (int i = 0; i < NZBUF; i++)
        free(w->zbufs[i].data);
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
    struct sha256_ctx sha;
    uint8_t *buf, got_hash[32];
    uint64_t left = b->m.payload_size;
    off_t off = (off_t)b->payload_off;
    int r = 0;

    if ((buf = malloc(IOBUF)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    sha256_init(&sha);
    while (left > 0) {
        size_t want = left < IOBUF ? (size_t)left : IOBUF;
        ssize_t n = pread(b->fd, buf, want, off);
        if (n <= 0) {
            r = n < 0 ? nv_fail_errno("cannot read payload")
                      : nv_fail(NV_ETRUNCATED, "bundle truncated in payload");
            goto out;
        }
        sha256_update(&sha, (size_t)n, buf);
        left -= (uint64_t)n;
        off += n;
    }
    sha256_digest(&sha, sizeof(got_hash), got_hash);
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
