/* btt/dht.h - the Mainline DHT (BEP 5) as a sans-I/O core, with IPv6 (BEP 32) and
 * read-only nodes (BEP 43).
 *
 * Three layers, each usable and tested on its own:
 *   KRPC codec      btt_krpc_*        datagram bytes <-> btt_krpc_msg (strict, bounded)
 *   routing table   btt_dht_rtable_*  160-bit table of k=8 buckets around our id
 *   node            btt_dht_*         answers queries, runs lookups, stores announced peers
 *
 * The node does no I/O and reads no clock and no OS randomness: datagrams and the time go in
 * (btt_dht_receive, btt_dht_tick), datagrams with their destination and events come out
 * (btt_dht_pop_send, btt_dht_pop_event). Its randomness (transaction ids, token secrets,
 * refresh targets) comes from the seed in its configuration. Every table it keeps has a cap,
 * so a hostile network can make it drop work (counted in btt_dht_stats), never grow it.
 * Design and limits: docs/dht.md. */
#ifndef BTT_DHT_H
#define BTT_DHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/addr.h"
#include "btt/buf.h"
#include "btt/error.h"

#define BTT_DHT_ID_LEN 20
#define BTT_DHT_K 8                 /* bucket size and the width of a lookup's result */
#define BTT_DHT_MAX_PACKET 1500     /* largest datagram we send */
#define BTT_DHT_MAX_INPUT 4096      /* larger datagrams are dropped unread */

/* ===================================================================== KRPC codec */

#define BTT_KRPC_MAX_TID 16    /* transaction id bytes accepted (ours are 4) */
#define BTT_KRPC_MAX_TOKEN 32  /* announce token bytes accepted (ours are 8) */
#define BTT_KRPC_MAX_NODES 32  /* compact nodes per family in one message (BEP 5 replies carry 8) */
#define BTT_KRPC_MAX_VALUES 128 /* peers in one get_peers reply */
#define BTT_KRPC_MAX_ERRMSG 64

typedef enum { BTT_KRPC_QUERY = 1, BTT_KRPC_RESPONSE, BTT_KRPC_ERROR } btt_krpc_kind;

typedef enum {
    BTT_KRPC_NONE = 0,      /* responses and errors carry no method */
    BTT_KRPC_PING,
    BTT_KRPC_FIND_NODE,
    BTT_KRPC_GET_PEERS,
    BTT_KRPC_ANNOUNCE_PEER,
    BTT_KRPC_UNKNOWN,       /* a query with a method we do not implement: answered with error 204 */
} btt_krpc_method;

/* BEP 32 "want": which node families a find_node/get_peers asker wants back. */
enum { BTT_KRPC_WANT_N4 = 1u << 0, BTT_KRPC_WANT_N6 = 1u << 1 };

/* BEP 5 error codes. */
enum {
    BTT_KRPC_ERR_GENERIC = 201,
    BTT_KRPC_ERR_SERVER = 202,
    BTT_KRPC_ERR_PROTOCOL = 203,
    BTT_KRPC_ERR_METHOD = 204,
};

/* "Compact node info": a 20-byte id and an endpoint (26 bytes for IPv4, 38 for IPv6). */
typedef struct btt_dht_node_info {
    uint8_t id[BTT_DHT_ID_LEN];
    btt_addr addr;
} btt_dht_node_info;

/* One KRPC message. Which fields mean something depends on kind and method:
 *   every message      tid, (response/error) ip (BEP 42, if has_ip), ro (BEP 43, queries)
 *   query              method, id; find_node: target; get_peers: target (the info_hash), want;
 *                      announce_peer: target (info_hash), port, implied_port, token
 *   response           id, nodes, nodes6, token (has_token), values
 *   error              error_code, error_msg
 * Decoding fills only what the message has; encoding writes what kind/method call for. */
