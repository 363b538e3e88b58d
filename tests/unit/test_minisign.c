/*
 * test_minisign.c - minisign keys and signatures, SSHSIG: known-answer tests
 * against the nova-kat files (made with stock minisign and ssh-keygen), round
 * trips, and refusal of damaged input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../formats/buf.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../keys/minisign.h"

#define KAT_TRUSTED "timestamp:1700000000\tfile:msg.txt\thashed"
#define KAT_UNTRUSTED "signature from minisign secret key"
#define KAT_PK_HEX \
    "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"

/* ------------------------------------------------------------------------ */
/* helpers */

static void
kat_path(const char *name, char *out, size_t outlen)
{
    const char *shared = getenv("NOVA_SHARED");
    const char *root = getenv("NOVA_ROOT");

    if (shared != NULL && shared[0] != '\0')
        snprintf(out, outlen, "%s/testvectors/nova-kat/%s", shared, name);
    else if (root != NULL && root[0] != '\0')
        snprintf(out, outlen, "%s/../shared/testvectors/nova-kat/%s", root,
                 name);
    else
        snprintf(out, outlen, "../shared/testvectors/nova-kat/%s", name);
}

/* Read a KAT file into b (fails the test if missing). */
static void
kat_read(const char *name, struct nv_buf *b)
{
    char path[4096];

    kat_path(name, path, sizeof(path));
    nv_buf_init(b);
    if (nv_read_file(path, 1 << 20, b) != 0)
        fail_msg("cannot read %s: %s", path, nv_errmsg(NV_ESYS));
}

static struct nv_sign_key *
kat_key(void)
{
    uint8_t seed[32], keyid[NV_KEYID_LEN];
    struct nv_sign_key *k = NULL;

    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    for (int i = 0; i < NV_KEYID_LEN; i++)
        keyid[i] = (uint8_t)(i + 1);
    assert_int_equal(nv_sign_key_from_seed(seed, keyid, &k), 0);
    assert_non_null(k);
    return k;
}

/* Pointer to the second line of a text and its length (without LF). */
static const char *
second_line(const struct nv_buf *b, size_t *len)
{
    const char *p = memchr(b->data, '\n', b->len);
    const char *e;

    assert_non_null(p);
    p++;
    e = memchr(p, '\n', b->len - (size_t)(p - (const char *)b->data));
    assert_non_null(e);
    *len = (size_t)(e - p);
    return p;
}

/* Parse and verify a minisig text; 0 only if both succeed. */
static int
parse_verify(const struct nv_sign_pub *pk, const char *text, size_t len,
             const void *msg, size_t mlen, int legacy)
{
    struct nv_minisig *s = malloc(sizeof(*s));
    int r;

    assert_non_null(s);
    r = nv_minisig_parse(text, len, s);
    if (r == 0)
        r = nv_minisign_verify(pk, s, msg, mlen, legacy);
    free(s);
    return r;
}

/* ------------------------------------------------------------------------ */
/* key ids */

static void
test_keyid_hex_roundtrip(void **state)
{
    uint8_t id[NV_KEYID_LEN], back[NV_KEYID_LEN];
    char hex[17];

    (void)state;
    for (int i = 0; i < NV_KEYID_LEN; i++)
        id[i] = (uint8_t)(i + 1);
    nv_keyid_hex(id, hex);
    assert_string_equal(hex, "0807060504030201");
    assert_int_equal(nv_keyid_parse(hex, back), 0);
    assert_memory_equal(id, back, NV_KEYID_LEN);

    memset(id, 0, sizeof(id));
    id[0] = 0xab;
    nv_keyid_hex(id, hex);
    assert_string_equal(hex, "00000000000000AB");
    assert_int_equal(nv_keyid_parse(hex, back), 0);
    assert_memory_equal(id, back, NV_KEYID_LEN);
    /* minisign 0.11 prints no zero padding; lower case is read too */
    assert_int_equal(nv_keyid_parse("ab", back), 0);
    assert_memory_equal(id, back, NV_KEYID_LEN);

    for (int n = 0; n < 200; n++) {
        randombytes_buf(id, sizeof(id));
        nv_keyid_hex(id, hex);
        assert_int_equal(strlen(hex), 16);
        assert_int_equal(nv_keyid_parse(hex, back), 0);
        assert_memory_equal(id, back, NV_KEYID_LEN);
    }

    assert_int_equal(nv_keyid_parse("", back), NV_EFORMAT);
    assert_int_equal(nv_keyid_parse("08070605040302010", back), NV_EFORMAT);
    assert_int_equal(nv_keyid_parse("080706050403020G", back), NV_EFORMAT);
    assert_int_equal(nv_keyid_parse(" 807060504030201", back), NV_EFORMAT);
}

/* ------------------------------------------------------------------------ */
/* known-answer tests */

