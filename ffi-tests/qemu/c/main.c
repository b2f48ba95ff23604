/* QEMU test firmware in C: the same flow as rust-fw/src/main.rs, through dpxattn's C ABI
 * (include/dpxattn.h, linked from the libdpxattn.a that ffi-tests/build-lib.sh builds).
 *
 * 1. project golden vectors (ffi-tests/golden/vectors.txt): build the flat, tree and
 *    laplace images on the device from the formula inputs, with the SplitMix64 byte-stream
 *    RNG implemented here as the fill callback (seed 42); the image SHA-256 (computed here)
 *    and every query's output bits and floor flag must equal the file's;
 * 2. device case: build a larger image from bundled inputs; it must equal the host-built
 *    image byte for byte; answer the golden queries;
 * 3. flash cases: answer the golden queries from host-built images in place in flash (the
 *    real MiniLM head, d = dv = 32; on the micro:bit also the d = 16 image).
 *
 * Prints "ok - ..." / "FAIL - ..." per check and one "qemu-fw: RESULT key=value..." line
 * (parsed by run.sh); exits 0 only if every check passed (1 otherwise, 3 on a fault).
 * -DINJECT_FAIL flips one expected value (negative control: must exit 1). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpxattn.h"
#include "golden.h"
#include "measure.h"
#include "sha256.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))

#ifndef MACHINE
#define MACHINE "unknown"
#endif
#ifdef INJECT_FAIL
#define FLIP 1u
#else
#define FLIP 0u
#endif


/* Caller buffers in static RAM, as in an application: only what the library pushes shows
 * up in the stack measurement. Sizes come from the plan at run time; the capacities are
 * checked against them. */
static uint8_t image_buf[IMAGE_CAP] __attribute__((aligned(8)));
static uint8_t scratch_buf[MAX(SCRATCH_CAP, QSCRATCH_CAP)] __attribute__((aligned(8)));
/* Queries never overlap a build, so they use the build scratch (newlib's own statics leave
 * the 16 KB micro:bit no room for a third buffer). */
#define qscratch_buf scratch_buf

static int passed, failed;
static void check(const char *name, int ok) {
    if (ok) {
        passed++;
        printf("ok - %s\n", name);
    } else {
        failed++;
        printf("FAIL - %s\n", name);
    }
}

static size_t stack_or_fail(const char *what, size_t s) {
    if (s == STACK_OVERFLOWED) {
        check(what, 0);
        printf("  stack use exceeds the %u byte paint window\n", STACK_WINDOW);
        return STACK_WINDOW;
    }
    return s;
}

/* Bit-for-bit equality of floats (not approximate). */
static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* ---- the test RNG: SplitMix64 as a byte stream (ffi-tests/golden/README.md) ------------ */
typedef struct {
    uint64_t state;
    uint8_t buf[8];
    unsigned pos;
} splitmix;

static splitmix splitmix_new(uint64_t seed) {
    splitmix s = {seed, {0}, 8};
    return s;
}

/* The build's fill callback (dpx_fill_fn contract: 0 = success). NOT a secure RNG: it exists
 * so that the device draws the same bytes as the host's golden builds. */
static int splitmix_fill(void *ctx, uint8_t *buf, size_t len) {
    splitmix *s = ctx;
    for (size_t i = 0; i < len; i++) {
        if (s->pos == 8) {
            s->state += 0x9E3779B97F4A7C15ull;
            uint64_t z = s->state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            for (int j = 0; j < 8; j++) s->buf[j] = (uint8_t)(z >> (8 * j));
            s->pos = 0;
        }
        buf[i] = s->buf[s->pos++];
    }
    return 0;
}

/* Self-check of the stack measurement: touches KNOWN bytes of stack for real. */
#define KNOWN 1024u
#define KNOWN_SLACK 64u
static volatile uint8_t sink;
__attribute__((noinline)) static void known_usage(void *ctx) {
    (void)ctx;
    volatile uint8_t buf[KNOWN];
    for (unsigned i = 0; i < KNOWN; i++) buf[i] = (uint8_t)i;
    sink = buf[KNOWN - 1];
}

/* ---- regions (function + context, so measure.c can call them) ------------------------ */
struct plan_ctx {
    const struct dpx_params *p;
    size_t image, scratch, qscratch;
    dpx_status rc;
};
static void do_plan(void *v) {
    struct plan_ctx *c = v;
    struct dpx_plan plan;
    c->rc = dpx_plan_new(c->p, &plan);
    if (c->rc == DPX_OK) {
        c->image = plan.image_bytes;
        c->scratch = plan.scratch_bytes;
        c->qscratch = plan.query_scratch_bytes;
    }
}

