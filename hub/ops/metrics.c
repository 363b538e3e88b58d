/*
 * metrics.c - the hub's facts (ops.h) in the Prometheus text exposition
 * format: nova_ prefix, base units (seconds, bytes), counters end in
 * _total, labels entity, kind, reason, field, status.
 */
#include <stdio.h>
#include <string.h>

#include "../../formats/errors.h"
#include "ops.h"

struct m {
    struct nv_buf *b;
    int err;
};

#define A(x) do { if ((x) < 0) m->err = 1; } while (0)

static void
fam(struct m *m, const char *name, const char *type, const char *help)
{
    if (nv_buf_addf(m->b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type) < 0)
        m->err = 1;
}

static void
esc(struct m *m, const char *v)
{
    for (; *v; v++) {
        int r;
        if (*v == '\\' || *v == '"')
            r = nv_buf_addf(m->b, "\\%c", *v);
        else if (*v == '\n')
            r = nv_buf_adds(m->b, "\\n");
        else
            r = nv_buf_add(m->b, v, 1);
        if (r < 0)
            m->err = 1;
    }
}

/* name{l1="v1",l2="v2"} value; labels: NULL-terminated pairs */
static void
sample(struct m *m, const char *name, double v, const char *l1, const char *v1,
       const char *l2, const char *v2)
{
    A(nv_buf_adds(m->b, name));
    if (l1 != NULL) {
        A(nv_buf_addf(m->b, "{%s=\"", l1));
        esc(m, v1);
        A(nv_buf_adds(m->b, "\""));
        if (l2 != NULL) {
            A(nv_buf_addf(m->b, ",%s=\"", l2));
            esc(m, v2);
            A(nv_buf_adds(m->b, "\""));
        }
        A(nv_buf_adds(m->b, "}"));
    }
    if (nv_buf_addf(m->b, " %.17g\n", v) < 0)
        m->err = 1;
}

static double
num(const json_t *o, const char *k)
{
    json_t *x = json_object_get(o, k);

    return json_is_integer(x) ? (double)json_integer_value(x) : json_number_value(x);
}

/* One sample per flow of a number in each flow's object. */
static void
per_flow(struct m *m, const json_t *flows, const char *name, const char *type,
         const char *help, const char *key)
{
    const char *ent;
    json_t *f;

    fam(m, name, type, help);
    json_object_foreach((json_t *)flows, ent, f)
        sample(m, name, num(f, key), "entity", ent, NULL, NULL);
}

static void
streams(struct m *m, const json_t *facts)
{
    const json_t *flows = json_object_get(facts, "flows");
    const char *ent;
    json_t *f, *x;
    size_t i;

    per_flow(m, flows, "nova_stream_last_seq", "gauge",
             "Sequence number of the last bundle applied from the entity.", "seq");
    fam(m, "nova_stream_last_applied_timestamp_seconds", "gauge",
        "When the last bundle from the entity was applied (Unix time; 0 never).");
    json_object_foreach((json_t *)flows, ent, f)
        sample(m, "nova_stream_last_applied_timestamp_seconds", num(f, "last_applied"),
               "entity", ent, NULL, NULL);
    per_flow(m, flows, "nova_bundles_applied_total", "counter",
             "Bundles applied from the entity.", "bundles");
    fam(m, "nova_records_applied_total", "counter",
        "Change records applied from the entity, by kind (upsert, delete, ack).");
    json_object_foreach((json_t *)flows, ent, f) {
        sample(m, "nova_records_applied_total", num(f, "upserts"), "entity", ent, "kind",
               "upsert");
        sample(m, "nova_records_applied_total", num(f, "deletes"), "entity", ent, "kind",
               "delete");
        sample(m, "nova_records_applied_total", num(f, "acks"), "entity", ent, "kind", "ack");
    }
    per_flow(m, flows, "nova_records_rejected_total", "counter",
             "Change records from the entity that could not be mapped.", "rejected");
    per_flow(m, flows, "nova_values_not_parsed_total", "counter",
             "Values from the entity that did not parse (left out of matching).",
             "not_normalised");
    per_flow(m, flows, "nova_received_bytes_total", "counter",
             "Bytes of the bundles received from the entity and archived.", "bytes");
    fam(m, "nova_last_bundle_records", "gauge",
        "Records in the entity's last bundle, by kind (upsert, delete, rejected).");
    json_object_foreach((json_t *)flows, ent, f) {
        json_t *l = json_object_get(f, "last");
        if (l == NULL)
            continue;
        sample(m, "nova_last_bundle_records", num(l, "upserts"), "entity", ent, "kind",
               "upsert");
        sample(m, "nova_last_bundle_records", num(l, "deletes"), "entity", ent, "kind",
               "delete");
        sample(m, "nova_last_bundle_records", num(l, "rejected"), "entity", ent, "kind",
               "rejected");
    }
    fam(m, "nova_flow_expected_interval_seconds", "gauge",
        "The entity's expected cadence: a bundle at least this often (nova-hub expect).");
    json_object_foreach(json_object_get(json_object_get(facts, "expect"), "cadence"), ent, x)
        sample(m, "nova_flow_expected_interval_seconds", (double)json_integer_value(x),
               "entity", ent, NULL, NULL);
    fam(m, "nova_stream_gap_missing_bundles", "gauge",
        "Bundles missing in the entity's stream while later ones wait in the inbox.");
    json_array_foreach(json_object_get(facts, "gaps"), i, x) {
        char e[80];
        snprintf(e, sizeof(e), "%s", json_string_value(json_object_get(x, "entity")));
        sample(m, "nova_stream_gap_missing_bundles",
               num(x, "missing_to") - num(x, "missing_from") + 1, "entity", e, NULL, NULL);
    }
    fam(m, "nova_stream_gap_since_timestamp_seconds", "gauge",
        "Since when bundles of the entity wait for a missing one (Unix time).");
    json_array_foreach(json_object_get(facts, "gaps"), i, x)
        sample(m, "nova_stream_gap_since_timestamp_seconds", num(x, "since"), "entity",
               json_string_value(json_object_get(x, "entity")), NULL, NULL);
}

