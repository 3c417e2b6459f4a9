/* speed.c - BitTorrent Speed on a torrent's connections (src/client/speed.h,
 * docs/speed-protocol.md): negotiation and proof of possession, bids (AutoBid), the auction's
 * inputs and the bid_response before an unchoke, the reserve price and its challenge, and the
 * payment guard on serving. Channels, vouchers and settlement are in speed_pay.c. */
#define BTT_CLIENT_INTERNAL
#include "client/pex.h"
#include "client/speed_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sodium.h>

#include "btt/bencode.h"

/* ------------------------------------------------------------------------- session */

btt_err speed_session_init(btt_session *s, btt_error *err)
{
    const btt_speed_opts *o = &s->o.speed;
    if (!o->wallet) return BTT_OK;
    speed_session *ss = calloc(1, sizeof *ss);
    if (!ss) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    ss->wallet = o->wallet;
    ss->me = *btt_wallet_account(o->wallet);
    memcpy(ss->ledger, o->ledger_id, sizeof ss->ledger);
    snprintf(ss->url, sizeof ss->url, "%s", o->ledger_url ? o->ledger_url : "");
    ss->permille = o->spending_permille > BTT_SPEED_PERMILLE_MAX ? BTT_SPEED_PERMILLE_MAX : o->spending_permille;
    ss->budget = o->budget;
    ss->reserve_base = o->reserve_base;
    ss->reserve_growth = o->reserve_growth;
    ss->reserve_cap = o->reserve_cap;
    ss->guard_hold_ms = o->guard_hold_ms ? o->guard_hold_ms : BTT_GUARD_HOLD_MS;
    ss->reserve_hour_ms = o->reserve_hour_ms;
    randombytes_buf(ss->secret, sizeof ss->secret);
    s->sp = ss;
    btt_err e = speed_pay_init(s, err);
    if (e != BTT_OK) {
        free(ss);
        s->sp = NULL;
    }
    return e;
}

void speed_session_free(btt_session *s)
{
    if (!s->sp) return;
    speed_pay_free(s);
    free(s->sp);
    s->sp = NULL;
}

/* ------------------------------------------------------------------------- torrent */

static uint64_t now_ms(const btt_torrent *t) { return uv_now(t->s->loop); }

btt_err speed_torrent_start(btt_torrent *t, btt_error *err)
{
    if (!t->s->sp || t->o.no_speed || t->sp) return BTT_OK;
    speed_torrent *st = calloc(1, sizeof *st);
    if (!st) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    btt_autobid_init(&st->autobid);
    btt_err e = btt_challenge_init(&st->chal, t->s->sp->secret, t->mi->info_hash, t->mi->piece_length,
                                   t->mi->total_size);
    if (e != BTT_OK) {
        free(st);
        return btt_error_set(err, e, "speed: cannot set up the possession challenge");
    }
    t->sp = st;
    btt_choker_init(&t->choker, &btt_choke_auction, t->s->o.unchoke_slots, t->s->o.optimistic_slots,
                    session_rand(t->s));
    if (t->complete) speed_torrent_completed(t);
    return BTT_OK;
}

void speed_torrent_free(btt_torrent *t)
{
    if (!t->sp) return;
    btt_challenge_free(&t->sp->chal);
    free(t->sp);
    t->sp = NULL;
}

static void send_reserve(btt_torrent *t, peer *p);

void speed_torrent_completed(btt_torrent *t)
{
    speed_torrent *st = t->sp;
    if (!st || st->reserve_on) return;
    const speed_session *ss = t->s->sp;
    btt_reserve_init(&st->reserve, ss->reserve_base, ss->reserve_growth, ss->reserve_cap, now_ms(t));
    if (ss->reserve_hour_ms) st->reserve.hour_ms = ss->reserve_hour_ms;
    st->reserve_on = true;
    speed_reserve_changed(t);
}

uint64_t speed_reserve_price(btt_torrent *t)
{
    return t->sp && t->sp->reserve_on ? btt_reserve_price(&t->sp->reserve, now_ms(t)) : 0;
}

