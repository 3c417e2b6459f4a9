/* Unit tests for the tracker server's cores (no I/O): the swarm tables of btt/tracker_core.h
 * (peer lists, numwant, expiry, completed counts, whitelist, caps and eviction, bidannounce,
 * bidscrape) and the wire formats of btt/tracker_proto.h (HTTP heads and queries, bencoded
 * replies read back by btt's own tracker client parser, UDP packets, connection ids). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/announce.h"
#include "btt/tracker_core.h"
#include "btt/tracker_proto.h"

#define OK(x) assert_int_equal((x), BTT_OK)

typedef struct outbuf {
    uint8_t p4[6 * BTT_TRK_NUMWANT_MAX], p6[18 * BTT_TRK_NUMWANT_MAX];
    uint64_t b4[BTT_TRK_NUMWANT_MAX], b6[BTT_TRK_NUMWANT_MAX];
    btt_trk_peers pe;
    btt_trk_counts c;
    const char *failure;
} outbuf;

static btt_trk *mk(uint32_t interval, size_t max_torrents, size_t max_peers, size_t per_torrent, bool wl)
{
    btt_trk_config cfg = {.interval = interval,
                          .max_torrents = max_torrents,
                          .max_peers = max_peers,
                          .max_peers_per_torrent = per_torrent,
                          .whitelist = wl,
                          .seed = 42};
    btt_trk *t = NULL;
    OK(btt_trk_new(&cfg, &t, NULL));
    return t;
}

static void hash_of(int n, uint8_t h[20])
{
    memset(h, 0, 20);
    h[0] = 0xab;
    h[19] = (uint8_t)n;
    h[18] = (uint8_t)(n >> 8);
}

static btt_trk_announce ann(int torrent, uint8_t last_octet, uint16_t port, uint64_t left)
{
    btt_trk_announce a;
    memset(&a, 0, sizeof a);
    hash_of(torrent, a.info_hash);
    a.addr.family = 4;
    a.addr.ip[0] = 10;
    a.addr.ip[3] = last_octet;
    a.addr.port = port;
    a.left = left;
    a.numwant = -1;
    return a;
}

static btt_err go(btt_trk *t, const btt_trk_announce *a, uint64_t now, outbuf *o)
{
    o->pe = (btt_trk_peers){o->p4, o->p6, o->b4, o->b6, 0, 0, 3};
    return btt_trk_announce_do(t, a, now, &o->pe, &o->c, &o->failure);
}

static uint16_t port_at(const outbuf *o, size_t i) { return (uint16_t)(o->p4[6 * i + 4] << 8 | o->p4[6 * i + 5]); }

static bool has_port(const outbuf *o, uint16_t port)
{
    for (size_t i = 0; i < o->pe.n4; i++)
        if (port_at(o, i) == port) return true;
    return false;
}

static void test_announce_basic(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, false);
    outbuf o;
    btt_trk_announce a = ann(1, 1, 6881, 100);
    OK(go(t, &a, 10, &o));
    assert_int_equal(o.pe.n4, 0); /* alone: nobody to return, not even itself */
    assert_int_equal(o.c.incomplete, 1);
    assert_int_equal(o.c.complete, 0);
    btt_trk_announce b = ann(1, 2, 6882, 0);
    OK(go(t, &b, 11, &o));
    assert_int_equal(o.pe.n4, 1);
    assert_memory_equal(o.p4, "\x0a\x00\x00\x01\x1a\xe1", 6); /* 10.0.0.1:6881, compact */
    assert_int_equal(o.c.complete, 1);
    assert_int_equal(o.c.incomplete, 1);
    /* a seed asking gets no seeds */
    btt_trk_announce c = ann(1, 3, 6883, 0);
    OK(go(t, &c, 12, &o));
    assert_int_equal(o.pe.n4, 1);
    assert_int_equal(port_at(&o, 0), 6881);
    /* the same address again is the same peer; left 0 now makes it a seed */
    a.left = 0;
    OK(go(t, &a, 13, &o));
    assert_int_equal(o.c.complete, 3);
    assert_int_equal(o.c.incomplete, 0);
    /* stopped removes it */
    a.event = BTT_EVENT_STOPPED;
    OK(go(t, &a, 14, &o));
    assert_int_equal(o.c.complete, 2);
    assert_int_equal(o.pe.n4, 0);
    /* port 0 is refused */
    btt_trk_announce z = ann(1, 9, 0, 5);
    assert_int_equal(go(t, &z, 15, &o), BTT_EINVAL);
    assert_string_equal(o.failure, "invalid port");
    /* IPv6 peers go to peers6, and both families are returned to an HTTP client */
    btt_trk_announce v6 = ann(1, 0, 7000, 5);
    v6.addr.family = 6;
    memset(v6.addr.ip, 0, 16);
    v6.addr.ip[0] = 0x20;
    v6.addr.ip[1] = 0x01;
    v6.addr.ip[15] = 7;
    OK(go(t, &v6, 16, &o));
    assert_int_equal(o.pe.n4, 2);
    assert_int_equal(o.pe.n6, 0);
    btt_trk_announce d = ann(1, 4, 6884, 5);
    OK(go(t, &d, 17, &o));
    assert_int_equal(o.pe.n6, 1);
    assert_int_equal(o.p6[0], 0x20);
    assert_int_equal(o.p6[16] << 8 | o.p6[17], 7000);
    btt_trk_free(t);
}

static void test_numwant(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, false);
    outbuf o;
    for (int i = 0; i < 300; i++) {
        btt_trk_announce a = ann(1, 1, (uint16_t)(1000 + i), 5);
        OK(go(t, &a, 5, &o));
    }
    btt_trk_announce a = ann(1, 2, 1, 5);
    OK(go(t, &a, 6, &o));
    assert_int_equal(o.pe.n4, BTT_TRK_NUMWANT_DEFAULT);
    a.numwant = 7;
    OK(go(t, &a, 6, &o));
    assert_int_equal(o.pe.n4, 7);
    a.numwant = 0;
    OK(go(t, &a, 6, &o));
    assert_int_equal(o.pe.n4, 0);
    a.numwant = 100000;
    OK(go(t, &a, 6, &o));
    assert_int_equal(o.pe.n4, BTT_TRK_NUMWANT_MAX);
    /* every returned peer is distinct and not the requester */
    for (size_t i = 0; i < o.pe.n4; i++) {
        assert_int_not_equal(port_at(&o, i), 1);
        for (size_t j = 0; j < i; j++) assert_memory_not_equal(o.p4 + 6 * i, o.p4 + 6 * j, 6);
    }
    btt_trk_free(t);
}

