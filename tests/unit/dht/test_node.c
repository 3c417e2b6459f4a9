/* Unit tests for the DHT node: tokens across secret rotation, announce storage and its caps,
 * BEP 43 read-only nodes, per-address rate limits, caps on pending queries, hostile
 * datagrams that must change nothing, and simulated networks of core nodes (explicit clock,
 * datagrams through a lossy queue with latency) where a get_peers lookup finds a peer that
 * another node announced, also from a node restarted from its saved routing table.
 *
 * The IPv4 network can be varied from the environment: DHT_SIM_N (nodes, default 200),
 * DHT_SIM_LOSS (percent, 5), DHT_SIM_SEED, DHT_SIM_SPACING (ms between joins, 100);
 * DHT_SIM_DEBUG=1 prints every table, how many of its 8 nearest nodes each node knows, and
 * 20 find_node lookups of existing ids with their outcome. */
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

static btt_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    btt_addr x;
    memset(&x, 0, sizeof x);
    x.family = 4;
    x.ip[0] = a;
    x.ip[1] = b;
    x.ip[2] = c;
    x.ip[3] = d;
    x.port = port;
    return x;
}

static btt_dht *mknode(uint8_t idbyte, uint64_t seed, void (*tweak)(btt_dht_config *))
{
    btt_dht_config c;
    btt_dht_config_default(&c);
    memset(c.id, idbyte, 20);
    c.seed = seed;
    if (tweak) tweak(&c);
    btt_dht *d;
    btt_error err;
    assert_int_equal(btt_dht_new(&c, T0, &d, &err), BTT_OK);
    return d;
}

/* A query from a test harness peer. */
static size_t mkquery(uint8_t *out, btt_krpc_method meth, const char *tid, uint8_t idbyte, uint8_t target_byte,
                      uint16_t port, const uint8_t *token, size_t toklen, bool ro)
{
    btt_krpc_msg q;
    memset(&q, 0, sizeof q);
    q.kind = BTT_KRPC_QUERY;
    q.method = meth;
    q.tid_len = (uint8_t)strlen(tid);
    memcpy(q.tid, tid, q.tid_len);
    memset(q.id, idbyte, 20);
    memset(q.target, target_byte, 20);
    q.port = port;
    q.ro = ro;
    if (token) {
        q.has_token = true;
        q.token_len = (uint8_t)toklen;
        memcpy(q.token, token, toklen);
    }
    btt_buf b;
    btt_buf_init(&b, 2048);
    assert_int_equal(btt_krpc_encode(&b, &q), BTT_OK);
    memcpy(out, b.data, b.len);
    size_t n = b.len;
    btt_buf_free(&b);
    return n;
}

/* The next datagram the node sends, decoded; false if none. */
static bool pop_msg(btt_dht *d, btt_krpc_msg *m, btt_addr *to)
{
    btt_dht_packet p;
    if (!btt_dht_pop_send(d, &p)) return false;
    assert_int_equal(btt_krpc_decode(p.data, p.len, m, NULL), BTT_OK);
    if (to) *to = p.to;
    return true;
}

static btt_krpc_msg msg; /* large: kept off the stack */

/* A tick, and the node's own queries it sent (pings of questionable nodes) thrown away. */
static void tick_drain(btt_dht *d, uint64_t now)
{
    btt_dht_tick(d, now);
    btt_dht_packet p;
    while (btt_dht_pop_send(d, &p)) {
        assert_int_equal(btt_krpc_decode(p.data, p.len, &msg, NULL), BTT_OK);
        assert_int_equal(msg.kind, BTT_KRPC_QUERY);
    }
}

/* ------------------------------------------------------------------ tokens and storage */

static bool get_token(btt_dht *d, const btt_addr *from, uint8_t ih, uint64_t now, uint8_t *tok, size_t *toklen)
{
    uint8_t buf[512];
    size_t n = mkquery(buf, BTT_KRPC_GET_PEERS, "gp", 0x77, ih, 0, NULL, 0, false);
    btt_dht_receive(d, buf, n, from, now);
    btt_addr to;
    if (!pop_msg(d, &msg, &to)) return false;
    assert_true(btt_addr_eq(&to, from));
    assert_int_equal(msg.kind, BTT_KRPC_RESPONSE);
    assert_true(msg.has_token);
    /* BEP 42: the reply tells the querier its address */
    assert_true(msg.has_ip);
    assert_true(btt_addr_eq(&msg.ip, from));
    memcpy(tok, msg.token, msg.token_len);
    *toklen = msg.token_len;
    return true;
}

/* Announces; returns the kind of the answer (response or error code). */
static int announce(btt_dht *d, const btt_addr *from, uint8_t ih, uint16_t port, const uint8_t *tok, size_t toklen,
                    uint64_t now)
{
    uint8_t buf[512];
    size_t n = mkquery(buf, BTT_KRPC_ANNOUNCE_PEER, "an", 0x77, ih, port, tok, toklen, false);
    btt_dht_receive(d, buf, n, from, now);
    assert_true(pop_msg(d, &msg, NULL));
    assert_memory_equal(msg.tid, "an", 2);
    return msg.kind == BTT_KRPC_RESPONSE ? 0 : (int)msg.error_code;
}