uint64_t speed_allowance(const btt_torrent *t)
{
    uint64_t two = 2 * (uint64_t)t->mi->piece_length;
    return two > SPEED_ALLOWANCE_MIN ? two : SPEED_ALLOWANCE_MIN;
}

/* ------------------------------------------------------------------------ sending */

void speed_send(peer *p, const btt_speed_msg *m)
{
    if (!p->sp || !p->sp->ext_id || p->state != P_ACTIVE) return;
    uint8_t raw[BTT_SPEED_MSG_MAX];
    btt_buf b;
    btt_buf_init(&b, sizeof raw);
    if (btt_speed_msg_build(&b, m) != BTT_OK || btt_wire_extended(&p->wbuf, p->sp->ext_id, b.data, b.len) != BTT_OK) {
        btt_buf_free(&b);
        peer_close(p, "out of memory");
        return;
    }
    btt_buf_free(&b);
    BTT_LOGD(LOG_MOD, "speed: sent %s", btt_speed_type_name(m->type));
}

static btt_speed_msg msg_of(btt_speed_type type)
{
    btt_speed_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    return m;
}

void speed_refuse_channel(peer *p, const char *code, const char *text, const uint8_t id[BTT_CHANNEL_ID_LEN])
{
    btt_speed_msg m = msg_of(BTT_SPEED_REFUSE);
    snprintf(m.code, sizeof m.code, "%s", code);
    snprintf(m.text, sizeof m.text, "%s", text);
    if (id) {
        memcpy(m.voucher.channel, id, BTT_CHANNEL_ID_LEN);
        m.has_channel = true;
    }
    speed_send(p, &m);
}

void speed_refuse(peer *p, const char *code, const char *text) { speed_refuse_channel(p, code, text, NULL); }

static void send_reserve(btt_torrent *t, peer *p)
{
    speed_torrent *st = t->sp;
    btt_speed_msg m = msg_of(BTT_SPEED_RESERVE);
    m.rate = btt_reserve_price(&st->reserve, now_ms(t));
    m.piece = st->chal.piece;
    m.chunk = st->chal.chunk;
    speed_send(p, &m);
}

/* Bytes of the wanted pieces still missing: O(1) (the last piece may be short). */
static uint64_t remaining_bytes(const btt_torrent *t)
{
    uint64_t left = (uint64_t)btt_picker_left(t->pk) * t->mi->piece_length;
    uint32_t last = t->mi->num_pieces - 1;
    if (left && btt_picker_wants(t->pk, last)) left -= t->mi->piece_length - btt_metainfo_piece_size(t->mi, last);
    return left;
}

/* AutoBid's current value for this torrent. */
static uint64_t current_bid(const btt_torrent *t)
{
    const speed_session *ss = t->s->sp;
    btt_amount left = BTT_AMOUNT_ZERO;
    if (!btt_amount_sub(&left, ss->budget, ss->spent)) left = BTT_AMOUNT_ZERO;
    return t->complete || ss->exhausted ? 0 : btt_autobid_rate(ss->permille, left, remaining_bytes(t));
}

/* AutoBid: recomputes the bid and sends it to every Speed peer that has what we need, when the
 * rules say so (or at once with force: the first bid). */
static void autobid(btt_torrent *t, uint64_t now, bool force);
static void leave_paid_seeders(btt_torrent *t);

/* Our bid to p: AutoBid's, or 0 to a seller we gave up paying (the budget). */
static uint64_t bid_for(btt_torrent *t, const peer *p)
{
    return speed_pay_unpayable(t->s, &p->sp->theirs.pk) ? 0 : t->sp->bid;
}

static void send_bid(btt_torrent *t, peer *p, uint64_t bid_rate)
{
    btt_speed_msg m = msg_of(BTT_SPEED_BID);
    m.rate = bid_rate;
    p->sp->bid_sent = bid_rate;
    speed_send(p, &m);
    (void)t;
}

/* --------------------------------------------------------------------- negotiation */

static bool account_banned(const speed_session *ss, const btt_account *a, uint64_t now);

