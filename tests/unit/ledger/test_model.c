/* Property test: thousands of random operations (valid and invalid) from many accounts, applied
 * both to the ledger and to a reference model written here from the rules in
 * docs/ledger-design.md, independently of src/ledger (plain arrays, linear scans, plain uint64_t
 * arithmetic, hashes recomputed with libsodium). After every operation: the same verdict, the same
 * accounts, balances, nonces and channels, and the invariant holds.
 *
 * BTT_MODEL_SEED=<n> reproduces a run; BTT_MODEL_OPS=<n> changes its length. */
#include "fixture.h"

#include <stdlib.h>

#define NW (BTT_POOL_COUNT + FX_USERS + 4) /* wallets: pools, fixture users, extra users */
#define NA (NW + 1)                         /* plus one key nobody can sign for */
#define MAXC 8192
#define MAXV 8192

/* ------------------------------------------------------------------ the reference model */

typedef struct m_acct {
    bool exists, faucet;
    uint64_t bal, nonce;
} m_acct;

typedef struct m_chan {
    uint8_t id[32];
    int payer, payee;
    uint64_t deposit, claimed, seq, expiry;
    bool open;
} m_chan;

typedef struct model {
    m_acct a[NA];
    m_chan c[MAXC];
    int nc;
    uint64_t time, height, supply, grant;
    unsigned bits;
} model;

/* What the generator knows about a voucher it made: who signed what, for which ledger. */
typedef struct m_voucher {
    btt_voucher v;
    int signer;
    uint8_t signed_channel[32];
    bool foreign_ledger, corrupted;
} m_voucher;

/* One generated operation plus the ground truth about its signature. */
typedef struct gen_op {
    btt_ledger_op op;
    int signer, to;       /* wallet/account indexes (to: transfer, open) */
    bool sig_valid;       /* signed by the signer's own key, for this ledger, unmodified */
    int chan;             /* model channel index, -1 for an unknown id */
    const m_voucher *mv;  /* voucher used, if any */
    uint64_t when;        /* the time to apply it at */
} gen_op;

static btt_wallet *W[NW];
static btt_account K[NA];
static uint8_t LID[32], FOREIGN[32];
static uint64_t good_work[NW], bad_work[NW];
static model M;
static btt_ledger *L;
static m_voucher V[MAXV];
static int nv;
static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return rng_state = x;
}

static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static bool chance(unsigned percent)
{
    return below(100) < percent;
}

static bool spec_pow_ok(int who, uint64_t work)
{
    uint8_t in[72], h[32], personal[16] = "btt-pow-v1";
    memcpy(in, LID, 32);
    memcpy(in + 32, K[who].key, 32);
    for (int i = 0; i < 8; i++) in[64 + i] = (uint8_t)(work >> (56 - 8 * i));
    crypto_generichash_blake2b_salt_personal(h, 32, in, sizeof in, NULL, 0, NULL, personal);
    unsigned zeros = 0;
    for (int i = 0; i < 32 && zeros == (unsigned)(8 * i); i++)
        for (int b = 7; b >= 0 && !(h[i] >> b & 1); b--) zeros++;
    return zeros >= M.bits;
}

static void spec_channel_id(int payer, uint64_t nonce, uint8_t out[32])
{
    uint8_t in[72], personal[16] = "btt-channel-v1";
    memcpy(in, LID, 32);
    memcpy(in + 32, K[payer].key, 32);
    for (int i = 0; i < 8; i++) in[64 + i] = (uint8_t)(nonce >> (56 - 8 * i));
    crypto_generichash_blake2b_salt_personal(out, 32, in, sizeof in, NULL, 0, NULL, personal);
}

static bool signable(int who)
{
    return who < NW; /* index NW is the key nobody holds */
}

