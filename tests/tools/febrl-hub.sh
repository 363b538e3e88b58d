#!/bin/sh
# tests/tools/febrl-hub.sh - the FEBRL benchmark through the real hub.
#   link:  FEBRL4, dataset4a and dataset4b as the exports of two entities'
#          CRMs (a, b), each through its own agent, ingested a then b
#   dedup: FEBRL3, dataset3 as one entity's export (its duplicates found
#          inside the entity)
# Each entity's mapping: names, street, suburb, postcode, birth date and
# soc_sec_id as person_id, all four as matching criteria; country AU.  Then
# `nova-hub eval` against the truth the rec_ids give (rec-N-org and
# rec-N-dup-K are person N).  Nothing is tuned: the hub's own thresholds
# and weights learnt from the data, with no label.
#
#   sh tests/tools/febrl-hub.sh FEBRL_DIR WORK_DIR [link|dedup]
#
# nova-hub and nova-agent must be on PATH.  Prints the ingest summary, the
# evaluation (nova-hub eval's text) and the twins rule's state; WORK_DIR
# keeps the hub for a look.  The FEBRL CSVs separate fields with ", "; the
# export is written with "," and street_number and address_1 joined into
# one street column, as a CRM export would have them.
set -eu
F=$1
W=$2
MODE=${3:-link}
die() { printf 'febrl-hub: %s\n' "$*" >&2; exit 1; }
case $MODE in
link) ENTITIES="a b" ;;
dedup) ENTITIES="a" ;;
*) die "mode '$MODE': link or dedup" ;;
esac
# src ENTITY: the FEBRL file that entity exports
src() { if [ "$MODE" = link ]; then echo "$F/dataset4$1.csv"; else echo "$F/dataset3.csv"; fi; }
for e in $ENTITIES; do
    [ -f "$(src $e)" ] || die "$(src $e) is missing"
done
mkdir -p "$W"
cd "$W"
nova-hub init H >/dev/null
echo "entity,source_key,person" > truth.csv
for e in $ENTITIES; do
    nova-agent init $e --entity $e >/dev/null
    nova-hub enroll H $e/keys/identity.pub >/dev/null
    nova-agent trust $e H/keys/identity.pub >/dev/null
    mkdir -p ex-$e
    awk -F', ' 'NR == 1 { print "rec_id,given_name,surname,street,address_2,suburb,postcode,state,date_of_birth,soc_sec_id"; next }
        { st = ($4 != "" && $5 != "") ? $4 " " $5 : $4 $5
          print $1 "," $2 "," $3 "," st "," $6 "," $7 "," $8 "," $9 "," $10 "," $11 }' \
        "$(src $e)" > ex-$e/people.csv
    awk -F, -v e=$e 'NR > 1 { split($1, p, "-"); print e "," $1 "," p[2] }' ex-$e/people.csv >> truth.csv
    printf 'entity = %s\nsettle = 0\n[source people]\ndir = %s/ex-%s\nkey = rec_id\n' $e "$PWD" $e > $e/agent.conf
    cat > $e.map <<EOF
nova-mapping 1
entity $e
key rec_id
field first_name given_name
field last_name surname
field address street
field city suburb
field postcode postcode
field birth_date date_of_birth
field person_id soc_sec_id
ignore address_2 state
country AU
match birth_date person_id address city
EOF
    nova-hub mapping set H $e $e.map >/dev/null || die "mapping of $e refused"
    nova-agent scan $e >/dev/null 2>&1 || die "agent $e: scan failed"
done
for e in $ENTITIES; do
    nova-hub ingest H $e/outbox/*.nova || die "ingest of $e failed"
done
nova-hub eval H truth.csv
nova-hub model H show | grep '^twins rule'
