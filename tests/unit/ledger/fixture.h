/* Test fixture shared by the ledger tests: deterministic wallets, a small genesis, and helpers
 * that sign and apply operations. Header-only (static functions) so each test binary is one file. */
#ifndef BTT_TEST_LEDGER_FIXTURE_H
#define BTT_TEST_LEDGER_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "btt/ledger.h"

#define FX_USERS 8
#define FX_BITS 8 /* faucet difficulty in tests */

typedef struct fx {
    btt_wallet *pool[BTT_POOL_COUNT];
    btt_wallet *user[FX_USERS];
    btt_genesis g;
    btt_ledger *l;
    const uint8_t *id;
} fx;

static inline btt_wallet *fx_wallet(uint8_t tag, uint8_t i)
{
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    seed[0] = i;
    btt_wallet *w = NULL;
    assert_int_equal(btt_wallet_from_seed(seed, &w, NULL), BTT_OK);
    return w;
}

static inline const btt_account *fx_acct(const btt_wallet *w)
{
    return btt_wallet_account(w);
}

static inline btt_amount fx_btt(uint64_t whole)
{
    btt_amount a;
    assert_true(btt_amount_from_btt(whole, &a));
    return a;
}

static inline btt_amount fx_units(uint64_t u)
{
    btt_amount a;
    assert_true(btt_amount_from_units(u, &a));
    return a;
}

/* Genesis: supply split 40/10/20/20/10 %, grant 100 BTT, FX_BITS of work. */
static inline void fx_genesis(fx *f, const char *name, btt_amount supply)
{
    memset(&f->g, 0, sizeof f->g);
    snprintf(f->g.name, sizeof f->g.name, "%s", name);
    f->g.supply = supply;
    static const uint32_t bp[BTT_POOL_COUNT] = {4000, 1000, 2000, 2000, 1000};
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        f->g.pool_key[p] = *fx_acct(f->pool[p]);
        f->g.pool_bp[p] = bp[p];
    }
    f->g.remainder = BTT_POOL_FOUNDATION;
    f->g.faucet_grant = fx_btt(100);
    f->g.faucet_bits = FX_BITS;
}

static inline void fx_init(fx *f, const char *name)
{
    memset(f, 0, sizeof *f);
    for (int p = 0; p < BTT_POOL_COUNT; p++) f->pool[p] = fx_wallet(0xA0, (uint8_t)p);
    for (int i = 0; i < FX_USERS; i++) f->user[i] = fx_wallet(0xB0, (uint8_t)i);
    fx_genesis(f, name, BTT_AMOUNT_SUPPLY);
    btt_error err = {0};
    if (btt_ledger_new(&f->g, &f->l, &err) != BTT_OK) {
        print_error("ledger_new: %s\n", err.msg);
        fail();
    }
    f->id = btt_ledger_id(f->l);
}

static inline void fx_free(fx *f)
{
    btt_ledger_free(f->l);
    for (int p = 0; p < BTT_POOL_COUNT; p++) btt_wallet_free(f->pool[p]);
    for (int i = 0; i < FX_USERS; i++) btt_wallet_free(f->user[i]);
}

static inline uint64_t fx_next_nonce(const fx *f, const btt_wallet *w)
{
    btt_ledger_account_info info;
    return btt_ledger_account_get(f->l, fx_acct(w), &info) ? info.nonce + 1 : 1;
}

static inline btt_amount fx_balance(const fx *f, const btt_wallet *w)
{
    btt_ledger_account_info info;
    return btt_ledger_account_get(f->l, fx_acct(w), &info) ? info.balance : BTT_AMOUNT_ZERO;
}

static inline uint64_t fx_balance_units(const fx *f, const btt_wallet *w)
{
    return btt_amount_units(fx_balance(f, w));
}

/* Signs op with w (for f's ledger) and applies it; returns the reason. The invariant is checked
 * after every call, accepted or not. */
static inline btt_ledger_reason fx_apply_signed(fx *f, btt_ledger_op *op, uint64_t now, btt_ledger_receipt *rc)
{
    btt_ledger_receipt local;
    btt_error err = {0};
    btt_err e = btt_ledger_apply(f->l, op, now, rc ? rc : &local, &err);
    btt_ledger_reason r = (rc ? rc : &local)->reason;
    assert_true((e == BTT_OK) == (r == BTT_LEDGER_OK));
    assert_true(e == BTT_OK || e == BTT_ELEDGER);
    btt_error ierr = {0};
    if (btt_ledger_check_invariant(f->l, &ierr) != BTT_OK) {
        print_error("invariant: %s\n", ierr.msg);
        fail();
    }
    return r;
}

