/* libFuzzer target: the BitTorrent Speed message codec (btt/speed_msg.h).
 *
 * Any payload either parses or is refused with BTT_EPROTO. A parsed message of a known type
 * builds again, and the built bytes parse to the same message and build to the same bytes
 * (parse -> build -> parse -> build is stable). The same input is also read as a handshake
 * "btt_speed" dict. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/speed_msg.h"
#include "fuzz.h"

static void hello(const uint8_t *data, size_t size)
{
    btt_ben_doc *doc;
    if (btt_ben_decode(data, size, 0, NULL, &doc, NULL) != BTT_OK) return;
    btt_speed_hello h;
    btt_err e = btt_speed_hello_parse(btt_ben_root(doc), &h, NULL);
    btt_ben_free(doc);
    CHECK(e == BTT_OK || e == BTT_EPROTO);
    if (e != BTT_OK) return;
    btt_buf b;
    btt_buf_init(&b, 4096);
    CHECK(btt_speed_hello_build(&b, &h) == BTT_OK);
    CHECK(btt_ben_decode(b.data, b.len, 0, NULL, &doc, NULL) == BTT_OK);
    btt_speed_hello again;
    CHECK(btt_speed_hello_parse(btt_ben_root(doc), &again, NULL) == BTT_OK);
    CHECK(memcmp(&again, &h, sizeof h) == 0);
    btt_ben_free(doc);
    btt_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hello(data, size);
    btt_speed_msg m;
    btt_err e = btt_speed_msg_parse(data, size, &m, NULL);
    CHECK(e == BTT_OK || e == BTT_EPROTO);
    if (e != BTT_OK || m.type == BTT_SPEED_UNKNOWN) return 0;
    btt_buf b1, b2;
    btt_buf_init(&b1, BTT_SPEED_MSG_MAX);
    btt_buf_init(&b2, BTT_SPEED_MSG_MAX);
    CHECK(btt_speed_msg_build(&b1, &m) == BTT_OK);
    CHECK(b1.len <= size); /* the canonical form drops unknown keys, never adds bytes */
    btt_speed_msg again;
    CHECK(btt_speed_msg_parse(b1.data, b1.len, &again, NULL) == BTT_OK);
    CHECK(memcmp(&again, &m, sizeof m) == 0);
    CHECK(btt_speed_msg_build(&b2, &again) == BTT_OK);
    CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    btt_buf_free(&b1);
    btt_buf_free(&b2);
    return 0;
}
