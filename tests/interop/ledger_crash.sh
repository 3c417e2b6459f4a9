#!/bin/bash
# btt ledger serve under load, SIGKILLed at random moments: nothing acknowledged is ever lost.
#
# usage: ledger_crash.sh [STORE]    STORE: sqlite (default; also $BTT_LEDGER_STORE) or pg
#
# sqlite serves a file (--db); pg serves a fresh database (--postgres), created for the run and
# dropped afterwards, on the test server whose conninfo is in BTT_TEST_PG_CONNINFO_FILE (CTest
# fixture "pg", scripts/pg-test-server.sh), and fails without one.
#
# Each round starts the server on the same database, runs tests/tools/ledger_load with 8 clients
# (--until-error: each client stops at its first connection error; --ack-log: the op id of every
# ok receipt is appended once the receipt has arrived), waits for the round's first
# acknowledgement, SIGKILLs the server 0.2-1.5 s later and waits for the generator. Rounds
# alternate transfers and channel open+close. Then a clean restart: the invariant over HTTP, one
# more uninterrupted load run on the existing accounts (resume), SIGTERM (exit 0), and
# `ledger_load verify`, which replays the store and checks that every acknowledged op id is in
# it and that the supply invariant holds. LEDGER_CRASH_ROUNDS (default 6), LEDGER_CRASH_SEED
# (bash RANDOM seed, printed) make a run repeatable in its choices.
set -euo pipefail
STORE=${1:-${BTT_LEDGER_STORE:-sqlite}}
btt=${BTT_BIN:?}
load=${BTT_LEDGER_LOAD:-$(dirname "$btt")/tests/tools/ledger_load}
rounds=${LEDGER_CRASH_ROUNDS:-6}
seed=${LEDGER_CRASH_SEED:-$$}
RANDOM=$seed
T=$(mktemp -d /tmp/btt-ledger-crash.XXXXXX)
pid=
gpid=
pgdb=
cleanup() {
    if [ -n "$gpid" ]; then kill -9 "$gpid" 2> /dev/null || true; fi
    if [ -n "$pid" ]; then kill -9 "$pid" 2> /dev/null || true; fi
    if [ -n "$pgdb" ]; then psql -q "$PGADMIN" -c "DROP DATABASE $pgdb WITH (FORCE)" > /dev/null 2>&1 || true; fi
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL [ledger_crash $STORE, seed $seed]: $*" >&2
    [ -f "$T/err" ] && sed 's/^/  server: /' "$T/err" >&2
    [ -f "$T/gen.err" ] && sed 's/^/  load: /' "$T/gen.err" >&2
    exit 1
}
[ -x "$load" ] || fail "no load generator at $load"

# The store: how the server is pointed at it and how ledger_load verify opens it.
case $STORE in
sqlite)
    serve_args=(--db "$T/db")
    verify_args=(--sqlite "$T/db")
    ;;
pg)
    f=${BTT_TEST_PG_CONNINFO_FILE:-}
    [ -n "$f" ] && [ -s "$f" ] || fail "no PostgreSQL test server (BTT_TEST_PG_CONNINFO_FILE='$f')"
    PGADMIN=$(head -n 1 "$f")
    psql -q "$PGADMIN" -c "CREATE DATABASE btt_lc_$$" > /dev/null || fail "CREATE DATABASE btt_lc_$$"
    pgdb=btt_lc_$$
    serve_args=(--postgres "$PGADMIN dbname=$pgdb")
    verify_args=(--postgres "$PGADMIN dbname=$pgdb")
    ;;
*) fail "unknown store '$STORE' (sqlite or pg)" ;;
esac

sanitizer_check() { # FILE WHAT
    if grep -Eq 'Sanitizer|runtime error:' "$1"; then fail "$2: sanitizer report: $(cat "$1")"; fi
}

