/* Measures what re-validating a dpx_attn handle costs per query (docs/notes/ffi.md):
 * dpx_open (full validation: header + CRC-32C of the whole image) against dpx_attn_info
 * (the per-call header re-validation every query does) and dpx_query / dpx_query_range.
 *
 *   LIB=$(ffi-tests/build-lib.sh | tail -n 1)
 *   cc -std=c99 -O2 -Iinclude -Iffi-tests ffi-tests/bench_handle.c ffi-tests/common.c "$LIB" \
 *      -lpthread -ldl -lm -o /tmp/bench_handle && /tmp/bench_handle
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void bench(const char *name, uint32_t d, uint32_t n, uint32_t block) {
    struct dpx_params p;
    struct dpx_plan plan;
    struct dpx_attn_info info;
    const struct dpx_attn *a = NULL;
    test_rng rng;
    void *image, *scratch, *qs;
    float *k = test_rows(1, n, d, 1.0f), *v = test_rows(2, n, d, 1.0f), *out;
    const int reps = 2000;
    double t0, t_open, t_info, t_query, t_range;
    int i;

    dpx_params_init(&p, d, d, n);
    p.block = block;
    if (dpx_plan_new(&p, &plan) != DPX_OK) {
        abort();
    }
    image = test_alloc(plan.image_bytes);
    scratch = test_alloc(plan.scratch_bytes);
    qs = test_alloc(plan.query_scratch_bytes);
    out = (float *)test_alloc(d * sizeof(float));
    test_rng_seed(&rng, 1);
    if (dpx_build(&p, image, plan.image_bytes, k, v, n, test_fill, &rng, scratch,
                  plan.scratch_bytes) != DPX_OK) {
        abort();
    }
    t0 = now();
    for (i = 0; i < reps; i++) {
        if (dpx_open(image, plan.image_bytes, &a) != DPX_OK) abort();
    }
    t_open = (now() - t0) / reps;
    t0 = now();
    for (i = 0; i < reps; i++) {
        if (dpx_attn_info(a, &info) != DPX_OK) abort();
    }
    t_info = (now() - t0) / reps;
    t0 = now();
    for (i = 0; i < reps; i++) {
        if (dpx_query(a, k + (size_t)(i % (int)n) * d, d, out, d, qs, plan.query_scratch_bytes))
            abort();
    }
    t_query = (now() - t0) / reps;
    t0 = now();
    for (i = 0; i < reps; i++) {
        if (dpx_query_range(a, 0, 1, k, d, out, d, qs, plan.query_scratch_bytes)) abort();
    }
    t_range = (now() - t0) / reps;
    printf("%-22s image %7lu B | dpx_open (CRC) %8.1f us | header re-validation %6.2f us | "
           "dpx_query %8.1f us | one-block range %7.1f us\n",
           name, (unsigned long)plan.image_bytes, 1e6 * t_open, 1e6 * t_info, 1e6 * t_query,
           1e6 * t_range);
    free(k);
    free(v);
    free(out);
    free(image);
    free(scratch);
    free(qs);
}

int main(void) {
    bench("flat d=32 n=512", 32, 512, 0);
    bench("tree d=32 n=4096 b=64", 32, 4096, 64);
    bench("flat d=8 n=256", 8, 256, 0);
    return 0;
}
