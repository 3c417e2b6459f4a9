#!/bin/bash
# `btt tracker` serving real clients, which find each other only through it and must finish
# with the exact data:
#   1. HTTP: a libtorrent seed; a libtorrent leecher and an aria2 leecher (compact peers, BEP 23)
#   2. UDP (BEP 15): a libtorrent seed and a libtorrent leecher
#   3. Transmission 3.00 (namespace B) downloads from btt seed (namespace A) through `btt tracker`
#      in namespace A over UDP, then scrapes
# The tracker runs in whitelist mode with the three torrents; its /stats must show the
# completed downloads, and it must stop cleanly on SIGTERM.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp aria2c curl

MiB=$((1024 * 1024))
mkdir -p "$T/src/h" "$T/src/u" "$T/dl-lt" "$T/dl-aria" "$T/dl-ltu"
make_data "$T/src/h/http.bin" $((9 * MiB + 77))
make_data "$T/src/u/udp.bin" $((7 * MiB + 5))
hport=$(free_port)
uport=$(free_port)
btt_create "$T/src/h/http.bin" "$T/h.torrent" -p 256 -t "http://127.0.0.1:$hport/announce"
btt_create "$T/src/u/udp.bin" "$T/u.torrent" -p 256 -t "udp://127.0.0.1:$uport/announce"
btt_hash "$T/h.torrent" >"$T/whitelist"
btt_hash "$T/u.torrent" >>"$T/whitelist"

start trk "$BTT" tracker --http "127.0.0.1:$hport" --udp "127.0.0.1:$uport" --whitelist "$T/whitelist" --interval 30
wait_line trk '^listening on udp ' 20 "the udp listen line" >/dev/null

# --- 1. HTTP: libtorrent seed, libtorrent + aria2 leechers
start ltseed "$PY" "$SW/lt_seed.py" "$T/h.torrent" "$T/src/h" --timeout 200
wait_line ltseed '^ready' 60 "the seed's check" >/dev/null
start ltget "$PY" "$SW/lt_get.py" "$T/h.torrent" "$T/dl-lt" --timeout 100
aport=$(free_port)
start aria aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --bt-require-crypto=false --bt-min-crypto-level=plain \
    --listen-port="$aport" --seed-time=0 --file-allocation=none --summary-interval=0 \
    --bt-stop-timeout=60 --console-log-level=notice -d "$T/dl-aria" "$T/h.torrent"
wait_exit ltget 110
[ "$RC" -eq 0 ] || fail "libtorrent leecher (HTTP tracker) failed (exit $RC): $(err_of ltget | tail -n 8)"
same_file "$T/src/h/http.bin" "$T/dl-lt/http.bin" "libtorrent via btt tracker (HTTP)"
ok "libtorrent leecher found the libtorrent seed through btt tracker over HTTP"
wait_exit aria 110
if [ "$RC" -ne 0 ]; then
    soft_fail "aria2 leecher did not finish (exit $RC): $(aria2_summary aria)"
else
    same_file "$T/src/h/http.bin" "$T/dl-aria/http.bin" "aria2 via btt tracker (HTTP)"
    ok "aria2 leecher finished through btt tracker over HTTP"
fi
stop ltseed

# --- 2. UDP: libtorrent seed and leecher
start ltuseed "$PY" "$SW/lt_seed.py" "$T/u.torrent" "$T/src/u" --timeout 200
wait_line ltuseed '^ready' 60 "the seed's check" >/dev/null
start ltuget "$PY" "$SW/lt_get.py" "$T/u.torrent" "$T/dl-ltu" --timeout 100
wait_exit ltuget 110
[ "$RC" -eq 0 ] || fail "libtorrent leecher (UDP tracker) failed (exit $RC): $(err_of ltuget | tail -n 8)"
same_file "$T/src/u/udp.bin" "$T/dl-ltu/udp.bin" "libtorrent via btt tracker (UDP)"
ok "libtorrent leecher found the libtorrent seed through btt tracker over UDP"
stop ltuseed

stats=$(curl -s "http://127.0.0.1:$hport/stats")
note "stats: $stats"
"$PY" - "$stats" <<'PYEOF' || fail "tracker stats do not show the swarms: $stats"
import json, sys
s = json.loads(sys.argv[1])
assert s["torrents"] >= 2, s
assert s["udp"]["connects"] >= 1 and s["udp"]["announces"] >= 2, s
assert s["http"]["requests"] >= 3, s
assert s["completed"] >= 2, s
PYEOF
stop trk
[ "$RC" -eq 0 ] || fail "btt tracker exited $RC on SIGTERM, wanted 0"
ok "btt tracker stopped cleanly"

# --- 3. Transmission over UDP, in namespaces (it refuses peers on 127.0.0.0/8)
if [ "$(id -u)" -ne 0 ] || ! command -v transmission-daemon >/dev/null; then
    soft_fail "Transmission part needs root and transmission-daemon"
    finish
fi
o=$(subnet_octet)
A=10.78.$o.1
B=10.78.$o.2
ns_new NA
ns_new NB
ns_link "$NA" "$A" "$NB" "$B"
mkdir -p "$T/src/t" "$T/dl-tr"
make_data "$T/src/t/tr.bin" $((11 * MiB + 99))
btt_create "$T/src/t/tr.bin" "$T/t.torrent" -p 256 -t "udp://$A:6969/announce"
btt_hash "$T/t.torrent" >"$T/whitelist2"
start trk2 ip netns exec "$NA" "$BTT" tracker --udp "$A:6969" --http "$A:6969" --whitelist "$T/whitelist2" --interval 30
wait_line trk2 '^listening on udp ' 20 "the udp listen line" >/dev/null
start seed ip netns exec "$NA" "$BTT" seed "$T/t.torrent" -d "$T/src/t" --bind "$A" --port 0
listen_port seed >/dev/null
wait_line seed '^have: ' 60 "the startup check" >/dev/null
tr_start tr "$NB" "$B" 51413 "$T/dl-tr"
tr_remote tr -a "$T/t.torrent" >/dev/null
tr_wait_done tr 120
same_file "$T/src/t/tr.bin" "$T/dl-tr/tr.bin" "transmission via btt tracker (UDP)"
ok "transmission downloaded from btt seed through btt tracker over UDP"
scrape=$(ip netns exec "$NA" curl -s "http://$A:6969/stats")
note "stats: $scrape"
stop seed
stop trk2
[ "$RC" -eq 0 ] || fail "btt tracker exited $RC on SIGTERM, wanted 0"
finish
