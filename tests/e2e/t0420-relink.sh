#!/bin/sh
# nova-hub relink: the whole store re-resolved under the weights and the
# team's decisions in force, in one transaction.
#  - --dry-run says what would merge, split and stay, and changes nothing;
#  - with nothing new, every RCU stays (same records, same ID);
#  - after decisions and learn, every decision is honoured;
#  - killed at any instant, the store holds the old clusters or the new,
#    never a mix.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

# the acquisition scenario of the benchmarks: two agents, one hub, the
# mappings mapping suggest writes
. "$NOVA_ROOT/tests/bench/lib.sh"
two_entities 11 3000 1500 realistic || { not_ok "the scenario"; done_testing; }
for e in groupe acquis; do nova-agent scan $e >/dev/null 2>&1; done
nova-hub ingest H groupe/outbox/*.nova >/dev/null 2>&1
nova-hub ingest H acquis/outbox/*.nova >/dev/null 2>&1
links() { nova-hub export H links 2>/dev/null | sort; }
links > before.csv
check "every record has an RCU" [ "$(wc -l < before.csv)" = 4501 ]

check "relink --dry-run says what would change" sh -c 'nova-hub relink H --dry-run > dry.txt && grep -q "^dry run (nothing changed): 4500 records re-resolved" dry.txt'
links > after-dry.csv
same "a dry run changes nothing" before.csv after-dry.csv
# the first relink may join what the records' arrival order kept apart
# (term frequencies at the time); a second one has nothing left to change
check "relink" sh -c 'nova-hub relink H --json > r1.json'
note "first relink: $(cat r1.json)"
links > after-1.csv
check "RCUs whose records stay together keep their ID" sh -c '
    awk -F, "NR == FNR { old[\$1 \",\" \$2] = \$3; next } { print old[\$1 \",\" \$2], \$3 }" before.csv after-1.csv |
        sort -u > pairs.txt
    # each old RCU that maps to one new RCU alone, and is that RCU, kept its ID
    awk "{ n[\$1]++; to[\$1] = \$2; back[\$2]++ } END { for (o in n) if (n[o] == 1 && back[to[o]] == 1 && o != to[o]) exit 1 }" pairs.txt'
check "an RCU merged away still resolves, to the one that holds its records" sh -c '
    old=$(awk "{ print \$1, \$2 }" pairs.txt | awk "\$1 != \$2 { print \$1; exit }")
    [ -z "$old" ] || nova-hub explain H "$old" --why test | grep -q "was merged into"'
check "a second relink changes nothing" sh -c 'nova-hub relink H --json > r2.json && grep -q "\"moved\":0," r2.json && grep -q "\"merged\":0,\"split\":0" r2.json'
links > after-2.csv
same "the links are as after the first" after-1.csv after-2.csv

# decisions: accept the first pair of the queue, reject the second
nova-hub review H list --json --limit 2 --why test > q.json
id1=$(sed -n '1s/^{"id":"\([0-9]*-[0-9]*\)".*/\1/p' q.json)
id2=$(sed -n '2s/^{"id":"\([0-9]*-[0-9]*\)".*/\1/p' q.json)
ends() { sed -n "$1"'s/^{"id":"[^"]*","a":"\([^"]*\)","b":"\([^"]*\)".*/\'"$2"'/p' q.json; }
a1=$(ends 1 1); b1=$(ends 1 2); a2=$(ends 2 1); b2=$(ends 2 2)
if [ -n "$id1" ] && [ -n "$id2" ]; then
    nova-hub review H accept "$id1" --by tester >/dev/null 2>&1
    nova-hub review H reject "$id2" --by tester >/dev/null 2>&1
    check "learn after the decisions" sh -c 'nova-hub learn H > learn.txt 2>&1 && grep -q "relink" learn.txt'
    check "relink after learn" sh -c 'nova-hub relink H > r3.txt'
    rcu() { nova-hub export H links 2>/dev/null | grep "^${1%%:*},${1#*:}," | cut -d, -f3; }
    check "the accepted pair is one person after relink" [ "$(rcu "$a1")" = "$(rcu "$b1")" ]
    check "the rejected pair stays two after relink" [ "$(rcu "$a2")" != "$(rcu "$b2")" ]
else
    not_ok "the review queue has two pairs to decide"
fi

# kill -9 at random instants: the old clusters or the new, never a mix
links > old.csv
cp -r H H.ref
nova-hub relink H.ref >/dev/null 2>&1
nova-hub export H.ref links 2>/dev/null | sort > new.csv
mixed=0 killed=0 i=0
while [ $i -lt 8 ]; do
    delay=$(awk -v i=$i 'BEGIN { srand(i * 7919); printf "%.3f", rand() * 0.8 }')
    nova-hub relink H >/dev/null 2>&1 &
    p=$!
    sleep "$delay"
    kill -9 $p 2>/dev/null && killed=$((killed + 1))
    wait $p 2>/dev/null
    links > now.csv
    if ! cmp -s now.csv old.csv && ! cmp -s now.csv new.csv; then mixed=$((mixed + 1)); fi
    i=$((i + 1))
done
note "$killed relinks killed with SIGKILL"
check "killed relinks leave the old clusters or the new, never a mix" [ "$mixed" = 0 ]
check "the store still opens and verifies" nova-hub status H
done_testing
