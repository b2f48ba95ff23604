/* C99 tests of the DPTree family C API (dpx_tree_*, dpx_distance_*, dpx_highdim_*,
 * dpx_softmax_*): answers, streaming, bad inputs, failing entropy, corrupted images.
 *
 * Every answer that must equal the Rust API bit for bit is printed as a line
 * "VAL <name> <16 hex digits of the double>"; tests/c_api.rs computes the same names with
 * the Rust API (same inputs, same SplitMix64 byte stream) and compares all of them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "harness.h"

static void val(const char *name, double x) {
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    printf("VAL %s %016llx\n", name, (unsigned long long)b);
}

/* Deterministic inputs, exact in binary (the Rust side uses the same formulas). */
static double tree_value(size_t i) { return (double)((long)((i * 37) % 17) - 8) * 0.125; }
static double dist_point(size_t i) { return (double)((i * 13) % 32) * 0.03125; }
static double dist_weight(size_t i) { return (double)((long)((i * 7) % 11) - 5) * 0.25; }
static double hd_coord(size_t i, size_t k) { return (double)((i * 5 + k * 3) % 16) * 0.0625; }
static double sm_coord(size_t i, size_t k) {
    return (double)((long)((i * 3 + k * 5) % 9) - 4) * 0.125;
}
static double sm_weight(size_t i) { return (double)((long)((i * 5) % 7) - 3) * 0.25; }

static double *values_of(size_t n) {
    double *v = (double *)test_alloc(n * sizeof(double));
    size_t i;
    for (i = 0; i < n; i++) {
        v[i] = tree_value(i);
    }
    return v;
}

static void fill_bytes(void *p, size_t len, uint8_t b) { memset(p, b, len); }

/* ------------------------------------------------------------------------------------ */

static struct dpx_tree_params tree_params(size_t n, dpx_mechanism m) {
    struct dpx_tree_params p;
    p.n = n;
    p.value_bound = 1.0;
    p.mechanism = m;
    p.epsilon = 1.0;
    p.delta = 1e-6;
    return p;
}

static void test_tree_plan(void) {
    struct dpx_tree_params p = tree_params(20, DPX_MECHANISM_GAUSSIAN);
    struct dpx_tree_plan plan, sentinel;
    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_OK);
    CHECK(plan.image_bytes == 160 + 8 * 20);
    CHECK(plan.state_bytes == 32 + 8 * plan.levels);
    CHECK(plan.levels == 5);
    CHECK(plan.noise_scale > 0.0 && plan.grid > 0.0);
    val("tree_plan_noise_scale", plan.noise_scale);

    memset(&sentinel, 0x5A, sizeof sentinel);
    plan = sentinel;
    CHECK_STATUS(dpx_tree_plan_new(NULL, &plan), DPX_ERR_NULL);
    CHECK_STATUS(dpx_tree_plan_new(&p, NULL), DPX_ERR_NULL);
    p.mechanism = 7;
    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_ERR_INVALID_PARAMETER);
    p = tree_params(0, DPX_MECHANISM_GAUSSIAN);
    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_ERR_INVALID_DIMENSION);
    p = tree_params(20, DPX_MECHANISM_GAUSSIAN);
    p.epsilon = 0.0;
    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_ERR_INVALID_EPSILON);
    p = tree_params(20, DPX_MECHANISM_GAUSSIAN);
    p.delta = 1.0;
    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_ERR_INVALID_DELTA);
    p = tree_params(20, DPX_MECHANISM_GAUSSIAN);
    p.value_bound = NAN;
    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_ERR_INVALID_PARAMETER);
    CHECK(memcmp(&plan, &sentinel, sizeof plan) == 0); /* never written on error */
}

