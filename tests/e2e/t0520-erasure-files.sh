#!/bin/sh
# An erasure reaches every file nova keeps.  A person known to two entities,
# whose changed e-mail went back to the other entity as an update (so the
# agent's import/ and archive/ hold it too), is erased at their request.
# Afterwards a search of every file under the hub and both agents -- each
# bundle decrypted with every age key present, each receipt unpacked, the
# LMDB stores read as bytes -- finds neither name, e-mail nor phone, and the
# auditor's verification of the ledger and of every archived file passes.
. "$(dirname "$0")/lib.sh"

setup_two_erasable || { not_ok "setup"; done_testing; }
nova-hub export H links > links.csv 2>/dev/null
check "the person has one RCU across both entities" sh -c '[ "$(grep "^groupe,G1," links.csv | cut -d, -f3)" = "$(grep "^acquis,A1," links.csv | cut -d, -f3)" ]'
# the acquired company changes her e-mail: it goes back to the group
sed -i 's/^A1,.*/A1,ZEPHYRINE,QUINTAVALLE,zq.nouvelle@example.org,+33 6 12 98 76 54,75011,17\/05\/1980/' ex-acquis/clients.csv
ship
back
check "her new e-mail reached the group's import files" sh -c 'grep -rq "zq.nouvelle@example.org" groupe/import/'
check "and the group agent's archive holds the update bundle" sh -c 'ls groupe/archive/*.updates.nova >/dev/null'

# every file nova keeps, searched for her
search() { # FILE: exit 0 when a trace of her is found
    LC_ALL=C grep -aiqE 'quintavalle|zephyrine|z.phyrine|zq\.nouvelle|612987654|06 12 98 76 54' "$1"
}
scan_all() {
found=""
for f in $(find H groupe acquis -type f); do
    case "$f" in
    */keys/*) continue ;;
    esac
    if search "$f"; then found="$found $f"; fi
    case "$f" in
    *.nova)
        for k in H/keys/age.key groupe/keys/age.key acquis/keys/age.key; do
            rm -rf x && mkdir x && tar -C x -xf "$f" 2>/dev/null || continue
            if age -d -i "$k" x/payload.age 2>/dev/null | zstd -dqc 2>/dev/null | tar -xO 2>/dev/null > x/plain; then
                if search x/plain; then found="$found $f(opened with $k)"; fi
            fi
        done ;;
    *.erased)
        rm -rf x && mkdir x && tar -C x -xf "$f" 2>/dev/null
        for m in x/*; do search "$m" && found="$found $f($m)"; done ;;
    esac
done
rm -rf x
}
scan_all
check "before the erasure the search finds her (in stores, received payloads, bundles, imports)" [ -n "$found" ]
nova-hub gdpr request H erase --email zephyrine.quintavalle@example.org >/dev/null 2>&1
back
ship
req=$(nova-hub gdpr list H --json | sed -n 's/.*"id":"\(REQ-[0-9]*\)".*"kind":"erase".*/\1/p' | head -1)
check "the erasure completes" sh -c "nova-hub gdpr show H $req | grep -q 'erase, complete'"
scan_all

check "no file under the hub or the agents holds her name, e-mail or phone${found:+ (found in:$found)}" [ -z "$found" ]
check "the files that held her are receipts now" sh -c 'ls H/archive/*.erased groupe/archive/*.erased >/dev/null 2>&1'
keys="--keys H/keys/identity.pub --keys groupe/keys/identity.pub --keys acquis/keys/identity.pub"
# shellcheck disable=SC2086
expect_status "the auditor's verification of the ledger and every archived file passes" 0 \
    'bundle file\(s\) checked against the ledger, [0-9]* of them receipts' \
    nova-audit verify H/ledger $keys H/archive/*
check "a receipt still verifies with stock minisign" sh -c '
    r=$(ls H/archive/*.erased | head -1); mkdir -p y && tar -C y -xf "$r" &&
    s=$(basename "$r" | cut -d- -f1); minisign -Vm y/manifest -x y/manifest.minisig -P "$(sed -n "s/^sign-key: //p" $s/keys/identity.pub)" >/dev/null'
done_testing
