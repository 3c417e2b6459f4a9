/* reserve.c - the seeder's reserve price clock and its possession challenge
 * (btt/speed_reserve.h, docs/speed-protocol.md 3.2-3.3). */
#include "btt/speed_reserve.h"

#include <string.h>

#include "btt/sha1.h"

#define HOUR_MS UINT64_C(3600000)

void btt_reserve_init(btt_reserve *r, uint64_t base, uint64_t growth, uint64_t cap, uint64_t now_ms)
{
    *r = (btt_reserve){.base = base, .growth = growth, .cap = cap < base ? base : cap, .since_ms = now_ms, .hour_ms = HOUR_MS};
}

void btt_reserve_held(btt_reserve *r, uint64_t now_ms) { r->since_ms = now_ms; }

uint64_t btt_reserve_price(const btt_reserve *r, uint64_t now_ms)
{
    if (now_ms < r->since_ms) return r->base;
    uint64_t hours = (now_ms - r->since_ms) / (r->hour_ms ? r->hour_ms : HOUR_MS);
    uint64_t room = r->cap - r->base; /* cap >= base */
    if (r->growth && hours > room / r->growth) return r->cap; /* hours * growth > room */
    return r->base + hours * r->growth;
}

/* ------------------------------------------------------------------ challenge geometry */

static uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

static uint64_t npieces(const btt_challenge *c) { return ceil_div(c->total_length, c->piece_length); }

/* Bytes in piece p (p < npieces). */
static uint64_t piece_size(const btt_challenge *c, uint64_t p)
{
    uint64_t start = p * c->piece_length;
    uint64_t left = c->total_length - start;
    return left < c->piece_length ? left : c->piece_length;
}

bool btt_challenge_block_range(const btt_challenge *c, uint32_t piece, uint32_t chunk, uint64_t *offset,
                               uint32_t *length)
{
    if (piece >= npieces(c)) return false;
    uint64_t size = piece_size(c, piece);
    if (chunk >= ceil_div(size, BTT_SPEED_BLOCK)) return false;
    uint64_t begin = (uint64_t)chunk * BTT_SPEED_BLOCK;
    *offset = (uint64_t)piece * c->piece_length + begin;
    *length = (uint32_t)(size - begin < BTT_SPEED_BLOCK ? size - begin : BTT_SPEED_BLOCK);
    return true;
}

btt_err btt_challenge_init(btt_challenge *c, const uint8_t secret[20], const uint8_t info_hash[20],
                           uint64_t piece_length, uint64_t total_length)
{
    memset(c, 0, sizeof *c);
    if (piece_length == 0 || total_length == 0) return BTT_EINVAL;
    c->piece_length = piece_length;
    c->total_length = total_length;
    uint64_t last = npieces(c) - 1;
    uint64_t last_blocks = ceil_div(piece_size(c, last), BTT_SPEED_BLOCK);
    /* With one piece only its own blocks count (piece_length may be far above total_length). */
    uint64_t bpp = last ? ceil_div(piece_length, BTT_SPEED_BLOCK) : last_blocks;
    unsigned __int128 nblocks = (unsigned __int128)last * bpp + last_blocks;
    if (nblocks > UINT32_MAX) return BTT_EINVAL;
    c->blocks_per_piece = (uint32_t)bpp; /* <= nblocks */
    c->nblocks = (uint32_t)nblocks;
    for (int i = 0; i < 20; i++) c->seed[i] = secret[i] ^ info_hash[i];
    if (btt_bitfield_init(&c->recent, c->nblocks) != BTT_OK) return BTT_ENOMEM;
    btt_challenge_next(c);
    return BTT_OK;
}

void btt_challenge_free(btt_challenge *c) { btt_bitfield_free(&c->recent); }

void btt_challenge_uploaded(btt_challenge *c, uint32_t piece, uint32_t chunk)
{
    uint64_t offset;
    uint32_t length;
    if (btt_challenge_block_range(c, piece, chunk, &offset, &length))
        btt_bitfield_set(&c->recent, piece * c->blocks_per_piece + chunk);
}

/* ------------------------------------------------------------------ draws */

/* SHA-1(seed || counter as u64 BE), first 8 bytes BE, modulo the number of blocks. */
static uint32_t draw(btt_challenge *c)
{
    uint8_t in[28], h[BTT_SHA1_LEN];
    memcpy(in, c->seed, 20);
    for (int i = 0; i < 8; i++) in[20 + i] = (uint8_t)(c->counter >> (56 - 8 * i));
    c->counter++;
    btt_sha1(in, sizeof in, h);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | h[i];
    return (uint32_t)(v % c->nblocks);
}

void btt_challenge_next(btt_challenge *c)
{
    if (btt_bitfield_full(&c->recent)) btt_bitfield_clear_all(&c->recent);
    uint32_t b = draw(c);
    for (int i = 1; i < 64 && btt_bitfield_get(&c->recent, b); i++) b = draw(c);
    if (btt_bitfield_get(&c->recent, b)) {
        b = btt_bitfield_next_clear(&c->recent, b);
        if (b == c->nblocks) b = btt_bitfield_next_clear(&c->recent, 0);
    }
    c->piece = b / c->blocks_per_piece;
    c->chunk = b % c->blocks_per_piece;
}
