/* speed_msg.c - BitTorrent Speed message codec (btt/speed_msg.h, docs/speed-protocol.md). */
#include "btt/speed_msg.h"

#include <string.h>

#include <sodium.h>

static const char *const type_names[] = {"unknown", "pop", "reserve", "proof", "bid",
                                         "bid_response", "channel", "pay", "refuse"};

const char *btt_speed_type_name(btt_speed_type t)
{
    return (unsigned)t < sizeof type_names / sizeof *type_names ? type_names[t] : "unknown";
}

/* ------------------------------------------------------------------ field readers */

static bool get_uint(const btt_ben *d, const char *key, uint64_t max, uint64_t *out)
{
    int64_t v;
    if (!btt_ben_get_int(btt_ben_dict_get(d, key), &v) || v < 0 || (uint64_t)v > max) return false;
    *out = (uint64_t)v;
    return true;
}

static bool get_u32(const btt_ben *d, const char *key, uint32_t *out)
{
    uint64_t v;
    if (!get_uint(d, key, UINT32_MAX, &v)) return false;
    *out = (uint32_t)v;
    return true;
}

static bool get_bytes(const btt_ben *d, const char *key, void *out, size_t len)
{
    const uint8_t *p;
    size_t n;
    if (!btt_ben_get_str(btt_ben_dict_get(d, key), &p, &n) || n != len) return false;
    memcpy(out, p, len);
    return true;
}

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e) return false;
    return true;
}

