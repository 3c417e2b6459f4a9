/* choker_int.h - the round machinery shared by the choker's policies (choker.c: tit-for-tat,
 * auction.c: the Speed auction). Internal to src/swarm. */
#ifndef BTT_CHOKER_INT_H
#define BTT_CHOKER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/choker.h"

/* splitmix64: the tie-break stream. */
uint64_t btt_choke_mix(uint64_t *s);

/* A ranked candidate: keys compared in order, highest first, then `tie`, lowest first. */
typedef struct btt_choke_rank {
    btt_choke_peer *p;
    uint64_t key[3];
    uint64_t tie;
} btt_choke_rank;

void btt_choke_rank_sort(btt_choke_rank *r, size_t m);

/* One rechoke round over peers[0..n). */
typedef struct btt_choke_round {
    btt_choke_peer *peers;
    size_t n;
    const btt_choke_ctx *ctx;
    bool *was_unchoked;    /* per peer: its `unchoked` on input */
    btt_choke_rank *rank;  /* scratch, n entries */
    uint64_t rng;          /* seeded from ctx->random */
    size_t nopt;           /* optimistic peers currently holding a slot */
} btt_choke_round;

/* Starts a round: remembers who was unchoked, sets won = false and rate = 0 on every peer, ends
 * the optimistic unchokes that rotate out or lost interest, and chokes every peer that is not
 * optimistic. False if out of memory (the peers keep their current state). */
bool btt_choke_round_begin(btt_choke_round *r, btt_choke_peer *peers, size_t n, const btt_choke_ctx *ctx);
void btt_choke_round_end(btt_choke_round *r);
/* When peer i was choked for the optimistic order: now if it was unchoked on input (it has not
 * waited at all), else its choked_since_ms. */
uint64_t btt_choke_round_since(const btt_choke_round *r, size_t i);
/* Unchokes up to `nfree` interested peers that are neither unchoked nor optimistic, in
 * tit-for-tat order: by download rate (upload rate when seeding), snubbed peers last, random ties. */
void btt_choke_fill_regular(btt_choke_round *r, size_t nfree);
/* Fills the optimistic slots with the interested choked peers that have waited longest; ties go
 * to the higher bid when by_bid is set, then are random. */
void btt_choke_fill_optimistic(btt_choke_round *r, bool by_bid);

#endif
