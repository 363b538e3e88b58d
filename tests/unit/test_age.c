/*
 * test_age.c - unit tests for keys/age.c and keys/bech32.c: the official
 * C2SP/CCTV age vectors that apply to nova (one test per file), the nova
 * known-answer files, streaming round trips, key strings, identity files.
 *
 * Vectors come from $NOVA_SHARED/testvectors (default $NOVA_ROOT/../shared,
 * then ../shared).  Compressed CCTV vectors are inflated with zlib (test
 * only; link with -lz).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#include "../../formats/buf.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../keys/age.h"
#include "../../keys/bech32.h"

#define CCTV_EXPECTED 67
#define MAX_VEC_IDS 8
#define MAX_FILE (64u << 20)

static char shared_dir[PATH_MAX];

/* ---- helpers ----------------------------------------------------------- */

/* snprintf that must not truncate */
static void
fmt_path(char *out, size_t outsz, const char *fmt, const char *a,
         const char *b)
{
    int n = snprintf(out, outsz, fmt, a, b);

    if (n < 0 || (size_t)n >= outsz) {
        fprintf(stderr, "path too long: %s\n", a);
        abort();
    }
}

static void
find_shared(void)
{
    const char *s = getenv("NOVA_SHARED");
    const char *root = getenv("NOVA_ROOT");

    if (s != NULL && *s != '\0')
        fmt_path(shared_dir, sizeof(shared_dir), "%s%s", s, "");
    else if (root != NULL && *root != '\0')
        fmt_path(shared_dir, sizeof(shared_dir), "%s%s", root, "/../shared");
    else
        fmt_path(shared_dir, sizeof(shared_dir), "%s%s", "..", "/shared");
}

static void
read_shared(const char *rel, struct nv_buf *out)
{
    char path[PATH_MAX];

    fmt_path(path, sizeof(path), "%s/%s", shared_dir, rel);
    nv_buf_init(out);
    if (nv_read_file(path, MAX_FILE, out) != 0)
        fail_msg("cannot read %s", path);
}

/* A source that hands out data in odd, short pieces. */
struct mem_src {
    const uint8_t *p;
    size_t len, pos;
    unsigned k;
};

static long
mem_read(void *ctx, void *p, size_t n)
{
    static const size_t steps[] = { 1, 4093, 65552, 7, 100000, 65553,
                                    3, 20000, 65537, 16, 131 };
    struct mem_src *s = ctx;
    size_t take = steps[s->k++ % (sizeof(steps) / sizeof(steps[0]))];

    if (take > n)
        take = n;
    if (take > s->len - s->pos)
        take = s->len - s->pos;
    memcpy(p, s->p + s->pos, take);
    s->pos += take;
    return (long)take;
}

static int
buf_sink(void *ctx, const void *p, size_t n)
{
    return nv_buf_add(ctx, p, n);
}

/* Decrypt ct; hash (and optionally keep) all released plaintext.  Checks
 * the sticky error and the consumed count.  Returns 0 or the error. */
static int
decrypt_mem(const uint8_t *ct, size_t len, struct nv_age_identity *const *ids,
            size_t nids, uint8_t hash[32], struct nv_buf *keep)
{
    static const size_t sizes[] = { 1, 333, 65536, 70000, 5, 65535, 131072 };
    struct mem_src src = { ct, len, 0, 0 };
    struct nv_age_dec *d = NULL;
    crypto_hash_sha256_state st;
    uint8_t *buf = malloc(131072);
    unsigned k = 0;
    int r;

    assert_non_null(buf);
    crypto_hash_sha256_init(&st);
    r = nv_age_dec_new(&d, ids, nids, mem_read, &src);
    if (r < 0) {
        assert_null(d);
        goto out;
    }
    for (;;) {
        size_t want = sizes[k++ % (sizeof(sizes) / sizeof(sizes[0]))];
        long got = nv_age_dec_read(d, buf, want);

        if (got < 0) {
            r = (int)got;
            /* errors are sticky */
            assert_int_equal(nv_age_dec_read(d, buf, 10), r);
            assert_int_equal(nv_age_dec_read(d, buf, 65536), r);
            break;
        }
        if (got == 0) {
            assert_int_equal(nv_age_dec_read(d, buf, 10), 0);
            assert_int_equal(nv_age_dec_consumed(d), len);
            break;
        }
        assert_true((size_t)got <= want);
        crypto_hash_sha256_update(&st, buf, (size_t)got);
        if (keep != NULL)
            assert_int_equal(nv_buf_add(keep, buf, (size_t)got), 0);
    }
out:
    crypto_hash_sha256_final(&st, hash);
    nv_age_dec_free(d);
    free(buf);
    return r;
}

/* Encrypt pt to recipients, writing it in odd-sized pieces. */
static void
encrypt_mem(const uint8_t *pt, size_t len,
            const uint8_t (*rcpts)[NV_AGE_KEYLEN], size_t nrcpt,
            struct nv_buf *ct)
{
    static const size_t pieces[] = { 7, 65536, 1, 3000, 65537, 12345, 131072 };
    struct nv_age_enc *e = NULL;
    size_t off = 0;
    unsigned k = 0;

