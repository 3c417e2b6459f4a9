#!/bin/bash
# btt verify -d DIR: exit 0 when every piece is good, exit 1 when any piece is bad or missing,
# with a summary that gives the number of bad pieces and names exactly the damaged files; exit 2
# on bad input. Torrents come from mktorrent, libtorrent (hybrid, with pad files that are not on
# disk) and btt create itself. After each kind of damage -- one flipped byte, flips in several
# files, a truncated file, a deleted file -- the expected outcome is computed independently by
# rehashing the data in Python (bttlib.py expect-bad), then compared with what btt says.
set -eu -o pipefail
. "$(dirname "$0")/lib.sh"
need mktorrent

# check TORRENT DIR LABEL [exact]: runs btt verify and checks it against expect-bad.
# With "exact", the number of bad pieces must appear in the output next to the word "bad".
check() {
    tor=$1 dir=$2 label=$3 exact=${4:-}
    exp=$("$PY" "$LIB" expect-bad "$tor" "$dir")
    nbad=${exp%%$'\n'*}
    run_btt verify "$tor" -d "$dir"
    all="$OUT
$ERR"
    if [ "$nbad" -eq 0 ]; then
        [ "$RC" -eq 0 ] || fail "$label: data is intact but btt verify exited $RC
$(show verify "$tor" -d "$dir")"
        ok "$label: intact -> exit 0"
        return
    fi
    [ "$RC" -eq 1 ] || fail "$label: $nbad piece(s) are bad but btt verify exited $RC (want 1)
$(show verify "$tor" -d "$dir")"
    while read -r state path; do
        base=$(basename "$path")
        if [ "$state" = bad ]; then
            grep -qF -- "$base" <<<"$all" ||
                fail "$label: summary does not name damaged file $path
$(show verify "$tor" -d "$dir")"
        else
            ! grep -qF -- "$base" <<<"$all" ||
                fail "$label: summary names $path, which is intact (only damaged files should be named)
$(show verify "$tor" -d "$dir")"
        fi
    done < <(tail -n +2 <<<"$exp")
    if [ -n "$exact" ]; then
        grep -iqE "(^|[^0-9])$nbad([^0-9].*)?bad|bad([^0-9]*[^0-9])?$nbad([^0-9]|$)" <<<"$all" ||
            fail "$label: expected the summary to say $nbad bad piece(s)
$(show verify "$tor" -d "$dir")"
    fi
    ok "$label: $nbad bad piece(s) -> exit 1, damaged files named"
}

# ---------------------------------------------------------------- single file (mktorrent)
S=$T/single
mkdir -p "$S"
rand_file "$S/movie-single.mkv" $((1024 * 1024 + 1000))
mktorrent -l 16 -d -o "$T/single.torrent" "$S/movie-single.mkv" >/dev/null
cp "$S/movie-single.mkv" "$T/single.orig"
check "$T/single.torrent" "$S" "single"

flip_byte "$S/movie-single.mkv" $((512 * 1024 + 300))
check "$T/single.torrent" "$S" "single, one flipped byte" exact
cp "$T/single.orig" "$S/movie-single.mkv"
check "$T/single.torrent" "$S" "single, restored"

flip_byte "$S/movie-single.mkv" 0
flip_byte "$S/movie-single.mkv" $((1024 * 1024 + 999)) # last byte, in the short last piece
check "$T/single.torrent" "$S" "single, first and last byte" exact
cp "$T/single.orig" "$S/movie-single.mkv"

truncate -s $((1024 * 1024 - 5)) "$S/movie-single.mkv"
check "$T/single.torrent" "$S" "single, truncated"
cp "$T/single.orig" "$S/movie-single.mkv"

rm "$S/movie-single.mkv"
check "$T/single.torrent" "$S" "single, deleted"
grep -qi missing <<<"$OUT
$ERR" || fail "single, deleted: summary does not say 'missing'
$(show verify "$T/single.torrent" -d "$S")"
cp "$T/single.orig" "$S/movie-single.mkv"
check "$T/single.torrent" "$S" "single, restored again"

