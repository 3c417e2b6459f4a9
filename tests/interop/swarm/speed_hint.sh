#!/bin/bash
# Trackers' bids are hints (docs/speed-protocol.md 3.4 and 5.1): a btt seeder learns from `btt
# tracker` (bidannounce, sortbid) what two raw Speed peers (speed_peer.py) announced, then they
# connect to it (incoming, giving their listen port in the extension handshake, as downloaders do):
#   liar    announced bid 1000000 to the tracker, bids 10 on the wire: disconnected, with the
#           seeder's log line saying why
#   honest  announced 20000 and bids 20000: sold to (bid_response; the only bidder left pays the
#           reserve price) and served blocks
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/speed_lib.sh"

MiB=$((1024 * 1024))
RESERVE=100
mkdir -p "$T/src"
make_data "$T/src/hint.bin" $((4 * MiB))
hport=$(free_port)
btt_create "$T/src/hint.bin" "$T/t.torrent" -p 256 -t "http://127.0.0.1:$hport/announce"

start trk "$BTT" tracker --http "127.0.0.1:$hport" --interval 60
wait_line trk '^listening on http ' 20 "the tracker's listen line" >/dev/null
ledger_start
wallet_make seed

# the two peers announce first, then wait for the seeder to dial their listen ports (it learns of
# them, and of their tracker bids, from its first announce) before they connect to it
SP=$(free_port)
lport=$(free_port)
hpport=$(free_port)
pypeer() { # NAME LISTEN ANNOUNCED-BID WIRE-BID
    start "$1" "$PY" "$SW/speed_peer.py" "$T/t.torrent" --connect "127.0.0.1:$SP" --ledger-id "$LEDGER_ID" \
        --name "speed-hint-$1" --mode bid --listen-port "$2" --announce "http://127.0.0.1:$hport/announce" \
        --announce-bid "$3" --bid "$4" --timeout 60
}
pypeer liar "$lport" 1000000 10
wait_line liar '^announced bid ' 20 "the liar's announce" >/dev/null
pypeer honest "$hpport" 20000 20000
wait_line honest '^announced bid ' 20 "the honest peer's announce" >/dev/null
start seed env BTT_STATE_DIR="$T/state-seed" "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 \
    --port "$SP" --wallet "$T/seed.wallet" --ledger "$LEDGER" --reserve-price "$RESERVE" -v
wait_exit liar 70
[ "$RC" -eq 0 ] || fail "speed_peer.py liar exited $RC: $(tail -n 15 "$T/log/liar.out") $(tail -n 5 "$T/log/liar.err")"
wait_exit honest 70
[ "$RC" -eq 0 ] || fail "speed_peer.py honest exited $RC: $(tail -n 15 "$T/log/honest.out") $(tail -n 5 "$T/log/honest.err")"

grep -q '^seeder dialled our listen port' "$T/log/liar.out" || fail "the seeder never learnt of the liar from the tracker"
grep -q '^sent bid 10$' "$T/log/liar.out" || fail "the liar never bid: $(tail -n 15 "$T/log/liar.out")"
grep -q 'speed: a peer bid 10/KiB after telling the tracker 1000000: disconnected' "$T/log/seed.err" ||
    fail "the seeder did not disconnect the liar for its low bid; its log:
$(show_speed_log seed)"
grep -Eq '^closed 1: .*\(0 blocks\)$' "$T/log/liar.out" || fail "the liar was not disconnected before any data: $(tail -n 8 "$T/log/liar.out")"
grep -q '^bid_response' "$T/log/liar.out" && fail "the liar was sold to: $(grep '^bid_response' "$T/log/liar.out")"
ok "a peer bidding 10 after announcing 1000000 to the tracker was disconnected before any data"

grep -q '^seeder dialled our listen port' "$T/log/honest.out" || fail "the seeder never learnt of the honest peer from the tracker"
grep -q "^bid_response $RESERVE " "$T/log/honest.out" || fail "the honest bidder was not sold to (at the reserve, as the only bidder): $(tail -n 15 "$T/log/honest.out")"
grep -q '^served 16 blocks' "$T/log/honest.out" || fail "the honest bidder was not served: $(tail -n 15 "$T/log/honest.out")"
grep -q 'after telling the tracker 20000' "$T/log/seed.err" && fail "the seeder disconnected the honest bidder"
ok "the honest bidder (tracker bid = wire bid) was sold to (at the reserve price, the only bidder left) and served"
stop seed 30
stop trk
stop ledger
finish
