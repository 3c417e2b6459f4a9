/* genesis.c - the initial split of the supply into the whitepaper's pools, and the ledger id.
 *
 * Whitepaper, "BTT Token Issuance": "We will create a total supply of 990,000,000,000 BTT. The
 * total supply with be divided as follows: the allocation to BitTorrent, Inc. torrent client users
 * as part of client install and onboarding, the allocation to existing TRX holders, the initial
 * supporters and investors, the BitTorrent Foundation and team, the TRON Foundation." */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/bencode.h"
#include "btt/ledger.h"

static const char *const pool_names[BTT_POOL_COUNT] = {"onboarding", "trx_holders", "investors", "foundation",
                                                       "tron"};
static const uint8_t id_personal[crypto_generichash_blake2b_PERSONALBYTES] = "btt-ledger-v1";

#define GENESIS_VERSION 1

const char *btt_genesis_pool_name(btt_genesis_pool p)
{
    return (unsigned)p < BTT_POOL_COUNT ? pool_names[p] : "?";
}

static int pool_by_name(const char *s, size_t len)
{
    for (int p = 0; p < BTT_POOL_COUNT; p++)
        if (strlen(pool_names[p]) == len && memcmp(pool_names[p], s, len) == 0) return p;
    return -1;
}

static bool name_ok(const char *s)
{
    size_t n = strnlen(s, BTT_GENESIS_NAME_MAX + 1);
    if (n == 0 || n > BTT_GENESIS_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

btt_err btt_genesis_validate(const btt_genesis *g, btt_error *err)
{
    if (!name_ok(g->name))
        return btt_error_set(err, BTT_EINVAL, "genesis: name must be 1 to %d characters of A-Z a-z 0-9 . _ -",
                             BTT_GENESIS_NAME_MAX);
    btt_amount tmp;
    if (!btt_amount_from_units(btt_amount_units(g->supply), &tmp) || btt_amount_is_zero(g->supply))
        return btt_error_set(err, BTT_EINVAL, "genesis: supply must be positive and at most 990000000000 BTT");
    if (!btt_amount_ge(g->supply, g->faucet_grant))
        return btt_error_set(err, BTT_EINVAL, "genesis: the faucet grant exceeds the supply");
    if (g->faucet_bits > BTT_POW_MAX_BITS)
        return btt_error_set(err, BTT_EINVAL, "genesis: faucet difficulty %u is above %u bits", g->faucet_bits,
                             BTT_POW_MAX_BITS);
    if ((unsigned)g->remainder >= BTT_POOL_COUNT)
        return btt_error_set(err, BTT_EINVAL, "genesis: unknown remainder pool");
    uint64_t total = 0;
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        if (g->pool_bp[p] > BTT_GENESIS_BP_TOTAL)
            return btt_error_set(err, BTT_EINVAL, "genesis: pool %s: share %u is above %d basis points", pool_names[p],
                                 g->pool_bp[p], BTT_GENESIS_BP_TOTAL);
        total += g->pool_bp[p];
        if (!btt_account_is_valid_key(&g->pool_key[p]))
            return btt_error_set(err, BTT_EINVAL, "genesis: pool %s: not a valid Ed25519 public key", pool_names[p]);
        for (int q = 0; q < p; q++)
            if (btt_account_eq(&g->pool_key[p], &g->pool_key[q]))
                return btt_error_set(err, BTT_EINVAL, "genesis: pools %s and %s have the same account", pool_names[q],
                                     pool_names[p]);
    }
    if (total != BTT_GENESIS_BP_TOTAL)
        return btt_error_set(err, BTT_EINVAL, "genesis: pool shares sum to %llu basis points, not %d",
                             (unsigned long long)total, BTT_GENESIS_BP_TOTAL);
    return BTT_OK;
}

btt_err btt_genesis_allocate(const btt_genesis *g, btt_amount out[BTT_POOL_COUNT], btt_error *err)
{
    btt_err e = btt_genesis_validate(g, err);
    if (e) return e;
    btt_amount sum = BTT_AMOUNT_ZERO, rest;
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        if (!btt_amount_share(&out[p], g->supply, g->pool_bp[p], BTT_GENESIS_BP_TOTAL) ||
            !btt_amount_add(&sum, sum, out[p]))
            return btt_error_set(err, BTT_EOVERFLOW, "genesis: split overflows");
    }
    /* each share rounds down, so the sum is at most the supply and short by less than one unit per pool */
    if (!btt_amount_sub(&rest, g->supply, sum) || !btt_amount_add(&out[g->remainder], out[g->remainder], rest))
        return btt_error_set(err, BTT_EOVERFLOW, "genesis: split overflows");
    return BTT_OK;
}

