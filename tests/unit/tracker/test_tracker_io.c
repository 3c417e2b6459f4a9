/* Tracker client I/O against fake trackers in the same process and loop, on 127.0.0.1:
 * UDP (connect/announce/scrape, retransmission, connection-id reuse, wrong txid, wrong source,
 * error action, short replies), HTTP (request line, status codes, size cap, gzip, redirects,
 * timeout), cancellation, closing with requests in flight, and the BEP 12 announcer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/tracker.h"

#define OK(x) assert_int_equal((x), BTT_OK)

static uv_loop_t loop;
static bool loop_open;
static const uint8_t HASH[20] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
                                 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01, 0x02, 0x03, 0x04};

/* ---- running the loop ---- */

static bool watchdog_fired;
static void on_watchdog(uv_timer_t *t) { watchdog_fired = true; }

/* Runs the loop until *flag is true (or 10 s pass, which fails the test). */
static void run_until(const bool *flag)
{
    uv_timer_t wd;
    uv_timer_init(&loop, &wd);
    watchdog_fired = false;
    uv_timer_start(&wd, on_watchdog, 10000, 0);
    while (!*flag && !watchdog_fired) uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&wd, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (!*flag) fail_msg("timed out waiting for the loop");
}

/* ---- a fake UDP tracker (BEP 15) ---- */

typedef struct udp_srv {
    uv_udp_t udp, alt; /* alt: a second socket, for replies from the wrong source */
    uint16_t port;
    int drop_connects;     /* connect packets to ignore */
    bool silent;           /* never answer */
    bool wrong_txid_first; /* first reply to each announce carries a wrong txid */
    bool from_alt;         /* answer announces from the other socket */
    bool error_announce;   /* answer announces with an error action */
    bool short_announce;   /* answer announces with a 10-byte packet */
    int connects, announces, scrapes, packets;
    uint32_t last_event, last_numwant;
    uint64_t conn_id;
} udp_srv;

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static void udp_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    static char buf[65536];
    *b = uv_buf_init(buf, sizeof buf);
}

static void udp_reply(uv_udp_t *u, const struct sockaddr *to, const uint8_t *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    assert_true(uv_udp_try_send(u, &b, 1, to) == (int)n);
}

static void udp_srv_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from, unsigned fl)
{
    udp_srv *s = h->data;
    if (n <= 0 || !from) return;
    const uint8_t *p = (const uint8_t *)buf->base;
    s->packets++;
    if (s->silent || n < 16) return;
    uint32_t action = get32(p + 8), txid = get32(p + 12);
    uint8_t out[64];
    if (action == 0) {
        assert_int_equal(n, 16);
        assert_true(get32(p) == 0x417 && get32(p + 4) == 0x27101980);
        s->connects++;
        if (s->drop_connects > 0) {
            s->drop_connects--;
            return;
        }
        put32(out, 0), put32(out + 4, txid), put32(out + 8, (uint32_t)(s->conn_id >> 32)),
            put32(out + 12, (uint32_t)s->conn_id);
        udp_reply(&s->udp, from, out, 16);
        return;
    }
    uint64_t cid = (uint64_t)get32(p) << 32 | get32(p + 4);
    if (cid != s->conn_id) {
        put32(out, 3), put32(out + 4, txid), memcpy(out + 8, "bad connection id", 17);
        udp_reply(&s->udp, from, out, 25);
        return;
    }
    if (action == 1) {
        assert_int_equal(n, 98);
        assert_memory_equal(p + 16, HASH, 20);
        s->announces++;
        s->last_event = get32(p + 80);
        s->last_numwant = get32(p + 92);
        if (s->error_announce) {
            put32(out, 3), put32(out + 4, txid), memcpy(out + 8, "go away", 7);
            udp_reply(&s->udp, from, out, 15);
            return;
        }
        if (s->short_announce) {
            put32(out, 1), put32(out + 4, txid), put32(out + 8, 0);
            udp_reply(&s->udp, from, out, 10);
            return;
        }
        put32(out, 1), put32(out + 8, 900), put32(out + 12, 1), put32(out + 16, 2);
        static const uint8_t peer[6] = {10, 1, 2, 3, 0x11, 0xd7};
        memcpy(out + 20, peer, 6);
        if (s->wrong_txid_first) {
            put32(out + 4, txid ^ 1);
            udp_reply(&s->udp, from, out, 26);
        }
        put32(out + 4, txid);
        udp_reply(s->from_alt ? &s->alt : &s->udp, from, out, 26);
        return;
    }
    if (action == 2) {
        assert_int_equal(n, 36);
        s->scrapes++;
        put32(out, 2), put32(out + 4, txid), put32(out + 8, 5), put32(out + 12, 6), put32(out + 16, 7);
        udp_reply(&s->udp, from, out, 20);
    }
}

