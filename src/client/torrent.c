/* torrent.c - one torrent's protocol logic: what to request from whom, what to send,
 * choking, piece completion and hashing, bans, peers to connect to, and stopping. */
#define BTT_CLIENT_INTERNAL
#include "client/client_int.h"
#include "client/dht_glue.h"
#include "client/pex.h"
#include "client/speed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/hasher.h"
#include "btt/resume.h"
#include "btt/sha1.h"
#include "btt/ut_metadata.h"

#define SNUB_MS 30000
#define INACTIVE_MS 120000
#define KEEPALIVE_MS 90000
#define HANDSHAKE_TIMEOUT_MS 20000
#define CONNECT_TIMEOUT_MS 15000
#define RESUME_SAVE_MS 30000
#define BAN_MS (3600u * 1000u)
#define MAX_CANDIDATES 2000

static uint64_t now_ms(const btt_torrent *t) { return uv_now(t->s->loop); }

void *piece_alloc(size_t size)
{
    void *p = NULL;
    return posix_memalign(&p, 4096, size ? size : 1) == 0 ? p : NULL;
}

void *torrent_piece_buf(btt_torrent *t)
{
    return t->nspare ? t->spare[--t->nspare] : piece_alloc(t->mi->piece_length);
}

void torrent_piece_buf_free(btt_torrent *t, void *buf)
{
    if (buf && t->nspare < sizeof t->spare / sizeof t->spare[0]) t->spare[t->nspare++] = buf;
    else free(buf);
}

/* ---- small senders ---- */

static void send_simple(peer *p, uint8_t id)
{
    if (btt_wire_simple(&p->wbuf, id)) peer_close(p, "out of memory");
}

static void send_have(peer *p, uint8_t id, uint32_t piece)
{
    if (btt_wire_have(&p->wbuf, id, piece)) peer_close(p, "out of memory");
}

static void send_req(peer *p, uint8_t id, const btt_block *b)
{
    if (btt_wire_request(&p->wbuf, id, b->piece, b->begin, b->length)) peer_close(p, "out of memory");
}

static void update_interest(btt_torrent *t, peer *p)
{
    bool want = p->wanted > 0 && !t->complete;
    if (want == p->am_interested) return;
    p->am_interested = want;
    send_simple(p, want ? BTT_MSG_INTERESTED : BTT_MSG_NOT_INTERESTED);
}

static size_t count_unchoked(const btt_torrent *t)
{
    size_t n = 0;
    for (const peer *p = t->peers; p; p = p->next)
        if (p->attached && !p->am_choking) n++;
    return n;
}

static void do_choke(btt_torrent *t, peer *p)
{
    if (p->am_choking) return;
    p->am_choking = true;
    p->optimistic = false;
    p->choked_since_ms = now_ms(t);
    send_simple(p, BTT_MSG_CHOKE);
    /* BEP 3: choking discards the peer's requests; BEP 6: a fast peer is told each one. */
    for (; p->n_in; p->n_in--, p->in_head = (p->in_head + 1) % PEER_MAX_IN_REQ)
        if (p->fast) send_req(p, BTT_MSG_REJECT, &p->in_req[p->in_head]);
    p->in_head = 0;
}

void torrent_choke(btt_torrent *t, peer *p) { do_choke(t, p); }

peer *torrent_find_peer(btt_torrent *t, const btt_addr *a)
{
    for (peer *p = t->peers; p; p = p->next)
        if (p->attached && btt_addr_eq(&p->addr, a)) return p;
    return NULL;
}

static void do_unchoke(btt_torrent *t, peer *p)
{
    if (!p->am_choking) return;
    p->am_choking = false;
    send_simple(p, BTT_MSG_UNCHOKE);
}

/* ---- requests ---- */

static void drop_out_req(btt_torrent *t, peer *p, size_t i, bool cancel)
{
    btt_block b = p->out_req[i];
    memmove(p->out_req + i, p->out_req + i + 1, (p->n_out - i - 1) * sizeof *p->out_req);
    p->n_out--;
    if (cancel) send_req(p, BTT_MSG_CANCEL, &b);
    btt_picker_abort(t->pk, b.piece, b.begin, p);
}

static void abort_all_requests(btt_torrent *t, peer *p, bool cancel)
{
    while (p->n_out) drop_out_req(t, p, p->n_out - 1, cancel);
}

static size_t find_out_req(const peer *p, uint32_t piece, uint32_t begin)
{
    for (size_t i = 0; i < p->n_out; i++)
        if (p->out_req[i].piece == piece && p->out_req[i].begin == begin) return i;
    return SIZE_MAX;
}

