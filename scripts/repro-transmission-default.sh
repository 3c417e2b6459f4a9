#!/bin/bash
# Reproduces docs/mse.md "Findings": Transmission 3.00 with ALL default settings (uTP on,
# encryption 1 = preferred) against btt, both directions, with a packet capture in $T/log.
# TR_UTP=false turns uTP off on Transmission's side. Not a registered test (direction 1 is expected to fail until btt speaks MSE).
# Usage: BTT_BIN=build/release/btt BTT_SRC=$PWD sudo -E bash scripts/repro-transmission-default.sh
set -uo pipefail
. "$BTT_SRC/tests/interop/swarm/lib.sh"
need_root
o=$(subnet_octet); A=10.77.$o.1; B=10.77.$o.2
ns_new NA; ns_new NB; ns_link "$NA" "$A" "$NB" "$B"
mkdir -p "$T/s1" "$T/s3" "$T/trdl" "$T/dl3"
make_data "$T/s1/d1.bin" $((2*1024*1024+7)); make_data "$T/s3/d3.bin" $((2*1024*1024+9))
btt_create "$T/s1/d1.bin" "$T/t1.torrent" -p 256 -t "http://$A:6969/announce"
btt_create "$T/s3/d3.bin" "$T/t3.torrent" -p 256
tracker_start trk "$A" 6969 "$NA" "$(btt_hash "$T/t1.torrent")"
ip netns exec "$NA" tcpdump -i any -w "$T/log/a.pcap" -U >/dev/null 2>&1 & TD=$!
tr_start tr "$NB" "$B" 51413 "$T/trdl" "${TR_UTP:-true}" 1
start seed ip netns exec "$NA" "$BTT" seed "$T/t1.torrent" -d "$T/s1" --bind "$A" --port 0 -v
listen_port seed >/dev/null
wait_line seed '^have: ' 60 check >/dev/null
tr_remote tr -a "$T/t1.torrent" >/dev/null
sleep 25
echo "== dir1: transmission info"; tr_remote tr -t all -i | grep -E 'Percent|State|Peers' 
cmp "$T/s1/d1.bin" "$T/trdl/d1.bin" && echo DIR1 OK
echo "== dir1 seed log"; grep -iE 'handshake|peer|clos|ban|conn' "$T/log/seed.err" | head -40
tr_remote tr -a "$T/t3.torrent" --find "$T/s3" >/dev/null 2>&1 || tr_remote tr -a "$T/t3.torrent" -w "$T/s3"
sleep 3
start get ip netns exec "$NA" timeout 25 "$BTT" get "$T/t3.torrent" -d "$T/dl3" --peer "$B:51413" --bind "$A" --port 0 -v
sleep 26
echo "== dir2 get log"; grep -iE 'handshake|peer|clos|ban|conn|done' "$T/log/get.err" | head -40
cmp "$T/s3/d3.bin" "$T/dl3/d3.bin" && echo DIR2 OK
kill $TD; sleep 1
tcpdump -nn -r "$T/log/a.pcap" 2>/dev/null > "$T/log/pcap.txt" || true; head -60 "$T/log/pcap.txt"
