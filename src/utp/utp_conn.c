/* utp_conn.c - one uTP connection: handshake, sequence and ack numbers, selective acks,
 * retransmission (RTO from RTT estimates, fast retransmit), receive window, out-of-order
 * buffering, keep-alive, FIN both ways, timeouts. LEDBAT (utp_ledbat.c) sets the window.
 *
 * Sequence numbers count packets, not bytes (BEP 29): a DATA or FIN packet takes one, a STATE
 * packet carries the next one without taking it. Our packets in flight are (acked_seq, seq_nr)
 * and live in a ring indexed by seq & out_mask; out-of-order packets from the peer live in a
 * ring indexed by seq & ooo_mask. Both rings are allocated when first needed, so a half-open
 * connection costs only this struct. */
#include "utp/utp_int.h"

#include <stdlib.h>
#include <string.h>

#define US_PER_MS 1000ull
#define MIN_RTO_US 500000u
#define INITIAL_RTO_US 1000000u
#define MAX_RTO_US 60000000u
#define MAX_BACKOFF 7

static inline bool seq_lt(uint16_t a, uint16_t b) { return btt_utp_seq_lt(a, b); }

/* ------------------------------------------------------------------ byte ring */

static void ring_init(utp_ring *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->max = max;
}

static void ring_free(utp_ring *r)
{
    free(r->p);
    r->p = NULL;
    r->cap = r->head = r->len = 0;
}

/* Grows the ring so that `need` bytes fit; false if out of memory. */
static bool ring_grow(utp_ring *r, size_t need)
{
    if (need <= r->cap) return true;
    size_t cap = r->cap ? r->cap : 16384;
    while (cap < need) cap *= 2;
    if (cap > r->max) cap = r->max;
    uint8_t *p = malloc(cap);
    if (!p) return false;
    size_t first = r->len < r->cap - r->head ? r->len : r->cap - r->head;
    if (r->len) {
        memcpy(p, r->p + r->head, first);
        memcpy(p + first, r->p, r->len - first);
    }
    free(r->p);
    r->p = p;
    r->cap = cap;
    r->head = 0;
    return true;
}

/* Appends up to n bytes (what the cap allows); returns how many. */
static size_t ring_push(utp_ring *r, const uint8_t *src, size_t n)
{
    size_t room = r->max - r->len;
    if (n > room) n = room;
    if (n == 0 || !ring_grow(r, r->len + n)) return 0;
    size_t tail = (r->head + r->len) % r->cap;
    size_t first = n < r->cap - tail ? n : r->cap - tail;
    memcpy(r->p + tail, src, first);
    memcpy(r->p, src + first, n - first);
    r->len += n;
    return n;
}

/* Removes up to n bytes, copying them to dst (if not NULL); returns how many. */
static size_t ring_pop(utp_ring *r, uint8_t *dst, size_t n)
{
    if (n > r->len) n = r->len;
    if (n == 0) return 0;
    size_t first = n < r->cap - r->head ? n : r->cap - r->head;
    if (dst) {
        memcpy(dst, r->p + r->head, first);
        memcpy(dst + first, r->p, n - first);
    }
    r->head = (r->head + n) % r->cap;
    r->len -= n;
    if (r->len == 0) r->head = 0;
    return n;
}

/* ------------------------------------------------------------------ helpers */

static uint32_t pow2_at_least(uint64_t n, uint32_t lo, uint32_t hi)
{
    uint32_t v = lo;
    while (v < n && v < hi) v *= 2;
    return v;
}

static uint32_t recv_window(const btt_utp_conn *c)
{
    size_t used = c->rbuf.len + c->ooo_bytes;
    size_t max = c->mux->cfg.recv_buf;
    return used >= max ? 0 : (uint32_t)(max - used);
}

static size_t send_room(const btt_utp_conn *c)
{
    size_t used = c->sbuf.len + c->inflight_bytes;
    size_t max = c->mux->cfg.send_buf;
    return used >= max ? 0 : max - used;
}

static uint16_t in_flight_count(const btt_utp_conn *c) { return (uint16_t)(c->seq_nr - c->acked_seq - 1); }

static uint64_t current_rto(const btt_utp_conn *c)
{
    uint32_t shift = c->timeouts < MAX_BACKOFF ? c->timeouts : MAX_BACKOFF;
    uint64_t r = (uint64_t)c->rto_us << shift;
    return r > MAX_RTO_US ? MAX_RTO_US : r;
}

