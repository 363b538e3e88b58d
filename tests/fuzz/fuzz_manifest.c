/*
 * fuzz_manifest.c - libFuzzer target for the manifest parser.  The manifest
 * format is canonical: whatever parses must format back to the very same
 * bytes, else abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/buf.h"
#include "../../formats/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nv_manifest m;
    struct nv_buf out = NV_BUF_INIT;

    if (nv_manifest_parse((const char *)data, size, &m) != 0)
        return 0;
    if (nv_manifest_format(&m, &out) != 0)
        abort(); /* a parsed manifest must always format */
    if (out.len != size || memcmp(out.data, data, size) != 0)
        abort(); /* not canonical: the parser accepted a variant */
    nv_buf_release(&out);
    return 0;
}
