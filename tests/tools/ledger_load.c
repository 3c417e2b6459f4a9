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
 *                   [--until-error] [--seed S] [--batch B]
 *       Setup (not measured): reads the ledger id from /v1/info, reads every client account's
 *       nonce (GET /v1/accounts/...; 404: a new account) and funds the clients whose balance is
 *       low from pool-onboarding, so it also resumes against a ledger that already has them. Each
 *       client thread then signs its K operations in nonce order. Measured: N threads, each with
 *       its own account and one keep-alive HTTP/1.1 connection, send their operations one at a time
 *       (each waits for its receipt); with --batch B (2..256), B at a time in one POST /v1/batch
 *       (each waits for the batch's receipts; every op's latency is its batch's). Mix transfer: 1..1000 units to a random other client.
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

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

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

/* A minimal HTTP/1.1 keep-alive client over a blocking socket: one write per request, reads
 * until the Content-Length body is complete. libcurl cost the generator about 140 us of CPU per
 * request (a third of the machine at 32 clients), which the server then did not get; this costs
 * two system calls. It speaks only what `btt ledger serve` answers (status line, Content-Length,
 * optional Connection: close); anything else is a transport error. */
typedef struct conn {
    int fd;                /* -1: not connected */
    bool reused;           /* fd has carried a request before (a stale keep-alive is retried once) */
    char *resp;            /* body of the last response, NUL-terminated */
    size_t len;
    char *rbuf;            /* receive buffer */
    size_t rlen, rcap;
    char *req;             /* request being sent */
    size_t reqcap;
} conn;

typedef enum { NET_OK = 0, NET_CONNECT, NET_SEND, NET_RECV, NET_CLOSED, NET_PROTO } net_err;

static const char *net_strerror(net_err e)
{
    switch (e) {
    case NET_OK: return "ok";
    case NET_CONNECT: return "cannot connect";
    case NET_SEND: return "send failed";
    case NET_RECV: return "receive failed or timed out";
    case NET_CLOSED: return "connection closed by the server";
    case NET_PROTO: return "malformed HTTP response";
    }
    return "?";
}

static const char *g_url;
static struct sockaddr_storage g_sa;
static socklen_t g_salen;
static char g_hostport[300];
static bool g_until_error;
static size_t g_batch = 1; /* operations per request (--batch) */
static int g_ack_fd = -1;
static uint8_t g_lid[BTT_LEDGER_ID_LEN];

/* Resolves g_url ("http://HOST:PORT[/]") once. */
static void url_resolve(void)
{
    const char *u = g_url;
    if (strncmp(u, "http://", 7) != 0) die("--url must start with http://: %s", u);
    u += 7;
    size_t n = strcspn(u, "/");
    if (n == 0 || n >= sizeof g_hostport) die("bad --url: %s", g_url);
    memcpy(g_hostport, u, n);
    g_hostport[n] = 0;
    char host[300];
    const char *port = "80";
    memcpy(host, g_hostport, n + 1);
    char *colon = strrchr(host, ':');
    if (host[0] == '[') {
        char *rb = strchr(host, ']');
        if (!rb) die("bad --url: %s", g_url);
        *rb = 0;
        if (rb[1] == ':') port = rb + 2;
        memmove(host, host + 1, strlen(host + 1) + 1);
    } else if (colon) {
        *colon = 0;
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || !ai) die("--url %s: %s", g_url, gai_strerror(rc));
    memcpy(&g_sa, ai->ai_addr, ai->ai_addrlen);
    g_salen = ai->ai_addrlen;
    freeaddrinfo(ai);
}

static void conn_init(conn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void conn_drop(conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->reused = false;
    c->rlen = 0;
}

static void conn_free(conn *c)
{
    conn_drop(c);
    free(c->rbuf);
    free(c->req);
}

static net_err conn_open(conn *c)
{
    c->fd = socket(g_sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return NET_CONNECT;
    struct timeval tv = {.tv_sec = 60};
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(c->fd, (const struct sockaddr *)&g_sa, g_salen) != 0) {
        conn_drop(c);
        return NET_CONNECT;
    }
    return NET_OK;
}

/* Case-insensitive search for a header's value in the header block [h, end). */
static const char *header_value(const char *h, const char *end, const char *name)
{
    size_t nl = strlen(name);
    for (const char *line = h; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        if ((size_t)(eol - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

static net_err exchange(conn *c, size_t reqlen, long *status)
{
    c->rlen = 0;
    if (c->fd < 0) {
        net_err e = conn_open(c);
        if (e) return e;
    }
    for (size_t off = 0; off < reqlen;) {
        ssize_t w = send(c->fd, c->req + off, reqlen - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return NET_SEND;
        off += (size_t)w;
    }
    c->rlen = 0;
    size_t hdr_end = 0, body_len = 0;
    bool have_hdr = false;
    for (;;) {
        if (have_hdr && c->rlen >= hdr_end + body_len) break;
        if (c->rlen + 4096 + 1 > c->rcap) {
            size_t cap = c->rcap ? c->rcap * 2 : 16384;
            while (cap < c->rlen + 4096 + 1) cap *= 2;
            char *r = realloc(c->rbuf, cap);
            if (!r) die("out of memory");
            c->rbuf = r;
            c->rcap = cap;
        }
        ssize_t k = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen - 1, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) return NET_CLOSED;
        if (k < 0) return NET_RECV;
        c->rlen += (size_t)k;
        c->rbuf[c->rlen] = 0;
        if (!have_hdr) {
            char *e = strstr(c->rbuf, "\r\n\r\n");
            if (!e) {
                if (c->rlen > 65536) return NET_PROTO;
                continue;
            }
            hdr_end = (size_t)(e - c->rbuf) + 4;
            if (strncmp(c->rbuf, "HTTP/1.", 7) != 0 || c->rlen < 12) return NET_PROTO;
            *status = strtol(c->rbuf + 9, NULL, 10);
            const char *cl = header_value(c->rbuf, c->rbuf + hdr_end, "Content-Length");
            if (!cl) return NET_PROTO;
            char *endp;
            unsigned long long v = strtoull(cl, &endp, 10);
            if (endp == cl || v > (64u << 20)) return NET_PROTO;
            body_len = (size_t)v;
            have_hdr = true;
        }
    }
    const char *conn_hdr = header_value(c->rbuf, c->rbuf + hdr_end, "Connection");
    bool close_after = conn_hdr && !strncasecmp(conn_hdr, "close", 5);
    c->resp = c->rbuf + hdr_end;
    c->len = body_len;
    c->resp[body_len] = 0; /* the byte after the body: in the buffer, since rcap > rlen */
    if (close_after) {
        int fd = c->fd;
        c->fd = -1; /* keep rbuf: resp points into it */
        close(fd);
        c->reused = false;
    } else {
        c->reused = true;
    }
    return NET_OK;
}

/* One request. body NULL: GET path; else POST body to path. Returns NET_OK and *status the
 * HTTP status (c->resp the body), or a transport error (the connection is then closed and the
 * next request reconnects). A request on a kept-alive connection that the server had already
 * closed is sent again once on a new connection, as browsers and libcurl do (every request
 * here is idempotent: POSTs carry a request id). */
static net_err http(conn *c, const char *path, const char *body, long *status)
{
    size_t blen = body ? strlen(body) : 0;
    size_t need = blen + strlen(path) + strlen(g_hostport) + 200;
    if (need > c->reqcap) {
        char *r = realloc(c->req, need);
        if (!r) die("out of memory");
        c->req = r;
        c->reqcap = need;
    }
    int n = body ? snprintf(c->req, need,
                            "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\n\r\n",
                            path, g_hostport, blen)
                 : snprintf(c->req, need, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, g_hostport);
    if (body) memcpy(c->req + n, body, blen);
    size_t reqlen = (size_t)n + blen;
    *status = 0;
    c->resp = NULL;
    c->len = 0;
    bool was_reused = c->reused;
    net_err e = exchange(c, reqlen, status);
    if (e && was_reused && (e == NET_CLOSED || e == NET_SEND) && c->rlen == 0) {
        conn_drop(c);
        e = exchange(c, reqlen, status);
    }
    if (e) conn_drop(c);
    return e;
}

/* GET /v1/accounts/A: true and nonce/balance if it exists, false on 404; dies otherwise. */
static bool get_account(conn *c, const btt_account *a, uint64_t *nonce, uint64_t *balance)
{
    char name[BTT_ACCOUNT_STR_LEN + 1], path[128];
    snprintf(path, sizeof path, "/v1/accounts/%s", btt_account_format(a, name));
    long st;
    net_err rc = http(c, path, NULL, &st);
    if (rc != NET_OK) die("GET %s: %s", path, net_strerror(rc));
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

/* Checks one receipt (a JSON object) against p: SUB_OK (acknowledged: logged), SUB_REJECTED or
 * SUB_FAIL (why says). retried: an earlier attempt of the same request may have been applied. */
static sub_result check_receipt(conn *c, json_t *j, const prepared *p, bool retried, char *why, size_t whylen)
{
    const char *res = json_string_value(json_object_get(j, "result"));
    const char *oid = json_string_value(json_object_get(j, "op_id"));
    if (!res || !oid) {
        snprintf(why, whylen, "not a receipt: %.200s", c->resp ? c->resp : "");
        return SUB_FAIL;
    }
    uint8_t got[32];
    if (strlen(oid) != 64 || btt_unhex(oid, 64, got, 32) != 0 || memcmp(got, p->op_id, 32) != 0) {
        snprintf(why, whylen, "receipt op_id %.64s differs from the operation's", oid);
        return SUB_FAIL;
    }
    if (!strcmp(res, "ok")) {
        ack(p->op_id);
        return SUB_OK;
    }
    snprintf(why, whylen, "rejected: %s", res);
    if (!strcmp(res, "bad-nonce") && retried) {
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

/* Sends p[0..k) (k = 1: POST /v1/ops; more: one POST /v1/batch) and waits for the receipts.
 * Connection errors and 503s are retried with the same request ids for up to RETRY_SECONDS (with
 * --until-error, a connection error ends it: SUB_CONN). Returns SUB_OK if every operation was
 * acknowledged, else the first other result, with *nok the operations acknowledged before it and
 * why a short description. */
static sub_result submit(conn *c, const prepared *p, size_t k, size_t *nok, char *why, size_t whylen)
{
    double deadline = now_s() + RETRY_SECONDS;
    bool retried = false;
    *nok = 0;
    btt_buf body;
    btt_buf_init(&body, SIZE_MAX);
    if (k > 1) {
        bool ok = btt_buf_append(&body, "{\"requests\":[", 13) == BTT_OK;
        for (size_t i = 0; i < k && ok; i++)
            ok = (i == 0 || btt_buf_append(&body, ",", 1) == BTT_OK) &&
                 btt_buf_append(&body, p[i].body, strlen(p[i].body)) == BTT_OK;
        if (!ok || btt_buf_append(&body, "]}", 3) != BTT_OK) die("out of memory"); /* with the NUL */
    }
    const char *text = k > 1 ? (const char *)body.data : p[0].body;
    sub_result out = SUB_FAIL;
    for (;;) {
        long st;
        net_err rc = http(c, k > 1 ? "/v1/batch" : "/v1/ops", text, &st);
        if (rc != NET_OK || st == 503) {
            if (rc != NET_OK) snprintf(why, whylen, "connection: %s", net_strerror(rc));
            else snprintf(why, whylen, "503: %s", c->resp ? c->resp : "");
            if ((rc != NET_OK && g_until_error) || now_s() > deadline) {
                out = rc != NET_OK ? SUB_CONN : SUB_FAIL;
                break;
            }
            retried = true;
            usleep(20000);
            continue;
        }
        json_error_t je;
        json_t *j = json_loads(c->resp ? c->resp : "", 0, &je);
        json_t *arr = k > 1 ? json_object_get(j, "receipts") : NULL;
        if (st != 200 || !j || (k > 1 && json_array_size(arr) != k)) {
            snprintf(why, whylen, "status %ld: %.200s", st, c->resp ? c->resp : "");
            json_decref(j);
            break;
        }
        out = SUB_OK;
        for (size_t i = 0; i < k && out == SUB_OK; i++) {
            out = check_receipt(c, k > 1 ? json_array_get(arr, i) : j, &p[i], retried, why, whylen);
            if (out == SUB_OK) ++*nok;
        }
        json_decref(j);
        break;
    }
    btt_buf_free(&body);
    return out;
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
            net_err rc = http(&c, path, NULL, &st);
            if (rc != NET_OK || st != 200) {
                cl->errors++;
                if (rc != NET_OK) cl->conn_errors++;
                if (rc != NET_OK && g_until_error) break;
                fprintf(stderr, "ledger_load: client %d: GET %s: %s %ld\n", cl->idx, path, net_strerror(rc), st);
                break;
            }
            cl->lat[cl->nlat++] = (now_s() - t0) * 1000.0;
        }
        cl->t_end = now_s();
        conn_free(&c);
        return NULL;
    }
    for (size_t i = 0; i < cl->nops;) {
        size_t k = cl->nops - i < g_batch ? cl->nops - i : g_batch, nok;
        double t0 = now_s();
        sub_result r = submit(&c, &cl->ops[i], k, &nok, why, sizeof why);
        double t1 = now_s();
        for (size_t j = 0; j < nok; j++) cl->lat[cl->nlat++] = (t1 - t0) * 1000.0; /* each op's ack time */
        i += nok;
        if (r == SUB_OK) continue;
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
        else if (!strcmp(argv[i], "--batch")) g_batch = strtoul(arg_value(argc, argv, &i), NULL, 10);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(arg_value(argc, argv, &i), NULL, 10);
        else die("unknown argument '%s'", argv[i]);
    }
    if (g_batch < 1 || g_batch > 256) die("--batch must be 1 to 256 (the server's limit per POST /v1/batch)");
    if (!g_url || nclients < 1 || nclients > CLIENTS_MAX || k < 1 || k > 10000000)
        die("usage: ledger_load run --url URL --clients 1..%d --ops K --mix transfer|channel|read [--ack-log FILE] "
            "[--until-error] [--seed S] [--batch B]", CLIENTS_MAX);
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
    url_resolve();
    net_err rc = http(&c, "/v1/info", NULL, &st);
    if (rc != NET_OK) die("GET /v1/info: %s", net_strerror(rc));
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
            size_t nok;
            sub_result r = submit(&c, &p, 1, &nok, why, sizeof why);
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
    if (argc >= 2 && !strcmp(argv[1], "run")) return cmd_run(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "verify")) return cmd_verify(argc, argv);
    die("usage: ledger_load genesis FILE | run --url URL --clients N --ops K --mix transfer|channel "
        "[--ack-log FILE] [--until-error] | verify (--sqlite FILE | --postgres CONNINFO) --ack-log FILE");
}
