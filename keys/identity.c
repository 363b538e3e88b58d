#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "identity.h"

#define KEYFILE_MAX 8192

int
nv_identity_pub_format(const struct nv_identity_pub *p, struct nv_buf *out)
{
    char sign[57], age[NV_AGE_RECIPIENT_LEN + 1], when[21];
    int r;

    nv_sign_pub_b64(&p->sign, sign);
    nv_age_recipient_encode(p->age, age);
    if ((r = nv_buf_addf(out, "nova-identity: 1\nentity: %s\nrole: %s\n"
                              "sign-key: %s\nage-recipient: %s\n",
                         p->entity, p->role == NV_ROLE_HUB ? "hub" : "agent",
                         sign, age)) < 0)
        return r;
    if (p->has_ledger) {
        if ((r = nv_buf_adds(out, "ledger-key: ")) < 0 ||
            (r = nv_ssh_pub_format(p->ledger, out)) < 0 ||
            (r = nv_buf_adds(out, "\n")) < 0)
            return r;
    }
    return nv_buf_addf(out, "created: %s\n", nv_time_format(p->created, when));
}

int
nv_identity_pub_parse(const char *text, size_t len, struct nv_identity_pub *out)
{
    struct nv_identity_pub p;
    const char *s = text, *end = text + len;
    int line = 0, seen = 0, r;

    memset(&p, 0, sizeof(p));
    if (len > NV_IDENTITY_MAX)
        return nv_fail(NV_ETOOBIG, "identity file over %d bytes", NV_IDENTITY_MAX);
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        char l[512], *v;
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

        line++;
        if (n >= sizeof(l) || memchr(s, '\0', n) != NULL)
            return nv_fail(NV_EFORMAT, "identity line %d: too long", line);
        memcpy(l, s, n);
        l[n] = '\0';
        if (n > 0 && l[n - 1] == '\r')
            l[--n] = '\0';
        s = nl ? nl + 1 : end;
        if (n == 0 || l[0] == '#')
            continue;
        v = strstr(l, ": ");
        if (v == NULL)
            return nv_fail(NV_EFORMAT, "identity line %d: expected 'key: value'",
                           line);
        *v = '\0';
        v += 2;
        if (strcmp(l, "nova-identity") == 0) {
            if (strcmp(v, "1") != 0)
                return nv_fail(NV_EFORMAT, "identity format version not supported");
            seen |= 1;
        } else if (strcmp(l, "entity") == 0) {
            if (!nv_name_valid(v))
                return nv_fail(NV_EFORMAT, "identity line %d: bad entity name",
                               line);
            strcpy(p.entity, v);
            seen |= 2;
        } else if (strcmp(l, "role") == 0) {
            if (strcmp(v, "hub") == 0)
                p.role = NV_ROLE_HUB;
            else if (strcmp(v, "agent") == 0)
                p.role = NV_ROLE_AGENT;
            else
                return nv_fail(NV_EFORMAT, "identity line %d: bad role", line);
            seen |= 4;
        } else if (strcmp(l, "sign-key") == 0) {
            if ((r = nv_sign_pub_parse(v, strlen(v), &p.sign)) < 0)
                return nv_fail(NV_EFORMAT, "identity line %d: bad sign-key", line);
            seen |= 8;
        } else if (strcmp(l, "age-recipient") == 0) {
            if (nv_age_recipient_parse(v, p.age) < 0)
                return nv_fail(NV_EFORMAT, "identity line %d: bad age-recipient",
                               line);
            seen |= 16;
        } else if (strcmp(l, "ledger-key") == 0) {
            if (nv_ssh_pub_parse(v, p.ledger) < 0)
                return nv_fail(NV_EFORMAT, "identity line %d: bad ledger-key",
                               line);
            p.has_ledger = 1;
        } else if (strcmp(l, "created") == 0) {
            if (nv_time_parse(v, &p.created) < 0)
                return nv_fail(NV_EFORMAT, "identity line %d: bad created time",
                               line);
            seen |= 32;
        } else {
            return nv_fail(NV_EFORMAT, "identity line %d: unknown key '%.32s'",
                           line, l);
        }
    }
    if (seen != 63)
        return nv_fail(NV_EFORMAT, "identity file lacks a required line");
    *out = p;
    return 0;
}

