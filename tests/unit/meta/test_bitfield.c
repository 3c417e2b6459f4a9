/* Unit tests for bitfields: BEP 3 bit order, counts, wire loading and searches. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "btt/bitfield.h"
#include "btt/error.h"

#define OK(x) assert_int_equal((x), BTT_OK)

static uint32_t popcount_bytes(const btt_bitfield *bf)
{
    uint32_t n = 0;
    for (size_t i = 0; i < btt_bitfield_bytes(bf->nbits); i++) n += (uint32_t)__builtin_popcount(bf->bits[i]);
    return n;
}

static void test_init_set_clear(void **state)
{
    btt_bitfield bf;
    OK(btt_bitfield_init(&bf, 10));
    assert_int_equal(bf.nbits, 10);
    assert_int_equal(bf.count, 0);
    assert_int_equal(btt_bitfield_bytes(10), 2);
    for (uint32_t i = 0; i < 10; i++) assert_false(btt_bitfield_get(&bf, i));
    assert_int_equal(bf.bits[0], 0);
    assert_int_equal(bf.bits[1], 0);

    btt_bitfield_set(&bf, 0);
    btt_bitfield_set(&bf, 9);
    assert_int_equal(bf.bits[0], 0x80); /* piece 0 is the high bit of byte 0 */
    assert_int_equal(bf.bits[1], 0x40);
    assert_int_equal(bf.count, 2);
    assert_true(btt_bitfield_get(&bf, 0));
    assert_true(btt_bitfield_get(&bf, 9));
    assert_false(btt_bitfield_get(&bf, 1));
    assert_false(btt_bitfield_get(&bf, 10)); /* out of range */
    assert_false(btt_bitfield_get(&bf, UINT32_MAX));

    btt_bitfield_set(&bf, 9); /* idempotent */
    assert_int_equal(bf.count, 2);
    btt_bitfield_set(&bf, 7);
    assert_int_equal(bf.bits[0], 0x81);
    assert_int_equal(bf.count, 3);

    btt_bitfield_clear(&bf, 0);
    assert_int_equal(bf.bits[0], 0x01);
    assert_int_equal(bf.count, 2);
    btt_bitfield_clear(&bf, 0); /* idempotent */
    assert_int_equal(bf.count, 2);
    btt_bitfield_clear(&bf, 3);
    assert_int_equal(bf.count, 2);

    btt_bitfield_set_all(&bf);
    assert_int_equal(bf.count, 10);
    assert_true(btt_bitfield_full(&bf));
    assert_int_equal(bf.bits[0], 0xff);
    assert_int_equal(bf.bits[1], 0xc0); /* spare bits stay zero */

    btt_bitfield_clear(&bf, 4);
    assert_false(btt_bitfield_full(&bf));
    assert_int_equal(bf.count, 9);
    btt_bitfield_clear_all(&bf);
    assert_int_equal(bf.count, 0);
    assert_int_equal(bf.bits[0], 0);
    assert_int_equal(bf.bits[1], 0);
    btt_bitfield_free(&bf);
}

static void test_count_consistency(void **state)
{
    btt_bitfield bf;
    const uint32_t n = 1237;
    OK(btt_bitfield_init(&bf, n));
    uint32_t x = 12345;
    for (int k = 0; k < 20000; k++) {
        x = x * 1103515245u + 12345u;
        uint32_t i = (x >> 8) % n;
        if (x & 1)
            btt_bitfield_set(&bf, i);
        else
            btt_bitfield_clear(&bf, i);
        if (k % 1000 == 0) assert_int_equal(bf.count, popcount_bytes(&bf));
    }
    assert_int_equal(bf.count, popcount_bytes(&bf));
    btt_bitfield_set_all(&bf);
    assert_int_equal(bf.count, n);
    assert_int_equal(popcount_bytes(&bf), n);
    btt_bitfield_free(&bf);
}

static void test_exact_multiple_of_8(void **state)
{
    btt_bitfield bf;
    OK(btt_bitfield_init(&bf, 16));
    assert_int_equal(btt_bitfield_bytes(16), 2);
    btt_bitfield_set_all(&bf);
    assert_int_equal(bf.bits[0], 0xff);
    assert_int_equal(bf.bits[1], 0xff);
    assert_int_equal(bf.count, 16);
    btt_bitfield_free(&bf);

    OK(btt_bitfield_init(&bf, 1));
    assert_int_equal(btt_bitfield_bytes(1), 1);
    btt_bitfield_set_all(&bf);
    assert_int_equal(bf.bits[0], 0x80);
    assert_int_equal(bf.count, 1);
    btt_bitfield_free(&bf);
}

