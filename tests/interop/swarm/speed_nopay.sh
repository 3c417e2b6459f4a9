#!/bin/bash
# BitTorrent Speed: a bidder that does not pay is held, choked and finally banned, and a legacy
# peer is served meanwhile. The bidder is a real btt downloader that keeps its money on another
# server of the same ledger (same genesis, so the same ledger id, but another database): its
# channels and vouchers look right but exist nowhere the seeder checks, so it never really pays.
#
# Asserts: the seeder sells to the bidder at the reserve price; the bidder receives no more than
# the guard's allowance (max(2 pieces, 4 MiB)) plus the blocks in flight; the seeder refuses it
# with `unpaid` after the hold (BTT_SPEED_GUARD_HOLD_MS shortens the 30 s hold to 1.5 s) and bans it
# on the third strike; a libtorrent leecher in the same swarm completes with exact data.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp curl
probe=$(dirname "$BTT")/tests/unit/ledger/ledger_client_probe
[ -x "$probe" ] || fail "no $probe"
export BTT_WALLET_PASSWORD=speed-test BTT_SPEED_GUARD_HOLD_MS=1500

"$probe" genesis speed-nopay > "$T/genesis.txt"
start ledger "$BTT" ledger serve --db "$T/ledger.db" --genesis "$T/genesis.txt" --listen 127.0.0.1:0
L=http://$(wait_line ledger '^listening on ' 30 "the ledger" | sed 's/^listening on //')
start ledger2 "$BTT" ledger serve --db "$T/ledger2.db" --genesis "$T/genesis.txt" --listen 127.0.0.1:0
L2=http://$(wait_line ledger2 '^listening on ' 30 "the second ledger server" | sed 's/^listening on //')
"$BTT" wallet new "$T/seeder.wallet" > /dev/null
"$BTT" wallet faucet "$T/seeder.wallet" --ledger "$L" > /dev/null 2>&1 || fail "faucet for the seeder"
"$BTT" wallet new "$T/bidder.wallet" > /dev/null
"$BTT" wallet faucet "$T/bidder.wallet" --ledger "$L2" > /dev/null 2>&1 || fail "faucet for the bidder"
bidder=$("$BTT" wallet address "$T/bidder.wallet")

mkdir -p "$T/src"
size=$((40 * 1024 * 1024))
make_data "$T/src/data.bin" "$size"
btt_create "$T/src/data.bin" "$T/t.torrent" -p 256
# --no-pex: the bidder must get its data from the seeder only (with PEX it learns the libtorrent
# downloader and gets the data from it, unpaid, before the seeder has a reason to ban it)
start seed env BTT_STATE_DIR="$T/state/seeder" "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 \
    --no-trackers --no-pex --wallet "$T/seeder.wallet" --ledger "$L" --reserve-price 5 --max-upload 4M -v
port=$(listen_port seed)

start bid env BTT_STATE_DIR="$T/state/bidder" "$BTT" get "$T/t.torrent" -d "$T/dl" --bind 127.0.0.1 --port 0 \
    --no-trackers --peer 127.0.0.1:"$port" --wallet "$T/bidder.wallet" --ledger "$L2" -v
start lt "$PY" "$SW/lt_get.py" "$T/t.torrent" "$T/dl-lt" --peer "127.0.0.1:$port" --timeout 150

deadline=$((SECONDS + 120))
until grep -q "speed: banned $bidder" "$T/log/seed.err"; do
    [ $SECONDS -lt $deadline ] || fail "the seeder did not ban the bidder that never paid: $(grep speed "$T/log/seed.err" | tail -5)"
    sleep 0.5
done
grep -q "selling to $bidder at 5/KiB" "$T/log/seed.err" || fail "the seeder never sold to the bidder at the reserve"
strikes=$(grep -c "peer refused: unpaid" "$T/log/bid.err" || true)
[ "$strikes" -ge 2 ] || fail "the bidder was told 'unpaid' $strikes times before the ban, want at least 2"
ok "the non-paying bidder was held, choked with 'unpaid' ($strikes times) and banned"

# what it got for free is bounded by the guard
got=$(grep -E '^progress:' "$T/log/bid.out" | tail -1 | sed -n 's/^progress: \([0-9.]*\)%.*/\1/p')
bytes=$(/usr/bin/python3 -c "print(int(float('${got:-0}') * $size / 100))")
limit=$((4 * 1024 * 1024 + 2 * 256 * 1024 + 2 * 1024 * 1024)) # allowance + a piece + what was in flight
[ "$bytes" -le "$limit" ] || fail "the bidder got about $bytes bytes without paying, more than $limit"
ok "the bidder got about $bytes bytes unpaid (the guard allows 4 MiB)"
stop bid
wait_exit lt 160
[ "$RC" = 0 ] || fail "the libtorrent leecher failed (exit $RC)"
same_file "$T/src/data.bin" "$T/dl-lt/data.bin" "the libtorrent leecher's copy"
ok "the legacy leecher completed in the same swarm"
stop seed
stop ledger2
finish
