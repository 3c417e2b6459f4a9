/* wire.c - peer wire codec: handshake, messages, BEP 10 handshake, BEP 6 allowed fast set.
 *
 * BEP 3: "All later integers sent in the protocol are encoded as four bytes big-endian ...
 * messages ... take the form of length prefix. The message is ... keep-alives, which are zero
 * length." */
#include "btt/wire.h"

#include <stdlib.h>
#include <string.h>

#include "btt/bencode.h"

static const char pstr[] = "BitTorrent protocol";

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

btt_err btt_wire_handshake_parse(const uint8_t *p, size_t len, btt_handshake *out, size_t *consumed,
                                 btt_error *err)
{
    *consumed = 0;
    /* Check what we have so far, so garbage is rejected without waiting for 68 bytes. */
    if (len >= 1 && p[0] != 19) return btt_error_set(err, BTT_EPROTO, "not a BitTorrent handshake");
    size_t n = len < 20 ? len : 20;
    if (n > 1 && memcmp(p + 1, pstr, n - 1) != 0) return btt_error_set(err, BTT_EPROTO, "not a BitTorrent handshake");
    if (len < BTT_HANDSHAKE_LEN) return BTT_OK;
    memcpy(out->reserved, p + 20, 8);
    memcpy(out->info_hash, p + 28, 20);
    memcpy(out->peer_id, p + 48, 20);
    *consumed = BTT_HANDSHAKE_LEN;
    return BTT_OK;
}

void btt_wire_handshake_build(uint8_t out[BTT_HANDSHAKE_LEN], const uint8_t reserved[8],
                              const uint8_t info_hash[BTT_SHA1_LEN], const uint8_t peer_id[20])
{
    out[0] = 19;
    memcpy(out + 1, pstr, 19);
    memcpy(out + 20, reserved, 8);
    memcpy(out + 28, info_hash, 20);
    memcpy(out + 48, peer_id, 20);
}

static btt_err bad(btt_error *err, const char *what, uint32_t len)
{
    return btt_error_set(err, BTT_EPROTO, "%s message with bad length %u", what, len);
}

