#!/bin/bash
# libtorrent downloads from `btt seed` on loopback (libtorrent connects to the port btt prints):
# a single-file torrent fetched by two libtorrent peers at once, then a multi-file torrent.
# btt seed must print "have: N/N pieces verified", serve correct data, and exit 0 on SIGTERM.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

MiB=$((1024 * 1024))
mkdir -p "$T/src" "$T/dl1" "$T/dl2" "$T/dl3"

# --- 1. single file, 1 MiB pieces, two leechers at once
size=$((24 * MiB + 999))
make_data "$T/src/single.bin" "$size"
btt_create "$T/src/single.bin" "$T/single.torrent" -p 1024
pieces=$(btt_field "$T/single.torrent" pieces)

start seed "$BTT" seed "$T/single.torrent" -d "$T/src" --bind 127.0.0.1 --port 0
port=$(listen_port seed)
line=$(wait_line seed '^have: ' 60 "the startup check")
[ "$line" = "have: $pieces/$pieces pieces verified" ] ||
    fail "btt seed: wanted 'have: $pieces/$pieces pieces verified', got '$line'"

start lt1 "$PY" "$SW/lt_get.py" "$T/single.torrent" "$T/dl1" --peer "127.0.0.1:$port" --timeout 90
start lt2 "$PY" "$SW/lt_get.py" "$T/single.torrent" "$T/dl2" --peer "127.0.0.1:$port" --timeout 90
wait_exit lt1 100
[ "$RC" -eq 0 ] || fail "libtorrent leecher 1 failed (exit $RC): $(err_of lt1 | tail -n 5)"
wait_exit lt2 100
[ "$RC" -eq 0 ] || fail "libtorrent leecher 2 failed (exit $RC): $(err_of lt2 | tail -n 5)"
same_file "$T/src/single.bin" "$T/dl1/single.bin" "leecher 1"
same_file "$T/src/single.bin" "$T/dl2/single.bin" "leecher 2"
ok "two libtorrent leechers from btt seed: $(grep -m1 '^complete' "$T/log/lt1.out"); $(grep -m1 '^complete' "$T/log/lt2.out")"
stop seed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM, wanted 0"
ok "btt seed exits 0 on SIGTERM"

# --- 2. multi-file torrent, 32 KiB pieces (many pieces, files smaller than a piece)
tree=$T/src/tree
mkdir -p "$tree/x/y"
make_data "$tree/one.bin" $((4 * MiB + 3))
make_data "$tree/x/two.bin" 100
make_data "$tree/x/y/three.bin" $((2 * MiB + 32768))
: >"$tree/x/empty"
make_data "$tree/x/y/four.bin" 40000
btt_create "$tree" "$T/tree.torrent" -p 32

start seed2 "$BTT" seed "$T/tree.torrent" -d "$T/src" --bind 127.0.0.1 --port 0
port=$(listen_port seed2)
wait_line seed2 '^have: ' 60 >/dev/null
start lt3 "$PY" "$SW/lt_get.py" "$T/tree.torrent" "$T/dl3" --peer "127.0.0.1:$port" --timeout 90
wait_exit lt3 100
[ "$RC" -eq 0 ] || fail "libtorrent leecher (multi-file) failed (exit $RC): $(err_of lt3 | tail -n 5)"
for f in one.bin x/two.bin x/y/three.bin x/y/four.bin; do
    same_file "$tree/$f" "$T/dl3/tree/$f" "multi-file"
done
ok "multi-file from btt seed: $(grep -m1 '^complete' "$T/log/lt3.out")"
stop seed2
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM, wanted 0"
finish
