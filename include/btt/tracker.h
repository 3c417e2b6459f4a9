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

typedef struct btt_tracker_opts {
    /* UDP retry base: BEP 15 says 15 * 2^n seconds, n up to 8; tests shorten it. */
    uint32_t udp_timeout_ms;  /* default 15000 */
    uint32_t udp_max_retries; /* default 8 */
    uint32_t http_timeout_ms; /* default 30000 */
    const char *user_agent;   /* default "btt/VERSION" */
} btt_tracker_opts;

BTT_WUR btt_err btt_tracker_client_new(uv_loop_t *loop, const btt_tracker_opts *opts, btt_tracker_client **out,
                                       btt_error *err);
/* Cancels outstanding requests (their callbacks get BTT_ECANCELED) and frees the client
 * once its handles are closed; the loop must run for that to finish. */
void btt_tracker_client_close(btt_tracker_client *c);

/* result: BTT_OK with resp filled (owned by the client, valid during the callback), or an
 * error with a human message (BTT_ETRACKER: the tracker's failure reason; BTT_ETIMEDOUT;
 * BTT_ENET). */
typedef void (*btt_announce_cb)(void *ud, btt_err result, const btt_announce_resp *resp, const char *message);
typedef void (*btt_scrape_cb)(void *ud, btt_err result, const btt_scrape_resp *resp, const char *message);

/* One announce to one URL (http://, https:// or udp://host:port). Hostnames are resolved
 * (libcurl for HTTP, getaddrinfo on the thread pool for UDP). *req may be NULL. */
BTT_WUR btt_err btt_tracker_announce(btt_tracker_client *c, const char *url, const btt_announce_req *r,
                                     btt_announce_cb cb, void *ud, btt_tracker_req **req);
BTT_WUR btt_err btt_tracker_scrape(btt_tracker_client *c, const char *url, const uint8_t info_hash[BTT_SHA1_LEN],
                                   btt_scrape_cb cb, void *ud, btt_tracker_req **req);
/* Cancels a request: its callback never fires. */
void btt_tracker_cancel(btt_tracker_req *req);

/* ---- the announcer of one torrent (BEP 12 tiers) ---- */
typedef struct btt_announcer btt_announcer;

typedef struct btt_announcer_stats {
    uint64_t uploaded, downloaded, left;
} btt_announcer_stats;

typedef struct btt_announcer_cbs {
    void *ud;
    /* current transfer totals, asked before each announce */
    void (*stats)(void *ud, btt_announcer_stats *out);
    /* peers from a successful announce */
    void (*peers)(void *ud, const btt_addr *peers, size_t n);
    /* optional: a tracker's error or warning, for the log and the UI */
    void (*status)(void *ud, const char *url, btt_err result, const char *message);
    /* optional: the extra query for HTTP announces (Speed's bid); may return NULL */
    const char *(*extra_query)(void *ud);
} btt_announcer_cbs;

/* BEP 12: "tiers of announces will be processed sequentially; all URLs in each tier must be
 * checked before the client goes on to the next tier. URLs within each tier will be processed
 * in a randomly chosen order ... if a connection with a tracker is successful, it will be
 * moved to the front of the tier." Starts with a `started` announce. */
BTT_WUR btt_err btt_announcer_new(btt_tracker_client *c, const btt_tier *tiers, size_t num_tiers,
                                  const uint8_t info_hash[BTT_SHA1_LEN], const uint8_t peer_id[20], uint16_t port,
                                  const btt_announcer_cbs *cbs, btt_announcer **out, btt_error *err);
/* Sends `completed` at once (once). */
void btt_announcer_completed(btt_announcer *a);
/* Asks for more peers now, respecting min interval. */
void btt_announcer_want_peers(btt_announcer *a);
/* Sends `stopped` to the last working tracker and calls done(ud) when it was answered or
 * after timeout_ms, then frees the announcer. */
void btt_announcer_stop(btt_announcer *a, uint32_t timeout_ms, void (*done)(void *ud), void *ud);

#endif
