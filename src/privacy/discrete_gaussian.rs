//! (ε, δ) of the multivariate discrete Gaussian N_Z(0, σ²)^d added to an integer-valued query.
//!
//! The crate samples N_Z(0, σ²) (P(y) ∝ e^{−y²/2σ²} on ℤ; Canonne, Kamath & Steinke 2020,
//! "The Discrete Gaussian for Differential Privacy", arXiv:2004.00010, "CKS20") independently
//! on each of `d` integer coordinates. Its exact δ is *not* the continuous one: in one
//! dimension with Δ = 1 (CKS20 Thm 7 gives it exactly) it is often **larger**, by several
//! percent — σ = 5, ε = 1: 1.8293e-8 against 1.7546e-8 for N(0, 25) (+4.3%); σ = 2, ε = 2:
//! +13.8%; σ = 30, ε = 0.5: +1.0% (mpmath; see the tests). So "continuous δ plus a
//! negligible term" is false, and calibrating the discrete noise with the continuous
//! formula alone would understate δ. This file bounds it rigorously instead.
//!
//! # The bound used (proved here)
//! Notation: φ_a is the N(0, a²) density, Θ_a(w) = Σ_{j∈ℤ} φ_a(w − j), and
//! τ_a = 2 Σ_{k≥1} e^{−2π²a²k²}. By the Poisson summation formula,
//! Θ_a(w) = 1 + 2 Σ_{k≥1} e^{−2π²a²k²} cos(2πkw), so Θ_a(w) ∈ [1 − τ_a, 1 + τ_a] and
//! Θ_a(0) ∈ [1, 1 + τ_a].
//!
//! **Lemma.** Let q be integer-valued with ‖q(x) − q(x')‖₂ ≤ Δ for neighbours, and
//! Y ~ N_Z(0, σ²)^d. For any s ∈ (0, σ) with τ_s < 1 put σ' = √(σ² − s²) and
//! γ = d·ln((1 + τ_s)(1 + τ_σ)/(1 − τ_s)). If ε > γ, then x ↦ q(x) + Y is (ε, δ)-DP with
//!
//! ```text
//!     δ = (1 + τ_s)^d · δ_BW(σ', ε − γ, Δ),
//! ```
//!
//! where δ_BW is the exact continuous curve of Balle & Wang 2018, Thm 8.
//!
//! *Proof.* Let R: ℝ → ℤ be the randomised rounding with P[R(w) = k] = K(w − k),
//! K = φ_s/Θ_s (a probability: K ≥ 0 and Σ_k K(w − k) = 1 because Θ_s is 1-periodic). R
//! commutes with integer shifts. For W ~ N(0, σ'²), since φ_σ' ∗ φ_s = φ_σ,
//! P[R(W) = k] = ∫ φ_σ'(w) φ_s(w − k)/Θ_s(w) dw ∈ [φ_σ(k)/(1 + τ_s), φ_σ(k)/(1 − τ_s)],
//! while P[Y₁ = k] = φ_σ(k)/Θ_σ(0) with Θ_σ(0) ∈ [1, 1 + τ_σ]. Coordinatewise, then over the
//! d independent coordinates: P[Y = y] ≤ (1 + τ_s)^d P[R(W) = y] and
//! P[R(W) = y] ≤ ((1 + τ_σ)/(1 − τ_s))^d P[Y = y] for every y ∈ ℤ^d (R, W coordinatewise).
//! q(x) + W is (ε − γ, δ_BW(σ', ε − γ, Δ))-DP (BW18 Thm 8), hence so is its post-processing
//! R(q(x) + W) = q(x) + R(W) (q is integer). For every E ⊆ ℤ^d:
//! P[q(x) + Y ∈ E] ≤ (1 + τ_s)^d P[q(x) + R(W) ∈ E]
//! ≤ (1 + τ_s)^d (e^{ε−γ} P[q(x') + R(W) ∈ E] + δ_BW)
//! ≤ e^ε P[q(x') + Y ∈ E] + (1 + τ_s)^d δ_BW. ∎
//!
//! This is the "smoothing" argument familiar from lattice Gaussians. The price is σ → σ' =
//! σ·(1 − s²/2σ² + …) with s ≈ 0.6–1.5: the calibrated discrete σ exceeds the continuous
//! one by ≈ s²/2σ² relative (measured: 5.6e-6 at σ = 373, 1.5e-4 at σ = 60, a few % at
//! σ ≈ 1–4, where the zCDP route below often wins). [`discrete_gaussian_delta`] takes the
//! minimum of this bound over a fixed grid of s, and of the zCDP bound (ρ = Δ²/2σ² holds for the multivariate discrete
//! Gaussian — CKS20 Thm 14 — converted by CKS20 Cor. 13, see [`super::zcdp`]), which wins
//! for small σ. Every candidate is a valid upper bound, so their minimum is one.
//!
//! **About CKS20 Theorem 15.** CKS20 also state an (ε, δ) theorem for the multivariate
//! discrete Gaussian (Thm 15 in the arXiv numbering, with a correction term built from
//! e^{−2π²σ²} per coordinate). Its exact text was not available when this file was written,
//! so it is not transcribed here; the lemma above is self-contained and of the same shape
//! (an ε shift and a δ factor of order d·e^{−2π²s²}). Cross-checked against the exact δ of
//! the discrete Gaussian in one and two dimensions (tests).
//!
//! # Rounding (why the computed value is ≥ the lemma's δ)
//! τ_a ≤ 2e^{−c}/(1 − e^{−c}) with c = 2π²a² (geometric series), with c bounded below and
//! e^{−c} above; γ ≤ d(τ_s + τ_σ + τ_s/(1 − τ_s)) (ln(1 + x) ≤ x, −ln(1 − x) ≤ x/(1 − x));
//! (1 + τ_s)^d ≤ e^{dτ_s}; σ' is bounded below (δ_BW decreases in σ) and ε − γ below
//! (δ_BW decreases in ε); δ_BW itself is the rigorous upper bound of
//! [`super::analytic_gaussian_delta`]; products are rounded up.

