/* wallet.c - Ed25519 key pairs in password-encrypted files (Argon2id + XChaCha20-Poly1305). */
#include "btt/wallet.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btt/fsutil.h"

/* ---- file layout (all integers big-endian) ---- */
#define MAGIC "BTTWALLT"
#define MAGIC_LEN 8
#define OFF_VERSION 8
#define OFF_KDF 9
#define OFF_CIPHER 10
#define OFF_RESERVED 11
#define OFF_OPS 12
#define OFF_MEM 16
#define OFF_SALT 20
#define OFF_NONCE 36
#define OFF_PUBKEY 60
#define HEADER_LEN 92
#define CT_LEN (BTT_WALLET_SEED_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES) /* 48 */

#define VERSION 1
#define KDF_ARGON2ID13 1
#define CIPHER_XCHACHA20POLY1305 1
#define MAX_OPS 64
#define MAX_MEM_KIB (UINT32_C(4) << 20) /* 4 GiB */

_Static_assert(HEADER_LEN + CT_LEN == BTT_WALLET_FILE_LEN, "wallet file length");
_Static_assert(OFF_NONCE - OFF_SALT == crypto_pwhash_argon2id_SALTBYTES, "salt length");
_Static_assert(OFF_PUBKEY - OFF_NONCE == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce length");
_Static_assert(HEADER_LEN - OFF_PUBKEY == crypto_sign_PUBLICKEYBYTES, "public key length");

const btt_wallet_kdf BTT_WALLET_KDF_DEFAULT = {3, 256u * 1024};
const btt_wallet_kdf BTT_WALLET_KDF_TEST = {1, 8};

struct btt_wallet {
    btt_account pub;
    unsigned char *sk; /* crypto_sign_SECRETKEYBYTES, sodium_malloc'd, read-only */
};

static btt_err init_sodium(btt_error *err)
{
    if (sodium_init() < 0) return btt_error_set(err, BTT_EIO, "libsodium failed to initialise");
    return BTT_OK;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A wallet whose secret key is derived from seed (which may itself be in secure memory). */
static btt_err wallet_from_seed(const unsigned char *seed, btt_wallet **out, btt_error *err)
{
    btt_wallet *w = calloc(1, sizeof *w);
    if (!w) return btt_error_set(err, BTT_ENOMEM, "out of memory");
    w->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!w->sk) {
        free(w);
        return btt_error_set(err, BTT_ENOMEM, "out of secure memory");
    }
    crypto_sign_seed_keypair(w->pub.key, w->sk, seed);
    sodium_mprotect_readonly(w->sk);
    *out = w;
    return BTT_OK;
}

btt_err btt_wallet_generate(btt_wallet **out, btt_error *err)
{
    *out = NULL;
    btt_err e = init_sodium(err);
    if (e) return e;
    unsigned char *seed = sodium_malloc(BTT_WALLET_SEED_LEN);
    if (!seed) return btt_error_set(err, BTT_ENOMEM, "out of secure memory");
    randombytes_buf(seed, BTT_WALLET_SEED_LEN);
    e = wallet_from_seed(seed, out, err);
    sodium_free(seed); /* wipes */
    return e;
}

btt_err btt_wallet_from_seed(const uint8_t seed[BTT_WALLET_SEED_LEN], btt_wallet **out, btt_error *err)
{
    *out = NULL;
    btt_err e = init_sodium(err);
    if (e) return e;
    return wallet_from_seed(seed, out, err);
}

void btt_wallet_free(btt_wallet *w)
{
    if (!w) return;
    sodium_free(w->sk); /* zeroes the pages before unmapping */
    free(w);
}

const btt_account *btt_wallet_account(const btt_wallet *w)
{
    return &w->pub;
}

void btt_wallet_sign(const btt_wallet *w, const uint8_t *msg, size_t len, uint8_t sig[BTT_WALLET_SIG_LEN])
{
    crypto_sign_detached(sig, NULL, msg, len, w->sk);
}

/* ---------------------------------------------------------------- files */

static bool kdf_ok(uint32_t ops, uint32_t mem_kib)
{
    return ops >= crypto_pwhash_argon2id_OPSLIMIT_MIN && ops <= MAX_OPS &&
           (uint64_t)mem_kib * 1024 >= crypto_pwhash_argon2id_MEMLIMIT_MIN && mem_kib <= MAX_MEM_KIB &&
           (uint64_t)mem_kib * 1024 <= SIZE_MAX;
}

/* Derives the 32-byte file key into secure memory (caller sodium_frees it). */
static btt_err derive_key(const char *password, size_t pwlen, const uint8_t *header, unsigned char **key,
                          btt_error *err)
{
    *key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    if (!*key) return btt_error_set(err, BTT_ENOMEM, "out of secure memory");
    if (crypto_pwhash(*key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, password, pwlen, header + OFF_SALT,
                      get32(header + OFF_OPS), (size_t)get32(header + OFF_MEM) * 1024,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_free(*key);
        *key = NULL;
        return btt_error_set(err, BTT_ENOMEM, "Argon2id could not allocate %u KiB", get32(header + OFF_MEM));
    }
    return BTT_OK;
}

/* Writes len bytes to a new file at path: temp file (O_EXCL, 0600) + fsync + link (fails if
 * path exists) + unlink temp + fsync directory. */
static btt_err write_new_file(const char *path, const uint8_t *data, size_t len, btt_error *err)
{
    size_t plen = strlen(path);
    if (plen == 0 || plen > PATH_MAX - 32) return btt_error_set(err, BTT_EINVAL, "bad wallet path");
    char tmp[PATH_MAX];
    int fd = -1;
    for (int tries = 0; tries < 16 && fd < 0; tries++) {
        uint32_t r = randombytes_random();
        snprintf(tmp, sizeof tmp, "%s.tmp-%08x", path, r);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST) return btt_error_errno(err, errno, path);
    }
    if (fd < 0) return btt_error_set(err, BTT_EIO, "%s: cannot create a temporary file", path);
    btt_err e = BTT_OK;
    errno = 0;
    if (fchmod(fd, 0600) != 0 || btt_write_all(fd, data, len) != BTT_OK || fsync(fd) != 0)
        e = btt_error_errno(err, errno ? errno : EIO, tmp);
    if (close(fd) != 0 && !e) e = btt_error_errno(err, errno, tmp);
    if (!e && link(tmp, path) != 0) {
        if (errno == EEXIST)
            e = btt_error_set(err, BTT_EEXIST, "%s: already exists; refusing to overwrite a wallet", path);
        else
            e = btt_error_errno(err, errno, path);
    }
    unlink(tmp);
    if (e) return e;
    return btt_fsync_parent(path, err); /* make the new name durable */
}

btt_err btt_wallet_save(const btt_wallet *w, const char *path, const char *password, size_t pwlen,
                        const btt_wallet_kdf *kdf, btt_error *err)
{
    btt_err e = init_sodium(err);
    if (e) return e;
    if (!kdf) kdf = &BTT_WALLET_KDF_DEFAULT;
    if (!kdf_ok(kdf->opslimit, kdf->memlimit_kib))
        return btt_error_set(err, BTT_EINVAL, "wallet KDF parameters out of range (%u passes, %u KiB)", kdf->opslimit,
                             kdf->memlimit_kib);
    struct stat st;
    if (lstat(path, &st) == 0) /* fail before the slow KDF; link() below is the real guard */
        return btt_error_set(err, BTT_EEXIST, "%s: already exists; refusing to overwrite a wallet", path);

    uint8_t file[BTT_WALLET_FILE_LEN];
    memcpy(file, MAGIC, MAGIC_LEN);
    file[OFF_VERSION] = VERSION;
    file[OFF_KDF] = KDF_ARGON2ID13;
    file[OFF_CIPHER] = CIPHER_XCHACHA20POLY1305;
    file[OFF_RESERVED] = 0;
    put32(file + OFF_OPS, kdf->opslimit);
    put32(file + OFF_MEM, kdf->memlimit_kib);
    randombytes_buf(file + OFF_SALT, crypto_pwhash_argon2id_SALTBYTES);
    randombytes_buf(file + OFF_NONCE, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    memcpy(file + OFF_PUBKEY, w->pub.key, crypto_sign_PUBLICKEYBYTES);

    unsigned char *key;
    e = derive_key(password, pwlen, file, &key, err);
    if (e) return e;
    /* the seed is the first half of libsodium's secret key; encrypt it straight from secure memory */
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(file + HEADER_LEN, &clen, w->sk, BTT_WALLET_SEED_LEN, file, HEADER_LEN,
                                               NULL, file + OFF_NONCE, key);
    sodium_free(key);
    if (clen != CT_LEN) return btt_error_set(err, BTT_EIO, "wallet encryption failed");
    return write_new_file(path, file, sizeof file, err);
}

btt_err btt_wallet_create(const char *path, const char *password, size_t pwlen, const btt_wallet_kdf *kdf,
                          btt_wallet **out, btt_error *err)
{
    if (out) *out = NULL;
    btt_wallet *w;
    btt_err e = btt_wallet_generate(&w, err);
    if (e) return e;
    e = btt_wallet_save(w, path, password, pwlen, kdf, err);
    if (e || !out) {
        btt_wallet_free(w);
        return e;
    }
    *out = w;
    return BTT_OK;
}

/* Reads the file and checks everything that can be checked without the password. */
static btt_err read_file(const char *path, uint8_t file[BTT_WALLET_FILE_LEN], btt_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return btt_error_errno(err, errno, path);
    uint8_t buf[BTT_WALLET_FILE_LEN + 1]; /* one more, to notice trailing bytes */
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int saved = errno;
            close(fd);
            return btt_error_errno(err, saved, path);
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n == 0 || memcmp(buf, MAGIC, n < MAGIC_LEN ? n : MAGIC_LEN) != 0)
        return btt_error_set(err, BTT_EWALLET, "%s: not a btt wallet file%s", path, n ? "" : " (empty)");
    if (n <= OFF_VERSION)
        return btt_error_set(err, BTT_EAUTH, "%s: damaged wallet file: truncated (%zu bytes, expected %d)", path, n,
                             BTT_WALLET_FILE_LEN);
    if (buf[OFF_VERSION] != VERSION)
        return btt_error_set(err, BTT_EVERSION, "%s: unsupported wallet version %u (this btt reads version %u)", path,
                             buf[OFF_VERSION], VERSION);
    if (n != BTT_WALLET_FILE_LEN)
        return btt_error_set(err, BTT_EAUTH, "%s: damaged wallet file: %s (%s%zu bytes, expected %d)", path,
                             n < BTT_WALLET_FILE_LEN ? "truncated" : "trailing bytes",
                             n > BTT_WALLET_FILE_LEN ? "more than " : "", n > BTT_WALLET_FILE_LEN ? n - 1 : n,
                             BTT_WALLET_FILE_LEN);
    if (buf[OFF_KDF] != KDF_ARGON2ID13 || buf[OFF_CIPHER] != CIPHER_XCHACHA20POLY1305 || buf[OFF_RESERVED] != 0)
        return btt_error_set(err, BTT_EAUTH, "%s: damaged wallet file: unknown algorithm ids", path);
    if (!kdf_ok(get32(buf + OFF_OPS), get32(buf + OFF_MEM)))
        return btt_error_set(err, BTT_EAUTH, "%s: damaged wallet file: implausible key derivation parameters", path);
    memcpy(file, buf, BTT_WALLET_FILE_LEN);
    return BTT_OK;
}

btt_err btt_wallet_peek_account(const char *path, btt_account *out, btt_error *err)
{
    uint8_t file[BTT_WALLET_FILE_LEN];
    btt_err e = read_file(path, file, err);
    if (e) return e;
    memcpy(out->key, file + OFF_PUBKEY, BTT_ACCOUNT_KEY_LEN);
    return BTT_OK;
}

btt_err btt_wallet_open(const char *path, const char *password, size_t pwlen, btt_wallet **out, btt_error *err)
{
    *out = NULL;
    btt_err e = init_sodium(err);
    if (e) return e;
    uint8_t file[BTT_WALLET_FILE_LEN];
    e = read_file(path, file, err);
    if (e) return e;

    unsigned char *key = NULL, *seed = sodium_malloc(BTT_WALLET_SEED_LEN);
    if (!seed) return btt_error_set(err, BTT_ENOMEM, "out of secure memory");
    e = derive_key(password, pwlen, file, &key, err);
    if (e) {
        sodium_free(seed);
        return e;
    }
    unsigned long long mlen = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(seed, &mlen, NULL, file + HEADER_LEN, CT_LEN, file, HEADER_LEN,
                                                        file + OFF_NONCE, key);
    sodium_free(key);
    if (rc != 0 || mlen != BTT_WALLET_SEED_LEN) {
        sodium_free(seed);
        return btt_error_set(err, BTT_EAUTH, "%s: wrong password or damaged wallet file", path);
    }
    btt_wallet *w = NULL;
    e = wallet_from_seed(seed, &w, err);
    sodium_free(seed);
    if (e) return e;
    if (memcmp(w->pub.key, file + OFF_PUBKEY, crypto_sign_PUBLICKEYBYTES) != 0) {
        btt_wallet_free(w);
        return btt_error_set(err, BTT_EAUTH, "%s: damaged wallet file: the key does not match its public key", path);
    }
    *out = w;
    return BTT_OK;
}
