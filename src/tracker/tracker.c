/* tracker.c - tracker client I/O: HTTP(S) through libcurl's multi interface driven by libuv,
 * UDP per BEP 15 with retransmission, and the per-torrent announcer walking BEP 12 tiers.
 *
 * Ownership: the client owns its requests; a request is freed right after its callback (or at
 * btt_tracker_cancel). Handles (curl timer, UDP timer, one UDP socket per address family, one
 * uv_poll_t per curl socket) are freed only in their close callbacks; the client itself is freed
 * when the last of them has closed. getaddrinfo requests cannot be taken back synchronously, so
 * each lives in its own allocation that outlives a cancelled request and frees itself. */
#include "btt/tracker.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "btt/buf.h"
#include "btt/log.h"

#define MOD "tracker"

/* BEP 15: "A client can use a connection ID until one minute after it has received it." */
#define CONN_ID_LIFETIME_MS 60000
#define CONN_CACHE_MAX 64
#define MAX_SHIFT 16 /* udp_timeout_ms << n is capped at this n */

/* Announcer timing (seconds). */
#define DEFAULT_INTERVAL 1800
#define MIN_INTERVAL 30 /* floor on a tracker's interval: a hostile 0 must not make us hammer it */
#define DEFAULT_MIN_INTERVAL 60
#define BACKOFF_FIRST 60
#define BACKOFF_MAX 1800
#define NUMWANT 50

enum { K_ANNOUNCE, K_SCRAPE };
enum { S_HTTP, S_RESOLVING, S_CONNECTING, S_REQUESTING };

typedef struct gai_ctx {
    uv_getaddrinfo_t gai;
    btt_tracker_req *owner; /* NULL once the request is gone */
} gai_ctx;

typedef struct curl_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    int events; /* the UV_READABLE / UV_WRITABLE set libcurl asked for */
    btt_tracker_client *c;
    struct curl_sock *prev, *next;
} curl_sock;

typedef struct conn_entry {
    btt_addr addr;
    uint64_t conn_id;
    uint64_t expires; /* uv_now() ms */
} conn_entry;

struct btt_tracker_req {
    btt_tracker_client *c;
    btt_tracker_req *prev, *next;
    int kind, state;
    bool udp;
    btt_announce_cb acb;
    btt_scrape_cb scb;
    void *ud;
    btt_announce_req areq; /* tracker_id and extra_query are not kept (UDP does not use them) */
    uint8_t info_hash[BTT_SHA1_LEN];
    /* HTTP */
    CURL *easy;
    btt_buf body;
    bool too_big;
    char curl_err[CURL_ERROR_SIZE];
    /* UDP */
    char host[256];
    uint16_t port;
    gai_ctx *gai;
    btt_addr to;
    uint32_t txid;
    unsigned attempt;
    uint64_t deadline;
    uint8_t pkt[98];
    size_t pktlen;
};

struct btt_tracker_client {
    uv_loop_t *loop;
    uint32_t udp_timeout_ms, udp_max_retries, http_timeout_ms;
    char *user_agent;
    uint32_t key; /* BEP 15/3 "key": one per session */
    CURLM *multi;
    uv_timer_t curl_timer, udp_timer;
    uv_udp_t *udp[2]; /* [0] IPv4, [1] IPv6; opened on first use, freed in their close callback */
    btt_tracker_req *reqs;
    curl_sock *socks;
    btt_announcer *announcers;
    conn_entry conns[CONN_CACHE_MAX];
    size_t num_conns;
    bool closing;
    unsigned closing_handles; /* uv_close calls whose callbacks have not run yet */
    uint8_t rxbuf[65536];
};

/* ---- randomness ---- */

static void random_bytes(void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            /* No getrandom (very old kernel): not a CSPRNG, but txids only guard against blind spoofing. */
            static uint64_t s;
            if (!s) s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&s;
            for (size_t i = 0; i < n; i++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                b[i] = (uint8_t)(s >> 56);
            }
            return;
        }
        b += r;
        n -= (size_t)r;
    }
}

static uint32_t random_u32(void)
{
    uint32_t v;
    random_bytes(&v, sizeof v);
    return v;
}

/* ---- requests: list, completion, freeing ---- */

static void req_link(btt_tracker_client *c, btt_tracker_req *r)
{
    r->prev = NULL;
    r->next = c->reqs;
    if (c->reqs) c->reqs->prev = r;
    c->reqs = r;
}

