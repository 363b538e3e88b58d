/*
 * ledger.h - the hub's signed ledger: every accepted or quarantined bundle's
 * manifest and signature, committed to a git repository, one commit per
 * bundle, each commit signed by the hub's ledger key in git's SSH signature
 * format (SSHSIG, namespace "git"), so stock `git verify-commit` checks it.
 *
 * The repository is DIR/ledger, bare (no working tree: entries are written
 * as objects and trees in memory), on branch main.  Tree layout:
 *
 *   README.txt                 what the ledger is, how to verify it
 *   allowed_signers            "hub@<entity>.nova namespaces="git" ssh-ed25519 ..."
 *   streams/<sender>/<recipient>/<seq, 10 digits>/
 *       manifest               the bundle's manifest, byte for byte
 *       manifest.minisig       its minisign signature, byte for byte
 *       status                 outcome applied (format below), or issued
 *                              for a bundle the hub sealed to an agent
 *                              (updates, erasure orders, flags, receipts)
 *   rebase/<entity>/<epoch, 10 digits>/
 *       manifest, manifest.minisig   the hub's rebase order to the entity
 *                                    (kind rebase), byte for byte
 *       status                 outcome issued
 *   register/<first>-<last event number, 10 digits each>/
 *       events                 events of the GDPR register, one per line
 *                              (format at nv_ledger_record_events)
 *   quarantine/<SHA-256 of the bundle file, 64 hex>/
 *       status                 outcome quarantined, code and reason
 *       manifest, manifest.minisig   when the container could be read
 *
 * Quarantined bundles live apart from the streams, keyed by the hash of the
 * whole file, so a refused copy never collides with the bundle applied at
 * the same sequence number.  Entries are append-only: a later commit never
 * changes or removes one.  The root commit holds README.txt and
 * allowed_signers only.
 *
 * status (text, LF line ends, exactly these lines in this order; "-" where
 * a value is unknown):
 *
 *   nova-ledger-entry: 1
 *   outcome: applied | quarantined | issued
 *   stream: acme->hub
 *   seq: 3
 *   kind: changes
 *   records: 4500
 *   manifest-sha256: <64 hex>      the bundle id (SHA-256 of manifest)
 *   bundle-sha256: <64 hex>        sha256sum of the whole bundle file
 *   code: 0                        exit status of the refusal (0 if applied)
 *   reason: -                      nova's refusal sentence (never quotes data)
 *   recorded: 2026-11-28T15:00:00Z
 *
 * The ledger holds no personal data: manifests and signatures hold none, and
 * refusal sentences name streams, sequence numbers and keys only.
 */
#ifndef NOVA_LEDGER_H
#define NOVA_LEDGER_H

#include <stdint.h>

#include "../../formats/bundle.h"
#include "../../keys/identity.h"
#include "../../keys/keyring.h"

#define NV_LEDGER_DIR "ledger"
#define NV_LEDGER_REF "refs/heads/main"
#define NV_LEDGER_NS "git"        /* SSHSIG namespace of commit signatures */
#define NV_LEDGER_STATUS_MAX 2048 /* a status file is under 600 bytes */
#define NV_LEDGER_REASON_MAX 400  /* longer refusal sentences are cut */
#define NV_LEDGER_SEQ_DIGITS 10

struct nv_ledger;

/* Open (creating it, with its root commit, when absent) the ledger of the
 * hub in hubdir.  hub is borrowed until nv_ledger_close: its ledger key
 * signs every commit.  NV_EKEY if the hub has no ledger key; libgit2
 * failures are NV_ESYS with a message starting "ledger:". */
int nv_ledger_open(struct nv_ledger **out, const char *hubdir,
                   const struct nv_identity *hub)
    __attribute__((warn_unused_result));
void nv_ledger_close(struct nv_ledger *l); /* NULL ok */

/* Record a bundle that was read (b from nv_bundle_read, still open: its fd
 * is read again for the file's SHA-256).  applied=1: under streams/, code
 * and reason ignored; recording the same bundle again is a no-op, and a
 * different bundle at that stream and seq is NV_ECORRUPT.  applied=0:
 * under quarantine/ with code (an NV_E code) and reason; again: no-op.
 * One signed commit per call that adds something. */
