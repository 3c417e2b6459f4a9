/* Unit tests for the ledger state machine: genesis, each operation's happy path and receipts,
 * the channel rules, and one test per attack. The invariant (balances + locked == supply) is
 * checked after every operation by the fixture. */
#include "fixture.h"

#include <time.h>

#include "btt/bencode.h"

#define T0 1000000 /* a start time, seconds */

static fx F;

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) return -1;
    fx_init(&F, "btt-test");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(&F);
    return 0;
}

/* Gives user i some BTT from the investors pool. */
static void fund(int i, uint64_t whole)
{
    assert_reason(fx_transfer(&F, F.pool[BTT_POOL_INVESTORS], fx_acct(F.user[i]), fx_btt(whole), T0),
                  BTT_LEDGER_OK);
}

/* ------------------------------------------------------------------ genesis and happy paths */

static void test_genesis_state(void **state)
{
    (void)state;
    assert_int_equal(btt_ledger_num_accounts(F.l), BTT_POOL_COUNT);
    assert_int_equal(btt_ledger_num_channels(F.l), 0);
    assert_int_equal(btt_ledger_height(F.l), 0);
    assert_int_equal(btt_ledger_check_invariant(F.l, NULL), BTT_OK);
    static const uint64_t pct[BTT_POOL_COUNT] = {40, 10, 20, 20, 10};
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        btt_ledger_account_info info;
        assert_true(btt_ledger_account_get(F.l, fx_acct(F.pool[p]), &info));
        assert_int_equal(btt_amount_units(info.balance), BTT_SUPPLY_UNITS / 100 * pct[p]);
        assert_int_equal(info.nonce, 0);
        assert_false(info.faucet_used);
    }
    /* the id commits to the genesis */
    uint8_t id[32];
    assert_int_equal(btt_genesis_ledger_id(&F.g, id, NULL), BTT_OK);
    assert_memory_equal(id, F.id, 32);
    btt_genesis g2 = F.g;
    g2.pool_bp[0]--, g2.pool_bp[1]++;
    uint8_t id2[32];
    assert_int_equal(btt_genesis_ledger_id(&g2, id2, NULL), BTT_OK);
    assert_memory_not_equal(id, id2, 32);
}

static void test_transfer(void **state)
{
    (void)state;
    btt_ledger_op op;
    const btt_wallet *from = F.pool[BTT_POOL_TRX_HOLDERS];
    uint64_t before = fx_balance_units(&F, from);
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, fx_acct(from), 1);
    op.to = *fx_acct(F.user[0]);
    op.amount = fx_units(12500000);
    btt_ledger_receipt rc;
    /* validate first: same verdict, nothing changes */
    assert_int_equal(btt_ledger_op_sign(&op, F.id, from), BTT_OK);
    assert_int_equal(btt_ledger_validate(F.l, &op, T0, &rc, NULL), BTT_OK);
    assert_int_equal(btt_ledger_height(F.l), 0);
    assert_int_equal(btt_ledger_num_accounts(F.l), BTT_POOL_COUNT);
    assert_reason(fx_apply_signed(&F, &op, T0, &rc), BTT_LEDGER_OK);
    assert_int_equal(rc.height, 1);
    assert_int_equal(rc.time, T0);
    assert_int_equal(btt_amount_units(rc.amount), 12500000);
    assert_int_equal(btt_amount_units(rc.balance), before - 12500000);
    assert_int_equal(fx_balance_units(&F, F.user[0]), 12500000);
    assert_int_equal(fx_next_nonce(&F, from), 2);
    assert_int_equal(fx_next_nonce(&F, F.user[0]), 1); /* receiving does not use a nonce */
    assert_int_equal(btt_ledger_num_accounts(F.l), BTT_POOL_COUNT + 1);

    btt_buf b;
    btt_buf_init(&b, 1024);
    assert_int_equal(btt_ledger_receipt_encode(&rc, &b), BTT_OK);
    assert_int_equal(btt_buf_append_byte(&b, 0), BTT_OK);
    assert_string_equal((char *)b.data, "d6:amounti12500000e7:balancei" "98999999987500000" "e6:heighti1e6:reason2:ok4:timei1000000e4:type8:transfere");
    btt_buf_free(&b);

    /* a zero amount and a transfer to oneself are refused */
    assert_reason(fx_transfer(&F, from, fx_acct(F.user[0]), BTT_AMOUNT_ZERO, T0), BTT_LEDGER_ZERO_AMOUNT);
    assert_reason(fx_transfer(&F, from, fx_acct(from), fx_btt(1), T0), BTT_LEDGER_SELF);
    /* to a key nobody can sign for: refused (the funds would be lost) */
    btt_account dead;
    memset(&dead, 0, sizeof dead);
    assert_reason(fx_transfer(&F, from, &dead, fx_btt(1), T0), BTT_LEDGER_BAD_KEY);
}

static void test_faucet(void **state)
{
    (void)state;
    const btt_wallet *u = F.user[1];
    uint64_t pool = fx_balance_units(&F, F.pool[BTT_POOL_ONBOARDING]);
    assert_reason(fx_faucet(&F, u, T0), BTT_LEDGER_OK);
    assert_int_equal(fx_balance_units(&F, u), 100 * BTT_UNITS_PER_BTT);
    assert_int_equal(fx_balance_units(&F, F.pool[BTT_POOL_ONBOARDING]), pool - 100 * BTT_UNITS_PER_BTT);
    btt_ledger_account_info info;
    assert_true(btt_ledger_account_get(F.l, fx_acct(u), &info));
    assert_true(info.faucet_used);
    assert_int_equal(info.nonce, 1);
    /* the onboarding pool itself cannot claim */
    assert_reason(fx_faucet(&F, F.pool[BTT_POOL_ONBOARDING], T0), BTT_LEDGER_SELF);
}

