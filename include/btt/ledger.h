/* btt/ledger.h - the BTT ledger: a pure state machine over signed operations.
 *
 * No I/O and no clock: the caller passes the time (seconds) with every operation, and the store
 * (later) logs (operation, time) so a replay reproduces the state exactly. docs/ledger-design.md
 * is the specification; this header is its API (vouchers are in btt/voucher.h and the faucet's
 * proof of work in btt/pow.h, both token-layer modules it builds on). Sections, one job each:
 *
 *   operations      what clients sign; canonical bencoding, signing, verifying (src/ledger/ops.c)
 *   genesis         the initial split of the supply into the whitepaper's pools (src/ledger/genesis.c)
 *   state machine   accounts, channels, apply, receipts, invariant (src/ledger/ledger.c)
 *
 * Every mutating operation is signed by its signer's Ed25519 key and carries the signer's next
 * nonce (exactly one more than the last accepted one), so a replayed or reordered operation is
 * rejected. A signature covers the 16-byte tag "btt-ledger-op-v1", the 32-byte ledger id (an
 * operation for one ledger is invalid on every other) and the canonical bencoding of the
 * operation without its signature. */
#ifndef BTT_LEDGER_H
#define BTT_LEDGER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/account.h"
#include "btt/amount.h"
#include "btt/buf.h"
#include "btt/error.h"
#include "btt/wallet.h"

#include "btt/pow.h"
#include "btt/voucher.h"

#define BTT_LEDGER_OP_MAX 512 /* bytes: no valid encoded operation is longer */
#define BTT_LEDGER_OP_TAG "btt-ledger-op-v1"

/* ====================================================================== operations */

typedef enum btt_ledger_op_type {
    BTT_LEDGER_TRANSFER = 1, /* signer pays `amount` to `to` */
    BTT_LEDGER_FAUCET,       /* signer proves `work` and receives the grant from the onboarding pool */
    BTT_LEDGER_OPEN,         /* signer (payer) locks `amount` for payee `to` until `expiry` */
    BTT_LEDGER_TOPUP,        /* payer adds `amount` (may be 0) and/or extends to `expiry` */
    BTT_LEDGER_CLAIM,        /* payee takes what `voucher` promises beyond what it already took */
    BTT_LEDGER_CLOSE,        /* payee settles with an optional final voucher; the rest goes back */
    BTT_LEDGER_REFUND,       /* payer, at or after expiry, takes back everything not claimed */
} btt_ledger_op_type;

/* One operation. Fields a type does not use must be zero (btt_ledger_op_init does that); they
 * are not encoded and decode leaves them zero.
 *
 *   type      fields used (besides type, signer, nonce, sig)
 *   transfer  to, amount
 *   faucet    work
 *   open      to (payee), amount, expiry
 *   topup     channel, amount, expiry (the new expiry; equal to the old one to keep it)
 *   claim     channel, voucher (required)
 *   close     channel, voucher (optional: has_voucher)
 *   refund    channel
 *
 * The voucher's channel is not encoded: it is always the operation's channel (decode copies it,
 * the ledger checks the voucher signature against op->channel). */
typedef struct btt_ledger_op {
    btt_ledger_op_type type;
    btt_account signer; /* signs; pays (transfer, open, topup) or is paid (faucet, claim, close, refund) */
    uint64_t nonce;     /* the signer's previous nonce + 1 (an unused account's previous nonce is 0) */
    btt_account to;
    btt_amount amount;
    uint64_t expiry; /* absolute time, seconds, same clock as the `now` given to apply */
    uint8_t channel[BTT_CHANNEL_ID_LEN];
    uint64_t work;
    bool has_voucher;
    btt_voucher voucher;
    uint8_t sig[BTT_SIG_LEN];
} btt_ledger_op;

/* Zeroes op and sets type, signer and nonce. */
void btt_ledger_op_init(btt_ledger_op *op, btt_ledger_op_type type, const btt_account *signer, uint64_t nonce);

