#!/usr/bin/python3
"""CTest `corpus`: btt info against tests/corpus (see tests/corpus/README.md).

1. The committed corpus is exactly what tests/corpus/make_corpus.py generates.
2. valid/*.torrent: `btt info` exits 0 and prints the info-hash that libtorrent computes (and that
   SHA-1 over the raw info dict bytes gives, found by an independent scanner); where libtorrent
   accepts the file, size, piece size, piece count and file list (lengths, pad marks, and the
   paths when they are plain UTF-8) agree with libtorrent's too.
3. invalid/*.torrent: `btt info` exits 2 with exactly one stderr line starting with "btt".
4. For each valid torrent, truncations at ~40 points and 160 random single-bit flips (seeded, so
   failures reproduce): btt info never crashes -- exit 0 or 2 only, no sanitizer report; on exit 2
   one error line; on exit 0 the info-hash printed is SHA-1 of the raw info dict of the mutated
   file. Failing inputs are saved under $BTT_CORPUS_FAILDIR (default: a temp dir) for replay.

Environment: BTT_BIN, BTT_SRC; optional BTT_CORPUS_FLIPS (default 160), BTT_CORPUS_CUTS (40);
both default lower (60, 25) when ASAN_OPTIONS or UBSAN_OPTIONS is set (sanitizer builds).
"""
import concurrent.futures as cf
import filecmp
import hashlib
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bttlib  # noqa: E402

SRC = os.environ.get("BTT_SRC") or sys.exit("BTT_SRC is not set")
CORPUS = os.path.join(SRC, "tests", "corpus")
# A sanitizer build (the asan-ubsan test preset sets ASAN_OPTIONS) starts ~4x slower: fewer
# mutations there by default so the test stays well inside its 300 s timeout.
_SLOW = "ASAN_OPTIONS" in os.environ or "UBSAN_OPTIONS" in os.environ
FLIPS = int(os.environ.get("BTT_CORPUS_FLIPS", "60" if _SLOW else "160"))
CUTS = int(os.environ.get("BTT_CORPUS_CUTS", "25" if _SLOW else "40"))
JOBS = max(4, 2 * (os.cpu_count() or 2))  # btt info is mostly process start-up: oversubscribe

failures = []


def problem(msg):
    failures.append(msg)
    sys.stderr.write("FAIL: %s\n" % msg)


def torrents(sub):
    d = os.path.join(CORPUS, sub)
    names = sorted(f for f in os.listdir(d) if f.endswith(".torrent"))
    if not names:
        problem("no torrents in %s" % d)
    return [(n, os.path.join(d, n)) for n in names]


