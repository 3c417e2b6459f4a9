/* store.c - peers announced to us (BEP 5 announce_peer), bounded and expiring.
 *
 * BEP 5: "The queried node must verify that the token was previously sent to the same IP
 * address as the querying node. Then the queried node should store the IP address of the
 * querying node and the supplied port number under the infohash in its store of peer contact
 * information." The token check is the node's (dht.c); this module only keeps the peers.
 *
 * Torrents live in an array sorted by info-hash (binary search: no hash a hostile announcer
 * could aim at), each with its own small array of peers. Three caps: torrents, peers per
 * torrent (a full torrent replaces its peer closest to expiry), and peers in total. */
#define BTT_DHT_INTERNAL
#include "dht_int.h"

#include <stdlib.h>
#include <string.h>

void store_init(store *s, size_t max_torrents, size_t max_per_torrent, size_t max_peers)
{
    memset(s, 0, sizeof *s);
    s->max_torrents = max_torrents;
    s->max_per_torrent = max_per_torrent;
    s->max_peers = max_peers;
}

void store_free(store *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->t[i].p);
    free(s->t);
    memset(s, 0, sizeof *s);
}

/* Index of ih, or where it would go (with *found false). */
static size_t find(const store *s, const uint8_t ih[BTT_DHT_ID_LEN], bool *found)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(s->t[mid].ih, ih, BTT_DHT_ID_LEN);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

btt_err store_announce(store *s, const uint8_t ih[BTT_DHT_ID_LEN], const btt_addr *a, uint64_t expire_ms)
{
    bool found;
    size_t i = find(s, ih, &found);
    if (found) {
        store_torrent *t = &s->t[i];
        for (uint32_t j = 0; j < t->n; j++) {
            if (btt_addr_eq(&t->p[j].addr, a)) {
                t->p[j].expire_ms = expire_ms;
                return BTT_OK;
            }
        }
    }
    if (!found) {
        if (s->n >= s->max_torrents || s->peers >= s->max_peers) return BTT_ETOOBIG;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            if (cap > s->max_torrents) cap = s->max_torrents;
            store_torrent *nt = realloc(s->t, cap * sizeof *nt);
            if (!nt) return BTT_ENOMEM;
            s->t = nt;
            s->cap = cap;
        }
        memmove(&s->t[i + 1], &s->t[i], (s->n - i) * sizeof *s->t);
        memset(&s->t[i], 0, sizeof s->t[i]);
        memcpy(s->t[i].ih, ih, BTT_DHT_ID_LEN);
        s->n++;
    }
    store_torrent *t = &s->t[i];
    if (t->n >= s->max_per_torrent) {
        /* full: the peer that would expire first makes room */
        uint32_t old = 0;
        for (uint32_t j = 1; j < t->n; j++)
            if (t->p[j].expire_ms < t->p[old].expire_ms) old = j;
        t->p[old].addr = *a;
        t->p[old].expire_ms = expire_ms;
        return BTT_OK;
    }
    if (s->peers >= s->max_peers) {
        if (t->n == 0) { /* just created: do not leave an empty torrent behind */
            memmove(&s->t[i], &s->t[i + 1], (s->n - i - 1) * sizeof *s->t);
            s->n--;
        }
        return BTT_ETOOBIG;
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 4;
        if (cap > s->max_per_torrent) cap = (uint32_t)s->max_per_torrent;
        store_peer *np = realloc(t->p, cap * sizeof *np);
        if (!np) {
            if (t->n == 0) {
                memmove(&s->t[i], &s->t[i + 1], (s->n - i - 1) * sizeof *s->t);
                s->n--;
            }
            return BTT_ENOMEM;
        }
        t->p = np;
        t->cap = cap;
    }
    t->p[t->n].addr = *a;
    t->p[t->n].expire_ms = expire_ms;
    t->n++;
    s->peers++;
    return BTT_OK;
}

size_t store_get(const store *s, const uint8_t ih[BTT_DHT_ID_LEN], uint8_t family, uint64_t rnd, btt_addr *out,
                 size_t max)
{
    bool found;
    size_t i = find(s, ih, &found);
    if (!found || max == 0) return 0;
    const store_torrent *t = &s->t[i];
    size_t k = 0;
    uint32_t start = t->n ? (uint32_t)(rnd % t->n) : 0;
    for (uint32_t j = 0; j < t->n && k < max; j++) {
        const store_peer *p = &t->p[(start + j) % t->n];
        if (p->addr.family == family) out[k++] = p->addr;
    }
    return k;
}

void store_expire(store *s, uint64_t now_ms)
{
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        store_torrent *t = &s->t[i];
        uint32_t k = 0;
        for (uint32_t j = 0; j < t->n; j++) {
            if (t->p[j].expire_ms > now_ms) t->p[k++] = t->p[j];
            else s->peers--;
        }
        t->n = k;
        if (k == 0) {
            free(t->p);
            continue;
        }
        s->t[w++] = *t;
    }
    s->n = w;
}