static void test_channel_lifecycle(void **state)
{
    (void)state;
    fund(2, 1000);
    const btt_wallet *payer = F.user[2], *payee = F.user[3];
    uint8_t ch[32];
    assert_reason(fx_open(&F, payer, payee, fx_btt(100), T0 + 3600, T0, ch), BTT_LEDGER_OK);
    assert_int_equal(fx_balance_units(&F, payer), 900 * BTT_UNITS_PER_BTT);
    btt_ledger_channel_info ci;
    assert_true(btt_ledger_channel_get(F.l, ch, &ci));
    assert_int_equal(btt_amount_units(ci.deposit), 100 * BTT_UNITS_PER_BTT);
    assert_int_equal(ci.expiry, T0 + 3600);
    assert_true(btt_account_eq(&ci.payer, fx_acct(payer)));
    assert_true(btt_account_eq(&ci.payee, fx_acct(payee)));

    /* off-ledger: vouchers 1..50 for 1 BTT each */
    btt_voucher v[51];
    for (int i = 1; i <= 50; i++) {
        v[i] = fx_voucher(&F, payer, ch, (uint64_t)i * BTT_UNITS_PER_BTT, (uint64_t)i);
        assert_true(btt_voucher_verify(&v[i], F.id, &ci.payer));
    }
    /* payee claims 20 without closing (payee's account is created by its first operation) */
    btt_ledger_receipt rc;
    assert_reason(fx_settle(&F, payee, ch, &v[20], false, T0 + 10, &rc), BTT_LEDGER_OK);
    assert_int_equal(btt_amount_units(rc.amount), 20 * BTT_UNITS_PER_BTT);
    assert_int_equal(fx_balance_units(&F, payee), 20 * BTT_UNITS_PER_BTT);
    assert_true(btt_ledger_channel_get(F.l, ch, &ci));
    assert_int_equal(btt_amount_units(ci.claimed), 20 * BTT_UNITS_PER_BTT);
    assert_int_equal(ci.seq, 20);
    /* payer tops up 50 and extends */
    assert_reason(fx_topup(&F, payer, ch, fx_btt(50), T0 + 7200, T0 + 20), BTT_LEDGER_OK);
    assert_true(btt_ledger_channel_get(F.l, ch, &ci));
    assert_int_equal(btt_amount_units(ci.deposit), 150 * BTT_UNITS_PER_BTT);
    assert_int_equal(ci.expiry, T0 + 7200);
    /* shortening is refused, and so is a top-up that changes nothing; extending alone is fine */
    assert_reason(fx_topup(&F, payer, ch, fx_btt(1), T0 + 7100, T0 + 20), BTT_LEDGER_BAD_EXPIRY);
    assert_reason(fx_topup(&F, payer, ch, BTT_AMOUNT_ZERO, T0 + 7200, T0 + 20), BTT_LEDGER_NO_CHANGE);
    assert_reason(fx_topup(&F, payer, ch, BTT_AMOUNT_ZERO, T0 + 7300, T0 + 20), BTT_LEDGER_OK);
    /* a voucher above the deposit is refused */
    btt_voucher big = fx_voucher(&F, payer, ch, 151 * BTT_UNITS_PER_BTT, 60);
    assert_reason(fx_settle(&F, payee, ch, &big, true, T0 + 30, NULL), BTT_LEDGER_VOUCHER_EXCEEDS);
    /* payee closes with voucher 50: gets 30 more, payer gets 100 back */
    assert_reason(fx_settle(&F, payee, ch, &v[50], true, T0 + 30, &rc), BTT_LEDGER_OK);
    assert_int_equal(btt_amount_units(rc.amount), 30 * BTT_UNITS_PER_BTT);
    assert_int_equal(btt_amount_units(rc.refunded), 100 * BTT_UNITS_PER_BTT);
    assert_int_equal(fx_balance_units(&F, payee), 50 * BTT_UNITS_PER_BTT);
    assert_int_equal(fx_balance_units(&F, payer), 950 * BTT_UNITS_PER_BTT);
    assert_false(btt_ledger_channel_get(F.l, ch, &ci));
    assert_int_equal(btt_ledger_num_channels(F.l), 0);

    btt_buf b;
    btt_buf_init(&b, 1024);
    assert_int_equal(btt_ledger_receipt_encode(&rc, &b), BTT_OK);
    btt_ben_doc *doc;
    assert_int_equal(btt_ben_decode(b.data, b.len, 0, NULL, &doc, NULL), BTT_OK); /* canonical */
    int64_t x;
    assert_true(btt_ben_get_int(btt_ben_dict_get(btt_ben_root(doc), "refunded"), &x));
    assert_int_equal(x, 100 * BTT_UNITS_PER_BTT);
    btt_ben_free(doc);
    btt_buf_free(&b);
}

