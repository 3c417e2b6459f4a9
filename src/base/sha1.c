/* sha1.c - SHA-1 through OpenSSL's EVP interface (SHA-NI where present). */
#include "btt/sha1.h"

#include <openssl/evp.h>
#include <stdlib.h>

struct btt_sha1_ctx {
    EVP_MD_CTX *md;
};

static const EVP_MD *sha1_md(void)
{
    /* EVP_sha1() returns a static method; with OpenSSL 3 it is fetched lazily once. */
    return EVP_sha1();
}

void btt_sha1(const void *data, size_t len, uint8_t out[BTT_SHA1_LEN])
{
    unsigned n = 0;
    if (!EVP_Digest(data, len, out, &n, sha1_md(), NULL)) abort(); /* only fails without memory */
}

btt_sha1_ctx *btt_sha1_new(void)
{
    btt_sha1_ctx *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->md = EVP_MD_CTX_new();
    if (!c->md || !EVP_DigestInit_ex(c->md, sha1_md(), NULL)) {
        EVP_MD_CTX_free(c->md);
        free(c);
        return NULL;
    }
    return c;
}

void btt_sha1_update(btt_sha1_ctx *c, const void *data, size_t len)
{
    if (!EVP_DigestUpdate(c->md, data, len)) abort();
}

void btt_sha1_final(btt_sha1_ctx *c, uint8_t out[BTT_SHA1_LEN])
{
    unsigned n = 0;
    if (!EVP_DigestFinal_ex(c->md, out, &n)) abort();
    EVP_MD_CTX_free(c->md);
    free(c);
}
