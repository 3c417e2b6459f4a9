/* client.c - blocking client of the ledger's HTTP/JSON API (btt/ledger_client.h) on libcurl's
 * easy interface and jansson. The response parsers at the top are pure functions; the HTTP part
 * below only moves bytes, maps statuses to errors and retries submissions. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "btt/buf.h"
#include "btt/ledger_client.h"

/* ------------------------------------------------------------------ JSON field readers */

static btt_err load_object(const char *body, size_t len, json_t **out, btt_error *err)
{
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) return btt_error_set(err, BTT_EPROTO, "ledger answer is not JSON: %s", je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return btt_error_set(err, BTT_EPROTO, "ledger answer is not a JSON object");
    }
    *out = j;
    return BTT_OK;
}

static btt_err field(const json_t *o, const char *key, json_t **v, btt_error *err)
{
    *v = json_object_get(o, key);
    if (!*v) return btt_error_set(err, BTT_EPROTO, "ledger answer lacks \"%s\"", key);
    return BTT_OK;
}

static btt_err get_u64(const json_t *o, const char *key, uint64_t *out, btt_error *err)
{
    json_t *v = NULL;
    btt_err e = field(o, key, &v, err);
    if (e) return e;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return btt_error_set(err, BTT_EPROTO, "ledger answer: \"%s\" is not a non-negative integer", key);
    *out = (uint64_t)json_integer_value(v);
    return BTT_OK;
}

/* The amount of KEY_units (the decimal KEY is for people). */
static btt_err get_amount(const json_t *o, const char *key, btt_amount *out, btt_error *err)
{
    char ukey[64];
    snprintf(ukey, sizeof ukey, "%s_units", key);
    uint64_t u = 0;
    btt_err e = get_u64(o, ukey, &u, err);
    if (e) return e;
    if (!btt_amount_from_units(u, out))
        return btt_error_set(err, BTT_EPROTO, "ledger answer: \"%s\" is above the total supply", ukey);
    return BTT_OK;
}

/* A string without NUL bytes, at most max bytes. */
static btt_err get_str(const json_t *o, const char *key, size_t max, const char **out, btt_error *err)
{
    json_t *v = NULL;
    btt_err e = field(o, key, &v, err);
    if (e) return e;
    if (!json_is_string(v)) return btt_error_set(err, BTT_EPROTO, "ledger answer: \"%s\" is not a string", key);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n || n > max)
        return btt_error_set(err, BTT_EPROTO, "ledger answer: \"%s\" is not a plausible value", key);
    *out = s;
    return BTT_OK;
}

static btt_err get_bool(const json_t *o, const char *key, bool *out, btt_error *err)
{
    json_t *v = NULL;
    btt_err e = field(o, key, &v, err);
    if (e) return e;
    if (!json_is_boolean(v)) return btt_error_set(err, BTT_EPROTO, "ledger answer: \"%s\" is not a boolean", key);
    *out = json_is_true(v);
    return BTT_OK;
}

static btt_err get_hex32(const json_t *o, const char *key, uint8_t out[32], btt_error *err)
{
    const char *s = NULL;
    btt_err e = get_str(o, key, 64, &s, err);
    if (e) return e;
    if (strlen(s) != 64 || btt_unhex(s, 64, out, 32) != 0)
        return btt_error_set(err, BTT_EPROTO, "ledger answer: \"%s\" is not 64 hex digits", key);
    return BTT_OK;
}

static btt_err get_account(const json_t *o, const char *key, btt_account *out, btt_error *err)
{
    const char *s = NULL;
    btt_err e = get_str(o, key, BTT_ACCOUNT_STR_LEN, &s, err);
    if (e) return e;
    if (btt_account_parse_cstr(s, out, NULL) != BTT_OK)
        return btt_error_set(err, BTT_EPROTO, "ledger answer: \"%s\" is not a btt1 account", key);
    return BTT_OK;
}

/* Copies s into out (cap bytes), control characters replaced by '?'. */
static void copy_text(char *out, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    out[i] = 0;
}

/* ------------------------------------------------------------------ pure parsers */

