#!/usr/bin/env bash
# Benchmark: the ledger's HTTP API (`btt ledger serve`) under load from tests/tools/ledger_load,
# and voucher verification against libsodium's raw Ed25519 verification (tests/tools/voucher_bench).
#
# usage: bench/ledger.sh [WORKDIR]
#   WORKDIR / BTT_BENCH_DIR  where the databases go (default /tmp/btt-bench-ledger; each run uses a
#                            fresh one, removed afterwards)
#   BTT_BIN                  btt binary (default build/release/btt); ledger_load and voucher_bench
#                            are taken from the same build (tests/tools/). Builds nothing.
#   BTT_BENCH_STORES         stores to run, space-separated: sqlite, pg (default: sqlite); pg
#                            starts a private PostgreSQL server for the bench; see store_* below
#   BTT_BENCH_CASES          space-separated MIX:CLIENTS:OPS_PER_CLIENT[:BATCH] (default:
#                            read:32:500 transfer:1:3000 transfer:32:500 channel:32:500
#                            transfer:8:4000:64 channel:8:4000:64); BATCH (default 1) operations
#                            per HTTP request (more than 1: POST /v1/batch); mix read
#                            (GET of the client's own account, no write) is the reference: what
#                            the HTTP layer and the generator manage on this machine with no
#                            signature check and no commit
#   BTT_BENCH_RUNS           runs per case (default 3); the table shows the run with the median
#                            ops/s
# Each run: a fresh database from `ledger_load genesis`, the server on 127.0.0.1 (port 0), one
# `ledger_load run` (setup and signing are not measured; each client thread waits for every
# receipt, so ops/s = acknowledged durable ops per second and latency = one HTTP round trip
# including the group commit's fsync), SIGTERM, then `ledger_load verify` (every acknowledged op is
# in the store, the invariant holds): a run that loses anything or gets a rejection is FAIL.
# CPU seconds of the server during the run (/proc/PID/stat) and of the whole generator process
# (/usr/bin/time: setup and signing included) are printed too, for pg also that of the PostgreSQL
# server's processes (db CPU), as is the server's average batch (committed_ops / commits from
# /v1/info): on a small machine server, database and generator share the cores. Not part of CTest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${1:-${BTT_BENCH_DIR:-/tmp/btt-bench-ledger}}
BTT_BIN=${BTT_BIN:-$repo/build/release/btt}
tools=$(dirname "$BTT_BIN")/tests/tools
load=$tools/ledger_load
vbench=$tools/voucher_bench
stores=${BTT_BENCH_STORES:-sqlite}
cases=${BTT_BENCH_CASES:-"read:32:500 transfer:1:3000 transfer:32:500 channel:32:500 transfer:8:4000:64 channel:8:4000:64"}
runs=${BTT_BENCH_RUNS:-3}

die() { echo "bench: $*" >&2; exit 2; }
for x in "$BTT_BIN" "$load" "$vbench"; do
    [ -x "$x" ] || die "no $x (cmake --preset release && cmake --build --preset release)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"

# --- store hooks ------------------------------------------------------------------------------
# store_serve_args STORE DIR: flags that point `btt ledger serve` at a fresh store in DIR, one per
#                             line
# store_verify_args STORE DIR: the same store for `ledger_load verify`, one per line
# store_reset STORE DIR: makes the store empty before a run
# pg: a private PostgreSQL server (scripts/pg-test-server.sh: unix socket only, fsync=on,
# synchronous_commit=on) started below when BTT_BENCH_STORES names pg and stopped at the end; each
# run gets a fresh database (dropped and created again by store_reset).
pg_dir=
pg_admin=
pg_db=btt_bench
store_serve_args() {
    case $1 in
    sqlite) printf '%s\n' --db "$2/ledger.sqlite" ;;
    pg) printf '%s\n' --postgres "$pg_admin dbname=$pg_db" ;;
    *) die "unknown store '$1'" ;;
    esac
}
store_verify_args() {
    case $1 in
    sqlite) printf '%s\n' --sqlite "$2/ledger.sqlite" ;;
    pg) printf '%s\n' --postgres "$pg_admin dbname=$pg_db" ;;
    *) die "unknown store '$1'" ;;
    esac
}
store_reset() {
    case $1 in
    sqlite) rm -f "$2"/ledger.sqlite "$2"/ledger.sqlite-wal "$2"/ledger.sqlite-shm "$2"/ledger.sqlite-journal ;;
    pg)
        PGOPTIONS='-c client_min_messages=warning' psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" > /dev/null || die "DROP DATABASE $pg_db"
        psql -q "$pg_admin" -c "CREATE DATABASE $pg_db" > /dev/null || die "CREATE DATABASE $pg_db"
        ;;
    *) die "unknown store '$1'" ;;
    esac
}

