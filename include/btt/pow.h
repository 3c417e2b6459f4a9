/* btt/pow.h - the faucet's proof of work (docs/ledger-design.md). */
#ifndef BTT_POW_H
#define BTT_POW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "btt/account.h"
#include "btt/error.h"

/* The faucet's puzzle: find a 64-bit nonce such that
 *     BLAKE2b-256(personal "btt-pow-v1"; ledger id || account key || nonce as u64 BE)
 * starts with at least `bits` zero bits (most significant bit of byte 0 first). The work is bound
 * to one account on one ledger and cannot be reused for another. Expected cost: 2^bits hashes. */
#define BTT_POW_MAX_BITS 64

void btt_pow_hash(const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *acct, uint64_t nonce,
                  uint8_t out[32]);
unsigned btt_pow_leading_zeros(const uint8_t hash[32]);
bool btt_pow_check(const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *acct, uint64_t nonce,
                   unsigned bits);

/* Called every BTT_POW_PROGRESS_EVERY attempts with the number tried so far. */
#define BTT_POW_PROGRESS_EVERY 65536
typedef void btt_pow_progress_cb(uint64_t tried, void *ud);

/* Searches nonces start, start+1, ... (at most up to INT64_MAX, the largest an operation can
 * carry) for a solution. progress may be NULL; cancel may be NULL, else the search stops with
 * BTT_ECANCELED soon after *cancel becomes true (it is polled as often as progress is called).
 * BTT_EINVAL if bits > BTT_POW_MAX_BITS, BTT_ERANGE if the nonce space ran out. */
BTT_WUR btt_err btt_pow_solve(const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *acct, unsigned bits,
                              uint64_t start, btt_pow_progress_cb *progress, void *ud, const atomic_bool *cancel,
                              uint64_t *nonce_out, btt_error *err);

#endif
