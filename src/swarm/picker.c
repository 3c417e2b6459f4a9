/* picker.c - rarest-first block picker over availability buckets.
 *
 * order[] holds every piece; order[0..n_incl) are the candidates for a new download (wanted,
 * not had, not in progress), sorted by availability: bucket a spans [start[a], start[a+1]).
 * A change of availability by one moves a piece across one boundary with one swap. Pieces
 * leave the candidates by walking up to the last bucket and dropping off its end, and come
 * back the opposite way. */
#include "btt/picker.h"

#include <stdlib.h>
#include <string.h>

#include "btt/wire.h"

enum { B_FREE = 0, B_REQ = 1, B_RECV = 2 };

typedef struct dlp {
    uint32_t piece, nblocks, nreceived, nfree;
    uint8_t *state;
    const void **owner; /* two requesters per block: [2b], [2b+1] (endgame) */
} dlp;

struct btt_picker {
    uint32_t n, piece_length;
    uint64_t total;
    btt_bitfield have;
    uint8_t *prio;
    uint32_t *avail;
    uint32_t seeds;
    uint32_t *order, *pos;
    uint32_t n_incl;
    uint32_t *start; /* maxa + 2 entries */
    uint32_t maxa;
    dlp **dl;
    uint32_t ndl, capdl;
    int32_t *dl_of;
    uint32_t left;
    bool sequential;
    uint64_t rng;
};

static uint64_t next_rand(btt_picker *p)
{
    /* xorshift64* */
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    return p->rng * 0x2545F4914F6CDD1DULL;
}

static void swap_pos(btt_picker *p, uint32_t i, uint32_t j)
{
    uint32_t a = p->order[i], b = p->order[j];
    p->order[i] = b;
    p->order[j] = a;
    p->pos[b] = i;
    p->pos[a] = j;
}

static bool included(const btt_picker *p, uint32_t x) { return p->pos[x] < p->n_incl; }

static bool grow_buckets(btt_picker *p, uint32_t want)
{
    if (want <= p->maxa) return true;
    uint32_t *s = realloc(p->start, ((size_t)want + 2) * sizeof *s);
    if (!s) return false;
    p->start = s;
    for (uint32_t a = p->maxa + 2; a <= want + 1; a++) s[a] = p->n_incl;
    p->maxa = want;
    return true;
}

/* Moves included x from its bucket up to the next one. */
static void bucket_up(btt_picker *p, uint32_t x, uint32_t a)
{
    swap_pos(p, p->pos[x], p->start[a + 1] - 1);
    p->start[a + 1]--;
}

static void bucket_down(btt_picker *p, uint32_t x, uint32_t a)
{
    swap_pos(p, p->pos[x], p->start[a]);
    p->start[a]++;
}

static void exclude(btt_picker *p, uint32_t x)
{
    if (!included(p, x)) return;
    for (uint32_t a = p->avail[x]; a < p->maxa; a++) bucket_up(p, x, a);
    swap_pos(p, p->pos[x], p->n_incl - 1);
    p->n_incl--;
    p->start[p->maxa + 1] = p->n_incl;
}

static void include(btt_picker *p, uint32_t x)
{
    if (included(p, x) || !grow_buckets(p, p->avail[x])) return;
    swap_pos(p, p->pos[x], p->n_incl);
    p->n_incl++;
    p->start[p->maxa + 1] = p->n_incl;
    for (uint32_t a = p->maxa; a > p->avail[x]; a--) bucket_down(p, x, a);
}