/* The rules, from the design document. Returns true if the operation is accepted (and applies it). */
static bool model_apply(const gen_op *g, uint64_t now)
{
    const btt_ledger_op *op = &g->op;
    if (now < M.time) now = M.time;
    m_acct *s = &M.a[g->signer];
    uint64_t amount = btt_amount_units(op->amount);
    if (op->nonce != s->nonce + 1 || !g->sig_valid) return false;
    switch (op->type) {
    case BTT_LEDGER_TRANSFER: {
        m_acct *t = &M.a[g->to];
        if (!s->exists || amount == 0 || g->to == g->signer || s->bal < amount) return false;
        if (!t->exists && !signable(g->to)) return false;
        s->bal -= amount;
        t->bal += amount;
        t->exists = true;
        break;
    }
    case BTT_LEDGER_FAUCET: {
        m_acct *pool = &M.a[BTT_POOL_ONBOARDING];
        if (s->faucet || g->signer == BTT_POOL_ONBOARDING || !spec_pow_ok(g->signer, op->work)) return false;
        if (M.grant == 0 || pool->bal < M.grant) return false;
        pool->bal -= M.grant;
        s->bal += M.grant;
        s->faucet = true;
        break;
    }
    case BTT_LEDGER_OPEN: {
        if (!s->exists || amount == 0 || g->to == g->signer || op->expiry <= now || s->bal < amount) return false;
        if (!M.a[g->to].exists && !signable(g->to)) return false;
        assert_true(M.nc < MAXC);
        m_chan *c = &M.c[M.nc++];
        spec_channel_id(g->signer, op->nonce, c->id);
        c->payer = g->signer, c->payee = g->to;
        c->deposit = amount, c->claimed = 0, c->seq = 0, c->expiry = op->expiry;
        c->open = true;
        s->bal -= amount;
        break;
    }
    case BTT_LEDGER_TOPUP: {
        if (g->chan < 0) return false;
        m_chan *c = &M.c[g->chan];
        if (!c->open || c->payer != g->signer || now >= c->expiry || op->expiry < c->expiry) return false;
        if (amount == 0 && op->expiry == c->expiry) return false;
        if (s->bal < amount) return false;
        s->bal -= amount;
        c->deposit += amount;
        c->expiry = op->expiry;
        break;
    }
    case BTT_LEDGER_CLAIM:
    case BTT_LEDGER_CLOSE: {
        if (g->chan < 0) return false;
        m_chan *c = &M.c[g->chan];
        if (!c->open || c->payee != g->signer || now >= c->expiry) return false;
        uint64_t cum = c->claimed, seq = c->seq;
        if (op->has_voucher) {
            const m_voucher *mv = g->mv;
            uint64_t vc = btt_amount_units(op->voucher.cumulative);
            if (op->voucher.seq <= c->seq || vc < c->claimed || vc > c->deposit) return false;
            bool sig_ok = mv->signer == c->payer && !mv->foreign_ledger && !mv->corrupted &&
                          memcmp(mv->signed_channel, c->id, 32) == 0;
            if (!sig_ok) return false;
            cum = vc, seq = op->voucher.seq;
        } else if (op->type == BTT_LEDGER_CLAIM) {
            return false;
        }
        s->bal += cum - c->claimed;
        if (op->type == BTT_LEDGER_CLAIM) {
            c->claimed = cum, c->seq = seq;
        } else {
            M.a[c->payer].bal += c->deposit - cum;
            c->open = false;
        }
        break;
    }
    case BTT_LEDGER_REFUND: {
        if (g->chan < 0) return false;
        m_chan *c = &M.c[g->chan];
        if (!c->open || c->payer != g->signer || now < c->expiry) return false;
        s->bal += c->deposit - c->claimed;
        c->open = false;
        break;
    }
    default:
        return false;
    }
    s->exists = true;
    s->nonce = op->nonce;
    M.time = now;
    M.height++;
    return true;
}

/* ------------------------------------------------------------------ comparing */

