//! The exact polynomial feature map of DESIGN §2.2 in fixed point.

use super::{Kernel, enforce_norm, sq};
use crate::fixed::round_shr_fast;
use crate::{Error, Result};

/// The largest supported degree s. Beyond it the feature count explodes for any useful d
/// and the constant table in the image header would grow.
pub const MAX_DEGREE: u32 = 12;

/// Fraction bits of the per-multiplicity constants √(B/m) (≤ √64 = 8 < 2⁴ → Q27 fits i32).
pub(crate) const C_FRAC: u32 = 27;

/// The polynomial kernel: for every multi-index α with |α| ≤ s,
/// ψ_α(x) = √(B^|α| / α!) · x^α / Φ with Φ² ≥ P_s(B), so that
/// Φ²·<ψ(x), ψ(y)> = P_s(B·<x, y>) (up to fixed-point rounding) and ‖ψ‖ ≤ 1 on the ball.
///
/// Monomials are produced in depth-first order over non-decreasing index sequences
/// (i₁ ≤ i₂ ≤ … ≤ i_k): the constant, then x₀, x₀x₀, …; each child is its parent times
/// x_i · √(B/m), where m is the new multiplicity of index i. This order is part of the
/// image format: build and query must agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PolyKernel {
    d: u32,
    degree: u32,
    r: u32,
    /// ψ₀ = 2³⁰/Φ rounded down (Q30).
    psi0: i32,
    /// √(B/m) in Q27 for m = 1..=degree (index m−1).
    c: [i32; MAX_DEGREE as usize],
}

impl PolyKernel {
    /// Builds the kernel from its exact integer constants (as stored in an image).
    ///
    /// # Errors
    /// [`Error::InvalidDegree`] for an odd, zero or too large degree; [`Error::InvalidDimension`]
    /// for d = 0 or a feature count that overflows `u32`; [`Error::CorruptImage`] if the
    /// constants are out of range (ψ₀ ∉ (0, 2³⁰], c_m ∉ [0, 2³⁰]).
    pub fn from_constants(
        d: u32,
        degree: u32,
        psi0: i32,
        c: [i32; MAX_DEGREE as usize],
    ) -> Result<Self> {
        if degree == 0 || !degree.is_multiple_of(2) || degree > MAX_DEGREE {
            return Err(Error::InvalidDegree);
        }
        if d == 0 {
            return Err(Error::InvalidDimension);
        }
        let r = super::taylor::feature_count(u64::from(d), degree)
            .and_then(|r| u32::try_from(r).ok())
            .ok_or(Error::InvalidDimension)?;
        if psi0 <= 0 || psi0 > (1 << 30) || c.iter().any(|&x| !(0..=(1 << 30)).contains(&x)) {
            return Err(Error::CorruptImage);
        }
        Ok(PolyKernel {
            d,
            degree,
            r,
            psi0,
            c,
        })
    }

    /// Computes the constants for score bound `b` (= τ·radius_q·radius_k, 0 < b ≤ 64) and
    /// `phi_sq` ≥ P_s(b) (rounded up by the caller).
    pub(crate) fn constants(degree: u32, b: f64, phi_sq: f64) -> (i32, [i32; MAX_DEGREE as usize]) {
        let phi = libm::sqrt(phi_sq);
        // Round ψ₀ down: a smaller constant feature keeps ‖ψ‖ ≤ 1.
        let psi0 = libm::floor((1u64 << 30) as f64 / phi) as i32;
        let mut c = [0i32; MAX_DEGREE as usize];
        for (m, slot) in (1u32..).zip(c.iter_mut().take(degree as usize)) {
            let v = libm::sqrt(b / f64::from(m)) * (1u64 << C_FRAC) as f64;
            *slot = libm::round(v) as i32;
        }
        (psi0, c)
    }

    /// The degree s.
    pub fn degree(&self) -> u32 {
        self.degree
    }

    /// The constant feature ψ₀ (Q30).
    pub fn psi0(&self) -> i32 {
        self.psi0
    }

    /// The per-multiplicity constants √(B/m) (Q27), index m − 1.
    pub fn constants_q27(&self) -> [i32; MAX_DEGREE as usize] {
        self.c
    }
}

impl Kernel for PolyKernel {
    fn dim(&self) -> usize {
        self.d as usize
    }

    fn features(&self) -> usize {
        self.r as usize
    }

    fn map(&self, x: &[i32], out: &mut [i32]) -> Result<()> {
        self.monomials(x, out)?;
        // Exact norm guarantee: Σψ² ≤ 2⁶⁰, keeping the constant feature fixed.
        if let Some((_, rest)) = out.split_first_mut() {
            enforce_norm(rest, sq(self.psi0), 1u128 << 60);
        }
        Ok(())
    }

