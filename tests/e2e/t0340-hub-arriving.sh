#!/bin/sh
# A bundle still being copied into the hub's inbox is never quarantined: a
# file that does not read whole and changed less than the settle time ago
# stays in the inbox ("arriving"); a truncated file is quarantined only once
# it has stopped changing; names a copy uses while it runs are not read; a
# bundle named from elsewhere is copied in, never moved away from its owner.
. "$(dirname "$0")/lib.sh"

setup_pair || { not_ok "setup"; done_testing; }
changes c1.ndjson 3000
changes c2.ndjson 10
nova-agent seal A c1.ndjson >/dev/null 2>&1
nova-agent seal A c2.ndjson >/dev/null 2>&1
set -- A/outbox/*.nova
b1=$1 b2=$2
size=$(stat -c %s "$b1")
half=$((size / 2))
export NOVA_INBOX_SETTLE=30

# the first half of a copy, then the rest (a slow mount, a USB key)
head -c "$half" "$b1" > H/inbox/b1.nova
expect_status "a half-copied bundle is not refused" 0 '' nova-hub ingest H
cp "$T/.out" out1
check "it is reported as arriving, not quarantined" grep -q '^arriving .*still being copied' out1
check "it stays in the inbox" test -f H/inbox/b1.nova
check "nothing is quarantined" sh -c '[ -z "$(ls H/quarantine)" ]'
tail -c +$((half + 1)) "$b1" >> H/inbox/b1.nova
expect_status "once the copy is whole, it applies" 0 '' nova-hub ingest H
cp "$T/.out" out2
check "applied" grep -q '^applied .*seq 1' out2

# a copy cut short that never completes: quarantined once unchanged
head -c $(( $(stat -c %s "$b2") / 2 )) "$b2" > H/inbox/b2.nova
expect_status "a fresh truncated file waits" 0 '' nova-hub ingest H
touch -d '-60 seconds' H/inbox/b2.nova
expect_status "unchanged past the settle time, it is quarantined" 11 'truncated' nova-hub ingest H
check "with its reason" grep -q 'truncated' H/quarantine/b2.nova.reason
check "the --settle option overrides the environment" sh -c '
    head -c 100 '"$b2"' > H/inbox/b3.nova
    nova-hub ingest H --settle 0 >/dev/null 2>&1
    test -f H/quarantine/b3.nova.reason'

# temporary names of a copy in progress are left alone
cp "$b2" H/inbox/b2.nova.part
cp "$b2" H/inbox/.b2.nova
head -c 100 "$b2" > H/inbox/b4.nova.tmp
expect_status "names a copy uses are not read" 0 '' nova-hub ingest H
check "they are still in the inbox, none quarantined" sh -c '
    test -f H/inbox/b2.nova.part && test -f H/inbox/.b2.nova && test -f H/inbox/b4.nova.tmp &&
    [ ! -e H/quarantine/b2.nova.part.reason ] && [ ! -e H/quarantine/.b2.nova.reason ]'
rm -f H/inbox/b2.nova.part H/inbox/.b2.nova H/inbox/b4.nova.tmp

# a bundle named from elsewhere is copied, not moved
mkdir elsewhere
cp "$b2" elsewhere/mine.nova
expect_status "a bundle named from outside the inbox applies" 0 '' nova-hub ingest H elsewhere/mine.nova
cp "$T/.out" out3
check "seq 2 applied" grep -q '^applied .*seq 2' out3
same "the caller's file is still where it was" elsewhere/mine.nova "$b2"
check "and its copy went to the archive, not left in the inbox" sh -c 'ls H/archive | grep -q 0000000002 && [ ! -e H/inbox/mine.nova ]'

# the agent's inbox waits the same way for a bundle from the hub
printf '{"op":"upsert","key":"C-00001","fields":{"nom":"Autre"}}\n' > up.ndjson
nova-hub send H acme --kind updates up.ndjson >/dev/null 2>&1
hb=$(ls H/outbox/acme/*.nova | tail -1) # the update (receipts come before it)
for f in H/outbox/acme/*.nova; do [ "$f" = "$hb" ] || cp "$f" A/inbox/; done
nova-agent scan A >/dev/null 2>&1
head -c $(( $(stat -c %s "$hb") / 2 )) "$hb" > A/inbox/u.nova
check "the agent leaves a half-copied bundle in its inbox" sh -c 'nova-agent scan A >/dev/null 2>&1; test -f A/inbox/u.nova && [ -z "$(ls A/quarantine)" ]'
cp "$hb" A/inbox/u.nova
check "and applies it once whole" sh -c 'nova-agent scan A >/dev/null 2>&1 && ls A/import/nova-updates-* >/dev/null'
done_testing
