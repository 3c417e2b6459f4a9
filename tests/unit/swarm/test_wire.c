/* Unit tests for the peer wire codec: the BEP 3 handshake and messages, the BEP 6 fast
 * extension messages and allowed fast set, and the BEP 10 extension handshake.
 *
 * Every decode of a short input is done on a heap copy of exactly that many bytes, so ASan
 * catches a decoder that looks past what it was given. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/addr.h"
#include "btt/bencode.h"
#include "btt/buf.h"
#include "btt/error.h"
#include "btt/wire.h"

#define OK(x) assert_int_equal((x), BTT_OK)
#define DEFAULT_MAX ((1u << 20) + BTT_BLOCK_SIZE)

/* ------------------------------------------------------------------ helpers */

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Decodes from a private heap copy of p[0..len). */
static btt_err next_copy(const uint8_t *p, size_t len, uint32_t npieces, uint32_t max_message, btt_msg *m,
                         size_t *consumed, size_t *need, btt_error *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, p, len);
    btt_wire_limits lim = {npieces, max_message};
    memset(err, 0, sizeof *err);
    *consumed = (size_t)-1;
    *need = (size_t)-1;
    btt_err rc = btt_wire_next(copy, len, &lim, m, consumed, need, err);
    /* pointers into the input must stay inside it */
    if (rc == BTT_OK && *consumed > 0 && m->data_len > 0) {
        assert_true(m->data >= copy + 5 && m->data + m->data_len <= copy + *consumed);
    }
    /* rebase data onto the caller's bytes so it stays valid after free */
    if (rc == BTT_OK && *consumed > 0 && m->data) m->data = p + (m->data - copy);
    free(copy);
    return rc;
}

/* A whole message must decode to exactly len bytes. */
static btt_msg decode_one(const uint8_t *p, size_t len, uint32_t npieces)
{
    btt_msg m;
    size_t consumed, need;
    btt_error err;
    btt_err rc = next_copy(p, len, npieces, 0, &m, &consumed, &need, &err);
    if (rc != BTT_OK || consumed != len) {
        print_error("decode of %zu bytes (id %u): rc=%s consumed=%zu msg='%s'\n", len, len > 4 ? p[4] : 0,
                    btt_err_name(rc), consumed, err.msg);
        fail();
    }
    return m;
}

static void expect_proto(const uint8_t *p, size_t len, uint32_t npieces, const char *what)
{
    btt_msg m;
    size_t consumed, need;
    btt_error err;
    btt_err rc = next_copy(p, len, npieces, 0, &m, &consumed, &need, &err);
    if (rc != BTT_EPROTO) {
        print_error("%s: expected BTT_EPROTO, got %s (consumed %zu)\n", what, btt_err_name(rc), consumed);
        fail();
    }
    assert_int_equal(err.code, BTT_EPROTO);
    assert_true(err.msg[0] != '\0');
}

/* Builds a raw message: length prefix 1 + plen, id, payload. Returns its size. */
static size_t raw_msg(uint8_t *out, uint8_t id, const uint8_t *payload, uint32_t plen)
{
    be32(out, plen + 1);
    out[4] = id;
    if (plen) memcpy(out + 5, payload, plen);
    return 5 + plen;
}

/* Every strict prefix of a message (or stream whose first message is len bytes) is
 * incomplete: consumed 0, BTT_OK, and need says how many bytes the message takes. */
static void check_truncations(const uint8_t *p, size_t len, uint32_t npieces)
{
    for (size_t k = 0; k < len; k++) {
        btt_msg m;
        size_t consumed, need;
        btt_error err;
        btt_err rc = next_copy(p, k, npieces, 0, &m, &consumed, &need, &err);
        if (rc != BTT_OK || consumed != 0 || need != (k < 4 ? 4 : len)) {
            print_error("prefix %zu of a %zu-byte message: rc=%s consumed=%zu need=%zu\n", k, len, btt_err_name(rc),
                        consumed, need);
            fail();
        }
    }
}

/* ------------------------------------------------------------------ handshake */

static void test_handshake_roundtrip(void **state)
{
    uint8_t rsv[8] = {0, 0, 0, 0, 0, 0x10, 0, 0x05};
    uint8_t ih[20], pid[20];
    for (int i = 0; i < 20; i++) {
        ih[i] = (uint8_t)(0xa0 + i);
        pid[i] = (uint8_t)('A' + i);
    }
    uint8_t hs[BTT_HANDSHAKE_LEN + 10];
    btt_wire_handshake_build(hs, rsv, ih, pid);
    assert_int_equal(hs[0], 19);
    assert_memory_equal(hs + 1, "BitTorrent protocol", 19);
    assert_memory_equal(hs + 20, rsv, 8);
    assert_memory_equal(hs + 28, ih, 20);
    assert_memory_equal(hs + 48, pid, 20);
    /* trailing bytes (the first message) are left alone */
    memset(hs + BTT_HANDSHAKE_LEN, 0xee, 10);

    for (size_t len = BTT_HANDSHAKE_LEN; len <= sizeof hs; len++) {
        btt_handshake h;
        size_t consumed = 99;
        btt_error err;
        memset(&h, 0, sizeof h);
        uint8_t *copy = malloc(len);
        memcpy(copy, hs, len);
        OK(btt_wire_handshake_parse(copy, len, &h, &consumed, &err));
        free(copy);
        assert_int_equal(consumed, BTT_HANDSHAKE_LEN);
        assert_memory_equal(h.reserved, rsv, 8);
        assert_memory_equal(h.info_hash, ih, 20);
        assert_memory_equal(h.peer_id, pid, 20);
    }
}

static void test_handshake_partial(void **state)
{
    uint8_t rsv[8] = {0}, ih[20], pid[20];
    memset(ih, 0x11, 20);
    memset(pid, 0x22, 20);
    uint8_t hs[BTT_HANDSHAKE_LEN];
    btt_wire_handshake_build(hs, rsv, ih, pid);
    for (size_t len = 0; len < BTT_HANDSHAKE_LEN; len++) {
        btt_handshake h;
        size_t consumed = 99;
        btt_error err;
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, hs, len);
        btt_err rc = btt_wire_handshake_parse(copy, len, &h, &consumed, &err);
        free(copy);
        if (rc != BTT_OK || consumed != 0) {
            print_error("prefix of %zu bytes: rc=%s consumed=%zu\n", len, btt_err_name(rc), consumed);
            fail();
        }
    }
}

