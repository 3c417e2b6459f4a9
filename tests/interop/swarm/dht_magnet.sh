#!/bin/bash
# Magnet links through the DHT alone (BEP 5 + BEP 9), no tracker anywhere and no peer address
# given (the links carry only xt=): a few libtorrent DHT nodes on 127.0.0.1, then
#   1. btt gets a magnet whose only seeder is libtorrent: the metadata fetch learns the seeder
#      from the DHT, then the download completes; --save-torrent writes the same info-hash;
#   2. libtorrent gets a magnet whose only seeder is `btt seed`, found through the DHT;
#   3. btt gets a magnet from `btt seed` through the DHT.
# Bytes are compared with the originals.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SW/dht_lib.sh"
need cmp

mkdir -p "$T/src" "$T/dl1" "$T/dl2" "$T/dl3"
make_data "$T/src/m.bin" $((3 * 1024 * 1024 + 4097))
make_data "$T/src/n.bin" $((2 * 1024 * 1024 + 99))
btt_create "$T/src/m.bin" "$T/m.torrent" -p 32
btt_create "$T/src/n.bin" "$T/n.torrent" -p 32
hm=$(btt_hash "$T/m.torrent")
hn=$(btt_hash "$T/n.torrent")

lt_dht_net 3
p1=${LT_DHT_PORTS[0]} p2=${LT_DHT_PORTS[1]} p3=${LT_DHT_PORTS[2]}
wait_line ltdht1 '^dht: [2-9][0-9]* nodes' 30 "libtorrent's DHT nodes finding each other" >/dev/null

# --- 1. btt gets a magnet; the only seeder is libtorrent, known to the DHT only
start lseed "$PY" "$SW/lt_seed.py" "$T/m.torrent" "$T/src" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p1" --dht-node "127.0.0.1:$p2"
lport=$(listen_port lseed)
wait_line lseed '^ready' 30 "libtorrent's check of the seed data" >/dev/null
start get1 env BTT_STATE_DIR="$T/s1" "$BTT" get "magnet:?xt=urn:btih:$hm" -d "$T/dl1" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p3" --save-torrent "$T/saved.torrent" --metadata-timeout 60 -v
wait_exit get1 90
expect_complete get1
same_file "$T/src/m.bin" "$T/dl1/m.bin" "btt magnet from libtorrent via the DHT"
grep -Eq "dht: [0-9]+ peers for $hm \(metadata fetch\)" "$T/log/get1.err" ||
    fail "the metadata fetch got no peers from the DHT"
[ "$(btt_hash "$T/saved.torrent")" = "$hm" ] || fail "--save-torrent wrote another info-hash"
grep -q "127.0.0.1:$lport" "$T/log/get1.err" || fail "btt never named the libtorrent seeder 127.0.0.1:$lport"
ok "btt magnet (xt only) from a libtorrent seeder found through the DHT: $(grep -m1 '^complete:' "$T/log/get1.out")"
stop lseed

# --- 2. libtorrent gets a magnet; the only seeder is btt, known to the DHT only
start bseed env BTT_STATE_DIR="$T/s2" "$BTT" seed "$T/n.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p2" -v
wait_err_line bseed "dht: lookup for $hn done: .* [1-9][0-9]* announces" 30 "btt seed announcing to the DHT" >/dev/null
start lget "$PY" "$SW/lt_get.py" "magnet:?xt=urn:btih:$hn" "$T/dl2" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p1" --timeout 80
wait_exit lget 90
[ "$RC" -eq 0 ] || fail "libtorrent did not get the magnet from btt through the DHT (exit $RC): $(err_of lget | tail -n 5)"
same_file "$T/src/n.bin" "$T/dl2/n.bin" "libtorrent magnet from btt via the DHT"
ok "libtorrent magnet (xt only) from btt seed found through the DHT: $(grep -m1 '^complete' "$T/log/lget.out")"

# --- 3. btt gets a magnet from btt through the DHT
start get3 env BTT_STATE_DIR="$T/s3" "$BTT" get "magnet:?xt=urn:btih:$hn" -d "$T/dl3" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p3" --metadata-timeout 60 -v
wait_exit get3 90
expect_complete get3
same_file "$T/src/n.bin" "$T/dl3/n.bin" "btt magnet from btt via the DHT"
grep -Eq "dht: [0-9]+ peers for $hn \(metadata fetch\)" "$T/log/get3.err" ||
    fail "the second metadata fetch got no peers from the DHT"
ok "btt magnet (xt only) from btt seed found through the DHT: $(grep -m1 '^complete:' "$T/log/get3.out")"

stop bseed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM"
finish