# ---------------------------------------------------------------- multi-file (mktorrent)
M=$T/multi
R=$M/collection
mkdir -p "$R/sub"
rand_file "$R/alpha.dat" 100000
rand_file "$R/sub/bravo.dat" 300000
: >"$R/charlie.empty"
rand_file "$R/delta.dat" 50000
rand_file "$R/echo.dat" 200000
mktorrent -l 16 -d -o "$T/multi.torrent" "$R" >/dev/null
cp -a "$R" "$T/multi.orig"
restore() { rm -rf "$R" && cp -a "$T/multi.orig" "$R"; }
check "$T/multi.torrent" "$M" "multi"

# offset 150000 of bravo is byte 250000 of the torrent: piece 3 lies wholly inside bravo.
flip_byte "$R/sub/bravo.dat" 150000
check "$T/multi.torrent" "$M" "multi, one flipped byte in bravo" exact
restore

flip_byte "$R/alpha.dat" 10
flip_byte "$R/sub/bravo.dat" 150000
flip_byte "$R/echo.dat" 199999
check "$T/multi.torrent" "$M" "multi, flips in alpha, bravo, echo" exact
restore

truncate -s 50000 "$R/alpha.dat"
check "$T/multi.torrent" "$M" "multi, alpha truncated"
restore

rm "$R/delta.dat"
check "$T/multi.torrent" "$M" "multi, delta deleted"
grep -qi missing <<<"$OUT
$ERR" || fail "multi, delta deleted: summary does not say 'missing'
$(show verify "$T/multi.torrent" -d "$M")"
restore

rm -rf "$R/sub"
check "$T/multi.torrent" "$M" "multi, directory sub/ deleted"
restore

# Not a regular file where delta.dat should be: a directory, then a named pipe (which must not
# make verify block forever on open or read).
rm "$R/delta.dat"
mkdir "$R/delta.dat"
BTT_TIMEOUT=30 check "$T/multi.torrent" "$M" "multi, delta.dat is a directory"
rmdir "$R/delta.dat"
mkfifo "$R/delta.dat"
BTT_TIMEOUT=30 check "$T/multi.torrent" "$M" "multi, delta.dat is a FIFO"
restore
check "$T/multi.torrent" "$M" "multi, restored"

# ---------------------------------------------------------------- libtorrent hybrid with pad files
# The pad files (.pad/N) are not on disk: they are zeros by definition.
"$PY" "$LIB" lt-create "$R" "$T/hybrid.torrent" 16384 --hybrid
grep -q '4:attr1:p' "$T/hybrid.torrent" || fail "libtorrent's hybrid torrent was expected to have pad files"
[ ! -e "$R/.pad" ] || fail "a .pad directory exists before verify"
check "$T/hybrid.torrent" "$M" "hybrid with pad files"
[ ! -e "$R/.pad" ] || fail "btt verify created the .pad directory"
flip_byte "$R/delta.dat" 25000
check "$T/hybrid.torrent" "$M" "hybrid, one flipped byte in delta" exact
restore

# ---------------------------------------------------------------- btt create round trip
expect_rc 0 create "$R" -o "$T/own.torrent" -p 16
check "$T/own.torrent" "$M" "btt's own torrent"
flip_byte "$R/sub/bravo.dat" 1
check "$T/own.torrent" "$M" "btt's own torrent, flipped byte" exact
restore

# ---------------------------------------------------------------- bad input: exit 2
expect_rc 2 verify "$T/does-not-exist.torrent" -d "$M"
printf 'this is not bencoding\n' >"$T/garbage.torrent"
expect_rc 2 verify "$T/garbage.torrent" -d "$M"
head -c 200 "$T/multi.torrent" >"$T/truncated.torrent"
expect_rc 2 verify "$T/truncated.torrent" -d "$M"
ok "bad torrents -> exit 2"
ok "all verify_detects checks passed"
