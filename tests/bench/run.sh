#!/bin/sh
# make bench - nova's throughput and memory beside the stock tools.
#
# Run from the repository root as:  BUILD=build sh tests/bench/run.sh
#
# Generates a reproducible set of French CRM change records (BENCH_MB, default
# 100 = 100*1000*1000 bytes of NDJSON, by tests/bench/gen_changes.c) and times:
#   nova seal          nova-agent seal A --cap ... changes.ndjson (one bundle)
#   nova open          nova-hub verify H BUNDLE (signature, key, sequence,
#                      payload hash, decrypt, decompress, untar to nothing)
#   age+minisign seal  age -e -r R -o f.age changes && minisign -S -s k -m f.age
#   minisign+age open  minisign -V -p k.pub -m f.age && age -d -i id -o /dev/null f.age
#   zstd -3 -T0 / zstd -d   compression alone, for context
# each BENCH_REPS times (default 3); the table shows the MEDIAN elapsed time and
# the LARGEST peak RSS of the repetitions.  Then, unless BENCH_QUICK=1, it
# seals and opens a BENCH_BIG_MB set (default 300) once, to show that memory
# does not grow with the input.
#
# MB = 10^6 bytes, MB/s = input MB / seconds, RSS in MiB (2^20 bytes).
# Elapsed time is taken with a nanosecond clock around /usr/bin/time (whose
# %e has only 10 ms resolution, too coarse for the stock tools); peak RSS is
# /usr/bin/time's %M.  The input is in the page cache for every run.
set -eu

BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in
/*) B=$BUILD ;;
*) B=$ROOT/$BUILD ;;
esac
MB=${BENCH_MB:-100}
BIG_MB=${BENCH_BIG_MB:-300}
QUICK=${BENCH_QUICK:-0}
REPS=${BENCH_REPS:-3}
CC=${CC:-cc}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

case $MB in '' | *[!0-9]* | 0) die "BENCH_MB must be a positive integer (got '$MB')" ;; esac
case $BIG_MB in '' | *[!0-9]* | 0) die "BENCH_BIG_MB must be a positive integer (got '$BIG_MB')" ;; esac
case $REPS in '' | *[!0-9]* | 0) die "BENCH_REPS must be a positive integer (got '$REPS')" ;; esac

# ---- tools ----
for t in "$CC" age age-keygen minisign zstd awk sort mktemp; do
    command -v "$t" >/dev/null 2>&1 ||
        die "'$t' is not installed (Debian: sudo apt-get install age minisign zstd time gcc; or run 'make bench' as root)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is not installed (Debian: sudo apt-get install time)"
for t in nova-agent nova-hub; do
    [ -x "$B/$t" ] || die "$B/$t is missing: run 'make' first (or 'make bench')"
done
AGENT=$B/nova-agent
HUB=$B/nova-hub

# nanosecond clock (GNU date); else fall back to /usr/bin/time's %e
case $(date +%N 2>/dev/null) in
'' | *[!0-9]*) NS=0 ;;
*) NS=1 ;;
esac

# ---- generator ----
mkdir -p "$B/bench"
GEN=$B/bench/gen_changes
say "building $GEN"
"$CC" -O2 -o "$GEN" "$ROOT/tests/bench/gen_changes.c" ||
    die "cannot compile tests/bench/gen_changes.c"

# ---- work directory ----
T=$(mktemp -d "${TMPDIR:-/tmp}/nova-bench.XXXXXX") || die "cannot create a temp directory"
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$T"

# quiet CMD...: run setup commands, fail loudly with their output
quiet() {
    if ! "$@" >"$T/setup.log" 2>&1; then
        cat "$T/setup.log" >&2
        die "setup step failed: $*"
    fi
}

# timed OP CMD...: run CMD once, append "seconds rss_kib" to $T/r.OP
timed() {
    op=$1
    shift
    t0=$(date +%s%N)
    if ! /usr/bin/time -f '%e %M' -o "$T/time.out" "$@" >"$T/cmd.out" 2>"$T/cmd.err"; then
        cat "$T/cmd.out" "$T/cmd.err" >&2
        die "$op failed: $*"
    fi
    t1=$(date +%s%N)
    # the last line of time's output is "%e %M"
    tail -n 1 "$T/time.out" | awk -v ns="$NS" -v t0="$t0" -v t1="$t1" '
        NF != 2 { exit 1 }
        { s = ns ? (t1 - t0) / 1e9 : $1; printf "%.4f %d\n", s, $2 }' >>"$T/r.$op" ||
        die "cannot read /usr/bin/time's output for $op"
    tail -n 1 "$T/r.$op" | awk -v op="$op" '{ printf "bench:   %-12s %8.3f s  %8.1f MiB\n", op, $1, $2 / 1024 }' >&2
}

# median seconds of OP's runs
med() { sort -n "$T/r.$1" | awk '{ a[NR] = $1 } END { printf "%.4f", a[int((NR + 1) / 2)] }'; }
# largest peak RSS of OP's runs, in KiB
rss() { awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$T/r.$1"; }
fsize() { wc -c <"$1" | tr -d ' '; }

# ---- keys: a hub and one agent; a stock age identity and minisign key ----
say "setting up a hub, an agent and stock keys in $T"
quiet "$HUB" init H
quiet "$AGENT" init A --entity acme
quiet "$HUB" enroll H A/keys/identity.pub
quiet "$AGENT" trust A H/keys/identity.pub
quiet age-keygen -o id.txt
RCPT=$(age-keygen -y id.txt) || die "age-keygen -y failed"
quiet minisign -G -W -p k.pub -s k.key

# cap: one bundle for the whole set (--cap is in MiB; MB < MiB)
big=$MB
[ "$BIG_MB" -gt "$big" ] && big=$BIG_MB
CAP=$((big + 64))M

say "generating $MB MB of change records"
"$GEN" "${MB}M" 1 >changes.ndjson || die "gen_changes failed"
IN=$(fsize changes.ndjson)
[ "$IN" -gt 0 ] || die "gen_changes wrote nothing"
NREC=$(awk 'END { print NR }' changes.ndjson)

# ---- a. nova seal ----
# Every run seals the same file as the next bundle of the stream (seq 1, 2,
# ...); the first bundle (seq 1) is kept for the open runs: the hub's verify
# checks the sequence, so only seq 1 passes on a hub that applied nothing.
say "nova seal x$REPS"
i=1
while [ "$i" -le "$REPS" ]; do
    timed seal "$AGENT" seal A --cap "$CAP" changes.ndjson
    set -- A/outbox/*.nova
    if [ $# -ne 1 ] || [ ! -f "$1" ]; then
        die "nova seal did not write exactly one bundle (got: $*)"
    fi
    if [ "$i" -eq 1 ]; then mv "$1" bundle.nova; else rm -f "$1"; fi
    i=$((i + 1))
done
BUNDLE=$(fsize bundle.nova)

# ---- b. nova open ----
say "nova open (hub verify) x$REPS"
i=1
while [ "$i" -le "$REPS" ]; do
    timed open "$HUB" verify H bundle.nova
    grep -q "^ok .* $NREC records" "$T/cmd.out" ||
        die "nova-hub verify did not report $NREC records: $(cat "$T/cmd.out")"
    i=$((i + 1))
done

# ---- c. stock seal: age + minisign ----
say "age+minisign seal x$REPS"
i=1
while [ "$i" -le "$REPS" ]; do
    rm -f f.age f.age.minisig
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    timed sseal sh -c 'age -e -r "$1" -o f.age changes.ndjson && minisign -S -s k.key -m f.age' sh "$RCPT"
    i=$((i + 1))
done
AGEF=$(fsize f.age)
SIGF=$(fsize f.age.minisig)

# ---- d. stock open: minisign + age ----
say "minisign+age open x$REPS"
i=1
while [ "$i" -le "$REPS" ]; do
    timed sopen sh -c 'minisign -V -p k.pub -m f.age && age -d -i id.txt -o /dev/null f.age'
    i=$((i + 1))
done

# ---- e. zstd alone ----
say "zstd x$REPS"
i=1
while [ "$i" -le "$REPS" ]; do
    timed zstd sh -c 'zstd -q -3 -T0 -c changes.ndjson >changes.zst'
    i=$((i + 1))
done
ZST=$(fsize changes.zst)
i=1
while [ "$i" -le "$REPS" ]; do
    timed unzstd sh -c 'zstd -q -d -c changes.zst >/dev/null'
    i=$((i + 1))
done

# ---- memory-boundedness: a bigger set, once ----
BIGDONE=0
if [ "$QUICK" != 1 ]; then
    rm -f changes.zst f.age
    say "memory check: $BIG_MB MB set (one run each)"
    quiet "$AGENT" init A2 --entity acme-big
    quiet "$HUB" enroll H A2/keys/identity.pub
    quiet "$AGENT" trust A2 H/keys/identity.pub
    "$GEN" "${BIG_MB}M" 2 >big.ndjson || die "gen_changes failed"
    BIGIN=$(fsize big.ndjson)
    BIGREC=$(awk 'END { print NR }' big.ndjson)
    timed bigseal "$AGENT" seal A2 --cap "$CAP" big.ndjson
    set -- A2/outbox/*.nova
    if [ $# -ne 1 ] || [ ! -f "$1" ]; then
        die "nova seal did not write exactly one bundle (got: $*)"
    fi
    mv "$1" big.nova
    rm -f big.ndjson
    BIGB=$(fsize big.nova)
    timed bigopen "$HUB" verify H big.nova
    grep -q "^ok .* $BIGREC records" "$T/cmd.out" ||
        die "nova-hub verify did not report $BIGREC records: $(cat "$T/cmd.out")"
    BIGDONE=1
fi

# ---- report ----
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
AGEV=$(age --version 2>/dev/null || echo '?')
MSV=$(minisign -v 2>/dev/null | awk '{ print $2 }' || echo '?')
ZSV=$(zstd -V 2>/dev/null | sed -n 's/.* v\([0-9.]*\).*/\1/p' || echo '?')

