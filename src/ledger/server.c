/* server.c - the ledger's HTTP/JSON API (btt/ledger_server.h, docs/ledger-api.md).
 *
 * Threads: libmicrohttpd serves all connections from a small pool of epoll threads (twice the
 * cores). Reads (info, accounts, channels, invariant) take db_lock and query the in-memory ledger.
 * POST /v1/ops decodes the operation on a pool thread, records it under its request id (the
 * idempotency map), appends it to the submit queue and suspends the connection; the committer
 * thread takes everything queued (up to BATCH_MAX), submits it as one batch under db_lock (one
 * fsync) and resumes the batch's connections, which are answered only then.
 *
 * Locks: `lock` guards the map, the queue, every entry's state and the counters; `db_lock` guards
 * the database. The committer never holds both; a handler takes them one at a time. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "btt/buf.h"
#include "btt/ledger_request.h"
#include "btt/ledger_server.h"

enum { PENDING, DONE, FAILED };

struct req_ctx;

typedef struct entry {
    char id[65];
    uint8_t hash[32]; /* BLAKE2b-256 of the op bytes: "same request" means same id and same bytes */
    btt_ledger_op op;
    bool sig_ok; /* its signature verified on the pool thread: the committer need not check it */
    uint8_t op_id[32];
    int state;
    struct req_ctx *waiters; /* suspended connections waiting for this entry's commit */
    btt_ledger_receipt rc;
    char errmsg[256]; /* FAILED: why */
    unsigned refs;    /* map + queue + waiting handlers */
    uint64_t qseq;    /* its place in the submit queue: commits follow this order */
    bool in_map;
    struct entry *hnext, *older, *newer, *qnext;
} entry;

struct btt_ledger_server {
    btt_ledger_db *db;
    uint8_t ledger_id[BTT_LEDGER_ID_LEN];
    btt_genesis genesis;
    struct MHD_Daemon *mhd;
    char addr[80];

    pthread_mutex_t db_lock;
    pthread_mutex_t lock;
    pthread_cond_t queued, idle;
    size_t pending;  /* entries queued or being committed */
    size_t waiting;  /* POST requests suspended or resumed and not yet completed */
    bool refusing;   /* stopping: new operations get 503 shutting-down */
    entry **buckets;
    size_t nbuckets, count, max;
    entry *oldest, *newest;
    entry *qhead, *qtail;
    bool stopping;
    uint64_t commits, ops_committed;
    uint64_t qseq_last; /* qseq of the last entry queued */

    pthread_t committer;
    bool committer_started;
    btt_ledger_op *batch_ops;
    bool *batch_sig;
    btt_ledger_receipt *batch_rc;
    entry **batch_e;
};

/* One HTTP request's state. A POST whose operation is queued suspends its connection (no
 * thread waits); the committer resumes it once the batch is durable, and the handler is then
 * called again to answer from `e`. */
typedef struct req_ctx {
    bool too_big, counted;
    size_t len, cap;
    entry *e;                  /* the entry it waits for (a reference), NULL before and after */
    entry **items;             /* POST /v1/batch: every request's entry (references), in order */
    size_t nitems;
    struct MHD_Connection *conn;
    struct req_ctx *wnext;     /* next waiter of the same entry */
    char *body;                /* cap bytes */
} req_ctx;

static void req_free(req_ctx *r)
{
    if (!r) return;
    free(r->items);
    free(r->body);
    free(r);
}

/* ------------------------------------------------------------------ idempotency map */

static size_t bucket_of(const btt_ledger_server *s, const char *id)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * UINT64_C(1099511628211);
    return (size_t)(h & (s->nbuckets - 1));
}

/* noinline: GCC's use-after-free analysis cannot see that the callers hold another reference */
__attribute__((noinline)) static void unref(entry *e)
{
    if (--e->refs == 0) free(e);
}

static entry *map_find(btt_ledger_server *s, const char *id)
{
    for (entry *e = s->buckets[bucket_of(s, id)]; e; e = e->hnext)
        if (!strcmp(e->id, id)) return e;
    return NULL;
}

static void map_remove(btt_ledger_server *s, entry *e)
{
    if (!e->in_map) return;
    entry **pp = &s->buckets[bucket_of(s, e->id)];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->older) e->older->newer = e->newer;
    else s->oldest = e->newer;
    if (e->newer) e->newer->older = e->older;
    else s->newest = e->older;
    e->in_map = false;
    s->count--;
    unref(e);
}

