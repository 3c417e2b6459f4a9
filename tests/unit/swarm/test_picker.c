/* Unit tests for the block picker: rarest first with random tie-breaks, partial pieces
 * first, sequential mode, priorities, block sizes, received/abort/failed bookkeeping,
 * endgame, a brute-force model of availability and pick order, and a 65,536-piece download
 * by four simulated peers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "btt/bitfield.h"
#include "btt/error.h"
#include "btt/picker.h"
#include "btt/wire.h"

#define OK(x) assert_int_equal((x), BTT_OK)
#define BS BTT_BLOCK_SIZE
#define PEER(k) ((const void *)(uintptr_t)(0x1000 + (k)))

/* Sanitizer and -O0 builds are slower; the timing bound is for release builds. */
#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOW_BUILD 1
#endif
#endif
#ifndef SLOW_BUILD
#ifdef __OPTIMIZE__
#define SLOW_BUILD 0
#else
#define SLOW_BUILD 1
#endif
#endif

/* ------------------------------------------------------------------ helpers */

static btt_picker *mk(uint32_t n, uint32_t plen, uint64_t total, uint64_t seed)
{
    btt_picker *p = NULL;
    OK(btt_picker_new(n, plen, total, seed, &p));
    assert_non_null(p);
    return p;
}

/* n pieces of nb blocks each (the last one full too). */
static btt_picker *mk_even(uint32_t n, uint32_t nb, uint64_t seed)
{
    return mk(n, nb * BS, (uint64_t)n * nb * BS, seed);
}

static void bf_init(btt_bitfield *bf, uint32_t n) { OK(btt_bitfield_init(bf, n)); }

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ULL;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t *s, uint32_t n) { return (uint32_t)(rng_next(s) % n); }

static size_t pick(btt_picker *p, const btt_bitfield *bf, const void *peer, size_t max, btt_block *out,
                   bool *endgame)
{
    *endgame = true; /* must be written */
    return btt_picker_pick(p, bf, peer, max, out, endgame);
}

/* Picks one block with max = 1 and returns its piece, or UINT32_MAX if none. */
static uint32_t pick1(btt_picker *p, const btt_bitfield *bf, const void *peer)
{
    btt_block b[2];
    bool eg;
    b[1].piece = 0xdeadbeef;
    size_t n = pick(p, bf, peer, 1, b, &eg);
    assert_true(n <= 1);
    assert_int_equal(b[1].piece, 0xdeadbeef); /* nothing written past max */
    if (n == 0) return UINT32_MAX;
    assert_false(eg);
    return b[0].piece;
}

static bool recv_block(btt_picker *p, uint32_t piece, uint32_t begin, const void *peer, const void **other,
                       bool *complete)
{
    const void *o = (const void *)1;
    bool c = true;
    bool r = btt_picker_received(p, piece, begin, peer, &o, &c);
    if (other) *other = o;
    if (complete) *complete = c;
    return r;
}

/* ------------------------------------------------------------------ availability */

static void test_availability_counts(void **state)
{
    btt_picker *p = mk_even(10, 1, 1);
    btt_bitfield a, b;
    bf_init(&a, 10);
    bf_init(&b, 10);
    btt_bitfield_set(&a, 0);
    btt_bitfield_set(&a, 9);
    btt_bitfield_set(&b, 9);
    btt_picker_inc_bitfield(p, &a);
    btt_picker_inc_bitfield(p, &b);
    btt_picker_inc(p, 4);
    assert_int_equal(btt_picker_availability(p, 0), 1);
    assert_int_equal(btt_picker_availability(p, 4), 1);
    assert_int_equal(btt_picker_availability(p, 5), 0);
    assert_int_equal(btt_picker_availability(p, 9), 2);
    btt_picker_inc_seed(p);
    btt_picker_inc_seed(p);
    assert_int_equal(btt_picker_availability(p, 5), 2);
    assert_int_equal(btt_picker_availability(p, 9), 4);
    btt_picker_dec_seed(p);
    btt_picker_dec_bitfield(p, &a);
    assert_int_equal(btt_picker_availability(p, 0), 1);
    assert_int_equal(btt_picker_availability(p, 9), 2);
    btt_picker_dec_seed(p);
    btt_picker_dec_seed(p); /* one too many: stays at 0 */
    btt_picker_dec(p, 5);   /* below zero: stays at 0 */
    assert_int_equal(btt_picker_availability(p, 5), 0);
    assert_int_equal(btt_picker_availability(p, 0), 0);
    btt_picker_inc(p, 10); /* out of range: ignored */
    btt_picker_dec(p, 10);
    assert_int_equal(btt_picker_availability(p, 10), 0);
    btt_bitfield_free(&a);
    btt_bitfield_free(&b);
    btt_picker_free(p);
}

static void test_rarest_first(void **state)
{
    btt_picker *p = mk_even(8, 4, 7);
    btt_bitfield full;
    bf_init(&full, 8);
    btt_bitfield_set_all(&full);
    for (int i = 0; i < 3; i++) btt_picker_inc_bitfield(p, &full);
    btt_picker_dec(p, 5);
    btt_picker_dec(p, 5); /* piece 5: 1 copy */
    btt_picker_dec(p, 2); /* piece 2: 2 copies, the rest 3 */
    btt_picker_inc_seed(p); /* seeds count the same for every piece */
    assert_int_equal(btt_picker_availability(p, 5), 2);
    btt_block b[8];
    bool eg;
    assert_int_equal(pick(p, NULL, PEER(1), 4, b, &eg), 4);
    assert_false(eg);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(b[i].piece, 5);
        assert_int_equal(b[i].begin, i * BS);
        assert_int_equal(b[i].length, BS);
    }
    assert_int_equal(pick(p, NULL, PEER(1), 4, b, &eg), 4);
    for (int i = 0; i < 4; i++) assert_int_equal(b[i].piece, 2);
    assert_int_equal(pick(p, NULL, PEER(1), 4, b, &eg), 4);
    assert_true(b[0].piece != 5 && b[0].piece != 2);
    assert_int_equal(btt_picker_partial_count(p), 3);

    /* one call with a big max takes the pieces in availability order too */
    btt_picker *q = mk_even(6, 2, 99);
    const uint32_t avail[6] = {4, 0, 3, 1, 5, 2};
    for (uint32_t x = 0; x < 6; x++)
        for (uint32_t k = 0; k < avail[x]; k++) btt_picker_inc(q, x);
    btt_block all[12];
    assert_int_equal(pick(q, NULL, PEER(1), 12, all, &eg), 12);
    const uint32_t want[6] = {1, 3, 5, 2, 0, 4};
    for (int i = 0; i < 12; i++) assert_int_equal(all[i].piece, want[i / 2]);
    btt_picker_free(q);
    btt_bitfield_free(&full);
    btt_picker_free(p);
}

