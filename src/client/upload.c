/* upload.c - serving blocks: a small cache of whole pieces read on the thread pool (one
 * pread per piece, many blocks served from it), and per-peer serving under back-pressure. */
#define BTT_CLIENT_INTERNAL
#include "client/client_int.h"
#include "client/speed.h"

#include <stdlib.h>
#include <string.h>

static void cache_work(uv_work_t *req)
{
    centry *c = req->data;
    c->result = btt_storage_read(c->t->st, (uint64_t)c->piece * c->t->mi->piece_length, c->data, c->size, NULL);
}

static void drop_requests_for(btt_torrent *t, uint32_t piece)
{
    for (peer *p = t->peers; p; p = p->next) {
        size_t keep = 0;
        for (size_t k = 0; k < p->n_in; k++) {
            btt_block b = p->in_req[(p->in_head + k) % PEER_MAX_IN_REQ];
            if (b.piece == piece) {
                if (p->fast && btt_wire_request(&p->wbuf, BTT_MSG_REJECT, b.piece, b.begin, b.length))
                    BTT_LOGD(LOG_MOD, "out of memory rejecting a request"); /* it times out instead */
                continue;
            }
            p->in_req[(p->in_head + keep) % PEER_MAX_IN_REQ] = b;
            keep++;
        }
        p->n_in = keep;
    }
}

static void cache_done(uv_work_t *req, int status)
{
    centry *c = req->data;
    btt_torrent *t = c->t;
    c->loading = false;
    c->ready = status == 0 && c->result == BTT_OK;
    if (t->state == T_STOPPING || t->state == T_STOPPED) {
        torrent_maybe_stopped(t);
        return;
    }
    if (!c->ready) {
        BTT_LOGW(LOG_MOD, "cannot read piece %u to upload: %s", c->piece, btt_err_message(c->result));
        drop_requests_for(t, c->piece);
    }
    for (peer *p = t->peers; p; p = p->next)
        if (p->state == P_ACTIVE && p->n_in) upload_serve(t, p);
}

/* The ready entry for piece, or NULL after starting to load it (or if the cache is busy). */
static centry *cache_get(btt_torrent *t, uint32_t piece, bool *wait)
{
    centry *victim = NULL;
    *wait = false;
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        centry *c = &t->cache[i];
        if (c->piece == piece && (c->ready || c->loading) && c->data) {
            if (c->loading) {
                *wait = true;
                return NULL;
            }
            c->lru = ++t->cache_tick;
            return c;
        }
        if (!c->loading && (!victim || !c->data || (victim->data && c->lru < victim->lru))) victim = c;
    }
    *wait = true;
    if (!victim) return NULL; /* every entry is loading: try again when one is done */
    uint32_t size = btt_metainfo_piece_size(t->mi, piece);
    if (!victim->data || victim->size < size) {
        free(victim->data);
        victim->data = piece_alloc(t->mi->piece_length);
        if (!victim->data) return NULL;
    }
    victim->t = t;
    victim->piece = piece;
    victim->size = size;
    victim->ready = false;
    victim->loading = true;
    victim->lru = ++t->cache_tick;
    victim->req.data = victim;
    if (uv_queue_work(t->s->loop, &victim->req, cache_work, cache_done)) victim->loading = false;
    return NULL;
}

/* --max-upload: takes len bytes from the session's bucket, refilled continuously at the limit
 * (at most one second's worth kept). False: wait for the next tick. */
static bool take_tokens(btt_session *s, uint32_t len, uint64_t now)
{
    uint64_t limit = s->o.max_upload;
    if (!limit) return true;
    if (now > s->up_refill_ms) {
        uint64_t add = limit * (now - s->up_refill_ms) / 1000;
        s->up_tokens = s->up_tokens + add > limit ? limit : s->up_tokens + add;
        s->up_refill_ms = now;
    }
    if (s->up_tokens < len && s->up_tokens < limit) { /* a block larger than 1 s of tokens goes when full */
        s->up_throttled = true;
        return false;
    }
    s->up_tokens = s->up_tokens > len ? s->up_tokens - len : 0;
    return true;
}

void upload_throttle_tick(btt_session *s)
{
    if (!s->up_throttled) return;
    s->up_throttled = false;
    /* peers that pay (Speed) are served from the new tokens first, then everyone else */
    for (int pass = 0; pass < 2; pass++)
        for (btt_torrent *t = s->torrents; t; t = t->next)
            for (peer *p = t->peers; p; p = p->next)
                if (p->state == P_ACTIVE && p->n_in && speed_pays(p) == (pass == 0)) upload_serve(t, p);
}

void upload_serve(btt_torrent *t, peer *p)
{
    uint64_t now = uv_now(t->s->loop);
    bool sent = false;
    while (p->n_in && !p->am_choking && p->state == P_ACTIVE && peer_queued(p) < PEER_WRITE_HWM &&
           t->state == T_RUNNING) {
        btt_block b = p->in_req[p->in_head];
        if (!speed_may_serve(t, p, b.length)) break; /* held until a voucher pays for what it got */
        bool wait;
        centry *c = cache_get(t, b.piece, &wait);
        if (!c || !take_tokens(t->s, b.length, now)) break;
        uint8_t hdr[13];
        btt_wire_piece_header(hdr, b.piece, b.begin, b.length);
        if (btt_buf_reserve(&p->wbuf, sizeof hdr + b.length)) {
            peer_close(p, "out of memory");
            return;
        }
        memcpy(p->wbuf.data + p->wbuf.len, hdr, sizeof hdr);
        memcpy(p->wbuf.data + p->wbuf.len + sizeof hdr, c->data + b.begin, b.length);
        p->wbuf.len += sizeof hdr + b.length;
        p->in_head = (p->in_head + 1) % PEER_MAX_IN_REQ;
        p->n_in--;
        p->uploaded += b.length;
        t->uploaded += b.length;
        rate_add(&p->up, b.length, now);
        rate_add(&t->up, b.length, now);
        speed_served(t, p, b.piece, b.begin, b.length);
        sent = true;
    }
    if (!p->n_in) p->in_head = 0;
    if (sent) peer_flush(p);
}

bool upload_cache_busy(const btt_torrent *t)
{
    for (int i = 0; i < CACHE_ENTRIES; i++)
        if (t->cache[i].loading) return true;
    return false;
}

void upload_cache_clear(btt_torrent *t)
{
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        free(t->cache[i].data);
        t->cache[i].data = NULL;
        t->cache[i].ready = false;
    }
}
