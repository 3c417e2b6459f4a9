/* udp.c - the session's UDP socket on the peer port: the uTP multiplexer on it, its timer,
 * the demultiplexing of datagrams (docs/utp.md) and sending. The multiplexer is sans-I/O:
 * this file feeds it datagrams and time, drains its datagrams into the socket and hands its
 * events to peer.c. */
#define BTT_CLIENT_INTERNAL
#include "client/client_int.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_MAX_QUEUED 512      /* datagrams waiting in uv_udp_send requests */
#define UDP_SOCKBUF (4u << 20)  /* asked for both ways; the kernel caps it at [rw]mem_max */
#define UDP_DRAIN_MS 3000       /* at close, how long released connections may finish */

typedef struct udp_sreq {
    uv_udp_send_t req;
    btt_session *s;
    uint8_t data[];
} udp_sreq;

uint64_t udp_now_us(void) { return uv_hrtime() / 1000; }

static void service(btt_session *s);
static void on_idle(uv_idle_t *h);
static void close_now(btt_session *s);

/* The socket is bound to s->bind: an IPv6 socket reaches IPv4 peers as ::ffff:a.b.c.d. */
static void to_sockaddr(const btt_session *s, const btt_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    if (a->family == 4 && s->bind.family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        memset(ss, 0, sizeof *ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_addr.s6_addr[10] = 0xff;
        s6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&s6->sin6_addr.s6_addr[12], a->ip, 4);
        s6->sin6_port = htons(a->port);
        *len = sizeof *s6;
        return;
    }
    btt_addr_to_sockaddr(a, ss, len);
}

static void on_sent(uv_udp_send_t *req, int status)
{
    udp_sreq *r = (udp_sreq *)req;
    btt_session *s = r->s;
    free(r);
    s->udp_queued--;
    if (status < 0 && status != UV_ECANCELED) s->udp_send_errors++;
    if (s->udp_blocked && s->udp_queued < UDP_MAX_QUEUED / 2) {
        s->udp_blocked = false;
        udp_kick(s);
    }
}

/* Sends at once when the kernel takes it, else queues a copy (bounded by the caller). A
 * datagram the kernel refuses for good is dropped and counted: uTP retransmits. */
static void send_datagram(btt_session *s, const btt_addr *to, const uint8_t *p, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    to_sockaddr(s, to, &ss, &sl);
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    if (!s->udp_queued) {
        int r = uv_udp_try_send(&s->udp, &b, 1, (const struct sockaddr *)&ss);
        if (r >= 0) return;
        if (r != UV_EAGAIN) {
            s->udp_send_errors++;
            return;
        }
    }
    udp_sreq *q = malloc(sizeof *q + n);
    if (!q) {
        s->udp_send_errors++;
        return;
    }
    q->s = s;
    memcpy(q->data, p, n);
    b = uv_buf_init((char *)q->data, (unsigned)n);
    if (uv_udp_send(&q->req, &s->udp, &b, 1, (const struct sockaddr *)&ss, on_sent)) {
        free(q);
        s->udp_send_errors++;
        return;
    }
    s->udp_queued++;
}

bool udp_send_raw(btt_session *s, const btt_addr *to, const uint8_t *p, size_t len)
{
    if (!s->udp_open || s->udp_queued >= UDP_MAX_QUEUED) return false;
    send_datagram(s, to, p, len);
    return true;
}

static void transmit(btt_session *s)
{
    uint8_t buf[BTT_UTP_MAX_PACKET];
    btt_addr to;
    uint64_t now = udp_now_us();
    while (s->udp_queued < UDP_MAX_QUEUED) {
        size_t n = btt_utp_mux_transmit(s->utp, now, buf, sizeof buf, &to);
        if (!n) return;
        send_datagram(s, &to, buf, n);
    }
    s->udp_blocked = true; /* on_sent kicks again once the queue has room */
}