static void udp_srv_start(udp_srv *s)
{
    memset(s, 0, sizeof *s);
    s->conn_id = 0x0102030405060708ULL;
    uv_udp_t *socks[2] = {&s->udp, &s->alt};
    for (int i = 0; i < 2; i++) {
        struct sockaddr_in a;
        uv_ip4_addr("127.0.0.1", 0, &a);
        assert_int_equal(uv_udp_init(&loop, socks[i]), 0);
        socks[i]->data = s;
        assert_int_equal(uv_udp_bind(socks[i], (const struct sockaddr *)&a, 0), 0);
        assert_int_equal(uv_udp_recv_start(socks[i], udp_alloc, udp_srv_recv), 0);
    }
    struct sockaddr_in a;
    int len = sizeof a;
    uv_udp_getsockname(&s->udp, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
}

static void udp_srv_stop(udp_srv *s)
{
    uv_close((uv_handle_t *)&s->udp, NULL);
    uv_close((uv_handle_t *)&s->alt, NULL);
}

/* ---- a fake HTTP tracker ---- */

typedef struct http_srv http_srv;
typedef struct http_conn {
    uv_tcp_t tcp;
    http_srv *srv;
    char buf[8192];
    size_t len;
    bool answered, closing;
    struct http_conn *next;
} http_conn;

/* Returns the raw response for a request head (malloc'd), or NULL to stay silent. */
typedef char *(*http_handler)(http_srv *s, const char *head, size_t *len);

struct http_srv {
    uv_tcp_t tcp;
    uint16_t port;
    http_handler handler;
    int hits;
    char last[8192]; /* the last request head */
    char events[256]; /* the event= values seen, comma-separated */
    http_conn *conns;
};

static void conn_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    http_srv *s = c->srv;
    for (http_conn **pp = &s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    free(c);
}

static void conn_close(http_conn *c)
{
    if (c->closing) return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

typedef struct write_req {
    uv_write_t w;
    char *data;
    http_conn *c;
} write_req;

static void on_written(uv_write_t *w, int status)
{
    write_req *wr = (write_req *)w;
    free(wr->data);
    conn_close(wr->c);
    free(wr);
}

static void http_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    http_conn *c = h->data;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - 1 - c->len));
}

static void http_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    http_conn *c = st->data;
    if (n < 0) return conn_close(c);
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end || c->answered) return;
    c->answered = true;
    http_srv *s = c->srv;
    s->hits++;
    snprintf(s->last, sizeof s->last, "%.*s", (int)(end - c->buf), c->buf);
    const char *ev = strstr(c->buf, "&event=");
    if (ev && ev < end) {
        size_t k = strcspn(ev + 7, "& ");
        snprintf(s->events + strlen(s->events), sizeof s->events - strlen(s->events), "%.*s,", (int)k, ev + 7);
    }
    size_t len = 0;
    char *resp = s->handler(s, c->buf, &len);
    if (!resp) return; /* silent: keep the connection open */
    write_req *wr = calloc(1, sizeof *wr);
    wr->data = resp;
    wr->c = c;
    uv_buf_t buf = uv_buf_init(resp, (unsigned)len);
    assert_int_equal(uv_write(&wr->w, st, &buf, 1, on_written), 0);
}

static void on_http_conn(uv_stream_t *server, int status)
{
    http_srv *s = server->data;
    http_conn *c = calloc(1, sizeof *c);
    c->srv = s;
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    s->conns = c;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    uv_read_start((uv_stream_t *)&c->tcp, http_alloc, http_read);
}

static void http_srv_start(http_srv *s, http_handler h)
{
    memset(s, 0, sizeof *s);
    s->handler = h;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, &s->tcp);
    s->tcp.data = s;
    assert_int_equal(uv_tcp_bind(&s->tcp, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 16, on_http_conn), 0);
    int len = sizeof a;
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
}

static void http_srv_stop(http_srv *s)
{
    for (http_conn *c = s->conns; c; c = c->next) conn_close(c);
    uv_close((uv_handle_t *)&s->tcp, NULL);
}

static char *make_resp(size_t *len, const char *status, const char *extra_headers, const void *body, size_t blen)
{
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     blen, extra_headers);
    char *r = malloc((size_t)n + blen);
    memcpy(r, head, (size_t)n);
    memcpy(r + n, body, blen);
    *len = (size_t)n + blen;
    return r;
}

static const char OK_BODY[] = "d8:completei3e10:incompletei4e8:intervali60e12:min intervali30e"
                              "5:peers6:\x0a\x01\x02\x03\x11\xd7" "e";

