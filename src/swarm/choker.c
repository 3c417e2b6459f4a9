/* choker.c - rechoke scheduling and the tit-for-tat policy. */
#include "btt/choker.h"

#include <stdlib.h>

static uint64_t mix(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ULL;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

typedef struct ranked {
    btt_choke_peer *p;
    uint64_t rate;
    uint64_t tie;
} ranked;

static int by_rate_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->rate != y->rate) return x->rate < y->rate ? 1 : -1;
    return x->tie < y->tie ? -1 : x->tie > y->tie;
}

static void tit_for_tat(void *state, btt_choke_peer *peers, size_t n, const btt_choke_ctx *ctx)
{
    (void)state;
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    bool *was_unchoked = malloc(n ? n : 1);
    uint64_t rng = ctx->random;
    if (!r || !was_unchoked) { /* keep the current state */
        free(r);
        free(was_unchoked);
        return;
    }
    for (size_t i = 0; i < n; i++) was_unchoked[i] = peers[i].unchoked;
    /* The optimistic peer stays until rotation, if still interested. */
    size_t nopt = 0;
    for (size_t i = 0; i < n; i++) {
        btt_choke_peer *p = &peers[i];
        if (p->optimistic && (ctx->rotate_optimistic || !p->interested)) p->optimistic = false;
        if (p->optimistic) nopt++;
    }
    /* Regular slots: interested peers by the rate that matters, snubbed ones last. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        btt_choke_peer *p = &peers[i];
        if (!p->interested || p->optimistic) continue;
        uint64_t rate = ctx->seeding ? p->up_rate : p->down_rate;
        if (p->snubbed && !ctx->seeding) rate = 0;
        r[m++] = (ranked){p, rate, mix(&rng)};
    }
    qsort(r, m, sizeof *r, by_rate_desc);
    for (size_t i = 0; i < n; i++)
        if (!peers[i].optimistic) peers[i].unchoked = false;
    for (size_t i = 0; i < m && i < ctx->slots; i++) r[i].p->unchoked = true;
    /* Optimistic slots: the interested, choked peer that has waited longest (random ties).
     * A peer unchoked until now has waited 0, so the slot really rotates. */
    while (nopt < ctx->optimistic) {
        btt_choke_peer *best = NULL;
        uint64_t best_tie = 0, best_since = 0;
        for (size_t i = 0; i < n; i++) {
            btt_choke_peer *p = &peers[i];
            if (!p->interested || p->unchoked) continue;
            uint64_t since = was_unchoked[i] ? ctx->now_ms : p->choked_since_ms;
            uint64_t tie = mix(&rng);
            if (!best || since < best_since || (since == best_since && tie < best_tie)) {
                best = p;
                best_since = since;
                best_tie = tie;
            }
        }
        if (!best) break;
        best->unchoked = best->optimistic = true;
        nopt++;
    }
    free(r);
    free(was_unchoked);
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
        .random = mix(&c->rng),
    };
    c->policy.rechoke(c->policy.state, peers, n, &ctx);
    c->next_ms = now_ms + c->interval_ms;
    if (ctx.rotate_optimistic) c->next_optimistic_ms = now_ms + c->optimistic_interval_ms;
}
