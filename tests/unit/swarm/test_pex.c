/* BEP 11 ut_pex codec: round trips (IPv4 and IPv6, flags), the 50-peer cap, a message as
 * libtorrent sends it, malformed messages and the parse bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "btt/pex.h"

static btt_addr addr(const char *s)
{
    btt_addr a;
    btt_error err;
    assert_int_equal(btt_addr_parse(s, &a, &err), BTT_OK);
    return a;
}

static btt_pex_msg msg; /* large: not on the stack */

static void test_round_trip(void **state)
{
    (void)state;
    btt_pex_peer added[3] = {{addr("10.0.0.1:6881"), BTT_PEX_SEED | BTT_PEX_REACHABLE},
                             {addr("[2001:db8::1]:51413"), BTT_PEX_UTP},
                             {addr("192.168.1.2:1"), 0}};
    btt_addr dropped[2] = {addr("10.0.0.9:7000"), addr("[::1]:9")};
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    assert_int_equal(btt_pex_build(&b, added, 3, dropped, 2), BTT_OK);
    btt_error err;
    assert_int_equal(btt_pex_parse(b.data, b.len, &msg, &err), BTT_OK);
    assert_int_equal(msg.num_added, 3);
    /* IPv4 first, then IPv6 */
    assert_true(btt_addr_eq(&msg.added[0].addr, &added[0].addr));
    assert_int_equal(msg.added[0].flags, BTT_PEX_SEED | BTT_PEX_REACHABLE);
    assert_true(btt_addr_eq(&msg.added[1].addr, &added[2].addr));
    assert_int_equal(msg.added[1].flags, 0);
    assert_true(btt_addr_eq(&msg.added[2].addr, &added[1].addr));
    assert_int_equal(msg.added[2].flags, BTT_PEX_UTP);
    assert_int_equal(msg.num_dropped, 2);
    assert_true(btt_addr_eq(&msg.dropped[0], &dropped[0]));
    assert_true(btt_addr_eq(&msg.dropped[1], &dropped[1]));
    assert_false(msg.truncated);
    btt_buf_free(&b);
}

static void test_exact_bytes(void **state)
{
    (void)state;
    btt_pex_peer added[1] = {{addr("1.2.3.4:258"), 0x12}};
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    assert_int_equal(btt_pex_build(&b, added, 1, NULL, 0), BTT_OK);
    static const char want[] = "d5:added6:\x01\x02\x03\x04\x01\x02" "7:added.f1:\x12" "7:dropped0:e";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);
    btt_buf_free(&b);
}

static void test_cap_50(void **state)
{
    (void)state;
    btt_pex_peer added[80];
    for (int i = 0; i < 80; i++) {
        char s[32];
        snprintf(s, sizeof s, "10.1.0.%d:%d", i + 1, 1000 + i);
        added[i] = (btt_pex_peer){addr(s), 0};
    }
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    assert_int_equal(btt_pex_build(&b, added, 80, NULL, 0), BTT_OK);
    btt_error err;
    assert_int_equal(btt_pex_parse(b.data, b.len, &msg, &err), BTT_OK);
    assert_int_equal(msg.num_added, BTT_PEX_MAX_ADDED);
    assert_true(btt_addr_eq(&msg.added[49].addr, &added[49].addr));
    btt_buf_free(&b);
}

static void parse_bytes(const char *p, size_t len, btt_err want)
{
    btt_error err;
    assert_int_equal(btt_pex_parse((const uint8_t *)p, len, &msg, &err), want);
}
#define PARSE(lit, want) parse_bytes(lit, sizeof lit - 1, want)

static void test_libtorrent_style(void **state)
{
    (void)state;
    /* libtorrent's first message: every key present, the dropped lists empty */
    PARSE("d5:added12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x01\x1a\xe2" "7:added.f2:\x10\x02"
          "6:added60:8:added6.f0:7:dropped0:8:dropped60:e",
          BTT_OK);
    assert_int_equal(msg.num_added, 2);
    assert_int_equal(msg.added[0].addr.port, 0x1ae1);
    assert_int_equal(msg.added[1].flags, BTT_PEX_SEED);
    assert_int_equal(msg.num_dropped, 0);
    /* flags missing or of the wrong length: the peers count, without flags */
    PARSE("d5:added6:\x7f\x00\x00\x01\x1a\xe1" "7:added.f3:abce", BTT_OK);
    assert_int_equal(msg.num_added, 1);
    assert_int_equal(msg.added[0].flags, 0);
    /* port 0 is skipped; unknown keys are ignored */
    PARSE("d5:added6:\x7f\x00\x00\x01\x00\x00" "1:xi5ee", BTT_OK);
    assert_int_equal(msg.num_added, 0);
}

static void test_malformed(void **state)
{
    (void)state;
    PARSE("", BTT_EPROTO);
    PARSE("le", BTT_EPROTO);
    PARSE("i5e", BTT_EPROTO);
    PARSE("d5:added5:abcdee", BTT_EPROTO);         /* not a multiple of 6 */
    PARSE("d6:added617:aaaaaaaaaaaaaaaaae", BTT_EPROTO); /* not a multiple of 18 */
    PARSE("d5:addedi5ee", BTT_EPROTO);
    PARSE("d7:dropped7:abcdefge", BTT_EPROTO);
    PARSE("d5:added6:abcdef", BTT_EPROTO);          /* truncated */
    char big[BTT_PEX_MAX_MESSAGE + 10];
    memset(big, 'e', sizeof big);
    big[0] = 'd';
    parse_bytes(big, sizeof big, BTT_EPROTO);
}

static void test_parse_bound(void **state)
{
    (void)state;
    /* 300 added peers: BTT_PEX_PARSE_MAX are taken, the rest skipped and reported */
    static char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "d5:added%d:", 300 * 6);
    for (int i = 0; i < 300; i++) {
        uint8_t e[6] = {10, 2, (uint8_t)(i >> 8), (uint8_t)i, 0x1a, 0xe1};
        memcpy(buf + n, e, 6);
        n += 6;
    }
    buf[n++] = 'e';
    parse_bytes(buf, n, BTT_OK);
    assert_int_equal(msg.num_added, BTT_PEX_PARSE_MAX);
    assert_true(msg.truncated);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_cap_50),        cmocka_unit_test(test_libtorrent_style),
        cmocka_unit_test(test_malformed),     cmocka_unit_test(test_parse_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