static bool alloc_out(btt_utp_conn *c)
{
    if (c->out) return true;
    const btt_utp_config *cfg = &c->mux->cfg;
    uint32_t n = pow2_at_least((uint64_t)cfg->send_buf / cfg->max_payload + 4, 16, 16384);
    c->out = calloc(n, sizeof *c->out);
    if (!c->out) return false;
    c->out_mask = n - 1;
    return true;
}

static bool alloc_ooo(btt_utp_conn *c)
{
    if (c->ooo) return true;
    const btt_utp_config *cfg = &c->mux->cfg;
    uint32_t n = pow2_at_least((uint64_t)cfg->recv_buf / cfg->max_payload + 4, 16, 16384);
    c->ooo = calloc(n, sizeof *c->ooo);
    if (!c->ooo) return false;
    c->ooo_mask = n - 1;
    return true;
}

static void set_state_done(btt_utp_conn *c, enum utp_state st, btt_err err)
{
    c->state = st;
    c->error = err;
    c->rto_deadline = c->probe_deadline = c->linger_deadline = 0;
    c->probe_due = false;
    utp_conn_unhash(c);
}

static void fail(btt_utp_conn *c, btt_err err)
{
    if (c->state == UTP_CLOSED || c->state == UTP_FAILED) return;
    bool visible = c->state != UTP_SYN_RECV;
    set_state_done(c, UTP_FAILED, err);
    c->ack_pending = false;
    if (visible) utp_post_event(c, BTT_UTP_EV_ERROR);
    else c->released = true; /* never shown to the application: the multiplexer frees it */
}

static void closed_cleanly(btt_utp_conn *c)
{
    if (c->state == UTP_CLOSED || c->state == UTP_FAILED) return;
    set_state_done(c, UTP_CLOSED, BTT_OK);
    utp_post_event(c, BTT_UTP_EV_CLOSED);
}

static void check_closed(btt_utp_conn *c, uint64_t now_us)
{
    if (c->state != UTP_CONNECTED) return;
    if (c->released && c->eof_delivered && !c->close_requested) {
        c->close_requested = true;
        utp_mark_dirty(c);
    }
    if (c->fin_acked && c->eof_delivered) {
        closed_cleanly(c);
    } else if (c->fin_acked && !c->linger_deadline) {
        c->linger_deadline = now_us + (uint64_t)c->mux->cfg.linger_ms * US_PER_MS;
    }
}

/* ------------------------------------------------------------------ lifetime */

btt_utp_conn *utp_conn_new(btt_utp_mux *m, const btt_addr *addr, uint64_t now_us)
{
    btt_utp_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->mux = m;
    c->addr = *addr;
    c->error = BTT_OK;
    ring_init(&c->sbuf, m->cfg.send_buf);
    ring_init(&c->rbuf, m->cfg.recv_buf);
    c->created_us = c->last_recv_us = c->last_send_us = now_us;
    c->rto_us = INITIAL_RTO_US;
    c->peer_wnd = 64u << 10;
    btt_ledbat_init(&c->cc, m->cfg.max_payload, m->cfg.target_delay_us, m->cfg.gain_bytes, m->cfg.max_cwnd);
    return c;
}

void utp_conn_free(btt_utp_conn *c)
{
    if (c->out) {
        for (uint32_t i = 0; i <= c->out_mask; i++) free(c->out[i].payload);
        free(c->out);
    }
    if (c->ooo) {
        for (uint32_t i = 0; i <= c->ooo_mask; i++) free(c->ooo[i].payload);
        free(c->ooo);
    }
    ring_free(&c->sbuf);
    ring_free(&c->rbuf);
    free(c);
}

bool utp_conn_reapable(const btt_utp_conn *c)
{
    return c->released && (c->state == UTP_CLOSED || c->state == UTP_FAILED) && !c->reset_pending &&
           !c->ack_pending;
}

void utp_conn_start_connect(btt_utp_conn *c, uint16_t recv_id, uint64_t now_us)
{
    (void)now_us;
    c->recv_id = recv_id;
    c->send_id = (uint16_t)(recv_id + 1);
    c->state = UTP_SYN_SENT;
    c->seq_nr = (uint16_t)utp_rand(c->mux);
    c->acked_seq = (uint16_t)(c->seq_nr - 1);
    c->loss_seq = c->seq_nr;
    c->exposed = true;
    utp_mark_dirty(c); /* the SYN goes out on the next transmit */
}

