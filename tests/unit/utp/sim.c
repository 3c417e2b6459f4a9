/* sim.c - the simulated network of sim.h. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rnd(sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool chance(sim *s, uint32_t ppm) { return ppm && rnd(s) % 1000000 < ppm; }

uint8_t sim_pattern(uint64_t i)
{
    uint64_t z = i * 0x9e3779b97f4a7c15ull;
    return (uint8_t)(z >> 56 ^ i >> 12);
}

static uint64_t clock_at(const sim *s, int side, uint64_t t)
{
    int64_t d = s->drift_ppm[side];
    int64_t v = (int64_t)t + s->offset_us[side] + (int64_t)(t / 1000000) * d + (int64_t)(t % 1000000) * d / 1000000;
    return (uint64_t)v;
}

uint64_t sim_clock(const sim *s, int side) { return clock_at(s, side, s->now); }

/* The simulated time at which side's clock reads at least local. */
static uint64_t sim_time_of(const sim *s, int side, uint64_t local)
{
    if (local == UINT64_MAX) return UINT64_MAX;
    int64_t base = (int64_t)local - s->offset_us[side];
    if (base < 0) return 0;
    /* t * (1 + d/1e6) = base, then step to the exact microsecond */
    uint64_t r = (uint64_t)((long double)base * 1000000.0L / (1000000.0L + (long double)s->drift_ppm[side]));
    while (r > 0 && clock_at(s, side, r - 1) >= local) r--;
    while (clock_at(s, side, r) < local) r++;
    return r;
}

static bool heap_less(const sim_pkt *a, const sim_pkt *b) { return a->at < b->at || (a->at == b->at && a->order < b->order); }

static void heap_push(sim_link *l, sim_pkt *p)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->heap = realloc(l->heap, l->cap * sizeof *l->heap);
        if (!l->heap) abort();
    }
    size_t i = l->n++;
    l->heap[i] = p;
    while (i && heap_less(l->heap[i], l->heap[(i - 1) / 2])) {
        sim_pkt *t = l->heap[i];
        l->heap[i] = l->heap[(i - 1) / 2];
        l->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static sim_pkt *heap_pop(sim_link *l)
{
    sim_pkt *top = l->heap[0];
    l->heap[0] = l->heap[--l->n];
    size_t i = 0;
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->n && heap_less(l->heap[a], l->heap[m])) m = a;
        if (b < l->n && heap_less(l->heap[b], l->heap[m])) m = b;
        if (m == i) break;
        sim_pkt *t = l->heap[i];
        l->heap[i] = l->heap[m];
        l->heap[m] = t;
        i = m;
    }
    return top;
}

void sim_link_reset_stats(sim_link *l)
{
    l->qdelay_sum_us = l->qdelay_n = 0;
    l->payload_bytes = 0;
    l->compete_bytes = 0;
}

static void link_send(sim *s, sim_link *l, const uint8_t *p, size_t len)
{
    l->sent++;
    if (l->down || chance(s, l->cfg.loss_ppm)) {
        l->lost++;
        return;
    }
    int copies = chance(s, l->cfg.dup_ppm) ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        uint64_t at = s->now;
        if (l->cfg.bw) {
            if (l->compete_us && l->busy_until < s->now + l->compete_us) {
                /* the competitor tops the queue up to compete_us */
                uint64_t from = l->busy_until > s->now ? l->busy_until : s->now;
                l->compete_bytes += (s->now + l->compete_us - from) * l->cfg.bw / 1000000;
                l->busy_until = s->now + l->compete_us;
            }
            uint64_t start = l->busy_until > s->now ? l->busy_until : s->now;
            if (l->cfg.queue_us && start - s->now > l->cfg.queue_us) {
                l->dropped_queue++;
                return;
            }
            l->busy_until = start + len * 1000000 / l->cfg.bw;
            at = l->busy_until;
            if (len > BTT_UTP_HEADER_LEN + 40) {
                l->qdelay_sum_us += start - s->now;
                l->qdelay_n++;
                l->payload_bytes += len;
            }
        }
        at += l->cfg.delay_us;
        if (chance(s, l->cfg.reorder_ppm)) at += l->cfg.reorder_us;
        sim_pkt *q = malloc(sizeof *q);
        if (!q) abort();
        q->at = at;
        q->order = s->order++;
        q->len = (uint16_t)len;
        memcpy(q->data, p, len);
        heap_push(l, q);
    }
}

/* A competitor that stops leaves a queue that keeps draining; with no uTP packet to notice,
 * busy_until still holds it. */

void sim_init(sim *s, const btt_utp_config *cfg0, const btt_utp_config *cfg1, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->rng = seed;
    s->now = 1000000; /* any origin */
    btt_utp_config d;
    btt_utp_config_default(&d);
    s->mux[0] = btt_utp_mux_new(cfg0 ? cfg0 : &d, seed * 3 + 1);
    s->mux[1] = btt_utp_mux_new(cfg1 ? cfg1 : &d, seed * 5 + 2);
    if (!s->mux[0] || !s->mux[1]) abort();
    if (btt_addr_parse("10.0.0.1:6881", &s->addr[0], NULL) || btt_addr_parse("10.0.0.2:6882", &s->addr[1], NULL))
        abort();
    for (int i = 0; i < 2; i++) s->app[i].reading = true;
}