    nv_buf_init(ct);
    assert_int_equal(nv_age_enc_new(&e, rcpts, nrcpt, buf_sink, ct), 0);
    assert_non_null(e);
    while (off < len) {
        size_t n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
        if (n > len - off)
            n = len - off;
        assert_int_equal(nv_age_enc_write(e, pt + off, n), 0);
        off += n;
    }
    assert_int_equal(nv_age_enc_write(e, pt, 0), 0);
    assert_int_equal(nv_age_enc_finish(e), 0);
    assert_int_equal(nv_age_enc_write(e, pt, 0), NV_EINVAL);
    nv_age_enc_free(e);
}

static size_t
expected_ct_len(size_t nrcpt, size_t len)
{
    size_t chunks = len == 0 ? 1 : (len + NV_AGE_CHUNK - 1) / NV_AGE_CHUNK;
    size_t header = 22 + 98 * nrcpt + 48;

    return header + 16 + len + 16 * chunks;
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int
parse_hex32(const char *s, size_t len, uint8_t out[32])
{
    if (len != 64)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- CCTV vectors ------------------------------------------------------ */

struct vector {
    char name[128];
    char test_name[160];
    char path[PATH_MAX];
};

struct vec_info {
    int expect;
    int has_payload;
    uint8_t payload[32];
    char ids[MAX_VEC_IDS][NV_AGE_IDENTITY_LEN + 1];
    size_t nids;
    int compressed;
    int applicable;
    size_t body;
};

static int vectors_ran;

static int
expect_code(const char *v, size_t l)
{
    static const struct {
        const char *s;
        int code;
    } map[] = {
        { "success", 0 },
        { "no match", NV_ENOMATCH },
        { "HMAC failure", NV_EHMAC },
        { "header failure", NV_EHEADER },
        { "payload failure", NV_EPAYLOAD },
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i].s) == l && memcmp(map[i].s, v, l) == 0)
            return map[i].code;
    }
    return 1; /* armor failure or unknown: not applicable */
}

/* Parse the "key: value" lines; applicable stays 0 for vectors nova skips. */
static int
parse_vector(const uint8_t *data, size_t len, struct vec_info *vi)
{
    size_t pos = 0;
    int have_expect = 0;

    memset(vi, 0, sizeof(*vi));
    vi->applicable = 1;
    for (;;) {
        const uint8_t *nl = memchr(data + pos, '\n', len - pos);
        const char *line = (const char *)data + pos, *colon, *v;
        size_t l, kl, vl;

        if (nl == NULL)
            return -1;
        l = (size_t)(nl - (data + pos));
        pos += l + 1;
        if (l == 0)
            break;
        colon = memchr(line, ':', l);
        if (colon == NULL || (size_t)(colon - line) + 2 > l ||
            colon[1] != ' ')
            return -1;
        kl = (size_t)(colon - line);
        v = colon + 2;
        vl = l - kl - 2;
#define KEY(s) (kl == sizeof(s) - 1 && memcmp(line, s, kl) == 0)
        if (KEY("expect")) {
            vi->expect = expect_code(v, vl);
            have_expect = 1;
            if (vi->expect == 1)
                vi->applicable = 0;
        } else if (KEY("payload")) {
            if (parse_hex32(v, vl, vi->payload) != 0)
                return -1;
            vi->has_payload = 1;
        } else if (KEY("identity")) {
            struct nv_age_identity *id = NULL;
            if (vi->nids >= MAX_VEC_IDS || vl != NV_AGE_IDENTITY_LEN) {
                vi->applicable = 0;
                continue;
            }
            memcpy(vi->ids[vi->nids], v, vl);
            vi->ids[vi->nids][vl] = '\0';
            if (nv_age_identity_parse(vi->ids[vi->nids], &id) != 0)
                vi->applicable = 0; /* not an X25519 identity */
            nv_age_identity_free(id);
            vi->nids++;
        } else if (KEY("compressed")) {
            if (vl == 4 && memcmp(v, "zlib", 4) == 0)
                vi->compressed = 1;
            else
                vi->applicable = 0;
        } else if (KEY("file key") || KEY("comment")) {
            /* informational */
        } else {
            /* armored, passphrase or unknown keys */
            vi->applicable = 0;
        }
#undef KEY
    }
    vi->body = pos;
    return have_expect ? 0 : -1;
}

static int
inflate_all(const uint8_t *in, size_t len, struct nv_buf *out)
{
    z_stream zs;
    int zr;

    nv_buf_init(out);
    if (len > UINT_MAX)
        return -1;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit(&zs) != Z_OK)
        return -1;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    do {
        size_t room;
        if (nv_buf_reserve(out, 1u << 20) != 0) {
            inflateEnd(&zs);
            return -1;
        }
        room = out->cap - out->len - 1;
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)room;
        zr = inflate(&zs, Z_NO_FLUSH);
        out->len += room - zs.avail_out;
        out->data[out->len] = '\0';
    } while (zr == Z_OK);
    inflateEnd(&zs);
    return zr == Z_STREAM_END && zs.avail_in == 0 ? 0 : -1;
}

