/* Unit tests for bencoding (BEP 3): strict and tolerant decoding, limits, error offsets,
 * raw bytes of nodes, tree navigation, and the encoder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/bencode.h"
#include "btt/buf.h"
#include "btt/error.h"

/* ------------------------------------------------------------------ helpers */

static btt_err decode_n(const void *p, size_t n, unsigned flags, const btt_ben_limits *lim, btt_ben_doc **doc,
                        btt_error *err)
{
    *doc = (btt_ben_doc *)(uintptr_t)1; /* must be overwritten (NULL on failure) */
    memset(err, 0, sizeof *err);
    return btt_ben_decode(p, n, flags, lim, doc, err);
}

/* Parses the number after "offset " in msg, or -1 if there is none. */
static long msg_offset(const char *msg)
{
    const char *o = strstr(msg, "offset ");
    if (!o) return -1;
    o += strlen("offset ");
    if (*o < '0' || *o > '9') return -1;
    return strtol(o, NULL, 10);
}

/* Decoding must fail with BTT_EBENCODE, NULL doc, and an "offset N" with lo <= N <= hi. */
static void expect_fail_at(const void *p, size_t n, unsigned flags, long lo, long hi, const char *what)
{
    btt_ben_doc *doc;
    btt_error err;
    btt_err rc = decode_n(p, n, flags, NULL, &doc, &err);
    if (rc != BTT_EBENCODE || doc != NULL) {
        print_error("input '%s' (flags %u): rc=%s doc=%p msg='%s'\n", what, flags, btt_err_name(rc), (void *)doc,
                    err.msg);
        if (doc && rc == BTT_OK) btt_ben_free(doc);
        fail();
    }
    assert_int_equal(err.code, BTT_EBENCODE);
    long off = msg_offset(err.msg);
    if (off < lo || off > hi) {
        print_error("input '%s': message '%s' should give an offset in [%ld, %ld]\n", what, err.msg, lo, hi);
        fail();
    }
}

static void expect_fail_str(const char *s, unsigned flags, long lo, long hi)
{
    expect_fail_at(s, strlen(s), flags, lo, hi, s);
}

static btt_ben_doc *expect_ok_n(const void *p, size_t n, unsigned flags, const char *what)
{
    btt_ben_doc *doc;
    btt_error err;
    btt_err rc = decode_n(p, n, flags, NULL, &doc, &err);
    if (rc != BTT_OK || doc == NULL) {
        print_error("input '%s' (flags %u) should decode: rc=%s msg='%s'\n", what, flags, btt_err_name(rc), err.msg);
        fail();
    }
    return doc;
}

static btt_ben_doc *expect_ok(const char *s, unsigned flags)
{
    return expect_ok_n(s, strlen(s), flags, s);
}

static int64_t root_int(const char *s, unsigned flags)
{
    btt_ben_doc *doc = expect_ok(s, flags);
    int64_t v = 12345;
    assert_true(btt_ben_get_int(btt_ben_root(doc), &v));
    btt_ben_free(doc);
    return v;
}

static void assert_str_node(const btt_ben *n, const char *want)
{
    const uint8_t *p = NULL;
    size_t len = 0;
    assert_non_null(n);
    assert_int_equal(btt_ben_typeof(n), BTT_BEN_STR);
    assert_true(btt_ben_get_str(n, &p, &len));
    assert_int_equal(len, strlen(want));
    assert_memory_equal(p, want, len);
}

static void assert_int_node(const btt_ben *n, int64_t want)
{
    int64_t v = 0;
    assert_non_null(n);
    assert_int_equal(btt_ben_typeof(n), BTT_BEN_INT);
    assert_true(btt_ben_get_int(n, &v));
    assert_true(v == want);
}

/* Re-encodes a decoded tree with the encoder. */
static void reencode(btt_buf *b, const btt_ben *n)
{
    switch (btt_ben_typeof(n)) {
    case BTT_BEN_INT: {
        int64_t v;
        assert_true(btt_ben_get_int(n, &v));
        assert_int_equal(btt_benc_int(b, v), BTT_OK);
        break;
    }
    case BTT_BEN_STR: {
        const uint8_t *p;
        size_t len;
        assert_true(btt_ben_get_str(n, &p, &len));
        assert_int_equal(btt_benc_str(b, p, len), BTT_OK);
        break;
    }
    case BTT_BEN_LIST:
        assert_int_equal(btt_benc_list(b), BTT_OK);
        for (const btt_ben *c = btt_ben_list_first(n); c; c = btt_ben_next(c)) reencode(b, c);
        assert_int_equal(btt_benc_end(b), BTT_OK);
        break;
    case BTT_BEN_DICT:
        assert_int_equal(btt_benc_dict(b), BTT_OK);
        for (const btt_ben *k = btt_ben_dict_first(n); k; k = btt_ben_dict_next(k)) {
            reencode(b, k);
            reencode(b, btt_ben_dict_value(k));
        }
        assert_int_equal(btt_benc_end(b), BTT_OK);
        break;
    default:
        fail_msg("unknown node type %d", (int)btt_ben_typeof(n));
    }
}

