/*
 * ingest.h - the hub's intake: every bundle in DIR/inbox is checked
 * (container, signature, enrolled and unrevoked key, sequence, chain,
 * recipient, payload hash) and either applied or quarantined with a reason.
 *
 * Applying a bundle: its payload files are extracted to a staging directory,
 * moved to DIR/received/<sender>/<seq>/, then one store transaction records
 * the stream's new state, then the bundle moves to DIR/archive/.  A crash at
 * any point is repaired by the next run: nothing is applied twice, nothing
 * is lost.  A bundle that arrives ahead of a missing one waits in the inbox.
 */
#ifndef NOVA_INGEST_H
#define NOVA_INGEST_H

#include "../../formats/bundle.h"
#include "../../keys/identity.h"
#include "../../keys/keyring.h"
#include "../store/store.h"

struct nv_ledger;
struct nv_maprepo;
struct nv_mapping;

/* A parsed mapping of one entity at one commit of the mapping repository. */
struct nv_hub_map {
    char entity[NV_NAME_MAX + 1];
    char commit[41];
    int have; /* 0: the entity has no mapping at that commit */
    struct nv_mapping *map;
};

struct nv_hub {
    const char *dir;
    int lock_fd;      /* DIR/hub.lock: one nova-hub at a time */
    struct nv_identity self;
    struct nv_keyring kr;
    struct nv_hstore store;
    struct nv_ledger *ledger; /* DIR/ledger (ledger.h); NULL without a ledger key */
    struct nv_maprepo *maps;  /* DIR/mappings (maprepo.h) */
    struct nv_hub_map **mcache; /* parsed mappings, one per entity */
    size_t nmcache;
    uint64_t max_payload;
    struct nv_open_limits lim;
    uint8_t gkey[32]; /* the suppression key (gdpr.h), wiped at close */
    int replaying;    /* a replay: golden records change, no update goes out */
};

enum nv_outcome { NV_APPLIED = 1, NV_WAITING, NV_QUARANTINED, NV_DUPLICATE,
                  NV_FAILED };

struct nv_ingest_result {
    int outcome;
    int code; /* refusal code, 0 when applied */
    struct nv_manifest m;
    int have_manifest;
    char reason[512];
    struct nv_apply_stats applied; /* what the bundle changed in the store */
};

int nv_hub_open(struct nv_hub *h, const char *dir)
    __attribute__((warn_unused_result));
void nv_hub_close(struct nv_hub *h);
/* Create the hub directory layout (keys made separately). */
int nv_hub_layout(const char *dir) __attribute__((warn_unused_result));

/* Check one bundle completely (including decryption into nothing) without
 * applying it. 0 or the refusal code. */
int nv_hub_verify_file(struct nv_hub *h, const char *path, struct nv_bundle *b)
    __attribute__((warn_unused_result));
/* Ingest one bundle file from anywhere; quarantine=1 moves refused ones to
 * DIR/quarantine with a .reason file. */
int nv_hub_ingest_file(struct nv_hub *h, const char *path, int quarantine,
                       struct nv_ingest_result *res);
/* Ingest everything in DIR/inbox in stream order; calls report per bundle.
 * Returns the first refusal code (0 if none). */
int nv_hub_ingest_inbox(struct nv_hub *h,
                        void (*report)(void *ctx, const char *name,
                                       const struct nv_ingest_result *res),
                        void *ctx);

/* The entity's mapping at the tip of the mapping repository: *map NULL when
 * it has none; *commit the tip (40 hex).  A mapping in the repository that
 * does not parse (committed around nova-hub) is NV_ECONFIG. */
int nv_hub_mapping(struct nv_hub *h, const char *entity,
                   const struct nv_mapping **map, const char **commit)
    __attribute__((warn_unused_result));

/* Re-apply every retained changes bundle of entity (DIR/received/<entity>/)
 * under its current mapping: its records and rejects are dropped and
 * rebuilt, bundle by bundle, in sequence order.  A crash during a replay is
 * finished by the next nv_hub_open.  report (may be NULL) is called after
 * each bundle; *total gets the sum. */
int nv_hub_replay(struct nv_hub *h, const char *entity,
                  void (*report)(void *ctx, uint64_t seq,
                                 const struct nv_apply_stats *st),
                  void *ctx, struct nv_apply_stats *total)
    __attribute__((warn_unused_result));

/* Open DIR/outbox/<entity> and start a change set of kind (updates or
 * erasure) to the entity's enrolled, unrevoked key; *obox (free it after
 * nv_outbox_end or nv_outbox_abort) holds the directory. */
struct nv_outbox;
int nv_hub_outbox(struct nv_hub *h, const char *entity, int kind, struct nv_outbox *o,
                  char **obox) __attribute__((warn_unused_result));

/* After an ingest pass: advance the GDPR requests (receipts in, orders
 * out) and compact the store when something was erased. */
int nv_hub_after_ingest(struct nv_hub *h) __attribute__((warn_unused_result));

#endif
