#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/cli.h"
#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "config.h"

#define CONFIG_MAX (256u << 10)

static const char template_text[] =
    "# nova-agent configuration.  Relative paths are taken from the agent's\n"
    "# directory (the one given to every nova-agent command).\n"
    "\n"
    "entity = %s\n"
    "# hub = hub                 # the trusted hub to send to (default: the only one)\n"
    "outbox = outbox             # sealed bundles wait here for the transport\n"
    "inbox = inbox               # bundles from the hub arrive here\n"
    "quarantine = quarantine     # refused bundles from the hub, with a .reason\n"
    "import_dir = import         # update and erasure files for the CRM\n"
    "# erase_hook = /usr/local/bin/crm-erase   # run once per erased record\n"
    "# metrics_textfile = /var/lib/prometheus/node-exporter/nova-agent.prom  # run rewrites it\n"
    "erase_timeout = 60          # seconds before the hook is killed\n"
    "erase_confirm_days = 7      # without a hook: days the next full exports may still\n"
    "                            # hold an erased key before the order is reported failed\n"
    "bundle_cap = 64M            # change records per bundle, before compression\n"
    "compression_level = 1       # zstd level, 1 (fast, least memory) to 19 (small)\n"
    "settle = 2000               # ms a file must stay unchanged before it is read\n"
    "incomplete_wait = 60000     # ms, when its last line has no line end (then rejected)\n"
    "max_delete_share = 20%%     # full exports: deletes over this share of the known\n"
    "max_delete_count = 10000    # records, or this many, are withheld until\n"
    "                            # 'nova-agent accept-deletes' (per source too)\n"
    "import_delimiter = ;        # dialect of the CSV files written to import_dir\n"
    "import_encoding = utf-8\n"
    "import_formula_guard = yes  # neutralise =, +, -, @ values for spreadsheets\n"
    "import_unrepresentable = transliterate  # or utf8-file: characters the\n"
    "                            # import_encoding lacks (see README)\n"
    "import_mode = 0640          # files written to import_dir, for the CRM's import\n"
    "# import_group = crm        # their group (default: the agent's, or import_dir's\n"
    "                            # when it is setgid); keys and state stay 0600\n"
    "\n"
    "# One section per watched export directory.\n"
    "# [source contacts]\n"
    "# dir = /srv/crm/exports\n"
    "# pattern = contacts*.csv   # shell pattern of the export files\n"
    "# delimiter = auto          # , ; tab | or auto (detected from the header)\n"
    "# quote = \"\n"
    "# header = yes\n"
    "# encoding = windows-1252   # utf-8 (BOM or not), windows-1252, iso-8859-1\n"
    "# key = id                  # record key column(s), comma-separated\n"
    "# mode = full               # full snapshots (deletes detected) or delta\n"
    "# snapshot = file           # full: each file is the snapshot, or multi: the files\n"
    "# snapshot_window = 300     # written within this many seconds are one snapshot\n"
    "# snapshot_parts = 0        # multi: files one run has (0: any number)\n"
    "# max_field_lines = 100     # lines a quoted field may span\n";

const char *
nv_agent_config_template(const char *entity)
{
    static char out[sizeof(template_text) + NV_NAME_MAX];
    snprintf(out, sizeof(out), template_text, entity);
    return out;
}

static char *
trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Strip a trailing "  # comment" (a '#' after whitespace). */
static void
strip_comment(char *v)
{
    for (char *p = v; *p; p++)
        if (*p == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
}

static char *
resolve(const char *dir, const char *v)
{
    char *p;

    if (v[0] == '/')
        p = strdup(v);
    else
        p = nv_path_join(dir, v);
    if (p == NULL)
        abort();
    return p;
}

static int
parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int
parse_delim(const char *v, char *out)
{
    if (!strcasecmp(v, "auto"))
        *out = 0;
    else if (!strcasecmp(v, "tab") || !strcmp(v, "\\t"))
        *out = '\t';
    else if (strlen(v) == 1 && strchr(",;|:", v[0]) != NULL)
        *out = v[0];
    else
        return -1;
    return 0;
}

#define BAD(...) do { r = nv_fail(NV_ECONFIG, __VA_ARGS__); goto out; } while (0)

/* "20%", "0.2": a share from 0 to 1 */
static int
parse_share(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);

    if (end == v)
        return -1;
    if (*end == '%') {
        d /= 100;
        end++;
    }
    if (*end != '\0' || !(d >= 0 && d <= 1))
        return -1;
    *out = d;
    return 0;
}

