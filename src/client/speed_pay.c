/* speed_pay.c - paying and being paid in BitTorrent Speed (docs/speed-protocol.md 3.6-4):
 *
 *   downloader  one channel per seeder account (payee), opened on the ledger when a seeder first
 *               charges us, topped up when it runs low; after each piece that passed its hash
 *               check, a voucher to every seeder that sent blocks of it, for exactly those blocks
 *               at the rate it charged when it sent them
 *   seeder      checks the channel a downloader names on the ledger, takes its vouchers (the
 *               guard in speed.c paces serving on them), and settles: closes each channel with
 *               the best voucher before it expires and when the session closes
 *
 * Ledger work (HTTP, blocking) runs on libuv's thread pool, one job at a time, so the wallet's
 * nonces follow each other; results come back on the loop thread, where peers are looked up
 * again by address (a peer may have gone meanwhile).
 *
 * Every channel and voucher is written to the Speed book (btt/speed_book.h) before it counts: a
 * voucher is booked before it is sent, a received one before it is counted as earned. At start
 * the book's open channels come back: ours to pay through are reused, those that pay us are
 * settled at once (what a killed seeder earned is not lost). */
#define BTT_CLIENT_INTERNAL
#include "client/speed_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "btt/ledger.h"
#include "btt/ledger_client.h"
#include "btt/path.h"
#include "btt/speed_book.h"

#define RETRY_MS 30000               /* a failed channel open is retried after this */
#define SETTLE_MARGIN_S 3600         /* close a channel this long before it expires */
#define EXPIRY_MARGIN_S 3600         /* open channels this much longer than the seeder asks */
#define RENAME_MS 10000              /* a refused channel the ledger holds is named again at most this often */
#define COALESCE_MS 20               /* a voucher may wait this long to cover more pieces (3.7) */

typedef enum { CH_NONE, CH_OPENING, CH_OPEN, CH_FAILED } ch_state;

/* Downloader: our channel to one payee. */
typedef struct pending_flow { /* charges booked once the channel has an id */
    uint8_t info_hash[20];
    btt_amount amount;
} pending_flow;

typedef struct out_channel {
    btt_account payee;
    pending_flow *pending;
    size_t npending;
    uint64_t opened;      /* seconds since the epoch */
    ch_state state;
    uint8_t id[BTT_CHANNEL_ID_LEN];
    btt_amount deposit;    /* locked in it */
    btt_amount cumulative; /* promised so far (the last voucher's amount) */
    uint64_t seq;          /* the last voucher's seq */
    btt_amount unsent;     /* charges for verified pieces not yet in a voucher we could send */
    uint64_t unsent_bytes; /* the bytes those charges are for */
    uint32_t unsent_piece; /* the last of those pieces (the voucher's informative `piece`) */
    uint64_t voucher_ms;   /* when the last voucher was signed (loop time) */
    uint64_t expiry;       /* seconds since the epoch */
    uint64_t retry_ms;
    bool topping_up;
    bool verifying;        /* refused by the seeder: asking the ledger whether it is still open */
    uint64_t renamed_ms;   /* when the ledger last said a refused channel was open (loop time) */
    bool unpayable;        /* its deposit cannot grow within the budget: we no longer buy from it */
} out_channel;

/* Seeder: a channel that pays us. */
typedef struct in_channel {
    uint8_t id[BTT_CHANNEL_ID_LEN];
    btt_account payer;
    uint64_t opened;
    bool checked;          /* the ledger confirmed payer, payee, deposit and expiry */
    btt_amount deposit;
    uint64_t expiry;
    bool has_best;
    btt_voucher best;      /* the best voucher accepted */
    bool settling, settled;
} in_channel;

/* JOB_CHECK: the seeder looks up a channel named to it; JOB_VERIFY: the downloader looks up its
 * own after a seeder refused it */
typedef enum { JOB_OPEN, JOB_TOPUP, JOB_CHECK, JOB_VERIFY, JOB_CLOSE } job_kind;

typedef struct job {
    uv_work_t req;
    btt_session *s;
    job_kind kind;
    struct job *next;
    /* in */
    btt_account payee;
    btt_amount amount;
    uint64_t expiry;
    uint8_t channel[BTT_CHANNEL_ID_LEN];
    bool has_voucher;
    btt_voucher voucher;
    uint8_t info_hash[20];
    btt_addr addr;
    /* out */
    btt_err result;
    btt_ledger_reason reason;
    char msg[256];
    btt_ledger_client_channel info;
} job;

struct speed_pay {
    btt_ledger_client *lc;
    btt_speed_book *book;
    out_channel *out;
    size_t nout, capout;
    in_channel *in;
    size_t nin, capin;
    job *head, *tail;
    bool running;
    void (*settled)(btt_session *s); /* closing: called once every settlement job is over */
};

static uint64_t wall_now(void) { return (uint64_t)time(NULL); }

/* ------------------------------------------------------------------ tables */

static out_channel *out_find(speed_pay *pay, const btt_account *payee, bool create)
{
    for (size_t i = 0; i < pay->nout; i++)
        if (!memcmp(pay->out[i].payee.key, payee->key, sizeof payee->key)) return &pay->out[i];
    if (!create) return NULL;
    if (pay->nout == pay->capout) {
        size_t cap = pay->capout ? pay->capout * 2 : 8;
        out_channel *v = realloc(pay->out, cap * sizeof *v);
        if (!v) return NULL;
        pay->out = v;
        pay->capout = cap;
    }
    out_channel *c = &pay->out[pay->nout++];
    memset(c, 0, sizeof *c);
    c->payee = *payee;
    return c;
}

static in_channel *in_find(speed_pay *pay, const uint8_t id[BTT_CHANNEL_ID_LEN], bool create)
{
    for (size_t i = 0; i < pay->nin; i++)
        if (!memcmp(pay->in[i].id, id, BTT_CHANNEL_ID_LEN)) return &pay->in[i];
    if (!create) return NULL;
    if (pay->nin == pay->capin) {
        size_t cap = pay->capin ? pay->capin * 2 : 8;
        in_channel *v = realloc(pay->in, cap * sizeof *v);
        if (!v) return NULL;
        pay->in = v;
        pay->capin = cap;
    }
    in_channel *c = &pay->in[pay->nin++];
    memset(c, 0, sizeof *c);
    memcpy(c->id, id, BTT_CHANNEL_ID_LEN);
    return c;
}

