#!/bin/bash
# BitTorrent Speed end to end (docs/speed-protocol.md): a ledger, one btt seeder (reserve price
# 2 units/KiB, 2 upload slots, upload capped so the bidders contend for a while), three btt
# downloaders with different budgets (--max-spend 90, 60 and 20 BTT, so their AutoBids differ
# clearly) and one libtorrent leecher (legacy: no Speed), all on one 48 MiB torrent, peers given
# with --peer (no tracker).
#
# The auction runs at every 10 s round and at once when a new eligible bid arrives, so the
# bidders come one after the other, highest first: the first bidder alone pays the reserve, the
# second joins it at the reserve (no eligible loser yet), and when the third bids the two highest
# are re-priced together at the uniform rate max(reserve, third bid) while the third waits.
#
# Asserts: all four complete with identical bytes (the legacy leecher too); the seeder's
# "selling to" lines follow that sequence and no rate ever exceeds the peer's bid; after every
# process stopped cleanly (the seeder settles its channels on SIGTERM) each downloader's balance
# moved by exactly (earned - spent) it printed, the seeder's rose by exactly what it printed as
# earned, which equals the sum of the spends; nothing stays locked; the supply invariant holds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/speed_lib.sh"
need cmp

MiB=$((1024 * 1024))
RESERVE=2
mkdir -p "$T/src" "$T/lt"
make_data "$T/src/market.bin" $((48 * MiB))
btt_create "$T/src/market.bin" "$T/t.torrent" -p 256

ledger_start
for w in seed d1 d2 d3; do wallet_make "$w"; done
declare -A BUDGET=([d1]=90 [d2]=60 [d3]=20)
declare -A ACCT=([seed]=$ACCT_seed [d1]=$ACCT_d1 [d2]=$ACCT_d2 [d3]=$ACCT_d3)
declare -A BAL0=()
for w in seed d1 d2 d3; do BAL0[$w]=$(balance "${ACCT[$w]}"); done

speed_btt() { # NAME ARGS...: a btt process with its own state dir and wallet
    local name=$1
    shift
    start "$name" env BTT_STATE_DIR="$T/state-$name" "$BTT" "$@" --wallet "$T/$name.wallet" --ledger "$LEDGER" -v
}

# --no-pex: the bidders know only the seeder (with PEX they would trade among themselves and the
# auction's prices would no longer follow from the budgets alone)
speed_btt seed seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 --no-trackers --no-pex \
    --reserve-price "$RESERVE" --slots 2 --max-upload 6M
SP=$(listen_port seed)
wait_line seed '^have: ' 60 "the startup check" >/dev/null

# wait_err NAME ERE SECS: the first line of NAME's stderr matching ERE
wait_err() {
    local name=$1 re=$2 secs=$3 deadline line
    deadline=$(($(date +%s) + secs))
    while :; do
        line=$(grep -E -m1 -- "$re" "$T/log/$name.err" 2>/dev/null || true)
        [ -n "$line" ] && { printf '%s\n' "$line"; return 0; }
        alive "$name" || fail "$name exited before logging /$re/"
        [ "$(date +%s)" -lt "$deadline" ] || fail "timeout: $name logged no line matching /$re/ within $secs s"
        sleep 0.1
    done
}

# The seeder's "selling to ACCT at R/KiB (bid B)" lines as "ACCT R B", in order.
sales() {
    sed -nE 's/.*speed: selling to (btt1[a-z0-9]+) at ([0-9]+)\/KiB \(bid ([0-9]+)\).*/\1 \2 \3/p' "$T/log/seed.err"
}
sold_to() { # NAME: the seeder has a selling line for NAME
    sales | grep -q "^${ACCT[$1]} "
}
wait_sold() { # NAME SECS
    local deadline=$(($(date +%s) + $2))
    until sold_to "$1"; do
        alive seed || fail "the seeder exited"
        [ "$(date +%s)" -lt "$deadline" ] || fail "the seeder never sold to $1 within $2 s; its speed log:
$(show_speed_log seed)"
        sleep 0.1
    done
}

for d in d1 d2 d3; do
    speed_btt "$d" get "$T/t.torrent" -d "$T/$d" --bind 127.0.0.1 --port 0 --no-trackers \
        --peer "127.0.0.1:$SP" --max-spend "${BUDGET[$d]}"
    wait_line "$d" "^speed: account ${ACCT[$d]} .* budget ${BUDGET[$d]} BTT" 30 "the Speed start line" >/dev/null
    if [ "$d" != d3 ]; then
        wait_sold "$d" 30
    else
        wait_err seed "speed: active with ${ACCT[d3]}" 30 >/dev/null
    fi
done
start lt "$PY" "$SW/lt_get.py" "$T/t.torrent" "$T/lt" --peer "127.0.0.1:$SP" --timeout 150

wait_honest 150 seed d1 d2 d3
for n in d1 d2 d3; do
    wait_exit "$n" 5
    expect_complete "$n"
    same_file "$T/src/market.bin" "$T/$n/market.bin" "$n"
done
wait_exit lt 150
[ "$RC" -eq 0 ] || fail "the libtorrent (legacy) leecher failed (exit $RC): $(err_of lt | tail -n 5)"
same_file "$T/src/market.bin" "$T/lt/market.bin" "libtorrent leecher"
ok "three Speed downloaders and a legacy libtorrent leecher completed with identical bytes"

# --- the bids each downloader sent (the seeder logs them with every sale; AutoBid sends one bid
# in the first minute, so each peer's bid is one value here)
declare -A BID=()
while read -r a r b; do
    for n in d1 d2 d3; do [ "$a" = "${ACCT[$n]}" ] && BID[$n]=$b; done
    [ "$r" -le "$b" ] || soft_fail "the seeder sold to $a at $r/KiB, above its bid of $b"
