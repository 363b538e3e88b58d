#!/bin/sh
# Marketing consent decided per person, explicitly (issue 14): a person is
# selected only with an explicit yes under the mapping's consent column and
# no refusal in any entity, no restriction, no objection; one row per
# person, for export records and export golden; export records carries
# the RCU.
. "$(dirname "$0")/lib.sh"

setup_two || { not_ok "setup"; done_testing; }
printf 'entity = groupe\nsettle = 0\n[source contacts]\ndir = %s/ex-groupe\nkey = id\n' "$T" > groupe/agent.conf
printf 'entity = acquis\nsettle = 0\n[source clients]\ndir = %s/ex-acquis\nkey = No\n' "$T" > acquis/agent.conf
cat > ex-groupe/contacts.csv <<'EOF'
id,prenom,nom,email,date_naissance,optin
G1,Ana,Alves,ana.alves@example.fr,1981-01-01,oui
G2,Bruno,Blanc,bruno.blanc@example.fr,1982-02-02,oui
G3,Cécile,Caron,cecile.caron@example.fr,1983-03-03,
G4,Denis,Dupuis,denis.dupuis@example.fr,1984-04-04,oui
G5,Emma,Evrard,emma.evrard@example.fr,1985-05-05,oui
G6,Fanny,Faure,fanny.faure@example.fr,1986-06-06,oui
EOF
cat > ex-acquis/clients.csv <<'EOF'
No,Prenom,Nom,Mail,Naissance,Newsletter
A1,Ana,Alves,ana.alves@example.fr,01/01/1981,yes
A2,Bruno,Blanc,bruno.blanc@example.fr,02/02/1982,
A4,Denis,Dupuis,denis.dupuis@example.fr,04/04/1984,no
EOF
printf 'nova-mapping 1\nentity groupe\nkey id\nfield first_name prenom\nfield last_name nom\nfield email email\nfield birth_date date_naissance\nfield consent optin\nmatch birth_date\n' > groupe.map
printf 'nova-mapping 1\nentity acquis\nkey No\nfield first_name Prenom\nfield last_name Nom\nfield email Mail\nfield birth_date Naissance\nfield consent Newsletter\nmatch birth_date\n' > acquis.map
nova-hub mapping set H groupe groupe.map >/dev/null 2>&1 && nova-hub mapping set H acquis acquis.map >/dev/null 2>&1 || not_ok "mappings"
ship
nova-hub gdpr request H object --record groupe:G5 >/dev/null 2>&1
nova-hub gdpr request H restrict --record groupe:G6 >/dev/null 2>&1

nova-hub export H records > all.ndjson 2>/dev/null
check "export records carries each record's RCU" sh -c '[ "$(grep -c "\"rcu\":\"R[0-9A-Z]*\"" all.ndjson)" = 9 ]'
nova-hub export H links > links.csv 2>/dev/null
check "a person in both entities has one RCU" sh -c '[ "$(grep "^groupe,G1," links.csv | cut -d, -f3)" = "$(grep "^acquis,A1," links.csv | cut -d, -f3)" ]'
nova-hub export H records --marketing > mk.ndjson 2>mk.err
keys=$(sed 's/.*"key":"\([^"]*\)".*/\1/' mk.ndjson | sort | tr '\n' ' ')
check "a yes in both entities: the person is in, once" sh -c '[ "$(grep -c "\"key\":\"[GA]1\"" mk.ndjson)" = 1 ]'
check "a yes and an empty consent elsewhere: in, once" sh -c '[ "$(grep -c "\"key\":\"[GA]2\"" mk.ndjson)" = 1 ]'
check "an empty consent is no consent" sh -c '! grep -q "\"key\":\"G3\"" mk.ndjson'
check "a refusal in another entity excludes the person" sh -c '! grep -q "\"key\":\"[GA]4\"" mk.ndjson'
check "an objection excludes the person" sh -c '! grep -q "\"key\":\"G5\"" mk.ndjson'
check "a restriction excludes the person" sh -c '! grep -q "\"key\":\"G6\"" mk.ndjson'
check "two people, one row each ($keys)" sh -c '[ "$(wc -l < mk.ndjson)" = 2 ]'
check "it says who was left out and why" grep -q "marketing: 2 people with an explicit yes and no refusal, one row each; left out: 1 without an explicit yes, 1 refused in one of the entities, 2 restricted processing or objected, 0 erased" mk.err
nova-hub export H records --marketing --format csv > mk.csv 2>/dev/null
check "the CSV marketing export has the same two people" sh -c '[ "$(wc -l < mk.csv)" = 3 ] && head -1 mk.csv | grep -q "^entity,source,key,seq,rcu,"'
nova-hub export H golden --marketing > gm.ndjson 2>gm.err
r1=$(grep "^groupe,G1," links.csv | cut -d, -f3)
r2=$(grep "^groupe,G2," links.csv | cut -d, -f3)
check "export golden --marketing: the same two people" sh -c "[ \"\$(wc -l < gm.ndjson)\" = 2 ] && grep -q '$r1' gm.ndjson && grep -q '$r2' gm.ndjson"
check "export golden without --marketing has everyone" sh -c '[ "$(nova-hub export H golden 2>/dev/null | wc -l)" = 6 ]'
check "the marketing exports are in the access log" sh -c 'grep -c "export golden\|export records" H/accesslog.ndjson | grep -qx 5'
done_testing
