/* btt/session.h - the BitTorrent client: a session owns the event loop's sockets, the
 * listening port, the tracker client and the torrents; a torrent owns its peers, picker,
 * choker, storage and announcer. This is the one place where they meet. All calls and
 * callbacks happen on the loop thread. */
#ifndef BTT_SESSION_H
#define BTT_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "btt/addr.h"
#include "btt/amount.h"
#include "btt/error.h"
#include "btt/metainfo.h"
#include "btt/wallet.h"

typedef struct btt_session btt_session;
typedef struct btt_torrent btt_torrent;

/* BitTorrent Speed (docs/speed-protocol.md): off unless a wallet is given. */
typedef struct btt_speed_opts {
    const btt_wallet *wallet;         /* NULL: Speed off; else kept (not owned) until the session is freed */
    uint8_t ledger_id[32];            /* the ledger the wallet's funds are on (from its /v1/info) */
    const char *ledger_url;           /* its HTTP API (docs/ledger-api.md), for channels and settlement */
    uint32_t spending_permille;       /* AutoBid spending rate, 0..1000 (1000: bid the whole budget) */
    btt_amount budget;                /* the most this session may spend (the CLI: min(balance, --max-spend)) */
    uint64_t reserve_base;            /* seeding: reserve price at completion, units/KiB */
    uint64_t reserve_growth;          /* units/KiB added per hour nobody else held the torrent */
    uint64_t reserve_cap;             /* units/KiB; the price never grows above this */
    uint32_t guard_hold_ms;           /* how long an unpaid peer's requests are held before it is
                                         choked with a strike (0: 30 s; tests shorten it) */
    uint32_t reserve_hour_ms;         /* the reserve price clock's hour (0: one hour; tests shorten it) */
} btt_speed_opts;

typedef struct btt_session_opts {
    const char *bind;          /* listen address; default "::" (dual-stack IPv6 + IPv4), or
                                  "0.0.0.0" on hosts without IPv6 */
    uint16_t port;             /* listen port; 0 = ephemeral */
    uint32_t max_peers;        /* per torrent, default 60 */
    uint32_t max_half_open;    /* outgoing connects in progress, default 16 */
    uint32_t unchoke_slots;    /* regular upload slots, default 4 */
    uint32_t optimistic_slots; /* default 1 */
    const char *state_dir;     /* resume data; default $BTT_STATE_DIR, else ~/.local/state/btt */
    bool no_trackers;          /* ignore the torrents' trackers */
    uint64_t max_upload;       /* bytes/s over all torrents and peers; 0: no limit */
    /* Transports (docs/utp.md): by default both are accepted, and outgoing connections try
     * uTP first and fall back to TCP when uTP is not established within utp_fallback_ms. */
    bool no_utp;               /* no uTP at all (the UDP socket stays open for the DHT) */
    bool no_tcp;               /* no TCP: no listener, outgoing over uTP only */
    bool no_pex;               /* no peer exchange (BEP 11); it is never used for private torrents */
    uint32_t utp_fallback_ms;  /* default 3000 */
    /* Message Stream Encryption (docs/mse.md): by default incoming connections may start with
     * an MSE handshake or a plaintext one, and outgoing ones are plaintext; require_encryption
     * makes every connection MSE with RC4 (outgoing ones start with it, plaintext incoming
     * handshakes and the plaintext method are refused). */
    bool require_encryption;
    /* Mainline DHT (docs/dht.md) on the UDP socket of the listen port: on unless no_dht, and
     * never for private torrents (BEP 27). Bootstrap nodes: dht_nodes ("HOST:PORT"; read during
     * btt_session_new), else $BTT_DHT_BOOTSTRAP (comma-separated, or "none"), else the
     * built-in public routers. The routing table is kept in dht_state (default
     * STATE_DIR/dht.state) across restarts. */
    bool no_dht;
    const char *const *dht_nodes;
    size_t num_dht_nodes;
    const char *dht_state;
    bool dht_read_only;        /* BEP 43: query the DHT, answer no queries */
    btt_speed_opts speed;
} btt_session_opts;

BTT_WUR btt_err btt_session_new(uv_loop_t *loop, const btt_session_opts *opts, btt_session **out, btt_error *err);
/* The bound listen address (port resolved when 0 was asked). */
btt_addr btt_session_listen_addr(const btt_session *s);
/* Stops every torrent (announces stopped, saves resume data), closes everything and calls
 * done once all handles are closed; the session is freed after done returns. */
void btt_session_close(btt_session *s, void (*done)(void *ud), void *ud);

typedef struct btt_torrent_opts {
    const char *dir;           /* download directory */
    bool seed_only;            /* verify and serve; never download */
    bool sequential;
    bool no_speed;             /* no BitTorrent Speed for this torrent even if the session has it */
    const uint32_t *files;     /* NULL = all files; else indexes to download */
    size_t num_files;
    void *ud;
    void (*on_ready)(void *ud, btt_torrent *t);    /* data checked, peers may come */
    void (*on_complete)(void *ud, btt_torrent *t); /* every wanted piece verified */
    void (*on_error)(void *ud, btt_torrent *t, const btt_error *err); /* e.g. disk full: torrent stopped */
} btt_torrent_opts;

/* Adds a torrent (the session takes ownership of mi). The data check runs first; on_ready
 * follows. */
BTT_WUR btt_err btt_torrent_add(btt_session *s, btt_metainfo *mi, const btt_torrent_opts *opts, btt_torrent **out,
                                btt_error *err);
/* Adds a peer address to connect to. */
void btt_torrent_add_peer(btt_torrent *t, const btt_addr *a);

typedef struct btt_torrent_stats {
    uint32_t pieces_have, pieces_total, pieces_wanted_left;
    uint64_t bytes_have, bytes_wanted;       /* verified bytes / bytes of the wanted pieces */
    uint64_t downloaded, uploaded;           /* payload bytes this run */
    uint64_t down_rate, up_rate;             /* bytes/s */
    uint32_t peers, seeds;
    uint32_t checked_pieces;                 /* at startup, verified from disk or resume */
    bool complete;
    bool speed;                              /* BitTorrent Speed is on for this torrent */
    uint32_t speed_peers;                    /* peers with Speed active */
    uint64_t bid;                            /* our current bid, units/KiB (downloading) */
    uint64_t reserve;                        /* our reserve price, units/KiB (seeding) */
    uint64_t rate_paid;                      /* highest rate a seeder charges us now, units/KiB */
    btt_amount spent, earned;                /* vouchers sent / accepted this run */
} btt_torrent_stats;

void btt_torrent_stats_get(const btt_torrent *t, btt_torrent_stats *out);
const btt_metainfo *btt_torrent_metainfo(const btt_torrent *t);

#endif