void utp_conn_start_accept(btt_utp_conn *c, const btt_utp_packet *syn, uint64_t now_us)
{
    c->incoming = true;
    c->recv_id = (uint16_t)(syn->conn_id + 1);
    c->send_id = syn->conn_id;
    c->state = UTP_SYN_RECV;
    c->seq_nr = (uint16_t)utp_rand(c->mux);
    c->acked_seq = (uint16_t)(c->seq_nr - 1);
    c->loss_seq = c->seq_nr;
    c->ack_nr = syn->seq;
    c->syn_seq = syn->seq;
    c->peer_wnd = syn->wnd;
    if (syn->ts_us) c->reply_micro = (uint32_t)now_us - syn->ts_us;
    c->ack_pending = true;
    utp_mark_dirty(c);
}

/* ------------------------------------------------------------------ acks */

static void rtt_sample(btt_utp_conn *c, uint64_t sample_us)
{
    if (sample_us > MAX_RTO_US) sample_us = MAX_RTO_US;
    int64_t s = (int64_t)sample_us;
    if (!c->have_rtt) {
        c->rtt_us = (uint32_t)s;
        c->rtt_var_us = (uint32_t)(s / 2);
        c->have_rtt = true;
    } else {
        int64_t delta = (int64_t)c->rtt_us - s;
        if (delta < 0) delta = -delta;
        c->rtt_var_us = (uint32_t)((int64_t)c->rtt_var_us + (delta - (int64_t)c->rtt_var_us) / 4);
        c->rtt_us = (uint32_t)((int64_t)c->rtt_us + (s - (int64_t)c->rtt_us) / 8);
    }
    uint64_t rto = (uint64_t)c->rtt_us + 4ull * c->rtt_var_us;
    if (rto < MIN_RTO_US) rto = MIN_RTO_US;
    if (rto > MAX_RTO_US) rto = MAX_RTO_US;
    c->rto_us = (uint32_t)rto;
}

/* The peer has packet o (cumulatively or selectively): drops it from the windows, samples the
 * RTT, frees its payload. Returns its payload bytes if they were not acked before. */
static uint32_t ack_packet(btt_utp_conn *c, utp_opkt *o, uint64_t now_us)
{
    if (o->sacked) return 0;
    o->sacked = true;
    if (o->counted) {
        c->cur_window -= o->len;
        o->counted = false;
    }
    if (o->need_resend) {
        o->need_resend = false;
        c->resend_count--;
    }
    if (o->transmissions == 1 && now_us >= o->sent_us) rtt_sample(c, now_us - o->sent_us);
    if (o->type == BTT_UTP_SYN && c->state == UTP_SYN_SENT) {
        c->state = UTP_CONNECTED;
        utp_post_event(c, BTT_UTP_EV_CONNECTED);
    }
    if (o->type == BTT_UTP_FIN) c->fin_acked = true;
    free(o->payload);
    o->payload = NULL;
    c->inflight_bytes -= o->len;
    return o->len;
}

static void mark_lost(btt_utp_conn *c, utp_opkt *o, uint16_t seq)
{
    if (o->counted) {
        c->cur_window -= o->len;
        o->counted = false;
    }
    if (!o->need_resend) {
        o->need_resend = true;
        c->resend_count++;
    }
    o->fast_resent = true;
    c->st.fast_retransmits++;
    if (!seq_lt(seq, c->loss_seq)) { /* one window cut per window of data */
        btt_ledbat_on_loss(&c->cc);
        c->loss_seq = c->seq_nr;
    }
    utp_mark_dirty(c);
}

static bool in_flight(const btt_utp_conn *c, uint16_t s) { return seq_lt(c->acked_seq, s) && seq_lt(s, c->seq_nr); }

static void process_sack(btt_utp_conn *c, const btt_utp_packet *pk, uint64_t now_us, uint32_t *acked, bool *progress)
{
    uint16_t base = (uint16_t)(pk->ack + 2);
    unsigned nbits = pk->sack_len * 8u;
    uint16_t top = 0;
    bool any = false;
    for (unsigned i = 0; i < nbits; i++) {
        if (!(pk->sack[i / 8] >> (i % 8) & 1)) continue;
        uint16_t s = (uint16_t)(base + i);
        if (!in_flight(c, s)) continue;
        utp_opkt *o = &c->out[s & c->out_mask];
        if (!o->sacked) {
            *acked += ack_packet(c, o, now_us);
            *progress = true;
        }
        top = s;
        any = true;
    }
    if (!any) return;
    /* a packet with 3 or more packets acked after it is lost (BEP 29 "packet loss") */
    unsigned count = 0;
    for (uint16_t s = top; in_flight(c, s); s--) {
        utp_opkt *o = &c->out[s & c->out_mask];
        if (o->sacked) {
            count++;
        } else if (count >= 3 && o->transmissions > 0 && !o->need_resend && !o->fast_resent) {
            mark_lost(c, o, s);
        }
    }
}

