/* peer.c - one peer connection: connect/accept, the handshake, reading and decoding
 * messages, and write buffering. Protocol decisions live in torrent.c.
 *
 * Two transports carry the bytes: libuv TCP (p->tcp) and uTP (p->utp, driven by udp.c).
 * Only three things differ: how bytes come in (on_read / peer_utp_readable, both into rbuf
 * and then process), how wbuf goes out (uv_write / btt_utp_write) and how the stream is
 * closed. The uv_tcp_t is initialised for every peer: closing it frees the peer from a fresh
 * loop turn either way, and an outgoing uTP attempt that fails falls back to TCP on it.
 *
 * Message Stream Encryption (docs/mse.md) sits between the transport and the BitTorrent
 * handshake: an incoming connection whose first bytes are not a plaintext handshake goes through
 * the MSE receiver; with require_encryption outgoing ones start with the MSE initiator (our
 * handshake travels in its initial payload). Once MSE chose RC4, received bytes are decrypted as
 * they land in rbuf and wbuf is encrypted when flushed (wenc marks how far). */
#define BTT_CLIENT_INTERNAL
#include "client/client_int.h"
#include "client/dht_glue.h"
#include "client/pex.h"
#include "client/speed.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "btt/mse.h"
#include "btt/sha1.h"

#define RBUF_INITIAL (256u << 10)
#define MAX_MESSAGE ((1u << 20) + BTT_BLOCK_SIZE)

struct peer_rc4 {
    btt_rc4 enc, dec;
};

typedef struct wreq {
    uv_write_t req;
    peer *p;
    uint8_t *data;
    size_t len;
} wreq;

peer *peer_new(btt_session *s, btt_torrent *t, const btt_addr *a, bool incoming)
{
    peer *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->s = s;
    p->t = t;
    if (a) p->addr = *a;
    p->incoming = incoming;
    p->state = incoming ? P_HANDSHAKE : P_CONNECTING;
    p->am_choking = p->peer_choking = true;
    p->their_reqq = 250;
    p->connected_ms = p->last_recv_ms = p->last_send_ms = uv_now(s->loop);
    btt_buf_init(&p->wbuf, (size_t)256 << 20);
    if (uv_tcp_init(s->loop, &p->tcp)) {
        free(p);
        return NULL;
    }
    p->tcp.data = p;
    s->open_handles++;
    return p;
}

static void on_closed(uv_handle_t *h)
{
    peer *p = h->data;
    btt_session *s = p->s;
    free(p->rbuf);
    btt_buf_free(&p->wbuf);
    btt_mse_free(p->mse);
    free(p->rc4);
    free(p->out_req);
    free(p->in_req);
    btt_bitfield_free(&p->have);
    speed_peer_free(p);
    pex_peer_free(p);
    free(p);
    session_handle_closed(s);
}

void peer_close(peer *p, const char *why)
{
    if (p->state == P_CLOSING) return;
    if (p->state == P_ACTIVE && p->sp) {
        speed_pay_flush(p->s); /* a voucher held back to cover more pieces goes out first (3.7) */
        if (p->state == P_CLOSING) return; /* sending it failed and closed p */
    }
    char a[BTT_ADDR_STRLEN];
    if (p->state == P_ACTIVE) BTT_LOGI(LOG_MOD, "peer %s closed: %s", btt_addr_format(&p->addr, a), why);
    else BTT_LOGD(LOG_MOD, "peer %s closed: %s", btt_addr_format(&p->addr, a), why);
    bool was_connecting = p->state == P_CONNECTING;
    p->state = P_CLOSING;
    if (p->t) torrent_peer_closed(p->t, p);
    else session_list_remove(&p->s->pending, p);
    if (was_connecting && p->s->half_open) p->s->half_open--;
    if (p->utp) { /* a clean close: what was written still goes out, then a FIN */
        btt_utp_conn_stats st;
        btt_utp_conn_get_stats(p->utp, &st);
        BTT_LOGD(LOG_MOD,
                 "peer %s uTP: rtt %u us, cwnd %u, peer wnd %u, %" PRIu64 " packets sent, %" PRIu64
                 " received, %" PRIu64 " retransmits (%" PRIu64 " fast), %" PRIu64 " timeouts, %" PRIu64
                 " duplicate, %" PRIu64 " out of order",
                 a, st.rtt_us, st.cwnd, st.peer_wnd, st.packets_sent, st.packets_received, st.retransmits,
                 st.fast_retransmits, st.timeouts, st.dup_packets, st.ooo_packets);
        btt_utp_set_user(p->utp, NULL);
        btt_utp_release(p->utp);
        p->utp = NULL;
        udp_kick(p->s);
    }
    uv_close((uv_handle_t *)&p->tcp, on_closed);
}

