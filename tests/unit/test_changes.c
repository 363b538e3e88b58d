/*
 * test_changes.c - unit tests for hub/store/changes.c, the store's change
 * log the data-lake export reads: seqs grow from 1, an item stamped again
 * moves to the end (one entry each), an item stamped twice in one
 * transaction keeps its first stamp, an aborted transaction leaves nothing
 * and no seq is reused, an erased record's entry becomes a tombstone
 * without its key, and reading after a cursor; a schema-2 store's
 * seq-ordered log gives its last seq to the head and is deleted.
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
#include "../../hub/store/store.h"

struct seen {
    uint64_t seq[64];
    char kind[64];
    char what[64][128];
    size_t n;
};

static int
collect(void *ctx, uint64_t seq, char kind, const char *what, size_t len)
{
    struct seen *s = ctx;

    assert_true(s->n < 64 && len < 128);
    s->seq[s->n] = seq;
    s->kind[s->n] = kind;
    memcpy(s->what[s->n], what, len);
    s->what[s->n][len] = '\0';
    /* keys hold NULs: show them as '/' */
    for (size_t i = 0; i < len; i++)
        if (s->what[s->n][i] == '\0')
            s->what[s->n][i] = '/';
    s->n++;
    return 0;
}

static void
log_since(struct nv_hstore *st, uint64_t since, struct seen *out)
{
    MDB_txn *txn;

    memset(out, 0, sizeof(*out));
    assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(nv_hstore_changes(txn, st, since, collect, out), 0);
    mdb_txn_abort(txn);
}

static uint64_t
head(struct nv_hstore *st)
{
    MDB_txn *txn;
    uint64_t h;

    assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(nv_hstore_change_head(txn, st, &h), 0);
    mdb_txn_abort(txn);
    return h;
}

