/* ops.c - ledger operations: canonical bencoding, strict decoding, signing and verifying.
 *
 * docs/ledger-design.md, "Operations": one dict per operation with exactly the fields of its
 * type. Encoding writes into a fixed stack buffer (no allocation on the verify path); decoding
 * uses the strict bencode decoder and then insists on the exact field set, so the encoding of a
 * decoded operation is byte for byte the input. */
#include <sodium.h>
#include <string.h>

#include "btt/bencode.h"
#include "btt/ledger.h"

_Static_assert(sizeof BTT_LEDGER_OP_TAG - 1 == BTT_DOMAIN_TAG_LEN, "op tag length");

/* ---- the fields, in bencoding's (sorted) key order ---- */
enum {
    F_AMOUNT,
    F_CHANNEL,
    F_EXPIRY,
    F_NONCE,
    F_SIG,
    F_SIGNER,
    F_TO,
    F_TYPE,
    F_VOUCHER,
    F_WORK,
    F_COUNT
};
static const char *const field_names[F_COUNT] = {"amount", "channel", "expiry", "nonce", "sig",
                                                 "signer", "to",      "type",   "voucher", "work"};
#define B(f) (1u << (f))
#define COMMON (B(F_NONCE) | B(F_SIG) | B(F_SIGNER) | B(F_TYPE))

static const char *const type_names[] = {NULL, "transfer", "faucet", "open", "topup", "claim", "close", "refund"};
#define NUM_TYPES 8

/* Fields each type must carry (voucher is optional for close: see optional_fields). */
static unsigned type_fields(btt_ledger_op_type t)
{
    switch (t) {
    case BTT_LEDGER_TRANSFER: return COMMON | B(F_TO) | B(F_AMOUNT);
    case BTT_LEDGER_FAUCET: return COMMON | B(F_WORK);
    case BTT_LEDGER_OPEN: return COMMON | B(F_TO) | B(F_AMOUNT) | B(F_EXPIRY);
    case BTT_LEDGER_TOPUP: return COMMON | B(F_CHANNEL) | B(F_AMOUNT) | B(F_EXPIRY);
    case BTT_LEDGER_CLAIM: return COMMON | B(F_CHANNEL) | B(F_VOUCHER);
    case BTT_LEDGER_CLOSE: return COMMON | B(F_CHANNEL);
    case BTT_LEDGER_REFUND: return COMMON | B(F_CHANNEL);
    }
    return 0;
}

static unsigned optional_fields(btt_ledger_op_type t)
{
    return t == BTT_LEDGER_CLOSE ? B(F_VOUCHER) : 0;
}

const char *btt_ledger_op_type_name(btt_ledger_op_type type)
{
    return (unsigned)type < NUM_TYPES && type_names[type] ? type_names[type] : "?";
}

void btt_ledger_op_init(btt_ledger_op *op, btt_ledger_op_type type, const btt_account *signer, uint64_t nonce)
{
    memset(op, 0, sizeof *op);
    op->type = type;
    if (signer) op->signer = *signer;
    op->nonce = nonce;
}

/* ---------------------------------------------------------------- encoding */

/* A bounded writer: overflowing sets `bad` and stops writing. */
typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool bad;
} wbuf;

