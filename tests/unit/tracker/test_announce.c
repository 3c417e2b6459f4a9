/* Unit tests for the tracker protocol cores (no I/O): HTTP announce/scrape URLs and replies
 * (BEP 3, 23, 7, 48) and UDP tracker packets (BEP 15), byte by byte. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/announce.h"
#include "btt/buf.h"

#define OK(x) assert_int_equal((x), BTT_OK)

/* A hash with every awkward byte: NUL, high bytes, reserved URL characters, unreserved ones. */
static const uint8_t HASH[20] = {0x00, 0xff, ' ',  '&',  '%', '=',  '?',  '/',  'A',  'z',
                                 '0',  '9',  '-',  '.',  '_', '~',  0x80, 0x7f, 0x12, 0xab};
static const char HASH_ENC[] = "%00%FF%20%26%25%3D%3F%2FAz09-._~%80%7F%12%AB";
static const uint8_t PEER_ID[20] = {'-', 'B', 'T', '0', '0', '0', '1', '-', 0x01, 0x02,
                                    0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0xfe, 0xff};
static const char PEER_ID_ENC[] = "-BT0001-%01%02%03%04%05%06%07%08%09%0A%FE%FF";

static btt_announce_req base_req(void)
{
    btt_announce_req r;
    memset(&r, 0, sizeof r);
    memcpy(r.info_hash, HASH, 20);
    memcpy(r.peer_id, PEER_ID, 20);
    r.port = 6881;
    r.uploaded = 1;
    r.downloaded = 2;
    r.left = 3;
    r.event = BTT_EVENT_NONE;
    r.numwant = -1;
    r.key = 0xdeadbeef;
    return r;
}

static void expect_url(const char *base, const btt_announce_req *r, const char *want)
{
    char *u = btt_http_announce_url(base, r);
    assert_non_null(u);
    if (strcmp(u, want) != 0) fail_msg("url\n got: %s\nwant: %s", u, want);
    free(u);
}

static void test_announce_url_binary(void **st)
{
    btt_announce_req r = base_req();
    char want[512];
    snprintf(want, sizeof want,
             "http://t.example/announce?info_hash=%s&peer_id=%s&port=6881&uploaded=1&downloaded=2&left=3"
             "&compact=1&key=DEADBEEF",
             HASH_ENC, PEER_ID_ENC);
    expect_url("http://t.example/announce", &r, want);
}

static void test_announce_url_existing_query(void **st)
{
    btt_announce_req r = base_req();
    char want[512];
    const char *tail = "&port=6881&uploaded=1&downloaded=2&left=3&compact=1&key=DEADBEEF";
    snprintf(want, sizeof want, "http://t/announce?passkey=abc&info_hash=%s&peer_id=%s%s", HASH_ENC, PEER_ID_ENC,
             tail);
    expect_url("http://t/announce?passkey=abc", &r, want);
    /* a query that already ends in '?' or '&' gets no extra separator */
    snprintf(want, sizeof want, "http://t/announce?info_hash=%s&peer_id=%s%s", HASH_ENC, PEER_ID_ENC, tail);
    expect_url("http://t/announce?", &r, want);
    snprintf(want, sizeof want, "http://t/announce?a=1&info_hash=%s&peer_id=%s%s", HASH_ENC, PEER_ID_ENC, tail);
    expect_url("http://t/announce?a=1&", &r, want);
    /* a fragment is dropped: parameters after it would never reach the tracker */
    snprintf(want, sizeof want, "http://t/announce?info_hash=%s&peer_id=%s%s", HASH_ENC, PEER_ID_ENC, tail);
    expect_url("http://t/announce#frag", &r, want);
}

