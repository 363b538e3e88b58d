#!/bin/sh
# mk/version.sh - print nova's version, kept in one place: the VERSION file.
# In a git checkout with a release tag vX.Y.Z, `git describe` gives it
# instead (X.Y.Z, or X.Y.Z+gitN.gHASH N commits after the tag: a valid
# Debian native version).  A tarball or the Debian build tree has no .git
# and reads VERSION, which `make deb` writes with the version it computed.
set -eu
cd "$(dirname "$0")/.."
if [ -e .git ] && command -v git >/dev/null &&
    v=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
    printf '%s\n' "${v#v}" | sed 's/-\([0-9]*\)-\(g[0-9a-f]*\)$/+git\1.\2/'
else
    sed -n '1{s/[[:space:]]//g;p;}' VERSION
fi
