/*
 * tool_meta - a test tool: read or set one key of a hub store's meta
 * database, to put a store in the state a crash leaves (e.g. the ledger
 * head noted before the entry that a crash kept from the ledger).
 *
 *   tool_meta HUBDIR get KEY
 *   tool_meta HUBDIR set KEY VALUE
 */
#include <stdio.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../hub/store/store.h"

int
main(int argc, char **argv)
{
    struct nv_hstore s;
    MDB_txn *txn;
    MDB_val k, v;
    int r, rc, set;

    if (argc < 4 || (strcmp(argv[2], "get") != 0 && strcmp(argv[2], "set") != 0) ||
        (strcmp(argv[2], "set") == 0) != (argc == 5)) {
        fprintf(stderr, "usage: tool_meta HUBDIR get KEY | set KEY VALUE\n");
        return 2;
    }
    set = strcmp(argv[2], "set") == 0;
    memset(&s, 0, sizeof(s));
    if ((r = nv_hstore_open(&s, argv[1])) < 0) {
        fprintf(stderr, "tool_meta: %s\n", nv_errmsg(r));
        return 1;
    }
    k.mv_size = strlen(argv[3]);
    k.mv_data = argv[3];
    if ((rc = mdb_txn_begin(s.env, NULL, set ? 0 : MDB_RDONLY, &txn)) != 0) {
        nv_hstore_close(&s);
        return 1;
    }
    if (set) {
        v.mv_size = strlen(argv[4]);
        v.mv_data = argv[4];
        rc = mdb_put(txn, s.meta, &k, &v, 0);
        rc = rc ? rc : mdb_txn_commit(txn);
    } else {
        rc = mdb_get(txn, s.meta, &k, &v);
        if (rc == 0)
            printf("%.*s\n", (int)v.mv_size, (char *)v.mv_data);
        mdb_txn_abort(txn);
    }
    nv_hstore_close(&s);
    return rc ? 1 : 0;
}
