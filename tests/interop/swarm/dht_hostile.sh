#!/bin/bash
# Hostile KRPC datagrams (dht_hostile.py: spoofed transaction ids, truncated messages, wrong
# types, huge lists, oversized and deeply nested datagrams, a ping flood) at a live btt DHT
# node change nothing: it still answers, its counters show the drops, and afterwards
#   - libtorrent, whose only DHT node is that btt, finds btt's torrent and downloads it;
#   - btt downloads a libtorrent seeder's torrent found through the DHT.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SW/dht_lib.sh"
need cmp

mkdir -p "$T/src" "$T/dl1" "$T/dl2"
make_data "$T/src/a.bin" $((1024 * 1024 + 3))
make_data "$T/src/b.bin" $((1536 * 1024 + 9))
btt_create "$T/src/a.bin" "$T/a.torrent" -p 64
btt_create "$T/src/b.bin" "$T/b.torrent" -p 64
hb=$(btt_hash "$T/b.torrent")

lt_dht_net 2
p1=${LT_DHT_PORTS[0]} p2=${LT_DHT_PORTS[1]}
# the hostile script needs btt's port, and btt needs its port as --dht-node: pick btt's port first
bport=$(free_port)
start evil "$PY" "$SW/dht_hostile.py" "$bport" --wait 10
eport=$(listen_port evil)
start bseed env BTT_STATE_DIR="$T/s1" "$BTT" seed "$T/b.torrent" -d "$T/src" --bind 127.0.0.1 --port "$bport" \
    --dht-node "127.0.0.1:$eport" --dht-node "127.0.0.1:$p1" -v
listen_port bseed >/dev/null
wait_exit evil 60
[ "$RC" -eq 0 ] || fail "btt stopped answering after the hostile datagrams: $(err_of evil | tail -n 3)"
grep -q '^queries from btt answered with garbage: [1-9]' "$T/log/evil.out" ||
    fail "btt never queried the hostile node (it was a --dht-node): $(out_of evil)"
ok "$(grep -m1 '^alive:' "$T/log/evil.out") ($(grep -m1 '^queries' "$T/log/evil.out"))"
alive bseed || fail "btt seed died under hostile KRPC input"

wait_err_line bseed "dht: lookup for $hb done: .* [1-9][0-9]* announces" 40 "btt seed announcing to the DHT" >/dev/null
start lget "$PY" "$SW/lt_get.py" "$T/b.torrent" "$T/dl1" --bind 127.0.0.1 --port 0 --dht-node "127.0.0.1:$bport" --timeout 60
wait_exit lget 70
[ "$RC" -eq 0 ] || fail "libtorrent (DHT node: the attacked btt) did not download (exit $RC): $(err_of lget | tail -n 5)"
same_file "$T/src/b.bin" "$T/dl1/b.bin" "libtorrent from the attacked btt"
ok "libtorrent via the attacked btt's DHT: $(grep -m1 '^complete' "$T/log/lget.out")"

start lseed "$PY" "$SW/lt_seed.py" "$T/a.torrent" "$T/src" --bind 127.0.0.1 --port 0 --dht-node "127.0.0.1:$p2"
wait_line lseed '^ready' 30 >/dev/null
start get env BTT_STATE_DIR="$T/s2" "$BTT" get "$T/a.torrent" -d "$T/dl2" --bind 127.0.0.1 --port 0 \
    --dht-node "127.0.0.1:$bport" -v
wait_exit get 60
expect_complete get
same_file "$T/src/a.bin" "$T/dl2/a.bin" "btt via the attacked btt's DHT"
ok "btt via the attacked btt's DHT: $(grep -m1 '^complete:' "$T/log/get.out")"

stop bseed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM"
line=$(grep -m1 'dht: [0-9]* nodes; in' "$T/log/bseed.err" || true)
[ -n "$line" ] || fail "btt seed logged no DHT statistics at exit"
note "$line"
num() { echo "$line" | grep -oE "[0-9]+ $1" | head -n1 | awk '{ print $1 }'; }
for what in malformed oversized unexpected "rate limited"; do
    [ "$(num "$what")" -gt 0 ] || soft_fail "btt's counter of $what datagrams is 0: $line"
done
finish
