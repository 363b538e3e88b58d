#!/bin/sh
# The data-lake export (issue 17): `export DIR records|links|golden --since
# CURSOR --out DIR` writes only what changed since the cursor the previous
# export printed, deletions as tombstones, in entity-partitioned files with
# a BigQuery schema, a manifest and SHA256SUMS that `sha256sum -c` checks.
# On the generator's data of two entities: a full export, then changes
# (values changed, records deleted, new records), then an erasure; the full
# export and the batches applied in order give the same state for records,
# links and golden records; the erased person is a tombstone (record id or
# RCU only) and her name and e-mail are in no file written after; a garbage
# cursor and one from the future are refused; every export is in the access
# log.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

gencrm --seed 7 --base 300 --acquired 150 --overlap 0.3 --profile realistic --out gen 2>/dev/null ||
    { not_ok "the generator runs"; done_testing; }
setup_two || { not_ok "setup"; done_testing; }
for e in groupe acquis; do
    printf '#!/bin/sh\nexit 0\n' > hook-$e.sh && chmod +x hook-$e.sh
done
printf 'entity = groupe\nsettle = 0\nerase_hook = %s/hook-groupe.sh\n[source contacts]\ndir = %s/ex-groupe\nkey = id_client\n' "$T" "$T" > groupe/agent.conf
printf 'entity = acquis\nsettle = 0\nerase_hook = %s/hook-acquis.sh\n[source contacts]\ndir = %s/ex-acquis\nkey = CustomerNo\nencoding = windows-1252\ndelimiter = ;\n' "$T" "$T" > acquis/agent.conf
printf 'nova-mapping 1\nentity groupe\nkey id_client\nfield title civilite\nfield first_name prenom\nfield last_name nom\nfield birth_name nom_naissance\nfield email email\nfield phone mobile telephone\nfield address adresse\nfield postcode code_postal\nfield city ville\nfield country pays\nfield birth_date date_naissance\nfield consent optin_email\nfield updated_at date_maj\nmatch birth_date\n' > groupe.map
printf 'nova-mapping 1\nentity acquis\nkey CustomerNo\nfield title Title\nfield first_name FirstName\nfield last_name LastName\nfield email E-mail\nfield phone Phone\nfield address Street\nfield postcode ZIP\nfield city Town\nfield country Country\nfield birth_date BirthDate\nfield consent Newsletter\nfield updated_at LastModified\nmatch birth_date\n' > acquis.map
nova-hub mapping set H groupe groupe.map >/dev/null 2>&1 && nova-hub mapping set H acquis acquis.map >/dev/null 2>&1 ||
    not_ok "mappings"
# the generator's people, and one person known to both entities who will
# ask to be erased
cp gen/base.csv ex-groupe/contacts.csv
echo '999001,Mme,Ophelie,Lakeside,,ophelie.lakeside@example.org,,06 98 76 54 32,3 quai Ouest,69002,Lyon,France,1979-04-12,1,2024-01-02 10:00:00' >> ex-groupe/contacts.csv
cp gen/acquired.csv ex-acquis/contacts.csv
printf 'CU0999001;Madame;Ophelie;Lakeside;ophelie.lakeside@example.org;06 98 76 54 32;3 quai Ouest;69002;LYON;FRANCE;12/04/1979;Oui;02/01/2024 10:00\r\n' >> ex-acquis/contacts.csv
ship

# state DIR KEY: the state the batches under DIR give, applied in order of
# their rows' change seq (a full export's rows are at its cursor): one line
# per live item, without nova_op and nova_seq, sorted
state() {
    find "$1" -path '*/batch=*' -name 'part-*.ndjson' | sort | xargs cat |
        jq -c -s --arg k "$2" 'sort_by(.nova_seq) | reduce .[] as $r ({};
            if $r.nova_op == "delete" then del(.[$r[$k]])
            else .[$r[$k]] = ($r | del(.nova_seq, .nova_op)) end) | .[]' | sort
}
# lake_all SINCE N: records, links and golden exported since SINCE into
# lake/; each one's cursor in cN.<what>
lake_all() {
    for w in records links golden; do
        nova-hub export H $w --since "$1" --out lake > c$2.$w 2>err$2.$w ||
            { not_ok "export of $w since $1"; sed 's/^/# /' err$2.$w; }
    done
}
# rows DIR: the rows of every part file under DIR
rows() { find "$1" -name 'part-*' -exec cat {} + | wc -l; }