static void
test_kat_secret_key_format(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_buf file, out = NV_BUF_INIT;
    const char *a, *b;
    size_t alen, blen;

    (void)state;
    kat_read("minisign-unencrypted.key", &file);
    assert_int_equal(nv_sign_key_format(k, NULL, 0, 0, &out), 0);
    assert_int_equal(out.secret, 1);
    /* the comment line is free text: compare the key line and the end */
    a = second_line(&file, &alen);
    b = second_line(&out, &blen);
    assert_int_equal(alen, 212);
    assert_int_equal(blen, alen);
    assert_memory_equal(a, b, alen);
    assert_int_equal(out.data[out.len - 1], '\n');
    assert_ptr_equal(b + blen + 1, (const char *)out.data + out.len);
    assert_memory_equal(out.data, "untrusted comment: ", 19);
    nv_buf_release(&out);
    nv_buf_release(&file);
    nv_sign_key_free(k);
}

static void
test_kat_secret_key_parse(void **state)
{
    struct nv_sign_key *k = kat_key(), *p = NULL;
    struct nv_buf file;

    (void)state;
    kat_read("minisign-unencrypted.key", &file);
    assert_int_equal(nv_sign_key_parse((const char *)file.data, file.len,
                                       NULL, &p),
                     0);
    assert_non_null(p);
    assert_memory_equal(p->keyid, k->keyid, NV_KEYID_LEN);
    assert_memory_equal(p->sk, k->sk, NV_SIGN_SKLEN);
    nv_sign_key_free(p);
    /* a password is ignored for an unencrypted key */
    assert_int_equal(nv_sign_key_parse((const char *)file.data, file.len,
                                       "pw", &p),
                     0);
    nv_sign_key_free(p);
    nv_buf_release(&file);
    nv_sign_key_free(k);
}

static void
test_kat_public_key(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_sign_pub pub, parsed;
    struct nv_buf file, out = NV_BUF_INIT;
    uint8_t want[NV_SIGN_PKLEN];
    char b64[57];
    const char *line;
    size_t llen;

    (void)state;
    assert_int_equal(sodium_hex2bin(want, sizeof(want), KAT_PK_HEX,
                                    strlen(KAT_PK_HEX), NULL, NULL, NULL),
                     0);
    nv_sign_key_public(k, &pub);
    assert_memory_equal(pub.pk, want, NV_SIGN_PKLEN);
    kat_read("minisign.pub", &file);
    assert_int_equal(nv_sign_pub_format(&pub, &out), 0);
    assert_int_equal(out.len, file.len);
    assert_memory_equal(out.data, file.data, file.len);

    assert_int_equal(nv_sign_pub_parse((const char *)file.data, file.len,
                                       &parsed),
                     0);
    assert_memory_equal(&parsed, &pub, sizeof(pub));

    nv_sign_pub_b64(&pub, b64);
    line = second_line(&file, &llen);
    assert_int_equal(strlen(b64), 56);
    assert_int_equal(llen, 56);
    assert_memory_equal(b64, line, 56);
    memset(&parsed, 0, sizeof(parsed));
    assert_int_equal(nv_sign_pub_parse(b64, 56, &parsed), 0);
    assert_memory_equal(&parsed, &pub, sizeof(pub));
    memset(&parsed, 0, sizeof(parsed));
    assert_int_equal(nv_sign_pub_parse(line, 57, &parsed), 0); /* with LF */
    assert_memory_equal(&parsed, &pub, sizeof(pub));

    nv_buf_release(&out);
    nv_buf_release(&file);
    nv_sign_key_free(k);
}