int
nv_identity_pub_read(const char *path, struct nv_identity_pub *out)
{
    struct nv_buf b = NV_BUF_INIT;
    int r = nv_read_file(path, NV_IDENTITY_MAX, &b);

    if (r == 0)
        r = nv_identity_pub_parse((char *)b.data, b.len, out);
    if (r < 0)
        r = nv_fail_prefix(r, "cannot read identity '%s'", path);
    nv_buf_release(&b);
    return r;
}

static char *
keypath(const char *dir, const char *name)
{
    char *k = nv_path_join(dir, "keys");
    char *p = nv_path_join(k, name);
    free(k);
    return p;
}

static int
write_key(const char *dir, const char *name, const struct nv_buf *b, mode_t mode)
{
    char *p = keypath(dir, name);
    int r = nv_write_file(p, b->data, b->len, mode);
    free(p);
    return r;
}

static int
write_keys(const char *dir, const struct nv_identity_pub *pub,
           const struct nv_sign_key *sign, const struct nv_age_identity *age,
           const struct nv_sign_key *ledger)
{
    struct nv_buf b = NV_BUF_INIT;
    char rcpt[NV_AGE_RECIPIENT_LEN + 1];
    int r;

    b.secret = 1;
    if ((r = nv_sign_key_format(sign, NULL, 0, 0, &b)) < 0 ||
        (r = write_key(dir, "sign.key", &b, 0600)) < 0)
        goto out;
    nv_buf_release(&b);
    b.secret = 1;
    if ((r = nv_age_identity_file_format(age, &b)) < 0 ||
        (r = write_key(dir, "age.key", &b, 0600)) < 0)
        goto out;
    nv_buf_release(&b);
    b.secret = 1;
    if (ledger != NULL) {
        if ((r = nv_sign_key_format(ledger, NULL, 0, 0, &b)) < 0 ||
            (r = write_key(dir, "ledger.key", &b, 0600)) < 0)
            goto out;
        nv_buf_release(&b);
        if ((r = nv_ssh_pub_format(pub->ledger, &b)) < 0 ||
            (r = nv_buf_adds(&b, "\n")) < 0 ||
            (r = write_key(dir, "ledger.pub", &b, 0644)) < 0)
            goto out;
        nv_buf_release(&b);
    }
    if ((r = nv_sign_pub_format(&pub->sign, &b)) < 0 ||
        (r = write_key(dir, "sign.pub", &b, 0644)) < 0)
        goto out;
    nv_buf_release(&b);
    nv_age_recipient_encode(pub->age, rcpt);
    if ((r = nv_buf_addf(&b, "%s\n", rcpt)) < 0 ||
        (r = write_key(dir, "age.pub", &b, 0644)) < 0)
        goto out;
    nv_buf_release(&b);
    if ((r = nv_identity_pub_format(pub, &b)) < 0 ||
        (r = write_key(dir, "identity.pub", &b, 0644)) < 0)
        goto out;
out:
    nv_buf_release(&b);
    return r;
}

