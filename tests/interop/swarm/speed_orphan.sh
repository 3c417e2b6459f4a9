#!/bin/bash
# A voucher that arrives while the seeder is still asking the ledger about its channel is not lost
# when the connection closes before the answer: a btt seeder reads the ledger through
# ledger_lag_proxy.py --delay 3 (every channel look-up answered 3 s late), so a btt downloader of a
# 2 MiB torrent (inside the seeder's 4 MiB allowance: it is served before paying) completes, sends
# its vouchers and exits before the seeder has confirmed the channel. The seeder takes the newest
# of those vouchers from the pending look-up (checking its signature, the deposit and its seq).
#
# Asserts: the downloader completed and exited; the seeder logged taking the voucher of the
# closed connection (so it came before the look-up's answer); it earned exactly what the downloader spent
# (floor(reserve * size / 1024)), and after it settles the ledger moved exactly that.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/speed_lib.sh"

MiB=$((1024 * 1024))
RESERVE=5
SIZE=$((2 * MiB))
speed_sale o.bin "$SIZE"
lag_proxy slow --delay 3
SLOW=$PROXY
start seed env BTT_STATE_DIR="$T/state-seed" "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 \
    --no-trackers --wallet "$T/seed.wallet" --ledger "$SLOW" --reserve-price "$RESERVE" -v
P=$(listen_port seed)
wait_line seed '^have: ' 60 "the seeder's startup check" >/dev/null
start dl env BTT_STATE_DIR="$T/state-dl" "$BTT" get "$T/t.torrent" -d "$T/dl" --bind 127.0.0.1 --port 0 \
    --no-trackers --peer "127.0.0.1:$P" --wallet "$T/dl.wallet" --ledger "$LEDGER" -v
wait_exit dl 60
[ "$RC" -eq 0 ] || fail "the downloader exited $RC: $(show_speed_log dl)"
expect_complete dl
same_file "$T/src/o.bin" "$T/dl/o.bin" "the downloader's copy"
want=$((RESERVE * SIZE / 1024))
spent=$(spent_of dl)
[ "$spent" -eq "$want" ] || fail "the downloader spent $spent units, want $want"
WAIT_STREAM=err wait_line seed 'took a voucher for .* that came just before its connection closed' 20 \
    "the seeder taking the voucher of the closed connection" >/dev/null
settled_exactly "$want"
ok "vouchers that came while the ledger look-up was pending were taken after the connection closed: earned = spent = $want units"
stop slow
stop ledger
finish
