/*
 * push.c - move bundle files to their transport (push.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "erased.h"
#include "errors.h"
#include "fileio.h"
#include "log.h"
#include "push.h"
#include "util.h"

int
nv_push_is_remote(const char *dest)
{
    const char *colon = strchr(dest, ':'), *slash = strchr(dest, '/');

    return colon != NULL && colon != dest && (slash == NULL || colon < slash);
}

/* Run argv (no shell), its stdout into out (may be NULL); 0 when it exits
 * 0. */
static int
run(char *const argv[], struct nv_buf *out)
{
    int p[2], st;
    pid_t pid;
    char buf[4096];
    ssize_t n;

    if (pipe(p) < 0)
        return nv_fail_errno("pipe");
    if ((pid = fork()) < 0) {
        close(p[0]);
        close(p[1]);
        return nv_fail_errno("fork");
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        dup2(p[1], 1);
        if (nul >= 0)
            dup2(nul, 0);
        close(p[0]);
        close(p[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    while ((n = read(p[0], buf, sizeof(buf))) > 0)
        if (out != NULL && nv_buf_add(out, buf, (size_t)n) < 0)
            break;
    close(p[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return nv_fail(NV_ESYS, "push: cannot run '%s' (apt-get install %s)", argv[0],
                       strcmp(argv[0], "ssh") == 0 ? "openssh-client" : argv[0]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return nv_fail(NV_ESYS, "push: '%s' failed (exit status %d)", argv[0],
                       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return 0;
}

/* A path quoted for the remote shell ssh hands the command to. */
static char *
shq(const char *s)
{
    size_t n = 3;
    char *o, *p;

    for (const char *c = s; *c; c++)
        n += *c == '\'' ? 4 : 1;
    if ((o = malloc(n)) == NULL)
        abort();
    p = o;
    *p++ = '\'';
    for (const char *c = s; *c; c++) {
        if (*c == '\'') {
            memcpy(p, "'\\''", 4);
            p += 4;
        } else {
            *p++ = *c;
        }
    }
    *p++ = '\'';
    *p = '\0';
    return o;
}

static int
push_remote(const char *src, const char *name, const char *dest, const char *hex)
{
    const char *colon = strchr(dest, ':');
    char *host = strndup(dest, (size_t)(colon - dest)), *dir = strdup(colon + 1);
    char *tmp = NULL, *fin = NULL, *rtmp = NULL, *cmd = NULL, *qtmp = NULL, *qfin = NULL;
    struct nv_buf out = NV_BUF_INIT;
    int r;

    if (host == NULL || dir == NULL)
        abort();
    if (asprintf(&tmp, "%s%s.%s.part", dir, dir[0] && dir[strlen(dir) - 1] != '/' ? "/" : "",
                 name) < 0 ||
        asprintf(&fin, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] != '/' ? "/" : "",
                 name) < 0 ||
        asprintf(&rtmp, "%s:%s", host, tmp) < 0)
        abort();
    qtmp = shq(tmp[0] ? tmp : ".");
    qfin = shq(fin);
    {
        char a0[] = "rsync", a1[] = "-t", a2[] = "-e", a3[] = "ssh";
        char *cp[] = { a0, a1, a2, a3, (char *)src, rtmp, NULL };
        if ((r = run(cp, NULL)) < 0)
            goto out;
    }
    if (asprintf(&cmd, "sha256sum %s", qtmp) < 0)
        abort();
    {
        char a0[] = "ssh";
        char *sum[] = { a0, host, cmd, NULL };
        if ((r = run(sum, &out)) < 0)
            goto out;
    }
    if (out.len < 64 || memcmp(out.data, hex, 64) != 0) {
        char a0[] = "ssh", *rm[] = { a0, host, NULL, NULL };
        free(cmd);
        if (asprintf(&cmd, "rm -f %s", qtmp) < 0)
            abort();
        rm[2] = cmd;
        (void)run(rm, NULL); /* the damaged copy goes; failing that, it is a .part */
        r = nv_fail(NV_EHASH, "push: '%s' arrived at %s with another SHA-256: left "
                    "where it was", name, host);
        goto out;
    }
    free(cmd);
    if (asprintf(&cmd, "mv -n %s %s && test ! -e %s", qtmp, qfin, qtmp) < 0)
        abort();
    {
        char a0[] = "ssh";
        char *mv[] = { a0, host, cmd, NULL };
        r = run(mv, NULL);
    }
out:
    nv_buf_release(&out);
    free(host);
    free(dir);
    free(tmp);
    free(fin);
    free(rtmp);
    free(cmd);
    free(qtmp);
    free(qfin);
    return r;
}

/* Copy src to dir/.name.part (fsync), check its SHA-256, rename to
 * dir/name.  *already: the destination held that very file. */
static int
push_local(const char *src, const char *name, const char *dir, const uint8_t sha[32],
           int *already)
{
    char *tmp = NULL, *fin = nv_path_join(dir, name);
    uint8_t got[32];
    int r;

    *already = 0;
    if (nv_exists(fin)) {
        if (nv_file_sha256(fin, got) == 0 && memcmp(got, sha, 32) == 0) {
            *already = 1;
            r = 0;
        } else {
            r = nv_fail(NV_EEXIST, "push: '%s' is already at the destination with other "
                        "content: left where it was", name);
        }
        goto out;
    }
    if (asprintf(&tmp, "%s/.%s.part", dir, name) < 0)
        abort();
    if ((r = nv_copy_file(src, tmp, 0600, 0)) < 0)
        goto out;
    if ((r = nv_file_sha256(tmp, got)) < 0 || memcmp(got, sha, 32) != 0) {
        unlink(tmp);
        r = r < 0 ? r : nv_fail(NV_EHASH, "push: '%s' was written with another SHA-256: "
                                "left where it was", name);
        goto out;
    }
    if (link(tmp, fin) < 0) {
        r = errno == EEXIST ? nv_fail(NV_EEXIST, "push: '%s' appeared at the destination "
                                      "meanwhile", name)
                            : nv_fail_errno("push: cannot name '%s' at the destination", name);
        unlink(tmp);
        goto out;
    }
    unlink(tmp);
    r = nv_fsync_dir(dir);
out:
    free(tmp);
    free(fin);
    return r;
}

int
nv_push_dir(const char *dir, const char *dest, struct nv_push_stats *st)
{
    struct dirent **ents = NULL;
    int n, r = 0, remote = nv_push_is_remote(dest);
    struct stat sb;

    memset(st, 0, sizeof(*st));
    if (!remote && (stat(dest, &sb) < 0 || !S_ISDIR(sb.st_mode)))
        return nv_fail(NV_ENOTFOUND, "push: '%s' is not a directory (mount the key, or "
                       "give user@host:path)", dest);
    if ((n = scandir(dir, &ents, NULL, alphasort)) < 0)
        return nv_fail_errno("push: cannot read '%s'", dir);
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        size_t l = strlen(name);
        char *src, hex[65];
        uint8_t sha[32];
        int already = 0;
        if (r < 0 || name[0] == '.' || l < 6 || strcmp(name + l - 5, ".nova") != 0) {
            free(ents[i]);
            continue;
        }
        src = nv_path_join(dir, name);
        if ((r = nv_file_sha256(src, sha)) == 0) {
            nv_hex(sha, 32, hex);
            r = remote ? push_remote(src, name, dest, hex)
                       : push_local(src, name, dest, sha, &already);
        }
        if (r == 0) {
            if (stat(src, &sb) == 0)
                st->bytes += (uint64_t)sb.st_size;
            if (unlink(src) < 0 || nv_fsync_dir(dir) < 0)
                r = nv_fail_errno("push: '%s' is at the destination but cannot be removed "
                                  "here", name);
            else if (already)
                st->already++;
            else
                st->pushed++;
            if (r == 0)
                nv_info("push", "%s -> %s%s", name, dest, already ? " (already there)" : "");
        }
        free(src);
        free(ents[i]);
    }
    free(ents);
    return r;
}