static void req_unlink(btt_tracker_req *r)
{
    btt_tracker_client *c = r->c;
    if (r->prev) r->prev->next = r->next;
    else if (c->reqs == r) c->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void req_free(btt_tracker_req *r)
{
    if (r->easy) {
        if (r->c->multi) curl_multi_remove_handle(r->c->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    if (r->gai) {
        r->gai->owner = NULL;
        uv_cancel((uv_req_t *)&r->gai->gai); /* if it is already running, its callback frees it */
    }
    btt_buf_free(&r->body);
    free(r);
}

/* Unlinks the request, runs its callback and frees it. */
static void req_finish(btt_tracker_req *r, btt_err e, const void *resp, const char *msg)
{
    req_unlink(r);
    if (r->kind == K_ANNOUNCE) r->acb(r->ud, e, e ? NULL : resp, e ? msg : NULL);
    else r->scb(r->ud, e, e ? NULL : resp, e ? msg : NULL);
    req_free(r);
}

static void req_fail(btt_tracker_req *r, btt_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void req_fail(btt_tracker_req *r, btt_err e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    req_finish(r, e, NULL, msg);
}

/* ---- libcurl multi driven by libuv ---- */

/* One close callback has run; the client goes with the last one after btt_tracker_client_close. */
static void client_handle_closed(btt_tracker_client *c)
{
    if (--c->closing_handles == 0 && c->closing && !c->multi) {
        free(c->user_agent);
        free(c);
    }
}

static void on_handle_closed(uv_handle_t *h) { client_handle_closed(h->data); }

static void on_poll_closed(uv_handle_t *h)
{
    curl_sock *s = h->data;
    btt_tracker_client *c = s->c;
    free(s);
    client_handle_closed(c);
}

static void sock_close(curl_sock *s)
{
    btt_tracker_client *c = s->c;
    if (s->prev) s->prev->next = s->next;
    else c->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    c->closing_handles++;
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}

static void http_done(btt_tracker_req *r, CURLcode res)
{
    btt_tracker_client *c = r->c;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;

    if (res != CURLE_OK) {
        if (r->too_big || res == CURLE_FILESIZE_EXCEEDED)
            return req_fail(r, BTT_ETOOBIG, "tracker reply larger than %u bytes", BTT_TRACKER_MAX_BODY);
        const char *detail = r->curl_err[0] ? r->curl_err : curl_easy_strerror(res);
        if (res == CURLE_OPERATION_TIMEDOUT) return req_fail(r, BTT_ETIMEDOUT, "%s", detail);
        return req_fail(r, BTT_ENET, "%s", detail);
    }
    btt_error err = {0};
    if (status != 200) {
        /* Some trackers explain themselves with a failure reason even on an error status. */
        btt_announce_resp tmp;
        if (btt_http_announce_parse(r->body.data, r->body.len, &tmp, &err) == BTT_OK) {
            btt_announce_resp_free(&tmp);
            err.msg[0] = 0;
        } else if (err.code != BTT_ETRACKER) {
            err.msg[0] = 0;
        }
        return req_fail(r, BTT_ETRACKER, "HTTP %ld%s%s", status, err.msg[0] ? ": " : "", err.msg);
    }
    if (r->kind == K_ANNOUNCE) {
        btt_announce_resp resp;
        btt_err e = btt_http_announce_parse(r->body.data, r->body.len, &resp, &err);
        if (e) return req_fail(r, e, "%s", btt_error_str(&err));
        req_finish(r, BTT_OK, &resp, NULL);
        btt_announce_resp_free(&resp);
    } else {
        btt_scrape_resp resp;
        btt_err e = btt_http_scrape_parse(r->body.data, r->body.len, r->info_hash, &resp, &err);
        if (e) return req_fail(r, e, "%s", btt_error_str(&err));
        req_finish(r, BTT_OK, &resp, NULL);
    }
}

static void check_multi_info(btt_tracker_client *c)
{
    CURLMsg *m;
    int left;
    while (c->multi && (m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        btt_tracker_req *r = NULL;
        CURLcode res = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r) http_done(r, res);
    }
}

/* An error on the socket (libuv reports POLLERR as a status < 0 and stops the handle) is not
 * passed on as CURL_CSELECT_ERR: libcurl then fails the transfer with "select/poll returned
 * error". Told the socket is ready, it does the I/O, meets the error itself and handles it as it
 * would: a request sent on a kept-alive connection the tracker had already closed (opentracker
 * answers HTTP/1.1 and closes) is retried on a fresh one. Without this a `stopped` announce sent
 * right after `completed` was lost and the tracker kept listing us as a seed. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    curl_sock *s = h->data;
    btt_tracker_client *c = s->c;
    int flags = 0;
    if (status < 0) {
        events = s->events;
        uv_poll_start(&s->poll, s->events, on_poll); /* libuv stopped it; libcurl still owns the socket */
    }
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running;
    if (!c->multi) return;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_multi_info(c);
}

/* CURLMOPT_SOCKETFUNCTION */
static int curl_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    btt_tracker_client *c = userp;
    curl_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            if (!c->closing) curl_multi_assign(c->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (c->closing) return -1;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return -1;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->c = c;
        s->poll.data = s;
        s->next = c->socks;
        if (c->socks) c->socks->prev = s;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev |= UV_WRITABLE;
    s->events = ev;
    return uv_poll_start(&s->poll, ev, on_poll) == 0 ? 0 : -1;
}

static void on_curl_timer(uv_timer_t *t)
{
    btt_tracker_client *c = t->data;
    int running;
    if (!c->multi) return;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(c);
}

/* CURLMOPT_TIMERFUNCTION: libcurl must not be re-entered from here, so even a 0 ms timeout
 * goes through the loop. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    btt_tracker_client *c = userp;
    if (c->closing) return 0;
    if (timeout_ms < 0) uv_timer_stop(&c->curl_timer);
    else uv_timer_start(&c->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t on_curl_write(char *p, size_t size, size_t n, void *ud)
{
    btt_tracker_req *r = ud;
    size_t len = size * n;
    if (btt_buf_append(&r->body, p, len) != BTT_OK) {
        r->too_big = true; /* (or out of memory: either way the reply is not taken) */
        return 0;
    }
    return len;
}

static btt_err http_start(btt_tracker_req *r, const char *full_url)
{
    btt_tracker_client *c = r->c;
    CURL *e = curl_easy_init();
    if (!e) return BTT_ENOMEM;
    btt_buf_init(&r->body, BTT_TRACKER_MAX_BODY);
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                      \
    do {                                                                   \
        if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val);            \
    } while (0)
    SET(CURLOPT_URL, full_url);
    SET(CURLOPT_PRIVATE, (void *)r);
    SET(CURLOPT_WRITEFUNCTION, on_curl_write);
    SET(CURLOPT_WRITEDATA, (void *)r);
    SET(CURLOPT_ERRORBUFFER, r->curl_err);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)c->http_timeout_ms);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, 5L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)BTT_TRACKER_MAX_BODY);