/* One-shot builds and queries, compared with the Rust API by tests/c_api.rs. */
static void test_tree_answers(void) {
    struct dpx_tree_params p = tree_params(20, DPX_MECHANISM_GAUSSIAN);
    struct dpx_tree_plan plan;
    struct dpx_tree_info info;
    struct dpx_bound_parts bd;
    const struct dpx_tree *t = NULL;
    double *v = values_of(20), s;
    void *img;
    test_rng rng;

    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_OK);
    img = test_alloc(plan.image_bytes);
    test_rng_seed(&rng, 11);
    CHECK_STATUS(dpx_tree_build(&p, img, plan.image_bytes, v, 20, test_fill, &rng), DPX_OK);
    CHECK_STATUS(dpx_tree_open(img, plan.image_bytes, &t), DPX_OK);
    CHECK(t == (const struct dpx_tree *)img);
    CHECK_STATUS(dpx_tree_info(t, &info), DPX_OK);
    CHECK(info.filled == 20 && info.params.n == 20 && info.image_bytes == plan.image_bytes);
    CHECK(info.params.mechanism == DPX_MECHANISM_GAUSSIAN && info.params.delta == 1e-6);
    CHECK_STATUS(dpx_tree_range_sum(t, 0, 20, &s), DPX_OK);
    val("tree_g_0_20", s);
    CHECK_STATUS(dpx_tree_range_sum(t, 3, 17, &s), DPX_OK);
    val("tree_g_3_17", s);
    CHECK_STATUS(dpx_tree_range_sum(t, 5, 6, &s), DPX_OK);
    val("tree_g_5_6", s);
    CHECK_STATUS(dpx_tree_bound(t, 3, 17, 0.05, &bd), DPX_OK);
    CHECK(bd.beta == 0.05 && bd.approximation == 0.0);
    CHECK(bd.total >= bd.noise + bd.rounding && bd.noise > 0.0);
    val("tree_g_bound_3_17", bd.total);
    free(img);

    /* Laplace, built from 10 of 13 values: ranges inside [0, 10). */
    p = tree_params(13, DPX_MECHANISM_LAPLACE);
    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_OK);
    img = test_alloc(plan.image_bytes);
    test_rng_seed(&rng, 12);
    CHECK_STATUS(dpx_tree_build(&p, img, plan.image_bytes, v, 10, test_fill, &rng), DPX_OK);
    CHECK_STATUS(dpx_tree_open(img, plan.image_bytes, &t), DPX_OK);
    CHECK_STATUS(dpx_tree_info(t, &info), DPX_OK);
    CHECK(info.filled == 10 && info.params.n == 13 && info.params.delta == 0.0);
    CHECK_STATUS(dpx_tree_range_sum(t, 2, 9, &s), DPX_OK);
    val("tree_l_2_9", s);
    CHECK_STATUS(dpx_tree_bound(t, 2, 9, 0.1, &bd), DPX_OK);
    val("tree_l_bound_2_9", bd.total);
    s = 42.0;
    CHECK_STATUS(dpx_tree_range_sum(t, 2, 11, &s), DPX_ERR_INVALID_RANGE); /* > filled */
    CHECK_STATUS(dpx_tree_range_sum(t, 4, 4, &s), DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_tree_range_sum(t, 5, 4, &s), DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_tree_range_sum(NULL, 0, 1, &s), DPX_ERR_NULL);
    CHECK_STATUS(dpx_tree_range_sum(t, 0, 1, NULL), DPX_ERR_NULL);
    CHECK(s == 42.0);
    CHECK_STATUS(dpx_tree_range_sum(t, 0, 1, (double *)((uint8_t *)img + 200)),
                 DPX_ERR_OVERLAP);
    CHECK_STATUS(dpx_tree_bound(t, 0, 5, 0.0, &bd), DPX_ERR_INVALID_PARAMETER);
    CHECK_STATUS(dpx_tree_bound(t, 0, 5, 1.0, &bd), DPX_ERR_INVALID_PARAMETER);
    CHECK_STATUS(dpx_tree_bound(t, 0, 5, NAN, &bd), DPX_ERR_INVALID_PARAMETER);
    CHECK_STATUS(dpx_tree_bound(t, 0, 11, 0.1, &bd), DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_tree_info(t, NULL), DPX_ERR_NULL);
    free(img);
    free(v);
}