/* ------------------------------------------------------------------ receiving data */

/* Hands n in-order bytes to the application (dropped if it has let go). */
static bool deliver(btt_utp_conn *c, const uint8_t *p, size_t n)
{
    if (c->released) {
        c->st.bytes_received += n;
        return true;
    }
    if (c->rbuf.len + n > c->rbuf.max) return false;
    if (ring_push(&c->rbuf, p, n) != n) return false; /* out of memory: the peer resends */
    c->st.bytes_received += n;
    return true;
}

static void reach_eof(btt_utp_conn *c)
{
    c->ack_nr = c->eof_seq;
    if (!c->eof_delivered) {
        c->eof_delivered = true;
        utp_post_event(c, BTT_UTP_EV_EOF);
    }
}

static void receive_data(btt_utp_conn *c, const btt_utp_packet *pk)
{
    btt_utp_mux *m = c->mux;
    uint16_t s = pk->seq;
    c->ack_pending = true;
    utp_mark_dirty(c);
    if (c->eof_received && seq_lt(c->eof_seq, s)) {
        m->st.bad_seq++;
        return;
    }
    if (pk->type == BTT_UTP_FIN) {
        if (!c->eof_received) {
            if (seq_lt(s, (uint16_t)(c->ack_nr + 1))) { /* a FIN before data already delivered */
                m->st.bad_seq++;
                return;
            }
            c->eof_received = true;
            c->eof_seq = s;
        } else if (s != c->eof_seq) {
            m->st.bad_seq++;
            return;
        }
    }
    uint16_t diff = (uint16_t)(s - (uint16_t)(c->ack_nr + 1));
    if (diff >= 0x8000) { /* already have it: the re-ack above tells the peer */
        c->st.dup_packets++;
        return;
    }
    if (diff == 0) {
        if (pk->type == BTT_UTP_FIN) {
            reach_eof(c);
            return;
        }
        if (!deliver(c, pk->payload, pk->payload_len)) {
            m->st.over_window++;
            return;
        }
        c->ack_nr = s;
        /* drain what waited behind the hole */
        for (;;) {
            uint16_t n = (uint16_t)(c->ack_nr + 1);
            if (c->eof_received && n == c->eof_seq) {
                reach_eof(c);
                break;
            }
            if (!c->ooo || c->ooo_count == 0) break;
            utp_ipkt *ip = &c->ooo[n & c->ooo_mask];
            if (!ip->used) break;
            c->ooo_bytes -= ip->len;
            c->ooo_count--;
            bool ok = deliver(c, ip->payload, ip->len);
            free(ip->payload);
            ip->payload = NULL;
            ip->used = false;
            if (!ok) { /* only out of memory: forget it, the peer resends */
                m->st.over_window++;
                break;
            }
            c->ack_nr = n;
        }
        if (!c->released && c->rbuf.len) utp_post_event(c, BTT_UTP_EV_READABLE);
        return;
    }
    if (pk->type == BTT_UTP_FIN) return; /* recorded; reached when the hole fills */
    if (!alloc_ooo(c)) return;
    if (diff > c->ooo_mask) {
        m->st.bad_seq++;
        return;
    }
    utp_ipkt *ip = &c->ooo[s & c->ooo_mask];
    if (ip->used) {
        c->st.dup_packets++;
        return;
    }
    if (c->rbuf.len + c->ooo_bytes + pk->payload_len > c->rbuf.max) {
        m->st.over_window++;
        return;
    }
    ip->payload = malloc(pk->payload_len);
    if (!ip->payload) return;
    memcpy(ip->payload, pk->payload, pk->payload_len);
    ip->len = (uint16_t)pk->payload_len;
    ip->used = true;
    c->ooo_count++;
    c->ooo_bytes += pk->payload_len;
    c->st.ooo_packets++;
}

/* ------------------------------------------------------------------ input */

