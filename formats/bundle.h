/*
 * bundle.h - the bundle file: the only thing that crosses between sites.
 *
 * A bundle is a POSIX ustar archive with exactly three members, in order,
 * written canonically (mode 0644, uid/gid 0, mtime 0, empty user and group
 * names) so any stock tar lists and extracts it and any changed byte is
 * detected:
 *
 *   manifest          the signed cleartext description (manifest.h)
 *   manifest.minisig  minisign signature of manifest (algorithm ED)
 *   payload.age       age v1 encryption, to the recipient, of a
 *                     zstd-compressed tar of payload files
 *
 * followed by two zero blocks.  An auditor checks one with stock tools:
 *   tar xf B manifest manifest.minisig payload.age
 *   minisign -Vm manifest -p sender.pub
 *   sha256sum payload.age              (equals payload-sha256 in manifest)
 *   age -d -i key payload.age | zstd -d | tar t
 *
 * Writing and reading stream: memory stays bounded (a few MiB) whatever the
 * size of the payload.  A writer uses threads of its own (bundle.c) but is
 * not itself thread-safe: one thread calls it.
 */
#ifndef NOVA_BUNDLE_H
#define NOVA_BUNDLE_H

#include <stdint.h>

#include "../keys/age.h"
#include "../keys/minisign.h"
#include "manifest.h"

#define NV_BUNDLE_EXT ".nova"
#define NV_SIG_MAX 2048           /* a nova .minisig is under 400 bytes */
#define NV_ENTRY_CHUNK (4u << 20) /* records are grouped in 4 MiB entries */
#define NV_ENTRY_NAME_MAX 100
/* The only untrusted comments accepted in manifest.minisig: nova's own and
 * the one stock `minisign -S` writes. */
#define NV_SIG_COMMENT "nova bundle manifest signature"
#define NV_SIG_COMMENT_STOCK "signature from minisign secret key"

/* Parameters of a bundle being written.  Pointers are borrowed until
 * nv_bundle_writer_finish or _free returns. */
struct nv_bundle_params {
    int kind;
    const char *sender;
    const char *recipient;
    const struct nv_sign_key *sign_key;
    const uint8_t *recipient_pk; /* 32-byte age recipient */
    uint64_t seq;
    const uint8_t *prev; /* 32 bytes, NULL for seq 1 */
    uint32_t part; /* 1, 2, ... within one change set */
    int final;     /* last part of the change set */
    int64_t created;
    int zstd_level;  /* 0 = default (1) */
    int zstd_threads;/* compression threads: 0 = automatic (one per
                      * core, at most 4).  The writer also runs one thread
                      * for encryption besides the caller's. */
    const char *tmp_dir; /* where the payload is spooled (same fs as output:
                          * the spool then becomes the bundle, no copy) */
    const char *ledger_head; /* 40 hex, or NULL/"": the manifest's optional
                              * ledger-head line (manifest.h) */
    int has_acked;   /* the manifest's optional acked line (manifest.h) */
    uint64_t acked;
    uint64_t epoch;  /* the manifest's optional epoch line (0: none) */
    int snapshot;    /* the manifest's optional "snapshot: yes" line */
};

struct nv_bundle_writer;

int nv_bundle_writer_new(struct nv_bundle_writer **out,
                         const struct nv_bundle_params *p)
    __attribute__((warn_unused_result));
/* Add a whole payload file (name: [A-Za-z0-9._-], no leading dot). */
int nv_bundle_add_file(struct nv_bundle_writer *w, const char *name,
                       const void *data, size_t len)
    __attribute__((warn_unused_result));
/* Append one change record (one line, newline added) to the current
 * "changes-NNNNNN.ndjson" payload file; a new file starts every 4 MiB. */
int nv_bundle_add_record(struct nv_bundle_writer *w, const void *line,
                         size_t len) __attribute__((warn_unused_result));
/* Set the record counts written into the manifest. */
void nv_bundle_set_counts(struct nv_bundle_writer *w, uint64_t records,
                          uint64_t upserts, uint64_t deletes, uint64_t rejects);