static void
quarantine(struct m *m, const json_t *facts)
{
    json_t *counts = json_object(), *oldest = json_object(), *x, *v;
    const char *k;
    size_t i;

    json_array_foreach(json_object_get(facts, "quarantine"), i, x) {
        char key[160];
        snprintf(key, sizeof(key), "%s\t%s", json_string_value(json_object_get(x, "entity")),
                 json_string_value(json_object_get(x, "reason")));
        json_object_set_new(counts, key,
                            json_integer(json_integer_value(json_object_get(counts, key)) + 1));
        if (json_object_get(oldest, key) == NULL ||
            num(x, "since") < (double)json_integer_value(json_object_get(oldest, key)))
            json_object_set_new(oldest, key, json_integer((json_int_t)num(x, "since")));
    }
    fam(m, "nova_quarantine_bundles", "gauge",
        "Bundles in the hub's quarantine, by sender (\"\" unreadable) and reason.");
    json_object_foreach(counts, k, v) {
        char e[80];
        const char *t = strchr(k, '\t');
        snprintf(e, sizeof(e), "%.*s", (int)(t - k), k);
        sample(m, "nova_quarantine_bundles", (double)json_integer_value(v), "entity", e,
               "reason", t + 1);
    }
    fam(m, "nova_quarantine_oldest_timestamp_seconds", "gauge",
        "When the oldest bundle in quarantine was refused, by sender and reason.");
    json_object_foreach(oldest, k, v) {
        char e[80];
        const char *t = strchr(k, '\t');
        snprintf(e, sizeof(e), "%.*s", (int)(t - k), k);
        sample(m, "nova_quarantine_oldest_timestamp_seconds", (double)json_integer_value(v),
               "entity", e, "reason", t + 1);
    }
    json_decref(counts);
    json_decref(oldest);
}

