#!/bin/bash
# aria2 downloads from `btt seed` on loopback. aria2 has no "connect to this peer" option, so
# both use opentracker over HTTP (aria2 1.36 does UDP trackers only with its DHT on, which these
# tests keep off).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp opentracker aria2c

MiB=$((1024 * 1024))
mkdir -p "$T/src/pack/docs" "$T/dl"
make_data "$T/src/pack/main.bin" $((10 * MiB + 5))
make_data "$T/src/pack/docs/readme" 2000
make_data "$T/src/pack/docs/more.bin" $((3 * MiB + 65535))
tport=$(free_port)
btt_create "$T/src/pack" "$T/t.torrent" -p 256 -t "http://127.0.0.1:$tport/announce"
tracker_start trk 127.0.0.1 "$tport" "" "$(btt_hash "$T/t.torrent")"

start seed "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 -vv
listen_port seed >/dev/null
wait_line seed '^have: ' 60 "the startup check" >/dev/null

aport=$(free_port)
start aria aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --bt-require-crypto=false --bt-min-crypto-level=plain \
    --listen-port="$aport" --seed-time=0 --file-allocation=none --summary-interval=0 \
    --bt-stop-timeout=60 --console-log-level=notice \
    -d "$T/dl" "$T/t.torrent"
wait_exit aria 120
[ "$RC" -eq 0 ] || fail "aria2c did not finish (exit $RC): $(aria2_summary aria)"
for f in main.bin docs/readme docs/more.bin; do
    same_file "$T/src/pack/$f" "$T/dl/pack/$f" "aria2 from btt"
done
ok "aria2 downloaded from btt seed via the HTTP tracker"
stop seed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM, wanted 0"
finish
