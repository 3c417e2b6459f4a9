/* btt/ledger_client.h - a blocking client of the ledger's HTTP/JSON API (docs/ledger-api.md).
 *
 * One btt_ledger_client per thread: it owns one libcurl easy handle, so consecutive requests
 * reuse the connection (keep-alive). Clients on different threads are independent; the only
 * process-wide step is curl_global_init, done once (pthread_once) by the first client_new.
 *
 * Every request has a connect timeout and a total timeout, so a dead or silent ledger never
 * blocks the caller for long. Responses are checked strictly (object shape, types, ranges,
 * 64-hex ids, btt1 accounts, amounts within the supply): a broken or hostile server gives
 * BTT_EPROTO with a message, never a crash. Amounts come from the `*_units` integer fields.
 *
 * Errors of every function:
 *   BTT_ENET, BTT_ETIMEDOUT  no answer (connection refused, reset, DNS, timeout)
 *   BTT_EPROTO               an answer that is not what the API promises
 *   BTT_EINVAL               the server refused the request with a 4xx error; the API's error
 *                            code and message are in err ("bad-account: ...") and in
 *                            btt_ledger_client_last_error
 *   BTT_ELEDGER              a 5xx error (after the retries, for submit)
 *   BTT_ENOMEM
 *
 * The parse functions are pure (a body in, a value out) so they can be tested and fuzzed
 * without a server. */
#ifndef BTT_LEDGER_CLIENT_H
#define BTT_LEDGER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"
#include "btt/ledger.h"

#define BTT_LEDGER_CLIENT_URL_DEFAULT "http://127.0.0.1:8480"
#define BTT_LEDGER_CLIENT_BODY_MAX (4u << 20)  /* responses above this are refused */
#define BTT_LEDGER_CLIENT_REQUEST_ID_LEN 32    /* hex characters of btt_ledger_client_request_id */

typedef struct btt_ledger_client_config {
    const char *url;            /* "http://host:port" (a path prefix is allowed); NULL: the default */
    long connect_timeout_ms;    /* 0: 3000 */
    long timeout_ms;            /* whole request, 0: 20000 (a submit waits for a group commit) */
    int retries;                /* submit: attempts after the first on no answer or a 503; <0: none, 0: 4 */
    long backoff_ms;            /* first pause between attempts, doubled each time; 0: 200 */
} btt_ledger_client_config;

typedef struct btt_ledger_client btt_ledger_client; /* opaque */

/* GET /v1/info */
typedef struct btt_ledger_client_info {
    uint8_t ledger_id[BTT_LEDGER_ID_LEN];
    char name[BTT_GENESIS_NAME_MAX + 1];
    uint64_t height, time;
    btt_amount supply;
    btt_amount faucet_grant; /* zero: the faucet is disabled */
    unsigned faucet_bits;
} btt_ledger_client_info;

/* One channel of GET /v1/channels/{id} or of an account's list. */
typedef struct btt_ledger_client_channel {
    btt_ledger_channel_info info;
    btt_amount locked;  /* deposit - claimed */
    bool expired;       /* state "expired" (else "open") */
    bool is_payer;      /* role "payer" (account lists only; false otherwise) */
} btt_ledger_client_channel;

/* GET /v1/accounts/{account}/channels. Free with btt_ledger_client_channels_free. */
typedef struct btt_ledger_client_channels {
    btt_ledger_client_channel *v;
    size_t n;
    bool truncated;
} btt_ledger_client_channels;

/* POST /v1/ops's receipt. */
typedef struct btt_ledger_client_receipt {
    char request_id[65];
    uint8_t op_id[32];
    btt_ledger_op_type type;
    btt_ledger_reason reason; /* BTT_LEDGER_OK; BTT_LEDGER_REASON_COUNT for a code this build does not know */
    char result[48];          /* the reason code as sent ("ok", "insufficient-funds", ...) */
    char message[256];        /* the server's sentence (control characters replaced by '?') */
    uint64_t height, time;
    /* only for an accepted operation (reason OK): */
    btt_amount amount, balance;
    bool has_channel, has_refunded;
    uint8_t channel[BTT_CHANNEL_ID_LEN];
    btt_amount refunded;
} btt_ledger_client_receipt;