for store in $stores; do
    case $store in sqlite | pg) ;; *) die "unknown store '$store' (sqlite or pg)" ;; esac
done

mkdir -p "$work"
T=$(mktemp -d "$work/run.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -9 "$pid" 2> /dev/null || true; fi
    if [ -n "$pg_dir" ]; then bash "$repo/scripts/pg-test-server.sh" stop "$pg_dir" || true; fi
    rm -rf "$T"
}
trap cleanup EXIT
if [[ " $stores " == *" pg "* ]]; then
    command -v psql > /dev/null || die "psql not found (apt-get install postgresql-client)"
    # a short path: the server's unix socket lives in it
    pg_dir=$(mktemp -d /tmp/btt-bench-pg.XXXXXX)
    pg_admin=$(bash "$repo/scripts/pg-test-server.sh" start "$pg_dir") || die "the PostgreSQL server did not start"
fi
"$load" genesis "$T/genesis"
tck=$(getconf CLK_TCK)

cpu_of() { # PID -> user+sys seconds so far
    awk -v t="$tck" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"
}
# db_cpu STORE -> user+sys seconds so far of the PostgreSQL server (the postmaster and its live
# children: the btt session's backend, WAL writer, checkpointer, ...); "-" for SQLite, which runs
# inside the btt server and is counted there
db_cpu() {
    [ "$1" = pg ] || { echo -; return; }
    local pm
    pm=$(head -n 1 "$pg_dir/data/postmaster.pid")
    # field 2 (comm) has no spaces for postgres processes; $4 is the parent. A process that ends
    # between the glob and the read makes cat fail: not an error here.
    { cat /proc/[0-9]*/stat 2> /dev/null || true; } |
        awk -v pm="$pm" -v t="$tck" '$1 == pm || $4 == pm { s += $14 + $15 } END { printf "%.2f", s / t }'
}

echo "# btt ledger benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
echo "# $(df -T "$work" | awk 'NR==2 { print $2 " on " $1 }') under $work; btt $("$BTT_BIN" --version 2>/dev/null | head -n1)"
if [ -n "$pg_dir" ]; then
    echo "# pg: PostgreSQL $(psql -At "$pg_admin" -c 'SHOW server_version'), private server (unix socket," \
        "fsync=$(psql -At "$pg_admin" -c 'SHOW fsync'), synchronous_commit=$(psql -At "$pg_admin" -c 'SHOW synchronous_commit'))," \
        "data on $(df -T "$pg_dir" | awk 'NR==2 { print $2 " on " $1 }') under $pg_dir"
fi
echo "# stores: $stores; cases: $cases; $runs runs each"

