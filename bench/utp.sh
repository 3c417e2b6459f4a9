#!/usr/bin/env bash
# Benchmark: uTP only, one seeder and one downloader on loopback, btt -> btt against
# libtorrent 2.0 -> libtorrent (python3-libtorrent) in the same run, rounds alternating.
#
# usage: bench/utp.sh [WORKDIR]
#   WORKDIR / BTT_BENCH_DIR  where the data lives (default /dev/shm/btt-bench-utp: tmpfs, so the
#                            disk is out of the measurement); the random file is made once and
#                            reused; downloads go to WORKDIR/dl and are removed after each run
#   BTT_BIN                  btt binary (default build/release/btt)
#   BTT_BENCH_MIB            data size in MiB (default 1024)
#   BTT_BENCH_RUNS           rounds (default 3); each round runs btt then libtorrent (odd rounds)
#                            or libtorrent then btt (even rounds)
#   BTT_BENCH_PIECE_KIB      piece size (default 1024)
# btt: `btt seed --no-tcp`, `btt get --no-tcp`. libtorrent: `lt_seed.py --utp-only` and
# `lt_get.py --utp-only`, both with libtorrent's default settings (its high_performance_seed
# settings, `--fast`, which bench/swarm.sh uses for TCP, were no faster over uTP: 1 GiB in
# 159-183 s with them, 151-166 s without). No trackers, no DHT.
# Measured: the downloader with /usr/bin/time (wall s from process start to exit, user+sys CPU
# s) and the seeder's user+sys CPU from /proc between its "ready" and the downloader's exit
# (its startup check of the data is not counted). Every download is compared with the original.
# Prints each run and a markdown table of medians with ratios btt / libtorrent. Not in CTest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${1:-${BTT_BENCH_DIR:-/dev/shm/btt-bench-utp}}
export BTT_BIN=${BTT_BIN:-$repo/build/release/btt}
export BTT_SRC=$repo
export BTT_DHT_BOOTSTRAP=none
mib=${BTT_BENCH_MIB:-1024}
runs=${BTT_BENCH_RUNS:-3}
piece=${BTT_BENCH_PIECE_KIB:-1024}

die() { echo "bench: $*" >&2; exit 2; }
[ -x "$BTT_BIN" ] || die "no btt binary at $BTT_BIN (cmake --preset release && cmake --build --preset release)"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"

export TEST_NAME=bench_utp
export BTT_SWARM_DEADLINE=${BTT_SWARM_DEADLINE:-864000}
# shellcheck source=../tests/interop/swarm/lib.sh
. "$repo/tests/interop/swarm/lib.sh"

mkdir -p "$work/src"
chmod 755 "$work"
bytes=$((mib * 1024 * 1024))
data=$work/src/utp-${mib}M.bin
if [ ! -f "$data" ] || [ "$(stat -c %s "$data")" -ne "$bytes" ]; then
    echo "making $mib MiB of random data in $data ..."
    head -c "$bytes" /dev/urandom >"$data.tmp"
    mv "$data.tmp" "$data"
fi
torrent=$T/utp.torrent
"$BTT_BIN" create "$data" -o "$torrent" -q -p "$piece" >/dev/null
dl=$work/dl
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

