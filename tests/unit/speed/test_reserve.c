/* Unit tests for the seeder's reserve price clock and possession challenge
 * (btt/speed_reserve.h): the price per whole hour with its cap and reset, and the challenge's
 * draws (the spec's SHA-1 construction, determinism, range over many torrent geometries,
 * recently uploaded blocks avoided and cleared), block ranges and init errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "btt/sha1.h"
#include "btt/speed_reserve.h"

#define T0 7000000ull
#define H 3600000ull

static const uint8_t SECRET[20] = "0123456789abcdefghij";
static const uint8_t IH_A[20] = "AAAAAAAAAAAAAAAAAAA1";
static const uint8_t IH_B[20] = "AAAAAAAAAAAAAAAAAAA2";

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------ reserve price */

static void test_reserve_clock(void **state)
{
    btt_reserve r;
    btt_reserve_init(&r, 5, 2, 20, T0);
    assert_int_equal(btt_reserve_price(&r, T0), 5);
    assert_int_equal(btt_reserve_price(&r, T0 + H - 1), 5); /* whole hours only */
    assert_int_equal(btt_reserve_price(&r, T0 + H), 7);
    assert_int_equal(btt_reserve_price(&r, T0 + 2 * H), 9);
    assert_int_equal(btt_reserve_price(&r, T0 + 7 * H + H - 1), 19);
    assert_int_equal(btt_reserve_price(&r, T0 + 8 * H), 20); /* 21 capped */
    assert_int_equal(btt_reserve_price(&r, T0 + 1000 * H), 20);
    assert_int_equal(btt_reserve_price(&r, T0 - 1), 5); /* a clock before since */
    assert_int_equal(btt_reserve_price(&r, 0), 5);
    /* proof of possession: back to base, growing again from then */
    btt_reserve_held(&r, T0 + 10 * H + 5);
    assert_int_equal(btt_reserve_price(&r, T0 + 10 * H + 5), 5);
    assert_int_equal(btt_reserve_price(&r, T0 + 11 * H + 4), 5);
    assert_int_equal(btt_reserve_price(&r, T0 + 11 * H + 5), 7);
    assert_int_equal(btt_reserve_price(&r, T0 + 9 * H), 5); /* before the reset */
}

static void test_reserve_short_hour(void **state)
{
    btt_reserve r;
    btt_reserve_init(&r, 0, 10, 35, T0);
    assert_int_equal(r.hour_ms, H); /* a real hour unless changed */
    r.hour_ms = 1000;             /* tests run the clock faster */
    assert_int_equal(btt_reserve_price(&r, T0 + 999), 0);
    assert_int_equal(btt_reserve_price(&r, T0 + 1000), 10);
    assert_int_equal(btt_reserve_price(&r, T0 + 3999), 30);
    assert_int_equal(btt_reserve_price(&r, T0 + 4000), 35); /* capped */
    btt_reserve_held(&r, T0 + 5500);
    assert_int_equal(btt_reserve_price(&r, T0 + 6499), 0);
    assert_int_equal(btt_reserve_price(&r, T0 + 6500), 10);
    r.hour_ms = 0; /* 0 is taken as an hour, never a division by zero */
    assert_int_equal(btt_reserve_price(&r, T0 + 5500 + H), 10);
}

static void test_reserve_defaults_and_limits(void **state)
{
    btt_reserve r;
    btt_reserve_init(&r, 0, BTT_RESERVE_GROWTH_DEFAULT, BTT_RESERVE_CAP_DEFAULT, 0);
    assert_int_equal(btt_reserve_price(&r, 0), 0);
    assert_int_equal(btt_reserve_price(&r, 37 * H), 37);
    assert_int_equal(btt_reserve_price(&r, 100 * H), 100);
    assert_int_equal(btt_reserve_price(&r, 101 * H), 100);
    /* cap below base is raised to base */
    btt_reserve_init(&r, 10, 1, 3, T0);
    assert_int_equal(r.cap, 10);
    assert_int_equal(btt_reserve_price(&r, T0 + 5 * H), 10);
    /* no growth */
    btt_reserve_init(&r, 4, 0, 100, T0);
    assert_int_equal(btt_reserve_price(&r, UINT64_MAX), 4);
    /* saturation instead of wrap-around */
    btt_reserve_init(&r, 1, UINT64_MAX / 2, UINT64_MAX, 0);
    assert_int_equal(btt_reserve_price(&r, H), 1 + UINT64_MAX / 2);
    assert_int_equal(btt_reserve_price(&r, 2 * H), UINT64_MAX); /* 1 + 2 * (2^63 - 1) exactly */
    assert_int_equal(btt_reserve_price(&r, 3 * H), UINT64_MAX);
    btt_reserve_init(&r, UINT64_MAX - 1, UINT64_MAX, UINT64_MAX, 0);
    assert_int_equal(btt_reserve_price(&r, UINT64_MAX), UINT64_MAX);
}

