/* ledger_client_probe.c - builds signed ledger operations for tests/interop/ledger_server.sh.
 * Wallets are deterministic: NAME's seed is BLAKE2b-256(NAME).
 *
 *   ledger_client_probe account NAME
 *       the account (btt1...) of NAME's wallet
 *   ledger_client_probe genesis NETNAME
 *       a genesis file: supply 1000000 BTT split 40/10/20/20/10 % between the wallets
 *       pool-onboarding, pool-trx_holders, pool-investors, pool-foundation, pool-tron;
 *       faucet grant 100 BTT at 8 bits
 *   ledger_client_probe transfer LEDGER_ID_HEX SIGNER TO UNITS NONCE [forge]
 *       hex of the signed transfer (TO is a btt1 account or a wallet NAME); with "forge" one bit
 *       of the signature is flipped
 *   ledger_client_probe open LEDGER_ID_HEX SIGNER TO UNITS EXPIRY NONCE
 *       hex of the signed channel open (payer SIGNER, payee TO, deposit UNITS, EXPIRY in seconds
 *       since the epoch)
 * A SIGNER of the form file:PATH is the wallet file at PATH, opened with $BTT_WALLET_PASSWORD. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btt/buf.h"
#include "btt/ledger.h"

static btt_wallet *wallet(const char *name)
{
    if (!strncmp(name, "file:", 5)) {
        const char *pw = getenv("BTT_WALLET_PASSWORD");
        btt_wallet *fw = NULL;
        btt_error ferr = {0};
        if (!pw || btt_wallet_open(name + 5, pw, strlen(pw), &fw, &ferr) != BTT_OK) {
            fprintf(stderr, "probe: %s: %s\n", name + 5, pw ? btt_error_str(&ferr) : "BTT_WALLET_PASSWORD is not set");
            exit(2);
        }
        return fw;
    }
    uint8_t seed[BTT_WALLET_SEED_LEN];
    crypto_generichash(seed, sizeof seed, (const unsigned char *)name, strlen(name), NULL, 0);
    btt_wallet *w = NULL;
    btt_error err = {0};
    if (btt_wallet_from_seed(seed, &w, &err) != BTT_OK) {
        fprintf(stderr, "probe: %s\n", btt_error_str(&err));
        exit(2);
    }
    return w;
}

static void account_of(const char *name, btt_account *a)
{
    if (!strncmp(name, "btt1", 4)) {
        btt_error err = {0};
        if (btt_account_parse_cstr(name, a, &err) != BTT_OK) {
            fprintf(stderr, "probe: %s\n", btt_error_str(&err));
            exit(2);
        }
        return;
    }
    btt_wallet *w = wallet(name);
    *a = *btt_wallet_account(w);
    btt_wallet_free(w);
}

static uint64_t num(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end) {
        fprintf(stderr, "probe: '%s' is not a number\n", s);
        exit(2);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) return 2;
    char acct[BTT_ACCOUNT_STR_LEN + 1];
    if (argc == 3 && !strcmp(argv[1], "account")) {
        btt_account a;
        account_of(argv[2], &a);
        puts(btt_account_format(&a, acct));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "genesis")) {
        static const unsigned bp[BTT_POOL_COUNT] = {4000, 1000, 2000, 2000, 1000};
        printf("name = %s\nsupply = 1000000\nfaucet.grant = 100\nfaucet.difficulty = 8\nremainder = foundation\n",
               argv[2]);
        for (int p = 0; p < BTT_POOL_COUNT; p++) {
            char name[64];
            snprintf(name, sizeof name, "pool-%s", btt_genesis_pool_name((btt_genesis_pool)p));
            btt_account a;
            account_of(name, &a);
            printf("pool.%s = %s %u\n", btt_genesis_pool_name((btt_genesis_pool)p), btt_account_format(&a, acct), bp[p]);
        }
        return 0;
    }
    if ((argc == 7 || (argc == 8 && !strcmp(argv[7], "forge"))) && !strcmp(argv[1], "transfer")) {
        uint8_t id[BTT_LEDGER_ID_LEN];
        if (strlen(argv[2]) != 2 * BTT_LEDGER_ID_LEN || btt_unhex(argv[2], strlen(argv[2]), id, sizeof id) != 0) {
            fprintf(stderr, "probe: bad ledger id\n");
            return 2;
        }
        btt_wallet *w = wallet(argv[3]);
        btt_ledger_op op;
        btt_ledger_op_init(&op, BTT_LEDGER_TRANSFER, btt_wallet_account(w), num(argv[6]));
        account_of(argv[4], &op.to);
        if (!btt_amount_from_units(num(argv[5]), &op.amount)) {
            fprintf(stderr, "probe: amount above the supply\n");
            return 2;
        }
        btt_buf b;
        btt_buf_init(&b, 4096);
        if (btt_ledger_op_sign(&op, id, w) != BTT_OK) return 2;
        if (argc == 8) op.sig[10] ^= 1;
        if (btt_ledger_op_encode(&op, &b) != BTT_OK) return 2;
        char *hex = malloc(2 * b.len + 1);
        if (!hex) return 2;
        btt_hex(b.data, b.len, hex);
        puts(hex);
        free(hex);
        btt_buf_free(&b);
        btt_wallet_free(w);
        return 0;
    }
    if (argc == 8 && !strcmp(argv[1], "open")) {
        uint8_t id[BTT_LEDGER_ID_LEN];
        if (strlen(argv[2]) != 2 * BTT_LEDGER_ID_LEN || btt_unhex(argv[2], strlen(argv[2]), id, sizeof id) != 0) {
            fprintf(stderr, "probe: bad ledger id\n");
            return 2;
        }
        btt_wallet *w = wallet(argv[3]);
        btt_ledger_op op;
        btt_ledger_op_init(&op, BTT_LEDGER_OPEN, btt_wallet_account(w), num(argv[7]));
        account_of(argv[4], &op.to);
        op.expiry = num(argv[6]);
        if (!btt_amount_from_units(num(argv[5]), &op.amount)) {
            fprintf(stderr, "probe: amount above the supply\n");
            return 2;
        }
        btt_buf b;
        btt_buf_init(&b, 4096);
        if (btt_ledger_op_sign(&op, id, w) != BTT_OK || btt_ledger_op_encode(&op, &b) != BTT_OK) return 2;
        char hex[2 * BTT_LEDGER_OP_MAX + 1];
        btt_hex(b.data, b.len, hex);
        puts(hex);
        btt_buf_free(&b);
        btt_wallet_free(w);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of ledger_client_probe.c\n");
    return 2;
}
