/* btt/tracker.h - tracker client I/O on libuv: HTTP(S) through libcurl's multi interface
 * (its sockets and timers driven by the loop), UDP per BEP 15 with retries, and the
 * per-torrent announcer that walks BEP 12 tiers and keeps to the tracker's intervals.
 *
 * Callbacks run on the loop thread. Following libuv's rule, a function that takes a callback
 * and returns an error never calls it. */
#ifndef BTT_TRACKER_H
#define BTT_TRACKER_H

#include <uv.h>

#include "btt/announce.h"
#include "btt/metainfo.h"

typedef struct btt_tracker_client btt_tracker_client; /* one per session */
typedef struct btt_tracker_req btt_tracker_req;

typedef struct btt_tracker_opts { /* a 0 (or NULL) field takes the default; opts may be NULL */
    /* UDP retry base: BEP 15 says 15 * 2^n seconds, n up to 8; tests shorten it. A request is
     * sent 1 + udp_max_retries times, waiting udp_timeout_ms << n after send n, then fails
     * with BTT_ETIMEDOUT. */
    uint32_t udp_timeout_ms;  /* default 15000 */
    uint32_t udp_max_retries; /* default 8 */
    uint32_t http_timeout_ms; /* default 30000 */
    const char *user_agent;   /* default "btt/VERSION" */
} btt_tracker_opts;

BTT_WUR btt_err btt_tracker_client_new(uv_loop_t *loop, const btt_tracker_opts *opts, btt_tracker_client **out,
                                       btt_error *err);
/* Cancels outstanding requests (their callbacks get BTT_ECANCELED, from inside this call) and
 * frees the client once its handles are closed; the loop must run for that to finish. May be
 * called from any callback. Announcers still alive stop announcing; they must still be freed
 * with btt_announcer_stop (which then contacts no tracker). */
void btt_tracker_client_close(btt_tracker_client *c);

/* result: BTT_OK with resp filled (owned by the client, valid during the callback) and
 * message NULL, or an error with resp NULL and a human message (BTT_ETRACKER: the tracker's
 * failure reason, an error packet's text or "HTTP 404"; BTT_ETIMEDOUT; BTT_ENET; BTT_EPROTO
 * for a malformed reply; BTT_ETOOBIG for a reply over BTT_TRACKER_MAX_BODY; BTT_ECANCELED when
 * the client closed). The request is freed after its callback returns. */
typedef void (*btt_announce_cb)(void *ud, btt_err result, const btt_announce_resp *resp, const char *message);
typedef void (*btt_scrape_cb)(void *ud, btt_err result, const btt_scrape_resp *resp, const char *message);

/* One announce to one URL (http://, https:// or udp://host:port). Hostnames are resolved
 * (libcurl for HTTP, getaddrinfo on the thread pool for UDP; the first address is used).
 * req may be NULL; *req stays valid until the callback starts. Errors returned at once:
 * BTT_EINVAL (unsupported scheme, bad udp:// URL, or for scrape a URL without BEP 48's
 * "announce" convention), BTT_ENET (no UDP socket), BTT_ENOMEM, BTT_ECANCELED (closing).
 * For HTTP, r->tracker_id and r->extra_query are used; UDP ignores them. The callback is
 * never called from inside these functions. */
BTT_WUR btt_err btt_tracker_announce(btt_tracker_client *c, const char *url, const btt_announce_req *r,
                                     btt_announce_cb cb, void *ud, btt_tracker_req **req);
BTT_WUR btt_err btt_tracker_scrape(btt_tracker_client *c, const char *url, const uint8_t info_hash[BTT_SHA1_LEN],
                                   btt_scrape_cb cb, void *ud, btt_tracker_req **req);
/* Cancels a request: its callback never fires. Not after its callback has started. */
void btt_tracker_cancel(btt_tracker_req *req);

/* ---- the announcer of one torrent (BEP 12 tiers) ---- */
typedef struct btt_announcer btt_announcer;

typedef struct btt_announcer_stats {
    uint64_t uploaded, downloaded, left;
    /* BitTorrent Speed (docs/speed-protocol.md 5.1): announce our bid (0: none) and, with
     * sortbid, ask for the highest bidders first (a Speed seeder) */
    bool bidannounce, sortbid;
    uint64_t bid;
} btt_announcer_stats;

typedef struct btt_announcer_cbs {
    void *ud;
    /* current transfer totals, asked before each announce */
    void (*stats)(void *ud, btt_announcer_stats *out);
    /* peers from a successful announce */
    void (*peers)(void *ud, const btt_addr *peers, size_t n);
    /* optional: the tracker's claim of each peer's bid, when the reply carried bids
     * (bidannounce, docs/speed-protocol.md 5.1); called after peers */
    void (*bids)(void *ud, const btt_addr *peers, const uint64_t *bids, size_t n);
    /* optional: a tracker's error or warning, for the log and the UI */
    void (*status)(void *ud, const char *url, btt_err result, const char *message);
    /* optional: the extra query for HTTP announces (Speed's bid); may return NULL */
    const char *(*extra_query)(void *ud);
} btt_announcer_cbs;

/* BEP 12: "tiers of announces will be processed sequentially; all URLs in each tier must be
 * checked before the client goes on to the next tier. URLs within each tier will be processed
 * in a randomly chosen order ... if a connection with a tracker is successful, it will be
 * moved to the front of the tier." Starts with a `started` announce (from the loop, not
 * inside this call) and repeats it until one tracker takes it; then re-announces every
 * `interval` (1800 s when absent, at least 30 s). One tracker gets at most its HTTP timeout
 * (+1 s) or three UDP transmissions and their waits (15+30+60 s by default) before the walk
 * moves on. When every URL failed the walk is retried after 60 s, doubling up to 30 min.
 * The tiers are copied; every callback may be NULL. BTT_EINVAL if there is no URL at all.
 * The announce key is the client's, one per session. */
BTT_WUR btt_err btt_announcer_new(btt_tracker_client *c, const btt_tier *tiers, size_t num_tiers,
                                  const uint8_t info_hash[BTT_SHA1_LEN], const uint8_t peer_id[20], uint16_t port,
                                  const btt_announcer_cbs *cbs, btt_announcer **out, btt_error *err);
/* Sends `completed` at once (once). */
void btt_announcer_completed(btt_announcer *a);
/* Asks for more peers now, respecting min interval (60 s when absent) since the last
 * successful announce; does nothing while a request is in flight or the trackers fail. */
void btt_announcer_want_peers(btt_announcer *a);
/* Sends `stopped` to the last working tracker and calls done(ud) (may be NULL) when it was
 * answered or after timeout_ms, then frees the announcer. done runs from the loop, never
 * inside this call, once the announcer's handles are closed. A second call is ignored. */
void btt_announcer_stop(btt_announcer *a, uint32_t timeout_ms, void (*done)(void *ud), void *ud);

#endif