btt_err btt_ledger_parse_info(const char *body, size_t len, btt_ledger_client_info *out, btt_error *err)
{
    json_t *o = NULL;
    btt_err e = load_object(body, len, &o, err);
    if (e) return e;
    btt_ledger_client_info r;
    memset(&r, 0, sizeof r);
    const char *name = NULL;
    uint64_t bits = 0;
    if (!(e = get_hex32(o, "ledger_id", r.ledger_id, err)) && !(e = get_str(o, "name", BTT_GENESIS_NAME_MAX, &name, err)) &&
        !(e = get_u64(o, "height", &r.height, err)) && !(e = get_u64(o, "time", &r.time, err)) &&
        !(e = get_amount(o, "supply", &r.supply, err)) && !(e = get_amount(o, "faucet_grant", &r.faucet_grant, err)) &&
        !(e = get_u64(o, "faucet_bits", &bits, err))) {
        if (bits > BTT_POW_MAX_BITS) e = btt_error_set(err, BTT_EPROTO, "ledger answer: \"faucet_bits\" is above %d", BTT_POW_MAX_BITS);
        else if (!*name) e = btt_error_set(err, BTT_EPROTO, "ledger answer: \"name\" is empty");
    }
    if (!e) {
        copy_text(r.name, sizeof r.name, name);
        r.faucet_bits = (unsigned)bits;
        *out = r;
    }
    json_decref(o);
    return e;
}

btt_err btt_ledger_parse_account(const char *body, size_t len, btt_ledger_account_info *out, btt_error *err)
{
    json_t *o = NULL;
    btt_err e = load_object(body, len, &o, err);
    if (e) return e;
    btt_ledger_account_info r;
    memset(&r, 0, sizeof r);
    btt_account a;
    if (!(e = get_account(o, "account", &a, err)) && !(e = get_amount(o, "balance", &r.balance, err)) &&
        !(e = get_u64(o, "nonce", &r.nonce, err)) && !(e = get_bool(o, "faucet_used", &r.faucet_used, err)))
        *out = r;
    json_decref(o);
    return e;
}

static btt_err channel_from(const json_t *o, bool want_role, btt_ledger_client_channel *out, btt_error *err)
{
    if (!json_is_object(o)) return btt_error_set(err, BTT_EPROTO, "ledger answer: a channel is not an object");
    btt_ledger_client_channel r;
    memset(&r, 0, sizeof r);
    const char *state = NULL, *role = NULL;
    btt_err e;
    if ((e = get_hex32(o, "id", r.info.id, err)) || (e = get_account(o, "payer", &r.info.payer, err)) ||
        (e = get_account(o, "payee", &r.info.payee, err)) || (e = get_amount(o, "deposit", &r.info.deposit, err)) ||
        (e = get_amount(o, "claimed", &r.info.claimed, err)) || (e = get_amount(o, "locked", &r.locked, err)) ||
        (e = get_u64(o, "seq", &r.info.seq, err)) || (e = get_u64(o, "expiry", &r.info.expiry, err)) ||
        (e = get_str(o, "state", 16, &state, err)) || (want_role && (e = get_str(o, "role", 16, &role, err))))
        return e;
    btt_amount locked;
    if (!btt_amount_sub(&locked, r.info.deposit, r.info.claimed) || !btt_amount_eq(locked, r.locked))
        return btt_error_set(err, BTT_EPROTO, "ledger answer: a channel's locked is not deposit - claimed");
    if (strcmp(state, "open") && strcmp(state, "expired"))
        return btt_error_set(err, BTT_EPROTO, "ledger answer: unknown channel state");
    r.expired = !strcmp(state, "expired");
    if (role) {
        if (strcmp(role, "payer") && strcmp(role, "payee"))
            return btt_error_set(err, BTT_EPROTO, "ledger answer: unknown channel role");
        r.is_payer = !strcmp(role, "payer");
    }
    *out = r;
    return BTT_OK;
}

btt_err btt_ledger_parse_channel(const char *body, size_t len, btt_ledger_client_channel *out, btt_error *err)
{
    json_t *o = NULL;
    btt_err e = load_object(body, len, &o, err);
    if (e) return e;
    e = channel_from(o, false, out, err);
    json_decref(o);
    return e;
}