static void map_insert(btt_ledger_server *s, entry *e)
{
    while (s->count >= s->max && s->oldest) map_remove(s, s->oldest);
    size_t b = bucket_of(s, e->id);
    e->hnext = s->buckets[b];
    s->buckets[b] = e;
    e->older = s->newest;
    e->newer = NULL;
    if (s->newest) s->newest->newer = e;
    else s->oldest = e;
    s->newest = e;
    e->in_map = true;
    e->refs++;
    s->count++;
}

/* ------------------------------------------------------------------------ committer */

static void *committer_main(void *arg)
{
    btt_ledger_server *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->qhead && !s->stopping) pthread_cond_wait(&s->queued, &s->lock);
        if (!s->qhead) break; /* stopping and drained */
        size_t n = 0;
        while (s->qhead && n < BTT_LEDGER_SERVER_BATCH_MAX) {
            entry *e = s->qhead;
            s->qhead = e->qnext;
            s->batch_e[n] = e;
            s->batch_ops[n] = e->op;
            s->batch_sig[n] = e->sig_ok;
            n++;
        }
        if (!s->qhead) s->qtail = NULL;
        pthread_mutex_unlock(&s->lock);

        btt_error err = {0};
        pthread_mutex_lock(&s->db_lock);
        btt_err x = btt_ledger_db_submit_verified(s->db, s->batch_ops, s->batch_sig, n, (uint64_t)time(NULL),
                                                  s->batch_rc, &err);
        pthread_mutex_unlock(&s->db_lock);

        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < n; i++) {
            entry *e = s->batch_e[i];
            if (x == BTT_OK) {
                e->rc = s->batch_rc[i];
                e->state = DONE;
            } else {
                e->state = FAILED;
                snprintf(e->errmsg, sizeof e->errmsg, "%s", btt_error_str(&err));
                map_remove(s, e); /* nothing was acknowledged: the same request may be retried */
            }
            for (req_ctx *w = e->waiters; w; w = w->wnext) MHD_resume_connection(w->conn);
            e->waiters = NULL;
            unref(e); /* the queue's reference */
        }
        s->pending -= n;
        s->commits++;
        s->ops_committed += n;
        pthread_cond_broadcast(&s->idle);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ------------------------------------------------------------------------ responses */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        static const char oom[] = "{\"error\":\"out-of-memory\",\"message\":\"out of memory\"}";
        struct MHD_Response *r = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_INTERNAL_SERVER_ERROR, r);
        MHD_destroy_response(r);
        return ret;
    }
    size_t len = strlen(text);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_json(c, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

static void set_amount(json_t *o, const char *key, btt_amount a)
{
    char buf[BTT_AMOUNT_STRLEN], ukey[64];
    json_object_set_new(o, key, json_string(btt_amount_format(a, buf)));
    snprintf(ukey, sizeof ukey, "%s_units", key);
    json_object_set_new(o, ukey, json_integer((json_int_t)btt_amount_units(a)));
}

static void set_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    btt_hex(p, n, hex);
    json_object_set_new(o, key, json_string(hex));
}

static void set_account(json_t *o, const char *key, const btt_account *a)
{
    char s[BTT_ACCOUNT_STR_LEN + 1];
    json_object_set_new(o, key, json_string(btt_account_format(a, s)));
}

