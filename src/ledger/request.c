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

/* One {"request_id", "op"} object (j is borrowed). where: "" or "requests[3]: " for messages. */
static int parse_item(json_t *j, const char *where, btt_ledger_request *out, btt_ledger_request_error *e)
{
    json_t *jr = json_object_get(j, "request_id"), *jo = json_object_get(j, "op");
    if (!json_is_object(j) || json_object_size(j) != 2 || !json_is_string(jr) || !json_is_string(jo))
        return refuse(e, "bad-request", "%s%s must be an object with exactly the strings \"request_id\" and \"op\"",
                      where, *where ? "each request" : "body");
    const char *rid = json_string_value(jr), *hex = json_string_value(jo);
    size_t rid_len = json_string_length(jr), hex_len = json_string_length(jo);
    if (!valid_id(rid, rid_len))
        return refuse(e, "bad-request-id", "%srequest_id must be 1 to %d printable ASCII characters, no spaces", where,
                      BTT_LEDGER_REQUEST_ID_MAX);
    if (hex_len == 0 || hex_len % 2 || hex_len / 2 > sizeof out->raw ||
        btt_unhex(hex, hex_len, out->raw, hex_len / 2) != 0)
        return refuse(e, "bad-hex", "%sop must be 2 to %d hex digits, an even number", where, 2 * BTT_LEDGER_OP_MAX);
    out->raw_len = hex_len / 2;
    memcpy(out->id, rid, rid_len);
    out->id[rid_len] = '\0';
    btt_error err = {0};
    if (btt_ledger_op_decode(out->raw, out->raw_len, &out->op, &err) != BTT_OK)
        return refuse(e, "malformed-op", "%sop does not decode: %s", where, btt_error_str(&err));
    return 0;
}

static json_t *load(const char *body, size_t len, btt_ledger_request_error *e)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) refuse(e, "bad-json", "body is not JSON: %s (line %d)", jerr.text, jerr.line);
    return j;
}

int btt_ledger_request_parse(const char *body, size_t len, btt_ledger_request *out, btt_ledger_request_error *e)
{
    json_t *j = load(body, len, e);
    if (!j) return -1;
    int rc = parse_item(j, "", out, e);
    json_decref(j);
    return rc;
}

int btt_ledger_batch_parse(const char *body, size_t len, btt_ledger_request *out, size_t max, size_t *n,
                           btt_ledger_request_error *e)
{
    *n = 0;
    json_t *j = load(body, len, e);
    if (!j) return -1;
    json_t *arr = json_object_get(j, "requests");
    size_t count = json_array_size(arr);
    int rc = 0;
    if (!json_is_object(j) || json_object_size(j) != 1 || !json_is_array(arr) || count == 0 || count > max) {
        rc = refuse(e, "bad-request", "body must be an object with exactly the key \"requests\": an array of 1 to %zu "
                    "requests", max);
    }
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char where[48];
        snprintf(where, sizeof where, "requests[%zu]: ", i);
        rc = parse_item(json_array_get(arr, i), where, &out[i], e);
    }
    json_decref(j);
    if (rc == 0) *n = count;
    return rc;
}
