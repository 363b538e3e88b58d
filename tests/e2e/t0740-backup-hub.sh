#!/bin/sh
# nova-hub backup and restore: a consistent copy of the hub (store through
# mdb_env_copy2, ledger and mappings, keys, spools) in a new directory with
# the SHA-256 of every file, 0700/0600; restored after the hub directory is
# destroyed, the flow goes on: the agent resends what the backup lacks, the
# hub applies it, holds exactly the last export, and the ledger verifies.
# A damaged backup, a non-empty target, a backup inside the hub: refused.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
deliver() { for b in A/outbox/*.nova; do [ -e "$b" ] && mv "$b" H/inbox/; done; }
back() { for b in H/outbox/acme/*.nova; do [ -e "$b" ] && mv "$b" A/inbox/; done; }

# bundles 1 and 2 applied, their receipts back at the agent
export_csv exports/contacts.csv 200
nova-agent scan A >/dev/null 2>&1; deliver
check "ingest 1" nova-hub ingest H
back
export_csv exports/contacts.csv 200 b
nova-agent scan A >/dev/null 2>&1; deliver
check "ingest 2" nova-hub ingest H
back
check "the agent applies the receipts" nova-agent scan A

expect_status "a backup inside the hub's directory is refused" 2 "inside" \
    nova-hub backup H H/backups
expect_status "nova-hub backup" 0 "backup written to" nova-hub backup H "$T/bk"
grep -q "applied: acme seq 2" "$T/.out" && ok "it says what it holds (acme applied up to seq 2)" ||
    not_ok "$(cat "$T/.out")"
B=$(ls -d "$T"/bk/hub-*)
[ "$(ls -d "$T"/bk/* | wc -l)" = 1 ] && [ -z "$(ls -A "$T/bk" | grep '^\.')" ] &&
    ok "one backup, no temporary left" || not_ok "bk holds: $(ls -A "$T/bk")"
check "the backup checks with stock sha256sum" sh -c "cd '$B' && sha256sum -c --quiet SHA256SUMS"
check "every file of the backup is listed" sh -c \
    "[ \$(cd '$B' && find . -type f ! -name SHA256SUMS | wc -l) = \$(wc -l < '$B/SHA256SUMS') ]"
[ "$(stat -c %a "$B")" = 700 ] && [ -z "$(find "$B" -type f ! -perm 600)" ] &&
    [ -z "$(find "$B" -type d ! -perm 700)" ] &&
    ok "the backup is 0700, its files 0600 (personal data)" || not_ok "modes: $(find "$B" -ls | head)"
for f in store/data.mdb keys/sign.key keys/age.key keys/ledger.key keyring ledger/HEAD \
         mappings/HEAD received/acme/0000000002 archive; do
    [ -e "$B/dir/$f" ] || missing="$missing $f"
done
[ -z "${missing:-}" ] && ok "store, keys, keyring, ledger, mappings, received, archive are in it" ||
    not_ok "missing:$missing"
[ ! -e "$B/dir/hub.lock" ] && ok "the lock is not" || not_ok "hub.lock copied"
check "the ledger copy is a git repository at the same head" sh -c \
    "[ \"\$(git -C '$B/dir/ledger' rev-parse main)\" = \"\$(git -C H/ledger rev-parse main)\" ]"

# more bundles after the backup: 3 and 4 applied; the hub's receipts never
# reach the agent (the hub's disk dies first)
export_csv exports/contacts.csv 220 c
nova-agent scan A >/dev/null 2>&1; deliver
check "ingest 3" nova-hub ingest H
export_csv exports/contacts.csv 230 d
nova-agent scan A >/dev/null 2>&1; deliver
check "ingest 4" nova-hub ingest H
rm -rf H

# a damaged backup is refused, naming the file
cp -a "$B" "$T/bad"
flip "$T/bad/dir/keyring" 10
expect_status "a damaged backup is refused (status 19)" 19 "damaged.*dir/keyring" \
    nova-hub restore "$T/bad" H
check "and nothing is restored" test ! -e H
expect_status "an agent's backup is not a hub's" 10 "not of nova-hub" \
    sh -c "sed -i 's/^program: nova-hub/program: nova-agent/' '$T/bad/BACKUP' && nova-hub restore '$T/bad' H"
mkdir -p full && echo x > full/x
expect_status "a non-empty target is refused (status 28)" 28 "not empty" nova-hub restore "$B" full

expect_status "nova-hub restore" 0 "restored" nova-hub restore "$B" H
grep -q "nova-agent resend" "$T/.out" && ok "restore says what comes next" || not_ok "$(cat "$T/.out")"
check "the restored hub opens" nova-hub status H
nova-hub status H --json > st.json
grep -q '"acme"' st.json && ok "its status knows acme" || not_ok "$(head -c 300 st.json)"

# the agent resends what the restored hub lacks: 3 and 4
expect_status "nova-agent resend" 0 "2 bundle\(s\) copied back" nova-agent resend A
deliver
expect_status "the restored hub applies 3 and 4" 0 "" nova-hub ingest H
grep -c '^applied' "$T/.out" | grep -qx 2 && ok "two bundles applied" || not_ok "$(cat "$T/.out")"
hub_records H contacts > got.txt
tool_replay export contacts id exports/contacts.csv > want.txt
same "the restored hub holds exactly the last export" got.txt want.txt
expect_status "the ledger verifies, with every archived bundle" 0 " 0 problems" \
    nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub H/archive/*.nova
# the return path goes on: the restored hub's receipt is the next the agent expects
back
check "the agent applies the restored hub's receipt" nova-agent scan A
check "nothing quarantined at the agent" sh -c '[ -z "$(ls A/quarantine)" ]'
nova-agent status A --json > ast.json
grep -q '"acked_seq":4,"unacked":{"count":0,' ast.json &&
    ok "the agent's bundles are all acknowledged by the restored hub" || not_ok "$(cat ast.json)"
export_csv exports/contacts.csv 240 e
nova-agent scan A >/dev/null 2>&1; deliver
check "and bundle 5 applies" nova-hub ingest H
hub_records H contacts > got.txt
tool_replay export contacts id exports/contacts.csv > want.txt
same "the hub holds exactly the last export" got.txt want.txt

# what a backup or a restore killed on the way left (personal data) is
# removed by the next one, once its process is gone
dead=$(sh -c 'echo $$')
mkdir -p "$T/bk/.tmp-hub-20260101T000000Z-$dead/dir" ".H3.restore-$dead"
echo secret > "$T/bk/.tmp-hub-20260101T000000Z-$dead/dir/x"
check "a second backup" nova-hub backup H "$T/bk"
check "it removed the unfinished one" test ! -e "$T/bk/.tmp-hub-20260101T000000Z-$dead"
[ "$(ls "$T/bk" | wc -l)" = 2 ] && ok "two backups side by side" || not_ok "bk: $(ls -A "$T/bk")"
check "a restore removes an unfinished restore" sh -c \
    "nova-hub restore \"\$(ls -d '$T'/bk/hub-* | tail -1)\" H3 >/dev/null && test ! -e .H3.restore-$dead && test -d H3/store"

# a backup while nova-hub run works beside it waits for its pass
nova-hub run H --rescan 1 >run.log 2>&1 &
pid=$!
sleep 1
expect_status "a backup beside nova-hub run" 0 "backup written" nova-hub backup H "$T/bk2"
kill "$pid"; wait "$pid" 2>/dev/null
check "it checks" sh -c "cd $T/bk2/hub-* && sha256sum -c --quiet SHA256SUMS"
done_testing
