/* server.c - the tracker server's I/O shell (btt/tracker_server.h).
 *
 * One thread runs one libuv loop that owns the swarm tables, so nothing is locked. UDP is a
 * plain non-blocking socket watched with uv_poll: when readable, up to BATCH datagrams are taken
 * with one recvmmsg and all replies leave with one sendmmsg (a reply that would block is
 * dropped: UDP clients retry). HTTP is libuv TCP with the parser of proto.c; each connection
 * has a fixed buffer of BTT_TRK_HTTP_HEAD_MAX bytes, replies are written with uv_try_write and
 * only the rest (rare) is copied for a uv_write, during which reading pauses. */
#include "btt/tracker_server.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "btt/tracker_proto.h"

enum { LINGER_MS = 2000, BATCH = 64, UDP_ROUNDS = 16, UDP_IN = 2048, UDP_OUT = 2048, RL_SLOTS = 1 << 16, HDR_ROOM = 256 };

typedef struct conn conn;

typedef struct rl_ent {
    uint64_t tag;
    uint64_t last_ms;
    uint64_t milli; /* tokens in 1/1000 of a request */
} rl_ent;

struct btt_tracker_server {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop_async;
    uv_async_t reload_async; /* btt_tracker_server_reload_whitelist: the loop thread does it */
    uv_mutex_t reload_mu;
    uv_cond_t reload_cv;
    struct {
        const char *text;
        size_t len;
        bool pending;
        btt_err result;
        size_t dropped;
        btt_error err;
    } reload;
    uv_timer_t tick;
    btt_trk *trk;
    btt_tracker_server_config cfg;
    uint64_t start_ms;

    bool have_http, have_udp;
    uv_tcp_t listener;
    char http_addr[BTT_ADDR_STRLEN], udp_addr[BTT_ADDR_STRLEN];

    int udp_fd;
    uv_poll_t udp_poll;
    uint8_t connid_key[16];

    conn *conns; /* doubly linked */
    unsigned nconns;

    rl_ent *rl;
    uint8_t rl_key[crypto_shorthash_KEYBYTES];

    /* scratch, used on the loop thread only */
    char out[HDR_ROOM + BTT_TRK_REPLY_MAX];
    uint8_t p4[6 * BTT_TRK_NUMWANT_MAX], p6[18 * BTT_TRK_NUMWANT_MAX];
    uint64_t b4[BTT_TRK_NUMWANT_MAX], b6[BTT_TRK_NUMWANT_MAX];
    uint8_t udp_in[BATCH][UDP_IN];
    uint8_t udp_out[BATCH][UDP_OUT];
    struct sockaddr_storage udp_from[BATCH];
    struct mmsghdr msg_in[BATCH], msg_out[BATCH];
    struct iovec iov_in[BATCH], iov_out[BATCH];

    struct {
        uint64_t accepted, refused, requests, bad, rate_limited, timeouts, full_scrapes;
    } http;
    struct {
        uint64_t packets, connects, announces, scrapes, errors, bad_connid, rate_limited, dropped;
    } udp;
};

struct conn {
    uv_tcp_t tcp;
    btt_tracker_server *s;
    conn *prev, *next;
    btt_addr peer;
    uint64_t first_ms, last_ms;
    size_t len;
    bool writing, close_after, closing, lingering;
    uv_shutdown_t shut;
    char buf[BTT_TRK_HTTP_HEAD_MAX];
};

typedef struct wreq {
    uv_write_t w;
    conn *c;
    char data[];
} wreq;

static uint64_t now_ms(btt_tracker_server *s) { return uv_now(&s->loop) - s->start_ms; }
/* The core's clock: seconds, starting at 1. */
static uint64_t now_s(btt_tracker_server *s) { return now_ms(s) / 1000 + 1; }

/* ---- rate limit: a token bucket per address in a fixed table (a colliding address takes the
 * slot over with a full bucket: lossy, but memory stays fixed) ---- */

