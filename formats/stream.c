#include <string.h>

#include <sodium.h>

#include "errors.h"
#include "stream.h"

int
nv_stream_check(const struct nv_stream_state *st, const struct nv_manifest *m)
{
    unsigned long long seq = m->seq, last = st->seq;

    if (m->seq <= st->seq)
        return nv_fail(NV_EREPLAY,
                       "stream %s->%s: bundle %llu replayed (already applied up to %llu)",
                       m->sender, m->recipient, seq, last);
    if (m->seq > st->seq + 1)
        return nv_fail(NV_ESEQGAP,
                       "stream %s->%s: bundle %llu arrived but %llu is missing",
                       m->sender, m->recipient, seq, last + 1);
    if (st->seq > 0 &&
        (!m->has_prev || sodium_memcmp(m->prev, st->last_id, 32) != 0))
        return nv_fail(NV_EFORK,
                       "stream %s->%s: bundle %llu does not chain to bundle %llu (forked)",
                       m->sender, m->recipient, seq, last);
    return 0;
}

void
nv_stream_advance(struct nv_stream_state *st, const struct nv_manifest *m,
                  const uint8_t id[32])
{
    st->seq = m->seq;
    memcpy(st->last_id, id, 32);
}

void
nv_stream_encode(const struct nv_stream_state *st,
                 uint8_t out[NV_STREAM_STATE_LEN])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(st->seq >> (8 * i));
    memcpy(out + 8, st->last_id, 32);
}

void
nv_stream_decode(const uint8_t in[NV_STREAM_STATE_LEN],
                 struct nv_stream_state *st)
{
    st->seq = 0;
    for (int i = 7; i >= 0; i--)
        st->seq = st->seq << 8 | in[i];
    memcpy(st->last_id, in + 8, 32);
}
