//! The replace-one L2 sensitivity of one node's payload sum, with the proof.
//!
//! A row contributes Q = ψ ⊗ ω (before rounding to the accumulator grid), where ψ is the
//! kernel feature vector of its key and ω = [v̂/W ; γ/W] of its value, both in Q30 with
//! ‖ψ‖ ≤ 1 and ‖ω‖ ≤ 1 **exactly** (integer-checked), and ‖Q‖ ≤ C under contribution
//! clipping. Replacing the row by another, Q' = ψ' ⊗ ω', moves the node sum by Q − Q', and
//!
//! ```text
//! ‖Q − Q'‖² = ‖Q‖² + ‖Q'‖² − 2<Q, Q'> = ‖Q‖² + ‖Q'‖² − 2<ψ,ψ'>·<ω,ω'>     (1)
//! ```
//!
//! (the inner product of two outer products factorises). Two bounds follow:
//!
//! * **Triangle** (the paper's): ‖Q − Q'‖ ≤ ‖Q‖ + ‖Q'‖ ≤ 2S, with S = 1 (or C). Without
//!   clipping the constant entry ψ₀·g is equal in Q and Q', so over the noised entries
//!   ‖Q − Q'‖ ≤ 2√(1 − (ψ₀g)²).
//! * **Inner product** (ours): if <ψ,ψ'> ∈ [m_ψ, 1] and <ω,ω'> ∈ [m_ω, 1] for every pair of
//!   rows, then <ψ,ψ'><ω,ω'> ≥ lo := the smallest product of the interval ends, and by (1)
//!   ‖Q − Q'‖² ≤ 2S² − 2·lo. Since the difference vanishes on the constant entry, the
//!   same bound holds over the noised entries. When m_ψ, m_ω ≥ 0 this is ≤ √2·S: a factor
//!   √2 (√(2(1−c₀²)) with the exact constant entry) less noise than the triangle bound.
//!
//! **m_ω** is exact: <ω,ω'> = <v̂,v̂'>/W² + g² ≥ −‖v̂/W‖‖v̂'/W‖ + g² ≥ 2g² − 1, because
//! ‖v̂/W‖² + g² ≤ 1 is enforced in integers (values.normalise with the fixed square g²).
//!
//! **m_ψ** needs the kernel: for exact real arithmetic with the *stored* constants
//! (ψ₀ and c_m ≈ √(B/m), each c_m within relative η of √(B/m)), the features are
//! ψ_α(x) = ψ₀·Π c·x^α = ψ₀·√(w_α·ρ_α)·x^α with w_α = B^|α|/α! and |ρ_α − 1| ≤ κ := (1+η)^{2s}−1,
//! so <ψ(x),ψ(y)> = ψ₀²·[P_s(B<x,y>) + Σ_α w_α(ρ_α−1)x^α y^α] ≥ ψ₀²·(min P_s − κ·P_s(B)),
//! the error term bounded by Cauchy–Schwarz with Σ_α w_α x^{2α} = P_s(B‖x‖²) ≤ P_s(B).
//! The fixed-point features differ from these by a vector e with ‖e‖ ≤ E: each monomial
//! step `round(round(v·x_i)·c_m)` adds ≤ 2⁻³¹ per rounding, so the error of a depth-k
//! monomial obeys e_k ≤ c·e_{k−1} + (c+1)·2⁻³¹ (|x_i| ≤ 1, c = the largest c_m), and
//! `enforce_norm` (only when rounding pushed ‖ψ‖ above 1) moves ψ by at most twice the
//! excess plus its truncations. Then <ψ_q(x), ψ_q(y)> ≥ m_exact − 2·√(1+κ)·E − E² =: m_ψ.
//! Contribution clipping multiplies ψ by a factor ≥ C (plus truncation): the bound scales by
//! C² and pays the truncation in E.
//!
//! The plan takes the smaller of the two bounds; all the numbers are rounded toward a larger
//! bound (m's down, E up, with an extra factor 2 on E).

