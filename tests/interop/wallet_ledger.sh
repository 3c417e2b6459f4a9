#!/bin/bash
# btt wallet balance|faucet|send|channels against a real `btt ledger serve` on 127.0.0.1 (port 0):
# the faucet's proof of work and its grant (once), transfers between two wallet files with exact
# decimal balances on both sides, --json output, rejections (exit 1, nothing changes), bad
# arguments and a wrong password (exit 2, nothing sent, no password asked for bad arguments), a
# ledger where nothing listens (exit 2, quickly), Ctrl-C during the proof of work, and channel
# listings (GET /v1/accounts/{account}/channels) after opens signed by
# tests/unit/ledger/ledger_client_probe.
set -euo pipefail
btt=${BTT_BIN:?}
probe=${BTT_LEDGER_PROBE:-$(dirname "$btt")/tests/unit/ledger/ledger_client_probe}
T=$(mktemp -d /tmp/btt-wallet-ledger.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL [wallet_ledger]: $*" >&2
    for f in "$T"/server*.err; do [ -s "$f" ] && sed 's/^/  server: /' "$f" >&2; done
    exit 1
}
[ -x "$probe" ] || fail "no probe at $probe"

# start NAME GENESIS -> sets URL (the server's base URL)
start() {
    "$btt" ledger serve --db "$T/$1.db" --genesis "$2" --listen 127.0.0.1:0 > "$T/$1.out" 2> "$T/$1.err" &
    pids+=($!)
    for _ in $(seq 300); do
        grep -q '^listening on ' "$T/$1.out" && break
        kill -0 "${pids[-1]}" 2> /dev/null || fail "server $1 exited: $(cat "$T/$1.err")"
        sleep 0.1
    done
    URL=http://$(sed -n 's/^listening on //p' "$T/$1.out")
    [[ "$URL" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "no 'listening on' line: $(cat "$T/$1.out")"
}
# field NAME < json (booleans as true/false)
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(str(v).lower() if isinstance(v,bool) else v)' "$1"; }
height() { curl -sS "$A/v1/info" | field height; }
# w ARGS...: runs btt wallet; RC, OUT, ERR
w() {
    RC=0
    timeout -k 5 120 "$btt" wallet "$@" > "$T/o" 2> "$T/e" < /dev/null || RC=$?
    OUT=$(cat "$T/o")
    ERR=$(cat "$T/e")
    [ "$RC" != 124 ] || fail "btt wallet $* hung"
    if [ "$RC" -ge 128 ] || grep -Eq 'Sanitizer|runtime error:' "$T/e"; then fail "btt wallet $* crashed ($RC): $ERR"; fi
}
expect() { # RC what
    [ "$RC" = "$1" ] || fail "$2: exit $RC, expected $1
stdout: $OUT
stderr: $ERR"
}
line() { sed -n "s/^$1: //p" <<< "$OUT"; }

"$probe" genesis wallet-test > "$T/genesis"
start server "$T/genesis"
A=$URL
export BTT_LEDGER=$A
export BTT_WALLET_PASSWORD='correct horse'

w new "$T/w1"; expect 0 "wallet new w1"
w new "$T/w2"; expect 0 "wallet new w2"
ACCT1=$("$btt" wallet address "$T/w1")
ACCT2=$("$btt" wallet address "$T/w2")

# an account the ledger does not know: zero, no password needed, exact lines
w balance "$T/w1"
expect 0 "balance of an unknown account"
[ "$OUT" = $'balance: 0 BTT\nlocked: 0 BTT\nchannels: 0\nnonce: 0' ] || fail "balance of an unknown account: '$OUT'"

# the faucet: proof of work, the grant, once
w faucet "$T/w1"
expect 0 "faucet w1"
[ "$(head -1 <<< "$OUT")" = "granted: 100 BTT" ] && [ "$(line balance)" = "100 BTT" ] || fail "faucet output: $OUT"
[[ "$(line op)" =~ ^[0-9a-f]{64}$ ]] || fail "faucet op id: $OUT"
grep -q 'solving proof of work: 2^8 expected' <<< "$ERR" || [ -z "$ERR" ] || fail "faucet stderr: $ERR"
w balance "$T/w1"
[ "$(head -1 <<< "$OUT")" = "balance: 100 BTT" ] && [ "$(line nonce)" = 1 ] || fail "balance after the faucet: $OUT"
H=$(height)
w faucet "$T/w1"
expect 1 "second faucet"
grep -q 'faucet-used' <<< "$ERR" && [ "$(wc -l <<< "$ERR")" = 1 ] || fail "second faucet: $ERR"
[ "$(height)" = "$H" ] || fail "a refused faucet changed the ledger"
w faucet "$T/w2" --json
expect 0 "faucet w2 --json"
[ "$(field result <<< "$OUT")" = ok ] && [ "$(field balance_units <<< "$OUT")" = 100000000 ] &&
    [ "$(field amount <<< "$OUT")" = 100 ] || fail "faucet --json: $OUT"

# send: exact decimals on both sides
w send "$T/w1" --to "$ACCT2" --amount 12.5
expect 0 "send 12.5"
[ "$(head -1 <<< "$OUT")" = "sent: 12.5 BTT to $ACCT2" ] && [ "$(line balance)" = "87.5 BTT" ] || fail "send output: $OUT"
[[ "$(line op)" =~ ^[0-9a-f]{64}$ ]] || fail "send op id: $OUT"
w send "$T/w2" --to "$ACCT1" --amount 0.000001 --json
expect 0 "send 0.000001 --json"
[ "$(field result <<< "$OUT")" = ok ] && [ "$(field amount <<< "$OUT")" = 0.000001 ] &&
    [ "$(field balance <<< "$OUT")" = 112.499999 ] && [ "$(field to <<< "$OUT")" = "$ACCT1" ] || fail "send --json: $OUT"
w balance "$T/w1"
[ "$(head -1 <<< "$OUT")" = "balance: 87.500001 BTT" ] && [ "$(line nonce)" = 2 ] || fail "w1 after sends: $OUT"
w balance "$T/w2" --json
expect 0 "balance --json"
[ "$(field balance <<< "$OUT")" = 112.499999 ] && [ "$(field balance_units <<< "$OUT")" = 112499999 ] &&
    [ "$(field nonce <<< "$OUT")" = 2 ] && [ "$(field account <<< "$OUT")" = "$ACCT2" ] &&
    [ "$(field locked_units <<< "$OUT")" = 0 ] && [ "$(field channels <<< "$OUT")" = 0 ] || fail "balance --json: $OUT"

# insufficient funds: exit 1 with the reason, nothing changes
H=$(height)
w send "$T/w1" --to "$ACCT2" --amount 1000
expect 1 "overdraft"
[ "$ERR" = "btt wallet: rejected: insufficient-funds (balance too low)" ] || fail "overdraft message: $ERR"
[ "$(height)" = "$H" ] || fail "a rejected send changed the height"
w balance "$T/w1"
[ "$(head -1 <<< "$OUT")" = "balance: 87.500001 BTT" ] || fail "balance after a rejected send: $OUT"

# bad --to and --amount: exit 2 before any password is asked for (none is available here)
typo=${ACCT2:0:20}$([ "${ACCT2:20:1}" = a ] && echo b || echo a)${ACCT2:21}
for args in "--to btt1nope --amount 1" "--to $typo --amount 1" "--amount 1" "--to $ACCT2 --amount -1" \
    "--to $ACCT2 --amount 0" "--to $ACCT2 --amount 1.0000001" "--to $ACCT2 --amount abc" "--to $ACCT2 --amount 1e3" \
    "--to $ACCT2 --amount 990000000001" "--to $ACCT2"; do
    # shellcheck disable=SC2086
    RC=0; env -u BTT_WALLET_PASSWORD "$btt" wallet send "$T/w1" $args > "$T/o" 2> "$T/e" < /dev/null || RC=$?
    ERR=$(cat "$T/e"); OUT=$(cat "$T/o")
    expect 2 "send $args"
    [ "$(wc -l < "$T/e")" = 1 ] && ! grep -q "password" "$T/e" || fail "send $args: $ERR"
done
w send "$T/w1" --to "$ACCT2" --amount ""
expect 2 "empty amount"
[ "$(height)" = "$H" ] || fail "bad arguments changed the ledger"

# a wrong password: exit 2, nothing sent
RC=0; BTT_WALLET_PASSWORD=wrong "$btt" wallet send "$T/w1" --to "$ACCT2" --amount 1 > "$T/o" 2> "$T/e" < /dev/null || RC=$?
ERR=$(cat "$T/e"); OUT=$(cat "$T/o")
expect 2 "wrong password"
grep -q "wrong password" "$T/e" && [ "$(wc -l < "$T/e")" = 1 ] || fail "wrong password: $ERR"
[ "$(height)" = "$H" ] || fail "a wrong password sent something"

# a ledger where nothing listens: exit 2 within a few seconds, one clear line
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
t0=$(date +%s)
for sub in balance channels "send --to $ACCT2 --amount 1" faucet; do
    # shellcheck disable=SC2086
    w $sub "$T/w1" --ledger "http://127.0.0.1:$port"
    expect 2 "$sub with no ledger"
    grep -q "127.0.0.1:$port" <<< "$ERR" && [ "$(wc -l <<< "$ERR")" = 1 ] || fail "$sub with no ledger: $ERR"
done
[ $(($(date +%s) - t0)) -le 30 ] || fail "no ledger: four commands took $(($(date +%s) - t0)) s"
w balance "$T/w1" --ledger "ftp://127.0.0.1:$port"
expect 2 "ftp URL"
[ "$(height)" = "$H" ] || fail "the failed commands changed the ledger"

# channels: w1 pays w2 (signed by the probe from w1's file), a pool pays w2, w1 has none as payee
LID=$(curl -sS "$A/v1/info" | field ledger_id)
expiry=$(($(date +%s) + 7200))
post() { curl -sS -X POST -H 'Content-Type: application/json' --data-binary "{\"request_id\":\"$1\",\"op\":\"$2\"}" "$A/v1/ops"; }
[ "$(post open1 "$("$probe" open "$LID" "file:$T/w1" "$ACCT2" 5000000 "$expiry" 3)" | field result)" = ok ] ||
    fail "open w1 -> w2"
[ "$(post open2 "$("$probe" open "$LID" pool-investors "$ACCT2" 250000 "$expiry" 1)" | field result)" = ok ] ||
    fail "open pool -> w2"
CAROL=$("$probe" account carol)
[ "$(post open3 "$("$probe" open "$LID" pool-investors carol 1000000 "$expiry" 2)" | field result)" = ok ] ||
    fail "open pool -> carol"
w channels "$T/w1"
expect 0 "channels w1"
[ "$(wc -l <<< "$OUT")" = 1 ] || fail "channels w1: $OUT"
read -r id role other deposit claimed locked seq exp state <<< "$OUT"
[[ "$id" =~ ^[0-9a-f]{64}$ ]] && [ "$role" = payer ] && [ "$other" = "$ACCT2" ] && [ "$deposit" = deposit=5 ] &&
    [ "$claimed" = claimed=0 ] && [ "$locked" = locked=5 ] && [ "$seq" = seq=0 ] && [ "$state" = open ] &&
    [ "$exp" = "expiry=$(date -u -d "@$expiry" +%Y-%m-%dT%H:%M:%SZ)" ] || fail "channels w1 line: $OUT"
w channels "$T/w2" --json
expect 0 "channels w2 --json"
printf '%s' "$OUT" > "$T/channels.json"
python3 - "$ACCT1" "$ACCT2" "$T/channels.json" << 'EOF' || fail "channels w2 --json: $OUT"
import json, sys
a1, a2 = sys.argv[1], sys.argv[2]
j = json.load(open(sys.argv[3]))
assert j["account"] == a2 and j["truncated"] is False, j
ch = sorted(j["channels"], key=lambda c: c["deposit_units"])
assert [c["role"] for c in ch] == ["payee", "payee"], ch
assert ch[0]["deposit"] == "0.25" and ch[0]["deposit_units"] == 250000, ch
assert ch[1]["payer"] == a1 and ch[1]["payee"] == a2 and ch[1]["locked_units"] == 5000000, ch
assert all(c["state"] == "open" and c["seq"] == 0 and len(c["id"]) == 64 for c in ch), ch
EOF
w balance "$T/w1"
[ "$OUT" = $'balance: 82.500001 BTT\nlocked: 5 BTT\nchannels: 1\nnonce: 3' ] || fail "balance with a channel: '$OUT'"
w balance "$T/w2"
[ "$(line locked)" = "0 BTT" ] && [ "$(line channels)" = 2 ] || fail "w2 (payee) balance: $OUT"

# the endpoint itself: a payee without an account is listed, unknown and bad accounts are errors
[ "$(curl -sS "$A/v1/accounts/$CAROL/channels" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(len(j["channels"]), j["channels"][0]["role"])')" = "1 payee" ] ||
    fail "carol's channels"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/accounts/$CAROL")
[ "$code" = 404 ] || fail "carol has an account: $code"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/accounts/$("$probe" account nobody)/channels")
[ "$code" = 404 ] && [ "$(field error < "$T/resp")" = unknown-account ] || fail "unknown account's channels: $code $(cat "$T/resp")"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/accounts/btt1nope/channels")
[ "$code" = 400 ] && [ "$(field error < "$T/resp")" = bad-account ] || fail "bad account's channels: $code"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/accounts/$ACCT1/history")
[ "$code" = 404 ] && [ "$(field error < "$T/resp")" = not-found ] || fail "other account path: $code"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' -X POST "$A/v1/accounts/$ACCT1/channels")
[ "$code" = 405 ] || fail "POST channels: $code"
[ "$(curl -sS "$A/v1/invariant" | field ok)" = true ] || fail "invariant"

# Ctrl-C during a long proof of work (40 bits): exit 2 quickly, nothing submitted
sed 's/^faucet.difficulty = .*/faucet.difficulty = 40/' "$T/genesis" > "$T/genesis40"
start hard "$T/genesis40"
B=$URL
"$btt" wallet faucet "$T/w1" --ledger "$B" > "$T/o" 2> "$T/e" < /dev/null &
fpid=$!
for _ in $(seq 300); do grep -q 'solving proof of work' "$T/e" && break; sleep 0.1; done
grep -q 'solving proof of work: 2^40 expected, [0-9]* tried' "$T/e" || fail "no progress line: $(cat "$T/e")"
kill -INT "$fpid"
RC=0
wait "$fpid" || RC=$?
ERR=$(cat "$T/e")
expect 2 "Ctrl-C during the proof of work"
grep -q "canceled" "$T/e" || fail "Ctrl-C: $ERR"
[ "$(curl -sS "$B/v1/info" | field height)" = 0 ] || fail "a canceled faucet submitted something"
echo "ok [wallet_ledger]: all checks passed"
