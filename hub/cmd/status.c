/*
 * cmd/status.c - `nova-hub status`: prints the status document of
 * hub/ops/status.c (nv_ops_status) as text or JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../formats/cli.h"
#include "../../formats/errors.h"
#include "cmds.h"
#include "../intake/ingest.h"
#include "../ops/ops.h"

#define TOP_REASONS 5

/* The first TOP_REASONS of top_reasons' list, one per line. */
static void
print_reasons(json_t *rs)
{
    size_t j;
    json_t *y;

    json_array_foreach(rs, j, y) {
        if (j == TOP_REASONS) {
            printf("    ... and %zu other reasons (status --json lists all)\n",
                   json_array_size(rs) - j);
            break;
        }
        printf("    %6lld x %s\n", (long long)json_integer_value(json_object_get(y, "count")),
               json_string_value(json_object_get(y, "reason")));
    }
}

void
nv_weights_state_print(const json_t *w)
{
    long long fitted, records, next;

    if (w == NULL)
        return;
    fitted = (long long)json_integer_value(json_object_get(w, "fitted_at"));
    records = (long long)json_integer_value(json_object_get(w, "records"));
    next = (long long)json_integer_value(json_object_get(w, "next_fit_at"));
    if (json_is_true(json_object_get(w, "frozen")))
        printf("weights: frozen (imported or frozen by hand; nova-hub model DIR unfreeze lets "
               "them refit)\n");
    else if (fitted == 0)
        printf("weights: generic until the first fit, at %lld records (the store has %lld)\n",
               next, records);
    else
        printf("weights: fitted by EM when the store held %lld records (it has %lld); the next "
               "automatic fit comes at %lld or with a new entity's first records "
               "(`nova-hub learn` refits now)\n", fitted, records, next);
}

/* One entity of status_collect's "entities", as text. */
static void
print_entity(const json_t *x)
{
    const char *mc = json_string_value(json_object_get(x, "mapping"));
    json_t *last = json_object_get(x, "last_bundle");
    long long rej = (long long)json_integer_value(json_object_get(x, "rejected"));
    long long unm = (long long)json_integer_value(json_object_get(x, "unmapped"));
    json_t *y;

    printf("  %s: %lld records", json_string_value(json_object_get(x, "entity")),
           (long long)json_integer_value(json_object_get(x, "records")));
    if (mc != NULL)
        printf(", mapping %.12s", mc);
    else
        printf(", no mapping");
    printf(", %lld rejected at the hub, %lld by the agent\n", rej,
           (long long)json_integer_value(
               json_object_get(json_object_get(x, "agent_rejects"), "rows")));
    if (unm > 0)
        printf("    %lld records stored unmapped: %s\n", unm,
               mc ? "apply the mapping to them with nova-hub replay"
                  : "write one (nova-hub mapping suggest, mapping set), then "
                    "nova-hub replay");
    if (last != NULL) {
        long long nn = (long long)json_integer_value(
            json_object_get(last, "not_normalised"));
        printf("    last bundle seq %lld (%s): %lld upserts, %lld deletes, "
               "%lld rejected",
               (long long)json_integer_value(json_object_get(x, "seq")),
               json_string_value(json_object_get(last, "applied")),
               (long long)json_integer_value(json_object_get(last, "upserts")),
               (long long)json_integer_value(json_object_get(last, "deletes")),
               (long long)json_integer_value(json_object_get(last, "rejected")));
        if (nn > 0)
            printf(", %lld value(s) not normalised", nn);
        printf("\n");
    }
    print_reasons(json_object_get(x, "reasons"));
    y = json_object_get(x, "agent_rejects");
    if (json_integer_value(json_object_get(y, "rows")) > 0) {
        printf("    %lld source row(s) rejected by the agent (never shipped; fix them in the "
               "CRM's export):\n", (long long)json_integer_value(json_object_get(y, "rows")));
        print_reasons(json_object_get(y, "reasons"));
    }
    y = json_object_get(x, "not_normalised");
    if (json_integer_value(json_object_get(y, "records")) > 0) {
        printf("    %lld record(s) with %lld value(s) that did not parse: stored as "
               "sent, left out of matching (fix them in the CRM)\n",
               (long long)json_integer_value(json_object_get(y, "records")),
               (long long)json_integer_value(json_object_get(y, "values")));
        print_reasons(json_object_get(y, "reasons"));
    }
}

