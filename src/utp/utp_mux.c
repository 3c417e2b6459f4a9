/* utp_mux.c - many uTP connections behind one UDP socket: lookup by (remote address, receive
 * connection id) in a keyed hash table, SYN handling with bounded half-open state (in total
 * and per source IP, the oldest evicted first), rate-limited RESET replies to packets for
 * unknown connections, round-robin transmission, timers and events. */
#include "utp/utp_int.h"

#include <stdlib.h>
#include <string.h>

#define RESET_BURST 10u
#define TOKEN_FP 20

#define LIST_PUSH_TAIL(m, head, tail, c, link)                                                   \
    do {                                                                                         \
        (c)->link.prev = (m)->tail;                                                              \
        (c)->link.next = NULL;                                                                   \
        if ((m)->tail) (m)->tail->link.next = (c);                                               \
        else (m)->head = (c);                                                                    \
        (m)->tail = (c);                                                                         \
    } while (0)
#define LIST_REMOVE(m, head, tail, c, link)                                                      \
    do {                                                                                         \
        if ((c)->link.prev) (c)->link.prev->link.next = (c)->link.next;                          \
        else (m)->head = (c)->link.next;                                                         \
        if ((c)->link.next) (c)->link.next->link.prev = (c)->link.prev;                          \
        else (m)->tail = (c)->link.prev;                                                         \
        (c)->link.prev = (c)->link.next = NULL;                                                  \
    } while (0)

void btt_utp_config_default(btt_utp_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_payload = 1400;
    c->send_buf = 1u << 20;
    c->recv_buf = 1u << 20;
    c->target_delay_us = 100000;
    c->gain_bytes = 3000;
    c->max_cwnd = 16u << 20;
    c->keepalive_ms = 20000;
    c->idle_timeout_ms = 60000;
    c->syn_recv_timeout_ms = 10000;
    c->linger_ms = 10000;
    c->syn_tries = 3;
    c->max_timeouts = 6;
    c->max_conns = 1024;
    c->max_half_open = 64;
    c->max_half_open_per_ip = 4;
    c->reset_rate = 50;
    c->accept_incoming = true;
}