static void
test_cctv_vector(void **state)
{
    const struct vector *v = *state;
    struct nv_buf file, inflated = NV_BUF_INIT;
    struct nv_age_identity *ids[MAX_VEC_IDS] = { NULL };
    struct vec_info vi;
    const uint8_t *age;
    size_t agelen;
    uint8_t hash[32];
    int r;

    vectors_ran++;
    nv_buf_init(&file);
    assert_int_equal(nv_read_file(v->path, MAX_FILE, &file), 0);
    assert_int_equal(parse_vector(file.data, file.len, &vi), 0);
    assert_true(vi.applicable);
    age = file.data + vi.body;
    agelen = file.len - vi.body;
    if (vi.compressed) {
        assert_int_equal(inflate_all(age, agelen, &inflated), 0);
        age = inflated.data;
        agelen = inflated.len;
    }
    for (size_t i = 0; i < vi.nids; i++)
        assert_int_equal(nv_age_identity_parse(vi.ids[i], &ids[i]), 0);

    r = decrypt_mem(age, agelen, ids, vi.nids, hash, NULL);
    if (r != vi.expect)
        fail_msg("%s: got %d (%s), want %d", v->name, r, nv_errmsg(r),
                 vi.expect);
    if (vi.has_payload)
        assert_memory_equal(hash, vi.payload, 32);
    else
        assert_int_not_equal(r, 0);
    print_message("# vector %s: ok\n", v->name);

    for (size_t i = 0; i < vi.nids; i++)
        nv_age_identity_free(ids[i]);
    nv_buf_release(&inflated);
    nv_buf_release(&file);
}

