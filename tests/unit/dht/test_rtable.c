/* Unit tests for the routing table: buckets split only around our id, full far buckets keep
 * newcomers as replacements, bad nodes are replaced, node states follow BEP 5's timing,
 * conflicting ids/addresses are refused, closest() orders by XOR distance, pings and bucket
 * refreshes are scheduled, and the saved form loads back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/dht.h"

#define T0 1000000ull
#define MIN (60ull * 1000)

static const uint8_t zero_id[20];

/* An id with the given first byte and a distinguishing last byte. */
static void mkid(uint8_t *id, uint8_t first, uint8_t last)
{
    memset(id, 0, 20);
    id[0] = first;
    id[19] = last;
}

static btt_addr mkaddr(uint32_t n)
{
    btt_addr a;
    memset(&a, 0, sizeof a);
    a.family = 4;
    a.ip[0] = 10;
    a.ip[1] = (uint8_t)(n >> 16);
    a.ip[2] = (uint8_t)(n >> 8);
    a.ip[3] = (uint8_t)n;
    a.port = 6881;
    return a;
}

static void test_ids(void **state)
{
    uint8_t a[20], b[20];
    mkid(a, 0x80, 0);
    assert_int_equal(btt_dht_id_common_bits(zero_id, a), 0);
    mkid(a, 0x01, 0);
    assert_int_equal(btt_dht_id_common_bits(zero_id, a), 7);
    mkid(a, 0, 1);
    assert_int_equal(btt_dht_id_common_bits(zero_id, a), 159);
    assert_int_equal(btt_dht_id_common_bits(a, a), 160);
    mkid(a, 0x10, 0);
    mkid(b, 0x20, 0);
    assert_true(btt_dht_id_cmp_distance(zero_id, a, b) < 0);
    assert_true(btt_dht_id_cmp_distance(zero_id, b, a) > 0);
    assert_int_equal(btt_dht_id_cmp_distance(zero_id, a, a), 0);
    /* XOR distance: from 0x30.., 0x20.. (xor 0x10) is closer than 0x10.. (xor 0x20) */
    uint8_t t[20];
    mkid(t, 0x30, 0);
    assert_true(btt_dht_id_cmp_distance(t, b, a) < 0);
}

static void test_split_and_replacements(void **state)
{
    btt_dht_rtable *rt = btt_dht_rtable_new(zero_id, T0);
    assert_non_null(rt);
    uint8_t id[20];
    /* 8 far nodes (first bit 1): one bucket, full */
    for (int i = 0; i < 8; i++) {
        mkid(id, (uint8_t)(0x80 | i), 0);
        btt_addr a = mkaddr((uint32_t)i);
        assert_int_equal(btt_dht_rtable_heard(rt, id, &a, BTT_DHT_HEARD_REPLY, T0), BTT_DHT_INS_ADDED);
    }
    btt_dht_rtable_info info;
    btt_dht_rtable_get_info(rt, T0, &info);
    assert_int_equal(info.buckets, 1);
    assert_int_equal(info.nodes, 8);
    assert_int_equal(info.good, 8);
    /* a 9th far node: the bucket holds our id, so it splits; all 8 stay in the far half, so
     * the newcomer becomes a replacement */
    mkid(id, 0x90, 1);
    btt_addr a9 = mkaddr(9);
    assert_int_equal(btt_dht_rtable_heard(rt, id, &a9, BTT_DHT_HEARD_REPLY, T0), BTT_DHT_INS_REPLACEMENT);
    btt_dht_rtable_get_info(rt, T0, &info);
    assert_int_equal(info.buckets, 2);
    assert_int_equal(info.nodes, 8);
    assert_int_equal(info.replacements, 1);
    assert_null(btt_dht_rtable_find(rt, id));

    /* near nodes keep splitting the bucket with our id: ids 0x40.., 0x20.., 0x10.. ... */
    for (int bit = 1; bit < 8; bit++) {
        for (int j = 0; j < 8; j++) {
            mkid(id, (uint8_t)(0x80 >> bit), (uint8_t)(j + 1));
            btt_addr a = mkaddr((uint32_t)(100 + bit * 10 + j));
            btt_dht_ins r = btt_dht_rtable_heard(rt, id, &a, BTT_DHT_HEARD_REPLY, T0);
            assert_int_equal(r, BTT_DHT_INS_ADDED);
        }
    }
    btt_dht_rtable_get_info(rt, T0, &info);
    assert_int_equal(info.nodes, 64);
    assert_true(info.buckets >= 8);
    /* each bucket i < last holds ids sharing exactly i bits with us */
    for (size_t i = 0; i + 1 < info.buckets; i++) {
        const btt_dht_rnode *nodes;
        size_t n = btt_dht_rtable_bucket(rt, i, &nodes);
        for (size_t j = 0; j < n; j++) assert_int_equal(btt_dht_id_common_bits(zero_id, nodes[j].id), i);
    }
    /* updating a node in place */
    mkid(id, 0x80, 0);
    btt_addr a0 = mkaddr(0);
    assert_int_equal(btt_dht_rtable_heard(rt, id, &a0, BTT_DHT_HEARD_QUERY, T0 + 5), BTT_DHT_INS_UPDATED);
    assert_int_equal(btt_dht_rtable_find(rt, id)->last_query_ms, T0 + 5);
    btt_dht_rtable_free(rt);
}

