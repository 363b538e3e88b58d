#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "keyring.h"

#define KEYRING_MAX (4u << 20)

static const char *states[] = { NULL, "active", "retired", "revoked" };

const char *
nv_key_state_name(int state)
{
    return state >= NV_KEY_ACTIVE && state <= NV_KEY_REVOKED ? states[state]
                                                             : "unknown";
}

static int
grow(struct nv_keyring *kr)
{
    if (kr->n < kr->cap)
        return 0;
    size_t ncap = kr->cap ? kr->cap * 2 : 8;
    struct nv_keyring_entry *ne = realloc(kr->e, ncap * sizeof(*ne));
    if (ne == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    kr->e = ne;
    kr->cap = ncap;
    return 0;
}

static int
parse_line(char *l, struct nv_keyring_entry *e)
{
    char *f[8], *save = NULL;
    int nf = 0;

    memset(e, 0, sizeof(*e));
    while (nf < 7) {
        char *t = strtok_r(nf == 0 ? l : NULL, " ", &save);
        if (t == NULL)
            return NV_EFORMAT;
        f[nf++] = t;
    }
    f[7] = strtok_r(NULL, "", &save);
    if (!nv_name_valid(f[0]))
        return NV_EFORMAT;
    strcpy(e->id.entity, f[0]);
    e->id.role = strcmp(f[1], "hub") == 0 ? NV_ROLE_HUB
                 : strcmp(f[1], "agent") == 0 ? NV_ROLE_AGENT : 0;
    for (int s = NV_KEY_ACTIVE; s <= NV_KEY_REVOKED; s++)
        if (strcmp(f[2], states[s]) == 0)
            e->state = s;
    if (e->id.role == 0 || e->state == 0 || nv_time_parse(f[3], &e->since) < 0 ||
        nv_sign_pub_parse(f[4], strlen(f[4]), &e->id.sign) < 0 ||
        nv_age_recipient_parse(f[5], e->id.age) < 0)
        return NV_EFORMAT;
    if (strcmp(f[6], "-") != 0) {
        char ssh[128];
        snprintf(ssh, sizeof(ssh), "ssh-ed25519 %s", f[6]);
        if (nv_ssh_pub_parse(ssh, e->id.ledger) < 0)
            return NV_EFORMAT;
        e->id.has_ledger = 1;
    }
    if (f[7] != NULL)
        snprintf(e->reason, sizeof(e->reason), "%s", f[7]);
    e->id.created = e->since;
    return 0;
}

int
nv_keyring_load(struct nv_keyring *kr, const char *dir)
{
    struct nv_buf b = NV_BUF_INIT;
    char *s, *nl;
    int r, line = 0;

    memset(kr, 0, sizeof(*kr));
    kr->path = nv_path_join(dir, "keyring");
    if (!nv_exists(kr->path))
        return 0;
    if ((r = nv_read_file(kr->path, KEYRING_MAX, &b)) < 0)
        goto fail;
    for (s = (char *)b.data; s && *s; s = nl) {
        nl = strchr(s, '\n');
        if (nl != NULL)
            *nl++ = '\0';
        line++;
        if (*s == '#' || *s == '\0')
            continue;
        if ((r = grow(kr)) < 0)
            goto fail;
        if (parse_line(s, &kr->e[kr->n]) < 0) {
            r = nv_fail(NV_ECORRUPT, "keyring '%s' line %d is malformed", kr->path,
                        line);
            goto fail;
        }
        kr->n++;
    }
    nv_buf_release(&b);
    return 0;
fail:
    nv_buf_release(&b);
    nv_keyring_release(kr);
    return r;
}

int
nv_keyring_save(const struct nv_keyring *kr)
{
    struct nv_buf b = NV_BUF_INIT;
    int r = nv_buf_adds(&b, "# nova keyring: entity role state since sign-key "
                            "age-recipient ledger-key reason\n");

    for (size_t i = 0; r == 0 && i < kr->n; i++) {
        const struct nv_keyring_entry *e = &kr->e[i];
        char sign[57], age[NV_AGE_RECIPIENT_LEN + 1], when[21];
        nv_sign_pub_b64(&e->id.sign, sign);
        nv_age_recipient_encode(e->id.age, age);
        r = nv_buf_addf(&b, "%s %s %s %s %s %s ", e->id.entity,
                        e->id.role == NV_ROLE_HUB ? "hub" : "agent",
                        states[e->state], nv_time_format(e->since, when), sign,
                        age);
        if (r == 0 && e->id.has_ledger) {
            struct nv_buf l = NV_BUF_INIT;
            r = nv_ssh_pub_format(e->id.ledger, &l);
            if (r == 0)
                r = nv_buf_adds(&b, (char *)l.data + strlen("ssh-ed25519 "));
            nv_buf_release(&l);
        } else if (r == 0) {
            r = nv_buf_adds(&b, "-");
        }
        if (r == 0 && e->reason[0])
            r = nv_buf_addf(&b, " %s", e->reason);
        if (r == 0)
            r = nv_buf_adds(&b, "\n");
    }
    if (r == 0)
        r = nv_write_file(kr->path, b.data, b.len, 0644);
    nv_buf_release(&b);
    return r;
}

void
nv_keyring_release(struct nv_keyring *kr)
{
    free(kr->path);
    free(kr->e);
    memset(kr, 0, sizeof(*kr));
}

const struct nv_keyring_entry *
nv_keyring_active(const struct nv_keyring *kr, const char *entity)
{
    for (size_t i = 0; i < kr->n; i++)
        if (kr->e[i].state == NV_KEY_ACTIVE &&
            strcmp(kr->e[i].id.entity, entity) == 0)
            return &kr->e[i];
    return NULL;
}

int
nv_keyring_add(struct nv_keyring *kr, const struct nv_identity_pub *id,
               const char *sig, size_t siglen, int force)
{
    struct nv_keyring_entry *active = NULL;
    char kid[17];
    int r;

    nv_keyid_hex(id->sign.keyid, kid);
    for (size_t i = 0; i < kr->n; i++) {
        if (memcmp(kr->e[i].id.sign.keyid, id->sign.keyid, NV_KEYID_LEN) == 0 &&
            strcmp(kr->e[i].id.entity, id->entity) == 0) {
            if (kr->e[i].state == NV_KEY_REVOKED)
                return nv_fail(NV_EREVOKED, "key %s of '%s' was revoked; it cannot be enrolled again",
                               kid, id->entity);
            return nv_fail(NV_EEXIST, "key %s of '%s' is already in the keyring",
                           kid, id->entity);
        }
        if (kr->e[i].state == NV_KEY_ACTIVE &&
            strcmp(kr->e[i].id.entity, id->entity) == 0)
            active = &kr->e[i];
    }
    if (active != NULL && !force) {
        struct nv_minisig s;
        struct nv_buf text = NV_BUF_INIT;
        if (sig == NULL)
            return nv_fail(NV_EUNKNOWNKEY,
                           "'%s' already has an active key; a new key needs the identity's .minisig signed by the current key (or --force)",
                           id->entity);
        r = nv_identity_pub_format(id, &text);
        if (r == 0 && (r = nv_minisig_parse(sig, siglen, &s)) == 0)
            r = nv_minisign_verify(&active->id.sign, &s, text.data, text.len, 0);
        nv_buf_release(&text);
        if (r < 0)
            return nv_fail(r == NV_EUNKNOWNKEY ? NV_EUNKNOWNKEY : NV_ESIG,
                           "the new identity of '%s' is not signed by its current key",
                           id->entity);
    }
    if ((r = grow(kr)) < 0)
        return r;
    if (active != NULL) {
        active = NULL;
        for (size_t i = 0; i < kr->n; i++)
            if (kr->e[i].state == NV_KEY_ACTIVE &&
                strcmp(kr->e[i].id.entity, id->entity) == 0) {
                kr->e[i].state = NV_KEY_RETIRED;
                kr->e[i].since = nv_now();
            }
    }
    memset(&kr->e[kr->n], 0, sizeof(kr->e[kr->n]));
    kr->e[kr->n].id = *id;
    kr->e[kr->n].state = NV_KEY_ACTIVE;
    kr->e[kr->n].since = nv_now();
    kr->n++;
    return 0;
}

int
nv_keyring_revoke(struct nv_keyring *kr, const char *what, const char *reason)
{
    uint8_t kid[NV_KEYID_LEN];
    int bykey = nv_keyid_parse(what, kid) == 0, found = 0;

    for (size_t i = 0; i < kr->n; i++) {
        struct nv_keyring_entry *e = &kr->e[i];
        if (bykey ? memcmp(e->id.sign.keyid, kid, NV_KEYID_LEN) != 0
                  : strcmp(e->id.entity, what) != 0)
            continue;
        found = 1;
        if (e->state == NV_KEY_REVOKED)
            continue;
        e->state = NV_KEY_REVOKED;
        e->since = nv_now();
        snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "revoked");
        for (char *c = e->reason; *c; c++)
            if ((unsigned char)*c < 0x20)
                *c = ' ';
    }
    if (!found)
        return nv_fail(NV_ENOTFOUND, "no key or entity '%.64s' in the keyring",
                       what);
    return 0;
}