/* A printable string of at most max bytes into out (NUL-terminated); spaces allowed if spaces. */
static bool get_text(const btt_ben *d, const char *key, char *out, size_t max, bool spaces)
{
    const uint8_t *p;
    size_t n;
    if (!btt_ben_get_str(btt_ben_dict_get(d, key), &p, &n) || n > max || !printable(p, n)) return false;
    if (!spaces && memchr(p, ' ', n)) return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* ------------------------------------------------------------------------- hello */

btt_err btt_speed_hello_build(btt_buf *b, const btt_speed_hello *h)
{
    size_t url_len = strnlen(h->url, sizeof h->url);
    if (url_len > BTT_SPEED_URL_MAX || !printable((const uint8_t *)h->url, url_len)) return BTT_EINVAL;
    btt_err e = btt_benc_dict(b);
    e |= btt_benc_cstr(b, "ch");
    e |= btt_benc_str(b, h->ch, sizeof h->ch);
    e |= btt_benc_cstr(b, "ledger");
    e |= btt_benc_str(b, h->ledger, sizeof h->ledger);
    e |= btt_benc_cstr(b, "pk");
    e |= btt_benc_str(b, h->pk.key, sizeof h->pk.key);
    if (url_len) {
        e |= btt_benc_cstr(b, "url");
        e |= btt_benc_str(b, h->url, url_len);
    }
    e |= btt_benc_cstr(b, "v");
    e |= btt_benc_int(b, BTT_SPEED_VERSION);
    e |= btt_benc_end(b);
    return e ? BTT_ENOMEM : BTT_OK;
}

btt_err btt_speed_hello_parse(const btt_ben *d, btt_speed_hello *out, btt_error *err)
{
    btt_speed_hello h;
    memset(&h, 0, sizeof h);
    uint64_t v;
    if (!d || btt_ben_typeof(d) != BTT_BEN_DICT)
        return btt_error_set(err, BTT_EPROTO, "btt_speed: handshake value is not a dictionary");
    if (!get_uint(d, "v", INT64_MAX, &v) || v != BTT_SPEED_VERSION)
        return btt_error_set(err, BTT_EPROTO, "btt_speed: missing or unsupported version");
    if (!get_bytes(d, "pk", h.pk.key, sizeof h.pk.key) || !get_bytes(d, "ledger", h.ledger, sizeof h.ledger) ||
        !get_bytes(d, "ch", h.ch, sizeof h.ch))
        return btt_error_set(err, BTT_EPROTO, "btt_speed: pk, ledger or ch missing or of the wrong length");
    if (btt_ben_dict_get(d, "url") && !get_text(d, "url", h.url, BTT_SPEED_URL_MAX, false))
        return btt_error_set(err, BTT_EPROTO, "btt_speed: url is not printable ASCII of at most 255 bytes");
    *out = h;
    return BTT_OK;
}

/* ---------------------------------------------------------------------- messages */

static btt_speed_type type_of(const uint8_t *p, size_t n)
{
    for (size_t t = BTT_SPEED_POP; t < sizeof type_names / sizeof *type_names; t++)
        if (strlen(type_names[t]) == n && !memcmp(type_names[t], p, n)) return (btt_speed_type)t;
    return BTT_SPEED_UNKNOWN;
}

static bool parse_fields(const btt_ben *d, btt_speed_msg *m)
{
    uint64_t v;
    switch (m->type) {
    case BTT_SPEED_POP:
        return get_bytes(d, "sig", m->sig, sizeof m->sig);
    case BTT_SPEED_RESERVE:
        return get_uint(d, "price", INT64_MAX, &m->rate) && get_u32(d, "piece", &m->piece) &&
               get_u32(d, "chunk", &m->chunk);
    case BTT_SPEED_PROOF:
        return get_u32(d, "piece", &m->piece) && get_u32(d, "chunk", &m->chunk) &&
               get_bytes(d, "hash", m->hash, sizeof m->hash);
    case BTT_SPEED_BID:
        return get_uint(d, "rate", INT64_MAX, &m->rate);
    case BTT_SPEED_BID_RESPONSE:
        if (!get_uint(d, "rate", INT64_MAX, &m->rate) || !get_bytes(d, "payee", m->payee.key, sizeof m->payee.key) ||
            !get_uint(d, "lock", BTT_SUPPLY_UNITS, &v) || !get_uint(d, "expiry", INT64_MAX, &m->expiry))
            return false;
        m->lock = BTT_AMOUNT_UNITS(v);
        return true;
    case BTT_SPEED_CHANNEL:
        return get_bytes(d, "id", m->voucher.channel, sizeof m->voucher.channel);
    case BTT_SPEED_PAY:
        if (!get_bytes(d, "id", m->voucher.channel, sizeof m->voucher.channel) ||
            !get_uint(d, "amount", BTT_SUPPLY_UNITS, &v) || !get_uint(d, "seq", INT64_MAX, &m->voucher.seq) ||
            m->voucher.seq == 0 || !get_bytes(d, "sig", m->voucher.sig, sizeof m->voucher.sig) ||
            !get_u32(d, "piece", &m->piece))
            return false;
        m->voucher.cumulative = BTT_AMOUNT_UNITS(v);
        return true;
    case BTT_SPEED_REFUSE:
        if (!get_text(d, "code", m->code, BTT_SPEED_CODE_MAX, false) || !m->code[0]) return false;
        if (btt_ben_dict_get(d, "id")) {
            if (!get_bytes(d, "id", m->voucher.channel, sizeof m->voucher.channel)) return false;
            m->has_channel = true;
        }
        return !btt_ben_dict_get(d, "msg") || get_text(d, "msg", m->text, BTT_SPEED_TEXT_MAX, true);
    case BTT_SPEED_UNKNOWN:
        return true;
    }
    return false;
}

btt_err btt_speed_msg_parse(const uint8_t *p, size_t len, btt_speed_msg *out, btt_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > BTT_SPEED_MSG_MAX)
        return btt_error_set(err, BTT_EPROTO, "btt_speed: message of %zu bytes (at most %d)", len, BTT_SPEED_MSG_MAX);
    btt_ben_limits lim = {4, 64, len};
    btt_ben_doc *doc;
    if (btt_ben_decode(p, len, 0, &lim, &doc, err) != BTT_OK) {
        if (err) err->code = BTT_EPROTO;
        return BTT_EPROTO;
    }
    const btt_ben *d = btt_ben_root(doc);
    const uint8_t *t;
    size_t tn;
    btt_err e = BTT_OK;
    if (btt_ben_typeof(d) != BTT_BEN_DICT || !btt_ben_get_str(btt_ben_dict_get(d, "t"), &t, &tn)) {
        e = btt_error_set(err, BTT_EPROTO, "btt_speed: not a dictionary with a string \"t\"");
    } else {
        out->type = type_of(t, tn);
        if (!parse_fields(d, out))
            e = btt_error_set(err, BTT_EPROTO, "btt_speed: %s: a field is missing, mistyped or out of range",
                              btt_speed_type_name(out->type));
    }
    btt_ben_free(doc);
    if (e != BTT_OK) memset(out, 0, sizeof *out);
    return e;
}