{
    echo
    echo "nova bench ($(date -u +%Y-%m-%dT%H:%M:%SZ), nova $REV, $NCPU CPU: ${CPU:-?})"
    echo "stock: age $AGEV, minisign $MSV, zstd $ZSV"
    echo "input: $IN bytes of NDJSON, $NREC records (gen_changes ${MB}M, seed 1)"
    echo "times: median of $REPS runs; peak RSS: largest of the $REPS; MB = 10^6 bytes, MB/s = input MB / s"
    echo
    awk -v in_b="$IN" \
        -v s_seal="$(med seal)" -v m_seal="$(rss seal)" -v o_seal="$BUNDLE" \
        -v s_open="$(med open)" -v m_open="$(rss open)" \
        -v s_sseal="$(med sseal)" -v m_sseal="$(rss sseal)" -v o_sseal="$((AGEF + SIGF))" \
        -v s_sopen="$(med sopen)" -v m_sopen="$(rss sopen)" \
        -v s_zstd="$(med zstd)" -v m_zstd="$(rss zstd)" -v o_zstd="$ZST" \
        -v s_unz="$(med unzstd)" -v m_unz="$(rss unzstd)" \
        -v agef="$AGEF" '
    function row(name, s, m, out) {
        printf "%-34s %8.1f %8.3f %9.1f %13.1f  %s\n", name, mb, s, mb / s, m / 1024, out
    }
    BEGIN {
        mb = in_b / 1e6
        printf "%-34s %8s %8s %9s %13s  %s\n", "operation", "input MB", "seconds", "MB/s", "peak RSS MiB", "output bytes"
        row("nova seal (nova-agent seal)", s_seal, m_seal, o_seal " bundle")
        row("nova open (nova-hub verify)", s_open, m_open, "-")
        row("stock seal (age -e + minisign -S)", s_sseal, m_sseal, o_sseal " age+sig")
        row("stock open (minisign -V + age -d)", s_sopen, m_sopen, "-")
        row("zstd -3 -T0 (compress only)", s_zstd, m_zstd, o_zstd " .zst")
        row("zstd -d (decompress only)", s_unz, m_unz, "-")
        seal = mb / s_seal; sseal = mb / s_sseal; open = mb / s_open; sopen = mb / s_sopen
        printf "\n"
        printf "seal: nova %.1f MB/s vs age+minisign %.1f MB/s: %.2fx the stock pipeline\n", seal, sseal, seal / sseal
        printf "open: nova %.1f MB/s vs minisign+age %.1f MB/s: %.2fx the stock pipeline\n", open, sopen, open / sopen
        printf "size: bundle %d bytes (%.1f%% of the input) vs age file %d bytes (%.1f%%): the bundle is %.2fx smaller\n",
            o_seal, 100 * o_seal / in_b, agef, 100 * agef / in_b, agef / o_seal
        printf "      (zstd -3 alone: %d bytes, %.1f%% of the input)\n", o_zstd, 100 * o_zstd / in_b
    }'
    if [ "$BIGDONE" = 1 ]; then
        awk -v mb="$MB" -v bigin="$BIGIN" -v bigb="$BIGB" \
            -v s1="$(med seal)" -v m1="$(rss seal)" -v o1="$(rss open)" \
            -v s2="$(med bigseal)" -v m2="$(rss bigseal)" -v so2="$(med bigopen)" -v o2="$(rss bigopen)" '
        BEGIN {
            printf "\nmemory vs input size (one run at %.1f MB, bundle %d bytes):\n", bigin / 1e6, bigb
            printf "  seal peak RSS %.1f MiB at %d MB, %.1f MiB at %.0f MB (%.1f MB/s)\n", m1 / 1024, mb, m2 / 1024, bigin / 1e6, bigin / 1e6 / s2
            printf "  open peak RSS %.1f MiB at %d MB, %.1f MiB at %.0f MB (%.1f MB/s)\n", o1 / 1024, mb, o2 / 1024, bigin / 1e6, bigin / 1e6 / so2
        }'
    fi
    echo
    awk -v in_b="$IN" -v s_seal="$(med seal)" -v s_sseal="$(med sseal)" \
        -v s_open="$(med open)" -v s_sopen="$(med sopen)" \
        -v m_seal="$(rss seal)" -v m_open="$(rss open)" '
    BEGIN {
        mb = in_b / 1e6
        seal = mb / s_seal; sseal = mb / s_sseal; open = mb / s_open; sopen = mb / s_sopen
        printf "bench: seal %.1f MB/s vs age+minisign %.1f MB/s (%.2fx); open %.1f MB/s vs minisign+age %.1f MB/s (%.2fx); peak RSS seal %.1f MiB, open %.1f MiB\n",
            seal, sseal, seal / sseal, open, sopen, open / sopen, m_seal / 1024, m_open / 1024
    }'
    if [ "$BIGDONE" = 1 ]; then
        awk -v mb="$MB" -v big="$BIG_MB" -v m1="$(rss seal)" -v m2="$(rss bigseal)" \
            -v o1="$(rss open)" -v o2="$(rss bigopen)" '
        BEGIN {
            printf "bench: memory bounded: seal peak RSS %.1f MiB at %d MB, %.1f MiB at %d MB; open %.1f MiB, %.1f MiB\n",
                m1 / 1024, mb, m2 / 1024, big, o1 / 1024, o2 / 1024
        }'
    fi
}
