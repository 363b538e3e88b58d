#!/bin/sh
# Issue 13, items 4 and 5, and the import files' formula guard: an update
# whose value the import encoding cannot represent ("Dvořák" in
# windows-1252) got its whole signed bundle quarantined, and every later
# bundle (erasure orders too) waited forever; an erase hook printing over
# 64 KiB blocked on its pipe until the timeout.  Now the value is
# transliterated (or the record goes to a UTF-8 side file), reported, and
# later bundles apply; the hook's output is drained while it runs, and a
# failure's receipt carries its last line.  Values an import CSV would let
# a spreadsheet evaluate (=, +, -, @) are neutralised unless turned off.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
sed -i 's/^import_delimiter = ;/import_delimiter = ;\nimport_encoding = windows-1252/' A/agent.conf
export_csv exports/contacts.csv 20
nova-agent scan A >/dev/null 2>&1

printf '{"op":"upsert","key":"C000003","fields":{"id":"C000003","nom":"Dvořák"}}\n{"op":"upsert","key":"C000004","fields":{"id":"C000004","nom":"Lefèvre"}}\n' > up1.ndjson
nova-hub send H acme --kind updates up1.ndjson >/dev/null 2>&1
printf '{"op":"upsert","key":"C000005","fields":{"id":"C000005","nom":"Suivant"}}\n' > up2.ndjson
nova-hub send H acme --kind updates up2.ndjson >/dev/null 2>&1
cp H/outbox/acme/*.nova A/inbox/
nova-agent scan A --json > s.json 2> s.err
check "the bundle with Dvořák is applied, not quarantined, and so is the next one" sh -c 'grep -q "\"inbox_applied\":2,\"inbox_waiting\":0,\"inbox_quarantined\":0" s.json && [ -z "$(ls A/quarantine)" ]'
f=A/import/nova-updates-hub-0000000001.csv
check "the import file holds the record transliterated (ř -> r), in windows-1252" sh -c "iconv -f windows-1252 -t utf-8 $f | grep -qx 'C000003;Dvorák' && iconv -f windows-1252 -t utf-8 $f | grep -qx 'C000004;Lefèvre'"
check "the exact record is in a UTF-8 side file" grep -qx 'C000003;Dvořák' A/import/nova-updates-hub-0000000001.utf-8.csv
check "it is reported and counted, without the value" sh -c 'grep -q "update 1 of .nova-updates-hub-0000000001.: 1 character(s) that windows-1252 cannot represent transliterated" s.err && grep -q "\"transliterated\":1," s.json && ! grep -q "Dvo" s.err'
check "the next bundle was written" test -f A/import/nova-updates-hub-0000000002.csv

# utf8-file: the record goes to the side file only; a key column never
# transliterated
sed -i 's/^import_encoding = windows-1252/import_encoding = windows-1252\nimport_unrepresentable = utf8-file/' A/agent.conf
printf '{"op":"upsert","key":"C000006","fields":{"id":"C000006","nom":"Łukasz"}}\n{"op":"upsert","key":"C000007","fields":{"id":"C000007","nom":"Marie"}}\n' > up3.ndjson
nova-hub send H acme --kind updates up3.ndjson >/dev/null 2>&1
cp H/outbox/acme/hub-acme-0000000003.updates.nova A/inbox/
nova-agent scan A --json > s3.json 2> s3.err
check "utf8-file: the record is only in the UTF-8 side file" sh -c "grep -qx 'C000006;Łukasz' A/import/nova-updates-hub-0000000003.utf-8.csv && ! grep -q C000006 A/import/nova-updates-hub-0000000003.csv && grep -qx 'C000007;Marie' A/import/nova-updates-hub-0000000003.csv"
sed -i '/^import_unrepresentable/d' A/agent.conf
printf '{"op":"upsert","key":"Ř-1","fields":{"id":"Ř-1","nom":"Key"}}\n' > up4.ndjson
nova-hub send H acme --kind updates up4.ndjson >/dev/null 2>&1
cp H/outbox/acme/hub-acme-0000000004.updates.nova A/inbox/
nova-agent scan A --json > s4.json 2> s4.err
check "a key column value is never transliterated: side file only" sh -c "grep -qx 'Ř-1;Key' A/import/nova-updates-hub-0000000004.utf-8.csv && [ ! -e A/import/nova-updates-hub-0000000004.csv ] && grep -q 'in a key column' s4.err"

# spreadsheet formulas are neutralised in import files (OWASP), numbers not
printf '{"op":"upsert","key":"C000008","fields":{"id":"C000008","nom":"=HYPERLINK(\\"http://x\\")","tel":"+33 6 12 34 56 78","note":"@SUM(A1)"}}\n' > up5.ndjson
nova-hub send H acme --kind updates up5.ndjson >/dev/null 2>&1
cp H/outbox/acme/hub-acme-0000000005.updates.nova A/inbox/
nova-agent scan A >/dev/null 2>&1
check "a formula-like value is written with a leading quote, a phone number as is" \
    grep -qx "C000008;\"'=HYPERLINK(\"\"http://x\"\")\";+33 6 12 34 56 78;'@SUM(A1)" A/import/nova-updates-hub-0000000005.csv
sed -i 's/^import_encoding = windows-1252/import_encoding = windows-1252\nimport_formula_guard = no/' A/agent.conf
nova-hub send H acme --kind updates up5.ndjson >/dev/null 2>&1
cp H/outbox/acme/hub-acme-0000000006.updates.nova A/inbox/
nova-agent scan A >/dev/null 2>&1
check "import_formula_guard = no writes values as they are" \
    grep -qx "C000008;\"=HYPERLINK(\"\"http://x\"\")\";+33 6 12 34 56 78;@SUM(A1)" A/import/nova-updates-hub-0000000006.csv

# a chatty erase hook
cat > hook.sh <<'HOOK'
#!/bin/sh
head -c 300000 /dev/zero | tr '\0' 'x'
echo
head -c 100000 /dev/zero | tr '\0' 'y' >&2; echo >&2
[ "$NOVA_RECORD_KEY" = C000009 ] && { echo "CRM API unreachable (HTTP 503)" >&2; exit 4; }
exit 0
HOOK
chmod +x hook.sh
{ echo "erase_hook = $T/hook.sh"; echo "erase_timeout = 20"; cat A/agent.conf; } > A/agent.conf.new && mv A/agent.conf.new A/agent.conf
printf '{"order":"E-1","key":"C000010","source":"contacts"}\n{"order":"E-1","key":"C000009"}\n' > er.ndjson
nova-hub send H acme --kind erasure er.ndjson >/dev/null 2>&1
cp H/outbox/acme/hub-acme-0000000007.erasure.nova A/inbox/
nova-agent scan A --json > s5.json 2> s5.err
# (the chatty hook succeeding, not killed at erase_timeout, shows that
# nothing blocked; no wall-clock limit is asserted)
check "a hook printing 400 KB runs to its end (no deadlock, no timeout)" sh -c "grep -q '\"orders\":2,\"orders_failed\":1' s5.json"
cp A/outbox/*.nova H/inbox/ && nova-hub ingest H >/dev/null 2>&1
acks=$(find H/received -name 'changes-*.ndjson' -newer er.ndjson | xargs cat)
check "erased for the chatty hook that succeeded" sh -c "echo '$acks' | grep -q '\"key\": *\"C000010\", *\"outcome\": *\"erased\"'"
check "the failure's receipt carries the exit status and the end of the hook's stderr, bounded" sh -c "echo '$acks' | grep 'C000009.*failed' | grep -q 'exited with status 4; its last output: \.\.\.y* | CRM API unreachable (HTTP 503)\"' && [ \$(echo '$acks' | grep C000009 | wc -c) -lt 600 ]"
done_testing
