/* Unit tests for uTP connections and the multiplexer, through the simulated network of sim.h:
 * exact transfers at 0%, 1% and 5% loss, with reordering and duplication, both directions at
 * once, across sequence-number wraparound; retransmission timing; SYN retries; windows; close
 * handshakes; reset; keep-alive and idle timeout; SYN floods; hostile packets mid-transfer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/utp.h"
#include "sim.h"

#define MIB (1024u * 1024u)
#define SEC 1000000ull
#define MS 1000ull

static bool both_closed(const sim *s) { return s->app[0].closed && s->app[1].closed; }

/* Side 0 sends n bytes and closes; side 1 reads, closes after EOF. */
static void start_transfer(sim *s, uint64_t n)
{
    s->app[0].to_send = n;
    s->app[0].close_after = true;
    s->app[1].close_after = true;
    s->app[1].wait_eof = true;
    sim_connect(s);
}

static void check_transfer(sim *s, uint64_t n, const char *name)
{
    btt_utp_mux_stats m0, m1;
    btt_utp_mux_get_stats(s->mux[0], &m0);
    btt_utp_mux_get_stats(s->mux[1], &m1);
    double secs = (double)(s->app[1].eof_at - s->app[0].connected_at) / 1e6;
    printf("  %-22s %6.2f s simulated, goodput %7.2f MB/s, packets out %llu/%llu, lost on link %llu/%llu, "
           "dropped at queue %llu\n",
           name, secs, (double)n / secs / 1e6, (unsigned long long)m0.packets_out,
           (unsigned long long)m1.packets_out, (unsigned long long)s->link[0].lost,
           (unsigned long long)s->link[1].lost, (unsigned long long)s->link[0].dropped_queue);
    assert_false(s->app[1].bad_data);
    assert_int_equal(s->app[1].received, n);
    assert_true(s->app[1].eof);
    assert_true(s->app[0].closed);
    assert_true(s->app[1].closed);
    assert_false(s->app[0].error);
    assert_false(s->app[1].error);
    assert_int_equal(m0.conns, 0);
    assert_int_equal(m1.conns, 0);
    assert_int_equal(m0.malformed + m1.malformed, 0);
    assert_int_equal(m0.bad_ack + m1.bad_ack, 0);
}

static void run_transfer(const char *name, sim_link_cfg l, uint64_t n, uint64_t seed, const btt_utp_config *cfg)
{
    sim s;
    sim_init(&s, cfg, cfg, seed);
    s.link[0].cfg = l;
    s.link[1].cfg = l;
    s.link[1].cfg.bw = 0; /* acks do not queue */
    start_transfer(&s, n);
    sim_run(&s, s.now + 600 * SEC, both_closed);
    check_transfer(&s, n, name);
    sim_free(&s);
}

static sim_link_cfg link10(void)
{
    sim_link_cfg l = {0};
    l.delay_us = 10 * MS;
    l.bw = 10 * 1000 * 1000;
    l.queue_us = 500 * MS;
    return l;
}

static void test_transfer_clean(void **state)
{
    (void)state;
    run_transfer("0% loss", link10(), 4 * MIB, 1, NULL);
}

static void test_transfer_loss1(void **state)
{
    (void)state;
    sim_link_cfg l = link10();
    l.loss_ppm = 10000;
    run_transfer("1% loss both ways", l, 4 * MIB, 2, NULL);
}

static void test_transfer_loss5(void **state)
{
    (void)state;
    sim_link_cfg l = link10();
    l.loss_ppm = 50000;
    run_transfer("5% loss both ways", l, 4 * MIB, 3, NULL);
}

static void test_transfer_reorder(void **state)
{
    (void)state;
    sim_link_cfg l = link10();
    l.reorder_ppm = 50000;
    l.reorder_us = 15 * MS;
    l.dup_ppm = 20000;
    l.loss_ppm = 10000;
    run_transfer("reorder 5%, dup 2%, 1%", l, 4 * MIB, 4, NULL);
}