/* Appends m's fields (the dict's inside); BTT_EINVAL for values parse would refuse. */
static btt_err build_fields(btt_buf *b, const btt_speed_msg *m)
{
    const uint64_t lock = btt_amount_units(m->lock), amount = btt_amount_units(m->voucher.cumulative);
    size_t code_len = strnlen(m->code, sizeof m->code), text_len = strnlen(m->text, sizeof m->text);
    if (m->rate > INT64_MAX || m->expiry > INT64_MAX || m->voucher.seq > INT64_MAX || lock > BTT_SUPPLY_UNITS ||
        amount > BTT_SUPPLY_UNITS)
        return BTT_EINVAL;
    btt_err e = BTT_OK;
    switch (m->type) {
    case BTT_SPEED_POP:
        e |= btt_benc_cstr(b, "sig");
        e |= btt_benc_str(b, m->sig, sizeof m->sig);
        break;
    case BTT_SPEED_RESERVE:
        e |= btt_benc_cstr(b, "chunk");
        e |= btt_benc_int(b, m->chunk);
        e |= btt_benc_cstr(b, "piece");
        e |= btt_benc_int(b, m->piece);
        e |= btt_benc_cstr(b, "price");
        e |= btt_benc_int(b, (int64_t)m->rate);
        break;
    case BTT_SPEED_PROOF:
        e |= btt_benc_cstr(b, "chunk");
        e |= btt_benc_int(b, m->chunk);
        e |= btt_benc_cstr(b, "hash");
        e |= btt_benc_str(b, m->hash, sizeof m->hash);
        e |= btt_benc_cstr(b, "piece");
        e |= btt_benc_int(b, m->piece);
        break;
    case BTT_SPEED_BID:
        e |= btt_benc_cstr(b, "rate");
        e |= btt_benc_int(b, (int64_t)m->rate);
        break;
    case BTT_SPEED_BID_RESPONSE:
        e |= btt_benc_cstr(b, "expiry");
        e |= btt_benc_int(b, (int64_t)m->expiry);
        e |= btt_benc_cstr(b, "lock");
        e |= btt_benc_int(b, (int64_t)lock);
        e |= btt_benc_cstr(b, "payee");
        e |= btt_benc_str(b, m->payee.key, sizeof m->payee.key);
        e |= btt_benc_cstr(b, "rate");
        e |= btt_benc_int(b, (int64_t)m->rate);
        break;
    case BTT_SPEED_CHANNEL:
        e |= btt_benc_cstr(b, "id");
        e |= btt_benc_str(b, m->voucher.channel, sizeof m->voucher.channel);
        break;
    case BTT_SPEED_PAY:
        if (m->voucher.seq == 0) return BTT_EINVAL;
        e |= btt_benc_cstr(b, "amount");
        e |= btt_benc_int(b, (int64_t)amount);
        e |= btt_benc_cstr(b, "id");
        e |= btt_benc_str(b, m->voucher.channel, sizeof m->voucher.channel);
        e |= btt_benc_cstr(b, "piece");
        e |= btt_benc_int(b, m->piece);
        e |= btt_benc_cstr(b, "seq");
        e |= btt_benc_int(b, (int64_t)m->voucher.seq);
        e |= btt_benc_cstr(b, "sig");
        e |= btt_benc_str(b, m->voucher.sig, sizeof m->voucher.sig);
        break;
    case BTT_SPEED_REFUSE:
        if (!code_len || code_len > BTT_SPEED_CODE_MAX || memchr(m->code, ' ', code_len) ||
            !printable((const uint8_t *)m->code, code_len) || !printable((const uint8_t *)m->text, text_len))
            return BTT_EINVAL;
        e |= btt_benc_cstr(b, "code");
        e |= btt_benc_str(b, m->code, code_len);
        if (m->has_channel) {
            e |= btt_benc_cstr(b, "id");
            e |= btt_benc_str(b, m->voucher.channel, sizeof m->voucher.channel);
        }
        if (text_len) {
            e |= btt_benc_cstr(b, "msg");
            e |= btt_benc_str(b, m->text, text_len);
        }
        break;
    default:
        return BTT_EINVAL;
    }
    return e ? BTT_ENOMEM : BTT_OK;
}

