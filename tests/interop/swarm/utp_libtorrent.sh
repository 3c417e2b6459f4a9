#!/bin/bash
# uTP with libtorrent (BEP 29) on loopback, data compared byte for byte:
#   1. libtorrent restricted to uTP (enable_*_tcp off) downloads from `btt seed --no-tcp`;
#   2. `btt get --no-tcp` downloads from a libtorrent seeder restricted to uTP;
#   3. btt with its defaults (uTP first, TCP fallback) from the uTP-only seeder: over uTP;
#   4. btt with its defaults from a TCP-only libtorrent seeder: uTP is not answered, btt
#      falls back to TCP after about 3 s and completes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

MiB=$((1024 * 1024))
mkdir -p "$T/src" "$T/dl1" "$T/dl2" "$T/dl3" "$T/dl4"
size=$((24 * MiB + 4321))
make_data "$T/src/data.bin" "$size"
btt_create "$T/src/data.bin" "$T/data.torrent" -p 256
pieces=$(btt_field "$T/data.torrent" pieces)

# --- 1. libtorrent (uTP only) from btt seed --no-tcp
start seed "$BTT" seed "$T/data.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 --no-tcp --no-trackers
port=$(listen_port seed)
line=$(wait_line seed '^have: ' 60 "the startup check")
[ "$line" = "have: $pieces/$pieces pieces verified" ] || fail "btt seed: got '$line'"
if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    fail "btt seed --no-tcp accepts TCP connections on port $port"
fi
start lt1 "$PY" "$SW/lt_get.py" "$T/data.torrent" "$T/dl1" --peer "127.0.0.1:$port" --utp-only --no-trackers --timeout 90
wait_exit lt1 100
[ "$RC" -eq 0 ] || fail "libtorrent (uTP only) failed (exit $RC): $(err_of lt1 | tail -n 5)"
same_file "$T/src/data.bin" "$T/dl1/data.bin" "libtorrent from btt over uTP"
ok "libtorrent (uTP only) from btt seed --no-tcp: $(grep -m1 '^complete' "$T/log/lt1.out")"
stop seed
[ "$RC" -eq 0 ] || fail "btt seed exited $RC on SIGTERM, wanted 0"

# --- 2. btt get --no-tcp from libtorrent (uTP only)
start lseed "$PY" "$SW/lt_seed.py" "$T/data.torrent" "$T/src" --bind 127.0.0.1 --port 0 --utp-only --no-trackers
sport=$(listen_port lseed)
wait_line lseed '^ready' 60 "libtorrent's check of the seed data" >/dev/null
start get2 "$BTT" get "$T/data.torrent" -d "$T/dl2" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0 --no-tcp --no-trackers
wait_exit get2 90
expect_complete get2
same_file "$T/src/data.bin" "$T/dl2/data.bin" "btt --no-tcp from libtorrent"
ok "btt get --no-tcp from libtorrent (uTP only): $(grep -m1 '^complete:' "$T/log/get2.out")"

# --- 3. btt with defaults from the same uTP-only seeder
start get3 "$BTT" get "$T/data.torrent" -d "$T/dl3" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0 --no-trackers
wait_exit get3 90
expect_complete get3
same_file "$T/src/data.bin" "$T/dl3/data.bin" "btt (defaults) from libtorrent uTP only"
ok "btt get (defaults) from libtorrent (uTP only): $(grep -m1 '^complete:' "$T/log/get3.out")"
stop lseed

# --- 4. btt with defaults from a TCP-only libtorrent seeder: the fallback
start tseed "$PY" "$SW/lt_seed.py" "$T/data.torrent" "$T/src" --bind 127.0.0.1 --port 0 --no-trackers
tport=$(listen_port tseed)
wait_line tseed '^ready' 60 "libtorrent's check of the seed data" >/dev/null
start get4 "$BTT" get "$T/data.torrent" -d "$T/dl4" --peer "127.0.0.1:$tport" --bind 127.0.0.1 --port 0 --no-trackers -vv
wait_exit get4 90
expect_complete get4
same_file "$T/src/data.bin" "$T/dl4/data.bin" "btt (defaults) from libtorrent TCP only"
grep -q 'uTP not established; trying TCP' "$T/log/get4.err" ||
    soft_fail "btt reached the TCP-only seeder without the logged uTP fallback"
ok "btt get (defaults) from libtorrent (TCP only), after the uTP fallback: $(grep -m1 '^complete:' "$T/log/get4.out")"
stop tseed
finish
