/*
 * bech32.h - BIP 173 Bech32 (not Bech32m), without the 90-character limit,
 * as age uses it for its key strings.
 */
#ifndef NOVA_BECH32_H
#define NOVA_BECH32_H

#include <stddef.h>
#include <stdint.h>

/* Encode hrp + data (8-bit bytes) into out (size outsz); upper selects the
 * upper-case form.  Returns 0, or NV_ETOOBIG if out is too small. */
int nv_bech32_encode(const char *hrp, const uint8_t *data, size_t len,
                     int upper, char *out, size_t outsz);
/* Decode s: checks case, separator, checksum and padding; the HRP must equal
 * hrp (compared case-insensitively).  Writes at most max bytes to data and
 * sets *len.  NV_EFORMAT on any error. */
int nv_bech32_decode(const char *s, const char *hrp, uint8_t *data, size_t max,
                     size_t *len);

#endif
