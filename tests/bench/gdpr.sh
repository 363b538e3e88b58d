#!/bin/sh
# tests/bench/gdpr.sh - 10,000 simultaneous erasure requests across two
# entities (issue 6): the time from the requests to the signed orders being
# in the outboxes, and from the agents' signed receipts to every request
# being complete (the hub's copy erased, the store compacted).
# BENCH_SUBJECTS changes the number of requests.
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$ROOT/$BUILD:$ROOT/$BUILD/tests:$PATH"
N=${BENCH_SUBJECTS:-10000}
W=$(mktemp -d "${TMPDIR:-/tmp}/nova-bench-gdpr.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
cd "$W"

. "$ROOT/tests/bench/lib.sh"
two_entities 2 40000 20000
# each CRM erases through its hook (without one, orders are handed-off and
# stay open until a later export proves them)
for e in groupe acquis; do sed -i 's|^settle = 0$|settle = 0\nerase_hook = /bin/true|' $e/agent.conf; done
for e in groupe acquis; do
    nova-agent scan $e >/dev/null 2>&1
    mv $e/outbox/*.nova H/inbox/
done
nova-hub ingest H >/dev/null 2>&1
# the subjects: records of the base, by their key (both entities hold about
# a third of them)
awk -F, -v n="$N" 'NR > 1 && NR <= n + 1 { print "record:groupe:" $1 }' gen/base.csv > subjects.txt

t0=$(date +%s.%N)
nova-hub gdpr request H erase --from subjects.txt > req.txt 2>/dev/null
t1=$(date +%s.%N)
orders=$(cat H/outbox/*/*.erasure.nova | wc -c)
for e in groupe acquis; do mv H/outbox/$e/*.nova $e/inbox/; done
t2=$(date +%s.%N)
for e in groupe acquis; do nova-agent scan $e >/dev/null 2>&1; mv $e/outbox/*.nova H/inbox/; done
t3=$(date +%s.%N)
nova-hub ingest H > done.txt 2>&1
t4=$(date +%s.%N)
complete=$(nova-hub gdpr list H --json | grep -c '"status":"complete"')
printf '\n%d erasure requests across two entities (%s)\n' "$N" "$(tail -1 req.txt)"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" -v n="$N" -v k="$complete" -v o="$orders" 'BEGIN {
    printf "  %-52s %8.2f s\n", "requests registered, orders sealed into the outboxes", b - a
    printf "  %-52s %8.2f s\n", "both agents: orders applied, receipts sealed", d - c
    printf "  %-52s %8.2f s\n", "receipts in: requests complete, hub copy erased", e - d
    printf "bench: %d erasure requests: orders in the outboxes in %.2f s (%d bytes of bundles); receipts to completion in %.2f s (%d complete)\n",
        n, b - a, o, e - d, k
}'
