/* libFuzzer target: arbitrary datagrams into a DHT node.
 *
 * The input is a sequence of records: one control byte (the sender, low 3 bits: one of eight
 * addresses, IPv4 and IPv6, loopback or not; bit 3: advance the clock by a second and tick;
 * bit 4: start a get_peers lookup), two bytes of length, then the datagram. Every datagram
 * the node sends goes to one of the eight addresses' families and decodes; whatever arrives,
 * the node's tables, pending queries and queues stay within their caps. Answers from the
 * node are fed back as if the fuzzer had spoofed them, to reach the answer paths. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/dht.h"
#include "fuzz.h"

static btt_krpc_msg msg;

static btt_addr sender(unsigned k)
{
    btt_addr a;
    memset(&a, 0, sizeof a);
    a.port = (uint16_t)(6881 + (k & 1));
    if (k & 4) {
        a.family = 6;
        a.ip[15] = (k & 2) ? 1 : 7; /* ::1 or ::7 */
    } else {
        a.family = 4;
        a.ip[0] = (k & 2) ? 127 : 10;
        a.ip[3] = 1;
    }
    return a;
}

static void drain(btt_dht *d, const btt_dht_config *c)
{
    btt_dht_packet p;
    size_t n = 0;
    while (btt_dht_pop_send(d, &p)) {
        CHECK(p.len > 0 && p.len <= BTT_DHT_MAX_PACKET);
        CHECK((p.to.family == 4 && c->ipv4) || (p.to.family == 6 && c->ipv6));
        CHECK(btt_krpc_decode(p.data, p.len, &msg, NULL) == BTT_OK);
        n++;
    }
    CHECK(n <= c->max_out);
    btt_dht_event ev;
    while (btt_dht_pop_event(d, &ev)) CHECK(ev.num_peers <= BTT_DHT_EV_MAX_PEERS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btt_dht_config c;
    btt_dht_config_default(&c);
    c.ipv6 = true;
    c.seed = 42;
    c.max_pending = 16;
    c.max_lookups = 4;
    c.max_torrents = 8;
    c.max_peers_per_torrent = 4;
    c.max_peers = 16;
    c.max_out = 64;
    c.max_events = 16;
    memset(c.id, 0x5a, sizeof c.id);
    uint64_t now = 1000000;
    btt_dht *d;
    CHECK(btt_dht_new(&c, now, &d, NULL) == BTT_OK);
    /* something to answer: a ping outstanding to each sender */
    for (unsigned k = 0; k < 8; k++) {
        btt_addr a = sender(k);
        CHECK(btt_dht_add_node(d, &a, now) == BTT_OK);
    }
    drain(d, &c);

    size_t off = 0;
    while (off + 3 <= size) {
        uint8_t ctl = data[off];
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        off += 3;
        if (len > size - off) len = size - off;
        btt_addr from = sender(ctl & 7);
        btt_dht_receive(d, data + off, len, &from, now);
        off += len;
        if (ctl & 8) {
            now += 1000;
            btt_dht_tick(d, now);
        }
        if (ctl & 16) {
            uint8_t ih[20];
            memset(ih, ctl, sizeof ih);
            uint32_t h;
            btt_err e = btt_dht_get_peers(d, ih, (ctl & 32) != 0, 6881, false, now, &h);
            CHECK(e == BTT_OK || e == BTT_ETOOBIG);
        }
        btt_dht_stats s;
        btt_dht_get_stats(d, &s);
        CHECK(s.pending <= c.max_pending && s.lookups <= c.max_lookups);
        CHECK(s.torrents <= c.max_torrents && s.peers_stored <= c.max_peers);
        drain(d, &c);
    }
    btt_buf b;
    btt_buf_init(&b, 1u << 20);
    CHECK(btt_dht_save(d, now, &b) == BTT_OK);
    btt_dht_free(d);
    /* the saved state loads into a fresh node */
    CHECK(btt_dht_new(&c, now, &d, NULL) == BTT_OK);
    CHECK(btt_dht_load(d, b.data, b.len, now, NULL) == BTT_OK);
    btt_dht_free(d);
    btt_buf_free(&b);
    return 0;
}