static void test_load(void **state)
{
    btt_bitfield bf;
    btt_error err = {0};
    OK(btt_bitfield_init(&bf, 10));

    const uint8_t good[2] = {0xa5, 0x40}; /* 1010 0101 01 */
    OK(btt_bitfield_load(&bf, good, 2, &err));
    assert_int_equal(bf.count, 5);
    static const int want[10] = {1, 0, 1, 0, 0, 1, 0, 1, 0, 1};
    for (uint32_t i = 0; i < 10; i++) assert_int_equal(btt_bitfield_get(&bf, i), want[i]);

    /* loading replaces, not merges */
    const uint8_t zero[2] = {0, 0};
    OK(btt_bitfield_load(&bf, zero, 2, &err));
    assert_int_equal(bf.count, 0);

    /* wrong length: too short, too long, empty */
    const uint8_t three[3] = {0xff, 0xc0, 0};
    assert_int_not_equal(btt_bitfield_load(&bf, three, 1, &err), BTT_OK);
    assert_int_not_equal(btt_bitfield_load(&bf, three, 3, &err), BTT_OK);
    assert_int_not_equal(btt_bitfield_load(&bf, three, 0, &err), BTT_OK);
    assert_int_not_equal(err.code, BTT_OK);
    assert_true(strlen(err.msg) > 0);

    /* spare bits set: every one of the 6 spare bits is checked */
    for (int bit = 0; bit < 6; bit++) {
        uint8_t bad[2] = {0xff, (uint8_t)(0xc0 | (1u << bit))};
        assert_int_not_equal(btt_bitfield_load(&bf, bad, 2, &err), BTT_OK);
    }
    const uint8_t full[2] = {0xff, 0xc0};
    OK(btt_bitfield_load(&bf, full, 2, &err));
    assert_int_equal(bf.count, 10);
    assert_true(btt_bitfield_full(&bf));

    /* NULL err is allowed */
    assert_int_not_equal(btt_bitfield_load(&bf, three, 3, NULL), BTT_OK);
    btt_bitfield_free(&bf);

    /* no spare bits when nbits is a multiple of 8 */
    OK(btt_bitfield_init(&bf, 8));
    const uint8_t ff = 0xff;
    OK(btt_bitfield_load(&bf, &ff, 1, &err));
    assert_int_equal(bf.count, 8);
    btt_bitfield_free(&bf);
}

static void test_next_set_clear(void **state)
{
    btt_bitfield bf;
    OK(btt_bitfield_init(&bf, 1000));
    assert_int_equal(btt_bitfield_next_set(&bf, 0), 1000);
    assert_int_equal(btt_bitfield_next_clear(&bf, 0), 0);
    assert_int_equal(btt_bitfield_next_clear(&bf, 999), 999);

    btt_bitfield_set(&bf, 777);
    assert_int_equal(btt_bitfield_next_set(&bf, 0), 777);
    assert_int_equal(btt_bitfield_next_set(&bf, 776), 777);
    assert_int_equal(btt_bitfield_next_set(&bf, 777), 777);
    assert_int_equal(btt_bitfield_next_set(&bf, 778), 1000);
    assert_int_equal(btt_bitfield_next_set(&bf, 1000), 1000);
    assert_int_equal(btt_bitfield_next_set(&bf, 5000), 1000);

    btt_bitfield_set_all(&bf);
    assert_int_equal(btt_bitfield_next_clear(&bf, 0), 1000); /* spare bits are not "clear pieces" */
    btt_bitfield_clear(&bf, 3);
    btt_bitfield_clear(&bf, 64);
    btt_bitfield_clear(&bf, 999);
    assert_int_equal(btt_bitfield_next_clear(&bf, 0), 3);
    assert_int_equal(btt_bitfield_next_clear(&bf, 3), 3);
    assert_int_equal(btt_bitfield_next_clear(&bf, 4), 64);
    assert_int_equal(btt_bitfield_next_clear(&bf, 65), 999);
    assert_int_equal(btt_bitfield_next_clear(&bf, 1000), 1000);
    assert_int_equal(btt_bitfield_next_set(&bf, 3), 4);
    btt_bitfield_free(&bf);

    /* exhaustive against a reference on a small odd size */
    OK(btt_bitfield_init(&bf, 37));
    uint32_t x = 99;
    for (int round = 0; round < 50; round++) {
        btt_bitfield_clear_all(&bf);
        for (uint32_t i = 0; i < 37; i++) {
            x = x * 1664525u + 1013904223u;
            if ((int)(x >> 28) < round % 16) btt_bitfield_set(&bf, i);
        }
        for (uint32_t i = 0; i <= 37; i++) {
            uint32_t ws = i, wc = i;
            while (ws < 37 && !btt_bitfield_get(&bf, ws)) ws++;
            while (wc < 37 && btt_bitfield_get(&bf, wc)) wc++;
            assert_int_equal(btt_bitfield_next_set(&bf, i), ws);
            assert_int_equal(btt_bitfield_next_clear(&bf, i), wc);
        }
    }
    btt_bitfield_free(&bf);
}

static void test_large(void **state)
{
    btt_bitfield bf;
    const uint32_t n = 1u << 20;
    OK(btt_bitfield_init(&bf, n));
    btt_bitfield_set(&bf, n - 1);
    assert_int_equal(btt_bitfield_next_set(&bf, 0), n - 1);
    assert_int_equal(bf.count, 1);
    btt_bitfield_set_all(&bf);
    assert_int_equal(bf.count, n);
    assert_int_equal(btt_bitfield_next_clear(&bf, 0), n);
    btt_bitfield_free(&bf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_set_clear),
        cmocka_unit_test(test_count_consistency),
        cmocka_unit_test(test_exact_multiple_of_8),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_next_set_clear),
        cmocka_unit_test(test_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