static void set_u64(json_t *o, const char *key, uint64_t v)
{
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* --------------------------------------------------------------------------- reads */

static enum MHD_Result get_info(btt_ledger_server *s, struct MHD_Connection *c)
{
    json_t *o = json_object();
    if (!o) return send_json(c, 500, NULL);
    const btt_genesis *g = &s->genesis;
    set_hex(o, "ledger_id", s->ledger_id, BTT_LEDGER_ID_LEN);
    json_object_set_new(o, "name", json_string(g->name));
    pthread_mutex_lock(&s->db_lock);
    const btt_ledger *l = btt_ledger_db_ledger(s->db);
    set_u64(o, "height", btt_ledger_height(l));
    set_u64(o, "time", btt_ledger_time(l));
    set_u64(o, "accounts", btt_ledger_num_accounts(l));
    set_u64(o, "channels", btt_ledger_num_channels(l));
    pthread_mutex_unlock(&s->db_lock);
    set_amount(o, "supply", g->supply);
    set_amount(o, "faucet_grant", g->faucet_grant);
    set_u64(o, "faucet_bits", g->faucet_bits);
    pthread_mutex_lock(&s->lock);
    set_u64(o, "commits", s->commits);
    set_u64(o, "committed_ops", s->ops_committed);
    pthread_mutex_unlock(&s->lock);
    return send_json(c, 200, o);
}

typedef struct sums {
    btt_amount balances, locked;
    bool overflow;
} sums;

static void sum_account(const btt_account *a, const btt_ledger_account_info *info, void *ud)
{
    sums *t = ud;
    if (!btt_amount_add(&t->balances, t->balances, info->balance)) t->overflow = true;
}

static void sum_channel(const btt_ledger_channel_info *info, void *ud)
{
    sums *t = ud;
    btt_amount locked;
    if (!btt_amount_sub(&locked, info->deposit, info->claimed) || !btt_amount_add(&t->locked, t->locked, locked))
        t->overflow = true;
}

static enum MHD_Result get_invariant(btt_ledger_server *s, struct MHD_Connection *c)
{
    sums t = {BTT_AMOUNT_ZERO, BTT_AMOUNT_ZERO, false};
    btt_error err = {0};
    pthread_mutex_lock(&s->db_lock);
    const btt_ledger *l = btt_ledger_db_ledger(s->db);
    btt_err x = btt_ledger_check_invariant(l, &err);
    btt_ledger_foreach_account(l, sum_account, &t);
    btt_ledger_foreach_channel(l, sum_channel, &t);
    uint64_t height = btt_ledger_height(l);
    pthread_mutex_unlock(&s->db_lock);
    btt_amount total;
    if (x == BTT_OK && (t.overflow || !btt_amount_add(&total, t.balances, t.locked) ||
                        !btt_amount_eq(total, s->genesis.supply)))
        x = btt_error_set(&err, BTT_ELEDGER, "balances + locked differ from the supply");
    if (x != BTT_OK) return send_error(c, 500, "invariant-broken", "%s", btt_error_str(&err));
    json_t *o = json_object();
    if (!o) return send_json(c, 500, NULL);
    json_object_set_new(o, "ok", json_true());
    set_u64(o, "height", height);
    set_amount(o, "supply", s->genesis.supply);
    set_amount(o, "balances", t.balances);
    set_amount(o, "locked", t.locked);
    return send_json(c, 200, o);
}

static enum MHD_Result get_account(btt_ledger_server *s, struct MHD_Connection *c, const char *name)
{
    btt_account a;
    btt_error err = {0};
    if (btt_account_parse_cstr(name, &a, &err) != BTT_OK)
        return send_error(c, 400, "bad-account", "%s", btt_error_str(&err));
    btt_ledger_account_info info;
    pthread_mutex_lock(&s->db_lock);
    bool found = btt_ledger_account_get(btt_ledger_db_ledger(s->db), &a, &info);
    pthread_mutex_unlock(&s->db_lock);
    if (!found) return send_error(c, 404, "unknown-account", "no such account on this ledger");
    json_t *o = json_object();
    if (!o) return send_json(c, 500, NULL);
    set_account(o, "account", &a);
    set_amount(o, "balance", info.balance);
    set_u64(o, "nonce", info.nonce);
    json_object_set_new(o, "faucet_used", json_boolean(info.faucet_used));
    return send_json(c, 200, o);
}

/* The fields of GET /v1/channels/{id}; state judged at now. NULL when out of memory. */
static json_t *channel_json(const btt_ledger_channel_info *info, uint64_t now)
{
    btt_amount locked;
    if (!btt_amount_sub(&locked, info->deposit, info->claimed)) locked = BTT_AMOUNT_ZERO;
    json_t *o = json_object();
    if (!o) return NULL;
    set_hex(o, "id", info->id, sizeof info->id);
    set_account(o, "payer", &info->payer);
    set_account(o, "payee", &info->payee);
    set_amount(o, "deposit", info->deposit);
    set_amount(o, "claimed", info->claimed);
    set_amount(o, "locked", locked);
    set_u64(o, "seq", info->seq);
    set_u64(o, "expiry", info->expiry);
    json_object_set_new(o, "state", json_string(now >= info->expiry ? "expired" : "open"));
    return o;
}

static enum MHD_Result get_channel(btt_ledger_server *s, struct MHD_Connection *c, const char *hex)
{
    uint8_t id[BTT_CHANNEL_ID_LEN];
    if (strlen(hex) != 2 * BTT_CHANNEL_ID_LEN || btt_unhex(hex, strlen(hex), id, sizeof id) != 0)
        return send_error(c, 400, "bad-channel-id", "a channel id is %d hex digits", 2 * BTT_CHANNEL_ID_LEN);
    btt_ledger_channel_info info;
    pthread_mutex_lock(&s->db_lock);
    const btt_ledger *l = btt_ledger_db_ledger(s->db);
    bool found = btt_ledger_channel_get(l, id, &info);
    uint64_t lt = btt_ledger_time(l);
    pthread_mutex_unlock(&s->db_lock);
    if (!found) return send_error(c, 404, "unknown-channel", "no such open channel (never opened, closed or refunded)");
    uint64_t now = (uint64_t)time(NULL);
    if (now < lt) now = lt;
    json_t *o = channel_json(&info, now);
    return o ? send_json(c, 200, o) : send_json(c, 500, NULL);
}

typedef struct chan_list {
    btt_ledger_channel_info *v;
    size_t n, max;
} chan_list;

static bool collect_channel(const btt_ledger_channel_info *info, void *ud)
{
    chan_list *cl = ud;
    if (cl->n == cl->max) return false;
    cl->v[cl->n++] = *info;
    return true;
}

/* GET /v1/accounts/{account}/channels: the open channels where it is payer or payee, at most
 * ACCOUNT_CHANNELS_MAX (then "truncated": true), from the ledger's per-account index. */
#define ACCOUNT_CHANNELS_MAX 1000
static enum MHD_Result get_account_channels(btt_ledger_server *s, struct MHD_Connection *c, const char *rest)
{
    const char *slash = strchr(rest, '/');
    if (!slash || strcmp(slash, "/channels")) return send_error(c, 404, "not-found", "no such endpoint; see docs/ledger-api.md");
    btt_account a;
    btt_error err = {0};
    if (btt_account_parse(rest, (size_t)(slash - rest), &a, &err) != BTT_OK)
        return send_error(c, 400, "bad-account", "%s", btt_error_str(&err));
    chan_list cl = {NULL, 0, 0};
    btt_ledger_account_info info;
    pthread_mutex_lock(&s->db_lock);
    const btt_ledger *l = btt_ledger_db_ledger(s->db);
    bool found = btt_ledger_account_get(l, &a, &info);
    size_t total = btt_ledger_num_channels_of(l, &a);
    cl.max = total < ACCOUNT_CHANNELS_MAX ? total : ACCOUNT_CHANNELS_MAX;
    if (cl.max && !(cl.v = malloc(cl.max * sizeof *cl.v))) {
        pthread_mutex_unlock(&s->db_lock);
        return send_error(c, 503, "out-of-memory", "out of memory");
    }
    btt_ledger_foreach_channel_of(l, &a, collect_channel, &cl);
    uint64_t lt = btt_ledger_time(l);
    pthread_mutex_unlock(&s->db_lock);
    if (!found && total == 0) { /* a payee that never received funds exists only through its channels */
        free(cl.v);
        return send_error(c, 404, "unknown-account", "no such account on this ledger");
    }
    uint64_t now = (uint64_t)time(NULL);
    if (now < lt) now = lt;
    json_t *o = json_object(), *arr = json_array();
    bool ok = o && arr;
    for (size_t i = 0; ok && i < cl.n; i++) {
        json_t *ch = channel_json(&cl.v[i], now);
        if (ch) json_object_set_new(ch, "role", json_string(btt_account_eq(&cl.v[i].payer, &a) ? "payer" : "payee"));
        ok = ch && json_array_append_new(arr, ch) == 0;
    }
    free(cl.v);
    if (!ok) {
        json_decref(o);
        json_decref(arr);
        return send_json(c, 500, NULL);
    }
    set_account(o, "account", &a);
    json_object_set_new(o, "channels", arr);
    json_object_set_new(o, "truncated", json_boolean(total > cl.n));
    return send_json(c, 200, o);
}

/* --------------------------------------------------------------------------- POST /v1/ops */

static json_t *receipt_json(const entry *e)
{
    const btt_ledger_receipt *rc = &e->rc;
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "request_id", json_string(e->id));
    set_hex(o, "op_id", e->op_id, sizeof e->op_id);
    json_object_set_new(o, "type", json_string(btt_ledger_op_type_name(e->op.type)));
    json_object_set_new(o, "result", json_string(btt_ledger_reason_name(rc->reason)));
    json_object_set_new(o, "message", json_string(btt_ledger_reason_message(rc->reason)));
    set_u64(o, "height", rc->height);
    set_u64(o, "time", rc->time);
    if (rc->reason != BTT_LEDGER_OK) return o; /* a rejection changed nothing: no amounts */
    set_amount(o, "amount", rc->amount);
    set_amount(o, "balance", rc->balance);
    if (e->op.type >= BTT_LEDGER_OPEN) set_hex(o, "channel", rc->channel, sizeof rc->channel);
    if (e->op.type == BTT_LEDGER_CLOSE) set_amount(o, "refunded", rc->refunded);
    return o;
}