uint64_t utp_rand(btt_utp_mux *m)
{
    /* splitmix64 */
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t clamp32(uint32_t v, uint32_t lo, uint32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

btt_utp_mux *btt_utp_mux_new(const btt_utp_config *cfg, uint64_t seed)
{
    btt_utp_mux *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    if (cfg) m->cfg = *cfg;
    else btt_utp_config_default(&m->cfg);
    btt_utp_config *c = &m->cfg;
    c->max_payload = clamp32(c->max_payload, 150, BTT_UTP_MAX_PACKET - BTT_UTP_HEADER_LEN - 2 - BTT_UTP_SACK_MAX);
    c->send_buf = clamp32(c->send_buf, c->max_payload, 1u << 30);
    c->recv_buf = clamp32(c->recv_buf, c->max_payload, 1u << 30);
    c->max_conns = clamp32(c->max_conns, 1, 1u << 20);
    if (c->max_half_open > c->max_conns) c->max_half_open = c->max_conns;
    if (c->syn_tries == 0) c->syn_tries = 1;
    if (c->max_timeouts == 0) c->max_timeouts = 1;
    m->rng = seed ^ 0x75747062747431ull;
    m->hseed = utp_rand(m);
    uint32_t n = 16;
    while (n < 2 * c->max_conns) n *= 2;
    m->table = calloc(n, sizeof *m->table);
    if (!m->table) {
        free(m);
        return NULL;
    }
    m->table_mask = n - 1;
    m->reset_tokens_fp = (uint64_t)RESET_BURST << TOKEN_FP;
    return m;
}

static void conn_destroy(btt_utp_conn *c)
{
    btt_utp_mux *m = c->mux;
    utp_conn_unhash(c);
    LIST_REMOVE(m, all_head, all_tail, c, all);
    if (c->in_dirty) LIST_REMOVE(m, dirty_head, dirty_tail, c, dirty);
    if (c->in_ev) LIST_REMOVE(m, ev_head, ev_tail, c, ev);
    if (c->in_ho) {
        LIST_REMOVE(m, ho_head, ho_tail, c, ho);
        m->st.half_open--;
    }
    m->st.conns--;
    utp_conn_free(c);
}

void btt_utp_mux_free(btt_utp_mux *m)
{
    if (!m) return;
    while (m->all_head) conn_destroy(m->all_head);
    free(m->table);
    free(m);
}

/* ------------------------------------------------------------------ table */

static uint32_t hash_key(const btt_utp_mux *m, const btt_addr *a, uint16_t id)
{
    uint64_t h = m->hseed ^ ((uint64_t)a->family << 32) ^ ((uint64_t)a->port << 16) ^ id;
    size_t n = a->family == 6 ? 16 : 4;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t w = (uint32_t)a->ip[i] << 24 | (uint32_t)a->ip[i + 1] << 16 | (uint32_t)a->ip[i + 2] << 8 | a->ip[i + 3];
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    h = (h ^ (h >> 32)) * 0xd6e8feb86659fd93ull;
    return (uint32_t)(h ^ (h >> 32));
}

static btt_utp_conn *lookup(const btt_utp_mux *m, const btt_addr *a, uint16_t recv_id)
{
    for (btt_utp_conn *c = m->table[hash_key(m, a, recv_id) & m->table_mask]; c; c = c->hnext)
        if (c->recv_id == recv_id && btt_addr_eq(&c->addr, a)) return c;
    return NULL;
}

static void hash_insert(btt_utp_conn *c)
{
    btt_utp_mux *m = c->mux;
    btt_utp_conn **slot = &m->table[hash_key(m, &c->addr, c->recv_id) & m->table_mask];
    c->hnext = *slot;
    *slot = c;
    c->hashed = true;
}

void utp_conn_unhash(btt_utp_conn *c)
{
    if (!c->hashed) return;
    btt_utp_mux *m = c->mux;
    btt_utp_conn **p = &m->table[hash_key(m, &c->addr, c->recv_id) & m->table_mask];
    while (*p && *p != c) p = &(*p)->hnext;
    if (*p) *p = c->hnext;
    c->hnext = NULL;
    c->hashed = false;
}

/* ------------------------------------------------------------------ lists */

void utp_mark_dirty(btt_utp_conn *c)
{
    if (c->in_dirty) return;
    btt_utp_mux *m = c->mux;
    LIST_PUSH_TAIL(m, dirty_head, dirty_tail, c, dirty);
    c->in_dirty = true;
}

void utp_post_event(btt_utp_conn *c, enum btt_utp_event_type t)
{
    if (c->released) return;
    c->events |= EVBIT(t);
    if (c->in_ev) return;
    btt_utp_mux *m = c->mux;
    LIST_PUSH_TAIL(m, ev_head, ev_tail, c, ev);
    c->in_ev = true;
}

static void leave_half_open(btt_utp_conn *c)
{
    if (!c->in_ho || c->state == UTP_SYN_RECV) return;
    btt_utp_mux *m = c->mux;
    LIST_REMOVE(m, ho_head, ho_tail, c, ho);
    c->in_ho = false;
    m->st.half_open--;
}

static void after_activity(btt_utp_conn *c)
{
    leave_half_open(c);
    if (utp_conn_reapable(c)) conn_destroy(c);
}

/* ------------------------------------------------------------------ input */

static void queue_reset(btt_utp_mux *m, const btt_addr *to, const btt_utp_packet *pk, uint64_t now_us)
{
    /* token bucket: reset_rate per second, bursts of RESET_BURST */
    if (now_us > m->reset_refill_us) {
        uint64_t dt = now_us - m->reset_refill_us;
        if (dt > 10000000) dt = 10000000;
        m->reset_tokens_fp += (dt * m->cfg.reset_rate << TOKEN_FP) / 1000000;
        if (m->reset_tokens_fp > (uint64_t)RESET_BURST << TOKEN_FP) m->reset_tokens_fp = (uint64_t)RESET_BURST << TOKEN_FP;
    }
    m->reset_refill_us = now_us;
    if (m->reset_tokens_fp < (1u << TOKEN_FP) || m->rq_len == sizeof m->rq / sizeof m->rq[0]) {
        m->st.resets_limited++;
        return;
    }
    m->reset_tokens_fp -= 1u << TOKEN_FP;
    unsigned i = (m->rq_head + m->rq_len) % (sizeof m->rq / sizeof m->rq[0]);
    m->rq[i].to = *to;
    m->rq[i].conn_id = pk->conn_id;
    m->rq[i].seq = (uint16_t)utp_rand(m);
    m->rq[i].ack = pk->seq;
    m->rq_len++;
}

static void handle_syn(btt_utp_mux *m, const btt_addr *from, const btt_utp_packet *pk, uint64_t now_us)
{
    btt_utp_conn *c = lookup(m, from, (uint16_t)(pk->conn_id + 1));
    if (c) { /* a resent SYN, or an id in use */
        utp_conn_input(c, pk, now_us);
        after_activity(c);
        return;
    }
    if (!m->cfg.accept_incoming || m->cfg.max_half_open == 0) {
        m->st.syn_refused++;
        return;
    }
    uint32_t same_ip = 0;
    for (btt_utp_conn *h = m->ho_head; h; h = h->ho.next)
        if (btt_addr_same_ip(&h->addr, from)) same_ip++;
    if (same_ip >= m->cfg.max_half_open_per_ip) {
        m->st.syn_refused++;
        return;
    }
    if (m->st.half_open >= m->cfg.max_half_open) { /* make room: the oldest goes */
        conn_destroy(m->ho_head);
        m->st.syn_evicted++;
    }
    if (m->st.conns >= m->cfg.max_conns) {
        m->st.syn_refused++;
        return;
    }
    c = utp_conn_new(m, from, now_us);
    if (!c) {
        m->st.syn_refused++;
        return;
    }
    LIST_PUSH_TAIL(m, all_head, all_tail, c, all);
    m->st.conns++;
    LIST_PUSH_TAIL(m, ho_head, ho_tail, c, ho);
    c->in_ho = true;
    m->st.half_open++;
    utp_conn_start_accept(c, pk, now_us);
    hash_insert(c);
}

bool btt_utp_mux_input(btt_utp_mux *m, const btt_addr *from, const uint8_t *p, size_t len, uint64_t now_us)
{
    if (!btt_utp_looks_like(p, len)) return false;
    m->st.packets_in++;
    m->st.bytes_in += len;
    btt_utp_packet pk;
    if (btt_utp_packet_parse(p, len, &pk, NULL) != BTT_OK) {
        m->st.malformed++;
        return true;
    }
    if (pk.type == BTT_UTP_SYN) {
        handle_syn(m, from, &pk, now_us);
        return true;
    }
    btt_utp_conn *c = lookup(m, from, pk.conn_id);
    if (!c && pk.type == BTT_UTP_RESET) {
        /* a RESET may carry the id we send with (libutp and libtorrent reply with the id they got) */
        c = lookup(m, from, (uint16_t)(pk.conn_id + 1));
        if (c && c->send_id != pk.conn_id) c = NULL;
        if (!c) c = lookup(m, from, (uint16_t)(pk.conn_id - 1));
        if (c && c->send_id != pk.conn_id) c = NULL;
    }
    if (!c) {
        m->st.unknown_conn++;
        if (pk.type != BTT_UTP_RESET) queue_reset(m, from, &pk, now_us);
        return true;
    }
    utp_conn_input(c, &pk, now_us);
    after_activity(c);
    return true;
}

/* ------------------------------------------------------------------ output, timers, events */

size_t btt_utp_mux_transmit(btt_utp_mux *m, uint64_t now_us, uint8_t *out, size_t cap, btt_addr *to)
{
    if (cap < BTT_UTP_MAX_PACKET) return 0;
    if (m->rq_len) {
        btt_utp_packet pk = {0};
        pk.type = BTT_UTP_RESET;
        pk.conn_id = m->rq[m->rq_head].conn_id;
        pk.ts_us = (uint32_t)now_us;
        pk.seq = m->rq[m->rq_head].seq;
        pk.ack = m->rq[m->rq_head].ack;
        *to = m->rq[m->rq_head].to;
        m->rq_head = (m->rq_head + 1) % (sizeof m->rq / sizeof m->rq[0]);
        m->rq_len--;
        size_t n = btt_utp_packet_build(&pk, out, cap);
        m->st.resets_sent++;
        m->st.packets_out++;
        m->st.bytes_out += n;
        return n;
    }
    while (m->dirty_head) {
        btt_utp_conn *c = m->dirty_head;
        size_t n = utp_conn_transmit(c, now_us, out, cap);
        if (n) {
            *to = c->addr;
            /* round robin: the next packet comes from the next connection */
            LIST_REMOVE(m, dirty_head, dirty_tail, c, dirty);
            LIST_PUSH_TAIL(m, dirty_head, dirty_tail, c, dirty);
            m->st.packets_out++;
            m->st.bytes_out += n;
            return n;
        }
        LIST_REMOVE(m, dirty_head, dirty_tail, c, dirty);
        c->in_dirty = false;
        after_activity(c);
    }
    return 0;
}

void btt_utp_mux_tick(btt_utp_mux *m, uint64_t now_us)
{
    btt_utp_conn *next;
    for (btt_utp_conn *c = m->all_head; c; c = next) {
        next = c->all.next;
        if (utp_conn_deadline(c) <= now_us) utp_conn_tick(c, now_us);
        after_activity(c);
    }
}

uint64_t btt_utp_mux_next_deadline(const btt_utp_mux *m)
{
    uint64_t d = UINT64_MAX;
    for (const btt_utp_conn *c = m->all_head; c; c = c->all.next) {
        uint64_t v = utp_conn_deadline(c);
        if (v < d) d = v;
    }
    return d;
}

bool btt_utp_mux_next_event(btt_utp_mux *m, btt_utp_event *ev)
{
    while (m->ev_head) {
        btt_utp_conn *c = m->ev_head;
        if (c->released || c->events == 0) {
            c->events = 0;
            LIST_REMOVE(m, ev_head, ev_tail, c, ev);
            c->in_ev = false;
            continue;
        }
        unsigned t = (unsigned)__builtin_ctz(c->events);
        c->events &= ~(1u << t);
        if (c->events == 0) {
            LIST_REMOVE(m, ev_head, ev_tail, c, ev);
            c->in_ev = false;
        }
        ev->type = (enum btt_utp_event_type)t;
        ev->conn = c;
        return true;
    }
    return false;
}

void btt_utp_mux_get_stats(const btt_utp_mux *m, btt_utp_mux_stats *st) { *st = m->st; }

btt_utp_conn *btt_utp_connect(btt_utp_mux *m, const btt_addr *to, uint64_t now_us)
{
    if (m->st.conns >= m->cfg.max_conns) return NULL;
    uint16_t id = 0;
    bool found = false;
    for (int i = 0; i < 64 && !found; i++) {
        id = (uint16_t)utp_rand(m);
        found = !lookup(m, to, id);
    }
    if (!found) return NULL;
    btt_utp_conn *c = utp_conn_new(m, to, now_us);
    if (!c) return NULL;
    LIST_PUSH_TAIL(m, all_head, all_tail, c, all);
    m->st.conns++;
    utp_conn_start_connect(c, id, now_us);
    hash_insert(c);
    return c;
}

void btt_utp_release(btt_utp_conn *c)
{
    if (c->released) return;
    c->released = true;
    c->events = 0;
    /* nobody reads any more: drop what waits, keep acking what comes */
    c->rbuf.len = c->rbuf.head = 0;
    if (c->state == UTP_SYN_SENT) {
        btt_utp_close(c);
    } else if (c->state == UTP_CONNECTED && !c->close_requested) {
        c->close_requested = true;
        utp_mark_dirty(c);
    }
    if (utp_conn_reapable(c)) conn_destroy(c);
}
