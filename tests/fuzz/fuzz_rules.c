/*
 * fuzz_rules.c - libFuzzer target for the survivorship rules parser: any
 * input either parses, giving ranks within bounds, or is refused with a
 * message naming a line, and leaks nothing either way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../hub/model/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nv_rules r;

    if (nv_rules_parse((const char *)data, size, &r) != 0) {
        if (strncmp(nv_errmsg(NV_EFORMAT), "rules", 5) != 0)
            abort(); /* every refusal says where */
        return 0;
    }
    for (int f = 0; f < NV_F_COUNT; f++) {
        size_t n = r.prio[f] ? r.nprio[f] : r.nany;
        if (nv_rules_rank(&r, f, "no such entity") != n)
            abort();
        for (size_t i = 0; i < n; i++)
            if (nv_rules_rank(&r, f, (r.prio[f] ? r.prio[f] : r.any)[i]) != i)
                abort();
    }
    nv_rules_release(&r);
    return 0;
}
