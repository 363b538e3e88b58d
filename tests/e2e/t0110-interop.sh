#!/bin/sh
# Interop with Debian's stock tools: a nova bundle is checked with tar,
# minisign, sha256sum, age and zstd; a bundle made with stock age -r,
# minisign -S and GNU tar is accepted by nova.
. "$(dirname "$0")/lib.sh"

setup_pair || { not_ok "setup"; done_testing; }
changes c.ndjson 50
check "seal" nova-agent seal A c.ndjson
B=$(ls A/outbox/*.nova)
mkdir x
check "stock tar lists exactly the three members" sh -c "[ \"\$(tar tf $B | tr '\n' ' ')\" = 'manifest manifest.minisig payload.age ' ]"
check "stock tar extracts" tar -C x -xf "$B"
check "stock minisign verifies the manifest" minisign -Vm x/manifest -x x/manifest.minisig -p A/keys/sign.pub
check "sha256sum of payload.age matches the manifest" sh -c '[ "$(sha256sum x/payload.age | cut -d" " -f1)" = "$(sed -n "s/^payload-sha256: //p" x/manifest)" ]'
check "stock age decrypts and zstd+tar list the payload" sh -c 'age -d -i H/keys/age.key x/payload.age | zstd -dq | tar t | grep -qx changes-000001.ndjson'
check "the decrypted records are the sealed ones" sh -c 'age -d -i H/keys/age.key x/payload.age | zstd -dq | tar xO changes-000001.ndjson | cmp - c.ndjson'
check "nova-audit verifies it from public keys" nova-audit bundles --keys A/keys/identity.pub "$B"
(cd x && tar --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=0644 -b 1 -cf ../repacked.nova manifest manifest.minisig payload.age)
same "GNU tar re-creates the bundle byte for byte" repacked.nova "$B"
no_personal=$(grep -c 'example.fr' x/manifest x/manifest.minisig | awk -F: '{s+=$2} END {print s}')
if [ "$no_personal" = 0 ]; then ok "manifest and signature hold no personal data"; else not_ok "personal data in manifest"; fi
cp "$B" H/inbox/
check "hub ingests the nova bundle" nova-hub ingest H

# --- a bundle made entirely with stock tools ---
mkdir s
(cd s && printf '{"op":"delete","key":"C-00001"}\n' > changes-000001.ndjson &&
    tar --format=ustar -cf - changes-000001.ndjson | zstd -q -c > payload.tar.zst)
check "stock age -r encrypts the payload to the hub" age -r "$(cat H/keys/age.pub)" -o s/payload.age s/payload.tar.zst
prev=$(sha256sum x/manifest | cut -d' ' -f1)
size=$(stat -c %s s/payload.age)
hash=$(sha256sum s/payload.age | cut -d' ' -f1)
kid=$(sed -n 's/^sender-key: //p' x/manifest)
rk=$(cat H/keys/age.pub)
printf 'nova-bundle: 1\nkind: changes\nsender: acme\nsender-key: %s\nrecipient: hub\nrecipient-key: %s\nseq: 2\nprev: %s\ncreated: 2026-11-28T12:00:00Z\npart: 1\nfinal: yes\nrecords: 1\nupserts: 0\ndeletes: 1\nrejects: 0\npayload-size: %s\npayload-sha256: %s\n' \
    "$kid" "$rk" "$prev" "$size" "$hash" > s/manifest
check "stock minisign -S signs the manifest with the agent key" sh -c 'minisign -S -s A/keys/sign.key -m s/manifest -x s/manifest.minisig </dev/null'
(cd s && tar --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=0644 -b 1 -cf ../H/inbox/stock.nova manifest manifest.minisig payload.age)
check "nova-hub verifies the stock-made bundle" nova-hub verify H H/inbox/stock.nova
check "nova-hub ingests the stock-made bundle" nova-hub ingest H
check "its payload was applied" sh -c 'cmp H/received/acme/0000000002/changes-000001.ndjson s/changes-000001.ndjson'
check "nova-audit checks the chain of both" sh -c 'nova-audit bundles --keys A/keys/identity.pub H/archive/*.nova | grep -q "2 bundle(s) checked, 0 problem"'

# --- nova-kat: the stock-signed KAT message verifies through nova's reader ---
check "nova-kat minisign signature verifies with stock minisign" minisign -Vm "$NOVA_SHARED/testvectors/nova-kat/msg.txt" -p "$NOVA_SHARED/testvectors/nova-kat/minisign.pub"
done_testing
