#!/bin/sh
# The FEBRL4 record-linkage benchmark through the real hub: dataset4a and
# dataset4b as two entities' CRM exports, through two agents, ingested and
# evaluated (tests/tools/febrl-hub.sh); then FEBRL3 as one entity's export
# deduplicated.  With the hub's fixed thresholds and no label, every
# automatic link is right, nearly every true pair is linked, and the twins
# test finds that FEBRL's replaced first names and ids are clerical errors
# (the rule is lifted).  FEBRL's 64 impossible birth dates (month 13,
# 31 February) cost their records nothing.
. "$(dirname "$0")/lib.sh"

F=$NOVA_SHARED/data/febrl
if [ ! -f "$F/dataset4a.csv" ]; then
    not_ok "the FEBRL data is in $F"
    done_testing
fi

# febrl NAME MODE RECORDS MIN_RECALL: run the scenario into NAME.txt; check
# that it runs, stores every record, links nothing wrong and links at least
# MIN_RECALL of the true pairs
febrl() {
    sh "$NOVA_ROOT/tests/tools/febrl-hub.sh" "$F" "$T/$1" "$2" > $1.txt 2> $1.err
    check "$1: the scenario runs" [ $? -eq 0 ]
    check "$1: every record is stored" grep -q "^records *$3 on both sides (links only 0, truth only 0)" $1.txt
    p=$(sed -n 's/^precision *//p' $1.txt)
    r=$(sed -n 's/^recall *//p' $1.txt)
    note "$1 through the hub: precision $p, recall $r"
    check "$1: precision 1.0000, no wrong link" [ "$p" = "1.0000" ]
    check "$1: recall at least $4" awk -v r="$r" -v min="$4" 'BEGIN { exit !(r >= min) }'
}

febrl febrl4 link 10000 0.99
check "febrl4: bad birth dates are left out, their records kept" grep -q "64 value(s) that did not parse left out of matching" febrl4.txt
check "febrl4: the twins test lifts the twins rule" grep -q "^twins rule: lifted" febrl4.txt
check "febrl4: the review queue holds under 1% of the records" awk '/^review/ { exit !($2 < 100) }' febrl4.txt

# FEBRL3: one entity's duplicates, found inside it
febrl febrl3 dedup 5000 0.97
done_testing