/* The "matching" figures of status_collect, and the weights, as text (only
 * once records are linked). */
static void
print_matching(const json_t *out)
{
    json_t *mf = json_object_get(out, "matching");

    if (mf == NULL || json_integer_value(json_object_get(mf, "records")) <= 0)
        return;
    printf("matching: %lld records are %lld people (RCUs); %lld people known to "
           "several entities; %lld with duplicates inside one entity (%lld extra "
           "records); %lld records in %lld review pair(s)\n",
           (long long)json_integer_value(json_object_get(mf, "records")),
           (long long)json_integer_value(json_object_get(mf, "rcus")),
           (long long)json_integer_value(json_object_get(mf, "in_several_entities")),
           (long long)json_integer_value(json_object_get(mf, "with_duplicates_in_one_entity")),
           (long long)json_integer_value(json_object_get(mf, "duplicate_records")),
           (long long)json_integer_value(json_object_get(mf, "records_in_review")),
           (long long)json_integer_value(json_object_get(mf, "review_pairs")));
    nv_weights_state_print(json_object_get(out, "weights"));
}

/* status_collect's document as text, for the hub named hub. */
static void
print_status(const json_t *out, const char *hub)
{
    json_t *streams = json_object_get(out, "streams"), *ents = json_object_get(out, "entities");
    json_t *waiting = json_object_get(out, "waiting"), *x;
    size_t i;

    printf("hub: %s\nstreams:\n", hub);
    json_array_foreach(streams, i, x)
        printf("  %-4s %-16s seq %lld  last %s\n",
               json_object_get(x, "to") ? "to" : "from",
               json_string_value(json_object_get(x, "to") ? json_object_get(x, "to")
                                                          : json_object_get(x, "sender")),
               (long long)json_integer_value(json_object_get(x, "seq")),
               json_string_value(json_object_get(x, "last_id")));
    json_array_foreach(streams, i, x)
        if (json_object_get(x, "epoch") != NULL)
            printf("  epoch %lld of %s: rebased at seq %lld; %s\n",
                   (long long)json_integer_value(json_object_get(x, "epoch")),
                   json_string_value(json_object_get(x, "sender")),
                   (long long)json_integer_value(json_object_get(x, "rebase_base")),
                   json_is_true(json_object_get(x, "snapshot_pending"))
                       ? "its full snapshot is awaited"
                       : "its snapshot was reconciled");
    if (json_array_size(ents) > 0)
        printf("entities:\n");
    json_array_foreach(ents, i, x)
        print_entity(x);
    print_matching(out);
    json_array_foreach(waiting, i, x)
        printf("waiting: %s: bundle(s) past seq %lld wait for seq %lld..%lld, which "
               "has not arrived\n",
               json_string_value(json_object_get(x, "entity")),
               (long long)json_integer_value(json_object_get(x, "applied")),
               (long long)json_integer_value(json_object_get(x, "missing_from")),
               (long long)json_integer_value(json_object_get(x, "missing_to")));
    if (json_integer_value(json_object_get(out, "updates_queued")) > 0)
        printf("updates: %lld record(s) queued for other entities, not yet sent\n",
               (long long)json_integer_value(json_object_get(out, "updates_queued")));
    printf("inbox: %lld bundle(s) waiting\nquarantine: %lld bundle(s)\n",
           (long long)json_integer_value(json_object_get(out, "inbox")),
           (long long)json_integer_value(json_object_get(out, "quarantine")));
}

int
nv_cmd_status(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0, scan = 0, r;
    struct nv_hub h;
    json_t *out = NULL;

    /* --scan: count by reading the whole store, not from the counters */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--scan") == 0) {
            scan = 1;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
            argc--;
            i--;
        }
    if ((r = nv_cli_args(argc, argv, "--json", &json, &dir, 1)) != 0)
        return r;
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    if ((r = nv_hub_open(&h, dir)) < 0)
        return nv_cli_fail(r);
    if ((r = nv_ops_status_scan(&h, dir, scan, &out)) < 0) {
        nv_hub_close(&h);
        return nv_cli_fail(r);
    }
    if (json) {
        char *t = json_dumps(out, JSON_COMPACT);
        if (t != NULL)
            printf("%s\n", t);
        free(t);
    } else {
        print_status(out, h.self.pub.entity);
    }
    json_decref(out);
    nv_hub_close(&h);
    return 0;
}
