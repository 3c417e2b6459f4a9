#!/bin/bash
# Message Stream Encryption (docs/mse.md) against libtorrent, on loopback, over TCP and uTP:
#   1. libtorrent with encryption forced (MSE, RC4 only, plaintext refused) downloads from
#      `btt seed` (default settings: btt answers MSE as the receiving side); libtorrent with its
#      default policy (MSE first, RC4 or plaintext) gets the plaintext method;
#   2. `btt get --encryption require` downloads from a libtorrent seeder with encryption forced
#      (btt opens MSE as the initiator, its handshake in the initial payload);
#   3. `btt get --encryption require` against a libtorrent seeder with encryption disabled gets
#      nothing and says why, and `btt seed --encryption require` refuses a plaintext libtorrent.
# Asserts: exact copies; btt's log says every connection was encrypted (MSE RC4) and none was
# plaintext; the refusals happen with no data moved.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cmp

MiB=$((1024 * 1024))
mkdir -p "$T/src" "$T/dl-lt" "$T/dl-lt-utp" "$T/dl-lt-default" "$T/dl-btt" "$T/dl-btt-utp" "$T/dl-no" "$T/dl-lt-no"
size=$((12 * MiB + 4321))
make_data "$T/src/enc.bin" "$size"
btt_create "$T/src/enc.bin" "$T/t.torrent" -p 256

encrypted_only() { # NAME WHAT
    grep -q 'handshake done over .*encrypted (MSE RC4)' "$T/log/$1.err" ||
        fail "$2: btt logged no encrypted connection: $(grep 'handshake done' "$T/log/$1.err" | tail -n 5)"
    if grep 'handshake done over' "$T/log/$1.err" | grep -qv 'encrypted (MSE RC4)'; then
        fail "$2: a connection was not encrypted: $(grep 'handshake done over' "$T/log/$1.err" | grep -v 'MSE RC4')"
    fi
}

# --- 1. libtorrent (forced) downloads from btt seed (defaults), over TCP and over uTP
start seed "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 --no-trackers -v
port=$(listen_port seed)
wait_line seed '^have: ' 60 "the startup check" >/dev/null
start lt "$PY" "$SW/lt_get.py" "$T/t.torrent" "$T/dl-lt" --peer "127.0.0.1:$port" --encryption forced --timeout 90
start ltu "$PY" "$SW/lt_get.py" "$T/t.torrent" "$T/dl-lt-utp" --peer "127.0.0.1:$port" --encryption forced \
    --utp-only --timeout 90
wait_exit lt 100
[ "$RC" -eq 0 ] || fail "libtorrent (encryption forced, TCP) failed (exit $RC): $(err_of lt | tail -n 5)"
wait_exit ltu 100
[ "$RC" -eq 0 ] || fail "libtorrent (encryption forced, uTP) failed (exit $RC): $(err_of ltu | tail -n 5)"
same_file "$T/src/enc.bin" "$T/dl-lt/enc.bin" "libtorrent's copy (TCP)"
same_file "$T/src/enc.bin" "$T/dl-lt-utp/enc.bin" "libtorrent's copy (uTP)"
encrypted_only seed "btt seed"
grep -q 'handshake done over TCP, encrypted' "$T/log/seed.err" || fail "no encrypted TCP connection in btt seed's log"
grep -q 'handshake done over uTP, encrypted' "$T/log/seed.err" || fail "no encrypted uTP connection in btt seed's log"
ok "libtorrent with encryption forced downloaded from btt seed over TCP and uTP: $(grep -m1 '^complete' "$T/log/lt.out")"
# libtorrent's default (pe_enabled, both levels): it tries MSE first offering RC4 and plaintext;
# btt picks plaintext for the stream (RC4 would cost CPU on every byte for nothing asked)
start ltd "$PY" "$SW/lt_get.py" "$T/t.torrent" "$T/dl-lt-default" --peer "127.0.0.1:$port" --timeout 90
wait_exit ltd 100
[ "$RC" -eq 0 ] || fail "libtorrent (default encryption) failed (exit $RC): $(err_of ltd | tail -n 5)"
same_file "$T/src/enc.bin" "$T/dl-lt-default/enc.bin" "libtorrent's copy (default encryption)"
grep -q 'handshake done over TCP, MSE plaintext' "$T/log/seed.err" ||
    fail "libtorrent's default connection did not go through MSE with the plaintext method: $(grep 'handshake done' "$T/log/seed.err" | tail -n 3)"
