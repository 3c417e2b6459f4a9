/* mse.c - Message Stream Encryption / Protocol Encryption (btt/mse.h, docs/mse.md).
 *
 * Input is taken in pieces of known size ("need n bytes": Ya, the 20-byte masked SKEY hash, the
 * fixed fields, a pad, IA) or byte by byte while looking for a marker (HASH('req1', S) on B's side,
 * the encrypted VC on A's), so input is never taken past the handshake's last byte: what follows
 * belongs to the stream and stays with the caller. */
#include "btt/mse.h"

#include <openssl/bn.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "btt/sha1.h"

/* The 768-bit MODP prime of the protocol, generator 2. */
static const char prime_hex[] = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
                                "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC"
                                "6F44C42E9A63A36210000000000090563";

#define PRIV_LEN 20 /* 160-bit private keys */
#define VC_LEN 8
#define REQ1_WINDOW (BTT_MSE_PAD_MAX + 20) /* B: PadA then HASH('req1', S) */
#define VC_WINDOW (BTT_MSE_PAD_MAX + VC_LEN) /* A: PadB then ENCRYPT(VC) */

typedef enum {
    A_YB,      /* A: waiting for Yb */
    A_VC,      /* A: looking for ENCRYPT(VC) after PadB */
    A_SELECT,  /* A: crypto_select, len(PadD) */
    A_PADD,    /* A: PadD */
    B_YA,      /* B: waiting for Ya */
    B_REQ1,    /* B: looking for HASH('req1', S) after PadA */
    B_REQ2,    /* B: HASH('req2', SKEY) xor HASH('req3', S) */
    B_PROVIDE, /* B: ENCRYPT(VC, crypto_provide, len(PadC)) */
    B_PADC,    /* B: ENCRYPT(PadC, len(IA)) */
    B_IA,      /* B: ENCRYPT(IA) */
    DONE,
    FAILED
} mse_state;

struct btt_mse {
    mse_state state;
    uint8_t priv[PRIV_LEN];
    uint8_t pub[BTT_MSE_KEY_LEN];
    uint8_t secret[BTT_MSE_KEY_LEN];
    uint8_t skey[20];
    uint8_t marker[20]; /* what B_REQ1 / A_VC look for */
    uint32_t provide;   /* A: offered; B: what A offered */
    uint32_t allowed, prefer, method;
    btt_mse_find_skey find;
    void *ud;
    btt_rc4 enc, dec;
    btt_buf out;
    size_t need;   /* bytes wanted in `in` before the state can go on */
    size_t inlen;
    size_t padlen; /* B: len(PadC); A: len(PadD) */
    uint8_t in[BTT_MSE_IA_MAX > REQ1_WINDOW ? BTT_MSE_IA_MAX : REQ1_WINDOW];
    uint8_t ia[BTT_MSE_IA_MAX];
    size_t ia_len;
};

/* ---------------------------------------------------------------------- RC4 */

void btt_rc4_init(btt_rc4 *r, const uint8_t *key, size_t len)
{
    for (uint32_t i = 0; i < 256; i++) r->s[i] = i;
    uint32_t j = 0;
    for (uint32_t i = 0; i < 256; i++) {
        j = (j + r->s[i] + key[i % len]) & 255;
        uint32_t t = r->s[i];
        r->s[i] = r->s[j];
        r->s[j] = t;
    }
    r->i = r->j = 0;
}

/* One keystream byte: the classic step with i, j and the state held in words. */
#define RC4_STEP(s, i, j, out)                                                                     \
    do {                                                                                           \
        (i) = ((i) + 1) & 255;                                                                     \
        uint32_t ti_ = (s)[i];                                                                     \
        (j) = ((j) + ti_) & 255;                                                                   \
        uint32_t tj_ = (s)[j];                                                                     \
        (s)[i] = tj_;                                                                              \
        (s)[j] = ti_;                                                                              \
        (out) = (s)[(ti_ + tj_) & 255];                                                            \
    } while (0)

