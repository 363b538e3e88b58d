/*
 * test_lktally.c - unit tests for hub/link/lktally.c, the status counters
 * of matching: the same random history of link writes (new links, moves
 * between RCUs, deletes, review flags, in three entities), tallied link by
 * link (nv_link_tally) in one store and deferred in batches
 * (nv_link_tally_defer, nv_link_tally_flush) in another, leaves the same
 * lkre, lkrcu and lkcnt, byte for byte; and those agree with counts made
 * from the links themselves.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/fileio.h"
#include "../../hub/link/link.h"

struct env {
    char dir[64];
    MDB_env *env;
    struct nv_link_db db;
};

static void
env_open(struct env *e)
{
    MDB_txn *txn;

    snprintf(e->dir, sizeof(e->dir), "/tmp/nova-test-lktally.XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    memset(&e->db, 0, sizeof(e->db));
    assert_int_equal(mdb_env_create(&e->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(e->env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(e->env, (size_t)1 << 28), 0);
    assert_int_equal(mdb_env_open(e->env, e->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(e->env, NULL, 0, &txn), 0);
    assert_int_equal(nv_link_open(txn, &e->db), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
env_close(struct env *e)
{
    mdb_env_close(e->env);
    assert_int_equal(nv_rm_rf(e->dir), 0);
}

/* Every entry of dbi, keys and values, into b. */
static void
dump(MDB_txn *txn, MDB_dbi dbi, struct nv_buf *b)
{
    MDB_cursor *c;
    MDB_val k, v;

    assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        assert_int_equal(nv_buf_add(b, &k.mv_size, sizeof(k.mv_size)), 0);
        assert_int_equal(nv_buf_add(b, k.mv_data, k.mv_size), 0);
        assert_int_equal(nv_buf_add(b, &v.mv_size, sizeof(v.mv_size)), 0);
        assert_int_equal(nv_buf_add(b, v.mv_data, v.mv_size), 0);
    }
    mdb_cursor_close(c);
}

static void
counters(struct env *e, struct nv_buf *b)
{
    MDB_txn *txn;

    assert_int_equal(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn), 0);
    dump(txn, e->db.lkre, b);
    dump(txn, e->db.lkrcu, b);
    dump(txn, e->db.lkcnt, b);
    mdb_txn_abort(txn);
}

#define NREC 400
#define NRCU 60

static void
test_deferred_same_as_at_once(void **state)
{
    static const char *const ents[] = { "groupe", "acquis", "presse" };
    struct nv_link_val cur[NREC]; /* rcu[0] == 0: no link */
    char keys[NREC][64];
    size_t klen[NREC];
    struct env a, b;
    struct nv_buf da = NV_BUF_INIT, db = NV_BUF_INIT;
    unsigned seed = 7;

    (void)state;
    env_open(&a);
    env_open(&b);
    memset(cur, 0, sizeof(cur));
    for (int i = 0; i < NREC; i++)
        klen[i] = (size_t)snprintf(keys[i], sizeof(keys[i]), "%s%ccontacts%cC-%d",
                                   ents[i % 3], 0, 0, i);
    /* five transactions of 600 writes; the deferred store flushes at the
     * end of each (a bundle), the first one also half-way */
    for (int t = 0; t < 5; t++) {
        MDB_txn *ta, *tb;
        struct nv_link_tally_batch batch;
        assert_int_equal(mdb_txn_begin(a.env, NULL, 0, &ta), 0);
        assert_int_equal(mdb_txn_begin(b.env, NULL, 0, &tb), 0);
        nv_link_tally_batch_init(&batch);
        for (int w = 0; w < 600; w++) {
            int i = (int)(rand_r(&seed) % NREC), op = (int)(rand_r(&seed) % 10);
            struct nv_link_val nw, old = cur[i];
            const struct nv_link_val *was = old.rcu[0] ? &old : NULL, *now = &nw;
            memset(&nw, 0, sizeof(nw));
            if (op == 0 && was != NULL) {
                now = NULL; /* deleted */
            } else {
                /* a move, a new link, or the same RCU with another status;
                 * few RCUs, so that some gather several entities */
                if (op < 6 || was == NULL)
                    snprintf(nw.rcu, sizeof(nw.rcu), "R%012u", (unsigned)(rand_r(&seed) % NRCU));
                else
                    memcpy(nw.rcu, old.rcu, sizeof(nw.rcu));
                nw.status = rand_r(&seed) % 4 == 0 ? NV_LINK_REVIEW : NV_LINK_LINKED;
            }
            assert_int_equal(nv_link_tally(ta, &a.db, keys[i], klen[i], was, now), 0);
            assert_int_equal(nv_link_tally_defer(tb, &b.db, &batch, keys[i], klen[i], was, now),
                             0);
            if (t == 0 && w == 300)
                assert_int_equal(nv_link_tally_flush(tb, &b.db, &batch), 0);
            if (now == NULL)
                memset(&cur[i], 0, sizeof(cur[i]));
            else
                cur[i] = nw;
        }
        assert_int_equal(nv_link_tally_flush(tb, &b.db, &batch), 0);
        nv_link_tally_batch_release(&batch);
        assert_int_equal(mdb_txn_commit(ta), 0);
        assert_int_equal(mdb_txn_commit(tb), 0);
    }
    counters(&a, &da);
    counters(&b, &db);
    assert_true(da.len > 0);
    assert_int_equal(da.len, db.len);
    assert_memory_equal(da.data, db.data, da.len);

    /* and both tell the truth: people, entities per person, duplicates */
    {
        unsigned links[NRCU][3] = { { 0 } };
        uint64_t people = 0, multi = 0, dups = 0, review = 0, n = 0;
        uint64_t r_records, r_people, r_multi, r_dups, r_duprec, r_review;
        MDB_txn *txn;
        for (int i = 0; i < NREC; i++)
            if (cur[i].rcu[0]) {
                links[atoi(cur[i].rcu + 1)][i % 3]++;
                review += cur[i].status == NV_LINK_REVIEW;
                n++;
            }
        for (int r = 0; r < NRCU; r++) {
            unsigned ne = 0, nl = 0;
            for (int e = 0; e < 3; e++) {
                ne += links[r][e] > 0;
                nl += links[r][e];
            }
            people += ne > 0;
            multi += ne > 1;
            dups += nl > ne;
        }
        assert_int_equal(mdb_txn_begin(b.env, NULL, MDB_RDONLY, &txn), 0);
        /* the links database itself is not written here: records come
         * from it, so only the counters are compared */
        assert_int_equal(nv_link_tally_read(txn, &b.db, &r_records, &r_people, &r_multi,
                                            &r_dups, &r_duprec, &r_review), 0);
        mdb_txn_abort(txn);
        assert_int_equal(r_people, people);
        assert_int_equal(r_multi, multi);
        assert_int_equal(r_dups, dups);
        assert_int_equal(r_review, review);
        (void)n;
    }
    nv_buf_release(&da);
    nv_buf_release(&db);
    env_close(&a);
    env_close(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deferred_same_as_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
