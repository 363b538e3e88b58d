/*
 * retain.c - received/ past its retention: each entity's older payloads
 * merged into one base that replay reads as it read them (retain.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
#include "../lib/hmap.h"
#include "../model/recparse.h"
#include "retain.h"

/* The last line of each (source, key). */
struct last {
    char *key; /* "source\0key", klen bytes */
    size_t klen;
    uint64_t pos; /* the ordinal of its last line */
};
struct keyref {
    const char *p;
    size_t n;
};

static int
last_eq(const void *value, const void *key)
{
    const struct last *l = value;
    const struct keyref *k = key;

    return l->klen == k->n && memcmp(l->key, k->p, k->n) == 0;
}

struct pass {
    struct nv_hmap map;
    struct nv_rec *rec;
    struct nv_buf scratch, key, out;
    int fd;         /* pass 2: the base being written */
    uint64_t lines_in, lines_out, bytes_out;
};

/* The (source, key) of a change record line into p->key; 0 when the line is
 * not one (kept as it is). */
static int
line_key(struct pass *p, const char *line, size_t len)
{
    if (nv_rec_parse(line, len, p->rec, &p->scratch) < 0 || p->rec->key.s == NULL)
        return 0;
    nv_buf_reset(&p->key);
    if (nv_buf_add(&p->key, p->rec->source.s ? p->rec->source.s : "",
                   p->rec->source.s ? p->rec->source.n : 0) < 0 ||
        nv_buf_add(&p->key, "", 1) < 0 || nv_buf_add(&p->key, p->rec->key.s, p->rec->key.n) < 0)
        abort();
    return 1;
}

