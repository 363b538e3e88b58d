#!/bin/sh
# make demo - nova's main job end to end on built-in sample data:
# the agent of an acquired company watches its CRM's export directory and
# ships record-level changes as signed, encrypted bundles; the bundle crosses
# as a plain file; the hub verifies and applies it; the hub sends an update
# back, which the agent writes for the CRM to import; an auditor checks the
# bundles with public keys and stock tools only.
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/$BUILD:$PATH"
D=${NOVA_DEMO_DIR:-$ROOT/$BUILD/demo}
rm -rf "$D"
mkdir -p "$D"
cd "$D"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "1. the hub and the agent of the acquired company 'acme' create their keys"
run nova-hub init hub
run nova-agent init acme --entity acme

step "2. they exchange public identity files (no secrets cross)"
run nova-hub enroll hub acme/keys/identity.pub
run nova-agent trust acme hub/keys/identity.pub

step "3. the agent is told where the CRM exports (Windows-1252, ';', key column 'id')"
mkdir crm-exports
# each setting once (a repeated one is refused): edit the template's lines
sed -i 's/^settle = .*/settle = 0/; s/^import_encoding = .*/import_encoding = windows-1252/' acme/agent.conf
cat >> acme/agent.conf <<CONF

[source contacts]
dir = $D/crm-exports
pattern = *.csv
encoding = windows-1252
key = id
mode = full
CONF
run nova-agent check acme

