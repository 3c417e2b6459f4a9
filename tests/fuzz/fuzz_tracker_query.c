/* libFuzzer target: what an HTTP client sends a tracker. The input is parsed as a request
 * head and, as the query string, as an announce, a scrape and a bidscrape; every accepted
 * announce is run through a small swarm table and its reply encoded (and read back by btt's
 * own tracker client parser). The tracker honours BEP 7 ipv4= / ipv6=, so those endpoints go
 * through the tables too; every accepted scrape query is answered (a full scrape page when it
 * names no info_hash), and the input is also loaded as a whitelist replacing the last one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/announce.h"
#include "btt/tracker_core.h"
#include "btt/tracker_proto.h"
#include "fuzz.h"

static btt_trk *trk, *wtrk;
static uint64_t clock_s = 1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!trk) {
        btt_trk_config cfg = {.interval = 60, .max_torrents = 64, .max_peers = 256, .seed = 1, .ip_params = true};
        if (btt_trk_new(&cfg, &trk, NULL) != BTT_OK) abort();
        cfg.whitelist = true;
        if (btt_trk_new(&cfg, &wtrk, NULL) != BTT_OK) abort();
    }
    const char *s = (const char *)data;
    btt_trk_http_req r;
    btt_trk_http_result hr = btt_trk_http_parse_head(s, size, &r);
    if (hr == BTT_TRK_HTTP_DONE) {
        CHECK(r.head_len <= size && r.head_len <= BTT_TRK_HTTP_HEAD_MAX);
        CHECK(r.path >= s && r.path + r.path_len <= s + size);
        if (r.query) CHECK(r.query >= s && r.query + r.query_len <= s + size);
    } else if (hr == BTT_TRK_HTTP_BAD) {
        CHECK(r.status >= 400 && r.status < 600 && r.reason);
    }

    const char *failure = NULL;
    btt_trk_announce a;
    bool compact;
    if (btt_trk_query_announce(s, size, &a, &compact, &failure) == BTT_OK) {
        CHECK(a.addr.port != 0);
        if (a.has_ip4) CHECK(a.ip4.family == 4 && a.ip4.port != 0);
        if (a.has_ip6) CHECK(a.ip6.family == 6 && a.ip6.port != 0);
        a.addr.family = (size & 1) ? 6 : 4;
        memset(a.addr.ip, 0, 16);
        a.addr.ip[0] = (uint8_t)size;
        static uint8_t p4[6 * BTT_TRK_NUMWANT_MAX], p6[18 * BTT_TRK_NUMWANT_MAX];
        static uint64_t b4[BTT_TRK_NUMWANT_MAX], b6[BTT_TRK_NUMWANT_MAX];
        btt_trk_peers pe = {p4, p6, b4, b6, 0, 0, 3};
        btt_trk_counts c;
        clock_s += size % 7;
        if (btt_trk_announce_do(trk, &a, clock_s, &pe, &c, &failure) == BTT_OK) {
            CHECK(pe.n4 + pe.n6 <= BTT_TRK_NUMWANT_MAX);
            static char body[BTT_TRK_REPLY_MAX];
            size_t n = btt_trk_encode_announce(body, sizeof body, &c, 60, &pe, compact, a.bidding);
            CHECK(n > 0);
            btt_announce_resp resp;
            CHECK(btt_http_announce_parse((const uint8_t *)body, n, &resp, NULL) == BTT_OK);
            CHECK(resp.num_peers == pe.n4 + pe.n6);
            btt_announce_resp_free(&resp);
            btt_trk_counts wc;
            (void)btt_trk_announce_do(wtrk, &a, clock_s, &pe, &wc, &failure);
        } else {
            CHECK(failure != NULL);
        }
    } else {
        CHECK(failure != NULL && failure[0]);
    }
    uint8_t hashes[BTT_TRK_SCRAPE_MAX][20];
    size_t n;
    uint64_t cursor;
    failure = NULL;
    if (btt_trk_query_scrape(s, size, hashes, &n, &cursor, &failure) == BTT_OK) {
        CHECK(n <= BTT_TRK_SCRAPE_MAX);
        static uint8_t page[BTT_TRK_FULLSCRAPE_PAGE][20];
        static btt_trk_counts pc[BTT_TRK_FULLSCRAPE_PAGE];
        uint64_t next;
        size_t np = btt_trk_scrape_all(trk, cursor, BTT_TRK_FULLSCRAPE_PAGE, page, pc, &next);
        CHECK(np <= BTT_TRK_FULLSCRAPE_PAGE && (next == 0 || next > cursor));
        static char sbody[BTT_TRK_REPLY_MAX];
        CHECK(btt_trk_encode_scrape(sbody, sizeof sbody, (const uint8_t(*)[20])page, pc, np, next) > 0);
    } else {
        CHECK(failure != NULL);
    }
    size_t dropped;
    btt_error werr = {0};
    btt_err we = btt_trk_whitelist_replace(wtrk, s, size, &dropped, &werr);
    CHECK(we == BTT_OK || we == BTT_EINVAL || we == BTT_ENOMEM);
    size_t limit;
    if (btt_trk_query_bidscrape(s, size, &limit, &failure) == BTT_OK) CHECK(limit <= BTT_TRK_BIDSCRAPE_MAX);
    if ((size & 63) == 0) btt_trk_expire(trk, clock_s, 64);
    return 0;
}
