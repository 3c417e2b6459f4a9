#!/bin/bash
# A btt DHT node restarted with its saved routing table works without bootstrap nodes:
#   1. `btt seed` joins a small DHT (three libtorrent nodes, a libtorrent seeder of torrent A)
#      through --dht-node, announces its torrent, and on SIGTERM saves STATE_DIR/dht.state;
#   2. restarted as `btt get A --seed` with the same state dir, no --dht-node and
#      BTT_DHT_BOOTSTRAP=none (and --no-utp: the UDP socket stays open for the DHT), it keeps
#      its node id, finds the libtorrent seeder through the DHT and downloads A;
#   3. a libtorrent downloader whose only DHT node is the restarted btt finds a peer of A
#      through it (btt answers queries from the reloaded table) and downloads A.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SW/dht_lib.sh"
need cmp

mkdir -p "$T/src" "$T/dl" "$T/dl2" "$T/sx"
make_data "$T/src/a.bin" $((2 * 1024 * 1024 + 5))
make_data "$T/src/b.bin" $((512 * 1024))
btt_create "$T/src/a.bin" "$T/a.torrent" -p 64
btt_create "$T/src/b.bin" "$T/b.torrent" -p 64
ha=$(btt_hash "$T/a.torrent")
hb=$(btt_hash "$T/b.torrent")

lt_dht_net 3
p1=${LT_DHT_PORTS[0]} p2=${LT_DHT_PORTS[1]}
wait_line ltdht1 '^dht: [2-9][0-9]* nodes' 30 "libtorrent's DHT nodes finding each other" >/dev/null
start lseed "$PY" "$SW/lt_seed.py" "$T/a.torrent" "$T/src" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p1" --dht-node "127.0.0.1:$p2"
wait_line lseed '^ready' 30 "libtorrent's check of the seed data" >/dev/null

# --- 1. join with a bootstrap node, save at exit
start x1 env BTT_STATE_DIR="$T/sx" "$BTT" seed "$T/b.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$p1" -v
listen_port x1 >/dev/null
wait_err_line x1 'dht: bootstrap done: [1-9][0-9]* nodes' 30 "joining the DHT" >/dev/null
wait_err_line x1 "dht: lookup for $hb done: .* [1-9][0-9]* announces" 30 "announcing to the DHT" >/dev/null
id1=$(grep -m1 -oE 'dht: node [0-9a-f]{40}' "$T/log/x1.err" | awk '{ print $3 }')
stop x1
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM"
[ -s "$T/sx/dht.state" ] || fail "no routing table saved to $T/sx/dht.state"
# bencoded {id, nodes, nodes6}: at least two 26-byte IPv4 nodes
nodes=$("$PY" -c 'import sys,re; d=open(sys.argv[1],"rb").read(); m=re.search(rb"5:nodes(\d+):", d); print(int(m.group(1))//26 if m else 0)' "$T/sx/dht.state")
[ "$nodes" -ge 2 ] || fail "the saved routing table has $nodes IPv4 nodes, wanted at least 2"
ok "btt saved its routing table at exit: $nodes nodes, $(stat -c %s "$T/sx/dht.state") bytes"

# --- 2. restart: no bootstrap node at all
start x2 env BTT_STATE_DIR="$T/sx" BTT_DHT_BOOTSTRAP=none "$BTT" get "$T/a.torrent" -d "$T/dl" --seed \
    --bind 127.0.0.1 --port 0 --no-utp -v
xport=$(listen_port x2)
line=$(wait_err_line x2 'dht: node [0-9a-f]{40} ' 10 "the DHT start line")
[[ "$line" == *"saved routing table, 0 bootstrap nodes"* ]] || fail "restarted btt did not start from its saved table: $line"
id2=$(echo "$line" | grep -oE 'dht: node [0-9a-f]{40}' | awk '{ print $3 }')
[ "$id1" = "$id2" ] || fail "node id changed across the restart: $id1 -> $id2"
wait_line x2 '^complete:' 60 "the download through the reloaded DHT" >/dev/null
same_file "$T/src/a.bin" "$T/dl/a.bin" "after the restart"
grep -Eq "dht: [0-9]+ peers for $ha" "$T/log/x2.err" || fail "the restarted node's lookup found no peers"
ok "restarted from the saved table (node $id2, no bootstrap nodes): $(grep -m1 '^complete:' "$T/log/x2.out")"

# --- 3. libtorrent bootstrapped from the restarted btt alone
start lget "$PY" "$SW/lt_get.py" "$T/a.torrent" "$T/dl2" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$xport" --timeout 60
wait_exit lget 70
[ "$RC" -eq 0 ] || fail "libtorrent (DHT node: the restarted btt only) did not download (exit $RC): $(err_of lget | tail -n 5)"
same_file "$T/src/a.bin" "$T/dl2/a.bin" "libtorrent via the restarted btt"
ok "libtorrent whose only DHT node was the restarted btt: $(grep -m1 '^complete' "$T/log/lget.out")"
stop x2
[ "$RC" -eq 0 ] || fail "btt exited $RC on SIGTERM"
note "$(grep -m1 'dht: [0-9]* nodes; in' "$T/log/x2.err" || true)"
finish
