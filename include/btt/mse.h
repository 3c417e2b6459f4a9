/* btt/mse.h - Message Stream Encryption / Protocol Encryption (MSE/PE), the obfuscation layer that
 * mature clients (Transmission, libtorrent, qBittorrent, uTorrent, Vuze) put in front of the
 * BitTorrent handshake, as a sans-I/O state machine for both roles: bytes in, bytes out, no
 * sockets and no clock. docs/mse.md describes the protocol and how btt uses it.
 *
 *   A (initiator) -> B: Ya, PadA
 *   B -> A:             Yb, PadB
 *   A -> B:             HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
 *                       ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   B -> A:             ENCRYPT(VC, crypto_select, len(PadD), PadD), then the stream (ENCRYPT2)
 *
 * Diffie-Hellman over the 768-bit MODP prime with generator 2 and 160-bit private keys; HASH is
 * SHA-1; SKEY is the torrent's info-hash; ENCRYPT is RC4 keyed HASH('keyA', S, SKEY) for A's
 * direction and HASH('keyB', S, SKEY) for B's, each with its first 1024 bytes of keystream
 * discarded. VC is 8 zero bytes. The handshake part (VC to IA) is always RC4; the stream after it
 * is RC4 or plaintext as crypto_select says.
 *
 * Limits (an input that breaks one is BTT_EPROTO, the connection is to be closed): PadA, PadB,
 * PadC, PadD at most 512 bytes each, so B finds HASH('req1', S) within 532 bytes after Ya and A
 * finds VC within 520 bytes after Yb; IA at most BTT_MSE_IA_MAX bytes; VC must be zero;
 * crypto_provide must offer a method B allows; crypto_select must be exactly one method A offered.
 * An SKEY B does not know (no torrent with that info-hash) is BTT_ENOENT. */
#ifndef BTT_MSE_H
#define BTT_MSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btt/buf.h"
#include "btt/error.h"

#define BTT_MSE_PLAINTEXT 0x01u /* crypto_provide / crypto_select bits */
#define BTT_MSE_RC4 0x02u

#define BTT_MSE_KEY_LEN 96      /* Ya, Yb, S: 768 bits, big-endian */
#define BTT_MSE_PAD_MAX 512
#define BTT_MSE_IA_MAX 4096     /* our bound on the initial payload (the protocol allows 65535) */
/* The most input B takes before the handshake is over: Ya, PadA, the two hashes, VC,
 * crypto_provide, len(PadC), PadC, len(IA), IA. */
#define BTT_MSE_MAX_INPUT (BTT_MSE_KEY_LEN + BTT_MSE_PAD_MAX + 40 + 14 + BTT_MSE_PAD_MAX + 2 + BTT_MSE_IA_MAX)

/* RC4 (the cipher MSE uses; weak, but that is the protocol: MSE is obfuscation, not security). */
typedef struct btt_rc4 {
    uint32_t s[256]; /* bytes held in words: no partial-register stalls on x86 (about 1.5x faster) */
    uint32_t i, j;
} btt_rc4;
void btt_rc4_init(btt_rc4 *r, const uint8_t *key, size_t len);
void btt_rc4_crypt(btt_rc4 *r, uint8_t *buf, size_t len); /* in place; encrypting = decrypting */
void btt_rc4_discard(btt_rc4 *r, size_t n);

/* B's lookup of SKEY: req2 is HASH('req2', SKEY) as received (already unmasked from req3); on a
 * match, writes the info-hash to skey and returns true. */
typedef bool (*btt_mse_find_skey)(void *ud, const uint8_t req2[20], uint8_t skey[20]);

typedef struct btt_mse btt_mse;

/* A: skey is the info-hash of the torrent we connect for; provide the methods offered (a non-empty
 * subset of PLAINTEXT | RC4); ia/ia_len the initial payload sent inside the handshake (may be
 * empty; at most BTT_MSE_IA_MAX). Ya and PadA are ready in the output at once. */
BTT_WUR btt_err btt_mse_initiator(btt_mse **out, const uint8_t skey[20], uint32_t provide, const uint8_t *ia,
                                  size_t ia_len, btt_error *err);
/* B: allowed is the set of methods we accept; prefer the one chosen when A offers several
 * (RC4 or PLAINTEXT). */
BTT_WUR btt_err btt_mse_receiver(btt_mse **out, uint32_t allowed, uint32_t prefer, btt_mse_find_skey find, void *ud,
                                 btt_error *err);
void btt_mse_free(btt_mse *m);

/* Feeds received bytes. *consumed is how many it took: all of them until the handshake is over;
 * the bytes after the handshake's last byte are left untaken (they are the stream: decrypt them
 * with the result's dec when the method is RC4). BTT_OK while going on or once done; BTT_EPROTO
 * (malformed or over a limit), BTT_ENOENT (unknown SKEY) or BTT_ENOMEM: close the connection. */
BTT_WUR btt_err btt_mse_input(btt_mse *m, const uint8_t *in, size_t len, size_t *consumed, btt_error *err);
/* Appends the bytes to send now to out and forgets them (BTT_ENOMEM if out cannot grow). */
BTT_WUR btt_err btt_mse_output(btt_mse *m, btt_buf *out);
bool btt_mse_done(const btt_mse *m);

typedef struct btt_mse_result {
    uint32_t method;        /* BTT_MSE_RC4 or BTT_MSE_PLAINTEXT: how the stream goes on */
    btt_rc4 enc, dec;       /* RC4: our sending and receiving states, positioned after the handshake */
    uint8_t skey[20];       /* the info-hash */
    uint8_t ia[BTT_MSE_IA_MAX]; /* B: A's initial payload, decrypted (stream bytes that come first) */
    size_t ia_len;
} btt_mse_result;
/* Valid once btt_mse_done. */
void btt_mse_result_get(const btt_mse *m, btt_mse_result *out);

#endif