static void test_expiry(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, false);
    uint32_t ttl = btt_trk_peer_ttl(t);
    assert_int_equal(ttl, 60 + 30 + 60);
    outbuf o;
    btt_trk_announce a = ann(1, 1, 1, 5), b = ann(1, 2, 2, 5), c = ann(2, 3, 3, 5);
    OK(go(t, &a, 100, &o));
    OK(go(t, &b, 100, &o));
    OK(go(t, &c, 100, &o));
    /* a keeps announcing, b goes quiet */
    for (uint64_t now = 130; now <= 100 + ttl + 10; now += 30) OK(go(t, &a, now, &o));
    btt_trk_expire(t, 100 + ttl + 10, 1000);
    btt_trk_counts k;
    btt_trk_scrape(t, a.info_hash, true, &k);
    assert_int_equal(k.incomplete, 1);
    uint8_t h2[20];
    hash_of(2, h2);
    btt_trk_scrape(t, h2, true, &k);
    assert_int_equal(k.incomplete, 0);
    btt_trk_stats st;
    btt_trk_get_stats(t, &st);
    assert_int_equal(st.torrents, 1); /* the empty torrent went */
    assert_int_equal(st.peers, 1);
    assert_true(st.expired_peers >= 2);
    /* a torrent nobody announced to for a long time loses every peer at its next announce */
    btt_trk_announce d = ann(1, 4, 4, 5);
    OK(go(t, &d, 100000, &o));
    assert_int_equal(o.pe.n4, 0);
    assert_int_equal(o.c.incomplete, 1);
    btt_trk_free(t);
}

/* The six-bit age wraps every 64 ticks (a tick is TTL/32): over many TTLs, with the expiry walk
 * running every second as the server does, a peer announcing every interval is never dropped,
 * its flags survive, and a peer that stops is dropped between TTL and TTL plus two ticks. */
static void test_expiry_long_run(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, false);
    uint32_t ttl = btt_trk_peer_ttl(t), tick = (ttl + 31) / 32;
    outbuf o;
    btt_trk_announce live = ann(1, 1, 1, 0), quiet = ann(1, 2, 2, 5);
    live.bid = 9;
    OK(go(t, &live, 1000, &o));
    OK(go(t, &quiet, 1000, &o));
    uint64_t quiet_last = 1000;
    bool quiet_gone = false;
    for (uint64_t now = 1001; now < 1000 + 40ull * ttl; now++) {
        if ((now - 1000) % 60 == 0) OK(go(t, &live, now, &o));
        /* the quiet peer announces during the first 10 TTLs, then stops */
        if (now < 1000 + 10ull * ttl && (now - 1000) % 45 == 0) {
            OK(go(t, &quiet, now, &o));
            quiet_last = now;
        }
        btt_trk_expire(t, now, 1000);
        btt_trk_counts k;
        btt_trk_scrape(t, live.info_hash, false, &k);
        assert_int_equal(k.complete, 1); /* live, and still a seed */
        if (!quiet_gone && k.incomplete == 0) {
            quiet_gone = true;
            assert_true(now >= quiet_last + ttl);
            assert_true(now <= quiet_last + ttl + 2 * tick);
        }
        if (quiet_gone) assert_int_equal(k.incomplete, 0);
    }
    assert_true(quiet_gone);
    btt_trk_announce asker = ann(1, 3, 3, 5);
    asker.sortbid = asker.bidding = true;
    OK(go(t, &asker, 1000 + 40ull * ttl, &o));
    assert_int_equal(o.pe.n4, 1);
    assert_int_equal(o.b4[0], 9); /* its bid flag survived every wrap */
    btt_trk_free(t);
}

static void test_completed(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, false);
    outbuf o;
    btt_trk_announce a = ann(1, 1, 1, 5);
    a.event = BTT_EVENT_STARTED;
    OK(go(t, &a, 1, &o));
    assert_int_equal(o.c.downloaded, 0);
    a.event = BTT_EVENT_COMPLETED;
    a.left = 0;
    OK(go(t, &a, 2, &o));
    assert_int_equal(o.c.downloaded, 1);
    /* a seed repeating `completed` is not counted again */
    OK(go(t, &a, 3, &o));
    assert_int_equal(o.c.downloaded, 1);
    btt_trk_announce b = ann(1, 2, 2, 0);
    b.event = BTT_EVENT_COMPLETED; /* first heard as a seed that says completed: counted */
    OK(go(t, &b, 4, &o));
    assert_int_equal(o.c.downloaded, 2);
    assert_int_equal(o.c.complete, 2);
    btt_trk_free(t);
}

static void test_whitelist(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, true);
    btt_error err = {0};
    const char *text = "# comment\n\n ab00000000000000000000000000000000000001 \r\nAB00000000000000000000000000000000000002\n";
    OK(btt_trk_whitelist_load(t, text, strlen(text), &err));
    outbuf o;
    btt_trk_announce a = ann(1, 1, 1, 5), b = ann(2, 1, 1, 5), c = ann(3, 1, 1, 5);
    OK(go(t, &a, 1, &o));
    OK(go(t, &b, 1, &o));
    assert_int_equal(go(t, &c, 1, &o), BTT_ENOENT);
    assert_string_equal(o.failure, "torrent not whitelisted");
    const char *bad = "ab00000000000000000000000000000000000001\nnot-a-hash\n";
    assert_int_equal(btt_trk_whitelist_load(t, bad, strlen(bad), &err), BTT_EINVAL);
    assert_non_null(strstr(err.msg, "line 2"));
    btt_trk_free(t);
}

