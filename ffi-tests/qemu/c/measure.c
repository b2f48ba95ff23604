/* See measure.h. */
#include "measure.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define RELOAD 0x00FFFFFFu

#define CAL_LO 1000u
#define CAL_HI 101000u
#define CAL_INSNS (2ull * (CAL_HI - CAL_LO))
/* ~1.47 M instructions: wraps SysTick at least once at shift=10 on every machine. */
#define CHECK_N 737337u
/* Upper bound of the SysTick handler's instructions, allowed per wrap in the self-check. */
#define HANDLER_MAX 16u

#define PAINT 0xC5ACCE55u

/* GCC emits Armv6-M (Cortex-M0) code in the divided assembler syntax, where the flag-setting
 * 16-bit forms are spelled without the `s`; Thumb-2 targets use the unified syntax. */
#if defined(__ARM_ARCH_6M__)
#define SUBS "sub"
#define ADDS "add"
#else
#define SUBS "subs"
#define ADDS "adds"
#endif

static volatile uint32_t wraps;

/* Single writer, so a plain increment is race-free. */
void SysTick_Handler(void) { wraps = wraps + 1; }

void measure_start(void) {
    SYST_RVR = RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* ENABLE | TICKINT | CLKSOURCE=core */
}

static inline uint64_t now(void) {
    for (;;) {
        uint32_t w0 = wraps;
        __asm volatile("" ::: "memory");
        uint32_t cvr = SYST_CVR;
        __asm volatile("" ::: "memory");
        uint32_t w1 = wraps;
        if (w0 == w1) return ((uint64_t)w0 << 24) + (RELOAD - (cvr & RELOAD));
    }
}

__attribute__((noinline)) uint64_t measure_ticks(region_fn fn, void *ctx) {
    __asm volatile("" ::: "memory");
    uint64_t t0 = now();
    __asm volatile("" ::: "memory");
    fn(ctx);
    __asm volatile("" ::: "memory");
    uint64_t t1 = now();
    __asm volatile("" ::: "memory");
    return t1 - t0;
}

/* Exactly 2 instructions per iteration (subs + bne). */
__attribute__((noinline)) static void spin(uint32_t n) {
    __asm volatile("1: " SUBS " %0, #1\n bne 1b" : "+l"(n) : : "cc");
}

static void spin_lo(void *ctx) { (void)ctx; spin(CAL_LO); }
static void spin_hi(void *ctx) { (void)ctx; spin(CAL_HI); }
static void spin_check(void *ctx) { (void)ctx; spin(CHECK_N); }
static void empty(void *ctx) { (void)ctx; }

uint64_t cal_instructions(const calibration *c, uint64_t ticks) {
    uint64_t net = ticks > c->empty ? ticks - c->empty : 0;
    uint64_t span = c->span_ticks ? c->span_ticks : 1;
    return (net * CAL_INSNS + span / 2) / span;
}

uint64_t cal_ticks_per_1000(const calibration *c) {
    return (c->span_ticks * 1000 + CAL_INSNS / 2) / CAL_INSNS;
}

int cal_ok(const calibration *c) {
    uint64_t w = (c->check_ticks >> 24) + 1;
    uint64_t d = c->check_measured > c->check_expected ? c->check_measured - c->check_expected
                                                       : c->check_expected - c->check_measured;
    return c->span_ticks > 0 && d <= 1 + HANDLER_MAX * w;
}

calibration measure_calibrate(void) {
    calibration c = {0};
    c.empty = measure_ticks(empty, 0);
    uint64_t lo = measure_ticks(spin_lo, 0);
    uint64_t hi = measure_ticks(spin_hi, 0);
    c.span_ticks = hi > lo ? hi - lo : 0;
    uint64_t lo_i = cal_instructions(&c, lo);
    c.spin_overhead = lo_i > 2ull * CAL_LO ? lo_i - 2ull * CAL_LO : 0;
    c.check_ticks = measure_ticks(spin_check, 0);
    c.check_measured = cal_instructions(&c, c.check_ticks);
    c.check_expected = 2ull * CHECK_N + c.spin_overhead;
    return c;
}

/* Lowest address of the stack region (the linker script keeps the heap below it). */
extern uint32_t __heap_limit;

__attribute__((noinline)) size_t measure_stack(region_fn fn, void *ctx) {
    uint32_t primask;
    __asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask) : : "memory");
    uintptr_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    uintptr_t limit = (uintptr_t)&__heap_limit;
    uintptr_t bottom = (sp - limit > STACK_WINDOW ? sp - STACK_WINDOW : limit) & ~(uintptr_t)3;
    /* Register-only paint loop from bottom up to (not including) sp. */
    uintptr_t p = bottom;
    __asm volatile("2: cmp %0, %1\n bhs 3f\n str %2, [%0]\n " ADDS " %0, #4\n b 2b\n 3:"
                   : "+l"(p)
                   : "l"(sp), "l"(PAINT)
                   : "cc", "memory");
    fn(ctx);
    __asm volatile("" ::: "memory");
    uintptr_t lowest = sp;
    for (uintptr_t a = bottom; a < sp; a += 4) {
        if (*(volatile uint32_t *)a != PAINT) {
            lowest = a;
            break;
        }
    }
    if (!(primask & 1)) __asm volatile("cpsie i" ::: "memory");
    if (lowest == bottom && bottom < sp) return STACK_OVERFLOWED;
    return sp - lowest;
}