btt_err btt_genesis_encode(const btt_genesis *g, btt_buf *b)
{
    btt_err e = 0;
    e |= btt_benc_dict(b);
    e |= btt_benc_cstr(b, "faucet-bits");
    e |= btt_benc_int(b, g->faucet_bits);
    e |= btt_benc_cstr(b, "faucet-grant");
    e |= btt_benc_int(b, (int64_t)btt_amount_units(g->faucet_grant));
    e |= btt_benc_cstr(b, "name");
    e |= btt_benc_cstr(b, g->name);
    e |= btt_benc_cstr(b, "pools");
    e |= btt_benc_list(b);
    for (int p = 0; p < BTT_POOL_COUNT; p++) {
        e |= btt_benc_dict(b);
        e |= btt_benc_cstr(b, "key");
        e |= btt_benc_str(b, g->pool_key[p].key, BTT_ACCOUNT_KEY_LEN);
        e |= btt_benc_cstr(b, "name");
        e |= btt_benc_cstr(b, pool_names[p]);
        e |= btt_benc_cstr(b, "share");
        e |= btt_benc_int(b, g->pool_bp[p]);
        e |= btt_benc_end(b);
    }
    e |= btt_benc_end(b);
    e |= btt_benc_cstr(b, "remainder");
    e |= btt_benc_cstr(b, btt_genesis_pool_name(g->remainder));
    e |= btt_benc_cstr(b, "supply");
    e |= btt_benc_int(b, (int64_t)btt_amount_units(g->supply));
    e |= btt_benc_cstr(b, "version");
    e |= btt_benc_int(b, GENESIS_VERSION);
    e |= btt_benc_end(b);
    return e ? BTT_ENOMEM : BTT_OK;
}

btt_err btt_genesis_ledger_id(const btt_genesis *g, uint8_t id[BTT_LEDGER_ID_LEN], btt_error *err)
{
    btt_err e = btt_genesis_validate(g, err);
    if (e) return e;
    btt_buf b;
    btt_buf_init(&b, 4096);
    if (btt_genesis_encode(g, &b) != BTT_OK) {
        btt_buf_free(&b);
        return btt_error_set(err, BTT_ENOMEM, "out of memory");
    }
    crypto_generichash_blake2b_salt_personal(id, BTT_LEDGER_ID_LEN, b.data, b.len, NULL, 0, NULL, id_personal);
    btt_buf_free(&b);
    return BTT_OK;
}

/* ---------------------------------------------------------------- text form */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s)) (*s)++, (*n)--;
    while (*n && is_space((*s)[*n - 1])) (*n)--;
}

static bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0')) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max) return false;
    *out = v;
    return true;
}

enum { K_NAME, K_SUPPLY, K_GRANT, K_BITS, K_REMAINDER, K_POOL0, K_COUNT = K_POOL0 + BTT_POOL_COUNT };

