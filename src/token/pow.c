/* pow.c - the faucet's proof of work: hashcash over BLAKE2b, bound to a ledger and an account.
 *
 * docs/ledger-design.md, "Proof of work": BLAKE2b-256, personalised "btt-pow-v1", over
 * ledger id || account key || nonce (u64 big-endian); valid when the hash has at least the
 * ledger's number of leading zero bits. */
#include <sodium.h>
#include <string.h>

#include "btt/pow.h"

static const uint8_t personal[crypto_generichash_blake2b_PERSONALBYTES] = "btt-pow-v1";

/* The state after absorbing ledger id and account: the solver copies it for each nonce. */
static void prefix_state(crypto_generichash_blake2b_state *st, const uint8_t ledger_id[BTT_LEDGER_ID_LEN],
                         const btt_account *acct)
{
    crypto_generichash_blake2b_init_salt_personal(st, NULL, 0, 32, NULL, personal);
    crypto_generichash_blake2b_update(st, ledger_id, BTT_LEDGER_ID_LEN);
    crypto_generichash_blake2b_update(st, acct->key, BTT_ACCOUNT_KEY_LEN);
}

static void finish(const crypto_generichash_blake2b_state *prefix, uint64_t nonce, uint8_t out[32])
{
    crypto_generichash_blake2b_state st;
    memcpy(&st, prefix, sizeof st);
    uint8_t n[8];
    for (int i = 7; i >= 0; i--, nonce >>= 8) n[i] = (uint8_t)nonce;
    crypto_generichash_blake2b_update(&st, n, sizeof n);
    crypto_generichash_blake2b_final(&st, out, 32);
}

void btt_pow_hash(const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *acct, uint64_t nonce,
                  uint8_t out[32])
{
    crypto_generichash_blake2b_state st;
    prefix_state(&st, ledger_id, acct);
    finish(&st, nonce, out);
}

unsigned btt_pow_leading_zeros(const uint8_t hash[32])
{
    unsigned n = 0;
    for (int i = 0; i < 32; i++) {
        if (hash[i] == 0) {
            n += 8;
            continue;
        }
        return n + (unsigned)__builtin_clz((unsigned)hash[i]) - (unsigned)(8 * (sizeof(unsigned) - 1));
    }
    return n;
}

bool btt_pow_check(const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *acct, uint64_t nonce,
                   unsigned bits)
{
    if (bits > BTT_POW_MAX_BITS) return false;
    uint8_t h[32];
    btt_pow_hash(ledger_id, acct, nonce, h);
    return btt_pow_leading_zeros(h) >= bits;
}

btt_err btt_pow_solve(const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *acct, unsigned bits,
                      uint64_t start, btt_pow_progress_cb *progress, void *ud, const atomic_bool *cancel,
                      uint64_t *nonce_out, btt_error *err)
{
    if (bits > BTT_POW_MAX_BITS)
        return btt_error_set(err, BTT_EINVAL, "proof-of-work difficulty %u is above %u bits", bits, BTT_POW_MAX_BITS);
    crypto_generichash_blake2b_state prefix;
    prefix_state(&prefix, ledger_id, acct);
    uint64_t tried = 0;
    for (uint64_t nonce = start; nonce <= (uint64_t)INT64_MAX; nonce++) {
        uint8_t h[32];
        finish(&prefix, nonce, h);
        if (btt_pow_leading_zeros(h) >= bits) {
            *nonce_out = nonce;
            return BTT_OK;
        }
        if (++tried % BTT_POW_PROGRESS_EVERY == 0) {
            if (progress) progress(tried, ud);
            if (cancel && atomic_load_explicit(cancel, memory_order_relaxed))
                return btt_error_set(err, BTT_ECANCELED, "proof of work canceled after %llu attempts",
                                     (unsigned long long)tried);
        }
    }
    return btt_error_set(err, BTT_ERANGE, "no proof of work found below nonce 2^63");
}
