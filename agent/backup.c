/*
 * backup.c - nova-agent migrate, backup and restore: the state store's
 * schema version, and a consistent copy of the agent (formats/backup.h)
 * that a restore brings back.
 *
 * The agent's backup may be taken while `nova-agent run` works (it holds
 * agent.lock for as long as it runs).  The state store is copied first, in
 * one read transaction; what it says was sealed (the stream's sequence
 * number S) decides the rest: sent/ is copied up to S, and a bundle up to S
 * not yet linked into sent/ is taken from outbox/.pending or the outbox
 * (a bundle moves .pending, then .pending + sent/, then sent/ + outbox:
 * looked for in that order, it is found).  A bundle sealed after the copy
 * of the state is left out, as the state does not know it.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../formats/backup.h"
#include "../formats/cli.h"
#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "agent.h"
#include "backup.h"
#include "config.h"
#include "outbox.h"
#include "state.h"

/* nova-agent migrate DIR [--check] */
int
nv_agent_cmd_migrate(int argc, char **argv)
{
    const char *dir = NULL;
    struct nv_agent a;
    char *path;
    unsigned found;
    int check = 0, r;

    if ((r = nv_cli_args(argc, argv, "--check", &check, &dir, 1)) != 0)
        return r;
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    path = nv_path_join(dir, "state");
    if (check) {
        if ((r = nv_schema_peek(path, &found)) == 0)
            r = nv_schema_print("state store", path, found, NV_ASTATE_SCHEMA, 0,
                                nv_astate_migration);
    } else if ((r = nv_agent_open(&a, dir, 0)) == 0) {
        found = a.st.schema_was;
        nv_agent_close(&a);
        r = nv_schema_print("state store", path, found, NV_ASTATE_SCHEMA, 1,
                            nv_astate_migration);
    }
    free(path);
    return r < 0 ? nv_cli_fail(r) : 0;
}

/* The agent's directory but what is copied apart (the state store, sent/,
 * the outbox), the CRM's import/ (files a restore must not hand to the CRM
 * a second time), the lock, and names starting with '.'. */
static int
agent_filter(void *ctx, const char *rel, const char *name, int isdir)
{
    static const char *const apart[] = { "state", "sent", "outbox", "import", "agent.lock" };

    (void)ctx, (void)isdir;
    if (nv_temporary_name(name))
        return 0;
    if (strchr(rel, '/') == NULL)
        for (size_t i = 0; i < sizeof(apart) / sizeof(apart[0]); i++)
            if (strcmp(name, apart[i]) == 0)
                return 0;
    return 1;
}

struct seen {
    uint64_t sealed, applied; /* out: and in: sequence numbers of the copy */
    char hub[NV_NAME_MAX + 1];
};

static void
note_stream(void *ctx, const char *key, const struct nv_stream_state *st)
{
    struct seen *s = ctx;

    if (strncmp(key, "out:", 4) == 0 && st->seq >= s->sealed) {
        s->sealed = st->seq;
        snprintf(s->hub, sizeof(s->hub), "%s", key + 4);
    } else if (strncmp(key, "in:", 3) == 0 && st->seq > s->applied) {
        s->applied = st->seq;
    }
}

/* The bundles of from up to seq upto, into the backup's sent/ (one already
 * there is the same bundle). */
static int
copy_sealed(struct nv_backup *b, const char *from, uint64_t upto, uint64_t *n)
{
    struct dirent **ents = NULL;
    int k = scandir(from, &ents, NULL, alphasort), r = 0;

    if (k < 0)
        return 0; /* no such directory: nothing of it */
    for (int i = 0; i < k; i++) {
        uint64_t seq = nv_sent_seq(ents[i]->d_name);
        if (r == 0 && seq > 0 && seq <= upto) {
            char *rel = nv_path_join("dir/sent", ents[i]->d_name), *dst = nv_backup_path(b, rel);
            char *src = nv_path_join(from, ents[i]->d_name);
            if (!nv_exists(dst)) {
                r = nv_backup_file(b, src, rel);
                if (r < 0 && !nv_exists(src))
                    r = 0; /* moved on (.pending to the outbox): found there */
                else if (r == 0)
                    (*n)++;
            }
            free(rel);
            free(dst);
            free(src);
        }
        free(ents[i]);
    }
    free(ents);
    return r;
}