static void test_announce_url_options(void **st)
{
    btt_announce_req r = base_req();
    r.event = BTT_EVENT_STARTED;
    r.numwant = 50;
    r.key = 0x1a;
    r.tracker_id = "id 1&x";
    r.extra_query = "&bid=5&x=y";
    r.uploaded = UINT64_MAX;
    r.port = 65535;
    char want[512];
    snprintf(want, sizeof want,
             "https://t/a?info_hash=%s&peer_id=%s&port=65535&uploaded=18446744073709551615&downloaded=2&left=3"
             "&compact=1&event=started&numwant=50&key=0000001A&trackerid=id%%201%%26x&bid=5&x=y",
             HASH_ENC, PEER_ID_ENC);
    expect_url("https://t/a", &r, want);

    /* extra_query without its leading '&' gets one */
    r.extra_query = "bid=5";
    r.tracker_id = NULL;
    r.event = BTT_EVENT_COMPLETED;
    r.numwant = 0;
    char *u = btt_http_announce_url("http://t/a", &r);
    assert_non_null(u);
    assert_non_null(strstr(u, "&event=completed&numwant=0&key=0000001A&bid=5"));
    assert_null(strstr(u, "trackerid"));
    free(u);
    r.event = BTT_EVENT_STOPPED;
    u = btt_http_announce_url("http://t/a", &r);
    assert_non_null(strstr(u, "&event=stopped&"));
    free(u);
}

/* ---- announce replies ---- */

static btt_err parse(const char *body, size_t len, btt_announce_resp *r, btt_error *err)
{
    return btt_http_announce_parse((const uint8_t *)body, len, r, err);
}

static void assert_peer(const btt_addr *a, const char *want)
{
    char buf[BTT_ADDR_STRLEN];
    assert_string_equal(btt_addr_format(a, buf), want);
}

static void test_parse_compact(void **st)
{
    static const char body[] = "d8:completei5e10:incompletei7e8:intervali1800e12:min intervali60e"
                               "5:peers12:\x0a\x00\x00\x01\x1a\xe1\x7f\x00\x00\x01\x00\x50" "e";
    btt_announce_resp r;
    btt_error err = {0};
    OK(parse(body, sizeof body - 1, &r, &err));
    assert_int_equal(r.interval, 1800);
    assert_int_equal(r.min_interval, 60);
    assert_int_equal(r.complete, 5);
    assert_int_equal(r.incomplete, 7);
    assert_null(r.tracker_id);
    assert_null(r.warning);
    assert_int_equal(r.num_peers, 2);
    assert_peer(&r.peers[0], "10.0.0.1:6881");
    assert_peer(&r.peers[1], "127.0.0.1:80");
    btt_announce_resp_free(&r);
    assert_null(r.peers);
}

static void test_parse_absent_fields(void **st)
{
    static const char body[] = "de";
    btt_announce_resp r;
    OK(parse(body, 2, &r, NULL));
    assert_int_equal(r.interval, -1);
    assert_int_equal(r.min_interval, -1);
    assert_int_equal(r.complete, -1);
    assert_int_equal(r.incomplete, -1);
    assert_int_equal(r.num_peers, 0);
    assert_null(r.peers);
    btt_announce_resp_free(&r);
    /* tolerant: unsorted keys and trailing bytes are accepted; a peer with port 0 is skipped */
    static const char body2[] = "d8:intervali900e5:peers6:\x01\x02\x03\x04\x00\x00" "5:abcdei1ee\r\n";
    OK(parse(body2, sizeof body2 - 1, &r, NULL));
    assert_int_equal(r.interval, 900);
    assert_int_equal(r.num_peers, 0);
    btt_announce_resp_free(&r);
}

static void test_parse_dict_model(void **st)
{
    static const char body[] = "d8:intervali30e5:peersl"
                               "d2:ip8:10.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881ee"
                               "d2:ip3:::14:porti7000ee"
                               "d2:ip14:::ffff:1.2.3.44:porti1ee"
                               "d2:ip11:example.com4:porti80ee"   /* hostname: skipped */
                               "d2:ip7:1.2.3.44:porti0ee"         /* port 0: skipped */
                               "d2:ip7:1.2.3.44:porti65536ee"     /* port too big: skipped */
                               "d2:ip7:1.2.3.4e"                  /* no port: skipped */
                               "i5e"                              /* not a dict: skipped */
                               "d2:ipi5e4:porti80ee"              /* ip not a string: skipped */
                               "ee";
    btt_announce_resp r;
    btt_error err = {0};
    OK(parse(body, sizeof body - 1, &r, &err));
    assert_int_equal(r.interval, 30);
    assert_int_equal(r.num_peers, 3);
    assert_peer(&r.peers[0], "10.0.0.1:6881");
    assert_peer(&r.peers[1], "[::1]:7000");
    assert_int_equal(r.peers[1].family, 6);
    assert_peer(&r.peers[2], "1.2.3.4:1"); /* IPv4-mapped IPv6 becomes IPv4 */
    assert_int_equal(r.peers[2].family, 4);
    btt_announce_resp_free(&r);
}

