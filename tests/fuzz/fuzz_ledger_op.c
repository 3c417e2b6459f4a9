/* libFuzzer target: the ledger operation decoder.
 *
 * A successful decode is canonical: encoding the operation reproduces the input byte for byte,
 * and decoding that again gives the same operation (decode -> encode -> decode). Decoded
 * operations are then checked (signature, id) and fed to a small ledger, which must reject them
 * without changing (their signatures are garbage) and keep its invariant. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/ledger.h"
#include "fuzz.h"

static btt_ledger *ledger;

static void make_ledger(void)
{
    btt_genesis g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "fuzz");
    g.supply = BTT_AMOUNT_SUPPLY;
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        uint8_t seed[32] = {(uint8_t)p, 0x42};
        btt_wallet *w;
        CHECK(btt_wallet_from_seed(seed, &w, NULL) == BTT_OK);
        g.pool_key[p] = *btt_wallet_account(w);
        g.pool_bp[p] = 2000;
        btt_wallet_free(w);
    }
    g.remainder = BTT_POOL_FOUNDATION;
    g.faucet_grant = BTT_AMOUNT_BTT(1);
    g.faucet_bits = 0; /* any work passes: the fuzzer can reach the faucet rules */
    CHECK(btt_ledger_new(&g, &ledger, NULL) == BTT_OK);
}

static void encode(const btt_ledger_op *op, btt_buf *b)
{
    btt_buf_init(b, BTT_LEDGER_OP_MAX);
    CHECK(btt_ledger_op_encode(op, b) == BTT_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ledger) make_ledger();
    btt_ledger_op op;
    btt_error err;
    if (btt_ledger_op_decode(data, size, &op, &err) != BTT_OK) return 0;

    btt_buf b1, b2;
    encode(&op, &b1);
    if (b1.len != size || memcmp(b1.data, data, size) != 0) {
        fprintf(stderr, "round trip mismatch: %zu bytes in, %zu bytes out\n", size, b1.len);
        abort();
    }
    btt_ledger_op again;
    CHECK(btt_ledger_op_decode(b1.data, b1.len, &again, &err) == BTT_OK);
    encode(&again, &b2);
    CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    CHECK(again.type == op.type && again.nonce == op.nonce && again.has_voucher == op.has_voucher);
    CHECK(btt_amount_eq(again.amount, op.amount) && again.expiry == op.expiry && again.work == op.work);
    CHECK(memcmp(again.sig, op.sig, sizeof op.sig) == 0 && memcmp(again.channel, op.channel, 32) == 0);
    btt_buf_free(&b1);
    btt_buf_free(&b2);

    uint8_t id[32];
    CHECK(btt_ledger_op_id(&op, btt_ledger_id(ledger), id) == BTT_OK);
    bool sig_ok = btt_ledger_op_verify(&op, btt_ledger_id(ledger));
    uint64_t height = btt_ledger_height(ledger);
    btt_ledger_receipt rc;
    btt_err e = btt_ledger_apply(ledger, &op, 1000, &rc, &err);
    CHECK(e == BTT_OK || e == BTT_ELEDGER);
    CHECK(e == BTT_OK ? sig_ok : rc.reason != BTT_LEDGER_OK);
    CHECK(btt_ledger_height(ledger) == height + (e == BTT_OK));
    CHECK(btt_ledger_check_invariant(ledger, &err) == BTT_OK);
    return 0;
}