declare -A LINE
# run_one STORE MIX CLIENTS OPS BATCH RUN
run_one() {
    local store=$1 mix=$2 n=$3 k=$4 b=$5 r=$6 key="$1:$2:$3:$5,$6" a line scpu v sargs vargs
    store_reset "$store" "$T"
    mapfile -t sargs < <(store_serve_args "$store" "$T")
    mapfile -t vargs < <(store_verify_args "$store" "$T")
    : > "$T/ack"
    "$BTT_BIN" ledger serve "${sargs[@]}" --genesis "$T/genesis" --listen 127.0.0.1:0 \
        > "$T/out" 2> "$T/err" &
    pid=$!
    for _ in $(seq 200); do
        grep -q '^listening on ' "$T/out" && break
        kill -0 "$pid" 2> /dev/null || die "server exited: $(cat "$T/err")"
        sleep 0.05
    done
    a=http://$(sed -n 's/^listening on //p' "$T/out")
    local s0 d0 dcpu
    s0=$(cpu_of "$pid")
    d0=$(db_cpu "$store")
    if ! /usr/bin/time -f '%U %S' -o "$T/time" "$load" run --url "$a" --clients "$n" --ops "$k" --mix "$mix" \
        --batch "$b" --ack-log "$T/ack" > "$T/gen.out" 2> "$T/gen.err"; then
        line="FAIL $(cat "$T/gen.out") $(tail -n 3 "$T/gen.err")"
    else
        line=$(cat "$T/gen.out")
    fi
    scpu=$(awk -v a="$(cpu_of "$pid")" -v b="$s0" 'BEGIN { printf "%.2f", a - b }')
    dcpu=-
    [ "$d0" = - ] || dcpu=$(awk -v a="$(db_cpu "$store")" -v b="$d0" 'BEGIN { printf "%.2f", a - b }')
    # operations per group commit (the setup's funding transfers included)
    local bpc
    bpc=$(curl -sS "$a/v1/info" | python3 -c 'import json,sys; i=json.load(sys.stdin); print("%.1f" % (i["committed_ops"] / max(i["commits"], 1)))')
    kill -TERM "$pid"
    wait "$pid" || line="FAIL (server exit $?) $line"
    pid=
    if ! v=$("$load" verify "${vargs[@]}" --ack-log "$T/ack" 2>&1); then
        line="FAIL $line verify: $v"
    fi
    line="$line server_cpu_s=$scpu db_cpu_s=$dcpu load_cpu_s=$(awk '{ printf "%.2f", $1 + $2 }' "$T/time") ops_per_commit=$bpc"
    LINE[$key]=$line
    echo "$store $mix clients=$n batch=$b run $r: $line"
}

for store in $stores; do
    for c in $cases; do
        IFS=: read -r mix n k b <<< "$c"
        for r in $(seq "$runs"); do run_one "$store" "$mix" "$n" "$k" "${b:-1}" "$r"; done
    done
done

vb=$("$vbench" 20000 3)
echo "voucher_bench: $vb"

kv() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<< " $2"; }
echo
echo "| store | case | clients | ops/request | ops/s | p50 ms | p99 ms | max ms | server CPU s | db CPU s | load CPU s | wall s | ops/commit | runs (ops/s) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for store in $stores; do
    for c in $cases; do
        IFS=: read -r mix n k b <<< "$c"
        b=${b:-1}
        # the run with the median ops/s
        local_runs=()
        for r in $(seq "$runs"); do local_runs+=("$(kv ops_per_s "${LINE[$store:$mix:$n:$b,$r]}") $r"); done
        med=$(printf '%s\n' "${local_runs[@]}" | sort -n | awk -v m=$(((runs + 1) / 2)) 'NR == m { print $2 }')
        l=${LINE[$store:$mix:$n:$b,$med]}
        all=$(printf '%s\n' "${local_runs[@]}" | awk '{ printf "%s%s", s, $1; s = ", " }')
        [[ "$l" == FAIL* ]] && all="$all (FAIL)"
        echo "| $store | $mix | $n | $b | $(kv ops_per_s "$l") | $(kv p50_ms "$l") | $(kv p99_ms "$l") | $(kv max_ms "$l") |" \
            "$(kv server_cpu_s "$l") | $(kv db_cpu_s "$l") | $(kv load_cpu_s "$l") | $(kv seconds "$l") | $(kv ops_per_commit "$l") | $all |"
    done
done
echo
echo "voucher verification: $(kv voucher_per_s "$vb")/s, raw crypto_sign_verify_detached: $(kv raw_per_s "$vb")/s, ratio $(kv ratio "$vb")"
