#!/usr/bin/python3
"""Hostile KRPC input against a live DHT node (btt's swarm test dht_hostile.sh).

usage: dht_hostile.py TARGET_PORT [--wait S]

Binds a UDP socket on 127.0.0.1 and prints "listening on 127.0.0.1:PORT" (give it to btt as
--dht-node, so btt queries it). Then, for every query btt sends it within --wait seconds:
  - a reply with btt's transaction id from another socket (a spoofed source),
  - replies with btt's transaction id but wrong types / bad lengths / oversized lists,
  - a reply with a transaction id btt never used.
And unsolicited, to btt's port: every prefix of a valid query (truncated), wrong types (t an
integer, y unknown, ids of 19 bytes, a a list), a get_peers reply with 1000 values, a
`nodes` string of 50 000 bytes, a 5000-byte datagram, deep nesting, non-canonical
bencoding, and a flood of 300 pings from one port (over the per-address rate limit).
Finally a valid ping from a fresh socket must be answered (same t, a 20-byte id): prints
"alive: answered a ping after N hostile datagrams" and exits 0; exit 1 otherwise.
Everything goes to 127.0.0.1 only.
"""
import argparse
import os
import socket
import sys
import time


def benc(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list):
        return b"l" + b"".join(benc(v) for v in x) + b"e"
    if isinstance(x, dict):
        out = b"d"
        for k in sorted(x, key=lambda k: k.encode() if isinstance(k, str) else k):
            out += benc(k) + benc(x[k])
        return out + b"e"
    raise TypeError(type(x))


def say(*a):
    print(*a, flush=True)


def tid_of(data):
    """The t of a bencoded dict, crudely (btt's tids are 4 bytes: '1:t4:XXXX')."""
    i = data.find(b"1:t")
    if i < 0:
        return None
    j = data.find(b":", i + 3)
    try:
        n = int(data[i + 3:j])
    except ValueError:
        return None
    return data[j + 1:j + 1 + n]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target_port", type=int)
    p.add_argument("--wait", type=float, default=8.0)
    a = p.parse_args()
    target = ("127.0.0.1", a.target_port)
    me = os.urandom(20)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    spoof = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    spoof.bind(("127.0.0.1", 0))
    say("listening on 127.0.0.1:%d" % s.getsockname()[1])
    sent = 0

    def send(sock, data):
        nonlocal sent
        sock.sendto(data, target)
        sent += 1

    # 1. answer btt's queries with garbage
    s.settimeout(0.2)
    deadline = time.time() + a.wait
    queries = 0
    while time.time() < deadline:
        try:
            data, frm = s.recvfrom(65536)
        except socket.timeout:
            continue
        if frm[1] != a.target_port:
            continue
        t = tid_of(data)
        if t is None:
            continue
        queries += 1
        send(spoof, benc({"t": t, "y": "r", "r": {"id": os.urandom(20), "nodes": b""}}))  # spoofed source
        send(s, benc({"t": t, "y": "r", "r": {"id": os.urandom(19)}}))                   # id of 19 bytes
        send(s, benc({"t": t, "y": "r", "r": {"id": me, "nodes": b"x" * 27}}))          # nodes not 26*n
        send(s, benc({"t": t, "y": "r", "r": {"id": me, "nodes": os.urandom(26 * 40)}}))  # 40 nodes: over 32
        send(s, benc({"t": t, "y": "r", "r": {"id": me, "values": [os.urandom(6)] * 300}}))
        send(s, benc({"t": t, "y": "r", "r": 7}))                                       # r not a dict
        send(s, benc({"t": t, "y": "e", "e": "nope"}))                                  # e not a list
        send(s, benc({"t": b"\xff\xff\xff\xff", "y": "r", "r": {"id": me}}))            # a tid never used
        if queries >= 6:
            break
    say("queries from btt answered with garbage: %d" % queries)

    # 2. unsolicited
    ping = benc({"t": "aa", "y": "q", "q": "ping", "a": {"id": me}})
    for i in range(1, len(ping)):
        send(s, ping[:i])                                                   # truncated
    send(s, benc({"t": 5, "y": "q", "q": "ping", "a": {"id": me}}))        # t an integer
    send(s, benc({"t": "ab", "y": "z", "q": "ping", "a": {"id": me}}))     # unknown y
    send(s, benc({"t": "ac", "y": "q", "q": "ping", "a": {"id": me[:19]}}))
    send(s, benc({"t": "ad", "y": "q", "q": "ping", "a": [me]}))           # a a list
    send(s, benc({"t": "ae", "y": "q", "q": "get_peers", "a": {"id": me, "info_hash": 12}}))
    send(s, benc({"t": "af", "y": "q", "q": "announce_peer",
                  "a": {"id": me, "info_hash": me, "port": 70000, "token": "x"}}))
    send(s, benc({"t": "ag", "y": "r", "r": {"id": me, "values": [os.urandom(6)] * 1000}}))
    send(s, benc({"t": "ah", "y": "r", "r": {"id": me, "nodes": os.urandom(50000)}}))
    send(s, b"d" + b"x" * 5000)                                             # over 4096 bytes
    send(s, b"d1:al" + b"l" * 500 + b"e" * 500 + b"e1:t2:ai1:y1:qe")        # deep nesting
    send(s, b"d1:y1:q1:t2:aj1:q4:ping1:ad2:id20:" + me + b"ee")            # keys out of order
    send(s, b"d1:t03:ak1:y1:qe")                                           # non-canonical length
    send(s, b"di1ei2ee")                                                    # integer keys
    send(s, b"d")
    for i in range(300):                                                    # rate flood
        send(s, benc({"t": b"%04d" % i, "y": "q", "q": "ping", "a": {"id": me}}))
    say("sent %d hostile datagrams" % sent)

    # 3. still alive?
    time.sleep(0.5)
    q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    q.bind(("127.0.0.1", 0))
    q.settimeout(1.0)
    for attempt in range(5):
        q.sendto(benc({"t": "zz", "y": "q", "q": "ping", "a": {"id": os.urandom(20)}}), target)
        try:
            data, frm = q.recvfrom(65536)
        except socket.timeout:
            continue
        if tid_of(data) == b"zz" and b"2:id20:" in data and b"1:y1:r" in data:
            say("alive: answered a ping after %d hostile datagrams" % sent)
            return 0
    print("dht_hostile.py: no answer to a valid ping after the hostile datagrams", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