void btt_rc4_crypt(btt_rc4 *r, uint8_t *buf, size_t len)
{
    uint32_t i = r->i, j = r->j, *s = r->s, b;
    size_t k = 0;
    for (; k + 8 <= len; k += 8) { /* eight keystream bytes, one 64-bit XOR (little or big endian alike) */
        uint8_t ks[8];
        for (int q = 0; q < 8; q++) {
            RC4_STEP(s, i, j, b);
            ks[q] = (uint8_t)b;
        }
        uint64_t w, x;
        memcpy(&w, buf + k, 8);
        memcpy(&x, ks, 8);
        w ^= x;
        memcpy(buf + k, &w, 8);
    }
    for (; k < len; k++) {
        RC4_STEP(s, i, j, b);
        buf[k] ^= (uint8_t)b;
    }
    r->i = i;
    r->j = j;
}

void btt_rc4_discard(btt_rc4 *r, size_t n)
{
    uint8_t junk[256];
    while (n) {
        size_t k = n < sizeof junk ? n : sizeof junk;
        memset(junk, 0, k);
        btt_rc4_crypt(r, junk, k);
        n -= k;
    }
}

/* ---------------------------------------------------------------------- helpers */

/* HASH(tag, a, b): SHA-1 over the 4-byte tag and the parts (b may be NULL). */
static void hash3(const char tag[4], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[20])
{
    uint8_t buf[4 + BTT_MSE_KEY_LEN + 20];
    memcpy(buf, tag, 4);
    memcpy(buf + 4, a, alen);
    if (b) memcpy(buf + 4 + alen, b, blen);
    btt_sha1(buf, 4 + alen + (b ? blen : 0), out);
}

/* out = base^priv mod P as 96 bytes big-endian; base NULL means the generator. For a peer's
 * public key, refuses values outside [2, P - 2] (they would make the secret predictable). */
static bool modexp(const uint8_t *base, const uint8_t priv[PRIV_LEN], uint8_t out[BTT_MSE_KEY_LEN])
{
    bool ok = false;
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *p = NULL, *g = BN_new(), *x = BN_bin2bn(priv, PRIV_LEN, NULL), *r = BN_new(), *lim = BN_new();
    if (!ctx || !g || !x || !r || !lim || !BN_hex2bn(&p, prime_hex)) goto done;
    if (base) {
        if (!BN_bin2bn(base, BTT_MSE_KEY_LEN, g) || !BN_sub(lim, p, BN_value_one()) || !BN_sub_word(lim, 1)) goto done;
        if (BN_cmp(g, BN_value_one()) <= 0 || BN_cmp(g, lim) > 0) goto done;
    } else if (!BN_set_word(g, 2)) {
        goto done;
    }
    if (!BN_mod_exp(r, g, x, p, ctx) || BN_bn2binpad(r, out, BTT_MSE_KEY_LEN) != BTT_MSE_KEY_LEN) goto done;
    ok = true;
done:
    BN_free(lim);
    BN_free(r);
    BN_clear_free(x);
    BN_free(g);
    BN_free(p);
    BN_CTX_free(ctx);
    return ok;
}

static btt_err append_random(btt_buf *b, size_t n)
{
    if (btt_buf_reserve(b, n)) return BTT_ENOMEM;
    randombytes_buf(b->data + b->len, n);
    b->len += n;
    return BTT_OK;
}