/* The order of a fresh 64-piece picker with equal availability, one block at a time. */
static void pick_order(uint64_t seed, uint32_t *order)
{
    btt_picker *p = mk_even(64, 1, seed);
    btt_picker_inc_seed(p);
    for (int i = 0; i < 64; i++) {
        order[i] = pick1(p, NULL, PEER(1));
        assert_true(order[i] < 64);
    }
    assert_int_equal(pick1(p, NULL, PEER(1)), UINT32_MAX);
    btt_picker_free(p);
}

static void test_random_tie_break(void **state)
{
    uint32_t orders[16][64];
    for (uint64_t s = 0; s < 16; s++) pick_order(s + 1, orders[s]);
    /* the same seed gives the same order */
    uint32_t again[64];
    pick_order(5, again);
    assert_memory_equal(again, orders[4], sizeof again);
    /* each order is a permutation */
    for (int s = 0; s < 16; s++) {
        bool seen[64] = {false};
        for (int i = 0; i < 64; i++) {
            assert_false(seen[orders[s][i]]);
            seen[orders[s][i]] = true;
        }
    }
    /* different seeds give different orders, and not just an index order */
    int distinct = 0, firsts = 0;
    bool first_seen[64] = {false};
    for (int s = 0; s < 16; s++) {
        bool dup = false;
        for (int t = 0; t < s; t++) dup |= memcmp(orders[s], orders[t], sizeof orders[s]) == 0;
        distinct += !dup;
        if (!first_seen[orders[s][0]]) firsts++;
        first_seen[orders[s][0]] = true;
        bool identity = true;
        for (uint32_t i = 0; i < 64; i++) identity &= orders[s][i] == i;
        assert_false(identity);
    }
    assert_int_equal(distinct, 16);
    assert_true(firsts >= 6);
}

/* Ties stay random after availability changes. A peer's bitfield arrives as one increment
 * per piece in index order; if that rewrites the order within a bucket, every btt client
 * with the same peers downloads in the same (near index) order and swarm diversity is lost. */
static void test_random_tie_break_after_bitfield(void **state)
{
    /* a full bitfield: all pieces move to bucket 1 together */
    uint32_t firsts[8][16];
    for (uint64_t s = 0; s < 8; s++) {
        btt_picker *p = mk_even(16, 1, 1000 + s);
        btt_bitfield full;
        bf_init(&full, 16);
        btt_bitfield_set_all(&full);
        btt_picker_inc_bitfield(p, &full);
        for (int i = 0; i < 16; i++) firsts[s][i] = pick1(p, NULL, PEER(1));
        btt_bitfield_free(&full);
        btt_picker_free(p);
    }
    int distinct = 0;
    for (int s = 0; s < 8; s++) {
        bool dup = false;
        for (int t = 0; t < s; t++) dup |= memcmp(firsts[s], firsts[t], sizeof firsts[s]) == 0;
        distinct += !dup;
    }
    if (distinct < 7) {
        print_error("after one full bitfield, 8 seeds give %d distinct orders; seed 1000 order:", distinct);
        for (int i = 0; i < 16; i++) print_error(" %u", firsts[0][i]);
        print_error("\n");
        fail();
    }

    /* one copy of everything, then pieces 10..19 lose theirs: the rarest ten come out in a
     * seed-dependent order */
    int differ = 0;
    uint32_t first_rare[8];
    for (uint64_t s = 0; s < 8; s++) {
        btt_picker *p = mk_even(40, 1, 1000 + s);
        for (uint32_t x = 0; x < 40; x++) btt_picker_inc(p, x);
        for (uint32_t x = 10; x < 20; x++) btt_picker_dec(p, x); /* 10..19 rarest */
        first_rare[s] = pick1(p, NULL, PEER(1));
        assert_true(first_rare[s] >= 10 && first_rare[s] < 20);
        for (int i = 1; i < 10; i++) {
            uint32_t x = pick1(p, NULL, PEER(1));
            assert_true(x >= 10 && x < 20);
        }
        uint32_t x = pick1(p, NULL, PEER(1));
        assert_true(x < 10 || x >= 20);
        if (s && first_rare[s] != first_rare[0]) differ++;
        btt_picker_free(p);
    }
    if (differ == 0) {
        print_error("the first of ten equally rare pieces is %u for all 8 seeds\n", first_rare[0]);
        fail();
    }
}

static void test_partial_before_new(void **state)
{
    btt_picker *p = mk_even(10, 4, 3);
    btt_block b[8];
    bool eg;
    assert_int_equal(pick(p, NULL, PEER(1), 2, b, &eg), 2);
    uint32_t x = b[0].piece;
    assert_int_equal(b[1].piece, x);
    assert_int_equal(btt_picker_partial_count(p), 1);
    /* make another piece the rarest by far */
    uint32_t y = (x + 1) % 10;
    for (uint32_t i = 0; i < 10; i++)
        if (i != y)
            for (int k = 0; k < 5; k++) btt_picker_inc(p, i);
    /* a second peer first finishes the started piece */
    assert_int_equal(pick(p, NULL, PEER(2), 2, b, &eg), 2);
    assert_int_equal(b[0].piece, x);
    assert_int_equal(b[0].begin, 2 * BS);
    assert_int_equal(b[1].piece, x);
    assert_int_equal(b[1].begin, 3 * BS);
    /* and only then starts the rarest */
    assert_int_equal(pick(p, NULL, PEER(2), 1, b, &eg), 1);
    assert_int_equal(b[0].piece, y);
    assert_int_equal(btt_picker_partial_count(p), 2);
    /* a peer without the partial piece starts a new one */
    btt_bitfield bf;
    bf_init(&bf, 10);
    for (uint32_t i = 0; i < 10; i++)
        if (i != y) btt_bitfield_set(&bf, i);
    assert_int_equal(pick(p, &bf, PEER(3), 1, b, &eg), 1);
    assert_true(b[0].piece != y && b[0].piece != x);
    /* with the partial piece it is finished first */
    assert_int_equal(pick(p, NULL, PEER(3), 3, b, &eg), 3);
    for (int i = 0; i < 3; i++) assert_int_equal(b[i].piece, y);
    btt_bitfield_free(&bf);
    btt_picker_free(p);
}

