/* btt/checked.h - checked integer arithmetic. Each returns true on success and false on
 * overflow, in which case *out is left unspecified. Results must be checked. */
#ifndef BTT_CHECKED_H
#define BTT_CHECKED_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define BTT_CHECKED_FN static inline __attribute__((warn_unused_result)) bool

BTT_CHECKED_FN btt_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }
BTT_CHECKED_FN btt_sub_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_sub_overflow(a, b, out); }
BTT_CHECKED_FN btt_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
BTT_CHECKED_FN btt_add_i64(int64_t a, int64_t b, int64_t *out) { return !__builtin_add_overflow(a, b, out); }
BTT_CHECKED_FN btt_mul_i64(int64_t a, int64_t b, int64_t *out) { return !__builtin_mul_overflow(a, b, out); }
BTT_CHECKED_FN btt_add_size(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }
BTT_CHECKED_FN btt_mul_size(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }

/* ceil(a / b) without overflow; b must be non-zero. */
static inline uint64_t btt_div_ceil_u64(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

#endif
