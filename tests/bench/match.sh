#!/bin/sh
# tests/bench/match.sh - identity resolution (hub/match/match.c) on the FEBRL
# benchmark: pairwise precision, recall and F1 of the automatic links, the
# pairs left for review, and comparisons per second.
#
# Run from the repository root as:  BUILD=build sh tests/bench/match.sh
# (needs build/tests/tool_febrl: `make tests`).  The data are the FEBRL CSVs
# of ../shared/data/febrl (FEBRL=dir to use others); see their README.md.
#
# Runs, with the thresholds and options fixed in hub/match/match.h (the same for
# every run; nothing is tuned on the truth):
#   FEBRL4 link 4a x 4b, one-to-one, with date_of_birth and soc_sec_id
#          (the twins test decides the twins rule, as in the hub: FEBRL
#          replaces first names and ids at random, and the test finds the
#          two disagreements independent, i.e. errors, not twins)
#   FEBRL4 the same with the twins rule held on whatever the test says
#          (what the hub does when the data hold twins, or no ids)
#   FEBRL4 names + postcode + address;  names + postcode alone
#   FEBRL3 dedup, with date_of_birth and soc_sec_id; without them
#   FEBRL4 and FEBRL3 again through the real hub (tests/tools/febrl-hub.sh)
# then one line per run starting with "bench:".
set -eu

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in
/*) B=$BUILD ;;
*) B=$ROOT/$BUILD ;;
esac
TOOL=$B/tests/tool_febrl
FEBRL=${FEBRL:-${NOVA_SHARED:-$ROOT/../shared}/data/febrl}

die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[ -x "$TOOL" ] || die "$TOOL is missing: run 'make tests' first"
for f in dataset3.csv dataset4a.csv dataset4b.csv; do
    [ -f "$FEBRL/$f" ] || die "$FEBRL/$f is missing (set FEBRL=dir)"
done

T=$(mktemp -d "${TMPDIR:-/tmp}/nova-bench-match.XXXXXX") || die "cannot create a temp directory"
trap 'rm -rf "$T"' EXIT

# run NAME ARGS...: the tool's report on stdout, kept for the summary
run() {
    name=$1
    shift
    printf '\n== %s\n' "$name"
    "$TOOL" "$@" >"$T/out" || die "tool_febrl $* failed"
    cat "$T/out"
    awk -v name="$name" '
        /auto-link:/ { p = $7; r = $9; f = $11 }
        /twins test:/ {
            tw = "; twins rule " $NF
            if (match($0, /odds ratio <= [0-9.]+/))
                tw = tw " (" substr($0, RSTART, RLENGTH) ")"
        }
        /^  review:/ { rv = $2; rt = $4; rr = $NF }
        /^  bench:/ { b = sprintf("; one thread: %s candidate, %s random pairs/s", $2, $5) }
        END { printf "bench: %-44s precision %s recall %s F1 %s; review %s pairs (%s true), recall with review %s%s%s\n",
                      name, p, r, f, rv, rt, rr, tw, b }' "$T/out" >>"$T/summary"
}

A=$FEBRL/dataset4a.csv
Bf=$FEBRL/dataset4b.csv
run "FEBRL4 link, names+postcode+address+dob+ssn" link "$A" "$Bf" --with-dob-ssn --bench
run "FEBRL4 link, same, twins rule held on" link "$A" "$Bf" --with-dob-ssn --twins-rule
run "FEBRL4 link, names+postcode+address" link "$A" "$Bf"
run "FEBRL4 link, names+postcode" link "$A" "$Bf" --no-address
run "FEBRL3 dedup, names+postcode+address+dob+ssn" dedup "$FEBRL/dataset3.csv" --with-dob-ssn
run "FEBRL3 dedup, same, twins rule held on" dedup "$FEBRL/dataset3.csv" --with-dob-ssn --twins-rule
run "FEBRL3 dedup, names+postcode+address" dedup "$FEBRL/dataset3.csv"

# FEBRL4 and FEBRL3 again through the real hub: agents, nova-hub ingest,
# eval (the hub's own fit: m by EM, u from random pairs, 7-bit threshold)
# hubrun NAME MODE
hubrun() {
    printf '\n== %s\n' "$1"
    PATH="$B:$PATH" sh "$ROOT/tests/tools/febrl-hub.sh" "$FEBRL" "$T/hub-$2" "$2" >"$T/hub.txt" 2>&1 ||
        { cat "$T/hub.txt"; die "the FEBRL hub scenario ($2) failed"; }
    grep -v '^applied' "$T/hub.txt"
    awk -v name="$1" '/^precision/ { p = $2 } /^recall/ { r = $2 } /^F1/ { f = $2 }
         /^review/ { rv = $2; sh = $4 } /^twins rule:/ { tw = $3 }
         END { printf "bench: %-44s precision %s recall %s F1 %s; review %s records %s; twins rule %s\n",
                      name, p, r, f, rv, sh, tw }' "$T/hub.txt" >>"$T/summary"
}
hubrun "FEBRL4 through the hub (agents, ingest, eval)" link
hubrun "FEBRL3 through the hub (one entity's dedup)" dedup

printf '\n'
cat "$T/summary"