static void request_more(btt_torrent *t, peer *p)
{
    if (p->state != P_ACTIVE || !p->am_interested || t->state != T_RUNNING) return;
    const btt_bitfield *has = p->seed ? NULL : &p->have;
    btt_bitfield allowed = {0};
    if (p->peer_choking) { /* BEP 6: only the allowed fast pieces */
        if (!p->n_allowed_in || btt_bitfield_init(&allowed, t->mi->num_pieces)) return;
        for (size_t i = 0; i < p->n_allowed_in; i++)
            if (btt_bitfield_get(&p->have, p->allowed_in[i]) || p->seed) btt_bitfield_set(&allowed, p->allowed_in[i]);
        has = &allowed;
    }
    /* Enough requests to cover about two seconds at the peer's rate, within its limit. */
    uint64_t bps = rate_get(&p->down, now_ms(t));
    size_t want = 32 + (size_t)(bps * 2 / BTT_BLOCK_SIZE);
    size_t cap = p->their_reqq < PEER_MAX_OUT_REQ ? p->their_reqq : PEER_MAX_OUT_REQ;
    if (want > cap) want = cap;
    if (p->snubbed) want = 1;
    if (p->n_out + 8 > want && p->n_out) goto out; /* refill in batches */
    if (p->n_out >= want) goto out;
    if (p->cap_out < want) {
        btt_block *v = realloc(p->out_req, want * sizeof *v);
        if (!v) goto out;
        p->out_req = v;
        p->cap_out = want;
    }
    bool endgame;
    size_t n = btt_picker_pick(t->pk, has, p, want - p->n_out, p->out_req + p->n_out, &endgame);
    if (n && !p->n_out) p->last_req_ms = now_ms(t);
    for (size_t i = 0; i < n; i++) send_req(p, BTT_MSG_REQUEST, &p->out_req[p->n_out + i]);
    p->n_out += n;
out:
    btt_bitfield_free(&allowed);
}

static void request_all(btt_torrent *t)
{
    for (peer *p = t->peers; p; p = p->next)
        if (p->state == P_ACTIVE) {
            request_more(t, p);
            peer_flush(p);
        }
}

/* ---- bans ---- */

/* A peer that alone sent two pieces that failed is banned (mixed pieces are settled by
 * smart_ban once they pass). Failed-piece records are kept per piece until it passes. */
static void strike(btt_torrent *t, const btt_addr *a, const char *why)
{
    size_t count = 0;
    for (size_t i = 0; i < t->nfailed; i++) {
        failed_piece *f = &t->failed[i];
        bool all = f->nblocks > 0;
        for (uint32_t b = 0; b < f->nblocks && all; b++) all = btt_addr_eq(&f->from[b], a);
        count += all;
    }
    if (count >= 2) session_ban(t->s, a, BAN_MS, why);
}

static void free_failed(failed_piece *f)
{
    free(f->from);
    free(f->hash);
}

/* Remembers who sent each block of a piece that failed, with each block's hash. */
static void record_failure(btt_torrent *t, const pbuf *pb)
{
    for (size_t i = 0; i < t->nfailed; i++)
        if (t->failed[i].piece == pb->piece) { /* keep the first record */
            return;
        }
    failed_piece *v = realloc(t->failed, (t->nfailed + 1) * sizeof *v);
    if (!v) return;
    t->failed = v;
    failed_piece *f = &t->failed[t->nfailed];
    f->piece = pb->piece;
    f->nblocks = pb->nblocks;
    f->from = malloc(pb->nblocks * sizeof *f->from);
    f->hash = malloc(pb->nblocks * sizeof *f->hash);
    if (!f->from || !f->hash) {
        free_failed(f);
        return;
    }
    for (uint32_t b = 0; b < pb->nblocks; b++) {
        f->from[b] = pb->from[b];
        uint32_t len = btt_picker_block_size(t->pk, pb->piece, b);
        btt_sha1(pb->data + (size_t)b * BTT_BLOCK_SIZE, len, f->hash[b]);
    }
    t->nfailed++;
}

/* The piece passed now: whoever sent a block that differs from the good one lied. */
static void smart_ban(btt_torrent *t, const pbuf *pb)
{
    for (size_t i = 0; i < t->nfailed; i++) {
        failed_piece *f = &t->failed[i];
        if (f->piece != pb->piece) continue;
        for (uint32_t b = 0; b < f->nblocks && b < pb->nblocks; b++) {
            uint8_t h[20];
            btt_sha1(pb->data + (size_t)b * BTT_BLOCK_SIZE, btt_picker_block_size(t->pk, pb->piece, b), h);
            if (memcmp(h, f->hash[b], 20) != 0) session_ban(t->s, &f->from[b], BAN_MS, "sent corrupt data");
        }
        free_failed(f);
        t->failed[i] = t->failed[--t->nfailed];
        return;
    }
}

/* ---- completion ---- */