/* The answer of a request whose entry is no longer PENDING; drops the request's reference.
 * Called with s->lock held; unlocks it. */
static enum MHD_Result answer(btt_ledger_server *s, struct MHD_Connection *c, entry *e)
{
    json_t *o = e->state == DONE ? receipt_json(e) : NULL;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", e->errmsg);
    int state = e->state;
    unref(e);
    pthread_mutex_unlock(&s->lock);
    if (state == FAILED) return send_error(c, 503, "store-failed", "not committed, nothing changed: %s", msg);
    return send_json(c, 200, o);
}

/* A new entry for req, recorded under its id and queued, with one reference for the caller and
 * one for the queue; NULL if out of memory. Called with s->lock held. */
static entry *enqueue(btt_ledger_server *s, const btt_ledger_request *req, const uint8_t hash[32], bool sig_ok)
{
    entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    memcpy(e->id, req->id, sizeof e->id);
    memcpy(e->hash, hash, sizeof e->hash);
    e->op = req->op;
    e->sig_ok = sig_ok;
    if (btt_ledger_op_id(&req->op, s->ledger_id, e->op_id) != BTT_OK) memset(e->op_id, 0, sizeof e->op_id);
    e->state = PENDING;
    e->refs = 2;
    e->qseq = ++s->qseq_last;
    map_insert(s, e);
    if (s->qtail) s->qtail->qnext = e;
    else s->qhead = e;
    s->qtail = e;
    s->pending++;
    pthread_cond_signal(&s->queued);
    return e;
}