struct build_ctx {
    const struct dpx_params *p;
    const float *keys, *values;
    size_t n;
    uint64_t seed;
    size_t image_len, scratch_len;
    dpx_status rc;
};
static void do_build(void *v) {
    struct build_ctx *c = v;
    splitmix rng = splitmix_new(c->seed);
    c->rc = dpx_build(c->p, image_buf, c->image_len, c->keys, c->values, c->n, splitmix_fill, &rng,
                      scratch_buf, c->scratch_len);
}

struct open_ctx {
    const uint8_t *image;
    size_t image_len;
    const struct dpx_attn *attn;
    dpx_status rc;
};
static void do_open(void *v) {
    struct open_ctx *c = v;
    c->rc = dpx_open(c->image, c->image_len, &c->attn);
}

struct query_ctx {
    const struct dpx_attn *attn;
    size_t begin, end;
    const float *q;
    size_t d, dv;
    float *out;
    struct dpx_query_info info;
    dpx_status rc;
};
static void do_query(void *v) {
    struct query_ctx *c = v;
    c->rc = dpx_query_ex(c->attn, c->begin, c->end, c->q, c->d, c->out, c->dv, &c->info,
                         qscratch_buf, QSCRATCH_CAP);
}

static calibration cal;

/* ---- project golden vectors ------------------------------------------------------------ */
struct vectors {
    uint64_t build_instr, query_instr;
    size_t build_stack, query_stack;
};

static struct vectors run_vectors(void) {
    struct vectors r = {0, 0, 0, 0};
    static float keys[VEC_N * VEC_D], values[VEC_N * VEC_DV];
    for (unsigned x = 0; x < VEC_N * VEC_D; x++)
        keys[x] = (float)((7 * (x / VEC_D) + 3 * (x % VEC_D) + 1) % 13) / 4.0f - 1.5f;
    for (unsigned x = 0; x < VEC_N * VEC_DV; x++)
        values[x] = (float)((5 * (x / VEC_DV) + 11 * (x % VEC_DV) + 2) % 9) / 4.0f - 1.0f;
    for (unsigned ci = 0; ci < VEC_CONFIGS; ci++) {
        struct plan_ctx pc = {vec_params[ci], 0, 0, 0, -99};
        do_plan(&pc);
        if (pc.rc != 0 || pc.image > IMAGE_CAP || pc.scratch > SCRATCH_CAP ||
            pc.qscratch > QSCRATCH_CAP) {
            check("vectors: plan sizes fit the static buffers", 0);
            continue;
        }
        struct build_ctx b = {vec_params[ci], keys, values, VEC_N, VEC_SEED, pc.image, pc.scratch,
                              -99};
        uint64_t n = cal_instructions(&cal, measure_ticks(do_build, &b));
        if (n > r.build_instr) r.build_instr = n;
        uint8_t sha[32];
        sha256(image_buf, pc.image, sha);
        int ok = b.rc == DPX_OK && pc.image == vec_images[ci].image_bytes &&
                 memcmp(sha, vec_images[ci].sha256, 32) == 0;
        memset(image_buf, 0, pc.image);
        b.rc = -99;
        size_t s = stack_or_fail("vectors: build stack", measure_stack(do_build, &b));
        if (s > r.build_stack) r.build_stack = s;
        sha256(image_buf, pc.image, sha);
        ok &= b.rc == DPX_OK && memcmp(sha, vec_images[ci].sha256, 32) == 0;
        printf("vectors %s: build %llu instructions, stack %u bytes, sha256 %02x%02x%02x%02x... "
               "match=%d\n",
               vec_names[ci], (unsigned long long)n, (unsigned)s, sha[0], sha[1], sha[2], sha[3],
               ok);
        const struct dpx_attn *attn;
        if (dpx_open(image_buf, pc.image, &attn) != DPX_OK) {
            check("vectors: open", 0);
            continue;
        }
        unsigned lines = 0;
        for (unsigned k = 0; k < VEC_QUERIES; k++) {
            if (vec_queries[k].config != ci) continue;
            float q[VEC_D], out[VEC_DV];
            for (unsigned j = 0; j < VEC_D; j++)
                q[j] = (float)((3 * vec_queries[k].m + 5 * j) % 7) / 2.0f - 1.5f;
            struct query_ctx c = {attn, vec_queries[k].begin, vec_queries[k].end, q, VEC_D, VEC_DV,
                                  out, {0}, -99};
            uint64_t qn = cal_instructions(&cal, measure_ticks(do_query, &c));
            if (qn > r.query_instr) r.query_instr = qn;
            int same = c.rc == DPX_OK && c.info.floor_used == vec_queries[k].floor_used;
            for (unsigned j = 0; j < VEC_DV; j++) {
                uint32_t got;
                memcpy(&got, &out[j], 4);
                same &= got == vec_queries[k].bits[j];
            }
            c.rc = -99;
            size_t qs = stack_or_fail("vectors: query stack", measure_stack(do_query, &c));
            if (qs > r.query_stack) r.query_stack = qs;
            same &= c.rc == DPX_OK;
            ok &= same;
            lines++;
        }
        printf("vectors %s: %u query lines checked\n", vec_names[ci], lines);
        char label[96];
        snprintf(label, sizeof label,
                 "vectors %s: image SHA-256 and query bits match vectors.txt", vec_names[ci]);
        check(label, ok && lines > 0);
    }
    return r;
}

