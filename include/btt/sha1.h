/* btt/sha1.h - SHA-1 through OpenSSL EVP (uses SHA-NI where the CPU has it). Thread-safe. */
#ifndef BTT_SHA1_H
#define BTT_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define BTT_SHA1_LEN 20

void btt_sha1(const void *data, size_t len, uint8_t out[BTT_SHA1_LEN]);

/* Incremental form for data that arrives in parts. */
typedef struct btt_sha1_ctx btt_sha1_ctx;
btt_sha1_ctx *btt_sha1_new(void); /* NULL if out of memory */
void btt_sha1_update(btt_sha1_ctx *c, const void *data, size_t len);
void btt_sha1_final(btt_sha1_ctx *c, uint8_t out[BTT_SHA1_LEN]); /* also frees c */

#endif
