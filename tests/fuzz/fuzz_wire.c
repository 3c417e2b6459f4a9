/* libFuzzer target: peer wire decoder and encoders, handshake, BEP 10 extension handshake,
 * BEP 6 allowed fast set.
 *
 * The first input byte is num_pieces (0 = unknown, as for a magnet link); the rest is a
 * message stream fed through btt_wire_next until an error or an incomplete message. Every
 * decoded message is re-encoded with the encoders, which must reproduce the consumed bytes
 * exactly, and decoded again to the same fields. Every strict prefix of a message is
 * incomplete and asks for exactly its size. The extension handshake parser gets the whole
 * input and every extended sub-id 0 payload; what it accepts is built again and re-parsed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/buf.h"
#include "btt/error.h"
#include "btt/wire.h"
#include "fuzz.h"

#define DEFAULT_MAX ((1u << 20) + BTT_BLOCK_SIZE)

static bool msg_equal(const btt_msg *a, const btt_msg *b)
{
    if (a->id != b->id || a->index != b->index || a->begin != b->begin || a->length != b->length ||
        a->port != b->port || a->ext_id != b->ext_id || a->data_len != b->data_len)
        return false;
    return a->data_len == 0 || memcmp(a->data, b->data, a->data_len) == 0;
}

/* Re-encodes m; returns false for messages without an encoder (unknown ids). */
static bool encode(btt_buf *b, const btt_msg *m, size_t consumed)
{
    switch (m->id) {
    case BTT_MSG_CHOKE:
    case BTT_MSG_UNCHOKE:
    case BTT_MSG_INTERESTED:
    case BTT_MSG_NOT_INTERESTED:
    case BTT_MSG_HAVE_ALL:
    case BTT_MSG_HAVE_NONE:
        CHECK(btt_wire_simple(b, m->id) == BTT_OK);
        return true;
    case BTT_MSG_HAVE:
    case BTT_MSG_SUGGEST:
    case BTT_MSG_ALLOWED_FAST:
        CHECK(btt_wire_have(b, m->id, m->index) == BTT_OK);
        return true;
    case BTT_MSG_REQUEST:
    case BTT_MSG_CANCEL:
    case BTT_MSG_REJECT:
        CHECK(btt_wire_request(b, m->id, m->index, m->begin, m->length) == BTT_OK);
        return true;
    case BTT_MSG_BITFIELD:
        CHECK(btt_wire_bitfield(b, m->data, m->data_len) == BTT_OK);
        return true;
    case BTT_MSG_PORT:
        CHECK(btt_wire_port(b, m->port) == BTT_OK);
        return true;
    case BTT_MSG_EXTENDED:
        CHECK(btt_wire_extended(b, m->ext_id, m->data, m->data_len) == BTT_OK);
        return true;
    case BTT_MSG_PIECE: {
        uint8_t h[13];
        CHECK(m->length == m->data_len);
        btt_wire_piece_header(h, m->index, m->begin, (uint32_t)m->data_len);
        CHECK(btt_buf_append(b, h, 13) == BTT_OK);
        if (m->data_len) CHECK(btt_buf_append(b, m->data, m->data_len) == BTT_OK);
        return true;
    }
    case BTT_MSG_KEEPALIVE:
        /* 0xff is also the pseudo id of keep-alives; a real message with id 0xff has a body */
        if (consumed != 4) return false;
        CHECK(btt_wire_keepalive(b) == BTT_OK);
        return true;
    default:
        return false;
    }
}

static int cmp_m(const void *a, const void *b)
{
    const char *x = a, *y = b;
    int c = strcmp(x, y);
    if (c) return c;
    return (int)(uint8_t)x[32] - (int)(uint8_t)y[32];
}