static void test_peer_has_only(void **state)
{
    btt_picker *p = mk_even(10, 4, 11);
    btt_bitfield bf, none;
    bf_init(&bf, 10);
    bf_init(&none, 10);
    btt_bitfield_set(&bf, 3);
    btt_bitfield_set(&bf, 7);
    btt_picker_inc_bitfield(p, &bf);
    btt_block b[100];
    bool eg;
    assert_int_equal(pick(p, &none, PEER(9), 100, b, &eg), 0);
    assert_false(eg);
    size_t n = pick(p, &bf, PEER(1), 100, b, &eg);
    assert_int_equal(n, 8);
    assert_false(eg);
    int per[10] = {0};
    for (size_t i = 0; i < n; i++) {
        assert_true(b[i].piece == 3 || b[i].piece == 7);
        per[b[i].piece]++;
    }
    assert_int_equal(per[3], 4);
    assert_int_equal(per[7], 4);
    /* the same peer asking again gets nothing: it already has every block it could serve */
    assert_int_equal(pick(p, &bf, PEER(1), 100, b, &eg), 0);
    assert_false(eg);
    btt_bitfield_free(&bf);
    btt_bitfield_free(&none);
    btt_picker_free(p);
}

/* Endgame is "every wanted block requested" (picker.h). A peer that merely has nothing new
 * to offer must not get duplicate requests while other wanted blocks were never asked for. */
static void test_no_endgame_before_all_requested(void **state)
{
    btt_picker *p = mk_even(10, 1, 5);
    btt_bitfield bf;
    bf_init(&bf, 10);
    btt_bitfield_set(&bf, 3);
    btt_block b[10];
    bool eg;
    assert_int_equal(pick(p, &bf, PEER(1), 10, b, &eg), 1);
    assert_int_equal(b[0].piece, 3);
    /* pieces 0-2 and 4-9 were never requested: this is not endgame */
    size_t n = pick(p, &bf, PEER(2), 10, b, &eg);
    btt_bitfield_free(&bf);
    btt_picker_free(p);
    if (n != 0 || eg) {
        print_error("9 of 10 wanted pieces unrequested, yet a peer with only piece 3 got %zu duplicate "
                    "block(s) with endgame=%d\n",
                    n, eg);
        fail();
    }
}

static void test_sequential(void **state)
{
    uint64_t r = 42;
    btt_picker *p = mk_even(20, 1, 77);
    for (int i = 0; i < 200; i++) btt_picker_inc(p, rng_below(&r, 20));
    btt_picker_set_sequential(p, true);
    for (uint32_t i = 0; i < 20; i++) assert_int_equal(pick1(p, NULL, PEER(1)), i);
    btt_picker_free(p);

    /* lowest index the peer has; blocks in order within a piece */
    p = mk_even(20, 2, 78);
    for (int i = 0; i < 200; i++) btt_picker_inc(p, rng_below(&r, 20));
    btt_picker_set_sequential(p, true);
    btt_bitfield bf;
    bf_init(&bf, 20);
    btt_bitfield_set_all(&bf);
    btt_bitfield_clear(&bf, 0);
    btt_bitfield_clear(&bf, 1);
    btt_block b[8];
    bool eg;
    assert_int_equal(pick(p, &bf, PEER(1), 3, b, &eg), 3);
    assert_int_equal(b[0].piece, 2);
    assert_int_equal(b[0].begin, 0);
    assert_int_equal(b[1].piece, 2);
    assert_int_equal(b[1].begin, BS);
    assert_int_equal(b[2].piece, 3);
    assert_int_equal(b[2].begin, 0);
    btt_picker_set_have(p, 4);
    assert_int_equal(pick(p, NULL, PEER(2), 5, b, &eg), 5);
    assert_int_equal(b[0].piece, 3); /* partial first */
    assert_int_equal(b[0].begin, BS);
    assert_int_equal(b[1].piece, 0);
    assert_int_equal(b[2].piece, 0);
    assert_int_equal(b[3].piece, 1);
    assert_int_equal(b[4].piece, 1);
    assert_int_equal(pick(p, NULL, PEER(2), 1, b, &eg), 1);
    assert_int_equal(b[0].piece, 5); /* 4 is had */

    /* back to rarest first: piece 5's second block, then the rarest of 6..19 */
    btt_picker_set_sequential(p, false);
    uint32_t min_avail = UINT32_MAX;
    for (uint32_t x = 6; x < 20; x++)
        if (btt_picker_availability(p, x) < min_avail) min_avail = btt_picker_availability(p, x);
    assert_int_equal(pick(p, NULL, PEER(2), 1, b, &eg), 1);
    assert_int_equal(b[0].piece, 5);
    assert_int_equal(b[0].begin, BS);
    assert_int_equal(pick(p, NULL, PEER(2), 1, b, &eg), 1);
    assert_true(b[0].piece >= 6);
    assert_int_equal(btt_picker_availability(p, b[0].piece), min_avail);
    btt_bitfield_free(&bf);
    btt_picker_free(p);
}

