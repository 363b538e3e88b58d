#!/bin/sh
# make demo - nova's main job end to end on built-in sample data:
# an acquired company's agent seals its CRM changes into a signed, encrypted
# bundle; the bundle crosses as a plain file; the hub verifies and applies it;
# an auditor checks it with public keys and stock tools only.
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATH="$ROOT/$BUILD:$PATH"
D=${NOVA_DEMO_DIR:-$ROOT/$BUILD/demo}
rm -rf "$D"
mkdir -p "$D"
cd "$D"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "1. the hub and the agent of the acquired company 'acme' create their keys"
run nova-hub init hub
run nova-agent init acme --entity acme

step "2. they exchange public identity files (no secrets cross)"
run nova-hub enroll hub acme/keys/identity.pub
run nova-agent trust acme hub/keys/identity.pub

step "3. the agent seals the CRM's changes (sample: $(wc -l < "$ROOT/tests/data/sample-changes.ndjson") lines, one malformed)"
run nova-agent seal acme "$ROOT/tests/data/sample-changes.ndjson"
bundle=$(ls acme/outbox/*.nova)
run ls -l "$bundle"

step "4. the cleartext, signed manifest (no personal data)"
run tar -xOf "$bundle" manifest

step "5. the file crosses by any transport (here: cp, as rsync or a USB key would)"
run cp "$bundle" hub/inbox/

step "6. the hub verifies signature, key, sequence, chain and payload hash, then applies"
run nova-hub ingest hub
run nova-hub status hub

step "7. a tampered copy is refused and quarantined with its reason"
cp "$bundle" tampered.nova
# flip one byte in the middle of payload.age (it ends 1024 bytes and its
# padding before the end of the file)
size=$(stat -c %s tampered.nova)
psize=$(tar -xOf tampered.nova manifest | sed -n 's/^payload-size: //p')
off=$((size - 1024 - (psize + 511) / 512 * 512 + psize / 2))
byte=$(od -An -tu1 -j "$off" -N1 tampered.nova | tr -d ' ')
printf "\\$(printf %03o $(((byte + 1) % 256)))" | dd of=tampered.nova bs=1 seek="$off" conv=notrunc 2>/dev/null
cp tampered.nova hub/inbox/acme-tampered.nova
set +e
nova-hub ingest hub
echo "(exit status $?)"
set -e
run cat hub/quarantine/acme-tampered.nova.reason

step "8. an auditor checks the bundle from public keys only"
run nova-audit bundles --keys acme/keys/identity.pub hub/archive/*.nova
if command -v minisign >/dev/null && command -v age >/dev/null; then
    mkdir -p audit && tar -C audit -xf hub/archive/*.nova
    run minisign -Vm audit/manifest -x audit/manifest.minisig -p acme/keys/sign.pub
    run sha256sum audit/payload.age
    step "9. the hub (and only the hub) can read the payload with stock age"
    age -d -i hub/keys/age.key audit/payload.age | zstd -dq | tar -t
fi
printf '\ndemo done: everything is in %s\n' "$D"
