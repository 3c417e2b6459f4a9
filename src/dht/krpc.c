/* krpc.c - the KRPC message codec (BEP 5), with nodes6/want (BEP 32), ro (BEP 43) and the
 * responder's view of our address, ip (BEP 42).
 *
 * BEP 5: "A KRPC message is a single dictionary with three keys common to every message and
 * additional keys depending on the type of message. Every message has a key "t" with a string
 * value representing a transaction ID. ... Every message also has a key "y" with a single
 * character value describing the type of message. The value of the "y" key is one of "q" for
 * query, "r" for response, or "e" for error."
 *
 * The decoder rejects anything it cannot represent exactly (so decode -> encode -> decode is
 * the identity on the fields) and bounds every list before looking at its elements. */
#include "btt/dht.h"

#include <string.h>

#include "btt/bencode.h"

/* 4096 bytes hold at most 2048 values ("0:" each); nesting: message -> a/r -> values -> string */
static const btt_ben_limits krpc_limits = {8, 2048, BTT_DHT_MAX_INPUT};

#define NODE4_LEN 26
#define NODE6_LEN 38

static btt_err bad(btt_error *err, const char *what)
{
    return btt_error_set(err, BTT_EPROTO, "krpc: %s", what);
}

static btt_err too_big(btt_error *err, const char *what)
{
    return btt_error_set(err, BTT_ETOOBIG, "krpc: %s", what);
}

static bool str_is(const uint8_t *p, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(p, s, len) == 0;
}

/* A string of exactly n bytes under key in dict. */
static bool get_fixed(const btt_ben *dict, const char *key, uint8_t *out, size_t n)
{
    const uint8_t *p;
    size_t len;
    if (!btt_ben_get_str(btt_ben_dict_get(dict, key), &p, &len) || len != n) return false;
    memcpy(out, p, n);
    return true;
}

static btt_err get_nodes(const btt_ben *v, uint8_t family, btt_dht_node_info *out, uint8_t *count,
                         btt_error *err)
{
    const uint8_t *p;
    size_t len;
    const size_t rec = family == 6 ? NODE6_LEN : NODE4_LEN;
    if (!btt_ben_get_str(v, &p, &len)) return bad(err, family == 6 ? "nodes6 is not a string" : "nodes is not a string");
    if (len % rec) return bad(err, family == 6 ? "nodes6 length is not a multiple of 38" : "nodes length is not a multiple of 26");
    if (len / rec > BTT_KRPC_MAX_NODES) return too_big(err, "too many nodes");
    *count = (uint8_t)(len / rec);
    for (size_t i = 0; i < *count; i++, p += rec) {
        memcpy(out[i].id, p, BTT_DHT_ID_LEN);
        if (family == 6) btt_addr_from_compact6(p + BTT_DHT_ID_LEN, &out[i].addr);
        else btt_addr_from_compact4(p + BTT_DHT_ID_LEN, &out[i].addr);
    }
    return BTT_OK;
}

static btt_err get_values(const btt_ben *v, btt_krpc_msg *m, btt_error *err)
{
    if (btt_ben_typeof(v) != BTT_BEN_LIST) return bad(err, "values is not a list");
    if (btt_ben_count(v) > BTT_KRPC_MAX_VALUES) return too_big(err, "too many values");
    for (const btt_ben *e = btt_ben_list_first(v); e; e = btt_ben_next(e)) {
        const uint8_t *p;
        size_t len;
        if (!btt_ben_get_str(e, &p, &len)) return bad(err, "a value is not a string");
        btt_addr *a = &m->values[m->num_values++];
        if (len == 6) btt_addr_from_compact4(p, a);
        else if (len == 18) btt_addr_from_compact6(p, a);
        else return bad(err, "a value is neither 6 nor 18 bytes");
    }
    return BTT_OK;
}

