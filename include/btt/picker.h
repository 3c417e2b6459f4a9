/* btt/picker.h - which blocks to request from which peer. A pure core: no I/O, no clock.
 *
 * Rarest first with random tie-breaks, partial pieces before new ones, sequential mode, per
 * piece priorities (0 = not wanted, for file selection) and endgame. Pieces are kept in one
 * array ordered by availability with bucket boundaries, so a change of availability is a few
 * swaps and a pick reads pieces in rarest-first order without sorting. */
#ifndef BTT_PICKER_H
#define BTT_PICKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/bitfield.h"
#include "btt/error.h"

typedef struct btt_picker btt_picker;

typedef struct btt_block {
    uint32_t piece, begin, length;
} btt_block;

/* seed drives the random tie-breaks (use a random value; tests pass a fixed one). */
BTT_WUR btt_err btt_picker_new(uint32_t num_pieces, uint32_t piece_length, uint64_t total_size, uint64_t seed,
                               btt_picker **out);
void btt_picker_free(btt_picker *p);

/* ---- what we have and want ---- */
void btt_picker_set_have(btt_picker *p, uint32_t piece); /* verified (resume, check, or download) */
/* 0 = do not download, 1 = normal (default). */
void btt_picker_set_priority(btt_picker *p, uint32_t piece, uint8_t prio);
void btt_picker_set_sequential(btt_picker *p, bool on);
bool btt_picker_have(const btt_picker *p, uint32_t piece);
/* Wanted and not yet had. */
bool btt_picker_wants(const btt_picker *p, uint32_t piece);
/* Pieces wanted and not yet had. 0 means done (with the selected files). */
uint32_t btt_picker_left(const btt_picker *p);
const btt_bitfield *btt_picker_have_bitfield(const btt_picker *p);

/* ---- availability: one call per peer event ---- */
void btt_picker_inc(btt_picker *p, uint32_t piece);               /* have */
void btt_picker_dec(btt_picker *p, uint32_t piece);
void btt_picker_inc_bitfield(btt_picker *p, const btt_bitfield *bf); /* bitfield / peer gone */
void btt_picker_dec_bitfield(btt_picker *p, const btt_bitfield *bf);
void btt_picker_inc_seed(btt_picker *p); /* have all */
void btt_picker_dec_seed(btt_picker *p);
uint32_t btt_picker_availability(const btt_picker *p, uint32_t piece);

/* ---- requests ----
 * peer is an opaque token naming the requester (a peer pointer). peer_has NULL means the
 * peer has every piece. Returns the number of blocks written to out (at most max). In
 * endgame (every wanted block requested) blocks already requested from one other peer are
 * returned too, and *endgame is set. */
size_t btt_picker_pick(btt_picker *p, const btt_bitfield *peer_has, const void *peer, size_t max, btt_block *out,
                       bool *endgame);

/* A block arrived from peer. Returns false if it was not expected (never requested, or
 * already received): the caller drops the data. On true, *other is the second requester in
 * endgame (to send a cancel to) or NULL, and *complete is set when every block of the piece
 * is in (hash it now). */
bool btt_picker_received(btt_picker *p, uint32_t piece, uint32_t begin, const void *peer, const void **other,
                         bool *complete);
/* A request to peer ended without data (choked, rejected, timed out, peer gone). */
void btt_picker_abort(btt_picker *p, uint32_t piece, uint32_t begin, const void *peer);
/* The hash of a complete piece: passed -> have; failed -> all its blocks are wanted again. */
void btt_picker_passed(btt_picker *p, uint32_t piece);
void btt_picker_failed(btt_picker *p, uint32_t piece);

/* Blocks of a piece and the size of block i. */
uint32_t btt_picker_blocks_in(const btt_picker *p, uint32_t piece);
uint32_t btt_picker_block_size(const btt_picker *p, uint32_t piece, uint32_t block);
/* Pieces currently being downloaded (partial). */
uint32_t btt_picker_partial_count(const btt_picker *p);

#endif
