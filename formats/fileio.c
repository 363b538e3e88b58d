#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "errors.h"
#include "fileio.h"

int
nv_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return nv_fail_errno("write failed");
        }
        if (w == 0) {
            errno = ENOSPC;
            return nv_fail_errno("write made no progress");
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

long
nv_fd_reader(void *ctx, void *p, size_t n)
{
    for (;;) {
        ssize_t r = read(*(int *)ctx, p, n);
        if (r >= 0)
            return (long)r;
        if (errno != EINTR)
            return nv_fail_errno("read failed");
    }
}

int
nv_fd_writer(void *ctx, const void *p, size_t n)
{
    return nv_write_all(*(int *)ctx, p, n);
}

ssize_t
nv_read_full(int fd, void *p, size_t n)
{
    uint8_t *c = p;
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, c + got, n - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return nv_fail_errno("read failed");
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int
nv_open_read(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        if (errno == ENOENT)
            return nv_fail(NV_ENOTFOUND, "cannot open '%s': no such file", path);
        return nv_fail_errno("cannot open '%s'", path);
    }
    if (fstat(fd, &st) < 0) {
        int r = nv_fail_errno("cannot stat '%s'", path);
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return nv_fail(NV_EINVAL, "'%s' is not a regular file", path);
    }
    /* clear O_NONBLOCK, used only so opening a FIFO cannot hang */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

int
nv_read_file(const char *path, size_t max, struct nv_buf *out)
{
    struct stat st;
    int fd, r = 0;
    ssize_t n;

    if ((fd = nv_open_read(path)) < 0)
        return fd;
    if (fstat(fd, &st) < 0) {
        r = nv_fail_errno("cannot stat '%s'", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        r = nv_fail(NV_ETOOBIG, "'%s' is %lld bytes, over the %zu-byte limit",
                    path, (long long)st.st_size, max);
        goto out;
    }
    for (;;) {
        if ((r = nv_buf_reserve(out, 4096)) < 0)
            goto out;
        n = nv_read_full(fd, out->data + out->len, 4096);
        if (n < 0) {
            r = (int)n;
            goto out;
        }
        out->len += (size_t)n;
        out->data[out->len] = '\0';
        if (out->len > max) {
            r = nv_fail(NV_ETOOBIG, "'%s' is over the %zu-byte limit", path, max);
            goto out;
        }
        if (n < 4096)
            break;
    }
out:
    close(fd);
    return r;
}

int
nv_atomic_open(struct nv_atomic *a, const char *path, mode_t mode)
{
    size_t n = strlen(path);
    char *dup = NULL, *dup2 = NULL, *dir, *base;
    int r = 0;

    a->fd = -1;
    a->tmp = a->final = NULL;
    /* basename() and dirname() may return static storage ("."): free the
     * copies, never their results */
    if ((a->final = strdup(path)) == NULL || (dup = strdup(path)) == NULL ||
        (dup2 = strdup(path)) == NULL || (a->tmp = malloc(n + 64)) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    base = basename(dup);
    dir = dirname(dup2);
    for (int tries = 0; tries < 100; tries++) {
        uint32_t rnd = randombytes_random();
        snprintf(a->tmp, n + 64, "%s/.%s.tmp.%08x", dir, base, rnd);
        a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                     mode);
        if (a->fd >= 0 || errno != EEXIST)
            break;
    }
    if (a->fd < 0)
        r = nv_fail_errno("cannot create a temporary file for '%s'", path);
out:
    free(dup);
    free(dup2);
    if (r < 0) {
        free(a->tmp);
        free(a->final);
        a->tmp = a->final = NULL;
    }
    return r;
}

void
nv_atomic_abort(struct nv_atomic *a)
{
    if (a->fd >= 0)
        close(a->fd);
    if (a->tmp != NULL)
        unlink(a->tmp);
    free(a->tmp);
    free(a->final);
    a->fd = -1;
    a->tmp = a->final = NULL;
}

int
nv_atomic_commit(struct nv_atomic *a, int noreplace)
{
    int r = 0;
    char *dir = NULL;

    if (fsync(a->fd) < 0) {
        r = nv_fail_errno("cannot fsync '%s'", a->final);
        goto fail;
    }
    if (close(a->fd) < 0) {
        a->fd = -1;
        r = nv_fail_errno("cannot close '%s'", a->final);
        goto fail;
    }
    a->fd = -1;
    if (noreplace) {
        /* link() fails if the final name exists: no window for overwriting */
        if (link(a->tmp, a->final) < 0) {
            if (errno == EEXIST)
                r = nv_fail(NV_EEXIST, "'%s' already exists", a->final);
            else
                r = nv_fail_errno("cannot link '%s'", a->final);
            goto fail;
        }
        unlink(a->tmp);
    } else if (rename(a->tmp, a->final) < 0) {
        r = nv_fail_errno("cannot rename to '%s'", a->final);
        goto fail;
    }
    if ((dir = strdup(a->final)) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto fail;
    }
    r = nv_fsync_dir(dirname(dir));
    free(dir);
    free(a->tmp);
    free(a->final);
    a->tmp = a->final = NULL;
    return r;
fail:
    nv_atomic_abort(a);
    return r;
}

int
nv_write_file(const char *path, const void *p, size_t n, mode_t mode)
{
    struct nv_atomic a;
    int r;

    if ((r = nv_atomic_open(&a, path, mode)) < 0)
        return r;
    if ((r = nv_write_all(a.fd, p, n)) < 0) {
        nv_atomic_abort(&a);
        return nv_fail_prefix(r, "cannot write '%s'", path);
    }
    return nv_atomic_commit(&a, 0);
}

int
nv_write_file_as(const char *path, const void *p, size_t n, mode_t mode, gid_t gid)
{
    struct nv_atomic a;
    int r;

    if ((r = nv_atomic_open(&a, path, 0600)) < 0)
        return r;
    if (fchmod(a.fd, mode) < 0 || (gid != (gid_t)-1 && fchown(a.fd, (uid_t)-1, gid) < 0)) {
        r = nv_fail_errno("cannot set the mode or group of '%s'", path);
        nv_atomic_abort(&a);
        return r;
    }
    if ((r = nv_write_all(a.fd, p, n)) < 0) {
        nv_atomic_abort(&a);
        return nv_fail_prefix(r, "cannot write '%s'", path);
    }
    return nv_atomic_commit(&a, 0);
}

int
nv_copy_file(const char *from, const char *to, mode_t mode, int noreplace)
{
    struct nv_atomic a;
    char buf[65536];
    ssize_t n;
    int in = nv_open_read(from), r = 0;

    if (in < 0)
        return in;
    if ((r = nv_atomic_open(&a, to, mode)) < 0) {
        close(in);
        return r;
    }
    while ((n = nv_read_full(in, buf, sizeof(buf))) > 0)
        if ((r = nv_write_all(a.fd, buf, (size_t)n)) < 0)
            break;
    if (r == 0 && n < 0)
        r = (int)n;
    close(in);
    if (r < 0) {
        nv_atomic_abort(&a);
        return r;
    }
    return nv_atomic_commit(&a, noreplace);
}

int
nv_prune_older(const char *dir, int64_t before, uint64_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int r = 0;

    *n = 0;
    if (d == NULL)
        return errno == ENOENT ? 0 : nv_fail_errno("cannot open '%s'", dir);
    while (r == 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        char *p;
        if (e->d_name[0] == '.')
            continue;
        p = nv_path_join(dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) && (int64_t)st.st_mtime < before) {
            if (unlink(p) < 0 && errno != ENOENT)
                r = nv_fail_errno("cannot remove '%s'", p);
            else
                (*n)++;
        }
        free(p);
    }
    closedir(d);
    if (r == 0 && *n > 0)
        r = nv_fsync_dir(dir);
    return r;
}

int
nv_temporary_name(const char *name)
{
    size_t l = strlen(name);

    return name[0] == '.' || (l >= 5 && strcmp(name + l - 5, ".part") == 0) ||
           (l >= 4 && strcmp(name + l - 4, ".tmp") == 0);
}

int
nv_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r = 0;

    if (fd < 0)
        return nv_fail_errno("cannot open directory '%s'", dir);
    if (fsync(fd) < 0 && errno != EINVAL)
        r = nv_fail_errno("cannot fsync directory '%s'", dir);
    close(fd);
    return r;
}

int
nv_mkdir_p(const char *path, mode_t mode)
{
    char *p = strdup(path);
    int r = 0;

    if (p == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, mode) < 0 && errno != EEXIST) {
                r = nv_fail_errno("cannot create directory '%s'", p);
                break;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    if (r == 0) {
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            r = nv_fail(NV_EINVAL, "'%s' is not a directory", path);
    }
    free(p);
    return r;
}

int
nv_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

char *
nv_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);

    if (p == NULL)
        abort();
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

