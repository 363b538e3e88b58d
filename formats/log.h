/*
 * log.h - one event per line on stderr: "nova-agent: level: module: text".
 * Under systemd (stderr is the journal stream JOURNAL_STREAM names, or
 * INVOCATION_ID is set and stderr is no terminal) a line is
 * "<N>module: level: text": the sd-daemon(3) priority prefix, no program
 * name and no time of day (the journal records both).
 * Callers never pass personal data: identifiers, counts and file names only.
 * File names and other outside strings are escaped so a line stays one line.
 */
#ifndef NOVA_LOG_H
#define NOVA_LOG_H

enum nv_log_level { NV_LOG_ERR = 3, NV_LOG_WARN = 4, NV_LOG_INFO = 6,
                    NV_LOG_DEBUG = 7 };

void nv_log_init(const char *prog, int level);
/* 1 when lines go to the journal with <N> prefixes (after nv_log_init). */
int nv_log_journal(void);
void nv_log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define nv_err(m, ...) nv_log(NV_LOG_ERR, m, __VA_ARGS__)
#define nv_warn(m, ...) nv_log(NV_LOG_WARN, m, __VA_ARGS__)
#define nv_info(m, ...) nv_log(NV_LOG_INFO, m, __VA_ARGS__)
#define nv_debug(m, ...) nv_log(NV_LOG_DEBUG, m, __VA_ARGS__)

/* Escape s for a log line into out (size n): control bytes, backslash and
 * non-ASCII become \xNN.  Returns out. */
const char *nv_log_escape(const char *s, char *out, size_t n);

#endif
