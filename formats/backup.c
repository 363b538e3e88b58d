/*
 * backup.c - a backup directory written whole or not at all (backup.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "cli.h"
#include "errors.h"
#include "fileio.h"
#include "log.h"
#include "util.h"

#define INFO_NAME "BACKUP"
#define SUMS_NAME "SHA256SUMS"

/* Remove what a backup or a restore killed on the way left in dir: the
 * names starting with prefix and ending with "-<pid>" or ".restore-<pid>"
 * of a process that is gone.  They may hold personal data. */
static void
remove_stale(const char *dir, const char *prefix)
{
    struct dirent **ents = NULL;
    size_t pl = strlen(prefix);
    int n = scandir(dir, &ents, NULL, alphasort);

    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name, *dash = strrchr(name, '-');
        char *end;
        long pid = dash != NULL ? strtol(dash + 1, &end, 10) : 0;
        if (strncmp(name, prefix, pl) == 0 && pid > 0 && *end == '\0' &&
            kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            char *p = nv_path_join(dir, name);
            if (nv_rm_rf(p) == 0)
                nv_warn("backup", "removed '%s', left unfinished by a process that is gone", p);
            free(p);
        }
        free(ents[i]);
    }
    free(ents);
}

int
nv_backup_begin(struct nv_backup *b, const char *dest, const char *prog, const char *entity)
{
    char stamp[32], when[21], name[NV_NAME_MAX + 48];
    int64_t now = nv_now();
    struct tm tm;
    time_t t = (time_t)now;
    struct stat st;
    int r;

    memset(b, 0, sizeof(*b));
    if ((r = nv_mkdir_p(dest, 0700)) < 0)
        return r;
    if (stat(dest, &st) < 0 || !S_ISDIR(st.st_mode))
        return nv_fail(NV_EINVAL, "'%s' is not a directory", dest);
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    for (int i = 1; i < 100 && b->final == NULL; i++) {
        char *p;
        if (i == 1)
            snprintf(name, sizeof(name), "%s-%s", entity, stamp);
        else
            snprintf(name, sizeof(name), "%s-%s-%d", entity, stamp, i);
        p = nv_path_join(dest, name);
        if (!nv_exists(p))
            b->final = p;
        else
            free(p);
    }
    if (b->final == NULL)
        return nv_fail(NV_EEXIST, "too many backups named '%s-%s' in '%s'", entity, stamp,
                       dest);
    b->dest = strdup(dest);
    if (asprintf(&b->tmp, "%s/.tmp-%s-%ld", dest, name, (long)getpid()) < 0 || b->dest == NULL)
        abort();
    {
        char prefix[NV_NAME_MAX + 8];
        snprintf(prefix, sizeof(prefix), ".tmp-%s-", entity);
        remove_stale(dest, prefix);
    }
    if ((r = nv_rm_rf(b->tmp)) < 0 || (r = nv_mkdir_p(b->tmp, 0700)) < 0) {
        nv_backup_abort(b);
        return r;
    }
    nv_buf_init(&b->info);
    nv_backup_note(b, "program", "%s", prog);
    nv_backup_note(b, "version", "%s", nv_cli_version());
    nv_backup_note(b, "entity", "%s", entity);
    nv_backup_note(b, "created", "%s", nv_time_format(now, when));
    return 0;
}

/* A backup written inside the directory it copies would copy itself. */
int
nv_backup_outside(const char *dir, const char *dest)
{
    char a[PATH_MAX], b[PATH_MAX];
    size_t n;

    if (realpath(dir, a) == NULL)
        return nv_fail_errno("cannot resolve '%s'", dir);
    if (nv_mkdir_p(dest, 0700) < 0 || realpath(dest, b) == NULL)
        return nv_fail_errno("cannot resolve '%s'", dest);
    n = strlen(a);
    if (strncmp(a, b, n) == 0 && (b[n] == '/' || b[n] == '\0'))
        return nv_fail(NV_EINVAL, "the backup '%s' would be inside '%s', which it copies: "
                       "write it elsewhere (another disk, at best)", dest, dir);
    return 0;
}