static void
test_cctv_count(void **state)
{
    (void)state;
    assert_int_equal(vectors_ran, CCTV_EXPECTED);
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect the applicable vectors, sorted by name. */
static size_t
scan_vectors(struct vector **out)
{
    char dir[PATH_MAX];
    char **names = NULL;
    size_t nnames = 0, n = 0;
    struct vector *vs = NULL;
    struct dirent *de;
    DIR *dp;

    *out = NULL;
    fmt_path(dir, sizeof(dir), "%s%s", shared_dir, "/testvectors/age-cctv");
    dp = opendir(dir);
    if (dp == NULL)
        return 0;
    while ((de = readdir(dp)) != NULL) {
        char **nn;
        if (de->d_name[0] == '.')
            continue;
        nn = realloc(names, (nnames + 1) * sizeof(*names));
        if (nn == NULL)
            abort();
        names = nn;
        names[nnames] = strdup(de->d_name);
        if (names[nnames] == NULL)
            abort();
        nnames++;
    }
    closedir(dp);
    if (nnames > 0)
        qsort(names, nnames, sizeof(*names), cmp_names);
    vs = calloc(nnames + 1, sizeof(*vs));
    if (vs == NULL)
        abort();
    for (size_t i = 0; i < nnames; i++) {
        struct nv_buf b = NV_BUF_INIT;
        struct vec_info vi;
        struct vector *v = &vs[n];

        if (strncmp(names[i], "armor", 5) == 0 ||
            strncmp(names[i], "scrypt", 6) == 0 ||
            strncmp(names[i], "hybrid", 6) == 0 ||
            strlen(names[i]) >= sizeof(v->name))
            continue;
        fmt_path(v->path, sizeof(v->path), "%s/%s", dir, names[i]);
        if (nv_read_file(v->path, MAX_FILE, &b) == 0 &&
            parse_vector(b.data, b.len, &vi) == 0 && vi.applicable) {
            snprintf(v->name, sizeof(v->name), "%s", names[i]);
            snprintf(v->test_name, sizeof(v->test_name), "cctv/%s",
                     names[i]);
            n++;
        }
        nv_buf_release(&b);
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    *out = vs;
    return n;
}

/* ---- nova known-answer files ------------------------------------------- */

static void
seq_bytes(uint8_t *p, size_t n, uint8_t first)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(first + i);
}

static void
strip_nl(struct nv_buf *b)
{
    while (b->len > 0 && (b->data[b->len - 1] == '\n'))
        b->data[--b->len] = '\0';
}

static void
test_kat_keys(void **state)
{
    struct nv_buf idtxt, rcpttxt;
    struct nv_age_identity *ids[2] = { NULL, NULL }, *mine = NULL;
    uint8_t sk[32], pk[32];
    char enc_id[NV_AGE_IDENTITY_LEN + 1], enc_rc[NV_AGE_RECIPIENT_LEN + 1];
    size_t n = 0;

    (void)state;
    read_shared("testvectors/nova-kat/age/identity.txt", &idtxt);
    read_shared("testvectors/nova-kat/age/recipient.txt", &rcpttxt);
    seq_bytes(sk, sizeof(sk), 0x20);
    assert_int_equal(nv_age_identity_from_secret(sk, &mine), 0);

    assert_int_equal(nv_age_identity_file_parse((const char *)idtxt.data,
                                                idtxt.len, ids, 2, &n),
                     0);
    assert_int_equal(n, 1);
    assert_memory_equal(ids[0]->sk, sk, 32);
    assert_memory_equal(ids[0]->pk, mine->pk, 32);

    strip_nl(&idtxt);
    strip_nl(&rcpttxt);
    nv_age_identity_encode(mine, enc_id);
    nv_age_recipient_encode(mine->pk, enc_rc);
    assert_string_equal(enc_id, (const char *)idtxt.data);
    assert_string_equal(enc_rc, (const char *)rcpttxt.data);
    assert_int_equal(nv_age_recipient_parse((const char *)rcpttxt.data, pk),
                     0);
    assert_memory_equal(pk, mine->pk, 32);

    nv_age_identity_free(ids[0]);
    nv_age_identity_free(mine);
    nv_buf_release(&idtxt);
    nv_buf_release(&rcpttxt);
}

static void
kat_one(const char *name)
{
    static const size_t pieces[] = { 3, 1, 65536, 100, 9 };
    char rel[256];
    struct nv_buf pt, want, ct = NV_BUF_INIT, back = NV_BUF_INIT;
    struct nv_age_identity *id = NULL;
    struct nv_age_enc *e = NULL;
    uint8_t sk[32], esk[1][32], fk[16], nonce[16], rc[1][32], hash[32];
    size_t off = 0;
    unsigned k = 0;

    snprintf(rel, sizeof(rel), "testvectors/nova-kat/age/%s", name);
    read_shared(rel, &pt);
    snprintf(rel, sizeof(rel), "testvectors/nova-kat/age/%s.age", name);
    read_shared(rel, &want);

    seq_bytes(sk, 32, 0x20);
    seq_bytes(esk[0], 32, 0x40);
    seq_bytes(fk, 16, 0xf0);
    seq_bytes(nonce, 16, 0xa0);
    assert_int_equal(nv_age_identity_from_secret(sk, &id), 0);
    memcpy(rc[0], id->pk, 32);

    assert_int_equal(nv_age_enc_new_det(&e, rc, 1, fk, esk, nonce, buf_sink,
                                        &ct),
                     0);
    while (off < pt.len) {
        size_t n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];
        if (n > pt.len - off)
            n = pt.len - off;
        assert_int_equal(nv_age_enc_write(e, pt.data + off, n), 0);
        off += n;
    }
    assert_int_equal(nv_age_enc_finish(e), 0);
    nv_age_enc_free(e);
    assert_int_equal(ct.len, want.len);
    assert_int_equal(ct.len, expected_ct_len(1, pt.len));
    assert_memory_equal(ct.data, want.data, want.len);

    assert_int_equal(decrypt_mem(want.data, want.len, &id, 1, hash, &back), 0);
    assert_int_equal(back.len, pt.len);
    if (pt.len > 0)
        assert_memory_equal(back.data, pt.data, pt.len);

    nv_age_identity_free(id);
    nv_buf_release(&pt);
    nv_buf_release(&want);
    nv_buf_release(&ct);
    nv_buf_release(&back);
}

static void
test_kat_hello(void **state)
{
    (void)state;
    kat_one("hello.txt");
}

static void
test_kat_empty(void **state)
{
    (void)state;
    kat_one("empty.txt");
}

static void
test_kat_full64k(void **state)
{
    (void)state;
    kat_one("full64k.txt");
}

/* ---- round trips ------------------------------------------------------- */

static void
test_roundtrip_sizes(void **state)
{
    static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 131072, 200000 };
    struct nv_age_identity *id = NULL;
    uint8_t rc[1][32], hash[32], want[32];
    uint8_t *pt = malloc(200000);

    (void)state;
    assert_non_null(pt);
    randombytes_buf(pt, 200000);
    assert_int_equal(nv_age_identity_generate(&id), 0);
    memcpy(rc[0], id->pk, 32);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct nv_buf ct, back = NV_BUF_INIT;
        size_t L = sizes[i];

        encrypt_mem(pt, L, rc, 1, &ct);
        assert_int_equal(ct.len, expected_ct_len(1, L));
        assert_int_equal(decrypt_mem(ct.data, ct.len, &id, 1, hash, &back), 0);
        assert_int_equal(back.len, L);
        if (L > 0)
            assert_memory_equal(back.data, pt, L);
        crypto_hash_sha256(want, pt, L);
        assert_memory_equal(hash, want, 32);
        nv_buf_release(&ct);
        nv_buf_release(&back);
    }
    nv_age_identity_free(id);
    free(pt);
}

