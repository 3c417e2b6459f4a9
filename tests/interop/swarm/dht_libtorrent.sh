#!/bin/bash
# The DHT against libtorrent's on 127.0.0.1, no tracker anywhere (the torrents have no
# announce URL): a few libtorrent DHT nodes bootstrapped from each other (add_dht_node), then
#   1. btt downloads a torrent whose only seeder is libtorrent, found through the DHT;
#   2. libtorrent downloads from `btt seed`, which it finds through the DHT;
#   3. btt downloads from `btt seed` through the DHT;
#   4. over IPv6 (BEP 32): btt bound to ::1 (an IPv6-only node) downloads from a libtorrent
#      seeder on ::1 found through libtorrent DHT nodes on ::1.
# Nobody is given a peer address; bytes are compared. Also checked: btt's lookups report the
# peers (-v log), and btt exchanges port messages (BEP 5) with libtorrent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SW/dht_lib.sh"
need cmp

mkdir -p "$T/src" "$T/dl1" "$T/dl2" "$T/dl3"
make_data "$T/src/a.bin" $((3 * 1024 * 1024 + 333))
make_data "$T/src/b.bin" $((2 * 1024 * 1024 + 17))
btt_create "$T/src/a.bin" "$T/a.torrent" -p 64
btt_create "$T/src/b.bin" "$T/b.torrent" -p 64
ha=$(btt_hash "$T/a.torrent")
hb=$(btt_hash "$T/b.torrent")

lt_dht_net 3
p1=${LT_DHT_PORTS[0]} p2=${LT_DHT_PORTS[1]} p3=${LT_DHT_PORTS[2]}
wait_line ltdht1 '^dht: [2-9][0-9]* nodes' 30 "libtorrent's DHT nodes finding each other" >/dev/null

# --- 1. btt from a libtorrent seeder it finds through the DHT
start lseed "$PY" "$SW/lt_seed.py" "$T/a.torrent" "$T/src" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p1" --dht-node "127.0.0.1:$p2"
wait_line lseed '^ready' 30 "libtorrent's check of the seed data" >/dev/null
start get1 env BTT_STATE_DIR="$T/s1" "$BTT" get "$T/a.torrent" -d "$T/dl1" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p3" -v
wait_exit get1 60
expect_complete get1
same_file "$T/src/a.bin" "$T/dl1/a.bin" "btt from libtorrent via the DHT"
grep -Eq "dht: [0-9]+ peers for $ha" "$T/log/get1.err" || fail "btt's log shows no DHT lookup that found peers for $ha"
grep -q "dht: port message: pinging the node at 127.0.0.1:" "$T/log/get1.err" ||
    fail "btt got no port message (BEP 5) from the libtorrent seeder"
ok "btt from a libtorrent seeder found through the DHT: $(grep -m1 '^complete:' "$T/log/get1.out")"
note "$(grep -m1 "dht: lookup for $ha done" "$T/log/get1.err" || true)"
[ -s "$T/s1/dht.state" ] || fail "btt saved no routing table to $T/s1/dht.state"
stop lseed

# --- 2. libtorrent from a btt seeder it finds through the DHT
start bseed env BTT_STATE_DIR="$T/s2" "$BTT" seed "$T/b.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p2" -v
bport=$(listen_port bseed)
wait_err_line bseed "dht: lookup for $hb done: .* [1-9][0-9]* announces" 30 "btt seed announcing to the DHT" >/dev/null
start lget "$PY" "$SW/lt_get.py" "$T/b.torrent" "$T/dl2" --bind 127.0.0.1 --port 0 --dht-node "127.0.0.1:$p1" --timeout 60
wait_exit lget 70
[ "$RC" -eq 0 ] || fail "libtorrent did not download from btt through the DHT (exit $RC): $(err_of lget | tail -n 5)"
same_file "$T/src/b.bin" "$T/dl2/b.bin" "libtorrent from btt via the DHT"
ok "libtorrent from btt seed found through the DHT: $(grep -m1 '^complete' "$T/log/lget.out")"

