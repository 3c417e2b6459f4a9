#!/usr/bin/python3
"""A raw BitTorrent Speed peer (docs/speed-protocol.md) on plain sockets, for tests that need a
Speed peer that misbehaves on purpose. It connects to a seeder, speaks BEP 3 and BEP 10, and
btt_speed: the hello in the extension handshake, pop, bid, channel, pay, proof.

usage: speed_peer.py TORRENT --connect HOST:PORT --ledger-id HEX --name NAME --mode MODE
                     [--data DIR] [--channel HEX] [--bid RATE] [--connections N] [--timeout S]
                     [--listen-port P [--announce URL --announce-bid RATE]]

--listen-port P: listens on 127.0.0.1:P and gives P as "p" (the listen port, BEP 10) in its
extension handshake. --announce URL: before connecting, announces itself to that HTTP tracker
(port P, left = the torrent's size) with bid=RATE (bidannounce, docs/speed-protocol.md 5.1), then
waits until the seeder, having learnt of it from the tracker, connects to port P (printed as
"seeder dialled our listen port"; the connection is closed), so the seeder knows its tracker bid.

The Ed25519 key is BLAKE2b-256(NAME) used as the seed, as tests/unit/ledger/ledger_client_probe
derives its wallets: the test funds the account and opens channels with the probe.

Modes:
  nopay      bids RATE, takes the bid_response and the unchoke, requests blocks and never opens a
             channel nor pays; keeps going (re-requesting after every unchoke) until the seeder
             closes the connection, then reconnects (up to --connections times)
  forge      bids, names --channel (a real channel from this account to the seeder) after the
             bid_response, then once data came sends a pay with a bad signature
  proof      holds the data (--data DIR): answers the seeder's first reserve challenge (the first
             one with a price of at least --proof-at) with a correct proof, the next one with a
             wrong hash
  bid        bids RATE, waits for the bid_response and the unchoke, takes 16 blocks (or stays
             --stay seconds, taking what comes) and ends, printing "served N blocks"; never pays
  malformed  sends malformed, mistyped, oversized and unknown Speed messages (and some before its
             pop), one connection after another, while checking the connection stays usable

Prints one line per event, flushed at once:
  connection K / closed K: WHY / speed active / pop verified / pop INVALID
  reserve PRICE PIECE CHUNK / bid_response RATE LOCK EXPIRY / refuse CODE: TEXT
  unchoke / choke (N blocks so far) / sent KIND ... / done
Exits 0 when its connections are over, 3 after --timeout seconds (default 120).
"""
import argparse
import hashlib
import os
import select
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives import serialization

PSTR = b"BitTorrent protocol"
BLOCK = 16384
EXT_ID = 7  # our id for btt_speed
POP_TAG = b"btt-speed-pop-v1"
VOUCHER_TAG = b"btt-voucher-v1\0\0"


def say(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------------------------- bencode

def benc(v):
    if isinstance(v, bool):
        raise TypeError("bool")
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, (bytes, bytearray)):
        return b"%d:%s" % (len(v), bytes(v))
    if isinstance(v, list):
        return b"l" + b"".join(benc(x) for x in v) + b"e"
    if isinstance(v, dict):
        out = b"d"
        for k in sorted(v, key=lambda k: k.encode() if isinstance(k, str) else k):
            out += benc(k) + benc(v[k])
        return out + b"e"
    raise TypeError(type(v))


