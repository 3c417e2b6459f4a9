/* btt/speed_guard.h - the seeder's payment guard for one Speed peer (docs/speed-protocol.md 4).
 *
 * Pure: amounts in, verdicts out, the caller passes the clock (ms). The caller verifies vouchers
 * (signature, channel, ledger) and does the choking and banning; the guard only does the sums:
 *
 *   owed     the charge for the data served to this peer: btt_speed_charge of the bytes served
 *            at each rate, one sum per rate (charging every block on its own would round a peer
 *            that requests short blocks down to nothing; for 16 KiB blocks it is the same)
 *   paid     the best accepted voucher's cumulative amount minus `base` (what the channel had
 *            already promised when this connection started)
 *
 * A block may be served while owed + its charge - paid <= the charge of the allowance at the
 * current rate. The allowance is btt_guard_allowance(allowance_bytes, bytes served): the caller's
 * floor (the client uses max(2 pieces, 4 MiB)), growing to half of what this peer was served, at
 * most BTT_GUARD_GROWN_MAX (docs/speed-protocol.md 4): a peer that paid for much may run further
 * ahead, which a fast link needs, and beyond the floor it never owes more than it already paid.
 * Beyond that requests are held; if no voucher covering the debt arrives within
 * BTT_GUARD_HOLD_MS of the hold starting the verdict is CHOKE and a strike is counted; the
 * BTT_GUARD_STRIKES-th strike is BAN. */
#ifndef BTT_SPEED_GUARD_H
#define BTT_SPEED_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "btt/amount.h"

#define BTT_GUARD_HOLD_MS 30000
#define BTT_GUARD_STRIKES 3
#define BTT_GUARD_BAN_MS (3600 * 1000)
#define BTT_GUARD_GROWN_DIV 2              /* the allowance grows to served / this ... */
#define BTT_GUARD_GROWN_MAX (16u << 20)    /* ... up to this many bytes */

typedef enum btt_guard_verdict {
    BTT_GUARD_OK,    /* keep going */
    BTT_GUARD_CHOKE, /* choke the peer (reject its queued requests); a strike was counted */
    BTT_GUARD_BAN,   /* disconnect and refuse reconnects for BTT_GUARD_BAN_MS */
} btt_guard_verdict;

typedef struct btt_guard {
    uint64_t rate;          /* current rate, units/KiB (0: serving for free, nothing is owed) */
    uint64_t allowance_bytes; /* the allowance's floor, bytes (charged at the current rate) */
    uint64_t served_bytes;  /* everything served to this peer, at any rate (the allowance grows) */
    btt_amount owed, paid;
    uint64_t rate_bytes;    /* bytes served at the current rate (owed counts them as one charge) */
    uint64_t allow_rate;    /* the allowance's rate: the highest rate since the debt was last covered */
    btt_amount base;        /* the channel's promised amount at the start (vouchers are cumulative) */
    uint64_t best_seq;      /* the best voucher's seq (0: none yet) */
    bool holding;           /* requests are being held since hold_ms */
    uint64_t hold_ms;
    uint64_t hold_limit_ms; /* how long a hold may last: BTT_GUARD_HOLD_MS (init), or the caller's */
    unsigned strikes;
} btt_guard;

void btt_guard_init(btt_guard *g, uint64_t allowance_bytes);
/* The allowance in bytes for a floor and the bytes served so far:
 * max(floor, min(BTT_GUARD_GROWN_MAX, served / BTT_GUARD_GROWN_DIV)). A payer that counts the
 * bytes it received at a price gets at most the seeder's figure (the seeder counts on sending). */
uint64_t btt_guard_allowance(uint64_t floor_bytes, uint64_t served_bytes);
/* The rate for blocks served from now on (bid_response sent). */
void btt_guard_set_rate(btt_guard *g, uint64_t rate);
/* The channel and what it had promised already (its best voucher's cumulative when we started):
 * later vouchers count from there. seq is that voucher's seq (0: none). */
void btt_guard_set_channel(btt_guard *g, btt_amount base, uint64_t seq);
/* True if a block of `length` bytes may be served now (always at rate 0), which ends any hold;
 * false means hold the request. When it first returns false the hold clock starts at now_ms. */
bool btt_guard_may_serve(btt_guard *g, uint32_t length, uint64_t now_ms);
/* A block of `length` bytes was sent: owed counts it at the current rate. */
void btt_guard_served(btt_guard *g, uint32_t length);
/* A voucher that verified: false (and nothing changes) if seq is not above the best or the
 * cumulative amount is below base or below the best one (stale). Otherwise paid becomes
 * cumulative - base, and if the debt is back within the allowance the hold ends. */
bool btt_guard_voucher(btt_guard *g, btt_amount cumulative, uint64_t seq);
/* The debt beyond what vouchers cover: owed - paid (0 if paid >= owed). */
btt_amount btt_guard_debt(const btt_guard *g);
/* Call every second or so: CHOKE (strike counted, hold cleared) when a hold has lasted
 * hold_limit_ms (BTT_GUARD_HOLD_MS unless changed), BAN on the BTT_GUARD_STRIKES-th strike, OK
 * otherwise. */
btt_guard_verdict btt_guard_tick(btt_guard *g, uint64_t now_ms);

#endif