static void test_bad_nodes_replaced(void **state)
{
    btt_dht_rtable *rt = btt_dht_rtable_new(zero_id, T0);
    uint8_t id[20], nid[20];
    for (int i = 0; i < 8; i++) {
        mkid(id, (uint8_t)(0x80 | i), 0);
        btt_addr a = mkaddr((uint32_t)i);
        (void)btt_dht_rtable_heard(rt, id, &a, BTT_DHT_HEARD_REPLY, T0);
    }
    mkid(nid, 0xf0, 7);
    btt_addr an = mkaddr(50);
    assert_int_equal(btt_dht_rtable_heard(rt, nid, &an, BTT_DHT_HEARD_REPLY, T0), BTT_DHT_INS_REPLACEMENT);
    /* node 3 fails once: still there (questionable is not bad); twice: bad, and the
     * replacement takes its place */
    mkid(id, 0x83, 0);
    btt_addr a3 = mkaddr(3);
    btt_dht_rtable_failed(rt, id, &a3);
    assert_non_null(btt_dht_rtable_find(rt, id));
    btt_addr wrong = mkaddr(77);
    btt_dht_rtable_failed(rt, id, &wrong); /* a failure reported for another address: ignored */
    assert_int_equal(btt_dht_rtable_find(rt, id)->fails, 1);
    btt_dht_rtable_failed(rt, id, &a3);
    assert_null(btt_dht_rtable_find(rt, id));
    assert_non_null(btt_dht_rtable_find(rt, nid));

    /* without replacements a bad node stays until a newcomer replaces it */
    mkid(id, 0x84, 0);
    btt_addr a4 = mkaddr(4);
    btt_dht_rtable_failed(rt, id, &a4);
    btt_dht_rtable_failed(rt, id, &a4);
    assert_int_equal(btt_dht_rnode_state(btt_dht_rtable_find(rt, id), T0), BTT_DHT_BAD);
    btt_dht_node_info out[16];
    assert_int_equal(btt_dht_rtable_closest(rt, zero_id, true, T0, out, 16), 7); /* bad ones never */
    mkid(nid, 0xf1, 8);
    btt_addr an2 = mkaddr(51);
    assert_int_equal(btt_dht_rtable_heard(rt, nid, &an2, BTT_DHT_HEARD_REPLY, T0), BTT_DHT_INS_ADDED);
    assert_null(btt_dht_rtable_find(rt, id));
    /* a reply resets the failure count */
    mkid(id, 0x85, 0);
    btt_addr a5 = mkaddr(5);
    btt_dht_rtable_failed(rt, id, &a5);
    (void)btt_dht_rtable_heard(rt, id, &a5, BTT_DHT_HEARD_REPLY, T0 + 1);
    assert_int_equal(btt_dht_rtable_find(rt, id)->fails, 0);
    btt_dht_rtable_free(rt);
}

