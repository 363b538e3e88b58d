/*
 * ops.h - operating the hub: the status document, the facts that metrics,
 * alerts and the dashboard are computed from, the expected cadence of each
 * entity's flow, and their three renderings (Prometheus text exposition,
 * alerts, one self-contained HTML page).
 *
 * Everything here is an aggregate: counts, times, entity names, request
 * ids, reasons that name columns and fields.  Never a name, e-mail, phone
 * or record key.
 *
 * Facts (nv_ops_facts), one JSON document:
 *   "now"      Unix seconds (nv_now: NOVA_NOW fakes the clock in tests)
 *   "status"   nv_ops_status's document (status --json)
 *   "flows"    {entity: {"seq","last_applied" (Unix, 0 never),"bundles",
 *              "upserts","deletes","acks","rejected","not_normalised",
 *              "bytes","days":[30 bundles per day, oldest first, today
 *              last],"days_records":[30],"last":{the last bundle's stats},
 *              "columns":[of its last bundle of records],"columns_seq",
 *              "columns_at"}}
 *   "quarantine" [{"entity" ("" unreadable),"file","reason","since"}]
 *   "gaps"     [{"entity","missing_from","missing_to","since"}]
 *   "review"   {"pairs","oldest" (Unix, 0 none)}
 *   "people"   {"pairs":[{"a","b","people"}],"by_entities":{"1":N,"2":N..}}
 *   "unparsed" {entity: {field: values}}
 *   "queued"   {entity: {"updates" (records in the queue),"outbox_updates",
 *              "outbox_erasure" (sealed bundles not yet collected),
 *              "oldest" (Unix)}}
 *   "weights"  {"link","review" (the thresholds, bits),"from","bin" (bits),
 *              "counts":[records linked or in review by best link score],
 *              "scored"}
 *   "gdpr"     {"counts":{kind:{status:N}},"open":[{"id","kind","status",
 *              "received","target","deadline" (Unix)}],"erasure":{
 *              "completed","mean_days","max_days","within_target",
 *              "target_days","months":[{"month":"YYYY-MM","completed",
 *              "mean_days"}: the last 6 by month of completion]}}
 *   "expect"   nv_ops_expect_load's document
 *   "drift"    {entity: {"seq","at" (its last bundle of records, when
 *              applied),"missing":[the
 *              mapping's columns that bundle lacked],"new":[its columns the
 *              mapping lacks]}}
 *   "keys"     {entity: {"revoked" (Unix)}}: entities whose keys are all
 *              revoked
 *   "pass"     the last ingest pass ({"at","seconds","applied",
 *              "quarantined"}, DIR/ops/lastpass.json) or {}
 */
#ifndef NOVA_HUB_OPS_H
#define NOVA_HUB_OPS_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <lmdb.h>

#include "../../formats/buf.h"

struct nv_hub;
struct nv_link_db;

/* The status of the hub h opened at dir, as status --json prints it (keys
 * in the order printed).  0, or an NV_E code when the store cannot be read
 * (*out untouched). */
int nv_ops_status(struct nv_hub *h, const char *dir, json_t **out)
    __attribute__((warn_unused_result));
/* The same; with scan, the entities' records, rejects and values left out
 * counted by reading the store rather than from the counters its writers
 * keep (status --scan: the check of the counters; slow on a large store). */
int nv_ops_status_scan(struct nv_hub *h, const char *dir, int scan, json_t **out)
    __attribute__((warn_unused_result));

/* When the matching weights were fitted, as {"fitted_at":N,"records":M,
 * "frozen":B,"next_fit_at":K|null} (NULL on a store error). */
json_t *nv_weights_state(MDB_txn *txn, const struct nv_link_db *db);

/* The facts above, at nv_now(). */
int nv_ops_facts(struct nv_hub *h, const char *dir, json_t **out)
    __attribute__((warn_unused_result));

/* Keep what one ingest pass did (DIR/ops/lastpass.json, atomically). */
int nv_ops_note_pass(const char *dir, int64_t at, double seconds, unsigned applied,
                     unsigned quarantined) __attribute__((warn_unused_result));

