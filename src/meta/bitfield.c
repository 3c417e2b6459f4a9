/* bitfield.c - piece sets in BEP 3 wire order. */
#include "btt/bitfield.h"

#include <stdlib.h>
#include <string.h>

btt_err btt_bitfield_init(btt_bitfield *bf, uint32_t nbits)
{
    bf->bits = calloc(btt_bitfield_bytes(nbits) ? btt_bitfield_bytes(nbits) : 1, 1);
    bf->nbits = nbits;
    bf->count = 0;
    return bf->bits ? BTT_OK : BTT_ENOMEM;
}

void btt_bitfield_free(btt_bitfield *bf)
{
    free(bf->bits);
    bf->bits = NULL;
    bf->nbits = bf->count = 0;
}

void btt_bitfield_set(btt_bitfield *bf, uint32_t i)
{
    if (i >= bf->nbits || btt_bitfield_get(bf, i)) return;
    bf->bits[i >> 3] |= (uint8_t)(0x80 >> (i & 7));
    bf->count++;
}

void btt_bitfield_clear(btt_bitfield *bf, uint32_t i)
{
    if (!btt_bitfield_get(bf, i)) return;
    bf->bits[i >> 3] &= (uint8_t) ~(0x80 >> (i & 7));
    bf->count--;
}

void btt_bitfield_set_all(btt_bitfield *bf)
{
    size_t n = btt_bitfield_bytes(bf->nbits);
    memset(bf->bits, 0xff, n);
    if (bf->nbits & 7) bf->bits[n - 1] = (uint8_t)(0xff << (8 - (bf->nbits & 7)));
    bf->count = bf->nbits;
}

void btt_bitfield_clear_all(btt_bitfield *bf)
{
    memset(bf->bits, 0, btt_bitfield_bytes(bf->nbits));
    bf->count = 0;
}

btt_err btt_bitfield_load(btt_bitfield *bf, const uint8_t *p, size_t len, btt_error *err)
{
    size_t n = btt_bitfield_bytes(bf->nbits);
    if (len != n) return btt_error_set(err, BTT_EINVAL, "bitfield of %zu bytes, expected %zu", len, n);
    if ((bf->nbits & 7) && (p[n - 1] & (uint8_t)(0xff >> (bf->nbits & 7))))
        return btt_error_set(err, BTT_EINVAL, "bitfield has spare bits set");
    memcpy(bf->bits, p, n);
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++) c += (uint32_t)__builtin_popcount(p[i]);
    bf->count = c;
    return BTT_OK;
}

static uint32_t next_bit(const btt_bitfield *bf, uint32_t i, bool want)
{
    while (i < bf->nbits) {
        uint8_t byte = bf->bits[i >> 3];
        if (!want) byte = (uint8_t)~byte;
        byte &= (uint8_t)(0xff >> (i & 7));
        if (byte) {
            uint32_t r = (i & ~7u) + (uint32_t)(__builtin_clz((unsigned)byte) - 24);
            return r < bf->nbits ? r : bf->nbits;
        }
        i = (i & ~7u) + 8;
    }
    return bf->nbits;
}

uint32_t btt_bitfield_next_set(const btt_bitfield *bf, uint32_t i) { return next_bit(bf, i, true); }
uint32_t btt_bitfield_next_clear(const btt_bitfield *bf, uint32_t i) { return next_bit(bf, i, false); }
