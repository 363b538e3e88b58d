#!/bin/sh
# Segments end to end: two entities (MediaPulse, a publisher; EventClick, an
# events company) ship their exports; typed extension fields are normalised
# at ingest; the README's segment (a publication in MediaPulse and an event
# in the last six months in EventClick) is refused when bad, versioned, and
# run: the person who qualifies is printed with their golden contact fields,
# the one without consent, the one who refused, the one who objected are
# left out and counted, the one whose event is seven months old is not
# selected; count gives the size; every run is in the access log.
. "$(dirname "$0")/lib.sh"
D=$NOVA_ROOT/tests/data/segment
# "today" is 2026-06-15 (12:00 UTC): six months back is 2025-12-15
NOVA_NOW=1781524800
export NOVA_NOW

nova-hub init H >/dev/null || not_ok "hub init"
for e in mediapulse eventclick; do
    nova-agent init $e --entity $e >/dev/null &&
    nova-hub enroll H $e/keys/identity.pub >/dev/null &&
    nova-agent trust $e H/keys/identity.pub >/dev/null &&
    mkdir -p ex-$e && cp "$D/$e.csv" ex-$e/ || not_ok "setup $e"
done
printf 'entity = mediapulse\nsettle = 0\n[source abonnes]\ndir = %s/ex-mediapulse\npattern = *.csv\nkey = id\ndelimiter = ;\n' "$T" > mediapulse/agent.conf
printf 'entity = eventclick\nsettle = 0\n[source inscrits]\ndir = %s/ex-eventclick\npattern = *.csv\nkey = ref\n' "$T" > eventclick/agent.conf

# mapping suggest proposes the event date as a typed extension field, not updated_at
nova-hub mapping suggest eventclick "$D/eventclick.csv" > suggested.map 2>/dev/null
check "mapping suggest types the event date from its values" grep -q '^ext .*"Date événement" date' suggested.map
check "mapping suggest does not take the event date for updated_at" sh -c '! grep -q "^field updated_at" suggested.map'

