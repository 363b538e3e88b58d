/*
 * tool_febrl - evaluate hub/match.c on the FEBRL benchmark files.
 *
 *   tool_febrl link A.csv B.csv [options]   FEBRL4: link A to B (one-to-one)
 *   tool_febrl dedup F.csv [options]        FEBRL1-3: deduplicate F
 *
 * Options:
 *   --with-dob-ssn   also use date_of_birth and soc_sec_id (as the national
 *                    id); without it: names, postcode and address only
 *   --no-address     leave out street_number + address_1 and suburb
 *   --twins-rule     keep pairs with different first names and the same
 *                    birth date apart whatever the twins test finds
 *                    (MATCH_RULE_TWINS on, MATCH_RULES_FIXED)
 *   --no-twins-rule  link them on their score whatever the test finds
 *                    (MATCH_RULE_TWINS off, MATCH_RULES_FIXED)
 *                    By default the twins test decides (match.h): FEBRL
 *                    replaces a first name and an id at random in one
 *                    record, which looks like twins pair by pair
 *   --threads N      comparison threads (default 2)
 *   --show-model     print the fitted model (JSON) on stderr
 *   --scores         print "score truth status" for every candidate pair
 *   --bench          also time match_compare + match_score alone, on one
 *                    thread, over the candidate pairs and over random pairs
 *   --errors         print the record ids of wrong links and missed pairs
 *                    on stderr (synthetic data: ids only)
 *
 * The files are the 11-column FEBRL CSVs (../shared/data/febrl/README.md):
 * fields separated by ", ", rec_id "rec-N-org" / "rec-N-dup-k".  Records
 * with the same N are the same person; N is read for scoring only, never
 * given to the matcher.  Values go through hub/normalize.h like CRM values:
 * given_name -> first, surname -> last, street_number + address_1 -> street,
 * suburb -> city, postcode (country "AU"), date_of_birth -> birth date,
 * soc_sec_id -> national id.  A value that does not normalise is missing.
 * Thresholds are the model defaults (MATCH_LINK_DEFAULT, _REVIEW_DEFAULT),
 * the same for every run.
 *
 * Prints pairwise precision, recall and F1 of the automatic links (pairs
 * inside one cluster; in link mode only pairs across the two files) over the
 * whole pair space, the pairs left for review, and pairs per second.
 * Exit 0, or 1 on a usage or read error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../formats/buf.h"
#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../hub/match/match.h"
#include "../../hub/model/normalize.h"

enum col { C_ID, C_GIVEN, C_SURNAME, C_NO, C_ADDR1, C_SUBURB, C_POSTCODE, C_DOB, C_SSN, C_N };
static const char *const col_names[C_N] = {
    "rec_id", "given_name", "surname", "street_number", "address_1", "suburb",
    "postcode", "date_of_birth", "soc_sec_id",
};

struct set {
    struct match_rec *rec;
    long *truth;   /* N of rec-N-... */
    char **id;     /* rec_id, for --errors */
    uint8_t *side; /* 0: first file, 1: second */
    size_t n, cap;
    size_t bad_values;
};

struct flags {
    int dob_ssn, address, threads, show_model, errors, scores, twins, bench;
};

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

typedef int (*norm_fn)(const char *, size_t, struct nv_buf *);

/* Normalise into b; a refused value becomes missing (counted). */
static const char *
norm(norm_fn fn, const char *v, struct nv_buf *b, size_t *bad)
{
    nv_buf_reset(b);
    if (*v == '\0')
        return NULL;
    if (fn(v, strlen(v), b) < 0) {
        (*bad)++;
        return NULL;
    }
    return b->len > 0 ? (const char *)b->data : NULL;
}

static int
norm_postcode_au(const char *in, size_t len, struct nv_buf *out)
{
    return nv_norm_postcode(in, len, "AU", out);
}

