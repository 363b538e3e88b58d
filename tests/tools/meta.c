/*
 * tool_meta - a test tool: read, set or delete one key of a hub store's
 * meta database (or, with --agent, of an agent state store's), to put a
 * store in the state a crash or an older or newer nova leaves (e.g. the
 * ledger head noted before the entry that a crash kept from the ledger, a
 * schema version from the future).
 *
 *   tool_meta [--agent] DIR get KEY
 *   tool_meta [--agent] DIR set KEY VALUE
 *   tool_meta [--agent] DIR del KEY
 *   tool_meta [--agent] DIR legacy   the layout from before schema versions:
 *                                    no stamp (the agent: no meta database);
 *                                    the hub's with its old "blocks" database
 *                                    and without its status counters (tally,
 *                                    lkrcu)
 *   tool_meta [--agent] DIR has-db NAME   exit 0 when the database exists
 *
 * The store is opened raw (no migration), as an older or newer nova
 * would find it.
 */
#include <stdio.h>
#include <string.h>

#include <lmdb.h>

static int
legacy(MDB_txn *txn, MDB_dbi meta, int agent)
{
    MDB_val k = { 6, (void *)"schema" }, v;
    MDB_dbi blocks, tally;
    int rc;

    if (agent)
        return mdb_drop(txn, meta, 1);
    if ((rc = mdb_del(txn, meta, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
        return rc;
    for (int i = 0; i < 2; i++) {
        if ((rc = mdb_dbi_open(txn, i ? "lkrcu" : "tally", 0, &tally)) == 0)
            rc = mdb_drop(txn, tally, 1);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
    }
    if ((rc = mdb_dbi_open(txn, "blocks", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED,
                           &blocks)) != 0)
        return rc;
    k.mv_size = 9;
    k.mv_data = (void *)"e:a@b.fr";
    v.mv_size = 8;
    v.mv_data = (void *)"\1\0\0\0\0\0\0\0";
    return mdb_put(txn, blocks, &k, &v, 0);
}

int
main(int argc, char **argv)
{
    MDB_env *env = NULL;
    MDB_dbi meta;
    MDB_txn *txn;
    MDB_val k, v;
    const char *act;
    char path[4096];
    int rc, agent = argc > 1 && strcmp(argv[1], "--agent") == 0, ro;

    argv += agent;
    argc -= agent;
    act = argc > 2 ? argv[2] : "";
    if (!((argc == 4 && (!strcmp(act, "get") || !strcmp(act, "del") ||
                         !strcmp(act, "has-db"))) ||
          (argc == 5 && !strcmp(act, "set")) || (argc == 3 && !strcmp(act, "legacy")))) {
        fprintf(stderr, "usage: tool_meta [--agent] DIR get KEY | set KEY VALUE | del KEY | "
                        "legacy | has-db NAME\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/%s", argv[1], agent ? "state" : "store");
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 64)) != 0 ||
        (rc = mdb_env_set_mapsize(env, (size_t)64 << 30)) != 0 ||
        (rc = mdb_env_open(env, path, 0, 0600)) != 0) {
        fprintf(stderr, "tool_meta: %s: %s\n", path, mdb_strerror(rc));
        return 1;
    }
    ro = !strcmp(act, "get") || !strcmp(act, "has-db");
    if ((rc = mdb_txn_begin(env, NULL, ro ? MDB_RDONLY : 0, &txn)) != 0)
        goto out;
    if ((rc = mdb_dbi_open(txn, "meta", ro ? 0 : MDB_CREATE, &meta)) != 0) {
        mdb_txn_abort(txn);
        goto out;
    }
    if (!strcmp(act, "has-db")) {
        MDB_dbi d;
        rc = mdb_dbi_open(txn, argv[3], 0, &d);
        mdb_txn_abort(txn);
        goto out;
    }
    if (!strcmp(act, "legacy")) {
        rc = legacy(txn, meta, agent);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
        goto out;
    }
    k.mv_size = strlen(argv[3]);
    k.mv_data = argv[3];
    if (!strcmp(act, "set")) {
        v.mv_size = strlen(argv[4]);
        v.mv_data = argv[4];
        rc = mdb_put(txn, meta, &k, &v, 0);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    } else if (!strcmp(act, "del")) {
        rc = mdb_del(txn, meta, &k, NULL);
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    } else {
        rc = mdb_get(txn, meta, &k, &v);
        if (rc == 0)
            printf("%.*s\n", (int)v.mv_size, (char *)v.mv_data);
        mdb_txn_abort(txn);
    }
out:
    mdb_env_close(env);
    return rc ? 1 : 0;
}