btt_err speed_build_ext_handshake(btt_torrent *t, peer *p, btt_buf *b)
{
    btt_addr me = btt_session_listen_addr(t->s);
    /* ut_pex only where peer exchange runs (never for a private torrent, BEP 27) */
    btt_ext_item items[3] = {{"ut_metadata", EXT_UT_METADATA}};
    size_t n = 1;
    if (pex_enabled(t)) items[n++] = (btt_ext_item){"ut_pex", EXT_UT_PEX};
    if (!t->sp)
        return btt_ext_handshake_build(b, items, n, "btt " BTT_VERSION, me.port, PEER_MAX_IN_REQ, &p->addr,
                                       (int64_t)t->mi->info_len);
    if (!p->sp && !(p->sp = calloc(1, sizeof *p->sp))) return BTT_ENOMEM;
    /* The floor of the guard's allowance (docs/speed-protocol.md 4): two pieces (the one being
     * sent and one whose voucher is on its way) or SPEED_ALLOWANCE_MIN bytes, whichever is more.
     * Less would stall a fast link for a round trip plus the time a piece spends in the send
     * queues every piece. The guard grows it with what the peer was served. */
    btt_guard_init(&p->sp->guard, speed_allowance(t));
    p->sp->guard.hold_limit_ms = t->s->sp->guard_hold_ms;
    randombytes_buf(p->sp->our_ch, sizeof p->sp->our_ch);
    const speed_session *ss = t->s->sp;
    btt_speed_hello h;
    memset(&h, 0, sizeof h);
    h.pk = ss->me;
    memcpy(h.ledger, ss->ledger, sizeof h.ledger);
    memcpy(h.ch, p->sp->our_ch, sizeof h.ch);
    snprintf(h.url, sizeof h.url, "%s", ss->url);
    btt_buf hb;
    btt_buf_init(&hb, 1024);
    btt_err e = btt_speed_hello_build(&hb, &h);
    items[n++] = (btt_ext_item){BTT_SPEED_EXT_NAME, EXT_BTT_SPEED};
    if (e == BTT_OK)
        e = btt_ext_handshake_build_with(b, items, n, "btt " BTT_VERSION, me.port, PEER_MAX_IN_REQ, &p->addr,
                                         (int64_t)t->mi->info_len, BTT_SPEED_EXT_NAME, hb.data, hb.len);
    btt_buf_free(&hb);
    return e;
}

void speed_on_ext_handshake(btt_torrent *t, peer *p, const btt_ext_handshake *h)
{
    speed_peer *sp = p->sp;
    if (!t->sp || !sp || sp->ext_id) return; /* Speed off, or a second handshake: keep the first */
    uint8_t id = btt_ext_handshake_id(h, BTT_SPEED_EXT_NAME);
    if (!id) return;
    sp->listen_port = h->p;
    btt_ben_doc *doc;
    if (btt_ben_decode(h->raw, h->raw_len, BTT_BEN_TOLERANT, NULL, &doc, NULL) != BTT_OK) return;
    btt_error err = {0};
    btt_err e = btt_speed_hello_parse(btt_ben_dict_get(btt_ben_root(doc), BTT_SPEED_EXT_NAME), &sp->theirs, &err);
    btt_ben_free(doc);
    const speed_session *ss = t->s->sp;
    if (e != BTT_OK || memcmp(sp->theirs.ledger, ss->ledger, sizeof ss->ledger) ||
        !memcmp(sp->theirs.pk.key, ss->me.key, sizeof ss->me.key)) {
        BTT_LOGD(LOG_MOD, "speed: peer is legacy (%s)", e != BTT_OK ? btt_error_str(&err) : "another ledger or ourselves");
        return;
    }
    if (account_banned(ss, &sp->theirs.pk, now_ms(t))) {
        peer_close(p, "speed: a banned account");
        return;
    }
    sp->ext_id = id;
    btt_speed_msg m = msg_of(BTT_SPEED_POP);
    btt_speed_pop_sign(ss->wallet, ss->ledger, t->mi->info_hash, sp->theirs.ch, m.sig);
    speed_send(p, &m);
}