#undef SET
    if (rc != CURLE_OK) {
        BTT_LOGW(MOD, "curl_easy_setopt: %s", curl_easy_strerror(rc));
        curl_easy_cleanup(e);
        return BTT_EINVAL;
    }
    r->easy = e;
    r->state = S_HTTP;
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        r->easy = NULL;
        return BTT_ENET;
    }
    return BTT_OK;
}

/* ---- UDP (BEP 15) ---- */

static conn_entry *conn_find(btt_tracker_client *c, const btt_addr *a)
{
    uint64_t now = uv_now(c->loop);
    for (size_t i = 0; i < c->num_conns; i++)
        if (btt_addr_eq(&c->conns[i].addr, a) && c->conns[i].expires > now) return &c->conns[i];
    return NULL;
}

static void conn_forget(btt_tracker_client *c, const btt_addr *a)
{
    for (size_t i = 0; i < c->num_conns; i++)
        if (btt_addr_eq(&c->conns[i].addr, a)) c->conns[i] = c->conns[--c->num_conns];
}

static void conn_put(btt_tracker_client *c, const btt_addr *a, uint64_t id)
{
    conn_forget(c, a);
    uint64_t now = uv_now(c->loop);
    size_t slot = c->num_conns;
    if (slot == CONN_CACHE_MAX) { /* full: drop the one expiring first */
        slot = 0;
        for (size_t i = 1; i < c->num_conns; i++)
            if (c->conns[i].expires < c->conns[slot].expires) slot = i;
    } else {
        c->num_conns++;
    }
    c->conns[slot].addr = *a;
    c->conns[slot].conn_id = id;
    c->conns[slot].expires = now + CONN_ID_LIFETIME_MS;
}

static void on_udp_timer(uv_timer_t *t);

static void udp_resched(btt_tracker_client *c)
{
    if (c->closing) return;
    uint64_t next = UINT64_MAX;
    for (btt_tracker_req *r = c->reqs; r; r = r->next)
        if (r->udp && (r->state == S_CONNECTING || r->state == S_REQUESTING) && r->deadline < next)
            next = r->deadline;
    if (next == UINT64_MAX) {
        uv_timer_stop(&c->udp_timer);
        return;
    }
    uint64_t now = uv_now(c->loop);
    uv_timer_start(&c->udp_timer, on_udp_timer, next > now ? next - now : 0, 0);
}

/* Sends the packet in r->pkt and arms the retransmission deadline. */
static btt_err udp_transmit(btt_tracker_req *r)
{
    btt_tracker_client *c = r->c;
    struct sockaddr_storage ss;
    socklen_t sl;
    btt_addr_to_sockaddr(&r->to, &ss, &sl);
    uv_buf_t b = uv_buf_init((char *)r->pkt, (unsigned)r->pktlen);
    int rc = uv_udp_try_send(c->udp[r->to.family == 6], &b, 1, (const struct sockaddr *)&ss);
    unsigned n = r->attempt < MAX_SHIFT ? r->attempt : MAX_SHIFT;
    r->deadline = uv_now(c->loop) + ((uint64_t)c->udp_timeout_ms << n);
    /* A full socket buffer is a lost packet: the retransmission covers it. */
    if (rc < 0 && rc != UV_EAGAIN && rc != UV_ENOBUFS) {
        BTT_LOGD(MOD, "udp send to %s:%u: %s", r->host, r->port, uv_strerror(rc));
        return BTT_ENET;
    }
    return BTT_OK;
}

static btt_err udp_send_connect(btt_tracker_req *r)
{
    r->state = S_CONNECTING;
    r->txid = random_u32();
    r->pktlen = btt_udp_connect_req(r->pkt, r->txid);
    return udp_transmit(r);
}

static btt_err udp_send_request(btt_tracker_req *r, uint64_t conn_id)
{
    r->state = S_REQUESTING;
    r->txid = random_u32();
    if (r->kind == K_ANNOUNCE) r->pktlen = btt_udp_announce_req(r->pkt, conn_id, r->txid, &r->areq);
    else r->pktlen = btt_udp_scrape_req(r->pkt, conn_id, r->txid, r->info_hash);
    return udp_transmit(r);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags);

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    btt_tracker_client *c = h->data;
    *buf = uv_buf_init((char *)c->rxbuf, sizeof c->rxbuf);
}

static void on_udp_closed(uv_handle_t *h)
{
    btt_tracker_client *c = h->data;
    free(h);
    client_handle_closed(c);
}

/* Opens the socket of one family on first use, bound to an ephemeral port. */
static btt_err udp_open(btt_tracker_client *c, int v6, char *msg, size_t msglen)
{
    if (c->udp[v6]) return BTT_OK;
    uv_udp_t *u = malloc(sizeof *u);
    if (!u) {
        snprintf(msg, msglen, "out of memory");
        return BTT_ENOMEM;
    }
    int rc = uv_udp_init(c->loop, u);
    if (rc) {
        free(u);
        snprintf(msg, msglen, "udp socket: %s", uv_strerror(rc));
        return BTT_ENET;
    }
    u->data = c;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_any;
        rc = uv_udp_bind(u, (const struct sockaddr *)s6, UV_UDP_IPV6ONLY);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(INADDR_ANY);
        rc = uv_udp_bind(u, (const struct sockaddr *)s4, 0);
    }
    if (!rc) rc = uv_udp_recv_start(u, on_udp_alloc, on_udp_recv);
    if (rc) {
        snprintf(msg, msglen, "udp socket (%s): %s", v6 ? "IPv6" : "IPv4", uv_strerror(rc));
        /* Closed now, opened afresh on the next try. */
        c->closing_handles++;
        uv_close((uv_handle_t *)u, on_udp_closed);
        return BTT_ENET;
    }
    c->udp[v6] = u;
    return BTT_OK;
}

