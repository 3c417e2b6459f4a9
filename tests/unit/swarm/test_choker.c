/* Unit tests for the choker: scheduling (10 s rounds, 30 s optimistic rotation) and the
 * tit-for-tat policy (BEP 3: four regular slots by download rate, by upload rate once
 * seeding, one optimistic unchoke rotated every 30 seconds).
 *
 * The harness carries each round's output into the next round's input and keeps
 * choked_since_ms the way the client does: set when a peer goes from unchoked to choked,
 * left alone while it stays unchoked. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/choker.h"

#define TOK(k) ((const void *)(uintptr_t)(0x100 + (k)))
#define T0 1000000ull /* a clock that does not start at 0 */

/* ------------------------------------------------------------------ helpers */

static void init_peers(btt_choke_peer *ps, size_t n)
{
    memset(ps, 0, n * sizeof *ps);
    for (size_t i = 0; i < n; i++) {
        ps[i].peer = TOK(i);
        ps[i].interested = true;
        ps[i].choked_since_ms = T0 - 60000 + i; /* all choked for about a minute, 0 longest */
    }
}

/* One round, with the client's bookkeeping of choked_since_ms. */
static void round_at(btt_choker *c, btt_choke_peer *ps, size_t n, bool seeding, uint64_t now)
{
    bool was[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) was[i] = ps[i].unchoked;
    btt_choker_run(c, ps, n, seeding, now);
    for (size_t i = 0; i < n; i++) {
        assert_true(!ps[i].optimistic || ps[i].unchoked); /* optimistic implies unchoked */
        if (was[i] && !ps[i].unchoked) ps[i].choked_since_ms = now;
    }
}

static size_t count_unchoked(const btt_choke_peer *ps, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ps[i].unchoked;
    return k;
}

static int the_optimistic(const btt_choke_peer *ps, size_t n)
{
    int who = -1;
    for (size_t i = 0; i < n; i++)
        if (ps[i].optimistic) {
            assert_int_equal(who, -1); /* one optimistic slot: at most one */
            who = (int)i;
        }
    return who;
}

/* ------------------------------------------------------------------ tests */

static void test_due_schedule(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 4, 1, 1);
    assert_true(btt_choker_due(&c, 0)); /* the first call is always due */
    assert_true(btt_choker_due(&c, T0));
    btt_choke_peer ps[3];
    init_peers(ps, 3);
    btt_choker_run(&c, ps, 3, false, T0);
    assert_false(btt_choker_due(&c, T0));
    assert_false(btt_choker_due(&c, T0 + 9999));
    assert_true(btt_choker_due(&c, T0 + 10000));
    assert_true(btt_choker_due(&c, T0 + 25000));
    btt_choker_run(&c, ps, 3, false, T0 + 10000);
    assert_false(btt_choker_due(&c, T0 + 19999));
    assert_true(btt_choker_due(&c, T0 + 20000));
    /* a forced round (a peer came) restarts the 10 s */
    btt_choker_run(&c, ps, 3, false, T0 + 13000);
    assert_false(btt_choker_due(&c, T0 + 22999));
    assert_true(btt_choker_due(&c, T0 + 23000));
    /* no peers at all is fine */
    btt_choker_run(&c, NULL, 0, false, T0 + 23000);
    assert_true(btt_choker_due(&c, T0 + 33000));
}

static void test_leeching_by_download_rate(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 4, 1, 7);
    btt_choke_peer ps[8];
    init_peers(ps, 8);
    const uint64_t down[8] = {500, 100, 800, 300, 700, 200, 600, 400};
    for (int i = 0; i < 8; i++) {
        ps[i].down_rate = down[i];
        ps[i].up_rate = 1000 - down[i]; /* the opposite order: must not matter */
    }
    round_at(&c, ps, 8, false, T0);
    /* regular slots: 800 (2), 700 (4), 600 (6), 500 (0) */
    const bool top[8] = {true, false, true, false, true, false, true, false};
    for (int i = 0; i < 8; i++)
        if (top[i]) {
            assert_true(ps[i].unchoked);
            assert_false(ps[i].optimistic);
        }
    int opt = the_optimistic(ps, 8);
    assert_true(opt >= 0 && !top[opt]);
    assert_int_equal(count_unchoked(ps, 8), 5);
    /* rates change: the slots follow at the next round */
    ps[1].down_rate = 10000;
    ps[0].down_rate = 1;
    round_at(&c, ps, 8, false, T0 + 10000);
    assert_true(ps[1].unchoked);
    if (opt != 0) assert_false(ps[0].unchoked);
    assert_int_equal(count_unchoked(ps, 8), 5);
}