static void test_close_without_voucher_and_refund(void **state)
{
    (void)state;
    fund(4, 10);
    const btt_wallet *payer = F.user[4], *payee = F.user[5];
    uint8_t c1[32], c2[32];
    assert_reason(fx_open(&F, payer, payee, fx_btt(4), T0 + 100, T0, c1), BTT_LEDGER_OK);
    assert_reason(fx_open(&F, payer, payee, fx_btt(5), T0 + 100, T0, c2), BTT_LEDGER_OK);
    assert_memory_not_equal(c1, c2, 32);
    /* payee releases c1 without a voucher: everything goes back */
    btt_ledger_receipt rc;
    assert_reason(fx_settle(&F, payee, c1, NULL, true, T0 + 1, &rc), BTT_LEDGER_OK);
    assert_int_equal(btt_amount_units(rc.refunded), 4 * BTT_UNITS_PER_BTT);
    assert_int_equal(fx_balance_units(&F, payer), 5 * BTT_UNITS_PER_BTT);
    /* c2: payee claims 2, vanishes; payer refunds the other 3 at expiry */
    btt_voucher v = fx_voucher(&F, payer, c2, 2 * BTT_UNITS_PER_BTT, 1);
    assert_reason(fx_settle(&F, payee, c2, &v, false, T0 + 2, NULL), BTT_LEDGER_OK);
    assert_reason(fx_refund(&F, payer, c2, T0 + 100, &rc), BTT_LEDGER_OK);
    assert_int_equal(btt_amount_units(rc.amount), 3 * BTT_UNITS_PER_BTT);
    assert_int_equal(fx_balance_units(&F, payer), 8 * BTT_UNITS_PER_BTT);
    assert_int_equal(fx_balance_units(&F, payee), 2 * BTT_UNITS_PER_BTT);
    assert_int_equal(btt_ledger_num_channels(F.l), 0);
    /* open needs a future expiry, a positive amount and another payee */
    assert_reason(fx_open(&F, payer, payee, fx_btt(1), T0 + 100, T0 + 100, NULL), BTT_LEDGER_BAD_EXPIRY);
    assert_reason(fx_open(&F, payer, payee, BTT_AMOUNT_ZERO, T0 + 500, T0 + 100, NULL), BTT_LEDGER_ZERO_AMOUNT);
    assert_reason(fx_open(&F, payer, payer, fx_btt(1), T0 + 500, T0 + 100, NULL), BTT_LEDGER_SELF);
}

static void test_time_never_runs_backwards(void **state)
{
    (void)state;
    fund(6, 10);
    uint64_t t = btt_ledger_time(F.l);
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, NULL, fx_next_nonce(&F, F.user[6]));
    op.to = *fx_acct(F.user[7]);
    op.amount = fx_btt(1);
    btt_ledger_receipt rc;
    assert_reason(fx_submit(&F, &op, F.user[6], 5, &rc), BTT_LEDGER_OK);
    assert_int_equal(rc.time, t);
    assert_int_equal(btt_ledger_time(F.l), t);
    /* so a channel cannot be refunded early by passing an old clock either: expiry is checked
     * against the clamped time */
    uint8_t ch[32];
    assert_reason(fx_open(&F, F.user[6], F.user[7], fx_btt(1), t + 10, t, ch), BTT_LEDGER_OK);
    assert_reason(fx_refund(&F, F.user[6], ch, 0, NULL), BTT_LEDGER_NOT_EXPIRED);
}

/* ------------------------------------------------------------------ attacks, one per test */

static void test_attack_replay(void **state)
{
    (void)state;
    fund(0, 10);
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, NULL, fx_next_nonce(&F, F.user[0]));
    op.to = *fx_acct(F.user[1]);
    op.amount = fx_btt(1);
    assert_reason(fx_submit(&F, &op, F.user[0], T0, NULL), BTT_LEDGER_OK);
    uint64_t b0 = fx_balance_units(&F, F.user[0]), h = btt_ledger_height(F.l);
    for (int i = 0; i < 3; i++) assert_reason(fx_apply_signed(&F, &op, T0 + 1, NULL), BTT_LEDGER_BAD_NONCE);
    assert_int_equal(fx_balance_units(&F, F.user[0]), b0);
    assert_int_equal(btt_ledger_height(F.l), h);
    /* nonces must be exactly the next one: skipping ahead is refused too */
    op.nonce += 2;
    assert_reason(fx_submit(&F, &op, F.user[0], T0, NULL), BTT_LEDGER_BAD_NONCE);
    /* replay on another ledger (same pools, different name): the signature covers the ledger id */
    fx other;
    fx_init(&other, "btt-other");
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, NULL, 1);
    op.to = *fx_acct(F.user[1]);
    op.amount = fx_btt(1);
    assert_int_equal(btt_ledger_op_sign(&op, other.id, F.pool[BTT_POOL_TRON]), BTT_OK);
    assert_reason(fx_apply_signed(&other, &op, T0, NULL), BTT_LEDGER_OK);
    assert_int_equal(fx_next_nonce(&F, F.pool[BTT_POOL_TRON]), 1);
    assert_reason(fx_apply_signed(&F, &op, T0, NULL), BTT_LEDGER_BAD_SIGNATURE);
    fx_free(&other);
}