btt_err btt_picker_new(uint32_t num_pieces, uint32_t piece_length, uint64_t total_size, uint64_t seed,
                       btt_picker **out)
{
    *out = NULL;
    btt_picker *p = calloc(1, sizeof *p);
    if (!p) return BTT_ENOMEM;
    p->n = num_pieces;
    p->piece_length = piece_length;
    p->total = total_size;
    p->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
    size_t n = num_pieces ? num_pieces : 1;
    p->prio = malloc(n);
    p->avail = calloc(n, sizeof *p->avail);
    p->order = malloc(n * sizeof *p->order);
    p->pos = malloc(n * sizeof *p->pos);
    p->dl_of = malloc(n * sizeof *p->dl_of);
    p->start = malloc(2 * sizeof *p->start);
    if (!p->prio || !p->avail || !p->order || !p->pos || !p->dl_of || !p->start ||
        btt_bitfield_init(&p->have, num_pieces)) {
        btt_picker_free(p);
        return BTT_ENOMEM;
    }
    memset(p->prio, 1, n);
    for (uint32_t i = 0; i < num_pieces; i++) {
        p->order[i] = i;
        p->dl_of[i] = -1;
    }
    /* random tie-breaks: shuffle once, swaps keep it mixed */
    for (uint32_t i = num_pieces; i > 1; i--) {
        uint32_t j = (uint32_t)(next_rand(p) % i);
        uint32_t t = p->order[i - 1];
        p->order[i - 1] = p->order[j];
        p->order[j] = t;
    }
    for (uint32_t i = 0; i < num_pieces; i++) p->pos[p->order[i]] = i;
    p->n_incl = num_pieces;
    p->maxa = 0;
    p->start[0] = 0;
    p->start[1] = num_pieces;
    p->left = num_pieces;
    *out = p;
    return BTT_OK;
}

static void free_dlp(dlp *d)
{
    if (!d) return;
    free(d->state);
    free(d->owner);
    free(d);
}

void btt_picker_free(btt_picker *p)
{
    if (!p) return;
    for (uint32_t i = 0; i < p->ndl; i++) free_dlp(p->dl[i]);
    free(p->dl);
    free(p->prio);
    free(p->avail);
    free(p->order);
    free(p->pos);
    free(p->dl_of);
    free(p->start);
    btt_bitfield_free(&p->have);
    free(p);
}

uint32_t btt_picker_blocks_in(const btt_picker *p, uint32_t piece)
{
    uint64_t size = piece + 1 < p->n ? p->piece_length : p->total - (uint64_t)piece * p->piece_length;
    return (uint32_t)((size + BTT_BLOCK_SIZE - 1) / BTT_BLOCK_SIZE);
}

uint32_t btt_picker_block_size(const btt_picker *p, uint32_t piece, uint32_t block)
{
    uint64_t size = piece + 1 < p->n ? p->piece_length : p->total - (uint64_t)piece * p->piece_length;
    uint64_t off = (uint64_t)block * BTT_BLOCK_SIZE;
    return off >= size ? 0 : (uint32_t)(size - off < BTT_BLOCK_SIZE ? size - off : BTT_BLOCK_SIZE);
}

static void remove_dl(btt_picker *p, uint32_t piece)
{
    int32_t i = p->dl_of[piece];
    if (i < 0) return;
    free_dlp(p->dl[i]);
    p->dl[i] = p->dl[--p->ndl];
    if ((uint32_t)i < p->ndl) p->dl_of[p->dl[i]->piece] = i;
    p->dl_of[piece] = -1;
}

static dlp *start_dl(btt_picker *p, uint32_t piece)
{
    if (p->ndl == p->capdl) {
        uint32_t cap = p->capdl ? p->capdl * 2 : 16;
        dlp **v = realloc(p->dl, cap * sizeof *v);
        if (!v) return NULL;
        p->dl = v;
        p->capdl = cap;
    }
    dlp *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->piece = piece;
    d->nblocks = d->nfree = btt_picker_blocks_in(p, piece);
    d->state = calloc(d->nblocks, 1);
    d->owner = calloc((size_t)d->nblocks * 2, sizeof *d->owner);
    if (!d->state || !d->owner) {
        free_dlp(d);
        return NULL;
    }
    exclude(p, piece);
    p->dl_of[piece] = (int32_t)p->ndl;
    p->dl[p->ndl++] = d;
    return d;
}

void btt_picker_set_have(btt_picker *p, uint32_t piece)
{
    if (piece >= p->n || btt_bitfield_get(&p->have, piece)) return;
    btt_bitfield_set(&p->have, piece);
    exclude(p, piece);
    remove_dl(p, piece);
    if (p->prio[piece]) p->left--;
}

