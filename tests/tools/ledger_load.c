/* ledger_load.c - a load generator and a durability checker for the ledger's HTTP API
 * (docs/ledger-api.md). Used by tests/interop/ledger_crash.sh and bench/ledger.sh.
 *
 *   ledger_load genesis FILE
 *       writes a genesis for load tests: supply 10^10 BTT split 40/10/20/20/10 % between the
 *       deterministic wallets pool-onboarding, pool-trx_holders, ... (a wallet NAME's seed is
 *       BLAKE2b-256(NAME), as in tests/unit/ledger/ledger_client_probe.c); faucet grant 1 BTT at
 *       1 bit
 *
 *   ledger_load run --url URL --clients N --ops K --mix transfer|channel|read [--ack-log FILE]
 *                   [--until-error] [--seed S]
 *       Setup (not measured): reads the ledger id from /v1/info, reads every client account's
 *       nonce (GET /v1/accounts/...; 404: a new account) and funds the clients whose balance is
 *       low from pool-onboarding, so it also resumes against a ledger that already has them. Each
 *       client thread then signs its K operations in nonce order. Measured: N threads, each with
 *       its own account and one keep-alive libcurl handle, send their operations one at a time
 *       (each waits for its receipt). Mix transfer: 1..1000 units to a random other client.
 *       Mix channel: client i opens a 1 BTT channel to its own payee account (load-payee-i), then
 *       the payee closes it with a voucher for half of it (open + close count as 2 ops).
 *       Mix read: K times GET /v1/accounts/<own account> (no writes: the HTTP path alone, a
 *       reference for the other two; "ops" then counts 200 answers).
 *       Prints one line:
 *         clients=N ops=OK seconds=S ops_per_s=R p50_ms=.. p99_ms=.. max_ms=.. rejected=.. errors=..
 *       (ops counts result=ok receipts only; latencies are those of the ok receipts). Exit 0 if
 *       nothing was rejected and nothing failed (with --until-error: connection errors are
 *       expected and do not count against the exit status), 1 otherwise, 2 for bad usage or a
 *       setup failure.
 *       --ack-log FILE: appends the op id (hex) of every ok receipt with one write(2) per line
 *       once the receipt has arrived, so the log survives a SIGKILL of the generator.
 *       --until-error: a client stops at its first connection error (crash tests); without it a
 *       connection error or a 503 is retried with the same request id for up to 60 s.
 *
 *   ledger_load verify (--sqlite FILE | --postgres CONNINFO) --ack-log FILE
 *       Opens the store (a SQLite file, or a PostgreSQL database by libpq conninfo) directly, computes the op id of every logged operation and checks that
 *       every op id in the ack log is among them; then opens the database with btt_ledger_db_open
 *       (full replay and the supply invariant). Prints
 *         acked=A present=P missing=M height=H invariant=ok|broken
 *       and exits 0 only if nothing is missing and the database opens with its invariant. The
 *       server must be stopped (a ledger is owned by one process, on either store). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "btt/buf.h"
#include "btt/ledger.h"
#include "btt/ledger_store.h"

#define CLIENTS_MAX 200
#define RETRY_SECONDS 60
#define FUND_UNITS UINT64_C(1000000000000) /* 1,000,000 BTT per client */
#define LOW_UNITS UINT64_C(100000000000)   /* refund a client below 100,000 BTT */
#define CHANNEL_UNITS UINT64_C(1000000)    /* 1 BTT per channel */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ledger_load: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static btt_wallet *wallet_named(const char *name)
{
    uint8_t seed[BTT_WALLET_SEED_LEN];
    crypto_generichash(seed, sizeof seed, (const unsigned char *)name, strlen(name), NULL, 0);
    btt_wallet *w = NULL;
    btt_error err = {0};
    if (btt_wallet_from_seed(seed, &w, &err) != BTT_OK) die("wallet %s: %s", name, btt_error_str(&err));
    return w;
}

/* ============================================================================ genesis */

