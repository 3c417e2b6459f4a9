/* bencode.c - strict, bounded bencoding decoder over a flat node array, and the encoder.
 *
 * BEP 3: "Strings are length-prefixed base ten followed by a colon and the string.
 * Integers are represented by an 'i' followed by the number in base 10 followed by an 'e'.
 * ... i-0e is invalid. All encodings with a leading zero, such as i03e, are invalid, other
 * than i0e ... Keys must be strings and appear in sorted order (sorted as raw strings, not
 * alphanumerics)."
 *
 * Nodes are stored in pre-order; a node's subtree occupies `span` consecutive slots, so the
 * next sibling is n + n->span. No recursion: an explicit stack bounded by max_depth. */
#include "btt/bencode.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "btt/checked.h"

struct btt_ben_node {
    uint8_t type;
    uint8_t is_last; /* last element of its container */
    uint32_t count;  /* list elements or dict pairs */
    uint32_t span;   /* nodes in this subtree, itself included */
    const uint8_t *raw;
    size_t raw_len;
    union {
        int64_t i;
        struct {
            const uint8_t *p;
            size_t len;
        } s;
    } v;
};

struct btt_ben_doc {
    const uint8_t *input;
    size_t consumed;
    btt_ben *nodes;
    size_t n, cap;
};

typedef struct frame {
    size_t idx;       /* container node */
    size_t last;      /* last child node, or SIZE_MAX */
    size_t children;  /* number of child values so far */
    const uint8_t *prev_key;
    size_t prev_key_len;
} frame;

static const btt_ben_limits default_limits = {64, 4000000, 64u << 20};

static btt_err perr(btt_error *err, size_t off, const char *msg)
{
    return btt_error_set(err, BTT_EBENCODE, "offset %zu: %s", off, msg);
}

static btt_err new_node(btt_ben_doc *d, size_t max_nodes, size_t *idx)
{
    if (d->n >= max_nodes) return BTT_ETOOBIG;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        if (cap > max_nodes) cap = max_nodes;
        btt_ben *p = realloc(d->nodes, cap * sizeof *p);
        if (!p) return BTT_ENOMEM;
        d->nodes = p;
        d->cap = cap;
    }
    *idx = d->n++;
    memset(&d->nodes[*idx], 0, sizeof d->nodes[*idx]);
    return BTT_OK;
}

/* Parses base-ten digits at p[*pos..len) up to terminator `term`. */
static btt_err parse_digits(const uint8_t *p, size_t len, size_t *pos, char term, bool strict, bool allow_neg,
                            int64_t *out, btt_error *err)
{
    size_t start = *pos, i = *pos;
    bool neg = false;
    if (allow_neg && i < len && p[i] == '-') {
        neg = true;
        i++;
    }
    size_t dstart = i;
    uint64_t v = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        if (!btt_mul_u64(v, 10, &v) || !btt_add_u64(v, (uint64_t)(p[i] - '0'), &v))
            return perr(err, start, "integer out of range");
        i++;
    }
    if (i >= len) return perr(err, start, "truncated number");
    if (i == dstart) return perr(err, i, "expected a digit");
    if (p[i] != term) return perr(err, i, term == 'e' ? "expected 'e' after integer" : "expected ':' after length");
    if (strict && p[dstart] == '0' && i - dstart > 1) return perr(err, start, "leading zero in number");
    if (strict && neg && v == 0) return perr(err, start, "negative zero");
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return perr(err, start, "integer out of range");
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return perr(err, start, "integer out of range");
        *out = (int64_t)v;
    }
    *pos = i + 1;
    return BTT_OK;
}

static int keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

