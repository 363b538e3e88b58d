#!/bin/sh
# Issue 13, item 1: a stray quote must not merge rows.  A notes field that
# opens a quote it never closes swallowed the next 51 rows (shipped as
# deletes, their data put into record 100); the two-row variant deleted
# record 4 and gave its e-mail to record 3.  Now the row with the stray
# quote is rejected with its reason, reading resumes at the next line, the
# other rows ship unchanged and the deletes of that scan are withheld; a
# legitimately quoted multi-line address still ships.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

# payload DIR: the last bundle's payload unpacked into DIR
payload() {
    rm -rf "$1" && mkdir -p "$1" &&
    tar -C "$1" -xf "$(ls A/outbox/*.nova | tail -1)" &&
    age -d -i H/keys/age.key "$1/payload.age" | zstd -dq | tar -C "$1" -x
}

# crm FILE: 1000 contacts with a notes column; row 100 opens a quote that
# row 151's notes close ("Client VIP ... dit "Toto"")
crm() {
    awk -v stray="${2:-}" 'BEGIN {
        print "id,prenom,nom,email,notes,ville"
        for (i = 1; i <= 1000; i++) {
            notes = "RAS"
            if (stray != "" && i == 100) notes = "\"Client VIP"
            if (stray != "" && i == 151) notes = "dit \"Toto\""
            if (i == 120 && stray != "") notes = "rappeler"
            printf "C%06d,Prenom%d,Nom%d,p%d@example.fr,%s,Ville%d\n", i, i, i, i, notes, i
        }
    }' > "$1"
}

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
crm exports/contacts.csv
check "a 1000-row export ships" sh -c 'nova-agent scan A --json | grep -q "\"upserts\":1000,\"deletes\":0"'
cp A/outbox/*.nova H/inbox/ && nova-hub ingest H >/dev/null 2>&1

crm exports/contacts.csv stray
nova-agent scan A --json > s.json 2> s.err
check "the next export with a stray quote in row 100 deletes nothing" grep -q '"deletes":0' s.json
check "only rows 120 and 151's real changes ship" grep -q '"upserts":2,' s.json
check "row 100 is rejected with its reason, naming the stray quote" \
    grep -q "line 101 of 'contacts.csv' rejected: a quoted field runs over .*stray quote" s.err
check "reading resumed at the next line: 999 rows read" grep -q '"rows":999,' s.json
check "the deletes of this scan are withheld (a row was rejected)" grep -q 'deletes withheld: 1 rows were rejected' s.err
if grep -q 'Client VIP\|Toto\|Prenom1[0-9][0-9]' s.err; then not_ok "row data in the log"; else ok "the log holds no row data"; fi
payload x
check "the bundle holds the two real changes and nothing else" sh -c '[ "$(grep -c . x/changes-*.ndjson)" = 2 ] && grep -q "C000120.*rappeler" x/changes-*.ndjson && grep -q "C000151.*dit ..Toto" x/changes-*.ndjson'
cp A/outbox/*.nova H/inbox/ && nova-hub ingest H >/dev/null 2>&1
hub_records H contacts > got.txt
crm want.csv; sed -i -e 's/^\(C000120,.*\),RAS,/\1,rappeler,/' -e 's/^\(C000151,.*\),RAS,/\1,"dit ""Toto""",/' want.csv
tool_replay export contacts id want.csv > want.txt
same "the hub still holds all 1000 records, record 100 untouched" got.txt want.txt

# the two-row variant of the issue
rm -rf ex2 && mkdir ex2
SRC=cafe agent_conf A "$T/ex2"
printf 'id,nom,email,tel\n1,Un,u@example.fr,0601\n2,Deux,d@example.fr,0602\n3,Le Grand Cafe,c@example.fr,0603\n4,Person 4,p4@example.fr,0604\n5,Cinq,c5@example.fr,0605\n' > ex2/a.csv
nova-agent scan A >/dev/null 2>&1
printf 'id,nom,email,tel\n1,Un,u@example.fr,0601\n2,Deux,d@example.fr,0602\n3,"Le Grand Cafe,c@example.fr,0603\n4,Person 4 dit "Toto,p4@example.fr,0604\n5,Cinq,c5@example.fr,0605\n' > ex2/a.csv
nova-agent scan A --json > s2.json 2> s2.err
check "two-row variant: record 4 is not deleted" grep -q '"deletes":0' s2.json
payload y
check "record 3 does not take record 4's e-mail; record 4 ships with its stray quote as data" \
    sh -c '! grep -q "\"key\":\"3\"" y/changes-*.ndjson && grep -q "\"key\":\"4\".*Person 4 dit \\\\\"Toto\".*p4@example.fr" y/changes-*.ndjson'
check "row 3 is rejected (line 4)" grep -q "line 4 of 'a.csv' rejected: a quoted field" s2.err

# a real multi-line address still works
rm -rf ex3 && mkdir ex3
SRC=addr agent_conf A "$T/ex3"
printf 'id,nom,adresse,email\nA1,Un,"12 rue de la Paix\nBatiment B, escalier 2\n75002 Paris",a1@example.fr\nA2,Deux,"Note: rappeler, demain\nA3,Trois,x,a3@example.fr\nA4,Quatre,y",a4@example.fr\n' > ex3/a.csv
nova-agent scan A --json > s3.json 2> s3.err
check "a quoted multi-line address ships, and the rows after a rejected one" grep -q '"rows":3,"upserts":3,' s3.json
payload z
check "with its line ends" grep -q '"A1".*12 rue de la Paix.u000aBatiment B, escalier 2.u000a75002 Paris' z/changes-*.ndjson
check "a quote swallowing a whole row with a key of the same shape is rejected" grep -q "line 5 of 'a.csv' rejected: a quoted field runs over lines that read as whole rows" s3.err
done_testing