step "4. the CRM drops an export; one pass of the agent (nova-agent run would watch with inotify)"
cp "$ROOT/tests/data/crm-export-v1.csv" crm-exports/contacts.csv
run nova-agent scan acme
bundle=$(ls acme/outbox/*.nova)
run ls -l "$bundle"

step "5. the cleartext, signed manifest (no personal data)"
run tar -xOf "$bundle" manifest

step "6. the file crosses by any transport (here: cp, as rsync or a USB key would)"
run cp "$bundle" hub/inbox/

step "7. the data team proposes acme's mapping to the common model from a sample export, and commits it (git)"
printf '$ nova-hub mapping suggest acme crm-exports/contacts.csv > acme.map\n'
nova-hub mapping suggest acme crm-exports/contacts.csv > acme.map
run cat acme.map
run nova-hub mapping set hub acme acme.map --author "Data Team <data@group.example>" --message "acme: first mapping"

step "8. the hub verifies signature, key, sequence, chain and payload hash, then maps, normalises and stores"
run nova-hub ingest hub
printf '$ nova-hub export hub records --format csv --common | cut -d, -f3,7-15\n'
nova-hub export hub records --format csv --common 2>/dev/null | cut -d, -f3,7-15

step "9. the next export changes one phone number, drops one customer and fixes the bad row: only that ships"
cp "$ROOT/tests/data/crm-export-v2.csv" crm-exports/contacts.csv
run nova-agent scan acme
b2=$(ls acme/outbox/*.nova | tail -1)
run tar -xOf "$b2" manifest
cp "$b2" hub/inbox/ && run nova-hub ingest hub
run nova-hub status hub

step "10. a tampered copy is refused and quarantined with its reason"
cp "$bundle" tampered.nova
size=$(stat -c %s tampered.nova)
psize=$(tar -xOf tampered.nova manifest | sed -n 's/^payload-size: //p')
off=$((size - 1024 - (psize + 511) / 512 * 512 + psize / 2))
byte=$(od -An -tu1 -j "$off" -N1 tampered.nova | tr -d ' ')
printf "\\$(printf %03o $(((byte + 1) % 256)))" | dd of=tampered.nova bs=1 seek="$off" conv=notrunc 2>/dev/null
cp tampered.nova hub/inbox/acme-tampered.nova
printf '(a refused file is quarantined only once it has not changed for 10 s, since a copy may still be\n running; this copy is complete, so --settle 0)\n'
set +e
run nova-hub ingest hub --settle 0
echo "(exit status $?)"
set -e
run cat hub/quarantine/acme-tampered.nova.reason

step "11. the hub sends an update back; the agent writes it for the CRM, in the CRM's encoding"
printf '{"op":"upsert","key":"C-1003","fields":{"id":"C-1003","nom":"Le Gall-Kervella","ville":"Quimper"}}\n' > update.ndjson
run nova-hub send hub acme --kind updates update.ndjson
cp hub/outbox/acme/*.nova acme/inbox/
run nova-agent scan acme
run ls acme/import
printf '$ iconv -f windows-1252 -t utf-8 acme/import/%s\n' "$(ls acme/import)"
iconv -f windows-1252 -t utf-8 acme/import/* 2>/dev/null || cat acme/import/*

step "12. an auditor checks the signed ledger and the bundles from public keys only"
run nova-audit verify hub/ledger --keys hub/keys/identity.pub --keys acme/keys/identity.pub hub/archive/*.nova
run nova-hub ledger hub --allowed-signers allowed_signers
run git -C hub/ledger -c gpg.ssh.allowedSignersFile="$D/allowed_signers" verify-commit main
for tool in minisign age zstd; do
    command -v $tool >/dev/null || { echo "demo: the stock tool '$tool' is missing (apt-get install $tool; make demo installs it as root)" >&2; exit 1; }
done
mkdir -p audit && tar -C audit -xf "$bundle"
run minisign -Vm audit/manifest -x audit/manifest.minisig -p acme/keys/sign.pub
run sha256sum audit/payload.age
step "13. the hub (and only the hub) can read the payload, with stock age"
printf '$ age -d -i hub/keys/age.key audit/payload.age | zstd -dq | tar -t\n'
age -d -i hub/keys/age.key audit/payload.age | zstd -dq | tar -t

step "14. the acquisition: the group's base and the acquired company's CRM, two entities, two agents"
printf '$ gencrm --seed 1 --base 2000 --acquired 1000 --overlap 0.3 --out gen   (French CRM exports)\n'
"$ROOT/$BUILD/tests/gencrm" --seed 1 --base 2000 --acquired 1000 --overlap 0.3 --out gen 2>/dev/null
run nova-hub init group
for e in groupe acquis; do
    nova-agent init $e --entity $e >/dev/null
    nova-hub enroll group $e/keys/identity.pub >/dev/null
    nova-agent trust $e group/keys/identity.pub >/dev/null
    mkdir -p exports-$e
done
printf 'entity = groupe\nsettle = 0\n[source contacts]\ndir = %s/exports-groupe\nkey = id_client\n' "$D" > groupe/agent.conf
printf 'entity = acquis\nsettle = 0\n[source clients]\ndir = %s/exports-acquis\nkey = CustomerNo\nencoding = windows-1252\ndelimiter = ;\n' "$D" > acquis/agent.conf
cp gen/base.csv exports-groupe/contacts.csv
cp gen/acquired.csv exports-acquis/clients.csv
for e in groupe acquis; do
    f=exports-groupe/contacts.csv; [ $e = acquis ] && f=exports-acquis/clients.csv
    nova-hub mapping suggest $e $f > $e.map 2>/dev/null
done
run cat acquis.map
for e in groupe acquis; do nova-hub mapping set group $e $e.map >/dev/null; done
run nova-agent scan groupe
run nova-agent scan acquis
mv groupe/outbox/*.nova acquis/outbox/*.nova group/inbox/
run nova-hub ingest group

step "15. what the data team looks at first"
run nova-hub status group
run nova-hub eval group gen/truth.csv
printf '$ nova-hub review group list --limit 1\n'
nova-hub review group list --limit 1 --why "demo" | head -12

step "16. a change at the acquired company reaches the group: golden record, update, no echo"
nova-hub export group links > links.csv 2>/dev/null
pair=$(awk -F, 'NR>1 && $4=="linked" { r[$3] = r[$3] " " $1 ":" $2 } END { for (k in r) if (r[k] ~ /groupe:/ && r[k] ~ /acquis:/ && split(r[k], x, " ") == 2) { print r[k]; exit } }' links.csv)
ka=$(echo "$pair" | tr ' ' '\n' | sed -n 's/^acquis://p')
kg=$(echo "$pair" | tr ' ' '\n' | sed -n 's/^groupe://p')
run nova-hub show group "acquis:$ka" --why "demo: before the change"
printf '$ (the acquired CRM changes the e-mail of %s and exports again)\n' "$ka"
awk -F';' -v OFS=';' -v k="$ka" '$1 == k { $5 = "nouvelle.adresse@exemple.fr"; $13 = "01/12/2026 10:00" } { print }' exports-acquis/clients.csv > clients.tmp && mv clients.tmp exports-acquis/clients.csv
run nova-agent scan acquis
mv acquis/outbox/*.nova group/inbox/
run nova-hub ingest group
run nova-hub show group "acquis:$ka" --why "demo: after the change"
run ls group/outbox/groupe
mv group/outbox/groupe/*.nova groupe/inbox/
run nova-agent scan groupe
run cat groupe/import/nova-updates-hub-*.csv
printf '$ (the group CRM imports the file and exports again)\n'
awk -F, -v OFS=, -v k="$kg" '$1 == k { $6 = "nouvelle.adresse@exemple.fr"; $15 = "2026-12-01 11:00:00" } { print }' exports-groupe/contacts.csv > contacts.tmp && mv contacts.tmp exports-groupe/contacts.csv
run nova-agent scan groupe
mv groupe/outbox/*.nova group/inbox/
run nova-hub ingest group
# (receipts, updates bundles of no record, only say what the hub applied)
printf 'update bundles waiting in the outboxes now: %s (nothing echoes back)\n' \
    "$(for f in group/outbox/*/*.updates.nova; do [ -e "$f" ] && tar -xOf "$f" manifest | grep -q '^records: [1-9]' && echo "$f"; done | wc -l)"

