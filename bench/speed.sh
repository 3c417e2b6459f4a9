#!/usr/bin/env bash
# Benchmark: what BitTorrent Speed costs. One btt seeder, one btt downloader, one big file on
# loopback, with Speed off and with Speed on (a local ledger, the downloader paying a voucher per
# verified piece, the seeder's guard pacing on them), alternating in the same run.
#
# usage: bench/speed.sh [WORKDIR]
#   WORKDIR / BTT_BENCH_DIR  where the data lives (default /tmp/btt-bench-speed)
#   BTT_BIN                  btt binary (default build/release/btt)
#   BTT_BENCH_MIB            data size in MiB (default 1024)
#   BTT_BENCH_RUNS           runs of each mode (default 3)
#   BTT_BENCH_PIECE_KIB      piece size (default 1024)
#   BTT_BENCH_RESERVE        the seeder's reserve price, uBTT/KiB (default 1: every byte is paid)
#   BTT_BENCH_ARGS           more options for both btt processes, e.g. "--no-utp" (TCP; by default
#                            the download runs over uTP, which btt tries first)
# Measures the downloader with /usr/bin/time (wall s from start to exit, CPU user+sys) minus its
# CPU at its "have:" line (set-up: the wallet's Argon2id, ledger look-ups), and the seeder's CPU
# over the download from /proc. Every download is compared with the original. Prints
# each run and a table of medians with the ratios Speed on / Speed off. Not part of CTest.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-${BTT_BENCH_DIR:-/tmp/btt-bench-speed}}
btt=${BTT_BIN:-$repo/build/release/btt}
probe=$(dirname "$btt")/tests/unit/ledger/ledger_client_probe
mib=${BTT_BENCH_MIB:-1024}
runs=${BTT_BENCH_RUNS:-3}
piece=${BTT_BENCH_PIECE_KIB:-1024}
reserve=${BTT_BENCH_RESERVE:-1}
read -r -a extra <<< "${BTT_BENCH_ARGS:-}"
die() { echo "bench: $*" >&2; exit 2; }
[ -x "$btt" ] || die "no btt binary at $btt"
[ -x "$probe" ] || die "no $probe (configure with tests on)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
export BTT_WALLET_PASSWORD=bench BTT_DHT_BOOTSTRAP=none

mkdir -p "$work/src"
data=$work/src/speed-${mib}M.bin
if [ ! -f "$data" ] || [ "$(stat -c %s "$data")" -ne $((mib << 20)) ]; then
    echo "making $mib MiB of random data in $data ..."
    head -c $((mib << 20)) /dev/urandom > "$data.tmp"
    mv "$data.tmp" "$data"
fi
run=$work/run
rm -rf "$run"
mkdir -p "$run"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; wait 2> /dev/null || true; }
trap cleanup EXIT
wait_line() { # FILE ERE
    for _ in $(seq 600); do grep -Eq "$2" "$1" 2> /dev/null && { grep -E -m1 "$2" "$1"; return; }; sleep 0.1; done
    die "no '$2' in $1: $(tail -5 "$1")"
}
cpu_of() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; } # user+sys seconds of a live process

"$btt" create "$data" -o "$run/t.torrent" -p "$piece" > /dev/null
"$probe" genesis bench > "$run/genesis.txt"
"$btt" ledger serve --db "$run/ledger.db" --genesis "$run/genesis.txt" --listen 127.0.0.1:0 > "$run/ledger.out" 2>&1 &
pids+=($!)
L=http://$(wait_line "$run/ledger.out" '^listening on ' | sed 's/^listening on //')
for w in seeder buyer; do
    "$btt" wallet new "$run/$w.wallet" > /dev/null
    "$btt" wallet faucet "$run/$w.wallet" --ledger "$L" > /dev/null 2>&1
done

