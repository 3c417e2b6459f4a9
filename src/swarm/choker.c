/* choker.c - rechoke scheduling, the round machinery the policies share (choker_int.h) and the
 * tit-for-tat policy. */
#include "btt/choker.h"

#include <stdlib.h>

#include "swarm/choker_int.h"

uint64_t btt_choke_mix(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ULL;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int by_keys_desc(const void *a, const void *b)
{
    const btt_choke_rank *x = a, *y = b;
    for (int k = 0; k < 3; k++)
        if (x->key[k] != y->key[k]) return x->key[k] < y->key[k] ? 1 : -1;
    return x->tie < y->tie ? -1 : x->tie > y->tie;
}

void btt_choke_rank_sort(btt_choke_rank *r, size_t m) { qsort(r, m, sizeof *r, by_keys_desc); }

bool btt_choke_round_begin(btt_choke_round *r, btt_choke_peer *peers, size_t n, const btt_choke_ctx *ctx)
{
    *r = (btt_choke_round){.peers = peers, .n = n, .ctx = ctx, .rng = ctx->random};
    r->rank = malloc((n ? n : 1) * sizeof *r->rank);
    r->was_unchoked = malloc(n ? n : 1);
    if (!r->rank || !r->was_unchoked) {
        btt_choke_round_end(r);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        btt_choke_peer *p = &peers[i];
        r->was_unchoked[i] = p->unchoked;
        p->won = false;
        p->rate = 0;
        /* The optimistic peer stays until rotation, if still interested. */
        if (p->optimistic && (ctx->rotate_optimistic || !p->interested)) p->optimistic = false;
        if (p->optimistic) r->nopt++;
        else p->unchoked = false;
    }
    return true;
}

void btt_choke_round_end(btt_choke_round *r)
{
    free(r->rank);
    free(r->was_unchoked);
    r->rank = NULL;
    r->was_unchoked = NULL;
}

uint64_t btt_choke_round_since(const btt_choke_round *r, size_t i)
{
    return r->was_unchoked[i] ? r->ctx->now_ms : r->peers[i].choked_since_ms;
}

void btt_choke_fill_regular(btt_choke_round *r, size_t nfree)
{
    const btt_choke_ctx *ctx = r->ctx;
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++) {
        btt_choke_peer *p = &r->peers[i];
        if (!p->interested || p->optimistic || p->unchoked) continue;
        uint64_t rate = ctx->seeding ? p->up_rate : p->down_rate;
        if (p->snubbed && !ctx->seeding) rate = 0;
        r->rank[m++] = (btt_choke_rank){p, {rate, 0, 0}, btt_choke_mix(&r->rng)};
    }
    btt_choke_rank_sort(r->rank, m);
    for (size_t i = 0; i < m && i < nfree; i++) r->rank[i].p->unchoked = true;
}

void btt_choke_fill_optimistic(btt_choke_round *r, bool by_bid)
{
    /* The interested, choked peer that has waited longest. A peer unchoked until now has waited
     * 0, so the slot really rotates. */
    while (r->nopt < r->ctx->optimistic) {
        btt_choke_peer *best = NULL;
        uint64_t best_tie = 0, best_since = 0;
        for (size_t i = 0; i < r->n; i++) {
            btt_choke_peer *p = &r->peers[i];
            if (!p->interested || p->unchoked) continue;
            uint64_t since = btt_choke_round_since(r, i);
            uint64_t tie = btt_choke_mix(&r->rng);
            bool better = !best || since < best_since;
            if (best && since == best_since)
                better = by_bid && p->bid != best->bid ? p->bid > best->bid : tie < best_tie;
            if (better) {
                best = p;
                best_since = since;
                best_tie = tie;
            }
        }
        if (!best) break;
        best->unchoked = best->optimistic = true;
        r->nopt++;
    }
}

static void tit_for_tat(void *state, btt_choke_peer *peers, size_t n, const btt_choke_ctx *ctx)
{
    (void)state;
    btt_choke_round r;
    if (!btt_choke_round_begin(&r, peers, n, ctx)) return; /* keep the current state */
    btt_choke_fill_regular(&r, ctx->slots);
    btt_choke_fill_optimistic(&r, false);
    btt_choke_round_end(&r);
}

const btt_choke_policy btt_choke_tit_for_tat = {"tit-for-tat", tit_for_tat, NULL};

void btt_choker_init(btt_choker *c, const btt_choke_policy *policy, uint32_t slots, uint32_t optimistic,
                     uint64_t seed)
{
    c->policy = *policy;
    c->slots = slots;
    c->optimistic = optimistic;
    c->interval_ms = 10000;
    c->optimistic_interval_ms = 30000;
    c->next_ms = c->next_optimistic_ms = 0;
    c->rng = seed;
    c->reserve = 0;
}

bool btt_choker_due(const btt_choker *c, uint64_t now_ms) { return now_ms >= c->next_ms; }

void btt_choker_run(btt_choker *c, btt_choke_peer *peers, size_t n, bool seeding, uint64_t now_ms)
{
    btt_choke_ctx ctx = {
        .slots = c->slots,
        .optimistic = c->optimistic,
        .seeding = seeding,
        .rotate_optimistic = now_ms >= c->next_optimistic_ms,
        .now_ms = now_ms,
        .random = btt_choke_mix(&c->rng),
        .reserve = c->reserve,
    };
    c->policy.rechoke(c->policy.state, peers, n, &ctx);
    c->next_ms = now_ms + c->interval_ms;
    if (ctx.rotate_optimistic) c->next_optimistic_ms = now_ms + c->optimistic_interval_ms;
}
