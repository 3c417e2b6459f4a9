/* libFuzzer target: the body parsers of POST /v1/ops and /v1/batch (btt/ledger_request.h).
 *
 * Any input either parses or gets one of the API's 400 codes with a message. A parsed request has
 * a valid request id and an operation whose canonical encoding is exactly the bytes sent; building
 * the JSON body again from the parsed request parses to the same request. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/buf.h"
#include "btt/ledger_request.h"
#include "fuzz.h"

static const char *const codes[] = {"bad-json", "bad-request", "bad-request-id", "bad-hex", "malformed-op"};

static void check_error(const btt_ledger_request_error *e)
{
    CHECK(e->status == 400 && e->message[0]);
    bool known = false;
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) known |= !strcmp(e->code, codes[i]);
    CHECK(known);
}

/* A parsed request: a valid id, an op whose canonical encoding is exactly the bytes sent. Writes
 * the body that sends it again to body (returns its length). */
static size_t check_request(const btt_ledger_request *r, char *body, size_t cap)
{
    size_t idlen = strlen(r->id);
    CHECK(idlen >= 1 && idlen <= BTT_LEDGER_REQUEST_ID_MAX);
    for (size_t i = 0; i < idlen; i++) CHECK(r->id[i] >= 0x21 && r->id[i] <= 0x7e);

    btt_buf b;
    btt_buf_init(&b, BTT_LEDGER_OP_MAX);
    CHECK(btt_ledger_op_encode(&r->op, &b) == BTT_OK);
    CHECK(b.len == r->raw_len && memcmp(b.data, r->raw, b.len) == 0);
    btt_buf_free(&b);

    /* the id needs JSON escaping for '"' and '\\' only (it is printable ASCII) */
    size_t n = (size_t)snprintf(body, cap, "{\"request_id\":\"");
    for (size_t i = 0; i < idlen; i++) {
        if (r->id[i] == '"' || r->id[i] == '\\') body[n++] = '\\';
        body[n++] = r->id[i];
    }
    n += (size_t)snprintf(body + n, cap - n, "\",\"op\":\"");
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < r->raw_len; i++) {
        body[n++] = hx[r->raw[i] >> 4];
        body[n++] = hx[r->raw[i] & 15];
    }
    n += (size_t)snprintf(body + n, cap - n, "\"}");
    return n;
}

static bool same(const btt_ledger_request *a, const btt_ledger_request *b)
{
    return !strcmp(a->id, b->id) && a->raw_len == b->raw_len && !memcmp(a->raw, b->raw, a->raw_len);
}

#define BATCH 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static btt_ledger_request r, again, batch[BATCH];
    btt_ledger_request_error e;
    char body[2 * BTT_LEDGER_REQUEST_ID_MAX + 2 * BTT_LEDGER_OP_MAX + 64];
    char wrapped[sizeof body + 32];

    /* POST /v1/batch: all or nothing, each element as a single request */
    size_t n = 99;
    if (btt_ledger_batch_parse((const char *)data, size, batch, BATCH, &n, &e) != 0) {
        check_error(&e);
        CHECK(n == 0);
    } else {
        CHECK(n >= 1 && n <= BATCH);
        for (size_t i = 0; i < n; i++) {
            size_t len = check_request(&batch[i], body, sizeof body);
            CHECK(btt_ledger_request_parse(body, len, &again, &e) == 0 && same(&again, &batch[i]));
        }
    }

    /* POST /v1/ops */
    if (btt_ledger_request_parse((const char *)data, size, &r, &e) != 0) {
        check_error(&e);
        return 0;
    }
    size_t len = check_request(&r, body, sizeof body);
    CHECK(btt_ledger_request_parse(body, len, &again, &e) == 0 && same(&again, &r));
    /* the same request as a batch of one */
    int w = snprintf(wrapped, sizeof wrapped, "{\"requests\":[%.*s]}", (int)len, body);
    CHECK(btt_ledger_batch_parse(wrapped, (size_t)w, batch, BATCH, &n, &e) == 0 && n == 1 && same(&batch[0], &r));
    return 0;
}