/* "transfer", "faucet", ...; "?" for an invalid type. */
const char *btt_ledger_op_type_name(btt_ledger_op_type type);

/* Canonical encoding (appended to b): a bencoded dict with exactly the fields of its type,
 *     amount channel expiry nonce sig signer to type voucher work
 * (in that order, as bencoding sorts keys), amounts as integers in units, keys and ids as
 * 32-byte strings, the signature as a 64-byte string, the voucher as d amount seq sig e.
 * Integers must not exceed INT64_MAX. BTT_EINVAL for an unencodable op; buffer errors pass
 * through. */
BTT_WUR btt_err btt_ledger_op_encode(const btt_ledger_op *op, btt_buf *b);

/* Strict decoding of exactly that form: canonical bencoding (sorted keys, no leading zeros, no
 * trailing bytes), at most BTT_LEDGER_OP_MAX bytes, a known type, every required field and no
 * other, exact string lengths, non-negative integers, amounts within the supply. So
 * encode(decode(x)) == x for every accepted x. op is written only on success. */
BTT_WUR btt_err btt_ledger_op_decode(const uint8_t *p, size_t len, btt_ledger_op *op, btt_error *err);

/* The exact bytes the signature covers: tag || ledger id || encoding without "sig". Returns the
 * length, or 0 if op is unencodable. */
size_t btt_ledger_op_message(const btt_ledger_op *op, const uint8_t ledger_id[BTT_LEDGER_ID_LEN],
                             uint8_t out[BTT_DOMAIN_TAG_LEN + BTT_LEDGER_ID_LEN + BTT_LEDGER_OP_MAX]);

/* Sets op->signer to the wallet's account and fills op->sig. BTT_EINVAL if op is unencodable. */
BTT_WUR btt_err btt_ledger_op_sign(btt_ledger_op *op, const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_wallet *w);

/* True if op->sig is op->signer's signature of op for this ledger. One Ed25519 verification
 * (libsodium rejects non-canonical S, small-order keys and non-canonical encodings). */
bool btt_ledger_op_verify(const btt_ledger_op *op, const uint8_t ledger_id[BTT_LEDGER_ID_LEN]);

/* Operation id: BLAKE2b-256 of (ledger id || signed encoding). For logs and APIs. BTT_EINVAL if
 * op is unencodable. */
BTT_WUR btt_err btt_ledger_op_id(const btt_ledger_op *op, const uint8_t ledger_id[BTT_LEDGER_ID_LEN],
                                 uint8_t out[32]);

/* ========================================================================= genesis */

/* The whitepaper's pools ("BTT Token Issuance"). */
typedef enum btt_genesis_pool {
    BTT_POOL_ONBOARDING,  /* client users, at install and onboarding: pays the faucet */
    BTT_POOL_TRX_HOLDERS, /* existing TRX holders */
    BTT_POOL_INVESTORS,   /* initial supporters and investors */
    BTT_POOL_FOUNDATION,  /* BitTorrent Foundation and team */
    BTT_POOL_TRON,        /* TRON Foundation */
    BTT_POOL_COUNT
} btt_genesis_pool;

#define BTT_GENESIS_BP_TOTAL 10000 /* shares are in basis points and sum to exactly this */
#define BTT_GENESIS_NAME_MAX 63

/* A ledger's genesis: a value (no pointers). */
typedef struct btt_genesis {
    char name[BTT_GENESIS_NAME_MAX + 1]; /* network name, [A-Za-z0-9._-]{1,63}; part of the ledger id */
    btt_amount supply;                   /* BTT_AMOUNT_SUPPLY for the real network; smaller for tests */
    btt_account pool_key[BTT_POOL_COUNT];
    uint32_t pool_bp[BTT_POOL_COUNT];
    btt_genesis_pool remainder;          /* pool that gets the rounding remainder of the split */
    btt_amount faucet_grant;             /* per account, once; zero disables the faucet */
    unsigned faucet_bits;                /* proof-of-work difficulty, 0..BTT_POW_MAX_BITS */
} btt_genesis;