btt_err btt_wire_next(const uint8_t *p, size_t len, const btt_wire_limits *lim, btt_msg *out, size_t *consumed,
                      size_t *need, btt_error *err)
{
    *consumed = 0;
    *need = 4;
    if (len < 4) return BTT_OK;
    uint32_t mlen = rd32(p);
    uint32_t max = lim && lim->max_message ? lim->max_message : (1u << 20) + BTT_BLOCK_SIZE;
    if (mlen > max) return btt_error_set(err, BTT_EPROTO, "message of %u bytes exceeds the limit of %u", mlen, max);
    *need = (size_t)mlen + 4;
    if (len < *need) return BTT_OK;
    memset(out, 0, sizeof *out);
    if (mlen == 0) {
        out->id = BTT_MSG_KEEPALIVE;
        *consumed = 4;
        return BTT_OK;
    }
    const uint8_t *b = p + 5;
    uint32_t plen = mlen - 1;
    uint32_t npieces = lim ? lim->num_pieces : 0;
    out->id = p[4];
    switch (out->id) {
    case BTT_MSG_CHOKE:
    case BTT_MSG_UNCHOKE:
    case BTT_MSG_INTERESTED:
    case BTT_MSG_NOT_INTERESTED:
    case BTT_MSG_HAVE_ALL:
    case BTT_MSG_HAVE_NONE:
        if (plen != 0) return bad(err, "state", mlen);
        break;
    case BTT_MSG_HAVE:
    case BTT_MSG_SUGGEST:
    case BTT_MSG_ALLOWED_FAST:
        if (plen != 4) return bad(err, "have", mlen);
        out->index = rd32(b);
        if (npieces && out->index >= npieces)
            return btt_error_set(err, BTT_EPROTO, "piece index %u out of range (%u pieces)", out->index, npieces);
        break;
    case BTT_MSG_BITFIELD:
        if (npieces && plen != (npieces + 7) / 8) return bad(err, "bitfield", mlen);
        if (npieces && (npieces & 7) && (b[plen - 1] & (0xff >> (npieces & 7))))
            return btt_error_set(err, BTT_EPROTO, "bitfield has spare bits set");
        out->data = b;
        out->data_len = plen;
        break;
    case BTT_MSG_REQUEST:
    case BTT_MSG_CANCEL:
    case BTT_MSG_REJECT:
        if (plen != 12) return bad(err, "request", mlen);
        out->index = rd32(b);
        out->begin = rd32(b + 4);
        out->length = rd32(b + 8);
        if (npieces && out->index >= npieces)
            return btt_error_set(err, BTT_EPROTO, "piece index %u out of range (%u pieces)", out->index, npieces);
        if (out->length == 0 || out->length > BTT_MAX_BLOCK)
            return btt_error_set(err, BTT_EPROTO, "request for a block of %u bytes", out->length);
        break;
    case BTT_MSG_PIECE:
        if (plen < 8 || plen - 8 > BTT_MAX_BLOCK) return bad(err, "piece", mlen);
        out->index = rd32(b);
        out->begin = rd32(b + 4);
        out->data = b + 8;
        out->data_len = plen - 8;
        out->length = plen - 8;
        if (npieces && out->index >= npieces)
            return btt_error_set(err, BTT_EPROTO, "piece index %u out of range (%u pieces)", out->index, npieces);
        break;
    case BTT_MSG_PORT:
        if (plen != 2) return bad(err, "port", mlen);
        out->port = (uint16_t)(b[0] << 8 | b[1]);
        break;
    case BTT_MSG_EXTENDED:
        if (plen < 1) return bad(err, "extended", mlen);
        out->ext_id = b[0];
        out->data = b + 1;
        out->data_len = plen - 1;
        break;
    default:
        /* Unknown ids are skipped, as BEP 3 clients must tolerate future messages. */
        out->data = b;
        out->data_len = plen;
        break;
    }
    *consumed = *need;
    return BTT_OK;
}

static btt_err put_header(btt_buf *b, uint32_t len, uint8_t id)
{
    uint8_t h[5];
    wr32(h, len);
    h[4] = id;
    return btt_buf_append(b, h, 5);
}

btt_err btt_wire_simple(btt_buf *b, uint8_t id) { return put_header(b, 1, id); }

btt_err btt_wire_have(btt_buf *b, uint8_t id, uint32_t index)
{
    uint8_t m[9];
    wr32(m, 5);
    m[4] = id;
    wr32(m + 5, index);
    return btt_buf_append(b, m, sizeof m);
}

btt_err btt_wire_request(btt_buf *b, uint8_t id, uint32_t index, uint32_t begin, uint32_t length)
{
    uint8_t m[17];
    wr32(m, 13);
    m[4] = id;
    wr32(m + 5, index);
    wr32(m + 9, begin);
    wr32(m + 13, length);
    return btt_buf_append(b, m, sizeof m);
}

btt_err btt_wire_bitfield(btt_buf *b, const uint8_t *bits, size_t nbytes)
{
    btt_err e = put_header(b, (uint32_t)nbytes + 1, BTT_MSG_BITFIELD);
    return e ? e : btt_buf_append(b, bits, nbytes);
}

btt_err btt_wire_port(btt_buf *b, uint16_t port)
{
    uint8_t m[7];
    wr32(m, 3);
    m[4] = BTT_MSG_PORT;
    m[5] = (uint8_t)(port >> 8);
    m[6] = (uint8_t)port;
    return btt_buf_append(b, m, sizeof m);
}

btt_err btt_wire_keepalive(btt_buf *b)
{
    static const uint8_t z[4];
    return btt_buf_append(b, z, 4);
}

btt_err btt_wire_extended(btt_buf *b, uint8_t ext_id, const uint8_t *payload, size_t len)
{
    btt_err e = put_header(b, (uint32_t)len + 2, BTT_MSG_EXTENDED);
    if (!e) e = btt_buf_append_byte(b, ext_id);
    return e ? e : btt_buf_append(b, payload, len);
}