/* ---- harness cases: answer golden queries from an image -------------------------------- */
struct queries {
    uint64_t open_instr;
    uint64_t max_instr;
    size_t stack;
};

static struct queries run_queries(const char *name, const uint8_t *img, size_t img_len, size_t d,
                                  size_t dv, size_t nq, const float *queries,
                                  const float *expected) {
    struct queries r = {0, 0, 0};
    struct open_ctx o = {img, img_len, NULL, -99};
    r.open_instr = cal_instructions(&cal, measure_ticks(do_open, &o));
    printf("%s: open %llu instructions\n", name, (unsigned long long)r.open_instr);
    struct dpx_attn_info info;
    if (o.rc != DPX_OK || dpx_attn_info(o.attn, &info) != DPX_OK) {
        check("open", 0);
        return r;
    }
    size_t blocks = info.blocks;
    float out[DV_MAX];
    int all_ok = 1;
    for (size_t i = 0; i < nq; i++) {
        struct query_ctx c = {o.attn, 0, blocks, queries + i * d, d, dv, out, {0}, -99};
        memset(out, 0, sizeof out);
        uint64_t n = cal_instructions(&cal, measure_ticks(do_query, &c));
        if (n > r.max_instr) r.max_instr = n;
        int same = c.rc == DPX_OK;
        for (size_t j = 0; j < dv; j++) {
            uint32_t got, want;
            memcpy(&got, &out[j], 4);
            memcpy(&want, &expected[i * dv + j], 4);
            same &= got == (want ^ ((i == 0 && j == 0) ? FLIP : 0u));
        }
        printf("%s: query %u %llu instructions, match=%d\n", name, (unsigned)i,
               (unsigned long long)n, same);
        all_ok &= same;
    }
    char label[80];
    snprintf(label, sizeof label, "%s: queries match host outputs bit for bit", name);
    check(label, all_ok);
    /* Stack of one query, checked again so the measured run is a real one. */
    struct query_ctx c = {o.attn, 0, blocks, queries, d, dv, out, {0}, -99};
    memset(out, 0, sizeof out);
    size_t s = measure_stack(do_query, &c);
    check("query under stack measurement", c.rc == DPX_OK && same_bits(out, expected, dv));
    r.stack = stack_or_fail("query stack within window", s);
    return r;
}

