/* libFuzzer target: arbitrary packet sequences against live uTP connections.
 *
 * A multiplexer holds one outgoing connection (to 10.0.0.2:1) and accepts incoming ones. The
 * input is a script of records: [op][dt][len][bytes...]: op selects the source address
 * (the connected peer or a stranger) and what to do (deliver the bytes as a datagram, with the
 * header's connection id, seq and ack rewritten close to the live connection's values so the
 * deep paths are reached; advance the clock by dt ms; write or read on the connection; close;
 * release). After every step all output is drained and the invariants are checked: memory is
 * bounded (half-open and total connections), nothing crashes, sanitizers stay quiet. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/utp.h"
#include "fuzz.h"

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btt_utp_config cfg;
    btt_utp_config_default(&cfg);
    cfg.send_buf = 64 * 1024;
    cfg.recv_buf = 32 * 1024;
    cfg.max_conns = 8;
    cfg.max_half_open = 4;
    cfg.max_half_open_per_ip = 2;
    btt_utp_mux *m = btt_utp_mux_new(&cfg, 42);
    CHECK(m != NULL);
    btt_addr peer = {.family = 4, .ip = {10, 0, 0, 2}, .port = 1};
    btt_addr stranger = {.family = 4, .ip = {10, 0, 0, 3}, .port = 2};
    uint64_t now = 1000000;
    btt_utp_conn *c = btt_utp_connect(m, &peer, now);
    CHECK(c != NULL);
    uint16_t recv_id, send_id;
    btt_utp_conn_ids(c, &recv_id, &send_id);
    uint16_t last_seq = 0, last_ack = 0; /* from the connection's own packets */
    uint8_t out[BTT_UTP_MAX_PACKET], pkt[2048], junk[4096];
    size_t off = 0;
    while (off + 3 <= size) {
        uint8_t op = data[off], dt = data[off + 1];
        size_t len = data[off + 2];
        off += 3;
        if (len > size - off) len = size - off;
        const uint8_t *b = data + off;
        off += len;
        now += (uint64_t)dt * 1000;
        switch (op % 8) {
        case 0:
        case 1: { /* a datagram from the peer, ids and numbers pulled near the live ones */
            if (len > sizeof pkt) break;
            memcpy(pkt, b, len);
            if (len >= BTT_UTP_HEADER_LEN) {
                pkt[0] = (uint8_t)((pkt[0] & 0xf0) | 1);
                if (op & 0x10) wr16(pkt + 2, (op & 0x20) ? send_id : recv_id);
                if (op & 0x40) wr16(pkt + 16, (uint16_t)(last_ack + 1 + (pkt[16] & 7)));
                if (op & 0x80) wr16(pkt + 18, (uint16_t)(last_seq - (pkt[18] & 7)));
            }
            btt_utp_mux_input(m, (op & 1) ? &stranger : &peer, pkt, len, now);
            break;
        }
        case 2:
            btt_utp_mux_tick(m, now);
            break;
        case 3:
            if (c) {
                memset(junk, op, sizeof junk);
                btt_utp_write(c, junk, (size_t)len * 16);
            }
            break;
        case 4:
            if (c) btt_utp_read(c, junk, (size_t)len * 16);
            break;
        case 5:
            if (c && (op & 0x80)) btt_utp_close(c);
            break;
        case 6:
            if (c && (op & 0x80)) {
                btt_utp_release(c);
                c = NULL;
            }
            break;
        default:
            now += (uint64_t)dt * 100000; /* a long jump: timers fire */
            btt_utp_mux_tick(m, now);
            break;
        }
        btt_addr to;
        size_t n;
        while ((n = btt_utp_mux_transmit(m, now, out, sizeof out, &to)) > 0) {
            btt_utp_packet pk;
            CHECK(n <= BTT_UTP_MAX_PACKET);
            CHECK(btt_utp_packet_parse(out, n, &pk, NULL) == BTT_OK);
            CHECK(pk.payload_len <= cfg.max_payload);
            if (btt_addr_eq(&to, &peer) && pk.type != BTT_UTP_RESET) {
                last_seq = pk.seq;
                last_ack = pk.ack;
            }
        }
        btt_utp_event ev;
        while (btt_utp_mux_next_event(m, &ev)) {
            if (ev.conn != c && (ev.type == BTT_UTP_EV_ACCEPT)) btt_utp_release(ev.conn);
            if (ev.conn == c && (ev.type == BTT_UTP_EV_CLOSED || ev.type == BTT_UTP_EV_ERROR)) {
                btt_utp_release(c);
                c = NULL;
            }
        }
        btt_utp_mux_stats st;
        btt_utp_mux_get_stats(m, &st);
        CHECK(st.half_open <= cfg.max_half_open);
        CHECK(st.conns <= cfg.max_conns);
        if (c) {
            btt_utp_conn_stats cs;
            btt_utp_conn_get_stats(c, &cs);
            CHECK(cs.recv_wnd <= cfg.recv_buf);
            CHECK(btt_utp_readable(c) <= cfg.recv_buf);
            CHECK(btt_utp_writable(c) <= cfg.send_buf);
        }
    }
    btt_utp_mux_free(m);
    return 0;
}
