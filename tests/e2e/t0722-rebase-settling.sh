#!/bin/sh
# Re-baseline while the CRM is writing its export: the pass after the
# rebase order cannot read the newest export yet (it has not settled), so
# its snapshot says that source is not done and the snapshot goes on at the
# next pass; then the hub reconciles it and holds exactly the last export.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
sed -i 's/^settle = 0$/settle = 3600000/' A/agent.conf     # one hour
export_csv exports/contacts.csv 120
touch -d '-2 hours' exports/contacts.csv
check "scan 1" nova-agent scan A
carry A/outbox H/inbox
check "ingest 1" nova-hub ingest H
export_csv exports/contacts.csv 100 b
touch -d '-2 hours' exports/contacts.csv
check "scan 2" nova-agent scan A
rm A/outbox/*.nova                                   # lost, and sent/ too
rm -f A/sent/*.nova
expect_status "nova-hub rebase" 0 "epoch 1 from seq 1" nova-hub rebase H acme
carry H/outbox/acme A/inbox
export_csv exports/contacts.csv 90 c                 # being written now
expect_status "the pass after the order: the newest export is not settled" 0 \
    "still being written: it goes on at the next pass" nova-agent scan A
carry A/outbox H/inbox
check "the hub applies that first part of the snapshot" nova-hub ingest H
grep -q "no longer holds deleted" "$T/.err" && not_ok "the hub deleted records of a source not read" ||
    ok "nothing deleted for the source not read yet"
nova-agent status A --json > st.json
grep -q '"epoch":1,"snapshot_pending":true' st.json && ok "the snapshot is still pending at the agent" || not_ok "$(cat st.json)"
touch -d '-2 hours' exports/contacts.csv             # the export has settled
expect_status "the next pass ships the rest of the snapshot" 0 "full snapshot shipped" nova-agent scan A
grep -q '^snapshot: yes$' A/outbox/*.nova && ok "flagged as a snapshot" || not_ok "not a snapshot"
carry A/outbox H/inbox
check "the hub applies it" nova-hub ingest H
grep -q "snapshot of acme source contacts: 30 record(s) it no longer holds deleted" "$T/.err" &&
    ok "and deletes the 30 records the export no longer holds" || { not_ok "reconcile"; sed 's/^/# /' "$T/.err" | head; }
store_is_export "the hub's records equal the last export"
nova-agent status A --json > st.json
grep -q '"epoch":1,"snapshot_pending":false' st.json && ok "the snapshot is done" || not_ok "$(cat st.json)"
done_testing