size_t peer_queued(const peer *p) { return p->wbuf.len - p->woff + p->inflight; }

static void on_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    peer *p = w->p;
    p->inflight -= w->len;
    free(w->data);
    free(w);
    if (p->state == P_CLOSING) return;
    if (status < 0) {
        peer_close(p, uv_strerror(status));
        return;
    }
    if (p->state == P_ACTIVE && p->t && p->n_in) upload_serve(p->t, p);
}

/* uTP takes what its send buffer has room for; the rest waits in wbuf for WRITABLE. */
static void utp_flush(peer *p)
{
    size_t n = btt_utp_write(p->utp, p->wbuf.data + p->woff, p->wbuf.len - p->woff);
    if (n) {
        p->woff += n;
        p->last_send_ms = uv_now(p->s->loop);
        udp_kick(p->s);
    }
    if (p->woff == p->wbuf.len) {
        p->woff = p->wenc = 0;
        if (p->wbuf.cap > (1u << 20)) { /* give back what a burst grew */
            size_t max = p->wbuf.max;
            btt_buf_free(&p->wbuf);
            btt_buf_init(&p->wbuf, max);
        } else {
            btt_buf_reset(&p->wbuf);
        }
    } else if (p->woff >= (64u << 10) && p->woff * 2 >= p->wbuf.len) {
        memmove(p->wbuf.data, p->wbuf.data + p->woff, p->wbuf.len - p->woff);
        p->wbuf.len -= p->woff;
        p->wenc -= p->woff;
        p->woff = 0;
    }
}

void peer_flush(peer *p)
{
    if (p->state == P_CLOSING || p->state == P_CONNECTING || p->wbuf.len == 0) return;
    if (p->rc4 && p->wenc < p->wbuf.len) {
        btt_rc4_crypt(&p->rc4->enc, p->wbuf.data + p->wenc, p->wbuf.len - p->wenc);
        p->wenc = p->wbuf.len;
    }
    if (p->tr == TR_UTP) {
        utp_flush(p);
        return;
    }
    wreq *w = malloc(sizeof *w);
    if (!w) {
        peer_close(p, "out of memory");
        return;
    }
    w->p = p;
    w->data = btt_buf_steal(&p->wbuf, &w->len);
    p->wenc = 0;
    if (!w->data) {
        free(w);
        peer_close(p, "out of memory");
        return;
    }
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    p->inflight += w->len;
    p->last_send_ms = uv_now(p->s->loop);
    int r = uv_write(&w->req, (uv_stream_t *)&p->tcp, &b, 1, on_write);
    if (r) {
        p->inflight -= w->len;
        free(w->data);
        free(w);
        peer_close(p, uv_strerror(r));
    }
}