typedef struct btt_krpc_msg {
    btt_krpc_kind kind;
    btt_krpc_method method;
    uint8_t tid[BTT_KRPC_MAX_TID];
    uint8_t tid_len;
    bool ro;
    uint8_t id[BTT_DHT_ID_LEN];
    uint8_t target[BTT_DHT_ID_LEN];
    uint8_t want;            /* BTT_KRPC_WANT_* bits, 0 if absent */
    uint16_t port;
    bool implied_port;
    bool has_token;
    uint8_t token_len;
    uint8_t token[BTT_KRPC_MAX_TOKEN];
    bool has_ip;
    btt_addr ip;             /* BEP 42: the address the responder saw us at */
    uint8_t num_nodes, num_nodes6;
    btt_dht_node_info nodes[BTT_KRPC_MAX_NODES];
    btt_dht_node_info nodes6[BTT_KRPC_MAX_NODES];
    uint16_t num_values;
    btt_addr values[BTT_KRPC_MAX_VALUES];
    int64_t error_code;
    char error_msg[BTT_KRPC_MAX_ERRMSG + 1]; /* NUL-terminated, truncated */
} btt_krpc_msg;

/* Decodes one datagram. Strict: the bencoding must be canonical (BEP 3), the top level a dict
 * with a string "t" of 1..BTT_KRPC_MAX_TID bytes and "y" one of q/r/e; ids, targets and
 * info-hashes exactly 20 bytes; ports 1..65535 (announce_peer with implied_port: 0..65535);
 * "nodes" a multiple of 26 bytes, "nodes6" of 38, at most BTT_KRPC_MAX_NODES each; "values"
 * a list of 6- or 18-byte strings, at most BTT_KRPC_MAX_VALUES. Unknown keys are ignored.
 * Returns BTT_OK, BTT_ETOOBIG (over a limit: input size, list length, nesting) or BTT_EPROTO
 * (malformed); err says which field. *m is fully written in every case (zeroed first). */
BTT_WUR btt_err btt_krpc_decode(const uint8_t *p, size_t len, btt_krpc_msg *m, btt_error *err);

/* Appends the encoding of m (canonical bencoding, keys sorted) to b. BTT_EINVAL if m cannot be
 * encoded (tid_len 0, unknown method, more nodes or values than the limits). */
BTT_WUR btt_err btt_krpc_encode(btt_buf *b, const btt_krpc_msg *m);

/* Compact node info: 26 bytes (IPv4) or 38 (IPv6) written to out; returns the count. */
size_t btt_dht_node_info_compact(const btt_dht_node_info *n, uint8_t *out);

/* ===================================================================== routing table */

/* XOR distance order: <0 if a is closer to target than b, 0 if equal, >0 if farther. */
int btt_dht_id_cmp_distance(const uint8_t target[BTT_DHT_ID_LEN], const uint8_t a[BTT_DHT_ID_LEN],
                            const uint8_t b[BTT_DHT_ID_LEN]);
/* Number of leading bits a and b share (0..160). */
unsigned btt_dht_id_common_bits(const uint8_t a[BTT_DHT_ID_LEN], const uint8_t b[BTT_DHT_ID_LEN]);

#define BTT_DHT_GOOD_MS (15u * 60 * 1000)    /* BEP 5: "responded ... within the last 15 minutes" */
#define BTT_DHT_REFRESH_MS (15u * 60 * 1000) /* BEP 5: buckets unchanged for 15 minutes are refreshed */
#define BTT_DHT_MAX_FAILS 2                 /* BEP 5: "fail to respond to multiple queries in a row" */

typedef enum { BTT_DHT_GOOD = 1, BTT_DHT_QUESTIONABLE, BTT_DHT_BAD } btt_dht_node_state;

/* How we heard from a node. */
typedef enum {
    BTT_DHT_HEARD_REPLY = 1, /* it answered one of our queries: good */
    BTT_DHT_HEARD_QUERY,     /* it queried us: good only if it has ever answered us */
} btt_dht_heard;

typedef struct btt_dht_rnode {
    uint8_t id[BTT_DHT_ID_LEN];
    btt_addr addr;
    uint64_t last_reply_ms; /* 0: never answered us */
    uint64_t last_query_ms; /* 0: never queried us */
    uint64_t last_ping_ms;  /* when we last pinged it to check on it */
    uint8_t fails;          /* consecutive queries it did not answer */
} btt_dht_rnode;

typedef struct btt_dht_rtable btt_dht_rtable;

