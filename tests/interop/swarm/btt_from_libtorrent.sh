#!/bin/bash
# btt downloads from a libtorrent seeder on loopback (peer given with --peer): a single-file
# torrent with a short last piece, then a multi-file torrent (nested dirs, an empty file).
# Checks: exit 0, "listening on", "have: 0/N pieces verified", "complete: downloaded D bytes"
# with D >= the torrent's size, and the data byte for byte.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

MiB=$((1024 * 1024))
mkdir -p "$T/src" "$T/dl"

# --- 1. single file, 256 KiB pieces, last piece short
size=$((16 * MiB + 12345))
make_data "$T/src/single.bin" "$size"
btt_create "$T/src/single.bin" "$T/single.torrent" -p 256
pieces=$(btt_field "$T/single.torrent" pieces)

start lseed "$PY" "$SW/lt_seed.py" "$T/single.torrent" "$T/src" --bind 127.0.0.1 --port 0
sport=$(listen_port lseed)
wait_line lseed '^ready' 60 "libtorrent's check of the seed data" >/dev/null

start get1 "$BTT" get "$T/single.torrent" -d "$T/dl" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0
listen_port get1 >/dev/null
line=$(wait_line get1 '^have: ' 60 "the startup check")
[ "$line" = "have: 0/$pieces pieces verified" ] || fail "fresh download: wanted 'have: 0/$pieces pieces verified', got '$line'"
wait_exit get1 90
expect_complete get1
same_file "$T/src/single.bin" "$T/dl/single.bin" "single-file"
d=$(completed_bytes get1)
[ "$d" -ge "$size" ] || fail "complete line says $d bytes downloaded, fewer than the torrent's $size"
ok "single file ($size bytes, $pieces pieces): $(grep -m1 '^complete:' "$T/log/get1.out")"
stop lseed

# --- 2. multi-file torrent, 64 KiB pieces
tree=$T/src/tree
mkdir -p "$tree/sub/deeper" "$tree/other"
make_data "$tree/a.bin" $((3 * MiB + 1))
make_data "$tree/sub/b.bin" $((5 * MiB + 77))
make_data "$tree/sub/deeper/c.bin" 12345
: >"$tree/empty.txt"
make_data "$tree/other/d.bin" $((1 * MiB - 3))
make_data "$tree/z.bin" 1
btt_create "$tree" "$T/tree.torrent" -p 64

start lseed2 "$PY" "$SW/lt_seed.py" "$T/tree.torrent" "$T/src" --bind 127.0.0.1 --port 0
sport=$(listen_port lseed2)
wait_line lseed2 '^ready' 60 "libtorrent's check of the seed data" >/dev/null
start get2 "$BTT" get "$T/tree.torrent" -d "$T/dl" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0
wait_exit get2 90
expect_complete get2
for f in a.bin sub/b.bin sub/deeper/c.bin other/d.bin z.bin; do
    same_file "$tree/$f" "$T/dl/tree/$f" "multi-file"
done
[ -f "$T/dl/tree/empty.txt" ] && [ ! -s "$T/dl/tree/empty.txt" ] ||
    soft_fail "multi-file: the empty file tree/empty.txt was not created (or is not empty)"
ok "multi-file: $(grep -m1 '^complete:' "$T/log/get2.out")"
stop lseed2
[ "$RC" -eq 0 ] || fail "libtorrent seeder exited $RC"
finish