static void test_priorities(void **state)
{
    btt_picker *p = mk_even(10, 2, 21);
    assert_int_equal(btt_picker_left(p), 10);
    btt_picker_set_have(p, 0);
    assert_int_equal(btt_picker_left(p), 9);
    btt_picker_set_have(p, 0); /* twice: no change */
    assert_int_equal(btt_picker_left(p), 9);
    btt_picker_set_priority(p, 3, 0);
    btt_picker_set_priority(p, 4, 0);
    assert_int_equal(btt_picker_left(p), 7);
    btt_picker_set_priority(p, 3, 0); /* twice: no change */
    assert_int_equal(btt_picker_left(p), 7);
    assert_false(btt_picker_wants(p, 3));
    assert_false(btt_picker_wants(p, 0));
    assert_true(btt_picker_wants(p, 5));
    assert_false(btt_picker_wants(p, 10));
    /* having an unwanted piece does not change what is left */
    btt_picker_set_have(p, 4);
    assert_int_equal(btt_picker_left(p), 7);
    assert_true(btt_picker_have(p, 4));
    btt_picker_set_priority(p, 4, 1); /* wanted again, but had */
    assert_int_equal(btt_picker_left(p), 7);
    assert_false(btt_picker_wants(p, 4));
    btt_picker_set_priority(p, 0, 0); /* had and unwanted */
    assert_int_equal(btt_picker_left(p), 7);
    btt_picker_set_priority(p, 0, 1);
    assert_int_equal(btt_picker_left(p), 7);
    /* other non-zero priorities are "wanted" too */
    btt_picker_set_priority(p, 9, 7);
    assert_int_equal(btt_picker_left(p), 7);
    assert_true(btt_picker_wants(p, 9));

    btt_block b[32];
    bool eg;
    size_t n = pick(p, NULL, PEER(1), 32, b, &eg);
    assert_int_equal(n, 14); /* pieces 1, 2, 5, 6, 7, 8, 9 */
    assert_false(eg);
    for (size_t i = 0; i < n; i++) {
        assert_true(b[i].piece != 0 && b[i].piece != 3 && b[i].piece != 4);
        assert_true(btt_picker_wants(p, b[i].piece));
    }
    /* wanted again: picked */
    btt_picker_set_priority(p, 3, 1);
    assert_int_equal(btt_picker_left(p), 8);
    n = pick(p, NULL, PEER(1), 32, b, &eg);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].piece, 3);
    assert_int_equal(b[1].piece, 3);
    /* unwanted while in progress: its returned blocks are not handed out again */
    btt_picker_set_priority(p, 5, 0);
    assert_int_equal(btt_picker_left(p), 7);
    btt_picker_abort(p, 5, 0, PEER(1));
    btt_picker_abort(p, 5, BS, PEER(1));
    n = pick(p, NULL, PEER(2), 32, b, &eg);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(b[i].piece, 5);
    /* and taking it back makes them available */
    btt_picker_set_priority(p, 5, 1);
    assert_int_equal(btt_picker_left(p), 8);
    n = pick(p, NULL, PEER(3), 2, b, &eg);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].piece, 5);
    assert_false(eg);
    btt_picker_free(p);

    /* everything unwanted: nothing to pick, nothing left */
    p = mk_even(4, 1, 1);
    for (uint32_t i = 0; i < 4; i++) btt_picker_set_priority(p, i, 0);
    assert_int_equal(btt_picker_left(p), 0);
    assert_int_equal(pick(p, NULL, PEER(1), 4, b, &eg), 0);
    assert_false(eg);
    btt_picker_free(p);
}

/* Blocks of every piece, in pick order, cover the piece exactly. */
static void check_cover(uint32_t n, uint32_t plen, uint64_t total)
{
    btt_picker *p = mk(n, plen, total, 1);
    btt_picker_set_sequential(p, true);
    uint64_t covered = 0;
    for (uint32_t x = 0; x < n; x++) {
        uint64_t psize = x + 1 < n ? plen : total - (uint64_t)x * plen;
        uint32_t nb = btt_picker_blocks_in(p, x);
        assert_int_equal(nb, (psize + BS - 1) / BS);
        btt_block b[64];
        bool eg;
        assert_true(nb <= 64);
        size_t got = pick(p, NULL, PEER(1), nb, b, &eg);
        assert_int_equal(got, nb);
        uint64_t sum = 0;
        for (uint32_t i = 0; i < nb; i++) {
            assert_int_equal(b[i].piece, x);
            assert_int_equal(b[i].begin, i * BS);
            assert_int_equal(b[i].length, btt_picker_block_size(p, x, i));
            assert_true(b[i].length > 0 && b[i].length <= BS);
            if (i + 1 < nb) assert_int_equal(b[i].length, BS);
            sum += b[i].length;
        }
        assert_int_equal(sum, psize);
        assert_int_equal(btt_picker_block_size(p, x, nb), 0);
        covered += sum;
    }
    assert_int_equal(covered, total);
    btt_picker_free(p);
}

static void test_block_sizes(void **state)
{
    /* short last piece: 64 KiB pieces, 20,000 bytes in the last */
    btt_picker *p = mk(4, 4 * BS, 3ull * 4 * BS + 20000, 1);
    assert_int_equal(btt_picker_blocks_in(p, 0), 4);
    assert_int_equal(btt_picker_blocks_in(p, 3), 2);
    assert_int_equal(btt_picker_block_size(p, 3, 0), BS);
    assert_int_equal(btt_picker_block_size(p, 3, 1), 20000 - BS);
    assert_int_equal(btt_picker_block_size(p, 3, 2), 0);
    assert_int_equal(btt_picker_block_size(p, 0, 3), BS);
    btt_picker_free(p);
    check_cover(4, 4 * BS, 3ull * 4 * BS + 20000);
    /* total not a multiple of 16 KiB, last piece shorter than a block */
    check_cover(5, 2 * BS, 4ull * 2 * BS + 1);
    check_cover(5, 2 * BS, 4ull * 2 * BS + BS + 7);
    /* piece length not a multiple of 16 KiB */
    check_cover(3, 40000, 100000);
    check_cover(7, 1000, 6500);
    /* one tiny piece, and exact multiples */
    check_cover(1, 32768, 1000);
    check_cover(1, 32768, 32768);
    check_cover(8, 4 * BS, 8ull * 4 * BS);
    /* large pieces: 1 MiB = 64 blocks */
    check_cover(2, 1u << 20, (1u << 20) + 12345);
}

static void test_received_complete(void **state)
{
    btt_picker *p = mk(2, 3 * BS, 3 * BS + 100, 9);
    btt_picker_set_sequential(p, true);
    btt_block b[8];
    bool eg;
    assert_int_equal(pick(p, NULL, PEER(1), 3, b, &eg), 3);
    assert_int_equal(btt_picker_left(p), 2);
    const void *other;
    bool complete;
    assert_true(recv_block(p, 0, 0, PEER(1), &other, &complete));
    assert_null(other);
    assert_false(complete);
    assert_true(recv_block(p, 0, 2 * BS, PEER(1), &other, &complete));
    assert_false(complete);
    assert_true(recv_block(p, 0, BS, PEER(1), &other, &complete));
    assert_null(other);
    assert_true(complete);
    assert_false(btt_picker_have(p, 0));
    btt_picker_passed(p, 0);
    assert_true(btt_picker_have(p, 0));
    assert_true(btt_bitfield_get(btt_picker_have_bitfield(p), 0));
    assert_int_equal(btt_picker_have_bitfield(p)->count, 1);
    assert_int_equal(btt_picker_left(p), 1);
    assert_int_equal(btt_picker_partial_count(p), 0);
    /* a block of a had piece is not expected */
    assert_false(recv_block(p, 0, 0, PEER(1), &other, &complete));
    assert_false(complete);
    /* the short last piece: one 100-byte block */
    assert_int_equal(pick(p, NULL, PEER(1), 3, b, &eg), 1);
    assert_int_equal(b[0].length, 100);
    assert_true(recv_block(p, 1, 0, PEER(1), &other, &complete));
    assert_true(complete);
    btt_picker_passed(p, 1);
    assert_int_equal(btt_picker_left(p), 0);
    assert_true(btt_bitfield_full(btt_picker_have_bitfield(p)));
    assert_int_equal(pick(p, NULL, PEER(1), 3, b, &eg), 0);
    assert_false(eg);
    btt_picker_free(p);
}

