#!/bin/bash
# Transmission 3.00 downloads from `btt seed`. Transmission refuses peers on 127.0.0.0/8 and has
# no "connect to this peer" command, so: namespace A holds opentracker and btt seed
# (10.77.X.1), namespace B holds transmission-daemon (10.77.X.2); both find each other through
# the tracker (http) named in the torrent. This also checks that btt seed announces, and that
# Transmission with its default encryption ("preferred") reaches it through MSE over TCP.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_root
need cmp opentracker transmission-daemon transmission-remote

MiB=$((1024 * 1024))
o=$(subnet_octet)
A=10.77.$o.1
B=10.77.$o.2
ns_new NA
ns_new NB
ns_link "$NA" "$A" "$NB" "$B"

mkdir -p "$T/src" "$T/dl"
size=$((20 * MiB + 333))
make_data "$T/src/data.bin" "$size"
btt_create "$T/src/data.bin" "$T/t.torrent" -p 512 -t "http://$A:6969/announce"
tracker_start trk "$A" 6969 "$NA" "$(btt_hash "$T/t.torrent")"

start seed ip netns exec "$NA" "$BTT" seed "$T/t.torrent" -d "$T/src" --bind "$A" --port 0 -v
listen_port seed >/dev/null
wait_line seed '^have: ' 60 "the startup check" >/dev/null

tr_start tr "$NB" "$B" 51413 "$T/dl"
tr_remote tr -a "$T/t.torrent" >/dev/null
tr_wait_done tr 120
same_file "$T/src/data.bin" "$T/dl/data.bin" "transmission from btt"
# Transmission's default encryption ("preferred") opens its TCP connection with MSE
grep -q 'handshake done over TCP, encrypted (MSE RC4)' "$T/log/seed.err" ||
    fail "Transmission's connection to btt seed did not go through MSE: $(grep -m3 'handshake done' "$T/log/seed.err" | tr '\n' ';')"
ok "transmission downloaded $size bytes from btt seed (via opentracker) over an MSE RC4 connection"
stop seed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM, wanted 0"
finish
