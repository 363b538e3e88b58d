/*
 * watch.h - `nova-agent run`: the unattended loop.
 *
 * inotify watches each source directory (close-after-write, moved-in) and
 * the inbox; the parent of each source directory is watched too, so a
 * directory removed and re-created is watched again.  A pass (inbox, then
 * every source) runs at start (nothing dropped while the agent was down is
 * missed), after events once files have settled, after an inotify queue
 * overflow, and every rescan interval as a safety net.  SIGTERM and SIGINT
 * stop after the current pass; SIGHUP reloads the configuration.
 */
#ifndef NOVA_WATCH_H
#define NOVA_WATCH_H

/* Run until SIGTERM; returns 0, or an error code if the agent cannot start. */
/* textfile: the metrics rewritten after every pass (NULL: the
 * configuration's metrics_textfile, if any). */
int nv_watch_run(const char *dir, unsigned rescan_s, const char *textfile);

#endif