static void test_tokens_rotation(void **state)
{
    btt_dht *d = mknode(0x11, 1, NULL);
    btt_addr q = v4(10, 0, 0, 2, 5000), other = v4(10, 0, 0, 3, 5000);
    uint8_t tok[32], tok2[32];
    size_t tl, tl2;
    assert_true(get_token(d, &q, 0xaa, T0, tok, &tl));
    assert_int_equal(announce(d, &q, 0xaa, 7000, tok, tl, T0 + 1), 0);
    /* the token is bound to the IP: another address cannot use it */
    assert_int_equal(announce(d, &other, 0xaa, 7000, tok, tl, T0 + 2), BTT_KRPC_ERR_PROTOCOL);
    /* a forged token */
    uint8_t forged[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(announce(d, &q, 0xaa, 7000, forged, 8, T0 + 3), BTT_KRPC_ERR_PROTOCOL);

    /* the stored peer comes back to others, with the announced port */
    uint8_t buf[512];
    size_t n = mkquery(buf, BTT_KRPC_GET_PEERS, "g2", 0x78, 0xaa, 0, NULL, 0, false);
    btt_dht_receive(d, buf, n, &other, T0 + 4);
    assert_true(pop_msg(d, &msg, NULL));
    assert_int_equal(msg.num_values, 1);
    btt_addr want = q;
    want.port = 7000;
    assert_true(btt_addr_eq(&msg.values[0], &want));

    /* one rotation (5 minutes): the old token is still good */
    tick_drain(d, T0 + 5 * MIN + 1);
    assert_int_equal(announce(d, &q, 0xaa, 7000, tok, tl, T0 + 5 * MIN + 2), 0);
    assert_true(get_token(d, &q, 0xaa, T0 + 5 * MIN + 3, tok2, &tl2));
    assert_false(tl == tl2 && memcmp(tok, tok2, tl) == 0);
    /* two rotations: the first token is dead, the second still good */
    tick_drain(d, T0 + 10 * MIN + 2);
    assert_int_equal(announce(d, &q, 0xaa, 7000, tok, tl, T0 + 10 * MIN + 3), BTT_KRPC_ERR_PROTOCOL);
    assert_int_equal(announce(d, &q, 0xaa, 7000, tok2, tl2, T0 + 10 * MIN + 4), 0);

    btt_dht_stats s;
    btt_dht_get_stats(d, &s);
    assert_int_equal(s.announces_stored, 3);
    assert_int_equal(s.announces_bad_token, 3);
    assert_int_equal(s.torrents, 1);
    assert_int_equal(s.peers_stored, 1);

    /* stored peers expire after 30 minutes without a new announce */
    tick_drain(d, T0 + 10 * MIN + 4 + 30 * MIN + 60001);
    btt_dht_get_stats(d, &s);
    assert_int_equal(s.peers_stored, 0);
    assert_int_equal(s.torrents, 0);
    btt_dht_free(d);
}

static void tweak_caps(btt_dht_config *c)
{
    c->max_torrents = 4;
    c->max_peers_per_torrent = 3;
    c->max_peers = 10;
}

static void test_storage_caps(void **state)
{
    btt_dht *d = mknode(0x11, 2, tweak_caps);
    uint8_t tok[32];
    size_t tl;
    btt_addr q = v4(10, 0, 0, 2, 5000);
    assert_true(get_token(d, &q, 1, T0, tok, &tl));
    int refused = 0;
    for (uint8_t ih = 1; ih <= 6; ih++) refused += announce(d, &q, ih, 7000, tok, tl, T0) == BTT_KRPC_ERR_SERVER;
    assert_int_equal(refused, 2);
    /* five peers for one torrent: three kept */
    for (uint8_t i = 0; i < 5; i++) {
        btt_addr p = v4(10, 0, 1, i, 5000);
        assert_true(get_token(d, &p, 1, T0 + i, tok, &tl));
        assert_int_equal(announce(d, &p, 1, 7000, tok, tl, T0 + i), 0);
    }
    btt_dht_stats s;
    btt_dht_get_stats(d, &s);
    assert_int_equal(s.torrents, 4);
    assert_int_equal(s.peers_stored, 6); /* 3 in torrent 1, one in each of 2..4 */
    assert_int_equal(s.announces_dropped, 2);
    btt_dht_free(d);
}

/* ------------------------------------------------------------------ BEP 43, rate limits, caps */

static void tweak_ro(btt_dht_config *c)
{
    c->read_only = true;
}

static void test_read_only(void **state)
{
    btt_dht *d = mknode(0x11, 3, NULL);
    uint8_t buf[512];
    btt_addr x = v4(10, 0, 0, 5, 6881), y = v4(10, 0, 0, 6, 6881);
    size_t n = mkquery(buf, BTT_KRPC_PING, "p1", 0x55, 0, 0, NULL, 0, true);
    btt_dht_receive(d, buf, n, &x, T0);
    assert_true(pop_msg(d, &msg, NULL)); /* answered */
    assert_int_equal(msg.kind, BTT_KRPC_RESPONSE);
    uint8_t xid[20], yid[20];
    memset(xid, 0x55, 20);
    memset(yid, 0x66, 20);
    assert_null(btt_dht_rtable_find(btt_dht_table(d, 4), xid)); /* but never in our table */
    n = mkquery(buf, BTT_KRPC_PING, "p2", 0x66, 0, 0, NULL, 0, false);
    btt_dht_receive(d, buf, n, &y, T0);
    assert_true(pop_msg(d, &msg, NULL));
    assert_non_null(btt_dht_rtable_find(btt_dht_table(d, 4), yid));
    btt_dht_free(d);

    /* a read-only node answers nothing and says "ro" in its queries */
    d = mknode(0x12, 4, tweak_ro);
    btt_dht_receive(d, buf, n, &y, T0);
    assert_false(pop_msg(d, &msg, NULL));
    assert_int_equal(btt_dht_add_node(d, &x, T0), BTT_OK);
    assert_true(pop_msg(d, &msg, NULL));
    assert_int_equal(msg.kind, BTT_KRPC_QUERY);
    assert_true(msg.ro);
    btt_dht_free(d);
}

static void test_rate_limit(void **state)
{
    btt_dht *d = mknode(0x11, 5, NULL);
    uint8_t buf[512];
    size_t n = mkquery(buf, BTT_KRPC_PING, "pp", 0x55, 0, 0, NULL, 0, false);
    btt_addr x = v4(10, 0, 0, 5, 6881);
    int answered = 0;
    for (int i = 0; i < 100; i++) {
        btt_dht_receive(d, buf, n, &x, T0);
        answered += pop_msg(d, &msg, NULL);
    }
    assert_int_equal(answered, 40); /* the burst */
    /* one second later: 20 more */
    answered = 0;
    for (int i = 0; i < 100; i++) {
        btt_dht_receive(d, buf, n, &x, T0 + 1000);
        answered += pop_msg(d, &msg, NULL);
    }
    assert_int_equal(answered, 20);
    /* another port of the same IP shares the limit; on loopback every port has its own */
    btt_addr x2 = x;
    x2.port = 6882;
    btt_dht_receive(d, buf, n, &x2, T0 + 1000);
    assert_false(pop_msg(d, &msg, NULL));
    for (uint16_t p = 1; p <= 300; p++) {
        btt_addr lo = v4(127, 0, 0, 1, p);
        btt_dht_receive(d, buf, n, &lo, T0 + 1000);
        assert_true(pop_msg(d, &msg, NULL));
    }
    btt_dht_stats s;
    btt_dht_get_stats(d, &s);
    assert_int_equal(s.rx_rate_limited, 60 + 80 + 1);
    btt_dht_free(d);
}

static void tweak_pending(btt_dht_config *c)
{
    c->max_pending = 4;
}

static void test_pending_cap(void **state)
{
    btt_dht *d = mknode(0x11, 6, tweak_pending);
    int ok = 0;
    for (uint8_t i = 1; i <= 10; i++) {
        btt_addr a = v4(10, 0, 0, i, 6881);
        ok += btt_dht_add_node(d, &a, T0) == BTT_OK;
    }
    assert_int_equal(ok, 4);
    btt_dht_stats s;
    btt_dht_get_stats(d, &s);
    assert_int_equal(s.pending, 4);
    assert_int_equal(s.pending_full, 6);
    /* timeouts free the slots */
    btt_dht_tick(d, T0 + 5000);
    btt_dht_get_stats(d, &s);
    assert_int_equal(s.pending, 0);
    assert_int_equal(s.timeouts, 4);
    btt_dht_free(d);
}

static void test_unknown_method(void **state)
{
    btt_dht *d = mknode(0x11, 7, NULL);
    static const char put[] = "d1:ad2:id20:abcdefghij0123456789e1:q3:put1:t2:aa1:y1:qe";
    btt_addr x = v4(10, 0, 0, 5, 6881);
    btt_dht_receive(d, (const uint8_t *)put, sizeof put - 1, &x, T0);
    assert_true(pop_msg(d, &msg, NULL));
    assert_int_equal(msg.kind, BTT_KRPC_ERROR);
    assert_int_equal(msg.error_code, BTT_KRPC_ERR_METHOD);
    btt_dht_free(d);
}

/* ------------------------------------------------------------------ hostile input */

static void snapshot(btt_dht *d, btt_buf *b, btt_dht_stats *s)
{
    btt_buf_reset(b);
    assert_int_equal(btt_dht_save(d, T0, b), BTT_OK);
    btt_dht_get_stats(d, s);
}

static void test_hostile_changes_nothing(void **state)
{
    btt_dht *d = mknode(0x11, 8, NULL);
    /* some state: a peer stored, a node in the table, a ping outstanding to p */
    btt_addr q = v4(10, 0, 0, 2, 5000), p = v4(10, 0, 0, 9, 6881), evil = v4(10, 6, 6, 6, 6666);
    uint8_t tok[32];
    size_t tl;
    assert_true(get_token(d, &q, 0xaa, T0, tok, &tl));
    assert_int_equal(announce(d, &q, 0xaa, 7000, tok, tl, T0), 0);
    assert_int_equal(btt_dht_add_node(d, &p, T0), BTT_OK);
    btt_dht_packet ping;
    assert_true(btt_dht_pop_send(d, &ping));
    btt_krpc_msg pm;
    assert_int_equal(btt_krpc_decode(ping.data, ping.len, &pm, NULL), BTT_OK);
    assert_int_equal(pm.tid_len, 4);

    btt_buf before, after;
    btt_buf_init(&before, 1u << 20);
    btt_buf_init(&after, 1u << 20);
    btt_dht_stats s0, s1;
    snapshot(d, &before, &s0);

    btt_buf h;
    btt_buf_init(&h, 1u << 20);
    size_t count = 0;
#define FEED(from)                                                                                                    \
    do {                                                                                                              \
        btt_dht_receive(d, h.data, h.len, (from), T0 + 10);                                                           \
        btt_dht_packet out_;                                                                                          \
        assert_false(btt_dht_pop_send(d, &out_));                                                                     \
        count++;                                                                                                      \
        btt_buf_reset(&h);                                                                                            \
    } while (0)

    /* every prefix of a valid announce */
    uint8_t buf[512];
    size_t n = mkquery(buf, BTT_KRPC_ANNOUNCE_PEER, "an", 0x77, 0xbb, 7000, tok, tl, false);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(btt_buf_append(&h, buf, k), BTT_OK);
        FEED(&q);
    }
    /* wrong types */
    static const char *junk[] = {
        "d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe",
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token2:xxe"
        "1:q13:announce_peer1:t2:aa1:y1:qe",
        "d1:rd2:id20:abcdefghij01234567895:nodes25:AAAAAAAAAAAAAAAAAAAAAAAAAe1:t4:\x00\x00\x00\x00" "1:y1:re",
        "d1:t2:aa1:y1:q1:ad2:id20:abcdefghij0123456789e1:q4:pinge",
        "\x01\x00\x00\x00garbage that looks like uTP",
        "",
    };
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        assert_int_equal(btt_buf_append(&h, junk[i], strlen(junk[i])), BTT_OK);
        FEED(&q);
    }
    /* huge lists: 129 values, 33 nodes, a 2,040-element list; 5,000 bytes */
    assert_int_equal(btt_buf_printf(&h, "d1:rd2:id20:abcdefghij01234567896:valuesl"), BTT_OK);
    for (int i = 0; i < 129; i++) assert_int_equal(btt_buf_printf(&h, "6:abcdef"), BTT_OK);
    assert_int_equal(btt_buf_printf(&h, "ee1:t4:"), BTT_OK);
    assert_int_equal(btt_buf_append(&h, pm.tid, 4), BTT_OK);
    assert_int_equal(btt_buf_printf(&h, "1:y1:re"), BTT_OK);
    FEED(&p);
    assert_int_equal(btt_buf_printf(&h, "d1:rd2:id20:abcdefghij01234567895:nodes%d:", 33 * 26), BTT_OK);
    for (int i = 0; i < 33 * 26; i++) assert_int_equal(btt_buf_append_byte(&h, 'n'), BTT_OK);
    assert_int_equal(btt_buf_printf(&h, "e1:t4:"), BTT_OK);
    assert_int_equal(btt_buf_append(&h, pm.tid, 4), BTT_OK);
    assert_int_equal(btt_buf_printf(&h, "1:y1:re"), BTT_OK);
    FEED(&p);
    assert_int_equal(btt_buf_printf(&h, "d1:ad2:id20:abcdefghij01234567891:xl"), BTT_OK);
    for (int i = 0; i < 2040; i++) assert_int_equal(btt_buf_printf(&h, "0:"), BTT_OK);
    assert_int_equal(btt_buf_printf(&h, "ee1:q4:ping1:t2:aa1:y1:qe"), BTT_OK);
    FEED(&q);
    for (int i = 0; i < 5000; i++) assert_int_equal(btt_buf_append_byte(&h, 'd'), BTT_OK);
    FEED(&q);

    /* spoofed answers to the outstanding ping: the right tid from the wrong address, a
     * wrong tid from the right address, an error, a tid of another length */
    btt_krpc_msg r;
    memset(&r, 0, sizeof r);
    r.kind = BTT_KRPC_RESPONSE;
    memset(r.id, 0x99, 20);
    r.tid_len = 4;
    memcpy(r.tid, pm.tid, 4);
    r.num_nodes = 1;
    memset(r.nodes[0].id, 0x98, 20);
    r.nodes[0].addr = evil;
    assert_int_equal(btt_krpc_encode(&h, &r), BTT_OK);
    FEED(&evil);
    btt_addr p_other_port = p;
    p_other_port.port++;
    assert_int_equal(btt_krpc_encode(&h, &r), BTT_OK);
    FEED(&p_other_port);
    r.tid[3] ^= 1;
    assert_int_equal(btt_krpc_encode(&h, &r), BTT_OK);
    FEED(&p);
    r.tid[3] ^= 1;
    r.tid_len = 2;
    assert_int_equal(btt_krpc_encode(&h, &r), BTT_OK);
    FEED(&p);
    r.tid_len = 4;
    r.tid[0] = 0xff; /* a slot past the pending table */
    assert_int_equal(btt_krpc_encode(&h, &r), BTT_OK);
    FEED(&p);
    memcpy(r.tid, pm.tid, 4);
    /* an IPv6 sender to an IPv4-only node */
    btt_addr six;
    memset(&six, 0, sizeof six);
    six.family = 6;
    six.ip[15] = 1;
    six.port = 6881;
    assert_int_equal(btt_krpc_encode(&h, &r), BTT_OK);
    FEED(&six);

    snapshot(d, &after, &s1);
    assert_int_equal(after.len, before.len);
    assert_memory_equal(after.data, before.data, before.len);
    assert_int_equal(s1.pending, s0.pending);
    assert_int_equal(s1.torrents, s0.torrents);
    assert_int_equal(s1.peers_stored, s0.peers_stored);
    assert_int_equal(s1.announces_stored, s0.announces_stored);
    assert_int_equal(s1.tx_packets, s0.tx_packets);
    assert_int_equal(s1.rx_packets - s0.rx_packets, count);
    assert_true(s1.rx_malformed - s0.rx_malformed >= n + 4);
    assert_int_equal(s1.rx_oversized - s0.rx_oversized, 4);
    assert_int_equal(s1.rx_unexpected - s0.rx_unexpected, 5);
    assert_int_equal(s1.rx_wrong_family - s0.rx_wrong_family, 1);
    uint8_t evil_id[20];
    memset(evil_id, 0x99, 20);
    assert_null(btt_dht_rtable_find(btt_dht_table(d, 4), evil_id));

    /* the genuine answer is still accepted */
    assert_int_equal(btt_krpc_encode(&h, &r), BTT_OK);
    btt_dht_receive(d, h.data, h.len, &p, T0 + 20);
    assert_non_null(btt_dht_rtable_find(btt_dht_table(d, 4), evil_id));
    btt_dht_get_stats(d, &s1);
    assert_int_equal(s1.pending, 0);
    /* ... once */
    btt_dht_receive(d, h.data, h.len, &p, T0 + 21);
    btt_dht_stats s2;
    btt_dht_get_stats(d, &s2);
    assert_int_equal(s2.rx_unexpected, s1.rx_unexpected + 1);
