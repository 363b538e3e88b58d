/*
 * fileio.h - safe file I/O: full reads and writes, bounded whole-file reads,
 * and atomic replacement (temp name in the same directory, fsync, rename,
 * fsync of the directory), so readers see the old file or the new one, never
 * half of one.
 */
#ifndef NOVA_FILEIO_H
#define NOVA_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Streaming callbacks.  A reader returns bytes read (0 only at end of input)
 * or a negative NV_E code; it may return fewer than n bytes.  A writer takes
 * all n bytes or returns a negative code. */
typedef long (*nv_read_fn)(void *ctx, void *p, size_t n);
typedef int (*nv_write_fn)(void *ctx, const void *p, size_t n);

/* A reader over an fd (ctx = pointer to int fd). */
long nv_fd_reader(void *ctx, void *p, size_t n);
/* A writer over an fd (ctx = pointer to int fd). */
int nv_fd_writer(void *ctx, const void *p, size_t n);

/* Write n bytes, retrying on EINTR and short writes. 0 or NV_ESYS/NV_ENOSPC. */
int nv_write_all(int fd, const void *p, size_t n)
    __attribute__((warn_unused_result));
/* Read up to n bytes, retrying until n bytes or EOF. Returns bytes read (0 at
 * EOF) or a negative code. */
ssize_t nv_read_full(int fd, void *p, size_t n);

/* Open a regular file for reading (O_NOFOLLOW, O_CLOEXEC; refuses anything
 * that is not a regular file). Returns the fd or a negative code. */
int nv_open_read(const char *path);

/* Read a whole regular file into out (appended), refusing more than max
 * bytes with NV_ETOOBIG. */
int nv_read_file(const char *path, size_t max, struct nv_buf *out)
    __attribute__((warn_unused_result));

/* An atomic file being written. */
struct nv_atomic {
    int fd;
    char *tmp;   /* temp path, owned */
    char *final; /* final path, owned */
};

/* Create a temp file beside path with mode (0600 for secrets). */
int nv_atomic_open(struct nv_atomic *a, const char *path, mode_t mode)
    __attribute__((warn_unused_result));
/* fsync, close, rename over the final path, fsync the directory.  With
 * noreplace, fails with NV_EEXIST if the final path exists.  Always releases
 * a; on failure the temp file is removed. */
int nv_atomic_commit(struct nv_atomic *a, int noreplace)
    __attribute__((warn_unused_result));
/* Remove the temp file and release a. Safe on a released/zeroed a. */
void nv_atomic_abort(struct nv_atomic *a);

/* Write a whole file atomically. */
int nv_write_file(const char *path, const void *p, size_t n, mode_t mode)
    __attribute__((warn_unused_result));

/* Write a whole file atomically with exactly mode (umask does not apply)
 * and, when gid is not (gid_t)-1, that group: files another user must read
 * (the CRM's import files). */
int nv_write_file_as(const char *path, const void *p, size_t n, mode_t mode, gid_t gid)
    __attribute__((warn_unused_result));

/* Copy the regular file from to a new file to, atomically (temporary name
 * beside it, fsync, rename, fsync of the directory).  With noreplace, an
 * existing to is NV_EEXIST and stays as it was. */
int nv_copy_file(const char *from, const char *to, mode_t mode, int noreplace)
    __attribute__((warn_unused_result));

/* SHA-256 of a whole file through its fd (pread: the offset is kept), or
 * of the file at path. */
int nv_fd_sha256(int fd, uint8_t out[32]) __attribute__((warn_unused_result));
int nv_file_sha256(const char *path, uint8_t out[32]) __attribute__((warn_unused_result));

/* Remove the regular files of dir (not those named .*) modified before
 * the time before (s); *n gets how many. */
int nv_prune_older(const char *dir, int64_t before, uint64_t *n)
    __attribute__((warn_unused_result));

/* A name that copies use while they run, or that staging and temporary
 * files get: '.*', '*.part', '*.tmp'.  Never read as a bundle, never
 * backed up. */
int nv_temporary_name(const char *name);

/* fsync the directory holding path (or path itself if a directory). */
int nv_fsync_dir(const char *dir) __attribute__((warn_unused_result));

/* mkdir -p with mode for each created component. */
int nv_mkdir_p(const char *path, mode_t mode)
    __attribute__((warn_unused_result));

/* Does path exist (lstat)? */
int nv_exists(const char *path);

/* malloc'd "a/b"; aborts on out of memory (programmer-level resource). */
char *nv_path_join(const char *a, const char *b);

/* Take an exclusive lock on dir/name (flock, released when the process
 * dies, even by kill -9).  Returns the fd to keep open, or NV_EEXIST when
 * another process holds it ("another <who> is working in '<dir>'"). */
int nv_dir_lock(const char *dir, const char *name, const char *who);

/* Remove a directory tree (no symlink following). */
int nv_rm_rf(const char *path);

#endif
