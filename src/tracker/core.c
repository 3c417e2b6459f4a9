/* core.c - the tracker server's swarm tables (btt/tracker_core.h). No I/O, explicit clock.
 *
 * Torrents: an open-addressing table (linear probing, at most 3/4 full, backward-shift
 * deletion) of pointers, keyed by SipHash-2-4 of the info-hash with a secret key.
 *
 * Peers: per torrent and address family, a hash table (below) of fixed-size slots:
 *   IPv4: ip[4] port[2] meta[1]   = 7 bytes
 *   IPv6: ip[16] port[2] meta[1]  = 19 bytes
 * ip and port are in network order, so the first 6 (18) bytes are the peer's compact form and
 * are copied into replies as they are. A slot whose port is 0 is empty (port 0 is refused).
 * meta: two flag bits (seed, has a bid) over six bits of `seen`, the last announce time in
 * ticks of TTL/32 s (at least 1 s), modulo 64: a torrent not announced to for longer than the
 * peer TTL loses all its peers at once, and an announced-to torrent is swept at least every
 * TTL/4, so no live slot is ever older than about 41 ticks and the modular age is exact. A
 * peer is dropped after TTL, give or take a tick (TTL/32: about 86 s with the default interval).
 * A peer table is bucketized cuckoo hashing: buckets of BK = 8 slots (56 bytes for IPv4), each
 * key has two buckets given by the two halves of its keyed SipHash (mapped onto
 * any bucket count by multiply-shift), so a lookup reads at most two buckets and a removal
 * just clears the slot. An insert takes the less full of the two buckets; both being full,
 * it moves peers to their other bucket (a random walk of at most KICKS steps, growing the
 * table when it gives up). A table fills to about 98% before it grows (rehashing every peer
 * into a new table) by 1/16, and shrinks to half full below 1/8. Up to SEG = 128 slots a
 * table is one allocation (2, 4, 8, 16, ... slots); larger ones are segments of 128 slots
 * behind an array of pointers, so that tables growing by small steps reuse each other's freed
 * segments instead of leaving the heap full of holes of odd sizes. About 8 bytes per IPv4
 * peer in all (docs/benchmarks.md).
 *
 * Bids: most peers never bid, so a bid lives in a small array per torrent (address, bid, time)
 * and the slot only carries a HASBID flag. */
#include "btt/tracker_core.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

enum { F_SEED = 0x40, F_HASBID = 0x80, SEEN_MASK = 0x3f }; /* the meta byte */
enum { SAMPLE = 8 };
/* peer tables: slots per bucket, longest cuckoo walk, slots per segment of a large table */
enum { BK = 8, KICKS = 128, SEG = 128 };

typedef struct ptab {
    uint8_t *slots; /* cap <= SEG: the slots; larger: cap / SEG pointers to segments of SEG slots */
    uint32_t cap, count; /* cap: 0, 2, 4, a multiple of BK up to SEG, then a multiple of SEG */
} ptab;

typedef struct bident {
    uint64_t bid;
    uint64_t seen;    /* full time of the announce that carried the bid */
    uint8_t fam;      /* 4 or 6 */
    uint8_t seed;
    uint8_t key[18];  /* compact address (6 or 18 bytes used) */
} bident;

typedef struct torrent {
    uint8_t hash[20];
    uint32_t completed;
    uint64_t h;        /* SipHash of hash */
    uint64_t last;     /* last announce */
    uint64_t swept;    /* last sweep */
    uint32_t seeders, leechers;
    ptab t4, t6;
    bident *bids;
    uint32_t nbids, capbids;
} torrent;

struct btt_trk {
    btt_trk_config cfg;
    uint32_t ttl;
    uint32_t tick, ttl_ticks; /* a slot's time unit (s) and the TTL in it */
    uint8_t key[crypto_shorthash_KEYBYTES];
    uint64_t rng;

    torrent **tab;
    size_t cap, count;
    size_t cursor; /* expiry walk */

    uint8_t (*wl)[20];
    size_t wl_cap, wl_count;

    uint64_t peers, seeders, leechers, bidders;
    uint64_t bytes;
    uint64_t announces, scrapes, bidscrapes, completed, rejected, expired, evicted_peers, evicted_torrents;

    /* bidscrape result of the current second */
    btt_trk_bidscrape_entry bs_cache[BTT_TRK_BIDSCRAPE_MAX];
    size_t bs_n;
    uint64_t bs_time;
    bool bs_valid;
};

/* ---- small helpers ---- */

