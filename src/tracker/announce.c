/* announce.c - tracker protocol cores without I/O: HTTP announce/scrape URLs and replies
 * (BEP 3, BEP 23, BEP 7, BEP 48) and UDP tracker packets (BEP 15).
 *
 * Everything a tracker sends is hostile input: lengths are checked before use, peer lists are
 * capped at BTT_ANNOUNCE_MAX_PEERS, texts are capped and stripped of control characters. */
#include "btt/announce.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/bencode.h"
#include "btt/buf.h"

/* Texts a tracker hands us (warning message, tracker id) are kept up to this size. */
#define TEXT_MAX 1024
/* Every node of a 16 MiB reply is bounded too: a dictionary-model peer is about 7 nodes. */
static const btt_ben_limits reply_limits = {32, 1000000, BTT_TRACKER_MAX_BODY};

void btt_announce_resp_free(btt_announce_resp *r)
{
    if (!r) return;
    free(r->tracker_id);
    free(r->warning);
    free(r->peers);
    free(r->bids);
    r->tracker_id = r->warning = NULL;
    r->peers = NULL;
    r->bids = NULL;
    r->num_peers = 0;
}

static void resp_init(btt_announce_resp *r)
{
    memset(r, 0, sizeof *r);
    r->interval = r->min_interval = -1;
    r->complete = r->incomplete = -1;
}

/* ---- URL building ---- */

/* RFC 3986 unreserved characters are kept; every other byte becomes %XX. */
static btt_err pct_encode(btt_buf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~';
        btt_err e;
        if (keep) {
            e = btt_buf_append_byte(b, c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            e = btt_buf_append(b, esc, 3);
        }
        if (e) return e;
    }
    return BTT_OK;
}

/* Copies the URL without its fragment (a fragment is never sent, and a query appended after it
 * would be lost) and adds the separator before the first new parameter. */
static btt_err url_base(btt_buf *b, const char *url)
{
    size_t n = strcspn(url, "#");
    btt_err e = btt_buf_append(b, url, n);
    if (e) return e;
    const char *q = memchr(url, '?', n);
    if (!q) return btt_buf_append_byte(b, '?');
    char last = url[n - 1];
    if (last == '?' || last == '&') return BTT_OK;
    return btt_buf_append_byte(b, '&');
}

static const char *event_name(btt_announce_event ev)
{
    switch (ev) {
    case BTT_EVENT_STARTED: return "started";
    case BTT_EVENT_COMPLETED: return "completed";
    case BTT_EVENT_STOPPED: return "stopped";
    default: return NULL;
    }
}

char *btt_http_announce_url(const char *announce_url, const btt_announce_req *r)
{
    btt_buf b;
    btt_buf_init(&b, 64 * 1024);
    btt_err e = url_base(&b, announce_url);
    if (!e) e = btt_buf_printf(&b, "info_hash=");
    if (!e) e = pct_encode(&b, r->info_hash, BTT_SHA1_LEN);
    if (!e) e = btt_buf_printf(&b, "&peer_id=");
    if (!e) e = pct_encode(&b, r->peer_id, 20);
    if (!e)
        e = btt_buf_printf(&b, "&port=%u&uploaded=%" PRIu64 "&downloaded=%" PRIu64 "&left=%" PRIu64 "&compact=1",
                           (unsigned)r->port, r->uploaded, r->downloaded, r->left);
    const char *ev = event_name(r->event);
    if (!e && ev) e = btt_buf_printf(&b, "&event=%s", ev);
    if (!e && r->numwant >= 0) e = btt_buf_printf(&b, "&numwant=%" PRId32, r->numwant);
    /* The key as 8 hex digits, as most clients send it. */
    if (!e) e = btt_buf_printf(&b, "&key=%08" PRIX32, r->key);
    if (!e && r->tracker_id && r->tracker_id[0]) {
        e = btt_buf_printf(&b, "&trackerid=");
        if (!e) e = pct_encode(&b, (const uint8_t *)r->tracker_id, strlen(r->tracker_id));
    }
    if (!e && r->bidannounce) {
        e = btt_buf_printf(&b, "&bid=%" PRIu64, r->bid);
        if (!e && r->minbid) e = btt_buf_printf(&b, "&minbid=%" PRIu64, r->minbid);
        if (!e && r->sortbid) e = btt_buf_printf(&b, "&sortbid=1");
    }
    if (!e && r->extra_query && r->extra_query[0]) {
        const char *x = r->extra_query;
        if (x[0] != '&') e = btt_buf_append_byte(&b, '&');
        if (!e) e = btt_buf_append(&b, x, strlen(x));
    }
    if (e) {
        btt_buf_free(&b);
        return NULL;
    }
    return (char *)btt_buf_steal(&b, NULL);
}

