# shellcheck shell=bash
# Helpers of the DHT swarm tests (source after lib.sh). Nothing here ever leaves 127.0.0.1:
# BTT_DHT_BOOTSTRAP=none keeps btt away from the public routers, and the libtorrent nodes
# run with dht_bootstrap_nodes empty (ltpeer.py --dht).
#   wait_err_line NAME ERE SECS [DESC]  like wait_line, on NAME's stderr (btt -v logs there)
#   lt_dht_net N                        N libtorrent DHT nodes (lt_seed.py none) on 127.0.0.1,
#                                       each given the earlier ones with add_dht_node; their
#                                       ports in the array LT_DHT_PORTS, names ltdht1..N
#   dht_count NAME ERE                  number of stderr lines of NAME matching ERE
export BTT_DHT_BOOTSTRAP=none

wait_err_line() {
    local name=$1 re=$2 secs=$3 desc=${4:-}
    local f=$T/log/$name.err line deadline
    deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
    while :; do
        line=$(grep -E -m1 -- "$re" "$f" 2>/dev/null || true)
        if [ -n "$line" ]; then
            printf '%s\n' "$line"
            return 0
        fi
        if ! alive "$name"; then
            line=$(grep -E -m1 -- "$re" "$f" 2>/dev/null || true)
            [ -n "$line" ] && { printf '%s\n' "$line"; return 0; }
            fail "$name exited$(_status "$name") before logging a line matching /$re/ ${desc:+($desc)}"
        fi
        if [ "$(($(date +%s%N) / 1000000))" -ge "$deadline" ]; then
            fail "timeout: $name logged no line matching /$re/ within $secs s ${desc:+($desc)}"
        fi
        sleep 0.1
    done
}

dht_count() {
    grep -Ec -- "$2" "$T/log/$1.err" 2>/dev/null || true
}

LT_DHT_PORTS=()
lt_dht_net() {
    local n=$1 i p args
    for i in $(seq 1 "$n"); do
        args=()
        for p in "${LT_DHT_PORTS[@]}"; do args+=(--dht-node "127.0.0.1:$p"); done
        [ "${#args[@]}" -gt 0 ] || args=(--dht)
        start "ltdht$i" "$PY" "$SW/lt_seed.py" none "$T" --bind 127.0.0.1 --port 0 --timeout 280 "${args[@]}"
        LT_DHT_PORTS+=("$(listen_port "ltdht$i")")
    done
}