static void save_resume(btt_torrent *t)
{
    if (!t->resume_path) return;
    btt_error err = {0};
    if (btt_storage_sync(t->st, &err) ||
        btt_resume_save(t->resume_path, t->mi, t->st, btt_picker_have_bitfield(t->pk), &err))
        BTT_LOGW(LOG_MOD, "saving resume data: %s", btt_error_str(&err));
    t->resume_dirty = false;
    t->last_resume_ms = now_ms(t);
}

/* No piece writes an empty file, so the wanted ones are made when the download completes. */
void torrent_create_empty_files(btt_torrent *t)
{
    if (t->o.seed_only) return;
    for (size_t i = 0; i < t->mi->num_files; i++) {
        if (t->mi->files[i].length || (t->mi->files[i].attr & BTT_FILE_PAD)) continue;
        bool wanted = !t->o.files;
        for (size_t k = 0; k < t->o.num_files && !wanted; k++) wanted = t->o.files[k] == i;
        btt_error err = {0};
        if (wanted && btt_storage_create_file(t->st, i, &err)) BTT_LOGW(LOG_MOD, "%s", btt_error_str(&err));
    }
}

/* Both sides have everything: nothing more to exchange, unless we still owe it a voucher that
 * waits for a channel operation (then the tick closes it once paid). */
static bool both_seeds(const btt_torrent *t, const peer *p)
{
    return p->seed && t->complete && btt_picker_have_bitfield(t->pk)->count == t->mi->num_pieces && !speed_owes(p);
}

static void check_complete(btt_torrent *t)
{
    if (t->complete || btt_picker_left(t->pk) != 0 || t->state != T_RUNNING) return;
    t->complete = true;
    speed_torrent_completed(t);
    torrent_create_empty_files(t);
    save_resume(t);
    if (t->ann && btt_picker_have_bitfield(t->pk)->count == t->mi->num_pieces) btt_announcer_completed(t->ann);
    for (peer *p = t->peers, *next; p; p = next) {
        next = p->next; /* peer_close unlinks p */
        if (p->state != P_ACTIVE) continue;
        update_interest(t, p);
        if (both_seeds(t, p)) peer_close(p, "both seeds");
        else peer_flush(p);
    }
    if (!t->notified_complete && t->o.on_complete) {
        t->notified_complete = true;
        t->o.on_complete(t->o.ud, t);
    }
}

static void maybe_finish_stop(btt_torrent *t);

static void on_hashed(void *ud, uint32_t piece, btt_err result)
{
    btt_torrent *t = ud;
    pbuf *pb = t->pb[piece];
    t->hashing--;
    if (result == BTT_OK) {
        smart_ban(t, pb);
        speed_piece_passed(t, pb); /* only now: data that failed its check is never paid for */
        btt_picker_passed(t->pk, piece);
        t->bytes_have += pb->size;
        t->resume_dirty = true;
        for (peer *p = t->peers; p; p = p->next) {
            if (p->state != P_ACTIVE) continue;
            if (btt_bitfield_get(&p->have, piece) || p->seed) {
                if (p->wanted) p->wanted--;
                update_interest(t, p);
            } else {
                send_have(p, BTT_MSG_HAVE, piece);
            }
        }
    } else if (result == BTT_EHASH) {
        char a[BTT_ADDR_STRLEN];
        BTT_LOGW(LOG_MOD, "piece %u failed its hash check (first block from %s)", piece,
                 btt_addr_format(&pb->from[0], a));
        record_failure(t, pb);
        btt_picker_failed(t->pk, piece);
        btt_addr first = pb->from[0];
        bool single = true;
        for (uint32_t b = 1; b < pb->nblocks; b++) single &= btt_addr_eq(&pb->from[b], &first);
        if (single) strike(t, &first, "sent corrupt data");
    } else if (result != BTT_ECANCELED) {
        btt_error err;
        btt_error_set(&err, result, "writing piece %u: %s", piece, btt_err_message(result));
        BTT_LOGE(LOG_MOD, "%s", err.msg);
        btt_picker_failed(t->pk, piece);
        if (t->o.on_error) t->o.on_error(t->o.ud, t, &err);
    }
    torrent_piece_buf_free(t, pb->data);
    free(pb->from);
    free(pb->rate);
    free(pb);
    t->pb[piece] = NULL;
    if (t->state == T_STOPPING) {
        maybe_finish_stop(t);
        return;
    }
    if (result == BTT_OK) check_complete(t);
    request_all(t);
}

