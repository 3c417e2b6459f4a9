/* Unit tests for the uTP packet codec (BEP 29 "header format"): field layout against a
 * hand-written datagram, round trips of every type with and without a selective ack,
 * unknown extensions passed over, and every rejection. Inputs are parsed from heap copies of
 * exactly their length so ASan catches reads past the end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "btt/utp.h"

static btt_err parse_copy(const uint8_t *p, size_t len, btt_utp_packet *pk)
{
    uint8_t *c = malloc(len ? len : 1);
    assert_non_null(c);
    if (len) memcpy(c, p, len);
    btt_error err;
    btt_err rc = btt_utp_packet_parse(c, len, pk, &err);
    if (rc == BTT_OK) {
        /* rebase the pointers onto the caller's bytes */
        if (pk->sack) pk->sack = p + (pk->sack - c);
        if (pk->payload) pk->payload = p + (pk->payload - c);
    } else {
        assert_int_equal(err.code, BTT_EPROTO);
    }
    free(c);
    return rc;
}

static void test_layout(void **state)
{
    (void)state;
    /* STATE, version 1, selective ack of 4 bytes, conn 0x1234, ts 0x01020304, diff 0x05060708,
     * wnd 0x00100000, seq 0xfffe, ack 0x0001 */
    const uint8_t d[] = {0x21, 0x01, 0x12, 0x34, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x10, 0x00, 0x00,
                         0xff, 0xfe, 0x00, 0x01, 0x00, 0x04, 0x81, 0x00, 0x00, 0x80};
    btt_utp_packet pk;
    assert_int_equal(parse_copy(d, sizeof d, &pk), BTT_OK);
    assert_int_equal(pk.type, BTT_UTP_STATE);
    assert_int_equal(pk.conn_id, 0x1234);
    assert_int_equal(pk.ts_us, 0x01020304);
    assert_int_equal(pk.ts_diff_us, 0x05060708);
    assert_int_equal(pk.wnd, 0x00100000);
    assert_int_equal(pk.seq, 0xfffe);
    assert_int_equal(pk.ack, 1);
    assert_int_equal(pk.sack_len, 4);
    assert_int_equal(pk.sack[0], 0x81);
    assert_int_equal(pk.sack[3], 0x80);
    assert_int_equal(pk.payload_len, 0);
    uint8_t out[BTT_UTP_MAX_PACKET];
    assert_int_equal(btt_utp_packet_build(&pk, out, sizeof out), sizeof d);
    assert_memory_equal(out, d, sizeof d);
    assert_true(btt_utp_looks_like(d, sizeof d));
}

static void test_round_trips(void **state)
{
    (void)state;
    uint8_t payload[1400], sack[32], out[BTT_UTP_MAX_PACKET];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof sack; i++) sack[i] = (uint8_t)(i * 13 + 1);
    for (int type = 0; type <= 4; type++) {
        for (int sl = 0; sl <= 32; sl += 4) {
            btt_utp_packet pk = {0}, back;
            pk.type = (uint8_t)type;
            pk.conn_id = (uint16_t)(0xabcd + type);
            pk.ts_us = 0xdeadbeef;
            pk.ts_diff_us = 12345;
            pk.wnd = 1u << 20;
            pk.seq = 65535;
            pk.ack = 0;
            pk.sack = sl ? sack : NULL;
            pk.sack_len = (uint8_t)sl;
            if (type == BTT_UTP_DATA) {
                pk.payload = payload;
                pk.payload_len = 1400;
            }
            size_t n = btt_utp_packet_build(&pk, out, sizeof out);
            assert_int_equal(n, 20 + (sl ? 2 + sl : 0) + pk.payload_len);
            assert_int_equal(parse_copy(out, n, &back), BTT_OK);
            assert_int_equal(back.type, type);
            assert_int_equal(back.conn_id, pk.conn_id);
            assert_int_equal(back.ts_us, pk.ts_us);
            assert_int_equal(back.ts_diff_us, pk.ts_diff_us);
            assert_int_equal(back.wnd, pk.wnd);
            assert_int_equal(back.seq, pk.seq);
            assert_int_equal(back.ack, pk.ack);
            assert_int_equal(back.sack_len, sl);
            if (sl) assert_memory_equal(back.sack, sack, (size_t)sl);
            assert_int_equal(back.payload_len, pk.payload_len);
            if (pk.payload_len) assert_memory_equal(back.payload, payload, pk.payload_len);
            /* too small a buffer: nothing is written */
            assert_int_equal(btt_utp_packet_build(&pk, out, n - 1), 0);
        }
    }
}

