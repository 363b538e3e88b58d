/*
 * utf8.h - the two byte-level helpers the JSON readers share (formats/
 * record.c, the agent's and hub's record check; hub/recparse.c, the hub's
 * zero-allocation reader): four hex digits of a \u escape, and the length
 * of one strictly valid UTF-8 sequence.
 */
#ifndef NOVA_UTF8_H
#define NOVA_UTF8_H

#include <stddef.h>

/* The value of the four hex digits at s into *v; -1 if one is not a hex
 * digit. */
static inline int
nv_hex4(const unsigned char *s, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

/* The length of the UTF-8 sequence at s (*s >= 0x80) within [s, end), or 0
 * if it is not valid: strictly, no overlong forms, surrogates or code points
 * past U+10FFFF. */
static inline size_t
nv_utf8_seq(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0], cp;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(end - s) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

#endif
