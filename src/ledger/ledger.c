/* ledger.c - the ledger state machine: accounts, channels, and the rules of every operation.
 *
 * docs/ledger-design.md is the specification. Shape of one operation: look everything up, check
 * every rule (nothing is written yet), make sure the tables have room (the only step that can
 * fail for lack of memory), then commit, which cannot fail. So a rejected or failed operation
 * leaves the state exactly as it was.
 *
 * Accounts and channels live in open-addressing hash tables (linear probing, power-of-two sizes,
 * at most 3/4 full) keyed by SipHash-2-4 (crypto_shorthash) with a random per-ledger key, so an
 * attacker who grinds keys cannot make the probes long. Channels are removed on close/refund with
 * backward-shift deletion (no tombstones).
 *
 * Per-account channel index: a third table (`owners`, keyed by account key) holds, for every
 * account that is the payer or the payee of an open channel, a count and the id of one of its
 * channels; the account's channels form a circular doubly-linked list threaded through the
 * channels themselves by id (payer_next/prev for the list of the payer, payee_next/prev for the
 * payee's; payer != payee always). Links are ids rather than pointers because slots move. Opening
 * and removing a channel cost O(1) lookups; listing an account's channels costs O(its channels).
 * check_invariant re-derives it. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/bencode.h"
#include "btt/ledger.h"

static const uint8_t channel_personal[crypto_generichash_blake2b_PERSONALBYTES] = "btt-channel-v1";

/* ------------------------------------------------------------------ tables */

typedef struct slot_head {
    uint8_t key[32];
    uint8_t used;
} slot_head;

typedef struct acct {
    slot_head h;
    uint8_t faucet_used;
    uint64_t nonce;
    btt_amount balance;
} acct;

typedef struct chan {
    slot_head h; /* key = channel id */
    btt_account payer, payee;
    btt_amount deposit, claimed;
    uint64_t seq, expiry;
    uint8_t payer_next[32], payer_prev[32]; /* the payer's channel list (circular, by id) */
    uint8_t payee_next[32], payee_prev[32]; /* the payee's */
} chan;

typedef struct owner {
    slot_head h;      /* key = account key */
    uint8_t head[32]; /* one of its channels */
    uint64_t count;   /* open channels where it is payer or payee (entries reaching 0 are removed) */
} owner;

typedef struct table {
    uint8_t *slots;
    size_t stride, cap, count; /* cap: 0 or a power of two */
} table;

struct btt_ledger {
    uint8_t id[BTT_LEDGER_ID_LEN];
    btt_genesis genesis;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    table accounts, channels, owners;
    uint64_t height, time;
    btt_amount total_balances, total_locked; /* running totals, re-derived by check_invariant */
};

static inline slot_head *slot_at(const table *t, size_t i)
{
    return (slot_head *)(void *)(t->slots + i * t->stride);
}

static size_t hash_of(const btt_ledger *l, const uint8_t key[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, 32, l->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)v;
}

static slot_head *table_find(const btt_ledger *l, const table *t, const uint8_t key[32])
{
    if (!t->cap) return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = hash_of(l, key) & mask;; i = (i + 1) & mask) {
        slot_head *s = slot_at(t, i);
        if (!s->used) return NULL;
        if (memcmp(s->key, key, 32) == 0) return s;
    }
}

/* Inserts a key known to be absent into a table with room; returns the zeroed slot. */
static slot_head *table_insert(const btt_ledger *l, table *t, const uint8_t key[32])
{
    size_t mask = t->cap - 1, i = hash_of(l, key) & mask;
    while (slot_at(t, i)->used) i = (i + 1) & mask;
    slot_head *s = slot_at(t, i);
    memset(s, 0, t->stride);
    memcpy(s->key, key, 32);
    s->used = 1;
    t->count++;
    return s;
}

/* Makes room for `extra` more entries (load <= 3/4). BTT_ENOMEM leaves the table as it was. */
static btt_err table_reserve(const btt_ledger *l, table *t, size_t extra)
{
    size_t need = t->count + extra;
    if (t->cap && need <= t->cap / 4 * 3) return BTT_OK;
    size_t cap = t->cap ? t->cap : 64;
    while (need > cap / 4 * 3) {
        if (cap > SIZE_MAX / 2 / t->stride) return BTT_ENOMEM;
        cap *= 2;
    }
    table n = {calloc(cap, t->stride), t->stride, cap, 0};
    if (!n.slots) return BTT_ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        slot_head *s = slot_at(t, i);
        if (!s->used) continue;
        size_t j = hash_of(l, s->key) & (cap - 1);
        while (slot_at(&n, j)->used) j = (j + 1) & (cap - 1);
        memcpy(slot_at(&n, j), s, t->stride);
        n.count++;
    }
    free(t->slots);
    *t = n;
    return BTT_OK;
}

