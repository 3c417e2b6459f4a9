/* btt/utp.h - uTP, the uTorrent transport protocol (BEP 29), with LEDBAT congestion control
 * (RFC 6817). A sans-I/O core like the peer wire codec: datagrams and time go in; datagrams,
 * stream bytes and events come out. No sockets, no clock reads, no randomness of its own
 * (the caller gives the multiplexer a seed).
 *
 * Three layers, each usable alone:
 *   packet codec    btt_utp_packet_parse / btt_utp_packet_build (strict, bounds-checked)
 *   LEDBAT          btt_ledbat: base-delay history, queuing delay, the congestion window
 *   multiplexer     btt_utp_mux: many connections keyed by (remote address, connection id),
 *                   SYN handling with bounded state, timers; btt_utp_conn is one stream.
 *
 * Times are microseconds on a monotonic clock chosen by the caller (any origin). The header
 * timestamps are that clock truncated to 32 bits, which is all BEP 29 needs (differences).
 * Design notes and limits: docs/utp.md. */
#ifndef BTT_UTP_H
#define BTT_UTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/addr.h"
#include "btt/error.h"

/* ------------------------------------------------------------------ packets */

enum btt_utp_type {
    BTT_UTP_DATA = 0,
    BTT_UTP_FIN = 1,
    BTT_UTP_STATE = 2,
    BTT_UTP_RESET = 3,
    BTT_UTP_SYN = 4,
};

#define BTT_UTP_VERSION 1
#define BTT_UTP_HEADER_LEN 20
#define BTT_UTP_EXT_SACK 1
#define BTT_UTP_SACK_MAX 32      /* bytes of selective-ack bitmask we send (256 packets) */
#define BTT_UTP_MAX_PACKET 1500  /* no datagram we build is larger; buffers for transmit */
#define BTT_UTP_MAX_EXTENSIONS 8 /* a longer extension chain is malformed */

typedef struct btt_utp_packet {
    uint8_t type;           /* enum btt_utp_type */
    uint16_t conn_id;
    uint32_t ts_us;         /* timestamp_microseconds */
    uint32_t ts_diff_us;    /* timestamp_difference_microseconds */
    uint32_t wnd;           /* advertised receive window, bytes */
    uint16_t seq, ack;
    const uint8_t *sack;    /* selective-ack bitmask (into the input when parsed), NULL if none */
    uint8_t sack_len;       /* bytes; we send multiples of 4, libtorrent sends any length */
    const uint8_t *payload; /* into the input when parsed */
    size_t payload_len;
} btt_utp_packet;

/* Parses one datagram. Strict: version 1, a known type, a well-formed extension chain (at most
 * BTT_UTP_MAX_EXTENSIONS, each inside the datagram; unknown extensions are passed over; a selective
 * ack is non-empty and appears at most once; BEP 29 asks for a multiple of 4 bytes but
 * libtorrent 2.0 sends other lengths, e.g. 22, so any length is taken), a payload only on DATA
 * and DATA always with one. BTT_EPROTO otherwise. Pointers point into p. */
BTT_WUR btt_err btt_utp_packet_parse(const uint8_t *p, size_t len, btt_utp_packet *out, btt_error *err);
/* Writes the header, the selective ack (if sack_len > 0) and the payload to out. Returns the
 * datagram's length, or 0 if it does not fit in cap or the packet is not one parse accepts. */
size_t btt_utp_packet_build(const btt_utp_packet *pk, uint8_t *out, size_t cap);
/* True if a datagram looks like uTP (type <= 4 and version 1 in the first byte, at least a
 * header long): how the shared UDP socket tells uTP from DHT (bencoded, 'd') and UDP-tracker
 * replies (which the tracker client claims by transaction id first). */
bool btt_utp_looks_like(const uint8_t *p, size_t len);

/* Sequence-number arithmetic modulo 2^16. */
static inline bool btt_utp_seq_lt(uint16_t a, uint16_t b) { return (int16_t)(uint16_t)(a - b) < 0; }

/* ------------------------------------------------------------------ LEDBAT */

#define BTT_LEDBAT_BASE_BUCKETS 10  /* one-minute minima: the base delay covers the last 9-10 min
                                     * (RFC 6817's BASE_HISTORY; BEP 29 says two minutes, which a
                                     * standing queue outlives: the base would creep up with it) */
#define BTT_LEDBAT_CUR_FILTER 3     /* the queuing delay is the minimum of the last 3 samples */

/* A sliding minimum of 32-bit delay samples that wrap around (timestamps do after 71 min);
 * comparisons are modulo 2^32. */
typedef struct btt_ledbat_hist {
    uint32_t bucket[BTT_LEDBAT_BASE_BUCKETS];
    uint32_t base;
    uint64_t bucket_start_us;
    uint32_t bucket_us;
    uint8_t idx;
    bool have;
} btt_ledbat_hist;

