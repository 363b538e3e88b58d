/*
 * tool_forge - a test tool: seal a changes bundle with the agent's own keys
 * and stream, exactly as `nova-agent seal` does, but with the manifest's
 * counts given on the command line instead of counted, so that tests can
 * show the hub refusing a signed payload that contradicts its manifest.
 *
 *   tool_forge AGENT_DIR FILE RECORDS UPSERTS DELETES
 *
 * FORGE_EPOCH=N in the environment writes "epoch: N" whatever the agent's
 * epoch is (a bundle claiming an epoch the hub never opened).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../agent/agent.h"
#include "../../agent/outbox.h"
#include "../../formats/errors.h"
#include "../../formats/record.h"

int
main(int argc, char **argv)
{
    struct nv_agent a;
    struct nv_outbox o;
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int r;

    if (argc != 6) {
        fprintf(stderr, "usage: tool_forge AGENT_DIR FILE RECORDS UPSERTS DELETES\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 3;
    if ((f = fopen(argv[2], "r")) == NULL) {
        perror(argv[2]);
        return 3;
    }
    if ((r = nv_agent_open(&a, argv[1], 1)) < 0) {
        fprintf(stderr, "tool_forge: %s\n", nv_errmsg(r));
        fclose(f);
        return nv_exit_status(r);
    }
    nv_agent_outbox(&a, &o);
    if (getenv("FORGE_EPOCH") != NULL)
        o.epoch = strtoull(getenv("FORGE_EPOCH"), NULL, 10);
    r = nv_outbox_begin(&o, NV_KIND_CHANGES);
    while (r == 0 && (n = getline(&line, &cap, f)) > 0) {
        int op;
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0)
            continue;
        op = nv_record_check(line, (size_t)n);
        r = nv_outbox_add_record(&o, line, (size_t)n, op < 0 ? 0 : op);
    }
    if (r == 0) {
        /* the lie: the counts the signed manifest will carry */
        o.records = strtoull(argv[3], NULL, 10);
        o.upserts = strtoull(argv[4], NULL, 10);
        o.deletes = strtoull(argv[5], NULL, 10);
        r = nv_outbox_end(&o);
    } else {
        nv_outbox_abort(&o);
    }
    free(line);
    fclose(f);
    nv_agent_close(&a);
    if (r < 0) {
        fprintf(stderr, "tool_forge: %s\n", nv_errmsg(r));
        return nv_exit_status(r);
    }
    return 0;
}
