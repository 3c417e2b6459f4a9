/* client_int.h - internals shared by session.c, torrent.c, peer.c and upload.c. Not a
 * public header: the client's public API is btt/session.h. */
#ifndef BTT_CLIENT_INT_H
#define BTT_CLIENT_INT_H

#ifndef BTT_CLIENT_INTERNAL
#error "client_int.h is internal to src/client"
#endif

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "btt/addr.h"
#include "btt/bitfield.h"
#include "btt/buf.h"
#include "btt/choker.h"
#include "btt/log.h"
#include "btt/metainfo.h"
#include "btt/picker.h"
#include "btt/session.h"
#include "btt/storage.h"
#include "btt/tracker.h"
#include "btt/utp.h"
#include "btt/wire.h"

/* ---- rates: bytes per second over a sliding window of whole seconds ---- */
#define RATE_WINDOW 5
typedef struct rate {
    uint64_t slot[RATE_WINDOW];
    uint64_t sec; /* second of the newest slot */
} rate;
void rate_add(rate *r, uint64_t bytes, uint64_t now_ms);
uint64_t rate_get(const rate *r, uint64_t now_ms);

/* ---- BitTorrent Speed (speed.h); NULL pointers where Speed is off ---- */
typedef struct speed_session speed_session;
typedef struct speed_torrent speed_torrent;
typedef struct speed_peer speed_peer;
struct pex_peer; /* pex.h: peer exchange state of one peer */

/* ---- peers ---- */
typedef enum { P_CONNECTING, P_HANDSHAKE, P_ACTIVE, P_CLOSING } peer_state;

/* How a peer's bytes travel. Everything above reading bytes in, writing wbuf out and closing
 * is the same for both (peer.c). */
typedef enum { TR_TCP, TR_UTP } peer_transport;

#define PEER_WRITE_HWM (4u << 20) /* stop serving blocks above this many queued bytes */
#define PEER_MAX_IN_REQ 2000      /* requests we accept queued from one peer (our reqq) */
#define PEER_MAX_OUT_REQ 1000     /* most requests we keep outstanding to one peer */
#define EXT_UT_METADATA 2         /* our BEP 10 id for ut_metadata */

typedef struct peer {
    struct peer *next, *prev;
    btt_session *s;
    btt_torrent *t; /* NULL until the handshake names a torrent */
    peer_transport tr;
    uv_tcp_t tcp;                         /* always initialised: a TCP peer's stream; for uTP its
                                             close callback frees the peer from a fresh loop turn */
    uv_connect_t conn;
    btt_utp_conn *utp;                    /* TR_UTP: the stream, NULL once released */
    bool utp_fallback;                    /* outgoing uTP attempt may still fall back to TCP */
    btt_addr addr;
    uint8_t peer_id[20];
    peer_state state;
    bool incoming, sent_handshake;
    bool fast, ext;                       /* both sides support BEP 6 / BEP 10 */
    bool dht;                             /* it set the DHT bit (BEP 5): send our port message */
    bool am_choking, am_interested, peer_choking, peer_interested;
    bool seed, snubbed, optimistic, attached;
    btt_bitfield have;
    uint32_t wanted;                      /* pieces it has that we want */

    uint8_t *rbuf;
    size_t rlen, rcap;
    btt_buf wbuf;                         /* bytes not yet handed to the kernel (or to uTP) */
    size_t woff;                          /* TR_UTP: bytes at the front of wbuf already taken */
    size_t inflight;                      /* bytes in uv_write requests */
    /* Message Stream Encryption (docs/mse.md) */
    struct btt_mse *mse;                  /* the MSE handshake in progress, NULL otherwise */
    struct peer_rc4 *rc4;                 /* RC4 after MSE (sending, receiving); NULL: plaintext */
    size_t wenc;                          /* bytes at the front of wbuf already encrypted */
    bool mse_done;                        /* the connection went through MSE (skey below) */
    uint8_t mse_skey[20];                 /* the info-hash MSE named */

    btt_block *out_req;                   /* our requests to it, oldest first */
    size_t n_out, cap_out;
    uint32_t their_reqq;                  /* how many requests it accepts */
    btt_block *in_req;                    /* its requests to us, FIFO ring */
    size_t in_head, n_in;
    uint32_t allowed_in[16];              /* pieces it lets us get while choked (BEP 6) */
    size_t n_allowed_in;

    char client[64];
    uint8_t ut_metadata;                  /* its id for BEP 9 messages, 0: none */
    uint32_t metadata_served;             /* pieces of metadata sent (flood limit) */
    uint64_t connected_ms, last_recv_ms, last_send_ms, last_block_ms, choked_since_ms, last_req_ms;
    rate down, up;
    uint64_t downloaded, uploaded;
    speed_peer *sp;
    struct pex_peer *pex;                 /* NULL until its extension handshake (or PEX off) */
} peer;

