/* rtable.c - the routing table (BEP 5), one per address family.
 *
 * BEP 5: "The routing table covers the entire node ID space from 0 to 2^160. The routing
 * table is subdivided into "buckets" that each cover a portion of the space. ... Each bucket
 * can only hold K nodes, currently eight, before becoming "full." When a bucket is full of
 * known good nodes, no more nodes may be added unless our own node ID falls within the range
 * of the bucket. In that case, the bucket is replaced by two new buckets each with half the
 * range of the old bucket."
 *
 * Layout: bucket i < last holds the nodes that share exactly i leading bits with our id; the
 * last bucket holds everything closer (it is the one containing our id, the only one that
 * splits). So a node's bucket is min(common_bits(self, id), last), found without a search.
 * At most 160 buckets of 8 nodes and 8 replacements: a table never exceeds 2,560 entries
 * (about 190 KiB); the bucket array grows by doubling as buckets split. */
#include "btt/dht.h"

#include <stdlib.h>
#include <string.h>

#define MAX_BUCKETS 160

typedef struct bucket {
    btt_dht_rnode nodes[BTT_DHT_K];
    btt_dht_rnode repl[BTT_DHT_K]; /* replacement cache, oldest first */
    uint8_t n, nrepl;
    bool due; /* refresh at the next chance, whatever the time */
    uint64_t last_changed_ms;
} bucket;

struct btt_dht_rtable {
    uint8_t self[BTT_DHT_ID_LEN];
    bucket *b;
    size_t nb, cap;
};

/* ------------------------------------------------------------------ ids */

unsigned btt_dht_id_common_bits(const uint8_t a[BTT_DHT_ID_LEN], const uint8_t b[BTT_DHT_ID_LEN])
{
    for (unsigned i = 0; i < BTT_DHT_ID_LEN; i++) {
        uint8_t x = a[i] ^ b[i];
        if (x) return i * 8 + (unsigned)__builtin_clz((unsigned)x) - 24;
    }
    return BTT_DHT_ID_LEN * 8;
}

int btt_dht_id_cmp_distance(const uint8_t target[BTT_DHT_ID_LEN], const uint8_t a[BTT_DHT_ID_LEN],
                            const uint8_t b[BTT_DHT_ID_LEN])
{
    for (size_t i = 0; i < BTT_DHT_ID_LEN; i++) {
        uint8_t da = a[i] ^ target[i], db = b[i] ^ target[i];
        if (da != db) return da < db ? -1 : 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ table */

btt_dht_rtable *btt_dht_rtable_new(const uint8_t self[BTT_DHT_ID_LEN], uint64_t now_ms)
{
    btt_dht_rtable *rt = calloc(1, sizeof *rt);
    if (!rt) return NULL;
    /* grows as buckets split (a 500-node network needs about 10 of 160) */
    rt->cap = 8;
    rt->b = calloc(rt->cap, sizeof *rt->b);
    if (!rt->b) {
        free(rt);
        return NULL;
    }
    memcpy(rt->self, self, BTT_DHT_ID_LEN);
    rt->nb = 1;
    rt->b[0].last_changed_ms = now_ms;
    return rt;
}

void btt_dht_rtable_free(btt_dht_rtable *rt)
{
    if (!rt) return;
    free(rt->b);
    free(rt);
}

btt_dht_node_state btt_dht_rnode_state(const btt_dht_rnode *n, uint64_t now_ms)
{
    /* BEP 5: "A good node is a node has responded to one of our queries within the last 15
     * minutes. A node is also good if it has ever responded to one of our queries and has
     * sent us a query within the last 15 minutes. After 15 minutes of inactivity, a node
     * becomes questionable. Nodes become bad when they fail to respond to multiple queries
     * in a row." */
    if (n->fails >= BTT_DHT_MAX_FAILS) return BTT_DHT_BAD;
    if (n->last_reply_ms && now_ms - n->last_reply_ms < BTT_DHT_GOOD_MS) return BTT_DHT_GOOD;
    if (n->last_reply_ms && n->last_query_ms && now_ms - n->last_query_ms < BTT_DHT_GOOD_MS) return BTT_DHT_GOOD;
    return BTT_DHT_QUESTIONABLE;
}

static size_t bucket_index(const btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN])
{
    size_t cpl = btt_dht_id_common_bits(rt->self, id);
    return cpl < rt->nb - 1 ? cpl : rt->nb - 1;
}

static int find_in(const btt_dht_rnode *v, size_t n, const uint8_t id[BTT_DHT_ID_LEN])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(v[i].id, id, BTT_DHT_ID_LEN) == 0) return (int)i;
    return -1;
}