/* Garbage is rejected as soon as the first wrong byte is in, without waiting for 68. */
static void test_handshake_garbage_early(void **state)
{
    uint8_t rsv[8] = {0}, ih[20] = {0}, pid[20] = {0};
    uint8_t hs[BTT_HANDSHAKE_LEN];
    btt_wire_handshake_build(hs, rsv, ih, pid);
    for (size_t i = 0; i < 20; i++) {
        uint8_t bad[BTT_HANDSHAKE_LEN];
        memcpy(bad, hs, sizeof bad);
        bad[i] ^= 0x20; /* 'B' -> 'b', 19 -> 51 */
        /* with only the bytes up to and including the wrong one */
        for (size_t len = i + 1; len <= BTT_HANDSHAKE_LEN; len += (len < i + 3 ? 1 : 20)) {
            btt_handshake h;
            size_t consumed = 99;
            btt_error err;
            memset(&err, 0, sizeof err);
            uint8_t *copy = malloc(len);
            memcpy(copy, bad, len);
            btt_err rc = btt_wire_handshake_parse(copy, len, &h, &consumed, &err);
            free(copy);
            if (rc != BTT_EPROTO || consumed != 0) {
                print_error("byte %zu wrong, %zu bytes in: rc=%s consumed=%zu\n", i, len, btt_err_name(rc), consumed);
                fail();
            }
            assert_int_equal(err.code, BTT_EPROTO);
        }
    }
    /* an HTTP request, a TLS hello, an empty-looking zero byte */
    const char *http = "GET /announce HTTP/1.1\r\n";
    btt_handshake h;
    size_t consumed;
    btt_error err;
    assert_int_equal(btt_wire_handshake_parse((const uint8_t *)http, 1, &h, &consumed, &err), BTT_EPROTO);
    const uint8_t tls[] = {0x16, 0x03, 0x01};
    assert_int_equal(btt_wire_handshake_parse(tls, sizeof tls, &h, &consumed, &err), BTT_EPROTO);
    const uint8_t zero[] = {0};
    assert_int_equal(btt_wire_handshake_parse(zero, 1, &h, &consumed, &err), BTT_EPROTO);
    /* NULL err is allowed */
    assert_int_equal(btt_wire_handshake_parse(zero, 1, &h, &consumed, NULL), BTT_EPROTO);
}

static void test_reserved_bits(void **state)
{
    uint8_t r[8] = {0};
    assert_false(BTT_RSV_EXTENSION(r));
    assert_false(BTT_RSV_FAST(r));
    assert_false(BTT_RSV_DHT(r));
    /* BEP 10: "the 20th bit from the right (counting starts at 0) ... reserved_byte[5] & 0x10" */
    r[5] = 0x10;
    assert_true(BTT_RSV_EXTENSION(r));
    assert_false(BTT_RSV_FAST(r));
    assert_false(BTT_RSV_DHT(r));
    /* BEP 6: "reserved[7] |= 0x04"; BEP 5: "the last bit ... is set" */
    r[5] = 0;
    r[7] = 0x04;
    assert_true(BTT_RSV_FAST(r));
    assert_false(BTT_RSV_DHT(r));
    assert_false(BTT_RSV_EXTENSION(r));
    r[7] = 0x01;
    assert_true(BTT_RSV_DHT(r));
    assert_false(BTT_RSV_FAST(r));
    /* neighbouring bits do not count */
    memset(r, 0xff, 8);
    r[5] = (uint8_t)~0x10;
    r[7] = (uint8_t)~0x05;
    assert_false(BTT_RSV_EXTENSION(r));
    assert_false(BTT_RSV_FAST(r));
    assert_false(BTT_RSV_DHT(r));
}

/* ------------------------------------------------------------------ messages */

static void test_simple_roundtrip(void **state)
{
    const uint8_t ids[] = {BTT_MSG_CHOKE,    BTT_MSG_UNCHOKE,  BTT_MSG_INTERESTED,
                           BTT_MSG_NOT_INTERESTED, BTT_MSG_HAVE_ALL, BTT_MSG_HAVE_NONE};
    for (size_t i = 0; i < sizeof ids; i++) {
        btt_buf b;
        btt_buf_init(&b, 1024);
        OK(btt_wire_simple(&b, ids[i]));
        assert_int_equal(b.len, 5);
        const uint8_t want[5] = {0, 0, 0, 1, ids[i]};
        assert_memory_equal(b.data, want, 5);
        btt_msg m = decode_one(b.data, b.len, 10);
        assert_int_equal(m.id, ids[i]);
        assert_int_equal(m.data_len, 0);
        check_truncations(b.data, b.len, 10);
        btt_buf_free(&b);
    }
}

static void test_have_roundtrip(void **state)
{
    const uint8_t ids[] = {BTT_MSG_HAVE, BTT_MSG_SUGGEST, BTT_MSG_ALLOWED_FAST};
    const uint32_t idx[] = {0, 1, 999, 0x01020304};
    for (size_t i = 0; i < sizeof ids; i++) {
        for (size_t j = 0; j < 4; j++) {
            btt_buf b;
            btt_buf_init(&b, 1024);
            OK(btt_wire_have(&b, ids[i], idx[j]));
            assert_int_equal(b.len, 9);
            uint8_t want[9] = {0, 0, 0, 5, ids[i]};
            be32(want + 5, idx[j]);
            assert_memory_equal(b.data, want, 9);
            btt_msg m = decode_one(b.data, b.len, idx[j] == 0x01020304 ? 0 : 1000);
            assert_int_equal(m.id, ids[i]);
            assert_int_equal(m.index, idx[j]);
            check_truncations(b.data, b.len, 1000);
            btt_buf_free(&b);
        }
    }
}

static void test_request_roundtrip(void **state)
{
    const uint8_t ids[] = {BTT_MSG_REQUEST, BTT_MSG_CANCEL, BTT_MSG_REJECT};
    for (size_t i = 0; i < sizeof ids; i++) {
        btt_buf b;
        btt_buf_init(&b, 1024);
        OK(btt_wire_request(&b, ids[i], 77, 3 * BTT_BLOCK_SIZE, BTT_BLOCK_SIZE));
        assert_int_equal(b.len, 17);
        uint8_t want[17] = {0, 0, 0, 13, ids[i]};
        be32(want + 5, 77);
        be32(want + 9, 3 * BTT_BLOCK_SIZE);
        be32(want + 13, BTT_BLOCK_SIZE);
        assert_memory_equal(b.data, want, 17);
        btt_msg m = decode_one(b.data, b.len, 78);
        assert_int_equal(m.id, ids[i]);
        assert_int_equal(m.index, 77);
        assert_int_equal(m.begin, 3 * BTT_BLOCK_SIZE);
        assert_int_equal(m.length, BTT_BLOCK_SIZE);
        check_truncations(b.data, b.len, 78);
        /* the limits: 1 byte and 128 KiB are fine */
        btt_buf_reset(&b);
        OK(btt_wire_request(&b, ids[i], 0, 0xfffffff0u, 1));
        m = decode_one(b.data, b.len, 1);
        assert_int_equal(m.begin, 0xfffffff0u);
        assert_int_equal(m.length, 1);
        btt_buf_reset(&b);
        OK(btt_wire_request(&b, ids[i], 0, 0, BTT_MAX_BLOCK));
        m = decode_one(b.data, b.len, 1);
        assert_int_equal(m.length, BTT_MAX_BLOCK);
        btt_buf_free(&b);
    }
}

