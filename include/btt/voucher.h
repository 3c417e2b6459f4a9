/* btt/voucher.h - off-ledger payments inside a payment channel (docs/ledger-design.md). */
#ifndef BTT_VOUCHER_H
#define BTT_VOUCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "btt/account.h"
#include "btt/amount.h"
#include "btt/wallet.h"

#define BTT_CHANNEL_ID_LEN 32
#define BTT_VOUCHER_TAG "btt-voucher-v1\0\0"

/* A payer's promise inside a channel: "of this channel's deposit, `cumulative` in total is now
 * the payee's". Vouchers are exchanged peer to peer and never touch the ledger until the payee
 * claims or closes with one. Signed by the payer over
 *     "btt-voucher-v1\0\0" || ledger id || channel id || cumulative (u64 BE, units) || seq (u64 BE)
 * (96 bytes): checking one costs one Ed25519 verification. A newer voucher has a higher seq;
 * the ledger never accepts a voucher whose seq is not above the last one it accepted for the
 * channel, so an old voucher can never beat a newer one. */
typedef struct btt_voucher {
    uint8_t channel[BTT_CHANNEL_ID_LEN];
    btt_amount cumulative; /* total promised to the payee since the channel opened */
    uint64_t seq;          /* >= 1; strictly increasing within a channel */
    uint8_t sig[BTT_SIG_LEN];
} btt_voucher;

#define BTT_VOUCHER_MSG_LEN 96

/* The exact bytes a voucher signature covers. */
void btt_voucher_message(const btt_voucher *v, const uint8_t ledger_id[BTT_LEDGER_ID_LEN],
                         uint8_t out[BTT_VOUCHER_MSG_LEN]);
/* Fills v->sig using the payer's wallet (channel, cumulative and seq must be set). */
void btt_voucher_sign(btt_voucher *v, const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_wallet *payer);
/* True if v->sig is the payer's signature of v for this ledger. One Ed25519 verification. */
bool btt_voucher_verify(const btt_voucher *v, const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *payer);

#endif
