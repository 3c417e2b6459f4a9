/* buf.c - capped growable byte buffer and hex helpers. */
#include "btt/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void btt_buf_init(btt_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void btt_buf_free(btt_buf *b)
{
    free(b->data);
    btt_buf_init(b, b->max);
}

void btt_buf_reset(btt_buf *b) { b->len = 0; }

btt_err btt_buf_reserve(btt_buf *b, size_t extra)
{
    /* +1 keeps room for the NUL that btt_buf_steal adds. */
    if (extra > b->max - b->len) return BTT_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return BTT_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return BTT_ENOMEM;
    b->data = p;
    b->cap = cap;
    return BTT_OK;
}

btt_err btt_buf_append(btt_buf *b, const void *p, size_t n)
{
    btt_err e = btt_buf_reserve(b, n);
    if (e) return e;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return BTT_OK;
}

btt_err btt_buf_append_byte(btt_buf *b, uint8_t c) { return btt_buf_append(b, &c, 1); }

btt_err btt_buf_printf(btt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return BTT_EINVAL;
    btt_err e = btt_buf_reserve(b, (size_t)n);
    if (e) return e;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return BTT_OK;
}

uint8_t *btt_buf_steal(btt_buf *b, size_t *len)
{
    if (btt_buf_reserve(b, 0)) return NULL;
    b->data[b->len] = 0;
    uint8_t *p = b->data;
    if (len) *len = b->len;
    btt_buf_init(b, b->max);
    return p;
}

void btt_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int btt_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
