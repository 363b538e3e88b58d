#!/bin/sh
# Issue 13, item 2: partial exports must not delete records.  (a) the
# deletes guard is proportional and configurable (max_delete_share,
# max_delete_count), a header-only export never deletes, withheld deletes
# are reported in status and shipped once by accept-deletes (also while
# `run` holds the lock); (b) an export cut at half withholds; (c) a last
# line without its line end waits incomplete_wait, then is rejected, never
# shipped as a fragment; (d) snapshot = multi reads the files of one export
# run as one snapshot.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

payload() {
    rm -rf "$1" && mkdir -p "$1" &&
    tar -C "$1" -xf "$(ls A/outbox/*.nova | tail -1)" &&
    age -d -i H/keys/age.key "$1/payload.age" | zstd -dq | tar -C "$1" -x
}
# jsq PATTERN: one scan; its --json line must match PATTERN
jsq() { nova-agent scan A --json 2>"$T/scan.err" >"$T/scan.json"; grep -q -- "$1" "$T/scan.json"; }

setup_pair || { not_ok "setup"; done_testing; }
mkdir ex
agent_conf A "$T/ex"
export_csv ex/contacts.csv 50
jsq .
# (a) a header-only export of a source of 50 (the old guard needed > 100)
head -1 ex/contacts.csv > ex/contacts.tmp && mv ex/contacts.tmp ex/contacts.csv
check "a header-only export deletes nothing" jsq '"deletes":0,.*"withheld_deletes":50'
check "the log says why and how to release them" grep -q "50 deletes withheld (50 known records): the export holds no record (header only?); .*nova-agent accept-deletes .* contacts" scan.err
check "status shows the guard and the withheld deletes" sh -c 'nova-agent status A | grep -q "deletes guard: withheld when over 20% of the known records or over 10000 records" && nova-agent status A | grep -q "withheld:      50 deletes since .*: the export holds no record"'
check "status --json too" sh -c 'nova-agent status A --json | grep -q "\"name\":\"contacts\".*\"max_delete_share\":0.2,.*\"withheld_deletes\":50"'
check "accept-deletes ships them" sh -c 'nova-agent accept-deletes A contacts | grep -q "^50 withheld delete(s) released"'
payload x
check "as 50 delete records" sh -c '[ "$(grep -c "\"op\":\"delete\"" x/changes-*.ndjson)" = 50 ]'
check "once: a second accept-deletes ships nothing" sh -c 'nova-agent accept-deletes A | grep -q "^0 withheld delete(s) released (nothing was withheld)"'
check "status shows none withheld" sh -c 'nova-agent status A | grep -q "withheld:      none"'

# proportional: 5 of 200 ship; 20 of 200 (10%) are withheld at 5%; the count
export_csv ex/contacts.csv 200
jsq .
export_csv ex/contacts.csv 195
check "5 deletes of 200 known (2.5%) ship" jsq '"deletes":5,'
agent_conf A "$T/ex" "max_delete_share = 5%"
export_csv ex/contacts.csv 175
check "20 deletes of 195 (10%) are withheld with max_delete_share = 5%" jsq '"deletes":0,.*"withheld_deletes":20'
check "naming the share" grep -q "10.3% of the 195 known records, over max_delete_share (5%)" scan.err
agent_conf A "$T/ex" "max_delete_count = 3"
export_csv ex/contacts.csv 170
check "a newer snapshot replaces the withheld deletes; 25 > max_delete_count = 3 withheld" sh -c 'nova-agent scan A --json 2>scan.err | grep -q "\"withheld_deletes\":25" && nova-agent status A | grep -q "withheld:      25 deletes.*more than max_delete_count (3)"'
agent_conf A "$T/ex"
# (b) an export cut at exactly half
export_csv ex/contacts.csv 85
check "an export cut at about half (85 of 195 known records) withholds its deletes" jsq '"deletes":0,.*"withheld_deletes":110'

# accept-deletes while `run` holds the lock: a request applied at its next pass
nova-agent run A --rescan 3600 2> run.log &
pid=$!
sleep 1
check "accept-deletes beside a running agent leaves it a request" sh -c 'nova-agent accept-deletes A contacts | grep -q "releases the withheld deletes of contacts at its next pass"'
n0=$(ls A/outbox/*.nova | wc -l)
kill -HUP $pid
i=0; while [ "$(ls A/outbox/*.nova | wc -l)" = "$n0" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
payload y
check "the running agent ships the 110 withheld deletes" sh -c '[ "$(grep -c "\"op\":\"delete\"" y/changes-*.ndjson)" = 110 ] && [ ! -e A/accept-deletes.request ]'
kill -TERM $pid; wait $pid

# (c) a file cut inside its last field: no line end
rm -rf ex2 && mkdir ex2
SRC=cut agent_conf A "$T/ex2"
sed -i 's/^settle = 0/settle = 0\nincomplete_wait = 1500/' A/agent.conf
printf 'id,nom,tel\nK1,Un,0601020304\nK2,Deux,0602030405\nK3,Trois,06' > ex2/a.csv
check "a file ending without a line end waits (incomplete_wait)" jsq '"files":0,.*"waiting":1'
sleep 2
jsq .; cp scan.json c.json
check "after incomplete_wait it is read, the cut row rejected" sh -c 'grep -q "\"upserts\":2,.*\"rejects\":1" c.json && grep -q "line 4 of .a.csv. rejected: the last line has no line end" scan.err'
payload z
check "the fragment is never shipped" sh -c '! grep -q "K3" z/changes-*.ndjson'

# (d) a two-part export in one full-mode source
rm -rf ex3 && mkdir ex3
SRC=parts agent_conf A "$T/ex3" "snapshot = multi" "snapshot_window = 60" "snapshot_parts = 2"
export_csv all.csv 200
{ head -1 all.csv; sed -n '2,101p' all.csv; } > ex3/part1.csv
{ head -1 all.csv; sed -n '102,201p' all.csv; } > ex3/part2.csv
check "the two files of one export run are one snapshot: 200 upserts, no delete" jsq '"upserts":200,"deletes":0,.*"withheld_deletes":0'
touch ex3/part1.csv ex3/part2.csv
check "the next run with the same content changes nothing: no churn" jsq '"upserts":0,"deletes":0,.*"withheld_deletes":0'
sed -i '/^C000050,/d' ex3/part1.csv; touch ex3/part2.csv
check "a record gone from the run is one delete" jsq '"upserts":0,"deletes":1,'
rm ex3/part2.csv; touch ex3/part1.csv
check "a run with one of its two parts withholds its deletes (snapshot_parts)" sh -c 'nova-agent scan A --json 2>scan.err | grep -q "\"deletes\":0,.*\"withheld_deletes\":100" && grep -q "the export run has 1 of its 2 files" scan.err'
done_testing
