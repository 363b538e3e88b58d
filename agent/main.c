/*
 * nova-agent - the edge side: keys, trust of the hub, sealing change
 * records into signed, encrypted bundles in the outbox.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "../formats/bundle.h"
#include "../formats/cli.h"
#include "../formats/errors.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "../formats/record.h"
#include "../keys/identity.h"
#include "../keys/keyring.h"
#include "outbox.h"
#include "state.h"

static int
cmd_init(int argc, char **argv)
{
    const char *dir = NULL, *entity = NULL;
    static const char *subdirs[] = { "outbox", "outbox/.pending", "inbox",
                                     "quarantine" };
    int r;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--entity", &entity)) {
            if (entity == NULL)
                return nv_cli_usage("--entity needs a value");
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            return nv_cli_usage("too many arguments");
        }
    }
    if (dir == NULL || entity == NULL)
        return nv_cli_usage("DIR and --entity NAME are required");
    if ((r = nv_mkdir_p(dir, 0700)) < 0 ||
        (r = nv_identity_create(dir, entity, NV_ROLE_AGENT)) < 0)
        return nv_cli_fail(r);
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        char *p = nv_path_join(dir, subdirs[i]);
        r = nv_mkdir_p(p, 0700);
        free(p);
        if (r < 0)
            return nv_cli_fail(r);
    }
    printf("agent '%s' initialised in %s\n"
           "hand %s/keys/identity.pub to the hub (nova-hub enroll), and trust the hub's\n"
           "identity with: nova-agent trust %s HUB-IDENTITY.pub\n",
           entity, dir, dir, dir);
    return 0;
}

static int
cmd_trust(int argc, char **argv)
{
    const char *dir = NULL, *file = NULL;
    int force = 0;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_flag(argv, i, "--force"))
            force = 1;
        else if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else if (dir == NULL)
            dir = argv[i];
        else if (file == NULL)
            file = argv[i];
        else
            return nv_cli_usage("too many arguments");
    }
    if (file == NULL)
        return nv_cli_usage("DIR and FILE are required");
    {
        struct nv_identity_pub id;
        char kid[17];
        int r = nv_keyring_add_file(dir, file, force, NV_ROLE_HUB, &id);
        if (r < 0)
            return nv_cli_fail(r);
        nv_keyid_hex(id.sign.keyid, kid);
        printf("hub '%s' key %s is now trusted\n", id.entity, kid);
        return 0;
    }
}

/* The one hub this agent sends to. */
static const struct nv_keyring_entry *
the_hub(const struct nv_keyring *kr, int *err)
{
    const struct nv_keyring_entry *hub = NULL;

    for (size_t i = 0; i < kr->n; i++)
        if (kr->e[i].state == NV_KEY_ACTIVE && kr->e[i].id.role == NV_ROLE_HUB)
            hub = &kr->e[i];
    if (hub == NULL)
        *err = nv_fail(NV_ECONFIG, "no hub is trusted yet: run 'nova-agent trust DIR HUB-IDENTITY.pub'");
    return hub;
}

static int
seal_file(struct nv_outbox *o, const char *path, uint64_t *bad)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    int r = 0;

    if ((f = fopen(path, "re")) == NULL)
        return nv_fail_errno("cannot open '%s'", path);
    while ((n = getline(&line, &cap, f)) > 0) {
        int op;
        lineno++;
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0)
            continue;
        op = nv_record_check(line, (size_t)n);
        if (op < 0) {
            char esc[256];
            nv_warn("seal", "line %lu of '%s' rejected: %s", lineno,
                    nv_log_escape(path, esc, sizeof(esc)), nv_errmsg(op));
            (*bad)++;
            continue;
        }
        if ((r = nv_outbox_add_record(o, line, (size_t)n, op)) < 0)
            break;
    }
    if (r == 0 && ferror(f))
        r = nv_fail_errno("cannot read '%s'", path);
    free(line);
    fclose(f);
    return r;
}

static int
cmd_seal(int argc, char **argv)
{
    const char *dir = NULL, *v;
    const char **files = calloc((size_t)argc, sizeof(char *));
    int nfiles = 0, kind = NV_KIND_CHANGES, r;
    uint64_t cap = 64u << 20, bad = 0;
    struct nv_identity self;
    struct nv_keyring kr;
    struct nv_astate st;
    struct nv_outbox o;

    memset(&o, 0, sizeof(o));
    if (files == NULL)
        return nv_cli_fail(nv_fail(NV_ENOMEM, "out of memory"));
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (nv_opt_val(argc, argv, &i, "--cap", &v)) {
            if (v == NULL || nv_parse_size(v, &cap) < 0 || cap < 1024)
                bad = nv_cli_usage("--cap needs a size of at least 1K (e.g. 64M)");
        } else if (nv_opt_val(argc, argv, &i, "--kind", &v)) {
            if (v == NULL || (kind = nv_kind_parse(v)) == 0)
                bad = nv_cli_usage("--kind must be changes or acks");
        } else if (nv_opt_val(argc, argv, &i, "--level", &v)) {
            if (v == NULL || (o.zstd_level = atoi(v)) < 1 || o.zstd_level > 19)
                bad = nv_cli_usage("--level must be 1..19");
        } else if (argv[i][0] == '-') {
            bad = nv_cli_usage("unknown option '%s'", argv[i]);
        } else if (dir == NULL) {
            dir = argv[i];
        } else {
            files[nfiles++] = argv[i];
        }
        if (bad) {
            free(files);
            return bad;
        }
    }
    if (dir == NULL || nfiles == 0) {
        free(files);
        return nv_cli_usage("DIR and at least one FILE are required");
    }
    if ((r = nv_identity_load(dir, &self)) < 0) {
        free(files);
        return nv_cli_fail(r);
    }
    if ((r = nv_keyring_load(&kr, dir)) < 0) {
        nv_identity_release(&self);
        free(files);
        return nv_cli_fail(r);
    }
    o.dir = dir;
    o.self = &self;
    o.cap = cap;
    if ((o.peer = the_hub(&kr, &r)) == NULL)
        goto out;
    if ((r = nv_astate_open(&st, dir)) < 0)
        goto out;
    o.state = &st;
    if ((r = nv_outbox_recover(dir, &st)) < 0 ||
        (r = nv_outbox_begin(&o, kind)) < 0)
        goto out_state;
    for (int i = 0; i < nfiles && r == 0; i++)
        r = seal_file(&o, files[i], &bad);
    if (r == 0) {
        nv_outbox_add_rejects(&o, bad);
        r = nv_outbox_end(&o);
    } else {
        nv_outbox_abort(&o);
    }