static char *h_ok(http_srv *s, const char *req, size_t *len)
{
    return make_resp(len, "200 OK", "Content-Type: text/plain\r\n", OK_BODY, sizeof OK_BODY - 1);
}
static char *h_404(http_srv *s, const char *req, size_t *len)
{
    return make_resp(len, "404 Not Found", "", "nope", 4);
}
static char *h_403_reason(http_srv *s, const char *req, size_t *len)
{
    static const char b[] = "d14:failure reason6:bannede";
    return make_resp(len, "403 Forbidden", "", b, sizeof b - 1);
}
static char *h_failure(http_srv *s, const char *req, size_t *len)
{
    static const char b[] = "d14:failure reason22:torrent not registerede";
    return make_resp(len, "200 OK", "", b, sizeof b - 1);
}
static char *h_silent(http_srv *s, const char *req, size_t *len) { return NULL; }
static char *h_huge(http_srv *s, const char *req, size_t *len)
{
    /* no Content-Length: the cap must come from counting bytes */
    size_t body = BTT_TRACKER_MAX_BODY + 4096;
    static const char head[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    char *r = malloc(sizeof head - 1 + body);
    memcpy(r, head, sizeof head - 1);
    memset(r + sizeof head - 1, 'x', body);
    *len = sizeof head - 1 + body;
    return r;
}
static char *h_huge_declared(http_srv *s, const char *req, size_t *len)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\nConnection: close\r\n\r\nd";
    *len = sizeof head - 1;
    return strdup(head);
}
static char *h_gzip(http_srv *s, const char *req, size_t *len)
{
    /* gzip of d8:intervali77e5:peers6:<10.1.2.3:4567>e */
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0xb1, 0xb0,
                                 0xca, 0xcc, 0x2b, 0x49, 0x2d, 0x2a, 0x4b, 0xcc, 0xc9, 0x34, 0x37, 0x4f, 0x35,
                                 0xb5, 0x2a, 0x48, 0x4d, 0x2d, 0x2a, 0x36, 0xb3, 0xe2, 0x62, 0x64, 0x62, 0x16,
                                 0xbc, 0x9e, 0x0a, 0x00, 0x8d, 0xb4, 0x7b, 0x39, 0x1f, 0x00, 0x00, 0x00};
    if (!strcasestr(req, "\r\nAccept-Encoding:")) return make_resp(len, "400 Bad Request", "", "", 0);
    return make_resp(len, "200 OK", "Content-Encoding: gzip\r\n", gz, sizeof gz);
}
static char *h_redirect(http_srv *s, const char *req, size_t *len)
{
    if (strncmp(req, "GET /final?", 11) == 0) return h_ok(s, req, len);
    char loc[128];
    snprintf(loc, sizeof loc, "Location: http://127.0.0.1:%u/final?x=1\r\n", s->port);
    return make_resp(len, "302 Found", loc, "", 0);
}
static char *h_redirect_loop(http_srv *s, const char *req, size_t *len)
{
    return make_resp(len, "302 Found", "Location: /again\r\n", "", 0);
}
static char *h_redirect_file(http_srv *s, const char *req, size_t *len)
{
    return make_resp(len, "302 Found", "Location: file:///etc/passwd\r\n", "", 0);
}
static char *h_scrape(http_srv *s, const char *req, size_t *len)
{
    char body[128];
    int n = snprintf(body, sizeof body, "d5:filesd20:");
    memcpy(body + n, HASH, 20);
    n += 20;
    n += snprintf(body + n, sizeof body - (size_t)n, "d8:completei1e10:downloadedi2e10:incompletei3eeee");
    return make_resp(len, "200 OK", "", body, (size_t)n);
}

/* ---- results ---- */

typedef struct result {
    bool done;
    int calls;
    btt_err err;
    char msg[512];
    btt_announce_resp resp; /* copied scalars and the first peer */
    btt_addr peer0;
    btt_scrape_resp scrape;
    uint64_t at;
} result;

static void on_announce(void *ud, btt_err e, const btt_announce_resp *r, const char *msg)
{
    result *res = ud;
    res->calls++;
    res->done = true;
    res->err = e;
    res->at = uv_now(&loop);
    snprintf(res->msg, sizeof res->msg, "%s", msg ? msg : "");
    if (e == BTT_OK) {
        assert_non_null(r);
        assert_null(msg);
        res->resp = *r;
        res->resp.peers = NULL;
        res->resp.tracker_id = res->resp.warning = NULL;
        if (r->num_peers) res->peer0 = r->peers[0];
    } else {
        assert_null(r);
        assert_non_null(msg);
    }
}

static void on_scrape(void *ud, btt_err e, const btt_scrape_resp *r, const char *msg)
{
    result *res = ud;
    res->calls++;
    res->done = true;
    res->err = e;
    snprintf(res->msg, sizeof res->msg, "%s", msg ? msg : "");
    if (e == BTT_OK) res->scrape = *r;
}

