/* btt/wire.h - the peer wire protocol codec (BEP 3, BEP 6 fast extension, BEP 10 extension
 * protocol). Sans I/O: bytes in, messages out; messages in, bytes out. Every length a peer
 * sends is checked against hard limits before anything is trusted or allocated. */
#ifndef BTT_WIRE_H
#define BTT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/addr.h"
#include "btt/buf.h"
#include "btt/error.h"
#include "btt/sha1.h"

#define BTT_HANDSHAKE_LEN 68
#define BTT_BLOCK_SIZE 16384u
#define BTT_MAX_BLOCK (128u << 10) /* largest block we accept a request for */

enum btt_msg_id {
    BTT_MSG_CHOKE = 0,
    BTT_MSG_UNCHOKE = 1,
    BTT_MSG_INTERESTED = 2,
    BTT_MSG_NOT_INTERESTED = 3,
    BTT_MSG_HAVE = 4,
    BTT_MSG_BITFIELD = 5,
    BTT_MSG_REQUEST = 6,
    BTT_MSG_PIECE = 7,
    BTT_MSG_CANCEL = 8,
    BTT_MSG_PORT = 9,           /* BEP 5 */
    BTT_MSG_SUGGEST = 0x0d,     /* BEP 6 */
    BTT_MSG_HAVE_ALL = 0x0e,
    BTT_MSG_HAVE_NONE = 0x0f,
    BTT_MSG_REJECT = 0x10,
    BTT_MSG_ALLOWED_FAST = 0x11,
    BTT_MSG_EXTENDED = 20,      /* BEP 10 */
    BTT_MSG_KEEPALIVE = 0x100,  /* zero-length message (pseudo id outside the byte range) */
};

/* Reserved-byte bits of the handshake. */
#define BTT_RSV_EXTENSION(r) ((r)[5] & 0x10) /* BEP 10 */
#define BTT_RSV_FAST(r) ((r)[7] & 0x04)      /* BEP 6 */
#define BTT_RSV_DHT(r) ((r)[7] & 0x01)       /* BEP 5 */

typedef struct btt_handshake {
    uint8_t reserved[8];
    uint8_t info_hash[BTT_SHA1_LEN];
    uint8_t peer_id[20];
} btt_handshake;

/* A decoded message. Pointers point into the input and are valid until it changes. */
typedef struct btt_msg {
    uint16_t id;                   /* enum btt_msg_id; unknown ids keep their byte value */
    uint32_t index, begin, length; /* have, request, cancel, reject, suggest, allowed fast; piece: index, begin */
    uint16_t port;                 /* port */
    uint8_t ext_id;                /* extended: the sub-id (0 = handshake) */
    const uint8_t *data;           /* bitfield bytes, piece block, extended payload */
    size_t data_len;
} btt_msg;

typedef struct btt_wire_limits {
    uint32_t num_pieces;   /* for bitfield length and index checks; 0 = unknown yet (magnet) */
    uint32_t max_message;  /* default 1 MiB + 16 KiB: largest message accepted */
} btt_wire_limits;

/* Parses the 68-byte handshake at p. BTT_OK with *consumed = 0 means more bytes are needed;
 * BTT_EPROTO if it is not a BitTorrent handshake. */
BTT_WUR btt_err btt_wire_handshake_parse(const uint8_t *p, size_t len, btt_handshake *out, size_t *consumed,
                                         btt_error *err);
void btt_wire_handshake_build(uint8_t out[BTT_HANDSHAKE_LEN], const uint8_t reserved[8],
                              const uint8_t info_hash[BTT_SHA1_LEN], const uint8_t peer_id[20]);

/* Decodes one message from p[0..len). Returns BTT_OK with *consumed > 0 and *out filled, or
 * BTT_OK with *consumed == 0 when the message is incomplete (then *need is the total number
 * of bytes it needs, at most max_message + 4), or BTT_EPROTO for a malformed, oversized or
 * out-of-range message (drop the peer). */