static void test_unknown_extension_ignored(void **state)
{
    (void)state;
    /* DATA with an unknown extension 9 (3 bytes), then a selective ack, then 2 payload bytes */
    const uint8_t d[] = {0x01, 0x09, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 4,
                         0x01, 3, 0xaa, 0xbb, 0xcc, 0x00, 4, 1, 2, 3, 4, 'h', 'i'};
    btt_utp_packet pk;
    assert_int_equal(parse_copy(d, sizeof d, &pk), BTT_OK);
    assert_int_equal(pk.sack_len, 4);
    assert_int_equal(pk.sack[0], 1);
    assert_int_equal(pk.payload_len, 2);
    assert_memory_equal(pk.payload, "hi", 2);
}

static void expect_reject(const uint8_t *d, size_t n)
{
    btt_utp_packet pk;
    assert_int_equal(parse_copy(d, n, &pk), BTT_EPROTO);
}

static void test_rejections(void **state)
{
    (void)state;
    uint8_t h[64] = {0x21, 0, 0, 1};
    expect_reject(h, 0);
    expect_reject(h, 19);            /* short header */
    h[0] = 0x22;                     /* version 2 */
    expect_reject(h, 20);
    h[0] = 0x51;                     /* type 5 */
    expect_reject(h, 20);
    assert_false(btt_utp_looks_like(h, 20));
    h[0] = 0x01;                     /* DATA without payload */
    expect_reject(h, 20);
    h[0] = 0x21;                     /* STATE with payload */
    expect_reject(h, 21);
    h[0] = 0x41;                     /* SYN with payload */
    expect_reject(h, 24);
    h[0] = 0x21;
    h[1] = 1;                        /* extension header missing */
    expect_reject(h, 21);
    h[20] = 0;
    h[21] = 8;                       /* extension longer than the datagram */
    expect_reject(h, 27);
    h[21] = 3;                       /* selective ack not a multiple of 4 (libtorrent sends them) */
    {
        btt_utp_packet pk3;
        assert_int_equal(parse_copy(h, 25, &pk3), BTT_OK);
        assert_int_equal(pk3.sack_len, 3);
    }
    h[21] = 0;                       /* empty selective ack */
    expect_reject(h, 22);
    h[20] = 1;                       /* two selective acks */
    h[21] = 4;
    h[26] = 0;
    h[27] = 4;
    expect_reject(h, 32);
    /* a chain of 9 extensions */
    memset(h + 20, 0, 40);
    h[1] = 7;
    for (int i = 0; i < 9; i++) {
        h[20 + 2 * i] = i < 8 ? 7 : 0;
        h[21 + 2 * i] = 0;
    }
    expect_reject(h, 38);
    /* 8 are fine */
    h[20 + 2 * 7] = 0;
    btt_utp_packet pk;
    assert_int_equal(parse_copy(h, 36, &pk), BTT_OK);
    /* the builder refuses what the parser would */
    uint8_t out[BTT_UTP_MAX_PACKET];
    btt_utp_packet b = {0};
    b.type = BTT_UTP_DATA; /* no payload */
    assert_int_equal(btt_utp_packet_build(&b, out, sizeof out), 0);
    b.type = 7;
    assert_int_equal(btt_utp_packet_build(&b, out, sizeof out), 0);
    b.type = BTT_UTP_STATE;
    b.sack_len = 3;
    b.sack = NULL; /* a length without the bits */
    assert_int_equal(btt_utp_packet_build(&b, out, sizeof out), 0);
}

/* A STATE libtorrent 2.0 sent btt (captured on loopback): a selective ack of 22 bytes, which
 * BEP 29's multiple-of-4 rule would reject; dropping these stalled every transfer to it. */
static void test_libtorrent_sack(void **state)
{
    (void)state;
    uint8_t d[44] = {0x21, 0x01, 0xce, 0xbf, 0x45, 0x7b, 0x1b, 0x3e, 0x9e, 0xe9, 0x26, 0x18, 0x00, 0x0c, 0x40,
                     0xd0, 0x71, 0xc6, 0x75, 0x5f, 0x00, 0x16, 0xe0};
    memset(d + 23, 0xff, 21);
    btt_utp_packet pk;
    assert_int_equal(parse_copy(d, sizeof d, &pk), BTT_OK);
    assert_int_equal(pk.type, BTT_UTP_STATE);
    assert_int_equal(pk.conn_id, 0xcebf);
    assert_int_equal(pk.ack, 0x755f);
    assert_int_equal(pk.sack_len, 22);
    assert_int_equal(pk.sack[0], 0xe0);
    assert_int_equal(pk.payload_len, 0);
}

static void test_seq_compare(void **state)
{
    (void)state;
    assert_true(btt_utp_seq_lt(65535, 0));
    assert_true(btt_utp_seq_lt(65000, 100));
    assert_false(btt_utp_seq_lt(100, 65000));
    assert_false(btt_utp_seq_lt(7, 7));
    assert_true(btt_utp_seq_lt(1, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_unknown_extension_ignored),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_libtorrent_sack),
        cmocka_unit_test(test_seq_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