/* "onboarding", "trx_holders", "investors", "foundation", "tron". */
const char *btt_genesis_pool_name(btt_genesis_pool p);

/* Parses the text form: `key = value` lines, `#` comments, blank lines ignored:
 *     name = btt-main
 *     supply = 990000000000            # BTT; optional, defaults to the total supply
 *     faucet.grant = 1000              # BTT
 *     faucet.difficulty = 24           # leading zero bits
 *     remainder = foundation           # pool that gets the rounding remainder
 *     pool.onboarding = btt1... 2000   # account and share in basis points
 *     pool.trx_holders = ... (and investors, foundation, tron: all five required)
 * Unknown or repeated keys and missing ones are errors naming the line. The result is
 * validated (btt_genesis_validate). */
BTT_WUR btt_err btt_genesis_parse(const char *text, size_t len, btt_genesis *g, btt_error *err);

/* Checks a genesis: name, shares summing to BTT_GENESIS_BP_TOTAL, five distinct valid pool
 * keys, a known remainder pool, difficulty in range, grant within the supply. */
BTT_WUR btt_err btt_genesis_validate(const btt_genesis *g, btt_error *err);

/* Initial balances: pool p gets floor(supply * bp[p] / 10000) and the remainder pool also gets
 * what the rounding left over, so the balances sum to the supply exactly. */
BTT_WUR btt_err btt_genesis_allocate(const btt_genesis *g, btt_amount out[BTT_POOL_COUNT], btt_error *err);

/* Canonical bencoding of a (validated) genesis:
 *     d 11:faucet-bits i.e 12:faucet-grant i.e 4:name .. 5:pools l (d 3:key 32:.. 4:name ..
 *       5:share i.e)*5 e 9:remainder .. 6:supply i.e 7:version i1e e */
BTT_WUR btt_err btt_genesis_encode(const btt_genesis *g, btt_buf *b);

/* Ledger id: BLAKE2b-256(personal "btt-ledger-v1"; genesis encoding). Validates g first. */
BTT_WUR btt_err btt_genesis_ledger_id(const btt_genesis *g, uint8_t id[BTT_LEDGER_ID_LEN], btt_error *err);

/* =================================================================== state machine */

/* Why an operation was rejected. X(name, wire name, message) */
#define BTT_LEDGER_REASON_MAP(X)                                                                      \
    X(OK, "ok", "accepted")                                                                           \
    X(MALFORMED, "malformed", "operation is malformed")                                               \
    X(BAD_NONCE, "bad-nonce", "nonce is not the signer's last nonce + 1 (replayed or out of order)") \
    X(BAD_SIGNATURE, "bad-signature", "signature does not verify")                                    \
    X(NO_ACCOUNT, "no-account", "the paying account does not exist")                                  \
    X(INSUFFICIENT, "insufficient-funds", "balance too low")                                          \
    X(ZERO_AMOUNT, "zero-amount", "amount must be positive")                                          \
    X(OVERFLOW, "overflow", "a balance would exceed the supply")                                      \
    X(SELF, "self", "payer and payee are the same account")                                           \
    X(BAD_KEY, "bad-key", "recipient is not a valid Ed25519 public key")                              \
    X(FAUCET_USED, "faucet-used", "this account already received its faucet grant")                   \
    X(FAUCET_EMPTY, "faucet-empty", "the faucet is disabled or its pool cannot pay the grant")        \
    X(BAD_WORK, "bad-work", "proof of work does not meet the ledger's difficulty")                    \
    X(NO_CHANNEL, "no-channel", "no such open channel")                                               \
    X(NOT_PAYER, "not-payer", "only the channel's payer may do this")                                 \
    X(NOT_PAYEE, "not-payee", "only the channel's payee may do this")                                 \
    X(EXPIRED, "expired", "the channel has expired: only the payer's refund remains")                 \
    X(NOT_EXPIRED, "not-expired", "the channel has not expired yet")                                  \
    X(BAD_EXPIRY, "bad-expiry", "expiry must be in the future and can only be extended")              \
    X(NO_CHANGE, "no-change", "top-up adds nothing and does not extend the expiry")                   \
    X(STALE_VOUCHER, "stale-voucher", "voucher sequence is not above the last one accepted")          \
    X(VOUCHER_BELOW_CLAIMED, "voucher-below-claimed", "voucher promises less than already claimed")   \
    X(VOUCHER_EXCEEDS, "voucher-exceeds-deposit", "voucher promises more than the channel holds")     \
    X(BAD_VOUCHER_SIGNATURE, "bad-voucher-signature",                                                 \
      "voucher is not the payer's signature for this ledger and channel")

