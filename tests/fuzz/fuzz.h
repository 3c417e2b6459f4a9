/* fuzz.h - what every libFuzzer target here shares: the entry point's prototype and CHECK, an
 * assertion that stays on in every build (a failed one aborts, which libFuzzer reports with the
 * input that caused it). */
#ifndef BTT_FUZZ_H
#define BTT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

#endif
