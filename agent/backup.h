/*
 * backup.h - nova-agent migrate, backup and restore (agent/backup.c).
 */
#ifndef NOVA_AGENT_BACKUP_H
#define NOVA_AGENT_BACKUP_H

int nv_agent_cmd_migrate(int argc, char **argv);
int nv_agent_cmd_backup(int argc, char **argv);
int nv_agent_cmd_restore(int argc, char **argv);

#endif