static void
test_kat_sign(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_buf msg, sig, out = NV_BUF_INIT;

    (void)state;
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.minisig", &sig);
    assert_int_equal(nv_minisign_sign(k, msg.data, msg.len, KAT_UNTRUSTED,
                                      KAT_TRUSTED, &out),
                     0);
    assert_int_equal(out.len, sig.len);
    assert_memory_equal(out.data, sig.data, sig.len);
    nv_buf_release(&out);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

static void
test_kat_verify(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_sign_pub pub;
    struct nv_minisig *s = malloc(sizeof(*s));
    struct nv_buf msg, sig;

    (void)state;
    assert_non_null(s);
    nv_sign_key_public(k, &pub);
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.minisig", &sig);
    assert_int_equal(nv_minisig_parse((const char *)sig.data, sig.len, s), 0);
    assert_memory_equal(s->alg, "ED", 2);
    assert_string_equal(s->trusted, KAT_TRUSTED);
    assert_string_equal(s->untrusted, KAT_UNTRUSTED);
    assert_memory_equal(s->keyid, pub.keyid, NV_KEYID_LEN);
    assert_int_equal(nv_minisign_verify(&pub, s, msg.data, msg.len, 0), 0);
    assert_int_equal(nv_minisign_verify(&pub, s, msg.data, msg.len, 1), 0);
    free(s);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

static void
test_kat_legacy(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_sign_pub pub;
    struct nv_buf msg, sig;
    const char *t;

    (void)state;
    nv_sign_key_public(k, &pub);
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.legacy.minisig", &sig);
    t = (const char *)sig.data;
    assert_int_equal(parse_verify(&pub, t, sig.len, msg.data, msg.len, 0),
                     NV_ESIG);
    assert_int_equal(parse_verify(&pub, t, sig.len, msg.data, msg.len, 1), 0);
    assert_int_equal(parse_verify(&pub, t, sig.len, "hello nova", 10, 1),
                     NV_ESIG);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

static void
test_kat_sshsig_sign(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_buf msg, sig, out = NV_BUF_INIT;

    (void)state;
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.git.sshsig", &sig);
    assert_int_equal(nv_sshsig_sign(k, "git", msg.data, msg.len, &out), 0);
    assert_int_equal(out.len, sig.len);
    assert_memory_equal(out.data, sig.data, sig.len);
    nv_buf_release(&out);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

static void
test_kat_sshsig_verify(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_buf msg, sig;
    uint8_t pk[NV_SIGN_PKLEN];
    const char *t;

    (void)state;
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.git.sshsig", &sig);
    t = (const char *)sig.data;
    memset(pk, 0, sizeof(pk));
    assert_int_equal(nv_sshsig_verify(t, sig.len, "git", msg.data, msg.len,
                                      pk),
                     0);
    assert_memory_equal(pk, k->sk + 32, NV_SIGN_PKLEN);
    assert_int_equal(nv_sshsig_verify(t, sig.len, "git", msg.data, msg.len,
                                      NULL),
                     0);
    /* without the final LF */
    assert_int_equal(nv_sshsig_verify(t, sig.len - 1, "git", msg.data,
                                      msg.len, NULL),
                     0);
    assert_int_equal(nv_sshsig_verify(t, sig.len, "file", msg.data, msg.len,
                                      NULL),
                     NV_ESIG);
    assert_int_equal(nv_sshsig_verify(t, sig.len, "gi", msg.data, msg.len,
                                      NULL),
                     NV_ESIG);
    assert_int_equal(nv_sshsig_verify(t, sig.len, "git", "hello nova", 10,
                                      NULL),
                     NV_ESIG);
    assert_int_equal(nv_sshsig_verify(t, sig.len, "", msg.data, msg.len,
                                      NULL),
                     NV_EINVAL);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

static void
test_kat_ssh_pub(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_buf file, out = NV_BUF_INIT;
    uint8_t pk[NV_SIGN_PKLEN];
    const char *sp;

    (void)state;
    kat_read("test_ed25519.pub", &file);
    assert_int_equal(nv_ssh_pub_format(k->sk + 32, &out), 0);
    assert_int_equal(out.len, 80);
    /* the file is "<key part> test@nova.invalid\n" */
    sp = memchr(file.data + 12, ' ', file.len - 12);
    assert_non_null(sp);
    assert_int_equal((size_t)(sp - (const char *)file.data), out.len);
    assert_memory_equal(out.data, file.data, out.len);

    assert_int_equal(nv_ssh_pub_parse((const char *)file.data, pk), 0);
    assert_memory_equal(pk, k->sk + 32, NV_SIGN_PKLEN);
    memset(pk, 0, sizeof(pk));
    assert_int_equal(nv_ssh_pub_parse((const char *)out.data, pk), 0);
    assert_memory_equal(pk, k->sk + 32, NV_SIGN_PKLEN);

    assert_int_equal(nv_ssh_pub_parse("ssh-rsa AAAA", pk), NV_EKEY);
    assert_int_equal(nv_ssh_pub_parse("ssh-ed25519 ", pk), NV_EKEY);
    assert_int_equal(nv_ssh_pub_parse("", pk), NV_EKEY);
    /* key part without its last character */
    ((char *)out.data)[out.len - 1] = '\0';
    assert_int_equal(nv_ssh_pub_parse((const char *)out.data, pk), NV_EKEY);
    nv_buf_release(&out);
    nv_buf_release(&file);
    nv_sign_key_free(k);
}

/* ------------------------------------------------------------------------ */
/* round trips */

static void
test_encrypted_roundtrip(void **state)
{
    struct nv_sign_key *k = NULL, *p = NULL;
    struct nv_buf out = NV_BUF_INIT;
    const char *t;

    (void)state;
    assert_int_equal(nv_sign_key_generate(&k), 0);
    assert_int_equal(
        nv_sign_key_format(k, "correct horse",
                           crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_INTERACTIVE,
                           crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_INTERACTIVE,
                           &out),
        0);
    assert_int_equal(out.secret, 1);
    t = (const char *)out.data;
    assert_int_equal(nv_sign_key_parse(t, out.len, "correct horse", &p), 0);
    assert_non_null(p);
    assert_memory_equal(p->keyid, k->keyid, NV_KEYID_LEN);
    assert_memory_equal(p->sk, k->sk, NV_SIGN_SKLEN);
    nv_sign_key_free(p);
    p = NULL;
    assert_int_equal(nv_sign_key_parse(t, out.len, "correct horsf", &p),
                     NV_EPASSWORD);
    assert_null(p);
    assert_int_equal(nv_sign_key_parse(t, out.len, "", &p), NV_EPASSWORD);
    assert_int_equal(nv_sign_key_parse(t, out.len, NULL, &p), NV_EPASSWORD);
    assert_null(p);
    nv_buf_release(&out);
    nv_sign_key_free(k);
}

static void
test_unencrypted_roundtrip(void **state)
{
    struct nv_sign_key *k = NULL, *p = NULL;
    struct nv_sign_pub pub, pub2;
    struct nv_buf out = NV_BUF_INIT, pf = NV_BUF_INIT, sig = NV_BUF_INIT;

    (void)state;
    assert_int_equal(nv_sign_key_generate(&k), 0);
    assert_int_equal(nv_sign_key_format(k, NULL, 0, 0, &out), 0);
    assert_int_equal(nv_sign_key_parse((const char *)out.data, out.len, NULL,
                                       &p),
                     0);
    assert_memory_equal(p->keyid, k->keyid, NV_KEYID_LEN);
    assert_memory_equal(p->sk, k->sk, NV_SIGN_SKLEN);

    nv_sign_key_public(k, &pub);
    assert_int_equal(nv_sign_pub_format(&pub, &pf), 0);
    assert_int_equal(nv_sign_pub_parse((const char *)pf.data, pf.len, &pub2),
                     0);
    assert_memory_equal(&pub, &pub2, sizeof(pub));

    /* NULL untrusted comment: the default */
    assert_int_equal(nv_minisign_sign(p, "data", 4, NULL, "t", &sig), 0);
    assert_memory_equal(sig.data, "untrusted comment: signature from nova\n",
                        39);
    assert_int_equal(parse_verify(&pub, (const char *)sig.data, sig.len,
                                  "data", 4, 0),
                     0);
    /* empty message and empty trusted comment */
    nv_buf_reset(&sig);
    assert_int_equal(nv_minisign_sign(p, NULL, 0, "", "", &sig), 0);
    assert_int_equal(parse_verify(&pub, (const char *)sig.data, sig.len, NULL,
                                  0, 0),
                     0);
    assert_int_equal(parse_verify(&pub, (const char *)sig.data, sig.len, "",
                                  0, 0),
                     0);
    nv_buf_release(&sig);
    nv_buf_release(&pf);
    nv_buf_release(&out);
    nv_sign_key_free(p);
    nv_sign_key_free(k);
}

static void
test_sshsig_roundtrip(void **state)
{
    struct nv_sign_key *k = NULL;
    struct nv_buf sig = NV_BUF_INIT;
    uint8_t pk[NV_SIGN_PKLEN];
    static const char msg[] = "tree 0123\nauthor x\n\ncommit\n";

    (void)state;
    assert_int_equal(nv_sign_key_generate(&k), 0);
    assert_int_equal(nv_sshsig_sign(k, "nova-manifest", msg, strlen(msg),
                                    &sig),
                     0);
    assert_int_equal(nv_sshsig_verify((const char *)sig.data, sig.len,
                                      "nova-manifest", msg, strlen(msg), pk),
                     0);
    assert_memory_equal(pk, k->sk + 32, NV_SIGN_PKLEN);
    assert_int_equal(nv_sshsig_verify((const char *)sig.data, sig.len, "git",
                                      msg, strlen(msg), pk),
                     NV_ESIG);
    assert_int_equal(nv_sshsig_sign(k, "", msg, 1, &sig), NV_EINVAL);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

/* Build an SSHSIG over msg by hand with a sha256 hash and check it verifies. */
static void
put_str(uint8_t *b, size_t *n, const void *p, size_t len)
{
    b[(*n)++] = (uint8_t)(len >> 24);
    b[(*n)++] = (uint8_t)(len >> 16);
    b[(*n)++] = (uint8_t)(len >> 8);
    b[(*n)++] = (uint8_t)len;
    memcpy(b + *n, p, len);
    *n += len;
}

static void
test_sshsig_sha256(void **state)
{
    struct nv_sign_key *k = kat_key();
    uint8_t h[32], sd[256], sig[64], pub[64], sb[128], blob[512];
    char b64[1024];
    struct nv_buf arm = NV_BUF_INIT;
    size_t n = 0, pn = 0, sn = 0, bn = 0, bl;

    (void)state;
    crypto_hash_sha256(h, (const uint8_t *)"hello nova\n", 11);
    memcpy(sd, "SSHSIG", 6);
    n = 6;
    put_str(sd, &n, "git", 3);
    put_str(sd, &n, "", 0);
    put_str(sd, &n, "sha256", 6);
    put_str(sd, &n, h, 32);
    crypto_sign_detached(sig, NULL, sd, n, k->sk);
    put_str(pub, &pn, "ssh-ed25519", 11);
    put_str(pub, &pn, k->sk + 32, 32);
    put_str(sb, &sn, "ssh-ed25519", 11);
    put_str(sb, &sn, sig, 64);
    memcpy(blob, "SSHSIG\0\0\0\1", 10);
    bn = 10;
    put_str(blob, &bn, pub, pn);
    put_str(blob, &bn, "git", 3);
    put_str(blob, &bn, "", 0);
    put_str(blob, &bn, "sha256", 6);
    put_str(blob, &bn, sb, sn);
    sodium_bin2base64(b64, sizeof(b64), blob, bn,
                      sodium_base64_VARIANT_ORIGINAL);
    bl = strlen(b64);
    assert_int_equal(nv_buf_adds(&arm, "-----BEGIN SSH SIGNATURE-----\n"), 0);
    for (size_t i = 0; i < bl; i += 76) {
        assert_int_equal(nv_buf_add(&arm, b64 + i, bl - i < 76 ? bl - i : 76),
                         0);
        assert_int_equal(nv_buf_add(&arm, "\n", 1), 0);
    }
    assert_int_equal(nv_buf_adds(&arm, "-----END SSH SIGNATURE-----\n"), 0);
    assert_int_equal(nv_sshsig_verify((const char *)arm.data, arm.len, "git",
                                      "hello nova\n", 11, NULL),
                     0);
    assert_int_equal(nv_sshsig_verify((const char *)arm.data, arm.len, "git",
                                      "hello nova!", 11, NULL),
                     NV_ESIG);
    nv_buf_release(&arm);
    nv_sign_key_free(k);
}

/* ------------------------------------------------------------------------ */
/* refusals */

static void
test_minisig_byte_flips(void **state)
{
    static const uint8_t flips[] = { 0x01, 0x02, 0x04, 0x08, 0x10,
                                     0x20, 0x40, 0x80, 0xff };
    struct nv_sign_key *k = kat_key();
    struct nv_sign_pub pub;
    struct nv_buf msg, sig;
    char *copy;
    size_t ustart, uend, tested = 0;

    (void)state;
    nv_sign_key_public(k, &pub);
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.minisig", &sig);
    copy = malloc(sig.len);
    assert_non_null(copy);
    /* the untrusted comment text is, by design, not signed: a changed
     * character there still verifies, so those bytes are skipped (the
     * prefix and its line end are covered) */
    ustart = strlen("untrusted comment: ");
    uend = (size_t)((const char *)memchr(sig.data, '\n', sig.len)
                    - (const char *)sig.data);
    for (size_t i = 0; i < sig.len; i++) {
        if (i >= ustart && i < uend)
            continue;
        for (size_t f = 0; f < sizeof(flips); f++) {
            int r;
            memcpy(copy, sig.data, sig.len);
            copy[i] = (char)((uint8_t)copy[i] ^ flips[f]);
            r = parse_verify(&pub, copy, sig.len, msg.data, msg.len, 1);
            if (r == 0)
                fail_msg("flip 0x%02x at offset %zu was accepted", flips[f], i);
            tested++;
        }
    }
    assert_true(tested > 1000);
    free(copy);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

static void
test_minisig_truncations(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_sign_pub pub;
    struct nv_buf msg, sig, ext = NV_BUF_INIT;
    const char *t;

    (void)state;
    nv_sign_key_public(k, &pub);
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.minisig", &sig);
    t = (const char *)sig.data;
    for (size_t n = 0; n + 1 < sig.len; n++) {
        if (parse_verify(&pub, t, n, msg.data, msg.len, 1) == 0)
            fail_msg("truncation to %zu bytes was accepted", n);
    }
    /* only the final LF is optional */
    assert_int_equal(parse_verify(&pub, t, sig.len - 1, msg.data, msg.len, 0),
                     0);
    /* anything appended is refused */
    assert_int_equal(nv_buf_add(&ext, sig.data, sig.len), 0);
    assert_int_equal(nv_buf_adds(&ext, "\n"), 0);
    assert_int_not_equal(parse_verify(&pub, (const char *)ext.data, ext.len,
                                      msg.data, msg.len, 1),
                         0);
    nv_buf_reset(&ext);
    assert_int_equal(nv_buf_add(&ext, sig.data, sig.len), 0);
    assert_int_equal(nv_buf_adds(&ext, "x"), 0);
    assert_int_not_equal(parse_verify(&pub, (const char *)ext.data, ext.len,
                                      msg.data, msg.len, 1),
                         0);
    nv_buf_reset(&ext);
    assert_int_equal(nv_buf_add(&ext, sig.data, sig.len), 0);
    assert_int_equal(nv_buf_add(&ext, "", 1), 0); /* a NUL byte */
    assert_int_not_equal(parse_verify(&pub, (const char *)ext.data, ext.len,
                                      msg.data, msg.len, 1),
                         0);
    nv_buf_release(&ext);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

static void
test_wrong_key(void **state)
{
    struct nv_sign_key *k = NULL;
    struct nv_sign_pub pub;
    struct nv_buf msg, sig;
    const char *t;

    (void)state;
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.minisig", &sig);
    t = (const char *)sig.data;
    assert_int_equal(nv_sign_key_generate(&k), 0);
    nv_sign_key_public(k, &pub);
    assert_int_equal(parse_verify(&pub, t, sig.len, msg.data, msg.len, 0),
                     NV_EUNKNOWNKEY);
    /* same key id, different key */
    for (int i = 0; i < NV_KEYID_LEN; i++)
        pub.keyid[i] = (uint8_t)(i + 1);
    assert_int_equal(parse_verify(&pub, t, sig.len, msg.data, msg.len, 0),
                     NV_ESIG);
    nv_sign_key_free(k);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
}

static void
test_tampered_message(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_sign_pub pub;
    struct nv_buf msg, sig;
    const char *t;

    (void)state;
    nv_sign_key_public(k, &pub);
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.minisig", &sig);
    t = (const char *)sig.data;
    assert_int_equal(parse_verify(&pub, t, sig.len, "hello nova\r\n", 12, 0),
                     NV_ESIG);
    assert_int_equal(parse_verify(&pub, t, sig.len, msg.data, msg.len - 1, 0),
                     NV_ESIG);
    msg.data[0] ^= 1;
    assert_int_equal(parse_verify(&pub, t, sig.len, msg.data, msg.len, 0),
                     NV_ESIG);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

static void
test_tampered_trusted_comment(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_sign_pub pub;
    struct nv_minisig *s = malloc(sizeof(*s));
    struct nv_buf msg, sig;

    (void)state;
    assert_non_null(s);
    nv_sign_key_public(k, &pub);
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.minisig", &sig);
    assert_int_equal(nv_minisig_parse((const char *)sig.data, sig.len, s), 0);
    s->trusted[10] = '9';
    assert_int_equal(nv_minisign_verify(&pub, s, msg.data, msg.len, 0),
                     NV_ESIG);
    free(s);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

/* Replace the first occurrence of from with to in the KAT signature and check
 * the parser refuses it. */
static void
expect_parse_refused(const struct nv_buf *sig, const char *from,
                     const char *to)
{
    struct nv_buf b = NV_BUF_INIT;
    struct nv_minisig *s = malloc(sizeof(*s));
    const char *p = strstr((const char *)sig->data, from);
    size_t off;

    assert_non_null(s);
    assert_non_null(p);
    off = (size_t)(p - (const char *)sig->data);
    assert_int_equal(nv_buf_add(&b, sig->data, off), 0);
    assert_int_equal(nv_buf_adds(&b, to), 0);
    assert_int_equal(nv_buf_add(&b, sig->data + off + strlen(from),
                                sig->len - off - strlen(from)),
                     0);
    if (nv_minisig_parse((const char *)b.data, b.len, s) == 0)
        fail_msg("accepted after replacing \"%s\" by \"%s\"", from, to);
    nv_buf_release(&b);
    free(s);
}

static void
test_minisig_strict(void **state)
{
    struct nv_sign_key *k = kat_key();
    struct nv_buf sig, big = NV_BUF_INIT, out = NV_BUF_INIT;
    struct nv_minisig *s = malloc(sizeof(*s));
    char *longc;

    (void)state;
    assert_non_null(s);
    kat_read("msg.txt.minisig", &sig);
    expect_parse_refused(&sig, "\n", "\r\n");
    expect_parse_refused(&sig, "hashed\n", "hashed\r\n");
    expect_parse_refused(&sig, "untrusted comment: ", "untrusted comment:");
    expect_parse_refused(&sig, "untrusted comment: ", "Untrusted comment: ");
    expect_parse_refused(&sig, "trusted comment: t", "trusted comment:t");
    expect_parse_refused(&sig, "\ntrusted comment: ", "\nuntrusted comment: ");
    expect_parse_refused(&sig, "file:", "fi\x01le:");
    expect_parse_refused(&sig, "file:", "fi\x7fle:");
    expect_parse_refused(&sig, "file:", "fi\xc0\xafle:");
    expect_parse_refused(&sig, "minisign", "mini\x1bsign");
    expect_parse_refused(&sig, "hashed\n", "hashed\n\n");
    expect_parse_refused(&sig, "\ntBTG", "\n\ntBTG");
    expect_parse_refused(&sig, "\nRUQB", "\n RUQB");
    expect_parse_refused(&sig, "hAY=\n", "hAY\n");
    expect_parse_refused(&sig, "hAY=\n", "hAY==\n");
    expect_parse_refused(&sig, "\nRUQB", "\nRUQB\nx");

    /* the size cap */
    assert_int_equal(nv_buf_add(&big, sig.data, sig.len), 0);
    while (big.len <= NV_MINISIG_MAX_FILE)
        assert_int_equal(nv_buf_adds(&big, "xxxxxxxxxxxxxxxx"), 0);
    assert_int_equal(nv_minisig_parse((const char *)big.data, big.len, s),
                     NV_ETOOBIG);

    /* comment limits when signing and when parsing */
    longc = malloc(NV_MINISIG_MAX_TRUSTED + 2);
    assert_non_null(longc);
    memset(longc, 'a', NV_MINISIG_MAX_TRUSTED + 1);
    longc[NV_MINISIG_MAX_TRUSTED + 1] = '\0';
    assert_int_equal(nv_minisign_sign(k, "m", 1, NULL, longc, &out),
                     NV_EINVAL);
    assert_int_equal(out.len, 0);
    longc[NV_MINISIG_MAX_TRUSTED] = '\0';
    assert_int_equal(nv_minisign_sign(k, "m", 1, NULL, longc, &out), 0);
    assert_int_equal(nv_minisig_parse((const char *)out.data, out.len, s), 0);
    assert_int_equal(strlen(s->trusted), NV_MINISIG_MAX_TRUSTED);
    nv_buf_reset(&out);
    longc[NV_MINISIG_MAX_UNTRUSTED + 1] = '\0';
    assert_int_equal(nv_minisign_sign(k, "m", 1, longc, "t", &out), NV_EINVAL);
    longc[NV_MINISIG_MAX_UNTRUSTED] = '\0';
    assert_int_equal(nv_minisign_sign(k, "m", 1, longc, "t", &out), 0);
    assert_int_equal(nv_minisig_parse((const char *)out.data, out.len, s), 0);
    nv_buf_reset(&out);
    assert_int_equal(nv_minisign_sign(k, "m", 1, NULL, "a\nb", &out),
                     NV_EINVAL);
    assert_int_equal(nv_minisign_sign(k, "m", 1, "a\rb", "t", &out),
                     NV_EINVAL);
    assert_int_equal(nv_minisign_sign(k, "m", 1, NULL, NULL, &out), NV_EINVAL);
    assert_int_equal(out.len, 0);
    assert_int_equal(nv_minisign_sign(k, "m", 1, NULL, "a\tb", &out), 0);

    free(longc);
    free(s);
    nv_buf_release(&out);
    nv_buf_release(&big);
    nv_buf_release(&sig);
    nv_sign_key_free(k);
}

static void
test_pub_parse_refusals(void **state)
{
    struct nv_buf file;
    struct nv_sign_pub pub;
    char line[80];
    uint8_t raw[42];

    (void)state;
    kat_read("minisign.pub", &file);
    assert_int_equal(nv_sign_pub_parse("", 0, &pub), NV_EKEY);
    assert_int_equal(nv_sign_pub_parse((const char *)file.data, file.len - 2,
                                       &pub),
                     NV_EKEY);
    /* CRLF */
    memcpy(line, "RWQBAgMEBQYHCAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4\r\n",
           58);
    assert_int_equal(nv_sign_pub_parse(line, 58, &pub), NV_EKEY);
    assert_int_equal(nv_sign_pub_parse(line, 56, &pub), 0);
    /* libsodium 1.0.18 decodes bytes 0x80..0xff as '/': must be refused */
    assert_int_equal(line[18], '/');
    line[18] = (char)0xaf;
    assert_int_equal(nv_sign_pub_parse(line, 56, &pub), NV_EKEY);
    line[18] = '/';
    /* an extra line */
    assert_int_equal(
        nv_sign_pub_parse("untrusted comment: x\nRWQBAgMEBQYHCAOhB7/zzhC+HXDdGO"
                          "dLwJln5NYwm6UNXx3chmQSVTG4\n\n",
                          79, &pub),
        NV_EKEY);
    /* wrong comment prefix */
    assert_int_equal(
        nv_sign_pub_parse("trusted comment: x\nRWQBAgMEBQYHCAOhB7/zzhC+HXDdGOdL"
                          "wJln5NYwm6UNXx3chmQSVTG4\n",
                          76, &pub),
        NV_EKEY);
    /* not "Ed" */
    assert_int_equal(sodium_base642bin(raw, sizeof(raw), line, 56, NULL, NULL,
                                       NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    raw[1] = 'D';
    sodium_bin2base64(line, sizeof(line), raw, sizeof(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(nv_sign_pub_parse(line, 56, &pub), NV_EKEY);
    /* 43 bytes */
    sodium_bin2base64(line, sizeof(line), raw, 33,
                      sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(nv_sign_pub_parse(line, strlen(line), &pub), NV_EKEY);
    nv_buf_release(&file);
}

static void
test_seckey_parse_refusals(void **state)
{
    struct nv_buf file, b = NV_BUF_INIT;
    struct nv_sign_key *p = NULL;
    const char *line;
    size_t llen, off;
    uint8_t raw[158];
    char b64[220];

    (void)state;
    kat_read("minisign-unencrypted.key", &file);
    line = second_line(&file, &llen);
    off = (size_t)(line - (const char *)file.data);
    assert_int_equal(sodium_base642bin(raw, sizeof(raw), line, llen, NULL,
                                       NULL, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);

    /* the bare line alone, no comment */
    assert_int_equal(nv_sign_key_parse(line, llen, NULL, &p), NV_EKEY);
    /* truncations */
    for (size_t n = 0; n + 1 < file.len; n++) {
        if (nv_sign_key_parse((const char *)file.data, n, NULL, &p) == 0)
            fail_msg("secret key truncated to %zu bytes was accepted", n);
        assert_null(p);
    }
    /* each field damaged: checksum, key id, secret, algorithm, kdf, B2 */
    {
        static const size_t offs[] = { 0, 2, 3, 4, 54, 62, 100, 126, 157 };
        for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
            raw[offs[i]] ^= 0x01;
            sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
                              sodium_base64_VARIANT_ORIGINAL);
            nv_buf_reset(&b);
            assert_int_equal(nv_buf_add(&b, file.data, off), 0);
            assert_int_equal(nv_buf_adds(&b, b64), 0);
            assert_int_equal(nv_buf_adds(&b, "\n"), 0);
            assert_int_equal(nv_sign_key_parse((const char *)b.data, b.len,
                                               NULL, &p),
                             NV_EKEY);
            assert_null(p);
            raw[offs[i]] ^= 0x01;
        }
    }
    /* stock minisign 0.11 -W writes an all-zero checksum: accepted, and a
     * damaged secret key is still caught by the seed check */
    memset(raw + 126, 0, 32);
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    nv_buf_reset(&b);
    assert_int_equal(nv_buf_add(&b, file.data, off), 0);
    assert_int_equal(nv_buf_adds(&b, b64), 0);
    assert_int_equal(nv_sign_key_parse((const char *)b.data, b.len, NULL, &p),
                     0);
    nv_sign_key_free(p);
    p = NULL;
    for (size_t i = 62; i < 126; i += 7) {
        raw[i] ^= 0x10;
        sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
                          sodium_base64_VARIANT_ORIGINAL);
        nv_buf_reset(&b);
        assert_int_equal(nv_buf_add(&b, file.data, off), 0);
        assert_int_equal(nv_buf_adds(&b, b64), 0);
        assert_int_equal(nv_sign_key_parse((const char *)b.data, b.len, NULL,
                                           &p),
                         NV_EKEY);
        assert_null(p);
        raw[i] ^= 0x10;
    }

    /* pretend it is encrypted: no password -> NV_EPASSWORD, a password
     * (zero limits are clamped up by libsodium) -> wrong password */
    memcpy(raw + 2, "Sc", 2);
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    nv_buf_reset(&b);
    assert_int_equal(nv_buf_add(&b, file.data, off), 0);
    assert_int_equal(nv_buf_adds(&b, b64), 0);
    assert_int_equal(nv_sign_key_parse((const char *)b.data, b.len, NULL, &p),
                     NV_EPASSWORD);
    assert_int_equal(nv_sign_key_parse((const char *)b.data, b.len, "x", &p),
                     NV_EPASSWORD);
    /* absurd scrypt limits are refused before any work */
    memset(raw + 46, 0xff, 8);
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
                      sodium_base64_VARIANT_ORIGINAL);
    nv_buf_reset(&b);
    assert_int_equal(nv_buf_add(&b, file.data, off), 0);
    assert_int_equal(nv_buf_adds(&b, b64), 0);
    assert_int_equal(nv_sign_key_parse((const char *)b.data, b.len, "x", &p),
                     NV_EKEY);
    assert_null(p);
    nv_buf_release(&b);
    nv_buf_release(&file);
}

static void
test_sshsig_refusals(void **state)
{
    static const uint8_t flips[] = { 0x01, 0x02, 0x04, 0x08, 0x10,
                                     0x20, 0x40, 0x80, 0xff };
    struct nv_buf msg, sig, b = NV_BUF_INIT;
    char *copy;

    (void)state;
    kat_read("msg.txt", &msg);
    kat_read("msg.txt.git.sshsig", &sig);
    copy = malloc(sig.len);
    assert_non_null(copy);
    for (size_t i = 0; i < sig.len; i++) {
        for (size_t f = 0; f < sizeof(flips); f++) {
            memcpy(copy, sig.data, sig.len);
            copy[i] = (char)((uint8_t)copy[i] ^ flips[f]);
            if (nv_sshsig_verify(copy, sig.len, "git", msg.data, msg.len,
                                 NULL)
                == 0)
                fail_msg("SSHSIG flip 0x%02x at %zu accepted", flips[f], i);
        }
    }
    for (size_t n = 0; n + 1 < sig.len; n++) {
        if (nv_sshsig_verify((const char *)sig.data, n, "git", msg.data,
                             msg.len, NULL)
            == 0)
            fail_msg("SSHSIG truncated to %zu accepted", n);
    }
    assert_int_equal(nv_buf_add(&b, sig.data, sig.len), 0);
    assert_int_equal(nv_buf_adds(&b, "\n"), 0);
    assert_int_equal(nv_sshsig_verify((const char *)b.data, b.len, "git",
                                      msg.data, msg.len, NULL),
                     NV_EFORMAT);
    nv_buf_reset(&b);
    assert_int_equal(nv_buf_adds(&b, "x"), 0);
    assert_int_equal(nv_buf_add(&b, sig.data, sig.len), 0);
    assert_int_equal(nv_sshsig_verify((const char *)b.data, b.len, "git",
                                      msg.data, msg.len, NULL),
                     NV_EFORMAT);
    free(copy);
    nv_buf_release(&b);
    nv_buf_release(&msg);
    nv_buf_release(&sig);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyid_hex_roundtrip),
        cmocka_unit_test(test_kat_secret_key_format),
        cmocka_unit_test(test_kat_secret_key_parse),
        cmocka_unit_test(test_kat_public_key),
        cmocka_unit_test(test_kat_sign),
        cmocka_unit_test(test_kat_verify),
        cmocka_unit_test(test_kat_legacy),
        cmocka_unit_test(test_kat_sshsig_sign),
        cmocka_unit_test(test_kat_sshsig_verify),
        cmocka_unit_test(test_kat_ssh_pub),
        cmocka_unit_test(test_encrypted_roundtrip),
        cmocka_unit_test(test_unencrypted_roundtrip),
        cmocka_unit_test(test_sshsig_roundtrip),
        cmocka_unit_test(test_sshsig_sha256),
        cmocka_unit_test(test_minisig_byte_flips),
        cmocka_unit_test(test_minisig_truncations),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_tampered_message),
        cmocka_unit_test(test_tampered_trusted_comment),
        cmocka_unit_test(test_minisig_strict),
        cmocka_unit_test(test_pub_parse_refusals),
        cmocka_unit_test(test_seckey_parse_refusals),
        cmocka_unit_test(test_sshsig_refusals),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("minisign", tests, NULL, NULL);
}