static void w_raw(wbuf *w, const void *p, size_t n)
{
    if (w->bad || n > w->cap - w->len) {
        w->bad = true;
        return;
    }
    memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void w_dec(wbuf *w, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char out[20];
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    w_raw(w, out, n);
}

static void w_int(wbuf *w, uint64_t v)
{
    if (v > (uint64_t)INT64_MAX) w->bad = true;
    w_raw(w, "i", 1);
    w_dec(w, v);
    w_raw(w, "e", 1);
}

static void w_str(wbuf *w, const void *p, size_t n)
{
    w_dec(w, n);
    w_raw(w, ":", 1);
    w_raw(w, p, n);
}

static void w_key(wbuf *w, int f)
{
    w_str(w, field_names[f], strlen(field_names[f]));
}

/* Encodes op (with or without its signature) into out; returns the length, 0 if unencodable. */
static size_t encode_fixed(const btt_ledger_op *op, bool with_sig, uint8_t *out, size_t cap)
{
    unsigned fields = type_fields(op->type);
    if (!fields) return 0;
    if (op->has_voucher) {
        if (!(optional_fields(op->type) & B(F_VOUCHER)) && !(fields & B(F_VOUCHER))) return 0;
        fields |= B(F_VOUCHER);
    } else if (fields & B(F_VOUCHER)) {
        return 0; /* claim needs its voucher */
    }
    if (!with_sig) fields &= ~B(F_SIG);
    wbuf w = {out, 0, cap, false};
    w_raw(&w, "d", 1);
    for (int f = 0; f < F_COUNT; f++) {
        if (!(fields & B(f))) continue;
        w_key(&w, f);
        switch (f) {
        case F_AMOUNT: w_int(&w, btt_amount_units(op->amount)); break;
        case F_CHANNEL: w_str(&w, op->channel, BTT_CHANNEL_ID_LEN); break;
        case F_EXPIRY: w_int(&w, op->expiry); break;
        case F_NONCE: w_int(&w, op->nonce); break;
        case F_SIG: w_str(&w, op->sig, BTT_SIG_LEN); break;
        case F_SIGNER: w_str(&w, op->signer.key, BTT_ACCOUNT_KEY_LEN); break;
        case F_TO: w_str(&w, op->to.key, BTT_ACCOUNT_KEY_LEN); break;
        case F_TYPE: w_str(&w, type_names[op->type], strlen(type_names[op->type])); break;
        case F_VOUCHER:
            w_raw(&w, "d6:amount", 9);
            w_int(&w, btt_amount_units(op->voucher.cumulative));
            w_raw(&w, "3:seq", 5);
            w_int(&w, op->voucher.seq);
            w_raw(&w, "3:sig", 5);
            w_str(&w, op->voucher.sig, BTT_SIG_LEN);
            w_raw(&w, "e", 1);
            break;
        case F_WORK: w_int(&w, op->work); break;
        }
    }
    w_raw(&w, "e", 1);
    return w.bad ? 0 : w.len;
}

btt_err btt_ledger_op_encode(const btt_ledger_op *op, btt_buf *b)
{
    uint8_t tmp[BTT_LEDGER_OP_MAX];
    size_t n = encode_fixed(op, true, tmp, sizeof tmp);
    if (!n) return BTT_EINVAL;
    return btt_buf_append(b, tmp, n);
}

size_t btt_ledger_op_message(const btt_ledger_op *op, const uint8_t ledger_id[BTT_LEDGER_ID_LEN],
                             uint8_t out[BTT_DOMAIN_TAG_LEN + BTT_LEDGER_ID_LEN + BTT_LEDGER_OP_MAX])
{
    memcpy(out, BTT_LEDGER_OP_TAG, BTT_DOMAIN_TAG_LEN);
    memcpy(out + BTT_DOMAIN_TAG_LEN, ledger_id, BTT_LEDGER_ID_LEN);
    size_t hdr = BTT_DOMAIN_TAG_LEN + BTT_LEDGER_ID_LEN;
    size_t n = encode_fixed(op, false, out + hdr, BTT_LEDGER_OP_MAX);
    return n ? hdr + n : 0;
}

btt_err btt_ledger_op_sign(btt_ledger_op *op, const uint8_t ledger_id[BTT_LEDGER_ID_LEN], const btt_wallet *w)
{
    op->signer = *btt_wallet_account(w);
    uint8_t msg[BTT_DOMAIN_TAG_LEN + BTT_LEDGER_ID_LEN + BTT_LEDGER_OP_MAX];
    size_t n = btt_ledger_op_message(op, ledger_id, msg);
    if (!n) return BTT_EINVAL;
    btt_wallet_sign(w, msg, n, op->sig);
    return BTT_OK;
}

bool btt_ledger_op_verify(const btt_ledger_op *op, const uint8_t ledger_id[BTT_LEDGER_ID_LEN])
{
    uint8_t msg[BTT_DOMAIN_TAG_LEN + BTT_LEDGER_ID_LEN + BTT_LEDGER_OP_MAX];
    size_t n = btt_ledger_op_message(op, ledger_id, msg);
    if (!n) return false;
    return crypto_sign_verify_detached(op->sig, msg, n, op->signer.key) == 0;
}

btt_err btt_ledger_op_id(const btt_ledger_op *op, const uint8_t ledger_id[BTT_LEDGER_ID_LEN], uint8_t out[32])
{
    uint8_t enc[BTT_LEDGER_OP_MAX];
    size_t n = encode_fixed(op, true, enc, sizeof enc);
    if (!n) return BTT_EINVAL;
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, NULL, 0, 32);
    crypto_generichash_blake2b_update(&st, ledger_id, BTT_LEDGER_ID_LEN);
    crypto_generichash_blake2b_update(&st, enc, n);
    crypto_generichash_blake2b_final(&st, out, 32);
    return BTT_OK;
}

/* ---------------------------------------------------------------- decoding */

static btt_err derr(btt_error *err, const char *what, const char *field)
{
    return btt_error_set(err, BTT_EINVAL, "ledger operation: %s%s%s", field ? field : "", field ? ": " : "", what);
}

static bool get_u63(const btt_ben *n, uint64_t *out)
{
    int64_t v;
    if (!btt_ben_get_int(n, &v) || v < 0) return false;
    *out = (uint64_t)v;
    return true;
}

static bool get_fixed(const btt_ben *n, uint8_t *out, size_t want)
{
    const uint8_t *p;
    size_t len;
    if (!btt_ben_get_str(n, &p, &len) || len != want) return false;
    memcpy(out, p, want);
    return true;
}

static bool get_amount(const btt_ben *n, btt_amount *out)
{
    uint64_t u;
    return get_u63(n, &u) && btt_amount_from_units(u, out);
}

