#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"
#include "errors.h"
#include "log.h"
#include "util.h"

const char *nv_cli_prog = "nova";
const char *nv_cli_cmd = "";
static const struct nv_cmd *cur;

#ifndef NOVA_VERSION /* the Makefile passes it, from VERSION (mk/version.sh) */
#define NOVA_VERSION "unknown"
#endif

const char *
nv_cli_version(void)
{
    return NOVA_VERSION;
}

static void
usage_all(FILE *f, const char *about, const struct nv_cmd *cmds)
{
    fprintf(f, "usage: %s COMMAND [ARGS]\n%s\n\ncommands:\n", nv_cli_prog, about);
    for (const struct nv_cmd *c = cmds; c->name; c++)
        fprintf(f, "  %-44s %s\n", c->usage, c->help);
    fprintf(f, "\nRun '%s COMMAND --help' for one command, '%s --version' for the version.\n"
            "Long work shows its progress on stderr when it is a terminal; '--quiet', "
            "given to any command, silences it.\n"
            "\nexit status:\n%s",
            nv_cli_prog, nv_cli_prog, nv_exit_table());
}

int
nv_cli_main(const char *prog, const char *about, const struct nv_cmd *cmds,
            int argc, char **argv)
{
    const char *name;

    nv_cli_prog = prog;
    if (argc < 2) {
        usage_all(stderr, about, cmds);
        return 2;
    }
    name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        (strcmp(name, "help") == 0 && argc == 2)) {
        usage_all(stdout, about, cmds);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("%s %s\n", prog, NOVA_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0)
        name = argv[2];
    for (const struct nv_cmd *c = cmds; c->name; c++) {
        if (strcmp(c->name, name) != 0)
            continue;
        cur = c;
        nv_cli_cmd = c->name;
        if (strcmp(argv[1], "help") == 0) {
            printf("usage: %s %s\n%s\n", prog, c->usage, c->help);
            return 0;
        }
        /* --quiet, given to any command: no progress lines (progress.h) */
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--") == 0)
                break;
            if (strcmp(argv[i], "--quiet") == 0) {
                nv_progress_quiet(1);
                memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(char *));
                argc--;
                i--;
            }
        }
        for (int i = 2; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                printf("usage: %s %s\n%s\n\nexit status:\n%s", prog, c->usage,
                       c->help, nv_exit_table());
                return 0;
            }
        return c->fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: error: unknown command '%s'\n", prog, name);
    usage_all(stderr, about, cmds);
    return 2;
}

int
nv_cli_fail(int code)
{
    fprintf(stderr, "%s%s: error: %s\n", nv_log_journal() ? "<3>" : "", nv_cli_prog,
            nv_errmsg(code));
    return nv_exit_status(code);
}

int
nv_cli_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s %s: ", nv_cli_prog, nv_cli_cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cur != NULL)
        fprintf(stderr, "\nusage: %s %s\n", nv_cli_prog, cur->usage);
    else
        fputc('\n', stderr);
    return 2;
}

int
nv_opt_val(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *val = NULL;
        return 1;
    }
    *val = argv[++*i];
    return 1;
}

int
nv_opt_flag(char **argv, int i, const char *name)
{
    return strcmp(argv[i], name) == 0;
}

int
nv_parse_size(const char *s, uint64_t *out)
{
    char num[32];
    size_t n = strlen(s);
    uint64_t mult = 1, v;

    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n + 1);
    switch (num[n - 1]) {
    case 'K': case 'k': mult = 1ULL << 10; num[--n] = '\0'; break;
    case 'M': case 'm': mult = 1ULL << 20; num[--n] = '\0'; break;
    case 'G': case 'g': mult = 1ULL << 30; num[--n] = '\0'; break;
    }
    if (nv_parse_u64(num, &v) < 0 || v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

int
nv_cli_pos_opt(int argc, char **argv, const char *name, const char *need, const char **val,
               const char **pos, int npos)
{
    int n = 0;

    for (int k = 0; k < npos; k++)
        pos[k] = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (nv_opt_val(argc, argv, &i, name, &v)) {
            if (v == NULL)
                return need != NULL ? nv_cli_usage("%s", need)
                                    : nv_cli_usage("%s needs a value", name);
            *val = v;
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (n < npos) {
            pos[n++] = argv[i];
        } else {
            return nv_cli_usage("too many arguments");
        }
    }
    return 0;
}

int
nv_cli_dir_opt(int argc, char **argv, const char *name, const char **val,
               const char **dir)
{
    int r = nv_cli_pos_opt(argc, argv, name, NULL, val, dir, 1);

    if (r != 0)
        return r;
    return *dir == NULL ? nv_cli_usage("DIR is required") : 0;
}

int
nv_cli_args(int argc, char **argv, const char *flag, int *flag_set,
            const char **pos, int npos)
{
    int n = 0;

    for (int k = 0; k < npos; k++)
        pos[k] = NULL;
    for (int i = 1; i < argc; i++) {
        if (flag != NULL && nv_opt_flag(argv, i, flag))
            *flag_set = 1;
        else if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else if (n < npos)
            pos[n++] = argv[i];
        else
            return nv_cli_usage("too many arguments");
    }
    return 0;
}
