#!/bin/bash
# btt wallet new|address|check: file mode, never overwritten, the account printed alone, wrong
# password and damaged files give one clear error line.
set -euo pipefail
btt=${BTT_BIN:?}
T=$(mktemp -d /tmp/btt-wallet.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL [wallet_cli]: $*" >&2; exit 1; }

export BTT_WALLET_PASSWORD='correct horse'
out=$("$btt" wallet new "$T/w1") || fail "wallet new exited $?"
acct=${out#created wallet for }
[[ "$acct" =~ ^btt1[a-z2-7]{58}$ ]] || fail "wallet new printed '$out'"
[ "$(stat -c %a "$T/w1")" = 600 ] || fail "wallet file mode is $(stat -c %a "$T/w1"), not 600"

[ "$("$btt" wallet address "$T/w1")" = "$acct" ] || fail "wallet address does not print the account alone"
[ "$("$btt" wallet check "$T/w1")" = "ok: $acct" ] || fail "wallet check with the right password"

printf 'correct horse\n' > "$T/pw"
[ "$(env -u BTT_WALLET_PASSWORD "$btt" wallet check "$T/w1" --password-file "$T/pw")" = "ok: $acct" ] ||
    fail "--password-file"

# never overwritten
cp "$T/w1" "$T/w1.orig"
if "$btt" wallet new "$T/w1" 2> "$T/err"; then fail "wallet new overwrote an existing file"; fi
cmp -s "$T/w1" "$T/w1.orig" || fail "the existing wallet changed"
grep -q "never overwritten" "$T/err" || fail "overwrite error: $(cat "$T/err")"

# wrong password: exit 2, one line
set +e
BTT_WALLET_PASSWORD=wrong "$btt" wallet check "$T/w1" > /dev/null 2> "$T/err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "wrong password exited $rc"
[ "$(wc -l < "$T/err")" = 1 ] && grep -q "wrong password" "$T/err" || fail "wrong password error: $(cat "$T/err")"

# truncated and not-a-wallet files
head -c 100 "$T/w1" > "$T/short"
for f in "$T/short" /etc/hostname; do
    set +e
    "$btt" wallet check "$f" > /dev/null 2> "$T/err"; rc=$?
    set -e
    [ "$rc" = 2 ] || fail "$f: exited $rc"
    [ "$(wc -l < "$T/err")" = 1 ] || fail "$f: error is not one line: $(cat "$T/err")"
done

# no password available at all (no terminal, no variable, no file)
set +e
env -u BTT_WALLET_PASSWORD "$btt" wallet new "$T/w2" < /dev/null > /dev/null 2> "$T/err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "no password" "$T/err" || fail "no password: rc $rc, $(cat "$T/err")"
[ ! -e "$T/w2" ] || fail "a wallet was written without a password"
echo "ok [wallet_cli]: all checks passed"
