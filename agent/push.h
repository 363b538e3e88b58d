/*
 * push.h - nova-agent push (agent/push.c).
 */
#ifndef NOVA_AGENT_PUSH_H
#define NOVA_AGENT_PUSH_H

int nv_agent_cmd_push(int argc, char **argv);

#endif
