#!/bin/sh
# Bad bundles at the hub, through the real binaries: each is refused with a
# message naming the problem and its own exit status, quarantined with a
# reason, and nothing of it is applied.
. "$(dirname "$0")/lib.sh"

setup_pair || { not_ok "setup"; done_testing; }
nova-agent init M --entity mallory >/dev/null
nova-agent trust M H/keys/identity.pub >/dev/null
nova-hub init H2 --entity hub >/dev/null
changes c.ndjson 20
for i in 1 2 3 4; do nova-agent seal A c.ndjson >/dev/null 2>&1; done
b() { ls A/outbox/acme-hub-000000000"$1".changes.nova; }
applied() { find H/received -name '*.ndjson' | wc -l; }

# --- whole-bundle checks with `verify` (nothing is applied) ---
expect_status "gap: bundle 2 before 1" 17 "bundle 2 arrived but 1 is missing" nova-hub verify H "$(b 2)"
head -c 3000 "$(b 1)" > trunc.nova
expect_status "truncated bundle" 11 "truncated" nova-hub verify H trunc.nova
cp "$(b 1)" flip.nova
size=$(stat -c %s flip.nova)
flip flip.nova $((size - 1100))
expect_status "tampered payload" 19 "does not match the payload-sha256" nova-hub verify H flip.nova
sed 's/^records: 20$/records: 21/' "$(b 1)" > forged.nova
expect_status "altered manifest" 13 "manifest signature does not verify" nova-hub verify H forged.nova
printf 'garbage' > junk.nova
expect_status "not a bundle at all" 11 "truncated" nova-hub verify H junk.nova
expect_status "oversized bundle" 12 "over the 100-byte limit" nova-hub verify H --max-size 100 "$(b 1)"
nova-agent seal M c.ndjson >/dev/null 2>&1
expect_status "unknown signer" 14 "key [0-9A-F]+ of 'mallory' is not enrolled" nova-hub verify H M/outbox/*.nova
# acme's enrolled key, but encrypted to another hub's key
cp -r A W && rm -rf W/keyring W/state W/outbox/*.nova
nova-agent trust W H2/keys/identity.pub >/dev/null
nova-agent seal W c.ndjson >/dev/null 2>&1
expect_status "wrong recipient key" 31 "not one of our keys" nova-hub verify H W/outbox/*.nova
if [ "$(applied)" = 0 ]; then ok "verify applied nothing"; else not_ok "verify applied something"; fi

# --- ingest: apply, replay, fork, quarantine ---
cp "$(b 1)" "$(b 2)" H/inbox/
check "ingest 1 and 2" nova-hub ingest H
cp "$(b 1)" H/inbox/copy.nova
expect_status "a copy of an applied bundle is a duplicate, not an error" 0 "^duplicate .*applied before" nova-hub ingest H
check "the duplicate is archived, not quarantined" sh -c '! test -e H/quarantine/copy.nova && ! test -e H/inbox/copy.nova'
# a fork: another agent state with the same key produces a different bundle 3
cp -r A A2
nova-agent seal A2 c.ndjson >/dev/null 2>&1   # A2 already sent 4: this is 5
rm -rf A2/state && nova-agent seal A2 c.ndjson >/dev/null 2>&1  # state lost: seq 1 again
cp A2/outbox/acme-hub-0000000001.changes.nova H/inbox/replay.nova
expect_status "same seq, other content: refused as replay" 16 "replayed" nova-hub ingest H
check "quarantine has the bundle and its reason" sh -c 'grep -q "bundle 1 replayed" H/quarantine/replay.nova.reason && test -f H/quarantine/replay.nova'
# fork at the next sequence number: bundle 3 chained to something else
rm -rf A3 && cp -r A A3 && rm -rf A3/outbox/*.nova A3/state
for i in 1 2; do nova-agent seal A3 c.ndjson >/dev/null 2>&1; done
rm A3/outbox/*.nova
nova-agent seal A3 c.ndjson >/dev/null 2>&1
cp A3/outbox/acme-hub-0000000003.changes.nova H/inbox/
expect_status "forked chain quarantined" 18 "does not chain to bundle 2" nova-hub ingest H
before=$(applied)
cp "$(b 4)" H/inbox/
check "a gap waits in the inbox instead of being refused" sh -c 'nova-hub ingest H | grep -q "waiting.*3 is missing" && test -f H/inbox/acme-hub-0000000004.changes.nova'
cp "$(b 3)" H/inbox/
check "once the missing bundle arrives both apply in order" sh -c 'nova-hub ingest H | grep -c "^applied" | grep -qx 2'
check "stream is at seq 4" sh -c 'nova-hub status H --json | grep -q "\"sender\":\"acme\",\"seq\":4"'
check "4 bundles applied, no refused one" sh -c '[ "$(find H/received -name "*.ndjson" | wc -l)" = 4 ]'

# --- revocation ---
nova-agent seal A c.ndjson >/dev/null 2>&1
nova-hub revoke H acme --reason "laptop stolen" >/dev/null
cp "$(b 5)" H/inbox/
expect_status "revoked key refused" 15 "revoked.*laptop stolen" nova-hub ingest H
check "status counts the quarantine" sh -c 'nova-hub status H --json | grep -q "\"quarantine\":3"'
cp H/quarantine/acme-hub-0000000005.changes.nova H/inbox/
check "ingest --json reports reason and status" sh -c 'nova-hub ingest H --json | grep -q "\"outcome\":\"quarantined\".*\"status\":15"'
# the operator's view of the quarantine
check "quarantine list names each refused bundle with its status and reason" sh -c 'nova-hub quarantine H list | grep -q "^replay.nova .* 16  stream acme->hub: bundle 1 replayed"'
check "quarantine list --json" sh -c 'nova-hub quarantine H list --json | grep -q "\"bundle\":\"replay.nova\",.*\"status\":16"'
check "quarantine show prints the reason and the manifest" sh -c 'nova-hub quarantine H show replay.nova | grep -q "^seq: 1$"'
expect_status "quarantine show of an unknown bundle" 29 "no quarantined bundle" nova-hub quarantine H show nothing.nova
nova-hub revoke H acme --reason "mistake" >/dev/null 2>&1
check "retry moves a bundle back and ingests it again (still refused: revoked)" sh -c 'nova-hub quarantine H retry acme-hub-0000000005.changes.nova | grep -q "moved acme-hub-0000000005.changes.nova back" && test -f H/quarantine/acme-hub-0000000005.changes.nova.reason'
done_testing
