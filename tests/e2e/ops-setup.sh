# tests/e2e/ops-setup.sh - sourced by the t08xx operation tests after
# lib.sh: a hub H and two agents (groupe, acquis) with mappings, 20 and 15
# contacts of whom 15 are the same people, shipped at a fake time NOW
# (NOVA_NOW: never a sleep), and an erasure request that waits for the
# entities' answers.
NOW=1800000000 # 2027-01-15T08:00:00Z
export NOVA_NOW=$NOW
ops_setup() {
    setup_two || return 1
    agent_conf groupe "$T/ex-groupe" && agent_conf acquis "$T/ex-acquis" || return 1
    for e in groupe acquis; do
        printf 'nova-mapping 1\nentity %s\nkey id\nfield first_name prenom\nfield last_name nom\nfield email email\nfield city ville\n' $e > $e.map
        nova-hub mapping set H $e $e.map >/dev/null 2>&1 || return 1
    done
    export_csv ex-groupe/c.csv 20 && export_csv ex-acquis/c.csv 15 && ship || return 1
    # a bad value in acquis's next export: one value that does not parse
    nova-hub gdpr request H erase --email p3@example.fr >/dev/null 2>&1 || return 1
}