static inline btt_ledger_reason fx_submit(fx *f, btt_ledger_op *op, const btt_wallet *w, uint64_t now,
                                          btt_ledger_receipt *rc)
{
    assert_int_equal(btt_ledger_op_sign(op, f->id, w), BTT_OK);
    return fx_apply_signed(f, op, now, rc);
}

static inline btt_ledger_reason fx_transfer(fx *f, const btt_wallet *from, const btt_account *to, btt_amount amount,
                                            uint64_t now)
{
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, fx_acct(from), fx_next_nonce(f, from));
    op.to = *to;
    op.amount = amount;
    return fx_submit(f, &op, from, now, NULL);
}

/* Opens a channel; the id goes to id (may be NULL). */
static inline btt_ledger_reason fx_open(fx *f, const btt_wallet *payer, const btt_wallet *payee, btt_amount amount,
                                        uint64_t expiry, uint64_t now, uint8_t id[32])
{
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_OPEN, fx_acct(payer), fx_next_nonce(f, payer));
    op.to = *fx_acct(payee);
    op.amount = amount;
    op.expiry = expiry;
    btt_ledger_receipt rc;
    btt_ledger_reason r = fx_submit(f, &op, payer, now, &rc);
    if (r == BTT_LEDGER_OK && id) {
        uint8_t want[32];
        btt_ledger_channel_id(f->id, fx_acct(payer), op.nonce, want);
        assert_memory_equal(rc.channel, want, 32);
        memcpy(id, rc.channel, 32);
    }
    return r;
}

static inline btt_voucher fx_voucher(const fx *f, const btt_wallet *payer, const uint8_t channel[32], uint64_t units,
                                     uint64_t seq)
{
    btt_voucher v;
    memset(&v, 0, sizeof v);
    memcpy(v.channel, channel, 32);
    v.cumulative = fx_units(units);
    v.seq = seq;
    btt_voucher_sign(&v, f->id, payer);
    return v;
}

/* Claim (final == false) or close (final == true) by the payee; v may be NULL for a close. */
static inline btt_ledger_reason fx_settle(fx *f, const btt_wallet *payee, const uint8_t channel[32],
                                          const btt_voucher *v, bool final, uint64_t now, btt_ledger_receipt *rc)
{
    btt_ledger_op op;
    btt_ledger_op_init(&op, final ? BTT_LEDGER_CLOSE : BTT_LEDGER_CLAIM, fx_acct(payee), fx_next_nonce(f, payee));
    memcpy(op.channel, channel, 32);
    if (v) {
        op.has_voucher = true;
        op.voucher = *v;
    }
    return fx_submit(f, &op, payee, now, rc);
}

static inline btt_ledger_reason fx_refund(fx *f, const btt_wallet *payer, const uint8_t channel[32], uint64_t now,
                                          btt_ledger_receipt *rc)
{
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_REFUND, fx_acct(payer), fx_next_nonce(f, payer));
    memcpy(op.channel, channel, 32);
    return fx_submit(f, &op, payer, now, rc);
}

static inline btt_ledger_reason fx_topup(fx *f, const btt_wallet *signer, const uint8_t channel[32], btt_amount add,
                                         uint64_t expiry, uint64_t now)
{
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_TOPUP, fx_acct(signer), fx_next_nonce(f, signer));
    memcpy(op.channel, channel, 32);
    op.amount = add;
    op.expiry = expiry;
    return fx_submit(f, &op, signer, now, NULL);
}

static inline btt_ledger_reason fx_faucet(fx *f, const btt_wallet *w, uint64_t now)
{
    btt_ledger_op op;
    btt_ledger_op_init(&op, BTT_LEDGER_FAUCET, fx_acct(w), fx_next_nonce(f, w));
    assert_int_equal(btt_pow_solve(f->id, fx_acct(w), f->g.faucet_bits, 0, NULL, NULL, NULL, &op.work, NULL), BTT_OK);
    return fx_submit(f, &op, w, now, NULL);
}

#define assert_reason(expr, want)                                                                               \
    do {                                                                                                        \
        btt_ledger_reason got_ = (expr);                                                                        \
        if (got_ != (want)) {                                                                                   \
            print_error("%s: got %s, want %s\n", #expr, btt_ledger_reason_name(got_), btt_ledger_reason_name(want)); \
            fail();                                                                                             \
        }                                                                                                       \
    } while (0)

#endif