static int cmd_genesis(int argc, char **argv)
{
    if (argc != 3) die("usage: ledger_load genesis FILE");
    static const unsigned bp[BTT_POOL_COUNT] = {4000, 1000, 2000, 2000, 1000};
    FILE *f = fopen(argv[2], "w");
    if (!f) die("%s: %s", argv[2], strerror(errno));
    fprintf(f, "name = btt-load\nsupply = 10000000000\nfaucet.grant = 1\nfaucet.difficulty = 1\nremainder = foundation\n");
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        char name[64], acct[BTT_ACCOUNT_STR_LEN + 1];
        snprintf(name, sizeof name, "pool-%s", btt_genesis_pool_name((btt_genesis_pool)p));
        btt_wallet *w = wallet_named(name);
        fprintf(f, "pool.%s = %s %u\n", btt_genesis_pool_name((btt_genesis_pool)p),
                btt_account_format(btt_wallet_account(w), acct), bp[p]);
        btt_wallet_free(w);
    }
    if (fclose(f) != 0) die("%s: %s", argv[2], strerror(errno));
    return 0;
}

/* =============================================================================== HTTP */

typedef struct conn {
    CURL *h;
    struct curl_slist *hdrs;
    char *resp;
    size_t len, cap;
    char url_ops[512];
} conn;

static const char *g_url;
static bool g_until_error;
static int g_ack_fd = -1;
static uint8_t g_lid[BTT_LEDGER_ID_LEN];

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    conn *c = ud;
    size_t k = size * n;
    if (c->len + k + 1 > c->cap) {
        size_t cap = (c->len + k + 1) * 2;
        char *r = realloc(c->resp, cap);
        if (!r) return 0;
        c->resp = r;
        c->cap = cap;
    }
    memcpy(c->resp + c->len, p, k);
    c->len += k;
    c->resp[c->len] = 0;
    return k;
}

static void conn_init(conn *c)
{
    memset(c, 0, sizeof *c);
    c->h = curl_easy_init();
    if (!c->h) die("curl_easy_init failed");
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    snprintf(c->url_ops, sizeof c->url_ops, "%s/v1/ops", g_url);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http");
}

static void conn_free(conn *c)
{
    curl_slist_free_all(c->hdrs);
    curl_easy_cleanup(c->h);
    free(c->resp);
}

/* One request. body NULL: GET path; else POST body to /v1/ops. Returns the curl code; *status
 * gets the HTTP status and c->resp the body. */
