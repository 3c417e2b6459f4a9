#!/bin/bash
# A seeder's refusal of a channel is not the ledger's word (docs/speed-protocol.md 3.6, 3.8): a
# btt seeder looks channels up through a lagging view of the ledger (ledger_lag_proxy.py: the
# first lookup of each channel answers 404 unknown-channel), so it refuses the downloader's
# freshly opened channel with bad-channel. The btt downloader asks the ledger itself, finds the
# channel open, names it again with its last voucher, and goes on paying through it: it never
# books a live channel as settled and never opens a second one.
#
# Asserts: the proxy lagged the seeder's first lookup; the downloader logged the refusal, the
# ledger's answer and the renaming; exactly one channel was opened; the data is exact; the
# downloader's spent = the seeder's earned = floor(reserve * size / 1024); after the seeder
# settles, the balances moved by exactly that and the invariant holds with nothing locked.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/speed_lib.sh"

MiB=$((1024 * 1024))
RESERVE=5
SIZE=$((8 * MiB))
speed_sale r.bin "$SIZE"
lag_proxy lag --lag 1
LAGGED=$PROXY
start seed env BTT_STATE_DIR="$T/state-seed" "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 \
    --no-trackers --wallet "$T/seed.wallet" --ledger "$LAGGED" --reserve-price "$RESERVE" --max-upload 4M -v
P=$(listen_port seed)
wait_line seed '^have: ' 60 "the seeder's startup check" >/dev/null
start dl env BTT_STATE_DIR="$T/state-dl" "$BTT" get "$T/t.torrent" -d "$T/dl" --bind 127.0.0.1 --port 0 \
    --no-trackers --peer "127.0.0.1:$P" --wallet "$T/dl.wallet" --ledger "$LEDGER" -v
wait_exit dl 90
[ "$RC" -eq 0 ] || fail "the downloader exited $RC: $(show_speed_log dl)"
expect_complete dl
same_file "$T/src/r.bin" "$T/dl/r.bin" "the downloader's copy"

grep -q '^lagged ' "$T/log/lag.out" || fail "the proxy never answered a channel lookup itself"
grep -q 'speed: peer refused: bad-channel' "$T/log/dl.err" || fail "the seeder did not refuse the channel; the downloader's log:
$(show_speed_log dl)"
grep -q 'the ledger holds it open: naming it again' "$T/log/dl.err" ||
    fail "the downloader did not check the refused channel on the ledger and name it again:
$(show_speed_log dl)"
grep -q 'opening a new one' "$T/log/dl.err" && fail "the downloader gave up a live channel:
$(show_speed_log dl)"
n=$(grep -c 'speed: opened a channel' "$T/log/dl.err" || true)
[ "$n" -eq 1 ] || fail "the downloader opened $n channels, want 1:
$(show_speed_log dl)"
ok "a channel refused by a seeder with a lagging ledger view was checked on the ledger, named again and kept"

want=$((RESERVE * SIZE / 1024))
spent=$(spent_of dl)
[ "$spent" -eq "$want" ] || fail "the downloader spent $spent units, want $want"
settled_exactly "$want"
ok "paid exactly $want units for $SIZE bytes at $RESERVE/KiB through the one channel; balances moved by exactly that"
stop lag
stop ledger
finish
