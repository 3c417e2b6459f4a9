/* Unit tests for the seeder's payment guard (btt/speed_guard.h, docs/speed-protocol.md 4):
 * serving within the one-piece allowance, holding beyond it, vouchers releasing the hold and
 * stale ones refused, the channel's base, rate changes, short requests, the 30 s hold turning
 * into CHOKE and strikes into BAN, rate 0 never holding, and the allowance growing with what a
 * paying peer was served (never for one that does not pay). Explicit clock throughout.
 *
 * The usual numbers: 256 KiB pieces at 4 units/KiB, so a 16 KiB block costs 64 units and the
 * allowance (one piece) is 1024 units = 16 blocks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "btt/speed_guard.h"

#define T0 9000000ull
#define PIECE 262144u
#define BLOCK 16384u

static uint64_t units(btt_amount a) { return btt_amount_units(a); }

static btt_amount amt(uint64_t u) { return BTT_AMOUNT_UNITS(u); }

/* Serves `blocks` full blocks that must all be allowed. */
static void serve(btt_guard *g, int blocks, uint64_t now)
{
    for (int i = 0; i < blocks; i++) {
        assert_true(btt_guard_may_serve(g, BLOCK, now));
        btt_guard_served(g, BLOCK);
    }
}

static void fresh(btt_guard *g, uint64_t rate)
{
    btt_guard_init(g, PIECE);
    btt_guard_set_rate(g, rate);
}

static void test_allowance_and_hold(void **state)
{
    btt_guard g;
    fresh(&g, 4);
    serve(&g, 16, T0); /* exactly one piece: the 16th block reaches the allowance */
    assert_int_equal(units(g.owed), 1024);
    assert_int_equal(units(btt_guard_debt(&g)), 1024);
    assert_false(g.holding);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0 + 100)); /* 1088 > 1024 */
    assert_true(g.holding);
    assert_int_equal(g.hold_ms, T0 + 100);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0 + 5000)); /* the hold keeps its start */
    assert_int_equal(g.hold_ms, T0 + 100);
    assert_false(btt_guard_may_serve(&g, 1024, T0 + 5000)); /* even 4 units more */
    assert_int_equal(btt_guard_tick(&g, T0 + 100 + 29999), BTT_GUARD_OK);
    /* a voucher for the piece releases it */
    assert_true(btt_guard_voucher(&g, amt(1024), 1));
    assert_false(g.holding);
    assert_int_equal(units(g.paid), 1024);
    assert_int_equal(units(btt_guard_debt(&g)), 0);
    assert_int_equal(btt_guard_tick(&g, T0 + 100 + 30000), BTT_GUARD_OK);
    serve(&g, 16, T0 + 31000);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0 + 31000));
    /* a partial payment that leaves the debt above the allowance keeps holding */
    fresh(&g, 4);
    serve(&g, 16, T0);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0));
    btt_guard_set_rate(&g, 8); /* allowance 2048: the debt of 1024 is within it now */
    assert_true(btt_guard_may_serve(&g, BLOCK, T0 + 1)); /* 1024 + 128 <= 2048 */
    assert_false(g.holding);
}

static void test_partial_voucher(void **state)
{
    btt_guard g;
    fresh(&g, 4);
    serve(&g, 16, T0);
    btt_guard_served(&g, BLOCK); /* one more was already on its way: debt 1088 */
    assert_false(btt_guard_may_serve(&g, BLOCK, T0));
    assert_true(btt_guard_voucher(&g, amt(63), 1)); /* debt 1025: still beyond */
    assert_true(g.holding);
    assert_true(btt_guard_voucher(&g, amt(64), 2)); /* debt 1024: within */
    assert_false(g.holding);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0 + 1)); /* but no room for another block yet */
    assert_int_equal(g.hold_ms, T0 + 1);
    assert_true(btt_guard_voucher(&g, amt(128), 3));
    assert_true(btt_guard_may_serve(&g, BLOCK, T0 + 2));
    /* prepaid: vouchers ahead of the data leave no debt and extend what may be served */
    assert_true(btt_guard_voucher(&g, amt(1088 + 640), 4));
    assert_int_equal(units(btt_guard_debt(&g)), 0);
    serve(&g, 10 + 16, T0 + 3);
    /* 43 blocks served, 27 paid: the allowance has grown to half the served (21.5 blocks), so
     * the n+1-th further block passes while 16 + n + 1 <= (43 + n) / 2: 10 more */
    serve(&g, 10, T0 + 3);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0 + 3));
}

