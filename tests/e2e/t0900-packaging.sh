#!/bin/sh
# Packaging: packaging/check.sh builds the Debian packages (dpkg-buildpackage),
# runs lintian (no error), lists them (dpkg-deb -c), unpacks them into a
# temporary root and runs the installed binaries; then, on that root: the
# systemd units pass `systemd-analyze verify` and `systemd-analyze security
# --offline=yes` rates each at most 2.0; the five man pages render with
# `man -l` without a warning; the packaged agent.conf loads; the run loops
# tell systemd READY=1 and STOPPING=1 (sd_notify), survive SIGHUP, and log
# with <N> priorities and no program name under systemd.
. "$(dirname "$0")/lib.sh"

if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
    echo "ok # skip dpkg-buildpackage or debhelper is not installed (sh mk/deps.sh test installs them)"
    echo "1..1"
    exit 0
fi

# ---- packages (packaging/check.sh: its "ok -" lines become ours)
sh "$NOVA_ROOT/packaging/check.sh" "$T/pkg" >"$T/check.out" 2>&1
while IFS= read -r line; do
    case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) not_ok "${line#not ok - }" ;;
    *) echo "# ${line#\# }" ;;
    esac
done <"$T/check.out"
R=$T/pkg/root
[ -x "$R/usr/bin/nova-agent" ] || { not_ok "no unpacked packages in $R"; done_testing; }