static void
store(struct m *m, const json_t *facts)
{
    const json_t *st = json_object_get(facts, "status");
    const json_t *mf = json_object_get(st, "matching");
    const json_t *rv = json_object_get(facts, "review");
    json_t *x, *r, *f;
    const char *ent, *fld;
    size_t i, j;

    fam(m, "nova_records", "gauge", "Records stored, by entity.");
    json_array_foreach(json_object_get(st, "entities"), i, x)
        sample(m, "nova_records", num(x, "records"), "entity",
               json_string_value(json_object_get(x, "entity")), NULL, NULL);
    fam(m, "nova_records_rejected", "gauge",
        "Records whose latest version was rejected, by entity and reason.");
    json_array_foreach(json_object_get(st, "entities"), i, x)
        json_array_foreach(json_object_get(x, "reasons"), j, r)
            sample(m, "nova_records_rejected", num(r, "count"), "entity",
                   json_string_value(json_object_get(x, "entity")), "reason",
                   json_string_value(json_object_get(r, "reason")));
    fam(m, "nova_values_not_parsed", "gauge",
        "Stored values that did not parse (left out of matching), by entity and field.");
    json_object_foreach(json_object_get(facts, "unparsed"), ent, f)
        json_object_foreach(f, fld, x)
            sample(m, "nova_values_not_parsed", (double)json_integer_value(x), "entity", ent,
                   "field", fld);
    fam(m, "nova_people", "gauge", "People: distinct RCUs over the linked records.");
    sample(m, "nova_people", num(mf, "rcus"), NULL, NULL, NULL, NULL);
    fam(m, "nova_people_in_several_entities", "gauge",
        "People known to more than one entity.");
    sample(m, "nova_people_in_several_entities", num(mf, "in_several_entities"), NULL, NULL,
           NULL, NULL);
    fam(m, "nova_linked_records", "gauge", "Records linked to an RCU.");
    sample(m, "nova_linked_records", num(mf, "records"), NULL, NULL, NULL, NULL);
    fam(m, "nova_duplicate_records", "gauge",
        "Records beyond the first of the same person inside one entity.");
    sample(m, "nova_duplicate_records", num(mf, "duplicate_records"), NULL, NULL, NULL, NULL);
    fam(m, "nova_people_shared", "gauge", "People known to both entities of a pair.");
    json_array_foreach(json_object_get(json_object_get(facts, "people"), "pairs"), i, x) {
        char pair[160];
        snprintf(pair, sizeof(pair), "%s+%s", json_string_value(json_object_get(x, "a")),
                 json_string_value(json_object_get(x, "b")));
        sample(m, "nova_people_shared", num(x, "people"), "entity", pair, NULL, NULL);
    }
    fam(m, "nova_review_pairs", "gauge", "Record pairs waiting in the review queue.");
    sample(m, "nova_review_pairs", num(rv, "pairs"), NULL, NULL, NULL, NULL);
    fam(m, "nova_review_oldest_timestamp_seconds", "gauge",
        "When the oldest open review pair was queued (Unix time; 0 none).");
    sample(m, "nova_review_oldest_timestamp_seconds", num(rv, "oldest"), NULL, NULL, NULL,
           NULL);
    fam(m, "nova_review_oldest_age_seconds", "gauge",
        "Age of the oldest open review pair (0 none).");
    sample(m, "nova_review_oldest_age_seconds",
           num(rv, "oldest") > 0 ? num(facts, "now") - num(rv, "oldest") : 0, NULL, NULL,
           NULL, NULL);
    fam(m, "nova_inbox_bundles", "gauge", "Bundles in the hub's inbox.");
    sample(m, "nova_inbox_bundles", num(st, "inbox"), NULL, NULL, NULL, NULL);
}

static void
queued(struct m *m, const json_t *facts)
{
    const char *ent;
    json_t *q;

    fam(m, "nova_updates_queued_records", "gauge",
        "Update records queued for the entity, not yet sealed into a bundle.");
    json_object_foreach(json_object_get(facts, "queued"), ent, q)
        sample(m, "nova_updates_queued_records", num(q, "updates"), "entity", ent, NULL,
               NULL);
    fam(m, "nova_outbox_bundles", "gauge",
        "Bundles sealed for the entity and not yet collected, by kind (updates, erasure).");
    json_object_foreach(json_object_get(facts, "queued"), ent, q) {
        sample(m, "nova_outbox_bundles", num(q, "outbox_updates"), "entity", ent, "kind",
               "updates");
        sample(m, "nova_outbox_bundles", num(q, "outbox_erasure"), "entity", ent, "kind",
               "erasure");
    }
    fam(m, "nova_entity_key_revoked_timestamp_seconds", "gauge",
        "When the last key of an entity whose keys are all revoked was revoked (Unix time).");
    json_object_foreach(json_object_get(facts, "keys"), ent, q)
        sample(m, "nova_entity_key_revoked_timestamp_seconds", num(q, "revoked"), "entity",
               ent, NULL, NULL);
}

