#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "fileio.h"
#include "spool.h"

static int
entry_cmp(const void *a, const void *b)
{
    const struct nv_spool_entry *x = a, *y = b;
    int c = strcmp(x->sender, y->sender);

    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
nv_spool_list(const char *dir, uint64_t max_payload, struct nv_spool_entry **out,
              size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct nv_spool_entry *v = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    *count = 0;
    if (d == NULL)
        return nv_fail_errno("cannot open '%s'", dir);
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        struct nv_bundle b;
        char *p;

        if (e->d_name[0] == '.' || l < 6 ||
            strcmp(e->d_name + l - 5, NV_BUNDLE_EXT) != 0)
            continue;
        if (n == cap) {
            struct nv_spool_entry *nv;
            cap = cap ? cap * 2 : 64;
            if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
                closedir(d);
                nv_spool_list_free(v, n);
                return nv_fail(NV_ENOMEM, "out of memory");
            }
            v = nv;
        }
        memset(&v[n], 0, sizeof(v[n]));
        if ((v[n].name = strdup(e->d_name)) == NULL) {
            closedir(d);
            nv_spool_list_free(v, n);
            return nv_fail(NV_ENOMEM, "out of memory");
        }
        p = nv_path_join(dir, e->d_name);
        if (nv_bundle_read(&b, p, max_payload) == 0) {
            strcpy(v[n].sender, b.m.sender);
            v[n].seq = b.m.seq;
            nv_bundle_release(&b);
        }
        free(p);
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(v, n, sizeof(*v), entry_cmp);
    *out = v;
    *count = n;
    return 0;
}

void
nv_spool_list_free(struct nv_spool_entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static int
stage_entry(void *ctx, const char *name, uint64_t size)
{
    struct nv_stage *s = ctx;
    char *p = nv_path_join(s->dir, name);

    (void)size;
    s->fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    free(p);
    if (s->fd < 0) {
        if (errno == EEXIST)
            return nv_fail(NV_EFORMAT, "payload holds two files with one name");
        return nv_fail_errno("cannot stage payload file");
    }
    s->files++;
    return 0;
}

static int
stage_data(void *ctx, const void *p, size_t n)
{
    struct nv_stage *s = ctx;

    s->bytes += n;
    return nv_write_all(s->fd, p, n);
}

static int
stage_end(void *ctx)
{
    struct nv_stage *s = ctx;
    int r = 0;

    if (fsync(s->fd) < 0)
        r = nv_fail_errno("cannot fsync staged payload");
    if (close(s->fd) < 0 && r == 0)
        r = nv_fail_errno("cannot close staged payload");
    s->fd = -1;
    return r;
}

void
nv_stage_sink(struct nv_stage *s, const char *dir, struct nv_payload_sink *sink)
{
    s->dir = dir;
    s->fd = -1;
    s->files = s->bytes = 0;
    sink->entry = stage_entry;
    sink->data = stage_data;
    sink->end = stage_end;
    sink->ctx = s;
}

void
nv_stage_abort(struct nv_stage *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

long
nv_spool_settle_ms(void)
{
    const char *e = getenv("NOVA_INBOX_SETTLE");
    char *end;
    long v;

    if (e == NULL || *e == '\0')
        return NV_SPOOL_SETTLE_MS;
    v = strtol(e, &end, 10);
    return *end == '\0' && v >= 0 && v <= 86400 ? v * 1000 : NV_SPOOL_SETTLE_MS;
}

int
nv_spool_arriving(const char *path, int code, long settle_ms, unsigned *age_s)
{
    struct stat st;
    struct timespec now;
    int64_t age;

    if (code != NV_ETRUNCATED && code != NV_EFORMAT && code != NV_EHASH && code != NV_EPAYLOAD)
        return 0;
    if (settle_ms <= 0 || stat(path, &st) < 0)
        return 0;
    clock_gettime(CLOCK_REALTIME, &now);
    age = ((int64_t)now.tv_sec - st.st_mtim.tv_sec) * 1000 +
          ((int64_t)now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
    if (age_s != NULL)
        *age_s = age > 0 ? (unsigned)(age / 1000) : 0;
    return age < settle_ms;
}