/* Both sides proved their keys: tell it our price, and bid if it has what we need. */
static void became_active(btt_torrent *t, peer *p)
{
    p->sp->active = true;
    char acct[BTT_ACCOUNT_STR_LEN + 1];
    BTT_LOGI(LOG_MOD, "speed: active with %s", btt_account_format(&p->sp->theirs.pk, acct));
    if (t->sp->reserve_on) send_reserve(t, p);
    if (!t->sp->autobid.has_sent) autobid(t, now_ms(t), true); /* sends to p too */
    else if (p->wanted && !t->complete) send_bid(t, p, bid_for(t, p));
}

/* ------------------------------------------------------------------------ messages */

/* The bid a tracker said this peer announced (0: none). Trackers know a peer by its address and
 * announced port: that is the connection's address when we dialled it, and the address of an
 * incoming connection with the listen port of its extension handshake. */
static uint64_t tracker_hint(btt_torrent *t, const peer *p)
{
    uint64_t hint = torrent_hint_bid(t, &p->addr);
    if (!hint && p->sp->listen_port && p->sp->listen_port != p->addr.port) {
        btt_addr a = p->addr;
        a.port = p->sp->listen_port;
        hint = torrent_hint_bid(t, &a);
    }
    return hint;
}

static void on_bid(btt_torrent *t, peer *p, uint64_t bid_rate)
{
    speed_peer *sp = p->sp;
    /* trackers' bids are hints, never trusted: a peer that bids far below what it told the
     * tracker was bidding for attention it will not pay for (docs/speed-protocol.md 3.4) */
    uint64_t hint = tracker_hint(t, p);
    if (hint && bid_rate < hint / 2) {
        BTT_LOGW(LOG_MOD, "speed: a peer bid %llu/KiB after telling the tracker %llu: disconnected",
                 (unsigned long long)bid_rate, (unsigned long long)hint);
        peer_close(p, "speed: bid far below its tracker bid");
        return;
    }
    bool was = sp->bid >= speed_reserve_price(t) && sp->bid;
    if (bid_rate != sp->bid) {
        char acct[BTT_ACCOUNT_STR_LEN + 1];
        BTT_LOGI(LOG_MOD, "speed: %s bids %llu/KiB", btt_account_format(&sp->theirs.pk, acct), (unsigned long long)bid_rate);
    }
    sp->bid = bid_rate;
    /* a new eligible bidder (waiting for a slot, or on a free one): the auction runs at once
     * rather than at the next 10 s round */
    if (!was && bid_rate && bid_rate >= speed_reserve_price(t) && p->peer_interested &&
        (p->am_choking || !sp->rate_told))
        torrent_rechoke_now(t);
}

static void on_bid_response(btt_torrent *t, peer *p, const btt_speed_msg *m)
{
    speed_peer *sp = p->sp;
    if (m->rate > sp->bid_sent) {
        BTT_LOGW(LOG_MOD, "speed: a seeder asked %llu/KiB, above our bid of %llu: ignored",
                 (unsigned long long)m->rate, (unsigned long long)sp->bid_sent);
        return;
    }
    sp->pay_rate = m->rate;
    sp->payee = m->payee;
    sp->lock = m->lock;
    sp->expiry_need = m->expiry;
    if (m->rate && !t->s->sp->exhausted && !speed_pay_unpayable(t->s, &m->payee)) speed_pay_channel_needed(t, p);
    if (m->rate && (t->s->sp->exhausted || speed_pay_unpayable(t->s, &m->payee))) /* leave before its data comes */
        peer_close(p, "speed: budget used up: no more paid data from this seeder");
}

void speed_reserve_changed(btt_torrent *t)
{
    t->sp->last_price = btt_reserve_price(&t->sp->reserve, now_ms(t));
    for (peer *p = t->peers; p; p = p->next)
        if (p->sp && p->sp->active) {
            send_reserve(t, p);
            peer_flush(p); /* from the tick too: it must not wait for the next message to this peer */
        }
}

