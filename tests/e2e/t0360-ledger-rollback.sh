#!/bin/sh
# A ledger rolled back or extended by another hand is caught.
#  - The hub notes its ledger head in its store after every entry; before
#    writing it checks main still holds that head and that what follows is
#    signed by its own ledger key, and refuses to go on otherwise.
#  - Every hub->agent bundle carries the head (manifest line ledger-head);
#    the agent keeps the newest, shows it in status and puts it in every
#    bundle it signs: an auditor holding any agent's witness catches a
#    rollback with `nova-audit verify --witness`, as with the agent's bundles.
. "$(dirname "$0")/lib.sh"

setup_pair || { not_ok "setup"; done_testing; }
for n in 1 2 3 4 5; do
    changes c$n.ndjson $((n * 3))
    nova-agent seal A c$n.ndjson >/dev/null 2>&1
    mv A/outbox/*.nova H/inbox/
    nova-hub ingest H >/dev/null 2>&1
done
check "five bundles applied" sh -c '[ "$(ls H/archive | wc -l)" = 5 ]'
printf '{"op":"upsert","key":"C-00001","fields":{"nom":"Autre"}}\n' > up.ndjson
# the head when the bundle is sealed (recording the bundle itself comes after)
head=$(git -C H/ledger rev-parse main)
check "the hub sends an update" nova-hub send H acme --kind updates up.ndjson
check "the update it sealed is a ledger entry of its own, after that head" sh -c \
    "git -C H/ledger log -1 --format=%s main | grep -q '^send hub->acme seq [0-9]* (updates, 1 records)' &&
     [ \"\$(git -C H/ledger rev-parse main^)\" = $head ]"
check "the hub's bundle carries its ledger head, signed" sh -c "tar -xOf $(ls H/outbox/acme/*.nova | tail -1) manifest | grep -q '^ledger-head: $head\$'"
mv H/outbox/acme/*.nova A/inbox/
nova-agent scan A >/dev/null 2>&1
nova-agent status A --json > st.json
check "the agent witnesses it (status)" grep -q "\"ledger_head_witnessed\":\"$head\"" st.json
keys="--keys H/keys/identity.pub --keys A/keys/identity.pub"
# shellcheck disable=SC2086
check "the ledger verifies, with the agent's witness" nova-audit verify H/ledger $keys --witness "$head"

# roll main back three commits and drop the archived bundles they recorded
good=$(git -C H/ledger rev-parse main)
git -C H/ledger update-ref refs/heads/main "$(git -C H/ledger rev-parse main~3)"
ls H/archive | sort | tail -2 | while read -r f; do rm "H/archive/$f"; done
changes c6.ndjson 2
nova-agent seal A c6.ndjson >/dev/null 2>&1
check "the agent's next bundle carries the head back, signed" sh -c "tar -xOf A/outbox/*.nova manifest | grep -q '^ledger-head: $head\$'"
cp A/outbox/*.nova H/inbox/
expect_status "the hub refuses to write on a rolled-back ledger" 32 'rolled back or rewritten' nova-hub ingest H
check "the bundle waits in the inbox" sh -c 'ls H/inbox/*.nova >/dev/null'
# shellcheck disable=SC2086
expect_status "the auditor holding the agent's witness catches the rollback" 18 'witnessed ledger head .* not in main' nova-audit verify H/ledger $keys --witness "$head"
# shellcheck disable=SC2086
expect_status "so does a bundle the agent signed after it" 29 'witnessed ledger head .* which main no longer holds' nova-audit verify H/ledger $keys A/outbox/*.nova

# main back, then a commit that is not the hub's on top of it
git -C H/ledger update-ref refs/heads/main "$good"
tree=$(git -C H/ledger rev-parse "main^{tree}")
foreign=$(git -C H/ledger -c user.name=x -c user.email=x@x commit-tree "$tree" -p main -m "not the hub")
git -C H/ledger update-ref refs/heads/main "$foreign"
expect_status "a commit not signed by the hub's ledger key on main is refused" 32 'not signed by this hub' nova-hub ingest H
git -C H/ledger update-ref refs/heads/main "$good"
check "with the ledger restored the hub goes on" nova-hub ingest H
done_testing