static void test_whitelist_replace(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, true);
    btt_error err = {0};
    const char *l12 = "ab00000000000000000000000000000000000001\nab00000000000000000000000000000000000002\n";
    OK(btt_trk_whitelist_load(t, l12, strlen(l12), &err));
    outbuf o;
    for (int i = 1; i <= 2; i++)
        for (uint8_t p = 1; p <= 3; p++) {
            btt_trk_announce a = ann(i, p, 1000, 5);
            OK(go(t, &a, 1, &o));
        }
    btt_trk_stats st;
    btt_trk_get_stats(t, &st);
    assert_int_equal(st.torrents, 2);
    assert_int_equal(st.peers, 6);
    /* a bad new list changes nothing */
    size_t dropped = 99;
    const char *bad = "ab00000000000000000000000000000000000003\nxyz\n";
    assert_int_equal(btt_trk_whitelist_replace(t, bad, strlen(bad), &dropped, &err), BTT_EINVAL);
    assert_int_equal(dropped, 0);
    btt_trk_announce a3 = ann(3, 1, 1000, 5), a1 = ann(1, 9, 1000, 5), a2 = ann(2, 9, 1000, 5);
    assert_int_equal(go(t, &a3, 2, &o), BTT_ENOENT);
    OK(go(t, &a1, 2, &o));
    /* torrent 1 leaves the list, 3 joins: 1's swarm is dropped and refused, 2 and 3 served */
    const char *l23 = "# reloaded\nab00000000000000000000000000000000000002\nab00000000000000000000000000000000000003\n";
    OK(btt_trk_whitelist_replace(t, l23, strlen(l23), &dropped, &err));
    assert_int_equal(dropped, 1);
    btt_trk_get_stats(t, &st);
    assert_int_equal(st.torrents, 1);
    assert_int_equal(st.peers, 3);
    assert_int_equal(go(t, &a1, 3, &o), BTT_ENOENT);
    btt_trk_counts c;
    btt_trk_scrape(t, a1.info_hash, true, &c);
    assert_int_equal(c.incomplete, 0);
    OK(go(t, &a2, 3, &o));
    assert_int_equal(o.c.incomplete, 4);
    OK(go(t, &a3, 3, &o));
    /* many torrents, most dropped at once (backward shifts while removing) */
    btt_trk *u = mk(60, 0, 0, 0, true);
    char big[300 * 41 + 1];
    size_t off = 0;
    for (int i = 0; i < 300; i++) off += (size_t)snprintf(big + off, sizeof big - off, "ab%034d%04x\n", 0, i);
    OK(btt_trk_whitelist_load(u, big, off, &err));
    for (int i = 0; i < 300; i++) {
        btt_trk_announce a = ann(i, 1, 1000, 5);
        OK(go(u, &a, 1, &o));
    }
    const char *keep = "ab00000000000000000000000000000000000007\n";
    OK(btt_trk_whitelist_replace(u, keep, strlen(keep), &dropped, &err));
    assert_int_equal(dropped, 299);
    btt_trk_get_stats(u, &st);
    assert_int_equal(st.torrents, 1);
    assert_int_equal(st.peers, 1);
    btt_trk_free(u);
    btt_trk_free(t);
}

static void test_full_scrape(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, false);
    outbuf o;
    uint8_t hs[BTT_TRK_FULLSCRAPE_PAGE][20];
    btt_trk_counts c[BTT_TRK_FULLSCRAPE_PAGE];
    uint64_t next = 5;
    assert_int_equal(btt_trk_scrape_all(t, 0, BTT_TRK_FULLSCRAPE_PAGE, hs, c, &next), 0); /* empty */
    assert_int_equal(next, 0);
    enum { N = 600 };
    for (int i = 0; i < N; i++) {
        btt_trk_announce a = ann(i, 1, 1000, (uint64_t)(i % 3 == 0 ? 0 : 5));
        OK(go(t, &a, 1, &o));
        if (i % 5 == 0) {
            btt_trk_announce b = ann(i, 2, 1000, 5);
            OK(go(t, &b, 1, &o));
        }
    }
    /* every torrent exactly once over the pages, with its counts; pages are capped */
    static uint8_t seen[N];
    memset(seen, 0, sizeof seen);
    uint64_t cursor = 0;
    size_t pages = 0, total = 0;
    do {
        size_t n = btt_trk_scrape_all(t, cursor, 10000, hs, c, &next);
        assert_true(n <= BTT_TRK_FULLSCRAPE_PAGE);
        assert_true(next == 0 || next > cursor);
        for (size_t k = 0; k < n; k++) {
            int i = hs[k][18] << 8 | hs[k][19];
            assert_true(i < N);
            assert_int_equal(seen[i], 0);
            seen[i] = 1;
            assert_int_equal(c[k].complete, i % 3 == 0 ? 1 : 0);
            assert_int_equal(c[k].incomplete, (i % 3 == 0 ? 0 : 1) + (i % 5 == 0 ? 1 : 0));
        }
        total += n;
        pages++;
        cursor = next;
    } while (next);
    assert_int_equal(total, N);
    assert_int_equal(pages, (N + BTT_TRK_FULLSCRAPE_PAGE - 1) / BTT_TRK_FULLSCRAPE_PAGE);
    /* a small page, and a cursor past the end */
    assert_int_equal(btt_trk_scrape_all(t, 0, 3, hs, c, &next), 3);
    assert_true(next > 0);
    assert_int_equal(btt_trk_scrape_all(t, UINT64_MAX, 3, hs, c, &next), 0);
    assert_int_equal(next, 0);
    /* a full page fits a reply */
    size_t n = btt_trk_scrape_all(t, 0, BTT_TRK_FULLSCRAPE_PAGE, hs, c, &next);
    static char body[BTT_TRK_REPLY_MAX];
    assert_true(btt_trk_encode_scrape(body, sizeof body, (const uint8_t(*)[20])hs, c, n, next) > 0);
    btt_trk_free(t);
}