/* ---- expectations: the repository file "expect" (hub/store/maprepo.h) ----
 *
 *   nova-expect 1
 *   expect ENTITY every DURATION      (a bundle at least this often)
 *   review_max_age DURATION           (default 24h)
 *   reject_share FRACTION             (of a bundle's records; default 0.2)
 *   alert_hook /PATH [ARG...]         (run when an alert starts and ends:
 *                                     words split at spaces, no shell)
 *   alert_hook_timeout SECONDS        (1 to 3600; default 30)
 *
 * DURATION: N followed by s, m, h or d.  As JSON: {"cadence":{entity:
 * seconds},"review_max_age":S,"reject_share":F,"alert_hook":[argv]|null,
 * "alert_hook_timeout":S,"commit":hex|null}. */
#define NV_OPS_EXPECT_FILE ":expect"
int nv_ops_expect_load(struct nv_hub *h, json_t **out) __attribute__((warn_unused_result));
/* Parse the text of the file; NV_EFORMAT naming the line. */
int nv_ops_expect_parse(const char *text, size_t len, json_t **out)
    __attribute__((warn_unused_result));
/* The file's text for doc. */
char *nv_ops_expect_text(const json_t *doc);
/* "90s", "15m", "1h", "2d" -> seconds (60 s to 90 days); -1 otherwise. */
int64_t nv_ops_duration(const char *s);
/* Set (seconds > 0) or drop (0) entity's cadence, committed with author and
 * message.  1 when nothing changed. */
int nv_ops_expect_set(struct nv_hub *h, const char *entity, int64_t seconds,
                      const char *aname, const char *aemail, const char *message,
                      char commit[41]) __attribute__((warn_unused_result));
/* Set the alert hook (cmd: "/PATH ARG...", validated as the file's line
 * is; NULL drops it) and its timeout (0: keep), committed likewise. */
int nv_ops_expect_set_hook(struct nv_hub *h, const char *cmd, unsigned timeout,
                           const char *aname, const char *aemail, const char *message,
                           char commit[41]) __attribute__((warn_unused_result));
/* Split an alert hook's command line into a JSON array of words; NULL
 * (nv_fail set) when it is empty, too long, or its first word is not an
 * absolute path. */
json_t *nv_ops_hook_argv(const char *cmd);

/* ---- renderings ---- */

/* The hub's metrics in the Prometheus text exposition format. */
int nv_ops_metrics(const json_t *facts, struct nv_buf *out)
    __attribute__((warn_unused_result));
/* What fires now: [{"alert","severity","entity","since","summary",
 * "action"}], most severe first. */
json_t *nv_ops_alerts(const json_t *facts);
/* The dashboard: one HTML page, no network request. */
int nv_ops_dashboard(const json_t *facts, const json_t *alerts, FILE *f)
    __attribute__((warn_unused_result));

/* ---- alert state and the alert hook (track.c) ----
 *
 * What fired at the last look is kept in DIR/ops/alerts.json
 * ({key: alert}, written atomically).  nv_ops_alerts_track compares it with
 * alerts (what fires now, at now), keeps the new set, and runs expect's
 * alert hook once for each alert that started (NOVA_ALERT_STATE=firing)
 * and each that ended (resolved): argv exec, no shell; the alert in the
 * environment (NOVA_ALERT, NOVA_ALERT_STATE, NOVA_ALERT_KEY,
 * NOVA_ALERT_ENTITY, NOVA_ALERT_SEVERITY, NOVA_ALERT_SINCE,
 * NOVA_ALERT_ENDED, NOVA_ALERT_SUMMARY, NOVA_ALERT_ACTION, NOVA_HUB);
 * killed after alert_hook_timeout.  A hook that fails is logged, not
 * retried, never an error.  Looks from `nova-hub alerts` and `nova-hub
 * run` share the state (DIR/ops/alerts.lock: a look that finds it taken
 * leaves the state to the other).  *changes (may be NULL) gets
 * [{"state":"firing"|"resolved", alert...}].  0, or an NV_E code when the
 * state cannot be read or written (no hook then runs). */
int nv_ops_alerts_track(const char *dir, const char *hub, const json_t *expect,
                        const json_t *alerts, int64_t now, json_t **changes)
    __attribute__((warn_unused_result));

/* Write text to path atomically (temp file, fsync, rename), mode 0644. */
int nv_ops_textfile(const char *path, const struct nv_buf *text)
    __attribute__((warn_unused_result));

#endif
