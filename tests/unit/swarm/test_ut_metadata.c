/* BEP 9 message codec: round trips, the spec's examples, and malformed messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "btt/ut_metadata.h"

static void parse_str(const char *s, btt_err want, btt_metadata_msg *m)
{
    btt_error err;
    assert_int_equal(btt_metadata_parse((const uint8_t *)s, strlen(s), m, &err), want);
}

static void test_spec_examples(void **state)
{
    (void)state;
    btt_metadata_msg m;
    parse_str("d8:msg_typei0e5:piecei0ee", BTT_OK, &m);
    assert_int_equal(m.type, BTT_METADATA_REQUEST);
    assert_int_equal(m.piece, 0);
    parse_str("d8:msg_typei1e5:piecei0e10:total_sizei34256eexxxxxxxx", BTT_OK, &m);
    assert_int_equal(m.type, BTT_METADATA_DATA);
    assert_int_equal(m.total_size, 34256);
    assert_int_equal(m.data_len, 8);
    assert_memory_equal(m.data, "xxxxxxxx", 8);
    parse_str("d8:msg_typei2e5:piecei7ee", BTT_OK, &m);
    assert_int_equal(m.type, BTT_METADATA_REJECT);
    assert_int_equal(m.piece, 7);
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t data[BTT_METADATA_PIECE];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7);
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    assert_int_equal(btt_metadata_build_data(&b, 3, 70000, data, sizeof data), BTT_OK);
    btt_metadata_msg m;
    btt_error err;
    assert_int_equal(btt_metadata_parse(b.data, b.len, &m, &err), BTT_OK);
    assert_int_equal(m.type, BTT_METADATA_DATA);
    assert_int_equal(m.piece, 3);
    assert_int_equal(m.total_size, 70000);
    assert_int_equal(m.data_len, sizeof data);
    assert_memory_equal(m.data, data, sizeof data);
    btt_buf_reset(&b);
    assert_int_equal(btt_metadata_build(&b, BTT_METADATA_REQUEST, 9), BTT_OK);
    assert_int_equal(btt_metadata_parse(b.data, b.len, &m, &err), BTT_OK);
    assert_int_equal(m.type, BTT_METADATA_REQUEST);
    assert_int_equal(m.piece, 9);
    btt_buf_free(&b);
    assert_int_equal(btt_metadata_pieces(0), 0);
    assert_int_equal(btt_metadata_pieces(1), 1);
    assert_int_equal(btt_metadata_pieces(BTT_METADATA_PIECE), 1);
    assert_int_equal(btt_metadata_pieces(BTT_METADATA_PIECE + 1), 2);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",                                          /* empty */
        "le",                                        /* not a dict */
        "d5:piecei0ee",                              /* no msg_type */
        "d8:msg_typei0ee",                           /* no piece */
        "d8:msg_typei0e5:piecei-1ee",                /* negative piece */
        "d8:msg_typei0e5:piecei4294967296ee",        /* piece beyond 32 bits */
        "d8:msg_typei3e5:piecei0ee",                 /* unknown type */
        "d8:msg_typei0e5:piecei0eeJUNK",             /* bytes after a request */
        "d8:msg_typei1e5:piecei0ee",                 /* data without total_size */
        "d8:msg_typei1e5:piecei0e10:total_sizei0ee", /* empty metadata */
        "d8:msg_typei0e5:piecei0e",                  /* truncated */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        btt_metadata_msg m;
        btt_error err;
        btt_err e = btt_metadata_parse((const uint8_t *)bad[i], strlen(bad[i]), &m, &err);
        if (e != BTT_EPROTO) fail_msg("'%s' gave %d, want BTT_EPROTO", bad[i], e);
    }
    /* a data piece over 16 KiB */
    uint8_t big[64 + BTT_METADATA_PIECE + 1];
    int n = snprintf((char *)big, 64, "d8:msg_typei1e5:piecei0e10:total_sizei99999ee");
    memset(big + n, 'x', BTT_METADATA_PIECE + 1);
    btt_metadata_msg m;
    btt_error err;
    assert_int_equal(btt_metadata_parse(big, (size_t)n + BTT_METADATA_PIECE + 1, &m, &err), BTT_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_examples),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