/* Backward-shift deletion: later members of the probe run move up so lookups never need tombstones. */
static void table_remove(const btt_ledger *l, table *t, slot_head *victim)
{
    size_t mask = t->cap - 1;
    size_t hole = (size_t)((uint8_t *)victim - t->slots) / t->stride;
    for (size_t i = (hole + 1) & mask;; i = (i + 1) & mask) {
        slot_head *s = slot_at(t, i);
        if (!s->used) break;
        size_t home = hash_of(l, s->key) & mask;
        /* s may fill the hole unless its home lies cyclically in (hole, i] */
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays) continue;
        memcpy(slot_at(t, hole), s, t->stride);
        hole = i;
    }
    memset(slot_at(t, hole), 0, t->stride);
    t->count--;
}

/* ------------------------------------------------------------------ basics */

static const char *const reason_names[] = {
#define BTT_X_REASON(name, wire, msg) wire,
    BTT_LEDGER_REASON_MAP(BTT_X_REASON)
#undef BTT_X_REASON
};
static const char *const reason_messages[] = {
#define BTT_X_REASON(name, wire, msg) msg,
    BTT_LEDGER_REASON_MAP(BTT_X_REASON)
#undef BTT_X_REASON
};

const char *btt_ledger_reason_name(btt_ledger_reason r)
{
    return (unsigned)r < BTT_LEDGER_REASON_COUNT ? reason_names[r] : "?";
}

const char *btt_ledger_reason_message(btt_ledger_reason r)
{
    return (unsigned)r < BTT_LEDGER_REASON_COUNT ? reason_messages[r] : "unknown reason";
}

void btt_ledger_channel_id(const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_account *payer, uint64_t nonce,
                           uint8_t out[BTT_CHANNEL_ID_LEN])
{
    uint8_t in[BTT_LEDGER_ID_LEN + BTT_ACCOUNT_KEY_LEN + 8];
    memcpy(in, ledger_id, BTT_LEDGER_ID_LEN);
    memcpy(in + BTT_LEDGER_ID_LEN, payer->key, BTT_ACCOUNT_KEY_LEN);
    for (int i = 7; i >= 0; i--, nonce >>= 8) in[BTT_LEDGER_ID_LEN + BTT_ACCOUNT_KEY_LEN + i] = (uint8_t)nonce;
    crypto_generichash_blake2b_salt_personal(out, BTT_CHANNEL_ID_LEN, in, sizeof in, NULL, 0, NULL, channel_personal);
}

btt_err btt_ledger_new(const btt_genesis *g, btt_ledger **out, btt_error *err)
{
    *out = NULL;
    if (sodium_init() < 0) return btt_error_set(err, BTT_EIO, "libsodium failed to initialise");
    btt_amount bal[BTT_POOL_COUNT];
    btt_err e = btt_genesis_allocate(g, bal, err);
    if (e) return e;
    btt_ledger *l = calloc(1, sizeof *l);
    if (!l) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    l->genesis = *g;
    e = btt_genesis_ledger_id(g, l->id, err);
    if (e) {
        free(l);
        return e;
    }
    randombytes_buf(l->hash_key, sizeof l->hash_key);
    l->accounts.stride = sizeof(acct);
    l->channels.stride = sizeof(chan);
    l->owners.stride = sizeof(owner);
    if (table_reserve(l, &l->accounts, BTT_POOL_COUNT) != BTT_OK) {
        btt_ledger_free(l);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        acct *a = (acct *)table_insert(l, &l->accounts, g->pool_key[p].key); /* keys are distinct (validated) */
        a->balance = bal[p];
    }
    l->total_balances = g->supply;
    *out = l;
    return BTT_OK;
}

void btt_ledger_free(btt_ledger *l)
{
    if (!l) return;
    free(l->accounts.slots);
    free(l->channels.slots);
    free(l->owners.slots);
    free(l);
}

const uint8_t *btt_ledger_id(const btt_ledger *l)
{
    return l->id;
}

const btt_genesis *btt_ledger_genesis(const btt_ledger *l)
{
    return &l->genesis;
}

uint64_t btt_ledger_height(const btt_ledger *l)
{
    return l->height;
}

uint64_t btt_ledger_time(const btt_ledger *l)
{
    return l->time;
}

static acct *find_acct(const btt_ledger *l, const btt_account *a)
{
    return (acct *)table_find(l, &l->accounts, a->key);
}

static chan *find_chan(const btt_ledger *l, const uint8_t id[BTT_CHANNEL_ID_LEN])
{
    return (chan *)table_find(l, &l->channels, id);
}

