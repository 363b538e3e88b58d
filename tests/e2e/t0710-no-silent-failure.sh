#!/bin/sh
# No silent failure: `nova-agent check` reads the newest export of each
# source (dialect, key column); a scan that rejects a whole file exits
# non-zero; `nova-hub ingest` exits 36 while a bundle waits for a missing
# one; the rows the agent rejected are counted at the hub, per entity and
# reason, in ingest's output and in status.  Sharing with the CRM: the files
# written to import_dir have import_mode (0640 by default) and
# import_group, and the directory lets their readers in; secrets stay 0600.
# Housekeeping: quarantine drop.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"

# --- check: the newest export against key and dialect
expect_status "check without an export yet" 0 "newest export: none yet" nova-agent check A
printf 'ident,nom\nC1,Dupont\n' > exports/old.csv
touch -d '2020-01-01' exports/old.csv
export_csv exports/contacts.csv 20
expect_status "check reads the newest export" 0 "newest export: contacts.csv" nova-agent check A
rm exports/old.csv
sed -i 's/^key = id$/key = client_id/' A/agent.conf
expect_status "check: a key column that is not in the header" 30 \
    "key column 'client_id' is not in the header of the newest export 'contacts.csv'; its columns are: 'id', 'prenom'" \
    nova-agent check A
# --- a scan that rejects the whole file fails
expect_status "scan that rejects the whole file exits 30" 30 "1 export file\(s\) rejected whole" nova-agent scan A
sed -i 's/^key = client_id$/key = id/' A/agent.conf
printf '\377\376i\000d\000\n\000' > exports/contacts.csv           # UTF-16
expect_status "check: an export the dialect does not read" 30 "does not read with the source's dialect" nova-agent check A
expect_status "scan of an unreadable (UTF-16) export exits 10" 10 "rejected whole" nova-agent scan A --json
grep -q '"files_rejected":1' "$T/.out" && ok "scan --json counts files_rejected" || not_ok "$(cat "$T/.out")"
check "both bundles carry the rejects to the hub" sh -c '[ "$(ls A/outbox/*.nova | wc -l)" = 2 ]'
mv A/outbox/*.nova H/inbox/
expect_status "the hub applies them" 0 "2 source row\(s\) rejected by the agent|1 source row" nova-hub ingest H

# --- the agent's rejects are counted at the hub
export_csv exports/contacts.csv 20
printf 'C000021,Bad,"Row,p@example.fr,x\n' >> exports/contacts.csv   # unbalanced quote
printf 'C000022,Ok,Row,q@example.fr,"Ville, 2"\n' >> exports/contacts.csv
check "scan with one bad row succeeds" nova-agent scan A
mv A/outbox/*.nova H/inbox/
expect_status "ingest names the rows the agent rejected" 0 "1 source row\(s\) rejected by the agent" nova-hub ingest H
nova-hub status H > st.txt
grep -q "acme: .*0 rejected at the hub, 3 by the agent" st.txt && ok "status counts the agent's rejects per entity" ||
    { not_ok "status"; sed 's/^/# /' st.txt; }
 grep -A3 "rejected by the agent" st.txt | grep -q "1 x key column 'client_id' is not in the header" && ok "status gives the agent's reason" ||
    { not_ok "status reason"; sed 's/^/# /' st.txt; }
nova-hub status H --json | grep -q '"agent_rejects":{"rows":3,"reasons":\[{"reason":"key column .client_id. is not in the header","count":1},' &&
    ok "status --json: agent_rejects with reasons" || not_ok "$(nova-hub status H --json)"
nova-hub ingest H --json >/dev/null

# --- ingest exits 36 while a bundle waits (a bundle named on the command line too)
export_csv exports/contacts.csv 20 x
nova-agent scan A >/dev/null 2>&1
export_csv exports/contacts.csv 20 y
nova-agent scan A >/dev/null 2>&1
mkdir key && mv A/outbox/acme-hub-0000000005.changes.nova key/
expect_status "ingest of a bundle ahead of a missing one exits 36" 36 "wait in the inbox for a missing one" \
    nova-hub ingest H key/acme-hub-0000000005.changes.nova
mv A/outbox/*.nova H/inbox/
check "once it arrives, ingest exits 0" nova-hub ingest H

# --- files for the CRM: import_mode, import_group; secrets 0600
printf '{"op":"upsert","key":"C000003","fields":{"id":"C000003","nom":"Lefevre"}}\n' > up.ndjson
nova-hub send H acme --kind updates up.ndjson >/dev/null
mv H/outbox/acme/*.nova A/inbox/
check "the agent writes the update" nova-agent scan A
f=$(ls A/import/nova-updates-*.csv | head -1)
[ "$(stat -c %a "$f")" = 640 ] && ok "update file is 0640 by default" || not_ok "mode $(stat -c %a "$f")"
[ "$(stat -c %a A/import)" = 750 ] && ok "import/ opened r-x to the group" || not_ok "import/ mode $(stat -c %a A/import)"
for k in A/keys/age.key A/keys/sign.key; do
    [ "$(stat -c %a "$k")" = 600 ] && ok "secret $(basename "$k") stays 0600" || not_ok "$k is $(stat -c %a "$k")"; done
{ sed -n '1,/^\[source/p' A/agent.conf | sed '$d'; echo "import_mode = 0644"; echo "import_group = $(id -g)"
  sed -n '/^\[source/,$p' A/agent.conf; } > A/agent.conf.new && mv A/agent.conf.new A/agent.conf
check "import_mode and import_group load" nova-agent check A
nova-hub send H acme --kind updates up.ndjson >/dev/null
mv H/outbox/acme/*.nova A/inbox/
check "the agent writes the next update" nova-agent scan A
f=$(ls -t A/import/nova-updates-*.csv | head -1)
[ "$(stat -c %a "$f")" = 644 ] && ok "import_mode 0644 is honoured (umask does not apply)" || not_ok "mode $(stat -c %a "$f")"
[ "$(stat -c %g "$f")" = "$(id -g)" ] && ok "import_group is the file's group" || not_ok "group $(stat -c %g "$f")"
[ "$(stat -c %a A/import)" = 755 ] && ok "import/ opened r-x to others for 0644" || not_ok "import/ mode $(stat -c %a A/import)"
sed -i 's/^import_mode = 0644$/import_mode = 0666/' A/agent.conf
expect_status "import_mode writable by others is refused" 30 "import_mode must be an octal mode" nova-agent check A
sed -i 's/^import_mode = 0666$/import_mode = 0640/; s/^import_group = .*$/import_group = no-such-group-xyz/' A/agent.conf
expect_status "an unknown import_group is refused" 30 "import_group 'no-such-group-xyz' is not a group" nova-agent check A

# --- quarantine drop
printf 'garbage' > H/inbox/junk.nova
nova-hub ingest H >/dev/null 2>&1
check "the junk is quarantined" test -f H/quarantine/junk.nova
expect_status "quarantine drop" 0 "dropped junk.nova .*the ledger keeps its entry" nova-hub quarantine H drop junk.nova
check "dropped: bundle and reason gone" sh -c '! test -e H/quarantine/junk.nova && ! test -e H/quarantine/junk.nova.reason'
expect_status "drop of an unknown bundle" 29 "no quarantined bundle" nova-hub quarantine H drop junk.nova
done_testing