/* peer.c */
peer *peer_new(btt_session *s, btt_torrent *t, const btt_addr *a, bool incoming);
/* Starts an outgoing connection (uTP first when the session has it, then TCP; see
 * docs/utp.md); the peer reports through torrent_peer_* callbacks. */
btt_err peer_connect(peer *p, const btt_addr *bind);
void peer_start_incoming(peer *p); /* after uv_accept into p->tcp */
/* An incoming uTP connection: the peer takes c (its user pointer becomes p). */
void peer_start_incoming_utp(peer *p, btt_utp_conn *c);
/* uTP events of the peer's connection (udp.c). */
void peer_utp_connected(peer *p);
void peer_utp_readable(peer *p);
void peer_utp_writable(peer *p);
void peer_utp_failed(peer *p, const char *why); /* EOF, CLOSED or ERROR */
/* Periodic check of an outgoing connection (torrent tick): the uTP fallback to TCP. */
void peer_connect_tick(peer *p, uint64_t now_ms);
void peer_close(peer *p, const char *why);
void peer_flush(peer *p);
void peer_send_handshake(peer *p);
size_t peer_queued(const peer *p);

/* ---- torrents ---- */
typedef enum { T_CHECKING, T_RUNNING, T_STOPPING, T_STOPPED } torrent_state;

typedef struct pbuf {
    uint32_t piece, size, nblocks;
    uint8_t *data;
    btt_addr *from; /* sender of each block */
    uint64_t *rate; /* Speed: the rate its sender charged for each block (NULL without Speed) */
    bool hashing;
} pbuf;

typedef struct failed_piece { /* for telling who sent bad blocks once the piece passes */
    uint32_t piece, nblocks;
    btt_addr *from;
    uint8_t (*hash)[20];
} failed_piece;

#define CACHE_ENTRIES 32
typedef struct centry {
    uv_work_t req;
    btt_torrent *t;
    uint32_t piece, size;
    uint8_t *data;
    bool loading, ready;
    btt_err result;
    uint64_t lru;
} centry;

typedef struct candidate {
    btt_addr addr;
    uint8_t fails;
    bool connected;
    bool seed;         /* it was a seed when we last talked: not dialled while we are one too */
    uint64_t retry_ms;
    uint64_t hint_bid; /* Speed: the bid a tracker claimed for it (bidannounce); 0: none */
} candidate;

struct btt_torrent {
    btt_torrent *next;
    btt_session *s;
    btt_metainfo *mi;
    btt_storage *st;
    btt_picker *pk;
    btt_choker choker;
    btt_torrent_opts o;
    char *dir, *resume_path;
    uint32_t *files_sel;
    torrent_state state;
    bool complete, notified_complete;

    peer *peers;
    uint32_t npeers;
    candidate *cand;
    size_t ncand, capcand;

    pbuf **pb;               /* per piece, while downloading */
    failed_piece *failed;
    size_t nfailed;
    centry cache[CACHE_ENTRIES];
    uint64_t cache_tick;
    uint32_t hashing;        /* pieces on the thread pool */
    void *spare[64];         /* recycled piece buffers */
    size_t nspare;

    uint64_t downloaded, uploaded, bytes_have;
    rate down, up;
    uint32_t checked_pieces;
    btt_announcer *ann;
    uint64_t last_resume_ms;
    bool resume_dirty;
    uint64_t started_ms;
    void (*stopped_cb)(btt_torrent *t);
    void (*closed_cb)(btt_session *s);
    speed_torrent *sp;
    uint32_t pex_learned;    /* new addresses taken from PEX messages (bounded, pex.h) */
    uv_timer_t reaper;       /* reports the stop from a fresh loop turn, never from inside
                                a callback that still uses the torrent */
};

/* torrent.c */
void torrent_peer_attached(btt_torrent *t, peer *p); /* handshake done */
void torrent_peer_msg(btt_torrent *t, peer *p, const btt_msg *m);
void torrent_peer_closed(btt_torrent *t, peer *p);
void torrent_peer_connect_failed(btt_torrent *t, const btt_addr *a);
void torrent_tick(btt_torrent *t, uint64_t now_ms);
void torrent_stop(btt_torrent *t, void (*stopped)(btt_torrent *t));
void torrent_maybe_stopped(btt_torrent *t); /* a thread-pool job of a stopping torrent ended */
/* Closes the torrent's own handle and frees it from the close callback; done(s) follows. */
void torrent_close(btt_torrent *t, void (*done)(btt_session *s));
bool torrent_accepts_peer(btt_torrent *t);
void torrent_choke(btt_torrent *t, peer *p); /* chokes p now (its queued requests are rejected) */
void torrent_rechoke_now(btt_torrent *t);    /* a choker round now (e.g. a new bid came) */
void torrent_connect_now(btt_torrent *t);    /* connect to candidates now rather than at the next tick */
peer *torrent_find_peer(btt_torrent *t, const btt_addr *a);
/* A tracker's claim of a candidate's bid (0: none known), and recording one. */
uint64_t torrent_hint_bid(btt_torrent *t, const btt_addr *a);
void torrent_set_hint_bid(btt_torrent *t, const btt_addr *a, uint64_t bid);
void torrent_create_empty_files(btt_torrent *t);