/* Makes r wait for e's commit (r takes a reference) and suspends the connection. Called with
 * s->lock held; unlocks it. */
static enum MHD_Result wait_for(btt_ledger_server *s, struct MHD_Connection *c, req_ctx *r, entry *e)
{
    r->e = e;
    r->conn = c;
    r->wnext = e->waiters;
    e->waiters = r;
    r->counted = true;
    s->waiting++;
    MHD_suspend_connection(c);
    pthread_mutex_unlock(&s->lock);
    return MHD_YES;
}

/* Decodes the body and queues its operation (or joins the same request in flight), then
 * suspends the connection until the commit; or answers at once (an error, a stored receipt). */
static enum MHD_Result post_op(btt_ledger_server *s, struct MHD_Connection *c, req_ctx *r)
{
    btt_ledger_request req;
    btt_ledger_request_error rerr;
    if (btt_ledger_request_parse(r->body, r->len, &req, &rerr) != 0)
        return send_error(c, rerr.status, rerr.code, "%s", rerr.message);
    const char *id = req.id;
    const btt_ledger_op op = req.op;
    uint8_t hash[32];
    crypto_generichash(hash, sizeof hash, req.raw, req.raw_len, NULL, 0);
    /* the costly check, here on a pool thread in parallel rather than in the serial committer */
    bool sig_ok = btt_ledger_op_verify(&op, s->ledger_id);

    pthread_mutex_lock(&s->lock);
    entry *e = map_find(s, id);
    if (e && sodium_memcmp(e->hash, hash, sizeof hash) != 0) {
        pthread_mutex_unlock(&s->lock);
        return send_error(c, 409, "request-id-reused", "this request_id was used for a different operation");
    }
    if (e) {
        e->refs++;
    } else {
        if (s->refusing) {
            pthread_mutex_unlock(&s->lock);
            return send_error(c, 503, "shutting-down", "the server is stopping");
        }
        e = enqueue(s, &req, hash, sig_ok);
        if (!e) {
            pthread_mutex_unlock(&s->lock);
            return send_error(c, 503, "out-of-memory", "out of memory");
        }
    }
    if (e->state != PENDING) return answer(s, c, e);
    return wait_for(s, c, r, e);
}

/* ------------------------------------------------------------------------ POST /v1/batch */

/* Drops the batch's references. Called with s->lock held. */
static void drop_items(req_ctx *r)
{
    for (size_t i = 0; i < r->nitems; i++) unref(r->items[i]);
    r->nitems = 0;
}

/* The answer of a batch none of whose entries is PENDING any more: every receipt in order, or
 * 503 if a commit failed (nothing of that commit changed; the client sends the same batch again:
 * what was committed answers from its receipt, the rest is queued anew). Called with s->lock
 * held; unlocks it. */
