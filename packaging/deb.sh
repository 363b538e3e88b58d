#!/bin/sh
# packaging/deb.sh - build the Debian packages nova-agent, nova-hub and
# nova-audit with dpkg-buildpackage (debhelper, compat 13); `make deb` runs it.
#
# debian/ lives at packaging/debian so that the top of the tree stays the
# project's own: this script copies what the build needs (sources, Makefile,
# mk/, packaging/) into OUT/nova-VERSION/, links packaging/debian there as
# debian/, writes debian/changelog and VERSION with the version from
# mk/version.sh (the one place it comes from), and builds the binary
# packages.  The .deb files land in OUT (default build/deb).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${DEB_OUT:-$ROOT/build/deb}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
V=$(sh "$ROOT/mk/version.sh")
SRC=$OUT/nova-$V
MAINT=$(sed -n 's/^Maintainer: //p' "$ROOT/packaging/debian/control")

rm -rf "$OUT"
mkdir -p "$SRC"
(cd "$ROOT" && tar -cf - --exclude='build*' Makefile VERSION README.md mk formats \
    keys agent hub docs packaging) | (cd "$SRC" && tar -xf -)
cp -R "$ROOT/packaging/debian" "$SRC/debian"
echo "$V" >"$SRC/VERSION"
# the changelog's date: the last commit's (reproducible), else now
when=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
cat >"$SRC/debian/changelog" <<CHANGELOG
nova ($V) unstable; urgency=medium

  * Build of nova $V (git commit $commit); the project's history is in its
    git repository.

 -- $MAINT  $(LC_ALL=C date -u -R -d "@$when")
CHANGELOG

cd "$SRC"
# -j2: this project builds on two cores at most
# a package is built as Debian builds it: nothing of the calling make (a
# test run's BUILD, an ASan run's CFLAGS through MAKEFLAGS) leaks into it
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u CC -u CFLAGS -u LDFLAGS \
    dpkg-buildpackage -b -us -uc -j2 --no-sign >"$OUT/build.log" 2>&1 || {
    tail -40 "$OUT/build.log" >&2
    echo "deb: dpkg-buildpackage failed; the whole log is $OUT/build.log" >&2
    exit 1
}
ls "$OUT"/*.deb
