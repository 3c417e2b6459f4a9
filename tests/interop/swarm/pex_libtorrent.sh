#!/bin/bash
# Peer exchange (BEP 11) with libtorrent, both ways.
#   S2  libtorrent seeder; btt is never told about it
#   L1  libtorrent downloader of S2 (rate-limited, so it stays connected to S2 for the test)
#   B3  btt seeder that only the btt under test is told about (--peer)
#   G   btt get --peer L1 --peer B3
# The seeders' upload is limited so that G's download takes several seconds: btt drops seeds
# once it is complete, and its first PEX message goes out 3 s after the handshake.
# 1. L1 tells G about S2 by ut_pex: G logs where it learned S2 and connects to it.
# 2. G tells L1 about B3 by ut_pex: libtorrent's peer list shows B3 with source pex.
# 3. G's download is byte-identical; a --no-pex btt neither offers nor takes PEX.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

mkdir -p "$T/src"
make_data "$T/src/payload.bin" $((4 * 1024 * 1024))
btt_create "$T/src/payload.bin" "$T/p.torrent" -p 64
hash=$(btt_hash "$T/p.torrent")

start s2 "$PY" "$SW/lt_seed.py" "$T/p.torrent" "$T/src" --bind 127.0.0.1 --port 0 --timeout 120 --quiet \
    --upload-limit 150000
p2=$(listen_port s2)
wait_line s2 '^ready$' 60 "S2's check" > /dev/null
start l1 "$PY" "$SW/lt_get.py" "$T/p.torrent" "$T/l1" --bind 127.0.0.1 --port 0 --peer "127.0.0.1:$p2" \
    --download-limit 150000 --timeout 120 --report-peers --quiet --seed
pl1=$(listen_port l1)
wait_line l1 "^peer 127.0.0.1:$p2 " 30 "L1 connected to S2" > /dev/null
start b3 "$BTT" seed "$T/p.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 --no-trackers --no-utp --max-upload 200K \
    --no-pex   # else B3 learns L1 from G and connects first: L1 would list it as incoming
p3=$(listen_port b3)

start get "$BTT" get "$T/p.torrent" -d "$T/dl" --bind 127.0.0.1 --port 0 --no-trackers --no-utp --seed -v \
    --peer "127.0.0.1:$pl1" --peer "127.0.0.1:$p3"
wait_line get '^complete: ' 60 "btt's download" > /dev/null
same_file "$T/src/payload.bin" "$T/dl/payload.bin" "payload"

# 1. btt learned S2 from L1 and connected to it
for _ in $(seq 1 150); do
    grep -q "peer 127.0.0.1:$p2 connected (outgoing)" "$T/log/get.err" && break
    sleep 0.2
done
grep -q "pex: learned 127.0.0.1:$p2 from 127.0.0.1:$pl1" "$T/log/get.err" ||
    fail "btt did not learn S2 (127.0.0.1:$p2) from L1's PEX"
grep -q "peer 127.0.0.1:$p2 connected (outgoing)" "$T/log/get.err" || fail "btt never connected to S2 after PEX"

# 2. libtorrent took B3 from btt's PEX
grep -q "pex: told 127.0.0.1:$pl1 of [1-9][0-9]* added" "$T/log/get.err" || fail "btt sent L1 no PEX message"
line=$(wait_line l1 "^peer 127.0.0.1:$p3 sources" 30 "L1 connected to B3")
case "$line" in *pex*) ;; *) fail "L1 knows B3 but not from PEX: '$line'" ;; esac
stop get

# 3. --no-pex: no ut_pex in btt's handshake, so L1 sends it nothing and btt learns nothing
start nopex "$BTT" get "$T/p.torrent" -d "$T/dl2" --bind 127.0.0.1 --port 0 --no-trackers --no-utp --seed -v \
    --no-pex --peer "127.0.0.1:$pl1" --peer "127.0.0.1:$p3"
wait_line nopex '^listening on ' 30 "the --no-pex btt" > /dev/null
sleep 6
grep -q "peer 127.0.0.1:$pl1 connected" "$T/log/nopex.err" || fail "the --no-pex btt never connected to L1"
grep -q "pex:" "$T/log/nopex.err" && fail "--no-pex btt still exchanged peers: $(grep pex: "$T/log/nopex.err")"
stop nopex
stop l1
stop b3
stop s2
ok "btt learned a libtorrent seeder through libtorrent's PEX, and libtorrent learned a btt seeder through btt's"
finish
