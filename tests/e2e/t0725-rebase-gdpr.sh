#!/bin/sh
# Re-baseline and GDPR: an erasure order sealed to the agent before its
# restore is stale at the restored agent, so `nova-hub rebase` seals the
# orders of open erasure requests the entity never answered again, after the
# rebase order: the restored agent answers them, and the request moves on.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
contacts_mapping acme > acme.map

export_csv exports/contacts.csv 100
check "mapping" nova-hub mapping set H acme acme.map
check "scan 1" nova-agent scan A
carry A/outbox H/inbox
check "ingest 1" nova-hub ingest H
cp -a A A.bak                                    # the backup
expect_status "an erasure request" 0 "REQ-000001" nova-hub gdpr request H erase --record acme:C000005
check "its order is sealed to acme" sh -c 'ls H/outbox/acme | grep -q erasure.nova'
cp H/outbox/acme/*erasure.nova order-before.nova

# the agent is restored before the order reached it; the hub rebases it
rm -rf A && cp -a A.bak A
expect_status "nova-hub rebase seals the unanswered order again" 0 \
    "1 open erasure request\(s\) that acme had not answered: their orders sealed again" nova-hub rebase H acme
ls H/outbox/acme > out.txt
[ "$(grep -c erasure.nova out.txt)" = 2 ] && ok "a second erasure bundle follows the rebase order" || not_ok "$(cat out.txt)"
check "the register says why" sh -c 'nova-hub gdpr show H REQ-000001 | grep -q "rebase of acme: its unanswered orders go again"'
carry H/outbox/acme A/inbox
expect_status "the agent takes the order, sets the old bundle aside, answers the new one" 0 "1 rebase order\(s\) applied, 2 stale bundle" nova-agent scan A
check "the old order is in stale/" sh -c 'ls A/stale | grep -q erasure.nova'
check "the CRM team gets the order (no hook)" sh -c 'ls A/import | grep -q nova-erasure'
carry A/outbox H/inbox
check "the hub applies the answer and the snapshot" nova-hub ingest H
nova-hub gdpr show H REQ-000001 > req.txt
grep -q "handed-off" req.txt && ok "acme's answer is in: handed-off" || { not_ok "no answer"; sed 's/^/# /' req.txt | head; }
store_is_export "the hub's records equal the last export"
expect_status "the ledger verifies" 0 " 0 problems" \
    nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub
done_testing