done < <(sales)
[ -n "${BID[d1]:-}" ] && [ -n "${BID[d2]:-}" ] || fail "no sale to d1 or d2 recorded; seeder's speed log:
$(show_speed_log seed)"
# the third bid: d3 may never be sold to (it loses the auction, and may complete from the
# others); the seeder logs every bid it receives
if [ -z "${BID[d3]:-}" ]; then
    BID[d3]=$(sed -n "s/.*speed: ${ACCT[d3]} bids \([0-9]*\)\/KiB\$/\1/p" "$T/log/seed.err" | head -n 1)
    [ -n "${BID[d3]}" ] || fail "the seeder logged no bid from d3: $(show_speed_log seed)"
    note "d3 was never sold to; its bid, from the seeder's log: ${BID[d3]}"
fi
note "bids: d1 ${BID[d1]}, d2 ${BID[d2]}, d3 ${BID[d3]} units/KiB (reserve $RESERVE)"
[ "${BID[d1]}" -gt "${BID[d2]}" ] && [ "${BID[d2]}" -gt "${BID[d3]}" ] && [ "${BID[d3]}" -gt "$RESERVE" ] ||
    fail "the budgets 90/60/20 BTT should give bids d1 > d2 > d3 > reserve, got ${BID[d1]}/${BID[d2]}/${BID[d3]}"

# --- the sequence of sales: d1 at the reserve, d2 at the reserve, then d1 and d2 (in either
# order) at max(reserve, d3's bid), with no sale to d3 before.
UNIFORM=$((BID[d3] > RESERVE ? BID[d3] : RESERVE))
mapfile -t S < <(sales | head -n 4)
[ "${#S[@]}" -ge 4 ] || fail "fewer than 4 sales logged: $(sales | tr '\n' ';')"
want1="${ACCT[d1]} $RESERVE ${BID[d1]}"
want2="${ACCT[d2]} $RESERVE ${BID[d2]}"
[ "${S[0]}" = "$want1" ] || soft_fail "sale 1 should be d1 alone at the reserve ('$want1'), got '${S[0]}'"
[ "${S[1]}" = "$want2" ] || soft_fail "sale 2 should be d2 at the reserve (no eligible loser yet: '$want2'), got '${S[1]}'"
pair=$(printf '%s\n' "${S[2]}" "${S[3]}" | sort | tr '\n' ';')
wantp=$(printf '%s\n' "${ACCT[d1]} $UNIFORM ${BID[d1]}" "${ACCT[d2]} $UNIFORM ${BID[d2]}" | sort | tr '\n' ';')
[ "$pair" = "$wantp" ] ||
    soft_fail "once d3 bid, d1 and d2 should be re-priced together at the uniform rate max(reserve, d3's bid) = $UNIFORM while d3 waits; got '$pair' (wanted '$wantp')"
first_d3=$(sales | grep -n "^${ACCT[d3]} " | head -n1 | cut -d: -f1 || true)
if [ -n "$first_d3" ] && [ "$first_d3" -le 4 ]; then
    soft_fail "d3 (the lowest bidder) was sold to before the two highest were re-priced (sale $first_d3)"
fi
ok "auction: d1 then d2 at the reserve $RESERVE; with d3 bidding ${BID[d3]}, both re-priced to $UNIFORM; every rate <= the bid ($(sales | wc -l) sales)"

# --- settlement: the seeder closes its channels when it stops
stop seed 60
[ "$RC" -eq 0 ] || fail "the seeder exited $RC on SIGTERM, wanted 0"
grep -q 'speed: settled a channel' "$T/log/seed.err" || fail "the seeder settled no channel on SIGTERM:
$(show_speed_log seed)"
if grep -E 'speed: closing a channel failed' "$T/log/seed.err"; then
    soft_fail "the seeder failed to close a channel"
fi

sum_spent=0
for n in d1 d2 d3; do
    sp=$(spent_of "$n")
    ea=$(earned_of "$n")
    now=$(balance "${ACCT[$n]}")
    delta=$((now - BAL0[$n]))
    note "$n: spent $sp, earned $ea units; balance ${BAL0[$n]} -> $now"
    [ "$delta" -eq $((ea - sp)) ] ||
        soft_fail "$n: balance moved by $delta units, but it printed spent $sp and earned $ea (expected $((ea - sp)))"
    budget_units=$((BUDGET[$n] * 1000000))
    [ "$sp" -le "$budget_units" ] || soft_fail "$n spent $sp units, above its --max-spend of ${BUDGET[$n]} BTT"
    sum_spent=$((sum_spent + sp - ea))
done
[ "$(spent_of d1)" -gt 0 ] && [ "$(spent_of d2)" -gt 0 ] || soft_fail "d1 and d2 won the auction but one of them spent nothing"
seed_earned=$(earned_of seed)
seed_now=$(balance "${ACCT[seed]}")
note "seeder: earned $seed_earned units; balance ${BAL0[seed]} -> $seed_now"
[ $((seed_now - BAL0[seed])) -eq "$seed_earned" ] ||
    soft_fail "the seeder's balance rose by $((seed_now - BAL0[seed])) units but it printed earned $seed_earned"
[ "$seed_earned" -eq "$sum_spent" ] ||
    soft_fail "the seeder earned $seed_earned units but the downloaders spent $sum_spent net"
invariant_ok unlocked
ok "ledger: every balance moved by exactly what its client printed (seeder +$seed_earned = downloaders' spends)"
stop ledger
finish
