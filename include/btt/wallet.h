/* btt/wallet.h - a wallet: one Ed25519 key pair, kept in a password-encrypted file.
 *
 * File format (docs/ledger-design.md has it byte by byte): a 92-byte header (magic, version,
 * algorithm ids, Argon2id parameters, salt, nonce, public key) followed by the 32-byte Ed25519
 * seed encrypted with XChaCha20-Poly1305 under a key derived from the password with Argon2id;
 * the whole header is authenticated as associated data. 140 bytes in all.
 *
 * Files are created with mode 0600 and never overwrite anything: the bytes go to a fresh temp
 * file (O_EXCL) in the same directory, are fsynced, and are then hard-linked to the final name,
 * which fails if that name exists; the directory is fsynced too.
 *
 * In memory the secret key lives in sodium_malloc'd pages (guard pages, mlocked where allowed,
 * read-only once written) and is wiped when the wallet is freed; the password-derived key is
 * wiped as soon as it has been used. */
#ifndef BTT_WALLET_H
#define BTT_WALLET_H

#include <stddef.h>
#include <stdint.h>

#include "btt/account.h"
#include "btt/error.h"

#define BTT_WALLET_SIG_LEN 64
#define BTT_WALLET_SEED_LEN 32
#define BTT_WALLET_FILE_LEN 140

typedef struct btt_wallet btt_wallet; /* opaque: the key pair */

/* Argon2id cost. opslimit >= 1 and memlimit_kib >= 8 (libsodium's minimums); files asking for
 * more than 64 passes or 4 GiB are refused as damaged (a hostile file must not exhaust memory). */
typedef struct btt_wallet_kdf {
    uint32_t opslimit;
    uint32_t memlimit_kib;
} btt_wallet_kdf;

/* libsodium's "moderate" profile: 3 passes over 256 MiB, about a second. Used when kdf is NULL. */
extern const btt_wallet_kdf BTT_WALLET_KDF_DEFAULT;
/* The cheapest allowed (1 pass, 8 KiB): for tests only. */
extern const btt_wallet_kdf BTT_WALLET_KDF_TEST;

/* A new random key pair in memory. *out is owned by the caller: free with btt_wallet_free. */
BTT_WUR btt_err btt_wallet_generate(btt_wallet **out, btt_error *err);
/* The key pair of a 32-byte Ed25519 seed (deterministic; for tests and restores). Caller frees. */
BTT_WUR btt_err btt_wallet_from_seed(const uint8_t seed[BTT_WALLET_SEED_LEN], btt_wallet **out, btt_error *err);
/* Wipes the secret key and frees w. NULL is a no-op. */
void btt_wallet_free(btt_wallet *w);

/* Writes w to a new file at path, encrypted with the password (pwlen bytes, may contain any
 * byte). kdf NULL means BTT_WALLET_KDF_DEFAULT. BTT_EEXIST if path exists (nothing is
 * overwritten), BTT_EINVAL for bad KDF parameters, BTT_ENOMEM if Argon2id cannot get its memory,
 * BTT_EIO/BTT_ENOENT for file errors. On any failure no file is left behind. */
BTT_WUR btt_err btt_wallet_save(const btt_wallet *w, const char *path, const char *password, size_t pwlen,
                                const btt_wallet_kdf *kdf, btt_error *err);

/* btt_wallet_generate + btt_wallet_save. On success *out (if out is non-NULL) receives the new
 * wallet, owned by the caller; otherwise it is freed. */
BTT_WUR btt_err btt_wallet_create(const char *path, const char *password, size_t pwlen, const btt_wallet_kdf *kdf,
                                  btt_wallet **out, btt_error *err);

/* Reads and decrypts the wallet at path. Errors:
 *   BTT_EWALLET   not a btt wallet file (wrong magic, or too short to hold one)
 *   BTT_EVERSION  a btt wallet of a version this code does not read
 *   BTT_EAUTH     wrong password, or the file is damaged (truncated, extended, bit flips,
 *                 unknown algorithms, implausible parameters); the message says which
 *                 when it can be told apart (a wrong length is damage, a failed
 *                 decryption is "wrong password or damaged file")
 *   BTT_ENOENT/BTT_EIO  the file cannot be read; BTT_ENOMEM
 * *out is owned by the caller (btt_wallet_free). */
BTT_WUR btt_err btt_wallet_open(const char *path, const char *password, size_t pwlen, btt_wallet **out,
                                btt_error *err);

/* The account (public key) recorded in a wallet file's header, without the password. It is
 * not authenticated until the file is opened with the password. Same errors as open, minus AUTH
 * for the password. */
BTT_WUR btt_err btt_wallet_peek_account(const char *path, btt_account *out, btt_error *err);

/* The wallet's public key. Valid while w lives. */
const btt_account *btt_wallet_account(const btt_wallet *w);

/* Detached Ed25519 signature of len bytes at msg. */
void btt_wallet_sign(const btt_wallet *w, const uint8_t *msg, size_t len, uint8_t sig[BTT_WALLET_SIG_LEN]);

#endif