static void test_attack_forged_signature(void **state)
{
    (void)state;
    fund(0, 10);
    const btt_wallet *victim = F.user[0], *thief = F.user[1];
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, NULL, fx_next_nonce(&F, victim));
    op.to = *fx_acct(thief);
    op.amount = fx_btt(5);
    assert_int_equal(btt_ledger_op_sign(&op, F.id, thief), BTT_OK);
    op.signer = *fx_acct(victim); /* claims to be the victim */
    assert_reason(fx_apply_signed(&F, &op, T0, NULL), BTT_LEDGER_BAD_SIGNATURE);
    randombytes_buf(op.sig, sizeof op.sig);
    assert_reason(fx_apply_signed(&F, &op, T0, NULL), BTT_LEDGER_BAD_SIGNATURE);
    memset(op.sig, 0, sizeof op.sig);
    assert_reason(fx_apply_signed(&F, &op, T0, NULL), BTT_LEDGER_BAD_SIGNATURE);
    /* a genuine signature, then a changed field */
    assert_int_equal(btt_ledger_op_sign(&op, F.id, victim), BTT_OK);
    op.amount = fx_btt(6);
    assert_reason(fx_apply_signed(&F, &op, T0, NULL), BTT_LEDGER_BAD_SIGNATURE);
    op.amount = fx_btt(5);
    op.to = *fx_acct(F.user[2]);
    assert_reason(fx_apply_signed(&F, &op, T0, NULL), BTT_LEDGER_BAD_SIGNATURE);
}

/* S + L (the group order) is the classic Ed25519 malleation: same R, "equivalent" S. */
static void add_group_order(uint8_t s[32])
{
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned v = s[i] + L[i] + carry;
        s[i] = (uint8_t)v;
        carry = v >> 8;
    }
}

static void test_attack_malleated_signature(void **state)
{
    (void)state;
    fund(0, 10);
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, NULL, fx_next_nonce(&F, F.user[0]));
    op.to = *fx_acct(F.user[1]);
    op.amount = fx_btt(1);
    assert_int_equal(btt_ledger_op_sign(&op, F.id, F.user[0]), BTT_OK);
    btt_ledger_op m = op;
    for (int bit = 0; bit < 512; bit++) { /* R is bytes 0..31, S bytes 32..63 */
        m = op;
        m.sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_reason(fx_apply_signed(&F, &m, T0, NULL), BTT_LEDGER_BAD_SIGNATURE);
    }
    m = op;
    add_group_order(m.sig + 32);
    assert_reason(fx_apply_signed(&F, &m, T0, NULL), BTT_LEDGER_BAD_SIGNATURE);
    /* the untouched original still works */
    assert_reason(fx_apply_signed(&F, &op, T0, NULL), BTT_LEDGER_OK);
    /* the same for a voucher */
    uint8_t ch[32];
    assert_reason(fx_open(&F, F.user[0], F.user[1], fx_btt(2), T0 + 100, T0, ch), BTT_LEDGER_OK);
    btt_voucher v = fx_voucher(&F, F.user[0], ch, 1000, 1), mv = v;
    add_group_order(mv.sig + 32);
    assert_false(btt_voucher_verify(&mv, F.id, fx_acct(F.user[0])));
    assert_reason(fx_settle(&F, F.user[1], ch, &mv, false, T0, NULL), BTT_LEDGER_BAD_VOUCHER_SIGNATURE);
    for (int bit = 0; bit < 512; bit += 7) {
        mv = v;
        mv.sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_reason(fx_settle(&F, F.user[1], ch, &mv, false, T0, NULL), BTT_LEDGER_BAD_VOUCHER_SIGNATURE);
    }
    assert_reason(fx_settle(&F, F.user[1], ch, &v, false, T0, NULL), BTT_LEDGER_OK);
}

static void test_attack_overdraft(void **state)
{
    (void)state;
    fund(0, 10);
    const btt_wallet *u = F.user[0];
    assert_reason(fx_transfer(&F, u, fx_acct(F.user[1]), fx_units(10 * BTT_UNITS_PER_BTT + 1), T0),
                  BTT_LEDGER_INSUFFICIENT);
    assert_reason(fx_open(&F, u, F.user[1], fx_units(10 * BTT_UNITS_PER_BTT + 1), T0 + 10, T0, NULL),
                  BTT_LEDGER_INSUFFICIENT);
    uint8_t ch[32];
    assert_reason(fx_open(&F, u, F.user[1], fx_btt(6), T0 + 10, T0, ch), BTT_LEDGER_OK);
    assert_reason(fx_topup(&F, u, ch, fx_btt(5), T0 + 10, T0), BTT_LEDGER_INSUFFICIENT);
    assert_reason(fx_transfer(&F, u, fx_acct(F.user[1]), fx_btt(5), T0), BTT_LEDGER_INSUFFICIENT);
    /* exactly everything is fine */
    assert_reason(fx_transfer(&F, u, fx_acct(F.user[1]), fx_btt(4), T0), BTT_LEDGER_OK);
    assert_int_equal(fx_balance_units(&F, u), 0);
    assert_reason(fx_transfer(&F, u, fx_acct(F.user[1]), fx_units(1), T0), BTT_LEDGER_INSUFFICIENT);
}

