/* MSE/PE (btt/mse.h): RC4 against RFC 6229; full handshakes between an initiator and a receiver
 * through an in-memory pipe (1-byte, random and whole chunks; every method choice; IA of 0, 68
 * and BTT_MSE_IA_MAX bytes); stream bytes behind the handshake left untaken; the SKEY lookup;
 * the pad bounds; both roles against an independent reference peer written here with OpenSSL's
 * BIGNUM (pads of 0 and 512 bytes, the scan windows' edges); malformed input (scan limits, bit
 * flips in the RC4-encrypted fields, no common method, bad arguments). RC4 is malleable:
 * flipping a ciphertext bit flips the same plaintext bit, which is how the tests forge a bad
 * crypto_provide, crypto_select or length field without knowing the keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>

#include "btt/mse.h"
#include "btt/sha1.h"

#define BOTH (BTT_MSE_RC4 | BTT_MSE_PLAINTEXT)
/* the limits in btt/mse.h: B finds req1 within 532 bytes after Ya, A finds VC within 520
 * bytes after Yb */
#define REQ1_LIMIT (BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX + 20)
#define VC_LIMIT (BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX + 8)
/* A's third message: req1, req2 ^ req3, ENCRYPT(VC, crypto_provide, len(PadC)), PadC, len(IA) */
#define MSG3_FIXED (20 + 20 + 8 + 4 + 2 + 2)
/* B's second message: VC, crypto_select, len(PadD), PadD */
#define MSG4_FIXED (8 + 4 + 2)

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1du;
}

static void rnd_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(rnd() >> 56);
}

/* ---- RC4 ---- */

static void keystream(const uint8_t *key, size_t klen, size_t offset, uint8_t out[16])
{
    btt_rc4 r;
    btt_rc4_init(&r, key, klen);
    btt_rc4_discard(&r, offset);
    memset(out, 0, 16);
    btt_rc4_crypt(&r, out, 16);
}

static void test_rc4_rfc6229(void **state)
{
    (void)state;
    /* RFC 6229 section 2, key length 40 bits */
    static const uint8_t k40[5] = {0x01, 0x02, 0x03, 0x04, 0x05};
    static const uint8_t k40_0[16] = {0xb2, 0x39, 0x63, 0x05, 0xf0, 0x3d, 0xc0, 0x27,
                                      0xcc, 0xc3, 0x52, 0x4a, 0x0a, 0x11, 0x18, 0xa8};
    static const uint8_t k40_16[16] = {0x69, 0x82, 0x94, 0x4f, 0x18, 0xfc, 0x82, 0xd5,
                                       0x89, 0xc4, 0x03, 0xa4, 0x7a, 0x0d, 0x09, 0x19};
    static const uint8_t k40_1024[16] = {0x30, 0xab, 0xbc, 0xc7, 0xc2, 0x0b, 0x01, 0x60,
                                         0x9f, 0x23, 0xee, 0x2d, 0x5f, 0x6b, 0xb7, 0xdf};
    /* key length 128 bits */
    static const uint8_t k128[16] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                     0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};
    static const uint8_t k128_0[16] = {0x9a, 0xc7, 0xcc, 0x9a, 0x60, 0x9d, 0x1e, 0xf7,
                                       0xb2, 0x93, 0x28, 0x99, 0xcd, 0xe4, 0x1b, 0x97};
    static const uint8_t k128_1024[16] = {0xbd, 0xf0, 0x32, 0x4e, 0x60, 0x83, 0xdc, 0xc6,
                                          0xd3, 0xce, 0xdd, 0x3c, 0xa8, 0xc5, 0x3c, 0x16};
    uint8_t ks[16];

    keystream(k40, sizeof k40, 0, ks);
    assert_memory_equal(ks, k40_0, 16);
    keystream(k40, sizeof k40, 16, ks);
    assert_memory_equal(ks, k40_16, 16);
    keystream(k40, sizeof k40, 1024, ks);
    assert_memory_equal(ks, k40_1024, 16);
    keystream(k128, sizeof k128, 0, ks);
    assert_memory_equal(ks, k128_0, 16);
    keystream(k128, sizeof k128, 1024, ks);
    assert_memory_equal(ks, k128_1024, 16);

    /* one pass over 32 bytes = offsets 0 and 16; crypting in odd pieces = in one go */
    btt_rc4 r;
    btt_rc4_init(&r, k40, sizeof k40);
    uint8_t two[32] = {0};
    btt_rc4_crypt(&r, two, 7);
    btt_rc4_crypt(&r, two + 7, 25);
    assert_memory_equal(two, k40_0, 16);
    assert_memory_equal(two + 16, k40_16, 16);
    /* discarding 1000 then 24 = offset 1024 */
    btt_rc4_init(&r, k40, sizeof k40);
    btt_rc4_discard(&r, 1000);
    btt_rc4_discard(&r, 24);
    memset(ks, 0, 16);
    btt_rc4_crypt(&r, ks, 16);
    assert_memory_equal(ks, k40_1024, 16);
    /* encrypting = decrypting */
    static const char text[] = "the quick brown fox";
    uint8_t buf[sizeof text];
    memcpy(buf, text, sizeof text);
    btt_rc4_init(&r, k128, sizeof k128);
    btt_rc4_crypt(&r, buf, sizeof buf);
    assert_memory_not_equal(buf, text, sizeof text);
    btt_rc4_init(&r, k128, sizeof k128);
    btt_rc4_crypt(&r, buf, sizeof buf);
    assert_memory_equal(buf, text, sizeof text);
}

/* ---- B's SKEY lookup ---- */

#define N_TORRENTS 3

typedef struct finder {
    uint8_t ih[N_TORRENTS][20]; /* the torrents B knows */
    int calls;
    uint8_t last_req2[20];
} finder;

static void req2_of(const uint8_t ih[20], uint8_t out[20])
{
    uint8_t b[24];
    memcpy(b, "req2", 4);
    memcpy(b + 4, ih, 20);
    btt_sha1(b, sizeof b, out);
}

static bool find_cb(void *ud, const uint8_t req2[20], uint8_t skey[20])
{
    finder *f = ud;
    f->calls++;
    memcpy(f->last_req2, req2, 20);
    for (int i = 0; i < N_TORRENTS; i++) {
        uint8_t h[20];
        req2_of(f->ih[i], h);
        if (memcmp(h, req2, 20) == 0) {
            memcpy(skey, f->ih[i], 20);
            return true;
        }
    }
    return false;
}

