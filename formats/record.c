#include <string.h>

#include <jansson.h>

#include "errors.h"
#include "record.h"

int
nv_record_check(const char *line, size_t len)
{
    json_error_t err;
    json_t *o, *op, *key, *fields;
    int r;

    if (len > NV_RECORD_MAX)
        return nv_fail(NV_ETOOBIG, "record over %u bytes", NV_RECORD_MAX);
    o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    if (o == NULL)
        return nv_fail(NV_EFORMAT, "record is not valid JSON (column %d: %s)",
                       err.column, err.text);
    op = json_object_get(o, "op");
    key = json_object_get(o, "key");
    fields = json_object_get(o, "fields");
    if (!json_is_object(o) || !json_is_string(op) || !json_is_string(key) ||
        json_string_length(key) == 0) {
        r = nv_fail(NV_EFORMAT, "record lacks a string 'op' and a non-empty 'key'");
    } else if (strcmp(json_string_value(op), "upsert") == 0) {
        r = json_is_object(fields) ? NV_OP_UPSERT
                                   : nv_fail(NV_EFORMAT, "upsert record lacks a 'fields' object");
    } else if (strcmp(json_string_value(op), "delete") == 0) {
        r = NV_OP_DELETE;
    } else {
        r = nv_fail(NV_EFORMAT, "record op must be 'upsert' or 'delete'");
    }
    json_decref(o);
    return r;
}
