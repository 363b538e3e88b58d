/*
 * fuzz_record.c - libFuzzer target for the change-record checker, with
 * jansson as the reference: whatever the checker accepts must be a JSON
 * object that jansson accepts too (with duplicate member names refused),
 * with a string op, a non-empty string key and, for upserts, a fields object
 * of strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../formats/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int r = nv_record_check((const char *)data, size);
    json_t *o, *f;
    const char *k;
    json_t *v;

    /* an op, or a negative error code: nothing else */
    if (r != NV_OP_UPSERT && r != NV_OP_DELETE && r >= 0)
        abort();
    if (r < 0)
        return 0;
    o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (o == NULL || !json_is_object(o) || !json_is_string(json_object_get(o, "op")) ||
        json_string_length(json_object_get(o, "key")) == 0)
        abort();
    if (strcmp(json_string_value(json_object_get(o, "op")), r == NV_OP_UPSERT ? "upsert" : "delete"))
        abort();
    if (r == NV_OP_UPSERT) {
        f = json_object_get(o, "fields");
        if (!json_is_object(f))
            abort();
        json_object_foreach(f, k, v)
            if (!json_is_string(v) && !json_is_null(v))
                abort();
    }
    json_decref(o);
    return 0;
}