static void test_seeding_by_upload_rate(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 4, 1, 9);
    btt_choke_peer ps[8];
    init_peers(ps, 8);
    const uint64_t up[8] = {10, 80, 20, 70, 30, 60, 40, 50};
    for (int i = 0; i < 8; i++) {
        ps[i].up_rate = up[i];
        ps[i].down_rate = 1000 - up[i]; /* seeding: what they send us is irrelevant */
    }
    round_at(&c, ps, 8, true, T0);
    /* regular: 80 (1), 70 (3), 60 (5), 50 (7) */
    for (int i = 1; i < 8; i += 2) {
        assert_true(ps[i].unchoked);
        assert_false(ps[i].optimistic);
    }
    int opt = the_optimistic(ps, 8);
    assert_true(opt >= 0 && opt % 2 == 0);
    assert_int_equal(count_unchoked(ps, 8), 5);
}

static void test_uninterested_stay_choked(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 4, 1, 11);
    btt_choke_peer ps[8];
    init_peers(ps, 8);
    for (int i = 0; i < 8; i++) {
        ps[i].down_rate = ps[i].up_rate = 100 + (uint64_t)i;
        ps[i].interested = i < 5;
    }
    /* the uninterested ones are the fastest and have waited longest */
    for (int i = 5; i < 8; i++) {
        ps[i].down_rate = ps[i].up_rate = 1u << 20;
        ps[i].choked_since_ms = 1;
        ps[i].unchoked = true; /* even if currently unchoked */
    }
    for (int r = 0; r < 6; r++) {
        bool seeding = r % 2;
        round_at(&c, ps, 8, seeding, T0 + (uint64_t)r * 10000);
        for (int i = 5; i < 8; i++) {
            assert_false(ps[i].unchoked);
            assert_false(ps[i].optimistic);
        }
        assert_int_equal(count_unchoked(ps, 8), 5);
    }
    /* nobody interested: nobody unchoked */
    for (int i = 0; i < 8; i++) ps[i].interested = false;
    round_at(&c, ps, 8, false, T0 + 60000);
    assert_int_equal(count_unchoked(ps, 8), 0);
    assert_int_equal(the_optimistic(ps, 8), -1);
}

static void test_snubbed_lose(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 4, 0, 13); /* no optimistic slot */
    btt_choke_peer ps[6];
    init_peers(ps, 6);
    const uint64_t down[6] = {9000, 8000, 100, 200, 300, 400};
    for (int i = 0; i < 6; i++) ps[i].down_rate = down[i];
    ps[0].snubbed = true;
    ps[1].snubbed = true;
    round_at(&c, ps, 6, false, T0);
    assert_false(ps[0].unchoked);
    assert_false(ps[1].unchoked);
    for (int i = 2; i < 6; i++) assert_true(ps[i].unchoked);
    assert_int_equal(the_optimistic(ps, 6), -1);
    /* a snubbed peer still beats an empty slot */
    ps[5].interested = false;
    round_at(&c, ps, 6, false, T0 + 10000);
    assert_int_equal(count_unchoked(ps, 6), 4);
    assert_true(ps[0].unchoked != ps[1].unchoked);
    assert_false(ps[5].unchoked);
    /* no longer snubbed: the fast peer is back */
    ps[0].snubbed = false;
    ps[5].interested = true;
    round_at(&c, ps, 6, false, T0 + 20000);
    assert_true(ps[0].unchoked);
    assert_false(ps[1].unchoked);
}

static void test_fewer_interested_than_slots(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 4, 1, 17);
    btt_choke_peer ps[5];
    init_peers(ps, 5);
    ps[3].interested = false;
    ps[4].interested = false;
    /* no rates at all yet */
    round_at(&c, ps, 5, false, T0);
    for (int i = 0; i < 3; i++) assert_true(ps[i].unchoked);
    assert_false(ps[3].unchoked);
    assert_false(ps[4].unchoked);
    /* exactly as many as the slots */
    ps[3].interested = true;
    round_at(&c, ps, 5, true, T0 + 10000);
    for (int i = 0; i < 4; i++) assert_true(ps[i].unchoked);
    assert_int_equal(count_unchoked(ps, 5), 4);
    /* one peer */
    btt_choke_peer one;
    init_peers(&one, 1);
    round_at(&c, &one, 1, false, T0 + 20000);
    assert_true(one.unchoked);
}

/* The optimistic slot goes to the interested choked peer that has waited longest and stays
 * there until the 30 s rotation; then it moves on to the one that has waited longest since. */