void peer_send_handshake(peer *p)
{
    uint8_t hs[BTT_HANDSHAKE_LEN];
    uint8_t rsv[8] = {0};
    rsv[5] |= 0x10; /* BEP 10 extension protocol */
    rsv[7] |= 0x04; /* BEP 6 fast extension */
    if (dht_glue_on(p->s, p->t)) rsv[7] |= 0x01; /* BEP 5 DHT */
    btt_wire_handshake_build(hs, rsv, p->t->mi->info_hash, p->s->peer_id);
    if (!p->incoming && p->s->o.require_encryption && !p->mse_done) {
        /* MSE first, offering RC4 only; the handshake goes in its initial payload */
        btt_error err = {0};
        if (btt_mse_initiator(&p->mse, p->t->mi->info_hash, BTT_MSE_RC4, hs, sizeof hs, &err) ||
            btt_mse_output(p->mse, &p->wbuf)) {
            peer_close(p, err.msg[0] ? btt_error_str(&err) : "out of memory");
            return;
        }
    } else if (btt_buf_append(&p->wbuf, hs, sizeof hs)) {
        peer_close(p, "out of memory");
        return;
    }
    p->sent_handshake = true;
    peer_flush(p);
    if (p->tr == TR_UTP && p->utp) btt_utp_push(p->utp); /* the handshake alone in a packet (utp.h) */
}

