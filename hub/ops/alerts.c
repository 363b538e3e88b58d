/*
 * alerts.c - what fires now, from the hub's facts (ops.h).  The same
 * alerts are packaging/prometheus/nova.rules.yml on the metrics: keep the
 * names and thresholds together.
 *
 *   NovaFlowLate          no bundle from an entity for twice its cadence
 *   NovaSequenceGap       bundles wait in the inbox for a missing one
 *   NovaBundleQuarantined a bundle sits in quarantine
 *   NovaRejectsHigh       the entity's last bundle rejected more than
 *                         reject_share of its records
 *   NovaReviewQueueOld    the oldest review pair is older than review_max_age
 *   NovaGdprTargetPassed  an open request is past its internal target
 *   NovaGdprDeadlineNear  an open request is within 5 days of its legal
 *                         deadline (or past it)
 *   NovaUpdatesStuckRevokedKey  updates or erasure orders wait for an
 *                         entity whose keys are all revoked
 *   NovaMappingColumnsChanged  the entity's last bundle of records lacked a
 *                         column its mapping maps, or carried 3 or more
 *                         columns the mapping lacks
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/util.h"
#include "ops.h"

#define GDPR_NEAR (5 * 86400)
#define NEW_COLUMNS_MAX 3 /* new columns that fire NovaMappingColumnsChanged */

/* One alert; its key (the alert, the entity, and subject when one entity
 * can have several: a request id, a quarantined file) tells one firing
 * from another across looks (track.c). */
static void
fire(json_t *a, const char *name, const char *sev, const char *entity, const char *subject,
     int64_t since, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static void
fire(json_t *a, const char *name, const char *sev, const char *entity, const char *subject,
     int64_t since, const char *action, const char *fmt, ...)
{
    char summary[512], when[21], key[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(summary, sizeof(summary), fmt, ap);
    va_end(ap);
    snprintf(key, sizeof(key), "%s/%s%s%s", name, entity ? entity : "", subject ? "/" : "",
             subject ? subject : "");
    json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "alert", name,
                                       "severity", sev, "entity", entity ? entity : "",
                                       "since", since > 0 ? nv_time_format(since, when) : "",
                                       "since_unix", (json_int_t)since, "summary", summary,
                                       "action", action, "key", key));
}

static int
sev_rank(const char *s)
{
    return strcmp(s, "critical") == 0 ? 0 : strcmp(s, "warning") == 0 ? 1 : 2;
}

static int
alert_cmp(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    int c = sev_rank(json_string_value(json_object_get(a, "severity"))) -
            sev_rank(json_string_value(json_object_get(b, "severity")));

    if (c == 0)
        c = strcmp(json_string_value(json_object_get(a, "alert")),
                   json_string_value(json_object_get(b, "alert")));
    if (c == 0)
        c = strcmp(json_string_value(json_object_get(a, "entity")),
                   json_string_value(json_object_get(b, "entity")));
    return c;
}

static void
human(int64_t s, char *out, size_t n)
{
    if (s >= 2 * 86400 || (s >= 86400 && s % 86400 == 0))
        snprintf(out, n, "%lld day%s", (long long)(s / 86400), s >= 2 * 86400 ? "s" : "");
    else if (s >= 2 * 3600 || (s >= 3600 && s % 3600 == 0))
        snprintf(out, n, "%lld h", (long long)(s / 3600));
    else
        snprintf(out, n, "%lld min", (long long)(s / 60));
}

