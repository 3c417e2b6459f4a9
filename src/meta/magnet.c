/* magnet.c - magnet links: BEP 9 ("magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<tracker-url>
 * &x.pe=<peer-address>"; "<info-hash> Is the info-hash hex encoded, for a total of 40 characters.
 * For compatability with existing links in the wild, clients should also support the 32 character
 * base32 encoded info-hash") and BEP 53 ("so=0,2,4,6-8" selects files). */
#include "btt/magnet.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "btt/buf.h"

#define MAX_URI (64u << 10)
#define MAX_TRACKERS 100
#define MAX_PEERS 200
#define MAX_SELECT 100000u

static int hexdig(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; plus_space turns '+' into ' '. NULL on bad
 * escapes or a decoded NUL. */
static char *pct_decode(const char *s, size_t n, bool plus_space)
{
    char *o = malloc(n + 1), *q = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexdig(s[i + 1]) : -1, lo = hi >= 0 ? hexdig(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(o);
                return NULL;
            }
            *q++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *q++ = plus_space && s[i] == '+' ? ' ' : s[i];
        }
    }
    *q = 0;
    return o;
}

static int base32_decode(const char *s, uint8_t out[20])
{
    uint64_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (int i = 0; i < 32; i++) {
        char c = s[i];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a';
        else if (c >= '2' && c <= '7') v = c - '2' + 26;
        else return -1;
        acc = acc << 5 | (uint64_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o == 20 ? 0 : -1;
}

static btt_err push(char ***arr, size_t *n, char *s, size_t max)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i], s) == 0) {
            free(s);
            return BTT_OK;
        }
    if (*n >= max) {
        free(s);
        return BTT_ETOOBIG;
    }
    char **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (!a) {
        free(s);
        return BTT_ENOMEM;
    }
    a[(*n)++] = s;
    *arr = a;
    return BTT_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool parse_index(const char **s, uint32_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
        x = x * 10 + (uint64_t)(*p++ - '0');
        if (x > UINT32_MAX) return false;
    }
    *v = (uint32_t)x;
    *s = p;
    return true;
}

/* "0,2,4-6" -> sorted unique indexes. */
static btt_err parse_select(btt_magnet *m, const char *s, btt_error *err)
{
    while (*s) {
        uint32_t a, b;
        if (!parse_index(&s, &a)) return btt_error_set(err, BTT_EMAGNET, "so: expected a file index");
        b = a;
        if (*s == '-') {
            s++;
            if (!parse_index(&s, &b) || b < a) return btt_error_set(err, BTT_EMAGNET, "so: bad range");
        }
        if (*s == ',') s++;
        else if (*s) return btt_error_set(err, BTT_EMAGNET, "so: unexpected '%c'", *s);
        if ((uint64_t)b - a + 1 > MAX_SELECT - m->num_select)
            return btt_error_set(err, BTT_EMAGNET, "so: more than %u files selected", MAX_SELECT);
        uint32_t *v = realloc(m->select, (m->num_select + (b - a + 1)) * sizeof *v);
        if (!v) return btt_error_set(err, BTT_ENOMEM, "out of memory");
        m->select = v;
        for (uint64_t i = a; i <= b; i++) m->select[m->num_select++] = (uint32_t)i;
    }
    if (m->num_select > 1) qsort(m->select, m->num_select, sizeof *m->select, cmp_u32);
    size_t k = 0;
    for (size_t i = 0; i < m->num_select; i++)
        if (k == 0 || m->select[k - 1] != m->select[i]) m->select[k++] = m->select[i];
    m->num_select = k;
    return BTT_OK;
}

static bool key_is(const char *k, size_t kl, const char *name)
{
    size_t n = strlen(name);
    /* "tr" also matches the numbered form "tr.1" */
    return kl >= n && strncmp(k, name, n) == 0 && (kl == n || k[n] == '.');
}

