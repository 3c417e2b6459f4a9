#!/bin/bash
# IPv6: a btt seeder listening with the default (dual-stack) address serves one btt downloader
# over ::1 and another over 127.0.0.1; a seeder bound to ::1 only serves over IPv6.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

mkdir -p "$T/src" "$T/dl6" "$T/dl4" "$T/dl6only"
size=$((6 * 1024 * 1024 + 999))
make_data "$T/src/v6.bin" "$size"
btt_create "$T/src/v6.bin" "$T/v6.torrent" -p 64

start seed "$BTT" seed "$T/v6.torrent" -d "$T/src" --port 0
line=$(wait_line seed '^listening on ' 60 "the dual-stack seeder")
[[ "$line" == "listening on [::]:"* ]] || fail "default listen address is not dual-stack: '$line'"
port=${line##*:}

start get6 "$BTT" get "$T/v6.torrent" -d "$T/dl6" --peer "[::1]:$port" --port 0
wait_exit get6 90
expect_complete get6
same_file "$T/src/v6.bin" "$T/dl6/v6.bin" "download over ::1"

start get4 "$BTT" get "$T/v6.torrent" -d "$T/dl4" --peer "127.0.0.1:$port" --port 0
wait_exit get4 90
expect_complete get4
same_file "$T/src/v6.bin" "$T/dl4/v6.bin" "download over 127.0.0.1 from the dual-stack seeder"
stop seed

start seed6 "$BTT" seed "$T/v6.torrent" -d "$T/src" --bind ::1 --port 0
line=$(wait_line seed6 '^listening on ' 60 "the ::1 seeder")
[[ "$line" == "listening on [::1]:"* ]] || fail "seeder bound to ::1 says '$line'"
port=${line##*:}
start get6only "$BTT" get "$T/v6.torrent" -d "$T/dl6only" --peer "[::1]:$port" --bind ::1 --port 0
wait_exit get6only 90
expect_complete get6only
same_file "$T/src/v6.bin" "$T/dl6only/v6.bin" "download between ::1-only peers"
stop seed6
ok "IPv6 and dual-stack transfers"
finish