/* The address is known: open the socket and send connect (or the request if a connection id
 * for this tracker is still fresh). */
static btt_err udp_begin(btt_tracker_req *r, char *msg, size_t msglen)
{
    btt_tracker_client *c = r->c;
    btt_err e = udp_open(c, r->to.family == 6, msg, msglen);
    if (e) return e;
    r->attempt = 0;
    conn_entry *ce = conn_find(c, &r->to);
    e = ce ? udp_send_request(r, ce->conn_id) : udp_send_connect(r);
    if (e) {
        snprintf(msg, msglen, "udp send to %s:%u failed", r->host, r->port);
        return e;
    }
    udp_resched(c);
    return BTT_OK;
}

static void on_gai(uv_getaddrinfo_t *g, int status, struct addrinfo *res)
{
    gai_ctx *ctx = (gai_ctx *)g;
    btt_tracker_req *r = ctx->owner;
    free(ctx);
    if (!r) {
        uv_freeaddrinfo(res);
        return;
    }
    r->gai = NULL;
    if (status < 0) {
        uv_freeaddrinfo(res);
        return req_fail(r, BTT_ENET, "cannot resolve %s: %s", r->host, uv_strerror(status));
    }
    /* The first address the resolver prefers. */
    bool found = false;
    for (struct addrinfo *ai = res; ai && !found; ai = ai->ai_next)
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            btt_addr_from_sockaddr(ai->ai_addr, &r->to) == BTT_OK)
            found = true;
    uv_freeaddrinfo(res);
    if (!found) return req_fail(r, BTT_ENET, "cannot resolve %s: no IPv4 or IPv6 address", r->host);
    r->to.port = r->port;
    char msg[300];
    btt_err e = udp_begin(r, msg, sizeof msg);
    if (e) req_fail(r, e, "%s", msg);
}

static void on_udp_timer(uv_timer_t *t)
{
    btt_tracker_client *c = t->data;
    for (;;) {
        if (c->closing) return;
        uint64_t now = uv_now(c->loop);
        btt_tracker_req *r = c->reqs;
        for (; r; r = r->next)
            if (r->udp && (r->state == S_CONNECTING || r->state == S_REQUESTING) && r->deadline <= now) break;
        if (!r) break;
        /* BEP 15: "If a response is not received after 15 * 2 ^ n seconds, the client should
         * retransmit the request, where n starts at 0 and is increased up to 8". */
        if (r->attempt >= c->udp_max_retries) {
            req_fail(r, BTT_ETIMEDOUT, "no reply from udp tracker %s:%u after %u attempts", r->host, r->port,
                     r->attempt + 1);
            continue;
        }
        r->attempt++;
        btt_err e;
        if (r->state == S_REQUESTING) {
            /* "Note that it is necessary to rerequest a connection ID when it has expired." */
            conn_entry *ce = conn_find(c, &r->to);
            if (ce) e = udp_transmit(r);
            else e = udp_send_connect(r);
        } else {
            e = udp_transmit(r);
        }
        if (e) req_fail(r, e, "udp send to %s:%u failed", r->host, r->port);
    }
    udp_resched(c);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags)
{
    btt_tracker_client *c = h->data;
    if (nread < 8 || !from || (flags & UV_UDP_PARTIAL) || c->closing) return;
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t len = (size_t)nread;
    bool v6 = h == c->udp[1];
    uint32_t txid = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    btt_addr src;
    if (btt_addr_from_sockaddr(from, &src) != BTT_OK) return;
    btt_tracker_req *r = c->reqs;
    for (; r; r = r->next)
        if (r->udp && (r->state == S_CONNECTING || r->state == S_REQUESTING) && r->txid == txid &&
            (r->to.family == 6) == v6)
            break;
    if (!r) {
        BTT_LOGD(MOD, "udp reply with unknown transaction id %08" PRIx32 " dropped", txid);
        return;
    }
    if (!btt_addr_eq(&src, &r->to)) {
        char a[BTT_ADDR_STRLEN];
        BTT_LOGD(MOD, "udp reply from %s does not come from %s:%u: dropped", btt_addr_format(&src, a), r->host,
                 r->port);
        return;
    }
    btt_udp_reply rep;
    btt_error err = {0};
    btt_err e = btt_udp_reply_parse(p, len, v6, &rep, &err);
    if (e) return req_fail(r, e, "udp tracker %s:%u: %s", r->host, r->port, btt_error_str(&err));
    if (rep.action == BTT_UDP_ERROR) {
        conn_forget(c, &r->to); /* the tracker may have dropped our connection id */
        return req_fail(r, BTT_ETRACKER, "%s", rep.message[0] ? rep.message : "udp tracker error without a message");
    }
    if (r->state == S_CONNECTING) {
        if (rep.action != BTT_UDP_CONNECT) goto wrong_action;
        conn_put(c, &r->to, rep.conn_id);
        r->attempt = 0;
        if (udp_send_request(r, rep.conn_id))
            return req_fail(r, BTT_ENET, "udp send to %s:%u failed", r->host, r->port);
        udp_resched(c);
        return;
    }
    if (r->kind == K_ANNOUNCE) {
        if (rep.action != BTT_UDP_ANNOUNCE) goto wrong_action;
        req_finish(r, BTT_OK, &rep.announce, NULL);
        btt_announce_resp_free(&rep.announce);
    } else {
        if (rep.action != BTT_UDP_SCRAPE) goto wrong_action;
        req_finish(r, BTT_OK, &rep.scrape, NULL);
    }
    udp_resched(c);
    return;
wrong_action:
    BTT_LOGD(MOD, "udp reply with action %" PRIu32 " in the wrong state dropped", rep.action);
    btt_announce_resp_free(&rep.announce);
}

