/*
 * bech32.c - BIP 173 Bech32 (classic checksum, constant 1), without the
 * 90-character limit.  See ../shared/spec/crypto-formats.md section 1.8.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../formats/errors.h"
#include "bech32.h"

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t
polymod_step(uint32_t chk, uint8_t v)
{
    static const uint32_t gen[5] = { 0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
                                     0x3d4233dd, 0x2a1462b3 };
    uint32_t top = chk >> 25;

    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; i++) {
        if ((top >> i) & 1)
            chk ^= gen[i];
    }
    return chk;
}

static char
to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static char
to_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* Checksum state after the expanded (lower-case) HRP. */
static uint32_t
hrp_polymod(const char *hrp, size_t hlen)
{
    uint32_t chk = 1;

    for (size_t i = 0; i < hlen; i++)
        chk = polymod_step(chk, (uint8_t)((uint8_t)to_lower(hrp[i]) >> 5));
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < hlen; i++)
        chk = polymod_step(chk, (uint8_t)((uint8_t)to_lower(hrp[i]) & 31));
    return chk;
}

static int
charset_index(char c)
{
    const char *p;

    c = to_lower(c);
    if (c == '\0')
        return -1;
    p = strchr(charset, c);
    return p == NULL ? -1 : (int)(p - charset);
}

int
nv_bech32_encode(const char *hrp, const uint8_t *data, size_t len, int upper,
                 char *out, size_t outsz)
{
    size_t hlen = strlen(hrp), dlen, need, o = 0;
    uint32_t chk, acc = 0;
    unsigned bits = 0;

    if (hlen == 0)
        return nv_fail(NV_EINVAL, "bech32: empty human-readable part");
    for (size_t i = 0; i < hlen; i++) {
        if (hrp[i] < 33 || hrp[i] > 126)
            return nv_fail(NV_EINVAL, "bech32: bad character in prefix");
    }
    if (len > (SIZE_MAX - hlen - 8) / 2)
        return nv_fail(NV_ETOOBIG, "bech32: data too long");
    dlen = (len * 8 + 4) / 5;
    need = hlen + 1 + dlen + 6 + 1;
    if (outsz < need)
        return nv_fail(NV_ETOOBIG, "bech32: output buffer too small");

    chk = hrp_polymod(hrp, hlen);
    for (size_t i = 0; i < hlen; i++)
        out[o++] = upper ? to_upper(hrp[i]) : to_lower(hrp[i]);
    out[o++] = '1';
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | data[i];
        bits += 8;
        while (bits >= 5) {
            uint8_t v = (uint8_t)((acc >> (bits - 5)) & 31);
            bits -= 5;
            chk = polymod_step(chk, v);
            out[o++] = charset[v];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0) {
        uint8_t v = (uint8_t)((acc << (5 - bits)) & 31);
        chk = polymod_step(chk, v);
        out[o++] = charset[v];
    }
    for (int i = 0; i < 6; i++)
        chk = polymod_step(chk, 0);
    chk ^= 1;
    for (int i = 0; i < 6; i++)
        out[o++] = charset[(chk >> (5 * (5 - i))) & 31];
    out[o] = '\0';
    if (upper) {
        for (size_t i = hlen + 1; i < o; i++)
            out[i] = to_upper(out[i]);
    }
    return 0;
}

int
nv_bech32_decode(const char *s, const char *hrp, uint8_t *data, size_t max,
                 size_t *len)
{
    size_t slen = strlen(s), hlen = strlen(hrp), sep = 0, o = 0;
    int has_lower = 0, has_upper = 0, found = 0;
    uint32_t chk, acc = 0;
    unsigned bits = 0;

    *len = 0;
    for (size_t i = 0; i < slen; i++) {
        char c = s[i];
        if (c < 33 || c > 126)
            return nv_fail(NV_EFORMAT, "bech32: invalid character");
        if (c >= 'a' && c <= 'z')
            has_lower = 1;
        if (c >= 'A' && c <= 'Z')
            has_upper = 1;
        if (c == '1') {
            sep = i;
            found = 1;
        }
    }
    if (has_lower && has_upper)
        return nv_fail(NV_EFORMAT, "bech32: mixed case");
    if (!found || sep == 0 || slen - sep - 1 < 6)
        return nv_fail(NV_EFORMAT, "bech32: missing separator or checksum");
    if (sep != hlen)
        return nv_fail(NV_EFORMAT, "bech32: wrong prefix");
    for (size_t i = 0; i < hlen; i++) {
        if (to_lower(s[i]) != to_lower(hrp[i]))
            return nv_fail(NV_EFORMAT, "bech32: wrong prefix");
    }

    chk = hrp_polymod(s, hlen);
    for (size_t i = sep + 1; i < slen; i++) {
        int v = charset_index(s[i]);
        if (v < 0)
            return nv_fail(NV_EFORMAT, "bech32: invalid data character");
        chk = polymod_step(chk, (uint8_t)v);
        if (i >= slen - 6)
            continue; /* checksum characters carry no data */
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (o >= max)
                return nv_fail(NV_EFORMAT, "bech32: data too long");
            data[o++] = (uint8_t)((acc >> bits) & 0xff);
            acc &= (1u << bits) - 1;
        }
    }
    if (chk != 1)
        return nv_fail(NV_EFORMAT, "bech32: bad checksum");
    if (bits > 4 || acc != 0)
        return nv_fail(NV_EFORMAT, "bech32: invalid padding");
    *len = o;
    return 0;
}
