/*
 * age.c - age v1 (age-encryption.org/v1), X25519 recipients, binary files.
 * See age.h and ../shared/spec/crypto-formats.md section 1.
 *
 * Decryption reads the header into the ciphertext buffer (the header is
 * bounded by NV_AGE_MAX_HEADER, which fits in it), parses it strictly line
 * by line, unwraps the file key while parsing, then checks the MAC over the
 * raw header bytes.  The payload is then read one sealed chunk plus one byte
 * of look-ahead at a time: a shorter remainder is the final chunk, a full
 * chunk is tried as a middle chunk then as the final one (like the reference
 * implementation, so the released plaintext matches the testkit), and the
 * look-ahead byte shows truncation or data after the final chunk.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "../formats/buf.h"
#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "age.h"
#include "bech32.h"

#define VERSION_LINE "age-encryption.org/v1"
#define VERSION_LEN (sizeof(VERSION_LINE) - 1)
#define X25519_INFO "age-encryption.org/v1/X25519"
#define RECIPIENT_HRP "age"
#define IDENTITY_HRP "AGE-SECRET-KEY-"
#define FILE_KEY_LEN 16
#define NONCE_LEN 16
#define TAG_LEN crypto_aead_chacha20poly1305_ietf_ABYTES
#define SEALED_CHUNK (NV_AGE_CHUNK + TAG_LEN)
#define MAC_LEN 32
#define B64_32_LEN 43      /* unpadded base64 of 32 bytes */
#define BODY_LINE_MAX 64   /* base64 chars per stanza body line */
#define BODY_LINE_BYTES 48 /* bytes in a full body line */
/* "-> X25519 " b64 LF b64 LF */
#define STANZA_LEN (10 + B64_32_LEN + 1 + B64_32_LEN + 1)
/* version line, "--- " mac LF */
#define HEADER_FIXED (VERSION_LEN + 1 + 4 + B64_32_LEN + 1)
#define MAX_RECIPIENTS ((NV_AGE_MAX_HEADER - HEADER_FIXED) / STANZA_LEN)

_Static_assert(NV_AGE_MAX_HEADER + NONCE_LEN <= SEALED_CHUNK + 1,
               "the header and nonce must fit in the chunk buffer");

static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

/* HKDF-SHA-256 (RFC 5869) with one 32-byte output block. */
static void
hkdf_sha256(uint8_t out[32], const uint8_t *salt, size_t saltlen,
            const uint8_t *ikm, size_t ikmlen, const char *info)
{
    static const uint8_t dummy[1] = { 0 };
    static const uint8_t one[1] = { 1 };
    crypto_auth_hmacsha256_state st;
    uint8_t prk[crypto_auth_hmacsha256_BYTES];

    crypto_auth_hmacsha256_init(&st, saltlen > 0 ? salt : dummy, saltlen);
    crypto_auth_hmacsha256_update(&st, ikm, ikmlen);
    crypto_auth_hmacsha256_final(&st, prk);
    crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)info, strlen(info));
    crypto_auth_hmacsha256_update(&st, one, sizeof(one));
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(&st, sizeof(st));
}

/* STREAM nonce: 88-bit big-endian counter, then the last-chunk flag. */
static void
stream_nonce(uint8_t n[crypto_aead_chacha20poly1305_ietf_NPUBBYTES],
             uint64_t counter, int last)
{
    memset(n, 0, 3);
    for (int i = 0; i < 8; i++)
        n[3 + i] = (uint8_t)(counter >> (8 * (7 - i)));
    n[11] = last ? 1 : 0;
}

/* libsodium 1.0.18's decoder maps bytes 0x80-0xff to '/': check the
 * alphabet ourselves before decoding. */
static int
b64_alphabet_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return 0;
    }
    return 1;
}