/* ------------------------------------------------------------------ the book */

/* settled: the seeder no longer takes the channel (it closed it): what we promised is its due */
static void book_out_as(btt_session *s, const out_channel *c, bool settled)
{
    btt_book_channel r;
    memset(&r, 0, sizeof r);
    memcpy(r.id, c->id, sizeof r.id);
    memcpy(r.ledger, s->sp->ledger, sizeof r.ledger);
    r.role = BTT_BOOK_PAYER;
    r.me = s->sp->me;
    r.peer = c->payee;
    r.deposit = c->deposit;
    r.amount = c->cumulative;
    r.seq = c->seq;
    r.expiry = c->expiry;
    r.opened = c->opened;
    r.state = settled ? BTT_BOOK_SETTLED : BTT_BOOK_OPEN;
    r.settled = settled ? c->cumulative : BTT_AMOUNT_ZERO;
    btt_error err = {0};
    if (btt_speed_book_put(s->sp->pay->book, &r, &err) != BTT_OK) BTT_LOGE(LOG_MOD, "speed: %s", btt_error_str(&err));
}

static void book_out(btt_session *s, const out_channel *c) { book_out_as(s, c, false); }

static void book_in(btt_session *s, const in_channel *c)
{
    btt_book_channel r;
    memset(&r, 0, sizeof r);
    memcpy(r.id, c->id, sizeof r.id);
    memcpy(r.ledger, s->sp->ledger, sizeof r.ledger);
    r.role = BTT_BOOK_PAYEE;
    r.me = s->sp->me;
    r.peer = c->payer;
    r.deposit = c->deposit;
    if (c->has_best) {
        r.amount = c->best.cumulative;
        r.seq = c->best.seq;
        memcpy(r.sig, c->best.sig, sizeof r.sig);
    }
    r.expiry = c->expiry;
    r.opened = c->opened;
    r.state = c->settled ? BTT_BOOK_SETTLED : BTT_BOOK_OPEN;
    r.settled = c->settled ? r.amount : BTT_AMOUNT_ZERO;
    btt_error err = {0};
    if (btt_speed_book_put(s->sp->pay->book, &r, &err) != BTT_OK) BTT_LOGE(LOG_MOD, "speed: %s", btt_error_str(&err));
}

/* One transaction around a voucher's writes: one commit per voucher, not two. A failed BEGIN
 * leaves the writes in autocommit, which is correct, only slower. */
static void book_begin(btt_session *s)
{
    btt_error err = {0};
    if (btt_speed_book_begin(s->sp->pay->book, &err) != BTT_OK) BTT_LOGW(LOG_MOD, "speed: %s", btt_error_str(&err));
}

static void book_commit(btt_session *s)
{
    btt_error err = {0};
    if (btt_speed_book_commit(s->sp->pay->book, &err) != BTT_OK) BTT_LOGE(LOG_MOD, "speed: %s", btt_error_str(&err));
}

static void book_flow(btt_session *s, const uint8_t id[BTT_CHANNEL_ID_LEN], const uint8_t info_hash[20], btt_amount a)
{
    btt_error err = {0};
    if (btt_speed_book_add_piece(s->sp->pay->book, id, info_hash, a, &err) != BTT_OK)
        BTT_LOGE(LOG_MOD, "speed: %s", btt_error_str(&err));
}

/* A charge before the channel has an id waits in c->pending (one entry per torrent). */
static void flow_out(btt_session *s, out_channel *c, const uint8_t info_hash[20], btt_amount a)
{
    if (c->state == CH_OPEN) {
        book_flow(s, c->id, info_hash, a);
        return;
    }
    for (size_t i = 0; i < c->npending; i++)
        if (!memcmp(c->pending[i].info_hash, info_hash, 20)) {
            if (!btt_amount_add(&c->pending[i].amount, c->pending[i].amount, a)) c->pending[i].amount = BTT_AMOUNT_SUPPLY;
            return;
        }
    pending_flow *v = realloc(c->pending, (c->npending + 1) * sizeof *v);
    if (!v) return;
    c->pending = v;
    memcpy(v[c->npending].info_hash, info_hash, 20);
    v[c->npending++].amount = a;
}

/* ------------------------------------------------------------------ the ledger worker */

/* Signs op with the next nonce of the wallet's account and submits it. */
static void submit(job *j, btt_ledger_op *op)
{
    const speed_session *ss = j->s->sp;
    btt_error err = {0};
    btt_ledger_account_info acct;
    bool exists = false;
    j->result = btt_ledger_client_account_get(ss->pay->lc, &ss->me, &acct, &exists, &err);
    if (j->result != BTT_OK) goto fail;
    op->nonce = (exists ? acct.nonce : 0) + 1;
    op->signer = ss->me;
    j->result = btt_ledger_op_sign(op, ss->ledger, ss->wallet);
    if (j->result != BTT_OK) goto fail;
    char rid[BTT_LEDGER_CLIENT_REQUEST_ID_LEN + 1];
    btt_ledger_client_request_id(rid);
    btt_ledger_client_receipt rc;
    j->result = btt_ledger_client_submit(ss->pay->lc, rid, op, &rc, &err);
    if (j->result != BTT_OK) goto fail;
    j->reason = rc.reason;
    if (rc.reason != BTT_LEDGER_OK) {
        snprintf(j->msg, sizeof j->msg, "%s: %s", btt_ledger_reason_name(rc.reason), btt_ledger_reason_message(rc.reason));
        j->result = BTT_ELEDGER;
        return;
    }
    memcpy(j->channel, rc.channel, sizeof j->channel);
    return;
fail:
    snprintf(j->msg, sizeof j->msg, "%s", btt_error_str(&err));
}

