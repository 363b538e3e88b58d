#!/bin/sh
# Re-baseline: an agent reinstalled with new keys (the old ones are lost).
# Its fresh bundles are refused as today (unknown key, then replayed once
# its new key is enrolled with enroll --force); `nova-hub rebase` gets the
# entity flowing again at the seq the hub holds, and the hub's records
# equal the last export.  A rebase order not signed by the trusted hub (or
# tampered with) is refused by the agent and changes nothing; hub bundles
# sealed before the order are stale at the agent, the fresh agent's early
# bundles stale at the hub (status 38, clear message, not quarantined); a
# newer order supersedes an older one; the ledger verifies with both keys.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"

export_csv exports/contacts.csv 150
check "scan 1" nova-agent scan A
carry A/outbox H/inbox
check "ingest 1" nova-hub ingest H
export_csv exports/contacts.csv 160 b
check "scan 2" nova-agent scan A
carry A/outbox H/inbox
check "ingest 2" nova-hub ingest H
export_csv exports/contacts.csv 160 x
check "the old agent seals a bundle that never reaches the hub" nova-agent scan A
mv A/outbox/acme-hub-0000000003.changes.nova old-key.nova
cp A/keys/identity.pub old-identity.pub
cp H/outbox/acme/hub-acme-0000000002.updates.nova receipt-before.nova  # sealed to the old key

