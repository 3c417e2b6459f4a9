#!/bin/bash
# BEP 9 against libtorrent: btt gets a magnet link whose only seeder is libtorrent (x.pe=), fetches
# the info dictionary (several 16 KiB pieces) with ut_metadata, checks it against the info-hash,
# downloads the data, and --save-torrent writes a .torrent with the original's info-hash.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

tree=$T/src/many
mkdir -p "$tree"
for i in $(seq 1 600); do make_data "$tree/file-with-a-long-name-$i.bin" $((3000 + i * 57)); done
btt_create "$tree" "$T/many.torrent" -p 16
hash=$(btt_hash "$T/many.torrent")
info_len=$("$PY" -W ignore -c "
import libtorrent as lt, sys
print(lt.torrent_info(sys.argv[1]).metadata_size())" "$T/many.torrent")
[ "$info_len" -gt 32768 ] || fail "test data too small: metadata is $info_len bytes"

start lseed "$PY" "$SW/lt_seed.py" "$T/many.torrent" "$T/src" --bind 127.0.0.1 --port 0 --timeout 120
lport=$(listen_port lseed)
wait_line lseed '^ready$' 60 "libtorrent's check" > /dev/null

start get "$BTT" get "magnet:?xt=urn:btih:$hash&dn=many&x.pe=127.0.0.1:$lport" -d "$T/dl" \
    --bind 127.0.0.1 --port 0 --no-trackers --save-torrent "$T/saved.torrent" -v
line=$(wait_line get '^metadata: [0-9]+ bytes' 60 "the metadata from libtorrent")
[ "$line" = "metadata: $info_len bytes, info-hash $hash verified: many" ] || fail "metadata line: '$line'"
wait_exit get 90
[ "$RC" = 0 ] || fail "btt get exited $RC"
grep -q "metadata: peer 127.0.0.1:$lport (libtorrent[^)]*) offers $info_len bytes" "$T/log/get.err" ||
    fail "btt did not log libtorrent offering the metadata"
diff -r "$tree" "$T/dl/many" > /dev/null || fail "downloaded tree differs"
same_file "$tree/file-with-a-long-name-1.bin" "$T/dl/many/file-with-a-long-name-1.bin" "file 1"
[ "$(btt_hash "$T/saved.torrent")" = "$hash" ] || fail "saved torrent has another info-hash"
"$PY" -W ignore -c "
import libtorrent as lt, sys
a, b = lt.torrent_info(sys.argv[1]), lt.torrent_info(sys.argv[2])
assert str(a.info_hash()) == str(b.info_hash()) == sys.argv[3], (str(a.info_hash()), str(b.info_hash()))
assert a.num_files() == b.num_files() and a.total_size() == b.total_size()
" "$T/many.torrent" "$T/saved.torrent" "$hash" || fail "libtorrent reads the saved torrent differently"
stop lseed
ok "btt fetched $info_len bytes of metadata from libtorrent, then the data; the saved torrent matches"
finish