static void job_work(uv_work_t *req)
{
    job *j = req->data;
    const speed_session *ss = j->s->sp;
    btt_ledger_op op;
    btt_error err = {0};
    switch (j->kind) {
    case JOB_OPEN:
        btt_ledger_op_init(&op, BTT_LEDGER_OPEN, &ss->me, 0);
        op.to = j->payee;
        op.amount = j->amount;
        op.expiry = j->expiry;
        submit(j, &op);
        break;
    case JOB_TOPUP:
        btt_ledger_op_init(&op, BTT_LEDGER_TOPUP, &ss->me, 0);
        memcpy(op.channel, j->channel, sizeof op.channel);
        op.amount = j->amount;
        op.expiry = j->expiry;
        submit(j, &op);
        break;
    case JOB_CLOSE:
        btt_ledger_op_init(&op, BTT_LEDGER_CLOSE, &ss->me, 0);
        memcpy(op.channel, j->channel, sizeof op.channel);
        op.has_voucher = j->has_voucher;
        if (j->has_voucher) op.voucher = j->voucher;
        submit(j, &op);
        break;
    case JOB_CHECK:
    case JOB_VERIFY: {
        bool exists = false;
        j->result = btt_ledger_client_channel_get(ss->pay->lc, j->channel, &j->info, &exists, &err);
        if (j->result == BTT_OK && !exists) {
            j->result = BTT_ENOENT;
            snprintf(j->msg, sizeof j->msg, "no such open channel on the ledger");
        } else if (j->result != BTT_OK) {
            snprintf(j->msg, sizeof j->msg, "%s", btt_error_str(&err));
        }
        break;
    }
    }
}

static void job_done(uv_work_t *req, int status);

static void run_next(btt_session *s)
{
    speed_pay *pay = s->sp->pay;
    if (pay->running || !pay->head) return;
    job *j = pay->head;
    pay->running = true;
    j->req.data = j;
    if (uv_queue_work(s->loop, &j->req, job_work, job_done)) {
        pay->running = false;
        BTT_LOGE(LOG_MOD, "speed: cannot queue ledger work");
    }
}

static job *job_new(btt_session *s, job_kind kind)
{
    job *j = calloc(1, sizeof *j);
    if (!j) {
        BTT_LOGE(LOG_MOD, "speed: out of memory");
        return NULL;
    }
    j->s = s;
    j->kind = kind;
    return j;
}

static void job_push(btt_session *s, job *j)
{
    speed_pay *pay = s->sp->pay;
    if (pay->tail) pay->tail->next = j;
    else pay->head = j;
    pay->tail = j;
    run_next(s);
}

/* ------------------------------------------------------------------ downloader */

static void send_channel(peer *p, const out_channel *c)
{
    btt_speed_msg m;
    memset(&m, 0, sizeof m);
    m.type = BTT_SPEED_CHANNEL;
    memcpy(m.voucher.channel, c->id, sizeof c->id);
    speed_send(p, &m);
}

/* The peers of every torrent whose Speed account is `who`. */
#define FOR_PEERS_OF(s, who, t, p)                                                                  \
    for (btt_torrent *t = (s)->torrents; t; t = t->next)                                            \
        for (peer *p = t->peers; p; p = p->next)                                                    \
            if (p->sp && p->sp->active && !memcmp(p->sp->theirs.pk.key, (who)->key, BTT_ACCOUNT_KEY_LEN))

/* Signs and books a voucher for everything owed to c's payee and returns the connection to send
 * it on (NULL: nothing to send now). The caller sends it only after the booking is committed. */
static peer *prepare_voucher(btt_session *s, out_channel *c, uint32_t piece, btt_speed_msg *m)
{
    if (c->state != CH_OPEN || btt_amount_eq(c->unsent, BTT_AMOUNT_ZERO)) return NULL;
    btt_amount total;
    if (!btt_amount_add(&total, c->cumulative, c->unsent) || btt_amount_cmp(total, c->deposit) > 0) return NULL;
    FOR_PEERS_OF(s, &c->payee, t, p)
    {
        memset(m, 0, sizeof *m);
        m->type = BTT_SPEED_PAY;
        memcpy(m->voucher.channel, c->id, sizeof c->id);
        m->voucher.cumulative = total;
        m->voucher.seq = c->seq + 1;
        m->piece = piece;
        btt_voucher_sign(&m->voucher, s->sp->ledger, s->sp->wallet);
        c->cumulative = total;
        c->seq++;
        c->unsent = BTT_AMOUNT_ZERO;
        c->unsent_bytes = 0;
        c->voucher_ms = uv_now(s->loop);
        book_out(s, c); /* booked before it leaves: a restart continues above this seq */
        return p;
    }
    return NULL;
}

static void send_voucher(peer *p, const btt_speed_msg *m)
{
    speed_send(p, m);
    peer_flush(p);
}

/* Sends a voucher for everything owed to c's payee, to one of its connections. */
static void pay_owed(btt_session *s, out_channel *c, uint32_t piece)
{
    btt_speed_msg m;
    peer *p = prepare_voucher(s, c, piece, &m);
    if (p) send_voucher(p, &m);
}

bool speed_pay_unpayable(const btt_session *s, const btt_account *payee)
{
    const speed_pay *pay = s->sp->pay;
    for (size_t i = 0; i < pay->nout; i++)
        if (!memcmp(pay->out[i].payee.key, payee->key, sizeof payee->key)) return pay->out[i].unpayable;
    return false;
}

/* Verified pieces of c's payee are charged but not yet in a voucher, and the channel open or
 * top-up that will let us send one is in flight. */
static bool owes(const speed_session *ss, const out_channel *c)
{
    return !btt_amount_eq(c->unsent, BTT_AMOUNT_ZERO) && !c->unpayable && !ss->exhausted &&
           (c->state == CH_OPENING || c->topping_up);
}

bool speed_pay_owes(const btt_session *s, const btt_account *payee)
{
    const speed_pay *pay = s->sp ? s->sp->pay : NULL;
    for (size_t i = 0; pay && i < pay->nout; i++)
        if (!memcmp(pay->out[i].payee.key, payee->key, sizeof payee->key)) return owes(s->sp, &pay->out[i]);
    return false;
}

bool speed_session_owes(const btt_session *s)
{
    const speed_pay *pay = s->sp ? s->sp->pay : NULL;
    for (size_t i = 0; pay && i < pay->nout; i++)
        if (owes(s->sp, &pay->out[i])) return true;
    return false;
}

