#!/bin/bash
# BitTorrent Speed: a seeder SIGKILLed mid-download loses nothing it was paid. The seeder (reserve
# 5 units/KiB, upload capped so the download takes a while) is killed once it has accepted
# vouchers; its Speed book (state dir, speed.sqlite) holds the best voucher of the downloader's
# channel. Restarted on the same state dir and port, it settles that channel at once ("settling 1
# channel(s) left open by an earlier run") for exactly the booked amount. The downloader, which
# kept running, reconnects to it; its old channel is closed now, so the seeder answers
# `refuse bad-channel` and the downloader opens a new channel and completes.
#
# Asserts: correct data; the restarted seeder settled the booked amount of the old channel; the
# seeder's balance rose by exactly what its settlements say (old channel + the new one, closed on
# SIGTERM) and the downloader's fell by the same; the downloader's printed "spent" is that amount
# (less at most the vouchers in flight when the seeder was killed, which it never received);
# nothing stays locked; the supply invariant holds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/speed_lib.sh"
need cmp

MiB=$((1024 * 1024))
RESERVE=5
speed_sale crash.bin $((24 * MiB))
PORT=$(free_port)
BOOK=$T/state-seed/speed.sqlite

seed_run() { # NAME
    start "$1" env BTT_STATE_DIR="$T/state-seed" "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 \
        --port "$PORT" --no-trackers --wallet "$T/seed.wallet" --ledger "$LEDGER" --reserve-price "$RESERVE" \
        --max-upload 2M -v
}

# book_payee_amount: "AMOUNT SEQ STATE" of the (single) channel paying the seeder in its book
book_payee() {
    "$PY" - "$BOOK" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
rows = db.execute("SELECT amount, seq, state FROM channels WHERE role = 2 ORDER BY opened").fetchall()
print(" ".join("%d %d %d" % r for r in rows))
EOF
}

seed_run seed1
wait_line seed1 "^listening on .*:$PORT$" 60 "the listen line" >/dev/null
start dl env BTT_STATE_DIR="$T/state-dl" "$BTT" get "$T/t.torrent" -d "$T/dl" --bind 127.0.0.1 --port 0 \
    --no-trackers --peer "127.0.0.1:$PORT" --wallet "$T/dl.wallet" --ledger "$LEDGER" -v

# wait until the seeder has booked some vouchers, well before the download is over
deadline=$(($(date +%s) + 60))
while :; do
    row=$(book_payee 2>/dev/null || true)
    set -- $row
    if [ "$#" -ge 3 ] && [ "$1" -ge $((RESERVE * 1024)) ]; then break; fi
    alive dl || fail "the downloader exited before the seeder booked a voucher"
    [ "$(date +%s)" -lt "$deadline" ] || fail "the seeder booked no voucher within 60 s; its log:
$(show_speed_log seed1)"
    sleep 0.2
done
kill -KILL "$(pid_of seed1)"
_reap seed1
[ "$RC" -eq 137 ] || fail "the seeder was SIGKILLed but exited $RC"
grep -q '^complete:' "$T/log/dl.out" && fail "the download was already complete when the seeder was killed: make it slower"
row=$(book_payee)
set -- $row
[ "$#" -eq 3 ] || fail "the seeder's book should hold exactly one channel paying it, got '$row'"
BOOKED=$1
[ "$3" -eq 0 ] || fail "the killed seeder's book says its channel is settled already ('$row')"
note "seeder killed; its book holds voucher seq $2 for $BOOKED units"

# restart on the same state dir and port: it settles the old channel at once
seed_run seed2
wait_line seed2 "^listening on .*:$PORT$" 60 "the listen line" >/dev/null
deadline=$(($(date +%s) + 30))
until grep -q 'speed: settled a channel' "$T/log/seed2.err"; do
    alive seed2 || fail "the restarted seeder exited"
    [ "$(date +%s)" -lt "$deadline" ] || fail "the restarted seeder settled nothing within 30 s:
$(show_speed_log seed2)"
    sleep 0.2
done
grep -q 'speed: settling 1 channel(s) left open by an earlier run' "$T/log/seed2.err" ||
    soft_fail "the restarted seeder did not say 'settling 1 channel(s) left open by an earlier run'"
first=$(grep -m1 'speed: settled a channel' "$T/log/seed2.err" | sed -E 's/.*settled a channel: ([0-9.]+) BTT.*/\1/')
[ "$(btt_units "$first")" -eq "$BOOKED" ] ||
    soft_fail "the restarted seeder settled $first BTT for the old channel, its book said $BOOKED units"
ok "the restarted seeder settled the killed run's channel for its booked $BOOKED units"

wait_honest 120 seed2 dl
wait_exit dl 5
expect_complete dl
same_file "$T/src/crash.bin" "$T/dl/crash.bin" "downloader"
grep -q 'speed: peer refused: bad-channel' "$T/log/dl.err" ||
    soft_fail "the downloader never got 'refuse bad-channel' for its settled channel"
n_open=$(grep -c 'speed: opened a channel' "$T/log/dl.err" || true)
[ "$n_open" -ge 2 ] || soft_fail "the downloader should have opened a second channel after the old one was closed ($n_open opened)"
ok "the downloader reconnected, was told bad-channel, opened channel #$n_open and completed"

stop seed2 60
[ "$RC" -eq 0 ] || fail "the restarted seeder exited $RC on SIGTERM"
settled_sum=0
while read -r x; do settled_sum=$((settled_sum + $(btt_units "$x"))); done < <(
    sed -nE 's/.*speed: settled a channel: ([0-9.]+) BTT.*/\1/p' "$T/log/seed2.err")
earned2=$(earned_of seed2)
[ $((settled_sum - BOOKED)) -eq "$earned2" ] ||
    soft_fail "the second run printed earned $earned2 units but settled $((settled_sum - BOOKED)) beyond the old channel"

S1=$(balance "$ACCT_seed")
D1=$(balance "$ACCT_dl")
spent=$(spent_of dl)
note "seeder: $S0 -> $S1 (settled $settled_sum); downloader: $D0 -> $D1 (printed spent $spent)"
[ $((S1 - S0)) -eq "$settled_sum" ] ||
    soft_fail "the seeder's balance rose by $((S1 - S0)) units, its settlements say $settled_sum"
[ $((D0 - D1)) -eq $((S1 - S0)) ] ||
    soft_fail "the downloader's balance fell by $((D0 - D1)) units, the seeder's rose by $((S1 - S0))"
lost=$((spent - (D0 - D1)))
# vouchers the killed seeder never read: at most the guard's allowance plus a piece (the
# allowance grows to half of what was served: at most 12 MiB of this 24 MiB torrent)
[ "$lost" -ge 0 ] && [ "$lost" -le $((RESERVE * (12288 + 256))) ] ||
    soft_fail "the downloader printed spent $spent units but paid $((D0 - D1)) on the ledger"
[ "$lost" -eq 0 ] || note "$lost units of vouchers were in flight when the seeder was killed"
invariant_ok unlocked
ok "balances add up: seeder +$((S1 - S0)), downloader -$((D0 - D1)) units"
stop ledger
finish