void sim_free(sim *s)
{
    for (int i = 0; i < 2; i++) {
        btt_utp_mux_free(s->mux[i]);
        while (s->link[i].n) free(heap_pop(&s->link[i]));
        free(s->link[i].heap);
    }
}

void sim_connect(sim *s)
{
    s->app[0].conn = btt_utp_connect(s->mux[0], &s->addr[1], sim_clock(s, 0));
    if (!s->app[0].conn) abort();
}

static void app_read(sim *s, sim_app *a)
{
    (void)s;
    if (!a->reading || !a->conn) return;
    uint8_t buf[65536];
    size_t n;
    while ((n = btt_utp_read(a->conn, buf, sizeof buf)) > 0) {
        for (size_t i = 0; i < n; i++)
            if (buf[i] != sim_pattern(a->received + i)) a->bad_data = true;
        a->received += n;
    }
}

static void app_pump(sim *s, int side)
{
    sim_app *a = &s->app[side];
    btt_utp_event ev;
    while (btt_utp_mux_next_event(s->mux[side], &ev)) {
        switch (ev.type) {
        case BTT_UTP_EV_ACCEPT:
            if (!a->conn) a->conn = ev.conn;
            else btt_utp_release(ev.conn);
            a->connected = true;
            a->connected_at = s->now;
            break;
        case BTT_UTP_EV_CONNECTED:
            a->connected = true;
            a->connected_at = s->now;
            break;
        case BTT_UTP_EV_EOF:
            a->eof = true;
            a->eof_at = s->now;
            break;
        case BTT_UTP_EV_CLOSED:
            if (ev.conn == a->conn) app_read(s, a);
            a->closed = true;
            a->closed_at = s->now;
            btt_utp_release(ev.conn);
            if (ev.conn == a->conn) a->conn = NULL;
            break;
        case BTT_UTP_EV_ERROR:
            a->error = true;
            a->err = btt_utp_conn_error(ev.conn);
            a->error_at = s->now;
            btt_utp_release(ev.conn);
            if (ev.conn == a->conn) a->conn = NULL;
            break;
        default:
            break;
        }
    }
    btt_utp_conn *c = a->conn;
    if (!c) return;
    app_read(s, a);
    if (a->connected || !a->closed_sent) {
        while (a->sent < a->to_send) {
            uint8_t buf[16384];
            size_t want = a->to_send - a->sent < sizeof buf ? (size_t)(a->to_send - a->sent) : sizeof buf;
            for (size_t i = 0; i < want; i++) buf[i] = sim_pattern(a->sent + i);
            size_t n = btt_utp_write(c, buf, want);
            a->sent += n;
            if (n < want) break;
        }
    }
    if (a->close_after && !a->closed_sent && a->sent == a->to_send && a->connected && (!a->wait_eof || a->eof)) {
        a->closed_sent = true;
        btt_utp_close(c);
    }
}

static void send_all(sim *s)
{
    uint8_t buf[BTT_UTP_MAX_PACKET];
    for (int i = 0; i < 2; i++) {
        btt_addr to;
        size_t n;
        while ((n = btt_utp_mux_transmit(s->mux[i], sim_clock(s, i), buf, sizeof buf, &to)) > 0) {
            if (s->on_send) s->on_send(s, i, buf, n);
            if (btt_addr_eq(&to, &s->addr[1 - i])) link_send(s, &s->link[i], buf, n);
        }
    }
}

void sim_run(sim *s, uint64_t t_end, bool (*done)(const sim *s))
{
    while (s->now <= t_end) {
        if (++s->iterations > 200000000ull) abort();
        for (int i = 0; i < 2; i++) {
            sim_link *l = &s->link[i];
            while (l->n && l->heap[0]->at <= s->now) {
                sim_pkt *p = heap_pop(l);
                l->delivered++;
                l->bytes_delivered += p->len;
                btt_utp_mux_input(s->mux[1 - i], &s->addr[i], p->data, p->len, sim_clock(s, 1 - i));
                free(p);
            }
        }
        for (int i = 0; i < 2; i++) {
            if (btt_utp_mux_next_deadline(s->mux[i]) <= sim_clock(s, i)) btt_utp_mux_tick(s->mux[i], sim_clock(s, i));
            app_pump(s, i);
        }
        send_all(s);
        if (done && done(s)) return;
        uint64_t next = t_end + 1;
        for (int i = 0; i < 2; i++) {
            if (s->link[i].n && s->link[i].heap[0]->at < next) next = s->link[i].heap[0]->at;
            uint64_t d = sim_time_of(s, i, btt_utp_mux_next_deadline(s->mux[i]));
            if (d < next) next = d;
        }
        s->now = next > s->now ? next : s->now + 1;
    }
}