/* A table for one address family (BEP 32 keeps IPv4 and IPv6 tables apart) around our id.
 * NULL if out of memory. Frees with btt_dht_rtable_free. */
btt_dht_rtable *btt_dht_rtable_new(const uint8_t self[BTT_DHT_ID_LEN], uint64_t now_ms);
void btt_dht_rtable_free(btt_dht_rtable *rt);

btt_dht_node_state btt_dht_rnode_state(const btt_dht_rnode *n, uint64_t now_ms);

typedef enum {
    BTT_DHT_INS_ADDED = 1,   /* now in a bucket */
    BTT_DHT_INS_UPDATED,     /* was in a bucket; times refreshed */
    BTT_DHT_INS_REPLACEMENT, /* bucket full of good or questionable nodes: kept in its replacement cache */
    BTT_DHT_INS_REJECTED,    /* our own id, port 0, or an id/address that conflicts with an entry */
} btt_dht_ins;

/* Records that node (id, addr) was heard from. Inserts or updates it per BEP 5: a full bucket
 * that holds our id splits; otherwise a bad node is replaced; otherwise the node goes to the
 * bucket's replacement cache (and its questionable nodes are due to be pinged). An id already
 * in the table at another address, or an address already in it under another id, is rejected. */
btt_dht_ins btt_dht_rtable_heard(btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN], const btt_addr *addr,
                                 btt_dht_heard how, uint64_t now_ms);
/* A query to (id, addr) got no answer. After BTT_DHT_MAX_FAILS in a row the node is bad and,
 * if the bucket has a replacement, the newest replacement takes its place. */
void btt_dht_rtable_failed(btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN], const btt_addr *addr);
/* Removes a node (both from buckets and replacement caches). */
void btt_dht_rtable_remove(btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN]);

/* The entry for id in a bucket, or NULL. */
const btt_dht_rnode *btt_dht_rtable_find(const btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN]);

/* Up to max nodes closest to target, nearest first; returns the count. Bad nodes never;
 * with include_questionable every other node (lookups seed from them), without it only
 * confirmed nodes: those that have answered us and not failed since (replies to queries). */
size_t btt_dht_rtable_closest(const btt_dht_rtable *rt, const uint8_t target[BTT_DHT_ID_LEN], bool include_questionable,
                              uint64_t now_ms, btt_dht_node_info *out, size_t max);

/* A questionable node worth a ping (not pinged within the last retry_ms), marked as pinged now;
 * false if none. */
bool btt_dht_rtable_next_ping(btt_dht_rtable *rt, uint64_t now_ms, uint64_t retry_ms, btt_dht_node_info *out);
/* A bucket unchanged for BTT_DHT_REFRESH_MS: writes a target inside its range (random bits
 * from rnd) and marks it refreshed now; false if none is due. */
bool btt_dht_rtable_refresh_target(btt_dht_rtable *rt, uint64_t now_ms, uint64_t rnd, uint8_t target[BTT_DHT_ID_LEN]);

/* Makes every bucket but the last (the one around our id) due for refresh: after joining the
 * network with a lookup of its own id, a node fills the farther buckets this way (Kademlia's
 * join procedure). */
void btt_dht_rtable_refresh_all(btt_dht_rtable *rt);

typedef struct btt_dht_rtable_info {
    size_t buckets;
    size_t nodes, good, questionable, bad;
    size_t replacements;
} btt_dht_rtable_info;
void btt_dht_rtable_get_info(const btt_dht_rtable *rt, uint64_t now_ms, btt_dht_rtable_info *out);
/* Bucket i (0 = farthest from us): its nodes; returns the count (0 past the last bucket). */
size_t btt_dht_rtable_bucket(const btt_dht_rtable *rt, size_t i, const btt_dht_rnode **nodes);

/* Compact form: the nodes that are not bad, as concatenated compact node info. */
BTT_WUR btt_err btt_dht_rtable_save(const btt_dht_rtable *rt, uint64_t now_ms, btt_buf *out);
/* Inserts the nodes of a compact list (26 or 38 bytes each by family) as questionable nodes:
 * they are used to start lookups and confirmed by their answers. BTT_EPROTO if len is not a
 * multiple of the record size. */
