/*
 * stats.h - what the agent has done, kept for its metrics: counters in
 * DIR/stats (one "name value" line each, rewritten atomically after every
 * pass), and the metrics themselves in the Prometheus text exposition
 * format (`nova-agent metrics`, and the textfile `run` rewrites).
 */
#ifndef NOVA_AGENT_STATS_H
#define NOVA_AGENT_STATS_H

#include "../formats/buf.h"
#include "agent.h"
#include "inbox.h"
#include "scan.h"

/* Add one pass (its scan and inbox statistics, its duration) to DIR/stats;
 * ss or is may be NULL. */
int nv_agent_stats_note(const char *dir, const struct nv_scan_stats *ss,
                        const struct nv_inbox_stats *is, double seconds)
    __attribute__((warn_unused_result));

/* The agent's metrics (the counters, its outbox and inbox, its streams). */
int nv_agent_metrics(struct nv_agent *a, struct nv_buf *out)
    __attribute__((warn_unused_result));

/* The metrics to path atomically (temp file, fsync, rename), or to stdout
 * when path is NULL. */
int nv_agent_metrics_write(struct nv_agent *a, const char *path)
    __attribute__((warn_unused_result));

#endif