static void accept_utp(btt_session *s, btt_utp_conn *c)
{
    if (s->closing || session_is_banned(s, btt_utp_remote(c), uv_now(s->loop))) {
        btt_utp_abort(c);
        btt_utp_release(c);
        return;
    }
    peer *p = peer_new(s, NULL, btt_utp_remote(c), true);
    if (!p) {
        btt_utp_abort(c);
        btt_utp_release(c);
        return;
    }
    session_list_add(&s->pending, p);
    peer_start_incoming_utp(p, c);
}

static void handle_event(btt_session *s, const btt_utp_event *ev)
{
    if (ev->type == BTT_UTP_EV_ACCEPT) {
        accept_utp(s, ev->conn);
        return;
    }
    peer *p = btt_utp_user(ev->conn);
    if (!p) return; /* released connections report nothing; an owner is always set */
    switch (ev->type) {
    case BTT_UTP_EV_CONNECTED: peer_utp_connected(p); break;
    case BTT_UTP_EV_READABLE: peer_utp_readable(p); break;
    case BTT_UTP_EV_WRITABLE: peer_utp_writable(p); break;
    case BTT_UTP_EV_EOF: peer_utp_failed(p, "closed by peer"); break;
    case BTT_UTP_EV_CLOSED: peer_utp_failed(p, "uTP connection closed"); break;
    case BTT_UTP_EV_ERROR: {
        btt_err e = btt_utp_conn_error(ev->conn);
        peer_utp_failed(p, e == BTT_ETIMEDOUT ? "uTP: timed out" : e == BTT_ENET ? "uTP: reset by peer" : "uTP: error");
        break;
    }
    default: break;
    }
}

static void on_timer(uv_timer_t *h)
{
    btt_session *s = h->data;
    if (!s->utp) return;
    btt_utp_mux_tick(s->utp, udp_now_us());
    s->udp_dirty = true;
    service(s);
}

/* Closing: once every connection has finished (its data and FIN acked) or the time is up. */
static bool drained(btt_session *s)
{
    if (!s->udp_draining) return false;
    btt_utp_mux_stats st;
    btt_utp_mux_get_stats(s->utp, &st);
    return st.conns == 0 || udp_now_us() >= s->udp_drain_until_us;
}

static void arm_timer(btt_session *s)
{
    uint64_t next = btt_utp_mux_next_deadline(s->utp);
    if (s->udp_draining && s->udp_drain_until_us < next) next = s->udp_drain_until_us;
    if (next == UINT64_MAX) {
        uv_timer_stop(&s->utp_timer);
        return;
    }
    uint64_t now = udp_now_us();
    uint64_t ms = next <= now ? 0 : (next - now + 999) / 1000;
    uv_timer_start(&s->utp_timer, on_timer, ms, 0);
}

/* Events first (they may write, read and close), then everything the multiplexer may send;
 * again while a handler asked for more. */
static void service(btt_session *s)
{
    if (!s->udp_open || !s->utp) return;
    if (s->udp_servicing) {
        s->udp_dirty = true;
        return;
    }
    s->udp_servicing = true;
    uv_idle_stop(&s->udp_idle);
    for (int rounds = 0; s->udp_dirty && rounds < 64; rounds++) {
        s->udp_dirty = false;
        btt_utp_event ev;
        while (btt_utp_mux_next_event(s->utp, &ev)) handle_event(s, &ev);
        if (!s->udp_blocked) transmit(s);
    }
    s->udp_servicing = false;
    if (drained(s)) {
        close_now(s);
        return;
    }
    if (s->udp_dirty) uv_idle_start(&s->udp_idle, on_idle); /* a handler kept asking: next turn */
    arm_timer(s);
}

static void on_idle(uv_idle_t *h)
{
    btt_session *s = h->data;
    uv_idle_stop(h);
    service(s);
}

void udp_kick(btt_session *s)
{
    if (!s->udp_open || !s->utp) return;
    s->udp_dirty = true;
    if (!s->udp_servicing) uv_idle_start(&s->udp_idle, on_idle);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    btt_session *s = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)s->udp_rbuf, sizeof s->udp_rbuf);
}