static void test_bitfield_roundtrip(void **state)
{
    struct {
        uint32_t npieces;
        uint8_t bits[3];
        size_t n;
    } cases[] = {
        {10, {0xff, 0xc0}, 2}, {10, {0x00, 0x00}, 2}, {16, {0xff, 0xff}, 2},
        {17, {0xa5, 0x5a, 0x80}, 3}, {1, {0x80}, 1}, {8, {0x01}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        btt_buf b;
        btt_buf_init(&b, 1024);
        OK(btt_wire_bitfield(&b, cases[i].bits, cases[i].n));
        assert_int_equal(b.len, 5 + cases[i].n);
        const uint8_t hdr[5] = {0, 0, 0, (uint8_t)(1 + cases[i].n), BTT_MSG_BITFIELD};
        assert_memory_equal(b.data, hdr, 5);
        btt_msg m = decode_one(b.data, b.len, cases[i].npieces);
        assert_int_equal(m.id, BTT_MSG_BITFIELD);
        assert_int_equal(m.data_len, cases[i].n);
        assert_memory_equal(m.data, cases[i].bits, cases[i].n);
        /* with num_pieces unknown (magnet) any length is taken */
        m = decode_one(b.data, b.len, 0);
        assert_int_equal(m.data_len, cases[i].n);
        check_truncations(b.data, b.len, cases[i].npieces);
        btt_buf_free(&b);
    }
    /* a large bitfield: 100,000 pieces */
    uint32_t np = 100000;
    size_t nb = (np + 7) / 8;
    uint8_t *bits = malloc(nb);
    for (size_t i = 0; i < nb; i++) bits[i] = (uint8_t)(i * 37);
    bits[nb - 1] = 0xff; /* 100000 % 8 == 0: no spare bits, any value works */
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    OK(btt_wire_bitfield(&b, bits, nb));
    btt_msg m = decode_one(b.data, b.len, np);
    assert_int_equal(m.data_len, nb);
    assert_memory_equal(m.data, bits, nb);
    btt_buf_free(&b);
    free(bits);
}

static void test_port_roundtrip(void **state)
{
    const uint16_t ports[] = {0, 1, 6881, 65535};
    for (size_t i = 0; i < 4; i++) {
        btt_buf b;
        btt_buf_init(&b, 64);
        OK(btt_wire_port(&b, ports[i]));
        const uint8_t want[7] = {0, 0, 0, 3, BTT_MSG_PORT, (uint8_t)(ports[i] >> 8), (uint8_t)ports[i]};
        assert_int_equal(b.len, 7);
        assert_memory_equal(b.data, want, 7);
        btt_msg m = decode_one(b.data, b.len, 5);
        assert_int_equal(m.id, BTT_MSG_PORT);
        assert_int_equal(m.port, ports[i]);
        check_truncations(b.data, b.len, 5);
        btt_buf_free(&b);
    }
}

static void test_keepalive(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 64);
    OK(btt_wire_keepalive(&b));
    assert_int_equal(b.len, 4);
    const uint8_t z[4] = {0};
    assert_memory_equal(b.data, z, 4);
    btt_msg m = decode_one(b.data, b.len, 10);
    assert_int_equal(m.id, BTT_MSG_KEEPALIVE);
    assert_int_equal(m.data_len, 0);
    check_truncations(b.data, b.len, 10);
    /* keep-alives back to back, then a choke */
    OK(btt_wire_keepalive(&b));
    OK(btt_wire_simple(&b, BTT_MSG_CHOKE));
    size_t off = 0;
    int n = 0;
    while (off < b.len) {
        btt_msg mm;
        size_t consumed, need;
        btt_error err;
        OK(next_copy(b.data + off, b.len - off, 10, 0, &mm, &consumed, &need, &err));
        assert_true(consumed > 0);
        assert_int_equal(mm.id, n < 2 ? BTT_MSG_KEEPALIVE : BTT_MSG_CHOKE);
        off += consumed;
        n++;
    }
    assert_int_equal(n, 3);
    btt_buf_free(&b);
}

static void test_extended_roundtrip(void **state)
{
    const char *payload = "d1:md11:ut_metadatai3eee";
    btt_buf b;
    btt_buf_init(&b, 1024);
    OK(btt_wire_extended(&b, 0, (const uint8_t *)payload, strlen(payload)));
    assert_int_equal(b.len, 6 + strlen(payload));
    const uint8_t hdr[6] = {0, 0, 0, (uint8_t)(2 + strlen(payload)), BTT_MSG_EXTENDED, 0};
    assert_memory_equal(b.data, hdr, 6);
    btt_msg m = decode_one(b.data, b.len, 3);
    assert_int_equal(m.id, BTT_MSG_EXTENDED);
    assert_int_equal(m.ext_id, 0);
    assert_int_equal(m.data_len, strlen(payload));
    assert_memory_equal(m.data, payload, strlen(payload));
    check_truncations(b.data, b.len, 3);
    /* empty payload with a sub-id */
    btt_buf_reset(&b);
    OK(btt_wire_extended(&b, 7, NULL, 0));
    assert_int_equal(b.len, 6);
    m = decode_one(b.data, b.len, 3);
    assert_int_equal(m.ext_id, 7);
    assert_int_equal(m.data_len, 0);
    btt_buf_free(&b);
}

static void test_piece_roundtrip(void **state)
{
    const uint32_t lens[] = {0, 1, 1000, BTT_BLOCK_SIZE, BTT_MAX_BLOCK};
    for (size_t i = 0; i < 5; i++) {
        size_t total = 13 + lens[i];
        uint8_t *msg = malloc(total);
        btt_wire_piece_header(msg, 4, 2 * BTT_BLOCK_SIZE, lens[i]);
        uint8_t want[13];
        be32(want, 9 + lens[i]);
        want[4] = BTT_MSG_PIECE;
        be32(want + 5, 4);
        be32(want + 9, 2 * BTT_BLOCK_SIZE);
        assert_memory_equal(msg, want, 13);
        for (uint32_t k = 0; k < lens[i]; k++) msg[13 + k] = (uint8_t)(k * 7 + 3);
        btt_msg m = decode_one(msg, total, 5);
        assert_int_equal(m.id, BTT_MSG_PIECE);
        assert_int_equal(m.index, 4);
        assert_int_equal(m.begin, 2 * BTT_BLOCK_SIZE);
        assert_int_equal(m.data_len, lens[i]);
        assert_int_equal(m.length, lens[i]);
        if (lens[i]) assert_memory_equal(m.data, msg + 13, lens[i]);
        if (lens[i] <= BTT_BLOCK_SIZE) check_truncations(msg, total, 5);
        free(msg);
    }
}

