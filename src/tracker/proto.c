/* proto.c - the tracker server's wire formats (btt/tracker_proto.h): HTTP request heads,
 * announce/scrape/bidscrape queries, bencoded replies, BEP 15 packets and connection ids. */
#include "btt/tracker_proto.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

/* ---- HTTP request head ---- */

static const char *find_head_end(const char *buf, size_t len, size_t *head_len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n') continue;
        /* "\n\n" or "\n\r\n": the empty line */
        if (i + 1 < len && buf[i + 1] == '\n') {
            *head_len = i + 2;
            return buf + i;
        }
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
            *head_len = i + 3;
            return buf + i;
        }
    }
    return NULL;
}

static bool token_in(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t') i++;
        if (i - s == tl && strncasecmp(v + s, tok, tl) == 0) return true;
    }
    return false;
}

static btt_trk_http_result bad(btt_trk_http_req *r, int status, const char *reason)
{
    r->status = status;
    r->reason = reason;
    return BTT_TRK_HTTP_BAD;
}

btt_trk_http_result btt_trk_http_parse_head(const char *buf, size_t len, btt_trk_http_req *r)
{
    memset(r, 0, sizeof *r);
    size_t head_len = 0;
    size_t scan = len < BTT_TRK_HTTP_HEAD_MAX ? len : BTT_TRK_HTTP_HEAD_MAX;
    if (!find_head_end(buf, scan, &head_len)) {
        if (len >= BTT_TRK_HTTP_HEAD_MAX) return bad(r, 431, "request head too large");
        /* a first line that cannot be a request fails early, without waiting for more */
        if (len >= 4 && memcmp(buf, "GET ", 4) != 0) {
            const char *sp = memchr(buf, ' ', len);
            if (sp || len > 16) return bad(r, 405, "only GET is served");
        }
        return BTT_TRK_HTTP_MORE;
    }
    r->head_len = head_len;
    /* request line: GET SP target SP HTTP/1.x */
    const char *eol = memchr(buf, '\n', head_len);
    size_t ll = (size_t)(eol - buf);
    if (ll && buf[ll - 1] == '\r') ll--;
    if (ll < 4 || memcmp(buf, "GET ", 4) != 0) {
        const char *sp = memchr(buf, ' ', ll);
        if (!sp || sp == buf) return bad(r, 400, "malformed request line");
        return bad(r, 405, "only GET is served");
    }
    const char *target = buf + 4;
    const char *sp = memchr(target, ' ', ll - 4);
    if (!sp || sp == target || target[0] != '/') return bad(r, 400, "malformed request line");
    size_t tlen = (size_t)(sp - target);
    const char *ver = sp + 1;
    size_t vlen = ll - (size_t)(ver - buf);
    if (vlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || (ver[7] != '0' && ver[7] != '1'))
        return bad(r, 505, "HTTP/1.0 or HTTP/1.1 only");
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)target[i] <= 0x20 || target[i] == 0x7f) return bad(r, 400, "malformed request target");
    bool http11 = ver[7] == '1';
    r->keep_alive = http11;
    const char *frag = memchr(target, '#', tlen);
    if (frag) tlen = (size_t)(frag - target);
    const char *q = memchr(target, '?', tlen);
    r->path = target;
    r->path_len = q ? (size_t)(q - target) : tlen;
    if (q) {
        r->query = q + 1;
        r->query_len = tlen - r->path_len - 1;
    }
    /* headers: only Connection, Content-Length and Transfer-Encoding matter */
    const char *p = eol + 1, *end = buf + head_len;
    while (p < end) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(le - p);
        if (n && p[n - 1] == '\r') n--;
        if (n == 0) break;
        const char *colon = memchr(p, ':', n);
        if (!colon || colon == p) return bad(r, 400, "malformed header line");
        size_t kl = (size_t)(colon - p);
        const char *v = colon + 1;
        size_t vl = n - kl - 1;
        while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
        if (kl == 10 && strncasecmp(p, "Connection", 10) == 0) {
            if (token_in(v, vl, "close")) r->keep_alive = false;
            else if (token_in(v, vl, "keep-alive")) r->keep_alive = true;
        } else if (kl == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
            if (!(vl == 1 && v[0] == '0')) return bad(r, 400, "request bodies are not accepted");
        } else if (kl == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
            return bad(r, 400, "request bodies are not accepted");
        }
        p = le + 1;
    }
    return BTT_TRK_HTTP_DONE;
}

