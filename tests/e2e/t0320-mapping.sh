#!/bin/sh
# Mappings at the hub: records arrive unmapped, a mapping is suggested from
# a sample, refused when it is wrong (with line and reason), committed to
# the mapping repository (stock git reads it), replayed over what arrived;
# records then carry normalised values beside the originals, and a record
# that cannot be mapped is rejected alone with a reason that status counts;
# a value that does not parse (a bad date) is left out of the record's
# normalised values, and status counts it, but the record is kept.
# A replay killed with SIGKILL is finished by the next hub command.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports
agent_conf A "$T/exports"
cat > exports/contacts.csv <<'EOF'
id,prenom,nom,email,telephone,code_postal,ville,date_naissance,fidelite
C1,Hélène,LEFÈVRE,Helene.Lefevre+crm@Example.fr,06 12 34 56 78,75002,Paris,14/03/1975,or
C2,Jean-Pierre,Martin,jp.martin@example.fr,+33 6 98 76 54 32,69003,Lyon,1980-01-31,
C3,Zoé,Le Gall,zoe@example.fr,0033 2 98 44 12 10,29200,Brest,,argent
EOF
nova-agent scan A >/dev/null 2>&1
mv A/outbox/*.nova H/inbox/
check "a bundle from an entity without a mapping applies" nova-hub ingest H
check "status says the records are stored unmapped" sh -c 'nova-hub status H | grep -q "3 records stored unmapped: write one"'

nova-hub mapping suggest acme exports/contacts.csv > sugg.map 2> sugg.err
check "suggest places columns by name" sh -c 'grep -q "^field first_name prenom" sugg.map && grep -q "^field birth_date date_naissance" sugg.map && grep -q "^key id" sugg.map'
check "suggest names the column it could not place" sh -c 'grep -q "could not place" sugg.err && grep -qx fidelite sugg.err && grep -q "^ext fidelite fidelite" sugg.map'
# a sample with other names: placed by the shapes of the values
printf 'ref;col_a;col_b;col_c\nR1;a@b.fr;06 11 22 33 44;01/02/1960\nR2;c@d.fr;07 11 22 33 44;03/04/1970\n' > odd.csv
nova-hub mapping suggest acme odd.csv > odd.map 2>/dev/null
check "suggest places columns by their values" sh -c 'grep -q "^field email *col_a" odd.map && grep -q "^field phone *col_b" odd.map && grep -q "^field birth_date col_c" odd.map'

cat > acme.map <<'EOF'
nova-mapping 1
entity acme
key id
field first_name prenom
field last_name nom
field email email
field phone telephone
field postcode code_postal
field city ville
field birth_date date_naissance
ext loyalty fidelite
inverse email email
EOF
sed 's/^field last_name nom/field lastname nom/' acme.map > bad1.map
expect_status "an unknown field is refused with its line" 10 "line 5: unknown field 'lastname'" nova-hub mapping set H acme bad1.map
sed 's/^field city ville/field city town/' acme.map > bad2.map
expect_status "a column the exports do not have is refused with its line" 10 "line 9: column 'town' is not in acme's exports" nova-hub mapping set H acme bad2.map
grep -v '^key' acme.map > bad3.map
expect_status "a mapping without a key is refused" 10 "no 'key' line" nova-hub mapping set H acme bad3.map
expect_status "a mapping for another entity is refused" 10 "this mapping is for entity 'acme', not 'beta'" nova-hub mapping set H beta acme.map
check "nothing was committed for them" sh -c '! nova-hub mapping show H acme 2>/dev/null'

check "a good mapping is committed" nova-hub mapping set H acme acme.map --author "Data Team <data@group.example>" --message "acme: first mapping"
check "stock git reads the commit, author and message" sh -c 'git --git-dir=H/mappings log -1 --format="%an <%ae>|%s" | grep -qx "Data Team <data@group.example>|acme: first mapping"'
check "stock git has the file" sh -c 'git --git-dir=H/mappings show main:acme.map | cmp -s - acme.map'
nova-hub mapping show H acme > shown.map 2>/dev/null
same "mapping show gives the text back" shown.map acme.map
check "setting the same text again commits nothing" sh -c 'nova-hub mapping set H acme acme.map | grep -q unchanged'

check "replay maps what arrived before" sh -c 'nova-hub replay H acme | grep -q "done: 3 upserts, 0 deletes, 0 rejected, 0 unmapped"'
nova-hub export H records --format csv --common > common.csv 2>/dev/null
check "the common model holds normalised values" sh -c 'grep -q "^acme,contacts,C1,1,R[0-9A-Z]*,[0-9a-f]\{40\},helene,lefevre,,,helene.lefevre@example.fr,+33612345678,,75002,paris,,1975-03-14" common.csv'
check "extension fields are kept" sh -c 'head -1 common.csv | grep -q ",ext.loyalty$" && grep -q "^acme,contacts,C1,.*,or$" common.csv'
nova-hub export H records > all.ndjson 2>/dev/null
check "originals are kept beside normalised values" sh -c 'grep "\"key\":\"C1\"" all.ndjson | grep -q "\"original\":{.*\"last_name\":\"LEFÈVRE\"" && grep "\"key\":\"C1\"" all.ndjson | grep -q "\"common\":{.*\"last_name\":\"lefevre\""'
commit1=$(git --git-dir=H/mappings rev-parse main)
check "every record names the mapping commit it was mapped with" sh -c '[ "$(grep -c "\"mapping\":\"'"$commit1"'\"" all.ndjson)" = 3 ]'

# a second version of the mapping: log and diff
sed 's/^inverse email email/inverse email email\ninverse phone telephone/' acme.map > acme2.map
nova-hub mapping set H acme acme2.map --author "Ana <ana@group.example>" -m "acme: phones go back too" >/dev/null 2>&1
check "mapping log lists both versions, newest first" sh -c 'nova-hub mapping log H acme | grep "^[0-9a-f]\{12\} " | awk "{print \$3}" | tr "\n" " " | grep -q "^Ana Data "'
check "mapping diff shows the change" sh -c 'nova-hub mapping diff H acme | grep -qx "+inverse phone telephone"'
check "mapping show --rev reads an older version" sh -c 'nova-hub mapping show H acme --rev main~1 2>/dev/null | cmp -s - acme.map'
check "mapping log --json is one object per version" sh -c '[ "$(nova-hub mapping log H acme --json | grep -c "\"author\":")" = 2 ]'

# records that cannot be mapped: rejected alone, counted, reported
big=$(awk 'BEGIN { for (i = 0; i < 10485760; i += 64) printf "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" }')
{
    printf '{"op":"upsert","key":"C4","source":"contacts","fields":{"id":"C4","nom":"Petit","date_naissance":"31/02/1990"}}\n'
    printf '{"op":"upsert","key":"C5","source":"contacts","fields":{"id":"C5","nom":"Petit","surprise":"x"}}\n'
    printf '{"op":"upsert","key":"C6","source":"contacts","fields":{"id":"C6","nom":"%s"}}\n' "$big"
    printf '{"op":"upsert","key":"C7","source":"contacts","fields":{"id":"C7","nom":"Durand","telephone":"01 02 03 04 05"}}\n'
} > odd.ndjson
unset big
nova-agent seal A odd.ndjson >/dev/null 2>&1
mv A/outbox/*.nova H/inbox/ 2>/dev/null
nova-hub ingest H > ing.txt 2>&1
check "the rest of the bundle applies" grep -q "4 records: 2 upserts, 0 deletes, 0 acks, 2 rejected" ing.txt
check "a bad date does not reject its record: the value is left out" grep -q "1 value(s) that did not parse left out of matching, kept as sent" ing.txt
nova-hub status H > st.txt
check "status counts the rejected records" grep -q "acme: 5 records, mapping [0-9a-f]\{12\}, 2 rejected" st.txt
check "status counts the values that did not parse" grep -q "1 record(s) with 1 value(s) that did not parse" st.txt
check "the record keeps the bad date as sent, without a normalised one" sh -c 'nova-hub export H records 2>/dev/null | grep "\"key\":\"C4\"" | grep "31/02/1990" | grep -vq "birth_date\":\"1990"' 
check "status gives each reason (a bad date)" grep -q "1 x column 'date_naissance' (birth_date): date: " st.txt
check "status gives each reason (an unknown column)" grep -q "1 x column 'surprise' is not in the mapping" st.txt
check "status gives each reason (a 10 MB field)" grep -q "1 x column 'nom' (last_name): value of 10485760 bytes, over the 4096-byte limit" st.txt
check "reasons never quote values" sh -c '! grep -q "Petit\|31/02" st.txt'
commit2=$(git --git-dir=H/mappings rev-parse main)
check "the bundle records the mapping commit it used" sh -c 'nova-hub status H --json | grep -q "\"last_bundle\":{[^}]*\"map\":\"'"$commit2"'\""'

# fix the mapping, replay: the unknown column is now ignored
sed 's/^ext loyalty fidelite/ext loyalty fidelite\nignore surprise/' acme2.map > acme3.map
nova-hub mapping set H acme acme3.map >/dev/null 2>&1
check "after a fix, replay applies the record it rejected" sh -c 'nova-hub replay H acme | grep -q "done: 6 upserts, 0 deletes, 1 rejected, 0 unmapped, 1 values not normalised"'

# a replay killed with SIGKILL is finished by the next command
i=1
while [ $i -le 6 ]; do
    awk -v r=$i 'BEGIN { print "id,prenom,nom,email,telephone,code_postal,ville,date_naissance,fidelite"
        for (k = 1; k <= 3000; k++) printf "K%05d,Prénom%d,Nom%d,p%d.%d@example.fr,06 %02d %02d %02d %02d,%05d,Ville,01/01/19%02d,\n", k, k, k, k, (k % 7 == r) ? r : 0, k % 100, r, 11, 22, 75001 + k % 20, 50 + k % 40 }' > exports/contacts.csv
    nova-agent scan A >/dev/null 2>&1
    i=$((i + 1))
done
mv A/outbox/*.nova H/inbox/ 2>/dev/null
nova-hub ingest H >/dev/null 2>&1
# the records, without their RCU (a replay resolves them again)
nova-hub export H records 2>/dev/null | sed 's/"rcu":"[^"]*",//' > want.ndjson
killed=0 k=0
while [ $k -lt 12 ]; do
    nova-hub replay H acme >/dev/null 2>&1 &
    p=$!
    sleep "$(awk -v k=$k 'BEGIN { srand(k * 7919); printf "%.3f", 0.05 + rand() * 0.3 }')"
    if kill -9 $p 2>/dev/null; then killed=$((killed + 1)); fi
    wait $p 2>/dev/null
    k=$((k + 1))
done
note "$killed replays killed with SIGKILL"
nova-hub status H > st2.txt 2>&1
check "the next command finishes the interrupted replay" grep -q "acme: 3003 records" st2.txt
nova-hub export H records 2>/dev/null | sed 's/"rcu":"[^"]*",//' > got.ndjson
same "the store equals the one before the replays" got.ndjson want.ndjson
check "nothing was quarantined" sh -c '[ -z "$(ls H/quarantine)" ]'
done_testing