static void test_parse_peers6(void **st)
{
    static const char body[] = "d5:peers6:\x01\x02\x03\x04\x00\x01"
                               "6:peers636:"
                               "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1"
                               "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xff\xff"
                               "e";
    btt_announce_resp r;
    OK(parse(body, sizeof body - 1, &r, NULL));
    assert_int_equal(r.num_peers, 3);
    assert_peer(&r.peers[0], "1.2.3.4:1");
    assert_peer(&r.peers[1], "[2001:db8::1]:6881");
    assert_peer(&r.peers[2], "[::1]:65535");
    btt_announce_resp_free(&r);
}

static void test_parse_failure_warning(void **st)
{
    btt_announce_resp r;
    btt_error err = {0};
    static const char fail[] = "d14:failure reason22:torrent not registered8:intervali5ee";
    assert_int_equal(parse(fail, sizeof fail - 1, &r, &err), BTT_ETRACKER);
    assert_string_equal(err.msg, "torrent not registered");
    assert_null(r.peers);

    /* control characters in a tracker's text never reach a terminal */
    static const char fail2[] = "d14:failure reason5:a\x1b[2Je";
    assert_int_equal(parse(fail2, sizeof fail2 - 1, &r, &err), BTT_ETRACKER);
    assert_string_equal(err.msg, "a?[2J");

    static const char warn[] = "d8:intervali60e10:tracker id3:T-115:warning message11:be careful\ne";
    OK(parse(warn, sizeof warn - 1, &r, &err));
    assert_string_equal(r.warning, "be careful?");
    assert_string_equal(r.tracker_id, "T-1");
    btt_announce_resp_free(&r);
    assert_null(r.warning);
    assert_null(r.tracker_id);
}

static void test_parse_bad(void **st)
{
    btt_announce_resp r;
    btt_error err = {0};
    static const char bad6[] = "d5:peers7:abcdefge";
    assert_int_equal(parse(bad6, sizeof bad6 - 1, &r, &err), BTT_EPROTO);
    assert_non_null(strstr(err.msg, "not a multiple of 6"));
    assert_null(r.peers);
    static const char bad18[] = "d6:peers617:aaaaaaaaaaaaaaaaae";
    assert_int_equal(parse(bad18, sizeof bad18 - 1, &r, &err), BTT_EPROTO);
    assert_non_null(strstr(err.msg, "not a multiple of 18"));
    assert_int_equal(parse("le", 2, &r, &err), BTT_EPROTO);
    assert_non_null(strstr(err.msg, "not a bencoded dictionary"));
    assert_int_equal(parse("<html>404</html>", 16, &r, &err), BTT_EPROTO);
    assert_int_equal(parse("", 0, &r, &err), BTT_EPROTO);
    assert_int_equal(parse("d5:peers", 8, &r, &err), BTT_EPROTO);
    /* negative or huge numbers do not become negative intervals or wrap */
    static const char neg[] = "d8:completei-3e8:intervali-5e12:min intervali99999999999ee";
    OK(parse(neg, sizeof neg - 1, &r, &err));
    assert_int_equal(r.interval, -1);
    assert_int_equal(r.min_interval, INT32_MAX);
    assert_int_equal(r.complete, -1);
    btt_announce_resp_free(&r);
}

