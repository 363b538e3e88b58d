/*
 * fuzz_csv.c - libFuzzer target for the CSV reader: the input is written
 * to a temporary file and read to the end with header detection, small
 * limits, and the encoding and quoting chosen by the first two bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/csv.h"
#include "../../formats/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;

static void
cleanup(void)
{
    if (fd >= 0)
        close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nv_csv_dialect d = { 0, '"', 1, NV_ENC_UTF8 };
    const struct nv_csv_row *row;
    struct nv_csv *c;
    int r;

    if (fd < 0) {
        char path[] = "/tmp/nova-fuzz-csv.XXXXXX";
        if ((fd = mkstemp(path)) < 0)
            abort();
        unlink(path);
        atexit(cleanup);
    }
    if (size >= 2) {
        d.encoding = data[0] % 3 + 1;
        d.quote = (data[1] & 1) ? '"' : 0;
        d.header = !(data[1] & 2);
    }
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size ||
        lseek(fd, 0, SEEK_SET) < 0)
        abort();
    r = nv_csv_open(&c, fd, &d, 4096, 16384);
    if (r < 0)
        return 0;
    while ((r = nv_csv_next(c, &row)) != 0) {
        if (r == NV_EFORMAT)
            continue;
        if (r < 0)
            break;
        for (size_t i = 0; i < row->n; i++)
            if (strlen(row->field[i]) != row->len[i])
                abort(); /* fields are NUL-terminated at their length */
    }
    nv_csv_free(c);
    return 0;
}