out_state:
    nv_astate_close(&st);
out:
    nv_keyring_release(&kr);
    nv_identity_release(&self);
    free(files);
    if (r < 0)
        return nv_cli_fail(r);
    printf("%u bundle(s) written to %s/outbox (%llu rejected lines)\n", o.bundles,
           dir, (unsigned long long)bad);
    return 0;
}

static int
cmd_status(int argc, char **argv)
{
    struct nv_identity_pub pub;
    struct nv_keyring kr;
    struct nv_astate st;
    struct nv_stream_state ss;
    const struct nv_keyring_entry *hub;
    char kid[17], *p, key[80];
    int json = 0, r, e = 0;
    const char *dir = NULL;
    MDB_txn *txn;

    for (int i = 1; i < argc; i++) {
        if (nv_opt_flag(argv, i, "--json"))
            json = 1;
        else if (argv[i][0] == '-')
            return nv_cli_usage("unknown option '%s'", argv[i]);
        else
            dir = argv[i];
    }
    if (dir == NULL)
        return nv_cli_usage("DIR is required");
    p = nv_path_join(dir, "keys/identity.pub");
    r = nv_identity_pub_read(p, &pub);
    free(p);
    if (r < 0)
        return nv_cli_fail(r);
    if ((r = nv_keyring_load(&kr, dir)) < 0)
        return nv_cli_fail(r);
    hub = the_hub(&kr, &e);
    memset(&ss, 0, sizeof(ss));
    if (hub != NULL && (r = nv_astate_open(&st, dir)) == 0) {
        snprintf(key, sizeof(key), "out:%s", hub->id.entity);
        if (mdb_txn_begin(st.env, NULL, MDB_RDONLY, &txn) == 0) {
            r = nv_astate_stream_get(txn, &st, key, &ss);
            mdb_txn_abort(txn);
        }
        nv_astate_close(&st);
    }
    nv_keyid_hex(pub.sign.keyid, kid);
    if (json)
        printf("{\"entity\":\"%s\",\"key_id\":\"%s\",\"hub\":%s%s%s,\"sent_seq\":%llu}\n",
               pub.entity, kid, hub ? "\"" : "", hub ? hub->id.entity : "null",
               hub ? "\"" : "", (unsigned long long)ss.seq);
    else
        printf("entity:   %s\nkey id:   %s\nhub:      %s\nsent seq: %llu\n",
               pub.entity, kid, hub ? hub->id.entity : "(none trusted)",
               (unsigned long long)ss.seq);
    nv_keyring_release(&kr);
    return r < 0 ? nv_cli_fail(r) : 0;
}

static int
cmd_rotate(int argc, char **argv)
{
    int r;

    if (argc != 2 || argv[1][0] == '-')
        return nv_cli_usage("DIR is required");
    if ((r = nv_identity_rotate(argv[1])) < 0)
        return nv_cli_fail(r);
    printf("new keys in %s/keys; hand keys/identity.pub and keys/identity.pub.minisig to the hub (nova-hub enroll)\n",
           argv[1]);
    return 0;
}

static const struct nv_cmd cmds[] = {
    { "init", cmd_init, "init DIR --entity NAME",
      "create the agent's keys and directories in DIR" },
    { "trust", cmd_trust, "trust DIR HUB-IDENTITY.pub [--force]",
      "trust the hub's public identity (a rotated one must carry its .minisig)" },
    { "seal", cmd_seal, "seal DIR [--cap SIZE] [--level N] FILE.ndjson...",
      "seal change records (one JSON object per line) into bundles in DIR/outbox" },
    { "status", cmd_status, "status DIR [--json]", "show identity and stream state" },
    { "rotate", cmd_rotate, "rotate DIR",
      "replace the agent's keys; the new identity is signed by the old key" },
    { NULL, NULL, NULL, NULL },
};

int
main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "nova-agent: error: cannot initialise libsodium\n");
        return 3;
    }
    umask(077);
    nv_log_init("nova-agent", NV_LOG_INFO);
    return nv_cli_main("nova-agent",
                       "nova edge agent: ships CRM changes to the hub as signed, encrypted bundles",
                       cmds, argc, argv);
}
