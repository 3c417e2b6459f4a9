/* session.c - the listening socket, incoming connections until their handshake names a
 * torrent, the periodic tick, bans, and closing everything in order. */
#define BTT_CLIENT_INTERNAL
#include "client/client_int.h"
#include "client/dht_glue.h"
#include "client/speed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define TICK_MS 500
#define DRAIN_MS 15000 /* closing waits this long at most for vouchers of verified pieces */

void rate_add(rate *r, uint64_t bytes, uint64_t now_ms)
{
    uint64_t sec = now_ms / 1000;
    if (sec != r->sec) {
        uint64_t gap = sec - r->sec;
        for (uint64_t i = 1; i <= gap && i <= RATE_WINDOW; i++) r->slot[(r->sec + i) % RATE_WINDOW] = 0;
        r->sec = sec;
    }
    r->slot[sec % RATE_WINDOW] += bytes;
}

uint64_t rate_get(const rate *r, uint64_t now_ms)
{
    /* the last RATE_WINDOW-1 whole seconds plus the current partial one */
    uint64_t sec = now_ms / 1000, sum = 0;
    for (uint64_t i = 0; i < RATE_WINDOW; i++) {
        uint64_t s = sec - i;
        if (s <= r->sec && r->sec - s < RATE_WINDOW) sum += r->slot[s % RATE_WINDOW];
    }
    uint64_t ms = (RATE_WINDOW - 1) * 1000 + now_ms % 1000;
    return ms ? sum * 1000 / ms : 0;
}

void session_list_add(peer **head, peer *p)
{
    p->prev = NULL;
    p->next = *head;
    if (*head) (*head)->prev = p;
    *head = p;
}

void session_list_remove(peer **head, peer *p)
{
    if (p->prev) p->prev->next = p->next;
    else if (*head == p) *head = p->next;
    else return; /* not on this list */
    if (p->next) p->next->prev = p->prev;
    p->next = p->prev = NULL;
}

uint64_t session_rand(btt_session *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

btt_torrent *session_find_torrent(btt_session *s, const uint8_t info_hash[20])
{
    for (btt_torrent *t = s->torrents; t; t = t->next)
        if (memcmp(t->mi->info_hash, info_hash, 20) == 0) return t;
    return NULL;
}

/* On loopback many peers share one IP (tests, local seedboxes): ban the address and port
 * there, the whole IP everywhere else. */
static bool is_loopback(const btt_addr *a)
{
    static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return (a->family == 4 && a->ip[0] == 127) || (a->family == 6 && memcmp(a->ip, v6, 16) == 0);
}

static bool ban_matches(const ban *b, const btt_addr *a)
{
    return btt_addr_same_ip(&b->addr, a) && (b->addr.port == 0 || b->addr.port == a->port);
}

bool session_is_banned(btt_session *s, const btt_addr *a, uint64_t now_ms)
{
    for (size_t i = 0; i < s->nbans; i++)
        if (s->bans[i].until_ms > now_ms && ban_matches(&s->bans[i], a)) return true;
    return false;
}

void session_ban(btt_session *s, const btt_addr *a, uint64_t ms, const char *why)
{
    uint64_t now = uv_now(s->loop);
    ban b = {*a, now + ms};
    if (!is_loopback(a)) b.addr.port = 0;
    if (session_is_banned(s, &b.addr, now)) return;
    if (s->nbans == s->capbans) {
        size_t cap = s->capbans ? s->capbans * 2 : 8;
        ban *v = realloc(s->bans, cap * sizeof *v);
        if (!v) return;
        s->bans = v;
        s->capbans = cap;
    }
    s->bans[s->nbans++] = b;
    char buf[BTT_ADDR_STRLEN];
    BTT_LOGW(LOG_MOD, "banned %s: %s", b.addr.port ? btt_addr_format(&b.addr, buf) : btt_addr_format(a, buf), why);
    for (btt_torrent *t = s->torrents; t; t = t->next)
        for (peer *p = t->peers, *next; p; p = next) {
            next = p->next;
            if (ban_matches(&b, &p->addr)) peer_close(p, "banned");
        }
}

void session_handle_closed(btt_session *s)
{
    s->open_handles--;
    if (!s->closing || s->open_handles > 0 || s->torrents) return;
    void (*done)(void *) = s->done;
    void *ud = s->done_ud;
    btt_tracker_client_close(s->trackers);
    udp_free(s);
    dht_glue_free(s);
    speed_session_free(s);
    free(s->bans);
    free(s->bind_str);
    free(s->state_dir);
    free(s);
    if (done) done(ud);
}

static void close_now(btt_session *s);

static void on_tick(uv_timer_t *h)
{
    btt_session *s = h->data;
    uint64_t now = uv_now(s->loop);
    if (s->drain_until_ms && (!speed_session_owes(s) || now >= s->drain_until_ms)) {
        if (speed_session_owes(s))
            BTT_LOGW(LOG_MOD, "speed: closing with a voucher unsent (its channel operation did not finish in time)");
        s->drain_until_ms = 0;
        close_now(s);
        return;
    }
    for (btt_torrent *t = s->torrents; t; t = t->next) torrent_tick(t, now);
    upload_throttle_tick(s);
    for (peer *p = s->pending, *next; p; p = next) {
        next = p->next;
        if (now - p->connected_ms > 20000) peer_close(p, "handshake timed out");
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    btt_session *s = server->data;
    if (status < 0 || s->closing) return;
    peer *p = peer_new(s, NULL, NULL, true);
    if (!p) return;
    session_list_add(&s->pending, p);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_accept(server, (uv_stream_t *)&p->tcp) || uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) ||
        btt_addr_from_sockaddr((struct sockaddr *)&ss, &p->addr)) {
        peer_close(p, "accept failed");
        return;
    }
    if (session_is_banned(s, &p->addr, uv_now(s->loop))) {
        peer_close(p, "banned");
        return;
    }
    peer_start_incoming(p);
}