    fn constant_feature(&self) -> Option<(usize, i32)> {
        Some((0, self.psi0))
    }
}

impl PolyKernel {
    /// ψ(x) **without** the exact norm enforcement of [`Kernel::map`]: for queries, which
    /// are post-processing and need no sensitivity guarantee (saves the O(r) 128-bit norm
    /// check). Same values as `map` whenever rounding left ‖ψ‖ ≤ 1, i.e. almost always.
    ///
    /// # Errors
    /// [`Error::WrongLength`].
    pub fn map_query(&self, x: &[i32], out: &mut [i32]) -> Result<()> {
        self.monomials(x, out)
    }

    /// The monomials shared by [`Kernel::map`] and [`PolyKernel::map_query`]: the degree-2
    /// fast path when it applies, else the general depth-first recursion (same values).
    fn monomials(&self, x: &[i32], out: &mut [i32]) -> Result<()> {
        if x.len() != self.d as usize || out.len() != self.r as usize {
            return Err(Error::WrongLength);
        }
        if self.degree != 2 || !self.map_degree2_dispatch(x, out) {
            self.map_dfs(x, out);
        }
        Ok(())
    }
}

/// One step down the monomial tree: round(round(v·x / 2³⁰) · c / 2²⁷), the formula of
/// [`PolyKernel::map_dfs`], for operands that fit `i32` (see [`PolyKernel::map_degree2`]):
/// |v·x| ≤ 2⁶² and |t·c| ≤ 2⁶², so the rounding adds (plain adds here) cannot overflow,
/// and `round_shr_fast` would give the same values.
#[inline(always)]
fn step32(v: i32, x: i32, c: i32) -> i64 {
    let t = (crate::fixed::mul_i32_wide(v, x) + (1 << 29)) >> 30;
    (crate::fixed::mul_i32_wide(t as i32, c) + (1 << (C_FRAC - 1))) >> C_FRAC
}

/// [`step32`] when the result is known to fit `i32` (the checks of
/// [`PolyKernel::map_degree2`]): both results are then the low 32 bits of their 64-bit
/// sums, which is all this computes (two's complement wrapping arithmetic gives the same
/// low bits as the exact signed one). Spelled this way the compiler emits one `SMULL`, the
/// rounding add and a two-instruction 64→32 shift per step on a Cortex-M3/M4.
#[inline(always)]
pub(super) fn step32_low(v: i32, x: i32, c: i32) -> i32 {
    let p = crate::fixed::mul_i32_wide(v, x) as u64;
    let t = (p.wrapping_add(1 << 29) >> 30) as i32;
    let q = crate::fixed::mul_i32_wide(t, c) as u64;
    (q.wrapping_add(1 << (C_FRAC - 1)) >> C_FRAC) as i32
}

impl PolyKernel {
    /// The degree-2 map in two flat loops, bit-identical to [`PolyKernel::map_dfs`] (same
    /// order: 1, then for each i: x_i, then x_i·x_j for j ≥ i; same rounding steps) but
    /// with 32×32→64 products only and no saturation. Returns `false` (the caller then runs
    /// the general map, which rewrites every output) unless every intermediate provably
    /// fits `i32`, which holds for every plan's constants on the unit ball:
    /// - every |x_j| ≤ 2³⁰, so |round(v·x_j/2³⁰)| ≤ |v| at both depths; with |ψ₀| ≤ 2³⁰ the
    ///   first intermediate fits;
    /// - each depth-1 value v fits `i32` (checked), and |v|·max(c₁, c₂) + 2²⁶ < 2⁵⁸
    ///   (checked), so every depth-2 output |round(t·c/2²⁷)| ≤ (|v|·c + 2²⁶)/2²⁷ < 2³¹:
    ///   `sat_i32` would be the identity.
    ///
    /// (For a plan, |v| ≈ 2³⁰·√B·|x_i|/Φ and c ≤ 2²⁷√B with Φ² > B²/2, so
    /// |v|·c ≲ 2⁵⁷·√2 < 2⁵⁸ − 2²⁶.)
    fn map_degree2(&self, x: &[i32], out: &mut [i32]) -> bool {
        self.map_degree2_with(x, out, |v1, xs, c, o| {
            for (o, &xj) in o.iter_mut().zip(xs) {
                *o = step32_low(v1, xj, c);
            }
        })
    }

