/*
 * hugepages.h - let glibc's malloc ask the kernel for transparent huge
 * pages (hugepages.c).  libc only; the lowest room of the hub.
 */
#ifndef NOVA_HUGEPAGES_H
#define NOVA_HUGEPAGES_H

/*
 * Called first thing in main.  Where the kernel gives transparent huge
 * pages only to memory that asks for them (THP mode "madvise"), and glibc
 * has not been told either way (GLIBC_TUNABLES names no
 * glibc.malloc.hugetlb), run the program again (execv of /proc/self/exe,
 * same arguments) with glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES.
 * Returns when there is nothing to do or the exec failed: the program then
 * goes on as it is.  The process runs itself at most once
 * (NOVA_HUGEPAGES_EXEC marks the second start and is removed there).
 * GLIBC_TUNABLES=glibc.malloc.hugetlb=0 keeps the small pages.
 */
void nv_hugepages_exec(char **argv);

#endif
