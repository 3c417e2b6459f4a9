/* Unit tests for BitTorrent Speed's money arithmetic and AutoBid (btt/speed_price.h): exact
 * charges around the KiB boundary, saturation at the supply, per-block charges summing to the
 * piece charge, the AutoBid formula computed by hand, and the re-bid rules with an explicit clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "btt/speed_price.h"

#define T0 5000000ull /* a clock that does not start at 0 */

static uint64_t units(btt_amount a) { return btt_amount_units(a); }

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------ charge */

static void test_charge_exact(void **state)
{
    assert_int_equal(units(btt_speed_charge(1, 1023)), 0);
    assert_int_equal(units(btt_speed_charge(1, 1024)), 1);
    assert_int_equal(units(btt_speed_charge(1, 1025)), 1);
    assert_int_equal(units(btt_speed_charge(1000, 1023)), 999); /* 1023000 / 1024 = 999.02 */
    assert_int_equal(units(btt_speed_charge(1000, 1024)), 1000);
    assert_int_equal(units(btt_speed_charge(1000, 1025)), 1000); /* 1025000 / 1024 = 1000.98 */
    assert_int_equal(units(btt_speed_charge(3, 16384)), 48);
    assert_int_equal(units(btt_speed_charge(7, 1536)), 10); /* 10.5 rounds down */
    assert_int_equal(units(btt_speed_charge(0, UINT64_MAX)), 0);
    assert_int_equal(units(btt_speed_charge(UINT64_MAX, 0)), 0);
    /* 128-bit products below the supply */
    assert_int_equal(units(btt_speed_charge(UINT64_MAX, 1)), 18014398509481983ull);   /* 2^54 - 1 */
    assert_int_equal(units(btt_speed_charge(UINT64_MAX, 54)), 972777519512027135ull); /* just below */
}

static void test_charge_saturates(void **state)
{
    assert_int_equal(units(btt_speed_charge(UINT64_MAX, UINT64_MAX)), BTT_SUPPLY_UNITS);
    assert_int_equal(units(btt_speed_charge(BTT_SUPPLY_UNITS, 1024)), BTT_SUPPLY_UNITS); /* exactly the supply */
    assert_int_equal(units(btt_speed_charge(BTT_SUPPLY_UNITS, 1025)), BTT_SUPPLY_UNITS); /* just above */
    assert_int_equal(units(btt_speed_charge(BTT_SUPPLY_UNITS, 1023)), 989033203125000000ull); /* just below */
    assert_int_equal(units(btt_speed_charge(UINT64_MAX, 55)), BTT_SUPPLY_UNITS); /* 55 * 2^54 > supply */
    assert_int_equal(units(btt_speed_charge(1u << 20, UINT64_C(1) << 60)), BTT_SUPPLY_UNITS); /* 2^70 units */
}

/* Blocks of 16 KiB and a short last block: the block charges sum to the piece charge. */
static void test_charge_blocks_sum_to_piece(void **state)
{
    uint64_t s = 42;
    for (int iter = 0; iter < 20000; iter++) {
        unsigned shift = 24 + (unsigned)(splitmix(&s) % 40);
        uint64_t rate = splitmix(&s) >> shift;                 /* 0 .. 2^40 */
        uint64_t piece = 1 + splitmix(&s) % (4u << 20);        /* 1 byte .. 4 MiB, any size */
        if (iter % 4 == 0) piece = (piece / 16384 + 1) * 16384; /* and whole blocks */
        uint64_t sum = 0;
        for (uint64_t off = 0; off < piece; off += 16384) {
            uint64_t len = piece - off < 16384 ? piece - off : 16384;
            sum += units(btt_speed_charge(rate, len));
        }
        if (sum != units(btt_speed_charge(rate, piece))) {
            print_error("rate %llu piece %llu: blocks sum to %llu, piece charge %llu\n", (unsigned long long)rate,
                        (unsigned long long)piece, (unsigned long long)sum,
                        (unsigned long long)units(btt_speed_charge(rate, piece)));
            fail();
        }
    }
}

