#!/bin/sh
# mk/layers.sh - the hub's rooms depend one way (docs/ARCHITECTURE.md).
# A room may include its own headers and those of the rooms below it,
# never one above or beside it.  From the top:
#
#   cmd, audit  the command line: arguments and printing
#   ops         status, metrics, alerts, dashboard: computed from the store
#   segment     marketing segments: parse, select people, leave out the
#               people GDPR and consent keep out (above gdpr and intake)
#   export      the data-lake export: the change log since a cursor, as
#               partitioned files with a schema and a manifest
#   intake      ingest, apply, replay: bundles in, applied to the store
#   gdpr        the data-subject register, erasure, suppression
#   golden      survivorship and the updates sent back
#   link, core  incremental resolution in the store | the hub's context
#   match       comparators, the model and EM, clustering (no LMDB)
#   model       mapping, normalisation, record parsing, rules, suggest
#   store       LMDB store, ledger, mapping repository
#   lib         generic code of the hub's own (the hash map), libc only
#   (formats/, keys/ and the agent's exactly-once outbox are below all)
#
# Exit 1, naming each include that goes the wrong way.
set -eu
cd "$(dirname "$0")/.."
rank() {
    case $1 in
    cmd | audit) echo 10 ;;
    ops) echo 9 ;;
    segment) echo 9 ;;
    export) echo 9 ;;
    intake) echo 8 ;;
    gdpr) echo 7 ;;
    golden) echo 6 ;;
    link | core) echo 5 ;;
    match) echo 4 ;;
    model) echo 3 ;;
    store) echo 2 ;;
    lib) echo 1 ;;
    *) echo "" ;;
    esac
}
bad=0
for f in hub/*/*.c hub/*/*.h; do
    room=${f#hub/}
    room=${room%%/*}
    r=$(rank "$room")
    if [ -z "$r" ]; then
        echo "layers: $f is in a room mk/layers.sh does not know ($room)" >&2
        bad=1
        continue
    fi
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case $inc in
        ../../formats/* | ../../keys/*) continue ;;
        ../../agent/outbox.h | ../../agent/state.h) continue ;;
        ../../*)
            echo "layers: $f includes $inc (outside hub/, formats/ and keys/)" >&2
            bad=1
            continue ;;
        ../*/*)
            other=${inc#../}
            other=${other%%/*} ;;
        */*)
            echo "layers: $f includes $inc (a path the check does not know)" >&2
            bad=1
            continue ;;
        *) continue ;; # its own room
        esac
        o=$(rank "$other")
        if [ -z "$o" ] || [ "$o" -ge "$r" ]; then
            echo "layers: $f ($room) includes $inc: $other is not below $room" >&2
            bad=1
        fi
    done
done
if [ "$bad" -ne 0 ]; then
    echo "layers: the hub's dependencies must run one way (docs/ARCHITECTURE.md)" >&2
    exit 1
fi
echo "layers: the hub's rooms depend one way"