/* A socket of the given type bound to a (dual-stack when IPv6), as uv_tcp_bind would make
 * it; a negative errno (a libuv error code) on failure. */
static int bind_fd(const btt_addr *a, int type)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    btt_addr_to_sockaddr(a, &ss, &sl);
    int fd = socket(ss.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    int on = 1, off = 0;
    if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on)) goto fail;
    if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off)) goto fail;
    if (bind(fd, (struct sockaddr *)&ss, sl)) goto fail;
    return fd;
fail:;
    int e = -errno;
    close(fd);
    return e;
}

static uint16_t fd_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    btt_addr a;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) || btt_addr_from_sockaddr((struct sockaddr *)&ss, &a)) return 0;
    return a.port;
}

/* The TCP listener and the UDP socket (uTP, later the DHT) on one address and port, each
 * unless disabled. With port 0 the kernel picks the TCP port; when that port is taken for
 * UDP another is tried. Sets s->bind.port. */
static int open_sockets(btt_session *s, int *tfd, int *ufd, const char **what)
{
    for (int tries = 0;; tries++) {
        btt_addr a = s->bind;
        *tfd = *ufd = -1;
        if (!s->o.no_tcp) {
            int fd = bind_fd(&a, SOCK_STREAM);
            if (fd < 0) {
                *what = " (TCP)";
                return fd;
            }
            *tfd = fd;
            a.port = fd_port(fd);
        }
        if (!s->o.no_utp || !s->o.no_dht) { /* the DHT needs the socket even without uTP */
            int fd = bind_fd(&a, SOCK_DGRAM);
            if (fd < 0) {
                if (*tfd >= 0) close(*tfd);
                *tfd = -1;
                if (fd == UV_EADDRINUSE && s->o.port == 0 && !s->o.no_tcp && tries < 32) continue;
                *what = " (UDP)";
                return fd;
            }
            *ufd = fd;
            a.port = fd_port(fd);
        }
        s->bind.port = a.port;
        return 0;
    }
}

static char *default_state_dir(void)
{
    const char *e = getenv("BTT_STATE_DIR");
    if (e && *e) return strdup(e);
    const char *x = getenv("XDG_STATE_HOME");
    char buf[4096];
    if (x && *x) snprintf(buf, sizeof buf, "%s/btt", x);
    else if ((x = getenv("HOME")) && *x) snprintf(buf, sizeof buf, "%s/.local/state/btt", x);
    else return strdup("/tmp/btt-state");
    return strdup(buf);
}

static void on_handle_closed(uv_handle_t *h)
{
    btt_session *s = h->data;
    session_handle_closed(s);
}

/* Without --bind: IPv6 and IPv4 on one dual-stack socket where the host has IPv6. */
static const char *default_bind(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "0.0.0.0";
    close(fd);
    return "::";
}

