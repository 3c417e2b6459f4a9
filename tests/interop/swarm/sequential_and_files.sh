#!/bin/bash
# Partial and ordered downloads of a multi-file torrent.
# 1. --files: btt get --files 0,2-3 from a libtorrent seeder fetches only files 0, 2 and 3 (in
#    `btt info` order): they must be complete and correct, exit 0, and the bytes downloaded must
#    stay near the selected files' size (the big unselected file 1 is not fetched; files outside
#    the selection may be absent or partial).
# 2. --sequential: btt get --sequential from py_peer.py (an honest seeder that logs every
#    request) fetches the whole torrent, and the order in which pieces are first requested must
#    follow the piece order (rank correlation >= 0.8; rarest-first/random gives about 0).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

MiB=$((1024 * 1024))
plen=$((256 * 1024))
tree=$T/src/sel
mkdir -p "$tree" "$T/dl1" "$T/dl2"
# btt create orders files bytewise: a b c d e -> indexes 0..4
make_data "$tree/a.bin" $((3 * MiB + 1))
make_data "$tree/b.bin" $((14 * MiB + 3))
make_data "$tree/c.bin" $((2 * MiB + 5))
make_data "$tree/d.bin" $((5 * MiB + 7))
make_data "$tree/e.bin" 1000
btt_create "$tree" "$T/t.torrent" -p 256
total=$(btt_field "$T/t.torrent" size)

# the file indexes as btt numbers them
btt_files "$T/t.torrent" >"$T/files.txt"
idx() { awk -v p="$1" '$4 == p { print $1 }' "$T/files.txt"; }
[ "$(idx a.bin) $(idx b.bin) $(idx c.bin) $(idx d.bin) $(idx e.bin)" = "0 1 2 3 4" ] ||
    fail "unexpected file order in btt info: $(cat "$T/files.txt")"

# --- 1. --files 0,2-3
start seed "$PY" "$SW/lt_seed.py" "$T/t.torrent" "$T/src" --bind 127.0.0.1 --port 0
sport=$(listen_port seed)
wait_line seed '^ready' 60 "libtorrent's check of the seed data" >/dev/null
start part "$BTT" get "$T/t.torrent" -d "$T/dl1" --files 0,2-3 --peer "127.0.0.1:$sport" \
    --bind 127.0.0.1 --port 0
wait_exit part 90
expect_complete part
for f in a.bin c.bin d.bin; do
    same_file "$tree/$f" "$T/dl1/sel/$f" "--files 0,2-3"
done
d=$(completed_bytes part)
want=$(( $(stat -c %s "$tree/a.bin") + $(stat -c %s "$tree/c.bin") + $(stat -c %s "$tree/d.bin") ))
[ "$d" -ge "$want" ] || fail "--files 0,2-3: complete line says $d bytes, less than the selected files' $want"
limit=$(( want + 6 * plen ))
[ "$d" -le "$limit" ] || fail "--files 0,2-3: downloaded $d bytes of $total, but the selection is $want bytes (limit with boundary pieces $limit): unselected data was fetched"
if [ -f "$T/dl1/sel/b.bin" ] && cmp -s "$tree/b.bin" "$T/dl1/sel/b.bin"; then
    fail "--files 0,2-3: the unselected file 1 (b.bin) is complete"
fi
ok "--files 0,2-3: files 0, 2, 3 correct; downloaded $d bytes (selection $want, torrent $total)"
stop seed

# --- 2. --sequential, from a seeder that logs the requests (fresh state: a new download)
export BTT_STATE_DIR=$T/state-seq
mkdir -p "$BTT_STATE_DIR"
start pyseed "$PY" "$SW/py_peer.py" "$T/t.torrent" --data "$T/src" --bind 127.0.0.1 --port 0
pport=$(listen_port pyseed)
start seq "$BTT" get "$T/t.torrent" -d "$T/dl2" --sequential --peer "127.0.0.1:$pport" \
    --bind 127.0.0.1 --port 0
wait_exit seq 120
expect_complete seq
for f in a.bin b.bin c.bin d.bin e.bin; do
    same_file "$tree/$f" "$T/dl2/sel/$f" "--sequential"
done
"$PY" - "$T/log/pyseed.out" <<'PYEOF' || fail "--sequential: pieces were not requested in order (see above)"
import sys
order, seen = [], set()
for line in open(sys.argv[1]):
    if line.startswith("request "):
        p = int(line.split()[1])
        if p not in seen:
            seen.add(p); order.append(p)
n = len(order)
if n < 10:
    sys.exit("only %d distinct pieces requested" % n)
ranks = {p: i for i, p in enumerate(sorted(order))}
xs = list(range(n)); ys = [ranks[p] for p in order]
mx = my = (n - 1) / 2
cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
var = sum((x - mx) ** 2 for x in xs)
rho = cov / var
print("   first-request order of %d pieces: rank correlation %.3f; first 20: %s" % (n, rho, order[:20]))
sys.exit(0 if rho >= 0.8 else 1)
PYEOF
ok "--sequential: all files correct, pieces requested in order: $(grep -m1 '^complete:' "$T/log/seq.out")"
finish