static void give_up_seller(btt_session *s, out_channel *c)
{
    if (c->unpayable) return;
    c->unpayable = true;
    speed_seller_unpayable(s, &c->payee);
}

/* What the budget (--max-spend) still lets this run lock in channels. */
static btt_amount lock_room(const speed_session *ss)
{
    btt_amount room;
    if (!btt_amount_sub(&room, ss->budget, ss->locked)) room = BTT_AMOUNT_ZERO;
    return room;
}

static void maybe_topup(btt_session *s, out_channel *c, uint64_t lock_units)
{
    if (c->state != CH_OPEN || c->topping_up || s->sp->exhausted || c->unpayable) return;
    btt_amount left;
    if (!btt_amount_sub(&left, c->deposit, c->cumulative)) left = BTT_AMOUNT_ZERO;
    btt_amount need;
    if (!btt_amount_add(&need, c->unsent, BTT_AMOUNT_UNITS(lock_units))) return;
    if (btt_amount_cmp(left, need) >= 0) return;
    /* doubles the deposit (adds at least what is owed plus the lock), within what the budget
     * still allows to lock */
    btt_amount amount = c->deposit, room = lock_room(s->sp);
    if (btt_amount_cmp(amount, need) < 0) amount = need;
    if (btt_amount_cmp(amount, room) > 0) amount = room;
    if (btt_amount_eq(amount, BTT_AMOUNT_ZERO)) {
        /* nothing more may be locked: the deposit left still pays for what it covers */
        if (btt_amount_cmp(left, c->unsent) < 0) give_up_seller(s, c);
        return;
    }
    job *j = job_new(s, JOB_TOPUP);
    if (!j) return;
    memcpy(j->channel, c->id, sizeof c->id);
    j->amount = amount;
    j->expiry = c->expiry;
    j->payee = c->payee;
    c->topping_up = true;
    if (!btt_amount_add(&s->sp->locked, s->sp->locked, amount)) s->sp->locked = BTT_AMOUNT_SUPPLY;
    job_push(s, j);
}

void speed_pay_channel_needed(btt_torrent *t, peer *p)
{
    btt_session *s = t->s;
    speed_peer *sp = p->sp;
    out_channel *c = out_find(s->sp->pay, &sp->payee, true);
    if (!c) return;
    uint64_t now = uv_now(s->loop);
    if (c->state == CH_OPEN) {
        send_channel(p, c);
        maybe_topup(s, c, btt_amount_units(sp->lock));
        return;
    }
    if (c->state == CH_OPENING || (c->state == CH_FAILED && now < c->retry_ms) || s->sp->exhausted || c->unpayable)
        return;
    /* enough for the rest of the torrent from this seeder at this rate, within the budget: what
     * is left of it to spend and to lock (the seeder's least deposit, or nothing) */
    btt_amount want = btt_speed_charge(sp->pay_rate, (uint64_t)btt_picker_left(t->pk) * t->mi->piece_length), left;
    if (!btt_amount_add(&want, want, sp->lock)) want = sp->lock;
    if (!btt_amount_sub(&left, s->sp->budget, s->sp->spent)) left = BTT_AMOUNT_ZERO;
    if (btt_amount_cmp(want, left) > 0) want = left;
    if (btt_amount_cmp(want, sp->lock) < 0) want = sp->lock;
    if (btt_amount_cmp(want, lock_room(s->sp)) > 0) {
        give_up_seller(s, c);
        return;
    }
    job *j = job_new(s, JOB_OPEN);
    if (!j) return;
    if (!btt_amount_add(&s->sp->locked, s->sp->locked, want)) s->sp->locked = BTT_AMOUNT_SUPPLY;
    j->payee = sp->payee;
    j->amount = want;
    j->expiry = wall_now() + sp->expiry_need + EXPIRY_MARGIN_S;
    c->state = CH_OPENING;
    job_push(s, j);
}

/* A seeder refused our channel. The refusal may be late (about a channel we already replaced) or
 * for a passing reason (the seeder could not reach the ledger): the ledger decides. Only a channel
 * the ledger no longer holds open is given up (booked settled: the seeder closed it) and replaced. */
void speed_pay_channel_refused(btt_torrent *t, peer *p, const uint8_t *id)
{
    btt_session *s = t->s;
    out_channel *c = out_find(s->sp->pay, &p->sp->payee, false);
    if (!c || c->state != CH_OPEN || c->verifying) return;
    if (id && memcmp(id, c->id, sizeof c->id)) {
        BTT_LOGD(LOG_MOD, "speed: a refusal of a channel we no longer use: ignored");
        return;
    }
    uint64_t now = uv_now(s->loop);
    if (c->renamed_ms && now < c->renamed_ms + RENAME_MS) return; /* the ledger said open a moment ago */
    job *j = job_new(s, JOB_VERIFY);
    if (!j) return;
    memcpy(j->channel, c->id, sizeof c->id);
    memcpy(j->info_hash, t->mi->info_hash, 20);
    j->addr = p->addr;
    j->payee = c->payee;
    c->verifying = true;
    job_push(s, j);
}

static void replace_channel(btt_session *s, out_channel *c, btt_torrent *t, peer *p)
{
    BTT_LOGI(LOG_MOD, "speed: the seeder no longer takes our channel and the ledger no longer holds it open: opening a new one");
    book_out_as(s, c, true); /* the seeder settled it (it closes channels when it stops) */
    /* settled: what it did not pay went back to the wallet and no longer counts as locked */
    btt_amount back;
    if (btt_amount_sub(&back, c->deposit, c->cumulative) && !btt_amount_sub(&s->sp->locked, s->sp->locked, back))
        s->sp->locked = BTT_AMOUNT_ZERO;
    c->state = CH_NONE;
    btt_amount owed = c->unsent;
    memset(c->id, 0, sizeof c->id);
    c->cumulative = c->deposit = BTT_AMOUNT_ZERO;
    c->seq = 0;
    c->unsent = owed;
    c->renamed_ms = 0;
    if (t && p && p->sp && p->sp->pay_rate) speed_pay_channel_needed(t, p);
}

