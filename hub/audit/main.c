/*
 * nova-audit - offline verification from public keys only.  Needs no secret
 * key and never decrypts, so it never sees personal data.
 *
 *   nova-audit bundles --keys DIR|FILE... BUNDLE...
 *     container, manifest signature, payload hash of each bundle, and the
 *     sequence and hash chain of each stream among the bundles given.
 *
 *   nova-audit verify LEDGER --keys DIR|FILE... [--witness HEAD]... [BUNDLE...]
 *     the hub's ledger (a git repository): every commit's SSH signature by
 *     the hub's ledger key, every manifest signature, every stream's
 *     sequence and hash chain, and that each BUNDLE matches its entry.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sodium.h>

#include "../../formats/bundle.h"
#include "../../formats/cli.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/log.h"
#include "../../formats/stream.h"
#include "../../keys/keyring.h"
#include "../store/ledger.h"

/* Keys: a keyring file's directory (DIR/keyring) and/or identity files. */
static int
load_keys(struct nv_keyring *kr, const char *arg)
{
    struct stat st;
    struct nv_identity_pub id;
    int r;

    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        struct nv_keyring tmp;
        char *kp = nv_path_join(arg, "keyring");
        int has = nv_exists(kp);
        free(kp);
        if (has) {
            if ((r = nv_keyring_load(&tmp, arg)) < 0)
                return r;
            for (size_t i = 0; i < tmp.n; i++) {
                if (kr->n == kr->cap) {
                    kr->cap = kr->cap ? kr->cap * 2 : 16;
                    kr->e = realloc(kr->e, kr->cap * sizeof(*kr->e));
                    if (kr->e == NULL)
                        abort();
                }
                kr->e[kr->n++] = tmp.e[i];
            }
            nv_keyring_release(&tmp);
        }
        /* plus every *.pub identity file in it */
        {
            struct dirent **ents;
            int n = scandir(arg, &ents, NULL, alphasort);
            for (int i = 0; i < n; i++) {
                size_t l = strlen(ents[i]->d_name);
                if (l > 4 && strcmp(ents[i]->d_name + l - 4, ".pub") == 0) {
                    char *p = nv_path_join(arg, ents[i]->d_name);
                    if (nv_identity_pub_read(p, &id) == 0 &&
                        (r = nv_keyring_add(kr, &id, NULL, 0, 1)) < 0 &&
                        r != NV_EEXIST)
                        nv_warn("audit", "cannot add '%s': %s", p, nv_errmsg(r));
                    free(p);
                }
                free(ents[i]);
            }
            if (n > 0)
                free(ents);
        }
        return 0;
    }
    if ((r = nv_identity_pub_read(arg, &id)) < 0)
        return r;
    r = nv_keyring_add(kr, &id, NULL, 0, 1);
    return r == NV_EEXIST ? 0 : r;
}

struct item {
    const char *path;
    char sender[NV_NAME_MAX + 1], recipient[NV_NAME_MAX + 1];
    uint64_t seq;
    uint8_t id[32], prev[32];
    int has_prev, ok;
};

static int
item_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = strcmp(x->sender, y->sender);
    if (c == 0)
        c = strcmp(x->recipient, y->recipient);
    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
cmd_bundles(int argc, char **argv)
{
    struct nv_keyring kr;
    struct item *items = calloc((size_t)argc, sizeof(*items));
    const char *v;
    int n = 0, problems = 0, first = 0, r, nkeys = 0;

    memset(&kr, 0, sizeof(kr));
    if (items == NULL)
        return 3;
    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--keys", &v)) {
            if (v == NULL)
                return nv_cli_usage("--keys needs a directory or identity file");
            if ((r = load_keys(&kr, v)) < 0)
                return nv_cli_fail(r);
            nkeys++;
        } else if (argv[i][0] == '-') {
            return nv_cli_usage("unknown option '%s'", argv[i]);
        } else {
            items[n++].path = argv[i];
        }
    }
    if (nkeys == 0 || n == 0)
        return nv_cli_usage("--keys and at least one BUNDLE are required");
    for (int i = 0; i < n; i++) {
        struct nv_bundle b;
        nv_error_clear();
        r = nv_bundle_read(&b, items[i].path, 0);
        if (r == 0) {
            r = nv_bundle_verify(&b, nv_keyring_lookup, &kr);
            if (r == 0)
                r = nv_bundle_check_hash(&b);
            strcpy(items[i].sender, b.m.sender);
            strcpy(items[i].recipient, b.m.recipient);
            items[i].seq = b.m.seq;
            memcpy(items[i].id, b.id, 32);
            memcpy(items[i].prev, b.m.prev, 32);
            items[i].has_prev = b.m.has_prev;
            nv_bundle_release(&b);
        }
        if (r < 0) {
            printf("FAIL %s: %s\n", items[i].path, nv_errmsg(r));
            problems++;
            if (!first)
                first = r;
        } else {
            items[i].ok = 1;
        }
    }
    qsort(items, (size_t)n, sizeof(*items), item_cmp);
    for (int i = 0; i < n; i++) {
        const struct item *it = &items[i], *pr = i > 0 ? &items[i - 1] : NULL;
        int same = pr && pr->ok && it->ok && strcmp(pr->sender, it->sender) == 0 &&
                   strcmp(pr->recipient, it->recipient) == 0;
        if (!it->ok)
            continue;
        if (same && it->seq == pr->seq) {
            printf("FAIL stream %s->%s seq %llu: two different bundles (%s, %s)\n",
                   it->sender, it->recipient, (unsigned long long)it->seq,
                   pr->path, it->path);
            problems++;
            first = first ? first : NV_EFORK;
        } else if (same && it->seq != pr->seq + 1) {
            printf("FAIL stream %s->%s: bundles %llu to %llu are missing\n",
                   it->sender, it->recipient, (unsigned long long)pr->seq + 1,
                   (unsigned long long)it->seq - 1);
            problems++;
            first = first ? first : NV_ESEQGAP;
        } else if (same && (!it->has_prev || memcmp(it->prev, pr->id, 32) != 0)) {
            printf("FAIL stream %s->%s seq %llu: does not chain to seq %llu\n",
                   it->sender, it->recipient, (unsigned long long)it->seq,
                   (unsigned long long)pr->seq);
            problems++;
            first = first ? first : NV_EFORK;
        } else {
            char id[65];
            printf("ok   %s->%s seq %llu id %s\n", it->sender, it->recipient,
                   (unsigned long long)it->seq, nv_hex(it->id, 32, id));
        }
    }
    printf("%d bundle(s) checked, %d problem(s)\n", n, problems);
    free(items);
    free(kr.e);
    free(kr.path);
    return problems ? nv_exit_status(first) : 0;
}