typedef enum btt_ledger_reason {
#define BTT_X_REASON(name, wire, msg) BTT_LEDGER_##name,
    BTT_LEDGER_REASON_MAP(BTT_X_REASON)
#undef BTT_X_REASON
        BTT_LEDGER_REASON_COUNT
} btt_ledger_reason;

const char *btt_ledger_reason_name(btt_ledger_reason r);    /* "bad-nonce"; "?" if unknown */
const char *btt_ledger_reason_message(btt_ledger_reason r); /* English sentence */

/* The outcome of one operation. */
typedef struct btt_ledger_receipt {
    btt_ledger_op_type type;
    btt_ledger_reason reason;            /* BTT_LEDGER_OK, or why nothing changed */
    uint64_t height;                     /* accepted operations so far, this one included */
    uint64_t time;                       /* the effective time (never earlier than the last one) */
    uint8_t channel[BTT_CHANNEL_ID_LEN]; /* open: the new channel's id; topup..refund: the channel */
    btt_amount amount;   /* transfer: sent; faucet: granted; open: locked; topup: added;
                            claim, close: paid to the payee; refund: returned to the payer */
    btt_amount refunded; /* close: returned to the payer */
    btt_amount balance;  /* the signer's balance afterwards */
} btt_ledger_receipt;

/* d 6:amount i.e 7:balance i.e [7:channel 32:..] 6:height i.e 6:reason .. [8:refunded i.e]
 *   4:time i.e 4:type .. e  (channel for channel ops, refunded for close) */
BTT_WUR btt_err btt_ledger_receipt_encode(const btt_ledger_receipt *rc, btt_buf *b);

typedef struct btt_ledger btt_ledger; /* opaque */

/* A ledger at genesis: the pools hold the supply, nothing else exists. *out is owned by the
 * caller: free with btt_ledger_free. */
BTT_WUR btt_err btt_ledger_new(const btt_genesis *g, btt_ledger **out, btt_error *err);
void btt_ledger_free(btt_ledger *l);

const uint8_t *btt_ledger_id(const btt_ledger *l); /* BTT_LEDGER_ID_LEN bytes, valid while l lives */
const btt_genesis *btt_ledger_genesis(const btt_ledger *l);
uint64_t btt_ledger_height(const btt_ledger *l); /* accepted operations */
uint64_t btt_ledger_time(const btt_ledger *l);   /* time of the last accepted operation */

/* Channel ids: BLAKE2b-256(personal "btt-channel-v1"; ledger id || payer key || u64 BE nonce of
 * the open). Unique (a payer's nonce is never reused) and fixed by the ledger, not chosen by the
 * payer; a payer can compute it before submitting the open. */
void btt_ledger_channel_id(const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *payer, uint64_t nonce,
                           uint8_t out[BTT_CHANNEL_ID_LEN]);

typedef struct btt_ledger_account_info {
    btt_amount balance;
    uint64_t nonce;   /* last accepted nonce; the next operation must carry nonce + 1 */
    bool faucet_used; /* received its faucet grant */
} btt_ledger_account_info;

