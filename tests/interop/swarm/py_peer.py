#!/usr/bin/python3
"""A minimal BEP 3 seeder on plain sockets, for tests that need a peer that misbehaves on
purpose or that records what it is asked for.

usage: py_peer.py TORRENT [--data SAVE_PATH] [--corrupt] [--bad-metadata | --good-metadata]
                  [--metadata-delay S] [--ext] [--pex HOST:PORT]... [--bind IP] [--port N] [--timeout S]

Accepts connections, answers the handshake (no extension bits), sends a bitfield with every
piece, unchokes, and answers each request:
  --corrupt           with random bytes (a hostile peer: every piece it touches fails its hash)
  --data SAVE_PATH    with the real data of the torrent found under SAVE_PATH (honest)
  --bad-metadata      also speaks BEP 10 and offers ut_metadata (BEP 9) with the right
                      metadata_size, but serves a bogus info dictionary of that size
  --good-metadata     the same, serving the real info dictionary (an honest ut_metadata peer)
  --metadata-delay S  wait S seconds before each metadata answer (spreads a fetch over peers)
  --ext               speaks BEP 10 (offers nothing) and reports the peer's extension handshake
  --pex HOST:PORT     (with --ext) sends one ut_pex message naming these peers once the peer's
                      extension handshake is in: to the id it gave ut_pex, or to id 1 if it
                      offered none (a peer that did not offer PEX must ignore it)
Prints "listening on IP:PORT", then one line per event (flushed at once):
  connected IP:PORT / closed IP:PORT (N blocks sent)
  request PIECE BEGIN LENGTH          every request, in arrival order
  cancel PIECE BEGIN LENGTH
  have PIECE                          a have message from the peer
  metadata request PIECE              a ut_metadata request (--bad-metadata)
  extensions NAME,NAME                the extensions the peer's handshake offers (--ext)
  pex sent N                          the ut_pex message went out (--pex)
Exits 0 on SIGTERM/SIGINT, 3 after --timeout seconds (default 600).
"""
import argparse
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

import libtorrent as lt

PSTR = b"BitTorrent protocol"
MAX_BLOCK = 128 * 1024

lock = threading.Lock()


def say(s):
    with lock:
        sys.stdout.write(s + "\n")
        sys.stdout.flush()