void btt_picker_set_priority(btt_picker *p, uint32_t piece, uint8_t prio)
{
    if (piece >= p->n || !p->prio[piece] == !prio) {
        if (piece < p->n) p->prio[piece] = prio;
        return;
    }
    p->prio[piece] = prio;
    bool have = btt_bitfield_get(&p->have, piece);
    if (!have) p->left += prio ? 1 : (uint32_t)-1;
    if (!prio) exclude(p, piece);
    else if (!have && p->dl_of[piece] < 0) include(p, piece);
}

void btt_picker_set_sequential(btt_picker *p, bool on) { p->sequential = on; }
bool btt_picker_have(const btt_picker *p, uint32_t piece) { return btt_bitfield_get(&p->have, piece); }

bool btt_picker_wants(const btt_picker *p, uint32_t piece)
{
    return piece < p->n && p->prio[piece] && !btt_bitfield_get(&p->have, piece);
}

uint32_t btt_picker_left(const btt_picker *p) { return p->left; }
const btt_bitfield *btt_picker_have_bitfield(const btt_picker *p) { return &p->have; }
uint32_t btt_picker_partial_count(const btt_picker *p) { return p->ndl; }

void btt_picker_inc(btt_picker *p, uint32_t x)
{
    if (x >= p->n) return;
    if (included(p, x)) {
        if (!grow_buckets(p, p->avail[x] + 1)) return;
        bucket_up(p, x, p->avail[x]);
    }
    p->avail[x]++;
}

void btt_picker_dec(btt_picker *p, uint32_t x)
{
    if (x >= p->n || p->avail[x] == 0) return;
    if (included(p, x)) bucket_down(p, x, p->avail[x]);
    p->avail[x]--;
}

void btt_picker_inc_bitfield(btt_picker *p, const btt_bitfield *bf)
{
    for (uint32_t i = btt_bitfield_next_set(bf, 0); i < bf->nbits; i = btt_bitfield_next_set(bf, i + 1))
        btt_picker_inc(p, i);
}

void btt_picker_dec_bitfield(btt_picker *p, const btt_bitfield *bf)
{
    for (uint32_t i = btt_bitfield_next_set(bf, 0); i < bf->nbits; i = btt_bitfield_next_set(bf, i + 1))
        btt_picker_dec(p, i);
}

void btt_picker_inc_seed(btt_picker *p) { p->seeds++; }
void btt_picker_dec_seed(btt_picker *p)
{
    if (p->seeds) p->seeds--;
}

uint32_t btt_picker_availability(const btt_picker *p, uint32_t piece)
{
    return piece < p->n ? p->avail[piece] + p->seeds : 0;
}

static bool peer_has(const btt_bitfield *bf, uint32_t x) { return !bf || btt_bitfield_get(bf, x); }

/* Requests the free blocks of d for peer, up to max. */
static size_t take_blocks(btt_picker *p, dlp *d, const void *peer, size_t max, btt_block *out)
{
    size_t n = 0;
    for (uint32_t b = 0; b < d->nblocks && n < max && d->nfree; b++) {
        if (d->state[b] != B_FREE) continue;
        d->state[b] = B_REQ;
        d->owner[2 * b] = peer;
        d->owner[2 * b + 1] = NULL;
        d->nfree--;
        out[n++] = (btt_block){d->piece, b * BTT_BLOCK_SIZE, btt_picker_block_size(p, d->piece, b)};
    }
    return n;
}

static uint32_t next_sequential(const btt_picker *p, const btt_bitfield *bf)
{
    for (uint32_t x = 0; x < p->n; x++)
        if (included(p, x) && peer_has(bf, x)) return x;
    return UINT32_MAX;
}

/* The rarest piece the peer has; among equally rare ones a random one: the scan of each
 * availability bucket starts at a random position (the order inside a bucket is not random:
 * swaps on availability changes leave it close to index order). */
static uint32_t next_rarest(btt_picker *p, const btt_bitfield *bf)
{
    for (uint32_t a = 0; a <= p->maxa; a++) {
        uint32_t lo = p->start[a], hi = p->start[a + 1];
        if (lo >= hi) continue;
        uint32_t size = hi - lo, r = (uint32_t)(next_rand(p) % size);
        for (uint32_t k = 0; k < size; k++) {
            uint32_t x = p->order[lo + (r + k) % size];
            if (peer_has(bf, x)) return x;
        }
    }
    return UINT32_MAX;
}

