#!/bin/sh
# Exactly once, whatever happens: kill -9 the agent at random points during
# scans of changing exports, restart, and check that what the hub receives
# is exactly the true changes: every bundle accepted in sequence, no change
# shipped twice, and the hub's state equal to the last export.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

ROUNDS=${NOVA_CRASH_ROUNDS:-30}
setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports" 
sed -i '1i bundle_cap = 64K' A/agent.conf   # many parts per change set
killed=0
r=1
while [ $r -le $ROUNDS ]; do
    # a new export: rows change, appear and disappear from round to round
    awk -v r=$r 'BEGIN {
        srand(r); print "id,nom,ville"
        for (i = 1; i <= 30000; i++) {
            if ((i + r) % 7 == 0) continue;                 # absent this round
            v = (i % 5 == r % 5) ? "v" r : "v0";            # changed this round
            printf "K%05d,Nom%d %s,Ville%d\n", i, i, v, i % 13
        }
    }' > exports/e.tmp && mv exports/e.tmp exports/contacts.csv
    # kill at a random point: 0 to 400 ms into the scan
    delay=$(awk -v r=$r 'BEGIN { srand(r * 7919); printf "%.3f", rand() * 0.4 }')
    nova-agent scan A >/dev/null 2>&1 &
    p=$!
    sleep "$delay"
    if kill -9 $p 2>/dev/null; then killed=$((killed + 1)); fi
    wait $p 2>/dev/null
    r=$((r + 1))
done
note "$killed of $ROUNDS scans killed with SIGKILL"
check "a clean scan after the crashes succeeds" nova-agent scan A
check "no bundle is left pending" sh -c '[ -z "$(ls A/outbox/.pending)" ]'
check "every sealed bundle has its copy in sent/, kept until the hub acknowledges it" \
    sh -c '[ "$(ls A/outbox | grep -v "^\\." | sort)" = "$(ls A/sent | sort)" ]'
cp A/outbox/*.nova H/inbox/
check "the hub accepts every bundle, in sequence, none refused" sh -c 'nova-hub ingest H > ingest.txt && ! grep -v "^applied" ingest.txt'
check "the hub's stream is gap-free up to the last bundle" sh -c '[ "$(nova-hub status H --json | sed "s/.*\"seq\":\([0-9]*\).*/\1/")" = "$(ls A/outbox/*.nova | wc -l)" ]'
check "no change was shipped twice" sh -c 'hub_records() { find H/received -name "changes-*.ndjson" | sort | xargs tool_replay changes contacts; }; hub_records > got.txt'
tool_replay export contacts id exports/contacts.csv > want.txt
same "the hub holds exactly the last export" got.txt want.txt
done_testing
