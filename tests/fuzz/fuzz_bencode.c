/* libFuzzer target: bencode decoder (strict and tolerant) and encoder.
 *
 * Strict: a successful decode consumes the whole input, and re-encoding the tree with the
 * encoder reproduces the input byte for byte (canonical form round trip).
 * Tolerant: whatever strict accepts, tolerant accepts identically; every node's raw bytes lie
 * inside the consumed input; re-encoding is stable (encode, decode, encode gives the same). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/bencode.h"
#include "btt/buf.h"
#include "fuzz.h"

static void encode(btt_buf *b, const btt_ben *n)
{
    switch (btt_ben_typeof(n)) {
    case BTT_BEN_INT: {
        int64_t v;
        CHECK(btt_ben_get_int(n, &v));
        CHECK(btt_benc_int(b, v) == BTT_OK);
        break;
    }
    case BTT_BEN_STR: {
        const uint8_t *p;
        size_t len;
        CHECK(btt_ben_get_str(n, &p, &len));
        CHECK(btt_benc_str(b, p, len) == BTT_OK);
        break;
    }
    case BTT_BEN_LIST: {
        size_t count = 0;
        CHECK(btt_benc_list(b) == BTT_OK);
        for (const btt_ben *c = btt_ben_list_first(n); c; c = btt_ben_next(c), count++) encode(b, c);
        CHECK(count == btt_ben_count(n));
        CHECK(btt_benc_end(b) == BTT_OK);
        break;
    }
    case BTT_BEN_DICT: {
        size_t count = 0;
        CHECK(btt_benc_dict(b) == BTT_OK);
        for (const btt_ben *k = btt_ben_dict_first(n); k; k = btt_ben_dict_next(k), count++) {
            CHECK(btt_ben_typeof(k) == BTT_BEN_STR);
            encode(b, k);
            const btt_ben *v = btt_ben_dict_value(k);
            CHECK(v != NULL);
            encode(b, v);
        }
        CHECK(count == btt_ben_count(n));
        CHECK(btt_benc_end(b) == BTT_OK);
        break;
    }
    default:
        CHECK(!"unknown node type");
    }
}

/* Every node's raw bytes are a slice of the consumed input at its offset; lookups by key find
 * the first pair with that key. */
static void walk(const btt_ben_doc *doc, const btt_ben *n, const uint8_t *data, size_t consumed)
{
    size_t len = 0;
    const uint8_t *raw = btt_ben_raw(n, &len);
    CHECK(raw >= data && len >= 2 && len <= consumed && (size_t)(raw - data) <= consumed - len);
    CHECK(btt_ben_offset(doc, n) == (size_t)(raw - data));
    switch (btt_ben_typeof(n)) {
    case BTT_BEN_INT:
        CHECK(raw[0] == 'i' && raw[len - 1] == 'e');
        break;
    case BTT_BEN_STR: {
        const uint8_t *p;
        size_t slen;
        CHECK(btt_ben_get_str(n, &p, &slen));
        CHECK(p + slen == raw + len && p > raw);
        break;
    }
    case BTT_BEN_LIST:
        CHECK(raw[0] == 'l' && raw[len - 1] == 'e');
        for (const btt_ben *c = btt_ben_list_first(n); c; c = btt_ben_next(c)) walk(doc, c, data, consumed);
        break;
    case BTT_BEN_DICT:
        CHECK(raw[0] == 'd' && raw[len - 1] == 'e');
        for (const btt_ben *k = btt_ben_dict_first(n); k; k = btt_ben_dict_next(k)) {
            walk(doc, k, data, consumed);
            walk(doc, btt_ben_dict_value(k), data, consumed);
            const uint8_t *kp;
            size_t klen;
            CHECK(btt_ben_get_str(k, &kp, &klen));
            if (klen < 64 && !memchr(kp, 0, klen)) {
                char key[64];
                memcpy(key, kp, klen);
                key[klen] = '\0';
                const btt_ben *first = NULL;
                for (const btt_ben *j = btt_ben_dict_first(n); j && !first; j = btt_ben_dict_next(j)) {
                    const uint8_t *jp;
                    size_t jlen;
                    CHECK(btt_ben_get_str(j, &jp, &jlen));
                    if (jlen == klen && memcmp(jp, kp, klen) == 0) first = btt_ben_dict_value(j);
                }
                CHECK(btt_ben_dict_get(n, key) == first);
            }
        }
        break;
    default:
        CHECK(!"unknown node type");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btt_ben_doc *strict = NULL, *tolerant = NULL;
    btt_error err;
    btt_err rs = btt_ben_decode(data, size, 0, NULL, &strict, &err);
    btt_err rt = btt_ben_decode(data, size, BTT_BEN_TOLERANT, NULL, &tolerant, &err);

    if (rs == BTT_OK) {
        CHECK(strict != NULL);
        CHECK(btt_ben_consumed(strict) == size);
        btt_buf b;
        btt_buf_init(&b, size + 64);
        encode(&b, btt_ben_root(strict));
        if (b.len != size || memcmp(b.data, data, size) != 0) {
            fprintf(stderr, "strict round trip mismatch: %zu bytes in, %zu bytes out\n", size, b.len);
            abort();
        }
        btt_buf_free(&b);
        walk(strict, btt_ben_root(strict), data, size);
        /* whatever strict accepts, tolerant accepts the same way */
        CHECK(rt == BTT_OK);
        CHECK(btt_ben_consumed(tolerant) == size);
        btt_ben_free(strict);
    } else {
        CHECK(strict == NULL);
    }

    if (rt == BTT_OK) {
        CHECK(tolerant != NULL);
        size_t consumed = btt_ben_consumed(tolerant);
        CHECK(consumed > 0 && consumed <= size);
        size_t len;
        const uint8_t *raw = btt_ben_raw(btt_ben_root(tolerant), &len);
        CHECK(raw == data && len == consumed);
        walk(tolerant, btt_ben_root(tolerant), data, consumed);

        /* encode -> decode (tolerant) -> encode is stable */
        btt_buf b1, b2;
        btt_buf_init(&b1, 4 * size + 64);
        btt_buf_init(&b2, 4 * size + 64);
        encode(&b1, btt_ben_root(tolerant));
        CHECK(b1.len <= consumed); /* canonical form is never longer (no leading zeros) */
        btt_ben_doc *again = NULL;
        CHECK(btt_ben_decode(b1.data, b1.len, BTT_BEN_TOLERANT, NULL, &again, &err) == BTT_OK);
        CHECK(btt_ben_consumed(again) == b1.len);
        encode(&b2, btt_ben_root(again));
        CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
        btt_ben_free(again);
        btt_buf_free(&b1);
        btt_buf_free(&b2);
        btt_ben_free(tolerant);
    } else {
        CHECK(tolerant == NULL);
    }
    return 0;
}
