/*
 * keyring.h - the other side's public keys, their status, and revocation.
 *
 * DIR/keyring is one text file, replaced atomically, one key per line:
 *   <entity> <role> <state> <since> <sign-key b64> <age-recipient> [<ledger b64>|-] [<reason>]
 * state is active (newest key of the entity), retired (replaced by a newer
 * key; still verifies bundles signed before the switch) or revoked (refused).
 * Reasons are free text on the rest of the line (no personal data).
 */
#ifndef NOVA_KEYRING_H
#define NOVA_KEYRING_H

#include "identity.h"

enum nv_key_state { NV_KEY_ACTIVE = 1, NV_KEY_RETIRED, NV_KEY_REVOKED };

struct nv_keyring_entry {
    struct nv_identity_pub id;
    int state;
    int64_t since; /* when it got its state */
    char reason[128];
};

struct nv_keyring {
    char *path;
    struct nv_keyring_entry *e;
    size_t n, cap;
};

/* Load DIR/keyring (a missing file is an empty keyring). */
int nv_keyring_load(struct nv_keyring *kr, const char *dir)
    __attribute__((warn_unused_result));
int nv_keyring_save(const struct nv_keyring *kr)
    __attribute__((warn_unused_result));
void nv_keyring_release(struct nv_keyring *kr);

/* Add an identity.  A new entity: added active.  A known entity with a new
 * key: requires proof (sig text signed by its active key) unless force; the
 * old active key becomes retired.  The same key again: NV_EEXIST. */
int nv_keyring_add(struct nv_keyring *kr, const struct nv_identity_pub *id,
                   const char *sig, size_t siglen, int force)
    __attribute__((warn_unused_result));
/* Read an identity FILE (and FILE.minisig when present: proof for a new
 * key of a known entity), check its role, add it to DIR's keyring, save. */
int nv_keyring_add_file(const char *dir, const char *file, int force, int role,
                        struct nv_identity_pub *out)
    __attribute__((warn_unused_result));
/* Revoke by entity (all its keys) or key id hex. NV_ENOTFOUND if none. */
int nv_keyring_revoke(struct nv_keyring *kr, const char *what,
                      const char *reason) __attribute__((warn_unused_result));
/* The active entry of an entity, or NULL. Borrowed. */
const struct nv_keyring_entry *nv_keyring_active(const struct nv_keyring *kr,
                                                 const char *entity);
/* nv_key_lookup_fn over a keyring (ctx = struct nv_keyring *). */
int nv_keyring_lookup(void *ctx, const char *entity,
                      const uint8_t keyid[NV_KEYID_LEN], struct nv_sign_pub *out);

const char *nv_key_state_name(int state);

#endif
