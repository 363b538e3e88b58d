#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "progress.h"

static const char *prog_name = "nova";
static int max_level = NV_LOG_INFO;
static int journal;

/* Started by systemd: JOURNAL_STREAM names stderr's device and inode when
 * stderr is the journal (a child of a service whose stderr went elsewhere
 * inherits a stale value, hence the check); without JOURNAL_STREAM,
 * INVOCATION_ID says a service started us (StandardError= other than the
 * journal), and a terminal is never one. */
static int
under_systemd(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
        fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
        (unsigned long long)st.st_ino == ino)
        return 1;
    return js == NULL && getenv("INVOCATION_ID") != NULL && !isatty(STDERR_FILENO);
}

int
nv_log_journal(void)
{
    return journal;
}

void
nv_log_init(const char *prog, int level)
{
    const char *env = getenv("NOVA_LOG");

    prog_name = prog;
    max_level = level;
    if (env != NULL) {
        if (strcmp(env, "debug") == 0)
            max_level = NV_LOG_DEBUG;
        else if (strcmp(env, "warn") == 0)
            max_level = NV_LOG_WARN;
        else if (strcmp(env, "error") == 0)
            max_level = NV_LOG_ERR;
    }
    journal = under_systemd();
}

void
nv_log(int level, const char *module, const char *fmt, ...)
{
    static const char *names[] = { "emerg", "alert", "crit", "error",
                                   "warning", "notice", "info", "debug" };
    char line[2048];
    va_list ap;

    if (level > max_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    nv_progress_clear(); /* a log line never lands inside a progress line */
    if (journal)
        fprintf(stderr, "<%d>%s: %s: %s\n", level, module, names[level], line);
    else
        fprintf(stderr, "%s: %s: %s: %s\n", prog_name, names[level], module, line);
    fflush(stderr);
}

const char *
nv_log_escape(const char *s, char *out, size_t n)
{
    size_t o = 0;

    for (; *s && o + 5 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f || c == '\\')
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}
