/*
 * minisign.c - Ed25519 keys and signatures in the minisign formats, and SSH
 * signatures (SSHSIG) with the same keys.  Byte layouts are in
 * ../shared/spec/crypto-formats.md sections 2 and 3; every parser here is
 * strict and bounded: anything that is not exactly the documented form is
 * refused with a sentence saying what was wrong.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../formats/errors.h"
#include "minisign.h"

#define B64V sodium_base64_VARIANT_ORIGINAL

#define PUB_BYTES 42 /* "Ed" | keyid | pk */
#define SEC_BYTES 158
#define SIG_BYTES 74 /* alg | keyid | sig */
#define SEC_CRYPT_OFF 54
#define SEC_CRYPT_LEN 104 /* keyid | sk | checksum */
#define SEC_SALT_OFF 6
#define SEC_OPS_OFF 38
#define SEC_MEM_OFF 46
#define SEC_KEYID_OFF 54
#define SEC_SK_OFF 62
#define SEC_SUM_OFF 126

#define UNTRUSTED_PREFIX "untrusted comment: "
#define TRUSTED_PREFIX "trusted comment: "
#define DEFAULT_UNTRUSTED "signature from nova"

/* scrypt limits a key file may ask for: four times the minisign defaults */
#define SCRYPT_MAX_OPS \
    ((uint64_t)crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE * 4)
#define SCRYPT_MAX_MEM \
    ((uint64_t)crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE * 4)

#define SSH_KEYTYPE "ssh-ed25519"
#define SSH_PUBBLOB_LEN 51 /* str("ssh-ed25519") | str(pk32) */
#define SSH_SIGBLOB_LEN 83 /* str("ssh-ed25519") | str(sig64) */
#define SSHSIG_MAGIC "SSHSIG"
#define SSHSIG_BEGIN "-----BEGIN SSH SIGNATURE-----\n"
#define SSHSIG_END_LINE "-----END SSH SIGNATURE-----"
#define SSHSIG_END "\n" SSHSIG_END_LINE
#define SSHSIG_LINE 70
#define SSHSIG_MAX_NS 255
#define SSHSIG_MAX_ARMOR 8192
#define SSHSIG_MAX_BLOB 1024
#define SSH_PUB_MAX_LINE 8192

struct line {
    const char *p;
    size_t n;
};

/* A bounded writer into a fixed array; overflow is sticky. */
struct wr {
    uint8_t *p;
    size_t cap;
    size_t len;
    int overflow;
};

/* A bounded reader over bytes. */
struct rd {
    const uint8_t *p;
    size_t n;
};

/* ------------------------------------------------------------------------ */
/* small helpers */

static void
buf_rollback(struct nv_buf *b, size_t len)
{
    if (b->data == NULL)
        return;
    if (b->secret && b->len > len)
        sodium_memzero(b->data + len, b->len - len);
    b->len = len;
    b->data[len] = '\0';
}

/* Split text into LF-terminated lines (the last one may lack its LF).
 * Returns the number of lines, or -1 when there are more than max. */
static int
split_lines(const char *text, size_t len, struct line *lines, int max)
{
    size_t pos = 0;
    int n = 0;

    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;

        if (n == max)
            return -1;
        lines[n].p = text + pos;
        lines[n].n = end - pos;
        n++;
        pos = nl != NULL ? end + 1 : len;
    }
    return n;
}

static int
has_prefix(const struct line *l, const char *prefix)
{
    size_t n = strlen(prefix);

    return l->n >= n && memcmp(l->p, prefix, n) == 0;
}

/* One-line comment text: no control characters except TAB, no DEL. */
static int
comment_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int
utf8_ok(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t more;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= more)
            return 0;
        for (size_t j = 1; j <= more; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += more + 1;
    }
    return 1;
}

/* Only base64 alphabet characters, '=' and (if allow_lf) LF.  Needed
 * because libsodium 1.0.18's decoder reads every byte 0x80..0xff as '/'
 * (a signed-char comparison), so it cannot be trusted to refuse them. */
static int
b64_alphabet_ok(const char *s, size_t n, int allow_lf)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='
              || (allow_lf && c == '\n')))
            return 0;
    }
    return 1;
}

/* Decode exactly binlen bytes from padded base64 of exactly the canonical
 * length; no whitespace or anything else allowed.  0 or -1. */
static int
b64_exact(const char *s, size_t slen, uint8_t *bin, size_t binlen)
{
    size_t outlen = 0;

    if (slen != sodium_base64_ENCODED_LEN(binlen, B64V) - 1
        || !b64_alphabet_ok(s, slen, 0))
        return -1;
    if (sodium_base642bin(bin, binlen, s, slen, NULL, &outlen, NULL, B64V) != 0)
        return -1;
    return outlen == binlen ? 0 : -1;
}

