#!/bin/sh
# Progress of long work on a terminal: ingest, replay, exports, learn,
# relink and GDPR bulk intake say on stderr what they are on, records done
# (of how many), the rate and the time left, then one summary line; only
# when stderr is a terminal (a pseudo-terminal here: script(1)), never in a
# pipe or a file, and --quiet silences it.  NOVA_PROGRESS_MS=0 shows every
# step (no assertion on time).
. "$(dirname "$0")/lib.sh"
command -v script >/dev/null || { not_ok "script(1) is missing (bsdutils)"; done_testing; }
export NOVA_PROGRESS_MS=0 NOVA_NOW=1800000000
setup_two || { not_ok "setup"; done_testing; }
agent_conf groupe "$T/ex-groupe" && agent_conf acquis "$T/ex-acquis"
for e in groupe acquis; do
    printf 'nova-mapping 1\nentity %s\nkey id\nfield first_name prenom\nfield last_name nom\nfield email email\nfield city ville\n' $e > $e.map
    nova-hub mapping set H $e $e.map >/dev/null 2>&1
done
export_csv ex-groupe/c.csv 300 && export_csv ex-acquis/c.csv 200
for e in groupe acquis; do nova-agent scan $e >/dev/null 2>&1; cp $e/outbox/*.nova keep-$e.nova; mv $e/outbox/*.nova H/inbox/; done

# tty CMD: run CMD with a pseudo-terminal for stdin, stdout and stderr;
# what it shows in tty.out (carriage returns as line ends, erase-line
# escapes left out)
onterm() { script -qec "$1" /dev/null > tty.raw 2>&1; s=$?; tr '\r' '\n' < tty.raw | sed "s/$(printf '\033')\[K//g" > tty.out; return $s; }
# no_progress FILE: no carriage return, no erase-line escape, no summary
no_progress() { ! grep -q "$(printf '\r')\|$(printf '\033')\[K\|records in [0-9.]* s" "$1"; }

check "ingest on a terminal" onterm "nova-hub ingest H"
check "it says what it is on and how far: bundle, records done of its count, rate, time left" \
    grep -Eq "^.*ingest: groupe seq 1: [0-9]+ of 300 records, [0-9]+/s, [0-9.]+ s left" tty.out
check "the linking of each bundle, step by step" grep -Eq "ingest: linking: finding candidates: [0-9]+ of [0-9]+ records" tty.out
check "one summary line at the end" grep -Eq "^ingest: 2 bundle\(s\) applied, 0 quarantined, 0 waiting \(500 records in [0-9.]+ s, [0-9]+/s\)" tty.out
check "the progress line was rewritten in place (carriage return, erase to the end of line)" grep -q "$(printf '\033')\[K" tty.raw

rm -rf H2 && cp -r H H2 && rm -f H2/hub.lock
nova-hub replay H groupe > /dev/null 2> replay-pipe.err
check "replay, stderr not a terminal: no progress at all" no_progress replay-pipe.err
onterm "nova-hub replay H groupe"
check "replay on a terminal: what it is on" grep -Eq "replay: groupe seq 1: [0-9]+ records, [0-9]+/s" tty.out
check "... then the summary" grep -Eq "^replay: groupe.s bundles applied again \(300 records in" tty.out
onterm "nova-hub replay H groupe --quiet"
check "--quiet silences it" sh -c '! grep -q "^replay:" tty.out && grep -q "^done: 300 upserts" tty.out'

check "export records to a file, on a terminal" onterm "nova-hub export H records --why test > recs.ndjson"
check "... shows how far it is" grep -Eq "export: writing the records: [0-9]+ of 500 records, [0-9]+/s" tty.out
check "... and ends with one line" grep -Eq "^export: records written \(500 records in" tty.out
check "the exported file holds records only" sh -c '[ $(wc -l < recs.ndjson) = 500 ] && ! grep -q "$(printf "\033")" recs.ndjson'
onterm "nova-hub export H golden > golden.csv"
check "export golden: people done" grep -Eq "export: golden records: [0-9]+ people" tty.out
check "... and the summary" grep -Eq "^export: golden records written \([0-9]+ people in" tty.out
onterm "nova-hub export H links"
check "an export to the terminal itself shows no progress (the data would be torn)" sh -c '! grep -q "^export:" tty.out'
nova-hub export H records --why test 2> export-pipe.err > /dev/null
check "export, stderr not a terminal: no progress" no_progress export-pipe.err

onterm "nova-hub learn H"
check "learn on a terminal: reading the sample" grep -Eq "learn: reading the sample: [0-9]+ of 500 records" tty.out
check "... fitting" grep -Eq "learn: fitting the weights" tty.out
check "... the summary" grep -Eq "^learn: (new weights fitted|the weights in force stay) \(500 records in" tty.out
nova-hub learn H > /dev/null 2> learn-pipe.err
check "learn, not a terminal: no progress" no_progress learn-pipe.err
onterm "nova-hub relink H"
check "relink on a terminal: reading" grep -Eq "relink: reading the records: [0-9]+ of 500 records" tty.out
check "... linking" grep -Eq "relink: linking: storing: [0-9]+ of 500 records" tty.out
check "... the summary" grep -Eq "^relink: records re-resolved \(500 records in" tty.out
nova-hub relink H > /dev/null 2> relink-pipe.err
check "relink, not a terminal: no progress" no_progress relink-pipe.err

printf 'email:p1@example.fr\nemail:p2@example.fr\n# a comment\nemail:p3@example.fr\n' > subjects.txt
onterm "nova-hub gdpr request H erase --from subjects.txt"
check "GDPR bulk intake on a terminal: lines done of the file's" grep -Eq "gdpr intake: registering the subjects of .subjects.txt.: [0-9] of 4 lines" tty.out
check "... then the summary" grep -Eq "^gdpr intake: 3 erase request\(s\) registered, 0 line\(s\) skipped \(3 lines in" tty.out
printf 'email:p4@example.fr\n' > subjects2.txt
nova-hub gdpr request H erase --from subjects2.txt > /dev/null 2> gdpr-pipe.err
check "GDPR bulk intake, not a terminal: no progress" no_progress gdpr-pipe.err

check "ingest with stderr in a file, stdout on a terminal: nothing in the file" sh -c 'mv keep-groupe.nova H2/inbox/ 2>/dev/null; script -qec "nova-hub ingest H2 2> ingest.err" /dev/null > /dev/null; no_progress() { ! grep -q "$(printf "\r")\|records in" "$1"; }; no_progress ingest.err'
done_testing
