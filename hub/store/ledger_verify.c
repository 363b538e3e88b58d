/*
 * ledger_verify.c - checking the hub's ledger offline from public keys
 * (nova-audit verify).  Format: ledger.h.
 *
 * The walk reads main from its root commit to its tip, first parent only.
 * For each commit: its SSH signature (the gpgsig header, over the commit
 * without it, exactly what git verify-commit checks) must verify in
 * namespace "git" with a hub ledger key from the auditor's keys, never from
 * the ledger's own allowed_signers; the tree difference with the parent
 * must only add whole new entries.  Each added entry is checked on its own
 * (signature, path, status); the stream rules (gap-free, in order, chained)
 * are checked at the end over all entries, so one removed or reordered
 * bundle is named once, by its stream and sequence number.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <sodium.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../../formats/erased.h"
#include "ledger.h"

#define HASH_SHORT 12

struct lentry {
    uint64_t seq;
    uint8_t id[32], prev[32], bundle_sha[32];
    int has_prev;
    size_t order;                  /* index of the commit that added it */
    char commit[HASH_SHORT + 1];
    int removed;
    int issued;                    /* a bundle the hub sealed to an agent */
    char removed_by[HASH_SHORT + 1];
    git_oid manifest, sig;
};

struct lstream {
    char sender[NV_NAME_MAX + 1], recipient[NV_NAME_MAX + 1];
    struct lentry *e;
    size_t n, cap;
};

struct nv_ledger_audit {
    git_repository *repo;
    const struct nv_keyring *kr;
    nv_ledger_report_fn report;
    void *ctx;
    struct lstream *s;
    size_t ns, scap;
    int commits, bundles, problems, first;
    int events; /* events of the GDPR register */
    uint64_t reg_last; /* the last register event number seen */
    int erased; /* bundle files given that are receipts of erased ones */
};

/* One entry directory of a commit's difference. */
struct group {
    char dir[3 * NV_NAME_MAX + 40];
    int is_stream; /* 1 streams/, 2 rebase/, 3 register/, 0 quarantine/ */
    int changed; /* a file deleted, modified or replaced */
    int has_manifest, has_sig, has_status, has_event, bad_file;
    git_oid manifest, sig, status, event;
};

static void
problem(struct nv_ledger_audit *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem(struct nv_ledger_audit *a, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    a->problems++;
    if (a->first == 0)
        a->first = code;
    if (a->report != NULL)
        a->report(a->ctx, code, msg);
}

static int
ledger_git_fail(const char *what)
{
    const git_error *e = git_error_last();

    return nv_fail(NV_ESYS, "ledger: %s: %s", what,
                   e != NULL && e->message != NULL ? e->message : "libgit2 error");
}

static struct lstream *
stream_get(struct nv_ledger_audit *a, const char *sender, const char *recipient,
           int create)
{
    for (size_t i = 0; i < a->ns; i++)
        if (strcmp(a->s[i].sender, sender) == 0 &&
            strcmp(a->s[i].recipient, recipient) == 0)
            return &a->s[i];
    if (!create)
        return NULL;
    if (a->ns == a->scap) {
        a->scap = a->scap ? a->scap * 2 : 8;
        a->s = realloc(a->s, a->scap * sizeof(*a->s));
        if (a->s == NULL)
            abort();
    }
    memset(&a->s[a->ns], 0, sizeof(a->s[0]));
    snprintf(a->s[a->ns].sender, sizeof(a->s[0].sender), "%s", sender);
    snprintf(a->s[a->ns].recipient, sizeof(a->s[0].recipient), "%s", recipient);
    return &a->s[a->ns++];
}

static struct lentry *
stream_add(struct lstream *s)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->e = realloc(s->e, s->cap * sizeof(*s->e));
        if (s->e == NULL)
            abort();
    }
    memset(&s->e[s->n], 0, sizeof(s->e[0]));
    return &s->e[s->n++];
}

static struct lentry *
entry_find(struct lstream *s, uint64_t seq, int removed_too)
{
    for (size_t i = 0; s != NULL && i < s->n; i++)
        if (s->e[i].seq == seq && (removed_too || !s->e[i].removed))
            return &s->e[i];
    return NULL;
}

/* A blob's bytes (at most max) into out. */
static int
read_blob(struct nv_ledger_audit *a, const git_oid *id, size_t max,
          struct nv_buf *out)
{
    git_blob *b = NULL;
    int r;