start() { # [--genesis FILE]
    : > "$T/out"
    "$btt" ledger serve "${serve_args[@]}" "$@" --listen 127.0.0.1:0 > "$T/out" 2> "$T/err" &
    pid=$!
    for _ in $(seq 600); do
        grep -q '^listening on ' "$T/out" && break
        kill -0 "$pid" 2> /dev/null || fail "server exited: $(cat "$T/err")"
        sleep 0.05
    done
    A=http://$(sed -n 's/^listening on //p' "$T/out")
    [[ "$A" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "no 'listening on' line: $(cat "$T/out")"
}
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(str(v).lower() if isinstance(v,bool) else v)' "$1"; }
acked() { if [ -f "$T/ack" ]; then wc -l < "$T/ack"; else echo 0; fi; }

"$load" genesis "$T/genesis"
genesis=(--genesis "$T/genesis")
t_start=$SECONDS
for r in $(seq "$rounds"); do
    start "${genesis[@]}"
    genesis=()
    mix=transfer
    [ $((r % 2)) = 0 ] && mix=channel
    before=$(acked)
    "$load" run --url "$A" --clients 8 --ops 1500 --mix $mix --ack-log "$T/ack" --until-error \
        > "$T/gen.out" 2> "$T/gen.err" &
    gpid=$!
    # wait for this round's first acknowledgement (or the generator's end), then a random delay
    for _ in $(seq 400); do
        [ "$(acked)" -gt "$before" ] && break
        kill -0 "$gpid" 2> /dev/null || break
        sleep 0.025
    done
    ms=$((200 + RANDOM % 1301))
    delay=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    sleep "$delay"
    kill -9 "$pid"
    wait "$pid" 2> /dev/null || true
    pid=
    sanitizer_check "$T/err" "server, round $r"
    grc=0
    wait "$gpid" || grc=$?
    gpid=
    sanitizer_check "$T/gen.err" "load generator, round $r"
    line=$(cat "$T/gen.out")
    echo "round $r ($mix): SIGKILL after ${delay} s; acknowledged $(($(acked) - before)); load: ${line:-no summary}"
    [ "$grc" = 0 ] || fail "round $r: the load generator exited $grc: $line"
    [[ "$line" =~ rejected=0\  ]] || fail "round $r: rejected operations: $line"
done

# a clean restart: the state is whole, and a new uninterrupted run resumes on the same accounts
start
get_inv=$(curl -sS "$A/v1/invariant")
[ "$(field ok <<< "$get_inv")" = true ] || fail "invariant after the crashes: $get_inv"
"$load" run --url "$A" --clients 8 --ops 100 --mix channel --ack-log "$T/ack" > "$T/gen.out" 2> "$T/gen.err" ||
    fail "resumed run: $(cat "$T/gen.out")"
sanitizer_check "$T/gen.err" "load generator, resumed run"
echo "resumed run: $(cat "$T/gen.out")"
grep -q ' ops=800 .*rejected=0 errors=0$' "$T/gen.out" || fail "resumed run: $(cat "$T/gen.out")"
height=$(curl -sS "$A/v1/info" | field height)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" = 0 ] || fail "SIGTERM: exit $rc"
sanitizer_check "$T/err" "server, clean stop"

# every acknowledged op id is in the store; the store replays and keeps the invariant
"$load" verify "${verify_args[@]}" --ack-log "$T/ack" > "$T/verify.out" 2> "$T/verify.err" ||
    fail "verify: $(cat "$T/verify.out" "$T/verify.err")"
v=$(cat "$T/verify.out")
echo "verify: $v (server height before the stop: $height; $((SECONDS - t_start)) s)"
[[ "$v" =~ ^acked=([0-9]+)\ present=([0-9]+)\ missing=0\ height=([0-9]+)\ invariant=ok$ ]] || fail "verify: $v"
a=${BASH_REMATCH[1]}
[ "${BASH_REMATCH[2]}" = "$a" ] || fail "verify: $v"
[ "${BASH_REMATCH[3]}" = "$height" ] || fail "verify: store height ${BASH_REMATCH[3]}, server said $height"
# the crashed rounds must have acknowledged a meaningful amount (the resumed run adds 800)
[ "$a" -ge $((800 + 200 * rounds)) ] || fail "only $a operations acknowledged in all (expected >= $((800 + 200 * rounds)))"
echo "ok [ledger_crash $STORE]: $rounds SIGKILLs, $a acknowledged operations, none lost"
