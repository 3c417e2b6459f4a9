#!/bin/sh
# The main job on embedded defaults: builds btt, then, in a temporary directory and on
# loopback only, makes a 64 MiB file, creates a torrent of it, shows it, seeds it with one
# btt process and downloads it with another, verifies the copy, damages one byte and shows
# that verify finds the bad piece. Dependencies: scripts/install-deps.sh (as root).
set -eu
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" >/dev/null
btt=$PWD/build/release/btt

work=$(mktemp -d /tmp/btt-demo.XXXXXX)
seeder=
cleanup() {
    [ -n "$seeder" ] && kill "$seeder" 2>/dev/null && wait "$seeder" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
export BTT_STATE_DIR="$work/state"
mkdir -p "$work/seed" "$work/download"
head -c $((64 << 20)) /dev/urandom > "$work/seed/sample.bin"

echo "\$ btt create sample.bin -o sample.torrent"
"$btt" create "$work/seed/sample.bin" -o "$work/sample.torrent"
echo
echo "\$ btt info sample.torrent"
"$btt" info "$work/sample.torrent"
echo
echo "\$ btt seed sample.torrent -d seed --bind 127.0.0.1 --port 0 &"
"$btt" seed "$work/sample.torrent" -d "$work/seed" --bind 127.0.0.1 --port 0 > "$work/seed.log" 2>&1 &
seeder=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/seed.log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "demo: the seeder did not start:" >&2; cat "$work/seed.log" >&2; exit 1; }
cat "$work/seed.log"
echo
echo "\$ btt get sample.torrent -d download --peer 127.0.0.1:$port --bind 127.0.0.1 --port 0"
"$btt" get "$work/sample.torrent" -d "$work/download" --peer "127.0.0.1:$port" --bind 127.0.0.1 --port 0
echo
echo "\$ btt verify sample.torrent -d download"
"$btt" verify "$work/sample.torrent" -d "$work/download"
cmp "$work/seed/sample.bin" "$work/download/sample.bin"
echo
echo "(flipping one byte in the middle of the downloaded file)"
printf 'X' | dd of="$work/download/sample.bin" bs=1 seek=$((32 << 20)) conv=notrunc 2>/dev/null
echo "\$ btt verify sample.torrent -d download"
if "$btt" verify "$work/sample.torrent" -d "$work/download"; then
    echo "demo: verify missed the damaged byte" >&2
    exit 1
fi
echo
echo "demo: done (a local swarm of two btt peers; verify exited 1 for the damaged copy, as it should)"
