#!/bin/sh
# Golden records and the return path end to end: two agents and a hub; a
# person known to both entities; `show` gives each golden value with its
# source; an update at one entity reaches the other's import directory once,
# in its own columns and dialect, and stops there when that CRM imports it
# and re-exports; the sender gets nothing back; survivorship rules in the
# mapping repository (versioned, refused with a line when wrong) decide
# which entity's value wins; a restriction of processing stops updates; a
# review decision that merges two people sends what changed; the ledger
# verifies.
. "$(dirname "$0")/lib.sh"

setup_two || { not_ok "setup"; done_testing; }
printf 'entity = groupe\nsettle = 0\n[source contacts]\ndir = %s/ex-groupe\nkey = id\n' "$T" > groupe/agent.conf
printf 'entity = acquis\nsettle = 0\nimport_encoding = windows-1252\n[source clients]\ndir = %s/ex-acquis\nkey = No\nencoding = windows-1252\ndelimiter = ;\n' "$T" > acquis/agent.conf
cat > ex-groupe/contacts.csv <<'EOF'
id,prenom,nom,email,telephone,ville,code_postal,maj,naissance
G1,Hélène,Lefèvre,helene.lefevre@example.fr,06 11 22 33 44,Paris,75011,2026-01-10,1980-05-17
G2,Marc,Dubois,marc.dubois@example.fr,06 55 44 33 22,Lyon,69003,2026-01-10,1975-01-02
EOF
acquis_csv() { # the acquired CRM's export, in Windows-1252 with ';'
    printf 'No;Prenom;Nom;Mail;Tel;Ville;CP;Modif;Naissance\n'
    printf 'A1;HELENE;LEFEVRE;%s;%s;%s;%s;%s;17/05/1980\n' "$1" "$2" "$3" "${5:-75011}" "$4"
    printf 'A2;Marc;Dubois;m.dubois@travail.example;06 55 44 33 22;Lyon;69003;2026-01-05;02/01/1975\n'
}
acquis_csv Helene.Lefevre@Example.fr "+33 6 11 22 33 44" "Paris" 2026-01-05 | iconv -f utf-8 -t cp1252 > ex-acquis/clients.csv
cat > groupe.map <<'EOF'
nova-mapping 1
entity groupe
key id
field first_name prenom
field last_name nom
field email email
field phone telephone
field city ville
field postcode code_postal
field updated_at maj
field birth_date naissance
match birth_date
inverse first_name prenom
inverse last_name nom
inverse email email
inverse phone telephone
inverse city ville
EOF
cat > acquis.map <<'EOF'
nova-mapping 1
entity acquis
key No
field first_name Prenom
field last_name Nom
field email Mail
field phone Tel
field city Ville
field postcode CP
field updated_at Modif
field birth_date Naissance
match birth_date
inverse email Mail
inverse phone Tel
inverse city Ville
EOF
nova-hub mapping set H groupe groupe.map >/dev/null 2>&1 && nova-hub mapping set H acquis acquis.map >/dev/null 2>&1 || not_ok "mappings"