#undef FEED
    btt_buf_free(&h);
    btt_buf_free(&before);
    btt_buf_free(&after);
    btt_dht_free(d);
}

/* ------------------------------------------------------------------ simulated network */

typedef struct flight {
    uint64_t at;
    uint32_t from, to;
    size_t len;
    uint8_t data[BTT_DHT_MAX_PACKET];
} flight;

typedef struct sim {
    uint8_t family;
    size_t n;
    btt_dht **d;
    btt_dht_config *cfg;
    btt_addr *addr;
    flight *q;
    size_t nq, capq;
    uint64_t now;
    uint64_t rng;
    unsigned loss_pct;
    uint64_t delivered, lost;
    /* the lookup being watched */
    size_t watch_node;
    uint32_t watch_handle;
    bool watch_done;
    bool watch_found;
    btt_addr watch_peer;
    btt_dht_lookup_stats watch_stats;
    size_t watch_nn;
    btt_dht_node_info watch_nodes[2 * BTT_DHT_K];
} sim;

static uint64_t srand64(sim *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static btt_addr sim_addr(uint8_t family, size_t i)
{
    btt_addr a;
    memset(&a, 0, sizeof a);
    a.family = family;
    a.port = 6881;
    if (family == 4) {
        a.ip[0] = 10;
        a.ip[2] = (uint8_t)(i >> 8);
        a.ip[3] = (uint8_t)i;
    } else {
        a.ip[0] = 0xfd;
        a.ip[14] = (uint8_t)(i >> 8);
        a.ip[15] = (uint8_t)i;
    }
    return a;
}

static bool sim_index(const sim *s, const btt_addr *a, uint32_t *out)
{
    if (a->family != s->family || a->port != 6881) return false;
    size_t i = a->family == 4 ? ((size_t)a->ip[2] << 8 | a->ip[3]) : ((size_t)a->ip[14] << 8 | a->ip[15]);
    if (i >= s->n || !btt_addr_eq(a, &s->addr[i])) return false;
    *out = (uint32_t)i;
    return true;
}

static void sim_new_node(sim *s, size_t i)
{
    btt_error err;
    assert_int_equal(btt_dht_new(&s->cfg[i], s->now, &s->d[i], &err), BTT_OK);
}

static void sim_init(sim *s, uint8_t family, size_t n, unsigned loss, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->family = family;
    s->n = n;
    s->rng = seed;
    s->loss_pct = loss;
    s->now = T0;
    s->d = calloc(n, sizeof *s->d);
    s->cfg = calloc(n, sizeof *s->cfg);
    s->addr = calloc(n, sizeof *s->addr);
    for (size_t i = 0; i < n; i++) {
        btt_dht_config_default(&s->cfg[i]);
        s->cfg[i].ipv4 = family == 4;
        s->cfg[i].ipv6 = family == 6;
        for (int k = 0; k < 20; k += 4) {
            uint32_t r = (uint32_t)srand64(s);
            memcpy(s->cfg[i].id + k, &r, 4);
        }
        s->cfg[i].seed = srand64(s);
        s->addr[i] = sim_addr(family, i);
        sim_new_node(s, i);
    }
}

static void sim_free(sim *s)
{
    for (size_t i = 0; i < s->n; i++) btt_dht_free(s->d[i]);
    free(s->d);
    free(s->cfg);
    free(s->addr);
    free(s->q);
}

static void sim_collect(sim *s, size_t i)
{
    btt_dht_packet p;
    while (btt_dht_pop_send(s->d[i], &p)) {
        uint32_t to;
        /* nothing leaves the simulation: a destination outside it is dropped */
        if (!sim_index(s, &p.to, &to)) continue;
        if (s->nq == s->capq) {
            s->capq = s->capq ? s->capq * 2 : 256;
            s->q = realloc(s->q, s->capq * sizeof *s->q);
            assert_non_null(s->q);
        }
        flight *f = &s->q[s->nq++];
        f->at = s->now + 10 + srand64(s) % 60; /* 10..69 ms one way */
        f->from = (uint32_t)i;
        f->to = to;
        f->len = p.len;
        memcpy(f->data, p.data, p.len);
    }
    btt_dht_event e;
    while (btt_dht_pop_event(s->d[i], &e)) {
        if (i != s->watch_node || e.lookup != s->watch_handle) continue;
        if (e.type == BTT_DHT_EV_PEERS) {
            for (size_t k = 0; k < e.num_peers; k++)
                if (btt_addr_eq(&e.peers[k], &s->watch_peer)) s->watch_found = true;
        } else if (e.type == BTT_DHT_EV_DONE) {
            s->watch_done = true;
            s->watch_stats = e.stats;
            s->watch_nn = e.num_nodes;
            memcpy(s->watch_nodes, e.nodes, sizeof e.nodes);
        }
    }
}

/* Advances the clock by ms in 5 ms steps: deliveries, ticks, sends. */
static void sim_run(sim *s, uint64_t ms)
{
    uint64_t end = s->now + ms;
    while (s->now < end) {
        s->now += 5;
        for (size_t k = 0; k < s->nq;) {
            flight *f = &s->q[k];
            if (f->at > s->now) {
                k++;
                continue;
            }
            flight copy = *f;
            s->q[k] = s->q[--s->nq];
            if (srand64(s) % 100 < s->loss_pct || !s->d[copy.to]) {
                s->lost++;
                continue;
            }
            s->delivered++;
            btt_dht_receive(s->d[copy.to], copy.data, copy.len, &s->addr[copy.from], s->now);
            sim_collect(s, copy.to);
        }
        for (size_t i = 0; i < s->n; i++) {
            if (!s->d[i]) continue;
            if (btt_dht_next_tick_ms(s->d[i]) <= s->now) btt_dht_tick(s->d[i], s->now);
            sim_collect(s, i);
        }
    }
}

/* Runs a get_peers lookup from node i to its end; true if it found the watched peer. */
static bool sim_lookup(sim *s, size_t i, const uint8_t ih[20], bool do_announce, uint16_t port)
{
    s->watch_node = i;
    s->watch_done = s->watch_found = false;
    assert_int_equal(btt_dht_get_peers(s->d[i], ih, do_announce, port, false, s->now, &s->watch_handle), BTT_OK);
    sim_collect(s, i);
    for (int k = 0; k < 6000 && !s->watch_done; k++) sim_run(s, 5);
    assert_true(s->watch_done);
    return s->watch_found;
}

static void sim_join(sim *s, uint64_t spacing_ms)
{
    for (size_t i = 1; i < s->n; i++) {
        /* like a client: a well-known router (node 0) and one node it happened to learn of */
        size_t j = srand64(s) % i;
        btt_addr seeds[2] = {s->addr[0], s->addr[j]};
        assert_int_equal(btt_dht_bootstrap(s->d[i], seeds, j ? 2 : 1, s->now, NULL), BTT_OK);
        sim_collect(s, i);
        sim_run(s, spacing_ms);
    }
}

static void run_network(uint8_t family, size_t n, unsigned loss, uint64_t seed)
{
    sim s;
    sim_init(&s, family, n, loss, seed);
    sim_join(&s, getenv("DHT_SIM_SPACING") ? (uint64_t)atoi(getenv("DHT_SIM_SPACING")) : 100);
    sim_run(&s, 2 * MIN); /* pings confirm the nodes that queried during the joins */

    size_t total = 0, min_nodes = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        btt_dht_rtable_info info;
        btt_dht_rtable_get_info(btt_dht_table(s.d[i], family), s.now, &info);
        total += info.nodes;
        if (info.nodes < min_nodes) min_nodes = info.nodes;
        if (getenv("DHT_SIM_DEBUG")) {
            btt_dht_stats st;
            btt_dht_get_stats(s.d[i], &st);
            printf("node %zu: %zu nodes (%zu good) buckets %zu, tx %llu rx %llu q %llu r %llu unexp %llu to %llu lk %llu/%llu\n", i,
                   info.nodes, info.good, info.buckets, (unsigned long long)st.tx_packets, (unsigned long long)st.rx_packets,
                   (unsigned long long)st.rx_queries, (unsigned long long)st.rx_responses,
                   (unsigned long long)st.rx_unexpected, (unsigned long long)st.timeouts,
                   (unsigned long long)st.lookups_started, (unsigned long long)st.lookups_done);
        }
    }
    if (getenv("DHT_SIM_DEBUG")) {
        /* how many of its 8 nearest nodes each node knows */
        size_t hist[9] = {0};
        for (size_t i = 0; i < n; i++) {
            size_t near[8], nn = 0;
            for (size_t j = 0; j < n; j++) {
                if (j == i) continue;
                size_t pos = nn;
                while (pos > 0 && btt_dht_id_cmp_distance(s.cfg[i].id, s.cfg[j].id, s.cfg[near[pos - 1]].id) < 0) pos--;
                if (pos >= 8) continue;
                size_t keep = nn < 8 ? nn : 7;
                memmove(&near[pos + 1], &near[pos], (keep - pos) * sizeof near[0]);
                near[pos] = j;
                if (nn < 8) nn++;
            }
            int k = 0;
            for (size_t j = 0; j < nn; j++) k += btt_dht_rtable_find(btt_dht_table(s.d[i], family), s.cfg[near[j]].id) != NULL;
            hist[k]++;
        }
        for (int k = 0; k <= 8; k++) printf("# %zu nodes know %d of their 8 nearest\n", hist[k], k);
        /* find_node of a node's id from another: is the node found? */
        int found = 0;
        for (int k = 0; k < 20; k++) {
            size_t from = srand64(&s) % n, target = srand64(&s) % n;
            s.watch_node = from;
            s.watch_done = false;
            btt_dht_stats tb, ta;
            btt_dht_get_stats(s.d[target], &tb);
            assert_int_equal(btt_dht_find_node(s.d[from], s.cfg[target].id, s.now, &s.watch_handle), BTT_OK);
            sim_collect(&s, from);
            for (int t = 0; t < 6000 && !s.watch_done; t++) sim_run(&s, 5);
            bool hit = false;
            for (size_t j = 0; j < s.watch_nn; j++) hit |= memcmp(s.watch_nodes[j].id, s.cfg[target].id, 20) == 0;
            found += hit;
            printf("# find_node %zu -> %zu: %s, %u queries %u replies %u hops, %zu nodes\n", from, target, hit ? "found" : "MISSED",
                   s.watch_stats.queries, s.watch_stats.replies, s.watch_stats.hops, s.watch_nn);
            if (!hit) {
                int knowers = 0;
                for (size_t j = 0; j < n; j++) knowers += btt_dht_rtable_find(btt_dht_table(s.d[j], family), s.cfg[target].id) != NULL;
                btt_dht_get_stats(s.d[target], &ta);
                printf("#   target: +%llu queries +%llu limited +%llu tx\n", (unsigned long long)(ta.rx_queries - tb.rx_queries),
                       (unsigned long long)(ta.rx_rate_limited - tb.rx_rate_limited), (unsigned long long)(ta.tx_packets - tb.tx_packets));
                printf("#   %d nodes know the target; ranks of the result:", knowers);
                for (size_t r = 0; r < s.watch_nn; r++) {
                    unsigned rank = 0;
                    for (size_t l = 0; l < n; l++) rank += btt_dht_id_cmp_distance(s.cfg[target].id, s.cfg[l].id, s.watch_nodes[r].id) < 0;
                    bool knows = btt_dht_rtable_find(btt_dht_table(s.d[0], family), s.cfg[target].id) != NULL;
                    (void)knows;
                    printf(" %u(cpl %u)", rank, btt_dht_id_common_bits(s.cfg[target].id, s.watch_nodes[r].id));
                }
                printf("\n");
                for (unsigned rank = 1; rank < 6; rank++) {
                    for (size_t l = 0; l < n; l++) {
                        unsigned rl = 0;
                        for (size_t m2 = 0; m2 < n; m2++) rl += btt_dht_id_cmp_distance(s.cfg[target].id, s.cfg[m2].id, s.cfg[l].id) < 0;
                        if (rl != rank) continue;
                        btt_dht_rtable_info info;
                        btt_dht_rtable_get_info(btt_dht_table(s.d[l], family), s.now, &info);
                        printf("#   rank %u node %zu cpl %u knows target %d, buckets %zu\n", rank, l,
                               btt_dht_id_common_bits(s.cfg[target].id, s.cfg[l].id),
                               btt_dht_rtable_find(btt_dht_table(s.d[l], family), s.cfg[target].id) != NULL, info.buckets);
                    }
                }
            }
        }
    }
    printf("# IPv%u network of %zu nodes, %u%% loss: %.1f nodes per table (min %zu)\n", family, n, loss,
           (double)total / (double)n, min_nodes);
    assert_true(min_nodes >= BTT_DHT_K);

    /* node 1 announces; many others look up */
    uint8_t ih[20];
    for (int k = 0; k < 20; k++) ih[k] = (uint8_t)srand64(&s);
    s.watch_peer = s.addr[1];
    s.watch_peer.port = 7777;
    (void)sim_lookup(&s, 1, ih, true, 7777);
    assert_true(s.watch_stats.announced >= BTT_DHT_K / 2);
    printf("# announce: %u queries, %u hops, %u announce_peer sent, %llu ms\n", s.watch_stats.queries,
           s.watch_stats.hops, s.watch_stats.announced, (unsigned long long)s.watch_stats.duration_ms);
    sim_run(&s, 500);

    const int lookups = 20;
    uint64_t q = 0, hops = 0, maxhops = 0, maxq = 0, dur = 0, first = 0;
    for (int k = 0; k < lookups; k++) {
        size_t who = 2 + srand64(&s) % (n - 2);
        bool found = sim_lookup(&s, who, ih, false, 0);
        if (!found) {
            printf("# lookup %d from node %zu: %u queries %u replies %u timeouts %u closest\n", k, who,
                   s.watch_stats.queries, s.watch_stats.replies, s.watch_stats.timeouts, s.watch_stats.closest);
            printf("#   result:");
            for (size_t r = 0; r < s.watch_nn; r++) {
                unsigned rank = 0;
                for (size_t l = 0; l < n; l++) rank += btt_dht_id_cmp_distance(ih, s.cfg[l].id, s.watch_nodes[r].id) < 0;
                printf(" rank %u (cpl %u)", rank, btt_dht_id_common_bits(ih, s.watch_nodes[r].id));
            }
            btt_dht_rtable_info wi;
            btt_dht_rtable_get_info(btt_dht_table(s.d[who], s.family), s.now, &wi);
            printf("; searcher has %zu nodes (%zu good) in %zu buckets\n", wi.nodes, wi.good, wi.buckets);
            for (size_t i = 0; i < n; i++) {
                btt_dht_stats st;
                btt_dht_get_stats(s.d[i], &st);
                unsigned rank = 0;
                for (size_t j = 0; j < n; j++)
                    rank += btt_dht_id_cmp_distance(ih, s.cfg[j].id, s.cfg[i].id) < 0;
                if (st.torrents || rank < 10) {
                    btt_dht_rtable_info info;
                    btt_dht_rtable_get_info(btt_dht_table(s.d[i], s.family), s.now, &info);
                    int knows = 0;
                    for (size_t j = 0; j < n; j++) {
                        unsigned rj = 0;
                        for (size_t l = 0; l < n; l++) rj += btt_dht_id_cmp_distance(ih, s.cfg[l].id, s.cfg[j].id) < 0;
                        if (rj < 10 && j != i && btt_dht_rtable_find(btt_dht_table(s.d[i], s.family), s.cfg[j].id)) knows++;
                    }
                    printf("#   node %zu rank %u stores %zu, knows %d of the top 10; %zu nodes %zu good %zu buckets %zu repl\n", i, rank,
                           st.torrents, knows, info.nodes, info.good, info.buckets, info.replacements);
                }
            }
            fail_msg("lookup %d from node %zu did not find the announced peer", k, who);
        }
        q += s.watch_stats.queries;
        hops += s.watch_stats.hops;
        dur += s.watch_stats.duration_ms;
        first += s.watch_stats.first_peer_ms;
        if (s.watch_stats.hops > maxhops) maxhops = s.watch_stats.hops;
        if (s.watch_stats.queries > maxq) maxq = s.watch_stats.queries;
        /* bounded: a lookup never sends more queries than it keeps candidates */
        assert_true(s.watch_stats.queries <= 64);
        assert_true(s.watch_stats.hops <= 8);
    }
    printf("# get_peers x%d: %.1f queries per lookup (max %llu), %.1f hops (max %llu), first peer after %.0f ms, "
           "done after %.0f ms\n",
           lookups, (double)q / lookups, (unsigned long long)maxq, (double)hops / lookups,
           (unsigned long long)maxhops, (double)first / lookups, (double)dur / lookups);

    /* a node restarted from its saved table finds the peer without bootstrap nodes */
    size_t r = n / 2;
    btt_buf saved;
    btt_buf_init(&saved, 1u << 20);
    assert_int_equal(btt_dht_save(s.d[r], s.now, &saved), BTT_OK);
    btt_dht_free(s.d[r]);
    s.d[r] = NULL;
    sim_run(&s, 1000);
    s.cfg[r].seed ^= 0x5a5a;
    memset(s.cfg[r].id, 0, 20); /* the saved state brings the id back */
    sim_new_node(&s, r);
    btt_error err;
    assert_int_equal(btt_dht_load(s.d[r], saved.data, saved.len, s.now, &err), BTT_OK);
    btt_buf_free(&saved);
    assert_true(sim_lookup(&s, r, ih, false, 0));
    printf("# restarted node: found the peer with %u queries, %u hops\n", s.watch_stats.queries, s.watch_stats.hops);

    uint64_t malformed = 0, unexpected = 0, sent = 0;
    for (size_t i = 0; i < n; i++) {
        btt_dht_stats st;
        btt_dht_get_stats(s.d[i], &st);
        malformed += st.rx_malformed + st.rx_oversized;
        unexpected += st.rx_unexpected;
        sent += st.tx_packets;
    }
    printf("# %llu datagrams delivered, %llu lost, %llu unexpected (late answers)\n",
           (unsigned long long)s.delivered, (unsigned long long)s.lost, (unsigned long long)unexpected);
    assert_int_equal(malformed, 0); /* every datagram a node sends decodes */
    (void)sent;
    sim_free(&s);
}

static void test_sim_ipv4_200(void **state)
{
    run_network(4, getenv("DHT_SIM_N") ? (size_t)atoi(getenv("DHT_SIM_N")) : 200, getenv("DHT_SIM_LOSS") ? (unsigned)atoi(getenv("DHT_SIM_LOSS")) : 5, getenv("DHT_SIM_SEED") ? strtoull(getenv("DHT_SIM_SEED"), NULL, 0) : 0x1234567);
}

static void test_sim_ipv6_60(void **state)
{
    run_network(6, 60, 2, 0xabcdef);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_rotation),
        cmocka_unit_test(test_storage_caps),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_pending_cap),
        cmocka_unit_test(test_unknown_method),
        cmocka_unit_test(test_hostile_changes_nothing),
        cmocka_unit_test(test_sim_ipv4_200),
        cmocka_unit_test(test_sim_ipv6_60),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