    /// [`PolyKernel::map_degree2`] with the inner loop given: `row(v1, xs, c, o)` must set
    /// `o[j] = step32_low(v1, xs[j], c)` for every `j < o.len()` (`xs` is as long).
    #[inline(always)]
    pub(super) fn map_degree2_with(
        &self,
        x: &[i32],
        out: &mut [i32],
        row: impl Fn(i32, &[i32], i32, &mut [i32]),
    ) -> bool {
        let (c1, c2) = (self.c[0], self.c[1]);
        let psi0 = self.psi0;
        let cmax = u64::from(c1.max(c2).unsigned_abs());
        if x.iter().any(|&v| v.unsigned_abs() > 1 << 30) {
            return false;
        }
        let Some((first, mut rest)) = out.split_first_mut() else {
            return false;
        };
        *first = psi0;
        for (i, &xi) in x.iter().enumerate() {
            let Ok(v1) = i32::try_from(step32(psi0, xi, c1)) else {
                return false;
            };
            if u64::from(v1.unsigned_abs()) * cmax + (1 << 26) >= 1 << 58 {
                return false;
            }
            let tail = x.get(i..).unwrap_or(&[]);
            // This node and its children: 1 + (d − i) outputs.
            let Some((node, more)) = rest.split_at_mut_checked(1 + tail.len()) else {
                return false;
            };
            rest = more;
            let Some((o1, o2)) = node.split_first_mut() else {
                return false;
            };
            *o1 = v1;
            row(v1, tail, c1, o2);
            // The first child repeats index i (multiplicity 2, constant c₂), the others are
            // new (multiplicity 1, c₁).
            if let Some(o) = o2.first_mut() {
                *o = step32_low(v1, xi, c2);
            }
        }
        true
    }

    /// [`PolyKernel::map_degree2`], compiled for AVX2 where the CPU has it (x86-64).
    fn map_degree2_dispatch(&self, x: &[i32], out: &mut [i32]) -> bool {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2() {
            // SAFETY: the CPU executes AVX2 and the OS preserves its registers
            // (`has_avx2`); the function is safe Rust otherwise.
            #[allow(unsafe_code)]
            return unsafe { super::poly_avx2::map_degree2(self, x, out) };
        }
        self.map_degree2(x, out)
    }

