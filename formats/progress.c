/*
 * progress.c - progress lines on a terminal (progress.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

static struct {
    int quiet, on;
    char what[32], unit[16], step[160];
    uint64_t step_done, step_total;
    double start, step_start, last;
    double every; /* seconds between lines */
    int shown;    /* a line is on the terminal */
} P;

static double
mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
nv_progress_quiet(int quiet)
{
    P.quiet = quiet;
}

void
nv_progress_begin(const char *what, const char *unit)
{
    const char *e = getenv("NOVA_PROGRESS_MS");

    P.on = !P.quiet && isatty(2);
    if (!P.on)
        return;
    snprintf(P.what, sizeof(P.what), "%s", what);
    snprintf(P.unit, sizeof(P.unit), "%s", unit);
    P.step[0] = '\0';
    P.step_done = P.step_total = 0;
    P.start = P.step_start = mono();
    P.last = 0;
    P.every = e != NULL && *e ? atof(e) / 1000.0 : 0.25;
    P.shown = 0;
}

/* "1.2 s", "3 min 5 s", "2 h 10 min" */
static void
dur(double s, char *out, size_t n)
{
    long t = (long)(s + 0.5);

    if (s < 10)
        snprintf(out, n, "%.1f s", s);
    else if (t < 120)
        snprintf(out, n, "%ld s", t);
    else if (t < 7200)
        snprintf(out, n, "%ld min %ld s", t / 60, t % 60);
    else
        snprintf(out, n, "%ld h %ld min", t / 3600, t % 3600 / 60);
}

static void
show(double now)
{
    double el = now - P.step_start, rate = el > 0 ? (double)P.step_done / el : 0;
    char left[48] = "";

    if (P.step_total > 0 && rate > 0 && P.step_done <= P.step_total) {
        char d[32];
        dur((double)(P.step_total - P.step_done) / rate, d, sizeof(d));
        snprintf(left, sizeof(left), ", %s left", d);
    }
    if (P.step_total > 0)
        fprintf(stderr, "\r\033[K%s: %s: %llu of %llu %s, %.0f/s%s", P.what, P.step,
                (unsigned long long)P.step_done, (unsigned long long)P.step_total, P.unit,
                rate, left);
    else
        fprintf(stderr, "\r\033[K%s: %s: %llu %s, %.0f/s", P.what, P.step,
                (unsigned long long)P.step_done, P.unit, rate);
    fflush(stderr);
    P.shown = 1;
    P.last = now;
}

void
nv_progress_step(uint64_t total, const char *fmt, ...)
{
    va_list ap;

    if (!P.on)
        return;
    va_start(ap, fmt);
    vsnprintf(P.step, sizeof(P.step), fmt, ap);
    va_end(ap);
    P.step_total = total;
    P.step_done = 0;
    P.step_start = mono();
    /* many short steps (small bundles) do not flood the terminal */
    if (P.step_start - P.last >= P.every)
        show(P.step_start);
}

void
nv_progress_add(uint64_t n)
{
    double now;

    if (!P.on)
        return;
    P.step_done += n;
    /* the clock at most every 64 ticks, unless every tick prints */
    if (P.every > 0 && P.step_done % 64 != 0 && P.step_done != P.step_total)
        return;
    now = mono();
    if (now - P.last >= P.every)
        show(now);
}

void
nv_progress_clear(void)
{
    if (P.on && P.shown) {
        fputs("\r\033[K", stderr);
        P.shown = 0;
        P.last = 0;
    }
}

void
nv_progress_end(uint64_t n, const char *fmt, ...)
{
    char text[512], d[32];
    double el;
    va_list ap;

    if (!P.on)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    el = mono() - P.start;
    dur(el, d, sizeof(d));
    fprintf(stderr, "%s%s: %s (%llu %s in %s, %.0f/s)\n", P.shown ? "\r\033[K" : "", P.what,
            text, (unsigned long long)n, P.unit, d, el > 0 ? (double)n / el : 0);
    fflush(stderr);
    P.on = 0;
}