bool btt_ledger_account_get(const btt_ledger *l, const btt_account *a, btt_ledger_account_info *out)
{
    const acct *s = find_acct(l, a);
    if (!s) return false;
    out->balance = s->balance;
    out->nonce = s->nonce;
    out->faucet_used = s->faucet_used;
    return true;
}

static void chan_info(const chan *c, btt_ledger_channel_info *out)
{
    memcpy(out->id, c->h.key, BTT_CHANNEL_ID_LEN);
    out->payer = c->payer;
    out->payee = c->payee;
    out->deposit = c->deposit;
    out->claimed = c->claimed;
    out->seq = c->seq;
    out->expiry = c->expiry;
}

bool btt_ledger_channel_get(const btt_ledger *l, const uint8_t id[BTT_CHANNEL_ID_LEN], btt_ledger_channel_info *out)
{
    const chan *c = find_chan(l, id);
    if (!c) return false;
    chan_info(c, out);
    return true;
}

size_t btt_ledger_num_accounts(const btt_ledger *l)
{
    return l->accounts.count;
}

size_t btt_ledger_num_channels(const btt_ledger *l)
{
    return l->channels.count;
}

void btt_ledger_foreach_account(const btt_ledger *l, btt_ledger_account_cb *cb, void *ud)
{
    for (size_t i = 0; i < l->accounts.cap; i++) {
        const acct *s = (const acct *)slot_at(&l->accounts, i);
        if (!s->h.used) continue;
        btt_account a;
        memcpy(a.key, s->h.key, BTT_ACCOUNT_KEY_LEN);
        btt_ledger_account_info info = {s->balance, s->nonce, s->faucet_used};
        cb(&a, &info, ud);
    }
}

void btt_ledger_foreach_channel(const btt_ledger *l, btt_ledger_channel_cb *cb, void *ud)
{
    for (size_t i = 0; i < l->channels.cap; i++) {
        const chan *c = (const chan *)slot_at(&l->channels, i);
        if (!c->h.used) continue;
        btt_ledger_channel_info info;
        chan_info(c, &info);
        cb(&info, ud);
    }
}

/* ------------------------------------------------------------------ per-account index */

static owner *find_owner(const btt_ledger *l, const btt_account *a)
{
    return (owner *)table_find(l, &l->owners, a->key);
}

/* The links of c in the list of account a (its payer or its payee). */
static uint8_t *link_next(chan *c, const btt_account *a)
{
    return btt_account_eq(&c->payer, a) ? c->payer_next : c->payee_next;
}

static uint8_t *link_prev(chan *c, const btt_account *a)
{
    return btt_account_eq(&c->payer, a) ? c->payer_prev : c->payee_prev;
}

/* Adds c (already in the channel table) to a's list. The owners table must have room. */
static void index_add(btt_ledger *l, chan *c, const btt_account *a)
{
    owner *o = find_owner(l, a);
    const uint8_t *id = c->h.key;
    if (!o) {
        o = (owner *)table_insert(l, &l->owners, a->key);
        memcpy(o->head, id, 32);
        memcpy(link_next(c, a), id, 32);
        memcpy(link_prev(c, a), id, 32);
        o->count = 1;
        return;
    }
    chan *head = find_chan(l, o->head), *tail = find_chan(l, link_prev(head, a));
    memcpy(link_next(c, a), head->h.key, 32);
    memcpy(link_prev(c, a), tail->h.key, 32);
    memcpy(link_next(tail, a), id, 32); /* tail may be head: each link is written once */
    memcpy(link_prev(head, a), id, 32);
    memcpy(o->head, id, 32);
    o->count++;
}

/* Removes c from a's list (before c leaves the channel table). */
static void index_remove(btt_ledger *l, chan *c, const btt_account *a)
{
    owner *o = find_owner(l, a);
    if (o->count == 1) {
        table_remove(l, &l->owners, &o->h);
        return;
    }
    uint8_t next[32], prev[32];
    memcpy(next, link_next(c, a), 32);
    memcpy(prev, link_prev(c, a), 32);
    memcpy(link_next(find_chan(l, prev), a), next, 32);
    memcpy(link_prev(find_chan(l, next), a), prev, 32);
    if (memcmp(o->head, c->h.key, 32) == 0) memcpy(o->head, next, 32);
    o->count--;
}

size_t btt_ledger_num_channels_of(const btt_ledger *l, const btt_account *a)
{
    const owner *o = find_owner(l, a);
    return o ? (size_t)o->count : 0;
}