static CURLcode http(conn *c, const char *path, const char *body, long *status)
{
    char url[640];
    c->len = 0;
    if (c->resp) c->resp[0] = 0;
    if (body) {
        curl_easy_setopt(c->h, CURLOPT_URL, c->url_ops);
        curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    } else {
        snprintf(url, sizeof url, "%s%s", g_url, path);
        curl_easy_setopt(c->h, CURLOPT_URL, url);
        curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(c->h);
    *status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
    return rc;
}

/* GET /v1/accounts/A: true and nonce/balance if it exists, false on 404; dies otherwise. */
static bool get_account(conn *c, const btt_account *a, uint64_t *nonce, uint64_t *balance)
{
    char name[BTT_ACCOUNT_STR_LEN + 1], path[128];
    snprintf(path, sizeof path, "/v1/accounts/%s", btt_account_format(a, name));
    long st;
    CURLcode rc = http(c, path, NULL, &st);
    if (rc != CURLE_OK) die("GET %s: %s", path, curl_easy_strerror(rc));
    if (st == 404) {
        *nonce = 0;
        *balance = 0;
        return false;
    }
    json_error_t je;
    json_t *j = st == 200 ? json_loads(c->resp ? c->resp : "", 0, &je) : NULL;
    json_t *jn = json_object_get(j, "nonce"), *jb = json_object_get(j, "balance_units");
    if (!json_is_integer(jn) || !json_is_integer(jb)) die("GET %s: status %ld: %s", path, st, c->resp ? c->resp : "");
    *nonce = (uint64_t)json_integer_value(jn);
    *balance = (uint64_t)json_integer_value(jb);
    json_decref(j);
    return true;
}

/* ======================================================================= operations */

typedef struct prepared {
    char *body;
    uint8_t op_id[32];
    btt_account signer;
    uint64_t nonce;
} prepared;

static void prepare(prepared *p, btt_ledger_op *op, const btt_wallet *w, const char *rid)
{
    if (btt_ledger_op_sign(op, g_lid, w) != BTT_OK) die("cannot sign an operation");
    btt_buf b;
    btt_buf_init(&b, BTT_LEDGER_OP_MAX);
    if (btt_ledger_op_encode(op, &b) != BTT_OK) die("cannot encode an operation");
    if (btt_ledger_op_id(op, g_lid, p->op_id) != BTT_OK) die("cannot compute an op id");
    size_t need = 2 * b.len + strlen(rid) + 40;
    p->body = malloc(need);
    if (!p->body) die("out of memory");
    int n = snprintf(p->body, need, "{\"request_id\":\"%s\",\"op\":\"", rid);
    btt_hex(b.data, b.len, p->body + n);
    strcpy(p->body + n + 2 * b.len, "\"}");
    p->signer = op->signer;
    p->nonce = op->nonce;
    btt_buf_free(&b);
}

typedef enum { SUB_OK, SUB_REJECTED, SUB_CONN, SUB_FAIL } sub_result;

static void ack(const uint8_t id[32])
{
    if (g_ack_fd < 0) return;
    char line[66];
    btt_hex(id, 32, line);
    line[64] = '\n';
    ssize_t w = write(g_ack_fd, line, 65);
    if (w != 65) die("ack log: short write: %s", strerror(errno));
}

/* Sends p and waits for its receipt. Connection errors and 503s are retried with the same
 * request id for up to RETRY_SECONDS (with --until-error, a connection error ends it: SUB_CONN).
 * why gets a short description of anything other than SUB_OK. */
static sub_result submit(conn *c, const prepared *p, char *why, size_t whylen)
{
    double deadline = now_s() + RETRY_SECONDS;
    bool retried = false;
    for (;;) {
        long st;
        CURLcode rc = http(c, NULL, p->body, &st);
        if (rc != CURLE_OK || st == 503) {
            if (rc != CURLE_OK) snprintf(why, whylen, "connection: %s", curl_easy_strerror(rc));
            else snprintf(why, whylen, "503: %s", c->resp ? c->resp : "");
            if ((rc != CURLE_OK && g_until_error) || now_s() > deadline) return rc != CURLE_OK ? SUB_CONN : SUB_FAIL;
            retried = true;
            usleep(20000);
            continue;
        }
        json_error_t je;
        json_t *j = json_loads(c->resp ? c->resp : "", 0, &je);
        const char *res = json_string_value(json_object_get(j, "result"));
        const char *oid = json_string_value(json_object_get(j, "op_id"));
        if (st != 200 || !res || !oid) {
            snprintf(why, whylen, "status %ld: %.200s", st, c->resp ? c->resp : "");
            json_decref(j);
            return SUB_FAIL;
        }
        uint8_t got[32];
        if (strlen(oid) != 64 || btt_unhex(oid, 64, got, 32) != 0 || memcmp(got, p->op_id, 32) != 0) {
            snprintf(why, whylen, "receipt op_id %.64s differs from the operation's", oid);
            json_decref(j);
            return SUB_FAIL;
        }
        if (!strcmp(res, "ok")) {
            json_decref(j);
            ack(p->op_id);
            return SUB_OK;
        }
        snprintf(why, whylen, "rejected: %s", res);
        bool bad_nonce = !strcmp(res, "bad-nonce");
        json_decref(j);
        if (bad_nonce && retried) {
            /* the first attempt may have been applied before the connection broke (and a restart
             * forgot the request id): the account's nonce says */
            uint64_t n, bal;
            if (get_account(c, &p->signer, &n, &bal) && n >= p->nonce) {
                ack(p->op_id);
                return SUB_OK;
            }
        }
        return SUB_REJECTED;
    }
}

/* ============================================================================== run */

typedef struct client {
    int idx;
    btt_wallet *w, *pw; /* the client and its payee */
    btt_account acct, payee;
    uint64_t nonce, pnonce; /* last accepted */
    const btt_account *peers;
    int npeers;
    bool channel, read;
    int k;
    uint64_t seed;
    char run_id[40];
    prepared *ops;
    size_t nops;
    double *lat;
    size_t nlat;
    uint64_t rejected, errors, conn_errors;
    double t_end;
    pthread_barrier_t *bar;
} client;

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void presign(client *cl)
{
    if (cl->read) { /* nothing to sign: K reads of the client's own account */
        cl->lat = calloc((size_t)cl->k, sizeof *cl->lat);
        if (!cl->lat) die("out of memory");
        cl->nops = (size_t)cl->k;
        return;
    }
    size_t n = cl->channel ? (size_t)((cl->k + 1) / 2) * 2 : (size_t)cl->k;
    cl->ops = calloc(n ? n : 1, sizeof *cl->ops);
    cl->lat = calloc(n ? n : 1, sizeof *cl->lat);
    if (!cl->ops || !cl->lat) die("out of memory");
    uint64_t expiry = (uint64_t)time(NULL) + 86400;
    char rid[80];
    for (size_t i = 0; i < n; i++) {
        btt_ledger_op op;
        snprintf(rid, sizeof rid, "%s-%d-%zu", cl->run_id, cl->idx, i);
        if (!cl->channel) {
            btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, &cl->acct, ++cl->nonce);
            int to = (int)(rnd(&cl->seed) % (uint64_t)cl->npeers);
            op.to = cl->peers[to];
            if (!btt_amount_from_units(1 + rnd(&cl->seed) % 1000, &op.amount)) die("amount");
            prepare(&cl->ops[i], &op, cl->w, rid);
        } else if (i % 2 == 0) {
            btt_ledger_op_init(&op, BTT_LEDGER_OPEN, &cl->acct, ++cl->nonce);
            op.to = cl->payee;
            op.expiry = expiry;
            if (!btt_amount_from_units(CHANNEL_UNITS, &op.amount)) die("amount");
            prepare(&cl->ops[i], &op, cl->w, rid);
        } else {
            uint8_t chan[BTT_CHANNEL_ID_LEN];
            btt_ledger_channel_id(g_lid, &cl->acct, cl->nonce, chan); /* the open just before */
            btt_ledger_op_init(&op, BTT_LEDGER_CLOSE, &cl->payee, ++cl->pnonce);
            memcpy(op.channel, chan, sizeof chan);
            op.has_voucher = true;
            memcpy(op.voucher.channel, chan, sizeof chan);
            if (!btt_amount_from_units(CHANNEL_UNITS / 2, &op.voucher.cumulative)) die("amount");
            op.voucher.seq = 1;
            btt_voucher_sign(&op.voucher, g_lid, cl->w);
            prepare(&cl->ops[i], &op, cl->pw, rid);
        }
    }
    cl->nops = n;
}