typedef struct btt_ledger_channel_info {
    uint8_t id[BTT_CHANNEL_ID_LEN];
    btt_account payer, payee;
    btt_amount deposit; /* everything ever locked (open + top-ups) */
    btt_amount claimed; /* paid to the payee so far by claims; locked = deposit - claimed */
    uint64_t seq;       /* seq of the last voucher accepted (0: none) */
    uint64_t expiry;
} btt_ledger_channel_info;

/* Lookups: O(1) (hash tables keyed by SipHash with a per-ledger random key). False if absent.
 * An account exists once it has received funds or had an operation accepted. */
bool btt_ledger_account_get(const btt_ledger *l, const btt_account *a, btt_ledger_account_info *out);
bool btt_ledger_channel_get(const btt_ledger *l, const uint8_t id[BTT_CHANNEL_ID_LEN], btt_ledger_channel_info *out);
size_t btt_ledger_num_accounts(const btt_ledger *l);
size_t btt_ledger_num_channels(const btt_ledger *l); /* open (not yet closed or refunded) */

/* Iteration in unspecified order; the ledger must not be modified meanwhile. */
typedef void btt_ledger_account_cb(const btt_account *a, const btt_ledger_account_info *info, void *ud);
typedef void btt_ledger_channel_cb(const btt_ledger_channel_info *info, void *ud);
void btt_ledger_foreach_account(const btt_ledger *l, btt_ledger_account_cb *cb, void *ud);
void btt_ledger_foreach_channel(const btt_ledger *l, btt_ledger_channel_cb *cb, void *ud);

/* The open channels where account a is the payer or the payee, from a per-account index (O(1)
 * to count, O(a's channels) to list; check_invariant verifies it). Unspecified order; cb returns
 * false to stop early. Returns how many channels cb was called for. The ledger must not be
 * modified meanwhile. */
typedef bool btt_ledger_channel_of_cb(const btt_ledger_channel_info *info, void *ud);
size_t btt_ledger_num_channels_of(const btt_ledger *l, const btt_account *a);
size_t btt_ledger_foreach_channel_of(const btt_ledger *l, const btt_account *a, btt_ledger_channel_of_cb *cb,
                                     void *ud);

/* Applies op at time now (seconds; an earlier time than the last accepted operation's is taken
 * as that time). Either the whole operation takes effect or nothing changes:
 *   BTT_OK       accepted; rc (if non-NULL) says what happened
 *   BTT_ELEDGER  rejected; rc->reason says why, err has a sentence
 *   BTT_ENOMEM   nothing changed (tables could not grow)
 * The rules are in docs/ledger-design.md. Cost: one Ed25519 verification (two for a claim or a
 * close with a voucher), O(1) lookups, no allocation unless a table grows. */
BTT_WUR btt_err btt_ledger_apply(btt_ledger *l, const btt_ledger_op *op, uint64_t now, btt_ledger_receipt *rc,
                                 btt_error *err);

/* apply for an operation whose signature the caller has already checked with
 * btt_ledger_op_verify against this ledger's id (e.g. on another thread, in parallel): every
 * other rule, the voucher signature of a claim or close included, is checked as in apply. Passing
 * an operation whose signature was not verified breaks the ledger's security. */
BTT_WUR btt_err btt_ledger_apply_verified(btt_ledger *l, const btt_ledger_op *op, uint64_t now,
                                          btt_ledger_receipt *rc, btt_error *err);

/* The same checks as apply without changing anything (rc describes what apply would do). */
BTT_WUR btt_err btt_ledger_validate(const btt_ledger *l, const btt_ledger_op *op, uint64_t now,
                                    btt_ledger_receipt *rc, btt_error *err);

/* Recomputes from scratch: sum of balances + sum over channels of (deposit - claimed) equals the
 * supply; claimed <= deposit in every channel; the table counts and running totals agree.
 * O(accounts + channels). BTT_OK or BTT_ELEDGER with what is wrong. */
BTT_WUR btt_err btt_ledger_check_invariant(const btt_ledger *l, btt_error *err);

#endif
