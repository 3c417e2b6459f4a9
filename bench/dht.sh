#!/bin/bash
# DHT benchmark: a loopback DHT of btt nodes (tests/tools/dht_net, many nodes in one process
# on separate UDP ports) and libtorrent nodes (bench/dht_lt.py), in a network namespace of its
# own. dht_net holds every datagram a btt node sends or receives from a libtorrent node for
# BTT_BENCH_DELAY_MS, so (but for libtorrent-to-libtorrent datagrams) every datagram arrives
# that much late and a round trip costs what it does between hosts (this kernel has no
# netem for a fairer delay line). Random info-hashes are announced by btt nodes; then one
# get_peers lookup per hash from a btt node and one from a libtorrent node, in the same
# network and run. Per lookup: queries sent and time to the first peer; and btt's memory:
# per node in the tool, and of the real client (`btt seed`) joined to the network.
#
# usage: bench/dht.sh [WORKDIR]          (as root: it makes a network namespace)
#   BTT_BENCH_NODES     btt nodes (default 500)
#   BTT_BENCH_LT        libtorrent nodes (default 10)
#   BTT_BENCH_TORRENTS  info-hashes, each announced by 3 btt nodes (default 20)
#   BTT_BENCH_DELAY_MS  one-way delay of each datagram (default 10)
#   BTT_BENCH_JOIN_MS   btt nodes join this many ms apart (default 20)
#   BTT_BENCH_SETTLE    seconds between the last join and the announces (default 60)
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
settle=${BTT_BENCH_SETTLE:-60}
join=${BTT_BENCH_JOIN_MS:-20}
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
ip netns exec "$ns" "$tool" -n "$n" -p 30000 -d "$delay" -j "$join" -s "$settle" -t "$ntor" -o "$work" >"$work/btt.out" 2>&1 &
pids+=($!)
wait_for "$work/btt.out" "^joined $n\$" 300
ip netns exec "$ns" /usr/bin/python3 "$here/dht_lt.py" --nodes "$m" --port 40000 --btt-port 30000 \
    --btt-nodes "$n" --dir "$work" >"$work/lt.out" 2>"$work/lt.err" &
pids+=($!)
wait_for "$work/lt.out" '^lt done' $((settle + 600))

# the real client in the same network: `btt seed` joined through one node, its RSS after
# BTT_BENCH_CLIENT_S seconds, against the same command with --no-dht
btt=${BTT_BIN:-$repo/build/release/btt}
secs=${BTT_BENCH_CLIENT_S:-40}
mkdir -p "$work/data"
head -c 1048576 /dev/urandom >"$work/data/x.bin"
"$btt" create "$work/data/x.bin" -o "$work/x.torrent" -q
client_rss() { # NAME ARGS...: runs btt seed for $secs s, prints its VmRSS in KiB
    local name=$1 pid rss
    shift
    BTT_STATE_DIR=$work/state-$name ip netns exec "$ns" "$btt" seed "$work/x.torrent" -d "$work/data" \
        --bind 127.0.0.1 --port 0 -v "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pid=$!
    pids+=("$pid")
    sleep "$secs"
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid" || true
    echo "$rss"
}
rss_dht=$(client_rss withdht --dht-node 127.0.0.1:30000)
rss_nodht=$(client_rss nodht --no-dht)
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
echo "btt seed (the client) after ${secs} s in this network: RSS $rss_dht KiB with the DHT, $rss_nodht KiB with --no-dht;" \
    "$(grep -m1 -oE 'dht: [0-9]+ nodes; in [0-9]+ packets' "$work/withdht.err" || echo 'no DHT statistics')"
