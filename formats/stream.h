/*
 * stream.h - sequence and chain rules for a stream (one sender -> one
 * recipient): gap-free sequence numbers, each bundle naming the id of the one
 * before it.
 */
#ifndef NOVA_STREAM_H
#define NOVA_STREAM_H

#include <stdint.h>

#include "manifest.h"

struct nv_stream_state {
    uint64_t seq;       /* last applied sequence number, 0 = none yet */
    uint8_t last_id[32];/* id of that bundle */
};

/* 0 if m (with id) is the next bundle of the stream; NV_EREPLAY if its
 * sequence number was already applied, NV_ESEQGAP if one is missing before
 * it, NV_EFORK if it does not chain to the last applied bundle.  The detail
 * names the stream and sequence numbers. */
int nv_stream_check(const struct nv_stream_state *st,
                    const struct nv_manifest *m);
/* Record m as applied. */
void nv_stream_advance(struct nv_stream_state *st, const struct nv_manifest *m,
                       const uint8_t id[32]);

/* Fixed 40-byte storage form: u64 seq little-endian | last id. */
#define NV_STREAM_STATE_LEN 40
void nv_stream_encode(const struct nv_stream_state *st,
                      uint8_t out[NV_STREAM_STATE_LEN]);
void nv_stream_decode(const uint8_t in[NV_STREAM_STATE_LEN],
                      struct nv_stream_state *st);

#endif