static void test_unexpected_blocks(void **state)
{
    btt_picker *p = mk_even(4, 4, 13);
    btt_picker_set_sequential(p, true);
    btt_block b[8];
    bool eg;
    assert_int_equal(pick(p, NULL, PEER(1), 2, b, &eg), 2); /* piece 0, blocks 0 and 1 */
    const void *other;
    bool complete;
    /* a piece that was never started */
    assert_false(recv_block(p, 2, 0, PEER(1), &other, &complete));
    assert_false(complete);
    assert_null(other);
    /* out of range, misaligned, past the end of the piece */
    assert_false(recv_block(p, 4, 0, PEER(1), &other, &complete));
    assert_false(recv_block(p, 0xffffffffu, 0, PEER(1), &other, &complete));
    assert_false(recv_block(p, 0, 100, PEER(1), &other, &complete));
    assert_false(recv_block(p, 0, 4 * BS, PEER(1), &other, &complete));
    assert_false(recv_block(p, 0, 0xffffc000u, PEER(1), &other, &complete));
    /* the real one, then the same again */
    assert_true(recv_block(p, 0, 0, PEER(1), &other, &complete));
    assert_false(recv_block(p, 0, 0, PEER(1), &other, &complete));
    assert_false(recv_block(p, 0, 0, PEER(2), &other, &complete));
    assert_false(complete);
    /* nothing above disturbed the rest: the piece still completes with its own blocks */
    assert_true(recv_block(p, 0, BS, PEER(1), &other, &complete));
    assert_false(complete);
    assert_int_equal(pick(p, NULL, PEER(1), 2, b, &eg), 2);
    assert_int_equal(b[0].piece, 0);
    assert_int_equal(b[0].begin, 2 * BS);
    assert_true(recv_block(p, 0, 2 * BS, PEER(1), &other, &complete));
    assert_true(recv_block(p, 0, 3 * BS, PEER(1), &other, &complete));
    assert_true(complete);
    btt_picker_free(p);
}

static void test_abort(void **state)
{
    btt_picker *p = mk_even(3, 4, 17);
    btt_picker_set_sequential(p, true);
    btt_block b[16];
    bool eg;
    assert_int_equal(pick(p, NULL, PEER(1), 4, b, &eg), 4); /* piece 0 */
    btt_picker_abort(p, 0, BS, PEER(1));
    btt_picker_abort(p, 0, 3 * BS, PEER(1));
    /* a peer that never asked cannot give a block back */
    btt_picker_abort(p, 0, 2 * BS, PEER(5));
    /* nonsense is ignored */
    btt_picker_abort(p, 2, 0, PEER(1));
    btt_picker_abort(p, 7, 0, PEER(1));
    btt_picker_abort(p, 0, 123, PEER(1));
    /* the two given back come first, before a new piece */
    assert_int_equal(pick(p, NULL, PEER(2), 3, b, &eg), 3);
    assert_false(eg);
    assert_int_equal(b[0].piece, 0);
    assert_int_equal(b[0].begin, BS);
    assert_int_equal(b[1].piece, 0);
    assert_int_equal(b[1].begin, 3 * BS);
    assert_int_equal(b[2].piece, 1);
    /* aborting twice is harmless: the block is handed out once */
    btt_picker_abort(p, 1, 0, PEER(2));
    btt_picker_abort(p, 1, 0, PEER(2));
    assert_int_equal(pick(p, NULL, PEER(3), 16, b, &eg), 1 + 3 + 4);
    int count10 = 0;
    for (int i = 0; i < 8; i++) count10 += b[i].piece == 1 && b[i].begin == 0;
    assert_int_equal(count10, 1);
    /* a peer going away gives back everything it had */
    for (uint32_t k = 0; k < 4; k++) btt_picker_abort(p, 2, k * BS, PEER(3));
    assert_int_equal(pick(p, NULL, PEER(4), 16, b, &eg), 4);
    assert_false(eg);
    for (int i = 0; i < 4; i++) assert_int_equal(b[i].piece, 2);
    btt_picker_free(p);
}

static void test_failed_piece(void **state)
{
    btt_picker *p = mk_even(3, 2, 19);
    btt_picker_set_sequential(p, true);
    btt_block b[8];
    bool eg;
    assert_int_equal(pick(p, NULL, PEER(1), 2, b, &eg), 2);
    const void *other;
    bool complete;
    assert_true(recv_block(p, 0, 0, PEER(1), &other, &complete));
    assert_true(recv_block(p, 0, BS, PEER(1), &other, &complete));
    assert_true(complete);
    btt_picker_failed(p, 0);
    assert_false(btt_picker_have(p, 0));
    assert_true(btt_picker_wants(p, 0));
    assert_int_equal(btt_picker_left(p), 3);
    assert_int_equal(btt_picker_partial_count(p), 0);
    /* the old blocks are no longer expected */
    assert_false(recv_block(p, 0, 0, PEER(1), &other, &complete));
    /* all its blocks are wanted again (sequential: piece 0 first) */
    assert_int_equal(pick(p, NULL, PEER(2), 2, b, &eg), 2);
    assert_int_equal(b[0].piece, 0);
    assert_int_equal(b[0].begin, 0);
    assert_int_equal(b[1].piece, 0);
    assert_int_equal(b[1].begin, BS);
    assert_true(recv_block(p, 0, 0, PEER(2), &other, &complete));
    assert_true(recv_block(p, 0, BS, PEER(2), &other, &complete));
    assert_true(complete);
    btt_picker_passed(p, 0);
    assert_int_equal(btt_picker_left(p), 2);
    /* a failed piece in rarest-first mode comes back too */
    btt_picker_set_sequential(p, false);
    btt_picker_inc(p, 2);
    assert_int_equal(pick(p, NULL, PEER(1), 2, b, &eg), 2);
    assert_int_equal(b[0].piece, 1);
    assert_true(recv_block(p, 1, 0, PEER(1), &other, &complete));
    assert_true(recv_block(p, 1, BS, PEER(1), &other, &complete));
    btt_picker_failed(p, 1);
    assert_int_equal(pick(p, NULL, PEER(1), 4, b, &eg), 4);
    assert_int_equal(b[0].piece, 1);
    assert_int_equal(b[2].piece, 2);
    /* failing an unwanted piece does not bring it back */
    btt_picker_set_priority(p, 2, 0);
    btt_picker_failed(p, 2);
    btt_picker_abort(p, 1, 0, PEER(1));
    btt_picker_failed(p, 1);
    assert_int_equal(pick(p, NULL, PEER(1), 4, b, &eg), 2);
    assert_int_equal(b[0].piece, 1);
    assert_int_equal(b[1].piece, 1);
    btt_picker_free(p);
}

