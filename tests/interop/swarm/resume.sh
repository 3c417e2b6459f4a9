#!/bin/bash
# Stop and resume: btt downloads from a rate-limited libtorrent seeder; about halfway through it
# gets SIGTERM and must exit 0 (saving resume data in $BTT_STATE_DIR). Restarted with the same
# -d and state dir, it must report verified pieces in "have: H/N" (H > 0), finish, and download
# clearly less than the whole torrent: at most the missing pieces plus a little slack, never
# re-fetching verified pieces. A third run finds everything and downloads nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

MiB=$((1024 * 1024))
mkdir -p "$T/src" "$T/dl"
size=$((16 * MiB + 7777))
plen=$((256 * 1024))
make_data "$T/src/resume.bin" "$size"
btt_create "$T/src/resume.bin" "$T/t.torrent" -p 256
pieces=$(btt_field "$T/t.torrent" pieces)

rate=$((2 * MiB))   # 16 MiB at 2 MiB/s: about 8 s
start seed "$PY" "$SW/lt_seed.py" "$T/t.torrent" "$T/src" --bind 127.0.0.1 --port 0 --upload-limit "$rate"
sport=$(listen_port seed)
wait_line seed '^ready' 60 "libtorrent's check of the seed data" >/dev/null

# --- run 1: stop about halfway
start run1 "$BTT" get "$T/t.torrent" -d "$T/dl" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0
wait_line run1 '^have: ' 60 "the startup check" >/dev/null
t0=$(date +%s)
while :; do
    alive run1 || { _reap run1; fail "btt finished or died (exit $RC) before it could be stopped halfway; is the seeder's rate limit working?"; }
    pm=$(progress_permille run1)
    if [ "$pm" -ge 350 ]; then
        note "progress ${pm}/1000 after $(( $(date +%s) - t0 )) s: stopping btt"
        break
    fi
    if [ "$pm" -lt 0 ] && [ "$(( $(date +%s) - t0 ))" -ge 4 ]; then
        # no parsable progress line: fall back to the clock (about half of the ~8 s)
        note "no parsable progress line after 4 s (last: '$(grep '^progress:' "$T/log/run1.out" | tail -n1)'); stopping btt on time"
        break
    fi
    [ "$(( $(date +%s) - t0 ))" -lt 60 ] || fail "timeout: btt made no progress past 35% in 60 s (last progress: '$(grep '^progress:' "$T/log/run1.out" | tail -n1)')"
    sleep 0.2
done
stop run1 30
[ "$RC" -eq 0 ] || fail "btt get exited $RC on SIGTERM, wanted 0"
if grep -Eq '^complete:' "$T/log/run1.out"; then
    fail "run 1 completed before it was stopped; the test cannot check resuming"
fi
nstate=$(find "$BTT_STATE_DIR" -type f | wc -l)
[ "$nstate" -gt 0 ] || fail "btt saved nothing in BTT_STATE_DIR=$BTT_STATE_DIR on SIGTERM"
ok "run 1 stopped with exit 0; $nstate file(s) in the state dir"

# --- run 2: resume
start run2 "$BTT" get "$T/t.torrent" -d "$T/dl" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0
have=$(have_count run2)
[ "$have" -gt 0 ] || fail "run 2 reports $(grep -m1 '^have:' "$T/log/run2.out"): no verified piece kept from run 1"
[ "$have" -lt "$pieces" ] || fail "run 2 reports all $pieces pieces after stopping halfway?"
wait_exit run2 90
expect_complete run2
same_file "$T/src/resume.bin" "$T/dl/resume.bin" "after resuming"
d=$(completed_bytes run2)
missing=$(( size - have * plen ))
[ "$missing" -gt 0 ] || missing=0
limit=$(( missing + 4 * plen ))
[ "$d" -le "$limit" ] || fail "run 2 downloaded $d bytes, but only $missing were missing ($have/$pieces pieces kept); limit with slack $limit"
[ "$d" -lt $(( size * 9 / 10 )) ] || fail "run 2 downloaded $d of $size bytes: not clearly less than the whole"
ok "run 2: have $have/$pieces at start, downloaded $d bytes (missing $missing), data correct"

# --- run 3: nothing left to do
start run3 "$BTT" get "$T/t.torrent" -d "$T/dl" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0
line=$(wait_line run3 '^have: ' 60 "the startup check")
[ "$line" = "have: $pieces/$pieces pieces verified" ] || fail "run 3: wanted 'have: $pieces/$pieces pieces verified', got '$line'"
wait_exit run3 30
expect_complete run3
d=$(completed_bytes run3)
[ "$d" -eq 0 ] || fail "run 3 had every piece but downloaded $d bytes"
ok "run 3: $line, downloaded 0 bytes"
finish