static uint64_t rnd(btt_trk *t)
{
    /* xorshift64*: sampling only, never security */
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t hkey(const btt_trk *t, const uint8_t *p, size_t n)
{
    uint64_t h;
    crypto_shorthash((uint8_t *)&h, p, n, t->key);
    return h;
}

static size_t stride_of(int fam) { return fam == 4 ? 7 : 19; }
static size_t alen_of(int fam) { return fam == 4 ? 6 : 18; }

static uint8_t *slot_at(const ptab *p, int fam, uint32_t i)
{
    if (p->cap <= SEG) return p->slots + (size_t)i * stride_of(fam);
    return ((uint8_t **)(void *)p->slots)[i / SEG] + (size_t)(i % SEG) * stride_of(fam);
}

/* Whether a slot holds key (constant sizes, so that the compiler compares inline). */
static bool key_eq(const uint8_t *s, const uint8_t *key, int fam)
{
    return fam == 4 ? memcmp(s, key, 6) == 0 : memcmp(s, key, 18) == 0;
}

static uint64_t ptab_bytes(uint32_t cap, int fam)
{
    return (uint64_t)cap * stride_of(fam) + (cap > SEG ? cap / SEG * sizeof(uint8_t *) : 0);
}

static void ptab_release(uint8_t *slots, uint32_t cap)
{
    if (slots && cap > SEG)
        for (uint32_t k = 0; k < cap / SEG; k++) free(((uint8_t **)(void *)slots)[k]);
    free(slots);
}

/* Zeroed slots for a table of cap slots, or NULL. */
static uint8_t *ptab_alloc(uint32_t cap, int fam)
{
    if (cap <= SEG) return calloc(cap, stride_of(fam));
    uint8_t **segs = calloc(cap / SEG, sizeof *segs);
    if (!segs) return NULL;
    for (uint32_t k = 0; k < cap / SEG; k++) {
        if (!(segs[k] = calloc(SEG, stride_of(fam)))) {
            while (k) free(segs[--k]);
            free(segs);
            return NULL;
        }
    }
    return (uint8_t *)segs;
}

static bool slot_used(const uint8_t *s, int fam)
{
    size_t a = alen_of(fam);
    return s[a - 2] | s[a - 1];
}

static void slot_set_seen(const btt_trk *t, uint8_t *s, int fam, uint64_t now)
{
    uint8_t *m = s + alen_of(fam);
    *m = (uint8_t)((*m & ~SEEN_MASK) | ((now / t->tick) & SEEN_MASK));
}

/* the meta byte: test and set F_SEED / F_HASBID in it (the other bits are `seen`) */
static uint8_t *slot_flags(uint8_t *s, int fam) { return s + alen_of(fam); }

/* in ticks */
static uint32_t age_of(const btt_trk *t, const uint8_t *s, int fam, uint64_t now)
{
    return (uint32_t)(((now / t->tick) - s[alen_of(fam)]) & SEEN_MASK);
}

/* ---- bids ---- */

static int64_t bid_find(const torrent *tor, int fam, const uint8_t *key)
{
    size_t a = alen_of(fam);
    for (uint32_t i = 0; i < tor->nbids; i++)
        if (tor->bids[i].fam == fam && memcmp(tor->bids[i].key, key, a) == 0) return i;
    return -1;
}

static void bid_remove(btt_trk *t, torrent *tor, int fam, const uint8_t *key)
{
    int64_t i = bid_find(tor, fam, key);
    if (i < 0) return;
    tor->bids[i] = tor->bids[--tor->nbids];
    t->bidders--;
    t->bs_valid = false;
    if (tor->nbids == 0) {
        t->bytes -= (uint64_t)tor->capbids * sizeof(bident);
        free(tor->bids);
        tor->bids = NULL;
        tor->capbids = 0;
    }
}

static bool bid_set(btt_trk *t, torrent *tor, int fam, const uint8_t *key, uint64_t bid, bool seed, uint64_t now)
{
    int64_t i = bid_find(tor, fam, key);
    if (i < 0) {
        if (tor->nbids == tor->capbids) {
            uint32_t nc = tor->capbids ? tor->capbids * 2 : 4;
            bident *nb = realloc(tor->bids, (size_t)nc * sizeof *nb);
            if (!nb) return false;
            t->bytes += (uint64_t)(nc - tor->capbids) * sizeof *nb;
            tor->bids = nb;
            tor->capbids = nc;
        }
        i = tor->nbids++;
        memset(&tor->bids[i], 0, sizeof tor->bids[i]);
        tor->bids[i].fam = (uint8_t)fam;
        memcpy(tor->bids[i].key, key, alen_of(fam));
        t->bidders++;
    }
    tor->bids[i].bid = bid;
    tor->bids[i].seen = now;
    t->bs_valid = false;
    tor->bids[i].seed = seed;
    return true;
}

static uint64_t bid_of(const torrent *tor, int fam, const uint8_t *slot)
{
    if (!(slot[alen_of(fam)] & F_HASBID)) return 0;
    int64_t i = bid_find(tor, fam, slot);
    return i < 0 ? 0 : tor->bids[i].bid;
}

/* ---- removing peers ---- */

static void forget_peer(btt_trk *t, torrent *tor, int fam, uint8_t *s)
{
    uint8_t fl = *slot_flags(s, fam);
    if (fl & F_SEED) {
        tor->seeders--;
        t->seeders--;
    } else {
        tor->leechers--;
        t->leechers--;
    }
    if (fl & F_HASBID) bid_remove(t, tor, fam, s);
    t->peers--;
}

/* ---- peer tables ---- */

/* A key's two buckets (the same one while the table has a single bucket). */
static void ptab_buckets(const btt_trk *t, const ptab *p, int fam, const uint8_t *key, uint32_t b[2])
{
    uint64_t nb = (p->cap + BK - 1) / BK;
    uint64_t h = hkey(t, key, alen_of(fam));
    b[0] = (uint32_t)(((h & 0xffffffffu) * nb) >> 32);
    b[1] = (uint32_t)(((h >> 32) * nb) >> 32);
    if (b[1] == b[0] && nb > 1) b[1] = b[0] + 1 == nb ? 0 : b[0] + 1;
}

static uint32_t bucket_end(const ptab *p, uint32_t b)
{
    uint32_t e = (b + 1) * BK;
    return e < p->cap ? e : p->cap;
}

/* First free slot of bucket b or -1; *used: the bucket's used slots. */
static int64_t bucket_free(const ptab *p, int fam, uint32_t b, uint32_t *used)
{
    int64_t f = -1;
    uint32_t n = 0;
    for (uint32_t i = b * BK, e = bucket_end(p, b); i < e; i++) {
        if (slot_used(slot_at(p, fam, i), fam)) n++;
        else if (f < 0) f = i;
    }
    *used = n;
    return f;
}

static int64_t ptab_find(const btt_trk *t, const ptab *p, int fam, const uint8_t *key)
{
    if (!p->count) return -1;
    uint32_t b[2];
    ptab_buckets(t, p, fam, key, b);
    /* an empty slot's port is 0, a key's never is: no need to test for use */
    for (uint32_t i = b[0] * BK, e = bucket_end(p, b[0]); i < e; i++)
        if (key_eq(slot_at(p, fam, i), key, fam)) return i;
    if (b[1] != b[0])
        for (uint32_t i = b[1] * BK, e = bucket_end(p, b[1]); i < e; i++)
            if (key_eq(slot_at(p, fam, i), key, fam)) return i;
    return -1;
}

/* Puts a slot whose key is not in p into a free slot of one of its buckets, the less full one,
 * or, both being full, moves peers to their other buckets (a random walk of at most KICKS
 * steps). Returns the slot index, -2 when a peer was put but the walk gave up: the peer then
 * in hand (another one) is left in `slot` and must go into a larger table. */
static int64_t ptab_put(btt_trk *t, ptab *p, int fam, uint8_t *slot)
{
    size_t st = stride_of(fam);
    uint32_t b[2], n0, n1 = BK;
    ptab_buckets(t, p, fam, slot, b);
    int64_t f0 = bucket_free(p, fam, b[0], &n0), f1 = b[1] != b[0] ? bucket_free(p, fam, b[1], &n1) : -1;
    int64_t f = f0 >= 0 && (f1 < 0 || n0 <= n1) ? f0 : f1;
    if (f >= 0) {
        memcpy(slot_at(p, fam, (uint32_t)f), slot, st);
        p->count++;
        return f;
    }
    uint32_t cur = b[rnd(t) & 1];
    for (int k = 0; k < KICKS; k++) {
        uint32_t lo = cur * BK, w = bucket_end(p, cur) - lo;
        uint8_t *v = slot_at(p, fam, lo + (uint32_t)(rnd(t) % w)), tmp[20];
        memcpy(tmp, v, st);
        memcpy(v, slot, st);
        memcpy(slot, tmp, st);
        ptab_buckets(t, p, fam, slot, b);
        cur = b[0] == cur ? b[1] : b[0];
        uint32_t n;
        f = bucket_free(p, fam, cur, &n);
        if (f >= 0) {
            memcpy(slot_at(p, fam, (uint32_t)f), slot, st);
            p->count++;
            return -3; /* placed, but not where the caller's key went */
        }
    }
    return -2;
}

/* Most peers a table of cap slots takes before it grows (about 98% full; two buckets of 8
 * per key stay easy to insert into up to about 99.8%). */
static uint32_t ptab_max(uint32_t cap) { return cap < 64 ? cap : cap - cap / 64; }

/* A size for at least n slots: 2, 4, a multiple of BK up to SEG, then a multiple of SEG. */
static uint32_t ptab_round(uint64_t n)
{
    if (n <= 2) return 2;
    if (n <= 4) return 4;
    uint64_t u = n <= SEG ? BK : SEG;
    n = (n + u - 1) / u * u;
    return n > 0x80000000u ? 0 : (uint32_t)n;
}

/* The next size up: 2, 4, 8, ..., SEG, then about 1/16 larger, by at least one segment. 0 on
 * overflow. */
static uint32_t ptab_next(uint32_t cap)
{
    if (cap < BK) return cap ? cap * 2 : 2;
    if (cap < SEG) return cap + BK;
    return ptab_round((uint64_t)cap + (cap / 16 > SEG ? cap / 16 : SEG));
}

/* Moves p's peers (and `hand`, when given) into a table of at least ncap slots, larger again
 * while a walk gives up. */
static bool ptab_resize(btt_trk *t, ptab *p, int fam, uint32_t ncap, const uint8_t *hand)
{
    size_t st = stride_of(fam);
    for (; ncap; ncap = ptab_next(ncap)) {
        if (hand ? ncap <= p->count : ncap < p->count) continue;
        uint8_t *ns = ptab_alloc(ncap, fam);
        if (!ns) return false;
        ptab np = {ns, ncap, 0};
        bool ok = true;
        uint8_t s[20];
        for (uint32_t i = 0; ok && i < p->cap; i++) {
            const uint8_t *o = slot_at(p, fam, i);
            if (!slot_used(o, fam)) continue;
            memcpy(s, o, st);
            ok = ptab_put(t, &np, fam, s) != -2;
        }
        if (ok && hand) {
            memcpy(s, hand, st);
            ok = ptab_put(t, &np, fam, s) != -2;
        }
        if (!ok) {
            ptab_release(ns, ncap);
            continue;
        }
        t->bytes -= ptab_bytes(p->cap, fam);
        t->bytes += ptab_bytes(ncap, fam);
        ptab_release(p->slots, p->cap);
        *p = np;
        return true;
    }
    return false;
}

/* Inserts key (not present); returns the slot index or -1 when out of memory. */
static int64_t ptab_insert(btt_trk *t, torrent *tor, ptab *p, int fam, const uint8_t *key)
{
    if (p->cap == 0 || p->count + 1 > ptab_max(p->cap)) {
        uint32_t ncap = ptab_next(p->cap);
        if (!ncap || !ptab_resize(t, p, fam, ncap, NULL)) return -1;
    }
    uint8_t s[20] = {0};
    memcpy(s, key, alen_of(fam));
    int64_t i = ptab_put(t, p, fam, s);
    if (i >= 0) return i;
    if (i == -2 && !ptab_resize(t, p, fam, ptab_next(p->cap), s)) {
        /* out of memory with another peer in hand: that one is forgotten */
        forget_peer(t, tor, fam, s);
        t->evicted_peers++;
    }
    return ptab_find(t, p, fam, key);
}

static void ptab_remove_at(ptab *p, int fam, uint32_t i)
{
    memset(slot_at(p, fam, i), 0, stride_of(fam));
    p->count--;
}

static void ptab_shrink(btt_trk *t, ptab *p, int fam)
{
    if (p->count == 0) {
        t->bytes -= ptab_bytes(p->cap, fam);
        ptab_release(p->slots, p->cap);
        p->slots = NULL;
        p->cap = 0;
        return;
    }
    if ((uint64_t)p->count * 8 >= p->cap || p->cap <= 4) return;
    /* to about half full; on failure the table just stays larger */
    ptab_resize(t, p, fam, ptab_round((uint64_t)p->count * 2), NULL);
}

static void drop_peer(btt_trk *t, torrent *tor, int fam, uint32_t i)
{
    ptab *p = fam == 4 ? &tor->t4 : &tor->t6;
    forget_peer(t, tor, fam, slot_at(p, fam, i));
    ptab_remove_at(p, fam, i);
}

static void drop_all_peers(btt_trk *t, torrent *tor, uint64_t *counter)
{
    for (int fam = 4; fam <= 6; fam += 2) {
        ptab *p = fam == 4 ? &tor->t4 : &tor->t6;
        for (uint32_t i = 0; i < p->cap; i++) {
            uint8_t *s = slot_at(p, fam, i);
            if (slot_used(s, fam)) {
                forget_peer(t, tor, fam, s);
                (*counter)++;
            }
        }
        t->bytes -= ptab_bytes(p->cap, fam);
        ptab_release(p->slots, p->cap);
        p->slots = NULL;
        p->cap = p->count = 0;
    }
}

/* Removes peers older than the TTL. Returns how many went. */
static size_t sweep(btt_trk *t, torrent *tor, uint64_t now)
{
    size_t gone = 0;
    tor->swept = now;
    if (now - tor->last > t->ttl) {
        uint64_t n = 0;
        drop_all_peers(t, tor, &n);
        t->expired += n;
        return (size_t)n;
    }
    for (int fam = 4; fam <= 6; fam += 2) {
        ptab *p = fam == 4 ? &tor->t4 : &tor->t6;
        if (!p->count) continue;
        for (uint32_t i = 0; i < p->cap; i++) {
            uint8_t *s = slot_at(p, fam, i);
            if (slot_used(s, fam) && age_of(t, s, fam, now) > t->ttl_ticks) {
                drop_peer(t, tor, fam, i);
                gone++;
            }
        }
        ptab_shrink(t, p, fam);
    }
    t->expired += gone;
    return gone;
}

/* The stalest peer of a torrent goes (when the caps are reached). */
static bool evict_stalest_peer(btt_trk *t, torrent *tor, uint64_t now)
{
    int best_fam = 0;
    uint32_t best_i = 0, best_age = 0;
    for (int fam = 4; fam <= 6; fam += 2) {
        ptab *p = fam == 4 ? &tor->t4 : &tor->t6;
        for (uint32_t i = 0; i < p->cap; i++) {
            uint8_t *s = slot_at(p, fam, i);
            if (!slot_used(s, fam)) continue;
            uint32_t a = age_of(t, s, fam, now);
            if (!best_fam || a > best_age) {
                best_fam = fam;
                best_i = i;
                best_age = a;
            }
        }
    }
    if (!best_fam) return false;
    drop_peer(t, tor, best_fam, best_i);
    t->evicted_peers++;
    return true;
}

/* ---- torrent table ---- */

static size_t ttab_find_slot(const btt_trk *t, const uint8_t hash[20], uint64_t h)
{
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        torrent *x = t->tab[i];
        if (!x || (x->h == h && memcmp(x->hash, hash, 20) == 0)) return i;
    }
}