/* Append the padded base64 of bin to out (no newline). */
static int
b64_append(struct nv_buf *out, const uint8_t *bin, size_t len)
{
    size_t enc = sodium_base64_ENCODED_LEN(len, B64V);
    int r;

    if ((r = nv_buf_reserve(out, enc)) < 0)
        return r;
    sodium_bin2base64((char *)out->data + out->len, enc, bin, len, B64V);
    out->len += enc - 1;
    out->data[out->len] = '\0';
    return 0;
}

static void
le64_put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
le64_get(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void
wr_bytes(struct wr *w, const void *p, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    if (n)
        memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void
wr_u32(struct wr *w, uint32_t v)
{
    uint8_t b[4];

    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
    wr_bytes(w, b, 4);
}

/* SSH wire string: u32be(len) | bytes */
static void
wr_str(struct wr *w, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        w->overflow = 1;
        return;
    }
    wr_u32(w, (uint32_t)n);
    wr_bytes(w, p, n);
}

static int
rd_u32(struct rd *r, uint32_t *v)
{
    if (r->n < 4)
        return -1;
    *v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16)
         | ((uint32_t)r->p[2] << 8) | (uint32_t)r->p[3];
    r->p += 4;
    r->n -= 4;
    return 0;
}

static int
rd_str(struct rd *r, struct rd *s)
{
    uint32_t n;

    if (rd_u32(r, &n) < 0 || n > r->n)
        return -1;
    s->p = r->p;
    s->n = n;
    r->p += n;
    r->n -= n;
    return 0;
}

static int
rd_is(const struct rd *s, const char *text)
{
    size_t n = strlen(text);

    return s->n == n && memcmp(s->p, text, n) == 0;
}

/* BLAKE2b-256("Ed" | keyid | sk) */
static void
sec_checksum(const uint8_t keyid[NV_KEYID_LEN], const uint8_t sk[NV_SIGN_SKLEN],
             uint8_t out[32])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)"Ed", 2);
    crypto_generichash_update(&st, keyid, NV_KEYID_LEN);
    crypto_generichash_update(&st, sk, NV_SIGN_SKLEN);
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof(st));
}

/* The 51-byte SSH public key blob. */
static void
ssh_pubblob(const uint8_t pk[NV_SIGN_PKLEN], uint8_t out[SSH_PUBBLOB_LEN])
{
    struct wr w = { out, SSH_PUBBLOB_LEN, 0, 0 };

    wr_str(&w, SSH_KEYTYPE, strlen(SSH_KEYTYPE));
    wr_str(&w, pk, NV_SIGN_PKLEN);
}

/* Parse an SSH Ed25519 public key blob into pk. */
static int
ssh_pubblob_parse(const uint8_t *p, size_t n, uint8_t pk[NV_SIGN_PKLEN])
{
    struct rd r = { p, n }, type, key;

    if (rd_str(&r, &type) < 0 || rd_str(&r, &key) < 0 || r.n != 0)
        return -1;
    if (!rd_is(&type, SSH_KEYTYPE) || key.n != NV_SIGN_PKLEN)
        return -1;
    memcpy(pk, key.p, NV_SIGN_PKLEN);
    return 0;
}

