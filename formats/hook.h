/*
 * hook.h - run a site's command (a hook): the agent's erase hook, the hub's
 * alert hook.
 *
 * The command runs with stdin on /dev/null, in its own process group, with
 * the given variables added to its environment.  Its stdout and stderr are
 * read while it runs (poll), so it may print as much as it likes: the first
 * stdout line and the last bytes are kept, the rest is dropped.  When the
 * time is up, its whole process group is killed.
 */
#ifndef NOVA_HOOK_H
#define NOVA_HOOK_H

#include <stddef.h>
#include <stdint.h>

#define NV_HOOK_TAIL 4096
#define NV_HOOK_ERR_TAIL 1024

/* What a hook printed: its first stdout line (control characters as
 * spaces) and the last bytes of stdout and stderr together, and of stderr
 * alone. */
struct nv_hook_out {
    char first[256];
    size_t nfirst;
    int first_done;
    char tail[NV_HOOK_TAIL];
    size_t ntail; /* bytes in tail, kept as a sliding window */
    char etail[NV_HOOK_ERR_TAIL];
    size_t netail;
    uint64_t total; /* bytes printed in all */
};

/* Run argv (argv[0] a path: execv, no PATH search, no shell) with env
 * ("NAME=VALUE" strings, NULL-terminated; NULL for none) added to the
 * environment, for at most timeout_s seconds.  what names it in messages
 * ("erase hook").  0 when it ran to its end: *status as waitpid() gives it,
 * out filled (first line terminated).  -1 when it could not start, was
 * lost, or was killed for its time: why says so. */
int nv_hook_run(char *const argv[], char *const env[], unsigned timeout_s, const char *what,
                struct nv_hook_out *out, int *status, char *why, size_t whylen);

/* Personal data out of a hook's message in into out (n bytes): the record
 * key (NULL: none), words with an '@' (e-mails) and, with numbers, runs of 6
 * digits or more (phones, dates, account numbers) are replaced; control
 * characters become spaces. */
void nv_hook_scrub(const char *in, const char *key, int numbers, char *out, size_t n);

/* The last lines (at most 3, n bytes in all) of the hook's stderr, or of
 * its output when it wrote nothing there, joined by " | ", scrubbed. */
void nv_hook_last_lines(const struct nv_hook_out *h, const char *key, char *out, size_t n);

/* "exited with status N" / "killed by signal N", and the last lines, into
 * why: a failed hook's reason. */
void nv_hook_failure(const char *what, int status, const struct nv_hook_out *h,
                     const char *key, char *why, size_t whylen);

#endif