ok "libtorrent with its default encryption policy: MSE handshake, plaintext stream chosen by btt"
stop seed

# --- 2. btt get --encryption require from a libtorrent seeder (forced), over TCP and over uTP
start lseed "$PY" "$SW/lt_seed.py" "$T/t.torrent" "$T/src" --bind 127.0.0.1 --port 0 --encryption forced --utp
sport=$(listen_port lseed)
wait_line lseed '^ready' 60 "libtorrent's check of the seed data" >/dev/null
start get "$BTT" get "$T/t.torrent" -d "$T/dl-btt" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0 \
    --no-trackers --no-utp --encryption require -v
wait_exit get 90
expect_complete get
same_file "$T/src/enc.bin" "$T/dl-btt/enc.bin" "btt's copy (TCP)"
encrypted_only get "btt get (TCP)"
start getu "$BTT" get "$T/t.torrent" -d "$T/dl-btt-utp" --peer "127.0.0.1:$sport" --bind 127.0.0.1 --port 0 \
    --no-trackers --no-tcp --encryption require -v
wait_exit getu 90
expect_complete getu
same_file "$T/src/enc.bin" "$T/dl-btt-utp/enc.bin" "btt's copy (uTP)"
encrypted_only getu "btt get (uTP)"
grep -q 'handshake done over uTP, encrypted' "$T/log/getu.err" || fail "btt get --no-tcp: no encrypted uTP connection"
ok "btt get --encryption require downloaded from libtorrent (forced) over TCP and uTP"
stop lseed

# --- 3. no common ground: nothing moves
start pseed "$PY" "$SW/lt_seed.py" "$T/t.torrent" "$T/src" --bind 127.0.0.1 --port 0 --encryption disabled
pport=$(listen_port pseed)
wait_line pseed '^ready' 60 "libtorrent's check of the seed data" >/dev/null
start getno "$BTT" get "$T/t.torrent" -d "$T/dl-no" --peer "127.0.0.1:$pport" --bind 127.0.0.1 --port 0 \
    --no-trackers --no-utp --encryption require -vv
sleep 4
grep -q 'handshake done' "$T/log/getno.err" && fail "btt --encryption require completed a handshake with a plaintext-only peer"
stop getno
[ -s "$T/dl-no/enc.bin" ] && cmp -s <(head -c 16384 "$T/dl-no/enc.bin") <(head -c 16384 "$T/src/enc.bin") &&
    fail "btt --encryption require received data from a plaintext-only peer"
stop pseed
start rseed "$BTT" seed "$T/t.torrent" -d "$T/src" --bind 127.0.0.1 --port 0 --no-trackers --encryption require -vv
rport=$(listen_port rseed)
wait_line rseed '^have: ' 60 "the startup check" >/dev/null
start ltno "$PY" "$SW/lt_get.py" "$T/t.torrent" "$T/dl-lt-no" --peer "127.0.0.1:$rport" --encryption disabled --timeout 4
wait_exit ltno 20
[ "$RC" -ne 0 ] || fail "a plaintext-only libtorrent downloaded from btt seed --encryption require"
grep -q 'a plaintext handshake (encryption is required)' "$T/log/rseed.err" ||
    fail "btt seed --encryption require did not say why it refused: $(grep 'closed' "$T/log/rseed.err" | tail -n 3)"
ok "with encryption required on one side and disabled on the other, no handshake completes and the refusal is logged"
stop rseed
finish