/* Streaming in chunks gives the bytes of the one-shot build; handles see the prefix. */
static void test_tree_streaming(void) {
    struct dpx_tree_params p = tree_params(20, DPX_MECHANISM_GAUSSIAN);
    struct dpx_tree_plan plan;
    struct dpx_tree_info info;
    const struct dpx_tree *t = NULL;
    double *v = values_of(20), s, bad[2];
    void *one, *img, *st, *copy;
    test_rng rng;
    failing_rng frng;

    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_OK);
    one = test_alloc(plan.image_bytes);
    img = test_alloc(plan.image_bytes);
    copy = test_alloc(plan.image_bytes);
    st = test_alloc(plan.state_bytes);
    test_rng_seed(&rng, 11);
    CHECK_STATUS(dpx_tree_build(&p, one, plan.image_bytes, v, 20, test_fill, &rng), DPX_OK);

    test_rng_seed(&rng, 11);
    CHECK_STATUS(dpx_tree_begin(&p, img, plan.image_bytes, st, plan.state_bytes), DPX_OK);
    CHECK_STATUS(dpx_tree_open(img, plan.image_bytes, &t), DPX_OK); /* empty, valid */
    CHECK_STATUS(dpx_tree_info(t, &info), DPX_OK);
    CHECK(info.filled == 0);
    CHECK_STATUS(dpx_tree_range_sum(t, 0, 1, &s), DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, v, 7, test_fill,
                               &rng),
                 DPX_OK);
    /* The same handle answers the completed prefix. */
    CHECK_STATUS(dpx_tree_range_sum(t, 0, 7, &s), DPX_OK);
    CHECK_STATUS(dpx_tree_info(t, &info), DPX_OK);
    CHECK(info.filled == 7);
    /* Refused chunks change nothing and the stream goes on. */
    memcpy(copy, img, plan.image_bytes);
    bad[0] = 0.5;
    bad[1] = NAN;
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, bad, 2, test_fill,
                               &rng),
                 DPX_ERR_NON_FINITE_INPUT);
    bad[1] = -1.25;
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, bad, 2, test_fill,
                               &rng),
                 DPX_ERR_OUT_OF_RANGE);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, v, 14, test_fill,
                               &rng),
                 DPX_ERR_TOO_MANY_ROWS);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, NULL, 3, test_fill,
                               &rng),
                 DPX_ERR_NULL);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, v, 3, NULL, &rng),
                 DPX_ERR_NULL_CALLBACK);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, img, plan.state_bytes, v, 3, test_fill,
                               &rng),
                 DPX_ERR_OVERLAP);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes,
                               (const double *)((uint8_t *)img + 160), 3, test_fill, &rng),
                 DPX_ERR_OVERLAP);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes - 1, v, 3,
                               test_fill, &rng),
                 DPX_ERR_BUILD_STATE);
    CHECK(memcmp(copy, img, plan.image_bytes) == 0);
    /* An empty chunk (NULL, 0) is fine. */
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, NULL, 0, test_fill,
                               &rng),
                 DPX_OK);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, v + 7, 13,
                               test_fill, &rng),
                 DPX_OK);
    CHECK(memcmp(one, img, plan.image_bytes) == 0); /* bit-identical to the one-shot build */
    CHECK_STATUS(dpx_tree_finish(img, plan.image_bytes, st, plan.state_bytes), DPX_OK);
    CHECK(all_zero(st, plan.state_bytes)); /* exact partial sums wiped */
    CHECK_STATUS(dpx_tree_finish(img, plan.image_bytes, st, plan.state_bytes),
                 DPX_ERR_BUILD_STATE);
    CHECK_STATUS(dpx_tree_open(img, plan.image_bytes, &t), DPX_OK);
    CHECK_STATUS(dpx_tree_range_sum(t, 3, 17, &s), DPX_OK);
    val("tree_stream_3_17", s);

    /* Entropy failure mid-stream: image and state zeroised, the stream is over. */
    frng.ok_calls = 3;
    frng.calls = 0;
    frng.code = -9;
    test_rng_seed(&frng.inner, 5);
    CHECK_STATUS(dpx_tree_begin(&p, img, plan.image_bytes, st, plan.state_bytes), DPX_OK);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, v, 20,
                               failing_fill, &frng),
                 DPX_ERR_RNG);
    CHECK(all_zero(img, plan.image_bytes) && all_zero(st, plan.state_bytes));
    CHECK_STATUS(dpx_tree_open(img, plan.image_bytes, &t), DPX_ERR_BAD_MAGIC);
    CHECK_STATUS(dpx_tree_push(img, plan.image_bytes, st, plan.state_bytes, v, 1, test_fill,
                               &rng),
                 DPX_ERR_BAD_MAGIC);

    /* begin failures zeroise image and state. */
    fill_bytes(img, plan.image_bytes, 0xAB);
    fill_bytes(st, plan.state_bytes, 0xAB);
    CHECK_STATUS(dpx_tree_begin(&p, img, plan.image_bytes, st, plan.state_bytes - 1),
                 DPX_ERR_BUFFER_TOO_SMALL);
    CHECK(all_zero(img, plan.image_bytes) && all_zero(st, plan.state_bytes - 1));
    CHECK_STATUS(dpx_tree_begin(NULL, img, plan.image_bytes, st, plan.state_bytes),
                 DPX_ERR_NULL);
    free(one);
    free(img);
    free(copy);
    free(st);
    free(v);
}