static void verified(btt_session *s, job *j)
{
    out_channel *c = out_find(s->sp->pay, &j->payee, false);
    if (!c) return;
    c->verifying = false;
    if (c->state != CH_OPEN || memcmp(c->id, j->channel, sizeof c->id)) return;
    btt_torrent *t = session_find_torrent(s, j->info_hash);
    peer *p = t ? torrent_find_peer(t, &j->addr) : NULL;
    if (j->result == BTT_ENOENT) {
        replace_channel(s, c, t, p);
        return;
    }
    if (j->result != BTT_OK) {
        BTT_LOGW(LOG_MOD, "speed: could not look our refused channel up (%s): keeping it", j->msg);
        return;
    }
    const btt_ledger_channel_info *ci = &j->info.info;
    /* not ours to pay through (cannot happen on an honest ledger), or too close to its expiry for
     * the seeder, who settles it before then */
    if (memcmp(ci->payer.key, s->sp->me.key, BTT_ACCOUNT_KEY_LEN) || memcmp(ci->payee.key, c->payee.key, BTT_ACCOUNT_KEY_LEN) ||
        ci->expiry < wall_now() + SETTLE_MARGIN_S) {
        replace_channel(s, c, t, p);
        return;
    }
    BTT_LOGI(LOG_MOD, "speed: the seeder refused our channel but the ledger holds it open: naming it again");
    c->renamed_ms = uv_now(s->loop);
    if (!p || !p->sp || !p->sp->active) return;
    send_channel(p, c);
    if (c->seq) {
        /* the vouchers it refused meanwhile are lost to it: the last one (cumulative) again, judged
         * once it has confirmed the channel; one it already holds is only refused as stale */
        btt_speed_msg m;
        memset(&m, 0, sizeof m);
        m.type = BTT_SPEED_PAY;
        memcpy(m.voucher.channel, c->id, sizeof c->id);
        m.voucher.cumulative = c->cumulative;
        m.voucher.seq = c->seq;
        btt_voucher_sign(&m.voucher, s->sp->ledger, s->sp->wallet);
        speed_send(p, &m);
    }
    peer_flush(p);
}

static void on_pay_timer(uv_timer_t *h);

/* docs/speed-protocol.md 3.7: when pieces from one seller pass faster than one per COALESCE_MS,
 * a voucher may wait (COALESCE_MS at most, the session's pay_timer sends it) to cover the next
 * ones too, while the bytes it would cover stay below half the seller's allowance (section 4;
 * `from` is the connection that sent them: its guard's allowance grows with what it served, and
 * paid_rx, counted on arrival, is never more than the guard's count). At loopback speeds this
 * cuts the signatures the seller checks and the vouchers both sides commit to disk to one per
 * several pieces; at real speeds (a piece every few tens of ms or slower) nothing waits. */
static bool hold_voucher(btt_session *s, const btt_torrent *t, const out_channel *c, const peer *from)
{
    uint64_t now = uv_now(s->loop);
    uint64_t allowance = btt_guard_allowance(speed_allowance(t), from->sp->paid_rx);
    if (c->state != CH_OPEN || c->unsent_bytes >= allowance / 2 || now - c->voucher_ms >= COALESCE_MS)
        return false;
    if (!uv_is_active((uv_handle_t *)&s->pay_timer)) {
        if (uv_timer_start(&s->pay_timer, on_pay_timer, COALESCE_MS, 0) != 0) return false;
    }
    return true;
}

void speed_pay_flush(btt_session *s)
{
    speed_pay *pay = s->sp ? s->sp->pay : NULL;
    if (!pay) return;
    uv_timer_stop(&s->pay_timer);
    for (size_t i = 0; i < pay->nout; i++) {
        out_channel *c = &pay->out[i];
        if (c->unsent_bytes && c->state == CH_OPEN) pay_owed(s, c, c->unsent_piece);
    }
}

static void on_pay_timer(uv_timer_t *h) { speed_pay_flush(h->data); }

void speed_piece_passed(btt_torrent *t, const pbuf *pb)
{
    if (!t->sp || !pb->rate) return;
    btt_session *s = t->s;
    /* group the piece's paid blocks by sender */
    for (uint32_t b = 0; b < pb->nblocks; b++) {
        if (!pb->rate[b]) continue;
        bool first = true;
        for (uint32_t k = 0; k < b && first; k++) first = !(pb->rate[k] && btt_addr_eq(&pb->from[k], &pb->from[b]));
        if (!first) continue;
        peer *p = torrent_find_peer(t, &pb->from[b]);
        if (!p || !p->sp) continue; /* gone: its account is unknown here, the data stays free */
        btt_amount sum = BTT_AMOUNT_ZERO;
        uint64_t bytes = 0;
        for (uint32_t k = b; k < pb->nblocks; k++) {
            if (!pb->rate[k] || !btt_addr_eq(&pb->from[k], &pb->from[b])) continue;
            uint32_t len = btt_picker_block_size(t->pk, pb->piece, k);
            bytes += len;
            if (!btt_amount_add(&sum, sum, btt_speed_charge(pb->rate[k], len))) sum = BTT_AMOUNT_SUPPLY;
        }
        out_channel *c = out_find(s->sp->pay, &p->sp->payee, true);
        if (!c) continue;
        /* never beyond the budget; once it is used up, only what an open channel still covers
         * (data bought before): the rest stays unpaid, and we no longer buy */
        btt_amount room, cover = BTT_AMOUNT_ZERO, owed;
        if (!btt_amount_sub(&room, s->sp->budget, s->sp->spent)) room = BTT_AMOUNT_ZERO;
        if (s->sp->exhausted || c->unpayable) {
            if (c->state != CH_OPEN || !btt_amount_add(&owed, c->cumulative, c->unsent) ||
                !btt_amount_sub(&cover, c->deposit, owed))
                cover = BTT_AMOUNT_ZERO;
            if (btt_amount_cmp(room, cover) > 0) room = cover;
        }
        bool over = !s->sp->exhausted && btt_amount_cmp(sum, room) >= 0;
        if (btt_amount_cmp(sum, room) > 0) sum = room;
        if (btt_amount_eq(sum, BTT_AMOUNT_ZERO) || !btt_amount_add(&c->unsent, c->unsent, sum)) {
            if (over) speed_budget_exhausted(s, "the data bought reached it");
            continue;
        }
        if (!btt_amount_add(&s->sp->spent, s->sp->spent, sum) || !btt_amount_add(&t->sp->spent, t->sp->spent, sum))
            continue;
        c->unsent_bytes += bytes;
        c->unsent_piece = pb->piece;
        book_begin(s); /* the piece's flow and the voucher: one commit, and only then is it sent */
        flow_out(s, c, t->mi->info_hash, sum);
        btt_speed_msg m;
        peer *to = hold_voucher(s, t, c, p) ? NULL : prepare_voucher(s, c, pb->piece, &m);
        book_commit(s);
        if (to) send_voucher(to, &m);
        if (over) speed_budget_exhausted(s, "the data bought reached it");
        maybe_topup(s, c, btt_amount_units(p->sp->lock));
    }
    for (peer *p = t->peers; p; p = p->next)
        if (p->sp && p->sp->has_reserve && p->sp->ch_piece == pb->piece) speed_maybe_prove(t, p);
}

