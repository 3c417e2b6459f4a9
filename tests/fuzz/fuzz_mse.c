/* libFuzzer target: MSE/PE (btt/mse.h). Byte 0 picks the methods and how the input is cut,
 * bytes 1..3 seed the piece sizes; the rest is a peer's byte stream, fed in pieces to
 *   (a) a receiver whose find callback knows one info-hash,
 *   (b) an initiator whose first output (Ya, PadA) was drained,
 * and (c) xored over the third and fourth messages of a real handshake between an initiator
 * and a receiver (RC4 is malleable: this reaches every field behind the Diffie-Hellman step).
 * Checked: consumed <= len; never more than the protocol's maximum taken before done; output
 * within the pad limits; only the documented errors; nothing fed after an error or once done;
 * a result within its bounds; an untouched handshake succeeds on both sides. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/mse.h"
#include "btt/sha1.h"
#include "fuzz.h"

#define BOTH (BTT_MSE_RC4 | BTT_MSE_PLAINTEXT)
/* what A takes at most: Yb, PadB, VC, crypto_select, len(PadD), PadD */
#define A_MAX_INPUT (BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX + 8 + 4 + 2 + BTT_MSE_PAD_MAX)
/* what each side sends at most */
#define B_MAX_OUTPUT (BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX + 8 + 4 + 2 + BTT_MSE_PAD_MAX)
#define A_MAX_OUTPUT(ia_len) (BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX + 40 + 8 + 4 + 2 + BTT_MSE_PAD_MAX + 2 + (ia_len))

static const uint8_t info_hash[20] = {0x6b, 0x2f, 0x11, 0x93, 0x0c, 0x4e, 0xa8, 0x57, 0x21, 0xd0,
                                      0x3c, 0x9a, 0x75, 0xe2, 0x08, 0xbf, 0x46, 0x1d, 0xc7, 0x5a};
static const uint8_t ia68[68] = {19, 'B', 'i', 't', 'T', 'o', 'r', 'r', 'e', 'n', 't', ' ', 'p', 'r',
                                 'o', 't', 'o', 'c', 'o', 'l', 0, 0, 0, 0, 0, 0x10, 0, 0};

static bool find_cb(void *ud, const uint8_t req2[20], uint8_t skey[20])
{
    (void)ud;
    uint8_t b[24], h[20];
    memcpy(b, "req2", 4);
    memcpy(b + 4, info_hash, 20);
    btt_sha1(b, sizeof b, h);
    if (memcmp(h, req2, 20) != 0) return false;
    memcpy(skey, info_hash, 20);
    return true;
}

typedef struct cutter {
    uint32_t state;
    int mode; /* 0: all at once, 1: one byte, 2: up to 16, 3: up to 700 */
} cutter;

static size_t cut(cutter *c, size_t avail)
{
    c->state = c->state * 1103515245u + 12345u;
    uint32_t r = c->state >> 8;
    size_t n = avail;
    if (c->mode == 1) n = 1;
    if (c->mode == 2) n = 1 + r % 16;
    if (c->mode == 3) n = 1 + r % 700;
    return n < avail ? n : avail;
}

static void check_err(btt_err e)
{
    CHECK(e == BTT_EPROTO || e == BTT_ENOENT || e == BTT_ENOMEM);
}

static btt_mse_result res; /* large: not on the stack */

static void check_result(const btt_mse *m, uint32_t offered, bool receiver)
{
    btt_mse_result_get(m, &res);
    CHECK(res.method == BTT_MSE_RC4 || res.method == BTT_MSE_PLAINTEXT);
    CHECK(res.method & offered);
    CHECK(res.ia_len <= BTT_MSE_IA_MAX);
    if (receiver) CHECK(memcmp(res.skey, info_hash, 20) == 0);
}

/* Feeds p to m in pieces; drains m's output into out. Returns the total taken. Stops at the
 * first error or once m is done. */
static size_t feed(btt_mse *m, const uint8_t *p, size_t n, cutter *c, size_t max_in, btt_buf *out, btt_err *e)
{
    size_t total = 0, pos = 0;
    *e = BTT_OK;
    while (pos < n && !btt_mse_done(m)) {
        size_t len = cut(c, n - pos), used = len + 1;
        btt_error err;
        *e = btt_mse_input(m, p + pos, len, &used, &err);
        if (*e != BTT_OK) {
            check_err(*e);
            break;
        }
        CHECK(used <= len);
        if (!btt_mse_done(m)) CHECK(used == len);
        total += used;
        CHECK(total <= max_in);
        pos += used;
        CHECK(btt_mse_output(m, out) == BTT_OK);
        if (btt_mse_done(m)) break;
    }
    return total;
}