/* One write transaction stamping kind + what, committed. */
static void
stamp_one(struct nv_hstore *st, char kind, const char *what, size_t len)
{
    MDB_txn *txn;

    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    assert_int_equal(nv_hstore_touch(txn, st, kind, what, len), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

#define K1 "acme\0contacts\0C-1"
#define K2 "acme\0contacts\0C-2"

static void
test_change_log(void **state)
{
    char dir[] = "/tmp/nova-test-changes.XXXXXX";
    struct nv_hstore st;
    struct seen s;
    MDB_txn *txn;

    (void)state;
    memset(&st, 0, sizeof(st));
    assert_non_null(mkdtemp(dir));
    assert_int_equal(nv_hstore_open(&st, dir), 0);
    assert_int_equal(head(&st), 0);

    /* one transaction: two records and a person; K1 twice keeps its first */
    assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
    assert_int_equal(nv_hstore_touch(txn, &st, NV_CHG_RECORD, K1, sizeof(K1) - 1), 0);
    assert_int_equal(nv_hstore_touch(txn, &st, NV_CHG_RECORD, K2, sizeof(K2) - 1), 0);
    assert_int_equal(nv_hstore_touch(txn, &st, NV_CHG_RECORD, K1, sizeof(K1) - 1), 0);
    assert_int_equal(nv_hstore_touch(txn, &st, NV_CHG_PERSON, "RAAAAAAAAAAAA", 13), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(head(&st), 3);
    log_since(&st, 0, &s);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.seq[0], 1);
    assert_int_equal(s.kind[0], 'r');
    assert_string_equal(s.what[0], "acme/contacts/C-1");
    assert_string_equal(s.what[1], "acme/contacts/C-2");
    assert_int_equal(s.kind[2], 'g');
    assert_string_equal(s.what[2], "RAAAAAAAAAAAA");

    /* an aborted transaction leaves nothing */
    assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
    assert_int_equal(nv_hstore_touch(txn, &st, NV_CHG_RECORD, K2, sizeof(K2) - 1), 0);
    mdb_txn_abort(txn);
    log_since(&st, 0, &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.what[1], "acme/contacts/C-2");

    /* K1 again, later: it moves to the end, its old entry gone; no seq is
     * used twice (the aborted one's may be skipped) */
    stamp_one(&st, NV_CHG_RECORD, K1, sizeof(K1) - 1);
    log_since(&st, 0, &s);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.what[0], "acme/contacts/C-2");
    assert_string_equal(s.what[2], "acme/contacts/C-1");
    assert_true(s.seq[2] > 3);
    assert_int_equal(head(&st), s.seq[2]);

    /* after a cursor: only what changed since */
    log_since(&st, 3, &s);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.what[0], "acme/contacts/C-1");
    log_since(&st, head(&st), &s);
    assert_int_equal(s.n, 0);

    /* K2 erased: its entry gives way to a tombstone naming its record id */
    assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
    assert_int_equal(nv_hstore_touch_erased(txn, &st, K2, sizeof(K2) - 1,
                                            "0123456789abcdef0123456789abcdef"), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    log_since(&st, 0, &s);
    assert_int_equal(s.n, 3);
    for (size_t i = 0; i < s.n; i++)
        assert_null(strstr(s.what[i], "C-2"));
    assert_int_equal(s.kind[2], 'x');
    assert_string_equal(s.what[2], "acme/contacts/0123456789abcdef0123456789abcdef");

    /* stamped again after the erasure (a key that comes back): a new entry */
    stamp_one(&st, NV_CHG_RECORD, K2, sizeof(K2) - 1);
    log_since(&st, 0, &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.what[3], "acme/contacts/C-2");

    /* the log survives a compaction, and stamping goes on after it */
    assert_int_equal(nv_hstore_compact(&st, dir), 0);
    stamp_one(&st, NV_CHG_RECORD, K1, sizeof(K1) - 1);
    log_since(&st, 0, &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.what[3], "acme/contacts/C-1");
    assert_int_equal(head(&st), s.seq[3]);

    nv_hstore_close(&st);
    assert_int_equal(nv_rm_rf(dir), 0);
}

/* A store stamped 2, with the seq-ordered log schema 2 kept: opening it
 * keeps the last seq (cursors stay valid) and deletes the old log. */
static void
test_schema2_log(void **state)
{
    char dir[] = "/tmp/nova-test-changes.XXXXXX";
    struct nv_hstore st;
    MDB_txn *txn;
    MDB_dbi old;
    struct seen s;

    (void)state;
    memset(&st, 0, sizeof(st));
    assert_non_null(mkdtemp(dir));
    assert_int_equal(nv_hstore_open(&st, dir), 0);
    stamp_one(&st, NV_CHG_RECORD, K1, sizeof(K1) - 1);
    assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "changes", MDB_CREATE, &old), 0);
    for (uint64_t q = 1; q <= 41; q += 20) {
        uint8_t b[8];
        MDB_val k = { 8, b }, v = { sizeof(K1), (void *)"r" K1 };
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(q >> (56 - 8 * i));
        assert_int_equal(mdb_put(txn, old, &k, &v, 0), 0);
    }
    {
        MDB_val k = { 6, (void *)"schema" }, v = { 1, (void *)"2" }, hk = { 12, (void *)"changes:head" };
        assert_int_equal(mdb_put(txn, st.meta, &k, &v, 0), 0);
        assert_int_equal(mdb_del(txn, st.meta, &hk, NULL), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    nv_hstore_close(&st);

    memset(&st, 0, sizeof(st));
    assert_int_equal(nv_hstore_open(&st, dir), 0);
    assert_int_equal(st.schema_was, 2);
    assert_int_equal(head(&st), 41);
    assert_int_equal(mdb_txn_begin(st.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "changes", 0, &old), MDB_NOTFOUND);
    mdb_txn_abort(txn);
    /* stamping goes on after the old log's last seq */
    stamp_one(&st, NV_CHG_RECORD, K2, sizeof(K2) - 1);
    log_since(&st, 41, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.seq[0], 42);
    assert_string_equal(s.what[0], "acme/contacts/C-2");
    nv_hstore_close(&st);
    assert_int_equal(nv_rm_rf(dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_log),
        cmocka_unit_test(test_schema2_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