/* udp://host:port[/anything] */
static btt_err udp_parse_url(const char *url, char *host, size_t hostlen, uint16_t *port)
{
    const char *h = url + 6, *end;
    size_t n;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end) return BTT_EINVAL;
        n = (size_t)(end - h - 1);
        h++;
        end++;
    } else {
        end = h + strcspn(h, ":/?#");
        n = (size_t)(end - h);
    }
    if (n == 0 || n >= hostlen || *end != ':') return BTT_EINVAL;
    memcpy(host, h, n);
    host[n] = 0;
    char *pe;
    errno = 0;
    unsigned long v = strtoul(end + 1, &pe, 10);
    if (pe == end + 1 || errno || v < 1 || v > 65535 || (*pe && !strchr("/?#", *pe))) return BTT_EINVAL;
    *port = (uint16_t)v;
    return BTT_OK;
}

static btt_err udp_start(btt_tracker_req *r, const char *url)
{
    btt_tracker_client *c = r->c;
    r->udp = true;
    if (udp_parse_url(url, r->host, sizeof r->host, &r->port)) return BTT_EINVAL;
    memset(&r->to, 0, sizeof r->to);
    if (inet_pton(AF_INET, r->host, r->to.ip) == 1) r->to.family = 4;
    else if (inet_pton(AF_INET6, r->host, r->to.ip) == 1) r->to.family = 6;
    if (r->to.family) {
        r->to.port = r->port;
        char msg[300];
        btt_err e = udp_begin(r, msg, sizeof msg);
        if (e) BTT_LOGD(MOD, "%s", msg);
        return e;
    }
    gai_ctx *g = calloc(1, sizeof *g);
    if (!g) return BTT_ENOMEM;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_ADDRCONFIG;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", r->port);
    g->owner = r;
    int rc = uv_getaddrinfo(c->loop, &g->gai, on_gai, r->host, portstr, &hints);
    if (rc) {
        free(g);
        return BTT_ENET;
    }
    r->gai = g;
    r->state = S_RESOLVING;
    return BTT_OK;
}

/* ---- client ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

btt_err btt_tracker_client_new(uv_loop_t *loop, const btt_tracker_opts *opts, btt_tracker_client **out,
                               btt_error *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return btt_error_set(err, BTT_ENET, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
    btt_tracker_client *c = calloc(1, sizeof *c);
    if (!c) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    c->loop = loop;
    c->udp_timeout_ms = opts && opts->udp_timeout_ms ? opts->udp_timeout_ms : 15000;
    c->udp_max_retries = opts && opts->udp_max_retries ? opts->udp_max_retries : 8;
    c->http_timeout_ms = opts && opts->http_timeout_ms ? opts->http_timeout_ms : 30000;
    c->user_agent = strdup(opts && opts->user_agent ? opts->user_agent : "btt/" BTT_VERSION);
    c->key = random_u32();
    c->multi = curl_multi_init();
    if (!c->user_agent || !c->multi) {
        if (c->multi) curl_multi_cleanup(c->multi);
        free(c->user_agent);
        free(c);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    uv_timer_init(loop, &c->curl_timer);
    uv_timer_init(loop, &c->udp_timer);
    c->curl_timer.data = c->udp_timer.data = c;
    *out = c;
    return BTT_OK;
}

static void on_curl_timer_closed(uv_handle_t *h)
{
    btt_tracker_client *c = h->data;
    /* Runs outside every libcurl and request callback, so the multi handle can go now. Its
     * cached connections are closed here, which reports CURL_POLL_REMOVE for their sockets. */
    CURLM *m = c->multi;
    c->multi = NULL;
    curl_multi_cleanup(m);
    while (c->socks) sock_close(c->socks);
    on_handle_closed(h);
}

static void announcer_orphan(btt_announcer *a);

void btt_tracker_client_close(btt_tracker_client *c)
{
    if (!c || c->closing) return;
    c->closing = true;
    while (c->announcers) announcer_orphan(c->announcers);
    while (c->reqs) req_fail(c->reqs, BTT_ECANCELED, "tracker client closed");
    uv_timer_stop(&c->udp_timer);
    c->closing_handles += 2;
    uv_close((uv_handle_t *)&c->udp_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->curl_timer, on_curl_timer_closed);
    for (int i = 0; i < 2; i++) {
        if (!c->udp[i]) continue;
        uv_udp_recv_stop(c->udp[i]);
        c->closing_handles++;
        uv_close((uv_handle_t *)c->udp[i], on_udp_closed);
        c->udp[i] = NULL;
    }
}

static btt_err req_new(btt_tracker_client *c, int kind, const char *url, btt_tracker_req **out)
{
    if (c->closing) return BTT_ECANCELED;
    bool http = strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
    bool udp = strncasecmp(url, "udp://", 6) == 0;
    if (!http && !udp) return BTT_EINVAL;
    btt_tracker_req *r = calloc(1, sizeof *r);
    if (!r) return BTT_ENOMEM;
    r->c = c;
    r->kind = kind;
    r->udp = udp;
    *out = r;
    return BTT_OK;
}

/* Starts a prepared request over UDP, or over HTTP at full (a URL the caller built, freed here;
 * NULL means it could not be built: no_url is returned), and links it to its client. */
