#!/bin/sh
# tests/bench/agent.sh - the agent's diff on a 450,000-row export (issue 3):
# diff throughput, bundle bytes for a 1% change beside what rsync transfers
# for the same change of the same file, and the agent's peak memory.
# Run by `make bench`; BENCH_ROWS changes the size.
set -eu
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PATH="$ROOT/$BUILD:$PATH"
ROWS=${BENCH_ROWS:-450000}
W=$(mktemp -d "${TMPDIR:-/tmp}/nova-bench-agent.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
for t in rsync awk /usr/bin/time; do
    command -v $t >/dev/null || { echo "bench: $t is missing" >&2; exit 1; }
done

gen() { # gen FILE SALT: ROWS realistic rows; SALT changes 1% of them
    awk -v n="$ROWS" -v salt="$2" 'BEGIN {
        split("Marie Jean Pierre Hélène Loïc Zoé François Anaïs Noël Thérèse Élodie Mathéo Inès Gaëlle Jérôme", pn, " ")
        split("Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefèvre Michel Garcia", nn, " ")
        split("Paris Lyon Marseille Toulouse Nice Nantes Strasbourg Montpellier Bordeaux Lille Rennes Reims", vn, " ")
        print "id;civilite;prenom;nom;email;telephone;adresse;code_postal;ville;date_naissance;optin;maj"
        for (i = 1; i <= n; i++) {
            p = pn[i % 15 + 1]; m = nn[int(i / 15) % 15 + 1]; v = vn[i % 12 + 1]
            ch = (salt != "" && i % 100 == 37) ? salt : ""
            printf "C%07d;%s;%s;%s%s;%s.%s%d@example.fr;06 %02d %02d %02d %02d;%d rue de la République;%05d;%s;19%02d-%02d-%02d;%d;2026-11-%02dT10:00:00Z\n",
                i, (i % 2 ? "Mme" : "M."), p, m, ch, tolower(p), tolower(m), i, i % 100, (i / 7) % 100, (i / 11) % 100, (i / 13) % 100,
                i % 200 + 1, (i * 7) % 95000 + 1000, v, 40 + i % 60, i % 12 + 1, i % 28 + 1, i % 2, i % 28 + 1
        }
    }' > "$1"
}

nova-hub init H >/dev/null
nova-agent init A --entity acme >/dev/null
nova-hub enroll H A/keys/identity.pub >/dev/null
nova-agent trust A H/keys/identity.pub >/dev/null
cat > acme.map <<'MAP'
nova-mapping 1
entity acme
key id
field title civilite
field first_name prenom
field last_name nom
field email email
field phone telephone
field address adresse
field postcode code_postal
field city ville
field birth_date date_naissance
field consent optin
field updated_at maj
inverse email email
MAP
nova-hub mapping set H acme acme.map >/dev/null
mkdir exports
printf 'entity = acme\nsettle = 0\nbundle_cap = 1G\n[source contacts]\ndir = %s/exports\nkey = id\ndelimiter = ;\n' "$W" > A/agent.conf

gen v1.csv ""
gen v2.csv "-X"
size=$(stat -c %s v1.csv)
mb=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }')

cp v1.csv exports/contacts.csv
/usr/bin/time -f '%e %M' -o t1 nova-agent scan A --json > s1.json 2>/dev/null
first_bytes=$(stat -c %s A/outbox/*.nova | awk '{ s += $1 } END { print s }')
# the hub's ingest of those 450,000 records: verify, decrypt, map,
# normalise, store, ledger
mv A/outbox/*.nova H/inbox/
NOVA_LOG=debug /usr/bin/time -f '%e %M' -o th nova-hub ingest H > ingest.txt 2> ingest.err
# the identity-resolution step of that ingest (issue 5), from the debug log
el=$(sed -n 's/.*link: .* store \([0-9.]*\) s, candidates \([0-9.]*\) s, match_batch \([0-9.]*\) s .* RCUs \([0-9.]*\) s.*/\1 \2 \3 \4/p' ingest.err |
    awk '{ s += $1 + $2 + $3 + $4 } END { printf "%.2f", s + 0 }')