static void compare(uint64_t step, const char *what)
{
    size_t accounts = 0, channels = 0;
    uint64_t total = 0;
    for (int i = 0; i < NA; i++) {
        btt_ledger_account_info info;
        bool found = btt_ledger_account_get(L, &K[i], &info);
        const m_acct *a = &M.a[i];
        if (found != a->exists || (found && (btt_amount_units(info.balance) != a->bal || info.nonce != a->nonce ||
                                             info.faucet_used != a->faucet))) {
            print_error("step %llu (%s): account %d: ledger %s bal=%llu nonce=%llu faucet=%d; model %s bal=%llu "
                        "nonce=%llu faucet=%d\n",
                        (unsigned long long)step, what, i, found ? "has" : "lacks",
                        found ? (unsigned long long)btt_amount_units(info.balance) : 0ull,
                        found ? (unsigned long long)info.nonce : 0ull, found ? info.faucet_used : 0,
                        a->exists ? "has" : "lacks", (unsigned long long)a->bal, (unsigned long long)a->nonce,
                        a->faucet);
            fail();
        }
        accounts += a->exists;
        total += a->bal;
    }
    for (int i = 0; i < M.nc; i++) {
        const m_chan *c = &M.c[i];
        btt_ledger_channel_info ci;
        bool found = btt_ledger_channel_get(L, c->id, &ci);
        if (found != c->open) {
            print_error("step %llu (%s): channel %d is %s in the ledger but %s in the model\n",
                        (unsigned long long)step, what, i, found ? "open" : "gone", c->open ? "open" : "gone");
            fail();
        }
        if (!found) continue;
        channels++;
        total += c->deposit - c->claimed;
        assert_true(btt_account_eq(&ci.payer, &K[c->payer]));
        assert_true(btt_account_eq(&ci.payee, &K[c->payee]));
        assert_int_equal(btt_amount_units(ci.deposit), c->deposit);
        assert_int_equal(btt_amount_units(ci.claimed), c->claimed);
        assert_int_equal(ci.seq, c->seq);
        assert_int_equal(ci.expiry, c->expiry);
    }
    assert_int_equal(total, M.supply); /* the model's own invariant */
    assert_int_equal(btt_ledger_num_accounts(L), accounts);
    assert_int_equal(btt_ledger_num_channels(L), channels);
    assert_int_equal(btt_ledger_height(L), M.height);
    assert_int_equal(btt_ledger_time(L), M.time);
    btt_error err = {0};
    if (btt_ledger_check_invariant(L, &err) != BTT_OK) {
        print_error("step %llu (%s): %s\n", (unsigned long long)step, what, err.msg);
        fail();
    }
}

/* ------------------------------------------------------------------ generating */

static int pick_account(void)
{
    unsigned r = (unsigned)below(100);
    if (r < 8) return (int)below(BTT_POOL_COUNT);          /* a pool */
    if (r < 10) return NW;                                  /* the unsignable key */
    return BTT_POOL_COUNT + (int)below(NW - BTT_POOL_COUNT); /* a user */
}

static int pick_signer(void)
{
    int who;
    do who = pick_account();
    while (!signable(who));
    return who;
}

static uint64_t pick_amount(uint64_t bal)
{
    switch (below(10)) {
    case 0: return 0;
    case 1: return bal;
    case 2: return bal + 1 <= M.supply ? bal + 1 : bal;
    case 3: return 1;
    case 4: return below(M.supply + 1); /* anything, usually too much */
    default: return bal ? 1 + below(bal < 1000000000 ? bal : bal / 1000) : below(3);
    }
}

/* A channel for an operation of type t: mostly open ones in the state where t can succeed
 * (expired for a refund, running otherwise), sometimes any, sometimes an unknown id (-1). */
