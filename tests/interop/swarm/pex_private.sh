#!/bin/bash
# Peer exchange and the private flag (BEP 27, BEP 11). A raw Python peer (py_peer.py --ext --pex)
# seeds a torrent, reports the extensions btt's handshake offers and sends one ut_pex message
# naming a btt seeder (B) that btt was not told about.
#   public torrent:  btt offers ut_pex, learns B from the message and connects to it
#   private torrent: btt offers no ut_pex and ignores the message (B is never contacted)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

mkdir -p "$T/src"
make_data "$T/src/data.bin" $((1024 * 1024))
btt_create "$T/src/data.bin" "$T/pub.torrent" -p 64
btt_create "$T/src/data.bin" "$T/priv.torrent" -p 64 --private

for kind in pub priv; do
    start "b_$kind" "$BTT" seed "$T/$kind.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 --no-trackers --no-utp
    bport=$(listen_port "b_$kind")
    start "py_$kind" "$PY" "$SW/py_peer.py" "$T/$kind.torrent" --data "$T/src" --ext --pex "127.0.0.1:$bport" \
        --bind 127.0.0.1 --port 0 --timeout 60
    pport=$(listen_port "py_$kind")
    start "get_$kind" "$BTT" get "$T/$kind.torrent" -d "$T/dl_$kind" --bind 127.0.0.1 --port 0 --no-trackers \
        --no-utp --seed -v --peer "127.0.0.1:$pport"
    wait_line "get_$kind" '^complete: ' 30 "the $kind download" > /dev/null
    same_file "$T/src/data.bin" "$T/dl_$kind/data.bin" "$kind data"
    ext=$(wait_line "py_$kind" '^extensions ' 10 "btt's extension handshake")
    wait_line "py_$kind" '^pex sent 1$' 10 "the PEX message" > /dev/null
    sleep 2   # time for btt to act on the message
    if [ "$kind" = pub ]; then
        [ "$ext" = "extensions ut_metadata,ut_pex" ] || fail "public torrent: btt offered '$ext'"
        grep -q "pex: learned 127.0.0.1:$bport from 127.0.0.1:$pport" "$T/log/get_pub.err" ||
            fail "public torrent: btt did not take the peer from PEX"
        grep -q "peer 127.0.0.1:$bport connected (outgoing)" "$T/log/get_pub.err" ||
            fail "public torrent: btt did not connect to the peer it learned"
    else
        [ "$ext" = "extensions ut_metadata" ] || fail "private torrent: btt offered '$ext' (no ut_pex allowed)"
        grep -q "pex:" "$T/log/get_priv.err" && fail "private torrent: btt used PEX: $(grep pex: "$T/log/get_priv.err")"
        grep -q "127.0.0.1:$bport" "$T/log/get_priv.err" && fail "private torrent: btt contacted the PEX peer"
    fi
    stop "get_$kind"
    stop "py_$kind"
    stop "b_$kind"
done
ok "PEX offered and used for a public torrent; neither for a private one"
finish
