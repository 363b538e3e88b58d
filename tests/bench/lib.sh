# tests/bench/lib.sh - the acquisition scenario the hub benchmarks share,
# sourced by gdpr.sh and hub-match.sh: in the current directory, a hub H
# and two agents (groupe: the group's CRM, UTF-8 with ','; acquis: the
# acquired company's, Windows-1252 with ';') enrolled both ways, their
# exports from tests/gen/gencrm in ex-groupe/ and ex-acquis/, and each
# entity's mapping suggested from its export and committed.
#
# two_entities SEED BASE ACQUIRED [PROFILE]
# (PROFILE: a gencrm --profile; without it, gencrm's default, classic)
two_entities() {
    gencrm --seed "$1" --base "$2" --acquired "$3" --overlap 0.3 ${4:+--profile "$4"} \
        --out gen 2>/dev/null
    nova-hub init H >/dev/null
    for e in groupe acquis; do
        nova-agent init $e --entity $e >/dev/null
        nova-hub enroll H $e/keys/identity.pub >/dev/null
        nova-agent trust $e H/keys/identity.pub >/dev/null
        mkdir -p ex-$e
    done
    printf 'entity = groupe\nsettle = 0\n[source contacts]\ndir = %s/ex-groupe\nkey = id_client\n' "$PWD" > groupe/agent.conf
    printf 'entity = acquis\nsettle = 0\n[source contacts]\ndir = %s/ex-acquis\nkey = CustomerNo\nencoding = windows-1252\ndelimiter = ;\n' "$PWD" > acquis/agent.conf
    cp gen/base.csv ex-groupe/contacts.csv
    cp gen/acquired.csv ex-acquis/contacts.csv
    for e in groupe acquis; do
        nova-hub mapping suggest $e ex-$e/contacts.csv > $e.map 2>/dev/null
        nova-hub mapping set H $e $e.map >/dev/null
    done
}
