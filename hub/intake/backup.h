/*
 * backup.h - `nova-hub backup` and `nova-hub restore`: a consistent copy of
 * the hub's directory (formats/backup.h for the container).
 */
#ifndef NOVA_HUB_BACKUP_H
#define NOVA_HUB_BACKUP_H

#include "../../formats/buf.h"
#include "../core/hub.h"

/* Back up the hub h (opened: it holds hub.lock, so nothing writes while
 * the copy runs) into a new backup in dest: the store through
 * nv_lmdb_copy, the ledger and mapping repositories as files (checked: the
 * copy's main is the same commit), every other file of the directory but
 * the lock and the names starting with '.'.  *path (allocated) gets the
 * backup's path, info (may be NULL) its BACKUP text. */
int nv_hub_backup(struct nv_hub *h, const char *dest, char **path, struct nv_buf *info)
    __attribute__((warn_unused_result));
/* Restore backup into dir (which must not exist or be empty): checked
 * against its SHA256SUMS, the store's schema checked, renamed into place.
 * info (may be NULL) gets its BACKUP text. */
int nv_hub_restore(const char *backup, const char *dir, struct nv_buf *info)
    __attribute__((warn_unused_result));

#endif