static void
flows(const json_t *facts, json_t *a, int64_t now)
{
    const json_t *ex = json_object_get(facts, "expect");
    double share = json_number_value(json_object_get(ex, "reject_share"));
    const char *ent;
    json_t *v, *f;

    json_object_foreach(json_object_get(ex, "cadence"), ent, v) {
        int64_t c = json_integer_value(v), last;
        char cs[32], ls[32];
        f = json_object_get(json_object_get(facts, "flows"), ent);
        last = json_integer_value(json_object_get(f, "last_applied"));
        if (last > 0 && now - last <= 2 * c)
            continue;
        human(c, cs, sizeof(cs));
        if (last == 0) {
            fire(a, "NovaFlowLate", "warning", ent, NULL, 0,
                 "check the agent: nova-agent status and its log at the entity, the "
                 "transport to the hub's inbox, and nova-hub status",
                 "no bundle from %s has ever been applied (expected every %s)", ent, cs);
            continue;
        }
        human(now - last, ls, sizeof(ls));
        fire(a, "NovaFlowLate", "warning", ent, NULL, last + 2 * c,
             "check the agent: nova-agent status and its log at the entity, the transport "
             "to the hub's inbox, and nova-hub status",
             "no bundle from %s for %s (expected every %s)", ent, ls, cs);
    }
    json_object_foreach(json_object_get(facts, "flows"), ent, f) {
        const json_t *l = json_object_get(f, "last");
        json_int_t rej = json_integer_value(json_object_get(l, "rejected"));
        json_int_t all = rej + json_integer_value(json_object_get(l, "upserts")) +
                         json_integer_value(json_object_get(l, "deletes"));
        int64_t t = 0;
        if (l == NULL || all == 0 || (double)rej / (double)all <= share)
            continue;
        (void)nv_time_parse(json_string_value(json_object_get(l, "applied"))
                                ? json_string_value(json_object_get(l, "applied"))
                                : "",
                            &t);
        fire(a, "NovaRejectsHigh", "warning", ent, NULL, t,
             "nova-hub status DIR lists the reasons; fix the mapping (nova-hub mapping) or "
             "the export, then nova-hub replay",
             "%s's last bundle rejected %lld of %lld records (over %.0f%%)", ent,
             (long long)rej, (long long)all, 100 * share);
    }
}

/* Up to 4 names of a, quoted, into b ("'a', 'b', ... (7)"). */
static void
names(const json_t *a, char *b, size_t n)
{
    size_t i, o = 0;
    json_t *x;

    b[0] = '\0';
    json_array_foreach(a, i, x) {
        if (i == 4) {
            snprintf(b + o, n - o, ", ... (%zu in all)", json_array_size(a));
            break;
        }
        o += (size_t)snprintf(b + o, n - o, "%s'%.64s'", i ? ", " : "", json_string_value(x));
        if (o >= n)
            break;
    }
}

/* Updates stuck for a revoked key; a mapping whose columns no longer match
 * the exports. */
static void
keys_and_columns(const json_t *facts, json_t *a)
{
    const char *ent;
    json_t *x;

    json_object_foreach(json_object_get(facts, "keys"), ent, x) {
        const json_t *q = json_object_get(json_object_get(facts, "queued"), ent);
        json_int_t ups = json_integer_value(json_object_get(q, "updates"));
        json_int_t bundles = json_integer_value(json_object_get(q, "outbox_updates")) +
                             json_integer_value(json_object_get(q, "outbox_erasure"));
        if (ups + bundles == 0)
            continue;
        fire(a, "NovaUpdatesStuckRevokedKey", "warning", ent, NULL,
             json_integer_value(json_object_get(x, "revoked")),
             "enroll the entity's new key (nova-hub enroll DIR IDENTITY.pub): the queued "
             "updates are then sealed to it; bundles sealed to the revoked key are in "
             "DIR/outbox/ENTITY (move them out, then nova-hub resend DIR ENTITY once the "
             "agent has its new key)",
             "%lld update record(s) queued and %lld bundle(s) sealed wait for %s, whose key "
             "is revoked", (long long)ups, (long long)bundles, ent);
    }
    json_object_foreach(json_object_get(facts, "drift"), ent, x) {
        const json_t *miss = json_object_get(x, "missing"), *nw = json_object_get(x, "new");
        char mb[400], nb[400];
        if (json_array_size(miss) == 0 && json_array_size(nw) < NEW_COLUMNS_MAX)
            continue;
        names(miss, mb, sizeof(mb));
        names(nw, nb, sizeof(nb));
        fire(a, "NovaMappingColumnsChanged", "warning", ent, NULL,
             json_integer_value(json_object_get(x, "at")),
             "compare the export with the mapping (nova-hub mapping suggest ENTITY "
             "EXPORT.csv), commit the fix (nova-hub mapping set), then nova-hub replay",
             "%s's last bundle (seq %lld) %s%s%s%s%s", ent,
             (long long)json_integer_value(json_object_get(x, "seq")),
             json_array_size(miss) ? "lacks mapped column(s) " : "", mb,
             json_array_size(miss) && json_array_size(nw) ? " and " : "",
             json_array_size(nw) ? "carries column(s) the mapping lacks: " : "", nb);
    }
}