static void on_block(btt_torrent *t, peer *p, const btt_msg *m)
{
    uint64_t now = now_ms(t);
    uint32_t expect = btt_picker_block_size(t->pk, m->index, m->begin / BTT_BLOCK_SIZE);
    if (m->begin % BTT_BLOCK_SIZE || m->length != expect) {
        /* not a block we would ever ask for */
        size_t i = find_out_req(p, m->index, m->begin);
        if (i != SIZE_MAX) drop_out_req(t, p, i, false);
        return;
    }
    size_t i = p->n_out && p->out_req[0].piece == m->index && p->out_req[0].begin == m->begin
                   ? 0
                   : find_out_req(p, m->index, m->begin);
    p->downloaded += m->length;
    t->downloaded += m->length;
    rate_add(&p->down, m->length, now);
    rate_add(&t->down, m->length, now);
    if (i == SIZE_MAX) return; /* not asked of this peer (or given up on): never trusted */
    memmove(p->out_req + i, p->out_req + i + 1, (p->n_out - i - 1) * sizeof *p->out_req);
    p->n_out--;
    p->last_block_ms = now;
    p->snubbed = false;

    const void *other;
    bool complete;
    if (!btt_picker_received(t->pk, m->index, m->begin, p, &other, &complete)) return;
    if (other) { /* endgame: the other peer need not send it */
        peer *o = (peer *)other;
        size_t k = find_out_req(o, m->index, m->begin);
        if (k != SIZE_MAX) {
            btt_block b = o->out_req[k];
            memmove(o->out_req + k, o->out_req + k + 1, (o->n_out - k - 1) * sizeof *o->out_req);
            o->n_out--;
            send_req(o, BTT_MSG_CANCEL, &b);
            peer_flush(o);
        }
    }
    pbuf *pb = t->pb[m->index];
    if (!pb) {
        pb = calloc(1, sizeof *pb);
        if (pb) {
            pb->piece = m->index;
            pb->size = btt_metainfo_piece_size(t->mi, m->index);
            pb->nblocks = btt_picker_blocks_in(t->pk, m->index);
            pb->data = torrent_piece_buf(t);
            pb->from = calloc(pb->nblocks, sizeof *pb->from);
            if (t->sp) pb->rate = calloc(pb->nblocks, sizeof *pb->rate);
        }
        if (!pb || !pb->data || !pb->from || (t->sp && !pb->rate)) {
            if (pb) {
                torrent_piece_buf_free(t, pb->data);
                free(pb->from);
                free(pb->rate);
                free(pb);
            }
            btt_picker_failed(t->pk, m->index);
            return;
        }
        t->pb[m->index] = pb;
    }
    memcpy(pb->data + m->begin, m->data, m->length);
    pb->from[m->begin / BTT_BLOCK_SIZE] = p->addr;
    if (pb->rate) pb->rate[m->begin / BTT_BLOCK_SIZE] = speed_block_received(p, m->length);
    if (complete) {
        pb->hashing = true;
        t->hashing++;
        if (btt_hash_write_async(t->s->loop, t->st, t->mi, m->index, pb->data, on_hashed, t)) {
            t->hashing--;
            btt_picker_failed(t->pk, m->index);
        }
    }
    request_more(t, p);
}

/* ---- messages ---- */

static void on_request(btt_torrent *t, peer *p, const btt_msg *m)
{
    uint32_t psize = btt_metainfo_piece_size(t->mi, m->index);
    bool valid = btt_picker_have(t->pk, m->index) && m->begin < psize && m->length <= psize - m->begin;
    btt_block b = {m->index, m->begin, m->length};
    if (!valid || p->am_choking) {
        if (p->fast) send_req(p, BTT_MSG_REJECT, &b);
        return;
    }
    if (p->n_in >= PEER_MAX_IN_REQ) {
        peer_close(p, "request flood");
        return;
    }
    if (!p->in_req && !(p->in_req = malloc(PEER_MAX_IN_REQ * sizeof *p->in_req))) {
        peer_close(p, "out of memory");
        return;
    }
    p->in_req[(p->in_head + p->n_in) % PEER_MAX_IN_REQ] = b;
    p->n_in++;
    upload_serve(t, p);
}

static void on_cancel(peer *p, const btt_msg *m)
{
    for (size_t k = 0; k < p->n_in; k++) {
        size_t i = (p->in_head + k) % PEER_MAX_IN_REQ;
        btt_block *b = &p->in_req[i];
        if (b->piece != m->index || b->begin != m->begin || b->length != m->length) continue;
        btt_block gone = *b;
        for (size_t j = k; j + 1 < p->n_in; j++)
            p->in_req[(p->in_head + j) % PEER_MAX_IN_REQ] = p->in_req[(p->in_head + j + 1) % PEER_MAX_IN_REQ];
        p->n_in--;
        if (p->fast) send_req(p, BTT_MSG_REJECT, &gone); /* BEP 6: a cancel is answered */
        return;
    }
}

static void became_seed(btt_torrent *t, peer *p)
{
    p->seed = true;
    if (both_seeds(t, p)) peer_close(p, "both seeds");
}

