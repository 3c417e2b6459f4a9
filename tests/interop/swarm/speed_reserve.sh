#!/bin/bash
# The reserve price of a rare torrent, end to end (docs/speed-protocol.md 3.2-3.3, 3.5): a btt
# seeder with --reserve-price 0 --reserve-growth 10 whose clock runs an "hour" per second
# (BTT_SPEED_RESERVE_HOUR_MS=1000, test only), and raw Speed peers (speed_peer.py):
#   watch   the proof peer prints every `reserve` it gets: the price grows 0, 10, 20, ...
#   low     bids 5 while the reserve is above it: never sold to (no paid bid_response, no
#           "selling to" in the seeder's log); the auction does not pick it
#   high    bids 1000: sold to at the reserve price of the moment (one eligible bidder)
#   proof   once the price reached 100, sends a valid source proof: the seeder logs the reset and
#           the next `reserve` says 0 (speed_hostile.sh checks a proof against a fixed reserve and
#           a wrong proof; not repeated here)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/speed_lib.sh"

MiB=$((1024 * 1024))
mkdir -p "$T/src"
make_data "$T/src/rare.bin" $((4 * MiB))
btt_create "$T/src/rare.bin" "$T/t.torrent" -p 256

ledger_start
wallet_make seed
start seed env BTT_STATE_DIR="$T/state-seed" BTT_SPEED_RESERVE_HOUR_MS=1000 "$BTT" seed "$T/t.torrent" -d "$T/src" \
    --bind 127.0.0.1 --port 0 --no-trackers --wallet "$T/seed.wallet" --ledger "$LEDGER" \
    --reserve-price 0 --reserve-growth 10 --reserve-cap 1000 -v
SP=$(listen_port seed)
wait_line seed '^have: ' 60 "the startup check" >/dev/null

pypeer() { # NAME MODE ARGS...
    local name=$1 mode=$2
    shift 2
    start "$name" "$PY" "$SW/speed_peer.py" "$T/t.torrent" --connect "127.0.0.1:$SP" --ledger-id "$LEDGER_ID" \
        --name "speed-reserve-$name" --mode "$mode" "$@"
}
py_acct() { "$PROBE" account "speed-reserve-$1"; }

pypeer proof proof --data "$T/src" --proof-at 100 --timeout 60
wait_line proof '^reserve [1-9][0-9]* ' 20 "a reserve price above 0" >/dev/null
pypeer low bid --bid 5 --stay 3 --timeout 30
pypeer high bid --bid 1000 --timeout 30
for n in low high; do
    wait_exit "$n" 40
    [ "$RC" -eq 0 ] || fail "speed_peer.py $n exited $RC: $(tail -n 15 "$T/log/$n.out") $(tail -n 5 "$T/log/$n.err")"
done
wait_exit proof 60
[ "$RC" -eq 0 ] || fail "speed_peer.py proof exited $RC: $(tail -n 15 "$T/log/proof.out")"

# the price grew while nobody else held the torrent, by steps of 10
prices=$(sed -n '/^sent proof .* good$/q; s/^reserve \([0-9]*\) .*/\1/p' "$T/log/proof.out" | tr '\n' ' ')
note "reserve prices before the proof: $prices"
"$PY" - "$prices" <<'PYEOF' || fail "the reserve price did not grow as it should: $prices"
import sys
p = [int(x) for x in sys.argv[1].split()]
assert p and p[0] <= 10, p
assert all(b >= a for a, b in zip(p, p[1:])), p
assert all(x % 10 == 0 for x in p), p
assert p[-1] >= 100, p
assert len(set(p)) >= 5, p
PYEOF
ok "the reserve price of the rare torrent grew 10 per (shortened) hour: $prices"

L=$(py_acct low)
grep -q '^sent bid 5$' "$T/log/low.out" || fail "the low bidder never bid: $(tail -n 10 "$T/log/low.out")"
grep -Eq '^bid_response [1-9]' "$T/log/low.out" && fail "the low bidder was sold to: $(grep '^bid_response' "$T/log/low.out")"
grep -q "selling to $L" "$T/log/seed.err" && fail "the seeder's auction picked the bidder below the reserve: $(grep "selling to $L" "$T/log/seed.err")"
ok "a bid of 5 below the reserve was never sold to ($(grep '^served' "$T/log/low.out"))"

H=$(py_acct high)
r=$(sed -n 's/^bid_response \([0-9]*\) .*/\1/p' "$T/log/high.out" | head -n 1)
[ -n "$r" ] && [ "$r" -gt 0 ] && [ $((r % 10)) -eq 0 ] && [ "$r" -lt 1000 ] ||
    fail "the high bidder was not sold to at the reserve price (bid_response '${r:-none}'): $(tail -n 10 "$T/log/high.out")"
grep -q "selling to $H at $r/KiB (bid 1000)" "$T/log/seed.err" || fail "the seeder did not log its sale to the high bidder at $r"
grep -q '^served 16 blocks' "$T/log/high.out" || fail "the high bidder was not served: $(tail -n 10 "$T/log/high.out")"
ok "a bid of 1000 was sold to at the reserve price of the moment ($r/KiB) and served"

P=$(py_acct proof)
grep -q "speed: $P proved it holds the torrent: reserve price back to 0/KiB" "$T/log/seed.err" ||
    fail "the seeder did not log the reserve reset; its log:
$(show_speed_log seed 15)"
after=$(sed -n '/^sent proof .* good$/,$p' "$T/log/proof.out" | sed -n 's/^reserve \([0-9]*\) .*/\1/p' | head -n 1)
[ "$after" = 0 ] || fail "the first reserve after the valid proof says '${after:-nothing}', wanted 0: $(tail -n 10 "$T/log/proof.out")"
ok "a valid source proof reset the reserve price to 0"
stop seed 30
stop ledger
finish
