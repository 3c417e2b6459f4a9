#!/bin/bash
# BitTorrent Speed against hostile Speed peers (speed_peer.py, a raw Python peer with its own
# Ed25519 key) at a btt seeder (reserve 5 units/KiB, unpaid-hold shortened to 1.5 s by
# BTT_SPEED_GUARD_HOLD_MS), docs/speed-protocol.md sections 3-4 and 6:
#
#   nopay      bids high, is sold to, requests blocks and never pays: the seeder holds it after
#              the guard's allowance, chokes it with `refuse unpaid`, bans it on the 3rd strike;
#              a reconnect from the same account is refused
#   forge      names a real channel it opened on the ledger, then pays with a bad signature:
#              `refuse bad-voucher` and a ban
#   proof      holds the data and answers the reserve challenge with a correct proof: the seeder
#              logs the reserve reset; a wrong hash for the next challenge: `refuse bad-proof`
#   malformed  garbage, mistyped, oversized and unknown Speed messages (before and after its pop,
#              with valid and invalid pops), over several connections, while an honest btt
#              downloader with a wallet downloads from the same seeder: the seeder must not crash,
#              must keep the hostile connections open (malformed Speed is never a reason to
#              disconnect) and the downloader must complete and pay exactly for what it got.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/speed_lib.sh"
need cmp

MiB=$((1024 * 1024))
RESERVE=5
speed_sale hostile.bin $((16 * MiB))

start seed env BTT_STATE_DIR="$T/state-seed" BTT_SPEED_GUARD_HOLD_MS=1500 "$BTT" seed "$T/t.torrent" \
    -d "$T/src" --bind 127.0.0.1 --port 0 --no-trackers --wallet "$T/seed.wallet" --ledger "$LEDGER" \
    --reserve-price "$RESERVE" --max-upload 3M -v
SP=$(listen_port seed)
wait_line seed '^have: ' 60 "the startup check" >/dev/null

pypeer() { # NAME MODE ARGS...
    local name=$1 mode=$2
    shift 2
    start "$name" "$PY" "$SW/speed_peer.py" "$T/t.torrent" --connect "127.0.0.1:$SP" --ledger-id "$LEDGER_ID" \
        --name "speed-hostile-$name" --mode "$mode" "$@"
}
py_acct() { "$PROBE" account "speed-hostile-$1"; }
seed_has() { grep -Eq -- "$1" "$T/log/seed.err"; }
py_has() { grep -Eq -- "$2" "$T/log/$1.out"; }
seed_alive() {
    alive seed || { _reap seed; fail "the seeder died (status $RC)$1"; }
    if grep -Eq 'Sanitizer|runtime error:' "$T/log/seed.err"; then fail "sanitizer report in the seeder's stderr$1"; fi
}
py_done() { # NAME SECS
    wait_exit "$1" "$2"
    [ "$RC" -eq 0 ] || fail "speed_peer.py $1 exited $RC: $(tail -n 15 "$T/log/$1.out") $(tail -n 5 "$T/log/$1.err")"
}

# --- (a) nopay: held, choked with `refuse unpaid`, banned after 3 strikes; a reconnect refused
A=$(py_acct nopay)
pypeer nopay nopay --bid 100000 --connections 2 --timeout 100
py_done nopay 110
seed_alive " (after the nopay peer)"
py_has nopay '^bid_response [0-9]+ ' || fail "the nopay peer was never sold to (no bid_response): $(tail -n 20 "$T/log/nopay.out")"
n=$(grep -c '^refuse unpaid' "$T/log/nopay.out" || true)
[ "$n" -ge 2 ] || soft_fail "the nopay peer got $n 'refuse unpaid' (wanted one per strike before the ban, 2)"
seed_has "speed: banned $A: did not pay for data \(3 strikes\)" ||
    fail "the seeder did not ban the nopay peer $A for 3 strikes; its log:
$(show_speed_log seed)"
sed -n '/^connection 2$/,$p' "$T/log/nopay.out" | grep -q '^speed active' &&
    soft_fail "the banned account's reconnect became Speed-active"
seed_has "closed: speed: a banned account" || soft_fail "the seeder did not refuse the banned account's reconnect"
blocks=$(sed -nE 's/^closed 1: .*\(([0-9]+) blocks\)$/\1/p' "$T/log/nopay.out")
note "the nopay peer got ${blocks:-?} blocks before its ban"
# it may owe at most the guard's allowance (4 MiB) plus the blocks in flight
[ -n "$blocks" ] && [ "$blocks" -le $(((4 * MiB + 16 * 16384) / 16384 + 16)) ] ||
    soft_fail "the nopay peer got ${blocks:-?} blocks unpaid, more than the guard's allowance"