/* ---- queries ---- */

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes v into out (at most cap bytes). Returns the length, or -1 for a bad escape
 * or a value longer than cap. '+' is a space (form encoding). */
static long pct_decode(const char *v, size_t n, uint8_t *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == cap) return -1;
        char c = v[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int hi = hexv(v[i + 1]), lo = hexv(v[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            out[k++] = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else {
            out[k++] = c == '+' ? ' ' : (uint8_t)c;
        }
    }
    return (long)k;
}

static bool parse_u64(const char *v, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        unsigned d = (unsigned)(v[i] - '0');
        if (x > (UINT64_MAX - d) / 10) return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

static bool parse_i64(const char *v, size_t n, int64_t *out)
{
    bool neg = n && v[0] == '-';
    uint64_t u;
    if (!parse_u64(v + neg, n - neg, &u)) return false;
    if (u > (uint64_t)INT64_MAX) u = (uint64_t)INT64_MAX;
    *out = neg ? -(int64_t)u : (int64_t)u;
    return true;
}

static bool is(const char *k, size_t kl, const char *name)
{
    size_t n = strlen(name);
    return kl == n && memcmp(k, name, n) == 0;
}

/* Calls fn for every name=value pair (a pair without '=' has an empty value). */
typedef bool (*pair_fn)(void *ud, const char *k, size_t kl, const char *v, size_t vl, const char **failure);

static bool each_pair(const char *q, size_t len, pair_fn fn, void *ud, const char **failure)
{
    size_t i = 0;
    while (i < len) {
        size_t s = i;
        while (i < len && q[i] != '&') i++;
        size_t e = i++;
        if (e == s) continue;
        const char *eq = memchr(q + s, '=', e - s);
        const char *k = q + s;
        size_t kl = eq ? (size_t)(eq - k) : e - s;
        const char *v = eq ? eq + 1 : q + e;
        size_t vl = eq ? (size_t)(q + e - v) : 0;
        if (!fn(ud, k, kl, v, vl, failure)) return false;
    }
    return true;
}

/* A BEP 7 endpoint (RFC 2732): "1.2.3.4", "1.2.3.4:6881", "2001:db8::1", "[2001:db8::1]" or
 * "[2001:db8::1]:6881", percent-encoded. fam: 4 or 6. False if it is not one (port 0 when it
 * names none). IPv4-mapped IPv6 addresses are not IPv6 endpoints. */
static bool parse_endpoint(const char *v, size_t vl, int fam, btt_addr *out)
{
    uint8_t raw[64];
    char host[64];
    long n = pct_decode(v, vl, raw, sizeof raw - 1);
    if (n <= 0) return false;
    size_t hl = (size_t)n, portat = 0;
    const uint8_t *h = raw;
    if (fam == 6 && raw[0] == '[') {
        const uint8_t *e = memchr(raw, ']', (size_t)n);
        if (!e) return false;
        h = raw + 1;
        hl = (size_t)(e - h);
        portat = (size_t)(e - raw) + 1;
        if (portat < (size_t)n && raw[portat] != ':') return false;
    } else if (fam == 4) {
        const uint8_t *e = memchr(raw, ':', (size_t)n);
        if (e) {
            hl = (size_t)(e - raw);
            portat = hl;
        }
    }
    memset(out, 0, sizeof *out);
    if (portat && portat < (size_t)n) {
        uint64_t port;
        if (!parse_u64((const char *)raw + portat + 1, (size_t)n - portat - 1, &port) || port == 0 || port > 65535)
            return false;
        out->port = (uint16_t)port;
    }
    if (hl == 0 || hl >= sizeof host) return false;
    memcpy(host, h, hl);
    host[hl] = 0;
    out->family = (uint8_t)fam;
    if (inet_pton(fam == 4 ? AF_INET : AF_INET6, host, out->ip) != 1) return false;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return fam == 4 || memcmp(out->ip, mapped, sizeof mapped) != 0;
}

typedef struct ann_ctx {
    btt_trk_announce *a;
    bool *compact;
    bool have_hash, have_port, have_left;
} ann_ctx;

static bool ann_pair(void *ud, const char *k, size_t kl, const char *v, size_t vl, const char **failure)
{
    ann_ctx *c = ud;
    btt_trk_announce *a = c->a;
    uint64_t u;
    int64_t i;
    if (is(k, kl, "info_hash")) {
        if (pct_decode(v, vl, a->info_hash, 20) != 20) return *failure = "invalid info_hash", false;
        c->have_hash = true;
    } else if (is(k, kl, "peer_id")) {
        uint8_t id[20];
        if (pct_decode(v, vl, id, 20) != 20) return *failure = "invalid peer_id", false;
    } else if (is(k, kl, "port")) {
        if (!parse_u64(v, vl, &u) || u == 0 || u > 65535) return *failure = "invalid port", false;
        a->addr.port = (uint16_t)u;
        c->have_port = true;
    } else if (is(k, kl, "uploaded")) {
        if (!parse_u64(v, vl, &a->uploaded)) return *failure = "invalid uploaded", false;
    } else if (is(k, kl, "downloaded")) {
        if (!parse_u64(v, vl, &a->downloaded)) return *failure = "invalid downloaded", false;
    } else if (is(k, kl, "left")) {
        if (!parse_u64(v, vl, &a->left)) return *failure = "invalid left", false;
        c->have_left = true;
    } else if (is(k, kl, "event")) {
        if (is(v, vl, "started")) a->event = BTT_EVENT_STARTED;
        else if (is(v, vl, "completed")) a->event = BTT_EVENT_COMPLETED;
        else if (is(v, vl, "stopped")) a->event = BTT_EVENT_STOPPED;
        else if (is(v, vl, "") || is(v, vl, "empty") || is(v, vl, "paused")) a->event = BTT_EVENT_NONE;
        else return *failure = "invalid event", false;
    } else if (is(k, kl, "numwant")) {
        if (!parse_i64(v, vl, &i)) return *failure = "invalid numwant", false;
        a->numwant = i < 0 ? -1 : i;
    } else if (is(k, kl, "compact")) {
        if (is(v, vl, "1")) *c->compact = true;
        else if (is(v, vl, "0")) *c->compact = false;
        else return *failure = "invalid compact", false;
    } else if (is(k, kl, "bid")) {
        if (!parse_u64(v, vl, &a->bid)) return *failure = "invalid bid", false;
        a->bidding = true;
    } else if (is(k, kl, "minbid")) {
        if (!parse_u64(v, vl, &a->minbid)) return *failure = "invalid minbid", false;
        a->bidding = true;
    } else if (is(k, kl, "ipv4") || is(k, kl, "ipv6")) {
        /* BEP 7: a malformed endpoint is ignored, not an error (the parameters are optional) */
        bool v6 = k[3] == '6';
        btt_addr ep;
        if (parse_endpoint(v, vl, v6 ? 6 : 4, &ep)) {
            if (v6) a->ip6 = ep, a->has_ip6 = true;
            else a->ip4 = ep, a->has_ip4 = true;
        }
    } else if (is(k, kl, "sortbid")) {
        if (is(v, vl, "1")) a->sortbid = true;
        else if (is(v, vl, "0")) a->sortbid = false;
        else return *failure = "invalid sortbid", false;
        a->bidding = true;
    }
    return true;
}

btt_err btt_trk_query_announce(const char *q, size_t len, btt_trk_announce *a, bool *compact, const char **failure)
{
    memset(a, 0, sizeof *a);
    a->numwant = -1;
    *compact = true;
    ann_ctx c = {a, compact, false, false, false};
    if (!q) q = "";
    if (!each_pair(q, len, ann_pair, &c, failure)) return BTT_EPROTO;
    if (!c.have_hash) return *failure = "missing info_hash", BTT_EPROTO;
    if (!c.have_port) return *failure = "missing port", BTT_EPROTO;
    if (!c.have_left) a->left = 1; /* unknown: a leecher */
    if (a->has_ip4 && !a->ip4.port) a->ip4.port = a->addr.port;
    if (a->has_ip6 && !a->ip6.port) a->ip6.port = a->addr.port;
    return BTT_OK;
}

typedef struct scr_ctx {
    uint8_t (*hashes)[20];
    size_t n;
    uint64_t *cursor;
} scr_ctx;

static bool scr_pair(void *ud, const char *k, size_t kl, const char *v, size_t vl, const char **failure)
{
    scr_ctx *c = ud;
    if (is(k, kl, "cursor")) {
        if (!parse_u64(v, vl, c->cursor)) return *failure = "invalid cursor", false;
        return true;
    }
    if (!is(k, kl, "info_hash")) return true;
    if (c->n == BTT_TRK_SCRAPE_MAX) return *failure = "too many info_hash (at most 74)", false;
    if (pct_decode(v, vl, c->hashes[c->n], 20) != 20) return *failure = "invalid info_hash", false;
    c->n++;
    return true;
}

btt_err btt_trk_query_scrape(const char *q, size_t len, uint8_t (*hashes)[20], size_t *n, uint64_t *cursor,
                             const char **failure)
{
    scr_ctx c = {hashes, 0, cursor};
    *n = 0;
    *cursor = 0;
    if (!q) q = "";
    if (!each_pair(q, len, scr_pair, &c, failure)) return BTT_EPROTO;
    *n = c.n;
    return BTT_OK;
}

static bool bs_pair(void *ud, const char *k, size_t kl, const char *v, size_t vl, const char **failure)
{
    size_t *limit = ud;
    uint64_t u;
    if (!is(k, kl, "limit")) return true;
    if (!parse_u64(v, vl, &u)) return *failure = "invalid limit", false;
    *limit = u > BTT_TRK_BIDSCRAPE_MAX ? BTT_TRK_BIDSCRAPE_MAX : (size_t)u;
    return true;
}

btt_err btt_trk_query_bidscrape(const char *q, size_t len, size_t *limit, const char **failure)
{
    *limit = BTT_TRK_BIDSCRAPE_DEFAULT;
    if (!q) q = "";
    return each_pair(q, len, bs_pair, limit, failure) ? BTT_OK : BTT_EPROTO;
}

/* ---- bencoded replies ---- */

typedef struct wb {
    char *p;
    size_t len, cap;
    bool over;
} wb;

static void w_raw(wb *w, const void *s, size_t n)
{
    if (w->over || n > w->cap - w->len) {
        w->over = true;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void w_lit(wb *w, const char *s) { w_raw(w, s, strlen(s)); }

static void w_u64(wb *w, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    w_raw(w, tmp + sizeof tmp - n, n);
}

static void w_int(wb *w, uint64_t v)
{
    w_raw(w, "i", 1);
    w_u64(w, v);
    w_raw(w, "e", 1);
}

static void w_str(wb *w, const void *s, size_t n)
{
    w_u64(w, n);
    w_raw(w, ":", 1);
    w_raw(w, s, n);
}

static size_t w_done(wb *w) { return w->over ? 0 : w->len; }

size_t btt_trk_encode_failure(char *out, size_t cap, const char *reason)
{
    wb w = {out, 0, cap, false};
    w_lit(&w, "d14:failure reason");
    w_str(&w, reason, strlen(reason));
    w_lit(&w, "e");
    return w_done(&w);
}

static void w_bids(wb *w, const uint64_t *b, size_t n)
{
    w_u64(w, n * 8);
    w_raw(w, ":", 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t be[8];
        for (int k = 0; k < 8; k++) be[k] = (uint8_t)(b[i] >> (56 - 8 * k));
        w_raw(w, be, 8);
    }
}

static void w_dict_peer(wb *w, int fam, const uint8_t *c, bool bids, uint64_t bid)
{
    char ip[64];
    btt_addr a;
    if (fam == 4) btt_addr_from_compact4(c, &a);
    else btt_addr_from_compact6(c, &a);
    btt_addr_format(&a, ip);
    /* "1.2.3.4:80" / "[::1]:80" -> the address alone */
    char *colon = strrchr(ip, ':');
    if (colon) *colon = 0;
    char *h = ip;
    if (h[0] == '[') {
        h++;
        size_t l = strlen(h);
        if (l && h[l - 1] == ']') h[l - 1] = 0;
    }
    w_lit(w, "d");
    if (bids) {
        w_lit(w, "3:bid");
        w_int(w, bid);
    }
    w_lit(w, "2:ip");
    w_str(w, h, strlen(h));
    w_lit(w, "4:port");
    w_int(w, a.port);
    w_lit(w, "e");
}

size_t btt_trk_encode_announce(char *out, size_t cap, const btt_trk_counts *c, uint32_t interval,
                               const btt_trk_peers *p, bool compact, bool bids)
{
    wb w = {out, 0, cap, false};
    /* keys in sorted order: bids bids6 complete downloaded incomplete interval min interval
     * peers peers6 */
    w_lit(&w, "d");
    if (bids && compact) {
        w_lit(&w, "4:bids");
        w_bids(&w, p->bids4, p->n4);
        if (p->n6) {
            w_lit(&w, "5:bids6");
            w_bids(&w, p->bids6, p->n6);
        }
    }
    w_lit(&w, "8:complete");
    w_int(&w, c->complete);
    w_lit(&w, "10:downloaded");
    w_int(&w, c->downloaded);
    w_lit(&w, "10:incomplete");
    w_int(&w, c->incomplete);
    w_lit(&w, "8:interval");
    w_int(&w, interval);
    w_lit(&w, "12:min interval");
    w_int(&w, interval / 2);
    w_lit(&w, "5:peers");
    if (compact) {
        w_str(&w, p->peers4, p->n4 * 6);
        if (p->n6) {
            w_lit(&w, "6:peers6");
            w_str(&w, p->peers6, p->n6 * 18);
        }
    } else {
        w_lit(&w, "l");
        for (size_t i = 0; i < p->n4; i++) w_dict_peer(&w, 4, p->peers4 + 6 * i, bids, bids ? p->bids4[i] : 0);
        for (size_t i = 0; i < p->n6; i++) w_dict_peer(&w, 6, p->peers6 + 18 * i, bids, bids ? p->bids6[i] : 0);
        w_lit(&w, "e");
    }
    w_lit(&w, "e");
    return w_done(&w);
}

/* a bencoded dict's keys must be sorted: hashes are written in byte order, duplicates once */
static int cmp_hash(const void *a, const void *b) { return memcmp(a, b, 20); }

size_t btt_trk_encode_scrape(char *out, size_t cap, const uint8_t (*hashes)[20], const btt_trk_counts *c, size_t n,
                             uint64_t next)
{
    size_t order[BTT_TRK_FULLSCRAPE_PAGE];
    if (n > BTT_TRK_FULLSCRAPE_PAGE) n = BTT_TRK_FULLSCRAPE_PAGE;
    for (size_t i = 0; i < n; i++) order[i] = i;
    /* insertion sort of indexes by hash (n <= 256) */
    for (size_t i = 1; i < n; i++) {
        size_t x = order[i], j = i;
        while (j > 0 && cmp_hash(hashes[order[j - 1]], hashes[x]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    wb w = {out, 0, cap, false};
    w_lit(&w, "d5:filesd");
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        if (k > 0 && cmp_hash(hashes[order[k - 1]], hashes[i]) == 0) continue;
        w_str(&w, hashes[i], 20);
        w_lit(&w, "d8:complete");
        w_int(&w, c[i].complete);
        w_lit(&w, "10:downloaded");
        w_int(&w, c[i].downloaded);
        w_lit(&w, "10:incomplete");
        w_int(&w, c[i].incomplete);
        w_lit(&w, "e");
    }
    w_lit(&w, "e");
    if (next) {
        w_lit(&w, "4:next");
        w_int(&w, next);
    }
    w_lit(&w, "e");
    return w_done(&w);
}

size_t btt_trk_encode_bidscrape(char *out, size_t cap, const btt_trk_bidscrape_entry *e, size_t n)
{
    wb w = {out, 0, cap, false};
    w_lit(&w, "d8:torrentsl");
    for (size_t i = 0; i < n; i++) {
        w_lit(&w, "d7:bidders");
        w_int(&w, e[i].bidders);
        w_lit(&w, "9:info_hash");
        w_str(&w, e[i].info_hash, 20);
        w_lit(&w, "3:max");
        w_int(&w, e[i].max);
        w_lit(&w, "6:median");
        w_int(&w, e[i].median);
        w_lit(&w, "e");
    }
    w_lit(&w, "ee");
    return w_done(&w);
}

/* ---- UDP ---- */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v) { return put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v); }

btt_trk_udp_result btt_trk_udp_parse(const uint8_t *p, size_t len, btt_trk_udp_req *r, const char **failure)
{
    memset(r, 0, sizeof *r);
    if (len < 16) return BTT_TRK_UDP_IGNORE;
    r->conn_id = get64(p);
    r->action = get32(p + 8);
    r->txid = get32(p + 12);
    switch (r->action) {
    case 0: /* connect */
        if (r->conn_id != 0x41727101980ULL) return *failure = "bad protocol id", BTT_TRK_UDP_ERROR;
        return BTT_TRK_UDP_OK;
    case 1: { /* announce */
        if (len < 98) return *failure = "announce packet too short", BTT_TRK_UDP_ERROR;
        btt_trk_announce *a = &r->ann;
        memcpy(a->info_hash, p + 16, 20);
        a->downloaded = get64(p + 56);
        a->left = get64(p + 64);
        a->uploaded = get64(p + 72);
        uint32_t ev = get32(p + 80);
        if (ev > 3) return *failure = "invalid event", BTT_TRK_UDP_ERROR;
        a->event = (btt_announce_event)ev;
        /* p + 84: IP address, never trusted; p + 88: key */
        int32_t nw = (int32_t)get32(p + 92);
        a->numwant = nw < 0 ? -1 : nw;
        a->addr.port = (uint16_t)(p[96] << 8 | p[97]);
        if (a->addr.port == 0) return *failure = "invalid port", BTT_TRK_UDP_ERROR;
        return BTT_TRK_UDP_OK;
    }
    case 2: /* scrape */
        if (len < 36) return *failure = "scrape packet without info_hash", BTT_TRK_UDP_ERROR;
        r->hashes = p + 16;
        r->nhashes = (len - 16) / 20;
        if (r->nhashes > BTT_TRK_SCRAPE_MAX) r->nhashes = BTT_TRK_SCRAPE_MAX;
        return BTT_TRK_UDP_OK;
    default:
        return *failure = "unknown action", BTT_TRK_UDP_ERROR;
    }
}

static uint64_t connid_at(const uint8_t key[16], const btt_addr *from, uint64_t epoch)
{
    uint8_t m[8 + 1 + 16 + 2];
    memcpy(m, &epoch, 8);
    m[8] = from->family;
    memcpy(m + 9, from->ip, 16);
    m[25] = (uint8_t)(from->port >> 8);
    m[26] = (uint8_t)from->port;
    if (from->family == 4) memset(m + 13, 0, 12);
    uint64_t h;
    crypto_shorthash_siphash24((uint8_t *)&h, m, sizeof m, key);
    /* never the protocol id, so a connect can never be mistaken for a connected request */
    if (h == 0x41727101980ULL) h ^= 1;
    return h;
}

uint64_t btt_trk_udp_connid(const uint8_t key[16], const btt_addr *from, uint64_t now)
{
    return connid_at(key, from, now / BTT_TRK_UDP_CONNID_EPOCH);
}

bool btt_trk_udp_connid_ok(const uint8_t key[16], const btt_addr *from, uint64_t now, uint64_t id)
{
    uint64_t e = now / BTT_TRK_UDP_CONNID_EPOCH;
    if (connid_at(key, from, e) == id) return true;
    return e > 0 && connid_at(key, from, e - 1) == id;
}

size_t btt_trk_udp_connect_reply(uint8_t out[16], uint32_t txid, uint64_t conn_id)
{
    put64(put32(put32(out, 0), txid), conn_id);
    return 16;
}

size_t btt_trk_udp_announce_reply(uint8_t *out, size_t cap, uint32_t txid, uint32_t interval,
                                  const btt_trk_counts *c, const uint8_t *peers, size_t n, size_t stride)
{
    uint8_t *p = put32(out, 1);
    p = put32(p, txid);
    p = put32(p, interval);
    p = put32(p, c->incomplete);
    p = put32(p, c->complete);
    size_t room = (cap - 20) / stride;
    if (n > room) n = room;
    memcpy(p, peers, n * stride);
    return 20 + n * stride;
}

size_t btt_trk_udp_scrape_reply_head(uint8_t out[8], uint32_t txid)
{
    put32(put32(out, 2), txid);
    return 8;
}

size_t btt_trk_udp_scrape_reply_entry(uint8_t out[12], const btt_trk_counts *c)
{
    put32(put32(put32(out, c->complete), c->downloaded), c->incomplete);
    return 12;
}

size_t btt_trk_udp_error_reply(uint8_t *out, size_t cap, uint32_t txid, const char *message)
{
    put32(put32(out, 3), txid);
    size_t n = strlen(message);
    if (n > cap - 8) n = cap - 8;
    memcpy(out + 8, message, n);
    return 8 + n;
}
