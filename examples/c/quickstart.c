/* quickstart.c: the dpxattn C quick start (plan -> static buffers -> build -> open ->
 * query). Built and run by `cargo test` (tests/c_api.rs), so it cannot rot. */
#include <math.h>
#include <stdio.h>

#include "dpxattn.h"

#define D 16   /* key/query dimension */
#define DV 16  /* value dimension */
#define N 100  /* private rows (tokens) */

/* Static buffers, no heap. uint64_t arrays are DPX_ALIGN (8) aligned. The sizes are those
 * dpx_plan_new reports for these parameters (checked at run time below). */
static uint64_t image[16 * 1024 / 8];
static uint64_t scratch[32 * 1024 / 8];
static uint64_t qscratch[1024 / 8];

/* Entropy: must be cryptographically secure; 0 = success. */
static int fill_random(void *ctx, uint8_t *buf, size_t len) {
    return fread(buf, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

int main(void) {
    static float keys[N * D], values[N * DV]; /* the private prompt, row-major */
    float q[D], out[DV];
    struct dpx_params p;
    struct dpx_plan plan;
    const struct dpx_attn *attn = NULL;
    dpx_status s;
    FILE *rng;
    int i;

    for (i = 0; i < N * D; i++) keys[i] = (float)sin(0.1 * i);
    for (i = 0; i < N * DV; i++) values[i] = (float)cos(0.7 * i) / 4.0f;
    for (i = 0; i < D; i++) q[i] = keys[5 * D + i];

    /* 1. Public parameters: defaults, then what you need. */
    dpx_params_init(&p, D, DV, N);
    p.epsilon = 1.0; /* (epsilon, delta): the privacy budget of the whole prompt */
    p.delta = 1e-5;

    /* 2. Plan: sizes and noise, before any data. */
    s = dpx_plan_new(&p, &plan);
    if (s != DPX_OK || plan.image_bytes > sizeof image || plan.scratch_bytes > sizeof scratch ||
        plan.query_scratch_bytes > sizeof qscratch) {
        fprintf(stderr, "plan: %s\n", dpx_status_str(s));
        return 1;
    }

    /* 3. Build the private image (the only step that reads the private rows). */
    rng = fopen("/dev/urandom", "rb");
    if (rng == NULL) return 1;
    s = dpx_build(&p, image, sizeof image, keys, values, N, fill_random, rng, scratch,
                  sizeof scratch);
    fclose(rng);
    if (s != DPX_OK) {
        fprintf(stderr, "build: %s\n", dpx_status_str(s));
        return 1;
    }

    /* 4. Open (zero-copy) and query, as often as you like: no further privacy cost. */
    s = dpx_open(image, plan.image_bytes, &attn);
    if (s == DPX_OK) s = dpx_query(attn, q, D, out, DV, qscratch, sizeof qscratch);
    if (s != DPX_OK) {
        fprintf(stderr, "query: %s\n", dpx_status_str(s));
        return 1;
    }
    printf("image %lu bytes, sigma %.3g; out[0..3] = %.4f %.4f %.4f\n",
           (unsigned long)plan.image_bytes, plan.sigma, out[0], out[1], out[2]);
    return 0;
}