int main(void) {
    printf("qemu-fw: machine %s workload %s (device d=%d dv=%d n=%d; flash d=%d dv=%d n=%d)\n",
           MACHINE, WORKLOAD_NAME, DEVICE_D, DEVICE_DV, DEVICE_N, FLASH_D, FLASH_DV, FLASH_N);

    measure_start();
    cal = measure_calibrate();
    printf("calibration: empty=%llu ticks, %llu ticks per 1000 instructions, spin overhead %llu, "
           "check %llu vs %llu (%llu SysTick wraps)\n",
           (unsigned long long)cal.empty, (unsigned long long)cal_ticks_per_1000(&cal),
           (unsigned long long)cal.spin_overhead, (unsigned long long)cal.check_measured,
           (unsigned long long)cal.check_expected, (unsigned long long)(cal.check_ticks >> 24));
    check("calibration self-check on a known loop", cal_ok(&cal));
    size_t known = measure_stack(known_usage, 0);
    printf("stack self-check: %u bytes for a %u-byte stack array\n", (unsigned)known, KNOWN);
    check("stack painting measures a known stack array",
          known != STACK_OVERFLOWED && known >= KNOWN && known <= KNOWN + KNOWN_SLACK);

    /* ---- project golden vectors ------------------------------------------------------- */
    struct vectors vec = run_vectors();

    /* ---- device case: plan and build ------------------------------------------------- */
    struct plan_ctx pc = {&device_params, 0, 0, 0, -99};
    uint64_t plan_instr = cal_instructions(&cal, measure_ticks(do_plan, &pc));
    size_t plan_stack = stack_or_fail("plan stack", measure_stack(do_plan, &pc));
    int plan_ok = pc.rc == DPX_OK && pc.image <= IMAGE_CAP && pc.scratch <= SCRATCH_CAP &&
                  pc.qscratch <= QSCRATCH_CAP && DEVICE_DV <= DV_MAX && FLASH_DV <= DV_MAX;
    check("plan sizes fit the static buffers", plan_ok);
    if (!plan_ok) return 1;
    struct build_ctx b = {&device_params, device_keys, device_values, DEVICE_N, DEVICE_SEED,
                          pc.image, pc.scratch, -99};
    /* dpx_build plans from the parameters itself: its count includes the planning, which
     * plan_instr reports on its own. */
    uint64_t build_instr = cal_instructions(&cal, measure_ticks(do_build, &b));
    printf("device: plan %llu, build (with plan) %llu instructions, image %u bytes\n",
           (unsigned long long)plan_instr, (unsigned long long)build_instr, (unsigned)pc.image);
    check("device: build ok", b.rc == DPX_OK && pc.image == sizeof device_image);
    check("device: image equals the host-built image byte for byte",
          memcmp(image_buf, device_image, sizeof device_image) == 0);
    memset(image_buf, 0, sizeof image_buf);
    b.rc = -99;
    size_t build_stack = measure_stack(do_build, &b);
    check("device: build under stack measurement reproduces the image",
          b.rc == DPX_OK && memcmp(image_buf, device_image, sizeof device_image) == 0);
    build_stack = stack_or_fail("build stack within window", build_stack);
    printf("device: build stack %u bytes\n", (unsigned)build_stack);

    /* ---- device case: queries on the RAM image ---------------------------------------- */
    struct queries dev = run_queries("device", image_buf, sizeof device_image, DEVICE_D,
                                     DEVICE_DV, DEVICE_NQ, device_queries, device_expected);

    /* ---- flash cases: host-built images opened in place ------------------------------- */
    check("flash: image is in flash (opened in place, not copied)",
          (uintptr_t)flash_image < 0x20000000u);
    struct queries fl = run_queries("flash", flash_image, sizeof flash_image, FLASH_D, FLASH_DV,
                                    FLASH_NQ, flash_queries, flash_expected);
#if HAVE_FLASH16
    struct queries f16 = run_queries("flash16", flash16_image, sizeof flash16_image, FLASH16_D,
                                     FLASH16_DV, FLASH16_NQ, flash16_queries, flash16_expected);
#else
    struct queries f16 = dev;
#endif

    size_t query_stack = MAX(MAX(dev.stack, fl.stack), MAX(f16.stack, vec.query_stack));
    build_stack = MAX(build_stack, vec.build_stack);
    size_t stack_max = MAX(MAX(build_stack, plan_stack), query_stack);
    printf("qemu-fw: RESULT machine=%s workload=%s query_instr=%llu build_instr=%llu "
           "stack_bytes=%u d16_query_instr=%llu device=%dx%dx%d device_query_instr=%llu "
           "plan_instr=%llu build_includes_plan=1 build_stack=%u plan_stack=%u query_stack=%u "
           "vectors_build_instr=%llu vectors_query_instr=%llu image_bytes=%u "
           "flash_image_bytes=%u open_instr=%llu flash_open_instr=%llu\n",
           MACHINE, WORKLOAD_NAME, (unsigned long long)fl.max_instr,
           (unsigned long long)build_instr, (unsigned)stack_max, (unsigned long long)f16.max_instr,
           DEVICE_D, DEVICE_DV, DEVICE_N, (unsigned long long)dev.max_instr,
           (unsigned long long)plan_instr, (unsigned)build_stack, (unsigned)plan_stack,
           (unsigned)query_stack, (unsigned long long)vec.build_instr,
           (unsigned long long)vec.query_instr, (unsigned)DEVICE_IMAGE_LEN,
           (unsigned)FLASH_IMAGE_LEN, (unsigned long long)dev.open_instr,
           (unsigned long long)fl.open_instr);
    printf("qemu-fw: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
