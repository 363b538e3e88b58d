/*
 * minisign.h - Ed25519 keys and signatures in the minisign formats
 * (jedisct1/minisign), and SSH signatures (SSHSIG) with the same key type for
 * signed git commits.  See ../shared/spec/crypto-formats.md sections 2 and 3.
 *
 *   public key  42 bytes  "Ed" | keyid(8) | pk(32)
 *   secret key 158 bytes  "Ed" | kdf(2) | "B2" | salt(32) | ops(8) | mem(8)
 *                         | keyid(8) | sk(64) | checksum(32)
 *   signature   4 lines   untrusted comment, b64("ED"|keyid|sig), trusted
 *                         comment, b64(global sig)
 */
#ifndef NOVA_MINISIGN_H
#define NOVA_MINISIGN_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/buf.h"

#define NV_KEYID_LEN 8
#define NV_SIGN_PKLEN 32
#define NV_SIGN_SKLEN 64
#define NV_MINISIG_MAX_UNTRUSTED 1003
#define NV_MINISIG_MAX_TRUSTED 8173
#define NV_MINISIG_MAX_FILE 10240 /* larger .minisig files are refused */

struct nv_sign_pub {
    uint8_t keyid[NV_KEYID_LEN];
    uint8_t pk[NV_SIGN_PKLEN];
};

/* Secret signing key.  Allocated with sodium_malloc; free with
 * nv_sign_key_free, which wipes it. */
struct nv_sign_key {
    uint8_t keyid[NV_KEYID_LEN];
    uint8_t sk[NV_SIGN_SKLEN]; /* seed(32) | pk(32) */
};

struct nv_minisig {
    char untrusted[NV_MINISIG_MAX_UNTRUSTED + 1];
    uint8_t alg[2]; /* "ED" (prehashed) or "Ed" (legacy) */
    uint8_t keyid[NV_KEYID_LEN];
    uint8_t sig[64];
    char trusted[NV_MINISIG_MAX_TRUSTED + 1];
    uint8_t global[64];
};

/* New random key with a random key id. */
int nv_sign_key_generate(struct nv_sign_key **out)
    __attribute__((warn_unused_result));
/* From a 32-byte seed and key id (known-answer tests). */
int nv_sign_key_from_seed(const uint8_t seed[32],
                          const uint8_t keyid[NV_KEYID_LEN],
                          struct nv_sign_key **out)
    __attribute__((warn_unused_result));
void nv_sign_key_free(struct nv_sign_key *k); /* NULL ok */
void nv_sign_key_public(const struct nv_sign_key *k, struct nv_sign_pub *out);

/* Key id as minisign displays it: the 8 bytes as a little-endian u64 in
 * upper-case hex, zero-padded to 16 digits. */
void nv_keyid_hex(const uint8_t keyid[NV_KEYID_LEN], char out[17]);
/* Parse that form back. NV_EFORMAT on error. */
int nv_keyid_parse(const char *hex, uint8_t keyid[NV_KEYID_LEN]);

/* Public key: the file (two lines, "untrusted comment: ..." first) or the
 * bare base64 line alone.  NV_EKEY on error. */
int nv_sign_pub_parse(const char *text, size_t len, struct nv_sign_pub *out)
    __attribute__((warn_unused_result));
/* The 56-character base64 line (no newline) into out (57 bytes). */
void nv_sign_pub_b64(const struct nv_sign_pub *pk, char out[57]);
/* The whole minisign.pub file text. */
int nv_sign_pub_format(const struct nv_sign_pub *pk, struct nv_buf *out)
    __attribute__((warn_unused_result));

/* Secret key file.  password NULL writes/reads an unencrypted key (kdf 0x0000;
 * reading an encrypted key with NULL password fails with NV_EPASSWORD).  A
 * written encrypted key uses scrypt limits opslimit/memlimit (0, 0 = the
 * minisign defaults).  out is marked secret. */
int nv_sign_key_format(const struct nv_sign_key *k, const char *password,
                       uint64_t opslimit, uint64_t memlimit,
                       struct nv_buf *out) __attribute__((warn_unused_result));
int nv_sign_key_parse(const char *text, size_t len, const char *password,
                      struct nv_sign_key **out)
    __attribute__((warn_unused_result));

/* Sign msg: writes the 4-line .minisig text (algorithm "ED").  Comments must
 * be one line each, printable; NULL untrusted gives "signature from nova". */
int nv_minisign_sign(const struct nv_sign_key *k, const void *msg, size_t len,
                     const char *untrusted, const char *trusted,
                     struct nv_buf *out) __attribute__((warn_unused_result));
/* Strict parse of a .minisig text (4 lines, LF ends, optional final LF). */
int nv_minisig_parse(const char *text, size_t len, struct nv_minisig *out)
    __attribute__((warn_unused_result));
/* Verify: key id must match pk (else NV_EUNKNOWNKEY), both signatures must
 * verify (else NV_ESIG).  allow_legacy accepts "Ed" signatures. */
int nv_minisign_verify(const struct nv_sign_pub *pk, const struct nv_minisig *s,
                       const void *msg, size_t len, int allow_legacy)
    __attribute__((warn_unused_result));

/* SSHSIG.  "ssh-ed25519 AAAA..." public key line (no newline, no comment). */
int nv_ssh_pub_format(const uint8_t pk[NV_SIGN_PKLEN], struct nv_buf *out)
    __attribute__((warn_unused_result));
int nv_ssh_pub_parse(const char *line, uint8_t pk[NV_SIGN_PKLEN])
    __attribute__((warn_unused_result));
/* Armored "-----BEGIN SSH SIGNATURE-----" text, namespace ns, sha512, exactly
 * as ssh-keygen -Y sign writes it (final LF included). */
int nv_sshsig_sign(const struct nv_sign_key *k, const char *ns, const void *msg,
                   size_t len, struct nv_buf *out)
    __attribute__((warn_unused_result));
/* Verify an armored SSHSIG over msg with namespace ns; *pk_out (if not NULL)
 * gets the signer's public key.  NV_EFORMAT, NV_ESIG. */
int nv_sshsig_verify(const char *armored, size_t alen, const char *ns,
                     const void *msg, size_t len,
                     uint8_t pk_out[NV_SIGN_PKLEN])
    __attribute__((warn_unused_result));

#endif