void
nv_backup_note(struct nv_backup *b, const char *name, const char *fmt, ...)
{
    char v[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    if (nv_buf_addf(&b->info, "%s: %s\n", name, v) < 0)
        abort();
}

char *
nv_backup_path(struct nv_backup *b, const char *rel)
{
    char *p = nv_path_join(b->tmp, rel), *parent = strdup(p);

    if (parent == NULL)
        abort();
    if (nv_mkdir_p(dirname(parent), 0700) < 0) {
        /* the copy into it fails, and says why */
    }
    free(parent);
    return p;
}

static int
keep_all(void *ctx, const char *rel, const char *name, int isdir)
{
    (void)ctx, (void)rel, (void)isdir;
    return !nv_temporary_name(name);
}

/* Copy src (a directory) into dst, rel naming it below the tree's root. */
static int
copy_tree(const char *src, const char *dst, const char *rel, nv_backup_filter filter, void *ctx)
{
    struct dirent **ents = NULL;
    int n, r;

    if ((r = nv_mkdir_p(dst, 0700)) < 0)
        return r;
    if ((n = scandir(src, &ents, NULL, alphasort)) < 0)
        return errno == ENOENT ? 0 : nv_fail_errno("cannot read '%s'", src);
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char *from, *to, *sub;
        struct stat st;
        if (r < 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
            free(ents[i]);
            continue;
        }
        from = nv_path_join(src, name);
        to = nv_path_join(dst, name);
        sub = *rel ? nv_path_join(rel, name) : strdup(name);
        if (sub == NULL)
            abort();
        if (lstat(from, &st) < 0) {
            if (errno != ENOENT) /* gone since the listing: moved by a daemon */
                r = nv_fail_errno("cannot read '%s'", from);
        } else if (!filter(ctx, sub, name, S_ISDIR(st.st_mode))) {
            /* left out */
        } else if (S_ISDIR(st.st_mode)) {
            r = copy_tree(from, to, sub, filter, ctx);
        } else if (S_ISREG(st.st_mode)) {
            r = nv_copy_file(from, to, 0600, 1);
            if (r < 0 && !nv_exists(from))
                r = 0; /* it vanished while we copied it */
        } else {
            nv_warn("backup", "'%s' is neither a file nor a directory: left out", from);
        }
        free(from);
        free(to);
        free(sub);
        free(ents[i]);
    }
    free(ents);
    return r;
}

int
nv_backup_tree(struct nv_backup *b, const char *src, const char *rel, nv_backup_filter filter,
               void *ctx)
{
    char *dst = nv_backup_path(b, rel);
    int r = copy_tree(src, dst, "", filter != NULL ? filter : keep_all, ctx);

    free(dst);
    return r;
}

int
nv_backup_file(struct nv_backup *b, const char *src, const char *rel)
{
    char *dst = nv_backup_path(b, rel);
    int r = nv_copy_file(src, dst, 0600, 1);

    free(dst);
    return r;
}

/* Names in byte order, whatever the locale (a backup is checked where it
 * was not written). */
static int
byte_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Each regular file below root, sorted, as "<sha256>  <rel>\n" into out
 * (out NULL: not read); when sync, each file and directory fsynced. */
static int
sum_tree(const char *root, const char *rel, int sync, struct nv_buf *out, uint64_t *files)
{
    char *dir = *rel ? nv_path_join(root, rel) : strdup(root);
    struct dirent **ents = NULL;
    int n, r = 0;

    if (dir == NULL)
        abort();
    if ((n = scandir(dir, &ents, NULL, byte_order)) < 0) {
        r = nv_fail_errno("cannot read '%s'", dir);
        n = 0;
    }
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char *sub, *p;
        struct stat st;
        if (r < 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            (*rel == '\0' && strcmp(name, SUMS_NAME) == 0)) {
            free(ents[i]);
            continue;
        }
        sub = *rel ? nv_path_join(rel, name) : strdup(name);
        if (sub == NULL)
            abort();
        p = nv_path_join(root, sub);
        if (lstat(p, &st) < 0) {
            r = nv_fail_errno("cannot read '%s'", p);
        } else if (S_ISDIR(st.st_mode)) {
            r = sum_tree(root, sub, sync, out, files);
        } else if (!S_ISREG(st.st_mode) || strchr(sub, '\n') != NULL) {
            r = nv_fail(NV_EHASH, "'%s' is not a regular file of a backup", p);
        } else {
            uint8_t h[32];
            char hex[65];
            int fd = nv_open_read(p);
            if (fd < 0) {
                r = fd;
            } else {
                if (out != NULL)
                    r = nv_fd_sha256(fd, h);
                if (r == 0 && sync && fsync(fd) < 0)
                    r = nv_fail_errno("cannot fsync '%s'", p);
                close(fd);
            }
            if (r == 0 && out != NULL &&
                nv_buf_addf(out, "%s  %s\n", nv_hex(h, 32, hex), sub) < 0)
                abort();
            (*files)++;
        }
        free(sub);
        free(p);
        free(ents[i]);
    }
    free(ents);
    if (r == 0 && sync)
        r = nv_fsync_dir(dir);
    free(dir);
    return r;
}