int nv_ledger_record(struct nv_ledger *l, struct nv_bundle *b, int applied,
                     int code, const char *reason)
    __attribute__((warn_unused_result));

/* Record a bundle the hub sealed to an agent (the file at path, read back:
 * its container, not its payload) under streams/<hub>/<agent>/<seq>/ with
 * outcome issued.  Again: a no-op; another manifest there: NV_ECORRUPT. */
int nv_ledger_record_sent(struct nv_ledger *l, const char *path)
    __attribute__((warn_unused_result));
/* Does main hold the entry streams/<sender>/<recipient>/<seq>/?  1, 0, or
 * an error. */
int nv_ledger_has_stream_entry(struct nv_ledger *l, const char *sender, const char *recipient,
                               uint64_t seq) __attribute__((warn_unused_result));

/* An event of the GDPR register (a request, an order sent, an answer, an
 * extension, a closure), as the ledger keeps it: no personal data (the
 * register names subjects by keyed hash and records by entity). */
struct nv_ledger_event {
    uint64_t seq;               /* the register's event number, from 1 */
    const char *request;        /* "REQ-000123" */
    const char *right;          /* erase, access, rectify... */
    uint64_t n;                 /* the event's index in its request, from 0
                                   (recorded as n + 1) */
    const char *at;             /* RFC 3339 UTC */
    const char *text;           /* the event, as the register words it */
};
/* Record events (consecutive numbers, in order) as one entry
 * register/<first>-<last>/events (numbers zero-padded to 10 digits), one
 * commit; those the ledger holds already are skipped; a gap after what it
 * holds is NV_ECORRUPT.  The file, LF line ends:
 *   nova-register-events: 1
 *   SEQ TAB REQ-id TAB right TAB N TAB at TAB event      one line per event
 * (N: the event's number in its request, from 1; the text without tabs,
 * control characters or non-ASCII). */
int nv_ledger_record_events(struct nv_ledger *l, const struct nv_ledger_event *ev, size_t n)
    __attribute__((warn_unused_result));
/* "REQ-" and digits (a register request id, as a ledger path component). */
int nv_ledger_request_valid(const char *id);
/* The number of the last register event the ledger holds (0: none). */
int nv_ledger_register_last(struct nv_ledger *l, uint64_t *last)
    __attribute__((warn_unused_result));

/* Record a rebase order the hub sealed (b: kind rebase, read back from its
 * file) under rebase/<recipient>/<epoch>/ with outcome issued.  Again: a
 * no-op; another order at that epoch: NV_ECORRUPT. */
int nv_ledger_record_rebase(struct nv_ledger *l, struct nv_bundle *b)
    __attribute__((warn_unused_result));

/* Record the refused bundle file at path as quarantined: with its manifest
 * and signature when its container can be read, else with the reason
 * alone.  Idempotent like nv_ledger_record. */
int nv_ledger_record_file(struct nv_ledger *l, const char *path, int code,
                          const char *reason)
    __attribute__((warn_unused_result));

/* Append entries for the applied bundles in archive_dir (the hub's
 * DIR/archive) that the ledger lacks: a crash between the store commit and
 * the ledger commit.  In stream and sequence order.  *added (may be NULL)
 * gets the number of entries added. */
int nv_ledger_reconcile(struct nv_ledger *l, const char *archive_dir,
                        int *added) __attribute__((warn_unused_result));

/* The allowed_signers line for the hub's ledger key (appended to out):
 * 'hub@<entity>.nova namespaces="git" ssh-ed25519 AAAA...' and LF. */
int nv_ledger_allowed_signers(const struct nv_ledger *l, struct nv_buf *out)
    __attribute__((warn_unused_result));
/* The tip of main: full hex id (41 bytes) and number of commits (a walk of
 * main; commits NULL: the tip alone). */
int nv_ledger_head(struct nv_ledger *l, char hex[41], uint64_t *commits)
    __attribute__((warn_unused_result));