    if (git_blob_lookup(&b, a->repo, id) < 0)
        return ledger_git_fail("cannot read an entry file");
    if (git_blob_rawsize(b) > (git_object_size_t)max)
        r = nv_fail(NV_ETOOBIG, "over %zu bytes", max);
    else
        r = nv_buf_add(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
    git_blob_free(b);
    return r;
}

static int
is_ledger_key(const struct nv_ledger_audit *a, const uint8_t pk[NV_SIGN_PKLEN])
{
    for (size_t i = 0; i < a->kr->n; i++) {
        const struct nv_keyring_entry *e = &a->kr->e[i];
        if (e->id.has_ledger && e->state != NV_KEY_REVOKED &&
            memcmp(e->id.ledger, pk, NV_SIGN_PKLEN) == 0)
            return 1;
    }
    return 0;
}

static void
check_commit_sig(struct nv_ledger_audit *a, git_oid *oid, const char *h)
{
    git_buf sig = { NULL, 0, 0 }, data = { NULL, 0, 0 };
    uint8_t pk[NV_SIGN_PKLEN];
    int r;

    r = git_commit_extract_signature(&sig, &data, a->repo, oid, NULL);
    if (r == GIT_ENOTFOUND) {
        problem(a, NV_ESIG, "commit %s: not signed", h);
    } else if (r < 0) {
        problem(a, NV_ESIG, "commit %s: cannot read its signature", h);
    } else if ((r = nv_sshsig_verify(sig.ptr, sig.size, NV_LEDGER_NS, data.ptr,
                                     data.size, pk)) < 0) {
        problem(a, NV_ESIG, "commit %s: SSH signature does not verify: %s", h,
                nv_errmsg(r));
    } else if (!is_ledger_key(a, pk)) {
        struct nv_buf k = NV_BUF_INIT;
        if (nv_ssh_pub_format(pk, &k) < 0)
            nv_buf_reset(&k);
        problem(a, NV_ESIG, "commit %s: not signed by the hub's ledger key "
                "(signed by %s)", h, k.data ? (const char *)k.data : "another key");
        nv_buf_release(&k);
    }
    git_buf_dispose(&sig);
    git_buf_dispose(&data);
}

static int
seq_parse(const char *s, size_t n, uint64_t *seq)
{
    char tmp[32], canon[32];

    if (n >= sizeof(tmp) || n < NV_LEDGER_SEQ_DIGITS)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    {
        const char *d = tmp + strspn(tmp, "0");
        if (*d == '\0')
            return -1; /* seq 0 does not exist */
        if (nv_parse_u64(d, seq) < 0)
            return -1;
    }
    snprintf(canon, sizeof(canon), "%0*llu", NV_LEDGER_SEQ_DIGITS,
             (unsigned long long)*seq);
    return strcmp(canon, tmp) == 0 ? 0 : -1;
}

/* streams/S/R/SEQ -> S, R, seq. */
static int
stream_path(const char *dir, char *sender, char *recipient, uint64_t *seq)
{
    const char *p = dir + strlen("streams/"), *s1, *s2;

    if ((s1 = strchr(p, '/')) == NULL || (s2 = strchr(s1 + 1, '/')) == NULL ||
        strchr(s2 + 1, '/') != NULL || (size_t)(s1 - p) > NV_NAME_MAX ||
        (size_t)(s2 - s1 - 1) > NV_NAME_MAX)
        return -1;
    memcpy(sender, p, (size_t)(s1 - p));
    sender[s1 - p] = '\0';
    memcpy(recipient, s1 + 1, (size_t)(s2 - s1 - 1));
    recipient[s2 - s1 - 1] = '\0';
    if (!nv_name_valid(sender) || !nv_name_valid(recipient))
        return -1;
    return seq_parse(s2 + 1, strlen(s2 + 1), seq);
}

static int
quarantine_path(const char *dir)
{
    const char *h = dir + strlen("quarantine/");
    uint8_t x[32];
    char lower[65];

    if (strlen(h) != 64 || nv_unhex(h, x, 32) < 0)
        return -1;
    return strcmp(nv_hex(x, 32, lower), h) == 0 ? 0 : -1;
}

/* The manifest signature by the sender's key in the auditor's keys. */
static void
check_manifest_sig(struct nv_ledger_audit *a, const char *label,
                   const struct nv_manifest *m, const struct nv_buf *mt,
                   const struct nv_buf *st)
{
    struct nv_minisig *sig = malloc(sizeof(*sig));
    struct nv_sign_pub pk;
    char kid[17];
    int r;

    if (sig == NULL)
        abort();
    nv_keyid_hex(m->sender_key, kid);
    if ((r = nv_minisig_parse((const char *)st->data, st->len, sig)) < 0) {
        problem(a, NV_EFORMAT, "%s: manifest.minisig does not parse: %s", label,
                nv_errmsg(r));
    } else if (strcmp(sig->untrusted, NV_SIG_COMMENT) != 0 &&
               strcmp(sig->untrusted, NV_SIG_COMMENT_STOCK) != 0) {
        problem(a, NV_EFORMAT, "%s: manifest.minisig has an unexpected untrusted "
                "comment", label);
    } else if (memcmp(sig->keyid, m->sender_key, NV_KEYID_LEN) != 0) {
        problem(a, NV_EUNKNOWNKEY, "%s: manifest signed by a key other than "
                "sender-key %s", label, kid);
    } else if ((r = nv_keyring_lookup((void *)a->kr, m->sender, m->sender_key,
                                      &pk)) < 0) {
        problem(a, r, "%s: %s", label, nv_errmsg(r));
    } else if (nv_minisign_verify(&pk, sig, mt->data, mt->len, 0) < 0) {
        problem(a, NV_ESIG, "%s: manifest signature does not verify with key %s",
                label, kid);
    }
    free(sig);
}

/* The manifest, signature and status of an entry that records a bundle
 * (outcome: 1 applied, 2 issued, 3 either): each checked, the manifest parsed into
 * *m with its id.  -1 when there is no manifest to go on with. */
static int
entry_manifest(struct nv_ledger_audit *a, const struct group *g, const char *h,
               const char *label, int outcome, struct nv_manifest *m, uint8_t id[32],
               struct nv_ledger_status *status)
{
    struct nv_buf mt = NV_BUF_INIT, st = NV_BUF_INIT, stt = NV_BUF_INIT;
    int r, ok = -1;

