/* Unit tests for the Speed auction, the choker's second policy (btt/choker.h,
 * docs/speed-protocol.md 3.5): the uniform price (highest losing eligible bid or the reserve),
 * free slots for bidders below the reserve and legacy peers, the tie-breaks, the optimistic slot
 * (a winning optimistic peer is refilled, legacy peers keep their turns, bids break equal waits),
 * tit-for-tat leaving the auction outputs clear, and a random-input property test.
 *
 * Rounds go through btt_choker_run (so ctx.reserve comes from the choker); the harness keeps
 * choked_since_ms as the client does and checks the auction's invariants after every round. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "btt/choker.h"

#define TOK(k) ((const void *)(uintptr_t)(0x100 + (k)))
#define T0 1000000ull
#define MAXP 32

/* ------------------------------------------------------------------ harness */

static void init_peers(btt_choke_peer *ps, size_t n)
{
    memset(ps, 0, n * sizeof *ps);
    for (size_t i = 0; i < n; i++) {
        ps[i].peer = TOK(i);
        ps[i].interested = true;
        ps[i].choked_since_ms = T0 - 60000 + i; /* all choked for about a minute, 0 longest */
    }
}

static void setup(btt_choker *c, uint32_t slots, uint32_t optimistic, uint64_t reserve, uint64_t seed)
{
    btt_choker_init(c, &btt_choke_auction, slots, optimistic, seed);
    assert_int_equal(c->reserve, 0);
    c->reserve = reserve;
}

static bool eligible(const btt_choke_peer *p, uint64_t reserve)
{
    return p->interested && p->bid > 0 && p->bid >= reserve;
}

/* What every auction round must satisfy, whatever the input. */
static void check_invariants(const btt_choker *c, const btt_choke_peer *ps, size_t n)
{
    size_t nwon = 0, nregular = 0, nopt = 0, nelig = 0;
    uint64_t rate = 0, min_win = UINT64_MAX, max_lose = 0;
    for (size_t i = 0; i < n; i++) {
        const btt_choke_peer *p = &ps[i];
        if (p->unchoked) assert_true(p->interested);
        if (p->optimistic) {
            assert_true(p->unchoked);
            assert_false(p->won);
            nopt++;
        } else if (p->unchoked) {
            nregular++;
        }
        nelig += eligible(p, c->reserve);
        if (p->won) {
            assert_true(p->unchoked);
            assert_true(eligible(p, c->reserve));
            if (nwon++ == 0) rate = p->rate;
            assert_int_equal(p->rate, rate); /* uniform */
            if (p->bid < min_win) min_win = p->bid;
        } else {
            assert_int_equal(p->rate, 0);
            if (eligible(p, c->reserve) && p->bid > max_lose) max_lose = p->bid;
        }
    }
    assert_true(nregular <= c->slots);
    assert_true(nopt <= c->optimistic);
    assert_true(nregular + nopt <= (size_t)c->slots + c->optimistic);
    assert_int_equal(nwon, nelig < c->slots ? nelig : c->slots);
    if (nwon) {
        assert_true(rate <= min_win); /* never above a winner's bid */
        assert_true(max_lose <= min_win); /* the highest bids won */
        assert_int_equal(rate, max_lose > c->reserve ? max_lose : c->reserve);
    }
}

/* One round, with the client's bookkeeping of choked_since_ms. */
static void round_at(btt_choker *c, btt_choke_peer *ps, size_t n, bool seeding, uint64_t now)
{
    bool was[MAXP];
    assert_true(n <= MAXP);
    for (size_t i = 0; i < n; i++) was[i] = ps[i].unchoked;
    btt_choker_run(c, ps, n, seeding, now);
    check_invariants(c, ps, n);
    for (size_t i = 0; i < n; i++)
        if (was[i] && !ps[i].unchoked) ps[i].choked_since_ms = now;
}

static int the_optimistic(const btt_choke_peer *ps, size_t n)
{
    int who = -1;
    for (size_t i = 0; i < n; i++)
        if (ps[i].optimistic) {
            assert_int_equal(who, -1);
            who = (int)i;
        }
    return who;
}

static void assert_won(const btt_choke_peer *p, uint64_t rate)
{
    assert_true(p->unchoked);
    assert_true(p->won);
    assert_false(p->optimistic);
    assert_int_equal(p->rate, rate);
}

static void assert_free(const btt_choke_peer *p) /* unchoked without paying */
{
    assert_true(p->unchoked);
    assert_false(p->won);
    assert_int_equal(p->rate, 0);
}

