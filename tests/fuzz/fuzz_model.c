/*
 * fuzz_model.c - libFuzzer target for the matching model's text
 * (match_model_parse): what it accepts must format back to a text that
 * parses to the same weights.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../hub/match/match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct match_model a, b;
    struct nv_buf t = NV_BUF_INIT;

    if (match_model_parse(&a, (const char *)data, size) != 0)
        return 0;
    if (match_model_format(&a, &t) != 0 || match_model_parse(&b, (char *)t.data, t.len) != 0)
        abort();
    for (int f = 0; f < MATCH_NFIELDS; f++)
        for (int l = 0; l < MATCH_NLEVELS; l++)
            if (fabs(a.weight[f][l] - b.weight[f][l]) > 1e-6)
                abort();
    nv_buf_release(&t);
    return 0;
}