size_t btt_ledger_foreach_channel_of(const btt_ledger *l, const btt_account *a, btt_ledger_channel_of_cb *cb,
                                     void *ud)
{
    const owner *o = find_owner(l, a);
    if (!o) return 0;
    uint8_t id[32];
    memcpy(id, o->head, 32);
    size_t n = 0;
    for (uint64_t i = 0; i < o->count; i++) {
        chan *c = find_chan(l, id);
        btt_ledger_channel_info info;
        chan_info(c, &info);
        n++;
        if (!cb(&info, ud)) break;
        memcpy(id, link_next(c, a), 32);
    }
    return n;
}

/* ------------------------------------------------------------------ rules */

/* Everything an accepted operation will change, worked out before anything is written. */
typedef struct plan {
    acct *signer;                /* NULL: the signer's account is created */
    acct *other;                 /* transfer: recipient; faucet: pool; close/refund: payer */
    bool create_other;           /* transfer to a new account */
    chan *ch;                    /* existing channel (topup, claim, close, refund) */
    btt_amount signer_balance;   /* new balances */
    btt_amount other_balance;
    btt_amount deposit, claimed; /* channel after (open, topup, claim) */
    uint64_t seq, expiry;
} plan;

/* A new recipient must be a key someone can sign for, or its funds would be lost for good. */
static bool recipient_ok(const btt_ledger *l, const btt_account *a)
{
    return find_acct(l, a) != NULL || btt_account_is_valid_key(a);
}

