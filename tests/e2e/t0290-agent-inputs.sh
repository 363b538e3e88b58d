#!/bin/sh
# Issue 13, smaller agent items: what matches a source pattern but is not a
# plain file (a symbolic link is followed to a regular file in the source
# directory; links elsewhere, FIFOs, directories are skipped with a log
# line); agent.conf mistakes (a setting given twice, a pattern leaving the
# directory, a NUL byte, an outbox that does not exist); a UTF-16 export
# named as such.
. "$(dirname "$0")/lib.sh"
export PATH="$NOVA_BUILD/tests:$PATH"

setup_pair || { not_ok "setup"; done_testing; }
mkdir exports elsewhere
agent_conf A "$T/exports" "pattern = latest*.csv"
export_csv exports/export-2026-12-01.csv 30
ln -s export-2026-12-01.csv exports/latest.csv
export_csv elsewhere/secret.csv 5
ln -s ../elsewhere/secret.csv exports/latest-outside.csv
mkfifo exports/latest-fifo.csv
mkdir exports/latest-dir.csv
nova-agent scan A --json > s.json 2> s.err
check "an export published as latest.csv -> export-....csv ships" grep -q '"files":1,"rows":30,"upserts":30,' s.json
check "a link out of the source directory is skipped, and why" grep -q "'latest-outside.csv' matches the pattern but is skipped: a symbolic link to a file outside the source directory" s.err
check "a FIFO is skipped, and why (the scan does not hang on it)" grep -q "'latest-fifo.csv' matches the pattern but is skipped: a FIFO" s.err
check "a directory is skipped, and why" grep -q "'latest-dir.csv' matches the pattern but is skipped: a directory" s.err
check "they are counted" grep -q '"ignored":3,' s.json
export_csv exports/export-2026-12-02.csv 30 X
ln -sf export-2026-12-02.csv exports/latest.csv
check "re-pointing the link ships the new export" sh -c 'nova-agent scan A --json 2>/dev/null | grep -q "\"files\":1,.*\"upserts\":3,"'

# a UTF-16 export
rm -rf ex2 && mkdir ex2
SRC=u16 agent_conf A "$T/ex2"
printf 'id,nom\r\n1,Zo\303\251\r\n' | iconv -f utf-8 -t utf-16 > ex2/a.csv
check "a UTF-16 export is rejected naming its encoding" sh -c 'nova-agent scan A 2>&1 | grep -q "file .a.csv. rejected: the file is encoded in UTF-16 (little-endian, byte order mark FF FE)"'

# agent.conf
agent_conf A "$T/exports"
cp A/agent.conf good.conf
printf 'settle = 100\n' >> good.conf
{ head -2 A/agent.conf; echo "settle = 5"; tail -n +3 A/agent.conf; } > A/agent.conf.new && mv A/agent.conf.new A/agent.conf
expect_status "a setting given twice is refused, naming both lines" 30 "agent.conf line 3: 'settle' is already set on line 2" nova-agent check A
agent_conf A "$T/exports" "pattern = ../*.csv"
expect_status "a pattern with '..' is refused" 30 "line 7: pattern must be a file-name pattern inside 'dir'" nova-agent check A
agent_conf A "$T/exports" "pattern = sub/*.csv"
expect_status "a pattern with '/' is refused" 30 "line 7: pattern must be a file-name pattern" nova-agent check A
agent_conf A "$T/exports"
printf 'bogus\000 = 1\n' >> A/agent.conf
expect_status "a NUL byte is an error naming its line" 30 "agent.conf line 8: NUL byte" nova-agent check A
agent_conf A "$T/exports"
sed -i "1i outbox = $T/nonexistent/outbox" A/agent.conf
expect_status "a non-existent outbox fails check" 30 "outbox '$T/nonexistent/outbox'" nova-agent check A
expect_status "and scan refuses it rather than create it" 30 "outbox '.*nonexistent/outbox' is not a directory" nova-agent scan A
check "nothing was created" test ! -e "$T/nonexistent"
done_testing
