/* guard.c - the seeder's per-peer payment guard (btt/speed_guard.h, docs/speed-protocol.md 4):
 * what a Speed peer owes against what its vouchers pay, the allowance, the 30 s hold and the
 * strikes. */
#include "btt/speed_guard.h"

#include "btt/speed_price.h"

typedef unsigned __int128 u128;

static btt_amount sat_add(btt_amount a, btt_amount b)
{
    btt_amount s;
    return btt_amount_add(&s, a, b) ? s : BTT_AMOUNT_SUPPLY;
}

static uint64_t add_bytes(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

/* owed once `more` bytes are served at the current rate: the current rate's bytes are one charge. */
static btt_amount owed_after(const btt_guard *g, uint64_t more)
{
    btt_amount settled; /* the earlier rates' charges; owed >= the current one's (saturating sum) */
    if (!btt_amount_sub(&settled, g->owed, btt_speed_charge(g->rate, g->rate_bytes))) settled = BTT_AMOUNT_ZERO;
    return sat_add(settled, btt_speed_charge(g->rate, add_bytes(g->rate_bytes, more)));
}

uint64_t btt_guard_allowance(uint64_t floor_bytes, uint64_t served_bytes)
{
    uint64_t grown = served_bytes / BTT_GUARD_GROWN_DIV;
    if (grown > BTT_GUARD_GROWN_MAX) grown = BTT_GUARD_GROWN_MAX;
    return grown > floor_bytes ? grown : floor_bytes;
}

/* owed - paid <= the allowance (its bytes at the allowance rate) */
static bool within_allowance(const btt_guard *g, btt_amount owed)
{
    uint64_t bytes = btt_guard_allowance(g->allowance_bytes, g->served_bytes);
    u128 allowance = btt_amount_units(btt_speed_charge(g->allow_rate > g->rate ? g->allow_rate : g->rate, bytes));
    return btt_amount_units(owed) <= (u128)btt_amount_units(g->paid) + allowance;
}

void btt_guard_init(btt_guard *g, uint64_t allowance_bytes)
{
    *g = (btt_guard){.allowance_bytes = allowance_bytes, .hold_limit_ms = BTT_GUARD_HOLD_MS};
}

void btt_guard_set_rate(btt_guard *g, uint64_t rate)
{
    /* a debt run up at a higher rate keeps that rate's allowance until vouchers cover it: the
     * peer pays per verified piece, and a lower price must not hold the blocks it needs to
     * finish (and pay for) the pieces it got at the old one */
    if (btt_amount_cmp(btt_guard_debt(g), BTT_AMOUNT_ZERO) == 0 || rate > g->allow_rate) g->allow_rate = rate;
    g->rate = rate;
    g->rate_bytes = 0; /* what was served so far stays in owed at the old rate */
}

void btt_guard_set_channel(btt_guard *g, btt_amount base, uint64_t seq)
{
    g->base = base;
    g->best_seq = seq;
    g->paid = BTT_AMOUNT_ZERO;
}

bool btt_guard_may_serve(btt_guard *g, uint32_t length, uint64_t now_ms)
{
    if (g->rate == 0 || within_allowance(g, owed_after(g, length))) {
        g->holding = false; /* nothing is held any more */
        return true;
    }
    if (!g->holding) {
        g->holding = true;
        g->hold_ms = now_ms;
    }
    return false;
}

void btt_guard_served(btt_guard *g, uint32_t length)
{
    g->owed = owed_after(g, length);
    g->rate_bytes = add_bytes(g->rate_bytes, length);
    g->served_bytes = add_bytes(g->served_bytes, length);
}

bool btt_guard_voucher(btt_guard *g, btt_amount cumulative, uint64_t seq)
{
    btt_amount paid;
    if (seq <= g->best_seq || !btt_amount_sub(&paid, cumulative, g->base)) return false;
    if (btt_amount_cmp(paid, g->paid) < 0) return false; /* below the best one: stale */
    g->paid = paid;
    g->best_seq = seq;
    if (btt_amount_cmp(btt_guard_debt(g), BTT_AMOUNT_ZERO) == 0) g->allow_rate = g->rate;
    if (g->holding && within_allowance(g, g->owed)) g->holding = false;
    return true;
}

btt_amount btt_guard_debt(const btt_guard *g)
{
    btt_amount d;
    return btt_amount_sub(&d, g->owed, g->paid) ? d : BTT_AMOUNT_ZERO;
}

btt_guard_verdict btt_guard_tick(btt_guard *g, uint64_t now_ms)
{
    if (!g->holding || now_ms < g->hold_ms || now_ms - g->hold_ms < g->hold_limit_ms) return BTT_GUARD_OK;
    g->holding = false;
    g->strikes++;
    return g->strikes >= BTT_GUARD_STRIKES ? BTT_GUARD_BAN : BTT_GUARD_CHOKE;
}