/* A reply with n compact IPv4 peers (and optionally m more in peers6). */
static char *many_peers(size_t n, size_t m, size_t *len)
{
    btt_buf b;
    btt_buf_init(&b, 64u << 20);
    assert_int_equal(btt_buf_printf(&b, "d5:peers%zu:", n * 6), BTT_OK);
    for (size_t i = 0; i < n; i++) {
        uint8_t e[6] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 0x1a, 0xe1};
        assert_int_equal(btt_buf_append(&b, e, 6), BTT_OK);
    }
    if (m) {
        assert_int_equal(btt_buf_printf(&b, "6:peers6%zu:", m * 18), BTT_OK);
        for (size_t i = 0; i < m; i++) {
            uint8_t e[18] = {0x20, 0x01, [15] = (uint8_t)(i + 1), [16] = 0x1a, [17] = 0xe1};
            assert_int_equal(btt_buf_append(&b, e, 18), BTT_OK);
        }
    }
    assert_int_equal(btt_buf_append_byte(&b, 'e'), BTT_OK);
    return (char *)btt_buf_steal(&b, len);
}

static void test_parse_too_many(void **st)
{
    btt_announce_resp r;
    btt_error err = {0};
    size_t len;
    char *body = many_peers(BTT_ANNOUNCE_MAX_PEERS, 0, &len);
    OK(parse(body, len, &r, &err));
    assert_int_equal(r.num_peers, BTT_ANNOUNCE_MAX_PEERS);
    assert_peer(&r.peers[BTT_ANNOUNCE_MAX_PEERS - 1], "10.0.195.79:6881");
    btt_announce_resp_free(&r);
    free(body);

    body = many_peers(BTT_ANNOUNCE_MAX_PEERS + 1, 0, &len);
    assert_int_equal(parse(body, len, &r, &err), BTT_ETOOBIG);
    assert_non_null(strstr(err.msg, "50000"));
    assert_null(r.peers);
    free(body);

    /* the cap counts both forms together */
    body = many_peers(BTT_ANNOUNCE_MAX_PEERS - 1, 2, &len);
    assert_int_equal(parse(body, len, &r, &err), BTT_ETOOBIG);
    free(body);
}

/* ---- scrape ---- */

static void expect_scrape_url(const char *announce, const char *want)
{
    char *u = btt_http_scrape_url(announce, HASH);
    if (!want) {
        if (u) fail_msg("'%s' -> '%s', expected no scrape URL", announce, u);
        return;
    }
    assert_non_null(u);
    char full[512];
    snprintf(full, sizeof full, want, HASH_ENC);
    if (strcmp(u, full) != 0) fail_msg("scrape url of %s\n got: %s\nwant: %s", announce, u, full);
    free(u);
}

static void test_scrape_url(void **st)
{
    /* the examples of BEP 48's conventions, as clients implement them */
    expect_scrape_url("http://example.com/announce", "http://example.com/scrape?info_hash=%s");
    expect_scrape_url("http://example.com/x/announce", "http://example.com/x/scrape?info_hash=%s");
    expect_scrape_url("http://example.com/announce.php", "http://example.com/scrape.php?info_hash=%s");
    expect_scrape_url("http://example.com/a/announce?x2%0644", "http://example.com/a/scrape?x2%%0644&info_hash=%s");
    expect_scrape_url("https://example.com:8443/announce?passkey=1&",
                      "https://example.com:8443/scrape?passkey=1&info_hash=%s");
    expect_scrape_url("http://example.com/announce#x", "http://example.com/scrape?info_hash=%s");
    /* no scrape convention */
    expect_scrape_url("http://example.com/a", NULL);
    expect_scrape_url("http://example.com/announce/x", NULL);
    expect_scrape_url("http://example.com/x%064announce", NULL);
    expect_scrape_url("http://example.com", NULL);
    expect_scrape_url("http://example.com/", NULL);
    expect_scrape_url("http://example.com?announce", NULL);
    expect_scrape_url("http://announce.example.com/", NULL);
    expect_scrape_url("not a url", NULL);
}

