/* Minimal Cortex-M startup for newlib + rdimon semihosting: vector table, Reset_Handler
 * that enables the FPU (hard-float builds) and copies .data from flash, then newlib's
 * rdimon crt0 (_start: zeroes .bss, opens semihosting stdio, calls main() and exit()). */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __stack;
extern void _start(void);
void SysTick_Handler(void); /* measure.c */

void Reset_Handler(void) {
#if defined(__ARM_FP)
    /* CP10/CP11 full access before any FP instruction; newlib's crt0 does not do it. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* SCB->CPACR */
    __asm volatile("dsb\n isb");
#endif
    uint32_t *src = &__data_load__, *dst = &__data_start__;
    while (dst < &__data_end__) *dst++ = *src++;
    _start();
    for (;;) {
    }
}

/* Any fault: exit 3 through semihosting (which still works in a handler under QEMU). */
static void Fault_Handler(void) { exit(3); }

__attribute__((section(".vectors"), used)) void (*const vector_table[16])(void) = {
    (void (*)(void))&__stack, /* initial SP */
    Reset_Handler,            /* Reset */
    Fault_Handler,            /* NMI */
    Fault_Handler,            /* HardFault */
    Fault_Handler,            /* MemManage */
    Fault_Handler,            /* BusFault */
    Fault_Handler,            /* UsageFault */
    0, 0, 0, 0,               /* reserved */
    Fault_Handler,            /* SVCall */
    Fault_Handler,            /* DebugMonitor */
    0,                        /* reserved */
    Fault_Handler,            /* PendSV */
    SysTick_Handler,          /* SysTick */
};
