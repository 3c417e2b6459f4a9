#!/bin/bash
# btt to btt over uTP only (--no-tcp on both) through udp_relay.py, a UDP relay that drops and
# reorders datagrams both ways and adds 2 ms of delay: with no loss (a reference), then at 1%
# and at 5% loss (5% of the datagrams reordered), the download completes with exact data.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

MiB=$((1024 * 1024))
mkdir -p "$T/src"
size=$((8 * MiB + 777))
make_data "$T/src/data.bin" "$size"
btt_create "$T/src/data.bin" "$T/data.torrent" -p 64

start seed "$BTT" seed "$T/data.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 --no-tcp --no-trackers
port=$(listen_port seed)
wait_line seed '^have: ' 60 "the startup check" >/dev/null

run() { # LOSS REORDER NAME
    local loss=$1 reorder=$2 name=$3 rport
    mkdir -p "$T/dl-$name"
    start "relay-$name" "$PY" "$SW/udp_relay.py" --target "127.0.0.1:$port" --loss "$loss" --reorder "$reorder" \
        --delay 2 --jitter 10 --seed "$RANDOM"
    rport=$(listen_port "relay-$name")
    start "get-$name" "$BTT" get "$T/data.torrent" -d "$T/dl-$name" --peer "127.0.0.1:$rport" --bind 127.0.0.1 \
        --port 0 --no-tcp --no-trackers
    wait_exit "get-$name" 150
    expect_complete "get-$name"
    same_file "$T/src/data.bin" "$T/dl-$name/data.bin" "$loss% loss"
    stop "relay-$name"
    ok "$loss% loss, $reorder% reordered: $(grep -m1 '^complete:' "$T/log/get-$name.out"); $(grep -m1 '^relay:' "$T/log/relay-$name.out")"
}

run 0 0 clean
run 1 5 loss1
run 5 5 loss5
stop seed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM, wanted 0"
finish
