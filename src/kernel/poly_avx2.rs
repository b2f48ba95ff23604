//! The degree-2 feature map with AVX2 on x86-64 (chosen at run time,
//! [`crate::cpu::has_avx2`]): the queries' ψ(q).
//!
//! Only the inner loop differs from [`PolyKernel::map_degree2`] (same guards, same order):
//! four outputs at a time, each step of [`step32_low`] done on 64-bit lanes with
//! `VPMULDQ` (the exact signed 32×32→64 product of the lanes' low halves), the rounding
//! add, and a logical right shift; the low 32 bits of each lane are then the step's
//! result exactly as `step32_low` computes it (which also keeps only the low 32 bits of
//! its wrapping 64-bit arithmetic). Tested bit-identical to the general map.
#![allow(unsafe_code)]

use super::poly::{C_FRAC, PolyKernel, step32_low};
use core::arch::x86_64::{
    __m128i, _mm_loadu_si128, _mm_storeu_si128, _mm256_add_epi64, _mm256_castsi256_si128,
    _mm256_cvtepi32_epi64, _mm256_mul_epi32, _mm256_permutevar8x32_epi32, _mm256_set1_epi32,
    _mm256_set1_epi64x, _mm256_setr_epi32, _mm256_srli_epi64,
};

/// [`PolyKernel::map_degree2`] with the AVX2 inner loop.
///
/// # Safety
/// The CPU must execute AVX2 (checked by the caller with [`crate::cpu::has_avx2`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn map_degree2(k: &PolyKernel, x: &[i32], out: &mut [i32]) -> bool {
    k.map_degree2_with(x, out, |v1, xs, c, o| row(v1, xs, c, o))
}

/// `o[j] = step32_low(v1, xs[j], c)` for `j < min(o.len(), xs.len())`.
#[target_feature(enable = "avx2")]
#[inline]
fn row(v1: i32, xs: &[i32], c: i32, o: &mut [i32]) {
    // Both 32-bit halves of each lane hold the factor: `VPMULDQ` reads only the low one.
    // (Broadcast as a sign-extended i64, the compiler "optimised" the first product into
    // a full 64×64 multiply of three `VPMULUDQ`.)
    let v = _mm256_set1_epi32(v1);
    let cv = _mm256_set1_epi32(c);
    let half30 = _mm256_set1_epi64x(1 << 29);
    let half_c = _mm256_set1_epi64x(1 << (C_FRAC - 1));
    // Gathers the low halves of the four 64-bit lanes into the low 128 bits.
    let low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    // Equal lengths, so that the two remainders below line up.
    let n = o.len().min(xs.len());
    let (o, xs) = (
        o.get_mut(..n).unwrap_or(&mut []),
        xs.get(..n).unwrap_or(&[]),
    );
    let mut o4 = o.chunks_exact_mut(4);
    let mut x4 = xs.chunks_exact(4);
    for (oc, xc) in o4.by_ref().zip(x4.by_ref()) {
        // SAFETY: `xc` and `oc` are exactly 4 i32 = 16 bytes: the unaligned 128-bit load
        // and store stay inside them.
        let xv = unsafe { _mm_loadu_si128(xc.as_ptr().cast::<__m128i>()) };
        let p = _mm256_mul_epi32(_mm256_cvtepi32_epi64(xv), v);
        let t = _mm256_srli_epi64::<30>(_mm256_add_epi64(p, half30));
        let q = _mm256_mul_epi32(t, cv);
        let r = _mm256_srli_epi64::<{ C_FRAC as i32 }>(_mm256_add_epi64(q, half_c));
        let packed = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(r, low_halves));
        unsafe { _mm_storeu_si128(oc.as_mut_ptr().cast::<__m128i>(), packed) };
    }
    for (o, &xj) in o4.into_remainder().iter_mut().zip(x4.remainder()) {
        *o = step32_low(v1, xj, c);
    }
}