/* One stream with every message type, decoded in order, then every truncation of the
 * stream: the first incomplete message is reported with the bytes it needs. */
static void test_stream(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 1 << 16);
    size_t ends[32];
    size_t n = 0;
#define MARK() (ends[n++] = b.len)
    OK(btt_wire_keepalive(&b)); MARK();
    OK(btt_wire_simple(&b, BTT_MSG_CHOKE)); MARK();
    OK(btt_wire_simple(&b, BTT_MSG_UNCHOKE)); MARK();
    OK(btt_wire_simple(&b, BTT_MSG_INTERESTED)); MARK();
    OK(btt_wire_simple(&b, BTT_MSG_NOT_INTERESTED)); MARK();
    OK(btt_wire_have(&b, BTT_MSG_HAVE, 9)); MARK();
    const uint8_t bits[2] = {0xaa, 0x40};
    OK(btt_wire_bitfield(&b, bits, 2)); MARK();
    OK(btt_wire_request(&b, BTT_MSG_REQUEST, 1, 0, BTT_BLOCK_SIZE)); MARK();
    uint8_t ph[13];
    btt_wire_piece_header(ph, 1, 0, 5);
    OK(btt_buf_append(&b, ph, 13));
    OK(btt_buf_append(&b, "hello", 5)); MARK();
    OK(btt_wire_request(&b, BTT_MSG_CANCEL, 1, BTT_BLOCK_SIZE, BTT_BLOCK_SIZE)); MARK();
    OK(btt_wire_port(&b, 6881)); MARK();
    OK(btt_wire_have(&b, BTT_MSG_SUGGEST, 3)); MARK();
    OK(btt_wire_simple(&b, BTT_MSG_HAVE_ALL)); MARK();
    OK(btt_wire_simple(&b, BTT_MSG_HAVE_NONE)); MARK();
    OK(btt_wire_request(&b, BTT_MSG_REJECT, 2, 0, 100)); MARK();
    OK(btt_wire_have(&b, BTT_MSG_ALLOWED_FAST, 8)); MARK();
    OK(btt_wire_extended(&b, 1, (const uint8_t *)"d1:ai1ee", 8)); MARK();
#undef MARK
    const uint16_t want_ids[] = {BTT_MSG_KEEPALIVE, BTT_MSG_CHOKE,    BTT_MSG_UNCHOKE,  BTT_MSG_INTERESTED,
                                BTT_MSG_NOT_INTERESTED, BTT_MSG_HAVE, BTT_MSG_BITFIELD, BTT_MSG_REQUEST,
                                BTT_MSG_PIECE,     BTT_MSG_CANCEL,   BTT_MSG_PORT,     BTT_MSG_SUGGEST,
                                BTT_MSG_HAVE_ALL,  BTT_MSG_HAVE_NONE, BTT_MSG_REJECT,  BTT_MSG_ALLOWED_FAST,
                                BTT_MSG_EXTENDED};
    assert_int_equal(n, sizeof want_ids / sizeof want_ids[0]);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        btt_msg m;
        size_t consumed, need;
        btt_error err;
        OK(next_copy(b.data + off, b.len - off, 10, 0, &m, &consumed, &need, &err));
        assert_int_equal(consumed, ends[i] - off);
        assert_int_equal(m.id, want_ids[i]);
        off += consumed;
    }
    assert_int_equal(off, b.len);
    /* truncate the stream anywhere: whole messages decode, the cut one asks for its size */
    for (size_t cut = 0; cut < b.len; cut++) {
        off = 0;
        size_t i = 0;
        for (;;) {
            btt_msg m;
            size_t consumed, need;
            btt_error err;
            OK(next_copy(b.data + off, cut - off, 10, 0, &m, &consumed, &need, &err));
            if (consumed == 0) {
                size_t start = i ? ends[i - 1] : 0;
                size_t want_need = cut - start < 4 ? 4 : ends[i] - start;
                if (need != want_need) {
                    print_error("cut %zu: message %zu needs %zu, got %zu\n", cut, i, want_need, need);
                    fail();
                }
                break;
            }
            off += consumed;
            assert_int_equal(off, ends[i]);
            i++;
        }
    }
    btt_buf_free(&b);
}

/* ------------------------------------------------------------------ rejections */

static void test_oversized_prefix(void **state)
{
    uint8_t p[4];
    btt_msg m;
    size_t consumed, need;
    btt_error err;
    /* the default limit: exactly the limit waits for the bytes, one more is refused at once */
    be32(p, DEFAULT_MAX);
    OK(next_copy(p, 4, 10, 0, &m, &consumed, &need, &err));
    assert_int_equal(consumed, 0);
    assert_int_equal(need, (size_t)DEFAULT_MAX + 4);
    be32(p, DEFAULT_MAX + 1);
    expect_proto(p, 4, 10, "default max + 1");
    be32(p, 0xffffffffu);
    expect_proto(p, 4, 10, "0xffffffff");
    be32(p, 0x80000000u);
    expect_proto(p, 4, 0, "2 GiB");
    /* a caller-chosen limit */
    be32(p, 100);
    OK(next_copy(p, 4, 10, 100, &m, &consumed, &need, &err));
    assert_int_equal(consumed, 0);
    assert_int_equal(need, 104);
    be32(p, 101);
    assert_int_equal(next_copy(p, 4, 10, 100, &m, &consumed, &need, &err), BTT_EPROTO);
    assert_int_equal(consumed, 0);
    /* a bitfield that would be huge is refused before its bytes arrive */
    uint8_t bf[5];
    be32(bf, 50u << 20);
    bf[4] = BTT_MSG_BITFIELD;
    expect_proto(bf, 5, 0, "50 MiB bitfield");
    /* lim NULL uses the defaults */
    be32(p, DEFAULT_MAX + 1);
    assert_int_equal(btt_wire_next(p, 4, NULL, &m, &consumed, &need, NULL), BTT_EPROTO);
    be32(p, DEFAULT_MAX);
    OK(btt_wire_next(p, 4, NULL, &m, &consumed, &need, NULL));
    assert_int_equal(need, (size_t)DEFAULT_MAX + 4);
}