static void opened(btt_session *s, job *j)
{
    out_channel *c = out_find(s->sp->pay, &j->payee, false);
    if (!c) return;
    if (j->result != BTT_OK) {
        BTT_LOGW(LOG_MOD, "speed: opening a channel failed: %s", j->msg);
        if (!btt_amount_sub(&s->sp->locked, s->sp->locked, j->amount)) s->sp->locked = BTT_AMOUNT_ZERO;
        c->state = CH_FAILED;
        c->retry_ms = uv_now(s->loop) + RETRY_MS;
        return;
    }
    memcpy(c->id, j->channel, sizeof c->id);
    c->deposit = j->amount;
    c->expiry = j->expiry;
    c->cumulative = BTT_AMOUNT_ZERO;
    c->seq = 0;
    c->state = CH_OPEN;
    c->opened = wall_now();
    book_out(s, c);
    for (size_t i = 0; i < c->npending; i++) book_flow(s, c->id, c->pending[i].info_hash, c->pending[i].amount);
    free(c->pending);
    c->pending = NULL;
    c->npending = 0;
    char amt[BTT_AMOUNT_STRLEN];
    BTT_LOGI(LOG_MOD, "speed: opened a channel locking %s BTT", btt_amount_format(c->deposit, amt));
    FOR_PEERS_OF(s, &c->payee, t, p) send_channel(p, c), peer_flush(p);
    pay_owed(s, c, 0);
}

static void topped_up(btt_session *s, job *j)
{
    out_channel *c = out_find(s->sp->pay, &j->payee, false);
    if (!c) return;
    c->topping_up = false;
    if (j->result != BTT_OK) {
        BTT_LOGW(LOG_MOD, "speed: topping up a channel failed: %s", j->msg);
        if (!btt_amount_sub(&s->sp->locked, s->sp->locked, j->amount)) s->sp->locked = BTT_AMOUNT_ZERO;
        return;
    }
    if (!btt_amount_add(&c->deposit, c->deposit, j->amount)) c->deposit = BTT_AMOUNT_SUPPLY;
    book_out(s, c);
    pay_owed(s, c, 0);
}

/* ------------------------------------------------------------------ seeder */

void speed_pay_on_channel(btt_torrent *t, peer *p, const uint8_t id[BTT_CHANNEL_ID_LEN])
{
    speed_peer *sp = p->sp;
    btt_session *s = t->s;
    if (sp->channel_checking || (sp->channel_ok && !memcmp(sp->channel, id, sizeof sp->channel))) return;
    memcpy(sp->channel, id, sizeof sp->channel);
    sp->channel_ok = false;
    in_channel *c = in_find(s->sp->pay, id, false);
    if (c && c->checked && !c->settling && !c->settled) {
        sp->channel_ok = true;
        btt_guard_set_channel(&sp->guard, c->has_best ? c->best.cumulative : BTT_AMOUNT_ZERO,
                              c->has_best ? c->best.seq : 0);
        return;
    }
    job *j = job_new(s, JOB_CHECK);
    if (!j) return;
    memcpy(j->channel, id, sizeof j->channel);
    memcpy(j->info_hash, t->mi->info_hash, 20);
    j->addr = p->addr;
    sp->channel_checking = true;
    job_push(s, j);
}

/* A voucher that waits for the ledger's look-up of its channel also rides on that look-up's job:
 * if the connection is gone when the answer comes (a downloader that completed closes at once),
 * the voucher is still taken from there instead of being lost with the connection. Only the
 * loop thread writes these fields; the worker of a JOB_CHECK reads only `channel`. */
static void attach_to_check(btt_session *s, const btt_speed_msg *m)
{
    for (job *j = s->sp->pay->head; j; j = j->next)
        if (j->kind == JOB_CHECK && !memcmp(j->channel, m->voucher.channel, BTT_CHANNEL_ID_LEN) &&
            (!j->has_voucher || m->voucher.seq > j->voucher.seq)) {
            j->voucher = m->voucher;
            j->has_voucher = true;
        }
}

/* The voucher of a check whose connection went away (attach_to_check): accepted into the channel
 * as the connection would have (signed by the channel's payer, within the deposit, newer than
 * the best one), booked, counted. */
static void take_orphan(btt_session *s, in_channel *c, const job *j)
{
    const btt_voucher *v = &j->voucher;
    char amt[BTT_AMOUNT_STRLEN];
    if (c->has_best && v->seq <= c->best.seq) return; /* taken already, or a newer one */
    if (c->settling || c->settled || !btt_voucher_verify(v, s->sp->ledger, &c->payer) ||
        btt_amount_cmp(v->cumulative, c->deposit) > 0) {
        BTT_LOGW(LOG_MOD, "speed: a voucher for %s BTT from a closed connection cannot be taken",
                 btt_amount_format(v->cumulative, amt));
        return;
    }
    btt_amount before = c->has_best ? c->best.cumulative : BTT_AMOUNT_ZERO, gain;
    if (!btt_amount_sub(&gain, v->cumulative, before)) gain = BTT_AMOUNT_ZERO;
    c->best = *v;
    c->has_best = true;
    book_begin(s);
    book_in(s, c);
    book_flow(s, c->id, j->info_hash, gain);
    book_commit(s);
    btt_torrent *t = session_find_torrent(s, j->info_hash);
    if (!btt_amount_add(&s->sp->earned, s->sp->earned, gain) || (t && t->sp && !btt_amount_add(&t->sp->earned, t->sp->earned, gain)))
        BTT_LOGW(LOG_MOD, "speed: earnings overflow");
    BTT_LOGI(LOG_MOD, "speed: took a voucher for %s BTT that came just before its connection closed",
             btt_amount_format(v->cumulative, amt));
}