void btt_wire_piece_header(uint8_t out[13], uint32_t index, uint32_t begin, uint32_t len)
{
    wr32(out, len + 9);
    out[4] = BTT_MSG_PIECE;
    wr32(out + 5, index);
    wr32(out + 9, begin);
}

/* ---- BEP 10 ---- */

btt_err btt_ext_handshake_parse(const uint8_t *p, size_t len, btt_ext_handshake *out, btt_error *err)
{
    memset(out, 0, sizeof *out);
    out->metadata_size = -1;
    btt_ben_limits lim = {16, 4096, 1u << 20};
    btt_ben_doc *doc;
    btt_err e = btt_ben_decode(p, len, BTT_BEN_TOLERANT, &lim, &doc, err);
    if (e) {
        btt_error_prefix(err, "extension handshake");
        if (err) err->code = BTT_EPROTO;
        return BTT_EPROTO;
    }
    const btt_ben *root = btt_ben_root(doc);
    if (btt_ben_typeof(root) != BTT_BEN_DICT) {
        btt_ben_free(doc);
        return btt_error_set(err, BTT_EPROTO, "extension handshake is not a dictionary");
    }
    const btt_ben *m = btt_ben_dict_get(root, "m");
    for (const btt_ben *k = btt_ben_dict_first(m); k && out->num_m < BTT_EXT_MAX; k = btt_ben_dict_next(k)) {
        const uint8_t *name;
        size_t nl;
        int64_t id;
        if (!btt_ben_get_str(k, &name, &nl) || nl >= sizeof out->m[0].name || memchr(name, 0, nl) ||
            !btt_ben_get_int(btt_ben_dict_value(k), &id) || id < 0 || id > 255)
            continue;
        memcpy(out->m[out->num_m].name, name, nl);
        out->m[out->num_m].name[nl] = 0;
        out->m[out->num_m].id = (uint8_t)id;
        out->num_m++;
    }
    const uint8_t *s;
    size_t sl;
    int64_t v;
    if (btt_ben_get_str(btt_ben_dict_get(root, "v"), &s, &sl)) {
        if (sl >= sizeof out->v) sl = sizeof out->v - 1;
        for (size_t i = 0; i < sl; i++) out->v[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
    }
    if (btt_ben_get_int(btt_ben_dict_get(root, "p"), &v) && v > 0 && v < 65536) out->p = (uint16_t)v;
    if (btt_ben_get_int(btt_ben_dict_get(root, "reqq"), &v) && v > 0) out->reqq = v > 100000 ? 100000 : (uint32_t)v;
    if (btt_ben_get_int(btt_ben_dict_get(root, "metadata_size"), &v) && v >= 0) out->metadata_size = v;
    if (btt_ben_get_str(btt_ben_dict_get(root, "yourip"), &s, &sl) && (sl == 4 || sl == 16)) {
        out->has_yourip = true;
        out->yourip.family = sl == 4 ? 4 : 6;
        memcpy(out->yourip.ip, s, sl);
    }
    out->raw = p;
    out->raw_len = btt_ben_consumed(doc); /* trailing bytes are not part of the dictionary */
    btt_ben_free(doc);
    return BTT_OK;
}

uint8_t btt_ext_handshake_id(const btt_ext_handshake *h, const char *name)
{
    for (size_t i = 0; i < h->num_m; i++)
        if (strcmp(h->m[i].name, name) == 0) return h->m[i].id;
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const btt_ext_item *)a)->name, ((const btt_ext_item *)b)->name);
}

/* Emits the extra key/value once, before the first fixed key that sorts after it. */
typedef struct extra_kv {
    const char *key;
    const uint8_t *val;
    size_t len;
    bool done;
} extra_kv;

static btt_err extra_before(btt_buf *b, extra_kv *x, const char *next_key)
{
    if (!x->key || x->done || (next_key && strcmp(x->key, next_key) > 0)) return BTT_OK;
    x->done = true;
    btt_err e = btt_benc_cstr(b, x->key);
    e |= btt_benc_raw(b, x->val, x->len);
    return e;
}