static void alloc_rbuf(peer *p)
{
    if (!p->rbuf) {
        p->rbuf = malloc(RBUF_INITIAL);
        p->rcap = p->rbuf ? RBUF_INITIAL : 0;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    peer *p = h->data;
    (void)suggested;
    alloc_rbuf(p);
    *buf = uv_buf_init((char *)p->rbuf + p->rlen, (unsigned)(p->rcap - p->rlen));
}

/* Grows the read buffer so one message of need bytes fits. */
static bool grow_rbuf(peer *p, size_t need)
{
    if (need <= p->rcap) return true;
    size_t cap = p->rcap;
    while (cap < need) cap *= 2;
    uint8_t *b = realloc(p->rbuf, cap);
    if (!b) return false;
    p->rbuf = b;
    p->rcap = cap;
    return true;
}

/* ---------------------------------------------------------------- MSE in front of the handshake */

/* MSE receiver: HASH('req2', SKEY) of which of our torrents? */
static bool find_skey(void *ud, const uint8_t req2[20], uint8_t skey[20])
{
    btt_session *s = ud;
    uint8_t buf[24], h[20];
    memcpy(buf, "req2", 4);
    for (btt_torrent *t = s->torrents; t; t = t->next) {
        memcpy(buf + 4, t->mi->info_hash, 20);
        btt_sha1(buf, sizeof buf, h);
        if (!memcmp(h, req2, 20)) {
            memcpy(skey, t->mi->info_hash, 20);
            return true;
        }
    }
    return false;
}

/* Feeds rbuf to the MSE handshake. True once it is over and rbuf holds the plaintext stream
 * (the initiator's initial payload first); false while it needs more or after closing. */
static bool mse_feed(peer *p)
{
    size_t used = 0;
    btt_error err = {0};
    btt_err e = btt_mse_input(p->mse, p->rbuf, p->rlen, &used, &err);
    if (!e && btt_mse_output(p->mse, &p->wbuf)) e = btt_error_set(&err, BTT_ENOMEM, "out of memory");
    if (e) {
        char as[BTT_ADDR_STRLEN];
        BTT_LOGI(LOG_MOD, "peer %s: encrypted handshake failed: %s", btt_addr_format(&p->addr, as), btt_error_str(&err));
        peer_close(p, btt_error_str(&err));
        return false;
    }
    memmove(p->rbuf, p->rbuf + used, p->rlen - used);
    p->rlen -= used;
    if (!btt_mse_done(p->mse)) {
        peer_flush(p);
        if (p->tr == TR_UTP && p->utp) btt_utp_push(p->utp);
        return false;
    }
    btt_mse_result *r = malloc(sizeof *r);
    if (r) btt_mse_result_get(p->mse, r);
    if (!r || (r->ia_len && !grow_rbuf(p, p->rlen + r->ia_len))) {
        free(r);
        peer_close(p, "out of memory");
        return false;
    }
    p->wenc = p->wbuf.len; /* what MSE wrote is final; from here on wbuf is the stream */
    if (r->method == BTT_MSE_RC4) {
        p->rc4 = malloc(sizeof *p->rc4);
        if (!p->rc4) {
            free(r);
            peer_close(p, "out of memory");
            return false;
        }
        p->rc4->enc = r->enc;
        p->rc4->dec = r->dec;
        btt_rc4_crypt(&p->rc4->dec, p->rbuf, p->rlen);
    }
    if (r->ia_len) {
        memmove(p->rbuf + r->ia_len, p->rbuf, p->rlen);
        memcpy(p->rbuf, r->ia, r->ia_len);
        p->rlen += r->ia_len;
    }
    memcpy(p->mse_skey, r->skey, 20);
    p->mse_done = true;
    free(r);
    btt_mse_free(p->mse);
    p->mse = NULL;
    peer_flush(p);
    return p->state == P_HANDSHAKE;
}

/* True once rbuf holds a plaintext BitTorrent handshake stream: outgoing plaintext connections
 * at once; incoming ones by their first bytes (plaintext "\x13BitTorrent protocol" or MSE). */
static bool mse_layer(peer *p)
{
    static const char pstr[] = "\x13" "BitTorrent protocol";
    if (p->mse) return mse_feed(p);
    if (p->mse_done || !p->incoming) return true;
    size_t n = p->rlen < 20 ? p->rlen : 20;
    if (!n) return false;
    if (!memcmp(p->rbuf, pstr, n)) {
        if (n < 20) return false;
        if (!p->s->o.require_encryption) return true;
        peer_close(p, "a plaintext handshake (encryption is required)");
        return false;
    }
    btt_error err = {0};
    uint32_t allowed = p->s->o.require_encryption ? BTT_MSE_RC4 : BTT_MSE_RC4 | BTT_MSE_PLAINTEXT;
    /* both offered: plaintext after the obfuscated handshake, as libtorrent chooses (RC4 costs CPU
     * on every byte; a peer that wants it offers RC4 alone, as Transmission does) */
    if (btt_mse_receiver(&p->mse, allowed, BTT_MSE_PLAINTEXT, find_skey, p->s, &err)) {
        peer_close(p, btt_error_str(&err));
        return false;
    }
    return mse_feed(p);
}

static bool do_handshake(peer *p, size_t *off)
{
    btt_handshake hs;
    size_t used;
    btt_error err = {0};
    if (btt_wire_handshake_parse(p->rbuf, p->rlen, &hs, &used, &err)) {
        peer_close(p, btt_error_str(&err));
        return false;
    }
    if (!used) return false;
    *off = used;
    if (p->mse_done && memcmp(hs.info_hash, p->mse_skey, 20)) {
        peer_close(p, "handshake for another torrent than the encrypted handshake named");
        return false;
    }
    if (memcmp(hs.peer_id, p->s->peer_id, 20) == 0) {
        peer_close(p, "connected to ourselves");
        return false;
    }
    if (!p->t) { /* incoming: the handshake names the torrent */
        btt_torrent *t = session_find_torrent(p->s, hs.info_hash);
        if (!t || !torrent_accepts_peer(t)) {
            peer_close(p, t ? "torrent is full" : "unknown info-hash");
            return false;
        }
        session_list_remove(&p->s->pending, p);
        p->t = t;
        peer_send_handshake(p);
    } else if (memcmp(hs.info_hash, p->t->mi->info_hash, 20) != 0) {
        peer_close(p, "handshake for another torrent");
        return false;
    }
    memcpy(p->peer_id, hs.peer_id, 20);
    p->fast = BTT_RSV_FAST(hs.reserved) != 0;
    p->ext = BTT_RSV_EXTENSION(hs.reserved) != 0;
    p->dht = BTT_RSV_DHT(hs.reserved) != 0;
    p->state = P_ACTIVE;
    char as[BTT_ADDR_STRLEN];
    BTT_LOGI(LOG_MOD, "peer %s: handshake done over %s%s", btt_addr_format(&p->addr, as), p->tr == TR_UTP ? "uTP" : "TCP",
             p->rc4 ? ", encrypted (MSE RC4)" : p->mse_done ? ", MSE plaintext" : "");
    torrent_peer_attached(p->t, p);
    if (p->state == P_ACTIVE) dht_glue_peer_attached(p);
    return p->state == P_ACTIVE;
}

static void process(peer *p)
{
    size_t off = 0;
    if (p->state == P_HANDSHAKE && (!mse_layer(p) || !do_handshake(p, &off))) return; /* more bytes, or closed */
    btt_wire_limits lim = {p->t->mi->num_pieces, MAX_MESSAGE};
    while (p->state == P_ACTIVE) {
        btt_msg m;
        size_t used, need;
        btt_error err = {0};
        if (btt_wire_next(p->rbuf + off, p->rlen - off, &lim, &m, &used, &need, &err)) {
            peer_close(p, btt_error_str(&err));
            return;
        }
        if (!used) {
            if (!grow_rbuf(p, need)) {
                peer_close(p, "out of memory");
                return;
            }
            break;
        }
        torrent_peer_msg(p->t, p, &m);
        off += used;
    }
    if (p->state == P_CLOSING) return;
    if (off) {
        memmove(p->rbuf, p->rbuf + off, p->rlen - off);
        p->rlen -= off;
    }
    peer_flush(p);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    peer *p = st->data;
    (void)buf;
    if (p->state == P_CLOSING) return;
    if (n < 0) {
        peer_close(p, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
        return;
    }
    if (n == 0) return;
    if (p->rc4) btt_rc4_crypt(&p->rc4->dec, p->rbuf + p->rlen, (size_t)n);
    p->rlen += (size_t)n;
    p->last_recv_ms = uv_now(p->s->loop);
    process(p);
}

static void start_reading(peer *p)
{
    uv_tcp_nodelay(&p->tcp, 1);
    int r = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
    if (r) peer_close(p, uv_strerror(r));
}

static void on_connect(uv_connect_t *req, int status)
{
    peer *p = req->data;
    if (p->state == P_CLOSING) return;
    if (p->s->half_open) p->s->half_open--;
    if (status < 0) {
        btt_torrent *t = p->t;
        btt_addr a = p->addr;
        p->state = P_HANDSHAKE; /* no longer counted as half-open in peer_close */
        peer_close(p, uv_strerror(status));
        torrent_peer_connect_failed(t, &a);
        return;
    }
    p->state = P_HANDSHAKE;
    p->connected_ms = uv_now(p->s->loop);
    start_reading(p);
    if (p->state == P_HANDSHAKE) peer_send_handshake(p);
}

static int tcp_connect(peer *p, const btt_addr *bind)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (bind && bind->family == p->addr.family) {
        btt_addr b = *bind;
        b.port = 0;
        btt_addr_to_sockaddr(&b, &ss, &len);
        uv_tcp_bind(&p->tcp, (struct sockaddr *)&ss, 0); /* best effort: the source address */
    }
    btt_addr_to_sockaddr(&p->addr, &ss, &len);
    p->conn.data = p;
    return uv_tcp_connect(&p->conn, &p->tcp, (struct sockaddr *)&ss, on_connect);
}

/* Our UDP socket can reach a: same family, or an IPv6 socket on the any address (dual-stack). */
static bool utp_reaches(const btt_session *s, const btt_addr *a)
{
    static const uint8_t any[16];
    if (!s->utp || s->o.no_utp) return false;
    return s->bind.family == a->family || (s->bind.family == 6 && memcmp(s->bind.ip, any, 16) == 0);
}

btt_err peer_connect(peer *p, const btt_addr *bind)
{
    btt_session *s = p->s;
    if (utp_reaches(s, &p->addr)) {
        btt_utp_conn *c = btt_utp_connect(s->utp, &p->addr, udp_now_us());
        if (c) {
            p->tr = TR_UTP;
            p->utp = c;
            p->utp_fallback = !s->o.no_tcp;
            btt_utp_set_user(c, p);
            s->half_open++;
            udp_kick(s);
            return BTT_OK;
        }
    }
    if (s->o.no_tcp) return BTT_ENET;
    if (tcp_connect(p, bind)) return BTT_ENET;
    s->half_open++;
    return BTT_OK;
}

/* The outgoing uTP attempt failed or took too long: the same peer over TCP (still counted
 * as half-open), or a failed connect when TCP is off. Never both at once. */
static void utp_fail_connect(peer *p, const char *why)
{
    btt_torrent *t = p->t;
    btt_addr a = p->addr;
    char as[BTT_ADDR_STRLEN];
    if (p->utp_fallback) {
        btt_utp_set_user(p->utp, NULL);
        btt_utp_release(p->utp);
        p->utp = NULL;
        udp_kick(p->s);
        p->tr = TR_TCP;
        p->utp_fallback = false;
        p->connected_ms = uv_now(p->s->loop);
        BTT_LOGD(LOG_MOD, "peer %s: %s; trying TCP", btt_addr_format(&p->addr, as), why);
        if (!tcp_connect(p, &p->s->bind)) return;
        why = "cannot connect";
    }
    peer_close(p, why);
    torrent_peer_connect_failed(t, &a);
}

void peer_connect_tick(peer *p, uint64_t now_ms)
{
    if (p->state == P_CONNECTING && p->tr == TR_UTP && p->utp_fallback &&
        now_ms - p->connected_ms >= p->s->o.utp_fallback_ms)
        utp_fail_connect(p, "uTP not established");
}

void peer_utp_connected(peer *p)
{
    if (p->state != P_CONNECTING) return;
    if (p->s->half_open) p->s->half_open--;
    p->state = P_HANDSHAKE;
    p->utp_fallback = false;
    p->connected_ms = uv_now(p->s->loop);
    peer_send_handshake(p);
}

void peer_utp_failed(peer *p, const char *why)
{
    if (p->state == P_CLOSING) return;
    if (p->state == P_CONNECTING) utp_fail_connect(p, why);
    else peer_close(p, why);
}

void peer_utp_readable(peer *p)
{
    while (p->state != P_CLOSING && p->state != P_CONNECTING && p->utp) {
        alloc_rbuf(p);
        if (!p->rbuf) {
            peer_close(p, "out of memory");
            return;
        }
        if (p->rlen == p->rcap) break;
        size_t n = btt_utp_read(p->utp, p->rbuf + p->rlen, p->rcap - p->rlen);
        if (!n) break;
        if (p->rc4) btt_rc4_crypt(&p->rc4->dec, p->rbuf + p->rlen, n);
        p->rlen += n;
        p->last_recv_ms = uv_now(p->s->loop);
        process(p);
    }
    udp_kick(p->s); /* reading opened the receive window */
}

void peer_utp_writable(peer *p)
{
    if (p->state == P_CLOSING || !p->utp) return;
    peer_flush(p);
    if (p->state == P_ACTIVE && p->t && p->n_in) upload_serve(p->t, p);
}

void peer_start_incoming(peer *p)
{
    p->state = P_HANDSHAKE;
    start_reading(p);
}

void peer_start_incoming_utp(peer *p, btt_utp_conn *c)
{
    p->tr = TR_UTP;
    p->utp = c;
    btt_utp_set_user(c, p);
    p->state = P_HANDSHAKE;
    peer_utp_readable(p);
}