static btt_err get_want(const btt_ben *v, btt_krpc_msg *m, btt_error *err)
{
    if (btt_ben_typeof(v) != BTT_BEN_LIST) return bad(err, "want is not a list");
    if (btt_ben_count(v) > 8) return too_big(err, "want has too many entries");
    for (const btt_ben *e = btt_ben_list_first(v); e; e = btt_ben_next(e)) {
        const uint8_t *p;
        size_t len;
        if (!btt_ben_get_str(e, &p, &len)) return bad(err, "a want entry is not a string");
        if (str_is(p, len, "n4")) m->want |= BTT_KRPC_WANT_N4;
        else if (str_is(p, len, "n6")) m->want |= BTT_KRPC_WANT_N6;
        /* other families are not ours to answer: ignored */
    }
    return BTT_OK;
}

static btt_err decode_query(const btt_ben *root, btt_krpc_msg *m, btt_error *err)
{
    const uint8_t *q;
    size_t qlen;
    if (!btt_ben_get_str(btt_ben_dict_get(root, "q"), &q, &qlen)) return bad(err, "query without a method q");
    const btt_ben *a = btt_ben_dict_get(root, "a");
    if (btt_ben_typeof(a) != BTT_BEN_DICT) return bad(err, "query without an argument dict a");
    if (!get_fixed(a, "id", m->id, BTT_DHT_ID_LEN)) return bad(err, "query id is not 20 bytes");

    if (str_is(q, qlen, "ping")) m->method = BTT_KRPC_PING;
    else if (str_is(q, qlen, "find_node")) m->method = BTT_KRPC_FIND_NODE;
    else if (str_is(q, qlen, "get_peers")) m->method = BTT_KRPC_GET_PEERS;
    else if (str_is(q, qlen, "announce_peer")) m->method = BTT_KRPC_ANNOUNCE_PEER;
    else {
        m->method = BTT_KRPC_UNKNOWN;
        return BTT_OK;
    }

    btt_err e;
    const btt_ben *want = btt_ben_dict_get(a, "want");
    if (want && (m->method == BTT_KRPC_FIND_NODE || m->method == BTT_KRPC_GET_PEERS) &&
        (e = get_want(want, m, err)))
        return e;

    switch (m->method) {
    case BTT_KRPC_FIND_NODE:
        if (!get_fixed(a, "target", m->target, BTT_DHT_ID_LEN)) return bad(err, "find_node target is not 20 bytes");
        break;
    case BTT_KRPC_GET_PEERS:
        if (!get_fixed(a, "info_hash", m->target, BTT_DHT_ID_LEN)) return bad(err, "get_peers info_hash is not 20 bytes");
        break;
    case BTT_KRPC_ANNOUNCE_PEER: {
        if (!get_fixed(a, "info_hash", m->target, BTT_DHT_ID_LEN))
            return bad(err, "announce_peer info_hash is not 20 bytes");
        int64_t v;
        const btt_ben *ip = btt_ben_dict_get(a, "implied_port");
        if (ip) {
            if (!btt_ben_get_int(ip, &v) || v < 0 || v > 1) return bad(err, "implied_port is not 0 or 1");
            m->implied_port = v == 1;
        }
        /* BEP 5: "If it is present and non-zero, the port argument should be ignored" - it
         * must still be an integer in range, so that what we accept we can encode again */
        if (!btt_ben_get_int(btt_ben_dict_get(a, "port"), &v) || v < 0 || v > 65535 ||
            (v == 0 && !m->implied_port))
            return bad(err, "announce_peer port is not 1..65535");
        m->port = (uint16_t)v;
        const uint8_t *t;
        size_t tlen;
        if (!btt_ben_get_str(btt_ben_dict_get(a, "token"), &t, &tlen) || tlen == 0)
            return bad(err, "announce_peer without a token");
        if (tlen > BTT_KRPC_MAX_TOKEN) return too_big(err, "token too long");
        m->has_token = true;
        m->token_len = (uint8_t)tlen;
        memcpy(m->token, t, tlen);
        break;
    }
    default:
        break;
    }
    return BTT_OK;
}

