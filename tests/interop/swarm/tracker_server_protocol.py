#!/usr/bin/python3
"""Drives a running `btt tracker` over real sockets: bidannounce / bidscrape (docs/speed-protocol.md
section 5), keep-alive, pipelining and Connection: close, malformed and oversized HTTP requests,
malformed UDP packets, bad connection ids, and the per-address rate limit. The tracker must keep
serving after each abuse.

usage: tracker_server_protocol.py HTTP_PORT UDP_PORT
       tracker_server_protocol.py ops1|ops2 HTTP_PORT
         against a tracker on [::] with --ip-params, --rate-limit 0 and a whitelist listing
         info-hashes 0x01.. and 0xA0 00..00 0000 to 0xA0 00..00 012B (tracker_server_protocol.sh):
         ops1: BEP 7 ipv6= / ipv4= from a dual-stack client, a paged full scrape
         ops2: after the whitelist was replaced (0x01.. dropped, 0x02.. added) and SIGHUP"""
import random
import socket
import struct
import sys
import time
import urllib.parse

HOST = "127.0.0.1"
OPS = sys.argv[1] if sys.argv[1] in ("ops1", "ops2") else None
HP, UP = (int(sys.argv[2]), 0) if OPS else (int(sys.argv[1]), int(sys.argv[2]))
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print("FAIL: " + what, file=sys.stderr)
        sys.exit(1)
    checks += 1


def bdecode(b):
    def d(i):
        c = b[i:i + 1]
        if c == b"i":
            e = b.index(b"e", i)
            return int(b[i + 1:e]), e + 1
        if c == b"l":
            i += 1
            out = []
            while b[i:i + 1] != b"e":
                v, i = d(i)
                out.append(v)
            return out, i + 1
        if c == b"d":
            i += 1
            out = {}
            last = None
            while b[i:i + 1] != b"e":
                k, i = d(i)
                assert last is None or k > last, "unsorted keys %r %r" % (last, k)
                last = k
                v, i = d(i)
                out[k] = v
            return out, i + 1
        colon = b.index(b":", i)
        n = int(b[i:colon])
        return b[colon + 1:colon + 1 + n], colon + 1 + n
    v, end = d(0)
    assert end == len(b), "trailing bytes"
    return v