/* nova-agent backup DIR DEST */
int
nv_agent_cmd_backup(int argc, char **argv)
{
    const char *pos[2], *dir, *dest;
    struct nv_agent_config cfg;
    struct nv_identity_pub id;
    struct nv_astate st;
    struct nv_backup b;
    struct seen seen;
    char *p, *path = NULL;
    struct nv_buf info = NV_BUF_INIT;
    uint64_t kept = 0;
    int r, lock, live = 0, have_b = 0;

    if ((r = nv_cli_args(argc, argv, NULL, NULL, pos, 2)) != 0)
        return r;
    if (pos[1] == NULL)
        return nv_cli_usage("DIR and DEST are required");
    dir = pos[0];
    dest = pos[1];
    memset(&cfg, 0, sizeof(cfg));
    memset(&st, 0, sizeof(st));
    memset(&seen, 0, sizeof(seen));
    p = nv_path_join(dir, "keys/identity.pub");
    r = nv_exists(p);
    free(p);
    if (!r)
        return nv_cli_fail(nv_fail(NV_ENOTFOUND, "'%s' is not an agent directory (no "
                                   "keys/identity.pub; nova-agent init makes one)", dir));
    /* a running agent holds the lock: the copy is consistent without it */
    if ((lock = nv_dir_lock(dir, "agent.lock", "nova-agent")) == NV_EEXIST) {
        live = 1;
    } else if (lock < 0) {
        return nv_cli_fail(lock);
    }
    p = nv_path_join(dir, "keys/identity.pub");
    r = nv_identity_pub_read(p, &id);
    free(p);
    if (r < 0 || (r = nv_agent_config_load(&cfg, dir)) < 0 ||
        (r = nv_backup_outside(dir, dest)) < 0 || (r = nv_astate_open(&st, dir)) < 0 ||
        (r = nv_backup_begin(&b, dest, "nova-agent", id.entity)) < 0)
        goto out;
    have_b = 1;
    nv_backup_note(&b, "schema", "%u", NV_ASTATE_SCHEMA);
    if (live)
        nv_backup_note(&b, "taken", "while nova-agent ran");
    /* the state store: one read transaction's view, which decides the rest */
    p = nv_backup_path(&b, "dir/state/data.mdb");
    p[strlen(p) - strlen("/data.mdb")] = '\0';
    if ((r = nv_lmdb_copy(st.env, p)) == 0)
        r = nv_lmdb_copy_streams(p, note_stream, &seen);
    free(p);
    if (r < 0)
        goto out;
    nv_backup_note(&b, "sent", "%s seq %llu", seen.hub[0] ? seen.hub : "(none)",
                   (unsigned long long)seen.sealed);
    nv_backup_note(&b, "applied", "hub seq %llu", (unsigned long long)seen.applied);
    {
        char *pd = nv_path_join(cfg.outbox, ".pending"), *sd = nv_path_join(dir, "sent");
        if ((r = copy_sealed(&b, sd, seen.sealed, &kept)) == 0 &&
            (r = copy_sealed(&b, pd, seen.sealed, &kept)) == 0)
            r = copy_sealed(&b, cfg.outbox, seen.sealed, &kept);
        free(pd);
        free(sd);
        if (r < 0)
            goto out;
        nv_backup_note(&b, "kept", "%llu sealed bundle(s) in sent/", (unsigned long long)kept);
    }
    if ((r = nv_backup_tree(&b, dir, "dir", agent_filter, NULL)) < 0)
        goto out;
    {
        /* the directories a restored agent needs, empty */
        static const char *const empty[] = { "outbox", "import" };
        for (size_t i = 0; r == 0 && i < sizeof(empty) / sizeof(empty[0]); i++) {
            char *src = nv_path_join(dir, empty[i]), *rel = nv_path_join("dir", empty[i]);
            if (nv_exists(src)) {
                char *d = nv_backup_path(&b, rel);
                r = nv_mkdir_p(d, 0700);
                free(d);
            }
            free(src);
            free(rel);
        }
    }
    {
        /* a configuration outside DIR is kept, never restored by us */
        char *own = nv_path_join(dir, "agent.conf");
        if (r == 0 && strcmp(cfg.path, own) != 0) {
            r = nv_backup_file(&b, cfg.path, "etc/agent.conf");
            char *abs = realpath(cfg.path, NULL);
            nv_backup_note(&b, "config", "%s", abs != NULL ? abs : cfg.path);
            free(abs);
        }
        free(own);
    }
    if (r < 0)
        goto out;
    have_b = 0;
    if ((r = nv_backup_commit(&b, &path, &info)) == 0) {
        printf("backup written to %s\n", path);
        nv_backup_print(&info);
        printf("check it with 'cd %s && sha256sum -c SHA256SUMS'\n", path);
    }
out:
    if (have_b)
        nv_backup_abort(&b);
    free(path);
    nv_buf_release(&info);
    nv_astate_close(&st);
    if (cfg.path != NULL)
        nv_agent_config_release(&cfg);
    if (lock >= 0)
        close(lock);
    return r < 0 ? nv_cli_fail(r) : 0;
}

static int
check_restored(void *ctx, const char *tmp)
{
    char *sp = nv_path_join(tmp, "state");
    int r = nv_schema_check("state store", sp, NV_ASTATE_SCHEMA, nv_astate_migration);

    (void)ctx;
    free(sp);
    return r;
}

/* nova-agent restore BACKUP DIR */
int
nv_agent_cmd_restore(int argc, char **argv)
{
    const char *pos[2];
    struct nv_buf info = NV_BUF_INIT;
    char config[PATH_MAX + 32];
    int r;

    if ((r = nv_cli_args(argc, argv, NULL, NULL, pos, 2)) != 0)
        return r;
    if (pos[1] == NULL)
        return nv_cli_usage("BACKUP and DIR are required");
    if ((r = nv_backup_restore(pos[0], "nova-agent", pos[1], check_restored, NULL, &info)) == 0) {
        printf("restored %s into %s:\n", pos[0], pos[1]);
        nv_backup_print(&info);
        nv_backup_info(&info, "config", config, sizeof(config));
        if (config[0] != '\0')
            printf("the configuration was outside the directory: put %s/etc/agent.conf back "
                   "where it was (%s)\n", pos[0], config);
        printf("next: 'nova-agent resend %s' puts the bundles the hub has not acknowledged "
               "back into the outbox (the hub drops those it has as duplicates); if the hub "
               "applied bundles of this agent past 'sent' above, this agent is behind it and "
               "needs a re-baseline\n", pos[1]);
    }
    nv_buf_release(&info);
    return r < 0 ? nv_cli_fail(r) : 0;
}