BTT_WUR btt_err btt_dht_rtable_load(btt_dht_rtable *rt, uint8_t family, const uint8_t *p, size_t len,
                                    uint64_t now_ms);

/* ===================================================================== node */

typedef struct btt_dht_config {
    uint8_t id[BTT_DHT_ID_LEN]; /* our node id: random, from the caller (or a saved state) */
    uint64_t seed;              /* the core's only source of randomness */
    bool ipv4, ipv6;            /* families the node serves (its sockets) */
    bool read_only;             /* BEP 43: send "ro": 1, answer no queries */
    size_t max_lookups;         /* concurrent lookups (default 32) */
    size_t max_pending;         /* outstanding queries (default 512) */
    size_t max_torrents;        /* info-hashes with stored peers (default 4096) */
    size_t max_peers_per_torrent; /* (default 200) */
    size_t max_peers;           /* stored peers in total (default 50,000) */
    size_t max_out;             /* queued outgoing datagrams (default 1024) */
    size_t max_events;          /* queued events (default 4096) */
    uint32_t alpha;             /* parallel queries per lookup (default 3) */
    uint32_t query_timeout_ms;  /* a query with no answer fails (default 4000) */
    uint32_t slow_ms;           /* an unanswered query stops holding a lookup slot (default 1000) */
    uint32_t peer_ttl_ms;       /* stored peers expire (default 30 min) */
    uint32_t rate_per_s;        /* queries answered per second per address (default 20) */
    uint32_t rate_burst;        /* (default 40) */
} btt_dht_config;

/* Defaults for everything; id zero, seed 0, IPv4 only. */
void btt_dht_config_default(btt_dht_config *c);

typedef struct btt_dht btt_dht;

/* A node at time now_ms. *out is freed with btt_dht_free. */
BTT_WUR btt_err btt_dht_new(const btt_dht_config *cfg, uint64_t now_ms, btt_dht **out, btt_error *err);
void btt_dht_free(btt_dht *d);
const uint8_t *btt_dht_id(const btt_dht *d);

/* One datagram that arrived from `from` at now_ms. Malformed, oversized, unexpected and
 * rate-limited datagrams are dropped and counted; nothing else changes. */
void btt_dht_receive(btt_dht *d, const uint8_t *p, size_t len, const btt_addr *from, uint64_t now_ms);
/* Timers: query timeouts, lookup progress, pings of questionable nodes, bucket refresh, token
 * secret rotation, expiry of stored peers. Call at least every btt_dht_next_tick_ms. */
void btt_dht_tick(btt_dht *d, uint64_t now_ms);
/* When the next tick is due (absolute ms). */
uint64_t btt_dht_next_tick_ms(const btt_dht *d);

typedef struct btt_dht_packet {
    btt_addr to;
    size_t len;
    uint8_t data[BTT_DHT_MAX_PACKET];
} btt_dht_packet;
/* The next datagram to send; false if none. */
bool btt_dht_pop_send(btt_dht *d, btt_dht_packet *out);

typedef enum {
    BTT_DHT_EV_PEERS = 1, /* a get_peers lookup found peers (new to this lookup) */
    BTT_DHT_EV_DONE,      /* a lookup finished (all its families) */
} btt_dht_event_type;

#define BTT_DHT_EV_MAX_PEERS 32

typedef struct btt_dht_lookup_stats {
    uint32_t queries;   /* queries sent */
    uint32_t replies;   /* answers received */
    uint32_t timeouts;  /* queries that failed */
    uint32_t peers;     /* distinct peers found */
    uint32_t hops;      /* longest referral chain from a seed node to a node that answered */
    uint32_t announced; /* announce_peer queries sent after the lookup */
    uint32_t closest;   /* nodes in the final closest set that answered (at most k per family) */
    uint64_t first_peer_ms; /* time from start to the first peer (0: none) */
    uint64_t duration_ms;
} btt_dht_lookup_stats;

