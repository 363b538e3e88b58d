# tests/e2e/lib.sh - helpers for end-to-end tests: TAP output, a fresh temp
# directory per test file, and assertions on exit status and messages.
# Sourced by each tNNNN-*.sh; they run the real binaries from $NOVA_BUILD.
set -u
NOVA_ROOT=${NOVA_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
NOVA_BUILD=${NOVA_BUILD:-$NOVA_ROOT/build}
NOVA_SHARED=${NOVA_SHARED:-$NOVA_ROOT/../shared}
PATH="$NOVA_BUILD:$PATH"
# a refused inbox bundle is quarantined at once (t0340 tests the wait for a
# copy still running)
NOVA_INBOX_SETTLE=${NOVA_INBOX_SETTLE:-0}
export PATH NOVA_ROOT NOVA_BUILD NOVA_SHARED NOVA_INBOX_SETTLE
T=$(mktemp -d "${TMPDIR:-/tmp}/nova-e2e.XXXXXX")
[ -n "${KEEP_T:-}" ] || trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
_n=0
_failed=0

ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _failed=1; echo "not ok $_n - $*"; }
note() { echo "# $*"; }

# check DESC CMD...: passes when CMD exits 0
check() {
    desc=$1; shift
    if "$@" >"$T/.out" 2>"$T/.err"; then ok "$desc"; else
        not_ok "$desc (exit $?)"; sed 's/^/# /' "$T/.out" "$T/.err" | head -20; fi
}

# expect_status DESC STATUS PATTERN CMD...: CMD must exit with STATUS and its
# stderr must match the extended regex PATTERN ('' for any)
expect_status() {
    desc=$1 want=$2 pat=$3; shift 3
    "$@" >"$T/.out" 2>"$T/.err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        not_ok "$desc (exit $got, want $want)"
        sed 's/^/# /' "$T/.out" "$T/.err" | head -20
    elif [ -n "$pat" ] && ! grep -Eq -- "$pat" "$T/.err" "$T/.out"; then
        not_ok "$desc (message does not match '$pat')"
        sed 's/^/# /' "$T/.err" | head -20
    else
        ok "$desc"
    fi
}

# same DESC A B: files are identical
same() {
    if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1 ('$2' and '$3' differ)"; fi
}

# flip FILE OFFSET: change the byte at OFFSET to a different value (XOR
# 0x20), so a tamper test never writes the byte that was already there
flip() {
    _b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf '%03o' $(( _b ^ 32 )))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# a hub H and two agents, groupe and acquis (the group and the company it
# bought), enrolled both ways, with export directories ex-groupe, ex-acquis
setup_two() {
    nova-hub init H >/dev/null || return 1
    for e in groupe acquis; do
        nova-agent init $e --entity $e >/dev/null &&
        nova-hub enroll H $e/keys/identity.pub >/dev/null &&
        nova-agent trust $e H/keys/identity.pub >/dev/null &&
        mkdir -p ex-$e || return 1
    done
}