static void test_attack_amount_overflow(void **state)
{
    (void)state;
    const btt_wallet *pool = F.pool[BTT_POOL_ONBOARDING];
    btt_ledger_op op;
    /* amounts above the supply cannot be made through the API ... */
    btt_amount a;
    assert_false(btt_amount_from_units(UINT64_MAX, &a));
    assert_false(btt_amount_from_units(BTT_SUPPLY_UNITS + 1, &a));
    /* ... nor decoded (the ops tests cover the decoder); forced in memory, the ledger refuses them */
    uint64_t raws[] = {BTT_SUPPLY_UNITS + 1, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof raws / sizeof *raws; i++) {
        btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, fx_acct(pool), fx_next_nonce(&F, pool));
        op.to = *fx_acct(F.user[0]);
        op.amount = BTT_AMOUNT_UNITS(raws[i]);
        btt_err se = btt_ledger_op_sign(&op, F.id, pool); /* fails above INT64_MAX: unencodable */
        assert_int_equal(se, raws[i] > (uint64_t)INT64_MAX ? BTT_EINVAL : BTT_OK);
        assert_reason(fx_apply_signed(&F, &op, T0, NULL), BTT_LEDGER_MALFORMED);
    }
    /* a voucher promising more than the supply */
    fund(0, 10);
    uint8_t ch[32];
    assert_reason(fx_open(&F, F.user[0], F.user[1], fx_btt(5), T0 + 10, T0, ch), BTT_LEDGER_OK);
    uint64_t cums[] = {BTT_SUPPLY_UNITS + 1, UINT64_MAX};
    for (size_t i = 0; i < 2; i++) {
        btt_ledger_op_init(&op, BTT_LEDGER_CLOSE, fx_acct(F.user[1]), fx_next_nonce(&F, F.user[1]));
        memcpy(op.channel, ch, 32);
        op.has_voucher = true;
        memcpy(op.voucher.channel, ch, 32);
        op.voucher.cumulative = BTT_AMOUNT_UNITS(cums[i]);
        op.voucher.seq = 1;
        btt_voucher_sign(&op.voucher, F.id, F.user[0]);
        btt_err se = btt_ledger_op_sign(&op, F.id, F.user[1]); /* unencodable above INT64_MAX */
        assert_int_equal(se, i == 0 ? BTT_OK : BTT_EINVAL);
        assert_reason(fx_apply_signed(&F, &op, T0, NULL), BTT_LEDGER_MALFORMED);
    }
    /* the whole supply moves without overflowing anything */
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        btt_amount bal = fx_balance(&F, F.pool[p]);
        if (!btt_amount_is_zero(bal)) assert_reason(fx_transfer(&F, F.pool[p], fx_acct(F.user[2]), bal, T0), BTT_LEDGER_OK);
    }
    assert_reason(fx_transfer(&F, F.user[0], fx_acct(F.user[2]), fx_balance(&F, F.user[0]), T0), BTT_LEDGER_OK);
    assert_int_equal(fx_balance_units(&F, F.user[2]), BTT_SUPPLY_UNITS - 5 * BTT_UNITS_PER_BTT);
    assert_reason(fx_settle(&F, F.user[1], ch, NULL, true, T0, NULL), BTT_LEDGER_OK);
    assert_reason(fx_transfer(&F, F.user[0], fx_acct(F.user[2]), fx_balance(&F, F.user[0]), T0), BTT_LEDGER_OK);
    assert_int_equal(fx_balance_units(&F, F.user[2]), BTT_SUPPLY_UNITS);
    /* and the faucet pool is now empty */
    assert_reason(fx_faucet(&F, F.user[3], T0), BTT_LEDGER_FAUCET_EMPTY);
}

static void test_attack_old_voucher(void **state)
{
    (void)state;
    fund(0, 100);
    const btt_wallet *payer = F.user[0], *payee = F.user[1];
    uint8_t ch[32];
    assert_reason(fx_open(&F, payer, payee, fx_btt(50), T0 + 100, T0, ch), BTT_LEDGER_OK);
    btt_voucher v1 = fx_voucher(&F, payer, ch, 10 * BTT_UNITS_PER_BTT, 1);
    btt_voucher v2 = fx_voucher(&F, payer, ch, 20 * BTT_UNITS_PER_BTT, 2);
    btt_voucher v3 = fx_voucher(&F, payer, ch, 30 * BTT_UNITS_PER_BTT, 3);
    assert_reason(fx_settle(&F, payee, ch, &v2, false, T0 + 1, NULL), BTT_LEDGER_OK);
    assert_reason(fx_settle(&F, payee, ch, &v1, false, T0 + 2, NULL), BTT_LEDGER_STALE_VOUCHER);
    assert_reason(fx_settle(&F, payee, ch, &v1, true, T0 + 2, NULL), BTT_LEDGER_STALE_VOUCHER);
    assert_reason(fx_settle(&F, payee, ch, &v2, true, T0 + 2, NULL), BTT_LEDGER_STALE_VOUCHER);
    /* a newer seq with a smaller amount cannot claw back what was claimed */
    btt_voucher low = fx_voucher(&F, payer, ch, 5 * BTT_UNITS_PER_BTT, 9);
    assert_reason(fx_settle(&F, payee, ch, &low, true, T0 + 2, NULL), BTT_LEDGER_VOUCHER_BELOW_CLAIMED);
    btt_ledger_receipt rc;
    assert_reason(fx_settle(&F, payee, ch, &v3, true, T0 + 3, &rc), BTT_LEDGER_OK);
    assert_int_equal(btt_amount_units(rc.amount), 10 * BTT_UNITS_PER_BTT);
    assert_int_equal(fx_balance_units(&F, payee), 30 * BTT_UNITS_PER_BTT);
    assert_int_equal(fx_balance_units(&F, payer), 70 * BTT_UNITS_PER_BTT);
    /* after the close no voucher does anything */
    assert_reason(fx_settle(&F, payee, ch, &v1, true, T0 + 4, NULL), BTT_LEDGER_NO_CHANNEL);
}

