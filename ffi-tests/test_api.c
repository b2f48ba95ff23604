/* Tests of every entry point of the dpxattn C API (C99): the quick-start flow, streaming,
 * range and batch queries, NULL / short / misaligned / overlapping buffers, wrong sizes,
 * NaN rows, failing entropy, corrupted images, quantised rows, status strings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "harness.h"

#define D 8
#define DV 4
#define N 40

/* ---- version and status ------------------------------------------------------------ */

static const dpx_status all_codes[] = {
    DPX_OK,
    DPX_ERR_NULL, DPX_ERR_NULL_CALLBACK, DPX_ERR_LENGTH_OVERFLOW, DPX_ERR_OVERLAP,
    DPX_ERR_BUFFER_TOO_SMALL, DPX_ERR_MISALIGNED, DPX_ERR_WRONG_LENGTH,
    DPX_ERR_NON_FINITE_INPUT, DPX_ERR_OUT_OF_BALL, DPX_ERR_TOO_MANY_ROWS, DPX_ERR_INVALID_RANGE,
    DPX_ERR_OUT_OF_RANGE,
    DPX_ERR_INVALID_EPSILON, DPX_ERR_INVALID_DELTA, DPX_ERR_INVALID_DIMENSION,
    DPX_ERR_INVALID_DEGREE, DPX_ERR_INVALID_RADIUS, DPX_ERR_INVALID_CLIP,
    DPX_ERR_INVALID_PARAMETER, DPX_ERR_SIZE_OVERFLOW, DPX_ERR_PRECISION_TOO_LOW,
    DPX_ERR_BAD_MAGIC, DPX_ERR_UNSUPPORTED_VERSION, DPX_ERR_CHECKSUM_MISMATCH,
    DPX_ERR_CORRUPT_IMAGE,
    DPX_ERR_RNG, DPX_ERR_SAMPLE_OVERFLOW, DPX_ERR_BUILD_STATE,
};
#define N_CODES (sizeof all_codes / sizeof all_codes[0])

static void test_version_and_status(void) {
    size_t i, j;
    const char *unknown = dpx_status_str(12345);
    CHECK(dpx_version() == DPX_VERSION_NUMBER);
    CHECK(DPX_VERSION_NUMBER ==
          DPX_VERSION_MAJOR * 10000 + DPX_VERSION_MINOR * 100 + DPX_VERSION_PATCH);
    CHECK(strlen(DPX_VERSION_STRING) >= 5);
    CHECK(unknown != NULL && strcmp(unknown, "unknown dpx_status code") == 0);
    CHECK(strcmp(dpx_status_str(-1), unknown) == 0);
    CHECK(strcmp(dpx_status_str(-700), unknown) == 0);
    CHECK(strcmp(dpx_status_str(INT32_MIN), unknown) == 0);
    CHECK(strcmp(dpx_status_str(DPX_OK), "ok") == 0);
    for (i = 0; i < N_CODES; i++) {
        const char *s = dpx_status_str(all_codes[i]);
        CHECK(s != NULL && s[0] != '\0' && strcmp(s, unknown) != 0);
        /* errors are negative, in their block of 100 */
        CHECK(all_codes[i] == 0 || (all_codes[i] <= -100 && all_codes[i] >= -699));
        for (j = 0; j < i; j++) {
            CHECK(all_codes[i] != all_codes[j]);
            CHECK(strcmp(s, dpx_status_str(all_codes[j])) != 0);
        }
    }
}

/* ---- parameters and plans ----------------------------------------------------------- */

static struct dpx_params small_params(uint32_t block) {
    struct dpx_params p;
    dpx_params_init(&p, D, DV, 64);
    p.radius_v = 2.0;
    p.block = block;
    return p;
}

