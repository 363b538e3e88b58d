#!/bin/sh
# Identities: init, file modes, enrolment and trust, rotation with proof,
# revocation.
. "$(dirname "$0")/lib.sh"

check "hub init" nova-hub init H
check "agent init" nova-agent init A --entity acme
expect_status "init refuses to overwrite keys" 28 "already holds keys" nova-agent init A --entity acme
expect_status "bad entity name refused" 2 "invalid entity name" nova-agent init B --entity "Bad Name"
expect_status "missing --entity is a usage error" 2 "required" nova-agent init C

modes=$(stat -c '%a %n' A/keys/sign.key A/keys/age.key H/keys/sign.key H/keys/age.key H/keys/ledger.key | awk '$1 != "600"')
if [ -z "$modes" ]; then ok "secret key files are 0600"; else not_ok "secret key modes: $modes"; fi
if grep -q '^AGE-SECRET-KEY-1' A/keys/age.key && grep -q '^age1' A/keys/age.pub; then
    ok "age key files in the age format"; else not_ok "age key format"; fi
check "age-keygen -y derives our recipient" sh -c '[ "$(age-keygen -y A/keys/age.key)" = "$(cat A/keys/age.pub)" ]'
if grep -q '^ledger-key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5' H/keys/identity.pub; then
    ok "hub identity carries an ssh-ed25519 ledger key"; else not_ok "ledger key"; fi

# a key readable by others is refused
chmod 644 A/keys/sign.key
changes c.ndjson 2
expect_status "world-readable secret key refused" 26 "readable by others" nova-agent seal A c.ndjson
chmod 600 A/keys/sign.key

expect_status "sealing before trusting a hub" 30 "no hub is trusted" nova-agent seal A c.ndjson
expect_status "enroll refuses a hub identity" 26 "not of an agent" nova-hub enroll H H/keys/identity.pub
check "enroll agent" nova-hub enroll H A/keys/identity.pub
expect_status "enroll twice" 28 "already in the keyring" nova-hub enroll H A/keys/identity.pub
check "trust hub" nova-agent trust A H/keys/identity.pub
check "keys --json lists the agent" sh -c 'nova-hub keys H --json | grep -q "\"entity\":\"acme\".*\"state\":\"active\""'

# rotation: the new identity is signed by the old key
old=$(nova-agent status A --json | sed 's/.*"key_id":"\([0-9A-F]*\)".*/\1/')
check "agent rotate" nova-agent rotate A
check "rotation proof verifies with stock minisign" minisign -Vm A/keys/identity.pub -x A/keys/identity.pub.minisig -p A/keys/retired/sign-1.pub
check "enroll rotated key with its proof" nova-hub enroll H A/keys/identity.pub
check "old key is retired" sh -c "nova-hub keys H | grep '$old' | grep -q retired"
mv A/keys/identity.pub.minisig proof.minisig
nova-agent rotate A >/dev/null 2>&1
rm -f A/keys/identity.pub.minisig
expect_status "new key without proof refused" 14 "needs the identity's .minisig" nova-hub enroll H A/keys/identity.pub
check "new key with --force accepted" nova-hub enroll H A/keys/identity.pub --force

# revocation
check "revoke" nova-hub revoke H acme --reason "server compromised"
check "revoked keys listed with the reason" sh -c 'nova-hub keys H | grep -q "revoked.*server compromised"'
expect_status "revoke needs a reason" 2 "reason" nova-hub revoke H acme
expect_status "revoking an unknown entity" 29 "no key or entity" nova-hub revoke H nobody --reason x
check "--help lists the exit statuses" sh -c 'nova-hub ingest --help | grep -q "gap in sequence"'
expect_status "a hub command on a directory that is not a hub says so" 29 "'nothub' is not a hub directory" nova-hub status nothub
check "and creates nothing there" [ ! -e nothub ]
done_testing
