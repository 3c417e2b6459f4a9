/* pex.c - peer exchange (BEP 11): telling each peer which peers we are connected to (added and
 * dropped since the last message, at most one message a minute and 50 added), and taking the
 * peers others tell us as candidates, within bounds. Never for private torrents (BEP 27). */
#define BTT_CLIENT_INTERNAL
#include "client/pex.h"

#include <stdlib.h>
#include <string.h>

#include "btt/pex.h"

struct pex_peer {
    uint8_t id;              /* its id for ut_pex, 0: none */
    uint16_t listen_port;    /* from its extension handshake, 0: unknown */
    bool sent_any, got_any;
    uint64_t next_send_ms, last_recv_ms;
    btt_addr *told;          /* what it was told we are connected to */
    size_t ntold, captold;
};

static uint64_t now_ms(const btt_torrent *t) { return uv_now(t->s->loop); }

bool pex_enabled(const btt_torrent *t) { return !t->s->o.no_pex && t->mi && !t->mi->is_private; }

void pex_peer_free(peer *p)
{
    if (!p->pex) return;
    free(p->pex->told);
    free(p->pex);
    p->pex = NULL;
}

void pex_on_ext_handshake(btt_torrent *t, peer *p, const btt_ext_handshake *h)
{
    if (!pex_enabled(t)) return;
    if (!p->pex && !(p->pex = calloc(1, sizeof *p->pex))) return;
    p->pex->listen_port = h->p;
    uint8_t id = btt_ext_handshake_id(h, "ut_pex");
    if (id && !p->pex->id) p->pex->next_send_ms = now_ms(t) + PEX_FIRST_MS;
    p->pex->id = id;
}

/* The address a peer can be reached at: where we connected to, or for an incoming peer the
 * listen port it told us; false if we do not know one. */
static bool reach_addr(const peer *q, btt_addr *out)
{
    *out = q->addr;
    if (!q->incoming) return true;
    if (!q->pex || !q->pex->listen_port) return false;
    out->port = q->pex->listen_port;
    return true;
}

static bool told_has(const struct pex_peer *x, const btt_addr *a)
{
    for (size_t i = 0; i < x->ntold; i++)
        if (btt_addr_eq(&x->told[i], a)) return true;
    return false;
}

static void send_to(btt_torrent *t, peer *p, uint64_t now)
{
    struct pex_peer *x = p->pex;
    btt_pex_peer added[BTT_PEX_MAX_ADDED];
    btt_addr dropped[BTT_PEX_MAX_ADDED], cur[256];
    size_t na = 0, nd = 0, ncur = 0;
    for (peer *q = t->peers; q; q = q->next) {
        btt_addr a;
        if (q == p || !q->attached || q->state != P_ACTIVE || !reach_addr(q, &a)) continue;
        if (memcmp(q->peer_id, p->peer_id, 20) == 0) continue; /* p itself, on another connection */
        if (ncur < sizeof cur / sizeof cur[0]) cur[ncur++] = a;
        if (na == BTT_PEX_MAX_ADDED || told_has(x, &a) || btt_addr_eq(&a, &p->addr)) continue;
        uint8_t f = 0;
        if (q->seed) f |= BTT_PEX_SEED;
        if (q->tr == TR_UTP) f |= BTT_PEX_UTP;
        if (q->mse_done) f |= BTT_PEX_ENCRYPTION; /* it chose MSE with us */
        if (!q->incoming) f |= BTT_PEX_REACHABLE; /* we reached it */
        added[na++] = (btt_pex_peer){a, f};
    }
    for (size_t i = 0; i < x->ntold && nd < BTT_PEX_MAX_ADDED; i++) {
        bool still = false;
        for (size_t k = 0; k < ncur && !still; k++) still = btt_addr_eq(&cur[k], &x->told[i]);
        if (!still) dropped[nd++] = x->told[i];
    }
    if (!na && !nd) return; /* nothing new: the slot is kept for when there is */
    btt_buf b;
    btt_buf_init(&b, 8192);
    if (btt_pex_build(&b, added, na, dropped, nd) || btt_wire_extended(&p->wbuf, x->id, b.data, b.len)) {
        btt_buf_free(&b);
        peer_close(p, "out of memory");
        return;
    }
    btt_buf_free(&b);
    /* remember what it was told */
    for (size_t i = 0; i < nd; i++)
        for (size_t k = 0; k < x->ntold; k++)
            if (btt_addr_eq(&x->told[k], &dropped[i])) {
                x->told[k] = x->told[--x->ntold];
                break;
            }
    if (x->ntold + na > x->captold) {
        size_t cap = x->ntold + na + 16;
        btt_addr *v = realloc(x->told, cap * sizeof *v);
        if (v) {
            x->told = v;
            x->captold = cap;
        }
    }
    for (size_t i = 0; i < na && x->ntold < x->captold; i++) x->told[x->ntold++] = added[i].addr;
    x->sent_any = true;
    x->next_send_ms = now + PEX_INTERVAL_MS;
    char as[BTT_ADDR_STRLEN];
    BTT_LOGI(LOG_MOD, "pex: told %s of %zu added and %zu dropped peers", btt_addr_format(&p->addr, as), na, nd);
    peer_flush(p);
}

