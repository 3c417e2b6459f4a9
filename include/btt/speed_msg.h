/* btt/speed_msg.h - the BitTorrent Speed wire messages (docs/speed-protocol.md sections 2 and 3).
 * Sans I/O: bytes in, structs out, and back.
 *
 * Speed rides on BEP 10: the extension handshake gets `m.btt_speed` and a `btt_speed` dict (the
 * hello), and every Speed message is one bencoded dict with "t" naming its type. Parsing checks
 * types, exact string lengths, non-negative integers and amounts within the supply; what needs
 * the torrent or the connection's state (a piece in range, a rate above the bid, a voucher's
 * signature) is the caller's to check. */
#ifndef BTT_SPEED_MSG_H
#define BTT_SPEED_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/account.h"
#include "btt/amount.h"
#include "btt/bencode.h"
#include "btt/buf.h"
#include "btt/error.h"
#include "btt/voucher.h"
#include "btt/wallet.h"

#define BTT_SPEED_EXT_NAME "btt_speed"
#define BTT_SPEED_VERSION 1
#define BTT_SPEED_MSG_MAX 1024       /* payload bytes; a larger message is malformed */
#define BTT_SPEED_CHALLENGE_LEN 16
#define BTT_SPEED_URL_MAX 255
#define BTT_SPEED_MALFORMED_MAX 8    /* malformed messages on one connection before it counts as legacy */
#define BTT_SPEED_POP_TAG "btt-speed-pop-v1"
#define BTT_SPEED_POP_MSG_LEN 116    /* tag 16 || ledger 32 || info-hash 20 || challenge 16 || pk 32 */
#define BTT_SPEED_CODE_MAX 31
#define BTT_SPEED_TEXT_MAX 255

/* The `btt_speed` dict of the extension handshake. */
typedef struct btt_speed_hello {
    btt_account pk;                            /* the sender's account */
    uint8_t ledger[BTT_LEDGER_ID_LEN];         /* the ledger it uses */
    uint8_t ch[BTT_SPEED_CHALLENGE_LEN];       /* a fresh challenge for the other side's pop */
    char url[BTT_SPEED_URL_MAX + 1];           /* optional ledger API URL ("" if none), informative */
} btt_speed_hello;

/* Appends the hello dict (the value of the handshake's "btt_speed" key) with v = 1. */
BTT_WUR btt_err btt_speed_hello_build(btt_buf *b, const btt_speed_hello *h);
/* Reads a hello from the handshake's "btt_speed" value. BTT_EPROTO (the peer is then legacy) for
 * a non-dict, v other than 1, a pk, ledger or ch of the wrong length, a url that is not a string
 * of printable ASCII up to 255 bytes. Unknown keys are ignored. */
BTT_WUR btt_err btt_speed_hello_parse(const btt_ben *dict, btt_speed_hello *out, btt_error *err);

typedef enum btt_speed_type {
    BTT_SPEED_UNKNOWN = 0, /* a "t" this version does not know: ignore the message */
    BTT_SPEED_POP,
    BTT_SPEED_RESERVE,
    BTT_SPEED_PROOF,
    BTT_SPEED_BID,
    BTT_SPEED_BID_RESPONSE,
    BTT_SPEED_CHANNEL,
    BTT_SPEED_PAY,
    BTT_SPEED_REFUSE,
} btt_speed_type;

const char *btt_speed_type_name(btt_speed_type t); /* "pop", "reserve", ...; "unknown" */

/* One message. Only the fields of its type are meaningful (parse zeroes the others).
 *   pop           sig
 *   reserve       rate (the price), piece, chunk
 *   proof         piece, chunk, hash
 *   bid           rate
 *   bid_response  rate, payee, lock, expiry
 *   channel       voucher.channel (the channel id)
 *   pay           voucher (channel, cumulative, seq >= 1, sig), piece
 *   refuse        code, text (optional), voucher.channel if has_channel (the channel it is
 *                 about: optional, sent with bad-channel, bad-voucher and stale-voucher) */
typedef struct btt_speed_msg {
    btt_speed_type type;
    uint8_t sig[BTT_SIG_LEN];
    uint64_t rate;    /* units per KiB, <= INT64_MAX */
    uint32_t piece, chunk;
    uint8_t hash[20];
    btt_account payee;
    btt_amount lock;
    uint64_t expiry;  /* seconds of channel lifetime the seeder wants left */
    btt_voucher voucher;
    char code[BTT_SPEED_CODE_MAX + 1];
    char text[BTT_SPEED_TEXT_MAX + 1];
    bool has_channel; /* refuse: voucher.channel names the channel refused */
} btt_speed_msg;

/* Parses one payload. BTT_EPROTO for malformed input: more than BTT_SPEED_MSG_MAX bytes, not
 * exactly one bencoded dict, no string "t", a missing or mistyped field of a known type, a
 * negative integer, a piece or chunk above 2^32 - 1, an amount above the supply, a pay with seq 0,
 * a refuse code that is not 1 to 31 printable ASCII characters. An unknown "t" is BTT_OK with
 * type BTT_SPEED_UNKNOWN. Unknown keys are ignored. */
BTT_WUR btt_err btt_speed_msg_parse(const uint8_t *p, size_t len, btt_speed_msg *out, btt_error *err);
/* Appends the payload of m (a known type; BTT_EINVAL otherwise or for values parse would
 * refuse). The encoding is canonical bencoding with exactly the fields of its type. */
BTT_WUR btt_err btt_speed_msg_build(btt_buf *b, const btt_speed_msg *m);

/* Proof of possession of the wallet key (section 3.1): the signed bytes, signing and checking. */
void btt_speed_pop_message(const uint8_t ledger[BTT_LEDGER_ID_LEN], const uint8_t info_hash[20],
                           const uint8_t receiver_ch[BTT_SPEED_CHALLENGE_LEN], const btt_account *sender,
                           uint8_t out[BTT_SPEED_POP_MSG_LEN]);
void btt_speed_pop_sign(const btt_wallet *w, const uint8_t ledger[BTT_LEDGER_ID_LEN], const uint8_t info_hash[20],
                        const uint8_t receiver_ch[BTT_SPEED_CHALLENGE_LEN], uint8_t sig[BTT_SIG_LEN]);
bool btt_speed_pop_verify(const btt_account *sender, const uint8_t ledger[BTT_LEDGER_ID_LEN],
                          const uint8_t info_hash[20], const uint8_t receiver_ch[BTT_SPEED_CHALLENGE_LEN],
                          const uint8_t sig[BTT_SIG_LEN]);

#endif