static void on_reserve(btt_torrent *t, peer *p, const btt_speed_msg *m)
{
    uint64_t off;
    uint32_t len;
    if (m->piece >= t->mi->num_pieces || !btt_challenge_block_range(&t->sp->chal, m->piece, m->chunk, &off, &len)) {
        speed_malformed(t, p, "reserve names a block outside the torrent");
        return;
    }
    speed_peer *sp = p->sp;
    sp->reserve = m->rate;
    sp->ch_piece = m->piece;
    sp->ch_chunk = m->chunk;
    sp->has_reserve = true;
    sp->proof_sent = false;
    speed_maybe_prove(t, p);
}

void speed_malformed(btt_torrent *t, peer *p, const char *why)
{
    (void)t;
    speed_peer *sp = p->sp;
    BTT_LOGD(LOG_MOD, "speed: malformed message: %s", why);
    if (++sp->malformed >= BTT_SPEED_MALFORMED_MAX && sp->active) {
        BTT_LOGW(LOG_MOD, "speed: %u malformed messages: the peer is treated as legacy", sp->malformed);
        sp->active = false;
        sp->bid = 0;
    }
}

void speed_on_message(btt_torrent *t, peer *p, const uint8_t *data, size_t len)
{
    speed_peer *sp = p->sp;
    if (!t->sp || !sp || !sp->ext_id) return; /* we never offered it, or it is legacy */
    btt_speed_msg m;
    btt_error err = {0};
    if (btt_speed_msg_parse(data, len, &m, &err) != BTT_OK) {
        speed_malformed(t, p, btt_error_str(&err));
        return;
    }
    if (m.type == BTT_SPEED_POP) {
        if (sp->active) return;
        if (!btt_speed_pop_verify(&sp->theirs.pk, t->s->sp->ledger, t->mi->info_hash, sp->our_ch, m.sig)) {
            BTT_LOGW(LOG_MOD, "speed: invalid proof of possession: the peer is treated as legacy");
            sp->ext_id = 0;
            return;
        }
        became_active(t, p);
        return;
    }
    if (!sp->active) return; /* nothing counts before the pop */
    switch (m.type) {
    case BTT_SPEED_RESERVE: on_reserve(t, p, &m); break;
    case BTT_SPEED_PROOF: speed_on_proof(t, p, &m); break;
    case BTT_SPEED_BID: on_bid(t, p, m.rate); break;
    case BTT_SPEED_BID_RESPONSE: on_bid_response(t, p, &m); break;
    case BTT_SPEED_CHANNEL: speed_pay_on_channel(t, p, m.voucher.channel); break;
    case BTT_SPEED_PAY: speed_pay_on_voucher(t, p, &m); break;
    case BTT_SPEED_REFUSE:
        BTT_LOGW(LOG_MOD, "speed: peer refused: %s%s%s", m.code, m.text[0] ? ": " : "", m.text);
        if (!strcmp(m.code, "bad-channel")) speed_pay_channel_refused(t, p, m.has_channel ? m.voucher.channel : NULL);
        break;
    default: break;
    }
}

/* Bans by address (session_ban) and by account: on loopback several peers share an address, and
 * a banned account is refused whatever address it comes from. */
void speed_ban(btt_torrent *t, peer *p, const char *why)
{
    speed_session *ss = t->s->sp;
    uint64_t now = now_ms(t);
    peer_flush(p); /* a refuse just queued goes out before the connection closes */
    size_t cap = sizeof ss->banned / sizeof *ss->banned, i = ss->nbanned++ % cap; /* the oldest goes first */
    ss->banned[i].account = p->sp->theirs.pk;
    ss->banned[i].until_ms = now + BTT_GUARD_BAN_MS;
    char acct[BTT_ACCOUNT_STR_LEN + 1];
    BTT_LOGW(LOG_MOD, "speed: banned %s: %s", btt_account_format(&p->sp->theirs.pk, acct), why);
    session_ban(t->s, &p->addr, BTT_GUARD_BAN_MS, why);
}

static bool account_banned(const speed_session *ss, const btt_account *a, uint64_t now)
{
    size_t cap = sizeof ss->banned / sizeof *ss->banned, n = ss->nbanned < cap ? ss->nbanned : cap;
    for (size_t i = 0; i < n; i++)
        if (ss->banned[i].until_ms > now && !memcmp(ss->banned[i].account.key, a->key, sizeof a->key)) return true;
    return false;
}