/* Strict unpadded base64 of exactly outlen bytes. */
static int
b64_decode_exact(const uint8_t *s, size_t slen, uint8_t *out, size_t outlen)
{
    size_t got = 0;

    if (!b64_alphabet_ok(s, slen) ||
        sodium_base642bin(out, outlen, (const char *)s, slen, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        got != outlen)
        return -1;
    return 0;
}

/* ---- identities and key strings ---------------------------------------- */

int
nv_age_identity_from_secret(const uint8_t sk[NV_AGE_KEYLEN],
                            struct nv_age_identity **out)
{
    struct nv_age_identity *id;

    *out = NULL;
    id = sodium_malloc(sizeof(*id));
    if (id == NULL)
        return nv_fail(NV_ENOMEM, "out of memory for an age identity");
    memcpy(id->sk, sk, NV_AGE_KEYLEN);
    if (crypto_scalarmult_base(id->pk, id->sk) != 0) {
        nv_age_identity_free(id);
        return nv_fail(NV_EKEY, "age identity is not a usable X25519 key");
    }
    *out = id;
    return 0;
}

int
nv_age_identity_generate(struct nv_age_identity **out)
{
    struct nv_age_identity *id;

    *out = NULL;
    id = sodium_malloc(sizeof(*id));
    if (id == NULL)
        return nv_fail(NV_ENOMEM, "out of memory for an age identity");
    randombytes_buf(id->sk, sizeof(id->sk));
    if (crypto_scalarmult_base(id->pk, id->sk) != 0) {
        nv_age_identity_free(id);
        return nv_fail(NV_EKEY, "generated age identity is unusable");
    }
    *out = id;
    return 0;
}

void
nv_age_identity_free(struct nv_age_identity *id)
{
    if (id == NULL)
        return;
    sodium_memzero(id, sizeof(*id));
    sodium_free(id);
}

void
nv_age_recipient_encode(const uint8_t pk[NV_AGE_KEYLEN],
                        char out[NV_AGE_RECIPIENT_LEN + 1])
{
    /* cannot fail: the output size is exact for 32 bytes */
    (void)nv_bech32_encode(RECIPIENT_HRP, pk, NV_AGE_KEYLEN, 0, out,
                           NV_AGE_RECIPIENT_LEN + 1);
}

void
nv_age_identity_encode(const struct nv_age_identity *id,
                       char out[NV_AGE_IDENTITY_LEN + 1])
{
    (void)nv_bech32_encode(IDENTITY_HRP, id->sk, NV_AGE_KEYLEN, 1, out,
                           NV_AGE_IDENTITY_LEN + 1);
}

int
nv_age_recipient_parse(const char *s, uint8_t pk[NV_AGE_KEYLEN])
{
    uint8_t tmp[NV_AGE_KEYLEN];
    size_t len = 0;

    if (s == NULL || strlen(s) != NV_AGE_RECIPIENT_LEN ||
        nv_bech32_decode(s, RECIPIENT_HRP, tmp, sizeof(tmp), &len) != 0 ||
        len != NV_AGE_KEYLEN)
        return nv_fail(NV_EKEY, "not a valid age recipient (age1...)");
    memcpy(pk, tmp, NV_AGE_KEYLEN);
    return 0;
}

int
nv_age_identity_parse(const char *s, struct nv_age_identity **out)
{
    uint8_t sk[NV_AGE_KEYLEN];
    size_t len = 0;
    int r;

    *out = NULL;
    if (s == NULL || strlen(s) != NV_AGE_IDENTITY_LEN ||
        nv_bech32_decode(s, IDENTITY_HRP, sk, sizeof(sk), &len) != 0 ||
        len != NV_AGE_KEYLEN) {
        r = nv_fail(NV_EKEY, "not a valid age identity (AGE-SECRET-KEY-1...)");
        goto out;
    }
    r = nv_age_identity_from_secret(sk, out);
out:
    sodium_memzero(sk, sizeof(sk));
    return r;
}

int
nv_age_identity_file_format(const struct nv_age_identity *id,
                            struct nv_buf *out)
{
    char rcpt[NV_AGE_RECIPIENT_LEN + 1];
    char sk[NV_AGE_IDENTITY_LEN + 1];
    char when[32];
    struct tm tm;
    time_t now = time(NULL);
    int r;

    out->secret = 1;
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return nv_fail(NV_ESYS, "cannot format the current time");
    nv_age_recipient_encode(id->pk, rcpt);
    nv_age_identity_encode(id, sk);
    r = nv_buf_addf(out, "# created: %s\n# public key: %s\n%s\n", when, rcpt,
                    sk);
    sodium_memzero(sk, sizeof(sk));
    return r;
}

int
nv_age_identity_file_parse(const char *text, size_t len,
                           struct nv_age_identity **ids, size_t max_ids,
                           size_t *n)
{
    char line[NV_AGE_IDENTITY_LEN + 1];
    size_t pos = 0, count = 0, lineno = 0;
    int r = 0;

    *n = 0;
    if (text == NULL && len > 0)
        return nv_fail(NV_EINVAL, "identity file: no text");
    while (pos < len) {
        const char *p = text + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t l = nl != NULL ? (size_t)(nl - p) : len - pos;

        pos += l + (nl != NULL ? 1 : 0);
        lineno++;
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (l == 0 || p[0] == '#')
            continue;
        if (l != NV_AGE_IDENTITY_LEN || memchr(p, '\0', l) != NULL) {
            r = nv_fail(NV_EKEY, "identity file: line %zu is not an age "
                                 "identity", lineno);
            goto out;
        }
        if (count >= max_ids) {
            r = nv_fail(NV_ETOOBIG, "identity file: more than %zu identities",
                        max_ids);
            goto out;
        }
        memcpy(line, p, l);
        line[l] = '\0';
        r = nv_age_identity_parse(line, &ids[count]);
        if (r < 0) {
            r = nv_fail(NV_EKEY, "identity file: line %zu is not a valid age "
                                 "identity", lineno);
            goto out;
        }
        count++;
    }
    if (count == 0)
        r = nv_fail(NV_EKEY, "identity file: no age identity found");
out:
    sodium_memzero(line, sizeof(line));
    if (r < 0) {
        for (size_t i = 0; i < count; i++) {
            nv_age_identity_free(ids[i]);
            ids[i] = NULL;
        }
        count = 0;
    }
    *n = count;
    return r;
}

/* ---- encryption -------------------------------------------------------- */

struct nv_age_enc {
    nv_write_fn sink;
    void *sink_ctx;
    uint8_t *key; /* payload key, sodium_malloc */
    uint64_t counter;
    size_t fill;
    int err;
    int finished;
    uint8_t buf[NV_AGE_CHUNK];
    uint8_t out[SEALED_CHUNK];
};

/* Seal the buffered chunk and hand it to the sink. */
static int
enc_seal(struct nv_age_enc *e, int last)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    unsigned long long clen = 0;
    int r;

    if (e->counter == UINT64_MAX)
        return nv_fail(NV_ETOOBIG, "age: too many chunks");
    stream_nonce(nonce, e->counter, last);
    crypto_aead_chacha20poly1305_ietf_encrypt(e->out, &clen, e->buf, e->fill,
                                              NULL, 0, NULL, nonce, e->key);
    r = e->sink(e->sink_ctx, e->out, (size_t)clen);
    if (r < 0)
        return r;
    e->counter++;
    e->fill = 0;
    return 0;
}