int
nv_keyring_lookup(void *ctx, const char *entity,
                  const uint8_t keyid[NV_KEYID_LEN], struct nv_sign_pub *out)
{
    const struct nv_keyring *kr = ctx;
    char kid[17], when[21];

    nv_keyid_hex(keyid, kid);
    for (size_t i = 0; i < kr->n; i++) {
        const struct nv_keyring_entry *e = &kr->e[i];
        if (memcmp(e->id.sign.keyid, keyid, NV_KEYID_LEN) != 0)
            continue;
        if (strcmp(e->id.entity, entity) != 0)
            return nv_fail(NV_EUNKNOWNKEY, "key %s belongs to '%s', not '%s'", kid,
                           e->id.entity, entity);
        if (e->state == NV_KEY_REVOKED)
            return nv_fail(NV_EREVOKED, "key %s of '%s' was revoked on %s (%s)",
                           kid, entity, nv_time_format(e->since, when),
                           e->reason);
        *out = e->id.sign;
        return 0;
    }
    return nv_fail(NV_EUNKNOWNKEY, "key %s of '%s' is not enrolled", kid, entity);
}

int
nv_keyring_add_file(const char *dir, const char *file, int force, int role,
                    struct nv_identity_pub *out)
{
    struct nv_identity_pub id;
    struct nv_keyring kr;
    struct nv_buf sig = NV_BUF_INIT;
    char *sigpath = malloc(strlen(file) + 9);
    int r;

    if (sigpath == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    snprintf(sigpath, strlen(file) + 9, "%s.minisig", file);
    if ((r = nv_identity_pub_read(file, &id)) < 0)
        goto out;
    if (id.role != role) {
        r = nv_fail(NV_EKEY, "'%s' is the identity of %s '%s', not of %s", file,
                    id.role == NV_ROLE_HUB ? "a hub" : "an agent", id.entity,
                    role == NV_ROLE_HUB ? "a hub" : "an agent");
        goto out;
    }
    if (nv_exists(sigpath) && (r = nv_read_file(sigpath, 4096, &sig)) < 0)
        goto out;
    if ((r = nv_keyring_load(&kr, dir)) < 0)
        goto out;
    r = nv_keyring_add(&kr, &id, sig.len ? (char *)sig.data : NULL, sig.len,
                       force);
    if (r == 0)
        r = nv_keyring_save(&kr);
    nv_keyring_release(&kr);
    if (r == 0)
        *out = id;
out:
    nv_buf_release(&sig);
    free(sigpath);
    return r;
}
