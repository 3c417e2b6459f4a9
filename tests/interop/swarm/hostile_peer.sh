#!/bin/bash
# A hostile seeder (py_peer.py --corrupt on 127.0.0.2: claims every piece, unchokes, answers
# every request with random bytes) and an honest libtorrent seeder (127.0.0.1, rate-limited so
# the hostile peer gets a fair share of requests). btt gets both with --peer and must finish
# with correct data and print a line containing "banned" and the hostile peer's address on
# stderr; the honest seeder must not be banned.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

MiB=$((1024 * 1024))
mkdir -p "$T/src" "$T/dl"
size=$((8 * MiB + 2049))
make_data "$T/src/victim.bin" "$size"
btt_create "$T/src/victim.bin" "$T/t.torrent" -p 64

start honest "$PY" "$SW/lt_seed.py" "$T/t.torrent" "$T/src" --bind 127.0.0.1 --port 0 \
    --upload-limit $((2 * MiB))
hport=$(listen_port honest)
wait_line honest '^ready' 60 "libtorrent's check of the seed data" >/dev/null
start evil "$PY" "$SW/py_peer.py" "$T/t.torrent" --corrupt --bind 127.0.0.2 --port 0
eport=$(listen_port evil)

start get "$BTT" get "$T/t.torrent" -d "$T/dl" --peer "127.0.0.2:$eport" \
    --peer "127.0.0.1:$hport" --bind 127.0.0.1 --port 0
wait_exit get 120
reqs=$(grep -c '^request ' "$T/log/evil.out" || true)
[ "$reqs" -gt 0 ] || fail "btt never asked the hostile peer for data, so this test proved nothing (hostile peer log: $(head -c 500 "$T/log/evil.out"))"
expect_complete get
same_file "$T/src/victim.bin" "$T/dl/victim.bin" "with a hostile peer"
ok "complete with correct data despite $reqs corrupted blocks sent: $(grep -m1 '^complete:' "$T/log/get.out")"

grep -E 'banned' "$T/log/get.err" | grep -Fq "127.0.0.2" ||
    fail "btt printed no 'banned' line naming the hostile peer 127.0.0.2:$eport on stderr; its stderr:
$(tail -n 20 "$T/log/get.err")"
ok "hostile peer banned: $(grep -E 'banned' "$T/log/get.err" | grep -F 127.0.0.2 | head -n1)"
if grep -E 'banned' "$T/log/get.err" | grep -Fq "127.0.0.1:$hport"; then
    fail "btt also banned the honest seeder 127.0.0.1:$hport: $(grep -E 'banned' "$T/log/get.err" | grep -F 127.0.0.1)"
fi
# Once banned, the hostile peer should be disconnected for good.
conns=$(grep -c '^connected ' "$T/log/evil.out" || true)
[ "$conns" -le 3 ] || fail "btt connected to the banned hostile peer $conns times"
ok "honest seeder not banned; btt connected to the hostile peer $conns time(s)"
finish
