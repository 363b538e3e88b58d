/*
 * fuzz_segment.c - libFuzzer target for the segment parser
 * (hub/segment/segment.h): any input either parses, giving a tree whose
 * person conditions are numbered within bounds and which evaluates on a
 * record and a person without fault, or is refused with a message that
 * says where; it leaks nothing either way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/buf.h"
#include "../../formats/errors.h"
#include "../../hub/segment/segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *rec;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nv_segment s;
    struct nv_buf sb = NV_BUF_INIT;
    uint32_t counts[NV_SEGMENT_MAX_LEAVES];

    if (rec == NULL)
        rec = json_loads("{\"c\":{\"email\":[\"a@b.fr\"],\"consent\":1,\"last_name\":\"dupont\","
                         "\"birth_date\":\"1980-01-02\"},\"x\":{\"publication\":\"business\","
                         "\"event_date\":\"2026-05-01\",\"places\":\"2\"}}", 0, NULL);
    nv_error_clear();
    if (nv_segment_parse((const char *)data, size, &s) != 0) {
        if (strncmp(nv_errmsg(NV_EFORMAT), "segment", 7) != 0 &&
            strncmp(nv_errmsg(NV_ETOOBIG), "segment", 7) != 0)
            abort(); /* every refusal says where */
        return 0;
    }
    if (s.root == NULL || s.nleaves == 0 || s.nleaves > NV_SEGMENT_MAX_LEAVES)
        abort();
    nv_segment_bind(&s, 1781524800);
    for (size_t i = 0; i < s.nleaves; i++) {
        if (s.leaves[i]->kind != NV_SEG_HAS || s.leaves[i]->leaf != (int)i ||
            s.leaves[i]->min == 0)
            abort();
        counts[i] = (uint32_t)nv_segment_record_matches(s.leaves[i], "eventclick", rec, &sb);
    }
    (void)nv_segment_person(&s, counts);
    nv_segment_release(&s);
    nv_buf_release(&sb);
    return 0;
}
