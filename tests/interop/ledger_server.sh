#!/bin/bash
# btt ledger serve: the HTTP/JSON API against a real server process on 127.0.0.1 (port 0) with
# curl. Transfers, balances, idempotency by request_id, replays, forged signatures, malformed
# requests, 50 concurrent transfers (group commit), POST /v1/batch, kill -9 and restart: every acknowledged
# operation survives and the supply invariant holds. Signed operations come from
# tests/unit/ledger/ledger_client_probe (deterministic wallets named by strings).
#
# Usage: ledger_server.sh [sqlite|pg]. sqlite (the default) serves a file (--db); pg serves a
# fresh database (--postgres) on the test server whose conninfo is in BTT_TEST_PG_CONNINFO_FILE
# (CTest fixture "pg", scripts/pg-test-server.sh) and fails without one.
set -euo pipefail
btt=${BTT_BIN:?}
probe=${BTT_LEDGER_PROBE:-$(dirname "$btt")/tests/unit/ledger/ledger_client_probe}
store=${1:-sqlite}
T=$(mktemp -d /tmp/btt-ledger-server.XXXXXX)
pid=
pgdbs=()
cleanup() {
    if [ -n "$pid" ]; then kill -9 "$pid" 2> /dev/null || true; fi
    for d in "${pgdbs[@]}"; do psql -q "$PGADMIN" -c "DROP DATABASE $d WITH (FORCE)" > /dev/null 2>&1 || true; done
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL [ledger_server $store]: $*" >&2; [ -f "$T/err" ] && sed 's/^/  server: /' "$T/err" >&2; exit 1; }
[ -x "$probe" ] || fail "no probe at $probe"

# new_store NAME: sets STORE (the serve flags) to a new, empty ledger database
new_store() {
    if [ "$store" = pg ]; then
        local d="btt_ls_$$_$1"
        psql -q "$PGADMIN" -c "CREATE DATABASE $d" > /dev/null || fail "CREATE DATABASE $d"
        pgdbs+=("$d")
        STORE=(--postgres "$PGADMIN dbname=$d")
    else
        STORE=(--db "$T/$1")
    fi
}
case "$store" in
sqlite) ;;
pg)
    f=${BTT_TEST_PG_CONNINFO_FILE:-}
    [ -n "$f" ] && [ -s "$f" ] || fail "no PostgreSQL test server (BTT_TEST_PG_CONNINFO_FILE='$f')"
    PGADMIN=$(head -n 1 "$f")
    ;;
*) fail "unknown store '$store' (sqlite or pg)" ;;
esac
new_store db
MAIN=("${STORE[@]}")