static void test_endgame(void **state)
{
    btt_picker *p = mk_even(2, 2, 23);
    btt_block a[8], b[8], c[8];
    bool eg;
    assert_int_equal(pick(p, NULL, PEER(1), 8, a, &eg), 4);
    assert_false(eg);
    /* every block is requested: a second peer gets duplicates */
    assert_int_equal(pick(p, NULL, PEER(2), 8, b, &eg), 4);
    assert_true(eg);
    for (int i = 0; i < 4; i++) {
        bool found = false;
        for (int j = 0; j < 4; j++) found |= a[j].piece == b[i].piece && a[j].begin == b[i].begin;
        assert_true(found);
        assert_int_equal(b[i].length, BS);
    }
    /* never more than 2 requesters */
    assert_int_equal(pick(p, NULL, PEER(3), 8, c, &eg), 0);
    assert_false(eg);
    /* nor the same peer twice */
    assert_int_equal(pick(p, NULL, PEER(1), 8, c, &eg), 0);
    assert_int_equal(pick(p, NULL, PEER(2), 8, c, &eg), 0);
    /* a block arrives from the second peer: the first is named for a cancel */
    const void *other;
    bool complete;
    assert_true(recv_block(p, a[0].piece, a[0].begin, PEER(2), &other, &complete));
    assert_ptr_equal(other, PEER(1));
    assert_false(complete);
    /* the cancelled copy arriving anyway is a duplicate */
    assert_false(recv_block(p, a[0].piece, a[0].begin, PEER(1), &other, &complete));
    /* the other way round */
    assert_true(recv_block(p, a[1].piece, a[1].begin, PEER(1), &other, &complete));
    assert_ptr_equal(other, PEER(2));
    /* one requester gives up: a third peer may take its place, but no more than that */
    btt_picker_abort(p, a[2].piece, a[2].begin, PEER(2));
    assert_int_equal(pick(p, NULL, PEER(3), 8, c, &eg), 1);
    assert_true(eg);
    assert_int_equal(c[0].piece, a[2].piece);
    assert_int_equal(c[0].begin, a[2].begin);
    assert_int_equal(pick(p, NULL, PEER(4), 8, c, &eg), 0);
    assert_true(recv_block(p, a[2].piece, a[2].begin, PEER(3), &other, &complete));
    assert_ptr_equal(other, PEER(1));
    /* both requesters give up: the block is free again and handed out normally */
    btt_picker_abort(p, a[3].piece, a[3].begin, PEER(1));
    btt_picker_abort(p, a[3].piece, a[3].begin, PEER(2));
    assert_int_equal(pick(p, NULL, PEER(4), 8, c, &eg), 1);
    assert_false(eg);
    assert_int_equal(c[0].begin, a[3].begin);
    assert_true(recv_block(p, a[3].piece, a[3].begin, PEER(4), &other, &complete));
    assert_null(other);
    btt_picker_free(p);
}

/* ------------------------------------------------------------------ brute-force model */

/* Random availability changes; then, on a fresh picker per trial, one block at a time from a
 * seed: each newly started piece is the rarest not yet started, so availability never drops. */
static void test_pick_order_model(void **state)
{
    uint64_t r = 0x5eed;
    const uint32_t n = 300;
    for (int trial = 0; trial < 20; trial++) {
        /* 2-block pieces, a 1-block last piece */
        btt_picker *p = mk(n, 2 * BS, (uint64_t)(n - 1) * 2 * BS + 5000, (uint64_t)trial + 1);
        uint32_t *avail = calloc(n, sizeof *avail);
        uint32_t seeds = 0;
        btt_bitfield bfs[4];
        bool bf_in[4] = {false};
        for (int k = 0; k < 4; k++) {
            bf_init(&bfs[k], n);
            for (uint32_t x = 0; x < n; x++)
                if (rng_below(&r, 3) == 0) btt_bitfield_set(&bfs[k], x);
        }
        for (int op = 0; op < 3000; op++) {
            uint32_t x = rng_below(&r, n);
            uint32_t what = rng_below(&r, 100);
            if (what < 50) {
                btt_picker_inc(p, x);
                avail[x]++;
            } else if (what < 90) {
                btt_picker_dec(p, x);
                if (avail[x]) avail[x]--;
            } else if (what < 96) {
                int k = (int)rng_below(&r, 4);
                if (bf_in[k]) btt_picker_dec_bitfield(p, &bfs[k]);
                else btt_picker_inc_bitfield(p, &bfs[k]);
                for (uint32_t y = 0; y < n; y++)
                    if (btt_bitfield_get(&bfs[k], y)) {
                        if (bf_in[k]) {
                            if (avail[y]) avail[y]--;
                        } else {
                            avail[y]++;
                        }
                    }
                bf_in[k] = !bf_in[k];
            } else if (what < 98) {
                btt_picker_inc_seed(p);
                seeds++;
            } else {
                btt_picker_dec_seed(p);
                if (seeds) seeds--;
            }
            uint32_t y = rng_below(&r, n);
            assert_int_equal(btt_picker_availability(p, y), avail[y] + seeds);
        }
        for (uint32_t y = 0; y < n; y++) assert_int_equal(btt_picker_availability(p, y), avail[y] + seeds);

        /* pick everything, one block at a time */
        bool *started = calloc(n, sizeof *started);
        uint8_t *blocks = calloc((size_t)n * 2, 1);
        uint32_t prev = 0, nstarted = 0;
        size_t total_blocks = 0;
        for (;;) {
            btt_block b;
            bool eg;
            size_t got = pick(p, NULL, PEER(1), 1, &b, &eg);
            if (got == 0) break;
            assert_false(eg);
            assert_true(b.piece < n && b.begin % BS == 0 && b.begin / BS < 2);
            assert_int_equal(blocks[b.piece * 2 + b.begin / BS]++, 0);
            total_blocks++;
            if (started[b.piece]) continue;
            /* a new piece: the rarest of those not started */
            uint32_t a = avail[b.piece];
            uint32_t min = UINT32_MAX;
            for (uint32_t y = 0; y < n; y++)
                if (!started[y] && avail[y] < min) min = avail[y];
            if (a != min || a < prev) {
                print_error("trial %d: started piece %u (availability %u) after %u, but the rarest left has %u\n",
                            trial, b.piece, a, prev, min);
                fail();
            }
            prev = a;
            started[b.piece] = true;
            nstarted++;
        }
        assert_int_equal(nstarted, n);
        assert_int_equal(total_blocks, (size_t)(n - 1) * 2 + 1);
        free(started);
        free(blocks);
        free(avail);
        for (int k = 0; k < 4; k++) btt_bitfield_free(&bfs[k]);
        btt_picker_free(p);
    }
}

