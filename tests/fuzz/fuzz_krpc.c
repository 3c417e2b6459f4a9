/* libFuzzer target: the KRPC decoder and encoder (BEP 5, 32, 42, 43).
 *
 * Every input is decoded; what is accepted is encoded again (unknown methods aside), and the
 * encoding must decode to the same fields and re-encode to the same bytes. Refusals must be
 * BTT_EPROTO or BTT_ETOOBIG with a zeroed message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/dht.h"
#include "fuzz.h"

static btt_krpc_msg m1, m2;

static void check_addr(const btt_addr *a)
{
    CHECK(a->family == 4 || a->family == 6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btt_error err;
    btt_err e = btt_krpc_decode(data, size, &m1, &err);
    if (e != BTT_OK) {
        CHECK(e == BTT_EPROTO || e == BTT_ETOOBIG);
        CHECK(err.code == e);
        static const btt_krpc_msg zero;
        CHECK(memcmp(&m1, &zero, sizeof m1) == 0);
        return 0;
    }
    CHECK(size <= BTT_DHT_MAX_INPUT);
    CHECK(m1.tid_len >= 1 && m1.tid_len <= BTT_KRPC_MAX_TID);
    CHECK(m1.num_nodes <= BTT_KRPC_MAX_NODES && m1.num_nodes6 <= BTT_KRPC_MAX_NODES);
    CHECK(m1.num_values <= BTT_KRPC_MAX_VALUES);
    CHECK(m1.token_len <= BTT_KRPC_MAX_TOKEN);
    for (size_t i = 0; i < m1.num_nodes; i++) CHECK(m1.nodes[i].addr.family == 4);
    for (size_t i = 0; i < m1.num_nodes6; i++) CHECK(m1.nodes6[i].addr.family == 6);
    for (size_t i = 0; i < m1.num_values; i++) check_addr(&m1.values[i]);
    CHECK(memchr(m1.error_msg, 0, sizeof m1.error_msg) != NULL);
    if (m1.kind == BTT_KRPC_QUERY) CHECK(m1.method >= BTT_KRPC_PING && m1.method <= BTT_KRPC_UNKNOWN);
    else CHECK(m1.method == BTT_KRPC_NONE && !m1.ro);
    if (m1.method == BTT_KRPC_ANNOUNCE_PEER) CHECK(m1.has_token && m1.token_len > 0 && (m1.port || m1.implied_port));

    btt_buf b1, b2;
    btt_buf_init(&b1, 1u << 16);
    btt_buf_init(&b2, 1u << 16);
    e = btt_krpc_encode(&b1, &m1);
    if (m1.method == BTT_KRPC_UNKNOWN) {
        CHECK(e == BTT_EINVAL && b1.len == 0);
    } else {
        CHECK(e == BTT_OK);
        /* a canonical encoding is never longer than what it came from (unknown keys drop) */
        CHECK(b1.len <= size);
        CHECK(btt_krpc_decode(b1.data, b1.len, &m2, &err) == BTT_OK);
        CHECK(memcmp(&m1, &m2, sizeof m1) == 0);
        CHECK(btt_krpc_encode(&b2, &m2) == BTT_OK);
        CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    }
    btt_buf_free(&b1);
    btt_buf_free(&b2);
    return 0;
}