void
nv_backup_print(const struct nv_buf *info)
{
    const char *p = (const char *)info->data, *end = p + info->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        int n = nl ? (int)(nl - p) : (int)(end - p);
        printf("  %.*s\n", n, p);
        p += n + 1;
    }
}

int
nv_backup_commit(struct nv_backup *b, char **path, struct nv_buf *info)
{
    struct nv_buf sums = NV_BUF_INIT;
    char *p = nv_path_join(b->tmp, INFO_NAME);
    uint64_t files = 0;
    int r;

    *path = NULL;
    r = nv_write_file(p, b->info.data, b->info.len, 0600);
    free(p);
    if (r == 0)
        r = sum_tree(b->tmp, "", 1, &sums, &files);
    if (r == 0) {
        p = nv_path_join(b->tmp, SUMS_NAME);
        r = nv_write_file(p, sums.data, sums.len, 0600);
        free(p);
    }
    nv_buf_release(&sums);
    if (r == 0 && (r = nv_fsync_dir(b->tmp)) == 0) {
        if (rename(b->tmp, b->final) < 0)
            r = nv_fail_errno("cannot rename the backup into '%s'", b->final);
        else
            r = nv_fsync_dir(b->dest);
    }
    if (r < 0) {
        nv_backup_abort(b);
        return r;
    }
    *path = b->final;
    b->final = NULL;
    if (info != NULL && nv_buf_add(info, b->info.data, b->info.len) < 0)
        abort();
    nv_backup_abort(b); /* releases the rest; tmp is gone */
    return 0;
}

void
nv_backup_abort(struct nv_backup *b)
{
    if (b->tmp != NULL && nv_exists(b->tmp))
        (void)nv_rm_rf(b->tmp);
    free(b->tmp);
    free(b->final);
    free(b->dest);
    nv_buf_release(&b->info);
    memset(b, 0, sizeof(*b));
}

void
nv_backup_info(const struct nv_buf *info, const char *name, char *out, size_t n)
{
    size_t len = strlen(name);
    const char *p = (const char *)info->data, *end = p + info->len;

    out[0] = '\0';
    while (p != NULL && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (ll > len + 1 && memcmp(p, name, len) == 0 && p[len] == ':' && p[len + 1] == ' ') {
            snprintf(out, n, "%.*s", (int)(ll - len - 2), p + len + 2);
            return;
        }
        p = nl ? nl + 1 : NULL;
    }
}

/* "<64 hex>  <path>" lines by path; the text does not end without a line
 * end. */
static int
by_path(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strcspn(x, "\n"), ly = strcspn(y, "\n");
    size_t ox = lx > 66 ? 66 : 0, oy = ly > 66 ? 66 : 0;
    size_t n = lx - ox < ly - oy ? lx - ox : ly - oy;
    int c = memcmp(x + ox, y + oy, n);

    return c != 0 ? c : (lx - ox > ly - oy) - (lx - ox < ly - oy);
}

static void
sort_lines(struct nv_buf *b)
{
    struct nv_buf out = NV_BUF_INIT;
    const char **v = NULL;
    size_t n = 0, cap = 0;
    const char *p = (const char *)b->data, *end = p + b->len;

    if (b->len == 0)
        return;
    if (p[b->len - 1] != '\n' && nv_buf_add(b, "\n", 1) < 0)
        abort();
    p = (const char *)b->data;
    end = p + b->len;
    while (p < end) {
        if (n == cap && (v = realloc(v, (cap = cap ? 2 * cap : 256) * sizeof(*v))) == NULL)
            abort();
        v[n++] = p;
        p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
    }
    qsort(v, n, sizeof(*v), by_path);
    for (size_t i = 0; i < n; i++)
        if (nv_buf_add(&out, v[i], strcspn(v[i], "\n") + 1) < 0)
            abort();
    free(v);
    nv_buf_release(b);
    *b = out;
}

