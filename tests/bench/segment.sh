#!/bin/sh
# tests/bench/segment.sh - a segment across entities over a large store
# (issue 17): a group base and an acquired entity from tests/gen/gencrm
# (BENCH_SEG_BASE + BENCH_SEG_ACQUIRED records, 1,000,000 + 450,000 by
# default) ingested by the real hub, then a segment that reads records of
# both entities counted three times: records scanned per second (the best
# run), seconds in all, people selected and kept, peak memory.
# KEEP=1 keeps the work directory (and its store, for more runs).
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$ROOT/$BUILD:$ROOT/$BUILD/tests:$PATH"
BASE=${BENCH_SEG_BASE:-1000000}
ACQ=${BENCH_SEG_ACQUIRED:-450000}
W=$(mktemp -d "${TMPDIR:-/tmp}/nova-bench-segment.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
cd "$W"
. "$ROOT/tests/bench/lib.sh"

echo "bench: a segment across two entities (generator: tests/gen/gencrm, seed 1, $BASE + $ACQ records)"
two_entities 1 "$BASE" "$ACQ"
for e in groupe acquis; do nova-agent scan $e >/dev/null 2>&1; done
s0=$(date +%s)
nova-hub ingest H groupe/outbox/*.nova acquis/outbox/*.nova >/dev/null 2>&1
printf '  store built (ingest and matching) in %d s\n' $(( $(date +%s) - s0 ))
cat > bench.segment <<'SEG'
nova-segment 1
# both entities' records are read: the slowest kind of segment
groupe.postcode starts with 75 and acquis.updated_at within last 24 months
or groupe has a record where (city in (lyon, marseille) and birth_date between 1970-01-01 and 1989-12-31)
SEG
nova-hub segment H set bench bench.segment >/dev/null
for i in 1 2 3; do
    /usr/bin/time -f '%e %M' -o seg.time nova-hub segment H count bench --json --why bench \
        > seg.json 2> seg.err
    sed -n 's/.*nova-hub: \([0-9]*\) records scanned in \([0-9.]*\) s (\([0-9]*\) records\/s), \([0-9.]*\) s in all.*/\1 \2 \3 \4/p' seg.err > run$i.txt
    cat seg.time >> run$i.txt
done
kept=$(sed 's/.*"count":\([0-9]*\).*/\1/' seg.json)
sel=$(sed 's/.*"selected":\([0-9]*\).*/\1/' seg.json)
cat run1.txt run2.txt run3.txt | paste - - | sort -k3 -n -r | head -1 | awk -v sel="$sel" -v kept="$kept" '{
    printf "  %-34s %12s %10s %10s %14s\n", "segment count (best of 3)", "records", "pass s", "total s", "records/s"
    printf "  %-34s %12d %10.2f %10.2f %14d\n", "", $1, $2, $4, $3
    printf "bench: segment over %d records: %d records/s (%.2f s pass, %.2f s in all, %.1f s elapsed), %d people selected, %d kept, peak RSS %.0f MiB\n",
        $1, $3, $2, $4, $5, sel, kept, $6 / 1024 }'