btt_err btt_ext_handshake_build_with(btt_buf *b, const btt_ext_item *m, size_t nm, const char *v, uint16_t p,
                                     uint32_t reqq, const btt_addr *yourip, int64_t metadata_size,
                                     const char *extra_key, const uint8_t *extra, size_t extra_len)
{
    static const char *const fixed[] = {"m", "metadata_size", "p", "reqq", "v", "yourip"};
    btt_ext_item sorted[BTT_EXT_MAX];
    if (nm > BTT_EXT_MAX) return BTT_EINVAL;
    if (extra_key)
        for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
            if (!strcmp(extra_key, fixed[i])) return BTT_EINVAL;
    if (nm) memcpy(sorted, m, nm * sizeof *m);
    qsort(sorted, nm, sizeof *sorted, cmp_item);
    extra_kv x = {extra_key, extra, extra_len, false};
    btt_err e = btt_benc_dict(b);
    e |= extra_before(b, &x, "m");
    e |= btt_benc_cstr(b, "m");
    e |= btt_benc_dict(b);
    for (size_t i = 0; i < nm; i++) {
        e |= btt_benc_cstr(b, sorted[i].name);
        e |= btt_benc_int(b, sorted[i].id);
    }
    e |= btt_benc_end(b);
    e |= extra_before(b, &x, "metadata_size");
    if (metadata_size >= 0) {
        e |= btt_benc_cstr(b, "metadata_size");
        e |= btt_benc_int(b, metadata_size);
    }
    e |= extra_before(b, &x, "p");
    if (p) {
        e |= btt_benc_cstr(b, "p");
        e |= btt_benc_int(b, p);
    }
    e |= extra_before(b, &x, "reqq");
    if (reqq) {
        e |= btt_benc_cstr(b, "reqq");
        e |= btt_benc_int(b, reqq);
    }
    e |= extra_before(b, &x, "v");
    if (v) {
        e |= btt_benc_cstr(b, "v");
        e |= btt_benc_cstr(b, v);
    }
    e |= extra_before(b, &x, "yourip");
    if (yourip) {
        e |= btt_benc_cstr(b, "yourip");
        e |= btt_benc_str(b, yourip->ip, yourip->family == 6 ? 16 : 4);
    }
    e |= extra_before(b, &x, NULL);
    e |= btt_benc_end(b);
    return e ? BTT_ENOMEM : BTT_OK;
}

btt_err btt_ext_handshake_build(btt_buf *b, const btt_ext_item *m, size_t nm, const char *v, uint16_t p,
                                uint32_t reqq, const btt_addr *yourip, int64_t metadata_size)
{
    return btt_ext_handshake_build_with(b, m, nm, v, p, reqq, yourip, metadata_size, NULL, NULL, 0);
}

/* BEP 6: "x = 0xFFFFFF00 & ip; x.append(infohash); while len(a) < k: x = SHA1(x); for i in
 * [0:5] and len(a) < k: j = i*4; y = x[j:j+4]; index = y % sz; if index not in a: a.append(index)" */
size_t btt_allowed_fast_set(const uint8_t ipv4[4], const uint8_t info_hash[BTT_SHA1_LEN], uint32_t num_pieces,
                            size_t k, uint32_t *out)
{
    if (k > num_pieces) k = num_pieces;
    uint8_t x[24];
    memcpy(x, ipv4, 3);
    x[3] = 0;
    memcpy(x + 4, info_hash, 20);
    uint8_t h[20];
    size_t n = 0, xl = 24;
    const uint8_t *src = x;
    while (n < k) {
        btt_sha1(src, xl, h);
        src = h;
        xl = 20;
        for (int i = 0; i < 5 && n < k; i++) {
            uint32_t idx = rd32(h + 4 * i) % num_pieces;
            bool dup = false;
            for (size_t j = 0; j < n; j++) dup |= out[j] == idx;
            if (!dup) out[n++] = idx;
        }
    }
    return n;
}