static void test_transfer_wraparound(void **state)
{
    (void)state;
    /* 150-byte packets: 8 MiB is 56,000 packets, and the sequence numbers wrap at 65,536 */
    btt_utp_config cfg;
    btt_utp_config_default(&cfg);
    cfg.max_payload = 150;
    sim_link_cfg l = link10();
    l.loss_ppm = 5000;
    l.reorder_ppm = 10000;
    l.reorder_us = 5 * MS;
    run_transfer("150-byte packets, wrap", l, 12 * MIB, 5, &cfg);
}

static void test_transfer_both_ways(void **state)
{
    (void)state;
    sim s;
    sim_init(&s, NULL, NULL, 6);
    s.link[0].cfg = link10();
    s.link[1].cfg = link10();
    s.link[0].cfg.loss_ppm = s.link[1].cfg.loss_ppm = 10000;
    s.app[0].to_send = s.app[1].to_send = 2 * MIB;
    s.app[0].close_after = s.app[1].close_after = true;
    s.app[1].wait_eof = true;
    sim_connect(&s);
    sim_run(&s, s.now + 600 * SEC, both_closed);
    assert_false(s.app[0].bad_data);
    assert_false(s.app[1].bad_data);
    assert_int_equal(s.app[0].received, 2 * MIB);
    assert_int_equal(s.app[1].received, 2 * MIB);
    assert_true(both_closed(&s));
    sim_free(&s);
}

/* ------------------------------------------------------------------ timing */

typedef struct send_log {
    uint64_t t[64];
    uint8_t type[64];
    uint16_t seq[64];
    int n;
} send_log;

static void log_side0(sim *s, int side, const uint8_t *p, size_t len)
{
    send_log *lg = s->user;
    btt_utp_packet pk;
    if (side != 0 || btt_utp_packet_parse(p, len, &pk, NULL) != BTT_OK) return;
    if (pk.type == BTT_UTP_STATE) return;
    if (lg->n < 64) {
        lg->t[lg->n] = s->now;
        lg->type[lg->n] = pk.type;
        lg->seq[lg->n] = pk.seq;
        lg->n++;
    }
}

static bool app0_connected(const sim *s) { return s->app[0].connected; }
static bool app0_error(const sim *s) { return s->app[0].error; }

static void test_syn_retries(void **state)
{
    (void)state;
    sim s;
    send_log lg = {0};
    sim_init(&s, NULL, NULL, 7);
    s.user = &lg;
    s.on_send = log_side0;
    s.link[0].down = true;
    uint64_t t0 = s.now;
    sim_connect(&s);
    sim_run(&s, t0 + 60 * SEC, app0_error);
    assert_true(s.app[0].error);
    assert_int_equal(s.app[0].err, BTT_ETIMEDOUT);
    /* SYNs at 0, 1 and 3 s (RTO 1 s, doubled), failure at 7 s */
    assert_int_equal(lg.n, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(lg.type[i], BTT_UTP_SYN);
    assert_int_equal(lg.t[0] - t0, 0);
    assert_int_equal(lg.t[1] - t0, 1 * SEC);
    assert_int_equal(lg.t[2] - t0, 3 * SEC);
    assert_int_equal(s.app[0].error_at - t0, 7 * SEC);
    btt_utp_mux_stats st;
    btt_utp_mux_get_stats(s.mux[0], &st);
    assert_int_equal(st.conns, 0);
    sim_free(&s);
}

static void test_rto_backoff(void **state)
{
    (void)state;
    sim s;
    send_log lg = {0};
    sim_init(&s, NULL, NULL, 8);
    s.link[0].cfg.delay_us = s.link[1].cfg.delay_us = 20 * MS;
    sim_connect(&s);
    sim_run(&s, s.now + 5 * SEC, app0_connected);
    assert_true(app0_connected(&s));
    /* one data packet into a dead link: RTO = max(rtt + 4 rtt_var, 500 ms), doubling */
    s.link[0].down = true;
    s.user = &lg;
    s.on_send = log_side0;
    s.app[0].to_send = 100;
    uint64_t t0 = s.now;
    sim_run(&s, t0 + 120 * SEC, app0_error);
    assert_true(s.app[0].error);
    assert_int_equal(s.app[0].err, BTT_ETIMEDOUT);
    /* first send + 5 resends (max_timeouts 6), then failure */
    assert_int_equal(lg.n, 6);
    uint64_t expect[] = {0, 500 * MS, 1500 * MS, 3500 * MS, 7500 * MS, 15500 * MS};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(lg.type[i], BTT_UTP_DATA);
        assert_int_equal(lg.seq[i], lg.seq[0]);
        assert_int_equal(lg.t[i] - t0, expect[i]);
    }
    assert_int_equal(s.app[0].error_at - t0, 31500 * MS);
    sim_free(&s);
}