/* Before the hub writes: main must still hold recorded (the head the
 * hub's store noted after its last ledger commit, 40 hex; NULL or "" when
 * none was noted yet), and every commit after it must be signed by this
 * hub's ledger key (a crash may leave commits the store did not note).
 * NV_ECORRUPT, naming both heads, when main was reset, rewritten or
 * extended by another key: the hub must not go on writing. */
int nv_ledger_check_head(struct nv_ledger *l, const char *recorded)
    __attribute__((warn_unused_result));
/* Does main's history hold the commit hex (40 hex)?  1 yes, 0 no, or an
 * error (NV_EFORMAT for a malformed id). */
int nv_ledger_holds(const char *path, const char *hex) __attribute__((warn_unused_result));

/* A "Key: value" trailer added to the message of every next commit (NULL
 * key: none): the hub puts the access log's head there, so the ledger
 * witnesses it (nova-audit verify --accesslog). */
void nv_ledger_set_trailer(struct nv_ledger *l, const char *key, const char *value);
/* The value of the newest trailer key on main (out "" when none). */
int nv_ledger_last_trailer(const char *path, const char *key, char *out, size_t n)
    __attribute__((warn_unused_result));

/* ---- verification (nova-audit) ---- */

/* Called once per problem found, with its NV_E code and a sentence that
 * starts "stream S->R seq N: ", "quarantined bundle X: " or
 * "commit <12 hex>: ". */
typedef void (*nv_ledger_report_fn)(void *ctx, int code, const char *msg);

struct nv_ledger_audit;

/* Verify the ledger repository at path (a bare repository or a work tree)
 * from public keys only: walks main from the root commit to its tip (first
 * parent; a merge is a problem) and checks every commit's SSH signature
 * against the ledger keys of the hub identities in kr, every entry the
 * commit adds (manifest signature by the sender's key in kr, entry path,
 * status), that no entry is changed or removed, and per stream that
 * sequence numbers are gap-free, recorded in order and chained by prev.
 * Problems go to report; the function fails only when the ledger cannot be
 * read at all (NV_ENOTFOUND, NV_ESYS) or kr holds no hub ledger key
 * (NV_EKEY).  kr is borrowed until nv_ledger_audit_free. */
int nv_ledger_verify(struct nv_ledger_audit **out, const char *path,
                     const struct nv_keyring *kr, nv_ledger_report_fn report,
                     void *ctx) __attribute__((warn_unused_result));
/* Check a bundle file against its ledger entry: manifest and signature
 * byte for byte, payload.age against the manifest, and the file's SHA-256
 * against the entry's status.  A receipt of an erased bundle ("*.erased",
 * formats/erased.h) is checked on its manifest, signature and the file
 * SHA-256 it names.  Problems go to the report function. */
void nv_ledger_audit_bundle(struct nv_ledger_audit *a, const char *path);
/* Bundle files given that were receipts of erased bundles and matched. */
int nv_ledger_audit_erased(const struct nv_ledger_audit *a);
/* Events of the GDPR register the ledger holds (register/). */
int nv_ledger_audit_events(const struct nv_ledger_audit *a);
/* Counts so far; first = code of the first problem (0 if none). */
void nv_ledger_audit_counts(const struct nv_ledger_audit *a, int *commits,
                            int *bundles, int *problems, int *first);
void nv_ledger_audit_free(struct nv_ledger_audit *a); /* NULL ok */

/* Helpers shared by the writer and the verifier. */
struct nv_ledger_status {
    int applied;
    int issued;  /* outcome issued: a rebase order */
    char stream[2 * NV_NAME_MAX + 3]; /* "-" if unknown */
    char sender[NV_NAME_MAX + 1], recipient[NV_NAME_MAX + 1];
    int has_seq;
    uint64_t seq;
    char kind[16];
    char records[24];
    int has_id;
    uint8_t id[32];
    uint8_t bundle_sha[32];
    int code;
    char reason[NV_LEDGER_REASON_MAX + 1];
    int64_t recorded;
};
/* Strict parse of a status file. NV_EFORMAT with "status line N: ...". */
int nv_ledger_status_parse(const char *text, size_t len,
                           struct nv_ledger_status *out)
    __attribute__((warn_unused_result));

#endif