static void test_params_and_plan(void) {
    struct dpx_params p, bad;
    struct dpx_plan plan, sentinel;

    dpx_params_init(NULL, 1, 2, 3); /* NULL-safe, no effect */
    dpx_params_init(&p, 16, 8, 100);
    CHECK(p.d == 16 && p.dv == 8 && p.n_max == 100 && p.degree == 2);
    CHECK(p.score_scale == 0.25 && p.radius_q == 2.0 && p.radius_k == 2.0);
    CHECK(p.radius_v == 1.0 && p.epsilon == 1.0 && p.delta == 1e-5 && p.gamma == 1.0);
    CHECK(p.mechanism == DPX_MECHANISM_GAUSSIAN && p.block == 0 && p.flags == 0);
    CHECK(p.clip == 0.0 && p.parts == 1);

    CHECK_STATUS(dpx_plan_new(&p, &plan), DPX_OK);
    CHECK(plan.features == 153 && plan.degree == 2 && plan.nodes == 1 && plan.blocks == 1);
    CHECK(plan.image_bytes == DPX_HEADER_BYTES + 153 * 9 * 4);
    CHECK(plan.scratch_bytes > 0 && plan.query_scratch_bytes > 0);
    CHECK(plan.sigma > 0.0 && plan.sensitivity > 0.0 && plan.kernel_rel_err > 0.0);
    CHECK(plan.score_bound > 0.99 && plan.score_bound < 1.01);
    CHECK(plan.exact_constant_entry == 1 && plan.levels == 1);
    /* The suggested bound is in [0.1, 8] and grows with the budget. */
    CHECK(plan.suggested_score_bound >= 0.1 && plan.suggested_score_bound <= 8.0);
    {
        struct dpx_params rich = p;
        struct dpx_plan rich_plan;
        rich.epsilon = 8.0;
        rich.n_max = 100000;
        CHECK_STATUS(dpx_plan_new(&rich, &rich_plan), DPX_OK);
        CHECK(rich_plan.suggested_score_bound > plan.suggested_score_bound);
        CHECK(rich_plan.suggested_score_bound <= 8.0);
    }

    /* automatic degree */
    bad = p;
    bad.degree = 0;
    bad.kernel_rel_err = 0.01;
    CHECK_STATUS(dpx_plan_new(&bad, &plan), DPX_OK);
    CHECK(plan.degree >= 4 && plan.degree % 2 == 0 && plan.kernel_rel_err <= 0.01);

    /* every bad parameter is named, and the output is untouched */
    memset(&sentinel, 0xA5, sizeof sentinel);
#define BAD(field, value, want)                                                            \
    do {                                                                                   \
        bad = p;                                                                           \
        bad.field = value;                                                                 \
        plan = sentinel;                                                                   \
        CHECK_STATUS(dpx_plan_new(&bad, &plan), want);                                     \
        CHECK(memcmp(&plan, &sentinel, sizeof plan) == 0);                                 \
    } while (0)
    BAD(epsilon, 0.0, DPX_ERR_INVALID_EPSILON);
    BAD(epsilon, NAN, DPX_ERR_INVALID_EPSILON);
    BAD(delta, 1.0, DPX_ERR_INVALID_DELTA);
    BAD(d, 0, DPX_ERR_INVALID_DIMENSION);
    BAD(dv, 0, DPX_ERR_INVALID_DIMENSION);
    BAD(n_max, 0, DPX_ERR_INVALID_DIMENSION);
    BAD(degree, 3, DPX_ERR_INVALID_DEGREE);
    BAD(radius_k, -1.0, DPX_ERR_INVALID_RADIUS);
    BAD(radius_q, INFINITY, DPX_ERR_INVALID_RADIUS);
    BAD(score_scale, 100.0, DPX_ERR_INVALID_RADIUS);
    BAD(gamma, 0.0, DPX_ERR_INVALID_RADIUS);
    BAD(clip, 1.5, DPX_ERR_INVALID_CLIP);
    BAD(mechanism, 2, DPX_ERR_INVALID_PARAMETER);
    BAD(flags, 2, DPX_ERR_INVALID_PARAMETER);
    BAD(parts, 0, DPX_ERR_INVALID_PARAMETER);
#undef BAD
    CHECK_STATUS(dpx_plan_new(NULL, &plan), DPX_ERR_NULL);
    CHECK_STATUS(dpx_plan_new(&p, NULL), DPX_ERR_NULL);
    {
        /* misaligned output struct */
        uint64_t raw[sizeof(struct dpx_plan) / 8 + 2];
        CHECK_STATUS(dpx_plan_new(&p, (struct dpx_plan *)(void *)((char *)raw + 4)),
                     DPX_ERR_MISALIGNED);
    }
    /* Laplace and contribution clipping plan too */
    bad = p;
    bad.mechanism = DPX_MECHANISM_LAPLACE;
    bad.epsilon = 8.0;
    CHECK_STATUS(dpx_plan_new(&bad, &plan), DPX_OK);
    CHECK(plan.mechanism == DPX_MECHANISM_LAPLACE && plan.sigma > 0.0);
    bad = p;
    bad.clip = 0.25;
    CHECK_STATUS(dpx_plan_new(&bad, &plan), DPX_OK);
    CHECK(plan.exact_constant_entry == 0);
}

/* ---- quick start: plan -> static buffers -> build -> open -> query ------------------ */

static uint64_t qs_image[64 * 1024 / 8];   /* 8-byte words: DPX_ALIGN-aligned */
static uint64_t qs_scratch[64 * 1024 / 8];
static uint64_t qs_qscratch[8 * 1024 / 8];

