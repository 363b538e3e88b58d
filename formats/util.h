/*
 * util.h - small helpers shared by every module: hex, names, time, numbers.
 */
#ifndef NOVA_UTIL_H
#define NOVA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Lower-case hex of n bytes into out (2n + 1 bytes). Returns out. */
char *nv_hex(const uint8_t *p, size_t n, char *out);
/* Parse exactly 2n lower- or upper-case hex digits. NV_EFORMAT on error. */
int nv_unhex(const char *s, uint8_t *p, size_t n);

/* Entity names: 1..63 bytes of [a-z0-9._-], starting with [a-z0-9]. */
#define NV_NAME_MAX 63
int nv_name_valid(const char *s);

/* A 64-bit number as 8 big-endian bytes (LMDB keys that sort in number
 * order), and back. */
static inline void
nv_be64_put(uint8_t b[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
}
static inline uint64_t
nv_be64_get(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* Parse a decimal uint64 (no sign, no leading zero unless "0", no spaces). */
int nv_parse_u64(const char *s, uint64_t *out);

/* RFC 3339 UTC "2026-11-28T15:00:00Z" into out (21 bytes). */
char *nv_time_format(int64_t t, char out[21]);
/* Parse that exact form. NV_EFORMAT on error. */
int nv_time_parse(const char *s, int64_t *out);
/* Current time; NOVA_NOW=<unix seconds> overrides it (tests, demos). */
int64_t nv_now(void);

#endif
