/*
 * fuzz_mapping.c - libFuzzer target for the mapping file parser.  The input
 * is a mapping text; when it parses, it is applied to a fixed record whose
 * columns are the mapping's own columns (so every mapped path runs), strictly
 * (the agent's CRM values that do not parse reject the record) and as the
 * hub's ingest does (they are left out and counted: the record must then
 * always map, to the same JSON when nothing was left out), then to a record
 * with an unknown column.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../hub/model/mapping.h"

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
    {
        /* as ingest applies it: every column is known, every value small
         * and decodable, so the record maps whatever its values */
        struct nv_rec_str *n = calloc(m.ncols + 1, sizeof(*n)), *v = calloc(m.ncols + 1, sizeof(*v));
        struct nv_buf c2 = NV_BUF_INIT, x2 = NV_BUF_INIT;
        struct nv_norm_values nv;
        struct nv_map_skipped skip;
        json_t *cj;
        if (n == NULL || v == NULL)
            abort();
        memset(&nv, 0, sizeof(nv));
        for (size_t i = 0; i < m.ncols; i++) {
            n[i].s = m.cols[i].name, n[i].n = strlen(n[i].s);
            v[i].s = values[i % (sizeof(values) / sizeof(values[0]))], v[i].n = strlen(v[i].s);
        }
        if (nv_mapping_apply(&m, n, v, m.ncols, &c2, &x2, &nv, &skip, why, sizeof(why)) != 0) {
            fprintf(stderr, "lenient apply refused: %s\n", why);
            abort();
        }
        if ((cj = json_loadb((char *)c2.data, c2.len, 0, NULL)) == NULL)
            abort();
        json_decref(cj);
        /* nothing left out: the strict result, byte for byte (when the JSON
         * record could hold every column: jansson refuses keys that are not
         * UTF-8) */
        if (skip.n == 0 && json_object_size(fields) == m.ncols &&
            (c.len != c2.len || memcmp(c.data, c2.data, c.len) != 0))
            abort();
        nv_buf_release(&c2);
        nv_buf_release(&x2);
        nv_buf_release(&nv.arena);
        free(n);
        free(v);
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
