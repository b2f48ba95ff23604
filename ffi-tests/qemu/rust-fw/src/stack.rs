//! Stack high-water mark of a region: paint the free stack below the current stack pointer
//! with a pattern, run the region, and find the lowest word that is no longer the pattern.
//!
//! The paint loop is inline assembly that uses only registers, so it paints right up to
//! the stack pointer of the measuring function without disturbing its own frame. The
//! count therefore includes everything the region pushes: its frames, the closure call
//! and any exception frame — so interrupts are masked during the region, to measure the
//! library and not a SysTick wrap that happens to land inside it.

use core::sync::atomic::{Ordering, compiler_fence};

/// Paint pattern (an odd value unlikely to be written by accident).
pub const PAINT: u32 = 0xC5AC_CE55;

/// At most this many bytes below the stack pointer are painted and scanned; a region that
/// uses all of them is reported as [`Usage::Overflowed`].
pub const WINDOW: usize = 8 * 1024;

unsafe extern "C" {
    /// Lowest address of the stack region (cortex-m-rt's `link.x`).
    static _stack_end: u32;
}

/// Outcome of [`measure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Bytes used below the stack pointer of the measuring function.
    Bytes(usize),
    /// The whole painted window was used: the real usage is at least `WINDOW` bytes.
    Overflowed,
}

/// Run `f` and return its stack high-water mark in bytes.
#[inline(never)]
pub fn measure<R>(f: impl FnOnce() -> R) -> (Usage, R) {
    let primask = cortex_m::register::primask::read();
    cortex_m::interrupt::disable();
    let sp: usize;
    // SAFETY: reads SP into a register.
    unsafe { core::arch::asm!("mov {0}, sp", out(reg) sp, options(nomem, nostack)) };
    // Only the address of the linker symbol is taken (safe); it is never read.
    let stack_end = core::ptr::addr_of!(_stack_end) as usize;
    let bottom = stack_end.max(sp.saturating_sub(WINDOW)) & !3;
    // SAFETY: writes the words in [bottom, sp): free stack below this function's frame
    // (interrupts are masked, so nothing else uses it); the loop uses only registers.
    unsafe {
        core::arch::asm!(
            "2:",
            "cmp {p}, {top}",
            "bhs 3f",
            "str {pat}, [{p}]",
            "adds {p}, #4",
            "b 2b",
            "3:",
            p = inout(reg) bottom => _,
            top = in(reg) sp,
            pat = in(reg) PAINT,
            options(nostack)
        );
    }
    compiler_fence(Ordering::SeqCst);
    let r = core::hint::black_box(f());
    compiler_fence(Ordering::SeqCst);
    let mut lowest = sp;
    let mut a = bottom;
    while a < sp {
        // SAFETY: an aligned word of RAM inside the stack region painted above.
        if unsafe { core::ptr::read_volatile(a as *const u32) } != PAINT {
            lowest = a;
            break;
        }
        a += 4;
    }
    if primask.is_active() {
        // SAFETY: restores the interrupt state found on entry.
        unsafe { cortex_m::interrupt::enable() };
    }
    let usage = if lowest == bottom && bottom < sp {
        Usage::Overflowed
    } else {
        Usage::Bytes(sp - lowest)
    };
    (usage, r)
}

/// Self-check of the method: a function that really touches `KNOWN` bytes of stack must
/// measure at least `KNOWN` and at most `KNOWN` + a small frame allowance.
pub const KNOWN: usize = 1024;
/// Frame allowance (return address, saved registers, alignment) for [`known_usage`].
pub const KNOWN_SLACK: usize = 64;

/// Touch a `KNOWN`-byte stack array through `black_box` so it cannot be optimised away.
#[inline(never)]
pub fn known_usage(seed: u8) -> u8 {
    let mut buf = [0u8; KNOWN];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    let buf = core::hint::black_box(&mut buf);
    buf.iter().fold(0u8, |a, &b| a ^ b)
}
