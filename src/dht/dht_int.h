/* dht_int.h - internals of the DHT node shared by the files in src/dht; not part of the public API. */
#ifndef BTT_DHT_INT_H
#define BTT_DHT_INT_H

#ifndef BTT_DHT_INTERNAL
#error "dht_int.h is private to src/dht"
#endif

#include "btt/dht.h"

/* ------------------------------------------------------------------ lookup (lookup.c) */

#define LK_MAX_CANDS 64  /* candidates a lookup keeps (the closest seen so far) */
#define LK_MAX_PEERS 512 /* distinct peers a lookup reports; more are not reported */

enum { LK_FIND_NODE = 1, LK_GET_PEERS };

enum {
    LK_NEW = 0,  /* not queried yet */
    LK_SENT,     /* queried, holds one of the alpha slots */
    LK_SLOW,     /* queried, no answer within slow_ms: slot given up, an answer still counts */
    LK_REPLIED,
    LK_FAILED,
};

typedef struct lk_cand {
    uint8_t id[BTT_DHT_ID_LEN];
    btt_addr addr;
    uint8_t state;
    bool id_known;  /* false for bootstrap addresses until they answer */
    uint8_t hops;   /* referrals from a seed node */
    uint8_t token_len;
    uint8_t token[BTT_KRPC_MAX_TOKEN];
    uint64_t sent_ms;
} lk_cand;

typedef struct lookup {
    bool in_use;
    uint8_t kind;    /* LK_FIND_NODE, LK_GET_PEERS */
    uint8_t family;  /* 4 or 6: the table and "nodes"/"nodes6" this lookup walks */
    uint32_t handle; /* the caller's handle; 0 for the node's own refresh lookups */
    uint32_t gen;    /* changes on every reuse of the slot: stale answers are recognised */
    uint8_t target[BTT_DHT_ID_LEN];
    bool announce, implied_port;
    uint16_t port;
    uint64_t start_ms;
    uint32_t inflight; /* candidates in LK_SENT */
    size_t n;          /* candidates: those with unknown ids first, then by distance to target */
    lk_cand c[LK_MAX_CANDS];
    size_t nseen;      /* distinct peers reported */
    btt_addr *seen;    /* LK_MAX_PEERS, allocated for get_peers lookups */
    btt_dht_lookup_stats stats;
    size_t num_result; /* the closest that answered, of this family and (merged) the other */
    btt_dht_node_info result[2 * BTT_DHT_K];
} lookup;

/* Adds a candidate unless it is known already (by id or address), has port 0, or is farther
 * than all LK_MAX_CANDS candidates kept. */
void lk_add(lookup *lk, const uint8_t *id, const btt_addr *addr, uint8_t hops);
/* The candidate at addr, or NULL. */
lk_cand *lk_find(lookup *lk, const btt_addr *addr);
/* The next candidate to query, if fewer than alpha are in flight: marked LK_SENT at now. */
lk_cand *lk_next(lookup *lk, uint32_t alpha, uint64_t now_ms);
/* The candidate answered with id; it is placed by distance now that its id is known.
 * Returns the candidate's new position, or NULL if the id duplicates another candidate. */
lk_cand *lk_replied(lookup *lk, lk_cand *c, const uint8_t id[BTT_DHT_ID_LEN]);
void lk_failed(lookup *lk, lk_cand *c);
/* Gives up the alpha slots of queries older than slow_ms. */
void lk_age(lookup *lk, uint64_t now_ms, uint32_t slow_ms);
/* True when the k closest candidates that did not fail or stall have answered and no
 * bootstrap address is still being asked. */
bool lk_finished(const lookup *lk);
/* Records peer a; true if it is new to this lookup (and there was room to remember it). */
bool lk_new_peer(lookup *lk, const btt_addr *a);

/* ------------------------------------------------------------------ peer store (store.c) */

typedef struct store_peer {
    btt_addr addr;
    uint64_t expire_ms;
} store_peer;

typedef struct store_torrent {
    uint8_t ih[BTT_DHT_ID_LEN];
    uint32_t n, cap;
    store_peer *p;
} store_torrent;

typedef struct store {
    store_torrent *t; /* sorted by info-hash */
    size_t n, cap;
    size_t peers;     /* total */
    size_t max_torrents, max_per_torrent, max_peers;
} store;

void store_init(store *s, size_t max_torrents, size_t max_per_torrent, size_t max_peers);
void store_free(store *s);
/* Adds or refreshes peer a for ih. BTT_ETOOBIG when a cap forbids it, BTT_ENOMEM. */
btt_err store_announce(store *s, const uint8_t ih[BTT_DHT_ID_LEN], const btt_addr *a, uint64_t expire_ms);
/* Up to max peers of family for ih, starting at a position chosen by rnd; returns the count. */
size_t store_get(const store *s, const uint8_t ih[BTT_DHT_ID_LEN], uint8_t family, uint64_t rnd, btt_addr *out,
                 size_t max);
/* Drops peers expired at now and torrents left empty. */
void store_expire(store *s, uint64_t now_ms);

#endif
