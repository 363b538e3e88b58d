#include <errno.h>
#include <sys/statvfs.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

/* details are cut to fit their buffer on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static char detail[1024];
static int detail_code;

static const struct {
    int code;
    int status;
    const char *msg;
} table[] = {
    { NV_OK, 0, "success" },
    { NV_ESYS, 3, "system error" },
    { NV_ENOMEM, 3, "out of memory" },
    { NV_EINVAL, 2, "invalid argument" },
    { NV_EFORMAT, 10, "malformed input" },
    { NV_ETRUNCATED, 11, "truncated input" },
    { NV_ETOOBIG, 12, "over the size limit" },
    { NV_ESIG, 13, "bad signature" },
    { NV_EUNKNOWNKEY, 14, "unknown signing key" },
    { NV_EREVOKED, 15, "revoked key" },
    { NV_EREPLAY, 16, "replayed bundle" },
    { NV_ESEQGAP, 17, "gap in sequence" },
    { NV_EFORK, 18, "forked chain" },
    { NV_EHASH, 19, "payload does not match its manifest" },
    { NV_ENOMATCH, 20, "not encrypted to any of our keys" },
    { NV_EHEADER, 21, "bad encryption header" },
    { NV_EHMAC, 22, "encryption header MAC failure" },
    { NV_EPAYLOAD, 23, "encrypted payload damaged" },
    { NV_EUNSAFE, 24, "unsafe archive entry" },
    { NV_EBOMB, 25, "decompressed size over the cap" },
    { NV_EKEY, 26, "bad key file" },
    { NV_EPASSWORD, 27, "wrong passphrase" },
    { NV_EEXIST, 28, "already exists" },
    { NV_ENOTFOUND, 29, "not found" },
    { NV_ECONFIG, 30, "configuration error" },
    { NV_EWRONGRCPT, 31, "addressed to another recipient" },
    { NV_ECORRUPT, 32, "local state is corrupt" },
    { NV_ENOSPC, 33, "no space left on device" },
    { NV_ECOUNTS, 34, "payload counts differ from the manifest" },
    { NV_EWAITING, 36, "bundles wait for a missing one" },
    { NV_ESCHEMA, 37, "store written by a newer version" },
    { NV_ESTALE, 38, "stale bundle (sealed before a rebase)" },
};

static int
find(int code)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].code == code)
            return (int)i;
    return -1;
}

static int
vfail(int code, int keep_prefix, const char *fmt, va_list ap)
{
    char tmp[sizeof(detail) / 2], old[sizeof(detail) / 2];
    int had = detail[0] != '\0' && detail_code == code;

    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    snprintf(old, sizeof(old), "%s", had ? detail : nv_strerror(code));
    if (keep_prefix)
        snprintf(detail, sizeof(detail), "%s: %s", tmp, old);
    else
        snprintf(detail, sizeof(detail), "%s", tmp);
    detail_code = code;
    return code;
}

int
nv_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int
nv_fail_prefix(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(code, 1, fmt, ap);
    va_end(ap);
    return code;
}

int
nv_fail_errno(const char *fmt, ...)
{
    int e = errno;
    int code = e == ENOSPC || e == EDQUOT ? NV_ENOSPC : NV_ESYS;
    char tmp[sizeof(detail) - 128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    snprintf(detail, sizeof(detail), "%s: %s", tmp, strerror(e));
    detail_code = code;
    errno = e;
    return code;
}

const char *
nv_strerror(int code)
{
    int i = find(code);
    return i < 0 ? "unknown error" : table[i].msg;
}

const char *
nv_errmsg(int code)
{
    if (detail[0] != '\0' && detail_code == code)
        return detail;
    return nv_strerror(code);
}

void
nv_error_clear(void)
{
    detail[0] = '\0';
    detail_code = 0;
}

int
nv_exit_status(int code)
{
    int i = find(code);
    return i < 0 ? 1 : table[i].status;
}

const char *
nv_exit_table(void)
{
    static char text[2048];
    size_t off = 0;

    if (text[0] != '\0')
        return text;
    off += (size_t)snprintf(text + off, sizeof(text) - off,
                            "  %3d  %s\n  %3d  %s\n", 0, "success", 1,
                            "failure (see message)");
    for (size_t i = 1; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].status < 10 && table[i].code != NV_EINVAL &&
            table[i].code != NV_ESYS)
            continue;
        off += (size_t)snprintf(text + off, sizeof(text) - off, "  %3d  %s\n",
                                table[i].status,
                                table[i].code == NV_EINVAL ? "usage error"
                                                           : table[i].msg);
        if (off >= sizeof(text))
            break;
    }
    return text;
}

int
nv_lmdb_code(int rc, const char *dir)
{
    struct statvfs sv;

    if (rc == -30792) /* MDB_MAP_FULL */
        return NV_ENOSPC;
    if (rc <= 0)
        return NV_ECORRUPT;
    if (rc == ENOSPC || rc == EDQUOT)
        return NV_ENOSPC;
    if (rc == ENOMEM)
        return NV_ENOMEM;
    if (rc == EIO && dir != NULL && statvfs(dir, &sv) == 0 &&
        (uint64_t)sv.f_bavail * sv.f_frsize < ((uint64_t)64 << 20))
        return NV_ENOSPC;
    return NV_ESYS;
}
