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
# the setup's erasure request is carried out: the orders reach both
# agents (no hook: handed to the CRM teams), the CRMs delete the person,
# and the next full exports prove it: complete in 6 days
for e in groupe acquis; do mv H/outbox/$e/*.nova $e/inbox/ 2>/dev/null; done
NOVA_NOW=$((NOW + 5 * 86400 + 3600)) ship
sed -i '/^C000003,/d' ex-acquis/c.csv
awk -F, '$1 != "C000003"' ex-groupe/c.csv > x && mv x ex-groupe/c.csv
NOVA_NOW=$((NOW + 6 * 86400)) ship
# another one stays open (the deadlines chart)
NOVA_NOW=$((NOW + 6 * 86400)) nova-hub gdpr request H erase --email p5@example.fr >/dev/null 2>&1
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
check "the page has its charts (2 flows, 2 people, weights, data quality, 2 GDPR, erasures): $nch" [ "${nch:-0}" -ge 9 ]
check "every chart drew marks" sh -c 'grep -q "data-empty-charts=\"0\"" dom.html && ! grep -q "data-marks=\"0\"" dom.html'
check "the flow charts drew one bar per day with a bundle" sh -c '[ $(grep -o "class=\"bar mark\"" dom.html | wc -l) -ge 7 ]'
# chart NAME: the chart's svg element, as the browser left it
chart() { tr '\n' ' ' < dom.html | grep -o "<svg class=\"chart\" data-chart=\"$1\"[^>]*>.*" | sed 's|</svg>.*||'; }
shown() { sed -n "s/.*data-k=\"$1\">\([0-9]*\)<.*/\1/p" dom.html | head -1; }
empty=
for c in $(grep -o 'data-chart="[^"]*"' dom.html | sed 's/data-chart="\(.*\)"/\1/'); do
    chart "$c" | grep -q '<\(rect\|polyline\|line\) class="[a-z ]*mark"' || empty="$empty $c"
done
check "every chart has drawn data (a bar, line or point), not only a caption:${empty:- all}" [ -z "$empty" ]
chart match-weights > mw.svg
chart erasure-days > er.svg
check "the match-weight histogram has bars" sh -c '[ $(grep -o "class=\"bar mark\"" mw.svg | wc -l) -ge 1 ]'
check "... and both thresholds drawn (review, link)" sh -c 'grep -q "<line class=\"tgt rule\"" mw.svg && grep -q "<line class=\"dl rule\"" mw.svg'
check "its records are those linked or in review" [ "$(shown weights.scored)" = "$(nova-hub export H links 2>/dev/null | awk -F, 'NR > 1 && ($4 == "linked" || $4 == "review")' | wc -l)" ]
check "the erasure timeline has the completed erasure's bar" sh -c '[ $(grep -o "class=\"bar mark\"" er.svg | wc -l) = 1 ]'
check "... against the 10-day target line" sh -c 'grep -q "<line class=\"dl rule\"" er.svg && grep -q "target: 10 days" er.svg'
check "the erasures completed shown equal the register's" [ "$(shown gdpr.erasure.completed)" = "$(nova-hub gdpr list H --json | jq -s '[.[] | select(.kind=="erase" and .status=="complete")] | length')" ]
check "one erasure, completed in 6 days, within the target" grep -q "1</span> erasure(s) completed, on average in 6.0 days (longest 6.0), 1 within the 10-day target" dom.html
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
