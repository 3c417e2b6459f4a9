#!/bin/bash
# BEP 47 padding files: libtorrent 2.0 makes two torrents of the same tree, a v1 torrent with
# pad files (flags v1_only|canonical_files) and a v1+v2 hybrid (its default, also padded).
# `btt info` must mark the pad files [pad]; libtorrent seeds each; btt downloads each; every
# real file must match. Pad files are not data: btt need not write them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

MiB=$((1024 * 1024))
tree=$T/src/padded
mkdir -p "$tree/sub"
make_data "$tree/a.bin" $((5 * MiB + 12345))
make_data "$tree/b.bin" 1000
: >"$tree/empty"
make_data "$tree/sub/c.bin" $((3 * MiB + 1))
make_data "$tree/sub/d.bin" $((64 * 1024))
make_data "$tree/z.bin" $((2 * MiB - 1))

"$PY" - "$tree" "$T" <<'PYEOF'
import os, sys
import libtorrent as lt
tree, out = sys.argv[1], sys.argv[2]
root = os.path.dirname(tree)
files = []
for dp, dn, fn in os.walk(tree):
    for f in fn:
        files.append(os.path.relpath(os.path.join(dp, f), root))
files.sort(key=lambda p: p.encode())
for name, flags in (("v1pad", lt.create_torrent.v1_only | lt.create_torrent.canonical_files),
                    ("hybrid", 0)):
    fs = lt.file_storage()
    for p in files:
        fs.add_file(p, os.path.getsize(os.path.join(root, p)))
    ct = lt.create_torrent(fs, 256 * 1024, flags=flags)
    lt.set_piece_hashes(ct, root)
    with open(os.path.join(out, name + ".torrent"), "wb") as f:
        f.write(lt.bencode(ct.generate()))
    ti = lt.torrent_info(os.path.join(out, name + ".torrent"))
    st = ti.files()
    pads = sum(1 for i in range(st.num_files()) if st.file_flags(i) & lt.file_storage.flag_pad_file)
    if pads == 0:
        raise SystemExit("libtorrent made no pad files for %s" % name)
    print("%s: %d files, %d pad files, %d pieces" % (name, st.num_files(), pads, ti.num_pieces()))
PYEOF

n=0
for kind in v1pad hybrid; do
    n=$((n + 1))
    tor=$T/$kind.torrent
    # btt info must list the pad files as [pad], and the same number libtorrent has
    want=$("$PY" -c 'import sys, libtorrent as lt
st = lt.torrent_info(sys.argv[1]).files()
print(sum(1 for i in range(st.num_files()) if st.file_flags(i) & lt.file_storage.flag_pad_file))' "$tor")
    got=$(btt_files "$tor" | awk '$3 == 1' | wc -l)
    [ "$got" -eq "$want" ] || fail "$kind: btt info marks $got files [pad], libtorrent has $want pad files:
$("$BTT" info "$tor")"
    ok "$kind: btt info lists $got [pad] files"

    start "seed$n" "$PY" "$SW/lt_seed.py" "$tor" "$T/src" --bind 127.0.0.1 --port 0
    sport=$(listen_port "seed$n")
    wait_line "seed$n" '^ready' 60 "libtorrent's check of the seed data" >/dev/null
    dl=$T/dl-$kind
    mkdir -p "$dl"
    start "get$n" "$BTT" get "$tor" -d "$dl" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0
    wait_exit "get$n" 90
    expect_complete "get$n"
    for f in a.bin b.bin sub/c.bin sub/d.bin z.bin; do
        same_file "$tree/$f" "$dl/padded/$f" "$kind"
    done
    [ -f "$dl/padded/empty" ] || soft_fail "$kind: the empty file was not created"
    if [ -e "$dl/padded/.pad" ]; then
        note "$kind: btt wrote pad files to disk ($(ls "$dl/padded/.pad" | wc -l) of them); allowed, but needless"
    fi
    ok "$kind: $(grep -m1 '^complete:' "$T/log/get$n.out")"
    stop "seed$n"
done
finish