static void test_optimistic_rotation(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 4, 1, 19);
    btt_choke_peer ps[8];
    init_peers(ps, 8);
    /* 0-3 fast (regular slots), 4-7 slow, choked since different times */
    for (int i = 0; i < 4; i++) ps[i].down_rate = 10000 + (uint64_t)i;
    const uint64_t since[8] = {0, 0, 0, 0, T0 - 5000, T0 - 40000, T0 - 20000, T0 - 30000};
    for (int i = 4; i < 8; i++) {
        ps[i].down_rate = 10;
        ps[i].choked_since_ms = since[i];
    }
    uint64_t t = T0;
    round_at(&c, ps, 8, false, t);
    assert_int_equal(the_optimistic(ps, 8), 5); /* waited longest: since T0 - 40000 */
    assert_true(ps[5].unchoked);
    for (int i = 0; i < 4; i++) assert_true(ps[i].unchoked);
    assert_int_equal(count_unchoked(ps, 8), 5);

    /* it stays at 10 s and 20 s, even when a peer shows up that has waited longer, even with
     * forced rounds in between */
    ps[6].choked_since_ms = 1;
    for (uint64_t dt = 5000; dt < 30000; dt += 5000) {
        round_at(&c, ps, 8, false, t + dt);
        if (the_optimistic(ps, 8) != 5) {
            print_error("at +%llu ms the optimistic peer moved to %d before the 30 s rotation\n",
                        (unsigned long long)dt, the_optimistic(ps, 8));
            fail();
        }
        assert_int_equal(count_unchoked(ps, 8), 5);
    }

    /* 30 s: rotation. Peer 5 has been unchoked for 30 s; the longest waiting choked peer is
     * 6 (since 1 ms), then 7 (T0 - 30000), then 4. */
    t += 30000;
    round_at(&c, ps, 8, false, t);
    int opt = the_optimistic(ps, 8);
    if (opt != 6) {
        print_error("after the 30 s rotation the optimistic peer is %d, expected 6 (choked since 1 ms)\n", opt);
        fail();
    }
    assert_false(ps[5].unchoked);
    assert_int_equal(ps[5].choked_since_ms, t);

    /* next rotation: 6 has had its turn, 7 has waited longest now */
    for (uint64_t dt = 10000; dt < 30000; dt += 10000) {
        round_at(&c, ps, 8, false, t + dt);
        assert_int_equal(the_optimistic(ps, 8), 6);
    }
    t += 30000;
    round_at(&c, ps, 8, false, t);
    opt = the_optimistic(ps, 8);
    if (opt != 7) {
        print_error("second rotation: optimistic peer is %d, expected 7 (the old optimistic peer 6 must not be "
                    "picked again: its choked_since_ms %llu predates its optimistic unchoke)\n",
                    opt, (unsigned long long)ps[opt < 0 ? 0 : opt].choked_since_ms);
        fail();
    }
    /* and around: 4, then 5 */
    t += 30000;
    round_at(&c, ps, 8, false, t);
    assert_int_equal(the_optimistic(ps, 8), 4);
    t += 30000;
    round_at(&c, ps, 8, false, t);
    assert_int_equal(the_optimistic(ps, 8), 5);
}

/* Before rotation, an optimistic peer that loses interest gives its slot away at once. */
static void test_optimistic_lost_interest(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 2, 1, 23);
    btt_choke_peer ps[5];
    init_peers(ps, 5);
    ps[0].down_rate = 1000;
    ps[1].down_rate = 900;
    ps[2].choked_since_ms = 10;
    ps[3].choked_since_ms = 20;
    ps[4].choked_since_ms = 30;
    round_at(&c, ps, 5, false, T0);
    assert_int_equal(the_optimistic(ps, 5), 2);
    ps[2].interested = false;
    round_at(&c, ps, 5, false, T0 + 10000);
    assert_false(ps[2].unchoked);
    assert_false(ps[2].optimistic);
    assert_int_equal(the_optimistic(ps, 5), 3);
    /* the new optimistic peer keeps the slot until the rotation (at T0 + 30 s) */
    round_at(&c, ps, 5, false, T0 + 20000);
    assert_int_equal(the_optimistic(ps, 5), 3);
    /* an optimistic peer that becomes the fastest still does not take two slots */
    ps[3].down_rate = 5000;
    round_at(&c, ps, 5, false, T0 + 25000);
    assert_int_equal(count_unchoked(ps, 5), 3);
}

/* Several optimistic slots, and the regular/optimistic split is respected. */
static void test_multiple_optimistic(void **state)
{
    btt_choker c;
    btt_choker_init(&c, &btt_choke_tit_for_tat, 3, 2, 29);
    btt_choke_peer ps[10];
    init_peers(ps, 10);
    for (int i = 0; i < 10; i++) ps[i].down_rate = 100 * (uint64_t)(10 - i); /* 0 fastest */
    ps[9].choked_since_ms = 5;
    ps[8].choked_since_ms = 6;
    round_at(&c, ps, 10, false, T0);
    for (int i = 0; i < 3; i++) {
        assert_true(ps[i].unchoked);
        assert_false(ps[i].optimistic);
    }
    assert_true(ps[9].optimistic);
    assert_true(ps[8].optimistic);
    assert_int_equal(count_unchoked(ps, 10), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_schedule),
        cmocka_unit_test(test_leeching_by_download_rate),
        cmocka_unit_test(test_seeding_by_upload_rate),
        cmocka_unit_test(test_uninterested_stay_choked),
        cmocka_unit_test(test_snubbed_lose),
        cmocka_unit_test(test_fewer_interested_than_slots),
        cmocka_unit_test(test_optimistic_rotation),
        cmocka_unit_test(test_optimistic_lost_interest),
        cmocka_unit_test(test_multiple_optimistic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
