/* Unit tests for magnet links: BEP 9 (xt=urn:btih hex/base32, dn, tr, x.pe) and BEP 53 (so). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/buf.h"
#include "btt/error.h"
#include "btt/magnet.h"

#define OK(x) assert_int_equal((x), BTT_OK)

static const uint8_t HASH[20] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc,
                                 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0x00, 0xff, 0x7f, 0x80};
static const char HEX_LO[] = "0123456789abcdeffedcba9876543210" "00ff7f80";
static const char HEX_UP[] = "0123456789ABCDEFFEDCBA9876543210" "00FF7F80";

/* RFC 4648 base32 of 20 bytes: exactly 32 characters, no padding. */
static void base32(const uint8_t in[20], char out[33], int lower)
{
    const char *alpha = lower ? "abcdefghijklmnopqrstuvwxyz234567" : "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint64_t acc = 0;
    int bits = 0, o = 0;
    for (int i = 0; i < 20; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alpha[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    out[o] = '\0';
    assert_int_equal(o, 32);
}

static btt_magnet *parse_ok(const char *uri)
{
    btt_magnet *m = NULL;
    btt_error err = {0};
    btt_err rc = btt_magnet_parse(uri, &m, &err);
    if (rc != BTT_OK) fail_msg("'%.200s' rejected: %s: %s", uri, btt_err_name(rc), err.msg);
    assert_non_null(m);
    return m;
}

static void parse_fail(const char *uri, unsigned codes, const char *msg_sub)
{
    btt_magnet *m = (btt_magnet *)(uintptr_t)1;
    btt_error err = {0};
    btt_err rc = btt_magnet_parse(uri, &m, &err);
    if (rc == BTT_OK) {
        btt_magnet_free(m);
        fail_msg("'%.200s' accepted", uri);
    }
    if (!(codes & (1u << rc))) fail_msg("'%.200s': unexpected %s (%s)", uri, btt_err_name(rc), err.msg);
    assert_int_equal(err.code, rc);
    assert_null(m);
    if (msg_sub && !strcasestr(err.msg, msg_sub)) fail_msg("'%.200s': message '%s' lacks '%s'", uri, err.msg, msg_sub);
}

#define EM (1u << BTT_EMAGNET)

static void test_hex_btih(void **state)
{
    char uri[256];
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s", HEX_LO);
    btt_magnet *m = parse_ok(uri);
    assert_memory_equal(m->info_hash, HASH, 20);
    assert_null(m->name);
    assert_int_equal(m->num_trackers, 0);
    assert_int_equal(m->num_peers, 0);
    assert_int_equal(m->num_select, 0);
    btt_magnet_free(m);

    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s", HEX_UP);
    m = parse_ok(uri);
    assert_memory_equal(m->info_hash, HASH, 20);
    btt_magnet_free(m);

    /* the URN prefix is case-insensitive in practice ("urn:BTIH:") */
    snprintf(uri, sizeof uri, "magnet:?xt=urn:BTIH:%s", HEX_LO);
    btt_magnet *m2 = NULL;
    btt_error err;
    if (btt_magnet_parse(uri, &m2, &err) == BTT_OK) {
        assert_memory_equal(m2->info_hash, HASH, 20);
        btt_magnet_free(m2);
    }
    btt_magnet_free(NULL);
}

static void test_base32_btih(void **state)
{
    char b32[33], uri[256];
    for (int lower = 0; lower <= 1; lower++) {
        base32(HASH, b32, lower);
        snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&dn=x", b32);
        btt_magnet *m = parse_ok(uri);
        assert_memory_equal(m->info_hash, HASH, 20);
        btt_magnet_free(m);
    }
    /* all-ones and all-zeros */
    uint8_t ones[20], zeros[20] = {0};
    memset(ones, 0xff, 20);
    base32(ones, b32, 0);
    assert_string_equal(b32, "77777777777777777777777777777777");
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s", b32);
    btt_magnet *m = parse_ok(uri);
    assert_memory_equal(m->info_hash, ones, 20);
    btt_magnet_free(m);
    base32(zeros, b32, 0);
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s", b32);
    m = parse_ok(uri);
    assert_memory_equal(m->info_hash, zeros, 20);
    btt_magnet_free(m);

    /* invalid base32 characters ('0', '1', '8', '9' are not in the alphabet) */
    base32(HASH, b32, 0);
    b32[5] = '1';
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s", b32);
    parse_fail(uri, EM, NULL);
    b32[5] = '=';
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s", b32);
    parse_fail(uri, EM, NULL);
}

static void test_dn_decoding(void **state)
{
    char uri[512];
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&dn=Hello%%20World+%%C3%%A9t%%c3%%a9%%2B%%26%%3D", HEX_LO);
    btt_magnet *m = parse_ok(uri);
    assert_non_null(m->name);
    assert_string_equal(m->name, "Hello World \xc3\xa9t\xc3\xa9+&=");
    btt_magnet_free(m);

    /* dn before xt, other parameters ignored */
    snprintf(uri, sizeof uri, "magnet:?dn=a+b&xl=12345&foo=bar&xt=urn:btih:%s&kt=x+y", HEX_LO);
    m = parse_ok(uri);
    assert_string_equal(m->name, "a b");
    assert_memory_equal(m->info_hash, HASH, 20);
    btt_magnet_free(m);

    /* an encoded NUL must not silently truncate the name (reject, or keep a name without it) */
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&dn=ab%%00cd", HEX_LO);
    btt_magnet *m2 = NULL;
    btt_error err;
    if (btt_magnet_parse(uri, &m2, &err) == BTT_OK) {
        assert_true(m2->name == NULL || strcmp(m2->name, "ab") != 0);
        btt_magnet_free(m2);
    }

    /* broken escapes */
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&dn=bad%%zz", HEX_LO);
    if (btt_magnet_parse(uri, &m2, &err) == BTT_OK) btt_magnet_free(m2);
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&dn=bad%%4", HEX_LO);
    if (btt_magnet_parse(uri, &m2, &err) == BTT_OK) btt_magnet_free(m2);
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&dn=bad%%", HEX_LO);
    if (btt_magnet_parse(uri, &m2, &err) == BTT_OK) btt_magnet_free(m2);
}

static void test_trackers_and_peers(void **state)
{
    char uri[1024];
    snprintf(uri, sizeof uri,
             "magnet:?xt=urn:btih:%s&tr=udp%%3A%%2F%%2Ftracker.example%%3A1337%%2Fannounce"
             "&tr=http://t2.example/announce?x=1%%262&tr=udp%%3A%%2F%%2Ftracker.example%%3A1337%%2Fannounce"
             "&x.pe=10.0.0.1:6881&x.pe=%%5B%%3A%%3A1%%5D%%3A51413&x.pe=[2001:db8::1]:1&tr=wss://t3.example",
             HEX_LO);
    btt_magnet *m = parse_ok(uri);
    assert_int_equal(m->num_trackers, 3); /* the duplicate is dropped */
    assert_string_equal(m->trackers[0], "udp://tracker.example:1337/announce");
    assert_string_equal(m->trackers[1], "http://t2.example/announce?x=1&2");
    assert_string_equal(m->trackers[2], "wss://t3.example");
    assert_int_equal(m->num_peers, 3);
    assert_string_equal(m->peers[0], "10.0.0.1:6881");
    assert_string_equal(m->peers[1], "[::1]:51413");
    assert_string_equal(m->peers[2], "[2001:db8::1]:1");
    btt_magnet_free(m);
}

static void test_tracker_limit(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    assert_int_equal(btt_buf_printf(&b, "magnet:?xt=urn:btih:%s", HEX_LO), BTT_OK);
    for (int i = 0; i < 150; i++) assert_int_equal(btt_buf_printf(&b, "&tr=http://t%d.example/a", i), BTT_OK);
    assert_int_equal(btt_buf_append_byte(&b, 0), BTT_OK);
    btt_magnet *m = NULL;
    btt_error err;
    btt_err rc = btt_magnet_parse((const char *)b.data, &m, &err);
    if (rc == BTT_OK) {
        assert_true(m->num_trackers <= 100);
        assert_true(m->num_trackers >= 1);
        assert_string_equal(m->trackers[0], "http://t0.example/a");
        btt_magnet_free(m);
    } else {
        assert_true(rc == BTT_EMAGNET || rc == BTT_ETOOBIG);
    }
    btt_buf_free(&b);
}

static void check_select(const char *so, const uint32_t *want, size_t n)
{
    char uri[512];
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&so=%s", HEX_LO, so);
    btt_magnet *m = parse_ok(uri);
    if (m->num_select != n) fail_msg("so=%s: %zu indexes, want %zu", so, m->num_select, n);
    for (size_t i = 0; i < n; i++) assert_int_equal(m->select[i], want[i]);
    btt_magnet_free(m);
}

static void test_select_only(void **state)
{
    const uint32_t a[] = {0, 2, 4, 5, 6};
    check_select("0,2,4-6", a, 5);
    const uint32_t b[] = {1, 2, 6};
    check_select("6,1-2,1", b, 3); /* sorted, unique */
    const uint32_t c[] = {7};
    check_select("7", c, 1);
    const uint32_t d[] = {3, 4, 5, 6, 7, 8, 9, 10};
    check_select("3-8,5-10", d, 8); /* overlapping ranges */
    const uint32_t e[] = {5};
    check_select("5-5", e, 1);

    /* garbage and absurd ranges: either rejected or bounded */
    const char *bad[] = {"", ",", "a", "1-", "-1", "1,,2", "5-2", "0-4294967295", "99999999999999999999", "1-2-3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char uri[256];
        snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&so=%s", HEX_LO, bad[i]);
        btt_magnet *m = NULL;
        btt_error err;
        btt_err rc = btt_magnet_parse(uri, &m, &err);
        if (rc == BTT_OK) {
            assert_true(m->num_select <= 100000);
            btt_magnet_free(m);
        } else {
            assert_true(rc == BTT_EMAGNET || rc == BTT_ETOOBIG || rc == BTT_ERANGE);
        }
    }
}

static void test_select_empty(void **state)
{
    /* "so=" with nothing after it (found by fuzz_magnet: must not pass NULL to qsort) */
    char uri[256];
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&so=", HEX_LO);
    btt_magnet *m = NULL;
    btt_error err;
    btt_err rc = btt_magnet_parse(uri, &m, &err);
    if (rc == BTT_OK) {
        assert_int_equal(m->num_select, 0);
        btt_magnet_free(m);
    } else {
        assert_int_equal(rc, BTT_EMAGNET);
    }
    rc = btt_magnet_parse("magnet:?so=", &m, &err);
    assert_int_equal(rc, BTT_EMAGNET); /* no xt */
    assert_null(m);
}

static void test_rejects(void **state)
{
    char uri[512];
    parse_fail("magnet:?dn=foo&tr=http://t/a", EM, "xt");  /* missing xt */
    parse_fail("magnet:?", EM, NULL);
    parse_fail("", EM, NULL);
    parse_fail("http://example.com/?xt=urn:btih:0123456789abcdeffedcba987654321000ff7f80", EM, NULL);
    parse_fail("magnet:", EM, NULL);

    /* hex of the wrong length */
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%.39s", HEX_LO);
    parse_fail(uri, EM, NULL);
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s0", HEX_LO);
    parse_fail(uri, EM, NULL);
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%.31s", HEX_LO);
    parse_fail(uri, EM, NULL);
    parse_fail("magnet:?xt=urn:btih:", EM, NULL);
    /* 40 characters but not hex */
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%.39sg", HEX_LO);
    parse_fail(uri, EM, NULL);

    /* not btih */
    snprintf(uri, sizeof uri, "magnet:?xt=urn:sha1:%s", HEX_LO);
    parse_fail(uri, EM, NULL);
    parse_fail("magnet:?xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e", EM, NULL);
    parse_fail("magnet:?xt=urn:ed2k:31D6CFE0D16AE931B73C59D7E0C089C0", EM, NULL);
}

static void test_oversized(void **state)
{
    size_t n = 70 * 1024;
    char *uri = malloc(n + 1);
    assert_non_null(uri);
    int k = snprintf(uri, n + 1, "magnet:?xt=urn:btih:%s&dn=", HEX_LO);
    memset(uri + k, 'a', n - (size_t)k);
    uri[n] = '\0';
    parse_fail(uri, EM | (1u << BTT_ETOOBIG), NULL);

    /* just under the limit is fine */
    size_t ok = 60 * 1024;
    uri[ok] = '\0';
    btt_magnet *m = parse_ok(uri);
    assert_int_equal(strlen(m->name), ok - (size_t)k);
    btt_magnet_free(m);
    free(uri);
}

static void test_format_round_trip(void **state)
{
    char uri[1024];
    snprintf(uri, sizeof uri,
             "magnet:?xt=urn:btih:%s&dn=My+File%%20%%26%%20Co%%3F%%23%%25.mkv&tr=udp://a.example:80/announce"
             "&tr=http://b.example/announce?k=v%%26w&x.pe=1.2.3.4:5&x.pe=[::1]:6&so=1,3-4",
             HEX_UP);
    btt_magnet *m = parse_ok(uri);
    assert_string_equal(m->name, "My File & Co?#%.mkv");
    char *s = btt_magnet_format(m);
    assert_non_null(s);
    /* canonical: lower-case hex btih first */
    char want_prefix[128];
    snprintf(want_prefix, sizeof want_prefix, "magnet:?xt=urn:btih:%s", HEX_LO);
    assert_true(strncmp(s, want_prefix, strlen(want_prefix)) == 0);

    btt_magnet *m2 = parse_ok(s);
    assert_memory_equal(m2->info_hash, m->info_hash, 20);
    assert_string_equal(m2->name, m->name);
    assert_int_equal(m2->num_trackers, m->num_trackers);
    for (size_t i = 0; i < m->num_trackers; i++) assert_string_equal(m2->trackers[i], m->trackers[i]);
    assert_int_equal(m->num_trackers, 2);
    assert_string_equal(m2->trackers[1], "http://b.example/announce?k=v&w");
    /* x.pe and so may or may not be written; if they are, they must survive */
    if (m2->num_peers) {
        assert_int_equal(m2->num_peers, m->num_peers);
        for (size_t i = 0; i < m->num_peers; i++) assert_string_equal(m2->peers[i], m->peers[i]);
    }
    if (m2->num_select) {
        assert_int_equal(m2->num_select, m->num_select);
        for (size_t i = 0; i < m->num_select; i++) assert_int_equal(m2->select[i], m->select[i]);
    }

    /* formatting again is stable */
    char *s2 = btt_magnet_format(m2);
    assert_non_null(s2);
    assert_string_equal(s, s2);
    free(s2);
    free(s);
    btt_magnet_free(m2);
    btt_magnet_free(m);

    /* a bare hash formats and re-parses */
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s", HEX_UP);
    m = parse_ok(uri);
    s = btt_magnet_format(m);
    assert_non_null(s);
    m2 = parse_ok(s);
    assert_memory_equal(m2->info_hash, HASH, 20);
    assert_null(m2->name);
    free(s);
    btt_magnet_free(m2);
    btt_magnet_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_btih),
        cmocka_unit_test(test_base32_btih),
        cmocka_unit_test(test_dn_decoding),
        cmocka_unit_test(test_trackers_and_peers),
        cmocka_unit_test(test_tracker_limit),
        cmocka_unit_test(test_select_only),
        cmocka_unit_test(test_select_empty),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_format_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
