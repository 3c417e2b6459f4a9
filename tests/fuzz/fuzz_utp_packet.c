/* libFuzzer target: the uTP packet parser (BEP 29 header and extension chain).
 *
 * Whatever parses must lie inside the input, obey the documented rules (type <= 4, a payload
 * exactly on DATA, a selective ack non-empty), and build back into a
 * datagram that parses to the same fields. btt_utp_looks_like must accept everything that
 * parses. The parse runs on a heap copy of exactly the input's length. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/utp.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    CHECK(p != NULL);
    if (size) memcpy(p, data, size);
    btt_utp_packet pk;
    btt_error err;
    if (btt_utp_packet_parse(p, size, &pk, &err) != BTT_OK) {
        CHECK(err.code == BTT_EPROTO);
        free(p);
        return 0;
    }
    CHECK(btt_utp_looks_like(p, size));
    CHECK(pk.type <= BTT_UTP_SYN);
    CHECK((pk.type == BTT_UTP_DATA) == (pk.payload_len > 0));
    if (pk.payload_len) CHECK(pk.payload >= p + BTT_UTP_HEADER_LEN && pk.payload + pk.payload_len == p + size);
    if (pk.sack) {
        CHECK(pk.sack_len > 0);
        CHECK(pk.sack >= p + BTT_UTP_HEADER_LEN + 2 && pk.sack + pk.sack_len <= p + size);
    } else {
        CHECK(pk.sack_len == 0);
    }
    uint8_t out[BTT_UTP_HEADER_LEN + 2 + 255 + 65536];
    size_t n = btt_utp_packet_build(&pk, out, sizeof out);
    CHECK(n > 0 && n <= size);
    btt_utp_packet back;
    CHECK(btt_utp_packet_parse(out, n, &back, NULL) == BTT_OK);
    CHECK(back.type == pk.type && back.conn_id == pk.conn_id && back.ts_us == pk.ts_us &&
          back.ts_diff_us == pk.ts_diff_us && back.wnd == pk.wnd && back.seq == pk.seq && back.ack == pk.ack);
    CHECK(back.sack_len == pk.sack_len && (!pk.sack_len || memcmp(back.sack, pk.sack, pk.sack_len) == 0));
    CHECK(back.payload_len == pk.payload_len &&
          (!pk.payload_len || memcmp(back.payload, pk.payload, pk.payload_len) == 0));
    free(p);
    return 0;
}