static void test_wrong_fixed_lengths(void **state)
{
    uint8_t payload[32] = {0};
    payload[11] = 1; /* a request for 1 byte if read as 12 bytes */
    uint8_t msg[64];
    struct {
        uint8_t id;
        uint32_t good;
    } fixed[] = {
        {BTT_MSG_CHOKE, 0},    {BTT_MSG_UNCHOKE, 0},   {BTT_MSG_INTERESTED, 0},   {BTT_MSG_NOT_INTERESTED, 0},
        {BTT_MSG_HAVE_ALL, 0}, {BTT_MSG_HAVE_NONE, 0}, {BTT_MSG_HAVE, 4},         {BTT_MSG_SUGGEST, 4},
        {BTT_MSG_ALLOWED_FAST, 4}, {BTT_MSG_REQUEST, 12}, {BTT_MSG_CANCEL, 12}, {BTT_MSG_REJECT, 12},
        {BTT_MSG_PORT, 2},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        for (uint32_t plen = 0; plen <= 16; plen++) {
            size_t len = raw_msg(msg, fixed[i].id, payload, plen);
            char what[64];
            snprintf(what, sizeof what, "id %u with a %u-byte payload", fixed[i].id, plen);
            if (plen == fixed[i].good) {
                btt_msg m = decode_one(msg, len, 10);
                assert_int_equal(m.id, fixed[i].id);
            } else {
                expect_proto(msg, len, 10, what);
            }
        }
    }
    /* the examples from the brief, spelled out: have of 6 bytes, request of 12 */
    const uint8_t have6[] = {0, 0, 0, 6, BTT_MSG_HAVE, 0, 0, 0, 1, 0};
    expect_proto(have6, sizeof have6, 10, "have of length 6");
    const uint8_t req12[] = {0, 0, 0, 12, BTT_MSG_REQUEST, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64};
    expect_proto(req12, sizeof req12, 10, "request of length 12");
    /* piece shorter than its header, extended without a sub-id */
    for (uint32_t plen = 0; plen < 8; plen++) {
        size_t len = raw_msg(msg, BTT_MSG_PIECE, payload, plen);
        expect_proto(msg, len, 10, "short piece");
    }
    size_t len = raw_msg(msg, BTT_MSG_EXTENDED, payload, 0);
    expect_proto(msg, len, 10, "extended without sub-id");
}

static void test_piece_index_range(void **state)
{
    const uint8_t ids4[] = {BTT_MSG_HAVE, BTT_MSG_SUGGEST, BTT_MSG_ALLOWED_FAST};
    const uint8_t ids12[] = {BTT_MSG_REQUEST, BTT_MSG_CANCEL, BTT_MSG_REJECT};
    const uint32_t np = 10;
    btt_buf b;
    btt_buf_init(&b, 4096);
    for (uint32_t idx = 8; idx < 13; idx++) {
        for (size_t i = 0; i < 3; i++) {
            btt_buf_reset(&b);
            OK(btt_wire_have(&b, ids4[i], idx));
            if (idx < np) assert_int_equal(decode_one(b.data, b.len, np).index, idx);
            else expect_proto(b.data, b.len, np, "have index out of range");
            /* unknown piece count: not checked */
            assert_int_equal(decode_one(b.data, b.len, 0).index, idx);

            btt_buf_reset(&b);
            OK(btt_wire_request(&b, ids12[i], idx, 0, BTT_BLOCK_SIZE));
            if (idx < np) assert_int_equal(decode_one(b.data, b.len, np).index, idx);
            else expect_proto(b.data, b.len, np, "request index out of range");
            assert_int_equal(decode_one(b.data, b.len, 0).index, idx);
        }
        uint8_t msg[13 + 4];
        btt_wire_piece_header(msg, idx, 0, 4);
        memcpy(msg + 13, "data", 4);
        if (idx < np) assert_int_equal(decode_one(msg, sizeof msg, np).index, idx);
        else expect_proto(msg, sizeof msg, np, "piece index out of range");
    }
    btt_buf_reset(&b);
    OK(btt_wire_have(&b, BTT_MSG_HAVE, 0xffffffffu));
    expect_proto(b.data, b.len, np, "have 0xffffffff");
    btt_buf_free(&b);
}

static void test_bitfield_rejections(void **state)
{
    uint8_t msg[16];
    const uint8_t bits[8] = {0xff, 0xc0, 0, 0, 0, 0, 0, 0};
    /* 10 pieces: exactly 2 bytes */
    for (uint32_t n = 0; n <= 6; n++) {
        size_t len = raw_msg(msg, BTT_MSG_BITFIELD, bits, n);
        if (n == 2) (void)decode_one(msg, len, 10);
        else expect_proto(msg, len, 10, "bitfield of wrong length");
    }
    /* spare bits: pieces 10..15 live in the low 6 bits of byte 1 */
    for (int bit = 0; bit < 6; bit++) {
        uint8_t bad[2] = {0xff, (uint8_t)(0xc0 | (1u << bit))};
        size_t len = raw_msg(msg, BTT_MSG_BITFIELD, bad, 2);
        expect_proto(msg, len, 10, "spare bit set");
    }
    /* 9 pieces: spare bits are 0x7f of byte 1 */
    uint8_t nine[2] = {0x00, 0x80};
    size_t len = raw_msg(msg, BTT_MSG_BITFIELD, nine, 2);
    (void)decode_one(msg, len, 9);
    nine[1] = 0x81;
    len = raw_msg(msg, BTT_MSG_BITFIELD, nine, 2);
    expect_proto(msg, len, 9, "spare bit of 9 pieces");
    /* 15 pieces: one spare bit */
    uint8_t fifteen[2] = {0xff, 0xfe};
    len = raw_msg(msg, BTT_MSG_BITFIELD, fifteen, 2);
    (void)decode_one(msg, len, 15);
    fifteen[1] = 0xff;
    len = raw_msg(msg, BTT_MSG_BITFIELD, fifteen, 2);
    expect_proto(msg, len, 15, "spare bit of 15 pieces");
    /* an empty bitfield for a known torrent */
    len = raw_msg(msg, BTT_MSG_BITFIELD, bits, 0);
    expect_proto(msg, len, 1, "empty bitfield");
}

static void test_request_length_limits(void **state)
{
    const uint8_t ids[] = {BTT_MSG_REQUEST, BTT_MSG_CANCEL, BTT_MSG_REJECT};
    const uint32_t bad[] = {0, BTT_MAX_BLOCK + 1, 1u << 20, 0xffffffffu};
    btt_buf b;
    btt_buf_init(&b, 4096);
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < 4; j++) {
            btt_buf_reset(&b);
            OK(btt_wire_request(&b, ids[i], 1, 0, bad[j]));
            expect_proto(b.data, b.len, 10, "bad request length");
            expect_proto(b.data, b.len, 0, "bad request length, unknown pieces");
        }
    }
    btt_buf_free(&b);
    /* a piece message carrying more than 128 KiB */
    size_t total = 13 + BTT_MAX_BLOCK + 1;
    uint8_t *msg = calloc(1, total);
    btt_wire_piece_header(msg, 0, 0, BTT_MAX_BLOCK + 1);
    expect_proto(msg, total, 10, "piece of 128 KiB + 1");
    free(msg);
}

