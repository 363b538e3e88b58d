#!/bin/sh
# The signed ledger: every applied or quarantined bundle is committed to
# H/ledger, each commit signed by the hub's ledger key so that stock
# `git verify-commit` accepts it; `nova-audit verify` checks the ledger from
# public keys and names each kind of tampering by stream and sequence number.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

KEYS="--keys H/keys/identity.pub --keys A/keys/identity.pub"
export GIT_CONFIG_NOSYSTEM=1 HOME="$T" # stock git, no user configuration

setup_pair || { not_ok "setup"; done_testing; }
for k in 1 2 3 4; do # (changes uses $i)
    changes c$k.ndjson $((k * 10))
    nova-agent seal A c$k.ndjson >/dev/null 2>&1 || not_ok "seal $k"
done
b() { echo "A/outbox/acme-hub-000000000$1.changes.nova"; }
cp "$(b 4)" tampered.nova
# one byte of payload.age: after the manifest's and signature's members
pad() { echo $(( ($1 + 511) / 512 * 512 )); }
msize=$(tar -xOf tampered.nova manifest | wc -c)
ssize=$(tar -xOf tampered.nova manifest.minisig | wc -c)
off=$((512 + $(pad $msize) + 512 + $(pad $ssize) + 512 + 40))
flip tampered.nova $off
cp A/outbox/*.nova H/inbox/
cp tampered.nova H/inbox/zz-tampered.nova
echo 'not a bundle' >H/inbox/junk.nova
expect_status "hub ingests 4 bundles and quarantines 2 (first refusal: truncated)" 11 \
    "quarantined +junk.nova" nova-hub ingest H
check "4 bundles applied" sh -c '[ "$(ls H/archive | wc -l)" = 4 ]'

# ---- stock git ----
printf 'hub@hub.nova namespaces="git" %s\n' "$(cat H/keys/ledger.pub)" >AS
check "the ledger is a bare git repository on main" sh -c \
    '[ "$(git -C H/ledger rev-parse --is-bare-repository)" = true ] &&
     [ "$(git -C H/ledger symbolic-ref HEAD)" = refs/heads/main ]'
# the 6 bundles received, the bundle the hub sealed back to acme (its
# acknowledgement), and the root commit
check "one commit per bundle received or sent, plus the root commit" sh -c \
    '[ "$(git -C H/ledger rev-list --count main)" = 8 ]'
check "git fsck accepts every object" git -C H/ledger fsck --strict --no-dangling
bad=0
for c in $(git -C H/ledger rev-list main); do
    git -C H/ledger -c gpg.ssh.allowedSignersFile="$T/AS" verify-commit "$c" \
        >/dev/null 2>&1 || bad=$((bad + 1))
done
if [ $bad = 0 ]; then ok "stock git verify-commit accepts all 8 commits"; else
    not_ok "git verify-commit refused $bad commit(s)"; fi
check "git log shows G for every commit" sh -c \
    '[ "$(git -C H/ledger -c gpg.ssh.allowedSignersFile="$PWD/AS" log --format=%G? | sort -u)" = G ]'
check "the ledger's own allowed_signers is the hub's ledger key" sh -c \
    'git -C H/ledger show main:allowed_signers | cmp - AS'
check "commit messages name stream, seq, kind and counts" sh -c \
    'git -C H/ledger log --format=%s | grep -qx "apply acme->hub seq 3 (changes, 30 records)"'
check "the tampered copy is recorded as quarantined with its reason" sh -c \
    'git -C H/ledger log --format=%s | grep -q "^quarantine acme->hub seq 4: .*payload-sha256"'
check "the unreadable file is recorded by its SHA-256 alone" sh -c \
    'h=$(sha256sum H/quarantine/junk.nova | cut -d" " -f1);
     git -C H/ledger show main:quarantine/$h/status | grep -q "^outcome: quarantined" &&
     ! git -C H/ledger cat-file -e main:quarantine/$h/manifest 2>/dev/null'
check "entries hold the bundle's manifest and signature byte for byte" sh -c \
    'tar -xOf '"$(b 2)"' manifest >m2 && git -C H/ledger show main:streams/acme/hub/0000000002/manifest | cmp - m2 &&
     tar -xOf '"$(b 2)"' manifest.minisig >s2 && git -C H/ledger show main:streams/acme/hub/0000000002/manifest.minisig | cmp - s2'
check "the status names the bundle file's SHA-256" sh -c \
    'git -C H/ledger show main:streams/acme/hub/0000000002/status |
     grep -qx "bundle-sha256: $(sha256sum H/archive/acme-hub-0000000002.changes.nova | cut -d" " -f1)"'
git -C H/ledger log -p main >log.txt 2>&1
git -C H/ledger cat-file --batch-all-objects --batch >objects.txt 2>&1
# (values as they appear in records: a bare Nom1 can occur by chance in a
# signature's base64)
if grep -Eq 'example\.fr|"Nom[0-9]|C-000' log.txt objects.txt; then
    not_ok "personal data found in the ledger"; else
    ok "no personal data in the ledger (log -p and every object)"; fi

# ---- nova-audit on the good ledger ----
expect_status "nova-audit verify passes on the good ledger and its bundles" 0 \
    "^8 commits, 7 bundles, 0 problems" nova-audit verify H/ledger $KEYS H/archive/*.nova
expect_status "nova-audit verify needs the hub's identity for the ledger key" 26 \
    "no hub identity with a ledger key" nova-audit verify H/ledger --keys A/keys/identity.pub
expect_status "an unknown agent key is a problem per entry" 14 \
    "stream acme->hub seq 1: key .* is not enrolled" nova-audit verify H/ledger --keys H/keys/identity.pub

# ---- idempotence and reconciliation ----
nova-hub status H >/dev/null 2>&1
check "opening the hub again adds no commit" sh -c '[ "$(git -C H/ledger rev-list --count main)" = 8 ]'
# what the hub sends is recorded too: its receipt to acme, outcome issued
check "the bundle the hub sealed to acme is in the ledger, outcome issued" sh -c \
    'git -C H/ledger show main:streams/hub/acme/0000000001/status | grep -qx "outcome: issued" &&
     git -C H/ledger log --format=%s main | grep -q "^send hub->acme seq 1 ("'
cp -r H H3
cs=$(git -C H3/ledger log --format=%H --grep='^send hub->acme seq 1 ' main)
git -C H3/ledger update-ref refs/heads/main "$cs^"
tool_meta H3 set ledger:head "$(git -C H3/ledger rev-parse "$cs^")"
nova-hub status H3 >/dev/null 2>&1
check "a crash between sealing and recording is repaired from sent/ at the next open" sh -c \
    'git -C H3/ledger log --format=%s main | grep -q "^send hub->acme seq 1 ("'
expect_status "... and that ledger verifies" 0 " 0 problems" nova-audit verify H3/ledger $KEYS
cp -r H H2
c4=$(git -C H2/ledger log --format=%H --grep='^apply acme->hub seq 4 ' main)
git -C H2/ledger update-ref refs/heads/main "$c4^"
# as a crash leaves it: the store noted the head after seq 3's entry, then
# applied seq 4 (and the rest came later, as their store commits did)
tool_meta H2 set ledger:head "$(git -C H2/ledger rev-parse "$c4^")"
nova-hub status H2 >/dev/null 2>.err2
check "a crash before the ledger commit is repaired from the archive" sh -c \
    'git -C H2/ledger log --format=%s main | grep -qx "apply acme->hub seq 4 (changes, 40 records)" &&
     grep -q "recorded stream acme->hub seq 4 from the archive" .err2'
expect_status "the repaired ledger verifies" 0 " 0 problems" \
    nova-audit verify H2/ledger $KEYS H2/archive/*.nova

# ---- tampering, on clones of the ledger ----
# The hub's ledger key as an OpenSSH private key, so stock git can sign as
# the hub (what an attacker holding the hub's secret key could do).
cat >tossh.pl <<'EOF'
use strict; use MIME::Base64;
open(my $f, '<', $ARGV[0]) or die; my @l = <$f>; close $f;
my $raw = decode_base64($l[1]);
die "not an unencrypted minisign key\n" unless length($raw) == 158 && substr($raw, 2, 2) eq "\0\0";
my $sk = substr($raw, 62, 64); my $pk = substr($sk, 32, 32);
sub str { pack('N', length($_[0])) . $_[0] }
my $pub = str('ssh-ed25519') . str($pk);
my $priv = pack('NN', 0x6e6f7661, 0x6e6f7661) . $pub . str($sk) . str('hub-ledger');
my $i = 1; $priv .= chr($i++) while length($priv) % 8;
my $blob = "openssh-key-v1\0" . str('none') . str('none') . str('') . pack('N', 1) . str($pub) . str($priv);
my $b = encode_base64($blob, ''); $b =~ s/(.{1,70})/$1\n/g;
print "-----BEGIN OPENSSH PRIVATE KEY-----\n$b-----END OPENSSH PRIVATE KEY-----\n";
EOF
perl tossh.pl H/keys/ledger.key >hub-ssh && chmod 600 hub-ssh
check "the hub's ledger key converts to an OpenSSH key" sh -c \
    '[ "$(ssh-keygen -y -f hub-ssh | cut -d" " -f1-2)" = "$(cat H/keys/ledger.pub)" ]'
ssh-keygen -q -t ed25519 -N '' -C intruder -f other
hubgit() { git -c user.name=nova-hub -c user.email=hub@hub.nova -c gpg.format=ssh \
    -c user.signingkey="$T/hub-ssh" -c commit.gpgsign=true "$@"; }
commit_of() { git -C "$1" log --format=%H --grep="^apply acme->hub seq $2 " main; }
# replay_onto DIR COMMIT...: cherry-pick each commit, re-signed by the hub key
replay_onto() {
    d=$1; shift
    for c in "$@"; do hubgit -C "$d" cherry-pick --allow-empty "$c" >/dev/null 2>&1 ||
        { not_ok "cherry-pick $c in $d"; return 1; }; done
}
all_good() { # DIR: stock git accepts every commit of DIR
    for c in $(git -C "$1" rev-list main); do
        git -C "$1" -c gpg.ssh.allowedSignersFile="$T/AS" verify-commit "$c" \
            >/dev/null 2>&1 || return 1
    done
}

# 1. a removed bundle, history rewritten and re-signed with the hub's key
git clone -q H/ledger gap
c2=$(commit_of gap 2)
git -C gap reset -q --hard "$c2^"
replay_onto gap $(git -C gap rev-list --reverse "$c2..origin/main")
check "removed bundle: stock git still accepts every (re-signed) commit" all_good gap
expect_status "removed bundle: nova-audit names the gap at seq 2" 17 \
    "^FAIL stream acme->hub seq 2: missing from the ledger" nova-audit verify gap $KEYS

# 2. a removed bundle by a new commit signed with another key
git clone -q H/ledger forged
git -C forged rm -rq streams/acme/hub/0000000002
git -C forged -c gpg.format=ssh -c user.signingkey="$T/other" -c user.name=x \
    -c user.email=x@x commit -qS -m "tidy" >/dev/null 2>&1
fh=$(git -C forged rev-parse --short=12 main)
expect_status "forged commit: stock git verify-commit refuses it" 1 "" \
    git -C forged -c gpg.ssh.allowedSignersFile="$T/AS" verify-commit main
expect_status "forged commit: nova-audit names the commit" 13 \
    "^FAIL commit $fh: not signed by the hub's ledger key" nova-audit verify forged $KEYS
cp "$T/.out" forged.out
check "forged commit: and the removal of seq 2" grep -q \
    "^FAIL stream acme->hub seq 2: entry removed by commit $fh" forged.out
check "forged commit: and the gap at seq 2" grep -q \
    "^FAIL stream acme->hub seq 2: missing from the ledger (removed by commit $fh)" forged.out

# 3. an unsigned commit
git clone -q H/ledger unsigned
git -C unsigned -c user.name=x -c user.email=x@x commit -q --allow-empty -m "note"
expect_status "unsigned commit: nova-audit names it" 13 \
    "^FAIL commit $(git -C unsigned rev-parse --short=12 main): not signed$" \
    nova-audit verify unsigned $KEYS

# 4. a reordered bundle: seq 3 committed before seq 2, all re-signed
git clone -q H/ledger reorder
c2=$(commit_of reorder 2)
c3=$(commit_of reorder 3)
git -C reorder reset -q --hard "$c2^"
replay_onto reorder "$c3" "$c2" $(git -C reorder rev-list --reverse "$c3..origin/main")
check "reordered bundle: stock git still accepts every commit" all_good reorder
expect_status "reordered bundle: nova-audit names seq 3 recorded before seq 2" 17 \
    "^FAIL stream acme->hub seq 3: recorded before seq 2 \(reordered" \
    nova-audit verify reorder $KEYS

# 5. an altered manifest (one byte), re-signed
git clone -q H/ledger altered
c2=$(commit_of altered 2)
git -C altered reset -q --hard "$c2"
sed -i 's/^rejects: 0$/rejects: 1/' altered/streams/acme/hub/0000000002/manifest
git -C altered add streams
hubgit -C altered commit -q --amend --no-edit >/dev/null 2>&1
replay_onto altered $(git -C altered rev-list --reverse "$c2..origin/main")
check "altered manifest: stock git still accepts every commit" all_good altered
expect_status "altered manifest: nova-audit names the bad signature of seq 2" 13 \
    "^FAIL stream acme->hub seq 2: manifest signature does not verify" \
    nova-audit verify altered $KEYS
cp "$T/.out" altered.out
check "altered manifest: and the broken chain at seq 3" grep -q \
    "^FAIL stream acme->hub seq 3: does not chain to seq 2" altered.out

# 6. a merge is refused
git clone -q H/ledger merged
git -C merged checkout -q -b side "$(commit_of merged 1)"
git -C merged -c user.name=x -c user.email=x@x commit -q --allow-empty -m side
git -C merged checkout -q main
git -C merged -c user.name=x -c user.email=x@x merge -q --no-ff -m merge side >/dev/null 2>&1
expect_status "a merge commit is a problem" 18 "is a merge" nova-audit verify merged $KEYS

# 7. bundle files that do not match their entries
expect_status "a tampered bundle file: named by stream and seq" 19 \
    "^FAIL stream acme->hub seq 4: bundle 'tampered.nova' does not match its ledger entry" \
    nova-audit verify H/ledger $KEYS tampered.nova
git clone -q H/ledger short
git -C short reset -q --hard "$(commit_of short 3)"
expect_status "a bundle with no entry: named by stream and seq" 29 \
    "^FAIL stream acme->hub seq 4: bundle '.*' has no entry in the ledger" \
    nova-audit verify short $KEYS H/archive/acme-hub-0000000004.changes.nova
done_testing