/* (a) a receiver */
static void as_receiver(const uint8_t *p, size_t n, uint8_t flags, cutter *c)
{
    uint32_t prefer = flags & 0x20 ? BTT_MSE_PLAINTEXT : BTT_MSE_RC4;
    btt_mse *b;
    CHECK(btt_mse_receiver(&b, BOTH, prefer, find_cb, NULL, NULL) == BTT_OK);
    btt_buf out;
    btt_buf_init(&out, 1 << 20);
    CHECK(btt_mse_output(b, &out) == BTT_OK);
    btt_err e;
    feed(b, p, n, c, BTT_MSE_MAX_INPUT, &out, &e);
    CHECK(out.len <= B_MAX_OUTPUT);
    if (btt_mse_done(b)) check_result(b, BOTH, true);
    btt_buf_free(&out);
    btt_mse_free(b);
}

/* (b) an initiator, its Ya and PadA already sent */
static void as_initiator(const uint8_t *p, size_t n, uint8_t flags, cutter *c)
{
    static const uint32_t provides[4] = {BOTH, BTT_MSE_RC4, BTT_MSE_PLAINTEXT, BOTH};
    uint32_t provide = provides[(flags >> 6) & 3];
    btt_mse *a;
    CHECK(btt_mse_initiator(&a, info_hash, provide, ia68, sizeof ia68, NULL) == BTT_OK);
    btt_buf out;
    btt_buf_init(&out, 1 << 20);
    CHECK(btt_mse_output(a, &out) == BTT_OK);
    CHECK(out.len >= BTT_MSE_KEY_LEN && out.len <= BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX);
    size_t first = out.len;
    btt_buf_reset(&out);
    btt_err e;
    feed(a, p, n, c, A_MAX_INPUT, &out, &e);
    CHECK(first + out.len <= A_MAX_OUTPUT(sizeof ia68));
    if (btt_mse_done(a)) check_result(a, provide, false);
    btt_buf_free(&out);
    btt_mse_free(a);
}

/* (c) a real handshake, its third and fourth messages xored with the input */
static void tampered(const uint8_t *p, size_t n, uint8_t flags, cutter *c)
{
    static const uint32_t provides[4] = {BOTH, BTT_MSE_RC4, BTT_MSE_PLAINTEXT, BOTH};
    uint32_t provide = provides[(flags >> 6) & 3];
    uint32_t prefer = flags & 0x20 ? BTT_MSE_PLAINTEXT : BTT_MSE_RC4;
    btt_mse *a, *b;
    CHECK(btt_mse_initiator(&a, info_hash, provide, ia68, sizeof ia68, NULL) == BTT_OK);
    CHECK(btt_mse_receiver(&b, BOTH, prefer, find_cb, NULL, NULL) == BTT_OK);
    btt_buf ab, ba;
    btt_buf_init(&ab, 1 << 20);
    btt_buf_init(&ba, 1 << 20);
    btt_err e;
    bool clean = true;
    size_t used = 0;
    CHECK(btt_mse_output(a, &ab) == BTT_OK);
    CHECK(btt_mse_output(b, &ba) == BTT_OK);
    size_t a_in = 0, b_in = 0;
    /* Ya PadA -> B, Yb PadB -> A: untouched */
    b_in += feed(b, ab.data, ab.len, c, BTT_MSE_MAX_INPUT, &ba, &e);
    CHECK(e == BTT_OK && b_in == ab.len);
    btt_buf_reset(&ab);
    a_in += feed(a, ba.data, ba.len, c, A_MAX_INPUT, &ab, &e);
    CHECK(e == BTT_OK && a_in == ba.len);
    btt_buf_reset(&ba);
    CHECK(ab.len >= 40 + 16 + sizeof ia68);
    /* A's third message, xored */
    for (size_t i = 0; i < ab.len && used < n; i++, used++) {
        ab.data[i] ^= p[used];
        if (p[used]) clean = false;
    }
    b_in += feed(b, ab.data, ab.len, c, BTT_MSE_MAX_INPUT, &ba, &e);
    if (e == BTT_OK && btt_mse_done(b)) {
        CHECK(b_in <= BTT_MSE_MAX_INPUT);
        check_result(b, BOTH, true);
        uint32_t b_method = res.method;
        CHECK(ba.len >= 14 && ba.len <= 14 + BTT_MSE_PAD_MAX);
        /* B's fourth message, xored */
        for (size_t i = 0; i < ba.len && used < n; i++, used++) {
            ba.data[i] ^= p[used];
            if (p[used]) clean = false;
        }
        a_in += feed(a, ba.data, ba.len, c, A_MAX_INPUT, &ab, &e);
        if (btt_mse_done(a)) {
            check_result(a, provide, false);
            if (clean) CHECK(res.method == b_method);
        }
    }
    if (clean) CHECK(e == BTT_OK && btt_mse_done(a) && btt_mse_done(b));
    btt_buf_free(&ab);
    btt_buf_free(&ba);
    btt_mse_free(a);
    btt_mse_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size > BTT_MSE_MAX_INPUT + 1024) return 0;
    uint8_t flags = data[0];
    uint32_t seed = (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
    const uint8_t *p = data + 4;
    size_t n = size - 4;
    cutter c = {seed, flags & 3};
    as_receiver(p, n, flags, &c);
    c.state = seed;
    as_initiator(p, n, flags, &c);
    c.state = seed;
    if (flags & 0x10) tampered(p, n, flags, &c);
    return 0;
}
