/*
 * cmds.h - nova-hub commands that live outside main.c.
 */
#ifndef NOVA_HUB_CMDS_H
#define NOVA_HUB_CMDS_H

int nv_cmd_mapping(int argc, char **argv);
int nv_cmd_replay(int argc, char **argv);
int nv_cmd_status(int argc, char **argv);
int nv_cmd_run(int argc, char **argv);

#endif
