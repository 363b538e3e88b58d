/*
 * changes.c - the store's change log (store.h): a monotonic change
 * sequence that every writer of records, links, golden records and
 * erasures stamps in its own write transaction, so the data-lake export
 * (hub/export) writes only what changed since the cursor it printed last.
 *
 * changes: seq (8 bytes, big-endian) -> kind + what; chgidx: kind + what ->
 * seq.  Each item ('r' a record key, 'g' an RCU) has one entry, its latest:
 * a new stamp deletes the old entry and appends one.  An erased record's
 * entry is replaced by an 'x' entry that names it by its record id only.
 *
 * Cost at ingest: an item never stamped costs one put in chgidx and an
 * append to the log; one stamped in this transaction already, one look-up;
 * one stamped before, a look-up, a delete and two puts.  The next seq is
 * read once per write transaction.  A record's golden record is found
 * through its link when exported, so writing a link stamps only the
 * record; an RCU is stamped itself only when it loses a member or a flag.
 */
#include <string.h>

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

int
nv_hstore_change_head(MDB_txn *txn, const struct nv_hstore *s, uint64_t *head)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc;

    *head = 0;
    if ((rc = mdb_cursor_open(txn, s->changes, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read the change log");
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot read the change log");
    if (k.mv_size != 8)
        return nv_fail(NV_ECORRUPT, "hub store: a change log entry has a bad key");
    *head = get_be64(k.mv_data);
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

/* Append kind + what (len bytes) to the log at the next seq. */
static int
append(MDB_txn *txn, const struct nv_hstore *s, char kind, const void *what, size_t len,
       uint8_t seq[8])
{
    uint8_t buf[1 + 512];
    MDB_val k = { 8, seq }, v = { 1 + len, buf };
    int rc;

    if (len > sizeof(buf) - 1)
        return nv_fail(NV_ETOOBIG, "hub store: a change log item over 512 bytes");
    buf[0] = (uint8_t)kind;
    memcpy(buf + 1, what, len);
    be64(seq, cur.next++);
    if ((rc = mdb_put(txn, s->changes, &k, &v, MDB_APPEND)) != 0)
        return nv_hmdb_fail(rc, "cannot write the change log");
    return 0;
}

/* Remove the entry of kind + what from the index and the log; *was its seq
 * (0: none). */
static int
unindex(MDB_txn *txn, const struct nv_hstore *s, const uint8_t *ik, size_t iklen,
        uint64_t *was)
{
    MDB_val k = { iklen, (void *)ik }, v;
    int rc;

    *was = 0;
    if ((rc = mdb_get(txn, s->chgidx, &k, &v)) == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return nv_hmdb_fail(rc, "cannot read the change log");
    if (v.mv_size != 8)
        return nv_fail(NV_ECORRUPT, "hub store: a change index entry has a bad size");
    *was = get_be64(v.mv_data);
    {
        uint8_t sb[8];
        MDB_val lk = { 8, sb };
        be64(sb, *was);
        if ((rc = mdb_del(txn, s->changes, &lk, NULL)) != 0 && rc != MDB_NOTFOUND)
            return nv_hmdb_fail(rc, "cannot write the change log");
    }
    return 0;
}

int
nv_hstore_touch(MDB_txn *txn, const struct nv_hstore *s, char kind, const void *what,
                size_t len)
{
    uint8_t ik[1 + 512], seq[8];
    MDB_val k = { 1 + len, ik }, v = { 8, seq };
    uint64_t old;
    int rc, r;

    if (len > sizeof(ik) - 1)
        return nv_fail(NV_ETOOBIG, "hub store: a change log item over 512 bytes");
    if ((r = begin(txn, s)) < 0)
        return r;
    ik[0] = (uint8_t)kind;
    memcpy(ik + 1, what, len);
    /* one look-up for an item never stamped: its index entry goes in at
     * the next seq; an item stamped before gives its seq back */
    be64(seq, cur.next);
    rc = mdb_put(txn, s->chgidx, &k, &v, MDB_NOOVERWRITE);
    if (rc == 0)
        return append(txn, s, kind, what, len, seq);
    if (rc != MDB_KEYEXIST)
        return nv_hmdb_fail(rc, "cannot write the change log");
    if (v.mv_size != 8)
        return nv_fail(NV_ECORRUPT, "hub store: a change index entry has a bad size");
    if ((old = get_be64(v.mv_data)) >= cur.first)
        return 0; /* stamped in this transaction already */
    {
        uint8_t ob[8];
        MDB_val ok = { 8, ob };
        be64(ob, old);
        if ((rc = mdb_del(txn, s->changes, &ok, NULL)) != 0 && rc != MDB_NOTFOUND)
            return nv_hmdb_fail(rc, "cannot write the change log");
    }
    if ((r = append(txn, s, kind, what, len, seq)) < 0)
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
    uint8_t ik[1 + 512], seq[8];
    const char *e, *src, *rk;
    char tomb[512];
    size_t el, sl, il = strlen(id);
    uint64_t was;
    int r, rc;

    if (len > sizeof(ik) - 1 || len >= sizeof(tomb))
        return nv_fail(NV_ETOOBIG, "hub store: a change log item over 512 bytes");
    memcpy(tomb, key, len);
    tomb[len] = '\0';
    if (nv_hstore_key_split(tomb, len, &e, &src, &rk) < 0)
        return nv_fail(NV_EINVAL, "hub store: a record key without three parts");
    if ((r = begin(txn, s)) < 0)
        return r;
    ik[0] = NV_CHG_RECORD;
    memcpy(ik + 1, key, len);
    if ((r = unindex(txn, s, ik, 1 + len, &was)) < 0)
        return r;
    if (was != 0) {
        MDB_val k = { 1 + len, ik };
        if ((rc = mdb_del(txn, s->chgidx, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
            return nv_hmdb_fail(rc, "cannot write the change log");
    }
    /* "entity\0source\0id": the key's place taken by the id */
    el = strlen(e);
    sl = strlen(src);
    if (el + 1 + sl + 1 + il > sizeof(tomb))
        return nv_fail(NV_ETOOBIG, "hub store: a change log item over 512 bytes");
    memmove(tomb + el + 1 + sl + 1, id, il);
    return append(txn, s, NV_CHG_ERASED, tomb, el + 1 + sl + 1 + il, seq);
}

int
nv_hstore_changes(MDB_txn *txn, const struct nv_hstore *s, uint64_t since,
                  int (*fn)(void *ctx, uint64_t seq, char kind, const char *what, size_t len),
                  void *ctx)
{
    MDB_cursor *c;
    uint8_t sb[8];
    MDB_val k = { 8, sb }, v;
    int rc, r = 0;

    if (since == UINT64_MAX)
        return 0;
    be64(sb, since + 1);
    if ((rc = mdb_cursor_open(txn, s->changes, &c)) != 0)
        return nv_hmdb_fail(rc, "cannot read the change log");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && r == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || v.mv_size < 1) {
            r = nv_fail(NV_ECORRUPT, "hub store: a change log entry has a bad size");
            break;
        }
        r = fn(ctx, get_be64(k.mv_data), *(const char *)v.mv_data,
               (const char *)v.mv_data + 1, v.mv_size - 1);
    }
    mdb_cursor_close(c);
    if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
        r = nv_hmdb_fail(rc, "cannot read the change log");
    return r;
}
