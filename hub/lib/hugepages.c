/*
 * hugepages.c - the hub's memory in transparent huge pages (hugepages.h).
 *
 * Resolving an acquired entity against a store of a million records keeps
 * some 1.5 GB in the link cache: a million small record arenas and arrays
 * of hundreds of megabytes, touched at random.  In 4 KiB pages that is
 * some 400,000 page faults, each zeroing its page, and a TLB miss at most
 * reads.  Many kernels (this project's test machines included) give huge
 * pages only to memory that asks for them with madvise; glibc's malloc
 * asks when the tunable glibc.malloc.hugetlb=1 is set, and glibc reads its
 * tunables once, as the program starts.  So the hub runs itself again with
 * the tunable set.  On the 450,000 + 1,000,000 benchmark this took system
 * time from 12-13 s to 7.5-8.5 s and user time down by a few seconds, with
 * the same peak memory (docs/ARCHITECTURE.md).
 *
 * Nothing is done when THP is "always" (malloc's memory gets huge pages
 * already) or "never", when the user set glibc.malloc.hugetlb either way,
 * in a set-user-ID start (glibc ignores the tunables there), or on a libc
 * that is not glibc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <sys/auxv.h>
#endif

#include "hugepages.h"

#define MARK "NOVA_HUGEPAGES_EXEC"
#define TUNABLE "glibc.malloc.hugetlb"

/* The kernel's THP mode is madvise (the bracketed word of the file). */
static int
thp_madvise(void)
{
    char line[128];
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    int yes;

    if (f == NULL)
        return 0;
    yes = fgets(line, sizeof(line), f) != NULL && strstr(line, "[madvise]") != NULL;
    fclose(f);
    return yes;
}

void
nv_hugepages_exec(char **argv)
{
#if defined(__GLIBC__)
    const char *t = getenv("GLIBC_TUNABLES");
    char *v, *old;
    int n;

    if (getenv(MARK) != NULL) {
        (void)unsetenv(MARK);
        return;
    }
    if (argv == NULL || argv[0] == NULL || getauxval(AT_SECURE) != 0 ||
        (t != NULL && strstr(t, TUNABLE) != NULL) || !thp_madvise())
        return;
    n = t != NULL && t[0] != '\0' ? asprintf(&v, "%s:" TUNABLE "=1", t)
                                  : asprintf(&v, TUNABLE "=1");
    if (n < 0)
        return;
    /* setenv may free the string t points to */
    old = t != NULL ? strdup(t) : NULL;
    if (t != NULL && old == NULL) {
        free(v);
        return;
    }
    if (setenv("GLIBC_TUNABLES", v, 1) == 0 && setenv(MARK, "1", 1) == 0)
        (void)execv("/proc/self/exe", argv);
    /* not run again: as we were */
    free(v);
    (void)unsetenv(MARK);
    if (old != NULL)
        (void)setenv("GLIBC_TUNABLES", old, 1);
    else
        (void)unsetenv("GLIBC_TUNABLES");
    free(old);
#else
    (void)argv;
#endif
}