static enum MHD_Result answer_batch(btt_ledger_server *s, struct MHD_Connection *c, req_ctx *r)
{
    json_t *o = NULL, *arr = NULL;
    char msg[256] = "";
    bool failed = false;
    for (size_t i = 0; i < r->nitems && !failed; i++)
        if (r->items[i]->state == FAILED) {
            failed = true;
            snprintf(msg, sizeof msg, "%s", r->items[i]->errmsg);
        }
    if (!failed) {
        o = json_object();
        arr = json_array();
        for (size_t i = 0; o && arr && i < r->nitems; i++)
            if (json_array_append_new(arr, receipt_json(r->items[i])) != 0) break;
        if (o && arr) json_object_set_new(o, "receipts", arr);
        else json_decref(arr);
    }
    drop_items(r);
    pthread_mutex_unlock(&s->lock);
    if (failed)
        return send_error(c, 503, "store-failed", "a commit failed (send the batch again): %s", msg);
    return send_json(c, 200, o);
}

/* Like post_op for up to BTT_LEDGER_SERVER_BATCH_REQUESTS operations. The body is checked whole
 * before anything is queued (one bad element: 400, nothing queued; a request id reused for other
 * bytes, also within the batch: 409, nothing queued); then each operation is queued or joins its
 * request in flight, and the connection waits for the one queued last: commits follow the queue
 * order, so when it is done every other one is too. */
static enum MHD_Result post_batch(btt_ledger_server *s, struct MHD_Connection *c, req_ctx *r)
{
    btt_ledger_request *reqs = malloc(BTT_LEDGER_SERVER_BATCH_REQUESTS * sizeof *reqs);
    struct {
        uint8_t hash[32];
        bool sig_ok;
    } *chk = malloc(BTT_LEDGER_SERVER_BATCH_REQUESTS * sizeof *chk);
    r->items = calloc(BTT_LEDGER_SERVER_BATCH_REQUESTS, sizeof *r->items);
    if (!reqs || !chk || !r->items) {
        free(reqs);
        free(chk);
        return send_error(c, 503, "out-of-memory", "out of memory");
    }
    size_t n = 0;
    btt_ledger_request_error rerr;
    if (btt_ledger_batch_parse(r->body, r->len, reqs, BTT_LEDGER_SERVER_BATCH_REQUESTS, &n, &rerr) != 0) {
        free(reqs);
        free(chk);
        return send_error(c, rerr.status, rerr.code, "%s", rerr.message);
    }
    for (size_t i = 0; i < n; i++) {
        crypto_generichash(chk[i].hash, sizeof chk[i].hash, reqs[i].raw, reqs[i].raw_len, NULL, 0);
        chk[i].sig_ok = btt_ledger_op_verify(&reqs[i].op, s->ledger_id);
    }

    enum MHD_Result res;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        entry *e = map_find(s, reqs[i].id);
        bool clash = e && sodium_memcmp(e->hash, chk[i].hash, sizeof chk[i].hash) != 0;
        for (size_t j = 0; j < i && !clash; j++)
            clash = !strcmp(reqs[j].id, reqs[i].id) && sodium_memcmp(chk[j].hash, chk[i].hash, 32) != 0;
        if (clash) {
            pthread_mutex_unlock(&s->lock);
            res = send_error(c, 409, "request-id-reused", "requests[%zu]: this request_id was used for a different "
                             "operation; nothing in the batch was queued", i);
            goto out;
        }
    }
    if (s->refusing) {
        pthread_mutex_unlock(&s->lock);
        res = send_error(c, 503, "shutting-down", "the server is stopping");
        goto out;
    }
    entry *last = NULL;
    for (size_t i = 0; i < n; i++) {
        entry *e = map_find(s, reqs[i].id);
        if (e) {
            e->refs++;
        } else if (!(e = enqueue(s, &reqs[i], chk[i].hash, chk[i].sig_ok))) {
            drop_items(r); /* what was queued is committed; a retry finds it */
            pthread_mutex_unlock(&s->lock);
            res = send_error(c, 503, "out-of-memory", "out of memory");
            goto out;
        }
        r->items[r->nitems++] = e;
        if (e->state == PENDING && (!last || e->qseq > last->qseq)) last = e;
    }
    if (!last) {
        res = answer_batch(s, c, r);
    } else {
        last->refs++;
        res = wait_for(s, c, r, last);
    }
out:
    free(reqs);
    free(chk);
    return res;
}

/* --------------------------------------------------------------------------- dispatch */


