#!/bin/bash
# BitTorrent Speed end to end, on a real ledger: a btt seeder with a reserve price sells to a btt
# downloader that pays a voucher per verified piece; a libtorrent leecher (no Speed) is served in
# the same swarm. Then the seeder is killed with SIGKILL in the middle of a second sale and
# restarted: it settles what it had earned from its Speed book.
#
# Asserts: every copy is exact; the downloader paid exactly floor(reserve * bytes / 1024) units
# (reserve 5 uBTT/KiB, one bidder: the uniform price is the reserve); the seeder earned and
# settled exactly that; the ledger balances moved by exactly the vouchers; the supply invariant
# holds; after the SIGKILL the restarted seeder settles the channel of the interrupted sale, with
# the amount its book holds, and the payer's loss equals the seeder's gain; `btt wallet history`
# shows both sides of the channels.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp curl
probe=$(dirname "$BTT")/tests/unit/ledger/ledger_client_probe
[ -x "$probe" ] || fail "no $probe"
export BTT_WALLET_PASSWORD=speed-test

json() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[k]
print(d)' "$@"; }
units_of() { curl -fsS "$L/v1/accounts/$("$BTT" wallet address "$T/$1.wallet")" | json balance_units; }
invariant_ok() { [ "$(curl -fsS "$L/v1/invariant" | json ok)" = True ] || fail "the ledger's invariant is broken: $(curl -sS "$L/v1/invariant")"; }
spent_of() { sed -n 's/^speed: spent \([0-9.]*\) BTT, earned \([0-9.]*\) BTT$/\1/p' "$T/log/$1.out"; }
earned_of() { sed -n 's/^speed: spent \([0-9.]*\) BTT, earned \([0-9.]*\) BTT$/\2/p' "$T/log/$1.out"; }
to_units() { /usr/bin/python3 -c 'import sys; w,_,f=sys.argv[1].partition("."); print(int(w)*10**6+int((f+"000000")[:6]))' "$1"; }

# --- the ledger and the wallets
"$probe" genesis speed-basic > "$T/genesis.txt"
start ledger "$BTT" ledger serve --db "$T/ledger.db" --genesis "$T/genesis.txt" --listen 127.0.0.1:0
L=http://$(wait_line ledger '^listening on ' 30 "the ledger" | sed 's/^listening on //')
for w in seeder buyer; do
    "$BTT" wallet new "$T/$w.wallet" > /dev/null
    "$BTT" wallet faucet "$T/$w.wallet" --ledger "$L" > /dev/null 2>&1 || fail "faucet for $w"
done
s0=$(units_of seeder)
b0=$(units_of buyer)
[ "$b0" = 100000000 ] || fail "the buyer should hold 100 BTT after the faucet, has $b0 units"

# --- a sale: reserve 5 uBTT/KiB, one btt buyer, one libtorrent leecher
size=$((12 * 1024 * 1024 + 12345))
mkdir -p "$T/src" "$T/src2"
make_data "$T/src/data.bin" "$size"
btt_create "$T/src/data.bin" "$T/t.torrent" -p 256
start seed env BTT_STATE_DIR="$T/state/seeder" "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 \
    --no-trackers --wallet "$T/seeder.wallet" --ledger "$L" --reserve-price 5 -v
port=$(listen_port seed)
start buy env BTT_STATE_DIR="$T/state/buyer" "$BTT" get "$T/t.torrent" -d "$T/dl" --bind 127.0.0.1 --port 0 \
    --no-trackers --peer 127.0.0.1:"$port" --wallet "$T/buyer.wallet" --ledger "$L" -v
start lt "$PY" "$SW/lt_get.py" "$T/t.torrent" "$T/dl-lt" --peer "127.0.0.1:$port" --timeout 90
wait_exit buy 120
[ "$RC" = 0 ] || fail "the btt buyer failed (exit $RC)"
wait_exit lt 100
[ "$RC" = 0 ] || fail "the libtorrent leecher failed (exit $RC)"
same_file "$T/src/data.bin" "$T/dl/data.bin" "the btt buyer's copy"
same_file "$T/src/data.bin" "$T/dl-lt/data.bin" "the libtorrent leecher's copy"
grep -q "selling to .* at 5/KiB" "$T/log/seed.err" || fail "the seeder never sold at the reserve price 5"
if grep -E "selling to .* at [0-9]+/KiB \(bid [0-9]+\)" "$T/log/seed.err" |
    sed -E 's/.* at ([0-9]+)\/KiB \(bid ([0-9]+)\)/\1 \2/' | awk '$1 > $2 {bad=1} END {exit !bad}'; then
    fail "the seeder charged a rate above the bid: $(grep 'selling to' "$T/log/seed.err")"