static void
verify_report(void *ctx, int code, const char *msg)
{
    (void)ctx, (void)code;
    printf("FAIL %s\n", msg);
    fflush(stdout);
}

/* Check the hub's access log (accesslog.ndjson): each line names, in
 * "prev", the SHA-256 of the line before it (64 zeros for the first), so an
 * altered, inserted or removed line breaks the chain.  Lines written before
 * the log was chained (no "prev") may only come first.  Problems go to
 * stderr; *problems counts them; the head (the last line's SHA-256) is
 * printed, to compare with a copy kept elsewhere. */
static int
check_accesslog(const char *path, const char *ledger, int *problems)
{
    FILE *f = fopen(path, "re");
    char *line = NULL, prev[65], hex[65], witnessed[80];
    size_t cap = 0, no = 0, chained = 0;
    ssize_t n;
    uint8_t h[32];
    int seen = 0, r;

    if (f == NULL)
        return nv_fail_errno("cannot read '%s'", path);
    /* the head the ledger's newest commits witnessed must be a line here */
    if ((r = nv_ledger_last_trailer(ledger, "Accesslog-Head", witnessed, sizeof(witnessed))) < 0) {
        fclose(f);
        return r;
    }
    seen = witnessed[0] == '\0' || strspn(witnessed, "0") == 64;
    memset(prev, '0', 64);
    prev[64] = '\0';
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *o;
        const char *p;
        no++;
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        o = json_loadb(line, (size_t)n, 0, NULL);
        p = json_string_value(json_object_get(o, "prev"));
        if (o == NULL) {
            fprintf(stderr, "nova-audit: problem: access log line %zu is not a JSON object\n", no);
            (*problems)++;
        } else if (p == NULL) {
            if (chained > 0) {
                fprintf(stderr, "nova-audit: problem: access log line %zu is not chained "
                        "(inserted after the log was chained)\n", no);
                (*problems)++;
            }
        } else {
            if (strcmp(p, prev) != 0) {
                fprintf(stderr, "nova-audit: problem: access log line %zu does not chain to "
                        "the line before it: a line was altered, inserted or removed\n", no);
                (*problems)++;
            }
            chained++;
        }
        json_decref(o);
        crypto_hash_sha256(h, (const uint8_t *)line, (size_t)n);
        nv_hex(h, 32, hex);
        memcpy(prev, hex, 65);
        seen |= strcmp(hex, witnessed) == 0;
    }
    free(line);
    fclose(f);
    if (!seen) {
        fprintf(stderr, "nova-audit: problem: the ledger witnessed access log head %.12s, "
                "which the log no longer holds: lines were removed from its end\n", witnessed);
        (*problems)++;
    }
    printf("access log: %zu line(s), %zu chained, head %s%s\n", no, chained, prev,
           seen && witnessed[0] && strspn(witnessed, "0") != 64
               ? " (the ledger witnessed one of its lines)" : "");
    return 0;
}

