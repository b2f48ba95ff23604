//! Tail bounds for a signed sum of node noises, `S = Σ_j c_j·Z_j`, with `Z_j` i.i.d.
//! discrete Gaussian or discrete Laplace and coefficients `c_j ∈ {±1, ±2}` (the only ones
//! a query of this family forms).
//!
//! Each function returns `t` (integer units) with `P[|S| ≥ t] ≤ β`.
//!
//! - **Discrete Gaussian** `N_Z(0, σ²)` is σ-subgaussian: `E[e^{λZ}] ≤ e^{λ²σ²/2}` for all
//!   real λ (Canonne, Kamath, Steinke 2020, *The Discrete Gaussian for Differential
//!   Privacy*, §2: its moment generating function is dominated by the continuous
//!   Gaussian's). Independence makes `S`
//!   subgaussian with variance proxy `σ²·V`, `V = Σ c_j²`, so Chernoff gives
//!   `P[|S| ≥ t] ≤ 2·exp(−t²/(2σ²V))`, i.e. `t = σ·√(2V·ln(2/β))`.
//! - **Discrete Laplace** with scale `b` (`P[z] ∝ p^{|z|}`, `p = e^{−1/b}`) has the exact
//!   geometric tail `P[|Z| ≥ m] = 2p^m/(1+p)` for integers `m ≥ 1`. Two bounds are
//!   computed and the smaller is returned:
//!   1. union: every `|Z_j| < m` except with probability `k·2p^m/(1+p) ≤ β` (exact when
//!      `k = 1`, `|c| = 1`); then `|S| ≤ (m − 1)·Σ|c_j|`;
//!   2. Chernoff with the exact moment generating function
//!      `M(λ) = (1−p)² / ((1−p·e^λ)(1−p·e^{−λ}))` for `|λ| < 1/b`:
//!      `P[|S| ≥ t] ≤ 2·e^{−λt}·Π_j M(λc_j)`, minimised numerically over λ (every λ gives
//!      a valid bound, so an imprecise minimum only costs tightness).
//!
//! Floating point only appears here, in bounds shown to users; each result is inflated by a
//! relative `2^−30` and `p` is rounded up, which covers the float evaluation error.

use super::Noise;
use crate::{Error, Result};

/// Multiset of coefficient magnitudes of a noise sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Shape {
    /// Nodes with `|c| = 1`.
    pub ones: u64,
    /// Nodes with `|c| = 2`.
    pub twos: u64,
}

impl Shape {
    fn count(&self) -> u64 {
        self.ones.saturating_add(self.twos)
    }
}

const MARGIN: f64 = 1.0 + 1.0 / (1u64 << 30) as f64;

fn check_beta(beta: f64) -> Result<()> {
    if beta > 0.0 && beta < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter)
    }
}

/// `t` with `P[|S| ≥ t] ≤ β`, integer units; `scale` is σ or `b` (rounded up by the
/// caller). A zero scale (test-only noise-free trees) or an empty sum gives 0.
pub(crate) fn noise_tail(noise: Noise, scale: f64, shape: Shape, beta: f64) -> Result<f64> {
    check_beta(beta)?;
    if !(scale >= 0.0 && scale.is_finite()) {
        return Err(Error::InvalidParameter);
    }
    if shape.count() == 0 || scale == 0.0 {
        return Ok(0.0);
    }
    match noise {
        Noise::Gaussian => Ok(gaussian(scale, shape, beta)),
        Noise::Laplace => Ok(laplace(scale, shape, beta)),
    }
}

fn gaussian(sigma: f64, shape: Shape, beta: f64) -> f64 {
    let v = shape.ones as f64 + 4.0 * shape.twos as f64;
    let ln = libm::log(2.0 / beta);
    sigma * libm::sqrt(2.0 * v * ln) * MARGIN
}

fn laplace(b: f64, shape: Shape, beta: f64) -> f64 {
    // p = e^{-1/b}, rounded up (a larger p is a heavier tail).
    let p = (libm::exp(-1.0 / b) * MARGIN).min(1.0);
    let k = shape.count() as f64;
    let weight = shape.ones as f64 + 2.0 * shape.twos as f64;
    // 1. Union bound: smallest integer m ≥ 1 with k·2p^m/(1+p) ≤ β, i.e.
    //    m ≥ ln(β(1+p)/(2k)) / ln p.
    let union = if p < 1.0 {
        let m = libm::ceil(libm::log(beta * (1.0 + p) / (2.0 * k)) / libm::log(p)).max(1.0);
        (m - 1.0).max(0.0) * weight * MARGIN
    } else {
        f64::INFINITY
    };
    // 2. Chernoff.
    let chern = laplace_chernoff(p, shape, beta);
    union.min(chern)
}

