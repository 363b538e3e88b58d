#!/bin/sh
# Acknowledged streams: a bundle lost on the way (the USB key that carried
# it is gone) is sent again from the agent's sent/ with `nova-agent resend`;
# a bundle delivered twice is archived as a duplicate, never quarantined; the
# hub's receipts tell the agent what it applied, so sent/ empties; the same
# on the return path with `nova-hub resend`.  After each, the hub holds
# exactly the last export.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
seqs() { ls "$1" | sed -n 's/.*-\([0-9]\{10\}\)\..*/\1/p' | sed 's/^0*//' | tr '\n' ' '; }

# bundle 1 reaches the hub
export_csv exports/contacts.csv 200
check "scan 1" nova-agent scan A
check "the sealed bundle is kept in sent/" test -f A/sent/acme-hub-0000000001.changes.nova
grep -q '^acked: 0$' A/sent/acme-hub-0000000001.changes.nova &&
    ok "the agent's manifest says what it applied of the hub's stream (acked: 0)" ||
    not_ok "no acked line in the agent's manifest"
mv A/outbox/*.nova H/inbox/
expect_status "ingest 1" 0 "" nova-hub ingest H
grep -q "receipt to 'acme': applied up to seq 1" "$T/.err" && ok "ingest says it sent a receipt" || not_ok "no receipt line"
check "the hub sends a receipt (an updates bundle of no record)" \
    test -f H/outbox/acme/hub-acme-0000000001.updates.nova
grep -q '^acked: 1$' H/outbox/acme/hub-acme-0000000001.updates.nova &&
    ok "the receipt's signed manifest says acked: 1" || not_ok "no acked line in the receipt"
check "the hub keeps what it sent in sent/acme" test -f H/sent/acme/hub-acme-0000000001.updates.nova

# bundle 2 is lost; bundle 3 arrives: the hub waits and says so (status 36)
export_csv exports/contacts.csv 200 b
check "scan 2" nova-agent scan A
rm A/outbox/acme-hub-0000000002.changes.nova          # the USB key is gone
export_csv exports/contacts.csv 210 c
check "scan 3" nova-agent scan A
mv A/outbox/*.nova H/inbox/
expect_status "ingest exits 36 while bundle 3 waits for bundle 2" 36 "wait" nova-hub ingest H
check "no receipt when nothing was applied" sh -c '[ "$(ls H/outbox/acme | wc -l)" = 1 ]'
nova-hub status H > st.txt
grep -qi "missing\|wait" st.txt && ok "status names the gap" || not_ok "status does not name the gap"

# the receipt reaches the agent: bundle 1 leaves sent/, 2 and 3 wait
mv H/outbox/acme/*.nova A/inbox/
check "the agent applies the receipt" nova-agent scan A
[ "$(seqs A/sent)" = "2 3 " ] && ok "sent/ keeps only the unacknowledged bundles 2 and 3" ||
    not_ok "sent/ holds: $(seqs A/sent)"
nova-agent status A > ast.txt
grep -q "hub acked:     seq 1; 2 bundle(s) not yet acknowledged (seq 2-3" ast.txt &&
    ok "status shows the backlog (count, seqs, bytes, age)" || { not_ok "status backlog"; sed 's/^/# /' ast.txt; }
nova-agent status A --json > ast.json
grep -q '"acked_seq":1,"unacked":{"count":2,' ast.json && ok "status --json shows the backlog" ||
    { not_ok "status --json backlog"; sed 's/^/# /' ast.json; }

# resend: 2 and 3 go back to the outbox; the hub applies 2, then 3
expect_status "nova-agent resend" 0 "2 bundle\(s\) copied back" nova-agent resend A
mv A/outbox/*.nova H/inbox/
expect_status "the hub applies the lost bundle and the one that waited" 0 "" nova-hub ingest H
grep -c '^applied' "$T/.out" | grep -qx 2 && ok "two bundles applied" || not_ok "$(cat "$T/.out")"
hub_records H contacts > got.txt
tool_replay export contacts id exports/contacts.csv > want.txt
same "after the resend the hub holds exactly the last export" got.txt want.txt

# a duplicate: bundles 2 and 3 delivered again
expect_status "resend --from 2" 0 "2 bundle\(s\) copied back" nova-agent resend A --from 2
mv A/outbox/*.nova H/inbox/
expect_status "duplicates are not an error" 0 "" nova-hub ingest H
grep -c '^duplicate' "$T/.out" | grep -qx 2 && ok "both reported as duplicates" || not_ok "$(cat "$T/.out")"
check "nothing quarantined" sh -c '[ -z "$(ls H/quarantine)" ]'
check "nothing left in the inbox" sh -c '[ -z "$(ls H/inbox)" ]'
hub_records H contacts > got.txt
same "after the duplicates the hub holds exactly the last export" got.txt want.txt
expect_status "the ledger verifies, with every archived bundle" 0 " 0 problems" nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub H/archive/*.nova

# the return path: the hub's receipt 2 is lost, 3 arrives at the agent
[ "$(seqs H/outbox/acme)" = "2 3 " ] && ok "the hub sent receipts 2 (apply) and 3 (duplicates)" ||
    not_ok "hub outbox holds: $(seqs H/outbox/acme)"
rm H/outbox/acme/hub-acme-0000000002.updates.nova
mv H/outbox/acme/*.nova A/inbox/
nova-agent scan A >/dev/null 2>&1
check "the agent waits for the lost one" sh -c 'ls A/inbox | grep -q 0000000003'
expect_status "nova-hub resend" 0 "copied back" nova-hub resend H acme
mv H/outbox/acme/*.nova A/inbox/
check "the agent applies the resent bundles" nova-agent scan A
check "nothing quarantined at the agent" sh -c '[ -z "$(ls A/quarantine)" ]'
check "nothing left in the agent's inbox" sh -c '[ -z "$(ls A/inbox | grep -v "^\.")" ]'
nova-agent status A --json > ast.json
grep -q '"received_seq":3' ast.json && ok "the agent applied up to hub seq 3" || not_ok "$(cat ast.json)"
grep -q '"acked_seq":3,"unacked":{"count":0,' ast.json && ok "the agent's sent/ is empty: all acknowledged" ||
    { not_ok "agent backlog"; sed 's/^/# /' ast.json; }
# a duplicate on the return path too
expect_status "nova-hub resend --from 1" 0 "copied back" nova-hub resend H acme --from 1
mv H/outbox/acme/*.nova A/inbox/
check "the agent takes hub duplicates without a refusal" nova-agent scan A
check "still nothing quarantined at the agent" sh -c '[ -z "$(ls A/quarantine)" ]'

# the agent's next bundle acknowledges the hub's: H/sent/acme empties
export_csv exports/contacts.csv 220 d
check "scan 4" nova-agent scan A
grep -q '^acked: 3$' A/outbox/acme-hub-0000000004.changes.nova && ok "bundle 4 says acked: 3" ||
    not_ok "bundle 4 acked line"
mv A/outbox/*.nova H/inbox/
check "ingest 4" nova-hub ingest H
check "the hub pruned what the agent acknowledged" sh -c '[ "$(ls H/sent/acme | wc -l)" = 1 ]'
hub_records H contacts > got.txt
tool_replay export contacts id exports/contacts.csv > want.txt
same "at the end the hub holds exactly the last export" got.txt want.txt
expect_status "nova-agent prune" 0 "acknowledged" nova-agent prune A
expect_status "nova-hub prune" 0 "removed from sent" nova-hub prune H
done_testing