/* ------------------------------------------------------------------ basic values */

static void test_decode_ints(void **state)
{
    assert_true(root_int("i0e", 0) == 0);
    assert_true(root_int("i42e", 0) == 42);
    assert_true(root_int("i-1e", 0) == -1);
    assert_true(root_int("i-42e", 0) == -42);
    assert_true(root_int("i1000000000000e", 0) == INT64_C(1000000000000));
    assert_true(root_int("i9223372036854775807e", 0) == INT64_MAX);
    assert_true(root_int("i-9223372036854775808e", 0) == INT64_MIN);
    assert_true(root_int("i9223372036854775807e", BTT_BEN_TOLERANT) == INT64_MAX);
    assert_true(root_int("i-9223372036854775808e", BTT_BEN_TOLERANT) == INT64_MIN);
}

static void test_decode_strings(void **state)
{
    btt_ben_doc *doc = expect_ok("4:spam", 0);
    assert_str_node(btt_ben_root(doc), "spam");
    assert_int_equal(btt_ben_consumed(doc), 6);
    btt_ben_free(doc);

    doc = expect_ok("0:", 0);
    assert_str_node(btt_ben_root(doc), "");
    btt_ben_free(doc);

    /* binary bytes incl. NUL */
    static const uint8_t bin[] = {'5', ':', 'a', 0, 'b', 0xff, 'e'};
    doc = expect_ok_n(bin, sizeof bin, 0, "5:a\\0b\\xffe");
    const uint8_t *p;
    size_t len;
    assert_true(btt_ben_get_str(btt_ben_root(doc), &p, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(p, bin + 2, 5);
    assert_ptr_equal(p, bin + 2); /* zero copy: points into the input */
    btt_ben_free(doc);

    doc = expect_ok("10:0123456789", 0);
    assert_str_node(btt_ben_root(doc), "0123456789");
    btt_ben_free(doc);
}

static void test_decode_list_and_iteration(void **state)
{
    /* a flat tree: next() must skip over a nested list's children */
    btt_ben_doc *doc = expect_ok("lli1ei2eei3e3:abcd1:xi9eelee", 0);
    const btt_ben *root = btt_ben_root(doc);
    assert_int_equal(btt_ben_typeof(root), BTT_BEN_LIST);
    assert_int_equal(btt_ben_count(root), 5);

    const btt_ben *e = btt_ben_list_first(root);
    assert_non_null(e);
    assert_int_equal(btt_ben_typeof(e), BTT_BEN_LIST);
    assert_int_equal(btt_ben_count(e), 2);
    assert_int_node(btt_ben_list_first(e), 1);
    assert_int_node(btt_ben_next(btt_ben_list_first(e)), 2);
    assert_null(btt_ben_next(btt_ben_next(btt_ben_list_first(e))));

    e = btt_ben_next(e);
    assert_int_node(e, 3);
    e = btt_ben_next(e);
    assert_str_node(e, "abc");
    e = btt_ben_next(e);
    assert_non_null(e);
    assert_int_equal(btt_ben_typeof(e), BTT_BEN_DICT);
    assert_int_equal(btt_ben_count(e), 1);
    assert_int_node(btt_ben_dict_get(e, "x"), 9);
    e = btt_ben_next(e);
    assert_non_null(e);
    assert_int_equal(btt_ben_typeof(e), BTT_BEN_LIST);
    assert_int_equal(btt_ben_count(e), 0);
    assert_null(btt_ben_list_first(e));
    assert_null(btt_ben_next(e));
    btt_ben_free(doc);

    doc = expect_ok("le", 0);
    assert_int_equal(btt_ben_count(btt_ben_root(doc)), 0);
    assert_null(btt_ben_list_first(btt_ben_root(doc)));
    btt_ben_free(doc);
}

static void test_decode_dict_and_pairs(void **state)
{
    const char *s = "d1:ad1:bi1e1:cl1:xee2:bb3:str1:ci-7ee";
    btt_ben_doc *doc = expect_ok(s, 0);
    const btt_ben *root = btt_ben_root(doc);
    assert_int_equal(btt_ben_typeof(root), BTT_BEN_DICT);
    assert_int_equal(btt_ben_count(root), 3);

    const btt_ben *k = btt_ben_dict_first(root);
    assert_str_node(k, "a");
    const btt_ben *v = btt_ben_dict_value(k);
    assert_int_equal(btt_ben_typeof(v), BTT_BEN_DICT);
    assert_int_equal(btt_ben_count(v), 2);
    assert_int_node(btt_ben_dict_get(v, "b"), 1);
    assert_int_equal(btt_ben_count(btt_ben_dict_get(v, "c")), 1);

    k = btt_ben_dict_next(k); /* skips the nested dict */
    assert_str_node(k, "bb");
    assert_str_node(btt_ben_dict_value(k), "str");
    k = btt_ben_dict_next(k);
    assert_str_node(k, "c");
    assert_int_node(btt_ben_dict_value(k), -7);
    assert_null(btt_ben_dict_next(k));

    assert_int_node(btt_ben_dict_get(root, "c"), -7);
    assert_str_node(btt_ben_dict_get(root, "bb"), "str");
    assert_null(btt_ben_dict_get(root, "b")); /* only nested */
    assert_null(btt_ben_dict_get(root, "zz"));
    assert_null(btt_ben_dict_get(root, ""));
    btt_ben_free(doc);

    doc = expect_ok("de", 0);
    assert_int_equal(btt_ben_count(btt_ben_root(doc)), 0);
    assert_null(btt_ben_dict_first(btt_ben_root(doc)));
    assert_null(btt_ben_dict_get(btt_ben_root(doc), "a"));
    btt_ben_free(doc);
}

static void test_typed_access_mismatch(void **state)
{
    btt_ben_doc *doc = expect_ok("l3:abci5ee", 0);
    const btt_ben *s = btt_ben_list_first(btt_ben_root(doc));
    const btt_ben *i = btt_ben_next(s);
    int64_t v = 77;
    const uint8_t *p = (const uint8_t *)"keep";
    size_t len = 99;

    assert_false(btt_ben_get_int(s, &v));
    assert_true(v == 77);
    assert_false(btt_ben_get_str(i, &p, &len));
    assert_string_equal((const char *)p, "keep");
    assert_int_equal(len, 99);
    assert_false(btt_ben_get_int(NULL, &v));
    assert_false(btt_ben_get_str(NULL, &p, &len));
    assert_false(btt_ben_get_int(btt_ben_root(doc), &v));

    assert_int_equal(btt_ben_count(s), 0);
    assert_int_equal(btt_ben_count(i), 0);
    assert_null(btt_ben_dict_get(btt_ben_root(doc), "abc")); /* a list is not a dict */
    assert_null(btt_ben_dict_get(NULL, "abc"));
    btt_ben_free(doc);

    btt_ben_free(NULL); /* like free(NULL) */
}

/* ------------------------------------------------------------------ strict rejections */

static void test_strict_leading_zeros(void **state)
{
    expect_fail_str("i03e", 0, 0, 2);
    expect_fail_str("i00e", 0, 0, 2);
    expect_fail_str("i-03e", 0, 0, 3);
    expect_fail_str("03:abc", 0, 0, 1);
    expect_fail_str("00:", 0, 0, 1);
    /* error offsets are absolute positions in the input */
    expect_fail_str("li1ei2ei03ee", 0, 7, 9);
    expect_fail_str("l4:spam03:abce", 0, 7, 8);
}

static void test_strict_bad_ints(void **state)
{
    expect_fail_str("i-0e", 0, 0, 2);
    {
        /* tolerant mode may accept "-0" (as zero) but must not make anything else of it */
        btt_ben_doc *doc;
        btt_error err;
        if (decode_n("i-0e", 4, BTT_BEN_TOLERANT, NULL, &doc, &err) == BTT_OK) {
            int64_t v = 1;
            assert_true(btt_ben_get_int(btt_ben_root(doc), &v));
            assert_true(v == 0);
            btt_ben_free(doc);
        } else {
            assert_null(doc);
        }
    }
    expect_fail_str("ie", 0, 0, 1);
    expect_fail_str("ie", BTT_BEN_TOLERANT, 0, 1);
    expect_fail_str("i-e", 0, 0, 2);
    expect_fail_str("i-e", BTT_BEN_TOLERANT, 0, 2);
    expect_fail_str("i--1e", 0, 0, 3);
    expect_fail_str("i+1e", 0, 0, 1);
    expect_fail_str("i1.5e", 0, 0, 2);
    expect_fail_str("i 1e", 0, 0, 1);
    expect_fail_str("i1 e", 0, 0, 2);
    expect_fail_str("i12", 0, 0, 3);
    expect_fail_str("i", 0, 0, 1);
    expect_fail_str("iae", BTT_BEN_TOLERANT, 0, 1);
}

static void test_overlong_ints(void **state)
{
    static const char *bad[] = {
        "i9223372036854775808e",    /* INT64_MAX + 1 */
        "i-9223372036854775809e",   /* INT64_MIN - 1 */
        "i18446744073709551615e",   /* UINT64_MAX */
        "i18446744073709551616e",   /* UINT64_MAX + 1 (wraps to 0 in a naive parser) */
        "i99999999999999999999999999999e",
        "i-99999999999999999999999999999e",
        "i36893488147419103232e",   /* 2^65: wraps to 0 mod 2^64 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (unsigned flags = 0; flags <= BTT_BEN_TOLERANT; flags++) {
            btt_ben_doc *doc;
            btt_error err;
            btt_err rc = decode_n(bad[i], strlen(bad[i]), flags, NULL, &doc, &err);
            if (rc == BTT_OK) {
                int64_t v = 0;
                (void)btt_ben_get_int(btt_ben_root(doc), &v);
                btt_ben_free(doc);
                fail_msg("'%s' (flags %u) decoded as %" PRId64, bad[i], flags, v);
            }
            assert_null(doc);
            assert_true(rc == BTT_EBENCODE || rc == BTT_ERANGE || rc == BTT_EOVERFLOW);
            assert_true(msg_offset(err.msg) >= 0);
        }
    }
}

static void test_bad_strings(void **state)
{
    expect_fail_str("5:abc", 0, 0, 5);            /* longer than the input */
    expect_fail_str("5:abc", BTT_BEN_TOLERANT, 0, 5);
    expect_fail_str("-1:a", 0, 0, 1);
    expect_fail_str(":abc", 0, 0, 0);
    expect_fail_str("3abc", 0, 0, 1);
    expect_fail_str("3", 0, 0, 1);
    /* lengths that overflow size_t / wrap in a naive parser */
    expect_fail_str("18446744073709551616:a", 0, 0, 21);
    expect_fail_str("18446744073709551615:a", 0, 0, 21);
    expect_fail_str("99999999999999999999999999:a", 0, 0, 27);
    expect_fail_str("18446744073709551615:a", BTT_BEN_TOLERANT, 0, 21);
    expect_fail_str("4294967296:a", 0, 0, 11);
}

static void test_bad_structure(void **state)
{
    expect_fail_str("", 0, 0, 0);
    expect_fail_str("", BTT_BEN_TOLERANT, 0, 0);
    expect_fail_str("e", 0, 0, 0);
    expect_fail_str("x", 0, 0, 0);
    expect_fail_str("l", 0, 0, 1);
    expect_fail_str("d", 0, 0, 1);
    expect_fail_str("li1e", 0, 0, 4);
    expect_fail_str("d1:a", 0, 0, 4);
    expect_fail_str("d1:ae", 0, 0, 4);      /* key without value */
    expect_fail_str("d1:ai1e1:be", 0, 0, 10);
    expect_fail_str("lxe", 0, 0, 1);
    expect_fail_str("ee", 0, 0, 1);
}

static void test_dict_key_rules(void **state)
{
    /* unsorted: error points at (or just after) the offending key "1:a" at offset 7 */
    expect_fail_str("d1:bi1e1:ai2ee", 0, 7, 10);
    /* duplicate */
    expect_fail_str("d1:ai1e1:ai2ee", 0, 7, 10);
    /* prefix ordering: "ab" sorts after "a" */
    expect_fail_str("d2:abi1e1:ai2ee", 0, 8, 11);
    btt_ben_doc *doc = expect_ok("d1:ai1e2:abi2ee", 0);
    btt_ben_free(doc);
    /* bytes compare unsigned: 0xc3 > 'z' */
    static const uint8_t sorted_hi[] = "d1:zi1e1:\xc3i2ee";
    doc = expect_ok_n(sorted_hi, sizeof sorted_hi - 1, 0, "d1:z..1:\\xc3..e");
    btt_ben_free(doc);
    static const uint8_t unsorted_hi[] = "d1:\xc3i1e1:zi2ee";
    expect_fail_at(unsorted_hi, sizeof unsorted_hi - 1, 0, 7, 10, "d1:\\xc3..1:z..e");
    /* keys compare as bytes including NUL */
    static const uint8_t nul_keys[] = {'d', '2', ':', 'a', 0, 'i', '1', 'e', '2', ':', 'a', 1, 'i', '2', 'e', 'e'};
    doc = expect_ok_n(nul_keys, sizeof nul_keys, 0, "keys a\\0, a\\1");
    btt_ben_free(doc);
    /* unsorted keys in a nested dict are rejected too */
    expect_fail_str("d1:ad1:yi1e1:xi2eee", 0, 11, 14);

    /* non-string keys: never valid, even tolerant */
    expect_fail_str("di1ei2ee", 0, 0, 1);
    expect_fail_str("di1ei2ee", BTT_BEN_TOLERANT, 0, 1);
    expect_fail_str("dli1eei2ee", 0, 0, 1);
    expect_fail_str("dde1:ae", BTT_BEN_TOLERANT, 0, 1);
}

static void test_trailing_data(void **state)
{
    expect_fail_str("i1eX", 0, 3, 3);
    expect_fail_str("i1ei2e", 0, 3, 3);
    expect_fail_str("4:spam ", 0, 6, 6);
    expect_fail_str("dee", 0, 2, 2);
    static const uint8_t nul_tail[] = {'l', 'e', 0};
    expect_fail_at(nul_tail, sizeof nul_tail, 0, 2, 2, "le\\0");

    btt_ben_doc *doc = expect_ok("i1eXYZ", BTT_BEN_TOLERANT);
    assert_int_node(btt_ben_root(doc), 1);
    assert_int_equal(btt_ben_consumed(doc), 3);
    btt_ben_free(doc);

    doc = expect_ok("d1:ai1ee\n", BTT_BEN_TOLERANT);
    assert_int_equal(btt_ben_consumed(doc), 8);
    btt_ben_free(doc);

    doc = expect_ok("d1:ai1ee", 0);
    assert_int_equal(btt_ben_consumed(doc), 8);
    btt_ben_free(doc);
}

/* ------------------------------------------------------------------ tolerant mode */

static void test_tolerant_accepts(void **state)
{
    /* unsorted keys */
    btt_ben_doc *doc = expect_ok("d1:bi1e1:ai2ee", BTT_BEN_TOLERANT);
    assert_int_equal(btt_ben_count(btt_ben_root(doc)), 2);
    assert_int_node(btt_ben_dict_get(btt_ben_root(doc), "a"), 2);
    assert_int_node(btt_ben_dict_get(btt_ben_root(doc), "b"), 1);
    /* pairs iterate in input order */
    assert_str_node(btt_ben_dict_first(btt_ben_root(doc)), "b");
    btt_ben_free(doc);

    /* duplicates: lookups return the first */
    doc = expect_ok("d1:ai1e1:ai2e1:ai3ee", BTT_BEN_TOLERANT);
    assert_int_node(btt_ben_dict_get(btt_ben_root(doc), "a"), 1);
    btt_ben_free(doc);

    /* leading zeros */
    assert_true(root_int("i03e", BTT_BEN_TOLERANT) == 3);
    assert_true(root_int("i00e", BTT_BEN_TOLERANT) == 0);
    assert_true(root_int("i-03e", BTT_BEN_TOLERANT) == -3);
    assert_true(root_int("i0009223372036854775807e", BTT_BEN_TOLERANT) == INT64_MAX);
    doc = expect_ok("03:abc", BTT_BEN_TOLERANT);
    assert_str_node(btt_ben_root(doc), "abc");
    btt_ben_free(doc);

    /* all together, nested, with trailing garbage */
    doc = expect_ok("d4:infod1:zi01e1:a02:xye1:b0:e trailing", BTT_BEN_TOLERANT);
    const btt_ben *info = btt_ben_dict_get(btt_ben_root(doc), "info");
    assert_int_node(btt_ben_dict_get(info, "z"), 1);
    assert_str_node(btt_ben_dict_get(info, "a"), "xy");
    assert_str_node(btt_ben_dict_get(btt_ben_root(doc), "b"), "");
    assert_int_equal(btt_ben_consumed(doc), strlen("d4:infod1:zi01e1:a02:xye1:b0:e"));
    btt_ben_free(doc);
}

/* ------------------------------------------------------------------ truncation */

static const char valid_doc[] =
    "d8:announce20:http://t.example/ann4:infod6:lengthi123456e4:name5:a.bin"
    "12:piece lengthi16384e6:pieces20:AAAAAAAAAAAAAAAAAAAAe4:listli-1e0:lelee1:zi0ee";

static void test_truncation_every_byte(void **state)
{
    size_t n = strlen(valid_doc);
    btt_ben_doc *doc = expect_ok(valid_doc, 0);
    assert_int_equal(btt_ben_consumed(doc), n);
    btt_ben_free(doc);

    for (size_t cut = 0; cut < n; cut++) {
        /* copy into an exact-size heap block so ASan catches any read past the end */
        uint8_t *p = malloc(cut ? cut : 1);
        assert_non_null(p);
        memcpy(p, valid_doc, cut);
        for (unsigned flags = 0; flags <= BTT_BEN_TOLERANT; flags++) {
            btt_error err;
            btt_err rc = decode_n(p, cut, flags, NULL, &doc, &err);
            if (rc != BTT_EBENCODE || doc != NULL) {
                if (rc == BTT_OK) btt_ben_free(doc);
                free(p);
                fail_msg("prefix of %zu bytes (flags %u): rc=%s", cut, flags, btt_err_name(rc));
            }
            long off = msg_offset(err.msg);
            if (off < 0 || (size_t)off > cut) {
                free(p);
                fail_msg("prefix of %zu bytes: bad offset in '%s'", cut, err.msg);
            }
        }
        free(p);
    }
}

/* ------------------------------------------------------------------ limits */

static char *nested_lists(size_t depth)
{
    char *s = malloc(2 * depth + 1);
    assert_non_null(s);
    memset(s, 'l', depth);
    memset(s + depth, 'e', depth);
    s[2 * depth] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    btt_ben_limits lim = {.max_depth = 64, .max_nodes = 4000000, .max_input = 64u << 20};
    btt_ben_doc *doc;
    btt_error err;

    char *s = nested_lists(64);
    assert_int_equal(decode_n(s, strlen(s), 0, &lim, &doc, &err), BTT_OK);
    btt_ben_free(doc);
    free(s);

    size_t depths[] = {65, 100, 1000};
    for (size_t i = 0; i < 3; i++) {
        s = nested_lists(depths[i]);
        for (unsigned flags = 0; flags <= BTT_BEN_TOLERANT; flags++) {
            btt_err rc = decode_n(s, strlen(s), flags, &lim, &doc, &err);
            assert_true(rc == BTT_EBENCODE || rc == BTT_ETOOBIG);
            assert_null(doc);
            /* the error is at the list that goes too deep, offset 64 */
            assert_in_range(msg_offset(err.msg), 63, 65);
        }
        free(s);
    }

    /* dicts count as nesting too */
    char dicts[1024] = "";
    for (int i = 0; i < 70; i++) strcat(dicts, "d1:a");
    strcat(dicts, "i1e");
    for (int i = 0; i < 70; i++) strcat(dicts, "e");
    assert_int_not_equal(decode_n(dicts, strlen(dicts), 0, &lim, &doc, &err), BTT_OK);
    assert_null(doc);

    /* a tighter limit */
    lim.max_depth = 2;
    assert_int_equal(decode_n("llee", 4, 0, &lim, &doc, &err), BTT_OK);
    btt_ben_free(doc);
    assert_int_not_equal(decode_n("llleee", 6, 0, &lim, &doc, &err), BTT_OK);
    assert_null(doc);
    assert_int_not_equal(decode_n("ld1:aleee", 9, 0, &lim, &doc, &err), BTT_OK);
    assert_null(doc);

    /* defaults (NULL limits) stop deep nesting without blowing the stack */
    s = nested_lists(200000);
    assert_int_not_equal(decode_n(s, strlen(s), 0, NULL, &doc, &err), BTT_OK);
    assert_null(doc);
    assert_int_not_equal(decode_n(s, strlen(s), BTT_BEN_TOLERANT, NULL, &doc, &err), BTT_OK);
    free(s);
    s = nested_lists(64); /* default is 64 */
    assert_int_equal(decode_n(s, strlen(s), 0, NULL, &doc, &err), BTT_OK);
    btt_ben_free(doc);
    free(s);
}

static void test_node_limit(void **state)
{
    btt_ben_limits lim = {.max_depth = 64, .max_nodes = 10, .max_input = 1 << 20};
    btt_ben_doc *doc;
    btt_error err;
    char s[256];

    /* the list plus 9 ints = 10 values */
    strcpy(s, "l");
    for (int i = 0; i < 9; i++) strcat(s, "i1e");
    strcat(s, "e");
    assert_int_equal(decode_n(s, strlen(s), 0, &lim, &doc, &err), BTT_OK);
    btt_ben_free(doc);

    strcpy(s, "l");
    for (int i = 0; i < 10; i++) strcat(s, "i1e");
    strcat(s, "e");
    for (unsigned flags = 0; flags <= BTT_BEN_TOLERANT; flags++) {
        btt_err rc = decode_n(s, strlen(s), flags, &lim, &doc, &err);
        assert_true(rc == BTT_EBENCODE || rc == BTT_ETOOBIG);
        assert_null(doc);
        assert_true(msg_offset(err.msg) >= 0);
    }

    /* a big flat list against the default limit still decodes */
    size_t n = 100000;
    char *big = malloc(n * 3 + 3);
    assert_non_null(big);
    big[0] = 'l';
    for (size_t i = 0; i < n; i++) memcpy(big + 1 + 3 * i, "i7e", 3);
    big[1 + 3 * n] = 'e';
    assert_int_equal(decode_n(big, 3 * n + 2, 0, NULL, &doc, &err), BTT_OK);
    assert_int_equal(btt_ben_count(btt_ben_root(doc)), n);
    btt_ben_free(doc);
    lim.max_nodes = 1000;
    assert_int_not_equal(decode_n(big, 3 * n + 2, 0, &lim, &doc, &err), BTT_OK);
    assert_null(doc);
    free(big);
}

static void test_input_limit(void **state)
{
    btt_ben_limits lim = {.max_depth = 64, .max_nodes = 1000, .max_input = 13};
    btt_ben_doc *doc;
    btt_error err;
    const char *s = "10:abcdefghij"; /* 13 bytes */

    assert_int_equal(decode_n(s, 13, 0, &lim, &doc, &err), BTT_OK);
    btt_ben_free(doc);
    lim.max_input = 12;
    for (unsigned flags = 0; flags <= BTT_BEN_TOLERANT; flags++) {
        btt_err rc = decode_n(s, 13, flags, &lim, &doc, &err);
        assert_true(rc == BTT_ETOOBIG || rc == BTT_EBENCODE);
        assert_null(doc);
    }
    /* the limit is on the input, even if the value itself would fit (tolerant trailing bytes) */
    lim.max_input = 10;
    assert_int_not_equal(decode_n("i1e0123456789", 13, BTT_BEN_TOLERANT, &lim, &doc, &err), BTT_OK);
    assert_null(doc);
}

/* ------------------------------------------------------------------ raw bytes and offsets */

static void test_raw_and_offsets(void **state)
{
    const char *s = "d4:infod1:ad1:xi1ee1:bl1:x1:yee3:zzzi5ee";
    btt_ben_doc *doc = expect_ok(s, 0);
    const btt_ben *root = btt_ben_root(doc);
    size_t len = 0;
    const uint8_t *raw = btt_ben_raw(root, &len);
    assert_ptr_equal(raw, (const uint8_t *)s);
    assert_int_equal(len, strlen(s));
    assert_int_equal(btt_ben_offset(doc, root), 0);

    const btt_ben *info = btt_ben_dict_get(root, "info");
    assert_non_null(info);
    const char *want = "d1:ad1:xi1ee1:bl1:x1:yee";
    raw = btt_ben_raw(info, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(raw, want, len);
    assert_ptr_equal(raw, (const uint8_t *)s + 7);
    assert_int_equal(btt_ben_offset(doc, info), 7);

    const btt_ben *b = btt_ben_dict_get(info, "b");
    raw = btt_ben_raw(b, &len);
    assert_int_equal(len, strlen("l1:x1:ye"));
    assert_memory_equal(raw, "l1:x1:ye", len);
    assert_int_equal(btt_ben_offset(doc, b), 7 + strlen("d1:ad1:xi1ee1:b"));

    const btt_ben *zzz = btt_ben_dict_get(root, "zzz");
    raw = btt_ben_raw(zzz, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(raw, "i5e", 3);

    /* a string's raw bytes include the length prefix */
    const btt_ben *k = btt_ben_dict_first(root);
    raw = btt_ben_raw(k, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(raw, "4:info", 6);
    assert_int_equal(btt_ben_offset(doc, k), 1);
    btt_ben_free(doc);

    /* tolerant: raw covers what arrived (leading zeros, unsorted keys) */
    const char *t = "d4:infod1:zi01e1:a1:xee";
    doc = expect_ok(t, BTT_BEN_TOLERANT);
    raw = btt_ben_raw(btt_ben_dict_get(btt_ben_root(doc), "info"), &len);
    assert_int_equal(len, strlen("d1:zi01e1:a1:xe"));
    assert_memory_equal(raw, "d1:zi01e1:a1:xe", len);
    btt_ben_free(doc);
}

/* ------------------------------------------------------------------ encoder */

static void test_encoder_exact(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 4096);
    assert_int_equal(btt_benc_int(&b, 0), BTT_OK);
    assert_int_equal(btt_benc_int(&b, -1), BTT_OK);
    assert_int_equal(btt_benc_int(&b, 42), BTT_OK);
    assert_int_equal(btt_benc_int(&b, INT64_MAX), BTT_OK);
    assert_int_equal(btt_benc_int(&b, INT64_MIN), BTT_OK);
    assert_int_equal(btt_benc_str(&b, "", 0), BTT_OK);
    assert_int_equal(btt_benc_str(&b, "a\0b", 3), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "spam"), BTT_OK);
    assert_int_equal(btt_benc_list(&b), BTT_OK);
    assert_int_equal(btt_benc_dict(&b), BTT_OK);
    assert_int_equal(btt_benc_end(&b), BTT_OK);
    assert_int_equal(btt_benc_end(&b), BTT_OK);
    assert_int_equal(btt_benc_raw(&b, "i7e", 3), BTT_OK);
    static const char want[] = "i0ei-1ei42ei9223372036854775807ei-9223372036854775808e0:3:a\0b4:spamldeei7e";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);
    btt_buf_free(&b);

    /* long strings get the right decimal length */
    btt_buf_init(&b, 1 << 20);
    char big[12345];
    memset(big, 'z', sizeof big);
    assert_int_equal(btt_benc_str(&b, big, sizeof big), BTT_OK);
    assert_int_equal(b.len, 6 + sizeof big);
    assert_memory_equal(b.data, "12345:", 6);
    btt_buf_free(&b);

    /* the encoder honours the buffer cap */
    btt_buf_init(&b, 5);
    assert_int_equal(btt_benc_cstr(&b, "abc"), BTT_OK); /* "3:abc" = 5 */
    assert_int_equal(btt_benc_int(&b, 1), BTT_ETOOBIG);
    assert_int_equal(btt_benc_end(&b), BTT_ETOOBIG);
    assert_int_equal(b.len, 5);
    btt_buf_free(&b);
    btt_buf_init(&b, 4);
    assert_int_equal(btt_benc_cstr(&b, "abc"), BTT_ETOOBIG);
    btt_buf_free(&b);
}

static void test_encoder_round_trip(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    uint8_t bin[256];
    for (int i = 0; i < 256; i++) bin[i] = (uint8_t)(255 - i);

    /* keys written in sorted order, as the encoder's contract says */
    assert_int_equal(btt_benc_dict(&b), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "bin"), BTT_OK);
    assert_int_equal(btt_benc_str(&b, bin, sizeof bin), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "empty"), BTT_OK);
    assert_int_equal(btt_benc_list(&b), BTT_OK);
    assert_int_equal(btt_benc_end(&b), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "ints"), BTT_OK);
    assert_int_equal(btt_benc_list(&b), BTT_OK);
    static const int64_t ints[] = {0, 1, -1, 9, 10, -10, 1000000007, INT64_MAX, INT64_MIN, INT64_MIN + 1, INT64_MAX - 1};
    size_t nints = sizeof ints / sizeof *ints;
    for (size_t i = 0; i < nints; i++) assert_int_equal(btt_benc_int(&b, ints[i]), BTT_OK);
    assert_int_equal(btt_benc_end(&b), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "nested"), BTT_OK);
    assert_int_equal(btt_benc_dict(&b), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "a"), BTT_OK);
    assert_int_equal(btt_benc_list(&b), BTT_OK);
    assert_int_equal(btt_benc_dict(&b), BTT_OK);
    assert_int_equal(btt_benc_end(&b), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "x"), BTT_OK);
    assert_int_equal(btt_benc_end(&b), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "b"), BTT_OK);
    assert_int_equal(btt_benc_raw(&b, "d1:ki-5ee", 9), BTT_OK);
    assert_int_equal(btt_benc_end(&b), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "str"), BTT_OK);
    assert_int_equal(btt_benc_cstr(&b, "hello world"), BTT_OK);
    assert_int_equal(btt_benc_end(&b), BTT_OK);

    btt_ben_doc *doc;
    btt_error err;
    assert_int_equal(decode_n(b.data, b.len, 0, NULL, &doc, &err), BTT_OK);
    const btt_ben *root = btt_ben_root(doc);
    assert_int_equal(btt_ben_count(root), 5);

    const uint8_t *p;
    size_t len;
    assert_true(btt_ben_get_str(btt_ben_dict_get(root, "bin"), &p, &len));
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(p, bin, sizeof bin);
    assert_int_equal(btt_ben_count(btt_ben_dict_get(root, "empty")), 0);
    const btt_ben *l = btt_ben_dict_get(root, "ints");
    assert_int_equal(btt_ben_count(l), nints);
    size_t i = 0;
    for (const btt_ben *e = btt_ben_list_first(l); e; e = btt_ben_next(e), i++) assert_int_node(e, ints[i]);
    assert_int_equal(i, nints);
    const btt_ben *nested = btt_ben_dict_get(root, "nested");
    assert_int_equal(btt_ben_count(btt_ben_dict_get(nested, "a")), 2);
    assert_int_node(btt_ben_dict_get(btt_ben_dict_get(nested, "b"), "k"), -5);
    assert_str_node(btt_ben_dict_get(root, "str"), "hello world");

    /* re-encoding the decoded tree reproduces the bytes exactly */
    btt_buf again;
    btt_buf_init(&again, 1 << 20);
    reencode(&again, root);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    btt_buf_free(&again);
    btt_ben_free(doc);
    btt_buf_free(&b);
}

