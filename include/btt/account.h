/* btt/account.h - ledger accounts: an Ed25519 public key and its printable name.
 *
 * An account is named by its 32-byte Ed25519 public key. People see it as
 *
 *     "btt1" + base32(key || checksum)          62 characters, e.g. btt1qy...
 *
 * where checksum is the first 4 bytes of BLAKE2b-128(key) personalised with "btt-account-v1",
 * and base32 is RFC 4648's alphabet in lower case (a-z, 2-7) without padding: 36 bytes = 288 bits
 * = 58 characters, the last carrying 3 bits and two zero pad bits. A typo changes the checksum
 * (a random string passes with probability 2^-32); the pad bits must be zero so every key has
 * exactly one name. Parsing accepts all-upper-case too (for QR codes and dictation). */
#ifndef BTT_ACCOUNT_H
#define BTT_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/error.h"

#define BTT_ACCOUNT_KEY_LEN 32
#define BTT_ACCOUNT_PREFIX "btt1"
#define BTT_ACCOUNT_STR_LEN 62 /* characters, without the NUL */
#define BTT_LEDGER_ID_LEN 32   /* a ledger's identity: every signature covers it */
#define BTT_SIG_LEN 64         /* Ed25519 signature */
#define BTT_DOMAIN_TAG_LEN 16  /* signature domains: 16 bytes prepended to what is signed */

typedef struct btt_account {
    uint8_t key[BTT_ACCOUNT_KEY_LEN]; /* Ed25519 public key */
} btt_account;

/* Writes the printable name and a NUL into out (BTT_ACCOUNT_STR_LEN + 1 bytes). Returns out. */
char *btt_account_format(const btt_account *a, char out[BTT_ACCOUNT_STR_LEN + 1]);

/* Parses len bytes of s. BTT_EINVAL with a message for: a missing "btt1" prefix, a wrong length,
 * a character outside the alphabet (with its position), mixed case, non-zero pad bits, and a
 * checksum mismatch ("probably a typo"). Does not check that the key is a valid curve point;
 * btt_account_is_valid_key does. */
BTT_WUR btt_err btt_account_parse(const char *s, size_t len, btt_account *out, btt_error *err);
BTT_WUR btt_err btt_account_parse_cstr(const char *s, btt_account *out, btt_error *err);

bool btt_account_eq(const btt_account *a, const btt_account *b);

/* True if the key is a canonical Ed25519 point in the prime-order subgroup, i.e. one a wallet
 * can sign for. Keys from btt_wallet always are. Costs about as much as one signature check. */
bool btt_account_is_valid_key(const btt_account *a);

#endif
