# shellcheck shell=bash
# Helpers for the BitTorrent Speed swarm tests (docs/speed-protocol.md). Source it right after
# lib.sh. Everything runs on 127.0.0.1.
#
# Gives:
#   $PROBE                  tests/unit/ledger/ledger_client_probe of this build (deterministic
#                           wallets named by strings, signed ledger operations)
#   ledger_start [NAME]     `btt ledger serve` on a fresh SQLite db with the probe's genesis
#                           (supply 1,000,000 BTT; faucet 100 BTT at 8 bits) on 127.0.0.1:0;
#                           sets LEDGER (http://127.0.0.1:PORT) and LEDGER_ID (hex)
#   wallet_make NAME        a wallet file $T/NAME.wallet (password $BTT_WALLET_PASSWORD) funded
#                           by the faucet (100 BTT); sets ACCT_<NAME> to its btt1... account
#   account_of_wallet FILE  the wallet's btt1... account
#   balance ACCT            the account's balance in units (0 for an unknown account)
#   ledger_get PATH         GET $LEDGER$PATH (body on stdout; fails on a transport error)
#   json_field FIELD        reads one JSON object on stdin, prints its FIELD
#   invariant_ok            fails unless GET /v1/invariant says ok, with nothing locked left
#                           when given "unlocked" as first argument
#   ledger_submit RID HEX   POST /v1/ops; fails unless the receipt's result is ok; prints the
#                           receipt
#   probe_fund NAME UNITS   transfers UNITS from the probe's pool-onboarding wallet to the
#                           probe wallet NAME (nonces counted here)
#   probe_open NAME PAYEE UNITS  NAME (a probe wallet) opens a channel paying PAYEE (btt1...)
#                           with deposit UNITS for a day; prints the channel id (hex)
#   btt_units DECIMAL       "1.25" (BTT, up to 6 decimals) -> 1250000 units
#   spent_of NAME / earned_of NAME   units from NAME's final "speed: spent X BTT, earned Y BTT"

#   show_speed_log NAME     NAME's speed log lines (for failure messages)
#   wait_honest SECS SEEDER NAME...   waits until every btt process NAME has exited, failing at
#                           once (with the Speed logs) when an honest payer is refused a voucher
#                           or a channel, choked as unpaid or banned: a payment stall would
#                           otherwise only show as a timeout
set -E

PROBE=${BTT_LEDGER_PROBE:-$(dirname "$BTT")/tests/unit/ledger/ledger_client_probe}
[ -x "$PROBE" ] || fail "no ledger_client_probe at $PROBE (build the tests of this preset)"
need curl

export BTT_WALLET_PASSWORD=speed-test-pw
export BTT_DHT_BOOTSTRAP=none
_POOL_NONCE=0
declare -A _PROBE_NONCE=()

json_field() {
    "$PY" -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(str(v).lower() if isinstance(v, bool) else v)' "$1"
}

ledger_start() {
    local name=${1:-ledger}
    "$PROBE" genesis speed-test >"$T/genesis.txt" || fail "ledger_client_probe genesis failed"
    start "$name" "$BTT" ledger serve --db "$T/$name.sqlite" --genesis "$T/genesis.txt" --listen 127.0.0.1:0
    local port
    port=$(listen_port "$name")
    LEDGER=http://127.0.0.1:$port
    LEDGER_ID=$(ledger_get /v1/info | json_field ledger_id)
    [[ "$LEDGER_ID" =~ ^[0-9a-f]{64}$ ]] || fail "the ledger's /v1/info has no ledger id"
    note "ledger $LEDGER (id ${LEDGER_ID:0:16}...)"
}

# speed_sale FILE SIZE: what a sale from account `seed` to account `dl` starts with: $T/src/FILE of
# SIZE random bytes and its torrent $T/t.torrent (256 KiB pieces), a ledger, both wallets funded
# by the faucet, and their balances in S0 and D0.
speed_sale() {
    mkdir -p "$T/src" "$T/dl"
    make_data "$T/src/$1" "$2"
    btt_create "$T/src/$1" "$T/t.torrent" -p 256
    ledger_start
    wallet_make seed
    wallet_make dl
    S0=$(balance "$ACCT_seed")
    D0=$(balance "$ACCT_dl")
}

# lag_proxy NAME ARGS...: ledger_lag_proxy.py (ARGS: --lag N, --delay S) in front of the ledger,
# started as NAME; its URL in PROXY.
lag_proxy() {
    local name=$1
    shift
    start "$name" "$PY" "$SW/ledger_lag_proxy.py" "$LEDGER" "$@"
    PROXY=http://$(wait_line "$name" '^listening on ' 20 "the proxy's listen line" | sed 's/^listening on //')
}

ledger_get() {
    curl -sS --max-time 10 "$LEDGER$1" || fail "GET $LEDGER$1 failed"
}

account_of_wallet() {
    local a
    a=$("$BTT" wallet address "$1") || fail "btt wallet address $1 failed"
    [[ "$a" =~ ^btt1[a-z0-9]+$ ]] || fail "btt wallet address $1 printed '$a'"
    echo "$a"
}

wallet_make() {
    local name=$1 f=$T/$1.wallet out
    out=$("$BTT" wallet new "$f" 2>&1) || fail "btt wallet new $f: $out"
    out=$("$BTT" wallet faucet "$f" --ledger "$LEDGER" 2>&1) || fail "btt wallet faucet $f: $out"
    printf -v "ACCT_$name" '%s' "$(account_of_wallet "$f")"
    local v="ACCT_$name"
    [ "$(balance "${!v}")" -eq 100000000 ] || fail "wallet $name: the faucet did not grant 100 BTT ($out)"
}

