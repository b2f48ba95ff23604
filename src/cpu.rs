//! What the CPU can do, asked at run time where the instruction set varies (x86-64).
//!
//! `no_std` has no `is_x86_feature_detected!`, so the CPU is asked with `CPUID`/`XGETBV`
//! directly, once, and the answer cached in an atomic. Only speed depends on the answer:
//! every accelerated path computes the same exact integers as the portable one.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU8, Ordering};

/// Whether the AVX2 path runs on this CPU (detected once; always `true` when the crate is
/// compiled with AVX2 enabled, always `false` under Miri, which does not model `CPUID`).
#[inline]
pub(crate) fn has_avx2() -> bool {
    if cfg!(target_feature = "avx2") {
        return true;
    }
    if cfg!(miri) {
        return false;
    }
    /// 0: not asked yet, 1: no, 2: yes. Racing first calls both detect and store the same
    /// answer, so relaxed ordering suffices.
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = detect();
            STATE.store(1 + u8::from(yes), Ordering::Relaxed);
            yes
        }
    }
}

/// AVX2 usable: the CPU has it (CPUID leaf 7, EBX bit 5) *and* the OS saves the YMM
/// registers on context switches (CPUID leaf 1: OSXSAVE and AVX; XCR0 bits 1 and 2 —
/// Intel SDM Vol. 1 §14.3, "Detection of Intel AVX instructions").
#[cfg(not(miri))]
fn detect() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    // SAFETY (all three `unsafe` blocks): `CPUID` exists on every x86-64 CPU and has no
    // side effects; leaf 7 is only read when leaf 0 reports it. `XGETBV` exists and may be
    // executed when CPUID.1:ECX.OSXSAVE[bit 27] = 1, checked just before.
    #[allow(unused_unsafe)]
    let max_leaf = unsafe { __cpuid(0) }.eax;
    if max_leaf < 7 {
        return false;
    }
    #[allow(unused_unsafe)]
    let ecx1 = unsafe { __cpuid(1) }.ecx;
    let (osxsave, avx) = (ecx1 & (1 << 27) != 0, ecx1 & (1 << 28) != 0);
    if !(osxsave && avx) {
        return false;
    }
    let xcr0 = unsafe { _xgetbv(0) };
    if xcr0 & 0b110 != 0b110 {
        return false;
    }
    #[allow(unused_unsafe)]
    let ebx7 = unsafe { __cpuid_count(7, 0) }.ebx;
    ebx7 & (1 << 5) != 0
}

#[cfg(miri)]
fn detect() -> bool {
    false
}