static void test_attack_voucher_other_channel(void **state)
{
    (void)state;
    fund(0, 100);
    const btt_wallet *payer = F.user[0], *payee = F.user[1];
    uint8_t small[32], big[32];
    assert_reason(fx_open(&F, payer, payee, fx_btt(1), T0 + 100, T0, small), BTT_LEDGER_OK);
    assert_reason(fx_open(&F, payer, payee, fx_btt(50), T0 + 100, T0, big), BTT_LEDGER_OK);
    /* a voucher for 1 BTT in `small` presented on `big`, with and without its channel field fixed */
    btt_voucher v = fx_voucher(&F, payer, small, BTT_UNITS_PER_BTT, 1);
    assert_reason(fx_settle(&F, payee, big, &v, true, T0, NULL), BTT_LEDGER_BAD_VOUCHER_SIGNATURE);
    memcpy(v.channel, big, 32);
    assert_reason(fx_settle(&F, payee, big, &v, true, T0, NULL), BTT_LEDGER_BAD_VOUCHER_SIGNATURE);
    /* a voucher signed by someone other than the payer (the payee itself) */
    fund(2, 1);
    btt_voucher w = fx_voucher(&F, payee, big, 50 * BTT_UNITS_PER_BTT, 1);
    assert_reason(fx_settle(&F, payee, big, &w, true, T0, NULL), BTT_LEDGER_BAD_VOUCHER_SIGNATURE);
    assert_int_equal(btt_ledger_num_channels(F.l), 2);
}

static void test_attack_voucher_other_ledger(void **state)
{
    (void)state;
    fund(0, 100);
    const btt_wallet *payer = F.user[0], *payee = F.user[1];
    uint8_t ch[32];
    assert_reason(fx_open(&F, payer, payee, fx_btt(10), T0 + 100, T0, ch), BTT_LEDGER_OK);
    uint8_t other_id[32];
    memcpy(other_id, F.id, 32);
    other_id[5] ^= 0x20;
    btt_voucher v;
    memset(&v, 0, sizeof v);
    memcpy(v.channel, ch, 32);
    v.cumulative = fx_btt(10);
    v.seq = 1;
    btt_voucher_sign(&v, other_id, payer);
    assert_true(btt_voucher_verify(&v, other_id, fx_acct(payer)));
    assert_reason(fx_settle(&F, payee, ch, &v, true, T0, NULL), BTT_LEDGER_BAD_VOUCHER_SIGNATURE);
}

static void test_attack_refund_before_expiry(void **state)
{
    (void)state;
    fund(0, 100);
    const btt_wallet *payer = F.user[0], *payee = F.user[1];
    uint8_t ch[32];
    assert_reason(fx_open(&F, payer, payee, fx_btt(10), T0 + 100, T0, ch), BTT_LEDGER_OK);
    btt_voucher v = fx_voucher(&F, payer, ch, 7 * BTT_UNITS_PER_BTT, 1); /* promised, not yet claimed */
    assert_reason(fx_refund(&F, payer, ch, T0, NULL), BTT_LEDGER_NOT_EXPIRED);
    assert_reason(fx_refund(&F, payer, ch, T0 + 99, NULL), BTT_LEDGER_NOT_EXPIRED);
    /* the payee can still collect until expiry */
    assert_reason(fx_settle(&F, payee, ch, &v, true, T0 + 99, NULL), BTT_LEDGER_OK);
    assert_int_equal(fx_balance_units(&F, payee), 7 * BTT_UNITS_PER_BTT);
    assert_reason(fx_refund(&F, payer, ch, T0 + 200, NULL), BTT_LEDGER_NO_CHANNEL);
    /* only the payer may refund */
    assert_reason(fx_open(&F, payer, payee, fx_btt(10), T0 + 300, T0 + 200, ch), BTT_LEDGER_OK);
    assert_reason(fx_refund(&F, payee, ch, T0 + 400, NULL), BTT_LEDGER_NOT_PAYER);
    assert_reason(fx_refund(&F, payer, ch, T0 + 400, NULL), BTT_LEDGER_OK);
}

static void test_attack_close_after_refund(void **state)
{
    (void)state;
    fund(0, 100);
    const btt_wallet *payer = F.user[0], *payee = F.user[1];
    uint8_t ch[32];
    assert_reason(fx_open(&F, payer, payee, fx_btt(10), T0 + 100, T0, ch), BTT_LEDGER_OK);
    btt_voucher v = fx_voucher(&F, payer, ch, 7 * BTT_UNITS_PER_BTT, 1);
    /* the payee's window closes at expiry, refund or not: no race at the boundary */
    assert_reason(fx_settle(&F, payee, ch, &v, true, T0 + 100, NULL), BTT_LEDGER_EXPIRED);
    assert_reason(fx_settle(&F, payee, ch, &v, false, T0 + 150, NULL), BTT_LEDGER_EXPIRED);
    assert_reason(fx_topup(&F, payer, ch, fx_btt(1), T0 + 500, T0 + 150), BTT_LEDGER_EXPIRED);
    assert_reason(fx_refund(&F, payer, ch, T0 + 150, NULL), BTT_LEDGER_OK);
    assert_int_equal(fx_balance_units(&F, payer), 100 * BTT_UNITS_PER_BTT);
    assert_reason(fx_settle(&F, payee, ch, &v, true, T0 + 151, NULL), BTT_LEDGER_NO_CHANNEL);
    assert_reason(fx_refund(&F, payer, ch, T0 + 152, NULL), BTT_LEDGER_NO_CHANNEL); /* refund twice */
    assert_int_equal(fx_balance_units(&F, payer), 100 * BTT_UNITS_PER_BTT);
}