static void assert_choked(const btt_choke_peer *p)
{
    assert_false(p->unchoked);
    assert_false(p->won);
    assert_false(p->optimistic);
    assert_int_equal(p->rate, 0);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------ price */

static void test_uniform_price(void **state)
{
    btt_choker c;
    setup(&c, 4, 0, 10, 1);
    btt_choke_peer ps[7];
    init_peers(ps, 7);
    const uint64_t bid[7] = {20, 50, 5, 40, 0, 15, 30};
    for (int i = 0; i < 7; i++) ps[i].bid = bid[i];
    round_at(&c, ps, 7, true, T0);
    /* 50, 40, 30, 20 win and all pay 15, the highest losing eligible bid (5 is below the reserve) */
    assert_won(&ps[1], 15);
    assert_won(&ps[3], 15);
    assert_won(&ps[6], 15);
    assert_won(&ps[0], 15);
    assert_choked(&ps[5]);
    assert_choked(&ps[2]);
    assert_choked(&ps[4]);
    /* the loser raises: it wins, and the price is the new highest losing bid */
    ps[5].bid = 45;
    round_at(&c, ps, 7, true, T0 + 10000);
    assert_won(&ps[1], 20);
    assert_won(&ps[5], 20);
    assert_won(&ps[3], 20);
    assert_won(&ps[6], 20);
    assert_choked(&ps[0]);
}

static void test_single_bidder_pays_reserve(void **state)
{
    btt_choker c;
    setup(&c, 4, 1, 7, 2);
    btt_choke_peer ps[6];
    init_peers(ps, 6);
    ps[0].bid = 100;
    const uint64_t up[6] = {0, 10, 50, 40, 30, 20}; /* the legacy peers, in tit-for-tat order */
    for (int i = 0; i < 6; i++) ps[i].up_rate = up[i];
    round_at(&c, ps, 6, true, T0);
    assert_won(&ps[0], 7);
    assert_free(&ps[2]);
    assert_free(&ps[3]);
    assert_free(&ps[4]);
    assert_free(&ps[1]); /* the optimistic slot: waited longest */
    assert_int_equal(the_optimistic(ps, 6), 1);
    assert_choked(&ps[5]);
    /* reserve 0: a lone bidder pays 0, though it won */
    setup(&c, 4, 1, 0, 2);
    init_peers(ps, 6);
    ps[3].bid = 100;
    round_at(&c, ps, 6, true, T0);
    assert_won(&ps[3], 0);
}

static void test_all_eligible_win_pay_reserve(void **state)
{
    btt_choker c;
    setup(&c, 4, 1, 10, 3);
    btt_choke_peer ps[5];
    init_peers(ps, 5);
    ps[0].bid = 30;
    ps[1].bid = 20;
    ps[2].bid = 10; /* exactly the reserve: eligible */
    ps[3].bid = 9;  /* below */
    round_at(&c, ps, 5, true, T0);
    assert_won(&ps[0], 10);
    assert_won(&ps[1], 10);
    assert_won(&ps[2], 10);
    assert_free(&ps[3]); /* the fourth regular slot or the optimistic one */
    assert_free(&ps[4]);
    assert_false(ps[3].won);
}

static void test_below_reserve_and_legacy_free(void **state)
{
    btt_choker c;
    setup(&c, 4, 0, 100, 4);
    btt_choke_peer ps[6];
    init_peers(ps, 6);
    ps[0].bid = 150;
    ps[1].bid = 50;
    ps[1].up_rate = 200;
    ps[2].bid = 99;
    ps[2].up_rate = 100;
    ps[3].bid = 100;
    ps[4].up_rate = 300; /* legacy */
    ps[5].bid = 500;     /* not interested: not eligible, never unchoked */
    ps[5].interested = false;
    ps[5].up_rate = 1000;
    round_at(&c, ps, 6, true, T0);
    assert_won(&ps[0], 100);
    assert_won(&ps[3], 100);
    /* two regular slots left, in tit-for-tat order (upload rate when seeding), bids aside */
    assert_free(&ps[4]);
    assert_free(&ps[1]);
    assert_choked(&ps[2]);
    assert_choked(&ps[5]);
    /* while leeching the same goes by download rate, snubbed peers last */
    ps[4].down_rate = 10;
    ps[2].down_rate = 20;
    ps[1].down_rate = 30;
    ps[1].snubbed = true;
    round_at(&c, ps, 6, false, T0 + 10000);
    assert_won(&ps[0], 100);
    assert_won(&ps[3], 100);
    assert_free(&ps[2]);
    assert_free(&ps[4]);
    assert_choked(&ps[1]);
}

static void test_ties(void **state)
{
    btt_choker c;
    btt_choke_peer ps[3];
    const uint64_t rec[3] = {10, 30, 20};
    const uint64_t since[3] = {T0 - 100, T0 - 300, T0 - 200};
    for (uint64_t seed = 0; seed < 20; seed++) { /* whatever the random tie-break says */
        /* equal bids: the most data received from them wins */
        setup(&c, 2, 0, 0, seed);
        init_peers(ps, 3);
        for (int i = 0; i < 3; i++) {
            ps[i].bid = 50;
            ps[i].received = rec[i];
        }
        round_at(&c, ps, 3, true, T0);
        assert_won(&ps[1], 50);
        assert_won(&ps[2], 50);
        assert_choked(&ps[0]);
        /* equal received: choked longest wins */
        setup(&c, 2, 0, 0, seed);
        init_peers(ps, 3);
        for (int i = 0; i < 3; i++) {
            ps[i].bid = 50;
            ps[i].received = 7;
            ps[i].choked_since_ms = since[i];
        }
        round_at(&c, ps, 3, true, T0);
        assert_won(&ps[1], 50);
        assert_won(&ps[2], 50);
        assert_choked(&ps[0]);
        /* a peer unchoked until now counts as choked since now, whatever its old value says */
        setup(&c, 2, 0, 0, seed);
        init_peers(ps, 3);
        for (int i = 0; i < 3; i++) {
            ps[i].bid = 50;
            ps[i].choked_since_ms = since[i];
        }
        ps[0].choked_since_ms = 1;
        ps[0].unchoked = true;
        round_at(&c, ps, 3, true, T0);
        assert_won(&ps[1], 50);
        assert_won(&ps[2], 50);
        assert_choked(&ps[0]);
    }
    /* all equal: the random tie-break still picks exactly two, and not always the same */
    unsigned wins[3] = {0};
    for (uint64_t seed = 0; seed < 60; seed++) {
        setup(&c, 2, 0, 0, seed);
        init_peers(ps, 3);
        for (int i = 0; i < 3; i++) {
            ps[i].bid = 50;
            ps[i].choked_since_ms = T0 - 100;
        }
        round_at(&c, ps, 3, true, T0);
        for (int i = 0; i < 3; i++) wins[i] += ps[i].won;
    }
    assert_int_equal(wins[0] + wins[1] + wins[2], 120);
    for (int i = 0; i < 3; i++) assert_true(wins[i] > 0 && wins[i] < 60);
}

/* ------------------------------------------------------------------ optimistic slot */

/* An optimistic peer that becomes the top bidder wins a regular slot; the optimistic slot is
 * given to the next peer at once, without waiting for the rotation. */
static void test_optimistic_winner_refilled(void **state)
{
    btt_choker c;
    setup(&c, 2, 1, 10, 6);
    btt_choke_peer ps[5];
    init_peers(ps, 5);
    ps[0].bid = 50;
    ps[1].bid = 40;
    ps[2].choked_since_ms = 100;
    ps[3].choked_since_ms = 200;
    ps[4].choked_since_ms = 300;
    round_at(&c, ps, 5, true, T0);
    assert_won(&ps[0], 10);
    assert_won(&ps[1], 10);
    assert_int_equal(the_optimistic(ps, 5), 2);
    ps[2].bid = 100;
    round_at(&c, ps, 5, true, T0 + 10000); /* no rotation due */
    assert_won(&ps[2], 40);
    assert_won(&ps[0], 40);
    assert_choked(&ps[1]);
    assert_int_equal(the_optimistic(ps, 5), 3); /* refilled: waited longest among the choked */
    assert_free(&ps[3]);
    assert_choked(&ps[4]);
    /* it keeps the slot until the rotation */
    round_at(&c, ps, 5, true, T0 + 20000);
    assert_int_equal(the_optimistic(ps, 5), 3);
    round_at(&c, ps, 5, true, T0 + 30000);
    assert_int_equal(the_optimistic(ps, 5), 4);
}

/* In a mixed swarm the optimistic slot goes round every peer that is not winning, legacy peers
 * and bidders alike, in order of waiting. */
static void test_optimistic_round_robin_mixed(void **state)
{
    btt_choker c;
    setup(&c, 2, 1, 5, 7);
    btt_choke_peer ps[8];
    init_peers(ps, 8);
    const uint64_t bid[8] = {10, 20, 30, 40, 2, 0, 0, 0}; /* 4: below the reserve; 5-7: legacy */
    for (int i = 0; i < 8; i++) ps[i].bid = bid[i];
    const int want[6] = {0, 1, 4, 5, 6, 7};
    for (int k = 0; k < 18; k++) {
        round_at(&c, ps, 8, true, T0 + (uint64_t)k * 10000);
        assert_won(&ps[3], 20);
        assert_won(&ps[2], 20);
        int opt = the_optimistic(ps, 8);
        if (opt != want[k / 3]) {
            print_error("round %d: optimistic peer %d, expected %d\n", k, opt, want[k / 3]);
            fail();
        }
    }
}

/* Among peers choked for equally long the optimistic slot goes to the higher bid. */
static void test_optimistic_ties_by_bid(void **state)
{
    for (uint64_t seed = 0; seed < 20; seed++) {
        btt_choker c;
        setup(&c, 1, 1, 50, seed);
        btt_choke_peer ps[4];
        init_peers(ps, 4);
        ps[0].bid = 100;
        ps[1].bid = 20;
        ps[3].bid = 30;
        for (int i = 1; i < 4; i++) ps[i].choked_since_ms = T0 - 1000;
        round_at(&c, ps, 4, true, T0);
        assert_won(&ps[0], 50);
        assert_int_equal(the_optimistic(ps, 4), 3);
        /* but waiting longer beats bidding */
        setup(&c, 1, 1, 50, seed);
        ps[2].choked_since_ms = T0 - 1001;
        for (int i = 0; i < 4; i++) ps[i].unchoked = ps[i].optimistic = false;
        round_at(&c, ps, 4, true, T0);
        assert_int_equal(the_optimistic(ps, 4), 2);
    }
}

/* ------------------------------------------------------------------ tit-for-tat and property */

static void test_tit_for_tat_leaves_auction_outputs(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 2, 1, 8);
    c.reserve = 5; /* ignored by tit-for-tat */
    btt_choke_peer ps[6];
    init_peers(ps, 6);
    for (int i = 0; i < 6; i++) {
        ps[i].bid = 100 * (uint64_t)i;
        ps[i].won = true;
        ps[i].rate = 99;
        ps[i].down_rate = 10 * (uint64_t)(6 - i); /* the lowest bids are the fastest */
    }
    btt_choker_run(&c, ps, 6, false, T0);
    for (int i = 0; i < 6; i++) {
        assert_false(ps[i].won);
        assert_int_equal(ps[i].rate, 0);
    }
    assert_true(ps[0].unchoked);
    assert_true(ps[1].unchoked);
    assert_int_equal(the_optimistic(ps, 6), 2); /* waited longest, bids aside */
}