static btt_err decode_response(const btt_ben *root, btt_krpc_msg *m, btt_error *err)
{
    const btt_ben *r = btt_ben_dict_get(root, "r");
    if (btt_ben_typeof(r) != BTT_BEN_DICT) return bad(err, "response without a dict r");
    if (!get_fixed(r, "id", m->id, BTT_DHT_ID_LEN)) return bad(err, "response id is not 20 bytes");
    btt_err e;
    const btt_ben *v;
    if ((v = btt_ben_dict_get(r, "nodes")) && (e = get_nodes(v, 4, m->nodes, &m->num_nodes, err))) return e;
    if ((v = btt_ben_dict_get(r, "nodes6")) && (e = get_nodes(v, 6, m->nodes6, &m->num_nodes6, err))) return e;
    if ((v = btt_ben_dict_get(r, "values")) && (e = get_values(v, m, err))) return e;
    if ((v = btt_ben_dict_get(r, "token"))) {
        const uint8_t *t;
        size_t tlen;
        if (!btt_ben_get_str(v, &t, &tlen)) return bad(err, "token is not a string");
        if (tlen > BTT_KRPC_MAX_TOKEN) return too_big(err, "token too long");
        m->has_token = true;
        m->token_len = (uint8_t)tlen;
        memcpy(m->token, t, tlen);
    }
    return BTT_OK;
}

static btt_err decode_error(const btt_ben *root, btt_krpc_msg *m, btt_error *err)
{
    /* BEP 5: "The "e" key has a list value. The first element is an integer representing the
     * error code. The second element is a string containing the error message." */
    const btt_ben *e = btt_ben_dict_get(root, "e");
    if (btt_ben_typeof(e) != BTT_BEN_LIST || btt_ben_count(e) != 2) return bad(err, "error e is not a list of two");
    const btt_ben *code = btt_ben_list_first(e);
    const uint8_t *p;
    size_t len;
    if (!btt_ben_get_int(code, &m->error_code)) return bad(err, "error code is not an integer");
    if (!btt_ben_get_str(btt_ben_next(code), &p, &len)) return bad(err, "error message is not a string");
    if (len > BTT_KRPC_MAX_ERRMSG) len = BTT_KRPC_MAX_ERRMSG;
    /* kept printable so it can be logged; the encoder writes it back as stored */
    for (size_t i = 0; i < len; i++) m->error_msg[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    m->error_msg[len] = 0;
    return BTT_OK;
}

btt_err btt_krpc_decode(const uint8_t *p, size_t len, btt_krpc_msg *m, btt_error *err)
{
    memset(m, 0, sizeof *m);
    if (len > BTT_DHT_MAX_INPUT) return too_big(err, "datagram too large");
    btt_ben_doc *doc;
    btt_error berr;
    btt_err e = btt_ben_decode(p, len, 0, &krpc_limits, &doc, &berr);
    if (e == BTT_ENOMEM) return btt_error_set(err, e, "out of memory");
    if (e == BTT_ETOOBIG) return btt_error_set(err, e, "krpc: %s", berr.msg);
    if (e) return btt_error_set(err, BTT_EPROTO, "krpc: %s", berr.msg);

    const btt_ben *root = btt_ben_root(doc);
    const uint8_t *s;
    size_t slen;
    if (btt_ben_typeof(root) != BTT_BEN_DICT) {
        e = bad(err, "not a dictionary");
        goto out;
    }
    if (!btt_ben_get_str(btt_ben_dict_get(root, "t"), &s, &slen) || slen == 0) {
        e = bad(err, "no transaction id t");
        goto out;
    }
    if (slen > BTT_KRPC_MAX_TID) {
        e = too_big(err, "transaction id too long");
        goto out;
    }
    memcpy(m->tid, s, slen);
    m->tid_len = (uint8_t)slen;

    if (!btt_ben_get_str(btt_ben_dict_get(root, "y"), &s, &slen) || slen != 1) {
        e = bad(err, "no message type y");
        goto out;
    }
    const uint8_t y = s[0];
    const btt_ben *ro = btt_ben_dict_get(root, "ro");
    if (ro) {
        int64_t v;
        if (!btt_ben_get_int(ro, &v) || v < 0 || v > 1) {
            e = bad(err, "ro is not 0 or 1");
            goto out;
        }
        m->ro = v == 1;
    }
    const btt_ben *ip = btt_ben_dict_get(root, "ip");
    if (ip) {
        if (!btt_ben_get_str(ip, &s, &slen) || (slen != 6 && slen != 18)) {
            e = bad(err, "ip is not a 6- or 18-byte string");
            goto out;
        }
        m->has_ip = true;
        if (slen == 6) btt_addr_from_compact4(s, &m->ip);
        else btt_addr_from_compact6(s, &m->ip);
    }

    switch (y) {
    case 'q':
        m->kind = BTT_KRPC_QUERY;
        e = decode_query(root, m, err);
        break;
    case 'r':
        m->kind = BTT_KRPC_RESPONSE;
        e = decode_response(root, m, err);
        break;
    case 'e':
        m->kind = BTT_KRPC_ERROR;
        e = decode_error(root, m, err);
        break;
    default:
        e = bad(err, "message type y is not q, r or e");
        break;
    }
    /* ro and ip belong to queries and to responses/errors respectively; anything else is
     * ignored so that decode -> encode -> decode keeps every field */
    if (m->kind != BTT_KRPC_QUERY) m->ro = false;
    if (m->kind == BTT_KRPC_QUERY) {
        m->has_ip = false;
        memset(&m->ip, 0, sizeof m->ip);
    }
out:
    btt_ben_free(doc);
    if (e) {
        btt_error keep;
        keep.code = e;
        if (err) keep = *err;
        memset(m, 0, sizeof *m);
        if (err) *err = keep;
    }
    return e;
}

/* ------------------------------------------------------------------ encoder */

size_t btt_dht_node_info_compact(const btt_dht_node_info *n, uint8_t *out)
{
    memcpy(out, n->id, BTT_DHT_ID_LEN);
    return BTT_DHT_ID_LEN + btt_addr_to_compact(&n->addr, out + BTT_DHT_ID_LEN);
}

static btt_err key_str(btt_buf *b, const char *k, const void *p, size_t len)
{
    btt_err e;
    if ((e = btt_benc_cstr(b, k))) return e;
    return btt_benc_str(b, p, len);
}

static btt_err key_int(btt_buf *b, const char *k, int64_t v)
{
    btt_err e;
    if ((e = btt_benc_cstr(b, k))) return e;
    return btt_benc_int(b, v);
}

static btt_err put_nodes(btt_buf *b, const char *k, const btt_dht_node_info *nodes, size_t n, uint8_t family)
{
    uint8_t tmp[BTT_KRPC_MAX_NODES * NODE6_LEN];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].addr.family != family) return BTT_EINVAL;
        len += btt_dht_node_info_compact(&nodes[i], tmp + len);
    }
    return key_str(b, k, tmp, len);
}