typedef struct btt_ledbat {
    /* parameters */
    uint32_t target_us;   /* 100 ms */
    uint32_t gain_bytes;  /* window growth per RTT at zero queuing delay */
    uint32_t mss;         /* bytes per full packet */
    uint32_t min_cwnd;    /* floor under delay-driven decrease and loss (2 packets) */
    uint32_t max_cwnd;
    /* state */
    int64_t cwnd_fp;      /* bytes << 16 */
    uint32_t ssthresh;    /* 0: none yet */
    bool slow_start;
    btt_ledbat_hist ours;   /* our packets' one-way delay as the peer measured it (ts_diff) */
    btt_ledbat_hist theirs; /* the peer's packets' delay as we measure it (reply_micro) */
    uint32_t cur[BTT_LEDBAT_CUR_FILTER];
    uint8_t ncur, curi;
    uint32_t queuing_us;  /* last filtered queuing delay */
    uint64_t drift_adjust_us; /* total added to our base for clock drift (statistics) */
} btt_ledbat;

void btt_ledbat_init(btt_ledbat *l, uint32_t mss, uint32_t target_us, uint32_t gain_bytes, uint32_t max_cwnd);
/* A timestamp_difference the peer reported for one of our packets (0 = none yet: ignored). */
void btt_ledbat_delay_sample(btt_ledbat *l, uint32_t ts_diff_us, uint64_t now_us);
/* Our own measurement of the peer's packet (reply_micro). When the reverse direction's base
 * falls by d (at most 10 ms at a time: drift is slow; larger steps are queues draining), the
 * clocks drift apart at that rate and our direction's base is raised by d (as libtorrent does). */
void btt_ledbat_reply_sample(btt_ledbat *l, uint32_t reply_micro_us, uint64_t now_us);
/* acked bytes newly acknowledged; flight the bytes in flight before this ack. */
void btt_ledbat_on_ack(btt_ledbat *l, uint32_t acked, uint32_t flight);
void btt_ledbat_on_loss(btt_ledbat *l);    /* halve (once per window: the caller decides) */
void btt_ledbat_on_timeout(btt_ledbat *l); /* one packet, slow start again up to half */
uint32_t btt_ledbat_cwnd(const btt_ledbat *l);
void btt_ledbat_hist_init(btt_ledbat_hist *h, uint32_t bucket_us);
void btt_ledbat_hist_add(btt_ledbat_hist *h, uint32_t sample, uint64_t now_us);

/* ------------------------------------------------------------------ connections */

typedef struct btt_utp_config {
    uint32_t max_payload;      /* bytes of payload per packet: 1400 (fits 1500-byte paths, IPv6 too) */
    uint32_t send_buf;         /* bytes accepted by write and not yet acked: 1 MiB */
    uint32_t recv_buf;         /* bytes received and not yet read (incl. out of order): 1 MiB */
    uint32_t target_delay_us;  /* LEDBAT target: 100 ms */
    uint32_t gain_bytes;       /* LEDBAT growth per RTT when the queue is empty: 3000 */
    uint32_t max_cwnd;         /* 16 MiB */
    uint32_t keepalive_ms;     /* an ack after this long with nothing sent: 20 s */
    uint32_t idle_timeout_ms;  /* nothing received this long: the connection times out, 60 s */
    uint32_t syn_recv_timeout_ms; /* a half-open incoming connection is forgotten after 10 s */
    uint32_t linger_ms;        /* after our FIN is acked, wait this long for the peer's: 10 s */
    uint32_t syn_tries;        /* SYNs sent before connect fails (1 s, 2 s, 4 s apart): 3 */
    uint32_t max_timeouts;     /* consecutive retransmission timeouts before giving up: 6 */
    uint32_t max_conns;        /* connections in total: 1024 */
    uint32_t max_half_open;    /* incoming connections not yet confirmed by the peer: 64 */
    uint32_t max_half_open_per_ip; /* the same, per source IP: 4 */
    uint32_t reset_rate;       /* RESET replies to unknown connections per second: 50 */
    bool accept_incoming;      /* true */
} btt_utp_config;

void btt_utp_config_default(btt_utp_config *c);

typedef struct btt_utp_mux btt_utp_mux;
typedef struct btt_utp_conn btt_utp_conn;

enum btt_utp_event_type {
    BTT_UTP_EV_CONNECTED = 1, /* an outgoing connection is established */
    BTT_UTP_EV_ACCEPT,        /* a new incoming connection (the peer sent its first data) */
    BTT_UTP_EV_READABLE,      /* in-order bytes are waiting: btt_utp_read */
    BTT_UTP_EV_WRITABLE,      /* a write that was cut short may continue */
    BTT_UTP_EV_EOF,           /* the peer closed its side; everything before it was delivered */
    BTT_UTP_EV_CLOSED,        /* both sides closed cleanly; release the connection */
    BTT_UTP_EV_ERROR,         /* reset, timeout or protocol error (btt_utp_conn_error); release it */
};

typedef struct btt_utp_event {
    enum btt_utp_event_type type;
    btt_utp_conn *conn;
} btt_utp_event;

