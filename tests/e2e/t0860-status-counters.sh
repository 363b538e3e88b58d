#!/bin/sh
# status reads counters the writers keep (records, mapped, rejected and
# why, values not parsed and why, per entity; records linked, people,
# people in several entities, duplicates, records in review), not a scan:
# after every kind of write (ingest, changes, deletes, replay, erasure,
# review decisions, relink) `status --json` is byte for byte what
# `status --json --scan` (every record read) says; a store from before the
# counters gets them counted once when it is opened (schema 2).
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

. "$NOVA_ROOT/tests/bench/lib.sh"
two_entities 21 600 300 realistic || { not_ok "the scenario"; done_testing; }

# counted (the default) and scanned (--scan): the same document
agree() {
    nova-hub status H --json > counted.json 2>/dev/null &&
        nova-hub status H --json --scan > scanned.json 2>/dev/null &&
        cmp -s counted.json scanned.json
}
# an entity's figure from status --json: fig ENTITY KEY [SUBKEY]
fig() {
    python3 -c 'import json, sys
d = json.load(open("counted.json"))
e = [x for x in d["entities"] if x["entity"] == sys.argv[1]][0]
v = e[sys.argv[2]]
print(v[sys.argv[3]] if len(sys.argv) > 3 else v)' "$@"
}
scan_ingest() {
    for e in "$@"; do nova-agent scan $e >/dev/null 2>&1; mv $e/outbox/*.nova H/inbox/ 2>/dev/null; done
    nova-hub ingest H >/dev/null 2>&1
}

# values that do not parse (a month 13, an e-mail without @) and records
# the mapping rejects (a C1 control character)
awk -F, 'BEGIN { OFS = "," }
    NR > 1 && NR <= 5 { $3 = "Bad\302\205" }
    NR > 5 && NR <= 11 { $13 = "1969-13-45"; $6 = "pas-un-mail" } { print }' \
    gen/base.csv > ex-groupe/contacts.csv
scan_ingest groupe acquis
check "after the first ingest, counted = scanned" agree
check "records counted" [ "$(fig groupe records)" -gt 500 ]
check "people in several entities counted" grep -q '"in_several_entities":[1-9]' counted.json
check "records rejected" [ "$(fig groupe rejected)" = 4 ]
check "values not parsed" [ "$(fig groupe not_normalised values)" = 12 ]
check "with their reasons" grep -q "month out of range" counted.json

# changes: the rejected rows fixed, one bad date fixed, 30 rows gone (deletes)
awk -F, 'BEGIN { OFS = "," } NR > 6 && NR <= 7 { print; next }
    NR > 1 && NR <= 5 { $3 = "Fixed" } NR > 7 && NR <= 11 { $13 = "1970-01-01" }
    NR <= 570 { print }' ex-groupe/contacts.csv > x.csv && mv x.csv ex-groupe/contacts.csv
scan_ingest groupe
check "after changes and deletes, counted = scanned" agree
check "the rejects cleared" [ "$(fig groupe rejected)" = 0 ]
check "the deleted records are no longer counted" [ "$(fig groupe records)" -lt 570 ]

check "replay" sh -c 'nova-hub replay H groupe >/dev/null 2>&1'
check "after a replay, counted = scanned" agree

n_before=$(fig groupe records)
mail=$(awk -F, 'NR > 20 && $6 ~ /@/ { print $6; exit }' gen/base.csv)
check "an erasure requested" sh -c "nova-hub gdpr request H erase --email '$mail' >/dev/null 2>&1"
# the agents erase (their hook) and answer; the hub's copy goes with the answers
for e in groupe acquis; do
    sed -i 's|^settle = 0$|settle = 0\nerase_hook = /bin/true|' $e/agent.conf
    mv H/outbox/$e/*.nova $e/inbox/ 2>/dev/null
done
scan_ingest groupe acquis
check "(the request is complete)" sh -c 'nova-hub gdpr list H --json | grep -q "\"status\":\"complete\""'
check "after an erasure, counted = scanned" agree
check "(the erased person's records are gone)" [ "$(fig groupe records)" -lt "$n_before" ]

nova-hub review H list --json --limit 2 --why test > q.json 2>/dev/null
id1=$(sed -n '1s/^{"id":"\([0-9]*-[0-9]*\)".*/\1/p' q.json)
id2=$(sed -n '2s/^{"id":"\([0-9]*-[0-9]*\)".*/\1/p' q.json)
check "two review pairs to decide" [ -n "$id1" -a -n "$id2" ]
[ -n "$id1" ] && nova-hub review H accept "$id1" --by tester >/dev/null 2>&1
[ -n "$id2" ] && nova-hub review H reject "$id2" --by tester >/dev/null 2>&1
check "after review decisions, counted = scanned" agree
check "relink" sh -c 'nova-hub relink H >/dev/null 2>&1'
check "after a relink, counted = scanned" agree

# a store from before the counters: status counts them once, at open
cp counted.json before.json
check "a store without its counters (stamped before schema 2)" tool_meta H legacy
check "status migrates it" sh -c 'nova-hub status H --json > migrated.json 2>/dev/null'
same "and says what it said before" before.json migrated.json
check "counted = scanned after the migration" agree
check "stamped 3" [ "$(tool_meta H get schema)" = 3 ]
expect_status "--scan is listed in --help" 0 "status DIR \[--json\] \[--scan\]" nova-hub --help
done_testing