static btt_err req_launch(btt_tracker_req *r, const char *url, char *full, btt_err no_url, btt_tracker_req **reqp)
{
    btt_err e = r->udp ? udp_start(r, url) : full ? http_start(r, full) : no_url;
    free(full);
    if (e) {
        req_free(r);
        return e;
    }
    req_link(r->c, r);
    if (r->udp) udp_resched(r->c);
    if (reqp) *reqp = r;
    return BTT_OK;
}

btt_err btt_tracker_announce(btt_tracker_client *c, const char *url, const btt_announce_req *areq,
                             btt_announce_cb cb, void *ud, btt_tracker_req **reqp)
{
    btt_tracker_req *r;
    btt_err e = req_new(c, K_ANNOUNCE, url, &r);
    if (e) return e;
    r->acb = cb;
    r->ud = ud;
    r->areq = *areq;
    r->areq.tracker_id = r->areq.extra_query = NULL;
    memcpy(r->info_hash, areq->info_hash, BTT_SHA1_LEN);
    char *full = r->udp ? NULL : btt_http_announce_url(url, areq);
    return req_launch(r, url, full, BTT_ENOMEM, reqp);
}

btt_err btt_tracker_scrape(btt_tracker_client *c, const char *url, const uint8_t info_hash[BTT_SHA1_LEN],
                           btt_scrape_cb cb, void *ud, btt_tracker_req **reqp)
{
    btt_tracker_req *r;
    btt_err e = req_new(c, K_SCRAPE, url, &r);
    if (e) return e;
    r->scb = cb;
    r->ud = ud;
    memcpy(r->info_hash, info_hash, BTT_SHA1_LEN);
    char *full = r->udp ? NULL : btt_http_scrape_url(url, info_hash);
    return req_launch(r, url, full, BTT_EINVAL /* no scrape convention for this URL */, reqp);
}

void btt_tracker_cancel(btt_tracker_req *r)
{
    if (!r) return;
    req_unlink(r);
    req_free(r);
}

/* ---- announcer (BEP 12) ---- */

struct btt_announcer {
    btt_tracker_client *c; /* NULL once the client has closed */
    btt_announcer *prev, *next;
    btt_tier *tiers; /* own copies; a working URL is moved to the front of its tier */
    size_t num_tiers;
    uint8_t info_hash[BTT_SHA1_LEN], peer_id[20];
    uint16_t port;
    btt_announcer_cbs cbs;
    uv_timer_t timer;
    btt_tracker_req *req; /* in flight */
    size_t ti, ui;        /* the URL being tried */
    btt_announce_event ev;
    bool started_ok, completed_wanted, completed_sent;
    bool has_working;
    size_t working_tier; /* last working URL: tiers[working_tier].urls[0] */
    char *tracker_id;
    int32_t interval, min_interval;
    bool ever_ok;
    uint64_t last_ok_ms;
    uint64_t next_ms; /* when the timer fires; UINT64_MAX when it does not */
    uint32_t backoff_s;
    bool stopping, finishing;
    bool stop_pending; /* `stopped` waits for the announce in flight to land */
    void (*done)(void *ud);
    void *done_ud;
};

static void announcer_unlink(btt_announcer *a)
{
    btt_tracker_client *c = a->c;
    if (!c) return;
    if (a->prev) a->prev->next = a->next;
    else if (c->announcers == a) c->announcers = a->next;
    if (a->next) a->next->prev = a->prev;
    a->prev = a->next = NULL;
}

static void announcer_orphan(btt_announcer *a)
{
    announcer_unlink(a);
    a->c = NULL;
}

static void on_announcer_timer(uv_timer_t *t);

static void schedule(btt_announcer *a, uint64_t delay_ms)
{
    uv_timer_start(&a->timer, on_announcer_timer, delay_ms, 0);
    a->next_ms = uv_now(a->timer.loop) + delay_ms;
}

static btt_announce_event next_event(const btt_announcer *a)
{
    if (!a->started_ok) return BTT_EVENT_STARTED;
    if (a->completed_wanted && !a->completed_sent) return BTT_EVENT_COMPLETED;
    return BTT_EVENT_NONE;
}

static void fill_req(btt_announcer *a, btt_announce_req *r, btt_announce_event ev)
{
    btt_announcer_stats st = {0};
    if (a->cbs.stats) a->cbs.stats(a->cbs.ud, &st);
    memset(r, 0, sizeof *r);
    memcpy(r->info_hash, a->info_hash, BTT_SHA1_LEN);
    memcpy(r->peer_id, a->peer_id, 20);
    r->port = a->port;
    r->uploaded = st.uploaded;
    r->downloaded = st.downloaded;
    r->left = st.left;
    r->bidannounce = st.bidannounce;
    r->bid = st.bid;
    r->sortbid = st.sortbid;
    r->event = ev;
    r->numwant = ev == BTT_EVENT_STOPPED ? 0 : NUMWANT;
    r->key = a->c->key;
    r->tracker_id = a->tracker_id;
    r->extra_query = a->cbs.extra_query ? a->cbs.extra_query(a->cbs.ud) : NULL;
}

static void on_announce_reply(void *ud, btt_err result, const btt_announce_resp *resp, const char *message);

/* How long one tracker may take before the walk moves on. A dead UDP tracker would otherwise
 * hold the walk for BEP 15's full retry schedule (15 s * (2^9 - 1), about two hours): the walk
 * gives it at most three transmissions and their waits (15 + 30 + 60 s by default), an HTTP
 * tracker its timeout and a second more. */
