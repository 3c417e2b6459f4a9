#!/bin/bash
# `btt tracker` over real sockets without BitTorrent clients: bidannounce and bidscrape with curl
# and python (tracker_server_protocol.py), keep-alive and pipelining, malformed and oversized
# HTTP and UDP requests (bencoded failures, BEP 15 error packets), the rate limit, and a
# slowloris connection closed by the header timeout; the tracker must keep serving throughout.
# Then a second tracker on [::] with --ip-params and a whitelist: BEP 7 ipv6= / ipv4= from a
# dual-stack client, a paged full scrape, and the whitelist read again on SIGHUP (a torrent no
# longer listed is dropped and refused, a new one served; a bad file keeps the old list).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need curl

start trk "$BTT" tracker --http 127.0.0.1:0 --udp 127.0.0.1:0 --interval 60 --rate-limit 50
hp=$(wait_line trk '^listening on http ' 20 | sed 's/.*://')
up=$(wait_line trk '^listening on udp ' 20 | sed 's/.*://')

# curl: a bidannounce and a bidscrape, checked byte by byte where the format is fixed
ih='%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14'
curl -sf "http://127.0.0.1:$hp/announce?info_hash=$ih&peer_id=-CU0001-000000000001&port=6001&left=1&bid=300" >"$T/a1"
curl -sf "http://127.0.0.1:$hp/announce?info_hash=$ih&peer_id=-CU0001-000000000002&port=6002&left=1&sortbid=1" >"$T/a2"
printf 'd4:bids8:\x00\x00\x00\x00\x00\x00\x01\x2c8:completei0e10:downloadedi0e10:incompletei2e8:intervali60e12:min intervali30e5:peers6:\x7f\x00\x00\x01\x17\x71e' >"$T/a2.want"
cmp -s "$T/a2" "$T/a2.want" || fail "bidannounce reply: $(od -c "$T/a2" | head -5)"
curl -sf "http://127.0.0.1:$hp/bidscrape?limit=5" >"$T/bs"
grep -q 'd8:torrentsld7:biddersi1e9:info_hash20:' "$T/bs" || fail "bidscrape reply: $(od -c "$T/bs" | head)"
grep -q '3:maxi300e6:mediani300eee' "$T/bs" || fail "bidscrape max/median: $(od -c "$T/bs" | head)"
ok "curl: bidannounce reply with bids, bidscrape"

# a slowloris connection: half a request head, then nothing; closed after the 10 s header timeout
"$PY" - "$hp" <<'PYEOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /announce?info_hash=")
s.settimeout(20)
t = time.time()
try:
    d = s.recv(100)
except socket.timeout:
    print("FAIL: slowloris connection still open after 20 s"); sys.exit(1)
el = time.time() - t
if d or el < 9 or el > 13:
    print("FAIL: slowloris closed after %.1f s with %r" % (el, d)); sys.exit(1)
print("ok: slowloris connection closed after %.1f s" % el)
PYEOF
slow=$!

"$PY" "$SW/tracker_server_protocol.py" "$hp" "$up" || fail "protocol checks failed"
wait "$slow" || fail "slowloris check failed"
curl -sf "http://127.0.0.1:$hp/stats" >"$T/stats" || fail "the tracker stopped serving"
grep -q '"timeouts":[1-9]' "$T/stats" || fail "no timeout counted: $(cat "$T/stats")"
stop trk
[ "$RC" -eq 0 ] || fail "btt tracker exited $RC on SIGTERM, wanted 0"

# --- operator features: --ip-params, full scrape, whitelist reload on SIGHUP
wl() { # the whitelist: MANY (0xa0 00.. NNNN, 300 of them) and the info-hashes given as 2-digit hex
    local b i
    for b in "$@"; do printf '%s\n' "$(printf "$b%.0s" $(seq 20))"; done >"$T/wl.new"
    for i in $(seq 0 299); do printf 'a0%034d%04x\n' 0 "$i"; done >>"$T/wl.new"
    mv "$T/wl.new" "$T/wl"
}
wl 01 # IH1 listed; IH2 not yet
start trk2 "$BTT" tracker --http "[::]:0" --whitelist "$T/wl" --ip-params --rate-limit 0 --interval 60
hp2=$(wait_line trk2 '^listening on http ' 20 | sed 's/.*://')
"$PY" "$SW/tracker_server_protocol.py" ops1 "$hp2" || fail "BEP 7 / full scrape checks failed"
printf 'not a hash\n' >"$T/wl"
kill -HUP "$(pid_of trk2)"
for _ in $(seq 50); do grep -q 'SIGHUP: whitelist' "$T/log/trk2.err" && break; sleep 0.1; done
grep -q "SIGHUP: whitelist $T/wl: line 1: not a 40-digit hex info-hash (the old list stays)" "$T/log/trk2.err" ||
    fail "a bad whitelist on SIGHUP was not reported: $(cat "$T/log/trk2.err")"
alive trk2 || fail "btt tracker died on a bad whitelist reload"
wl 02 # IH1 dropped, IH2 added
kill -HUP "$(pid_of trk2)"
wait_line trk2 '^whitelist reloaded: ' 10 "the reload line" | grep -q '^whitelist reloaded: 1 torrent(s) no longer listed dropped$' ||
    fail "the reload should have dropped IH1's swarm: $(grep '^whitelist' "$T/log/trk2.out")"
"$PY" "$SW/tracker_server_protocol.py" ops2 "$hp2" || fail "checks after the whitelist reload failed"
stop trk2
[ "$RC" -eq 0 ] || fail "btt tracker (whitelist) exited $RC on SIGTERM, wanted 0"
finish
