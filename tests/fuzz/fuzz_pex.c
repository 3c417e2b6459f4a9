/* libFuzzer target: BEP 11 ut_pex messages. A message that parses is rebuilt (at most 50 peers
 * of each kind) and must parse to the same peers, flags and order. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/pex.h"
#include "fuzz.h"

static btt_pex_msg m, r;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btt_error err;
    if (btt_pex_parse(data, size, &m, &err) != BTT_OK) return 0;
    CHECK(m.num_added <= BTT_PEX_PARSE_MAX && m.num_dropped <= BTT_PEX_PARSE_MAX);
    size_t na = m.num_added < BTT_PEX_MAX_ADDED ? m.num_added : BTT_PEX_MAX_ADDED;
    size_t nd = m.num_dropped < BTT_PEX_MAX_ADDED ? m.num_dropped : BTT_PEX_MAX_ADDED;
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    CHECK(btt_pex_build(&b, m.added, na, m.dropped, nd) == BTT_OK);
    CHECK(btt_pex_parse(b.data, b.len, &r, &err) == BTT_OK);
    CHECK(r.num_added == na && r.num_dropped == nd);
    /* the rebuild groups IPv4 before IPv6, as the parser does, so the order is kept */
    for (size_t i = 0; i < na; i++) {
        CHECK(r.added[i].addr.port != 0);
        CHECK(btt_addr_eq(&r.added[i].addr, &m.added[i].addr));
        CHECK(r.added[i].flags == m.added[i].flags);
    }
    for (size_t i = 0; i < nd; i++) CHECK(btt_addr_eq(&r.dropped[i], &m.dropped[i]));
    btt_buf_free(&b);
    return 0;
}
