/*
 * age.h - the age v1 file format (age-encryption.org/v1), X25519 recipients
 * only, binary (not armored), built on libsodium.  See
 * ../shared/spec/crypto-formats.md section 1 and https://c2sp.org/age.
 *
 *   header:  "age-encryption.org/v1\n", stanzas, "--- <mac>\n"
 *   then:    16-byte nonce, STREAM chunks of 64 KiB + 16-byte tag
 *
 * Encryption and decryption stream: memory use is a few chunks, whatever the
 * size of the plaintext.  Errors map to the testkit's classes:
 *   NV_EHEADER (header failure), NV_ENOMATCH (no match), NV_EHMAC (HMAC
 *   failure), NV_EPAYLOAD (payload failure), NV_ETRUNCATED is never returned
 *   by the decryptor (a short file is a header or payload failure).
 */
#ifndef NOVA_AGE_H
#define NOVA_AGE_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/fileio.h"

#define NV_AGE_KEYLEN 32
#define NV_AGE_CHUNK 65536
#define NV_AGE_RECIPIENT_LEN 62 /* "age1" + 58 */
#define NV_AGE_IDENTITY_LEN 74  /* "AGE-SECRET-KEY-1" + 58 */
#define NV_AGE_MAX_HEADER (64 * 1024) /* refuse headers larger than this */

/* An X25519 identity.  Allocated with sodium_malloc (guarded, locked); free
 * with nv_age_identity_free, which wipes it. */
struct nv_age_identity {
    uint8_t sk[NV_AGE_KEYLEN];
    uint8_t pk[NV_AGE_KEYLEN];
};

/* New random identity. */
int nv_age_identity_generate(struct nv_age_identity **out)
    __attribute__((warn_unused_result));
/* From its secret bytes (pk computed). */
int nv_age_identity_from_secret(const uint8_t sk[NV_AGE_KEYLEN],
                                struct nv_age_identity **out)
    __attribute__((warn_unused_result));
void nv_age_identity_free(struct nv_age_identity *id); /* NULL ok */

/* Bech32 text forms.  out must hold LEN + 1 bytes; NUL-terminated. */
void nv_age_recipient_encode(const uint8_t pk[NV_AGE_KEYLEN],
                             char out[NV_AGE_RECIPIENT_LEN + 1]);
void nv_age_identity_encode(const struct nv_age_identity *id,
                            char out[NV_AGE_IDENTITY_LEN + 1]);
/* Parse "age1..." (exact string, no whitespace). NV_EKEY on any error. */
int nv_age_recipient_parse(const char *s, uint8_t pk[NV_AGE_KEYLEN])
    __attribute__((warn_unused_result));
/* Parse "AGE-SECRET-KEY-1..." (exact string). NV_EKEY on any error. */
int nv_age_identity_parse(const char *s, struct nv_age_identity **out)
    __attribute__((warn_unused_result));

/* Identity file text as age-keygen writes it: "# created: ...",
 * "# public key: age1...", the secret line.  out is marked secret. */
int nv_age_identity_file_format(const struct nv_age_identity *id,
                                struct nv_buf *out)
    __attribute__((warn_unused_result));
/* Parse an identity file (age -i format: '#' comments and empty lines
 * ignored, one key per line).  Returns the first identity; more than
 * max_ids are refused.  Fills ids[0..*n). Caller frees each. */
int nv_age_identity_file_parse(const char *text, size_t len,
                               struct nv_age_identity **ids, size_t max_ids,
                               size_t *n) __attribute__((warn_unused_result));

/* Streaming encryptor.  Output goes to sink as it is produced. */
struct nv_age_enc;

int nv_age_enc_new(struct nv_age_enc **out,
                   const uint8_t (*recipients)[NV_AGE_KEYLEN], size_t nrcpt,
                   nv_write_fn sink, void *sink_ctx)
    __attribute__((warn_unused_result));
/* Deterministic variant for known-answer tests: the given file key, one
 * ephemeral secret per recipient (esk[i]) and payload nonce. */
int nv_age_enc_new_det(struct nv_age_enc **out,
                       const uint8_t (*recipients)[NV_AGE_KEYLEN], size_t nrcpt,
                       const uint8_t file_key[16],
                       const uint8_t (*esk)[NV_AGE_KEYLEN],
                       const uint8_t nonce[16], nv_write_fn sink,
                       void *sink_ctx) __attribute__((warn_unused_result));
int nv_age_enc_write(struct nv_age_enc *e, const void *p, size_t n)
    __attribute__((warn_unused_result));
/* Seal the last chunk. After it, only free. */
int nv_age_enc_finish(struct nv_age_enc *e) __attribute__((warn_unused_result));
/* Wipes keys; NULL ok. */
void nv_age_enc_free(struct nv_age_enc *e);

/* Streaming decryptor.  nv_age_dec_new reads and checks the header (parse,
 * unwrap with the given identities, verify the MAC) before returning. */
struct nv_age_dec;

int nv_age_dec_new(struct nv_age_dec **out,
                   struct nv_age_identity *const *ids, size_t nids,
                   nv_read_fn src, void *src_ctx)
    __attribute__((warn_unused_result));
/* Read plaintext: returns bytes (> 0), 0 at the authenticated end of the
 * payload, or a negative code.  Only authenticated plaintext is returned;
 * once an error is returned, every later call returns it again. */
long nv_age_dec_read(struct nv_age_dec *d, void *p, size_t n);
/* Bytes of ciphertext consumed so far (header included). */
uint64_t nv_age_dec_consumed(const struct nv_age_dec *d);
void nv_age_dec_free(struct nv_age_dec *d); /* wipes; NULL ok */

#endif