int
nv_identity_create(const char *dir, const char *entity, int role)
{
    struct nv_identity_pub pub;
    struct nv_sign_key *sign = NULL, *ledger = NULL;
    struct nv_age_identity *age = NULL;
    char *kd = nv_path_join(dir, "keys"), *sk = keypath(dir, "sign.key");
    int r;

    memset(&pub, 0, sizeof(pub));
    if (!nv_name_valid(entity)) {
        r = nv_fail(NV_EINVAL, "invalid entity name '%.64s': use 1-63 of a-z 0-9 . _ -, starting with a letter or digit",
                    entity);
        goto out;
    }
    if (nv_exists(sk)) {
        r = nv_fail(NV_EEXIST, "'%s' already holds keys; refusing to overwrite them",
                    kd);
        goto out;
    }
    if ((r = nv_mkdir_p(kd, 0700)) < 0)
        goto out;
    if ((r = nv_sign_key_generate(&sign)) < 0 ||
        (r = nv_age_identity_generate(&age)) < 0)
        goto out;
    if (role == NV_ROLE_HUB && (r = nv_sign_key_generate(&ledger)) < 0)
        goto out;
    strcpy(pub.entity, entity);
    pub.role = role;
    nv_sign_key_public(sign, &pub.sign);
    memcpy(pub.age, age->pk, NV_AGE_KEYLEN);
    if (ledger != NULL) {
        pub.has_ledger = 1;
        memcpy(pub.ledger, ledger->sk + 32, 32);
    }
    pub.created = nv_now();
    r = write_keys(dir, &pub, sign, age, ledger);
out:
    nv_sign_key_free(sign);
    nv_sign_key_free(ledger);
    nv_age_identity_free(age);
    free(kd);
    free(sk);
    return r;
}

/* Read a secret key file, refusing one that others can read. */
static int
read_secret(const char *path, struct nv_buf *b)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT
                   ? nv_fail(NV_ENOTFOUND, "missing key file '%s'", path)
                   : nv_fail_errno("cannot stat '%s'", path);
    if (st.st_mode & 077)
        return nv_fail(NV_EKEY, "secret key file '%s' is readable by others (mode %04o): chmod 600 it",
                       path, (unsigned)(st.st_mode & 07777));
    b->secret = 1;
    return nv_read_file(path, KEYFILE_MAX, b);
}

static int
load_sign(const char *path, struct nv_sign_key **out)
{
    struct nv_buf b = NV_BUF_INIT;
    int r = read_secret(path, &b);

    if (r == 0 && (r = nv_sign_key_parse((char *)b.data, b.len, NULL, out)) < 0)
        r = nv_fail_prefix(r, "cannot load '%s'", path);
    nv_buf_release(&b);
    return r;
}

static int
load_age(const char *path, struct nv_identity *id)
{
    struct nv_buf b = NV_BUF_INIT;
    size_t n = 0;
    int r = read_secret(path, &b);

    if (r == 0) {
        r = nv_age_identity_file_parse((char *)b.data, b.len, id->age + id->nage,
                                       NV_MAX_AGE_IDS - id->nage, &n);
        if (r < 0)
            r = nv_fail_prefix(r, "cannot load '%s'", path);
        else
            id->nage += n;
    }
    nv_buf_release(&b);
    return r;
}

int
nv_identity_load(const char *dir, struct nv_identity *out)
{
    char *p = keypath(dir, "identity.pub"), *rd = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = nv_identity_pub_read(p, &out->pub)) < 0)
        goto out;
    free(p);
    p = keypath(dir, "sign.key");
    if ((r = load_sign(p, &out->sign)) < 0)
        goto out;
    if (memcmp(out->sign->keyid, out->pub.sign.keyid, NV_KEYID_LEN) != 0) {
        r = nv_fail(NV_EKEY, "'%s' does not match identity.pub", p);
        goto out;
    }
    free(p);
    p = keypath(dir, "age.key");
    if ((r = load_age(p, out)) < 0)
        goto out;
    if (out->nage == 0 || memcmp(out->age[0]->pk, out->pub.age, 32) != 0) {
        r = nv_fail(NV_EKEY, "'%s' does not match identity.pub", p);
        goto out;
    }
    if (out->pub.has_ledger) {
        free(p);
        p = keypath(dir, "ledger.key");
        if ((r = load_sign(p, &out->ledger)) < 0)
            goto out;
    }
    /* retired age keys, newest first: retired/age-<n>.key */
    rd = keypath(dir, "retired");
    for (int i = 99; i >= 1 && out->nage < NV_MAX_AGE_IDS; i--) {
        char name[32], *rp;
        snprintf(name, sizeof(name), "age-%d.key", i);
        rp = nv_path_join(rd, name);
        if (nv_exists(rp))
            r = load_age(rp, out);
        free(rp);
        if (r < 0)
            goto out;
    }