static void test_scrape_parse(void **st)
{
    uint8_t other[20];
    memset(other, 'x', 20);
    btt_buf b;
    btt_buf_init(&b, 4096);
    OK(btt_buf_printf(&b, "d5:filesd20:"));
    OK(btt_buf_append(&b, HASH, 20));
    OK(btt_buf_printf(&b, "d8:completei11e10:downloadedi13772e10:incompletei19ee20:"));
    OK(btt_buf_append(&b, other, 20));
    OK(btt_buf_printf(&b, "d8:completei21e10:downloadedi206e10:incompletei20eeee"));
    btt_scrape_resp s;
    btt_error err = {0};
    OK(btt_http_scrape_parse(b.data, b.len, HASH, &s, &err));
    assert_int_equal(s.complete, 11);
    assert_int_equal(s.downloaded, 13772);
    assert_int_equal(s.incomplete, 19);
    OK(btt_http_scrape_parse(b.data, b.len, other, &s, &err));
    assert_int_equal(s.complete, 21);
    /* a hash the tracker does not know: nobody is there */
    uint8_t none[20] = {0};
    OK(btt_http_scrape_parse(b.data, b.len, none, &s, &err));
    assert_int_equal(s.complete, 0);
    assert_int_equal(s.incomplete, 0);
    assert_int_equal(s.downloaded, 0);
    btt_buf_free(&b);

    /* a field missing from the entry is -1 */
    OK(btt_buf_printf(&b, "d5:filesd20:"));
    OK(btt_buf_append(&b, HASH, 20));
    OK(btt_buf_printf(&b, "d8:completei1eeee"));
    OK(btt_http_scrape_parse(b.data, b.len, HASH, &s, &err));
    assert_int_equal(s.complete, 1);
    assert_int_equal(s.incomplete, -1);
    assert_int_equal(s.downloaded, -1);
    btt_buf_free(&b);

    static const char fail[] = "d14:failure reason9:forbiddene";
    assert_int_equal(btt_http_scrape_parse((const uint8_t *)fail, sizeof fail - 1, HASH, &s, &err), BTT_ETRACKER);
    assert_string_equal(err.msg, "forbidden");
    static const char nofiles[] = "d5:filesi1ee";
    assert_int_equal(btt_http_scrape_parse((const uint8_t *)nofiles, sizeof nofiles - 1, HASH, &s, &err),
                     BTT_EPROTO);
    assert_int_equal(btt_http_scrape_parse((const uint8_t *)"i1e", 3, HASH, &s, &err), BTT_EPROTO);
}

/* ---- UDP packets: BEP 15's tables ---- */

static void test_udp_connect_req(void **st)
{
    uint8_t p[16];
    assert_int_equal(btt_udp_connect_req(p, 0x01020304), 16);
    /* 0 protocol_id 0x41727101980 | 8 action 0 | 12 transaction_id */
    static const uint8_t want[16] = {0x00, 0x00, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80,
                                     0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04};
    assert_memory_equal(p, want, 16);
}

static void test_udp_announce_req(void **st)
{
    btt_announce_req r = base_req();
    r.downloaded = 0x1112131415161718ULL;
    r.left = 0x2122232425262728ULL;
    r.uploaded = 0x3132333435363738ULL;
    r.event = BTT_EVENT_STOPPED;
    r.key = 0xa1b2c3d4;
    r.numwant = -1;
    r.port = 0x1ae1;
    uint8_t p[98];
    memset(p, 0xee, sizeof p);
    assert_int_equal(btt_udp_announce_req(p, 0x0102030405060708ULL, 0xcafebabe, &r), 98);
    static const uint8_t head[16] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe};
    assert_memory_equal(p, head, 16);          /* 0 connection_id, 8 action 1, 12 transaction_id */
    assert_memory_equal(p + 16, HASH, 20);     /* 16 info_hash */
    assert_memory_equal(p + 36, PEER_ID, 20);  /* 36 peer_id */
    static const uint8_t nums[24] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,  /* 56 downloaded */
                                     0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,  /* 64 left */
                                     0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38}; /* 72 uploaded */
    assert_memory_equal(p + 56, nums, 24);
    static const uint8_t tail[18] = {0, 0, 0, 3,                /* 80 event: stopped */
                                     0, 0, 0, 0,                /* 84 IP address: default */
                                     0xa1, 0xb2, 0xc3, 0xd4,    /* 88 key */
                                     0xff, 0xff, 0xff, 0xff,    /* 92 num_want: -1 */
                                     0x1a, 0xe1};               /* 96 port */
    assert_memory_equal(p + 80, tail, 18);

    r.event = BTT_EVENT_STARTED;
    r.numwant = 50;
    (void)btt_udp_announce_req(p, 0, 0, &r);
    static const uint8_t t2[4] = {0, 0, 0, 2}, nw[4] = {0, 0, 0, 50};
    assert_memory_equal(p + 80, t2, 4);
    assert_memory_equal(p + 92, nw, 4);
    r.event = BTT_EVENT_COMPLETED;
    (void)btt_udp_announce_req(p, 0, 0, &r);
    assert_int_equal(p[83], 1);
    r.event = BTT_EVENT_NONE;
    (void)btt_udp_announce_req(p, 0, 0, &r);
    assert_int_equal(p[83], 0);
}

