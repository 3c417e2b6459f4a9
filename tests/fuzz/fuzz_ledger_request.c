/* libFuzzer target: the body parser of POST /v1/ops (btt/ledger_request.h).
 *
 * Any input either parses or gets one of the API's 400 codes with a message. A parsed request has
 * a valid request id and an operation whose canonical encoding is exactly the bytes sent; building
 * the JSON body again from the parsed request parses to the same request. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/buf.h"
#include "btt/ledger_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

static const char *const codes[] = {"bad-json", "bad-request", "bad-request-id", "bad-hex", "malformed-op"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    btt_ledger_request r;
    btt_ledger_request_error e;
    if (btt_ledger_request_parse((const char *)data, size, &r, &e) != 0) {
        CHECK(e.status == 400 && e.message[0]);
        bool known = false;
        for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) known |= !strcmp(e.code, codes[i]);
        CHECK(known);
        return 0;
    }
    size_t idlen = strlen(r.id);
    CHECK(idlen >= 1 && idlen <= BTT_LEDGER_REQUEST_ID_MAX);
    for (size_t i = 0; i < idlen; i++) CHECK(r.id[i] >= 0x21 && r.id[i] <= 0x7e);

    btt_buf b;
    btt_buf_init(&b, BTT_LEDGER_OP_MAX);
    CHECK(btt_ledger_op_encode(&r.op, &b) == BTT_OK);
    CHECK(b.len == r.raw_len && memcmp(b.data, r.raw, b.len) == 0);
    btt_buf_free(&b);

    /* rebuild the body: the id needs JSON escaping for '"' and '\\' only (it is printable ASCII) */
    char body[2 * BTT_LEDGER_REQUEST_ID_MAX + 2 * BTT_LEDGER_OP_MAX + 64];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"request_id\":\"");
    for (size_t i = 0; i < idlen; i++) {
        if (r.id[i] == '"' || r.id[i] == '\\') body[n++] = '\\';
        body[n++] = r.id[i];
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "\",\"op\":\"");
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < r.raw_len; i++) {
        body[n++] = hx[r.raw[i] >> 4];
        body[n++] = hx[r.raw[i] & 15];
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "\"}");
    btt_ledger_request again;
    CHECK(btt_ledger_request_parse(body, n, &again, &e) == 0);
    CHECK(!strcmp(again.id, r.id) && again.raw_len == r.raw_len && !memcmp(again.raw, r.raw, r.raw_len));
    return 0;
}
