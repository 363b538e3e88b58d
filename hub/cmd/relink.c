/*
 * relink.c - `nova-hub relink DIR [--dry-run] [--json]`: arguments and
 * printing around nv_hub_relink (hub/intake/relink.h).
 */
#include <stdio.h>
#include <string.h>

#include "../../formats/cli.h"
#include "../../formats/progress.h"
#include "../../formats/errors.h"
#include "../intake/ingest.h"
#include "../intake/relink.h"
#include "cmds.h"

int
nv_cmd_relink(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0, dry = 0, r;
    struct nv_hub h;
    struct nv_relink_stats st;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_flag(argv, i, "--json"))
            json = 1;
        else if (nv_opt_flag(argv, i, "--dry-run"))
            dry = 1;
        else if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else if (dir == NULL)
            dir = argv[i];
        else
            return nv_cli_usage("too many arguments");
    }
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    nv_progress_begin("relink", "records");
    r = nv_hub_relink(&h, dry, &st);
    nv_hub_close(&h);
    nv_progress_end(st.records, "%s", r < 0 ? "stopped" : dry ? "dry run, nothing changed"
                                                            : "records re-resolved");
    if (r < 0)
        return nv_cli_fail(r);
    if (json) {
        printf("{\"dry_run\":%s,\"records\":%llu,\"moved\":%llu,\"rcus_before\":%llu,"
               "\"rcus_after\":%llu,\"stayed\":%llu,\"merged\":%llu,\"split\":%llu,"
               "\"review\":%llu}\n", dry ? "true" : "false",
               (unsigned long long)st.records, (unsigned long long)st.moved,
               (unsigned long long)st.rcus_before, (unsigned long long)st.rcus_after,
               (unsigned long long)st.stayed, (unsigned long long)st.merged,
               (unsigned long long)st.split, (unsigned long long)st.review);
        return 0;
    }
    printf("%s%llu records re-resolved under the weights and decisions in force: %llu "
           "changed RCU\n", dry ? "dry run (nothing changed): " : "",
           (unsigned long long)st.records, (unsigned long long)st.moved);
    printf("  RCUs:   %llu before, %llu after\n", (unsigned long long)st.rcus_before,
           (unsigned long long)st.rcus_after);
    printf("  stay:   %llu (the same records, the same ID)\n", (unsigned long long)st.stayed);
    printf("  merge:  %llu (hold the records of several; the others resolve to them as "
           "aliases)\n", (unsigned long long)st.merged);
    printf("  split:  %llu (their records are now in several)\n", (unsigned long long)st.split);
    printf("  review: %llu pairs opened\n", (unsigned long long)st.review);
    return 0;
}
