#!/bin/sh
# The return path: updates from the hub become a CSV file in the entity's
# dialect and encoding; erasure orders run the erase hook once per record
# (or become an erasure file) and are answered by a signed acks bundle.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
sed -i 's/^import_delimiter = ;/import_delimiter = ;\nimport_encoding = windows-1252/' A/agent.conf
export_csv exports/contacts.csv 20
nova-agent scan A >/dev/null 2>&1

printf '{"op":"upsert","key":"C000003","fields":{"id":"C000003","nom":"Lefèvre","ville":"Saint-Étienne; Loire"}}\n{"op":"upsert","key":"C000004","fields":{"id":"C000004","email":"new@example.fr"}}\n' > up.ndjson
check "hub seals updates for acme" nova-hub send H acme --kind updates up.ndjson
cp H/outbox/acme/*.nova A/inbox/
check "agent applies the updates" sh -c 'nova-agent scan A --json | grep -q "\"inbox_applied\":1,.*\"updates\":2"'
f=A/import/nova-updates-hub-0000000001-1.csv
check "the update files are in the import directory" test -f "$f"
check "in the entity's dialect and encoding (windows-1252, ;)" sh -c "iconv -f windows-1252 -t utf-8 '$f' | grep -qx 'C000003;Lef.vre;\"Saint-.tienne; Loire\"'"
check "one file per set of updated columns: no empty cell an import would take for a blank" sh -c "head -1 '$f' | grep -qx 'id;nom;ville' && head -1 A/import/nova-updates-hub-0000000001-2.csv | grep -qx 'id;email' && grep -qx 'C000004;new@example.fr' A/import/nova-updates-hub-0000000001-2.csv"
check "the bundle was archived" sh -c 'ls A/archive/hub-acme-0000000001.updates.nova'
cp H/outbox/acme/hub-acme-0000000001.updates.nova A/inbox/again.nova
nova-agent scan A >/dev/null 2>&1
check "a copy of an applied update bundle is archived as a duplicate, not quarantined" \
    sh -c '! test -e A/quarantine/again.nova && ! test -e A/inbox/again.nova && test -f A/archive/again.nova'

# erasure with a hook
cat > hook.sh <<'HOOK'
#!/bin/sh
echo "$NOVA_ORDER_ID $NOVA_RECORD_KEY $NOVA_SOURCE $NOVA_ENTITY" >> "$(dirname "$0")/hook.log"
[ "$NOVA_RECORD_KEY" = C000009 ] && exit 4
[ "$NOVA_RECORD_KEY" = C000010 ] && sleep 30
exit 0
HOOK
chmod +x hook.sh
# put the hook settings in the main section (before the source section)
{ echo "erase_hook = $T/hook.sh"; echo "erase_timeout = 3"; grep -v '^erase_hook' A/agent.conf; } > A/agent.conf.new && mv A/agent.conf.new A/agent.conf
check "config with a hook is valid" nova-agent check A
printf '{"order":"E-1","key":"C000005","source":"contacts"}\n{"order":"E-1","key":"C000009"}\n{"order":"E-1","key":"C000010"}\n' > er.ndjson
check "hub seals erasure orders" nova-hub send H acme --kind erasure er.ndjson
cp H/outbox/acme/hub-acme-0000000002.erasure.nova A/inbox/
check "agent runs the orders" sh -c 'nova-agent scan A --json | grep -q "\"orders\":3,\"orders_failed\":2"'
check "the hook ran once per record, with order, key, source and entity" sh -c '[ "$(wc -l < hook.log)" = 3 ] && grep -qx "E-1 C000005 contacts acme" hook.log'
ACK=$(ls A/outbox/acme-hub-*.acks.nova)
check "an acks bundle answers the orders" test -n "$ACK"
cp A/outbox/*.nova H/inbox/ && nova-hub ingest H >/dev/null 2>&1
acks=$(find H/received -name 'changes-*.ndjson' -newer er.ndjson | xargs cat)
check "erased for the erased record" sh -c "echo '$acks' | grep -q '\"key\": *\"C000005\", *\"outcome\": *\"erased\"'"
check "failed with the hook's exit status" sh -c "echo '$acks' | grep -q 'C000009.*failed.*exited with status 4'"
check "failed with the timeout" sh -c "echo '$acks' | grep -q 'C000010.*failed.*timed out after 3 s'"
check "the erased record's fingerprint is forgotten" sh -c 'nova-agent status A --json | grep -q "\"records\":19"'

# the same order again: answered from memory, the hook does not run again
# for the erased record (the two failed ones run again: that is a retry)
cp er.ndjson er2.ndjson
nova-hub send H acme --kind erasure er2.ndjson >/dev/null
cp H/outbox/acme/*.nova A/inbox/   # with the hub's receipt and copies (duplicates)
nova-agent scan A >/dev/null 2>&1
check "an order already answered is not run again, a failed one is" sh -c '[ "$(wc -l < hook.log)" = 5 ] && [ "$(grep -c C000005 hook.log)" = 1 ]'

# without a hook: an erasure file for the CRM team
grep -v '^erase_hook' A/agent.conf > A/agent.conf.new && mv A/agent.conf.new A/agent.conf
printf '{"order":"E-2","key":"C000006"}\n' > er3.ndjson
nova-hub send H acme --kind erasure er3.ndjson >/dev/null
cp H/outbox/acme/*.nova A/inbox/
nova-agent scan A >/dev/null 2>&1
check "without a hook the orders go to an erasure file" sh -c 'grep -q "^E-2;C000006;" A/import/nova-erasure-hub-*.csv'
check "no bundle from the hub was quarantined" sh -c '[ -z "$(ls A/quarantine)" ]'

# a bundle from an unknown hub key is refused
nova-hub init H9 >/dev/null
nova-hub enroll H9 A/keys/identity.pub >/dev/null
nova-hub send H9 acme --kind updates up.ndjson >/dev/null
cp H9/outbox/acme/*.nova A/inbox/forged.nova
nova-agent scan A >/dev/null 2>&1
check "an update signed by an unknown hub key is quarantined" sh -c 'grep -q "not enrolled" A/quarantine/forged.nova.reason'
done_testing