static void test_states(void **state)
{
    btt_dht_rtable *rt = btt_dht_rtable_new(zero_id, T0);
    uint8_t id[20];
    mkid(id, 0x42, 0);
    btt_addr a = mkaddr(1);
    /* a node that only queried us is questionable until it answers */
    assert_int_equal(btt_dht_rtable_heard(rt, id, &a, BTT_DHT_HEARD_QUERY, T0), BTT_DHT_INS_ADDED);
    assert_int_equal(btt_dht_rnode_state(btt_dht_rtable_find(rt, id), T0), BTT_DHT_QUESTIONABLE);
    btt_dht_node_info out[4];
    assert_int_equal(btt_dht_rtable_closest(rt, id, false, T0, out, 4), 0);
    assert_int_equal(btt_dht_rtable_closest(rt, id, true, T0, out, 4), 1);
    (void)btt_dht_rtable_heard(rt, id, &a, BTT_DHT_HEARD_REPLY, T0 + 1);
    assert_int_equal(btt_dht_rnode_state(btt_dht_rtable_find(rt, id), T0 + 1), BTT_DHT_GOOD);
    assert_int_equal(btt_dht_rnode_state(btt_dht_rtable_find(rt, id), T0 + 1 + 15 * MIN - 1), BTT_DHT_GOOD);
    assert_int_equal(btt_dht_rnode_state(btt_dht_rtable_find(rt, id), T0 + 1 + 15 * MIN), BTT_DHT_QUESTIONABLE);
    /* "ever responded ... and has sent us a query within the last 15 minutes" */
    (void)btt_dht_rtable_heard(rt, id, &a, BTT_DHT_HEARD_QUERY, T0 + 20 * MIN);
    assert_int_equal(btt_dht_rnode_state(btt_dht_rtable_find(rt, id), T0 + 20 * MIN), BTT_DHT_GOOD);
    assert_int_equal(btt_dht_rnode_state(btt_dht_rtable_find(rt, id), T0 + 35 * MIN), BTT_DHT_QUESTIONABLE);

    /* pings: a questionable node once per retry interval */
    btt_dht_node_info ni;
    assert_true(btt_dht_rtable_next_ping(rt, T0 + 35 * MIN, MIN, &ni));
    assert_memory_equal(ni.id, id, 20);
    assert_false(btt_dht_rtable_next_ping(rt, T0 + 35 * MIN + 1, MIN, &ni));
    assert_true(btt_dht_rtable_next_ping(rt, T0 + 36 * MIN, MIN, &ni));
    btt_dht_rtable_free(rt);
}

static void test_conflicts(void **state)
{
    btt_dht_rtable *rt = btt_dht_rtable_new(zero_id, T0);
    uint8_t id[20], id2[20];
    mkid(id, 0x42, 0);
    mkid(id2, 0x43, 0);
    btt_addr a = mkaddr(1), b = mkaddr(2);
    assert_int_equal(btt_dht_rtable_heard(rt, id, &a, BTT_DHT_HEARD_REPLY, T0), BTT_DHT_INS_ADDED);
    /* the same id from elsewhere, the same address under another id, our own id, port 0 */
    assert_int_equal(btt_dht_rtable_heard(rt, id, &b, BTT_DHT_HEARD_REPLY, T0), BTT_DHT_INS_REJECTED);
    assert_int_equal(btt_dht_rtable_heard(rt, id2, &a, BTT_DHT_HEARD_REPLY, T0), BTT_DHT_INS_REJECTED);
    assert_int_equal(btt_dht_rtable_heard(rt, zero_id, &b, BTT_DHT_HEARD_REPLY, T0), BTT_DHT_INS_REJECTED);
    btt_addr p0 = b;
    p0.port = 0;
    assert_int_equal(btt_dht_rtable_heard(rt, id2, &p0, BTT_DHT_HEARD_REPLY, T0), BTT_DHT_INS_REJECTED);
    assert_true(btt_addr_eq(&btt_dht_rtable_find(rt, id)->addr, &a));
    btt_dht_rtable_info info;
    btt_dht_rtable_get_info(rt, T0, &info);
    assert_int_equal(info.nodes, 1);
    btt_dht_rtable_remove(rt, id);
    assert_null(btt_dht_rtable_find(rt, id));
    btt_dht_rtable_free(rt);
}

static uint64_t rng = 12345;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void rand_id(uint8_t *id)
{
    for (int i = 0; i < 20; i += 4) {
        uint32_t r = (uint32_t)next_rand();
        memcpy(id + i, &r, 4);
    }
}

