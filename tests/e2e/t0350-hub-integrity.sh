#!/bin/sh
# The hub refuses what its signed manifest does not say, and tells a full
# disk from a corrupt store.
#  - A payload that holds other counts than its signed manifest (1 record,
#    1 upsert, 0 deletes in the manifest; 1 upsert and 3 deletes in the
#    payload) is refused with status 34 before anything is applied.
#  - The store on a full file system: ingest fails with status 33 (no space
#    left), not 32 (corrupt), nothing is half-applied, and once there is
#    room the same bundle applies.  Needs root for the tmpfs; skipped
#    otherwise.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
changes c1.ndjson 4
nova-agent seal A c1.ndjson >/dev/null 2>&1
mv A/outbox/*.nova H/inbox/
check "four records applied" nova-hub ingest H
{
    printf '{"op":"upsert","key":"C-00001","fields":{"nom":"Autre","email":"x@example.fr"}}\n'
    printf '{"op":"delete","key":"C-00002"}\n{"op":"delete","key":"C-00003"}\n{"op":"delete","key":"C-00004"}\n'
} > lie.ndjson
check "a bundle is sealed whose manifest says 1 record, 1 upsert, 0 deletes" tool_forge A lie.ndjson 1 1 0
check "its manifest says so, signed" sh -c 'tar -xOf A/outbox/*.nova manifest | grep -q "^records: 1$" && tar -xOf A/outbox/*.nova manifest | grep -q "^deletes: 0$"'
nova-hub export H records --format csv > before.csv 2>/dev/null
mv A/outbox/*.nova H/inbox/
expect_status "the hub refuses it with status 34" 34 'payload holds 4 records \(1 upserts, 3 deletes\) but its signed manifest says 1 \(1 upserts, 0 deletes\)' nova-hub ingest H
check "it is quarantined with its reason" sh -c 'grep -q "^code: 34" H/quarantine/*.reason'
nova-hub export H records --format csv > after.csv 2>/dev/null
same "nothing of it was applied" before.csv after.csv
check "no payload of it is kept" sh -c '[ ! -e H/received/acme/0000000002 ]'
check "the refusal is in the ledger" sh -c 'nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub | grep -q "0 problems"'

# a full disk under the store
if mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null || { mkdir -p small && mount -t tmpfs -o size=1m tmpfs small 2>/dev/null; }; then
    trap 'umount "$T/small" 2>/dev/null; rm -rf "$T"' EXIT
    nova-hub init H2 >/dev/null && nova-hub enroll H2 A/keys/identity.pub >/dev/null
    # a fresh stream for H2: a second agent trusting H2
    nova-agent init B --entity acme2 >/dev/null && nova-hub enroll H2 B/keys/identity.pub >/dev/null &&
        nova-agent trust B H2/keys/identity.pub >/dev/null
    umount small
    rm -rf H2/store && mkdir H2/store && mount -t tmpfs -o size=1m tmpfs H2/store
    trap 'umount "$T/H2/store" 2>/dev/null; rm -rf "$T"' EXIT
    changes big.ndjson 20000
    nova-agent seal B big.ndjson >/dev/null 2>&1
    cp B/outbox/*.nova H2/inbox/
    expect_status "a store on a full disk fails with status 33, not 32" 33 'No space left on device|no space left' nova-hub ingest H2
    check "the bundle waits in the inbox, not quarantined" sh -c 'ls H2/inbox/*.nova >/dev/null && [ -z "$(ls H2/quarantine)" ]'
    mount -o remount,size=256m H2/store
    check "with room, the same bundle applies" sh -c 'nova-hub ingest H2 | grep -q "^applied .*20000 records"'
    umount H2/store
else
    ok "# SKIP not allowed to mount a tmpfs here"
fi
done_testing