/* Mark this bundle as the last part of its change set (or not). */
void nv_bundle_set_final(struct nv_bundle_writer *w, int final);
/* Uncompressed payload bytes added so far (for splitting by a cap). */
uint64_t nv_bundle_raw_bytes(const struct nv_bundle_writer *w);
/* Finish: seal the payload, write manifest and signature, and write the
 * bundle file atomically at path (never overwriting).  id gets the bundle id
 * (SHA-256 of the manifest); manifest_out (may be NULL) a copy of it. */
int nv_bundle_writer_finish(struct nv_bundle_writer *w, const char *path,
                            uint8_t id[32], struct nv_manifest *manifest_out)
    __attribute__((warn_unused_result));
/* Write a bundle container at path (atomically, never overwriting) from
 * its three members; the payload is read from payload_fd at offset 0.  The
 * writer uses it; so can tools that assemble a bundle from members made by
 * stock minisign and age. */
int nv_bundle_write_container(const char *path, const struct nv_buf *manifest,
                              const struct nv_buf *sig, int payload_fd,
                              uint64_t payload_size)
    __attribute__((warn_unused_result));
/* Release; removes spool files of an unfinished writer. NULL ok. */
void nv_bundle_writer_free(struct nv_bundle_writer *w);

/* A bundle being read. */
struct nv_bundle {
    int fd;
    uint64_t file_size;
    struct nv_buf manifest_text;
    struct nv_buf sig_text;
    struct nv_manifest m;
    struct nv_minisig sig;
    uint8_t id[32];
    uint64_t payload_off;
    int verified;
    int hash_ok; /* payload hash already checked */
};

/* Find the signer's public key: 0 and *out filled, NV_EUNKNOWNKEY, or
 * NV_EREVOKED (with a detail naming the key). */
typedef int (*nv_key_lookup_fn)(void *ctx, const char *entity,
                                const uint8_t keyid[NV_KEYID_LEN],
                                struct nv_sign_pub *out);

/* Open path and check the container and manifest (no trust yet): canonical
 * ustar, member names, sizes, manifest syntax, payload size <= max_payload
 * (0 = no limit) and equal to the manifest's.  On failure b is released. */
int nv_bundle_read(struct nv_bundle *b, const char *path, uint64_t max_payload)
    __attribute__((warn_unused_result));
/* Verify the manifest signature with the key lookup. */
int nv_bundle_verify(struct nv_bundle *b, nv_key_lookup_fn lookup, void *ctx)
    __attribute__((warn_unused_result));

/* Check payload.age against the manifest's payload-sha256 (NV_EHASH). */
int nv_bundle_check_hash(struct nv_bundle *b) __attribute__((warn_unused_result));

/* Receives the payload files.  Data reaches the sink before the payload hash
 * is checked at the end: stage it, and commit only when
 * nv_bundle_open_payload returns 0. */
struct nv_payload_sink {
    int (*entry)(void *ctx, const char *name, uint64_t size);
    int (*data)(void *ctx, const void *p, size_t n);
    int (*end)(void *ctx);
    void *ctx;
};

struct nv_open_limits {
    uint64_t max_unpacked; /* total uncompressed bytes; 0 = 16 GiB */
    uint32_t max_ratio;    /* uncompressed/compressed over 64 MiB; 0 = 1000 */
    uint32_t max_entries;  /* 0 = 100000 */
};

/* Decrypt with ids (the recipient key must be one of theirs, else
 * NV_EWRONGRCPT), decompress and untar into sink, then check the payload
 * hash.  Requires a verified bundle. */
int nv_bundle_open_payload(struct nv_bundle *b,
                           struct nv_age_identity *const *ids, size_t nids,
                           const struct nv_payload_sink *sink,
                           const struct nv_open_limits *lim)
    __attribute__((warn_unused_result));
void nv_bundle_release(struct nv_bundle *b); /* safe twice */

/* Canonical file name: "<sender>-<recipient>-<seq, 10 digits>.<kind>.nova". */
void nv_bundle_filename(const struct nv_manifest *m, char *out, size_t n);

/* Is name a safe payload file name? */
int nv_entry_name_valid(const char *name);

#endif
