/*
 * errors.h - nova's error codes, messages and exit statuses.
 *
 * Modules return int: 0 on success, a negative NV_E* code on failure.  A
 * failing function may record a detail sentence with nv_fail(); commands print
 * it with nv_errmsg() and exit with nv_exit_status(code).  Only commands exit.
 */
#ifndef NOVA_ERRORS_H
#define NOVA_ERRORS_H

enum nv_error {
    NV_OK = 0,
    NV_ESYS = -1,        /* system call failed; errno holds the cause */
    NV_ENOMEM = -2,      /* out of memory */
    NV_EINVAL = -3,      /* bad argument or usage */
    NV_EFORMAT = -4,     /* malformed input */
    NV_ETRUNCATED = -5,  /* input ends too early */
    NV_ETOOBIG = -6,     /* over a configured or format limit */
    NV_ESIG = -7,        /* signature does not verify */
    NV_EUNKNOWNKEY = -8, /* signed by a key that is not enrolled/trusted */
    NV_EREVOKED = -9,    /* signed by a revoked key */
    NV_EREPLAY = -10,    /* sequence number already applied */
    NV_ESEQGAP = -11,    /* sequence number skips ahead: a bundle is missing */
    NV_EFORK = -12,      /* previous-bundle hash differs from the chain */
    NV_EHASH = -13,      /* payload does not match the signed manifest */
    NV_ENOMATCH = -14,   /* age: no identity of ours opens the file */
    NV_EHEADER = -15,    /* age: header failure */
    NV_EHMAC = -16,      /* age: header MAC failure */
    NV_EPAYLOAD = -17,   /* age: payload (STREAM) failure */
    NV_EUNSAFE = -18,    /* archive entry with an unsafe path or type */
    NV_EBOMB = -19,      /* decompressed size over the cap */
    NV_EKEY = -20,       /* malformed or unusable key file */
    NV_EPASSWORD = -21,  /* wrong passphrase for a key file */
    NV_EEXIST = -22,     /* would overwrite something that exists */
    NV_ENOTFOUND = -23,  /* named thing does not exist */
    NV_ECONFIG = -24,    /* configuration error */
    NV_EWRONGRCPT = -25, /* bundle addressed to someone else */
    NV_ECORRUPT = -26,   /* local state is inconsistent */
    NV_ENOSPC = -27,     /* disk full */
    NV_ECOUNTS = -28,    /* payload's counts differ from its signed manifest */
    /* -29 (status 35) is left to another change */
    NV_EWAITING = -30,   /* bundles wait in the inbox for a missing one */
    NV_ESCHEMA = -31,    /* a store of a newer schema than this program knows */
    NV_ESTALE = -32,     /* sealed before a rebase of its stream: stale */
    NV_ERRMIN = -32
};

/* Record a detail sentence (printf-style, no trailing newline) for code and
 * return code, so callers can write `return nv_fail(NV_EFORMAT, "...")`.  The
 * detail replaces any earlier one. */
int nv_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like nv_fail, for system errors: appends ": strerror(errno)" and maps ENOSPC
 * to NV_ENOSPC. Returns NV_ESYS or NV_ENOSPC. */
int nv_fail_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the recorded detail with "prefix: " (used by outer layers). */
int nv_fail_prefix(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Generic sentence for a code. Static string. */
const char *nv_strerror(int code);

/* The last recorded detail, or nv_strerror(code) when none matches code.
 * Borrowed: valid until the next nv_fail*. */
const char *nv_errmsg(int code);

/* Clear the recorded detail. */
void nv_error_clear(void);

/* Process exit status for a code; one table shared by every binary:
 * 0 ok, 1 failure, 2 usage, 3 system, and 10.. one per refusal reason. */
int nv_exit_status(int code);

/* The exit-status table as text, for --help and the README. */
const char *nv_exit_table(void);

/* The NV_E code of an LMDB return code rc.  System error numbers (rc > 0)
 * by their cause: ENOSPC and EDQUOT, and EIO when the file system holding
 * dir (NULL: unknown) has less than 64 MiB free, are NV_ENOSPC (a full
 * disk); ENOMEM NV_ENOMEM; other I/O errors NV_ESYS.  LMDB's MDB_MAP_FULL
 * is NV_ENOSPC; its other codes (a corrupt page, a bad version) are
 * NV_ECORRUPT: only those mean the local state is damaged. */
int nv_lmdb_code(int rc, const char *dir);

#endif
