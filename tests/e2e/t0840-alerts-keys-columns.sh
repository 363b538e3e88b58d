#!/bin/sh
# Two more alerts: updates stuck for an entity whose key is revoked
# (queued in the store or sealed in its outbox), and a mapping whose
# columns no longer match the exports (the last bundle lacks a mapped
# column, or carries 3 or more the mapping lacks); each fires in nova-hub
# alerts, shows in the metrics, and clears when the cause goes; the
# Prometheus rules hold both and promtool's unit tests pass.  A fake clock.
. "$(dirname "$0")/lib.sh"
. "$NOVA_ROOT/tests/e2e/ops-setup.sh"

ops_setup || { not_ok "setup"; done_testing; }
t=$((NOW + 600))
expect_status "nothing fires after the first bundles" 0 "no alert fires" env NOVA_NOW=$t nova-hub alerts H
check "the metrics say no column is missing or new" sh -c 'nova-hub metrics H | grep -qx "nova_mapping_columns_missing{entity=\"groupe\"} 0" && nova-hub metrics H | grep -qx "nova_mapping_columns_new{entity=\"groupe\"} 0"'

# groupe's CRM drops the column 'ville' and adds three new ones
awk -F, -v OFS=, 'NR == 1 { print "id,prenom,nom,email,fidelite,canal,segment"; next }
    { print $1, $2, $3, $4, "gold", "web", "b2c" }' ex-groupe/c.csv > x && mv x ex-groupe/c.csv
NOVA_NOW=$t ship
expect_status "groupe's last bundle: a mapped column lacking and new columns: the alert fires" 1 \
    "NovaMappingColumnsChanged groupe: groupe's last bundle \(seq 2\) lacks mapped column\(s\) 'ville' and carries column\(s\) the mapping lacks: 'canal', 'fidelite', 'segment'|NovaMappingColumnsChanged groupe: groupe's last bundle \(seq 2\) lacks mapped column\(s\) 'ville' and carries column\(s\) the mapping lacks: 'fidelite', 'canal', 'segment'" \
    env NOVA_NOW=$((t + 60)) nova-hub alerts H
cp .out drift.out
check "it says what to do" grep -q "what to do: compare the export with the mapping" drift.out
check "the metrics count 1 missing and 3 new columns" sh -c 'nova-hub metrics H > m.prom && grep -qx "nova_mapping_columns_missing{entity=\"groupe\"} 1" m.prom && grep -qx "nova_mapping_columns_new{entity=\"groupe\"} 3" m.prom'
check "promtool check metrics accepts them" sh -c 'promtool check metrics < m.prom'
# the data team maps the new columns and drops ville: the alert ends
printf 'nova-mapping 1\nentity groupe\nkey id\nfield first_name prenom\nfield last_name nom\nfield email email\next loyalty fidelite\next channel canal\nignore segment\n' > groupe2.map
nova-hub mapping set H groupe groupe2.map >/dev/null 2>&1
check "the mapping follows the exports: it clears" sh -c "! NOVA_NOW=$((t + 120)) nova-hub alerts H --json | jq -e '.[] | select(.alert==\"NovaMappingColumnsChanged\")'"
# two new columns alone are not enough to fire (3 or more)
awk -F, -v OFS=, 'NR == 1 { print $0 ",x1,x2"; next } { print $0 ",a,b" }' ex-groupe/c.csv > x && mv x ex-groupe/c.csv
NOVA_NOW=$((t + 120)) ship
check "two new columns alone do not fire it" sh -c "! NOVA_NOW=$((t + 180)) nova-hub alerts H --json | jq -e '.[] | select(.alert==\"NovaMappingColumnsChanged\")'"
# back to the first export and mapping
export_csv ex-groupe/c.csv 20
nova-hub mapping set H groupe groupe.map >/dev/null 2>&1
NOVA_NOW=$((t + 180)) ship
expect_status "the first export and mapping again: nothing fires" 0 "no alert fires" env NOVA_NOW=$((t + 200)) nova-hub alerts H

# acquis's key is revoked while bundles for it wait in the outbox (the
# erasure order of the setup, and one of updates); acquis takes updates
# of the city
printf 'nova-mapping 1\nentity acquis\nkey id\nfield first_name prenom\nfield last_name nom\nfield email email\nfield city ville\ninverse city ville\n' > acquis.map
nova-hub mapping set H acquis acquis.map >/dev/null 2>&1
changes up.ndjson 2
nova-hub send H acquis --kind updates up.ndjson >/dev/null 2>&1
nova-hub revoke H acquis --reason "laptop stolen" >/dev/null 2>&1
expect_status "a bundle sealed for acquis waits, its key revoked: the alert fires" 1 \
    "NovaUpdatesStuckRevokedKey acquis: 0 update record\(s\) queued and [1-9][0-9]* bundle\(s\) sealed wait for acquis, whose key is revoked" \
    env NOVA_NOW=$((t + 240)) nova-hub alerts H
check "the metrics carry when acquis's key was revoked" sh -c 'nova-hub metrics H | grep -q "^nova_entity_key_revoked_timestamp_seconds{entity=\"acquis\"} [1-9]"'
mkdir -p held && mv H/outbox/acquis/*.nova held/
expect_status "the bundle moved out: it clears" 0 "no alert fires" env NOVA_NOW=$((t + 300)) nova-hub alerts H
# an update for acquis queued in the store (no key to seal it to): a
# shared person's e-mail changes at groupe
sed -i 's/^\(C000002,.*\),"Ville, 2"$/\1,Autreville/' ex-groupe/c.csv
NOVA_NOW=$((t + 300)) ship
check "the update for acquis is queued, unsealed" sh -c 'nova-hub status H --json | jq -e ".updates_queued > 0"'
expect_status "an update queued for acquis, its key revoked: the alert fires again" 1 \
    "NovaUpdatesStuckRevokedKey acquis: [1-9][0-9]* update record\(s\) queued and 0 bundle\(s\) sealed" \
    env NOVA_NOW=$((t + 360)) nova-hub alerts H
check "no personal data in the alerts" sh -c "! grep -q 'example.fr\|Nom1\|C0000' .out"
# acquis enrolls a new key: the queued updates are sealed to it
rm -rf acquis && nova-agent init acquis --entity acquis >/dev/null 2>&1
nova-hub enroll H acquis/keys/identity.pub --force >/dev/null 2>&1
NOVA_NOW=$((t + 360)) nova-hub ingest H >/dev/null 2>&1
check "the new key takes the queued updates: nothing waits unsealed" sh -c 'nova-hub status H --json | jq -e ".updates_queued == 0"'
check "... and the revoked-key alert is gone" sh -c "! NOVA_NOW=$((t + 420)) nova-hub alerts H --json | jq -e '.[] | select(.alert==\"NovaUpdatesStuckRevokedKey\")'"

R=$NOVA_ROOT/packaging/prometheus
check "promtool check rules accepts nova.rules.yml" promtool check rules "$R/nova.rules.yml"
check "the rules hold both alerts" sh -c "grep -q 'alert: NovaUpdatesStuckRevokedKey\$' '$R/nova.rules.yml' && grep -q 'alert: NovaMappingColumnsChanged\$' '$R/nova.rules.yml'"
check "promtool test rules: both alerts' unit tests pass" sh -c "cd '$R' && promtool test rules nova.rules.test.yml && grep -q 'alertname: NovaUpdatesStuckRevokedKey' nova.rules.test.yml && grep -q 'alertname: NovaMappingColumnsChanged' nova.rules.test.yml"
done_testing