static int
enc_setup(struct nv_age_enc **out, const uint8_t (*recipients)[NV_AGE_KEYLEN],
          size_t nrcpt, const uint8_t file_key[FILE_KEY_LEN],
          const uint8_t (*esk)[NV_AGE_KEYLEN], const uint8_t nonce[NONCE_LEN],
          nv_write_fn sink, void *sink_ctx)
{
    struct nv_age_enc *e = NULL;
    struct nv_buf h = NV_BUF_INIT;
    uint8_t epk[NV_AGE_KEYLEN], shared[NV_AGE_KEYLEN], wrap[32];
    uint8_t salt[2 * NV_AGE_KEYLEN], body[FILE_KEY_LEN + TAG_LEN];
    uint8_t hkey[32], mac[MAC_LEN];
    char b64[B64_32_LEN + 1];
    int r;

    e = malloc(sizeof(*e));
    if (e == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory for the age encryptor");
        goto out;
    }
    memset(e, 0, sizeof(*e));
    e->sink = sink;
    e->sink_ctx = sink_ctx;
    e->key = sodium_malloc(32);
    if (e->key == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory for the age payload key");
        goto out;
    }

    if ((r = nv_buf_adds(&h, VERSION_LINE "\n")) < 0)
        goto out;
    for (size_t i = 0; i < nrcpt; i++) {
        crypto_scalarmult_base(epk, esk[i]);
        if (crypto_scalarmult(shared, esk[i], recipients[i]) != 0) {
            r = nv_fail(NV_EKEY, "age recipient %zu is not a usable X25519 "
                                 "key", i + 1);
            goto out;
        }
        memcpy(salt, epk, NV_AGE_KEYLEN);
        memcpy(salt + NV_AGE_KEYLEN, recipients[i], NV_AGE_KEYLEN);
        hkdf_sha256(wrap, salt, sizeof(salt), shared, sizeof(shared),
                    X25519_INFO);
        crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, file_key,
                                                  FILE_KEY_LEN, NULL, 0, NULL,
                                                  zero_nonce, wrap);
        sodium_bin2base64(b64, sizeof(b64), epk, sizeof(epk),
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
        if ((r = nv_buf_addf(&h, "-> X25519 %s\n", b64)) < 0)
            goto out;
        sodium_bin2base64(b64, sizeof(b64), body, sizeof(body),
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
        if ((r = nv_buf_addf(&h, "%s\n", b64)) < 0)
            goto out;
    }
    if ((r = nv_buf_adds(&h, "---")) < 0)
        goto out;
    hkdf_sha256(hkey, NULL, 0, file_key, FILE_KEY_LEN, "header");
    crypto_auth_hmacsha256(mac, h.data, h.len, hkey);
    sodium_bin2base64(b64, sizeof(b64), mac, sizeof(mac),
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    if ((r = nv_buf_addf(&h, " %s\n", b64)) < 0 ||
        (r = nv_buf_add(&h, nonce, NONCE_LEN)) < 0)
        goto out;
    hkdf_sha256(e->key, nonce, NONCE_LEN, file_key, FILE_KEY_LEN, "payload");
    r = sink(sink_ctx, h.data, h.len);
out:
    sodium_memzero(shared, sizeof(shared));
    sodium_memzero(wrap, sizeof(wrap));
    sodium_memzero(hkey, sizeof(hkey));
    sodium_memzero(epk, sizeof(epk));
    nv_buf_release(&h);
    if (r < 0) {
        nv_age_enc_free(e);
        e = NULL;
    }
    *out = e;
    return r;
}

static int
enc_check_args(struct nv_age_enc **out, const void *recipients, size_t nrcpt,
               nv_write_fn sink)
{
    if (out == NULL || recipients == NULL || sink == NULL || nrcpt == 0)
        return nv_fail(NV_EINVAL, "age: no recipients or no output");
    if (nrcpt > MAX_RECIPIENTS)
        return nv_fail(NV_ETOOBIG, "age: more than %zu recipients",
                       (size_t)MAX_RECIPIENTS);
    return 0;
}

int
nv_age_enc_new_det(struct nv_age_enc **out,
                   const uint8_t (*recipients)[NV_AGE_KEYLEN], size_t nrcpt,
                   const uint8_t file_key[16],
                   const uint8_t (*esk)[NV_AGE_KEYLEN],
                   const uint8_t nonce[16], nv_write_fn sink, void *sink_ctx)
{
    int r;

    if (out != NULL)
        *out = NULL;
    if ((r = enc_check_args(out, recipients, nrcpt, sink)) < 0)
        return r;
    if (file_key == NULL || esk == NULL || nonce == NULL)
        return nv_fail(NV_EINVAL, "age: missing deterministic inputs");
    return enc_setup(out, recipients, nrcpt, file_key, esk, nonce, sink,
                     sink_ctx);
}

int
nv_age_enc_new(struct nv_age_enc **out,
               const uint8_t (*recipients)[NV_AGE_KEYLEN], size_t nrcpt,
               nv_write_fn sink, void *sink_ctx)
{
    uint8_t *rnd = NULL, nonce[NONCE_LEN];
    size_t rndlen;
    int r;

    if (out != NULL)
        *out = NULL;
    if ((r = enc_check_args(out, recipients, nrcpt, sink)) < 0)
        return r;
    rndlen = FILE_KEY_LEN + nrcpt * NV_AGE_KEYLEN;
    rnd = sodium_malloc(rndlen);
    if (rnd == NULL)
        return nv_fail(NV_ENOMEM, "out of memory for age key material");
    randombytes_buf(rnd, rndlen);
    randombytes_buf(nonce, sizeof(nonce));
    r = enc_setup(out, recipients, nrcpt, rnd,
                  (const uint8_t(*)[NV_AGE_KEYLEN])(rnd + FILE_KEY_LEN), nonce,
                  sink, sink_ctx);
    sodium_memzero(rnd, rndlen);
    sodium_free(rnd);
    return r;
}

int
nv_age_enc_write(struct nv_age_enc *e, const void *p, size_t n)
{
    const uint8_t *s = p;
    int r;

    if (e == NULL || (p == NULL && n > 0))
        return nv_fail(NV_EINVAL, "age: bad write arguments");
    if (e->err < 0)
        return e->err;
    if (e->finished)
        return nv_fail(NV_EINVAL, "age: write after finish");
    while (n > 0) {
        size_t take;

        /* a full chunk is sealed only once more data shows it is not last */
        if (e->fill == NV_AGE_CHUNK) {
            r = enc_seal(e, 0);
            if (r < 0) {
                e->err = r;
                return r;
            }
        }
        take = NV_AGE_CHUNK - e->fill;
        if (take > n)
            take = n;
        memcpy(e->buf + e->fill, s, take);
        e->fill += take;
        s += take;
        n -= take;
    }
    return 0;
}

int
nv_age_enc_finish(struct nv_age_enc *e)
{
    int r;

    if (e == NULL)
        return nv_fail(NV_EINVAL, "age: no encryptor");
    if (e->err < 0)
        return e->err;
    if (e->finished)
        return nv_fail(NV_EINVAL, "age: already finished");
    r = enc_seal(e, 1);
    e->finished = 1;
    sodium_memzero(e->key, 32);
    sodium_memzero(e->buf, sizeof(e->buf));
    if (r < 0)
        e->err = r;
    return r;
}

void
nv_age_enc_free(struct nv_age_enc *e)
{
    if (e == NULL)
        return;
    if (e->key != NULL) {
        sodium_memzero(e->key, 32);
        sodium_free(e->key);
    }
    sodium_memzero(e, sizeof(*e));
    free(e);
}

/* ---- decryption -------------------------------------------------------- */

struct nv_age_dec {
    nv_read_fn src;
    void *src_ctx;
    uint8_t *key; /* payload key, sodium_malloc */
    uint64_t counter;
    uint64_t consumed; /* bytes taken from the source */
    int err;
    int done;     /* the final chunk was opened */
    int trailing; /* and bytes follow it */
    int eof;  /* the source reported its end */
    size_t inlen;
    size_t ptpos, ptlen;
    uint8_t in[SEALED_CHUNK + 1]; /* header, then chunk + 1 look-ahead byte */
    uint8_t pt[NV_AGE_CHUNK];
};

/* Read from the source until d->in holds want bytes or the source ends. */
static int
dec_fill(struct nv_age_dec *d, size_t want)
{
    if (want > sizeof(d->in))
        want = sizeof(d->in);
    while (d->inlen < want && !d->eof) {
        size_t room = sizeof(d->in) - d->inlen;
        long r = d->src(d->src_ctx, d->in + d->inlen, room);

        if (r < 0)
            return r >= NV_ERRMIN ? (int)r : NV_ESYS;
        if ((size_t)r > room)
            return nv_fail(NV_EINVAL, "age: reader returned too many bytes");
        if (r == 0)
            d->eof = 1;
        d->inlen += (size_t)r;
        d->consumed += (uint64_t)r;
    }
    return 0;
}

/* Find the LF ending the header line that starts at pos. */
static int
hdr_line(struct nv_age_dec *d, size_t pos, size_t *eol)
{
    size_t scanned = pos;
    int r;

    for (;;) {
        size_t lim = d->inlen < NV_AGE_MAX_HEADER ? d->inlen
                                                   : NV_AGE_MAX_HEADER;
        if (scanned < lim) {
            const uint8_t *nl = memchr(d->in + scanned, '\n', lim - scanned);
            if (nl != NULL) {
                *eol = (size_t)(nl - d->in);
                return 0;
            }
            scanned = lim;
        }
        if (lim >= NV_AGE_MAX_HEADER)
            return nv_fail(NV_EHEADER, "age: header longer than %d bytes",
                           NV_AGE_MAX_HEADER);
        if (d->eof)
            return nv_fail(NV_EHEADER, "age: file ends inside the header");
        if ((r = dec_fill(d, d->inlen + 1)) < 0)
            return r;
    }
}

struct stanza_ctx {
    struct nv_age_identity *const *ids;
    size_t nids;
    int have_key;
    uint8_t file_key[FILE_KEY_LEN];
};

/* Try to open an X25519 stanza with each identity. */
static int
x25519_unwrap(struct stanza_ctx *sc, const uint8_t epk[NV_AGE_KEYLEN],
              const uint8_t body[FILE_KEY_LEN + TAG_LEN])
{
    uint8_t shared[NV_AGE_KEYLEN], wrap[32], salt[2 * NV_AGE_KEYLEN];
    int r = 0;

    for (size_t i = 0; i < sc->nids && !sc->have_key; i++) {
        if (crypto_scalarmult(shared, sc->ids[i]->sk, epk) != 0) {
            r = nv_fail(NV_EHEADER, "age: X25519 share is a low-order point");
            goto out;
        }
        memcpy(salt, epk, NV_AGE_KEYLEN);
        memcpy(salt + NV_AGE_KEYLEN, sc->ids[i]->pk, NV_AGE_KEYLEN);
        hkdf_sha256(wrap, salt, sizeof(salt), shared, sizeof(shared),
                    X25519_INFO);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(
                sc->file_key, NULL, NULL, body, FILE_KEY_LEN + TAG_LEN, NULL, 0,
                zero_nonce, wrap) == 0)
            sc->have_key = 1;
    }
out:
    sodium_memzero(shared, sizeof(shared));
    sodium_memzero(wrap, sizeof(wrap));
    return r;
}

/* Parse the stanza whose "-> " line spans [pos, eol); *next gets the offset
 * after its body. */
static int
parse_stanza(struct nv_age_dec *d, struct stanza_ctx *sc, size_t pos,
             size_t eol, size_t *next)
{
    size_t a = pos + 3, nargs = 0, type = 0, typelen = 0, arg1 = 0,
           arg1len = 0, bodylen = 0, p, e;
    uint8_t body[FILE_KEY_LEN + TAG_LEN], line[BODY_LINE_BYTES];
    uint8_t epk[NV_AGE_KEYLEN];
    int x25519, r;

    if (a >= eol)
        return nv_fail(NV_EHEADER, "age: stanza without arguments");
    for (;;) {
        size_t s = a;
        while (a < eol && d->in[a] != ' ') {
            if (d->in[a] < 0x21 || d->in[a] > 0x7e)
                return nv_fail(NV_EHEADER, "age: invalid character in a "
                                           "stanza argument");
            a++;
        }
        if (a == s)
            return nv_fail(NV_EHEADER, "age: empty stanza argument");
        if (nargs == 0) {
            type = s;
            typelen = a - s;
        } else if (nargs == 1) {
            arg1 = s;
            arg1len = a - s;
        }
        nargs++;
        if (a == eol)
            break;
        a++; /* the single space */
    }
    x25519 = typelen == 6 && memcmp(d->in + type, "X25519", 6) == 0;

    p = eol + 1;
    for (;;) {
        size_t l, got = 0;

        if ((r = hdr_line(d, p, &e)) < 0)
            return r;
        l = e - p;
        if (l > BODY_LINE_MAX)
            return nv_fail(NV_EHEADER, "age: stanza body line too long");
        if (l > 0 && (!b64_alphabet_ok(d->in + p, l) ||
            sodium_base642bin(line, sizeof(line), (const char *)d->in + p, l,
                              NULL, &got, NULL,
                              sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0))
            return nv_fail(NV_EHEADER, "age: invalid base64 in a stanza body");
        if (x25519 && bodylen <= sizeof(body) && got <= sizeof(body) - bodylen)
            memcpy(body + bodylen, line, got);
        bodylen += got;
        p = e + 1;
        if (l < BODY_LINE_MAX)
            break;
    }
    *next = p;
    if (!x25519)
        return 0; /* other types: checked for shape, then ignored */

    if (nargs != 2 || arg1len != B64_32_LEN ||
        b64_decode_exact(d->in + arg1, arg1len, epk, sizeof(epk)) != 0)
        return nv_fail(NV_EHEADER, "age: malformed X25519 share");
    if (bodylen != sizeof(body))
        return nv_fail(NV_EHEADER, "age: X25519 stanza body is not 32 bytes");
    return x25519_unwrap(sc, epk, body);
}

/* Parse the header, unwrap the file key, check the MAC, read the nonce and
 * derive the payload key. */
static int
dec_header(struct nv_age_dec *d, struct nv_age_identity *const *ids,
           size_t nids)
{
    struct stanza_ctx sc;
    uint8_t mac[MAC_LEN], want[MAC_LEN], hkey[32];
    size_t pos, eol, nstanzas = 0, mac_end = 0, hdr_end = 0;
    int r;

    memset(&sc, 0, sizeof(sc));
    sc.ids = ids;
    sc.nids = nids;

    if ((r = hdr_line(d, 0, &eol)) < 0)
        goto out;
    if (eol != VERSION_LEN || memcmp(d->in, VERSION_LINE, VERSION_LEN) != 0) {
        r = nv_fail(NV_EHEADER, "age: not an age v1 file (bad version line)");
        goto out;
    }
    pos = eol + 1;
    for (;;) {
        size_t l;

        if ((r = hdr_line(d, pos, &eol)) < 0)
            goto out;
        l = eol - pos;
        if (l >= 3 && memcmp(d->in + pos, "---", 3) == 0) {
            if (nstanzas == 0) {
                r = nv_fail(NV_EHEADER, "age: header has no recipient stanza");
                goto out;
            }
            if (l != 4 + B64_32_LEN || d->in[pos + 3] != ' ' ||
                b64_decode_exact(d->in + pos + 4, B64_32_LEN, mac,
                                 sizeof(mac)) != 0) {
                r = nv_fail(NV_EHEADER, "age: malformed header MAC line");
                goto out;
            }
            mac_end = pos + 3;
            hdr_end = eol + 1;
            break;
        }
        if (l < 3 || memcmp(d->in + pos, "-> ", 3) != 0) {
            r = nv_fail(NV_EHEADER, "age: malformed header line");
            goto out;
        }
        if ((r = parse_stanza(d, &sc, pos, eol, &pos)) < 0)
            goto out;
        nstanzas++;
    }

    if (!sc.have_key) {
        r = nv_fail(NV_ENOMATCH, "age: none of our identities opens the file");
        goto out;
    }
    hkdf_sha256(hkey, NULL, 0, sc.file_key, FILE_KEY_LEN, "header");
    crypto_auth_hmacsha256(want, d->in, mac_end, hkey);
    if (sodium_memcmp(want, mac, MAC_LEN) != 0) {
        r = nv_fail(NV_EHMAC, "age: header MAC does not verify");
        goto out;
    }
    if ((r = dec_fill(d, hdr_end + NONCE_LEN)) < 0)
        goto out;
    if (d->inlen < hdr_end + NONCE_LEN) {
        r = nv_fail(NV_EHEADER, "age: file ends before the payload nonce");
        goto out;
    }
    hkdf_sha256(d->key, d->in + hdr_end, NONCE_LEN, sc.file_key, FILE_KEY_LEN,
                "payload");
    d->inlen -= hdr_end + NONCE_LEN;
    memmove(d->in, d->in + hdr_end + NONCE_LEN, d->inlen);
    r = 0;
out:
    sodium_memzero(&sc, sizeof(sc));
    sodium_memzero(hkey, sizeof(hkey));
    sodium_memzero(want, sizeof(want));
    return r;
}

int
nv_age_dec_new(struct nv_age_dec **out, struct nv_age_identity *const *ids,
               size_t nids, nv_read_fn src, void *src_ctx)
{
    struct nv_age_dec *d = NULL;
    int r;

    if (out == NULL || src == NULL || (ids == NULL && nids > 0))
        return nv_fail(NV_EINVAL, "age: bad decryptor arguments");
    *out = NULL;
    for (size_t i = 0; i < nids; i++) {
        if (ids[i] == NULL)
            return nv_fail(NV_EINVAL, "age: missing identity");
    }
    d = malloc(sizeof(*d));
    if (d == NULL)
        return nv_fail(NV_ENOMEM, "out of memory for the age decryptor");
    memset(d, 0, sizeof(*d));
    d->src = src;
    d->src_ctx = src_ctx;
    d->key = sodium_malloc(32);
    if (d->key == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory for the age payload key");
        goto out;
    }
    r = dec_header(d, ids, nids);
out:
    if (r < 0) {
        nv_age_dec_free(d);
        d = NULL;
    }
    *out = d;
    return r;
}

/* Open the next chunk into d->pt.  A full-size chunk is tried as a middle
 * chunk, then as the final one (as the reference implementation does, so the
 * released plaintext matches the testkit); a shorter one is the final chunk.
 * Bytes left after the final chunk fail the read after its plaintext. */
static int
dec_next(struct nv_age_dec *d)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    unsigned long long mlen = 0;
    size_t clen;
    int last, r;

    if ((r = dec_fill(d, SEALED_CHUNK + 1)) < 0)
        return r;
    if (d->counter == UINT64_MAX)
        return nv_fail(NV_EPAYLOAD, "age: too many chunks");
    if (d->inlen >= SEALED_CHUNK) {
        clen = SEALED_CHUNK;
        last = 0;
        stream_nonce(nonce, d->counter, 0);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(d->pt, &mlen, NULL,
                                                      d->in, clen, NULL, 0,
                                                      nonce, d->key) != 0) {
            last = 1;
            stream_nonce(nonce, d->counter, 1);
            if (crypto_aead_chacha20poly1305_ietf_decrypt(
                    d->pt, &mlen, NULL, d->in, clen, NULL, 0, nonce,
                    d->key) != 0)
                return nv_fail(NV_EPAYLOAD, "age: payload chunk %llu does "
                                            "not authenticate",
                               (unsigned long long)d->counter);
        }
    } else {
        last = 1;
        clen = d->inlen;
        if (clen == 0)
            return nv_fail(NV_EPAYLOAD, "age: payload truncated (chunk %llu "
                                        "missing)",
                           (unsigned long long)d->counter);
        if (clen < TAG_LEN)
            return nv_fail(NV_EPAYLOAD, "age: payload chunk %llu too short",
                           (unsigned long long)d->counter);
        if (clen == TAG_LEN && d->counter > 0)
            return nv_fail(NV_EPAYLOAD, "age: empty final chunk");
        stream_nonce(nonce, d->counter, 1);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(d->pt, &mlen, NULL,
                                                      d->in, clen, NULL, 0,
                                                      nonce, d->key) != 0)
            return nv_fail(NV_EPAYLOAD, "age: final payload chunk %llu does "
                                        "not authenticate",
                           (unsigned long long)d->counter);
    }
    d->counter++;
    d->ptpos = 0;
    d->ptlen = (size_t)mlen;
    d->inlen -= clen;
    memmove(d->in, d->in + clen, d->inlen);
    if (last) {
        d->done = 1;
        d->trailing = d->inlen > 0;
        sodium_memzero(d->key, 32);
    }
    return 0;
}

