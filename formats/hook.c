/*
 * hook.c - run a site's command with a time limit, its output read while it
 * runs (hook.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"

static void
tail_take(char *tail, size_t *nt, size_t cap, const char *b, size_t n)
{
    if (n >= cap) {
        memcpy(tail, b + n - cap, cap);
        *nt = cap;
        return;
    }
    if (*nt + n > cap) {
        size_t drop = *nt + n - cap;
        memmove(tail, tail + drop, *nt - drop);
        *nt -= drop;
    }
    memcpy(tail + *nt, b, n);
    *nt += n;
}

static void
hook_take(struct nv_hook_out *h, const char *b, size_t n, int is_stdout)
{
    h->total += n;
    if (is_stdout && !h->first_done) {
        for (size_t i = 0; i < n && !h->first_done; i++) {
            if (b[i] == '\n' || b[i] == '\r' || h->nfirst + 1 >= sizeof(h->first))
                h->first_done = 1;
            else
                h->first[h->nfirst++] = b[i];
        }
    }
    tail_take(h->tail, &h->ntail, NV_HOOK_TAIL, b, n);
    if (!is_stdout)
        tail_take(h->etail, &h->netail, NV_HOOK_ERR_TAIL, b, n);
}

/* Read what is there on fd; 0 at end of file, 1 if still open. */
static int
hook_drain(struct nv_hook_out *h, int fd, int is_stdout)
{
    char buf[16384];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            hook_take(h, buf, (size_t)n, is_stdout);
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : 0;
    }
}

void
nv_hook_scrub(const char *in, const char *key, int numbers, char *out, size_t n)
{
    size_t kl = key ? strlen(key) : 0, o = 0;

#define PUT(str, len)                                                                          \
    do {                                                                                       \
        size_t l_ = (len);                                                                     \
        if (o + l_ >= n)                                                                       \
            goto full;                                                                         \
        memcpy(out + o, (str), l_);                                                            \
        o += l_;                                                                               \
    } while (0)
    if (n == 0)
        return;
    for (size_t i = 0; in[i];) {
        size_t digits = 0, j = i;
        char c;
        if (kl >= 2 && strncmp(in + i, key, kl) == 0) {
            PUT("<key>", 5);
            i += kl;
            continue;
        }
        if (strchr(" <(:'\"=,;[", in[i]) == NULL &&
            (i == 0 || strchr(" <(:'\"=,;[", in[i - 1]) != NULL)) {
            size_t e = i;
            int at = 0;
            while (in[e] && strchr(" >)'\",;]=:", in[e]) == NULL) {
                at |= in[e] == '@';
                e++;
            }
            if (at) {
                PUT("<e-mail>", 8);
                i = e;
                continue;
            }
        }
        while (in[j] && ((in[j] >= '0' && in[j] <= '9') ||
                         (in[j] == '+' && digits == 0) ||
                         (strchr(" .-/", in[j]) != NULL && digits > 0 && in[j + 1] >= '0' &&
                          in[j + 1] <= '9'))) {
            digits += in[j] >= '0' && in[j] <= '9';
            j++;
        }
        if (digits >= 6 && numbers) {
            PUT("<number>", 8);
            i = j;
            continue;
        }
        if (j > i) {
            PUT(in + i, j - i);
            i = j;
            continue;
        }
        c = (unsigned char)in[i] < 0x20 || in[i] == 0x7F ? ' ' : in[i];
        PUT(&c, 1);
        i++;
    }
full:
    out[o] = '\0';
#undef PUT
}

