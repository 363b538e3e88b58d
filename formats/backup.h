/*
 * backup.h - a backup directory, written whole or not at all, and its
 * restore.  `nova-hub backup` and `nova-agent backup` fill one with a
 * consistent copy of their directory (the LMDB store through
 * mdb_env_copy2, taken by the caller); this module builds it under a
 * temporary name, lists every file with its SHA-256 and renames it into
 * place; a restore checks every file against that list first.
 *
 * A backup B (DEST/<entity>-<UTC time>, 0700, its files 0600: it holds
 * personal data):
 *   B/BACKUP      "name: value" lines: program, version, entity, created,
 *                 and what the caller notes (streams, ledger head...)
 *   B/SHA256SUMS  "<sha256>  <path>" for every other file (`cd B &&
 *                 sha256sum -c SHA256SUMS` checks it with stock tools)
 *   B/dir/...     the program's directory, restored as it is
 *   B/etc/...     files kept from outside the directory (the agent's
 *                 configuration when it lives elsewhere), never restored
 *                 by the program
 */
#ifndef NOVA_BACKUP_H
#define NOVA_BACKUP_H

#include "buf.h"

struct nv_backup {
    char *dest;  /* the directory of backups */
    char *tmp;   /* DEST/.tmp-NAME-PID: where it is built */
    char *final; /* DEST/NAME */
    struct nv_buf info; /* BACKUP */
};

/* NV_EINVAL when dest is dir or inside it (a backup would copy itself);
 * dest is made if missing. */
int nv_backup_outside(const char *dir, const char *dest) __attribute__((warn_unused_result));
/* Start a backup in dest (created 0700 if missing) named
 * "<entity>-<YYYYMMDDTHHMMSSZ>" (nv_now; "-2"... when taken twice in a
 * second). */
int nv_backup_begin(struct nv_backup *b, const char *dest, const char *prog,
                    const char *entity) __attribute__((warn_unused_result));
/* Add "name: value" to BACKUP. */
void nv_backup_note(struct nv_backup *b, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The path of rel inside the backup being built (allocated); its parent
 * directories are made. */
char *nv_backup_path(struct nv_backup *b, const char *rel);

/* Which entries of a tree are copied: rel is the entry's path below the
 * tree's root ("received/acme/0000000003"), name its last part. */
typedef int (*nv_backup_filter)(void *ctx, const char *rel, const char *name, int isdir);
/* Copy the tree src into rel (directories 0700, regular files 0600; other
 * kinds are left out with a warning; a file that vanishes while the copy
 * runs -- moved by a running daemon -- is left out).  filter NULL: all but
 * temporary names (nv_temporary_name). */
int nv_backup_tree(struct nv_backup *b, const char *src, const char *rel,
                   nv_backup_filter filter, void *ctx) __attribute__((warn_unused_result));
/* Copy one regular file to rel (0600). */
int nv_backup_file(struct nv_backup *b, const char *src, const char *rel)
    __attribute__((warn_unused_result));
/* Write BACKUP and SHA256SUMS, fsync every file and directory, rename into
 * place.  *path (allocated) gets the backup's path, info (may be NULL)
 * BACKUP's text.  Always releases b. */
int nv_backup_commit(struct nv_backup *b, char **path, struct nv_buf *info)
    __attribute__((warn_unused_result));
/* BACKUP's text on stdout, each line indented. */
void nv_backup_print(const struct nv_buf *info);
/* Remove what was built and release b. */
void nv_backup_abort(struct nv_backup *b);

/* Check a backup: BACKUP says prog, every file in SHA256SUMS is there with
 * that SHA-256, and nothing else is (NV_EHASH naming the first file that
 * differs).  info (may be NULL) gets BACKUP. */
int nv_backup_verify(const char *backup, const char *prog, struct nv_buf *info)
    __attribute__((warn_unused_result));
/* The value of name in BACKUP's text ("" when absent) into out. */
void nv_backup_info(const struct nv_buf *info, const char *name, char *out, size_t n);
/* Restore backup's dir/ into dir, which must not exist or be empty
 * (NV_EEXIST): verified first, copied beside dir under a temporary name,
 * check(ctx, tmp) run on the copy (the caller's last word: e.g. the
 * store's schema), fsynced, renamed to dir.  info (may be NULL) gets
 * BACKUP. */
int nv_backup_restore(const char *backup, const char *prog, const char *dir,
                      int (*check)(void *ctx, const char *tmp), void *ctx,
                      struct nv_buf *info) __attribute__((warn_unused_result));

#endif