static void test_unknown_ids_skipped(void **state)
{
    const uint8_t ids[] = {10, 11, 12, 0x12, 0x13, 21, 0x42, 0xfe};
    const uint8_t payload[7] = {1, 2, 3, 4, 5, 6, 7};
    for (size_t i = 0; i < sizeof ids; i++) {
        for (uint32_t plen = 0; plen <= 7; plen += 7) {
            uint8_t stream[32];
            size_t len = raw_msg(stream, ids[i], payload, plen);
            size_t first = len;
            stream[len++] = 0;
            stream[len++] = 0;
            stream[len++] = 0;
            stream[len++] = 1;
            stream[len++] = BTT_MSG_UNCHOKE;
            btt_msg m;
            size_t consumed, need;
            btt_error err;
            btt_err rc = next_copy(stream, len, 10, 0, &m, &consumed, &need, &err);
            if (rc != BTT_OK || consumed != first) {
                print_error("unknown id %u (%u bytes): rc=%s consumed=%zu\n", ids[i], plen, btt_err_name(rc), consumed);
                fail();
            }
            assert_int_equal(m.id, ids[i]);
            m = decode_one(stream + first, len - first, 10);
            assert_int_equal(m.id, BTT_MSG_UNCHOKE);
            check_truncations(stream, first, 10);
        }
    }
    /* an unknown id of the largest acceptable size is still only skipped */
    size_t total = 4 + DEFAULT_MAX;
    uint8_t *big = calloc(1, total);
    be32(big, DEFAULT_MAX);
    big[4] = 0x30;
    btt_msg m = decode_one(big, total, 10);
    assert_int_equal(m.id, 0x30);
    free(big);
}

/* ------------------------------------------------------------------ BEP 10 */

static btt_ext_handshake parse_ok(const uint8_t *p, size_t len)
{
    btt_ext_handshake h;
    btt_error err;
    memset(&err, 0, sizeof err);
    btt_err rc = btt_ext_handshake_parse(p, len, &h, &err);
    if (rc != BTT_OK) {
        print_error("extension handshake '%.*s' should parse: %s\n", (int)len, (const char *)p, err.msg);
        fail();
    }
    return h;
}

static void test_ext_handshake_roundtrip(void **state)
{
    const btt_ext_item items[] = {{"ut_pex", 2}, {"ut_metadata", 3}, {"lt_donthave", 7}};
    btt_addr ip4 = {.family = 4, .ip = {1, 2, 3, 4}};
    btt_buf b;
    btt_buf_init(&b, 4096);
    OK(btt_ext_handshake_build(&b, items, 3, "btt 0.1.0", 6881, 250, &ip4, 31337));
    /* our handshake is canonical bencoding (sorted keys), so strict decoding takes it */
    btt_ben_doc *doc = NULL;
    btt_error err;
    OK(btt_ben_decode(b.data, b.len, 0, NULL, &doc, &err));
    btt_ben_free(doc);

    btt_ext_handshake h = parse_ok(b.data, b.len);
    assert_int_equal(h.num_m, 3);
    assert_int_equal(btt_ext_handshake_id(&h, "ut_metadata"), 3);
    assert_int_equal(btt_ext_handshake_id(&h, "ut_pex"), 2);
    assert_int_equal(btt_ext_handshake_id(&h, "lt_donthave"), 7);
    assert_int_equal(btt_ext_handshake_id(&h, "ut_holepunch"), 0);
    assert_int_equal(btt_ext_handshake_id(&h, ""), 0);
    assert_string_equal(h.v, "btt 0.1.0");
    assert_int_equal(h.p, 6881);
    assert_int_equal(h.reqq, 250);
    assert_true(h.has_yourip);
    assert_int_equal(h.yourip.family, 4);
    assert_memory_equal(h.yourip.ip, ip4.ip, 4);
    assert_int_equal(h.yourip.port, 0);
    assert_int_equal(h.metadata_size, 31337);
    assert_ptr_equal(h.raw, b.data);
    assert_int_equal(h.raw_len, b.len);

    /* IPv6 yourip */
    btt_addr ip6 = {.family = 6};
    for (int i = 0; i < 16; i++) ip6.ip[i] = (uint8_t)(0x20 + i);
    btt_buf_reset(&b);
    OK(btt_ext_handshake_build(&b, items, 1, NULL, 0, 0, &ip6, -1));
    h = parse_ok(b.data, b.len);
    assert_true(h.has_yourip);
    assert_int_equal(h.yourip.family, 6);
    assert_memory_equal(h.yourip.ip, ip6.ip, 16);
    assert_int_equal(h.num_m, 1);
    assert_int_equal(btt_ext_handshake_id(&h, "ut_pex"), 2);
    assert_string_equal(h.v, "");
    assert_int_equal(h.p, 0);
    assert_int_equal(h.reqq, 0);
    assert_int_equal(h.metadata_size, -1);

    /* nothing optional: exactly "d1:mdee"-like output with the keys left out */
    btt_buf_reset(&b);
    OK(btt_ext_handshake_build(&b, items + 1, 1, NULL, 0, 0, NULL, -1));
    assert_int_equal(b.len, strlen("d1:md11:ut_metadatai3eee"));
    assert_memory_equal(b.data, "d1:md11:ut_metadatai3eee", b.len);
    h = parse_ok(b.data, b.len);
    assert_false(h.has_yourip);
    assert_int_equal(h.metadata_size, -1);

    /* metadata_size 0 is a value, not "absent" */
    btt_buf_reset(&b);
    OK(btt_ext_handshake_build(&b, items + 1, 1, NULL, 0, 0, NULL, 0));
    assert_memory_equal(b.data, "d1:md11:ut_metadatai3ee13:metadata_sizei0ee", b.len);
    h = parse_ok(b.data, b.len);
    assert_int_equal(h.metadata_size, 0);

    /* no extensions at all (a non-NULL empty list; NULL is tested on its own, last) */
    btt_buf_reset(&b);
    OK(btt_ext_handshake_build(&b, items, 0, "x", 1, 1, NULL, -1));
    assert_memory_equal(b.data, "d1:mde1:pi1e4:reqqi1e1:v1:xe", b.len);
    h = parse_ok(b.data, b.len);
    assert_int_equal(h.num_m, 0);
    assert_string_equal(h.v, "x");
    assert_int_equal(h.p, 1);
    assert_int_equal(h.reqq, 1);

    /* too many extensions */
    btt_ext_item many[BTT_EXT_MAX + 1];
    char names[BTT_EXT_MAX + 1][8];
    for (int i = 0; i <= BTT_EXT_MAX; i++) {
        snprintf(names[i], sizeof names[i], "x_%02d", i);
        many[i] = (btt_ext_item){names[i], (uint8_t)(i + 1)};
    }
    btt_buf_reset(&b);
    OK(btt_ext_handshake_build(&b, many, BTT_EXT_MAX, NULL, 0, 0, NULL, -1));
    h = parse_ok(b.data, b.len);
    assert_int_equal(h.num_m, BTT_EXT_MAX);
    for (int i = 0; i < BTT_EXT_MAX; i++) assert_int_equal(btt_ext_handshake_id(&h, names[i]), i + 1);
    btt_buf_reset(&b);
    assert_int_not_equal(btt_ext_handshake_build(&b, many, BTT_EXT_MAX + 1, NULL, 0, 0, NULL, -1), BTT_OK);
    btt_buf_free(&b);
}