cp v2.csv exports/contacts.csv
/usr/bin/time -f '%e %M' -o t2 nova-agent scan A --json > s2.json 2>/dev/null
changes=$(sed 's/.*"upserts":\([0-9]*\).*/\1/' s2.json)
bundle_bytes=$(stat -c %s A/outbox/*.nova | awk '{ s += $1 } END { print s }')

touch exports/contacts.csv
/usr/bin/time -f '%e %M' -o t3 nova-agent scan A --json > s3.json 2>/dev/null

mkdir dest && cp v1.csv dest/contacts.csv
rsync --stats --no-whole-file v2.csv dest/contacts.csv > rs.txt
lit=$(sed -n 's/^Literal data: \([0-9,]*\).*/\1/p' rs.txt | tr -d ,)
mat=$(sed -n 's/^Matched data: \([0-9,]*\).*/\1/p' rs.txt | tr -d ,)
sent=$(sed -n 's/^Total bytes sent: \([0-9,]*\).*/\1/p' rs.txt | tr -d ,)
zs=$(zstd -3 -q -c v2.csv | wc -c)

read e1 m1 < t1; read e2 m2 < t2; read e3 m3 < t3; read eh mh < th
awk -v rows="$ROWS" -v mb="$mb" -v e1="$e1" -v m1="$m1" -v e2="$e2" -v m2="$m2" \
    -v e3="$e3" -v m3="$m3" -v ch="$changes" -v bb="$bundle_bytes" -v fb="$first_bytes" \
    -v lit="$lit" -v mat="$mat" -v sent="$sent" -v zs="$zs" -v eh="$eh" -v mh="$mh" -v el="$el" 'BEGIN {
    printf "\nagent diff on a %d-row export (%s MB, %d columns)\n", rows, mb, 12
    printf "  %-44s %8s %10s %12s\n", "operation", "seconds", "MB/s", "peak RSS MiB"
    printf "  %-44s %8.2f %10.1f %12.1f\n", "first scan: every row shipped", e1, mb / (e1 > 0 ? e1 : 0.01), m1 / 1024
    printf "  %-44s %8.2f %10.1f %12.1f\n", "scan after a 1% change (diff + seal)", e2, mb / (e2 > 0 ? e2 : 0.01), m2 / 1024
    printf "  %-44s %8.2f %10.1f %12.1f\n", "scan of the same file touched (no change)", e3, mb / (e3 > 0 ? e3 : 0.01), m3 / 1024
    printf "  %-44s %8.2f %10.1f %12.1f\n", "hub ingest (map, normalise, store)", eh, mb / (eh > 0 ? eh : 0.01), mh / 1024
    printf "\n1%% change: %d changes shipped\n", ch
    printf "  nova bundle (signed, encrypted, zstd):   %10d bytes\n", bb
    printf "  rsync --stats literal data:              %10d bytes (matched data %d, total sent %d)\n", lit, mat, sent
    printf "  zstd -3 of the whole new export:         %10d bytes (first full shipment: %d)\n", zs, fb
    printf "\nbench: agent diff %.1f MB/s on %d rows; 1%% change = %d bytes vs rsync %d bytes sent (%.2fx); peak RSS %.1f MiB\n",
        mb / (e2 > 0 ? e2 : 0.01), rows, bb, sent, sent / bb, (m1 > m2 ? m1 : m2) / 1024
    printf "bench: hub ingest %.0f records/s (%d records: verify, decrypt, map, normalise, store in LMDB, ledger commit, %.1f s of it matching); without the matching step %.0f records/s; hub peak RSS %.1f MiB\n",
        rows / (eh > 0 ? eh : 0.01), rows, el, rows / (eh - el > 0 ? eh - el : 0.01), mh / 1024
}'
