/*
 * cmd_mapping.c - `nova-hub mapping set|show|log|diff|suggest` and
 * `nova-hub replay`.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../../formats/cli.h"
#include "../../formats/progress.h"
#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/util.h"
#include "cmds.h"
#include "../intake/ingest.h"
#include "../model/mapping.h"
#include "../store/maprepo.h"
#include "../model/suggest.h"

/* "Name <email>" -> name, email (pointers into buf). */
static int
split_author(const char *in, char *buf, size_t n, const char **name,
             const char **email)
{
    char *lt, *gt;

    snprintf(buf, n, "%s", in);
    lt = strchr(buf, '<');
    gt = lt ? strchr(lt, '>') : NULL;
    if (lt == NULL || gt == NULL || gt[1] != '\0' || lt == buf)
        return -1;
    *gt = '\0';
    *email = lt + 1;
    while (lt > buf && lt[-1] == ' ')
        lt--;
    *lt = '\0';
    *name = buf;
    return **name && **email ? 0 : -1;
}

static void
default_author(char *buf, size_t n)
{
    const char *u = getenv("NOVA_USER");
    char host[256] = "localhost";

    if (u == NULL || *u == '\0')
        u = getenv("USER");
    if (u == NULL || *u == '\0')
        u = "operator";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, n, "%s <%s@%s>", u, u, host);
}

int
nv_hub_author(const char *author, char *buf, size_t n, const char **name, const char **email)
{
    char d[512];

    if (author == NULL) {
        default_author(d, sizeof(d));
        author = d;
    }
    return split_author(author, buf, n, name, email);
}

static int
mapping_set(const char *dir, const char *entity, const char *file,
            const char *author, const char *message)
{
    struct nv_hub h;
    struct nv_mapping m;
    struct nv_buf text = NV_BUF_INIT, msg = NV_BUF_INIT;
    char abuf[512], dauthor[512], commit[41];
    const char *aname, *aemail;
    char **cols = NULL;
    size_t ncols = 0;
    MDB_txn *txn;
    int r, rc;

    if (author == NULL) {
        default_author(dauthor, sizeof(dauthor));
        author = dauthor;
    }
    if (split_author(author, abuf, sizeof(abuf), &aname, &aemail) < 0)
        return nv_cli_usage("--author must be 'Name <email>'");
    if ((r = nv_read_file(file, NV_MAP_MAX_TEXT, &text)) < 0)
        return nv_cli_fail(r);
    if ((r = nv_mapping_parse((char *)text.data, text.len, entity, &m)) < 0) {
        fprintf(stderr, "nova-hub: error: '%s' refused: %s\n", file, nv_errmsg(r));
        nv_buf_release(&text);
        return nv_exit_status(r);
    }
    if ((r = nv_hub_open(&h, dir)) < 0) {
        nv_mapping_release(&m);
        nv_buf_release(&text);
        return nv_cli_fail(r);
    }
    if ((rc = mdb_txn_begin(h.store.env, NULL, MDB_RDONLY, &txn)) != 0) {
        r = nv_hmdb_fail(rc, "cannot read");
        goto out;
    }
    r = nv_hstore_columns(txn, &h.store, entity, &cols, &ncols);
    mdb_txn_abort(txn);
    if (r < 0)
        goto out;
    if ((r = nv_mapping_check_columns(&m, (const char *const *)cols, ncols)) < 0) {
        fprintf(stderr, "nova-hub: error: '%s' refused: %s\n", file, nv_errmsg(r));
        fprintf(stderr, "nova-hub: %s's exports have these columns:", entity);
        for (size_t i = 0; i < ncols; i++)
            fprintf(stderr, " '%s'", cols[i]);
        fprintf(stderr, "\n");
        goto out;
    }
    if (message == NULL) {
        if ((r = nv_buf_addf(&msg, "mapping: set %s\n", entity)) < 0)
            goto out;
    } else if ((r = nv_buf_addf(&msg, "%s\n", message)) < 0) {
        goto out;
    }
    r = nv_maprepo_set(h.maps, entity, (char *)text.data, text.len, aname, aemail,
                       (char *)msg.data, commit);
    if (r == 1) {
        printf("unchanged: %s's mapping is already this text (commit %.12s)\n", entity,
               commit);
        r = 0;
    } else if (r == 0) {
        printf("committed %.12s: mapping of %s (%zu columns, key %s)%s\n", commit,
               entity, m.ncols, m.key[0],
               ncols == 0 ? "; the entity has sent nothing yet, so its columns are "
                            "not checked" : "");
        printf("bundles applied from now on use it; re-apply what %s already sent "
               "with: nova-hub replay %s %s\n", entity, dir, entity);
    }
out:
    for (size_t i = 0; i < ncols; i++)
        free(cols[i]);
    free(cols);
    nv_hub_close(&h);
    nv_mapping_release(&m);
    nv_buf_release(&text);
    nv_buf_release(&msg);
    if (r < 0 && r != NV_EFORMAT)
        return nv_cli_fail(r);
    return r < 0 ? nv_exit_status(r) : 0;
}

