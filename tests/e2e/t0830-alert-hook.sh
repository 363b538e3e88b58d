#!/bin/sh
# The alert hook: a command (no shell) set in the mapping repository's
# expect file runs once when an alert starts and once when it ends, with
# the alert in its environment; the state of the alerts is kept between
# looks (DIR/ops/alerts.json), shared by `nova-hub alerts` and the passes
# of `nova-hub run`; a hook that fails or overruns its timeout is logged,
# never fatal.  A fake clock (NOVA_NOW).
. "$(dirname "$0")/lib.sh"
. "$NOVA_ROOT/tests/e2e/ops-setup.sh"

ops_setup || { not_ok "setup"; done_testing; }
H1=$((NOW + 3600))
LATE=$((NOW + 2 * 3600 + 60))
nova-hub expect H groupe every 1h >/dev/null
# the hook writes one line per call: the alert, its state, entity, severity, since
cat > hook.sh <<HOOK
#!/bin/sh
printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "\$NOVA_ALERT" "\$NOVA_ALERT_STATE" "\$NOVA_ALERT_ENTITY" \
    "\$NOVA_ALERT_SEVERITY" "\$NOVA_ALERT_SINCE" "\$NOVA_ALERT_ENDED" "\$NOVA_HUB" "\$1" "\$NOVA_ALERT_SUMMARY" >> "$T/calls"
HOOK
chmod +x hook.sh

expect_status "a hook that is not an absolute path is refused" 2 "absolute path" nova-hub expect H --alert-hook "hook.sh arg"
expect_status "a timeout out of range is refused" 2 "1 to 3600" nova-hub expect H --alert-hook "$T/hook.sh" --alert-hook-timeout 0
expect_status "a cadence and the hook at once are refused" 2 "one at a time" nova-hub expect H groupe every 1h --alert-hook "$T/hook.sh"
check "the hook is set, with an argument, and committed" sh -c "nova-hub expect H --alert-hook '$T/hook.sh first-arg' --alert-hook-timeout 5 --author 'Ops <ops@example.org>' | grep -q 'runs when an alert starts'"
check "the hook is in the mapping repository's history" sh -c 'git --git-dir=H/mappings log --format="%an %s" | grep -q "Ops expect: alert hook set"'
check "expect DIR shows it and its timeout" sh -c "nova-hub expect H | grep -q 'alert_hook $T/hook.sh first-arg' && nova-hub expect H | grep -q 'alert_hook_timeout 5 s'"

expect_status "nothing fires an hour after the bundles" 0 "no alert fires" env NOVA_NOW=$H1 nova-hub alerts H
check "... and the hook has not run" test ! -e calls
expect_status "two hours and a minute later, the late flow starts" 1 "started  NovaFlowLate groupe" env NOVA_NOW=$LATE nova-hub alerts H
check "the hook ran once, firing, with the alert in its environment and its argument" \
    sh -c "[ \$(wc -l < calls) = 1 ] && grep -q '^NovaFlowLate|firing|groupe|warning|2027-01-15T10:00:00Z||hub|first-arg|no bundle from groupe for 2 h' calls"
check "the state is kept in H/ops/alerts.json" sh -c "jq -e 'has(\"NovaFlowLate/groupe\")' H/ops/alerts.json"
expect_status "a second look: still firing" 1 "\"alert\":\"NovaFlowLate\"" env NOVA_NOW=$((LATE + 60)) nova-hub alerts H --json
check "... and the hook does not run again" sh -c "[ \$(wc -l < calls) = 1 ]"
echo "id,prenom,nom,email,ville" > ex-groupe/c2.csv
echo "C999999,Nouveau,Client,n@example.fr,Lyon" >> ex-groupe/c2.csv
NOVA_NOW=$((LATE + 60)) ship
expect_status "a bundle comes: the alert ends" 0 "ended    NovaFlowLate groupe" env NOVA_NOW=$((LATE + 120)) nova-hub alerts H
check "the hook ran, resolved, with since and when it ended" \
    sh -c "[ \$(wc -l < calls) = 2 ] && tail -1 calls | grep -q '^NovaFlowLate|resolved|groupe|warning|2027-01-15T10:00:00Z|2027-01-15T10:03:00Z|hub|first-arg|'"
check "the state is empty again" sh -c "jq -e '. == {}' H/ops/alerts.json"

# a hook that fails: logged (scrubbed), not fatal, not retried
cat > bad.sh <<'HOOK'
#!/bin/sh
echo "mail to ops@example.org failed: 0612345678" >&2
exit 4
HOOK
chmod +x bad.sh
nova-hub expect H --alert-hook "$T/bad.sh" >/dev/null
LATE2=$((LATE + 60 + 2 * 3600 + 60))
expect_status "a failing hook is logged with its status and last line; the look goes on" 1 \
    "alert hook for NovaFlowLate/groupe \(firing\): alert hook exited with status 4; its last output: mail to <e-mail> failed: <number>" \
    env NOVA_NOW=$LATE2 nova-hub alerts H
check "... and the look is remembered (no second run)" sh -c "NOVA_NOW=$((LATE2 + 60)) nova-hub alerts H 2>&1 | grep -vq 'alert hook'"
check "no personal data in that log" sh -c "! grep -q 'ops@example.org\|0612345678' .err"

# a hook that overruns its timeout is killed
printf '#!/bin/sh\necho $$ > "%s/slow.pid"\nexec sleep 30\n' "$T" > slow.sh && chmod +x slow.sh
nova-hub expect H --alert-hook "$T/slow.sh" --alert-hook-timeout 1 >/dev/null
rm -f H/ops/alerts.json
expect_status "a hook past its timeout is killed and logged" 1 "alert hook timed out after 1 s" \
    env NOVA_NOW=$LATE2 nova-hub alerts H
check "the hook's process is gone" sh -c '! kill -0 "$(cat slow.pid)" 2>/dev/null'

# a damaged state file is named, not silently dropped
nova-hub expect H --alert-hook "$T/hook.sh" >/dev/null
echo '{broken' > H/ops/alerts.json
expect_status "a damaged state file is refused, naming it" 32 "alerts.json. is damaged" env NOVA_NOW=$LATE2 nova-hub alerts H
rm H/ops/alerts.json

# nova-hub run looks after every pass
: > calls
NOVA_NOW=$LATE2 nova-hub run H --rescan 1 > run.log 2>&1 &
pid=$!
wait_for() {
    _end=$(($(date +%s) + $1)); shift
    while ! "$@" 2>/dev/null; do
        [ "$(date +%s)" -ge "$_end" ] && return 1
        sleep 0.1
    done
}
check "nova-hub run's pass runs the hook for the late flow" wait_for 20 grep -q '^NovaFlowLate|firing|groupe' calls
kill "$pid"; wait "$pid" 2>/dev/null
check "once only, though the run passed again" sh -c "[ \$(grep -c '^NovaFlowLate|firing|groupe' calls) = 1 ] || { cat calls; exit 1; }"
check "the run logged it" grep -q "alert hook ran for NovaFlowLate/groupe (firing)" run.log
expect_status "nova-hub alerts then sees it already firing: nothing starts" 1 "NovaFlowLate groupe" env NOVA_NOW=$LATE2 nova-hub alerts H
check "... no 'started' line" sh -c "! grep -q '^started' .out"
done_testing
