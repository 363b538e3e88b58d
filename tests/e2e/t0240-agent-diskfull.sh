#!/bin/sh
# A full disk: the agent's outbox on a tiny filesystem.  The scan fails with
# a message naming the problem and status 33, commits nothing and leaves no
# partial bundle; once there is room, the next scan ships every change
# exactly once.  Needs root (mount -t tmpfs); skipped otherwise.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

mkdir small
if ! mount -t tmpfs -o size=32k tmpfs small 2>/dev/null; then
    ok "# SKIP not allowed to mount a tmpfs here"
    done_testing
fi
trap 'umount "$T/small" 2>/dev/null; rm -rf "$T"' EXIT
setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
sed -i "1i outbox = $T/small" A/agent.conf
export_csv exports/contacts.csv 5000
expect_status "a scan into a full outbox fails with 'no space left'" 33 "No space left on device|no space left" nova-agent scan A
check "nothing was left behind in the outbox" sh -c '[ -z "$(ls -A small | grep -v "^.pending$")" ] && [ -z "$(ls -A small/.pending)" ]'
check "no fingerprint was committed" sh -c 'nova-agent status A --json | grep -q "\"sent_seq\":0,.*\"records\":0"'
umount small
mount -t tmpfs -o size=16m tmpfs small
check "with room, the next scan ships everything" sh -c 'nova-agent scan A --json | grep -q "\"upserts\":5000"'
cp small/*.nova H/inbox/ && nova-hub ingest H >/dev/null
hub_records H contacts > got.txt
tool_replay export contacts id exports/contacts.csv > want.txt
same "the hub holds exactly the export, once" got.txt want.txt
umount small
done_testing
