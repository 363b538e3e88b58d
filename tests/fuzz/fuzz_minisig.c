/*
 * fuzz_minisig.c - libFuzzer target for the minisign and SSHSIG parsers:
 * .minisig text, public key, secret key (no password) and armored SSHSIG.
 * Parsed signatures are also verified against the nova-kat test key so the
 * verifier sees attacker-shaped input too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../keys/minisign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int initialized;
static struct nv_sign_pub kat_pub;

static int
init_once(void)
{
    uint8_t seed[32], keyid[NV_KEYID_LEN];
    struct nv_sign_key *k = NULL;

    if (initialized)
        return 0;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    for (int i = 0; i < NV_KEYID_LEN; i++)
        keyid[i] = (uint8_t)(i + 1);
    if (nv_sign_key_from_seed(seed, keyid, &k) != 0)
        return -1;
    nv_sign_key_public(k, &kat_pub);
    nv_sign_key_free(k);
    initialized = 1;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char msg[] = "hello nova\n";
    const char *text = (const char *)data;
    struct nv_minisig *sig;
    struct nv_sign_pub pub;
    struct nv_sign_key *key = NULL;
    uint8_t pk[NV_SIGN_PKLEN];
    char *cstr;
    int r;

    if (init_once() < 0)
        return 0;

    sig = malloc(sizeof(*sig));
    if (sig == NULL)
        return 0;
    if (nv_minisig_parse(text, size, sig) == 0) {
        r = nv_minisign_verify(&kat_pub, sig, msg, strlen(msg), 1);
        (void)r;
    }
    free(sig);

    r = nv_sign_pub_parse(text, size, &pub);
    (void)r;

    if (nv_sign_key_parse(text, size, NULL, &key) == 0)
        nv_sign_key_free(key);

    r = nv_sshsig_verify(text, size, "git", msg, strlen(msg), pk);
    (void)r;

    /* the SSH public key parser takes a C string */
    cstr = malloc(size + 1);
    if (cstr != NULL) {
        if (size)
            memcpy(cstr, data, size);
        cstr[size] = '\0';
        r = nv_ssh_pub_parse(cstr, pk);
        (void)r;
        free(cstr);
    }
    return 0;
}
