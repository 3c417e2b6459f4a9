/* dht.c - the DHT node: answers queries, runs lookups, keeps announced peers (BEP 5), with
 * IPv6 (BEP 32) and read-only nodes (BEP 43). Sans I/O: see btt/dht.h.
 *
 * Transactions: a query's "t" is 4 bytes, the index of its pending slot (2 bytes) and a
 * random check (2 bytes). An answer is accepted only if the slot is in use, the check matches
 * and it comes from the address the query went to; otherwise it is counted as unexpected
 * and changes nothing. Pending slots, lookups, stored peers and both output queues are
 * capped by the configuration. */
#define BTT_DHT_INTERNAL
#include "dht_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "btt/bencode.h"

#define TID_LEN 4
#define SECRET_ROTATE_MS (5u * 60 * 1000) /* BEP 5: "changing the secret every five minutes" */
#define TOKEN_LEN 8
#define MAINT_MS 1000                     /* maintenance round */
#define PING_RETRY_MS (60u * 1000)        /* a questionable node is pinged at most once a minute */
#define PINGS_PER_ROUND 2                 /* per table */
#define EXPIRE_EVERY_MS (60u * 1000)
#define MAX_VALUES_OUT 50                 /* peers in one get_peers reply (keeps it under 1 KiB) */
#define RATE_SLOTS 512
#define RATE_PROBE 8
#define MAX_BOOT 16                       /* bootstrap addresses remembered */
#define REBOOT_MS (30u * 1000)            /* a node with a thin table bootstraps again this often */

enum { P_PING = 1, P_LOOKUP, P_ANNOUNCE };

typedef struct pending {
    uint16_t check;  /* 0: slot free */
    uint8_t purpose; /* P_* */
    uint8_t method;  /* btt_krpc_method sent */
    bool id_known;
    uint8_t id[BTT_DHT_ID_LEN];
    btt_addr to;
    uint64_t sent_ms;
    uint32_t lk;     /* lookup slot and generation (P_LOOKUP) */
    uint32_t lk_gen;
} pending;

typedef struct rate_slot {
    btt_addr key;    /* family 0: free */
    uint64_t last_ms;
    uint32_t milli;  /* tokens * 1000 */
} rate_slot;

struct btt_dht {
    btt_dht_config cfg;
    uint8_t id[BTT_DHT_ID_LEN];
    uint64_t rng;
    btt_dht_rtable *rt4, *rt6;
    bool fresh; /* nothing sent or received yet: load() may still change the id */

    pending *pend;
    size_t npend, pend_hint;

    lookup *lk;
    size_t nlk;
    uint32_t next_handle;

    /* rings that grow up to their caps */
    btt_dht_packet *out;
    size_t out_cap, out_head, out_len;
    btt_dht_event *ev;
    size_t ev_cap, ev_head, ev_len;

    uint8_t secret[2][crypto_shorthash_KEYBYTES]; /* [0] current, [1] previous */
    uint64_t rotated_ms;
    uint8_t rate_key[crypto_shorthash_KEYBYTES];
    rate_slot rate[RATE_SLOTS];

    btt_addr boot[MAX_BOOT]; /* the addresses of the last btt_dht_bootstrap */
    size_t nboot;
    uint64_t next_boot_ms;

    store st;
    uint64_t last_tick_ms, next_maint_ms, next_expire_ms;
    btt_buf enc;
    btt_dht_stats s;
};

/* ------------------------------------------------------------------ small helpers */