/* ------------------------------------------------------------------ challenge */

/* The spec's draw, computed here independently: SHA-1(seed || counter BE), first 8 bytes BE. */
static uint32_t spec_draw(const uint8_t ih[20], uint64_t counter, uint32_t nblocks)
{
    uint8_t in[28], h[20];
    for (int i = 0; i < 20; i++) in[i] = SECRET[i] ^ ih[i];
    for (int i = 0; i < 8; i++) in[20 + i] = (uint8_t)(counter >> (56 - 8 * i));
    btt_sha1(in, sizeof in, h);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | h[i];
    return (uint32_t)(v % nblocks);
}

static uint32_t block_of(const btt_challenge *c) { return c->piece * c->blocks_per_piece + c->chunk; }

static void test_challenge_spec_draws(void **state)
{
    btt_challenge c;
    /* 4 pieces of 256 KiB, the last 213568 bytes: 3 * 16 + 14 blocks */
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, 262144, 1000000), BTT_OK);
    assert_int_equal(c.blocks_per_piece, 16);
    assert_int_equal(c.nblocks, 62);
    for (int i = 0; i < 20; i++) assert_int_equal(c.seed[i], SECRET[i] ^ IH_A[i]);
    /* nothing marked: the draws are the spec's sequence, counter from 0 */
    for (uint64_t k = 0; k < 50; k++) {
        uint32_t b = spec_draw(IH_A, k, 62);
        assert_int_equal(block_of(&c), b);
        assert_int_equal(c.piece, b / 16);
        assert_int_equal(c.chunk, b % 16);
        assert_int_equal(c.counter, k + 1);
        btt_challenge_next(&c);
    }
    /* a marked block is drawn again: the next unmarked draw of the sequence is taken */
    uint64_t k = c.counter;
    uint32_t first = spec_draw(IH_A, k, 62), second = spec_draw(IH_A, k + 1, 62);
    uint64_t extra = 1;
    while (second == first) second = spec_draw(IH_A, k + ++extra, 62);
    btt_challenge_uploaded(&c, first / 16, first % 16);
    btt_challenge_next(&c);
    assert_int_equal(block_of(&c), second);
    assert_int_equal(c.counter, k + extra + 1);
    btt_challenge_free(&c);
}

static void test_challenge_deterministic(void **state)
{
    btt_challenge a, b, other;
    assert_int_equal(btt_challenge_init(&a, SECRET, IH_A, 32768, 100u << 20), BTT_OK);
    assert_int_equal(btt_challenge_init(&b, SECRET, IH_A, 32768, 100u << 20), BTT_OK);
    assert_int_equal(btt_challenge_init(&other, SECRET, IH_B, 32768, 100u << 20), BTT_OK);
    int same_as_other = 0;
    for (int k = 0; k < 100; k++) {
        assert_int_equal(a.piece, b.piece);
        assert_int_equal(a.chunk, b.chunk);
        same_as_other += a.piece == other.piece && a.chunk == other.chunk;
        btt_challenge_next(&a);
        btt_challenge_next(&b);
        btt_challenge_next(&other);
    }
    assert_true(same_as_other < 3); /* 6400 blocks: an equal draw now and then at most */
    btt_challenge_free(&a);
    btt_challenge_free(&b);
    btt_challenge_free(&other);
}