ok "nopay: $n x refuse unpaid, banned after 3 strikes, reconnect refused ($(grep -c '^choke' "$T/log/nopay.out") chokes)"

# --- (b) forge: a real channel, a voucher with a bad signature
F=$(py_acct forge)
probe_fund speed-hostile-forge 20000000
CH=$(probe_open speed-hostile-forge "$ACCT_seed" 10000000)
[[ "$CH" =~ ^[0-9a-f]{64}$ ]] || fail "opening the forge peer's channel gave '$CH'"
pypeer forge forge --channel "$CH" --bid 100000 --connections 2 --timeout 60
py_done forge 70
seed_alive " (after the forge peer)"
py_has forge '^sent forged pay' || fail "the forge peer never sent its forged voucher: $(tail -n 20 "$T/log/forge.out")"
py_has forge '^refuse bad-voucher' || soft_fail "the forge peer got no 'refuse bad-voucher'"
seed_has "speed: banned $F: sent a forged voucher" || soft_fail "the seeder did not ban the forge peer $F"
seed_has "refusing a channel" && soft_fail "the seeder refused the forge peer's real channel: $(grep 'refusing a channel' "$T/log/seed.err" | head -n 2)"
sed -n '/^connection 2$/,$p' "$T/log/forge.out" | grep -q '^speed active' &&
    soft_fail "the banned forge account's reconnect became Speed-active"
ok "forge: refuse bad-voucher and a ban"

# --- (c) proof: a correct source proof resets the reserve; a wrong one is refused
pypeer proof proof --data "$T/src" --timeout 60
py_done proof 70
seed_alive " (after the proof peer)"
P=$(py_acct proof)
py_has proof '^sent proof [0-9]+ [0-9]+ good' || fail "the proof peer got no reserve challenge: $(tail -n 20 "$T/log/proof.out")"
seed_has "speed: $P proved it holds the torrent: reserve price back to $RESERVE/KiB" ||
    soft_fail "the seeder did not log the reserve reset for the proof peer; its log:
$(show_speed_log seed 10)"
py_has proof '^sent proof [0-9]+ [0-9]+ bad' || soft_fail "the seeder sent no new challenge after a valid proof"
py_has proof '^refuse bad-proof' || soft_fail "the wrong proof got no 'refuse bad-proof'"
n=$(grep -c '^reserve ' "$T/log/proof.out" || true)
ok "proof: reserve reset on a good proof, bad-proof refused ($n reserve messages)"

# --- (d) malformed messages while an honest downloader is served
start dl env BTT_STATE_DIR="$T/state-dl" "$BTT" get "$T/t.torrent" -d "$T/dl" --bind 127.0.0.1 --port 0 \
    --no-trackers --peer "127.0.0.1:$SP" --wallet "$T/dl.wallet" --ledger "$LEDGER" -v
wait_line dl '^speed: account ' 30 "the Speed start line" >/dev/null
pypeer bad malformed --connections 6 --timeout 90
py_done bad 100
seed_alive " (after the malformed messages)"
n=$(grep -c '^connection still open after the malformed messages' "$T/log/bad.out" || true)
[ "$n" -eq 6 ] || soft_fail "only $n of 6 connections stayed open through the malformed Speed messages: $(grep '^closed' "$T/log/bad.out" | head -n 6 | tr '\n' ';')"
grep -q '^speed active' "$T/log/bad.out" || soft_fail "the malformed peer's connections with a valid pop never became Speed-active"
wait_exit dl 100
expect_complete dl
same_file "$T/src/hostile.bin" "$T/dl/hostile.bin" "honest downloader"
ok "malformed: 6 connections of garbage, the seeder kept serving; the honest downloader completed"

# --- settlement: the honest downloader paid exactly what it printed; the forge channel is refunded
stop seed 60
[ "$RC" -eq 0 ] || fail "the seeder exited $RC on SIGTERM"
spent=$(spent_of dl)
earned=$(earned_of seed)
S1=$(balance "$ACCT_seed")
D1=$(balance "$ACCT_dl")
note "downloader spent $spent ($D0 -> $D1); seeder earned $earned ($S0 -> $S1)"
[ "$spent" -gt 0 ] || soft_fail "the honest downloader paid nothing"
[ $((D0 - D1)) -eq "$spent" ] || soft_fail "the downloader's balance fell by $((D0 - D1)), it printed spent $spent"
[ $((S1 - S0)) -eq "$earned" ] || soft_fail "the seeder's balance rose by $((S1 - S0)), it printed earned $earned"
[ "$earned" -eq "$spent" ] || soft_fail "the seeder earned $earned but the downloader spent $spent"
fb=$(balance "$F")
[ "$fb" -eq 20000000 ] || soft_fail "the forge peer's channel was not refunded in full: balance $fb, wanted 20000000"
invariant_ok unlocked
stop ledger
finish
