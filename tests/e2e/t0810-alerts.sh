#!/bin/sh
# Alerts: a cadence per entity kept in the mapping repository (validated,
# committed, logged like mappings); nova-hub alerts fires a late flow after
# twice the cadence and clears it when a bundle comes, names a gap, a
# quarantined bundle, an old review queue and a GDPR request past its
# target or near its deadline, each with severity, entity, since and what to
# do; exit 0 when nothing fires, 1 otherwise.  A fake clock (NOVA_NOW), no
# sleep.  The Prometheus rules pass promtool check rules and their unit
# tests.
. "$(dirname "$0")/lib.sh"
. "$NOVA_ROOT/tests/e2e/ops-setup.sh"

ops_setup || { not_ok "setup"; done_testing; }
H1=$((NOW + 3600))
expect_status "a cadence for an entity that is not enrolled is refused" 2 "no enrolled agent" nova-hub expect H nobody every 1h
expect_status "a cadence that is not a duration is refused" 2 "not a duration" nova-hub expect H groupe every often
check "expect groupe every 1h is committed" sh -c 'nova-hub expect H groupe every 1h --author "Ops <ops@example.org>" | grep -q "^committed"'
check "expect acquis every 1d" nova-hub expect H acquis every 1d
check "the cadence is in the mapping repository's history" sh -c 'git --git-dir=H/mappings log --format="%an %s" | grep -q "Ops expect: groupe every 1h"'
check "expect DIR lists the cadences" sh -c 'nova-hub expect H | grep -q "expect groupe every 3600 s"'
expect_status "nothing fires an hour after the bundles" 0 "no alert fires" env NOVA_NOW=$H1 nova-hub alerts H

LATE=$((NOW + 2 * 3600 + 60))
expect_status "two hours and a minute later, groupe's flow is late" 1 "NovaFlowLate groupe" env NOVA_NOW=$LATE nova-hub alerts H
NOVA_NOW=$LATE nova-hub alerts H --json > late.json
check "--json: severity, entity, since (twice the cadence after the last bundle), what to do" \
    sh -c "jq -e '.[] | select(.alert==\"NovaFlowLate\") | .severity==\"warning\" and .entity==\"groupe\" and .since==\"2027-01-15T10:00:00Z\" and (.action|length>0)' late.json"
check "acquis (every day) is not late" sh -c "! jq -e '.[] | select(.entity==\"acquis\")' late.json"
echo "id,prenom,nom,email,ville" > ex-groupe/c2.csv
echo "C999999,Nouveau,Client,n@example.fr,Lyon" >> ex-groupe/c2.csv
NOVA_NOW=$LATE ship
expect_status "a new bundle clears it" 0 "no alert fires" env NOVA_NOW=$((LATE + 60)) nova-hub alerts H

# a gap: bundle 3 of acquis arrives before 2
changes c.ndjson 2
nova-agent seal acquis c.ndjson >/dev/null 2>&1
nova-agent seal acquis c.ndjson >/dev/null 2>&1
b2=$(ls acquis/outbox/*.nova | head -1)
mv $(ls acquis/outbox/*.nova | tail -1) H/inbox/
nova-hub ingest H >/dev/null 2>&1
NOVA_NOW=$((LATE + 120)) nova-hub alerts H --json > gap.json
check "a gap in acquis's sequence fires" sh -c "jq -e '.[] | select(.alert==\"NovaSequenceGap\" and .entity==\"acquis\")' gap.json"
mv "$b2" H/inbox/ && nova-hub ingest H >/dev/null 2>&1
check "it clears once the missing bundle arrives" sh -c "! NOVA_NOW=$((LATE + 180)) nova-hub alerts H --json | jq -e '.[] | select(.alert==\"NovaSequenceGap\")'"

# a quarantined bundle
nova-agent seal groupe c.ndjson >/dev/null 2>&1
b=$(ls groupe/outbox/*.nova | head -1)
flip "$b" 200
mv "$b" H/inbox/
nova-hub ingest H >/dev/null 2>&1
NOVA_NOW=$((LATE + 240)) nova-hub alerts H --json > q.json
check "a quarantined bundle fires, critical" sh -c "jq -e '.[0] | .alert==\"NovaBundleQuarantined\" and .severity==\"critical\"' q.json"
rm -f H/quarantine/*

# GDPR: the erasure request (received at NOW) waits for the entities'
# answers: past its 10-day target, then within 5 days of its deadline
expect_status "9 days on (flows late: exit 1)" 1 "NovaFlowLate" env NOVA_NOW=$((NOW + 9 * 86400)) nova-hub alerts H
check "... and no GDPR alert fires" sh -c "! NOVA_NOW=$((NOW + 9 * 86400)) nova-hub alerts H --json | jq -e '.[] | select(.alert|startswith(\"NovaGdpr\"))'"
check "11 days on, it is past the group's target" sh -c "NOVA_NOW=$((NOW + 11 * 86400)) nova-hub alerts H --json | jq -e '.[] | select(.alert==\"NovaGdprTargetPassed\" and .severity==\"warning\")'"
check "27 days on, within 5 days of the legal deadline: critical" sh -c "NOVA_NOW=$((NOW + 27 * 86400)) nova-hub alerts H --json | jq -e '.[] | select(.alert==\"NovaGdprDeadlineNear\" and .severity==\"critical\")'"
check "the text names what to do" sh -c "NOVA_NOW=$((NOW + 27 * 86400)) nova-hub alerts H | grep -q 'what to do: nova-hub gdpr show'"
check "no personal data in the alerts" sh -c "! NOVA_NOW=$((NOW + 27 * 86400)) nova-hub alerts H --json | grep -q example.fr"

# the Prometheus rules
R=$NOVA_ROOT/packaging/prometheus
check "promtool check rules accepts nova.rules.yml" promtool check rules "$R/nova.rules.yml"
check "promtool test rules: late flow and GDPR deadline" sh -c "cd '$R' && promtool test rules nova.rules.test.yml"
check "the rules hold the alerts nova-hub alerts computes" sh -c "for a in NovaFlowLate NovaSequenceGap NovaBundleQuarantined NovaRejectsHigh NovaReviewQueueOld NovaGdprTargetPassed NovaGdprDeadlineNear; do grep -q \"alert: \$a\$\" '$R/nova.rules.yml' || exit 1; done"
done_testing