static int pick_channel(btt_ledger_op_type t, uint64_t now)
{
    if (M.nc == 0 || chance(5)) return -1;
    if (chance(85)) {
        static int cand[MAXC];
        int n = 0;
        bool want_expired = t == BTT_LEDGER_REFUND;
        for (int i = 0; i < M.nc; i++)
            if (M.c[i].open && (M.c[i].expiry <= now) == want_expired) cand[n++] = i;
        if (n) return cand[below((uint64_t)n)];
    }
    return (int)below((uint64_t)M.nc);
}

static const m_voucher *make_voucher(int chan)
{
    const m_chan *c = &M.c[chan];
    if (nv > 0 && chance(20)) return &V[below((uint64_t)nv)]; /* an old one, maybe from another channel */
    assert_true(nv < MAXV);
    m_voucher *mv = &V[nv++];
    memset(mv, 0, sizeof *mv);
    mv->signer = chance(90) ? c->payer : pick_signer();
    memcpy(mv->signed_channel, c->id, 32);
    if (chance(3)) mv->signed_channel[0] ^= 1;
    mv->foreign_ledger = chance(3);
    uint64_t cum;
    switch (below(8)) {
    case 0: cum = c->claimed ? c->claimed - 1 : 0; break;
    case 1: cum = c->deposit + 1 <= M.supply ? c->deposit + 1 : c->deposit; break;
    case 2: cum = c->deposit; break;
    default: cum = c->claimed + below(c->deposit - c->claimed + 1);
    }
    uint64_t seq = c->seq + (chance(10) ? 0 : 1 + below(3));
    memcpy(mv->v.channel, mv->signed_channel, 32);
    mv->v.cumulative = fx_units(cum);
    mv->v.seq = seq;
    btt_voucher_sign(&mv->v, mv->foreign_ledger ? FOREIGN : LID, W[mv->signer]);
    if (chance(3)) {
        mv->corrupted = true;
        mv->v.sig[below(64)] ^= (uint8_t)(1u << below(8));
    }
    return mv;
}

