/*
 * fuzz_recparse.c - libFuzzer target for the hub's fast record reader,
 * differential: whatever it accepts, jansson must accept too (with
 * duplicates refused) and read to the same strings; what it refuses the hub
 * hands to jansson, so refusing is always safe.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../hub/model/recparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nv_rec rec;

static void
same(json_t *o, const char *name, const struct nv_rec_str *s)
{
    json_t *v = json_object_get(o, name);

    if (s->s == NULL) {
        if (v != NULL && !json_is_null(v))
            abort();
        return;
    }
    if (!json_is_string(v) || json_string_length(v) != s->n ||
        memcmp(json_string_value(v), s->s, s->n) != 0 || s->s[s->n] != '\0')
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nv_buf scratch = NV_BUF_INIT;
    json_t *o, *f;

    if (nv_rec_parse((const char *)data, size, &rec, &scratch) != 0) {
        nv_buf_release(&scratch);
        return 0;
    }
    o = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o))
        abort();
    same(o, "op", &rec.op);
    same(o, "key", &rec.key);
    same(o, "source", &rec.source);
    same(o, "order", &rec.order);
    same(o, "outcome", &rec.outcome);
    same(o, "reason", &rec.reason);
    f = json_object_get(o, "fields");
    if ((f != NULL) != rec.has_fields)
        abort();
    if (f != NULL) {
        json_t *raw = json_loadb(rec.fields_raw, rec.fields_raw_len, 0, NULL);
        if (json_object_size(f) != rec.nfields || !json_equal(raw, f))
            abort();
        json_decref(raw);
        for (size_t i = 0; i < rec.nfields; i++)
            same(f, rec.name[i].s, &rec.value[i]);
    }
    json_decref(o);
    nv_buf_release(&scratch);
    return 0;
}