static btt_announce_req areq(btt_announce_event ev)
{
    btt_announce_req r;
    memset(&r, 0, sizeof r);
    memcpy(r.info_hash, HASH, 20);
    memcpy(r.peer_id, "-BT0001-abcdefghijkl", 20);
    r.port = 6881;
    r.left = 100;
    r.event = ev;
    r.numwant = 50;
    r.key = 42;
    return r;
}

static btt_tracker_client *client_new(uint32_t udp_ms, uint32_t retries, uint32_t http_ms)
{
    btt_tracker_opts o = {.udp_timeout_ms = udp_ms, .udp_max_retries = retries, .http_timeout_ms = http_ms,
                          .user_agent = "btt-test/1"};
    btt_tracker_client *c = NULL;
    btt_error err = {0};
    OK(btt_tracker_client_new(&loop, &o, &c, &err));
    return c;
}

/* Closes everything and checks no handle is left behind. */
static void teardown_loop(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    loop_open = false;
}

static void open_loop(void)
{
    if (loop_open) return;
    assert_int_equal(uv_loop_init(&loop), 0);
    loop_open = true;
}

static int setup(void **st)
{
    open_loop();
    return 0;
}

/* Every test closes its loop itself; one still open here belongs to a test that failed in the
 * middle, with handles on its dead stack frames. It is abandoned (its memory and descriptors
 * leak) so the next test starts on a fresh loop instead of crashing or hanging. */
static int teardown(void **st)
{
    loop_open = false;
    return 0;
}

static void on_sleep(uv_timer_t *t) { *(bool *)t->data = true; }

/* Runs the loop for ms milliseconds. */
static void run_for(uint64_t ms)
{
    bool done = false;
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &done;
    uv_timer_start(&t, on_sleep, ms, 0);
    while (!done) uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static void announce_ok(btt_tracker_client *c, const char *url, result *res)
{
    memset(res, 0, sizeof *res);
    btt_announce_req r = areq(BTT_EVENT_STARTED);
    OK(btt_tracker_announce(c, url, &r, on_announce, res, NULL));
    run_until(&res->done);
}

/* ---- UDP tests ---- */

static void test_udp_announce_scrape(void **st)
{
    udp_srv s;
    udp_srv_start(&s);
    btt_tracker_client *c = client_new(200, 2, 0);
    char url[64];
    snprintf(url, sizeof url, "udp://127.0.0.1:%u/announce", s.port);
    result res;
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_OK);
    assert_int_equal(res.resp.interval, 900);
    assert_int_equal(res.resp.incomplete, 1);
    assert_int_equal(res.resp.complete, 2);
    assert_int_equal(res.resp.num_peers, 1);
    char a[BTT_ADDR_STRLEN];
    assert_string_equal(btt_addr_format(&res.peer0, a), "10.1.2.3:4567");
    assert_int_equal(s.last_event, 2);
    assert_int_equal(s.last_numwant, 50);
    assert_int_equal(s.connects, 1);

    /* "A client can use a connection ID until one minute after it has received it." */
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_OK);
    assert_int_equal(s.connects, 1);
    assert_int_equal(s.announces, 2);

    memset(&res, 0, sizeof res);
    OK(btt_tracker_scrape(c, url, HASH, on_scrape, &res, NULL));
    run_until(&res.done);
    assert_int_equal(res.err, BTT_OK);
    assert_int_equal(res.scrape.complete, 5);
    assert_int_equal(res.scrape.downloaded, 6);
    assert_int_equal(res.scrape.incomplete, 7);
    assert_int_equal(s.connects, 1);

    btt_tracker_client_close(c);
    udp_srv_stop(&s);
    teardown_loop();
    assert_int_equal(res.calls, 1);
}

static void test_udp_retransmit_and_timeout(void **st)
{
    udp_srv s;
    udp_srv_start(&s);
    s.drop_connects = 1; /* the first connect is lost */
    btt_tracker_client *c = client_new(100, 2, 0);
    char url[64];
    snprintf(url, sizeof url, "udp://127.0.0.1:%u", s.port);
    result res;
    uint64_t t0 = uv_now(&loop);
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_OK);
    assert_int_equal(s.connects, 2);
    assert_true(res.at - t0 >= 100);

    /* a tracker that never answers: 1 + 2 retries after 100, 200, 400 ms */
    udp_srv q;
    udp_srv_start(&q);
    q.silent = true;
    snprintf(url, sizeof url, "udp://127.0.0.1:%u", q.port);
    uv_update_time(&loop);
    t0 = uv_now(&loop);
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_ETIMEDOUT);
    assert_non_null(strstr(res.msg, "3 attempts"));
    assert_int_equal(q.packets, 3);
    uint64_t took = res.at - t0;
    if (took < 650 || took > 3000) fail_msg("timed out after %llu ms, expected about 700", (unsigned long long)took);

    btt_tracker_client_close(c);
    udp_srv_stop(&s);
    udp_srv_stop(&q);
    teardown_loop();
}