static bool addr_in_table(const btt_dht_rtable *rt, const btt_addr *a)
{
    for (size_t i = 0; i < rt->nb; i++) {
        const bucket *b = &rt->b[i];
        for (size_t j = 0; j < b->n; j++)
            if (btt_addr_eq(&b->nodes[j].addr, a)) return true;
        for (size_t j = 0; j < b->nrepl; j++)
            if (btt_addr_eq(&b->repl[j].addr, a)) return true;
    }
    return false;
}

static void remove_at(btt_dht_rnode *v, uint8_t *n, size_t i)
{
    memmove(&v[i], &v[i + 1], (size_t)(*n - i - 1) * sizeof *v);
    (*n)--;
}

/* Splits the last bucket in two: the nodes that share one more bit with us move on.
 * False if out of memory (the table then stays as it is). */
static bool split_last(btt_dht_rtable *rt, uint64_t now_ms)
{
    if (rt->nb == rt->cap) {
        size_t cap = rt->cap * 2 < MAX_BUCKETS ? rt->cap * 2 : MAX_BUCKETS;
        bucket *nb = realloc(rt->b, cap * sizeof *nb);
        if (!nb) return false;
        rt->b = nb;
        rt->cap = cap;
    }
    bucket *old = &rt->b[rt->nb - 1];
    bucket *nw = &rt->b[rt->nb];
    memset(nw, 0, sizeof *nw);
    const size_t depth = rt->nb; /* nodes with at least this many common bits move */
    rt->nb++;
    for (size_t i = 0; i < old->n;) {
        if (btt_dht_id_common_bits(rt->self, old->nodes[i].id) >= depth) {
            nw->nodes[nw->n++] = old->nodes[i];
            remove_at(old->nodes, &old->n, i);
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < old->nrepl;) {
        if (btt_dht_id_common_bits(rt->self, old->repl[i].id) >= depth) {
            nw->repl[nw->nrepl++] = old->repl[i];
            remove_at(old->repl, &old->nrepl, i);
        } else {
            i++;
        }
    }
    /* replacements fill the room the split made */
    while (old->n < BTT_DHT_K && old->nrepl) {
        old->nodes[old->n++] = old->repl[old->nrepl - 1];
        old->nrepl--;
    }
    while (nw->n < BTT_DHT_K && nw->nrepl) {
        nw->nodes[nw->n++] = nw->repl[nw->nrepl - 1];
        nw->nrepl--;
    }
    old->last_changed_ms = now_ms;
    nw->last_changed_ms = now_ms;
    return true;
}

static void touch(btt_dht_rnode *n, int how, uint64_t now_ms)
{
    if (how == BTT_DHT_HEARD_REPLY) {
        n->last_reply_ms = now_ms;
        n->fails = 0;
    } else if (how == BTT_DHT_HEARD_QUERY) {
        n->last_query_ms = now_ms;
    }
}

/* how: a btt_dht_heard, or 0 for a node from a saved table (never heard from yet). */
static btt_dht_ins heard(btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN], const btt_addr *addr, int how,
                         uint64_t now_ms)
{
    if (addr->port == 0 || (addr->family != 4 && addr->family != 6) ||
        memcmp(id, rt->self, BTT_DHT_ID_LEN) == 0)
        return BTT_DHT_INS_REJECTED;
    for (;;) {
        size_t bi = bucket_index(rt, id);
        bucket *b = &rt->b[bi];
        int i = find_in(b->nodes, b->n, id);
        if (i >= 0) {
            /* an id seen at another address is not believed (it would let anyone redirect a
             * good node's traffic); the entry ages out if the node really moved */
            if (!btt_addr_eq(&b->nodes[i].addr, addr)) return BTT_DHT_INS_REJECTED;
            touch(&b->nodes[i], how, now_ms);
            /* BEP 5: "When a node in a bucket is pinged and it responds ... the bucket's last
             * changed property should be updated." */
            if (how == BTT_DHT_HEARD_REPLY) b->last_changed_ms = now_ms;
            return BTT_DHT_INS_UPDATED;
        }
        btt_dht_rnode fresh;
        int r = find_in(b->repl, b->nrepl, id);
        if (r >= 0) {
            if (!btt_addr_eq(&b->repl[r].addr, addr)) return BTT_DHT_INS_REJECTED;
            fresh = b->repl[r];
            remove_at(b->repl, &b->nrepl, (size_t)r);
        } else {
            if (addr_in_table(rt, addr)) return BTT_DHT_INS_REJECTED;
            memset(&fresh, 0, sizeof fresh);
            memcpy(fresh.id, id, BTT_DHT_ID_LEN);
            fresh.addr = *addr;
        }
        touch(&fresh, how, now_ms);

        if (b->n < BTT_DHT_K) {
            b->nodes[b->n++] = fresh;
            b->last_changed_ms = now_ms;
            return BTT_DHT_INS_ADDED;
        }
        if (bi == rt->nb - 1 && rt->nb < MAX_BUCKETS) {
            /* put a replacement back before splitting, so nothing is lost */
            if (r >= 0) b->repl[b->nrepl++] = fresh;
            if (split_last(rt, now_ms)) continue;
            if (r >= 0) return BTT_DHT_INS_REPLACEMENT;
            b = &rt->b[bi];
        }
        /* BEP 5: "If any nodes in the bucket are known to have become bad, then one is
         * replaced by the new node." */
        for (size_t j = 0; j < b->n; j++) {
            if (btt_dht_rnode_state(&b->nodes[j], now_ms) == BTT_DHT_BAD) {
                b->nodes[j] = fresh;
                b->last_changed_ms = now_ms;
                return BTT_DHT_INS_ADDED;
            }
        }
        /* a full bucket of good or questionable nodes: keep the newcomer as a replacement
         * (the oldest replacement goes); questionable nodes get pinged by the node's timers
         * and are replaced from here once they prove bad */
        if (b->nrepl == BTT_DHT_K) remove_at(b->repl, &b->nrepl, 0);
        b->repl[b->nrepl++] = fresh;
        return BTT_DHT_INS_REPLACEMENT;
    }
}

