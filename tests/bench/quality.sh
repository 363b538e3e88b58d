#!/bin/sh
# tests/bench/quality.sh - matching quality across the generator's corruption
# profiles (issue 18): for each profile of tests/gen/gencrm, the French CRM
# scenario of hub-match.sh (two agents, one hub; the base ingested first,
# then the acquired entity matched against it), scored by
# `nova-hub eval H gen/truth.csv`.  One line per run:
#
#   bench: quality PROFILE SIZE: precision P recall R F1 F in review X%
#
# SIZE is BASE+ACQUIRED/seedS; at 20000+10000 the script runs every seed of
# QUALITY_SEEDS and adds a line with SIZE 20000+10000/mean (their mean).
#
# Environment:
#   BUILD             build directory (default build)
#   QUALITY_PROFILES  profiles to run (default: classic light realistic heavy
#                     cross-company; classic is gencrm's default, the data of
#                     hub-match.sh)
#   QUALITY_SEEDS     seeds for 20000+10000 (default: 1 2)
#   BENCH_LARGE       1 (default): also 200000+90000, seed 1, for every
#                     profile; 0: only 20000+10000, the quick run
#   KEEP              set: keep the work directory (its path is printed)
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$ROOT/$BUILD:$ROOT/$BUILD/tests:$PATH"
PROFILES=${QUALITY_PROFILES:-classic light realistic heavy cross-company}
SEEDS=${QUALITY_SEEDS:-1 2}
LARGE=${BENCH_LARGE:-1}
W=$(mktemp -d "${TMPDIR:-/tmp}/nova-bench-quality.XXXXXX")
if [ -n "${KEEP:-}" ]; then echo "quality: work directory $W"; else trap 'rm -rf "$W"' EXIT; fi
cd "$W"
. "$ROOT/tests/bench/lib.sh"

# run PROFILE SEED BASE ACQUIRED: prints "P R F1 REVIEW%" of one run
run() {
    d=$1-$3-$4-s$2
    mkdir -p "$d" && (
        cd "$d"
        two_entities "$2" "$3" "$4" "$1"
        for e in groupe acquis; do nova-agent scan $e >/dev/null 2>&1; done
        mkdir -p acquired && mv acquis/outbox/*.nova acquired/
        nova-hub ingest H groupe/outbox/*.nova >/dev/null 2>&1
        mv acquired/*.nova H/inbox/
        nova-hub ingest H >/dev/null 2>&1
        nova-hub eval H gen/truth.csv > eval.txt
        p=$(sed -n 's/^precision *//p' eval.txt)
        r=$(sed -n 's/^recall *//p' eval.txt)
        f=$(sed -n 's/^F1 *//p' eval.txt)
        v=$(sed -n 's/^review *[0-9]* records (\(.*\)%)/\1/p' eval.txt)
        echo "$p $r $f $v"
    )
    [ -n "${KEEP:-}" ] || rm -rf "$d"
}

line() { # PROFILE SIZE P R F1 REVIEW
    echo "bench: quality $1 $2: precision $3 recall $4 F1 $5 in review $6%"
}

echo "bench: matching quality across gencrm profiles (tests/gen/README.md), overlap 0.3"
for prof in $PROFILES; do
    n=0 sp=0 sr=0 sf=0 sv=0
    for seed in $SEEDS; do
        set -- $(run "$prof" "$seed" 20000 10000)
        line "$prof" "20000+10000/seed$seed" "$1" "$2" "$3" "$4"
        n=$((n + 1))
        sp="$sp + $1" sr="$sr + $2" sf="$sf + $3" sv="$sv + $4"
    done
    if [ "$n" -gt 1 ]; then
        awk -v n="$n" -v prof="$prof" "BEGIN {
            printf \"bench: quality %s 20000+10000/mean: precision %.4f recall %.4f F1 %.4f in review %.2f%%\\n\",
                prof, ($sp) / n, ($sr) / n, ($sf) / n, ($sv) / n }"
    fi
done
if [ "$LARGE" = 1 ]; then
    for prof in $PROFILES; do
        set -- $(run "$prof" 1 200000 90000)
        line "$prof" "200000+90000/seed1" "$1" "$2" "$3" "$4"
    done
fi
