/* Unit tests for BTT amounts: parsing, formatting and checked arithmetic at the edges. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "btt/amount.h"

static btt_amount parse_ok(const char *s)
{
    btt_amount a = BTT_AMOUNT_UNITS(12345);
    btt_error err = {0};
    btt_err rc = btt_amount_parse_cstr(s, &a, &err);
    if (rc != BTT_OK) {
        print_error("'%s' should parse: %s\n", s, err.msg);
        fail();
    }
    return a;
}

static void parse_fails(const char *s, btt_err want, const char *msg_part)
{
    btt_amount a = BTT_AMOUNT_UNITS(777);
    btt_error err = {0};
    btt_err rc = btt_amount_parse_cstr(s, &a, &err);
    if (rc != want || !strstr(err.msg, msg_part)) {
        print_error("'%s': got %s '%s', want %s containing '%s'\n", s, btt_err_name(rc), err.msg, btt_err_name(want),
                    msg_part);
        fail();
    }
    assert_int_equal(btt_amount_units(a), 777); /* untouched */
}

static void test_parse_valid(void **state)
{
    (void)state;
    assert_int_equal(btt_amount_units(parse_ok("0")), 0);
    assert_int_equal(btt_amount_units(parse_ok("1")), 1000000);
    assert_int_equal(btt_amount_units(parse_ok("12.5")), 12500000);
    assert_int_equal(btt_amount_units(parse_ok("0.000001")), 1);
    assert_int_equal(btt_amount_units(parse_ok("0.1")), 100000);
    assert_int_equal(btt_amount_units(parse_ok("1.50")), 1500000); /* trailing zeros are fine */
    assert_int_equal(btt_amount_units(parse_ok("0.000000")), 0);
    assert_int_equal(btt_amount_units(parse_ok("990000000000")), BTT_SUPPLY_UNITS);
    assert_int_equal(btt_amount_units(parse_ok("990000000000.000000")), BTT_SUPPLY_UNITS);
    assert_int_equal(btt_amount_units(parse_ok("989999999999.999999")), BTT_SUPPLY_UNITS - 1);
    /* length-delimited input: only len bytes are read */
    btt_amount a;
    assert_int_equal(btt_amount_parse("12.5xyz", 4, &a, NULL), BTT_OK);
    assert_int_equal(btt_amount_units(a), 12500000);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    parse_fails("", BTT_EINVAL, "empty");
    parse_fails("-1", BTT_EINVAL, "sign");
    parse_fails("+1", BTT_EINVAL, "sign");
    parse_fails("1-", BTT_EINVAL, "sign");
    parse_fails("1e5", BTT_EINVAL, "exponent");
    parse_fails("1.5E3", BTT_EINVAL, "exponent");
    parse_fails("0.0000001", BTT_EINVAL, "more than 6 decimal");
    parse_fails("1.1234567", BTT_EINVAL, "more than 6 decimal");
    parse_fails(".5", BTT_EINVAL, "before '.'");
    parse_fails("5.", BTT_EINVAL, "after '.'");
    parse_fails("1.2.3", BTT_EINVAL, "more than one '.'");
    parse_fails("007", BTT_EINVAL, "leading zero");
    parse_fails("00.5", BTT_EINVAL, "leading zero");
    parse_fails(" 1", BTT_EINVAL, "space");
    parse_fails("1 ", BTT_EINVAL, "space");
    parse_fails("1,000", BTT_EINVAL, "separator");
    parse_fails("1_000", BTT_EINVAL, "separator");
    parse_fails("abc", BTT_EINVAL, "position 1");
    parse_fails("12x", BTT_EINVAL, "position 3");
    parse_fails("0x10", BTT_EINVAL, "position 2");
    parse_fails("inf", BTT_EINVAL, "position 1");
    parse_fails("NaN", BTT_EINVAL, "position 1");
    parse_fails("1\xc2\xbd", BTT_EINVAL, "position 2");
    /* above the supply, including values that overflow uint64_t */
    parse_fails("990000000000.000001", BTT_ERANGE, "above the total supply");
    parse_fails("990000000001", BTT_ERANGE, "above the total supply");
    parse_fails("18446744073709", BTT_ERANGE, "above the total supply");
    parse_fails("18446744073709551615", BTT_ERANGE, "above the total supply");
    parse_fails("18446744073709551616", BTT_ERANGE, "above the total supply");
    parse_fails("99999999999999999999999999999999999999.5", BTT_ERANGE, "above the total supply");
    /* embedded NUL inside the given length */
    btt_amount a;
    assert_int_equal(btt_amount_parse("1\0002", 3, &a, NULL), BTT_EINVAL);
}

static void test_format(void **state)
{
    (void)state;
    char buf[BTT_AMOUNT_STRLEN];
    assert_string_equal(btt_amount_format(BTT_AMOUNT_ZERO, buf), "0");
    assert_string_equal(btt_amount_format(BTT_AMOUNT_UNITS(1), buf), "0.000001");
    assert_string_equal(btt_amount_format(BTT_AMOUNT_UNITS(12500000), buf), "12.5");
    assert_string_equal(btt_amount_format(BTT_AMOUNT_UNITS(100000), buf), "0.1");
    assert_string_equal(btt_amount_format(BTT_AMOUNT_BTT(7), buf), "7");
    assert_string_equal(btt_amount_format(BTT_AMOUNT_SUPPLY, buf), "990000000000");
    assert_string_equal(btt_amount_format(BTT_AMOUNT_UNITS(BTT_SUPPLY_UNITS - 1), buf), "989999999999.999999");
    assert_string_equal(btt_amount_format(BTT_AMOUNT_UNITS(1000001), buf), "1.000001");
}

