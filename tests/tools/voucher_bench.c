/* voucher_bench.c - voucher verification rate against libsodium's raw Ed25519 verification, in
 * the same process over the same signatures (bench/ledger.sh).
 *
 *   voucher_bench [COUNT] [ROUNDS]
 *       COUNT vouchers (default 20000) of one payer over random channels, all signed before the
 *       clock starts; then ROUNDS (default 3) alternating rounds of
 *         raw:     crypto_sign_verify_detached(sig, message, 96, payer key) over the precomputed
 *                  96-byte messages (btt_voucher_message)
 *         voucher: btt_voucher_verify(voucher, ledger id, payer)
 *       Prints the best round of each:
 *         count=N raw_per_s=.. voucher_per_s=.. ratio=..
 *       Exit 1 if any signature fails to verify. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <sodium.h>

#include "btt/voucher.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) return 2;
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (n < 1 || rounds < 1) {
        fprintf(stderr, "usage: voucher_bench [COUNT] [ROUNDS]\n");
        return 2;
    }
    btt_wallet *w = NULL;
    btt_error err = {0};
    if (btt_wallet_generate(&w, &err) != BTT_OK) {
        fprintf(stderr, "voucher_bench: %s\n", btt_error_str(&err));
        return 2;
    }
    const btt_account *payer = btt_wallet_account(w);
    uint8_t lid[BTT_LEDGER_ID_LEN];
    randombytes_buf(lid, sizeof lid);
    btt_voucher *v = calloc(n, sizeof *v);
    uint8_t (*msg)[BTT_VOUCHER_MSG_LEN] = calloc(n, sizeof *msg);
    if (!v || !msg) return 2;
    for (size_t i = 0; i < n; i++) {
        randombytes_buf(v[i].channel, sizeof v[i].channel);
        if (!btt_amount_from_units(1 + i, &v[i].cumulative)) return 2;
        v[i].seq = 1 + i;
        btt_voucher_sign(&v[i], lid, w);
        btt_voucher_message(&v[i], lid, msg[i]);
    }
    double best_raw = 1e30, best_v = 1e30;
    volatile size_t bad = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++)
            if (crypto_sign_verify_detached(v[i].sig, msg[i], BTT_VOUCHER_MSG_LEN, payer->key) != 0) bad++;
        double t1 = now_s();
        for (size_t i = 0; i < n; i++)
            if (!btt_voucher_verify(&v[i], lid, payer)) bad++;
        double t2 = now_s();
        if (t1 - t0 < best_raw) best_raw = t1 - t0;
        if (t2 - t1 < best_v) best_v = t2 - t1;
    }
    double raw = (double)n / best_raw, vr = (double)n / best_v;
    printf("count=%zu raw_per_s=%.0f voucher_per_s=%.0f ratio=%.3f\n", n, raw, vr, vr / raw);
    free(v);
    free(msg);
    btt_wallet_free(w);
    if (bad) {
        fprintf(stderr, "voucher_bench: %zu signatures did not verify\n", (size_t)bad);
        return 1;
    }
    return 0;
}
