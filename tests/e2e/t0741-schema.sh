#!/bin/sh
# Schema versions: each LMDB store is stamped; a store from before schema
# versions (no stamp; the hub's with its old "blocks" database) is migrated
# at open, its data intact; a store stamped by a newer nova is refused with
# status 37 and left as it was; `migrate --check` says where a store stands.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
export_csv exports/contacts.csv 100
nova-agent scan A >/dev/null 2>&1
mv A/outbox/*.nova H/inbox/
check "ingest" nova-hub ingest H

# the hub: a new store is stamped at once
expect_status "migrate --check on a new store" 0 "schema 3, current" nova-hub migrate H --check
check "the stamp is in the store's meta database" sh -c '[ "$(tool_meta H get schema)" = 3 ]'

# a store from before schema versions, with the old blocking index
nova-hub export H records --why test > before.ndjson 2>/dev/null
check "make the store unstamped, with a blocks database" tool_meta H legacy
check "(it has the blocks database)" tool_meta H has-db blocks
expect_status "migrate --check says it is not stamped" 0 "schema 0 \(not stamped" \
    nova-hub migrate H --check
grep -q "to schema 1: the old blocking index (blocks) deleted" "$T/.out" &&
    ok "and what the migration does" || not_ok "$(cat "$T/.out")"
check "--check changed nothing" sh -c '! tool_meta H get schema && tool_meta H has-db blocks'
expect_status "migrate migrates it" 0 "migrated from schema 0 .* to 3" nova-hub migrate H
check "stamped" sh -c '[ "$(tool_meta H get schema)" = 3 ]'
check "the blocks database is gone" sh -c '! tool_meta H has-db blocks'
nova-hub export H records --why test > after.ndjson 2>/dev/null
same "the records are intact" before.ndjson after.ndjson
expect_status "migrate again: nothing to do" 0 "current \(nothing to migrate\)" nova-hub migrate H
# any command migrates, too
check "unstamped again" tool_meta H legacy
expect_status "status opens (and migrates) it" 0 "" nova-hub status H
grep -q "migrated to schema 3" "$T/.err" && ok "and says so in its log" || not_ok "$(cat "$T/.err")"
check "stamped by status" sh -c '[ "$(tool_meta H get schema)" = 3 ]'

# a backup written by a newer nova (its store stamped 5, its SHA256SUMS
# written by stock sha256sum): restore checks the copy and refuses it
check "a backup" nova-hub backup H "$T/bk"
B=$(ls -d "$T"/bk/hub-*)
check "(stamped 5 by a newer nova)" tool_meta "$B/dir" set schema 5
rm -f "$B/dir/store/lock.mdb"
(cd "$B" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | sort | xargs sha256sum > SHA256SUMS)
expect_status "restore refuses a store newer than it knows (status 37)" 37 "schema version 5" \
    nova-hub restore "$B" H5
check "and leaves nothing" sh -c '[ ! -e H5 ] && [ -z "$(ls -A . | grep restore)" ]'

# a store from a newer nova: refused, nothing written
check "stamp it 4" tool_meta H set schema 4
sum=$(sha256sum H/store/data.mdb)
expect_status "status refuses a newer store (status 37)" 37 \
    "schema version 4, newer than this program knows \(3\)" nova-hub status H
expect_status "ingest too" 37 "newer" nova-hub ingest H
expect_status "migrate --check says so (status 37)" 37 "schema version 4" nova-hub migrate H --check
expect_status "migrate refuses it" 37 "newer" nova-hub migrate H
[ "$(sha256sum H/store/data.mdb)" = "$sum" ] && ok "the store is left as it was" ||
    not_ok "the newer store was written"
nova-hub --help 2>&1 | grep -q "37  store written by a newer version" &&
    ok "--help lists status 37" || not_ok "no 37 in --help"

# the agent: the same
expect_status "agent migrate --check" 0 "schema 1, current" nova-agent migrate A --check
check "the agent's state without its meta database (before schema versions)" \
    tool_meta --agent A legacy
check "(gone)" sh -c '! tool_meta --agent A has-db meta || true'
expect_status "agent migrate --check says not stamped" 0 "schema 0 \(not stamped" \
    nova-agent migrate A --check
expect_status "agent migrate" 0 "migrated from schema 0" nova-agent migrate A
check "stamped" sh -c '[ "$(tool_meta --agent A get schema)" = 1 ]'
export_csv exports/contacts.csv 110
check "the agent goes on from where it was" nova-agent scan A
check "bundle 2 chains to bundle 1" test -f A/outbox/acme-hub-0000000002.changes.nova
check "stamp the agent's state 3" tool_meta --agent A set schema 3
expect_status "the agent refuses a newer state store (status 37)" 37 \
    "state store .* schema version 3, newer" nova-agent scan A
expect_status "agent status too" 37 "newer" nova-agent status A
expect_status "agent migrate --check too" 37 "schema version 3" nova-agent migrate A --check
done_testing
