#!/bin/sh
# GDPR receipts that tell the truth and a register that can be worked
# (issue 14): an erasure without a hook is handed-off, not done, until a
# later full export proves the key gone (then erased) or still holds it
# after erase_confirm_days (then failed); a failed hook's last stderr lines
# reach the register scrubbed of personal data, and gdpr retry completes
# it; a rectification no entity can take is "nothing sent", never complete;
# restrictions wait for receipts; close, --late, --overdue, --ref, bulk
# lines with their ids and merging, GDPR counts in status --json; no record
# key survives an erasure in the receipts, received acks or the access log.
. "$(dirname "$0")/lib.sh"

setup_two || { not_ok "setup"; done_testing; }
cat > hook-acquis.sh <<HOOK
#!/bin/sh
if [ -e "$T/crm-down" ]; then
    echo "connecting to crm.acquis.example" >&2
    echo "CRM API error 503 for \$NOVA_RECORD_KEY (helene.lefevre@example.fr, tel 06 11 22 33 44)" >&2
    echo "giving up after 3 tries" >&2
    exit 1
fi
exit 0
HOOK
chmod +x hook-acquis.sh
printf 'entity = groupe\nsettle = 0\n[source contacts]\ndir = %s/ex-groupe\nkey = id\n' "$T" > groupe/agent.conf
printf 'entity = acquis\nsettle = 0\nerase_hook = %s/hook-acquis.sh\n[source clients]\ndir = %s/ex-acquis\nkey = No\n' "$T" "$T" > acquis/agent.conf
cat > ex-groupe/contacts.csv <<'EOF'
id,prenom,nom,email,telephone,date_naissance
GRP-1001,Hélène,Lefèvre,helene.lefevre@example.fr,06 11 22 33 44,1980-05-17
GRP-1002,Paul,Martin,paul.martin@example.fr,06 99 88 77 66,1969-09-09
GRP-1003,Luc,Petit,luc.petit@example.fr,01 45 00 00 01,1962-12-12
GRP-1004,Julie,Roux,julie.roux@example.fr,06 45 45 45 45,1990-03-03
EOF
cat > ex-acquis/clients.csv <<'EOF'
No,Prenom,Nom,Mail,Tel,Naissance
ACQ-2001,Helene,Lefevre,helene.lefevre@example.fr,+33 6 11 22 33 44,17/05/1980
ACQ-2003,Luc,Petit,luc.petit@example.fr,01 45 00 00 01,12/12/1962
EOF
printf 'nova-mapping 1\nentity groupe\nkey id\nfield first_name prenom\nfield last_name nom\nfield email email\nfield phone telephone\nfield birth_date date_naissance\ninverse email email\nmatch birth_date\n' > groupe.map
printf 'nova-mapping 1\nentity acquis\nkey No\nfield first_name Prenom\nfield last_name Nom\nfield email Mail\nfield phone Tel\nfield birth_date Naissance\nmatch birth_date\n' > acquis.map
nova-hub mapping set H groupe groupe.map >/dev/null 2>&1 && nova-hub mapping set H acquis acquis.map >/dev/null 2>&1 || not_ok "mappings"
ship
reqid() { sed -n 's/^\(REQ-[0-9]*\): .* request registered.*/\1/p'; }

# a read before the erasure: the access log names the record by keyed hash
nova-hub show H groupe:GRP-1001 --why "support ticket" >/dev/null 2>&1
check "the access log names a record by its keyed hash, not its key" sh -c 'grep -q "show groupe:#" H/accesslog.ndjson && ! grep -q "GRP-1001" H/accesslog.ndjson'