balance() {
    local code body
    body=$(curl -sS --max-time 10 -w '\n%{http_code}' "$LEDGER/v1/accounts/$1") || fail "GET account $1 failed"
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    case "$code" in
    200) echo "$body" | json_field balance_units ;;
    404) echo 0 ;;
    *) fail "GET /v1/accounts/$1: status $code: $body" ;;
    esac
}

invariant_ok() {
    local body code locked
    body=$(curl -sS --max-time 10 -w '\n%{http_code}' "$LEDGER/v1/invariant") || fail "GET /v1/invariant failed"
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    [ "$code" = 200 ] && [ "$(echo "$body" | json_field ok)" = true ] ||
        fail "the ledger's supply invariant is broken (status $code): $body"
    if [ "${1:-}" = unlocked ]; then
        locked=$(echo "$body" | json_field locked_units)
        [ "$locked" -eq 0 ] || fail "$locked units are still locked in channels after every channel should have been settled: $body"
    fi
    note "invariant holds: $body"
}

ledger_submit() { # RID HEX
    local r
    r=$(curl -sS --max-time 20 -X POST -H 'Content-Type: application/json' \
        --data-binary "{\"request_id\":\"$1\",\"op\":\"$2\"}" "$LEDGER/v1/ops") || fail "POST /v1/ops ($1) failed"
    [ "$(echo "$r" | json_field result)" = ok ] || fail "the ledger refused operation $1: $r"
    echo "$r"
}

probe_fund() { # NAME UNITS
    _POOL_NONCE=$((_POOL_NONCE + 1))
    local hex
    hex=$("$PROBE" transfer "$LEDGER_ID" pool-onboarding "$1" "$2" "$_POOL_NONCE") || fail "probe transfer failed"
    ledger_submit "fund-$1-$_POOL_NONCE" "$hex" >/dev/null
}

probe_open() { # NAME PAYEE UNITS
    local n=$((${_PROBE_NONCE[$1]:-0} + 1)) hex r
    _PROBE_NONCE[$1]=$n
    hex=$("$PROBE" open "$LEDGER_ID" "$1" "$2" "$3" $(($(date +%s) + 86400)) "$n") || fail "probe open failed"
    r=$(ledger_submit "open-$1-$n" "$hex")
    echo "$r" | json_field channel
}

btt_units() {
    "$PY" -c '
import re, sys
s = sys.argv[1]
m = re.fullmatch(r"(\d+)(?:\.(\d{1,6}))?", s)
if not m:
    sys.exit("not an amount: %r" % s)
print(int(m.group(1)) * 10**6 + int((m.group(2) or "").ljust(6, "0")))' "$1"
}

_speed_summary() { # NAME FIELD(spent|earned)
    local line v
    line=$(grep -E '^speed: spent [0-9.]+ BTT, earned [0-9.]+ BTT$' "$T/log/$1.out" | tail -n1 || true)
    [ -n "$line" ] || fail "$1 printed no 'speed: spent X BTT, earned Y BTT' line; stdout: $(tail -n 5 "$T/log/$1.out")"
    if [ "$2" = spent ]; then v=$(echo "$line" | sed -E 's/^speed: spent ([0-9.]+) BTT.*/\1/')
    else v=$(echo "$line" | sed -E 's/.*earned ([0-9.]+) BTT$/\1/'); fi
    btt_units "$v"
}
spent_of() { _speed_summary "$1" spent; }
earned_of() { _speed_summary "$1" earned; }

show_speed_log() {
    grep -E 'speed' "$T/log/$1.err" | grep -vE 'speed: sent ' | tail -n "${2:-30}" || true
}

wait_honest() { # SECS SEEDER NAME...
    local secs=$1 seeder=$2 n any deadline bad
    shift 2
    deadline=$(($(date +%s) + secs))
    while :; do
        any=0
        for n in "$@"; do
            alive "$n" && any=1
            bad=$(grep -E -m1 'speed: peer refused: (bad-voucher|stale-voucher|unpaid)' "$T/log/$n.err" 2>/dev/null || true)
            [ -z "$bad" ] || fail "honest downloader $n was refused: '$bad'
--- $n speed log:
$(show_speed_log "$n" 15)
--- $seeder speed log:
$(show_speed_log "$seeder" 25)"
        done
        bad=$(grep -E -m1 'speed: banned ' "$T/log/$seeder.err" 2>/dev/null || true)
        [ -z "$bad" ] || fail "the seeder banned an honest downloader: '$bad'
--- $seeder speed log:
$(show_speed_log "$seeder" 25)"
        [ "$any" -eq 1 ] || return 0
        [ "$(date +%s)" -lt "$deadline" ] || fail "timeout: $* still running after $secs s"
        sleep 0.2
    done
}

# settled_exactly WANT: stops the seeder "seed" (SIGTERM: it settles its channels) and checks that
# it earned WANT units, settled a channel, and that on the ledger it gained and "dl" lost exactly
# WANT since S0 / D0 (their balances before), with nothing left locked.
settled_exactly() {
    local want=$1 earned s1 d1
    stop seed 30
    earned=$(earned_of seed)
    [ "$earned" -eq "$want" ] || fail "the seeder earned $earned units, want $want: $(show_speed_log seed)"
    grep -q 'settled a channel' "$T/log/seed.err" || fail "the seeder did not settle on SIGTERM: $(show_speed_log seed)"
    s1=$(balance "$ACCT_seed")
    d1=$(balance "$ACCT_dl")
    [ $((s1 - S0)) -eq "$want" ] || fail "the seeder gained $((s1 - S0)) units on the ledger, want $want"
    [ $((D0 - d1)) -eq "$want" ] || fail "the downloader lost $((D0 - d1)) units on the ledger, want $want"
    invariant_ok unlocked
}
