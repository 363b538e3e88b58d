#!/bin/sh
# nova-hub run: bundles dropped in the inbox are ingested as they arrive
# (inotify); a bundle ahead of a missing one waits, status names the gap, and
# it applies once the missing one arrives; a tampered one is quarantined;
# other commands work while it runs; SIGTERM stops it cleanly.
. "$(dirname "$0")/lib.sh"

setup_pair || { not_ok "setup"; done_testing; }
for k in 1 2 3 4; do # (changes uses $i)
    changes c$k.ndjson $((k * 3))
    nova-agent seal A c$k.ndjson >/dev/null 2>&1 || not_ok "seal $k"
done
mkdir held
mv A/outbox/*.nova held/
b1=held/acme-hub-0000000001.changes.nova
b2=held/acme-hub-0000000002.changes.nova
b3=held/acme-hub-0000000003.changes.nova
b4=held/acme-hub-0000000004.changes.nova

nova-hub run H --rescan 1 > run.log 2>&1 &
pid=$!

# wait_for SECONDS CMD...: poll until CMD succeeds
wait_for() {
    n=$(($1 * 10)); shift
    while [ $n -gt 0 ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}
seq_is() { nova-hub status H --json | grep -q "\"sender\":\"acme\",\"seq\":$1,"; }

# drop: copy under a temporary name, then rename in (as rsync does)
drop() { cp "$1" H/inbox/.tmp && mv H/inbox/.tmp "H/inbox/$(basename "$1")"; }

drop $b1
check "a dropped bundle is applied without a command" wait_for 10 seq_is 1
drop $b3
sleep 1.5
check "a bundle past a gap waits" seq_is 1
check "status names the missing bundle" sh -c 'nova-hub status H | grep -q "waiting: acme: bundle(s) past seq 1 wait for seq 2..2"'
drop $b2
check "the missing bundle arrives: both apply, in order" wait_for 10 seq_is 3
cp $b4 t4.nova
flip t4.nova 200
drop t4.nova
check "a tampered bundle is quarantined" wait_for 10 sh -c 'ls H/quarantine/t4.nova.reason'
drop $b4
check "and the good copy then applies" wait_for 10 seq_is 4
check "other commands run while it runs" nova-hub export H records
check "it is still running" kill -0 $pid
kill -TERM $pid
st=0
wait $pid || st=$?
check "SIGTERM stops it with status 0" [ "$st" = 0 ]
check "its log names what it did, without personal data" sh -c 'grep -q "applied acme->hub seq 4" run.log && grep -q "quarantined t4.nova" run.log && ! grep -q "example.fr" run.log'
expect_status "run on a directory that is not a hub is refused" 29 "" nova-hub run nohub
done_testing