static const char *after(const char *url, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(url, prefix, n) ? NULL : url + n;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    btt_ledger_server *s = cls;
    bool is_get = !strcmp(method, MHD_HTTP_METHOD_GET), is_post = !strcmp(method, MHD_HTTP_METHOD_POST);
    const char *rest;
    bool batch = !strcmp(url, "/v1/batch");
    if (batch || !strcmp(url, "/v1/ops")) {
        if (!is_post) return send_error(c, 405, "method-not-allowed", "use POST for %s", url);
        size_t limit = batch ? BTT_LEDGER_SERVER_BATCH_BODY_MAX : BTT_LEDGER_SERVER_BODY_MAX;
        req_ctx *r = *con_cls;
        if (r && r->e) { /* resumed: the commit is over */
            entry *e = r->e;
            r->e = NULL;
            pthread_mutex_lock(&s->lock);
            if (!batch) return answer(s, c, e);
            unref(e);
            return answer_batch(s, c, r);
        }
        if (!r) {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            unsigned long long want = cl ? strtoull(cl, NULL, 10) : limit;
            if (want > limit)
                return send_error(c, 413, "body-too-large", "request bodies of %s are limited to %zu bytes", url, limit);
            r = calloc(1, sizeof *r);
            if (!r) return MHD_NO;
            r->cap = want ? (size_t)want : 1;
            r->body = malloc(r->cap);
            if (!r->body) {
                free(r);
                return MHD_NO;
            }
            *con_cls = r;
            return MHD_YES;
        }
        if (*upload_size) {
            if (r->too_big || *upload_size > r->cap - r->len) r->too_big = true;
            else memcpy(r->body + r->len, upload, *upload_size);
            if (!r->too_big) r->len += *upload_size;
            *upload_size = 0;
            return MHD_YES;
        }
        if (r->too_big)
            return send_error(c, 413, "body-too-large", "request bodies of %s are limited to %zu bytes (or the "
                              "Content-Length sent)", url, limit);
        return batch ? post_batch(s, c, r) : post_op(s, c, r);
    }
    if (!is_get) {
        bool known = !strcmp(url, "/v1/info") || !strcmp(url, "/v1/invariant") || after(url, "/v1/accounts/") ||
                     after(url, "/v1/channels/");
        if (known) return send_error(c, 405, "method-not-allowed", "use GET for %s", url);
    } else if (!strcmp(url, "/v1/info")) {
        return get_info(s, c);
    } else if (!strcmp(url, "/v1/invariant")) {
        return get_invariant(s, c);
    } else if ((rest = after(url, "/v1/accounts/")) && strchr(rest, '/')) {
        return get_account_channels(s, c, rest);
    } else if ((rest = after(url, "/v1/accounts/"))) {
        return get_account(s, c, rest);
    } else if ((rest = after(url, "/v1/channels/"))) {
        return get_channel(s, c, rest);
    }
    return send_error(c, 404, "not-found", "no such endpoint; see docs/ledger-api.md");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    btt_ledger_server *s = cls;
    req_ctx *r = *con_cls;
    if (r && (r->counted || r->e || r->nitems)) {
        pthread_mutex_lock(&s->lock);
        if (r->e) unref(r->e); /* closed after the resume, before the answer */
        drop_items(r);
        if (r->counted) s->waiting--;
        pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
    }
    req_free(r);
    *con_cls = NULL;
}

/* --------------------------------------------------------------------------- lifecycle */

static btt_err parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6, btt_error *err)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return btt_error_set(err, BTT_EINVAL, "listen address '%s': expected ADDR:PORT", listen);
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (listen[0] == '[') {
        if (hl < 3 || listen[hl - 1] != ']')
            return btt_error_set(err, BTT_EINVAL, "listen address '%s': expected [IPV6]:PORT", listen);
        h++;
        hl -= 2;
    }
    if (hl >= sizeof host) return btt_error_set(err, BTT_EINVAL, "listen address '%s': host too long", listen);
    memcpy(host, h, hl);
    host[hl] = 0;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port > 65535 || colon[1] == '-' || colon[1] == '+')
        return btt_error_set(err, BTT_EINVAL, "listen address '%s': bad port", listen);
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *v6 = false;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *v6 = true;
    } else {
        return btt_error_set(err, BTT_EINVAL, "listen address '%s': '%s' is not an IP address", listen, host);
    }
    return BTT_OK;
}

static void free_server(btt_ledger_server *s)
{
    if (s->buckets) {
        for (size_t b = 0; b < s->nbuckets; b++)
            while (s->buckets[b]) map_remove(s, s->buckets[b]);
    }
    free(s->buckets);
    free(s->batch_ops);
    free(s->batch_sig);
    free(s->batch_rc);
    free(s->batch_e);
    pthread_mutex_destroy(&s->db_lock);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->queued);
    pthread_cond_destroy(&s->idle);
    free(s);
}

