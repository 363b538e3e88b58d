#!/bin/sh
# Retention of received/: `nova-hub prune --received-days N` merges, per
# entity, the payloads applied more than N days ago into one base (the last
# line of each record, deletes included) under the newest one's sequence
# number.  Replay reads the base as it read them: after a new mapping, a
# pruned hub and its unpruned copy (a backup restored) hold the same
# records.  The ledger still verifies; prune again finds nothing to merge.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
day=86400
t0=1767225600
ship_at() {   # ship_at DAY: scan, carry, ingest with the hub's clock at t0 + DAY days
    nova-agent scan A >/dev/null 2>&1
    for b in A/outbox/*.nova; do [ -e "$b" ] && mv "$b" H/inbox/; done
    NOVA_NOW=$((t0 + $1 * day)) nova-hub ingest H >/dev/null 2>&1
}
export_csv exports/contacts.csv 200;      ship_at 0
export_csv exports/contacts.csv 200 b;    ship_at 1    # 20 changed
export_csv exports/contacts.csv 190 c;    ship_at 2    # 10 deleted, 19 changed
export_csv exports/contacts.csv 195 d;    ship_at 10   # 5 back, 19 changed
check "four bundles applied" sh -c '[ "$(ls H/received/acme | wc -l)" = 4 ]'
hub_records H contacts > got.txt
tool_replay export contacts id exports/contacts.csv > want.txt
same "before the prune the hub holds the last export" got.txt want.txt

check "keep an unpruned copy (backup, restore)" sh -c \
    "nova-hub backup H '$T/bk' >/dev/null && nova-hub restore '$T'/bk/hub-* H2 >/dev/null"

expect_status "prune --received-days 5 (day 10)" 0 \
    "3 payload\(s\) applied more than 5 day\(s\) ago merged into the base of 1 entity \(200 lines kept of [0-9]+" \
    env NOVA_NOW=$((t0 + 10 * day)) nova-hub prune H --received-days 5
[ "$(ls H/received/acme | tr '\n' ' ')" = "0000000003 0000000004 " ] &&
    ok "received/acme keeps the base (at seq 3) and bundle 4" || not_ok "received/acme: $(ls H/received/acme)"
check "no staging left" sh -c '[ -z "$(ls -A H/received | grep "^\.")" ]'
grep -c '"op":"delete"' H/received/acme/0000000003/changes-000001.ndjson | grep -qx 10 &&
    ok "the base keeps the 10 deletes" || not_ok "deletes in the base: $(grep -c delete H/received/acme/0000000003/*)"
hub_records H contacts > got.txt
same "the base and bundle 4 replay to the last export" got.txt want.txt
expect_status "prune again: nothing older to merge" 0 "0 payload\(s\)" \
    env NOVA_NOW=$((t0 + 10 * day)) nova-hub prune H --received-days 5
expect_status "prune --received-days 0 merges bundle 4 too" 0 "2 payload\(s\)" \
    env NOVA_NOW=$((t0 + 11 * day)) nova-hub prune H --received-days 0
[ "$(ls H/received/acme | tr '\n' ' ')" = "0000000004 " ] && ok "one base, at seq 4" ||
    not_ok "received/acme: $(ls H/received/acme)"
hub_records H contacts > got.txt
same "still the last export" got.txt want.txt

# a mapping after the prune: replay maps every record, as on the unpruned copy
cat > acme.map <<'MAP'
nova-mapping 1
entity acme
key id
field first_name prenom
field last_name nom
field email email
field city ville
MAP
for h in H H2; do
    nova-hub mapping set $h acme acme.map --author "T <t@example.org>" -m test >/dev/null 2>&1
    nova-hub replay $h acme >/dev/null 2>&1 || not_ok "replay $h"
    nova-hub export $h records --why test 2>/dev/null |
        sed 's/"seq":[0-9]*,//; s/"mapping":"[0-9a-f]*",//; s/"rcu":"[^"]*",//' | sort > $h.ndjson
done
[ "$(wc -l < H.ndjson)" = 195 ] && grep -q '"common":{"city"' H.ndjson && ok "replay after the prune maps the 195 records" ||
    not_ok "$(wc -l < H.ndjson) records; $(head -1 H.ndjson)"
same "the pruned hub and its unpruned copy hold the same records" H.ndjson H2.ndjson
expect_status "the ledger verifies after the prune" 0 " 0 problems" \
    nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub H/archive/*.nova
# archive/ pruned too: the ledger alone still verifies, and what remains of
# archive/ verifies against it
for i in 1 2 3; do touch -d @$((t0 + (i - 1) * day)) H/archive/acme-hub-000000000$i.changes.nova; done
touch -d @$((t0 + 10 * day)) H/archive/acme-hub-0000000004.changes.nova
expect_status "prune --archive-days 3 (day 12)" 0 "3 applied bundle\(s\) older than 3 day" \
    env NOVA_NOW=$((t0 + 12 * day)) nova-hub prune H --archive-days 3
[ "$(ls H/archive | tr '\n' ' ')" = "acme-hub-0000000004.changes.nova " ] &&
    ok "archive/ keeps the bundle of day 10" || not_ok "archive/: $(ls H/archive)"
expect_status "the ledger verifies on its own" 0 " 0 problems" \
    nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub
check "... and still holds the 4 bundles received" sh -c \
    '[ "$(git -C H/ledger ls-tree --name-only main:streams/acme/hub | wc -l)" = 4 ]'
expect_status "and with the bundle archive/ kept" 0 " 0 problems" \
    nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub H/archive/*.nova
expect_status "--received-days needs a number" 2 "number of days" nova-hub prune H --received-days x
done_testing
