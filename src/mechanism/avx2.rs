//! The mechanism's inner loops with AVX2 on x86-64, chosen at run time
//! ([`crate::cpu::has_avx2`]): the query's dot products (explicit intrinsics, below) and
//! the build's payload accumulation (the portable source, compiled for AVX2).
//!
//! `VPMULDQ` multiplies the low signed 32 bits of each 64-bit lane into an exact 64-bit
//! product: 4 products per instruction. A 256-bit load of 8 words feeds it twice, once as
//! is (words 0, 2, 4, 6) and once shifted right by 32 bits per lane (words 1, 3, 5, 7).
//! Four columns are done per pass so that each 8-word block of ψ is loaded and shifted
//! once for four columns (tried: offset loads instead of shifts, and 8 columns per pass —
//! no faster on an AMD EPYC). The sums are the exact wrapping sums of the portable forms
//! in [`super::dot`], bit for bit (tested against its reference on every path).
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m256i, _mm256_add_epi64, _mm256_loadu_si256, _mm256_mul_epi32, _mm256_setzero_si256,
    _mm256_srli_epi64, _mm256_storeu_si256,
};

/// [`super::build::add_payload`] compiled with AVX2 (the compiler vectorises its 64-bit
/// multiply-round-add; ≈ 2–3× the baseline x86-64 rate). Callers must have checked
/// [`crate::cpu::has_avx2`].
#[inline]
pub(crate) fn add_payload(acc: &mut [i64], omega: &[i32], psi: &[i32], sh: u32) {
    debug_assert!(crate::cpu::has_avx2());
    // SAFETY: `has_avx2()` returned true (this CPU executes AVX2, the OS preserves its
    // registers); the function is safe Rust otherwise.
    unsafe { add_payload_avx2(acc, omega, psi, sh) }
}

#[target_feature(enable = "avx2")]
fn add_payload_avx2(acc: &mut [i64], omega: &[i32], psi: &[i32], sh: u32) {
    super::build::add_payload_body(acc, omega, psi, sh);
}

/// [`super::dot::accumulate`] with AVX2. Callers must have checked
/// [`crate::cpu::has_avx2`].
#[inline]
pub(crate) fn accumulate(psi: &[i32], node: &[i32], u: &mut [i64]) {
    debug_assert!(crate::cpu::has_avx2());
    // SAFETY: `has_avx2()` returned true, so this CPU executes AVX2 instructions and the
    // OS preserves their registers; the function itself only reads inside its slices.
    unsafe { accumulate_avx2(psi, node, u) }
}

/// Columns per pass of [`columns`]: each 8-word block of ψ is loaded once per pass.
const PASS: usize = 4;

/// See [`accumulate`]. Full columns go [`PASS`] (then one) at a time through [`columns`];
/// a partial last column (only for a short `node`) through the scalar [`tail`].
#[target_feature(enable = "avx2")]
fn accumulate_avx2(psi: &[i32], node: &[i32], u: &mut [i64]) {
    let r = psi.len();
    if r == 0 {
        return;
    }
    let full = (node.len() / r).min(u.len());
    let (u_full, u_rest) = u.split_at_mut_checked(full).unwrap_or((&mut [], &mut []));
    let (n_full, n_rest) = node.split_at_checked(full * r).unwrap_or((&[], &[]));
    let mut passes = u_full
        .chunks_exact_mut(PASS)
        .zip(n_full.chunks_exact(PASS * r));
    for (uc, nc) in passes.by_ref() {
        let mut it = nc.chunks_exact(r);
        let mut next = || it.next().unwrap_or(&[]);
        let cols: [&[i32]; PASS] = [next(), next(), next(), next()];
        for (x, y) in uc.iter_mut().zip(columns(psi, cols)) {
            *x = x.wrapping_add(y);
        }
    }
    let done = full - full % PASS;
    let singles = u_full.get_mut(done..).unwrap_or(&mut []);
    for (x, col) in singles
        .iter_mut()
        .zip(n_full.get(done * r..).unwrap_or(&[]).chunks_exact(r))
    {
        *x = x.wrapping_add(columns(psi, [col])[0]);
    }
    if let (Some(x), false) = (u_rest.first_mut(), n_rest.is_empty()) {
        *x = x.wrapping_add(tail(psi, n_rest, 0));
    }
}

/// The exact sums Σ ψ_α·col_c[α] for `N` columns (each at least `psi.len()` long for the
/// vector loop; a shorter column sends everything through the scalar [`tail`]).
#[target_feature(enable = "avx2")]
#[inline]
fn columns<const N: usize>(psi: &[i32], cols: [&[i32]; N]) -> [i64; N] {
    let r = psi.len();
    let blocks = if cols.iter().all(|c| c.len() >= r) {
        r / 8
    } else {
        0
    };
    let mut acc = [_mm256_setzero_si256(); N];
    for b in 0..blocks {
        let at = b * 8;
        // SAFETY: at + 8 ≤ blocks·8 ≤ r = psi.len() ≤ every column's length (checked
        // above: otherwise blocks = 0 and this loop does not run), so each 32-byte
        // unaligned load stays inside its slice.
        let p = unsafe { _mm256_loadu_si256(psi.as_ptr().add(at).cast::<__m256i>()) };
        let p_odd = _mm256_srli_epi64::<32>(p);
        for (col, a) in cols.iter().zip(acc.iter_mut()) {
            // SAFETY: as for `p` (same offset, every column is at least r long).
            let w = unsafe { _mm256_loadu_si256(col.as_ptr().add(at).cast::<__m256i>()) };
            *a = _mm256_add_epi64(*a, _mm256_mul_epi32(p, w));
            *a = _mm256_add_epi64(*a, _mm256_mul_epi32(p_odd, _mm256_srli_epi64::<32>(w)));
        }
    }
    let mut out = [0i64; N];
    for ((s, col), a) in out.iter_mut().zip(cols).zip(acc) {
        let mut lanes = [0i64; 4];
        // SAFETY: `lanes` is 32 bytes, an unaligned store fits it exactly.
        unsafe {
            _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), a);
        }
        *s = lanes
            .iter()
            .fold(tail(psi, col, blocks * 8), |s, &x| s.wrapping_add(x));
    }
    out
}

/// Σ ψ_α·col[α] for α from `from` to the end of the shorter slice (the scalar tail).
#[inline]
fn tail(psi: &[i32], col: &[i32], from: usize) -> i64 {
    let p = psi.get(from..).unwrap_or(&[]);
    let c = col.get(from..).unwrap_or(&[]);
    p.iter().zip(c).fold(0i64, |s, (&a, &b)| {
        s.wrapping_add(i64::from(a) * i64::from(i32::from_le(b)))
    })
}