btt_err btt_ledger_parse_channels(const char *body, size_t len, btt_ledger_client_channels *out, btt_error *err)
{
    json_t *o = NULL, *arr = NULL;
    btt_err e = load_object(body, len, &o, err);
    if (e) return e;
    btt_ledger_client_channels r = {NULL, 0, false};
    btt_account a;
    if ((e = get_account(o, "account", &a, err)) || (e = get_bool(o, "truncated", &r.truncated, err)) ||
        (e = field(o, "channels", &arr, err)))
        goto out;
    if (!json_is_array(arr)) {
        e = btt_error_set(err, BTT_EPROTO, "ledger answer: \"channels\" is not an array");
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n > 100000) {
        e = btt_error_set(err, BTT_EPROTO, "ledger answer: implausibly many channels");
        goto out;
    }
    if (n && !(r.v = calloc(n, sizeof *r.v))) {
        e = btt_error_set(err, BTT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        e = channel_from(json_array_get(arr, i), true, &r.v[i], err);
        if (e) goto out;
        if (!btt_account_eq(r.v[i].is_payer ? &r.v[i].info.payer : &r.v[i].info.payee, &a)) {
            e = btt_error_set(err, BTT_EPROTO, "ledger answer: a listed channel is not the account's");
            goto out;
        }
        r.n++;
    }
out:
    json_decref(o);
    if (e) free(r.v);
    else *out = r;
    return e;
}

void btt_ledger_client_channels_free(btt_ledger_client_channels *list)
{
    if (!list) return;
    free(list->v);
    list->v = NULL;
    list->n = 0;
}

btt_err btt_ledger_parse_receipt(const char *body, size_t len, btt_ledger_client_receipt *out, btt_error *err)
{
    json_t *o = NULL;
    btt_err e = load_object(body, len, &o, err);
    if (e) return e;
    btt_ledger_client_receipt r;
    memset(&r, 0, sizeof r);
    const char *rid = NULL, *type = NULL, *result = NULL, *message = NULL;
    if ((e = get_str(o, "request_id", 64, &rid, err)) || (e = get_hex32(o, "op_id", r.op_id, err)) ||
        (e = get_str(o, "type", 16, &type, err)) || (e = get_str(o, "result", sizeof r.result - 1, &result, err)) ||
        (e = get_str(o, "message", 4096, &message, err)) || (e = get_u64(o, "height", &r.height, err)) ||
        (e = get_u64(o, "time", &r.time, err)))
        goto out;
    copy_text(r.request_id, sizeof r.request_id, rid);
    copy_text(r.result, sizeof r.result, result);
    copy_text(r.message, sizeof r.message, message);
    for (int t = BTT_LEDGER_TRANSFER; t <= BTT_LEDGER_REFUND; t++)
        if (!strcmp(type, btt_ledger_op_type_name((btt_ledger_op_type)t))) r.type = (btt_ledger_op_type)t;
    if (!r.type) {
        e = btt_error_set(err, BTT_EPROTO, "ledger answer: unknown operation type");
        goto out;
    }
    r.reason = BTT_LEDGER_REASON_COUNT;
    for (int k = 0; k < BTT_LEDGER_REASON_COUNT; k++)
        if (!strcmp(result, btt_ledger_reason_name((btt_ledger_reason)k))) r.reason = (btt_ledger_reason)k;
    if (!*result) {
        e = btt_error_set(err, BTT_EPROTO, "ledger answer: empty \"result\"");
        goto out;
    }
    if (r.reason == BTT_LEDGER_OK) {
        if ((e = get_amount(o, "amount", &r.amount, err)) || (e = get_amount(o, "balance", &r.balance, err)))
            goto out;
        if (r.type >= BTT_LEDGER_OPEN) {
            if ((e = get_hex32(o, "channel", r.channel, err))) goto out;
            r.has_channel = true;
        }
        if (r.type == BTT_LEDGER_CLOSE) {
            if ((e = get_amount(o, "refunded", &r.refunded, err))) goto out;
            r.has_refunded = true;
        }
    }
    *out = r;
out:
    json_decref(o);
    return e;
}

btt_err btt_ledger_parse_error(const char *body, size_t len, char code[48], char message[256], btt_error *err)
{
    json_t *o = NULL;
    btt_err e = load_object(body, len, &o, err);
    if (e) return e;
    const char *c = NULL, *m = NULL;
    if (!(e = get_str(o, "error", 47, &c, err)) && !(e = get_str(o, "message", 4096, &m, err))) {
        if (!*c || strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(c)) {
            e = btt_error_set(err, BTT_EPROTO, "ledger answer: \"error\" is not an error code");
        } else {
            copy_text(code, 48, c);
            copy_text(message, 256, m);
        }
    }
    json_decref(o);
    return e;
}

/* ------------------------------------------------------------------ HTTP */

struct btt_ledger_client {
    CURL *easy;
    struct curl_slist *headers;
    char *base; /* the URL without a trailing '/' */
    long connect_ms, timeout_ms, backoff_ms;
    int retries;
    btt_buf body;
    bool too_big;
    char curl_err[CURL_ERROR_SIZE];
    int last_status;
    char last_code[48];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

btt_err btt_ledger_client_new(const btt_ledger_client_config *cfg, btt_ledger_client **out, btt_error *err)
{
    *out = NULL;
    const char *url = cfg && cfg->url ? cfg->url : BTT_LEDGER_CLIENT_URL_DEFAULT;
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return btt_error_set(err, BTT_EINVAL, "ledger URL must start with http:// or https://");
    size_t n = strlen(url);
    while (n > 8 && url[n - 1] == '/') n--;
    if (n > 2048) return btt_error_set(err, BTT_EINVAL, "ledger URL is too long");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
            return btt_error_set(err, BTT_EINVAL, "ledger URL contains a space or a control character");
    if (sodium_init() < 0) return btt_error_set(err, BTT_EIO, "libsodium failed to initialise");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return btt_error_set(err, BTT_ENET, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
    btt_ledger_client *c = calloc(1, sizeof *c);
    if (!c) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    c->base = strndup(url, n);
    c->easy = curl_easy_init();
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!c->base || !c->easy || !c->headers) {
        btt_ledger_client_free(c);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    c->connect_ms = cfg && cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 3000;
    c->timeout_ms = cfg && cfg->timeout_ms > 0 ? cfg->timeout_ms : 20000;
    c->retries = !cfg || cfg->retries == 0 ? 4 : cfg->retries < 0 ? 0 : cfg->retries;
    c->backoff_ms = cfg && cfg->backoff_ms > 0 ? cfg->backoff_ms : 200;
    btt_buf_init(&c->body, BTT_LEDGER_CLIENT_BODY_MAX);
    *out = c;
    return BTT_OK;
}

void btt_ledger_client_free(btt_ledger_client *c)
{
    if (!c) return;
    if (c->easy) curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    btt_buf_free(&c->body);
    free(c->base);
    free(c);
}

int btt_ledger_client_last_error(const btt_ledger_client *c, const char **code)
{
    if (code) *code = c->last_code;
    return c->last_status;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    btt_ledger_client *c = ud;
    size_t len = size * nmemb;
    if (btt_buf_append(&c->body, p, len) != BTT_OK) {
        c->too_big = true;
        return 0;
    }
    return len;
}

/* One HTTP exchange: GET path, or POST post (NUL-terminated JSON) to path. On BTT_OK the body is
 * in c->body (NUL-terminated) and the status in c->last_status. */
static btt_err exchange(btt_ledger_client *c, const char *path, const char *post, btt_error *err)
{
    char url[2200];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    btt_buf_reset(&c->body);
    c->too_big = false;
    c->curl_err[0] = 0;
    c->last_status = 0;
    c->last_code[0] = 0;
    CURL *e = c->easy;
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                                                  \
    do {                                                                                                               \
        if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val);                                                        \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    SET(CURLOPT_TIMEOUT_MS, c->timeout_ms);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)c);
    SET(CURLOPT_ERRORBUFFER, c->curl_err);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)BTT_LEDGER_CLIENT_BODY_MAX);
    SET(CURLOPT_USERAGENT, "btt/" BTT_VERSION);
    SET(CURLOPT_HTTPHEADER, c->headers);
    if (post) {
        SET(CURLOPT_POSTFIELDS, post);
        SET(CURLOPT_POSTFIELDSIZE, (long)strlen(post));
    } else {
        SET(CURLOPT_HTTPGET, 1L);
    }