# ---- systemd units: verify (the unit as installed, pointed at the unpacked
# binaries; man pages looked up in the unpacked root) and security
if command -v systemd-analyze >/dev/null; then
    mkdir -p units
    for u in nova-agent nova-hub; do
        sed "s|/usr/bin/|$R/usr/bin/|g" "$R/lib/systemd/system/$u.service" >units/$u.service
        if MANPATH="$R/usr/share/man" systemd-analyze verify "$PWD/units/$u.service" \
            >units/$u.verify 2>&1 && ! grep -q . units/$u.verify; then
            ok "systemd-analyze verify $u.service: no problem"
        else
            not_ok "systemd-analyze verify $u.service"
            sed 's/^/# /' units/$u.verify | head -10
        fi
        systemd-analyze security --offline=yes "$R/lib/systemd/system/$u.service" \
            >units/$u.security 2>&1
        score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' units/$u.security)
        if [ -n "$score" ] && awk "BEGIN { exit !($score <= 2.0) }"; then
            ok "systemd-analyze security $u.service: exposure $score (at most 2.0)"
        else
            not_ok "systemd-analyze security $u.service: exposure '${score:-?}' over 2.0"
            grep '✗' units/$u.security | head -10 | sed 's/^/# /'
        fi
    done
    # the alerts timer and its service
    sed "s|/usr/bin/|$R/usr/bin/|g" "$R/lib/systemd/system/nova-hub-alerts.service" >units/nova-hub-alerts.service
    cp "$R/lib/systemd/system/nova-hub-alerts.timer" units/
    if MANPATH="$R/usr/share/man" systemd-analyze verify "$PWD/units/nova-hub-alerts.timer" \
        "$PWD/units/nova-hub-alerts.service" >units/alerts.verify 2>&1 && ! grep -q . units/alerts.verify; then
        ok "systemd-analyze verify nova-hub-alerts.timer and .service: no problem"
    else
        not_ok "systemd-analyze verify nova-hub-alerts"
        sed 's/^/# /' units/alerts.verify | head -10
    fi
    systemd-analyze security --offline=yes "$R/lib/systemd/system/nova-hub-alerts.service" >units/alerts.security 2>&1
    score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' units/alerts.security)
    if [ -n "$score" ] && awk "BEGIN { exit !($score <= 2.0) }"; then
        ok "systemd-analyze security nova-hub-alerts.service: exposure $score (at most 2.0)"
    else
        not_ok "systemd-analyze security nova-hub-alerts.service: exposure '${score:-?}' over 2.0"
    fi
    for u in nova-agent nova-hub; do
        f=$R/lib/systemd/system/$u.service
        check "$u.service: Type=notify, own user, reload by SIGHUP, writes only its state dir" sh -c "
            grep -qx 'Type=notify' '$f' && grep -qx 'User=$u' '$f' &&
            grep -qx 'ExecStart=/usr/bin/$u run /var/lib/$u \$[A-Z_]*' '$f' &&
            grep -qx 'Restart=on-failure' '$f' &&
            grep -qx 'ExecReload=/bin/kill -HUP \$MAINPID' '$f' &&
            [ \"\$(grep '^ReadWritePaths=' '$f')\" = 'ReadWritePaths=/var/lib/$u' ]"
    done
else
    echo "ok # skip systemd-analyze is not installed"
fi

# ---- man pages: each renders with man -l, without a warning
for m in man1/nova-agent.1 man1/nova-hub.1 man1/nova-audit.1 man5/nova-agent.conf.5 \
    man5/nova-bundle.5; do
    f=$R/usr/share/man/$m.gz
    if [ ! -f "$f" ]; then not_ok "man page $m is not in the packages"; continue; fi
    # (man overstrikes bold text when it writes to a file: undo it)
    LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$f" 2>man.err |
        sed "s/.$(printf '\b')//g" >man.out
    if [ -s man.err ] || ! grep -q '^NAME' man.out ||
        grep -q '@VERSION@' man.out; then
        not_ok "man -l $m: warnings or no NAME section"
        sed 's/^/# /' man.err | head -5
    else
        ok "man -l $m renders without a warning ($(wc -l <man.out) lines)"
    fi
done
check "bash completions parse" sh -c "for f in '$R'/usr/share/bash-completion/completions/*; do bash -n \"\$f\" || exit 1; done"

# ---- the packaged agent.conf loads as it is, and with every setting uncommented
nova-agent init A --entity acme >/dev/null 2>&1 || not_ok "agent init"
check "the packaged /etc/nova/agent.conf loads as shipped (entity from the keys)" \
    sh -c "nova-agent --config '$R/etc/nova/agent.conf' status A | grep -q 'entity: *acme'"
mkdir -p ex
sed -e 's/^#\([a-z_]* = \)/\1/' -e 's/^#\[source/[source/' -e "s|^dir = .*|dir = $PWD/ex|" \
    "$R/etc/nova/agent.conf" >all.conf
check "every setting of the packaged agent.conf, uncommented, loads" \
    sh -c "NOVA_AGENT_CONFIG=all.conf nova-agent status A | grep -q 'sources: *1'"

# ---- sd_notify, SIGHUP and journal lines (socat stands in for systemd)
if command -v socat >/dev/null; then
    nova-hub init H >/dev/null 2>&1 && nova-hub enroll H A/keys/identity.pub >/dev/null 2>&1 &&
        nova-agent trust A H/keys/identity.pub >/dev/null 2>&1 || not_ok "hub setup"
    socat -u UNIX-RECV:"$T/notify.sock" OPEN:"$T/notify.log",creat,append &
    sp=$!
    i=0; while [ ! -S "$T/notify.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    for b in agent hub; do
        case $b in agent) d=A ;; hub) d=H ;; esac
        : >"$T/notify.log"
        NOTIFY_SOCKET=$T/notify.sock INVOCATION_ID=0123 nova-$b run $d 2>$b.log &
        pid=$!
        i=0; while ! grep -q 'READY=1' "$T/notify.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        check "nova-$b run tells systemd READY=1" grep -q 'READY=1' "$T/notify.log"
        kill -HUP $pid; sleep 0.5
        check "nova-$b run survives SIGHUP" kill -0 $pid
        kill -TERM $pid; wait $pid
        check "nova-$b run exits 0 on SIGTERM, after STOPPING=1" sh -c \
            "[ $? -eq 0 ] && grep -q 'STOPPING=1' '$T/notify.log'"
        check "nova-$b logs <6> lines without its name under systemd" sh -c \
            "grep -q '^<6>[a-z]*: info: ' $b.log && ! grep -q '^nova-' $b.log"
    done
    kill $sp 2>/dev/null
    check "outside systemd, lines keep the program's name" sh -c \
        "nova-agent --config /nonexistent status A 2>&1 | grep -q '^nova-agent: error: '"
    check "under systemd, an error line has priority <3>" sh -c \
        "INVOCATION_ID=0123 nova-agent --config /nonexistent status A 2>&1 | grep -q '^<3>nova-agent: error: '"
else
    echo "ok # skip socat is not installed (sd_notify checks)"
fi
done_testing