void
nv_hook_last_lines(const struct nv_hook_out *h, const char *key, char *out, size_t n)
{
    const char *t = h->netail > 0 ? h->etail : h->tail;
    size_t e = h->netail > 0 ? h->netail : h->ntail, b, lines = 0;
    /* each line end becomes " | " below: room for three times the tail */
    char buf[3 * NV_HOOK_ERR_TAIL + 1], *p;

    out[0] = '\0';
    /* the start of the last 3 non-empty lines */
    while (e > 0 && (t[e - 1] == '\n' || t[e - 1] == '\r' || t[e - 1] == ' '))
        e--;
    b = e;
    while (b > 0 && lines < 3) {
        if (t[b - 1] == '\n' || t[b - 1] == '\r') {
            lines++;
            if (lines == 3)
                break;
            while (b > 0 && (t[b - 1] == '\n' || t[b - 1] == '\r'))
                b--;
            continue;
        }
        b--;
    }
    if (e - b > NV_HOOK_ERR_TAIL)
        b = e - NV_HOOK_ERR_TAIL;
    memcpy(buf, t + b, e - b);
    buf[e - b] = '\0';
    /* lines joined */
    for (p = buf; *p; p++)
        if (*p == '\n' || *p == '\r') {
            char *q = p;
            while (q[1] == '\n' || q[1] == '\r')
                q++;
            memmove(p + 3, q + 1, strlen(q + 1) + 1);
            memcpy(p, " | ", 3);
            p += 2;
        }
    {
        char clean[2 * NV_HOOK_ERR_TAIL + 1];
        size_t l;
        nv_hook_scrub(buf, key, 1, clean, sizeof(clean));
        l = strlen(clean);
        if (l >= n) /* the end of it counts most */
            snprintf(out, n, "...%s", clean + l - (n - 4));
        else
            snprintf(out, n, "%s", clean);
    }
}

void
nv_hook_failure(const char *what, int status, const struct nv_hook_out *h, const char *key,
                char *why, size_t whylen)
{
    char last[321];

    nv_hook_last_lines(h, key, last, sizeof(last));
    if (WIFEXITED(status))
        snprintf(why, whylen, "%s exited with status %d%s%s", what, WEXITSTATUS(status),
                 last[0] ? "; its last output: " : "", last);
    else
        snprintf(why, whylen, "%s killed by signal %d%s%s", what, WTERMSIG(status),
                 last[0] ? "; its last output: " : "", last);
}

int
nv_hook_run(char *const argv[], char *const env[], unsigned timeout_s, const char *what,
            struct nv_hook_out *h, int *status, char *why, size_t whylen)
{
    pid_t pid;
    int out[2], err[2], exited = 0, open_out = 1, open_err = 1;
    struct timespec start, now;

    why[0] = '\0';
    *status = 0;
    memset(h, 0, sizeof(*h));
    if (pipe2(out, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "cannot start the %s: %s", what, strerror(errno));
        return -1;
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "cannot start the %s: %s", what, strerror(errno));
        close(out[0]);
        close(out[1]);
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "cannot start the %s: %s", what, strerror(errno));
        close(out[0]);
        close(out[1]);
        close(err[0]);
        close(err[1]);
        return -1;
    }
    if (pid == 0) {
        int dn = open("/dev/null", O_RDWR);
        setpgid(0, 0);
        if (dn >= 0)
            dup2(dn, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close_range(3, ~0U, 0);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv(env[i]);
        execv(argv[0], argv);
        /* the reason reaches the parent through stderr */
        dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd pf[2] = { { open_out ? out[0] : -1, POLLIN, 0 },
                                { open_err ? err[0] : -1, POLLIN, 0 } };
        long left;
        if (!exited) {
            pid_t w = waitpid(pid, status, WNOHANG);
            if (w == pid) {
                exited = 1;
            } else if (w < 0 && errno != EINTR) {
                snprintf(why, whylen, "lost the %s: %s", what, strerror(errno));
                close(out[0]);
                close(err[0]);
                return -1;
            }
        }
        if (exited) {
            /* what it left in the pipes; a background child of the hook
             * that keeps them open is not waited for */
            if (open_out)
                (void)hook_drain(h, out[0], 1);
            if (open_err)
                (void)hook_drain(h, err[0], 0);
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        left = ((long)timeout_s - (long)(now.tv_sec - start.tv_sec)) * 1000 -
               (now.tv_nsec - start.tv_nsec) / 1000000;
        if (left <= 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            snprintf(why, whylen, "%s timed out after %u s", what, timeout_s);
            close(out[0]);
            close(err[0]);
            return -1;
        }
        /* wake for output, or every 50 ms to see whether it has exited */
        if (poll(pf, 2, left < 50 ? (int)left : 50) > 0) {
            if (pf[0].revents & (POLLIN | POLLHUP | POLLERR))
                open_out = hook_drain(h, out[0], 1);
            if (pf[1].revents & (POLLIN | POLLHUP | POLLERR))
                open_err = hook_drain(h, err[0], 0);
        }
    }
    close(out[0]);
    close(err[0]);
    h->first[h->nfirst] = '\0';
    for (char *c = h->first; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    return 0;
}
