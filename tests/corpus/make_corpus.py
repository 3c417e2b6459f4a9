#!/usr/bin/python3
"""Generates btt's torrent corpus: tests/corpus/valid/*.torrent and tests/corpus/invalid/*.torrent,
plus tests/corpus/README.md describing every file. Deterministic: running it again rewrites the
same bytes (no clocks, a seeded RNG). Uses its own bencoder so the exact bytes are under control
(unsorted keys, odd integers, broken lengths...).

    /usr/bin/python3 tests/corpus/make_corpus.py [--check] [--out DIR]

--check also loads every file with libtorrent (if importable) and prints its verdict next to ours,
for information: libtorrent is stricter than BEP 3 in places and laxer in others.
--out DIR writes there instead of next to this script (the corpus test uses it to check that the
committed files are what the generator makes).

Valid files are odd but legal torrents that btt info must accept (exit 0) with the info-hash
libtorrent computes (or SHA-1 of the raw info dict where libtorrent refuses). Invalid files must be
rejected by btt info with exit 2 and one error line.
"""
import hashlib
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KIB = 1024
MIB = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Encoder. dict -> keys sorted bytewise (canonical); Pairs -> written in the given order, repeats
# allowed; Raw -> bytes copied verbatim. str is UTF-8.

class Pairs(list):
    """An explicitly ordered dict: a list of (key, value)."""


class Raw(bytes):
    """Bytes inserted verbatim into the output."""