static void test_stale_vouchers(void **state)
{
    btt_guard g;
    fresh(&g, 4);
    serve(&g, 4, T0);
    assert_true(btt_guard_voucher(&g, amt(200), 5));
    assert_int_equal(g.best_seq, 5);
    assert_false(btt_guard_voucher(&g, amt(150), 5)); /* same seq, lower amount */
    assert_false(btt_guard_voucher(&g, amt(300), 5)); /* same seq, even higher */
    assert_false(btt_guard_voucher(&g, amt(300), 4)); /* older seq */
    assert_false(btt_guard_voucher(&g, amt(199), 6)); /* newer seq, lower amount */
    assert_false(btt_guard_voucher(&g, amt(0), 0));
    assert_int_equal(units(g.paid), 200);
    assert_int_equal(g.best_seq, 5);
    assert_true(btt_guard_voucher(&g, amt(200), 6)); /* equal amount: accepted, pays nothing more */
    assert_int_equal(units(g.paid), 200);
    assert_true(btt_guard_voucher(&g, amt(256), 9)); /* seq may jump */
    assert_int_equal(units(g.paid), 256);
    assert_int_equal(units(btt_guard_debt(&g)), 0);
}

static void test_channel_base(void **state)
{
    btt_guard g;
    fresh(&g, 4);
    btt_guard_set_channel(&g, amt(5000), 7); /* the channel had promised 5000 at seq 7 */
    assert_int_equal(units(g.base), 5000);
    assert_int_equal(units(g.paid), 0);
    serve(&g, 16, T0);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0));
    assert_false(btt_guard_voucher(&g, amt(6024), 7)); /* not above the channel's seq */
    assert_false(btt_guard_voucher(&g, amt(4999), 8)); /* below base */
    assert_true(g.holding);
    assert_true(btt_guard_voucher(&g, amt(5000), 8)); /* base itself: paid 0 */
    assert_int_equal(units(g.paid), 0);
    assert_true(btt_guard_voucher(&g, amt(6024), 9));
    assert_int_equal(units(g.paid), 1024);
    assert_false(g.holding);
    assert_int_equal(units(btt_guard_debt(&g)), 0);
}

static void test_rate_change(void **state)
{
    btt_guard g;
    fresh(&g, 4);
    serve(&g, 2, T0); /* 2 * 64 */
    btt_guard_set_rate(&g, 10);
    serve(&g, 1, T0); /* 160 */
    btt_guard_set_rate(&g, 1);
    btt_guard_served(&g, 1000); /* 0.98 */
    btt_guard_served(&g, 1000); /* 1.95: one unit for the two */
    assert_int_equal(units(g.owed), 128 + 160 + 1);
    btt_guard_set_rate(&g, 4); /* back: what was served at 1 stays at 1 */
    btt_guard_served(&g, 48);  /* 0.1875 */
    assert_int_equal(units(g.owed), 289);
    btt_guard_served(&g, 5120 - 48); /* now 5 KiB at 4 */
    assert_int_equal(units(g.owed), 289 + 20);
    /* the allowance follows the current rate: 256 KiB at 4 is 1024 */
    assert_true(btt_guard_may_serve(&g, BLOCK, T0));
}

/* A peer asking for short blocks pays for the bytes all the same. */
static void test_short_requests(void **state)
{
    btt_guard g;
    fresh(&g, 1); /* allowance: 256 units */
    for (int i = 0; i < 1024; i++) btt_guard_served(&g, 1023); /* each 0.999 units */
    assert_int_equal(units(g.owed), 1023);
    assert_false(btt_guard_may_serve(&g, 1, T0)); /* 1023 owed, nothing paid */
    for (int i = 0; i < 1000; i++) btt_guard_served(&g, 1);
    assert_int_equal(units(g.owed), 1023); /* 1047552 + 1000 bytes */
    btt_guard_served(&g, 24);
    assert_int_equal(units(g.owed), 1024); /* 1048576 bytes */
    /* saturation: never above the supply */
    fresh(&g, UINT64_MAX);
    btt_guard_served(&g, BLOCK);
    btt_guard_served(&g, BLOCK);
    assert_int_equal(units(g.owed), BTT_SUPPLY_UNITS);
    assert_int_equal(units(btt_guard_debt(&g)), BTT_SUPPLY_UNITS);
}

