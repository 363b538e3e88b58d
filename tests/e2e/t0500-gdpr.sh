#!/bin/sh
# The GDPR register end to end: two agents and a hub; a person known to both
# entities is linked to one RCU; an erasure request resolves to it, sends a
# signed order to each entity, both agents run their erase hooks and answer
# with signed receipts, the request completes, the hub erases its copy and
# keeps only keyed hashes: afterwards no file under the hub directory (LMDB
# included) holds the person's e-mail, phone or name, a later export that
# still holds the person is suppressed, and the ledger verifies.  Also:
# access, unknown and ambiguous subjects, a failed receipt keeping the
# request open, a retention, an extension, the access log.
. "$(dirname "$0")/lib.sh"

setup_two || { not_ok "setup"; done_testing; }
for e in groupe acquis; do
    cat > hook-$e.sh <<HOOK
#!/bin/sh
echo "\$NOVA_ORDER_ID \$NOVA_RECORD_KEY" >> "$T/hook-$e.log"
case "\$NOVA_RECORD_KEY" in
G3) exit 4 ;;                       # the CRM refuses: failed
A2) echo "invoice retained 10 years (Code de commerce L123-22)"; exit 3 ;;
esac
exit 0
HOOK
    chmod +x hook-$e.sh
done
printf 'entity = groupe\nsettle = 0\nerase_hook = %s/hook-groupe.sh\n[source contacts]\ndir = %s/ex-groupe\nkey = id\n' "$T" "$T" > groupe/agent.conf
printf 'entity = acquis\nsettle = 0\nerase_hook = %s/hook-acquis.sh\n[source clients]\ndir = %s/ex-acquis\nkey = No\nencoding = windows-1252\ndelimiter = ;\n' "$T" "$T" > acquis/agent.conf
cat > ex-groupe/contacts.csv <<'EOF'
id,prenom,nom,email,telephone,code_postal,date_naissance
G1,Hélène,Lefèvre,helene.lefevre@example.fr,06 11 22 33 44,75011,1980-05-17
G2,Marc,Dubois,marc.dubois@example.fr,06 55 44 33 22,69003,1975-01-02
G3,Paul,Martin,paul.martin@example.fr,06 99 88 77 66,13001,1969-09-09
G4,Julie,Petit,famille.petit@example.fr,01 45 00 00 01,44000,1990-03-03
G5,Luc,Petit,famille.petit@example.fr,01 45 00 00 01,44000,1962-12-12
EOF
printf 'No;Prenom;Nom;Mail;Tel;CP;Naissance\nA1;HELENE;LEFEVRE;Helene.Lefevre@Example.fr;+33 6 11 22 33 44;75011;17/05/1980\nA2;Marc;Dubois;m.dubois@travail.example;0655443322;69003;02/01/1975\nA3;Paul;Martin;paul.martin@example.fr;06 99 88 77 66;13001;09/09/1969\n' | iconv -f utf-8 -t cp1252 > ex-acquis/clients.csv
cat > groupe.map <<'EOF'
nova-mapping 1
entity groupe
key id
field first_name prenom
field last_name nom
field email email
field phone telephone
field postcode code_postal
field birth_date date_naissance
match birth_date
EOF
cat > acquis.map <<'EOF'
nova-mapping 1
entity acquis
key No
field first_name Prenom
field last_name Nom
field email Mail
field phone Tel
field postcode CP
field birth_date Naissance
match birth_date
EOF
nova-hub mapping set H groupe groupe.map >/dev/null 2>&1 && nova-hub mapping set H acquis acquis.map >/dev/null 2>&1 || not_ok "mappings"

ship
nova-hub export H links > links.csv 2>/dev/null
rcu1=$(grep '^groupe,G1,' links.csv | cut -d, -f3)
check "the person known to both entities has one RCU" grep -q "^acquis,A1,$rcu1," links.csv
check "a shared family mailbox does not merge a household" sh -c '[ "$(grep "^groupe,G4," links.csv | cut -d, -f3)" != "$(grep "^groupe,G5," links.csv | cut -d, -f3)" ]'

# access and portability
check "an access request produces one document from every entity" sh -c 'nova-hub gdpr request H access --email helene.lefevre@example.fr --out access.json >/dev/null 2>&1 && grep -q "\"entity\": \"groupe\"" access.json && grep -q "\"entity\": \"acquis\"" access.json'
check "the access document is private (0600)" sh -c '[ "$(stat -c %a access.json)" = 600 ]'
check "the access is in the access log, without personal data" sh -c 'nova-hub accesslog H | grep -q "gdpr access request" && ! grep -qi "lefevre" H/accesslog.ndjson'

# unknown and ambiguous subjects
check "an unknown subject is recorded and answered as such" sh -c 'nova-hub gdpr request H erase --email nobody@nowhere.example | grep -q "(no-data)"'
expect_status "a subject matching two people asks for a choice" 28 "matches 2 people" nova-hub gdpr request H erase --phone "01 45 00 00 01"
amb=$(nova-hub gdpr list H --json | grep '"status":"ambiguous"' | sed 's/.*"id":"\(REQ-[0-9]*\)".*/\1/')
rcu5=$(grep '^groupe,G5,' links.csv | cut -d, -f3)
check "the DPO chooses one of them" nova-hub gdpr choose H "$amb" "$rcu5"