/* upload.c */
void upload_serve(btt_torrent *t, peer *p);
void upload_cache_clear(btt_torrent *t);
void upload_throttle_tick(btt_session *s); /* tokens came back: serve the peers that waited */
bool upload_cache_busy(const btt_torrent *t);

/* ---- session ---- */
/* The DHT's hook on the shared UDP socket: every datagram starting with 'd' (docs/utp.md). */
typedef void (*udp_dht_fn)(void *ud, const btt_addr *from, const uint8_t *p, size_t len);
typedef struct ban {
    btt_addr addr;   /* port 0: the whole IP */
    uint64_t until_ms;
} ban;

struct btt_session {
    uv_loop_t *loop;
    btt_session_opts o;
    char *bind_str, *state_dir;
    btt_addr bind;
    uv_tcp_t listener;
    bool listening;
    /* udp.c: the UDP socket on the listen port, shared by uTP and (later) the DHT */
    uv_udp_t udp;
    uv_timer_t utp_timer;
    uv_idle_t udp_idle;
    bool udp_open, udp_dirty, udp_servicing, udp_blocked, udp_draining;
    uint64_t udp_drain_until_us;
    btt_utp_mux *utp;
    uint8_t udp_rbuf[4096];
    uint32_t udp_queued;                   /* datagrams in uv_udp_send requests */
    udp_dht_fn dht_input;                  /* KRPC datagrams ('d'); NULL: counted and dropped */
    void *dht_ud;
    struct dht_glue *dht;                  /* dht_glue.c; NULL: DHT off */
    uint64_t dht_dropped, udp_unknown, udp_send_errors;
    uv_timer_t tick;
    uv_timer_t pay_timer;    /* speed_pay.c: sends vouchers held back to cover several pieces */
    uint8_t peer_id[20];
    btt_torrent *torrents;
    peer *pending;           /* incoming peers before their handshake */
    uint32_t half_open;
    btt_tracker_client *trackers;
    ban *bans;
    size_t nbans, capbans;
    uint64_t rng;
    speed_session *sp;
    uint64_t up_tokens, up_refill_ms; /* --max-upload: a token bucket of bytes, at most 1 s worth */
    bool up_throttled;                /* a peer waits for tokens: serve again on the next tick */
    bool closing;
    uint64_t drain_until_ms;          /* closing once the last vouchers are out, or at this time */
    int open_handles;
    void (*done)(void *ud);
    void *done_ud;
};

/* udp.c */
/* Takes fd, a UDP socket bound to s->bind (the TCP listener's address and port), and runs
 * the uTP multiplexer on it. */
btt_err udp_open(btt_session *s, int fd, btt_error *err);
/* Closes the handles (counted in open_handles) once the released uTP connections have
 * finished, within a few seconds. */
void udp_close(btt_session *s);
void udp_free(btt_session *s);   /* the multiplexer, once every peer is gone */
/* Something was written to, read from or closed on a uTP connection: transmit and pull
 * events soon (from an idle callback, so one loop turn's work goes out together). */
void udp_kick(btt_session *s);
uint64_t udp_now_us(void);
/* Sends one datagram on the shared socket (for the DHT); false if it was not sent. */
bool udp_send_raw(btt_session *s, const btt_addr *to, const uint8_t *p, size_t len);

btt_torrent *session_find_torrent(btt_session *s, const uint8_t info_hash[20]);
bool session_is_banned(btt_session *s, const btt_addr *a, uint64_t now_ms);
void session_ban(btt_session *s, const btt_addr *a, uint64_t ms, const char *why);
uint64_t session_rand(btt_session *s);
void session_handle_closed(btt_session *s); /* a handle owned by the session finished closing */
void session_list_remove(peer **head, peer *p);
void session_list_add(peer **head, peer *p);

#define LOG_MOD "client"

/* Page-aligned memory for piece data: the kernel copies to and from page-aligned user
 * buffers several times faster (see docs/architecture.md). */
void *piece_alloc(size_t size);
/* Buffers of a torrent's piece length are recycled, so the hot path never maps or faults
 * in fresh pages. */
void *torrent_piece_buf(btt_torrent *t);
void torrent_piece_buf_free(btt_torrent *t, void *buf);

#endif
