#!/bin/sh
# The right to data portability (GDPR Art. 20; issue 14): `gdpr request DIR
# portability` produces one machine-readable document (JSON, or CSV) of the
# data the person provided, across entities, as each entity received it,
# without what the hub derived; the request is tracked like the others
# (deadline, target, register events) and is complete when the export is
# delivered: at once for one person, after `gdpr choose` and `gdpr
# deliver` when the subject matched two people.  The register keeps the
# export's size and SHA-256, never its content.
. "$(dirname "$0")/lib.sh"

setup_two || { not_ok "setup"; done_testing; }
printf 'entity = groupe\nsettle = 0\n[source contacts]\ndir = %s/ex-groupe\nkey = id\n' "$T" > groupe/agent.conf
printf 'entity = acquis\nsettle = 0\n[source clients]\ndir = %s/ex-acquis\nkey = No\n' "$T" > acquis/agent.conf
cat > ex-groupe/contacts.csv <<'EOF'
id,prenom,nom,email,telephone,date_naissance,optin,fidelite
G1,Ana,Alves,ana.alves@example.fr,06 11 11 11 11,1981-01-01,oui,GOLD
G2,Bruno,Blanc,bruno.blanc@example.fr,06 22 22 22 22,1982-02-02,oui,
G7,Gilles,Garnier,gilles.garnier@example.fr,01 45 00 00 01,1970-07-07,,
G8,Hugo,Girard,hugo.girard@example.fr,01 45 00 00 01,1988-08-08,,
EOF
cat > ex-acquis/clients.csv <<'EOF'
No,Prenom,Nom,Mail,Naissance,Newsletter
A1,Ana,Alves,ana.alves@example.fr,01/01/1981,yes
A3,Chloé,Colin,chloe.colin@example.fr,03/03/1983,no
EOF
printf 'nova-mapping 1\nentity groupe\nkey id\nfield first_name prenom\nfield last_name nom\nfield email email\nfield phone telephone\nfield birth_date date_naissance\nfield consent optin\next loyalty fidelite\nmatch birth_date\n' > groupe.map
printf 'nova-mapping 1\nentity acquis\nkey No\nfield first_name Prenom\nfield last_name Nom\nfield email Mail\nfield birth_date Naissance\nfield consent Newsletter\nmatch birth_date\n' > acquis.map
nova-hub mapping set H groupe groupe.map >/dev/null 2>&1 && nova-hub mapping set H acquis acquis.map >/dev/null 2>&1 ||
    not_ok "mappings"
ship
rcu=$(nova-hub export H links 2>/dev/null | sed -n 's/^groupe,G1,\(R[0-9A-Z]*\),.*/\1/p')

expect_status "a portability request for one person is delivered at once" 0 "portability request registered \(complete\)" \
    nova-hub gdpr request H portability --email Ana.Alves@example.fr --out ana.json --ref TICKET-77
req=$(sed -n 's/^\(REQ-[0-9]*\): portability request registered.*/\1/p' "$T/.out")
check "the export is one JSON document, readable by its owner only" sh -c '[ "$(stat -c %a ana.json)" = 600 ] && jq -e ".format == \"nova-portability 1\"" ana.json'
check "it holds the person's records of both entities" sh -c 'jq -e "[.records[].entity] | sort == [\"acquis\",\"groupe\"]" ana.json'
check "each record as the entity received it (source columns, values as written)" sh -c \
    'jq -e ".records[] | select(.entity == \"acquis\") | .provided.Naissance == \"01/01/1981\" and .provided.Prenom == \"Ana\"" ana.json &&
     jq -e ".records[] | select(.entity == \"groupe\") | .provided.fidelite == \"GOLD\"" ana.json'
check "and under the common model's names, as written, not normalised" sh -c \
    'jq -e ".records[] | select(.entity == \"acquis\") | .contact.birth_date == \"01/01/1981\" and .contact.first_name == \"Ana\"" ana.json'
check "nothing the hub derived (no RCU, no normalised values, no scores)" sh -c \
    "! grep -q '$rcu' ana.json && jq -e '[paths | map(tostring) | join(\".\")] | map(select(test(\"rcu|score|common|mapping|golden\"))) == []' ana.json"
