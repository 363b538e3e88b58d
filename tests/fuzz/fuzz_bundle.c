/*
 * fuzz_bundle.c - libFuzzer target for the bundle reader, from the container
 * down to the payload archive.
 *
 * The input is written to a temporary file (created once per process,
 * rewritten for each input), read with nv_bundle_read, verified against the
 * nova-kat signing key (seed 0x00..0x1f, key id 01..08) and, when it
 * verifies, decrypted with the nova-kat age identity (secret 0x20..0x3f),
 * decompressed and untarred into a sink that discards the data.  The seed
 * corpus holds bundles made with these keys, so mutations reach every layer.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../formats/bundle.h"
#include "../../formats/errors.h"
#include "../../keys/age.h"
#include "../../keys/minisign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/nova-fuzz-bundle.XXXXXX";
static int fd = -1;
static struct nv_sign_pub kat_pub;
static struct nv_age_identity *kat_age;

static void
cleanup(void)
{
    if (fd >= 0) {
        close(fd);
        unlink(path);
        fd = -1;
    }
    nv_age_identity_free(kat_age);
    kat_age = NULL;
}

static int
init_once(void)
{
    static int state; /* 0 not yet, 1 ready, -1 failed */
    uint8_t seed[32], keyid[NV_KEYID_LEN], sk[NV_AGE_KEYLEN];
    struct nv_sign_key *k = NULL;

    if (state != 0)
        return state;
    state = -1;
    if (sodium_init() < 0)
        return -1;
    for (size_t i = 0; i < sizeof(seed); i++)
        seed[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof(keyid); i++)
        keyid[i] = (uint8_t)(i + 1);
    for (size_t i = 0; i < sizeof(sk); i++)
        sk[i] = (uint8_t)(0x20 + i);
    if (nv_sign_key_from_seed(seed, keyid, &k) != 0)
        return -1;
    nv_sign_key_public(k, &kat_pub);
    nv_sign_key_free(k);
    if (nv_age_identity_from_secret(sk, &kat_age) != 0)
        return -1;
    if ((fd = mkostemp(path, O_CLOEXEC)) < 0) {
        perror("fuzz_bundle: mkstemp");
        nv_age_identity_free(kat_age);
        kat_age = NULL;
        return -1;
    }
    atexit(cleanup);
    state = 1;
    return state;
}

static int
lookup(void *ctx, const char *entity, const uint8_t keyid[NV_KEYID_LEN],
       struct nv_sign_pub *out)
{
    (void)ctx;
    (void)entity;
    (void)keyid;
    *out = kat_pub; /* nv_minisign_verify checks the key id */
    return 0;
}

static int
sink_entry(void *ctx, const char *name, uint64_t size)
{
    (void)ctx;
    (void)name;
    (void)size;
    return 0;
}

static int
sink_data(void *ctx, const void *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 0;
}

static int
sink_end(void *ctx)
{
    (void)ctx;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct nv_payload_sink sink = { sink_entry, sink_data,
                                                 sink_end, NULL };
    static const struct nv_open_limits lim = { 64u << 20, 0, 1000 };
    struct nv_bundle b;
    int r;

    if (init_once() < 0)
        return 0;
    if (ftruncate(fd, 0) < 0 ||
        (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        return 0;
    if (nv_bundle_read(&b, path, 16u << 20) != 0)
        return 0; /* b is released on failure */
    if (nv_bundle_verify(&b, lookup, NULL) == 0) {
        r = nv_bundle_open_payload(&b, &kat_age, 1, &sink, &lim);
        (void)r;
    }
    nv_bundle_release(&b);
    return 0;
}
