/* btt/pex.h - peer exchange (BEP 11, ut_pex) messages. Sans I/O.
 *
 * BEP 11: a ut_pex message is a bencoded dictionary of compact peer lists: "added" (IPv4,
 * 6 bytes each) with one flag byte per peer in "added.f", "added6"/"added6.f" (IPv6, 18 bytes
 * each), and "dropped"/"dropped6". "Peer exchange messages are sent at most once a minute and
 * must not contain more than 50 added and 50 dropped peers." Never used for private torrents
 * (BEP 27). */
#ifndef BTT_PEX_H
#define BTT_PEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/addr.h"
#include "btt/buf.h"
#include "btt/error.h"

#define BTT_PEX_MAX_ADDED 50     /* most added (and most dropped) peers we send in one message */
#define BTT_PEX_PARSE_MAX 200    /* most added (and dropped) peers taken from one message */
#define BTT_PEX_MAX_MESSAGE (64u << 10) /* larger messages are malformed */

/* Flags of an added peer (BEP 11). */
enum {
    BTT_PEX_ENCRYPTION = 0x01, /* prefers encryption */
    BTT_PEX_SEED = 0x02,       /* seed or upload only */
    BTT_PEX_UTP = 0x04,        /* supports uTP */
    BTT_PEX_HOLEPUNCH = 0x08,  /* supports ut_holepunch */
    BTT_PEX_REACHABLE = 0x10,  /* outgoing connection: the peer is reachable */
};

typedef struct btt_pex_peer {
    btt_addr addr;
    uint8_t flags; /* BTT_PEX_*; 0 when the message had no (or a mismatched) flags string */
} btt_pex_peer;

typedef struct btt_pex_msg {
    btt_pex_peer added[BTT_PEX_PARSE_MAX];
    size_t num_added;
    btt_addr dropped[BTT_PEX_PARSE_MAX];
    size_t num_dropped;
    bool truncated; /* the message listed more peers than BTT_PEX_PARSE_MAX: the rest were skipped */
} btt_pex_msg;

/* Parses a ut_pex payload. IPv4 and IPv6 peers end up in the same lists (IPv4 first). Entries
 * with port 0 are skipped. BTT_EPROTO if the payload is not a dictionary, is larger than
 * BTT_PEX_MAX_MESSAGE, or a peer list is not a string whose length is a multiple of its entry
 * size. Unknown keys are ignored. */
BTT_WUR btt_err btt_pex_parse(const uint8_t *p, size_t len, btt_pex_msg *out, btt_error *err);

/* Appends a payload: the added peers (at most BTT_PEX_MAX_ADDED are written, the first ones) and
 * the dropped ones (likewise), split into IPv4 and IPv6 lists. Keys without entries are left out,
 * except "added" and "dropped", which are always present. */
BTT_WUR btt_err btt_pex_build(btt_buf *b, const btt_pex_peer *added, size_t num_added, const btt_addr *dropped,
                              size_t num_dropped);

#endif