/* ------------------------------------------------------------------ autobid formula */

static void test_autobid_formula(void **state)
{
    btt_amount b = BTT_AMOUNT_UNITS(1000000);
    assert_int_equal(btt_autobid_rate(1000, b, 1048576), 976);   /* 10^6 / 1024 KiB = 976.56 */
    assert_int_equal(btt_autobid_rate(500, b, 1048576 + 1), 487); /* 500000 / 1025 KiB = 487.8 */
    assert_int_equal(btt_autobid_rate(250, b, 1024), 250000);     /* a quarter of it on 1 KiB */
    assert_int_equal(btt_autobid_rate(1000, BTT_AMOUNT_UNITS(10240), 10240), 1024);
    assert_int_equal(btt_autobid_rate(1000, BTT_AMOUNT_UNITS(10240), 10239), 1024); /* ceil: 10 KiB */
    assert_int_equal(btt_autobid_rate(1000, BTT_AMOUNT_UNITS(10240), 10241), 930); /* 11 KiB: 930.9 */
    assert_int_equal(btt_autobid_rate(1, BTT_AMOUNT_UNITS(999), 1024), 0);          /* 0.999 */
    /* permille clamped to 0..1000 */
    assert_int_equal(btt_autobid_rate(0, b, 1024), 0);
    assert_int_equal(btt_autobid_rate(1001, BTT_AMOUNT_UNITS(10240), 10240), 1024);
    assert_int_equal(btt_autobid_rate(5000, BTT_AMOUNT_UNITS(10240), 10240), 1024);
    assert_int_equal(btt_autobid_rate(UINT32_MAX, BTT_AMOUNT_UNITS(10240), 10240), 1024);
    /* nothing left to buy, nothing to spend */
    assert_int_equal(btt_autobid_rate(1000, b, 0), 0);
    assert_int_equal(btt_autobid_rate(1000, BTT_AMOUNT_ZERO, 1 << 20), 0);
    /* 128-bit: 1000 * supply overflows 64 bits */
    assert_int_equal(btt_autobid_rate(1000, BTT_AMOUNT_SUPPLY, 1), BTT_SUPPLY_UNITS);
    assert_int_equal(btt_autobid_rate(1000, BTT_AMOUNT_SUPPLY, 1024), BTT_SUPPLY_UNITS);
    assert_int_equal(btt_autobid_rate(999, BTT_AMOUNT_SUPPLY, 1), 989010000000000000ull);
    assert_int_equal(btt_autobid_rate(1000, BTT_AMOUNT_SUPPLY, 1025), BTT_SUPPLY_UNITS / 2);
    assert_int_equal(btt_autobid_rate(1000, BTT_AMOUNT_SUPPLY, UINT64_MAX), 54); /* / 2^54 KiB: 54.96 */
    assert_int_equal(btt_autobid_rate(1000, BTT_AMOUNT_SUPPLY, UINT64_C(1) << 50), 900399); /* / 2^40 KiB */
}

/* ------------------------------------------------------------------ re-bid rules */

static void test_autobid_first_send(void **state)
{
    btt_autobid a;
    btt_autobid_init(&a);
    assert_false(a.has_sent);
    assert_true(btt_autobid_should_send(&a, 0, 0));
    assert_true(btt_autobid_should_send(&a, 1234, T0));
    btt_autobid_sent(&a, 1234, T0);
    assert_true(a.has_sent);
    assert_int_equal(a.sent, 1234);
    assert_int_equal(a.sent_ms, T0);
    assert_false(btt_autobid_should_send(&a, 1234, T0));
    assert_false(btt_autobid_should_send(&a, 1234, T0 + 3600000)); /* unchanged: never */
}

