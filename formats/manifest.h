/*
 * manifest.h - the cleartext, signed description of one bundle.
 *
 * A manifest holds no personal data.  It is text, LF line ends, exactly these
 * lines in this order (the parser is strict; the writer is canonical):
 *
 *   nova-bundle: 1                       format version
 *   kind: changes                        changes | acks | updates | erasure
 *                                        | rebase
 *   sender: acme                         entity name (nv_name_valid)
 *   sender-key: 0807060504030201         signer's minisign key id
 *   recipient: hub                       entity name
 *   recipient-key: age1...               age recipient the payload is for
 *   seq: 42                              1, 2, 3... per (sender, recipient)
 *   prev: <64 hex> | none                id of bundle seq-1 ("none" for seq 1)
 *   created: 2026-11-28T15:00:00Z        UTC
 *   part: 1                              part number within one change set
 *   final: yes                           yes on the change set's last part
 *   records: 4500                        change records in the payload
 *   upserts: 4400
 *   deletes: 100
 *   rejects: 3                           source rows rejected by the sender
 *   payload-size: 123456                 bytes of payload.age
 *   payload-sha256: <64 hex>             sha256sum of payload.age
 *   epoch: 2                             optional: the sender's stream epoch
 *                                        (absent: 0).  A rebase order opens
 *                                        a new epoch of the agent's stream;
 *                                        the hub takes bundles of an older
 *                                        one for stale (NV_ESTALE).  In a
 *                                        rebase order: the epoch it opens
 *   snapshot: yes                        optional: the bundle is a part of a
 *                                        full snapshot (the first change set
 *                                        after a rebase); its final part
 *                                        holds snapshot.json
 *   acked: 41                            optional: the last sequence number
 *                                        the signer has applied of the
 *                                        reverse stream (recipient ->
 *                                        signer), so the recipient may drop
 *                                        its copies up to it (sent/)
 *   ledger-head: <40 hex>                optional, last: the newest head of
 *                                        the hub's ledger the signer knows
 *                                        (the hub: its own; an agent: the
 *                                        last the hub sent it), so that any
 *                                        entity witnesses the ledger and a
 *                                        rollback is caught (nova-audit
 *                                        verify --witness)
 *
 * A bundle's id is the SHA-256 of its manifest bytes; the next bundle of the
 * stream names it in "prev", which chains the stream.
 */
#ifndef NOVA_MANIFEST_H
#define NOVA_MANIFEST_H

#include <stdint.h>

#include "../keys/age.h"
#include "../keys/minisign.h"
#include "buf.h"
#include "util.h"

#define NV_MANIFEST_VERSION 1
#define NV_MANIFEST_MAX 4096

enum nv_kind { NV_KIND_CHANGES = 1, NV_KIND_ACKS, NV_KIND_UPDATES,
               NV_KIND_ERASURE, NV_KIND_REBASE };

struct nv_manifest {
    int kind;
    char sender[NV_NAME_MAX + 1];
    uint8_t sender_key[NV_KEYID_LEN];
    char recipient[NV_NAME_MAX + 1];
    uint8_t recipient_key[NV_AGE_KEYLEN];
    uint64_t seq;
    int has_prev;
    uint8_t prev[32];
    int64_t created;
    uint32_t part;  /* 1, 2, ... within one change set */
    int final;      /* last part of its change set */
    uint64_t records, upserts, deletes, rejects;
    uint64_t payload_size;
    uint8_t payload_sha256[32];
    uint64_t epoch;       /* the sender's stream epoch (0: no epoch line) */
    int snapshot;         /* a part of a full snapshot (snapshot: yes) */
    int has_acked;        /* the acked line is present */
    uint64_t acked;       /* last seq applied of the reverse stream */
    char ledger_head[41]; /* 40 hex, or "" when the line is absent */
};

const char *nv_kind_name(int kind);
int nv_kind_parse(const char *s); /* 0 if unknown */

/* Canonical text into out (appended). NV_EINVAL if a field is invalid. */
int nv_manifest_format(const struct nv_manifest *m, struct nv_buf *out)
    __attribute__((warn_unused_result));
/* Strict parse; NV_EFORMAT with "manifest line N: ..." on any deviation. */
int nv_manifest_parse(const char *text, size_t len, struct nv_manifest *out)
    __attribute__((warn_unused_result));
/* SHA-256 of the manifest bytes: the bundle id. */
void nv_manifest_id(const void *text, size_t len, uint8_t id[32]);

#endif
