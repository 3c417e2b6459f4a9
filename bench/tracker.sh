#!/usr/bin/env bash
# Tracker benchmark (not a test): `btt tracker` against opentracker in the same run, on
# loopback, with the same swarms, each server pinned to CPU 0 and the load generator
# (tests/tools/tracker_load) to CPU 1.
#
#   UDP:  BEP 15 announces, one socket, 256 in flight
#   HTTP: GET /announce on 64 connections; keep-alive where the server allows it (opentracker
#         closes every connection, so it is measured that way; btt is measured both ways)
#   RSS:  resident memory before and after announcing every (torrent, port) pair of a larger
#         swarm once -> bytes per peer
# Swarms: TORRENTS info-hashes (whitelisted on both trackers: the Debian opentracker only serves
# whitelisted torrents), peers varying by port. Each rate is the best of ROUNDS runs of SECONDS,
# the trackers alternating, since the machine may be shared.
#
# usage: bench/tracker.sh            (builds nothing: cmake --build --preset release first)
#   SECONDS_PER_RUN (5) ROUNDS (3) TORRENTS (1000) PEERS (100) FILL_PEERS (1000)
#   MEMORY_ONLY=1: only the RSS measurement (MEMORY_ROUNDS of it, default 1, each printed)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BTT=${BTT_BIN:-$here/build/release/btt}
LOAD=${TRACKER_LOAD:-$here/build/release/tests/tools/tracker_load}
secs=${SECONDS_PER_RUN:-5}
rounds=${ROUNDS:-3}
torrents=${TORRENTS:-1000}
peers=${PEERS:-100}
fill_peers=${FILL_PEERS:-1000}
command -v opentracker >/dev/null || { echo "opentracker is not installed" >&2; exit 2; }
[ -x "$BTT" ] && [ -x "$LOAD" ] || { echo "build first: cmake --build --preset release" >&2; exit 2; }

T=$(mktemp -d /tmp/btt-bench-tracker.XXXXXX)
chmod 755 "$T"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
"$LOAD" hashes - --torrents "$torrents" >"$T/whitelist"
chmod 644 "$T/whitelist"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
best() { sort -n | tail -n1; }
rate_of() { sed -n 's/.* = \([0-9]*\)\/s.*/\1/p'; }

start_btt() { # -> pid in $srv, port in $sp
    sp=$(port)
    taskset -c 0 "$BTT" tracker --http "127.0.0.1:$sp" --udp "127.0.0.1:$sp" --whitelist "$T/whitelist" \
        --rate-limit 0 --max-connections 65536 >"$T/btt.out" 2>&1 &
    srv=$!
    pids+=("$srv")
    for _ in $(seq 50); do grep -q '^listening on udp' "$T/btt.out" && return; sleep 0.1; done
    echo "btt tracker did not start: $(cat "$T/btt.out")" >&2
    exit 1
}
start_ot() {
    sp=$(port)
    taskset -c 0 opentracker -i 127.0.0.1 -p "$sp" -P "$sp" -d "$T" -w /whitelist >"$T/ot.out" 2>&1 &
    srv=$!
    pids+=("$srv")
    for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $sp), 1).close()" 2>/dev/null && return
        sleep 0.1
    done
    echo "opentracker did not start" >&2
    exit 1
}
stop_srv() { kill "$srv"; wait "$srv" 2>/dev/null || true; }

load() { taskset -c 1 "$LOAD" "$@" --torrents "$torrents" --peers "$peers"; }

declare -A R
for name in btt ot; do
    for key in udp http http_close; do R[$name.$key]=""; done
done
[ "${MEMORY_ONLY:-0}" = 1 ] && rounds=0
for round in $(seq "$rounds"); do
    for name in btt ot; do
        "start_$name"
        load udp "127.0.0.1:$sp" --seconds 1 >/dev/null # warm up: the swarms exist
        u=$(load udp "127.0.0.1:$sp" --seconds "$secs")
        echo "round $round $name $u"
        R[$name.udp]+="$(echo "$u" | rate_of) "
        h=$(load http "127.0.0.1:$sp" --seconds "$secs" --conns 64)
        echo "round $round $name $h"
        R[$name.http]+="$(echo "$h" | rate_of) "
        if [ "$name" = btt ]; then
            h=$(load http "127.0.0.1:$sp" --seconds "$secs" --conns 64 --close)
            echo "round $round $name (Connection: close) $h"
            R[$name.http_close]+="$(echo "$h" | rate_of) "
        fi
        stop_srv
    done
done

# memory per peer: announce every (torrent, port) pair once over UDP
declare -A M
for mround in $(seq "${MEMORY_ROUNDS:-1}"); do
for name in btt ot; do
    "start_$name"
    sleep 0.3
    r0=$(rss_kb "$srv")
    taskset -c 1 "$LOAD" udp "127.0.0.1:$sp" --fill --torrents "$torrents" --peers "$fill_peers" --window 128 >"$T/fill"
    r1=$(rss_kb "$srv")
    n=$((torrents * fill_peers))
    M[$name]=$(python3 -c "print('%.1f' % (($r1 - $r0) * 1024 / $n))")
    echo "memory $name: RSS $r0 kB -> $r1 kB for $n peers: ${M[$name]} bytes/peer ($(cat "$T/fill"))"
    stop_srv
done
done
if [ "${MEMORY_ONLY:-0}" = 1 ]; then
    echo "| bytes per peer ($torrents torrents x $fill_peers peers) | ${M[btt]} | ${M[ot]} | $(python3 -c "print('%.2f' % (${M[btt]} / ${M[ot]}))") |"
    exit 0
fi

bu=$(echo ${R[btt.udp]} | tr ' ' '\n' | best)
ou=$(echo ${R[ot.udp]} | tr ' ' '\n' | best)
bh=$(echo ${R[btt.http]} | tr ' ' '\n' | best)
bhc=$(echo ${R[btt.http_close]} | tr ' ' '\n' | best)
oh=$(echo ${R[ot.http]} | tr ' ' '\n' | best)
echo
echo "| | btt tracker | opentracker | btt / opentracker |"
echo "|---|---|---|---|"
echo "| UDP announces/s | $bu | $ou | $(python3 -c "print('%.2f' % ($bu / $ou))") |"
echo "| HTTP announces/s, keep-alive (btt) vs opentracker (closes) | $bh | $oh | $(python3 -c "print('%.2f' % ($bh / $oh))") |"
echo "| HTTP announces/s, a connection per request on both | $bhc | $oh | $(python3 -c "print('%.2f' % ($bhc / $oh))") |"
echo "| bytes per peer ($torrents torrents x $fill_peers peers) | ${M[btt]} | ${M[ot]} | $(python3 -c "print('%.2f' % (${M[btt]} / ${M[ot]}))") |"