static int
add_row(struct set *s, char **f, int side, const struct flags *fl)
{
    struct nv_buf b[8] = { NV_BUF_INIT, NV_BUF_INIT, NV_BUF_INIT, NV_BUF_INIT,
                           NV_BUF_INIT, NV_BUF_INIT, NV_BUF_INIT, NV_BUF_INIT };
    struct match_person p;
    char street[512], *dash;
    int r;

    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;

        if ((s->rec = realloc(s->rec, cap * sizeof(*s->rec))) == NULL ||
            (s->truth = realloc(s->truth, cap * sizeof(*s->truth))) == NULL ||
            (s->id = realloc(s->id, cap * sizeof(*s->id))) == NULL ||
            (s->side = realloc(s->side, cap * sizeof(*s->side))) == NULL)
            return NV_ENOMEM;
        s->cap = cap;
    }
    if (strncmp(f[C_ID], "rec-", 4) != 0 || (dash = strchr(f[C_ID] + 4, '-')) == NULL)
        return nv_fail(NV_EFORMAT, "rec_id is not rec-N-...");
    s->truth[s->n] = strtol(f[C_ID] + 4, NULL, 10);
    s->id[s->n] = strdup(f[C_ID]);
    s->side[s->n] = (uint8_t)side;
    memset(&p, 0, sizeof(p));
    p.entity = side == 0 ? "a" : "b";
    p.first = norm(nv_norm_name, f[C_GIVEN], &b[0], &s->bad_values);
    p.last = norm(nv_norm_name, f[C_SURNAME], &b[1], &s->bad_values);
    p.postcode = norm(norm_postcode_au, f[C_POSTCODE], &b[2], &s->bad_values);
    if (fl->address) {
        snprintf(street, sizeof(street), "%s %s", f[C_NO], f[C_ADDR1]);
        p.street = norm(nv_norm_name, trim(street), &b[3], &s->bad_values);
        p.city = norm(nv_norm_name, f[C_SUBURB], &b[4], &s->bad_values);
    }
    if (fl->dob_ssn) {
        p.birth_date = norm(nv_norm_date, f[C_DOB], &b[5], &s->bad_values);
        p.national_id = *f[C_SSN] != '\0' ? f[C_SSN] : NULL;
    }
    r = match_rec_init(&s->rec[s->n], &p);
    for (int i = 0; i < 8; i++)
        nv_buf_release(&b[i]);
    if (r < 0)
        return r;
    s->n++;
    return 0;
}

static int
read_file(struct set *s, const char *path, int side, const struct flags *fl)
{
    struct nv_csv_dialect d = { ',', '"', 1, NV_ENC_UTF8 };
    struct nv_csv *csv = NULL;
    const struct nv_csv_row *row;
    const struct nv_csv_row *hdr;
    int idx[C_N], fd, r;
    char *f[C_N];

    if ((fd = nv_open_read(path)) < 0)
        return fd;
    if ((r = nv_csv_open(&csv, fd, &d, 0, 0)) < 0)
        goto out;
    hdr = nv_csv_header(csv);
    for (int c = 0; c < C_N; c++) {
        idx[c] = -1;
        for (size_t i = 0; i < hdr->n; i++)
            if (strcmp(trim(hdr->field[i]), col_names[c]) == 0)
                idx[c] = (int)i;
        if (idx[c] < 0) {
            r = nv_fail(NV_EFORMAT, "no column '%s'", col_names[c]);
            goto out;
        }
    }
    while ((r = nv_csv_next(csv, &row)) != 0) {
        if (r < 0) {
            fprintf(stderr, "tool_febrl: '%s': %s\n", path, nv_errmsg(r));
            if (r != NV_EFORMAT)
                goto out;
            continue;
        }
        for (int c = 0; c < C_N; c++)
            f[c] = trim(row->field[idx[c]]);
        if ((r = add_row(s, f, side, fl)) < 0)
            goto out;
    }
    r = 0;
out:
    nv_csv_free(csv);
    close(fd);
    return r;
}

struct eval {
    double truth, pred, tp, review, review_true, cand_true;
};

static int
cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return x < y ? -1 : x > y;
}

/* True pairs in the whole pair space (link: across the two files). */
static double
count_truth(const struct set *s, int link)
{
    long *k = malloc(s->n * sizeof(*k));
    double t = 0;

    for (size_t i = 0; i < s->n; i++)
        k[i] = s->truth[i] * 2 + (link ? s->side[i] : 0);
    qsort(k, s->n, sizeof(*k), cmp_long);
    for (size_t i = 0; i < s->n;) {
        size_t j = i;

        while (j < s->n && k[j] == k[i])
            j++;
        if (!link) {
            t += (double)(j - i) * (double)(j - i - 1) / 2;
        } else if ((k[i] & 1) == 0 && j < s->n && k[j] == k[i] + 1) {
            size_t e = j;

            while (e < s->n && k[e] == k[j])
                e++;
            t += (double)(j - i) * (double)(e - j);
        }
        i = j;
    }
    free(k);
    return t;
}

