/*
 * outbox.h - sending bundles exactly once.
 *
 * A bundle is written complete and fsynced under DIR/outbox/.pending/, then
 * the stream state (seq, id) is committed in the state store, then the
 * bundle is renamed into DIR/outbox/.  After a crash, nv_outbox_recover()
 * finishes the rename of a pending bundle whose state was committed and
 * deletes one whose state was not, so a sequence number is never used for
 * two different bundles and never skipped.
 */
#ifndef NOVA_OUTBOX_H
#define NOVA_OUTBOX_H

#include "../formats/bundle.h"
#include "../keys/identity.h"
#include "../keys/keyring.h"
#include "state.h"

struct nv_outbox {
    const char *dir;                 /* the agent dir */
    struct nv_identity *self;
    const struct nv_keyring_entry *peer; /* recipient, active key */
    struct nv_astate *state;
    uint64_t cap;                    /* raw payload bytes per bundle */
    int zstd_level;
    /* current bundle */
    struct nv_bundle_writer *w;
    uint32_t part;
    uint64_t records, upserts, deletes, rejects;
    int kind;
    /* totals */
    unsigned bundles;
    uint64_t bytes_out;
};

int nv_outbox_recover(const char *dir, struct nv_astate *state)
    __attribute__((warn_unused_result));
/* Start a change set of kind. */
int nv_outbox_begin(struct nv_outbox *o, int kind)
    __attribute__((warn_unused_result));
/* Add one record (checked); a new part starts when the cap is reached.
 * op is NV_OP_UPSERT or NV_OP_DELETE. */
int nv_outbox_add_record(struct nv_outbox *o, const char *line, size_t len,
                         int op) __attribute__((warn_unused_result));
int nv_outbox_add_file(struct nv_outbox *o, const char *name, const void *data,
                       size_t len) __attribute__((warn_unused_result));
void nv_outbox_add_rejects(struct nv_outbox *o, uint64_t n);
/* Seal the last part (final: yes). */
int nv_outbox_end(struct nv_outbox *o) __attribute__((warn_unused_result));
void nv_outbox_abort(struct nv_outbox *o);

#endif