# the server is reinstalled: keys and state are lost
cp A/agent.conf agent.conf.keep
rm -rf A
check "init anew" nova-agent init A --entity acme
cp agent.conf.keep A/agent.conf
check "trust the hub again" nova-agent trust A H/keys/identity.pub
export_csv exports/contacts.csv 155 c
check "the new agent scans" nova-agent scan A
cp A/outbox/*.nova early.nova
carry A/outbox H/inbox
expect_status "its bundle is refused as today: unknown key (14)" 14 "" nova-hub ingest H
expect_status "the admin enrolls the new key (enroll --force)" 0 "enrolled" nova-hub enroll H A/keys/identity.pub --force
cp early.nova H/inbox/acme-hub-0000000001.changes.nova
expect_status "then it is refused as today: replayed (16)" 16 "bundle 1 replayed \(already applied up to 2\)" nova-hub ingest H

# a rebase order that the trusted hub did not sign: another hub's
nova-hub init H2 >/dev/null 2>&1
nova-hub enroll H2 A/keys/identity.pub >/dev/null 2>&1
check "another hub seals a rebase order to acme" nova-hub rebase H2 acme
carry H2/outbox/acme A/inbox
expect_status "the agent refuses it: not its hub's key (14)" 14 "" nova-agent scan A
check "it is quarantined" sh -c 'ls A/quarantine | grep -q "rebase.nova$"'
nova-agent status A --json > st.json
grep -q '"epoch":0,' st.json && ok "the agent is still at epoch 0" || not_ok "$(cat st.json)"
ls A/outbox/*.nova >/dev/null 2>&1 && not_ok "a snapshot was shipped" || ok "no snapshot shipped"

# the hub's own order, tampered with: refused too
check "nova-hub rebase" nova-hub rebase H acme
o=$(ls H/outbox/acme/*.rebase.nova)
cp "$o" order.keep
cp "$o" tampered.nova
off=$(grep -abo 'epoch: 1' tampered.nova | head -1 | cut -d: -f1)
printf 3 | dd of=tampered.nova bs=1 seek=$((off + 7)) conv=notrunc 2>/dev/null  # epoch 3
cp tampered.nova A/inbox/hub-acme-0000000003.rebase.nova
rm "$o"
expect_status "a tampered order is refused: bad signature (13)" 13 "" nova-agent scan A

# hub bundles sealed before the order (to the old key): stale at the
# agent, the order being taken first
cp receipt-before.nova A/inbox/
cp order.keep A/inbox/hub-acme-0000000003.rebase.nova
expect_status "the agent takes its hub's order" 0 "1 rebase order\(s\) applied, 1 stale bundle" nova-agent scan A
check "the hub bundle sealed before the order is set aside in stale/" test -f A/stale/receipt-before.nova
check "not quarantined" sh -c '[ "$(ls A/quarantine | grep -c "\.nova$")" = 2 ]'
check "the bundles the new agent sealed before are set aside too" test -f A/stale/acme-hub-0000000001.changes.nova
ls A/outbox/*.nova > sealed.txt
grep -q "acme-hub-0000000003.changes.nova" sealed.txt && ok "the snapshot continues at seq 3" || not_ok "$(cat sealed.txt)"
grep -q '^snapshot: yes$' "$(cat sealed.txt)" && ok "flagged as a snapshot" || not_ok "no snapshot line"
carry A/outbox H/inbox
check "the hub applies the snapshot" nova-hub ingest H
store_is_export "after the rebase the hub's records equal the last export"

# the new agent's bundle sealed before the rebase: stale at the hub
cp early.nova H/inbox/acme-hub-0000000001.changes.nova
nq=$(ls H/quarantine | wc -l)
expect_status "an early bundle is stale (38)" 38 "stream acme->hub bundle 1 is of epoch 0, sealed before the rebase to epoch 1" nova-hub ingest H
check "set aside in stale/" test -f H/stale/acme-hub-0000000001.changes.nova
[ "$(ls H/quarantine | wc -l)" = "$nq" ] && ok "not quarantined" || not_ok "quarantined"

# a bundle of the lost key: its key is retired, so it verifies, and is stale
nq=$(ls H/quarantine | wc -l)
cp old-key.nova H/inbox/acme-hub-0000000003.changes.nova
expect_status "a bundle the lost key sealed is stale (38)" 38 "bundle 3 is of epoch 0, sealed before the rebase to epoch 1" nova-hub ingest H
[ "$(ls H/quarantine | wc -l)" = "$nq" ] && ok "not quarantined" || not_ok "quarantined"
store_is_export "the records are unchanged"

# two more orders: the newer supersedes the older, which arrives late
carry H/outbox/acme A/inbox
check "the agent applies the hub's receipts (those sealed to the old key are stale)" nova-agent scan A
check "still nothing more quarantined at the agent" sh -c '[ "$(ls A/quarantine | grep -c "\.nova$")" = 2 ]'
expect_status "a second rebase (--key: the same key, enrolled already)" 0 "enrolled already" nova-hub rebase H acme --key A/keys/identity.pub
grep -q "epoch 2 from seq 3" "$T/.out" && ok "epoch 2 from seq 3" || not_ok "$(cat "$T/.out")"
mv H/outbox/acme/*.rebase.nova order2.keep
check "a third" nova-hub rebase H acme
carry H/outbox/acme A/inbox
export_csv exports/contacts.csv 140 d
check "the agent takes epoch 3 and ships a snapshot" nova-agent scan A
carry A/outbox H/inbox
check "the hub applies it" nova-hub ingest H
store_is_export "after the third rebase the hub's records equal the last export"
cp order2.keep A/inbox/late.rebase.nova
expect_status "the older order delivered late is stale, not applied" 0 "0 rebase order\(s\) applied, 1 stale bundle" nova-agent scan A
grep -q "opens epoch 2, but this agent is at epoch 3 already: stale" "$T/.err" && ok "it says why" || not_ok "message"
nova-agent status A --json > st.json
grep -q '"epoch":3,"snapshot_pending":false' st.json && ok "the agent stays at epoch 3" || not_ok "$(cat st.json)"

expect_status "the ledger verifies with the old and the new key" 0 " 0 problems" \
    nova-audit verify H/ledger --keys H/keys/identity.pub --keys old-identity.pub --keys A/keys/identity.pub H/archive/*.nova
check "the three orders are in the ledger" sh -c 'git --git-dir H/ledger ls-tree -r --name-only main rebase/acme | grep -c status | grep -qx 3'
done_testing