int
nv_rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int r = 0;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : nv_fail_errno("cannot stat '%s'", path);
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 ? nv_fail_errno("cannot remove '%s'", path) : 0;
    if ((d = opendir(path)) == NULL)
        return nv_fail_errno("cannot open '%s'", path);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *sub = nv_path_join(path, e->d_name);
        if (nv_rm_rf(sub) < 0)
            r = -1;
        free(sub);
    }
    closedir(d);
    if (rmdir(path) < 0)
        return nv_fail_errno("cannot remove '%s'", path);
    return r;
}

int
nv_dir_lock(const char *dir, const char *name, const char *who)
{
    char *p = nv_path_join(dir, name);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

    free(p);
    if (fd < 0)
        return nv_fail_errno("cannot open the lock file in '%s'", dir);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return nv_fail(NV_EEXIST, "another %s is working in '%s'", who, dir);
        errno = e;
        return nv_fail_errno("cannot lock '%s'", dir);
    }
    return fd;
}

int
nv_fd_sha256(int fd, uint8_t out[32])
{
    crypto_hash_sha256_state st;
    uint8_t buf[65536];
    off_t off = 0;
    ssize_t n;

    crypto_hash_sha256_init(&st);
    for (;;) {
        n = pread(fd, buf, sizeof(buf), off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return nv_fail_errno("cannot read a file to hash it");
        }
        if (n == 0)
            break;
        crypto_hash_sha256_update(&st, buf, (size_t)n);
        off += n;
    }
    crypto_hash_sha256_final(&st, out);
    return 0;
}

int
nv_file_sha256(const char *path, uint8_t out[32])
{
    int fd = nv_open_read(path), r;

    if (fd < 0)
        return fd;
    r = nv_fd_sha256(fd, out);
    close(fd);
    return r;
}