typedef struct btt_dht_event {
    btt_dht_event_type type;
    uint32_t lookup;    /* the handle btt_dht_get_peers/find_node returned */
    uint8_t target[BTT_DHT_ID_LEN];
    size_t num_peers;   /* PEERS */
    btt_addr peers[BTT_DHT_EV_MAX_PEERS];
    btt_dht_lookup_stats stats; /* DONE */
    size_t num_nodes;   /* DONE: the closest nodes that answered, nearest first per family */
    btt_dht_node_info nodes[2 * BTT_DHT_K];
} btt_dht_event;
/* The next event; false if none. */
bool btt_dht_pop_event(btt_dht *d, btt_dht_event *out);

/* Pings addr; the node enters the routing table when it answers. */
BTT_WUR btt_err btt_dht_add_node(btt_dht *d, const btt_addr *addr, uint64_t now_ms);
/* A find_node lookup of our own id, seeded from the routing table and from the given
 * addresses (ids unknown; may be none when the table was loaded from a saved state).
 * BTT_EINVAL if there is nothing to start from; *lookup (if non-NULL) gets the handle. */
BTT_WUR btt_err btt_dht_bootstrap(btt_dht *d, const btt_addr *addrs, size_t n, uint64_t now_ms, uint32_t *lookup);
/* An iterative find_node lookup for target in every family the node serves. */
BTT_WUR btt_err btt_dht_find_node(btt_dht *d, const uint8_t target[BTT_DHT_ID_LEN], uint64_t now_ms, uint32_t *lookup);
/* An iterative get_peers lookup; peers arrive as BTT_DHT_EV_PEERS events. If announce, then at
 * the end announce_peer goes to the k closest nodes that gave a token, with port (or
 * implied_port: the source port of our datagrams). BTT_ETOOBIG when max_lookups run already. */
BTT_WUR btt_err btt_dht_get_peers(btt_dht *d, const uint8_t info_hash[BTT_DHT_ID_LEN], bool announce, uint16_t port,
                                  bool implied_port, uint64_t now_ms, uint32_t *lookup);

/* Saved state: bencoded {"id": our id, "nodes": compact IPv4 nodes, "nodes6": compact IPv6
 * nodes}. Load only into a fresh node (before any traffic): it takes the saved id and fills
 * the tables with questionable nodes. */
BTT_WUR btt_err btt_dht_save(const btt_dht *d, uint64_t now_ms, btt_buf *out);
BTT_WUR btt_err btt_dht_load(btt_dht *d, const uint8_t *p, size_t len, uint64_t now_ms, btt_error *err);

/* The routing table of a family (4 or 6), NULL if the node does not serve it. */
btt_dht_rtable *btt_dht_table(btt_dht *d, uint8_t family);

typedef struct btt_dht_stats {
    uint64_t rx_packets, rx_bytes;
    uint64_t rx_malformed;    /* not KRPC, wrong types, bad lengths */
    uint64_t rx_oversized;    /* over a size or count limit */
    uint64_t rx_queries, rx_responses, rx_errors;
    uint64_t rx_unexpected;   /* responses/errors to no pending query, from the wrong address, or stale */
    uint64_t rx_id_mismatch;  /* a reply from a known address under another id */
    uint64_t rx_rate_limited; /* queries dropped by the per-address limit */
    uint64_t rx_wrong_family; /* datagrams from a family the node does not serve */
    uint64_t tx_packets, tx_bytes;
    uint64_t tx_dropped;      /* outgoing queue full */
    uint64_t pending_full;    /* queries not sent: too many outstanding */
    uint64_t timeouts;
    uint64_t announces_stored, announces_bad_token, announces_dropped; /* dropped: storage full */
    uint64_t events_dropped;
    uint64_t lookups_started, lookups_done;
    size_t pending, lookups, torrents, peers_stored;
} btt_dht_stats;
void btt_dht_get_stats(const btt_dht *d, btt_dht_stats *out);

/* Demultiplexing the peer port's UDP socket: true if the datagram looks like KRPC (a bencoded
 * dict: first byte 'd'). uTP headers carry version 1 in the low nibble of the first byte
 * (0x01, 0x11, ...), UDP tracker replies start with a 32-bit action 0..3. */
static inline bool btt_dht_is_krpc(const uint8_t *p, size_t len)
{
    return len > 0 && p[0] == 'd';
}

#endif
