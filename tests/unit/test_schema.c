/*
 * test_schema.c - unit tests for nv_schema_migrate and nv_schema_peek
 * (agent/state.c), the schema versions of both programs' LMDB stores: an
 * unstamped store runs every migration and is stamped, its data intact; a
 * stamped one runs only those above its version, and none when current; a
 * failing migration leaves the store as it was (one transaction); a store
 * newer than the program is refused, unchanged; the agent's state store
 * and the hub's store stamp themselves at open and refuse a newer one.
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

#include "../../agent/state.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../hub/store/store.h"

static int ran[4];
static int fail_at;

static int
put_mark(MDB_txn *txn, void *ctx, const char *key)
{
    MDB_dbi *meta = ctx;
    MDB_val k = { strlen(key), (void *)key }, v = { 1, (void *)"1" };

    return mdb_put(txn, *meta, &k, &v, 0) == 0 ? 0 : NV_ECORRUPT;
}

static int
mig1(MDB_txn *txn, void *ctx)
{
    ran[1]++;
    return fail_at == 1 ? nv_fail(NV_ECORRUPT, "no") : put_mark(txn, ctx, "m1");
}

static int
mig2(MDB_txn *txn, void *ctx)
{
    ran[2]++;
    return fail_at == 2 ? nv_fail(NV_ECORRUPT, "no") : put_mark(txn, ctx, "m2");
}

static const struct nv_migration migs[] = {
    { 1, "first", mig1 },
    { 2, "second", mig2 },
};

struct env {
    char dir[64];
    MDB_env *env;
    MDB_dbi meta;
};

static void
env_open(struct env *e)
{
    MDB_txn *txn;

    snprintf(e->dir, sizeof(e->dir), "/tmp/nova-schema.XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    assert_int_equal(mdb_env_create(&e->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(e->env, 4), 0);
    assert_int_equal(mdb_env_open(e->env, e->dir, 0, 0600), 0);
    /* data written before schema versions */
    assert_int_equal(mdb_txn_begin(e->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &e->meta), 0);
    {
        MDB_val k = { 4, (void *)"data" }, v = { 5, (void *)"kept!" };
        assert_int_equal(mdb_put(txn, e->meta, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static void
env_close(struct env *e)
{
    mdb_env_close(e->env);
    assert_int_equal(nv_rm_rf(e->dir), 0);
}

/* Migrate to known in one transaction, committed when it succeeds. */
static int
migrate(struct env *e, unsigned known, unsigned *was)
{
    MDB_txn *txn;
    int r;

    assert_int_equal(mdb_txn_begin(e->env, NULL, 0, &txn), 0);
    r = nv_schema_migrate(txn, e->meta, "test store", e->dir, known, migs, 2, &e->meta, was);
    if (r < 0)
        mdb_txn_abort(txn);
    else
        assert_int_equal(mdb_txn_commit(txn), 0);
    return r;
}

static int
has(struct env *e, const char *key)
{
    MDB_txn *txn;
    MDB_val k = { strlen(key), (void *)key }, v;
    int rc;

    assert_int_equal(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn), 0);
    rc = mdb_get(txn, e->meta, &k, &v);
    mdb_txn_abort(txn);
    return rc == 0;
}

static unsigned
stamped(struct env *e)
{
    MDB_txn *txn;
    unsigned v;

    assert_int_equal(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(nv_schema_get(txn, e->meta, &v), 0);
    mdb_txn_abort(txn);
    return v;
}

static void
test_unstamped_migrates_in_order(void **state)
{
    struct env e;
    unsigned was = 99;

    (void)state;
    memset(ran, 0, sizeof(ran));
    fail_at = 0;
    env_open(&e);
    assert_int_equal(stamped(&e), 0);
    assert_int_equal(migrate(&e, 2, &was), 0);
    assert_int_equal(was, 0);
    assert_int_equal(ran[1], 1);
    assert_int_equal(ran[2], 1);
    assert_int_equal(stamped(&e), 2);
    assert_true(has(&e, "m1") && has(&e, "m2") && has(&e, "data"));
    /* current: nothing runs again */
    assert_int_equal(migrate(&e, 2, &was), 0);
    assert_int_equal(was, 2);
    assert_int_equal(ran[1] + ran[2], 2);
    env_close(&e);
}

static void
test_runs_only_what_is_above(void **state)
{
    struct env e;
    unsigned was;

    (void)state;
    memset(ran, 0, sizeof(ran));
    fail_at = 0;
    env_open(&e);
    assert_int_equal(migrate(&e, 1, &was), 0);
    assert_int_equal(stamped(&e), 1);
    assert_int_equal(ran[1], 1);
    assert_int_equal(ran[2], 0);
    assert_int_equal(migrate(&e, 2, &was), 0);
    assert_int_equal(was, 1);
    assert_int_equal(ran[1], 1);
    assert_int_equal(ran[2], 1);
    assert_int_equal(stamped(&e), 2);
    env_close(&e);
}

static void
test_failing_migration_changes_nothing(void **state)
{
    struct env e;
    unsigned was;

    (void)state;
    memset(ran, 0, sizeof(ran));
    fail_at = 2;
    env_open(&e);
    assert_int_equal(migrate(&e, 2, &was), NV_ECORRUPT);
    assert_non_null(strstr(nv_errmsg(NV_ECORRUPT), "migration to schema 2 (second)"));
    /* migration 1 ran inside the aborted transaction: not kept */
    assert_int_equal(stamped(&e), 0);
    assert_false(has(&e, "m1"));
    assert_true(has(&e, "data"));
    /* fixed, it runs again from the start */
    fail_at = 0;
    assert_int_equal(migrate(&e, 2, &was), 0);
    assert_int_equal(was, 0);
    assert_int_equal(stamped(&e), 2);
    assert_true(has(&e, "m1") && has(&e, "m2"));
    env_close(&e);
}

static void
test_newer_is_refused(void **state)
{
    struct env e;
    unsigned was, v;
    MDB_txn *txn;
    MDB_val k = { 6, (void *)"schema" }, val = { 1, (void *)"3" };

    (void)state;
    memset(ran, 0, sizeof(ran));
    fail_at = 0;
    env_open(&e);
    assert_int_equal(mdb_txn_begin(e.env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_put(txn, e.meta, &k, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(migrate(&e, 2, &was), NV_ESCHEMA);
    assert_non_null(strstr(nv_errmsg(NV_ESCHEMA), "schema version 3, newer than this program "
                                                  "knows (2)"));
    assert_int_equal(nv_exit_status(NV_ESCHEMA), 37);
    assert_int_equal(ran[1] + ran[2], 0);
    assert_int_equal(stamped(&e), 3);
    assert_int_equal(nv_schema_peek(e.dir, &v), 0);
    assert_int_equal(v, 3);
    /* a damaged stamp is corrupt, not a version */
    val.mv_data = (void *)"x";
    assert_int_equal(mdb_txn_begin(e.env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_put(txn, e.meta, &k, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(migrate(&e, 2, &was), NV_ECORRUPT);
    env_close(&e);
    assert_int_equal(nv_schema_peek("/nonexistent/nova", &v), NV_ENOTFOUND);
}

static void
test_stores_stamp_themselves(void **state)
{
    char dir[] = "/tmp/nova-stores.XXXXXX";
    struct nv_astate a;
    struct nv_hstore h;
    char *p;
    unsigned v;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(nv_astate_open(&a, dir), 0);
    nv_astate_close(&a);
    p = nv_path_join(dir, "state");
    assert_int_equal(nv_schema_peek(p, &v), 0);
    assert_int_equal(v, NV_ASTATE_SCHEMA);
    free(p);
    memset(&h, 0, sizeof(h));
    assert_int_equal(nv_hstore_open(&h, dir), 0);
    {
        /* stamped by a newer nova: refused at open, left as it was */
        MDB_txn *txn;
        MDB_val k = { 6, (void *)"schema" }, val = { 2, (void *)"99" };
        assert_int_equal(mdb_txn_begin(h.env, NULL, 0, &txn), 0);
        assert_int_equal(mdb_put(txn, h.meta, &k, &val, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
    }
    nv_hstore_close(&h);
    assert_int_equal(nv_hstore_open(&h, dir), NV_ESCHEMA);
    p = nv_path_join(dir, "store");
    assert_int_equal(nv_schema_peek(p, &v), 0);
    assert_int_equal(v, 99);
    free(p);
    assert_int_equal(nv_rm_rf(dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unstamped_migrates_in_order),
        cmocka_unit_test(test_runs_only_what_is_above),
        cmocka_unit_test(test_failing_migration_changes_nothing),
        cmocka_unit_test(test_newer_is_refused),
        cmocka_unit_test(test_stores_stamp_themselves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