static torrent *ttab_get(const btt_trk *t, const uint8_t hash[20], uint64_t h)
{
    return t->tab[ttab_find_slot(t, hash, h)];
}

static bool ttab_grow(btt_trk *t)
{
    size_t ncap = t->cap * 2;
    torrent **nt = calloc(ncap, sizeof *nt);
    if (!nt) return false;
    for (size_t i = 0; i < t->cap; i++) {
        torrent *x = t->tab[i];
        if (!x) continue;
        size_t j = x->h & (ncap - 1);
        while (nt[j]) j = (j + 1) & (ncap - 1);
        nt[j] = x;
    }
    t->bytes += (uint64_t)(ncap - t->cap) * sizeof *nt;
    free(t->tab);
    t->tab = nt;
    t->cap = ncap;
    return true;
}

static void ttab_remove_at(btt_trk *t, size_t i)
{
    size_t mask = t->cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        torrent *x = t->tab[j];
        if (!x) break;
        size_t k = x->h & mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        t->tab[i] = x;
        i = j;
    }
    t->tab[i] = NULL;
    t->count--;
}

static void torrent_free(btt_trk *t, torrent *tor)
{
    uint64_t n = 0;
    drop_all_peers(t, tor, &n);
    t->bytes -= (uint64_t)tor->capbids * sizeof(bident);
    free(tor->bids);
    t->bytes -= sizeof *tor;
    free(tor);
}