btt_err btt_magnet_parse(const char *uri, btt_magnet **out, btt_error *err)
{
    *out = NULL;
    size_t len = strnlen(uri, MAX_URI + 1);
    if (len > MAX_URI) return btt_error_set(err, BTT_EMAGNET, "magnet link longer than %u bytes", MAX_URI);
    if (strncasecmp(uri, "magnet:?", 8) != 0)
        return btt_error_set(err, BTT_EMAGNET, "not a magnet link (expected 'magnet:?')");
    btt_magnet *m = calloc(1, sizeof *m);
    if (!m) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    bool have_hash = false, saw_xt = false;
    btt_err e = BTT_OK;
    for (const char *p = uri + 8; *p && !e;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq) {
            size_t kl = (size_t)(eq - p);
            char *v = pct_decode(eq + 1, n - kl - 1, key_is(p, kl, "dn"));
            if (!v) {
                e = btt_error_set(err, BTT_EMAGNET, "'%.*s': bad percent-encoding", (int)kl, p);
                break;
            }
            if (key_is(p, kl, "xt")) {
                saw_xt = true;
                if (!have_hash && strncasecmp(v, "urn:btih:", 9) == 0) {
                    size_t hl = strlen(v + 9);
                    if (hl == 40 ? btt_unhex(v + 9, 40, m->info_hash, 20) == 0
                                 : hl == 32 && base32_decode(v + 9, m->info_hash) == 0)
                        have_hash = true;
                    else
                        e = btt_error_set(err, BTT_EMAGNET, "xt: info-hash must be 40 hex or 32 base32 characters");
                }
                free(v);
            } else if (key_is(p, kl, "dn")) {
                free(m->name);
                m->name = v;
            } else if (key_is(p, kl, "tr")) {
                if (push(&m->trackers, &m->num_trackers, v, MAX_TRACKERS))
                    e = btt_error_set(err, BTT_EMAGNET, "more than %d trackers", MAX_TRACKERS);
            } else if (key_is(p, kl, "x.pe")) {
                if (push(&m->peers, &m->num_peers, v, MAX_PEERS))
                    e = btt_error_set(err, BTT_EMAGNET, "more than %d peers", MAX_PEERS);
            } else if (key_is(p, kl, "so")) {
                e = parse_select(m, v, err);
                free(v);
            } else {
                free(v);
            }
        }
        p += n;
        if (*p == '&') p++;
    }
    if (!e && !have_hash)
        e = btt_error_set(err, BTT_EMAGNET, saw_xt ? "no BitTorrent v1 info-hash (xt=urn:btih:...)"
                                                   : "missing xt=urn:btih:<info-hash>");
    if (e) {
        btt_magnet_free(m);
        return e;
    }
    *out = m;
    return BTT_OK;
}

void btt_magnet_free(btt_magnet *m)
{
    if (!m) return;
    free(m->name);
    for (size_t i = 0; i < m->num_trackers; i++) free(m->trackers[i]);
    free(m->trackers);
    for (size_t i = 0; i < m->num_peers; i++) free(m->peers[i]);
    free(m->peers);
    free(m->select);
    free(m);
}

static btt_err pct_encode(btt_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    btt_err e = BTT_OK;
    for (; *s && !e; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
            e = btt_buf_append_byte(b, c);
        } else {
            char t[3] = {'%', hex[c >> 4], hex[c & 15]};
            e = btt_buf_append(b, t, 3);
        }
    }
    return e;
}

char *btt_magnet_format(const btt_magnet *m)
{
    btt_buf b;
    btt_buf_init(&b, SIZE_MAX / 2);
    char hex[41];
    btt_hex(m->info_hash, 20, hex);
    btt_err e = btt_buf_printf(&b, "magnet:?xt=urn:btih:%s", hex);
    if (m->name) e |= btt_buf_printf(&b, "&dn=") | pct_encode(&b, m->name);
    for (size_t i = 0; i < m->num_trackers; i++) e |= btt_buf_printf(&b, "&tr=") | pct_encode(&b, m->trackers[i]);
    for (size_t i = 0; i < m->num_peers; i++) e |= btt_buf_printf(&b, "&x.pe=") | pct_encode(&b, m->peers[i]);
    for (size_t i = 0; i < m->num_select; i++)
        e |= btt_buf_printf(&b, "%s%u", i ? "," : "&so=", m->select[i]);
    if (e) {
        btt_buf_free(&b);
        return NULL;
    }
    return (char *)btt_buf_steal(&b, NULL);
}