def check_generated(tmp):
    out = os.path.join(tmp, "regen")
    p = subprocess.run(["/usr/bin/python3", os.path.join(CORPUS, "make_corpus.py"), "--out", out],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        problem("make_corpus.py failed:\n%s" % p.stdout.decode(errors="replace"))
        return
    for sub in ("valid", "invalid"):
        a, b = os.path.join(out, sub), os.path.join(CORPUS, sub)
        fa = sorted(os.listdir(a))
        fb = sorted(f for f in os.listdir(b) if f.endswith(".torrent"))
        if fa != fb:
            problem("tests/corpus/%s is out of date: generator makes %s, committed %s" % (
                sub, sorted(set(fa) ^ set(fb)), "rerun make_corpus.py"))
            continue
        _, mismatch, errors = filecmp.cmpfiles(a, b, fa, shallow=False)
        if mismatch or errors:
            problem("tests/corpus/%s differs from make_corpus.py output: %s (rerun it)" % (sub, mismatch + errors))
    print("ok: corpus matches make_corpus.py")


def plain_utf8(b):
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return s if s.isprintable() else None


def check_valid(name, path):
    data = open(path, "rb").read()
    raw_hash = bttlib.raw_info_hash(data)
    try:
        want = bttlib.lt_summary(data)
    except Exception as e:  # noqa: BLE001 - libtorrent refusing is allowed for odd torrents
        print("note: libtorrent refuses %s (%s); comparing with the raw info dict only" % (name, e))
        want = None
    if want and want["info_hash"] != raw_hash:
        problem("%s: libtorrent's info-hash %s != SHA-1 of raw info dict %s" % (name, want["info_hash"], raw_hash))
    res = bttlib.run_btt(["info", path])
    if res.crashed or res.rc != 0:
        problem("%s: valid torrent, want exit 0\n%s" % (name, res.describe()))
        return
    got = bttlib.parse_btt_info(res.out.decode("utf-8", "replace"))
    bad = []
    if got.get("info_hash") != raw_hash:
        bad.append("info-hash %r, want %s" % (got.get("info_hash"), raw_hash))
    if want:
        for k in ("size", "piece_size", "pieces", "num_files"):
            if got.get(k) != want[k]:
                bad.append("%s %r, libtorrent %r" % (k, got.get(k), want[k]))
        gf = got.get("files") or []
        if [(l, p) for l, _, p in gf] != [(l, p) for l, _, p in want["files"]]:
            bad.append("file lengths/pad marks %r, libtorrent %r" % (
                [(l, p) for l, _, p in gf], [(l, p) for l, _, p in want["files"]]))
        # Paths: compare with the raw bytes where they are plain UTF-8 and unambiguous.
        top, _ = bttlib.bdecode(data)
        info = top[b"info"]
        if b"files" in info and len(gf) == len(info[b"files"]):
            for (gl, gp, _), f in zip(gf, info[b"files"]):
                if b"path.utf-8" in f:
                    continue
                comps = [plain_utf8(c) for c in f[b"path"]]
                if None not in comps and gp != "/".join(comps):
                    bad.append("path %r, torrent says %r" % (gp, "/".join(comps)))
        elif b"length" in info and gf:
            nm = plain_utf8(info[b"name"])
            if nm is not None and b"name.utf-8" not in info and gf[0][1] != nm:
                bad.append("single file listed as %r, name is %r" % (gf[0][1], nm))
        nm = plain_utf8(info[b"name"])
        if nm is not None and b"name.utf-8" not in info and got.get("name") != nm:
            bad.append("name %r, want %r" % (got.get("name"), nm))
    if bad:
        problem("%s:\n  %s\n%s" % (name, "\n  ".join(bad), res.describe()))
    else:
        print("ok: valid %s %s" % (raw_hash, name))


def one_error_line(res):
    lines = res.err_lines()
    return len(lines) == 1 and (lines[0].startswith("btt: ") or
                                bool(re.match(r"^btt [a-z]+: ", lines[0])))


def check_invalid(name, path):
    res = bttlib.run_btt(["info", path])
    if res.crashed or res.rc != 2 or not one_error_line(res):
        problem("%s: invalid torrent, want exit 2 and exactly one 'btt...: ' line on stderr\n%s" % (
            name, res.describe()))
    else:
        print("ok: invalid %-34s -> %s" % (name, res.err_lines()[0][:110]))


def mutate_one(args):
    """Runs btt info on one mutated input; returns None or a failure message."""
    label, data, tmpdir = args
    fd, path = tempfile.mkstemp(suffix=".torrent", dir=tmpdir)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        res = bttlib.run_btt(["info", path], timeout=30)
    except subprocess.TimeoutExpired:
        return label, data, "btt info did not finish within 30 s"
    finally:
        os.unlink(path)
    if res.crashed or res.rc not in (0, 2):
        return label, data, "exit %d (want 0 or 2)\n%s" % (res.rc, res.describe())
    if res.rc == 2:
        if not one_error_line(res):
            return label, data, "exit 2 without exactly one 'btt...: ' error line\n%s" % res.describe()
        return None
    # Accepted: then the hash must be the one of the info dict as it now stands.
    try:
        want = hashlib.sha1(bttlib.raw_info(data)).hexdigest()
    except (bttlib.BencodeError, RecursionError) as e:
        return label, data, "btt accepted input the reference scanner rejects (%s)\n%s" % (e, res.describe())
    got = bttlib.parse_btt_info(res.out.decode("utf-8", "replace")).get("info_hash")
    if got != want:
        return label, data, "accepted with info-hash %r, SHA-1 of the raw info dict is %s\n%s" % (
            got, want, res.describe())
    return None


def mutations(name, data):
    n = len(data)
    cuts = sorted(set([0, 1, n - 1] + [n * i // CUTS for i in range(CUTS)]))
    for c in cuts:
        if c < n:
            yield "%s truncated to %d bytes" % (name, c), data[:c]
    rng = random.Random("btt-corpus:" + name)
    for i in range(FLIPS):
        pos = rng.randrange(n)
        bit = rng.randrange(8)
        m = bytearray(data)
        m[pos] ^= 1 << bit
        yield "%s flip #%d: byte %d bit %d" % (name, i, pos, bit), bytes(m)


def main():
    t0 = time.time()
    bttlib.btt_bin()
    faildir = os.environ.get("BTT_CORPUS_FAILDIR")
    with tempfile.TemporaryDirectory(prefix="btt-corpus.") as tmp:
        check_generated(tmp)
        valid = torrents("valid")
        for name, path in valid:
            check_valid(name, path)
        for name, path in torrents("invalid"):
            check_invalid(name, path)

        jobs = []
        for name, path in valid:
            data = open(path, "rb").read()
            jobs.extend((label, m, tmp) for label, m in mutations(name, data))
        bad = []
        with cf.ThreadPoolExecutor(max_workers=JOBS) as ex:
            for r in ex.map(mutate_one, jobs, chunksize=16):
                if r:
                    bad.append(r)
        if bad:
            keep = faildir or tempfile.mkdtemp(prefix="btt-corpus-failures.")
            os.makedirs(keep, exist_ok=True)
            for i, (label, data, msg) in enumerate(bad[:50]):
                p = os.path.join(keep, "fail-%03d.torrent" % i)
                with open(p, "wb") as f:
                    f.write(data)
                problem("%s: %s\n  (input saved as %s)" % (label, msg, p))
            if len(bad) > 50:
                problem("... and %d more mutated inputs failed" % (len(bad) - 50))
        else:
            print("ok: %d truncated / bit-flipped inputs: no crash, exit 0 or 2, hashes right" % len(jobs))
    print("corpus test took %.1f s" % (time.time() - t0))
    if failures:
        sys.stderr.write("FAIL [corpus]: %d problem(s), see above\n" % len(failures))
        return 1
    print("ok: all corpus checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