static void remove_torrent(btt_trk *t, torrent *tor, uint64_t *peer_counter)
{
    size_t i = ttab_find_slot(t, tor->hash, tor->h);
    uint64_t n = 0;
    drop_all_peers(t, tor, &n);
    *peer_counter += n;
    ttab_remove_at(t, i);
    torrent_free(t, tor);
    /* the expiry walk may now pass over a torrent that moved back over the cursor: it is visited
     * on the next pass, and touched torrents are swept on their own */
}

/* A few random torrents; the one announced to longest ago (not `keep`), or NULL. */
static torrent *sample_stalest(btt_trk *t, const torrent *keep)
{
    torrent *best = NULL;
    if (!t->count) return NULL;
    for (int k = 0; k < SAMPLE; k++) {
        size_t i = rnd(t) & (t->cap - 1);
        while (!t->tab[i]) i = (i + 1) & (t->cap - 1);
        torrent *x = t->tab[i];
        if (x == keep) continue;
        if (!best || x->last < best->last) best = x;
    }
    return best;
}

/* ---- whitelist ---- */

static bool wl_has(const btt_trk *t, const uint8_t hash[20])
{
    if (!t->wl_count) return false;
    size_t mask = t->wl_cap - 1;
    static const uint8_t zero[20];
    for (size_t i = hkey(t, hash, 20) & mask;; i = (i + 1) & mask) {
        if (memcmp(t->wl[i], zero, 20) == 0) return false;
        if (memcmp(t->wl[i], hash, 20) == 0) return true;
    }
}

