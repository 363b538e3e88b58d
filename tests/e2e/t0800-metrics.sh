#!/bin/sh
# Metrics: nova-hub metrics and nova-agent metrics print the Prometheus
# text exposition format, which promtool accepts; the figures are those of
# status --json and of the agents' scans; --textfile writes atomically (no
# temporary file left, the old file replaced whole); nova-hub run
# --textfile and nova-agent run --textfile rewrite the file after a pass.
. "$(dirname "$0")/lib.sh"
. "$NOVA_ROOT/tests/e2e/ops-setup.sh"

ops_setup || { not_ok "setup"; done_testing; }
nova-hub metrics H > hub.prom 2> hub.err
check "nova-hub metrics runs" [ -s hub.prom ]
check "promtool check metrics accepts the hub's metrics" sh -c 'promtool check metrics < hub.prom'
nova-hub status H --json > status.json
num() { grep "^$1 " hub.prom | awk '{print $2}'; }
check "records per entity equal status --json" [ "$(num 'nova_records{entity="groupe"}')" = "$(jq '.entities[]|select(.entity=="groupe").records' status.json)" ]
check "people equal status --json" [ "$(num nova_people)" = "$(jq .matching.rcus status.json)" ]
check "people in several entities equal status --json" [ "$(num nova_people_in_several_entities)" = "$(jq .matching.in_several_entities status.json)" ]
check "15 people are known to both entities" [ "$(num 'nova_people_shared{entity="acquis+groupe"}')" = 15 ]
check "the last applied seq of each stream" [ "$(num 'nova_stream_last_seq{entity="acquis"}')" = 1 ]
check "the last applied time is the (fake) clock's" [ "$(num 'nova_stream_last_applied_timestamp_seconds{entity="groupe"}')" = $NOW ]
check "records applied are a counter by kind" [ "$(num 'nova_records_applied_total{entity="groupe",kind="upsert"}')" = 20 ]
check "bytes received are counted" [ "$(num 'nova_received_bytes_total{entity="groupe"}')" -gt 0 ]
check "the open erasure request is counted by kind and status" [ "$(num 'nova_gdpr_requests{kind="erase",status="open"}')" = 1 ]
check "its deadline is the nearest (one month ahead)" sh -c "[ $(num 'nova_gdpr_next_deadline_timestamp_seconds{kind="erase"}') -gt $NOW ]"
check "erasure orders wait in the outbox" [ "$(num 'nova_outbox_bundles{entity="groupe",kind="erasure"}')" = 1 ]
check "counters end in _total, every family has HELP and TYPE" sh -c '! grep "^# TYPE" hub.prom | grep " counter$" | grep -v "_total counter$"'
check "no personal data in the metrics" sh -c '! grep -Eq "example\.fr|Nom[0-9]|Prénom" hub.prom'

# a value that does not parse and a rejected record
printf 'id,prenom,nom,email,ville\nX1,Jean,Valjean,not-an-email,Paris\n' > ex-acquis/d.csv
ship
nova-hub metrics H > hub2.prom
check "values not parsed are counted per entity and field" grep -q 'nova_values_not_parsed{entity="acquis",field="email"} 1' hub2.prom

check "--textfile writes the file" nova-hub metrics H --textfile "$T/nova.prom"
same "the textfile holds the metrics" hub2.prom nova.prom
check "no temporary file is left beside it" sh -c "[ \$(ls -A '$T' | grep -c '^\.nova.prom') = 0 ]"
expect_status "--textfile without a path is a usage error" 2 "" nova-hub metrics H --textfile

# the agents
nova-agent metrics groupe > agent.prom
check "promtool check metrics accepts the agent's metrics" sh -c 'promtool check metrics < agent.prom'
check "rows read are the export's" grep -q 'nova_agent_rows_read_total{entity="groupe"} 20' agent.prom
check "rows changed by kind" grep -q 'nova_agent_rows_changed_total{entity="groupe",kind="upsert"} 20' agent.prom
check "the last scan time is the (fake) clock's" grep -q "nova_agent_last_scan_timestamp_seconds{entity=\"groupe\"} $NOW" agent.prom
nova-agent seal groupe /dev/null >/dev/null 2>&1
changes more.ndjson 3
nova-agent seal groupe more.ndjson >/dev/null 2>&1
NOVA_NOW=$((NOW + 600)) nova-agent metrics groupe > agent2.prom
check "a bundle waiting in the outbox, and its age" sh -c "grep -q 'nova_agent_outbox_bundles{entity=\"groupe\"} 1' agent2.prom && grep -Eq 'nova_agent_outbox_oldest_age_seconds\{entity=\"groupe\"\} [1-9]' agent2.prom"
rm -f groupe/outbox/*.nova

# run --textfile: rewritten after a pass (polling for the file, no sleep
# standing in for time)
wait_for() {
    n=$(($1 * 10)); shift
    while [ $n -gt 0 ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}
nova-hub run H --rescan 1 --textfile "$T/run.prom" > hubrun.log 2>&1 &
pid=$!
check "nova-hub run writes the textfile after its first pass" wait_for 20 test -s run.prom
check "which promtool accepts" sh -c 'promtool check metrics < run.prom'
check "and notes how long the pass took" wait_for 20 grep -q '^nova_ingest_last_pass_timestamp_seconds [1-9]' run.prom
kill -TERM $pid; wait $pid
nova-agent run acquis --rescan 1 --textfile "$T/agentrun.prom" > agentrun.log 2>&1 &
pid=$!
check "nova-agent run writes the textfile after its first pass" wait_for 20 test -s agentrun.prom
check "which promtool accepts" sh -c 'promtool check metrics < agentrun.prom'
kill -TERM $pid; wait $pid
{ sed '/^\[source/,$d' acquis/agent.conf; echo "metrics_textfile = $T/conf.prom"; sed -n '/^\[source/,$p' acquis/agent.conf; } > acquis/agent.conf.new && mv acquis/agent.conf.new acquis/agent.conf
nova-agent scan acquis >/dev/null 2>&1
check "metrics_textfile in agent.conf: scan rewrites it too" sh -c 'promtool check metrics < conf.prom'
done_testing