static void test_ip_params(void **state)
{
    (void)state;
    for (int honour = 0; honour < 2; honour++) {
        btt_trk_config cfg = {.interval = 60, .seed = 42, .ip_params = honour};
        btt_trk *t = NULL;
        OK(btt_trk_new(&cfg, &t, NULL));
        outbuf o;
        /* a dual-stack peer announces over IPv4 with ipv6= (and an ipv4= of its own family,
         * which never replaces the source address) */
        btt_trk_announce d = ann(1, 1, 6881, 5);
        d.has_ip6 = true;
        d.ip6.family = 6;
        d.ip6.ip[0] = 0x20;
        d.ip6.ip[1] = 0x01;
        d.ip6.ip[15] = 1;
        d.ip6.port = 6999;
        d.has_ip4 = true;
        d.ip4 = d.addr;
        d.ip4.ip[3] = 200;
        OK(go(t, &d, 1, &o));
        assert_int_equal(o.pe.n4 + o.pe.n6, 0); /* never its own addresses */
        assert_int_equal(o.c.incomplete, honour ? 2 : 1);
        /* an IPv6 client sees the ipv6= address only when honoured, an IPv4 client its IPv4 one */
        btt_trk_announce v6 = ann(1, 0, 7000, 5);
        v6.addr.family = 6;
        memset(v6.addr.ip, 0, 16);
        v6.addr.ip[0] = 0x20;
        v6.addr.ip[1] = 0x01;
        v6.addr.ip[15] = 9;
        OK(go(t, &v6, 2, &o));
        bool found = false;
        for (size_t i = 0; i < o.pe.n6; i++)
            found |= o.p6[18 * i + 15] == 1 && o.p6[18 * i + 16] == (6999 >> 8) && o.p6[18 * i + 17] == (6999 & 255);
        assert_int_equal(found, honour);
        assert_int_equal(o.pe.n4, 1); /* 10.0.0.1:6881 (the source), not 10.0.0.200 */
        assert_int_equal(o.p4[3], 1);
        /* the dual-stack peer again: its own ipv6= address is not returned to it */
        d.numwant = 50;
        OK(go(t, &d, 3, &o));
        assert_int_equal(o.pe.n6, 1);
        assert_int_equal(o.p6[15], 9);
        /* stopped removes both; completed counts once */
        d.event = BTT_EVENT_COMPLETED;
        d.left = 0;
        OK(go(t, &d, 4, &o));
        assert_int_equal(o.c.downloaded, 1);
        assert_int_equal(o.c.complete, honour ? 2 : 1);
        d.event = BTT_EVENT_STOPPED;
        OK(go(t, &d, 5, &o));
        assert_int_equal(o.c.complete, 0);
        assert_int_equal(o.c.incomplete, 1);
        btt_trk_free(t);
    }
}

