#!/bin/bash
# Hostile paths: torrents whose file would resolve outside the download directory DIR
# ('..' components, a name of '..', a component holding '/', an absolute path). The data each
# one describes ("abc") is planted exactly where the escape would lead, so a client that
# followed the path would find matching data and report success. btt verify -d DIR must
# instead refuse with exit 2 and an error naming the bad component, btt info must refuse too,
# and nothing anywhere under the parent of DIR may change (no file or directory created,
# removed or modified, mtimes included).
set -eu -o pipefail
. "$(dirname "$0")/lib.sh"

P=$T/parent
DIR=$P/downloads
mkdir -p "$DIR/victim/sub" "$P/other"
printf 'abc' >"$P/escaped"        # where ../../escaped from DIR/victim leads
printf 'abc' >"$DIR/escaped"
printf 'keep' >"$P/other/file"

# Everything under the parent of DIR (torrents and snapshots live elsewhere, in $T).
snapshot() {
    find "$P" -printf '%p %y %s %m %T@\n' | sort
}

check_refused() { # KIND [TARGET] -- NEEDLE
    kind=$1
    shift
    tor=$T/$kind.torrent
    "$PY" "$LIB" mkbad "$tor" "$kind" "$@"
    snapshot >"$T/snap.before"
    for cmd in verify info; do
        if [ $cmd = verify ]; then
            run_btt verify "$tor" -d "$DIR"
        else
            run_btt info "$tor"
        fi
        [ "$RC" -eq 2 ] || fail "$kind: btt $cmd exited $RC, want 2 (refuse the unsafe path)
$(show $cmd "$tor")"
        n=$(grep -c . <<<"$ERR" || true)
        [ "$n" -eq 1 ] || fail "$kind: btt $cmd should print exactly one error line, got $n
$(show $cmd "$tor")"
        grep -Eq '^btt( [a-z]+)?: ' <<<"$ERR" || fail "$kind: error line does not start with 'btt'
$(show $cmd "$tor")"
        case $kind in
            dotdot* | slash*) grep -qF '..' <<<"$ERR" ||
                fail "$kind: btt $cmd error does not name the bad component '..'
$(show $cmd "$tor")" ;;
        esac
    done
    snapshot >"$T/snap.after"
    if ! cmp -s "$T/snap.before" "$T/snap.after"; then
        diff "$T/snap.before" "$T/snap.after" >&2 || true
        fail "$kind: the file system changed under $P (see diff above)"
    fi
    ok "$kind: refused by verify and info, exit 2: $ERR"
}

check_refused dotdot
check_refused dotdot-deep
check_refused dotdot-name
check_refused dotdot-single
check_refused slash-in-component
check_refused absolute "$P/escaped"

# Control: the same layout with a safe path verifies fine, so the refusals above are about the
# paths and not about something else in those torrents.
mkdir -p "$DIR/victim"
printf 'abc' >"$DIR/victim/escaped"
"$PY" - "$T/safe.torrent" <<'EOF'
import hashlib, sys
sys.path.insert(0, __import__("os").environ["BTT_SRC"] + "/tests/interop")
import bttlib
info = {"piece length": 16384, "pieces": hashlib.sha1(b"abc").digest(), "name": "victim",
        "files": [{"length": 3, "path": ["escaped"]}]}
open(sys.argv[1], "wb").write(bttlib.bencode({"announce": "http://127.0.0.1:1/announce", "info": info}))
EOF
expect_rc 0 verify "$T/safe.torrent" -d "$DIR"
ok "control torrent with a safe path verifies"
ok "all path_safety checks passed"