/* The demultiplexing rule of docs/utp.md. The UDP tracker client has its own socket for
 * now; when it moves here it claims its replies (source address + transaction id) first. */
static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
    btt_session *s = h->data;
    if (n <= 0 || !from) return; /* n < 0: e.g. an ICMP error; nothing to do */
    btt_addr a;
    if ((flags & UV_UDP_PARTIAL) || btt_addr_from_sockaddr(from, &a)) {
        s->udp_unknown++;
        return;
    }
    const uint8_t *p = (const uint8_t *)buf->base;
    if (p[0] == 'd') { /* KRPC: a bencoded dictionary */
        if (s->dht_input) s->dht_input(s->dht_ud, &a, p, (size_t)n);
        else s->dht_dropped++;
        return;
    }
    if (s->utp && btt_utp_mux_input(s->utp, &a, p, (size_t)n, udp_now_us())) {
        udp_kick(s);
        return;
    }
    s->udp_unknown++;
}

static void on_handle_closed(uv_handle_t *h)
{
    btt_session *s = h->data;
    session_handle_closed(s);
}

btt_err udp_open(btt_session *s, int fd, btt_error *err)
{
    btt_utp_config cfg;
    btt_utp_config_default(&cfg);
    cfg.accept_incoming = !s->o.no_utp; /* the socket may be open for the DHT alone */
    s->utp = btt_utp_mux_new(&cfg, session_rand(s));
    if (!s->utp) {
        close(fd);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    int size = UDP_SOCKBUF;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size); /* best effort */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    uv_udp_init(s->loop, &s->udp);
    s->udp.data = s;
    s->open_handles++;
    uv_timer_init(s->loop, &s->utp_timer);
    s->utp_timer.data = s;
    s->open_handles++;
    uv_idle_init(s->loop, &s->udp_idle);
    s->udp_idle.data = s;
    s->open_handles++;
    s->udp_open = true;
    int r = uv_udp_open(&s->udp, fd);
    if (r) close(fd);
    else r = uv_udp_recv_start(&s->udp, on_alloc, on_recv);
    if (r) {
        udp_close(s);
        return btt_error_set(err, BTT_ENET, "UDP socket: %s", uv_strerror(r));
    }
    return BTT_OK;
}

/* Released connections still owe the peer their last bytes (a Speed voucher, say) and a FIN,
 * which TCP's kernel would send after close: the socket stays open until they are acked or
 * UDP_DRAIN_MS have passed. New connections are refused meanwhile (s->closing). */
void udp_close(btt_session *s)
{
    if (!s->udp_open || s->udp_draining) return;
    btt_utp_mux_stats st;
    btt_utp_mux_get_stats(s->utp, &st);
    BTT_LOGD(LOG_MOD,
             "uTP: %" PRIu64 " packets in, %" PRIu64 " out; dropped: %" PRIu64 " malformed, %" PRIu64
             " unknown connection, %" PRIu64 " bad ack, %" PRIu64 " bad seq, %" PRIu64 " over window, %" PRIu64
             " SYNs refused; UDP: %" PRIu64 " send errors, %" PRIu64 " DHT, %" PRIu64 " unknown",
             st.packets_in, st.packets_out, st.malformed, st.unknown_conn, st.bad_ack, st.bad_seq, st.over_window,
             st.syn_refused, s->udp_send_errors, s->dht_dropped, s->udp_unknown);
    if (st.conns == 0) {
        close_now(s);
        return;
    }
    s->udp_draining = true;
    s->udp_drain_until_us = udp_now_us() + UDP_DRAIN_MS * 1000ull;
    udp_kick(s);
}

static void close_now(btt_session *s)
{
    if (!s->udp_open) return;
    s->udp_open = false;
    uv_close((uv_handle_t *)&s->udp, on_handle_closed);
    uv_close((uv_handle_t *)&s->utp_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->udp_idle, on_handle_closed);
}

void udp_free(btt_session *s)
{
    if (s->utp) btt_utp_mux_free(s->utp);
    s->utp = NULL;
}