static btt_err decode_voucher(const btt_ben *d, btt_voucher *v, btt_error *err)
{
    if (btt_ben_typeof(d) != BTT_BEN_DICT) return derr(err, "must be a dict", "voucher");
    if (btt_ben_count(d) != 3) return derr(err, "must have exactly amount, seq and sig", "voucher");
    if (!get_amount(btt_ben_dict_get(d, "amount"), &v->cumulative))
        return derr(err, "amount must be an integer number of units within the supply", "voucher");
    if (!get_u63(btt_ben_dict_get(d, "seq"), &v->seq)) return derr(err, "seq must be a non-negative integer", "voucher");
    if (!get_fixed(btt_ben_dict_get(d, "sig"), v->sig, BTT_SIG_LEN))
        return derr(err, "sig must be a 64-byte string", "voucher");
    return BTT_OK;
}

btt_err btt_ledger_op_decode(const uint8_t *p, size_t len, btt_ledger_op *out, btt_error *err)
{
    static const btt_ben_limits limits = {.max_depth = 2, .max_nodes = 64, .max_input = BTT_LEDGER_OP_MAX};
    btt_ben_doc *doc = NULL;
    btt_err e = btt_ben_decode(p, len, 0, &limits, &doc, err);
    if (e) {
        btt_error_prefix(err, "ledger operation");
        return e == BTT_ETOOBIG ? e : BTT_EINVAL;
    }
    const btt_ben *root = btt_ben_root(doc);
    btt_ledger_op op;
    memset(&op, 0, sizeof op);
    e = BTT_OK;

    const uint8_t *tp;
    size_t tlen;
    if (btt_ben_typeof(root) != BTT_BEN_DICT) {
        e = derr(err, "must be a dict", NULL);
        goto out;
    }
    if (!btt_ben_get_str(btt_ben_dict_get(root, "type"), &tp, &tlen)) {
        e = derr(err, "missing or not a string", "type");
        goto out;
    }
    for (int t = 1; t < NUM_TYPES; t++)
        if (strlen(type_names[t]) == tlen && memcmp(type_names[t], tp, tlen) == 0) op.type = (btt_ledger_op_type)t;
    if (!op.type) {
        e = derr(err, "unknown operation type", "type");
        goto out;
    }
    unsigned required = type_fields(op.type), allowed = required | optional_fields(op.type), seen = 0;

    for (const btt_ben *k = btt_ben_dict_first(root); k; k = btt_ben_dict_next(k)) {
        const uint8_t *kp;
        size_t klen;
        (void)btt_ben_get_str(k, &kp, &klen);
        int f = -1;
        for (int i = 0; i < F_COUNT; i++)
            if (strlen(field_names[i]) == klen && memcmp(field_names[i], kp, klen) == 0) f = i;
        if (f < 0 || !(allowed & B(f))) {
            e = btt_error_set(err, BTT_EINVAL, "ledger operation: unexpected key '%.*s' in a %s", klen > 32 ? 32 : (int)klen,
                              (const char *)kp, type_names[op.type]);
            goto out;
        }
        seen |= B(f);
        const btt_ben *v = btt_ben_dict_value(k);
        bool ok = true;
        const char *why = NULL;
        switch (f) {
        case F_AMOUNT:
            ok = get_amount(v, &op.amount), why = "must be an integer number of units within the supply";
            break;
        case F_CHANNEL: ok = get_fixed(v, op.channel, BTT_CHANNEL_ID_LEN), why = "must be a 32-byte string"; break;
        case F_EXPIRY: ok = get_u63(v, &op.expiry), why = "must be a non-negative integer"; break;
        case F_NONCE: ok = get_u63(v, &op.nonce), why = "must be a non-negative integer"; break;
        case F_SIG: ok = get_fixed(v, op.sig, BTT_SIG_LEN), why = "must be a 64-byte string"; break;
        case F_SIGNER: ok = get_fixed(v, op.signer.key, BTT_ACCOUNT_KEY_LEN), why = "must be a 32-byte string"; break;
        case F_TO: ok = get_fixed(v, op.to.key, BTT_ACCOUNT_KEY_LEN), why = "must be a 32-byte string"; break;
        case F_TYPE: break;
        case F_VOUCHER:
            e = decode_voucher(v, &op.voucher, err);
            if (e) goto out;
            op.has_voucher = true;
            break;
        case F_WORK: ok = get_u63(v, &op.work), why = "must be a non-negative integer"; break;
        }
        if (!ok) {
            e = derr(err, why, field_names[f]);
            goto out;
        }
    }
    if ((seen & required) != required) {
        for (int f = 0; f < F_COUNT; f++)
            if ((required & B(f)) && !(seen & B(f))) {
                e = btt_error_set(err, BTT_EINVAL, "ledger operation: a %s needs '%s'", type_names[op.type],
                                  field_names[f]);
                break;
            }
        goto out;
    }
    if (op.has_voucher) memcpy(op.voucher.channel, op.channel, BTT_CHANNEL_ID_LEN);
    *out = op;
out:
    btt_ben_free(doc);
    return e;
}
