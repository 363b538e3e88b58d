/*
 * hub.h - the hub's working context: its directory and lock, its keys, the
 * store and the databases each module keeps in it, the ledger, the mapping
 * repository and the parsed mappings.  nv_hub_open and nv_hub_close, which
 * assemble it, are the intake's (hub/intake/ingest.h): they know every
 * module; this header knows none of them but by name.
 */
#ifndef NOVA_HUB_CORE_H
#define NOVA_HUB_CORE_H

#include "../../formats/bundle.h"
#include "../../keys/identity.h"
#include "../../keys/keyring.h"
#include <jansson.h>

#include "../store/store.h"

struct nv_ledger;
struct nv_maprepo;
struct nv_mapping;
struct nv_link_db;
struct nv_gdpr_db;
struct nv_golden_db;

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
    /* the modules' databases in the store, opened through
     * nv_hstore_register by nv_hub_open (hub/intake) */
    struct nv_link_db *link;
    struct nv_gdpr_db *gdpr;
    struct nv_golden_db *golden;
    struct nv_ledger *ledger; /* DIR/ledger (ledger.h); NULL without a ledger key */
    int ledger_ok;            /* the ledger passed its checks at open: the hub
                                 may write to it (close records sent/) */
    struct nv_maprepo *maps;  /* DIR/mappings (maprepo.h) */
    struct nv_hub_map **mcache; /* parsed mappings, one per entity */
    size_t nmcache;
    uint64_t max_payload;
    unsigned settle_ms; /* an inbox file younger than this may still be copying */
    struct nv_open_limits lim;
    uint8_t gkey[32]; /* the suppression key (gdpr.h), wiped at close */
    int replaying;    /* a replay: golden records change, no update goes out */
    /* The GDPR flags of a person ({"restrict":ID|null,"object":ID|null},
     * a new reference, or NULL when none): set by nv_hub_open to the gdpr
     * module's, so that golden records can honour a restriction without
     * knowing the GDPR register. */
    json_t *(*person_flags)(struct nv_hub *h, MDB_txn *txn, const char *rcu);
    /* entities whose bundles this pass applied or found duplicate: each
     * gets a receipt after the pass unless a bundle goes to it anyway */
    char (*acked_ents)[NV_NAME_MAX + 1];
    size_t nacked_ents, cacked_ents;
    unsigned receipts; /* receipts sent */
};

/* The entity's mapping at the tip of the mapping repository: *map NULL when
 * it has none; *commit the tip (40 hex).  A mapping in the repository that
 * does not parse (committed around nova-hub) is NV_ECONFIG. */
int nv_hub_mapping(struct nv_hub *h, const char *entity,
                   const struct nv_mapping **map, const char **commit)
    __attribute__((warn_unused_result));

/* Open DIR/outbox/<entity> and start a change set of kind (updates or
 * erasure) to the entity's enrolled, unrevoked key; *obox (free it after
 * nv_outbox_end or nv_outbox_abort) holds the directory.  Each bundle is
 * kept in DIR/sent/<entity> until the agent acknowledges it, and carries
 * the last bundle of the entity the hub applied (acked). */
struct nv_outbox;
int nv_hub_outbox(struct nv_hub *h, const char *entity, int kind, struct nv_outbox *o,
                  char **obox) __attribute__((warn_unused_result));

/* DIR/sent/<entity> (allocated): the bundles sent to entity, kept until
 * its agent acknowledges them. */
char *nv_hub_sent_dir(struct nv_hub *h, const char *entity);
/* Record in the ledger every bundle kept in DIR/sent/ (sealed to an agent,
 * not yet acknowledged) that it lacks, each entity's in sequence order:
 * at open and at close, so a bundle is recorded before its acknowledgement
 * can remove its copy, and a crash between sealing and recording loses
 * nothing. */
int nv_hub_ledger_sent(struct nv_hub *h) __attribute__((warn_unused_result));
/* The last of our bundles entity acknowledged (0: none). */
uint64_t nv_hub_acked_by(struct nv_hub *h, const char *entity);
/* Note that entity's stream moved in this pass (nv_hub_after_ingest sends it
 * a receipt). */
void nv_hub_note_acked(struct nv_hub *h, const char *entity);

/* Free the parsed mappings (nv_hub_close). */
void nv_hub_mappings_release(struct nv_hub *h);

#endif