# --- 3. btt from btt through the DHT
start get3 env BTT_STATE_DIR="$T/s3" "$BTT" get "$T/b.torrent" -d "$T/dl3" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p3" -v
wait_exit get3 60
expect_complete get3
same_file "$T/src/b.bin" "$T/dl3/b.bin" "btt from btt via the DHT"
grep -q "peer 127.0.0.1:$bport connected" "$T/log/get3.err" || fail "btt get did not connect to the btt seeder (127.0.0.1:$bport)"
ok "btt from btt seed found through the DHT: $(grep -m1 '^complete:' "$T/log/get3.out")"

# --- 3b. a read-only node (BEP 43) still finds peers; it announces nothing and answers nothing
mkdir -p "$T/dl3ro"
start getro env BTT_STATE_DIR="$T/s3ro" "$BTT" get "$T/b.torrent" -d "$T/dl3ro" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p1" --dht-read-only -v
wait_exit getro 60
expect_complete getro
same_file "$T/src/b.bin" "$T/dl3ro/b.bin" "read-only DHT node"
grep -q "dht: node [0-9a-f]* on port [0-9]* (IPv4, read-only)" "$T/log/getro.err" || fail "--dht-read-only: the node does not say read-only"
grep -Eq "dht: [0-9]+ peers for $hb" "$T/log/getro.err" || fail "read-only node: its lookup found no peers"
! grep -Eq "dht: lookup for .* [1-9][0-9]* announces" "$T/log/getro.err" || fail "read-only node sent announce_peer"
ok "a read-only btt node downloads through the DHT: $(grep -m1 '^complete:' "$T/log/getro.out")"

# --- 3c. a private torrent (BEP 27): no DHT lookups for it
btt_create "$T/src/b.bin" "$T/p.torrent" -p 64 --private
hp=$(btt_hash "$T/p.torrent")
start pseed env BTT_STATE_DIR="$T/s3p" "$BTT" seed "$T/p.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p1" -v
wait_err_line pseed 'dht: bootstrap done' 30 "the private torrent's seeder joining the DHT" >/dev/null
sleep 3
stop pseed
! grep -q "dht: lookup for $hp" "$T/log/pseed.err" || fail "btt ran a DHT lookup for a private torrent"
ok "no DHT lookup for a private torrent"

# --- 4. IPv6
mkdir -p "$T/dl4"
lt_dht_net 2 ::1
q1=${LT_DHT_PORTS[3]} q2=${LT_DHT_PORTS[4]}
start lseed6 "$PY" "$SW/lt_seed.py" "$T/a.torrent" "$T/src" --bind ::1 --port 0 --dht-node "[::1]:$q1" --dht-node "[::1]:$q2"
wait_line lseed6 '^ready' 30 "libtorrent's check of the seed data" >/dev/null
start get6 env BTT_STATE_DIR="$T/s4" "$BTT" get "$T/a.torrent" -d "$T/dl4" --bind ::1 --port 0 --dht-node "[::1]:$q2" -v
wait_exit get6 60
expect_complete get6
same_file "$T/src/a.bin" "$T/dl4/a.bin" "btt from libtorrent via the DHT over IPv6"
grep -q "dht: node [0-9a-f]* on port [0-9]* (IPv6)" "$T/log/get6.err" || fail "btt bound to ::1 did not run an IPv6-only DHT node"
grep -Eq "dht: [0-9]+ peers for $ha" "$T/log/get6.err" || fail "btt's IPv6 lookup found no peers"
ok "btt from a libtorrent seeder found through the DHT over IPv6: $(grep -m1 '^complete:' "$T/log/get6.out")"

stop bseed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM"
# the seeder's DHT answered queries and stored announces; its counters are in the log
line=$(grep -m1 'dht: [0-9]* nodes; in' "$T/log/bseed.err" || true)
[ -n "$line" ] || fail "btt seed logged no DHT statistics at exit"
note "btt seed: $line"
finish