/* The whole lifecycle against a model: availability, priorities, picks (from a seed and from
 * peers with partial bitfields), completion, hash failures and aborts in random order. Each
 * pick must return a given-back block of a partial piece if there is one the peer has, else
 * start the rarest wanted piece the peer has, else nothing. */
enum { M_IDLE = 0, M_REQ = 1, M_FREE = 2 };

static void test_lifecycle_model(void **state)
{
    uint64_t r = 0xfeed;
    const uint32_t n = 120;
    for (int trial = 0; trial < 10; trial++) {
        btt_picker *p = mk(n, BS, (uint64_t)n * BS - 777, 100 + (uint64_t)trial);
        uint32_t avail[120] = {0}, seeds = 0;
        uint8_t prio[120], st[120] = {0};
        bool have[120] = {false};
        memset(prio, 1, sizeof prio);
        btt_bitfield peer_bf;
        bf_init(&peer_bf, n);
        for (int op = 0; op < 4000; op++) {
            uint32_t x = rng_below(&r, n);
            uint32_t what = rng_below(&r, 100);
            if (what < 25) {
                btt_picker_inc(p, x);
                avail[x]++;
            } else if (what < 40) {
                btt_picker_dec(p, x);
                if (avail[x]) avail[x]--;
            } else if (what < 42) {
                btt_picker_inc_seed(p);
                seeds++;
            } else if (what < 44) {
                btt_picker_dec_seed(p);
                if (seeds) seeds--;
            } else if (what < 49) {
                uint8_t pr = prio[x] ? 0 : (uint8_t)(1 + rng_below(&r, 3));
                btt_picker_set_priority(p, x, pr);
                prio[x] = pr;
            } else if (what < 75) {
                /* pick one block, from a seed or from a peer with a random bitfield */
                const btt_bitfield *bf = NULL;
                if (rng_below(&r, 3) == 0) {
                    btt_bitfield_clear_all(&peer_bf);
                    for (uint32_t y = 0; y < n; y++)
                        if (rng_below(&r, 2)) btt_bitfield_set(&peer_bf, y);
                    bf = &peer_bf;
                }
                bool any_free = false, any_new = false;
                uint32_t min = UINT32_MAX;
                for (uint32_t y = 0; y < n; y++) {
                    if (bf && !btt_bitfield_get(bf, y)) continue;
                    if (st[y] == M_FREE && prio[y]) any_free = true;
                    if (st[y] == M_IDLE && prio[y] && !have[y]) {
                        any_new = true;
                        if (avail[y] < min) min = avail[y];
                    }
                }
                uint32_t got = pick1(p, bf, PEER(1));
                if (any_free) {
                    assert_true(got < n);
                    if (st[got] != M_FREE || !prio[got]) {
                        print_error("trial %d op %d: picked %u (state %u prio %u), a given-back block was due\n",
                                    trial, op, got, st[got], prio[got]);
                        fail();
                    }
                } else if (any_new) {
                    assert_true(got < n);
                    if (st[got] != M_IDLE || !prio[got] || have[got] || avail[got] != min) {
                        print_error("trial %d op %d: started %u (state %u, availability %u), rarest is %u\n", trial,
                                    op, got, st[got], avail[got], min);
                        fail();
                    }
                } else {
                    assert_int_equal(got, UINT32_MAX);
                }
                if (got < n) {
                    assert_true(!bf || btt_bitfield_get(bf, got));
                    st[got] = M_REQ;
                }
            } else if (what < 90) {
                /* a requested piece arrives; its hash passes or fails */
                uint32_t y = x;
                for (uint32_t k = 0; k < n && st[y] != M_REQ; k++) y = (y + 1) % n;
                if (st[y] != M_REQ) continue;
                const void *other;
                bool complete;
                assert_true(recv_block(p, y, 0, PEER(1), &other, &complete));
                assert_null(other);
                assert_true(complete);
                if (rng_below(&r, 4)) {
                    btt_picker_passed(p, y);
                    have[y] = true;
                } else {
                    btt_picker_failed(p, y);
                }
                st[y] = M_IDLE;
            } else if (what < 97) {
                uint32_t y = x;
                for (uint32_t k = 0; k < n && st[y] != M_REQ; k++) y = (y + 1) % n;
                if (st[y] != M_REQ) continue;
                btt_picker_abort(p, y, 0, PEER(1));
                st[y] = M_FREE;
            } else {
                /* a block nobody asked for */
                if (st[x] == M_IDLE) {
                    const void *other;
                    bool complete;
                    assert_false(recv_block(p, x, 0, PEER(1), &other, &complete));
                }
            }
            /* invariants */
            uint32_t left = 0;
            for (uint32_t y = 0; y < n; y++) left += prio[y] && !have[y];
            assert_int_equal(btt_picker_left(p), left);
            uint32_t partial = 0;
            for (uint32_t y = 0; y < n; y++) partial += st[y] != M_IDLE;
            assert_int_equal(btt_picker_partial_count(p), partial);
            for (int k = 0; k < 3; k++) {
                uint32_t y = rng_below(&r, n);
                assert_int_equal(btt_picker_availability(p, y), avail[y] + seeds);
                assert_int_equal(btt_picker_wants(p, y), prio[y] && !have[y]);
                assert_int_equal(btt_picker_have(p, y), have[y]);
            }
        }
        btt_bitfield_free(&peer_bf);
        btt_picker_free(p);
    }
}

/* ------------------------------------------------------------------ scale */

#define LP_PIECES 65536u
#define LP_PEERS 4
#define LP_QUEUE 32

typedef struct sim_peer {
    btt_bitfield has;
    btt_block q[LP_QUEUE];
    size_t qlen;
} sim_peer;

static size_t block_index(uint32_t piece, uint32_t begin) { return (size_t)piece * 2 + begin / BS; }