static void test_ext_handshake_fields(void **state)
{
    /* a real-world style handshake: keys unsorted, extra keys, binary yourip */
    btt_ext_handshake h;
    const char part1[] = "d1:md6:ut_pexi1e11:ut_metadatai2e11:lt_donthavei0ee1:pi51413e4:reqqi500e1:v13:qBittorrent 4"
                         "6:yourip4:";
    const uint8_t ip[4] = {127, 0, 0, 1};
    const char part2[] = "13:metadata_sizei123456e12:complete_agoi-1ee";
    uint8_t buf[512];
    size_t n = 0;
    memcpy(buf + n, part1, sizeof part1 - 1);
    n += sizeof part1 - 1;
    memcpy(buf + n, ip, 4);
    n += 4;
    memcpy(buf + n, part2, sizeof part2 - 1);
    n += sizeof part2 - 1;
    h = parse_ok(buf, n);
    assert_int_equal(h.num_m, 3);
    assert_int_equal(btt_ext_handshake_id(&h, "ut_pex"), 1);
    assert_int_equal(btt_ext_handshake_id(&h, "ut_metadata"), 2);
    assert_int_equal(btt_ext_handshake_id(&h, "lt_donthave"), 0); /* 0 = disabled */
    assert_int_equal(h.p, 51413);
    assert_int_equal(h.reqq, 500);
    assert_string_equal(h.v, "qBittorrent 4");
    assert_true(h.has_yourip);
    assert_int_equal(h.yourip.family, 4);
    assert_memory_equal(h.yourip.ip, ip, 4);
    assert_int_equal(h.metadata_size, 123456);

    /* out-of-range or mistyped values are ignored, not trusted */
    const char *odd = "d1:md3:bigi300e3:negi-1e3:str1:x5:validi9ee1:pi70000e4:reqqi-5e"
                      "13:metadata_sizei-7e6:yourip5:abcde1:vi42ee";
    h = parse_ok((const uint8_t *)odd, strlen(odd));
    assert_int_equal(btt_ext_handshake_id(&h, "big"), 0);
    assert_int_equal(btt_ext_handshake_id(&h, "neg"), 0);
    assert_int_equal(btt_ext_handshake_id(&h, "str"), 0);
    assert_int_equal(btt_ext_handshake_id(&h, "valid"), 9);
    assert_int_equal(h.p, 0);
    assert_int_equal(h.reqq, 0);
    assert_int_equal(h.metadata_size, -1);
    assert_false(h.has_yourip);
    assert_string_equal(h.v, "");

    /* m that is not a dict, empty dict */
    h = parse_ok((const uint8_t *)"d1:mli1eee", 10);
    assert_int_equal(h.num_m, 0);
    h = parse_ok((const uint8_t *)"de", 2);
    assert_int_equal(h.num_m, 0);
    assert_int_equal(h.metadata_size, -1);

    /* an over-long extension name is skipped, a 31-byte one fits */
    const char *names = "d1:md32:abcdefghijklmnopqrstuvwxyz01234"
                        "5i1e31:abcdefghijklmnopqrstuvwxyz01234i2eee";
    h = parse_ok((const uint8_t *)names, strlen(names));
    assert_int_equal(h.num_m, 1);
    assert_int_equal(btt_ext_handshake_id(&h, "abcdefghijklmnopqrstuvwxyz01234"), 2);

    /* v: control characters are made printable, long names are cut to fit */
    const char *v = "d1:v5:a\nb\x01ze";
    h = parse_ok((const uint8_t *)v, strlen(v));
    assert_string_equal(h.v, "a?b?z");
    char longv[200];
    int k = snprintf(longv, sizeof longv, "d1:v100:");
    memset(longv + k, 'q', 100);
    longv[k + 100] = 'e';
    h = parse_ok((const uint8_t *)longv, (size_t)k + 101);
    assert_int_equal(strlen(h.v), sizeof h.v - 1);

    /* more than BTT_EXT_MAX extensions: the first ones are kept, nothing overflows */
    char many[2048];
    int m = snprintf(many, sizeof many, "d1:md");
    for (int i = 0; i < 40; i++) m += snprintf(many + m, sizeof many - (size_t)m, "4:e_%02di%de", i, i + 1);
    m += snprintf(many + m, sizeof many - (size_t)m, "ee");
    h = parse_ok((const uint8_t *)many, (size_t)m);
    assert_int_equal(h.num_m, BTT_EXT_MAX);
    assert_int_equal(btt_ext_handshake_id(&h, "e_00"), 1);
}

static void test_ext_handshake_malformed(void **state)
{
    const char *bad[] = {
        "",           /* nothing */
        "i42e",       /* not a dict */
        "le",         /* a list */
        "4:spam",     /* a string */
        "garbage",    /* not bencoding */
        "d1:m",       /* truncated */
        "d1:md6:ut_pexi1e", /* unterminated */
        "d1:mi1e",    /* dict without its end */
        "\x00\x01\x02",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        btt_ext_handshake h;
        btt_error err;
        memset(&err, 0, sizeof err);
        size_t len = i == sizeof bad / sizeof bad[0] - 1 ? 3 : strlen(bad[i]);
        btt_err rc = btt_ext_handshake_parse((const uint8_t *)bad[i], len, &h, &err);
        if (rc != BTT_EPROTO) {
            print_error("'%s': expected BTT_EPROTO, got %s\n", bad[i], btt_err_name(rc));
            fail();
        }
        assert_int_equal(err.code, BTT_EPROTO);
        assert_int_equal(btt_ext_handshake_parse((const uint8_t *)bad[i], len, &h, NULL), BTT_EPROTO);
    }
    /* nesting deeper than any handshake needs is refused, not recursed into */
    char deep[4096];
    size_t n = 0;
    deep[n++] = 'd';
    deep[n++] = '1';
    deep[n++] = ':';
    deep[n++] = 'x';
    for (int i = 0; i < 1000; i++) deep[n++] = 'l';
    for (int i = 0; i < 1000; i++) deep[n++] = 'e';
    deep[n++] = 'e';
    btt_ext_handshake h;
    assert_int_equal(btt_ext_handshake_parse((const uint8_t *)deep, n, &h, NULL), BTT_EPROTO);
}

/* ------------------------------------------------------------------ BEP 6 */

