/* btt/bencode.h - bencoding (BEP 3): a strict, bounded decoder and an encoder.
 *
 * The decoder builds a flat, read-only tree over the caller's input (zero copy): strings
 * point into the input, and every node knows the exact raw bytes it was decoded from, so
 * the info-hash is computed over the bytes as they arrived. The input must outlive the doc.
 *
 * Strict mode (the default) rejects everything BEP 3 forbids: leading zeros, "-0", dict keys
 * that are unsorted or repeated, and trailing data. Tolerant mode (BTT_BEN_TOLERANT) accepts
 * what real-world torrent creators produce: unsorted or repeated keys (lookups return the
 * first), leading zeros, and trailing bytes after the top-level value. Limits on depth,
 * node count and input size apply in both modes. Errors carry the byte offset. */
#ifndef BTT_BENCODE_H
#define BTT_BENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/buf.h"
#include "btt/error.h"

typedef enum { BTT_BEN_INT = 1, BTT_BEN_STR, BTT_BEN_LIST, BTT_BEN_DICT } btt_ben_type;

enum { BTT_BEN_TOLERANT = 1u << 0 };

typedef struct btt_ben_limits {
    size_t max_depth; /* nesting of lists and dicts; default 64 */
    size_t max_nodes; /* total values; default 4,000,000 */
    size_t max_input; /* bytes; default 64 MiB */
} btt_ben_limits;

typedef struct btt_ben_doc btt_ben_doc; /* owns the node array, not the input */
typedef struct btt_ben_node btt_ben;     /* a value inside a doc */

/* Decodes len bytes at p. limits may be NULL for the defaults. On success *out is a new doc
 * to free with btt_ben_free; on failure *out is NULL and err says what and where
 * ("offset 17: leading zero in integer"). */
BTT_WUR btt_err btt_ben_decode(const uint8_t *p, size_t len, unsigned flags, const btt_ben_limits *limits,
                               btt_ben_doc **out, btt_error *err);
void btt_ben_free(btt_ben_doc *doc);

const btt_ben *btt_ben_root(const btt_ben_doc *doc);
/* Bytes of the top-level value consumed (less than the input in tolerant mode with trailing bytes). */
size_t btt_ben_consumed(const btt_ben_doc *doc);

btt_ben_type btt_ben_typeof(const btt_ben *n);
/* Offset of the node's first byte in the input, for error messages. */
size_t btt_ben_offset(const btt_ben_doc *doc, const btt_ben *n);
/* The exact encoded bytes of the value (for an info dict: what the info-hash covers). */
const uint8_t *btt_ben_raw(const btt_ben *n, size_t *len);

/* Typed access: return false (and leave outputs alone) if n is NULL or of another type. */
bool btt_ben_get_int(const btt_ben *n, int64_t *v);
bool btt_ben_get_str(const btt_ben *n, const uint8_t **p, size_t *len);

/* Lists and dicts: number of elements (pairs for a dict); 0 for other types. */
size_t btt_ben_count(const btt_ben *n);
/* Iteration: first element or NULL, then the next sibling or NULL. For dicts use the pair API. */
const btt_ben *btt_ben_list_first(const btt_ben *n);
const btt_ben *btt_ben_next(const btt_ben *n);
/* Dict pairs: key node of the first pair; the value follows with btt_ben_dict_value;
 * the next key with btt_ben_dict_next. */
const btt_ben *btt_ben_dict_first(const btt_ben *n);
const btt_ben *btt_ben_dict_value(const btt_ben *key);
const btt_ben *btt_ben_dict_next(const btt_ben *key);
/* Value for a NUL-terminated key, or NULL (also when n is not a dict). */
const btt_ben *btt_ben_dict_get(const btt_ben *n, const char *key);

/* ---- encoder: appends to a btt_buf; the caller writes dict keys in sorted order ---- */
BTT_WUR btt_err btt_benc_int(btt_buf *b, int64_t v);
BTT_WUR btt_err btt_benc_str(btt_buf *b, const void *p, size_t len);
BTT_WUR btt_err btt_benc_cstr(btt_buf *b, const char *s);
BTT_WUR btt_err btt_benc_list(btt_buf *b); /* 'l' */
BTT_WUR btt_err btt_benc_dict(btt_buf *b); /* 'd' */
BTT_WUR btt_err btt_benc_end(btt_buf *b);  /* 'e' */
/* Appends an already encoded value verbatim (e.g. a parsed info dict). */
BTT_WUR btt_err btt_benc_raw(btt_buf *b, const void *p, size_t len);

#endif
