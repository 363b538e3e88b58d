#!/bin/sh
# The agent's diff on real directories: full and delta exports, unchanged
# exports, deletes, encodings, bad rows with a reject report, config checks.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
check "check accepts the config" nova-agent check A
export_csv exports/contacts.csv 200
check "first scan ships every record" sh -c 'nova-agent scan A --json | grep -q "\"upserts\":200,\"deletes\":0"'
cp A/outbox/*.nova H/inbox/ && nova-hub ingest H >/dev/null
hub_records H contacts > got.txt
tool_replay export contacts id exports/contacts.csv > want.txt
same "the hub holds exactly the export" got.txt want.txt

i=0; while [ $i -lt 10 ]; do nova-agent scan A >/dev/null 2>&1; touch exports/contacts.csv; i=$((i+1)); done
n=$(ls A/outbox/*.nova | wc -l)
if [ "$n" = 1 ]; then ok "ten unchanged exports ship nothing"; else not_ok "unchanged exports shipped $n bundles"; fi

# change 10% of rows, delete 5, add 3
export_csv exports/contacts.csv 198 X
printf 'N000001,Zoé,Neuve,z@example.fr,Brest\nN000002,Loïc,Neuf,l@example.fr,Lyon\nN000003,Anaïs,Nouvelle,a@example.fr,Nice\n' >> exports/contacts.csv
sed -i '/^C000050,/d;/^C000051,/d;/^C000052,/d' exports/contacts.csv
check "second scan: changes, adds and deletes" sh -c 'nova-agent scan A --json | tee s2.json | grep -q "\"upserts\":21,\"deletes\":5"'
cp A/outbox/*.nova H/inbox/ 2>/dev/null; nova-hub ingest H >/dev/null 2>&1
hub_records H contacts > got.txt; tool_replay export contacts id exports/contacts.csv > want.txt
same "after the second export the hub still holds exactly the export" got.txt want.txt
check "no change was shipped twice" sh -c 'find H/received -name "changes-*.ndjson" | sort | xargs tool_replay changes contacts >/dev/null'

# the same export with its columns in another order is no change
awk -F, 'BEGIN{OFS=","} NR == 1 {print $4,$1,$2,$3,$5; next} {print $4,$1,$2,$3,$5","$6}' exports/contacts.csv > exports/reordered.tmp
mv exports/reordered.tmp exports/contacts.csv
check "reordered columns are not a change" sh -c 'nova-agent scan A --json | grep -q "\"upserts\":0,\"deletes\":0"'
# a truncated export must not delete everything
head -3 exports/contacts.csv > exports/contacts.csv.tmp && mv exports/contacts.csv.tmp exports/contacts.csv
check "a truncated full export withholds its deletes" sh -c 'nova-agent scan A --json | grep -q "\"deletes\":0,.*\"withheld_deletes\":19[0-9]"'
n=$(tar -xOf "$(ls A/outbox/*.nova | tail -1)" manifest | sed -n 's/^rejects: //p')
if [ "$n" = 1 ]; then ok "the withholding is reported in the manifest"; else not_ok "rejects: $n"; fi

# windows-1252, semicolons, bad rows
rm -rf exports2 && mkdir exports2
SRC=crm agent_conf A "$T/exports2" "encoding = windows-1252" "delimiter = auto"
printf 'id;nom;ville\r\n1;Lef\350vre;Paris\r\n2;"Unbalanced;Lyon\r\n3;\200uro;Nice\r\n4;too;many;fields\r\n1;Dup;Key\r\n5;\201bad;Nice\r\n;nokey;x\r\n' > exports2/crm.csv
check "scan of a windows-1252 export with bad rows" sh -c 'nova-agent scan A --json > s3.json 2> s3.err'
check "good rows are shipped" grep -q '"upserts":2' s3.json
check "bad rows are counted" grep -q '"rejects":5' s3.json
check "each rejected row is logged with file and line" sh -c 'grep -c "line [0-9]* of .crm.csv. rejected" s3.err | grep -qx 5'
if grep -q 'Unbalanced\|Dup\|bad' s3.err; then not_ok "row data leaked into the log"; else ok "logs hold no row data"; fi
B=$(ls A/outbox/*.nova | tail -1)
age -d -i H/keys/age.key "$B" 2>/dev/null >/dev/null # (the bundle is not an age file)
mkdir -p x && tar -C x -xf "$B" && age -d -i H/keys/age.key x/payload.age | zstd -dq | tar -C x -x
check "the reject report travels in the bundle" sh -c '[ "$(wc -l < x/rejects.ndjson)" = 5 ] && grep -q "\"line\":3,\"reason\":\"[^\"]*quote" x/rejects.ndjson'
check "windows-1252 became UTF-8" sh -c 'grep -q "Lefèvre" x/changes-000001.ndjson && grep -q "€uro" x/changes-000001.ndjson'
check "the manifest counts the rejects" sh -c '[ "$(sed -n "s/^rejects: //p" x/manifest)" = 5 ]'

# delta exports: upserts only
rm -rf ex3 && mkdir ex3
SRC=delta agent_conf A "$T/ex3" "mode = delta"
printf 'id,nom\nD1,Un\nD2,Deux\n' > ex3/d1.csv
nova-agent scan A >/dev/null 2>&1
printf 'id,nom\nD2,Deux bis\n' > ex3/d2.csv
check "a delta export gives upserts only" sh -c 'nova-agent scan A --json | grep -q "\"upserts\":1,\"deletes\":0"'

# empty, header-only, missing key column
rm -rf ex4 && mkdir ex4
SRC=misc agent_conf A "$T/ex4"
: > ex4/empty.csv
printf 'id,nom\n' > ex4/header.csv
printf 'nom,ville\nX,Y\n' > ex4/nokey.csv
check "empty, header-only and keyless files are handled" sh -c 'nova-agent scan A --json 2>s4.err | grep -q "\"rejects\":2"'
check "the reasons are named" sh -c 'grep -q "empty file" s4.err && grep -q "key column .id. is not in the header" s4.err'

# a 10 MB field and a NUL byte
{ awk 'BEGIN { printf "id,nom\nB1,"; for (i = 0; i < 10485760 / 64; i++) printf "%064d", 0; printf "\nB2,ok\n" }'
  printf 'Z1,a\000b\nZ2,fine\n'; } > ex4/big.csv
check "a 10 MB field and a NUL byte are rejected, the rest shipped" sh -c 'nova-agent scan A --json | grep -q "\"upserts\":2,.*\"rejects\":2"'

# config errors
printf 'entity = acme\nbogus = 1\n' > A/agent.conf
expect_status "unknown setting named with its line" 30 "agent.conf line 2: unknown setting 'bogus'" nova-agent check A
printf 'entity = acme\n[source s]\ndir = /nonexistent\nkey = id\nencoding = ebcdic\n' > A/agent.conf
expect_status "unknown encoding" 30 "line 5: unknown encoding" nova-agent check A
printf 'entity = acme\n[source s]\ndir = /nonexistent\nkey = id\n' > A/agent.conf
expect_status "missing export directory" 30 "source 's' dir '/nonexistent'" nova-agent check A
printf 'entity = acme\n[source s]\ndir = /tmp\n' > A/agent.conf
expect_status "source without a key" 30 "has no 'key' column" nova-agent check A
done_testing