static int
set_source(struct nv_source *s, const char *dir, const char *path, int line,
           const char *k, const char *v)
{
    int r = 0;

    if (!strcmp(k, "dir")) {
        if (s->dir)
            BAD("%s line %d: 'dir' given twice", path, line);
        s->dir = resolve(dir, v);
    } else if (!strcmp(k, "pattern")) {
        if (strchr(v, '/') != NULL || strstr(v, "..") != NULL)
            BAD("%s line %d: pattern must be a file-name pattern inside 'dir' (no '/' and no '..')",
                path, line);
        free(s->pattern);
        s->pattern = strdup(v);
    } else if (!strcmp(k, "snapshot")) {
        if (!strcmp(v, "file"))
            s->snapshot = NV_SNAP_FILE;
        else if (!strcmp(v, "multi"))
            s->snapshot = NV_SNAP_MULTI;
        else
            BAD("%s line %d: snapshot must be file or multi", path, line);
    } else if (!strcmp(k, "snapshot_window")) {
        uint64_t n;
        if (nv_parse_u64(v, &n) < 0 || n == 0 || n > 86400)
            BAD("%s line %d: snapshot_window must be 1..86400 seconds", path, line);
        s->snapshot_window = (unsigned)n;
    } else if (!strcmp(k, "snapshot_parts")) {
        uint64_t n;
        if (nv_parse_u64(v, &n) < 0 || n > 1000)
            BAD("%s line %d: snapshot_parts must be 0..1000", path, line);
        s->snapshot_parts = (unsigned)n;
    } else if (!strcmp(k, "max_field_lines")) {
        uint64_t n;
        if (nv_parse_u64(v, &n) < 0 || n == 0 || n > 100000)
            BAD("%s line %d: max_field_lines must be 1..100000", path, line);
        s->dialect.max_field_lines = (unsigned)n;
    } else if (!strcmp(k, "max_delete_share")) {
        if (parse_share(v, &s->max_delete_share) < 0)
            BAD("%s line %d: max_delete_share must be a share such as 20%% or 0.2", path, line);
    } else if (!strcmp(k, "max_delete_count")) {
        if (nv_parse_u64(v, &s->max_delete_count) < 0)
            BAD("%s line %d: max_delete_count must be a number (0: no limit)", path, line);
    } else if (!strcmp(k, "delimiter")) {
        if (parse_delim(v, &s->dialect.delim) < 0)
            BAD("%s line %d: delimiter must be one of , ; tab | : or auto", path, line);
    } else if (!strcmp(k, "quote")) {
        if (!strcasecmp(v, "none"))
            s->dialect.quote = 0;
        else if (strlen(v) == 1 && (v[0] == '"' || v[0] == '\''))
            s->dialect.quote = v[0];
        else
            BAD("%s line %d: quote must be \" or ' or none", path, line);
    } else if (!strcmp(k, "header")) {
        if (parse_bool(v, &s->dialect.header) < 0)
            BAD("%s line %d: header must be yes or no", path, line);
    } else if (!strcmp(k, "encoding")) {
        if ((s->dialect.encoding = nv_encoding_parse(v)) == 0)
            BAD("%s line %d: unknown encoding '%.40s' (use utf-8, windows-1252 or iso-8859-1)",
                path, line, v);
    } else if (!strcmp(k, "key")) {
        char *copy = strdup(v), *save = NULL;
        for (int i = 0; i < s->nkeycols; i++)
            free(s->keycols[i]);
        s->nkeycols = 0;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            t = trim(t);
            if (*t == '\0' || s->nkeycols == NV_MAX_KEYCOLS) {
                free(copy);
                BAD("%s line %d: key needs 1 to %d column names", path, line,
                    NV_MAX_KEYCOLS);
            }
            s->keycols[s->nkeycols++] = strdup(t);
        }
        free(copy);
        if (s->nkeycols == 0)
            BAD("%s line %d: key needs a column name", path, line);
    } else if (!strcmp(k, "mode")) {
        if (!strcmp(v, "full"))
            s->mode = NV_MODE_FULL;
        else if (!strcmp(v, "delta"))
            s->mode = NV_MODE_DELTA;
        else
            BAD("%s line %d: mode must be full or delta", path, line);
    } else {
        BAD("%s line %d: unknown setting '%.40s' in a source section", path, line, k);
    }
out:
    return r;
}