static void test_quick_start(void) {
    struct dpx_params p;
    struct dpx_plan plan, plan2;
    struct dpx_bound b;
    struct dpx_attn_info info;
    struct dpx_query_info qi;
    const struct dpx_attn *a = NULL;
    test_rng rng;
    float *keys = test_rows(1, 50, 16, 1.0f);
    float *values = test_rows(2, 50, 16, 0.5f);
    float q[16], out[16], out2[16];
    size_t i, total = 0;
    double norm = 0.0;

    dpx_params_init(&p, 16, 16, 64);
    CHECK_STATUS(dpx_plan_new(&p, &plan), DPX_OK);
    CHECK(plan.image_bytes <= sizeof qs_image && plan.scratch_bytes <= sizeof qs_scratch);
    CHECK(plan.query_scratch_bytes <= sizeof qs_qscratch);

    test_rng_seed(&rng, 42);
    CHECK_STATUS(dpx_build(&p, qs_image, sizeof qs_image, keys, values, 50, test_fill, &rng,
                           qs_scratch, sizeof qs_scratch),
                 DPX_OK);
    CHECK(all_zero(qs_scratch, sizeof qs_scratch)); /* exact sums wiped */
    CHECK_STATUS(dpx_open(qs_image, plan.image_bytes, &a), DPX_OK);
    CHECK(a == (const struct dpx_attn *)(const void *)qs_image); /* zero-copy handle */

    for (i = 0; i < 16; i++) {
        q[i] = keys[3 * 16 + i]; /* attend like row 3's key */
    }
    for (i = 0; i < 16; i++) {
        out[i] = 1234.0f;
    }
    CHECK_STATUS(dpx_query(a, q, 16, out, 16, qs_qscratch, sizeof qs_qscratch), DPX_OK);
    for (i = 0; i < 16; i++) {
        CHECK(isfinite(out[i]));
        norm += (double)out[i] * out[i];
    }
    CHECK(sqrt(norm) <= p.radius_v * (1.0 + 1e-6)); /* projected onto the value ball */
    /* queries are deterministic post-processing */
    CHECK_STATUS(dpx_query(a, q, 16, out2, 16, qs_qscratch, plan.query_scratch_bytes), DPX_OK);
    CHECK(memcmp(out, out2, sizeof out) == 0);
    CHECK_STATUS(dpx_query_ex(a, 0, 1, q, 16, out2, 16, &qi, qs_qscratch,
                              plan.query_scratch_bytes),
                 DPX_OK);
    CHECK(memcmp(out, out2, sizeof out) == 0 && qi.floor_used <= 1);

    CHECK_STATUS(dpx_bound(a, 0.05, &b), DPX_OK);
    CHECK(b.beta == 0.05 && b.kernel >= 0.0 && b.noise_single > 0.0);
    CHECK(b.noise_uniform >= b.noise_single && b.single <= 2.0 * p.radius_v);
    CHECK(b.uniform >= b.single);
    CHECK_STATUS(dpx_bound(a, 0.0, &b), DPX_ERR_INVALID_PARAMETER);
    CHECK_STATUS(dpx_bound(a, 1.0, &b), DPX_ERR_INVALID_PARAMETER);
    CHECK_STATUS(dpx_bound(NULL, 0.05, &b), DPX_ERR_NULL);
    CHECK_STATUS(dpx_bound(a, 0.05, NULL), DPX_ERR_NULL);

    CHECK_STATUS(dpx_attn_info(a, &info), DPX_OK);
    CHECK(info.rows == 50 && info.blocks == 1 && info.image_bytes == plan.image_bytes);
    CHECK(info.query_scratch_bytes == plan.query_scratch_bytes);
    CHECK(info.params.d == 16 && info.params.epsilon == p.epsilon);
    CHECK(info.params.dv == p.dv && info.params.n_max == p.n_max && info.params.degree == 2);
    CHECK(info.params.radius_v == p.radius_v && info.params.delta == p.delta);
    CHECK(info.params.mechanism == p.mechanism && info.params.flags == p.flags);
    CHECK(info.params.gamma == p.gamma && info.params.parts == p.parts);
    CHECK_STATUS(dpx_attn_plan(a, &plan2), DPX_OK);
    CHECK(memcmp(&plan, &plan2, sizeof plan) == 0);
    CHECK_STATUS(dpx_attn_info(NULL, &info), DPX_ERR_NULL);
    CHECK_STATUS(dpx_attn_plan(a, NULL), DPX_ERR_NULL);

    /* the size of a stored image from its header alone (any alignment) */
    {
        uint8_t *copy = (uint8_t *)test_alloc(DPX_HEADER_BYTES + 1);
        memcpy(copy + 1, qs_image, DPX_HEADER_BYTES);
        CHECK_STATUS(dpx_image_size(copy + 1, DPX_HEADER_BYTES, &total), DPX_OK);
        CHECK(total == plan.image_bytes);
        total = 7;
        CHECK_STATUS(dpx_image_size(copy + 1, DPX_HEADER_BYTES - 1, &total),
                     DPX_ERR_BUFFER_TOO_SMALL);
        copy[1] ^= 0xFF;
        CHECK_STATUS(dpx_image_size(copy + 1, DPX_HEADER_BYTES, &total), DPX_ERR_BAD_MAGIC);
        CHECK(total == 7);
        CHECK_STATUS(dpx_image_size(NULL, DPX_HEADER_BYTES, &total), DPX_ERR_NULL);
        CHECK_STATUS(dpx_image_size(qs_image, DPX_HEADER_BYTES, NULL), DPX_ERR_NULL);
        free(copy);
    }
    free(keys);
    free(values);
}

/* ---- shared fixture ----------------------------------------------------------------- */

typedef struct fixture {
    struct dpx_params p;
    struct dpx_plan plan;
    void *image, *scratch, *qscratch;
    float *keys, *values;
} fixture;

static void fixture_init(fixture *f, uint32_t block) {
    f->p = small_params(block);
    if (dpx_plan_new(&f->p, &f->plan) != DPX_OK) {
        fprintf(stderr, "fixture plan failed\n");
        abort();
    }
    f->image = test_alloc(f->plan.image_bytes + 64);
    f->scratch = test_alloc(f->plan.scratch_bytes + 64);
    f->qscratch = test_alloc(f->plan.query_scratch_bytes + 64);
    f->keys = test_rows(11, N, D, 1.2f);
    f->values = test_rows(12, N, DV, 1.0f);
}

static void fixture_free(fixture *f) {
    free(f->image);
    free(f->scratch);
    free(f->qscratch);
    free(f->keys);
    free(f->values);
}

static dpx_status fixture_build(fixture *f, uint64_t seed) {
    test_rng rng;
    test_rng_seed(&rng, seed);
    return dpx_build(&f->p, f->image, f->plan.image_bytes, f->keys, f->values, N, test_fill,
                     &rng, f->scratch, f->plan.scratch_bytes);
}

/* ---- streaming ---------------------------------------------------------------------- */