/* BEP 9: serve the info dictionary in 16 KiB pieces to peers that ask (magnet links). */
static void on_metadata(btt_torrent *t, peer *p, const btt_msg *m)
{
    btt_metadata_msg mm;
    btt_error err = {0};
    if (btt_metadata_parse(m->data, m->data_len, &mm, &err)) {
        peer_close(p, btt_error_str(&err));
        return;
    }
    if (mm.type != BTT_METADATA_REQUEST || !p->ut_metadata) return; /* we never ask: we have it */
    uint32_t pieces = btt_metadata_pieces(t->mi->info_len);
    btt_buf b;
    btt_buf_init(&b, BTT_METADATA_PIECE + 256);
    btt_err e;
    /* a flood limit, as BEP 9 allows: each piece a few times over */
    if (mm.piece >= pieces || p->metadata_served >= 4 * pieces + 8 || peer_queued(p) >= PEER_WRITE_HWM) {
        e = btt_metadata_build(&b, BTT_METADATA_REJECT, mm.piece);
    } else {
        size_t off = (size_t)mm.piece * BTT_METADATA_PIECE;
        size_t n = t->mi->info_len - off < BTT_METADATA_PIECE ? t->mi->info_len - off : BTT_METADATA_PIECE;
        e = btt_metadata_build_data(&b, mm.piece, t->mi->info_len, t->mi->info_raw + off, n);
        p->metadata_served++;
    }
    if (e || btt_wire_extended(&p->wbuf, p->ut_metadata, b.data, b.len)) peer_close(p, "out of memory");
    btt_buf_free(&b);
}

static void on_extended(btt_torrent *t, peer *p, const btt_msg *m)
{
    if (m->ext_id == EXT_UT_METADATA) {
        on_metadata(t, p, m);
        return;
    }
    if (m->ext_id == EXT_BTT_SPEED) {
        speed_on_message(t, p, m->data, m->data_len);
        return;
    }
    if (m->ext_id == EXT_UT_PEX) {
        pex_on_message(t, p, m->data, m->data_len);
        return;
    }
    if (m->ext_id != 0) return; /* nothing else is negotiated */
    btt_ext_handshake h;
    btt_error err = {0};
    if (btt_ext_handshake_parse(m->data, m->data_len, &h, &err)) {
        peer_close(p, btt_error_str(&err));
        return;
    }
    if (h.reqq) p->their_reqq = h.reqq;
    if (h.v[0]) snprintf(p->client, sizeof p->client, "%s", h.v);
    p->ut_metadata = btt_ext_handshake_id(&h, "ut_metadata");
    pex_on_ext_handshake(t, p, &h);
    if (p->state != P_ACTIVE) return;
    speed_on_ext_handshake(t, p, &h);
}

void torrent_peer_msg(btt_torrent *t, peer *p, const btt_msg *m)
{
    switch (m->id) {
    case BTT_MSG_KEEPALIVE: break;
    case BTT_MSG_CHOKE:
        p->peer_choking = true;
        if (!p->fast) abort_all_requests(t, p, false); /* BEP 3: choked requests are dropped */
        break;
    case BTT_MSG_UNCHOKE:
        p->peer_choking = false;
        request_more(t, p);
        break;
    case BTT_MSG_INTERESTED:
        p->peer_interested = true;
        /* a free slot goes at once rather than at the next rechoke */
        if (p->am_choking && t->state == T_RUNNING && !speed_defer_unchoke(t, p) &&
            count_unchoked(t) < (size_t)t->choker.slots + t->choker.optimistic) {
            speed_before_unchoke(t, p, 0, do_choke); /* a free slot is free (rate 0) */
            do_unchoke(t, p);
        }
        break;
    case BTT_MSG_NOT_INTERESTED: p->peer_interested = false; break;
    case BTT_MSG_HAVE:
        if (btt_bitfield_get(&p->have, m->index)) break;
        btt_bitfield_set(&p->have, m->index);
        btt_picker_inc(t->pk, m->index);
        if (btt_picker_wants(t->pk, m->index)) {
            p->wanted++;
            update_interest(t, p);
            if (!p->peer_choking) request_more(t, p);
        }
        if (btt_bitfield_full(&p->have)) became_seed(t, p);
        break;
    case BTT_MSG_BITFIELD:
    case BTT_MSG_HAVE_ALL:
    case BTT_MSG_HAVE_NONE: {
        /* Normally the first message; aria2 also sends one later (after have none) in place of
         * many haves. Pieces are never lost, so a later one only adds pieces. */
        btt_bitfield bf;
        btt_error err = {0};
        if (btt_bitfield_init(&bf, t->mi->num_pieces)) {
            peer_close(p, "out of memory");
            return;
        }
        if (m->id == BTT_MSG_BITFIELD && btt_bitfield_load(&bf, m->data, m->data_len, &err)) {
            btt_bitfield_free(&bf);
            peer_close(p, btt_error_str(&err));
            return;
        }
        if (m->id == BTT_MSG_HAVE_ALL) {
            if (!p->fast) {
                btt_bitfield_free(&bf);
                peer_close(p, "have all without the fast extension");
                return;
            }
            btt_bitfield_set_all(&bf);
        }
        for (uint32_t i = btt_bitfield_next_set(&bf, 0); i < bf.nbits; i = btt_bitfield_next_set(&bf, i + 1)) {
            if (btt_bitfield_get(&p->have, i)) continue;
            btt_bitfield_set(&p->have, i);
            btt_picker_inc(t->pk, i);
            if (btt_picker_wants(t->pk, i)) p->wanted++;
        }
        btt_bitfield_free(&bf);
        update_interest(t, p);
        if (btt_bitfield_full(&p->have)) became_seed(t, p);
        else if (!p->peer_choking) request_more(t, p);
        break;
    }
    case BTT_MSG_REQUEST: on_request(t, p, m); break;
    case BTT_MSG_CANCEL: on_cancel(p, m); break;
    case BTT_MSG_PIECE: on_block(t, p, m); break;
    case BTT_MSG_REJECT: {
        size_t i = find_out_req(p, m->index, m->begin);
        if (i != SIZE_MAX) drop_out_req(t, p, i, false);
        if (!p->peer_choking) request_more(t, p);
        break;
    }
    case BTT_MSG_ALLOWED_FAST:
        if (p->n_allowed_in < sizeof p->allowed_in / sizeof p->allowed_in[0]) p->allowed_in[p->n_allowed_in++] = m->index;
        if (p->peer_choking) request_more(t, p);
        break;
    case BTT_MSG_EXTENDED: on_extended(t, p, m); break;
    case BTT_MSG_PORT: dht_glue_port_msg(p, m->port); break;
    default: break; /* suggest and unknown messages are advisory */
    }
}

