#!/usr/bin/python3
"""Shared helpers for btt's interop tests. Run with Debian's /usr/bin/python3 (it has libtorrent).

As a library: an independent, tolerant bencode scanner (finds the exact bytes of the info dict),
a runner for the btt binary that tells crashes apart from clean failures, a parser for the output
of `btt info`, and summaries of torrents as libtorrent sees them.

As a command (used by the shell tests):
  bttlib.py lt-hash FILE             info-hash of FILE according to libtorrent
  bttlib.py raw-hash FILE            SHA-1 of the raw info dict found by the scanner below
  bttlib.py lt-create SRC OUT PIECE_BYTES [--private] [--hybrid] [-t URL]...
                                     v1-only, unpadded torrent made by libtorrent's creator from
                                     SRC, files added in bytewise order of their path; --hybrid:
                                     libtorrent's default v1+v2 torrent (pad files between files)
  bttlib.py compare-meta A B         same info dict bytes and the same trackers, web seeds and comment
                                     (a lone announce counts as one tier, a url-list string as a
                                     one-element list; created by / creation date are ignored)
  bttlib.py show-top FILE KEY        prints a top-level value (repr of the decoded value)
  bttlib.py lt-magnet FILE           libtorrent's magnet link for FILE
  bttlib.py compare-magnet URI       runs `btt info URI`; info-hash, name and trackers must be what
                                     libtorrent's parse_magnet_uri finds
  bttlib.py expect-bad FILE DIR      independent recheck of the data for torrent FILE under DIR (as
                                     btt verify -d DIR would see it): prints the number of pieces that
                                     do not match, then "bad PATH" or "ok PATH" for each non-empty,
                                     non-pad file (root-relative): whether a failing piece touches it
  bttlib.py compare-info FILE        runs `btt info FILE` and checks every field against
                                     libtorrent (info-hash, name, size, piece size, pieces, files)
  bttlib.py mkbad OUT KIND [TARGET]  writes a hostile torrent whose data, 3 bytes "abc", would
                                     land outside the download dir (KIND: dotdot, dotdot-deep,
                                     dotdot-name, dotdot-single, slash-in-component; absolute TARGET)
Exit status: 0 on success, 1 on a failed check (with a message on stderr), 2 on usage errors.
"""
import hashlib
import os
import re
import subprocess
import sys

# --------------------------------------------------------------------------------------------
# Independent bencode scanner. Tolerant in the same ways real torrents need (unsorted keys,
# repeated keys: the first one wins, leading zeros, trailing bytes after the top value) so that
# it accepts at least everything a tolerant parser may accept. Returns Python values; dicts are
# returned as BDict, which also records the raw byte span of every value.


class BencodeError(Exception):
    pass


class BDict(dict):
    """A decoded dict; .raw[key] is the (start, end) span of the value's encoded bytes."""

    def __init__(self):
        super().__init__()
        self.raw = {}