static void test_autobid_ten_percent(void **state)
{
    btt_autobid a;
    btt_autobid_init(&a);
    btt_autobid_sent(&a, 1000, T0);
    uint64_t t = T0 + 60000;
    assert_false(btt_autobid_should_send(&a, 1100, t)); /* exactly 10% up: not enough */
    assert_true(btt_autobid_should_send(&a, 1101, t));
    assert_false(btt_autobid_should_send(&a, 900, t)); /* exactly 10% down */
    assert_true(btt_autobid_should_send(&a, 899, t));
    assert_false(btt_autobid_should_send(&a, 1001, t));
    /* rates too small for 10% of them to be a whole unit: any move is more than 10% */
    btt_autobid_sent(&a, 9, t);
    assert_true(btt_autobid_should_send(&a, 10, t + 60000));
    assert_true(btt_autobid_should_send(&a, 8, t + 60000));
    /* huge rates: no overflow */
    btt_autobid_sent(&a, UINT64_MAX / 2, t);
    assert_false(btt_autobid_should_send(&a, UINT64_MAX / 2 + UINT64_MAX / 20, t + 60000));
    assert_true(btt_autobid_should_send(&a, UINT64_MAX, t + 60000));
}

static void test_autobid_once_a_minute(void **state)
{
    btt_autobid a;
    btt_autobid_init(&a);
    btt_autobid_sent(&a, 1000, T0);
    assert_false(btt_autobid_should_send(&a, 5000, T0 + 1));
    assert_false(btt_autobid_should_send(&a, 5000, T0 + 59999));
    assert_true(btt_autobid_should_send(&a, 5000, T0 + 60000));
    assert_true(btt_autobid_should_send(&a, 5000, T0 + 600000));
    assert_false(btt_autobid_should_send(&a, 5000, T0 - 1)); /* a clock before the last send */
    btt_autobid_sent(&a, 5000, T0 + 60000);
    assert_false(btt_autobid_should_send(&a, 100, T0 + 119999));
    assert_true(btt_autobid_should_send(&a, 100, T0 + 120000));
}

static void test_autobid_budget_change(void **state)
{
    btt_autobid a;
    btt_autobid_init(&a);
    btt_autobid_sent(&a, 1000, T0);
    btt_autobid_budget_changed(&a);
    assert_true(a.budget_changed);
    assert_true(btt_autobid_should_send(&a, 1000, T0 + 1)); /* even unchanged, even at once */
    assert_true(btt_autobid_should_send(&a, 1001, T0 + 1));
    btt_autobid_sent(&a, 1001, T0 + 1);
    assert_false(a.budget_changed);
    assert_false(btt_autobid_should_send(&a, 3000, T0 + 2)); /* back to the rules */
    assert_false(btt_autobid_should_send(&a, 3000, T0 + 60000));
    assert_true(btt_autobid_should_send(&a, 3000, T0 + 60001));
    /* before the first send too */
    btt_autobid_init(&a);
    btt_autobid_budget_changed(&a);
    assert_true(btt_autobid_should_send(&a, 0, T0));
}

static void test_autobid_zero(void **state)
{
    btt_autobid a;
    btt_autobid_init(&a);
    btt_autobid_sent(&a, 0, T0);
    assert_false(btt_autobid_should_send(&a, 0, T0 + 60000)); /* 0 to 0 is no move */
    assert_false(btt_autobid_should_send(&a, 1, T0 + 59999));
    assert_true(btt_autobid_should_send(&a, 1, T0 + 60000)); /* from 0 */
    btt_autobid_sent(&a, 1000, T0 + 60000);
    assert_false(btt_autobid_should_send(&a, 0, T0 + 119999));
    assert_true(btt_autobid_should_send(&a, 0, T0 + 120000)); /* to 0: withdrawing the bid */
    btt_autobid_sent(&a, 1, T0 + 120000);
    assert_true(btt_autobid_should_send(&a, 0, T0 + 180000)); /* even from 1 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_charge_exact),
        cmocka_unit_test(test_charge_saturates),
        cmocka_unit_test(test_charge_blocks_sum_to_piece),
        cmocka_unit_test(test_autobid_formula),
        cmocka_unit_test(test_autobid_first_send),
        cmocka_unit_test(test_autobid_ten_percent),
        cmocka_unit_test(test_autobid_once_a_minute),
        cmocka_unit_test(test_autobid_budget_change),
        cmocka_unit_test(test_autobid_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
