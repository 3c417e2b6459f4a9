/* Unit tests for the faucet's proof of work: the hash as specified, leading-zero counting, the
 * solver (progress, cancel, limits) and binding to ledger and account. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>

#include "btt/ledger.h"

static void test_leading_zeros(void **state)
{
    (void)state;
    uint8_t h[32];
    memset(h, 0, sizeof h);
    assert_int_equal(btt_pow_leading_zeros(h), 256);
    h[0] = 0x80;
    assert_int_equal(btt_pow_leading_zeros(h), 0);
    h[0] = 0x01;
    assert_int_equal(btt_pow_leading_zeros(h), 7);
    h[0] = 0;
    h[1] = 0x10;
    assert_int_equal(btt_pow_leading_zeros(h), 11);
    h[1] = 0;
    h[31] = 1;
    assert_int_equal(btt_pow_leading_zeros(h), 255);
}

/* The hash, recomputed from the specification with libsodium's one-shot API. */
static void spec_hash(const uint8_t id[32], const btt_account *a, uint64_t nonce, uint8_t out[32])
{
    uint8_t in[72];
    memcpy(in, id, 32);
    memcpy(in + 32, a->key, 32);
    for (int i = 0; i < 8; i++) in[64 + i] = (uint8_t)(nonce >> (56 - 8 * i));
    uint8_t personal[16] = "btt-pow-v1";
    crypto_generichash_blake2b_salt_personal(out, 32, in, sizeof in, NULL, 0, NULL, personal);
}

static void test_hash_matches_spec(void **state)
{
    (void)state;
    uint8_t id[32];
    btt_account a;
    randombytes_buf(id, sizeof id);
    randombytes_buf(a.key, sizeof a.key);
    uint64_t nonces[] = {0, 1, 255, 256, 0x0102030405060708ull, (uint64_t)INT64_MAX};
    for (size_t i = 0; i < sizeof nonces / sizeof *nonces; i++) {
        uint8_t h1[32], h2[32];
        btt_pow_hash(id, &a, nonces[i], h1);
        spec_hash(id, &a, nonces[i], h2);
        assert_memory_equal(h1, h2, 32);
    }
}

static void test_solve_and_check(void **state)
{
    (void)state;
    uint8_t id[32], other_id[32];
    btt_account a, b;
    randombytes_buf(id, sizeof id);
    randombytes_buf(other_id, sizeof other_id);
    randombytes_buf(a.key, sizeof a.key);
    randombytes_buf(b.key, sizeof b.key);
    for (unsigned bits = 0; bits <= 12; bits += 4) {
        uint64_t n = 0;
        assert_int_equal(btt_pow_solve(id, &a, bits, 0, NULL, NULL, NULL, &n, NULL), BTT_OK);
        assert_true(btt_pow_check(id, &a, n, bits));
        uint8_t h[32];
        spec_hash(id, &a, n, h);
        assert_true(btt_pow_leading_zeros(h) >= bits);
        /* the first solution: nothing below it works */
        for (uint64_t m = 0; m < n; m++) assert_false(btt_pow_check(id, &a, m, bits));
        if (bits >= 12) {
            /* bound to the ledger and the account: a 12-bit solution transfers with chance 2^-12 each */
            int transfers = btt_pow_check(other_id, &a, n, bits) + btt_pow_check(id, &b, n, bits);
            assert_true(transfers <= 1);
        }
    }
    /* start offset is honoured */
    uint64_t n1, n2;
    assert_int_equal(btt_pow_solve(id, &a, 8, 0, NULL, NULL, NULL, &n1, NULL), BTT_OK);
    assert_int_equal(btt_pow_solve(id, &a, 8, n1 + 1, NULL, NULL, NULL, &n2, NULL), BTT_OK);
    assert_true(n2 > n1);
    assert_false(btt_pow_check(id, &a, n1, BTT_POW_MAX_BITS + 1));
}

typedef struct progress {
    int calls;
    uint64_t last;
    atomic_bool *cancel;
} progress;

static void on_progress(uint64_t tried, void *ud)
{
    progress *p = ud;
    p->calls++;
    assert_true(tried > p->last);
    p->last = tried;
    if (p->calls == 3) atomic_store(p->cancel, true);
}

static void test_cancel_and_progress(void **state)
{
    (void)state;
    uint8_t id[32] = {1};
    btt_account a = {{2}};
    atomic_bool cancel = false;
    progress p = {0, 0, &cancel};
    uint64_t n = 12345;
    btt_error err = {0};
    assert_int_equal(btt_pow_solve(id, &a, 60, 0, on_progress, &p, &cancel, &n, &err), BTT_ECANCELED);
    assert_int_equal(p.calls, 3);
    assert_int_equal(p.last, 3 * BTT_POW_PROGRESS_EVERY);
    assert_int_equal(n, 12345);
    /* already canceled: stops at the first poll */
    assert_int_equal(btt_pow_solve(id, &a, 60, 0, NULL, NULL, &cancel, &n, &err), BTT_ECANCELED);
    assert_int_equal(btt_pow_solve(id, &a, 65, 0, NULL, NULL, NULL, &n, &err), BTT_EINVAL);
    /* the nonce space ends at INT64_MAX (the largest an operation carries) */
    assert_int_equal(btt_pow_solve(id, &a, 60, (uint64_t)INT64_MAX - 10, NULL, NULL, NULL, &n, &err), BTT_ERANGE);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leading_zeros),
        cmocka_unit_test(test_hash_matches_spec),
        cmocka_unit_test(test_solve_and_check),
        cmocka_unit_test(test_cancel_and_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
