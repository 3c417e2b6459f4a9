#!/bin/bash
# btt create must produce the same info dict as libtorrent 2.0's creator, both for a single file
# (at several piece sizes, from 16 KiB to 16 MiB, public and private) and for a directory tree.
#
# libtorrent is driven by bttlib.py lt-create: create_torrent(fs, piece, flags=v1_only|no_attributes)
# on a file_storage filled with add_file() in bytewise path order. Notes on libtorrent 2.0.8:
#  - without v1_only it makes a hybrid v1+v2 torrent and pads every file to a piece boundary
#    with BEP 47 pad files (".pad/N", attr "p"); with v1_only there are no pad files at all;
#  - lt.add_files() lists a directory in readdir order (not sorted), so it is not used here;
#    the canonical_files flag sorts but also inserts pad files;
#  - zero-length files are kept; add_file() records no attributes, whereas add_files() marks
#    executable files with attr "x" -- even with the no_attributes flag.
set -eu -o pipefail
. "$(dirname "$0")/lib.sh"

D=$T/data
mkdir -p "$D"
rand_file "$D/single.bin" $((3 * 1024 * 1024 + 777))
rand_file "$D/tiny" 1
rand_file "$D/exact" $((4 * 65536))

TREE=$D/tree
mkdir -p "$TREE/sub/deep" "$TREE/a" "$TREE/.dot"
rand_file "$TREE/a.bin" $((150 * 1024 + 3))
rand_file "$TREE/.hidden" 10
: >"$TREE/empty"
rand_file "$TREE/sub/deep/x" 70000
rand_file "$TREE/sub/Z" 123
rand_file "$TREE/a/b" 16384
rand_file "$TREE/a-b" 16385
rand_file "$TREE/.dot/in" 5
rand_file "$TREE/zzz" 40000
rand_file "$TREE/exec.sh" 123
chmod +x "$TREE/exec.sh"

compare() { # SRC LABEL KIB [--private]
    src=$1 label=$2 kib=$3
    shift 3
    lt=$T/$label.lt.torrent bt=$T/$label.btt.torrent
    rm -f "$lt" "$bt"
    "$PY" "$LIB" lt-create "$src" "$lt" $((kib * 1024)) "$@"
    expect_rc 0 create "$src" -o "$bt" -p "$kib" "$@"
    want=$(lt_hash "$lt")
    got=$(lt_hash "$bt")
    if [ "$got" != "$want" ]; then
        "$PY" "$LIB" compare-meta "$lt" "$bt" >&2 || true
        fail "$label: btt create -p $kib $* gives info-hash $got, libtorrent's creator $want"
    fi
    assert_eq "$(btt_hash "$bt")" "$want" "$label: btt info on btt's torrent"
    # libtorrent must also accept btt's file as a whole and see the same layout.
    "$PY" "$LIB" compare-info "$bt" >/dev/null || fail "$label: btt info disagrees with libtorrent on $bt"
    ok "$label: btt create -p $kib $* == libtorrent ($want)"
}

for kib in 16 64 256 1024 16384; do
    compare "$D/single.bin" "single-$kib" "$kib"
done
compare "$D/single.bin" single-private 64 --private
compare "$D/tiny" tiny 16
compare "$D/exact" exact-multiple 64
compare "$TREE" tree 16
compare "$TREE" tree-64 64
compare "$TREE" tree-private 64 --private
# Automatic piece size (no -p): a power of two from 16 KiB to 16 MiB, at most about 2048
# pieces, and the torrent still matches libtorrent's at that piece size.
rand_file "$D/big.bin" $((70 * 1024 * 1024 + 3))
for f in "$D/single.bin" "$D/tiny" "$D/big.bin" "$TREE"; do
    rm -f "$T/auto.torrent"
    expect_rc 0 create "$f" -o "$T/auto.torrent"
    run_btt info "$T/auto.torrent"
    ps=$(sed -n 's/^piece size: \([0-9]*\).*/\1/p' <<<"$OUT")
    np=$(sed -n 's/^pieces: \([0-9]*\)$/\1/p' <<<"$OUT")
    [ -n "$ps" ] && [ -n "$np" ] || fail "no piece size / pieces in btt info output
$(show)"
    [ "$ps" -ge 16384 ] && [ "$ps" -le $((16 * 1024 * 1024)) ] && [ $((ps & (ps - 1))) -eq 0 ] ||
        fail "automatic piece size $ps for $f is not a power of two in 16 KiB..16 MiB"
    [ "$np" -le 2048 ] || [ "$ps" -eq $((16 * 1024 * 1024)) ] || fail "automatic piece size $ps gives $np pieces (> 2048)"
    "$PY" "$LIB" lt-create "$f" "$T/auto.lt.torrent" "$ps"
    assert_eq "$(lt_hash "$T/auto.torrent")" "$(lt_hash "$T/auto.lt.torrent")" "automatic piece size ($ps) for $f"
    ok "automatic piece size for $(basename "$f"): $ps bytes, $np pieces, == libtorrent"
done
ok "all create_vs_libtorrent checks passed"
