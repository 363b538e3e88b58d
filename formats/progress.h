/*
 * progress.h - progress of long work on a terminal: what it is on, records
 * done (of how many, when known), the rate and the time left, rewritten in
 * place on stderr at most every 250 ms, then one summary line.
 *
 * Only when stderr is a terminal and --quiet was not given
 * (nv_progress_quiet): a pipe, a file, the journal or cron see nothing.
 * One piece of work at a time per process (the commands are sequential):
 * the calls are no-ops outside nv_progress_begin .. nv_progress_end, so
 * code shared with `run` may tick freely.
 *
 * NOVA_PROGRESS_MS sets the interval between lines (tests use 0: every
 * tick prints).
 */
#ifndef NOVA_PROGRESS_H
#define NOVA_PROGRESS_H

#include <stdint.h>

/* --quiet: no progress at all. */
void nv_progress_quiet(int quiet);

/* Start a piece of work (what: "ingest"), counted in unit ("records"). */
void nv_progress_begin(const char *what, const char *unit);

/* What it is on now ("acme seq 3"), and how many units that step has (0:
 * not known); the step's count starts at 0 and the line is shown unless
 * one was shown less than the interval ago. */
void nv_progress_step(uint64_t total, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* n more units done in this step. */
void nv_progress_add(uint64_t n);

/* Clear the line on the terminal, if one is shown (before other output on
 * stderr: nv_log does it); the next tick shows it again. */
void nv_progress_clear(void);

/* The end: the line is cleared and one summary line printed, "what: TEXT
 * (N units in S s, R/s)": n the units of the whole work. */
void nv_progress_end(uint64_t n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
