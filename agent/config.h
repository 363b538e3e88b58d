/*
 * config.h - the agent's configuration file, DIR/agent.conf.
 *
 * Lines "name = value"; '#' starts a comment line; sections "[source NAME]"
 * describe one watched export directory each.  Unknown names, a setting
 * given twice in one section (both lines named), bad values, a NUL byte, a
 * pattern that is not a plain file-name pattern ('/' or '..'): refused with
 * the line number and the reason.  See
 * nv_agent_config_template() for the documented file that `init` writes.
 */
#ifndef NOVA_AGENT_CONFIG_H
#define NOVA_AGENT_CONFIG_H

#include <stdint.h>

#include "../formats/csv.h"
#include "../formats/util.h"

#define NV_MAX_SOURCES 32
#define NV_MAX_KEYCOLS 8

enum nv_export_mode { NV_MODE_FULL = 1, NV_MODE_DELTA };
/* full mode: each file is a whole snapshot, or the files of one export run
 * (modification times within snapshot_window of each other) together are */
enum nv_snapshot { NV_SNAP_FILE = 1, NV_SNAP_MULTI };
/* an update value the import encoding cannot represent */
enum nv_unrepresentable { NV_UNREP_TRANSLITERATE = 1, NV_UNREP_UTF8_FILE };

#define NV_MAX_DELETE_SHARE_DEFAULT 0.2
#define NV_MAX_DELETE_COUNT_DEFAULT 10000
#define NV_INCOMPLETE_WAIT_DEFAULT 60000
#define NV_SNAPSHOT_WINDOW_DEFAULT 300

struct nv_source {
    char name[NV_NAME_MAX + 1];
    char *dir;
    char *pattern;  /* fnmatch(3) pattern, default "*.csv" */
    struct nv_csv_dialect dialect;
    char *keycols[NV_MAX_KEYCOLS];
    int nkeycols;
    int mode;
    int snapshot;            /* enum nv_snapshot (full mode) */
    unsigned snapshot_window; /* seconds between the files of one run */
    unsigned snapshot_parts; /* files a run must have for its deletes; 0: any */
    double max_delete_share; /* deletes guard: share of the known records */
    uint64_t max_delete_count; /* and absolute count (0: no limit) */
    int line;       /* where the section starts */
};

struct nv_agent_config {
    char *path;
    char entity[NV_NAME_MAX + 1];
    char hub[NV_NAME_MAX + 1]; /* empty: the one trusted hub */
    char *outbox, *inbox, *import_dir, *quarantine;
    char *erase_hook;
    char *metrics_textfile; /* the metrics rewritten after every pass (run) */
    unsigned erase_timeout; /* seconds */
    unsigned erase_confirm_days; /* a handed-off erasure still in the export after this: failed */
    uint64_t bundle_cap;
    int compression_level;
    unsigned settle_ms;     /* a file must be unchanged this long */
    unsigned incomplete_wait_ms; /* ... this long when its last line has no end */
    double max_delete_share;     /* defaults of the sources' guards */
    uint64_t max_delete_count;
    struct nv_csv_dialect import_dialect; /* formula_guard: import_formula_guard */
    int import_unrepresentable; /* enum nv_unrepresentable */
    unsigned import_mode;       /* mode of the files written to import_dir
                                   (default 0640); the directory gets r-x
                                   for whom they are readable */
    long import_gid;            /* import_group's gid, or -1: the group the
                                   files get (the agent's, or import_dir's
                                   when it is setgid) */
    struct nv_source src[NV_MAX_SOURCES];
    int nsrc;
};

/* The configuration file: $NOVA_AGENT_CONFIG if set (nova-agent --config
 * FILE sets it; the packages' service uses /etc/nova/agent.conf), else
 * DIR/agent.conf.  Allocated. */
char *nv_agent_config_path(const char *dir);
/* Load the configuration file; relative paths are taken from DIR.  An
 * absent 'entity' is left empty: nv_agent_open takes the keys' entity. */
int nv_agent_config_load(struct nv_agent_config *c, const char *dir)
    __attribute__((warn_unused_result));
void nv_agent_config_release(struct nv_agent_config *c);
/* Check what a file cannot say: directories exist and are usable (the
 * outbox is never created by the agent: a missing one is reported), the hook
 * is executable.  Returns the number of problems, each printed to f. */
int nv_agent_config_check(const struct nv_agent_config *c, void *f);
/* The documented default file for an entity. Static storage. */
const char *nv_agent_config_template(const char *entity);

#endif