static int
set_main(struct nv_agent_config *c, const char *dir, int line, const char *k,
         const char *v)
{
    const char *path = c->path;
    uint64_t n;
    int r = 0;
    char **target = NULL;

    if (!strcmp(k, "entity")) {
        if (!nv_name_valid(v))
            BAD("%s line %d: invalid entity name", path, line);
        strcpy(c->entity, v);
    } else if (!strcmp(k, "hub")) {
        if (!nv_name_valid(v))
            BAD("%s line %d: invalid hub name", path, line);
        strcpy(c->hub, v);
    } else if (!strcmp(k, "outbox")) {
        target = &c->outbox;
    } else if (!strcmp(k, "inbox")) {
        target = &c->inbox;
    } else if (!strcmp(k, "quarantine")) {
        target = &c->quarantine;
    } else if (!strcmp(k, "import_dir")) {
        target = &c->import_dir;
    } else if (!strcmp(k, "metrics_textfile")) {
        if (v[0] != '/')
            BAD("%s line %d: metrics_textfile must be an absolute path", path, line);
        free(c->metrics_textfile);
        c->metrics_textfile = strdup(v);
    } else if (!strcmp(k, "erase_hook")) {
        free(c->erase_hook);
        c->erase_hook = strdup(v);
    } else if (!strcmp(k, "erase_timeout")) {
        if (nv_parse_u64(v, &n) < 0 || n == 0 || n > 86400)
            BAD("%s line %d: erase_timeout must be 1..86400 seconds", path, line);
        c->erase_timeout = (unsigned)n;
    } else if (!strcmp(k, "erase_confirm_days")) {
        if (nv_parse_u64(v, &n) < 0 || n > 365)
            BAD("%s line %d: erase_confirm_days must be 0..365", path, line);
        c->erase_confirm_days = (unsigned)n;
    } else if (!strcmp(k, "bundle_cap")) {
        if (nv_parse_size(v, &n) < 0 || n < 1024 || n > (4ULL << 30))
            BAD("%s line %d: bundle_cap must be a size from 1K to 4G", path, line);
        c->bundle_cap = n;
    } else if (!strcmp(k, "compression_level")) {
        if (nv_parse_u64(v, &n) < 0 || n < 1 || n > 19)
            BAD("%s line %d: compression_level must be 1..19", path, line);
        c->compression_level = (int)n;
    } else if (!strcmp(k, "settle")) {
        if (nv_parse_u64(v, &n) < 0 || n > 3600000)
            BAD("%s line %d: settle must be 0..3600000 ms", path, line);
        c->settle_ms = (unsigned)n;
    } else if (!strcmp(k, "import_delimiter")) {
        if (parse_delim(v, &c->import_dialect.delim) < 0 || c->import_dialect.delim == 0)
            BAD("%s line %d: import_delimiter must be one of , ; tab | :", path, line);
    } else if (!strcmp(k, "import_encoding")) {
        if ((c->import_dialect.encoding = nv_encoding_parse(v)) == 0)
            BAD("%s line %d: unknown import_encoding '%.40s'", path, line, v);
    } else if (!strcmp(k, "import_formula_guard")) {
        if (parse_bool(v, &c->import_dialect.formula_guard) < 0)
            BAD("%s line %d: import_formula_guard must be yes or no", path, line);
    } else if (!strcmp(k, "import_unrepresentable")) {
        if (!strcmp(v, "transliterate"))
            c->import_unrepresentable = NV_UNREP_TRANSLITERATE;
        else if (!strcmp(v, "utf8-file"))
            c->import_unrepresentable = NV_UNREP_UTF8_FILE;
        else
            BAD("%s line %d: import_unrepresentable must be transliterate or utf8-file",
                path, line);
    } else if (!strcmp(k, "import_mode")) {
        char *end;
        unsigned long m = strtoul(v, &end, 8);
        if (*v != '0' || *end != '\0' || strlen(v) != 4 || (m & 07133) != 0 ||
            (m & 0600) != 0600)
            BAD("%s line %d: import_mode must be an octal mode such as 0640 (read and write "
                "bits only, the owner's read and write included)", path, line);
        c->import_mode = (unsigned)m;
    } else if (!strcmp(k, "import_group")) {
        struct group *g = getgrnam(v);
        char *end;
        unsigned long gid = strtoul(v, &end, 10);
        if (g != NULL)
            c->import_gid = (long)g->gr_gid;
        else if (*v >= '0' && *v <= '9' && *end == '\0' && gid < 0x7fffffffUL)
            c->import_gid = (long)gid;
        else
            BAD("%s line %d: import_group '%.40s' is not a group of this system", path, line, v);
    } else if (!strcmp(k, "incomplete_wait")) {
        if (nv_parse_u64(v, &n) < 0 || n > 86400000)
            BAD("%s line %d: incomplete_wait must be 0..86400000 ms", path, line);
        c->incomplete_wait_ms = (unsigned)n;
    } else if (!strcmp(k, "max_delete_share")) {
        if (parse_share(v, &c->max_delete_share) < 0)
            BAD("%s line %d: max_delete_share must be a share such as 20%% or 0.2", path, line);
    } else if (!strcmp(k, "max_delete_count")) {
        if (nv_parse_u64(v, &c->max_delete_count) < 0)
            BAD("%s line %d: max_delete_count must be a number (0: no limit)", path, line);
    } else {
        BAD("%s line %d: unknown setting '%.40s'", path, line, k);
    }
    if (target != NULL) {
        free(*target);
        *target = resolve(dir, v);
    }
out:
    return r;
}

