/*
 * backup.c - nova-hub migrate, backup and restore: the store's schema
 * version, and a consistent copy of the hub that a restore brings back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/backup.h"
#include "../../formats/cli.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../intake/backup.h"
#include "../intake/ingest.h"
#include "cmds.h"

/* nova-hub migrate DIR [--check]: the store's schema version; without
 * --check, the hub is opened, which migrates it. */
int
nv_cmd_migrate(int argc, char **argv)
{
    const char *dir = NULL;
    char *path;
    unsigned found;
    int check = 0, r;
    struct nv_hub h;

    if ((r = nv_cli_args(argc, argv, "--check", &check, &dir, 1)) != 0)
        return r;
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    path = nv_path_join(dir, "store");
    if (check) {
        if ((r = nv_schema_peek(path, &found)) == 0)
            r = nv_schema_print("hub store", path, found, NV_HSTORE_SCHEMA, 0,
                                nv_hstore_migration);
    } else if ((r = nv_hub_open(&h, dir)) == 0) {
        found = h.store.schema_was;
        nv_hub_close(&h);
        r = nv_schema_print("hub store", path, found, NV_HSTORE_SCHEMA, 1,
                            nv_hstore_migration);
    }
    free(path);
    return r < 0 ? nv_cli_fail(r) : 0;
}

/* nova-hub backup DIR DEST */
int
nv_cmd_backup(int argc, char **argv)
{
    const char *pos[2];
    struct nv_buf info = NV_BUF_INIT;
    struct nv_hub h;
    char *path = NULL;
    int r;

    if ((r = nv_cli_args(argc, argv, NULL, NULL, pos, 2)) != 0)
        return r;
    if (pos[1] == NULL)
        return nv_cli_usage("DIR and DEST are required");
    if ((r = nv_hub_open(&h, pos[0])) < 0)
        return nv_cli_fail(r);
    r = nv_hub_backup(&h, pos[1], &path, &info);
    nv_hub_close(&h);
    if (r == 0) {
        printf("backup written to %s\n", path);
        nv_backup_print(&info);
        printf("it holds personal data (the store): keep it as it is (0700, files 0600), on "
               "another disk; check it with 'cd %s && sha256sum -c SHA256SUMS'\n", path);
    }
    free(path);
    nv_buf_release(&info);
    return r < 0 ? nv_cli_fail(r) : 0;
}

/* nova-hub restore BACKUP DIR */
int
nv_cmd_restore(int argc, char **argv)
{
    const char *pos[2];
    struct nv_buf info = NV_BUF_INIT;
    int r;

    if ((r = nv_cli_args(argc, argv, NULL, NULL, pos, 2)) != 0)
        return r;
    if (pos[1] == NULL)
        return nv_cli_usage("BACKUP and DIR are required");
    if ((r = nv_hub_restore(pos[0], pos[1], &info)) == 0) {
        printf("restored %s into %s:\n", pos[0], pos[1]);
        nv_backup_print(&info);
        printf("what the agents sent after the backup ('applied' above) is not in it: at each "
               "agent, 'nova-agent resend DIR' sends again what the hub has not acknowledged\n"
               "(an agent that applied hub bundles past 'sent' above needs a re-baseline)\n");
    }
    nv_buf_release(&info);
    return r < 0 ? nv_cli_fail(r) : 0;
}