void utp_conn_input(btt_utp_conn *c, const btt_utp_packet *pk, uint64_t now_us)
{
    btt_utp_mux *m = c->mux;
    if (c->state == UTP_CLOSED || c->state == UTP_FAILED) return;
    c->st.packets_received++;
    if (pk->type == BTT_UTP_RESET) {
        fail(c, BTT_ENET);
        return;
    }
    if (pk->type == BTT_UTP_SYN) {
        /* a resent SYN: our STATE was lost, say it again */
        if (c->incoming && pk->seq == c->syn_seq) {
            c->last_recv_us = now_us;
            c->ack_pending = true;
            utp_mark_dirty(c);
        } else {
            m->st.syn_refused++;
        }
        return;
    }
    if (c->state == UTP_SYN_SENT) {
        /* only the STATE acking our SYN moves us on */
        if (pk->type != BTT_UTP_STATE || pk->ack != (uint16_t)(c->acked_seq + 1) || in_flight_count(c) != 1) {
            m->st.bad_ack++;
            return;
        }
        c->ack_nr = (uint16_t)(pk->seq - 1);
    }
    /* acks of packets never sent, or from long before the window, are forged or broken */
    uint16_t newest = (uint16_t)(c->seq_nr - 1);
    if (seq_lt(newest, pk->ack)) {
        m->st.bad_ack++;
        return;
    }
    uint32_t window_span = c->out ? c->out_mask + 1 : 16;
    if (!seq_lt(c->acked_seq, pk->ack) && (uint16_t)(c->acked_seq - pk->ack) > window_span) {
        m->st.bad_ack++;
        return;
    }
    if (c->state == UTP_SYN_RECV) {
        /* the initiator's first data proves it got our STATE (it acks our sequence number) */
        if (pk->ack != c->acked_seq || (pk->type != BTT_UTP_DATA && pk->type != BTT_UTP_FIN)) {
            if (pk->ack != c->acked_seq) m->st.bad_ack++;
            return;
        }
        c->state = UTP_CONNECTED;
        c->exposed = true;
        utp_post_event(c, BTT_UTP_EV_ACCEPT);
    }

    c->last_recv_us = now_us;
    if (pk->ts_us) {
        c->reply_micro = (uint32_t)now_us - pk->ts_us;
        btt_ledbat_reply_sample(&c->cc, c->reply_micro, now_us);
    }
    btt_ledbat_delay_sample(&c->cc, pk->ts_diff_us, now_us);
    c->peer_wnd = pk->wnd;

    uint32_t flight_before = c->cur_window;
    uint32_t acked = 0;
    bool progress = false;
    if (c->out && seq_lt(c->acked_seq, pk->ack)) {
        while (c->acked_seq != pk->ack) {
            uint16_t s = (uint16_t)(c->acked_seq + 1);
            utp_opkt *o = &c->out[s & c->out_mask];
            acked += ack_packet(c, o, now_us);
            memset(o, 0, sizeof *o);
            c->acked_seq = s;
        }
        progress = true;
        if (seq_lt(c->loss_seq, (uint16_t)(c->acked_seq + 1))) c->loss_seq = (uint16_t)(c->acked_seq + 1);
    }
    if (pk->sack && c->out) process_sack(c, pk, now_us, &acked, &progress);

    if (progress) {
        c->dup_acks = 0;
        c->timeouts = 0;
        c->rto_deadline = in_flight_count(c) ? now_us + current_rto(c) : 0;
        if (acked) btt_ledbat_on_ack(&c->cc, acked, flight_before);
        utp_mark_dirty(c);
        if (c->write_blocked && send_room(c) >= c->mux->cfg.send_buf / 4) {
            c->write_blocked = false;
            utp_post_event(c, BTT_UTP_EV_WRITABLE);
        }
    } else if (pk->type == BTT_UTP_STATE && pk->ack == c->acked_seq && in_flight_count(c) && c->out) {
        if (++c->dup_acks == 3) {
            uint16_t s = (uint16_t)(c->acked_seq + 1);
            utp_opkt *o = &c->out[s & c->out_mask];
            if (!o->sacked && o->transmissions > 0 && !o->need_resend && !o->fast_resent) mark_lost(c, o, s);
        }
    }
    if (c->peer_wnd > 0) c->probe_deadline = 0;

    if (pk->type == BTT_UTP_DATA || pk->type == BTT_UTP_FIN) receive_data(c, pk);
    if (c->state == UTP_CONNECTED && c->peer_wnd > c->cur_window) utp_mark_dirty(c);
    check_closed(c, now_us);
}

/* ------------------------------------------------------------------ output */