char *
nv_agent_config_path(const char *dir)
{
    const char *env = getenv("NOVA_AGENT_CONFIG");
    char *p;

    if (env == NULL || *env == '\0')
        return nv_path_join(dir, "agent.conf");
    if ((p = strdup(env)) == NULL)
        abort();
    return p;
}

int
nv_agent_config_load(struct nv_agent_config *c, const char *dir)
{
    struct nv_buf b = NV_BUF_INIT;
    char *s, *nl;
    int r, line = 0;
    struct nv_source *cur = NULL;
    struct {
        char name[32];
        int line;
    } given[64]; /* settings of the current section, for repeats */
    int ngiven = 0;

    memset(c, 0, sizeof(*c));
    c->path = nv_agent_config_path(dir);
    c->erase_timeout = 60;
    c->erase_confirm_days = 7;
    c->bundle_cap = 64u << 20;
    c->compression_level = 1;
    c->settle_ms = 2000;
    c->incomplete_wait_ms = NV_INCOMPLETE_WAIT_DEFAULT;
    c->max_delete_share = NV_MAX_DELETE_SHARE_DEFAULT;
    c->max_delete_count = NV_MAX_DELETE_COUNT_DEFAULT;
    c->import_unrepresentable = NV_UNREP_TRANSLITERATE;
    c->import_mode = 0640;
    c->import_gid = -1;
    c->import_dialect.formula_guard = 1;
    c->import_dialect.delim = ';';
    c->import_dialect.quote = '"';
    c->import_dialect.header = 1;
    c->import_dialect.encoding = NV_ENC_UTF8;
    if ((r = nv_read_file(c->path, CONFIG_MAX, &b)) < 0) {
        r = nv_fail_prefix(r == NV_ENOTFOUND ? NV_ECONFIG : r,
                           "cannot read the configuration");
        goto out;
    }
    {
        const char *z = memchr(b.data, '\0', b.len);
        if (z != NULL) {
            int zl = 1;
            for (const char *p = (const char *)b.data; p < z; p++)
                zl += *p == '\n';
            BAD("%s line %d: NUL byte (the file is binary or UTF-16; write it in UTF-8)",
                c->path, zl);
        }
    }
    for (s = (char *)b.data; s && *s; s = nl) {
        char *k, *v, *eq;
        nl = strchr(s, '\n');
        if (nl != NULL)
            *nl++ = '\0';
        line++;
        k = trim(s);
        if (*k == '\0' || *k == '#')
            continue;
        if (*k == '[') {
            char name[128];
            if (sscanf(k, "[source %127[^]]]", name) != 1 || !nv_name_valid(trim(name)))
                BAD("%s line %d: a section is written [source NAME] (NAME: a-z 0-9 . _ -)",
                    c->path, line);
            if (c->nsrc == NV_MAX_SOURCES)
                BAD("%s line %d: more than %d sources", c->path, line, NV_MAX_SOURCES);
            for (int i = 0; i < c->nsrc; i++)
                if (!strcmp(c->src[i].name, trim(name)))
                    BAD("%s line %d: source '%s' is defined twice", c->path, line,
                        c->src[i].name);
            cur = &c->src[c->nsrc++];
            strcpy(cur->name, trim(name));
            cur->line = line;
            cur->dialect.quote = '"';
            cur->dialect.header = 1;
            cur->dialect.encoding = NV_ENC_UTF8;
            cur->mode = NV_MODE_FULL;
            cur->snapshot = NV_SNAP_FILE;
            cur->snapshot_window = NV_SNAPSHOT_WINDOW_DEFAULT;
            cur->max_delete_share = c->max_delete_share;
            cur->max_delete_count = c->max_delete_count;
            cur->pattern = strdup("*.csv");
            ngiven = 0;
            continue;
        }
        if ((eq = strchr(k, '=')) == NULL)
            BAD("%s line %d: expected 'name = value'", c->path, line);
        *eq = '\0';
        v = eq + 1;
        strip_comment(v);
        k = trim(k);
        v = trim(v);
        if (*v == '\0')
            BAD("%s line %d: '%s' has no value", c->path, line, k);
        for (int i = 0; i < ngiven; i++)
            if (!strcmp(given[i].name, k))
                BAD("%s line %d: '%.31s' is already set on line %d%s%s (give each setting once)",
                    c->path, line, k, given[i].line, cur ? " in source " : "",
                    cur ? cur->name : "");
        if (ngiven < (int)(sizeof(given) / sizeof(given[0])) && strlen(k) < sizeof(given[0].name)) {
            strcpy(given[ngiven].name, k);
            given[ngiven++].line = line;
        }
        if (cur != NULL)
            r = set_source(cur, dir, c->path, line, k, v);
        else
            r = set_main(c, dir, line, k, v);
        if (r < 0)
            goto out;
    }
    for (int i = 0; i < c->nsrc; i++) {
        if (c->src[i].dir == NULL)
            BAD("%s line %d: source '%s' has no 'dir'", c->path, c->src[i].line,
                c->src[i].name);
        if (c->src[i].nkeycols == 0)
            BAD("%s line %d: source '%s' has no 'key' column", c->path,
                c->src[i].line, c->src[i].name);
        if (!c->src[i].dialect.header)
            BAD("%s line %d: source '%s': exports without a header row cannot name their key column",
                c->path, c->src[i].line, c->src[i].name);
    }
    if (c->outbox == NULL)
        c->outbox = nv_path_join(dir, "outbox");
    if (c->inbox == NULL)
        c->inbox = nv_path_join(dir, "inbox");
    if (c->quarantine == NULL)
        c->quarantine = nv_path_join(dir, "quarantine");
    if (c->import_dir == NULL)
        c->import_dir = nv_path_join(dir, "import");
out:
    nv_buf_release(&b);
    if (r < 0)
        nv_agent_config_release(c);
    return r;
}