use super::analytic_gaussian::delta_upper as bw_delta_upper;
use super::rounding::{add_up, div_up, exp_up, mul_down, mul_up, sqrt_down, sub_down, u64_up};
use super::search::smallest_passing;
use super::zcdp::{rho_to_delta_upper, rho_upper};
use super::{analytic_gaussian_sigma, check_delta, check_epsilon, check_positive};
use crate::{Error, Result};

/// The smoothing widths s tried by the lemma (module docs). Small s loses little σ but
/// pays e^{−2π²s²} per coordinate; large s the reverse. Any s is valid.
const SMOOTHING_WIDTHS: [f64; 15] = [
    0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0,
];

/// A lower bound on π² (π² = 9.8696044010893586…).
const PI_SQ_LO: f64 = 9.869_604_401_089_35;

/// `x > 0`, false for NaN.
fn positive(x: f64) -> bool {
    x > 0.0
}

/// An upper bound on τ_a = 2 Σ_{k≥1} e^{−2π²a²k²} (∞ if the bound is ≥ 1 or undefined).
fn tau_upper(a: f64) -> f64 {
    // Σ_{k≥1} e^{−ck²} ≤ Σ_{k≥1} e^{−ck} = e^{−c}/(1 − e^{−c}), c = 2π²a², c bounded below.
    let c_lo = mul_down(mul_down(2.0 * PI_SQ_LO, a), a);
    let e_hi = exp_up(-c_lo);
    let one_minus = sub_down(1.0, e_hi);
    if !positive(one_minus) {
        return f64::INFINITY;
    }
    div_up(2.0 * e_hi, one_minus)
}

/// The smoothing-lemma bound for one s (module docs); 1 if the lemma does not apply.
fn smoothing_bound(sigma: f64, epsilon: f64, l2: f64, d: f64, s: f64, tau_sigma: f64) -> f64 {
    // σ'² = σ² − s² from below.
    let var = sub_down(mul_down(sigma, sigma), mul_up(s, s));
    if !positive(var) {
        return 1.0;
    }
    let sigma_p = sqrt_down(var);
    let tau_s = tau_upper(s);
    if !positive(1.0 - tau_s) || !sigma_p.is_finite() || !positive(sigma_p) {
        return 1.0;
    }
    // γ ≤ d·(τ_s + τ_σ + τ_s/(1 − τ_s)).
    let per_coord = add_up(
        add_up(tau_s, tau_sigma),
        div_up(tau_s, sub_down(1.0, tau_s)),
    );
    let gamma = mul_up(d, per_coord);
    let eps_p = sub_down(epsilon, gamma);
    if !positive(eps_p) {
        return 1.0;
    }
    // (1 + τ_s)^d ≤ e^{d τ_s}.
    let factor = exp_up(mul_up(d, tau_s));
    let v = mul_up(factor, bw_delta_upper(sigma_p, eps_p, l2));
    if v.is_nan() { 1.0 } else { v.min(1.0) }
}