static void test_udp_bad_replies(void **st)
{
    udp_srv s;
    udp_srv_start(&s);
    btt_tracker_client *c = client_new(150, 1, 0);
    char url[64];
    snprintf(url, sizeof url, "udp://127.0.0.1:%u", s.port);
    result res;

    /* a reply with a wrong transaction id is dropped; the right one is taken */
    s.wrong_txid_first = true;
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_OK);
    assert_int_equal(res.calls, 1);
    s.wrong_txid_first = false;

    /* a reply from another address is dropped: the request times out */
    s.from_alt = true;
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_ETIMEDOUT);
    s.from_alt = false;

    /* an error action carries the tracker's message */
    s.error_announce = true;
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_ETRACKER);
    assert_string_equal(res.msg, "go away");
    s.error_announce = false;

    /* a short announce reply; after the error above the connection id was asked for again */
    int before = s.connects;
    s.short_announce = true;
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_EPROTO);
    assert_non_null(strstr(res.msg, "10 bytes"));
    s.short_announce = false;
    assert_int_equal(s.connects, before + 1);

    /* a tracker that forgot our connection id says so; we get the message */
    s.conn_id ^= 0xff;
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_ETRACKER);
    assert_string_equal(res.msg, "bad connection id");
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_OK);

    btt_tracker_client_close(c);
    udp_srv_stop(&s);
    teardown_loop();
}

static void test_udp_hostname(void **st)
{
    udp_srv s;
    udp_srv_start(&s);
    /* the same port on ::1 too, when IPv6 is there, so "localhost" works either way */
    udp_srv s6;
    memset(&s6, 0, sizeof s6);
    bool have6 = false;
    struct sockaddr_in6 a6;
    uv_ip6_addr("::1", s.port, &a6);
    uv_udp_init(&loop, &s6.udp);
    uv_udp_init(&loop, &s6.alt);
    s6.udp.data = s6.alt.data = &s6;
    s6.conn_id = 0x0102030405060708ULL;
    if (uv_udp_bind(&s6.udp, (const struct sockaddr *)&a6, UV_UDP_IPV6ONLY) == 0) {
        have6 = true;
        uv_udp_recv_start(&s6.udp, udp_alloc, udp_srv_recv);
    }
    btt_tracker_client *c = client_new(200, 1, 0);
    char url[64];
    snprintf(url, sizeof url, "udp://localhost:%u/announce", s.port);
    result res;
    announce_ok(c, url, &res);
    assert_int_equal(res.err, BTT_OK);
    assert_int_equal(s.announces + s6.announces, 1);

    /* bad URLs fail at once, with no callback */
    btt_announce_req r = areq(BTT_EVENT_NONE);
    assert_int_equal(btt_tracker_announce(c, "udp://127.0.0.1", &r, on_announce, &res, NULL), BTT_EINVAL);
    assert_int_equal(btt_tracker_announce(c, "udp://127.0.0.1:0", &r, on_announce, &res, NULL), BTT_EINVAL);
    assert_int_equal(btt_tracker_announce(c, "udp://127.0.0.1:70000", &r, on_announce, &res, NULL), BTT_EINVAL);
    assert_int_equal(btt_tracker_announce(c, "udp://:80", &r, on_announce, &res, NULL), BTT_EINVAL);
    assert_int_equal(btt_tracker_announce(c, "ftp://x/announce", &r, on_announce, &res, NULL), BTT_EINVAL);
    assert_int_equal(btt_tracker_scrape(c, "http://x/a", HASH, on_scrape, &res, NULL), BTT_EINVAL);
    /* (no test of a name that fails to resolve: that would ask a DNS server off this host) */

    btt_tracker_client_close(c);
    udp_srv_stop(&s);
    uv_close((uv_handle_t *)&s6.udp, NULL);
    uv_close((uv_handle_t *)&s6.alt, NULL);
    (void)have6;
    teardown_loop();
}

/* ---- HTTP tests ---- */

static void http_case(http_handler h, uint32_t http_ms, btt_err want, const char *msg_sub, result *res,
                      http_srv *s_out)
{
    open_loop();
    http_srv s;
    http_srv_start(&s, h);
    btt_tracker_client *c = client_new(0, 0, http_ms);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/announce?passkey=p", s.port);
    announce_ok(c, url, res);
    if (res->err != want) fail_msg("expected %s, got %s: %s", btt_err_name(want), btt_err_name(res->err), res->msg);
    if (msg_sub && !strstr(res->msg, msg_sub)) fail_msg("message '%s' lacks '%s'", res->msg, msg_sub);
    btt_tracker_client_close(c);
    http_srv_stop(&s);
    teardown_loop();
    assert_int_equal(res->calls, 1);
    if (s_out) *s_out = s;
}