static void
test_multiple_recipients(void **state)
{
    struct nv_age_identity *ids[3] = { NULL, NULL, NULL }, *other = NULL;
    uint8_t rc[3][32], hash[32], want[32], pt[70000];
    struct nv_buf ct;

    (void)state;
    randombytes_buf(pt, sizeof(pt));
    crypto_hash_sha256(want, pt, sizeof(pt));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nv_age_identity_generate(&ids[i]), 0);
        memcpy(rc[i], ids[i]->pk, 32);
    }
    assert_int_equal(nv_age_identity_generate(&other), 0);
    encrypt_mem(pt, sizeof(pt), rc, 3, &ct);
    assert_int_equal(ct.len, expected_ct_len(3, sizeof(pt)));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(decrypt_mem(ct.data, ct.len, &ids[i], 1, hash, NULL),
                         0);
        assert_memory_equal(hash, want, 32);
    }
    /* several identities: the one that matches is found */
    {
        struct nv_age_identity *two[2] = { other, ids[2] };
        assert_int_equal(decrypt_mem(ct.data, ct.len, two, 2, hash, NULL), 0);
        assert_memory_equal(hash, want, 32);
    }
    assert_int_equal(decrypt_mem(ct.data, ct.len, &other, 1, hash, NULL),
                     NV_ENOMATCH);
    for (int i = 0; i < 3; i++)
        nv_age_identity_free(ids[i]);
    nv_age_identity_free(other);
    nv_buf_release(&ct);
}

static void
test_wrong_identity(void **state)
{
    struct nv_age_identity *id = NULL, *other = NULL;
    uint8_t rc[1][32], hash[32];
    struct nv_buf ct;

    (void)state;
    assert_int_equal(nv_age_identity_generate(&id), 0);
    assert_int_equal(nv_age_identity_generate(&other), 0);
    memcpy(rc[0], id->pk, 32);
    encrypt_mem((const uint8_t *)"secret", 6, rc, 1, &ct);
    assert_int_equal(decrypt_mem(ct.data, ct.len, &other, 1, hash, NULL),
                     NV_ENOMATCH);
    assert_int_equal(decrypt_mem(ct.data, ct.len, NULL, 0, hash, NULL),
                     NV_ENOMATCH);
    nv_age_identity_free(id);
    nv_age_identity_free(other);
    nv_buf_release(&ct);
}

/* Damaged files: plaintext stops at the last good chunk; errors stick. */
static void
test_damage(void **state)
{
    struct nv_age_identity *id = NULL;
    uint8_t rc[1][32], hash[32], want[32], *pt = malloc(131077);
    struct nv_buf ct, back = NV_BUF_INIT;
    size_t hdr = expected_ct_len(1, 0) - 32, macpos;

    (void)state;
    assert_non_null(pt);
    randombytes_buf(pt, 131077);
    assert_int_equal(nv_age_identity_generate(&id), 0);
    memcpy(rc[0], id->pk, 32);
    encrypt_mem(pt, 131077, rc, 1, &ct);

    /* flip a byte in the second chunk */
    ct.data[hdr + 16 + 65552 + 10] ^= 1;
    assert_int_equal(decrypt_mem(ct.data, ct.len, &id, 1, hash, &back),
                     NV_EPAYLOAD);
    assert_int_equal(back.len, 65536);
    crypto_hash_sha256(want, pt, 65536);
    assert_memory_equal(hash, want, 32);
    ct.data[hdr + 16 + 65552 + 10] ^= 1;

    /* truncated before the final chunk */
    nv_buf_reset(&back);
    assert_int_equal(decrypt_mem(ct.data, hdr + 16 + 2 * 65552, &id, 1, hash,
                                 &back),
                     NV_EPAYLOAD);
    assert_int_equal(back.len, 131072);
    /* trailing garbage */
    assert_int_equal(nv_buf_add(&ct, "x", 1), 0);
    assert_int_equal(decrypt_mem(ct.data, ct.len, &id, 1, hash, NULL),
                     NV_EPAYLOAD);
    ct.len--;
    /* header cut short, nonce cut short */
    assert_int_equal(decrypt_mem(ct.data, 50, &id, 1, hash, NULL),
                     NV_EHEADER);
    assert_int_equal(decrypt_mem(ct.data, hdr + 15, &id, 1, hash, NULL),
                     NV_EHEADER);
    /* MAC changed (first base64 char carries 6 whole bits) */
    macpos = hdr - 44;
    assert_memory_equal(ct.data + macpos - 4, "--- ", 4);
    ct.data[macpos] = ct.data[macpos] == 'A' ? 'B' : 'A';
    assert_int_equal(decrypt_mem(ct.data, ct.len, &id, 1, hash, NULL),
                     NV_EHMAC);

    nv_age_identity_free(id);
    nv_buf_release(&ct);
    nv_buf_release(&back);
    free(pt);
}