    a->bundles++;
    memset(status, 0, sizeof(*status));
    if (!g->has_manifest || !g->has_sig || !g->has_status || g->bad_file) {
        problem(a, NV_EFORMAT, "%s: entry added by commit %s is not exactly "
                "manifest, manifest.minisig and status", label, h);
        if (!g->has_manifest)
            return -1;
    }
    if ((r = read_blob(a, &g->manifest, NV_MANIFEST_MAX, &mt)) < 0 ||
        (r = nv_manifest_parse((const char *)mt.data, mt.len, m)) < 0) {
        problem(a, NV_EFORMAT, "%s: manifest does not parse: %s", label, nv_errmsg(r));
        goto out;
    }
    ok = 0;
    nv_manifest_id(mt.data, mt.len, id);
    if (g->has_sig) {
        if ((r = read_blob(a, &g->sig, NV_SIG_MAX, &st)) < 0)
            problem(a, NV_EFORMAT, "%s: manifest.minisig: %s", label, nv_errmsg(r));
        else
            check_manifest_sig(a, label, m, &mt, &st);
    }
    if (g->has_status) {
        if ((r = read_blob(a, &g->status, NV_LEDGER_STATUS_MAX, &stt)) < 0 ||
            (r = nv_ledger_status_parse((const char *)stt.data, stt.len, status)) < 0)
            problem(a, NV_EFORMAT, "%s: status does not parse: %s", label,
                    nv_errmsg(r));
        else if (outcome == 3 ? !status->applied && !status->issued
                 : outcome == 1 ? !status->applied : !status->issued)
            problem(a, NV_EFORMAT, "%s: status of an %s entry says otherwise",
                    label, outcome == 3 ? "applied or issued"
                           : outcome == 1 ? "applied" : "issued");
        else if (strcmp(status->sender, m->sender) != 0 ||
                 strcmp(status->recipient, m->recipient) != 0 || status->seq != m->seq ||
                 strcmp(status->kind, nv_kind_name(m->kind)) != 0)
            problem(a, NV_EFORMAT, "%s: status names another stream, seq or kind",
                    label);
        else if (memcmp(status->id, id, 32) != 0)
            problem(a, NV_EHASH, "%s: status names another manifest "
                    "(manifest-sha256 differs)", label);
    }
out:
    nv_buf_release(&mt);
    nv_buf_release(&st);
    nv_buf_release(&stt);
    return ok;
}

static void
check_stream_entry(struct nv_ledger_audit *a, const struct group *g,
                   size_t order, const char *h)
{
    char sender[NV_NAME_MAX + 1], recipient[NV_NAME_MAX + 1], label[200], e[160];
    struct nv_ledger_status status;
    struct nv_manifest m;
    struct lentry *le;
    uint8_t id[32];
    uint64_t seq;

    if (stream_path(g->dir, sender, recipient, &seq) < 0) {
        problem(a, NV_EFORMAT, "commit %s: bad entry path '%s'", h,
                nv_log_escape(g->dir, e, sizeof(e)));
        return;
    }
    snprintf(label, sizeof(label), "stream %s->%s seq %llu", sender, recipient,
             (unsigned long long)seq);
    /* applied (a bundle the hub received) or issued (one it sealed) */
    if (entry_manifest(a, g, h, label, 3, &m, id, &status) < 0)
        return;
    if (strcmp(m.sender, sender) != 0 || strcmp(m.recipient, recipient) != 0 ||
        m.seq != seq)
        problem(a, NV_ESEQGAP, "%s: entry holds the manifest of stream %s->%s seq %llu",
                label, m.sender, m.recipient, (unsigned long long)m.seq);
    le = stream_add(stream_get(a, m.sender, m.recipient, 1));
    le->seq = m.seq;
    memcpy(le->id, id, 32);
    memcpy(le->prev, m.prev, 32);
    le->has_prev = m.has_prev;
    le->issued = status.issued;
    le->order = order;
    snprintf(le->commit, sizeof(le->commit), "%s", h);
    git_oid_cpy(&le->manifest, &g->manifest);
    if (g->has_sig)
        git_oid_cpy(&le->sig, &g->sig);
    memcpy(le->bundle_sha, status.bundle_sha, 32);
}

/* rebase/ENTITY/EPOCH: a rebase order the hub issued (nova-hub rebase),
 * signed by the hub, naming that entity and epoch. */
static void
check_rebase_entry(struct nv_ledger_audit *a, const struct group *g, const char *h)
{
    char entity[NV_NAME_MAX + 1], label[200], e[160];
    const char *p = g->dir + strlen("rebase/"), *s1 = strchr(p, '/');
    struct nv_ledger_status status;
    struct nv_manifest m;
    uint8_t id[32];
    uint64_t epoch;

    if (s1 == NULL || (size_t)(s1 - p) > NV_NAME_MAX ||
        (memcpy(entity, p, (size_t)(s1 - p)), entity[s1 - p] = '\0', !nv_name_valid(entity)) ||
        seq_parse(s1 + 1, strlen(s1 + 1), &epoch) < 0) {
        problem(a, NV_EFORMAT, "commit %s: bad entry path '%s'", h,
                nv_log_escape(g->dir, e, sizeof(e)));
        return;
    }
    snprintf(label, sizeof(label), "rebase of %s epoch %llu", entity,
             (unsigned long long)epoch);
    if (entry_manifest(a, g, h, label, 2, &m, id, &status) < 0)
        return;
    if (m.kind != NV_KIND_REBASE || strcmp(m.recipient, entity) != 0 || m.epoch != epoch)
        problem(a, NV_EFORMAT, "%s: entry holds a %s bundle to %s of epoch %llu", label,
                nv_kind_name(m.kind), m.recipient, (unsigned long long)m.epoch);
}

/* register/FIRST-LAST/events: events FIRST to LAST of the GDPR register,
 * one per line, numbered on from the entry before. */
static void
check_register_entry(struct nv_ledger_audit *a, const struct group *g, const char *h)
{
    const char *name = g->dir + strlen("register/"), *dash = strchr(name, '-');
    char label[96], e[160], num[32];
    struct nv_buf t = NV_BUF_INIT;
    uint64_t first = 0, last = 0, expect;
    const char *p, *end;

    if (dash == NULL || (size_t)(dash - name) >= sizeof(num) ||
        (memcpy(num, name, (size_t)(dash - name)), num[dash - name] = '\0',
         seq_parse(num, strlen(num), &first) < 0) ||
        seq_parse(dash + 1, strlen(dash + 1), &last) < 0 || last < first) {
        problem(a, NV_EFORMAT, "commit %s: bad entry path '%s'", h,
                nv_log_escape(g->dir, e, sizeof(e)));
        return;
    }
    snprintf(label, sizeof(label), "register events %llu to %llu", (unsigned long long)first,
             (unsigned long long)last);
    if (first != a->reg_last + 1)
        problem(a, NV_ESEQGAP, "%s: the register's events %llu to %llu are not in the ledger",
                label, (unsigned long long)a->reg_last + 1, (unsigned long long)first - 1);
    a->reg_last = last;
    if (!g->has_event || g->has_manifest || g->has_sig || g->has_status || g->bad_file) {
        problem(a, NV_EFORMAT, "%s: entry added by commit %s is not exactly one file, events",
                label, h);
        return;
    }
    if (read_blob(a, &g->event, 64u << 20, &t) < 0 || t.len < 24 ||
        memcmp(t.data, "nova-register-events: 1\n", 24) != 0) {
        problem(a, NV_EFORMAT, "%s: the events file does not begin as one", label);
        nv_buf_release(&t);
        return;
    }
    expect = first;
    for (p = (const char *)t.data + 24, end = (const char *)t.data + t.len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *f[6];
        size_t nf = 0;
        char req[32];
        uint64_t seq;
        if (nl == NULL) {
            problem(a, NV_EFORMAT, "%s: the last line does not end", label);
            break;
        }
        f[nf++] = p;
        for (const char *q = p; q < nl && nf < 6; q++)
            if (*q == '\t')
                f[nf++] = q + 1;
        if (nf != 6 || (size_t)(f[1] - f[0] - 1) >= sizeof(num) ||
            (memcpy(num, f[0], (size_t)(f[1] - f[0] - 1)), num[f[1] - f[0] - 1] = '\0',
             nv_parse_u64(num, &seq) < 0) ||
            (size_t)(f[2] - f[1] - 1) >= sizeof(req) ||
            (memcpy(req, f[1], (size_t)(f[2] - f[1] - 1)), req[f[2] - f[1] - 1] = '\0',
             !nv_ledger_request_valid(req))) {
            problem(a, NV_EFORMAT, "%s: a line is not SEQ, REQ-id, right, N, at, event", label);
            break;
        }
        if (seq != expect) {
            problem(a, NV_ESEQGAP, "%s: event %llu where %llu was due", label,
                    (unsigned long long)seq, (unsigned long long)expect);
            break;
        }
        expect++;
        a->events++;
        p = nl + 1;
    }
    if (expect != last + 1 && p >= end)
        problem(a, NV_ESEQGAP, "%s: the file ends at event %llu", label,
                (unsigned long long)expect - 1);
    nv_buf_release(&t);
}

static void
check_quarantine_entry(struct nv_ledger_audit *a, const struct group *g,
                       const char *h)
{
    const char *hex = g->dir + strlen("quarantine/");
    struct nv_buf mt = NV_BUF_INIT, stt = NV_BUF_INIT;
    struct nv_ledger_status status;
    struct nv_manifest m;
    char label[64];
    uint8_t id[32];
    int r;

    snprintf(label, sizeof(label), "quarantined bundle %.12s", hex);
    a->bundles++;
    if (!g->has_status || g->has_manifest != g->has_sig || g->bad_file) {
        problem(a, NV_EFORMAT, "%s: entry added by commit %s is not status "
                "[, manifest and manifest.minisig]", label, h);
        if (!g->has_status)
            return;
    }
    if ((r = read_blob(a, &g->status, NV_LEDGER_STATUS_MAX, &stt)) < 0 ||
        (r = nv_ledger_status_parse((const char *)stt.data, stt.len, &status)) < 0) {
        problem(a, NV_EFORMAT, "%s: status does not parse: %s", label, nv_errmsg(r));
        goto out;
    }
    if (status.applied)
        problem(a, NV_EFORMAT, "%s: status of a quarantined entry says applied", label);
    {
        char bh[65];
        if (strcmp(nv_hex(status.bundle_sha, 32, bh), hex) != 0)
            problem(a, NV_EHASH, "%s: status names another bundle-sha256", label);
    }
    if (g->has_manifest) {
        if ((r = read_blob(a, &g->manifest, NV_MANIFEST_MAX, &mt)) < 0 ||
            (r = nv_manifest_parse((const char *)mt.data, mt.len, &m)) < 0) {
            problem(a, NV_EFORMAT, "%s: manifest does not parse: %s", label,
                    nv_errmsg(r));
            goto out;
        }
        nv_manifest_id(mt.data, mt.len, id);
        if (!status.has_id || memcmp(status.id, id, 32) != 0 ||
            strcmp(status.sender, m.sender) != 0 ||
            strcmp(status.recipient, m.recipient) != 0 || status.seq != m.seq)
            problem(a, NV_EHASH, "%s: status does not match its manifest", label);
    }
out:
    nv_buf_release(&mt);
    nv_buf_release(&stt);
}

/* An entry that existed before this commit was changed or removed by it. */
static void
entry_changed(struct nv_ledger_audit *a, const struct group *g, git_tree *now,
              const char *h)
{
    git_tree_entry *te = NULL;
    int gone = git_tree_entry_bypath(&te, now, g->dir) != 0;
    char sender[NV_NAME_MAX + 1], recipient[NV_NAME_MAX + 1], label[200], e[160];
    uint64_t seq;

    git_tree_entry_free(te);
    if (g->is_stream == 1 && stream_path(g->dir, sender, recipient, &seq) == 0) {
        struct lentry *le = entry_find(stream_get(a, sender, recipient, 0), seq, 0);
        snprintf(label, sizeof(label), "stream %s->%s seq %llu", sender, recipient,
                 (unsigned long long)seq);
        if (gone && le != NULL) {
            le->removed = 1;
            snprintf(le->removed_by, sizeof(le->removed_by), "%s", h);
        }
    } else if (!g->is_stream && quarantine_path(g->dir) == 0) {
        snprintf(label, sizeof(label), "quarantined bundle %.12s",
                 g->dir + strlen("quarantine/"));
    } else if (g->is_stream == 3) {
        snprintf(label, sizeof(label), "register events %.40s",
                 g->dir + strlen("register/"));
    } else {
        snprintf(label, sizeof(label), "entry '%s'",
                 nv_log_escape(g->dir, e, sizeof(e)));
    }
    if (gone)
        problem(a, g->is_stream == 1 ? NV_ESEQGAP : NV_EFORMAT,
                "%s: entry removed by commit %s", label, h);
    else
        problem(a, NV_EFORK, "%s: entry changed by commit %s", label, h);
}

static void
group_end(struct nv_ledger_audit *a, struct group *g, git_tree *old,
          git_tree *now, size_t order, const char *h, int *added)
{
    git_tree_entry *te = NULL;

    if (g->dir[0] == '\0')
        return;
    if (old != NULL && git_tree_entry_bypath(&te, old, g->dir) == 0)
        g->changed = 1;
    git_tree_entry_free(te);
    if (g->changed) {
        entry_changed(a, g, now, h);
    } else if (g->is_stream == 3) {
        check_register_entry(a, g, h); /* many in one commit */
    } else {
        (*added)++;
        if (g->is_stream == 2)
            check_rebase_entry(a, g, h);
        else if (g->is_stream)
            check_stream_entry(a, g, order, h);
        else if (quarantine_path(g->dir) == 0)
            check_quarantine_entry(a, g, h);
        else {
            char e[160];
            problem(a, NV_EFORMAT, "commit %s: bad entry path '%s'", h,
                    nv_log_escape(g->dir, e, sizeof(e)));
        }
    }
    memset(g, 0, sizeof(*g));
}

/* Split path into its entry dir and file name: 4 components under
 * streams/, 3 under rebase/, 2 under quarantine/.  0, or -1 if neither. */
static int
entry_of(const char *path, char *dir, size_t n, const char **file, int *is_stream)
{
    int want, depth = 0;
    const char *p, *last = NULL;

    if (strncmp(path, "streams/", 8) == 0)
        want = 4, *is_stream = 1;
    else if (strncmp(path, "quarantine/", 11) == 0)
        want = 2, *is_stream = 0;
    else if (strncmp(path, "rebase/", 7) == 0)
        want = 3, *is_stream = 2;
    else if (strncmp(path, "register/", 9) == 0)
        want = 2, *is_stream = 3;
    else
        return -1;
    for (p = path; *p; p++)
        if (*p == '/') {
            depth++;
            last = p;
        }
    if (depth != want || (size_t)(last - path) >= n)
        return -1;
    memcpy(dir, path, (size_t)(last - path));
    dir[last - path] = '\0';
    *file = last + 1;
    return 0;
}

static void
check_allowed_signers(struct nv_ledger_audit *a, const git_oid *id, const char *h)
{
    struct nv_buf t = NV_BUF_INIT;
    int found = 0;

    if (read_blob(a, id, 65536, &t) == 0) {
        for (size_t i = 0; i < a->kr->n && !found; i++) {
            const struct nv_keyring_entry *e = &a->kr->e[i];
            struct nv_buf k = NV_BUF_INIT;
            if (e->id.has_ledger && nv_ssh_pub_format(e->id.ledger, &k) == 0 &&
                memmem(t.data, t.len, k.data, k.len) != NULL)
                found = 1;
            nv_buf_release(&k);
        }
    }
    if (!found)
        problem(a, NV_ESIG, "commit %s: the ledger's allowed_signers does not "
                "name the hub's ledger key", h);
    nv_buf_release(&t);
}

static int
check_commit(struct nv_ledger_audit *a, git_oid *oid, size_t order)
{
    git_commit *c = NULL, *parent = NULL;
    git_tree *now = NULL, *old = NULL;
    git_diff *diff = NULL;
    struct group g;
    char h[HASH_SHORT + 1], e[160];
    unsigned np;
    int r = 0, added = 0;

    git_oid_tostr(h, sizeof(h), oid);
    a->commits++;
    if (git_commit_lookup(&c, a->repo, oid) < 0 || git_commit_tree(&now, c) < 0) {
        r = ledger_git_fail("cannot read a commit");
        goto out;
    }
    np = git_commit_parentcount(c);
    if (np > 1)
        problem(a, NV_EFORK, "commit %s: is a merge; the ledger is one line of "
                "commits", h);
    if (np > 0 && (git_commit_parent(&parent, c, 0) < 0 ||
                   git_commit_tree(&old, parent) < 0)) {
        r = ledger_git_fail("cannot read a parent commit");
        goto out;
    }
    check_commit_sig(a, oid, h);
    if (git_diff_tree_to_tree(&diff, a->repo, old, now, NULL) < 0) {
        r = ledger_git_fail("cannot compare a commit with its parent");
        goto out;
    }
    memset(&g, 0, sizeof(g));
    for (size_t i = 0; i < git_diff_num_deltas(diff); i++) {
        const git_diff_delta *d = git_diff_get_delta(diff, i);
        const char *path = d->status == GIT_DELTA_DELETED ? d->old_file.path
                                                          : d->new_file.path;
        char dir[sizeof(g.dir)];
        const char *file;
        int is_stream;

        if (strcmp(path, "README.txt") == 0 || strcmp(path, "allowed_signers") == 0) {
            if (np != 0 || d->status != GIT_DELTA_ADDED)
                problem(a, NV_EFORMAT, "commit %s: changes '%s' after the root "
                        "commit", h, path);
            else if (path[0] == 'a')
                check_allowed_signers(a, &d->new_file.id, h);
            continue;
        }
        if (entry_of(path, dir, sizeof(dir), &file, &is_stream) < 0) {
            problem(a, NV_EFORMAT, "commit %s: unexpected path '%s'", h,
                    nv_log_escape(path, e, sizeof(e)));
            continue;
        }
        if (strcmp(dir, g.dir) != 0) {
            group_end(a, &g, old, now, order, h, &added);
            snprintf(g.dir, sizeof(g.dir), "%s", dir);
            g.is_stream = is_stream;
        }
        if (d->status != GIT_DELTA_ADDED ||
            (d->new_file.mode != GIT_FILEMODE_BLOB)) {
            g.changed |= d->status != GIT_DELTA_ADDED;
            if (d->status == GIT_DELTA_ADDED)
                g.bad_file = 1;
            continue;
        }
        if (strcmp(file, "manifest") == 0) {
            g.has_manifest = 1;
            git_oid_cpy(&g.manifest, &d->new_file.id);
        } else if (strcmp(file, "manifest.minisig") == 0) {
            g.has_sig = 1;
            git_oid_cpy(&g.sig, &d->new_file.id);
        } else if (strcmp(file, "status") == 0) {
            g.has_status = 1;
            git_oid_cpy(&g.status, &d->new_file.id);
        } else if (strcmp(file, "events") == 0 && g.is_stream == 3) {
            g.has_event = 1;
            git_oid_cpy(&g.event, &d->new_file.id);
        } else {
            g.bad_file = 1;
        }
    }
    group_end(a, &g, old, now, order, h, &added);
    if (added > 1)
        problem(a, NV_EFORMAT, "commit %s: records %d bundles (one per commit)", h,
                added);
out:
    git_diff_free(diff);
    git_tree_free(old);
    git_tree_free(now);
    git_commit_free(parent);
    git_commit_free(c);
    return r;
}

static int
entry_cmp(const void *x, const void *y)
{
    const struct lentry *a = x, *b = y;

    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Gap-free, in order, chained: over the entries still in the ledger. */
static void
check_stream(struct nv_ledger_audit *a, struct lstream *s)
{
    const struct lentry *prev = NULL;
    uint64_t expect = 1;

    qsort(s->e, s->n, sizeof(*s->e), entry_cmp);
    /* the hub's own stream to an agent is recorded from its first bundle
     * still kept when the hub began to record them (an older hub did not):
     * gap-free and chained from there */
    for (size_t i = 0; i < s->n; i++)
        if (!s->e[i].removed) {
            if (s->e[i].issued)
                expect = s->e[i].seq;
            break;
        }
    for (size_t i = 0; i < s->n; i++) {
        const struct lentry *e = &s->e[i];
        if (e->removed)
            continue;
        if (e->seq > expect) {
            const struct lentry *rm = entry_find(s, expect, 1);
            if (e->seq == expect + 1)
                problem(a, NV_ESEQGAP, "stream %s->%s seq %llu: missing from the "
                        "ledger%s%s%s", s->sender, s->recipient,
                        (unsigned long long)expect, rm ? " (removed by commit " : "",
                        rm ? rm->removed_by : "", rm ? ")" : "");
            else
                problem(a, NV_ESEQGAP, "stream %s->%s seq %llu to %llu: missing "
                        "from the ledger", s->sender, s->recipient,
                        (unsigned long long)expect, (unsigned long long)e->seq - 1);
        } else if (e->seq < expect) {
            problem(a, NV_EFORK, "stream %s->%s seq %llu: recorded twice",
                    s->sender, s->recipient, (unsigned long long)e->seq);
            continue;
        }
        if (e->seq == 1 && e->has_prev) {
            problem(a, NV_EFORK, "stream %s->%s seq 1: names a previous bundle",
                    s->sender, s->recipient);
        } else if (prev != NULL && prev->seq + 1 == e->seq) {
            if (!e->has_prev || memcmp(e->prev, prev->id, 32) != 0)
                problem(a, NV_EFORK, "stream %s->%s seq %llu: does not chain to "
                        "seq %llu (prev is not the SHA-256 of its manifest)",
                        s->sender, s->recipient, (unsigned long long)e->seq,
                        (unsigned long long)prev->seq);
            if (prev->order > e->order)
                problem(a, NV_ESEQGAP, "stream %s->%s seq %llu: recorded before seq "
                        "%llu (reordered: commit %s comes before commit %s)",
                        s->sender, s->recipient, (unsigned long long)e->seq,
                        (unsigned long long)prev->seq, e->commit, prev->commit);
        }
        prev = e;
        expect = e->seq + 1;
    }
}

int
nv_ledger_verify(struct nv_ledger_audit **out, const char *path,
                 const struct nv_keyring *kr, nv_ledger_report_fn report,
                 void *ctx)
{
    struct nv_ledger_audit *a = NULL;
    git_revwalk *w = NULL;
    git_oid oid;
    size_t order = 0;
    int r, nkeys = 0;

    *out = NULL;
    for (size_t i = 0; i < kr->n; i++)
        nkeys += kr->e[i].id.has_ledger && kr->e[i].state != NV_KEY_REVOKED;
    if (nkeys == 0)
        return nv_fail(NV_EKEY, "no hub identity with a ledger key among the keys "
                                "given (pass the hub's identity.pub with --keys)");
    if (git_libgit2_init() < 0)
        return ledger_git_fail("cannot initialise libgit2");
    /* read-only: libgit2 runs no hooks, so a ledger copied from another user
     * may be read */
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
    if ((a = calloc(1, sizeof(*a))) == NULL) {
        git_libgit2_shutdown();
        return nv_fail(NV_ENOMEM, "out of memory");
    }
    a->kr = kr;
    a->report = report;
    a->ctx = ctx;
    if (git_repository_open_ext(&a->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
                                NULL) < 0) {
        r = nv_fail(NV_ENOTFOUND, "'%s' is not a git repository", path);
        goto out;
    }
    if (git_reference_name_to_id(&oid, a->repo, NV_LEDGER_REF) < 0) {
        r = nv_fail(NV_ENOTFOUND, "'%s' has no branch main", path);
        goto out;
    }
    if (git_revwalk_new(&w, a->repo) < 0 ||
        git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
        git_revwalk_simplify_first_parent(w) < 0 || git_revwalk_push(w, &oid) < 0) {
        r = ledger_git_fail("cannot walk main");
        goto out;
    }
    while ((r = git_revwalk_next(&oid, w)) == 0)
        if ((r = check_commit(a, &oid, order++)) < 0)
            goto out;
    if (r != GIT_ITEROVER) {
        r = ledger_git_fail("cannot walk main");
        goto out;
    }
    for (size_t i = 0; i < a->ns; i++)
        check_stream(a, &a->s[i]);
    *out = a;
    a = NULL; /* transferred */
    r = 0;
out:
    git_revwalk_free(w);
    nv_ledger_audit_free(a);
    return r;
}

/* A receipt left by an erasure (formats/erased.h): its manifest and
 * signature must be the ledger entry's, byte for byte, and the file it
 * replaced the one the entry's status names. */
static void
audit_erased(struct nv_ledger_audit *a, const char *path, const char *e)
{
    struct nv_buf man = NV_BUF_INIT, sig = NV_BUF_INIT, mt = NV_BUF_INIT, st = NV_BUF_INIT;
    struct nv_manifest m;
    struct lentry *le;
    uint8_t sha[32];
    char label[200];
    int r;

    if ((r = nv_erased_read(path, &man, &sig, sha)) < 0) {
        problem(a, r, "bundle '%s': %s", e, nv_errmsg(r));
        goto out;
    }
    if ((r = nv_manifest_parse((char *)man.data, man.len, &m)) < 0) {
        problem(a, r, "bundle '%s': %s", e, nv_errmsg(r));
        goto out;
    }
    snprintf(label, sizeof(label), "stream %s->%s seq %llu", m.sender, m.recipient,
             (unsigned long long)m.seq);
    le = entry_find(stream_get(a, m.sender, m.recipient, 0), m.seq, 0);
    if (le == NULL) {
        problem(a, NV_ENOTFOUND, "%s: receipt '%s' has no entry in the ledger", label, e);
        goto out;
    }
    if (read_blob(a, &le->manifest, NV_MANIFEST_MAX, &mt) < 0 ||
        read_blob(a, &le->sig, NV_SIG_MAX, &st) < 0) {
        problem(a, NV_EHASH, "%s: cannot read its ledger entry", label);
        goto out;
    }
    if (mt.len != man.len || memcmp(mt.data, man.data, mt.len) != 0 || st.len != sig.len ||
        memcmp(st.data, sig.data, st.len) != 0)
        problem(a, NV_EHASH, "%s: receipt '%s' does not match its ledger entry (manifest or "
                "signature differs)", label, e);
    else if (memcmp(sha, le->bundle_sha, 32) != 0)
        problem(a, NV_EHASH, "%s: receipt '%s' names another bundle file than its ledger "
                "entry", label, e);
    else
        a->erased++;
out:
    nv_buf_release(&man);
    nv_buf_release(&sig);
    nv_buf_release(&mt);
    nv_buf_release(&st);
}

int
nv_ledger_audit_erased(const struct nv_ledger_audit *a)
{
    return a->erased;
}

void
nv_ledger_audit_bundle(struct nv_ledger_audit *a, const char *path)
{
    struct nv_bundle b;
    struct nv_buf mt = NV_BUF_INIT, st = NV_BUF_INIT;
    struct lentry *le;
    char label[200], e[256];
    int r;

    nv_log_escape(path, e, sizeof(e));
    nv_error_clear();
    {
        size_t l = strlen(path), x = strlen(NV_ERASED_EXT);
        if (l > x && strcmp(path + l - x, NV_ERASED_EXT) == 0) {
            audit_erased(a, path, e);
            return;
        }
    }
    if ((r = nv_bundle_read(&b, path, 0)) < 0) {
        problem(a, r, "bundle '%s': %s", e, nv_errmsg(r));
        return;
    }
    snprintf(label, sizeof(label), "stream %s->%s seq %llu", b.m.sender,
             b.m.recipient, (unsigned long long)b.m.seq);
    le = entry_find(stream_get(a, b.m.sender, b.m.recipient, 0), b.m.seq, 0);
    if (le == NULL) {
        problem(a, NV_ENOTFOUND, "%s: bundle '%s' has no entry in the ledger", label, e);
        goto out;
    }
    if (read_blob(a, &le->manifest, NV_MANIFEST_MAX, &mt) < 0 ||
        read_blob(a, &le->sig, NV_SIG_MAX, &st) < 0) {
        problem(a, NV_EHASH, "%s: cannot read its ledger entry", label);
        goto out;
    }
    if (mt.len != b.manifest_text.len ||
        memcmp(mt.data, b.manifest_text.data, mt.len) != 0) {
        problem(a, NV_EHASH, "%s: bundle '%s' does not match its ledger entry "
                "(manifest differs)", label, e);
        goto out;
    }
    if (st.len != b.sig_text.len || memcmp(st.data, b.sig_text.data, st.len) != 0)
        problem(a, NV_EHASH, "%s: bundle '%s' does not match its ledger entry "
                "(manifest.minisig differs)", label, e);
    if ((r = nv_bundle_check_hash(&b)) < 0) {
        problem(a, r, "%s: bundle '%s' does not match its ledger entry (%s)", label,
                e, r == NV_EHASH ? "payload.age differs from the manifest's "
                                   "payload-sha256" : nv_errmsg(r));
    } else {
        uint8_t got[32];
        if (nv_fd_sha256(b.fd, got) < 0 || memcmp(got, le->bundle_sha, 32) != 0)
            problem(a, NV_EHASH, "%s: bundle '%s' does not match its ledger entry "
                    "(file SHA-256 differs from the status)", label, e);
    }
out:
    nv_bundle_release(&b);
    nv_buf_release(&mt);
    nv_buf_release(&st);
}

void
nv_ledger_audit_counts(const struct nv_ledger_audit *a, int *commits,
                       int *bundles, int *problems, int *first)
{
    *commits = a->commits;
    *bundles = a->bundles;
    *problems = a->problems;
    *first = a->first;
}

int
nv_ledger_audit_events(const struct nv_ledger_audit *a)
{
    return a->events;
}

void
nv_ledger_audit_free(struct nv_ledger_audit *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->ns; i++)
        free(a->s[i].e);
    free(a->s);
    git_repository_free(a->repo);
    free(a);
    git_libgit2_shutdown();
}
