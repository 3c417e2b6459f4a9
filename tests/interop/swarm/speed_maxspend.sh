#!/bin/bash
# --max-spend bounds what a run takes out of the wallet (docs/speed-protocol.md 3.4): a btt
# downloader with --max-spend 0.2 BTT buys an 8 MiB torrent from two btt seeders (reserve 20
# uBTT/KiB each, 1 MiB/s each). Its first channel locks the whole budget (the rest of the torrent
# at the reserve plus the seeder's least deposit is more than 0.2 BTT), so the second seeder's
# least deposit does not fit: the downloader gives that seller up (bids 0 to it, leaves its
# charging connection before any charged data, takes only its free data on the next one) and
# goes on buying from the first with the channel it funded.
#
# Asserts, on the ledger: while the channels are open the downloader's balance is at most 0.2 BTT
# below its start (no deposit or top-up beyond the budget); after the seeders settle it fell by
# exactly the `spent` it printed, at most 0.2 BTT, and the seeders' gains add up to it; the data
# is exact; the supply invariant holds with nothing left locked.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/speed_lib.sh"

MiB=$((1024 * 1024))
RESERVE=20
MAX=200000 # units: --max-spend 0.2
mkdir -p "$T/src" "$T/dl"
make_data "$T/src/max.bin" $((8 * MiB))
btt_create "$T/src/max.bin" "$T/t.torrent" -p 256

ledger_start
wallet_make s1
wallet_make s2
wallet_make dl
D0=$(balance "$ACCT_dl")
A0=$(balance "$ACCT_s1")
B0=$(balance "$ACCT_s2")

for s in s1 s2; do
    start "$s" env BTT_STATE_DIR="$T/state-$s" "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 \
        --no-trackers --wallet "$T/$s.wallet" --ledger "$LEDGER" --reserve-price "$RESERVE" --max-upload 1M -v
done
P1=$(listen_port s1)
P2=$(listen_port s2)
wait_line s1 '^have: ' 60 "s1's startup check" >/dev/null
wait_line s2 '^have: ' 60 "s2's startup check" >/dev/null

start dl env BTT_STATE_DIR="$T/state-dl" "$BTT" get "$T/t.torrent" -d "$T/dl" --bind 127.0.0.1 --port 0 \
    --no-trackers --peer "127.0.0.1:$P1" --peer "127.0.0.1:$P2" --wallet "$T/dl.wallet" --ledger "$LEDGER" \
    --max-spend 0.2 -v
wait_line dl '^speed: account .* budget 0\.2 BTT' 30 "the Speed start line with the budget" >/dev/null
low=$D0
while alive dl; do
    b=$(balance "$ACCT_dl")
    [ "$b" -lt "$low" ] && low=$b
    sleep 0.2
done
wait_exit dl 5
[ "$RC" -eq 0 ] || fail "the downloader exited $RC: $(tail -n 5 "$T/log/dl.err")"
expect_complete dl
same_file "$T/src/max.bin" "$T/dl/max.bin" "the downloader's copy"
# the channels are still open (the seeders settle when they stop): what is locked shows now
b=$(balance "$ACCT_dl")
[ "$b" -lt "$low" ] && low=$b
note "the downloader's balance went down to $low during the run ($((D0 - low)) units locked or paid)"
[ $((D0 - low)) -le "$MAX" ] || fail "the downloader locked $((D0 - low)) units, above --max-spend ($MAX); its log:
$(show_speed_log dl)"
[ $((D0 - low)) -gt 0 ] || fail "the downloader never opened a channel"
grep -q 'speed: the budget of 0.2 BTT (locked 0.2) cannot fund a channel to ' "$T/log/dl.err" ||
    fail "the downloader never gave up the second seller; its log:
$(show_speed_log dl)"
grep -Eq 'closed: speed: budget used up: no more paid data from this seeder' "$T/log/dl.err" ||
    fail "the downloader did not leave the seller it could not pay"
n=$(grep -c 'opened a channel' "$T/log/dl.err" || true)
[ "$n" -eq 1 ] || fail "the downloader opened $n channels, wanted 1 (the second seller does not fit)"
ok "the budget was all locked in one channel ($((D0 - low)) units); the other seller given up; the download completed"

stop s1 60
[ "$RC" -eq 0 ] || fail "s1 exited $RC on SIGTERM"
stop s2 60
[ "$RC" -eq 0 ] || fail "s2 exited $RC on SIGTERM"
spent=$(spent_of dl)
e1=$(earned_of s1)
e2=$(earned_of s2)
D1=$(balance "$ACCT_dl")
A1=$(balance "$ACCT_s1")
B1=$(balance "$ACCT_s2")
note "downloader spent $spent ($D0 -> $D1); s1 earned $e1 ($A0 -> $A1), s2 earned $e2 ($B0 -> $B1)"
[ "$spent" -gt 0 ] || fail "the downloader paid nothing"
[ "$e1" -eq 0 ] || [ "$e2" -eq 0 ] || fail "both seeders were paid ($e1, $e2): one should have been given up"
[ "$spent" -le "$MAX" ] || fail "the downloader spent $spent units, above --max-spend ($MAX)"
[ $((D0 - D1)) -eq "$spent" ] || fail "the downloader's balance fell by $((D0 - D1)), it printed spent $spent"
[ $((A1 - A0)) -eq "$e1" ] || fail "s1's balance rose by $((A1 - A0)), it printed earned $e1"
[ $((B1 - B0)) -eq "$e2" ] || fail "s2's balance rose by $((B1 - B0)), it printed earned $e2"
[ $((e1 + e2)) -eq "$spent" ] || fail "the seeders earned $((e1 + e2)), the downloader spent $spent"
invariant_ok unlocked
ok "settled: the downloader paid exactly $spent units (<= $MAX), all of it to the seeders"
stop ledger
finish
