/*
 * replay_main.c - runs a libFuzzer target over a corpus without libFuzzer,
 * so every gcc build and `make test` exercise the fuzz targets.
 * Usage: fuzz_X DIR|FILE...   prints one TAP line per input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n;

static void
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, r;

    if (f == NULL)
        return;
    do {
        if (len + 65536 > cap) {
            cap = (cap + 65536) * 2;
            buf = realloc(buf, cap);
            if (buf == NULL)
                abort();
        }
        r = fread(buf + len, 1, 65536, f);
        len += r;
    } while (r > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    printf("ok %d - %s\n", ++n, path);
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    /* the empty input always runs */
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    printf("ok %d - empty input\n", ++n);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            struct dirent **ents;
            int m = scandir(argv[i], &ents, NULL, alphasort);
            for (int j = 0; j < m; j++) {
                if (ents[j]->d_name[0] != '.') {
                    size_t l = strlen(argv[i]) + strlen(ents[j]->d_name) + 2;
                    char *p = malloc(l);
                    snprintf(p, l, "%s/%s", argv[i], ents[j]->d_name);
                    run_file(p);
                    free(p);
                }
                free(ents[j]);
            }
            free(ents);
        } else {
            run_file(argv[i]);
        }
    }
    return 0;
}