    /// The map for any degree: depth-first over non-decreasing index sequences. Not
    /// inlined: its index stacks (≈ 300 bytes) would otherwise sit in every caller's
    /// frame, also on the degree-2 path that does not use them.
    #[inline(never)]
    fn map_dfs(&self, x: &[i32], out: &mut [i32]) {
        let s = self.degree as usize;
        let d = self.d as usize;
        // Depth-first enumeration with explicit stacks of size ≤ MAX_DEGREE (no recursion).
        let mut idx = [0usize; MAX_DEGREE as usize];
        let mut run = [0usize; MAX_DEGREE as usize];
        let mut val = [0i64; MAX_DEGREE as usize + 1];
        val[0] = i64::from(self.psi0);
        let mut pos = 0usize;
        if let Some(o) = out.get_mut(pos) {
            *o = self.psi0;
        }
        pos += 1;
        let mut k = 1usize; // depth of the node being produced
        // The loop visits every monomial once; it ends when the depth-1 index passes d.
        // 1 ≤ k ≤ s ≤ MAX_DEGREE throughout, so every `get` below succeeds; `get` instead
        // of indexing keeps bounds-check panics out of the binary (`.ci/harden.sh`).
        while let Some(&i) = idx.get(k.wrapping_sub(1)) {
            let m = match (idx.get(k.wrapping_sub(2)), run.get(k.wrapping_sub(2))) {
                (Some(&prev), Some(&r)) if k >= 2 && prev == i => r + 1,
                _ => 1,
            };
            if let Some(r) = run.get_mut(k - 1) {
                *r = m;
            }
            let xi = i64::from(x.get(i).copied().unwrap_or(0));
            let cm = i64::from(*self.c.get(m - 1).unwrap_or(&0));
            let prev = val.get(k - 1).copied().unwrap_or(0);
            // |val| ≤ 2³⁰(1+2⁻²⁰) and |x_i| ≤ 2³⁰: the product is < 2⁶¹; after rounding to
            // Q30, times c_m ≤ 2³⁰: < 2⁶¹ again. No overflow — for constants made by
            // `constants`. `from_constants` accepts any c_m ≤ 2³⁰, for which val can grow
            // by 8× per level; saturate so such a kernel gives garbage, never a panic
            // (identical results whenever the bound above holds).
            let t = round_shr_fast(prev.saturating_mul(xi), 30);
            let v = round_shr_fast(t.saturating_mul(cm), C_FRAC);
            if let Some(slot) = val.get_mut(k) {
                *slot = v;
            }
            if let Some(o) = out.get_mut(pos) {
                *o = crate::fixed::sat_i32(v);
            }
            pos += 1;
            if k < s {
                if let Some(slot) = idx.get_mut(k) {
                    *slot = i;
                }
                k += 1;
                continue;
            }
            loop {
                let Some(slot) = idx.get_mut(k - 1) else {
                    k = 0;
                    break;
                };
                *slot += 1;
                if *slot < d {
                    break;
                }
                k -= 1;
                if k == 0 {
                    break;
                }
            }
            if k == 0 {
                break;
            }
        }
        debug_assert_eq!(pos, self.r as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{norm_sq, taylor};

    fn kernel(d: u32, s: u32, b: f64) -> PolyKernel {
        let phi_sq = taylor::eval_upper(s, b);
        let (psi0, c) = PolyKernel::constants(s, b, phi_sq);
        PolyKernel::from_constants(d, s, psi0, c).unwrap()
    }

    fn to_q30(v: &[f64]) -> Vec<i32> {
        v.iter()
            .map(|&x| crate::fixed::Q30::from_f64_toward_zero(x).unwrap().raw())
            .collect()
    }

    #[test]
    fn inner_product_is_the_truncated_exponential() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        for &(d, s, b) in &[(3u32, 2u32, 1.0f64), (5, 4, 2.0), (8, 2, 0.5), (4, 6, 3.0)] {
            let k = kernel(d, s, b);
            let phi_sq = taylor::eval_upper(s, b);
            for _ in 0..50 {
                let mut x: Vec<f64> = (0..d).map(|_| rnd()).collect();
                let mut y: Vec<f64> = (0..d).map(|_| rnd()).collect();
                let nx = x.iter().map(|v| v * v).sum::<f64>().sqrt();
                let ny = y.iter().map(|v| v * v).sum::<f64>().sqrt();
                x.iter_mut().for_each(|v| *v /= nx.max(1.0));
                y.iter_mut().for_each(|v| *v /= ny.max(1.0));
                let (mut px, mut py) = (vec![0i32; k.features()], vec![0i32; k.features()]);
                k.map(&to_q30(&x), &mut px).unwrap();
                k.map(&to_q30(&y), &mut py).unwrap();
                let dot: f64 = px
                    .iter()
                    .zip(&py)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>()
                    / (1u64 << 60) as f64;
                let t: f64 = b * x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>();
                let want = taylor::eval_upper(s, t) / phi_sq;
                assert!((dot - want).abs() < 1e-7, "d={d} s={s}: {dot} vs {want}");
                assert!(norm_sq(&px) <= 1u128 << 60);
            }
        }
    }

    #[test]
    fn degree2_fast_path_equals_the_general_map() {
        let mut seed = 777u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 32) as i32
        };
        for &(d, b) in &[(1u32, 0.3), (3, 1.0), (8, 4.0), (16, 1.0), (32, 64.0)] {
            let k = kernel(d, 2, b);
            let r = k.features();
            for trial in 0..200 {
                // Points on and inside the ball, plus the extremes ±2³⁰.
                let mut x: Vec<i32> = (0..d).map(|_| rnd() >> 1).collect();
                if trial % 3 == 0 {
                    x.iter_mut().for_each(|v| *v >>= trial % 7);
                }
                if trial == 1 {
                    x.iter_mut().for_each(|v| *v = 1 << 30);
                }
                if trial == 2 {
                    x.iter_mut().for_each(|v| *v = -(1 << 30));
                }
                let (mut fast, mut slow) = (vec![0i32; r], vec![0i32; r]);
                assert!(k.map_degree2(&x, &mut fast), "guard failed d={d} b={b}");
                k.map_dfs(&x, &mut slow);
                assert_eq!(fast, slow, "d={d} b={b} x={x:?}");
                // The dispatched form (AVX2 on most x86-64 hosts) gives the same bits.
                let mut dispatched = vec![0i32; r];
                assert!(k.map_degree2_dispatch(&x, &mut dispatched));
                assert_eq!(dispatched, slow, "dispatched d={d} b={b}");
            }
            // Outside the guard (|x_i| > 2³⁰) the fast path declines.
            let x = vec![i32::MIN; d as usize];
            assert!(!k.map_degree2(&x, &mut vec![0; r]));
            assert!(!k.map_degree2_dispatch(&x, &mut vec![0; r]));
        }
    }

    #[test]
    fn unit_vectors_have_norm_at_most_one_exactly() {
        let k = kernel(4, 2, 8.0);
        let mut out = vec![0i32; k.features()];
        for i in 0..4 {
            let mut x = [0i32; 4];
            x[i] = 1 << 30;
            k.map(&x, &mut out).unwrap();
            assert!(norm_sq(&out) <= 1u128 << 60);
            assert_eq!(out[0], k.psi0());
        }
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let k = kernel(4, 2, 1.0);
        let mut out = vec![0i32; k.features()];
        assert_eq!(k.map(&[0; 3], &mut out), Err(Error::WrongLength));
        assert_eq!(k.map(&[0; 4], &mut out[1..]), Err(Error::WrongLength));
        assert_eq!(
            PolyKernel::from_constants(4, 3, 1, [0; 12]),
            Err(Error::InvalidDegree)
        );
    }
}