static void checked(btt_session *s, job *j)
{
    btt_torrent *t = session_find_torrent(s, j->info_hash);
    peer *p = t ? torrent_find_peer(t, &j->addr) : NULL;
    if (p && p->sp) {
        p->sp->channel_checking = false;
        if (j->result != BTT_OK) p->sp->has_early = false;
    }
    const char *bad = NULL;
    const btt_ledger_channel_info *ci = &j->info.info;
    if (j->result != BTT_OK) bad = j->msg;
    else if (memcmp(ci->payee.key, s->sp->me.key, BTT_ACCOUNT_KEY_LEN)) bad = "the channel does not pay us";
    else if (p && p->sp && memcmp(ci->payer.key, p->sp->theirs.pk.key, BTT_ACCOUNT_KEY_LEN))
        bad = "the channel is not the peer's";
    else if (ci->expiry < wall_now() + SETTLE_MARGIN_S) bad = "the channel expires too soon";
    if (bad) {
        BTT_LOGW(LOG_MOD, "speed: refusing a channel: %s", bad);
        if (p && p->sp) speed_refuse_channel(p, "bad-channel", bad, j->channel);
        return;
    }
    in_channel *c = in_find(s->sp->pay, j->channel, true);
    if (!c) return;
    c->payer = ci->payer;
    c->deposit = ci->deposit;
    c->expiry = ci->expiry;
    if (!c->opened) c->opened = wall_now();
    c->checked = true;
    book_in(s, c);
    if (!p || !p->sp || memcmp(p->sp->channel, j->channel, BTT_CHANNEL_ID_LEN)) {
        if (j->has_voucher) take_orphan(s, c, j);
        return;
    }
    if (!p->sp->channel_ok) { /* a first check; a second (a top-up) keeps the guard's sums */
        p->sp->channel_ok = true;
        btt_amount base = c->has_best ? c->best.cumulative : ci->claimed;
        btt_guard_set_channel(&p->sp->guard, base, c->has_best ? c->best.seq : ci->seq);
    }
    if (p->sp->has_early) {
        p->sp->has_early = false;
        speed_pay_on_voucher(t, p, &p->sp->early);
    }
}

void speed_pay_on_voucher(btt_torrent *t, peer *p, const btt_speed_msg *m)
{
    speed_peer *sp = p->sp;
    btt_session *s = t->s;
    if (sp->channel_checking && !memcmp(m->voucher.channel, sp->channel, BTT_CHANNEL_ID_LEN)) {
        sp->early = *m; /* judged once the ledger has confirmed the channel */
        sp->has_early = true;
        attach_to_check(s, m);
        return;
    }
    if (!sp->channel_ok || memcmp(m->voucher.channel, sp->channel, BTT_CHANNEL_ID_LEN)) {
        speed_refuse_channel(p, "bad-channel", "pay for a channel that is not checked or not this connection's",
                             m->voucher.channel);
        return;
    }
    in_channel *c = in_find(s->sp->pay, sp->channel, false);
    if (!c || c->settling || c->settled) {
        speed_refuse_channel(p, "bad-channel", "the channel is being settled", m->voucher.channel);
        return;
    }
    if (!btt_voucher_verify(&m->voucher, s->sp->ledger, &sp->theirs.pk)) {
        speed_refuse_channel(p, "bad-voucher", "the voucher's signature does not verify", m->voucher.channel);
        speed_ban(t, p, "sent a forged voucher");
        return;
    }
    if (btt_amount_cmp(m->voucher.cumulative, c->deposit) > 0) {
        /* the payer may have topped the channel up since we looked: look again, once */
        job *j = sp->deposit_recheck ? NULL : job_new(s, JOB_CHECK);
        if (j) {
            BTT_LOGI(LOG_MOD, "speed: a voucher above the channel's deposit: looking the channel up again");
            sp->deposit_recheck = true;
            sp->early = *m;
            sp->has_early = true;
            j->voucher = m->voucher; /* taken from the job if the connection is gone by then */
            j->has_voucher = true;
            sp->channel_checking = true;
            memcpy(j->channel, sp->channel, sizeof j->channel);
            memcpy(j->info_hash, t->mi->info_hash, 20);
            j->addr = p->addr;
            job_push(s, j);
            return;
        }
        speed_refuse_channel(p, "bad-voucher", "the voucher promises more than the channel holds", m->voucher.channel);
        return;
    }
    btt_amount before = c->has_best ? c->best.cumulative : BTT_AMOUNT_ZERO;
    if ((c->has_best && m->voucher.seq <= c->best.seq) || !btt_guard_voucher(&sp->guard, m->voucher.cumulative, m->voucher.seq)) {
        speed_refuse_channel(p, "stale-voucher", "not newer than the best voucher", m->voucher.channel);
        return;
    }
    sp->deposit_recheck = false;
    btt_amount gain;
    if (!btt_amount_sub(&gain, m->voucher.cumulative, before)) gain = BTT_AMOUNT_ZERO;
    c->best = m->voucher;
    c->has_best = true;
    book_begin(s);
    book_in(s, c); /* booked before it counts */
    book_flow(s, c->id, t->mi->info_hash, gain);
    book_commit(s);
    /* both sums stay within the supply: every unit came out of one channel's deposit */
    if (!btt_amount_add(&s->sp->earned, s->sp->earned, gain) || !btt_amount_add(&t->sp->earned, t->sp->earned, gain))
        BTT_LOGW(LOG_MOD, "speed: earnings overflow");
    upload_serve(t, p); /* held requests may go now */
}