/* Every draw names a block inside the torrent, for many geometries. */
static void check_geometry(uint64_t piece_length, uint64_t total, uint32_t want_nblocks)
{
    btt_challenge c;
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, piece_length, total), BTT_OK);
    if (want_nblocks) assert_int_equal(c.nblocks, want_nblocks);
    uint64_t covered = 0; /* the blocks tile the torrent */
    for (uint32_t b = 0; b < c.nblocks; b++) {
        uint64_t off;
        uint32_t len;
        assert_true(btt_challenge_block_range(&c, b / c.blocks_per_piece, b % c.blocks_per_piece, &off, &len));
        assert_int_equal(off, covered);
        assert_true(len >= 1 && len <= BTT_SPEED_BLOCK);
        covered += len;
    }
    assert_int_equal(covered, total);
    for (int k = 0; k < 300; k++) {
        uint64_t off;
        uint32_t len;
        if (!btt_challenge_block_range(&c, c.piece, c.chunk, &off, &len) || off + len > total) {
            print_error("piece length %llu total %llu: draw %d is piece %u chunk %u, outside\n",
                        (unsigned long long)piece_length, (unsigned long long)total, k, c.piece, c.chunk);
            fail();
        }
        btt_challenge_next(&c);
    }
    btt_challenge_free(&c);
}

static void test_challenge_geometries(void **state)
{
    check_geometry(16384, 16384, 1);           /* a single block */
    check_geometry(16384, 1, 1);               /* a single byte */
    check_geometry(1ull << 40, 100000, 7);     /* one piece far shorter than the piece length */
    check_geometry(32768, 32769, 3);           /* last piece: one 1-byte block */
    check_geometry(262144, 1000000, 62);       /* last piece of 14 blocks, the last short */
    check_geometry(20000, 50000, 5);           /* piece length not a multiple of 16 KiB */
    check_geometry(16384, 16384 * 1000 + 1, 1001);
    uint64_t s = 7;
    for (int i = 0; i < 300; i++) { /* up to 16K blocks each */
        uint64_t pl = 1024 + splitmix(&s) % (1u << 20);
        if (i % 3 == 0) pl = 16384ull << (splitmix(&s) % 6);
        uint64_t total = 1 + splitmix(&s) % (16u << 20);
        if (i % 10 == 0) { /* tiny pieces */
            pl = 1 + splitmix(&s) % 100;
            total = 1 + splitmix(&s) % 10000;
        }
        check_geometry(pl, total, 0);
    }
}

static void test_challenge_avoids_recent(void **state)
{
    /* geometries where the 64-draw fallback is rare (62 blocks) and almost certain (6400) */
    const uint64_t totals[2] = {1000000, 100u << 20};
    for (int g = 0; g < 2; g++) {
        btt_challenge c;
        assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, 262144, totals[g]), BTT_OK);
        uint32_t bpp = c.blocks_per_piece, n = c.nblocks;
        /* out of range marks are ignored */
        btt_challenge_uploaded(&c, n / bpp + 1, 0);
        btt_challenge_uploaded(&c, 0, bpp);
        btt_challenge_uploaded(&c, (n - 1) / bpp, (n - 1) % bpp + 1); /* past the last short piece */
        assert_int_equal(c.recent.count, 0);
        /* everything marked but three blocks, one of them the very last */
        const uint32_t free3[3] = {n - 1, n / 2, 5};
        for (uint32_t b = 0; b < n; b++)
            if (b != free3[0] && b != free3[1] && b != free3[2]) btt_challenge_uploaded(&c, b / bpp, b % bpp);
        assert_int_equal(c.recent.count, n - 3);
        int seen[3] = {0};
        for (int k = 0; k < 300; k++) {
            btt_challenge_next(&c);
            uint32_t b = block_of(&c);
            assert_true(b == free3[0] || b == free3[1] || b == free3[2]);
            seen[b == free3[0] ? 0 : b == free3[1] ? 1 : 2]++;
        }
        assert_int_equal(c.recent.count, n - 3); /* drawing marks nothing */
        assert_true(seen[0] + seen[1] + seen[2] == 300);
        /* one left: always it */
        btt_challenge_uploaded(&c, free3[1] / bpp, free3[1] % bpp);
        btt_challenge_uploaded(&c, free3[2] / bpp, free3[2] % bpp);
        for (int k = 0; k < 100; k++) {
            btt_challenge_next(&c);
            assert_int_equal(block_of(&c), free3[0]);
        }
        /* all marked: the next draw clears the marks and is the spec's next draw */
        btt_challenge_uploaded(&c, free3[0] / bpp, free3[0] % bpp);
        assert_true(btt_bitfield_full(&c.recent));
        uint64_t counter = c.counter;
        btt_challenge_next(&c);
        assert_int_equal(c.recent.count, 0);
        assert_int_equal(block_of(&c), spec_draw(IH_A, counter, n));
        btt_challenge_free(&c);
    }
}