static int
print_change(void *ctx, const struct nv_maprepo_change *c)
{
    int json = *(int *)ctx;
    char when[21];
    size_t l = strlen(c->message);
    char msg[1024];

    snprintf(msg, sizeof(msg), "%s", c->message);
    while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = '\0';
    nv_time_format(c->time, when);
    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:b}", "commit", c->commit, "time",
                              when, "author", c->author, "message", msg, "removed",
                              c->removed);
        char *t = json_dumps(o, JSON_COMPACT);
        if (t != NULL)
            printf("%s\n", t);
        free(t);
        json_decref(o);
    } else {
        printf("%.12s  %s  %s\n    %s\n", c->commit, when, c->author, msg);
    }
    return 0;
}

static int
mapping_read(const char *dir, const char *action, const char *entity,
             const char *a, const char *b, int json)
{
    struct nv_maprepo *mr = NULL;
    struct nv_buf out = NV_BUF_INIT;
    char commit[41];
    int r;

    if (!nv_exists(dir))
        return nv_cli_fail(nv_fail(NV_ENOTFOUND, "no hub directory '%s'", dir));
    if ((r = nv_maprepo_open(&mr, dir)) < 0)
        return nv_cli_fail(r);
    if (strcmp(action, "show") == 0) {
        r = nv_maprepo_get(mr, entity, a, &out, commit);
        if (r == 0 && !json) {
            fprintf(stderr, "# %s's mapping at commit %.12s\n", entity, commit);
            fwrite(out.data, 1, out.len, stdout);
        } else if (r == 0) {
            json_t *o = json_pack("{s:s,s:s,s:s%}", "entity", entity, "commit", commit,
                                  "text", (char *)out.data, out.len);
            char *t = json_dumps(o, JSON_COMPACT);
            if (t != NULL)
                printf("%s\n", t);
            free(t);
            json_decref(o);
        }
    } else if (strcmp(action, "log") == 0) {
        r = nv_maprepo_log(mr, entity, print_change, &json);
    } else {
        r = nv_maprepo_diff(mr, entity, b ? a : NULL, b ? b : a, &out);
        if (r == 0)
            fwrite(out.data, 1, out.len, stdout);
    }
    nv_buf_release(&out);
    nv_maprepo_close(mr);
    return r < 0 ? nv_cli_fail(r) : 0;
}

/* UTF-8 validity of a prefix (a sequence cut at the end is fine). */
static int
utf8_valid(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                 : (c & 0xf8) == 0xf0 ? 3 : 9;
        if (k == 9 || (k == 1 && c < 0xc2))
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n)
                return 1;
            if (((unsigned char)p[i + j] & 0xc0) != 0x80)
                return 0;
        }
        i += k + 1;
    }
    return 1;
}

static int
mapping_suggest(const char *entity, const char *sample, const char *enc)
{
    struct nv_buf out = NV_BUF_INIT, unplaced = NV_BUF_INIT;
    int encoding = 0, fd, r;

    if (!nv_name_valid(entity))
        return nv_cli_usage("'%s' is not an entity name", entity);
    if (enc != NULL && (encoding = nv_encoding_parse(enc)) == 0)
        return nv_cli_usage("unknown encoding '%s' (utf-8, windows-1252, iso-8859-1)", enc);
    if ((fd = open(sample, O_RDONLY | O_CLOEXEC)) < 0)
        return nv_cli_fail(nv_fail_errno("cannot open '%s'", sample));
    if (enc == NULL) {
        /* not UTF-8: the usual other encoding of French CRM exports */
        char head[65536];
        ssize_t n = pread(fd, head, sizeof(head), 0);
        if (n > 0 && !utf8_valid(head, (size_t)n)) {
            encoding = NV_ENC_CP1252;
            fprintf(stderr, "nova-hub: '%s' is not UTF-8; read as windows-1252 "
                    "(--encoding to choose)\n", sample);
        }
    }
    r = nv_mapping_suggest(entity, fd, encoding, &out, &unplaced);
    close(fd);
    if (r == 0) {
        fwrite(out.data, 1, out.len, stdout);
        if (unplaced.len > 0)
            fprintf(stderr, "nova-hub: could not place these columns (kept as extension "
                    "fields; map or ignore them):\n%s", (char *)unplaced.data);
        else
            fprintf(stderr, "nova-hub: every column placed; check the result before "
                    "nova-hub mapping set\n");
    }
    nv_buf_release(&out);
    nv_buf_release(&unplaced);
    return r < 0 ? nv_cli_fail(r) : 0;
}