btt_err btt_speed_msg_build(btt_buf *b, const btt_speed_msg *m)
{
    size_t start = b->len;
    btt_err e = btt_benc_dict(b);
    if (e == BTT_OK) e = build_fields(b, m);
    if (e == BTT_OK) e = btt_benc_cstr(b, "t");
    if (e == BTT_OK) e = btt_benc_cstr(b, btt_speed_type_name(m->type));
    if (e == BTT_OK) e = btt_benc_end(b);
    if (e != BTT_OK) b->len = start; /* nothing half-written */
    return e;
}

/* ---------------------------------------------------------------- proof of possession */

void btt_speed_pop_message(const uint8_t ledger[BTT_LEDGER_ID_LEN], const uint8_t info_hash[20],
                           const uint8_t receiver_ch[BTT_SPEED_CHALLENGE_LEN], const btt_account *sender,
                           uint8_t out[BTT_SPEED_POP_MSG_LEN])
{
    uint8_t *p = out;
    memcpy(p, BTT_SPEED_POP_TAG, 16);
    p += 16;
    memcpy(p, ledger, BTT_LEDGER_ID_LEN);
    p += BTT_LEDGER_ID_LEN;
    memcpy(p, info_hash, 20);
    p += 20;
    memcpy(p, receiver_ch, BTT_SPEED_CHALLENGE_LEN);
    p += BTT_SPEED_CHALLENGE_LEN;
    memcpy(p, sender->key, BTT_ACCOUNT_KEY_LEN);
}

void btt_speed_pop_sign(const btt_wallet *w, const uint8_t ledger[BTT_LEDGER_ID_LEN], const uint8_t info_hash[20],
                        const uint8_t receiver_ch[BTT_SPEED_CHALLENGE_LEN], uint8_t sig[BTT_SIG_LEN])
{
    uint8_t msg[BTT_SPEED_POP_MSG_LEN];
    btt_speed_pop_message(ledger, info_hash, receiver_ch, btt_wallet_account(w), msg);
    btt_wallet_sign(w, msg, sizeof msg, sig);
}

bool btt_speed_pop_verify(const btt_account *sender, const uint8_t ledger[BTT_LEDGER_ID_LEN],
                          const uint8_t info_hash[20], const uint8_t receiver_ch[BTT_SPEED_CHALLENGE_LEN],
                          const uint8_t sig[BTT_SIG_LEN])
{
    uint8_t msg[BTT_SPEED_POP_MSG_LEN];
    btt_speed_pop_message(ledger, info_hash, receiver_ch, sender, msg);
    return crypto_sign_verify_detached(sig, msg, sizeof msg, sender->key) == 0;
}