fi
want=$((5 * size / 1024))
spent=$(to_units "$(spent_of buy)")
[ "$spent" = "$want" ] || fail "the buyer spent $spent units, want floor(5 * $size / 1024) = $want"
ok "btt bought $size bytes at the reserve price for exactly $spent units; libtorrent got the same data for free"
# On loopback pieces pass faster than one per 20 ms: vouchers cover several (docs/speed-protocol.md 3.7).
read -r vouchers pieces < <("$PY" -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("select sum(seq) from channels").fetchone()[0], db.execute("select sum(pieces) from flows").fetchone()[0])' \
    "$T/state/buyer/speed.sqlite")
[ "$pieces" -gt 0 ] && [ "$vouchers" -gt 0 ] && [ "$vouchers" -lt "$pieces" ] ||
    fail "the buyer sent $vouchers vouchers for $pieces paid pieces: none covered several"
ok "the buyer paid for $pieces pieces with $vouchers vouchers"

stop seed
[ "$RC" = 0 ] || fail "the seeder exited $RC on SIGTERM"
earned=$(to_units "$(earned_of seed)")
[ "$earned" = "$want" ] || fail "the seeder says it earned $earned units, the buyer paid $want"
grep -q "settled a channel: .* BTT earned" "$T/log/seed.err" || fail "the seeder did not settle its channel on close"
s1=$(units_of seeder)
b1=$(units_of buyer)
[ $((s1 - s0)) = "$want" ] || fail "the seeder's balance moved by $((s1 - s0)) units, want $want"
[ $((b0 - b1)) = "$want" ] || fail "the buyer's balance moved by $((b0 - b1)) units, want $want"
invariant_ok
ok "settled on SIGTERM: the balances moved by exactly the vouchers ($want units), the invariant holds"

# --- a second sale, interrupted: the seeder is SIGKILLed once it has been paid, then restarted
make_data "$T/src2/more.bin" $((64 * 1024 * 1024))
btt_create "$T/src2/more.bin" "$T/t2.torrent" -p 256
start seed2 env BTT_STATE_DIR="$T/state/seeder" "$BTT" seed "$T/t2.torrent" -d "$T/src2" --bind 127.0.0.1 \
    --port 0 --no-trackers --wallet "$T/seeder.wallet" --ledger "$L" --reserve-price 5 --max-upload 8M -v
port=$(listen_port seed2)
start buy2 env BTT_STATE_DIR="$T/state/buyer" "$BTT" get "$T/t2.torrent" -d "$T/dl2" --bind 127.0.0.1 --port 0 \
    --no-trackers --peer 127.0.0.1:"$port" --wallet "$T/buyer.wallet" --ledger "$L" -v
wait_line seed2 'earned 0\.[0-9]*[1-9]' 60 "a voucher" > /dev/null
kill_hard seed2
stop buy2
paid=$(to_units "$(spent_of buy2)")
[ "$paid" -gt 0 ] || fail "the interrupted buyer paid nothing"
book=$("$PY" -c 'import sqlite3,sys; print(sum(r[0] for r in sqlite3.connect(sys.argv[1]).execute("select amount from channels where state = 0")) or "")' "$T/state/seeder/speed.sqlite")
[ -n "$book" ] || fail "the killed seeder's book holds no open channel"
start seed3 env BTT_STATE_DIR="$T/state/seeder" "$BTT" seed "$T/t2.torrent" -d "$T/src2" --bind 127.0.0.1 \
    --port 0 --no-trackers --wallet "$T/seeder.wallet" --ledger "$L" -v
wait_line seed3 '^listening on ' 60 "the restarted seeder" > /dev/null
for _ in $(seq 100); do grep -q "settled a channel" "$T/log/seed3.err" && break; sleep 0.1; done
grep -q "settling 1 channel(s) left open by an earlier run" "$T/log/seed3.err" ||
    fail "the restarted seeder did not settle the channel left open: $(grep speed "$T/log/seed3.err")"
stop seed3
s2=$(units_of seeder)
b2=$(units_of buyer)
[ $((s2 - s1)) = "$book" ] || fail "after the restart the seeder gained $((s2 - s1)) units, its book said $book"
[ $((b1 - b2)) = $((s2 - s1)) ] || fail "the buyer lost $((b1 - b2)) units, the seeder gained $((s2 - s1))"
[ "$book" -le "$paid" ] || fail "the seeder settled $book units, more than the buyer paid ($paid)"
invariant_ok
ok "a SIGKILLed seeder settled $book of the $paid units paid before the kill after its restart; balances add up"

# --- the history on both sides
"$BTT" wallet history "$T/seeder.wallet" --state-dir "$T/state/seeder" --json > "$T/hist-seed.json"
"$BTT" wallet history "$T/buyer.wallet" --state-dir "$T/state/buyer" --json > "$T/hist-buy.json"
hs=$(to_units "$(json earned_settled < "$T/hist-seed.json")")
[ "$hs" = $((want + book)) ] || fail "the seeder's history says $hs units earned, want $((want + book)): $(cat "$T/hist-seed.json")"
n=$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["channels"]))' "$T/hist-buy.json")
[ "$n" -ge 2 ] || fail "the buyer's history lists $n channels, want 2: $(cat "$T/hist-buy.json")"
ok "btt wallet history lists the channels on both sides"
finish
