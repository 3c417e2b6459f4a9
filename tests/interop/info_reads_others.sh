#!/bin/bash
# btt info must read torrents written by other creators -- mktorrent, libtorrent (v1-only and its
# default hybrid v1+v2 layout with BEP 47 pad files) and transmission-create -- single and
# multi-file, and report what libtorrent reports: the info-hash (also checked against
# transmission-show, except for hybrid torrents which transmission 3.00 cannot parse, and
# against a SHA-1 of the raw info dict), name, total size, piece size, number of
# pieces and the exact file list (length, path relative to the torrent's root, [pad] marks).
# Also magnet links: info-hash (hex, upper-case hex, base32), dn and tr as libtorrent parses them.
set -eu -o pipefail
. "$(dirname "$0")/lib.sh"
need mktorrent transmission-create transmission-show

D=$T/data
mkdir -p "$D"
rand_file "$D/one.iso" $((1024 * 1024 + 4097))
TREE=$D/multi
mkdir -p "$TREE/dir/sub" "$TREE/Other"
rand_file "$TREE/readme.txt" 1000
rand_file "$TREE/dir/sub/big.bin" $((700 * 1024 + 5))
rand_file "$TREE/dir/a" 70000
rand_file "$TREE/Other/b" 33333
rand_file "$TREE/z" 1
: >"$TREE/empty"

A=http://127.0.0.1:6969/announce
B=udp://127.0.0.1:6970/announce

make_all() { # SRC LABEL
    src=$1 label=$2
    mktorrent -l 15 -d -a "$A" -a "$B" -o "$T/$label.mktorrent.torrent" "$src" >/dev/null
    mktorrent -l 18 -p -o "$T/$label.mktorrent-private.torrent" "$src" >/dev/null
    "$PY" "$LIB" lt-create "$src" "$T/$label.libtorrent.torrent" 32768 -t "$A" -t "$B"
    "$PY" "$LIB" lt-create "$src" "$T/$label.libtorrent-hybrid.torrent" 16384 --hybrid -t "$A"
    transmission-create -s 64 -t "$A" -o "$T/$label.transmission.torrent" "$src" >/dev/null
    transmission-create -p -s 16 -t "$B" -c "a comment" -o "$T/$label.transmission-private.torrent" "$src" >/dev/null
}
make_all "$D/one.iso" single
make_all "$TREE" multi

n=0
for f in "$T"/*.torrent; do
    # compare-info: btt info vs libtorrent, field by field, and raw SHA-1 of the info dict.
    "$PY" "$LIB" compare-info "$f" || fail "btt info disagrees with libtorrent on $(basename "$f")"
    case $f in
        *hybrid*) # transmission 3.00 cannot parse v2 metadata (file tree, piece layers) at all
            ! transmission-show "$f" >/dev/null 2>&1 || fail "transmission-show now reads hybrid torrents: compare it too" ;;
        *) assert_eq "$(btt_hash "$f")" "$(tr_hash "$f")" "btt info vs transmission-show on $(basename "$f")" ;;
    esac
    n=$((n + 1))
done
[ "$n" -eq 12 ] || fail "expected 12 torrents, checked $n"
ok "btt info agrees with libtorrent and transmission-show on $n torrents"

# Magnet links.
m=$("$PY" "$LIB" lt-magnet "$T/multi.mktorrent.torrent")
"$PY" "$LIB" compare-magnet "$m" || fail "magnet from libtorrent"
h=$(tr_hash "$T/multi.mktorrent.torrent")
H=$(printf '%s' "$h" | tr a-f A-F)
"$PY" "$LIB" compare-magnet "magnet:?xt=urn:btih:$H&dn=Some%20Name%2B%C3%BC&tr=http%3A%2F%2F127.0.0.1%3A1%2Fa&tr=udp%3A%2F%2F127.0.0.1%3A2" ||
    fail "magnet with upper-case hex and percent-escapes"
b32=$("$PY" -c 'import base64,sys; print(base64.b32encode(bytes.fromhex(sys.argv[1])).decode())' "$h")
"$PY" "$LIB" compare-magnet "magnet:?xt=urn:btih:$b32" || fail "magnet with a base32 info-hash"
run_btt info "magnet:?xt=urn:btih:$b32"
assert_eq "$(sed -n 's/^info-hash: //p' <<<"$OUT")" "$h" "base32 magnet info-hash"
ok "magnet links"
ok "all info_reads_others checks passed"
