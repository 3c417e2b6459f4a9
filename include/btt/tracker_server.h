/* btt/tracker_server.h - the tracker server's I/O shell: one libuv loop on one thread owns a
 * btt_trk (btt/tracker_core.h) and serves it over
 *   - UDP (BEP 15): the socket is read and written in batches with recvmmsg/sendmmsg when
 *     libuv reports it readable; connection ids are MACs, nothing is stored per client;
 *   - HTTP/1.1 on libuv TCP with a small parser of its own (btt/tracker_proto.h): GET only,
 *     keep-alive, pipelining, "Connection: close" honoured, request heads bounded, slow or idle
 *     connections closed.
 * Paths: /announce, /scrape, /bidscrape, /stats (JSON). Every client address is rate limited
 * (token bucket, lossy fixed-size table). docs/tracker.md has the operator's view. */
#ifndef BTT_TRACKER_SERVER_H
#define BTT_TRACKER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"
#include "btt/tracker_core.h"

typedef struct btt_tracker_server_config {
    const char *http;            /* "ADDR:PORT" / "[IPV6]:PORT" to serve HTTP on, NULL: none */
    const char *udp;             /* the same for UDP; at least one of the two is needed */
    btt_trk_config core;
    const char *whitelist;       /* whitelist text (btt_trk_whitelist_load), used when core.whitelist */
    size_t whitelist_len;
    uint32_t rate_limit;         /* requests per second per client address (burst: twice that); 0: off */
    unsigned max_connections;    /* HTTP connections at once; 0: 4096 */
    uint32_t header_timeout_ms;  /* a request head must be complete this long after its first byte; 0: 10000 */
    uint32_t idle_timeout_ms;    /* an idle keep-alive connection is closed after this; 0: 30000 */
} btt_tracker_server_config;

typedef struct btt_tracker_server btt_tracker_server;

/* Binds the sockets (errors come back here: BTT_EINVAL for a bad address or whitelist, BTT_ENET
 * when a socket cannot be bound) and starts the loop thread. */
BTT_WUR btt_err btt_tracker_server_start(const btt_tracker_server_config *cfg, btt_tracker_server **out,
                                         btt_error *err);
/* "127.0.0.1:6969" as bound (the real port when 0 was asked); "" when not served. */
const char *btt_tracker_server_http_address(const btt_tracker_server *s);
const char *btt_tracker_server_udp_address(const btt_tracker_server *s);
/* Replaces the whitelist of a tracker started with one (btt_trk_whitelist_replace, run on the
 * loop thread; this call waits for it). On an error the old list stays. *dropped: torrents
 * removed because they are no longer listed. Call it from one thread at a time. */
BTT_WUR btt_err btt_tracker_server_reload_whitelist(btt_tracker_server *s, const char *text, size_t len,
                                                   size_t *dropped, btt_error *err);
/* Closes every socket, stops the thread and frees s. NULL-safe. */
void btt_tracker_server_stop(btt_tracker_server *s);

#endif