static void test_attack_faucet_twice(void **state)
{
    (void)state;
    const btt_wallet *u = F.user[4];
    assert_reason(fx_faucet(&F, u, T0), BTT_LEDGER_OK);
    assert_reason(fx_faucet(&F, u, T0), BTT_LEDGER_FAUCET_USED);
    /* also after spending it all */
    assert_reason(fx_transfer(&F, u, fx_acct(F.user[5]), fx_btt(100), T0), BTT_LEDGER_OK);
    assert_reason(fx_faucet(&F, u, T0), BTT_LEDGER_FAUCET_USED);
    assert_int_equal(fx_balance_units(&F, u), 0);
    /* an account that first received a transfer can still claim once */
    assert_reason(fx_faucet(&F, F.user[5], T0), BTT_LEDGER_OK);
    assert_reason(fx_faucet(&F, F.user[5], T0), BTT_LEDGER_FAUCET_USED);
}

static void test_attack_faucet_wrong_proof(void **state)
{
    (void)state;
    const btt_wallet *u = F.user[6], *other = F.user[7];
    btt_ledger_op op;
    /* a nonce that does not meet the difficulty */
    btt_ledger_op_init(&op, BTT_LEDGER_FAUCET, fx_acct(u), 1);
    for (op.work = 0; btt_pow_check(F.id, fx_acct(u), op.work, FX_BITS); op.work++) {}
    assert_reason(fx_submit(&F, &op, u, T0, NULL), BTT_LEDGER_BAD_WORK);
    /* work done for another account */
    assert_int_equal(btt_pow_solve(F.id, fx_acct(other), FX_BITS, 0, NULL, NULL, NULL, &op.work, NULL), BTT_OK);
    if (!btt_pow_check(F.id, fx_acct(u), op.work, FX_BITS)) /* (unless it happens to fit both) */
        assert_reason(fx_submit(&F, &op, u, T0, NULL), BTT_LEDGER_BAD_WORK);
    /* work done for another ledger */
    uint8_t other_id[32];
    memcpy(other_id, F.id, 32);
    other_id[0] ^= 1;
    assert_int_equal(btt_pow_solve(other_id, fx_acct(u), FX_BITS, 0, NULL, NULL, NULL, &op.work, NULL), BTT_OK);
    if (!btt_pow_check(F.id, fx_acct(u), op.work, FX_BITS))
        assert_reason(fx_submit(&F, &op, u, T0, NULL), BTT_LEDGER_BAD_WORK);
    /* the work is covered by the signature: swapping in a valid nonce after signing breaks it */
    assert_int_equal(btt_pow_solve(F.id, fx_acct(u), FX_BITS, 0, NULL, NULL, NULL, &op.work, NULL), BTT_OK);
    btt_ledger_op signed_op = op;
    signed_op.work = op.work + 1;
    assert_int_equal(btt_ledger_op_sign(&signed_op, F.id, u), BTT_OK);
    signed_op.work = op.work;
    assert_reason(fx_apply_signed(&F, &signed_op, T0, NULL), BTT_LEDGER_BAD_SIGNATURE);
    assert_int_equal(fx_balance_units(&F, u), 0);
    assert_reason(fx_submit(&F, &op, u, T0, NULL), BTT_LEDGER_OK);
}

static void test_attack_transfer_from_nonexistent(void **state)
{
    (void)state;
    btt_wallet *ghost = fx_wallet(0xC0, 1);
    assert_false(btt_ledger_account_get(F.l, fx_acct(ghost), &(btt_ledger_account_info){0}));
    assert_reason(fx_transfer(&F, ghost, fx_acct(F.user[0]), fx_units(1), T0), BTT_LEDGER_NO_ACCOUNT);
    assert_reason(fx_open(&F, ghost, F.user[0], fx_units(1), T0 + 5, T0, NULL), BTT_LEDGER_NO_ACCOUNT);
    /* the rejected operations created nothing */
    assert_false(btt_ledger_account_get(F.l, fx_acct(ghost), &(btt_ledger_account_info){0}));
    assert_int_equal(btt_ledger_num_accounts(F.l), BTT_POOL_COUNT);
    btt_wallet_free(ghost);
}