/* A client of the ledger at cfg->url (checked: http:// or https://). *out: btt_ledger_client_free. */
BTT_WUR btt_err btt_ledger_client_new(const btt_ledger_client_config *cfg, btt_ledger_client **out, btt_error *err);
void btt_ledger_client_free(btt_ledger_client *c); /* NULL-safe */

/* The last response's HTTP status (0: none) and, for an error response, its API code ("" else). */
int btt_ledger_client_last_error(const btt_ledger_client *c, const char **code);

BTT_WUR btt_err btt_ledger_client_info_get(btt_ledger_client *c, btt_ledger_client_info *out, btt_error *err);

/* *exists is false (and BTT_OK returned, out zeroed) for 404 unknown-account. */
BTT_WUR btt_err btt_ledger_client_account_get(btt_ledger_client *c, const btt_account *a, btt_ledger_account_info *out,
                                          bool *exists, btt_error *err);

/* *exists is false for 404 unknown-channel (never opened, or closed or refunded). */
BTT_WUR btt_err btt_ledger_client_channel_get(btt_ledger_client *c, const uint8_t id[BTT_CHANNEL_ID_LEN],
                                          btt_ledger_client_channel *out, bool *exists, btt_error *err);

/* The account's open channels; an unknown account has none (out empty, BTT_OK). */
BTT_WUR btt_err btt_ledger_client_channels_of(btt_ledger_client *c, const btt_account *a,
                                              btt_ledger_client_channels *out, btt_error *err);
void btt_ledger_client_channels_free(btt_ledger_client_channels *list);

/* Submits one signed operation under request_id (1 to 64 characters 0x21-0x7e) and returns its
 * receipt. A rejection is a receipt (BTT_OK, out->reason says why), not an error. On no answer or
 * a 503 the same request (same id, same bytes) is sent again, up to cfg->retries times with
 * exponential backoff: the server applies it at most once. */
BTT_WUR btt_err btt_ledger_client_submit(btt_ledger_client *c, const char *request_id, const btt_ledger_op *op,
                                         btt_ledger_client_receipt *out, btt_error *err);

/* A fresh random request id: 16 random bytes as 32 hex digits and a NUL. */
void btt_ledger_client_request_id(char out[BTT_LEDGER_CLIENT_REQUEST_ID_LEN + 1]);

/* -------------------------------------------------------------------- pure parsers
 * Each takes a response body (len bytes, need not be NUL-terminated) and fills out only on
 * success. BTT_EPROTO with a message naming the field for anything unexpected. Unknown extra
 * fields are ignored (the API may grow). */
BTT_WUR btt_err btt_ledger_parse_info(const char *body, size_t len, btt_ledger_client_info *out, btt_error *err);
BTT_WUR btt_err btt_ledger_parse_account(const char *body, size_t len, btt_ledger_account_info *out, btt_error *err);
BTT_WUR btt_err btt_ledger_parse_channel(const char *body, size_t len, btt_ledger_client_channel *out, btt_error *err);
BTT_WUR btt_err btt_ledger_parse_channels(const char *body, size_t len, btt_ledger_client_channels *out,
                                          btt_error *err);
BTT_WUR btt_err btt_ledger_parse_receipt(const char *body, size_t len, btt_ledger_client_receipt *out,
                                         btt_error *err);
/* {"error": code, "message": text}: code (at most 47 characters of [a-z0-9-]) and message (control
 * characters replaced by '?') into the buffers. */
BTT_WUR btt_err btt_ledger_parse_error(const char *body, size_t len, char code[48], char message[256],
                                       btt_error *err);

#endif