static void start_close(btt_session *s, in_channel *c)
{
    if (c->settling || c->settled || !c->checked) return;
    job *j = job_new(s, JOB_CLOSE);
    if (!j) return;
    memcpy(j->channel, c->id, sizeof c->id);
    j->has_voucher = c->has_best;
    if (c->has_best) j->voucher = c->best;
    c->settling = true;
    job_push(s, j);
}

static void closed(btt_session *s, job *j)
{
    in_channel *c = in_find(s->sp->pay, j->channel, false);
    if (!c) return;
    c->settling = false;
    if (j->result != BTT_OK) {
        BTT_LOGW(LOG_MOD, "speed: closing a channel failed: %s", j->msg);
        return;
    }
    c->settled = true;
    book_in(s, c);
    char amt[BTT_AMOUNT_STRLEN];
    BTT_LOGI(LOG_MOD, "speed: settled a channel: %s BTT earned",
             btt_amount_format(c->has_best ? c->best.cumulative : BTT_AMOUNT_ZERO, amt));
    /* connections on it can no longer pay: they must name a new channel */
    for (btt_torrent *t = s->torrents; t; t = t->next)
        for (peer *p = t->peers; p; p = p->next)
            if (p->sp && p->sp->channel_ok && !memcmp(p->sp->channel, c->id, BTT_CHANNEL_ID_LEN)) p->sp->channel_ok = false;
}

void speed_pay_tick(btt_torrent *t, uint64_t now_ms)
{
    (void)now_ms;
    btt_session *s = t->s;
    speed_pay *pay = s->sp->pay;
    uint64_t now = wall_now();
    for (size_t i = 0; i < pay->nin; i++)
        if (pay->in[i].checked && !pay->in[i].settled && pay->in[i].expiry < now + SETTLE_MARGIN_S)
            start_close(s, &pay->in[i]);
}

/* ------------------------------------------------------------------ lifecycle */

static void job_done(uv_work_t *req, int status)
{
    job *j = req->data;
    btt_session *s = j->s;
    speed_pay *pay = s->sp->pay;
    pay->head = j->next;
    if (!pay->head) pay->tail = NULL;
    pay->running = false;
    if (status) {
        j->result = BTT_ECANCELED;
        snprintf(j->msg, sizeof j->msg, "canceled");
    }
    switch (j->kind) {
    case JOB_OPEN: opened(s, j); break;
    case JOB_TOPUP: topped_up(s, j); break;
    case JOB_CHECK: checked(s, j); break;
    case JOB_VERIFY: verified(s, j); break;
    case JOB_CLOSE: closed(s, j); break;
    }
    free(j);
    run_next(s);
    if (!pay->head && pay->settled) {
        void (*done)(btt_session *) = pay->settled;
        pay->settled = NULL;
        done(s);
    }
}

/* The book's open channels of our account come back: ours are reused while they last, those
 * paying us are settled now. */
static void restore(const btt_book_channel *r, void *ud)
{
    btt_session *s = ud;
    speed_pay *pay = s->sp->pay;
    if (r->state != BTT_BOOK_OPEN || memcmp(r->ledger, s->sp->ledger, sizeof r->ledger)) return;
    if (r->role == BTT_BOOK_PAYER) {
        if (r->expiry < wall_now() + SETTLE_MARGIN_S) return; /* too close to expiry to pay into */
        out_channel *c = out_find(pay, &r->peer, true);
        if (!c) return;
        memcpy(c->id, r->id, sizeof c->id);
        c->state = CH_OPEN;
        c->deposit = r->deposit;
        c->cumulative = r->amount;
        c->seq = r->seq;
        c->expiry = r->expiry;
        c->opened = r->opened;
        return;
    }
    in_channel *c = in_find(pay, r->id, true);
    if (!c) return;
    c->payer = r->peer;
    c->deposit = r->deposit;
    c->expiry = r->expiry;
    c->opened = r->opened;
    c->checked = true;
    if (r->seq) {
        c->has_best = true;
        memcpy(c->best.channel, r->id, sizeof r->id);
        c->best.cumulative = r->amount;
        c->best.seq = r->seq;
        memcpy(c->best.sig, r->sig, sizeof r->sig);
    }
}

btt_err speed_pay_init(btt_session *s, btt_error *err)
{
    speed_pay *pay = calloc(1, sizeof *pay);
    if (!pay) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    btt_ledger_client_config cfg = {.url = s->sp->url[0] ? s->sp->url : NULL};
    btt_err e = btt_ledger_client_new(&cfg, &pay->lc, err);
    char *path = e == BTT_OK ? btt_path_join(s->state_dir, BTT_SPEED_BOOK_FILE) : NULL;
    if (e == BTT_OK && !path) e = btt_error_set(err, BTT_ENOMEM, "out of memory");
    if (e == BTT_OK) e = btt_path_mkparents(path, err);
    if (e == BTT_OK) e = btt_speed_book_open(path, true, &pay->book, err);
    free(path);
    s->sp->pay = pay;
    if (e == BTT_OK) e = btt_speed_book_channels(pay->book, &s->sp->me, restore, s, err);
    if (e != BTT_OK) {
        speed_pay_free(s);
        return e;
    }
    size_t earned = 0;
    for (size_t i = 0; i < pay->nin; i++) {
        earned++;
        start_close(s, &pay->in[i]);
    }
    if (earned) BTT_LOGI(LOG_MOD, "speed: settling %zu channel(s) left open by an earlier run", earned);
    return BTT_OK;
}

void speed_pay_free(btt_session *s)
{
    speed_pay *pay = s->sp->pay;
    if (!pay) return;
    btt_ledger_client_free(pay->lc);
    btt_speed_book_close(pay->book);
    for (size_t i = 0; i < pay->nout; i++) free(pay->out[i].pending);
    free(pay->out);
    free(pay->in);
    free(pay);
    s->sp->pay = NULL;
}

void speed_session_settle(btt_session *s, void (*done)(btt_session *s))
{
    speed_pay *pay = s->sp ? s->sp->pay : NULL;
    if (!pay) {
        done(s);
        return;
    }
    for (size_t i = 0; i < pay->nin; i++) start_close(s, &pay->in[i]);
    if (!pay->head) {
        done(s);
        return;
    }
    BTT_LOGI(LOG_MOD, "speed: settling %zu channel(s) before closing", pay->nin);
    pay->settled = done;
}
