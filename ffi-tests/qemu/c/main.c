/* QEMU test firmware in C: the same flow as rust-fw/src/main.rs through the C ABI.
 *
 * 1. device case: build an image on the device from bundled inputs with the deterministic
 *    test RNG; it must equal the host-built image byte for byte; answer the golden queries.
 * 2. flash case: answer the golden queries from the host-built image, in place in flash.
 *
 * Prints "ok - ..." / "FAIL - ..." per check and one "qemu-fw: RESULT key=value..." line
 * (parsed by run.sh); exits 0 only if every check passed (1 otherwise, 3 on a fault).
 * -DINJECT_FAIL flips one expected value (negative control: must exit 1). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "measure.h"
#include "workload.h"

#ifndef MACHINE
#define MACHINE "unknown"
#endif
#ifdef INJECT_FAIL
#define FLIP 1u
#else
#define FLIP 0u
#endif

#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Caller buffers in static RAM, as in an application: only what the library pushes shows
 * up in the stack measurement. Sizes come from the plan at run time; the capacities are
 * checked against them. */
static uint8_t image_buf[IMAGE_CAP] __attribute__((aligned(8)));
static uint8_t scratch_buf[SCRATCH_CAP] __attribute__((aligned(8)));
static uint8_t qscratch_buf[QSCRATCH_CAP] __attribute__((aligned(8)));
static size_t image_len, scratch_len, qscratch_len;

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

/* ---- regions (function + context, so measure.c can call them) ---------------------- */
struct build_ctx {
    size_t written;
    int32_t rc;
};
static void do_build(void *p) {
    struct build_ctx *c = p;
    c->rc = qw_build(DEVICE_D, DEVICE_DV, DEVICE_N, device_keys, device_values, DEVICE_N,
                     DEVICE_SEED, image_buf, image_len, scratch_buf, scratch_len, &c->written);
}

struct open_ctx {
    const uint8_t *image;
    size_t image_len;
    qw_attn *attn;
    int32_t rc;
};
static void do_open(void *p) {
    struct open_ctx *c = p;
    c->rc = qw_open(c->image, c->image_len, c->attn);
}

struct query_ctx {
    const qw_attn *attn;
    const float *q;
    size_t d, dv;
    float *out;
    int32_t rc;
};
static void do_query(void *p) {
    struct query_ctx *c = p;
    c->rc = qw_query(c->attn, c->q, c->d, c->out, c->dv, qscratch_buf, qscratch_len);
}

struct queries {
    uint64_t open_instr;
    uint64_t max_instr;
    size_t stack;
};

static struct queries run_queries(const calibration *cal, const char *name, const uint8_t *img,
                                  size_t img_len, size_t d, size_t dv, size_t nq,
                                  const float *queries, const float *expected) {
    struct queries r = {0, 0, 0};
    static qw_attn attn;
    struct open_ctx o = {img, img_len, &attn, -99};
    r.open_instr = cal_instructions(cal, measure_ticks(do_open, &o));
    printf("%s: open %llu instructions\n", name, (unsigned long long)r.open_instr);
    if (o.rc != 0) {
        check("open", 0);
        return r;
    }
    float out[DV_MAX];
    int all_ok = 1;
    for (size_t i = 0; i < nq; i++) {
        struct query_ctx c = {&attn, queries + i * d, d, dv, out, -99};
        memset(out, 0, sizeof out);
        uint64_t n = cal_instructions(cal, measure_ticks(do_query, &c));
        if (n > r.max_instr) r.max_instr = n;
        int same = c.rc == 0;
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
    struct query_ctx c = {&attn, queries, d, dv, out, -99};
    memset(out, 0, sizeof out);
    size_t s = measure_stack(do_query, &c);
    check("query under stack measurement", c.rc == 0 && same_bits(out, expected, dv));
    r.stack = stack_or_fail("query stack within window", s);
    return r;
}

int main(void) {
    printf("qemu-fw: machine %s workload %s (device d=%d dv=%d n=%d; flash d=%d dv=%d)\n",
           MACHINE, WORKLOAD_NAME, DEVICE_D, DEVICE_DV, DEVICE_N, FLASH_D, FLASH_DV);

    measure_start();
    calibration cal = measure_calibrate();
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

    /* ---- device case: build ---------------------------------------------------------- */
    size_t flash_q_len, flash_sc, flash_qsc;
    int plan_ok =
          qw_plan(DEVICE_D, DEVICE_DV, DEVICE_N, &image_len, &scratch_len, &qscratch_len) == 0 &&
              qw_plan(FLASH_D, FLASH_DV, FLASH_N, &flash_q_len, &flash_sc, &flash_qsc) == 0 &&
              image_len <= IMAGE_CAP && scratch_len <= SCRATCH_CAP &&
              MAX(qscratch_len, flash_qsc) <= QSCRATCH_CAP && DEVICE_DV <= DV_MAX &&
              FLASH_DV <= DV_MAX;
    check("plan sizes fit the static buffers", plan_ok);
    if (!plan_ok) return 1;
    qscratch_len = MAX(qscratch_len, flash_qsc);
    struct build_ctx b = {0, -99};
    uint64_t build_instr = cal_instructions(&cal, measure_ticks(do_build, &b));
    printf("device: build %llu instructions, image %u bytes\n", (unsigned long long)build_instr,
           (unsigned)b.written);
    check("device: build ok", b.rc == 0 && b.written == sizeof device_image);
    check("device: image equals the host-built image byte for byte",
          memcmp(image_buf, device_image, sizeof device_image) == 0);
    memset(image_buf, 0, sizeof image_buf);
    b.rc = -99;
    size_t build_stack = measure_stack(do_build, &b);
    check("device: build under stack measurement reproduces the image",
          b.rc == 0 && memcmp(image_buf, device_image, sizeof device_image) == 0);
    build_stack = stack_or_fail("build stack within window", build_stack);

    /* ---- device case: queries on the RAM image -------------------------------------- */
    struct queries dev = run_queries(&cal, "device", image_buf, sizeof device_image, DEVICE_D, DEVICE_DV,
                                     DEVICE_NQ, device_queries, device_expected);

    /* ---- flash case: host-built image opened in place -------------------------------- */
    check("flash: image is in flash (opened in place, not copied)",
          (uintptr_t)flash_image < 0x20000000u);
    struct queries fl = run_queries(&cal, "flash", flash_image, sizeof flash_image, FLASH_D,
                                    FLASH_DV, FLASH_NQ, flash_queries, flash_expected);

    size_t stack_max = MAX(build_stack, MAX(dev.stack, fl.stack));
    printf("qemu-fw: RESULT machine=%s workload=%s device=%dx%dx%d query_instr=%llu build_instr=%llu "
           "stack_bytes=%u build_stack=%u query_stack=%u flash_query_instr=%llu "
           "flash_query_stack=%u image_bytes=%u flash_image_bytes=%u open_instr=%llu "
           "flash_open_instr=%llu\n",
           MACHINE, WORKLOAD_NAME, DEVICE_D, DEVICE_DV, DEVICE_N, (unsigned long long)dev.max_instr,
           (unsigned long long)build_instr, (unsigned)stack_max, (unsigned)build_stack,
           (unsigned)dev.stack, (unsigned long long)fl.max_instr, (unsigned)fl.stack,
           (unsigned)DEVICE_IMAGE_LEN, (unsigned)FLASH_IMAGE_LEN,
           (unsigned long long)dev.open_instr, (unsigned long long)fl.open_instr);
    printf("qemu-fw: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
