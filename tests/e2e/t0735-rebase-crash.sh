#!/bin/sh
# Flows that recover, whatever happens: rounds of changing exports in which
# the agent's scans, the hub's ingests, `nova-agent resend` and `nova-hub
# rebase` are killed with SIGKILL at random points, bundles are lost in
# transit, and twice the agent is restored from a backup taken rounds
# earlier and rebased.  Once the flow runs without kills, the hub holds
# exactly the last export (no record lost, none twice), the ledger
# verifies, and nothing was quarantined but the restored agent's bundles
# refused before each rebase.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

ROUNDS=${NOVA_CRASH_ROUNDS:-12}
setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
sed -i '1i bundle_cap = 32K' A/agent.conf      # several parts per change set
killed=0
# kill_at SEED MAX-SECONDS CMD...: run CMD, SIGKILL it after a random delay
kill_at() {
    delay=$(awk -v s="$1" -v m="$2" 'BEGIN { srand(s); printf "%.3f", rand() * m }')
    shift 2
    "$@" >/dev/null 2>&1 &
    p=$!
    sleep "$delay"
    if kill -9 $p 2>/dev/null; then killed=$((killed + 1)); fi
    wait $p 2>/dev/null
}
# the transport: the agent's outbox to the hub (one bundle lost when asked)
to_hub() {
    lose=$1
    for b in A/outbox/*.nova; do
        [ -e "$b" ] || continue
        if [ "$lose" = 1 ]; then lose=0; rm "$b"; continue; fi
        mv "$b" H/inbox/
    done
}
to_agent() { for b in H/outbox/acme/*.nova; do [ -e "$b" ] && mv "$b" A/inbox/; done; return 0; }

rebases=0 restores=0
r=1
while [ $r -le "$ROUNDS" ]; do
    awk -v r=$r 'BEGIN { srand(r); print "id,nom,ville"
        for (i = 1; i <= 6000; i++) {
            if ((i + r) % 7 == 0) continue                  # absent this round
            printf "K%05d,Nom%d %s,Ville%d\n", i, i, (i % 5 == r % 5) ? "v" r : "v0", i % 13 }
    }' > exports/e.tmp && mv exports/e.tmp exports/contacts.csv
    kill_at $((r * 7919)) 0.3 nova-agent scan A
    to_hub $((r % 3 == 0))
    kill_at $((r * 104729)) 0.2 nova-hub ingest H
    [ $((r % 2)) = 0 ] && kill_at $((r * 1299709)) 0.05 nova-agent resend A
    to_agent
    [ $r = 2 ] || [ $r = 7 ] && { rm -rf bk; cp -a A bk; }    # a backup
    if [ $r = 5 ] || [ $r = 10 ]; then
        # the server is restored from the backup; its next bundles are refused
        rm -rf A && cp -a bk A
        restores=$((restores + 1))
        kill_at $((r * 15485863)) 0.1 nova-agent scan A
        to_hub 0
        kill_at $((r * 179424673)) 0.2 nova-hub rebase H acme
        nova-hub rebase H acme >/dev/null 2>&1 && rebases=$((rebases + 1))
        to_agent
    fi
    r=$((r + 1))
done
note "$killed commands killed with SIGKILL; $restores restores, $rebases rebases run to their end"

# the flow without kills: what is not acknowledged goes again until all is
i=0
while [ $i -lt 4 ]; do
    nova-agent resend A >/dev/null 2>&1
    nova-agent scan A >/dev/null 2>&1
    to_hub 0
    nova-hub ingest H >/dev/null 2>&1
    to_agent
    nova-agent scan A >/dev/null 2>&1
    i=$((i + 1))
done
check "a last scan and ingest run cleanly" sh -c 'nova-agent scan A && for b in A/outbox/*.nova; do [ -e "$b" ] && mv "$b" H/inbox/; done; nova-hub ingest H'
check "nothing waits in the hub's inbox" sh -c '[ -z "$(ls H/inbox | grep -v "^\.")" ]'
nova-agent status A --json > st.json
grep -q '"unacked":{"count":0,' st.json && ok "the agent's sent/ is empty: every bundle acknowledged" ||
    { not_ok "backlog"; sed 's/^/# /' st.json; }
orders=$(git --git-dir H/ledger ls-tree -r --name-only main rebase/acme | grep -c status)
[ "$orders" -ge "$rebases" ] && ok "every rebase run to its end is in the ledger ($orders orders, $rebases run to their end)" ||
    not_ok "$orders orders in the ledger, $rebases rebases"
grep -q "\"epoch\":$orders," st.json && ok "the agent is at the epoch of the hub's last order ($orders)" || not_ok "$(cat st.json)"
store_is_export "the hub holds exactly the last export: nothing lost, nothing twice"
bad=$(grep -h '^code:' H/quarantine/*.reason 2>/dev/null | grep -cv 'code: 1[678]$')
[ "$bad" = 0 ] && ok "the only quarantined bundles are replayed or forked ones of a restored agent" ||
    { not_ok "$bad other quarantined bundles"; grep -h '^reason' H/quarantine/*.reason | sed 's/^/# /' | head; }
expect_status "the ledger verifies" 0 " 0 problems" \
    nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub
done_testing
