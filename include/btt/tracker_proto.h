/* btt/tracker_proto.h - the tracker server's wire formats, without I/O: the HTTP/1.1 request
 * head, the announce / scrape / bidscrape query strings, the bencoded replies (BEP 3, 23, 7,
 * 48 and docs/speed-protocol.md section 5), and UDP tracker packets (BEP 15) with connection
 * ids derived from the client's address and the time by a keyed MAC instead of being stored.
 *
 * Everything parsed here is hostile input: every parser is bounded by its length argument,
 * never allocates, and reports a short English reason for the client on failure. */
#ifndef BTT_TRACKER_PROTO_H
#define BTT_TRACKER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/addr.h"
#include "btt/error.h"
#include "btt/tracker_core.h"

/* ---- HTTP ---- */

#define BTT_TRK_HTTP_HEAD_MAX 8192 /* a request head (request line and headers) above this: 431 */

typedef enum { BTT_TRK_HTTP_MORE = 0, BTT_TRK_HTTP_DONE = 1, BTT_TRK_HTTP_BAD = -1 } btt_trk_http_result;

typedef struct btt_trk_http_req {
    size_t head_len;             /* bytes up to and including the empty line */
    const char *path;            /* into the buffer, not NUL-terminated */
    size_t path_len;
    const char *query;           /* after '?', without a fragment; NULL when there is none */
    size_t query_len;
    bool keep_alive;             /* HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive */
    int status;                  /* BTT_TRK_HTTP_BAD: the status to answer (400, 405, 431, 505) */
    const char *reason;          /* BTT_TRK_HTTP_BAD: why, for the body */
} btt_trk_http_req;

/* Parses the head of one request at the start of buf. MORE: no complete head yet (and it is
 * still below BTT_TRK_HTTP_HEAD_MAX); DONE: r is filled; BAD: r->status and r->reason. Only GET
 * is served; a request announcing a body (Content-Length other than 0, Transfer-Encoding) is BAD. */
btt_trk_http_result btt_trk_http_parse_head(const char *buf, size_t len, btt_trk_http_req *r);

/* Query of /announce. Required: info_hash (20 bytes), port (1..65535). Optional: peer_id (20
 * bytes when given), uploaded, downloaded, left (unsigned decimal; left absent means
 * leecher), event (started, completed, stopped, paused, empty), numwant (decimal, negative
 * means default), compact (0 or 1), bid, minbid (unsigned decimal), sortbid (0 or 1). Other
 * parameters are ignored (ip= is never trusted: the source address is used). On success
 * a->addr.port is set, the caller sets the address; *compact tells which peer model to reply
 * with. BTT_EPROTO with *failure on a malformed query. */
BTT_WUR btt_err btt_trk_query_announce(const char *q, size_t len, btt_trk_announce *a, bool *compact,
                                       const char **failure);
/* Query of /scrape: info_hash parameters, at most BTT_TRK_SCRAPE_MAX; none (*n = 0) asks for a
 * full scrape, one page of it from `cursor` (unsigned decimal, default 0; see btt_trk_scrape_all). */
BTT_WUR btt_err btt_trk_query_scrape(const char *q, size_t len, uint8_t (*hashes)[20], size_t *n, uint64_t *cursor,
                                     const char **failure);
/* Query of /bidscrape: limit (default BTT_TRK_BIDSCRAPE_DEFAULT; above the maximum means the
 * maximum). */
BTT_WUR btt_err btt_trk_query_bidscrape(const char *q, size_t len, size_t *limit, const char **failure);

/* Bencoded bodies into out (cap bytes). Each returns the length, or 0 if cap was too small
 * (BTT_TRK_REPLY_MAX is always enough). */
#define BTT_TRK_REPLY_MAX 32768
size_t btt_trk_encode_failure(char *out, size_t cap, const char *reason);
size_t btt_trk_encode_announce(char *out, size_t cap, const btt_trk_counts *c, uint32_t interval,
                               const btt_trk_peers *p, bool compact, bool bids);
/* entries: n (at most BTT_TRK_FULLSCRAPE_PAGE) pairs of info-hash and counts, written in hash
 * order; next > 0 adds "next": the cursor of a full scrape's next page */
size_t btt_trk_encode_scrape(char *out, size_t cap, const uint8_t (*hashes)[20], const btt_trk_counts *c, size_t n,
                             uint64_t next);
size_t btt_trk_encode_bidscrape(char *out, size_t cap, const btt_trk_bidscrape_entry *e, size_t n);

/* ---- UDP (BEP 15) ---- */

#define BTT_TRK_UDP_CONNID_EPOCH 60 /* s: an id is accepted in its epoch and the next one */

typedef struct btt_trk_udp_req {
    uint32_t action, txid;
    uint64_t conn_id;          /* announce, scrape */
    btt_trk_announce ann;      /* announce: everything but addr.family/addr.ip */
    const uint8_t *hashes;     /* scrape: 20-byte info-hashes in the packet */
    size_t nhashes;
} btt_trk_udp_req;

typedef enum {
    BTT_TRK_UDP_OK = 0,
    BTT_TRK_UDP_IGNORE = 1, /* too short to carry a transaction id: no reply at all */
    BTT_TRK_UDP_ERROR = 2,  /* reply with an error packet (txid is set) */
} btt_trk_udp_result;

/* Parses a request: connect (16 bytes, the protocol id), announce (98 bytes or more; BEP 41
 * options are ignored), scrape (16 + 20 * n bytes, n >= 1; more than BTT_TRK_SCRAPE_MAX hashes
 * are cut to that many). Connection ids are not checked here. */
btt_trk_udp_result btt_trk_udp_parse(const uint8_t *p, size_t len, btt_trk_udp_req *r, const char **failure);

/* The connection id of a client (address and port) at time now (seconds): SipHash-2-4 keyed
 * with key over the epoch now / BTT_TRK_UDP_CONNID_EPOCH and the address. Valid while the
 * epoch is the same or the next one: at least 60 s and at most 120 s after it was given. */
uint64_t btt_trk_udp_connid(const uint8_t key[16], const btt_addr *from, uint64_t now);
bool btt_trk_udp_connid_ok(const uint8_t key[16], const btt_addr *from, uint64_t now, uint64_t id);

/* Replies: each returns the length written. announce: peers of the client's family
 * (stride 6 or 18) up to what fits in cap. error: message cut to fit in cap. */
size_t btt_trk_udp_connect_reply(uint8_t out[16], uint32_t txid, uint64_t conn_id);
size_t btt_trk_udp_announce_reply(uint8_t *out, size_t cap, uint32_t txid, uint32_t interval,
                                  const btt_trk_counts *c, const uint8_t *peers, size_t n, size_t stride);
size_t btt_trk_udp_scrape_reply_head(uint8_t out[8], uint32_t txid);
size_t btt_trk_udp_scrape_reply_entry(uint8_t out[12], const btt_trk_counts *c);
size_t btt_trk_udp_error_reply(uint8_t *out, size_t cap, uint32_t txid, const char *message);

#endif