static void test_allowed_fast_bep6_example(void **state)
{
    /* BEP 6: "7 piece allowed fast set for torrent with 1313 pieces and hex infohash
     * aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa for node with IP 80.4.4.200:
     * 1059,431,808,1217,287,376,1188" and the 9 piece set adds "353,508". */
    const uint8_t ip[4] = {80, 4, 4, 200};
    uint8_t ih[20];
    memset(ih, 0xaa, 20);
    const uint32_t want7[] = {1059, 431, 808, 1217, 287, 376, 1188};
    const uint32_t want9[] = {1059, 431, 808, 1217, 287, 376, 1188, 353, 508};
    uint32_t out[16];
    memset(out, 0xff, sizeof out);
    assert_int_equal(btt_allowed_fast_set(ip, ih, 1313, 7, out), 7);
    for (int i = 0; i < 7; i++) assert_int_equal(out[i], want7[i]);
    assert_int_equal(out[7], 0xffffffffu); /* nothing written past k */
    memset(out, 0xff, sizeof out);
    assert_int_equal(btt_allowed_fast_set(ip, ih, 1313, 9, out), 9);
    for (int i = 0; i < 9; i++) assert_int_equal(out[i], want9[i]);
    assert_int_equal(out[9], 0xffffffffu);

    /* only the /24 counts: 80.4.4.1 gets the same set */
    const uint8_t ip2[4] = {80, 4, 4, 1};
    assert_int_equal(btt_allowed_fast_set(ip2, ih, 1313, 9, out), 9);
    for (int i = 0; i < 9; i++) assert_int_equal(out[i], want9[i]);
    /* another /24 gets another set */
    const uint8_t ip3[4] = {80, 4, 5, 200};
    assert_int_equal(btt_allowed_fast_set(ip3, ih, 1313, 9, out), 9);
    assert_true(memcmp(out, want9, sizeof want9) != 0);
}

static void test_allowed_fast_small(void **state)
{
    const uint8_t ip[4] = {10, 0, 0, 1};
    uint8_t ih[20];
    memset(ih, 0x5c, 20);
    uint32_t out[16];
    /* fewer pieces than k: every piece, once */
    for (uint32_t np = 1; np < 10; np++) {
        memset(out, 0xff, sizeof out);
        size_t n = btt_allowed_fast_set(ip, ih, np, 10, out);
        assert_int_equal(n, np);
        bool seen[10] = {false};
        for (size_t i = 0; i < n; i++) {
            assert_true(out[i] < np);
            assert_false(seen[out[i]]);
            seen[out[i]] = true;
        }
        assert_int_equal(out[n], 0xffffffffu);
    }
    /* no pieces (metadata not known yet) or k = 0: nothing, no division by zero */
    assert_int_equal(btt_allowed_fast_set(ip, ih, 0, 10, out), 0);
    assert_int_equal(btt_allowed_fast_set(ip, ih, 100, 0, out), 0);
    /* distinct and in range for a larger k */
    uint32_t big[64];
    assert_int_equal(btt_allowed_fast_set(ip, ih, 70, 64, big), 64);
    for (int i = 0; i < 64; i++) {
        assert_true(big[i] < 70);
        for (int j = 0; j < i; j++) assert_int_not_equal(big[i], big[j]);
    }
}

/* One extra top-level key lands in sorted order, so the dictionary stays canonical bencoding. */
static void test_ext_handshake_build_with(void **state)
{
    static const btt_ext_item items[] = {{"ut_metadata", 2}};
    static const struct {
        const char *key, *want;
    } cases[] = {
        {"btt_speed", "d9:btt_speedi7e1:md11:ut_metadatai2ee1:pi6881e4:reqqi250e1:v1:xe"},
        {"q", "d1:md11:ut_metadatai2ee1:pi6881e1:qi7e4:reqqi250e1:v1:xe"},
        {"zz", "d1:md11:ut_metadatai2ee1:pi6881e4:reqqi250e1:v1:x2:zzi7ee"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        btt_buf b;
        btt_buf_init(&b, 4096);
        OK(btt_ext_handshake_build_with(&b, items, 1, "x", 6881, 250, NULL, -1, cases[i].key,
                                        (const uint8_t *)"i7e", 3));
        assert_int_equal(b.len, strlen(cases[i].want));
        assert_memory_equal(b.data, cases[i].want, b.len);
        btt_ben_doc *doc;
        OK(btt_ben_decode(b.data, b.len, 0, NULL, &doc, NULL)); /* strict: keys sorted */
        btt_ben_free(doc);
        btt_buf_free(&b);
    }
    btt_buf b;
    btt_buf_init(&b, 4096);
    assert_int_equal(btt_ext_handshake_build_with(&b, items, 1, NULL, 0, 0, NULL, -1, "reqq", (const uint8_t *)"i1e", 3),
                     BTT_EINVAL);
    btt_buf_free(&b);
}

/* No extensions to offer, passed as (NULL, 0). Kept last in the list: under UBSan a
 * memcpy(dst, NULL, 0) in the builder aborts the whole binary. */
static void test_ext_handshake_build_null_list(void **state)
{
    btt_buf b;
    btt_buf_init(&b, 4096);
    OK(btt_ext_handshake_build(&b, NULL, 0, NULL, 6881, 0, NULL, -1));
    assert_int_equal(b.len, strlen("d1:mde1:pi6881ee"));
    assert_memory_equal(b.data, "d1:mde1:pi6881ee", b.len);
    btt_ext_handshake h = parse_ok(b.data, b.len);
    assert_int_equal(h.num_m, 0);
    assert_int_equal(h.p, 6881);
    btt_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_roundtrip),
        cmocka_unit_test(test_handshake_partial),
        cmocka_unit_test(test_handshake_garbage_early),
        cmocka_unit_test(test_reserved_bits),
        cmocka_unit_test(test_simple_roundtrip),
        cmocka_unit_test(test_have_roundtrip),
        cmocka_unit_test(test_request_roundtrip),
        cmocka_unit_test(test_bitfield_roundtrip),
        cmocka_unit_test(test_port_roundtrip),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_extended_roundtrip),
        cmocka_unit_test(test_piece_roundtrip),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_oversized_prefix),
        cmocka_unit_test(test_wrong_fixed_lengths),
        cmocka_unit_test(test_piece_index_range),
        cmocka_unit_test(test_bitfield_rejections),
        cmocka_unit_test(test_request_length_limits),
        cmocka_unit_test(test_unknown_ids_skipped),
        cmocka_unit_test(test_ext_handshake_roundtrip),
        cmocka_unit_test(test_ext_handshake_fields),
        cmocka_unit_test(test_ext_handshake_malformed),
        cmocka_unit_test(test_allowed_fast_bep6_example),
        cmocka_unit_test(test_allowed_fast_small),
        cmocka_unit_test(test_ext_handshake_build_with),
        cmocka_unit_test(test_ext_handshake_build_null_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