static void test_http_ok(void **st)
{
    result res;
    http_srv s;
    http_case(h_ok, 0, BTT_OK, NULL, &res, &s);
    assert_int_equal(res.resp.interval, 60);
    assert_int_equal(res.resp.min_interval, 30);
    assert_int_equal(res.resp.complete, 3);
    assert_int_equal(res.resp.incomplete, 4);
    assert_int_equal(res.resp.num_peers, 1);
    char a[BTT_ADDR_STRLEN];
    assert_string_equal(btt_addr_format(&res.peer0, a), "10.1.2.3:4567");
    /* the request line: existing query kept, binary hash percent-encoded */
    if (strncmp(s.last, "GET /announce?passkey=p&info_hash=%00%11%223DUfw%88%99%AA%BB%CC%DD%EE%FF%01%02%03%04"
                       "&peer_id=-BT0001-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=100&compact=1"
                       "&event=started&numwant=50&key=0000002A HTTP/1.1\r\n",
                strlen("GET /announce?passkey=p&info_hash=%00%11%223DUfw%88%99%AA%BB%CC%DD%EE%FF%01%02%03%04"
                       "&peer_id=-BT0001-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=100&compact=1"
                       "&event=started&numwant=50&key=0000002A HTTP/1.1\r\n")) != 0)
        fail_msg("request was:\n%s", s.last);
    assert_non_null(strstr(s.last, "\r\nUser-Agent: btt-test/1"));
}

static void test_http_errors(void **st)
{
    result res;
    http_case(h_404, 0, BTT_ETRACKER, "HTTP 404", &res, NULL);
    assert_string_equal(res.msg, "HTTP 404");
    http_case(h_403_reason, 0, BTT_ETRACKER, "HTTP 403: banned", &res, NULL);
    http_case(h_failure, 0, BTT_ETRACKER, NULL, &res, NULL);
    assert_string_equal(res.msg, "torrent not registered");
    http_case(h_huge, 0, BTT_ETOOBIG, NULL, &res, NULL);
    http_case(h_huge_declared, 0, BTT_ETOOBIG, NULL, &res, NULL);
    http_case(h_silent, 300, BTT_ETIMEDOUT, NULL, &res, NULL);
    http_case(h_redirect_loop, 0, BTT_ENET, "redirect", &res, NULL);
    http_case(h_redirect_file, 0, BTT_ENET, NULL, &res, NULL);
    /* nothing listening */
    open_loop();
    btt_tracker_client *c = client_new(0, 0, 0);
    announce_ok(c, "http://127.0.0.1:1/announce", &res);
    assert_int_equal(res.err, BTT_ENET);
    btt_tracker_client_close(c);
    teardown_loop();
}