static int
note_last(struct pass *p, const char *line, size_t len, uint64_t pos)
{
    struct keyref k;
    struct last *l;
    int isnew;

    p->lines_in++;
    if (!line_key(p, line, len))
        return 0;
    k.p = (const char *)p->key.data;
    k.n = p->key.len;
    if ((l = nv_hmap_insert(&p->map, nv_fnv1a(NV_FNV_OFFSET, k.p, k.n), &k, &isnew)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    if (isnew) {
        if ((l->key = malloc(k.n)) == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        memcpy(l->key, k.p, k.n);
        l->klen = k.n;
    }
    l->pos = pos;
    return 0;
}

static int
flush_out(struct pass *p)
{
    int r = nv_write_all(p->fd, p->out.data, p->out.len);

    p->bytes_out += p->out.len;
    nv_buf_reset(&p->out);
    return r;
}

static int
keep_last(struct pass *p, const char *line, size_t len, uint64_t pos)
{
    if (line_key(p, line, len)) {
        struct keyref k = { (const char *)p->key.data, p->key.len };
        const struct last *l = nv_hmap_find(&p->map, nv_fnv1a(NV_FNV_OFFSET, k.p, k.n), &k);
        if (l == NULL || l->pos != pos)
            return 0; /* a later line of that record follows */
    }
    p->lines_out++;
    if (nv_buf_add(&p->out, line, len) < 0 || nv_buf_add(&p->out, "\n", 1) < 0)
        return nv_fail(NV_ENOMEM, "out of memory");
    return p->out.len >= (1u << 20) ? flush_out(p) : 0;
}

/* fn on every line of the payload files (changes-*) of dirs, in order. */
static int
each_line(char **dirs, size_t n, struct pass *p,
          int (*fn)(struct pass *, const char *, size_t, uint64_t), uint64_t *bytes)
{
    uint64_t pos = 0;
    char *line = NULL;
    size_t cap = 0;
    int r = 0;

    for (size_t i = 0; r == 0 && i < n; i++) {
        struct dirent **ents = NULL;
        int ne = scandir(dirs[i], &ents, NULL, alphasort);
        if (ne < 0)
            r = nv_fail_errno("cannot read '%s'", dirs[i]);
        for (int j = 0; j < ne; j++) {
            if (r == 0 && strncmp(ents[j]->d_name, "changes-", 8) == 0) {
                char *fp = nv_path_join(dirs[i], ents[j]->d_name);
                FILE *f = fopen(fp, "re");
                ssize_t len;
                if (f == NULL) {
                    r = nv_fail_errno("cannot read '%s'", fp);
                } else {
                    while (r == 0 && (len = getline(&line, &cap, f)) > 0) {
                        if (bytes != NULL)
                            *bytes += (uint64_t)len;
                        if (line[len - 1] == '\n')
                            line[--len] = '\0';
                        if (len > 0)
                            r = fn(p, line, (size_t)len, pos++);
                    }
                    if (r == 0 && ferror(f))
                        r = nv_fail_errno("cannot read '%s'", fp);
                    fclose(f);
                }
                free(fp);
            }
            free(ents[j]);
        }
        free(ents);
    }
    free(line);
    return r;
}

int
nv_hub_bundle_info(MDB_txn *txn, struct nv_hub *h, const char *sender, uint64_t seq,
                   int *acks, int64_t *applied)
{
    char bk[128];
    MDB_val k, v;
    json_t *o;
    int r = -1;

    nv_hstore_bundle_key(bk, sizeof(bk), sender, seq);
    k.mv_size = strlen(bk);
    k.mv_data = bk;
    if (mdb_get(txn, h->store.bstats, &k, &v) != 0 ||
        (o = json_loadb(v.mv_data, v.mv_size, 0, NULL)) == NULL)
        return -1;
    {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *when = json_string_value(json_object_get(o, "applied"));
        *acks = kind != NULL && strcmp(kind, "acks") == 0;
        *applied = 0;
        r = 0;
        if (when != NULL && nv_time_parse(when, applied) < 0)
            *applied = 0;
    }
    json_decref(o);
    return r;
}

int
nv_hub_is_seq_dir(const struct dirent *e)
{
    const char *p = e->d_name;

    if (*p == '\0')
        return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

/* Write the base of dirs (the changes payloads, in order) as
 * staging/changes-000001.ndjson. */
static int
write_base(char **dirs, size_t n, const char *staging, struct nv_retain_stats *st)
{
    struct pass p;
    struct nv_atomic a;
    char *out = nv_path_join(staging, "changes-000001.ndjson");
    int r;

    memset(&p, 0, sizeof(p));
    p.fd = -1;
    nv_hmap_init_eq(&p.map, sizeof(struct last), 1024, last_eq);
    if ((p.rec = malloc(sizeof(*p.rec))) == NULL)
        abort();
    if ((r = nv_rm_rf(staging)) < 0 || (r = nv_mkdir_p(staging, 0700)) < 0 ||
        (r = each_line(dirs, n, &p, note_last, &st->bytes_in)) < 0 ||
        (r = nv_atomic_open(&a, out, 0600)) < 0)
        goto out;
    p.fd = a.fd;
    if ((r = each_line(dirs, n, &p, keep_last, NULL)) == 0 && (r = flush_out(&p)) == 0)
        r = nv_atomic_commit(&a, 1);
    else
        nv_atomic_abort(&a);
    if (r == 0)
        r = nv_fsync_dir(staging);
    st->lines_in += p.lines_in;
    st->lines_out += p.lines_out;
    st->bytes_out += p.bytes_out;
out:
    {
        size_t it = 0;
        struct last *l;
        while ((l = nv_hmap_next(&p.map, &it, NULL)) != NULL)
            free(l->key);
    }
    nv_hmap_release(&p.map);
    nv_buf_release(&p.scratch);
    nv_buf_release(&p.key);
    nv_buf_release(&p.out);
    free(p.rec);
    free(out);
    return r;
}

static int
retain_entity(struct nv_hub *h, const char *rd, const char *entity, int64_t before,
              struct nv_retain_stats *st)
{
    char *ed = nv_path_join(rd, entity), **dirs = NULL, **all = NULL, *staging = NULL;
    struct dirent **ents = NULL;
    struct nv_stream_state ss;
    size_t nd = 0, na = 0, base = 0;
    uint64_t kseq = 0;
    MDB_txn *txn;
    int ne, r = 0, rc;

    if ((ne = scandir(ed, &ents, nv_hub_is_seq_dir, alphasort)) < 0) {
        free(ed);
        return 0;
    }
    if ((rc = mdb_txn_begin(h->store.env, NULL, MDB_RDONLY, &txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot read");
        goto out;
    }
    if ((dirs = calloc((size_t)ne + 1, sizeof(*dirs))) == NULL ||
        (all = calloc((size_t)ne + 1, sizeof(*all))) == NULL)
        abort();
    /* the bundles applied before `before`, from the first on: a base
     * supersedes everything before it, so they must be a prefix */
    if ((r = nv_hstore_stream_get(txn, &h->store, entity, &ss)) == 0) {
        for (int i = 0; i < ne; i++) {
            uint64_t seq = strtoull(ents[i]->d_name, NULL, 10);
            int64_t applied;
            int acks;
            if (seq == 0 || seq > ss.seq ||
                nv_hub_bundle_info(txn, h, entity, seq, &acks, &applied) < 0 ||
                applied == 0 || applied >= before)
                break;
            all[na++] = nv_path_join(ed, ents[i]->d_name);
            if (!acks) {
                dirs[nd++] = all[na - 1];
                kseq = seq;
                base = na - 1;
            }
        }
    }
    mdb_txn_abort(txn);
    if (r < 0 || nd == 0 || na == 1)
        goto out; /* nothing, or only the base itself */
    {
        char name[300];
        snprintf(name, sizeof(name), ".staging-base-%s-%llu", entity, (unsigned long long)kseq);
        staging = nv_path_join(rd, name);
    }
    if ((r = write_base(dirs, nd, staging, st)) < 0)
        goto out;
    /* the one step: the base takes the newest directory's place */
    if (renameat2(AT_FDCWD, staging, AT_FDCWD, all[base], RENAME_EXCHANGE) < 0) {
        r = nv_fail_errno("cannot put the base of '%s' in place (the file system must "
                          "support RENAME_EXCHANGE)", entity);
        goto out;
    }
    if ((r = nv_fsync_dir(rd)) < 0 || (r = nv_fsync_dir(ed)) < 0)
        goto out;
    /* what it supersedes: the newest directory's old payload (now under
     * the staging name), then the others, oldest first */
    r = nv_rm_rf(staging);
    for (size_t i = 0; r == 0 && i < na; i++)
        if (i != base)
            r = nv_rm_rf(all[i]);
    if (r == 0)
        r = nv_fsync_dir(ed);
    if (r == 0) {
        st->entities++;
        st->merged += na;
        nv_info("prune", "received/%s: %zu bundle payload(s) applied before the retention "
                "merged into the base at seq %llu", entity, na, (unsigned long long)kseq);
    }
out:
    for (size_t i = 0; all != NULL && i < na; i++)
        free(all[i]);
    free(all);
    free(dirs);
    for (int i = 0; i < ne; i++)
        free(ents[i]);
    free(ents);
    free(staging);
    free(ed);
    return r;
}

int
nv_hub_retain_received(struct nv_hub *h, int64_t before, struct nv_retain_stats *st)
{
    char *rd = nv_path_join(h->dir, "received");
    struct dirent **ents = NULL;
    int ne, r = 0;

    memset(st, 0, sizeof(*st));
    if ((ne = scandir(rd, &ents, NULL, alphasort)) < 0) {
        r = errno == ENOENT ? 0 : nv_fail_errno("cannot read '%s'", rd);
        ne = 0;
    }
    for (int i = 0; i < ne; i++) {
        if (r == 0 && nv_name_valid(ents[i]->d_name))
            r = retain_entity(h, rd, ents[i]->d_name, before, st);
        free(ents[i]);
    }
    free(ents);
    free(rd);
    return r;
}
