#!/bin/sh
# prune --received-days killed with SIGKILL at random instants: whatever
# the instant, received/ still replays to the last export (the base is
# swapped in with one rename, what a crash leaves is superseded or removed
# at the next open), and a replay afterwards gives the records of a hub
# that was never pruned.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
for s in "" b c d e; do
    export_csv exports/contacts.csv 20000 $s
    nova-agent scan A >/dev/null 2>&1
    mv A/outbox/*.nova H/inbox/
    nova-hub ingest H >/dev/null 2>&1
done
check "five bundles applied" sh -c '[ "$(ls H/received/acme | wc -l)" = 5 ]'
tool_replay export contacts id exports/contacts.csv > want.txt
hub_records H contacts > got.txt
same "received/ replays to the last export" got.txt want.txt
later=$(( $(date +%s) + 86400 ))

killed=0 bad=0 i=0 before=0 between=0 after=0
while [ $i -lt 25 ]; do
    rm -rf Hk && cp -a H Hk
    delay=$(awk -v i=$i 'BEGIN { srand(i * 7919); printf "%.3f", rand() * 0.4 }')
    NOVA_NOW=$later nova-hub prune Hk --received-days 0 >/dev/null 2>&1 &
    p=$!
    sleep "$delay"
    if kill -9 $p 2>/dev/null; then killed=$((killed + 1)); fi
    wait $p 2>/dev/null
    # where the crash fell: before the swap, after it (older payloads not all
    # removed yet), or after the end
    n5=$(cat Hk/received/acme/0000000005/* | wc -l)
    nd=$(ls Hk/received/acme | wc -l)
    if [ "$n5" != 20000 ]; then before=$((before + 1))
    elif [ "$nd" -gt 1 ]; then between=$((between + 1))
    else after=$((after + 1)); fi
    nova-hub status Hk >/dev/null 2>&1 || { bad=1; note "run $i: the hub does not open"; }
    [ -z "$(ls -A Hk/received | grep '^\.')" ] || { bad=1; note "run $i: staging left after open"; }
    hub_records Hk contacts > got.txt
    cmp -s got.txt want.txt || { bad=1; note "run $i: received/ no longer replays to the last export"; }
    i=$((i + 1))
done
note "$killed prunes killed with SIGKILL: $before before the swap, $between after it, $after after the end"
[ $bad = 0 ] && ok "after each crash, received/ replays to the last export" || not_ok "a crash lost or changed records"
check "a last prune finishes" env NOVA_NOW=$later nova-hub prune Hk --received-days 0
[ "$(ls Hk/received/acme)" = 0000000005 ] && ok "one base left, at seq 5" || not_ok "received/acme: $(ls Hk/received/acme)"
hub_records Hk contacts > got.txt
same "it replays to the last export" got.txt want.txt
check "replay the pruned hub" nova-hub replay Hk acme
check "replay the unpruned one" nova-hub replay H acme
nova-hub export Hk records --why test 2>/dev/null | sed 's/"seq":[0-9]*,//' | sort > pruned.ndjson
nova-hub export H records --why test 2>/dev/null | sed 's/"seq":[0-9]*,//' | sort > whole.ndjson
[ "$(wc -l < pruned.ndjson)" = 20000 ] && ok "20000 records" || not_ok "$(wc -l < pruned.ndjson) records"
same "the replays give the same records" pruned.ndjson whole.ndjson
done_testing