static void test_caps_and_eviction(void **state)
{
    (void)state;
    /* torrents: at the cap the stalest torrent goes */
    btt_trk *t = mk(60, 4, 0, 0, false);
    outbuf o;
    for (int i = 0; i < 4; i++) {
        btt_trk_announce a = ann(i, 1, 1, 5);
        OK(go(t, &a, (uint64_t)(10 + i), &o));
    }
    for (int i = 1; i < 4; i++) { /* torrent 0 is now the stalest */
        btt_trk_announce a = ann(i, 1, 1, 5);
        OK(go(t, &a, 20, &o));
    }
    btt_trk_announce n = ann(9, 1, 1, 5);
    OK(go(t, &n, 21, &o));
    btt_trk_stats st;
    btt_trk_get_stats(t, &st);
    assert_int_equal(st.torrents, 4);
    assert_int_equal(st.evicted_torrents, 1);
    btt_trk_counts k;
    uint8_t h0[20];
    hash_of(0, h0);
    btt_trk_scrape(t, h0, true, &k);
    assert_int_equal(k.incomplete, 0);
    btt_trk_free(t);

    /* peers per torrent: the stalest peer of the torrent goes */
    t = mk(60, 0, 0, 3, false);
    for (int i = 0; i < 3; i++) {
        btt_trk_announce a = ann(1, 1, (uint16_t)(100 + i), 5);
        OK(go(t, &a, (uint64_t)(10 + i), &o));
    }
    btt_trk_announce a4 = ann(1, 1, 200, 5);
    OK(go(t, &a4, 14, &o));
    assert_int_equal(o.c.incomplete, 3);
    assert_false(has_port(&o, 100)); /* the oldest */
    assert_true(has_port(&o, 101) && has_port(&o, 102));
    btt_trk_free(t);

    /* peers in all: memory stays bounded */
    t = mk(60, 0, 10, 0, false);
    for (int i = 0; i < 50; i++) {
        btt_trk_announce a = ann(i % 5, 1, (uint16_t)(100 + i), 5);
        OK(go(t, &a, (uint64_t)(10 + i), &o));
    }
    btt_trk_get_stats(t, &st);
    assert_true(st.peers <= 10);
    assert_true(st.evicted_peers >= 40);
    btt_trk_free(t);
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

static void test_bids(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, false);
    outbuf o;
    static const uint64_t bids[] = {0, 50, 10, 50, 0, 90, 30};
    for (int i = 0; i < 7; i++) {
        btt_trk_announce a = ann(1, 1, (uint16_t)(100 + i), 5);
        a.bid = bids[i];
        a.bidding = bids[i] > 0;
        OK(go(t, &a, 10, &o));
    }
    btt_trk_announce q = ann(1, 2, 1, 5);
    q.bidding = q.sortbid = true;
    OK(go(t, &q, 11, &o));
    /* highest first, legacy peers (bid 0) last; bids in the same order */
    assert_int_equal(o.pe.n4, 7);
    assert_int_equal(port_at(&o, 0), 105);
    assert_int_equal(o.b4[0], 90);
    assert_true(port_at(&o, 1) == 101 || port_at(&o, 1) == 103);
    assert_true(port_at(&o, 2) == 101 || port_at(&o, 2) == 103);
    assert_int_equal(o.b4[1], 50);
    assert_int_equal(o.b4[2], 50);
    assert_int_equal(o.b4[3], 30);
    assert_int_equal(o.b4[4], 10);
    assert_int_equal(o.b4[5], 0);
    assert_int_equal(o.b4[6], 0);
    /* sortbid with numwant: the top ones */
    q.numwant = 2;
    OK(go(t, &q, 11, &o));
    assert_int_equal(o.pe.n4, 2);
    assert_int_equal(o.b4[0], 90);
    assert_int_equal(o.b4[1], 50);
    /* minbid: only bids at or above it */
    q.numwant = -1;
    q.sortbid = false;
    q.minbid = 30;
    OK(go(t, &q, 11, &o));
    assert_int_equal(o.pe.n4, 4);
    for (size_t i = 0; i < o.pe.n4; i++) assert_true(o.b4[i] >= 30);
    /* a later announce without a bid clears it */
    btt_trk_announce a5 = ann(1, 1, 105, 5);
    OK(go(t, &a5, 12, &o));
    q.minbid = 60;
    OK(go(t, &q, 12, &o));
    assert_int_equal(o.pe.n4, 0);
    /* the bencoded reply: bids (8-byte big-endian) in the order of peers */
    q.minbid = 0;
    q.sortbid = true;
    OK(go(t, &q, 12, &o));
    char body[BTT_TRK_REPLY_MAX];
    size_t n = btt_trk_encode_announce(body, sizeof body, &o.c, 60, &o.pe, true, true);
    assert_true(n > 0);
    const char *bk = memmem(body, n, "4:bids56:", 9); /* 7 peers */
    assert_non_null(bk);
    assert_int_equal(be64((const uint8_t *)bk + 9), 50);
    btt_announce_resp r;
    OK(btt_http_announce_parse((const uint8_t *)body, n, &r, NULL));
    assert_int_equal(r.num_peers, 7);
    assert_int_equal(r.interval, 60);
    /* btt's client reads the bids back, aligned with the peers */
    assert_non_null(r.bids);
    for (size_t i = 0; i < r.num_peers; i++) {
        assert_int_equal(r.peers[i].port, port_at(&o, i));
        assert_int_equal(r.bids[i], o.b4[i]);
    }
    btt_announce_resp_free(&r);
    /* a plain announce gets a plain reply */
    btt_trk_announce plain = ann(1, 3, 1, 5);
    OK(go(t, &plain, 12, &o));
    n = btt_trk_encode_announce(body, sizeof body, &o.c, 60, &o.pe, true, false);
    assert_null(memmem(body, n, "bids", 4));
    /* the dictionary model carries an integer bid per peer */
    n = btt_trk_encode_announce(body, sizeof body, &o.c, 60, &o.pe, false, true);
    assert_non_null(memmem(body, n, "d3:bidi", 7));
    OK(btt_http_announce_parse((const uint8_t *)body, n, &r, NULL));
    assert_int_equal(r.num_peers, o.pe.n4);
    assert_non_null(r.bids);
    for (size_t i = 0; i < r.num_peers; i++) assert_int_equal(r.bids[i], o.b4[i]);
    btt_announce_resp_free(&r);
    /* a plain reply: no bids */
    n = btt_trk_encode_announce(body, sizeof body, &o.c, 60, &o.pe, true, false);
    OK(btt_http_announce_parse((const uint8_t *)body, n, &r, NULL));
    assert_null(r.bids);
    btt_announce_resp_free(&r);
    /* bids of the wrong length are ignored, the peers kept */
    static const char odd[] = "d4:bids3:abc5:peers6:\x0a\x00\x00\x01\x1a\xe1" "e";
    OK(btt_http_announce_parse((const uint8_t *)odd, sizeof odd - 1, &r, NULL));
    assert_int_equal(r.num_peers, 1);
    assert_null(r.bids);
    btt_announce_resp_free(&r);
    btt_trk_free(t);
}

static void test_client_bidannounce_url(void **state)
{
    (void)state;
    btt_announce_req r;
    memset(&r, 0, sizeof r);
    r.port = 1;
    r.numwant = -1;
    char *u = btt_http_announce_url("http://t/announce", &r);
    assert_null(strstr(u, "bid"));
    free(u);
    r.bidannounce = true;
    u = btt_http_announce_url("http://t/announce", &r);
    assert_non_null(strstr(u, "&bid=0"));
    assert_null(strstr(u, "minbid"));
    assert_null(strstr(u, "sortbid"));
    free(u);
    r.bid = 12345678901234ULL;
    r.minbid = 7;
    r.sortbid = true;
    u = btt_http_announce_url("http://t/announce", &r);
    assert_non_null(strstr(u, "&bid=12345678901234&minbid=7&sortbid=1"));
    /* and the server reads it back */
    const char *q = strchr(u, '?') + 1;
    btt_trk_announce a;
    bool compact;
    const char *f;
    OK(btt_trk_query_announce(q, strlen(q), &a, &compact, &f));
    assert_true(a.bidding && a.sortbid);
    assert_int_equal(a.bid, 12345678901234ULL);
    assert_int_equal(a.minbid, 7);
    free(u);
}