check "nobody else's data" sh -c '! grep -q "Bruno\|Colin\|Garnier" ana.json'
nova-hub gdpr show H "$req" > show.txt 2>&1
check "the request is tracked: complete, with its deadline, target and reference" sh -c \
    "grep -q '$req: portability, complete' show.txt && grep -q 'deadline  ' show.txt && grep -q 'target    ' show.txt && grep -q 'reference TICKET-77' show.txt"
sum=$(sha256sum ana.json | cut -c1-64)
check "its timeline says what was delivered, with the file's SHA-256" sh -c \
    "grep -q 'resolved to $rcu: 2 entities hold the person' show.txt && grep -q 'portability export delivered in the file given: JSON, 2 record(s) from 2 entities, [0-9]* bytes, SHA-256 $sum' show.txt"
check "the register holds no personal data of hers" sh -c "nova-hub gdpr show H $req --json > req.json && ! grep -qi 'alves\|ana\.\|GOLD\|1981' req.json"
check "gdpr list shows the request" sh -c "nova-hub gdpr list H | grep -q '$req *portability *complete'"
check "it is in the access log" grep -q '"what":"gdpr portability request"' H/accesslog.ndjson

# CSV, and stdout
check "CSV: one row per value given" sh -c \
    "nova-hub gdpr request H portability --rcu $rcu --format csv --out ana.csv >/dev/null 2>&1 &&
     head -1 ana.csv | grep -q '^entity,source,record,column,value' && grep -q '^acquis,clients,[12],Naissance,01/01/1981' ana.csv &&
     grep -q '^groupe,contacts,[12],fidelite,GOLD' ana.csv"
nova-hub gdpr request H portability --record acquis:A1 > out.json 2> out.err
check "without --out the document alone is on stdout" sh -c 'jq -e ".records | length == 2" out.json && grep -q "portability request registered (complete)" out.err'

# a subject matching two people: chosen, then delivered
expect_status "a subject matching two people waits for a choice" 28 "matches 2 people" \
    nova-hub gdpr request H portability --phone "01 45 00 00 01" --out p.json
amb=$(nova-hub gdpr list H --open | sed -n 's/^\(REQ-[0-9]*\) *portability *ambiguous.*/\1/p')
check "nothing was written for it" sh -c "[ -n '$amb' ] && [ ! -e p.json ]"
hugo=$(nova-hub export H links 2>/dev/null | sed -n 's/^groupe,G8,\(R[0-9A-Z]*\),.*/\1/p')
check "once chosen it is open, waiting for delivery" sh -c \
    "nova-hub gdpr choose H $amb $hugo >/dev/null && nova-hub gdpr show H $amb | grep -q 'portability, open' &&
     nova-hub gdpr show H $amb | grep -q 'open until the export is delivered' &&
     nova-hub status H --json | jq -e '.gdpr | tostring | test(\"delivery\")' >/dev/null"
expect_status "gdpr deliver writes it" 0 "delivered \(complete\)" nova-hub gdpr deliver H "$amb" --out p.json
check "the chosen person's data only" sh -c 'jq -e "[.records[].provided.prenom] == [\"Hugo\"]" p.json'
check "and the request is complete" sh -c "nova-hub gdpr show H $amb | grep -q 'portability, complete'"
expect_status "delivering twice is refused" 2 "is complete: there is nothing to deliver" nova-hub gdpr deliver H "$amb" --out p2.json
expect_status "only a portability request is delivered" 2 "only a portability request is delivered" \
    sh -c "nova-hub gdpr request H access --email bruno.blanc@example.fr --out b.json >/dev/null 2>&1; nova-hub gdpr deliver H \$(nova-hub gdpr list H | sed -n 's/^\(REQ-[0-9]*\) *access.*/\1/p' | tail -1) --out b2.json"
check "an unknown subject is recorded as such" sh -c 'nova-hub gdpr request H portability --email nobody@nowhere.example --out n.json | grep -q "(no-data)"'
expect_status "portability takes one subject, not --from" 2 "not --from" sh -c 'echo "email:ana.alves@example.fr" > subj.txt; nova-hub gdpr request H portability --from subj.txt'
expect_status "--format is json or csv" 2 "json or csv" nova-hub gdpr request H portability --email ana.alves@example.fr --format xml
done_testing