/* A big unknown stanza below the header limit parses; above it, refused. */
static void
test_header_limit(void **state)
{
    struct nv_age_identity *id = NULL;
    uint8_t rc[1][32], hash[32];
    struct nv_buf ct, big = NV_BUF_INIT;
    const char *line = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                       "AAAAAAAA\n";
    const size_t vlen = 22;

    (void)state;
    assert_int_equal(nv_age_identity_generate(&id), 0);
    memcpy(rc[0], id->pk, 32);
    encrypt_mem((const uint8_t *)"hi", 2, rc, 1, &ct);

    /* version line, a 60000-byte grease stanza, then the real rest */
    assert_int_equal(nv_buf_add(&big, ct.data, vlen), 0);
    assert_int_equal(nv_buf_adds(&big, "-> grease x\n"), 0);
    while (big.len < 60000)
        assert_int_equal(nv_buf_adds(&big, line), 0);
    assert_int_equal(nv_buf_adds(&big, "\n"), 0);
    assert_int_equal(nv_buf_add(&big, ct.data + vlen, ct.len - vlen), 0);
    /* parsed fully: only the MAC (over the old header) is wrong */
    assert_int_equal(decrypt_mem(big.data, big.len, &id, 1, hash, NULL),
                     NV_EHMAC);

    nv_buf_reset(&big);
    assert_int_equal(nv_buf_add(&big, ct.data, vlen), 0);
    assert_int_equal(nv_buf_adds(&big, "-> grease x\n"), 0);
    while (big.len < NV_AGE_MAX_HEADER + 100)
        assert_int_equal(nv_buf_adds(&big, line), 0);
    assert_int_equal(nv_buf_adds(&big, "\n"), 0);
    assert_int_equal(nv_buf_add(&big, ct.data + vlen, ct.len - vlen), 0);
    assert_int_equal(decrypt_mem(big.data, big.len, &id, 1, hash, NULL),
                     NV_EHEADER);

    nv_age_identity_free(id);
    nv_buf_release(&ct);
    nv_buf_release(&big);
}

static void
test_enc_errors(void **state)
{
    uint8_t rc[1][32];
    struct nv_age_enc *e = NULL;
    struct nv_buf ct = NV_BUF_INIT;

    (void)state;
    memset(rc, 0, sizeof(rc));
    assert_int_equal(nv_age_enc_new(&e, rc, 0, buf_sink, &ct), NV_EINVAL);
    assert_null(e);
    /* the all-zero point is low order */
    assert_int_equal(nv_age_enc_new(&e, rc, 1, buf_sink, &ct), NV_EKEY);
    assert_null(e);
    nv_buf_release(&ct);
}

/* ---- Bech32 and key strings -------------------------------------------- */

/* Test-only checksum so strings with bad padding can be built. */
static uint32_t
ref_polymod(const uint8_t *v, size_t n)
{
    static const uint32_t g[5] = { 0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
                                   0x3d4233dd, 0x2a1462b3 };
    uint32_t c = 1;

    for (size_t i = 0; i < n; i++) {
        uint32_t b = c >> 25;
        c = ((c & 0x1ffffff) << 5) ^ v[i];
        for (int j = 0; j < 5; j++)
            c ^= ((b >> j) & 1) ? g[j] : 0;
    }
    return c;
}

