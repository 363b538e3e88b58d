/*
 * fuzz_mapping.c - libFuzzer target for the mapping file parser.  The input
 * is a mapping text; when it parses, it is applied to a fixed record whose
 * columns are the mapping's own columns (so every mapped path runs), then to
 * a record with an unknown column.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../hub/mapping.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *values[] = { "Jean-Pierre", "06 12 34 56 78", "a.b+c@Example.fr",
                                "75002", "14/03/1975", "oui", "2026-11-30 10:00",
                                "FR", "", " x ", "1000" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nv_mapping m;
    json_t *fields, *o;
    struct nv_buf c = NV_BUF_INIT, x = NV_BUF_INIT;
    char why[400];

    if (nv_mapping_parse((const char *)data, size, NULL, &m) != 0)
        return 0;
    fields = json_object();
    for (size_t i = 0; i < m.ncols; i++)
        json_object_set_new(fields, m.cols[i].name,
                            json_string(values[i % (sizeof(values) / sizeof(values[0]))]));
    if (nv_mapping_apply_json(&m, fields, &c, &x, why, sizeof(why)) == 0) {
        /* what it writes is JSON */
        json_t *cj = json_loadb((char *)c.data, c.len, 0, NULL);
        json_t *xj = json_loadb((char *)x.data, x.len, 0, NULL);
        if (cj == NULL || xj == NULL)
            abort();
        json_decref(cj);
        json_decref(xj);
    }
    o = nv_mapping_originals(&m, fields);
    json_decref(o);
    nv_buf_reset(&c);
    nv_buf_reset(&x);
    json_object_set_new(fields, "\x01 not a column", json_string("x"));
    if (nv_mapping_apply_json(&m, fields, &c, &x, why, sizeof(why)) == 0 || c.len != 0)
        abort(); /* an unknown column must be refused, leaving nothing */
    nv_buf_release(&c);
    nv_buf_release(&x);
    json_decref(fields);
    nv_mapping_release(&m);
    return 0;
}