/* (name, id) pairs as sortable 33-byte records: name NUL-padded to 32, then the id. */
static void m_records(const btt_ext_handshake *h, char (*out)[33])
{
    for (size_t i = 0; i < h->num_m; i++) {
        memset(out[i], 0, 33);
        memcpy(out[i], h->m[i].name, sizeof h->m[i].name);
        out[i][32] = (char)h->m[i].id;
    }
    qsort(out, h->num_m, 33, cmp_m);
}

static void ext_handshake(const uint8_t *p, size_t len)
{
    btt_ext_handshake h;
    btt_error err;
    btt_err rc = btt_ext_handshake_parse(p, len, &h, &err);
    if (rc != BTT_OK) {
        CHECK(rc == BTT_EPROTO && err.code == BTT_EPROTO);
        return;
    }
    CHECK(h.num_m <= BTT_EXT_MAX);
    CHECK(memchr(h.v, 0, sizeof h.v) != NULL);
    for (size_t i = 0; i < h.num_m; i++) {
        CHECK(memchr(h.m[i].name, 0, sizeof h.m[i].name) != NULL);
        /* a repeated name: the first one counts */
        size_t first = 0;
        while (strcmp(h.m[first].name, h.m[i].name) != 0) first++;
        CHECK(btt_ext_handshake_id(&h, h.m[i].name) == h.m[first].id);
    }
    CHECK(h.metadata_size >= -1);
    CHECK(!h.has_yourip || h.yourip.family == 4 || h.yourip.family == 6);

    /* build what was understood, parse it again: the same fields come back */
    btt_ext_item items[BTT_EXT_MAX];
    for (size_t i = 0; i < h.num_m; i++) items[i] = (btt_ext_item){h.m[i].name, h.m[i].id};
    btt_buf b;
    btt_buf_init(&b, 1u << 16);
    CHECK(btt_ext_handshake_build(&b, items, h.num_m, h.v[0] ? h.v : NULL, h.p, h.reqq,
                                  h.has_yourip ? &h.yourip : NULL, h.metadata_size) == BTT_OK);
    btt_ext_handshake h2;
    CHECK(btt_ext_handshake_parse(b.data, b.len, &h2, &err) == BTT_OK);
    CHECK(h2.num_m == h.num_m);
    char r1[BTT_EXT_MAX][33], r2[BTT_EXT_MAX][33];
    m_records(&h, r1);
    m_records(&h2, r2);
    CHECK(memcmp(r1, r2, h.num_m * 33) == 0);
    CHECK(strcmp(h.v, h2.v) == 0);
    CHECK(h.p == h2.p && h.reqq == h2.reqq && h.metadata_size == h2.metadata_size);
    CHECK(h.has_yourip == h2.has_yourip);
    if (h.has_yourip) {
        CHECK(h.yourip.family == h2.yourip.family);
        CHECK(memcmp(h.yourip.ip, h2.yourip.ip, h.yourip.family == 4 ? 4 : 16) == 0);
    }
    btt_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    btt_wire_limits lim = {data[0], 0};
    const uint8_t *p = data + 1;
    size_t len = size - 1;

    /* the handshake parser on the stream */
    {
        btt_handshake hs;
        size_t consumed = 99;
        btt_error err;
        btt_err rc = btt_wire_handshake_parse(p, len, &hs, &consumed, &err);
        if (rc == BTT_OK && consumed) {
            CHECK(consumed == BTT_HANDSHAKE_LEN && len >= BTT_HANDSHAKE_LEN);
            uint8_t again[BTT_HANDSHAKE_LEN];
            btt_wire_handshake_build(again, hs.reserved, hs.info_hash, hs.peer_id);
            CHECK(memcmp(again, p, BTT_HANDSHAKE_LEN) == 0);
        } else if (rc == BTT_OK) {
            CHECK(len < BTT_HANDSHAKE_LEN);
        } else {
            CHECK(rc == BTT_EPROTO && consumed == 0);
        }
    }

    /* the message stream */
    size_t off = 0;
    while (off <= len) {
        btt_msg m;
        size_t consumed = 99, need = 0;
        btt_error err;
        btt_err rc = btt_wire_next(p + off, len - off, &lim, &m, &consumed, &need, &err);
        if (rc != BTT_OK) {
            CHECK(rc == BTT_EPROTO && err.code == BTT_EPROTO);
            break;
        }
        if (consumed == 0) {
            CHECK(need > len - off);
            CHECK(need <= (size_t)DEFAULT_MAX + 4);
            break;
        }
        CHECK(consumed >= 4 && consumed <= len - off);
        CHECK(need == consumed);
        const uint8_t *msg = p + off;
        if (m.data_len) CHECK(m.data >= msg + 5 && m.data + m.data_len <= msg + consumed);
        if (lim.num_pieces) {
            switch (m.id) {
            case BTT_MSG_HAVE:
            case BTT_MSG_SUGGEST:
            case BTT_MSG_ALLOWED_FAST:
            case BTT_MSG_REQUEST:
            case BTT_MSG_CANCEL:
            case BTT_MSG_REJECT:
            case BTT_MSG_PIECE:
                CHECK(m.index < lim.num_pieces);
                break;
            case BTT_MSG_BITFIELD:
                CHECK(m.data_len == (lim.num_pieces + 7) / 8);
                break;
            default:
                break;
            }
        }
        if (m.id == BTT_MSG_REQUEST || m.id == BTT_MSG_CANCEL || m.id == BTT_MSG_REJECT)
            CHECK(m.length > 0 && m.length <= BTT_MAX_BLOCK);
        if (m.id == BTT_MSG_PIECE) CHECK(m.data_len <= BTT_MAX_BLOCK);

        /* every strict prefix is incomplete and asks for the whole message (a heap copy, so
         * ASan sees reads past the end); only for small messages, to keep runs fast */
        if (consumed <= 64) {
            for (size_t k = 0; k < consumed; k++) {
                uint8_t *cut = malloc(k ? k : 1);
                CHECK(cut != NULL);
                if (k) memcpy(cut, msg, k);
                btt_msg mm;
                size_t c2 = 99, n2 = 0;
                CHECK(btt_wire_next(cut, k, &lim, &mm, &c2, &n2, NULL) == BTT_OK);
                CHECK(c2 == 0 && n2 == (k < 4 ? 4 : consumed));
                free(cut);
            }
        }

        /* encode -> same bytes -> decode -> same fields */
        btt_buf b;
        btt_buf_init(&b, (size_t)DEFAULT_MAX + 64);
        if (encode(&b, &m, consumed)) {
            if (b.len != consumed || memcmp(b.data, msg, consumed) != 0) {
                fprintf(stderr, "re-encoding id %u: %zu bytes in, %zu bytes out\n", m.id, consumed, b.len);
                abort();
            }
            btt_msg m2;
            size_t c2 = 0, n2 = 0;
            CHECK(btt_wire_next(b.data, b.len, &lim, &m2, &c2, &n2, &err) == BTT_OK);
            CHECK(c2 == b.len);
            CHECK(msg_equal(&m, &m2));
        }
        btt_buf_free(&b);

        if (m.id == BTT_MSG_EXTENDED && m.ext_id == 0) ext_handshake(m.data, m.data_len);
        off += consumed;
    }

    /* the extension handshake parser on the raw input */
    ext_handshake(p, len);

    /* the allowed fast set from input-derived IP and info-hash */
    if (len >= 24 && lim.num_pieces) {
        uint32_t out[10];
        size_t k = p[0] % 11;
        size_t n = btt_allowed_fast_set(p, p + 4, lim.num_pieces, k, out);
        CHECK(n == (k < lim.num_pieces ? k : lim.num_pieces));
        for (size_t i = 0; i < n; i++) {
            CHECK(out[i] < lim.num_pieces);
            for (size_t j = 0; j < i; j++) CHECK(out[i] != out[j]);
        }
    }
    return 0;
}