static uint64_t attempt_budget(const btt_tracker_client *c, const char *url)
{
    if (strncasecmp(url, "udp://", 6) == 0) {
        uint32_t k = c->udp_max_retries < 2 ? c->udp_max_retries : 2;
        return (uint64_t)c->udp_timeout_ms * ((2u << k) - 1);
    }
    return (uint64_t)c->http_timeout_ms + 1000;
}

/* Tries URLs from (ti, ui) on; when every URL of every tier has failed, backs off. */
static void walk(btt_announcer *a)
{
    while (a->c && !a->stopping && a->ti < a->num_tiers) {
        btt_tier *t = &a->tiers[a->ti];
        if (a->ui >= t->count) {
            a->ti++;
            a->ui = 0;
            continue;
        }
        const char *url = t->urls[a->ui];
        btt_announce_req r;
        a->ev = next_event(a);
        fill_req(a, &r, a->ev);
        btt_err e = btt_tracker_announce(a->c, url, &r, on_announce_reply, a, &a->req);
        if (e == BTT_OK) {
            schedule(a, attempt_budget(a->c, url)); /* the timer guards the attempt */
            return;
        }
        a->req = NULL;
        if (a->cbs.status) {
            const char *why = e == BTT_EINVAL ? "unsupported or malformed tracker URL" : btt_err_message(e);
            a->cbs.status(a->cbs.ud, url, e, why);
        }
        a->ui++;
    }
    if (!a->c || a->stopping) return;
    a->backoff_s = a->backoff_s ? a->backoff_s * 2 : BACKOFF_FIRST;
    if (a->backoff_s > BACKOFF_MAX) a->backoff_s = BACKOFF_MAX;
    BTT_LOGD(MOD, "every tracker failed; next try in %" PRIu32 " s", a->backoff_s);
    schedule(a, (uint64_t)a->backoff_s * 1000);
}

static void walk_from_start(btt_announcer *a)
{
    a->ti = a->ui = 0;
    a->next_ms = UINT64_MAX;
    uv_timer_stop(&a->timer);
    walk(a);
}

static void stop_finish(btt_announcer *a);

static void on_announcer_timer(uv_timer_t *t)
{
    btt_announcer *a = t->data;
    a->next_ms = UINT64_MAX;
    if (a->stopping) {
        stop_finish(a);
    } else if (a->req) { /* the tracker took too long: on to the next one */
        btt_tracker_cancel(a->req);
        a->req = NULL;
        const char *url = a->tiers[a->ti].urls[a->ui];
        if (a->cbs.status) a->cbs.status(a->cbs.ud, url, BTT_ETIMEDOUT, "no reply in time, trying the next tracker");
        if (a->stopping || a->req) return;
        a->ui++;
        walk(a);
    } else {
        walk_from_start(a);
    }
}

/* The tracker at (ti, ui) answered: BEP 12: "if a connection with a tracker is successful, it
 * will be moved to the front of the tier." Returns its URL. */
static char *promote(btt_announcer *a)
{
    btt_tier *t = &a->tiers[a->ti];
    char *url = t->urls[a->ui];
    memmove(&t->urls[1], &t->urls[0], a->ui * sizeof *t->urls);
    t->urls[0] = url;
    a->ui = 0;
    a->has_working = true;
    a->working_tier = a->ti;
    if (a->ev == BTT_EVENT_STARTED) a->started_ok = true;
    if (a->ev == BTT_EVENT_COMPLETED) a->completed_sent = true;
    return url;
}

/* `stopped` goes to the tracker that last answered: the one that knows us. False when there is
 * none (or it cannot be sent). */
static bool send_stopped(btt_announcer *a)
{
    if (!(a->c && a->has_working && a->started_ok)) return false;
    const char *url = a->tiers[a->working_tier].urls[0];
    btt_announce_req r;
    fill_req(a, &r, BTT_EVENT_STOPPED);
    if (btt_tracker_announce(a->c, url, &r, on_announce_reply, a, &a->req) == BTT_OK) return true;
    a->req = NULL;
    return false;
}

static void on_announce_reply(void *ud, btt_err result, const btt_announce_resp *resp, const char *message)
{
    btt_announcer *a = ud;
    a->req = NULL;
    if (a->stopping) {
        if (a->stop_pending) { /* the announce in flight at stop has landed: now `stopped` */
            a->stop_pending = false;
            if (result == BTT_OK) promote(a);
            if (send_stopped(a)) return; /* the deadline set by btt_announcer_stop still holds */
        }
        stop_finish(a); /* the `stopped` announce was answered (or failed): done either way */
        return;
    }
    if (!a->c) return; /* the client closed */
    btt_tier *t = &a->tiers[a->ti];
    if (result != BTT_OK) {
        if (a->cbs.status) a->cbs.status(a->cbs.ud, t->urls[a->ui], result, message);
        if (a->stopping || a->req) return; /* the callback stopped us or asked again */
        a->ui++;
        walk(a);
        return;
    }
    char *url = promote(a);
    if (resp->tracker_id) {
        char *tid = strdup(resp->tracker_id);
        if (tid) {
            free(a->tracker_id);
            a->tracker_id = tid;
        }
    }
    a->interval = resp->interval > 0 ? resp->interval : DEFAULT_INTERVAL;
    if (a->interval < MIN_INTERVAL) a->interval = MIN_INTERVAL;
    a->min_interval = resp->min_interval;
    a->ever_ok = true;
    a->last_ok_ms = uv_now(a->timer.loop);
    a->backoff_s = 0;
    /* Decide what comes next before the user's callbacks run, so they see settled state. */
    if (next_event(a) == BTT_EVENT_COMPLETED) schedule(a, 0);
    else schedule(a, (uint64_t)a->interval * 1000);
    if (resp->warning && a->cbs.status) {
        a->cbs.status(a->cbs.ud, url, BTT_OK, resp->warning);
        if (a->stopping) return;
    }
    if (resp->num_peers && a->cbs.peers) a->cbs.peers(a->cbs.ud, resp->peers, resp->num_peers);
    if (resp->num_peers && resp->bids && a->cbs.bids) a->cbs.bids(a->cbs.ud, resp->peers, resp->bids, resp->num_peers);
}