void pex_tick(btt_torrent *t, uint64_t now)
{
    if (!pex_enabled(t)) return;
    for (peer *p = t->peers, *next; p; p = next) {
        next = p->next;
        if (p->attached && p->state == P_ACTIVE && p->pex && p->pex->id && now >= p->pex->next_send_ms)
            send_to(t, p, now);
    }
}

/* Not worth a connection: our own listening address, or a family our socket cannot reach. */
static bool unusable(const btt_torrent *t, const btt_addr *a)
{
    static const uint8_t any[16];
    btt_addr me = btt_session_listen_addr(t->s);
    if (a->port == 0) return true;
    if (a->port == me.port) {
        bool loop4 = a->family == 4 && a->ip[0] == 127;
        static const uint8_t lo6[16] = {[15] = 1};
        bool loop6 = a->family == 6 && memcmp(a->ip, lo6, 16) == 0;
        if (loop4 || loop6 || btt_addr_same_ip(a, &me)) return true;
    }
    if (me.family == 4 && a->family == 6) return true;
    if (me.family == 6 && a->family == 4 && memcmp(me.ip, any, 16) != 0) return true;
    return false;
}

void pex_on_message(btt_torrent *t, peer *p, const uint8_t *data, size_t len)
{
    if (!pex_enabled(t)) return; /* we did not offer it */
    if (!p->pex && !(p->pex = calloc(1, sizeof *p->pex))) return;
    struct pex_peer *x = p->pex;
    uint64_t now = now_ms(t);
    char from[BTT_ADDR_STRLEN], as[BTT_ADDR_STRLEN];
    btt_addr_format(&p->addr, from);
    if (x->got_any && now - x->last_recv_ms < PEX_INTERVAL_MS / 4) { /* BEP 11: once a minute */
        BTT_LOGD(LOG_MOD, "pex: %s sends too often; message ignored", from);
        return;
    }
    btt_pex_msg *m = malloc(sizeof *m); /* about 8 KiB: not on the stack */
    if (!m) return;
    btt_error err = {0};
    if (btt_pex_parse(data, len, m, &err)) {
        free(m);
        peer_close(p, btt_error_str(&err));
        return;
    }
    x->got_any = true;
    x->last_recv_ms = now;
    size_t learned = 0;
    for (size_t i = 0; i < m->num_added && i < PEX_ACCEPT_PER_MSG; i++) {
        const btt_addr *a = &m->added[i].addr;
        if (t->pex_learned >= PEX_ACCEPT_PER_TORRENT) break;
        if (unusable(t, a) || session_is_banned(t->s, a, now)) continue;
        size_t before = t->ncand;
        btt_torrent_add_peer(t, a);
        if (t->ncand == before) continue; /* known already, or no room */
        t->pex_learned++;
        learned++;
        BTT_LOGI(LOG_MOD, "pex: learned %s from %s (flags 0x%02x)", btt_addr_format(a, as), from, m->added[i].flags);
    }
    BTT_LOGD(LOG_MOD, "pex: %s: %zu added (%zu new), %zu dropped", from, m->num_added, learned, m->num_dropped);
    free(m);
}