int
nv_cmd_mapping(int argc, char **argv)
{
    const char *pos[5] = { NULL }, *author = NULL, *message = NULL, *rev = NULL,
               *enc = NULL;
    int npos = 0, json = 0;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (nv_opt_flag(argv, i, "--json")) {
            json = 1;
        } else if (nv_opt_val(argc, argv, &i, "--author", &v)) {
            if ((author = v) == NULL)
                return nv_cli_usage("--author needs 'Name <email>'");
        } else if (nv_opt_val(argc, argv, &i, "--message", &v) ||
                   nv_opt_val(argc, argv, &i, "-m", &v)) {
            if ((message = v) == NULL)
                return nv_cli_usage("--message needs a text");
        } else if (nv_opt_val(argc, argv, &i, "--rev", &v)) {
            if ((rev = v) == NULL)
                return nv_cli_usage("--rev needs a revision");
        } else if (nv_opt_val(argc, argv, &i, "--encoding", &v)) {
            if ((enc = v) == NULL)
                return nv_cli_usage("--encoding needs a name");
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (npos == 5) {
            return nv_cli_usage("too many arguments");
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (npos == 0)
        return nv_cli_usage("an action is required: set, show, log, diff or suggest");
    if (strcmp(pos[0], "suggest") == 0) {
        if (npos != 3)
            return nv_cli_usage("mapping suggest ENTITY SAMPLE.csv [--encoding ENC]");
        return mapping_suggest(pos[1], pos[2], enc);
    }
    if (npos < 3)
        return nv_cli_usage("mapping %s DIR ENTITY ...", pos[0]);
    if (!nv_name_valid(pos[2]))
        return nv_cli_usage("'%s' is not an entity name", pos[2]);
    if (strcmp(pos[0], "set") == 0) {
        if (npos != 4)
            return nv_cli_usage("mapping set DIR ENTITY FILE [--author 'Name <email>'] "
                                "[--message TEXT]");
        return mapping_set(pos[1], pos[2], pos[3], author, message);
    }
    if (strcmp(pos[0], "show") == 0 || strcmp(pos[0], "log") == 0) {
        if (npos != 3)
            return nv_cli_usage("mapping %s DIR ENTITY", pos[0]);
        return mapping_read(pos[1], pos[0], pos[2], rev, NULL, json);
    }
    if (strcmp(pos[0], "diff") == 0)
        return mapping_read(pos[1], "diff", pos[2], npos > 3 ? pos[3] : NULL,
                            npos > 4 ? pos[4] : NULL, 0);
    return nv_cli_usage("unknown action '%s' (set, show, log, diff, suggest)", pos[0]);
}

static void
replay_report(void *ctx, uint64_t seq, const struct nv_apply_stats *st)
{
    (void)ctx;
    nv_progress_clear();
    printf("replayed    seq %llu: %llu upserts, %llu deletes, %llu rejected, "
           "%llu unmapped, %llu values not normalised\n", (unsigned long long)seq,
           (unsigned long long)st->upserts, (unsigned long long)st->deletes,
           (unsigned long long)st->rejected, (unsigned long long)st->unmapped,
           (unsigned long long)st->unnormalised);
    fflush(stdout);
}

int
nv_cmd_replay(int argc, char **argv)
{
    const char *pos[2] = { NULL, NULL };
    struct nv_apply_stats t;
    const struct nv_mapping *m;
    const char *commit;
    struct nv_hub h;
    int r;

    if ((r = nv_cli_args(argc, argv, NULL, NULL, pos, 2)) != 0)
        return r;
    if (pos[1] == NULL)
        return nv_cli_usage("DIR and ENTITY are required");
    if ((r = nv_hub_open(&h, pos[0])) < 0)
        return nv_cli_fail(r);
    if ((r = nv_hub_mapping(&h, pos[1], &m, &commit)) == 0) {
        if (m == NULL)
            printf("%s has no mapping: its records are stored unmapped\n", pos[1]);
        else
            printf("replaying %s's bundles under mapping commit %.12s\n", pos[1], commit);
        nv_progress_begin("replay", "records");
        r = nv_hub_replay(&h, pos[1], replay_report, NULL, &t);
        nv_progress_end(t.upserts + t.deletes + t.rejected, "%s's bundles %s", pos[1],
                        r == 0 ? "applied again" : "stopped");
    }
    if (r == 0)
        printf("done: %llu upserts, %llu deletes, %llu rejected, %llu unmapped, %llu values "
               "not normalised\n", (unsigned long long)t.upserts, (unsigned long long)t.deletes,
               (unsigned long long)t.rejected, (unsigned long long)t.unmapped,
               (unsigned long long)t.unnormalised);
    nv_hub_close(&h);
    return r < 0 ? nv_cli_fail(r) : 0;
}
