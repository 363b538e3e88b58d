/*
 * push.c - `nova-hub push DIR ENTITY DEST`: the bundles waiting for one
 * agent (DIR/outbox/ENTITY) to their transport (formats/push.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/cli.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/push.h"
#include "../../formats/util.h"
#include "cmds.h"

int
nv_cmd_push(int argc, char **argv)
{
    const char *dir = NULL, *entity = NULL, *dest = NULL;
    struct nv_push_stats st;
    char *obox;
    int r;

    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else if (dir == NULL)
            dir = argv[i];
        else if (entity == NULL)
            entity = argv[i];
        else if (dest == NULL)
            dest = argv[i];
        else
            return nv_cli_usage("too many arguments");
    }
    if (dir == NULL || entity == NULL || dest == NULL)
        return nv_cli_usage("push DIR ENTITY DEST (a directory, or user@host:path)");
    if (!nv_name_valid(entity))
        return nv_cli_usage("'%s' is not an entity name", entity);
    obox = malloc(16 + strlen(dir) + strlen(entity));
    if (obox == NULL)
        return 3;
    sprintf(obox, "%s/outbox/%s", dir, entity);
    if (!nv_exists(obox)) {
        r = nv_fail(NV_ENOTFOUND, "nothing was ever sent to '%s' (no %s)", entity, obox);
        free(obox);
        return nv_cli_fail(r);
    }
    r = nv_push_dir(obox, dest, &st);
    free(obox);
    printf("%u bundle(s) for '%s' pushed to %s (%llu bytes)%s%u already there\n", st.pushed,
           entity, dest, (unsigned long long)st.bytes, st.already ? ", " : "; ", st.already);
    return r < 0 ? nv_cli_fail(r) : 0;
}