static void generate(gen_op *g, uint64_t now)
{
    memset(g, 0, sizeof *g);
    g->chan = -1;
    g->when = now;
    btt_ledger_op *op = &g->op;
    g->signer = pick_signer();
    const m_acct *s = &M.a[g->signer];
    static const btt_ledger_op_type types[] = {
        BTT_LEDGER_TRANSFER, BTT_LEDGER_TRANSFER, BTT_LEDGER_TRANSFER, BTT_LEDGER_FAUCET, BTT_LEDGER_OPEN,
        BTT_LEDGER_OPEN,     BTT_LEDGER_TOPUP,    BTT_LEDGER_CLAIM,    BTT_LEDGER_CLAIM,  BTT_LEDGER_CLOSE,
        BTT_LEDGER_CLOSE,    BTT_LEDGER_REFUND,   BTT_LEDGER_REFUND};
    btt_ledger_op_type t = types[below(sizeof types / sizeof *types)];
    /* channel operations are mostly made by the right party */
    if (t >= BTT_LEDGER_TOPUP) {
        g->chan = pick_channel(t, now > M.time ? now : M.time);
        if (g->chan >= 0 && chance(85))
            g->signer = (t == BTT_LEDGER_TOPUP || t == BTT_LEDGER_REFUND) ? M.c[g->chan].payer : M.c[g->chan].payee;
        s = &M.a[g->signer];
        /* the boundaries: exactly at expiry and just before it (when the clock allows) */
        if (g->chan >= 0 && chance(20)) {
            uint64_t e = M.c[g->chan].expiry - chance(50);
            if (e >= M.time) g->when = e;
        }
    }
    uint64_t nonce = s->nonce + 1;
    if (chance(5)) nonce = below(s->nonce + 3);
    btt_ledger_op_init(op, t, &K[g->signer], nonce);
    switch (t) {
    case BTT_LEDGER_TRANSFER:
    case BTT_LEDGER_OPEN:
        g->to = pick_account();
        op->to = K[g->to];
        op->amount = fx_units(pick_amount(s->bal));
        op->expiry = t == BTT_LEDGER_OPEN ? (chance(10) ? now - below(3) : now + 1 + below(300)) : 0;
        break;
    case BTT_LEDGER_FAUCET:
        op->work = chance(85) ? good_work[g->signer] : bad_work[g->signer];
        break;
    case BTT_LEDGER_TOPUP:
    case BTT_LEDGER_CLAIM:
    case BTT_LEDGER_CLOSE:
    case BTT_LEDGER_REFUND:
        if (g->chan >= 0) {
            memcpy(op->channel, M.c[g->chan].id, 32);
        } else {
            randombytes_buf(op->channel, 32);
        }
        if (t == BTT_LEDGER_TOPUP) {
            uint64_t old = g->chan >= 0 ? M.c[g->chan].expiry : now;
            op->amount = fx_units(chance(30) ? 0 : pick_amount(s->bal) / 4);
            op->expiry = chance(15) ? old - (old > 0) : chance(30) ? old : old + below(30);
        }
        if ((t == BTT_LEDGER_CLAIM || (t == BTT_LEDGER_CLOSE && chance(70))) && g->chan >= 0) {
            g->mv = make_voucher(g->chan);
            op->has_voucher = true;
            op->voucher = g->mv->v;
        } else if (t == BTT_LEDGER_CLAIM) {
            /* a claim on an unknown channel still needs a voucher to be well formed */
            assert_true(nv < MAXV);
            m_voucher *mv = &V[nv++];
            memset(mv, 0, sizeof *mv);
            mv->signer = g->signer;
            memcpy(mv->signed_channel, op->channel, 32);
            memcpy(mv->v.channel, op->channel, 32);
            mv->v.cumulative = fx_units(1);
            mv->v.seq = 1;
            btt_voucher_sign(&mv->v, LID, W[g->signer]);
            g->mv = mv;
            op->has_voucher = true;
            op->voucher = mv->v;
        }
        break;
    }
    /* sign: usually right; sometimes with another key, for another ledger, or tampered after */
    unsigned r = (unsigned)below(100);
    if (r < 4) {
        int other;
        do other = pick_signer();
        while (other == g->signer);
        assert_int_equal(btt_ledger_op_sign(op, LID, W[other]), BTT_OK);
        op->signer = K[g->signer];
        g->sig_valid = false;
    } else if (r < 7) {
        assert_int_equal(btt_ledger_op_sign(op, FOREIGN, W[g->signer]), BTT_OK);
        g->sig_valid = false;
    } else if (r < 10) {
        assert_int_equal(btt_ledger_op_sign(op, LID, W[g->signer]), BTT_OK);
        op->sig[below(64)] ^= (uint8_t)(1u << below(8));
        g->sig_valid = false;
    } else {
        assert_int_equal(btt_ledger_op_sign(op, LID, W[g->signer]), BTT_OK);
        g->sig_valid = true;
    }
}

/* ------------------------------------------------------------------ the run */

