/* price.c - BitTorrent Speed's money arithmetic (the charge for data) and the downloader's
 * AutoBid policy (btt/speed_price.h, docs/speed-protocol.md 1 and 3.4). Integer only. */
#include "btt/speed_price.h"

typedef unsigned __int128 u128;

btt_amount btt_speed_charge(uint64_t rate, uint64_t bytes)
{
    u128 units = (u128)rate * bytes / 1024;
    btt_amount a;
    if (units > BTT_SUPPLY_UNITS || !btt_amount_from_units((uint64_t)units, &a)) return BTT_AMOUNT_SUPPLY;
    return a;
}

uint64_t btt_autobid_rate(uint32_t permille, btt_amount balance, uint64_t remaining_bytes)
{
    if (remaining_bytes == 0) return 0;
    uint64_t kib = remaining_bytes / 1024 + (remaining_bytes % 1024 != 0);
    if (permille > BTT_SPEED_PERMILLE_MAX) permille = BTT_SPEED_PERMILLE_MAX;
    /* at most balance, which is at most the supply: fits */
    return (uint64_t)((u128)permille * btt_amount_units(balance) / BTT_SPEED_PERMILLE_MAX / kib);
}

void btt_autobid_init(btt_autobid *a) { *a = (btt_autobid){0}; }

void btt_autobid_budget_changed(btt_autobid *a) { a->budget_changed = true; }

bool btt_autobid_should_send(const btt_autobid *a, uint64_t rate, uint64_t now_ms)
{
    if (!a->has_sent || a->budget_changed) return true;
    if (now_ms < a->sent_ms || now_ms - a->sent_ms < BTT_AUTOBID_MIN_INTERVAL_MS) return false;
    /* |rate - sent| * 100 > sent * 10; from or to 0 (and not 0 to 0) always passes */
    uint64_t diff = rate > a->sent ? rate - a->sent : a->sent - rate;
    return (u128)diff * 100 > (u128)a->sent * BTT_AUTOBID_MOVE_PERCENT;
}

void btt_autobid_sent(btt_autobid *a, uint64_t rate, uint64_t now_ms)
{
    a->sent = rate;
    a->sent_ms = now_ms;
    a->has_sent = true;
    a->budget_changed = false;
}