int
nv_backup_verify(const char *backup, const char *prog, struct nv_buf *info)
{
    struct nv_buf text = NV_BUF_INIT, sums = NV_BUF_INIT, mine = NV_BUF_INIT;
    char *p = nv_path_join(backup, INFO_NAME), who[64];
    uint64_t files = 0;
    int r;

    if ((r = nv_read_file(p, 1 << 16, &text)) < 0) {
        r = nv_fail_prefix(r, "'%s' is not a backup", backup);
        goto out;
    }
    nv_backup_info(&text, "program", who, sizeof(who));
    if (strcmp(who, prog) != 0) {
        r = nv_fail(NV_EFORMAT, "'%s' is a backup of %s, not of %s", backup,
                    who[0] ? who : "something else", prog);
        goto out;
    }
    free(p);
    p = nv_path_join(backup, SUMS_NAME);
    if ((r = nv_read_file(p, (size_t)1 << 30, &sums)) < 0) {
        r = nv_fail_prefix(r, "backup '%s' has no %s", backup, SUMS_NAME);
        goto out;
    }
    /* the files there now, with their hashes, must be exactly the list
     * (in any order: sha256sum may have written it) */
    if ((r = sum_tree(backup, "", 0, &mine, &files)) < 0)
        goto out;
    sort_lines(&sums);
    sort_lines(&mine);
    if (mine.len != sums.len || memcmp(mine.data, sums.data, sums.len) != 0) {
        const char *a = (const char *)sums.data, *b = (const char *)mine.data;
        size_t i = 0, line = 0, n = sums.len < mine.len ? sums.len : mine.len;
        while (i < n && a[i] == b[i])
            if (a[i++] == '\n')
                line = i;
        {
            /* the first line that differs, from the list or, past its end,
             * from what is there */
            const struct nv_buf *w = line < sums.len ? &sums : &mine;
            const char *s = (const char *)w->data + line;
            const char *nl = memchr(s, '\n', w->len - line);
            int len = nl ? (int)(nl - s) : (int)(w->len - line);
            r = nv_fail(NV_EHASH, "backup '%s' is damaged: it differs from its %s at "
                        "'%.*s' (a file changed, missing or added)", backup, SUMS_NAME,
                        len > 66 ? len - 66 : 0, len > 66 ? s + 66 : "");
        }
        goto out;
    }
    if (info != NULL && nv_buf_add(info, text.data, text.len) < 0)
        abort();
out:
    free(p);
    nv_buf_release(&text);
    nv_buf_release(&sums);
    nv_buf_release(&mine);
    return r;
}

static int
empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;

    if (d == NULL)
        return 0;
    while (empty && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    closedir(d);
    return empty;
}

int
nv_backup_restore(const char *backup, const char *prog, const char *dir,
                  int (*check)(void *ctx, const char *tmp), void *ctx, struct nv_buf *info)
{
    char *src = nv_path_join(backup, "dir"), *tmp = NULL, *copy = strdup(dir),
         *parent, *base;
    int r, there = nv_exists(dir);

    if (copy == NULL)
        abort();
    if (there && !empty_dir(dir)) {
        r = nv_fail(NV_EEXIST, "'%s' exists and is not empty: restore into a new directory "
                    "(move the damaged one aside first)", dir);
        goto out;
    }
    if ((r = nv_backup_verify(backup, prog, info)) < 0)
        goto out;
    {
        char *dup = strdup(dir);
        if (dup == NULL || (parent = strdup(dirname(dup))) == NULL)
            abort();
        free(dup);
    }
    base = basename(copy);
    if (asprintf(&tmp, "%s/.%s.restore-%ld", parent, base, (long)getpid()) < 0)
        abort();
    {
        char *prefix = NULL;
        if (asprintf(&prefix, ".%s.restore-", base) < 0)
            abort();
        remove_stale(parent, prefix);
        free(prefix);
    }
    free(parent);
    if ((r = nv_rm_rf(tmp)) < 0 || (r = copy_tree(src, tmp, "", keep_all, NULL)) < 0 ||
        (check != NULL && (r = check(ctx, tmp)) < 0))
        goto out;
    {
        uint64_t files = 0;
        if ((r = sum_tree(tmp, "", 1, NULL, &files)) < 0) /* fsync it all */
            goto out;
    }
    if (there && rmdir(dir) < 0) {
        r = nv_fail_errno("cannot replace the empty '%s'", dir);
        goto out;
    }
    if (rename(tmp, dir) < 0) {
        r = nv_fail_errno("cannot rename the restored copy to '%s'", dir);
        goto out;
    }
    r = nv_fsync_dir(dir);
out:
    if (r < 0 && tmp != NULL && nv_exists(tmp))
        (void)nv_rm_rf(tmp);
    free(tmp);
    free(src);
    free(copy);
    return r;
}