/* Build failures zeroise the image; corrupted images are refused. */
static void test_tree_bad(void) {
    struct dpx_tree_params p = tree_params(20, DPX_MECHANISM_GAUSSIAN);
    struct dpx_tree_plan plan;
    const struct dpx_tree *t = NULL, *t0;
    double *v = values_of(21);
    uint8_t *buf, *img;
    test_rng rng;
    failing_rng frng;
    size_t B;

    CHECK_STATUS(dpx_tree_plan_new(&p, &plan), DPX_OK);
    B = plan.image_bytes;
    buf = (uint8_t *)test_alloc(B + 16);
    img = buf;
    test_rng_seed(&rng, 3);

#define TREE_BUILD_FAILS(img_, bytes_, vals_, n_, fill_, ctx_, want_)                       \
    do {                                                                                  \
        fill_bytes(buf, B + 16, 0xAB);                                                    \
        CHECK_STATUS(dpx_tree_build(&p, (img_), (bytes_), (vals_), (n_), (fill_), (ctx_)), \
                     (want_));                                                            \
        CHECK(all_zero((img_), (bytes_)));                                                \
    } while (0)

    TREE_BUILD_FAILS(img, B - 1, v, 20, test_fill, &rng, DPX_ERR_BUFFER_TOO_SMALL);
    TREE_BUILD_FAILS(img + 4, B, v, 20, test_fill, &rng, DPX_ERR_MISALIGNED);
    TREE_BUILD_FAILS(img, B, v, 21, test_fill, &rng, DPX_ERR_TOO_MANY_ROWS);
    TREE_BUILD_FAILS(img, B, NULL, 20, test_fill, &rng, DPX_ERR_NULL);
    TREE_BUILD_FAILS(img, B, v, 20, NULL, &rng, DPX_ERR_NULL_CALLBACK);
    TREE_BUILD_FAILS(img, B, (const double *)(img + 8), 2, test_fill, &rng, DPX_ERR_OVERLAP);
    v[4] = NAN;
    TREE_BUILD_FAILS(img, B, v, 20, test_fill, &rng, DPX_ERR_NON_FINITE_INPUT);
    v[4] = 1.0 + 1e-9;
    TREE_BUILD_FAILS(img, B, v, 20, test_fill, &rng, DPX_ERR_OUT_OF_RANGE);
    v[4] = tree_value(4);
    frng.ok_calls = 5;
    frng.calls = 0;
    frng.code = 1;
    test_rng_seed(&frng.inner, 1);
    TREE_BUILD_FAILS(img, B, v, 20, failing_fill, &frng, DPX_ERR_RNG);
    CHECK_STATUS(dpx_tree_open(img, B, &t), DPX_ERR_BAD_MAGIC);
    CHECK_STATUS(dpx_tree_build(&p, NULL, 0, v, 20, test_fill, &rng), DPX_ERR_BUFFER_TOO_SMALL);
#undef TREE_BUILD_FAILS

    /* A good image, then corruptions of it. */
    CHECK_STATUS(dpx_tree_build(&p, img, B, v, 20, test_fill, &rng), DPX_OK);
    t0 = NULL;
    t = t0;
    CHECK_STATUS(dpx_tree_open(img, B - 1, &t), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(dpx_tree_open(img, 100, &t), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(dpx_tree_open(img + 8, B, &t), DPX_ERR_BAD_MAGIC);
    CHECK_STATUS(dpx_tree_open(NULL, B, &t), DPX_ERR_NULL);
    CHECK_STATUS(dpx_tree_open(img, B, NULL), DPX_ERR_NULL);
    CHECK_STATUS(dpx_tree_open(img, B, (const struct dpx_tree **)(void *)(img + 64)),
                 DPX_ERR_OVERLAP);
    CHECK(t == t0); /* never written on error */
    img[B - 3] ^= 0x10; /* a node word */
    CHECK_STATUS(dpx_tree_open(img, B, &t), DPX_ERR_CHECKSUM_MISMATCH);
    img[B - 3] ^= 0x10;
    img[70] ^= 0x01; /* the value bound (header CRC) */
    CHECK_STATUS(dpx_tree_open(img, B, &t), DPX_ERR_CHECKSUM_MISMATCH);
    img[70] ^= 0x01;
    img[4] = 9; /* version */
    CHECK_STATUS(dpx_tree_open(img, B, &t), DPX_ERR_UNSUPPORTED_VERSION);
    img[4] = 1;
    img[0] = 'X';
    CHECK_STATUS(dpx_tree_open(img, B, &t), DPX_ERR_BAD_MAGIC);
    img[0] = 'D';
    CHECK_STATUS(dpx_tree_open(img, B, &t), DPX_OK);
    /* A handle re-validates the header on every call. */
    img[0] = 'X';
    {
        double s = 7.0;
        CHECK_STATUS(dpx_tree_range_sum(t, 0, 3, &s), DPX_ERR_BAD_MAGIC);
        CHECK(s == 7.0);
    }
    img[0] = 'D';
    free(buf);
    free(v);
}

/* ------------------------------------------------------------------------------------ */

static struct dpx_distance_params dist_params(dpx_mechanism m) {
    struct dpx_distance_params p;
    p.cells = 16;
    p.radius = 1.0;
    p.weight_bound = 2.0;
    p.n_max = 30;
    p.mechanism = m;
    p.epsilon = 1.0;
    p.delta = 1e-6;
    return p;
}

static void test_distance(void) {
    struct dpx_distance_params p = dist_params(DPX_MECHANISM_GAUSSIAN);
    struct dpx_distance_plan plan;
    struct dpx_bound_parts bd;
    const struct dpx_distance *h = NULL;
    const struct dpx_tree *t = NULL;
    double x[30], w[30], e, ys[3] = {-0.5, 0.3, 1.7};
    const char *names_g[3] = {"dist_g_m05", "dist_g_03", "dist_g_17"};
    uint8_t *one, *img, *copy;
    size_t i, B;
    test_rng rng;
    failing_rng frng;

    for (i = 0; i < 30; i++) {
        x[i] = dist_point(i);
        w[i] = dist_weight(i);
    }
    CHECK_STATUS(dpx_distance_plan_new(&p, &plan), DPX_OK);
    B = plan.image_bytes;
    CHECK(B == 208 + 16 * 16 && plan.levels == 5 && plan.cell_width == 1.0 / 16);
    CHECK(plan.tree_rho > 0.0 && plan.tree_epsilon == 0.0);
    CHECK(plan.weights_noise_scale > 0.0 && plan.moments_noise_scale > 0.0);
    one = (uint8_t *)test_alloc(B);
    img = (uint8_t *)test_alloc(B + 16);
    copy = (uint8_t *)test_alloc(B);

    test_rng_seed(&rng, 21);
    CHECK_STATUS(dpx_distance_build(&p, one, B, x, w, 30, test_fill, &rng), DPX_OK);
    CHECK_STATUS(dpx_distance_open(one, B, &h), DPX_OK);
    for (i = 0; i < 3; i++) {
        CHECK_STATUS(dpx_distance_evaluate(h, ys[i], &e), DPX_OK);
        val(names_g[i], e);
    }
    CHECK_STATUS(dpx_distance_bound(h, 0.3, 0.05, &bd), DPX_OK);
    CHECK(bd.approximation > 0.0 && bd.noise > 0.0 && bd.total >= bd.approximation);
    val("dist_g_bound_03", bd.total);
    e = 5.0;
    CHECK_STATUS(dpx_distance_evaluate(h, NAN, &e), DPX_ERR_NON_FINITE_INPUT);
    CHECK_STATUS(dpx_distance_evaluate(h, INFINITY, &e), DPX_ERR_NON_FINITE_INPUT);
    CHECK_STATUS(dpx_distance_evaluate(NULL, 0.1, &e), DPX_ERR_NULL);
    CHECK_STATUS(dpx_distance_evaluate(h, 0.1, NULL), DPX_ERR_NULL);
    CHECK_STATUS(dpx_distance_bound(h, 0.3, 1.5, &bd), DPX_ERR_INVALID_PARAMETER);
    CHECK(e == 5.0);
    /* Kinds do not mix. */
    CHECK_STATUS(dpx_tree_open(one, B, &t), DPX_ERR_BAD_MAGIC);

    /* Streaming: begin, two pushes, finish = the one-shot bytes. */
    test_rng_seed(&rng, 21);
    CHECK_STATUS(dpx_distance_begin(&p, img, B), DPX_OK);
    CHECK_STATUS(dpx_distance_open(img, B, &h), DPX_ERR_BAD_MAGIC); /* in progress */
    CHECK_STATUS(dpx_distance_push(img, B, x, w, 10), DPX_OK);
    memcpy(copy, img, B);
    x[30 - 1] = 1.5; /* outside [0, R] */
    CHECK_STATUS(dpx_distance_push(img, B, x + 10, w + 10, 20), DPX_ERR_OUT_OF_RANGE);
    x[30 - 1] = dist_point(29);
    w[12] = NAN;
    CHECK_STATUS(dpx_distance_push(img, B, x + 10, w + 10, 20), DPX_ERR_NON_FINITE_INPUT);
    w[12] = dist_weight(12);
    CHECK_STATUS(dpx_distance_push(img, B, x, w, 21), DPX_ERR_TOO_MANY_ROWS);
    CHECK_STATUS(dpx_distance_push(img, B, x, (const double *)(img + 16), 2), DPX_ERR_OVERLAP);
    CHECK_STATUS(dpx_distance_finish(img, B, NULL, &rng), DPX_ERR_NULL_CALLBACK);
    CHECK(memcmp(copy, img, B) == 0);
    CHECK_STATUS(dpx_distance_push(img, B, x + 10, w + 10, 20), DPX_OK);
    CHECK_STATUS(dpx_distance_finish(img, B, test_fill, &rng), DPX_OK);
    CHECK(memcmp(one, img, B) == 0);
    CHECK_STATUS(dpx_distance_finish(img, B, test_fill, &rng), DPX_ERR_BAD_MAGIC);
    CHECK_STATUS(dpx_distance_push(img, B, x, w, 1), DPX_ERR_BAD_MAGIC);

    /* Laplace. */
    p = dist_params(DPX_MECHANISM_LAPLACE);
    CHECK_STATUS(dpx_distance_plan_new(&p, &plan), DPX_OK);
    CHECK(plan.tree_epsilon > 0.0 && plan.tree_rho == 0.0);
    test_rng_seed(&rng, 22);
    CHECK_STATUS(dpx_distance_build(&p, img, B, x, w, 30, test_fill, &rng), DPX_OK);
    CHECK_STATUS(dpx_distance_open(img, B, &h), DPX_OK);
    CHECK_STATUS(dpx_distance_evaluate(h, 0.3, &e), DPX_OK);
    val("dist_l_03", e);
    CHECK_STATUS(dpx_distance_bound(h, 0.3, 0.05, &bd), DPX_OK);
    val("dist_l_bound_03", bd.total);

    /* Failures zeroise. */
    fill_bytes(img, B, 0xAB);
    CHECK_STATUS(dpx_distance_build(&p, img, B - 1, x, w, 30, test_fill, &rng),
                 DPX_ERR_BUFFER_TOO_SMALL);
    CHECK(all_zero(img, B - 1));
    fill_bytes(img, B + 16, 0xAB);
    CHECK_STATUS(dpx_distance_build(&p, img + 4, B, x, w, 30, test_fill, &rng),
                 DPX_ERR_MISALIGNED);
    CHECK(all_zero(img + 4, B));
    fill_bytes(img, B, 0xAB);
    w[3] = 2.5;
    CHECK_STATUS(dpx_distance_build(&p, img, B, x, w, 30, test_fill, &rng), DPX_ERR_OUT_OF_RANGE);
    CHECK(all_zero(img, B));
    w[3] = dist_weight(3);
    frng.ok_calls = 2;
    frng.calls = 0;
    frng.code = 3;
    test_rng_seed(&frng.inner, 2);
    fill_bytes(img, B, 0xAB);
    CHECK_STATUS(dpx_distance_build(&p, img, B, x, w, 30, failing_fill, &frng), DPX_ERR_RNG);
    CHECK(all_zero(img, B));
    frng.calls = 0;
    CHECK_STATUS(dpx_distance_begin(&p, img, B), DPX_OK);
    CHECK_STATUS(dpx_distance_push(img, B, x, w, 30), DPX_OK);
    CHECK_STATUS(dpx_distance_finish(img, B, failing_fill, &frng), DPX_ERR_RNG);
    CHECK(all_zero(img, B));
    fill_bytes(img, B, 0xAB);
    CHECK_STATUS(dpx_distance_begin(&p, img, B - 8), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK(all_zero(img, B - 8));
    p.cells = 0;
    CHECK_STATUS(dpx_distance_plan_new(&p, &plan), DPX_ERR_INVALID_DIMENSION);
    p = dist_params(DPX_MECHANISM_LAPLACE);
    p.radius = -1.0;
    CHECK_STATUS(dpx_distance_plan_new(&p, &plan), DPX_ERR_INVALID_RADIUS);
    CHECK_STATUS(dpx_distance_plan_new(NULL, &plan), DPX_ERR_NULL);

    /* Corruption. */
    p = dist_params(DPX_MECHANISM_GAUSSIAN);
    one[B - 1] ^= 0x01;
    CHECK_STATUS(dpx_distance_open(one, B, &h), DPX_ERR_CHECKSUM_MISMATCH);
    one[B - 1] ^= 0x01;
    one[50] ^= 0x01;
    CHECK_STATUS(dpx_distance_open(one, B, &h), DPX_ERR_CHECKSUM_MISMATCH);
    one[50] ^= 0x01;
    CHECK_STATUS(dpx_distance_open(one, B, &h), DPX_OK);
    free(one);
    free(img);
    free(copy);
}

/* ------------------------------------------------------------------------------------ */

static void test_highdim(void) {
    struct dpx_highdim_params p;
    struct dpx_highdim_plan plan;
    struct dpx_bound_parts bd;
    const struct dpx_highdim *h = NULL;
    double x[12 * 3], w[12], y[3] = {0.1, 0.5, 0.9}, e;
    uint8_t *one, *img;
    size_t i, k, B;
    test_rng rng;
    failing_rng frng;

    p.dims = 3;
    p.cells = 8;
    p.radius = 1.0;
    p.weight_bound = 2.0;
    p.n_max = 12;
    p.mechanism = DPX_MECHANISM_GAUSSIAN;
    p.epsilon = 2.0;
    p.delta = 1e-6;
    for (i = 0; i < 12; i++) {
        w[i] = dist_weight(i);
        for (k = 0; k < 3; k++) {
            x[i * 3 + k] = hd_coord(i, k);
        }
    }
    CHECK_STATUS(dpx_highdim_plan_new(&p, &plan), DPX_OK);
    B = plan.image_bytes;
    CHECK(B == 144 + 64 * 3 + 16 * 3 * 8 && plan.levels == 4 && plan.tree_rho > 0.0);
    CHECK(plan.cell_width == 0.125 && plan.tree_epsilon == 0.0);
    one = (uint8_t *)test_alloc(B);
    img = (uint8_t *)test_alloc(B);
    test_rng_seed(&rng, 31);
    CHECK_STATUS(dpx_highdim_build(&p, one, B, x, w, 12, test_fill, &rng), DPX_OK);
    CHECK_STATUS(dpx_highdim_open(one, B, &h), DPX_OK);
    CHECK_STATUS(dpx_highdim_evaluate(h, y, 3, &e), DPX_OK);
    val("hd_g_y", e);
    CHECK_STATUS(dpx_highdim_bound(h, y, 3, 0.05, &bd), DPX_OK);
    val("hd_g_bound_y", bd.total);
    e = 9.0;
    CHECK_STATUS(dpx_highdim_evaluate(h, y, 2, &e), DPX_ERR_WRONG_LENGTH);
    CHECK_STATUS(dpx_highdim_evaluate(h, NULL, 3, &e), DPX_ERR_NULL);
    CHECK_STATUS(dpx_highdim_evaluate(h, y, 3, (double *)(void *)(one + 160)), DPX_ERR_OVERLAP);
    CHECK_STATUS(dpx_highdim_bound(h, y, 3, 0.0, &bd), DPX_ERR_INVALID_PARAMETER);
    y[1] = NAN;
    CHECK_STATUS(dpx_highdim_evaluate(h, y, 3, &e), DPX_ERR_NON_FINITE_INPUT);
    CHECK_STATUS(dpx_highdim_bound(h, y, 3, 0.05, &bd), DPX_ERR_NON_FINITE_INPUT);
    y[1] = 0.5;
    CHECK(e == 9.0);

    /* Streaming = one-shot bytes. */
    test_rng_seed(&rng, 31);
    CHECK_STATUS(dpx_highdim_begin(&p, img, B), DPX_OK);
    CHECK_STATUS(dpx_highdim_push(img, B, x, w, 5), DPX_OK);
    x[3 * 6 + 2] = -0.01;
    CHECK_STATUS(dpx_highdim_push(img, B, x + 15, w + 5, 7), DPX_ERR_OUT_OF_RANGE);
    x[3 * 6 + 2] = hd_coord(6, 2);
    CHECK_STATUS(dpx_highdim_push(img, B, x + 15, w + 5, 7), DPX_OK);
    CHECK_STATUS(dpx_highdim_finish(img, B, test_fill, &rng), DPX_OK);
    CHECK(memcmp(one, img, B) == 0);

    /* Failures. */
    frng.ok_calls = 1;
    frng.calls = 0;
    frng.code = 4;
    test_rng_seed(&frng.inner, 2);
    CHECK_STATUS(dpx_highdim_build(&p, img, B, x, w, 12, failing_fill, &frng), DPX_ERR_RNG);
    CHECK(all_zero(img, B));
    fill_bytes(img, B, 0xAB);
    CHECK_STATUS(dpx_highdim_begin(&p, img, B - 1), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK(all_zero(img, B - 1));
    frng.calls = 0;
    CHECK_STATUS(dpx_highdim_begin(&p, img, B), DPX_OK);
    CHECK_STATUS(dpx_highdim_push(img, B, x, w, 12), DPX_OK);
    CHECK_STATUS(dpx_highdim_finish(img, B, failing_fill, &frng), DPX_ERR_RNG);
    CHECK(all_zero(img, B));
    CHECK_STATUS(dpx_highdim_open(img, B, &h), DPX_ERR_BAD_MAGIC);
    one[B - 9] ^= 0x40;
    CHECK_STATUS(dpx_highdim_open(one, B, &h), DPX_ERR_CHECKSUM_MISMATCH);
    p.dims = 0;
    CHECK_STATUS(dpx_highdim_plan_new(&p, &plan), DPX_ERR_INVALID_DIMENSION);
    free(one);
    free(img);
}

/* ------------------------------------------------------------------------------------ */

static void test_softmax(void) {
    struct dpx_softmax_params p;
    struct dpx_softmax_plan plan;
    struct dpx_bound_parts bd;
    const struct dpx_softmax *h = NULL;
    double x[16 * 3], w[16], y[3] = {0.25, -0.5, 0.125}, e;
    uint8_t *one, *img, *scr;
    size_t i, k, B, S;
    test_rng rng;
    failing_rng frng;

    p.dims = 3;
    p.degree = 2;
    p.kernel_rel_err = 0.0;
    p.score_scale = 0.5;
    p.radius_x = 1.0;
    p.radius_y = 1.0;
    p.weight_bound = 1.0;
    p.n_max = 16;
    p.block = 4;
    p.epsilon = 1.0;
    p.delta = 1e-5;
    for (i = 0; i < 16; i++) {
        w[i] = sm_weight(i);
        for (k = 0; k < 3; k++) {
            x[i * 3 + k] = sm_coord(i, k);
        }
    }
    CHECK_STATUS(dpx_softmax_plan_new(&p, &plan), DPX_OK);
    B = plan.image_bytes;
    S = plan.scratch_bytes;
    CHECK(plan.features == 10 && plan.blocks == 4 && plan.levels == 3 && plan.degree == 2);
    CHECK(B == 272 + 8 * 4 * 10 && S >= 4 * (10 + 3) && S % 8 == 0);
    CHECK(plan.score_bound == 0.5 && plan.sigma > 0.0 && plan.kernel_rel_err > 0.0);
    one = (uint8_t *)test_alloc(B);
    img = (uint8_t *)test_alloc(B);
    scr = (uint8_t *)test_alloc(S + 8);
    test_rng_seed(&rng, 41);
    CHECK_STATUS(dpx_softmax_build(&p, one, B, x, w, 16, test_fill, &rng, scr, S), DPX_OK);
    CHECK_STATUS(dpx_softmax_open(one, B, &h), DPX_OK);
    CHECK_STATUS(dpx_softmax_evaluate(h, 0, 4, y, 3, &e, scr, S), DPX_OK);
    val("sm_0_4", e);
    CHECK_STATUS(dpx_softmax_evaluate(h, 1, 3, y, 3, &e, scr, S), DPX_OK);
    val("sm_1_3", e);
    CHECK_STATUS(dpx_softmax_bound(h, 1, 3, 0.05, &bd), DPX_OK);
    CHECK(bd.approximation > 0.0 && bd.noise > 0.0);
    val("sm_bound_1_3", bd.total);
    e = 3.0;
    CHECK_STATUS(dpx_softmax_evaluate(h, 2, 2, y, 3, &e, scr, S), DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_softmax_evaluate(h, 0, 5, y, 3, &e, scr, S), DPX_ERR_INVALID_RANGE);
    CHECK_STATUS(dpx_softmax_evaluate(h, 0, 4, y, 2, &e, scr, S), DPX_ERR_WRONG_LENGTH);
    CHECK_STATUS(dpx_softmax_evaluate(h, 0, 4, y, 3, &e, scr, S - 8), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(dpx_softmax_evaluate(h, 0, 4, y, 3, &e, scr + 4, S), DPX_ERR_MISALIGNED);
    CHECK_STATUS(dpx_softmax_evaluate(h, 0, 4, y, 3, &e, one + 8, S), DPX_ERR_OVERLAP);
    y[0] = 2.0; /* outside R_y */
    CHECK_STATUS(dpx_softmax_evaluate(h, 0, 4, y, 3, &e, scr, S), DPX_ERR_OUT_OF_RANGE);
    y[0] = NAN;
    CHECK_STATUS(dpx_softmax_evaluate(h, 0, 4, y, 3, &e, scr, S), DPX_ERR_NON_FINITE_INPUT);
    y[0] = 0.25;
    CHECK_STATUS(dpx_softmax_bound(h, 0, 4, 1.0, &bd), DPX_ERR_INVALID_PARAMETER);
    CHECK_STATUS(dpx_softmax_bound(h, 3, 1, 0.1, &bd), DPX_ERR_INVALID_RANGE);
    CHECK(e == 3.0);

    /* Streaming = one-shot bytes. */
    test_rng_seed(&rng, 41);
    CHECK_STATUS(dpx_softmax_begin(&p, img, B), DPX_OK);
    CHECK_STATUS(dpx_softmax_push(img, B, x, w, 6, scr, S), DPX_OK);
    x[3 * 7] = 1.0; /* row 7: norm > R_x */
    CHECK_STATUS(dpx_softmax_push(img, B, x + 18, w + 6, 10, scr, S), DPX_ERR_OUT_OF_RANGE);
    x[3 * 7] = sm_coord(7, 0);
    CHECK_STATUS(dpx_softmax_push(img, B, x + 18, w + 6, 10, scr, S - 8),
                 DPX_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(dpx_softmax_push(img, B, x + 18, w + 6, 11, scr, S), DPX_ERR_TOO_MANY_ROWS);
    CHECK_STATUS(dpx_softmax_push(img, B, x + 18, w + 6, 10, scr, S), DPX_OK);
    CHECK_STATUS(dpx_softmax_finish(img, B, test_fill, &rng), DPX_OK);
    CHECK(memcmp(one, img, B) == 0);

    /* Failures. */
    frng.ok_calls = 4;
    frng.calls = 0;
    frng.code = 2;
    test_rng_seed(&frng.inner, 2);
    CHECK_STATUS(dpx_softmax_build(&p, img, B, x, w, 16, failing_fill, &frng, scr, S),
                 DPX_ERR_RNG);
    CHECK(all_zero(img, B) && all_zero(scr, S));
    frng.calls = 0;
    CHECK_STATUS(dpx_softmax_begin(&p, img, B), DPX_OK);
    CHECK_STATUS(dpx_softmax_push(img, B, x, w, 16, scr, S), DPX_OK);
    CHECK_STATUS(dpx_softmax_finish(img, B, failing_fill, &frng), DPX_ERR_RNG);
    CHECK(all_zero(img, B));
    fill_bytes(img, B, 0xAB);
    CHECK_STATUS(dpx_softmax_begin(&p, img, B - 1), DPX_ERR_BUFFER_TOO_SMALL);
    CHECK(all_zero(img, B - 1));
    fill_bytes(img, B, 0xAB);
    CHECK_STATUS(dpx_softmax_build(&p, img, B, x, w, 16, test_fill, &rng, scr, S - 8),
                 DPX_ERR_BUFFER_TOO_SMALL);
    CHECK(all_zero(img, B));
    one[B - 1] ^= 0x80;
    CHECK_STATUS(dpx_softmax_open(one, B, &h), DPX_ERR_CHECKSUM_MISMATCH);
    p.degree = 3;
    CHECK_STATUS(dpx_softmax_plan_new(&p, &plan), DPX_ERR_INVALID_DEGREE);
    p.degree = 2;
    p.score_scale = 100.0; /* B = 100 > 64 */
    CHECK_STATUS(dpx_softmax_plan_new(&p, &plan), DPX_ERR_INVALID_RADIUS);
    free(one);
    free(img);
    free(scr);
}

int main(void) {
    test_tree_plan();
    test_tree_answers();
    test_tree_streaming();
    test_tree_bad();
    test_distance();
    test_highdim();
    test_softmax();
    return harness_finish("test_tree");
}