# updates bundles that carry records (a receipt, an updates bundle of no
# record, only says what the hub applied)
updates_for() {
    n=0
    for f in H/outbox/$1/*.updates.nova; do
        [ -e "$f" ] && ! tar -xOf "$f" manifest | grep -qx 'records: 0' && n=$((n + 1))
    done
    echo $n
}
imports() { cat $1/import/nova-updates-*.csv 2>/dev/null | iconv -f cp1252 -t utf-8; }
ship
nova-hub export H links > links.csv 2>/dev/null
rcu=$(grep '^groupe,G1,' links.csv | cut -d, -f3)
check "the person known to both entities has one RCU" grep -q "^acquis,A1,$rcu," links.csv
check "linking alone sends no update (no golden value changed because of an entity)" [ "$(updates_for groupe)$(updates_for acquis)" = "00" ]

# show: each value with where it came from
nova-hub show H "$rcu" --why "support ticket 42" > show.txt 2>&1
check "show gives the golden record of the RCU" grep -q "^$rcu  2 record(s)" show.txt
check "each value names its entity, record and time" grep -Eq '^last_name +Lefèvre +groupe:G1  2026-01-10T00:00:00Z' show.txt
check "the most recent record wins a field (groupe's, 2026-01-10)" grep -Eq '^email +helene.lefevre@example.fr +groupe:G1' show.txt
check "show by ENTITY:KEY finds the same person" sh -c "nova-hub show H acquis:A1 | grep -q '^$rcu '"
check "show --json for other tools" sh -c "nova-hub show H $rcu --json | grep -q '\"entity\":\"acquis\",\"source\":\"clients\",\"key\":\"A1\"'"
check "show is in the access log with its reason, without personal data" sh -c "nova-hub accesslog H | grep -q 'show $rcu' && grep -q 'support ticket 42' H/accesslog.ndjson && ! grep -qi lefevre H/accesslog.ndjson"
nova-hub export H golden --format csv > golden.csv 2>/dev/null
check "export golden: one CSV row per person, names as written, dates ISO, phones E.164" grep -qx "$rcu,Hélène,Lefèvre,,,helene.lefevre@example.fr,+33611223344,,75011,Paris,,1980-05-17,,,2" golden.csv
check "export golden --format ndjson: the sources too" sh -c "nova-hub export H golden | grep -q '\"rcu\":\"$rcu\"'"
check "export golden is in the access log" sh -c 'nova-hub accesslog H | grep -q "export golden"'
expect_status "show of an unknown RCU names it" 29 "no RCU 'nope'" nova-hub show H nope

# an update at acquis: the e-mail changes in its CRM
acquis_csv helene@nouveau.example "+33 6 11 22 33 44" "Paris" 2026-02-01 | iconv -f utf-8 -t cp1252 > ex-acquis/clients.csv
ship
check "the change puts one updates bundle in groupe's outbox" [ "$(updates_for groupe)" = 1 ]
check "and none back to acquis, where it came from" [ "$(updates_for acquis)" = 0 ]
check "the golden e-mail is acquis's now" sh -c "nova-hub show H $rcu | grep -Eq '^email +helene@nouveau.example +acquis:A1  2026-02-01'"
back
check "groupe's agent writes it to its import directory" sh -c 'ls groupe/import/nova-updates-hub-*.csv'
imports groupe > imp-groupe.csv
check "in groupe's own columns: its key and the changed field only" sh -c 'head -1 imp-groupe.csv | grep -qx "id;email" && grep -qx "G1;helene@nouveau.example" imp-groupe.csv'
check "the other person is not touched" sh -c '! grep -q G2 imp-groupe.csv'
# groupe's CRM imports the file and re-exports the record
sed -i 's/^G1,Hélène,Lefèvre,helene.lefevre@example.fr,06 11 22 33 44,Paris,75011,2026-01-10,1980-05-17$/G1,Hélène,Lefèvre,helene@nouveau.example,06 11 22 33 44,Paris,75011,2026-02-02,1980-05-17/' ex-groupe/contacts.csv
ship
check "the re-export after the import sends nothing more (no echo)" [ "$(updates_for groupe)$(updates_for acquis)" = "00" ]
check "and the golden record keeps the value" sh -c "nova-hub show H $rcu | grep -Eq '^email +helene@nouveau.example '"
check "groupe's re-export, newer, does not win the fields it did not change" sh -c "nova-hub show H $rcu | grep -Eq '^phone .* groupe:G1  2026-01-10|^phone .* acquis:A1  2026-01-05'"
touch ex-groupe/contacts.csv ex-acquis/clients.csv
ship
check "a pass with nothing new sends nothing (idempotent)" [ "$(updates_for groupe)$(updates_for acquis)" = "00" ]
check "the update reached groupe once" sh -c '[ "$(ls groupe/import/nova-updates-hub-*.csv | wc -l)" = 1 ]'

# a change at groupe goes to acquis, in acquis's dialect (Windows-1252, ;)
sed -i 's/^G1,Hélène,Lefèvre,helene@nouveau.example,06 11 22 33 44,Paris,75011,2026-02-02,1980-05-17$/G1,Hélène,Lefèvre,helene@nouveau.example,06 11 22 33 44,Saint-Étienne,42000,2026-03-01,1980-05-17/' ex-groupe/contacts.csv
ship
check "a change at groupe reaches acquis's outbox" [ "$(updates_for acquis)$(updates_for groupe)" = "10" ]
back
imports acquis > imp-acquis.csv
check "in acquis's dialect and encoding, only the fields it maps back" sh -c 'head -1 imp-acquis.csv | grep -qx "No;Ville" && grep -qx "A1;Saint-Étienne" imp-acquis.csv'

# survivorship rules in the mapping repository
printf 'nova-survivorship 1\npriority email acquis\nfrobnicate\n' > bad.rules
expect_status "bad rules are refused with their line" 10 "rules line 3: unknown directive 'frobnicate'" nova-hub rules set H bad.rules
printf 'nova-survivorship 1\n# the group keeps the phone numbers it has\npriority phone groupe\n' > good.rules
check "rules are committed with their author" nova-hub rules set H good.rules --author 'Data Team <data@groupe.example>' --message 'groupe phones first'
check "rules log shows who and why" sh -c 'nova-hub rules log H | grep -q "Data Team <data@groupe.example>" && nova-hub rules log H | grep -q "groupe phones first"'
check "rules show reads them back" sh -c 'nova-hub rules show H | grep -q "^priority phone groupe"'
check "stock git sees them in the mapping repository" sh -c 'git --git-dir H/mappings show main:survivorship.rules | grep -q "priority phone groupe"'
acquis_csv helene@nouveau.example "07 99 99 99 99" "Saint-Étienne" 2026-04-01 42000 | iconv -f utf-8 -t cp1252 > ex-acquis/clients.csv
ship
check "a phone change at acquis loses to groupe's priority: nothing sent" [ "$(updates_for groupe)" = 0 ]
check "show says the phone is groupe's" sh -c "nova-hub show H $rcu | grep -Eq '^phone +\+33611223344 +groupe:G1'"
check "show names the rules' commit" sh -c "nova-hub show H $rcu | grep -q '^survivorship rules: [0-9a-f]\{40\}'"

# a restriction of processing stops outbound updates
nova-hub gdpr request H restrict --record groupe:G1 >/dev/null 2>&1
back
check "the restriction flag reaches both entities' import directories" sh -c 'grep -qx "contacts;G1;restrict;REQ-000001" groupe/import/nova-flags-hub-*.csv && iconv -f cp1252 -t utf-8 acquis/import/nova-flags-hub-*.csv | grep -qx "clients;A1;restrict;REQ-000001"'
check "the request's timeline says where the flag went" sh -c 'nova-hub gdpr show H REQ-000001 | grep -q "restrict flag sent to acquis (1 records)"'
sed -i 's/^G1,Hélène,Lefèvre,helene@nouveau.example,06 11 22 33 44,Saint-Étienne,42000,2026-03-01,1980-05-17$/G1,Hélène,Lefèvre,helene@nouveau.example,06 22 22 22 22,Saint-Étienne,42000,2026-05-01,1980-05-17/' ex-groupe/contacts.csv
ship
check "a restricted person's change sends no update" [ "$(updates_for acquis)" = 0 ]
check "though the golden phone changed (groupe's priority)" sh -c "nova-hub show H $rcu | grep -Eq '^phone +\+33622222222 +groupe:G1'"
check "show says the person is restricted" sh -c "nova-hub show H $rcu | grep -q '^restricted processing'"

# a replay recomputes, sends nothing
nova-hub replay H groupe >/dev/null 2>&1
check "a replay sends no update" [ "$(updates_for acquis)$(updates_for groupe)" = "00" ]

# the ledger holds the whole trail and verifies; no personal data in it
nova-hub ledger H --allowed-signers signers >/dev/null 2>&1
check "nova-audit verify passes on the ledger" nova-audit verify H/ledger --keys H/keys/identity.pub --keys groupe/keys/identity.pub --keys acquis/keys/identity.pub
check "the ledger holds no personal data" sh -c '! git --git-dir H/ledger log -p | grep -qi "lefevre\|nouveau.example"'
# an entity whose key is revoked: its updates wait in the queue, not lost
nova-hub revoke H acquis --reason "key lost" >/dev/null 2>&1
sed -i 's/^G2,Marc,Dubois,marc.dubois@example.fr,06 55 44 33 22,Lyon,69003,2026-01-10,1975-01-02$/G2,Marc,Dubois,marc.dubois@example.fr,06 55 44 33 22,Lyon 3e,69003,2026-06-01,1975-01-02/' ex-groupe/contacts.csv
ship
check "updates for an entity without a valid key wait in the store" sh -c 'nova-hub status H | grep -q "^updates: 1 record(s) queued for other entities, not yet sent"'
check "and nothing was sealed for it" [ "$(updates_for acquis)" = 0 ]
done_testing
