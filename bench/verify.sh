#!/usr/bin/env bash
# Benchmark: how fast `btt verify` re-checks a 1 GiB torrent from the page cache, compared
# with what OpenSSL's SHA-1 can do on this machine (single core x cores, and -multi).
#
# usage: bench/verify.sh [WORKDIR]
#   WORKDIR / BTT_BENCH_DIR   where the data lives (default /tmp/btt-bench); the random file
#                             is made once and reused
#   BTT_BIN                   btt binary (default build/release/btt)
#   BTT_BENCH_MIB             data size in MiB (default 1024)
#   BTT_BENCH_RUNS            verify runs (default 3)
#   BTT_BENCH_BLOCK           openssl speed block size in bytes (default 262144)
# Prints the measurements and, last, one markdown table row:
# | date | cpu | cores | size | piece | btt GB/s | btt CPU s | openssl 1-core GB/s | x cores | -multi GB/s | ratio |
# Not part of CTest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${1:-${BTT_BENCH_DIR:-/tmp/btt-bench}}
btt=${BTT_BIN:-$repo/build/release/btt}
mib=${BTT_BENCH_MIB:-1024}
runs=${BTT_BENCH_RUNS:-3}
block=${BTT_BENCH_BLOCK:-262144}
cores=$(nproc)

die() { echo "bench: $*" >&2; exit 2; }
[ -x "$btt" ] || die "no btt binary at $btt (cmake --preset release && cmake --build --preset release)"
command -v openssl >/dev/null || die "openssl not found"
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"

mkdir -p "$work"
data=$work/bench-${mib}M.bin
torrent=$work/bench-${mib}M.torrent
bytes=$((mib * 1024 * 1024))

# 1. random data, made once
if [ ! -f "$data" ] || [ "$(stat -c %s "$data")" -ne "$bytes" ]; then
    echo "making $mib MiB of random data in $data ..."
    head -c "$bytes" /dev/urandom >"$data.tmp"
    mv "$data.tmp" "$data"
fi

# 2. torrent with the automatic piece size
rm -f "$torrent"
ct=$( { /usr/bin/time -f '%e %U %S' "$btt" create "$data" -o "$torrent" -q --no-date >/dev/null; } 2>&1 | tail -n 1)
read -r c_wall c_user c_sys <<<"$ct"
piece=$("$btt" info "$torrent" 2>/dev/null | grep -i -m1 -E 'piece' | grep -o -E '[0-9.]+ [KMG]iB' | head -n 1 || true)
echo "create: ${c_wall}s wall, $(awk -v u="$c_user" -v s="$c_sys" 'BEGIN{printf "%.2f", u+s}')s CPU, piece size ${piece:-?}"

# 3. warm the page cache
cat "$data" >/dev/null

# 4. verify N times
best=""
walls=()
cpus=()
for i in $(seq 1 "$runs"); do
    out=$( { /usr/bin/time -f '%e %U %S' "$btt" verify "$torrent" -d "$work" -q >/dev/null; } 2>&1 ) || {
        echo "$out" >&2
        die "btt verify failed"
    }
    read -r wall user sys <<<"$(echo "$out" | tail -n 1)"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u+s}')
    gbs=$(awk -v b="$bytes" -v w="$wall" 'BEGIN{printf "%.3f", (w > 0 ? b / w / 1e9 : 0)}')
    echo "verify run $i: ${wall}s wall, ${cpu}s CPU (user $user, sys $sys) -> $gbs GB/s"
    walls+=("$wall")
    cpus+=("$cpu")
    if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN{exit !(a < b)}'; then best=$wall; best_cpu=$cpu; fi
done
median=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
btt_gbs=$(awk -v b="$bytes" -v w="$best" 'BEGIN{printf "%.3f", b / w / 1e9}')
btt_med=$(awk -v b="$bytes" -v w="$median" 'BEGIN{printf "%.3f", b / w / 1e9}')

# 5. openssl: one core, and all cores with -multi
ossl_rate() { # prints bytes/s of the "sha1" line (openssl prints 1000s of bytes per second)
    awk '$1 == "sha1" { v = $NF; sub(/k$/, "", v); printf "%.0f", v * 1000 }'
}
one=$(openssl speed -evp sha1 -bytes "$block" -seconds 3 2>/dev/null | ossl_rate)
multi=$(openssl speed -multi "$cores" -evp sha1 -bytes "$block" -seconds 3 2>/dev/null | ossl_rate)
[ -n "$one" ] && [ -n "$multi" ] || die "could not parse openssl speed output"
one_gbs=$(awk -v r="$one" 'BEGIN{printf "%.3f", r / 1e9}')
x_cores=$(awk -v r="$one" -v n="$cores" 'BEGIN{printf "%.3f", r * n / 1e9}')
multi_gbs=$(awk -v r="$multi" 'BEGIN{printf "%.3f", r / 1e9}')
ratio=$(awk -v a="$btt_gbs" -v b="$x_cores" 'BEGIN{printf "%.2f", a / b}')
ratio_multi=$(awk -v a="$btt_gbs" -v b="$multi_gbs" 'BEGIN{printf "%.2f", a / b}')

cpu_name=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo unknown)
echo
echo "btt verify: best $btt_gbs GB/s, median $btt_med GB/s (${best}s wall, ${best_cpu}s CPU for $mib MiB)"
echo "openssl sha1 ${block}-byte blocks: 1 core $one_gbs GB/s; x $cores cores = $x_cores GB/s; -multi $cores = $multi_gbs GB/s"
echo "ratio btt / (1 core x $cores): $ratio; btt / -multi: $ratio_multi"
echo
echo "| date | cpu | cores | size | piece | btt verify GB/s (best/median) | btt CPU s | openssl sha1 1-core GB/s | x $cores cores | -multi GB/s | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
echo "| $(date +%F) | $cpu_name | $cores | $mib MiB | ${piece:-auto} | $btt_gbs / $btt_med | $best_cpu | $one_gbs | $x_cores | $multi_gbs | $ratio |"