/* BEP 48: "locating the string announce in the path section of the announce URL and replacing
 * it with the string scrape". As every client does, only a last path component that starts
 * with "announce" counts (http://t/x/announce.php -> http://t/x/scrape.php). */
char *btt_http_scrape_url(const char *announce_url, const uint8_t info_hash[BTT_SHA1_LEN])
{
    const char *s = announce_url;
    const char *scheme_end = strstr(s, "://");
    if (!scheme_end) return NULL;
    const char *auth = scheme_end + 3;
    size_t end = strcspn(s, "?#");       /* end of the path */
    const char *path = auth + strcspn(auth, "/?#");
    if (path >= s + end || *path != '/') return NULL; /* no path at all */
    const char *last = path;
    for (const char *p = path; p < s + end; p++)
        if (*p == '/') last = p + 1;
    if ((size_t)(s + end - last) < 8 || memcmp(last, "announce", 8) != 0) return NULL;

    btt_buf b;
    btt_buf_init(&b, 64 * 1024);
    btt_err e = btt_buf_append(&b, s, (size_t)(last - s));
    if (!e) e = btt_buf_append(&b, "scrape", 6);
    const char *rest = last + 8; /* the rest of the path and any query, without a fragment */
    size_t rest_len = strcspn(rest, "#");
    if (!e) e = btt_buf_append(&b, rest, rest_len);
    if (!e) {
        const char *q = memchr(rest, '?', rest_len);
        char lastc = rest_len ? rest[rest_len - 1] : 0;
        if (!q) e = btt_buf_append_byte(&b, '?');
        else if (lastc != '?' && lastc != '&') e = btt_buf_append_byte(&b, '&');
    }
    if (!e) e = btt_buf_printf(&b, "info_hash=");
    if (!e) e = pct_encode(&b, info_hash, BTT_SHA1_LEN);
    if (e) {
        btt_buf_free(&b);
        return NULL;
    }
    return (char *)btt_buf_steal(&b, NULL);
}

/* ---- HTTP replies ---- */

/* A printable copy of a tracker's text: at most max bytes, control characters as '?'. */
static char *text_copy(const uint8_t *p, size_t n, size_t max)
{
    if (n > max) n = max;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) s[i] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
    s[n] = 0;
    return s;
}

/* Writes a printable, capped form of a tracker's text into out (outlen bytes). */
static void text_into(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    if (n > outlen - 1) n = outlen - 1;
    for (size_t i = 0; i < n; i++) out[i] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
    out[n] = 0;
}

static int32_t clamp_i32(int64_t v)
{
    if (v < 0) return -1;
    return v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

static btt_err decode_reply(const uint8_t *body, size_t len, const char *what, btt_ben_doc **doc,
                            const btt_ben **root, btt_error *err)
{
    btt_err e = btt_ben_decode(body, len, BTT_BEN_TOLERANT, &reply_limits, doc, err);
    if (e) {
        btt_error_prefix(err, "%s", what);
        return e == BTT_ENOMEM || e == BTT_ETOOBIG ? e : BTT_EPROTO;
    }
    *root = btt_ben_root(*doc);
    if (btt_ben_typeof(*root) != BTT_BEN_DICT) {
        btt_ben_free(*doc);
        *doc = NULL;
        return btt_error_set(err, BTT_EPROTO, "%s: not a bencoded dictionary", what);
    }
    const uint8_t *fr;
    size_t frlen;
    if (btt_ben_get_str(btt_ben_dict_get(*root, "failure reason"), &fr, &frlen)) {
        char msg[400];
        text_into(fr, frlen, msg, sizeof msg);
        btt_ben_free(*doc);
        *doc = NULL;
        return btt_error_set(err, BTT_ETRACKER, "%s", msg[0] ? msg : "tracker failure without a reason");
    }
    return BTT_OK;
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

/* Parses a textual IP ("1.2.3.4", "::1"); hostnames are not resolved. */
static bool parse_ip(const uint8_t *p, size_t n, btt_addr *a)
{
    char s[64];
    if (n == 0 || n >= sizeof s || memchr(p, 0, n)) return false;
    memcpy(s, p, n);
    s[n] = 0;
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, s, a->ip) == 1) {
        a->family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, a->ip) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a->ip, mapped, 12) == 0) {
            memmove(a->ip, a->ip + 12, 4);
            memset(a->ip + 4, 0, 12);
            a->family = 4;
        } else {
            a->family = 6;
        }
        return true;
    }
    return false;
}