/* A single-block torrent: marking the block clears it at the next draw. */
static void test_challenge_single_block(void **state)
{
    btt_challenge c;
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, 262144, 100), BTT_OK);
    assert_int_equal(c.nblocks, 1);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(c.piece, 0);
        assert_int_equal(c.chunk, 0);
        btt_challenge_uploaded(&c, 0, 0);
        btt_challenge_next(&c);
        assert_int_equal(c.recent.count, 0);
    }
    btt_challenge_free(&c);
}

static void test_challenge_block_range(void **state)
{
    btt_challenge c;
    uint64_t off;
    uint32_t len;
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, 262144, 1000000), BTT_OK);
    assert_true(btt_challenge_block_range(&c, 0, 0, &off, &len));
    assert_int_equal(off, 0);
    assert_int_equal(len, 16384);
    assert_true(btt_challenge_block_range(&c, 2, 15, &off, &len));
    assert_int_equal(off, 2 * 262144 + 15 * 16384);
    assert_int_equal(len, 16384);
    assert_true(btt_challenge_block_range(&c, 3, 13, &off, &len)); /* the last, short block */
    assert_int_equal(off, 999424);
    assert_int_equal(len, 576);
    assert_false(btt_challenge_block_range(&c, 3, 14, &off, &len));
    assert_false(btt_challenge_block_range(&c, 2, 16, &off, &len));
    assert_false(btt_challenge_block_range(&c, 4, 0, &off, &len));
    assert_false(btt_challenge_block_range(&c, UINT32_MAX, UINT32_MAX, &off, &len));
    btt_challenge_free(&c);
    /* piece length not a multiple of 16 KiB: short last block in every piece */
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, 20000, 50000), BTT_OK);
    assert_true(btt_challenge_block_range(&c, 0, 1, &off, &len));
    assert_int_equal(off, 16384);
    assert_int_equal(len, 3616);
    assert_true(btt_challenge_block_range(&c, 1, 1, &off, &len));
    assert_int_equal(off, 36384);
    assert_int_equal(len, 3616);
    assert_true(btt_challenge_block_range(&c, 2, 0, &off, &len));
    assert_int_equal(off, 40000);
    assert_int_equal(len, 10000);
    assert_false(btt_challenge_block_range(&c, 2, 1, &off, &len));
    btt_challenge_free(&c);
}

static void test_challenge_init_errors(void **state)
{
    btt_challenge c;
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, 0, 1000), BTT_EINVAL);
    btt_challenge_free(&c); /* safe after a failed init */
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, 16384, 0), BTT_EINVAL);
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, 16384, 16384ull << 32), BTT_EINVAL); /* 2^32 blocks */
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, 1, UINT64_MAX), BTT_EINVAL);
    assert_int_equal(btt_challenge_init(&c, SECRET, IH_A, UINT64_MAX, UINT64_MAX), BTT_EINVAL);
    btt_challenge_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_clock),
        cmocka_unit_test(test_reserve_short_hour),
        cmocka_unit_test(test_reserve_defaults_and_limits),
        cmocka_unit_test(test_challenge_spec_draws),
        cmocka_unit_test(test_challenge_deterministic),
        cmocka_unit_test(test_challenge_geometries),
        cmocka_unit_test(test_challenge_avoids_recent),
        cmocka_unit_test(test_challenge_single_block),
        cmocka_unit_test(test_challenge_block_range),
        cmocka_unit_test(test_challenge_init_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