#undef SET
    if (rc != CURLE_OK) return btt_error_set(err, BTT_EINVAL, "curl_easy_setopt: %s", curl_easy_strerror(rc));
    rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        if (c->too_big || rc == CURLE_FILESIZE_EXCEEDED)
            return btt_error_set(err, BTT_EPROTO, "ledger answer above %u bytes", BTT_LEDGER_CLIENT_BODY_MAX);
        const char *why = c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc);
        if (rc == CURLE_OPERATION_TIMEDOUT) return btt_error_set(err, BTT_ETIMEDOUT, "ledger at %s: %s", c->base, why);
        return btt_error_set(err, BTT_ENET, "ledger at %s: %s", c->base, why);
    }
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    c->last_status = (int)status;
    if (btt_buf_append_byte(&c->body, 0) != BTT_OK)
        return btt_error_set(err, BTT_EPROTO, "ledger answer above %u bytes", BTT_LEDGER_CLIENT_BODY_MAX);
    c->body.len--;
    return BTT_OK;
}

/* Turns a non-200 answer into an error (see the header). */
static btt_err status_error(btt_ledger_client *c, btt_error *err)
{
    char code[48], msg[256];
    int st = c->last_status;
    if (btt_ledger_parse_error((const char *)c->body.data, c->body.len, code, msg, NULL) != BTT_OK)
        return btt_error_set(err, st >= 400 && st < 600 ? (st < 500 ? BTT_EINVAL : BTT_ELEDGER) : BTT_EPROTO,
                             "ledger answered HTTP %d without an API error", st);
    snprintf(c->last_code, sizeof c->last_code, "%s", code);
    if (st >= 400 && st < 500) return btt_error_set(err, BTT_EINVAL, "ledger refused the request: %s: %s", code, msg);
    if (st >= 500 && st < 600) return btt_error_set(err, BTT_ELEDGER, "ledger error (HTTP %d): %s: %s", st, code, msg);
    return btt_error_set(err, BTT_EPROTO, "ledger answered HTTP %d", st);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* exchange, repeated on no answer or a 503 up to c->retries times with doubling pauses. The
 * request must be idempotent (GETs, a POST with a fixed request id). */
static btt_err exchange_retrying(btt_ledger_client *c, const char *path, const char *post, btt_error *err)
{
    long pause = c->backoff_ms;
    for (int attempt = 0;; attempt++) {
        btt_err e = exchange(c, path, post, err);
        bool transient = e == BTT_ENET || e == BTT_ETIMEDOUT || (e == BTT_OK && c->last_status == 503);
        if (!transient || attempt >= c->retries) return e;
        sleep_ms(pause);
        if (pause < 5000) pause *= 2;
    }
}

btt_err btt_ledger_client_info_get(btt_ledger_client *c, btt_ledger_client_info *out, btt_error *err)
{
    btt_err e = exchange_retrying(c, "/v1/info", NULL, err);
    if (e) return e;
    if (c->last_status != 200) return status_error(c, err);
    return btt_ledger_parse_info((const char *)c->body.data, c->body.len, out, err);
}

btt_err btt_ledger_client_account_get(btt_ledger_client *c, const btt_account *a, btt_ledger_account_info *out,
                                  bool *exists, btt_error *err)
{
    char name[BTT_ACCOUNT_STR_LEN + 1], path[128];
    snprintf(path, sizeof path, "/v1/accounts/%s", btt_account_format(a, name));
    btt_err e = exchange_retrying(c, path, NULL, err);
    if (e) return e;
    if (c->last_status == 404) {
        e = status_error(c, err);
        if (!strcmp(c->last_code, "unknown-account")) {
            memset(out, 0, sizeof *out);
            *exists = false;
            return BTT_OK;
        }
        return e;
    }
    if (c->last_status != 200) return status_error(c, err);
    e = btt_ledger_parse_account((const char *)c->body.data, c->body.len, out, err);
    if (!e) *exists = true;
    return e;
}

btt_err btt_ledger_client_channel_get(btt_ledger_client *c, const uint8_t id[BTT_CHANNEL_ID_LEN],
                                  btt_ledger_client_channel *out, bool *exists, btt_error *err)
{
    char hex[2 * BTT_CHANNEL_ID_LEN + 1], path[128];
    btt_hex(id, BTT_CHANNEL_ID_LEN, hex);
    snprintf(path, sizeof path, "/v1/channels/%s", hex);
    btt_err e = exchange_retrying(c, path, NULL, err);
    if (e) return e;
    if (c->last_status == 404) {
        e = status_error(c, err);
        if (!strcmp(c->last_code, "unknown-channel")) {
            memset(out, 0, sizeof *out);
            *exists = false;
            return BTT_OK;
        }
        return e;
    }
    if (c->last_status != 200) return status_error(c, err);
    e = btt_ledger_parse_channel((const char *)c->body.data, c->body.len, out, err);
    if (!e) {
        if (memcmp(out->info.id, id, BTT_CHANNEL_ID_LEN) != 0)
            return btt_error_set(err, BTT_EPROTO, "ledger answered with another channel");
        *exists = true;
    }
    return e;
}

btt_err btt_ledger_client_channels_of(btt_ledger_client *c, const btt_account *a, btt_ledger_client_channels *out,
                                      btt_error *err)
{
    char name[BTT_ACCOUNT_STR_LEN + 1], path[128];
    snprintf(path, sizeof path, "/v1/accounts/%s/channels", btt_account_format(a, name));
    btt_err e = exchange_retrying(c, path, NULL, err);
    if (e) return e;
    if (c->last_status == 404) {
        e = status_error(c, err);
        if (!strcmp(c->last_code, "unknown-account")) {
            *out = (btt_ledger_client_channels){NULL, 0, false};
            return BTT_OK;
        }
        return e;
    }
    if (c->last_status != 200) return status_error(c, err);
    return btt_ledger_parse_channels((const char *)c->body.data, c->body.len, out, err);
}

static bool request_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (id[i] < 0x21 || id[i] > 0x7e) return false;
    return true;
}