btt_err btt_http_announce_parse(const uint8_t *body, size_t len, btt_announce_resp *out, btt_error *err)
{
    resp_init(out);
    btt_ben_doc *doc = NULL;
    const btt_ben *root = NULL;
    btt_err e = decode_reply(body, len, "announce reply", &doc, &root, err);
    if (e) return e;

    int64_t v;
    if (btt_ben_get_int(btt_ben_dict_get(root, "interval"), &v)) out->interval = clamp_i32(v);
    if (btt_ben_get_int(btt_ben_dict_get(root, "min interval"), &v)) out->min_interval = clamp_i32(v);
    if (btt_ben_get_int(btt_ben_dict_get(root, "complete"), &v) && v >= 0) out->complete = v;
    if (btt_ben_get_int(btt_ben_dict_get(root, "incomplete"), &v) && v >= 0) out->incomplete = v;

    const uint8_t *s;
    size_t slen;
    if (btt_ben_get_str(btt_ben_dict_get(root, "tracker id"), &s, &slen) && slen > 0 && slen <= TEXT_MAX &&
        !memchr(s, 0, slen)) {
        out->tracker_id = text_copy(s, slen, TEXT_MAX);
        if (!out->tracker_id) goto nomem;
    }
    if (btt_ben_get_str(btt_ben_dict_get(root, "warning message"), &s, &slen)) {
        out->warning = text_copy(s, slen, TEXT_MAX);
        if (!out->warning) goto nomem;
    }

    /* Count first, so the cap is checked before anything is allocated. */
    const btt_ben *peers = btt_ben_dict_get(root, "peers");
    const btt_ben *peers6 = btt_ben_dict_get(root, "peers6");
    const uint8_t *p4 = NULL, *p6 = NULL;
    size_t n4 = 0, n6 = 0, nd = 0;
    if (btt_ben_get_str(peers, &p4, &n4)) {
        /* BEP 23: "the peers list is replaced by a peers string with 6 bytes per peer" */
        if (n4 % 6) {
            e = btt_error_set(err, BTT_EPROTO, "announce reply: compact 'peers' of %zu bytes is not a multiple of 6",
                              n4);
            goto fail;
        }
        n4 /= 6;
    } else if (btt_ben_typeof(peers) == BTT_BEN_LIST) {
        nd = btt_ben_count(peers);
    }
    if (btt_ben_get_str(peers6, &p6, &n6)) {
        if (n6 % 18) {
            e = btt_error_set(err, BTT_EPROTO,
                              "announce reply: compact 'peers6' of %zu bytes is not a multiple of 18", n6);
            goto fail;
        }
        n6 /= 18;
    }
    size_t total = n4 + n6 + nd;
    if (total > BTT_ANNOUNCE_MAX_PEERS) {
        e = btt_error_set(err, BTT_ETOOBIG, "announce reply: %zu peers exceed the limit of %d", total,
                          BTT_ANNOUNCE_MAX_PEERS);
        goto fail;
    }
    /* bidannounce: 8-byte big-endian bids in the order of peers / peers6 */
    const uint8_t *b4 = NULL, *b6 = NULL;
    size_t b4len = 0, b6len = 0;
    bool bids4 = btt_ben_get_str(btt_ben_dict_get(root, "bids"), &b4, &b4len) && p4 && b4len == 8 * n4;
    bool bids6 = btt_ben_get_str(btt_ben_dict_get(root, "bids6"), &b6, &b6len) && p6 && b6len == 8 * n6;
    bool dict_bids = false;
    for (const btt_ben *pe = nd ? btt_ben_list_first(peers) : NULL; pe && !dict_bids; pe = btt_ben_next(pe))
        dict_bids = btt_ben_typeof(btt_ben_dict_get(pe, "bid")) == BTT_BEN_INT;
    if (total) {
        out->peers = calloc(total, sizeof *out->peers);
        if (!out->peers) goto nomem;
        if (bids4 || bids6 || dict_bids) {
            out->bids = calloc(total, sizeof *out->bids);
            if (!out->bids) goto nomem;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n4; i++) {
        btt_addr_from_compact4(p4 + 6 * i, &out->peers[k]);
        if (bids4) out->bids[k] = be64(b4 + 8 * i);
        if (out->peers[k].port) k++;
    }
    for (const btt_ben *pe = nd ? btt_ben_list_first(peers) : NULL; pe; pe = btt_ben_next(pe)) {
        /* BEP 3: "peers maps to a list of dictionaries corresponding to peers, each of which
         * contains the keys peer id, ip, and port" - ip may be a DNS name, which we skip. */
        const uint8_t *ip;
        size_t iplen;
        int64_t port;
        if (!btt_ben_get_str(btt_ben_dict_get(pe, "ip"), &ip, &iplen)) continue;
        if (!btt_ben_get_int(btt_ben_dict_get(pe, "port"), &port) || port < 1 || port > 65535) continue;
        if (!parse_ip(ip, iplen, &out->peers[k])) continue;
        out->peers[k].port = (uint16_t)port;
        int64_t bid;
        if (out->bids) out->bids[k] = btt_ben_get_int(btt_ben_dict_get(pe, "bid"), &bid) && bid > 0 ? (uint64_t)bid : 0;
        k++;
    }
    for (size_t i = 0; i < n6; i++) {
        btt_addr_from_compact6(p6 + 18 * i, &out->peers[k]);
        if (out->bids) out->bids[k] = bids6 ? be64(b6 + 8 * i) : 0;
        if (out->peers[k].port) k++;
    }
    out->num_peers = k;
    if (k == 0) {
        free(out->peers);
        free(out->bids);
        out->peers = NULL;
        out->bids = NULL;
    }
    btt_ben_free(doc);
    return BTT_OK;

nomem:
    e = btt_error_set(err, BTT_ENOMEM, "announce reply: out of memory");
fail:
    btt_ben_free(doc);
    btt_announce_resp_free(out);
    resp_init(out);
    return e;
}

btt_err btt_http_scrape_parse(const uint8_t *body, size_t len, const uint8_t info_hash[BTT_SHA1_LEN],
                              btt_scrape_resp *out, btt_error *err)
{
    out->complete = out->incomplete = out->downloaded = -1;
    btt_ben_doc *doc = NULL;
    const btt_ben *root = NULL;
    btt_err e = decode_reply(body, len, "scrape reply", &doc, &root, err);
    if (e) return e;
    const btt_ben *files = btt_ben_dict_get(root, "files");
    if (btt_ben_typeof(files) != BTT_BEN_DICT) {
        btt_ben_free(doc);
        return btt_error_set(err, BTT_EPROTO, "scrape reply: no 'files' dictionary");
    }
    /* Keys are raw 20-byte info-hashes, so they are compared as bytes, not C strings. */
    const btt_ben *entry = NULL;
    for (const btt_ben *k = btt_ben_dict_first(files); k; k = btt_ben_dict_next(k)) {
        const uint8_t *kp;
        size_t kl;
        if (btt_ben_get_str(k, &kp, &kl) && kl == BTT_SHA1_LEN && memcmp(kp, info_hash, BTT_SHA1_LEN) == 0) {
            entry = btt_ben_dict_value(k);
            break;
        }
    }
    if (!entry) {
        /* A tracker that has no swarm for the hash leaves it out: nobody is there. */
        out->complete = out->incomplete = out->downloaded = 0;
        btt_ben_free(doc);
        return BTT_OK;
    }
    if (btt_ben_typeof(entry) != BTT_BEN_DICT) {
        btt_ben_free(doc);
        return btt_error_set(err, BTT_EPROTO, "scrape reply: the entry for the info-hash is not a dictionary");
    }
    int64_t v;
    if (btt_ben_get_int(btt_ben_dict_get(entry, "complete"), &v) && v >= 0) out->complete = v;
    if (btt_ben_get_int(btt_ben_dict_get(entry, "incomplete"), &v) && v >= 0) out->incomplete = v;
    if (btt_ben_get_int(btt_ben_dict_get(entry, "downloaded"), &v) && v >= 0) out->downloaded = v;
    btt_ben_free(doc);
    return BTT_OK;
}

/* ---- UDP packets (BEP 15): "All values are send in network byte order (big endian)." ---- */

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    p = put32(p, (uint32_t)(v >> 32));
    return put32(p, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

size_t btt_udp_connect_req(uint8_t out[16], uint32_t txid)
{
    uint8_t *p = put64(out, BTT_UDP_PROTOCOL_ID);
    p = put32(p, BTT_UDP_CONNECT);
    put32(p, txid);
    return 16;
}

size_t btt_udp_announce_req(uint8_t out[98], uint64_t conn_id, uint32_t txid, const btt_announce_req *r)
{
    uint8_t *p = put64(out, conn_id);
    p = put32(p, BTT_UDP_ANNOUNCE);
    p = put32(p, txid);
    memcpy(p, r->info_hash, 20);
    memcpy(p + 20, r->peer_id, 20);
    p += 40;
    p = put64(p, r->downloaded);
    p = put64(p, r->left);
    p = put64(p, r->uploaded);
    p = put32(p, (uint32_t)r->event);
    p = put32(p, 0); /* IP address: "0 // default" */
    p = put32(p, r->key);
    p = put32(p, (uint32_t)r->numwant); /* -1 is 0xffffffff: "-1 // default" */
    p[0] = (uint8_t)(r->port >> 8);
    p[1] = (uint8_t)r->port;
    return 98;
}

size_t btt_udp_scrape_req(uint8_t out[36], uint64_t conn_id, uint32_t txid, const uint8_t info_hash[BTT_SHA1_LEN])
{
    uint8_t *p = put64(out, conn_id);
    p = put32(p, BTT_UDP_SCRAPE);
    p = put32(p, txid);
    memcpy(p, info_hash, BTT_SHA1_LEN);
    return 36;
}

btt_err btt_udp_reply_parse(const uint8_t *p, size_t len, bool ipv6, btt_udp_reply *out, btt_error *err)
{
    memset(out, 0, sizeof *out);
    resp_init(&out->announce);
    out->scrape.complete = out->scrape.incomplete = out->scrape.downloaded = -1;
    /* Every reply starts with action and transaction_id. */
    if (len < 8) return btt_error_set(err, BTT_EPROTO, "udp tracker reply of %zu bytes is too short", len);
    out->action = get32(p);
    out->txid = get32(p + 4);
    switch (out->action) {
    case BTT_UDP_CONNECT:
        /* "Check whether the packet is at least 16 bytes." */
        if (len < 16) return btt_error_set(err, BTT_EPROTO, "udp connect reply of %zu bytes (< 16)", len);
        out->conn_id = get64(p + 8);
        return BTT_OK;
    case BTT_UDP_ANNOUNCE: {
        /* "Check whether the packet is at least 20 bytes." Peers run to the end of the packet:
         * 6 bytes each from an IPv4 socket, 18 from an IPv6 one. */
        if (len < 20) return btt_error_set(err, BTT_EPROTO, "udp announce reply of %zu bytes (< 20)", len);
        size_t stride = ipv6 ? 18 : 6, rest = len - 20;
        if (rest % stride)
            return btt_error_set(err, BTT_EPROTO, "udp announce reply: %zu bytes of peers is not a multiple of %zu",
                                 rest, stride);
        size_t n = rest / stride;
        if (n > BTT_ANNOUNCE_MAX_PEERS)
            return btt_error_set(err, BTT_ETOOBIG, "udp announce reply: %zu peers exceed the limit", n);
        btt_announce_resp *a = &out->announce;
        uint32_t iv = get32(p + 8);
        a->interval = iv > INT32_MAX ? INT32_MAX : (int32_t)iv;
        a->incomplete = get32(p + 12); /* leechers */
        a->complete = get32(p + 16);   /* seeders */
        if (n) {
            a->peers = calloc(n, sizeof *a->peers);
            if (!a->peers) return btt_error_set(err, BTT_ENOMEM, "udp announce reply: out of memory");
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *e = p + 20 + i * stride;
            if (ipv6) btt_addr_from_compact6(e, &a->peers[k]);
            else btt_addr_from_compact4(e, &a->peers[k]);
            if (a->peers[k].port) k++;
        }
        a->num_peers = k;
        if (!k) {
            free(a->peers);
            a->peers = NULL;
        }
        return BTT_OK;
    }
    case BTT_UDP_SCRAPE:
        /* seeders, completed, leechers for the first info-hash */
        if (len < 20) return btt_error_set(err, BTT_EPROTO, "udp scrape reply of %zu bytes (< 20)", len);
        out->scrape.complete = get32(p + 8);
        out->scrape.downloaded = get32(p + 12);
        out->scrape.incomplete = get32(p + 16);
        return BTT_OK;
    case BTT_UDP_ERROR:
        text_into(p + 8, len - 8, out->message, sizeof out->message);
        return BTT_OK;
    default:
        return btt_error_set(err, BTT_EPROTO, "udp tracker reply with unknown action %" PRIu32, out->action);
    }
}
