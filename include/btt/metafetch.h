/* btt/metafetch.h - fetching a magnet link's info dictionary from peers (BEP 9, ut_metadata).
 *
 * A fetch runs on a session's loop before the torrent exists: it connects to the peers it is
 * given (x.pe=, --peer) and to those the magnet's trackers (tr=) return, advertises ut_metadata
 * in its extension handshake, and asks every peer that advertises a metadata_size for 16 KiB
 * pieces, two at a time per peer, several peers in parallel. Requests time out and go to another
 * peer; rejects put a peer on hold. The assembled dictionary is SHA-1-checked against the
 * info-hash; when it does not match, the peer that supplied it is banned from the session (never
 * reconnected); when several peers supplied pieces, the next attempts take every piece from one
 * peer at a time, so the liar is found without dropping the honest ones. Then on_done gets the
 * exact info bytes: the caller parses them and adds the torrent to the session (the fetch knows
 * nothing about storage). See docs/magnet.md. */
#ifndef BTT_METAFETCH_H
#define BTT_METAFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "btt/addr.h"
#include "btt/error.h"
#include "btt/session.h"

typedef struct btt_metafetch btt_metafetch;

typedef struct btt_metafetch_opts {
    const uint8_t *info_hash;   /* 20 bytes */
    char *const *trackers;      /* tr= URLs (announced to as one tier); may be NULL */
    size_t num_trackers;
    void *ud;
    /* The info dictionary arrived and matches the info-hash. info is valid during the call. */
    void (*on_done)(void *ud, btt_metafetch *f, const uint8_t *info, size_t len);
} btt_metafetch_opts;

typedef struct btt_metafetch_stats {
    uint32_t pieces_have, pieces_total; /* of the attempt in progress; total 0: size not known yet */
    uint64_t size;                      /* metadata size being fetched, 0 if not known yet */
    uint32_t peers;                     /* connected peers that offer the metadata */
    uint32_t connected;                 /* connected peers */
    uint32_t candidates;                /* addresses known */
    uint32_t failures;                  /* attempts whose hash did not match */
} btt_metafetch_stats;

BTT_WUR btt_err btt_metafetch_new(btt_session *s, const btt_metafetch_opts *o, btt_metafetch **out, btt_error *err);
void btt_metafetch_add_peer(btt_metafetch *f, const btt_addr *a);
void btt_metafetch_stats_get(const btt_metafetch *f, btt_metafetch_stats *out);
/* The addresses known that were not banned (for the torrent to connect to); returns how many
 * were written (at most max). */
size_t btt_metafetch_peers(const btt_metafetch *f, btt_addr *out, size_t max);
/* Closes every connection and the announcer; done(ud) (may be NULL) runs from the loop once
 * everything is closed, and f is freed. Call it before closing the session. */
void btt_metafetch_close(btt_metafetch *f, void (*done)(void *ud), void *ud);

#endif