/* Appends n bytes encrypted with enc. */
static btt_err append_enc(btt_mse *m, const void *p, size_t n)
{
    if (btt_buf_reserve(&m->out, n)) return BTT_ENOMEM;
    memcpy(m->out.data + m->out.len, p, n);
    btt_rc4_crypt(&m->enc, m->out.data + m->out.len, n);
    m->out.len += n;
    return BTT_OK;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* The two RC4 states once S and SKEY are known: A sends with keyA and reads with keyB. */
static void keys(btt_mse *m, bool initiator)
{
    uint8_t ka[20], kb[20];
    hash3("keyA", m->secret, sizeof m->secret, m->skey, 20, ka);
    hash3("keyB", m->secret, sizeof m->secret, m->skey, 20, kb);
    btt_rc4_init(&m->enc, initiator ? ka : kb, 20);
    btt_rc4_init(&m->dec, initiator ? kb : ka, 20);
    btt_rc4_discard(&m->enc, 1024);
    btt_rc4_discard(&m->dec, 1024);
    sodium_memzero(ka, sizeof ka);
    sodium_memzero(kb, sizeof kb);
}

static btt_mse *mse_new(void)
{
    if (sodium_init() < 0) return NULL;
    btt_mse *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    btt_buf_init(&m->out, 2 * BTT_MSE_KEY_LEN + 2 * BTT_MSE_PAD_MAX + BTT_MSE_IA_MAX + 256);
    randombytes_buf(m->priv, sizeof m->priv);
    if (!modexp(NULL, m->priv, m->pub) || btt_buf_append(&m->out, m->pub, sizeof m->pub) ||
        append_random(&m->out, randombytes_uniform(BTT_MSE_PAD_MAX + 1))) {
        btt_mse_free(m);
        return NULL;
    }
    return m;
}

/* ---------------------------------------------------------------------- constructors */

btt_err btt_mse_initiator(btt_mse **out, const uint8_t skey[20], uint32_t provide, const uint8_t *ia, size_t ia_len,
                          btt_error *err)
{
    *out = NULL;
    if (!provide || (provide & ~(BTT_MSE_PLAINTEXT | BTT_MSE_RC4)) || ia_len > BTT_MSE_IA_MAX || (ia_len && !ia))
        return btt_error_set(err, BTT_EINVAL, "mse: bad initiator parameters");
    btt_mse *m = mse_new();
    if (!m) return btt_error_set(err, BTT_ENOMEM, "mse: out of memory");
    memcpy(m->skey, skey, 20);
    m->provide = provide;
    if (ia_len) memcpy(m->ia, ia, ia_len);
    m->ia_len = ia_len;
    m->state = A_YB;
    m->need = BTT_MSE_KEY_LEN;
    *out = m;
    return BTT_OK;
}

btt_err btt_mse_receiver(btt_mse **out, uint32_t allowed, uint32_t prefer, btt_mse_find_skey find, void *ud,
                         btt_error *err)
{
    *out = NULL;
    if (!allowed || (allowed & ~(BTT_MSE_PLAINTEXT | BTT_MSE_RC4)) || !find)
        return btt_error_set(err, BTT_EINVAL, "mse: bad receiver parameters");
    btt_mse *m = mse_new();
    if (!m) return btt_error_set(err, BTT_ENOMEM, "mse: out of memory");
    m->allowed = allowed;
    m->prefer = prefer;
    m->find = find;
    m->ud = ud;
    m->state = B_YA;
    m->need = BTT_MSE_KEY_LEN;
    *out = m;
    return BTT_OK;
}

void btt_mse_free(btt_mse *m)
{
    if (!m) return;
    btt_buf_free(&m->out);
    sodium_memzero(m, sizeof *m);
    free(m);
}

/* ---------------------------------------------------------------------- steps */

static btt_err fail(btt_mse *m, btt_error *err, btt_err code, const char *why)
{
    m->state = FAILED;
    return btt_error_set(err, code, "mse: %s", why);
}

/* A, on Yb: the secret, the keys, and the third message. */
static btt_err a_on_yb(btt_mse *m, btt_error *err)
{
    if (!modexp(m->in, m->priv, m->secret)) return fail(m, err, BTT_EPROTO, "the peer's public key is out of range");
    keys(m, true);
    uint8_t h1[20], h2[20], h3[20];
    hash3("req1", m->secret, sizeof m->secret, NULL, 0, h1);
    hash3("req2", m->skey, 20, NULL, 0, h2);
    hash3("req3", m->secret, sizeof m->secret, NULL, 0, h3);
    for (int i = 0; i < 20; i++) h2[i] ^= h3[i];
    uint8_t fixed[VC_LEN + 4 + 2 + 2] = {0}; /* VC, crypto_provide, len(PadC) = 0, len(IA) */
    put32(fixed + VC_LEN, m->provide);
    fixed[VC_LEN + 6] = (uint8_t)(m->ia_len >> 8), fixed[VC_LEN + 7] = (uint8_t)m->ia_len;
    if (btt_buf_append(&m->out, h1, 20) || btt_buf_append(&m->out, h2, 20) || append_enc(m, fixed, sizeof fixed) ||
        (m->ia_len && append_enc(m, m->ia, m->ia_len)))
        return fail(m, err, BTT_ENOMEM, "out of memory");
    /* B's VC is its keystream's first 8 bytes (VC is zero) */
    btt_rc4 peek = m->dec;
    memset(m->marker, 0, VC_LEN);
    btt_rc4_crypt(&peek, m->marker, VC_LEN);
    m->state = A_VC;
    return BTT_OK;
}

/* B, on Ya: the secret, and Yb + PadB are already queued. */
static btt_err b_on_ya(btt_mse *m, btt_error *err)
{
    if (!modexp(m->in, m->priv, m->secret)) return fail(m, err, BTT_EPROTO, "the peer's public key is out of range");
    hash3("req1", m->secret, sizeof m->secret, NULL, 0, m->marker);
    m->state = B_REQ1;
    return BTT_OK;
}

static btt_err b_on_req2(btt_mse *m, btt_error *err)
{
    uint8_t h3[20], req2[20];
    hash3("req3", m->secret, sizeof m->secret, NULL, 0, h3);
    for (int i = 0; i < 20; i++) req2[i] = m->in[i] ^ h3[i];
    if (!m->find(m->ud, req2, m->skey)) return fail(m, err, BTT_ENOENT, "the peer asks for a torrent we do not have");
    keys(m, false);
    m->state = B_PROVIDE;
    m->need = VC_LEN + 4 + 2;
    return BTT_OK;
}

static btt_err b_on_provide(btt_mse *m, btt_error *err)
{
    btt_rc4_crypt(&m->dec, m->in, VC_LEN + 6);
    static const uint8_t zero[VC_LEN];
    if (memcmp(m->in, zero, VC_LEN)) return fail(m, err, BTT_EPROTO, "bad verification constant");
    m->provide = get32(m->in + VC_LEN);
    uint32_t common = m->provide & m->allowed;
    if (!common) return fail(m, err, BTT_EPROTO, "the peer offers no method we allow");
    m->method = (common & m->prefer) ? (common & m->prefer) : common;
    if (m->method == (BTT_MSE_RC4 | BTT_MSE_PLAINTEXT)) m->method = BTT_MSE_RC4;
    m->padlen = (size_t)m->in[VC_LEN + 4] << 8 | m->in[VC_LEN + 5];
    if (m->padlen > BTT_MSE_PAD_MAX) return fail(m, err, BTT_EPROTO, "PadC too long");
    m->state = B_PADC;
    m->need = m->padlen + 2;
    return BTT_OK;
}

/* B: after IA, the answer; done. */
static btt_err b_finish(btt_mse *m, btt_error *err)
{
    uint8_t fixed[VC_LEN + 4 + 2] = {0}; /* VC, crypto_select, len(PadD) = 0 */
    put32(fixed + VC_LEN, m->method);
    if (append_enc(m, fixed, sizeof fixed)) return fail(m, err, BTT_ENOMEM, "out of memory");
    m->state = DONE;
    return BTT_OK;
}

static btt_err b_on_padc(btt_mse *m, btt_error *err)
{
    btt_rc4_crypt(&m->dec, m->in, m->padlen + 2);
    m->ia_len = (size_t)m->in[m->padlen] << 8 | m->in[m->padlen + 1];
    if (m->ia_len > BTT_MSE_IA_MAX) return fail(m, err, BTT_EPROTO, "initial payload too long");
    if (!m->ia_len) return b_finish(m, err);
    m->state = B_IA;
    m->need = m->ia_len;
    return BTT_OK;
}

static btt_err b_on_ia(btt_mse *m, btt_error *err)
{
    btt_rc4_crypt(&m->dec, m->in, m->ia_len);
    memcpy(m->ia, m->in, m->ia_len);
    return b_finish(m, err);
}

static btt_err a_on_select(btt_mse *m, btt_error *err)
{
    btt_rc4_crypt(&m->dec, m->in, 6);
    uint32_t sel = get32(m->in);
    if ((sel != BTT_MSE_RC4 && sel != BTT_MSE_PLAINTEXT) || !(sel & m->provide))
        return fail(m, err, BTT_EPROTO, "the peer selected a method we did not offer");
    m->method = sel;
    m->padlen = (size_t)m->in[4] << 8 | m->in[5];
    if (m->padlen > BTT_MSE_PAD_MAX) return fail(m, err, BTT_EPROTO, "PadD too long");
    if (!m->padlen) {
        m->state = DONE;
        return BTT_OK;
    }
    m->state = A_PADD;
    m->need = m->padlen;
    return BTT_OK;
}

/* Looks for the marker at the end of what was taken (one byte at a time). */
static bool marker_at_end(const btt_mse *m, size_t len)
{
    return m->inlen >= len && !memcmp(m->in + m->inlen - len, m->marker, len);
}

/* ---------------------------------------------------------------------- input */

btt_err btt_mse_input(btt_mse *m, const uint8_t *in, size_t len, size_t *consumed, btt_error *err)
{
    size_t pos = 0;
    btt_err e = BTT_OK;
    *consumed = 0;
    if (m->state == FAILED) return btt_error_set(err, BTT_EPROTO, "mse: the handshake failed");
    while (pos < len && m->state != DONE && e == BTT_OK) {
        if (m->state == B_REQ1 || m->state == A_VC) { /* scanning: one byte at a time */
            bool b = m->state == B_REQ1;
            size_t mlen = b ? 20 : VC_LEN, window = b ? REQ1_WINDOW : VC_WINDOW;
            m->in[m->inlen++] = in[pos++];
            if (marker_at_end(m, mlen)) {
                m->inlen = 0;
                if (b) {
                    m->state = B_REQ2;
                    m->need = 20;
                } else {
                    uint8_t vc[VC_LEN] = {0};
                    btt_rc4_crypt(&m->dec, vc, VC_LEN); /* the VC just read */
                    m->state = A_SELECT;
                    m->need = 6;
                }
            } else if (m->inlen == window) {
                e = fail(m, err, BTT_EPROTO, b ? "no request hash within the padding limit"
                                               : "no verification constant within the padding limit");
            }
            continue;
        }
        size_t take = m->need - m->inlen;
        if (take > len - pos) take = len - pos;
        memcpy(m->in + m->inlen, in + pos, take);
        m->inlen += take;
        pos += take;
        if (m->inlen < m->need) break;
        m->inlen = 0;
        switch (m->state) {
        case A_YB: e = a_on_yb(m, err); break;
        case A_SELECT: e = a_on_select(m, err); break;
        case A_PADD:
            btt_rc4_crypt(&m->dec, m->in, m->padlen);
            m->state = DONE;
            break;
        case B_YA: e = b_on_ya(m, err); break;
        case B_REQ2: e = b_on_req2(m, err); break;
        case B_PROVIDE: e = b_on_provide(m, err); break;
        case B_PADC: e = b_on_padc(m, err); break;
        case B_IA: e = b_on_ia(m, err); break;
        default: e = fail(m, err, BTT_EPROTO, "bad state"); break;
        }
    }
    *consumed = pos;
    return e;
}

btt_err btt_mse_output(btt_mse *m, btt_buf *out)
{
    if (!m->out.len) return BTT_OK;
    if (btt_buf_append(out, m->out.data, m->out.len)) return BTT_ENOMEM;
    btt_buf_reset(&m->out);
    return BTT_OK;
}

bool btt_mse_done(const btt_mse *m) { return m->state == DONE; }

void btt_mse_result_get(const btt_mse *m, btt_mse_result *out)
{
    out->method = m->method;
    out->enc = m->enc;
    out->dec = m->dec;
    memcpy(out->skey, m->skey, 20);
    out->ia_len = m->state == DONE && m->find ? m->ia_len : 0;
    if (out->ia_len) memcpy(out->ia, m->ia, out->ia_len);
}
