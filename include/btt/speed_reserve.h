/* btt/speed_reserve.h - the seeder's reserve price clock and its possession challenge.
 *
 * docs/speed-protocol.md sections 3.2 and 3.3. Pure: the caller passes the clock (milliseconds,
 * monotonic) and does the I/O (reading the challenged block to check a proof).
 *
 * Reserve price: `base` when the torrent completed or was last known to be held by another peer,
 * growing by `growth` units/KiB per whole hour since then, capped at `cap` (and never below base).
 *
 * Challenge: the block whose SHA-1 a peer must send to prove it holds the torrent too. Blocks are
 * numbered across the torrent (piece p, chunk c is block p * blocks_per_piece + c; the last piece
 * may have fewer). Draws come from SHA-1(seed || counter as u64 BE), seed = secret XOR info-hash,
 * the first 8 bytes big-endian modulo the number of blocks, the counter starting at 0 (init makes
 * the first draw) and growing by 1 per draw; a block marked as uploaded recently is drawn again
 * (it would be too easy to prove), and once every block is marked the marks are cleared. */
#ifndef BTT_SPEED_RESERVE_H
#define BTT_SPEED_RESERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "btt/bitfield.h"
#include "btt/error.h"

#define BTT_RESERVE_GROWTH_DEFAULT 1 /* units/KiB per hour */
#define BTT_RESERVE_CAP_DEFAULT 100  /* units/KiB */
#define BTT_SPEED_BLOCK 16384

typedef struct btt_reserve {
    uint64_t base, growth, cap; /* units/KiB; cap >= base (init raises it if not) */
    uint64_t since_ms;          /* completion or the last time the torrent was known held elsewhere */
    uint64_t hour_ms;           /* the clock's hour: 3600000 (init); tests may shorten it */
} btt_reserve;

void btt_reserve_init(btt_reserve *r, uint64_t base, uint64_t growth, uint64_t cap, uint64_t now_ms);
/* Another peer proved it holds the torrent (valid proof, or a peer announced every piece): the
 * price falls back to base. */
void btt_reserve_held(btt_reserve *r, uint64_t now_ms);
/* min(cap, base + floor((now_ms - since_ms) / hour_ms) * growth), saturating; base if now_ms is
 * earlier than since_ms. */
uint64_t btt_reserve_price(const btt_reserve *r, uint64_t now_ms);

typedef struct btt_challenge {
    uint8_t seed[20];
    uint64_t counter;
    uint64_t piece_length;       /* bytes */
    uint64_t total_length;       /* bytes */
    uint32_t blocks_per_piece;   /* a one-piece torrent: that piece's blocks */
    uint32_t nblocks;            /* blocks in the torrent */
    btt_bitfield recent;         /* blocks uploaded recently */
    uint32_t piece, chunk;       /* the current challenge */
} btt_challenge;

/* Sets the seed from secret XOR info_hash and draws the first challenge. BTT_EINVAL for a zero
 * piece length or total length, or more than 2^32 - 1 blocks; BTT_ENOMEM. After a failure c
 * holds nothing and btt_challenge_free is safe. */
BTT_WUR btt_err btt_challenge_init(btt_challenge *c, const uint8_t secret[20], const uint8_t info_hash[20],
                                   uint64_t piece_length, uint64_t total_length);
void btt_challenge_free(btt_challenge *c);
/* Marks the block at (piece, chunk) as uploaded (out of range: ignored). */
void btt_challenge_uploaded(btt_challenge *c, uint32_t piece, uint32_t chunk);
/* Draws a new challenge into c->piece, c->chunk (drawing again on recently uploaded blocks;
 * clears the marks once all are set). Bounded: after 64 draws that all hit marked blocks it takes
 * the first unmarked block at or after the last draw (wrapping around). */
void btt_challenge_next(btt_challenge *c);
/* The byte range of (piece, chunk) in the torrent; false if out of range. */
bool btt_challenge_block_range(const btt_challenge *c, uint32_t piece, uint32_t chunk, uint64_t *offset,
                               uint32_t *length);

#endif