static void run(uint64_t seed, int steps)
{
    rng_state = seed ? seed : 1;
    memset(&M, 0, sizeof M);
    nv = 0;
    btt_genesis g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "btt-model");
    /* a small supply keeps balances in a range where overdrafts and exact amounts are common */
    g.supply = fx_units(1000000000 + below(1000000000));
    static const uint32_t bp[BTT_POOL_COUNT] = {3333, 1111, 2222, 2221, 1113};
    for (int p = 0; p < BTT_POOL_COUNT; p++) g.pool_key[p] = K[p], g.pool_bp[p] = bp[p];
    g.remainder = BTT_POOL_TRON;
    g.faucet_grant = fx_units(50000000);
    g.faucet_bits = FX_BITS;
    btt_error err = {0};
    assert_int_equal(btt_genesis_ledger_id(&g, LID, &err), BTT_OK);
    assert_int_equal(btt_ledger_new(&g, &L, &err), BTT_OK);
    assert_memory_equal(btt_ledger_id(L), LID, 32);
    memcpy(FOREIGN, LID, 32);
    FOREIGN[7] ^= 0x10;

    M.supply = btt_amount_units(g.supply);
    M.grant = btt_amount_units(g.faucet_grant);
    M.bits = g.faucet_bits;
    /* the genesis split, computed here: floor(supply * bp / 10000), remainder to tron */
    uint64_t given = 0;
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        M.a[p].exists = true;
        M.a[p].bal = (uint64_t)((unsigned __int128)M.supply * bp[p] / 10000);
        given += M.a[p].bal;
    }
    M.a[BTT_POOL_TRON].bal += M.supply - given;
    for (int i = 0; i < NW; i++) {
        assert_int_equal(btt_pow_solve(LID, &K[i], FX_BITS, 0, NULL, NULL, NULL, &good_work[i], NULL), BTT_OK);
        assert_true(spec_pow_ok(i, good_work[i]));
        for (bad_work[i] = 0; spec_pow_ok(i, bad_work[i]); bad_work[i]++) {}
    }
    compare(0, "genesis");

    uint64_t now = 1000;
    int accepted = 0, by_type[8] = {0}, acc_type[8] = {0};
    for (int step = 1; step <= steps; step++) {
        now += below(4);
        gen_op go;
        generate(&go, chance(3) && now > 10 ? now - below(10) : now); /* sometimes a stale clock */
        uint64_t when = go.when;
        /* the model first, on a copy of the operation: it must not see the ledger's answer */
        bool want = model_apply(&go, when);
        btt_ledger_receipt rc;
        btt_error aerr = {0};
        btt_err e = btt_ledger_apply(L, &go.op, when, &rc, &aerr);
        bool got = e == BTT_OK;
        if (got != want) {
            print_error("seed %llu step %d: %s by %d: ledger %s (%s), model %s\n", (unsigned long long)seed, step,
                        btt_ledger_op_type_name(go.op.type), go.signer, got ? "accepted" : "rejected",
                        got ? "" : btt_ledger_reason_name(rc.reason), want ? "accepts" : "rejects");
            fail();
        }
        assert_true(e == BTT_OK || e == BTT_ELEDGER);
        if (got && go.op.type == BTT_LEDGER_OPEN) assert_memory_equal(rc.channel, M.c[M.nc - 1].id, 32);
        by_type[go.op.type]++;
        if (got) accepted++, acc_type[go.op.type]++;
        compare((uint64_t)step, btt_ledger_op_type_name(go.op.type));
    }
    printf("# seed %llu: %d operations, %d accepted, %d channels opened, %d vouchers;", (unsigned long long)seed,
           steps, accepted, M.nc, nv);
    for (int t = 1; t < 8; t++)
        printf(" %s %d/%d", btt_ledger_op_type_name((btt_ledger_op_type)t), acc_type[t], by_type[t]);
    printf("\n");
    /* every kind of operation was both accepted and rejected at least once */
    for (int t = 1; t < 8; t++) {
        assert_true(acc_type[t] > 0);
        assert_true(acc_type[t] < by_type[t]);
    }
    btt_ledger_free(L);
    L = NULL;
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) return -1;
    for (int i = 0; i < NW; i++) {
        W[i] = fx_wallet(0xE0, (uint8_t)i);
        K[i] = *fx_acct(W[i]);
    }
    memset(&K[NW], 0, sizeof K[NW]); /* all-zero: a small-order point, no valid key */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NW; i++) btt_wallet_free(W[i]);
    return 0;
}

static void test_random_operations(void **state)
{
    (void)state;
    const char *s = getenv("BTT_MODEL_SEED"), *n = getenv("BTT_MODEL_OPS");
    int steps = n ? atoi(n) : 3000;
    if (s) {
        run(strtoull(s, NULL, 10), steps);
        return;
    }
    static const uint64_t seeds[] = {1, 0x5eed, 20190102};
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) run(seeds[i], steps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_random_operations)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