/// Upper bound on δ for validated inputs (min over all valid bounds).
fn delta_upper(sigma: f64, epsilon: f64, l2: f64, dims: u64) -> f64 {
    let d = u64_up(dims);
    let tau_sigma = tau_upper(sigma);
    let mut best = 1.0f64;
    if tau_sigma.is_finite() {
        for &s in SMOOTHING_WIDTHS.iter().filter(|&&s| s < sigma) {
            best = best.min(smoothing_bound(sigma, epsilon, l2, d, s, tau_sigma));
        }
    }
    let rho = rho_upper(sigma, l2);
    if rho.is_finite() {
        best = best.min(rho_to_delta_upper(rho, epsilon));
    }
    best
}

/// δ of the multivariate discrete Gaussian N_Z(0, σ²)^`dims` added to an integer-valued
/// query with L2 sensitivity `l2` (in integer units), at privacy level ε — an **upper
/// bound**, valid for any number of coordinates up to `dims`.
///
/// The minimum of (a) the smoothing lemma of the module docs (proved there from Balle &
/// Wang 2018 Thm 8, Poisson summation and post-processing) over a grid of s, and (b) the
/// zCDP route, ρ = Δ²/2σ² (CKS20 Thm 14) converted by CKS20 Cor. 13. Each is evaluated
/// with directed rounding, so the result is ≥ the true δ. Neither route can go below the
/// exact continuous δ of Balle & Wang at the same σ (both are bounds the continuous
/// Gaussian also satisfies); for σ ≫ 1 the result exceeds it by ≈ (s²/σ²)·ln(1/δ)
/// relative, s ≈ 1 (tests).
///
/// `dims` may count all noised coordinates; only those where neighbours can differ matter,
/// so passing the total is safe.
///
/// # Errors
/// [`Error::InvalidParameter`] unless σ and `l2` are finite and > 0;
/// [`Error::InvalidEpsilon`] unless ε is finite and > 0; [`Error::InvalidDimension`] if
/// `dims` is 0.
///
/// # Examples
/// ```
/// use dpxattn::privacy::{analytic_gaussian_delta, discrete_gaussian_delta};
/// let d = discrete_gaussian_delta(1000.0, 1.0, 3000.0, 10_000).unwrap();
/// let c = analytic_gaussian_delta(1000.0, 1.0, 3000.0).unwrap();
/// assert!(d >= c && d < c * 1.001);
/// ```
pub fn discrete_gaussian_delta(sigma: f64, epsilon: f64, l2: f64, dims: u64) -> Result<f64> {
    check_positive(sigma)?;
    check_positive(l2)?;
    check_epsilon(epsilon)?;
    if dims == 0 {
        return Err(Error::InvalidDimension);
    }
    Ok(delta_upper(sigma, epsilon, l2, dims))
}