static bool rl_allow(btt_tracker_server *s, const btt_addr *a)
{
    uint32_t rate = s->cfg.rate_limit;
    if (!rate) return true;
    uint8_t m[17];
    m[0] = a->family;
    memcpy(m + 1, a->ip, 16);
    if (a->family == 4) memset(m + 5, 0, 12);
    uint64_t tag;
    crypto_shorthash((uint8_t *)&tag, m, sizeof m, s->rl_key);
    rl_ent *e = &s->rl[tag & (RL_SLOTS - 1)];
    uint64_t t = now_ms(s), burst = (uint64_t)rate * 2000;
    if (e->tag != tag) {
        e->tag = tag;
        e->last_ms = t;
        e->milli = burst;
    } else {
        uint64_t add = (t - e->last_ms) * rate; /* rate per s = rate milli-requests per ms */
        e->milli = e->milli + add > burst ? burst : e->milli + add;
        e->last_ms = t;
    }
    if (e->milli < 1000) return false;
    e->milli -= 1000;
    return true;
}

/* ---- UDP ---- */

static size_t udp_handle(btt_tracker_server *s, const uint8_t *p, size_t len, const btt_addr *from, uint8_t *out)
{
    btt_trk_udp_req r;
    const char *failure = "malformed request";
    btt_trk_udp_result res = btt_trk_udp_parse(p, len, &r, &failure);
    if (res == BTT_TRK_UDP_IGNORE) {
        s->udp.dropped++;
        return 0;
    }
    if (!rl_allow(s, from)) {
        s->udp.rate_limited++;
        return 0; /* no reply: a reply to a flood (or to a spoofed source) helps nobody */
    }
    if (res == BTT_TRK_UDP_ERROR) {
        s->udp.errors++;
        return btt_trk_udp_error_reply(out, UDP_OUT, r.txid, failure);
    }
    uint64_t now = now_s(s);
    if (r.action == 0) {
        s->udp.connects++;
        return btt_trk_udp_connect_reply(out, r.txid, btt_trk_udp_connid(s->connid_key, from, now));
    }
    if (!btt_trk_udp_connid_ok(s->connid_key, from, now, r.conn_id)) {
        s->udp.bad_connid++;
        return btt_trk_udp_error_reply(out, UDP_OUT, r.txid, "invalid connection id");
    }
    btt_trk_counts c;
    if (r.action == 1) {
        s->udp.announces++;
        btt_trk_announce *a = &r.ann;
        a->addr.family = from->family;
        memcpy(a->addr.ip, from->ip, 16);
        size_t stride = from->family == 6 ? 18 : 6, room = (UDP_OUT - 20) / stride;
        if (a->numwant < 0 || (uint64_t)a->numwant > room) {
            int64_t dflt = (int64_t)(s->cfg.core.numwant_default ? s->cfg.core.numwant_default
                                                                 : BTT_TRK_NUMWANT_DEFAULT);
            a->numwant = a->numwant < 0 && (uint64_t)dflt <= room ? dflt : (int64_t)room;
        }
        btt_trk_peers pe = {s->p4, s->p6, NULL, NULL, 0, 0, from->family == 6 ? 2u : 1u};
        if (btt_trk_announce_do(s->trk, a, now, &pe, &c, &failure) != BTT_OK) {
            s->udp.errors++;
            return btt_trk_udp_error_reply(out, UDP_OUT, r.txid, failure);
        }
        return btt_trk_udp_announce_reply(out, UDP_OUT, r.txid, btt_trk_interval(s->trk), &c,
                                          from->family == 6 ? s->p6 : s->p4, from->family == 6 ? pe.n6 : pe.n4,
                                          stride);
    }
    s->udp.scrapes++;
    size_t n = btt_trk_udp_scrape_reply_head(out, r.txid);
    for (size_t i = 0; i < r.nhashes; i++) {
        btt_trk_scrape(s->trk, r.hashes + 20 * i, i == 0, &c);
        n += btt_trk_udp_scrape_reply_entry(out + n, &c);
    }
    return n;
}