static void test_streaming(void) {
    fixture f;
    uint8_t *oneshot;
    test_rng rng;
    const struct dpx_attn *a = NULL;
    const size_t chunks[] = {7, 0, 1, 20, 12};
    size_t c, at = 0;
    float *nan_keys;

    fixture_init(&f, 8);
    CHECK_STATUS(fixture_build(&f, 5), DPX_OK);
    oneshot = (uint8_t *)test_alloc(f.plan.image_bytes);
    memcpy(oneshot, f.image, f.plan.image_bytes);
    memset(f.image, 0x77, f.plan.image_bytes);

    /* push/finish before begin: no build state in these buffers */
    memset(f.scratch, 0, f.plan.scratch_bytes);
    test_rng_seed(&rng, 5);
    CHECK_STATUS(dpx_build_push(f.image, f.plan.image_bytes, f.keys, f.values, 1, test_fill, &rng,
                                f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_BUILD_STATE);
    CHECK_STATUS(dpx_build_finish(f.image, f.plan.image_bytes, test_fill, &rng, f.scratch,
                                  f.plan.scratch_bytes),
                 DPX_ERR_BUILD_STATE);

    test_rng_seed(&rng, 5);
    CHECK_STATUS(dpx_build_begin(&f.p, f.image, f.plan.image_bytes, f.scratch,
                                 f.plan.scratch_bytes),
                 DPX_OK);
    CHECK_STATUS(dpx_open(f.image, f.plan.image_bytes, &a), DPX_ERR_BAD_MAGIC); /* in progress */
    CHECK(a == NULL);
    /* a refused chunk (NaN row) changes nothing; the build goes on */
    nan_keys = test_rows(11, 3, D, 1.2f);
    nan_keys[D + 2] = NAN;
    CHECK_STATUS(dpx_build_push(f.image, f.plan.image_bytes, nan_keys, f.values, 3, test_fill,
                                &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_NON_FINITE_INPUT);
    CHECK_STATUS(dpx_build_push(f.image, f.plan.image_bytes, f.keys, f.values, 3, NULL, NULL,
                                f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_NULL_CALLBACK);
    CHECK_STATUS(dpx_build_push(f.image, f.plan.image_bytes, NULL, f.values, 3, test_fill, &rng,
                                f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_NULL);
    for (c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        /* NULL rows are fine for an empty chunk */
        const float *k = chunks[c] ? f.keys + at * D : NULL;
        const float *v = chunks[c] ? f.values + at * DV : NULL;
        CHECK_STATUS(dpx_build_push(f.image, f.plan.image_bytes, k, v, chunks[c], test_fill, &rng,
                                    f.scratch, f.plan.scratch_bytes),
                     DPX_OK);
        at += chunks[c];
    }
    CHECK(at == N);
    /* more than n_max rows in total: refused, build intact */
    {
        float *many_k = test_rows(3, 64, D, 1.0f), *many_v = test_rows(4, 64, DV, 1.0f);
        CHECK_STATUS(dpx_build_push(f.image, f.plan.image_bytes, many_k, many_v, 25, test_fill,
                                    &rng, f.scratch, f.plan.scratch_bytes),
                     DPX_ERR_TOO_MANY_ROWS);
        free(many_k);
        free(many_v);
    }
    /* a scratch that is not this build's */
    {
        void *other = test_alloc(f.plan.scratch_bytes);
        CHECK_STATUS(dpx_build_finish(f.image, f.plan.image_bytes, test_fill, &rng, other,
                                      f.plan.scratch_bytes),
                     DPX_ERR_BUILD_STATE);
        free(other);
    }
    CHECK_STATUS(dpx_build_finish(f.image, f.plan.image_bytes, test_fill, &rng, f.scratch,
                                  f.plan.scratch_bytes),
                 DPX_OK);
    /* same rows, same RNG bytes: the same image as one dpx_build call */
    CHECK(memcmp(oneshot, f.image, f.plan.image_bytes) == 0);
    CHECK(all_zero(f.scratch, f.plan.scratch_bytes));
    CHECK_STATUS(dpx_open(f.image, f.plan.image_bytes, &a), DPX_OK);
    /* a finished build cannot be pushed to or finished again */
    CHECK_STATUS(dpx_build_push(f.image, f.plan.image_bytes, f.keys, f.values, 1, test_fill, &rng,
                                f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_BUILD_STATE);
    CHECK_STATUS(dpx_build_finish(f.image, f.plan.image_bytes, test_fill, &rng, f.scratch,
                                  f.plan.scratch_bytes),
                 DPX_ERR_BUILD_STATE);
    /* begin with bad parameters zeroises the image */
    {
        struct dpx_params bad = f.p;
        bad.epsilon = -1.0;
        CHECK_STATUS(dpx_build_begin(&bad, f.image, f.plan.image_bytes, f.scratch,
                                     f.plan.scratch_bytes),
                     DPX_ERR_INVALID_EPSILON);
        CHECK(all_zero(f.image, f.plan.image_bytes));
        CHECK_STATUS(dpx_build_begin(&f.p, f.image, f.plan.image_bytes, f.image,
                                     f.plan.scratch_bytes),
                     DPX_ERR_OVERLAP);
    }
    free(nan_keys);
    free(oneshot);
    fixture_free(&f);
}

/* ---- range and batch queries --------------------------------------------------------- */

static void test_ranges_and_batch(void) {
    fixture f;
    const struct dpx_attn *a = NULL;
    struct dpx_attn_info info;
    struct dpx_query_info qinfo[3];
    float *qs = test_rows(21, 3, D, 1.5f);
    float out[DV], out2[DV], batch[3 * DV], sentinel[3 * DV];
    size_t b0, b1, i;

    fixture_init(&f, 8);
    CHECK_STATUS(fixture_build(&f, 9), DPX_OK);
    CHECK_STATUS(dpx_open(f.image, f.plan.image_bytes, &a), DPX_OK);
    CHECK_STATUS(dpx_attn_info(a, &info), DPX_OK);
    CHECK(info.blocks == 5 && info.rows == N); /* 40 rows in blocks of 8 */

    /* the whole range is dpx_query */
    CHECK_STATUS(dpx_query(a, qs, D, out, DV, f.qscratch, f.plan.query_scratch_bytes), DPX_OK);
    CHECK_STATUS(dpx_query_range(a, 0, info.blocks, qs, D, out2, DV, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_OK);
    CHECK(memcmp(out, out2, sizeof out) == 0);
    /* every non-empty range answers */
    for (b0 = 0; b0 < info.blocks; b0++) {
        for (b1 = b0 + 1; b1 <= info.blocks; b1++) {
            struct dpx_query_info qi;
            qi.floor_used = 99;
            CHECK_STATUS(dpx_query_ex(a, b0, b1, qs + D, D, out, DV, &qi, f.qscratch,
                                      f.plan.query_scratch_bytes),
                         DPX_OK);
            CHECK(qi.floor_used <= 1 && isfinite(out[0]));
        }
    }
    /* one block's range differs from the whole */
    CHECK_STATUS(dpx_query_range(a, 2, 3, qs, D, out2, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_OK);
    CHECK_STATUS(dpx_query(a, qs, D, out, DV, f.qscratch, f.plan.query_scratch_bytes), DPX_OK);
    CHECK(memcmp(out, out2, sizeof out) != 0);
    /* invalid ranges; out untouched */
    memcpy(out2, out, sizeof out);
    CHECK_STATUS(dpx_query_range(a, 1, 1, qs, D, out, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_query_range(a, 3, 2, qs, D, out, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_query_range(a, 0, info.blocks + 1, qs, D, out, DV, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_query_ex(a, 0, 0, qs, D, out, DV, qinfo, f.qscratch,
                              f.plan.query_scratch_bytes),
                 DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_query_ex(a, 0, 1, qs, D, out, DV, NULL, f.qscratch,
                              f.plan.query_scratch_bytes),
                 DPX_ERR_NULL);
    CHECK(memcmp(out, out2, sizeof out) == 0);

    /* batch = one query at a time */
    CHECK_STATUS(dpx_query_batch(a, qs, 3 * D, batch, 3 * DV, qinfo, 3, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_OK);
    for (i = 0; i < 3; i++) {
        struct dpx_query_info qi;
        CHECK_STATUS(dpx_query_ex(a, 0, info.blocks, qs + i * D, D, out, DV, &qi, f.qscratch,
                                  f.plan.query_scratch_bytes),
                     DPX_OK);
        CHECK(memcmp(out, batch + i * DV, sizeof out) == 0);
        CHECK(qi.floor_used == qinfo[i].floor_used);
    }
    CHECK_STATUS(dpx_query_batch(a, qs, 3 * D, batch, 3 * DV, NULL, 0, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_OK);
    CHECK_STATUS(dpx_query_batch(a, qs, 0, NULL, 0, NULL, 0, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_OK); /* an empty batch */
    /* wrong lengths, and a NaN in the last query: nothing is written */
    for (i = 0; i < 3 * DV; i++) {
        sentinel[i] = batch[i] = -77.0f;
    }
    CHECK_STATUS(dpx_query_batch(a, qs, 3 * D - 1, batch, 3 * DV, NULL, 0, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_ERR_WRONG_LENGTH);
    CHECK_STATUS(dpx_query_batch(a, qs, 3 * D, batch, 2 * DV, NULL, 0, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_ERR_WRONG_LENGTH);
    CHECK_STATUS(dpx_query_batch(a, qs, 3 * D, batch, 3 * DV, qinfo, 2, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_ERR_WRONG_LENGTH);
    CHECK_STATUS(dpx_query_batch(a, qs, 3 * D, batch, 3 * DV, qinfo, 3, f.qscratch, 8),
                 DPX_ERR_BUFFER_TOO_SMALL);
    qs[2 * D + 1] = INFINITY;
    CHECK_STATUS(dpx_query_batch(a, qs, 3 * D, batch, 3 * DV, qinfo, 3, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_ERR_NON_FINITE_INPUT);
    CHECK(memcmp(batch, sentinel, sizeof batch) == 0);
    CHECK_STATUS(dpx_query_batch(a, qs, 3 * D, qs, 3 * DV, NULL, 0, f.qscratch,
                                 f.plan.query_scratch_bytes),
                 DPX_ERR_OVERLAP);
    free(qs);
    fixture_free(&f);
}

/* ---- NULL, short, misaligned, overlapping buffers; wrong sizes ------------------------ */

static void test_pointer_checks(void) {
    fixture f;
    const struct dpx_attn *a = NULL, *untouched = (const struct dpx_attn *)(const void *)&a;
    test_rng rng;
    uint8_t *img;
    float q[D], out[DV + 1], keep[DV + 1]; /* one spare: the DV + 1 wrong-length case */
    size_t i;

    fixture_init(&f, 0);
    img = (uint8_t *)f.image;
    test_rng_seed(&rng, 1);
    /* NULL with a non-zero length; NULL parameters and callback */
#define BUILD(p_, image_, ib_, k_, v_, n_, fill_, scratch_, sb_)                           \
    dpx_build(p_, image_, ib_, k_, v_, n_, fill_, &rng, scratch_, sb_)
    CHECK_STATUS(BUILD(NULL, img, f.plan.image_bytes, f.keys, f.values, N, test_fill, f.scratch,
                       f.plan.scratch_bytes),
                 DPX_ERR_NULL);
    CHECK_STATUS(BUILD(&f.p, NULL, f.plan.image_bytes, f.keys, f.values, N, test_fill, f.scratch,
                       f.plan.scratch_bytes),
                 DPX_ERR_NULL);
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, NULL, f.values, N, test_fill, f.scratch,
                       f.plan.scratch_bytes),
                 DPX_ERR_NULL);
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, f.keys, NULL, N, test_fill, f.scratch,
                       f.plan.scratch_bytes),
                 DPX_ERR_NULL);
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, f.keys, f.values, N, test_fill, NULL,
                       f.plan.scratch_bytes),
                 DPX_ERR_NULL);
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, f.keys, f.values, N, NULL, f.scratch,
                       f.plan.scratch_bytes),
                 DPX_ERR_NULL_CALLBACK);
    /* short buffers */
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes - 1, f.keys, f.values, N, test_fill,
                       f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, f.keys, f.values, N, test_fill, f.scratch,
                       f.plan.scratch_bytes - 1),
                 DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(BUILD(&f.p, img, 0, f.keys, f.values, N, test_fill, f.scratch,
                       f.plan.scratch_bytes),
                 DPX_ERR_BUFFER_TOO_SMALL);
    /* misaligned image, scratch, rows */
    CHECK_STATUS(BUILD(&f.p, img + 4, f.plan.image_bytes, f.keys, f.values, N, test_fill,
                       f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_MISALIGNED);
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, f.keys, f.values, N, test_fill,
                       (uint8_t *)f.scratch + 1, f.plan.scratch_bytes),
                 DPX_ERR_MISALIGNED);
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, (const float *)(const void *)((const char *)f.keys + 2),
                       f.values, N, test_fill, f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_MISALIGNED);
    /* overlapping buffers */
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, f.keys, f.values, N, test_fill, img + 64,
                       f.plan.scratch_bytes),
                 DPX_ERR_OVERLAP);
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, (const float *)(const void *)(img + 8),
                       f.values, N, test_fill, f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_OVERLAP);
    /* n * d overflows size_t */
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, f.keys, f.values, SIZE_MAX / 2, test_fill,
                       f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_LENGTH_OVERFLOW);
    /* too many rows */
    CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, f.keys, f.values, 0, test_fill, f.scratch,
                       f.plan.scratch_bytes),
                 DPX_OK); /* zero rows: a valid, pure-noise image */
    {
        float *k = test_rows(1, 65, D, 1.0f), *v = test_rows(2, 65, DV, 1.0f);
        memset(img, 0x55, f.plan.image_bytes);
        CHECK_STATUS(BUILD(&f.p, img, f.plan.image_bytes, k, v, 65, test_fill, f.scratch,
                           f.plan.scratch_bytes),
                     DPX_ERR_TOO_MANY_ROWS);
        CHECK(all_zero(img, f.plan.image_bytes)); /* a failed build leaves a zeroed image */
        free(k);
        free(v);
    }
#undef BUILD

    CHECK_STATUS(fixture_build(&f, 2), DPX_OK);
    /* open: NULL, short, misaligned, out inside the image */
    CHECK_STATUS(dpx_open(NULL, f.plan.image_bytes, &a), DPX_ERR_NULL);
    CHECK_STATUS(dpx_open(img, f.plan.image_bytes, NULL), DPX_ERR_NULL);
    a = untouched;
    CHECK_STATUS(dpx_open(img, f.plan.image_bytes - 1, &a), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(dpx_open(img, 3, &a), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(dpx_open(img, 0, &a), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK(a == untouched); /* outputs written only on success */
    {
        uint8_t *shifted = (uint8_t *)test_alloc(f.plan.image_bytes + 8);
        memcpy(shifted + 4, img, f.plan.image_bytes);
        CHECK_STATUS(dpx_open(shifted + 4, f.plan.image_bytes, &a), DPX_ERR_MISALIGNED);
        free(shifted);
    }
    CHECK_STATUS(dpx_open(img, f.plan.image_bytes, (const struct dpx_attn **)(void *)(img + 64)),
                 DPX_ERR_OVERLAP);
    CHECK_STATUS(dpx_open(img, f.plan.image_bytes + 64, &a), DPX_OK); /* a larger buffer is fine */

    /* query: NULL, wrong lengths, short/misaligned scratch, overlap; out untouched */
    for (i = 0; i < D; i++) {
        q[i] = 0.1f * (float)i;
    }
    for (i = 0; i < DV + 1; i++) {
        out[i] = keep[i] = 3.0f;
    }
    CHECK_STATUS(dpx_query(NULL, q, D, out, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_NULL);
    CHECK_STATUS(dpx_query(a, NULL, D, out, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_NULL);
    CHECK_STATUS(dpx_query(a, q, D, NULL, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_NULL);
    CHECK_STATUS(dpx_query(a, q, D - 1, out, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_WRONG_LENGTH);
    CHECK_STATUS(dpx_query(a, q, D, out, DV + 1, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_WRONG_LENGTH);
    CHECK_STATUS(dpx_query(a, q, D, out, DV, f.qscratch, f.plan.query_scratch_bytes - 1),
                 DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(dpx_query(a, q, D, out, DV, NULL, 0), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(dpx_query(a, q, D, out, DV, (uint8_t *)f.qscratch + 4,
                           f.plan.query_scratch_bytes),
                 DPX_ERR_MISALIGNED);
    CHECK_STATUS(dpx_query(a, q, D, (float *)f.qscratch, DV, f.qscratch,
                           f.plan.query_scratch_bytes),
                 DPX_ERR_OVERLAP);
    CHECK_STATUS(dpx_query(a, q, D, (float *)(void *)(img + 400), DV, f.qscratch,
                           f.plan.query_scratch_bytes),
                 DPX_ERR_OVERLAP);
    CHECK_STATUS(dpx_query(a, q, D, q, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_OVERLAP);
    q[3] = NAN;
    CHECK_STATUS(dpx_query(a, q, D, out, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_NON_FINITE_INPUT);
    q[3] = -INFINITY;
    CHECK_STATUS(dpx_query(a, q, D, out, DV, f.qscratch, f.plan.query_scratch_bytes),
                 DPX_ERR_NON_FINITE_INPUT);
    CHECK(memcmp(out, keep, sizeof out) == 0);
    /* a handle that is not an image */
    CHECK_STATUS(dpx_query((const struct dpx_attn *)f.scratch, q, D, out, DV, f.qscratch,
                           f.plan.query_scratch_bytes),
                 DPX_ERR_BAD_MAGIC);
    q[3] = 1e30f; /* huge but finite: clipped onto the query ball */
    CHECK_STATUS(dpx_query(a, q, D, out, DV, f.qscratch, f.plan.query_scratch_bytes), DPX_OK);
    CHECK(isfinite(out[0]));
    fixture_free(&f);
}

/* ---- bad rows ----------------------------------------------------------------------- */

static void test_bad_rows(void) {
    fixture f;
    test_rng rng;
    fixture_init(&f, 0);
    test_rng_seed(&rng, 3);
    f.keys[5 * D + 1] = NAN;
    memset(f.image, 0x11, f.plan.image_bytes);
    CHECK_STATUS(dpx_build(&f.p, f.image, f.plan.image_bytes, f.keys, f.values, N, test_fill,
                           &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_NON_FINITE_INPUT);
    CHECK(all_zero(f.image, f.plan.image_bytes));
    CHECK(all_zero(f.scratch, f.plan.scratch_bytes));
    f.keys[5 * D + 1] = 0.0f;
    f.values[N * DV - 1] = -INFINITY;
    CHECK_STATUS(dpx_build(&f.p, f.image, f.plan.image_bytes, f.keys, f.values, N, test_fill,
                           &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_NON_FINITE_INPUT);
    f.values[N * DV - 1] = 0.0f;
    /* far outside the ball: clipped by default, rejected with DPX_FLAG_REJECT */
    f.values[7 * DV] = 1000.0f;
    CHECK_STATUS(dpx_build(&f.p, f.image, f.plan.image_bytes, f.keys, f.values, N, test_fill,
                           &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_OK);
    f.p.flags = DPX_FLAG_REJECT;
    CHECK_STATUS(dpx_build(&f.p, f.image, f.plan.image_bytes, f.keys, f.values, N, test_fill,
                           &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_OUT_OF_BALL);
    CHECK(all_zero(f.image, f.plan.image_bytes));
    fixture_free(&f);
}

/* ---- failing entropy ---------------------------------------------------------------- */

static void test_failing_rng(void) {
    fixture f;
    const struct dpx_attn *a = NULL;
    unsigned ok_calls;
    fixture_init(&f, 8);
    for (ok_calls = 0; ok_calls < 200; ok_calls += 37) {
        failing_rng fr;
        test_rng_seed(&fr.inner, 4);
        fr.ok_calls = ok_calls;
        fr.calls = 0;
        fr.code = -9;
        memset(f.image, 0x33, f.plan.image_bytes);
        CHECK_STATUS(dpx_build(&f.p, f.image, f.plan.image_bytes, f.keys, f.values, N,
                               failing_fill, &fr, f.scratch, f.plan.scratch_bytes),
                     DPX_ERR_RNG);
        CHECK(fr.calls == ok_calls); /* stopped at the first failure */
        CHECK(all_zero(f.image, f.plan.image_bytes));   /* nothing released */
        CHECK(all_zero(f.scratch, f.plan.scratch_bytes)); /* exact sums wiped */
        CHECK_STATUS(dpx_open(f.image, f.plan.image_bytes, &a), DPX_ERR_BAD_MAGIC);
    }
    /* streaming: a failure in push (tree layout noises completed nodes) or finish */
    {
        failing_rng fr;
        test_rng_seed(&fr.inner, 4);
        fr.ok_calls = 3;
        fr.calls = 0;
        fr.code = 1;
        CHECK_STATUS(dpx_build_begin(&f.p, f.image, f.plan.image_bytes, f.scratch,
                                     f.plan.scratch_bytes),
                     DPX_OK);
        CHECK_STATUS(dpx_build_push(f.image, f.plan.image_bytes, f.keys, f.values, N, failing_fill,
                                    &fr, f.scratch, f.plan.scratch_bytes),
                     DPX_ERR_RNG);
        CHECK(all_zero(f.image, f.plan.image_bytes));
        CHECK(all_zero(f.scratch, f.plan.scratch_bytes));
        CHECK_STATUS(dpx_build_finish(f.image, f.plan.image_bytes, failing_fill, &fr, f.scratch,
                                      f.plan.scratch_bytes),
                     DPX_ERR_BUILD_STATE); /* the build is over */

        fr.ok_calls = 1000000;
        fr.calls = 0;
        CHECK_STATUS(dpx_build_begin(&f.p, f.image, f.plan.image_bytes, f.scratch,
                                     f.plan.scratch_bytes),
                     DPX_OK);
        CHECK_STATUS(dpx_build_push(f.image, f.plan.image_bytes, f.keys, f.values, 3, failing_fill,
                                    &fr, f.scratch, f.plan.scratch_bytes),
                     DPX_OK);
        fr.ok_calls = fr.calls; /* fail from now on */
        CHECK_STATUS(dpx_build_finish(f.image, f.plan.image_bytes, failing_fill, &fr, f.scratch,
                                      f.plan.scratch_bytes),
                     DPX_ERR_RNG);
        CHECK(all_zero(f.image, f.plan.image_bytes));
        CHECK(all_zero(f.scratch, f.plan.scratch_bytes));
        CHECK_STATUS(dpx_build_finish(f.image, f.plan.image_bytes, test_fill, &fr.inner,
                                      f.scratch, f.plan.scratch_bytes),
                     DPX_ERR_BUILD_STATE);
    }
    fixture_free(&f);
}

/* ---- corrupted images --------------------------------------------------------------- */

static void test_corruption(void) {
    fixture f;
    const struct dpx_attn *a = NULL;
    uint8_t *img, *orig;
    size_t i, rejected = 0, tried = 0;
    float q[D] = {0.3f, 0.1f, 0.0f, -0.2f, 0.5f, 0.0f, 0.1f, 0.0f}, out[DV];

    fixture_init(&f, 8);
    CHECK_STATUS(fixture_build(&f, 6), DPX_OK);
    img = (uint8_t *)f.image;
    orig = (uint8_t *)test_alloc(f.plan.image_bytes);
    memcpy(orig, img, f.plan.image_bytes);
    /* every single-bit flip, at a stride through header and body, is refused */
    for (i = 0; i < f.plan.image_bytes; i += (i < DPX_HEADER_BYTES ? 1 : 13)) {
        unsigned bit = (unsigned)(i % 8);
        dpx_status s;
        img[i] ^= (uint8_t)(1u << bit);
        s = dpx_open(img, f.plan.image_bytes, &a);
        tried++;
        if (s == DPX_ERR_CHECKSUM_MISMATCH || s == DPX_ERR_CORRUPT_IMAGE ||
            s == DPX_ERR_BAD_MAGIC || s == DPX_ERR_UNSUPPORTED_VERSION ||
            s == DPX_ERR_BUFFER_TOO_SMALL) {
            rejected++;
        } else {
            fprintf(stderr, "bit flip at byte %lu accepted: %s\n", (unsigned long)i,
                    dpx_status_str(s));
        }
        img[i] ^= (uint8_t)(1u << bit);
    }
    CHECK(tried > DPX_HEADER_BYTES && rejected == tried);
    img[4] ^= 0x02; /* format version */
    CHECK_STATUS(dpx_open(img, f.plan.image_bytes, &a), DPX_ERR_UNSUPPORTED_VERSION);
    img[4] ^= 0x02;
    img[f.plan.image_bytes - 1] ^= 0x80; /* last noised word */
    CHECK_STATUS(dpx_open(img, f.plan.image_bytes, &a), DPX_ERR_CHECKSUM_MISMATCH);
    img[f.plan.image_bytes - 1] ^= 0x80;
    memset(img, 0, 4); /* magic */
    CHECK_STATUS(dpx_open(img, f.plan.image_bytes, &a), DPX_ERR_BAD_MAGIC);
    memcpy(img, orig, f.plan.image_bytes);
    CHECK_STATUS(dpx_open(img, f.plan.image_bytes, &a), DPX_OK);
    /* a header corrupted under a live handle is caught by every query */
    img[28] ^= 0x01; /* dv */
    CHECK(dpx_query(a, q, D, out, DV, f.qscratch, f.plan.query_scratch_bytes) != DPX_OK);
    img[28] ^= 0x01;
    CHECK_STATUS(dpx_query(a, q, D, out, DV, f.qscratch, f.plan.query_scratch_bytes), DPX_OK);
    free(orig);
    fixture_free(&f);
}

/* ---- quantised rows ------------------------------------------------------------------ */

static void test_quantised(void) {
    fixture f;
    int8_t k8[N * D], v8[N * DV];
    int16_t k16[N * D], v16[N * DV];
    uint8_t *a_img, *b_img;
    test_rng rng;
    size_t i;
    const struct dpx_attn *a = NULL;
    float q[D] = {0}, out[DV];

    fixture_init(&f, 8);
    for (i = 0; i < N * D; i++) {
        k8[i] = (int8_t)((int)(i * 37 % 251) - 125);
        k16[i] = k8[i];
    }
    for (i = 0; i < N * DV; i++) {
        v8[i] = (int8_t)((int)(i * 53 % 241) - 120);
        v16[i] = v8[i];
    }
    a_img = (uint8_t *)test_alloc(f.plan.image_bytes);
    b_img = (uint8_t *)test_alloc(f.plan.image_bytes);
    test_rng_seed(&rng, 8);
    CHECK_STATUS(dpx_build_i8(&f.p, a_img, f.plan.image_bytes, k8, 0.01f, v8, 0.02f, N, test_fill,
                              &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_OK);
    /* the same integers as int16, in chunks: the same image */
    test_rng_seed(&rng, 8);
    CHECK_STATUS(dpx_build_begin(&f.p, b_img, f.plan.image_bytes, f.scratch,
                                 f.plan.scratch_bytes),
                 DPX_OK);
    CHECK_STATUS(dpx_build_push_i16(b_img, f.plan.image_bytes, k16, 0.01f, v16, 0.02f, 13,
                                    test_fill, &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_OK);
    CHECK_STATUS(dpx_build_push_i8(b_img, f.plan.image_bytes, k8 + 13 * D, 0.01f, v8 + 13 * DV,
                                   0.02f, N - 13, test_fill, &rng, f.scratch,
                                   f.plan.scratch_bytes),
                 DPX_OK);
    CHECK_STATUS(dpx_build_finish(b_img, f.plan.image_bytes, test_fill, &rng, f.scratch,
                                  f.plan.scratch_bytes),
                 DPX_OK);
    CHECK(memcmp(a_img, b_img, f.plan.image_bytes) == 0);
    test_rng_seed(&rng, 8);
    CHECK_STATUS(dpx_build_i16(&f.p, b_img, f.plan.image_bytes, k16, 0.01f, v16, 0.02f, N,
                               test_fill, &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_OK);
    CHECK(memcmp(a_img, b_img, f.plan.image_bytes) == 0);
    CHECK_STATUS(dpx_open(a_img, f.plan.image_bytes, &a), DPX_OK);
    q[0] = 1.0f;
    CHECK_STATUS(dpx_query(a, q, D, out, DV, f.qscratch, f.plan.query_scratch_bytes), DPX_OK);
    /* a non-finite scale makes every row non-finite */
    CHECK_STATUS(dpx_build_i8(&f.p, b_img, f.plan.image_bytes, k8, INFINITY, v8, 0.02f, N,
                              test_fill, &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_NON_FINITE_INPUT);
    CHECK(all_zero(b_img, f.plan.image_bytes));
    /* misaligned int16 rows */
    CHECK_STATUS(dpx_build_i16(&f.p, b_img, f.plan.image_bytes,
                               (const int16_t *)(const void *)((const char *)k16 + 1), 0.01f, v16,
                               0.02f, N - 1, test_fill, &rng, f.scratch, f.plan.scratch_bytes),
                 DPX_ERR_MISALIGNED);
    free(a_img);
    free(b_img);
    fixture_free(&f);
}

int main(void) {
    test_version_and_status();
    test_params_and_plan();
    test_quick_start();
    test_streaming();
    test_ranges_and_batch();
    test_pointer_checks();
    test_bad_rows();
    test_failing_rng();
    test_corruption();
    test_quantised();
    return harness_finish("test_api");
}