static void test_reencode_valid_docs(void **state)
{
    static const char *docs[] = {
        "i-9223372036854775808e", "i9223372036854775807e", "0:", "le", "de", valid_doc,
        "d0:0:1:a0:2:aa0:2:ab0:1:b0:e", "llllleeeee", "d1:ad1:ad1:ad1:ai0eeeee",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        btt_ben_doc *doc = expect_ok(docs[i], 0);
        btt_buf b;
        btt_buf_init(&b, 1 << 16);
        reencode(&b, btt_ben_root(doc));
        assert_int_equal(b.len, strlen(docs[i]));
        assert_memory_equal(b.data, docs[i], b.len);
        btt_buf_free(&b);
        btt_ben_free(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_ints),
        cmocka_unit_test(test_decode_strings),
        cmocka_unit_test(test_decode_list_and_iteration),
        cmocka_unit_test(test_decode_dict_and_pairs),
        cmocka_unit_test(test_typed_access_mismatch),
        cmocka_unit_test(test_strict_leading_zeros),
        cmocka_unit_test(test_strict_bad_ints),
        cmocka_unit_test(test_overlong_ints),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_bad_structure),
        cmocka_unit_test(test_dict_key_rules),
        cmocka_unit_test(test_trailing_data),
        cmocka_unit_test(test_tolerant_accepts),
        cmocka_unit_test(test_truncation_every_byte),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_input_limit),
        cmocka_unit_test(test_raw_and_offsets),
        cmocka_unit_test(test_encoder_exact),
        cmocka_unit_test(test_encoder_round_trip),
        cmocka_unit_test(test_reencode_valid_docs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
