/* btt/speed_price.h - BitTorrent Speed's money arithmetic and downloader policy (AutoBid).
 *
 * docs/speed-protocol.md sections 1 and 3.4. Rates are units (10^-6 BTT) per KiB of piece data;
 * every computation is integer, saturating or checked, never floating point. Pure: no I/O, the
 * caller passes the clock (milliseconds, monotonic). */
#ifndef BTT_SPEED_PRICE_H
#define BTT_SPEED_PRICE_H

#include <stdbool.h>
#include <stdint.h>

#include "btt/amount.h"

#define BTT_SPEED_PERMILLE_MAX 1000
#define BTT_AUTOBID_MIN_INTERVAL_MS 60000 /* at most one re-bid a minute */
#define BTT_AUTOBID_MOVE_PERCENT 10       /* re-bid only when the value moved by more than this */

/* The charge for `bytes` of piece data at `rate`: floor(rate * bytes / 1024) units, computed in
 * 128 bits; saturates at the total supply (a charge can never exceed what exists). Every block but
 * a torrent's last is a multiple of 1024 bytes, so the per-block charges of a piece sum to the
 * piece's charge exactly: payer and payee agree whatever grouping either side uses. */
btt_amount btt_speed_charge(uint64_t rate, uint64_t bytes);

/* AutoBid: rate = floor(permille * balance / 1000 / ceil(remaining_bytes / 1024)), with permille
 * clamped to 0..1000. remaining_bytes 0 (nothing left to buy) gives 0. 128-bit intermediate. */
uint64_t btt_autobid_rate(uint32_t permille, btt_amount balance, uint64_t remaining_bytes);

/* When to send a new bid (per torrent: the same bid goes to every Speed peer that has pieces we
 * need; a peer that becomes active gets the current bid at once, outside these rules). */
typedef struct btt_autobid {
    uint64_t sent;       /* the rate last sent */
    uint64_t sent_ms;    /* when */
    bool has_sent;       /* a bid was ever sent */
    bool budget_changed; /* the user changed the spending rate or budget: send now */
} btt_autobid;

void btt_autobid_init(btt_autobid *a);
/* The user changed the budget: the next should_send is true whatever the rules say. */
void btt_autobid_budget_changed(btt_autobid *a);
/* True if `rate` should be sent at now_ms: nothing was sent yet, or the budget changed, or (at
 * least BTT_AUTOBID_MIN_INTERVAL_MS since the last one and |rate - sent| * 100 > sent * 10).
 * A change from or to 0 counts as moving by more than 10%. */
bool btt_autobid_should_send(const btt_autobid *a, uint64_t rate, uint64_t now_ms);
/* Records that rate was sent at now_ms (clears budget_changed). */
void btt_autobid_sent(btt_autobid *a, uint64_t rate, uint64_t now_ms);

#endif
