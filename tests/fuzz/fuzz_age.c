/*
 * fuzz_age.c - libFuzzer target: decrypt the input as an age file with a
 * fixed identity (secret bytes 0x20..0x3f, the nova-kat age key) through the
 * streaming decryptor, from an in-memory reader that returns short reads,
 * and discard the plaintext.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "../../formats/errors.h"
#include "../../keys/age.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_src {
    const uint8_t *p;
    size_t len, pos;
    unsigned k;
};

static long
fuzz_read(void *ctx, void *p, size_t n)
{
    struct fuzz_src *s = ctx;
    size_t take = s->len - s->pos;

    /* every third read is short, to exercise the refill loops */
    if (++s->k % 3 == 0 && take > 1 + s->k % 97)
        take = 1 + s->k % 97;
    if (take > n)
        take = n;
    memcpy(p, s->p + s->pos, take);
    s->pos += take;
    return (long)take;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static struct nv_age_identity *id;
    static uint8_t out[NV_AGE_CHUNK];
    struct fuzz_src src = { data, size, 0, 0 };
    struct nv_age_dec *d = NULL;
    long r;

    if (!ready) {
        uint8_t sk[NV_AGE_KEYLEN];

        if (sodium_init() < 0)
            return 0;
        for (size_t i = 0; i < sizeof(sk); i++)
            sk[i] = (uint8_t)(0x20 + i);
        if (nv_age_identity_from_secret(sk, &id) != 0)
            return 0;
        ready = 1;
    }
    if (nv_age_dec_new(&d, &id, 1, fuzz_read, &src) != 0)
        return 0;
    do {
        r = nv_age_dec_read(d, out, sizeof(out));
    } while (r > 0);
    nv_age_dec_free(d);
    return 0;
}
