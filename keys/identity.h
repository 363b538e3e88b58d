/*
 * identity.h - a site's own keys (DIR/keys/) and public identity files.
 *
 * DIR/keys/ holds, for an agent or a hub:
 *   sign.key  sign.pub     Ed25519 bundle-signing key, minisign formats (0600)
 *   age.key   age.pub      X25519 encryption key, age formats (0600)
 *   ledger.key ledger.pub  hub only: Ed25519 key for signed ledger commits
 *                          (minisign secret format; public as ssh-ed25519)
 *   identity.pub           the public identity file, handed to the other side
 *   identity.pub.minisig   after a rotation: signed by the previous sign key
 *   retired/               previous keys after a rotation (the hub still
 *                          opens bundles encrypted to an old age key)
 *
 * The public identity file (text, no secrets, no personal data):
 *   nova-identity: 1
 *   entity: acme
 *   role: agent
 *   sign-key: RW...          minisign public key line (holds the key id)
 *   age-recipient: age1...
 *   ledger-key: ssh-ed25519 AAAA...    (hub only)
 *   created: 2026-11-28T15:00:00Z
 */
#ifndef NOVA_IDENTITY_H
#define NOVA_IDENTITY_H

#include <stdint.h>

#include "../formats/buf.h"
#include "../formats/util.h"
#include "age.h"
#include "minisign.h"

#define NV_ROLE_AGENT 1
#define NV_ROLE_HUB 2
#define NV_IDENTITY_MAX 4096
#define NV_MAX_AGE_IDS 16

struct nv_identity_pub {
    char entity[NV_NAME_MAX + 1];
    int role;
    struct nv_sign_pub sign;
    uint8_t age[NV_AGE_KEYLEN];
    int has_ledger;
    uint8_t ledger[NV_SIGN_PKLEN];
    int64_t created;
};

/* The secret side, loaded from DIR/keys. */
struct nv_identity {
    struct nv_identity_pub pub;
    struct nv_sign_key *sign;
    struct nv_sign_key *ledger;            /* hub only */
    struct nv_age_identity *age[NV_MAX_AGE_IDS]; /* [0] current, then retired */
    size_t nage;
};

int nv_identity_pub_format(const struct nv_identity_pub *p, struct nv_buf *out)
    __attribute__((warn_unused_result));
int nv_identity_pub_parse(const char *text, size_t len,
                          struct nv_identity_pub *out)
    __attribute__((warn_unused_result));
int nv_identity_pub_read(const char *path, struct nv_identity_pub *out)
    __attribute__((warn_unused_result));

/* Create DIR/keys for entity with role; NV_EEXIST if keys exist already. */
int nv_identity_create(const char *dir, const char *entity, int role)
    __attribute__((warn_unused_result));
/* Load DIR/keys (refusing secret files readable by group or others). */
int nv_identity_load(const char *dir, struct nv_identity *out)
    __attribute__((warn_unused_result));
/* Wipe and free the secrets. Safe on a zeroed struct. */
void nv_identity_release(struct nv_identity *id);
/* New sign and age keys; old ones move to keys/retired/; the new
 * identity.pub is signed by the old sign key (identity.pub.minisig). */
int nv_identity_rotate(const char *dir) __attribute__((warn_unused_result));

#endif
