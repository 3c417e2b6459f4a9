#!/bin/bash
# BEP 9 end to end, btt on both sides: btt gets a magnet link (x.pe= names a btt seeder) of a
# torrent whose info dictionary spans several 16 KiB pieces, fetches the info, checks it against
# the info-hash, downloads the data and writes the .torrent (--save-torrent) with the tr= tracker.
# Then a link with only a tracker (tr=): the peers come from its announce.
# Also: a magnet link nobody can serve gives up after --metadata-timeout (or on SIGTERM) with a
# clear message, exit 2 and nothing in the download directory.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp opentracker

tree=$T/src/many
mkdir -p "$tree"
for i in $(seq 1 300); do make_data "$tree/file-with-a-long-name-$i.bin" $((2000 + i * 91)); done
btt_create "$tree" "$T/many.torrent" -p 16
hash=$(btt_hash "$T/many.torrent")

start seed "$BTT" seed "$T/many.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 --no-trackers
port=$(listen_port seed)

tr="http://127.0.0.1:1/announce"   # never answers: only written into the .torrent
start get "$BTT" get "magnet:?xt=urn:btih:$hash&dn=many&x.pe=127.0.0.1:$port&tr=$(printf %s "$tr" | sed 's|:|%3A|g; s|/|%2F|g')" \
    -d "$T/dl" --bind 127.0.0.1 --port 0 --no-trackers --save-torrent "$T/saved.torrent" -v
line=$(wait_line get '^metadata: [0-9]+ bytes' 60 "the metadata")
case "$line" in *"info-hash $hash verified"*) ;; *) fail "metadata line: '$line'" ;; esac
wait_exit get 90
[ "$RC" = 0 ] || fail "btt get exited $RC"
grep -q '^metadata: [0-9]*/[0-9]* pieces from [0-9]* peers$' "$T/log/get.out" ||
    note "no progress line while fetching (the info came within the first status tick)"
diff -r "$tree" "$T/dl/many" > /dev/null || fail "downloaded tree differs"
same_file "$tree/file-with-a-long-name-300.bin" "$T/dl/many/file-with-a-long-name-300.bin" "file 300"

# the saved torrent: same info-hash, the tracker from tr=, and btt info reads it
[ "$(btt_hash "$T/saved.torrent")" = "$hash" ] || fail "saved torrent has another info-hash"
"$BTT" info "$T/saved.torrent" > "$T/info.txt" || fail "btt info cannot read the saved torrent"
grep -q "$tr" "$T/info.txt" || fail "saved torrent lacks the tracker $tr: $(cat "$T/info.txt")"
stop seed

# peers from the link's tracker only (tr=, no x.pe=): an opentracker the seeder announces to
mkdir -p "$T/src2/one"
make_data "$T/src2/one/a.bin" $((3 * 1024 * 1024 + 5))
tport=$(free_port)
btt_create "$T/src2/one" "$T/one.torrent" -p 64 -t "http://127.0.0.1:$tport/announce"
hash2=$(btt_hash "$T/one.torrent")
tracker_start trk 127.0.0.1 "$tport" "" "$hash2"
start seed2 "$BTT" seed "$T/one.torrent" -d "$T/src2" --bind 127.0.0.1 --port 0
wait_line seed2 '^have: ' 60 "the second seeder's check" > /dev/null
sleep 1   # its first announce
start get2 "$BTT" get "magnet:?xt=urn:btih:$hash2&tr=http%3A%2F%2F127.0.0.1%3A$tport%2Fannounce" -d "$T/dl2" \
    --bind 127.0.0.1 --port 0 --metadata-timeout 60
wait_exit get2 90
[ "$RC" = 0 ] || fail "btt get (tracker only) exited $RC"
same_file "$T/src2/one/a.bin" "$T/dl2/one/a.bin" "data found through tr="
stop seed2

# nobody serves it: a clear error after the timeout, exit 1, nothing written to the directory
dead=$(free_port)
start none "$BTT" get "magnet:?xt=urn:btih:$hash&x.pe=127.0.0.1:$dead" -d "$T/none" --bind 127.0.0.1 --port 0 \
    --metadata-timeout 3
wait_exit none 30
[ "$RC" = 2 ] || fail "btt get without a peer exited $RC, want 2"
grep -q "no metadata after 3 s" "$T/log/none.err" || fail "no clear timeout message: $(err_of none)"
[ ! -e "$T/none" ] || fail "btt get wrote $T/none without having the torrent"
# stopped while fetching: the same, on the signal
start none2 "$BTT" get "magnet:?xt=urn:btih:$hash&x.pe=127.0.0.1:$dead" -d "$T/none2" --bind 127.0.0.1 --port 0
wait_line none2 '^metadata: waiting for a peer' 20 "the fetch's progress line" > /dev/null
stop none2
[ "$RC" = 2 ] || fail "btt get stopped while fetching exited $RC, want 2"
grep -q "stopped before the torrent's info arrived" "$T/log/none2.err" || fail "no clear message: $(err_of none2)"
[ ! -e "$T/none2" ] || fail "btt get wrote $T/none2 without having the torrent"
ok "btt fetched the info from a btt seeder (by x.pe= and by tr=), downloaded and saved the torrent; a dead magnet times out cleanly"
finish
