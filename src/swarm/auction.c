/* auction.c - the Speed auction, the choker's second policy (btt/choker.h, docs/speed-protocol.md
 * 3.5, whitepaper "Match Making"): eligible bidders take the regular slots by bid and all pay one
 * uniform rate, the highest losing eligible bid or the reserve; the slots they leave and the
 * optimistic slots are tit-for-tat's (choker_int.h), bids breaking optimistic ties only. */
#include "btt/choker.h"

#include "swarm/choker_int.h"

static void auction(void *state, btt_choke_peer *peers, size_t n, const btt_choke_ctx *ctx)
{
    (void)state;
    btt_choke_round r;
    if (!btt_choke_round_begin(&r, peers, n, ctx)) return; /* keep the current state */
    /* Eligible bidders (an optimistic one included) by bid, data received, longest choked. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        btt_choke_peer *p = &peers[i];
        if (!p->interested || p->bid == 0 || p->bid < ctx->reserve) continue;
        uint64_t since = btt_choke_round_since(&r, i);
        r.rank[m++] = (btt_choke_rank){p, {p->bid, p->received, UINT64_MAX - since}, btt_choke_mix(&r.rng)};
    }
    btt_choke_rank_sort(r.rank, m);
    size_t nwin = m < ctx->slots ? m : ctx->slots;
    /* Sorted by bid: the first loser has the highest losing bid, and no winner bid less. */
    uint64_t rate = ctx->reserve;
    if (m > nwin && r.rank[nwin].key[0] > rate) rate = r.rank[nwin].key[0];
    for (size_t k = 0; k < nwin; k++) {
        btt_choke_peer *p = r.rank[k].p;
        if (p->optimistic) { /* it won: its optimistic slot is given again */
            p->optimistic = false;
            r.nopt--;
        }
        p->unchoked = p->won = true;
        p->rate = rate;
    }
    btt_choke_fill_regular(&r, ctx->slots - nwin);
    btt_choke_fill_optimistic(&r, true);
    btt_choke_round_end(&r);
}

const btt_choke_policy btt_choke_auction = {"speed-auction", auction, NULL};
