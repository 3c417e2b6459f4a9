#!/bin/bash
# Two seeds have nothing to say to each other: `btt get --seed --peer S` downloads from `btt seed`
# S, closes the connection once both are seeds ("both seeds") and then does not dial S again while
# it seeds (it used to reconnect every 5 s only to close again). Asserts, over 12 s of seeding
# (more than two of the old 5 s retries): one outgoing connection to S in the downloader's log,
# one "both seeds" close; the copy is exact.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
mkdir -p "$T/src" "$T/dl"
make_data "$T/src/s.bin" $((4 * MiB))
btt_create "$T/src/s.bin" "$T/t.torrent" -p 256
start seed "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 --no-trackers --no-dht -v
port=$(listen_port seed)
wait_line seed '^have: ' 60 "the startup check" >/dev/null
start get "$BTT" get "$T/t.torrent" -d "$T/dl" --bind 127.0.0.1 --port 0 --no-trackers --no-dht --seed -v \
    --peer "127.0.0.1:$port"
wait_line get '^complete:' 60 "the download" >/dev/null
same_file "$T/src/s.bin" "$T/dl/s.bin" "the copy"
sleep 12
n=$(grep -c "peer 127.0.0.1:$port connected (outgoing)" "$T/log/get.err" || true)
[ "$n" -eq 1 ] || fail "the seeding downloader connected to the seed $n times, want once:
$(grep "127.0.0.1:$port" "$T/log/get.err" | tail -n 10)"
n=$(grep -c "peer 127.0.0.1:$port closed: both seeds" "$T/log/get.err" || true)
[ "$n" -eq 1 ] || fail "'both seeds' closes: $n, want 1"
ok "after the download the new seed left the old one alone (1 connection, 1 'both seeds' close in 12 s of seeding)"
stop get
stop seed
finish
