/* amount.c - BTT amounts: the only file that reads or writes the raw unit count. */
#include "btt/amount.h"

#include <stdio.h>
#include <string.h>

#include "btt/checked.h"

uint64_t btt_amount_units(btt_amount a)
{
    return a.raw_units_;
}

bool btt_amount_from_units(uint64_t u, btt_amount *out)
{
    if (u > BTT_SUPPLY_UNITS) return false;
    out->raw_units_ = u;
    return true;
}

bool btt_amount_from_btt(uint64_t whole, btt_amount *out)
{
    uint64_t u;
    if (!btt_mul_u64(whole, BTT_UNITS_PER_BTT, &u)) return false;
    return btt_amount_from_units(u, out);
}

bool btt_amount_add(btt_amount *out, btt_amount a, btt_amount b)
{
    uint64_t u;
    if (!btt_add_u64(a.raw_units_, b.raw_units_, &u)) return false;
    return btt_amount_from_units(u, out);
}

bool btt_amount_sub(btt_amount *out, btt_amount a, btt_amount b)
{
    if (b.raw_units_ > a.raw_units_) return false;
    out->raw_units_ = a.raw_units_ - b.raw_units_;
    return true;
}

bool btt_amount_mul(btt_amount *out, btt_amount a, uint64_t k)
{
    uint64_t u;
    if (!btt_mul_u64(a.raw_units_, k, &u)) return false;
    return btt_amount_from_units(u, out);
}

bool btt_amount_share(btt_amount *out, btt_amount a, uint64_t num, uint64_t den)
{
    if (den == 0 || den > UINT32_MAX || num > den) return false;
    /* a = q*den + r, so a*num/den = q*num + r*num/den; r*num < den*den <= 2^64 */
    uint64_t q = a.raw_units_ / den, r = a.raw_units_ % den;
    out->raw_units_ = q * num + (r * num) / den; /* <= a, so within the supply */
    return true;
}

int btt_amount_cmp(btt_amount a, btt_amount b)
{
    return (a.raw_units_ > b.raw_units_) - (a.raw_units_ < b.raw_units_);
}

bool btt_amount_eq(btt_amount a, btt_amount b)
{
    return a.raw_units_ == b.raw_units_;
}

bool btt_amount_is_zero(btt_amount a)
{
    return a.raw_units_ == 0;
}

bool btt_amount_ge(btt_amount a, btt_amount b)
{
    return a.raw_units_ >= b.raw_units_;
}

btt_amount btt_amount_min(btt_amount a, btt_amount b)
{
    return a.raw_units_ <= b.raw_units_ ? a : b;
}

static btt_err bad(btt_error *err, const char *s, size_t len, const char *why)
{
    int n = len > 40 ? 40 : (int)len;
    return btt_error_set(err, BTT_EINVAL, "amount '%.*s%s': %s", n, s, len > 40 ? "..." : "", why);
}

/* Why a character that cannot continue a number was rejected, or NULL for "unexpected". */
static const char *char_problem(char c)
{
    switch (c) {
    case 'e': case 'E': return "exponents are not allowed";
    case ' ': case '\t': case '\n': case '\r': return "spaces are not allowed";
    case ',': case '_': case '\'': return "digit separators are not allowed";
    case '-': case '+': return "signs are not allowed";
    default: return NULL;
    }
}

btt_err btt_amount_parse(const char *s, size_t len, btt_amount *out, btt_error *err)
{
    if (len == 0) return btt_error_set(err, BTT_EINVAL, "amount is empty");

    size_t i = 0, int_digits = 0, frac_digits = 0;
    uint64_t whole = 0, frac = 0;
    bool too_big = false;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, int_digits++) {
        if (int_digits == 1 && s[0] == '0') return bad(err, s, len, "leading zeros are not allowed");
        if (!btt_mul_u64(whole, 10, &whole) || !btt_add_u64(whole, (uint64_t)(s[i] - '0'), &whole)) too_big = true;
    }
    if (int_digits == 0) {
        const char *why = s[0] == '.' ? "expected a digit before '.'" : char_problem(s[0]);
        if (why) return bad(err, s, len, why);
        return bad(err, s, len, "expected a digit at position 1");
    }
    if (i < len && s[i] == '.') {
        i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, frac_digits++)
            if (frac_digits < BTT_AMOUNT_DECIMALS) frac = frac * 10 + (uint64_t)(s[i] - '0');
        if (frac_digits == 0) return bad(err, s, len, "expected a digit after '.'");
        if (frac_digits > BTT_AMOUNT_DECIMALS)
            return bad(err, s, len, "more than 6 decimal places (the smallest amount is 0.000001 BTT)");
        for (size_t k = frac_digits; k < BTT_AMOUNT_DECIMALS; k++) frac *= 10;
    }
    if (i < len) {
        const char *why = s[i] == '.' ? "more than one '.'" : char_problem(s[i]);
        if (why) return bad(err, s, len, why);
        char pos[64];
        snprintf(pos, sizeof pos, "unexpected character at position %zu", i + 1);
        return bad(err, s, len, pos);
    }
    uint64_t units;
    if (too_big || !btt_mul_u64(whole, BTT_UNITS_PER_BTT, &units) || !btt_add_u64(units, frac, &units) ||
        units > BTT_SUPPLY_UNITS)
        return btt_error_set(err, BTT_ERANGE, "amount '%.*s%s' is above the total supply of 990000000000 BTT",
                             len > 40 ? 40 : (int)len, s, len > 40 ? "..." : "");
    out->raw_units_ = units;
    return BTT_OK;
}

btt_err btt_amount_parse_cstr(const char *s, btt_amount *out, btt_error *err)
{
    return btt_amount_parse(s, strlen(s), out, err);
}

char *btt_amount_format(btt_amount a, char buf[BTT_AMOUNT_STRLEN])
{
    uint64_t whole = a.raw_units_ / BTT_UNITS_PER_BTT, frac = a.raw_units_ % BTT_UNITS_PER_BTT;
    char tmp[BTT_AMOUNT_STRLEN];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole && n < sizeof tmp);
    size_t o = 0;
    while (n) buf[o++] = tmp[--n];
    if (frac) {
        char f[BTT_AMOUNT_DECIMALS];
        for (int k = BTT_AMOUNT_DECIMALS - 1; k >= 0; k--) {
            f[k] = (char)('0' + frac % 10);
            frac /= 10;
        }
        size_t flen = BTT_AMOUNT_DECIMALS;
        while (f[flen - 1] == '0') flen--;
        buf[o++] = '.';
        memcpy(buf + o, f, flen);
        o += flen;
    }
    buf[o] = 0;
    return buf;
}