static uint64_t rnd64(btt_dht *d)
{
    uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rnd_bytes(btt_dht *d, uint8_t *p, size_t n)
{
    while (n) {
        uint64_t r = rnd64(d);
        size_t k = n < 8 ? n : 8;
        memcpy(p, &r, k);
        p += k;
        n -= k;
    }
}

static btt_dht_rtable *table_for(btt_dht *d, uint8_t family)
{
    return family == 4 ? d->rt4 : family == 6 ? d->rt6 : NULL;
}

static size_t ip_len(const btt_addr *a)
{
    return a->family == 6 ? 16 : 4;
}

static bool is_loopback(const btt_addr *a)
{
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return a->family == 4 ? a->ip[0] == 127 : memcmp(a->ip, v6lo, 16) == 0;
}

/* ------------------------------------------------------------------ queues */

static btt_dht_packet *out_slot(btt_dht *d)
{
    if (d->out_len == d->out_cap) {
        if (d->out_cap >= d->cfg.max_out) return NULL;
        size_t cap = d->out_cap ? d->out_cap * 2 : 8;
        if (cap > d->cfg.max_out) cap = d->cfg.max_out;
        btt_dht_packet *n = malloc(cap * sizeof *n);
        if (!n) return NULL;
        for (size_t i = 0; i < d->out_len; i++) n[i] = d->out[(d->out_head + i) % d->out_cap];
        free(d->out);
        d->out = n;
        d->out_cap = cap;
        d->out_head = 0;
    }
    return &d->out[(d->out_head + d->out_len) % d->out_cap];
}

/* Encodes m and queues it for `to`. False (counted) if the queue is full. */
static bool send_msg(btt_dht *d, const btt_krpc_msg *m, const btt_addr *to)
{
    btt_buf_reset(&d->enc);
    btt_dht_packet *p;
    if (btt_krpc_encode(&d->enc, m) != BTT_OK || !(p = out_slot(d))) {
        d->s.tx_dropped++;
        return false;
    }
    p->to = *to;
    p->len = d->enc.len;
    memcpy(p->data, d->enc.data, d->enc.len);
    d->out_len++;
    d->s.tx_packets++;
    d->s.tx_bytes += p->len;
    return true;
}

bool btt_dht_pop_send(btt_dht *d, btt_dht_packet *out)
{
    if (!d->out_len) return false;
    *out = d->out[d->out_head];
    d->out_head = (d->out_head + 1) % d->out_cap;
    d->out_len--;
    return true;
}

static btt_dht_event *ev_slot(btt_dht *d)
{
    if (d->ev_len == d->ev_cap) {
        if (d->ev_cap >= d->cfg.max_events) {
            d->s.events_dropped++;
            return NULL;
        }
        size_t cap = d->ev_cap ? d->ev_cap * 2 : 8;
        if (cap > d->cfg.max_events) cap = d->cfg.max_events;
        btt_dht_event *n = malloc(cap * sizeof *n);
        if (!n) {
            d->s.events_dropped++;
            return NULL;
        }
        for (size_t i = 0; i < d->ev_len; i++) n[i] = d->ev[(d->ev_head + i) % d->ev_cap];
        free(d->ev);
        d->ev = n;
        d->ev_cap = cap;
        d->ev_head = 0;
    }
    btt_dht_event *e = &d->ev[(d->ev_head + d->ev_len) % d->ev_cap];
    memset(e, 0, sizeof *e);
    return e;
}

bool btt_dht_pop_event(btt_dht *d, btt_dht_event *out)
{
    if (!d->ev_len) return false;
    *out = d->ev[d->ev_head];
    d->ev_head = (d->ev_head + 1) % d->ev_cap;
    d->ev_len--;
    return true;
}

/* ------------------------------------------------------------------ tokens and rate limits */

/* BEP 5: "the token is the SHA1 hash of the IP address concatenated onto a secret that
 * changes every five minutes and tokens up to ten minutes old are accepted." A keyed
 * SipHash-2-4 of the address is the same construction with a proper MAC. */
static void make_token(const uint8_t key[crypto_shorthash_KEYBYTES], const btt_addr *a, uint8_t out[TOKEN_LEN])
{
    uint8_t m[17];
    m[0] = a->family;
    memcpy(m + 1, a->ip, ip_len(a));
    crypto_shorthash_siphash24(out, m, 1 + ip_len(a), key);
}

static bool token_ok(const btt_dht *d, const btt_addr *a, const uint8_t *tok, size_t len)
{
    if (len != TOKEN_LEN) return false;
    for (int i = 0; i < 2; i++) {
        uint8_t t[TOKEN_LEN];
        make_token(d->secret[i], a, t);
        if (sodium_memcmp(t, tok, TOKEN_LEN) == 0) return true;
    }
    return false;
}

static void rotate_secret(btt_dht *d, uint64_t now_ms)
{
    memcpy(d->secret[1], d->secret[0], sizeof d->secret[0]);
    rnd_bytes(d, d->secret[0], sizeof d->secret[0]);
    d->rotated_ms = now_ms;
}

/* Token bucket per address: the IP, or on loopback the IP and port (many nodes share
 * 127.0.0.1 in tests and on one host). True if a query from a may be answered. */
static bool rate_ok(btt_dht *d, const btt_addr *a, uint64_t now_ms)
{
    btt_addr key;
    memset(&key, 0, sizeof key);
    key.family = a->family;
    memcpy(key.ip, a->ip, ip_len(a));
    if (is_loopback(a)) key.port = a->port;
    uint8_t h8[8];
    uint8_t m[19];
    m[0] = key.family;
    memcpy(m + 1, key.ip, 16);
    m[17] = (uint8_t)(key.port >> 8);
    m[18] = (uint8_t)key.port;
    crypto_shorthash_siphash24(h8, m, sizeof m, d->rate_key);
    uint64_t h;
    memcpy(&h, h8, 8);

    rate_slot *victim = NULL;
    for (size_t i = 0; i < RATE_PROBE; i++) {
        rate_slot *s = &d->rate[(h + i) % RATE_SLOTS];
        if (!s->key.family) {
            if (!victim || victim->key.family) victim = s;
            continue;
        }
        if (btt_addr_eq(&s->key, &key)) {
            uint64_t add = now_ms > s->last_ms ? (now_ms - s->last_ms) * d->cfg.rate_per_s : 0;
            uint64_t cap = (uint64_t)d->cfg.rate_burst * 1000;
            uint64_t v = s->milli + add;
            s->milli = (uint32_t)(v > cap ? cap : v);
            s->last_ms = now_ms;
            if (s->milli < 1000) return false;
            s->milli -= 1000;
            return true;
        }
        if (!victim || (victim->key.family && s->last_ms < victim->last_ms)) victim = s;
    }
    /* new address: the least recently seen of the probed slots makes room */
    victim->key = key;
    victim->last_ms = now_ms;
    victim->milli = d->cfg.rate_burst * 1000 - 1000;
    return true;
}

/* ------------------------------------------------------------------ pending queries */

static pending *pend_new(btt_dht *d, uint16_t *slot)
{
    if (d->npend >= d->cfg.max_pending) {
        d->s.pending_full++;
        return NULL;
    }
    for (size_t k = 0; k < d->cfg.max_pending; k++) {
        size_t i = (d->pend_hint + k) % d->cfg.max_pending;
        if (d->pend[i].check == 0) {
            d->pend_hint = i + 1;
            *slot = (uint16_t)i;
            pending *p = &d->pend[i];
            memset(p, 0, sizeof *p);
            do p->check = (uint16_t)rnd64(d);
            while (p->check == 0);
            d->npend++;
            return p;
        }
    }
    d->s.pending_full++;
    return NULL;
}

static void pend_free(btt_dht *d, pending *p)
{
    p->check = 0;
    d->npend--;
}

static void base_query(btt_dht *d, btt_krpc_msg *m, btt_krpc_method method, uint16_t slot, const pending *p)
{
    memset(m, 0, sizeof *m);
    m->kind = BTT_KRPC_QUERY;
    m->method = method;
    m->tid_len = TID_LEN;
    m->tid[0] = (uint8_t)(slot >> 8);
    m->tid[1] = (uint8_t)slot;
    m->tid[2] = (uint8_t)(p->check >> 8);
    m->tid[3] = (uint8_t)p->check;
    m->ro = d->cfg.read_only;
    memcpy(m->id, d->id, BTT_DHT_ID_LEN);
}

/* Sends a query; false if no pending slot or no room in the queue (nothing is left behind). */
static bool send_query(btt_dht *d, btt_krpc_method method, uint8_t purpose, const btt_addr *to, const uint8_t *id,
                       const uint8_t *target, const lookup *lk, uint64_t now_ms)
{
    uint16_t slot;
    pending *p = pend_new(d, &slot);
    if (!p) return false;
    p->purpose = purpose;
    p->method = (uint8_t)method;
    p->to = *to;
    p->sent_ms = now_ms;
    if (id) {
        p->id_known = true;
        memcpy(p->id, id, BTT_DHT_ID_LEN);
    }
    if (lk) {
        p->lk = (uint32_t)(lk - d->lk);
        p->lk_gen = lk->gen;
    }
    btt_krpc_msg m;
    base_query(d, &m, method, slot, p);
    if (target) memcpy(m.target, target, BTT_DHT_ID_LEN);
    if (lk && d->cfg.ipv4 && d->cfg.ipv6) m.want = BTT_KRPC_WANT_N4 | BTT_KRPC_WANT_N6;
    if (!send_msg(d, &m, to)) {
        pend_free(d, p);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ lookups */

static void lookup_drive(btt_dht *d, lookup *lk, uint64_t now_ms);

static btt_err lookup_start(btt_dht *d, uint8_t kind, uint8_t family, const uint8_t target[BTT_DHT_ID_LEN],
                            uint32_t handle, const btt_addr *seeds, size_t nseeds, uint64_t now_ms, lookup **out)
{
    lookup *lk = NULL;
    for (size_t i = 0; i < d->nlk; i++)
        if (!d->lk[i].in_use) {
            lk = &d->lk[i];
            break;
        }
    if (!lk) return BTT_ETOOBIG;
    uint32_t gen = lk->gen + 1;
    btt_addr *seen = lk->seen;
    memset(lk, 0, sizeof *lk);
    lk->gen = gen;
    lk->seen = seen;
    if (kind == LK_GET_PEERS && !lk->seen) {
        lk->seen = malloc(LK_MAX_PEERS * sizeof *lk->seen);
        if (!lk->seen) return BTT_ENOMEM;
    }
    lk->in_use = true;
    lk->kind = kind;
    lk->family = family;
    lk->handle = handle;
    lk->start_ms = now_ms;
    memcpy(lk->target, target, BTT_DHT_ID_LEN);

    btt_dht_node_info near[LK_MAX_CANDS / 2];
    size_t n = btt_dht_rtable_closest(table_for(d, family), target, true, now_ms, near, LK_MAX_CANDS / 2);
    for (size_t i = 0; i < n; i++) lk_add(lk, near[i].id, &near[i].addr, 0);
    for (size_t i = 0; i < nseeds && i < LK_MAX_CANDS / 2; i++)
        if (seeds[i].family == family) lk_add(lk, NULL, &seeds[i], 0);
    d->s.lookups_started++;
    *out = lk;
    return BTT_OK;
}

static void merge_stats(btt_dht_lookup_stats *into, const btt_dht_lookup_stats *s)
{
    into->queries += s->queries;
    into->replies += s->replies;
    into->timeouts += s->timeouts;
    into->peers += s->peers;
    into->announced += s->announced;
    into->closest += s->closest;
    if (s->hops > into->hops) into->hops = s->hops;
    if (s->first_peer_ms && (!into->first_peer_ms || s->first_peer_ms < into->first_peer_ms))
        into->first_peer_ms = s->first_peer_ms;
}

static void lookup_finish(btt_dht *d, lookup *lk, uint64_t now_ms)
{
    /* BEP 5 announce_peer after get_peers: to the k closest that answered with a token */
    size_t closest = 0;
    for (size_t i = 0; i < lk->n && closest < BTT_DHT_K; i++) {
        lk_cand *c = &lk->c[i];
        if (c->state != LK_REPLIED || !c->id_known) continue;
        closest++;
        if (lk->num_result < 2 * BTT_DHT_K) {
            memcpy(lk->result[lk->num_result].id, c->id, BTT_DHT_ID_LEN);
            lk->result[lk->num_result++].addr = c->addr;
        }
        if (!lk->announce || !c->token_len || d->cfg.read_only) continue;
        uint16_t slot;
        pending *p = pend_new(d, &slot);
        if (!p) break;
        p->purpose = P_ANNOUNCE;
        p->method = BTT_KRPC_ANNOUNCE_PEER;
        p->to = c->addr;
        p->sent_ms = now_ms;
        p->id_known = true;
        memcpy(p->id, c->id, BTT_DHT_ID_LEN);
        btt_krpc_msg m;
        base_query(d, &m, BTT_KRPC_ANNOUNCE_PEER, slot, p);
        memcpy(m.target, lk->target, BTT_DHT_ID_LEN);
        m.port = lk->implied_port ? 0 : lk->port;
        m.implied_port = lk->implied_port;
        m.has_token = true;
        m.token_len = c->token_len;
        memcpy(m.token, c->token, c->token_len);
        if (send_msg(d, &m, &c->addr)) lk->stats.announced++;
        else pend_free(d, p);
    }
    lk->stats.closest = (uint32_t)closest;
    lk->in_use = false;
    /* joined (or rejoined) with a lookup of our own id: now fill the farther buckets */
    if (lk->kind == LK_FIND_NODE && memcmp(lk->target, d->id, BTT_DHT_ID_LEN) == 0 && lk->stats.replies)
        btt_dht_rtable_refresh_all(table_for(d, lk->family));
    d->s.lookups_done++;
    if (!lk->handle) return;
    /* a lookup over two families ends when both have */
    for (size_t i = 0; i < d->nlk; i++) {
        lookup *o = &d->lk[i];
        if (o->in_use && o->handle == lk->handle) {
            merge_stats(&o->stats, &lk->stats);
            for (size_t k = 0; k < lk->num_result && o->num_result < 2 * BTT_DHT_K; k++)
                o->result[o->num_result++] = lk->result[k];
            if (lk->start_ms < o->start_ms) o->start_ms = lk->start_ms;
            return;
        }
    }
    btt_dht_event *e = ev_slot(d);
    if (!e) return;
    e->type = BTT_DHT_EV_DONE;
    e->lookup = lk->handle;
    memcpy(e->target, lk->target, BTT_DHT_ID_LEN);
    e->stats = lk->stats;
    e->stats.duration_ms = now_ms - lk->start_ms;
    e->num_nodes = lk->num_result;
    memcpy(e->nodes, lk->result, lk->num_result * sizeof lk->result[0]);
    d->ev_len++;
}

static void lookup_drive(btt_dht *d, lookup *lk, uint64_t now_ms)
{
    const btt_krpc_method method = lk->kind == LK_GET_PEERS ? BTT_KRPC_GET_PEERS : BTT_KRPC_FIND_NODE;
    lk_cand *c;
    while ((c = lk_next(lk, d->cfg.alpha, now_ms))) {
        if (!send_query(d, method, P_LOOKUP, &c->addr, c->id_known ? c->id : NULL, lk->target, lk, now_ms)) {
            /* no slot or no queue room: try again on the next tick */
            c->state = LK_NEW;
            lk->inflight--;
            break;
        }
        lk->stats.queries++;
    }
    if (lk_finished(lk)) lookup_finish(d, lk, now_ms);
}

static void report_peers(btt_dht *d, lookup *lk, const btt_krpc_msg *m, uint64_t now_ms)
{
    btt_dht_event *e = NULL;
    for (size_t i = 0; i < m->num_values; i++) {
        const btt_addr *a = &m->values[i];
        if (a->port == 0 || !lk_new_peer(lk, a)) continue;
        lk->stats.peers++;
        if (!lk->stats.first_peer_ms) lk->stats.first_peer_ms = now_ms - lk->start_ms ? now_ms - lk->start_ms : 1;
        if (!lk->handle) continue;
        if (!e || e->num_peers == BTT_DHT_EV_MAX_PEERS) {
            if (e) d->ev_len++;
            if (!(e = ev_slot(d))) return;
            e->type = BTT_DHT_EV_PEERS;
            e->lookup = lk->handle;
            memcpy(e->target, lk->target, BTT_DHT_ID_LEN);
        }
        e->peers[e->num_peers++] = *a;
    }
    if (e) d->ev_len++;
}

/* ------------------------------------------------------------------ answering queries */

static void reply_base(btt_dht *d, btt_krpc_msg *r, const btt_krpc_msg *q, const btt_addr *from)
{
    memset(r, 0, sizeof *r);
    r->kind = BTT_KRPC_RESPONSE;
    memcpy(r->tid, q->tid, q->tid_len);
    r->tid_len = q->tid_len;
    memcpy(r->id, d->id, BTT_DHT_ID_LEN);
    /* BEP 42: tell the querier the address we see it at */
    r->has_ip = true;
    r->ip = *from;
}

static void send_error(btt_dht *d, const btt_krpc_msg *q, const btt_addr *from, int code, const char *msg)
{
    btt_krpc_msg r;
    memset(&r, 0, sizeof r);
    r.kind = BTT_KRPC_ERROR;
    memcpy(r.tid, q->tid, q->tid_len);
    r.tid_len = q->tid_len;
    r.error_code = code;
    strncpy(r.error_msg, msg, BTT_KRPC_MAX_ERRMSG);
    (void)send_msg(d, &r, from);
}

static void add_nodes(btt_dht *d, btt_krpc_msg *r, const uint8_t target[BTT_DHT_ID_LEN], uint8_t want,
                      uint64_t now_ms)
{
    if ((want & BTT_KRPC_WANT_N4) && d->rt4)
        r->num_nodes = (uint8_t)btt_dht_rtable_closest(d->rt4, target, false, now_ms, r->nodes, BTT_DHT_K);
    if ((want & BTT_KRPC_WANT_N6) && d->rt6)
        r->num_nodes6 = (uint8_t)btt_dht_rtable_closest(d->rt6, target, false, now_ms, r->nodes6, BTT_DHT_K);
}

static void on_query(btt_dht *d, const btt_krpc_msg *q, const btt_addr *from, uint64_t now_ms)
{
    d->s.rx_queries++;
    /* BEP 43: a read-only node does not answer; a node that says it is read-only is answered
     * but never enters our table */
    if (d->cfg.read_only) return;
    if (!rate_ok(d, from, now_ms)) {
        d->s.rx_rate_limited++;
        return;
    }
    if (!q->ro && q->method != BTT_KRPC_UNKNOWN)
        (void)btt_dht_rtable_heard(table_for(d, from->family), q->id, from, BTT_DHT_HEARD_QUERY, now_ms);

    uint8_t want = q->want ? q->want : (from->family == 6 ? BTT_KRPC_WANT_N6 : BTT_KRPC_WANT_N4);
    btt_krpc_msg r;
    switch (q->method) {
    case BTT_KRPC_PING:
        reply_base(d, &r, q, from);
        break;
    case BTT_KRPC_FIND_NODE:
        reply_base(d, &r, q, from);
        add_nodes(d, &r, q->target, want, now_ms);
        break;
    case BTT_KRPC_GET_PEERS:
        reply_base(d, &r, q, from);
        r.has_token = true;
        r.token_len = TOKEN_LEN;
        make_token(d->secret[0], from, r.token);
        r.num_values = (uint16_t)store_get(&d->st, q->target, from->family, rnd64(d), r.values, MAX_VALUES_OUT);
        /* nodes too, even with values: they let the asker's lookup converge */
        add_nodes(d, &r, q->target, want, now_ms);
        break;
    case BTT_KRPC_ANNOUNCE_PEER: {
        if (!token_ok(d, from, q->token, q->token_len)) {
            d->s.announces_bad_token++;
            send_error(d, q, from, BTT_KRPC_ERR_PROTOCOL, "bad token");
            return;
        }
        btt_addr peer = *from;
        /* BEP 5: "If [implied_port] is present and non-zero, the port argument should be
         * ignored and the source port of the UDP packet should be used as the peer's port" */
        if (!q->implied_port) peer.port = q->port;
        btt_err e = store_announce(&d->st, q->target, &peer, now_ms + d->cfg.peer_ttl_ms);
        if (e) {
            d->s.announces_dropped++;
            send_error(d, q, from, BTT_KRPC_ERR_SERVER, "storage full");
            return;
        }
        d->s.announces_stored++;
        reply_base(d, &r, q, from);
        break;
    }
    default:
        send_error(d, q, from, BTT_KRPC_ERR_METHOD, "Method Unknown");
        return;
    }
    (void)send_msg(d, &r, from);
}

/* ------------------------------------------------------------------ answers to our queries */

static void on_answer(btt_dht *d, const btt_krpc_msg *m, const btt_addr *from, uint64_t now_ms)
{
    if (m->kind == BTT_KRPC_RESPONSE) d->s.rx_responses++;
    else d->s.rx_errors++;
    if (m->tid_len != TID_LEN) {
        d->s.rx_unexpected++;
        return;
    }
    uint16_t slot = (uint16_t)(m->tid[0] << 8 | m->tid[1]);
    uint16_t check = (uint16_t)(m->tid[2] << 8 | m->tid[3]);
    if (slot >= d->cfg.max_pending || d->pend[slot].check == 0 || d->pend[slot].check != check ||
        !btt_addr_eq(&d->pend[slot].to, from)) {
        d->s.rx_unexpected++;
        return;
    }
    pending p = d->pend[slot];
    lookup *lk = NULL;
    if (p.purpose == P_LOOKUP && d->lk[p.lk].in_use && d->lk[p.lk].gen == p.lk_gen) lk = &d->lk[p.lk];
    lk_cand *c = lk ? lk_find(lk, from) : NULL;

    if (m->kind == BTT_KRPC_ERROR || (p.id_known && memcmp(p.id, m->id, BTT_DHT_ID_LEN) != 0)) {
        if (m->kind == BTT_KRPC_RESPONSE) d->s.rx_id_mismatch++;
        pend_free(d, &d->pend[slot]);
        if (c) {
            lk_failed(lk, c);
            lk->stats.timeouts++;
            lookup_drive(d, lk, now_ms);
        }
        return;
    }
    pend_free(d, &d->pend[slot]);
    (void)btt_dht_rtable_heard(table_for(d, from->family), m->id, from, BTT_DHT_HEARD_REPLY, now_ms);
    if (!lk || !c || (c->state != LK_SENT && c->state != LK_SLOW)) return;

    lk->stats.replies++;
    uint8_t hops = c->hops;
    if (hops > lk->stats.hops) lk->stats.hops = hops;
    c = lk_replied(lk, c, m->id);
    if (c && m->has_token) {
        c->token_len = m->token_len;
        memcpy(c->token, m->token, m->token_len);
    }
    const btt_dht_node_info *nodes = lk->family == 6 ? m->nodes6 : m->nodes;
    size_t n = lk->family == 6 ? m->num_nodes6 : m->num_nodes;
    for (size_t i = 0; i < n; i++)
        if (memcmp(nodes[i].id, d->id, BTT_DHT_ID_LEN) != 0)
            lk_add(lk, nodes[i].id, &nodes[i].addr, (uint8_t)(hops < 254 ? hops + 1 : 255));
    if (lk->kind == LK_GET_PEERS) report_peers(d, lk, m, now_ms);
    lookup_drive(d, lk, now_ms);
}

void btt_dht_receive(btt_dht *d, const uint8_t *p, size_t len, const btt_addr *from, uint64_t now_ms)
{
    d->fresh = false;
    d->s.rx_packets++;
    d->s.rx_bytes += len;
    if (!table_for(d, from->family) || from->port == 0) {
        d->s.rx_wrong_family++;
        return;
    }
    if (len > BTT_DHT_MAX_INPUT) {
        d->s.rx_oversized++;
        return;
    }
    btt_krpc_msg *m = malloc(sizeof *m);
    if (!m) {
        d->s.rx_malformed++;
        return;
    }
    btt_err e = btt_krpc_decode(p, len, m, NULL);
    if (e == BTT_ETOOBIG) d->s.rx_oversized++;
    else if (e) d->s.rx_malformed++;
    else if (m->kind == BTT_KRPC_QUERY) on_query(d, m, from, now_ms);
    else on_answer(d, m, from, now_ms);
    free(m);
}

/* ------------------------------------------------------------------ timers */

static void expire_pending(btt_dht *d, uint64_t now_ms)
{
    for (size_t i = 0; i < d->cfg.max_pending && d->npend; i++) {
        pending *p = &d->pend[i];
        if (!p->check || now_ms - p->sent_ms < d->cfg.query_timeout_ms) continue;
        d->s.timeouts++;
        if (p->id_known) btt_dht_rtable_failed(table_for(d, p->to.family), p->id, &p->to);
        if (p->purpose == P_LOOKUP && d->lk[p->lk].in_use && d->lk[p->lk].gen == p->lk_gen) {
            lookup *lk = &d->lk[p->lk];
            lk_cand *c = lk_find(lk, &p->to);
            if (c && (c->state == LK_SENT || c->state == LK_SLOW)) {
                lk_failed(lk, c);
                lk->stats.timeouts++;
            }
        }
        pend_free(d, p);
    }
}

static void maintain(btt_dht *d, uint64_t now_ms)
{
    if (now_ms - d->rotated_ms >= SECRET_ROTATE_MS) rotate_secret(d, now_ms);
    if (now_ms >= d->next_expire_ms) {
        store_expire(&d->st, now_ms);
        d->next_expire_ms = now_ms + EXPIRE_EVERY_MS;
    }
    for (uint8_t fam = 4; fam <= 6; fam += 2) {
        btt_dht_rtable *rt = table_for(d, fam);
        if (!rt) continue;
        btt_dht_node_info ni;
        for (int i = 0; i < PINGS_PER_ROUND && btt_dht_rtable_next_ping(rt, now_ms, PING_RETRY_MS, &ni); i++)
            (void)send_query(d, BTT_KRPC_PING, P_PING, &ni.addr, ni.id, NULL, NULL, now_ms);
        /* refreshes use at most half of the lookup slots, leaving the rest to the caller */
        size_t busy = 0;
        for (size_t i = 0; i < d->nlk; i++) busy += d->lk[i].in_use;
        /* a table thinner than one bucket: bootstrap again (the first answer may have been lost) */
        btt_dht_rtable_info info;
        btt_dht_rtable_get_info(rt, now_ms, &info);
        if (info.good < BTT_DHT_K && d->nboot && now_ms >= d->next_boot_ms && busy < d->nlk / 2) {
            lookup *lk;
            d->next_boot_ms = now_ms + REBOOT_MS;
            if (lookup_start(d, LK_FIND_NODE, fam, d->id, 0, d->boot, d->nboot, now_ms, &lk) == BTT_OK) {
                lookup_drive(d, lk, now_ms);
                busy++;
            }
        }
        uint8_t target[BTT_DHT_ID_LEN];
        if (busy < d->nlk / 2 && btt_dht_rtable_refresh_target(rt, now_ms, rnd64(d), target)) {
            lookup *lk;
            if (lookup_start(d, LK_FIND_NODE, fam, target, 0, NULL, 0, now_ms, &lk) == BTT_OK)
                lookup_drive(d, lk, now_ms);
        }
    }
}

void btt_dht_tick(btt_dht *d, uint64_t now_ms)
{
    d->last_tick_ms = now_ms;
    expire_pending(d, now_ms);
    for (size_t i = 0; i < d->nlk; i++) {
        lookup *lk = &d->lk[i];
        if (!lk->in_use) continue;
        lk_age(lk, now_ms, d->cfg.slow_ms);
        lookup_drive(d, lk, now_ms);
    }
    if (now_ms >= d->next_maint_ms) {
        maintain(d, now_ms);
        d->next_maint_ms = now_ms + MAINT_MS;
    }
}

uint64_t btt_dht_next_tick_ms(const btt_dht *d)
{
    uint64_t t = d->next_maint_ms;
    if (d->npend && d->last_tick_ms + 100 < t) t = d->last_tick_ms + 100;
    return t;
}

/* ------------------------------------------------------------------ public actions */

void btt_dht_config_default(btt_dht_config *c)
{
    memset(c, 0, sizeof *c);
    c->ipv4 = true;
    c->max_lookups = 32;
    c->max_pending = 512;
    c->max_torrents = 4096;
    c->max_peers_per_torrent = 200;
    c->max_peers = 50000;
    c->max_out = 1024;
    c->max_events = 4096;
    c->alpha = 3;
    c->query_timeout_ms = 4000;
    c->slow_ms = 1000;
    c->peer_ttl_ms = 30u * 60 * 1000;
    c->rate_per_s = 20;
    c->rate_burst = 40;
}

static btt_err make_tables(btt_dht *d, uint64_t now_ms)
{
    btt_dht_rtable_free(d->rt4);
    btt_dht_rtable_free(d->rt6);
    d->rt4 = d->rt6 = NULL;
    if (d->cfg.ipv4 && !(d->rt4 = btt_dht_rtable_new(d->id, now_ms))) return BTT_ENOMEM;
    if (d->cfg.ipv6 && !(d->rt6 = btt_dht_rtable_new(d->id, now_ms))) return BTT_ENOMEM;
    return BTT_OK;
}

btt_err btt_dht_new(const btt_dht_config *cfg, uint64_t now_ms, btt_dht **out, btt_error *err)
{
    *out = NULL;
    if (!cfg->ipv4 && !cfg->ipv6) return btt_error_set(err, BTT_EINVAL, "dht: no address family");
    if (cfg->max_pending == 0 || cfg->max_pending > 65535 || cfg->max_lookups == 0 || cfg->max_out == 0 ||
        cfg->max_events == 0 || cfg->alpha == 0 || cfg->rate_burst == 0 || cfg->rate_burst > 1000000 ||
        cfg->max_peers_per_torrent == 0 || cfg->max_peers_per_torrent > UINT32_MAX)
        return btt_error_set(err, BTT_EINVAL, "dht: a limit in the configuration is out of range");
    if (sodium_init() < 0) return btt_error_set(err, BTT_ENOMEM, "libsodium failed to initialize");
    btt_dht *d = calloc(1, sizeof *d);
    if (!d) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    d->cfg = *cfg;
    memcpy(d->id, cfg->id, BTT_DHT_ID_LEN);
    d->rng = cfg->seed;
    d->fresh = true;
    d->pend = calloc(cfg->max_pending, sizeof *d->pend);
    d->nlk = cfg->max_lookups;
    d->lk = calloc(d->nlk, sizeof *d->lk);
    if (!d->pend || !d->lk || make_tables(d, now_ms)) {
        btt_dht_free(d);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    store_init(&d->st, cfg->max_torrents, cfg->max_peers_per_torrent, cfg->max_peers);
    btt_buf_init(&d->enc, BTT_DHT_MAX_PACKET);
    rnd_bytes(d, d->secret[1], sizeof d->secret[1]);
    rnd_bytes(d, d->secret[0], sizeof d->secret[0]);
    rnd_bytes(d, d->rate_key, sizeof d->rate_key);
    d->rotated_ms = now_ms;
    d->last_tick_ms = now_ms;
    d->next_maint_ms = now_ms + MAINT_MS;
    d->next_expire_ms = now_ms + EXPIRE_EVERY_MS;
    d->next_handle = 1;
    *out = d;
    return BTT_OK;
}

void btt_dht_free(btt_dht *d)
{
    if (!d) return;
    btt_dht_rtable_free(d->rt4);
    btt_dht_rtable_free(d->rt6);
    if (d->lk)
        for (size_t i = 0; i < d->nlk; i++) free(d->lk[i].seen);
    free(d->lk);
    free(d->pend);
    free(d->out);
    free(d->ev);
    store_free(&d->st);
    btt_buf_free(&d->enc);
    free(d);
}

const uint8_t *btt_dht_id(const btt_dht *d)
{
    return d->id;
}

btt_dht_rtable *btt_dht_table(btt_dht *d, uint8_t family)
{
    return table_for(d, family);
}

btt_err btt_dht_add_node(btt_dht *d, const btt_addr *addr, uint64_t now_ms)
{
    if (!table_for(d, addr->family) || addr->port == 0) return BTT_EINVAL;
    d->fresh = false;
    return send_query(d, BTT_KRPC_PING, P_PING, addr, NULL, NULL, NULL, now_ms) ? BTT_OK : BTT_ETOOBIG;
}

static uint32_t new_handle(btt_dht *d)
{
    uint32_t h = d->next_handle++;
    if (d->next_handle == 0) d->next_handle = 1;
    return h;
}

/* One lookup per family the node serves, under one handle. */
static btt_err start_all(btt_dht *d, uint8_t kind, const uint8_t target[BTT_DHT_ID_LEN], const btt_addr *seeds,
                         size_t nseeds, bool announce, uint16_t port, bool implied_port, uint64_t now_ms,
                         uint32_t *handle)
{
    size_t free_slots = 0;
    for (size_t i = 0; i < d->nlk; i++) free_slots += !d->lk[i].in_use;
    size_t fams = (size_t)(d->rt4 != NULL) + (size_t)(d->rt6 != NULL);
    if (free_slots < fams) return BTT_ETOOBIG;
    d->fresh = false;
    uint32_t h = new_handle(d);
    lookup *started[2];
    size_t ns = 0;
    for (uint8_t fam = 4; fam <= 6; fam += 2) {
        if (!table_for(d, fam)) continue;
        lookup *lk;
        btt_err e = lookup_start(d, kind, fam, target, h, seeds, nseeds, now_ms, &lk);
        if (e) {
            for (size_t i = 0; i < ns; i++) started[i]->in_use = false;
            return e;
        }
        lk->announce = announce;
        lk->port = port;
        lk->implied_port = implied_port;
        started[ns++] = lk;
    }
    if (handle) *handle = h;
    for (size_t i = 0; i < ns; i++) lookup_drive(d, started[i], now_ms);
    return BTT_OK;
}

btt_err btt_dht_bootstrap(btt_dht *d, const btt_addr *addrs, size_t n, uint64_t now_ms, uint32_t *lookup_handle)
{
    btt_dht_node_info one;
    bool any = false;
    for (size_t i = 0; i < n; i++) any |= table_for(d, addrs[i].family) != NULL && addrs[i].port != 0;
    for (uint8_t fam = 4; fam <= 6 && !any; fam += 2)
        if (table_for(d, fam)) any = btt_dht_rtable_closest(table_for(d, fam), d->id, true, now_ms, &one, 1) > 0;
    if (!any) return BTT_EINVAL;
    d->nboot = 0;
    for (size_t i = 0; i < n && d->nboot < MAX_BOOT; i++)
        if (table_for(d, addrs[i].family) && addrs[i].port) d->boot[d->nboot++] = addrs[i];
    d->next_boot_ms = now_ms + REBOOT_MS;
    return start_all(d, LK_FIND_NODE, d->id, addrs, n, false, 0, false, now_ms, lookup_handle);
}

btt_err btt_dht_find_node(btt_dht *d, const uint8_t target[BTT_DHT_ID_LEN], uint64_t now_ms, uint32_t *lookup_handle)
{
    return start_all(d, LK_FIND_NODE, target, NULL, 0, false, 0, false, now_ms, lookup_handle);
}

btt_err btt_dht_get_peers(btt_dht *d, const uint8_t info_hash[BTT_DHT_ID_LEN], bool announce, uint16_t port,
                          bool implied_port, uint64_t now_ms, uint32_t *lookup_handle)
{
    if (announce && !implied_port && port == 0) return BTT_EINVAL;
    return start_all(d, LK_GET_PEERS, info_hash, NULL, 0, announce, port, implied_port, now_ms, lookup_handle);
}

/* ------------------------------------------------------------------ saved state */

btt_err btt_dht_save(const btt_dht *d, uint64_t now_ms, btt_buf *out)
{
    btt_buf n4, n6;
    btt_buf_init(&n4, 1u << 20);
    btt_buf_init(&n6, 1u << 20);
    btt_err e = BTT_OK;
    if (d->rt4) e = btt_dht_rtable_save(d->rt4, now_ms, &n4);
    if (!e && d->rt6) e = btt_dht_rtable_save(d->rt6, now_ms, &n6);
    if (!e) e = btt_benc_dict(out);
    if (!e) e = btt_benc_cstr(out, "id");
    if (!e) e = btt_benc_str(out, d->id, BTT_DHT_ID_LEN);
    if (!e) e = btt_benc_cstr(out, "nodes");
    if (!e) e = btt_benc_str(out, n4.data, n4.len);
    if (!e) e = btt_benc_cstr(out, "nodes6");
    if (!e) e = btt_benc_str(out, n6.data, n6.len);
    if (!e) e = btt_benc_end(out);
    btt_buf_free(&n4);
    btt_buf_free(&n6);
    return e;
}

btt_err btt_dht_load(btt_dht *d, const uint8_t *p, size_t len, uint64_t now_ms, btt_error *err)
{
    if (!d->fresh) return btt_error_set(err, BTT_EINVAL, "dht: state can only be loaded into a fresh node");
    static const btt_ben_limits lim = {4, 16, 1u << 20};
    btt_ben_doc *doc;
    btt_err e = btt_ben_decode(p, len, 0, &lim, &doc, err);
    if (e) {
        btt_error_prefix(err, "dht state");
        return e;
    }
    const btt_ben *root = btt_ben_root(doc);
    const uint8_t *id, *n4 = NULL, *n6 = NULL;
    size_t idlen, l4 = 0, l6 = 0;
    const btt_ben *v;
    if (!btt_ben_get_str(btt_ben_dict_get(root, "id"), &id, &idlen) || idlen != BTT_DHT_ID_LEN) {
        btt_ben_free(doc);
        return btt_error_set(err, BTT_EPROTO, "dht state: id is not 20 bytes");
    }
    if (((v = btt_ben_dict_get(root, "nodes")) && (!btt_ben_get_str(v, &n4, &l4) || l4 % 26)) ||
        ((v = btt_ben_dict_get(root, "nodes6")) && (!btt_ben_get_str(v, &n6, &l6) || l6 % 38))) {
        btt_ben_free(doc);
        return btt_error_set(err, BTT_EPROTO, "dht state: nodes are not compact node lists");
    }
    memcpy(d->id, id, BTT_DHT_ID_LEN);
    e = make_tables(d, now_ms);
    if (!e && d->rt4 && l4) e = btt_dht_rtable_load(d->rt4, 4, n4, l4, now_ms);
    if (!e && d->rt6 && l6) e = btt_dht_rtable_load(d->rt6, 6, n6, l6, now_ms);
    btt_ben_free(doc);
    if (e) return btt_error_set(err, e, "dht state: %s", btt_err_message(e));
    return BTT_OK;
}

void btt_dht_get_stats(const btt_dht *d, btt_dht_stats *out)
{
    *out = d->s;
    out->pending = d->npend;
    out->lookups = 0;
    for (size_t i = 0; i < d->nlk; i++) out->lookups += d->lk[i].in_use;
    out->torrents = d->st.n;
    out->peers_stored = d->st.peers;
}