btt_err btt_ledger_server_start(btt_ledger_db *db, const btt_ledger_server_config *cfg, btt_ledger_server **out,
                                btt_error *err)
{
    if (sodium_init() < 0) return btt_error_set(err, BTT_EIO, "libsodium failed to initialise");
    const char *listen = cfg && cfg->listen ? cfg->listen : BTT_LEDGER_SERVER_LISTEN_DEFAULT;
    struct sockaddr_storage ss;
    bool v6 = false;
    btt_err x = parse_listen(listen, &ss, &v6, err);
    if (x != BTT_OK) return x;
    btt_ledger_server *s = calloc(1, sizeof *s);
    if (!s) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    pthread_mutex_init(&s->db_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->queued, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->db = db;
    const btt_ledger *l = btt_ledger_db_ledger(db);
    memcpy(s->ledger_id, btt_ledger_id(l), BTT_LEDGER_ID_LEN);
    s->genesis = *btt_ledger_genesis(l);
    s->max = cfg && cfg->idempotency_max ? cfg->idempotency_max : BTT_LEDGER_SERVER_IDEMPOTENCY_DEFAULT;
    s->nbuckets = 16;
    while (s->nbuckets < s->max && s->nbuckets < (SIZE_MAX >> 2)) s->nbuckets <<= 1;
    s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
    s->batch_ops = calloc(BTT_LEDGER_SERVER_BATCH_MAX, sizeof *s->batch_ops);
    s->batch_sig = calloc(BTT_LEDGER_SERVER_BATCH_MAX, sizeof *s->batch_sig);
    s->batch_rc = calloc(BTT_LEDGER_SERVER_BATCH_MAX, sizeof *s->batch_rc);
    s->batch_e = calloc(BTT_LEDGER_SERVER_BATCH_MAX, sizeof *s->batch_e);
    if (!s->buckets || !s->batch_ops || !s->batch_sig || !s->batch_rc || !s->batch_e) {
        free_server(s);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
        free_server(s);
        return btt_error_set(err, BTT_ENOMEM, "cannot start the committer thread");
    }
    s->committer_started = true;
    unsigned maxconn = cfg && cfg->max_connections ? cfg->max_connections : 256;
    /* A few epoll threads serve every connection; a POST waiting for its commit is suspended
     * rather than holding a thread (thread-per-connection spent most of its time switching). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    if (v6) flags |= MHD_USE_IPv6;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = ncpu > 0 && ncpu < 32 ? 2 * (unsigned)ncpu : 4; /* reads may wait for a commit's lock */
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_CONNECTION_LIMIT, maxconn,
                              MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_END);
    if (!s->mhd) {
        int e = errno;
        btt_ledger_server_stop(s);
        return btt_error_set(err, BTT_ENET, "cannot listen on %s: %s", listen, e ? strerror(e) : "libmicrohttpd failed");
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    char host[INET6_ADDRSTRLEN];
    if (v6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    else inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    snprintf(s->addr, sizeof s->addr, v6 ? "[%s]:%u" : "%s:%u", host, port);
    *out = s;
    return BTT_OK;
}

const char *btt_ledger_server_address(const btt_ledger_server *s) { return s->addr; }

void btt_ledger_server_stats(btt_ledger_server *s, uint64_t *commits, uint64_t *ops)
{
    pthread_mutex_lock(&s->lock);
    if (commits) *commits = s->commits;
    if (ops) *ops = s->ops_committed;
    pthread_mutex_unlock(&s->lock);
}

void btt_ledger_server_stop(btt_ledger_server *s)
{
    if (!s) return;
    if (s->mhd) {
        MHD_socket fd = MHD_quiesce_daemon(s->mhd); /* no new connections */
        if (fd != MHD_INVALID_SOCKET) close(fd);
        /* Operations already queued are committed and answered; new ones are refused. A
         * suspended connection must not exist when the daemon stops, and answers in flight get
         * (at most) 10 s to reach their clients. */
        pthread_mutex_lock(&s->lock);
        s->refusing = true;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (s->pending || s->waiting)
            if (pthread_cond_timedwait(&s->idle, &s->lock, &until) != 0 && !s->pending) break;
        pthread_mutex_unlock(&s->lock);
        MHD_stop_daemon(s->mhd);
        s->mhd = NULL;
    }
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->queued);
    pthread_mutex_unlock(&s->lock);
    if (s->committer_started) pthread_join(s->committer, NULL);
    free_server(s);
}
