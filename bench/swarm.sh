#!/usr/bin/env bash
# Benchmark: one seeder, one downloader, one big file on loopback; how fast and how cheaply
# does each client download, with btt and real clients on either side.
#
# usage: bench/swarm.sh [WORKDIR]
#   WORKDIR / BTT_BENCH_DIR  where the data lives (default /tmp/btt-bench); the random file is
#                            made once and reused; downloads go to WORKDIR/dl and are removed
#   BTT_BIN                  btt binary (default build/release/btt)
#   BTT_BENCH_MIB            data size in MiB (default 1024)
#   BTT_BENCH_RUNS           runs per pair (default 3)
#   BTT_BENCH_PAIRS          space-separated SEEDER:DOWNLOADER pairs out of btt, lt (libtorrent
#                            2.0 via python3-libtorrent), aria2 (downloader only; finds the
#                            seeder through a local opentracker) and tr (Transmission 3.00, in
#                            network namespaces); default: btt:btt lt:btt btt:lt lt:lt lt:aria2
#   BTT_BENCH_TRANSMISSION=1 also run lt:tr tr:lt, plus btt:tr tr:btt when btt can download
#   BTT_BENCH_TIMEOUT        seconds per download before it counts as failed (default 600)
#   BTT_BENCH_PIECE_KIB      piece size for the torrent (default: btt create's automatic choice)
# Measures the downloader with /usr/bin/time: wall seconds (process start to exit, so startup
# and the final flush count), MB/s (10^6 bytes / wall s), CPU seconds (user+sys) and peak RSS.
# Transmission runs as a daemon: its wall time is from adding the torrent to 100%, CPU and
# peak RSS come from /proc. Every download is compared with the original (cmp) and a run that
# fails or differs is marked FAIL. Prints each run, then a markdown table (medians of the runs).
# libtorrent seeds with its high_performance_seed settings, downloads with its defaults; uTP,
# DHT, LSD, UPnP and NAT-PMP are off everywhere. Not part of CTest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${1:-${BTT_BENCH_DIR:-/tmp/btt-bench}}
export BTT_BIN=${BTT_BIN:-$repo/build/release/btt}
export BTT_SRC=$repo
export BTT_DHT_BOOTSTRAP=none  # btt's DHT stays on this machine
mib=${BTT_BENCH_MIB:-1024}
runs=${BTT_BENCH_RUNS:-3}
limit=${BTT_BENCH_TIMEOUT:-600}
pairs=${BTT_BENCH_PAIRS:-"btt:btt lt:btt btt:lt lt:lt lt:aria2"}
if [ -n "${BTT_BENCH_TRANSMISSION:-}" ]; then
    pairs="$pairs lt:tr tr:lt"
    "$BTT_BIN" get --help >/dev/null 2>&1 && pairs="$pairs btt:tr tr:btt"
fi

die() { echo "bench: $*" >&2; exit 2; }
[ -x "$BTT_BIN" ] || die "no btt binary at $BTT_BIN (cmake --preset release && cmake --build --preset release)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"

export TEST_NAME=bench_swarm
export BTT_SWARM_DEADLINE=${BTT_SWARM_DEADLINE:-864000}   # no test deadline for the bench
# shellcheck source=../tests/interop/swarm/lib.sh
. "$repo/tests/interop/swarm/lib.sh"

mkdir -p "$work"
chmod 755 "$work"
bytes=$((mib * 1024 * 1024))
src=$work/src
data=$src/swarm-${mib}M.bin
mkdir -p "$src"
if [ ! -f "$data" ] || [ "$(stat -c %s "$data")" -ne "$bytes" ]; then
    echo "making $mib MiB of random data in $data ..."
    head -c "$bytes" /dev/urandom >"$data.tmp"
    mv "$data.tmp" "$data"
fi
torrent=$work/swarm-${mib}M.torrent
if [ ! -f "$torrent" ] || [ "$torrent" -ot "$data" ]; then
    "$BTT_BIN" create "$data" -o "$torrent" -f -q ${BTT_BENCH_PIECE_KIB:+-p "$BTT_BENCH_PIECE_KIB"} ||
        die "btt create failed"
fi
pieces=$("$BTT_BIN" info "$torrent" | sed -n 's/^pieces: //p')
plen=$("$BTT_BIN" info "$torrent" | sed -n 's/^piece size: \([0-9]*\).*/\1/p')
hash=$("$BTT_BIN" info "$torrent" | sed -n 's/^info-hash: //p')
dl=$work/dl
name=$(basename "$data")

echo "# btt swarm benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
echo "# $mib MiB, $pieces pieces of $((plen / 1024)) KiB, $runs runs per pair; btt $("$BTT_BIN" --version 2>/dev/null | head -n1)"
echo "# pairs: $pairs"

