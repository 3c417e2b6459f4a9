#!/bin/bash
# btt create must produce the same info dict (hence the same info-hash) as mktorrent 1.1 for the
# same data and piece size: a single odd-sized file and a directory tree with nested and hidden
# directories, hidden and empty files, an empty directory, symbolic links to a file and to a
# directory (both followed), UTF-8 names and names whose order
# differs between "whole path bytewise" (mktorrent: a-b < a.b < a/b < a0) and "directory by
# directory" (a/b < a-b). Public and private. Then trackers, web seeds and comment must match
# mktorrent's too, and --no-date / --created-by must do what they say.
#
# The info-hashes are computed by libtorrent and by transmission-show from the files written,
# never by btt itself; `btt info` must then agree with them.
set -eu -o pipefail
. "$(dirname "$0")/lib.sh"
need mktorrent transmission-show

D=$T/data
mkdir -p "$D"
rand_file "$D/single.bin" $((3 * 1024 * 1024 + 12345))

TREE=$D/tree
mkdir -p "$TREE/sub/deep" "$TREE/B" "$TREE/a/c" "$TREE/sub/.hid" "$TREE/emptydir"
rand_file "$TREE/a.bin" $((200 * 1024 + 17))
rand_file "$TREE/.hidden" 100
: >"$TREE/empty"
: >"$TREE/!first_empty"
: >"$TREE/zz_last_empty"
rand_file "$TREE/sub/deep/x" 70000
rand_file "$TREE/sub/Z" 123
rand_file "$TREE/sub/.hid/inner" 999
rand_file "$TREE/B/z" 5000
rand_file "$TREE/a-b" 1
rand_file "$TREE/a.b" 65536
rand_file "$TREE/a/b" 65535
rand_file "$TREE/a/c/d" 65537
rand_file "$TREE/a0" 3
rand_file "$TREE/sub/日本語.txt" 4321
# Symbolic links are followed by both (a file link leading outside the tree, a directory link).
rand_file "$D/outside.bin" 7777
ln -s ../outside.bin "$TREE/link-to-file"
ln -s sub/deep "$TREE/link-to-dir"
# An executable file: mktorrent writes no BEP 47 attributes and neither may btt.
rand_file "$TREE/run.sh" 300
chmod +x "$TREE/run.sh"

# mktorrent: -l 16 is 2^16 = 64 KiB; -d omits the creation date. It refuses to overwrite.
check_one() { # SRC LABEL PRIVATE(yes/no)
    src=$1 label=$2 priv=$3
    mk=$T/$label.mk.torrent bt=$T/$label.btt.torrent
    rm -f "$mk" "$bt"
    if [ "$priv" = yes ]; then
        mktorrent -l 16 -d -p -o "$mk" "$src" >/dev/null
        expect_rc 0 create "$src" -o "$bt" -p 64 --private
    else
        mktorrent -l 16 -d -o "$mk" "$src" >/dev/null
        expect_rc 0 create "$src" -o "$bt" -p 64
    fi
    [ -s "$bt" ] || fail "$label: btt create exited 0 but wrote no $bt"

    want=$(lt_hash "$mk")
    assert_eq "$(tr_hash "$mk")" "$want" "$label: transmission-show and libtorrent disagree on mktorrent's torrent"
    got_lt=$(lt_hash "$bt")
    got_tr=$(tr_hash "$bt")
    got_btt=$(btt_hash "$bt")
    if [ "$got_lt" != "$want" ]; then
        # Show how the two info dicts differ before failing.
        "$PY" "$LIB" compare-meta "$mk" "$bt" >&2 || true
        fail "$label: info-hash of btt's torrent is $got_lt, mktorrent's is $want"
    fi
    assert_eq "$got_tr" "$want" "$label: transmission-show on btt's torrent"
    assert_eq "$got_btt" "$want" "$label: btt info on btt's own torrent"
    ok "$label: btt create == mktorrent ($want)"
}

check_one "$D/single.bin" single no
check_one "$D/single.bin" single-private yes
check_one "$TREE" tree no
check_one "$TREE" tree-private yes
check_one "$TREE/" tree-trailing-slash no

# "." and ".." name the torrent after the real directory. (mktorrent 1.1 names it "." -- an
# invalid torrent that transmission refuses -- so compare with btt's own absolute-path result.)
want=$(lt_hash "$T/tree.mk.torrent")
(cd "$TREE" && "$BTT" create . -o "$T/dot.torrent" -p 64 -q) || fail "btt create . failed"
assert_eq "$(lt_hash "$T/dot.torrent")" "$want" "btt create . (run inside the tree)"
(cd "$TREE/sub" && "$BTT" create .. -o "$T/dotdot.torrent" -p 64 -q) || fail "btt create .. failed"
assert_eq "$(lt_hash "$T/dotdot.torrent")" "$want" "btt create .. (run in a subdirectory)"
ok "create . and create .. name the torrent after the directory"

# Everything outside the info dict that mktorrent also writes.
rm -f "$T/full.mk.torrent"
mktorrent -l 16 -d -a http://127.0.0.1:6969/announce -a udp://127.0.0.1:6969 \
    -w http://127.0.0.1:8080/seed/ -c "comment with spaces, ünïcode" -o "$T/full.mk.torrent" "$TREE" >/dev/null
expect_rc 0 create "$TREE" -o "$T/full.btt.torrent" -p 64 --no-date \
    -t http://127.0.0.1:6969/announce -t udp://127.0.0.1:6969 \
    -w http://127.0.0.1:8080/seed/ -c "comment with spaces, ünïcode"
"$PY" "$LIB" compare-meta "$T/full.mk.torrent" "$T/full.btt.torrent" ||
    fail "btt create with trackers/web seed/comment differs from mktorrent (see above)"
ok "trackers, web seed and comment match mktorrent"

# --no-date: no creation date at all; default: a creation date close to now; --created-by.
date_of() { "$PY" "$LIB" show-top "$1" "creation date"; }
[ "$(date_of "$T/full.btt.torrent")" = None ] || fail "--no-date still wrote creation date $(date_of "$T/full.btt.torrent")"
now=$(date +%s)
expect_rc 0 create "$D/single.bin" -o "$T/dated.torrent" -p 64 --created-by "btt-interop-test"
d=$(date_of "$T/dated.torrent")
case $d in
    [0-9]*) [ "$d" -ge $((now - 120)) ] && [ "$d" -le $((now + 120)) ] ||
        fail "creation date $d is not close to now ($now)" ;;
    *) fail "btt create without --no-date wrote no integer creation date (got $d)" ;;
esac
cb=$("$PY" "$LIB" show-top "$T/dated.torrent" "created by")
assert_eq "$cb" "b'btt-interop-test'" "--created-by"
ok "--no-date, creation date and --created-by"
# The date is outside the info dict: same info-hash as the undated single-file torrent.
assert_eq "$(lt_hash "$T/dated.torrent")" "$(lt_hash "$T/single.mk.torrent")" "info-hash with a creation date"
ok "all create_vs_mktorrent checks passed"