static size_t build(btt_utp_conn *c, uint8_t type, uint16_t seq, const uint8_t *payload, size_t len,
                    uint64_t now_us, uint8_t *out, size_t cap)
{
    btt_utp_packet pk = {0};
    uint8_t sack[BTT_UTP_SACK_MAX];
    pk.type = type;
    pk.conn_id = type == BTT_UTP_SYN ? c->recv_id : c->send_id;
    pk.ts_us = (uint32_t)now_us;
    pk.ts_diff_us = c->reply_micro;
    pk.wnd = recv_window(c);
    pk.seq = seq;
    pk.ack = type == BTT_UTP_SYN ? 0 : c->ack_nr;
    pk.payload = payload;
    pk.payload_len = len;
    if (type != BTT_UTP_SYN && type != BTT_UTP_RESET && c->ooo_count > 0) {
        /* bit i is ack_nr + 2 + i; a packet keeps within max_payload + 32 bytes after the header */
        size_t room = (size_t)c->mux->cfg.max_payload + 30 - len;
        if (room > BTT_UTP_SACK_MAX) room = BTT_UTP_SACK_MAX;
        room &= ~(size_t)3;
        memset(sack, 0, sizeof sack);
        unsigned hi = 0;
        for (unsigned i = 0; i < room * 8; i++) {
            uint16_t s = (uint16_t)(c->ack_nr + 2 + i);
            if (i + 1 > c->ooo_mask) break;
            const utp_ipkt *ip = &c->ooo[s & c->ooo_mask];
            if (ip->used) {
                sack[i / 8] |= (uint8_t)(1u << (i % 8));
                hi = i + 1;
            }
        }
        if (hi) {
            pk.sack = sack;
            pk.sack_len = (uint8_t)((hi + 31) / 32 * 4);
        }
    }
    size_t n = btt_utp_packet_build(&pk, out, cap);
    if (n == 0) return 0;
    c->last_adv_wnd = pk.wnd;
    if (type != BTT_UTP_RESET) c->ack_pending = false;
    c->last_send_us = now_us;
    c->st.packets_sent++;
    return n;
}

/* May a packet of len payload bytes go out now? */
static bool fits(btt_utp_conn *c, uint32_t len, uint64_t now_us)
{
    uint32_t cwnd = btt_ledbat_cwnd(&c->cc);
    uint32_t wnd = cwnd < c->peer_wnd ? cwnd : c->peer_wnd;
    if ((uint64_t)c->cur_window + len <= wnd) return true;
    if (c->cur_window == 0 && len <= c->peer_wnd) return true; /* a window below one packet */
    if (c->cur_window == 0 && c->peer_wnd < len) {
        if (c->probe_due) return true; /* a zero-window probe */
        if (!c->probe_deadline) c->probe_deadline = now_us + current_rto(c);
    }
    return false;
}

static size_t send_slot(btt_utp_conn *c, uint16_t s, uint64_t now_us, uint8_t *out, size_t cap)
{
    utp_opkt *o = &c->out[s & c->out_mask];
    size_t n = build(c, o->type, s, o->payload, o->len, now_us, out, cap);
    if (n == 0) return 0;
    if (o->transmissions > 0) c->st.retransmits++;
    if (o->transmissions < 255) o->transmissions++;
    o->sent_us = now_us;
    if (o->need_resend) {
        o->need_resend = false;
        c->resend_count--;
    }
    if (!o->counted) {
        o->counted = true;
        c->cur_window += o->len;
    }
    if (!c->rto_deadline) c->rto_deadline = now_us + current_rto(c);
    c->probe_due = false;
    c->probe_deadline = 0;
    return n;
}

/* A new packet of the given type at seq_nr; payload from the send buffer for DATA. */
static bool new_slot(btt_utp_conn *c, uint8_t type, uint16_t len)
{
    if (!alloc_out(c)) return false;
    utp_opkt *o = &c->out[c->seq_nr & c->out_mask];
    memset(o, 0, sizeof *o);
    if (len) {
        o->payload = malloc(len);
        if (!o->payload) return false;
        ring_pop(&c->sbuf, o->payload, len);
        c->inflight_bytes += len;
        c->st.bytes_sent += len;
    }
    o->len = len;
    o->type = type;
    o->used = true;
    c->seq_nr++;
    return true;
}