def bdec(b, i=0, spans=None):
    """Decodes one value at b[i:]; returns (value, end). spans[key] = (start, end) for dict
    values at the top level of the outermost dict (to hash the raw info dict)."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while b[i:i + 1] != b"e":
            v, i = bdec(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while b[i:i + 1] != b"e":
            k, i = bdec(b, i)
            s = i
            v, i = bdec(b, i)
            out[k] = v
            if spans is not None:
                spans[k] = (s, i)
        return out, i + 1
    if c.isdigit():
        j = b.index(b":", i)
        n = int(b[i:j])
        return bytes(b[j + 1:j + 1 + n]), j + 1 + n
    raise ValueError("bad bencode at %d" % i)


# ------------------------------------------------------------------------------------- torrent

class Torrent:
    def __init__(self, path, data_dir):
        raw = open(path, "rb").read()
        spans = {}
        meta, _ = bdec(raw, 0, spans)
        s, e = spans[b"info"]
        self.info_hash = hashlib.sha1(raw[s:e]).digest()
        info = meta[b"info"]
        self.piece_length = info[b"piece length"]
        self.num_pieces = len(info[b"pieces"]) // 20
        name = info[b"name"].decode()
        self.files = []  # (offset, size, path)
        off = 0
        if b"files" in info:
            for f in info[b"files"]:
                p = os.path.join(data_dir or "", name, *[x.decode() for x in f[b"path"]])
                self.files.append((off, f[b"length"], p))
                off += f[b"length"]
        else:
            self.files.append((0, info[b"length"], os.path.join(data_dir or "", name)))
            off = info[b"length"]
        self.total = off

    def piece_size(self, p):
        return min(self.piece_length, self.total - p * self.piece_length)

    def block_range(self, piece, chunk):
        off = chunk * BLOCK
        return piece * self.piece_length + off, min(BLOCK, self.piece_size(piece) - off)

    def read(self, offset, length):
        out = bytearray()
        for fo, fsz, p in self.files:
            if length == 0:
                break
            if offset >= fo + fsz or offset < fo:
                continue
            n = min(length, fo + fsz - offset)
            with open(p, "rb") as f:
                f.seek(offset - fo)
                out += f.read(n)
            offset += n
            length -= n
        return bytes(out)

    def blocks(self):
        for p in range(self.num_pieces):
            for c in range((self.piece_size(p) + BLOCK - 1) // BLOCK):
                o, n = self.block_range(p, c)
                yield p, c * BLOCK, n


# ---------------------------------------------------------------------------------- connection

class Closed(Exception):
    pass


class Timeout(Exception):
    pass


class Conn:
    def __init__(self, host, port, t, key, ledger, listen_port=0):
        self.t = t
        self.listen_port = listen_port
        self.key = key
        self.pk = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.ledger = ledger
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setblocking(False)
        self.buf = b""
        self.their_ext = 0      # their id for btt_speed
        self.their_pk = None
        self.their_ch = None
        self.our_ch = os.urandom(16)
        self.pop_sent = False
        self.active = False
        self.choked = True
        self.outstanding = 0
        self.blocks = 0
        self.peer_id = b"-PY0001-" + os.urandom(12)

    # -- sending
    def send(self, data):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Closed("send: %s" % e)
        finally:
            self.sock.setblocking(False)

    def msg(self, mid, payload=b""):
        self.send(struct.pack(">IB", 1 + len(payload), mid) + payload)

    def ext(self, ext_id, payload):
        self.msg(20, bytes([ext_id]) + payload)

    def speed(self, d, raw=None):
        """A btt_speed message (d bencoded), or raw payload bytes as they are."""
        self.ext(self.their_ext or 1, raw if raw is not None else benc(d))

    def handshake(self):
        reserved = bytearray(8)
        reserved[5] |= 0x10  # BEP 10
        self.send(bytes([len(PSTR)]) + PSTR + bytes(reserved) + self.t.info_hash + self.peer_id)
        hello = {"v": 1, "pk": self.pk, "ledger": self.ledger, "ch": self.our_ch}
        hs = {"m": {"btt_speed": EXT_ID}, "v": "speed_peer.py", "btt_speed": hello}
        if self.listen_port:
            hs["p"] = self.listen_port
        self.ext(0, benc(hs))

    def send_pop(self):
        m = POP_TAG + self.ledger + self.t.info_hash + self.their_ch + self.pk
        assert len(m) == 116
        self.speed({"t": "pop", "sig": self.key.sign(m)})
        self.pop_sent = True

    # -- receiving: yields (id, payload) of whole messages; None when the wait ends with none
    def recv(self, wait):
        deadline = time.time() + wait
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if n > 1 << 20:
                    raise Closed("message of %d bytes" % n)
                if len(self.buf) >= 4 + n:
                    m = self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    if n == 0:
                        continue  # keepalive
                    return m[0], m[1:]
            left = deadline - time.time()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            try:
                d = self.sock.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError as e:
                raise Closed("recv: %s" % e)
            if not d:
                raise Closed("the seeder closed the connection")
            self.buf += d

    def read_handshake(self, wait=10):
        deadline = time.time() + wait
        while len(self.buf) < 68:
            left = deadline - time.time()
            if left <= 0:
                raise Closed("no handshake")
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                try:
                    d = self.sock.recv(1 << 16)
                except BlockingIOError:
                    continue
                except OSError as e:
                    raise Closed("recv: %s" % e)
                if not d:
                    raise Closed("the seeder closed the connection during the handshake")
                self.buf += d
        if self.buf[1:20] != PSTR or self.buf[28:48] != self.t.info_hash:
            raise Closed("bad handshake")
        self.buf = self.buf[68:]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------------------------- a peer

class Peer:
    def __init__(self, a, t, key, ledger):
        self.a = a
        self.t = t
        self.key = key
        self.ledger = ledger
        self.c = None
        self.reserves = 0
        self.paid_forged = False
        self.next_block = 0
        self.all_blocks = list(t.blocks())
        self.deadline = time.time() + a.timeout

    def check_deadline(self):
        if time.time() > self.deadline:
            raise Timeout()

    def on_speed(self, payload):
        """A btt_speed message from the seeder; returns its decoded dict (or None)."""
        c = self.c
        try:
            d, end = bdec(payload)
        except (ValueError, IndexError):
            say("seeder sent an undecodable btt_speed message")
            return None
        if not isinstance(d, dict):
            return None
        typ = d.get(b"t")
        if typ == b"pop":
            m = POP_TAG + self.ledger + self.t.info_hash + c.our_ch + c.their_pk
            try:
                Ed25519PublicKey.from_public_bytes(c.their_pk).verify(d[b"sig"], m)
                say("pop verified")
                c.active = True
                say("speed active")
            except Exception:
                say("pop INVALID")
        elif typ == b"reserve":
            say("reserve %d %d %d" % (d[b"price"], d[b"piece"], d[b"chunk"]))
        elif typ == b"bid_response":
            say("bid_response %d %d %d" % (d[b"rate"], d[b"lock"], d[b"expiry"]))
        elif typ == b"refuse":
            say("refuse %s: %s" % (d[b"code"].decode(), d.get(b"msg", b"").decode(errors="replace")))
        elif typ == b"bid":
            say("bid %d" % d[b"rate"])
        else:
            say("speed message %s" % typ)
        return d

    def request_more(self):
        c = self.c
        while not c.choked and c.outstanding < 16:
            if self.a.mode == "bid" and c.blocks + c.outstanding >= 16:
                break  # a bidder takes 16 blocks, no more
            if self.next_block >= len(self.all_blocks):
                self.next_block = 0
            p, b, n = self.all_blocks[self.next_block]
            self.next_block += 1
            c.msg(6, struct.pack(">III", p, b, n))
            c.outstanding += 1

    def pump(self, wait):
        """Handles one message (or waits up to `wait`); returns (id, payload) or None."""
        c = self.c
        m = c.recv(wait)
        if m is None:
            return None
        mid, pl = m
        if mid == 20 and pl[:1] == b"\0":
            d, _ = bdec(pl[1:])
            sp = d.get(b"btt_speed")
            mm = d.get(b"m", {})
            if isinstance(sp, dict) and mm.get(b"btt_speed"):
                c.their_ext = mm[b"btt_speed"]
                c.their_pk = sp[b"pk"]
                c.their_ch = sp[b"ch"]
                say("seeder hello: ledger %s" % ("same" if sp.get(b"ledger") == self.ledger else "DIFFERENT"))
                if self.a.mode != "malformed" or self.a.pop_first:
                    c.send_pop()
            else:
                say("seeder has no btt_speed")
        elif mid == 20 and pl[:1] == bytes([EXT_ID]):
            return mid, self.on_speed(pl[1:])
        elif mid == 0:
            c.choked = True
            c.outstanding = 0
            say("choke (%d blocks so far)" % c.blocks)
        elif mid == 1:
            c.choked = False
            say("unchoke")
            if self.a.mode in ("nopay", "forge", "bid"):
                self.request_more()
        elif mid == 7:
            c.blocks += 1
            c.outstanding = max(0, c.outstanding - 1)
            if self.a.mode in ("nopay", "forge", "bid"):
                self.request_more()
        elif mid == 16:  # reject (BEP 6): not negotiated, but harmless
            c.outstanding = max(0, c.outstanding - 1)
        return mid, pl

    def connect(self, k):
        host, port = self.a.connect.rsplit(":", 1)
        self.c = None
        self.c = Conn(host, int(port), self.t, self.key, self.ledger, self.a.listen_port)
        say("connection %d" % k)
        self.c.handshake()
        self.c.read_handshake()

    def drain(self):
        """After a failed send: what the seeder sent before closing is still worth reading
        (a refuse explaining why)."""
        if not self.c:
            return
        self.a.mode = "drain"  # no more requests
        try:
            while self.pump(0.3) is not None:
                pass
        except (Closed, OSError, ValueError):
            pass

    def wait_active(self, secs=15):
        deadline = time.time() + secs
        while not self.c.active:
            if time.time() > deadline:
                raise Closed("Speed never became active")
            self.pump(0.5)


def sign_voucher(key, ledger, channel, amount, seq):
    return key.sign(VOUCHER_TAG + ledger + channel + struct.pack(">QQ", amount, seq))


# ---------------------------------------------------------------------------------------- modes

def run_nopay(pr, k):
    pr.wait_active()
    c = pr.c
    c.msg(2)  # interested
    c.speed({"t": "bid", "rate": pr.a.bid})
    say("sent bid %d" % pr.a.bid)
    while True:
        pr.check_deadline()
        pr.pump(1.0)


def run_bid(pr, k):
    pr.wait_active()
    c = pr.c
    c.msg(2)
    c.speed({"t": "bid", "rate": pr.a.bid})
    say("sent bid %d" % pr.a.bid)
    end = time.time() + pr.a.stay if pr.a.stay else None
    while (c.blocks < 16) if end is None else (time.time() < end):
        pr.check_deadline()
        pr.pump(0.2 if end else 1.0)
    say("served %d blocks" % c.blocks)


def announce(a, t):
    """A bidannounce to a.announce as a leecher on a.listen_port; then waits for the seeder to
    dial that port (it learnt of us, and of our bid, from the tracker)."""
    import urllib.parse
    import urllib.request
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", a.listen_port))
    lst.listen(8)
    q = "info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0&left=%d&event=started&compact=1&bid=%d" % (
        urllib.parse.quote(t.info_hash, safe=""), urllib.parse.quote(b"-PY0001-" + os.urandom(12), safe=""),
        a.listen_port, t.total, a.announce_bid)
    body = urllib.request.urlopen(a.announce + "?" + q, timeout=10).read()
    d, _ = bdec(body)
    if b"failure reason" in d:
        raise SystemExit("tracker failure: %r" % d[b"failure reason"])
    say("announced bid %d" % a.announce_bid)
    lst.settimeout(a.timeout)
    try:
        s, _ = lst.accept()
    except socket.timeout:
        say("the seeder never dialled our listen port")
        return False
    s.close()
    say("seeder dialled our listen port")
    return lst


def run_forge(pr, k):
    pr.wait_active()
    c = pr.c
    c.msg(2)
    c.speed({"t": "bid", "rate": pr.a.bid})
    say("sent bid %d" % pr.a.bid)
    channel = bytes.fromhex(pr.a.channel)
    rate = None
    while True:
        pr.check_deadline()
        m = pr.pump(1.0)
        if m and m[0] == 20 and isinstance(m[1], dict) and m[1].get(b"t") == b"bid_response" and rate is None:
            rate = m[1][b"rate"]
            c.speed({"t": "channel", "id": channel})
            say("sent channel %s" % pr.a.channel[:16])
        if rate is not None and c.blocks >= 16 and not pr.paid_forged:
            amount = rate * c.blocks * BLOCK // 1024
            sig = bytearray(sign_voucher(pr.key, pr.ledger, channel, amount, 1))
            sig[10] ^= 1
            c.speed({"t": "pay", "id": channel, "amount": amount, "seq": 1, "sig": bytes(sig), "piece": 0})
            pr.paid_forged = True
            say("sent forged pay %d" % amount)


def run_proof(pr, k):
    pr.wait_active()
    c = pr.c
    sent = 0
    deadline = time.time() + 30
    while time.time() < deadline:
        m = pr.pump(0.5)
        if not m or m[0] != 20 or not isinstance(m[1], dict) or m[1].get(b"t") != b"reserve":
            continue
        piece, chunk = m[1][b"piece"], m[1][b"chunk"]
        if sent == 0 and m[1][b"price"] < pr.a.proof_at:
            deadline = time.time() + 30
            continue
        off, ln = pr.t.block_range(piece, chunk)
        h = hashlib.sha1(pr.t.read(off, ln)).digest()
        if sent == 0:
            c.speed({"t": "proof", "piece": piece, "chunk": chunk, "hash": h})
            say("sent proof %d %d good" % (piece, chunk))
        elif sent == 1:
            c.speed({"t": "proof", "piece": piece, "chunk": chunk, "hash": bytes(x ^ 0xFF for x in h)})
            say("sent proof %d %d bad" % (piece, chunk))
        sent += 1
        if sent >= 2:
            break
    # the answer to the bad proof
    end = time.time() + 5
    while time.time() < end:
        pr.pump(0.5)
    raise Closed("proof mode over")


def malformed_payloads(pr):
    ch32 = b"\x01" * 32
    big = {"t": "bid", "rate": 5, "pad": "x" * 2000}
    deep = b"l" * 5000 + b"e" * 5000
    return [
        ("garbage", None, b"\xff\xfe garbage \x00"),
        ("empty", None, b""),
        ("not-a-dict", None, benc([1, 2, 3])),
        ("no-t", None, benc({"rate": 5})),
        ("t-int", None, benc({"t": 4})),
        ("bid-string-rate", None, benc({"t": "bid", "rate": "lots"})),
        ("bid-negative", None, benc({"t": "bid", "rate": -5})),
        ("bid-huge", None, b"d4:ratei99999999999999999999999999999e1:t3:bide"),
        ("bid-truncated", None, b"d4:ratei5e1:t3:bi"),
        ("oversized", None, benc(big)),
        ("deep-nesting", None, deep),
        ("reserve-out-of-range", None, benc({"t": "reserve", "price": 1, "piece": 1 << 31, "chunk": 0})),
        ("reserve-chunk-out", None, benc({"t": "reserve", "price": 1, "piece": 0, "chunk": 1 << 20})),
        ("proof-short-hash", None, benc({"t": "proof", "piece": 0, "chunk": 0, "hash": b"abc"})),
        ("proof-wrong", None, benc({"t": "proof", "piece": 0, "chunk": 0, "hash": b"\0" * 20})),
        ("pay-seq0", None, benc({"t": "pay", "id": ch32, "amount": 1, "seq": 0, "sig": b"\0" * 64, "piece": 0})),
        ("pay-unknown-channel", None, benc({"t": "pay", "id": ch32, "amount": 1, "seq": 1, "sig": b"\0" * 64, "piece": 0})),
        ("pay-amount-above-supply", None,
         benc({"t": "pay", "id": ch32, "amount": 1 << 62, "seq": 1, "sig": b"\0" * 64, "piece": 0})),
        ("channel-short-id", None, benc({"t": "channel", "id": b"\x01" * 5})),
        ("channel-unknown", None, benc({"t": "channel", "id": ch32})),
        ("bid_response-to-seeder", None,
         benc({"t": "bid_response", "rate": 1, "payee": b"\0" * 32, "lock": 1, "expiry": 1})),
        ("refuse-long-code", None, benc({"t": "refuse", "code": "x" * 100})),
        ("refuse-binary", None, benc({"t": "refuse", "code": "a\x01b", "msg": b"\xff" * 10})),
        ("unknown-type", None, benc({"t": "frobnicate", "x": 1})),
        ("pop-again-garbage", None, benc({"t": "pop", "sig": b"\0" * 64})),
        ("pop-short", None, benc({"t": "pop", "sig": b"\0" * 3})),
        ("bid-list", None, benc({"t": "bid", "rate": [1]})),
        ("bid-zero", None, benc({"t": "bid", "rate": 0})),
    ]


def run_malformed(pr, k):
    c = pr.c
    # before the pop: everything must be ignored
    deadline = time.time() + 10
    while c.their_ch is None and time.time() < deadline:
        pr.pump(0.2)
    if c.their_ch is None:
        raise Closed("no btt_speed hello from the seeder")
    for name, _, raw in malformed_payloads(pr)[:6]:
        c.speed(None, raw=raw)
    say("sent 6 malformed before the pop")
    if k % 2 == 0:
        # a bad pop: the seeder must treat us as legacy, nothing else
        c.speed({"t": "pop", "sig": b"\x07" * 64})
        say("sent a bad pop")
    else:
        c.send_pop()
        pr.wait_active()
    c.msg(2)
    for name, _, raw in malformed_payloads(pr):
        c.speed(None, raw=raw)
        pr.pump(0.02)
    say("sent %d malformed" % len(malformed_payloads(pr)))
    # the connection must still work: a keepalive is accepted, we keep reading
    end = time.time() + 2
    while time.time() < end:
        pr.pump(0.2)
    c.send(b"\0\0\0\0")
    pr.pump(0.3)
    say("connection still open after the malformed messages")
    # BEP 10 level junk (the seeder may close the connection for these): an extended message on
    # an id nobody registered, then one with no extended id at all
    c.ext(99, b"d1:t3:bide")
    c.msg(20, b"")
    end = time.time() + 0.5
    while time.time() < end:
        pr.pump(0.1)
    raise Closed("malformed round over")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("torrent")
    ap.add_argument("--connect", required=True)
    ap.add_argument("--ledger-id", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--mode", required=True, choices=["nopay", "forge", "proof", "malformed", "bid"])
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--announce")
    ap.add_argument("--announce-bid", type=int, default=0)
    ap.add_argument("--proof-at", type=int, default=0)
    ap.add_argument("--stay", type=float, default=0)
    ap.add_argument("--data")
    ap.add_argument("--channel")
    ap.add_argument("--bid", type=int, default=100000)
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    a.pop_first = False
    seed = hashlib.blake2b(a.name.encode(), digest_size=32).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    ledger = bytes.fromhex(a.ledger_id)
    t = Torrent(a.torrent, a.data)
    pr = Peer(a, t, key, ledger)
    say("account key %s" % key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex())
    start = time.time()
    lst = None
    if a.announce:
        lst = announce(a, t)
        if not lst:
            return 3
    run = {"nopay": run_nopay, "forge": run_forge, "proof": run_proof, "malformed": run_malformed,
           "bid": run_bid}[a.mode]
    for k in range(1, a.connections + 1):
        if time.time() - start > a.timeout:
            say("timeout")
            return 3
        try:
            pr.connect(k)
            run(pr, k)
        except Timeout:
            say("timeout after %.0f s (%d blocks)" % (a.timeout, pr.c.blocks if pr.c else 0))
            return 3
        except Closed as e:
            pr.drain()
            say("closed %d: %s (%d blocks)" % (k, e, pr.c.blocks if pr.c else 0))
        except (ConnectionError, OSError) as e:
            say("closed %d: %s" % (k, e))
        finally:
            if pr.c:
                pr.c.close()
        time.sleep(0.3)
    say("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
