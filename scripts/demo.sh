#!/bin/sh
# The main job on embedded defaults: builds btt, then in a temporary directory makes a
# 64 MiB file, creates a torrent of it, shows it, verifies the data, damages one byte and
# shows that verify finds the bad piece. Dependencies: scripts/install-deps.sh (as root).
set -eu
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" >/dev/null
btt=$PWD/build/release/btt

work=$(mktemp -d /tmp/btt-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data"
head -c $((64 << 20)) /dev/urandom > "$work/data/sample.bin"

echo "\$ btt create sample.bin -o sample.torrent -t udp://127.0.0.1:6969/announce"
"$btt" create "$work/data/sample.bin" -o "$work/sample.torrent" -t udp://127.0.0.1:6969/announce
echo
echo "\$ btt info sample.torrent"
"$btt" info "$work/sample.torrent"
echo
echo "\$ btt verify sample.torrent -d data"
"$btt" verify "$work/sample.torrent" -d "$work/data"
echo
echo "(flipping one byte in the middle of the file)"
printf 'X' | dd of="$work/data/sample.bin" bs=1 seek=$((32 << 20)) conv=notrunc 2>/dev/null
echo "\$ btt verify sample.torrent -d data"
if "$btt" verify "$work/sample.torrent" -d "$work/data"; then
    echo "demo: verify missed the damaged byte" >&2
    exit 1
fi
echo
echo "demo: done (verify exited 1 for the damaged data, as it should)"