btt_dht_ins btt_dht_rtable_heard(btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN], const btt_addr *addr,
                                 btt_dht_heard how, uint64_t now_ms)
{
    return heard(rt, id, addr, (int)how, now_ms);
}

void btt_dht_rtable_failed(btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN], const btt_addr *addr)
{
    bucket *b = &rt->b[bucket_index(rt, id)];
    int r = find_in(b->repl, b->nrepl, id);
    if (r >= 0 && btt_addr_eq(&b->repl[r].addr, addr)) {
        remove_at(b->repl, &b->nrepl, (size_t)r);
        return;
    }
    int i = find_in(b->nodes, b->n, id);
    if (i < 0 || !btt_addr_eq(&b->nodes[i].addr, addr)) return;
    btt_dht_rnode *n = &b->nodes[i];
    if (n->fails < UINT8_MAX) n->fails++;
    if (n->fails >= BTT_DHT_MAX_FAILS && b->nrepl) {
        *n = b->repl[b->nrepl - 1]; /* the newest replacement is the most likely to be alive */
        b->nrepl--;
    }
}

void btt_dht_rtable_remove(btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN])
{
    bucket *b = &rt->b[bucket_index(rt, id)];
    int i = find_in(b->nodes, b->n, id);
    if (i >= 0) {
        remove_at(b->nodes, &b->n, (size_t)i);
        if (b->nrepl) {
            b->nodes[b->n++] = b->repl[b->nrepl - 1];
            b->nrepl--;
        }
    }
    int r = find_in(b->repl, b->nrepl, id);
    if (r >= 0) remove_at(b->repl, &b->nrepl, (size_t)r);
}

const btt_dht_rnode *btt_dht_rtable_find(const btt_dht_rtable *rt, const uint8_t id[BTT_DHT_ID_LEN])
{
    const bucket *b = &rt->b[bucket_index(rt, id)];
    int i = find_in(b->nodes, b->n, id);
    return i >= 0 ? &b->nodes[i] : NULL;
}

size_t btt_dht_rtable_closest(const btt_dht_rtable *rt, const uint8_t target[BTT_DHT_ID_LEN], bool include_questionable,
                              uint64_t now_ms, btt_dht_node_info *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < rt->nb; i++) {
        const bucket *b = &rt->b[i];
        for (size_t j = 0; j < b->n; j++) {
            const btt_dht_rnode *c = &b->nodes[j];
            btt_dht_node_state st = btt_dht_rnode_state(c, now_ms);
            if (st == BTT_DHT_BAD) continue;
            /* confirmed: it answered us once and has not failed since (a node that merely
             * went quiet for 15 minutes is still worth giving out) */
            if (!include_questionable && (!c->last_reply_ms || c->fails)) continue;
            /* insertion into the sorted prefix out[0..n) */
            size_t pos = n;
            while (pos > 0 && btt_dht_id_cmp_distance(target, c->id, out[pos - 1].id) < 0) pos--;
            if (pos >= max) continue;
            size_t keep = n < max ? n : max - 1;
            memmove(&out[pos + 1], &out[pos], (keep - pos) * sizeof *out);
            memcpy(out[pos].id, c->id, BTT_DHT_ID_LEN);
            out[pos].addr = c->addr;
            if (n < max) n++;
        }
    }
    return n;
}