static void test_rto_from_rtt(void **state)
{
    (void)state;
    /* a 500 ms RTT with jitter: the RTO is rtt + 4 rtt_var, above the 500 ms floor */
    sim s;
    sim_init(&s, NULL, NULL, 9);
    s.link[0].cfg.delay_us = s.link[1].cfg.delay_us = 250 * MS;
    s.link[0].cfg.reorder_ppm = 300000;
    s.link[0].cfg.reorder_us = 40 * MS;
    s.app[0].to_send = 200000;
    sim_connect(&s);
    sim_run(&s, s.now + 10 * SEC, NULL);
    assert_int_equal(s.app[1].received, 200000);
    btt_utp_conn_stats st;
    btt_utp_conn_get_stats(s.app[0].conn, &st);
    printf("  rtt %u us, rtt_var %u us, rto %u us\n", st.rtt_us, st.rtt_var_us, st.rto_us);
    assert_true(st.rtt_us >= 500000 && st.rtt_us <= 540000);
    assert_int_equal(st.rto_us, st.rtt_us + 4 * st.rtt_var_us);
    assert_true(st.rto_us > 500000);
    sim_free(&s);
}

/* ------------------------------------------------------------------ windows */

static void test_receive_window(void **state)
{
    (void)state;
    btt_utp_config cfg;
    btt_utp_config_default(&cfg);
    cfg.recv_buf = 64 * 1024;
    cfg.send_buf = 256 * 1024;
    sim s;
    sim_init(&s, &cfg, &cfg, 10);
    s.link[0].cfg = link10();
    s.link[1].cfg.delay_us = 10 * MS;
    s.app[1].reading = false;
    start_transfer(&s, 1 * MIB);
    sim_run(&s, s.now + 20 * SEC, NULL);
    /* the receiver holds exactly its buffer; the sender never overran it */
    assert_true(s.app[1].conn != NULL);
    size_t held = btt_utp_readable(s.app[1].conn);
    assert_true(held > 64 * 1024 - 1400 && held <= 64 * 1024);
    btt_utp_mux_stats m1;
    btt_utp_mux_get_stats(s.mux[1], &m1);
    /* only zero-window probes (one per backed-off RTO) arrive over the window */
    printf("  zero-window probes dropped by the receiver: %llu\n", (unsigned long long)m1.over_window);
    assert_true(m1.over_window <= 6);
    /* the send buffer caps what write takes */
    assert_int_equal(s.app[0].sent, 256 * 1024 + held);
    btt_utp_conn_stats st;
    btt_utp_conn_get_stats(s.app[0].conn, &st);
    assert_true(st.peer_wnd < 1400); /* less than a packet left */
    /* reading opens the window and the rest follows */
    s.app[1].reading = true;
    sim_run(&s, s.now + 120 * SEC, both_closed);
    check_transfer(&s, 1 * MIB, "64 KiB receive window");
    sim_free(&s);
}

/* ------------------------------------------------------------------ closing */

static void test_close_both_ways(void **state)
{
    (void)state;
    sim s;
    sim_init(&s, NULL, NULL, 11);
    s.link[0].cfg = link10();
    s.link[1].cfg = link10();
    /* side 0 sends 100 kB and closes; side 1 answers 50 kB after the EOF, then closes */
    s.app[0].to_send = 100000;
    s.app[0].close_after = true;
    sim_connect(&s);
    sim_run(&s, s.now + 10 * SEC, NULL);
    assert_true(s.app[1].eof);
    assert_false(s.app[1].closed);
    assert_int_equal(s.app[1].received, 100000);
    s.app[1].to_send = 50000;
    s.app[1].close_after = true;
    sim_run(&s, s.now + 30 * SEC, both_closed);
    assert_true(both_closed(&s));
    assert_true(s.app[0].eof);
    assert_int_equal(s.app[0].received, 50000);
    assert_false(s.app[0].bad_data || s.app[1].bad_data);
    sim_free(&s);
}

