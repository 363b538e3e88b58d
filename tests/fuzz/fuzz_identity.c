/*
 * fuzz_identity.c - libFuzzer target for the public identity file parser and
 * the keyring file parser.
 *
 * An identity that parses is formatted and parsed again: both parses must
 * give the same fields, else abort().  The same input is then written to
 * a private temporary directory as "keyring" and loaded with
 * nv_keyring_load.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../formats/buf.h"
#include "../../keys/identity.h"
#include "../../keys/keyring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/nova-fuzz-identity.XXXXXX";
static char path[sizeof(dir) + 16];
static int fd = -1;

static void
cleanup(void)
{
    if (fd >= 0) {
        close(fd);
        unlink(path);
        rmdir(dir);
        fd = -1;
    }
}

static int
init_once(void)
{
    static int state; /* 0 not yet, 1 ready, -1 failed */

    if (state != 0)
        return state;
    state = -1;
    if (sodium_init() < 0)
        return -1;
    if (mkdtemp(dir) == NULL) {
        perror("fuzz_identity: mkdtemp");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/keyring", dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror("fuzz_identity: open");
        rmdir(dir);
        return -1;
    }
    atexit(cleanup);
    state = 1;
    return state;
}

static void
check_roundtrip(const struct nv_identity_pub *a)
{
    struct nv_identity_pub b;
    struct nv_buf text = NV_BUF_INIT;

    if (nv_identity_pub_format(a, &text) != 0)
        abort(); /* a parsed identity must always format */
    if (nv_identity_pub_parse((const char *)text.data, text.len, &b) != 0)
        abort(); /* ... and its formatted text must parse */
    if (strcmp(a->entity, b.entity) != 0 || a->role != b.role ||
        memcmp(&a->sign, &b.sign, sizeof(a->sign)) != 0 ||
        memcmp(a->age, b.age, sizeof(a->age)) != 0 ||
        a->has_ledger != b.has_ledger ||
        (a->has_ledger && memcmp(a->ledger, b.ledger, sizeof(a->ledger)) != 0) ||
        a->created != b.created)
        abort();
    nv_buf_release(&text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nv_identity_pub id;
    struct nv_keyring kr;

    if (init_once() < 0)
        return 0;

    if (nv_identity_pub_parse((const char *)data, size, &id) == 0)
        check_roundtrip(&id);

    if (ftruncate(fd, 0) < 0 ||
        (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        return 0;
    if (nv_keyring_load(&kr, dir) == 0)
        nv_keyring_release(&kr);
    return 0;
}