size_t utp_conn_transmit(btt_utp_conn *c, uint64_t now_us, uint8_t *out, size_t cap)
{
    if (cap < BTT_UTP_MAX_PACKET) return 0;
    if (c->reset_pending) {
        c->reset_pending = false;
        return build(c, BTT_UTP_RESET, c->seq_nr, NULL, 0, now_us, out, cap);
    }
    switch (c->state) {
    case UTP_FAILED:
        return 0;
    case UTP_CLOSED:
    case UTP_SYN_RECV:
        return c->ack_pending ? build(c, BTT_UTP_STATE, c->seq_nr, NULL, 0, now_us, out, cap) : 0;
    case UTP_SYN_SENT: {
        if (in_flight_count(c) == 0) {
            if (!new_slot(c, BTT_UTP_SYN, 0)) return 0;
        }
        uint16_t s = (uint16_t)(c->acked_seq + 1);
        utp_opkt *o = &c->out[s & c->out_mask];
        if (o->transmissions == 0 || o->need_resend) return send_slot(c, s, now_us, out, cap);
        return 0;
    }
    case UTP_CONNECTED:
        break;
    }
    uint16_t slots = (uint16_t)(c->out ? c->out_mask : 15);
    /* 1. retransmissions, oldest first, before any new data */
    if (c->resend_count) {
        for (uint16_t s = (uint16_t)(c->acked_seq + 1); s != c->seq_nr; s++) {
            utp_opkt *o = &c->out[s & c->out_mask];
            if (!o->need_resend) continue;
            if (fits(c, o->len, now_us)) return send_slot(c, s, now_us, out, cap);
            goto ack_only;
        }
    }
    /* 2. new data */
    if (c->sbuf.len && in_flight_count(c) < slots) {
        uint32_t len = c->sbuf.len < c->mux->cfg.max_payload ? (uint32_t)c->sbuf.len : c->mux->cfg.max_payload;
        if (c->push_len && c->push_len < len) len = (uint32_t)c->push_len;
        if (fits(c, len, now_us)) {
            if (!new_slot(c, BTT_UTP_DATA, (uint16_t)len)) goto ack_only;
            c->push_len = c->push_len > len ? c->push_len - len : 0;
            return send_slot(c, (uint16_t)(c->seq_nr - 1), now_us, out, cap);
        }
        goto ack_only;
    }
    /* 3. FIN once everything written is on its way */
    if (c->close_requested && !c->fin_sent && c->sbuf.len == 0 && in_flight_count(c) < slots) {
        if (!new_slot(c, BTT_UTP_FIN, 0)) goto ack_only;
        c->fin_sent = true;
        c->fin_seq = (uint16_t)(c->seq_nr - 1);
        return send_slot(c, c->fin_seq, now_us, out, cap);
    }
ack_only:
    if (c->ack_pending) return build(c, BTT_UTP_STATE, c->seq_nr, NULL, 0, now_us, out, cap);
    return 0;
}

/* ------------------------------------------------------------------ timers */

uint64_t utp_conn_deadline(const btt_utp_conn *c)
{
    uint64_t d = UINT64_MAX;
#define CONSIDER(x)                                                                                \
    do {                                                                                           \
        uint64_t v_ = (x);                                                                         \
        if (v_ && v_ < d) d = v_;                                                                  \
    } while (0)
    const btt_utp_config *cfg = &c->mux->cfg;
    switch (c->state) {
    case UTP_CLOSED:
    case UTP_FAILED:
        return UINT64_MAX;
    case UTP_SYN_RECV:
        return c->created_us + (uint64_t)cfg->syn_recv_timeout_ms * US_PER_MS;
    case UTP_SYN_SENT:
        CONSIDER(c->rto_deadline);
        return d;
    case UTP_CONNECTED:
        CONSIDER(c->rto_deadline);
        CONSIDER(c->probe_deadline);
        CONSIDER(c->linger_deadline);
        CONSIDER(c->last_send_us + (uint64_t)cfg->keepalive_ms * US_PER_MS);
        CONSIDER(c->last_recv_us + (uint64_t)cfg->idle_timeout_ms * US_PER_MS);
        return d;
    }
#undef CONSIDER
    return d;
}

void utp_conn_tick(btt_utp_conn *c, uint64_t now_us)
{
    const btt_utp_config *cfg = &c->mux->cfg;
    if (c->state == UTP_CLOSED || c->state == UTP_FAILED) return;
    if (c->state == UTP_SYN_RECV) {
        if (now_us >= c->created_us + (uint64_t)cfg->syn_recv_timeout_ms * US_PER_MS) fail(c, BTT_ETIMEDOUT);
        return;
    }
    if (c->rto_deadline && now_us >= c->rto_deadline) {
        c->rto_deadline = 0;
        if (in_flight_count(c) && c->out) {
            c->timeouts++;
            c->st.timeouts++;
            uint32_t limit = c->state == UTP_SYN_SENT ? cfg->syn_tries : cfg->max_timeouts;
            if (c->timeouts >= limit) {
                fail(c, BTT_ETIMEDOUT);
                return;
            }
            for (uint16_t s = (uint16_t)(c->acked_seq + 1); s != c->seq_nr; s++) {
                utp_opkt *o = &c->out[s & c->out_mask];
                if (o->sacked || o->transmissions == 0) continue;
                if (o->counted) {
                    c->cur_window -= o->len;
                    o->counted = false;
                }
                if (!o->need_resend) {
                    o->need_resend = true;
                    c->resend_count++;
                }
                o->fast_resent = false;
            }
            if (c->state == UTP_CONNECTED) btt_ledbat_on_timeout(&c->cc);
            c->loss_seq = c->seq_nr;
            c->dup_acks = 0;
            utp_mark_dirty(c);
        }
    }
    if (c->state != UTP_CONNECTED) return;
    if (c->probe_deadline && now_us >= c->probe_deadline) {
        c->probe_deadline = 0;
        c->probe_due = true;
        utp_mark_dirty(c);
    }
    if (c->linger_deadline && now_us >= c->linger_deadline) {
        closed_cleanly(c);
        return;
    }
    if (now_us >= c->last_recv_us + (uint64_t)cfg->idle_timeout_ms * US_PER_MS) {
        fail(c, BTT_ETIMEDOUT);
        return;
    }
    if (now_us >= c->last_send_us + (uint64_t)cfg->keepalive_ms * US_PER_MS) {
        c->ack_pending = true;
        utp_mark_dirty(c);
    }
}