out:
    free(p);
    free(rd);
    if (r < 0)
        nv_identity_release(out);
    return r;
}

void
nv_identity_release(struct nv_identity *id)
{
    nv_sign_key_free(id->sign);
    nv_sign_key_free(id->ledger);
    for (size_t i = 0; i < id->nage; i++)
        nv_age_identity_free(id->age[i]);
    memset(id, 0, sizeof(*id));
}

static int
move_to_retired(const char *dir, const char *name, int gen)
{
    char *from = keypath(dir, name), *rd = keypath(dir, "retired"), *to;
    char dst[64];
    const char *dot = strchr(name, '.');
    int r = 0;

    snprintf(dst, sizeof(dst), "%.*s-%d%s", (int)(dot - name), name, gen, dot);
    to = nv_path_join(rd, dst);
    if (rename(from, to) < 0)
        r = nv_fail_errno("cannot move '%s' to '%s'", from, to);
    free(from);
    free(rd);
    free(to);
    return r;
}

int
nv_identity_rotate(const char *dir)
{
    struct nv_identity old;
    struct nv_identity_pub pub;
    struct nv_sign_key *sign = NULL;
    struct nv_age_identity *age = NULL;
    struct nv_buf text = NV_BUF_INIT, sig = NV_BUF_INIT;
    char *rd = keypath(dir, "retired"), *p = NULL;
    int r, gen = 1;

    memset(&old, 0, sizeof(old));
    if ((r = nv_identity_load(dir, &old)) < 0)
        goto out;
    if ((r = nv_mkdir_p(rd, 0700)) < 0)
        goto out;
    for (;; gen++) {
        char name[32];
        snprintf(name, sizeof(name), "age-%d.key", gen);
        p = nv_path_join(rd, name);
        if (!nv_exists(p))
            break;
        free(p);
        p = NULL;
        if (gen >= 99) {
            r = nv_fail(NV_ETOOBIG, "too many retired keys in '%s'", rd);
            goto out;
        }
    }
    if ((r = nv_sign_key_generate(&sign)) < 0 ||
        (r = nv_age_identity_generate(&age)) < 0)
        goto out;
    pub = old.pub;
    nv_sign_key_public(sign, &pub.sign);
    memcpy(pub.age, age->pk, NV_AGE_KEYLEN);
    pub.created = nv_now();
    /* proof of continuity: the new identity signed by the old key */
    if ((r = nv_identity_pub_format(&pub, &text)) < 0 ||
        (r = nv_minisign_sign(old.sign, text.data, text.len,
                              "nova identity rotation signed by the previous key",
                              "nova identity rotation", &sig)) < 0)
        goto out;
    if ((r = move_to_retired(dir, "sign.key", gen)) < 0 ||
        (r = move_to_retired(dir, "sign.pub", gen)) < 0 ||
        (r = move_to_retired(dir, "age.key", gen)) < 0 ||
        (r = move_to_retired(dir, "age.pub", gen)) < 0)
        goto out;
    if ((r = write_keys(dir, &pub, sign, age, old.ledger)) < 0)
        goto out;
    free(p);
    p = keypath(dir, "identity.pub.minisig");
    r = nv_write_file(p, sig.data, sig.len, 0644);
out:
    nv_identity_release(&old);
    nv_sign_key_free(sign);
    nv_age_identity_free(age);
    nv_buf_release(&text);
    nv_buf_release(&sig);
    free(rd);
    free(p);
    return r;
}