/// ln M(λ) for the discrete Laplace with parameter p, valid for p·e^{|λ|} < 1.
fn ln_mgf(p: f64, lambda: f64) -> f64 {
    let a = 1.0 - p * libm::exp(lambda);
    let c = 1.0 - p * libm::exp(-lambda);
    if a <= 0.0 || c <= 0.0 {
        return f64::INFINITY;
    }
    2.0 * libm::log1p(-p) - libm::log(a) - libm::log(c)
}

fn laplace_chernoff(p: f64, shape: Shape, beta: f64) -> f64 {
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let cmax = if shape.twos > 0 { 2.0 } else { 1.0 };
    // λ·cmax < −ln p ( = 1/b up to rounding).
    let lim = -libm::log(p) / cmax;
    let ln2b = libm::log(2.0 / beta);
    let t_of = |lam: f64| -> f64 {
        // (0 · ∞ would be NaN: only evaluate the terms that are present.)
        let mut lm = 0.0;
        if shape.ones > 0 {
            lm += shape.ones as f64 * ln_mgf(p, lam);
        }
        if shape.twos > 0 {
            lm += shape.twos as f64 * ln_mgf(p, 2.0 * lam);
        }
        (ln2b + lm) / lam
    };
    // Golden-section search on (0, lim); t(λ) is convex in λ (a log-MGF over λ).
    let mut lo = lim * 1e-6;
    let mut hi = lim * (1.0 - 1e-9);
    let g = 0.618_033_988_749_894_9;
    let mut x1 = hi - g * (hi - lo);
    let mut x2 = lo + g * (hi - lo);
    let mut f1 = t_of(x1);
    let mut f2 = t_of(x2);
    for _ in 0..120 {
        if f1 <= f2 {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = t_of(x1);
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = t_of(x2);
        }
    }
    let best = f1.min(f2);
    if best.is_finite() && best > 0.0 {
        best * MARGIN
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_laplace_node_is_exact_geometric() {
        // b = 10, β = 0.05: smallest m with 2p^m/(1+p) ≤ 0.05, bound m − 1.
        let b = 10.0f64;
        let p = (-1.0 / b).exp();
        let t = noise_tail(Noise::Laplace, b, Shape { ones: 1, twos: 0 }, 0.05).unwrap();
        let m = (1..10_000)
            .find(|&m| 2.0 * p.powi(m) / (1.0 + p) <= 0.05)
            .unwrap();
        assert!((t - (m - 1) as f64).abs() <= 1e-6 * t, "{t} vs {}", m - 1);
    }

    #[test]
    fn gaussian_formula() {
        let t = noise_tail(Noise::Gaussian, 3.0, Shape { ones: 4, twos: 1 }, 0.01).unwrap();
        let want = 3.0 * (2.0 * 8.0 * (200.0f64).ln()).sqrt();
        assert!(t >= want && t <= want * (1.0 + 1e-8));
    }

    #[test]
    fn chernoff_beats_union_for_many_nodes() {
        let s = Shape { ones: 30, twos: 0 };
        let b = 100.0;
        let p = (-1.0f64 / b).exp();
        let chern = laplace_chernoff(p, s, 0.05);
        let t = noise_tail(Noise::Laplace, b, s, 0.05).unwrap();
        assert!(chern < 30.0 * b * (600.0f64).ln());
        assert!(t <= chern * (1.0 + 1e-6));
        // Sanity: at least a few standard deviations of the sum (sd ≈ b·√(2·30)).
        assert!(t > b * (60.0f64).sqrt());
    }

    #[test]
    fn bad_beta() {
        for beta in [0.0, 1.0, -1.0, f64::NAN] {
            assert_eq!(
                noise_tail(Noise::Gaussian, 1.0, Shape { ones: 1, twos: 0 }, beta),
                Err(Error::InvalidParameter)
            );
        }
    }
}