void
nv_agent_config_release(struct nv_agent_config *c)
{
    free(c->path);
    free(c->outbox);
    free(c->inbox);
    free(c->import_dir);
    free(c->quarantine);
    free(c->erase_hook);
    free(c->metrics_textfile);
    for (int i = 0; i < c->nsrc; i++) {
        free(c->src[i].dir);
        free(c->src[i].pattern);
        for (int k = 0; k < c->src[i].nkeycols; k++)
            free(c->src[i].keycols[k]);
    }
    memset(c, 0, sizeof(*c));
}

static int
check_dir(FILE *f, const char *what, const char *p, int mode)
{
    struct stat st;

    if (stat(p, &st) < 0) {
        fprintf(f, "%s '%s': %s\n", what, p, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(f, "%s '%s' is not a directory\n", what, p);
        return 1;
    }
    if (access(p, mode) < 0) {
        fprintf(f, "%s '%s': %s\n", what, p, strerror(errno));
        return 1;
    }
    return 0;
}

int
nv_agent_config_check(const struct nv_agent_config *c, void *fp)
{
    FILE *f = fp;
    int n = 0;

    n += check_dir(f, "outbox", c->outbox, W_OK | X_OK);
    n += check_dir(f, "inbox", c->inbox, R_OK | W_OK | X_OK);
    n += check_dir(f, "quarantine", c->quarantine, W_OK | X_OK);
    n += check_dir(f, "import_dir", c->import_dir, W_OK | X_OK);
    if (c->erase_hook != NULL && access(c->erase_hook, X_OK) < 0) {
        fprintf(f, "erase_hook '%s' is not executable: %s\n", c->erase_hook,
                strerror(errno));
        n++;
    }
    if (c->nsrc == 0) {
        fprintf(f, "no [source NAME] section: nothing is watched\n");
        n++;
    }
    for (int i = 0; i < c->nsrc; i++) {
        char what[96];
        snprintf(what, sizeof(what), "source '%s' dir", c->src[i].name);
        n += check_dir(f, what, c->src[i].dir, R_OK | X_OK);
    }
    return n;
}