json_t *
nv_ops_alerts(const json_t *facts)
{
    json_t *a = json_array(), *x;
    int64_t now = json_integer_value(json_object_get(facts, "now"));
    const json_t *rv = json_object_get(facts, "review");
    int64_t oldest = json_integer_value(json_object_get(rv, "oldest"));
    int64_t maxage =
        json_integer_value(json_object_get(json_object_get(facts, "expect"), "review_max_age"));
    size_t i, n;
    json_t **v, *sorted;

    flows(facts, a, now);
    keys_and_columns(facts, a);
    json_array_foreach(json_object_get(facts, "gaps"), i, x)
        fire(a, "NovaSequenceGap", "warning", json_string_value(json_object_get(x, "entity")),
             NULL, json_integer_value(json_object_get(x, "since")),
             "find the missing bundle(s) at the agent (outbox) or in transit and put them in "
             "the hub's inbox; the waiting ones follow by themselves",
             "%s: bundle(s) wait for seq %lld..%lld, which has not arrived",
             json_string_value(json_object_get(x, "entity")),
             (long long)json_integer_value(json_object_get(x, "missing_from")),
             (long long)json_integer_value(json_object_get(x, "missing_to")));
    json_array_foreach(json_object_get(facts, "quarantine"), i, x) {
        const char *e = json_string_value(json_object_get(x, "entity"));
        fire(a, "NovaBundleQuarantined", "critical", e,
             json_string_value(json_object_get(x, "file")), json_integer_value(json_object_get(x, "since")),
             "nova-hub quarantine DIR shows why; fix the cause (key, transport, agent) and "
             "have the agent send it again",
             "a bundle%s%s was refused (%s)", e[0] ? " from " : "", e,
             json_string_value(json_object_get(x, "reason")));
    }
    if (oldest > 0 && now - oldest > maxage) {
        char hs[32];
        human(now - oldest, hs, sizeof(hs));
        fire(a, "NovaReviewQueueOld", "warning", "", NULL, oldest + maxage,
             "answer the review queue: nova-hub review DIR",
             "%lld review pair(s) open, the oldest for %s",
             (long long)json_integer_value(json_object_get(rv, "pairs")), hs);
    }
    json_array_foreach(json_object_get(json_object_get(facts, "gdpr"), "open"), i, x) {
        int64_t dl = json_integer_value(json_object_get(x, "deadline"));
        int64_t tg = json_integer_value(json_object_get(x, "target"));
        const char *id = json_string_value(json_object_get(x, "id"));
        const char *kind = json_string_value(json_object_get(x, "kind"));
        char d[21];
        if (now >= dl - GDPR_NEAR)
            fire(a, "NovaGdprDeadlineNear", "critical", "", id, dl - GDPR_NEAR,
                 "nova-hub gdpr show DIR shows which entity has not answered; chase it, or "
                 "extend the deadline with a reason (nova-hub gdpr extend)",
                 "%s (%s, %s) %s its legal deadline %.10s", id, kind,
                 json_string_value(json_object_get(x, "status")),
                 now >= dl ? "is past" : "is within 5 days of", nv_time_format(dl - 1, d));
        else if (now >= tg)
            fire(a, "NovaGdprTargetPassed", "warning", "", id, tg,
                 "nova-hub gdpr show DIR shows which entity has not answered; chase it",
                 "%s (%s, %s) is past the group's target %.10s", id, kind,
                 json_string_value(json_object_get(x, "status")), nv_time_format(tg - 1, d));
    }
    /* most severe first */
    n = json_array_size(a);
    v = calloc(n ? n : 1, sizeof(*v));
    if (v == NULL)
        abort();
    json_array_foreach(a, i, x)
        v[i] = json_incref(x);
    qsort(v, n, sizeof(*v), alert_cmp);
    sorted = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(sorted, v[i]);
    free(v);
    json_decref(a);
    return sorted;
}