use crate::kernel::{Kernel, PolyKernel, taylor};

/// Relative margin on f64 planning numbers (see `kernel::taylor`).
const MARGIN: f64 = 1.0 / 1_099_511_627_776.0;
const Q30: f64 = 1_073_741_824.0;

/// Bound on ‖Q − Q'‖ over the noised entries of one node (normalised units, before the
/// rounding to the accumulator grid, which the plan adds separately).
pub(crate) fn payload_diameter(kernel: &PolyKernel, b: f64, g: i32, clip_q: i32) -> f64 {
    let clip = clip_q > 0;
    let s_norm = if clip { f64::from(clip_q) / Q30 } else { 1.0 };
    // Triangle bound.
    let triangle = if clip {
        2.0 * s_norm
    } else {
        let c0 = f64::from(kernel.psi0()) * f64::from(g) / (Q30 * Q30);
        2.0 * libm::sqrt((1.0 - c0 * c0 * (1.0 - MARGIN)) * (1.0 + MARGIN)) * (1.0 + MARGIN)
    };
    let Some(m_psi) = feature_inner_lower_bound(kernel, b, clip, s_norm) else {
        return triangle;
    };
    // m_ω = 2g² − 1, computed exactly in integers and converted down.
    let g2 = i128::from(g) * i128::from(g);
    let m_omega_num = 2 * g2 - (1i128 << 60);
    let m_omega = m_omega_num as f64 / (Q30 * Q30) - MARGIN;
    // Smallest product of [m_ψ, 1] × [m_ω, 1]; both intervals' upper ends are 1 (the
    // inner product of two vectors of norm ≤ 1).
    let lo = [m_psi * m_omega, m_psi, m_omega, 1.0]
        .iter()
        .fold(f64::INFINITY, |a, &x| a.min(x));
    let sq = 2.0 * s_norm * s_norm - 2.0 * lo;
    let inner = libm::sqrt(sq.max(0.0) * (1.0 + MARGIN)) * (1.0 + MARGIN);
    inner.min(triangle)
}