/* Random swarms over several rounds: check_invariants after each (rates never above a winner's
 * bid, uniform, the right price and the right number of winners; slots never exceeded; only
 * interested peers unchoked; optimistic peers never winners). */
static void test_property_random(void **state)
{
    uint64_t s = 2024;
    for (int scen = 0; scen < 3000; scen++) {
        btt_choker c;
        uint32_t slots = (uint32_t)(splitmix(&s) % 6), opt = (uint32_t)(splitmix(&s) % 3);
        uint64_t reserve = splitmix(&s) % 3 == 0 ? 0 : splitmix(&s) % 60;
        setup(&c, slots, opt, reserve, splitmix(&s));
        size_t n = (size_t)(splitmix(&s) % 17);
        btt_choke_peer ps[MAXP];
        init_peers(ps, n);
        uint64_t t = T0;
        for (int r = 0; r < 8; r++) {
            for (size_t i = 0; i < n; i++) {
                if (r && splitmix(&s) % 3) continue; /* some peers change between rounds */
                btt_choke_peer *p = &ps[i];
                p->interested = splitmix(&s) % 5 != 0;
                p->bid = splitmix(&s) % 3 == 0 ? 0 : splitmix(&s) % 10 * 10; /* ties on purpose */
                p->received = splitmix(&s) % 4 * 1000;
                p->up_rate = splitmix(&s) % 4;
                p->down_rate = splitmix(&s) % 4;
                p->snubbed = splitmix(&s) % 6 == 0;
            }
            round_at(&c, ps, n, splitmix(&s) % 2, t);
            t += splitmix(&s) % 2 ? 10000 : 1000 + splitmix(&s) % 30000;
            if (splitmix(&s) % 4 == 0) c.reserve = splitmix(&s) % 60; /* the reserve moves */
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform_price),
        cmocka_unit_test(test_single_bidder_pays_reserve),
        cmocka_unit_test(test_all_eligible_win_pay_reserve),
        cmocka_unit_test(test_below_reserve_and_legacy_free),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_optimistic_winner_refilled),
        cmocka_unit_test(test_optimistic_round_robin_mixed),
        cmocka_unit_test(test_optimistic_ties_by_bid),
        cmocka_unit_test(test_tit_for_tat_leaves_auction_outputs),
        cmocka_unit_test(test_property_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
