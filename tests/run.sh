#!/bin/sh
# tests/run.sh - run every suite and end with one line "N passed, N failed".
# Suites: unit tests (cmocka, TAP), fuzz-target corpus replays, end-to-end
# shell tests (TAP).  Set T=pattern to run only matching suites.
set -u
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export NOVA_ROOT="$ROOT" NOVA_BUILD="$ROOT/$BUILD" CMOCKA_MESSAGE_OUTPUT=TAP
export PATH="$ROOT/$BUILD:$PATH"
# the binaries log journal-style under systemd (formats/log.c): a test run
# started by a service must still see plain lines
unset INVOCATION_ID JOURNAL_STREAM
export NOVA_SHARED="${NOVA_SHARED:-$ROOT/../shared}"
LOGDIR="$ROOT/$BUILD/test-logs"
mkdir -p "$LOGDIR"
pass=0 fail=0
failed_suites=""

run_suite() { # name, command...
    name=$1; shift
    case "$name" in *${T:-}*) ;; *) return ;; esac
    log="$LOGDIR/$name.log"
    mkdir -p "$(dirname "$log")"
    "$@" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok - $name exited with status $rc" >>"$log"
    fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -gt 0 ]; then
        failed_suites="$failed_suites $name"
        printf '%-28s %4d passed, %d FAILED (log: %s)\n' "$name" "$p" "$f" "$log"
        grep -E '^(not ok|# )' "$log" | head -20 | sed 's/^/    /'
    else
        printf '%-28s %4d passed\n' "$name" "$p"
    fi
}

for t in "$ROOT/$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_suite "unit/$(basename "$t")" "$t"
done
for t in "$ROOT/$BUILD"/tests/fuzz_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    run_suite "fuzz-replay/$n" "$t" "$ROOT/tests/fuzz/corpus/${n#fuzz_}"
done
for t in "$ROOT"/tests/e2e/t*.sh; do
    [ -f "$t" ] || continue
    run_suite "e2e/$(basename "$t" .sh)" sh "$t"
done
[ -n "$failed_suites" ] && echo "failed suites:$failed_suites"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
