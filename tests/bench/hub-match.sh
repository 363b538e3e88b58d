#!/bin/sh
# tests/bench/hub-match.sh - identity resolution through the real hub (issue
# 5): the French CRM scenario at 20,000 + 10,000 records (quality: pairwise
# precision, recall, share in review), then an acquired entity of 450,000
# contacts matched against a base of 1,000,000 (speed: records/s, seconds,
# peak memory).  Data from tests/gen/gencrm; two agents; `nova-hub ingest`.
# BENCH_BASE / BENCH_ACQUIRED change the large sizes.  Then the data-lake
# export of the records: everything after the base, and the changes the
# acquired entity brought (its records, and the base records it linked to).
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$ROOT/$BUILD:$ROOT/$BUILD/tests:$PATH"
BASE=${BENCH_BASE:-1000000}
ACQ=${BENCH_ACQUIRED:-450000}
W=$(mktemp -d "${TMPDIR:-/tmp}/nova-bench-match.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
cd "$W"
. "$ROOT/tests/bench/lib.sh"

# scenario DIR BASE ACQUIRED: a hub with the base applied and the acquired
# entity's bundles (the agent's default 64 MB cap) waiting in DIR/H/inbox
scenario() {
    d=$1
    mkdir -p $d && (
        cd $d
        two_entities 1 "$2" "$3"
        for e in groupe acquis; do nova-agent scan $e >/dev/null 2>&1; done
        mkdir -p acquired && mv acquis/outbox/*.nova acquired/
        /usr/bin/time -f '%e %M' -o base.time nova-hub ingest H groupe/outbox/*.nova >/dev/null 2>&1
        mv acquired/*.nova H/inbox/
    )
}

echo "bench: identity resolution through the hub (generator: tests/gen/gencrm, seed 1)"
scenario small 20000 10000
(cd small && nova-hub ingest H >/dev/null 2>&1 && nova-hub eval H gen/truth.csv > eval.txt)
p=$(sed -n 's/^precision *//p' small/eval.txt)
rc=$(sed -n 's/^recall *//p' small/eval.txt)
f1=$(sed -n 's/^F1 *//p' small/eval.txt)
rv=$(sed -n 's/^review *[0-9]* records (\(.*\))/\1/p' small/eval.txt)
printf '\nFrench CRM scenario, 20,000 + 10,000 records, two entities through two agents:\n'
sed 's/^/  /' small/eval.txt
echo "bench: French CRM 20000+10000: precision $p, recall $rc, F1 $f1, in review $rv"

scenario big "$BASE" "$ACQ"
read eb mb < big/base.time
# the data lake: a full export of the base's records (the acquired bundles
# wait in the inbox), then, after their ingest, the changes since its cursor
(cd big && nova-hub export H records --since 0 --out lake > c0 2> lake-full.txt) ||
    echo "bench: the full data-lake export failed" >&2
(cd big && /usr/bin/time -f '%e %M' -o acq.time nova-hub ingest H > ingest.txt 2>&1 &&
    nova-hub eval H gen/truth.csv > eval.txt)
read ea ma < big/acq.time
(cd big && nova-hub export H records --since "$(cat c0)" --out lake > c1 2> lake-inc.txt) ||
    echo "bench: the incremental data-lake export failed" >&2
printf '\n%d contacts of an acquired entity matched against a base of %d (2 cores):\n' "$ACQ" "$BASE"
printf '  %-46s %9s %12s %12s\n' "step" "seconds" "records/s" "peak RSS MiB"
awk -v e="$eb" -v m="$mb" -v n="$BASE" 'BEGIN { printf "  %-46s %9.1f %12.0f %12.0f\n", "base: ingest, map, normalise, deduplicate", e, n / (e > 0 ? e : 0.01), m / 1024 }'
awk -v e="$ea" -v m="$ma" -v n="$ACQ" 'BEGIN { printf "  %-46s %9.1f %12.0f %12.0f\n", "acquired: ingest and match against the base", e, n / (e > 0 ? e : 0.01), m / 1024 }'
sed 's/^/  /' big/eval.txt
printf '\nData-lake export of the records (%s):\n' "nova-hub export H records --since CURSOR --out DIR"
sed -n 's/^nova-hub: \([0-9]* row(s) in .*\)/  full export:        \1/p' big/lake-full.txt
sed -n 's/^nova-hub: \([0-9]* row(s) in .*\)/  incremental export: \1/p' big/lake-inc.txt
sed -n 's/^nova-hub: \([0-9]*\) row(s) in \([0-9.]*\) s (\([0-9]*\) rows\/s)/bench: data-lake export: incremental \1 rows in \2 s (\3 rows\/s)/p' big/lake-inc.txt
awk -v e="$ea" -v m="$ma" -v n="$ACQ" -v b="$BASE" 'BEGIN {
    printf "bench: %d records matched against %d in %.1f s (%.0f records/s), hub peak RSS %.0f MiB\n",
        n, b, e, n / (e > 0 ? e : 0.01), m / 1024 }'