static void *client_main(void *arg)
{
    client *cl = arg;
    presign(cl);
    conn c;
    conn_init(&c);
    long st;
    (void)http(&c, "/v1/info", NULL, &st); /* connect before the clock starts */
    pthread_barrier_wait(cl->bar);
    char why[320];
    if (cl->read) {
        char name[BTT_ACCOUNT_STR_LEN + 1], path[128];
        snprintf(path, sizeof path, "/v1/accounts/%s", btt_account_format(&cl->acct, name));
        for (size_t i = 0; i < cl->nops; i++) {
            double t0 = now_s();
            CURLcode rc = http(&c, path, NULL, &st);
            if (rc != CURLE_OK || st != 200) {
                cl->errors++;
                if (rc != CURLE_OK) cl->conn_errors++;
                if (rc != CURLE_OK && g_until_error) break;
                fprintf(stderr, "ledger_load: client %d: GET %s: %s %ld\n", cl->idx, path, curl_easy_strerror(rc), st);
                break;
            }
            cl->lat[cl->nlat++] = (now_s() - t0) * 1000.0;
        }
        cl->t_end = now_s();
        conn_free(&c);
        return NULL;
    }
    for (size_t i = 0; i < cl->nops; i++) {
        double t0 = now_s();
        sub_result r = submit(&c, &cl->ops[i], why, sizeof why);
        double t1 = now_s();
        if (r == SUB_OK) {
            cl->lat[cl->nlat++] = (t1 - t0) * 1000.0;
            continue;
        }
        if (r == SUB_REJECTED) cl->rejected++;
        else cl->errors++;
        if (r == SUB_CONN) cl->conn_errors++;
        if (r != SUB_CONN || !g_until_error)
            fprintf(stderr, "ledger_load: client %d op %zu (nonce %" PRIu64 "): %s\n", cl->idx, i, cl->ops[i].nonce, why);
        break; /* the rest of this client's nonces cannot be accepted now */
    }
    cl->t_end = now_s();
    conn_free(&c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *arg_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) die("%s needs a value", argv[*i]);
    return argv[++*i];
}