# erasure: groupe has no hook (handed to the CRM team), acquis's CRM is down
req=$(nova-hub gdpr request H erase --email helene.lefevre@example.fr --ref TICKET-4711 2>&1 | reqid)
check "the erasure gets an id" [ -n "$req" ]
touch crm-down
back
ship
nova-hub gdpr show H "$req" > show1.txt
check "without a hook the order is handed-off, not erased" grep -Eq "entity +groupe +handed-off +records 1: 1 handed-off" show1.txt
check "the hand-off file is written for the CRM team" sh -c 'grep -q "GRP-1001" groupe/import/nova-erasure-hub-*.csv'
check "a failed hook's last stderr lines are in the register" grep -q "failed: erase hook exited with status 1; its last output: connecting to crm.acquis.example | CRM API error 503 for <key> (<e-mail>, tel <number>) | giving up after 3 tries" show1.txt
check "scrubbed of the key, e-mail and phone" sh -c '! grep -Eq "ACQ-2001|helene|06 11 22" show1.txt && ! nova-hub gdpr show H '"$req"' --json | grep -Eq "helene|06 11 22"'
check "the request stays open" grep -q "erase, open" show1.txt
check "it carries its external reference" grep -q "reference TICKET-4711" show1.txt
check "status --json counts it, failed" sh -c 'nova-hub status H --json | grep -q "\"gdpr\":{\"open\":1,\"open_by_kind\":{\"erase\":1},\"open_by_status\":{\"failed\":1}"'
check "status --json has the nearest deadline" sh -c 'nova-hub status H --json | grep -q "\"nearest_deadline\":\"[0-9-]*\""'

# retry once the CRM is back
rm -f crm-down
expect_status "retry of an entity with nothing failed is refused" 2 "no failed order" nova-hub gdpr retry H "$req" --entity groupe
check "gdpr retry re-sends the failed orders" sh -c "nova-hub gdpr retry H $req --entity acquis | grep -q 'sent again to 1 entity'"
back
ship
nova-hub gdpr show H "$req" > show2.txt
check "the retried order is erased" grep -Eq "entity +acquis +erased +records 1: 1 erased" show2.txt
check "the request is still open: the hand-off is not proven" sh -c 'grep -q "erase, open" show2.txt && grep -q "groupe *handed-off" show2.txt'

# the CRM team erased it: the next full export no longer holds the key
grep -v GRP-1001 ex-groupe/contacts.csv > x && mv x ex-groupe/contacts.csv
ship
nova-hub gdpr show H "$req" > show3.txt
check "the next full export proves it: erased" grep -Eq "entity +groupe +erased +records 1: 1 erased" show3.txt
check "and the request completes" grep -q "erase, complete" show3.txt
check "the timeline tells the whole story" sh -c 'grep -q "groupe answered: 1 handed-off (the request stays open" show3.txt && grep -q "acquis answered: 1 failed" show3.txt && grep -q "retry: the failed orders go to acquis again" show3.txt && grep -q "groupe answered: 1 erased" show3.txt'
for k in GRP-1001 ACQ-2001; do
    if grep -rqaF -- "$k" H/; then not_ok "no file under the hub keeps the record key $k"; grep -rlaF -- "$k" H/ | sed 's/^/# /'; else ok "no file under the hub keeps the record key $k"; fi
done
check "the receipts are kept in received/, by keyed hash" sh -c 'cat H/received/acquis/*/changes-* | grep -q "\"key_hash\""'

# still in the export after erase_confirm_days (0 here): failed, retried
sed -i 's/^settle = 0$/settle = 0\nerase_confirm_days = 0/' groupe/agent.conf
req2=$(nova-hub gdpr request H erase --record groupe:GRP-1002 2>&1 | reqid)
back
touch ex-groupe/contacts.csv
ship
check "a hand-off still in the export after erase_confirm_days is failed" sh -c "nova-hub gdpr show H $req2 | grep -q 'failed: handed to the CRM team 0 day(s) ago and still in the full export of contacts'"
check "and the request stays open" sh -c "nova-hub gdpr show H $req2 | grep -q 'erase, open'"
check "retry hands it off again" nova-hub gdpr retry H "$req2"
back
grep -v GRP-1002 ex-groupe/contacts.csv > x && mv x ex-groupe/contacts.csv
ship
check "then the export proves it" sh -c "nova-hub gdpr show H $req2 | grep -q 'erase, complete'"