/* "a1" + data5 + checksum, lower case */
static void
make_a_string(const uint8_t *d5, size_t n, char *out)
{
    static const char cs[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    uint8_t v[64];
    size_t k = 0, o = 0;
    uint32_t c;

    v[k++] = 'a' >> 5;
    v[k++] = 0;
    v[k++] = 'a' & 31;
    for (size_t i = 0; i < n; i++)
        v[k++] = d5[i];
    for (int i = 0; i < 6; i++)
        v[k++] = 0;
    c = ref_polymod(v, k) ^ 1;
    out[o++] = 'a';
    out[o++] = '1';
    for (size_t i = 0; i < n; i++)
        out[o++] = cs[d5[i]];
    for (int i = 0; i < 6; i++)
        out[o++] = cs[(c >> (5 * (5 - i))) & 31];
    out[o] = '\0';
}

static void
test_bech32(void **state)
{
    uint8_t data[64], back[64];
    char s[256];
    size_t len;

    (void)state;
    /* BIP 173 valid strings with no data */
    assert_int_equal(nv_bech32_decode("A12UEL5L", "a", back, sizeof(back),
                                      &len),
                     0);
    assert_int_equal(len, 0);
    assert_int_equal(nv_bech32_decode("a12uel5l", "A", back, sizeof(back),
                                      &len),
                     0);
    assert_int_equal(nv_bech32_encode("a", data, 0, 1, s, sizeof(s)), 0);
    assert_string_equal(s, "A12UEL5L");

    for (size_t n = 0; n <= 40; n++) {
        randombytes_buf(data, n);
        for (int upper = 0; upper < 2; upper++) {
            assert_int_equal(nv_bech32_encode("test", data, n, upper, s,
                                              sizeof(s)),
                             0);
            assert_int_equal(nv_bech32_decode(s, "test", back, sizeof(back),
                                              &len),
                             0);
            assert_int_equal(len, n);
            if (n > 0)
                assert_memory_equal(back, data, n);
        }
        /* too small an output buffer */
        assert_int_equal(nv_bech32_encode("test", data, n, 0, s,
                                          strlen(s)),
                         NV_ETOOBIG);
        /* too small a data buffer */
        if (n > 0)
            assert_int_equal(nv_bech32_decode(s, "test", back, n - 1, &len),
                             NV_EFORMAT);
    }

    /* bad checksum: change one data character */
    assert_int_equal(nv_bech32_encode("test", data, 10, 0, s, sizeof(s)), 0);
    s[7] = s[7] == 'q' ? 'p' : 'q';
    assert_int_equal(nv_bech32_decode(s, "test", back, sizeof(back), &len),
                     NV_EFORMAT);
    /* mixed case */
    assert_int_equal(nv_bech32_decode("A12uEL5L", "a", back, sizeof(back),
                                      &len),
                     NV_EFORMAT);
    /* wrong prefix, no separator, bad character, short checksum */
    assert_int_equal(nv_bech32_decode("a12uel5l", "b", back, sizeof(back),
                                      &len),
                     NV_EFORMAT);
    assert_int_equal(nv_bech32_decode("a2uel5l", "a", back, sizeof(back),
                                      &len),
                     NV_EFORMAT);
    assert_int_equal(nv_bech32_decode("a12ueb5l", "a", back, sizeof(back),
                                      &len),
                     NV_EFORMAT);
    assert_int_equal(nv_bech32_decode("a1uel5l", "a", back, sizeof(back),
                                      &len),
                     NV_EFORMAT);

    /* padding: 2 groups = 8 bits + 2 zero bits is fine, non-zero is not,
     * 6 groups leave 6 padding bits: too many */
    {
        uint8_t ok[2] = { 31, 28 }, nz[2] = { 31, 29 }, six[6] = { 0 };
        make_a_string(ok, 2, s);
        assert_int_equal(nv_bech32_decode(s, "a", back, sizeof(back), &len),
                         0);
        assert_int_equal(len, 1);
        assert_int_equal(back[0], 0xff);
        make_a_string(nz, 2, s);
        assert_int_equal(nv_bech32_decode(s, "a", back, sizeof(back), &len),
                         NV_EFORMAT);
        make_a_string(six, 6, s);
        assert_int_equal(nv_bech32_decode(s, "a", back, sizeof(back), &len),
                         NV_EFORMAT);
    }
}

static void
test_key_strings(void **state)
{
    struct nv_age_identity *id = NULL, *id2 = NULL;
    char is[NV_AGE_IDENTITY_LEN + 1], rs[NV_AGE_RECIPIENT_LEN + 1];
    uint8_t pk[32];

    (void)state;
    assert_int_equal(nv_age_identity_generate(&id), 0);
    nv_age_identity_encode(id, is);
    nv_age_recipient_encode(id->pk, rs);
    assert_int_equal(strlen(is), NV_AGE_IDENTITY_LEN);
    assert_int_equal(strlen(rs), NV_AGE_RECIPIENT_LEN);
    assert_memory_equal(is, "AGE-SECRET-KEY-1", 16);
    assert_memory_equal(rs, "age1", 4);
    assert_int_equal(nv_age_identity_parse(is, &id2), 0);
    assert_memory_equal(id2->sk, id->sk, 32);
    assert_memory_equal(id2->pk, id->pk, 32);
    nv_age_identity_free(id2);
    id2 = NULL;
    assert_int_equal(nv_age_recipient_parse(rs, pk), 0);
    assert_memory_equal(pk, id->pk, 32);

    /* the wrong kind of key, mixed case, damage */
    assert_int_equal(nv_age_recipient_parse(is, pk), NV_EKEY);
    assert_int_equal(nv_age_identity_parse(rs, &id2), NV_EKEY);
    assert_null(id2);
    rs[10] = rs[10] == 'q' ? 'p' : 'q';
    assert_int_equal(nv_age_recipient_parse(rs, pk), NV_EKEY);
    for (size_t i = 16; i < NV_AGE_IDENTITY_LEN; i++) {
        if (is[i] >= 'A' && is[i] <= 'Z') {
            is[i] = (char)(is[i] - 'A' + 'a'); /* one lower-case letter */
            break;
        }
    }
    assert_int_equal(nv_age_identity_parse(is, &id2), NV_EKEY);
    assert_int_equal(nv_age_recipient_parse("age1", pk), NV_EKEY);
    nv_age_identity_free(id);
}

static void
test_identity_file(void **state)
{
    struct nv_age_identity *a = NULL, *b = NULL, *ids[4] = { NULL };
    char as[NV_AGE_IDENTITY_LEN + 1], bs[NV_AGE_IDENTITY_LEN + 1];
    char rs[NV_AGE_RECIPIENT_LEN + 1];
    struct nv_buf t = NV_BUF_INIT, f = NV_BUF_INIT;
    size_t n = 99;

    (void)state;
    assert_int_equal(nv_age_identity_generate(&a), 0);
    assert_int_equal(nv_age_identity_generate(&b), 0);
    nv_age_identity_encode(a, as);
    nv_age_identity_encode(b, bs);
    nv_age_recipient_encode(a->pk, rs);

    /* format, then parse back */
    assert_int_equal(nv_age_identity_file_format(a, &f), 0);
    assert_true(f.secret);
    assert_memory_equal(f.data, "# created: ", 11);
    assert_non_null(strstr((const char *)f.data, "\n# public key: "));
    assert_non_null(strstr((const char *)f.data, rs));
    assert_int_equal(nv_age_identity_file_parse((const char *)f.data, f.len,
                                                ids, 4, &n),
                     0);
    assert_int_equal(n, 1);
    assert_memory_equal(ids[0]->sk, a->sk, 32);
    nv_age_identity_free(ids[0]);
    ids[0] = NULL;

    /* comments, blank lines, CRLF, no final newline, two keys */
    assert_int_equal(nv_buf_addf(&t, "# a comment\n\n%s\r\n#x\n\n%s", as, bs),
                     0);
    assert_int_equal(nv_age_identity_file_parse((const char *)t.data, t.len,
                                                ids, 4, &n),
                     0);
    assert_int_equal(n, 2);
    assert_memory_equal(ids[0]->sk, a->sk, 32);
    assert_memory_equal(ids[1]->sk, b->sk, 32);
    nv_age_identity_free(ids[0]);
    nv_age_identity_free(ids[1]);
    ids[0] = ids[1] = NULL;

    /* more than max_ids */
    assert_int_equal(nv_age_identity_file_parse((const char *)t.data, t.len,
                                                ids, 1, &n),
                     NV_ETOOBIG);
    assert_int_equal(n, 0);
    assert_null(ids[0]);

    /* only comments */
    assert_int_equal(nv_age_identity_file_parse("# x\n\n", 5, ids, 4, &n),
                     NV_EKEY);
    assert_int_equal(n, 0);

    /* a bad line, an indented key, a recipient in place of a key */
    nv_buf_reset(&t);
    assert_int_equal(nv_buf_addf(&t, "%s\nnot a key\n", as), 0);
    assert_int_equal(nv_age_identity_file_parse((const char *)t.data, t.len,
                                                ids, 4, &n),
                     NV_EKEY);
    assert_null(ids[0]);
    nv_buf_reset(&t);
    assert_int_equal(nv_buf_addf(&t, " %s\n", as), 0);
    assert_int_equal(nv_age_identity_file_parse((const char *)t.data, t.len,
                                                ids, 4, &n),
                     NV_EKEY);
    nv_buf_reset(&t);
    assert_int_equal(nv_buf_addf(&t, "%s\n", rs), 0);
    assert_int_equal(nv_age_identity_file_parse((const char *)t.data, t.len,
                                                ids, 4, &n),
                     NV_EKEY);

    nv_age_identity_free(a);
    nv_age_identity_free(b);
    nv_buf_release(&t);
    nv_buf_release(&f);
}

/* ---- main -------------------------------------------------------------- */

static const struct CMUnitTest fixed_tests[] = {
    cmocka_unit_test(test_bech32),
    cmocka_unit_test(test_key_strings),
    cmocka_unit_test(test_identity_file),
    cmocka_unit_test(test_kat_keys),
    cmocka_unit_test(test_kat_hello),
    cmocka_unit_test(test_kat_empty),
    cmocka_unit_test(test_kat_full64k),
    cmocka_unit_test(test_roundtrip_sizes),
    cmocka_unit_test(test_multiple_recipients),
    cmocka_unit_test(test_wrong_identity),
    cmocka_unit_test(test_damage),
    cmocka_unit_test(test_header_limit),
    cmocka_unit_test(test_enc_errors),
};

int
main(void)
{
    size_t nfixed = sizeof(fixed_tests) / sizeof(fixed_tests[0]);
    struct vector *vs = NULL;
    struct CMUnitTest *tests;
    size_t nvec, n = 0;
    int rc;

    if (sodium_init() < 0)
        return 1;
    find_shared();
    nvec = scan_vectors(&vs);
    tests = calloc(nfixed + nvec + 1, sizeof(*tests));
    if (tests == NULL)
        return 1;
    for (size_t i = 0; i < nfixed; i++)
        tests[n++] = fixed_tests[i];
    for (size_t i = 0; i < nvec; i++) {
        tests[n].name = vs[i].test_name;
        tests[n].test_func = test_cctv_vector;
        tests[n].initial_state = &vs[i];
        n++;
    }
    tests[n].name = "cctv_all_67_ran";
    tests[n].test_func = test_cctv_count;
    n++;
    rc = _cmocka_run_group_tests("age", tests, n, NULL, NULL);
    free(tests);
    free(vs);
    return rc;
}
