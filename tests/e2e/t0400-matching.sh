#!/bin/sh
# Identity resolution through the real hub: the generator's two French CRM
# exports go through two agents; every record gets an RCU; `eval` scores
# the links against the generator's truth; the same data in one bundle or
# in several bundles gives the same clusters (incremental = batch); a review
# decision changes the clusters (accept merges with an alias that still
# resolves, reject keeps apart) and the weights; explain says why.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

gencrm --seed 7 --base 2000 --acquired 1000 --overlap 0.3 --profile realistic --out gen 2>/dev/null ||
    { not_ok "the generator runs"; done_testing; }

# hub DIR NBUNDLES [MODEL [base-first]]: a hub fed with the two exports, each
# cut in NBUNDLES, with the weights of MODEL (frozen) when given; all bundles
# in one ingest, or with base-first the base's, then the acquired entity's
hub() {
    d=$1 parts=$2 model=${3:-} order=${4:-}
    mkdir -p $d && cd $d || return 1
    nova-hub init H >/dev/null
    for e in groupe acquis; do
        nova-agent init $e --entity $e >/dev/null
        nova-hub enroll H $e/keys/identity.pub >/dev/null
        nova-agent trust $e H/keys/identity.pub >/dev/null
        mkdir -p ex-$e
    done
    printf 'entity = groupe\nsettle = 0\n[source contacts]\ndir = %s/ex-groupe\nkey = id_client\nmode = delta\n' "$PWD" > groupe/agent.conf
    printf 'entity = acquis\nsettle = 0\n[source contacts]\ndir = %s/ex-acquis\nkey = CustomerNo\nencoding = windows-1252\ndelimiter = ;\nmode = delta\n' "$PWD" > acquis/agent.conf
    printf 'nova-mapping 1\nentity groupe\nkey id_client\nfield title civilite\nfield first_name prenom\nfield last_name nom\nfield birth_name nom_naissance\nfield email email\nfield phone mobile telephone\nfield address adresse\nfield postcode code_postal\nfield city ville\nfield country pays\nfield birth_date date_naissance\nfield consent optin_email\nfield updated_at date_maj\nmatch birth_date\n' > groupe.map
    printf 'nova-mapping 1\nentity acquis\nkey CustomerNo\nfield title Title\nfield first_name FirstName\nfield last_name LastName\nfield email E-mail\nfield phone Phone\nfield address Street\nfield postcode ZIP\nfield city Town\nfield country Country\nfield birth_date BirthDate\nfield consent Newsletter\nfield updated_at LastModified\nmatch birth_date\n' > acquis.map
    nova-hub mapping set H groupe groupe.map >/dev/null 2>&1
    nova-hub mapping set H acquis acquis.map >/dev/null 2>&1
    [ -n "$model" ] && nova-hub model H import "$model" >/dev/null
    for e in groupe acquis; do
        f=$T/gen/base.csv; [ $e = acquis ] && f=$T/gen/acquired.csv
        rows=$(($(wc -l < "$f") - 1))
        per=$(((rows + parts - 1) / parts))
        k=0
        while [ $k -lt $parts ]; do
            { head -1 "$f"; tail -n +2 "$f" | tail -n +$((k * per + 1)) | head -n $per; } > ex-$e/part$k.csv
            nova-agent scan $e >/dev/null 2>&1
            k=$((k + 1))
        done
    done
    if [ "$order" = base-first ]; then
        for e in groupe acquis; do
            mv $e/outbox/*.nova H/inbox/
            nova-hub ingest H >> ingest.txt 2>&1
        done
    else
        mv groupe/outbox/*.nova acquis/outbox/*.nova H/inbox/
        nova-hub ingest H > ingest.txt 2>&1
    fi
    cd "$T"
}

# weights learnt once, then used frozen by both hubs: the clusters must
# not depend on how the data was cut into bundles
hub learnt 1
nova-hub model learnt/H export model.json >/dev/null
check "the weights can be exported" grep -q nova_match_model model.json
check "status says when the weights were fitted" sh -c 'nova-hub status learnt/H | grep -q "^weights: fitted by EM when the store held [0-9]* records (it has 3000); the next automatic fit comes at"'
check "model show says it too" sh -c 'nova-hub model learnt/H show | grep -q "^weights: fitted by EM when the store held"'
check "status --json gives the fit state" sh -c 'nova-hub status learnt/H --json | grep -q "\"weights\":{\"fitted_at\":[0-9]*,\"records\":3000,\"frozen\":false"'
hub one 1 "$T/model.json"
hub many 4 "$T/model.json"
check "imported weights are frozen, and status says so" sh -c 'nova-hub status one/H | grep -q "^weights: frozen"'
check "every record gets an RCU" sh -c '[ "$(nova-hub export one/H links 2>/dev/null | wc -l)" = 3001 ]'
nova-hub eval one/H gen/truth.csv > eval.txt
note "$(tr '\n' ' ' < eval.txt)"
p=$(sed -n 's/^precision *//p' eval.txt)
rc=$(sed -n 's/^recall *//p' eval.txt)
check "precision on the French CRM scenario is at least 0.99" awk -v p="$p" 'BEGIN { exit !(p >= 0.99) }'
check "recall on the French CRM scenario is at least 0.90" awk -v r="$rc" 'BEGIN { exit !(r >= 0.90) }'
# the same partition, whatever the RCU names: compare "which records are together"
part() { nova-hub export "$1" links 2>/dev/null | tail -n +2 | sort -t, -k3,3 -k1,2 |
    awk -F, '{ if ($3 != last) { if (line != "") print line; line = $1 ":" $2; last = $3 } else line = line " " $1 ":" $2 } END { print line }' | sort; }
part one/H > p1.txt
part many/H > p4.txt
# term frequencies are counted as records arrive, so a pair a fraction of
# a bit from the link threshold may be decided otherwise when the data come
# in other cuts: the partitions may differ by such a pair or two, no more
moved=$(diff p1.txt p4.txt | grep -c '^[<>]')
note "clusters that differ between one bundle and eight: $moved (of $(wc -l < p1.txt))"
check "the same weights give the same clusters in one bundle or in eight (incremental = batch, but for pairs at the threshold)" [ "$moved" -le 6 ]

# review decisions
H=one/H
nova-hub review $H list --json --limit 1000 > rev.json
n0=$(grep -c . rev.json)
check "uncertain pairs are in the review queue with each field's level and weight" sh -c 'head -1 rev.json | grep -q "\"level\":" && head -1 rev.json | grep -q "\"weight\":"'
id1=$(sed -n '1s/^{"id":"\([0-9]*-[0-9]*\)".*/\1/p' rev.json)
id2=$(sed -n '2s/^{"id":"\([0-9]*-[0-9]*\)".*/\1/p' rev.json)
a1=$(sed -n '1s/^{"id":"[^"]*","a":"\([^"]*\)".*/\1/p' rev.json)
b1=$(sed -n '1s/^{"id":"[^"]*","a":"[^"]*","b":"\([^"]*\)".*/\1/p' rev.json)
rcu_of() { nova-hub export $H links 2>/dev/null | grep "^${1%%:*},${1#*:}," | cut -d, -f3; }
ra=$(rcu_of "$a1"); rb=$(rcu_of "$b1")
check "before the decision the two records are apart" [ "$ra" != "$rb" ]
nova-hub learn $H > before.txt 2>&1
check "accept merges the two records' clusters" nova-hub review $H accept "$id1" --by tester
check "now they share one RCU" [ "$(rcu_of "$a1")" = "$(rcu_of "$b1")" ]
old=$ra; [ "$(rcu_of "$a1")" = "$ra" ] && old=$rb
check "the merged RCU is an alias that still resolves" sh -c "nova-hub explain $H $old | grep -q 'was merged into'"
check "the queue shrank" [ "$(nova-hub review $H list --json --limit 1000 | grep -c .)" -lt "$n0" ]
check "reject keeps the other pair apart" nova-hub review $H reject "$id2" --by tester
expect_status "a decided pair cannot be decided again" 29 "no open review pair" nova-hub review $H accept "$id2"
nova-hub learn $H > after.txt 2>&1
check "the decisions are labels the weights learn from" grep -q "1 accepted and 1 rejected decisions learnt" after.txt
check "explain gives every pair's fields, levels and weights" sh -c "nova-hub explain $H '$a1' | grep -q 'score'"
a2=$(sed -n '2s/^{"id":"[^"]*","a":"\([^"]*\)".*/\1/p' rev.json)
b2=$(sed -n '2s/^{"id":"[^"]*","a":"[^"]*","b":"\([^"]*\)".*/\1/p' rev.json)
nova-hub explain $H "$a2" "$b2" > pair2.txt 2>&1
check "explain of two records gives their pair, linked or not" grep -q '^pair .* score' pair2.txt
check "... and says the rejected pair's records are in two RCUs" grep -q '^the records are in two RCUs' pair2.txt
check "... and where the score stands against the thresholds" grep -q '^this score is .*(link from' pair2.txt
check "explain of an accepted pair says they share an RCU" sh -c "nova-hub explain $H '$a1' '$b1' | grep -q '^both records are in RCU'"
check "explain of a pair gives JSON too" sh -c "nova-hub explain $H '$a1' '$b1' --json | grep -q '\"same_rcu\":true'"
expect_status "explain of a pair wants ENTITY:KEY twice" 2 "not ENTITY:KEY" nova-hub explain $H "$a1" R000000000000
check "each record of an explained pair is in the access log, as a keyed hash" sh -c "[ \$(nova-hub accesslog $H | grep -c 'explain .*:#') -ge 4 ]"
check "explain and review are in the access log" sh -c "nova-hub accesslog $H | grep -q 'explain' && nova-hub accesslog $H | grep -q 'review list'"
expect_status "explain of an unknown RCU is refused" 29 "no RCU" nova-hub explain $H R000000000000
# an acquisition's first bundle refits the weights: the base's 2000 records
# first (fitted at 2000), then the acquired entity's 1000 (the store does
# not double, but the entity is new)
hub join 1 "" base-first
check "the acquired entity's first bundle refits the weights" sh -c 'nova-hub status join/H | grep -q "^weights: fitted by EM when the store held 3000 records (it has 3000)"'
done_testing