# rectification that no entity can take: nothing sent, not complete
req3=$(nova-hub gdpr request H rectify --record groupe:GRP-1003 --set birth_date=1962-12-13 2>&1 | reqid)
nova-hub gdpr show H "$req3" > show4.txt
check "a rectification no mapping takes back is nothing-sent at each entity" sh -c 'grep -Eq "entity +groupe +nothing-sent" show4.txt && grep -Eq "entity +acquis +nothing-sent" show4.txt && grep -q "nothing sent: its mapping maps none of the rectified fields back; the request cannot complete" show4.txt'
check "and the request is not complete" grep -q "rectify, open" show4.txt
check "gdpr close records the DPO's reason" sh -c "nova-hub gdpr close H $req3 --reason 'birth date corrected by hand in both CRMs' | grep -q closed && nova-hub gdpr show H $req3 | grep -q 'closed by the DPO: birth date corrected by hand in both CRMs'"
expect_status "close needs a reason" 2 "reason" nova-hub gdpr close H "$req3"
# a rectification one entity takes: it waits for that entity's receipt
req4=$(nova-hub gdpr request H rectify --record groupe:GRP-1004 --set email=julie@nouveau.example 2>&1 | reqid)
check "a rectification waits for the receipts" sh -c "nova-hub gdpr show H $req4 | grep -q 'rectify, open'"
back
ship
check "the entity's receipt completes it" sh -c "nova-hub gdpr show H $req4 | grep -q 'rectify, complete' && nova-hub gdpr show H $req4 | grep -Eq 'entity +groupe +delivered +records 1: 1 delivered'"

# late (past the 10-day target) and overdue (past the legal deadline)
d15=$(date -u -d '15 days ago' +%Y-%m-%d)
rl=$(nova-hub gdpr request H restrict --record groupe:GRP-1003 --received "$d15" 2>&1 | reqid)
ro=$(nova-hub gdpr request H object --record groupe:GRP-1004 --received 2020-01-01 2>&1 | reqid)
check "--late lists a request past its target" sh -c "nova-hub gdpr list H --late | grep -q '^$rl ' && nova-hub gdpr list H --late | grep -q '^$ro '"
check "--overdue lists only those past the legal deadline" sh -c "nova-hub gdpr list H --overdue | grep -q '^$ro ' && ! nova-hub gdpr list H --overdue | grep -q '^$rl '"
check "list marks them LATE and OVERDUE" sh -c "nova-hub gdpr list H | grep -q '^$rl .*LATE' && nova-hub gdpr list H | grep -q '^$ro .*OVERDUE'"
check "status --json counts them" sh -c 'nova-hub status H --json | grep -q "\"late\":2,\"overdue\":1"'

# bulk intake: one line per input line, the same person merged
printf 'email:luc.petit@example.fr\nphone:01 45 00 00 01\nemail:nobody@nowhere.example\nno subject here\n# a comment\nrecord:acquis:ACQ-2003\n' > subjects.txt
nova-hub gdpr request H object --from subjects.txt > bulk.txt 2>/dev/null
b1=$(sed -n 's/^line 1: \(REQ-[0-9]*\) .*/\1/p' bulk.txt)
check "bulk prints each line with its request id" sh -c "[ -n '$b1' ] && grep -q '^line 3: REQ-[0-9]* (no-data)' bulk.txt && grep -q '^line 4: skipped' bulk.txt"
check "lines resolving to the same person and right are one request" sh -c "grep -q '^line 2: $b1 (open, the same person as an earlier line: merged)' bulk.txt && grep -q '^line 6: $b1 (open, the same person' bulk.txt"
check "bulk counts" grep -q "^2 object request(s) registered; 1 line(s) skipped" bulk.txt
check "the merged lines are in the request's timeline" sh -c "nova-hub gdpr show H $b1 | grep -c 'merged into it' | grep -qx 2"
done_testing
