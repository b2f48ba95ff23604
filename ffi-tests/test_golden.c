/* Golden vectors: the C API must reproduce, bit for bit, the images and query outputs that
 * the Rust API produced for the same parameters, inputs and RNG bytes (golden.h, generated
 * by tests/c_api.rs). Also usable on a device: no file I/O, no allocation beyond the heap
 * buffers below. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "golden.h"
#include "harness.h"

static double f64_of(uint64_t bits) {
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static float f32_of(uint32_t bits) {
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static uint64_t bits64(double x) {
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static uint32_t bits32(float x) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static float *floats(const uint32_t *bits, size_t n) {
    float *v = (float *)test_alloc(n * sizeof(float) + 1);
    size_t i;
    for (i = 0; i < n; i++) {
        v[i] = f32_of(bits[i]);
    }
    return v;
}

/* Pushes rows [from, from+count) of the case. */
static dpx_status push(const golden_case *g, void *image, size_t image_bytes, size_t from,
                       size_t count, const float *k, const float *v, test_rng *rng,
                       void *scratch, size_t scratch_bytes) {
    switch (g->kind) {
    case 0:
        return dpx_build_push(image, image_bytes, k + from * g->d, v + from * g->dv, count,
                              test_fill, rng, scratch, scratch_bytes);
    case 1:
        return dpx_build_push_i8(image, image_bytes, g->keys_i8 + from * g->d,
                                 f32_of(g->keys_scale), g->values_i8 + from * g->dv,
                                 f32_of(g->values_scale), count, test_fill, rng, scratch,
                                 scratch_bytes);
    default:
        return dpx_build_push_i16(image, image_bytes, g->keys_i16 + from * g->d,
                                  f32_of(g->keys_scale), g->values_i16 + from * g->dv,
                                  f32_of(g->values_scale), count, test_fill, rng, scratch,
                                  scratch_bytes);
    }
}

static void run_case(const golden_case *g) {
    struct dpx_params p;
    struct dpx_plan plan;
    test_rng rng;
    const struct dpx_attn *a = NULL;
    struct dpx_bound bound;
    void *image, *scratch, *qscratch;
    float *k = NULL, *v = NULL, *q, *out;
    size_t r, i, j;
    int same_image, same_outputs = 1;

    dpx_params_init(&p, g->d, g->dv, g->n_max);
    p.degree = g->degree;
    p.kernel_rel_err = f64_of(g->kernel_rel_err);
    p.score_scale = f64_of(g->score_scale);
    p.radius_q = f64_of(g->radius_q);
    p.radius_k = f64_of(g->radius_k);
    p.radius_v = f64_of(g->radius_v);
    p.epsilon = f64_of(g->epsilon);
    p.delta = f64_of(g->delta);
    p.mechanism = g->mechanism;
    p.block = g->block;
    p.flags = g->flags;
    p.gamma = f64_of(g->gamma);
    p.clip = f64_of(g->clip);
    p.parts = g->parts;

    CHECK_STATUS(dpx_plan_new(&p, &plan), DPX_OK);
    CHECK(plan.image_bytes == g->image_bytes);
    CHECK(bits64(plan.sigma) == g->sigma);
    image = test_alloc(plan.image_bytes);
    scratch = test_alloc(plan.scratch_bytes);
    qscratch = test_alloc(plan.query_scratch_bytes);
    if (g->kind == 0) {
        k = floats(g->keys_f32, g->n * g->d);
        v = floats(g->values_f32, g->n * g->dv);
    }
    test_rng_seed(&rng, g->seed);

    if (g->n_chunks == 0) {
        dpx_status s;
        if (g->kind == 0) {
            s = dpx_build(&p, image, plan.image_bytes, k, v, g->n, test_fill, &rng, scratch,
                          plan.scratch_bytes);
        } else if (g->kind == 1) {
            s = dpx_build_i8(&p, image, plan.image_bytes, g->keys_i8, f32_of(g->keys_scale),
                             g->values_i8, f32_of(g->values_scale), g->n, test_fill, &rng,
                             scratch, plan.scratch_bytes);
        } else {
            s = dpx_build_i16(&p, image, plan.image_bytes, g->keys_i16, f32_of(g->keys_scale),
                              g->values_i16, f32_of(g->values_scale), g->n, test_fill, &rng,
                              scratch, plan.scratch_bytes);
        }
        CHECK_STATUS(s, DPX_OK);
    } else {
        size_t at = 0, c;
        CHECK_STATUS(dpx_build_begin(&p, image, plan.image_bytes, scratch, plan.scratch_bytes),
                     DPX_OK);
        for (c = 0; c < g->n_chunks; c++) {
            CHECK_STATUS(push(g, image, plan.image_bytes, at, g->chunks[c], k, v, &rng, scratch,
                              plan.scratch_bytes),
                         DPX_OK);
            at += g->chunks[c];
        }
        CHECK(at == g->n);
        CHECK_STATUS(dpx_build_finish(image, plan.image_bytes, test_fill, &rng, scratch,
                                      plan.scratch_bytes),
                     DPX_OK);
    }
    same_image = memcmp(image, g->image, g->image_bytes) == 0;
    CHECK(same_image);
    if (!same_image) {
        for (i = 0; i < g->image_bytes; i++) {
            if (((const uint8_t *)image)[i] != g->image[i]) {
                fprintf(stderr, "%s: first image difference at byte %lu: %02x, want %02x\n",
                        g->name, (unsigned long)i, ((const uint8_t *)image)[i], g->image[i]);
                break;
            }
        }
    }

    CHECK_STATUS(dpx_open(image, plan.image_bytes, &a), DPX_OK);
    q = floats(g->queries, g->m * g->d);
    out = (float *)test_alloc(g->dv * sizeof(float));
    for (r = 0; r < g->n_ranges; r++) {
        for (i = 0; i < g->m; i++) {
            struct dpx_query_info info;
            const uint32_t *want = g->outputs + (r * g->m + i) * g->dv;
            CHECK_STATUS(dpx_query_ex(a, g->ranges[2 * r], g->ranges[2 * r + 1], q + i * g->d,
                                      g->d, out, g->dv, &info, qscratch,
                                      plan.query_scratch_bytes),
                         DPX_OK);
            CHECK(info.floor_used == g->floor_used[r * g->m + i]);
            for (j = 0; j < g->dv; j++) {
                if (bits32(out[j]) != want[j]) {
                    same_outputs = 0;
                    fprintf(stderr, "%s: range %lu query %lu out[%lu] = %.9g, want %.9g\n",
                            g->name, (unsigned long)r, (unsigned long)i, (unsigned long)j,
                            (double)out[j], (double)f32_of(want[j]));
                }
            }
        }
    }
    CHECK(same_outputs);
    CHECK_STATUS(dpx_bound(a, 0.05, &bound), DPX_OK);
    CHECK(bits64(bound.single) == g->bound_single);
    CHECK(bits64(bound.uniform) == g->bound_uniform);

    free(out);
    free(q);
    free(k);
    free(v);
    free(qscratch);
    free(scratch);
    free(image);
}

int main(void) {
    size_t c;
    for (c = 0; c < GOLDEN_CASES; c++) {
        int before = harness_failed;
        run_case(&golden_cases[c]);
        printf("golden case %s: %s\n", golden_cases[c].name,
               harness_failed == before ? "identical to the Rust API" : "MISMATCH");
    }
    return harness_finish("test_golden");
}