btt_err btt_ben_decode(const uint8_t *p, size_t len, unsigned flags, const btt_ben_limits *limits,
                       btt_ben_doc **out, btt_error *err)
{
    *out = NULL;
    const btt_ben_limits *lim = limits ? limits : &default_limits;
    const bool strict = !(flags & BTT_BEN_TOLERANT);
    if (len > lim->max_input) return btt_error_set(err, BTT_ETOOBIG, "input of %zu bytes exceeds the limit of %zu",
                                                   len, lim->max_input);
    if (len == 0) return perr(err, 0, "empty input");

    btt_ben_doc *d = calloc(1, sizeof *d);
    frame *stack = calloc(lim->max_depth ? lim->max_depth : 1, sizeof *stack);
    if (!d || !stack) {
        free(d);
        free(stack);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    d->input = p;
    size_t depth = 0, pos = 0;
    btt_err e = BTT_OK;

    for (;;) {
        if (pos >= len) {
            e = perr(err, pos, "unexpected end of input");
            goto fail;
        }
        frame *top = depth ? &stack[depth - 1] : NULL;
        bool in_dict = top && d->nodes[top->idx].type == BTT_BEN_DICT;

        if (top && p[pos] == 'e') {
            btt_ben *c = &d->nodes[top->idx];
            if (in_dict && top->children % 2) {
                e = perr(err, pos, "dictionary key without a value");
                goto fail;
            }
            if (top->last != SIZE_MAX) d->nodes[top->last].is_last = 1;
            c->span = (uint32_t)(d->n - top->idx);
            c->count = (uint32_t)(in_dict ? top->children / 2 : top->children);
            c->raw_len = (size_t)(p + pos + 1 - c->raw);
            pos++;
            depth--;
            if (depth == 0) break;
            continue;
        }

        bool want_key = in_dict && top->children % 2 == 0;
        if (want_key && !(p[pos] >= '0' && p[pos] <= '9')) {
            e = perr(err, pos, "dictionary key is not a string");
            goto fail;
        }

        size_t idx;
        if ((e = new_node(d, lim->max_nodes, &idx))) {
            if (e == BTT_ETOOBIG) e = btt_error_set(err, BTT_ETOOBIG, "offset %zu: more than %zu values", pos,
                                                    lim->max_nodes);
            else btt_error_set(err, e, "out of memory");
            goto fail;
        }
        btt_ben *n = &d->nodes[idx];
        n->raw = p + pos;
        n->span = 1;
        size_t start = pos;
        uint8_t c = p[pos];

        if (c == 'i') {
            pos++;
            if ((e = parse_digits(p, len, &pos, 'e', strict, true, &n->v.i, err))) goto fail;
            n->type = BTT_BEN_INT;
            n->raw_len = pos - start;
        } else if (c >= '0' && c <= '9') {
            int64_t slen;
            if ((e = parse_digits(p, len, &pos, ':', strict, false, &slen, err))) goto fail;
            if ((uint64_t)slen > len - pos) {
                e = perr(err, start, "string longer than the input");
                goto fail;
            }
            n->type = BTT_BEN_STR;
            n->v.s.p = p + pos;
            n->v.s.len = (size_t)slen;
            pos += (size_t)slen;
            n->raw_len = pos - start;
            if (want_key && strict && top->prev_key) {
                int cmp = keycmp(top->prev_key, top->prev_key_len, n->v.s.p, n->v.s.len);
                if (cmp >= 0) {
                    e = perr(err, start, cmp == 0 ? "duplicate dictionary key" : "dictionary keys not sorted");
                    goto fail;
                }
            }
            if (want_key) {
                top->prev_key = n->v.s.p;
                top->prev_key_len = n->v.s.len;
            }
        } else if (c == 'l' || c == 'd') {
            if (depth >= lim->max_depth) {
                e = btt_error_set(err, BTT_EBENCODE, "offset %zu: nesting deeper than %zu", pos, lim->max_depth);
                goto fail;
            }
            n->type = c == 'l' ? BTT_BEN_LIST : BTT_BEN_DICT;
            pos++;
        } else {
            e = perr(err, pos, "unexpected byte, expected a value");
            goto fail;
        }

        if (top) {
            top->last = idx;
            top->children++;
        }
        if (n->type == BTT_BEN_LIST || n->type == BTT_BEN_DICT) {
            stack[depth++] = (frame){idx, SIZE_MAX, 0, NULL, 0};
        } else if (depth == 0) {
            break; /* a scalar at the top level */
        }
    }

    if (pos != len && strict) {
        e = perr(err, pos, "trailing data after the value");
        goto fail;
    }
    d->consumed = pos;
    d->nodes[0].is_last = 1; /* the root has no siblings */
    free(stack);
    *out = d;
    return BTT_OK;

fail:
    free(stack);
    btt_ben_free(d);
    return e;
}

void btt_ben_free(btt_ben_doc *doc)
{
    if (!doc) return;
    free(doc->nodes);
    free(doc);
}

const btt_ben *btt_ben_root(const btt_ben_doc *doc) { return doc && doc->n ? &doc->nodes[0] : NULL; }
size_t btt_ben_consumed(const btt_ben_doc *doc) { return doc->consumed; }
btt_ben_type btt_ben_typeof(const btt_ben *n) { return n ? (btt_ben_type)n->type : 0; }
size_t btt_ben_offset(const btt_ben_doc *doc, const btt_ben *n) { return (size_t)(n->raw - doc->input); }

const uint8_t *btt_ben_raw(const btt_ben *n, size_t *len)
{
    *len = n ? n->raw_len : 0;
    return n ? n->raw : NULL;
}

bool btt_ben_get_int(const btt_ben *n, int64_t *v)
{
    if (!n || n->type != BTT_BEN_INT) return false;
    *v = n->v.i;
    return true;
}

bool btt_ben_get_str(const btt_ben *n, const uint8_t **p, size_t *len)
{
    if (!n || n->type != BTT_BEN_STR) return false;
    *p = n->v.s.p;
    *len = n->v.s.len;
    return true;
}

size_t btt_ben_count(const btt_ben *n)
{
    return n && (n->type == BTT_BEN_LIST || n->type == BTT_BEN_DICT) ? n->count : 0;
}

const btt_ben *btt_ben_list_first(const btt_ben *n)
{
    return n && n->type == BTT_BEN_LIST && n->count ? n + 1 : NULL;
}

const btt_ben *btt_ben_next(const btt_ben *n) { return n && !n->is_last ? n + n->span : NULL; }

const btt_ben *btt_ben_dict_first(const btt_ben *n)
{
    return n && n->type == BTT_BEN_DICT && n->count ? n + 1 : NULL;
}

const btt_ben *btt_ben_dict_value(const btt_ben *key) { return key ? key + key->span : NULL; }

const btt_ben *btt_ben_dict_next(const btt_ben *key) { return btt_ben_next(btt_ben_dict_value(key)); }

const btt_ben *btt_ben_dict_get(const btt_ben *n, const char *key)
{
    size_t klen = strlen(key);
    for (const btt_ben *k = btt_ben_dict_first(n); k; k = btt_ben_dict_next(k))
        if (k->v.s.len == klen && memcmp(k->v.s.p, key, klen) == 0) return btt_ben_dict_value(k);
    return NULL;
}

/* ---- encoder ---- */

btt_err btt_benc_int(btt_buf *b, int64_t v) { return btt_buf_printf(b, "i%" PRId64 "e", v); }

btt_err btt_benc_str(btt_buf *b, const void *p, size_t len)
{
    btt_err e = btt_buf_printf(b, "%zu:", len);
    return e ? e : btt_buf_append(b, p, len);
}

btt_err btt_benc_cstr(btt_buf *b, const char *s) { return btt_benc_str(b, s, strlen(s)); }
btt_err btt_benc_list(btt_buf *b) { return btt_buf_append_byte(b, 'l'); }
btt_err btt_benc_dict(btt_buf *b) { return btt_buf_append_byte(b, 'd'); }
btt_err btt_benc_end(btt_buf *b) { return btt_buf_append_byte(b, 'e'); }
btt_err btt_benc_raw(btt_buf *b, const void *p, size_t len) { return btt_buf_append(b, p, len); }
