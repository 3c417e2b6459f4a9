/* voucher.c - payment-channel vouchers: the payer's signed promise of a cumulative amount.
 *
 * docs/ledger-design.md, "Vouchers": the message is fixed-size and built on the stack, so checking
 * a voucher is one Ed25519 verification and a few dozen byte copies. */
#include <sodium.h>
#include <string.h>

#include "btt/voucher.h"

_Static_assert(BTT_DOMAIN_TAG_LEN + BTT_LEDGER_ID_LEN + BTT_CHANNEL_ID_LEN + 8 + 8 == BTT_VOUCHER_MSG_LEN,
               "voucher message layout");
_Static_assert(sizeof BTT_VOUCHER_TAG - 1 == BTT_DOMAIN_TAG_LEN, "voucher tag length");

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

void btt_voucher_message(const btt_voucher *v, const uint8_t ledger_id[BTT_LEDGER_ID_LEN],
                         uint8_t out[BTT_VOUCHER_MSG_LEN])
{
    uint8_t *p = out;
    memcpy(p, BTT_VOUCHER_TAG, BTT_DOMAIN_TAG_LEN), p += BTT_DOMAIN_TAG_LEN;
    memcpy(p, ledger_id, BTT_LEDGER_ID_LEN), p += BTT_LEDGER_ID_LEN;
    memcpy(p, v->channel, BTT_CHANNEL_ID_LEN), p += BTT_CHANNEL_ID_LEN;
    put64(p, btt_amount_units(v->cumulative)), p += 8;
    put64(p, v->seq);
}

void btt_voucher_sign(btt_voucher *v, const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_wallet *payer)
{
    uint8_t msg[BTT_VOUCHER_MSG_LEN];
    btt_voucher_message(v, ledger_id, msg);
    btt_wallet_sign(payer, msg, sizeof msg, v->sig);
}

bool btt_voucher_verify(const btt_voucher *v, const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *payer)
{
    uint8_t msg[BTT_VOUCHER_MSG_LEN];
    btt_voucher_message(v, ledger_id, msg);
    return crypto_sign_verify_detached(v->sig, msg, sizeof msg, payer->key) == 0;
}