btt_err btt_ledger_client_submit(btt_ledger_client *c, const char *request_id, const btt_ledger_op *op,
                                 btt_ledger_client_receipt *out, btt_error *err)
{
    if (!request_id_ok(request_id))
        return btt_error_set(err, BTT_EINVAL, "a request id is 1 to 64 printable ASCII characters without spaces");
    btt_buf enc;
    btt_buf_init(&enc, BTT_LEDGER_OP_MAX);
    if (btt_ledger_op_encode(op, &enc) != BTT_OK) {
        btt_buf_free(&enc);
        return btt_error_set(err, BTT_EINVAL, "the operation cannot be encoded");
    }
    char hex[2 * BTT_LEDGER_OP_MAX + 1];
    btt_hex(enc.data, enc.len, hex);
    btt_buf_free(&enc);
    json_t *req = json_pack("{s:s, s:s}", "request_id", request_id, "op", hex);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    btt_err e = exchange_retrying(c, "/v1/ops", body, err);
    free(body);
    if (e) return e;
    if (c->last_status != 200) return status_error(c, err);
    btt_ledger_client_receipt r;
    e = btt_ledger_parse_receipt((const char *)c->body.data, c->body.len, &r, err);
    if (e) return e;
    if (strcmp(r.request_id, request_id) || r.type != op->type)
        return btt_error_set(err, BTT_EPROTO, "ledger answered with the receipt of another request");
    *out = r;
    return BTT_OK;
}

void btt_ledger_client_request_id(char out[BTT_LEDGER_CLIENT_REQUEST_ID_LEN + 1])
{
    uint8_t raw[BTT_LEDGER_CLIENT_REQUEST_ID_LEN / 2];
    if (sodium_init() < 0) abort(); /* cannot happen after a client was made; randomness is required */
    randombytes_buf(raw, sizeof raw);
    btt_hex(raw, sizeof raw, out);
}