static void udp_readable(uv_poll_t *h, int status, int events)
{
    btt_tracker_server *s = h->data;
    if (status < 0) return;
    for (int round = 0; round < UDP_ROUNDS; round++) {
        for (int i = 0; i < BATCH; i++) {
            s->iov_in[i] = (struct iovec){s->udp_in[i], UDP_IN};
            memset(&s->msg_in[i], 0, sizeof s->msg_in[i]);
            s->msg_in[i].msg_hdr.msg_iov = &s->iov_in[i];
            s->msg_in[i].msg_hdr.msg_iovlen = 1;
            s->msg_in[i].msg_hdr.msg_name = &s->udp_from[i];
            s->msg_in[i].msg_hdr.msg_namelen = sizeof s->udp_from[i];
        }
        int n = recvmmsg(s->udp_fd, s->msg_in, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) break;
        int nout = 0;
        for (int i = 0; i < n; i++) {
            s->udp.packets++;
            btt_addr from;
            if (s->msg_in[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
            if (btt_addr_from_sockaddr((struct sockaddr *)&s->udp_from[i], &from) != BTT_OK || from.port == 0)
                continue;
            size_t len = udp_handle(s, s->udp_in[i], s->msg_in[i].msg_len, &from, s->udp_out[nout]);
            if (!len) continue;
            s->iov_out[nout] = (struct iovec){s->udp_out[nout], len};
            memset(&s->msg_out[nout], 0, sizeof s->msg_out[nout]);
            s->msg_out[nout].msg_hdr.msg_iov = &s->iov_out[nout];
            s->msg_out[nout].msg_hdr.msg_iovlen = 1;
            s->msg_out[nout].msg_hdr.msg_name = &s->udp_from[i];
            s->msg_out[nout].msg_hdr.msg_namelen = s->msg_in[i].msg_hdr.msg_namelen;
            nout++;
        }
        int sent = 0;
        while (sent < nout) {
            int k = sendmmsg(s->udp_fd, s->msg_out + sent, (unsigned)(nout - sent), MSG_DONTWAIT);
            if (k < 0) {
                if (errno == EINTR) continue;
                /* EAGAIN (send buffer full) or an unreachable destination: that reply is lost */
                s->udp.dropped++;
                sent++;
                continue;
            }
            sent += k;
        }
        if (n < BATCH) break;
    }
}

/* ---- HTTP ---- */

static void conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    free(c);
}

static void conn_close(conn *c)
{
    if (c->closing) return;
    c->closing = true;
    btt_tracker_server *s = c->s;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_process(conn *c);
static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

static void shut_done(uv_shutdown_t *r, int status)
{
    conn *c = r->data;
    if (status < 0) conn_close(c);
}

/* A graceful close: our FIN goes out after the reply, and what the client still sends is read
 * and discarded until it closes (or LINGER_MS pass). Closing with unread input would send a
 * reset, which can destroy the reply before the client reads it. */
static void conn_finish(conn *c)
{
    if (c->closing || c->lingering) return;
    c->lingering = true;
    c->last_ms = now_ms(c->s);
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, shut_done) != 0) {
        conn_close(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static void write_done(uv_write_t *w, int status)
{
    wreq *r = (wreq *)w;
    conn *c = r->c;
    free(r);
    if (c->closing) return;
    c->writing = false;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->close_after) {
        conn_finish(c);
        return;
    }
    c->last_ms = now_ms(c->s);
    conn_process(c); /* pipelined requests that waited */
    if (!c->closing && !c->writing) uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

/* Sends head + body (laid out contiguously in s->out ending at body + blen). */
static void conn_send(conn *c, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN) n = 0;
    if (n < 0) {
        conn_close(c);
        return;
    }
    if ((size_t)n == len) {
        if (c->close_after) conn_finish(c);
        return;
    }
    wreq *r = malloc(sizeof *r + len - (size_t)n);
    if (!r) {
        conn_close(c);
        return;
    }
    r->c = c;
    memcpy(r->data, data + n, len - (size_t)n);
    uv_buf_t rest = uv_buf_init(r->data, (unsigned)(len - (size_t)n));
    if (uv_write(&r->w, (uv_stream_t *)&c->tcp, &rest, 1, write_done) != 0) {
        free(r);
        conn_close(c);
        return;
    }
    c->writing = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
}

static const char *status_text(int st)
{
    switch (st) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* The body is at s->out + HDR_ROOM; the head is written right before it. */
static void conn_reply(conn *c, int status, const char *ctype, size_t blen)
{
    btt_tracker_server *s = c->s;
    char head[HDR_ROOM];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n\r\n", status,
                      status_text(status), ctype, blen, c->close_after ? "close" : "keep-alive");
    char *start = s->out + HDR_ROOM - hl;
    memcpy(start, head, (size_t)hl);
    conn_send(c, start, (size_t)hl + blen);
}

static void reply_failure(conn *c, int status, const char *reason)
{
    btt_tracker_server *s = c->s;
    size_t n = btt_trk_encode_failure(s->out + HDR_ROOM, BTT_TRK_REPLY_MAX, reason);
    conn_reply(c, status, "text/plain", n);
}

static size_t stats_json(btt_tracker_server *s, char *o, size_t cap)
{
    btt_trk_stats t;
    btt_trk_get_stats(s->trk, &t);
    int n = snprintf(
        o, cap,
        "{\"uptime_s\":%" PRIu64 ",\"interval_s\":%u,\"torrents\":%" PRIu64 ",\"peers\":%" PRIu64
        ",\"seeders\":%" PRIu64 ",\"leechers\":%" PRIu64 ",\"bidders\":%" PRIu64 ",\"completed\":%" PRIu64
        ",\"announces\":%" PRIu64 ",\"scrapes\":%" PRIu64 ",\"bidscrapes\":%" PRIu64 ",\"rejected\":%" PRIu64
        ",\"expired_peers\":%" PRIu64 ",\"evicted_peers\":%" PRIu64 ",\"evicted_torrents\":%" PRIu64
        ",\"table_bytes\":%" PRIu64 ",\"limits\":{\"max_torrents\":%zu,\"max_peers\":%zu,"
        "\"max_peers_per_torrent\":%zu,\"rate_limit\":%u,\"max_connections\":%u},"
        "\"http\":{\"connections\":%u,\"accepted\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"requests\":%" PRIu64
        ",\"bad_requests\":%" PRIu64 ",\"rate_limited\":%" PRIu64 ",\"timeouts\":%" PRIu64
        ",\"full_scrapes\":%" PRIu64 "},\"udp\":{\"packets\":%" PRIu64 ",\"connects\":%" PRIu64 ",\"announces\":%" PRIu64 ",\"scrapes\":%" PRIu64
        ",\"errors\":%" PRIu64 ",\"bad_connection_id\":%" PRIu64 ",\"rate_limited\":%" PRIu64 ",\"dropped\":%" PRIu64
        "}}\n",
        now_s(s) - 1, btt_trk_interval(s->trk), t.torrents, t.peers, t.seeders, t.leechers, t.bidders, t.completed,
        t.announces, t.scrapes, t.bidscrapes, t.rejected, t.expired_peers, t.evicted_peers, t.evicted_torrents,
        t.peer_bytes, s->cfg.core.max_torrents, s->cfg.core.max_peers, s->cfg.core.max_peers_per_torrent,
        s->cfg.rate_limit, s->cfg.max_connections, s->nconns, s->http.accepted, s->http.refused, s->http.requests,
        s->http.bad, s->http.rate_limited, s->http.timeouts, s->http.full_scrapes, s->udp.packets, s->udp.connects, s->udp.announces,
        s->udp.scrapes, s->udp.errors, s->udp.bad_connid, s->udp.rate_limited, s->udp.dropped);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static bool path_is(const btt_trk_http_req *r, const char *p)
{
    size_t n = strlen(p);
    return r->path_len == n && memcmp(r->path, p, n) == 0;
}

static void handle_request(conn *c, const btt_trk_http_req *r)
{
    btt_tracker_server *s = c->s;
    char *body = s->out + HDR_ROOM;
    const char *failure = NULL;
    s->http.requests++;
    if (!rl_allow(s, &c->peer)) {
        s->http.rate_limited++;
        reply_failure(c, 200, "rate limited: slow down");
        return;
    }
    uint64_t now = now_s(s);
    if (path_is(r, "/announce")) {
        btt_trk_announce a;
        bool compact;
        if (btt_trk_query_announce(r->query, r->query_len, &a, &compact, &failure) != BTT_OK) {
            s->http.bad++;
            reply_failure(c, 200, failure);
            return;
        }
        a.addr.family = c->peer.family;
        memcpy(a.addr.ip, c->peer.ip, 16);
        btt_trk_peers pe = {s->p4, s->p6, s->b4, s->b6, 0, 0, 3};
        btt_trk_counts cn;
        if (btt_trk_announce_do(s->trk, &a, now, &pe, &cn, &failure) != BTT_OK) {
            reply_failure(c, 200, failure);
            return;
        }
        size_t n = btt_trk_encode_announce(body, BTT_TRK_REPLY_MAX, &cn, btt_trk_interval(s->trk), &pe, compact,
                                           a.bidding);
        conn_reply(c, 200, "text/plain", n);
    } else if (path_is(r, "/scrape")) {
        uint8_t hashes[BTT_TRK_FULLSCRAPE_PAGE][20];
        btt_trk_counts cn[BTT_TRK_FULLSCRAPE_PAGE];
        size_t nh;
        uint64_t cursor, next = 0;
        if (btt_trk_query_scrape(r->query, r->query_len, hashes, &nh, &cursor, &failure) != BTT_OK) {
            s->http.bad++;
            reply_failure(c, 200, failure);
            return;
        }
        if (nh == 0) { /* a full scrape: one page of it (docs/tracker.md) */
            s->http.full_scrapes++;
            nh = btt_trk_scrape_all(s->trk, cursor, BTT_TRK_FULLSCRAPE_PAGE, hashes, cn, &next);
        } else {
            for (size_t i = 0; i < nh; i++) btt_trk_scrape(s->trk, hashes[i], i == 0, &cn[i]);
        }
        conn_reply(c, 200, "text/plain",
                   btt_trk_encode_scrape(body, BTT_TRK_REPLY_MAX, (const uint8_t(*)[20])hashes, cn, nh, next));
    } else if (path_is(r, "/bidscrape")) {
        size_t limit;
        if (btt_trk_query_bidscrape(r->query, r->query_len, &limit, &failure) != BTT_OK) {
            s->http.bad++;
            reply_failure(c, 200, failure);
            return;
        }
        btt_trk_bidscrape_entry e[BTT_TRK_BIDSCRAPE_MAX];
        size_t n = btt_trk_bidscrape(s->trk, now, limit, e);
        conn_reply(c, 200, "text/plain", btt_trk_encode_bidscrape(body, BTT_TRK_REPLY_MAX, e, n));
    } else if (path_is(r, "/stats")) {
        conn_reply(c, 200, "application/json", stats_json(s, body, BTT_TRK_REPLY_MAX));
    } else {
        s->http.bad++;
        reply_failure(c, 404, "not found (paths: /announce, /scrape, /bidscrape, /stats)");
    }
}

static void conn_process(conn *c)
{
    btt_tracker_server *s = c->s;
    while (!c->closing && !c->writing && c->len > 0) {
        btt_trk_http_req r;
        btt_trk_http_result res = btt_trk_http_parse_head(c->buf, c->len, &r);
        if (res == BTT_TRK_HTTP_MORE) return;
        if (res == BTT_TRK_HTTP_BAD) {
            s->http.bad++;
            c->close_after = true;
            reply_failure(c, r.status, r.reason);
            return;
        }
        if (!r.keep_alive) c->close_after = true;
        handle_request(c, &r);
        if (c->closing) return;
        memmove(c->buf, c->buf + r.head_len, c->len - r.head_len);
        c->len -= r.head_len;
        c->first_ms = c->len ? now_ms(s) : 0;
        if (c->close_after) return; /* closes when the reply is out */
    }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    conn *c = h->data;
    if (c->close_after) { /* only discarded */
        *b = uv_buf_init(c->buf, sizeof c->buf);
        return;
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    conn *c = st->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || c->closing) return;
    btt_tracker_server *s = c->s;
    if (c->close_after) return; /* anything after a request that asked to close is ignored */
    if (c->len == 0) c->first_ms = now_ms(s);
    c->len += (size_t)nread;
    c->last_ms = now_ms(s);
    conn_process(c);
}

static void on_connection(uv_stream_t *l, int status)
{
    btt_tracker_server *s = l->data;
    if (status < 0) return;
    conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->s = s;
    uv_tcp_init(&s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (s->nconns >= s->cfg.max_connections || uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) != 0 ||
        btt_addr_from_sockaddr((struct sockaddr *)&ss, &c->peer) != BTT_OK) {
        s->http.refused++;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    s->http.accepted++;
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    c->last_ms = now_ms(s);
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

/* ---- timers, start, stop ---- */

static void on_tick(uv_timer_t *t)
{
    btt_tracker_server *s = t->data;
    uint64_t ms = now_ms(s);
    /* slowloris and idle connections */
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->lingering) {
            if (ms - c->last_ms > LINGER_MS) conn_close(c);
            continue;
        }
        bool slow = c->len > 0 && !c->close_after && ms - c->first_ms > s->cfg.header_timeout_ms;
        bool idle = ms - c->last_ms > s->cfg.idle_timeout_ms;
        if (slow || idle) {
            s->http.timeouts++;
            conn_close(c);
        }
    }
    btt_trk_stats st;
    btt_trk_get_stats(s->trk, &st);
    /* the whole table about every 30 s */
    btt_trk_expire(s->trk, now_s(s), (size_t)(st.torrents / 16 + 256));
}

static void close_any(uv_handle_t *h)
{
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_stop(uv_async_t *a)
{
    btt_tracker_server *s = a->data;
    while (s->conns) conn_close(s->conns);
    if (s->have_http) close_any((uv_handle_t *)&s->listener);
    if (s->have_udp) close_any((uv_handle_t *)&s->udp_poll);
    close_any((uv_handle_t *)&s->tick);
    close_any((uv_handle_t *)&s->stop_async);
    close_any((uv_handle_t *)&s->reload_async);
}

static void on_reload(uv_async_t *a)
{
    btt_tracker_server *s = a->data;
    uv_mutex_lock(&s->reload_mu);
    if (s->reload.pending) {
        s->reload.result = btt_trk_whitelist_replace(s->trk, s->reload.text, s->reload.len, &s->reload.dropped,
                                                     &s->reload.err);
        s->reload.pending = false;
        uv_cond_broadcast(&s->reload_cv);
    }
    uv_mutex_unlock(&s->reload_mu);
}

btt_err btt_tracker_server_reload_whitelist(btt_tracker_server *s, const char *text, size_t len, size_t *dropped,
                                            btt_error *err)
{
    if (!s->cfg.core.whitelist) return btt_error_set(err, BTT_EINVAL, "the tracker was started without a whitelist");
    uv_mutex_lock(&s->reload_mu);
    s->reload.text = text;
    s->reload.len = len;
    s->reload.pending = true;
    memset(&s->reload.err, 0, sizeof s->reload.err);
    uv_async_send(&s->reload_async);
    while (s->reload.pending) uv_cond_wait(&s->reload_cv, &s->reload_mu);
    btt_err e = s->reload.result;
    *dropped = s->reload.dropped;
    if (e != BTT_OK) btt_error_set(err, e, "%s", btt_error_str(&s->reload.err));
    uv_mutex_unlock(&s->reload_mu);
    return e;
}

static void run(void *arg)
{
    btt_tracker_server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* "ADDR:PORT" with port 0 allowed. */
static btt_err parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sl, btt_error *err)
{
    char tmp[128];
    size_t n = strlen(spec);
    if (n + 1 >= sizeof tmp) return btt_error_set(err, BTT_EINVAL, "'%s': address too long", spec);
    memcpy(tmp, spec, n + 1);
    bool zero = n >= 2 && strcmp(tmp + n - 2, ":0") == 0;
    if (zero) tmp[n - 1] = '1';
    btt_addr a;
    btt_err e = btt_addr_parse(tmp, &a, err);
    if (e) return e;
    if (zero) a.port = 0;
    btt_addr_to_sockaddr(&a, ss, sl);
    return BTT_OK;
}

static void format_bound(const struct sockaddr *sa, char *out)
{
    btt_addr a;
    if (btt_addr_from_sockaddr(sa, &a) != BTT_OK) {
        out[0] = 0;
        return;
    }
    if (sa->sa_family == AF_INET6 && a.family == 4) { /* keep "[::]" for a v6 socket */
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        a.family = 6;
        memcpy(a.ip, &s6->sin6_addr, 16);
    }
    btt_addr_format(&a, out);
}

static btt_err open_udp(btt_tracker_server *s, const char *spec, btt_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    btt_err e = parse_listen(spec, &ss, &sl, err);
    if (e) return e;
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return btt_error_set(err, BTT_ENET, "udp socket: %s", strerror(errno));
    int one = 1, zero = 0, big = 4 << 20;
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        int en = errno;
        close(fd);
        return btt_error_set(err, BTT_ENET, "udp %s: %s", spec, strerror(en));
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    format_bound((struct sockaddr *)&ss, s->udp_addr);
    s->udp_fd = fd;
    uv_poll_init(&s->loop, &s->udp_poll, fd);
    s->udp_poll.data = s;
    uv_poll_start(&s->udp_poll, UV_READABLE, udp_readable);
    s->have_udp = true;
    return BTT_OK;
}

static btt_err open_http(btt_tracker_server *s, const char *spec, btt_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    btt_err e = parse_listen(spec, &ss, &sl, err);
    if (e) return e;
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    s->have_http = true;
    int r = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (!r) r = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (r) return btt_error_set(err, BTT_ENET, "http %s: %s", spec, uv_strerror(r));
    int n = sizeof ss;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &n);
    format_bound((struct sockaddr *)&ss, s->http_addr);
    return BTT_OK;
}

static void destroy(btt_tracker_server *s)
{
    /* every handle is closed (or was never started): let the loop finish the closes */
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    uv_cond_destroy(&s->reload_cv);
    uv_mutex_destroy(&s->reload_mu);
    if (s->have_udp) close(s->udp_fd);
    btt_trk_free(s->trk);
    free(s->rl);
    free(s);
}

btt_err btt_tracker_server_start(const btt_tracker_server_config *cfg, btt_tracker_server **out, btt_error *err)
{
    *out = NULL;
    if (!cfg->http && !cfg->udp) return btt_error_set(err, BTT_EINVAL, "nothing to serve: no HTTP and no UDP address");
    if (sodium_init() < 0) return btt_error_set(err, BTT_ENOMEM, "libsodium failed to initialize");
    btt_tracker_server *s = calloc(1, sizeof *s);
    if (!s) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    s->cfg = *cfg;
    if (!s->cfg.max_connections) s->cfg.max_connections = 4096;
    if (!s->cfg.header_timeout_ms) s->cfg.header_timeout_ms = 10000;
    if (!s->cfg.idle_timeout_ms) s->cfg.idle_timeout_ms = 30000;
    randombytes_buf(s->connid_key, sizeof s->connid_key);
    randombytes_buf(s->rl_key, sizeof s->rl_key);
    btt_err e = btt_trk_new(&cfg->core, &s->trk, err);
    if (e) {
        free(s);
        return e;
    }
    /* the limits the core applies by default, for /stats */
    if (!s->cfg.core.max_torrents) s->cfg.core.max_torrents = 1000000;
    if (!s->cfg.core.max_peers) s->cfg.core.max_peers = 10000000;
    if (!s->cfg.core.max_peers_per_torrent) s->cfg.core.max_peers_per_torrent = 1000000;
    if (cfg->core.whitelist && cfg->whitelist) {
        e = btt_trk_whitelist_load(s->trk, cfg->whitelist, cfg->whitelist_len, err);
        if (e) {
            btt_error_prefix(err, "whitelist");
            btt_trk_free(s->trk);
            free(s);
            return e;
        }
    }
    if (cfg->rate_limit) {
        s->rl = calloc(RL_SLOTS, sizeof *s->rl);
        if (!s->rl) {
            btt_trk_free(s->trk);
            free(s);
            return btt_error_set(err, BTT_ENOMEM, "out of memory");
        }
    }
    if (uv_loop_init(&s->loop) != 0) {
        btt_trk_free(s->trk);
        free(s->rl);
        free(s);
        return btt_error_set(err, BTT_ENOMEM, "cannot start an event loop");
    }
    s->start_ms = uv_now(&s->loop);
    uv_async_init(&s->loop, &s->stop_async, on_stop);
    s->stop_async.data = s;
    uv_async_init(&s->loop, &s->reload_async, on_reload);
    s->reload_async.data = s;
    uv_mutex_init(&s->reload_mu);
    uv_cond_init(&s->reload_cv);
    uv_timer_init(&s->loop, &s->tick);
    s->tick.data = s;
    if (cfg->http) e = open_http(s, cfg->http, err);
    if (!e && cfg->udp) e = open_udp(s, cfg->udp, err);
    if (e) {
        on_stop(&s->stop_async);
        destroy(s);
        return e;
    }
    uv_timer_start(&s->tick, on_tick, 1000, 1000);
    if (uv_thread_create(&s->thread, run, s) != 0) {
        on_stop(&s->stop_async);
        destroy(s);
        return btt_error_set(err, BTT_ENOMEM, "cannot start the server thread");
    }
    *out = s;
    return BTT_OK;
}

const char *btt_tracker_server_http_address(const btt_tracker_server *s) { return s->have_http ? s->http_addr : ""; }
const char *btt_tracker_server_udp_address(const btt_tracker_server *s) { return s->have_udp ? s->udp_addr : ""; }

void btt_tracker_server_stop(btt_tracker_server *s)
{
    if (!s) return;
    uv_async_send(&s->stop_async);
    uv_thread_join(&s->thread);
    destroy(s);
}