static int
cmp_pair(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* True pairs that blocking did not propose (needs MATCH_ALL_PAIRS). */
static void
print_unblocked(const struct set *s, const struct match_result *res, int link)
{
    uint64_t *c = malloc((res->npairs + 1) * sizeof(*c));

    for (size_t k = 0; k < res->npairs; k++)
        c[k] = (uint64_t)res->pairs[k].a << 32 | res->pairs[k].b;
    qsort(c, res->npairs, sizeof(*c), cmp_pair);
    for (size_t a = 0; a < s->n; a++)
        for (size_t b = a + 1; b < s->n; b++) {
            uint64_t key = (uint64_t)a << 32 | b;

            if (s->truth[a] != s->truth[b] || (link && s->side[a] == s->side[b]))
                continue;
            if (bsearch(&key, c, res->npairs, sizeof(*c), cmp_pair) == NULL)
                fprintf(stderr, "unblocked: %s %s\n", s->id[a], s->id[b]);
        }
    free(c);
}

/* One pair for --errors: ids, and score and levels if it was a candidate. */
static void
print_pair(const struct set *s, const struct match_result *res, const char *what,
           size_t a, size_t b, unsigned rules)
{
    size_t lo = 0, hi = res->npairs;

    if (a > b) {
        size_t t = a;

        a = b;
        b = t;
    }
    while (lo < hi) { /* pairs are sorted by (a, b) */
        size_t mid = (lo + hi) / 2;
        const struct match_pair *p = &res->pairs[mid];

        if (p->a < a || (p->a == a && p->b < b))
            lo = mid + 1;
        else
            hi = mid;
    }
    fprintf(stderr, "%s: %s %s", what, s->id[a], s->id[b]);
    if (lo < res->npairs && res->pairs[lo].a == a && res->pairs[lo].b == b) {
        const struct match_pair *p = &res->pairs[lo];

        fprintf(stderr, " score %.1f levels", p->score);
        for (int f = 0; f < MATCH_NFIELDS; f++)
            fprintf(stderr, " %c", "ecpdm"[p->cmp.level[f]]);
        fprintf(stderr, " flags %d%s", p->cmp.flags,
                match_cmp_contradicted(&p->cmp, rules) ? " contradicted" : "");
    }
    fprintf(stderr, "\n");
}

static void
evaluate(const struct set *s, const struct match_result *res, int link, int errors,
         unsigned rules, struct eval *ev)
{
    size_t *order = malloc(s->n * sizeof(*order));

    memset(ev, 0, sizeof(*ev));
    ev->truth = count_truth(s, link);
    /* pairs inside clusters: group records by cluster id */
    for (size_t i = 0; i < s->n; i++)
        order[i] = i;
    for (size_t i = 1; i < s->n; i++) { /* insertion sort by cluster id */
        size_t x = order[i], j = i;

        while (j > 0 && res->cluster[order[j - 1]] > res->cluster[x]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    for (size_t i = 0; i < s->n;) {
        size_t j = i;

        while (j < s->n && res->cluster[order[j]] == res->cluster[order[i]])
            j++;
        for (size_t x = i; x < j; x++)
            for (size_t y = x + 1; y < j; y++) {
                size_t a = order[x], b = order[y];
                int t = s->truth[a] == s->truth[b];

                if (link && s->side[a] == s->side[b])
                    continue;
                ev->pred++;
                ev->tp += t;
                if (!t && errors)
                    print_pair(s, res, "wrong link", a, b, rules);
            }
        i = j;
    }
    for (size_t k = 0; k < res->npairs; k++) {
        const struct match_pair *p = &res->pairs[k];
        int t = s->truth[p->a] == s->truth[p->b];

        ev->cand_true += t;
        if (p->status == MATCH_REVIEW) {
            ev->review++;
            ev->review_true += t;
        }
        if (errors && t && p->status != MATCH_LINK)
            print_pair(s, res, p->status == MATCH_REVIEW ? "review" : "missed", p->a, p->b,
                       rules);
    }
    if (errors)
        print_unblocked(s, res, link);
    free(order);
}

/*
 * Single-thread throughput of match_compare + match_score: over the listed
 * candidate pairs (mostly true pairs: cheap, equal values) and over random
 * pairs of different records (far apart: every comparator runs), each
 * repeated for at least half a second.
 */
static void
bench(const struct set *s, const struct match_result *res, const struct match_model *mo)
{
    struct match_cmp c;
    double t0, t, sink = 0, n;
    uint64_t x = 1;

    n = 0;
    t0 = now();
    do {
        for (size_t k = 0; k < res->npairs; k++) {
            match_compare(&s->rec[res->pairs[k].a], &s->rec[res->pairs[k].b], &c);
            sink += match_score(mo, &s->rec[res->pairs[k].a], &s->rec[res->pairs[k].b], &c);
        }
        n += (double)res->npairs;
    } while ((t = now() - t0) < 0.5 && res->npairs > 0);
    printf("  bench:      %.0f candidate pairs/s", t > 0 ? n / t : 0);
    n = 0;
    t0 = now();
    do {
        for (int k = 0; k < 100000; k++) {
            size_t a, b;

            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            a = (size_t)(x >> 33) % s->n;
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            b = (size_t)(x >> 33) % s->n;
            match_compare(&s->rec[a], &s->rec[b], &c);
            sink += match_score(mo, &s->rec[a], &s->rec[b], &c);
        }
        n += 100000;
    } while ((t = now() - t0) < 0.5);
    printf(", %.0f random pairs/s (compare + score, one thread)%s\n", n / t,
           sink == 12345.678 ? " " : "");
}

static void
usage(void)
{
    fprintf(stderr, "usage: tool_febrl link A.csv B.csv [--with-dob-ssn] [--no-address] "
                    "[--twins-rule|--no-twins-rule] [--threads N] [--bench] [--show-model] [--scores] "
                    "[--errors]\n"
                    "       tool_febrl dedup F.csv [same options]\n");
    exit(1);
}

int
main(int argc, char **argv)
{
    struct flags fl = { 0, 1, 2, 0, 0, 0, 0, 0 };
    struct set s;
    struct match_opts o;
    struct match_model mo;
    struct match_result res;
    struct eval ev;
    const char *files[2] = { NULL, NULL };
    int link, nfiles = 0, r;
    double t0, t_read, t_match, prec, rec, f1;

    memset(&s, 0, sizeof(s));
    if (argc < 3)
        usage();
    link = strcmp(argv[1], "link") == 0;
    if (!link && strcmp(argv[1], "dedup") != 0)
        usage();
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--with-dob-ssn") == 0)
            fl.dob_ssn = 1;
        else if (strcmp(argv[i], "--no-address") == 0)
            fl.address = 0;
        else if (strcmp(argv[i], "--show-model") == 0)
            fl.show_model = 1;
        else if (strcmp(argv[i], "--no-twins-rule") == 0)
            fl.twins = 1;
        else if (strcmp(argv[i], "--twins-rule") == 0)
            fl.twins = 2;
        else if (strcmp(argv[i], "--bench") == 0)
            fl.bench = 1;
        else if (strcmp(argv[i], "--scores") == 0)
            fl.scores = 1;
        else if (strcmp(argv[i], "--errors") == 0)
            fl.errors = 1;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            fl.threads = atoi(argv[++i]);
        else if (argv[i][0] == '-' || nfiles == 2)
            usage();
        else
            files[nfiles++] = argv[i];
    }
    if (nfiles != (link ? 2 : 1))
        usage();
    t0 = now();
    for (int i = 0; i < nfiles; i++)
        if ((r = read_file(&s, files[i], i, &fl)) < 0) {
            fprintf(stderr, "tool_febrl: cannot read '%s': %s\n", files[i], nv_errmsg(r));
            return 1;
        }
    t_read = now() - t0;

    match_opts_init(&o);
    o.flags = MATCH_TF | MATCH_ALL_PAIRS | (link ? MATCH_CROSS_ENTITY | MATCH_ONE_TO_ONE : 0);
    o.threads = fl.threads > 0 ? (unsigned)fl.threads : 1;
    if (fl.twins)
        o.flags |= MATCH_RULES_FIXED;
    if (fl.twins == 1)
        o.rules &= ~(unsigned)MATCH_RULE_TWINS;
    match_model_init(&mo);
    t0 = now();
    if ((r = match_batch(s.rec, s.n, &o, &mo, &res)) < 0) {
        fprintf(stderr, "tool_febrl: match: %s\n", nv_errmsg(r));
        return 1;
    }
    t_match = now() - t0;
    if (!fl.twins)
        o.rules = match_model_rules(&mo, o.rules);
    evaluate(&s, &res, link, fl.errors, o.rules, &ev);

    if (fl.show_model) {
        struct nv_buf b = NV_BUF_INIT;

        if (match_model_format(&mo, &b) == 0)
            fprintf(stderr, "%s\n", (char *)b.data);
        for (int f = 0; f < MATCH_NFIELDS; f++) {
            fprintf(stderr, "  %-12s", match_field_name(f));
            for (int l = 0; l < MATCH_NLEVELS; l++)
                fprintf(stderr, " %s m=%.4f u=%.4f w=%+.2f;", match_level_name(l), mo.m[f][l],
                        mo.u[f][l], mo.weight[f][l]);
            fprintf(stderr, "\n");
        }
        nv_buf_release(&b);
    }
    for (size_t k = 0; fl.scores && k < res.npairs; k++)
        fprintf(stderr, "score %.2f %d %d %d\n", res.pairs[k].score,
                s.truth[res.pairs[k].a] == s.truth[res.pairs[k].b], res.pairs[k].status,
                match_cmp_contradicted(&res.pairs[k].cmp, o.rules));
    prec = ev.pred > 0 ? ev.tp / ev.pred : 1.0;
    rec = ev.truth > 0 ? ev.tp / ev.truth : 1.0;
    f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
    printf("febrl %s: %zu records, %zu values not normalised, fields: names postcode%s%s%s\n",
           link ? "link" : "dedup", s.n, s.bad_values, fl.address ? " address" : "",
           fl.dob_ssn ? " dob ssn" : "",
           fl.twins == 1 ? ", twins rule off" : fl.twins == 2 ? ", twins rule on" : "");
    printf("  blocking:   %zu candidate pairs, %.0f of %.0f true pairs (recall %.4f), "
           "%zu keys over block_max skipped\n",
           res.ncandidates, ev.cand_true, ev.truth, ev.truth > 0 ? ev.cand_true / ev.truth : 1.0,
           res.nkeys_skipped);
    printf("  model:      EM %u iterations, lambda %.4f, thresholds link %.1f review %.1f bits\n",
           mo.em_iterations, mo.lambda, mo.link, mo.review);
    if (!fl.twins && mo.twins.pairs == 0)
        printf("  twins test: no pairs with ids agree on last name, birth date and address: "
               "twins rule on\n");
    else if (!fl.twins)
        printf("  twins test: %.0f pairs agree on last name, birth date and address with ids; "
               "%.0f first names apart, %.0f ids apart, %.0f both; odds ratio <= %.2f: "
               "twins rule %s\n", mo.twins.pairs, mo.twins.first, mo.twins.id, mo.twins.both,
               mo.twins.odds_hi, o.rules & MATCH_RULE_TWINS ? "on" : "lifted");
    printf("  auto-link:  %.0f pairs, %.0f true: precision %.4f recall %.4f F1 %.4f\n",
           ev.pred, ev.tp, prec, rec, f1);
    printf("  review:     %.0f pairs, %.0f true; recall with review %.4f\n", ev.review,
           ev.review_true, ev.truth > 0 ? (ev.tp + ev.review_true) / ev.truth : 1.0);
    printf("  time:       read+normalise %.3f s, match %.3f s (blocking %.3f, compare %.3f, "
           "EM %.3f, score+cluster %.3f)\n",
           t_read, t_match, res.seconds[0], res.seconds[1], res.seconds[2], res.seconds[3]);
    printf("  speed:      %.0f pairs/s compared (%u threads), %.0f pairs/s end to end\n",
           res.seconds[1] > 0 ? (double)res.ncandidates / res.seconds[1] : 0, o.threads,
           t_match > 0 ? (double)res.ncandidates / t_match : 0);
    if (fl.bench)
        bench(&s, &res, &mo);
    match_result_release(&res);
    for (size_t i = 0; i < s.n; i++) {
        match_rec_release(&s.rec[i]);
        free(s.id[i]);
    }
    free(s.rec);
    free(s.truth);
    free(s.id);
    free(s.side);
    return 0;
}