check "mediapulse's mapping is set" nova-hub mapping set H mediapulse "$D/mediapulse.map"
check "eventclick's mapping (typed extension fields) is set" nova-hub mapping set H eventclick "$D/eventclick.map"
for e in mediapulse eventclick; do
    nova-agent scan $e >/dev/null 2>&1
    for b in $e/outbox/*.nova; do [ -e "$b" ] && mv "$b" H/inbox/; done
done
check "both exports are ingested" nova-hub ingest H

nova-hub export H records --entity eventclick > ec.ndjson 2>/dev/null
check "a typed date is normalised at ingest (10/04/2026)" grep -q '"event_date":"2026-04-10"' ec.ndjson
check "a typed number is normalised at ingest" grep -q '"places":"2"' ec.ndjson
check "a date that does not parse is left out of the extension fields" sh -c 'grep "\"key\":\"E10\"" ec.ndjson | grep -vq "\"event_date\""'
check "and kept as sent" sh -c 'grep "\"key\":\"E10\"" ec.ndjson | grep -q "pas encore"'
nova-hub status H --json > status.json 2>/dev/null
check "and counted in status" grep -q 'extension event_date' status.json

# a person who objects to marketing
nova-hub gdpr request H object --email denis.roux@example.fr >/dev/null 2>&1 || not_ok "objection"

# bad segments are refused with their line
printf 'nova-segment 1\nmediapulse.publication is not empty\nand eventclick.event_date within last 6 weeks\n' > bad1.segment
expect_status "a bad unit is refused with its line" 10 "segment line 3: 'within N' takes days or months" nova-hub segment H set bad bad1.segment
printf 'nova-segment 1\nmediapulse.publication is not empty\nand nosuch.event_date within last 6 months\n' > bad2.segment
expect_status "an entity without a mapping is refused with its line" 10 "segment line 3: entity 'nosuch' has no mapping" nova-hub segment H set bad bad2.segment
printf 'nova-segment 1\nmediapulse.publication within last 6 months\n' > bad3.segment
expect_status "a date condition on a text field is refused" 10 "segment line 2: mediapulse.publication is not a date field" nova-hub segment H set bad bad3.segment
printf 'nova-segment 1\n(mediapulse.publication is not empty\n' > bad4.segment
expect_status "an unclosed parenthesis is refused" 10 "segment line 2: '\\)' expected" nova-hub segment H set bad bad4.segment
expect_status "a refused segment is not committed" 29 "no segment 'bad'" nova-hub segment H show bad

check "the README's segment is set" nova-hub segment H set business-events "$D/business-events.segment" --author "Ana <ana@group.example>" --message "business readers at events"
check "it is in the mapping repository" sh -c 'git --git-dir H/mappings log --format=%s | grep -q "business readers at events"'
nova-hub segment H show business-events > shown.segment 2>/dev/null
same "segment show gives it back" shown.segment "$D/business-events.segment"

nova-hub segment H run business-events --format csv --why "campaign Q3" > run.csv 2> run.err
check "run exits 0" test -s run.csv
check "the CSV has the RCU and the golden contact fields" sh -c 'head -1 run.csv | grep -q "^rcu_id,first_name,last_name,email,phone,postcode,city"'
check "the person who qualifies is in it" grep -q 'alice.martin@example.fr' run.csv
check "an event exactly six months ago qualifies" grep -q 'helene.faure@example.fr' run.csv
check "two people and the header" sh -c '[ "$(wc -l < run.csv)" -eq 3 ]'
check "the one without consent is left out" sh -c '! grep -q carla run.csv'
check "the one who refused consent is left out" sh -c '! grep -q bruno run.csv'
check "the one who objected is left out" sh -c '! grep -q denis run.csv'
check "the one whose event is seven months old is not selected" sh -c '! grep -q emma run.csv'
check "one without a publication, one without an event are not selected" sh -c '! grep -Eq "ivan|farid|gilles" run.csv'
check "stderr says how many were left out and why" grep -q '5 of 9 people selected, 2 kept; 3 left out: 1 without marketing consent, 1 who refused it, 0 restricted, 1 objected, 0 suppressed' run.err
check "stderr gives the records scanned per second" grep -q 'records scanned in' run.err
alice=$(grep alice.martin run.csv | cut -d, -f1)
check "the RCU is the person's" sh -c "nova-hub export H links 2>/dev/null | grep -q '^mediapulse,MP1,$alice,'"

nova-hub segment H run business-events > run.ndjson 2>/dev/null
check "ndjson: one line per person" sh -c "[ \$(wc -l < run.ndjson) -eq 2 ] && grep -q '\"rcu\":\"$alice\"' run.ndjson"
nova-hub segment H run business-events --format csv --fields email,first_name > f.csv 2>/dev/null
check "--fields chooses the golden fields" sh -c 'head -1 f.csv | grep -qx "rcu_id,email,first_name"'
expect_status "--fields refuses a field that is not golden" 2 "not a field of golden records" nova-hub segment H run business-events --fields updated_at

check "count gives the size" sh -c '[ "$(nova-hub segment H count business-events 2>/dev/null)" = 2 ]'
check "count --json says why people were left out" sh -c 'nova-hub segment H count business-events --json 2>/dev/null | grep -q "\"count\":2,.*\"objected\":1"'
check "count prints no personal data" sh -c '! nova-hub segment H count business-events 2>&1 | grep -qi "martin\|@"'
check "every run is in the access log" sh -c '[ "$(grep -c "\"what\":\"segment \(run\|count\) business-events" H/accesslog.ndjson)" -ge 5 ] && grep -q "campaign Q3" H/accesslog.ndjson'

# other conditions: or, not, counts, in, starts with, between, any entity
# seg NAME CONDITION WANT DESC: set the segment, count the people it selects
seg() {
    printf 'nova-segment 1\n%s\n' "$2" > "$1.segment"
    nova-hub segment H set "$1" "$1.segment" >"$T/.err" 2>&1 || { not_ok "$4 (set: $(cat "$T/.err"))"; return; }
    got=$(nova-hub segment H count "$1" --json 2>/dev/null | sed 's/.*"selected":\([0-9]*\).*/\1/')
    if [ "$got" = "$3" ]; then ok "$4"; else not_ok "$4 (selected $got, want $3)"; fi
}
seg s1 "eventclick has a record and not mediapulse has a record" 1 "not, and has a record"
seg s2 "eventclick has at least 2 records" 1 "at least N records"
seg s3 'mediapulse.publication in ("business hebdo", DECIDEURS) and *.last_name starts with "ma"' 1 "in (...) and starts with, folded"
seg s4 "eventclick.event_date between 2025-11-01 and 2025-11-30 or eventclick.event_date between 2026-06-02 and 2026-06-02" 2 "between two dates, or"
seg s5 'eventclick has a record where (event = "forum rh" and event_date within 6 months)' 2 "a record condition holds on one record"
seg s6 '*.phone = "06 10 00 00 01"' 1 "a common field with =, normalised (a phone)"
seg s7 '(mediapulse.consent = oui or eventclick.places = "3,0") and not (*.postcode starts with 75)' 5 "parentheses, yes/no and numbers compared normalised"
check "segment log lists the versions" sh -c 'nova-hub segment H log business-events | grep -q "business readers at events"'
printf 'nova-segment 1\nmediapulse.publication = "Business Hebdo"\nand eventclick.event_date within last 6 months\n' > v2.segment
nova-hub segment H set business-events v2.segment >/dev/null 2>&1
check "segment diff shows the change" sh -c 'nova-hub segment H diff business-events | grep -q "^+mediapulse.publication = \"Business Hebdo\""'
done_testing