def bdecode(b, i=0):
    """(value, next index) of the bencoded value at b[i]; enough for extension messages."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c == b"l":
        out, i = [], i + 1
        while b[i:i + 1] != b"e":
            v, i = bdecode(b, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while b[i:i + 1] != b"e":
            k, i = bdecode(b, i)
            out[k], i = bdecode(b, i)
        return out, i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, dict):
        return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"
    return b"l" + b"".join(bencode(x) for x in v) + b"e"


OUR_UT_METADATA = 3


def info_bytes(path):
    """The exact bytes of the info dictionary of a .torrent file."""
    b = open(path, "rb").read()
    i = 1
    while b[i:i + 1] != b"e":
        k, i = bdecode(b, i)
        start = i
        _, i = bdecode(b, i)
        if k == b"info":
            return b[start:i]
    raise ValueError("no info dictionary in %s" % path)


class Torrent:
    def __init__(self, path, data):
        ti = lt.torrent_info(path)
        self.metadata_size = ti.metadata_size()
        # a well-formed dictionary of exactly metadata_size bytes that is not the info
        filler = self.metadata_size - len(b"d4:name0:5:x-pad:e") - len(str(self.metadata_size))
        pad = b"x" * filler
        bogus = b"d4:name0:5:x-pad%d:%se" % (len(pad), pad)
        while len(bogus) > self.metadata_size:
            pad = pad[:-1]
            bogus = b"d4:name0:5:x-pad%d:%se" % (len(pad), pad)
        self.bogus_info = bogus + b" " * (self.metadata_size - len(bogus))
        self.real_info = info_bytes(path)
        self.info_hash = bytes.fromhex(str(ti.info_hashes().v1))
        self.num_pieces = ti.num_pieces()
        self.piece_length = ti.piece_length()
        self.total = ti.total_size()
        fs = ti.files()
        self.files = []  # (offset, size, path or None for pad files)
        for i in range(fs.num_files()):
            pad = bool(int(fs.file_flags(i)) & int(lt.file_storage.flag_pad_file))
            p = None if pad or data is None else os.path.join(data, fs.file_path(i))
            self.files.append((fs.file_offset(i), fs.file_size(i), p))
        self.handles = {}

    def piece_size(self, index):
        if index == self.num_pieces - 1:
            return self.total - index * self.piece_length
        return self.piece_length

    def bitfield(self):
        n = self.num_pieces
        b = bytearray((n + 7) // 8)
        for i in range(n):
            b[i // 8] |= 0x80 >> (i % 8)
        return bytes(b)

    def read(self, offset, length):
        out = bytearray()
        for (fo, fsz, p) in self.files:
            if length == 0:
                break
            if offset >= fo + fsz or fsz == 0:
                continue
            if offset < fo:
                continue
            n = min(length, fo + fsz - offset)
            if p is None:
                out += b"\0" * n
            else:
                with lock:
                    f = self.handles.get(p)
                    if f is None:
                        f = self.handles[p] = open(p, "rb")
                chunk = os.pread(f.fileno(), n, offset - fo)
                if len(chunk) != n:
                    raise IOError("short read from %s" % p)
                out += chunk
            offset += n
            length -= n
        return bytes(out)


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def pex_message(peers):
    """A BEP 11 message adding IPv4 peers "HOST:PORT" (flags 0x10: reachable)."""
    compact = b""
    for hp in peers:
        host, port = hp.rsplit(":", 1)
        compact += socket.inet_aton(host) + struct.pack(">H", int(port))
    return bencode({b"added": compact, b"added.f": b"\x10" * len(peers), b"dropped": b""})


def serve(conn, addr, tor, corrupt, bad_metadata=False, ext=False, pex=(), good_metadata=False, delay=0.0):
    name = "%s:%d" % addr
    sent = 0
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hs = recv_exact(conn, 68)
        if hs[0] != 19 or hs[1:20] != PSTR:
            say("bad handshake from %s" % name)
            return
        if hs[28:48] != tor.info_hash:
            say("wrong info-hash from %s" % name)
            return
        peer_id = b"-PY0001-" + bytes(random.getrandbits(8) for _ in range(12))
        served_info = tor.real_info if good_metadata else tor.bogus_info
        bad_metadata = bad_metadata or good_metadata
        ext = ext or bad_metadata
        reserved = b"\0\0\0\0\0\x10\0\0" if ext else b"\0" * 8
        conn.sendall(bytes([19]) + PSTR + reserved + tor.info_hash + peer_id)
        their_ut_metadata = 0
        if bad_metadata:
            eh = bencode({b"m": {b"ut_metadata": OUR_UT_METADATA}, b"metadata_size": tor.metadata_size,
                          b"v": b"py_peer good metadata" if good_metadata else b"py_peer bad metadata"})
            conn.sendall(struct.pack(">IBB", 2 + len(eh), 20, 0) + eh)
        elif ext:
            eh = bencode({b"m": {}, b"v": b"py_peer"})
            conn.sendall(struct.pack(">IBB", 2 + len(eh), 20, 0) + eh)
        bf = tor.bitfield()
        conn.sendall(struct.pack(">IB", 1 + len(bf), 5) + bf + struct.pack(">IB", 1, 1))
        say("connected %s" % name)
        while True:
            (length,) = struct.unpack(">I", recv_exact(conn, 4))
            if length == 0:
                continue  # keep-alive
            if length > 1 << 20:
                say("oversized message (%d) from %s" % (length, name))
                return
            msg = recv_exact(conn, length)
            mid = msg[0]
            if mid == 6 and length == 13:
                index, begin, blen = struct.unpack(">III", msg[1:])
                say("request %d %d %d" % (index, begin, blen))
                if index >= tor.num_pieces or blen == 0 or blen > MAX_BLOCK \
                        or begin + blen > tor.piece_size(index):
                    say("invalid request from %s" % name)
                    return
                if corrupt:
                    data = os.urandom(blen)
                else:
                    data = tor.read(index * tor.piece_length + begin, blen)
                conn.sendall(struct.pack(">IBII", 9 + blen, 7, index, begin) + data)
                sent += 1
            elif mid == 8 and length == 13:
                say("cancel %d %d %d" % struct.unpack(">III", msg[1:]))
            elif mid == 4 and length == 5:
                say("have %d" % struct.unpack(">I", msg[1:])[0])
            elif mid == 2:
                conn.sendall(struct.pack(">IB", 1, 1))  # unchoke again
            elif mid == 20 and ext and length >= 2:
                d, _ = bdecode(msg, 2)
                if msg[1] == 0 and isinstance(d, dict):
                    m = d.get(b"m", {})
                    their_ut_metadata = m.get(b"ut_metadata", 0) if bad_metadata else 0
                    say("extensions %s" % ",".join(sorted(k.decode() for k, v in m.items() if v)))
                    if pex:
                        body = pex_message(pex)
                        conn.sendall(struct.pack(">IBB", 2 + len(body), 20, m.get(b"ut_pex", 0) or 1) + body)
                        say("pex sent %d" % len(pex))
                elif msg[1] == OUR_UT_METADATA and d.get(b"msg_type") == 0 and their_ut_metadata:
                    piece = d[b"piece"]
                    say("metadata request %d" % piece)
                    if delay:
                        time.sleep(delay)
                    chunk = served_info[piece * 16384:(piece + 1) * 16384]
                    body = bencode({b"msg_type": 1, b"piece": piece, b"total_size": tor.metadata_size}) + chunk
                    conn.sendall(struct.pack(">IBB", 2 + len(body), 20, their_ut_metadata) + body)
            # choke, unchoke, not interested, bitfield, port, extensions: ignored
    except (EOFError, ConnectionError, OSError):
        pass
    finally:
        say("closed %s (%d blocks sent)" % (name, sent))
        try:
            conn.close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("torrent")
    p.add_argument("--data", help="save path with the real data (honest mode)")
    p.add_argument("--corrupt", action="store_true", help="answer requests with random bytes")
    p.add_argument("--ext", action="store_true", help="speak BEP 10 and report the peer's extensions")
    p.add_argument("--pex", action="append", default=[], metavar="HOST:PORT",
                   help="with --ext: send one ut_pex message naming these peers")
    p.add_argument("--good-metadata", action="store_true", help="offer ut_metadata and serve the real info")
    p.add_argument("--metadata-delay", type=float, default=0.0, help="seconds before each metadata answer")
    p.add_argument("--bad-metadata", action="store_true",
                   help="offer ut_metadata and serve a bogus info dictionary of the right size")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600.0)
    a = p.parse_args()
    if not a.corrupt and not a.data:
        p.error("give --data SAVE_PATH or --corrupt")
    tor = Torrent(a.torrent, None if a.corrupt else a.data)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.bind, a.port))
    srv.listen(16)
    srv.settimeout(0.2)
    say("listening on %s:%d" % srv.getsockname())
    start = time.time()
    while not stop.is_set():
        if time.time() - start > a.timeout:
            print("py_peer.py: timeout after %.0f s" % a.timeout, file=sys.stderr, flush=True)
            return 3
        try:
            conn, addr = srv.accept()
        except socket.timeout:
            continue
        conn.settimeout(None)
        threading.Thread(target=serve, args=(conn, addr, tor, a.corrupt, a.bad_metadata, a.ext, a.pex,
                                                    a.good_metadata, a.metadata_delay), daemon=True).start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