static btt_ledger_reason check(const btt_ledger *l, const btt_ledger_op *op, uint64_t now, bool sig_verified,
                               plan *pl, btt_ledger_receipt *rc)
{
    memset(pl, 0, sizeof *pl);
    const btt_genesis *g = &l->genesis;
    if (op->type < BTT_LEDGER_TRANSFER || op->type > BTT_LEDGER_REFUND) return BTT_LEDGER_MALFORMED;
    if ((op->type == BTT_LEDGER_CLAIM && !op->has_voucher) ||
        (op->has_voucher && op->type != BTT_LEDGER_CLAIM && op->type != BTT_LEDGER_CLOSE))
        return BTT_LEDGER_MALFORMED;
    btt_amount probe; /* an op built in memory (not decoded) may carry any raw amount */
    if (!btt_amount_from_units(btt_amount_units(op->amount), &probe) ||
        !btt_amount_from_units(btt_amount_units(op->voucher.cumulative), &probe))
        return BTT_LEDGER_MALFORMED;

    /* replay protection first (cheap), then the signature */
    acct *s = find_acct(l, &op->signer);
    uint64_t last = s ? s->nonce : 0;
    if (op->nonce != last + 1) return BTT_LEDGER_BAD_NONCE;
    if (!sig_verified && !btt_ledger_op_verify(op, l->id)) return BTT_LEDGER_BAD_SIGNATURE;
    pl->signer = s;
    btt_amount bal = s ? s->balance : BTT_AMOUNT_ZERO;
    pl->signer_balance = bal;

    switch (op->type) {
    case BTT_LEDGER_TRANSFER: {
        if (!s) return BTT_LEDGER_NO_ACCOUNT;
        if (btt_amount_is_zero(op->amount)) return BTT_LEDGER_ZERO_AMOUNT;
        if (btt_account_eq(&op->to, &op->signer)) return BTT_LEDGER_SELF;
        if (!btt_amount_sub(&pl->signer_balance, bal, op->amount)) return BTT_LEDGER_INSUFFICIENT;
        if (!recipient_ok(l, &op->to)) return BTT_LEDGER_BAD_KEY;
        pl->other = find_acct(l, &op->to);
        pl->create_other = !pl->other;
        if (!btt_amount_add(&pl->other_balance, pl->other ? pl->other->balance : BTT_AMOUNT_ZERO, op->amount))
            return BTT_LEDGER_OVERFLOW;
        rc->amount = op->amount;
        break;
    }
    case BTT_LEDGER_FAUCET: {
        const btt_account *pool_key = &g->pool_key[BTT_POOL_ONBOARDING];
        if (s && s->faucet_used) return BTT_LEDGER_FAUCET_USED;
        if (btt_account_eq(&op->signer, pool_key)) return BTT_LEDGER_SELF;
        if (!btt_pow_check(l->id, &op->signer, op->work, g->faucet_bits)) return BTT_LEDGER_BAD_WORK;
        pl->other = find_acct(l, pool_key); /* pools always exist */
        if (btt_amount_is_zero(g->faucet_grant) ||
            !btt_amount_sub(&pl->other_balance, pl->other->balance, g->faucet_grant))
            return BTT_LEDGER_FAUCET_EMPTY;
        if (!btt_amount_add(&pl->signer_balance, bal, g->faucet_grant)) return BTT_LEDGER_OVERFLOW;
        rc->amount = g->faucet_grant;
        break;
    }
    case BTT_LEDGER_OPEN: {
        if (!s) return BTT_LEDGER_NO_ACCOUNT;
        if (btt_amount_is_zero(op->amount)) return BTT_LEDGER_ZERO_AMOUNT;
        if (btt_account_eq(&op->to, &op->signer)) return BTT_LEDGER_SELF;
        if (op->expiry <= now) return BTT_LEDGER_BAD_EXPIRY;
        if (!btt_amount_sub(&pl->signer_balance, bal, op->amount)) return BTT_LEDGER_INSUFFICIENT;
        if (!recipient_ok(l, &op->to)) return BTT_LEDGER_BAD_KEY;
        btt_ledger_channel_id(l->id, &op->signer, op->nonce, rc->channel);
        if (find_chan(l, rc->channel)) return BTT_LEDGER_MALFORMED; /* a BLAKE2b collision */
        pl->deposit = op->amount;
        pl->expiry = op->expiry;
        rc->amount = op->amount;
        break;
    }
    case BTT_LEDGER_TOPUP: {
        chan *c = find_chan(l, op->channel);
        if (!c) return BTT_LEDGER_NO_CHANNEL;
        if (!btt_account_eq(&c->payer, &op->signer)) return BTT_LEDGER_NOT_PAYER;
        if (now >= c->expiry) return BTT_LEDGER_EXPIRED;
        if (op->expiry < c->expiry) return BTT_LEDGER_BAD_EXPIRY;
        if (btt_amount_is_zero(op->amount) && op->expiry == c->expiry) return BTT_LEDGER_NO_CHANGE;
        if (!btt_amount_sub(&pl->signer_balance, bal, op->amount)) return BTT_LEDGER_INSUFFICIENT;
        if (!btt_amount_add(&pl->deposit, c->deposit, op->amount)) return BTT_LEDGER_OVERFLOW;
        pl->ch = c;
        pl->claimed = c->claimed;
        pl->seq = c->seq;
        pl->expiry = op->expiry;
        memcpy(rc->channel, op->channel, BTT_CHANNEL_ID_LEN);
        rc->amount = op->amount;
        break;
    }
    case BTT_LEDGER_CLAIM:
    case BTT_LEDGER_CLOSE: {
        chan *c = find_chan(l, op->channel);
        if (!c) return BTT_LEDGER_NO_CHANNEL;
        if (!btt_account_eq(&c->payee, &op->signer)) return BTT_LEDGER_NOT_PAYEE;
        /* the payee's window ends at expiry; from then on only the payer's refund is possible */
        if (now >= c->expiry) return BTT_LEDGER_EXPIRED;
        btt_amount cum = c->claimed, pay, back;
        uint64_t seq = c->seq;
        if (op->has_voucher) {
            const btt_voucher *v = &op->voucher;
            if (v->seq <= c->seq) return BTT_LEDGER_STALE_VOUCHER;
            if (!btt_amount_ge(v->cumulative, c->claimed)) return BTT_LEDGER_VOUCHER_BELOW_CLAIMED;
            if (!btt_amount_ge(c->deposit, v->cumulative)) return BTT_LEDGER_VOUCHER_EXCEEDS;
            btt_voucher vv = *v;
            memcpy(vv.channel, op->channel, BTT_CHANNEL_ID_LEN); /* a voucher counts only for this channel */
            if (!btt_voucher_verify(&vv, l->id, &c->payer)) return BTT_LEDGER_BAD_VOUCHER_SIGNATURE;
            cum = v->cumulative;
            seq = v->seq;
        }
        if (!btt_amount_sub(&pay, cum, c->claimed) || !btt_amount_sub(&back, c->deposit, cum) ||
            !btt_amount_add(&pl->signer_balance, bal, pay))
            return BTT_LEDGER_OVERFLOW;
        pl->ch = c;
        pl->deposit = c->deposit;
        pl->claimed = cum;
        pl->seq = seq;
        pl->expiry = c->expiry;
        if (op->type == BTT_LEDGER_CLOSE) {
            pl->other = find_acct(l, &c->payer); /* the payer opened the channel, so it exists */
            if (!btt_amount_add(&pl->other_balance, pl->other->balance, back)) return BTT_LEDGER_OVERFLOW;
            rc->refunded = back;
        }
        memcpy(rc->channel, op->channel, BTT_CHANNEL_ID_LEN);
        rc->amount = pay;
        break;
    }
    case BTT_LEDGER_REFUND: {
        chan *c = find_chan(l, op->channel);
        if (!c) return BTT_LEDGER_NO_CHANNEL;
        if (!btt_account_eq(&c->payer, &op->signer)) return BTT_LEDGER_NOT_PAYER;
        if (now < c->expiry) return BTT_LEDGER_NOT_EXPIRED;
        btt_amount back;
        if (!btt_amount_sub(&back, c->deposit, c->claimed) || !btt_amount_add(&pl->signer_balance, bal, back))
            return BTT_LEDGER_OVERFLOW;
        pl->ch = c;
        memcpy(rc->channel, op->channel, BTT_CHANNEL_ID_LEN);
        rc->amount = back;
        break;
    }
    }
    rc->balance = pl->signer_balance;
    return BTT_LEDGER_OK;
}

