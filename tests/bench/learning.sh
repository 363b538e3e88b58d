#!/bin/sh
# tests/bench/learning.sh - the learning loop (issue 18): a reviewer who
# answers the review queue from the generator's truth, then `nova-hub learn`
# and `nova-hub relink`, at K = 0, 50, 200 and every pair; precision,
# recall, F1 and the review share after each step.  F1 must never go down
# along the curve (the script says so when it does).  The queue is answered
# in the order `review list` gives (the pairs whose decision is worth most
# first).
#
#   BUILD=build sh tests/bench/learning.sh
# Environment: LEARN_PROFILES (default: realistic cross-company), LEARN_SIZE
# ("BASE ACQUIRED", default "20000 10000"), LEARN_SEED (1), KEEP.
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$ROOT/$BUILD:$ROOT/$BUILD/tests:$PATH"
PROFILES=${LEARN_PROFILES:-realistic cross-company}
SIZE=${LEARN_SIZE:-20000 10000}
SEED=${LEARN_SEED:-1}
W=$(mktemp -d "${TMPDIR:-/tmp}/nova-bench-learning.XXXXXX")
if [ -n "${KEEP:-}" ]; then echo "learning: work directory $W"; else trap 'rm -rf "$W"' EXIT; fi
cd "$W"
. "$ROOT/tests/bench/lib.sh"

# figures: "P R F1 REVIEW%" of the hub now
figures() {
    nova-hub eval H gen/truth.csv > eval.txt
    p=$(sed -n 's/^precision *//p' eval.txt)
    r=$(sed -n 's/^recall *//p' eval.txt)
    f=$(sed -n 's/^F1 *//p' eval.txt)
    v=$(sed -n 's/^review *[0-9]* records (\(.*\)%)/\1/p' eval.txt)
    echo "$p $r $f $v"
}

# answer N: the reviewer decides the first N open pairs of the queue from
# the truth (all when N is "all"); prints how many it answered
answer() {
    nova-hub review H list --json --limit 1000000 --why "learning bench" > queue.json 2>/dev/null
    awk -F, 'NR > 1 { print $1 ":" $2, $3 }' gen/truth.csv > truth.txt
    awk -v want="$1" '
        FNR == NR { who[$1] = $2; next }
        {
            if (want != "all" && n >= want) exit
            id = $0; sub(/^\{"id":"/, "", id); sub(/".*/, "", id)
            a = substr($0, index($0, "\"a\":\"") + 5); sub(/".*/, "", a)
            b = substr($0, index($0, "\"b\":\"") + 5); sub(/".*/, "", b)
            print id, (who[a] != "" && who[a] == who[b]) ? "accept" : "reject"
            n++
        }' truth.txt queue.json > answers.txt
    while read -r id verdict; do
        nova-hub review H "$verdict" "$id" --by "reviewer" --why "learning bench" >/dev/null 2>&1 || true
    done < answers.txt
    wc -l < answers.txt | tr -d ' '
}

echo "bench: the learning loop: a reviewer answers the queue from the truth, then learn + relink"
for prof in $PROFILES; do
    d=$W/$prof
    mkdir -p "$d" && cd "$d"
    # shellcheck disable=SC2086
    set -- $SIZE
    two_entities "$SEED" "$1" "$2" "$prof"
    for e in groupe acquis; do nova-agent scan $e >/dev/null 2>&1; done
    nova-hub ingest H groupe/outbox/*.nova >/dev/null 2>&1
    nova-hub ingest H acquis/outbox/*.nova >/dev/null 2>&1
    last=""
    done_so_far=0
    for k in 0 50 200 all; do
        if [ "$k" != 0 ]; then
            want=$k
            [ "$k" = all ] || want=$((k - done_so_far))
            n=$(answer "$want")
            done_so_far=$((done_so_far + n))
            nova-hub learn H > learn.txt 2>&1
            nova-hub relink H > relink.txt 2>&1
        fi
        # shellcheck disable=SC2046
        set -- $(figures)
        kept=$(grep -c 'NOT changed' learn.txt 2>/dev/null || true)
        echo "bench: learning $prof $SIZE K=$k ($done_so_far answered): precision $1 recall $2 F1 $3 in review $4%${kept:+ }$( [ "${kept:-0}" -gt 0 ] && echo '(new weights agreed less: kept the old)')"
        if [ -n "$last" ] && awk -v a="$3" -v b="$last" 'BEGIN { exit !(a < b) }'; then
            echo "bench: learning $prof: F1 went DOWN ($last -> $3)"
        fi
        last=$3
    done
    cd "$W"
    [ -n "${KEEP:-}" ] || rm -rf "$d"
done