BTT_WUR btt_err btt_wire_next(const uint8_t *p, size_t len, const btt_wire_limits *lim, btt_msg *out,
                              size_t *consumed, size_t *need, btt_error *err);

/* Encoders append to b. */
BTT_WUR btt_err btt_wire_simple(btt_buf *b, uint8_t id);                 /* choke ... not interested, have all/none */
BTT_WUR btt_err btt_wire_have(btt_buf *b, uint8_t id, uint32_t index);   /* have, suggest, allowed fast */
BTT_WUR btt_err btt_wire_request(btt_buf *b, uint8_t id, uint32_t index, uint32_t begin,
                                 uint32_t length); /* request, cancel, reject */
BTT_WUR btt_err btt_wire_bitfield(btt_buf *b, const uint8_t *bits, size_t nbytes);
BTT_WUR btt_err btt_wire_port(btt_buf *b, uint16_t port);
BTT_WUR btt_err btt_wire_keepalive(btt_buf *b);
BTT_WUR btt_err btt_wire_extended(btt_buf *b, uint8_t ext_id, const uint8_t *payload, size_t len);
/* The 13-byte header of a piece message carrying len bytes of block data. */
void btt_wire_piece_header(uint8_t out[13], uint32_t index, uint32_t begin, uint32_t len);

/* ---- BEP 10 extension handshake ---- */
#define BTT_EXT_MAX 16
typedef struct btt_ext_handshake {
    struct {
        char name[32];
        uint8_t id;
    } m[BTT_EXT_MAX];  /* extensions offered, id 0 = disabled */
    size_t num_m;
    char v[64];        /* client name and version, "" if absent */
    uint16_t p;        /* listen port, 0 if absent */
    uint32_t reqq;     /* request queue size, 0 if absent */
    bool has_yourip;
    btt_addr yourip;   /* port 0 */
    int64_t metadata_size; /* BEP 9, -1 if absent */
    const uint8_t *raw; /* the whole dictionary, for extensions that need more fields */
    size_t raw_len;
} btt_ext_handshake;

BTT_WUR btt_err btt_ext_handshake_parse(const uint8_t *p, size_t len, btt_ext_handshake *out, btt_error *err);
/* The id the peer gave an extension, 0 if it does not support it. */
uint8_t btt_ext_handshake_id(const btt_ext_handshake *h, const char *name);

/* Builds our handshake payload: m lists extension names and our ids for them; v and yourip
 * may be NULL; p 0, reqq 0 and metadata_size < 0 leave those keys out. */
typedef struct btt_ext_item {
    const char *name;
    uint8_t id;
} btt_ext_item;
BTT_WUR btt_err btt_ext_handshake_build(btt_buf *b, const btt_ext_item *m, size_t nm, const char *v, uint16_t p,
                                        uint32_t reqq, const btt_addr *yourip, int64_t metadata_size);
/* The same with one more top-level key (e.g. "btt_speed", docs/speed-protocol.md) whose value is
 * the ready bencoding extra[0..extra_len), placed in sorted key order. BTT_EINVAL if extra_key is
 * one of the keys above. */
BTT_WUR btt_err btt_ext_handshake_build_with(btt_buf *b, const btt_ext_item *m, size_t nm, const char *v, uint16_t p,
                                             uint32_t reqq, const btt_addr *yourip, int64_t metadata_size,
                                             const char *extra_key, const uint8_t *extra, size_t extra_len);

/* ---- BEP 6 allowed fast set ---- */
/* The canonical k-piece set for an IPv4 peer (BEP 6 algorithm). Returns how many were written
 * (fewer than k only when num_pieces < k). */
size_t btt_allowed_fast_set(const uint8_t ipv4[4], const uint8_t info_hash[BTT_SHA1_LEN], uint32_t num_pieces,
                            size_t k, uint32_t *out);

#endif
