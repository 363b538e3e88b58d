/*
 * test_eval.c - unit tests for hub/eval.c: pairwise precision, recall and
 * F1 on small hand-computed cases, records on one side only, the review
 * share, errors, the CSV readers, and a random case checked against a
 * brute-force count of every pair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../formats/buf.h"
#include "../../formats/errors.h"
#include "../../hub/match/eval.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
assert_close(double got, double want)
{
    if (got < want - 1e-12 || got > want + 1e-12)
        fail_msg("got %.15f, want %.15f", got, want);
}

/* truth for six records: persons X = {a, b, c}, Y = {d, e}, Z = {f} */
static const struct nv_eval_truth six[] = {
    { "groupe", "a", "X" }, { "groupe", "b", "X" }, { "acquis", "c", "X" },
    { "groupe", "d", "Y" }, { "acquis", "e", "Y" }, { "acquis", "f", "Z" },
};

static void
test_perfect(void **state)
{
    const struct nv_eval_link l[] = {
        { "acquis", "f", "R9", "new" }, { "groupe", "a", "R1", "linked" },
        { "groupe", "b", "R1", "linked" }, { "acquis", "c", "R1", "linked" },
        { "groupe", "d", "R2", "new" }, { "acquis", "e", "R2", "linked" },
    };
    struct nv_eval_result r;

    (void)state;
    assert_int_equal(nv_eval_compute(l, N(l), six, N(six), &r), 0);
    assert_int_equal(r.records, 6);
    assert_int_equal(r.links_only, 0);
    assert_int_equal(r.truth_only, 0);
    assert_int_equal(r.rcus, 3);
    assert_int_equal(r.persons, 3);
    assert_int_equal(r.predicted_pairs, 4); /* 3 + 1 */
    assert_int_equal(r.true_pairs, 4);
    assert_int_equal(r.correct_pairs, 4);
    assert_close(r.precision, 1);
    assert_close(r.recall, 1);
    assert_close(r.f1, 1);
    assert_int_equal(r.review, 0);
    assert_close(r.review_share, 0);
}

static void
test_mixed(void **state)
{
    /* R1 = {a, b}, R2 = {c, d, e}, R3 = {f}
     * predicted 1 + 3 = 4; true 3 + 1 = 4;
     * cells (R1,X)=2 -> 1, (R2,X)=1, (R2,Y)=2 -> 1, (R3,Z)=1: correct 2 */
    const struct nv_eval_link l[] = {
        { "groupe", "a", "R1", "linked" }, { "groupe", "b", "R1", "linked" },
        { "acquis", "c", "R2", "review" }, { "groupe", "d", "R2", "linked" },
        { "acquis", "e", "R2", "review" }, { "acquis", "f", "R3", "new" },
    };
    struct nv_eval_result r;

    (void)state;
    assert_int_equal(nv_eval_compute(l, N(l), six, N(six), &r), 0);
    assert_int_equal(r.predicted_pairs, 4);
    assert_int_equal(r.true_pairs, 4);
    assert_int_equal(r.correct_pairs, 2);
    assert_close(r.precision, 0.5);
    assert_close(r.recall, 0.5);
    assert_close(r.f1, 0.5);
    assert_int_equal(r.review, 2);
    assert_close(r.review_share, 2.0 / 6);
}

static void
test_all_merged(void **state)
{
    /* one RCU for all six: predicted C(6,2) = 15, correct = true = 4 */
    struct nv_eval_link l[N(six)];
    struct nv_eval_result r;

    (void)state;
    for (size_t i = 0; i < N(six); i++) {
        l[i].entity = six[i].entity;
        l[i].source_key = six[i].source_key;
        l[i].rcu_id = "R";
        l[i].status = NULL;
    }
    assert_int_equal(nv_eval_compute(l, N(l), six, N(six), &r), 0);
    assert_int_equal(r.predicted_pairs, 15);
    assert_int_equal(r.correct_pairs, 4);
    assert_int_equal(r.rcus, 1);
    assert_close(r.precision, 4.0 / 15);
    assert_close(r.recall, 1);
    assert_close(r.f1, 8.0 / 19); /* 2 (4/15) / (4/15 + 1) */
}

