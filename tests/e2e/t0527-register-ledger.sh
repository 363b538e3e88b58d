#!/bin/sh
# The GDPR register's events are ledger commits: every event of every
# request (registered, orders sent, each entity's answer, completion,
# closure) is an entry register/REQ/N/event, without personal data, that
# stock git shows and `nova-audit verify` checks; a crash between the
# register and the ledger is repaired at the next open; an altered event
# is caught.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_two_erasable || { not_ok "setup"; done_testing; }
nova-hub gdpr request H erase --email zephyrine.quintavalle@example.org > req.txt 2>&1
req=$(sed -n 's/^\(REQ-[0-9]*\): erase request registered.*/\1/p' req.txt)
check "the erasure is registered" [ -n "$req" ]
nova-hub gdpr request H access --email marc.dubois@example.fr --ref TICKET-77 --out "$T/marc.dubois-access.json" > req2.txt 2>&1
req2=$(sed -n 's/^\(REQ-[0-9]*\): .*/\1/p' req2.txt | head -1)
back
ship
check "the erasure completes" sh -c "nova-hub gdpr show H $req | grep -q 'erase, complete'"

# a request closed by the DPO with a reason that names people
nova-hub gdpr request H rectify --email anne.roux@example.fr --set last_name=Rousseau > req3.txt 2>&1
req3=$(sed -n 's/^\(REQ-[0-9]*\): .*/\1/p' req3.txt | head -1)
nova-hub gdpr close H "$req3" --reason "Anne Roux's lawyer Maître Grégoire withdrew it, call 0612345678" >/dev/null 2>&1
L=H/ledger
# every event file of the register, as lines "SEQ REQ right N at event"
events() { for f in $(git -C "$1" ls-tree -r --name-only main register); do
    git -C "$1" show "main:$f" | tail -n +2; done; }
events $L > ev.tsv
check "the register's events are ledger entries (register/FIRST-LAST/events)" sh -c \
    "git -C $L ls-tree -r --name-only main register | grep -q '^register/0000000001-[0-9]\{10\}/events\$'"
nova-hub gdpr show H "$req" --json > show.json 2>/dev/null
nev=$(jq '.events | length' show.json)
check "every event of the erasure is in the ledger ($nev)" sh -c \
    "[ \"\$(awk -F'\t' -v r=$req '\$2 == r' ev.tsv | wc -l)\" = $nev ]"
check "and the access request's" sh -c "awk -F'\t' -v r=$req2 '\$2 == r && \$3 == \"access\"' ev.tsv | grep -q ."
check "an event names its number, request, right, number in the request, time and what happened" sh -c \
    "awk -F'\t' -v r=$req '\$2 == r && \$3 == \"erase\" && \$4 == 1 && \$5 ~ /^20[0-9][0-9]-/ && \$6 != \"\"' ev.tsv | grep -q . &&
     awk -F'\t' 'NR != \$1 { exit 1 }' ev.tsv"
check "the ledger holds no personal data of hers: no name, e-mail, phone or record key" sh -c \
    "! git -C $L grep -qiE 'quintavalle|zephyrine|zéphyrine|612987654|98 76 54' main -- register streams &&
     ! grep -qE '(^|[^A-Z0-9])(G1|A1)([^0-9]|\$)' ev.tsv"
check "the DPO's free text and a file's path stay in the register, out of the ledger" sh -c \
    "grep -q 'closed by the DPO (the reason is in the register)' ev.tsv &&
     grep -q 'access document produced in a file' ev.tsv &&
     ! grep -qiE 'gr.goire|lawyer|0612345678|marc.dubois' ev.tsv"
check "stock git shows the events as signed commits" sh -c \
    "git -C $L log --format=%s main | grep -q '^register: events '"
# shellcheck disable=SC2086
keys="--keys H/keys/identity.pub --keys groupe/keys/identity.pub --keys acquis/keys/identity.pub"
# shellcheck disable=SC2086
expect_status "nova-audit verify passes and counts the register's events" 0 \
    "$(wc -l < ev.tsv) events of the GDPR register recorded" nova-audit verify $L $keys

# a crash between the register and the ledger: main back before the last
# register commit (the ledger is its own note)
cp -r H H2
c=$(git -C H2/ledger log --format=%H --grep='^register' main | head -1)
git -C H2/ledger update-ref refs/heads/main "$c^"
tool_meta H2 set ledger:head "$(git -C H2/ledger rev-parse "$c^")"
nova-hub status H2 >/dev/null 2>&1
events H2/ledger > ev2.tsv
same "a crash between the register and the ledger is repaired at the next open" ev.tsv ev2.tsv
# shellcheck disable=SC2086
expect_status "... and verifies" 0 " 0 problems" nova-audit verify H2/ledger $keys
check "opening again records nothing twice" sh -c \
    "n=\$(git -C H2/ledger rev-list --count main); nova-hub status H2 >/dev/null 2>&1; [ \"\$(git -C H2/ledger rev-list --count main)\" = \$n ]"

# an event altered afterwards by a commit is caught
cp -r H H3
f=$(git -C H3/ledger ls-tree -r --name-only main register | head -1)
git -C H3/ledger show "main:$f" | sed '2s/\t[^\t]*$/\tnothing happened/' > ev.txt
blob=$(git -C H3/ledger hash-object -w --stdin < ev.txt)
GIT_INDEX_FILE="$T/idx" git -C H3/ledger read-tree main
GIT_INDEX_FILE="$T/idx" git -C H3/ledger update-index --cacheinfo "100644,$blob,$f"
tree=$(GIT_INDEX_FILE="$T/idx" git -C H3/ledger write-tree)
bad=$(git -C H3/ledger -c user.name=x -c user.email=x@x commit-tree "$tree" -p main -m "tidy")
git -C H3/ledger update-ref refs/heads/main "$bad"
# shellcheck disable=SC2086
nova-audit verify H3/ledger $keys > h3.out 2>&1
check "an altered event is caught" grep -q "register events .*: entry changed by commit" h3.out
done_testing
