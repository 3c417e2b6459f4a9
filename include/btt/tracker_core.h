/* btt/tracker_core.h - the tracker server's swarm tables, without I/O and with an explicit
 * clock: announce in, peer list out (BEP 3/7/23/15 semantics), scrape counts (BEP 48), the
 * Speed extensions bidannounce and bidscrape (docs/speed-protocol.md section 5), peer expiry,
 * completed counts, an optional whitelist, and caps on torrents and peers with eviction of the
 * stalest. Not thread-safe: one thread owns a btt_trk.
 *
 * Layout (docs/tracker.md): torrents live in an open-addressing table keyed by SipHash of the
 * info-hash (random key, so chosen hashes cannot collide on purpose); each torrent holds two
 * cuckoo-hashed peer tables (IPv4 slots of 7 bytes, IPv6 slots of 19: address, port, and one
 * byte of two flags and the last announce in coarse ticks modulo 64). Bids are rare and live in
 * a small side array per torrent, so a peer without a bid costs no bid bytes. */
#ifndef BTT_TRACKER_CORE_H
#define BTT_TRACKER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/addr.h"
#include "btt/announce.h"
#include "btt/error.h"

#define BTT_TRK_INTERVAL_DEFAULT 1800u
#define BTT_TRK_INTERVAL_MIN 5u
#define BTT_TRK_INTERVAL_MAX 7200u
#define BTT_TRK_NUMWANT_DEFAULT 50u
#define BTT_TRK_NUMWANT_MAX 200u /* a reply carries at most this many peers */
#define BTT_TRK_SCRAPE_MAX 74u   /* info-hashes per scrape (the most one UDP packet carries) */
#define BTT_TRK_FULLSCRAPE_PAGE 256u /* torrents per reply of a full scrape (HTTP /scrape, no info_hash) */
#define BTT_TRK_BIDSCRAPE_DEFAULT 50u
#define BTT_TRK_BIDSCRAPE_MAX 200u

typedef struct btt_trk btt_trk; /* opaque */

typedef struct btt_trk_config { /* a 0 field takes the default */
    uint32_t interval;              /* s, announce interval given to clients; default 1800 */
    uint32_t numwant_default;       /* peers when the client names none; default 50 */
    size_t max_torrents;            /* default 1,000,000 */
    size_t max_peers;               /* over all torrents; default 10,000,000 */
    size_t max_peers_per_torrent;   /* default 1,000,000 */
    bool whitelist;                 /* only torrents added with btt_trk_whitelist_add are served */
    bool ip_params;                 /* honour BEP 7 ipv4= / ipv6= (off: BEP 7 discourages them, they
                                       let anyone announce someone else's address) */
    uint64_t seed;                  /* hash key and sampling seed; 0: random (tests fix it) */
} btt_trk_config;

/* One announce, however it arrived (HTTP query or UDP packet). */
typedef struct btt_trk_announce {
    uint8_t info_hash[20];
    btt_addr addr;            /* the peer: the request's source IP and the announced port */
    uint64_t uploaded, downloaded, left;
    btt_announce_event event;
    int64_t numwant;          /* < 0: the default; capped at BTT_TRK_NUMWANT_MAX */
    /* bidannounce (HTTP only): bidding is set when any of bid, minbid or sortbid was given;
     * only then does the reply carry bids. */
    bool bidding;
    uint64_t bid, minbid;
    bool sortbid;
    /* BEP 7 ipv4= / ipv6= (HTTP only): another address of the peer, its port the announced one
     * unless the endpoint names one. Used only with cfg.ip_params, and only for the family that
     * is not the source address's (the source address is always the peer's address). */
    bool has_ip4, has_ip6;
    btt_addr ip4, ip6;
} btt_trk_announce;

/* Where the peers of a reply go: compact forms (6 and 18 bytes per peer, BEP 23/7) and, for a
 * bidding announce, each peer's bid in the same order. The caller gives room for
 * BTT_TRK_NUMWANT_MAX entries in each array. families: bit 0 IPv4 wanted, bit 1 IPv6 wanted
 * (UDP asks for its socket's family only; HTTP for both). */
typedef struct btt_trk_peers {
    uint8_t *peers4, *peers6;  /* 6 * BTT_TRK_NUMWANT_MAX, 18 * BTT_TRK_NUMWANT_MAX bytes */
    uint64_t *bids4, *bids6;   /* BTT_TRK_NUMWANT_MAX each; may be NULL when not bidding */
    size_t n4, n6;             /* out */
    unsigned families;         /* in */
} btt_trk_peers;