declare -A R_WALL R_CPU R_RSS R_OK

# --- seeders --------------------------------------------------------------------------------
SEED_ADDR=
# seed_start KIND RUNTAG [NS IP [PEER]]: starts a seeder, sets SEED_ADDR to HOST:PORT once it
# serves. PEER: a downloader the seeder must connect to (Transmission cannot be told peers).
seed_start() {
    local kind=$1 tag=$2 ns=${3:-} ip=${4:-127.0.0.1} peer=${5:-} port
    local pre=() topeer=()
    [ -n "$ns" ] && pre=(ip netns exec "$ns")
    [ -n "$peer" ] && topeer=(--peer "$peer")
    case $kind in
    btt)
        start "seed-$tag" "${pre[@]}" "$BTT_BIN" seed "$torrent" -d "$src" --bind "$ip" --port 0 --no-trackers "${topeer[@]}"
        port=$(listen_port "seed-$tag" 120)
        wait_line "seed-$tag" '^have: ' 120 >/dev/null
        ;;
    lt)
        local extra=()
        [ -n "${TRACKER_URL:-}" ] && extra=(--tracker "$TRACKER_URL")
        start "seed-$tag" "${pre[@]}" "$PY" "$SW/lt_seed.py" "$torrent" "$src" --bind "$ip" --port 0 \
            --fast --quiet --timeout 3600 --no-trackers "${extra[@]}" "${topeer[@]}"
        port=$(listen_port "seed-$tag" 120)
        wait_line "seed-$tag" '^ready' 300 >/dev/null
        if [ -n "${TRACKER_URL:-}" ]; then
            wait_line "seed-$tag" '^tracker reply' 30 "the seeder's announce" >/dev/null
        fi
        ;;
    tr)
        tr_start "seed-$tag" "$ns" "$ip" 51413 "$src"
        tr_remote "seed-$tag" -a "$torrent" >/dev/null
        tr_wait_done "seed-$tag" 300
        port=51413
        ;;
    *) die "unknown seeder '$kind'" ;;
    esac
    SEED_ADDR=$ip:$port
}

# --- one measured download ----------------------------------------------------------------
# run_one SEEDER DOWNLOADER RUN -> fills R_*[pair,run]
run_one() {
    local s=$1 d=$2 r=$3 tag=${1}-${2}-$3 key="$1:$2,$3"
    local tf=$T/time-$tag ns_s='' ns_d='' ip_s=127.0.0.1 ip_d=127.0.0.1
    rm -rf "$dl"
    mkdir -p "$dl"
    TRACKER_URL=
    if [ "$s" = tr ] || [ "$d" = tr ]; then
        # Transmission refuses loopback peers: both ends in namespaces of their own
        local o
        o=$(subnet_octet)
        ns_new ns_s
        ns_new ns_d
        ip_s=10.77.$o.1
        ip_d=10.77.$o.2
        ns_link "$ns_s" "$ip_s" "$ns_d" "$ip_d"
    fi
    if [ "$d" = aria2 ]; then
        local tport
        tport=$(free_port)
        tracker_start "trk-$tag" 127.0.0.1 "$tport" "" "$hash"
        TRACKER_URL=http://127.0.0.1:$tport/announce
    fi
    # a Transmission downloader is reached by the seeder (which retries until it answers)
    seed_start "$s" "$tag" "$ns_s" "$ip_s" "$([ "$d" = tr ] && echo "$ip_d:51413")"
    local pre=()
    [ -n "$ns_d" ] && pre=(ip netns exec "$ns_d")
    local ok=1 t0 pid
    t0=$(date +%s.%N)
    case $d in
    btt)
        start "get-$tag" "${pre[@]}" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
            "$BTT_BIN" get "$torrent" -d "$dl" --peer "$SEED_ADDR" --bind "$ip_d" --port 0 --no-trackers
        ;;
    lt)
        start "get-$tag" "${pre[@]}" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
            "$PY" "$SW/lt_get.py" "$torrent" "$dl" --peer "$SEED_ADDR" --bind "$ip_d" --port 0 \
            --no-trackers --quiet --timeout "$limit"
        ;;
    aria2)
        start "get-$tag" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
            aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
            --enable-peer-exchange=false --bt-require-crypto=false --bt-min-crypto-level=plain \
            --listen-port="$(free_port)" --seed-time=0 --file-allocation=none \
            --summary-interval=0 --console-log-level=warn --bt-stop-timeout=60 \
            --bt-tracker="$TRACKER_URL" -d "$dl" "$torrent"
        ;;
    tr)
        tr_start "get-$tag" "$ns_d" "$ip_d" 51413 "$dl"
        pid=$(pid_of "get-$tag")
        local c0 c1 hz
        hz=$(getconf CLK_TCK)
        c0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
        t0=$(date +%s.%N)
        tr_remote "get-$tag" -a "$torrent" >/dev/null
        if ( tr_wait_done "get-$tag" "$limit" ) 2>"$T/log/trwait-$tag.err"; then
            local t1 rss
            t1=$(date +%s.%N)
            c1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
            rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
            echo "$(echo "$t1 - $t0" | bc) $(echo "scale=2; ($c1 - $c0) / $hz" | bc) 0 $rss" >"$tf"
        else
            ok=0
            cat "$T/log/trwait-$tag.err" >&2
        fi
        ;;
    *) die "unknown downloader '$d'" ;;
    esac
    if [ "$d" != tr ]; then
        local deadline=$(( $(date +%s) + limit + 30 ))
        while alive "get-$tag"; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                kill -TERM "$(pid_of "get-$tag")" 2>/dev/null || true
                ok=0
                echo "bench: $s -> $d run $r: timeout after $limit s" >&2
                break
            fi
            sleep 0.2
        done
        _reap "get-$tag"
        if [ "$RC" -ne 0 ]; then
            ok=0
            echo "bench: $s -> $d run $r: downloader exited $RC: $(tail -n 3 "$T/log/get-$tag.err" | tr '\n' ' ')" >&2
        fi
    fi
    if [ "$ok" -eq 1 ] && ! cmp -s "$data" "$dl/$name"; then
        ok=0
        echo "bench: $s -> $d run $r: downloaded data differs from the original" >&2
    fi
    local wall=0 u=0 sy=0 rss=0
    if [ -s "$tf" ]; then
        # /usr/bin/time writes "Command exited with non-zero status N" first on failure
        read -r wall u sy rss < <(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$tf" | tail -n1)
    fi
    R_WALL[$key]=$wall
    R_CPU[$key]=$(echo "$u + $sy" | bc)
    R_RSS[$key]=$rss
    R_OK[$key]=$ok
    printf '%-12s run %d: %s  wall %6.2f s  %8.1f MB/s  cpu %6.2f s  rss %6d MiB\n' "$s -> $d" "$r" \
        "$([ "$ok" -eq 1 ] && echo ok || echo FAIL)" "$wall" \
        "$(echo "if ($wall > 0) $bytes / 1000000 / $wall else 0" | bc -l)" "${R_CPU[$key]}" $((rss / 1024))
    # stop everything this run started
    local n
    for n in "seed-$tag" "get-$tag" "trk-$tag"; do
        [ -n "${_PID[$n]:-}" ] && quiet_stop "$n"
    done
    for n in ${ns_s:+"$ns_s"} ${ns_d:+"$ns_d"}; do
        local p
        for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del "$n" 2>/dev/null || true
    done
    rm -rf "$dl"
}