/* Grows the tables for what the plan creates. Pointers in the plan are re-looked-up after. */
static btt_err make_room(btt_ledger *l, const btt_ledger_op *op, plan *pl)
{
    size_t new_accounts = (pl->signer == NULL) + pl->create_other;
    if (op->type == BTT_LEDGER_OPEN && table_reserve(l, &l->channels, 1) != BTT_OK) return BTT_ENOMEM;
    if (op->type == BTT_LEDGER_OPEN && table_reserve(l, &l->owners, 2) != BTT_OK) return BTT_ENOMEM;
    /* (an open holds no channel pointer, so growing the channel table invalidates nothing) */
    size_t old_cap = l->accounts.cap;
    if (new_accounts && table_reserve(l, &l->accounts, new_accounts) != BTT_OK) return BTT_ENOMEM;
    if (l->accounts.cap != old_cap) { /* the account table moved: find the plan's accounts again */
        pl->signer = find_acct(l, &op->signer);
        if (pl->other) {
            const btt_account *o = op->type == BTT_LEDGER_TRANSFER ? &op->to
                                   : op->type == BTT_LEDGER_FAUCET ? &l->genesis.pool_key[BTT_POOL_ONBOARDING]
                                                                   : &pl->ch->payer;
            pl->other = find_acct(l, o);
        }
    }
    return BTT_OK;
}

/* Writes the plan. Cannot fail. Totals: money moves between balances and channels only. */
static void commit(btt_ledger *l, const btt_ledger_op *op, uint64_t now, plan *pl, const btt_ledger_receipt *rc)
{
    acct *s = pl->signer ? pl->signer : (acct *)table_insert(l, &l->accounts, op->signer.key);
    btt_amount locked_change = BTT_AMOUNT_ZERO;
    switch (op->type) {
    case BTT_LEDGER_TRANSFER: {
        acct *o = pl->create_other ? (acct *)table_insert(l, &l->accounts, op->to.key) : pl->other;
        o->balance = pl->other_balance;
        break;
    }
    case BTT_LEDGER_FAUCET:
        pl->other->balance = pl->other_balance;
        s->faucet_used = 1;
        break;
    case BTT_LEDGER_OPEN: {
        chan *c = (chan *)table_insert(l, &l->channels, rc->channel);
        c->payer = op->signer;
        c->payee = op->to;
        c->deposit = pl->deposit;
        c->claimed = BTT_AMOUNT_ZERO;
        c->seq = 0;
        c->expiry = pl->expiry;
        index_add(l, c, &c->payer);
        index_add(l, c, &c->payee);
        if (!btt_amount_add(&l->total_locked, l->total_locked, op->amount) ||
            !btt_amount_sub(&l->total_balances, l->total_balances, op->amount))
            abort(); /* impossible: totals are bounded by the supply */
        break;
    }
    case BTT_LEDGER_TOPUP:
        pl->ch->deposit = pl->deposit;
        pl->ch->expiry = pl->expiry;
        locked_change = op->amount;
        if (!btt_amount_add(&l->total_locked, l->total_locked, locked_change) ||
            !btt_amount_sub(&l->total_balances, l->total_balances, locked_change))
            abort();
        break;
    case BTT_LEDGER_CLAIM:
        pl->ch->claimed = pl->claimed;
        pl->ch->seq = pl->seq;
        if (!btt_amount_sub(&l->total_locked, l->total_locked, rc->amount) ||
            !btt_amount_add(&l->total_balances, l->total_balances, rc->amount))
            abort();
        break;
    case BTT_LEDGER_CLOSE: {
        btt_amount out;
        pl->other->balance = pl->other_balance;
        if (!btt_amount_add(&out, rc->amount, rc->refunded) ||
            !btt_amount_sub(&l->total_locked, l->total_locked, out) ||
            !btt_amount_add(&l->total_balances, l->total_balances, out))
            abort();
        index_remove(l, pl->ch, &pl->ch->payer);
        index_remove(l, pl->ch, &pl->ch->payee);
        table_remove(l, &l->channels, &pl->ch->h);
        break;
    }
    case BTT_LEDGER_REFUND:
        if (!btt_amount_sub(&l->total_locked, l->total_locked, rc->amount) ||
            !btt_amount_add(&l->total_balances, l->total_balances, rc->amount))
            abort();
        index_remove(l, pl->ch, &pl->ch->payer);
        index_remove(l, pl->ch, &pl->ch->payee);
        table_remove(l, &l->channels, &pl->ch->h);
        break;
    }
    s->balance = pl->signer_balance;
    s->nonce = op->nonce;
    l->height++;
    l->time = now;
}