/* The data an SSHSIG signature covers. */
static int
sshsig_signed_data(const char *ns, size_t nslen, const char *hashalg,
                   const uint8_t *hash, size_t hashlen, struct wr *w)
{
    wr_bytes(w, SSHSIG_MAGIC, strlen(SSHSIG_MAGIC));
    wr_str(w, ns, nslen);
    wr_str(w, "", 0);
    wr_str(w, hashalg, strlen(hashalg));
    wr_str(w, hash, hashlen);
    return w->overflow ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* keys */

int
nv_sign_key_generate(struct nv_sign_key **out)
{
    struct nv_sign_key *k;
    uint8_t pk[NV_SIGN_PKLEN];

    *out = NULL;
    k = sodium_malloc(sizeof(*k));
    if (k == NULL)
        return nv_fail(NV_ENOMEM, "cannot allocate secure memory for a key");
    randombytes_buf(k->keyid, sizeof(k->keyid));
    if (crypto_sign_keypair(pk, k->sk) != 0) {
        nv_sign_key_free(k);
        return nv_fail(NV_ESYS, "Ed25519 key generation failed");
    }
    *out = k;
    return 0;
}

int
nv_sign_key_from_seed(const uint8_t seed[32], const uint8_t keyid[NV_KEYID_LEN],
                      struct nv_sign_key **out)
{
    struct nv_sign_key *k;
    uint8_t pk[NV_SIGN_PKLEN];

    *out = NULL;
    k = sodium_malloc(sizeof(*k));
    if (k == NULL)
        return nv_fail(NV_ENOMEM, "cannot allocate secure memory for a key");
    memcpy(k->keyid, keyid, NV_KEYID_LEN);
    if (crypto_sign_seed_keypair(pk, k->sk, seed) != 0) {
        nv_sign_key_free(k);
        return nv_fail(NV_ESYS, "Ed25519 key derivation failed");
    }
    *out = k;
    return 0;
}

void
nv_sign_key_free(struct nv_sign_key *k)
{
    if (k == NULL)
        return;
    sodium_memzero(k, sizeof(*k));
    sodium_free(k);
}

void
nv_sign_key_public(const struct nv_sign_key *k, struct nv_sign_pub *out)
{
    memcpy(out->keyid, k->keyid, NV_KEYID_LEN);
    memcpy(out->pk, k->sk + 32, NV_SIGN_PKLEN);
}

void
nv_keyid_hex(const uint8_t keyid[NV_KEYID_LEN], char out[17])
{
    snprintf(out, 17, "%016" PRIX64, le64_get(keyid));
}

int
nv_keyid_parse(const char *hex, uint8_t keyid[NV_KEYID_LEN])
{
    uint64_t v = 0;
    size_t n;

    if (hex == NULL)
        return nv_fail(NV_EFORMAT, "missing key id");
    n = strnlen(hex, 17);
    if (n == 0 || n > 16)
        return nv_fail(NV_EFORMAT, "a key id is 1 to 16 hex digits");
    for (size_t i = 0; i < n; i++) {
        char c = hex[i];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return nv_fail(NV_EFORMAT, "key id has a non-hex character");
        v = (v << 4) | d;
    }
    le64_put(keyid, v);
    return 0;
}

int
nv_sign_pub_parse(const char *text, size_t len, struct nv_sign_pub *out)
{
    struct line l[2];
    const struct line *b64;
    uint8_t raw[PUB_BYTES];
    int n;

    if (text == NULL)
        return nv_fail(NV_EKEY, "empty public key");
    n = split_lines(text, len, l, 2);
    if (n < 1)
        return nv_fail(NV_EKEY, n == 0 ? "empty public key"
                                       : "public key has more than two lines");
    if (n == 2) {
        size_t plen = strlen(UNTRUSTED_PREFIX);

        if (!has_prefix(&l[0], UNTRUSTED_PREFIX))
            return nv_fail(NV_EKEY, "public key file does not start with "
                                    "\"untrusted comment: \"");
        if (l[0].n - plen > NV_MINISIG_MAX_UNTRUSTED)
            return nv_fail(NV_EKEY, "public key comment is too long");
        if (!comment_ok(l[0].p + plen, l[0].n - plen))
            return nv_fail(NV_EKEY, "public key comment has control "
                                    "characters");
        b64 = &l[1];
    } else {
        b64 = &l[0];
    }
    if (b64_exact(b64->p, b64->n, raw, sizeof(raw)) < 0)
        return nv_fail(NV_EKEY, "public key is not %zu bytes of canonical "
                                "padded base64", (size_t)PUB_BYTES);
    if (memcmp(raw, "Ed", 2) != 0)
        return nv_fail(NV_EKEY, "public key algorithm is not Ed25519 (\"Ed\")");
    memcpy(out->keyid, raw + 2, NV_KEYID_LEN);
    memcpy(out->pk, raw + 2 + NV_KEYID_LEN, NV_SIGN_PKLEN);
    return 0;
}

void
nv_sign_pub_b64(const struct nv_sign_pub *pk, char out[57])
{
    uint8_t raw[PUB_BYTES];

    memcpy(raw, "Ed", 2);
    memcpy(raw + 2, pk->keyid, NV_KEYID_LEN);
    memcpy(raw + 2 + NV_KEYID_LEN, pk->pk, NV_SIGN_PKLEN);
    sodium_bin2base64(out, 57, raw, sizeof(raw), B64V);
}

int
nv_sign_pub_format(const struct nv_sign_pub *pk, struct nv_buf *out)
{
    char id[17], b64[57];
    size_t start = out->len;
    int r;

    nv_keyid_hex(pk->keyid, id);
    nv_sign_pub_b64(pk, b64);
    r = nv_buf_addf(out, UNTRUSTED_PREFIX "minisign public key %s\n%s\n", id,
                    b64);
    if (r < 0)
        buf_rollback(out, start);
    return r;
}

int
nv_sign_key_format(const struct nv_sign_key *k, const char *password,
                   uint64_t opslimit, uint64_t memlimit, struct nv_buf *out)
{
    uint8_t raw[SEC_BYTES], stream[SEC_CRYPT_LEN];
    size_t start = out->len;
    int r = 0;

    memset(raw, 0, sizeof(raw));
    memcpy(raw, "Ed", 2);
    memcpy(raw + 4, "B2", 2);
    if (password != NULL) {
        if (opslimit == 0 && memlimit == 0) {
            opslimit = crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE;
            memlimit = crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE;
        }
        if (opslimit == 0 || memlimit == 0 || opslimit > SCRYPT_MAX_OPS
            || memlimit > SCRYPT_MAX_MEM || memlimit > SIZE_MAX) {
            r = nv_fail(NV_EINVAL, "scrypt limits out of range");
            goto out;
        }
        memcpy(raw + 2, "Sc", 2);
        randombytes_buf(raw + SEC_SALT_OFF, 32);
        le64_put(raw + SEC_OPS_OFF, opslimit);
        le64_put(raw + SEC_MEM_OFF, memlimit);
    }
    memcpy(raw + SEC_KEYID_OFF, k->keyid, NV_KEYID_LEN);
    memcpy(raw + SEC_SK_OFF, k->sk, NV_SIGN_SKLEN);
    sec_checksum(k->keyid, k->sk, raw + SEC_SUM_OFF);
    if (password != NULL) {
        if (crypto_pwhash_scryptsalsa208sha256(
                stream, sizeof(stream), password, strlen(password),
                raw + SEC_SALT_OFF, (unsigned long long)opslimit,
                (size_t)memlimit) != 0) {
            r = nv_fail(NV_ENOMEM, "scrypt key derivation failed (memory "
                                   "limit %" PRIu64 " bytes)", memlimit);
            goto out;
        }
        for (size_t i = 0; i < SEC_CRYPT_LEN; i++)
            raw[SEC_CRYPT_OFF + i] ^= stream[i];
    }
    out->secret = 1;
    if ((r = nv_buf_addf(out, UNTRUSTED_PREFIX "%s\n",
                         password != NULL
                             ? "minisign encrypted secret key"
                             : "minisign unencrypted secret key")) < 0)
        goto out;
    if ((r = b64_append(out, raw, sizeof(raw))) < 0)
        goto out;
    r = nv_buf_add(out, "\n", 1);
out:
    if (r < 0)
        buf_rollback(out, start);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(stream, sizeof(stream));
    return r;
}

int
nv_sign_key_parse(const char *text, size_t len, const char *password,
                  struct nv_sign_key **out)
{
    struct line l[2];
    uint8_t raw[SEC_BYTES], stream[SEC_CRYPT_LEN], sum[32];
    uint8_t pk[NV_SIGN_PKLEN], sk[NV_SIGN_SKLEN];
    size_t plen = strlen(UNTRUSTED_PREFIX);
    struct nv_sign_key *k = NULL;
    int encrypted = 0, n, r = 0;

    *out = NULL;
    memset(raw, 0, sizeof(raw));
    memset(stream, 0, sizeof(stream));
    memset(sk, 0, sizeof(sk));
    if (text == NULL) {
        r = nv_fail(NV_EKEY, "empty secret key file");
        goto out;
    }
    n = split_lines(text, len, l, 2);
    if (n != 2) {
        r = nv_fail(NV_EKEY, "a secret key file is exactly two lines");
        goto out;
    }
    if (!has_prefix(&l[0], UNTRUSTED_PREFIX)) {
        r = nv_fail(NV_EKEY, "secret key file does not start with "
                             "\"untrusted comment: \"");
        goto out;
    }
    if (l[0].n - plen > NV_MINISIG_MAX_UNTRUSTED
        || !comment_ok(l[0].p + plen, l[0].n - plen)) {
        r = nv_fail(NV_EKEY, "secret key comment is too long or has control "
                             "characters");
        goto out;
    }
    if (b64_exact(l[1].p, l[1].n, raw, sizeof(raw)) < 0) {
        r = nv_fail(NV_EKEY, "secret key is not %zu bytes of canonical padded "
                             "base64", (size_t)SEC_BYTES);
        goto out;
    }
    if (memcmp(raw, "Ed", 2) != 0) {
        r = nv_fail(NV_EKEY, "secret key algorithm is not Ed25519 (\"Ed\")");
        goto out;
    }
    if (memcmp(raw + 4, "B2", 2) != 0) {
        r = nv_fail(NV_EKEY, "secret key checksum algorithm is not \"B2\"");
        goto out;
    }
    if (memcmp(raw + 2, "Sc", 2) == 0) {
        encrypted = 1;
    } else if (raw[2] != 0 || raw[3] != 0) {
        r = nv_fail(NV_EKEY, "secret key KDF is neither scrypt nor none");
        goto out;
    }
    if (encrypted) {
        uint64_t ops = le64_get(raw + SEC_OPS_OFF);
        uint64_t mem = le64_get(raw + SEC_MEM_OFF);

        if (password == NULL) {
            r = nv_fail(NV_EPASSWORD, "the secret key is encrypted and no "
                                      "password was given");
            goto out;
        }
        if (ops > SCRYPT_MAX_OPS || mem > SCRYPT_MAX_MEM || mem > SIZE_MAX) {
            r = nv_fail(NV_EKEY, "secret key asks for scrypt limits over the "
                                 "maximum (ops %" PRIu64 ", mem %" PRIu64 ")",
                        ops, mem);
            goto out;
        }
        if (crypto_pwhash_scryptsalsa208sha256(
                stream, sizeof(stream), password, strlen(password),
                raw + SEC_SALT_OFF, (unsigned long long)ops,
                (size_t)mem) != 0) {
            r = nv_fail(NV_ENOMEM, "scrypt key derivation failed (memory "
                                   "limit %" PRIu64 " bytes)", mem);
            goto out;
        }
        for (size_t i = 0; i < SEC_CRYPT_LEN; i++)
            raw[SEC_CRYPT_OFF + i] ^= stream[i];
    }
    /* stock minisign 0.11 writes unencrypted (-W) keys with an all-zero
     * checksum and never checks it for them; accept that form, the seed
     * check below still catches a damaged secret key */
    sec_checksum(raw + SEC_KEYID_OFF, raw + SEC_SK_OFF, sum);
    if ((encrypted || !sodium_is_zero(raw + SEC_SUM_OFF, sizeof(sum)))
        && sodium_memcmp(sum, raw + SEC_SUM_OFF, sizeof(sum)) != 0) {
        if (encrypted)
            r = nv_fail(NV_EPASSWORD, "wrong password for the secret key");
        else
            r = nv_fail(NV_EKEY, "secret key checksum does not match");
        goto out;
    }
    if (crypto_sign_seed_keypair(pk, sk, raw + SEC_SK_OFF) != 0
        || sodium_memcmp(sk, raw + SEC_SK_OFF, NV_SIGN_SKLEN) != 0) {
        r = nv_fail(NV_EKEY, "secret key public half does not match its seed");
        goto out;
    }
    k = sodium_malloc(sizeof(*k));
    if (k == NULL) {
        r = nv_fail(NV_ENOMEM, "cannot allocate secure memory for a key");
        goto out;
    }
    memcpy(k->keyid, raw + SEC_KEYID_OFF, NV_KEYID_LEN);
    memcpy(k->sk, raw + SEC_SK_OFF, NV_SIGN_SKLEN);
    *out = k;
out:
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(stream, sizeof(stream));
    sodium_memzero(sk, sizeof(sk));
    return r;
}

/* ------------------------------------------------------------------------ */
/* minisign signatures */

/* Comment checks; code is the error to return (NV_EFORMAT when parsing,
 * NV_EINVAL when the caller hands a bad comment to the signer). */
static int
check_untrusted(const char *s, size_t n, int code)
{
    if (n > NV_MINISIG_MAX_UNTRUSTED)
        return nv_fail(code, "untrusted comment is longer than %d bytes",
                       NV_MINISIG_MAX_UNTRUSTED);
    if (!comment_ok(s, n))
        return nv_fail(code, "untrusted comment has control characters");
    return 0;
}

static int
check_trusted(const char *s, size_t n, int code)
{
    if (n > NV_MINISIG_MAX_TRUSTED)
        return nv_fail(code, "trusted comment is longer than %d bytes",
                       NV_MINISIG_MAX_TRUSTED);
    if (!comment_ok(s, n))
        return nv_fail(code, "trusted comment has control characters");
    if (!utf8_ok(s, n))
        return nv_fail(code, "trusted comment is not valid UTF-8");
    return 0;
}

int
nv_minisign_sign(const struct nv_sign_key *k, const void *msg, size_t len,
                 const char *untrusted, const char *trusted,
                 struct nv_buf *out)
{
    uint8_t gbuf[64 + NV_MINISIG_MAX_TRUSTED];
    uint8_t hash[crypto_generichash_BYTES_MAX];
    uint8_t sig[SIG_BYTES], global[64];
    size_t start = out->len, ulen, tlen;
    const uint8_t *m = msg != NULL ? msg : (const uint8_t *)"";
    int r;

    if (untrusted == NULL)
        untrusted = DEFAULT_UNTRUSTED;
    if (trusted == NULL)
        return nv_fail(NV_EINVAL, "a trusted comment is required");
    ulen = strnlen(untrusted, NV_MINISIG_MAX_UNTRUSTED + 1);
    tlen = strnlen(trusted, NV_MINISIG_MAX_TRUSTED + 1);
    if ((r = check_untrusted(untrusted, ulen, NV_EINVAL)) < 0
        || (r = check_trusted(trusted, tlen, NV_EINVAL)) < 0)
        return r;

    crypto_generichash(hash, sizeof(hash), m, len, NULL, 0);
    memcpy(sig, "ED", 2);
    memcpy(sig + 2, k->keyid, NV_KEYID_LEN);
    crypto_sign_detached(sig + 2 + NV_KEYID_LEN, NULL, hash, sizeof(hash),
                         k->sk);
    memcpy(gbuf, sig + 2 + NV_KEYID_LEN, 64);
    memcpy(gbuf + 64, trusted, tlen);
    crypto_sign_detached(global, NULL, gbuf, 64 + tlen, k->sk);

    if ((r = nv_buf_addf(out, UNTRUSTED_PREFIX "%s\n", untrusted)) < 0
        || (r = b64_append(out, sig, sizeof(sig))) < 0
        || (r = nv_buf_addf(out, "\n" TRUSTED_PREFIX "%s\n", trusted)) < 0
        || (r = b64_append(out, global, sizeof(global))) < 0
        || (r = nv_buf_add(out, "\n", 1)) < 0)
        buf_rollback(out, start);
    return r;
}

int
nv_minisig_parse(const char *text, size_t len, struct nv_minisig *out)
{
    struct line l[4];
    uint8_t sig[SIG_BYTES];
    size_t ulen, tlen;
    int n, r;

    memset(out, 0, sizeof(*out));
    if (len > NV_MINISIG_MAX_FILE)
        return nv_fail(NV_ETOOBIG, "signature file is over %d bytes",
                       NV_MINISIG_MAX_FILE);
    if (text == NULL || len == 0)
        return nv_fail(NV_EFORMAT, "empty signature file");
    n = split_lines(text, len, l, 4);
    if (n != 4)
        return nv_fail(NV_EFORMAT, "a signature file is exactly four lines");

    if (!has_prefix(&l[0], UNTRUSTED_PREFIX))
        return nv_fail(NV_EFORMAT, "signature line 1 does not start with "
                                   "\"untrusted comment: \"");
    ulen = l[0].n - strlen(UNTRUSTED_PREFIX);
    if ((r = check_untrusted(l[0].p + strlen(UNTRUSTED_PREFIX), ulen,
                             NV_EFORMAT)) < 0)
        return r;

    if (b64_exact(l[1].p, l[1].n, sig, sizeof(sig)) < 0)
        return nv_fail(NV_EFORMAT, "signature line 2 is not %d bytes of "
                                   "canonical padded base64", SIG_BYTES);
    if (memcmp(sig, "ED", 2) != 0 && memcmp(sig, "Ed", 2) != 0)
        return nv_fail(NV_EFORMAT, "unknown signature algorithm");

    if (!has_prefix(&l[2], TRUSTED_PREFIX))
        return nv_fail(NV_EFORMAT, "signature line 3 does not start with "
                                   "\"trusted comment: \"");
    tlen = l[2].n - strlen(TRUSTED_PREFIX);
    if ((r = check_trusted(l[2].p + strlen(TRUSTED_PREFIX), tlen,
                           NV_EFORMAT)) < 0)
        return r;

    if (b64_exact(l[3].p, l[3].n, out->global, sizeof(out->global)) < 0) {
        memset(out, 0, sizeof(*out));
        return nv_fail(NV_EFORMAT, "signature line 4 is not 64 bytes of "
                                   "canonical padded base64");
    }

    memcpy(out->untrusted, l[0].p + strlen(UNTRUSTED_PREFIX), ulen);
    out->untrusted[ulen] = '\0';
    memcpy(out->alg, sig, 2);
    memcpy(out->keyid, sig + 2, NV_KEYID_LEN);
    memcpy(out->sig, sig + 2 + NV_KEYID_LEN, 64);
    memcpy(out->trusted, l[2].p + strlen(TRUSTED_PREFIX), tlen);
    out->trusted[tlen] = '\0';
    return 0;
}

int
nv_minisign_verify(const struct nv_sign_pub *pk, const struct nv_minisig *s,
                   const void *msg, size_t len, int allow_legacy)
{
    uint8_t gbuf[64 + NV_MINISIG_MAX_TRUSTED];
    uint8_t hash[crypto_generichash_BYTES_MAX];
    const uint8_t *m = msg != NULL ? msg : (const uint8_t *)"";
    char want[17], got[17];
    size_t tlen;
    int ok;

    if (sodium_memcmp(s->keyid, pk->keyid, NV_KEYID_LEN) != 0) {
        nv_keyid_hex(s->keyid, got);
        nv_keyid_hex(pk->keyid, want);
        return nv_fail(NV_EUNKNOWNKEY, "signed by key %s, expected key %s",
                       got, want);
    }
    if (memcmp(s->alg, "ED", 2) == 0) {
        crypto_generichash(hash, sizeof(hash), m, len, NULL, 0);
        ok = crypto_sign_verify_detached(s->sig, hash, sizeof(hash), pk->pk)
             == 0;
    } else if (memcmp(s->alg, "Ed", 2) == 0) {
        if (!allow_legacy)
            return nv_fail(NV_ESIG, "legacy (\"Ed\") signatures are not "
                                    "accepted here");
        ok = crypto_sign_verify_detached(s->sig, m, len, pk->pk) == 0;
    } else {
        return nv_fail(NV_EFORMAT, "unknown signature algorithm");
    }
    if (!ok)
        return nv_fail(NV_ESIG, "signature does not verify");

    tlen = strnlen(s->trusted, sizeof(s->trusted));
    if (tlen > NV_MINISIG_MAX_TRUSTED)
        return nv_fail(NV_EFORMAT, "trusted comment is too long");
    memcpy(gbuf, s->sig, 64);
    memcpy(gbuf + 64, s->trusted, tlen);
    if (crypto_sign_verify_detached(s->global, gbuf, 64 + tlen, pk->pk) != 0)
        return nv_fail(NV_ESIG, "trusted comment signature does not verify");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* SSH keys and SSHSIG */

int
nv_ssh_pub_format(const uint8_t pk[NV_SIGN_PKLEN], struct nv_buf *out)
{
    uint8_t blob[SSH_PUBBLOB_LEN];
    size_t start = out->len;
    int r;

    ssh_pubblob(pk, blob);
    if ((r = nv_buf_adds(out, SSH_KEYTYPE " ")) < 0
        || (r = b64_append(out, blob, sizeof(blob))) < 0)
        buf_rollback(out, start);
    return r;
}

int
nv_ssh_pub_parse(const char *line, uint8_t pk[NV_SIGN_PKLEN])
{
    const char *p, *end;
    size_t len, b64len, plen = strlen(SSH_KEYTYPE " ");
    uint8_t blob[SSH_PUBBLOB_LEN];

    if (line == NULL)
        return nv_fail(NV_EKEY, "empty SSH public key");
    len = strnlen(line, SSH_PUB_MAX_LINE + 1);
    if (len > SSH_PUB_MAX_LINE)
        return nv_fail(NV_EKEY, "SSH public key line is too long");
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len < plen || memcmp(line, SSH_KEYTYPE " ", plen) != 0)
        return nv_fail(NV_EKEY, "not an \"ssh-ed25519\" public key");
    p = line + plen;
    end = line + len;
    b64len = 0;
    while (p + b64len < end && p[b64len] != ' ')
        b64len++;
    if (b64_exact(p, b64len, blob, sizeof(blob)) < 0
        || ssh_pubblob_parse(blob, sizeof(blob), pk) < 0)
        return nv_fail(NV_EKEY, "SSH public key is not a well-formed "
                                "ssh-ed25519 key blob");
    p += b64len;
    if (p < end && !comment_ok(p, (size_t)(end - p)))
        return nv_fail(NV_EKEY, "SSH public key comment has control "
                                "characters");
    return 0;
}

int
nv_sshsig_sign(const struct nv_sign_key *k, const char *ns, const void *msg,
               size_t len, struct nv_buf *out)
{
    uint8_t hash[crypto_hash_sha512_BYTES], sig[64];
    uint8_t sd[SSHSIG_MAX_BLOB], blob[SSHSIG_MAX_BLOB];
    uint8_t pubblob[SSH_PUBBLOB_LEN], sigblob[SSH_SIGBLOB_LEN];
    char b64[sodium_base64_ENCODED_LEN(SSHSIG_MAX_BLOB, B64V)];
    struct wr w = { sd, sizeof(sd), 0, 0 };
    struct wr wb = { blob, sizeof(blob), 0, 0 };
    struct wr ws = { sigblob, sizeof(sigblob), 0, 0 };
    const uint8_t *m = msg != NULL ? msg : (const uint8_t *)"";
    size_t start = out->len, nslen, b64len;
    int r;

    if (ns == NULL || (nslen = strnlen(ns, SSHSIG_MAX_NS + 1)) == 0
        || nslen > SSHSIG_MAX_NS)
        return nv_fail(NV_EINVAL, "SSHSIG namespace must be 1 to %d bytes",
                       SSHSIG_MAX_NS);
    crypto_hash_sha512(hash, m, len);
    if (sshsig_signed_data(ns, nslen, "sha512", hash, sizeof(hash), &w) < 0)
        return nv_fail(NV_EINVAL, "SSHSIG data too large");
    crypto_sign_detached(sig, NULL, sd, w.len, k->sk);

    ssh_pubblob(k->sk + 32, pubblob);
    wr_str(&ws, SSH_KEYTYPE, strlen(SSH_KEYTYPE));
    wr_str(&ws, sig, sizeof(sig));
    wr_bytes(&wb, SSHSIG_MAGIC, strlen(SSHSIG_MAGIC));
    wr_u32(&wb, 1);
    wr_str(&wb, pubblob, sizeof(pubblob));
    wr_str(&wb, ns, nslen);
    wr_str(&wb, "", 0);
    wr_str(&wb, "sha512", 6);
    wr_str(&wb, sigblob, ws.len);
    if (wb.overflow || ws.overflow)
        return nv_fail(NV_EINVAL, "SSHSIG blob too large");
    sodium_bin2base64(b64, sizeof(b64), blob, wb.len, B64V);
    b64len = strlen(b64);

    if ((r = nv_buf_adds(out, SSHSIG_BEGIN)) < 0)
        goto out;
    for (size_t i = 0; i < b64len; i += SSHSIG_LINE) {
        size_t n = b64len - i < SSHSIG_LINE ? b64len - i : SSHSIG_LINE;
        if ((r = nv_buf_add(out, b64 + i, n)) < 0)
            goto out;
        if ((r = nv_buf_add(out, "\n", 1)) < 0)
            goto out;
    }
    r = nv_buf_adds(out, SSHSIG_END_LINE);
    if (r == 0)
        r = nv_buf_add(out, "\n", 1);
out:
    if (r < 0)
        buf_rollback(out, start);
    return r;
}

int
nv_sshsig_verify(const char *armored, size_t alen, const char *ns,
                 const void *msg, size_t len, uint8_t pk_out[NV_SIGN_PKLEN])
{
    uint8_t blob[SSHSIG_MAX_BLOB], sd[SSHSIG_MAX_BLOB];
    uint8_t hash[crypto_hash_sha512_BYTES], pk[NV_SIGN_PKLEN];
    const uint8_t *m = msg != NULL ? msg : (const uint8_t *)"";
    size_t blen = strlen(SSHSIG_BEGIN), elen = strlen(SSHSIG_END);
    size_t bloblen = 0, nslen, hlen, bodyend;
    const char *endp, *hashalg;
    struct rd r, pub, sns, reserved, halg, sigb, stype, sig;
    struct wr w = { sd, sizeof(sd), 0, 0 };
    uint32_t version;

    if (ns == NULL || (nslen = strnlen(ns, SSHSIG_MAX_NS + 1)) == 0
        || nslen > SSHSIG_MAX_NS)
        return nv_fail(NV_EINVAL, "SSHSIG namespace must be 1 to %d bytes",
                       SSHSIG_MAX_NS);
    if (armored == NULL || alen > SSHSIG_MAX_ARMOR)
        return nv_fail(NV_EFORMAT, "SSH signature is empty or over %d bytes",
                       SSHSIG_MAX_ARMOR);
    if (alen < blen || memcmp(armored, SSHSIG_BEGIN, blen) != 0)
        return nv_fail(NV_EFORMAT, "SSH signature does not start with the "
                                   "BEGIN SSH SIGNATURE line");
    endp = memmem(armored + blen - 1, alen - (blen - 1), SSHSIG_END, elen);
    if (endp == NULL)
        return nv_fail(NV_EFORMAT, "SSH signature has no END line");
    bodyend = (size_t)(endp - armored);
    if (bodyend < blen)
        return nv_fail(NV_EFORMAT, "SSH signature is empty");
    {
        size_t rest = alen - bodyend - elen;
        if (rest > 1 || (rest == 1 && armored[alen - 1] != '\n'))
            return nv_fail(NV_EFORMAT, "data after the END SSH SIGNATURE "
                                       "line");
    }
    if (!b64_alphabet_ok(armored + blen, bodyend - blen, 1)
        || sodium_base642bin(blob, sizeof(blob), armored + blen,
                             bodyend - blen, "\n", &bloblen, NULL, B64V)
               != 0)
        return nv_fail(NV_EFORMAT, "SSH signature body is not canonical "
                                   "base64 of at most %d bytes",
                       SSHSIG_MAX_BLOB);

    r.p = blob;
    r.n = bloblen;
    if (r.n < 6 || memcmp(r.p, SSHSIG_MAGIC, 6) != 0)
        return nv_fail(NV_EFORMAT, "SSH signature blob lacks the SSHSIG "
                                   "magic");
    r.p += 6;
    r.n -= 6;
    if (rd_u32(&r, &version) < 0 || version != 1)
        return nv_fail(NV_EFORMAT, "unsupported SSHSIG version");
    if (rd_str(&r, &pub) < 0 || rd_str(&r, &sns) < 0
        || rd_str(&r, &reserved) < 0 || rd_str(&r, &halg) < 0
        || rd_str(&r, &sigb) < 0 || r.n != 0)
        return nv_fail(NV_EFORMAT, "SSHSIG blob is truncated or has extra "
                                   "bytes");
    if (ssh_pubblob_parse(pub.p, pub.n, pk) < 0)
        return nv_fail(NV_EFORMAT, "SSHSIG signer is not an ssh-ed25519 key");
    if (sns.n != nslen || memcmp(sns.p, ns, nslen) != 0)
        return nv_fail(NV_ESIG, "SSH signature namespace is not \"%s\"", ns);
    if (reserved.n != 0)
        return nv_fail(NV_EFORMAT, "SSHSIG reserved field is not empty");
    if (rd_is(&halg, "sha512")) {
        hashalg = "sha512";
        hlen = crypto_hash_sha512_BYTES;
        crypto_hash_sha512(hash, m, len);
    } else if (rd_is(&halg, "sha256")) {
        hashalg = "sha256";
        hlen = crypto_hash_sha256_BYTES;
        crypto_hash_sha256(hash, m, len);
    } else {
        return nv_fail(NV_EFORMAT, "SSHSIG hash is neither sha512 nor sha256");
    }
    if (rd_str(&sigb, &stype) < 0 || rd_str(&sigb, &sig) < 0 || sigb.n != 0
        || !rd_is(&stype, SSH_KEYTYPE) || sig.n != 64)
        return nv_fail(NV_EFORMAT, "SSHSIG signature is not an ssh-ed25519 "
                                   "signature");
    if (sshsig_signed_data(ns, nslen, hashalg, hash, hlen, &w) < 0)
        return nv_fail(NV_EFORMAT, "SSHSIG data too large");
    if (crypto_sign_verify_detached(sig.p, sd, w.len, pk) != 0)
        return nv_fail(NV_ESIG, "SSH signature does not verify");
    if (pk_out != NULL)
        memcpy(pk_out, pk, NV_SIGN_PKLEN);
    return 0;
}
