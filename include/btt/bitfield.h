/* btt/bitfield.h - a set of pieces, big-endian bit order within bytes as in BEP 3's bitfield
 * message (piece 0 is the high bit of byte 0). */
#ifndef BTT_BITFIELD_H
#define BTT_BITFIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"

typedef struct btt_bitfield {
    uint8_t *bits;
    uint32_t nbits;
    uint32_t count; /* number of set bits, kept up to date */
} btt_bitfield;

BTT_WUR btt_err btt_bitfield_init(btt_bitfield *bf, uint32_t nbits); /* all clear */
void btt_bitfield_free(btt_bitfield *bf);
static inline size_t btt_bitfield_bytes(uint32_t nbits) { return ((size_t)nbits + 7) / 8; }

static inline bool btt_bitfield_get(const btt_bitfield *bf, uint32_t i)
{
    return i < bf->nbits && (bf->bits[i >> 3] >> (7 - (i & 7))) & 1;
}
void btt_bitfield_set(btt_bitfield *bf, uint32_t i);
void btt_bitfield_clear(btt_bitfield *bf, uint32_t i);
void btt_bitfield_set_all(btt_bitfield *bf);
void btt_bitfield_clear_all(btt_bitfield *bf);
static inline bool btt_bitfield_full(const btt_bitfield *bf) { return bf->count == bf->nbits; }

/* Loads wire bytes. len must be exactly btt_bitfield_bytes(nbits) and the spare bits at the
 * end must be zero (BEP 3: "Spare bits at the end are set to zero... drop the connection"). */
BTT_WUR btt_err btt_bitfield_load(btt_bitfield *bf, const uint8_t *p, size_t len, btt_error *err);

/* Index of the first set (or clear) bit at or after i, or nbits if none. */
uint32_t btt_bitfield_next_set(const btt_bitfield *bf, uint32_t i);
uint32_t btt_bitfield_next_clear(const btt_bitfield *bf, uint32_t i);

#endif