static void test_udp_scrape_req(void **st)
{
    uint8_t p[36];
    assert_int_equal(btt_udp_scrape_req(p, 0xfffefdfcfbfaf9f8ULL, 7, HASH), 36);
    static const uint8_t head[16] = {0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0, 0, 0, 2, 0, 0, 0, 7};
    assert_memory_equal(p, head, 16);
    assert_memory_equal(p + 16, HASH, 20);
}

static void test_udp_reply_connect(void **st)
{
    btt_udp_reply r;
    btt_error err = {0};
    static const uint8_t p[16] = {0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8};
    OK(btt_udp_reply_parse(p, 16, false, &r, &err));
    assert_int_equal(r.action, BTT_UDP_CONNECT);
    assert_int_equal(r.txid, 0xdeadbeef);
    assert_true(r.conn_id == 0x0102030405060708ULL);
    /* "Check whether the packet is at least 16 bytes." */
    assert_int_equal(btt_udp_reply_parse(p, 15, false, &r, &err), BTT_EPROTO);
    assert_int_equal(btt_udp_reply_parse(p, 7, false, &r, &err), BTT_EPROTO);
    assert_int_equal(btt_udp_reply_parse(p, 0, false, &r, &err), BTT_EPROTO);
    /* longer packets are fine: "Do not expect packets to be exactly of a certain size." */
    uint8_t longer[20] = {0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9};
    OK(btt_udp_reply_parse(longer, 20, false, &r, &err));
    assert_int_equal(r.txid, 9);
}

static void test_udp_reply_announce(void **st)
{
    btt_udp_reply r;
    btt_error err = {0};
    static const uint8_t p[32] = {0, 0, 0, 1, 0, 0, 0, 42,        /* action announce, txid 42 */
                                  0, 0, 0x07, 0x08,               /* interval 1800 */
                                  0, 0, 0, 3,                     /* leechers */
                                  0, 0, 0, 4,                     /* seeders */
                                  10, 0, 0, 1, 0x1a, 0xe1,        /* 10.0.0.1:6881 */
                                  127, 0, 0, 1, 0xff, 0xff};      /* 127.0.0.1:65535 */
    OK(btt_udp_reply_parse(p, 32, false, &r, &err));
    assert_int_equal(r.action, BTT_UDP_ANNOUNCE);
    assert_int_equal(r.txid, 42);
    assert_int_equal(r.announce.interval, 1800);
    assert_int_equal(r.announce.incomplete, 3);
    assert_int_equal(r.announce.complete, 4);
    assert_int_equal(r.announce.min_interval, -1);
    assert_int_equal(r.announce.num_peers, 2);
    assert_peer(&r.announce.peers[0], "10.0.0.1:6881");
    assert_peer(&r.announce.peers[1], "127.0.0.1:65535");
    btt_announce_resp_free(&r.announce);
    /* no peers */
    OK(btt_udp_reply_parse(p, 20, false, &r, &err));
    assert_int_equal(r.announce.num_peers, 0);
    assert_null(r.announce.peers);
    /* "Check whether the packet is at least 20 bytes." */
    assert_int_equal(btt_udp_reply_parse(p, 19, false, &r, &err), BTT_EPROTO);
    assert_null(r.announce.peers);
    /* a partial peer entry */
    assert_int_equal(btt_udp_reply_parse(p, 31, false, &r, &err), BTT_EPROTO);
    assert_non_null(strstr(err.msg, "multiple of 6"));
    assert_null(r.announce.peers);
    /* from an IPv6 socket the 12 peer bytes are not a whole 18-byte entry */
    assert_int_equal(btt_udp_reply_parse(p, 32, true, &r, &err), BTT_EPROTO);
    assert_non_null(strstr(err.msg, "multiple of 18"));
}