# quiet_stop NAME: SIGTERM, up to 30 s, then SIGKILL; never fails the bench (a seeder that
# crashes on exit is reported, not fatal).
quiet_stop() {
    local n=$1 pid
    pid=$(pid_of "$n")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    _reap "$n"
    if [ "$RC" -ge 128 ] && [ "$RC" -ne 143 ]; then
        echo "bench: $n died with signal $((RC - 128)) when stopped" >&2
    fi
}

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for p in $pairs; do
    s=${p%%:*}
    d=${p##*:}
    for r in $(seq 1 "$runs"); do
        run_one "$s" "$d" "$r"
    done
done

echo
echo "| seeder -> downloader | wall s (median) | MB/s | CPU s (user+sys) | peak RSS MiB | ok runs | wall s per run |"
echo "|---|---:|---:|---:|---:|---:|---|"
for p in $pairs; do
    walls=() cpus=() rsss=() all=() okn=0
    for r in $(seq 1 "$runs"); do
        k="$p,$r"
        all+=("$([ "${R_OK[$k]}" -eq 1 ] && printf '%.2f' "${R_WALL[$k]}" || echo FAIL)")
        if [ "${R_OK[$k]}" -eq 1 ]; then
            okn=$((okn + 1))
            walls+=("${R_WALL[$k]}")
            cpus+=("${R_CPU[$k]}")
            rsss+=("${R_RSS[$k]}")
        fi
    done
    if [ "$okn" -gt 0 ]; then
        w=$(median "${walls[@]}")
        c=$(median "${cpus[@]}")
        m=$(median "${rsss[@]}")
        printf '| %s -> %s | %.2f | %.1f | %.2f | %d | %d/%d | %s |\n' "${p%%:*}" "${p##*:}" "$w" \
            "$(echo "$bytes / 1000000 / $w" | bc -l)" "$c" $((${m%.*} / 1024)) "$okn" "$runs" "${all[*]}"
    else
        printf '| %s -> %s | - | - | - | - | 0/%d | %s |\n' "${p%%:*}" "${p##*:}" "$runs" "${all[*]}"
    fi
done