static btt_err process(btt_ledger *l, const btt_ledger_op *op, uint64_t now, bool apply, bool sig_verified,
                       btt_ledger_receipt *out, btt_error *err)
{
    btt_ledger_receipt rc;
    memset(&rc, 0, sizeof rc);
    if (now < l->time) now = l->time; /* time never runs backwards inside the ledger */
    rc.type = op->type;
    rc.time = now;
    plan pl;
    rc.reason = check(l, op, now, sig_verified, &pl, &rc);
    btt_err e = BTT_OK;
    if (rc.reason != BTT_LEDGER_OK) {
        btt_ledger_reason r = rc.reason;
        memset(&rc, 0, sizeof rc);
        rc.type = op->type;
        rc.time = now;
        rc.reason = r;
        rc.height = l->height;
        e = btt_error_set(err, BTT_ELEDGER, "%s rejected: %s (%s)", btt_ledger_op_type_name(op->type),
                          btt_ledger_reason_message(r), btt_ledger_reason_name(r));
    } else if (apply) {
        if (make_room(l, op, &pl) != BTT_OK) {
            e = btt_error_set(err, BTT_ENOMEM, "out of memory");
            rc.height = l->height;
        } else {
            commit(l, op, now, &pl, &rc);
            rc.height = l->height;
        }
    } else {
        rc.height = l->height + 1;
    }
    if (out) *out = rc;
    return e;
}

btt_err btt_ledger_apply(btt_ledger *l, const btt_ledger_op *op, uint64_t now, btt_ledger_receipt *rc, btt_error *err)
{
    return process(l, op, now, true, false, rc, err);
}

btt_err btt_ledger_apply_verified(btt_ledger *l, const btt_ledger_op *op, uint64_t now, btt_ledger_receipt *rc,
                                  btt_error *err)
{
    return process(l, op, now, true, true, rc, err);
}

btt_err btt_ledger_validate(const btt_ledger *l, const btt_ledger_op *op, uint64_t now, btt_ledger_receipt *rc,
                            btt_error *err)
{
    /* with apply == false, process reads but never writes */
    return process((btt_ledger *)(uintptr_t)l, op, now, false, false, rc, err);
}

/* ------------------------------------------------------------------ invariant */

/* The per-account index: every list is circular with consistent back links and exactly `count`
 * members, each of which has the account as payer or payee; every channel is listed under its
 * payer and its payee, and the counts add up to two per channel. */
static btt_err check_index(const btt_ledger *l, btt_error *err)
{
    uint64_t links = 0, owners = 0;
    for (size_t i = 0; i < l->owners.cap; i++) {
        const owner *o = (const owner *)slot_at(&l->owners, i);
        if (!o->h.used) continue;
        owners++;
        btt_account a;
        memcpy(a.key, o->h.key, BTT_ACCOUNT_KEY_LEN);
        if (find_owner(l, &a) != o) return btt_error_set(err, BTT_ELEDGER, "invariant: channel index table corrupt");
        if (o->count == 0 || o->count > l->channels.count)
            return btt_error_set(err, BTT_ELEDGER, "invariant: channel index count is off");
        chan *c = find_chan(l, o->head);
        for (uint64_t k = 0; k < o->count; k++) {
            if (!c || (!btt_account_eq(&c->payer, &a) && !btt_account_eq(&c->payee, &a)))
                return btt_error_set(err, BTT_ELEDGER, "invariant: channel index lists a foreign channel");
            chan *next = find_chan(l, link_next(c, &a));
            if (!next || memcmp(link_prev(next, &a), c->h.key, 32) != 0)
                return btt_error_set(err, BTT_ELEDGER, "invariant: channel index links broken");
            c = next;
        }
        if (memcmp(c->h.key, o->head, 32) != 0)
            return btt_error_set(err, BTT_ELEDGER, "invariant: channel index list does not close");
        links += o->count;
    }
    if (owners != l->owners.count || links != 2 * (uint64_t)l->channels.count)
        return btt_error_set(err, BTT_ELEDGER, "invariant: channel index does not cover every channel twice");
    for (size_t i = 0; i < l->channels.cap; i++) {
        const chan *c = (const chan *)slot_at(&l->channels, i);
        if (c->h.used && (!find_owner(l, &c->payer) || !find_owner(l, &c->payee)))
            return btt_error_set(err, BTT_ELEDGER, "invariant: a channel is missing from the index");
    }
    return BTT_OK;
}

