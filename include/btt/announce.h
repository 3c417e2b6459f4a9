/* btt/announce.h - tracker protocol cores, no I/O: the HTTP announce URL and response
 * (BEP 3, compact peers BEP 23, peers6 BEP 7, failure reason, interval, min interval, tracker
 * id), the HTTP scrape URL and response (BEP 48), and UDP tracker packets (BEP 15). */
#ifndef BTT_ANNOUNCE_H
#define BTT_ANNOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/addr.h"
#include "btt/error.h"
#include "btt/sha1.h"

/* Caps on what a tracker can make us hold. */
#define BTT_ANNOUNCE_MAX_PEERS 50000      /* peers in one reply (all forms together) */
#define BTT_TRACKER_MAX_BODY (16u << 20) /* bytes of an HTTP reply */

typedef enum {
    BTT_EVENT_NONE = 0,
    BTT_EVENT_COMPLETED = 1,
    BTT_EVENT_STARTED = 2,
    BTT_EVENT_STOPPED = 3, /* numbering as in BEP 15 */
} btt_announce_event;

typedef struct btt_announce_req {
    uint8_t info_hash[BTT_SHA1_LEN];
    uint8_t peer_id[20];
    uint16_t port;
    uint64_t uploaded, downloaded, left;
    btt_announce_event event;
    int32_t numwant;        /* -1: tracker default */
    uint32_t key;           /* random per session, lets the tracker recognize us across IPs */
    const char *tracker_id; /* from an earlier response, or NULL */
    const char *extra_query; /* appended verbatim to HTTP announces ("&a=b..."), or NULL */
    /* bidannounce (docs/speed-protocol.md 5.1), HTTP only: when set, bid=<bid> is sent, and
     * minbid=<minbid> when it is above 0, and sortbid=1 when sortbid */
    bool bidannounce;
    uint64_t bid, minbid;
    bool sortbid;
} btt_announce_req;

typedef struct btt_announce_resp {
    int32_t interval;      /* seconds; -1 when absent */
    int32_t min_interval;  /* seconds; -1 when absent */
    int64_t complete;      /* seeders; -1 when absent */
    int64_t incomplete;    /* leechers; -1 when absent */
    char *tracker_id;      /* NULL when absent */
    char *warning;         /* "warning message", NULL when absent */
    btt_addr *peers;       /* IPv4 and IPv6, compact or dictionary form */
    size_t num_peers;
    /* bidannounce replies: the tracker's claim of each peer's bid, peers[i] has bids[i] (0 for
     * none); NULL when the reply carried no bids (or `bids`/`bids6` of the wrong length, which
     * are ignored). Hints only: never trusted (docs/speed-protocol.md 3.4). */
    uint64_t *bids;
} btt_announce_resp;

void btt_announce_resp_free(btt_announce_resp *r); /* frees the members, not r */

/* The full GET URL for an HTTP announce: base URL (which may already hold a query) plus
 * info_hash, peer_id (percent-encoded bytes), port, uploaded, downloaded, left, compact=1,
 * event, numwant, key, trackerid and extra_query. New string, or NULL if out of memory. */
char *btt_http_announce_url(const char *announce_url, const btt_announce_req *r);

/* Parses a bencoded announce response (tolerant decoding). A "failure reason" gives
 * BTT_ETRACKER with the tracker's text in err. Compact strings whose length is not a multiple
 * of 6 (peers) or 18 (peers6) give BTT_EPROTO; more than BTT_ANNOUNCE_MAX_PEERS peers give
 * BTT_ETOOBIG. Dictionary-model peers with a hostname instead of an IP, and peers with port 0,
 * are skipped. On success free out with btt_announce_resp_free; on failure out holds nothing. */
BTT_WUR btt_err btt_http_announce_parse(const uint8_t *body, size_t len, btt_announce_resp *out, btt_error *err);

/* BEP 48 scrape: the scrape URL (with the info_hash query) for an announce URL whose last
 * path component starts with "announce" (NULL when the tracker has no scrape convention),
 * and the parse of the reply for one info-hash. A reply without an entry for the hash means
 * the tracker has no swarm: all three counts are 0. */
char *btt_http_scrape_url(const char *announce_url, const uint8_t info_hash[BTT_SHA1_LEN]);
typedef struct btt_scrape_resp {
    int64_t complete, incomplete, downloaded; /* -1 when absent */
} btt_scrape_resp;
BTT_WUR btt_err btt_http_scrape_parse(const uint8_t *body, size_t len, const uint8_t info_hash[BTT_SHA1_LEN],
                                      btt_scrape_resp *out, btt_error *err);

/* ---- UDP tracker (BEP 15) packets ---- */
enum { BTT_UDP_CONNECT = 0, BTT_UDP_ANNOUNCE = 1, BTT_UDP_SCRAPE = 2, BTT_UDP_ERROR = 3 };
#define BTT_UDP_PROTOCOL_ID 0x41727101980ULL

/* Each writes the whole packet and returns its length (16, 98, 36). */
size_t btt_udp_connect_req(uint8_t out[16], uint32_t txid);
size_t btt_udp_announce_req(uint8_t out[98], uint64_t conn_id, uint32_t txid, const btt_announce_req *r);
size_t btt_udp_scrape_req(uint8_t out[36], uint64_t conn_id, uint32_t txid, const uint8_t info_hash[BTT_SHA1_LEN]);

typedef struct btt_udp_reply {
    uint32_t action, txid;
    uint64_t conn_id;           /* connect */
    btt_announce_resp announce; /* announce: interval, incomplete (leechers), complete (seeders), peers */
    btt_scrape_resp scrape;     /* scrape: first info-hash */
    char message[256];          /* error */
} btt_udp_reply;

/* Parses a reply; ipv6 (the socket is IPv6) selects 18-byte peers, else 6-byte ones. The
 * caller matches txid and action. Short packets and peer bytes that are not a whole number of
 * entries give BTT_EPROTO. For an announce reply out->announce.peers is allocated: free it
 * with btt_announce_resp_free(&out->announce). The error message is printable and capped. */
BTT_WUR btt_err btt_udp_reply_parse(const uint8_t *p, size_t len, bool ipv6, btt_udp_reply *out, btt_error *err);

#endif
