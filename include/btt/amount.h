/* btt/amount.h - BTT amounts: checked arithmetic on whole units, decimal text without floats.
 *
 * An amount counts units of 10^-6 BTT (BTT's on-chain precision). Every valid amount lies in
 * [0, BTT_SUPPLY_UNITS]: the total supply of 990,000,000,000 BTT = 9.9 * 10^17 units, which fits in
 * a uint64_t with room to spare. Nothing can ever hold more than the supply, so every operation
 * that would leave that range fails (this also rules out uint64_t wrap-around).
 *
 * The struct has one member on purpose (Core Lightning's common/amount.h): nothing outside
 * src/token/amount.c touches `raw_units_` (a lint test greps the tree for it). Use the accessors,
 * the checked arithmetic (each returns false on failure, and the result must be checked), and
 * the parser/formatter. No floating point anywhere. */
#ifndef BTT_AMOUNT_H
#define BTT_AMOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"

#define BTT_UNITS_PER_BTT UINT64_C(1000000)
#define BTT_AMOUNT_DECIMALS 6
#define BTT_SUPPLY_BTT UINT64_C(990000000000)
#define BTT_SUPPLY_UNITS (BTT_SUPPLY_BTT * BTT_UNITS_PER_BTT) /* 990000000000000000 */

/* Longest formatted amount: "990000000000.000000" is 19 characters; plus NUL, rounded up. */
#define BTT_AMOUNT_STRLEN 24

typedef struct btt_amount {
    uint64_t raw_units_; /* do not touch outside amount.c: use the functions below */
} btt_amount;

/* Compile-time constants (for literals only; values above the supply are a programming error).
 * BTT_AMOUNT_UNITS(1) is 0.000001 BTT, BTT_AMOUNT_BTT(5) is 5 BTT. */
#define BTT_AMOUNT_UNITS(u) ((btt_amount){.raw_units_ = (uint64_t)(u)})
#define BTT_AMOUNT_BTT(b) ((btt_amount){.raw_units_ = (uint64_t)(b) * BTT_UNITS_PER_BTT})
#define BTT_AMOUNT_ZERO BTT_AMOUNT_UNITS(0)
#define BTT_AMOUNT_SUPPLY BTT_AMOUNT_UNITS(BTT_SUPPLY_UNITS)

/* Raw count of units (for encoders, which carry integers). */
uint64_t btt_amount_units(btt_amount a);

/* Units -> amount; false if u is above the supply. */
__attribute__((warn_unused_result)) bool btt_amount_from_units(uint64_t u, btt_amount *out);
/* Whole BTT -> amount; false if above the supply. */
__attribute__((warn_unused_result)) bool btt_amount_from_btt(uint64_t whole, btt_amount *out);

/* *out = a + b; false (out unspecified) if the sum exceeds the supply. out may alias a or b. */
__attribute__((warn_unused_result)) bool btt_amount_add(btt_amount *out, btt_amount a, btt_amount b);
/* *out = a - b; false if b > a. */
__attribute__((warn_unused_result)) bool btt_amount_sub(btt_amount *out, btt_amount a, btt_amount b);
/* *out = a * k; false if the product exceeds the supply. */
__attribute__((warn_unused_result)) bool btt_amount_mul(btt_amount *out, btt_amount a, uint64_t k);
/* A share of a: *out = floor(a * num / den), exact and without overflow. False if den == 0,
 * den > UINT32_MAX or num > den. */
__attribute__((warn_unused_result)) bool btt_amount_share(btt_amount *out, btt_amount a, uint64_t num,
                                                          uint64_t den);

int btt_amount_cmp(btt_amount a, btt_amount b); /* -1, 0, 1 */
bool btt_amount_eq(btt_amount a, btt_amount b);
bool btt_amount_is_zero(btt_amount a);
/* a >= b */
bool btt_amount_ge(btt_amount a, btt_amount b);
btt_amount btt_amount_min(btt_amount a, btt_amount b);

/* Parses decimal BTT: digits with an optional '.' and 1 to 6 decimals ("12.5", "0.000001",
 * "990000000000"). Rejected, with a message saying why: empty input, signs, spaces, exponents,
 * leading zeros ("007"), a '.' without digits on both sides, more than 6 decimals, any other
 * character, and values above the total supply. s need not be NUL-terminated (len bytes are read).
 * Returns BTT_OK, BTT_EINVAL (not a number in this format) or BTT_ERANGE (above the supply). */
BTT_WUR btt_err btt_amount_parse(const char *s, size_t len, btt_amount *out, btt_error *err);
/* Same, for a NUL-terminated string. */
BTT_WUR btt_err btt_amount_parse_cstr(const char *s, btt_amount *out, btt_error *err);

/* Formats a as decimal BTT in canonical form: no trailing fractional zeros and no '.' for whole
 * amounts ("12.5", "0.000001", "990000000000", "0"). Returns buf. */
char *btt_amount_format(btt_amount a, char buf[BTT_AMOUNT_STRLEN]);

#endif
