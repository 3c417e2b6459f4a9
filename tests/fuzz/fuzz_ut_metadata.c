/* libFuzzer target: BEP 9 metadata messages. A message that parses is rebuilt and must parse
 * to the same fields and bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/ut_metadata.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btt_metadata_msg m;
    btt_error err;
    if (btt_metadata_parse(data, size, &m, &err) != BTT_OK) return 0;
    CHECK(m.type == BTT_METADATA_REQUEST || m.type == BTT_METADATA_DATA || m.type == BTT_METADATA_REJECT);
    CHECK(m.data_len <= BTT_METADATA_PIECE);
    btt_buf b;
    btt_buf_init(&b, 1 << 20);
    btt_err e = m.type == BTT_METADATA_DATA ? btt_metadata_build_data(&b, m.piece, (uint64_t)m.total_size, m.data, m.data_len)
                                            : btt_metadata_build(&b, m.type, m.piece);
    CHECK(e == BTT_OK);
    btt_metadata_msg r;
    CHECK(btt_metadata_parse(b.data, b.len, &r, &err) == BTT_OK);
    CHECK(r.type == m.type && r.piece == m.piece && r.total_size == m.total_size && r.data_len == m.data_len);
    CHECK(m.data_len == 0 || memcmp(r.data, m.data, m.data_len) == 0);
    btt_buf_free(&b);
    return 0;
}
