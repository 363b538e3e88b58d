/*
 * ledger.c - writing the hub's signed ledger (format: ledger.h).
 *
 * Each record is one commit made without a working tree: the entry's blobs
 * are written, the tip's tree is updated in memory (git_tree_create_updated),
 * the commit text is built with git_commit_create_buffer, signed with SSHSIG
 * (namespace "git") by the hub's ledger key, written with
 * git_commit_create_with_signature, and main is moved only if nobody moved
 * it meanwhile (crypto-formats.md 3.6).  Objects and refs are fsynced.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "ledger.h"

struct nv_ledger {
    git_repository *repo;
    char entity[NV_NAME_MAX + 1];
    char email[NV_NAME_MAX + 16]; /* hub@<entity>.nova */
    const struct nv_sign_key *key; /* borrowed */
    uint8_t pk[NV_SIGN_PKLEN];
    char trailer[200]; /* "Key: value" added to the next commits' messages */
};

static const char readme_text[] =
    "nova ledger\n"
    "===========\n"
    "\n"
    "Every bundle the nova hub applied or quarantined: its manifest and its\n"
    "minisign signature, byte for byte, and a status file (outcome, reason,\n"
    "SHA-256 of the bundle file).  One commit per bundle, each signed by the\n"
    "hub's ledger key (SSH signature, namespace \"git\").  No personal data.\n"
    "\n"
    "  streams/<sender>/<recipient>/<seq>/   applied bundles\n"
    "  quarantine/<sha256 of the file>/      refused bundles\n"
    "\n"
    "Verify every commit with stock git, using the hub's ledger key from your\n"
    "own copy of the hub's identity.pub (the allowed_signers file here is a\n"
    "convenience; do not trust it alone):\n"
    "\n"
    "  git -c gpg.ssh.allowedSignersFile=allowed_signers verify-commit <commit>\n"
    "\n"
    "and everything (commit signatures, manifest signatures, sequences and\n"
    "hash chains, bundle files) with:\n"
    "\n"
    "  nova-audit verify LEDGER --keys hub-identity.pub --keys AGENTS... [BUNDLE...]\n";

static int
ledger_git_fail(const char *what)
{
    const git_error *e = git_error_last();

    return nv_fail(NV_ESYS, "ledger: %s: %s", what,
                   e != NULL && e->message != NULL ? e->message : "libgit2 error");
}

static void
sha256_hex(const uint8_t h[32], char out[65])
{
    nv_hex(h, 32, out);
}