static void test_bidscrape(void **state)
{
    (void)state;
    btt_trk *t = mk(60, 0, 0, 0, false);
    outbuf o;
    /* torrent 1: bids 10, 20, 30, 40 (lower median 20); torrent 2: 100; torrent 3: 5, 7;
     * torrent 4: a bid announced too long ago; torrent 5: no bids */
    static const struct {
        int tor;
        uint64_t bid, at;
    } in[] = {{1, 10, 100}, {1, 40, 100}, {1, 30, 100}, {1, 20, 100}, {2, 100, 100},
              {3, 5, 100},  {3, 7, 100},  {4, 500, 20}, {5, 0, 100}};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        btt_trk_announce a = ann(in[i].tor, 1, (uint16_t)(100 + i), 5);
        a.bid = in[i].bid;
        a.bidding = true;
        OK(go(t, &a, in[i].at, &o));
    }
    btt_trk_bidscrape_entry e[BTT_TRK_BIDSCRAPE_MAX];
    size_t n = btt_trk_bidscrape(t, 100, 50, e);
    assert_int_equal(n, 3);
    assert_int_equal(e[0].info_hash[19], 2);
    assert_int_equal(e[0].max, 100);
    assert_int_equal(e[0].median, 100);
    assert_int_equal(e[0].bidders, 1);
    assert_int_equal(e[1].info_hash[19], 1);
    assert_int_equal(e[1].max, 40);
    assert_int_equal(e[1].median, 20);
    assert_int_equal(e[1].bidders, 4);
    assert_int_equal(e[2].info_hash[19], 3);
    assert_int_equal(e[2].median, 5);
    assert_int_equal(btt_trk_bidscrape(t, 100, 2, e), 2);
    assert_int_equal(btt_trk_bidscrape(t, 100, 0, e), 0);
    char body[BTT_TRK_REPLY_MAX];
    n = btt_trk_bidscrape(t, 100, 50, e);
    size_t len = btt_trk_encode_bidscrape(body, sizeof body, e, n);
    assert_true(len > 0);
    assert_memory_equal(body, "d8:torrentsld7:biddersi1e9:info_hash20:", 39);
    /* limit above the maximum is the maximum */
    for (int i = 0; i < 250; i++) {
        btt_trk_announce a = ann(1000 + i, 1, 7, 5);
        a.bid = (uint64_t)i + 1;
        a.bidding = true;
        OK(go(t, &a, 101, &o));
    }
    n = btt_trk_bidscrape(t, 101, 100000, e);
    assert_int_equal(n, BTT_TRK_BIDSCRAPE_MAX);
    assert_int_equal(e[0].max, 250);
    for (size_t i = 1; i < n; i++) assert_true(e[i - 1].max >= e[i].max);
    btt_trk_free(t);
}

static void test_http_head(void **state)
{
    (void)state;
    btt_trk_http_req r;
    const char *req = "GET /announce?info_hash=x&port=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
    assert_int_equal(btt_trk_http_parse_head(req, strlen(req), &r), BTT_TRK_HTTP_DONE);
    assert_int_equal(r.path_len, 9);
    assert_memory_equal(r.path, "/announce", 9);
    assert_int_equal(r.query_len, strlen("info_hash=x&port=1"));
    assert_true(r.keep_alive);
    assert_int_equal(r.head_len, strlen(req) - strlen("GET /next"));
    const char *cl = "GET /stats HTTP/1.1\r\nConnection: Close\r\n\r\n";
    assert_int_equal(btt_trk_http_parse_head(cl, strlen(cl), &r), BTT_TRK_HTTP_DONE);
    assert_false(r.keep_alive);
    const char *h10 = "GET /stats HTTP/1.0\r\n\r\n";
    assert_int_equal(btt_trk_http_parse_head(h10, strlen(h10), &r), BTT_TRK_HTTP_DONE);
    assert_false(r.keep_alive);
    const char *h10k = "GET /stats HTTP/1.0\nConnection: keep-alive\n\n";
    assert_int_equal(btt_trk_http_parse_head(h10k, strlen(h10k), &r), BTT_TRK_HTTP_DONE);
    assert_true(r.keep_alive);
    assert_int_equal(btt_trk_http_parse_head("GET /a HTTP/1.1\r\nHost", 21, &r), BTT_TRK_HTTP_MORE);
    const char *post = "POST /announce HTTP/1.1\r\n\r\n";
    assert_int_equal(btt_trk_http_parse_head(post, strlen(post), &r), BTT_TRK_HTTP_BAD);
    assert_int_equal(r.status, 405);
    const char *v2 = "GET / HTTP/2.0\r\n\r\n";
    assert_int_equal(btt_trk_http_parse_head(v2, strlen(v2), &r), BTT_TRK_HTTP_BAD);
    assert_int_equal(r.status, 505);
    const char *body = "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
    assert_int_equal(btt_trk_http_parse_head(body, strlen(body), &r), BTT_TRK_HTTP_BAD);
    assert_int_equal(r.status, 400);
    char *big = malloc(BTT_TRK_HTTP_HEAD_MAX);
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', BTT_TRK_HTTP_HEAD_MAX - 5);
    assert_int_equal(btt_trk_http_parse_head(big, BTT_TRK_HTTP_HEAD_MAX, &r), BTT_TRK_HTTP_BAD);
    assert_int_equal(r.status, 431);
    free(big);
}

