/* libFuzzer target: what a tracker sends back. The input is parsed as an HTTP announce
 * response, an HTTP scrape response and a UDP reply (IPv4 and IPv6 sockets); every peer
 * returned must be well formed and within the documented cap. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/announce.h"
#include "fuzz.h"

static void check_peers(const btt_announce_resp *r)
{
    CHECK(r->num_peers <= BTT_ANNOUNCE_MAX_PEERS);
    for (size_t i = 0; i < r->num_peers; i++) {
        CHECK(r->peers[i].family == 4 || r->peers[i].family == 6);
        CHECK(r->peers[i].port != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btt_announce_resp r;
    btt_error err;
    memset(&r, 0, sizeof r);
    if (btt_http_announce_parse(data, size, &r, &err) == BTT_OK) check_peers(&r);
    else CHECK(r.num_peers == 0 && r.peers == NULL);
    btt_announce_resp_free(&r);

    static const uint8_t hash[20] = {1, 2, 3};
    btt_scrape_resp s;
    if (btt_http_scrape_parse(data, size, hash, &s, &err) == BTT_OK)
        CHECK(s.complete >= -1 && s.incomplete >= -1 && s.downloaded >= -1);

    for (int v6 = 0; v6 < 2; v6++) {
        btt_udp_reply u;
        memset(&u, 0, sizeof u);
        if (btt_udp_reply_parse(data, size, v6, &u, &err) == BTT_OK) {
            CHECK(u.action <= BTT_UDP_ERROR);
            if (u.action == BTT_UDP_ANNOUNCE) check_peers(&u.announce);
            CHECK(memchr(u.message, 0, sizeof u.message) != NULL);
        }
        btt_announce_resp_free(&u.announce);
    }
    return 0;
}