def http_raw(data, read_all=True, timeout=5, host=None):
    s = socket.create_connection((host or HOST, HP), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
            if not read_all and b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
                if len(body) >= n:
                    break
    except socket.timeout:
        pass
    s.close()
    return out


def split_responses(data):
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
        out.append((head, rest[:n]))
        data = rest[n:]
    return out


def get(path, host=None, **params):
    q = urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="")
    r = http_raw(("GET %s?%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % (path, q)).encode(), host=host)
    head, body = split_responses(r)[0]
    return head, body


def announce(ih, port, host=None, **kw):
    params = dict(info_hash=ih, peer_id=b"-PY0001-" + b"%012d" % port, port=port, uploaded=0, downloaded=0,
                  left=kw.pop("left", 100), compact=1)
    params.update(kw)
    head, body = get("/announce", host=host, **params)
    check(b" 200 " in head.split(b"\r\n")[0], "announce status: %r" % head)
    return bdecode(body)


def compact_ports(peers):
    return [struct.unpack(">H", peers[i + 4:i + 6])[0] for i in range(0, len(peers), 6)]


def compact6(peers):
    return [(socket.inet_ntop(socket.AF_INET6, peers[i:i + 16]), struct.unpack(">H", peers[i + 16:i + 18])[0])
            for i in range(0, len(peers), 18)]


def compact4(peers):
    return [(socket.inet_ntoa(peers[i:i + 4]), struct.unpack(">H", peers[i + 4:i + 6])[0])
            for i in range(0, len(peers), 6)]


def full_scrape():
    """Every page of a full scrape: {info_hash: counts}, and the page sizes."""
    files, sizes, cursor = {}, [], None
    while True:
        head, body = get("/scrape", **({"cursor": cursor} if cursor is not None else {}))
        d = bdecode(body)
        check(b"files" in d, "full scrape reply: %r" % body[:80])
        sizes.append(len(d[b"files"]))
        for k, v in d[b"files"].items():
            check(k not in files, "a torrent listed twice by the full scrape")
            files[k] = v
        if b"next" not in d:
            return files, sizes
        check(d[b"next"] > (cursor or 0), "the cursor moves on: %r" % d[b"next"])
        cursor = d[b"next"]
        check(len(sizes) < 100, "too many pages")


IH1, IH2 = b"\x01" * 20, b"\x02" * 20
MANY = [b"\xa0" + b"\0" * 17 + struct.pack(">H", i) for i in range(300)]

if OPS == "ops1":
    # BEP 7: a dual-stack client announces over IPv4 with its IPv6 endpoint in ipv6= (and an
    # ipv4= of the source's own family, which never replaces the source address)
    r = announce(IH1, 7000, host="127.0.0.1", ipv6="[::1]:7001", ipv4="127.0.0.9")
    check(b"failure reason" not in r, "ipv6= announce refused: %r" % r)
    r = announce(IH1, 7002, host="::1")  # an IPv6-only client
    check(("::1", 7001) in compact6(r.get(b"peers6", b"")), "the IPv6 client got the ipv6= endpoint: %r" % r)
    check(compact4(r.get(b"peers", b"")) == [("127.0.0.1", 7000)], "the IPv4 source address: %r" % r)
    check(r[b"incomplete"] == 3, "two addresses of one peer and the IPv6 client: %r" % r)
    r = announce(IH1, 7000, host="127.0.0.1", ipv6="[::1]:7001")
    check(compact6(r.get(b"peers6", b"")) == [("::1", 7002)], "not its own ipv6= endpoint: %r" % r)
    check(compact4(r.get(b"peers", b"")) == [], "not its own IPv4 address: %r" % r)
    r = announce(IH1, 7003, host="127.0.0.1", ipv6="garbage")  # malformed: ignored
    check(b"failure reason" not in r and r[b"incomplete"] == 4, "a malformed ipv6= is ignored: %r" % r)
    r = announce(IH1, 7000, host="127.0.0.1", ipv6="[::1]:7001", event="stopped")
    r = announce(IH1, 7002, host="::1")
    check(("::1", 7001) not in compact6(r.get(b"peers6", b"")), "stopped removes the ipv6= endpoint too: %r" % r)
    print("ok: BEP 7 ipv6= / ipv4= from a dual-stack client (--ip-params)")
    # a paged full scrape over 301 torrents
    for i, h in enumerate(MANY):
        r = announce(h, 9000 + i % 50, left=0 if i % 2 else 10)
        check(b"failure reason" not in r, "announce %d refused: %r" % (i, r))
    files, sizes = full_scrape()
    check(len(sizes) == 2 and sizes[0] == 256 and sum(sizes) == 301, "full scrape pages: %r" % sizes)
    check(set(files) == set(MANY) | {IH1}, "the full scrape lists every torrent")
    check(all(files[h][b"complete" if i % 2 else b"incomplete"] == 1 for i, h in enumerate(MANY)), "full scrape counts")
    head, body = get("/scrape", cursor="x")
    check(bdecode(body).get(b"failure reason") == b"invalid cursor", "a bad cursor: %r" % body)
    head, body = get("/scrape", info_hash=IH2)
    check(bdecode(body)[b"files"][IH2][b"incomplete"] == 0, "scrape of a listed torrent nobody announced")
    r = announce(b"\x03" * 20, 7000)
    check(r.get(b"failure reason") == b"torrent not whitelisted", "unlisted: %r" % r)
    print("ok: full scrape in pages of 256 with a cursor; %d checks" % checks)
    sys.exit(0)

if OPS == "ops2":
    # the whitelist now lists IH2 and MANY, not IH1: IH1's swarm is gone and refused
    r = announce(IH1, 7010, host="127.0.0.1")
    check(r.get(b"failure reason") == b"torrent not whitelisted", "IH1 after the reload: %r" % r)
    head, body = get("/scrape", info_hash=IH1)
    f = bdecode(body)[b"files"][IH1]
    check(f[b"incomplete"] == 0 and f[b"complete"] == 0, "IH1's peers were dropped: %r" % f)
    r = announce(IH2, 7011, host="127.0.0.1")
    check(b"failure reason" not in r, "IH2 is served after the reload: %r" % r)
    files, sizes = full_scrape()
    check(IH1 not in files and IH2 in files and len(files) == 301, "full scrape after the reload: %d" % len(files))
    print("ok: whitelist reloaded on SIGHUP: a dropped torrent refused, a new one served; %d checks" % checks)
    sys.exit(0)

# ---- bidannounce
ih = bytes(random.getrandbits(8) for _ in range(20))
bids = {7001: 0, 7002: 500, 7003: 100, 7004: 500, 7005: 0, 7006: 900, 7007: 50}
for port, bid in bids.items():
    r = announce(ih, port, bid=bid) if bid else announce(ih, port)
    check(b"failure reason" not in r, "announce refused: %r" % r)
r = announce(ih, 7100, sortbid=1)
ports = compact_ports(r[b"peers"])
got = [struct.unpack(">Q", r[b"bids"][i:i + 8])[0] for i in range(0, len(r[b"bids"]), 8)]
check(len(got) == len(ports) == 7, "sortbid: %d peers %d bids" % (len(ports), len(got)))
check(got == sorted(got, reverse=True), "sortbid order: %r" % got)
check([bids[p] for p in ports] == got, "bids follow the peers: %r vs %r" % (ports, got))
check(ports[0] == 7006 and set(ports[1:3]) == {7002, 7004}, "highest first: %r" % ports)
r = announce(ih, 7100, minbid=100)
ports = compact_ports(r[b"peers"])
check(sorted(ports) == [7002, 7003, 7004, 7006], "minbid=100: %r" % ports)
r = announce(ih, 7100, minbid=100, sortbid=1, numwant=2)
check(compact_ports(r[b"peers"]) [0] == 7006 and len(r[b"peers"]) == 12, "numwant with sortbid")
# the dictionary model: an integer bid per peer
r = announce(ih, 7100, sortbid=1, compact=0)
check(isinstance(r[b"peers"], list) and r[b"peers"][0][b"bid"] == 900 and r[b"peers"][0][b"port"] == 7006,
      "dictionary peers with bids: %r" % r[b"peers"][:2])
# a plain announce: no bids keys (a legacy reply)
r = announce(ih, 7101)
check(b"bids" not in r and len(r[b"peers"]) % 6 == 0, "plain reply has no bids: %r" % list(r))
check(r[b"complete"] == 0 and r[b"incomplete"] == 9, "counts %r" % r)
print("ok: bidannounce ordering, minbid, numwant, bids strings, dictionary model, legacy reply")

# ---- bidscrape
ih2 = bytes(random.getrandbits(8) for _ in range(20))
for port, bid in [(8001, 10), (8002, 20), (8003, 30), (8004, 40)]:
    announce(ih2, port, bid=bid)
ih3 = bytes(random.getrandbits(8) for _ in range(20))
announce(ih3, 8101, bid=5000)
head, body = get("/bidscrape")
t = bdecode(body)[b"torrents"]
check([e[b"max"] for e in t] == sorted([e[b"max"] for e in t], reverse=True), "bidscrape order")
t = [e for e in t if e[b"info_hash"] in (ih, ih2, ih3)]  # the shell script's curl torrent is there too
check([e[b"info_hash"] for e in t] == [ih3, ih, ih2], "bidscrape order: %r" % [e[b"max"] for e in t])
check(t[1][b"bidders"] == 5 and t[1][b"max"] == 900 and t[1][b"median"] == 500, "ih stats %r" % t[1])
check(t[2][b"bidders"] == 4 and t[2][b"max"] == 40 and t[2][b"median"] == 20, "lower median %r" % t[2])
head, body = get("/bidscrape", limit=1)
check(bdecode(body)[b"torrents"][0][b"info_hash"] == ih3, "limit=1 gives the highest")
check(len(bdecode(body)[b"torrents"]) == 1, "bidscrape limit")
head, body = get("/bidscrape", limit="x")
check(b"failure reason" in bdecode(body), "bad limit")
print("ok: bidscrape highest first, bidders/max/lower median, limit")

# ---- BEP 48 scrape
head, body = get("/scrape", info_hash=ih)
f = bdecode(body)[b"files"][ih]
check(f[b"incomplete"] == 9 and f[b"complete"] == 0, "scrape %r" % f)
head, body = get("/scrape")  # a full scrape: one page, no "next"
d = bdecode(body)
check({ih, ih2, ih3} <= set(d[b"files"]) and b"next" not in d, "full scrape: %r" % list(d))
check(d[b"files"][ih][b"incomplete"] == 9, "full scrape counts")

# ---- keep-alive, pipelining, Connection: close
s = socket.create_connection((HOST, HP), timeout=5)
req = b"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n"
s.sendall(req * 3 + b"GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n")
data = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
s.close()
resps = split_responses(data)
check(len(resps) == 4, "4 pipelined answers, got %d" % len(resps))
check(b"Connection: close" in resps[3][0] and b"keep-alive" in resps[0][0], "keep-alive then close")
print("ok: keep-alive, pipelining, Connection: close")

# ---- malformed HTTP: bencoded failure reasons, and the tracker keeps serving
bad = [
    ("/announce?port=1", b"missing info_hash"),
    ("/announce?info_hash=short&port=1", b"invalid info_hash"),
    ("/announce?info_hash=%s&port=99999" % ("a" * 20), b"invalid port"),
    ("/announce?info_hash=%s&port=1&left=-5" % ("a" * 20), b"invalid left"),
    ("/announce?info_hash=%s&port=1&bid=abc" % ("a" * 20), b"invalid bid"),
    ("/announce?info_hash=%s&port=1&sortbid=yes" % ("a" * 20), b"invalid sortbid"),
    ("/announce?info_hash=%%zz%s&port=1" % ("a" * 19), b"invalid info_hash"),
    ("/scrape?cursor=-1", b"invalid cursor"),
]
for path, why in bad:
    r = http_raw(("GET %s HTTP/1.1\r\nConnection: close\r\n\r\n" % path).encode())
    head, body = split_responses(r)[0]
    d = bdecode(body)
    check(why in d.get(b"failure reason", b""), "%s: %r" % (path, body))
for raw, status in [(b"POST /announce HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", b"405"),
                    (b"GET /announce HTTP/9.9\r\n\r\n", b"505"),
                    (b"GET /announce HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"400"),
                    (b"GET /x" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", b"431"),
                    (b"GET /nowhere HTTP/1.1\r\n\r\n", b"404"),
                    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, b"40")]:
    r = http_raw(raw)
    check(r.startswith(b"HTTP/1.1 " + status), "%r... -> %r" % (raw[:30], r[:60]))
    head, body = split_responses(r)[0]
    check(b"failure reason" in bdecode(body), "bencoded body for %r" % raw[:20])
print("ok: malformed and oversized HTTP requests get bencoded failures")

# ---- UDP: connect, announce, scrape; malformed packets; bad connection ids
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(3)


def udp(pkt, expect_reply=True):
    u.sendto(pkt, (HOST, UP))
    try:
        return u.recv(4096)
    except socket.timeout:
        check(not expect_reply, "no UDP reply to %r" % pkt[:20])
        return None


r = udp(struct.pack(">QII", 0x41727101980, 0, 11))
action, tx, cid = struct.unpack(">IIQ", r)
check(action == 0 and tx == 11, "udp connect")
ann = struct.pack(">QII20s20sQQQIIIiH", cid, 1, 12, ih, b"-PY0001-udpudpudpudp", 0, 5, 0, 2, 0, 7, -1, 7200)
r = udp(ann)
action, tx, interval, leechers, seeders = struct.unpack(">IIIII", r[:20])
check(action == 1 and tx == 12 and leechers == 10 and (len(r) - 20) % 6 == 0 and len(r) > 20, "udp announce %r" % r[:20])
r = udp(struct.pack(">QII", cid, 2, 13) + ih + ih2)
check(struct.unpack(">II", r[:8]) == (2, 13) and len(r) == 8 + 24, "udp scrape")
check(struct.unpack(">III", r[8:20])[2] == 10, "udp scrape leechers")
for pkt, why in [(struct.pack(">QII", cid ^ 1, 1, 14) + ann[16:], b"invalid connection id"),
                 (ann[:60], b"too short"),
                 (struct.pack(">QII", cid, 9, 15), b"unknown action"),
                 (struct.pack(">QII", 0x1234, 0, 16), b"bad protocol id"),
                 (struct.pack(">QII", cid, 2, 17), b"without info_hash"),
                 (ann[:80] + struct.pack(">I", 77) + ann[84:], b"invalid event")]:
    r = udp(pkt)
    check(r[:4] == b"\x00\x00\x00\x03" and why in r[8:], "udp error for %r: %r" % (why, r))
udp(b"\x00" * 5, expect_reply=False)      # too short for a transaction id: silence
udp(b"", expect_reply=False)
r = udp(ann)
check(r[:4] == b"\x00\x00\x00\x01", "udp still serves after abuse")
print("ok: UDP connect/announce/scrape, error packets, silence for runts")

# ---- rate limit (the tracker runs with --rate-limit 50: burst 100)
limited = 0
for i in range(300):
    r = udp(struct.pack(">QII", 0x41727101980, 0, 1000 + i), expect_reply=False)
    if r is None:
        limited += 1
        break
u.settimeout(0.05)
check(limited > 0, "no UDP request was rate limited")
s = socket.create_connection((HOST, HP), timeout=5)
s.sendall(b"GET /stats HTTP/1.1\r\n\r\n" * 300)
time.sleep(0.5)
data = b""
s.settimeout(1)
try:
    while True:
        c = s.recv(1 << 20)
        if not c:
            break
        data += c
except socket.timeout:
    pass
s.close()
check(b"rate limited" in data, "HTTP rate limit")
time.sleep(2.5)  # the bucket refills
r = http_raw(b"GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n")
check(b'"rate_limited"' in r, "stats after rate limiting")
print("ok: per-address rate limits (UDP silence, HTTP failure)")
print("ok: %d checks" % checks)
