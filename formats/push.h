/*
 * push.h - moving bundle files to where the transport takes them: a local
 * or mounted directory (a USB key, a network share), or user@host:path over
 * rsync and ssh.  Each bundle is copied under a temporary name (".NAME.part",
 * which nova never reads), its SHA-256 checked at the destination, renamed
 * into place, and only then removed here.  A failure leaves the bundle where
 * it was: nothing is lost, and pushing again is safe (a bundle already at
 * the destination, whole, is not copied again).
 */
#ifndef NOVA_PUSH_H
#define NOVA_PUSH_H

#include <stdint.h>

struct nv_push_stats {
    unsigned pushed, already; /* copied; found whole at the destination */
    uint64_t bytes;
};

/* Push every "*.nova" file of dir (sorted by name) to dest.  Stops at the
 * first failure (the rest stay). */
int nv_push_dir(const char *dir, const char *dest, struct nv_push_stats *st)
    __attribute__((warn_unused_result));

/* Is dest "[user@]host:path" (remote), not a local path? */
int nv_push_is_remote(const char *dest);

#endif
