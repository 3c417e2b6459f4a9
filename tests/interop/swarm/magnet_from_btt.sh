#!/bin/bash
# BEP 9: libtorrent, given only a magnet link (info-hash and name), fetches the info dictionary
# from a btt seeder (ut_metadata) and then the data; a multi-piece info dict (many files) makes
# the metadata span several 16 KiB pieces.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

tree=$T/src/many
mkdir -p "$tree" "$T/dl"
for i in $(seq 1 400); do make_data "$tree/file-with-a-long-name-$i.bin" $((1000 + i * 37)); done
btt_create "$tree" "$T/many.torrent" -p 16
hash=$(btt_hash "$T/many.torrent")
info_len=$("$PY" -W ignore -c "
import libtorrent as lt, sys
print(lt.torrent_info(sys.argv[1]).metadata_size())" "$T/many.torrent")
[ "$info_len" -gt 16384 ] || fail "test data too small: metadata is $info_len bytes"

start seed "$BTT" seed "$T/many.torrent" -d "$T/src" --bind 127.0.0.1 --port 0
port=$(listen_port seed)

start lget "$PY" "$SW/lt_get.py" "magnet:?xt=urn:btih:$hash&dn=many" "$T/dl" --bind 127.0.0.1 --port 0 \
    --peer "127.0.0.1:$port" --timeout 90
line=$(wait_line lget '^metadata: ' 90 "the metadata from btt")
[ "$line" = "metadata: received $info_len bytes" ] || fail "metadata line: '$line' (want $info_len bytes)"
wait_exit lget 120
[ "$RC" = 0 ] || fail "libtorrent exited $RC"
for i in 1 200 400; do
    same_file "$tree/file-with-a-long-name-$i.bin" "$T/dl/many/file-with-a-long-name-$i.bin" "file $i"
done
diff -r "$tree" "$T/dl/many" > /dev/null || fail "downloaded tree differs"
stop seed
ok "libtorrent fetched $info_len bytes of metadata and the data from a magnet link"
finish
