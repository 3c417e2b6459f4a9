#!/bin/bash
# BEP 9 with a liar: a raw Python peer (py_peer.py --bad-metadata) advertises ut_metadata with the
# right metadata_size but serves a bogus info dictionary; an honest btt seeder is in the magnet
# link too, but comes up only once btt has heard the liar (on loopback an honest btt would
# otherwise serve every piece first). btt must find that the assembled info does not match the
# info-hash, drop the liar (banned: never reconnected, not handed to the torrent), keep retrying
# the honest address and complete from it. Then the harder case: pieces of one attempt from both.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

tree=$T/src/many
mkdir -p "$tree"
for i in $(seq 1 500); do make_data "$tree/file-with-a-long-name-$i.bin" $((1500 + i * 41)); done
btt_create "$tree" "$T/many.torrent" -p 16
hash=$(btt_hash "$T/many.torrent")

start bad "$PY" "$SW/py_peer.py" "$T/many.torrent" --corrupt --bad-metadata --bind 127.0.0.1 --port 0 --timeout 120
bport=$(listen_port bad)
sport=$(free_port)

start get "$BTT" get "magnet:?xt=urn:btih:$hash&x.pe=127.0.0.1:$bport&x.pe=127.0.0.1:$sport" -d "$T/dl" \
    --bind 127.0.0.1 --port 0 --no-trackers --no-utp -v
for _ in $(seq 1 100); do
    grep -q "banned 127.0.0.1:$bport" "$T/log/get.err" && break
    sleep 0.2
done
start seed "$BTT" seed "$T/many.torrent" -d "$T/src" --bind 127.0.0.1 --port "$sport" --no-trackers
wait_exit get 90
[ "$RC" = 0 ] || fail "btt get exited $RC"
diff -r "$tree" "$T/dl/many" > /dev/null || fail "downloaded tree differs"
same_file "$tree/file-with-a-long-name-500.bin" "$T/dl/many/file-with-a-long-name-500.bin" "file 500"
grep -q "metadata: peer 127.0.0.1:$bport (py_peer bad metadata) offers" "$T/log/get.err" ||
    fail "btt never heard the liar offer metadata"
grep -q "metadata request" "$T/log/bad.out" || fail "btt never asked the liar for metadata (test proves nothing)"
grep -q "banned 127.0.0.1:$bport: sent metadata that does not match the info-hash" "$T/log/get.err" ||
    fail "the liar was not dropped for its metadata"
n=$(grep -c '^connected ' "$T/log/bad.out" || true)
[ "$n" = 1 ] || fail "btt connected to the liar $n times (want 1: never again after the ban)"
grep -q '^request ' "$T/log/bad.out" && fail "btt asked the liar for data after it lied about the metadata"
stop seed
stop bad

# 2. A liar and an honest peer both serve pieces of one attempt (each answers after 0.3 s, and btt
# keeps one request per peer, so the pieces are spread over both): the hash fails and nobody can
# tell who lied. btt fetches from one peer at a time; once the right bytes are in, the liar's
# pieces of the failed attempt are compared with them (or its own attempt fails): it is banned,
# the honest peer is not, and the download completes from the honest one.
start liar "$PY" "$SW/py_peer.py" "$T/many.torrent" --corrupt --bad-metadata --metadata-delay 0.3 \
    --bind 127.0.0.1 --port 0 --timeout 120
lport=$(listen_port liar)
start honest "$PY" "$SW/py_peer.py" "$T/many.torrent" --data "$T/src" --good-metadata --metadata-delay 0.3 \
    --bind 127.0.0.1 --port 0 --timeout 120
hport=$(listen_port honest)
start get2 "$BTT" get "magnet:?xt=urn:btih:$hash&x.pe=127.0.0.1:$lport&x.pe=127.0.0.1:$hport" -d "$T/dl2" \
    --bind 127.0.0.1 --port 0 --no-trackers --no-utp -v
wait_exit get2 90
[ "$RC" = 0 ] || fail "btt get (mixed) exited $RC"
diff -r "$tree" "$T/dl2/many" > /dev/null || fail "downloaded tree differs (mixed)"
grep -q "metadata request" "$T/log/liar.out" || fail "btt never asked the liar (mixed)"
grep -q "metadata from several peers does not match the info-hash" "$T/log/get2.err" ||
    fail "the first attempt did not mix the two peers (test proves nothing): $(grep metadata "$T/log/get2.err")"
grep -q "banned 127.0.0.1:$lport: sent metadata that does not match the info-hash" "$T/log/get2.err" ||
    fail "the liar was not dropped after the mixed attempt"
grep -q "banned 127.0.0.1:$hport" "$T/log/get2.err" && fail "the honest peer was banned"
if grep -q "metadata piece [0-9]* from 127.0.0.1:$lport was wrong" "$T/log/get2.err"; then
    note "mixed: the liar was found by comparing its pieces with the verified info"
else
    note "mixed: the liar was found when an attempt from it alone failed"
fi
ok "the liar's metadata was detected and the peer dropped; the download completed from the honest seeder"
finish
