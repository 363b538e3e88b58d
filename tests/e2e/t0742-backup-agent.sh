#!/bin/sh
# nova-agent backup and restore: the state store copied in one read
# transaction and the bundles it says were sealed (sent/ up to that
# sequence), keys, configuration; import/ (the CRM's) and the lock left
# out.  Taken while nova-agent run works, it is consistent.  Restored after
# the agent's directory is destroyed, the agent resends what the hub has
# not acknowledged and its next bundle chains on: the hub holds exactly the
# last export and the ledger verifies.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
deliver() { for b in A/outbox/*.nova; do [ -e "$b" ] && mv "$b" H/inbox/; done; }
back() { for b in H/outbox/acme/*.nova; do [ -e "$b" ] && mv "$b" A/inbox/; done; }

export_csv exports/contacts.csv 200
nova-agent scan A >/dev/null 2>&1; deliver
check "ingest 1" nova-hub ingest H
back
nova-agent scan A >/dev/null 2>&1
echo 'update file' > A/import/updates-test.csv
# bundle 2 sealed, still in the outbox (not carried yet) when the backup runs
export_csv exports/contacts.csv 200 b
check "scan 2" nova-agent scan A

expect_status "nova-agent backup" 0 "backup written to" nova-agent backup A "$T/bk"
grep -q "sent: hub seq 2" "$T/.out" && grep -q "applied: hub seq 1" "$T/.out" &&
    ok "it says what the state holds (sealed 2, applied hub 1)" || not_ok "$(cat "$T/.out")"
B=$(ls -d "$T"/bk/acme-*)
check "the backup checks with stock sha256sum" sh -c "cd '$B' && sha256sum -c --quiet SHA256SUMS"
[ "$(stat -c %a "$B")" = 700 ] && [ -z "$(find "$B" -type f ! -perm 600)" ] &&
    ok "0700, files 0600" || not_ok "modes"
for f in state/data.mdb keys/sign.key keys/age.key keyring agent.conf \
         sent/acme-hub-0000000002.changes.nova; do
    [ -e "$B/dir/$f" ] || missing="$missing $f"
done
[ -z "${missing:-}" ] && ok "state, keys, keyring, configuration, the unacknowledged bundle" ||
    not_ok "missing:$missing"
[ ! -e "$B/dir/agent.lock" ] && [ -d "$B/dir/import" ] && [ -z "$(ls "$B/dir/import")" ] &&
    ok "no lock; import/ there but empty (the CRM's files are not handed again)" ||
    not_ok "$(ls -la "$B/dir" "$B/dir/import")"

# taken while nova-agent run works (it holds agent.lock)
nova-agent run A --rescan 1 >run.log 2>&1 &
pid=$!
n=0; while ! grep -q "running" run.log && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
expect_status "a second agent is refused while it runs" 28 "another nova-agent" nova-agent scan A
expect_status "a backup while nova-agent run works" 0 "taken: while nova-agent ran" \
    nova-agent backup A "$T/bk-live"
cp "$T/.out" live.out
# backups while the agent seals new exports: each holds exactly the bundles
# its state says were sealed and not acknowledged (2..S), none after
bad=0
for i in 1 2 3 4; do
    export_csv exports/contacts.csv $((200 + i)) "r$i"
    nova-agent backup A "$T/bk-loop" > loop.out 2>&1 || bad=1
    S=$(sed -n 's/^  sent: hub seq //p' loop.out)
    P=$(sed -n 's/^backup written to //p' loop.out)
    want=$(seq 2 "$S" | tr '\n' ' ')
    got=$(ls "$P/dir/sent" | sed -n 's/.*-\([0-9]\{10\}\)\..*/\1/p' | sed 's/^0*//' | sort -n | tr '\n' ' ')
    [ "$want" = "$got" ] || bad=1
    note "backup $i: state sealed $S, sent/ holds $got"
    (cd "$P" && sha256sum -c --quiet SHA256SUMS) || bad=1
done
[ $bad = 0 ] && ok "4 backups during sealing: each holds exactly the bundles its state sealed" ||
    not_ok "a backup taken while sealing is not consistent"
kill "$pid"; wait "$pid" 2>/dev/null
L=$(ls -d "$T"/bk-live/acme-*)
check "it checks" sh -c "cd '$L' && sha256sum -c --quiet SHA256SUMS"
seq_in_state=$(sed -n 's/^  sent: hub seq //p' live.out)
newest=$(ls "$L/dir/sent" | sed -n 's/.*-\([0-9]\{10\}\)\..*/\1/p' | sort | tail -1 | sed 's/^0*//')
[ "$newest" = "$seq_in_state" ] && ok "its sent/ holds the bundles its state sealed, up to seq $seq_in_state" ||
    not_ok "state says $seq_in_state, sent/ up to $newest"

# the agent's disk dies; bundle 2 never reached the hub
rm -rf A
expect_status "nova-agent restore" 0 "restored" nova-agent restore "$B" A
grep -q "nova-agent resend A" "$T/.out" && ok "restore says what comes next" || not_ok "$(cat "$T/.out")"
check "the restored agent opens" nova-agent status A
expect_status "it resends bundle 2" 0 "1 bundle\(s\) copied back" nova-agent resend A
deliver
check "the hub applies it" nova-hub ingest H
export_csv exports/contacts.csv 210 c
check "scan 3" nova-agent scan A
check "bundle 3 follows bundle 2" test -f A/outbox/acme-hub-0000000003.changes.nova
deliver
expect_status "the hub applies bundle 3 (it chains)" 0 "" nova-hub ingest H
hub_records H contacts > got.txt
tool_replay export contacts id exports/contacts.csv > want.txt
same "the hub holds exactly the last export" got.txt want.txt
back
check "the agent applies the hub's receipts" nova-agent scan A
check "nothing quarantined at the agent" sh -c '[ -z "$(ls A/quarantine)" ]'
check "nothing quarantined at the hub" sh -c '[ -z "$(ls H/quarantine)" ]'
expect_status "the ledger verifies" 0 " 0 problems" \
    nova-audit verify H/ledger --keys H/keys/identity.pub --keys A/keys/identity.pub H/archive/*.nova
# a configuration outside the directory (--config) is kept in etc/, and the
# restore says where it goes back
cp A/agent.conf "$T/elsewhere.conf"
expect_status "a backup with --config" 0 "config: $T/elsewhere.conf" \
    nova-agent --config "$T/elsewhere.conf" backup A "$T/bk-conf"
C=$(ls -d "$T"/bk-conf/acme-*)
same "the configuration is in etc/agent.conf" "$T/elsewhere.conf" "$C/etc/agent.conf"
expect_status "its restore says where it goes" 0 "put .*/etc/agent.conf back where it was \($T/elsewhere.conf\)" \
    nova-agent restore "$C" A3
expect_status "a hub's backup is not an agent's" 10 "not of nova-agent" \
    sh -c "nova-hub backup H '$T/hb' >/dev/null && nova-agent restore '$T'/hb/hub-* A2"
done_testing
