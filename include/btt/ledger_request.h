/* btt/ledger_request.h - the bodies of POST /v1/ops and /v1/batch (docs/ledger-api.md), parsed
 * without I/O.
 *
 * The HTTP server (src/ledger/server.c) hands the raw body here and answers with what comes
 * back: either a decoded operation under its request id, or the API error (status, stable code,
 * message) to send. Kept apart from the server so the parser can be fuzzed on its own
 * (tests/fuzz/fuzz_ledger_request.c). */
#ifndef BTT_LEDGER_REQUEST_H
#define BTT_LEDGER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "btt/ledger.h"

#define BTT_LEDGER_REQUEST_ID_MAX 64

typedef struct btt_ledger_request {
    char id[BTT_LEDGER_REQUEST_ID_MAX + 1]; /* 1 to 64 characters 0x21..0x7e, NUL-terminated */
    uint8_t raw[BTT_LEDGER_OP_MAX];         /* the operation's signed encoding as sent */
    size_t raw_len;
    btt_ledger_op op; /* its strict decoding */
} btt_ledger_request;

/* Why a body was refused: the HTTP status, the API's stable error code ("bad-json",
 * "bad-request", "bad-request-id", "bad-hex", "malformed-op") and a human message. */
typedef struct btt_ledger_request_error {
    unsigned status;
    const char *code;
    char message[256];
} btt_ledger_request_error;

/* Parses body[0..len) (not NUL-terminated; any bytes): a JSON object with exactly the strings
 * "request_id" and "op" (no duplicate keys), a valid request id, op as an even number of 2 to
 * 2 * BTT_LEDGER_OP_MAX hex digits that decodes strictly (btt_ledger_op_decode). Returns 0 and
 * fills *out, or -1 and fills *e (out is then unspecified). Does not check the signature: the
 * ledger does. */
int btt_ledger_request_parse(const char *body, size_t len, btt_ledger_request *out, btt_ledger_request_error *e);

/* Parses the body of POST /v1/batch: an object with exactly the key "requests", an array of 1 to
 * max objects each as above. All or nothing: returns 0 with *n requests in out[0..*n), or -1 with
 * *e naming the first bad element ("requests[3]: ...") and *n = 0. */
int btt_ledger_batch_parse(const char *body, size_t len, btt_ledger_request *out, size_t max, size_t *n,
                           btt_ledger_request_error *e);

#endif
