# Shared shell helpers for btt's interop tests; source it after `set -eu`.
# Needs BTT_BIN (the btt binary) and BTT_SRC (source root) in the environment.
# Gives: $BTT, $PY (Debian's python3 with libtorrent), $LIB (bttlib.py), $T (a temp dir removed
# on exit), fail, ok, run_btt (sets RC, OUT, ERR; fails the test on a crash), and assertions.

: "${BTT_BIN:?BTT_BIN must point at the btt binary}"
: "${BTT_SRC:?BTT_SRC must point at the source root}"
[ -x "$BTT_BIN" ] || { echo "FAIL: BTT_BIN=$BTT_BIN is not executable" >&2; exit 1; }

BTT=$BTT_BIN
PY=/usr/bin/python3
LIB=$BTT_SRC/tests/interop/bttlib.py
TEST_NAME=$(basename "$0" .sh)

T=$(mktemp -d "${TMPDIR:-/tmp}/btt-$TEST_NAME.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
# Any unexpected failure under set -e says where it happened.
set -E
trap 'echo "FAIL [$TEST_NAME]: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

fail() {
    echo "FAIL [$TEST_NAME]: $*" >&2
    exit 1
}

ok() {
    echo "ok: $*"
}

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || fail "required tool '$tool' is not installed (scripts/install-deps.sh)"
    done
}

# Runs btt with the given arguments. Sets RC, OUT (stdout text) and ERR (stderr text).
# A crash (exit >= 128, i.e. killed by a signal) or a sanitizer report always fails the test,
# and so does a run longer than $BTT_TIMEOUT seconds (default 120).
run_btt() {
    LAST_CMD="btt"
    [ $# -eq 0 ] || LAST_CMD="btt $(printf '%q ' "$@")"
    RC=0
    timeout -k 5 "${BTT_TIMEOUT:-120}" "$BTT" "$@" >"$T/.out" 2>"$T/.err" </dev/null || RC=$?
    OUT=$(cat "$T/.out")
    ERR=$(cat "$T/.err")
    [ "$RC" -ne 124 ] || fail "$LAST_CMD did not finish within ${BTT_TIMEOUT:-120} s (hang?)"
    if [ "$RC" -ge 128 ] || grep -Eq 'Sanitizer|runtime error:' "$T/.err"; then
        fail "$LAST_CMD crashed (exit $RC):
$ERR"
    fi
}

# Describes the last run_btt (arguments are ignored; kept for readability at call sites).
show() {
    printf 'command: %s\nexit: %s\n--- stdout ---\n%s\n--- stderr ---\n%s\n' "$LAST_CMD" "$RC" "$OUT" "$ERR"
}

# expect_rc CODE ARGS... : runs btt and requires the exit status CODE.
expect_rc() {
    want=$1
    shift
    run_btt "$@"
    [ "$RC" -eq "$want" ] || fail "expected exit $want, got $RC
$(show "$@")"
}

# The info-hash printed by `btt info FILE`.
btt_hash() {
    run_btt info "$1"
    [ "$RC" -eq 0 ] || fail "btt info $1 failed
$(show info "$1")"
    h=$(sed -n 's/^info-hash: \([0-9a-f]\{40\}\)$/\1/p' <<<"$OUT")
    h=${h%%$'\n'*}
    [ -n "$h" ] || fail "btt info $1 printed no 'info-hash: <40 hex>' line
$(show info "$1")"
    echo "$h"
}

lt_hash() {
    "$PY" "$LIB" lt-hash "$1"
}

# The Hash: line of transmission-show (an independent third opinion).
tr_hash() {
    trout=$(transmission-show "$1" 2>&1) || fail "transmission-show cannot read $1: $trout"
    trh=$(sed -n 's/^ *Hash: *\([0-9a-f]\{40\}\)$/\1/p' <<<"$trout")
    [ -n "$trh" ] || fail "no Hash: line in transmission-show's output for $1"
    echo "$trh"
}

# Random file of exactly N bytes.
rand_file() {
    head -c "$2" /dev/urandom >"$1"
    [ "$(stat -c %s "$1")" -eq "$2" ] || fail "could not create $1"
}

# Same hash in two places, with a message naming both.
assert_eq() {
    [ "$1" = "$2" ] || fail "$3: '$1' != '$2'"
}

# flip_byte FILE OFFSET: inverts every bit of one byte in place.
flip_byte() {
    "$PY" -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1)
    if len(b) != 1: sys.exit("flip_byte: offset past the end")
    f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# has_number TEXT N: TEXT mentions the number N as a whole number.
has_number() {
    printf '%s\n' "$1" | grep -Eq "(^|[^0-9])$2([^0-9]|$)"
}