void speed_peer_free(peer *p)
{
    free(p->sp);
    p->sp = NULL;
}

/* -------------------------------------------------------------------------- choking */

void speed_choke_inputs(btt_torrent *t, const peer *p, btt_choke_peer *cp)
{
    (void)t;
    cp->bid = p->sp && p->sp->active ? p->sp->bid : 0;
    cp->received = p->downloaded;
}

void speed_before_unchoke(btt_torrent *t, peer *p, uint64_t price, void (*choke)(btt_torrent *, peer *))
{
    speed_peer *sp = p->sp;
    if (!t->sp || !sp || !sp->active || price == sp->rate_told) return;
    if (!p->am_choking) choke(t, p); /* its queued requests are rejected: a new price applies after */
    btt_speed_msg m = msg_of(BTT_SPEED_BID_RESPONSE);
    m.rate = price;
    m.payee = t->s->sp->me;
    m.lock = btt_speed_charge(price, speed_allowance(t) + t->mi->piece_length); /* above the guard's allowance */
    m.expiry = SPEED_CHANNEL_LIFETIME_S;
    speed_send(p, &m);
    char acct[BTT_ACCOUNT_STR_LEN + 1];
    BTT_LOGI(LOG_MOD, "speed: %s %s at %llu/KiB (bid %llu)", price ? "selling to" : "serving for free",
             btt_account_format(&sp->theirs.pk, acct), (unsigned long long)price, (unsigned long long)sp->bid);
    sp->rate_told = price;
    btt_guard_set_rate(&sp->guard, price);
}

/* -------------------------------------------------------------------------- serving */

bool speed_may_serve(btt_torrent *t, peer *p, uint32_t len)
{
    if (!p->sp || !p->sp->rate_told) return true;
    return btt_guard_may_serve(&p->sp->guard, len, now_ms(t));
}

void speed_served(btt_torrent *t, peer *p, uint32_t piece, uint32_t begin, uint32_t len)
{
    if (!t->sp) return;
    btt_challenge_uploaded(&t->sp->chal, piece, begin / BTT_SPEED_BLOCK);
    if (p->sp && p->sp->rate_told) btt_guard_served(&p->sp->guard, len);
}

void speed_announce(const btt_torrent *t, bool *bidannounce, uint64_t *bid, bool *sortbid)
{
    *bidannounce = t->sp != NULL;
    *bid = t->sp && !t->complete ? t->sp->bid : 0;
    *sortbid = t->sp && t->complete;
}

bool speed_pays(const peer *p) { return p->sp && p->sp->rate_told; }

uint64_t speed_rate_of(const peer *p) { return p->sp && p->sp->active ? p->sp->pay_rate : 0; }

uint64_t speed_block_received(peer *p, uint32_t length)
{
    uint64_t r = speed_rate_of(p);
    if (r) p->sp->paid_rx += length;
    return r;
}

bool speed_owes(const peer *p) { return p->sp && p->sp->active && speed_pay_owes(p->s, &p->sp->payee); }

/* ----------------------------------------------------------------------------- tick */

void speed_tick(btt_torrent *t, uint64_t now)
{
    speed_torrent *st = t->sp;
    if (!st) return;
    /* the reserve price grows by the hour: tell every Speed peer when it moved */
    if (st->reserve_on) {
        uint64_t price = btt_reserve_price(&st->reserve, now);
        if (price != st->last_price) speed_reserve_changed(t);
    }
    autobid(t, now, false);
    leave_paid_seeders(t);
    /* the payment guard of every paying peer */
    for (peer *p = t->peers, *next; p; p = next) {
        next = p->next;
        if (!p->sp || !p->sp->rate_told || p->state != P_ACTIVE) continue;
        btt_guard_verdict v = btt_guard_tick(&p->sp->guard, now);
        if (v == BTT_GUARD_CHOKE) {
            speed_refuse(p, "unpaid", "no voucher for the data served: choked");
            torrent_choke(t, p);
            p->sp->rate_told = 0; /* a new bid_response precedes any later unchoke */
            btt_guard_set_rate(&p->sp->guard, 0);
        } else if (v == BTT_GUARD_BAN) {
            speed_ban(t, p, "did not pay for data (3 strikes)");
        }
    }
    speed_pay_tick(t, now);
}

