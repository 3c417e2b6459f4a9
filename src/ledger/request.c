/* request.c - the body of POST /v1/ops (btt/ledger_request.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "btt/buf.h"
#include "btt/ledger_request.h"

static int refuse(btt_ledger_request_error *e, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(btt_ledger_request_error *e, const char *code, const char *fmt, ...)
{
    e->status = 400;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

static bool valid_id(const char *id, size_t len)
{
    if (len < 1 || len > BTT_LEDGER_REQUEST_ID_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (id[i] < 0x21 || id[i] > 0x7e) return false; /* also rejects an embedded NUL */
    return true;
}

int btt_ledger_request_parse(const char *body, size_t len, btt_ledger_request *out, btt_ledger_request_error *e)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) return refuse(e, "bad-json", "body is not JSON: %s (line %d)", jerr.text, jerr.line);
    json_t *jr = json_object_get(j, "request_id"), *jo = json_object_get(j, "op");
    if (!json_is_object(j) || json_object_size(j) != 2 || !json_is_string(jr) || !json_is_string(jo)) {
        json_decref(j);
        return refuse(e, "bad-request", "body must be an object with exactly the strings \"request_id\" and \"op\"");
    }
    const char *rid = json_string_value(jr), *hex = json_string_value(jo);
    size_t rid_len = json_string_length(jr), hex_len = json_string_length(jo);
    if (!valid_id(rid, rid_len)) {
        json_decref(j);
        return refuse(e, "bad-request-id", "request_id must be 1 to %d printable ASCII characters, no spaces",
                      BTT_LEDGER_REQUEST_ID_MAX);
    }
    if (hex_len == 0 || hex_len % 2 || hex_len / 2 > sizeof out->raw ||
        btt_unhex(hex, hex_len, out->raw, hex_len / 2) != 0) {
        json_decref(j);
        return refuse(e, "bad-hex", "op must be 2 to %d hex digits, an even number", 2 * BTT_LEDGER_OP_MAX);
    }
    out->raw_len = hex_len / 2;
    memcpy(out->id, rid, rid_len);
    out->id[rid_len] = '\0';
    json_decref(j);

    btt_error err = {0};
    if (btt_ledger_op_decode(out->raw, out->raw_len, &out->op, &err) != BTT_OK)
        return refuse(e, "malformed-op", "op does not decode: %s", btt_error_str(&err));
    return 0;
}
