#!/bin/sh
# Re-baseline: an agent restored from a backup two bundles old.  Its next
# bundle is refused as before (replayed); `nova-hub rebase` issues a signed
# order, recorded in the ledger, that opens epoch 1 at the seq the hub
# holds; the agent takes it, its next pass ships a full snapshot, and the
# hub reconciles it: the records equal the last export, each keeps its RCU,
# nothing twice.  A bundle sealed before the rebase is then stale (status
# 38, set aside, not quarantined); one applied before is a duplicate; a
# replay gives the same records; the ledger verifies.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
contacts_mapping acme > acme.map

export_csv exports/contacts.csv 300
check "mapping" nova-hub mapping set H acme acme.map
check "scan 1" nova-agent scan A
carry A/outbox H/inbox
check "ingest 1" nova-hub ingest H
carry H/outbox/acme A/inbox
check "the agent applies the receipt" nova-agent scan A
cp -a A A.bak                                   # the backup
export_csv exports/contacts.csv 320 b
check "scan 2" nova-agent scan A
carry A/outbox H/inbox
check "ingest 2" nova-hub ingest H
export_csv exports/contacts.csv 290 c
check "scan 3" nova-agent scan A
carry A/outbox H/inbox
check "ingest 3" nova-hub ingest H
nova-hub export H links 2>/dev/null | sort > links-before.txt
store_is_export "before the loss the hub holds the last export"

# the server is restored from the backup: two bundles old
rm -rf A && cp -a A.bak A
export_csv exports/contacts.csv 280 d
check "the restored agent scans" nova-agent scan A
carry A/outbox H/inbox
expect_status "its bundle is refused as today: replayed (16)" 16 "bundle 2 replayed \(already applied up to 3\)" nova-hub ingest H
nova-agent status A --json > st.json
grep -q '"epoch":0,' st.json && ok "the agent is at epoch 0" || not_ok "$(cat st.json)"

# the rebase
expect_status "nova-hub rebase" 0 "epoch 1 from seq 3" nova-hub rebase H acme
check "the order is a rebase bundle in the outbox" test -f H/outbox/acme/hub-acme-0000000004.rebase.nova
grep -q '^epoch: 1$' H/outbox/acme/hub-acme-0000000004.rebase.nova && ok "its signed manifest says epoch 1" || not_ok "no epoch line"
git --git-dir H/ledger log --format=%s main | grep -q "^rebase acme: epoch 1" &&
    ok "the order is recorded in the ledger" || not_ok "no rebase entry in the ledger"
check "under rebase/acme/0000000001" sh -c 'git --git-dir H/ledger show main:rebase/acme/0000000001/status | grep -q "^outcome: issued$"'
nova-hub status H > hst.txt
grep -q "epoch 1 of acme: rebased at seq 3; its full snapshot is awaited" hst.txt &&
    ok "the hub's status says the snapshot is awaited" || { not_ok "hub status"; sed 's/^/# /' hst.txt | head; }
