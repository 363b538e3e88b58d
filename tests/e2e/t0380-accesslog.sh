#!/bin/sh
# The access log tells the truth: each line names the real account that
# read (never an empty $USER), is chained to the line before it by its
# SHA-256, and the ledger's commits witness its head; nova-audit verify
# --accesslog catches an altered, inserted or removed line, and lines cut
# from its end that the ledger had witnessed.
. "$(dirname "$0")/lib.sh"

setup_pair || { not_ok "setup"; done_testing; }
for n in 1 2 3; do
    env -u USER nova-hub gdpr request H access --email nobody$n@example.org >/dev/null 2>&1
done
changes c1.ndjson 2
nova-agent seal A c1.ndjson >/dev/null 2>&1
mv A/outbox/*.nova H/inbox/
nova-hub ingest H >/dev/null 2>&1
env -u USER nova-hub gdpr request H access --email nobody4@example.org >/dev/null 2>&1
me=$(id -un)
check "each line names the account that read, even without \$USER" sh -c "grep -c '\"who\":\"$me\"' H/accesslog.ndjson | grep -qx 4"
check "each line is chained to the one before" sh -c '[ "$(grep -c "\"prev\":\"[0-9a-f]\{64\}\"" H/accesslog.ndjson)" = 4 ]'
check "the ledger's commit witnessed the log's head" sh -c "git -C H/ledger log -1 --format=%B main | grep -q '^Accesslog-Head: [0-9a-f]\{64\}$'"
keys="--keys H/keys/identity.pub --keys A/keys/identity.pub"
# shellcheck disable=SC2086
expect_status "the log verifies" 0 'access log: 4 line\(s\), 4 chained' nova-audit verify H/ledger $keys --accesslog H/accesslog.ndjson
cp H/accesslog.ndjson good.ndjson
sed -i '2s/"why":"[^"]*"/"why":"nothing to see"/' H/accesslog.ndjson
# shellcheck disable=SC2086
expect_status "an altered line is caught" 19 'line 3 does not chain' nova-audit verify H/ledger $keys --accesslog H/accesslog.ndjson
sed '2d' good.ndjson > H/accesslog.ndjson
# shellcheck disable=SC2086
expect_status "a removed line is caught" 19 'does not chain' nova-audit verify H/ledger $keys --accesslog H/accesslog.ndjson
head -2 good.ndjson > H/accesslog.ndjson
# shellcheck disable=SC2086
expect_status "lines cut from its end that the ledger witnessed are caught" 19 'lines were removed from its end' nova-audit verify H/ledger $keys --accesslog H/accesslog.ndjson
cp good.ndjson H/accesslog.ndjson
check "nova-hub accesslog still reads it" sh -c 'nova-hub accesslog H | grep -q "gdpr access request"'
done_testing
