/* utp_packet.c - the BEP 29 header and extension codec. */
#include "btt/utp.h"

#include <string.h>

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

bool btt_utp_looks_like(const uint8_t *p, size_t len)
{
    return len >= BTT_UTP_HEADER_LEN && (p[0] & 0x0f) == BTT_UTP_VERSION && (p[0] >> 4) <= BTT_UTP_SYN;
}

btt_err btt_utp_packet_parse(const uint8_t *p, size_t len, btt_utp_packet *out, btt_error *err)
{
    memset(out, 0, sizeof *out);
    if (len < BTT_UTP_HEADER_LEN) return btt_error_set(err, BTT_EPROTO, "utp: %zu bytes is shorter than a header", len);
    if ((p[0] & 0x0f) != BTT_UTP_VERSION) return btt_error_set(err, BTT_EPROTO, "utp: version %u", p[0] & 0x0f);
    out->type = p[0] >> 4;
    if (out->type > BTT_UTP_SYN) return btt_error_set(err, BTT_EPROTO, "utp: unknown type %u", out->type);
    out->conn_id = rd16(p + 2);
    out->ts_us = rd32(p + 4);
    out->ts_diff_us = rd32(p + 8);
    out->wnd = rd32(p + 12);
    out->seq = rd16(p + 16);
    out->ack = rd16(p + 18);

    size_t off = BTT_UTP_HEADER_LEN;
    uint8_t ext = p[1];
    unsigned n = 0;
    while (ext != 0) {
        if (++n > BTT_UTP_MAX_EXTENSIONS) return btt_error_set(err, BTT_EPROTO, "utp: more than %d extensions", BTT_UTP_MAX_EXTENSIONS);
        if (len - off < 2) return btt_error_set(err, BTT_EPROTO, "utp: extension header past the end");
        uint8_t next = p[off], elen = p[off + 1];
        off += 2;
        if (len - off < elen) return btt_error_set(err, BTT_EPROTO, "utp: extension %u of %u bytes past the end", ext, elen);
        if (ext == BTT_UTP_EXT_SACK) {
            if (out->sack) return btt_error_set(err, BTT_EPROTO, "utp: two selective acks");
            /* BEP 29 says a multiple of 4 bytes; libtorrent sends any length (22 seen) */
            if (elen == 0) return btt_error_set(err, BTT_EPROTO, "utp: empty selective ack");
            out->sack = p + off;
            out->sack_len = elen;
        }
        off += elen;
        ext = next;
    }
    out->payload_len = len - off;
    out->payload = out->payload_len ? p + off : NULL;
    if (out->type == BTT_UTP_DATA && out->payload_len == 0) return btt_error_set(err, BTT_EPROTO, "utp: empty DATA");
    if (out->type != BTT_UTP_DATA && out->payload_len != 0)
        return btt_error_set(err, BTT_EPROTO, "utp: payload on a packet of type %u", out->type);
    return BTT_OK;
}

size_t btt_utp_packet_build(const btt_utp_packet *pk, uint8_t *out, size_t cap)
{
    if (pk->type > BTT_UTP_SYN) return 0;
    if ((pk->type == BTT_UTP_DATA) != (pk->payload_len > 0)) return 0;
    if (pk->sack_len && !pk->sack) return 0;
    size_t need = BTT_UTP_HEADER_LEN + (pk->sack_len ? 2u + pk->sack_len : 0) + pk->payload_len;
    if (need > cap) return 0;
    out[0] = (uint8_t)(pk->type << 4 | BTT_UTP_VERSION);
    out[1] = pk->sack_len ? BTT_UTP_EXT_SACK : 0;
    wr16(out + 2, pk->conn_id);
    wr32(out + 4, pk->ts_us);
    wr32(out + 8, pk->ts_diff_us);
    wr32(out + 12, pk->wnd);
    wr16(out + 16, pk->seq);
    wr16(out + 18, pk->ack);
    size_t off = BTT_UTP_HEADER_LEN;
    if (pk->sack_len) {
        out[off] = 0;
        out[off + 1] = pk->sack_len;
        memcpy(out + off + 2, pk->sack, pk->sack_len);
        off += 2u + pk->sack_len;
    }
    if (pk->payload_len) memcpy(out + off, pk->payload, pk->payload_len);
    return need;
}
