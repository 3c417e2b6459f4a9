# shellcheck shell=bash
# Helpers of the DHT swarm tests (source after lib.sh). Nothing here ever leaves 127.0.0.1:
# BTT_DHT_BOOTSTRAP=none keeps btt away from the public routers, and the libtorrent nodes
# run with dht_bootstrap_nodes empty (ltpeer.py --dht).
#   wait_err_line NAME ERE SECS [DESC]  like wait_line, on NAME's stderr (btt -v logs there)
#   lt_dht_net N [IP]                   N libtorrent DHT nodes (lt_seed.py none) on IP (default
#                                       127.0.0.1; ::1 works too), each given the earlier ones
#                                       with add_dht_node; their ports are appended to the array
#                                       LT_DHT_PORTS, names ltdht1.. (numbered on across calls)
#   dht_count NAME ERE                  number of stderr lines of NAME matching ERE
export BTT_DHT_BOOTSTRAP=none

wait_err_line() { WAIT_STREAM=err wait_line "$@"; }

dht_count() {
    grep -Ec -- "$2" "$T/log/$1.err" 2>/dev/null || true
}

LT_DHT_PORTS=()
_LT_DHT_SEQ=0
lt_dht_net() {
    local n=$1 ip=${2:-127.0.0.1} i host p args mine=()
    host=$ip
    [[ "$ip" == *:* ]] && host="[$ip]"
    for i in $(seq 1 "$n"); do
        _LT_DHT_SEQ=$((_LT_DHT_SEQ + 1))
        args=()
        for p in "${mine[@]}"; do args+=(--dht-node "$host:$p"); done
        [ "${#args[@]}" -gt 0 ] || args=(--dht)
        start "ltdht$_LT_DHT_SEQ" "$PY" "$SW/lt_seed.py" none "$T" --bind "$ip" --port 0 --timeout 280 "${args[@]}"
        p=$(listen_port "ltdht$_LT_DHT_SEQ")
        mine+=("$p")
        LT_DHT_PORTS+=("$p")
    done
}
