#!/bin/sh
# packaging/check.sh [WORKDIR] - CI for the Debian packages: build them
# (packaging/deb.sh), run lintian (any error fails; warnings are listed),
# list each package with dpkg-deb -c and check it holds what it must,
# unpack them into a temporary root (dpkg -x) and run the installed
# binaries' --version and --help.
#
# Prints one line per check, "ok - ..." or "not ok - ...", and notes as
# "# ..."; exits 1 if a check failed.  tests/e2e/t0900-packaging.sh runs it
# (so `make test` does) and goes on with the systemd units and man pages in
# WORKDIR/root.  WORKDIR (default: a new temporary directory) keeps the
# packages in WORKDIR/deb and the unpacked root in WORKDIR/root.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-$(mktemp -d "${TMPDIR:-/tmp}/nova-check.XXXXXX")}
mkdir -p "$W"
W=$(cd "$W" && pwd)
V=$(sh "$ROOT/mk/version.sh")
failed=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=1; }

if DEB_OUT="$W/deb" sh "$ROOT/packaging/deb.sh" >"$W/deb.log" 2>&1; then
    ok "dpkg-buildpackage builds nova-agent, nova-hub, nova-audit $V"
else
    not_ok "dpkg-buildpackage failed"
    sed 's/^/# /' "$W/deb.log" | tail -30
    exit 1
fi

# lintian: errors fail, warnings are listed (none expected)
lintian --fail-on error "$W/deb/nova_${V}_"*.changes >"$W/lintian.log" 2>&1
rc=$?
grep -v 'running with root privileges' "$W/lintian.log" | sed 's/^/# lintian: /'
if [ $rc -eq 0 ] && ! grep -q '^E: ' "$W/lintian.log"; then
    ok "lintian: no error ($(grep -c '^W: ' "$W/lintian.log") warnings)"
else
    not_ok "lintian reports errors (exit $rc)"
fi

# contents: each package holds its binary, man pages, unit, completion, config
has() { # PKG PATH...
    pkg=$1; shift
    deb=$(ls "$W/deb/${pkg}_${V}_"*.deb)
    dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$W/$pkg.contents"
    miss=""
    for f in "$@"; do grep -qx -- "$f" "$W/$pkg.contents" || miss="$miss $f"; done
    if [ -z "$miss" ]; then ok "dpkg-deb -c $pkg: $# expected files"; else
        not_ok "dpkg-deb -c $pkg: missing$miss"; fi
}
has nova-agent /usr/bin/nova-agent /etc/nova/agent.conf /etc/nova/nova-agent.env \
    /lib/systemd/system/nova-agent.service /usr/share/man/man1/nova-agent.1.gz \
    /usr/share/man/man5/nova-agent.conf.5.gz /usr/share/bash-completion/completions/nova-agent \
    /usr/share/doc/nova-agent/copyright /usr/share/doc/nova-agent/README.Debian
has nova-hub /usr/bin/nova-hub /etc/nova/nova-hub.env /lib/systemd/system/nova-hub.service \
    /usr/share/man/man1/nova-hub.1.gz /usr/share/bash-completion/completions/nova-hub \
    /usr/share/doc/nova-hub/copyright
has nova-audit /usr/bin/nova-audit /usr/share/man/man1/nova-audit.1.gz \
    /usr/share/man/man5/nova-bundle.5.gz /usr/share/bash-completion/completions/nova-audit
for p in nova-agent nova-hub nova-audit; do
    deb=$(ls "$W/deb/${p}_${V}_"*.deb)
    d=$(dpkg-deb -f "$deb" Depends)
    case $d in *libsodium*) ok "$p depends on its libraries (shlibs): $d" ;;
    *) not_ok "$p: Depends has no shared libraries: '$d'" ;; esac
done
for p in nova-agent nova-hub; do
    deb=$(ls "$W/deb/${p}_${V}_"*.deb)
    rm -rf "$W/ctl" && dpkg-deb -e "$deb" "$W/ctl"
    if grep -q "adduser --system" "$W/ctl/postinst" &&
        grep -q "deluser --system" "$W/ctl/postrm" &&
        grep -q 'NOVA_PURGE_STATE' "$W/ctl/postrm"; then
        ok "$p: postinst creates the system user, postrm purge removes it (state only if asked)"
    else
        not_ok "$p: maintainer scripts lack the user or purge handling"
    fi
done
if [ "$(dpkg-deb -f "$(ls "$W/deb/nova-agent_${V}_"*.deb)" Package)" = nova-agent ] &&
    dpkg-deb -e "$(ls "$W/deb/nova-agent_${V}_"*.deb)" "$W/ctl-agent" &&
    grep -qx /etc/nova/agent.conf "$W/ctl-agent/conffiles"; then
    ok "/etc/nova/agent.conf is a conffile"
else
    not_ok "/etc/nova/agent.conf is not a conffile"
fi

# unpack into a temporary root and run what was installed
R=$W/root
rm -rf "$R" && mkdir -p "$R"
for p in nova-agent nova-hub nova-audit; do
    dpkg -x "$(ls "$W/deb/${p}_${V}_"*.deb)" "$R" || not_ok "dpkg -x $p"
done
for b in nova-agent nova-hub nova-audit; do
    out=$("$R/usr/bin/$b" --version 2>&1)
    if [ "$out" = "$b $V" ]; then ok "installed $b --version: $out"; else
        not_ok "installed $b --version printed '$out', want '$b $V'"; fi
    if "$R/usr/bin/$b" --help >"$W/help" 2>&1 && grep -q "^usage: $b COMMAND" "$W/help" &&
        grep -q -- "--version" "$W/help"; then
        ok "installed $b --help"
    else
        not_ok "installed $b --help"
        sed 's/^/# /' "$W/help" | head -5
    fi
done
exit $failed
