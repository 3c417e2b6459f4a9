/* utp_int.h - what the connection state machine (utp_conn.c) and the multiplexer (utp_mux.c)
 * share. Not a public header. */
#ifndef BTT_UTP_INT_H
#define BTT_UTP_INT_H

#include "btt/utp.h"

/* A growable byte ring with a hard cap. */
typedef struct utp_ring {
    uint8_t *p;
    size_t cap, head, len, max;
} utp_ring;

/* One packet we sent (or are about to send) and that is not yet acked. */
typedef struct utp_opkt {
    uint8_t *payload;     /* NULL for SYN and FIN */
    uint64_t sent_us;     /* last transmission */
    uint16_t len;         /* payload bytes */
    uint8_t type;         /* DATA, FIN or SYN */
    uint8_t transmissions;
    bool used, sacked, need_resend, counted, fast_resent;
} utp_opkt;

/* One packet received ahead of a hole. */
typedef struct utp_ipkt {
    uint8_t *payload;
    uint16_t len;
    bool used;
} utp_ipkt;

enum utp_state {
    UTP_SYN_SENT,
    UTP_SYN_RECV,   /* incoming, not yet confirmed by the peer: invisible to the application */
    UTP_CONNECTED,
    UTP_CLOSED,     /* clean close done */
    UTP_FAILED,     /* reset, timeout, aborted */
};

/* pending event bits, one per enum btt_utp_event_type */
#define EVBIT(t) (1u << (t))

typedef struct utp_link {
    struct btt_utp_conn *prev, *next;
} utp_link;

struct btt_utp_conn {
    btt_utp_mux *mux;
    btt_addr addr;
    uint16_t recv_id, send_id;
    enum utp_state state;
    btt_err error;
    bool released;       /* the application let go of it */
    bool exposed;        /* the application has seen it (CONNECTED or ACCEPT) */
    bool reset_pending;  /* a RESET is to be sent (abort) */
    bool incoming;       /* accepted from a SYN */
    bool hashed;         /* in the multiplexer's table (packets reach it) */
    void *user;

    struct btt_utp_conn *hnext; /* hash chain */
    utp_link all, dirty, ev, ho;
    bool in_dirty, in_ev, in_ho;
    uint32_t events;

    /* send side */
    uint16_t seq_nr;     /* next sequence number to use */
    uint16_t acked_seq;  /* highest cumulatively acked; in flight is (acked_seq, seq_nr) */
    utp_opkt *out;       /* ring of in-flight packets by seq & out_mask (allocated lazily) */
    uint32_t out_mask;
    uint32_t resend_count;
    utp_ring sbuf;       /* written, not yet packetised */
    size_t push_len;     /* when non-zero: a packet ends after this many bytes of sbuf */
    size_t inflight_bytes; /* payload held by out[] */
    uint32_t cur_window; /* payload bytes counted against the windows */
    uint32_t peer_wnd;
    uint32_t dup_acks;
    uint16_t loss_seq;   /* no second window cut for losses of packets sent before this */
    bool write_blocked;
    bool close_requested, fin_sent, fin_acked;
    uint16_t fin_seq;

    /* receive side */
    uint16_t ack_nr;     /* last in-order sequence number received */
    uint16_t syn_seq;    /* incoming: the SYN's sequence number (duplicate SYNs are re-acked) */
    utp_ring rbuf;       /* in-order bytes for the application */
    utp_ipkt *ooo;       /* ring by seq & ooo_mask (allocated lazily) */
    uint32_t ooo_mask;
    uint32_t ooo_count;
    size_t ooo_bytes;
    bool eof_received, eof_delivered;
    uint16_t eof_seq;
    bool ack_pending;
    uint32_t last_adv_wnd;

    /* timers, microseconds */
    uint64_t created_us, last_recv_us, last_send_us;
    uint64_t rto_deadline;   /* 0: none */
    uint64_t probe_deadline; /* zero-window probe, 0: none */
    uint64_t linger_deadline;
    bool probe_due;
    uint32_t rtt_us, rtt_var_us, rto_us;
    bool have_rtt;
    uint32_t timeouts;       /* consecutive */
    uint32_t reply_micro;

    btt_ledbat cc;
    btt_utp_conn_stats st;
};

struct btt_utp_mux {
    btt_utp_config cfg;
    uint64_t rng;
    uint64_t hseed; /* keys the table's hash */
    btt_utp_conn **table;
    uint32_t table_mask;
    btt_utp_conn *all_head, *all_tail;
    btt_utp_conn *dirty_head, *dirty_tail;
    btt_utp_conn *ev_head, *ev_tail;
    btt_utp_conn *ho_head, *ho_tail; /* half-open incoming connections, oldest first */
    btt_utp_mux_stats st;
    /* RESET replies to unknown connections: a small queue behind a token bucket */
    struct {
        btt_addr to;
        uint16_t conn_id, seq, ack;
    } rq[16];
    unsigned rq_head, rq_len;
    uint64_t reset_tokens_fp; /* tokens << 20 */
    uint64_t reset_refill_us;
};

/* utp_mux.c, for utp_conn.c */
void utp_mark_dirty(btt_utp_conn *c);
void utp_post_event(btt_utp_conn *c, enum btt_utp_event_type t);
void utp_conn_unhash(btt_utp_conn *c);
uint64_t utp_rand(btt_utp_mux *m);

/* utp_conn.c, for utp_mux.c */
btt_utp_conn *utp_conn_new(btt_utp_mux *m, const btt_addr *addr, uint64_t now_us);
void utp_conn_free(btt_utp_conn *c);
bool utp_conn_reapable(const btt_utp_conn *c);
void utp_conn_start_connect(btt_utp_conn *c, uint16_t recv_id, uint64_t now_us);
void utp_conn_start_accept(btt_utp_conn *c, const btt_utp_packet *syn, uint64_t now_us);
void utp_conn_input(btt_utp_conn *c, const btt_utp_packet *pk, uint64_t now_us);
size_t utp_conn_transmit(btt_utp_conn *c, uint64_t now_us, uint8_t *out, size_t cap);
void utp_conn_tick(btt_utp_conn *c, uint64_t now_us);
uint64_t utp_conn_deadline(const btt_utp_conn *c);

#endif