static void test_http_gzip_redirect_scrape(void **st)
{
    result res;
    http_case(h_gzip, 0, BTT_OK, NULL, &res, NULL);
    assert_int_equal(res.resp.interval, 77);
    assert_int_equal(res.resp.num_peers, 1);
    http_srv s;
    http_case(h_redirect, 0, BTT_OK, NULL, &res, &s);
    assert_int_equal(s.hits, 2);
    assert_int_equal(res.resp.interval, 60);

    open_loop();
    http_srv_start(&s, h_scrape);
    btt_tracker_client *c = client_new(0, 0, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/announce.php", s.port);
    memset(&res, 0, sizeof res);
    OK(btt_tracker_scrape(c, url, HASH, on_scrape, &res, NULL));
    run_until(&res.done);
    assert_int_equal(res.err, BTT_OK);
    assert_int_equal(res.scrape.complete, 1);
    assert_int_equal(res.scrape.downloaded, 2);
    assert_int_equal(res.scrape.incomplete, 3);
    assert_non_null(strstr(s.last, "GET /scrape.php?info_hash=%00%11"));
    btt_tracker_client_close(c);
    http_srv_stop(&s);
    teardown_loop();
}

/* ---- cancellation and closing ---- */

static void test_cancel_and_close(void **st)
{
    http_srv hs;
    http_srv_start(&hs, h_silent);
    udp_srv us;
    udp_srv_start(&us);
    us.silent = true;
    btt_tracker_client *c = client_new(100, 8, 0);
    char hurl[64], uurl[64];
    snprintf(hurl, sizeof hurl, "http://127.0.0.1:%u/announce", hs.port);
    snprintf(uurl, sizeof uurl, "udp://127.0.0.1:%u", us.port);
    btt_announce_req r = areq(BTT_EVENT_NONE);

    /* cancelled requests never call back */
    result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
    btt_tracker_req *q1, *q2;
    OK(btt_tracker_announce(c, hurl, &r, on_announce, &r1, &q1));
    OK(btt_tracker_announce(c, uurl, &r, on_announce, &r2, &q2));
    while (hs.hits == 0 || us.packets == 0) uv_run(&loop, UV_RUN_ONCE);
    btt_tracker_cancel(q1);
    btt_tracker_cancel(q2);
    int packets = us.packets;
    run_for(250); /* past the first retransmission time */
    assert_int_equal(us.packets, packets);
    assert_int_equal(r1.calls + r2.calls, 0);

    /* requests still in flight at close get BTT_ECANCELED */
    OK(btt_tracker_announce(c, hurl, &r, on_announce, &r3, NULL));
    OK(btt_tracker_scrape(c, uurl, HASH, on_scrape, &r4, NULL));
    while (hs.hits < 2) uv_run(&loop, UV_RUN_ONCE);
    btt_tracker_client_close(c);
    assert_true(r3.done && r4.done);
    assert_int_equal(r3.err, BTT_ECANCELED);
    assert_int_equal(r4.err, BTT_ECANCELED);
    http_srv_stop(&hs);
    udp_srv_stop(&us);
    teardown_loop();
    assert_int_equal(r1.calls + r2.calls, 0);
    assert_int_equal(r3.calls, 1);
    assert_int_equal(r4.calls, 1);
}

/* A callback that closes the client while the loop is inside libcurl's result handling. */
static btt_tracker_client *close_me;
static void on_announce_close(void *ud, btt_err e, const btt_announce_resp *r, const char *msg)
{
    on_announce(ud, e, r, msg);
    btt_tracker_client_close(close_me);
    btt_announce_req q = areq(BTT_EVENT_NONE);
    assert_int_equal(btt_tracker_announce(close_me, "http://127.0.0.1:1/", &q, on_announce, ud, NULL),
                     BTT_ECANCELED);
}

static void test_close_from_callback(void **st)
{
    http_srv hs;
    http_srv_start(&hs, h_ok);
    udp_srv us;
    udp_srv_start(&us);
    char url[64];
    btt_announce_req r = areq(BTT_EVENT_NONE);
    for (int i = 0; i < 2; i++) {
        close_me = client_new(100, 2, 0);
        if (i == 0) snprintf(url, sizeof url, "http://127.0.0.1:%u/announce", hs.port);
        else snprintf(url, sizeof url, "udp://127.0.0.1:%u", us.port);
        result a = {0}, b = {0};
        OK(btt_tracker_announce(close_me, url, &r, on_announce_close, &a, NULL));
        OK(btt_tracker_announce(close_me, url, &r, on_announce, &b, NULL));
        run_until(&a.done);
        assert_int_equal(a.err, BTT_OK);
        /* the other request was cancelled by the close, with a callback */
        assert_true(b.done);
        assert_true(b.err == BTT_ECANCELED || b.err == BTT_OK);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    http_srv_stop(&hs);
    udp_srv_stop(&us);
    teardown_loop();
}

/* ---- the announcer ---- */

typedef struct an_state {
    int peer_lists, statuses;
    bool done;
    char last_status[600];
    btt_announcer *a;
} an_state;

static void an_stats(void *ud, btt_announcer_stats *out)
{
    out->uploaded = 1;
    out->downloaded = 2;
    out->left = 3;
}
static void an_peers(void *ud, const btt_addr *p, size_t n)
{
    an_state *s = ud;
    s->peer_lists++;
    assert_int_equal(n, 1);
}
static void an_status(void *ud, const char *url, btt_err e, const char *msg)
{
    an_state *s = ud;
    s->statuses++;
    snprintf(s->last_status, sizeof s->last_status, "%s %s %s", url, btt_err_name(e), msg);
}
static void an_done(void *ud)
{
    an_state *s = ud;
    s->done = true;
}

static void test_announcer_tiers(void **st)
{
    http_srv bad, good;
    http_srv_start(&bad, h_404);
    http_srv_start(&good, h_ok);
    udp_srv dead;
    udp_srv_start(&dead);
    dead.silent = true;
    btt_tracker_client *c = client_new(100, 8, 0);
    char u_dead[64], u_bad[64], u_good[64];
    snprintf(u_dead, sizeof u_dead, "udp://127.0.0.1:%u", dead.port);
    snprintf(u_bad, sizeof u_bad, "http://127.0.0.1:%u/announce", bad.port);
    snprintf(u_good, sizeof u_good, "http://127.0.0.1:%u/announce", good.port);
    /* tier 1: a dead UDP tracker; tier 2: a 404 and a working tracker in random order */
    char *t1[] = {u_dead}, *t2[] = {u_bad, u_good};
    btt_tier tiers[2] = {{t1, 1}, {t2, 2}};
    an_state s = {0};
    btt_announcer_cbs cbs = {.ud = &s, .stats = an_stats, .peers = an_peers, .status = an_status};
    btt_error err = {0};
    uint8_t pid[20];
    memcpy(pid, "-BT0001-announcer123", 20);
    OK(btt_announcer_new(c, tiers, 2, HASH, pid, 6881, &cbs, &s.a, &err));
    while (s.peer_lists < 1) uv_run(&loop, UV_RUN_ONCE);
    /* the dead tracker got three transmissions (waits of 100, 200, 400 ms) before the walk moved on */
    assert_true(dead.packets >= 3 && dead.packets <= 4);
    assert_true(s.statuses >= 1);
    assert_int_equal(good.hits, 1);
    assert_string_equal(good.events, "started,");
    int bad_hits = bad.hits;

    btt_announcer_completed(s.a);
    btt_announcer_completed(s.a);
    btt_announcer_want_peers(s.a); /* too early (min interval 30 s): nothing */
    while (s.peer_lists < 2) uv_run(&loop, UV_RUN_ONCE);
    assert_string_equal(good.events, "started,completed,");
    /* the working URL moved to the front of its tier: the 404 tracker was not asked again */
    assert_int_equal(bad.hits, bad_hits);
    assert_non_null(strstr(good.last, "&uploaded=1&downloaded=2&left=3&"));

    btt_announcer_stop(s.a, 2000, an_done, &s);
    run_until(&s.done);
    assert_string_equal(good.events, "started,completed,stopped,");
    assert_non_null(strstr(good.last, "&numwant=0&"));

    btt_tracker_client_close(c);
    http_srv_stop(&bad);
    http_srv_stop(&good);
    udp_srv_stop(&dead);
    teardown_loop();
}

static void test_announcer_stop_unanswered(void **st)
{
    http_srv good;
    http_srv_start(&good, h_ok);
    btt_tracker_client *c = client_new(100, 8, 0);
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%u/announce", good.port);
    char *t[] = {u};
    btt_tier tier = {t, 1};
    an_state s = {0};
    btt_announcer_cbs cbs = {.ud = &s, .stats = an_stats, .peers = an_peers, .status = an_status};
    OK(btt_announcer_new(c, &tier, 1, HASH, (const uint8_t *)"-BT0001-announcer123", 6881, &cbs, &s.a, NULL));
    while (s.peer_lists < 1) uv_run(&loop, UV_RUN_ONCE);
    /* the tracker now hangs: stop gives up after its timeout */
    good.handler = h_silent;
    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    btt_announcer_stop(s.a, 200, an_done, &s);
    run_until(&s.done);
    assert_true(uv_now(&loop) - t0 >= 190);
    assert_string_equal(good.events, "started,stopped,");

    /* an announcer that never reached a tracker stops at once; one orphaned by the client's
     * close can still be stopped */
    an_state s2 = {0};
    char *t2[] = {"udp://127.0.0.1:1"};
    btt_tier tier2 = {t2, 1};
    OK(btt_announcer_new(c, &tier2, 1, HASH, (const uint8_t *)"-BT0001-announcer123", 6881, &cbs, &s2.a, NULL));
    uv_run(&loop, UV_RUN_NOWAIT);
    btt_tracker_client_close(c);
    btt_error err = {0};
    btt_announcer *none = NULL;
    assert_int_equal(btt_announcer_new(c, &tier, 1, HASH, (const uint8_t *)"-BT0001-announcer123", 1, &cbs, &none,
                                       &err),
                     BTT_ECANCELED);
    btt_announcer_stop(s2.a, 5000, an_done, &s2);
    run_until(&s2.done);
    http_srv_stop(&good);
    teardown_loop();
}

static void test_announcer_no_urls(void **st)
{
    btt_tracker_client *c = client_new(0, 0, 0);
    btt_error err = {0};
    btt_announcer *a = NULL;
    btt_announcer_cbs cbs = {.stats = an_stats, .peers = an_peers};
    btt_tier empty = {NULL, 0};
    assert_int_equal(btt_announcer_new(c, &empty, 1, HASH, (const uint8_t *)"-BT0001-announcer123", 1, &cbs, &a, &err),
                     BTT_EINVAL);
    assert_null(a);
    btt_tracker_client_close(c);
    teardown_loop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_udp_announce_scrape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_retransmit_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_bad_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_hostname, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_gzip_redirect_scrape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_announcer_tiers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_announcer_stop_unanswered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_announcer_no_urls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