static void test_udp_reply_announce6(void **st)
{
    uint8_t p[20 + 36] = {0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t *e = p + 20;
    e[0] = 0x20, e[1] = 0x01, e[2] = 0x0d, e[3] = 0xb8, e[15] = 1, e[16] = 0x1a, e[17] = 0xe1;
    e += 18;
    e[15] = 1, e[16] = 0, e[17] = 80;
    btt_udp_reply r;
    OK(btt_udp_reply_parse(p, sizeof p, true, &r, NULL));
    assert_int_equal(r.announce.interval, INT32_MAX); /* 0xffffffff does not turn negative */
    assert_int_equal(r.announce.num_peers, 2);
    assert_peer(&r.announce.peers[0], "[2001:db8::1]:6881");
    assert_peer(&r.announce.peers[1], "[::1]:80");
    btt_announce_resp_free(&r.announce);
    /* the same 36 bytes from an IPv4 socket are six 6-byte entries */
    OK(btt_udp_reply_parse(p, sizeof p, false, &r, NULL));
    assert_int_equal(r.announce.num_peers, 2); /* four have port 0 and are skipped */
    btt_announce_resp_free(&r.announce);
}

static void test_udp_reply_scrape_error(void **st)
{
    btt_udp_reply r;
    btt_error err = {0};
    static const uint8_t s[20] = {0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 11, 0, 0, 0, 12, 0, 0, 0, 13};
    OK(btt_udp_reply_parse(s, 20, false, &r, &err));
    assert_int_equal(r.action, BTT_UDP_SCRAPE);
    assert_int_equal(r.scrape.complete, 11);   /* seeders */
    assert_int_equal(r.scrape.downloaded, 12); /* completed */
    assert_int_equal(r.scrape.incomplete, 13); /* leechers */
    assert_int_equal(btt_udp_reply_parse(s, 19, false, &r, &err), BTT_EPROTO);
    assert_int_equal(btt_udp_reply_parse(s, 8, false, &r, &err), BTT_EPROTO);

    static const uint8_t e[] = {0, 0, 0, 3, 0, 0, 0, 6, 'b', 'a', 'd', '\n', 'x'};
    OK(btt_udp_reply_parse(e, sizeof e, false, &r, &err));
    assert_int_equal(r.action, BTT_UDP_ERROR);
    assert_int_equal(r.txid, 6);
    assert_string_equal(r.message, "bad?x");
    OK(btt_udp_reply_parse(e, 8, false, &r, &err));
    assert_string_equal(r.message, "");
    /* a long message is capped */
    uint8_t big[8 + 1000];
    memcpy(big, e, 8);
    memset(big + 8, 'm', 1000);
    OK(btt_udp_reply_parse(big, sizeof big, false, &r, &err));
    assert_int_equal(strlen(r.message), sizeof r.message - 1);

    static const uint8_t u[8] = {0, 0, 0, 9, 0, 0, 0, 1};
    assert_int_equal(btt_udp_reply_parse(u, 8, false, &r, &err), BTT_EPROTO);
    assert_non_null(strstr(err.msg, "unknown action 9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_announce_url_binary),
        cmocka_unit_test(test_announce_url_existing_query),
        cmocka_unit_test(test_announce_url_options),
        cmocka_unit_test(test_parse_compact),
        cmocka_unit_test(test_parse_absent_fields),
        cmocka_unit_test(test_parse_dict_model),
        cmocka_unit_test(test_parse_peers6),
        cmocka_unit_test(test_parse_failure_warning),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_parse_too_many),
        cmocka_unit_test(test_scrape_url),
        cmocka_unit_test(test_scrape_parse),
        cmocka_unit_test(test_udp_connect_req),
        cmocka_unit_test(test_udp_announce_req),
        cmocka_unit_test(test_udp_scrape_req),
        cmocka_unit_test(test_udp_reply_connect),
        cmocka_unit_test(test_udp_reply_announce),
        cmocka_unit_test(test_udp_reply_announce6),
        cmocka_unit_test(test_udp_reply_scrape_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
