#!/bin/sh
# The dashboard in a real browser: nova-hub dashboard writes one HTML file
# with no network request (no src/href to anything, a Content-Security-
# Policy that forbids it) and no personal data, logs its generation in the
# access log; headless Chromium opens it, takes a screenshot, reports no
# console error, every chart drew SVG marks, and the figures shown equal
# status --json.  The screenshot is kept as build/test-logs/dashboard.png.
. "$(dirname "$0")/lib.sh"
. "$NOVA_ROOT/tests/e2e/ops-setup.sh"

command -v chromium >/dev/null || { not_ok "chromium is not installed (mk/deps.sh test)"; done_testing; }
ops_setup || { not_ok "setup"; done_testing; }
# a week of flows: a bundle a day from groupe, two rejected records
d=1
while [ $d -le 6 ]; do
    export_csv ex-groupe/c.csv 20 "d$d"
    NOVA_NOW=$((NOW + d * 86400)) ship
    d=$((d + 1))
done
printf 'id,prenom,nom,email,ville\nX1,Jean,Valjean,not-an-email,Paris\n' > ex-acquis/d.csv
NOVA_NOW=$((NOW + 6 * 86400)) ship
export NOVA_NOW=$((NOW + 6 * 86400 + 3600))
nova-hub expect H groupe every 1d >/dev/null
nova-hub expect H acquis every 1d >/dev/null

check "nova-hub dashboard writes the file" nova-hub dashboard H --out "$T/dash.html"
check "it is one self-contained file: no src, no link, no url to fetch" sh -c '! grep -Eiq "(src|href)=|url\(|@import|https?:" dash.html'
check "its Content-Security-Policy forbids any request" grep -q "default-src 'none'" dash.html
check "no personal data: no e-mail, name or record key" sh -c '! grep -Eq "@example|Nom[0-9]|Prénom|C0000[0-9]" dash.html'
check "its generation is in the access log" grep -q '"what":"dashboard ' H/accesslog.ndjson
nova-hub status H --json > status.json

B="chromium --headless --no-sandbox --disable-gpu --user-data-dir=$T/chrome --window-size=1280,2000"
$B --screenshot="$T/dash.png" "file://$T/dash.html" > shot.log 2>&1
check "headless Chromium takes a screenshot" sh -c 'head -c 8 dash.png | od -An -c | grep -q "P   N   G"'
mkdir -p "$NOVA_BUILD/test-logs" && cp dash.png "$NOVA_BUILD/test-logs/dashboard.png"
$B --enable-logging=stderr --v=0 --dump-dom "file://$T/dash.html" > dom.html 2> console.log
check "the page ran and was dumped" grep -q 'data-charts="' dom.html
check "no console message (an error, or a chart without marks)" sh -c '! grep -q "CONSOLE" console.log'
nch=$(sed -n 's/.*<body[^>]*data-charts="\([0-9]*\)".*/\1/p' dom.html)
check "the page has its charts (flows, people, quality, GDPR): $nch" [ "${nch:-0}" -ge 7 ]
check "every chart drew marks" sh -c 'grep -q "data-empty-charts=\"0\"" dom.html && ! grep -q "data-marks=\"0\"" dom.html'
check "the flow charts drew one bar per day with a bundle" sh -c '[ $(grep -o "class=\"bar mark\"" dom.html | wc -l) -ge 7 ]'
shown() { sed -n "s/.*data-k=\"$1\">\([0-9]*\)<.*/\1/p" dom.html | head -1; }
for k in matching.records matching.rcus matching.in_several_entities matching.duplicate_records \
         matching.review_pairs inbox quarantine updates_queued; do
    check "the dashboard's $k equals status --json's" [ "$(shown $k)" = "$(jq ".$k" status.json)" ]
done
for e in groupe acquis; do
    for f in records rejected not_normalised.values; do
        check "$e's $f equals status --json's" \
            [ "$(shown "entities.$e.$f")" = "$(jq ".entities[]|select(.entity==\"$e\").$f" status.json)" ]
    done
done
check "the alerts shown are nova-hub alerts'" [ "$(shown alerts)" = "$(nova-hub alerts H --json | jq length)" ]

# the check itself: a chart without marks is reported on the console
sed 's|<svg class="chart" data-chart="people-by-entities"[^>]*>|&</svg><svg class="chart" data-chart="empty">|' dash.html > broken.html
$B --enable-logging=stderr --v=0 --dump-dom "file://$T/broken.html" > /dev/null 2> console2.log
check "a chart without marks would be seen (console error)" grep -q "drew no marks" console2.log
done_testing
