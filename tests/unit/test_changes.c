/*
 * test_changes.c - unit tests for hub/store/changes.c, the store's change
 * log the data-lake export reads: seqs grow from 1, an item stamped again
 * moves to the end (one entry each), an item stamped twice in one
 * transaction keeps its first stamp, an aborted transaction leaves nothing
 * and no seq is reused, an erased record's entry becomes a tombstone
 * without its key, and reading after a cursor.
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