static void test_release_flushes(void **state)
{
    (void)state;
    sim s;
    sim_init(&s, NULL, NULL, 12);
    s.link[0].cfg = link10();
    s.link[1].cfg = link10();
    s.app[1].close_after = true;
    s.app[1].wait_eof = true;
    sim_connect(&s);
    sim_run(&s, s.now + 5 * SEC, app0_connected);
    /* write, let go at once: the data and a FIN still go out; the core frees it afterwards */
    uint8_t buf[50000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = sim_pattern(i);
    assert_int_equal(btt_utp_write(s.app[0].conn, buf, sizeof buf), sizeof buf);
    btt_utp_release(s.app[0].conn);
    s.app[0].conn = NULL;
    sim_run(&s, s.now + 30 * SEC, NULL);
    assert_int_equal(s.app[1].received, sizeof buf);
    assert_false(s.app[1].bad_data);
    assert_true(s.app[1].eof && s.app[1].closed);
    btt_utp_mux_stats m0;
    btt_utp_mux_get_stats(s.mux[0], &m0);
    assert_int_equal(m0.conns, 0);
    sim_free(&s);
}

static void test_abort_resets_peer(void **state)
{
    (void)state;
    sim s;
    sim_init(&s, NULL, NULL, 13);
    s.link[0].cfg.delay_us = s.link[1].cfg.delay_us = 5 * MS;
    sim_connect(&s);
    s.app[0].to_send = 10000;
    sim_run(&s, s.now + 5 * SEC, NULL);
    assert_int_equal(s.app[1].received, 10000);
    btt_utp_abort(s.app[0].conn);
    btt_utp_release(s.app[0].conn);
    s.app[0].conn = NULL;
    sim_run(&s, s.now + 5 * SEC, NULL);
    assert_true(s.app[1].error);
    assert_int_equal(s.app[1].err, BTT_ENET);
    btt_utp_mux_stats m0, m1;
    btt_utp_mux_get_stats(s.mux[0], &m0);
    btt_utp_mux_get_stats(s.mux[1], &m1);
    assert_int_equal(m0.conns + m1.conns, 0);
    sim_free(&s);
}

/* ------------------------------------------------------------------ idle */

static int count_states;
static void count_side0_states(sim *s, int side, const uint8_t *p, size_t len)
{
    (void)s;
    btt_utp_packet pk;
    if (side == 0 && btt_utp_packet_parse(p, len, &pk, NULL) == BTT_OK && pk.type == BTT_UTP_STATE) count_states++;
}

static void test_keepalive_and_idle_timeout(void **state)
{
    (void)state;
    sim s;
    sim_init(&s, NULL, NULL, 14);
    s.link[0].cfg.delay_us = s.link[1].cfg.delay_us = 5 * MS;
    sim_connect(&s);
    s.app[0].to_send = 1000;
    sim_run(&s, s.now + 2 * SEC, NULL);
    assert_int_equal(s.app[1].received, 1000);
    /* idle for 300 s: keep-alives (every 20 s) hold it open */
    count_states = 0;
    s.on_send = count_side0_states;
    sim_run(&s, s.now + 300 * SEC, NULL);
    assert_false(s.app[0].error || s.app[1].error);
    assert_true(btt_utp_is_connected(s.app[0].conn));
    printf("  keep-alives from side 0 in 300 s: %d\n", count_states);
    assert_true(count_states >= 14 && count_states <= 16);
    /* the path dies: both sides time out 60 s after they last heard anything */
    s.link[0].down = s.link[1].down = true;
    uint64_t t0 = s.now;
    sim_run(&s, t0 + 200 * SEC, NULL);
    assert_true(s.app[0].error && s.app[1].error);
    assert_int_equal(s.app[0].err, BTT_ETIMEDOUT);
    assert_true(s.app[0].error_at - t0 <= 60 * SEC && s.app[0].error_at - t0 >= 40 * SEC);
    assert_true(s.app[1].error_at - t0 <= 60 * SEC && s.app[1].error_at - t0 >= 40 * SEC);
    sim_free(&s);
}

/* ------------------------------------------------------------------ hostile input */

static size_t make_pkt(uint8_t *out, uint8_t type, uint16_t conn_id, uint16_t seq, uint16_t ack, size_t payload)
{
    uint8_t data[1400];
    memset(data, 'x', sizeof data);
    btt_utp_packet pk = {0};
    pk.type = type;
    pk.conn_id = conn_id;
    pk.ts_us = 1;
    pk.wnd = 1 << 20;
    pk.seq = seq;
    pk.ack = ack;
    pk.payload = payload ? data : NULL;
    pk.payload_len = payload;
    return btt_utp_packet_build(&pk, out, BTT_UTP_MAX_PACKET);
}

static void test_syn_flood(void **state)
{
    (void)state;
    btt_utp_config cfg;
    btt_utp_config_default(&cfg);
    btt_utp_mux *m = btt_utp_mux_new(&cfg, 99);
    uint8_t p[BTT_UTP_MAX_PACKET], out[BTT_UTP_MAX_PACKET];
    uint64_t now = 5 * SEC;
    uint64_t replies = 0;
    /* 20,000 SYNs from 2,000 addresses (10 ids each), 100 per millisecond */
    for (uint32_t i = 0; i < 20000; i++) {
        btt_addr a = {.family = 4, .ip = {10, 1, (uint8_t)(i % 2000 >> 8), (uint8_t)(i % 2000)}, .port = 6881};
        size_t n = make_pkt(p, BTT_UTP_SYN, (uint16_t)(i * 7919), 1, 0, 0);
        assert_true(btt_utp_mux_input(m, &a, p, n, now));
        if (i % 100 == 0) now += MS;
        btt_addr to;
        while (btt_utp_mux_transmit(m, now, out, sizeof out, &to)) replies++;
        btt_utp_mux_stats st;
        btt_utp_mux_get_stats(m, &st);
        assert_true(st.half_open <= cfg.max_half_open);
        assert_true(st.conns <= cfg.max_half_open);
    }
    /* one address alone gets at most max_half_open_per_ip */
    btt_addr one = {.family = 4, .ip = {10, 9, 9, 9}, .port = 1};
    for (uint32_t i = 0; i < 100; i++) {
        size_t n = make_pkt(p, BTT_UTP_SYN, (uint16_t)(i * 31), 1, 0, 0);
        assert_true(btt_utp_mux_input(m, &one, p, n, now));
    }
    btt_utp_mux_stats st;
    btt_utp_mux_get_stats(m, &st);
    printf("  SYN flood: %llu refused, %llu evicted, %u half-open, %llu STATE replies (one per SYN kept)\n",
           (unsigned long long)st.syn_refused, (unsigned long long)st.syn_evicted, st.half_open,
           (unsigned long long)replies);
    assert_true(st.half_open <= cfg.max_half_open);
    assert_true(st.syn_refused >= 96);
    assert_true(replies <= 20000);
    btt_utp_event ev;
    assert_false(btt_utp_mux_next_event(m, &ev)); /* nothing reached the application */
    /* half-open state expires */
    btt_utp_mux_tick(m, now + 11 * SEC);
    btt_utp_mux_get_stats(m, &st);
    assert_int_equal(st.half_open, 0);
    assert_int_equal(st.conns, 0);
    btt_utp_mux_free(m);
}

static void test_syn_flood_then_real_connection(void **state)
{
    (void)state;
    /* while half-open slots are full of spoofed SYNs, a real peer still gets in (oldest evicted) */
    sim s;
    sim_init(&s, NULL, NULL, 15);
    s.link[0].cfg.delay_us = s.link[1].cfg.delay_us = 5 * MS;
    uint8_t p[BTT_UTP_MAX_PACKET];
    for (uint32_t i = 0; i < 1000; i++) {
        btt_addr a = {.family = 4, .ip = {172, 16, (uint8_t)(i >> 8), (uint8_t)i}, .port = 1000};
        size_t n = make_pkt(p, BTT_UTP_SYN, (uint16_t)i, 1, 0, 0);
        btt_utp_mux_input(s.mux[1], &a, p, n, sim_clock(&s, 1));
    }
    s.app[0].to_send = 100000;
    s.app[0].close_after = true;
    s.app[1].close_after = true;
    s.app[1].wait_eof = true;
    sim_connect(&s);
    sim_run(&s, s.now + 30 * SEC, both_closed);
    assert_int_equal(s.app[1].received, 100000);
    assert_true(both_closed(&s));
    sim_free(&s);
}

/* Injects garbage into side 1 on every packet side 0 sends. */
static void inject(sim *s, int side, const uint8_t *p, size_t len)
{
    if (side != 0) return;
    btt_utp_packet pk;
    if (btt_utp_packet_parse(p, len, &pk, NULL) != BTT_OK || pk.type == BTT_UTP_SYN) return;
    uint8_t g[BTT_UTP_MAX_PACKET];
    uint64_t now = sim_clock(s, 1);
    size_t n;
    /* an ack from the future on the right connection */
    n = make_pkt(g, BTT_UTP_STATE, pk.conn_id, pk.seq, (uint16_t)(pk.ack + 1000), 0);
    btt_utp_mux_input(s->mux[1], &s->addr[0], g, n, now);
    /* data far ahead of the window */
    n = make_pkt(g, BTT_UTP_DATA, pk.conn_id, (uint16_t)(pk.seq + 20000), pk.ack, 100);
    btt_utp_mux_input(s->mux[1], &s->addr[0], g, n, now);
    /* a wrong connection id */
    n = make_pkt(g, BTT_UTP_DATA, (uint16_t)(pk.conn_id + 7), pk.seq, pk.ack, 100);
    btt_utp_mux_input(s->mux[1], &s->addr[0], g, n, now);
    /* malformed: a truncated extension */
    memcpy(g, p, BTT_UTP_HEADER_LEN);
    g[1] = 1;
    g[BTT_UTP_HEADER_LEN] = 0;
    g[BTT_UTP_HEADER_LEN + 1] = 200;
    btt_utp_mux_input(s->mux[1], &s->addr[0], g, BTT_UTP_HEADER_LEN + 10, now);
}

static void test_hostile_mid_transfer(void **state)
{
    (void)state;
    sim s;
    sim_init(&s, NULL, NULL, 16);
    s.link[0].cfg = link10();
    s.link[1].cfg = link10();
    s.on_send = inject;
    start_transfer(&s, 1 * MIB);
    sim_run(&s, s.now + 120 * SEC, both_closed);
    assert_false(s.app[1].bad_data);
    assert_int_equal(s.app[1].received, 1 * MIB);
    assert_true(both_closed(&s));
    btt_utp_mux_stats m1;
    btt_utp_mux_get_stats(s.mux[1], &m1);
    printf("  dropped: %llu bad acks, %llu bad seqs, %llu unknown conn, %llu malformed; %llu resets sent, %llu "
           "rate-limited\n",
           (unsigned long long)m1.bad_ack, (unsigned long long)m1.bad_seq, (unsigned long long)m1.unknown_conn,
           (unsigned long long)m1.malformed, (unsigned long long)m1.resets_sent,
           (unsigned long long)m1.resets_limited);
    assert_true(m1.bad_ack > 100 && m1.bad_seq > 100 && m1.unknown_conn > 100 && m1.malformed > 100);
    assert_true(m1.resets_limited > 0);
    sim_free(&s);
}

static void test_not_utp(void **state)
{
    (void)state;
    btt_utp_mux *m = btt_utp_mux_new(NULL, 1);
    btt_addr a = {.family = 4, .ip = {1, 2, 3, 4}, .port = 5};
    const char *krpc = "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    assert_false(btt_utp_mux_input(m, &a, (const uint8_t *)krpc, strlen(krpc), 1));
    btt_utp_mux_free(m);
}

/* Moves every datagram one mux has to send into the other; returns the payload lengths of the
 * DATA packets among them (up to cap) and how many there were. */
static size_t pump(btt_utp_mux *from, btt_utp_mux *to, const btt_addr *from_addr, uint64_t now, size_t *lens,
                   size_t cap)
{
    uint8_t buf[1500];
    btt_addr dst;
    size_t n, k = 0;
    while ((n = btt_utp_mux_transmit(from, now, buf, sizeof buf, &dst))) {
        btt_utp_packet pk;
        btt_error err = {0};
        assert_int_equal(btt_utp_packet_parse(buf, n, &pk, &err), BTT_OK);
        if (pk.type == BTT_UTP_DATA && k < cap) lens[k++] = pk.payload_len;
        assert_true(btt_utp_mux_input(to, from_addr, buf, n, now));
    }
    return k;
}

/* btt_utp_push ends a packet after what was written (the BitTorrent handshake alone in its
 * packet, for Transmission 3.00): 68 + 100 bytes go out as 68 and 100, not as one 168. */
static void test_push_ends_packet(void **state)
{
    (void)state;
    btt_utp_mux *m0 = btt_utp_mux_new(NULL, 1), *m1 = btt_utp_mux_new(NULL, 2);
    btt_addr a0 = {.family = 4, .ip = {10, 0, 0, 1}, .port = 1000};
    btt_addr a1 = {.family = 4, .ip = {10, 0, 0, 2}, .port = 2000};
    uint64_t now = 1000000;
    size_t lens[8];
    btt_utp_conn *c = btt_utp_connect(m0, &a1, now);
    assert_non_null(c);
    pump(m0, m1, &a0, now, lens, 8); /* SYN */
    pump(m1, m0, &a1, now, lens, 8); /* STATE */
    btt_utp_event ev;
    bool connected = false;
    while (btt_utp_mux_next_event(m0, &ev)) connected |= ev.type == BTT_UTP_EV_CONNECTED;
    assert_true(connected);
    uint8_t hs[68], rest[100];
    memset(hs, 0x13, sizeof hs);
    memset(rest, 0x42, sizeof rest);
    assert_int_equal(btt_utp_write(c, hs, sizeof hs), sizeof hs);
    btt_utp_push(c);
    btt_utp_push(c); /* a second push at the same place changes nothing */
    assert_int_equal(btt_utp_write(c, rest, sizeof rest), sizeof rest);
    assert_int_equal(pump(m0, m1, &a0, now, lens, 8), 2);
    assert_int_equal(lens[0], 68);
    assert_int_equal(lens[1], 100);
    /* without a push, writes are coalesced */
    assert_int_equal(btt_utp_write(c, hs, sizeof hs), sizeof hs);
    assert_int_equal(btt_utp_write(c, rest, sizeof rest), sizeof rest);
    assert_int_equal(pump(m0, m1, &a0, now + 1000, lens, 8), 1);
    assert_int_equal(lens[0], 168);
    btt_utp_mux_free(m0);
    btt_utp_mux_free(m1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfer_clean),
        cmocka_unit_test(test_transfer_loss1),
        cmocka_unit_test(test_transfer_loss5),
        cmocka_unit_test(test_transfer_reorder),
        cmocka_unit_test(test_transfer_wraparound),
        cmocka_unit_test(test_transfer_both_ways),
        cmocka_unit_test(test_syn_retries),
        cmocka_unit_test(test_rto_backoff),
        cmocka_unit_test(test_rto_from_rtt),
        cmocka_unit_test(test_receive_window),
        cmocka_unit_test(test_close_both_ways),
        cmocka_unit_test(test_release_flushes),
        cmocka_unit_test(test_abort_resets_peer),
        cmocka_unit_test(test_keepalive_and_idle_timeout),
        cmocka_unit_test(test_syn_flood),
        cmocka_unit_test(test_syn_flood_then_real_connection),
        cmocka_unit_test(test_hostile_mid_transfer),
        cmocka_unit_test(test_not_utp),
        cmocka_unit_test(test_push_ends_packet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