# the full export
lake_all 0 0
c0=$(cat c0.records)
check "a full export prints its cursor" sh -c "[ '$c0' -gt 0 ] && [ \"\$(cat c0.links)\" = '$c0' ] && [ \"\$(cat c0.golden)\" = '$c0' ]"
b0=lake/records/batch=00000000000000000000-$(printf '%020d' "$c0")
check "the batch is named by its cursors and partitioned by entity" sh -c "ls $b0/entity=groupe/part-00000.ndjson $b0/entity=acquis/part-00000.ndjson"
nrec=$(nova-hub export H records 2>/dev/null | wc -l)
check "the full export holds every record ($nrec)" [ "$(rows $b0)" = "$nrec" ]
check "each file's SHA-256 verifies with sha256sum -c" sh -c "cd $b0 && sha256sum -c --quiet SHA256SUMS"
check "the manifest counts the rows of each file" sh -c "[ \"\$(jq '[.files[] | select(.rows) | .rows] | add' $b0/manifest.json)\" = '$nrec' ] &&
    [ \"\$(jq -r '.files[] | select(.partition == \"groupe\") | .sha256' $b0/manifest.json)\" = \"\$(sha256sum $b0/entity=groupe/part-00000.ndjson | cut -c1-64)\" ]"
check "the schema is a BigQuery JSON schema of the rows" sh -c "jq -e '.[0].name == \"nova_op\" and (map(.name) | index(\"record_id\")) and (.[] | select(.name == \"common\") | .type == \"RECORD\")' $b0/schema.json"
check "every row names its record id and RCU" sh -c "[ \"\$(cat $b0/entity=*/part-*.ndjson | jq -r 'select((.record_id | length) == 32 and (.rcu | startswith(\"R\"))) | .key' | wc -l)\" = '$nrec' ]"
check "no temporary name is left in the export" sh -c '[ -z "$(find lake -name ".*")" ]'
expect_status "the same batch twice is refused" 28 "exported before" nova-hub export H records --since 0 --out lake
expect_status "nothing changed: no batch, the same cursor" 0 "nothing changed since cursor $c0" nova-hub export H records --since "$c0" --out lake
cp "$T/.out" again.out
check "and the cursor is printed again" grep -qx "$c0" again.out

# changes: values changed at groupe, records gone at acquis, new records
LC_ALL=C awk -F, 'NR > 1 && NR <= 21 { $6 = "changed" NR "@example.net" } { print }' OFS=, ex-groupe/contacts.csv > x && mv x ex-groupe/contacts.csv
{ head -1 gen/acquired.csv; tail -n +2 ex-acquis/contacts.csv | LC_ALL=C sed -n '11,$p'; } > x && mv x ex-acquis/contacts.csv
echo '999002,M.,Nouveau,Venu,,nouveau.venu@example.org,,06 00 00 00 02,1 rue Neuve,75001,Paris,France,1990-01-01,1,2024-02-02 10:00:00' >> ex-groupe/contacts.csv
ship
lake_all "$c0" 1
c1=$(cat c1.records)
b1=lake/records/batch=$(printf '%020d' "$c0")-$(printf '%020d' "$c1")
check "the next cursor is past the first" [ "$c1" -gt "$c0" ]
n1=$(rows $b1)
check "the incremental batch holds only what changed ($n1 rows)" sh -c "[ $n1 -ge 31 ] && [ $n1 -lt $nrec ]"
check "a changed value is in it" grep -q '"email":\["changed2@example.net"\]' $b1/entity=groupe/part-00000.ndjson
check "a new record is in it" grep -q '"key":"999002"' $b1/entity=groupe/part-00000.ndjson
check "a record deleted at the source is a tombstone" sh -c "[ \"\$(jq -c 'select(.nova_op == \"delete\")' $b1/entity=acquis/part-*.ndjson | wc -l)\" = 10 ]"
check "a tombstone holds its entity, source and record id only" sh -c "jq -e -s 'map(select(.nova_op == \"delete\") | keys == [\"entity\",\"nova_op\",\"nova_seq\",\"record_id\",\"source\"]) | all' $b1/entity=acquis/part-*.ndjson"
check "its SHA-256s verify" sh -c "cd $b1 && sha256sum -c --quiet SHA256SUMS"

# the erasure of the person known to both
nova-hub gdpr request H erase --email ophelie.lakeside@example.org > req.txt 2>&1
req=$(sed -n 's/^\(REQ-[0-9]*\): erase request registered.*/\1/p' req.txt)
rcu=$(jq -r 'select(.key == "999001") | .rcu' $b0/entity=groupe/part-00000.ndjson)
gid=$(jq -r 'select(.key == "999001") | .record_id' $b0/entity=groupe/part-00000.ndjson)
back
LC_ALL=C grep -v Lakeside ex-groupe/contacts.csv > x && mv x ex-groupe/contacts.csv
LC_ALL=C grep -v Lakeside ex-acquis/contacts.csv > x && mv x ex-acquis/contacts.csv
ship
check "the erasure completes" sh -c "nova-hub gdpr show H $req | grep -q 'erase, complete'"
lake_all "$c1" 2
c2=$(cat c2.records)
b2=lake/records/batch=$(printf '%020d' "$c1")-$(printf '%020d' "$c2")
g2=lake/golden/batch=$(printf '%020d' "$c1")-$(printf '%020d' "$c2")
check "the erased record is a tombstone with its record id only" sh -c "jq -e -s 'map(select(.record_id == \"$gid\")) | length == 1 and .[0].nova_op == \"delete\" and (.[0] | keys == [\"entity\",\"nova_op\",\"nova_seq\",\"record_id\",\"source\"])' $b2/entity=groupe/part-*.ndjson"
check "the person is a golden tombstone with her RCU only" sh -c "jq -e -s 'map(select(.rcu == \"$rcu\")) | length == 1 and .[0].nova_op == \"delete\" and (.[0] | keys == [\"nova_op\",\"nova_seq\",\"rcu\"])' $g2/part-00000.ndjson"
nova-hub export H records --since 0 --out after > /dev/null 2>&1
check "her name and e-mail are in no file written after the erasure" sh -c "! grep -rqi 'lakeside' lake/*/batch=*-$(printf '%020d' "$c2") after"
check "her record keys neither" sh -c "! grep -rq '999001\|CU0999001' lake/*/batch=*-$(printf '%020d' "$c2") after"

# a review decision that merges two people, then new survivorship rules
nova-hub review H list --json --limit 1 --why test > q.json
a=$(sed -n '1s/^{"id":"[^"]*","a":"\([^"]*\)".*/\1/p' q.json)
b=$(sed -n '1s/^{"id":"[^"]*","a":"[^"]*","b":"\([^"]*\)".*/\1/p' q.json)
rcu_of() { nova-hub export H links 2>/dev/null | grep "^${1%%:*},${1#*:}," | cut -d, -f3; }
ra=$(rcu_of "$a"); rb=$(rcu_of "$b")
nova-hub review H accept "$(sed -n '1s/^{"id":"\([0-9]*-[0-9]*\)".*/\1/p' q.json)" --by tester >/dev/null 2>&1
kept=$(rcu_of "$a")
gone=$ra; [ "$kept" = "$ra" ] && gone=$rb
printf 'nova-survivorship 1\npriority * acquis groupe\n' > rules
nova-hub rules set H rules >/dev/null 2>&1 || not_ok "rules set"
lake_all "$c2" 3
c3=$(cat c3.records)
g3=lake/golden/batch=$(printf '%020d' "$c2")-$(printf '%020d' "$c3")
npeople=$(nova-hub export H golden 2>/dev/null | wc -l)
check "the merged person is a golden tombstone naming the RCU it joined" sh -c "[ -n '$gone' ] && [ '$ra' != '$rb' ] &&
    jq -e -s 'map(select(.rcu == \"$gone\")) == [{\"nova_op\":\"delete\",\"nova_seq\":(map(select(.rcu == \"$gone\"))[0].nova_seq),\"rcu\":\"$gone\",\"merged_into\":\"$kept\"}]' $g3/part-00000.ndjson"
check "new survivorship rules send every golden record again ($npeople)" sh -c "[ \"\$(jq -c 'select(.nova_op == \"upsert\")' $g3/part-00000.ndjson | wc -l)\" = '$npeople' ]"

# the full export and the sum of the batches give the same state
for w in records links golden; do
    k=record_id; [ $w = golden ] && k=rcu
    nova-hub export H $w --since 0 --out full > /dev/null 2>&1
    state lake/$w $k > inc.$w
    state full/$w $k > full.$w
    check "$w: the full export equals the batches applied in order ($(wc -l < full.$w) items)" sh -c "[ -s full.$w ] && cmp -s inc.$w full.$w"
done

# CSV, and files cut in parts
nova-hub export H records --since "$c0" --out csv --format csv --part-rows 5 > /dev/null 2>&1
bc=csv/records/batch=$(printf '%020d' "$c0")-$(printf '%020d' "$c3")
check "CSV: a header, then the rows, cut in parts of 5" sh -c "head -1 $bc/entity=groupe/part-00000.csv | grep -q '^nova_op,nova_seq,record_id,entity,source,key,rcu,seq,mapping,first_name' &&
    [ -e $bc/entity=groupe/part-00001.csv ] && [ \$(sed 1d $bc/entity=groupe/part-00000.csv | wc -l) = 5 ]"
check "CSV: the schema is the header's columns" sh -c "[ -s $bc/schema.json ] && [ \"\$(jq -r 'map(.name) | join(\",\")' $bc/schema.json)\" = \"\$(head -1 $bc/entity=groupe/part-00000.csv | tr -d '\r')\" ]"
check "CSV: its SHA-256s verify" sh -c "cd $bc && sha256sum -c --quiet SHA256SUMS"

# cursors that are not this hub's
expect_status "a garbage cursor is refused" 10 "'12abc' is not a cursor" nova-hub export H records --since 12abc --out lake
expect_status "a cursor from the future is refused" 29 "cursor $((c3 + 1000)) is ahead of this hub's change log \(its last change is $c3\)" \
    nova-hub export H records --since $((c3 + 1000)) --out lake
expect_status "--since writes files: --out is required" 2 "give --out DIR" nova-hub export H golden --since 0
check "no batch was written for them" sh -c "[ -z \"\$(find lake -name '*$((c3 + 1000))*')\" ]"
check "every data-lake export is in the access log" sh -c "[ \"\$(grep -c 'data lake' H/accesslog.ndjson)\" -ge 17 ]"
done_testing
