#!/bin/sh
# tests/fuzz/run.sh - build every libFuzzer target (tests/fuzz/fuzz_*.c) with
# clang, ASan and UBSan, and run each for FUZZ_TIME seconds.
#
#   make fuzz [FUZZ_TIME=60]          (BUILD=build-fuzz sh tests/fuzz/run.sh)
#   T=manifest sh tests/fuzz/run.sh   only the targets whose name matches
#
# Environment: BUILD (default build-fuzz), FUZZ_TIME (seconds per target,
# default 30), FUZZ_CC (default clang, else clang-14), T (name filter),
# FUZZ_ARGS (extra libFuzzer flags).
#
# Each target runs on $BUILD/corpus/NAME, a copy of tests/fuzz/corpus/NAME
# that keeps what the fuzzer finds (the repository's seed corpus is never
# written).  Crashing inputs go to $BUILD/crashes/NAME/, logs to
# $BUILD/logs/NAME.log.  One line per target; exits 1 if any target found a
# crash (or failed to build or run), 0 otherwise.
set -u
BUILD=${BUILD:-build-fuzz}
FUZZ_TIME=${FUZZ_TIME:-30}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1

CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
    for c in clang clang-14; do
        if command -v "$c" >/dev/null 2>&1; then
            CC=$c
            break
        fi
    done
fi
if [ -z "$CC" ]; then
    echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi

PKGS="libsodium libarchive libzstd jansson libutf8proc nettle"
# shellcheck disable=SC2086
if ! PKG_CFLAGS=$(pkg-config --cflags $PKGS) ||
   ! PKG_LIBS="$(pkg-config --libs $PKGS) -lm -lpthread"; then
    echo "fuzz: pkg-config cannot find: $PKGS" >&2
    exit 1
fi
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wvla $SAN"

mkdir -p "$BUILD/obj" "$BUILD/logs" "$BUILD/corpus" "$BUILD/crashes" || exit 1

# ---- build ----
# The library sources are compiled once (fuzzer-no-link: instrumented for
# coverage, no main) and linked into every target with -fsanitize=fuzzer.
build_failed=0
objs=""
for src in formats/*.c keys/*.c hub/model/normalize.c hub/model/mapping.c hub/model/recparse.c hub/match/match.c hub/model/rules.c hub/segment/segment.c; do
    [ -f "$src" ] || continue
    o="$BUILD/obj/$(echo "$src" | tr / _).o"
    objs="$objs $o"
    # rebuilt when missing, or older than its source or any header
    stale=$(find "$src" formats/*.h keys/*.h -newer "$o" 2>/dev/null | head -1)
    if [ ! -f "$o" ] || [ -n "$stale" ]; then
        # shellcheck disable=SC2086
        if ! $CC $CFLAGS -fsanitize=fuzzer-no-link $PKG_CFLAGS -c "$src" -o "$o" \
            2>"$BUILD/logs/build-$(basename "$o").log"; then
            echo "fuzz: cannot compile $src:" >&2
            head -20 "$BUILD/logs/build-$(basename "$o").log" >&2
            rm -f "$o"
            build_failed=1
        fi
        [ -s "$BUILD/logs/build-$(basename "$o").log" ] ||
            rm -f "$BUILD/logs/build-$(basename "$o").log"
    fi
done
if [ "$build_failed" -ne 0 ]; then
    echo "fuzz: library sources failed to compile; no target was run" >&2
    exit 1
fi

targets=""
for src in tests/fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    case "$name" in *${T:-}*) ;; *) continue ;; esac
    bin="$BUILD/fuzz_$name"
    log="$BUILD/logs/build-fuzz_$name.log"
    # shellcheck disable=SC2086
    if $CC $CFLAGS -fsanitize=fuzzer $PKG_CFLAGS -o "$bin" "$src" $objs \
        $PKG_LIBS >"$log" 2>&1; then
        targets="$targets $name"
    else
        printf '%-10s BUILD FAILED (log: %s)\n' "$name" "$log"
        head -20 "$log" | sed 's/^/    /'
        build_failed=1
    fi
done
if [ -z "$targets" ] && [ "$build_failed" -eq 0 ]; then
    echo "fuzz: no target matches '${T:-}'" >&2
    exit 1
fi

# ---- run ----
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
found=0
crashed=""
echo "fuzzing$targets for ${FUZZ_TIME}s each ($CC, ASan+UBSan)"
for name in $targets; do
    bin="$BUILD/fuzz_$name"
    corpus="$BUILD/corpus/$name"
    crashes="$BUILD/crashes/$name"
    log="$BUILD/logs/$name.log"
    mkdir -p "$corpus" "$crashes"
    if [ -d "tests/fuzz/corpus/$name" ]; then
        cp -p "tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null
    fi
    stamp="$BUILD/logs/.start-$name"
    : >"$stamp"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$FUZZ_TIME" -rss_limit_mb=2048 -timeout=30 \
        -print_final_stats=1 -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} \
        "$corpus" >"$log" 2>&1
    rc=$?
    # inputs written during this run (an old one is rewritten if found again)
    new=$(find "$crashes" -type f ! -name '.*' -newer "$stamp" -exec basename {} \; |
          sort)
    rm -f "$stamp"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ncorp=$(find "$corpus" -type f | wc -l)
    stats=$(printf '%9s runs %7s exec/s  cov %5s  corpus %5s  rss %4s MB' \
        "${runs:-?}" "${eps:-?}" "${cov:-?}" "$ncorp" "${rss:-?}")
    if [ "$rc" -eq 0 ] && [ -z "$new" ]; then
        printf '%-10s ok     %s\n' "$name" "$stats"
        continue
    fi
    found=1
    crashed="$crashed $name"
    kind=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)[^(]*|runtime error: .*|deadly signal|out-of-memory.*|timeout after .*' "$log")
    printf '%-10s CRASH  %s\n' "$name" "$stats"
    printf '    %s (exit %d, log: %s)\n' "${kind:-see log}" "$rc" "$log"
    for f in $new; do
        printf '    input: %s/%s\n' "$crashes" "$f"
        printf '    reproduce: %s %s/%s\n' "$bin" "$crashes" "$f"
    done
done

if [ "$found" -ne 0 ]; then
    echo
    echo "crashes in:$crashed.  To reproduce one:"
    echo "  $BUILD/fuzz_NAME FILE      (runs just that input, prints the sanitizer report)"
    echo "  make build/tests/fuzz_NAME && build/tests/fuzz_NAME FILE   (gcc replay, as make test runs it)"
    echo "Minimize it with:  $BUILD/fuzz_NAME -minimize_crash=1 -runs=100000 FILE"
    echo "Once fixed, add the input to tests/fuzz/corpus/NAME/ so every 'make test' replays it."
fi
[ "$found" -eq 0 ] && [ "$build_failed" -eq 0 ]