long
nv_age_dec_read(struct nv_age_dec *d, void *p, size_t n)
{
    size_t take;
    int r;

    if (d == NULL || (p == NULL && n > 0))
        return nv_fail(NV_EINVAL, "age: bad read arguments");
    if (d->err < 0)
        return d->err;
    if (n == 0)
        return 0;
    if (n > LONG_MAX)
        n = LONG_MAX;
    while (d->ptpos == d->ptlen) {
        if (d->done && !d->trailing)
            return 0;
        if (d->done)
            r = nv_fail(NV_EPAYLOAD, "age: data after the final chunk");
        else
            r = dec_next(d);
        if (r < 0) {
            d->err = r;
            sodium_memzero(d->key, 32);
            return r;
        }
    }
    take = d->ptlen - d->ptpos;
    if (take > n)
        take = n;
    memcpy(p, d->pt + d->ptpos, take);
    d->ptpos += take;
    return (long)take;
}

uint64_t
nv_age_dec_consumed(const struct nv_age_dec *d)
{
    return d == NULL ? 0 : d->consumed;
}

void
nv_age_dec_free(struct nv_age_dec *d)
{
    if (d == NULL)
        return;
    if (d->key != NULL) {
        sodium_memzero(d->key, 32);
        sodium_free(d->key);
    }
    sodium_memzero(d, sizeof(*d));
    free(d);
}