static int cmd_run(int argc, char **argv)
{
    const char *mix = "transfer", *ack_log = NULL;
    long nclients = 0, k = 0;
    uint64_t seed = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--url")) g_url = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--clients")) nclients = strtol(arg_value(argc, argv, &i), NULL, 10);
        else if (!strcmp(argv[i], "--ops")) k = strtol(arg_value(argc, argv, &i), NULL, 10);
        else if (!strcmp(argv[i], "--mix")) mix = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--ack-log")) ack_log = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--until-error")) g_until_error = true;
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(arg_value(argc, argv, &i), NULL, 10);
        else die("unknown argument '%s'", argv[i]);
    }
    if (!g_url || nclients < 1 || nclients > CLIENTS_MAX || k < 1 || k > 10000000)
        die("usage: ledger_load run --url URL --clients 1..%d --ops K --mix transfer|channel|read [--ack-log FILE] "
            "[--until-error] [--seed S]", CLIENTS_MAX);
    bool channel = !strcmp(mix, "channel"), read = !strcmp(mix, "read");
    if (!channel && !read && strcmp(mix, "transfer")) die("--mix is transfer, channel or read");
    if (ack_log) {
        g_ack_fd = open(ack_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (g_ack_fd < 0) die("%s: %s", ack_log, strerror(errno));
    }
    if (!seed) randombytes_buf(&seed, sizeof seed);
    seed |= 1;
    char run_id[40];
    uint64_t rid_bits;
    randombytes_buf(&rid_bits, sizeof rid_bits);
    snprintf(run_id, sizeof run_id, "load-%016" PRIx64, rid_bits);

    /* setup: ledger id, accounts, funding (not measured) */
    conn c;
    conn_init(&c);
    long st;
    CURLcode rc = http(&c, "/v1/info", NULL, &st);
    if (rc != CURLE_OK) die("GET /v1/info: %s", curl_easy_strerror(rc));
    json_error_t je;
    json_t *info = st == 200 ? json_loads(c.resp ? c.resp : "", 0, &je) : NULL;
    const char *lid = json_string_value(json_object_get(info, "ledger_id"));
    if (!lid || strlen(lid) != 64 || btt_unhex(lid, 64, g_lid, sizeof g_lid) != 0)
        die("GET /v1/info: status %ld: %s", st, c.resp ? c.resp : "");
    json_decref(info);

    int n = (int)nclients;
    client *cls = calloc((size_t)n, sizeof *cls);
    btt_account *accts = calloc((size_t)n, sizeof *accts);
    if (!cls || !accts) die("out of memory");
    btt_wallet *pool = wallet_named("pool-onboarding");
    uint64_t pool_nonce, pool_bal;
    if (!get_account(&c, btt_wallet_account(pool), &pool_nonce, &pool_bal)) die("no pool-onboarding account: wrong genesis?");
    double t_setup = now_s();
    int funded = 0;
    for (int i = 0; i < n; i++) {
        client *cl = &cls[i];
        char name[64];
        cl->idx = i;
        snprintf(name, sizeof name, "load-client-%d", i);
        cl->w = wallet_named(name);
        snprintf(name, sizeof name, "load-payee-%d", i);
        cl->pw = wallet_named(name);
        cl->acct = *btt_wallet_account(cl->w);
        cl->payee = *btt_wallet_account(cl->pw);
        accts[i] = cl->acct;
        uint64_t bal, pbal;
        (void)get_account(&c, &cl->acct, &cl->nonce, &bal);
        (void)get_account(&c, &cl->payee, &cl->pnonce, &pbal);
        if (bal < LOW_UNITS) {
            btt_ledger_op op;
            btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, btt_wallet_account(pool), ++pool_nonce);
            op.to = cl->acct;
            if (!btt_amount_from_units(FUND_UNITS, &op.amount)) die("amount");
            prepared p;
            char rid[80], why[320];
            snprintf(rid, sizeof rid, "%s-fund-%d", run_id, i);
            prepare(&p, &op, pool, rid);
            sub_result r = submit(&c, &p, why, sizeof why);
            free(p.body);
            if (r != SUB_OK) die("funding client %d: %s", i, why);
            funded++;
        }
    }
    btt_wallet_free(pool);
    fprintf(stderr, "ledger_load: setup: %d clients (%d funded) in %.2f s\n", n, funded, now_s() - t_setup);

    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    if (!th) die("out of memory");
    for (int i = 0; i < n; i++) {
        client *cl = &cls[i];
        cl->channel = channel;
        cl->read = read;
        cl->k = (int)k;
        cl->seed = seed + UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(i + 1);
        memcpy(cl->run_id, run_id, sizeof run_id);
        cl->bar = &bar;
    }
    /* transfers go to the other clients (a lone client pays its payee account) */
    btt_account *peerbuf = calloc((size_t)n * (size_t)(n > 1 ? n - 1 : 1), sizeof *peerbuf);
    if (!peerbuf) die("out of memory");
    for (int i = 0; i < n; i++) {
        btt_account *pl = peerbuf + (size_t)i * (size_t)(n > 1 ? n - 1 : 1);
        int m = 0;
        for (int j = 0; j < n; j++)
            if (j != i) pl[m++] = accts[j];
        if (n == 1) pl[m++] = cls[i].payee;
        cls[i].peers = pl;
        cls[i].npeers = m;
    }
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, client_main, &cls[i]) != 0) die("cannot start thread %d", i);
    pthread_barrier_wait(&bar);
    double t0 = now_s();
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    double t_end = t0;
    size_t total = 0;
    uint64_t rejected = 0, errors = 0, conn_errors = 0;
    for (int i = 0; i < n; i++) {
        total += cls[i].nlat;
        rejected += cls[i].rejected;
        errors += cls[i].errors;
        conn_errors += cls[i].conn_errors;
        if (cls[i].t_end > t_end) t_end = cls[i].t_end;
    }
    double *all = calloc(total ? total : 1, sizeof *all);
    if (!all) die("out of memory");
    size_t m = 0;
    for (int i = 0; i < n; i++) {
        memcpy(all + m, cls[i].lat, cls[i].nlat * sizeof *all);
        m += cls[i].nlat;
    }
    qsort(all, total, sizeof *all, cmp_double);
    double secs = t_end - t0;
    double p50 = total ? all[(total - 1) / 2] : 0, p99 = total ? all[(size_t)((double)(total - 1) * 0.99)] : 0;
    double mx = total ? all[total - 1] : 0;
    printf("clients=%d ops=%zu seconds=%.3f ops_per_s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f rejected=%" PRIu64
           " errors=%" PRIu64 "\n",
           n, total, secs, secs > 0 ? (double)total / secs : 0.0, p50, p99, mx, rejected, errors);
    fflush(stdout);

    for (int i = 0; i < n; i++) {
        for (size_t j = 0; cls[i].ops && j < cls[i].nops; j++) free(cls[i].ops[j].body);
        free(cls[i].ops);
        free(cls[i].lat);
        btt_wallet_free(cls[i].w);
        btt_wallet_free(cls[i].pw);
    }
    free(all);
    free(peerbuf);
    free(th);
    free(cls);
    free(accts);
    pthread_barrier_destroy(&bar);
    conn_free(&c);
    if (g_ack_fd >= 0) close(g_ack_fd);
    if (rejected) return 1;
    if (errors > (g_until_error ? conn_errors : 0)) return 1;
    return 0;
}

