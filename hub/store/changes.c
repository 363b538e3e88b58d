/*
 * changes.c - the store's change log (store.h): a monotonic change
 * sequence that every writer of records, links, golden records and
 * erasures stamps in its own write transaction, so the data-lake export
 * (hub/export) writes only what changed since the cursor it printed last.
 *
 * chgidx: kind + what -> seq (8 bytes, big-endian), one entry per item
 * ('r' a record key, 'g' an RCU, 'x' an erased record named by its record
 * id), its latest stamp; meta "changes:head" -> the last seq given out.
 * An item stamped again has its seq overwritten in place.  The export
 * reads the items whose seq is past its cursor, in seq order.
 *
 * Cost at ingest: an item never stamped costs one put; one stamped in this
 * transaction already, one look-up; one stamped before, a look-up and an
 * overwrite of 8 bytes.  Keys keep their order in chgidx, so a new entity's
 * records are appended side by side.  (Schema 2 kept the log itself too,
 * seq -> item: re-stamping a record then deleted its old entry at a random
 * place of the log, which dirtied most of the log's pages in a bundle that
 * links to a large base.)  A record's golden record is found through its
 * link when exported, so writing a link stamps only the record; an RCU is
 * stamped itself only when it loses a member or a flag.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../formats/errors.h"
#include "../../formats/util.h"
#include "store.h"

/* The next seq of the write transaction in progress, and its first: an
 * item whose seq is at least `first` was stamped in this transaction.
 * Keyed by environment and transaction id; an aborted transaction's
 * successor may reuse its id, and then continues after its seqs (a gap,
 * never a seq used twice), and its own stamps still start at `first`'s
 * committed view. */
static struct {
    MDB_env *env;
    size_t txnid;
    uint64_t first, next;
} cur;

void
nv_hstore_change_forget(MDB_env *env)
{
    if (cur.env == env)
        memset(&cur, 0, sizeof(cur));
}

#define be64 nv_be64_put /* formats/util.h */
#define get_be64 nv_be64_get

#define HEAD_KEY "changes:head"