# the erasure of the person known to both
out=$(nova-hub gdpr request H erase --email Helene.Lefevre@example.fr 2>&1)
req=$(echo "$out" | sed -n 's/^\(REQ-[0-9]*\): erase request registered.*/\1/p')
check "the erasure request gets an id" [ -n "$req" ]
check "one signed order per entity is in the outboxes" sh -c 'ls H/outbox/groupe/*.erasure.nova && ls H/outbox/acquis/*.erasure.nova'
check "the request shows its deadline (one month) and target (10 days)" sh -c "nova-hub gdpr show H $req | grep -q 'deadline  ' && nova-hub gdpr show H $req | grep -q 'target    '"
check "an extension records its reason and when the person was told" nova-hub gdpr extend H "$req" --months 2 --reason "complex request" --told 2026-12-02
back
ship
check "both agents ran their erase hooks" sh -c 'grep -q "G1" hook-groupe.log && grep -q "A1" hook-acquis.log'
check "the request is complete once both receipts are in" sh -c "nova-hub gdpr show H $req | grep -q 'erase, complete'"
nova-hub gdpr show H "$req" > timeline.txt
check "its timeline has every step" sh -c 'grep -q "erasure order sent to groupe" timeline.txt && grep -q "acquis answered: 1 erased" timeline.txt && grep -q "the hub erased its copy (2 records)" timeline.txt && grep -q "deadline extended by 2 month" timeline.txt'
check "it lists the recipients (Art. 19)" grep -q "recipients (Art. 19): acquis groupe" timeline.txt
for s in lefevre Lefèvre LEFEVRE helene.lefevre Helene.Lefevre 0611223344 "06 11 22 33 44" "+33611223344" "+33 6 11 22 33 44"; do
    if grep -rqiF -- "$s" H/; then not_ok "nothing under the hub holds '$s'"; grep -rliF -- "$s" H/ | sed 's/^/# /'; else ok "nothing under the hub holds '$s'"; fi
done

# the person comes back in a later export: suppressed, counted
touch ex-groupe/contacts.csv ex-acquis/clients.csv
ship
check "a later export still holding the person is suppressed" sh -c 'nova-hub status H --json | grep -q "\"suppressed\":1"'
check "and still nothing under the hub holds the person" sh -c '! grep -rqi "lefevre" H/'

# a failed receipt keeps the request open and visible; a retention is recorded
out=$(nova-hub gdpr request H erase --email paul.martin@example.fr 2>&1)
req2=$(echo "$out" | sed -n 's/^\(REQ-[0-9]*\): erase request registered.*/\1/p')
back
ship
check "a failed erasure keeps the request open" sh -c "nova-hub gdpr show H $req2 | grep -q 'erase, open'"
check "with the reason" sh -c "nova-hub gdpr show H $req2 | grep -q 'failed: erase hook exited with status 4'"
check "gdpr list --open shows it" sh -c "nova-hub gdpr list H --open | grep -q '^$req2 '"
out=$(nova-hub gdpr request H erase --email marc.dubois@example.fr 2>&1)
req3=$(echo "$out" | sed -n 's/^\(REQ-[0-9]*\): erase request registered.*/\1/p')
back
ship
check "a retention is recorded with its legal ground" sh -c "nova-hub gdpr show H $req3 | grep -q 'retained: invoice retained 10 years'"
check "and the request completes" sh -c "nova-hub gdpr show H $req3 | grep -q 'erase, complete'"

# objection and restriction: marketing exports leave the person out, and
# an objection survives a re-import
check "an objection is registered, open until the entities answer" sh -c 'nova-hub gdpr request H object --record groupe:G4 | grep -q "(open)"'
check "a restriction is registered" sh -c 'nova-hub gdpr request H restrict --record groupe:G3 | grep -q "(open)"'
objr=$(nova-hub gdpr list H --json | grep '"kind":"object"' | sed 's/.*"id":"\(REQ-[0-9]*\)".*/\1/')
back
ship
check "the objection completes once the entity's receipt is in" sh -c "nova-hub gdpr show H $objr | grep -q 'object, complete' && nova-hub gdpr show H $objr | grep -q 'groupe *delivered'"
nova-hub export H records > all.ndjson 2>/dev/null
nova-hub export H records --marketing > mk.ndjson 2>mk.err
check "a marketing export leaves out who objected or restricted processing" sh -c 'grep -q "\"key\":\"G4\"" all.ndjson && grep -q "\"key\":\"A3\"" all.ndjson && ! grep -q "\"key\":\"G4\"" mk.ndjson && ! grep -q "\"key\":\"G3\"" mk.ndjson && ! grep -q "\"key\":\"A3\"" mk.ndjson'
check "and says how many it left out" sh -c 'grep -q "record(s) left out: no explicit marketing consent" mk.err && grep -q "marketing: 0 people with an explicit yes" mk.err'
check "the ledger verifies the whole trail" nova-audit verify H/ledger --keys H/keys/identity.pub --keys groupe/keys/identity.pub --keys acquis/keys/identity.pub
check "the suppression key is private (0600)" sh -c '[ "$(stat -c %a H/keys/suppress.key)" = 600 ]'
done_testing