static void
test_all_apart(void **state)
{
    /* every record alone (three of them with no RCU at all): no predicted
     * pair, so precision 1, recall 0, F1 0 */
    const struct nv_eval_link l[] = {
        { "groupe", "a", "R1", NULL }, { "groupe", "b", "", NULL },
        { "acquis", "c", "R3", NULL }, { "groupe", "d", "", NULL },
        { "acquis", "e", "R5", NULL }, { "acquis", "f", NULL, NULL },
    };
    struct nv_eval_result r;

    (void)state;
    assert_int_equal(nv_eval_compute(l, N(l), six, N(six), &r), 0);
    assert_int_equal(r.rcus, 6);
    assert_int_equal(r.predicted_pairs, 0);
    assert_int_equal(r.true_pairs, 4);
    assert_close(r.precision, 1);
    assert_close(r.recall, 0);
    assert_close(r.f1, 0);
}

static void
test_one_side_only(void **state)
{
    /* the same key in two entities is two records; x is not in the truth;
     * f is never linked: pairs only over the five records on both sides */
    const struct nv_eval_link l[] = {
        { "groupe", "a", "R1", "linked" }, { "acquis", "a", "R1", "review" },
        { "groupe", "b", "R1", "linked" }, { "acquis", "c", "R1", "linked" },
        { "groupe", "d", "R2", "linked" }, { "acquis", "e", "R2", "linked" },
    };
    struct nv_eval_result r;

    (void)state;
    assert_int_equal(nv_eval_compute(l, N(l), six, N(six), &r), 0);
    assert_int_equal(r.records, 5);
    assert_int_equal(r.links_only, 1);
    assert_int_equal(r.truth_only, 1);
    assert_int_equal(r.persons, 2);
    assert_int_equal(r.predicted_pairs, 4);
    assert_int_equal(r.true_pairs, 4);
    assert_int_equal(r.correct_pairs, 4);
    assert_int_equal(r.review, 0); /* the review link is the one not in the truth */
    assert_close(r.f1, 1);
}

static void
test_empty(void **state)
{
    struct nv_eval_result r;

    (void)state;
    memset(&r, 0x55, sizeof(r));
    assert_int_equal(nv_eval_compute(NULL, 0, NULL, 0, &r), 0);
    assert_int_equal(r.records, 0);
    assert_close(r.precision, 1);
    assert_close(r.recall, 1);
    assert_close(r.f1, 1);
    assert_close(r.review_share, 0);
    assert_int_equal(nv_eval_compute(NULL, 0, six, N(six), &r), 0);
    assert_int_equal(r.truth_only, 6);
    assert_int_equal(r.true_pairs, 0);
}

