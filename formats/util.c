#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "util.h"

char *
nv_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
nv_unhex(const char *s, uint8_t *p, size_t n)
{
    if (strlen(s) != 2 * n)
        return NV_EFORMAT;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return NV_EFORMAT;
        p[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int
nv_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > NV_NAME_MAX)
        return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int
nv_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
        return NV_EFORMAT;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return NV_EFORMAT;
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return NV_EFORMAT;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

char *
nv_time_format(int64_t t, char out[21])
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

int
nv_time_parse(const char *s, int64_t *out)
{
    struct tm tm;
    char back[21];
    const char *end;

    memset(&tm, 0, sizeof(tm));
    if (strlen(s) != 20)
        return NV_EFORMAT;
    end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0')
        return NV_EFORMAT;
    *out = (int64_t)timegm(&tm);
    /* reject non-canonical forms such as month 13 normalised by timegm */
    if (strcmp(nv_time_format(*out, back), s) != 0)
        return NV_EFORMAT;
    return 0;
}

int64_t
nv_now(void)
{
    const char *e = getenv("NOVA_NOW");
    uint64_t v;

    if (e != NULL && nv_parse_u64(e, &v) == 0)
        return (int64_t)v;
    return (int64_t)time(NULL);
}
