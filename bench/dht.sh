#!/bin/bash
# DHT benchmark: a loopback DHT of btt nodes (tests/tools/dht_net, many nodes in one process
# on separate UDP ports) and libtorrent nodes (bench/dht_lt.py), in a network namespace of its
# own whose loopback delays every datagram by BTT_BENCH_DELAY_MS (netem), so a round trip
# costs what it does between hosts. Random info-hashes are announced by btt nodes; then one
# get_peers lookup per hash from a btt node and one from a libtorrent node, in the same
# network and run. Per lookup: queries sent and time to the first peer; and btt's memory.
#
# usage: bench/dht.sh [WORKDIR]          (as root: it makes a network namespace)
#   BTT_BENCH_NODES     btt nodes (default 500)
#   BTT_BENCH_LT        libtorrent nodes (default 10)
#   BTT_BENCH_TORRENTS  info-hashes, each announced by 3 btt nodes (default 20)
#   BTT_BENCH_DELAY_MS  one-way delay on the namespace's loopback (default 10)
#   BTT_BENCH_SETTLE    seconds between the last join and the announces (default 30)
# Nothing leaves the namespace.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${1:-${BTT_BENCH_DIR:-/tmp/btt-bench-dht}}
export BTT_DHT_BOOTSTRAP=none
tool=${BTT_BIN:-$repo/build/release/btt}
tool=$(dirname "$tool")/tests/tools/dht_net
n=${BTT_BENCH_NODES:-500}
m=${BTT_BENCH_LT:-10}
ntor=${BTT_BENCH_TORRENTS:-20}
delay=${BTT_BENCH_DELAY_MS:-10}
settle=${BTT_BENCH_SETTLE:-30}
[ -x "$tool" ] || { echo "dht.sh: $tool not built (cmake --build --preset release)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "dht.sh: run as root (network namespace)" >&2; exit 2; }
rm -rf "$work"
mkdir -p "$work"
ns=btt-dhtbench-$$
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
[ "$delay" -gt 0 ] && tc -n "$ns" qdisc add dev lo root netem delay "${delay}ms" limit 100000

wait_for() { # FILE ERE SECS
    local i
    for i in $(seq 1 $(($3 * 10))); do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "dht.sh: timeout waiting for /$2/ in $1" >&2
    tail -n 5 "$1" >&2
    exit 1
}

echo "# $n btt nodes + $m libtorrent nodes, $ntor info-hashes x 3 announcers, loopback delay ${delay} ms one way; load before: $(uptime | sed 's/.*load average: //')"
ip netns exec "$ns" "$tool" -n "$n" -p 30000 -s "$settle" -t "$ntor" -o "$work" >"$work/btt.out" 2>&1 &
pids+=($!)
wait_for "$work/btt.out" "^joined $n\$" 300
ip netns exec "$ns" /usr/bin/python3 "$here/dht_lt.py" --nodes "$m" --port 40000 --btt-port 30000 \
    --btt-nodes "$n" --dir "$work" >"$work/lt.out" 2>"$work/lt.err" &
pids+=($!)
wait_for "$work/lt.out" '^lt done' $((settle + 600))
echo "# load after: $(uptime | sed 's/.*load average: //')"
/usr/bin/python3 - "$work/btt.out" "$work/lt.out" <<'PYEOF'
import re, statistics, sys
def rows(path):
    out = []
    for line in open(path):
        m = re.match(r"lookup (\w+) queries (\d+) first_peer_ms (\d+).* peers (\d+)", line)
        if m:
            out.append((int(m.group(2)), int(m.group(3)), int(m.group(4))))
    return out
def line(path, prefix):
    for l in open(path):
        if l.startswith(prefix):
            return l.strip()
    return ""
print("| client | lookups | found peers | queries: median / mean / max | first peer, ms: median / mean / max |")
print("|---|---|---|---|---|")
for name, path in (("btt", sys.argv[1]), ("libtorrent 2.0", sys.argv[2])):
    r = rows(path)
    found = [x for x in r if x[2] > 0]
    q = [x[0] for x in r]
    f = [x[1] for x in found]
    if not r:
        print("| %s | 0 | | | |" % name)
        continue
    print("| %s | %d | %d | %d / %.1f / %d | %s |" % (
        name, len(r), len(found), statistics.median(q), statistics.mean(q), max(q),
        "%d / %.1f / %d" % (statistics.median(f), statistics.mean(f), max(f)) if f else "-"))
print()
print("btt:", line(sys.argv[1], "memory:"))
print("btt:", line(sys.argv[1], "table:"))
print("libtorrent:", line(sys.argv[2], "table:"))
PYEOF
