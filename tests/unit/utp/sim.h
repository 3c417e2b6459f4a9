/* sim.h - a simulated network for the uTP tests: two multiplexers joined by two one-way links
 * with an explicit clock. Each link has a propagation delay, an optional bottleneck (bytes per
 * second, FIFO queue with tail drop), random loss, duplication and reordering, and an optional
 * greedy competing flow that keeps the bottleneck queue at least `compete_us` deep. Each side
 * may have its own clock offset and drift. The applications on top write a known byte pattern
 * and check every byte they read. Deterministic: all randomness comes from the seed. */
#ifndef BTT_TEST_UTP_SIM_H
#define BTT_TEST_UTP_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/utp.h"

typedef struct sim_link_cfg {
    uint64_t delay_us;     /* propagation */
    uint64_t bw;           /* bytes per second at the bottleneck, 0: unlimited */
    uint64_t queue_us;     /* tail drop when the queue holds more than this, 0: unlimited */
    uint32_t loss_ppm, dup_ppm, reorder_ppm;
    uint64_t reorder_us;   /* extra delay of a reordered packet */
} sim_link_cfg;

typedef struct sim_pkt {
    uint64_t at, order;
    uint16_t len;
    uint8_t data[BTT_UTP_MAX_PACKET];
} sim_pkt;

typedef struct sim_link {
    sim_link_cfg cfg;
    uint64_t busy_until;
    sim_pkt **heap;
    size_t n, cap;
    bool down;             /* drops everything */
    uint64_t compete_us;   /* greedy competitor: keeps this much queue (0: off) */
    uint64_t compete_from; /* accounting of the competitor's bytes */
    uint64_t compete_bytes;
    /* statistics */
    uint64_t sent, lost, dropped_queue, delivered, bytes_delivered;
    uint64_t qdelay_sum_us, qdelay_n; /* queuing delay of packets with payload, since reset */
    uint64_t payload_bytes;           /* uTP packets' bytes through the bottleneck, since reset */
} sim_link;

/* One application endpoint: sends `to_send` pattern bytes from offset 0 then closes (if
 * close_after), reads and checks everything. */
typedef struct sim_app {
    btt_utp_conn *conn;
    uint64_t to_send, sent, received;
    bool close_after, closed_sent;
    bool wait_eof;         /* close only after the peer's EOF */
    bool reading;          /* false: the application does not read (window tests) */
    bool connected, eof, closed, error;
    btt_err err;
    bool bad_data;
    uint64_t connected_at, eof_at, closed_at, error_at;
} sim_app;

typedef struct sim {
    uint64_t now;
    uint64_t rng;
    uint64_t order;
    btt_utp_mux *mux[2];
    btt_addr addr[2];
    sim_link link[2];      /* link[i] carries packets from side i to side 1 - i */
    int64_t offset_us[2];
    int64_t drift_ppm[2];
    sim_app app[2];
    uint64_t iterations;
    /* a hook that sees every datagram a side sends (before the link) */
    void (*on_send)(struct sim *s, int side, const uint8_t *p, size_t len);
    void *user;
} sim;

void sim_init(sim *s, const btt_utp_config *cfg0, const btt_utp_config *cfg1, uint64_t seed);
void sim_free(sim *s);
uint64_t sim_clock(const sim *s, int side);
/* Runs until t_end (simulated microseconds) or until done(s) is true. */
void sim_run(sim *s, uint64_t t_end, bool (*done)(const sim *s));
/* Side 0 connects to side 1; both apps get their connection. */
void sim_connect(sim *s);
uint8_t sim_pattern(uint64_t i);
void sim_link_reset_stats(sim_link *l);

#endif