btt_err btt_announcer_new(btt_tracker_client *c, const btt_tier *tiers, size_t num_tiers,
                          const uint8_t info_hash[BTT_SHA1_LEN], const uint8_t peer_id[20], uint16_t port,
                          const btt_announcer_cbs *cbs, btt_announcer **out, btt_error *err)
{
    *out = NULL;
    if (c->closing) return btt_error_set(err, BTT_ECANCELED, "tracker client is closing");
    size_t total = 0;
    for (size_t i = 0; i < num_tiers; i++) total += tiers[i].count;
    if (total == 0) return btt_error_set(err, BTT_EINVAL, "no tracker URLs");
    btt_announcer *a = calloc(1, sizeof *a);
    if (!a) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    a->tiers = calloc(num_tiers, sizeof *a->tiers);
    if (!a->tiers) goto nomem;
    a->num_tiers = num_tiers;
    for (size_t i = 0; i < num_tiers; i++) {
        btt_tier *t = &a->tiers[i];
        if (!tiers[i].count) continue;
        t->urls = calloc(tiers[i].count, sizeof *t->urls);
        if (!t->urls) goto nomem;
        for (size_t j = 0; j < tiers[i].count; j++) {
            t->urls[j] = strdup(tiers[i].urls[j]);
            if (!t->urls[j]) goto nomem;
            t->count++;
        }
        /* "URLs within each tier will be processed in a randomly chosen order" (Fisher-Yates). */
        for (size_t j = t->count; j > 1; j--) {
            size_t k = random_u32() % j;
            char *tmp = t->urls[j - 1];
            t->urls[j - 1] = t->urls[k];
            t->urls[k] = tmp;
        }
    }
    a->c = c;
    memcpy(a->info_hash, info_hash, BTT_SHA1_LEN);
    memcpy(a->peer_id, peer_id, 20);
    a->port = port;
    if (cbs) a->cbs = *cbs;
    a->interval = a->min_interval = -1;
    a->next_ms = UINT64_MAX;
    uv_timer_init(c->loop, &a->timer);
    a->timer.data = a;
    a->next = c->announcers;
    if (c->announcers) c->announcers->prev = a;
    c->announcers = a;
    /* The first (`started`) announce goes out from the loop, not from inside this call. */
    schedule(a, 0);
    *out = a;
    return BTT_OK;

nomem:
    for (size_t i = 0; a->tiers && i < num_tiers; i++) {
        for (size_t j = 0; j < a->tiers[i].count; j++) free(a->tiers[i].urls[j]);
        free(a->tiers[i].urls);
    }
    free(a->tiers);
    free(a);
    return btt_error_set(err, BTT_ENOMEM, "out of memory");
}

void btt_announcer_completed(btt_announcer *a)
{
    if (a->stopping || a->completed_wanted || a->completed_sent) return;
    a->completed_wanted = true;
    /* With a request in flight, its reply schedules the `completed` announce. */
    if (!a->req && a->c) schedule(a, 0);
}

void btt_announcer_want_peers(btt_announcer *a)
{
    /* Before any success, and while every tracker is failing, the back-off rules. */
    if (a->stopping || a->req || !a->c || !a->ever_ok || a->backoff_s) return;
    int32_t mi = a->min_interval > 0 ? a->min_interval : DEFAULT_MIN_INTERVAL;
    uint64_t earliest = a->last_ok_ms + (uint64_t)mi * 1000, now = uv_now(a->timer.loop);
    if (earliest >= a->next_ms) return;
    schedule(a, earliest > now ? earliest - now : 0);
}

static void on_announcer_closed(uv_handle_t *h)
{
    btt_announcer *a = h->data;
    if (a->done) a->done(a->done_ud);
    for (size_t i = 0; i < a->num_tiers; i++) {
        for (size_t j = 0; j < a->tiers[i].count; j++) free(a->tiers[i].urls[j]);
        free(a->tiers[i].urls);
    }
    free(a->tiers);
    free(a->tracker_id);
    free(a);
}

static void stop_finish(btt_announcer *a)
{
    if (a->finishing) return;
    a->finishing = true;
    if (a->req) btt_tracker_cancel(a->req);
    a->req = NULL;
    uv_timer_stop(&a->timer);
    announcer_unlink(a);
    uv_close((uv_handle_t *)&a->timer, on_announcer_closed);
}

void btt_announcer_stop(btt_announcer *a, uint32_t timeout_ms, void (*done)(void *ud), void *ud)
{
    if (!a || a->stopping) return;
    a->stopping = true;
    a->done = done;
    a->done_ud = ud;
    uv_timer_stop(&a->timer);
    /* An announce in flight (say `completed`) lands first: a `stopped` sent right after it could
     * overtake it (UDP trackers serve packets on several threads) and leave us listed. Either
     * way the whole stop takes at most timeout_ms. */
    if (a->req) a->stop_pending = true;
    if (a->stop_pending || send_stopped(a)) {
        uv_timer_start(&a->timer, on_announcer_timer, timeout_ms, 0);
        return;
    }
    /* Nothing to tell: finish from the loop, never inside this call. */
    uv_timer_start(&a->timer, on_announcer_timer, 0, 0);
}
