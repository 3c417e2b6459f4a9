#!/bin/bash
# One opentracker, one `btt seed`, and three leechers that only know the tracker: btt get,
# libtorrent and aria2, all at once on loopback. The torrent names the tracker over UDP (tier 1)
# and over HTTP (tier 2): btt and libtorrent use UDP, aria2 (no UDP trackers without its DHT)
# falls back to HTTP; opentracker serves one swarm on both. Every leecher must finish with the
# exact data. Then a UDP-only torrent: btt seed and btt get must find each other through BEP 15.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp opentracker aria2c

MiB=$((1024 * 1024))
mkdir -p "$T/src" "$T/dl-btt" "$T/dl-lt" "$T/dl-aria"
size=$((18 * MiB + 4097))
make_data "$T/src/mixed.bin" "$size"
tport=$(free_port)
btt_create "$T/src/mixed.bin" "$T/t.torrent" -p 256 \
    -t "udp://127.0.0.1:$tport/announce" -t "http://127.0.0.1:$tport/announce"
mkdir -p "$T/src/udp" "$T/dl-udp"
make_data "$T/src/udp/only.bin" $((5 * 1024 * 1024 + 3))
btt_create "$T/src/udp" "$T/udp.torrent" -p 64 -t "udp://127.0.0.1:$tport/announce"
tracker_start trk 127.0.0.1 "$tport" "" "$(btt_hash "$T/t.torrent")" "$(btt_hash "$T/udp.torrent")"

start seed "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 -vv
listen_port seed >/dev/null
wait_line seed '^have: ' 60 "the startup check" >/dev/null

start bget "$BTT" get "$T/t.torrent" -d "$T/dl-btt" --bind 127.0.0.1 --port 0
start ltget "$PY" "$SW/lt_get.py" "$T/t.torrent" "$T/dl-lt" --timeout 110
aport=$(free_port)
start aria aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --bt-require-crypto=false --bt-min-crypto-level=plain \
    --listen-port="$aport" --seed-time=0 --file-allocation=none --summary-interval=0 \
    --bt-stop-timeout=60 --console-log-level=notice -d "$T/dl-aria" "$T/t.torrent"

wait_exit bget 120
expect_complete bget
same_file "$T/src/mixed.bin" "$T/dl-btt/mixed.bin" "btt leecher"
ok "btt leecher: $(grep -m1 '^complete:' "$T/log/bget.out")"
wait_exit ltget 120
[ "$RC" -eq 0 ] || fail "libtorrent leecher failed (exit $RC): $(err_of ltget | tail -n 8)"
same_file "$T/src/mixed.bin" "$T/dl-lt/mixed.bin" "libtorrent leecher"
ok "libtorrent leecher: $(grep -m1 '^complete:' "$T/log/ltget.out")"
wait_exit aria 120
if [ "$RC" -ne 0 ]; then
    soft_fail "aria2 leecher did not finish (exit $RC): $(aria2_summary aria)"
else
    same_file "$T/src/mixed.bin" "$T/dl-aria/mixed.bin" "aria2 leecher"
    ok "aria2 leecher complete"
fi
stop seed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM, wanted 0"

# --- UDP tracker only: btt <-> btt
start useed "$BTT" seed "$T/udp.torrent" -d "$T/src" --bind 127.0.0.1 --port 0
listen_port useed >/dev/null
wait_line useed '^have: ' 60 "the startup check" >/dev/null
start uget "$BTT" get "$T/udp.torrent" -d "$T/dl-udp" --bind 127.0.0.1 --port 0
wait_exit uget 90
expect_complete uget
same_file "$T/src/udp/only.bin" "$T/dl-udp/udp/only.bin" "UDP tracker only"
ok "btt get found btt seed through the UDP tracker: $(grep -m1 '^complete:' "$T/log/uget.out")"
stop useed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM, wanted 0"
finish