btt_err btt_session_new(uv_loop_t *loop, const btt_session_opts *opts, btt_session **out, btt_error *err)
{
    *out = NULL;
    btt_session *s = calloc(1, sizeof *s);
    if (!s) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    s->loop = loop;
    if (opts) s->o = *opts;
    if (!s->o.max_peers) s->o.max_peers = 60;
    if (!s->o.max_half_open) s->o.max_half_open = 16;
    if (!s->o.unchoke_slots) s->o.unchoke_slots = 4;
    if (!s->o.optimistic_slots) s->o.optimistic_slots = 1;
    s->bind_str = strdup(s->o.bind ? s->o.bind : default_bind());
    s->state_dir = s->o.state_dir ? strdup(s->o.state_dir) : default_state_dir();
    if (!s->bind_str || !s->state_dir) {
        free(s->bind_str);
        free(s->state_dir);
        free(s);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    char spec[128];
    snprintf(spec, sizeof spec, strchr(s->bind_str, ':') ? "[%s]:%u" : "%s:%u", s->bind_str, s->o.port ? s->o.port : 1);
    btt_err e = btt_addr_parse(spec, &s->bind, err);
    if (e) {
        btt_error_prefix(err, "--bind");
        goto fail;
    }
    s->bind.port = s->o.port;
    if (s->o.no_tcp && s->o.no_utp) {
        e = btt_error_set(err, BTT_EINVAL, "no transport left: TCP and uTP are both disabled");
        goto fail;
    }
    if (!s->o.utp_fallback_ms) s->o.utp_fallback_ms = 3000;
    if (getrandom(&s->rng, sizeof s->rng, 0) != sizeof s->rng || !s->rng) s->rng = (uint64_t)uv_hrtime() | 1;
    /* BEP 20 style: client and version, then random characters */
    static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    memcpy(s->peer_id, "-BT0001-", 8);
    for (int i = 8; i < 20; i++) s->peer_id[i] = (uint8_t)alnum[session_rand(s) % (sizeof alnum - 1)];

    if ((e = btt_tracker_client_new(loop, NULL, &s->trackers, err))) goto fail;
    if ((e = speed_session_init(s, err))) goto fail;

    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->open_handles++;
    int tfd = -1, ufd = -1;
    const char *what = "";
    int r = open_sockets(s, &tfd, &ufd, &what);
    if (!r && tfd >= 0) {
        r = uv_tcp_open(&s->listener, tfd);
        if (r) close(tfd);
        else r = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
        if (r && ufd >= 0) close(ufd);
    }
    if (!r && ufd >= 0) {
        e = udp_open(s, ufd, err);
        if (e) r = UV_EIO;
    } else if (r) {
        e = btt_error_set(err, BTT_ENET, "cannot listen on %s:%u%s: %s", s->bind_str, s->o.port, what, uv_strerror(r));
    }
    if (r) {
        /* the session is freed when the handles' close completes (the loop must run) */
        s->closing = true;
        udp_close(s);
        uv_close((uv_handle_t *)&s->listener, on_handle_closed);
        return e;
    }
    s->listening = true;
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    s->open_handles++;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_init(loop, &s->pay_timer);
    s->pay_timer.data = s;
    s->open_handles++;
    dht_glue_open(s);
    *out = s;
    return BTT_OK;

fail:
    btt_tracker_client_close(s->trackers);
    free(s->bind_str);
    free(s->state_dir);
    free(s);
    return e;
}

btt_addr btt_session_listen_addr(const btt_session *s) { return s->bind; }

/* Closes the session's own handles and pending peers; the last close frees the session. */
static void close_handles(btt_session *s)
{
    s->open_handles++; /* held until everything below is started */
    uv_close((uv_handle_t *)&s->listener, on_handle_closed);
    uv_close((uv_handle_t *)&s->tick, on_handle_closed);
    uv_close((uv_handle_t *)&s->pay_timer, on_handle_closed);
    for (peer *p = s->pending, *next; p; p = next) {
        next = p->next;
        peer_close(p, "closing");
    }
    dht_glue_close(s); /* saves the routing table */
    udp_close(s); /* after every peer released its uTP connection */
    session_handle_closed(s);
}

static void torrent_stopped(btt_torrent *t)
{
    btt_session *s = t->s;
    for (btt_torrent **pp = &s->torrents; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    if (s->closing && !s->torrents) speed_session_settle(s, close_handles); /* every torrent is stopped */
    torrent_close(t, session_handle_closed);
}

void btt_session_close(btt_session *s, void (*done)(void *ud), void *ud)
{
    if (s->closing || s->drain_until_ms) return;
    s->done = done;
    s->done_ud = ud;
    speed_pay_flush(s); /* vouchers held back to cover several pieces go now */
    if (speed_session_owes(s)) {
        /* a voucher for verified pieces waits for a channel open or top-up: the connections
         * stay until it has gone out (DRAIN_MS at most), so the seller is paid */
        BTT_LOGI(LOG_MOD, "speed: paying for the last pieces before closing");
        s->drain_until_ms = uv_now(s->loop) + DRAIN_MS;
        return;
    }
    close_now(s);
}

static void close_now(btt_session *s)
{
    s->closing = true;
    if (!s->torrents) {
        speed_session_settle(s, close_handles);
        return;
    }
    for (btt_torrent *t = s->torrents, *next; t; t = next) {
        next = t->next;
        torrent_stop(t, torrent_stopped);
    }
}
