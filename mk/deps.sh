#!/bin/sh
# mk/deps.sh [build|demo|test|fuzz|bench|deb] - make sure the Debian packages nova needs
# are installed.  As root it installs what is missing with apt-get; otherwise
# it prints the exact apt-get line and fails.
set -eu
what=${1:-build}
pkgs="libsodium-dev libarchive-dev libzstd-dev liblmdb-dev libgit2-dev
      libjansson-dev libutf8proc-dev nettle-dev libsystemd-dev pkg-config"
# make deb: Debian's packaging tools and the man page generator
debpkgs="dpkg-dev debhelper fakeroot lintian scdoc"
case $what in
demo) pkgs="$pkgs age minisign zstd tar git openssh-client" ;;
test) pkgs="$pkgs libcmocka-dev zlib1g-dev age minisign tar zstd openssh-client git
      $debpkgs systemd procps man-db groff-base socat jq prometheus chromium" ;;
deb) pkgs="$pkgs $debpkgs" ;;
fuzz) pkgs="$pkgs libcmocka-dev clang libclang-rt-14-dev" ;;
bench) pkgs="$pkgs libcmocka-dev age minisign zstd rsync time gzip" ;;
esac
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
else
    echo "nova needs these Debian packages:$missing" >&2
    echo "install them with:  sudo apt-get install$missing" >&2
    exit 1
fi