static int
cmd_verify(int argc, char **argv)
{
    struct nv_keyring kr;
    struct nv_ledger_audit *a = NULL;
    const char **bundles = calloc((size_t)argc, sizeof(char *));
    const char **witness = calloc((size_t)argc, sizeof(char *));
    const char *ledger = NULL, *v, *accesslog = NULL;
    int nb = 0, nw = 0, nkeys = 0, r, commits, nbundles, problems, first, wrong = 0;
    int first_access = 0;

    memset(&kr, 0, sizeof(kr));
    if (bundles == NULL || witness == NULL) {
        free(bundles);
        free(witness);
        return 3;
    }
    for (int i = 1; i < argc; i++) {
        if (nv_opt_val(argc, argv, &i, "--accesslog", &v)) {
            if (v == NULL) {
                r = nv_cli_usage("--accesslog needs the hub's accesslog.ndjson");
                goto out;
            }
            accesslog = v;
        } else if (nv_opt_val(argc, argv, &i, "--witness", &v)) {
            if (v == NULL || strlen(v) != 40) {
                r = nv_cli_usage("--witness needs a ledger head: 40 hexadecimal digits "
                                 "(nova-agent status shows the one an agent witnessed)");
                goto out;
            }
            witness[nw++] = v;
        } else if (nv_opt_val(argc, argv, &i, "--keys", &v)) {
            if (v == NULL) {
                r = nv_cli_usage("--keys needs a directory or identity file");
                goto out;
            }
            if ((r = load_keys(&kr, v)) < 0) {
                r = nv_cli_fail(r);
                goto out;
            }
            nkeys++;
        } else if (argv[i][0] == '-') {
            r = nv_cli_usage("unknown option '%s'", argv[i]);
            goto out;
        } else if (ledger == NULL) {
            ledger = argv[i];
        } else {
            bundles[nb++] = argv[i];
        }
    }
    if (ledger == NULL || nkeys == 0) {
        r = nv_cli_usage("LEDGER and --keys are required");
        goto out;
    }
    if ((r = nv_ledger_verify(&a, ledger, &kr, verify_report, NULL)) < 0) {
        r = nv_cli_fail(r);
        goto out;
    }
    for (int i = 0; i < nb; i++) {
        struct nv_bundle b;
        nv_ledger_audit_bundle(a, bundles[i]);
        /* a head an entity witnessed in a bundle it signed */
        if (nv_bundle_read(&b, bundles[i], 0) == 0) {
            if (b.m.ledger_head[0] != '\0' && nv_ledger_holds(ledger, b.m.ledger_head) == 0) {
                fprintf(stderr, "nova-audit: problem: %s: %s witnessed ledger head %.12s, "
                        "which main no longer holds: the ledger was rolled back or "
                        "rewritten\n", bundles[i], b.m.sender, b.m.ledger_head);
                wrong++;
            }
            nv_bundle_release(&b);
        }
    }
    for (int i = 0; i < nw; i++) {
        int h = nv_ledger_holds(ledger, witness[i]);
        if (h < 0) {
            r = nv_cli_fail(h);
            goto out;
        }
        if (h == 0) {
            fprintf(stderr, "nova-audit: problem: witnessed ledger head %.12s is not in "
                    "main's history: the ledger was rolled back or rewritten\n", witness[i]);
            wrong++;
        } else {
            printf("witnessed head %.12s is in main's history\n", witness[i]);
        }
    }
    if (accesslog != NULL) {
        int before = wrong;
        if ((r = check_accesslog(accesslog, ledger, &wrong)) < 0) {
            r = nv_cli_fail(r);
            goto out;
        }
        if (wrong > before && first_access == 0)
            first_access = NV_EHASH;
    }
    nv_ledger_audit_counts(a, &commits, &nbundles, &problems, &first);
    if (first == 0 && first_access != 0)
        first = first_access;
    problems += wrong;
    if (wrong && first == 0)
        first = NV_EFORK;
    printf("%d commits, %d bundles, %d problems\n", commits, nbundles, problems);
    if (nv_ledger_audit_events(a) > 0)
        printf("%d events of the GDPR register recorded (register/)\n",
               nv_ledger_audit_events(a));
    if (nb > 0)
        printf("%d bundle file(s) checked against the ledger", nb);
    if (nb > 0 && nv_ledger_audit_erased(a) > 0)
        printf(", %d of them receipts of bundles whose payload a data subject's erasure "
               "removed (manifest, signature and file hash checked)", nv_ledger_audit_erased(a));
    if (nb > 0)
        printf("\n");
    r = problems ? nv_exit_status(first ? first : NV_ESIG) : 0;
    if (r == 0 && problems)
        r = 1;
out:
    nv_ledger_audit_free(a);
    free(bundles);
    free(witness);
    free(kr.e);
    free(kr.path);
    return r;
}

static const struct nv_cmd cmds[] = {
    { "bundles", cmd_bundles, "bundles --keys DIR|IDENTITY.pub... BUNDLE...",
      "verify bundles offline: signature, payload hash, sequence and chain" },
    { "verify", cmd_verify,
      "verify LEDGER --keys DIR|IDENTITY.pub... [--witness HEAD]... [--accesslog FILE] [BUNDLE...]",
      "verify the hub's ledger offline: commit and manifest signatures, "
      "sequences, chains, and bundle files against their entries" },
    { NULL, NULL, NULL, NULL },
};

int
main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 3;
    nv_log_init("nova-audit", NV_LOG_INFO);
    return nv_cli_main("nova-audit",
                       "nova auditor's tool: verifies bundles and the hub's ledger from public keys only",
                       cmds, argc, argv);
}