def enc(v):
    if isinstance(v, Raw):
        return bytes(v)
    if isinstance(v, bool):
        raise TypeError("use ints")
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode("utf-8")
    if isinstance(v, (bytes, bytearray)):
        return b"%d:%s" % (len(v), bytes(v))
    if isinstance(v, Pairs):
        return b"d" + b"".join(enc(k) + enc(x) for k, x in v) + b"e"
    if isinstance(v, list):
        return b"l" + b"".join(enc(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted(((k.encode("utf-8") if isinstance(k, str) else k), x) for k, x in v.items())
        return b"d" + b"".join(enc(k) + enc(x) for k, x in items) + b"e"
    raise TypeError(type(v))


RNG = random.Random(20240601)


def fake_pieces(total, plen, tag):
    """SHA-1-looking piece hashes for a torrent of `total` bytes (nobody has the data)."""
    n = (total + plen - 1) // plen
    return b"".join(hashlib.sha1(b"%s:%d" % (tag.encode(), i)).digest() for i in range(n))


def single(name="file.bin", length=100000, plen=16 * KIB, tag=None, **extra):
    info = {"name": name, "length": length, "piece length": plen,
            "pieces": fake_pieces(length, plen, tag or name)}
    info.update(extra)
    return info


def multi(name, files, plen=16 * KIB, tag=None, **extra):
    """files: list of (length, [components]) or dicts used verbatim."""
    fl = []
    total = 0
    for f in files:
        if isinstance(f, (dict, Pairs)):
            fl.append(f)
            total += dict(f)["length"]
        else:
            fl.append({"length": f[0], "path": f[1]})
            total += f[0]
    info = {"name": name, "files": fl, "piece length": plen, "pieces": fake_pieces(total, plen, tag or name)}
    info.update(extra)
    return info


def torrent(info, announce="http://127.0.0.1:6969/announce", **top):
    t = {"info": info}
    if announce is not None:
        t["announce"] = announce
    t.update(top)
    return t


def pad_layout(plen, files):
    """BEP 47: puts a pad file after every file that does not end on a piece boundary
    (except the last), like libtorrent's hybrid torrents."""
    out = []
    off = 0
    for i, (length, path, attr) in enumerate(files):
        d = {"length": length, "path": path}
        if attr:
            d["attr"] = attr
        out.append(d)
        off += length
        if i + 1 < len(files) and off % plen:
            n = plen - off % plen
            out.append({"attr": "p", "length": n, "path": [".pad", str(n)]})
            off += n
    return out


VALID = {}
INVALID = {}


def valid(name, why, data):
    VALID[name] = (why, data if isinstance(data, bytes) else enc(data))


def invalid(name, why, data):
    INVALID[name] = (why, data if isinstance(data, bytes) else enc(data))


# ---------------------------------------------------------------------------------------------
# Valid torrents.

valid("single_basic", "plain single-file torrent, one tracker", torrent(single("basic.bin", 100000)))
valid("multi_basic", "plain multi-file torrent with a nested directory",
      torrent(multi("basic", [(40000, ["a.txt"]), (70000, ["dir", "b.bin"]), (5, ["dir", "sub", "c"])])))

# Keys out of order: the info-hash covers the bytes as they are, so it must not be re-sorted.
info = single("unordered.bin", 50000)
valid("unordered_top_keys", "top-level keys not sorted (info before announce, comment last)", enc(Pairs([
    ("info", info), ("announce", "http://127.0.0.1:6969/announce"), ("creation date", 1700000000),
    ("comment", "keys out of order")])))
valid("unordered_info_keys", "info dict keys not sorted (pieces, name, length, piece length)", enc(Pairs([
    ("announce", "http://127.0.0.1:6969/announce"),
    ("info", Pairs([("pieces", info["pieces"]), ("name", "unordered.bin"), ("length", 50000),
                    ("piece length", 16 * KIB)]))])))
valid("unordered_file_keys", "keys inside a files entry not sorted (path before length)", torrent(
    multi("unordered-files", [Pairs([("path", ["x"]), ("length", 20000)]),
                              Pairs([("path", ["y", "z"]), ("length", 30000)])])))
valid("duplicate_top_key", "a top-level key (comment) repeated: tolerant readers keep the first", enc(Pairs([
    ("announce", "http://127.0.0.1:6969/announce"), ("comment", "first"), ("comment", "second"),
    ("info", single("dup.bin", 1000))])))

valid("empty_files", "zero-length files at the start, middle and end of a multi-file torrent", torrent(
    multi("with-empties", [(0, ["00-empty"]), (30000, ["a"]), (0, ["m", "empty"]), (30000, ["b"]),
                           (0, ["zz-empty"])])))

valid("pad_bep47", "BEP 47 padding files (attr p, path .pad/N) aligning each file to a piece", torrent(
    multi("padded", pad_layout(16 * KIB, [(1000, ["one"], None), (20000, ["two"], None),
                                          (16 * KIB, ["three"], None), (5, ["four"], None)]))))
valid("pad_tail", "a padding file after the last file as well", torrent(
    multi("tail-padded", pad_layout(16 * KIB, [(1000, ["one"], None), (2000, ["two"], None)]) +
          [{"attr": "p", "length": 16 * KIB - 2000, "path": [".pad", str(16 * KIB - 2000)]}])))
valid("attrs_exec_hidden", "BEP 47 attributes x, h and xh on ordinary files", torrent(
    multi("attrs", [{"attr": "x", "length": 1000, "path": ["run.sh"]},
                    {"attr": "h", "length": 2000, "path": [".hidden"]},
                    {"attr": "xh", "length": 3000, "path": ["both"]},
                    {"length": 4000, "path": ["plain"]}])))
valid("attr_symlink", "BEP 47 symlink entry (attr l, symlink path) next to its target", torrent(
    multi("symlink", [{"length": 4000, "path": ["target"]},
                      {"attr": "l", "length": 0, "path": ["link"], "symlink path": ["target"]}])))
valid("urllist_string", "BEP 19 url-list as a single string", torrent(
    single("ws.bin", 70000), **{"url-list": "http://127.0.0.1:8080/files/ws.bin"}))
valid("urllist_list", "BEP 19 url-list as a list of URLs", torrent(
    multi("ws", [(1000, ["a"]), (2000, ["b"])]),
    **{"url-list": ["http://127.0.0.1:8080/a/", "http://127.0.0.1:8081/b/", "ftp://127.0.0.1/c/"]}))
valid("announce_list_tiers", "BEP 12 announce-list: three tiers, several URLs per tier, plus announce", torrent(
    single("tiers.bin", 1000), **{"announce-list": [
        ["http://127.0.0.1:6969/announce", "udp://127.0.0.1:6969/announce"],
        ["http://127.0.0.1:7000/announce"],
        ["udp://127.0.0.1:7001", "http://[::1]:7002/announce", "https://127.0.0.1:7003/a?x=1&y=2"]]}))
valid("announce_list_only", "announce-list without announce", torrent(
    single("only-list.bin", 1000), announce=None, **{"announce-list": [["http://127.0.0.1:1/a"], ["http://127.0.0.1:2/b"]]}))
valid("trackerless", "no tracker at all, DHT nodes only", torrent(
    single("dht.bin", 1000), announce=None, nodes=[["127.0.0.1", 6881], ["::1", 6882]]))
valid("private", "BEP 27 private flag", torrent(single("private.bin", 50000, private=1)))
valid("private_zero", "private: 0 written out (transmission-create does this)",
      torrent(multi("pz", [(1, ["a"]), (2, ["b"])], private=0)))
valid("piece_16mib", "16 MiB pieces, three of them (last one short)", torrent(
    single("big16.bin", 40 * MIB + 12345, plen=16 * MIB)))
valid("piece_64mib_one", "64 MiB piece length with a single (short) piece", torrent(
    single("huge64.bin", 50 * MIB, plen=64 * MIB)))
valid("piece_npot_48k", "piece length 48 KiB: a multiple of 16 KiB but not a power of two (BEP 3 allows it)",
      torrent(single("npot.bin", 200000, plen=48 * KIB)))
valid("exact_multiple", "total size an exact multiple of the piece length (no short last piece)", torrent(
    multi("exact", [(16 * KIB, ["a"]), (32 * KIB, ["b"])])))
valid("one_byte", "a single file of one byte", torrent(single("one", 1)))
valid("unicode_names", "UTF-8 names and paths: accents, CJK, emoji, RTL", torrent(
    multi("Ünïcödé 日本語 🎵", [(1000, ["Café", "naïve.txt"]), (2000, ["中文", "文件.dat"]),
                               (3000, ["emoji 😀.bin"]), (4000, ["עברית", "קובץ"])])))
valid("name_utf8", "name.utf-8 / path.utf-8 next to names in a legacy encoding (Latin-1 bytes)", torrent(
    {"name": b"caf\xe9", "name.utf-8": "café", "piece length": 16 * KIB,
     "files": [{"length": 1000, "path": [b"r\xe9sum\xe9.txt"], "path.utf-8": ["résumé.txt"]},
               {"length": 2000, "path": [b"na\xefve"], "path.utf-8": ["naïve"]}],
     "pieces": fake_pieces(3000, 16 * KIB, "name_utf8")}, encoding="ISO-8859-1"))
valid("unknown_keys", "unknown keys everywhere: top level, info, file entries; nested junk values", torrent(
    multi("unknown", [{"length": 1000, "path": ["a"], "md5sum": "d41d8cd98f00b204e9800998ecf8427e",
                       "x-custom": {"nested": [1, 2, {"deep": "value"}]}},
                      {"length": 2000, "path": ["b"], "sha1": hashlib.sha1(b"b").digest()}],
          source="corpus", **{"x-info-extra": ["a", 1, {"b": b"\x00\xff"}]}),
    comment="unknown keys", **{"created by": "make_corpus.py", "creation date": 1700000000,
                               "x-top": {"list": [[], {}, b""], "int": -5}, "zzz": 0}))
valid("many_files", "200 small files in 10 directories", torrent(
    multi("many", [(RNG.randrange(1, 3000), ["d%02d" % (i // 20), "f%03d" % i]) for i in range(200)])))
valid("deep_path", "a file 30 directories deep", torrent(
    multi("deep", [(100, ["d%d" % i for i in range(30)] + ["leaf"]), (100, ["top"])])))
valid("odd_chars", "spaces, quotes, percent signs, leading dots and dashes in names", torrent(
    multi(" spaced name ", [(10, ["-dash"]), (20, ["it's \"quoted\""]), (30, ["100%"]), (40, ["..."]),
                            (50, [".hidden dir", "file with  two  spaces "]), (60, ["semi;colon&amp"])])))
valid("comment_and_metadata", "comment, created by, creation date, encoding, comment.utf-8", torrent(
    single("meta.bin", 1000), comment="a comment\nwith a newline", **{
        "comment.utf-8": "a comment", "created by": "make_corpus.py 1.0", "creation date": 1234567890,
        "encoding": "UTF-8"}))
valid("large_total", "6 GiB in two 3 GiB files (sizes beyond 32 bits), 16 MiB pieces: 384 of them", torrent(
    multi("large", [(3 << 30, ["part1"]), (3 << 30, ["part2"])], plen=16 * MIB)))
valid("name_255_bytes", "a name of exactly 255 bytes (the longest allowed component)",
      torrent(single("n" * 251 + ".bin", 1000)))
valid("piece_length_1", "1-byte pieces (legal per BEP 3, absurd in practice): 100 pieces", torrent(
    single("tiny-pieces", 100, plen=1)))
valid("control_chars_name", "newline, ESC and DEL in names (must be shown escaped, not crash)", torrent(
    multi("ctrl\x1b[31mred", [(10, ["line\nbreak"]), (20, ["del\x7f"]), (30, ["tab\there"])])))
valid("trailing_bytes", "junk after the top-level dict (real torrents have trailing newlines)",
      enc(torrent(single("trailing.bin", 1000))) + b"\n")

# ---------------------------------------------------------------------------------------------
# Invalid torrents.

good = torrent(single("x.bin", 100000))
good_multi = torrent(multi("m", [(1000, ["a"]), (2000, ["b"])]))


def with_info(**changes):
    i = dict(single("x.bin", 100000))
    for k, v in changes.items():
        if v is None:
            i.pop(k, None)
        else:
            i[k] = v
    return torrent(i)


def multi_paths(*paths, lengths=None, name="m"):
    lengths = lengths or [1000] * len(paths)
    return torrent(multi(name, list(zip(lengths, paths))))


invalid("negative_length", "single-file length -1", with_info(length=-1))
invalid("negative_length_multi", "a file of length -5 in a multi-file torrent", torrent(
    {"name": "m", "piece length": 16 * KIB, "files": [{"length": 1000, "path": ["a"]}, {"length": -5, "path": ["b"]}],
     "pieces": fake_pieces(1000, 16 * KIB, "neg")}))
invalid("zero_piece_length", "piece length 0", with_info(**{"piece length": 0}))
invalid("negative_piece_length", "piece length -16384", with_info(**{"piece length": -16384}))
invalid("piece_length_2e40", "piece length 2^40 (does not fit 32 bits)", with_info(**{"piece length": 1 << 40}))
invalid("missing_name", "info has no name", with_info(name=None))
invalid("missing_pieces", "info has no pieces", with_info(pieces=None))
invalid("missing_piece_length", "info has no piece length", with_info(**{"piece length": None}))
invalid("missing_length_and_files", "info has neither length nor files", with_info(length=None))
invalid("missing_info", "no info dict at all", {"announce": "http://127.0.0.1:6969/announce"})
invalid("pieces_not_mult20", "pieces is 139 bytes, not a multiple of 20",
        with_info(pieces=fake_pieces(100000, 16 * KIB, "x")[:-1]))
invalid("pieces_too_few", "6 piece hashes for data that needs 7", with_info(pieces=fake_pieces(100000, 16 * KIB, "x")[:-20]))
invalid("pieces_too_many", "8 piece hashes for data that needs 7",
        with_info(pieces=fake_pieces(100000, 16 * KIB, "x") + b"\x01" * 20))
invalid("pieces_not_string", "pieces is an integer", with_info(pieces=5))
invalid("length_is_string", "length is a string", with_info(length="100000"))
invalid("name_is_int", "name is an integer", with_info(name=7))
invalid("path_dotdot", "path ['..', 'etc', 'passwd']", multi_paths(["..", "etc", "passwd"]))
invalid("path_dotdot_middle", "path ['a', '..', '..', 'b'] climbs out half way", multi_paths(["ok"], ["a", "..", "..", "b"]))
invalid("path_dot", "path component '.'", multi_paths([".", "a"]))
invalid("path_absolute", "path ['', 'etc', 'passwd']: an empty first component makes it absolute",
        multi_paths(["", "etc", "passwd"]))
invalid("path_empty_component", "empty component in the middle of a path", multi_paths(["a", "", "b"]))
invalid("path_empty_list", "path is an empty list", multi_paths([]))
invalid("path_slash_in_component", "component 'a/../../b' contains '/'", multi_paths(["a/../../b"]))
invalid("path_leading_slash_component", "component '/etc' contains '/'", multi_paths(["/etc", "passwd"]))
invalid("path_backslash", "component '..\\\\x' contains a backslash (btt/path.h forbids it)",
        multi_paths(["..\\x"]))
invalid("path_nul", "NUL byte inside a component", multi_paths([b"a\x00b"]))
invalid("path_not_list", "path is a string, not a list", multi_paths("a/b"))
invalid("path_component_int", "a path component is an integer", multi_paths(["a", 5]))
invalid("path_component_too_long", "a 300-byte path component (limit 255)", multi_paths(["a" * 300]))
invalid("name_dotdot", "name '..'", with_info(name=".."))
invalid("name_dot", "name '.'", with_info(name="."))
invalid("name_slash", "name 'a/b'", with_info(name="a/b"))
invalid("name_absolute", "name '/etc/passwd'", with_info(name="/etc/passwd"))
invalid("name_empty", "empty name", with_info(name=""))
invalid("name_nul", "name with a NUL byte", with_info(name=b"x\x00.bin"))
invalid("name_dotdot_multi", "multi-file torrent named '..'", torrent(multi("..", [(1000, ["a"])])))
invalid("file_and_dir", "'a' is a file and also the directory of 'a/b' (libtorrent accepts and renames)",
        multi_paths(["a"], ["a", "b"]))
invalid("length_and_files", "info has both length and files: which layout? (libtorrent takes files)", torrent(
    {"name": "m", "piece length": 16 * KIB, "length": 3000, "files": [{"length": 3000, "path": ["a"]}],
     "pieces": fake_pieces(3000, 16 * KIB, "lf")}))
invalid("zero_total_single", "single file of length 0: no data, no pieces", torrent(
    {"name": "empty", "piece length": 16 * KIB, "length": 0, "pieces": b""}))
invalid("zero_total_multi", "only zero-length files: no data, no pieces", torrent(
    {"name": "empty", "piece length": 16 * KIB, "files": [{"length": 0, "path": ["a"]}, {"length": 0, "path": ["b"]}],
     "pieces": b""}))
invalid("name_256_bytes", "a name of 256 bytes (components are at most 255)", with_info(name="n" * 256))
invalid("path_over_4095", "a path of 21 x 200-byte components (whole paths are at most 4095 bytes)",
        multi_paths(["d" * 200] * 21))
invalid("piece_length_2gib", "piece length 2 GiB (libtorrent and btt cap it lower)", torrent(
    {"name": "x", "piece length": 1 << 31, "length": 1 << 33, "pieces": fake_pieces(1 << 33, 1 << 31, "2g")}))
invalid("files_empty_list", "files is an empty list (no data at all)", torrent(
    {"name": "m", "piece length": 16 * KIB, "files": [], "pieces": b""}))
invalid("files_not_list", "files is a dict", torrent(
    {"name": "m", "piece length": 16 * KIB, "files": {"length": 1, "path": ["a"]}, "pieces": fake_pieces(1, 16 * KIB, "f")}))
invalid("file_entry_not_dict", "an entry of files is a list", torrent(
    {"name": "m", "piece length": 16 * KIB, "files": [{"length": 1, "path": ["a"]}, [1, ["b"]]],
     "pieces": fake_pieces(2, 16 * KIB, "f")}))
invalid("file_missing_length", "a files entry without length", torrent(
    {"name": "m", "piece length": 16 * KIB, "files": [{"path": ["a"]}], "pieces": fake_pieces(1, 16 * KIB, "f")}))
invalid("file_missing_path", "a files entry without path", torrent(
    {"name": "m", "piece length": 16 * KIB, "files": [{"length": 1}], "pieces": fake_pieces(1, 16 * KIB, "f")}))
invalid("duplicate_paths", "two files with the same path", multi_paths(["dir", "same"], ["other"], ["dir", "same"]))
invalid("length_sum_overflow", "two files of 2^63-1 bytes: the total overflows 64 bits", torrent(
    {"name": "m", "piece length": 16 * KIB, "files": [{"length": (1 << 63) - 1, "path": ["a"]},
                                                      {"length": (1 << 63) - 1, "path": ["b"]}],
     "pieces": fake_pieces(1, 16 * KIB, "o")}))
invalid("length_2e64", "length 2^64 (does not fit in 64 bits)", with_info(length=1 << 64))
invalid("overlong_integer", "piece length written with 30 digits", enc(torrent(
    {"name": "x.bin", "length": 100000, "piece length": Raw(b"i" + b"1" * 30 + b"e"),
     "pieces": fake_pieces(100000, 16 * KIB, "x")})))
invalid("deep_nesting", "10000 nested lists in an unknown top-level key", enc(Pairs([
    ("announce", "http://127.0.0.1:6969/announce"), ("info", single("x.bin", 100000)),
    ("x-deep", Raw(b"l" * 10000 + b"e" * 10000))])))
invalid("deep_nesting_unterminated", "20000 opening 'l' and nothing else", b"l" * 20000)
invalid("string_length_huge", "a string claiming 99999999999 bytes", b"d8:announce99999999999:http://xe")
invalid("string_length_garbage", "garbage in a string length ('4x:name')", enc(good).replace(b"4:name", b"4x:name", 1))
invalid("string_length_hex", "a string length written in hex ('0x4:name')",
        enc(good).replace(b"4:name", b"0x4:name", 1))
invalid("string_length_negative", "a string length of -4", enc(good).replace(b"4:name", b"-4:name", 1))
invalid("string_length_overflow", "a string length of 2^64+4 (wraps to 4 in 64 bits)",
        enc(good).replace(b"4:name", b"18446744073709551620:name", 1))
invalid("integer_no_end", "integer without its 'e'", b"d8:announcei42")
invalid("integer_empty", "integer 'ie'", enc(good).replace(b"i100000e", b"ie", 1))
invalid("integer_junk", "integer 'i12a4e'", enc(good).replace(b"i100000e", b"i12a4e", 1))
invalid("truncated", "a valid torrent cut in the middle of the piece hashes", enc(good)[:150])
invalid("truncated_end", "a valid torrent missing its last 'e'", enc(good)[:-1])
invalid("empty_file", "zero bytes", b"")
invalid("not_dict_list", "top level is a list", enc([good]))
invalid("not_dict_int", "top level is an integer", b"i42e")
invalid("not_dict_string", "top level is a string", b"4:spam")
invalid("not_bencode_text", "a text file", b"This is not a torrent.\n")
invalid("not_bencode_html", "an HTML error page saved as .torrent",
        b"<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n")
invalid("info_is_list", "info is a list", torrent([1, 2, 3]))
invalid("info_is_string", "info is a string", torrent("info"))
invalid("dict_key_not_string", "a dict key that is an integer", b"di1e4:spame")
invalid("unknown_type_byte", "a value starting with 'x'", enc(Pairs([("announce", Raw(b"x")), ("info", single())])))

# ---------------------------------------------------------------------------------------------

README_HEAD = """# btt torrent corpus

Generated by `make_corpus.py` (run it with `/usr/bin/python3 tests/corpus/make_corpus.py`; it is
deterministic). Used by the `corpus` CTest test (`tests/interop/corpus.py`):

* every file in `valid/` must be accepted by `btt info` (exit 0) with the info-hash libtorrent
  computes, or SHA-1 of the raw info dict where libtorrent refuses the file; then truncations and
  random bit flips of it must never crash `btt info` (exit 0 or 2 only);
* every file in `invalid/` must be rejected by `btt info` with exit 2 and exactly one error line.

Piece hashes are made up: these torrents describe data nobody has.
"""


def lt_verdict(data):
    try:
        import libtorrent as lt
    except ImportError:
        return "libtorrent not available"
    try:
        ti = lt.torrent_info(data)
        return "libtorrent accepts (%s)" % ti.info_hashes().v1
    except Exception as e:  # noqa: BLE001 - any refusal is a verdict
        return "libtorrent refuses: %s" % e


def main():
    args = sys.argv[1:]
    check = "--check" in args
    out = HERE
    if "--out" in args:
        out = args[args.index("--out") + 1]
    lines = [README_HEAD]
    total = 0
    for sub, table in (("valid", VALID), ("invalid", INVALID)):
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            if old.endswith(".torrent") and old[:-len(".torrent")] not in table:
                os.remove(os.path.join(d, old))
        lines.append("\n## %s/\n\n| file | what |\n|---|---|" % sub)
        for name in sorted(table):
            why, data = table[name]
            with open(os.path.join(d, name + ".torrent"), "wb") as f:
                f.write(data)
            total += len(data)
            lines.append("| %s.torrent | %s |" % (name, why.replace("|", "\\|").replace("\n", " ")))
            if check:
                print("%-7s %-32s %7d B  %s" % (sub, name, len(data), lt_verdict(data)))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d valid and %d invalid torrents, %d bytes in all" % (len(VALID), len(INVALID), total))
    if total > 300 * 1024:
        sys.exit("corpus too large: %d bytes (keep it under 300 KiB)" % total)


if __name__ == "__main__":
    main()