/* =========================================================================== verify */

typedef struct idset {
    uint8_t (*ids)[32];
    size_t n, cap;
} idset;

static void idset_add(idset *s, const uint8_t id[32])
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        void *p = realloc(s->ids, cap * 32);
        if (!p) die("out of memory");
        s->ids = p;
        s->cap = cap;
    }
    memcpy(s->ids[s->n++], id, 32);
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

typedef struct replay_ctx {
    idset *set;
    uint64_t last;
} replay_ctx;

static btt_err collect(const btt_ledger_store_entry *e, void *ud, btt_error *err)
{
    replay_ctx *r = ud;
    btt_ledger_op op;
    if (btt_ledger_op_decode(e->op, e->op_len, &op, err) != BTT_OK) {
        btt_error_prefix(err, "log entry %" PRIu64, e->seq);
        return BTT_EIO;
    }
    uint8_t id[32];
    if (btt_ledger_op_id(&op, g_lid, id) != BTT_OK)
        return btt_error_set(err, BTT_EIO, "log entry %" PRIu64 ": no op id", e->seq);
    idset_add(r->set, id);
    r->last = e->seq;
    return BTT_OK;
}

/* opens the existing store named on the command line (never creates one) */
static btt_ledger_store *store_open(const char *sqlite, const char *postgres)
{
    btt_ledger_store *st = NULL;
    btt_error err = {0};
    btt_err rc = sqlite ? btt_ledger_store_sqlite_open(sqlite, false, &st, &err)
                        : btt_ledger_store_pg_open(postgres, false, &st, &err);
    if (rc != BTT_OK) die("%s", btt_error_str(&err));
    return st;
}