/* ---- peers joining and leaving ---- */

bool torrent_accepts_peer(btt_torrent *t)
{
    return t->state == T_RUNNING && t->npeers < t->s->o.max_peers;
}

static candidate *find_candidate(btt_torrent *t, const btt_addr *a)
{
    for (size_t i = 0; i < t->ncand; i++)
        if (btt_addr_eq(&t->cand[i].addr, a)) return &t->cand[i];
    return NULL;
}

uint64_t torrent_hint_bid(btt_torrent *t, const btt_addr *a)
{
    candidate *c = find_candidate(t, a);
    return c ? c->hint_bid : 0;
}

void torrent_set_hint_bid(btt_torrent *t, const btt_addr *a, uint64_t bid)
{
    candidate *c = find_candidate(t, a);
    if (c) c->hint_bid = bid;
}

void btt_torrent_add_peer(btt_torrent *t, const btt_addr *a)
{
    if (t->state == T_STOPPING || t->state == T_STOPPED) return;
    if (find_candidate(t, a) || t->ncand >= MAX_CANDIDATES || a->port == 0) return;
    btt_addr me = btt_session_listen_addr(t->s);
    if (btt_addr_eq(a, &me)) return;
    if (t->ncand == t->capcand) {
        size_t cap = t->capcand ? t->capcand * 2 : 16;
        candidate *v = realloc(t->cand, cap * sizeof *v);
        if (!v) return;
        t->cand = v;
        t->capcand = cap;
    }
    t->cand[t->ncand++] = (candidate){.addr = *a};
    if (t->state == T_RUNNING) torrent_connect_now(t); /* not at the next tick: up to 0.5 s later */
}

void torrent_peer_attached(btt_torrent *t, peer *p)
{
    uint64_t now = now_ms(t);
    if (btt_bitfield_init(&p->have, t->mi->num_pieces)) {
        peer_close(p, "out of memory");
        return;
    }
    for (peer *q = t->peers; q; q = q->next)
        if (q != p && q->attached && memcmp(q->peer_id, p->peer_id, 20) == 0) {
            peer_close(p, "already connected to this peer");
            return;
        }
    if (p->incoming) session_list_add(&t->peers, p);
    p->attached = true;
    t->npeers++;
    p->choked_since_ms = now;
    candidate *c = find_candidate(t, &p->addr);
    if (c) {
        c->connected = true;
        c->fails = 0;
    }
    if (p->ext) {
        btt_buf hb;
        btt_buf_init(&hb, 4096);
        if (speed_build_ext_handshake(t, p, &hb) || btt_wire_extended(&p->wbuf, 0, hb.data, hb.len)) {
            btt_buf_free(&hb);
            peer_close(p, "out of memory");
            return;
        }
        btt_buf_free(&hb);
    }
    const btt_bitfield *have = btt_picker_have_bitfield(t->pk);
    btt_err e = BTT_OK;
    if (p->fast && have->count == have->nbits) e = btt_wire_simple(&p->wbuf, BTT_MSG_HAVE_ALL);
    else if (p->fast && have->count == 0) e = btt_wire_simple(&p->wbuf, BTT_MSG_HAVE_NONE);
    else if (have->count) e = btt_wire_bitfield(&p->wbuf, have->bits, btt_bitfield_bytes(have->nbits));
    if (e) peer_close(p, "out of memory");
    char a[BTT_ADDR_STRLEN];
    BTT_LOGI(LOG_MOD, "peer %s connected (%s)", btt_addr_format(&p->addr, a), p->incoming ? "incoming" : "outgoing");
}