/* One line of printable ASCII, cut at NV_LEDGER_REASON_MAX bytes. */
static void
clean_reason(const char *in, char *out)
{
    size_t i = 0;

    if (in == NULL || *in == '\0')
        in = "-";
    for (; in[i] != '\0' && i < NV_LEDGER_REASON_MAX; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[i] = '\0';
}

static int
blob(struct nv_ledger *l, git_oid *oid, const void *p, size_t n)
{
    if (git_blob_create_from_buffer(oid, l->repo, p, n) < 0)
        return ledger_git_fail("cannot write object");
    return 0;
}

/* Sign the commit for tree (on top of the tip, if any) and move main. */
static int
commit_tree(struct nv_ledger *l, const git_oid *tree_oid, const char *msg)
{
    char *msg_full = NULL;
    git_oid tip, oid;
    git_commit *parent = NULL;
    git_tree *tree = NULL;
    git_signature *who = NULL;
    git_reference *ref = NULL;
    git_buf buf = { NULL, 0, 0 };
    struct nv_buf sig = NV_BUF_INIT;
    const git_commit *parents[1];
    int have_tip, r;

    have_tip = git_reference_name_to_id(&tip, l->repo, NV_LEDGER_REF) == 0;
    if (have_tip && git_commit_lookup(&parent, l->repo, &tip) < 0) {
        r = ledger_git_fail("cannot read the tip of main");
        goto out;
    }
    parents[0] = parent;
    if (git_tree_lookup(&tree, l->repo, tree_oid) < 0) {
        r = ledger_git_fail("cannot read the new tree");
        goto out;
    }
    if (git_signature_new(&who, "nova-hub", l->email, (git_time_t)nv_now(), 0) < 0) {
        r = ledger_git_fail("cannot make the committer line");
        goto out;
    }
    if (l->trailer[0] != '\0') {
        /* the message with its trailer, after a blank line */
        size_t ml = strlen(msg);
        char *full = malloc(ml + strlen(l->trailer) + 4);
        if (full == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            goto out;
        }
        sprintf(full, "%s%s\n%s\n", msg, ml > 0 && msg[ml - 1] == '\n' ? "" : "\n", l->trailer);
        msg_full = full;
        msg = full;
    }
    if (git_commit_create_buffer(&buf, l->repo, who, who, NULL, msg, tree,
                                 have_tip ? 1 : 0, parents) < 0) {
        r = ledger_git_fail("cannot build the commit");
        goto out;
    }
    if ((r = nv_sshsig_sign(l->key, NV_LEDGER_NS, buf.ptr, buf.size, &sig)) < 0)
        goto out;
    /* libgit2 adds the final LF itself (crypto-formats.md 3.6 step 3) */
    if (sig.len > 0 && sig.data[sig.len - 1] == '\n')
        sig.data[--sig.len] = '\0';
    if (git_commit_create_with_signature(&oid, l->repo, buf.ptr,
                                         (const char *)sig.data, NULL) < 0) {
        r = ledger_git_fail("cannot write the signed commit");
        goto out;
    }
    if (have_tip)
        r = git_reference_create_matching(&ref, l->repo, NV_LEDGER_REF, &oid, 1,
                                          &tip, msg);
    else
        r = git_reference_create(&ref, l->repo, NV_LEDGER_REF, &oid, 0, msg);
    if (r < 0) {
        r = ledger_git_fail(r == GIT_EMODIFIED ? "main moved while recording (another writer?)"
                                        : "cannot move main");
        goto out;
    }
    r = 0;
out:
    git_reference_free(ref);
    git_buf_dispose(&buf);
    git_signature_free(who);
    git_tree_free(tree);
    git_commit_free(parent);
    nv_buf_release(&sig);
    free(msg_full);
    return r;
}

int
nv_ledger_allowed_signers(const struct nv_ledger *l, struct nv_buf *out)
{
    int r;

    if ((r = nv_buf_addf(out, "%s namespaces=\"git\" ", l->email)) < 0 ||
        (r = nv_ssh_pub_format(l->pk, out)) < 0)
        return r;
    return nv_buf_adds(out, "\n");
}

int
nv_ledger_head(struct nv_ledger *l, char hex[41], uint64_t *commits)
{
    git_revwalk *w = NULL;
    git_oid tip, o;
    uint64_t n = 0;
    int r;

    if (git_reference_name_to_id(&tip, l->repo, NV_LEDGER_REF) < 0)
        return nv_fail(NV_ENOTFOUND, "ledger: main has no commit");
    if (commits == NULL) {
        git_oid_tostr(hex, 41, &tip);
        return 0;
    }
    if (git_revwalk_new(&w, l->repo) < 0 || git_revwalk_simplify_first_parent(w) < 0 ||
        git_revwalk_push(w, &tip) < 0) {
        r = ledger_git_fail("cannot walk main");
        goto out;
    }
    while ((r = git_revwalk_next(&o, w)) == 0)
        n++;
    if (r != GIT_ITEROVER) {
        r = ledger_git_fail("cannot walk main");
        goto out;
    }
    git_oid_tostr(hex, 41, &tip);
    *commits = n;
    r = 0;
out:
    git_revwalk_free(w);
    return r;
}

static int
root_commit(struct nv_ledger *l)
{
    git_treebuilder *tb = NULL;
    git_oid tree, o;
    struct nv_buf as = NV_BUF_INIT;
    int r;

    if ((r = nv_ledger_allowed_signers(l, &as)) < 0)
        goto out;
    if (git_treebuilder_new(&tb, l->repo, NULL) < 0) {
        r = ledger_git_fail("cannot build the root tree");
        goto out;
    }
    if ((r = blob(l, &o, readme_text, strlen(readme_text))) < 0)
        goto out;
    if (git_treebuilder_insert(NULL, tb, "README.txt", &o, GIT_FILEMODE_BLOB) < 0) {
        r = ledger_git_fail("cannot build the root tree");
        goto out;
    }
    if ((r = blob(l, &o, as.data, as.len)) < 0)
        goto out;
    if (git_treebuilder_insert(NULL, tb, "allowed_signers", &o, GIT_FILEMODE_BLOB) < 0 ||
        git_treebuilder_write(&tree, tb) < 0) {
        r = ledger_git_fail("cannot build the root tree");
        goto out;
    }
    r = commit_tree(l, &tree, "ledger: start");
out:
    git_treebuilder_free(tb);
    nv_buf_release(&as);
    return r;
}

int
nv_ledger_open(struct nv_ledger **out, const char *hubdir,
               const struct nv_identity *hub)
{
    struct nv_ledger *l = NULL;
    char *path = NULL;
    git_oid tip;
    int r;

    *out = NULL;
    if (hub->ledger == NULL || !hub->pub.has_ledger)
        return nv_fail(NV_EKEY, "ledger: the hub has no ledger key (keys/ledger.key)");
    if (git_libgit2_init() < 0)
        return ledger_git_fail("cannot initialise libgit2");
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    if ((l = calloc(1, sizeof(*l))) == NULL) {
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(l->entity, sizeof(l->entity), "%s", hub->pub.entity);
    snprintf(l->email, sizeof(l->email), "hub@%s.nova", hub->pub.entity);
    l->key = hub->ledger;
    memcpy(l->pk, hub->pub.ledger, NV_SIGN_PKLEN);
    path = nv_path_join(hubdir, NV_LEDGER_DIR);
    if (nv_exists(path)) {
        if (git_repository_open_ext(&l->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
                                    NULL) < 0) {
            r = ledger_git_fail("cannot open the ledger repository");
            goto out;
        }
    } else {
        /* made complete (with its root commit) under a temporary name, then
         * renamed: a crash never leaves half a repository at DIR/ledger */
        git_repository_init_options o = GIT_REPOSITORY_INIT_OPTIONS_INIT;
        char *tmp = nv_path_join(hubdir, NV_LEDGER_DIR ".new");
        o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
                  GIT_REPOSITORY_INIT_NO_REINIT;
        o.mode = GIT_REPOSITORY_INIT_SHARED_UMASK;
        o.initial_head = "main";
        o.description = "nova hub ledger";
        if ((r = nv_rm_rf(tmp)) < 0) {
            free(tmp);
            goto out;
        }
        if (git_repository_init_ext(&l->repo, tmp, &o) < 0) {
            free(tmp);
            r = ledger_git_fail("cannot create the ledger repository");
            goto out;
        }
        if ((r = root_commit(l)) < 0) {
            free(tmp);
            goto out;
        }
        git_repository_free(l->repo);
        l->repo = NULL;
        if (rename(tmp, path) < 0 || nv_fsync_dir(hubdir) < 0) {
            r = nv_fail_errno("cannot put the ledger repository in place");
            free(tmp);
            goto out;
        }
        free(tmp);
        if (git_repository_open_ext(&l->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
                                    NULL) < 0) {
            r = ledger_git_fail("cannot open the ledger repository");
            goto out;
        }
    }
    if (git_reference_name_to_id(&tip, l->repo, NV_LEDGER_REF) < 0 &&
        (r = root_commit(l)) < 0)
        goto out;
    *out = l;
    l = NULL; /* transferred */
    r = 0;
out:
    free(path);
    if (l != NULL)
        nv_ledger_close(l); /* also drops the libgit2 reference */
    else if (r < 0)
        git_libgit2_shutdown();
    return r;
}

void
nv_ledger_close(struct nv_ledger *l)
{
    if (l == NULL)
        return;
    git_repository_free(l->repo);
    free(l);
    git_libgit2_shutdown();
}

/* Tip tree, or NULL when main is unborn. */
static int
tip_tree(struct nv_ledger *l, git_tree **out)
{
    git_oid tip;
    git_commit *c = NULL;
    int r = 0;

    *out = NULL;
    if (git_reference_name_to_id(&tip, l->repo, NV_LEDGER_REF) < 0)
        return 0;
    if (git_commit_lookup(&c, l->repo, &tip) < 0 || git_commit_tree(out, c) < 0)
        r = ledger_git_fail("cannot read the tip of main");
    git_commit_free(c);
    return r;
}

/* 1 if path exists in the tip tree (oid set), 0 if not, <0 on error. */
static int
tip_has(struct nv_ledger *l, const char *path, git_oid *oid)
{
    git_tree *t = NULL;
    git_tree_entry *e = NULL;
    int r;

    if ((r = tip_tree(l, &t)) < 0)
        return r;
    if (t == NULL)
        return 0;
    r = git_tree_entry_bypath(&e, t, path) == 0;
    if (r && oid != NULL)
        git_oid_cpy(oid, git_tree_entry_id(e));
    git_tree_entry_free(e);
    git_tree_free(t);
    return r;
}

/* applied: 1 applied, 2 issued (a rebase order), 0 quarantined */
static int
format_status(struct nv_buf *s, const struct nv_manifest *m, const uint8_t *id,
              const uint8_t bundle_sha[32], int applied, int code,
              const char *reason)
{
    char idh[65], bh[65], when[21], rs[NV_LEDGER_REASON_MAX + 1];
    int r;

    clean_reason(applied ? NULL : reason, rs);
    sha256_hex(bundle_sha, bh);
    if (id != NULL)
        sha256_hex(id, idh);
    if ((r = nv_buf_addf(s, "nova-ledger-entry: 1\noutcome: %s\n",
                         applied == 2 ? "issued" : applied ? "applied" : "quarantined")) < 0)
        return r;
    if (m != NULL)
        r = nv_buf_addf(s, "stream: %s->%s\nseq: %llu\nkind: %s\nrecords: %llu\n",
                        m->sender, m->recipient, (unsigned long long)m->seq,
                        nv_kind_name(m->kind), (unsigned long long)m->records);
    else
        r = nv_buf_adds(s, "stream: -\nseq: -\nkind: -\nrecords: -\n");
    if (r < 0)
        return r;
    return nv_buf_addf(s, "manifest-sha256: %s\nbundle-sha256: %s\ncode: %d\n"
                          "reason: %s\nrecorded: %s\n",
                       id != NULL ? idh : "-", bh, applied ? 0 : nv_exit_status(code),
                       rs, nv_time_format(nv_now(), when));
}

/* Write the entry dir (files: status, and manifest+signature when b) and
 * commit it with msg. */
static int
commit_entry(struct nv_ledger *l, const char *dir, const struct nv_bundle *b,
             const struct nv_buf *status, const char *msg)
{
    git_tree_update up[3];
    git_oid ids[3], tree_oid;
    git_tree *base = NULL;
    char *paths[3] = { NULL, NULL, NULL };
    size_t n = 0;
    int r;

    if ((r = tip_tree(l, &base)) < 0)
        return r;
    if (base == NULL) {
        r = nv_fail(NV_ECORRUPT, "ledger: main has no root commit");
        goto out;
    }
    if (b != NULL) {
        if ((r = blob(l, &ids[n], b->manifest_text.data, b->manifest_text.len)) < 0)
            goto out;
        paths[n++] = nv_path_join(dir, "manifest");
        if ((r = blob(l, &ids[n], b->sig_text.data, b->sig_text.len)) < 0)
            goto out;
        paths[n++] = nv_path_join(dir, "manifest.minisig");
    }
    if ((r = blob(l, &ids[n], status->data, status->len)) < 0)
        goto out;
    paths[n++] = nv_path_join(dir, "status");
    for (size_t i = 0; i < n; i++) {
        up[i].action = GIT_TREE_UPDATE_UPSERT;
        git_oid_cpy(&up[i].id, &ids[i]);
        up[i].filemode = GIT_FILEMODE_BLOB;
        up[i].path = paths[i];
    }
    if (git_tree_create_updated(&tree_oid, l->repo, base, n, up) < 0) {
        r = ledger_git_fail("cannot build the entry's tree");
        goto out;
    }
    r = commit_tree(l, &tree_oid, msg);
out:
    for (size_t i = 0; i < 3; i++)
        free(paths[i]);
    git_tree_free(base);
    return r;
}

static void
stream_dir(const struct nv_manifest *m, char *out, size_t n)
{
    snprintf(out, n, "streams/%s/%s/%0*llu", m->sender, m->recipient,
             NV_LEDGER_SEQ_DIGITS, (unsigned long long)m->seq);
}

/* The entry of b under dir (applied or issued): once; another manifest
 * already there is NV_ECORRUPT. */
static int
record_entry(struct nv_ledger *l, struct nv_bundle *b, const uint8_t fsha[32],
             const char *dir, int outcome, const char *msg)
{
    char path[3 * NV_NAME_MAX + 16];
    git_oid have, want;
    struct nv_buf st = NV_BUF_INIT;
    int r;

    snprintf(path, sizeof(path), "%s/manifest", dir);
    if ((r = tip_has(l, path, &have)) < 0)
        return r;
    if (r == 1) {
        if (git_odb_hash(&want, b->manifest_text.data, b->manifest_text.len,
                         GIT_OBJECT_BLOB) < 0)
            return ledger_git_fail("cannot hash the manifest");
        if (git_oid_equal(&have, &want))
            return 0; /* recorded already */
        return nv_fail(NV_ECORRUPT,
                       "ledger: %s is recorded with another manifest", dir);
    }
    if ((r = format_status(&st, &b->m, b->id, fsha, outcome, 0, NULL)) == 0)
        r = commit_entry(l, dir, b, &st, msg);
    nv_buf_release(&st);
    return r;
}

static int
record_applied(struct nv_ledger *l, struct nv_bundle *b, const uint8_t fsha[32])
{
    char dir[3 * NV_NAME_MAX], msg[256];

    stream_dir(&b->m, dir, sizeof(dir));
    snprintf(msg, sizeof(msg), "apply %s->%s seq %llu (%s, %llu records)\n",
             b->m.sender, b->m.recipient, (unsigned long long)b->m.seq,
             nv_kind_name(b->m.kind), (unsigned long long)b->m.records);
    return record_entry(l, b, fsha, dir, 1, msg);
}

int
nv_ledger_has_stream_entry(struct nv_ledger *l, const char *sender, const char *recipient,
                           uint64_t seq)
{
    char path[3 * NV_NAME_MAX + 32];

    snprintf(path, sizeof(path), "streams/%s/%s/%0*llu/manifest", sender, recipient,
             NV_LEDGER_SEQ_DIGITS, (unsigned long long)seq);
    return tip_has(l, path, NULL);
}

int
nv_ledger_record_sent(struct nv_ledger *l, const char *path)
{
    char dir[3 * NV_NAME_MAX], msg[256];
    struct nv_bundle b;
    uint8_t fsha[32];
    int r;

    if ((r = nv_bundle_read(&b, path, 0)) < 0)
        return r;
    if ((r = nv_fd_sha256(b.fd, fsha)) == 0) {
        stream_dir(&b.m, dir, sizeof(dir));
        snprintf(msg, sizeof(msg), "send %s->%s seq %llu (%s, %llu records)\n", b.m.sender,
                 b.m.recipient, (unsigned long long)b.m.seq, nv_kind_name(b.m.kind),
                 (unsigned long long)b.m.records);
        r = record_entry(l, &b, fsha, dir, 2, msg);
    }
    nv_bundle_release(&b);
    return r;
}

int
nv_ledger_register_last(struct nv_ledger *l, uint64_t *last)
{
    git_tree *t = NULL, *reg = NULL;
    git_tree_entry *e = NULL;
    size_t n;
    int r = 0;

    *last = 0;
    if ((r = tip_tree(l, &t)) < 0 || t == NULL)
        return r;
    if (git_tree_entry_bypath(&e, t, "register") == 0 &&
        git_tree_lookup(&reg, l->repo, git_tree_entry_id(e)) == 0 &&
        (n = git_tree_entrycount(reg)) > 0) {
        /* names are FIRST-LAST, zero-padded: the last one sorts last */
        const char *name = git_tree_entry_name(git_tree_entry_byindex(reg, n - 1));
        const char *dash = strchr(name, '-');
        const char *d = dash != NULL ? dash + 1 + strspn(dash + 1, "0") : NULL;
        if (d == NULL || *d == '\0' || nv_parse_u64(d, last) < 0)
            r = nv_fail(NV_ECORRUPT, "ledger: register entry '%.40s' is not FIRST-LAST", name);
    }
    git_tree_free(reg);
    git_tree_entry_free(e);
    git_tree_free(t);
    return r;
}

int
nv_ledger_request_valid(const char *id)
{
    size_t n = strlen(id);

    if (n < 5 || n > 24 || strncmp(id, "REQ-", 4) != 0)
        return 0;
    for (size_t i = 4; i < n; i++)
        if (id[i] < '0' || id[i] > '9')
            return 0;
    return 1;
}

int
nv_ledger_record_events(struct nv_ledger *l, const struct nv_ledger_event *ev, size_t n)
{
    char dir[64], path[80], msg[128];
    struct nv_buf t = NV_BUF_INIT;
    git_tree_update up;
    git_tree *base = NULL;
    git_oid tree_oid;
    uint64_t last;
    int r;

    if (n == 0)
        return 0;
    if ((r = nv_ledger_register_last(l, &last)) < 0)
        return r;
    /* what the ledger holds already is not recorded twice */
    while (n > 0 && ev->seq <= last)
        ev++, n--;
    if (n == 0)
        return 0;
    if (ev[0].seq != last + 1)
        return nv_fail(NV_ECORRUPT, "ledger: register events %llu to %llu are missing",
                       (unsigned long long)last + 1, (unsigned long long)ev[0].seq - 1);
    if ((r = nv_buf_adds(&t, "nova-register-events: 1\n")) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char text[NV_LEDGER_REASON_MAX + 1];
        if (!nv_ledger_request_valid(ev[i].request) || (i > 0 && ev[i].seq != ev[i - 1].seq + 1)) {
            r = nv_fail(NV_EINVAL, "ledger: bad register event %llu",
                        (unsigned long long)ev[i].seq);
            goto out;
        }
        clean_reason(ev[i].text, text);
        for (char *c = text; *c; c++)
            if (*c == '\t')
                *c = ' ';
        if ((r = nv_buf_addf(&t, "%llu\t%s\t%s\t%llu\t%s\t%s\n", (unsigned long long)ev[i].seq,
                             ev[i].request, ev[i].right ? ev[i].right : "-",
                             (unsigned long long)ev[i].n + 1, ev[i].at ? ev[i].at : "-",
                             text)) < 0)
            goto out;
    }
    snprintf(dir, sizeof(dir), "register/%0*llu-%0*llu", NV_LEDGER_SEQ_DIGITS,
             (unsigned long long)ev[0].seq, NV_LEDGER_SEQ_DIGITS,
             (unsigned long long)ev[n - 1].seq);
    snprintf(path, sizeof(path), "%s/events", dir);
    if ((r = tip_tree(l, &base)) < 0)
        goto out;
    if (base == NULL) {
        r = nv_fail(NV_ECORRUPT, "ledger: main has no root commit");
        goto out;
    }
    if ((r = blob(l, &up.id, t.data, t.len)) < 0)
        goto out;
    up.action = GIT_TREE_UPDATE_UPSERT;
    up.filemode = GIT_FILEMODE_BLOB;
    up.path = path;
    if (git_tree_create_updated(&tree_oid, l->repo, base, 1, &up) < 0) {
        r = ledger_git_fail("cannot build the register's tree");
        goto out;
    }
    snprintf(msg, sizeof(msg), "register: events %llu to %llu (%zu)\n",
             (unsigned long long)ev[0].seq, (unsigned long long)ev[n - 1].seq, n);
    r = commit_tree(l, &tree_oid, msg);
out:
    git_tree_free(base);
    nv_buf_release(&t);
    return r;
}

int
nv_ledger_record_rebase(struct nv_ledger *l, struct nv_bundle *b)
{
    char dir[3 * NV_NAME_MAX], msg[256];
    uint8_t fsha[32];
    int r;

    if (b->m.kind != NV_KIND_REBASE || b->m.epoch == 0)
        return nv_fail(NV_EINVAL, "ledger: not a rebase order");
    if ((r = nv_fd_sha256(b->fd, fsha)) < 0)
        return r;
    snprintf(dir, sizeof(dir), "rebase/%s/%0*llu", b->m.recipient, NV_LEDGER_SEQ_DIGITS,
             (unsigned long long)b->m.epoch);
    snprintf(msg, sizeof(msg), "rebase %s: epoch %llu (order %s->%s seq %llu)\n",
             b->m.recipient, (unsigned long long)b->m.epoch, b->m.sender, b->m.recipient,
             (unsigned long long)b->m.seq);
    return record_entry(l, b, fsha, dir, 2, msg);
}

static int
record_quarantined(struct nv_ledger *l, const struct nv_bundle *b,
                   const uint8_t fsha[32], int code, const char *reason)
{
    char dir[80], path[96], fh[65], rs[NV_LEDGER_REASON_MAX + 1], *msg = NULL;
    struct nv_buf st = NV_BUF_INIT, mb = NV_BUF_INIT;
    int r;

    sha256_hex(fsha, fh);
    snprintf(dir, sizeof(dir), "quarantine/%s", fh);
    snprintf(path, sizeof(path), "%s/status", dir);
    if ((r = tip_has(l, path, NULL)) != 0)
        return r < 0 ? r : 0; /* recorded already */
    if ((r = format_status(&st, b ? &b->m : NULL, b ? b->id : NULL, fsha, 0,
                           code, reason)) < 0)
        goto out;
    clean_reason(reason, rs);
    if (b != NULL)
        r = nv_buf_addf(&mb, "quarantine %s->%s seq %llu: %s\n", b->m.sender,
                        b->m.recipient, (unsigned long long)b->m.seq, rs);
    else
        r = nv_buf_addf(&mb, "quarantine %.12s: %s\n", fh, rs);
    if (r < 0)
        goto out;
    msg = (char *)mb.data;
    r = commit_entry(l, dir, b, &st, msg);
out:
    nv_buf_release(&st);
    nv_buf_release(&mb);
    return r;
}

int
nv_ledger_record(struct nv_ledger *l, struct nv_bundle *b, int applied,
                 int code, const char *reason)
{
    uint8_t fsha[32];
    int r;

    if ((r = nv_fd_sha256(b->fd, fsha)) < 0)
        return r;
    if (applied)
        return record_applied(l, b, fsha);
    return record_quarantined(l, b, fsha, code, reason);
}

int
nv_ledger_record_file(struct nv_ledger *l, const char *path, int code,
                      const char *reason)
{
    struct nv_bundle b;
    uint8_t fsha[32];
    int fd, r;

    if (nv_bundle_read(&b, path, 0) == 0) {
        r = nv_ledger_record(l, &b, 0, code, reason);
        nv_bundle_release(&b);
        return r;
    }
    nv_error_clear();
    if ((fd = nv_open_read(path)) < 0)
        return fd;
    r = nv_fd_sha256(fd, fsha);
    close(fd);
    if (r < 0)
        return r;
    return record_quarantined(l, NULL, fsha, code, reason);
}

/* ---- reconciliation ---- */

struct arch {
    char *name;
    char sender[NV_NAME_MAX + 1];
    uint64_t seq;
};

static int
arch_cmp(const void *a, const void *b)
{
    const struct arch *x = a, *y = b;
    int c = strcmp(x->sender, y->sender);

    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* "<sender>-<recipient>-<seq, 10 digits>.<kind>.nova" with recipient this
 * hub: the entry path it would have, without reading the file. */
static int
arch_parse(const struct nv_ledger *l, const char *name, struct arch *a)
{
    size_t n = strlen(name), el = strlen(l->entity);
    const char *dot, *dash;
    char kind[16], seqs[24];

    if (n < 6 || strcmp(name + n - 5, NV_BUNDLE_EXT) != 0 || name[0] == '.')
        return -1;
    /* kind */
    dot = name + n - 5;
    {
        const char *k = dot;
        while (k > name && k[-1] != '.')
            k--;
        if (k == name || (size_t)(dot - k) >= sizeof(kind))
            return -1;
        memcpy(kind, k, (size_t)(dot - k));
        kind[dot - k] = '\0';
        if (nv_kind_parse(kind) == 0)
            return -1;
        dot = k - 1; /* the '.' before the kind */
    }
    dash = dot;
    while (dash > name && dash[-1] != '-')
        dash--;
    if (dash == name || (size_t)(dot - dash) >= sizeof(seqs))
        return -1;
    memcpy(seqs, dash, (size_t)(dot - dash));
    seqs[dot - dash] = '\0';
    if (nv_parse_u64(seqs + strspn(seqs, "0") - (seqs[strspn(seqs, "0")] == '\0'),
                     &a->seq) < 0)
        return -1;
    /* dash - 1 is the '-' before seq; before it "-<recipient>" */
    if ((size_t)(dash - 1 - name) < el + 2 ||
        strncmp(dash - 1 - el, l->entity, el) != 0 || dash[-2 - (long)el] != '-')
        return -1;
    n = (size_t)(dash - 2 - (long)el - name);
    if (n == 0 || n > NV_NAME_MAX)
        return -1;
    memcpy(a->sender, name, n);
    a->sender[n] = '\0';
    return nv_name_valid(a->sender) ? 0 : -1;
}

int
nv_ledger_reconcile(struct nv_ledger *l, const char *archive_dir, int *added)
{
    DIR *d = opendir(archive_dir);
    struct dirent *e;
    struct arch *v = NULL;
    size_t n = 0, cap = 0;
    int r = 0, count = 0;

    if (added != NULL)
        *added = 0;
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        return nv_fail_errno("ledger: cannot open '%s'", archive_dir);
    }
    while ((e = readdir(d)) != NULL) {
        struct arch a;
        char path[3 * NV_NAME_MAX + 32];
        memset(&a, 0, sizeof(a));
        if (arch_parse(l, e->d_name, &a) < 0)
            continue;
        snprintf(path, sizeof(path), "streams/%s/%s/%0*llu/manifest", a.sender,
                 l->entity, NV_LEDGER_SEQ_DIGITS, (unsigned long long)a.seq);
        if ((r = tip_has(l, path, NULL)) < 0)
            break;
        if (r == 1) {
            r = 0;
            continue;
        }
        if (n == cap) {
            struct arch *nv;
            cap = cap ? cap * 2 : 16;
            if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                break;
            }
            v = nv;
        }
        if ((a.name = strdup(e->d_name)) == NULL) {
            r = nv_fail(NV_ENOMEM, "out of memory");
            break;
        }
        v[n++] = a;
    }
    closedir(d);
    if (r == 0 && n > 0)
        qsort(v, n, sizeof(*v), arch_cmp);
    for (size_t i = 0; r == 0 && i < n; i++) {
        char *p = nv_path_join(archive_dir, v[i].name);
        struct nv_bundle b;
        if ((r = nv_bundle_read(&b, p, 0)) < 0) {
            r = nv_fail_prefix(r, "ledger: cannot read archived bundle '%s'", v[i].name);
        } else {
            r = nv_ledger_record(l, &b, 1, 0, NULL);
            nv_bundle_release(&b);
            if (r == 0) {
                nv_warn("ledger", "recorded stream %s->%s seq %llu from the archive "
                        "(missing after a crash)", v[i].sender, l->entity,
                        (unsigned long long)v[i].seq);
                count++;
            }
        }
        free(p);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    if (added != NULL)
        *added = count;
    return r;
}

/* ---- status files ---- */

int
nv_ledger_status_parse(const char *text, size_t len, struct nv_ledger_status *out)
{
    static const char *keys[] = { "nova-ledger-entry", "outcome", "stream", "seq",
                                  "kind", "records", "manifest-sha256",
                                  "bundle-sha256", "code", "reason", "recorded" };
    struct nv_ledger_status s;
    const char *p = text, *end = text + len;
    char line[NV_LEDGER_REASON_MAX + 32];

    memset(&s, 0, sizeof(s));
    if (len > NV_LEDGER_STATUS_MAX || memchr(text, '\0', len) != NULL)
        return nv_fail(NV_EFORMAT, "status: over %d bytes or binary",
                       NV_LEDGER_STATUS_MAX);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *v;
        size_t kl = strlen(keys[i]), ll;
        uint64_t u;
        if (nl == NULL)
            return nv_fail(NV_EFORMAT, "status line %zu: missing", i + 1);
        ll = (size_t)(nl - p);
        if (ll >= sizeof(line) || ll < kl + 2 || memcmp(p, keys[i], kl) != 0 ||
            p[kl] != ':' || p[kl + 1] != ' ')
            return nv_fail(NV_EFORMAT, "status line %zu: expected '%s: '", i + 1,
                           keys[i]);
        memcpy(line, p, ll);
        line[ll] = '\0';
        v = line + kl + 2;
        p = nl + 1;
        switch (i) {
        case 0:
            if (strcmp(v, "1") != 0)
                return nv_fail(NV_EFORMAT, "status line 1: unknown version");
            break;
        case 1:
            if (strcmp(v, "applied") == 0)
                s.applied = 1;
            else if (strcmp(v, "issued") == 0)
                s.issued = 1;
            else if (strcmp(v, "quarantined") != 0)
                return nv_fail(NV_EFORMAT, "status line 2: bad outcome");
            break;
        case 2: {
            const char *arrow = strstr(v, "->");
            snprintf(s.stream, sizeof(s.stream), "%s", v);
            if (strcmp(v, "-") == 0)
                break;
            if (arrow == NULL || (size_t)(arrow - v) > NV_NAME_MAX ||
                strlen(arrow + 2) > NV_NAME_MAX)
                return nv_fail(NV_EFORMAT, "status line 3: bad stream");
            memcpy(s.sender, v, (size_t)(arrow - v));
            s.sender[arrow - v] = '\0';
            strcpy(s.recipient, arrow + 2);
            if (!nv_name_valid(s.sender) || !nv_name_valid(s.recipient))
                return nv_fail(NV_EFORMAT, "status line 3: bad stream");
            break;
        }
        case 3:
            if (strcmp(v, "-") == 0)
                break;
            if (nv_parse_u64(v, &s.seq) < 0)
                return nv_fail(NV_EFORMAT, "status line 4: bad seq");
            s.has_seq = 1;
            break;
        case 4:
            if (strlen(v) >= sizeof(s.kind) ||
                (strcmp(v, "-") != 0 && nv_kind_parse(v) == 0))
                return nv_fail(NV_EFORMAT, "status line 5: bad kind");
            strcpy(s.kind, v);
            break;
        case 5:
            if (strlen(v) >= sizeof(s.records) ||
                (strcmp(v, "-") != 0 && nv_parse_u64(v, &u) < 0))
                return nv_fail(NV_EFORMAT, "status line 6: bad records");
            strcpy(s.records, v);
            break;
        case 6:
            if (strcmp(v, "-") == 0)
                break;
            if (strlen(v) != 64 || nv_unhex(v, s.id, 32) < 0)
                return nv_fail(NV_EFORMAT, "status line 7: bad manifest-sha256");
            s.has_id = 1;
            break;
        case 7:
            if (strlen(v) != 64 || nv_unhex(v, s.bundle_sha, 32) < 0)
                return nv_fail(NV_EFORMAT, "status line 8: bad bundle-sha256");
            break;
        case 8:
            if (nv_parse_u64(v, &u) < 0 || u > 255)
                return nv_fail(NV_EFORMAT, "status line 9: bad code");
            s.code = (int)u;
            break;
        case 9:
            if (strlen(v) > NV_LEDGER_REASON_MAX)
                return nv_fail(NV_EFORMAT, "status line 10: reason too long");
            strcpy(s.reason, v);
            break;
        case 10:
            if (nv_time_parse(v, &s.recorded) < 0)
                return nv_fail(NV_EFORMAT, "status line 11: bad time");
            break;
        }
    }
    if (p != end)
        return nv_fail(NV_EFORMAT, "status: data after the last line");
    if ((s.applied || s.issued) && (!s.has_seq || !s.has_id || s.code != 0 || s.stream[0] == '-'))
        return nv_fail(NV_EFORMAT, "status: an applied or issued entry needs stream, seq, "
                                   "manifest-sha256 and code 0");
    *out = s;
    return 0;
}

/* Is the commit at oid signed by this hub's ledger key? */
static int
signed_by_us(struct nv_ledger *l, const git_oid *oid)
{
    git_buf sig = { NULL, 0, 0 }, data = { NULL, 0, 0 };
    uint8_t pk[NV_SIGN_PKLEN];
    git_oid id = *oid;
    int ok = git_commit_extract_signature(&sig, &data, l->repo, &id, NULL) == 0 &&
             nv_sshsig_verify(sig.ptr, sig.size, NV_LEDGER_NS, data.ptr, data.size, pk) == 0 &&
             sodium_memcmp(pk, l->pk, NV_SIGN_PKLEN) == 0;

    git_buf_dispose(&sig);
    git_buf_dispose(&data);
    return ok;
}

int
nv_ledger_check_head(struct nv_ledger *l, const char *recorded)
{
    git_oid tip, rec, at;
    char th[GIT_OID_HEXSZ + 1];

    if (recorded == NULL || recorded[0] == '\0')
        return 0;
    if (strlen(recorded) != GIT_OID_HEXSZ || git_oid_fromstr(&rec, recorded) < 0)
        return nv_fail(NV_ECORRUPT, "ledger: the head the store noted is malformed");
    if (git_reference_name_to_id(&tip, l->repo, NV_LEDGER_REF) < 0)
        return nv_fail(NV_ECORRUPT, "ledger: main is gone (the store noted %.12s); "
                       "restore DIR/ledger from a backup", recorded);
    git_oid_tostr(th, sizeof(th), &tip);
    if (git_oid_equal(&tip, &rec))
        return 0;
    if (git_graph_descendant_of(l->repo, &tip, &rec) != 1)
        return nv_fail(NV_ECORRUPT, "ledger: main at %.12s does not hold %.12s, the head "
                       "the hub noted after its last entry: the ledger was rolled back or "
                       "rewritten; the hub writes nothing until DIR/ledger is restored "
                       "from a backup or an auditor's copy", th, recorded);
    /* what came after the noted head: this hub's own commits only */
    at = tip;
    while (!git_oid_equal(&at, &rec)) {
        git_commit *c = NULL;
        char h[GIT_OID_HEXSZ + 1];
        git_oid_tostr(h, sizeof(h), &at);
        if (!signed_by_us(l, &at))
            return nv_fail(NV_ECORRUPT, "ledger: commit %.12s on main after %.12s is not "
                           "signed by this hub's ledger key; the hub writes nothing until "
                           "DIR/ledger is restored", h, recorded);
        if (git_commit_lookup(&c, l->repo, &at) < 0 || git_commit_parentcount(c) != 1) {
            if (c != NULL)
                git_commit_free(c);
            return nv_fail(NV_ECORRUPT, "ledger: commit %.12s on main is not a plain "
                           "entry", h);
        }
        at = *git_commit_parent_id(c, 0);
        git_commit_free(c);
    }
    return 0;
}

int
nv_ledger_holds(const char *path, const char *hex)
{
    git_repository *repo = NULL;
    git_oid tip, w;
    int r;

    if (strlen(hex) != GIT_OID_HEXSZ || git_oid_fromstr(&w, hex) < 0)
        return nv_fail(NV_EFORMAT, "a ledger head is 40 hexadecimal digits");
    if (git_libgit2_init() < 0)
        return ledger_git_fail("cannot initialise libgit2");
    if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
        r = ledger_git_fail("cannot open the ledger repository");
    } else if (git_reference_name_to_id(&tip, repo, NV_LEDGER_REF) < 0) {
        r = 0;
    } else {
        r = git_oid_equal(&tip, &w) || git_graph_descendant_of(repo, &tip, &w) == 1;
    }
    git_repository_free(repo);
    git_libgit2_shutdown();
    return r;
}

