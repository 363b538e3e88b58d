#!/bin/sh
# Moving bundles to their transport: nova-agent push and nova-hub push copy
# each bundle under a temporary name, check its SHA-256 at the destination,
# rename it into place and only then remove it here.  A USB key (a
# directory), a destination that fails (nothing lost), a second push of the
# same bundles (already there), and user@host:path through rsync and ssh
# (stand-ins that act locally, so the protocol is what is tested).
. "$(dirname "$0")/lib.sh"

setup_pair || { not_ok "setup"; done_testing; }
for n in 1 2 3; do
    changes c$n.ndjson $((n * 2))
    nova-agent seal A c$n.ndjson >/dev/null 2>&1
done
mkdir keep usb
cp A/outbox/*.nova keep/
check "push moves the outbox to the key" sh -c 'nova-agent push A usb | grep -q "^3 bundle(s) pushed to usb"'
check "the outbox is empty, the key holds the three bundles, whole" sh -c '
    [ -z "$(ls A/outbox/*.nova 2>/dev/null)" ] && for f in keep/*.nova; do cmp -s "$f" "usb/$(basename "$f")" || exit 1; done'
check "no temporary name is left on the key" sh -c '[ -z "$(ls -A usb | grep "^\.")" ]'
cp keep/*.nova A/outbox/
check "pushing the same bundles again: already there, removed here" sh -c 'nova-agent push A usb | grep -q "3 already there" && [ -z "$(ls A/outbox/*.nova 2>/dev/null)" ]'
cp keep/*.nova A/outbox/
expect_status "a destination that is not a directory is refused" 29 'is not a directory' nova-agent push A nowhere
check "and nothing left the outbox" sh -c '[ "$(ls A/outbox/*.nova | wc -l)" = 3 ]'
echo different > "usb/$(ls keep | head -1)"
expect_status "a file of that name with other content at the destination stops the push" 28 'other content' nova-agent push A usb
check "the bundle stays in the outbox" sh -c '[ "$(ls A/outbox/*.nova | wc -l)" = 3 ]'
cp keep/*.nova usb/
rm -f A/outbox/*.nova

# at the hub: ingest from the key; the key keeps its files
check "the hub ingests from the key" sh -c 'nova-hub ingest H usb/*.nova | grep -c "^applied" | grep -qx 3'
check "the files on the key stay where they are" sh -c '[ "$(ls usb/*.nova | wc -l)" = 3 ]'

# the return path, over rsync and ssh (stand-ins in PATH)
mkdir bin remote
cat > bin/rsync <<'SH'
#!/bin/sh
# rsync -t -e ssh SRC HOST:PATH, done locally
eval "last=\${$#}"; src=$(eval "echo \${$(($# - 1))}")
cp "$src" "${last#*:}"
SH
cat > bin/ssh <<'SH'
#!/bin/sh
# ssh HOST COMMAND, run locally
shift; exec sh -c "$*"
SH
chmod +x bin/rsync bin/ssh
mkdir badbin
cp bin/ssh badbin/
cat > badbin/rsync <<'SH'
#!/bin/sh
# a copy that arrives damaged
eval "last=\${$#}"; src=$(eval "echo \${$(($# - 1))}")
{ cat "$src"; echo x; } > "${last#*:}"
SH
chmod +x badbin/rsync
printf '{"op":"upsert","key":"C-00001","fields":{"nom":"Autre"}}\n' > up.ndjson
nova-hub send H acme --kind updates up.ndjson >/dev/null 2>&1
rm -f keep/*.nova
cp H/outbox/acme/*.nova keep/
nb=$(ls keep/*.nova | wc -l)
expect_status "a copy that arrives damaged is caught by its SHA-256" 19 'another SHA-256' env PATH="$T/badbin:$PATH" nova-hub push H acme "box:$T/remote"
check "the bundle stays in the hub's outbox, none at the destination under its name" sh -c 'ls H/outbox/acme/*.nova >/dev/null && [ -z "$(ls remote/*.nova 2>/dev/null)" ]'
check "the damaged copy was removed at the destination" sh -c '[ -z "$(ls -A remote)" ]'
check "nova-hub push over rsync and ssh" sh -c "PATH=$T/bin:\$PATH nova-hub push H acme box:$T/remote | grep -q '^$nb bundle(s) for .acme. pushed'"
check "the bundles arrived whole, under their own names" sh -c 'for f in keep/*.nova; do cmp -s "$f" "remote/$(basename "$f")" || exit 1; done; [ -z "$(ls -A remote | grep "^\.")" ]'
check "and left the hub's outbox" sh -c '[ -z "$(ls H/outbox/acme/*.nova 2>/dev/null)" ]'
cp remote/*.nova A/inbox/
check "the agent applies it" sh -c 'nova-agent scan A >/dev/null 2>&1 && ls A/import/nova-updates-* >/dev/null'
done_testing
