/* Instruction counts (SysTick under QEMU -icount, calibrated on known loops) and stack
 * high-water marks (paint and scan), for C firmware. Same method as rust-fw/src/measure.rs
 * and rust-fw/src/stack.rs. */
#ifndef QEMU_MEASURE_H
#define QEMU_MEASURE_H
#include <stddef.h>
#include <stdint.h>

typedef void (*region_fn)(void *ctx);

typedef struct {
    uint64_t empty;          /* ticks of an empty region */
    uint64_t span_ticks;     /* ticks of CAL_INSNS instructions */
    uint64_t spin_overhead;  /* instructions of spin(n) beyond its 2n loop instructions */
    uint64_t check_measured; /* self-check: measured instructions of spin(CHECK_N) */
    uint64_t check_expected; /* ... and the exact value */
    uint64_t check_ticks;
} calibration;

/* Start SysTick on the core clock, full 24-bit range, wrap interrupt on. */
void measure_start(void);
/* Ticks spent in fn(ctx) (plus the constant overhead in calibration.empty). */
uint64_t measure_ticks(region_fn fn, void *ctx);
calibration measure_calibrate(void);
uint64_t cal_instructions(const calibration *c, uint64_t ticks);
uint64_t cal_ticks_per_1000(const calibration *c);
int cal_ok(const calibration *c);

#define STACK_WINDOW 8192u
/* Stack bytes used by fn(ctx) below the caller's stack pointer; STACK_OVERFLOWED if the
 * whole paint window was used. Interrupts are masked during the region. */
#define STACK_OVERFLOWED ((size_t)-1)
size_t measure_stack(region_fn fn, void *ctx);
#endif
