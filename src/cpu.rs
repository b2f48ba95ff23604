//! Run-time choice of the accelerated inner loops (AVX2 on x86-64).
//!
//! `no_std` has no `is_x86_feature_detected!`, so the CPU is asked with `CPUID`/`XGETBV`
//! directly, once, and the answer cached in an atomic. Only speed depends on the answer:
//! every accelerated path computes the same exact integers as the portable one, so the
//! outputs are the same bits either way. On other architectures nothing is detected and
//! these functions do nothing.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use core::sync::atomic::{AtomicU8, Ordering};

/// Detection state: 0 = not asked yet, 1 = do not use AVX2, 2 = use AVX2. Racing first
/// calls all detect and store the same answer, so relaxed ordering suffices.
#[cfg(target_arch = "x86_64")]
static STATE: AtomicU8 = AtomicU8::new(0);

/// Allows (`true`, the default: used if the CPU has it) or forbids (`false`) the
/// accelerated inner loops, for all threads. For benchmarks and tests of the portable
/// path; results do not change. Allowing never enables an instruction set the CPU lacks
/// (it only makes the next query ask the CPU again).
pub fn allow_simd(allow: bool) {
    #[cfg(target_arch = "x86_64")]
    STATE.store(if allow { 0 } else { 1 }, Ordering::Relaxed);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = allow;
}

/// Whether the accelerated inner loops run on this machine now: the CPU has them (and
/// [`allow_simd`] has not forbidden them). `false` on targets without any.
pub fn simd_in_use() -> bool {
    #[cfg(target_arch = "x86_64")]
    return has_avx2();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the AVX2 paths run (detected once; always `false` under Miri, which does not
/// model `CPUID`, and after `allow_simd(false)`).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2() -> bool {
    if cfg!(miri) {
        return false;
    }
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
#[cfg(all(target_arch = "x86_64", not(miri)))]
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

#[cfg(all(target_arch = "x86_64", miri))]
fn detect() -> bool {
    false
}
