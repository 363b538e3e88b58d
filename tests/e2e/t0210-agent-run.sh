#!/bin/sh
# `nova-agent run` with real inotify: exports dropped, rewritten, moved in,
# the export directory removed and re-created, a file still being written,
# the inbox, SIGHUP and SIGTERM.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir -p crm/exports
agent_conf A "$T/crm/exports"
sed -i 's/^settle = 0/settle = 300/' A/agent.conf
nova-agent run A --rescan 3600 2> run.log &
pid=$!

# wait_for N: until the outbox holds N bundles (10 s at most)
wait_for() {
    i=0
    while [ "$(ls A/outbox/*.nova 2>/dev/null | wc -l)" -lt "$1" ] && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    [ "$(ls A/outbox/*.nova 2>/dev/null | wc -l)" -ge "$1" ]
}

export_csv crm/exports/contacts.csv 50
check "an export written in place is shipped" wait_for 1
expect_status "a second nova-agent on the same directory is refused" 28 "another nova-agent is working in" nova-agent scan A
export_csv crm/staging.csv 50 Y
mv crm/staging.csv crm/exports/contacts.csv
check "an export moved in is shipped" wait_for 2

# a file still being written is not read half-way
( printf 'id,prenom,nom,email,ville\n'; i=1; while [ $i -le 5 ]; do printf 'W%d,a,b,c,d\n' $i; sleep 0.2; i=$((i+1)); done ) > crm/exports/slow.csv
check "a slowly written export is shipped once complete" wait_for 3
sleep 1
n=$(ls A/outbox/*.nova | wc -l)
if [ "$n" = 3 ]; then ok "and only once ($n bundles)"; else not_ok "slow export gave $n bundles"; fi
B=$(ls A/outbox/*.nova | tail -1)
mkdir x && tar -C x -xf "$B" && age -d -i H/keys/age.key x/payload.age | zstd -dq | tar -C x -x
check "it held all 5 rows" sh -c '[ "$(grep -c "\"W[0-9]\"" x/changes-000001.ndjson)" = 5 ]'

# directory removed and re-created
rm -rf crm/exports
sleep 0.5
mkdir crm/exports
sleep 0.3
export_csv crm/exports/contacts.csv 50 Z
check "after the export directory is re-created, exports are still seen" wait_for 4

# the inbox is watched too
printf '{"op":"upsert","key":"C000001","fields":{"id":"C000001","nom":"X"}}\n' > up.ndjson
nova-hub send H acme --kind updates up.ndjson >/dev/null
cp H/outbox/acme/*.nova A/inbox/
i=0; while [ ! -f A/import/nova-updates-hub-0000000001.csv ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
check "a bundle dropped in the inbox is applied" test -f A/import/nova-updates-hub-0000000001.csv

# SIGHUP reloads the configuration: a second source appears
mkdir crm/other
printf '[source other]\ndir = %s/crm/other\nkey = id\n' "$T" >> A/agent.conf
kill -HUP $pid
sleep 0.5
printf 'id,nom\nO1,Autre\n' > crm/other/o.csv
check "after SIGHUP the new source is watched" wait_for 5
printf 'entity = acme\nbogus\n' > bad.conf
cp A/agent.conf good.conf && cp bad.conf A/agent.conf
kill -HUP $pid
sleep 0.5
check "a bad configuration on SIGHUP is refused and the agent keeps running" sh -c "kill -0 $pid && grep -q 'reload refused' run.log"
cp good.conf A/agent.conf

kill -TERM $pid
wait $pid
rc=$?
if [ "$rc" = 0 ]; then ok "SIGTERM stops cleanly (exit 0)"; else not_ok "exit status $rc after SIGTERM"; fi

# files dropped while the agent was down are picked up at start
export_csv crm/exports/contacts.csv 50 DOWN
nova-agent run A --rescan 3600 2>> run.log &
pid=$!
check "an export made while the agent was down is shipped at start" wait_for 6
kill -TERM $pid; wait $pid
if grep -q 'Prénom\|example.fr' run.log; then not_ok "personal data in the log"; else ok "the log holds no personal data"; fi
done_testing