/* ------------------------------------------------------------------ application API */

size_t btt_utp_write(btt_utp_conn *c, const void *p, size_t n)
{
    if ((c->state != UTP_SYN_SENT && c->state != UTP_CONNECTED) || c->close_requested || c->released) return 0;
    size_t room = send_room(c);
    size_t take = n < room ? n : room;
    take = ring_push(&c->sbuf, p, take);
    if (take < n) c->write_blocked = true;
    if (take) utp_mark_dirty(c);
    return take;
}

void btt_utp_push(btt_utp_conn *c)
{
    if (!c->push_len) c->push_len = c->sbuf.len;
}

size_t btt_utp_writable(const btt_utp_conn *c)
{
    if ((c->state != UTP_SYN_SENT && c->state != UTP_CONNECTED) || c->close_requested) return 0;
    return send_room(c);
}

size_t btt_utp_read(btt_utp_conn *c, void *p, size_t n)
{
    size_t got = ring_pop(&c->rbuf, p, n);
    if (got && c->state == UTP_CONNECTED) {
        /* tell the sender when its window opened by a quarter of the buffer */
        uint32_t w = recv_window(c);
        if (w >= c->last_adv_wnd + c->mux->cfg.recv_buf / 4) {
            c->ack_pending = true;
            utp_mark_dirty(c);
        }
    }
    return got;
}

size_t btt_utp_readable(const btt_utp_conn *c) { return c->rbuf.len; }

void btt_utp_close(btt_utp_conn *c)
{
    if (c->state == UTP_SYN_SENT) {
        set_state_done(c, UTP_CLOSED, BTT_OK);
        utp_post_event(c, BTT_UTP_EV_CLOSED);
        return;
    }
    if (c->state != UTP_CONNECTED || c->close_requested) return;
    c->close_requested = true;
    utp_mark_dirty(c);
}

void btt_utp_abort(btt_utp_conn *c)
{
    if (c->state == UTP_CONNECTED || c->state == UTP_SYN_RECV) c->reset_pending = true;
    if (c->state != UTP_CLOSED && c->state != UTP_FAILED) set_state_done(c, UTP_FAILED, BTT_ECANCELED);
    c->ack_pending = false;
    c->events = 0;
    utp_mark_dirty(c);
}

void btt_utp_set_user(btt_utp_conn *c, void *user) { c->user = user; }
void *btt_utp_user(const btt_utp_conn *c) { return c->user; }
const btt_addr *btt_utp_remote(const btt_utp_conn *c) { return &c->addr; }
btt_err btt_utp_conn_error(const btt_utp_conn *c) { return c->error; }
bool btt_utp_is_connected(const btt_utp_conn *c) { return c->state == UTP_CONNECTED; }

void btt_utp_conn_ids(const btt_utp_conn *c, uint16_t *recv_id, uint16_t *send_id)
{
    if (recv_id) *recv_id = c->recv_id;
    if (send_id) *send_id = c->send_id;
}

void btt_utp_conn_get_stats(const btt_utp_conn *c, btt_utp_conn_stats *st)
{
    *st = c->st;
    st->rtt_us = c->rtt_us;
    st->rtt_var_us = c->rtt_var_us;
    st->rto_us = (uint32_t)current_rto(c);
    st->cwnd = btt_ledbat_cwnd(&c->cc);
    st->cur_window = c->cur_window;
    st->peer_wnd = c->peer_wnd;
    st->recv_wnd = recv_window(c);
    st->queuing_delay_us = c->cc.queuing_us;
    st->base_delay_us = c->cc.ours.base;
    st->slow_start = c->cc.slow_start;
}
