#!/bin/sh
# Issue 13, item 3: one file the agent cannot open (permissions) made every
# scan fail with status 3, so nothing else shipped.  Now it is skipped with
# a logged reason and counted, the other files and sources ship, the deletes
# of its source are withheld, and it is read once it can be.  As root the
# agent runs as nobody here, so that permissions apply.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

# ag ARGS...: nova-agent, as nobody when run as root
if [ "$(id -u)" = 0 ]; then
    printf '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups nova-agent "$@"\n' > ag
else
    printf '#!/bin/sh\nexec nova-agent "$@"\n' > ag
fi
chmod 755 ag
PATH="$T:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exa exb
agent_conf A "$T/exa"
printf '[source other]\ndir = %s/exb\nkey = id\n' "$T" >> A/agent.conf
export_csv exa/a1.csv 20
[ "$(id -u)" = 0 ] && chown -R 65534:65534 "$T"
ag scan A >/dev/null 2>&1
export_csv exa/a2.csv 10 X
chmod 000 exa/a2.csv
sleep 0.01
export_csv exa/a3.csv 19
export_csv exb/b.csv 30
[ "$(id -u)" = 0 ] && chown -R 65534:65534 "$T"
ag scan A --json > s.json 2> s.err
rc=$?
if [ $rc = 0 ]; then ok "a scan with an unreadable file succeeds (exit 0)"; else not_ok "exit $rc"; sed 's/^/# /' s.err; fi
check "the unreadable file is skipped with its reason" grep -q "source contacts: 'a2.csv' skipped: cannot open it: Permission denied" s.err
check "and counted" grep -q '"unreadable":1,' s.json
check "the other source ships" grep -q "source other: 'b.csv': 30 rows, 30 changed" s.err
check "the deletes of its source are withheld" grep -q "deletes withheld: 1 file(s) of the source could not be read" s.err
check "the scan summary counts it" sh -c 'ag scan A 2>/dev/null | grep -q "1 file(s) unreadable"' 
chmod 644 exa/a2.csv
touch exa/a3.csv
check "once readable, it is read (in its order, before a3)" sh -c 'ag scan A --json 2>/dev/null | grep -q "\"files\":2,.*\"unreadable\":0,"'

# `run` goes on too: the unreadable file does not make it retry forever
export_csv exa/a3.csv 10 Y
chmod 000 exa/a3.csv
[ "$(id -u)" = 0 ] && chown -R 65534:65534 "$T"
ag run A --rescan 3600 2> run.log & # ag execs: $! is the agent
pid=$!
sleep 1
printf 'id,nom\nO1,Autre\n' > exb/b2.csv
[ "$(id -u)" = 0 ] && chown 65534:65534 exb/b2.csv
i=0; while ! grep -q "b2.csv" run.log && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -TERM $pid; wait $pid
check "run ships the other files beside an unreadable one" grep -q "source other: 'b2.csv': 1 rows" run.log
if grep -q "pass failed\|retrying in 10 s" run.log; then not_ok "run failed its pass"; else ok "no pass failed"; fi
chmod 644 exa/a3.csv
done_testing