def bdecode(data, max_depth=10000):
    """Decodes the first value of data; returns (value, end_offset)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), max_depth * 3 + 100))
    n = len(data)

    def parse_int_digits(i, stop):
        j = data.find(stop, i)
        if j < 0:
            raise BencodeError("offset %d: unterminated number" % i)
        s = data[i:j]
        if not re.fullmatch(rb"-?[0-9]+", s):
            raise BencodeError("offset %d: bad number %r" % (i, s[:40]))
        return int(s), j + 1

    def val(i, depth):
        if depth > max_depth:
            raise BencodeError("too deep")
        if i >= n:
            raise BencodeError("offset %d: unexpected end" % i)
        c = data[i:i + 1]
        if c == b"i":
            v, j = parse_int_digits(i + 1, b"e")
            return v, j
        if c == b"l":
            out = []
            i += 1
            while True:
                if i >= n:
                    raise BencodeError("unterminated list")
                if data[i:i + 1] == b"e":
                    return out, i + 1
                v, i = val(i, depth + 1)
                out.append(v)
        if c == b"d":
            out = BDict()
            i += 1
            while True:
                if i >= n:
                    raise BencodeError("unterminated dict")
                if data[i:i + 1] == b"e":
                    return out, i + 1
                k, i = val(i, depth + 1)
                if not isinstance(k, bytes):
                    raise BencodeError("dict key is not a string")
                start = i
                v, i = val(i, depth + 1)
                if k not in out:  # first wins
                    out[k] = v
                    out.raw[k] = (start, i)
        if c.isdigit():
            ln, j = parse_int_digits(i, b":")
            if ln < 0 or j + ln > n:
                raise BencodeError("offset %d: string runs past the end" % i)
            return data[j:j + ln], j + ln
        raise BencodeError("offset %d: unexpected byte %r" % (i, c))

    return val(0, 0)


def raw_info(data):
    """The exact bytes of the top-level 'info' value, or raise BencodeError."""
    top, _ = bdecode(data)
    if not isinstance(top, BDict) or b"info" not in top:
        raise BencodeError("no info dict")
    s, e = top.raw[b"info"]
    return data[s:e]


def raw_info_hash(data):
    return hashlib.sha1(raw_info(data)).hexdigest()


# --------------------------------------------------------------------------------------------
# Running btt.

def btt_bin():
    b = os.environ.get("BTT_BIN")
    if not b:
        sys.exit("BTT_BIN is not set (path of the btt binary)")
    if not os.access(b, os.X_OK):
        sys.exit("BTT_BIN=%s is not an executable file" % b)
    return b


SANITIZER_RE = re.compile(rb"(ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|runtime error:|"
                          rb"AddressSanitizer|stack-overflow|Segmentation fault)")


class BttResult:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    @property
    def crashed(self):
        """Killed by a signal, an exit status that means a signal, or a sanitizer report."""
        return self.rc < 0 or self.rc >= 128 or bool(SANITIZER_RE.search(self.err))

    def describe(self):
        return "btt %s -> exit %d\n--- stdout ---\n%s--- stderr ---\n%s" % (
            " ".join(repr(a) if " " in a else a for a in self.args), self.rc,
            self.out.decode("utf-8", "replace")[:4000], self.err.decode("utf-8", "replace")[:4000])

    def err_lines(self):
        return [l for l in self.err.decode("utf-8", "replace").splitlines() if l.strip()]


def run_btt(args, timeout=60, cwd=None):
    p = subprocess.run([btt_bin()] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, cwd=cwd)
    return BttResult(list(args), p.returncode, p.stdout, p.stderr)


def parse_btt_info(text):
    """Parses `btt info` output into a dict: info_hash, name, size, piece_size, pieces, files
    (list of (length, path, is_pad)) and trackers. Missing fields are absent."""
    r = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^info-hash: ([0-9a-f]{40})\s*$", line)
        if m:
            r["info_hash"] = m.group(1)
        elif line.startswith("name: "):
            r["name"] = line[len("name: "):]
        elif re.match(r"^size: ", line):
            m = re.match(r"^size: (\d+)\b", line)
            r["size"] = int(m.group(1)) if m else None
        elif line.startswith("piece size: "):
            m = re.match(r"^piece size: (\d+)\b", line)
            r["piece_size"] = int(m.group(1)) if m else None
        elif line.startswith("pieces: "):
            m = re.match(r"^pieces: (\d+)\s*$", line)
            r["pieces"] = int(m.group(1)) if m else None
        elif line.startswith("tracker: "):
            r.setdefault("trackers", []).append(line[len("tracker: "):])
        elif line.startswith("files: "):
            m = re.match(r"^files: (\d+)\s*$", line)
            r["num_files"] = int(m.group(1)) if m else None
            files = []
            for fl in lines[i + 1:i + 1 + (r["num_files"] or 0)]:
                fm = re.match(r"^  (\d+) (.*?)( \[pad\])?$", fl)
                if not fm:
                    files.append((None, fl, False))
                else:
                    files.append((int(fm.group(1)), fm.group(2), bool(fm.group(3))))
            r["files"] = files
            i += len(files)
        i += 1
    return r


# --------------------------------------------------------------------------------------------
# libtorrent's view of a torrent.

def lt_summary(data):
    import libtorrent as lt
    ti = lt.torrent_info(data)
    fs = ti.files()
    name = ti.name()
    multi = b"files" in (bdecode(data)[0].get(b"info") or {})
    files = []
    for i in range(fs.num_files()):
        p = fs.file_path(i)
        if multi:
            assert p.startswith(name + "/"), (p, name)
            p = p[len(name) + 1:]
        pad = bool(int(fs.file_flags(i)) & int(lt.file_storage.flag_pad_file))
        files.append((fs.file_size(i), p, pad))
    return {
        "info_hash": str(ti.info_hashes().v1),
        "name": name,
        "size": ti.total_size(),
        "piece_size": ti.piece_length(),
        "pieces": ti.num_pieces(),
        "files": files,
        "num_files": fs.num_files(),
        "private": ti.priv(),
    }


def sorted_files(src):
    """(relative path, size) of every file under directory src (symbolic links followed, hidden
    files included), sorted by the bytes of the '/'-joined relative path (mktorrent's order)."""
    out = []
    for root, dirs, files in os.walk(os.fsencode(src), followlinks=True):
        for f in files:
            full = os.path.join(root, f)
            out.append((os.path.relpath(full, os.fsencode(src)), os.path.getsize(full)))
    out.sort(key=lambda t: t[0])
    return out


def lt_create(src, out, piece_bytes, private=False, hybrid=False, trackers=()):
    import libtorrent as lt
    src = os.path.abspath(src)
    fs = lt.file_storage()
    base = os.path.basename(src)
    if os.path.isdir(src):
        for rel, size in sorted_files(src):
            fs.add_file(os.path.join(base, os.fsdecode(rel)), size)
    else:
        fs.add_file(base, os.path.getsize(src))
    # v1_only: no v2 tree and no pad files. (Without it libtorrent 2.0 pads every file to a
    # piece boundary.) add_file() with no flags records no attributes; no_attributes is set to
    # make the intent explicit (it does not stop add_files() from marking executables 'x').
    flags = 0 if hybrid else lt.create_torrent.v1_only | lt.create_torrent.no_attributes
    ct = lt.create_torrent(fs, piece_bytes, flags=flags)
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    if private:
        ct.set_priv(True)
    lt.set_piece_hashes(ct, os.path.dirname(src))
    with open(out, "wb") as f:
        f.write(lt.bencode(ct.generate()))


# --------------------------------------------------------------------------------------------
# A minimal encoder (dict keys sorted) for hand-made torrents.

def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"
    raise TypeError(type(v))


def mkbad(out, kind, target=None):
    """A torrent whose single data file (3 bytes "abc") is placed by its path outside the
    download directory DIR: at DIR/../escaped for the '..' kinds, at TARGET for 'absolute'."""
    data = b"abc"
    info = {"piece length": 16384, "pieces": hashlib.sha1(data).digest(), "name": "victim"}
    if kind == "dotdot":           # DIR/victim/../../escaped
        info["files"] = [{"length": 3, "path": ["..", "..", "escaped"]}]
    elif kind == "dotdot-deep":    # DIR/victim/sub/../../../escaped
        info["files"] = [{"length": 3, "path": ["sub", "..", "..", "..", "escaped"]}]
    elif kind == "dotdot-name":    # DIR/../escaped
        info["name"] = ".."
        info["files"] = [{"length": 3, "path": ["escaped"]}]
    elif kind == "dotdot-single":  # single-file torrent named '..'
        info["name"] = ".."
        info["length"] = 3
    elif kind == "slash-in-component":  # DIR/victim/../../escaped as one component
        info["files"] = [{"length": 3, "path": ["../../escaped"]}]
    elif kind == "absolute" and target:  # ['', 'tmp', ..., 'escaped'] joins to /tmp/.../escaped
        info["files"] = [{"length": 3, "path": target.split("/")}]
    else:
        raise SystemExit("mkbad: unknown kind %s (absolute needs a target)" % kind)
    with open(out, "wb") as f:
        f.write(bencode({"announce": "http://127.0.0.1:1/announce", "info": info}))


# --------------------------------------------------------------------------------------------

def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


def compare_info(path):
    data = open(path, "rb").read()
    want = lt_summary(data)
    res = run_btt(["info", path])
    if res.crashed or res.rc != 0:
        fail("btt info %s failed:\n%s" % (path, res.describe()))
    got = parse_btt_info(res.out.decode("utf-8", "replace"))
    problems = []
    for k in ("info_hash", "name", "size", "piece_size", "pieces", "num_files"):
        if got.get(k) != want[k]:
            problems.append("%s: btt says %r, libtorrent says %r" % (k, got.get(k), want[k]))
    if got.get("files") != want["files"]:
        problems.append("file list differs:\n  btt:        %r\n  libtorrent: %r" % (got.get("files"), want["files"]))
    raw = raw_info_hash(data)
    if raw != want["info_hash"]:
        problems.append("scanner's raw info-hash %s != libtorrent's %s" % (raw, want["info_hash"]))
    if problems:
        fail("%s:\n  %s\n%s" % (path, "\n  ".join(problems), res.describe()))
    print("ok: %s %s (%d files, %d pieces)" % (want["info_hash"], path, want["num_files"], want["pieces"]))


def compare_magnet(uri):
    import libtorrent as lt
    p = lt.parse_magnet_uri(uri)
    res = run_btt(["info", uri])
    if res.crashed or res.rc != 0:
        fail("btt info on a magnet failed:\n%s" % res.describe())
    got = parse_btt_info(res.out.decode("utf-8", "replace"))
    problems = []
    if got.get("info_hash") != str(p.info_hashes.v1):
        problems.append("info-hash: btt %r, libtorrent %s" % (got.get("info_hash"), p.info_hashes.v1))
    if p.name and got.get("name") != p.name:
        problems.append("name: btt %r, libtorrent %r" % (got.get("name"), p.name))
    if got.get("trackers", []) != list(p.trackers):
        problems.append("trackers: btt %r, libtorrent %r" % (got.get("trackers", []), list(p.trackers)))
    if problems:
        fail("magnet %s:\n  %s\n%s" % (uri, "\n  ".join(problems), res.describe()))
    print("ok: magnet %s" % uri)


def expect_bad(tpath, ddir):
    top, _ = bdecode(open(tpath, "rb").read())
    info = top[b"info"]
    plen = info[b"piece length"]
    hashes = info[b"pieces"]
    name = info[b"name"]
    if b"files" in info:
        files = [(b"/".join(f[b"path"]), f[b"length"], b"p" in f.get(b"attr", b"")) for f in info[b"files"]]
        root = os.path.join(os.fsencode(ddir), name)
    else:
        files = [(name, info[b"length"], False)]
        root = os.fsencode(ddir)
    # The torrent's byte stream, with None for bytes that are not on disk.
    stream = bytearray()
    have = bytearray()
    spans = []
    for path, length, pad in files:
        start = len(stream)
        if pad:
            chunk = b"\0" * length
        else:
            fp = os.path.join(root, path)
            chunk = b""
            if os.path.isfile(fp):  # missing, a directory, a FIFO...: no data
                with open(fp, "rb") as fh:
                    chunk = fh.read(length)
        stream += chunk + b"\0" * (length - len(chunk))
        have += b"\1" * len(chunk) + b"\0" * (length - len(chunk))
        spans.append((start, start + length, path, pad))
    bad = []
    for i in range(len(hashes) // 20):
        a, b = i * plen, min((i + 1) * plen, len(stream))
        if not all(have[a:b]) or hashlib.sha1(stream[a:b]).digest() != hashes[i * 20:i * 20 + 20]:
            bad.append((a, b))
    print(len(bad))
    for s0, e0, path, pad in spans:
        if pad or s0 == e0:
            continue
        hit = any(a < e0 and s0 < b for a, b in bad)
        print("%s %s" % ("bad" if hit else "ok", os.fsdecode(path)))


def normalized_meta(data):
    top, _ = bdecode(data)
    if not isinstance(top, BDict):
        fail("top level is not a dict")
    tiers = top.get(b"announce-list")
    if tiers is None and b"announce" in top:
        tiers = [[top[b"announce"]]]
    seeds = top.get(b"url-list")
    if isinstance(seeds, bytes):
        seeds = [seeds]
    return {"info": raw_info(data), "announce": top.get(b"announce"), "tiers": tiers,
            "web seeds": seeds, "comment": top.get(b"comment")}


def compare_meta(a, b):
    ma = normalized_meta(open(a, "rb").read())
    mb = normalized_meta(open(b, "rb").read())
    diff = [k for k in ma if ma[k] != mb[k]]
    if diff:
        fail("%s and %s differ in %s:\n%s" % (a, b, ", ".join(diff), "\n".join(
            "  %s:\n    %r\n    %r" % (k, ma[k][:300], mb[k][:300]) if isinstance(ma[k], bytes) and isinstance(mb[k], bytes)
            else "  %s:\n    %r\n    %r" % (k, ma[k], mb[k]) for k in diff)))


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "lt-hash" and len(argv) == 3:
        import libtorrent as lt
        print(lt.torrent_info(open(argv[2], "rb").read()).info_hashes().v1)
    elif cmd == "raw-hash" and len(argv) == 3:
        print(raw_info_hash(open(argv[2], "rb").read()))
    elif cmd == "lt-create" and len(argv) >= 5:
        opts, trackers, rest = set(), [], argv[5:]
        while rest:
            if rest[0] == "-t" and len(rest) > 1:
                trackers.append(rest[1])
                rest = rest[2:]
            elif rest[0] in ("--private", "--hybrid"):
                opts.add(rest.pop(0))
            else:
                sys.stderr.write(__doc__)
                return 2
        lt_create(argv[2], argv[3], int(argv[4]), private="--private" in opts, hybrid="--hybrid" in opts,
                  trackers=trackers)
    elif cmd == "lt-magnet" and len(argv) == 3:
        import libtorrent as lt
        print(lt.make_magnet_uri(lt.torrent_info(open(argv[2], "rb").read())))
    elif cmd == "compare-magnet" and len(argv) == 3:
        compare_magnet(argv[2])
    elif cmd == "expect-bad" and len(argv) == 4:
        expect_bad(argv[2], argv[3])
    elif cmd == "compare-meta" and len(argv) == 4:
        compare_meta(argv[2], argv[3])
    elif cmd == "show-top" and len(argv) == 4:
        top, _ = bdecode(open(argv[2], "rb").read())
        print(repr(top.get(argv[3].encode())))
    elif cmd == "mkbad" and len(argv) in (4, 5):
        mkbad(argv[2], argv[3], *argv[4:])
    elif cmd == "compare-info" and len(argv) == 3:
        compare_info(argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