static void test_queries(void **state)
{
    (void)state;
    btt_trk_announce a;
    bool compact;
    const char *f = NULL;
    const char *q = "info_hash=%ab%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%01&peer_id=-XX0001-123456789012"
                    "&port=6881&uploaded=1&downloaded=2&left=3&event=started&numwant=20&compact=0&bid=7&minbid=5&sortbid=1"
                    "&key=abc&ip=1.2.3.4";
    OK(btt_trk_query_announce(q, strlen(q), &a, &compact, &f));
    assert_int_equal(a.info_hash[0], 0xab);
    assert_int_equal(a.info_hash[19], 1);
    assert_int_equal(a.addr.port, 6881);
    assert_int_equal(a.uploaded, 1);
    assert_int_equal(a.downloaded, 2);
    assert_int_equal(a.left, 3);
    assert_int_equal(a.event, BTT_EVENT_STARTED);
    assert_int_equal(a.numwant, 20);
    assert_false(compact);
    assert_true(a.bidding && a.sortbid);
    assert_int_equal(a.bid, 7);
    assert_int_equal(a.minbid, 5);
    assert_int_equal(a.addr.family, 0); /* ip= is not trusted */
    static const struct {
        const char *q, *why;
    } bad[] = {
        {"port=1", "missing info_hash"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa", "missing port"},
        {"info_hash=aaaaaaaaaaaaaaaaaaa&port=1", "invalid info_hash"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaaa&port=1", "invalid info_hash"},
        {"info_hash=aaaaaaaaaaaaaaaaaa%2&port=1", "invalid info_hash"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=0", "invalid port"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=65536", "invalid port"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=1x", "invalid port"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&left=-1", "invalid left"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&left=99999999999999999999", "invalid left"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&event=bogus", "invalid event"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&bid=1.5", "invalid bid"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&minbid=", "invalid minbid"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&sortbid=2", "invalid sortbid"},
        {"info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&peer_id=short", "invalid peer_id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = NULL;
        assert_int_equal(btt_trk_query_announce(bad[i].q, strlen(bad[i].q), &a, &compact, &f), BTT_EPROTO);
        assert_string_equal(f, bad[i].why);
    }
    /* absent left: a leecher; negative numwant: the default */
    const char *q2 = "info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&numwant=-1";
    OK(btt_trk_query_announce(q2, strlen(q2), &a, &compact, &f));
    assert_int_equal(a.left, 1);
    assert_int_equal(a.numwant, -1);
    assert_true(compact);
    assert_false(a.bidding);

    uint8_t hs[BTT_TRK_SCRAPE_MAX][20];
    size_t n;
    const char *s = "info_hash=bbbbbbbbbbbbbbbbbbbb&info_hash=aaaaaaaaaaaaaaaaaaaa";
    uint64_t cursor = 9;
    OK(btt_trk_query_scrape(s, strlen(s), hs, &n, &cursor, &f));
    assert_int_equal(n, 2);
    assert_int_equal(cursor, 0);
    size_t none = 5; /* no info_hash: a full scrape (from a cursor) */
    OK(btt_trk_query_scrape("", 0, hs, &none, &cursor, &f));
    assert_int_equal(none, 0);
    OK(btt_trk_query_scrape("cursor=12", 9, hs, &none, &cursor, &f));
    assert_int_equal(none, 0);
    assert_int_equal(cursor, 12);
    assert_int_equal(btt_trk_query_scrape("cursor=-1", 9, hs, &none, &cursor, &f), BTT_EPROTO);
    assert_string_equal(f, "invalid cursor");
    btt_trk_counts c[2] = {{1, 2, 3}, {4, 5, 6}};
    char body[BTT_TRK_REPLY_MAX];
    size_t len = btt_trk_encode_scrape(body, sizeof body, (const uint8_t(*)[20])hs, c, n, 0);
    /* keys sorted: aaaa... first */
    assert_memory_equal(body, "d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei4e", 45);
    btt_scrape_resp sr;
    OK(btt_http_scrape_parse((const uint8_t *)body, len, hs[0], &sr, NULL));
    assert_int_equal(sr.complete, 1);
    assert_int_equal(sr.downloaded, 3);
    assert_int_equal(sr.incomplete, 2);

    size_t limit;
    OK(btt_trk_query_bidscrape(NULL, 0, &limit, &f));
    assert_int_equal(limit, 50);
    OK(btt_trk_query_bidscrape("limit=7", 7, &limit, &f));
    assert_int_equal(limit, 7);
    OK(btt_trk_query_bidscrape("limit=9999", 10, &limit, &f));
    assert_int_equal(limit, 200);
    assert_int_equal(btt_trk_query_bidscrape("limit=x", 7, &limit, &f), BTT_EPROTO);

    /* a page of a full scrape says where the next one starts */
    len = btt_trk_encode_scrape(body, sizeof body, (const uint8_t(*)[20])hs, c, 1, 77);
    assert_true(len > 12);
    assert_memory_equal(body + len - 12, "e4:nexti77ee", 12);
    OK(btt_http_scrape_parse((const uint8_t *)body, len, hs[0], &sr, NULL));
    assert_int_equal(sr.complete, 1);

    /* BEP 7 endpoints: address, or address and port (RFC 2732 brackets for IPv6) */
    const char *q3 = "info_hash=aaaaaaaaaaaaaaaaaaaa&ipv6=%5B2001%3Adb8%3A%3A7%5D%3A7001&ipv4=192.0.2.9&port=6000";
    OK(btt_trk_query_announce(q3, strlen(q3), &a, &compact, &f));
    assert_true(a.has_ip6 && a.has_ip4);
    assert_int_equal(a.ip6.family, 6);
    assert_int_equal(a.ip6.ip[0], 0x20);
    assert_int_equal(a.ip6.ip[15], 7);
    assert_int_equal(a.ip6.port, 7001);
    assert_int_equal(a.ip4.family, 4);
    assert_memory_equal(a.ip4.ip, "\xc0\x00\x02\x09", 4);
    assert_int_equal(a.ip4.port, 6000); /* no port: the announced one */
    const char *q4 = "info_hash=aaaaaaaaaaaaaaaaaaaa&port=6000&ipv6=2001:db8::8&ipv4=192.0.2.10:7002";
    OK(btt_trk_query_announce(q4, strlen(q4), &a, &compact, &f));
    assert_true(a.has_ip6 && a.has_ip4);
    assert_int_equal(a.ip6.ip[15], 8);
    assert_int_equal(a.ip6.port, 6000);
    assert_int_equal(a.ip4.port, 7002);
    static const char *const junk[] = {"ipv6=", "ipv6=nonsense", "ipv6=[2001:db8::1", "ipv6=[2001:db8::1]x",
                                       "ipv6=[2001:db8::1]:0", "ipv6=[2001:db8::1]:70000", "ipv6=1.2.3.4",
                                       "ipv6=::ffff:1.2.3.4", "ipv6=fe80::1%25eth0", "ipv4=2001:db8::1",
                                       "ipv4=1.2.3", "ipv4=1.2.3.4:", "ipv4=1.2.3.4:x", "ipv4=%zz",
                                       "ipv6=[]:5", "ipv4=:5"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        char qq[256];
        snprintf(qq, sizeof qq, "info_hash=aaaaaaaaaaaaaaaaaaaa&port=1&%s", junk[i]);
        OK(btt_trk_query_announce(qq, strlen(qq), &a, &compact, &f)); /* ignored, not an error */
        assert_false(a.has_ip4 || a.has_ip6);
    }

    len = btt_trk_encode_failure(body, sizeof body, "nope");
    assert_int_equal(len, strlen("d14:failure reason4:nopee"));
    assert_memory_equal(body, "d14:failure reason4:nopee", len);
}

static void test_udp(void **state)
{
    (void)state;
    btt_trk_udp_req r;
    const char *f = NULL;
    uint8_t p[200];
    btt_announce_req cr;
    memset(&cr, 0, sizeof cr);
    cr.info_hash[0] = 9;
    cr.port = 6881;
    cr.left = 77;
    cr.numwant = -1;
    cr.event = BTT_EVENT_COMPLETED;
    /* btt's client packets parse on the server side */
    size_t n = btt_udp_connect_req(p, 0x1234);
    assert_int_equal(btt_trk_udp_parse(p, n, &r, &f), BTT_TRK_UDP_OK);
    assert_int_equal(r.action, 0);
    assert_int_equal(r.txid, 0x1234);
    n = btt_udp_announce_req(p, 0xdeadbeefULL, 5, &cr);
    assert_int_equal(btt_trk_udp_parse(p, n, &r, &f), BTT_TRK_UDP_OK);
    assert_int_equal(r.action, 1);
    assert_int_equal(r.conn_id, 0xdeadbeefULL);
    assert_int_equal(r.ann.addr.port, 6881);
    assert_int_equal(r.ann.left, 77);
    assert_int_equal(r.ann.numwant, -1);
    assert_int_equal(r.ann.event, BTT_EVENT_COMPLETED);
    assert_int_equal(r.ann.info_hash[0], 9);
    /* malformed */
    assert_int_equal(btt_trk_udp_parse(p, 15, &r, &f), BTT_TRK_UDP_IGNORE);
    assert_int_equal(btt_trk_udp_parse(p, 97, &r, &f), BTT_TRK_UDP_ERROR);
    assert_string_equal(f, "announce packet too short");
    assert_int_equal(r.txid, 5);
    p[83] = 9; /* event 9 */
    assert_int_equal(btt_trk_udp_parse(p, 98, &r, &f), BTT_TRK_UDP_ERROR);
    p[83] = 1;
    p[96] = p[97] = 0;
    assert_int_equal(btt_trk_udp_parse(p, 98, &r, &f), BTT_TRK_UDP_ERROR);
    assert_string_equal(f, "invalid port");
    n = btt_udp_connect_req(p, 1);
    p[0] ^= 1; /* not the protocol id */
    assert_int_equal(btt_trk_udp_parse(p, n, &r, &f), BTT_TRK_UDP_ERROR);
    n = btt_udp_connect_req(p, 1);
    p[11] = 7; /* unknown action */
    assert_int_equal(btt_trk_udp_parse(p, n, &r, &f), BTT_TRK_UDP_ERROR);
    assert_string_equal(f, "unknown action");
    n = btt_udp_scrape_req(p, 1, 2, cr.info_hash);
    assert_int_equal(btt_trk_udp_parse(p, n, &r, &f), BTT_TRK_UDP_OK);
    assert_int_equal(r.nhashes, 1);
    assert_int_equal(btt_trk_udp_parse(p, 35, &r, &f), BTT_TRK_UDP_ERROR);

    /* replies parse with btt's client parser */
    uint8_t out[2048];
    btt_trk_counts c = {3, 4, 5};
    uint8_t peers[12] = {1, 2, 3, 4, 0x1a, 0xe1, 5, 6, 7, 8, 0, 80};
    n = btt_trk_udp_announce_reply(out, sizeof out, 77, 1800, &c, peers, 2, 6);
    btt_udp_reply rep;
    OK(btt_udp_reply_parse(out, n, false, &rep, NULL));
    assert_int_equal(rep.txid, 77);
    assert_int_equal(rep.announce.num_peers, 2);
    assert_int_equal(rep.announce.complete, 3);
    assert_int_equal(rep.announce.incomplete, 4);
    btt_announce_resp_free(&rep.announce);
    n = btt_trk_udp_error_reply(out, 40, 9, "a message that is longer than the room there is");
    assert_int_equal(n, 40);
    OK(btt_udp_reply_parse(out, n, false, &rep, NULL));
    assert_int_equal(rep.action, 3);

    /* connection ids: valid from the epoch they were made in through the next one */
    uint8_t key[16] = {1, 2, 3};
    btt_addr a = {.family = 4, .ip = {127, 0, 0, 1}, .port = 5000}, b = a;
    b.port = 5001;
    uint64_t id = btt_trk_udp_connid(key, &a, 600);
    assert_true(btt_trk_udp_connid_ok(key, &a, 600, id));
    assert_true(btt_trk_udp_connid_ok(key, &a, 659, id));
    assert_true(btt_trk_udp_connid_ok(key, &a, 719, id));
    assert_false(btt_trk_udp_connid_ok(key, &a, 720, id));
    assert_false(btt_trk_udp_connid_ok(key, &b, 600, id));
    assert_false(btt_trk_udp_connid_ok(key, &a, 599, id) && btt_trk_udp_connid(key, &a, 599) != id);
    uint8_t key2[16] = {9};
    assert_false(btt_trk_udp_connid_ok(key2, &a, 600, id));
    id = btt_trk_udp_connid(key, &a, 659); /* made late in an epoch: still 61 s */
    assert_true(btt_trk_udp_connid_ok(key, &a, 719, id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_announce_basic),   cmocka_unit_test(test_numwant),
        cmocka_unit_test(test_expiry),           cmocka_unit_test(test_completed),
        cmocka_unit_test(test_whitelist),        cmocka_unit_test(test_caps_and_eviction),
        cmocka_unit_test(test_whitelist_replace), cmocka_unit_test(test_full_scrape),
        cmocka_unit_test(test_ip_params),        cmocka_unit_test(test_expiry_long_run),
        cmocka_unit_test(test_bids),             cmocka_unit_test(test_bidscrape),
        cmocka_unit_test(test_http_head),        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_udp),             cmocka_unit_test(test_client_bidannounce_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
