#!/bin/bash
# btt downloads from a Transmission 3.00 seeder. Transmission refuses peers on 127.0.0.0/8, so
# each client runs in a network namespace of this test, joined by a veth pair (10.77.X.1 = the
# Transmission seeder, 10.77.X.2 = btt); btt is told the seeder with --peer.
# Transmission rechokes every 10 s, so the first bytes may take that long to arrive.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root
need cmp transmission-daemon transmission-remote

MiB=$((1024 * 1024))
o=$(subnet_octet)
A=10.77.$o.1
B=10.77.$o.2
ns_new NA
ns_new NB
ns_link "$NA" "$A" "$NB" "$B"

mkdir -p "$T/src/tree/sub" "$T/dl"
make_data "$T/src/tree/big.bin" $((12 * MiB + 4321))
make_data "$T/src/tree/sub/small.bin" $((300 * 1024 + 7))
make_data "$T/src/tree/sub/tiny" 5
btt_create "$T/src/tree" "$T/t.torrent" -p 128

tr_start tr "$NA" "$A" 51413 "$T/src"
tr_remote tr -a "$T/t.torrent" >/dev/null
tr_wait_done tr 60   # Transmission checks the data it finds when the torrent is added
note "transmission seeds on $A:51413"

start get ip netns exec "$NB" "$BTT" get "$T/t.torrent" -d "$T/dl" --peer "$A:51413" --bind "$B" --port 0
listen_port get >/dev/null
wait_exit get 120
expect_complete get
for f in big.bin sub/small.bin sub/tiny; do
    same_file "$T/src/tree/$f" "$T/dl/tree/$f" "from transmission"
done
ok "btt from transmission: $(grep -m1 '^complete:' "$T/log/get.out")"
finish
