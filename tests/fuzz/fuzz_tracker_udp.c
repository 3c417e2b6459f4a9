/* libFuzzer target: UDP tracker packets as a BEP 15 server receives them. Every packet is
 * parsed; accepted announces and scrapes run through a small swarm table and their replies are
 * read back by btt's own UDP tracker client parser; connection ids are checked for the sender. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/announce.h"
#include "btt/tracker_core.h"
#include "btt/tracker_proto.h"
#include "fuzz.h"

static btt_trk *trk;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!trk) {
        btt_trk_config cfg = {.interval = 60, .max_torrents = 64, .max_peers = 256, .seed = 2};
        if (btt_trk_new(&cfg, &trk, NULL) != BTT_OK) abort();
    }
    static const uint8_t key[16] = {7};
    btt_addr from = {.family = (size & 1) ? 6 : 4, .ip = {10, 0, 0, (uint8_t)size}, .port = 4242};
    uint64_t now = 1000 + size;
    btt_trk_udp_req r;
    const char *failure = NULL;
    uint8_t out[2048];
    btt_udp_reply rep;
    btt_trk_udp_result res = btt_trk_udp_parse(data, size, &r, &failure);
    if (res == BTT_TRK_UDP_IGNORE) {
        CHECK(size < 16);
        return 0;
    }
    CHECK(size >= 16);
    if (res == BTT_TRK_UDP_ERROR) {
        CHECK(failure != NULL);
        size_t n = btt_trk_udp_error_reply(out, sizeof out, r.txid, failure);
        CHECK(btt_udp_reply_parse(out, n, false, &rep, NULL) == BTT_OK && rep.action == 3);
        return 0;
    }
    if (r.action == 0) {
        uint64_t id = btt_trk_udp_connid(key, &from, now);
        CHECK(btt_trk_udp_connid_ok(key, &from, now + 59, id));
        return 0;
    }
    (void)btt_trk_udp_connid_ok(key, &from, now, r.conn_id);
    btt_trk_counts c;
    if (r.action == 1) {
        r.ann.addr.family = from.family;
        memcpy(r.ann.addr.ip, from.ip, 16);
        static uint8_t p4[6 * BTT_TRK_NUMWANT_MAX], p6[18 * BTT_TRK_NUMWANT_MAX];
        btt_trk_peers pe = {p4, p6, NULL, NULL, 0, 0, from.family == 6 ? 2u : 1u};
        if (btt_trk_announce_do(trk, &r.ann, now, &pe, &c, &failure) != BTT_OK) return 0;
        size_t stride = from.family == 6 ? 18 : 6, np = from.family == 6 ? pe.n6 : pe.n4;
        CHECK((from.family == 6 ? pe.n4 : pe.n6) == 0);
        size_t n = btt_trk_udp_announce_reply(out, sizeof out, r.txid, 60, &c, from.family == 6 ? p6 : p4, np, stride);
        CHECK(btt_udp_reply_parse(out, n, from.family == 6, &rep, NULL) == BTT_OK);
        CHECK(rep.action == 1 && rep.txid == r.txid);
        btt_announce_resp_free(&rep.announce);
        return 0;
    }
    CHECK(r.action == 2 && r.nhashes >= 1 && r.nhashes <= BTT_TRK_SCRAPE_MAX);
    size_t n = btt_trk_udp_scrape_reply_head(out, r.txid);
    for (size_t i = 0; i < r.nhashes; i++) {
        btt_trk_scrape(trk, r.hashes + 20 * i, i == 0, &c);
        n += btt_trk_udp_scrape_reply_entry(out + n, &c);
    }
    CHECK(n == 8 + 12 * r.nhashes);
    return 0;
}