void torrent_peer_closed(btt_torrent *t, peer *p)
{
    session_list_remove(&t->peers, p);
    candidate *c = find_candidate(t, &p->addr);
    if (c) {
        c->connected = false;
        if (p->attached) c->seed = p->seed;
    }
    if (!p->attached) return;
    t->npeers--;
    abort_all_requests(t, p, false);
    btt_picker_dec_bitfield(t->pk, &p->have);
    p->n_in = 0;
    if (!p->am_choking) t->choker.next_ms = 0; /* its slot is free: rechoke soon */
    if (t->state == T_RUNNING) request_all(t);
}

void torrent_peer_connect_failed(btt_torrent *t, const btt_addr *a)
{
    candidate *c = find_candidate(t, a);
    if (!c) return;
    c->connected = false;
    if (c->fails < 250) c->fails++;
    /* back off: 5 s, 10 s, 20 s ... up to 10 minutes */
    uint64_t delay = 5000ull << (c->fails < 7 ? c->fails - 1 : 7);
    if (delay > 600000) delay = 600000;
    c->retry_ms = now_ms(t) + delay;
}

/* ---- periodic work ---- */

static void connect_more(btt_torrent *t, uint64_t now);

void torrent_connect_now(btt_torrent *t) { connect_more(t, now_ms(t)); }

static void connect_more(btt_torrent *t, uint64_t now)
{
    btt_session *s = t->s;
    for (size_t i = 0; i < t->ncand && t->npeers < s->o.max_peers && s->half_open < s->o.max_half_open; i++) {
        candidate *c = &t->cand[i];
        if (c->connected || c->retry_ms > now || session_is_banned(s, &c->addr, now)) continue;
        if (c->seed && t->complete) continue; /* two seeds have nothing to say to each other */
        bool busy = false; /* already talking to this address? */
        for (peer *p = t->peers; p && !busy; p = p->next) busy = btt_addr_eq(&p->addr, &c->addr);
        if (busy) {
            c->connected = true;
            continue;
        }
        peer *p = peer_new(s, t, &c->addr, false);
        if (!p) return;
        session_list_add(&t->peers, p);
        c->connected = true;
        c->retry_ms = now + 5000;
        if (peer_connect(p, &s->bind)) {
            peer_close(p, "cannot connect");
            torrent_peer_connect_failed(t, &c->addr);
        }
    }
}

static void rechoke(btt_torrent *t, uint64_t now);

void torrent_rechoke_now(btt_torrent *t) { rechoke(t, now_ms(t)); }

static void rechoke(btt_torrent *t, uint64_t now)
{
    size_t n = 0;
    for (peer *p = t->peers; p; p = p->next) n += p->attached && p->state == P_ACTIVE;
    btt_choke_peer *cp = calloc(n ? n : 1, sizeof *cp);
    peer **pp = calloc(n ? n : 1, sizeof *pp);
    if (!cp || !pp) goto out;
    size_t k = 0;
    for (peer *p = t->peers; p; p = p->next) {
        if (!p->attached || p->state != P_ACTIVE) continue;
        pp[k] = p;
        cp[k] = (btt_choke_peer){.peer = p,
                                 .interested = p->peer_interested,
                                 .snubbed = p->snubbed,
                                 .down_rate = rate_get(&p->down, now),
                                 .up_rate = rate_get(&p->up, now),
                                 .choked_since_ms = p->choked_since_ms,
                                 .unchoked = !p->am_choking,
                                 .optimistic = p->optimistic};
        speed_choke_inputs(t, p, &cp[k]);
        k++;
    }
    t->choker.reserve = speed_reserve_price(t);
    btt_choker_run(&t->choker, cp, n, t->complete, now);
    for (size_t i = 0; i < n; i++) {
        pp[i]->optimistic = cp[i].optimistic;
        if (cp[i].unchoked) {
            speed_before_unchoke(t, pp[i], cp[i].rate, do_choke);
            do_unchoke(t, pp[i]);
        } else {
            do_choke(t, pp[i]);
        }
        pp[i]->optimistic = cp[i].optimistic;
        peer_flush(pp[i]);
    }
out:
    free(cp);
    free(pp);
}