void speed_budget_exhausted(btt_session *s, const char *why)
{
    speed_session *ss = s->sp;
    if (ss->exhausted) return;
    ss->exhausted = true;
    char bud[BTT_AMOUNT_STRLEN], sp[BTT_AMOUNT_STRLEN], lk[BTT_AMOUNT_STRLEN];
    BTT_LOGW(LOG_MOD, "speed: budget of %s BTT used up (%s; spent %s, locked %s): no more bids or payments",
             btt_amount_format(ss->budget, bud), why, btt_amount_format(ss->spent, sp), btt_amount_format(ss->locked, lk));
    for (btt_torrent *t = s->torrents; t; t = t->next)
        if (t->sp) autobid(t, uv_now(s->loop), true); /* a bid of 0 to everyone we bid to */
}

/* Out of budget (for everyone, or for one seller): a seller that charges us is left (it would
 * serve what we no longer pay for); a new connection bids 0 and takes only free data. */
static void leave_paid_seeders(btt_torrent *t)
{
    bool all = t->s->sp->exhausted;
    for (peer *p = t->peers, *next; p; p = next) {
        next = p->next;
        if (p->sp && p->sp->active && p->sp->pay_rate && p->state == P_ACTIVE &&
            (all || speed_pay_unpayable(t->s, &p->sp->payee)))
            peer_close(p, "speed: budget used up: no more paid data from this seeder");
    }
}

void speed_seller_unpayable(btt_session *s, const btt_account *payee)
{
    speed_session *ss = s->sp;
    char acct[BTT_ACCOUNT_STR_LEN + 1], bud[BTT_AMOUNT_STRLEN], lk[BTT_AMOUNT_STRLEN];
    BTT_LOGW(LOG_MOD, "speed: the budget of %s BTT (locked %s) cannot fund a channel to %s: bidding 0 to it, "
             "taking only its free data", btt_amount_format(ss->budget, bud), btt_amount_format(ss->locked, lk),
             btt_account_format(payee, acct));
    for (btt_torrent *t = s->torrents; t; t = t->next)
        for (peer *p = t->peers; p; p = p->next)
            if (t->sp && p->sp && p->sp->active && p->sp->bid_sent &&
                !memcmp(p->sp->theirs.pk.key, payee->key, sizeof payee->key)) {
                send_bid(t, p, 0);
                peer_flush(p);
            }
}

static void autobid(btt_torrent *t, uint64_t now, bool force)
{
    speed_torrent *st = t->sp;
    uint64_t bid = current_bid(t);
    if (!force && !btt_autobid_should_send(&st->autobid, bid, now)) return;
    btt_autobid_sent(&st->autobid, bid, now);
    st->bid = bid;
    for (peer *p = t->peers; p; p = p->next)
        if (p->sp && p->sp->active && (p->wanted || p->sp->bid_sent)) {
            send_bid(t, p, bid_for(t, p));
            peer_flush(p);
        }
}

bool speed_defer_unchoke(btt_torrent *t, const peer *p)
{
    return t->sp && p->sp && p->sp->ext_id && !p->sp->bid && uv_now(t->s->loop) - p->connected_ms < SPEED_BID_GRACE_MS;
}

void speed_stats(const btt_torrent *t, btt_torrent_stats *out)
{
    const speed_torrent *st = t->sp;
    if (!st) return;
    out->speed = true;
    out->bid = st->bid;
    out->reserve = st->reserve_on ? st->last_price : 0;
    out->spent = st->spent;
    out->earned = st->earned;
    for (const peer *p = t->peers; p; p = p->next) {
        if (!p->sp || !p->sp->active) continue;
        out->speed_peers++;
        if (p->sp->pay_rate > out->rate_paid) out->rate_paid = p->sp->pay_rate;
    }
}