btt_err btt_ledger_check_invariant(const btt_ledger *l, btt_error *err)
{
    btt_amount balances = BTT_AMOUNT_ZERO, locked = BTT_AMOUNT_ZERO, total;
    size_t n = 0;
    for (size_t i = 0; i < l->accounts.cap; i++) {
        const acct *s = (const acct *)slot_at(&l->accounts, i);
        if (!s->h.used) continue;
        n++;
        if (!btt_amount_add(&balances, balances, s->balance))
            return btt_error_set(err, BTT_ELEDGER, "invariant: balances exceed the supply");
        btt_account a;
        memcpy(a.key, s->h.key, BTT_ACCOUNT_KEY_LEN);
        if (find_acct(l, &a) != s) return btt_error_set(err, BTT_ELEDGER, "invariant: account table corrupt");
    }
    if (n != l->accounts.count) return btt_error_set(err, BTT_ELEDGER, "invariant: account count is off");
    n = 0;
    for (size_t i = 0; i < l->channels.cap; i++) {
        const chan *c = (const chan *)slot_at(&l->channels, i);
        if (!c->h.used) continue;
        n++;
        btt_amount lk;
        if (!btt_amount_sub(&lk, c->deposit, c->claimed))
            return btt_error_set(err, BTT_ELEDGER, "invariant: a channel paid out more than its deposit");
        if (!btt_amount_add(&locked, locked, lk))
            return btt_error_set(err, BTT_ELEDGER, "invariant: locked funds exceed the supply");
        if (find_chan(l, c->h.key) != c) return btt_error_set(err, BTT_ELEDGER, "invariant: channel table corrupt");
    }
    if (n != l->channels.count) return btt_error_set(err, BTT_ELEDGER, "invariant: channel count is off");
    btt_err ie = check_index(l, err);
    if (ie != BTT_OK) return ie;
    if (!btt_amount_add(&total, balances, locked) || !btt_amount_eq(total, l->genesis.supply)) {
        char a[BTT_AMOUNT_STRLEN], b[BTT_AMOUNT_STRLEN], s[BTT_AMOUNT_STRLEN];
        return btt_error_set(err, BTT_ELEDGER, "invariant: balances %s + locked %s != supply %s",
                             btt_amount_format(balances, a), btt_amount_format(locked, b),
                             btt_amount_format(l->genesis.supply, s));
    }
    if (!btt_amount_eq(balances, l->total_balances) || !btt_amount_eq(locked, l->total_locked))
        return btt_error_set(err, BTT_ELEDGER, "invariant: running totals disagree with the tables");
    return BTT_OK;
}

/* ------------------------------------------------------------------ receipts */

btt_err btt_ledger_receipt_encode(const btt_ledger_receipt *rc, btt_buf *b)
{
    bool has_channel = rc->type >= BTT_LEDGER_OPEN && rc->type <= BTT_LEDGER_REFUND;
    btt_err e = 0;
    e |= btt_benc_dict(b);
    e |= btt_benc_cstr(b, "amount");
    e |= btt_benc_int(b, (int64_t)btt_amount_units(rc->amount));
    e |= btt_benc_cstr(b, "balance");
    e |= btt_benc_int(b, (int64_t)btt_amount_units(rc->balance));
    if (has_channel) {
        e |= btt_benc_cstr(b, "channel");
        e |= btt_benc_str(b, rc->channel, BTT_CHANNEL_ID_LEN);
    }
    e |= btt_benc_cstr(b, "height");
    e |= btt_benc_int(b, (int64_t)rc->height);
    e |= btt_benc_cstr(b, "reason");
    e |= btt_benc_cstr(b, btt_ledger_reason_name(rc->reason));
    if (rc->type == BTT_LEDGER_CLOSE) {
        e |= btt_benc_cstr(b, "refunded");
        e |= btt_benc_int(b, (int64_t)btt_amount_units(rc->refunded));
    }
    e |= btt_benc_cstr(b, "time");
    e |= btt_benc_int(b, rc->time > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)rc->time);
    e |= btt_benc_cstr(b, "type");
    e |= btt_benc_cstr(b, btt_ledger_op_type_name(rc->type));
    e |= btt_benc_end(b);
    return e ? BTT_ENOMEM : BTT_OK;
}