step "17. a person asks the group to erase their data: the request travels to both entities and back"
p=$(awk -F, 'NR>1 { c[$3]++; e[$3] = e[$3] " " $1 } END { for (k in c) if (c[k] == 2 && e[k] ~ /groupe/ && e[k] ~ /acquis/) { print k; exit } }' gen/truth.csv)
k=$(grep "^groupe,.*,$p\$" gen/truth.csv | cut -d, -f2)
run nova-hub gdpr request group erase --record "groupe:$k"
req=$(nova-hub gdpr list group --json | tail -1 | sed 's/.*"id":"\(REQ-[0-9]*\)".*/\1/')
for e in groupe acquis; do mv group/outbox/$e/*.nova $e/inbox/; done
run nova-agent scan groupe
run nova-agent scan acquis
mv groupe/outbox/*.nova acquis/outbox/*.nova group/inbox/
run nova-hub ingest group
run nova-hub gdpr show group "$req"
printf '$ (no erase hook: the orders were handed to each CRM team; they delete the person, and the CRMs export again)\n'
ka=$(grep "^acquis,.*,$p\$" gen/truth.csv | cut -d, -f2)
awk -F, -v k="$k" '$1 != k' exports-groupe/contacts.csv > contacts.tmp && mv contacts.tmp exports-groupe/contacts.csv
awk -F';' -v k="$ka" '$1 != k' exports-acquis/clients.csv > clients.tmp && mv clients.tmp exports-acquis/clients.csv
run nova-agent scan groupe
run nova-agent scan acquis
mv groupe/outbox/*.nova acquis/outbox/*.nova group/inbox/ 2>/dev/null || true
run nova-hub ingest group
printf '$ nova-hub gdpr show group %s | head -3\n' "$req"
nova-hub gdpr show group "$req" | head -3
run nova-audit verify group/ledger --keys group/keys/identity.pub --keys groupe/keys/identity.pub --keys acquis/keys/identity.pub

step "18. a campaign across entities: readers of a MediaPulse title who came to an EventClick event in the last six months"
for e in mediapulse eventclick; do
    nova-agent init $e --entity $e >/dev/null
    nova-hub enroll group $e/keys/identity.pub >/dev/null
    nova-agent trust $e group/keys/identity.pub >/dev/null
    mkdir -p exports-$e && cp "$ROOT/tests/data/segment/$e.csv" exports-$e/
done
printf 'entity = mediapulse\nsettle = 0\n[source abonnes]\ndir = %s/exports-mediapulse\npattern = *.csv\nkey = id\ndelimiter = ;\n' "$D" > mediapulse/agent.conf
printf 'entity = eventclick\nsettle = 0\n[source inscrits]\ndir = %s/exports-eventclick\npattern = *.csv\nkey = ref\n' "$D" > eventclick/agent.conf
run nova-hub mapping suggest eventclick exports-eventclick/eventclick.csv 2>/dev/null | grep '^ext'
nova-hub mapping set group mediapulse "$ROOT/tests/data/segment/mediapulse.map" >/dev/null
nova-hub mapping set group eventclick "$ROOT/tests/data/segment/eventclick.map" >/dev/null
for e in mediapulse eventclick; do nova-agent scan $e >/dev/null 2>&1; mv $e/outbox/*.nova group/inbox/; done
nova-hub ingest group >/dev/null 2>&1
nova-hub gdpr request group object --email denis.roux@example.fr >/dev/null
cp "$ROOT/tests/data/segment/business-events.segment" .
run cat business-events.segment
run nova-hub segment group set business-events business-events.segment --message "business readers at events"
# the sample's dates are around June 2026: the demo takes 2026-06-15 for today
export NOVA_NOW=1781524800
run nova-hub segment group count business-events --why "demo: campaign size"
run nova-hub segment group run business-events --format csv --why "demo: campaign" | head -5
unset NOVA_NOW

step "19. operations: the hub expects acquis's flow every hour; a flow that stops is noticed"
run nova-hub expect group acquis every 1h
cat > alert-hook.sh <<HOOK
#!/bin/sh
# an alert hook (no shell runs it: nova runs this file with the alert in its environment)
echo "\$NOVA_ALERT_STATE \$NOVA_ALERT \$NOVA_ALERT_ENTITY (since \$NOVA_ALERT_SINCE): \$NOVA_ALERT_SUMMARY" >> "$D/alert-hook.log"
HOOK
chmod +x alert-hook.sh
run nova-hub expect group --alert-hook "$D/alert-hook.sh"
now=$(date +%s)
printf '$ (two hours and ten minutes pass without a bundle from acquis: NOVA_NOW fakes the clock)\n'
export NOVA_NOW=$((now + 2 * 3600 + 600))
set +e
run nova-hub alerts group
echo "(exit status $?: 1 while an alert fires, for cron and monitoring)"
set -e
printf '$ (acquis exports again; its bundle reaches the hub)\n'
awk -F';' -v OFS=';' 'NR == 2 { $6 = "Nantes" } { print }' exports-acquis/clients.csv > clients.tmp && mv clients.tmp exports-acquis/clients.csv
nova-agent scan acquis >/dev/null 2>&1
mv acquis/outbox/*.nova group/inbox/
nova-hub ingest group >/dev/null 2>&1
export NOVA_NOW=$((now + 2 * 3600 + 900))
run nova-hub alerts group
run cat alert-hook.log
unset NOVA_NOW
run nova-hub metrics group --textfile nova-hub.prom
printf '$ grep -E "^nova_(stream_last_applied_timestamp_seconds|flow_expected_interval_seconds)" nova-hub.prom\n'
grep -E '^nova_(stream_last_applied_timestamp_seconds|flow_expected_interval_seconds)' nova-hub.prom
run nova-hub dashboard group --out "$D/dashboard.html"
printf 'open it in a browser: file://%s/dashboard.html\n' "$D"

printf '\ndemo done: everything is in %s\n' "$D"