/* format(parse(s)) is s for canonical strings; parse(format(a)) is a for every amount. */
static void test_round_trip(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t u = i < 10 ? (uint64_t)i : i < 20 ? BTT_SUPPLY_UNITS - (uint64_t)(i - 10) : x % (BTT_SUPPLY_UNITS + 1);
        if (i % 3 == 0) u %= 100000000; /* small amounts too */
        btt_amount a, b;
        assert_true(btt_amount_from_units(u, &a));
        char buf[BTT_AMOUNT_STRLEN];
        btt_amount_format(a, buf);
        assert_true(strlen(buf) < BTT_AMOUNT_STRLEN);
        assert_int_equal(btt_amount_parse_cstr(buf, &b, NULL), BTT_OK);
        assert_true(btt_amount_eq(a, b));
        char again[BTT_AMOUNT_STRLEN];
        assert_string_equal(btt_amount_format(b, again), buf);
    }
}

static void test_arith(void **state)
{
    (void)state;
    btt_amount r, sup = BTT_AMOUNT_SUPPLY, one = BTT_AMOUNT_UNITS(1);
    assert_true(btt_amount_add(&r, BTT_AMOUNT_UNITS(BTT_SUPPLY_UNITS - 1), one));
    assert_true(btt_amount_eq(r, sup));
    assert_false(btt_amount_add(&r, sup, one));                     /* above the supply */
    assert_false(btt_amount_add(&r, sup, sup));                     /* likewise */
    assert_false(btt_amount_add(&r, BTT_AMOUNT_UNITS(UINT64_MAX), one)); /* u64 wrap-around */
    assert_false(btt_amount_add(&r, BTT_AMOUNT_UNITS(UINT64_MAX - 5), BTT_AMOUNT_UNITS(10)));
    assert_true(btt_amount_sub(&r, sup, sup));
    assert_true(btt_amount_is_zero(r));
    assert_false(btt_amount_sub(&r, BTT_AMOUNT_ZERO, one)); /* below zero */
    assert_false(btt_amount_sub(&r, one, BTT_AMOUNT_UNITS(2)));
    assert_true(btt_amount_mul(&r, BTT_AMOUNT_BTT(1), 990000000000ull));
    assert_true(btt_amount_eq(r, sup));
    assert_false(btt_amount_mul(&r, BTT_AMOUNT_BTT(1), 990000000001ull));
    assert_false(btt_amount_mul(&r, BTT_AMOUNT_UNITS(1ull << 32), 1ull << 32)); /* u64 overflow */
    assert_true(btt_amount_mul(&r, sup, 0));
    assert_true(btt_amount_is_zero(r));

    assert_true(btt_amount_from_units(BTT_SUPPLY_UNITS, &r));
    assert_false(btt_amount_from_units(BTT_SUPPLY_UNITS + 1, &r));
    assert_false(btt_amount_from_units(UINT64_MAX, &r));
    assert_true(btt_amount_from_btt(990000000000ull, &r));
    assert_false(btt_amount_from_btt(990000000001ull, &r));
    assert_false(btt_amount_from_btt(UINT64_MAX / 1000, &r)); /* overflow in the multiplication */

    /* shares: exact floor without overflow, for the whole supply */
    assert_true(btt_amount_share(&r, sup, 1, 3));
    assert_int_equal(btt_amount_units(r), BTT_SUPPLY_UNITS / 3);
    assert_true(btt_amount_share(&r, sup, 9999, 10000));
    assert_int_equal(btt_amount_units(r), BTT_SUPPLY_UNITS / 10000 * 9999);
    assert_true(btt_amount_share(&r, BTT_AMOUNT_UNITS(BTT_SUPPLY_UNITS - 1), 4294967290u, 4294967295u));
    /* (s-1) * 4294967290 / 4294967295 computed in 128 bits by hand: check via the identity */
    {
        unsigned __int128 want = (unsigned __int128)(BTT_SUPPLY_UNITS - 1) * 4294967290u / 4294967295u;
        assert_true(btt_amount_units(r) == (uint64_t)want);
    }
    assert_false(btt_amount_share(&r, sup, 2, 1));
    assert_false(btt_amount_share(&r, sup, 0, 0));
    assert_false(btt_amount_share(&r, sup, 1, (uint64_t)UINT32_MAX + 1));

    assert_int_equal(btt_amount_cmp(one, sup), -1);
    assert_int_equal(btt_amount_cmp(sup, one), 1);
    assert_int_equal(btt_amount_cmp(one, one), 0);
    assert_true(btt_amount_ge(one, one));
    assert_false(btt_amount_ge(one, sup));
    assert_true(btt_amount_eq(btt_amount_min(one, sup), one));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid), cmocka_unit_test(test_parse_invalid), cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_arith),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