# ship: each agent scans its exports, its outbox goes to the hub's inbox,
# the hub ingests; back: each hub outbox goes to its agent, which applies it
ship() {
    for e in groupe acquis; do
        nova-agent scan $e >/dev/null 2>&1
        for b in $e/outbox/*.nova; do [ -e "$b" ] && mv "$b" H/inbox/; done
    done
    nova-hub ingest H >/dev/null 2>&1
}
back() {
    for e in groupe acquis; do
        for b in H/outbox/$e/*.nova; do [ -e "$b" ] && mv "$b" $e/inbox/; done
        nova-agent scan $e >/dev/null 2>&1
    done
}

# setup_two, each agent erasing through a hook that succeeds, and one
# person (Zéphyrine Quintavalle) known to both entities, mapped and shipped
setup_two_erasable() {
    setup_two || return 1
    for e in groupe acquis; do
        printf '#!/bin/sh\nexit 0\n' > hook-$e.sh
        chmod +x hook-$e.sh
    done
    printf 'entity = groupe\nsettle = 0\nerase_hook = %s/hook-groupe.sh\n[source contacts]\ndir = %s/ex-groupe\nkey = id\n' "$T" "$T" > groupe/agent.conf
    printf 'entity = acquis\nsettle = 0\nerase_hook = %s/hook-acquis.sh\n[source clients]\ndir = %s/ex-acquis\nkey = No\n' "$T" "$T" > acquis/agent.conf
    cat > ex-groupe/contacts.csv <<'CSV'
id,prenom,nom,email,telephone,code_postal,date_naissance
G1,Zéphyrine,Quintavalle,zephyrine.quintavalle@example.org,06 12 98 76 54,75011,1980-05-17
G2,Marc,Dubois,marc.dubois@example.fr,06 55 44 33 22,69003,1975-01-02
CSV
    cat > ex-acquis/clients.csv <<'CSV'
No,Prenom,Nom,Mail,Tel,CP,Naissance
A1,ZEPHYRINE,QUINTAVALLE,zephyrine.quintavalle@example.org,+33 6 12 98 76 54,75011,17/05/1980
A2,Anne,Roux,anne.roux@example.fr,06 77 66 55 44,33000,03/03/1985
CSV
    for e in groupe acquis; do
        f=ex-groupe/contacts.csv; [ $e = acquis ] && f=ex-acquis/clients.csv
        nova-hub mapping suggest $e $f > $e.map 2>/dev/null
        nova-hub mapping set H $e $e.map >/dev/null 2>&1 || return 1
    done
    ship
}

# a hub H and an agent A (entity acme) that know each other
setup_pair() {
    nova-hub init H >/dev/null &&
    nova-agent init A --entity acme >/dev/null &&
    nova-hub enroll H A/keys/identity.pub >/dev/null &&
    nova-agent trust A H/keys/identity.pub >/dev/null
}

# changes FILE N: N small change records
changes() {
    i=1
    : >"$1"
    while [ "$i" -le "$2" ]; do
        printf '{"op":"upsert","key":"C-%05d","fields":{"nom":"Nom%d","email":"p%d@example.fr"}}\n' "$i" "$i" "$i" >>"$1"
        i=$((i + 1))
    done
}

done_testing() {
    echo "1..$_n"
    exit $_failed
}

# agent_conf DIR SOURCE-DIR [extra source lines...]: a config watching one
# source "contacts" (key id), settle 0 so scans read files at once; the
# pattern is *.csv unless an extra line sets it (a setting is given once)
agent_conf() {
    d=$1 src=$2; shift 2
    {
        echo "entity = $(sed -n 's/^entity: //p' "$d/keys/identity.pub")"
        echo "settle = 0"
        echo "import_delimiter = ;"
        echo "[source ${SRC:-contacts}]"
        echo "dir = $src"
        case "$*" in *"pattern ="*) ;; *) echo "pattern = *.csv" ;; esac
        echo "key = id"
        for l in "$@"; do echo "$l"; done
    } > "$d/agent.conf"
}

# export FILE N [SALT]: a UTF-8 export of N contacts; SALT changes the
# content of rows whose number is a multiple of 10
export_csv() {
    awk -v n="$2" -v salt="${3:-}" 'BEGIN {
        print "id,prenom,nom,email,ville"
        for (i = 1; i <= n; i++) {
            v = (salt != "" && i % 10 == 0) ? salt : "";
            printf "C%06d,Prénom%d,Nom%d%s,p%d@example.fr,\"Ville, %d\"\n", i, i, i, v, i, i % 97
        }
    }' > "$1"
}

# hub_records H SOURCE: replay of every change the hub applied
hub_records() {
    find "$1/received" -name 'changes-*.ndjson' | sort > "$T/.files"
    # shellcheck disable=SC2046
    tool_replay changes "$2" $(cat "$T/.files")
}

# store_is_export DESC: the records of source contacts the hub H stores
# (nova-hub export H records) are exactly the rows of exports/contacts.csv,
# none stored twice
store_is_export() {
    nova-hub export H records 2>/dev/null | tool_replay store contacts - > "$T/.got"
    _rc=$?
    tool_replay export contacts id exports/contacts.csv > "$T/.want"
    if [ $_rc -ne 0 ]; then not_ok "$1 (a record is stored twice)"; else same "$1" "$T/.got" "$T/.want"; fi
}

# contacts_mapping ENTITY: a mapping of export_csv's columns (key id)
contacts_mapping() {
    printf 'nova-mapping 1\nentity %s\nkey id\nfield first_name prenom\nfield last_name nom\nfield email email\nfield city ville\n' "$1"
}

# carry FROM TO: every bundle of FROM moved to TO (the transport)
carry() { for _b in "$1"/*.nova; do [ -e "$_b" ] && mv "$_b" "$2"/; done; return 0; }