static void
expect_error(const struct nv_eval_link *l, size_t nl, const struct nv_eval_truth *t,
             size_t nt, const char *needle)
{
    struct nv_eval_result r;
    int rc;

    memset(&r, 0x55, sizeof(r));
    nv_error_clear();
    rc = nv_eval_compute(l, nl, t, nt, &r);
    assert_int_equal(rc, NV_EFORMAT);
    if (strstr(nv_errmsg(rc), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", nv_errmsg(rc), needle);
    assert_int_equal(r.records, 0x5555555555555555ULL); /* untouched */
}

static void
test_errors(void **state)
{
    const struct nv_eval_truth tdup[] = {
        { "groupe", "a", "X" }, { "groupe", "b", "X" }, { "groupe", "a", "Y" },
    };
    const struct nv_eval_truth tempty[] = { { "groupe", "a", "X" }, { "groupe", "b", "" } };
    const struct nv_eval_link ldup[] = {
        { "groupe", "a", "R1", NULL }, { "groupe", "zz", "R1", NULL },
        { "groupe", "zz", "R2", NULL },
    };
    const struct nv_eval_link ldup2[] = {
        { "groupe", "a", "R1", NULL }, { "groupe", "b", "R1", NULL },
        { "groupe", "a", "R1", NULL },
    };
    const struct nv_eval_link lempty[] = { { "groupe", "", "R1", NULL } };

    (void)state;
    expect_error(NULL, 0, tdup, N(tdup),
                 "truth record 3: record repeated (first at truth record 1)");
    expect_error(NULL, 0, tempty, N(tempty), "truth record 2: empty person");
    expect_error(ldup, N(ldup), six, N(six), "link 3: record repeated (first at link 2)");
    expect_error(ldup2, N(ldup2), six, N(six), "link 3: record repeated (first at link 1)");
    expect_error(lempty, N(lempty), six, N(six), "link 1: empty source_key");
}

/* ---- files ---- */

static char tmpdir[64];

static int
setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/nova-test-eval-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *
put(const char *name, const char *text)
{
    static char path[16][128]; /* a ring: a test uses fewer at once */
    static int k;
    char *p = path[k++ & 15];
    FILE *f;

    snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return p;
}

static void
test_files(void **state)
{
    /* quoted fields (a key holding the delimiter and a quote), CRLF, an
     * extra column, the columns in another order; same case as test_mixed
     * with one link not in the truth */
    const char *truth = put("truth.csv",
        "entity,source_key,person\n"
        "groupe,a,X\n" "groupe,\"b,1\",X\n" "acquis,\"c \"\"q\"\"\",X\n"
        "groupe,d,Y\n" "acquis,e,Y\n" "acquis,f,Z\n");
    const char *links = put("links.csv",
        "status,rcu_id,score,source_key,entity\r\n"
        "linked,R1,0.9,a,groupe\r\n" "linked,R1,0.8,\"b,1\",groupe\r\n"
        "review,R2,0.5,\"c \"\"q\"\"\",acquis\r\n" "linked,R2,1,d,groupe\r\n"
        "review,R2,0.4,e,acquis\r\n" "new,R3,,f,acquis\r\n" "new,R4,,g,acquis\r\n");
    struct nv_eval_result r;

    (void)state;
    assert_int_equal(nv_eval_files(links, truth, &r), 0);
    assert_int_equal(r.records, 6);
    assert_int_equal(r.links_only, 1);
    assert_int_equal(r.truth_only, 0);
    assert_int_equal(r.predicted_pairs, 4);
    assert_int_equal(r.true_pairs, 4);
    assert_int_equal(r.correct_pairs, 2);
    assert_close(r.f1, 0.5);
    assert_int_equal(r.review, 2);
}

static void
expect_file_error(const char *links, const char *truth, int code, const char *needle)
{
    struct nv_eval_result r;
    int rc;

    nv_error_clear();
    rc = nv_eval_files(links, truth, &r);
    assert_int_equal(rc, code);
    if (strstr(nv_errmsg(rc), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", nv_errmsg(rc), needle);
}

static void
test_file_errors(void **state)
{
    char missing[128];
    const char *truth = put("t1.csv", "entity,source_key,person\ngroupe,a,X\ngroupe,b,X\n");
    const char *links;

    (void)state;
    links = put("l1.csv", "entity,source_key,status\ngroupe,a,new\n");
    expect_file_error(links, truth, NV_EFORMAT, "l1.csv' line 1: no column 'rcu_id'");
    links = put("l2.csv", "entity,source_key,rcu_id,status\ngroupe,a,R1,new\ngroupe,b,R1\n");
    expect_file_error(links, truth, NV_EFORMAT, "l2.csv': line 3:");
    links = put("l3.csv", "entity,source_key,rcu_id,status\n"
                          "groupe,a,R1,new\ngroupe,b,R1,new\ngroupe,a,R2,new\n");
    expect_file_error(links, truth, NV_EFORMAT,
                      "l3.csv' line 4: record repeated (first at line 2)");
    links = put("l4.csv", "entity,source_key,rcu_id,status\ngroupe,\"a,R1,new\n");
    expect_file_error(links, truth, NV_EFORMAT, "unbalanced quote");
    links = put("l5.csv", "entity,source_key,rcu_id,status\ngroupe,a,R1,new\n");
    truth = put("t2.csv", "entity,source_key,person\ngroupe,a,X\n\"groupe\",,X\n");
    expect_file_error(links, truth, NV_EFORMAT, "t2.csv' line 3: empty source_key");
    snprintf(missing, sizeof(missing), "%s/none.csv", tmpdir);
    expect_file_error(links, missing, NV_ENOTFOUND, "none.csv");
    truth = put("t3.csv", "");
    expect_file_error(links, truth, NV_ENOTFOUND, "empty file");
}

/* ---- against every pair, counted one by one ---- */

static void
test_brute_force(void **state)
{
    enum { NREC = 400 };
    static char keys[NREC][8], rcus[NREC][8], persons[NREC][8];
    static struct nv_eval_link l[NREC];
    static struct nv_eval_truth t[NREC];
    uint64_t x = 42, pred = 0, truep = 0, correct = 0;
    size_t nl = 0;
    struct nv_eval_result r;

    (void)state;
    for (size_t i = 0; i < NREC; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
        snprintf(persons[i], sizeof(persons[i]), "p%u", (unsigned)(x >> 33) % 150);
        /* the RCU mostly follows the person, with errors */
        if ((x >> 20) % 5 == 0)
            snprintf(rcus[i], sizeof(rcus[i]), "r%u", (unsigned)(x >> 40) % 150);
        else
            snprintf(rcus[i], sizeof(rcus[i]), "r%s", persons[i] + 1);
        t[i] = (struct nv_eval_truth){ "groupe", keys[i], persons[i] };
        if ((x >> 50) % 10 != 0) /* a tenth never linked */
            l[nl++] = (struct nv_eval_link){ "groupe", keys[i], rcus[i],
                                             (x >> 45) % 7 == 0 ? "review" : "linked" };
    }
    for (size_t i = 0; i < nl; i++)
        for (size_t j = i + 1; j < nl; j++) {
            size_t a = (size_t)atoi(l[i].source_key + 1), b = (size_t)atoi(l[j].source_key + 1);
            int same_r = strcmp(l[i].rcu_id, l[j].rcu_id) == 0;
            int same_p = strcmp(persons[a], persons[b]) == 0;
            pred += (uint64_t)same_r;
            truep += (uint64_t)same_p;
            correct += (uint64_t)(same_r && same_p);
        }
    assert_int_equal(nv_eval_compute(l, nl, t, NREC, &r), 0);
    assert_int_equal(r.records, nl);
    assert_int_equal(r.truth_only, NREC - nl);
    assert_int_equal(r.predicted_pairs, pred);
    assert_int_equal(r.true_pairs, truep);
    assert_int_equal(r.correct_pairs, correct);
    assert_true(correct > 0 && correct < pred && correct < truep);
    assert_close(r.precision, (double)correct / (double)pred);
    assert_close(r.recall, (double)correct / (double)truep);
}

static void
test_format(void **state)
{
    const struct nv_eval_link l[] = {
        { "groupe", "a", "R1", "linked" }, { "groupe", "b", "R1", "linked" },
        { "acquis", "c", "R2", "review" }, { "groupe", "d", "R2", "linked" },
        { "acquis", "e", "R2", "review" }, { "acquis", "f", "R3", "new" },
    };
    struct nv_eval_result r;
    struct nv_buf b = NV_BUF_INIT;

    (void)state;
    assert_int_equal(nv_eval_compute(l, N(l), six, N(six), &r), 0);
    assert_int_equal(nv_eval_format(&r, 0, &b), 0);
    assert_non_null(strstr((char *)b.data, "precision  0.5000\n"));
    assert_non_null(strstr((char *)b.data, "review     2 records (33.33%)\n"));
    nv_buf_reset(&b);
    assert_int_equal(nv_eval_format(&r, 1, &b), 0);
    assert_non_null(strstr((char *)b.data, "\"predicted_pairs\":4,"));
    assert_non_null(strstr((char *)b.data, "\"f1\":0.500000,"));
    assert_int_equal(b.data[b.len - 1], '\n');
    nv_buf_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perfect),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_all_merged),
        cmocka_unit_test(test_all_apart),
        cmocka_unit_test(test_one_side_only),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_brute_force),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests_name("eval", tests, setup_dir, teardown_dir);
}
