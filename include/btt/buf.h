/* btt/buf.h - growable byte buffer with a hard cap.
 *
 * Every buffer a peer can grow has a maximum: appends past `max` fail with BTT_ETOOBIG and
 * leave the buffer unchanged. The buffer owns `data`; btt_buf_free releases it. */
#ifndef BTT_BUF_H
#define BTT_BUF_H

#include <stdint.h>
#include <stddef.h>

#include "btt/error.h"

typedef struct btt_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len */
} btt_buf;

/* An empty buffer that may grow up to max bytes. Allocates nothing yet. */
void btt_buf_init(btt_buf *b, size_t max);
void btt_buf_free(btt_buf *b);
void btt_buf_reset(btt_buf *b); /* len = 0, keeps memory */

BTT_WUR btt_err btt_buf_reserve(btt_buf *b, size_t extra);
BTT_WUR btt_err btt_buf_append(btt_buf *b, const void *p, size_t n);
BTT_WUR btt_err btt_buf_append_byte(btt_buf *b, uint8_t c);
BTT_WUR btt_err btt_buf_printf(btt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hands the contents to the caller (who frees them) and leaves b empty. A NUL is kept
 * after the data so text can be used as a C string. Returns NULL if out of memory. */
uint8_t *btt_buf_steal(btt_buf *b, size_t *len);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void btt_hex(const uint8_t *p, size_t n, char *out);
/* Parses exactly 2n hex digits (either case) into out. Returns 0 or -1. */
int btt_unhex(const char *s, size_t slen, uint8_t *out, size_t n);

#endif