/// A lower bound m_ψ on <ψ_q(x), ψ_q(y)> (normalised) over all pairs of inputs, or `None`
/// when the bound is not positive (then only the triangle bound is used).
fn feature_inner_lower_bound(kernel: &PolyKernel, b: f64, clip: bool, s_norm: f64) -> Option<f64> {
    let s = kernel.degree();
    let psi0 = f64::from(kernel.psi0()) / Q30;
    let cq = kernel.constants_q27();
    // Relative error η of the stored constants and the largest constant.
    let mut eta = 0.0f64;
    let mut c_max = 0.0f64;
    for (m, &c) in (1u32..=s).zip(cq.iter()) {
        let stored = f64::from(c) / (1u64 << 27) as f64;
        let exact = libm::sqrt(b / f64::from(m));
        eta = eta.max(libm::fabs(stored - exact) / exact);
        c_max = c_max.max(stored);
    }
    let eta = eta * 2.0 + 1e-15;
    let kappa = libm::pow(1.0 + eta, f64::from(2 * s)) - 1.0;
    let kappa = kappa * 2.0 + 1e-15;
    let p_b = taylor::eval_upper(s, b);
    let min_p = taylor::min_on(s, b);
    let m_exact = psi0 * psi0 * (1.0 - 1e-12) * (min_p - kappa * p_b);
    // Fixed-point error of one monomial at the deepest level, then of the whole vector.
    let half_ulp = 1.0 / (2.0 * Q30);
    let mut e = 0.0f64;
    for _ in 0..s {
        e = c_max * e + (c_max + 1.0) * half_ulp;
    }
    let r = kernel.features() as f64;
    let mut big_e = libm::sqrt(r) * e;
    // enforce_norm: the excess over 1 is at most (√(1+κ) − 1) + E; it moves ψ by at most
    // twice that (or one shrink step, 2⁻²⁴) plus ≤ 64 rounds of truncation.
    let excess = (libm::sqrt(1.0 + kappa) - 1.0) + big_e;
    big_e += 2.0 * excess.max(1.0 / 16_777_216.0) * (1.0 + excess) + 64.0 * libm::sqrt(r) / Q30;
    let mut m = m_exact - 2.0 * libm::sqrt(1.0 + kappa) * big_e - big_e * big_e;
    if clip {
        // Clipping scales ψ by f ≥ C (ψ's norm ≤ 1, ω's ≤ 1) with truncation toward zero,
        // then enforce_norm again: the same error budget once more.
        let e_clip = 2.0 * (libm::sqrt(r) / Q30 + 1.0 / 16_777_216.0 + 64.0 * libm::sqrt(r) / Q30);
        m = s_norm * s_norm * (1.0 - 1e-12) * m - 2.0 * e_clip - e_clip * e_clip;
    }
    let m = m * (1.0 - 1e-9) - 1e-12;
    if m > 0.0 { Some(m) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::norm_sq;

    fn kernel(d: u32, s: u32, b: f64) -> PolyKernel {
        let phi_sq = taylor::eval_upper(s, b);
        let (psi0, c) = PolyKernel::constants(s, b, phi_sq);
        PolyKernel::from_constants(d, s, psi0, c).unwrap()
    }

    fn unit(seed: &mut u64, d: usize) -> Vec<i32> {
        let mut v: Vec<f64> = (0..d)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v.iter().map(|&x| (x * Q30) as i32).collect()
    }

    /// The lower bound on <ψ(x), ψ(y)> holds for random and antipodal unit vectors (the
    /// antipodal pair attains min P_s when B ≤ the minimiser's |t|).
    #[test]
    fn feature_inner_products_respect_the_bound() {
        let mut seed = 99u64;
        for &(d, s, b) in &[
            (4u32, 2u32, 1.0f64),
            (8, 2, 3.0),
            (3, 4, 2.0),
            (5, 2, 0.3),
            (2, 6, 4.0),
        ] {
            let k = kernel(d, s, b);
            let m = feature_inner_lower_bound(&k, b, false, 1.0).expect("positive bound");
            let (mut px, mut py) = (vec![0i32; k.features()], vec![0i32; k.features()]);
            for _ in 0..300 {
                let x = unit(&mut seed, d as usize);
                let y: Vec<i32> = if seed.is_multiple_of(3) {
                    x.iter().map(|v| -v).collect()
                } else {
                    unit(&mut seed, d as usize)
                };
                k.map(&x, &mut px).unwrap();
                k.map(&y, &mut py).unwrap();
                let dot: i128 = px
                    .iter()
                    .zip(&py)
                    .map(|(&a, &b)| i128::from(a) * i128::from(b))
                    .sum();
                let dot = dot as f64 / (Q30 * Q30);
                assert!(dot >= m, "d={d} s={s} B={b}: {dot} < bound {m}");
                assert!(norm_sq(&px) <= 1u128 << 60);
            }
        }
    }

    #[test]
    fn inner_product_bound_is_tighter_than_the_triangle() {
        let k = kernel(32, 2, 1.0);
        let w = libm::sqrt(2.0);
        let g = libm::floor(1.0 / w * Q30 * (1.0 - MARGIN)) as i32;
        let d = payload_diameter(&k, 1.0, g, 0);
        let c0 = f64::from(k.psi0()) * f64::from(g) / (Q30 * Q30);
        let triangle = 2.0 * (1.0 - c0 * c0).sqrt();
        assert!(d < triangle / 1.25 && d > 1.41, "{d} vs {triangle}");
        // Clipping: √2·C instead of 2C.
        let c = (0.3 * Q30) as i32;
        let dc = payload_diameter(&k, 1.0, g, c);
        assert!((dc - 0.3 * 2f64.sqrt()).abs() < 1e-3, "{dc}");
    }
}