typedef struct btt_utp_mux_stats {
    uint64_t packets_in, packets_out, bytes_in, bytes_out;
    uint64_t malformed;       /* datagrams that failed to parse */
    uint64_t unknown_conn;    /* valid packets for no connection we know */
    uint64_t bad_ack;         /* acks of packets never sent (from the future) or far in the past */
    uint64_t bad_seq;         /* data too far ahead of the window, or beyond the FIN */
    uint64_t over_window;     /* data the receive buffer had no room for */
    uint64_t syn_refused;     /* SYNs dropped: limits, not accepting, duplicate id */
    uint64_t syn_evicted;     /* half-open connections dropped to make room for a newer SYN */
    uint64_t resets_sent, resets_limited;
    uint32_t conns, half_open;
} btt_utp_mux_stats;

typedef struct btt_utp_conn_stats {
    uint32_t rtt_us, rtt_var_us, rto_us;
    uint32_t cwnd, cur_window, peer_wnd, recv_wnd;
    uint32_t queuing_delay_us;     /* LEDBAT's filtered estimate for our direction */
    uint32_t base_delay_us;        /* not meaningful alone (clock offset), for debugging */
    uint64_t packets_sent, packets_received, retransmits, fast_retransmits, timeouts;
    uint64_t bytes_sent, bytes_received;   /* stream payload, first transmissions / in order */
    uint64_t dup_packets, ooo_packets;
    bool slow_start;
} btt_utp_conn_stats;

/* seed initialises connection ids and sequence numbers; pass a random value. NULL on ENOMEM. */
btt_utp_mux *btt_utp_mux_new(const btt_utp_config *cfg, uint64_t seed);
/* Frees the multiplexer and every connection, released or not. */
void btt_utp_mux_free(btt_utp_mux *m);

/* One received datagram. Returns true if it was uTP and consumed (also when dropped as hostile),
 * false if it does not look like uTP at all (the caller may give it to the DHT). */
bool btt_utp_mux_input(btt_utp_mux *m, const btt_addr *from, const uint8_t *p, size_t len, uint64_t now_us);
/* Runs the timers due at now_us (retransmission, keep-alive, timeouts). */
void btt_utp_mux_tick(btt_utp_mux *m, uint64_t now_us);
/* When btt_utp_mux_tick must run next; UINT64_MAX when no timer is pending. */
uint64_t btt_utp_mux_next_deadline(const btt_utp_mux *m);
/* The next datagram to send: writes it to out (cap >= BTT_UTP_MAX_PACKET), sets *to and returns
 * its length; 0 when nothing more may be sent now. Call after input, tick, write, read, close. */
size_t btt_utp_mux_transmit(btt_utp_mux *m, uint64_t now_us, uint8_t *out, size_t cap, btt_addr *to);
/* The next event; false when there is none. Events of released connections are never reported. */
bool btt_utp_mux_next_event(btt_utp_mux *m, btt_utp_event *ev);
void btt_utp_mux_get_stats(const btt_utp_mux *m, btt_utp_mux_stats *st);

/* Opens a connection (sends a SYN on the next transmit). NULL if at max_conns or out of memory.
 * Bytes may be written at once; they are sent after the connection is established. */
btt_utp_conn *btt_utp_connect(btt_utp_mux *m, const btt_addr *to, uint64_t now_us);

/* Copies up to n bytes into the send buffer; returns how many it took (0 when full, closing or
 * failed). When fewer than n were taken a WRITABLE event follows once there is room. */
size_t btt_utp_write(btt_utp_conn *c, const void *p, size_t n);
/* Room in the send buffer. */
size_t btt_utp_writable(const btt_utp_conn *c);
/* Ends a packet after what has been written so far: the next write starts a new packet. Only
 * the first such boundary still pending is kept. Transmission 3.00 reads the BitTorrent
 * handshake out of the first packet and leaves the rest of that packet unread until more data
 * arrives, so the peer layer ends a packet after its handshake. */
void btt_utp_push(btt_utp_conn *c);
/* Copies up to n in-order bytes out; returns how many (0 when none are waiting). */
size_t btt_utp_read(btt_utp_conn *c, void *p, size_t n);
size_t btt_utp_readable(const btt_utp_conn *c);
/* Clean close: a FIN follows the bytes already written. */
void btt_utp_close(btt_utp_conn *c);
/* Abortive close: a RESET is sent, queued data is dropped. No further events. */
void btt_utp_abort(btt_utp_conn *c);
/* The caller is done with c. An open connection is closed cleanly first and freed by the
 * multiplexer later; c must not be used after this call. */
void btt_utp_release(btt_utp_conn *c);

void btt_utp_set_user(btt_utp_conn *c, void *user);
void *btt_utp_user(const btt_utp_conn *c);
const btt_addr *btt_utp_remote(const btt_utp_conn *c);
/* BTT_OK while healthy; BTT_ETIMEDOUT, BTT_ENET (reset by the peer) after an ERROR event. */
btt_err btt_utp_conn_error(const btt_utp_conn *c);
bool btt_utp_is_connected(const btt_utp_conn *c);
void btt_utp_conn_get_stats(const btt_utp_conn *c, btt_utp_conn_stats *st);
/* Connection ids (recv, send), for tests and logs. */
void btt_utp_conn_ids(const btt_utp_conn *c, uint16_t *recv_id, uint16_t *send_id);

#endif