/* The entity's last bundle of records against its mapping. */
static void
columns(struct m *m, const json_t *facts)
{
    const char *ent;
    json_t *d;

    fam(m, "nova_mapping_columns_missing", "gauge",
        "Columns the entity's mapping maps that its last bundle of records lacked.");
    json_object_foreach(json_object_get(facts, "drift"), ent, d)
        sample(m, "nova_mapping_columns_missing",
               (double)json_array_size(json_object_get(d, "missing")), "entity", ent, NULL,
               NULL);
    fam(m, "nova_mapping_columns_new", "gauge",
        "Columns the entity's last bundle of records carried that its mapping lacks.");
    json_object_foreach(json_object_get(facts, "drift"), ent, d)
        sample(m, "nova_mapping_columns_new", (double)json_array_size(json_object_get(d, "new")),
               "entity", ent, NULL, NULL);
}

static void
gdpr(struct m *m, const json_t *facts)
{
    const json_t *g = json_object_get(facts, "gdpr");
    json_t *ks, *v, *x, *next = json_object(), *tgt = json_object(), *past = json_object();
    const char *kind, *status;
    double now = num(facts, "now");
    size_t i;

    fam(m, "nova_gdpr_requests", "gauge", "Data-subject requests, by kind and status.");
    json_object_foreach(json_object_get(g, "counts"), kind, ks)
        json_object_foreach(ks, status, v)
            sample(m, "nova_gdpr_requests", (double)json_integer_value(v), "kind", kind,
                   "status", status);
    json_array_foreach(json_object_get(g, "open"), i, x) {
        const char *k = json_string_value(json_object_get(x, "kind"));
        if (json_object_get(next, k) == NULL ||
            num(x, "deadline") < (double)json_integer_value(json_object_get(next, k)))
            json_object_set_new(next, k, json_integer((json_int_t)num(x, "deadline")));
        if (json_object_get(tgt, k) == NULL ||
            num(x, "target") < (double)json_integer_value(json_object_get(tgt, k)))
            json_object_set_new(tgt, k, json_integer((json_int_t)num(x, "target")));
        json_object_set_new(past, k,
                            json_integer(json_integer_value(json_object_get(past, k)) +
                                         (num(x, "target") < now)));
    }
    fam(m, "nova_gdpr_next_deadline_timestamp_seconds", "gauge",
        "The nearest legal deadline of an open request, by kind (Unix time).");
    json_object_foreach(next, kind, v)
        sample(m, "nova_gdpr_next_deadline_timestamp_seconds", (double)json_integer_value(v),
               "kind", kind, NULL, NULL);
    fam(m, "nova_gdpr_next_target_timestamp_seconds", "gauge",
        "The nearest internal target of an open request, by kind (Unix time).");
    json_object_foreach(tgt, kind, v)
        sample(m, "nova_gdpr_next_target_timestamp_seconds", (double)json_integer_value(v),
               "kind", kind, NULL, NULL);
    fam(m, "nova_gdpr_requests_past_target", "gauge",
        "Open requests past their internal target, by kind.");
    json_object_foreach(past, kind, v)
        sample(m, "nova_gdpr_requests_past_target", (double)json_integer_value(v), "kind",
               kind, NULL, NULL);
    json_decref(next);
    json_decref(tgt);
    json_decref(past);
}

int
nv_ops_metrics(const json_t *facts, struct nv_buf *out)
{
    struct m m = { out, 0 };
    const json_t *p = json_object_get(facts, "pass");

    streams(&m, facts);
    quarantine(&m, facts);
    store(&m, facts);
    queued(&m, facts);
    columns(&m, facts);
    gdpr(&m, facts);
    fam(&m, "nova_ingest_last_pass_duration_seconds", "gauge",
        "How long the last ingest pass took.");
    sample(&m, "nova_ingest_last_pass_duration_seconds", num(p, "seconds"), NULL, NULL, NULL,
           NULL);
    fam(&m, "nova_ingest_last_pass_timestamp_seconds", "gauge",
        "When the last ingest pass ran (Unix time; 0 never).");
    sample(&m, "nova_ingest_last_pass_timestamp_seconds", num(p, "at"), NULL, NULL, NULL,
           NULL);
    fam(&m, "nova_metrics_timestamp_seconds", "gauge", "When these metrics were computed.");
    sample(&m, "nova_metrics_timestamp_seconds", num(facts, "now"), NULL, NULL, NULL, NULL);
    return m.err ? nv_fail(NV_ENOMEM, "out of memory") : 0;
}