one() { # MODE RUN -> prints "wall cpu seeder_cpu spent"
    local mode=$1 i=$2 speed_seed=() speed_get=()
    if [ "$mode" = on ]; then
        speed_seed=(--wallet "$run/seeder.wallet" --ledger "$L" --reserve-price "$reserve")
        speed_get=(--wallet "$run/buyer.wallet" --ledger "$L")
    fi
    rm -rf "$run/dl" "$run/state"
    sync # the previous run's gigabyte of dirty pages would otherwise throttle this run's writes
    BTT_STATE_DIR=$run/state/seed "$btt" seed "$run/t.torrent" -d "$work/src" --bind 127.0.0.1 --port 0 \
        --no-trackers "${extra[@]}" "${speed_seed[@]}" > "$run/seed.out" 2> "$run/seed.err" &
    local sp=$!
    pids+=($sp)
    local port
    port=$(wait_line "$run/seed.out" '^listening on ' | sed 's/.*://')
    local c0
    c0=$(cpu_of $sp)
    BTT_STATE_DIR=$run/state/get /usr/bin/time -f '%e %U %S' -o "$run/time" "$btt" get "$run/t.torrent" \
        -d "$run/dl" --bind 127.0.0.1 --port 0 --no-trackers --peer 127.0.0.1:"$port" "${extra[@]}" "${speed_get[@]}" \
        > "$run/get.out" 2> "$run/get.err" &
    local tp=$! gp="" g0=0
    # the downloader's CPU once it is set up (its "have:" line: after the wallet's key derivation
    # and the ledger look-ups, which Speed adds once per process, not per byte)
    for _ in $(seq 300); do
        [ -n "$gp" ] || gp=$(pgrep -P $tp || true)
        if [ -n "$gp" ] && grep -q '^have: ' "$run/get.out" 2> /dev/null; then g0=$(cpu_of "$gp" 2> /dev/null || echo 0); break; fi
        sleep 0.02
    done
    wait $tp || die "$mode run $i: the download failed: $(tail -3 "$run/get.err")"
    local c1
    c1=$(cpu_of $sp)
    kill -INT $sp
    wait $sp || true
    cmp -s "$data" "$run/dl/$(basename "$data")" || die "$mode run $i: the copy differs"
    local spent
    spent=$(sed -n 's/^speed: spent \([0-9.]*\) BTT.*/\1/p' "$run/get.out")
    read -r wall user sys < "$run/time"
    # the transfer's time as btt get reports it (after the wallet's key derivation and the
    # ledger lookups at start, which Speed adds once per process, not per byte)
    local xfer
    xfer=$(sed -n 's/^complete: downloaded [0-9]* bytes in \([0-9.]*\) s$/\1/p' "$run/get.out")
    echo "${xfer:-$wall} $(echo "$user + $sys - $g0" | bc) $(echo "$c1 - $c0" | bc) ${spent:--} $wall $(echo "$user + $sys" | bc)"
}

declare -A res
for i in $(seq "$runs"); do
    for mode in off on; do
        r=$(one $mode "$i")
        res[$mode]+="$r"$'\n'
        read -r wall cpu scpu spent total pcpu <<< "$r"
        printf 'speed %-3s run %d: transfer %6.2f s  %7.1f MB/s  (process %5.2f s)  downloader CPU %5.2f s (process %5.2f s)  seeder CPU %5.2f s  spent %s BTT\n' \
            $mode "$i" "$wall" "$(echo "scale=1; $mib * 1.048576 / $wall" | bc)" "$total" "$cpu" "$pcpu" "$scpu" "$spent"
    done
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A med
for mode in off on; do
    for k in 1 2 3; do med[$mode$k]=$(printf '%s' "${res[$mode]}" | awk -v k=$k 'NF {print $k}' | median); done
done
echo
echo "| Speed | transfer s | MB/s | downloader CPU s (from its have: line) | seeder CPU s |"
echo "|---|---:|---:|---:|---:|"
for mode in off on; do
    printf '| %s | %s | %.1f | %s | %s |\n' $mode "${med[${mode}1]}" "$(echo "scale=3; $mib * 1.048576 / ${med[${mode}1]}" | bc)" \
        "${med[${mode}2]}" "${med[${mode}3]}"
done
echo
echo "throughput on/off: $(echo "scale=3; ${med[off1]} / ${med[on1]}" | bc)  (goal >= 0.95)"
echo "CPU on/off: downloader $(echo "scale=3; ${med[on2]} / ${med[off2]}" | bc), seeder $(echo "scale=3; ${med[on3]} / ${med[off3]}" | bc)  (goal <= 1.05)"