static void finder_init(finder *f, uint8_t salt)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < N_TORRENTS; i++)
        for (int j = 0; j < 20; j++) f->ih[i][j] = (uint8_t)(salt + i * 31 + j * 7 + 1);
}

/* ---- the pipe ---- */

enum { CHUNK_ONE, CHUNK_RANDOM, CHUNK_ALL, N_CHUNK_MODES };

static size_t pick(int mode, size_t avail)
{
    size_t n = avail;
    if (mode == CHUNK_ONE) n = 1;
    if (mode == CHUNK_RANDOM) n = 1 + (size_t)(rnd() % 300);
    return n < avail ? n : avail;
}

static void drop_front(btt_buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static void append(btt_buf *b, const void *p, size_t n)
{
    assert_int_equal(btt_buf_append(b, p, n), BTT_OK);
}

/* Feeds one chunk of q to m and drops what m took from q. Until m is done it must take all. */
static btt_err deliver(btt_mse *m, btt_buf *q, int mode, size_t *total)
{
    size_t n = pick(mode, q->len);
    size_t c = n + 1;
    btt_error err;
    btt_err e = btt_mse_input(m, q->data, n, &c, &err);
    if (e != BTT_OK) return e;
    assert_true(c <= n);
    if (!btt_mse_done(m)) assert_int_equal(c, n);
    drop_front(q, c);
    *total += c;
    return BTT_OK;
}

typedef struct run {
    int mode;
    const uint8_t *tail;  /* bytes A's side puts right behind its handshake (the stream) */
    size_t tail_len;
    const uint8_t *msg;   /* B's first stream message, sent right behind its handshake */
    size_t msg_len;
    btt_err err_a, err_b; /* the first error, if any */
    size_t a_first_out;   /* Ya, PadA */
    size_t b_first_out;   /* Yb, PadB */
    size_t a_out, b_out;  /* handshake bytes each side sent */
    size_t a_in, b_in;    /* bytes each side took */
    btt_buf left_a, left_b; /* what each side left untaken */
} run;

static btt_mse_result ra, rb; /* large: not on the stack */

/* Runs A and B against each other until both are done, one fails, or nothing moves. When B is
 * done, r->msg goes right behind its last handshake bytes (encrypted with rb.enc for RC4); once
 * A has Yb, r->tail goes right behind its handshake bytes. rb is B's result, its enc past msg. */
static void pipe_run(run *r, btt_mse *a, btt_mse *b)
{
    btt_buf ab, ba;
    btt_buf_init(&ab, 1 << 20);
    btt_buf_init(&ba, 1 << 20);
    bool tail_sent = false, msg_sent = false;
    r->err_a = r->err_b = BTT_OK;
    r->a_in = r->b_in = 0;
    assert_int_equal(btt_mse_output(a, &ab), BTT_OK);
    r->a_first_out = r->a_out = ab.len;
    assert_int_equal(btt_mse_output(b, &ba), BTT_OK); /* B may have Yb, PadB ready at once */
    r->b_first_out = r->b_out = ba.len;
    for (int round = 0; round < 100000; round++) {
        bool moved = false;
        if (ab.len > 0 && !btt_mse_done(b)) {
            r->err_b = deliver(b, &ab, r->mode, &r->b_in);
            if (r->err_b != BTT_OK) break;
            moved = true;
            size_t before = ba.len;
            assert_int_equal(btt_mse_output(b, &ba), BTT_OK);
            r->b_out += ba.len - before;
            if (r->b_first_out == 0) r->b_first_out = r->b_out;
            if (btt_mse_done(b) && !msg_sent) {
                msg_sent = true;
                btt_mse_result_get(b, &rb);
                uint8_t m[256];
                assert_true(r->msg_len <= sizeof m);
                memcpy(m, r->msg, r->msg_len);
                if (rb.method == BTT_MSE_RC4) btt_rc4_crypt(&rb.enc, m, r->msg_len);
                append(&ba, m, r->msg_len);
            }
        }
        if (ba.len > 0 && !btt_mse_done(a)) {
            r->err_a = deliver(a, &ba, r->mode, &r->a_in);
            if (r->err_a != BTT_OK) break;
            moved = true;
            size_t before = ab.len;
            assert_int_equal(btt_mse_output(a, &ab), BTT_OK);
            r->a_out += ab.len - before;
            if (!tail_sent && r->a_in >= BTT_MSE_KEY_LEN) {
                tail_sent = true;
                append(&ab, r->tail, r->tail_len);
            }
        }
        if (!moved) break;
    }
    if (r->err_a == BTT_OK && r->err_b == BTT_OK) {
        /* nothing more to send once done */
        size_t la = ab.len, lb = ba.len;
        assert_int_equal(btt_mse_output(a, &ab), BTT_OK);
        assert_int_equal(btt_mse_output(b, &ba), BTT_OK);
        assert_int_equal(ab.len, la);
        assert_int_equal(ba.len, lb);
    }
    r->left_a = ba;
    r->left_b = ab;
}

static void run_free(run *r)
{
    btt_buf_free(&r->left_a);
    btt_buf_free(&r->left_b);
}

static void make_ia(uint8_t *ia, size_t len, const uint8_t ih[20])
{
    if (len == 68) { /* what btt sends: the BitTorrent handshake */
        ia[0] = 19;
        memcpy(ia + 1, "BitTorrent protocol", 19);
        memset(ia + 20, 0, 8);
        ia[25] = 0x10;
        memcpy(ia + 28, ih, 20);
        memcpy(ia + 48, "-BT0001-abcdefghijkl", 20);
    } else {
        rnd_bytes(ia, len);
    }
}

static void check_handshake(uint32_t provide, uint32_t allowed, uint32_t prefer, size_t ia_len, int mode)
{
    finder f;
    finder_init(&f, (uint8_t)mode);
    const uint8_t *ih = f.ih[1];
    static uint8_t ia[BTT_MSE_IA_MAX];
    make_ia(ia, ia_len, ih);
    uint8_t tail[37];
    rnd_bytes(tail, sizeof tail);
    static const char msg[] = "\x00\x00\x00\x05\x04\x00\x00\x00\x07 B's first stream message";
    uint32_t want = provide & allowed;
    if (want == BOTH) want = prefer;

    btt_mse *a = NULL, *b = NULL;
    btt_error err;
    assert_int_equal(btt_mse_initiator(&a, ih, provide, ia, ia_len, &err), BTT_OK);
    assert_int_equal(btt_mse_receiver(&b, allowed, prefer, find_cb, &f, &err), BTT_OK);
    run r = {.mode = mode, .tail = tail, .tail_len = sizeof tail,
             .msg = (const uint8_t *)msg, .msg_len = sizeof msg - 1};
    pipe_run(&r, a, b);
    assert_int_equal(r.err_a, BTT_OK);
    assert_int_equal(r.err_b, BTT_OK);
    assert_true(btt_mse_done(a));
    assert_true(btt_mse_done(b));

    /* sizes: pads of at most 512 bytes each */
    assert_in_range(r.a_first_out, BTT_MSE_KEY_LEN, BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX);
    assert_in_range(r.b_first_out, BTT_MSE_KEY_LEN, BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX);
    assert_in_range(r.a_out - r.a_first_out, MSG3_FIXED + ia_len, MSG3_FIXED + BTT_MSE_PAD_MAX + ia_len);
    assert_in_range(r.b_out - r.b_first_out, MSG4_FIXED, MSG4_FIXED + BTT_MSE_PAD_MAX);
    /* each side took exactly the other's handshake: the stream bytes behind it are left */
    assert_int_equal(r.b_in, r.a_out);
    assert_int_equal(r.a_in, r.b_out);
    assert_int_equal(r.left_b.len, sizeof tail);
    assert_memory_equal(r.left_b.data, tail, sizeof tail);
    assert_int_equal(r.left_a.len, sizeof msg - 1);

    /* B saw HASH('req2', SKEY) and found the torrent */
    uint8_t want_req2[20];
    req2_of(ih, want_req2);
    assert_true(f.calls >= 1);
    assert_memory_equal(f.last_req2, want_req2, 20);

    btt_mse_result_get(a, &ra);
    assert_int_equal(ra.method, want);
    assert_int_equal(rb.method, want);
    assert_memory_equal(rb.skey, ih, 20);
    assert_memory_equal(ra.skey, ih, 20);
    assert_int_equal(rb.ia_len, ia_len);
    if (ia_len > 0) assert_memory_equal(rb.ia, ia, ia_len);

    /* B's message behind its handshake, then one more each way */
    uint8_t m[64];
    memcpy(m, r.left_a.data, sizeof msg - 1);
    if (want == BTT_MSE_RC4) {
        assert_memory_not_equal(m, msg, sizeof msg - 1);
        btt_rc4_crypt(&ra.dec, m, sizeof msg - 1);
    }
    assert_memory_equal(m, msg, sizeof msg - 1); /* PLAINTEXT: untouched */

    static const char a2b[] = "A to B: \x00\x00\x00\x01\x02 interested";
    static const char b2a[] = "B to A: \x00\x00\x00\x01\x01 unchoke";
    memcpy(m, a2b, sizeof a2b);
    if (want == BTT_MSE_RC4) {
        btt_rc4_crypt(&ra.enc, m, sizeof a2b);
        assert_memory_not_equal(m, a2b, sizeof a2b);
        btt_rc4_crypt(&rb.dec, m, sizeof a2b);
    }
    assert_memory_equal(m, a2b, sizeof a2b);
    memcpy(m, b2a, sizeof b2a);
    if (want == BTT_MSE_RC4) {
        btt_rc4_crypt(&rb.enc, m, sizeof b2a);
        assert_memory_not_equal(m, b2a, sizeof b2a);
        btt_rc4_crypt(&ra.dec, m, sizeof b2a);
    }
    assert_memory_equal(m, b2a, sizeof b2a);

    run_free(&r);
    btt_mse_free(a);
    btt_mse_free(b);
}

static void handshakes(uint32_t provide, uint32_t allowed)
{
    static const size_t ia_lens[] = {0, 68, BTT_MSE_IA_MAX};
    static const uint32_t prefers[] = {BTT_MSE_RC4, BTT_MSE_PLAINTEXT};
    for (size_t p = 0; p < 2; p++)
        for (size_t i = 0; i < 3; i++)
            for (int mode = 0; mode < N_CHUNK_MODES; mode++)
                check_handshake(provide, allowed, prefers[p], ia_lens[i], mode);
}

static void test_handshake_rc4(void **state)
{
    (void)state;
    handshakes(BTT_MSE_RC4, BOTH);
}

static void test_handshake_plaintext(void **state)
{
    (void)state;
    handshakes(BTT_MSE_PLAINTEXT, BOTH);
}

static void test_handshake_both(void **state)
{
    (void)state;
    handshakes(BOTH, BOTH); /* B's prefer decides */
}

static void test_handshake_allowed(void **state)
{
    (void)state;
    /* B allows one method: that one, whatever it prefers */
    check_handshake(BOTH, BTT_MSE_RC4, BTT_MSE_PLAINTEXT, 68, CHUNK_ALL);
    check_handshake(BOTH, BTT_MSE_PLAINTEXT, BTT_MSE_RC4, 68, CHUNK_ALL);
    check_handshake(BTT_MSE_RC4, BTT_MSE_RC4, BTT_MSE_RC4, 0, CHUNK_RANDOM);
}

/* ---- step by step, for the malformed cases ---- */

typedef struct hs {
    btt_mse *a, *b;
    finder f;
    btt_buf a1, b1, a2, b2; /* Ya PadA; Yb PadB; A's third message; B's VC..PadD */
    size_t ia_len;
} hs;

static btt_err feed(btt_mse *m, const uint8_t *p, size_t n)
{
    size_t c = n + 1;
    btt_error err;
    btt_err e = btt_mse_input(m, p, n, &c, &err);
    if (e == BTT_OK) assert_int_equal(c, n);
    return e;
}

static void hs_out(btt_mse *m, btt_buf *b)
{
    btt_buf_init(b, 1 << 20);
    assert_int_equal(btt_mse_output(m, b), BTT_OK);
}

/* Creates A and B and runs up to A's third message (not delivered). */
static void hs_start(hs *h, uint32_t provide, uint32_t allowed, uint32_t prefer, size_t ia_len)
{
    finder_init(&h->f, 0);
    h->ia_len = ia_len;
    static uint8_t ia[BTT_MSE_IA_MAX];
    make_ia(ia, ia_len, h->f.ih[0]);
    btt_error err;
    assert_int_equal(btt_mse_initiator(&h->a, h->f.ih[0], provide, ia, ia_len, &err), BTT_OK);
    assert_int_equal(btt_mse_receiver(&h->b, allowed, prefer, find_cb, &h->f, &err), BTT_OK);
    hs_out(h->a, &h->a1);
    assert_int_equal(feed(h->b, h->a1.data, h->a1.len), BTT_OK);
    hs_out(h->b, &h->b1);
    assert_in_range(h->b1.len, BTT_MSE_KEY_LEN, BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX);
    assert_int_equal(feed(h->a, h->b1.data, h->b1.len), BTT_OK);
    hs_out(h->a, &h->a2);
    assert_in_range(h->a2.len, MSG3_FIXED + ia_len, MSG3_FIXED + BTT_MSE_PAD_MAX + ia_len);
    btt_buf_init(&h->b2, 1 << 20);
    assert_false(btt_mse_done(h->a));
    assert_false(btt_mse_done(h->b));
}

/* Delivers A's third message: B is done and has its answer out. */
static void hs_b_done(hs *h)
{
    assert_int_equal(feed(h->b, h->a2.data, h->a2.len), BTT_OK);
    assert_true(btt_mse_done(h->b));
    assert_int_equal(btt_mse_output(h->b, &h->b2), BTT_OK);
    assert_in_range(h->b2.len, MSG4_FIXED, MSG4_FIXED + BTT_MSE_PAD_MAX);
}

static void hs_free(hs *h)
{
    btt_mse_free(h->a);
    btt_mse_free(h->b);
    btt_buf_free(&h->a1);
    btt_buf_free(&h->b1);
    btt_buf_free(&h->a2);
    btt_buf_free(&h->b2);
}

static size_t padc_len(const hs *h)
{
    return h->a2.len - MSG3_FIXED - h->ia_len;
}

/* ---- an independent peer: the protocol written out with OpenSSL's BIGNUM, btt_sha1 and the
 * RC4 checked above ---- */

/* The MSE spec's 768-bit prime, as in aria2, anacrolix/torrent and Vuze (not RFC 2409's). */
static const char mse_prime[] = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"
                                "29024E088A67CC74020BBEA63B139B22514A08798E3404DD"
                                "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245"
                                "E485B576625E7EC6F44C42E9A63A36210000000000090563";

typedef struct ref {
    BIGNUM *x; /* private key */
    uint8_t pub[BTT_MSE_KEY_LEN], s[BTT_MSE_KEY_LEN];
    btt_rc4 enc, dec;
} ref;

static void ref_modexp(const BIGNUM *base, const BIGNUM *x, uint8_t out[BTT_MSE_KEY_LEN])
{
    BIGNUM *p = NULL, *y = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    assert_int_equal(BN_hex2bn(&p, mse_prime), (int)strlen(mse_prime));
    assert_non_null(y);
    assert_non_null(ctx);
    assert_int_equal(BN_mod_exp(y, base, x, p, ctx), 1);
    assert_int_equal(BN_bn2binpad(y, out, BTT_MSE_KEY_LEN), BTT_MSE_KEY_LEN);
    BN_CTX_free(ctx);
    BN_free(y);
    BN_free(p);
}

static void ref_init(ref *r)
{
    uint8_t x[20];
    rnd_bytes(x, sizeof x);
    x[0] |= 0x80;
    r->x = BN_bin2bn(x, sizeof x, NULL);
    BIGNUM *g = BN_new();
    assert_non_null(r->x);
    assert_non_null(g);
    assert_int_equal(BN_set_word(g, 2), 1);
    ref_modexp(g, r->x, r->pub);
    BN_free(g);
}

static void ref_hash(const char *tag, const uint8_t *p, size_t n, uint8_t out[20])
{
    uint8_t b[4 + BTT_MSE_KEY_LEN + 20];
    memcpy(b, tag, 4);
    memcpy(b + 4, p, n);
    btt_sha1(b, 4 + n, out);
}

/* S from the peer's public key, then the RC4 states: A sends with keyA, B with keyB. */
static void ref_keys(ref *r, const uint8_t peer[BTT_MSE_KEY_LEN], const uint8_t skey[20], bool initiator)
{
    BIGNUM *y = BN_bin2bn(peer, BTT_MSE_KEY_LEN, NULL);
    assert_non_null(y);
    ref_modexp(y, r->x, r->s);
    BN_free(y);
    uint8_t b[4 + BTT_MSE_KEY_LEN + 20], ka[20], kb[20];
    memcpy(b + 4, r->s, BTT_MSE_KEY_LEN);
    memcpy(b + 4 + BTT_MSE_KEY_LEN, skey, 20);
    memcpy(b, "keyA", 4);
    btt_sha1(b, sizeof b, ka);
    memcpy(b, "keyB", 4);
    btt_sha1(b, sizeof b, kb);
    btt_rc4_init(&r->enc, initiator ? ka : kb, 20);
    btt_rc4_init(&r->dec, initiator ? kb : ka, 20);
    btt_rc4_discard(&r->enc, 1024);
    btt_rc4_discard(&r->dec, 1024);
}

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char stream_msg[] = "\x00\x00\x00\x0d\x06\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x40\x00";

/* The reference as A, btt as B. PadA of 512 puts req1 at the very end of B's window. */
static void ref_as_initiator(size_t pad_a, size_t pad_c, size_t ia_len, uint32_t provide, uint32_t prefer)
{
    finder f;
    finder_init(&f, 7);
    const uint8_t *ih = f.ih[2];
    static uint8_t ia[BTT_MSE_IA_MAX];
    make_ia(ia, ia_len, ih);
    uint32_t want = provide == BOTH ? prefer : provide;
    btt_mse *b;
    btt_error err;
    assert_int_equal(btt_mse_receiver(&b, BOTH, prefer, find_cb, &f, &err), BTT_OK);
    ref r;
    ref_init(&r);

    /* Ya, PadA */
    static uint8_t s[BTT_MSE_KEY_LEN + 2 * BTT_MSE_PAD_MAX + 64 + BTT_MSE_IA_MAX];
    size_t n = 0;
    memcpy(s, r.pub, BTT_MSE_KEY_LEN);
    n += BTT_MSE_KEY_LEN;
    rnd_bytes(s + n, pad_a);
    n += pad_a;
    assert_int_equal(feed(b, s, n), BTT_OK);
    btt_buf bo;
    hs_out(b, &bo);
    assert_in_range(bo.len, BTT_MSE_KEY_LEN, BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX);
    ref_keys(&r, bo.data, ih, true);

    /* HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S), ENCRYPT(VC, crypto_provide,
     * len(PadC), PadC, len(IA)), ENCRYPT(IA), then 9 stream bytes */
    n = 0;
    ref_hash("req1", r.s, BTT_MSE_KEY_LEN, s);
    uint8_t req2[20], req3[20];
    ref_hash("req2", ih, 20, req2);
    ref_hash("req3", r.s, BTT_MSE_KEY_LEN, req3);
    for (int i = 0; i < 20; i++) s[20 + i] = req2[i] ^ req3[i];
    n = 40;
    size_t enc_from = n;
    memset(s + n, 0, 8);
    n += 8;
    s[n++] = 0, s[n++] = 0, s[n++] = 0, s[n++] = (uint8_t)provide;
    put16(s + n, pad_c);
    n += 2;
    rnd_bytes(s + n, pad_c);
    n += pad_c;
    put16(s + n, ia_len);
    n += 2;
    memcpy(s + n, ia, ia_len);
    n += ia_len;
    btt_rc4_crypt(&r.enc, s + enc_from, n - enc_from);
    size_t hs_len = n;
    memcpy(s + n, "stream...", 9);
    n += 9;
    size_t c = 0;
    assert_int_equal(btt_mse_input(b, s, n, &c, &err), BTT_OK);
    assert_int_equal(c, hs_len);
    assert_true(btt_mse_done(b));
    assert_memory_equal(f.last_req2, req2, 20);
    assert_int_equal(btt_mse_output(b, &bo), BTT_OK);

    /* B's answer: PadB, then ENCRYPT(VC) right behind it */
    uint8_t vc[8] = {0};
    btt_rc4_crypt(&r.dec, vc, 8);
    size_t at = BTT_MSE_KEY_LEN;
    while (at + 8 <= bo.len && memcmp(bo.data + at, vc, 8) != 0) at++;
    assert_true(at + 8 <= bo.len);
    assert_true(at - BTT_MSE_KEY_LEN <= BTT_MSE_PAD_MAX);
    assert_true(at + MSG4_FIXED <= bo.len);
    uint8_t *p = bo.data + at + 8;
    btt_rc4_crypt(&r.dec, p, 6);
    assert_int_equal(get32(p), want);
    size_t pad_d = (size_t)p[4] << 8 | p[5];
    assert_true(pad_d <= BTT_MSE_PAD_MAX);
    assert_int_equal(bo.len, at + MSG4_FIXED + pad_d);
    btt_rc4_crypt(&r.dec, p + 6, pad_d);

    btt_mse_result_get(b, &rb);
    assert_int_equal(rb.method, want);
    assert_memory_equal(rb.skey, ih, 20);
    assert_int_equal(rb.ia_len, ia_len);
    if (ia_len > 0) assert_memory_equal(rb.ia, ia, ia_len);
    /* the stream, both ways */
    uint8_t m[sizeof stream_msg];
    memcpy(m, stream_msg, sizeof m);
    if (want == BTT_MSE_RC4) btt_rc4_crypt(&r.enc, m, sizeof m);
    if (want == BTT_MSE_RC4) btt_rc4_crypt(&rb.dec, m, sizeof m);
    assert_memory_equal(m, stream_msg, sizeof m);
    if (want == BTT_MSE_RC4) btt_rc4_crypt(&rb.enc, m, sizeof m);
    if (want == BTT_MSE_RC4) btt_rc4_crypt(&r.dec, m, sizeof m);
    assert_memory_equal(m, stream_msg, sizeof m);

    btt_buf_free(&bo);
    BN_clear_free(r.x);
    btt_mse_free(b);
}

/* btt as A, the reference as B. PadB of 512 puts VC at the very end of A's window. */
static void ref_as_receiver(size_t pad_b, size_t pad_d, size_t ia_len, uint32_t provide, uint32_t select)
{
    uint8_t ih[20];
    rnd_bytes(ih, sizeof ih);
    static uint8_t ia[BTT_MSE_IA_MAX];
    make_ia(ia, ia_len, ih);
    btt_mse *a;
    btt_error err;
    assert_int_equal(btt_mse_initiator(&a, ih, provide, ia, ia_len, &err), BTT_OK);
    btt_buf ao;
    hs_out(a, &ao);
    assert_in_range(ao.len, BTT_MSE_KEY_LEN, BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX);
    ref r;
    ref_init(&r);
    ref_keys(&r, ao.data, ih, false);

    /* Yb, PadB */
    static uint8_t s[BTT_MSE_KEY_LEN + 2 * BTT_MSE_PAD_MAX + 64];
    size_t n = 0;
    memcpy(s, r.pub, BTT_MSE_KEY_LEN);
    n += BTT_MSE_KEY_LEN;
    rnd_bytes(s + n, pad_b);
    n += pad_b;
    assert_int_equal(feed(a, s, n), BTT_OK);
    assert_false(btt_mse_done(a));
    size_t pad_a = ao.len - BTT_MSE_KEY_LEN;
    assert_int_equal(btt_mse_output(a, &ao), BTT_OK);

    /* A's third message, right behind PadA */
    uint8_t h[20], req3[20];
    ref_hash("req1", r.s, BTT_MSE_KEY_LEN, h);
    size_t at = BTT_MSE_KEY_LEN + pad_a;
    assert_true(ao.len >= at + MSG3_FIXED + ia_len);
    assert_memory_equal(ao.data + at, h, 20);
    ref_hash("req2", ih, 20, h);
    ref_hash("req3", r.s, BTT_MSE_KEY_LEN, req3);
    for (int i = 0; i < 20; i++) h[i] ^= req3[i];
    assert_memory_equal(ao.data + at + 20, h, 20);
    uint8_t *p = ao.data + at + 40;
    btt_rc4_crypt(&r.dec, p, 14);
    static const uint8_t zero[8];
    assert_memory_equal(p, zero, 8);
    assert_int_equal(get32(p + 8), provide);
    size_t pad_c = (size_t)p[12] << 8 | p[13];
    assert_true(pad_c <= BTT_MSE_PAD_MAX);
    assert_int_equal(ao.len, at + MSG3_FIXED + pad_c + ia_len);
    btt_rc4_crypt(&r.dec, p + 14, pad_c + 2 + ia_len);
    assert_int_equal((size_t)p[14 + pad_c] << 8 | p[15 + pad_c], ia_len);
    if (ia_len > 0) assert_memory_equal(p + 16 + pad_c, ia, ia_len);

    /* ENCRYPT(VC, crypto_select, len(PadD), PadD), then a stream message */
    n = 0;
    memset(s, 0, 8);
    n = 8;
    s[n++] = 0, s[n++] = 0, s[n++] = 0, s[n++] = (uint8_t)select;
    put16(s + n, pad_d);
    n += 2;
    rnd_bytes(s + n, pad_d);
    n += pad_d;
    btt_rc4_crypt(&r.enc, s, n);
    size_t hs_len = n;
    memcpy(s + n, stream_msg, sizeof stream_msg);
    if (select == BTT_MSE_RC4) btt_rc4_crypt(&r.enc, s + n, sizeof stream_msg);
    n += sizeof stream_msg;
    size_t c = 0;
    assert_int_equal(btt_mse_input(a, s, n, &c, &err), BTT_OK);
    assert_int_equal(c, hs_len);
    assert_true(btt_mse_done(a));
    btt_mse_result_get(a, &ra);
    assert_int_equal(ra.method, select);
    assert_memory_equal(ra.skey, ih, 20);
    uint8_t m[sizeof stream_msg];
    memcpy(m, s + hs_len, sizeof m);
    if (select == BTT_MSE_RC4) btt_rc4_crypt(&ra.dec, m, sizeof m);
    assert_memory_equal(m, stream_msg, sizeof m);
    if (select == BTT_MSE_RC4) btt_rc4_crypt(&ra.enc, m, sizeof m);
    if (select == BTT_MSE_RC4) btt_rc4_crypt(&r.dec, m, sizeof m);
    assert_memory_equal(m, stream_msg, sizeof m);

    btt_buf_free(&ao);
    BN_clear_free(r.x);
    btt_mse_free(a);
}

static void test_reference_peer(void **state)
{
    (void)state;
    ref_as_initiator(0, 0, 0, BOTH, BTT_MSE_PLAINTEXT);
    ref_as_initiator(BTT_MSE_PAD_MAX - 1, 0, 0, BOTH, BTT_MSE_PLAINTEXT);
    ref_as_initiator(BTT_MSE_PAD_MAX, BTT_MSE_PAD_MAX, 68, BOTH, BTT_MSE_RC4);
    ref_as_initiator(rnd() % 513, rnd() % 513, BTT_MSE_IA_MAX, BTT_MSE_RC4, BTT_MSE_PLAINTEXT);
    ref_as_initiator(rnd() % 513, 17, 1, BTT_MSE_PLAINTEXT, BTT_MSE_RC4);
    ref_as_receiver(BTT_MSE_PAD_MAX, BTT_MSE_PAD_MAX, 68, BOTH, BTT_MSE_RC4);
    ref_as_receiver(0, 0, 0, BOTH, BTT_MSE_PLAINTEXT);
    ref_as_receiver(rnd() % 513, rnd() % 513, BTT_MSE_IA_MAX, BTT_MSE_RC4, BTT_MSE_RC4);
    ref_as_receiver(rnd() % 513, 3, 5, BTT_MSE_PLAINTEXT, BTT_MSE_PLAINTEXT);
}

static void test_flip_vc(void **state)
{
    (void)state;
    for (int bit = 0; bit < 64; bit += 9) {
        hs h;
        hs_start(&h, BOTH, BOTH, BTT_MSE_RC4, 68);
        h.a2.data[40 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(feed(h.b, h.a2.data, h.a2.len), BTT_EPROTO);
        assert_false(btt_mse_done(h.b));
        hs_free(&h);
    }
}

/* Feeds p one byte at a time; returns how many bytes were fed when m failed (0: never). */
static size_t fail_point(btt_mse *m, const uint8_t *p, size_t n, btt_err want)
{
    for (size_t i = 0; i < n; i++) {
        btt_err e = feed(m, p + i, 1);
        if (e != BTT_OK) {
            assert_int_equal(e, want);
            return i + 1;
        }
        assert_false(btt_mse_done(m));
    }
    return 0;
}

static void test_flip_req1(void **state)
{
    (void)state;
    /* B never finds req1: it fails once 532 bytes after Ya are in, not before (a PadA of
     * 512 bytes is legal) */
    for (int k = 0; k < 20; k += 7) {
        hs h;
        hs_start(&h, BOTH, BOTH, BTT_MSE_RC4, 0);
        h.a2.data[k] ^= 0x10;
        static uint8_t all[4096];
        memset(all, 0, sizeof all);
        memcpy(all, h.a1.data, h.a1.len);
        memcpy(all + h.a1.len, h.a2.data, h.a2.len);
        /* a fresh B for the byte-by-byte run: h.b already has Ya */
        btt_mse *b;
        finder f;
        finder_init(&f, 0);
        btt_error err;
        assert_int_equal(btt_mse_receiver(&b, BOTH, BTT_MSE_RC4, find_cb, &f, &err), BTT_OK);
        size_t at = fail_point(b, all, sizeof all, BTT_EPROTO);
        assert_in_range(at, REQ1_LIMIT, REQ1_LIMIT + 1);
        assert_int_equal(f.calls, 0);
        btt_mse_free(b);
        /* and in two pieces: Ya PadA (already in), then the damaged message and zeros */
        size_t have = h.a1.len + h.a2.len;
        btt_err e = feed(h.b, h.a2.data, h.a2.len);
        if (have < REQ1_LIMIT) assert_int_equal(e, BTT_OK);
        if (e == BTT_OK) {
            assert_false(btt_mse_done(h.b));
            assert_int_equal(feed(h.b, all + have, REQ1_LIMIT + 1 - have), BTT_EPROTO);
        } else {
            assert_int_equal(e, BTT_EPROTO);
        }
        hs_free(&h);
    }
}

static void test_flip_req2(void **state)
{
    (void)state;
    /* req2 ^ req3 damaged: an SKEY B does not know */
    hs h;
    hs_start(&h, BOTH, BOTH, BTT_MSE_RC4, 68);
    h.a2.data[27] ^= 0x01;
    assert_int_equal(feed(h.b, h.a2.data, h.a2.len), BTT_ENOENT);
    assert_int_equal(h.f.calls, 1);
    uint8_t good[20];
    req2_of(h.f.ih[0], good);
    assert_memory_not_equal(h.f.last_req2, good, 20);
    good[7] ^= 0x01; /* the flip shows through: req3 masks req2 by xor */
    assert_memory_equal(h.f.last_req2, good, 20);
    hs_free(&h);
}

static void test_unknown_skey(void **state)
{
    (void)state;
    finder f;
    finder_init(&f, 0);
    uint8_t other[20];
    memset(other, 0xab, sizeof other);
    btt_mse *a, *b;
    btt_error err;
    assert_int_equal(btt_mse_initiator(&a, other, BOTH, NULL, 0, &err), BTT_OK);
    assert_int_equal(btt_mse_receiver(&b, BOTH, BTT_MSE_RC4, find_cb, &f, &err), BTT_OK);
    run r = {.mode = CHUNK_RANDOM, .tail = other, .tail_len = 0, .msg = other, .msg_len = 0};
    pipe_run(&r, a, b);
    assert_int_equal(r.err_b, BTT_ENOENT);
    assert_int_equal(r.err_a, BTT_OK);
    assert_false(btt_mse_done(a));
    assert_false(btt_mse_done(b));
    uint8_t want[20];
    req2_of(other, want);
    assert_int_equal(f.calls, 1);
    assert_memory_equal(f.last_req2, want, 20);
    run_free(&r);
    btt_mse_free(a);
    btt_mse_free(b);
}

static void test_flip_provide(void **state)
{
    (void)state;
    /* crypto_provide is bytes 8..11 of the encrypted block after the two hashes */
    static const struct {
        uint32_t provide, allowed, flip;
    } cases[] = {
        {BTT_MSE_RC4, BOTH, BTT_MSE_RC4},                 /* provide 0 */
        {BTT_MSE_PLAINTEXT, BOTH, BTT_MSE_PLAINTEXT},     /* provide 0 */
        {BTT_MSE_RC4, BTT_MSE_RC4, BTT_MSE_RC4 | BTT_MSE_PLAINTEXT}, /* only PLAINTEXT */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hs h;
        hs_start(&h, cases[i].provide, cases[i].allowed, BTT_MSE_RC4, 68);
        h.a2.data[40 + 11] ^= (uint8_t)cases[i].flip;
        assert_int_equal(feed(h.b, h.a2.data, h.a2.len), BTT_EPROTO);
        hs_free(&h);
    }
}

static void test_flip_lengths(void **state)
{
    (void)state;
    for (int which = 0; which < 4; which++) {
        hs h;
        hs_start(&h, BOTH, BOTH, BTT_MSE_RC4, 68);
        size_t pc = padc_len(&h);
        uint16_t now, bad;
        size_t at;
        if (which < 2) { /* len(PadC): 513, 0x8000 | len */
            now = (uint16_t)pc;
            bad = which == 0 ? BTT_MSE_PAD_MAX + 1 : (uint16_t)(0x8000 | pc);
            at = 40 + 12;
        } else { /* len(IA): BTT_MSE_IA_MAX + 1, 0x8000 | len */
            now = 68;
            bad = which == 2 ? BTT_MSE_IA_MAX + 1 : 0x8000 | 68;
            at = 40 + 14 + pc;
        }
        uint16_t x = now ^ bad;
        h.a2.data[at] ^= (uint8_t)(x >> 8);
        h.a2.data[at + 1] ^= (uint8_t)x;
        assert_int_equal(feed(h.b, h.a2.data, h.a2.len), BTT_EPROTO);
        assert_false(btt_mse_done(h.b));
        hs_free(&h);
    }
    /* control: the same steps with nothing flipped succeed, and len(PadC) is where it is */
    hs h;
    hs_start(&h, BOTH, BOTH, BTT_MSE_RC4, 68);
    hs_b_done(&h);
    assert_int_equal(feed(h.a, h.b2.data, h.b2.len), BTT_OK);
    assert_true(btt_mse_done(h.a));
    hs_free(&h);
}

static void test_flip_select(void **state)
{
    (void)state;
    /* crypto_select is bytes 8..11 of B's second message: it must be one method A offered */
    static const struct {
        uint32_t provide, prefer, flip;
    } cases[] = {
        {BOTH, BTT_MSE_RC4, BTT_MSE_PLAINTEXT},              /* select RC4 | PLAINTEXT */
        {BOTH, BTT_MSE_RC4, BTT_MSE_RC4},                    /* select 0 */
        {BOTH, BTT_MSE_PLAINTEXT, 0x80},                     /* an unknown bit */
        {BTT_MSE_RC4, BTT_MSE_RC4, BTT_MSE_RC4 | BTT_MSE_PLAINTEXT}, /* PLAINTEXT, not offered */
        {BTT_MSE_PLAINTEXT, BTT_MSE_PLAINTEXT, BTT_MSE_RC4 | BTT_MSE_PLAINTEXT}, /* RC4, not offered */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hs h;
        hs_start(&h, cases[i].provide, BOTH, cases[i].prefer, 0);
        hs_b_done(&h);
        h.b2.data[11] ^= (uint8_t)cases[i].flip;
        assert_int_equal(feed(h.a, h.b2.data, h.b2.len), BTT_EPROTO);
        assert_false(btt_mse_done(h.a));
        hs_free(&h);
    }
    /* len(PadD) of 513 */
    hs h;
    hs_start(&h, BOTH, BOTH, BTT_MSE_RC4, 0);
    hs_b_done(&h);
    uint16_t x = (uint16_t)((h.b2.len - MSG4_FIXED) ^ (BTT_MSE_PAD_MAX + 1));
    h.b2.data[12] ^= (uint8_t)(x >> 8);
    h.b2.data[13] ^= (uint8_t)x;
    assert_int_equal(feed(h.a, h.b2.data, h.b2.len), BTT_EPROTO);
    hs_free(&h);
}

static void test_random_bytes(void **state)
{
    (void)state;
    static uint8_t junk[1200];
    rnd_bytes(junk, sizeof junk);
    finder f;
    finder_init(&f, 0);
    btt_error err;
    btt_mse *b;
    /* all at once */
    assert_int_equal(btt_mse_receiver(&b, BOTH, BTT_MSE_RC4, find_cb, &f, &err), BTT_OK);
    size_t c;
    assert_int_equal(btt_mse_input(b, junk, sizeof junk, &c, &err), BTT_EPROTO);
    assert_false(btt_mse_done(b));
    btt_mse_free(b);
    /* in random chunks */
    assert_int_equal(btt_mse_receiver(&b, BOTH, BTT_MSE_RC4, find_cb, &f, &err), BTT_OK);
    btt_buf q;
    btt_buf_init(&q, 1 << 20);
    append(&q, junk, sizeof junk);
    size_t total = 0;
    btt_err e = BTT_OK;
    while (e == BTT_OK && q.len > 0) e = deliver(b, &q, CHUNK_RANDOM, &total);
    assert_int_equal(e, BTT_EPROTO);
    assert_true(total < REQ1_LIMIT + 1);
    btt_buf_free(&q);
    btt_mse_free(b);
    /* byte by byte: the failure comes at the req1 limit */
    assert_int_equal(btt_mse_receiver(&b, BOTH, BTT_MSE_RC4, find_cb, &f, &err), BTT_OK);
    assert_in_range(fail_point(b, junk, sizeof junk, BTT_EPROTO), REQ1_LIMIT, REQ1_LIMIT + 1);
    btt_mse_free(b);
    assert_int_equal(f.calls, 0);
}

static void test_vc_limit(void **state)
{
    (void)state;
    /* B's Yb and PadB, then zeros: A never finds VC. It fails once 520 bytes after Yb are in,
     * not before (PadB of 512 bytes, then VC, is legal). */
    hs h;
    hs_start(&h, BOTH, BOTH, BTT_MSE_RC4, 68);
    btt_mse *a;
    btt_error err;
    assert_int_equal(btt_mse_initiator(&a, h.f.ih[0], BOTH, NULL, 0, &err), BTT_OK);
    btt_buf out;
    hs_out(a, &out);
    static uint8_t all[2048];
    memset(all, 0, sizeof all);
    memcpy(all, h.b1.data, h.b1.len);
    assert_in_range(fail_point(a, all, sizeof all, BTT_EPROTO), VC_LIMIT, VC_LIMIT + 1);
    btt_buf_free(&out);
    btt_mse_free(a);
    /* the same, all at once */
    assert_int_equal(feed(h.a, all + h.b1.len, sizeof all - h.b1.len), BTT_EPROTO);
    hs_free(&h);
}

static void test_no_common_method(void **state)
{
    (void)state;
    finder f;
    finder_init(&f, 0);
    btt_mse *a, *b;
    btt_error err;
    assert_int_equal(btt_mse_initiator(&a, f.ih[2], BTT_MSE_RC4, NULL, 0, &err), BTT_OK);
    assert_int_equal(btt_mse_receiver(&b, BTT_MSE_PLAINTEXT, BTT_MSE_PLAINTEXT, find_cb, &f, &err), BTT_OK);
    run r = {.mode = CHUNK_ALL, .tail = f.ih[0], .tail_len = 0, .msg = f.ih[0], .msg_len = 0};
    pipe_run(&r, a, b);
    assert_int_equal(r.err_b, BTT_EPROTO);
    assert_false(btt_mse_done(b));
    run_free(&r);
    btt_mse_free(a);
    btt_mse_free(b);
}

static void test_bad_args(void **state)
{
    (void)state;
    static uint8_t ia[BTT_MSE_IA_MAX + 1];
    uint8_t ih[20] = {1};
    btt_mse *a = NULL;
    btt_error err;
    assert_int_not_equal(btt_mse_initiator(&a, ih, BOTH, ia, BTT_MSE_IA_MAX + 1, &err), BTT_OK);
    assert_int_not_equal(btt_mse_initiator(&a, ih, 0, NULL, 0, &err), BTT_OK);
    assert_int_not_equal(btt_mse_initiator(&a, ih, 0x04, NULL, 0, &err), BTT_OK);
    /* the largest IA is fine */
    assert_int_equal(btt_mse_initiator(&a, ih, BOTH, ia, BTT_MSE_IA_MAX, &err), BTT_OK);
    btt_mse_free(a);
}

static void test_pads_bounded(void **state)
{
    (void)state;
    uint8_t ih[20] = {9};
    uint8_t first_ya[BTT_MSE_KEY_LEN];
    for (int i = 0; i < 40; i++) {
        btt_mse *a;
        btt_error err;
        assert_int_equal(btt_mse_initiator(&a, ih, BOTH, NULL, 0, &err), BTT_OK);
        btt_buf out;
        btt_buf_init(&out, 1 << 20);
        assert_int_equal(btt_mse_output(a, &out), BTT_OK);
        assert_in_range(out.len, BTT_MSE_KEY_LEN, BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX);
        /* it was all there at once; output forgets what it gave */
        size_t len = out.len;
        assert_int_equal(btt_mse_output(a, &out), BTT_OK);
        assert_int_equal(out.len, len);
        /* a fresh private key each time */
        if (i == 0) memcpy(first_ya, out.data, BTT_MSE_KEY_LEN);
        else assert_memory_not_equal(out.data, first_ya, BTT_MSE_KEY_LEN);
        btt_buf_free(&out);
        btt_mse_free(a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rc4_rfc6229),       cmocka_unit_test(test_handshake_rc4),
        cmocka_unit_test(test_handshake_plaintext), cmocka_unit_test(test_handshake_both),
        cmocka_unit_test(test_handshake_allowed), cmocka_unit_test(test_flip_vc),
        cmocka_unit_test(test_flip_req1),         cmocka_unit_test(test_flip_req2),
        cmocka_unit_test(test_unknown_skey),      cmocka_unit_test(test_flip_provide),
        cmocka_unit_test(test_flip_lengths),      cmocka_unit_test(test_flip_select),
        cmocka_unit_test(test_random_bytes),      cmocka_unit_test(test_vc_limit),
        cmocka_unit_test(test_no_common_method),  cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_pads_bounded),      cmocka_unit_test(test_reference_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