/// The smallest σ (to a relative 1.2e-13, **rounded up**) such that N_Z(0, σ²)^`dims` on
/// an integer-valued query of L2 sensitivity `l2` (integer units) is (ε, δ)-DP by
/// [`discrete_gaussian_delta`].
///
/// Bisection starting from the continuous optimum [`analytic_gaussian_sigma`] (a lower
/// bound, since the discrete bound is never below the continuous δ). The returned σ is the
/// upper end of the bracket, at which the rigorous upper bound on δ was verified ≤ `delta`.
///
/// # Errors
/// As [`analytic_gaussian_sigma`], plus [`Error::InvalidDimension`] if `dims` is 0.
///
/// # Examples
/// ```
/// use dpxattn::privacy::{analytic_gaussian_sigma, discrete_gaussian_sigma};
/// let c = analytic_gaussian_sigma(1.0, 1e-6, 500.0).unwrap();
/// let d = discrete_gaussian_sigma(1.0, 1e-6, 500.0, 100_000).unwrap();
/// assert!(d >= c && d < c * (1.0 + 1e-5));
/// ```
pub fn discrete_gaussian_sigma(epsilon: f64, delta: f64, l2: f64, dims: u64) -> Result<f64> {
    if dims == 0 {
        check_epsilon(epsilon)?;
        check_delta(delta)?;
        check_positive(l2)?;
        return Err(Error::InvalidDimension);
    }
    let start = analytic_gaussian_sigma(epsilon, delta, l2)?;
    smallest_passing(start, |s| delta_upper(s, epsilon, l2, dims) <= delta)
        .ok_or(Error::InvalidDelta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::{analytic_gaussian_delta, gaussian_rho, rho_to_delta};

    /// `(σ, ε, m, δ_discrete, δ_continuous)`: the exact hockey-stick divergence between
    /// N_Z(0, σ²) and N_Z(m, σ²) (CKS20 Thm 7, summed exactly), and Balle–Wang's continuous
    /// δ with Δ = m; mpmath at 60 digits (`python3 docs/notes/privacy_ref.py dg`).
    #[rustfmt::skip]
    const EXACT_1D: &[(f64, f64, f64, f64, f64)] = &[
        (5.0, 1.0, 1.0, 1.8293360248727803e-08, 1.7546333318962327e-08),
        (3.0, 0.5, 2.0, 0.10891959816253366, 0.10874437688858546),
        (2.0, 2.0, 1.0, 1.0740901033403373e-05, 9.439168634947234e-06),
        (10.0, 1.0, 1.0, 1.279240856716094e-25, 1.2308359836427041e-25),
        (1.0, 0.5, 1.0, 0.20398281376343896, 0.23842170813487662),
        (30.0, 0.5, 1.0, 1.0489379282806708e-53, 1.0382163282791043e-53),
    ];

    /// `(σ, ε, δ_discrete, δ_continuous)` for the shift μ = (3, 4) in ℤ² (‖μ‖ = 5): exact
    /// discrete δ by brute-force summation over [−60, 60]², mpmath at 60 digits.
    const EXACT_2D: &[(f64, f64, f64, f64)] = &[
        (4.0, 1.0, 0.22106961425134805, 0.221018457548576),
        (6.0, 0.5, 0.17229871639549285, 0.17228358074506467),
    ];

    #[test]
    fn bound_is_above_the_exact_discrete_delta() {
        assert_eq!((EXACT_1D.len(), EXACT_2D.len()), (6, 2));
        for &(s, eps, m, exact, cont) in EXACT_1D {
            let d = discrete_gaussian_delta(s, eps, m, 1).unwrap();
            assert!(d >= exact, "σ={s} ε={eps}: bound {d} < exact {exact}");
            // Not vacuous: within a small factor of the truth.
            assert!(
                d <= 3.0 * exact,
                "σ={s} ε={eps}: bound {d} vs exact {exact}"
            );
            // The motivating fact: discrete can exceed the continuous δ (most rows).
            let _ = cont;
        }
        // Discrete above continuous in 5 of the 6 rows: the continuous formula alone is unsafe.
        let above = EXACT_1D.iter().filter(|r| r.3 > r.4).count();
        assert_eq!(above, 5);
        for &(s, eps, exact, _) in EXACT_2D {
            // Valid for every μ with ‖μ‖ ≤ 5 in 2 dimensions, in particular μ = (3, 4).
            let d = discrete_gaussian_delta(s, eps, 5.0, 2).unwrap();
            assert!(d >= exact && d <= 1.5 * exact, "σ={s}: {d} vs {exact}");
        }
    }

    #[test]
    fn discrete_is_above_continuous_and_close_for_large_sigma() {
        for &(sigma, eps, l2, dims) in &[
            (1.0, 1.0, 1.0, 1u64),
            (3.0, 0.5, 1.0, 4),
            (100.0, 1.0, 300.0, 10_000),
            (1000.0, 0.5, 2000.0, 1_000_000),
            (5e4, 2.0, 1e5, 1 << 40),
        ] {
            let d = discrete_gaussian_delta(sigma, eps, l2, dims).unwrap();
            let c = analytic_gaussian_delta(sigma, eps, l2).unwrap();
            assert!(d >= c, "σ={sigma}: discrete {d} < continuous {c}");
            if sigma >= 100.0 {
                assert!(d <= c * (1.0 + 1e-3), "σ={sigma}: {d} vs {c}");
            }
        }
        // Calibration: for σ ≫ 1 the discrete σ is within 1e-5 of the continuous one.
        for &(eps, delta, l2, dims) in &[
            (1.0, 1e-5, 100.0, 10_000u64),
            (0.5, 1e-8, 1000.0, 1_000_000),
            (4.0, 1e-10, 5000.0, 1 << 30),
        ] {
            let c = analytic_gaussian_sigma(eps, delta, l2).unwrap();
            let d = discrete_gaussian_sigma(eps, delta, l2, dims).unwrap();
            assert!(
                d >= c && d <= c * (1.0 + 1e-5),
                "{eps} {delta} {l2}: {d} vs {c}"
            );
            assert!(discrete_gaussian_delta(d, eps, l2, dims).unwrap() <= delta);
        }
    }

    #[test]
    fn small_sigma_uses_the_best_bound() {
        // For σ ~ Δ ~ 1 both routes apply; the result is their minimum and stays valid.
        let (sigma, eps) = (1.5, 1.0);
        let d = discrete_gaussian_delta(sigma, eps, 1.0, 1).unwrap();
        let z = rho_to_delta(gaussian_rho(sigma, 1.0).unwrap(), eps).unwrap();
        assert!(d <= z);
        // σ below every smoothing width: only the zCDP route remains.
        let d = discrete_gaussian_delta(0.3, 8.0, 1.0, 1).unwrap();
        let z = rho_to_delta(gaussian_rho(0.3, 1.0).unwrap(), 8.0).unwrap();
        assert_eq!(d, z);
        // The calibrated σ at Δ = 1 costs a few percent over the continuous one, not more.
        let c = analytic_gaussian_sigma(1.0, 1e-5, 1.0).unwrap();
        let s = discrete_gaussian_sigma(1.0, 1e-5, 1.0, 1).unwrap();
        assert!(s >= c && s <= c * 1.05, "{s} vs {c}");
    }

    #[test]
    fn monotone_in_sigma_dims_and_epsilon() {
        let f = |s, e, d| discrete_gaussian_delta(s, e, 10.0, d).unwrap();
        assert!(f(20.0, 1.0, 100) > f(25.0, 1.0, 100));
        assert!(f(20.0, 1.0, 100) > f(20.0, 1.5, 100));
        assert!(f(2.0, 1.0, 1) <= f(2.0, 1.0, 1 << 50));
        assert!(
            discrete_gaussian_sigma(1.0, 1e-6, 10.0, 1).unwrap()
                <= discrete_gaussian_sigma(1.0, 1e-6, 10.0, 1 << 50).unwrap()
        );
    }

    #[test]
    fn tau_bound_is_an_upper_bound() {
        // τ_1 = 2(e^{-2π²} + e^{-8π²} + …) = 5.3505759821484794e-9 (mpmath); the geometric-
        // series bound adds a relative e^{-2π²} ≈ 2.7e-9.
        let t = tau_upper(1.0);
        let tau1 = 5.350_575_982_148_479e-9;
        assert!((tau1..tau1 * (1.0 + 1e-8)).contains(&t), "{t}");
        assert!(tau_upper(0.1) == f64::INFINITY || tau_upper(0.1) > 1.0);
        assert!(tau_upper(4.0) < 1e-130);
    }

    #[test]
    fn invalid_inputs_are_named_errors() {
        use crate::Error::*;
        assert_eq!(
            discrete_gaussian_delta(1.0, 1.0, 1.0, 0),
            Err(InvalidDimension)
        );
        assert_eq!(
            discrete_gaussian_delta(0.0, 1.0, 1.0, 1),
            Err(InvalidParameter)
        );
        assert_eq!(
            discrete_gaussian_delta(1.0, -1.0, 1.0, 1),
            Err(InvalidEpsilon)
        );
        assert_eq!(
            discrete_gaussian_delta(1.0, 1.0, f64::NAN, 1),
            Err(InvalidParameter)
        );
        assert_eq!(
            discrete_gaussian_sigma(1.0, 1e-5, 1.0, 0),
            Err(InvalidDimension)
        );
        assert_eq!(discrete_gaussian_sigma(1.0, 2.0, 1.0, 1), Err(InvalidDelta));
        assert_eq!(
            discrete_gaussian_sigma(f64::NAN, 1e-5, 1.0, 1),
            Err(InvalidEpsilon)
        );
        assert_eq!(
            discrete_gaussian_sigma(1.0, 1e-5, 0.0, 0),
            Err(InvalidParameter)
        );
    }
}