typedef struct btt_trk_counts {
    uint32_t complete, incomplete, downloaded; /* seeders, leechers, completed events */
} btt_trk_counts;

typedef struct btt_trk_bidscrape_entry {
    uint8_t info_hash[20];
    uint32_t bidders;
    uint64_t max, median;      /* median: the lower median */
} btt_trk_bidscrape_entry;

typedef struct btt_trk_stats {
    uint64_t torrents, peers, seeders, leechers, bidders;
    uint64_t announces, scrapes, bidscrapes, completed;
    uint64_t rejected;          /* announces refused (not whitelisted, bad port, full) */
    uint64_t expired_peers, evicted_peers, evicted_torrents;
    uint64_t peer_bytes;        /* bytes of peer tables, torrent records and bid arrays */
} btt_trk_stats;

/* BTT_EINVAL (interval outside [BTT_TRK_INTERVAL_MIN, BTT_TRK_INTERVAL_MAX]), BTT_ENOMEM. */
BTT_WUR btt_err btt_trk_new(const btt_trk_config *cfg, btt_trk **out, btt_error *err);
void btt_trk_free(btt_trk *t);
uint32_t btt_trk_interval(const btt_trk *t);
/* Peers not heard from for this long are dropped: interval + interval/2 + 60 s. */
uint32_t btt_trk_peer_ttl(const btt_trk *t);

/* Whitelist (consulted only when cfg.whitelist). BTT_ENOMEM. */
BTT_WUR btt_err btt_trk_whitelist_add(btt_trk *t, const uint8_t info_hash[20]);
/* Parses whitelist text: one 40-digit hex info-hash per line; blank lines and lines starting
 * with '#' are ignored. BTT_EINVAL names the first bad line. */
BTT_WUR btt_err btt_trk_whitelist_load(btt_trk *t, const char *text, size_t len, btt_error *err);

/* Handles an announce at time now (seconds on any monotonic clock that starts above 0).
 * On success the peer is recorded (or removed for `stopped`), out gets up to numwant other
 * peers and counts gets the torrent's counts (after this announce). A seed gets only
 * leechers. On refusal returns BTT_EINVAL (port 0), BTT_ENOENT (not whitelisted) or
 * BTT_ETOOBIG (full and nothing could be evicted) and sets *failure to a short English
 * reason for the client. */
BTT_WUR btt_err btt_trk_announce_do(btt_trk *t, const btt_trk_announce *a, uint64_t now, btt_trk_peers *out,
                                    btt_trk_counts *counts, const char **failure);

/* BEP 48 counts of one torrent; all 0 for an unknown one. Counts one scrape per call when
 * first is true (a request with several hashes counts once). */
void btt_trk_scrape(btt_trk *t, const uint8_t info_hash[20], bool first, btt_trk_counts *counts);

/* Full scrape, one page: up to max (capped at BTT_TRK_FULLSCRAPE_PAGE) torrents with their
 * counts, in table order from position cursor (0: the start). Returns the count; *next is the
 * cursor of the next page, 0 when this page reaches the end. Counts as one scrape. A cursor is
 * a table position: pages taken while torrents come and go (or the table grows) may repeat or
 * miss some torrents; every torrent present throughout a walk is listed at least once when
 * the table did not grow meanwhile. */
size_t btt_trk_scrape_all(btt_trk *t, uint64_t cursor, size_t max, uint8_t (*hashes)[20], btt_trk_counts *counts,
                          uint64_t *next);

/* Replaces the whitelist with the one in text (as btt_trk_whitelist_load reads it). On an error
 * (a bad line: BTT_EINVAL; BTT_ENOMEM) the old list stays. Torrents no longer listed are
 * dropped with their peers and refused from then on. *dropped gets their count. */
BTT_WUR btt_err btt_trk_whitelist_replace(btt_trk *t, const char *text, size_t len, size_t *dropped, btt_error *err);

/* bidscrape: torrents with at least one bid announced within the last interval, highest max
 * first (then more bidders, then lower info-hash), at most limit (capped at
 * BTT_TRK_BIDSCRAPE_MAX) entries into out. Returns the count. */
size_t btt_trk_bidscrape(btt_trk *t, uint64_t now, size_t limit, btt_trk_bidscrape_entry *out);

/* Drops expired peers and empty torrents, visiting at most budget torrents from where the
 * last call stopped (call it about once a second with budget = a fraction of the torrents). */
void btt_trk_expire(btt_trk *t, uint64_t now, size_t budget);

void btt_trk_get_stats(const btt_trk *t, btt_trk_stats *out);

#endif
