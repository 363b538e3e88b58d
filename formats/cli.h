/*
 * cli.h - what every command needs: option scanning, usage errors, and
 * dying with the right exit status.  For command code only (modules return
 * codes and never exit).
 */
#ifndef NOVA_CLI_H
#define NOVA_CLI_H

#include <stdint.h>

struct nv_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage; /* "init DIR --entity NAME" */
    const char *help;  /* one line */
};

/* Dispatch argv[1] in cmds; handles --help, help CMD and --version. */
int nv_cli_main(const char *prog, const char *about,
                const struct nv_cmd *cmds, int argc, char **argv);

/* Print "prog: error: msg" and return the exit status for code. */
int nv_cli_fail(int code);
/* Print a usage error for the current command and return 2. */
int nv_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Option scanning: returns 1 and advances *i when argv[*i] is --name VALUE
 * or --name=VALUE; the value goes to *val. */
int nv_opt_val(int argc, char **argv, int *i, const char *name,
               const char **val);
int nv_opt_flag(char **argv, int i, const char *name);
/* "CMD [--FLAG] POS1 POS2 ...": pos[0..npos) get the positional arguments
 * in order (NULL where absent); flag (may be NULL) sets *flag_set.  Unknown
 * options and extra arguments are usage errors.  Returns 0, or the usage
 * exit status after printing the problem.  Callers check what is required. */
int nv_cli_args(int argc, char **argv, const char *flag, int *flag_set,
                const char **pos, int npos);
/* "CMD POS1 POS2... [--NAME VALUE]": pos[0..npos) get the positional
 * arguments in order (NULL where absent), *val the option's value
 * (unchanged when absent).  Unknown options, extra arguments and the option
 * without its value (the message need, or "--NAME needs a value") are usage
 * errors.  Returns 0, or the usage exit status; callers check what is
 * required and what the value must be. */
int nv_cli_pos_opt(int argc, char **argv, const char *name, const char *need, const char **val,
                   const char **pos, int npos);
/* "CMD DIR [--NAME VALUE]": *dir gets the one positional argument (required),
 * *val the option's value (unchanged when the option is absent).  Returns 0,
 * or the usage exit status after printing the problem. */
int nv_cli_dir_opt(int argc, char **argv, const char *name, const char **val,
                   const char **dir);
/* Parse a size with optional K/M/G suffix (powers of 1024). */
int nv_parse_size(const char *s, uint64_t *out);

/* The programs' version (VERSION, mk/version.sh). */
const char *nv_cli_version(void);

/* The current command's name, for messages. */
extern const char *nv_cli_prog;
extern const char *nv_cli_cmd;

#endif