static void test_closest_and_save_load(void **state)
{
    uint8_t self[20];
    rand_id(self);
    btt_dht_rtable *rt = btt_dht_rtable_new(self, T0);
    uint8_t ids[300][20];
    for (int i = 0; i < 300; i++) {
        rand_id(ids[i]);
        btt_addr a = mkaddr((uint32_t)i + 1);
        (void)btt_dht_rtable_heard(rt, ids[i], &a, BTT_DHT_HEARD_REPLY, T0);
    }
    btt_dht_rtable_info info;
    btt_dht_rtable_get_info(rt, T0, &info);
    assert_true(info.nodes >= 40 && info.nodes <= 300);
    /* closest: sorted, and nothing in the table is closer than the last returned */
    for (int t = 0; t < 20; t++) {
        uint8_t target[20];
        rand_id(target);
        btt_dht_node_info out[8];
        size_t n = btt_dht_rtable_closest(rt, target, false, T0, out, 8);
        assert_int_equal(n, 8);
        for (size_t i = 1; i < n; i++) assert_true(btt_dht_id_cmp_distance(target, out[i - 1].id, out[i].id) < 0);
        for (size_t b = 0;; b++) {
            const btt_dht_rnode *nodes;
            size_t k = btt_dht_rtable_bucket(rt, b, &nodes);
            if (!k && !nodes) break;
            for (size_t j = 0; j < k; j++) {
                bool listed = false;
                for (size_t i = 0; i < n; i++) listed |= memcmp(out[i].id, nodes[j].id, 20) == 0;
                if (!listed) assert_true(btt_dht_id_cmp_distance(target, nodes[j].id, out[n - 1].id) > 0);
            }
        }
    }

    /* save, load into a fresh table: the same nodes, now questionable */
    btt_buf b;
    btt_buf_init(&b, 1u << 20);
    assert_int_equal(btt_dht_rtable_save(rt, T0, &b), BTT_OK);
    assert_int_equal(b.len, info.nodes * 26);
    btt_dht_rtable *rt2 = btt_dht_rtable_new(self, T0 + 5);
    assert_int_equal(btt_dht_rtable_load(rt2, 4, b.data, b.len, T0 + 5), BTT_OK);
    btt_dht_rtable_info info2;
    btt_dht_rtable_get_info(rt2, T0 + 5, &info2);
    assert_int_equal(info2.nodes, info.nodes);
    assert_int_equal(info2.questionable, info.nodes);
    assert_int_equal(info2.buckets, info.buckets);
    for (size_t bi = 0;; bi++) {
        const btt_dht_rnode *nodes;
        size_t k = btt_dht_rtable_bucket(rt, bi, &nodes);
        if (!k && !nodes) break;
        for (size_t j = 0; j < k; j++) {
            const btt_dht_rnode *r = btt_dht_rtable_find(rt2, nodes[j].id);
            assert_non_null(r);
            assert_true(btt_addr_eq(&r->addr, &nodes[j].addr));
        }
    }
    btt_buf b2;
    btt_buf_init(&b2, 1u << 20);
    assert_int_equal(btt_dht_rtable_save(rt2, T0 + 5, &b2), BTT_OK);
    assert_int_equal(b2.len, b.len);
    assert_int_equal(btt_dht_rtable_load(rt2, 4, b.data, b.len - 1, T0), BTT_EPROTO);
    btt_buf_free(&b);
    btt_buf_free(&b2);
    btt_dht_rtable_free(rt2);
    btt_dht_rtable_free(rt);
}

static void test_refresh(void **state)
{
    uint8_t self[20];
    rand_id(self);
    btt_dht_rtable *rt = btt_dht_rtable_new(self, T0);
    for (int i = 0; i < 200; i++) {
        uint8_t id[20];
        rand_id(id);
        btt_addr a = mkaddr((uint32_t)i + 1);
        (void)btt_dht_rtable_heard(rt, id, &a, BTT_DHT_HEARD_REPLY, T0);
    }
    btt_dht_rtable_info info;
    btt_dht_rtable_get_info(rt, T0, &info);
    uint8_t target[20];
    assert_false(btt_dht_rtable_refresh_target(rt, T0 + 15 * MIN - 1, 1, target));
    /* after 15 minutes every bucket is due once, with a target in its own range */
    size_t due = 0;
    while (btt_dht_rtable_refresh_target(rt, T0 + 15 * MIN, due + 7, target)) {
        unsigned cb = btt_dht_id_common_bits(self, target);
        if (due + 1 < info.buckets) assert_int_equal(cb, due);
        else assert_true(cb >= due);
        due++;
    }
    assert_int_equal(due, info.buckets);
    btt_dht_rtable_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_split_and_replacements),
        cmocka_unit_test(test_bad_nodes_replaced),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_closest_and_save_load),
        cmocka_unit_test(test_refresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