bool btt_dht_rtable_next_ping(btt_dht_rtable *rt, uint64_t now_ms, uint64_t retry_ms, btt_dht_node_info *out)
{
    for (size_t i = 0; i < rt->nb; i++) {
        bucket *b = &rt->b[i];
        for (size_t j = 0; j < b->n; j++) {
            btt_dht_rnode *c = &b->nodes[j];
            if (btt_dht_rnode_state(c, now_ms) != BTT_DHT_QUESTIONABLE) continue;
            if (c->last_ping_ms && now_ms - c->last_ping_ms < retry_ms) continue;
            c->last_ping_ms = now_ms;
            memcpy(out->id, c->id, BTT_DHT_ID_LEN);
            out->addr = c->addr;
            return true;
        }
    }
    return false;
}

static uint64_t mix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

bool btt_dht_rtable_refresh_target(btt_dht_rtable *rt, uint64_t now_ms, uint64_t rnd, uint8_t target[BTT_DHT_ID_LEN])
{
    for (size_t i = 0; i < rt->nb; i++) {
        bucket *b = &rt->b[i];
        if (!b->due && now_ms - b->last_changed_ms < BTT_DHT_REFRESH_MS) continue;
        b->due = false;
        /* BEP 5: "Buckets that have not been changed in 15 minutes should be "refreshed."
         * This is done by picking a random ID in the range of the bucket and performing a
         * find_nodes search on it." */
        for (size_t k = 0; k < BTT_DHT_ID_LEN; k += 8) {
            uint64_t r = mix64(&rnd);
            memcpy(target + k, &r, BTT_DHT_ID_LEN - k < 8 ? BTT_DHT_ID_LEN - k : 8);
        }
        /* the first i bits are ours; bit i differs unless this is the last bucket */
        for (size_t bit = 0; bit <= i && bit < BTT_DHT_ID_LEN * 8; bit++) {
            uint8_t mask = (uint8_t)(0x80u >> (bit % 8));
            uint8_t mine = rt->self[bit / 8] & mask;
            bool flip = bit == i && i != rt->nb - 1;
            if (bit == i && i == rt->nb - 1) break; /* last bucket: free below its prefix */
            target[bit / 8] = (uint8_t)((target[bit / 8] & ~mask) | (flip ? (mine ^ mask) : mine));
        }
        b->last_changed_ms = now_ms;
        return true;
    }
    return false;
}

void btt_dht_rtable_refresh_all(btt_dht_rtable *rt)
{
    for (size_t i = 0; i + 1 < rt->nb; i++) rt->b[i].due = true;
}

void btt_dht_rtable_get_info(const btt_dht_rtable *rt, uint64_t now_ms, btt_dht_rtable_info *out)
{
    memset(out, 0, sizeof *out);
    out->buckets = rt->nb;
    for (size_t i = 0; i < rt->nb; i++) {
        const bucket *b = &rt->b[i];
        out->nodes += b->n;
        out->replacements += b->nrepl;
        for (size_t j = 0; j < b->n; j++) {
            switch (btt_dht_rnode_state(&b->nodes[j], now_ms)) {
            case BTT_DHT_GOOD: out->good++; break;
            case BTT_DHT_QUESTIONABLE: out->questionable++; break;
            default: out->bad++; break;
            }
        }
    }
}

size_t btt_dht_rtable_bucket(const btt_dht_rtable *rt, size_t i, const btt_dht_rnode **nodes)
{
    if (i >= rt->nb) {
        *nodes = NULL;
        return 0;
    }
    *nodes = rt->b[i].nodes;
    return rt->b[i].n;
}

btt_err btt_dht_rtable_save(const btt_dht_rtable *rt, uint64_t now_ms, btt_buf *out)
{
    for (size_t i = 0; i < rt->nb; i++) {
        const bucket *b = &rt->b[i];
        for (size_t j = 0; j < b->n; j++) {
            if (btt_dht_rnode_state(&b->nodes[j], now_ms) == BTT_DHT_BAD) continue;
            uint8_t c[38];
            btt_dht_node_info ni;
            memcpy(ni.id, b->nodes[j].id, BTT_DHT_ID_LEN);
            ni.addr = b->nodes[j].addr;
            size_t n = btt_dht_node_info_compact(&ni, c);
            btt_err e = btt_buf_append(out, c, n);
            if (e) return e;
        }
    }
    return BTT_OK;
}

btt_err btt_dht_rtable_load(btt_dht_rtable *rt, uint8_t family, const uint8_t *p, size_t len, uint64_t now_ms)
{
    const size_t rec = family == 6 ? 38 : 26;
    if (family != 4 && family != 6) return BTT_EINVAL;
    if (len % rec) return BTT_EPROTO;
    for (size_t off = 0; off < len; off += rec) {
        btt_addr a;
        if (family == 6) btt_addr_from_compact6(p + off + BTT_DHT_ID_LEN, &a);
        else btt_addr_from_compact4(p + off + BTT_DHT_ID_LEN, &a);
        (void)heard(rt, p + off, &a, 0, now_ms);
    }
    return BTT_OK;
}
