/*
 * push.c - `nova-agent push DIR DEST`: the outbox to its transport
 * (formats/push.h).
 */
#include <stdio.h>

#include "../formats/cli.h"
#include "../formats/errors.h"
#include "../formats/push.h"
#include "agent.h"
#include "push.h"

int
nv_agent_cmd_push(int argc, char **argv)
{
    const char *dir = NULL, *dest = NULL;
    struct nv_agent a;
    struct nv_push_stats st;
    int r;

    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else if (dir == NULL)
            dir = argv[i];
        else if (dest == NULL)
            dest = argv[i];
        else
            return nv_cli_usage("too many arguments");
    }
    if (dir == NULL || dest == NULL)
        return nv_cli_usage("push DIR DEST (a directory, or user@host:path)");
    if ((r = nv_agent_open(&a, dir, 0)) < 0)
        return nv_cli_fail(r);
    r = nv_push_dir(a.cfg.outbox, dest, &st);
    nv_agent_close(&a);
    printf("%u bundle(s) pushed to %s (%llu bytes)%s%u already there\n", st.pushed, dest,
           (unsigned long long)st.bytes, st.already ? ", " : "; ", st.already);
    return r < 0 ? nv_cli_fail(r) : 0;
}
