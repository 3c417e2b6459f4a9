/* lookup.c - the candidate list of an iterative find_node/get_peers lookup.
 *
 * BEP 5: "the node looks up ... the closest nodes it knows ... and sends them queries. If
 * the response contains nodes closer than any it has seen, it queries those ... The search
 * terminates when the searching node cannot find any closer nodes". Kademlia's refinement,
 * used here: alpha queries in flight, and the lookup ends once the k closest candidates have
 * all answered. A query that is slow gives up its slot (the lookup moves on) but its answer
 * still counts if it comes; a slow candidate does not hold the lookup open.
 *
 * The list is bounded (LK_MAX_CANDS, sorted, farthest dropped) so a lookup sends at most
 * that many queries however many nodes the network invents. */
#define BTT_DHT_INTERNAL
#include "dht_int.h"

#include <string.h>

/* Order: unknown ids (bootstrap addresses) first, then by distance to the target. */
static int cand_cmp(const lookup *lk, const lk_cand *a, const uint8_t *id, bool id_known)
{
    if (!a->id_known || !id_known) return (int)a->id_known - (int)id_known;
    return btt_dht_id_cmp_distance(lk->target, a->id, id);
}

static size_t insert_pos(const lookup *lk, const uint8_t *id, bool id_known)
{
    size_t lo = 0, hi = lk->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cand_cmp(lk, &lk->c[mid], id, id_known) <= 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

void lk_add(lookup *lk, const uint8_t *id, const btt_addr *addr, uint8_t hops)
{
    if (addr->port == 0 || addr->family != lk->family) return;
    for (size_t i = 0; i < lk->n; i++) {
        if (btt_addr_eq(&lk->c[i].addr, addr)) return;
        if (id && lk->c[i].id_known && memcmp(lk->c[i].id, id, BTT_DHT_ID_LEN) == 0) return;
    }
    size_t pos = insert_pos(lk, id, id != NULL);
    if (pos >= LK_MAX_CANDS) return;
    if (lk->n == LK_MAX_CANDS) {
        if (lk->c[lk->n - 1].state == LK_SENT) lk->inflight--;
        lk->n--; /* the farthest goes; an answer from it is then ignored */
    }
    memmove(&lk->c[pos + 1], &lk->c[pos], (lk->n - pos) * sizeof lk->c[0]);
    lk_cand *c = &lk->c[pos];
    memset(c, 0, sizeof *c);
    if (id) memcpy(c->id, id, BTT_DHT_ID_LEN);
    c->id_known = id != NULL;
    c->addr = *addr;
    c->hops = hops;
    lk->n++;
}

lk_cand *lk_find(lookup *lk, const btt_addr *addr)
{
    for (size_t i = 0; i < lk->n; i++)
        if (btt_addr_eq(&lk->c[i].addr, addr)) return &lk->c[i];
    return NULL;
}

lk_cand *lk_next(lookup *lk, uint32_t alpha, uint64_t now_ms)
{
    if (lk->inflight >= alpha) return NULL;
    for (size_t i = 0; i < lk->n; i++) {
        lk_cand *c = &lk->c[i];
        if (c->state != LK_NEW) continue;
        c->state = LK_SENT;
        c->sent_ms = now_ms;
        lk->inflight++;
        return c;
    }
    return NULL;
}

static void release(lookup *lk, lk_cand *c)
{
    if (c->state == LK_SENT) lk->inflight--;
}

lk_cand *lk_replied(lookup *lk, lk_cand *c, const uint8_t id[BTT_DHT_ID_LEN])
{
    release(lk, c);
    if (c->id_known) {
        c->state = LK_REPLIED;
        return c;
    }
    /* a bootstrap address now has an id: move it to its place by distance */
    for (size_t i = 0; i < lk->n; i++) {
        if (lk->c[i].id_known && memcmp(lk->c[i].id, id, BTT_DHT_ID_LEN) == 0) {
            /* the same node reached under two addresses: keep the entry we had */
            size_t at = (size_t)(c - lk->c);
            memmove(&lk->c[at], &lk->c[at + 1], (lk->n - at - 1) * sizeof lk->c[0]);
            lk->n--;
            return NULL;
        }
    }
    lk_cand keep = *c;
    size_t at = (size_t)(c - lk->c);
    memmove(&lk->c[at], &lk->c[at + 1], (lk->n - at - 1) * sizeof lk->c[0]);
    lk->n--;
    memcpy(keep.id, id, BTT_DHT_ID_LEN);
    keep.id_known = true;
    keep.state = LK_REPLIED;
    size_t pos = insert_pos(lk, keep.id, true);
    memmove(&lk->c[pos + 1], &lk->c[pos], (lk->n - pos) * sizeof lk->c[0]);
    lk->c[pos] = keep;
    lk->n++;
    return &lk->c[pos];
}

void lk_failed(lookup *lk, lk_cand *c)
{
    release(lk, c);
    c->state = LK_FAILED;
}

void lk_age(lookup *lk, uint64_t now_ms, uint32_t slow_ms)
{
    for (size_t i = 0; i < lk->n; i++) {
        lk_cand *c = &lk->c[i];
        if (c->state == LK_SENT && now_ms - c->sent_ms >= slow_ms) {
            c->state = LK_SLOW;
            lk->inflight--;
        }
    }
}

bool lk_finished(const lookup *lk)
{
    size_t replied = 0;
    for (size_t i = 0; i < lk->n && replied < BTT_DHT_K; i++) {
        const lk_cand *c = &lk->c[i];
        if (!c->id_known) {
            if (c->state == LK_NEW || c->state == LK_SENT || c->state == LK_SLOW) return false;
            continue;
        }
        switch (c->state) {
        case LK_REPLIED: replied++; break;
        case LK_NEW:
        case LK_SENT: return false;
        default: break; /* failed or slow: not waited for */
        }
    }
    return true;
}

bool lk_new_peer(lookup *lk, const btt_addr *a)
{
    if (!lk->seen) return false;
    for (size_t i = 0; i < lk->nseen; i++)
        if (btt_addr_eq(&lk->seen[i], a)) return false;
    if (lk->nseen == LK_MAX_PEERS) return false;
    lk->seen[lk->nseen++] = *a;
    return true;
}