static void test_attack_topup_by_non_payer(void **state)
{
    (void)state;
    fund(0, 100);
    fund(2, 100);
    const btt_wallet *payer = F.user[0], *payee = F.user[1];
    uint8_t ch[32];
    assert_reason(fx_open(&F, payer, payee, fx_btt(10), T0 + 100, T0, ch), BTT_LEDGER_OK);
    /* a stranger with funds, and the payee (who would like a later expiry) */
    assert_reason(fx_topup(&F, F.user[2], ch, fx_btt(1), T0 + 1000, T0), BTT_LEDGER_NOT_PAYER);
    assert_reason(fx_topup(&F, payee, ch, BTT_AMOUNT_ZERO, T0 + 1000, T0), BTT_LEDGER_NOT_PAYER);
    /* and the mirror image: the payer cannot claim or close its own channel */
    btt_voucher v = fx_voucher(&F, payer, ch, 0, 1);
    assert_reason(fx_settle(&F, payer, ch, &v, true, T0, NULL), BTT_LEDGER_NOT_PAYEE);
    assert_reason(fx_settle(&F, F.user[2], ch, NULL, true, T0, NULL), BTT_LEDGER_NOT_PAYEE);
    btt_ledger_channel_info ci;
    assert_true(btt_ledger_channel_get(F.l, ch, &ci));
    assert_int_equal(ci.expiry, T0 + 100);
    assert_int_equal(btt_amount_units(ci.deposit), 10 * BTT_UNITS_PER_BTT);
    /* unknown channel */
    uint8_t nope[32];
    memset(nope, 7, sizeof nope);
    assert_reason(fx_topup(&F, payer, nope, fx_btt(1), T0 + 1000, T0), BTT_LEDGER_NO_CHANNEL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* apply_verified trusts the caller's check of the operation's signature and nothing else: the
 * nonce, the funds and a voucher's signature are still checked. */
static void test_apply_verified(void **state)
{
    (void)state;
    fund(0, 1000);
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, fx_acct(F.user[0]), fx_next_nonce(&F, F.user[0]));
    op.to = *fx_acct(F.user[1]);
    op.amount = fx_btt(1);
    assert_int_equal(btt_ledger_op_sign(&op, F.id, F.user[0]), BTT_OK);
    btt_ledger_receipt rc;
    /* the same op with a wrong nonce is refused although "verified" */
    btt_ledger_op stale = op;
    stale.nonce += 5;
    assert_int_equal(btt_ledger_apply_verified(F.l, &stale, T0, &rc, NULL), BTT_ELEDGER);
    assert_int_equal(rc.reason, BTT_LEDGER_BAD_NONCE);
    /* an overdraft too */
    btt_ledger_op big = op;
    big.amount = fx_btt(5000);
    assert_int_equal(btt_ledger_apply_verified(F.l, &big, T0, &rc, NULL), BTT_ELEDGER);
    assert_int_equal(rc.reason, BTT_LEDGER_INSUFFICIENT);
    assert_int_equal(btt_ledger_apply_verified(F.l, &op, T0, &rc, NULL), BTT_OK);
    assert_true(btt_amount_eq(fx_balance(&F, F.user[1]), fx_btt(1)));

    /* a close whose voucher is forged is refused even when the op's signature was "verified" */
    uint8_t ch[32];
    assert_reason(fx_open(&F, F.user[0], F.user[2], fx_btt(10), T0 + 1000, T0, ch), BTT_LEDGER_OK);
    btt_voucher v = fx_voucher(&F, F.user[0], ch, 5 * BTT_UNITS_PER_BTT, 1);
    v.sig[7] ^= 1;
    btt_ledger_op close;
    btt_ledger_op_init(&close, BTT_LEDGER_CLOSE, fx_acct(F.user[2]), fx_next_nonce(&F, F.user[2]));
    memcpy(close.channel, ch, 32);
    close.has_voucher = true;
    close.voucher = v;
    assert_int_equal(btt_ledger_op_sign(&close, F.id, F.user[2]), BTT_OK);
    assert_int_equal(btt_ledger_apply_verified(F.l, &close, T0, &rc, NULL), BTT_ELEDGER);
    assert_int_equal(rc.reason, BTT_LEDGER_BAD_VOUCHER_SIGNATURE);
    assert_int_equal(btt_ledger_check_invariant(F.l, NULL), BTT_OK);
}

/* Throughput of apply (one signature check each) against raw Ed25519 verification; printed. */
static void test_apply_rate(void **state)
{
    (void)state;
    enum { N = 2000 };
    fund(0, 1000000);
    static btt_ledger_op ops[N];
    for (int i = 0; i < N; i++) {
        btt_ledger_op_init(&ops[i], BTT_LEDGER_TRANSFER, NULL, fx_next_nonce(&F, F.user[0]) + (uint64_t)i);
        ops[i].to = *fx_acct(F.user[1 + i % 5]);
        ops[i].amount = fx_units(1 + (uint64_t)i);
        assert_int_equal(btt_ledger_op_sign(&ops[i], F.id, F.user[0]), BTT_OK);
    }
    double t0 = now_s();
    for (int i = 0; i < N; i++) assert_int_equal(btt_ledger_apply(F.l, &ops[i], T0, NULL, NULL), BTT_OK);
    double t1 = now_s();
    uint8_t msg[64] = {1};
    uint8_t sig[64];
    btt_wallet_sign(F.user[0], msg, sizeof msg, sig);
    int ok = 0;
    for (int i = 0; i < N; i++) ok += crypto_sign_verify_detached(sig, msg, sizeof msg, fx_acct(F.user[0])->key) == 0;
    double t2 = now_s();
    assert_int_equal(ok, N);
    printf("# ledger apply (transfer): %.0f ops/s; raw Ed25519 verify: %.0f/s\n", N / (t1 - t0), N / (t2 - t1));
    assert_int_equal(btt_ledger_check_invariant(F.l, NULL), BTT_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_genesis_state),
        T(test_transfer),
        T(test_faucet),
        T(test_channel_lifecycle),
        T(test_close_without_voucher_and_refund),
        T(test_time_never_runs_backwards),
        T(test_attack_replay),
        T(test_attack_forged_signature),
        T(test_attack_malleated_signature),
        T(test_attack_overdraft),
        T(test_attack_amount_overflow),
        T(test_attack_old_voucher),
        T(test_attack_voucher_other_channel),
        T(test_attack_voucher_other_ledger),
        T(test_attack_refund_before_expiry),
        T(test_attack_close_after_refund),
        T(test_attack_faucet_twice),
        T(test_attack_faucet_wrong_proof),
        T(test_attack_transfer_from_nonexistent),
        T(test_attack_topup_by_non_payer),
        T(test_apply_verified),
        T(test_apply_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