static const char *method_name(btt_krpc_method m)
{
    switch (m) {
    case BTT_KRPC_PING: return "ping";
    case BTT_KRPC_FIND_NODE: return "find_node";
    case BTT_KRPC_GET_PEERS: return "get_peers";
    case BTT_KRPC_ANNOUNCE_PEER: return "announce_peer";
    default: return NULL;
    }
}

static btt_err encode_args(btt_buf *b, const btt_krpc_msg *m)
{
    btt_err e;
    /* keys in sorted order: id, implied_port, info_hash, port, target, token, want */
    if ((e = btt_benc_dict(b)) || (e = key_str(b, "id", m->id, BTT_DHT_ID_LEN))) return e;
    if (m->method == BTT_KRPC_ANNOUNCE_PEER) {
        if (m->implied_port && (e = key_int(b, "implied_port", 1))) return e;
        if ((e = key_str(b, "info_hash", m->target, BTT_DHT_ID_LEN)) || (e = key_int(b, "port", m->port))) return e;
        if (!m->has_token || m->token_len == 0 || m->token_len > BTT_KRPC_MAX_TOKEN) return BTT_EINVAL;
        if ((e = key_str(b, "token", m->token, m->token_len))) return e;
    } else if (m->method == BTT_KRPC_GET_PEERS) {
        if ((e = key_str(b, "info_hash", m->target, BTT_DHT_ID_LEN))) return e;
    } else if (m->method == BTT_KRPC_FIND_NODE) {
        if ((e = key_str(b, "target", m->target, BTT_DHT_ID_LEN))) return e;
    }
    if ((m->method == BTT_KRPC_FIND_NODE || m->method == BTT_KRPC_GET_PEERS) && m->want) {
        if ((e = btt_benc_cstr(b, "want")) || (e = btt_benc_list(b))) return e;
        if ((m->want & BTT_KRPC_WANT_N4) && (e = btt_benc_cstr(b, "n4"))) return e;
        if ((m->want & BTT_KRPC_WANT_N6) && (e = btt_benc_cstr(b, "n6"))) return e;
        if ((e = btt_benc_end(b))) return e;
    }
    return btt_benc_end(b);
}

