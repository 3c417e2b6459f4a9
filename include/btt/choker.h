/* btt/choker.h - who gets upload slots. A pure core with an explicit clock and pluggable
 * policies (tit-for-tat now, the Speed auction later).
 *
 * BEP 3: "peers ... unchoke a fixed number of peers (the default is four) ... decided by
 * download rate ... reevaluated every ten seconds ... at any one time there is a single peer
 * which is unchoked regardless of its upload rate ... which peer is the optimistic unchoke is
 * rotated every 30 seconds ... Once a downloader has complete file, it ... uses its upload
 * rate rather than its download rate to decide which peers to unchoke."
 *
 * The Speed auction (docs/speed-protocol.md 3.5, whitepaper "Match Making") is the second policy:
 * bidders whose bid is at least the reserve price take the regular slots first, by bid, and all
 * winners pay one uniform rate; the slots they leave and the optimistic slot work as in
 * tit-for-tat, so legacy peers keep being served. */
#ifndef BTT_CHOKER_H
#define BTT_CHOKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"

typedef struct btt_choke_peer {
    const void *peer;      /* caller's token */
    bool interested;       /* the peer wants our data */
    bool snubbed;          /* sent us nothing for a long time while we asked */
    uint64_t down_rate;    /* bytes/s we get from it */
    uint64_t up_rate;      /* bytes/s we send it */
    uint64_t choked_since_ms; /* when it was last choked (0: never unchoked) */
    uint64_t bid;          /* Speed: its current bid, units/KiB (0: no bid, or a legacy peer) */
    uint64_t received;     /* Speed: bytes received from it in total (auction tie-break) */
    /* in: current state; out: what the choker decided */
    bool unchoked;
    bool optimistic;
    bool won;              /* out, auction: unchoked for its bid (a regular slot) */
    uint64_t rate;         /* out, auction: the uniform rate every winner pays (0 for others) */
} btt_choke_peer;

typedef struct btt_choke_ctx {
    uint32_t slots;        /* regular unchoke slots */
    uint32_t optimistic;   /* optimistic slots */
    bool seeding;
    bool rotate_optimistic; /* this round picks new optimistic peers */
    uint64_t now_ms;
    uint64_t random;       /* for tie-breaks */
    uint64_t reserve;      /* auction: the reserve price, units/KiB */
} btt_choke_ctx;

/* A policy decides `unchoked` and `optimistic` for every peer. */
typedef struct btt_choke_policy {
    const char *name;
    void (*rechoke)(void *state, btt_choke_peer *peers, size_t n, const btt_choke_ctx *ctx);
    void *state;
} btt_choke_policy;

extern const btt_choke_policy btt_choke_tit_for_tat;

/* The Speed auction (src/swarm/auction.c). Per round:
 *   eligible   interested, bid > 0 and bid >= ctx->reserve (an optimistic peer that wins is
 *              a winner, no longer optimistic, and its optimistic slot is given again)
 *   winners    the first min(slots, eligible) eligible peers ordered by bid (highest first), then
 *              by `received` (highest first), then by choked_since_ms (longest choked first: a
 *              smaller value; a currently unchoked peer counts as choked since now), then random
 *   rate       max(reserve, the highest eligible bid that did not win); every winner gets
 *              won = true and this rate (it never exceeds a winner's bid); everyone else rate 0
 *   other      regular slots the winners leave go to the remaining interested peers (bidders
 *              below the reserve and legacy peers alike) in tit-for-tat order; the optimistic
 *              slot(s) rotate exactly as in tit-for-tat, ties among peers choked equally long
 *              going to the higher bid. An optimistic or tit-for-tat unchoke is free (rate 0). */
extern const btt_choke_policy btt_choke_auction;

typedef struct btt_choker {
    btt_choke_policy policy;
    uint32_t slots, optimistic;
    uint32_t interval_ms;            /* 10 s */
    uint32_t optimistic_interval_ms; /* 30 s */
    uint64_t next_ms, next_optimistic_ms;
    uint64_t rng;
    uint64_t reserve;                /* auction: passed to the policy as ctx.reserve */
} btt_choker;

void btt_choker_init(btt_choker *c, const btt_choke_policy *policy, uint32_t slots, uint32_t optimistic,
                     uint64_t seed);
/* True when a rechoke is due at now_ms (the first call is always due). */
bool btt_choker_due(const btt_choker *c, uint64_t now_ms);
/* Runs the policy over peers (their `unchoked`/`optimistic` are the current state on input)
 * and schedules the next round. Forced rounds (a peer came or went) keep the optimistic
 * peer unless it is gone. */
void btt_choker_run(btt_choker *c, btt_choke_peer *peers, size_t n, bool seeding, uint64_t now_ms);

#endif