int
nv_hstore_change_head(MDB_txn *txn, const struct nv_hstore *s, uint64_t *head)
{
    MDB_val k = { sizeof(HEAD_KEY) - 1, (void *)HEAD_KEY }, v;
    int rc;

    *head = 0;
    if ((rc = mdb_get(txn, s->meta, &k, &v)) == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot read the change log");
    if (v.mv_size != 8)
        return nv_fail(NV_ECORRUPT, "hub store: the change log's head has a bad size");
    *head = get_be64(v.mv_data);
    return 0;
}

/* The transaction's stamp state in cur. */
static int
begin(MDB_txn *txn, const struct nv_hstore *s)
{
    uint64_t head;
    int r;

    if (cur.env == mdb_txn_env(txn) && cur.txnid == mdb_txn_id(txn))
        return 0;
    if ((r = nv_hstore_change_head(txn, s, &head)) < 0)
        return r;
    cur.env = mdb_txn_env(txn);
    cur.txnid = mdb_txn_id(txn);
    cur.first = cur.next = head + 1;
    return 0;
}

/* The head moved to seq. */
static int
put_head(MDB_txn *txn, const struct nv_hstore *s, uint64_t seq)
{
    uint8_t b[8];
    MDB_val k = { sizeof(HEAD_KEY) - 1, (void *)HEAD_KEY }, v = { 8, b };
    int rc;

    be64(b, seq);
    if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
        return nv_hmdb_fail(rc, "cannot write the change log");
    return 0;
}

/* The next seq into seq, and the head moved to it. */
static int
next_seq(MDB_txn *txn, const struct nv_hstore *s, uint8_t seq[8])
{
    be64(seq, cur.next);
    return put_head(txn, s, cur.next++);
}

int
nv_hstore_change_drop_log(MDB_txn *txn, void *ctx)
{
    const struct nv_hstore *s = ctx;
    MDB_cursor *c;
    MDB_val k, v;
    MDB_dbi dbi;
    uint64_t head;
    int rc = mdb_dbi_open(txn, "changes", 0, &dbi), r;

    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0 || (rc = mdb_cursor_open(txn, dbi, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read the old change log");
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot read the old change log");
    if (rc == 0 && k.mv_size == 8) {
        if ((r = nv_hstore_change_head(txn, s, &head)) < 0)
            return r;
        if (get_be64(k.mv_data) > head && (r = put_head(txn, s, get_be64(k.mv_data))) < 0)
            return r;
    }
    if ((rc = mdb_drop(txn, dbi, 1)) != 0)
        return nv_hmdb_fail(rc, "cannot delete the old change log");
    return 0;
}

int
nv_hstore_touch(MDB_txn *txn, const struct nv_hstore *s, char kind, const void *what,
                size_t len)
{
    uint8_t ik[1 + 512], seq[8];
    MDB_val k = { 1 + len, ik }, v = { 8, seq };
    int rc, r;

    if (len > sizeof(ik) - 1)
        return nv_fail(NV_ETOOBIG, "hub store: a change log item over 512 bytes");
    if ((r = begin(txn, s)) < 0)
        return r;
    ik[0] = (uint8_t)kind;
    memcpy(ik + 1, what, len);
    /* one look-up for an item never stamped: it goes in at the next seq;
     * an item stamped before gives its seq back */
    be64(seq, cur.next);
    rc = mdb_put(txn, s->chgidx, &k, &v, MDB_NOOVERWRITE);
    if (rc == 0)
        return next_seq(txn, s, seq);
    if (rc != MDB_KEYEXIST)
        return nv_hmdb_fail(rc, "cannot write the change log");
    if (v.mv_size != 8)
        return nv_fail(NV_ECORRUPT, "hub store: a change index entry has a bad size");
    if (get_be64(v.mv_data) >= cur.first)
        return 0; /* stamped in this transaction already */
    if ((r = next_seq(txn, s, seq)) < 0)
        return r;
    v.mv_size = 8;
    v.mv_data = seq;
    if ((rc = mdb_put(txn, s->chgidx, &k, &v, 0)) != 0)
        return nv_hmdb_fail(rc, "cannot write the change log");
    return 0;
}

int
nv_hstore_touch_erased(MDB_txn *txn, const struct nv_hstore *s, const char *key, size_t len,
                       const char *id)
{
    uint8_t ik[1 + 512];
    const char *e, *src, *rk;
    char tomb[512];
    size_t el, sl, il = strlen(id);
    MDB_val k = { 1 + len, ik };
    int r, rc;

    if (len > sizeof(ik) - 1 || len >= sizeof(tomb))
        return nv_fail(NV_ETOOBIG, "hub store: a change log item over 512 bytes");
    memcpy(tomb, key, len);
    tomb[len] = '\0';
    if (nv_hstore_key_split(tomb, len, &e, &src, &rk) < 0)
        return nv_fail(NV_EINVAL, "hub store: a record key without three parts");
    ik[0] = NV_CHG_RECORD;
    memcpy(ik + 1, key, len);
    if ((rc = mdb_del(txn, s->chgidx, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
        return nv_hmdb_fail(rc, "cannot write the change log");
    /* "entity\0source\0id": the key's place taken by the id */
    el = strlen(e);
    sl = strlen(src);
    if (el + 1 + sl + 1 + il > sizeof(tomb))
        return nv_fail(NV_ETOOBIG, "hub store: a change log item over 512 bytes");
    memmove(tomb + el + 1 + sl + 1, id, il);
    if ((r = nv_hstore_touch(txn, s, NV_CHG_ERASED, tomb, el + 1 + sl + 1 + il)) < 0)
        return r;
    sodium_memzero(tomb, sizeof(tomb));
    sodium_memzero(ik, sizeof(ik));
    return 0;
}

/* An item past the cursor: where its seq and its name are (in the map,
 * valid as long as the read transaction). */
struct chg {
    uint64_t seq;
    const char *what;
    size_t len;
};

static int
by_seq(const void *a, const void *b)
{
    const struct chg *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
nv_hstore_changes(MDB_txn *txn, const struct nv_hstore *s, uint64_t since,
                  int (*fn)(void *ctx, uint64_t seq, char kind, const char *what, size_t len),
                  void *ctx)
{
    MDB_cursor *c;
    MDB_val k, v;
    struct chg *items = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;

    if (since == UINT64_MAX)
        return 0;
    /* every item once; those past the cursor, then in seq order */
    if ((rc = mdb_cursor_open(txn, s->chgidx, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read the change log");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        if (k.mv_size < 1 || v.mv_size != 8) {
            r = nv_fail(NV_ECORRUPT, "hub store: a change log entry has a bad size");
            break;
        }
        if ((seq = get_be64(v.mv_data)) <= since)
            continue;
        if (n == cap) {
            struct chg *p = realloc(items, (cap = cap ? 2 * cap : 1024) * sizeof(*p));
            if (p == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                break;
            }
            items = p;
        }
        items[n++] = (struct chg){ seq, k.mv_data, k.mv_size };
    }
    mdb_cursor_close(c);
    if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
        r = nv_hmdb_fail(rc, "cannot read the change log");
    if (r == 0 && n > 1)
        qsort(items, n, sizeof(*items), by_seq);
    for (size_t i = 0; i < n && r == 0; i++)
        r = fn(ctx, items[i].seq, items[i].what[0], items[i].what + 1, items[i].len - 1);
    free(items);
    return r;
}
