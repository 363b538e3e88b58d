/*
 * erased.h - what stays of a bundle file once a data subject's erasure has
 * reached it: its signed manifest and signature, byte for byte, and a note
 * (no personal data), in a ustar archive named "<bundle name>.erased":
 *
 *   manifest            the bundle's manifest, byte for byte
 *   manifest.minisig    its signature, byte for byte
 *   erased              "nova-erased: 1", the bundle file's SHA-256 (the
 *                       ledger's bundle-sha256), when and why
 *
 * The chain still verifies (a bundle's id is the SHA-256 of its manifest,
 * the next one's prev), and so does the manifest's signature; what can no
 * longer be checked is the payload's hash, since the payload is gone: that
 * is the trade-off an erasure makes (README, "Erasure and the archives").
 * Stock tools: tar -xOf X.erased manifest | minisign -Vm - ...
 */
#ifndef NOVA_ERASED_H
#define NOVA_ERASED_H

#include <stdint.h>

#include "buf.h"
#include "fileio.h"

#define NV_ERASED_EXT ".erased"

/* Replace the bundle file at path by path + ".erased" holding manifest,
 * sig and a note naming file_sha (the whole file's SHA-256) and why (a
 * sentence without personal data): written atomically, then the bundle
 * file removed. */
int nv_erased_replace(const char *path, const struct nv_buf *manifest,
                      const struct nv_buf *sig, const uint8_t file_sha[32], const char *why)
    __attribute__((warn_unused_result));

/* Read an ".erased" file: manifest, sig and the file SHA-256 its note
 * names.  NV_EFORMAT when it is not one. */
int nv_erased_read(const char *path, struct nv_buf *manifest, struct nv_buf *sig,
                   uint8_t file_sha[32]) __attribute__((warn_unused_result));

#endif
