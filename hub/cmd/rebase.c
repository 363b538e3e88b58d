/*
 * rebase.c - nova-hub rebase DIR ENTITY [--key AGENT-IDENTITY.pub]: a new
 * epoch of an entity's stream, for an agent restored from a backup,
 * reinstalled or re-keyed (hub/intake/rebase.h).
 */
#include <stdio.h>
#include <string.h>

#include "../../formats/cli.h"
#include "../../formats/errors.h"
#include "../../keys/keyring.h"
#include "../intake/ingest.h"
#include "../intake/rebase.h"
#include "cmds.h"

int
nv_cmd_rebase(int argc, char **argv)
{
    const char *pos[2], *keyfile = NULL, *dir, *entity;
    struct nv_hrebase rb;
    struct nv_hub h;
    int r;

    if ((r = nv_cli_pos_opt(argc, argv, "--key", "--key needs the agent's new identity file",
                            &keyfile, pos, 2)) != 0)
        return r;
    dir = pos[0];
    entity = pos[1];
    if (entity == NULL)
        return nv_cli_usage("DIR and ENTITY are required");
    if (!nv_name_valid(entity))
        return nv_cli_usage("'%s' is not an entity name", entity);
    if (keyfile != NULL) {
        /* a re-keyed agent: its new key replaces the old (enroll --force),
         * checked by other means than a signature by the lost key */
        struct nv_identity_pub id;
        char kid[17];
        if ((r = nv_identity_pub_read(keyfile, &id)) < 0)
            return nv_cli_fail(r);
        if (strcmp(id.entity, entity) != 0 || id.role != NV_ROLE_AGENT)
            return nv_cli_fail(nv_fail(NV_EKEY, "'%s' is not an agent identity of '%s'",
                                       keyfile, entity));
        nv_keyid_hex(id.sign.keyid, kid);
        if ((r = nv_keyring_add_file(dir, keyfile, 1, NV_ROLE_AGENT, &id)) == NV_EEXIST)
            printf("agent '%s' key %s is enrolled already\n", entity, kid);
        else if (r < 0)
            return nv_cli_fail(r);
        else
            printf("agent '%s' enrolled with key %s\n", id.entity, kid);
    }
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    r = nv_hub_rebase(&h, entity, &rb);
    nv_hub_close(&h);
    if (r < 0)
        return nv_cli_fail(r);
    printf("rebase order to %s: epoch %llu from seq %llu (the last bundle the hub applied); "
           "outbox/%s/%s\n", entity, (unsigned long long)rb.epoch, (unsigned long long)rb.base,
           entity, rb.bundle);
    if (rb.resent > 0)
        printf("%zu open erasure request(s) that %s had not answered: their orders sealed "
               "again, after the rebase order\n", rb.resent, entity);
    printf("recorded in the ledger under rebase/%s/%010llu. Carry it to the agent's inbox "
           "(nova-hub push DIR %s DEST): its next pass ships a full snapshot, which the hub "
           "reconciles; bundles it sealed before are stale.\n", entity,
           (unsigned long long)rb.epoch, entity);
    return 0;
}
