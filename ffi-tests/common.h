/* Helpers shared by the C and C++ tests: deterministic entropy callbacks, aligned buffers,
 * test rows. */
#ifndef DPX_TEST_COMMON_H
#define DPX_TEST_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "dpxattn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SplitMix64 as a byte stream: 8 little-endian bytes per step. The Rust golden generator
 * (tests/c_api.rs, StreamRng) produces exactly the same bytes, however they are requested.
 * NOT a secure source: tests only. */
typedef struct test_rng {
    uint64_t state;
    uint8_t buf[8];
    unsigned used;
} test_rng;

void test_rng_seed(test_rng *r, uint64_t seed);
/* dpx_fill_fn over a test_rng (ctx). */
int test_fill(void *ctx, uint8_t *buf, size_t len);

/* A callback that succeeds `ok_calls` times (with test_rng bytes), then fails with `code`. */
typedef struct failing_rng {
    test_rng inner;
    unsigned ok_calls;
    unsigned calls;
    int code;
} failing_rng;
int failing_fill(void *ctx, uint8_t *buf, size_t len);

/* Zeroed, DPX_ALIGN-aligned heap buffer (free with free()); aborts on OOM. */
void *test_alloc(size_t bytes);
/* n*dim floats in [-scale, scale), deterministic (free with free()). */
float *test_rows(uint64_t seed, size_t n, size_t dim, float scale);
/* 1 if all `len` bytes are 0. */
int all_zero(const void *p, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* DPX_TEST_COMMON_H */
