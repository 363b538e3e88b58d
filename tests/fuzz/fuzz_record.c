/*
 * fuzz_record.c - libFuzzer target for the change-record checker (one NDJSON
 * line, parsed with jansson).
 */
#include <stdint.h>
#include <stdlib.h>

#include "../../formats/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int r = nv_record_check((const char *)data, size);

    /* an op, or a negative error code: nothing else */
    if (r != NV_OP_UPSERT && r != NV_OP_DELETE && r >= 0)
        abort();
    return 0;
}