static bool queue_remove(sim_peer *sp, uint32_t piece, uint32_t begin)
{
    for (size_t i = 0; i < sp->qlen; i++)
        if (sp->q[i].piece == piece && sp->q[i].begin == begin) {
            memmove(&sp->q[i], &sp->q[i + 1], (sp->qlen - i - 1) * sizeof sp->q[0]);
            sp->qlen--;
            return true;
        }
    return false;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_large_download(void **state)
{
    const uint32_t n = LP_PIECES, plen = 2 * BS;
    const uint64_t total = (uint64_t)(n - 1) * plen + 20000; /* not a multiple of 16 KiB */
    const size_t nblocks = (size_t)n * 2;
    uint8_t *recv = calloc(nblocks, 1);
    uint8_t *reqmask = calloc(nblocks, 1); /* which peers have the block outstanding */
    sim_peer *peers = calloc(LP_PEERS, sizeof *peers);
    assert_non_null(recv);
    assert_non_null(reqmask);
    assert_non_null(peers);

    double t0 = now_s();
    btt_picker *p = mk(n, plen, total, 0xC0FFEE);
    /* every piece is held by 3 of the 4 peers */
    for (int k = 0; k < LP_PEERS; k++) {
        bf_init(&peers[k].has, n);
        btt_bitfield_set_all(&peers[k].has);
        for (uint32_t x = 0; x < n; x++)
            if (((x * 2654435761u) >> 16) % LP_PEERS == (uint32_t)k) btt_bitfield_clear(&peers[k].has, x);
        btt_picker_inc_bitfield(p, &peers[k].has);
    }
    size_t received = 0, endgame_blocks = 0;
    unsigned long rounds = 0;
    while (btt_picker_left(p) > 0) {
        assert_true(++rounds < 1000000);
        bool progress = false;
        for (int k = 0; k < LP_PEERS; k++) {
            sim_peer *sp = &peers[k];
            if (sp->qlen < LP_QUEUE) {
                bool eg;
                size_t got = pick(p, &sp->has, PEER(k), LP_QUEUE - sp->qlen, sp->q + sp->qlen, &eg);
                for (size_t i = sp->qlen; i < sp->qlen + got; i++) {
                    const btt_block *b = &sp->q[i];
                    assert_true(b->piece < n);
                    assert_true(btt_bitfield_get(&sp->has, b->piece));
                    size_t bi = block_index(b->piece, b->begin);
                    assert_int_equal(recv[bi], 0);
                    assert_false(reqmask[bi] & (1u << k));
                    reqmask[bi] |= (uint8_t)(1u << k);
                    assert_true(__builtin_popcount(reqmask[bi]) <= 2);
                    assert_int_equal(b->length, btt_picker_block_size(p, b->piece, b->begin / BS));
                    if (eg) endgame_blocks++;
                }
                sp->qlen += got;
                progress |= got > 0;
            }
            /* the peer delivers its oldest few requests */
            for (int d = 0; d < 4 && sp->qlen > 0; d++) {
                btt_block b = sp->q[0];
                memmove(&sp->q[0], &sp->q[1], (sp->qlen - 1) * sizeof sp->q[0]);
                sp->qlen--;
                size_t bi = block_index(b.piece, b.begin);
                reqmask[bi] &= (uint8_t)~(1u << k);
                const void *other;
                bool complete;
                if (!recv_block(p, b.piece, b.begin, PEER(k), &other, &complete)) {
                    print_error("block %u/%u from peer %d refused (received %u times)\n", b.piece, b.begin, k,
                                recv[bi]);
                    fail();
                }
                recv[bi]++;
                received++;
                progress = true;
                if (other) {
                    /* cancel the duplicate request */
                    uintptr_t j = (uintptr_t)other - 0x1000;
                    assert_true(j < LP_PEERS && (int)j != k);
                    assert_true(queue_remove(&peers[j], b.piece, b.begin));
                    reqmask[bi] &= (uint8_t)~(1u << j);
                }
                if (complete) btt_picker_passed(p, b.piece);
            }
        }
        assert_true(progress);
    }
    double elapsed = now_s() - t0;

    assert_int_equal(received, nblocks);
    for (size_t i = 0; i < nblocks; i++)
        if (recv[i] != 1) {
            print_error("block %zu received %u times\n", i, recv[i]);
            fail();
        }
    assert_true(btt_bitfield_full(btt_picker_have_bitfield(p)));
    assert_int_equal(btt_picker_partial_count(p), 0);
    bool eg;
    btt_block b;
    assert_int_equal(pick(p, NULL, PEER(0), 1, &b, &eg), 0);
    double limit = SLOW_BUILD ? 20.0 : 2.0;
    print_message("65,536 pieces by 4 peers: %.3f s, %lu rounds, %zu endgame requests\n", elapsed, rounds,
                  endgame_blocks);
    if (elapsed >= limit) {
        print_error("took %.3f s (limit %.1f s)\n", elapsed, limit);
        fail();
    }
    for (int k = 0; k < LP_PEERS; k++) btt_bitfield_free(&peers[k].has);
    free(peers);
    free(recv);
    free(reqmask);
    btt_picker_free(p);
}

static void test_degenerate(void **state)
{
    /* no pieces at all (a magnet link before its metadata) */
    btt_picker *p = mk(0, BS, 0, 1);
    btt_block b[4];
    bool eg;
    assert_int_equal(btt_picker_left(p), 0);
    assert_int_equal(pick(p, NULL, PEER(1), 4, b, &eg), 0);
    assert_false(eg);
    assert_int_equal(btt_picker_availability(p, 0), 0);
    btt_picker_inc_seed(p);
    btt_picker_free(p);
    btt_picker_free(NULL);
    /* max = 0 asks for nothing */
    p = mk_even(3, 1, 1);
    assert_int_equal(pick(p, NULL, PEER(1), 0, b, &eg), 0);
    assert_int_equal(btt_picker_partial_count(p), 0);
    btt_picker_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_availability_counts),
        cmocka_unit_test(test_rarest_first),
        cmocka_unit_test(test_random_tie_break),
        cmocka_unit_test(test_random_tie_break_after_bitfield),
        cmocka_unit_test(test_partial_before_new),
        cmocka_unit_test(test_peer_has_only),
        cmocka_unit_test(test_no_endgame_before_all_requested),
        cmocka_unit_test(test_sequential),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_block_sizes),
        cmocka_unit_test(test_received_complete),
        cmocka_unit_test(test_unexpected_blocks),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_failed_piece),
        cmocka_unit_test(test_endgame),
        cmocka_unit_test(test_pick_order_model),
        cmocka_unit_test(test_lifecycle_model),
        cmocka_unit_test(test_large_download),
        cmocka_unit_test(test_degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
