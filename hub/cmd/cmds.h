/*
 * cmds.h - nova-hub commands that live outside main.c.
 */
#ifndef NOVA_HUB_CMDS_H
#define NOVA_HUB_CMDS_H

int nv_cmd_mapping(int argc, char **argv);
int nv_cmd_replay(int argc, char **argv);
int nv_cmd_status(int argc, char **argv);
int nv_cmd_run(int argc, char **argv);
int nv_cmd_eval(int argc, char **argv);
int nv_cmd_review(int argc, char **argv);
int nv_cmd_explain(int argc, char **argv);
int nv_cmd_learn(int argc, char **argv);
int nv_cmd_relink(int argc, char **argv);
int nv_cmd_push(int argc, char **argv);
int nv_cmd_model(int argc, char **argv);
int nv_cmd_gdpr(int argc, char **argv);
int nv_cmd_accesslog(int argc, char **argv);
int nv_cmd_show(int argc, char **argv);
int nv_cmd_rules(int argc, char **argv);
int nv_cmd_metrics(int argc, char **argv);
int nv_cmd_expect(int argc, char **argv);
int nv_cmd_alerts(int argc, char **argv);
int nv_cmd_dashboard(int argc, char **argv);
/* After a pass of nova-hub run that found an alert hook set or has a
 * textfile: the metrics to textfile (NULL: none), and when an alert hook
 * is set, a look at the alerts (the hook runs for each start and end).
 * Failures are logged; 0, or a code when the hub cannot be opened. */
int nv_hub_after_pass(const char *dir, const char *textfile);
int nv_cmd_segment(int argc, char **argv);
int nv_cmd_rebase(int argc, char **argv);
int nv_cmd_migrate(int argc, char **argv);
int nv_cmd_backup(int argc, char **argv);
int nv_cmd_restore(int argc, char **argv);

/* A commit author: "Name <email>" (NULL: $NOVA_USER or $USER at the host)
 * split into name and email inside buf.  -1 when malformed. */
int nv_hub_author(const char *author, char *buf, size_t n, const char **name,
                  const char **email);

struct nv_hub;
typedef struct MDB_txn MDB_txn;
/* The start of a command that reads one person's data, `CMD DIR
 * RCU|ENTITY:KEY [--json] [--why TEXT]`: opens the hub, logs the access,
 * opens a read transaction and resolves the subject to its live RCU (rcu:
 * NV_RCU_LEN + 1 bytes).  0 when the caller goes on (it aborts txn and
 * closes h), else the exit status to return (nothing left open). */
int nv_cmd_person_begin(int argc, char **argv, const char *cmd, struct nv_hub *h,
                        MDB_txn **txn, char *rcu, const char **subject, int *json);

/* When the matching weights were fitted (nv_weights_state, hub/ops/ops.h)
 * as one line of text for status and `model show`. */
typedef struct json_t json_t;
void nv_weights_state_print(const json_t *w);

/* `export DIR links`: entity,source_key,rcu_id,status to stdout. */
int nv_export_links(struct nv_hub *h);

#endif