declare -A WALL=() DCPU=() SCPU=()
run_one() { # KIND ROUND
    local k=$1 r=$2 tag=$1-$2 tf=$T/time-$1-$2 port spid c0 c1
    rm -rf "$dl"
    mkdir -p "$dl"
    if [ "$k" = btt ]; then
        start "seed-$tag" "$BTT_BIN" seed "$torrent" -d "$work/src" --bind 127.0.0.1 --port 0 --no-tcp --no-trackers
        port=$(listen_port "seed-$tag" 120)
        wait_line "seed-$tag" '^have: ' 300 >/dev/null
    else
        start "seed-$tag" "$PY" "$SW/lt_seed.py" "$torrent" "$work/src" --bind 127.0.0.1 --port 0 --utp-only \
            --quiet --no-trackers --timeout 3600
        port=$(listen_port "seed-$tag" 120)
        wait_line "seed-$tag" '^ready' 300 >/dev/null
    fi
    spid=$(pid_of "seed-$tag")
    # `ip netns exec`-free here: the pid is the seeder itself
    c0=$(cpu_ticks "$spid")
    if [ "$k" = btt ]; then
        start "get-$tag" /usr/bin/time -f '%e %U %S' -o "$tf" \
            "$BTT_BIN" get "$torrent" -d "$dl" --peer "127.0.0.1:$port" --bind 127.0.0.1 --port 0 --no-tcp --no-trackers
    else
        start "get-$tag" /usr/bin/time -f '%e %U %S' -o "$tf" \
            "$PY" "$SW/lt_get.py" "$torrent" "$dl" --peer "127.0.0.1:$port" --bind 127.0.0.1 --port 0 \
            --utp-only --no-trackers --quiet --timeout 900
    fi
    wait_exit "get-$tag" 1000
    c1=$(cpu_ticks "$spid")
    [ "$RC" -eq 0 ] || fail "$tag: the download exited $RC"
    stop "seed-$tag"
    same_file "$data" "$dl/$(basename "$data")" "$tag"
    read -r w u s <"$tf"
    WALL[$tag]=$w
    DCPU[$tag]=$(echo "$u + $s" | bc)
    SCPU[$tag]=$(echo "scale=2; ($c1 - $c0) / $hz" | bc)
    printf '%-4s round %d: wall %6.2f s  %7.1f MB/s  downloader CPU %6.2f s  seeder CPU %6.2f s  total CPU %6.2f s\n' \
        "$k" "$r" "$w" "$(echo "$bytes / $w / 1000000" | bc -l)" "${DCPU[$tag]}" "${SCPU[$tag]}" \
        "$(echo "${DCPU[$tag]} + ${SCPU[$tag]}" | bc)"
    rm -rf "$dl"
}

echo "uTP only, loopback, $mib MiB, piece $piece KiB, $runs rounds; load: $(uptime | sed 's/.*load/load/')"
for r in $(seq 1 "$runs"); do
    if [ $((r % 2)) -eq 1 ]; then order="btt lt"; else order="lt btt"; fi
    for k in $order; do run_one "$k" "$r"; done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
declare -A MW=() MD=() MS=() MT=()
for k in btt lt; do
    ws=() ds=() ss=() ts=()
    for r in $(seq 1 "$runs"); do
        ws+=("${WALL[$k-$r]}"); ds+=("${DCPU[$k-$r]}"); ss+=("${SCPU[$k-$r]}")
        ts+=("$(echo "${DCPU[$k-$r]} + ${SCPU[$k-$r]}" | bc)")
    done
    MW[$k]=$(median "${ws[@]}"); MD[$k]=$(median "${ds[@]}"); MS[$k]=$(median "${ss[@]}"); MT[$k]=$(median "${ts[@]}")
done
echo
echo "| pair | wall s | MB/s | downloader CPU s | seeder CPU s | total CPU s |"
echo "|---|---|---|---|---|---|"
for k in btt lt; do
    printf '| %s -> %s | %.2f | %.1f | %.2f | %.2f | %.2f |\n' "$k" "$k" "${MW[$k]}" \
        "$(echo "$bytes / ${MW[$k]} / 1000000" | bc -l)" "${MD[$k]}" "${MS[$k]}" "${MT[$k]}"
done
printf '| ratio btt / lt | %.2f | | %.2f | %.2f | %.2f |\n' "$(echo "${MW[btt]} / ${MW[lt]}" | bc -l)" \
    "$(echo "${MD[btt]} / ${MD[lt]}" | bc -l)" "$(echo "${MS[btt]} / ${MS[lt]}" | bc -l)" \
    "$(echo "${MT[btt]} / ${MT[lt]}" | bc -l)"
finish