/* True when every wanted block is requested from someone: the endgame. */
static bool all_requested(const btt_picker *p)
{
    if (p->n_incl) return false; /* a wanted piece nobody has asked for yet */
    for (uint32_t i = 0; i < p->ndl; i++)
        if (p->dl[i]->nfree && p->prio[p->dl[i]->piece]) return false;
    return true;
}

size_t btt_picker_pick(btt_picker *p, const btt_bitfield *bf, const void *peer, size_t max, btt_block *out,
                       bool *endgame)
{
    size_t n = 0;
    *endgame = false;
    /* 1. finish what is started */
    for (uint32_t i = 0; i < p->ndl && n < max; i++) {
        dlp *d = p->dl[i];
        if (d->nfree && p->prio[d->piece] && peer_has(bf, d->piece)) n += take_blocks(p, d, peer, max - n, out + n);
    }
    /* 2. start new pieces: sequential by index, otherwise rarest first */
    while (n < max) {
        uint32_t x = p->sequential ? next_sequential(p, bf) : next_rarest(p, bf);
        if (x == UINT32_MAX) break;
        dlp *d = start_dl(p, x);
        if (!d) return n;
        n += take_blocks(p, d, peer, max - n, out + n);
    }
    if (n > 0 || !all_requested(p)) return n;
    /* 3. endgame: every wanted block is requested; ask a second peer for what is pending */
    for (uint32_t i = 0; i < p->ndl && n < max; i++) {
        dlp *d = p->dl[i];
        if (!p->prio[d->piece] || !peer_has(bf, d->piece)) continue;
        for (uint32_t b = 0; b < d->nblocks && n < max; b++) {
            if (d->state[b] != B_REQ || d->owner[2 * b] == peer || d->owner[2 * b + 1]) continue;
            d->owner[2 * b + 1] = peer;
            out[n++] = (btt_block){d->piece, b * BTT_BLOCK_SIZE, btt_picker_block_size(p, d->piece, b)};
            *endgame = true;
        }
    }
    return n;
}

static dlp *find_block(btt_picker *p, uint32_t piece, uint32_t begin, uint32_t *b)
{
    if (piece >= p->n || p->dl_of[piece] < 0 || begin % BTT_BLOCK_SIZE) return NULL;
    dlp *d = p->dl[p->dl_of[piece]];
    *b = begin / BTT_BLOCK_SIZE;
    return *b < d->nblocks ? d : NULL;
}

bool btt_picker_received(btt_picker *p, uint32_t piece, uint32_t begin, const void *peer, const void **other,
                         bool *complete)
{
    uint32_t b;
    dlp *d = find_block(p, piece, begin, &b);
    *other = NULL;
    *complete = false;
    if (!d || d->state[b] != B_REQ) return false; /* never requested, or already in */
    *other = d->owner[2 * b] == peer ? d->owner[2 * b + 1] : d->owner[2 * b];
    d->state[b] = B_RECV;
    d->owner[2 * b] = d->owner[2 * b + 1] = NULL;
    d->nreceived++;
    *complete = d->nreceived == d->nblocks;
    return true;
}

void btt_picker_abort(btt_picker *p, uint32_t piece, uint32_t begin, const void *peer)
{
    uint32_t b;
    dlp *d = find_block(p, piece, begin, &b);
    if (!d || d->state[b] != B_REQ) return;
    if (d->owner[2 * b] == peer) {
        d->owner[2 * b] = d->owner[2 * b + 1];
        d->owner[2 * b + 1] = NULL;
    } else if (d->owner[2 * b + 1] == peer) {
        d->owner[2 * b + 1] = NULL;
    } else {
        return;
    }
    if (!d->owner[2 * b]) {
        d->state[b] = B_FREE;
        d->nfree++;
    }
}

void btt_picker_passed(btt_picker *p, uint32_t piece) { btt_picker_set_have(p, piece); }

void btt_picker_failed(btt_picker *p, uint32_t piece)
{
    if (piece >= p->n) return;
    remove_dl(p, piece);
    if (btt_picker_wants(p, piece)) include(p, piece);
}