btt_err btt_genesis_parse(const char *text, size_t len, btt_genesis *out, btt_error *err)
{
    btt_genesis g;
    memset(&g, 0, sizeof g);
    g.supply = BTT_AMOUNT_SUPPLY;
    unsigned seen = 0;
    size_t lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        lineno++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *line = p;
        size_t n = (size_t)(eol - p);
        p = nl ? nl + 1 : end;
        const char *hash = memchr(line, '#', n);
        if (hash) n = (size_t)(hash - line);
        trim(&line, &n);
        if (n == 0) continue;
        if (memchr(line, '\0', n)) return btt_error_set(err, BTT_EINVAL, "genesis line %zu: NUL byte", lineno);
        const char *eq = memchr(line, '=', n);
        if (!eq) return btt_error_set(err, BTT_EINVAL, "genesis line %zu: expected 'key = value'", lineno);
        const char *key = line, *val = eq + 1;
        size_t klen = (size_t)(eq - line), vlen = n - klen - 1;
        trim(&key, &klen);
        trim(&val, &vlen);
        int k = -1;
        if (klen == 4 && memcmp(key, "name", 4) == 0) k = K_NAME;
        else if (klen == 6 && memcmp(key, "supply", 6) == 0) k = K_SUPPLY;
        else if (klen == 12 && memcmp(key, "faucet.grant", 12) == 0) k = K_GRANT;
        else if (klen == 17 && memcmp(key, "faucet.difficulty", 17) == 0) k = K_BITS;
        else if (klen == 9 && memcmp(key, "remainder", 9) == 0) k = K_REMAINDER;
        else if (klen > 5 && memcmp(key, "pool.", 5) == 0) {
            int pool = pool_by_name(key + 5, klen - 5);
            if (pool >= 0) k = K_POOL0 + pool;
        }
        if (k < 0)
            return btt_error_set(err, BTT_EINVAL, "genesis line %zu: unknown key '%.*s'", lineno,
                                 klen > 40 ? 40 : (int)klen, key);
        if (seen & (1u << k))
            return btt_error_set(err, BTT_EINVAL, "genesis line %zu: '%.*s' given twice", lineno, (int)klen, key);
        seen |= 1u << k;
        if (vlen == 0) return btt_error_set(err, BTT_EINVAL, "genesis line %zu: '%.*s' has no value", lineno, (int)klen, key);

        btt_error sub = {0};
        uint64_t u;
        switch (k) {
        case K_NAME:
            if (vlen > BTT_GENESIS_NAME_MAX)
                return btt_error_set(err, BTT_EINVAL, "genesis line %zu: name longer than %d characters", lineno,
                                     BTT_GENESIS_NAME_MAX);
            memcpy(g.name, val, vlen);
            g.name[vlen] = 0;
            if (!name_ok(g.name))
                return btt_error_set(err, BTT_EINVAL, "genesis line %zu: name may only use A-Z a-z 0-9 . _ -", lineno);
            break;
        case K_SUPPLY:
        case K_GRANT:
            if (btt_amount_parse(val, vlen, k == K_SUPPLY ? &g.supply : &g.faucet_grant, &sub) != BTT_OK)
                return btt_error_set(err, BTT_EINVAL, "genesis line %zu: %s", lineno, btt_error_str(&sub));
            break;
        case K_BITS:
            if (!parse_uint(val, vlen, BTT_POW_MAX_BITS, &u))
                return btt_error_set(err, BTT_EINVAL, "genesis line %zu: faucet.difficulty must be 0 to %d bits", lineno,
                                     BTT_POW_MAX_BITS);
            g.faucet_bits = (unsigned)u;
            break;
        case K_REMAINDER: {
            int pool = pool_by_name(val, vlen);
            if (pool < 0)
                return btt_error_set(err, BTT_EINVAL,
                                     "genesis line %zu: remainder must name a pool (onboarding, trx_holders, "
                                     "investors, foundation, tron)",
                                     lineno);
            g.remainder = (btt_genesis_pool)pool;
            break;
        }
        default: { /* pool.X = <account> <basis points> */
            int pool = k - K_POOL0;
            size_t alen = 0;
            while (alen < vlen && !is_space(val[alen])) alen++;
            const char *bp = val + alen;
            size_t bplen = vlen - alen;
            trim(&bp, &bplen);
            if (btt_account_parse(val, alen, &g.pool_key[pool], &sub) != BTT_OK)
                return btt_error_set(err, BTT_EINVAL, "genesis line %zu: pool.%s: %s", lineno, pool_names[pool],
                                     btt_error_str(&sub));
            if (!parse_uint(bp, bplen, BTT_GENESIS_BP_TOTAL, &u))
                return btt_error_set(err, BTT_EINVAL,
                                     "genesis line %zu: pool.%s: expected '<account> <share in basis points, 0 to "
                                     "10000>'",
                                     lineno, pool_names[pool]);
            g.pool_bp[pool] = (uint32_t)u;
        }
        }
    }
    static const char *const required[K_COUNT] = {"name", NULL, "faucet.grant", "faucet.difficulty", "remainder"};
    for (int k = 0; k < K_COUNT; k++) {
        if (seen & (1u << k)) continue;
        if (k >= K_POOL0)
            return btt_error_set(err, BTT_EINVAL, "genesis: missing pool.%s", pool_names[k - K_POOL0]);
        if (required[k]) return btt_error_set(err, BTT_EINVAL, "genesis: missing %s", required[k]);
    }
    btt_err e = btt_genesis_validate(&g, err);
    if (e) return e;
    *out = g;
    return BTT_OK;
}