void
nv_ledger_set_trailer(struct nv_ledger *l, const char *key, const char *value)
{
    if (key == NULL || value == NULL)
        l->trailer[0] = '\0';
    else
        snprintf(l->trailer, sizeof(l->trailer), "%s: %s", key, value);
}

int
nv_ledger_last_trailer(const char *path, const char *key, char *out, size_t n)
{
    git_repository *repo = NULL;
    git_revwalk *w = NULL;
    git_oid o;
    size_t kl = strlen(key);
    int r = 0;

    out[0] = '\0';
    if (git_libgit2_init() < 0)
        return ledger_git_fail("cannot initialise libgit2");
    if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
        r = ledger_git_fail("cannot open the ledger repository");
        goto out;
    }
    if (git_revwalk_new(&w, repo) < 0 || git_revwalk_simplify_first_parent(w) < 0 ||
        git_revwalk_push_ref(w, NV_LEDGER_REF) < 0)
        goto out; /* no main: no trailer */
    while (git_revwalk_next(&o, w) == 0) {
        git_commit *c;
        const char *m, *p;
        if (git_commit_lookup(&c, repo, &o) < 0)
            continue;
        m = git_commit_message(c);
        for (p = m; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            if (strncmp(p, key, kl) == 0 && p[kl] == ':' && p[kl + 1] == ' ') {
                snprintf(out, n, "%.*s", (int)strcspn(p + kl + 2, "\n"), p + kl + 2);
                break;
            }
        git_commit_free(c);
        if (out[0] != '\0')
            break;
    }
out:
    git_revwalk_free(w);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return r;
}