void torrent_tick(btt_torrent *t, uint64_t now)
{
    if (t->state != T_RUNNING) return;
    for (peer *p = t->peers, *next; p; p = next) {
        next = p->next;
        if (p->state == P_CONNECTING) {
            peer_connect_tick(p, now); /* uTP not up yet: TCP instead */
            if (p->state == P_CLOSING) continue;
        }
        if (p->state == P_CONNECTING && now - p->connected_ms > CONNECT_TIMEOUT_MS) {
            btt_addr a = p->addr;
            peer_close(p, "connect timed out");
            torrent_peer_connect_failed(t, &a);
            continue;
        }
        if (p->state == P_ACTIVE && both_seeds(t, p)) { /* a close deferred until our voucher went out */
            peer_close(p, "both seeds");
            continue;
        }
        if (p->state == P_HANDSHAKE && now - p->connected_ms > HANDSHAKE_TIMEOUT_MS) {
            peer_close(p, "handshake timed out");
            continue;
        }
        if (p->state != P_ACTIVE) continue;
        if (now - p->last_recv_ms > INACTIVE_MS) {
            peer_close(p, "inactive");
            continue;
        }
        if (p->n_out && !p->snubbed && now - (p->last_block_ms > p->last_req_ms ? p->last_block_ms : p->last_req_ms) > SNUB_MS) {
            p->snubbed = true; /* give its blocks to others */
            abort_all_requests(t, p, true);
            request_all(t);
        }
        if (now - p->last_send_ms > KEEPALIVE_MS && btt_wire_keepalive(&p->wbuf) == BTT_OK) peer_flush(p);
    }
    speed_tick(t, now);
    pex_tick(t, now);
    if (btt_choker_due(&t->choker, now)) rechoke(t, now);
    connect_more(t, now);
    if (t->resume_dirty && now - t->last_resume_ms > RESUME_SAVE_MS) save_resume(t);
}

/* ---- stopping ---- */

static void on_reaper(uv_timer_t *h)
{
    btt_torrent *t = h->data;
    if (t->stopped_cb) t->stopped_cb(t);
}

static void finish_stop(btt_torrent *t)
{
    t->state = T_STOPPED;
    save_resume(t);
    uv_timer_start(&t->reaper, on_reaper, 0, 0);
}

void torrent_maybe_stopped(btt_torrent *t) { maybe_finish_stop(t); }

static void maybe_finish_stop(btt_torrent *t)
{
    if (t->state == T_STOPPING && t->hashing == 0 && !upload_cache_busy(t) && !t->ann) finish_stop(t);
}

static void announcer_stopped(void *ud)
{
    btt_torrent *t = ud;
    t->ann = NULL;
    maybe_finish_stop(t);
}

void torrent_stop(btt_torrent *t, void (*stopped)(btt_torrent *t))
{
    t->stopped_cb = stopped;
    if (t->state == T_STOPPED) {
        uv_timer_start(&t->reaper, on_reaper, 0, 0);
        return;
    }
    bool was_checking = t->state == T_CHECKING;
    t->state = T_STOPPING;
    for (peer *p = t->peers, *next; p; p = next) {
        next = p->next;
        peer_close(p, "stopping");
    }
    if (t->ann) btt_announcer_stop(t->ann, 3000, announcer_stopped, t);
    if (was_checking) { /* nothing trustworthy to save yet */
        free(t->resume_path);
        t->resume_path = NULL;
    }
    maybe_finish_stop(t);
}

static void torrent_free(btt_torrent *t);

static void on_torrent_closed(uv_handle_t *h)
{
    btt_torrent *t = h->data;
    btt_session *s = t->s;
    void (*done)(btt_session *) = t->closed_cb;
    torrent_free(t);
    if (done) done(s);
}

void torrent_close(btt_torrent *t, void (*done)(btt_session *s))
{
    t->closed_cb = done;
    uv_close((uv_handle_t *)&t->reaper, on_torrent_closed);
}

static void torrent_free(btt_torrent *t)
{
    upload_cache_clear(t);
    for (uint32_t i = 0; t->pb && i < t->mi->num_pieces; i++)
        if (t->pb[i]) {
            free(t->pb[i]->data);
            free(t->pb[i]->from);
            free(t->pb[i]->rate);
            free(t->pb[i]);
        }
    free(t->pb);
    while (t->nspare) free(t->spare[--t->nspare]);
    for (size_t i = 0; i < t->nfailed; i++) free_failed(&t->failed[i]);
    free(t->failed);
    free(t->cand);
    speed_torrent_free(t);
    btt_picker_free(t->pk);
    btt_storage_close(t->st);
    btt_metainfo_free(t->mi);
    free(t->dir);
    free(t->resume_path);
    free(t->files_sel);
    free(t);
}
