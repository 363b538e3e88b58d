/*
 * test_hugepages.c - unit tests for hub/lib/hugepages.c: the second start
 * removes its mark and runs no third; a user's own glibc.malloc.hugetlb
 * is left alone; and a first start runs the program again with the
 * tunable exactly when the kernel's THP mode is "madvise" (this binary
 * runs itself: `test_hugepages --env` prints what it was started with).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../hub/lib/hugepages.h"

static const char *self;
static char opt_env[] = "--env";

static int
thp_madvise(void)
{
    char line[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

    if (f == NULL)
        return 0;
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    fclose(f);
    return strstr(line, "[madvise]") != NULL;
}

static void
test_second_start(void **state)
{
    (void)state;
    assert_int_equal(setenv("NOVA_HUGEPAGES_EXEC", "1", 1), 0);
    assert_int_equal(unsetenv("GLIBC_TUNABLES"), 0);
    nv_hugepages_exec((char *[]){ (char *)self, opt_env, NULL });
    /* returned: no exec, the mark gone, the tunables untouched */
    assert_null(getenv("NOVA_HUGEPAGES_EXEC"));
    assert_null(getenv("GLIBC_TUNABLES"));
}

static void
test_user_choice(void **state)
{
    (void)state;
    assert_int_equal(setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0", 1), 0);
    nv_hugepages_exec((char *[]){ (char *)self, opt_env, NULL });
    assert_string_equal(getenv("GLIBC_TUNABLES"), "glibc.malloc.hugetlb=0");
    assert_null(getenv("NOVA_HUGEPAGES_EXEC"));
    assert_int_equal(unsetenv("GLIBC_TUNABLES"), 0);
}

/* Start a child that calls nv_hugepages_exec with other tunables set and
 * prints its environment as the program then sees it. */
static void
test_first_start(void **state)
{
    int fd[2], st;
    char out[512] = "";
    ssize_t n, got = 0;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(fd), 0);
    assert_true((pid = fork()) >= 0);
    if (pid == 0) {
        char *argv[] = { (char *)self, opt_env, NULL };
        dup2(fd[1], 1);
        close(fd[0]);
        setenv("GLIBC_TUNABLES", "glibc.malloc.check=0", 1);
        unsetenv("NOVA_HUGEPAGES_EXEC");
        nv_hugepages_exec(argv);
        /* not run again: print from here */
        execv(self, argv);
        _exit(99);
    }
    close(fd[1]);
    while ((n = read(fd[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
        got += n;
    close(fd[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (thp_madvise())
        assert_string_equal(out, "tunables glibc.malloc.check=0:glibc.malloc.hugetlb=1\n"
                                 "mark none\n");
    else
        assert_string_equal(out, "tunables glibc.malloc.check=0\nmark none\n");
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_start),
        cmocka_unit_test(test_user_choice),
        cmocka_unit_test(test_first_start),
    };

    self = argv[0];
    if (argc == 2 && strcmp(argv[1], "--env") == 0) {
        const char *t;
        /* as the hub's main starts: the second start drops the mark */
        nv_hugepages_exec(argv);
        t = getenv("GLIBC_TUNABLES");
        printf("tunables %s\nmark %s\n", t ? t : "(none)",
               getenv("NOVA_HUGEPAGES_EXEC") ? "set" : "none");
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