static btt_err encode_reply(btt_buf *b, const btt_krpc_msg *m)
{
    btt_err e;
    /* id, nodes, nodes6, token, values */
    if ((e = btt_benc_dict(b)) || (e = key_str(b, "id", m->id, BTT_DHT_ID_LEN))) return e;
    if (m->num_nodes > BTT_KRPC_MAX_NODES || m->num_nodes6 > BTT_KRPC_MAX_NODES ||
        m->num_values > BTT_KRPC_MAX_VALUES)
        return BTT_EINVAL;
    if (m->num_nodes && (e = put_nodes(b, "nodes", m->nodes, m->num_nodes, 4))) return e;
    if (m->num_nodes6 && (e = put_nodes(b, "nodes6", m->nodes6, m->num_nodes6, 6))) return e;
    if (m->has_token) {
        if (m->token_len > BTT_KRPC_MAX_TOKEN) return BTT_EINVAL;
        if ((e = key_str(b, "token", m->token, m->token_len))) return e;
    }
    if (m->num_values) {
        if ((e = btt_benc_cstr(b, "values")) || (e = btt_benc_list(b))) return e;
        for (size_t i = 0; i < m->num_values; i++) {
            uint8_t c[18];
            size_t n = btt_addr_to_compact(&m->values[i], c);
            if ((e = btt_benc_str(b, c, n))) return e;
        }
        if ((e = btt_benc_end(b))) return e;
    }
    return btt_benc_end(b);
}

btt_err btt_krpc_encode(btt_buf *b, const btt_krpc_msg *m)
{
    if (m->tid_len == 0 || m->tid_len > BTT_KRPC_MAX_TID) return BTT_EINVAL;
    const char *q = NULL;
    if (m->kind == BTT_KRPC_QUERY && !(q = method_name(m->method))) return BTT_EINVAL;
    if (m->kind != BTT_KRPC_QUERY && m->kind != BTT_KRPC_RESPONSE && m->kind != BTT_KRPC_ERROR) return BTT_EINVAL;
    size_t start = b->len;
    btt_err e;
    /* top-level keys in sorted order: a, e, ip, q, r, ro, t, y */
    if ((e = btt_benc_dict(b))) goto fail;
    if (m->kind == BTT_KRPC_QUERY) {
        if ((e = btt_benc_cstr(b, "a")) || (e = encode_args(b, m))) goto fail;
    } else if (m->kind == BTT_KRPC_ERROR) {
        if ((e = btt_benc_cstr(b, "e")) || (e = btt_benc_list(b)) || (e = btt_benc_int(b, m->error_code)) ||
            (e = btt_benc_str(b, m->error_msg, strnlen(m->error_msg, BTT_KRPC_MAX_ERRMSG))) ||
            (e = btt_benc_end(b)))
            goto fail;
    }
    if (m->kind != BTT_KRPC_QUERY && m->has_ip) {
        uint8_t c[18];
        size_t n = btt_addr_to_compact(&m->ip, c);
        if ((e = key_str(b, "ip", c, n))) goto fail;
    }
    if (m->kind == BTT_KRPC_QUERY && (e = key_str(b, "q", q, strlen(q)))) goto fail;
    if (m->kind == BTT_KRPC_RESPONSE && ((e = btt_benc_cstr(b, "r")) || (e = encode_reply(b, m)))) goto fail;
    if (m->kind == BTT_KRPC_QUERY && m->ro && (e = key_int(b, "ro", 1))) goto fail;
    if ((e = key_str(b, "t", m->tid, m->tid_len))) goto fail;
    const char *y = m->kind == BTT_KRPC_QUERY ? "q" : m->kind == BTT_KRPC_RESPONSE ? "r" : "e";
    if ((e = key_str(b, "y", y, 1)) || (e = btt_benc_end(b))) goto fail;
    return BTT_OK;
fail:
    b->len = start;
    return e;
}