static void test_strikes_and_ban(void **state)
{
    btt_guard g;
    fresh(&g, 4);
    serve(&g, 16, T0);
    uint64_t t = T0;
    for (unsigned strike = 1; strike <= BTT_GUARD_STRIKES; strike++) {
        assert_false(btt_guard_may_serve(&g, BLOCK, t));
        assert_int_equal(btt_guard_tick(&g, t), BTT_GUARD_OK);
        assert_int_equal(btt_guard_tick(&g, t + 29999), BTT_GUARD_OK);
        btt_guard_verdict v = btt_guard_tick(&g, t + 30000);
        assert_int_equal(v, strike < BTT_GUARD_STRIKES ? BTT_GUARD_CHOKE : BTT_GUARD_BAN);
        assert_int_equal(g.strikes, strike);
        assert_false(g.holding);
        assert_int_equal(btt_guard_tick(&g, t + 60000), BTT_GUARD_OK); /* counted once */
        t += 100000;
    }
    /* no hold, no strike: ticks are harmless */
    fresh(&g, 4);
    for (uint64_t k = 0; k < 10; k++) assert_int_equal(btt_guard_tick(&g, T0 + k * 30000), BTT_GUARD_OK);
    assert_int_equal(g.strikes, 0);
    /* a voucher in time: no strike */
    serve(&g, 16, T0);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0));
    assert_true(btt_guard_voucher(&g, amt(1024), 1));
    assert_int_equal(btt_guard_tick(&g, T0 + 30000), BTT_GUARD_OK);
    assert_int_equal(g.strikes, 0);
}

static void test_rate_zero_never_holds(void **state)
{
    btt_guard g;
    btt_guard_init(&g, PIECE); /* rate 0 from the start */
    for (int i = 0; i < 1000; i++) {
        assert_true(btt_guard_may_serve(&g, BLOCK, T0 + (uint64_t)i * 1000));
        btt_guard_served(&g, BLOCK);
    }
    assert_int_equal(units(g.owed), 0);
    assert_false(g.holding);
    assert_int_equal(btt_guard_tick(&g, T0 + 10000000), BTT_GUARD_OK);
    /* a paying peer held, then given a free slot: served, and the hold is over */
    fresh(&g, 4);
    serve(&g, 16, T0);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0));
    btt_guard_set_rate(&g, 0);
    assert_true(btt_guard_may_serve(&g, BLOCK, T0 + 1));
    btt_guard_served(&g, BLOCK);
    assert_int_equal(units(g.owed), 1024); /* the old debt stays */
    assert_int_equal(btt_guard_tick(&g, T0 + 30000), BTT_GUARD_OK);
}

static void test_allowance_grows(void **state)
{
    (void)state;
    const uint64_t MiB = 1u << 20;
    assert_int_equal(btt_guard_allowance(4 * MiB, 0), 4 * MiB);
    assert_int_equal(btt_guard_allowance(4 * MiB, 8 * MiB), 4 * MiB);
    assert_int_equal(btt_guard_allowance(4 * MiB, 20 * MiB), 10 * MiB);
    assert_int_equal(btt_guard_allowance(4 * MiB, 32 * MiB), BTT_GUARD_GROWN_MAX);
    assert_int_equal(btt_guard_allowance(4 * MiB, 1024 * MiB), BTT_GUARD_GROWN_MAX);
    assert_int_equal(btt_guard_allowance(4 * MiB, UINT64_MAX), BTT_GUARD_GROWN_MAX);
    assert_int_equal(btt_guard_allowance(32 * MiB, 1024 * MiB), 32 * MiB); /* two big pieces win */

    /* a peer that never pays: served stops at the floor, so the allowance never grows */
    btt_guard g;
    fresh(&g, 4);
    serve(&g, 16, T0);
    assert_false(btt_guard_may_serve(&g, BLOCK, T0));

    /* a peer that pays for each piece: after 4 MiB served (256 blocks) the allowance is half of
     * that, 2 MiB = 128 blocks, eight times the one-piece floor; every block served unpaid adds
     * half a block, so the n+1-th unpaid block passes while n + 1 <= (256 + n) / 2: 255 pass, and
     * then it owes no more than it paid */
    fresh(&g, 4);
    uint64_t seq = 0;
    for (int piece = 0; piece < 16; piece++) {
        serve(&g, 16, T0 + (uint64_t)piece);
        assert_true(btt_guard_voucher(&g, amt(1024 * (uint64_t)(piece + 1)), ++seq));
    }
    assert_int_equal(g.served_bytes, 4 * MiB);
    serve(&g, 255, T0 + 100);
    assert_int_equal(units(btt_guard_debt(&g)), 255 * 64);
    assert_true(units(btt_guard_debt(&g)) <= units(g.paid));
    assert_false(btt_guard_may_serve(&g, BLOCK, T0 + 100)); /* the 256th is held */
    assert_true(g.holding);
    assert_true(btt_guard_voucher(&g, amt(1024 * 16 + 255 * 64), ++seq));
    assert_false(g.holding);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowance_and_hold),
        cmocka_unit_test(test_partial_voucher),
        cmocka_unit_test(test_stale_vouchers),
        cmocka_unit_test(test_channel_base),
        cmocka_unit_test(test_rate_change),
        cmocka_unit_test(test_short_requests),
        cmocka_unit_test(test_strikes_and_ban),
        cmocka_unit_test(test_rate_zero_never_holds),
        cmocka_unit_test(test_allowance_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