start() { # [--genesis FILE]
    : > "$T/out"
    "$btt" ledger serve "${MAIN[@]}" "$@" --listen 127.0.0.1:0 > "$T/out" 2> "$T/err" &
    pid=$!
    for _ in $(seq 300); do
        grep -q '^listening on ' "$T/out" && break
        kill -0 "$pid" 2> /dev/null || fail "server exited: $(cat "$T/err")"
        sleep 0.1
    done
    A=http://$(sed -n 's/^listening on //p' "$T/out")
    [[ "$A" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "no 'listening on' line: $(cat "$T/out")"
}
# field NAME < json
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(str(v).lower() if isinstance(v,bool) else v)' "$1"; }
get() { curl -sS "$A$1"; }
# post BODY -> status in $code, body in $T/resp
post() { code=$(curl -sS -o "$T/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary "$1" "$A/v1/ops"); }
postb() { code=$(curl -sS -o "$T/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary "$1" "$A/v1/batch"); }
op() { printf '{"request_id":"%s","op":"%s"}' "$1" "$2"; }
units() { # units of account NAME (0 if unknown)
    local a s
    a=$("$probe" account "$1")
    s=$(curl -sS -o "$T/acct" -w '%{http_code}' "$A/v1/accounts/$a")
    if [ "$s" = 404 ]; then echo 0; else field balance_units < "$T/acct"; fi
}
expect_error() { # STATUS CODE what
    [ "$code" = "$1" ] || fail "$3: status $code, expected $1: $(cat "$T/resp")"
    [ "$(field error < "$T/resp")" = "$2" ] || fail "$3: $(cat "$T/resp")"
    field message < "$T/resp" > /dev/null || fail "$3: no message"
}

"$probe" genesis ledger-test > "$T/genesis"
start --genesis "$T/genesis"

# info
get /v1/info > "$T/info"
[ "$(field name < "$T/info")" = ledger-test ] || fail "info: $(cat "$T/info")"
[ "$(field height < "$T/info")" = 0 ] || fail "info height: $(cat "$T/info")"
SUPPLY=$(field supply_units < "$T/info")
[ "$SUPPLY" = 1000000000000 ] || fail "info supply: $(cat "$T/info")"
[ "$(field faucet_bits < "$T/info")" = 8 ] || fail "info faucet_bits"
LID=$(field ledger_id < "$T/info")
[[ "$LID" =~ ^[0-9a-f]{64}$ ]] || fail "ledger id '$LID'"
POOL0=$(units pool-onboarding)
[ "$POOL0" = 400000000000 ] || fail "onboarding pool holds $POOL0"

# a transfer from the onboarding pool to a new account
[ "$(units alice)" = 0 ] || fail "alice exists before the transfer"
OP1=$("$probe" transfer "$LID" pool-onboarding alice 5000000 1)
post "$(op r1 "$OP1")"
[ "$code" = 200 ] || fail "transfer: $code $(cat "$T/resp")"
cp "$T/resp" "$T/r1"
[ "$(field result < "$T/r1")" = ok ] || fail "transfer: $(cat "$T/r1")"
[ "$(field height < "$T/r1")" = 1 ] || fail "transfer height: $(cat "$T/r1")"
[ "$(units alice)" = 5000000 ] || fail "alice has $(units alice)"
[ "$(units pool-onboarding)" = $((POOL0 - 5000000)) ] || fail "pool has $(units pool-onboarding)"
get "/v1/accounts/$("$probe" account pool-onboarding)" | field nonce | grep -qx 1 || fail "pool nonce"

# the same request again: the stored result, applied once
post "$(op r1 "$OP1")"
[ "$code" = 200 ] && cmp -s "$T/resp" "$T/r1" || fail "repeated request: $code $(cat "$T/resp")"
[ "$(get /v1/info | field height)" = 1 ] || fail "repeated request applied twice"
[ "$(units alice)" = 5000000 ] || fail "repeated request: alice has $(units alice)"

# the same request id with other bytes
post "$(op r1 "$("$probe" transfer "$LID" pool-onboarding alice 1 2)")"
expect_error 409 request-id-reused "reused request id"
[ "$(get /v1/info | field height)" = 1 ] || fail "reused request id changed the ledger"

# a replayed op under a new request id: bad nonce, nothing changes
post "$(op r1-replay "$OP1")"
[ "$code" = 200 ] && [ "$(field result < "$T/resp")" = bad-nonce ] || fail "replay: $code $(cat "$T/resp")"
# a forged signature
post "$(op forged "$("$probe" transfer "$LID" pool-onboarding alice 7000000 2 forge)")"
[ "$code" = 200 ] && [ "$(field result < "$T/resp")" = bad-signature ] || fail "forged: $code $(cat "$T/resp")"
[ "$(get /v1/info | field height)" = 1 ] && [ "$(units alice)" = 5000000 ] || fail "a rejected op changed the ledger"

# malformed requests
post '{"request_id":"x","op":'; expect_error 400 bad-json "truncated JSON"
post '[1,2]'; expect_error 400 bad-request "not an object"
post '{"request_id":"x"}'; expect_error 400 bad-request "missing op"
post "$(op x "$OP1" | sed 's/}$/,"extra":1}/')"; expect_error 400 bad-request "unknown field"
post '{"request_id":"x","op":"zz"}'; expect_error 400 bad-hex "bad hex"
post '{"request_id":"x","op":"abc"}'; expect_error 400 bad-hex "odd hex"
post '{"request_id":"x","op":"6465"}'; expect_error 400 malformed-op "not an op"
post "$(op "" "$OP1")"; expect_error 400 bad-request-id "empty request id"
post "$(op "$(printf 'a%.0s' $(seq 65))" "$OP1")"; expect_error 400 bad-request-id "long request id"
head -c 20000 /dev/zero | tr '\0' ' ' > "$T/big"
post "@$T/big"; expect_error 413 body-too-large "oversized body"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/accounts/$("$probe" account nobody)")
expect_error 404 unknown-account "unknown account"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/accounts/btt1nope")
expect_error 400 bad-account "bad account"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/channels/$LID")
expect_error 404 unknown-channel "unknown channel"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/ops")
expect_error 405 method-not-allowed "GET /v1/ops"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/nothing")
expect_error 404 not-found "unknown path"
[ "$(get /v1/info | field height)" = 1 ] || fail "malformed requests changed the ledger"

# 50 accounts funded in order (nonces 2..51), then 50 transfers from them in parallel
N=50
for i in $(seq $N); do
    post "$(op "fund-$i" "$("$probe" transfer "$LID" pool-onboarding "user-$i" 1000000 $((i + 1)))")"
    [ "$code" = 200 ] && [ "$(field result < "$T/resp")" = ok ] || fail "fund user-$i: $code $(cat "$T/resp")"
done
C0=$(get /v1/info | field commits)
for i in $(seq $N); do
    op "pay-$i" "$("$probe" transfer "$LID" "user-$i" bob 500000 1)" > "$T/pay-$i.json"
done
pids=()
for i in $(seq $N); do
    curl -sS -o "$T/pay-$i.resp" -w '%{http_code}' -X POST --data-binary "@$T/pay-$i.json" "$A/v1/ops" > "$T/pay-$i.code" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent curl failed"; done
for i in $(seq $N); do
    [ "$(cat "$T/pay-$i.code")" = 200 ] && [ "$(field result < "$T/pay-$i.resp")" = ok ] ||
        fail "concurrent pay-$i: $(cat "$T/pay-$i.code") $(cat "$T/pay-$i.resp")"
done
get /v1/info > "$T/info"
C1=$(field commits < "$T/info")
echo "ledger_server: $N concurrent transfers in $((C1 - C0)) group commits"
[ "$(field height < "$T/info")" = $((1 + 2 * N)) ] || fail "height after the transfers: $(cat "$T/info")"
[ "$(units bob)" = $((N * 500000)) ] || fail "bob has $(units bob)"
POOL1=$(units pool-onboarding)
[ "$POOL1" = $((POOL0 - 5000000 - N * 1000000)) ] || fail "pool has $POOL1"

# POST /v1/batch: M transfers from user-1..M (nonce 2) to carol, the earlier request pay-1 (its
# stored receipt) and a replay under a new id (bad-nonce), answered in order once all are durable
M=20
items=()
for i in $(seq $M); do items+=("$(op "b-$i" "$("$probe" transfer "$LID" "user-$i" carol 100000 2)")"); done
items+=("$(cat "$T/pay-1.json")" "$(op b-replay "$OP1")")
BATCH="{\"requests\":[$(IFS=,; echo "${items[*]}")]}"
H0=$(get /v1/info | field height)
postb "$BATCH"
[ "$code" = 200 ] || fail "batch: $code $(cat "$T/resp")"
cp "$T/resp" "$T/batch1"
python3 - "$T/batch1" "$M" "$T/pay-1.resp" << 'PY' || fail "batch receipts: $(cat "$T/batch1")"
import json, sys
r = json.load(open(sys.argv[1]))["receipts"]
m = int(sys.argv[2])
assert len(r) == m + 2, len(r)
for i in range(m):
    assert r[i]["request_id"] == "b-%d" % (i + 1) and r[i]["result"] == "ok", r[i]
assert r[m] == json.load(open(sys.argv[3])), (r[m], "the stored receipt of pay-1")
assert r[m + 1]["request_id"] == "b-replay" and r[m + 1]["result"] == "bad-nonce", r[m + 1]
PY
[ "$(get /v1/info | field height)" = $((H0 + M)) ] || fail "batch height: $(get /v1/info)"
[ "$(units carol)" = $((M * 100000)) ] || fail "carol has $(units carol) after the batch"
postb "$BATCH"
[ "$code" = 200 ] && cmp -s "$T/resp" "$T/batch1" || fail "repeated batch: $code $(cat "$T/resp")"
[ "$(get /v1/info | field height)" = $((H0 + M)) ] || fail "repeated batch applied twice"
# all or nothing before anything is queued: a reused id, a bad element, bad shapes
NEXT=$(op b-next "$("$probe" transfer "$LID" user-30 carol 1 2)")
postb "{\"requests\":[$NEXT,$(op b-1 "$("$probe" transfer "$LID" user-1 carol 7 3)")]}"
expect_error 409 request-id-reused "batch with a reused request id"
postb "{\"requests\":[$NEXT,$(op b-next "$("$probe" transfer "$LID" user-31 carol 1 2)")]}"
expect_error 409 request-id-reused "batch with one id for two operations"
postb "{\"requests\":[$NEXT,{\"request_id\":\"z\",\"op\":\"zz\"}]}"
expect_error 400 bad-hex "batch with bad hex"
field message < "$T/resp" | grep -q '^requests\[1\]: ' || fail "batch error does not name the element: $(cat "$T/resp")"
postb '{"requests":[]}'; expect_error 400 bad-request "empty batch"
postb "{\"requests\":[$NEXT],\"x\":1}"; expect_error 400 bad-request "batch with an unknown key"
postb "$(python3 -c 'import sys; print("{\"requests\":[" + ",".join([sys.argv[1]] * 257) + "]}")' "$NEXT")"
expect_error 400 bad-request "batch of 257"
code=$(curl -sS -o "$T/resp" -w '%{http_code}' "$A/v1/batch")
expect_error 405 method-not-allowed "GET /v1/batch"
[ "$(get /v1/info | field height)" = $((H0 + M)) ] && [ "$(units user-30)" = 500000 ] ||
    fail "a refused batch changed the ledger"

# kill -9 and restart on the same database (no genesis needed): everything acknowledged is there
kill -9 "$pid"
wait "$pid" 2> /dev/null || true
pid=
start
[ "$(get /v1/info | field height)" = $((1 + 2 * N + M)) ] || fail "height after restart"
[ "$(get /v1/info | field ledger_id)" = "$LID" ] || fail "ledger id after restart"
[ "$(units alice)" = 5000000 ] && [ "$(units bob)" = $((N * 500000)) ] && [ "$(units pool-onboarding)" = "$POOL1" ] ||
    fail "balances after restart"
for i in $(seq $N); do
    want=500000
    [ "$i" -le "$M" ] && want=400000
    [ "$(units "user-$i")" = "$want" ] || fail "user-$i after restart"
done
[ "$(units carol)" = $((M * 100000)) ] || fail "carol after restart"
get /v1/invariant > "$T/inv"
[ "$(field ok < "$T/inv")" = true ] || fail "invariant: $(cat "$T/inv")"
[ "$(field supply_units < "$T/inv")" = "$SUPPLY" ] || fail "invariant supply: $(cat "$T/inv")"
[ $(($(field balances_units < "$T/inv") + $(field locked_units < "$T/inv"))) = "$SUPPLY" ] ||
    fail "balances + locked != supply: $(cat "$T/inv")"
# request ids do not survive a restart, but the nonce still stops the replay
post "$(op r1 "$OP1")"
[ "$code" = 200 ] && [ "$(field result < "$T/resp")" = bad-nonce ] || fail "replay after restart: $(cat "$T/resp")"

# SIGTERM: clean exit 0
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "SIGTERM: exit $rc"

# CLI errors: one line, exit 2
new_store none
set +e
"$btt" ledger serve "${STORE[@]}" > /dev/null 2> "$T/err"; rc=$?
set -e
[ "$rc" = 2 ] && [ "$(wc -l < "$T/err")" = 1 ] && grep -q -- --genesis "$T/err" || fail "missing genesis: $rc $(cat "$T/err")"
set +e
"$btt" ledger serve "${MAIN[@]}" --listen nowhere > /dev/null 2> "$T/err"; rc=$?
set -e
[ "$rc" = 2 ] && [ "$(wc -l < "$T/err")" = 1 ] || fail "bad listen: $rc $(cat "$T/err")"
echo "ok [ledger_server $store]: all checks passed"
