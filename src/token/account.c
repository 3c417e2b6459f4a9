/* account.c - printable account names: "btt1" + base32(key || 4-byte BLAKE2b checksum). */
#include "btt/account.h"

#include <sodium.h>
#include <string.h>

#define CHECK_LEN 4
#define RAW_LEN (BTT_ACCOUNT_KEY_LEN + CHECK_LEN) /* 36 bytes */
#define B32_LEN 58                                 /* ceil(36 * 8 / 5) */
#define PREFIX_LEN 4

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
static const uint8_t personal[crypto_generichash_blake2b_PERSONALBYTES] = "btt-account-v1";

static void checksum(const uint8_t key[BTT_ACCOUNT_KEY_LEN], uint8_t out[CHECK_LEN])
{
    uint8_t h[16];
    crypto_generichash_blake2b_salt_personal(h, sizeof h, key, BTT_ACCOUNT_KEY_LEN, NULL, 0, NULL, personal);
    memcpy(out, h, CHECK_LEN);
}

char *btt_account_format(const btt_account *a, char out[BTT_ACCOUNT_STR_LEN + 1])
{
    uint8_t raw[RAW_LEN];
    memcpy(raw, a->key, BTT_ACCOUNT_KEY_LEN);
    checksum(a->key, raw + BTT_ACCOUNT_KEY_LEN);
    memcpy(out, BTT_ACCOUNT_PREFIX, PREFIX_LEN);
    size_t o = PREFIX_LEN;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < RAW_LEN; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0) out[o++] = alphabet[(acc << (5 - bits)) & 31];
    out[o] = 0;
    return out;
}

static int b32_value(char c)
{
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

btt_err btt_account_parse(const char *s, size_t len, btt_account *out, btt_error *err)
{
    if (len < PREFIX_LEN || (memcmp(s, "btt1", PREFIX_LEN) != 0 && memcmp(s, "BTT1", PREFIX_LEN) != 0))
        return btt_error_set(err, BTT_EINVAL, "not a btt account: it must start with \"btt1\"");
    if (len != BTT_ACCOUNT_STR_LEN)
        return btt_error_set(err, BTT_EINVAL, "not a btt account: %zu characters, expected %d", len,
                             BTT_ACCOUNT_STR_LEN);
    bool upper = s[0] == 'B', lower = s[0] == 'b';
    uint8_t raw[RAW_LEN];
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = PREFIX_LEN; i < len; i++) {
        int v = b32_value(s[i]);
        if (v < 0)
            return btt_error_set(err, BTT_EINVAL, "btt account: invalid character at position %zu (allowed: a-z, 2-7)",
                                 i + 1);
        if (s[i] >= 'a' && s[i] <= 'z') lower = true;
        if (s[i] >= 'A' && s[i] <= 'Z') upper = true;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            raw[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (upper && lower) return btt_error_set(err, BTT_EINVAL, "btt account: mixes upper and lower case");
    /* 58 * 5 = 290 bits: 288 bits of data and 2 pad bits, which must be zero */
    if (o != RAW_LEN || bits != 2 || (acc & 3) != 0)
        return btt_error_set(err, BTT_EINVAL, "btt account: the last character is not valid here");
    uint8_t want[CHECK_LEN];
    checksum(raw, want);
    if (sodium_memcmp(want, raw + BTT_ACCOUNT_KEY_LEN, CHECK_LEN) != 0)
        return btt_error_set(err, BTT_EINVAL, "btt account: checksum mismatch (probably a typo)");
    memcpy(out->key, raw, BTT_ACCOUNT_KEY_LEN);
    return BTT_OK;
}

btt_err btt_account_parse_cstr(const char *s, btt_account *out, btt_error *err)
{
    return btt_account_parse(s, strlen(s), out, err);
}

bool btt_account_eq(const btt_account *a, const btt_account *b)
{
    return memcmp(a->key, b->key, BTT_ACCOUNT_KEY_LEN) == 0;
}

bool btt_account_is_valid_key(const btt_account *a)
{
    return crypto_core_ed25519_is_valid_point(a->key) == 1;
}
