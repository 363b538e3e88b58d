#!/bin/sh
# The FEBRL4 record-linkage benchmark through the real hub: dataset4a and
# dataset4b as two entities' CRM exports, through two agents, ingested and
# evaluated (tests/tools/febrl-hub.sh); then FEBRL3 as one entity's export
# deduplicated.  With the hub's fixed thresholds and
# no label, every automatic link is right, nearly every true pair is
# linked, and the twins test finds that FEBRL's replaced first names and
# ids are clerical errors (the rule is lifted).  FEBRL's 64 impossible
# birth dates (month 13, 31 February) cost their records nothing.
. "$(dirname "$0")/lib.sh"

F=$NOVA_SHARED/data/febrl
if [ ! -f "$F/dataset4a.csv" ]; then
    not_ok "the FEBRL data is in $F"
    done_testing
fi
sh "$NOVA_ROOT/tests/tools/febrl-hub.sh" "$F" "$T/w" > out.txt 2> err.txt
check "the scenario runs" [ $? -eq 0 ]
check "every record of both files is stored" grep -q "^records *10000 on both sides (links only 0, truth only 0)" out.txt
check "bad birth dates are left out, their records kept" grep -q "64 value(s) that did not parse left out of matching" out.txt
p=$(sed -n 's/^precision *//p' out.txt)
r=$(sed -n 's/^recall *//p' out.txt)
note "FEBRL4 through the hub: precision $p, recall $r"
check "precision 1.0000: no wrong link" [ "$p" = "1.0000" ]
check "recall at least 0.99" awk -v r="$r" 'BEGIN { exit !(r >= 0.99) }'
check "the twins test lifts the twins rule" grep -q "^twins rule: lifted" out.txt
check "the review queue holds under 1% of the records" awk '/^review/ { exit !($2 < 100) }' out.txt

# FEBRL3: one entity's duplicates, found inside it
sh "$NOVA_ROOT/tests/tools/febrl-hub.sh" "$F" "$T/w3" dedup > out3.txt 2> err3.txt
check "the FEBRL3 scenario runs" [ $? -eq 0 ]
check "every FEBRL3 record is stored" grep -q "^records *5000 on both sides (links only 0, truth only 0)" out3.txt
p=$(sed -n 's/^precision *//p' out3.txt)
r=$(sed -n 's/^recall *//p' out3.txt)
note "FEBRL3 through the hub: precision $p, recall $r"
check "FEBRL3: precision 1.0000 in the auto-link band" [ "$p" = "1.0000" ]
check "FEBRL3: recall at least 0.97" awk -v r="$r" 'BEGIN { exit !(r >= 0.97) }'
done_testing