cp H/outbox/acme/hub-acme-0000000004.rebase.nova order.keep
carry H/outbox/acme A/inbox
expect_status "the agent takes the order and ships a full snapshot" 0 "full snapshot shipped" nova-agent scan A
ls A/outbox/*.nova > sealed.txt
[ "$(wc -l < sealed.txt)" = 1 ] && grep -q "acme-hub-0000000004.changes.nova" sealed.txt &&
    ok "the snapshot continues the hub's stream at seq 4" || not_ok "sealed: $(cat sealed.txt)"
m=$(cat sealed.txt)
grep -q '^epoch: 1$' "$m" && grep -q '^snapshot: yes$' "$m" && ok "flagged: epoch 1, snapshot: yes" || not_ok "manifest flags"
grep -q '^upserts: 280$' "$m" && ok "every record of the export ships (280 upserts)" || not_ok "$(grep upserts "$m")"
check "what the restored agent sealed before is set aside" test -f A/stale/acme-hub-0000000002.changes.nova
nova-agent status A > st.txt
grep -q "^epoch:         1 (rebase order seq 4, from seq 3)" st.txt && ok "status shows the epoch" || { not_ok "status"; sed 's/^/# /' st.txt; }
carry A/outbox H/inbox
expect_status "the hub applies the snapshot" 0 "applied +acme->hub seq 4" nova-hub ingest H
grep -q "10 record(s) it no longer holds deleted" "$T/.err" && ok "it deletes the 10 records the export no longer holds" ||
    { not_ok "reconcile"; sed 's/^/# /' "$T/.err" | head; }
store_is_export "after the rebase the hub's records equal the last export"
nova-hub status H --json | grep -q '"sender":"acme","seq":4,[^}]*"epoch":1,"rebase_base":3,"snapshot_pending":false' &&
    ok "status --json: epoch 1, snapshot reconciled" || not_ok "$(nova-hub status H --json | head -c 400)"
nova-hub export H links 2>/dev/null | sort > links-after.txt
awk -F, 'NR==FNR { if (FNR > 1) r[$2] = $3; next } FNR > 1 && ($2 in r) { n++; if (r[$2] != $3) d++ } END { print n + 0, d + 0 }' \
    links-before.txt links-after.txt > rcu.txt
[ "$(cat rcu.txt)" = "280 0" ] && ok "each record kept its RCU (280 compared)" || not_ok "RCUs: $(cat rcu.txt)"
[ "$(cut -d, -f3 links-after.txt | sort | uniq -d | grep -c R)" = "$(cut -d, -f3 links-before.txt | sort | uniq -d | grep -c R)" ] &&
    ok "no RCU duplicated" || not_ok "RCUs duplicated"

# after the rebase: an old-epoch bundle is stale, an applied one a duplicate
cp A/stale/acme-hub-0000000002.changes.nova H/inbox/
nq=$(ls H/quarantine | wc -l)
expect_status "a bundle sealed before the rebase is stale (38)" 38 "bundle 2 is of epoch 0, sealed before the rebase to epoch 1" nova-hub ingest H
check "it is set aside in stale/" test -f H/stale/acme-hub-0000000002.changes.nova
[ "$(ls H/quarantine | wc -l)" = "$nq" ] && ok "not quarantined" || not_ok "quarantined"
cp H/archive/acme-hub-0000000003.changes.nova H/inbox/
expect_status "a bundle of the old epoch applied before is a duplicate" 0 "applied before" nova-hub ingest H
store_is_export "the records are unchanged"

# a bundle claiming an epoch the hub never opened: refused as forked (18)
printf '{"op":"upsert","source":"contacts","key":"C999999","fields":{"id":"C999999"}}\n' > one.ndjson
rm -rf F && cp -a A F                           # a copy: A's stream is left alone
FORGE_EPOCH=7 tool_forge F one.ndjson 1 1 0 >/dev/null 2>&1
carry F/outbox H/inbox
expect_status "a bundle of an epoch never opened is refused (18)" 18 "says epoch 7, but this hub opened epoch 1 only" nova-hub ingest H
store_is_export "the records are unchanged"
git --git-dir H/ledger log --format=%s main | grep -q "^quarantine acme->hub seq 5" && ok "the refusal is in the ledger" || not_ok "no ledger entry"

# the order delivered again is a duplicate at the agent
carry H/outbox/acme A/inbox
cp order.keep A/inbox/
check "the agent takes the order again as a duplicate" nova-agent scan A
check "nothing quarantined at the agent" sh -c '[ -z "$(ls A/quarantine)" ]'
nova-agent status A --json > st.json
grep -q '"epoch":1,"snapshot_pending":false' st.json && ok "the agent stays at epoch 1, no second snapshot" || not_ok "$(cat st.json)"

# the flow goes on; a replay gives the same records
export_csv exports/contacts.csv 300 e
check "scan after the rebase" nova-agent scan A
carry A/outbox H/inbox
check "ingest after the rebase" nova-hub ingest H
store_is_export "the next export flows as usual"
check "replay" nova-hub replay H acme
store_is_export "a replay reconciles the snapshot again: the same records"
expect_status "the ledger verifies, with the rebase order and every archived bundle" 0 " 0 problems" \
    nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub H/archive/*.nova
done_testing