btt_err btt_trk_whitelist_add(btt_trk *t, const uint8_t info_hash[20])
{
    static const uint8_t zero[20];
    if (memcmp(info_hash, zero, 20) == 0) return BTT_OK; /* the all-zero hash is never served */
    if (wl_has(t, info_hash)) return BTT_OK;
    if ((t->wl_count + 1) * 2 > t->wl_cap) {
        size_t ncap = t->wl_cap ? t->wl_cap * 2 : 64;
        uint8_t(*n)[20] = calloc(ncap, 20);
        if (!n) return BTT_ENOMEM;
        for (size_t i = 0; i < t->wl_cap; i++) {
            if (memcmp(t->wl[i], zero, 20) == 0) continue;
            size_t j = hkey(t, t->wl[i], 20) & (ncap - 1);
            while (memcmp(n[j], zero, 20) != 0) j = (j + 1) & (ncap - 1);
            memcpy(n[j], t->wl[i], 20);
        }
        free(t->wl);
        t->wl = n;
        t->wl_cap = ncap;
    }
    size_t j = hkey(t, info_hash, 20) & (t->wl_cap - 1);
    while (memcmp(t->wl[j], zero, 20) != 0) j = (j + 1) & (t->wl_cap - 1);
    memcpy(t->wl[j], info_hash, 20);
    t->wl_count++;
    return BTT_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

btt_err btt_trk_whitelist_load(btt_trk *t, const char *text, size_t len, btt_error *err)
{
    size_t line = 0, pos = 0;
    while (pos < len) {
        line++;
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        size_t a = pos, b = end;
        pos = end + 1;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r')) b--;
        if (a == b || text[a] == '#') continue;
        uint8_t h[20];
        bool ok = b - a == 40;
        for (size_t i = 0; ok && i < 20; i++) {
            int hi = hexval(text[a + 2 * i]), lo = hexval(text[a + 2 * i + 1]);
            if (hi < 0 || lo < 0) ok = false;
            else h[i] = (uint8_t)(hi << 4 | lo);
        }
        if (!ok) return btt_error_set(err, BTT_EINVAL, "line %zu: not a 40-digit hex info-hash", line);
        if (btt_trk_whitelist_add(t, h) != BTT_OK) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    return BTT_OK;
}

/* ---- lifecycle ---- */

btt_err btt_trk_new(const btt_trk_config *cfg, btt_trk **out, btt_error *err)
{
    *out = NULL;
    btt_trk_config c = cfg ? *cfg : (btt_trk_config){0};
    if (!c.interval) c.interval = BTT_TRK_INTERVAL_DEFAULT;
    if (c.interval < BTT_TRK_INTERVAL_MIN || c.interval > BTT_TRK_INTERVAL_MAX)
        return btt_error_set(err, BTT_EINVAL, "interval %u s is outside %u..%u", c.interval, BTT_TRK_INTERVAL_MIN,
                             BTT_TRK_INTERVAL_MAX);
    if (!c.numwant_default) c.numwant_default = BTT_TRK_NUMWANT_DEFAULT;
    if (c.numwant_default > BTT_TRK_NUMWANT_MAX) c.numwant_default = BTT_TRK_NUMWANT_MAX;
    if (!c.max_torrents) c.max_torrents = 1000000;
    if (!c.max_peers) c.max_peers = 10000000;
    if (!c.max_peers_per_torrent) c.max_peers_per_torrent = 1000000;
    if (c.max_peers_per_torrent > 0x40000000u) c.max_peers_per_torrent = 0x40000000u;
    if (sodium_init() < 0) return btt_error_set(err, BTT_ENOMEM, "libsodium failed to initialize");
    btt_trk *t = calloc(1, sizeof *t);
    if (!t) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    t->cfg = c;
    t->ttl = c.interval + c.interval / 2 + 60;
    t->tick = (t->ttl + 31) / 32;
    t->ttl_ticks = t->ttl / t->tick;
    if (c.seed) {
        uint8_t s[8];
        memcpy(s, &c.seed, 8);
        crypto_generichash(t->key, sizeof t->key, s, 8, NULL, 0);
        t->rng = c.seed | 1;
    } else {
        randombytes_buf(t->key, sizeof t->key);
        randombytes_buf(&t->rng, sizeof t->rng);
        t->rng |= 1;
    }
    t->cap = 1024;
    t->tab = calloc(t->cap, sizeof *t->tab);
    if (!t->tab) {
        free(t);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    t->bytes = sizeof *t + t->cap * sizeof *t->tab;
    *out = t;
    return BTT_OK;
}

void btt_trk_free(btt_trk *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->cap; i++)
        if (t->tab[i]) torrent_free(t, t->tab[i]);
    free(t->tab);
    free(t->wl);
    free(t);
}

uint32_t btt_trk_interval(const btt_trk *t) { return t->cfg.interval; }
uint32_t btt_trk_peer_ttl(const btt_trk *t) { return t->ttl; }

/* ---- announce ---- */

typedef struct pick {
    uint64_t order, tie, bid;
    int fam;
    const uint8_t *key;
} pick;

static void out_put(btt_trk_peers *o, int fam, const uint8_t *key, uint64_t bid)
{
    if (fam == 4) {
        memcpy(o->peers4 + 6 * o->n4, key, 6);
        if (o->bids4) o->bids4[o->n4] = bid;
        o->n4++;
    } else {
        memcpy(o->peers6 + 18 * o->n6, key, 18);
        if (o->bids6) o->bids6[o->n6] = bid;
        o->n6++;
    }
}

static bool pick_before(const pick *a, const pick *b)
{
    return a->order > b->order || (a->order == b->order && a->tie > b->tie);
}

/* Random peers of one family from a random starting slot (a seed asking gets no seeds). */
static size_t walk_family(btt_trk *t, const torrent *tor, int fam, const uint8_t *self, bool self_seed,
                          bool only_legacy, bool with_bids, size_t want, btt_trk_peers *o)
{
    const ptab *p = fam == 4 ? &tor->t4 : &tor->t6;
    if (!p->count || !want) return 0;
    size_t a = alen_of(fam), got = 0;
    uint32_t start = (uint32_t)(rnd(t) % p->cap);
    for (uint32_t k = 0; k < p->cap && got < want; k++) {
        uint32_t i = start + k;
        const uint8_t *s = slot_at(p, fam, i < p->cap ? i : i - p->cap);
        if (!slot_used(s, fam)) continue;
        uint8_t fl = s[a];
        if (self_seed && (fl & F_SEED)) continue;
        if (only_legacy && (fl & F_HASBID)) continue;
        if (self && key_eq(s, self, fam)) continue;
        out_put(o, fam, s, with_bids ? bid_of(tor, fam, s) : 0);
        got++;
    }
    return got;
}

/* self4 / self6: the requester's own addresses (NULL: none of that family), never returned. */
static void select_peers(btt_trk *t, const torrent *tor, const btt_trk_announce *a, const uint8_t *self4,
                         const uint8_t *self6, int self_fam, bool self_seed, size_t want, btt_trk_peers *o)
{
    bool fam4 = o->families & 1, fam6 = o->families & 2;
    if (!want) return;
    bool with_bids = a->bidding;
    if (!a->sortbid && a->minbid == 0) {
        /* the requester's own family first, then the other one */
        int first = self_fam == 6 ? 6 : 4, second = first == 4 ? 6 : 4;
        size_t got = 0;
        if (first == 4 ? fam4 : fam6)
            got += walk_family(t, tor, first, first == 4 ? self4 : self6, self_seed, false, with_bids, want, o);
        if (second == 4 ? fam4 : fam6)
            walk_family(t, tor, second, second == 4 ? self4 : self6, self_seed, false, with_bids, want - got, o);
        return;
    }
    /* Bidders with bid >= max(minbid, 1): with sortbid the `want` highest (ties in random
     * order), without it `want` of them in random order. */
    pick top[BTT_TRK_NUMWANT_MAX];
    size_t n = 0;
    uint64_t floor_bid = a->minbid ? a->minbid : 1;
    for (uint32_t i = 0; i < tor->nbids; i++) {
        const bident *b = &tor->bids[i];
        if (b->bid < floor_bid) continue;
        if (b->fam == 4 ? !fam4 : !fam6) continue;
        if (self_seed && b->seed) continue;
        const uint8_t *me = b->fam == 4 ? self4 : self6;
        if (me && memcmp(b->key, me, alen_of(b->fam)) == 0) continue;
        pick c = {a->sortbid ? b->bid : 0, rnd(t), b->bid, b->fam, b->key};
        if (n < want) {
            size_t j = n++;
            while (j > 0 && pick_before(&c, &top[j - 1])) {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = c;
        } else if (pick_before(&c, &top[n - 1])) {
            size_t j = n - 1;
            while (j > 0 && pick_before(&c, &top[j - 1])) {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = c;
        }
    }
    for (size_t i = 0; i < n; i++) out_put(o, top[i].fam, top[i].key, top[i].bid);
    if (a->minbid == 0 && n < want) {
        /* sortbid without minbid: legacy peers (bid 0) follow, in random order */
        size_t got = n;
        if (fam4) got += walk_family(t, tor, 4, self4, self_seed, true, with_bids, want - got, o);
        if (fam6) walk_family(t, tor, 6, self6, self_seed, true, with_bids, want - got, o);
    }
}

static void fill_counts(const torrent *tor, btt_trk_counts *c)
{
    if (!tor) {
        memset(c, 0, sizeof *c);
        return;
    }
    c->complete = tor->seeders;
    c->incomplete = tor->leechers;
    c->downloaded = tor->completed;
}

static void make_key(const btt_addr *a, int fam, uint8_t key[18])
{
    memcpy(key, a->ip, fam == 4 ? 4 : 16);
    key[alen_of(fam) - 2] = (uint8_t)(a->port >> 8);
    key[alen_of(fam) - 1] = (uint8_t)a->port;
}

/* Records the announcing peer `key` of family fam in tor (or removes it for `stopped`): seed
 * or leecher, time, completed count (when count_completed), bid. */
static btt_err put_peer(btt_trk *t, torrent *tor, int fam, const uint8_t *key, const btt_trk_announce *a,
                        bool count_completed, uint64_t now, const char **failure)
{
    ptab *p = fam == 4 ? &tor->t4 : &tor->t6;
    int64_t idx = ptab_find(t, p, fam, key);
    bool seed = a->left == 0;
    if (a->event == BTT_EVENT_STOPPED) {
        if (idx >= 0) drop_peer(t, tor, fam, (uint32_t)idx);
        return BTT_OK;
    }
    bool was_seed = false, fresh = idx < 0;
    if (fresh) {
        if (tor->seeders + tor->leechers >= t->cfg.max_peers_per_torrent) evict_stalest_peer(t, tor, now);
        if (t->peers >= t->cfg.max_peers) {
            torrent *victim = sample_stalest(t, tor);
            bool freed = false;
            if (victim) {
                freed = sweep(t, victim, now) > 0;
                if (!freed) freed = evict_stalest_peer(t, victim, now);
                if (victim->t4.count + victim->t6.count == 0) {
                    remove_torrent(t, victim, &t->evicted_peers);
                    t->evicted_torrents++;
                }
            }
            if (!freed) freed = evict_stalest_peer(t, tor, now);
            if (!freed) {
                t->rejected++;
                *failure = "tracker full";
                return BTT_ETOOBIG;
            }
        }
        idx = ptab_insert(t, tor, p, fam, key);
        if (idx < 0) {
            t->rejected++;
            *failure = "tracker out of memory";
            return BTT_ENOMEM;
        }
        t->peers++;
        if (seed) {
            tor->seeders++;
            t->seeders++;
        } else {
            tor->leechers++;
            t->leechers++;
        }
    } else {
        was_seed = *slot_flags(slot_at(p, fam, (uint32_t)idx), fam) & F_SEED;
        if (was_seed != seed) {
            if (seed) {
                tor->seeders++, t->seeders++;
                tor->leechers--, t->leechers--;
            } else {
                tor->leechers++, t->leechers++;
                tor->seeders--, t->seeders--;
            }
        }
    }
    uint8_t *s = slot_at(p, fam, (uint32_t)idx);
    uint8_t *fl = slot_flags(s, fam);
    *fl = (uint8_t)((*fl & ~F_SEED) | (seed ? F_SEED : 0));
    slot_set_seen(t, s, fam, now);
    if (count_completed && a->event == BTT_EVENT_COMPLETED && !was_seed) {
        tor->completed++;
        t->completed++;
    }
    /* bid: absent or 0 means no bid */
    if (a->bid > 0) {
        if (bid_set(t, tor, fam, key, a->bid, seed, now)) *fl |= F_HASBID;
    } else if (*fl & F_HASBID) {
        bid_remove(t, tor, fam, key);
        *fl &= (uint8_t)~F_HASBID;
    }
    if (*fl & F_HASBID) {
        int64_t bi = bid_find(tor, fam, key);
        if (bi >= 0) tor->bids[bi].seed = seed;
    }
    return BTT_OK;
}

btt_err btt_trk_announce_do(btt_trk *t, const btt_trk_announce *a, uint64_t now, btt_trk_peers *out,
                            btt_trk_counts *counts, const char **failure)
{
    out->n4 = out->n6 = 0;
    memset(counts, 0, sizeof *counts);
    t->announces++;
    int fam = a->addr.family == 6 ? 6 : 4;
    if (a->addr.port == 0) {
        t->rejected++;
        *failure = "invalid port";
        return BTT_EINVAL;
    }
    if (t->cfg.whitelist && !wl_has(t, a->info_hash)) {
        t->rejected++;
        *failure = "torrent not whitelisted";
        return BTT_ENOENT;
    }
    uint8_t key[18], akey[18];
    make_key(&a->addr, fam, key);
    /* BEP 7: the address of the other family, when the operator honours ipv4= / ipv6= */
    const btt_addr *alt = NULL;
    if (t->cfg.ip_params) alt = fam == 4 ? (a->has_ip6 ? &a->ip6 : NULL) : (a->has_ip4 ? &a->ip4 : NULL);
    int afam = fam == 4 ? 6 : 4;
    if (alt && alt->port) make_key(alt, afam, akey);
    else alt = NULL;

    uint64_t h = hkey(t, a->info_hash, 20);
    size_t ti = ttab_find_slot(t, a->info_hash, h);
    torrent *tor = t->tab[ti];
    if (!tor) {
        if (a->event == BTT_EVENT_STOPPED) return BTT_OK;
        if (t->count >= t->cfg.max_torrents) {
            torrent *victim = sample_stalest(t, NULL);
            if (!victim) {
                t->rejected++;
                *failure = "tracker full";
                return BTT_ETOOBIG;
            }
            remove_torrent(t, victim, &t->evicted_peers);
            t->evicted_torrents++;
        }
        if ((t->count + 1) * 4 > t->cap * 3 && !ttab_grow(t)) goto nomem;
        tor = calloc(1, sizeof *tor);
        if (!tor) goto nomem;
        memcpy(tor->hash, a->info_hash, 20);
        tor->h = h;
        tor->last = tor->swept = now;
        t->tab[ttab_find_slot(t, a->info_hash, h)] = tor;
        t->count++;
        t->bytes += sizeof *tor;
    } else if (now - tor->last > t->ttl || now - tor->swept >= t->ttl / 4) {
        sweep(t, tor, now);
    }
    tor->last = now;

    btt_err e = put_peer(t, tor, fam, key, a, true, now, failure);
    if (e != BTT_OK) return e;
    if (alt) {
        const char *ignored;
        if (put_peer(t, tor, afam, akey, a, false, now, &ignored) != BTT_OK) alt = NULL; /* the source address counts */
    }
    if (a->event == BTT_EVENT_STOPPED) {
        fill_counts(tor, counts);
        return BTT_OK;
    }
    size_t want = a->numwant < 0                      ? t->cfg.numwant_default
                  : a->numwant > BTT_TRK_NUMWANT_MAX ? BTT_TRK_NUMWANT_MAX
                                                     : (size_t)a->numwant;
    const uint8_t *self4 = fam == 4 ? key : alt ? akey : NULL, *self6 = fam == 6 ? key : alt ? akey : NULL;
    select_peers(t, tor, a, self4, self6, fam, a->left == 0, want, out);
    fill_counts(tor, counts);
    return BTT_OK;

nomem:
    t->rejected++;
    *failure = "tracker out of memory";
    return BTT_ENOMEM;
}

void btt_trk_scrape(btt_trk *t, const uint8_t info_hash[20], bool first, btt_trk_counts *counts)
{
    if (first) t->scrapes++;
    fill_counts(ttab_get(t, info_hash, hkey(t, info_hash, 20)), counts);
}

/* ---- bidscrape ---- */

size_t btt_trk_scrape_all(btt_trk *t, uint64_t cursor, size_t max, uint8_t (*hashes)[20], btt_trk_counts *counts,
                          uint64_t *next)
{
    t->scrapes++;
    *next = 0;
    if (max > BTT_TRK_FULLSCRAPE_PAGE) max = BTT_TRK_FULLSCRAPE_PAGE;
    size_t n = 0, i = cursor < t->cap ? (size_t)cursor : t->cap;
    for (; i < t->cap && n < max; i++) {
        const torrent *tor = t->tab[i];
        if (!tor) continue;
        memcpy(hashes[n], tor->hash, 20);
        fill_counts(tor, &counts[n]);
        n++;
    }
    while (i < t->cap && !t->tab[i]) i++;
    if (i < t->cap) *next = i;
    return n;
}

btt_err btt_trk_whitelist_replace(btt_trk *t, const char *text, size_t len, size_t *dropped, btt_error *err)
{
    *dropped = 0;
    uint8_t(*old)[20] = t->wl;
    size_t old_cap = t->wl_cap, old_count = t->wl_count;
    t->wl = NULL;
    t->wl_cap = t->wl_count = 0;
    btt_err e = btt_trk_whitelist_load(t, text, len, err);
    if (e != BTT_OK) {
        free(t->wl);
        t->wl = old;
        t->wl_cap = old_cap;
        t->wl_count = old_count;
        return e;
    }
    free(old);
    if (!t->cfg.whitelist) return BTT_OK;
    /* torrents no longer listed go; a backward shift may move a later torrent into slot i,
     * so slot i is looked at again after a removal (and the wrap-around part once more) */
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < t->cap;) {
            torrent *tor = t->tab[i];
            if (tor && !wl_has(t, tor->hash)) {
                remove_torrent(t, tor, &t->evicted_peers);
                (*dropped)++;
                continue;
            }
            i++;
        }
    if (*dropped) t->bs_valid = false;
    return BTT_OK;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static bool bs_before(const btt_trk_bidscrape_entry *a, const btt_trk_bidscrape_entry *b)
{
    if (a->max != b->max) return a->max > b->max;
    if (a->bidders != b->bidders) return a->bidders > b->bidders;
    return memcmp(a->info_hash, b->info_hash, 20) < 0;
}

static void bidscrape_compute(btt_trk *t, uint64_t now)
{
    t->bs_n = 0;
    if (!t->bidders) return;
    uint64_t *vals = NULL;
    size_t vcap = 0;
    for (size_t i = 0; i < t->cap; i++) {
        torrent *tor = t->tab[i];
        if (!tor || !tor->nbids) continue;
        if (vcap < tor->nbids) {
            uint64_t *nv = realloc(vals, tor->nbids * sizeof *nv);
            if (!nv) break;
            vals = nv;
            vcap = tor->nbids;
        }
        size_t n = 0;
        for (uint32_t k = 0; k < tor->nbids; k++)
            if (now - tor->bids[k].seen <= t->cfg.interval) vals[n++] = tor->bids[k].bid;
        if (!n) continue;
        qsort(vals, n, sizeof *vals, cmp_u64);
        btt_trk_bidscrape_entry e;
        memcpy(e.info_hash, tor->hash, 20);
        e.bidders = (uint32_t)n;
        e.max = vals[n - 1];
        e.median = vals[(n - 1) / 2];
        if (t->bs_n == BTT_TRK_BIDSCRAPE_MAX && !bs_before(&e, &t->bs_cache[t->bs_n - 1])) continue;
        size_t j = t->bs_n < BTT_TRK_BIDSCRAPE_MAX ? t->bs_n++ : t->bs_n - 1;
        while (j > 0 && bs_before(&e, &t->bs_cache[j - 1])) {
            t->bs_cache[j] = t->bs_cache[j - 1];
            j--;
        }
        t->bs_cache[j] = e;
    }
    free(vals);
}

size_t btt_trk_bidscrape(btt_trk *t, uint64_t now, size_t limit, btt_trk_bidscrape_entry *out)
{
    t->bidscrapes++;
    if (limit > BTT_TRK_BIDSCRAPE_MAX) limit = BTT_TRK_BIDSCRAPE_MAX;
    /* computed again only when a bid changed or the second changed: a bidscrape flood costs
     * one walk over the torrents per second plus one per change of a bid */
    if (!t->bs_valid || t->bs_time != now) {
        bidscrape_compute(t, now);
        t->bs_time = now;
        t->bs_valid = true;
    }
    size_t n = t->bs_n < limit ? t->bs_n : limit;
    memcpy(out, t->bs_cache, n * sizeof *out);
    return n;
}

/* ---- expiry ---- */

void btt_trk_expire(btt_trk *t, uint64_t now, size_t budget)
{
    t->bs_valid = false;
    if (budget > t->cap) budget = t->cap;
    for (size_t k = 0; k < budget; k++) {
        if (t->cursor >= t->cap) t->cursor = 0;
        torrent *tor = t->tab[t->cursor];
        if (!tor) {
            t->cursor++;
            continue;
        }
        sweep(t, tor, now);
        if (tor->t4.count + tor->t6.count == 0 && now - tor->last > t->ttl) {
            uint64_t dummy = 0;
            remove_torrent(t, tor, &dummy);
            continue; /* a later torrent may have moved into this slot */
        }
        t->cursor++;
    }
}

void btt_trk_get_stats(const btt_trk *t, btt_trk_stats *o)
{
    memset(o, 0, sizeof *o);
    o->torrents = t->count;
    o->peers = t->peers;
    o->seeders = t->seeders;
    o->leechers = t->leechers;
    o->bidders = t->bidders;
    o->announces = t->announces;
    o->scrapes = t->scrapes;
    o->bidscrapes = t->bidscrapes;
    o->completed = t->completed;
    o->rejected = t->rejected;
    o->expired_peers = t->expired;
    o->evicted_peers = t->evicted_peers;
    o->evicted_torrents = t->evicted_torrents;
    o->peer_bytes = t->bytes;
}