static int cmd_verify(int argc, char **argv)
{
    const char *sqlite = NULL, *postgres = NULL, *ack_log = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--sqlite")) sqlite = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--postgres")) postgres = arg_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--ack-log")) ack_log = arg_value(argc, argv, &i);
        else die("unknown argument '%s'", argv[i]);
    }
    if (!sqlite == !postgres || !ack_log)
        die("usage: ledger_load verify (--sqlite FILE | --postgres CONNINFO) --ack-log FILE");

    /* the acknowledged op ids */
    FILE *f = fopen(ack_log, "r");
    if (!f) die("%s: %s", ack_log, strerror(errno));
    idset acked = {0};
    char line[256];
    size_t lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strcspn(line, "\n");
        uint8_t id[32];
        if (len != 64 || btt_unhex(line, 64, id, 32) != 0) {
            /* a generator killed in the middle of a write(2) could leave a short last line; a
             * line that was cut can never be an acknowledged op (the receipt came first) */
            if (line[len] != '\n' && feof(f)) break;
            die("%s:%zu: not an op id", ack_log, lineno);
        }
        idset_add(&acked, id);
    }
    fclose(f);

    /* every op the store holds */
    btt_ledger_store *st = store_open(sqlite, postgres);
    btt_error err = {0};
    btt_genesis g;
    if (st->ops->genesis(st, NULL, &g, g_lid, &err) != BTT_OK) die("%s", btt_error_str(&err));
    idset logged = {0};
    replay_ctx rc = {&logged, 0};
    if (st->ops->replay(st, collect, &rc, &err) != BTT_OK) die("replay: %s", btt_error_str(&err));
    btt_ledger_store_close(st);
    qsort(logged.ids, logged.n, 32, cmp_id);
    size_t present = 0, missing = 0;
    for (size_t i = 0; i < acked.n; i++) {
        if (logged.n && bsearch(acked.ids[i], logged.ids, logged.n, 32, cmp_id)) {
            present++;
        } else {
            char hex[65];
            btt_hex(acked.ids[i], 32, hex);
            if (missing < 10) fprintf(stderr, "ledger_load: acknowledged but not in the store: %s\n", hex);
            missing++;
        }
    }

    /* the database as the server opens it: full replay + invariant */
    bool inv_ok = true;
    uint64_t height = 0;
    st = store_open(sqlite, postgres);
    btt_ledger_db *db = NULL;
    if (btt_ledger_db_open(st, NULL, &db, &err) != BTT_OK) {
        fprintf(stderr, "ledger_load: opening the database: %s\n", btt_error_str(&err));
        inv_ok = false;
    } else {
        const btt_ledger *l = btt_ledger_db_ledger(db);
        height = btt_ledger_height(l);
        if (btt_ledger_check_invariant(l, &err) != BTT_OK) {
            fprintf(stderr, "ledger_load: invariant: %s\n", btt_error_str(&err));
            inv_ok = false;
        }
        if (height != rc.last || height != logged.n) {
            fprintf(stderr, "ledger_load: height %" PRIu64 " but the log has %zu entries (last seq %" PRIu64 ")\n",
                    height, logged.n, rc.last);
            inv_ok = false;
        }
        btt_ledger_db_close(db);
    }
    printf("acked=%zu present=%zu missing=%zu height=%" PRIu64 " invariant=%s\n", acked.n, present, missing, height,
           inv_ok ? "ok" : "broken");
    free(acked.ids);
    free(logged.ids);
    return missing == 0 && inv_ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) die("libsodium failed to initialise");
    if (argc >= 2 && !strcmp(argv[1], "genesis")) return cmd_genesis(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "run")) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) die("curl_global_init failed");
        int rc = cmd_run(argc, argv);
        curl_global_cleanup();
        return rc;
    }
    if (argc >= 2 && !strcmp(argv[1], "verify")) return cmd_verify(argc, argv);
    die("usage: ledger_load genesis FILE | run --url URL --clients N --ops K --mix transfer|channel "
        "[--ack-log FILE] [--until-error] | verify (--sqlite FILE | --postgres CONNINFO) --ack-log FILE");
}
