//! Zero-concentrated DP (zCDP): ρ of a Gaussian mechanism and the conversion to (ε, δ).
//!
//! - **ρ of Gaussian noise.** Bun & Steinke 2016 ("Concentrated Differential Privacy:
//!   Simplifications, Extensions, and Lower Bounds", arXiv:1605.02065, Prop. 1.6): adding
//!   N(0, σ²I) to a query of L2 sensitivity Δ is ρ-zCDP with ρ = Δ²/(2σ²). The same holds for
//!   the multivariate **discrete** Gaussian N_Z(0, σ²)^d on an integer-valued query
//!   (Canonne, Kamath & Steinke 2020, "The Discrete Gaussian for Differential Privacy",
//!   arXiv:2004.00010 — the one-dimensional statement and its multivariate version, Thm 14
//!   in the arXiv numbering). The reason, in one line: for an integer shift m, completing
//!   the square gives e^{(α−1)D_α} = e^{α(α−1)m²/2σ²}·Θ(αm)/Θ(0) with
//!   Θ(c) = Σ_{y∈ℤ} e^{−(y−c)²/2σ²} ≤ Θ(0) (Poisson summation), so
//!   D_α ≤ αm²/(2σ²) as in the continuous case; for independent coordinates Rényi
//!   divergences add, giving α‖m‖²/(2σ²).
//! - **ρ → (ε, δ).** CKS20 (Prop. 12 for Rényi DP and its zCDP corollary, Cor. 13, arXiv v4
//!   numbering): a ρ-zCDP mechanism is (ε, δ)-DP for **every** α > 1 with
//!
//!   ```text
//!       δ = exp((α−1)(αρ − ε) + α·ln(1 − 1/α)) / (α − 1).
//!   ```
//!
//!   This is the bound OpenDP's `cdp_delta` implements
//!   (`rust/src/combinators/measure_cast/zCDP_to_approxDP/cdp_delta/mod.rs`). Because *any*
//!   α > 1 gives a valid δ, the search for the best α needs no care; only the final
//!   evaluation is rounded up.

use super::rounding::{
    add_up, div_down, div_up, exp_up, ln_1p_up, mul_down, mul_up, sqrt_up, sub_down, sub_up,
};
use super::search::smallest_passing;
use super::{check_delta, check_epsilon, check_positive, finite_positive};
use crate::{Error, Result};

/// ρ = Δ²/(2σ²) of Gaussian noise N(0, σ²) per coordinate (continuous, or discrete on an
/// integer-valued query with `l2` in integer units), **rounded up**.
///
/// Bun & Steinke 2016, Prop. 1.6 (continuous); CKS20 (discrete, multivariate: Thm 14 of
/// arXiv:2004.00010). Rounded up because a larger ρ is a weaker (safe) claim: Δ² and 2σ²
/// are bounded up and down respectively, and the quotient is rounded up.
///
/// # Errors
/// [`Error::InvalidParameter`] unless σ and `l2` are finite and > 0, or if ρ overflows.
///
/// # Examples
/// ```
/// let rho = dpxattn::privacy::gaussian_rho(2.0, 1.0).unwrap();
/// assert!(rho >= 0.125 && rho < 0.125 * (1.0 + 1e-14));
/// ```
pub fn gaussian_rho(sigma: f64, l2: f64) -> Result<f64> {
    check_positive(sigma)?;
    check_positive(l2)?;
    finite_positive(rho_upper(sigma, l2))
}

/// ρ = Δ²/(2σ²), rounded up (inputs validated by the caller).
pub(crate) fn rho_upper(sigma: f64, l2: f64) -> f64 {
    let num = mul_up(l2, l2);
    // 2σ² from below (2σ is exact); if it underflows, ρ is reported as infinite.
    let den = mul_down(2.0 * sigma, sigma);
    if den > 0.0 {
        div_up(num, den)
    } else {
        f64::INFINITY
    }
}

/// δ such that a ρ-zCDP mechanism is (ε, δ)-DP — an **upper bound** on the best δ of the
/// CKS20 conversion (validated inputs, ρ > 0).
pub(crate) fn rho_to_delta_upper(rho: f64, epsilon: f64) -> f64 {
    // Search the optimal α (any α > 1 is valid, so plain floating point is fine here).
    // Lower end 1.01 as in OpenDP (the optimum is ≥ (1 + ε/ρ)/2, so this only binds when
    // ε ≲ ρ, where δ is large anyway); upper end (ε+1)/(2ρ) + 2 ≥ the optimum.
    let mut a_min = 1.01f64;
    let mut a_max = ((epsilon + 1.0) / (2.0 * rho) + 2.0).min(1e300);
    for _ in 0..2000 {
        let mid = a_min + (a_max - a_min) * 0.5;
        if mid <= a_min || mid >= a_max {
            break;
        }
        let deriv = (2.0 * mid - 1.0) * rho - epsilon + libm::log1p(-1.0 / mid);
        if deriv < 0.0 {
            a_min = mid;
        } else {
            a_max = mid;
        }
    }
    let alpha = a_max;
    // Rigorous evaluation at this exact α:
    // α − 1 ∈ [am1_lo, am1_hi] (both > 0 since α ≥ 1.01).
    let am1_lo = sub_down(alpha, 1.0);
    let am1_hi = sub_up(alpha, 1.0);
    // αρ − ε ≤ b_hi.
    let b_hi = sub_up(mul_up(alpha, rho), epsilon);
    // (α−1)(αρ−ε) ≤ t1_hi: take the larger factor if b_hi ≥ 0, the smaller if b_hi < 0.
    let t1_hi = if b_hi >= 0.0 {
        mul_up(am1_hi, b_hi)
    } else {
        mul_up(am1_lo, b_hi)
    };
    // ln(1 − 1/α) ≤ ln(1 − inv_lo) with inv_lo ≤ 1/α (ln(1 − x) is decreasing in x).
    let inv_lo = div_down(1.0, alpha);
    let ln_hi = ln_1p_up(-inv_lo);
    // α·ln(1 − 1/α) ≤ α·ln_hi (α > 0, exact).
    let t2_hi = mul_up(alpha, ln_hi);
    let e_hi = add_up(t1_hi, t2_hi);
    let d = div_up(exp_up(e_hi), am1_lo);
    if d.is_nan() { 1.0 } else { d.min(1.0) }
}

/// The δ of the CKS20 zCDP → (ε, δ) conversion: a ρ-zCDP mechanism is (ε, δ)-DP with this δ
/// (an **upper bound** on inf over α > 1 of the bound in the module docs; ≤ 1).
///
/// CKS20 Prop. 12 / Cor. 13 (arXiv v4 numbering), as in OpenDP's `cdp_delta`. The best α
/// is searched without rounding care (every α > 1 gives a valid δ); the bound is then
/// evaluated at that exact α with every term rounded toward a larger δ (module docs of
/// [`super::rounding`] for the margins). `rho = 0` gives δ = 0.
///
/// # Errors
/// [`Error::InvalidParameter`] unless ρ is finite and ≥ 0; [`Error::InvalidEpsilon`] unless
/// ε is finite and > 0.
///
/// # Examples
/// ```
/// // mpmath: the CKS20 bound at ρ = 0.025, ε = 1 is 1.3361319064032232e-6.
/// let d = dpxattn::privacy::rho_to_delta(0.025, 1.0).unwrap();
/// assert!(d >= 1.3361319064032232e-6 && d < 1.3361319064032232e-6 * (1.0 + 1e-9));
/// ```
pub fn rho_to_delta(rho: f64, epsilon: f64) -> Result<f64> {
    if !(rho.is_finite() && rho >= 0.0) {
        return Err(Error::InvalidParameter);
    }
    check_epsilon(epsilon)?;
    if rho == 0.0 {
        return Ok(0.0);
    }
    Ok(rho_to_delta_upper(rho, epsilon))
}

/// The smallest ε (to a relative 1.2e-13, **rounded up**) such that a ρ-zCDP mechanism is
/// (ε, δ)-DP by the CKS20 conversion ([`rho_to_delta`] ≤ `delta`).
///
/// Bisection starting from Bun & Steinke 2016, Prop. 1.3 (ε = ρ + 2√(ρ ln(1/δ)), which the
/// CKS20 bound always improves); the returned ε is the upper end of the bracket, where the
/// rigorous upper bound [`rho_to_delta`] was verified to be ≤ `delta`. `rho = 0` gives 0.
///
/// # Errors
/// [`Error::InvalidParameter`] unless ρ is finite and ≥ 0; [`Error::InvalidDelta`] unless
/// δ ∈ (0, 1).
///
/// # Examples
/// ```
/// // mpmath: ρ = 0.025, δ = 1e-6 → ε = 1.0140742547261279.
/// let e = dpxattn::privacy::rho_to_epsilon(0.025, 1e-6).unwrap();
/// assert!(e >= 1.0140742547261279 && e < 1.0140742547261279 * (1.0 + 1e-9));
/// ```
pub fn rho_to_epsilon(rho: f64, delta: f64) -> Result<f64> {
    if !(rho.is_finite() && rho >= 0.0) {
        return Err(Error::InvalidParameter);
    }
    check_delta(delta)?;
    if rho == 0.0 {
        return Ok(0.0);
    }
    // Bun–Steinke start (a valid ε already, up to rounding); the search verifies anyway.
    let start = add_up(rho, 2.0 * sqrt_up(mul_up(rho, -libm::log(delta))));
    let start = finite_positive(start)?;
    smallest_passing(start, |e| rho_to_delta_upper(rho, e) <= delta).ok_or(Error::InvalidDelta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(ρ, ε, δ)`: inf over α > 1 of the CKS20 bound, mpmath at 60 digits
    /// (`python3 docs/notes/privacy_ref.py cdp`).
    const DELTA_REF: &[(f64, f64, f64)] = &[
        (0.025, 1.0, 1.3361319064032232e-06),
        (0.5, 3.0, 0.005143184063862149),
        (0.01, 0.5, 3.505878060052391e-05),
        (1.0, 10.0, 1.1714172313952302e-10),
        (0.1, 2.0, 4.325210869092561e-06),
        (0.001, 0.2, 1.801887758446162e-07),
        (2.0, 1.0, 0.7705292951318936),
    ];

    /// `(ρ, δ, ε)`: the smallest ε of the CKS20 bound, mpmath at 60 digits.
    const EPS_REF: &[(f64, f64, f64)] = &[
        (0.025, 1e-06, 1.0140742547261279),
        (0.5, 1e-10, 6.839329413120849),
        (0.01, 1e-05, 0.5457255482740024),
        (1.0, 1e-08, 8.97721843355715),
        (0.0001, 1e-10, 0.08014369844172596),
    ];

    #[test]
    fn delta_matches_mpmath_from_above() {
        assert_eq!(DELTA_REF.len(), 7);
        for &(rho, eps, exact) in DELTA_REF {
            let d = rho_to_delta(rho, eps).unwrap();
            assert!(
                d >= exact * (1.0 - f64::EPSILON),
                "ρ={rho} ε={eps}: {d} < {exact}"
            );
            assert!(d <= exact * (1.0 + 1e-9), "ρ={rho} ε={eps}: {d} vs {exact}");
        }
    }

    #[test]
    fn epsilon_matches_mpmath_from_above() {
        assert_eq!(EPS_REF.len(), 5);
        for &(rho, delta, exact) in EPS_REF {
            let e = rho_to_epsilon(rho, delta).unwrap();
            assert!(
                e >= exact * (1.0 - f64::EPSILON),
                "ρ={rho} δ={delta}: {e} < {exact}"
            );
            assert!(
                e <= exact * (1.0 + 1e-9),
                "ρ={rho} δ={delta}: {e} vs {exact}"
            );
            assert!(rho_to_delta(rho, e).unwrap() <= delta);
        }
    }

    #[test]
    fn rho_rounds_up_and_conversions_are_monotone() {
        let r = gaussian_rho(3.0, 2.0).unwrap();
        // Exact ρ = 4/18 = 2/9; the result must not be below it (compare r·9 ≥ 2 up to one rounding).
        assert!(r * 9.0 * (1.0 + f64::EPSILON) >= 2.0 && r < (2.0 / 9.0) * (1.0 + 1e-14));
        assert!(rho_to_delta(0.1, 1.0).unwrap() > rho_to_delta(0.1, 1.5).unwrap());
        assert!(rho_to_delta(0.1, 1.0).unwrap() < rho_to_delta(0.2, 1.0).unwrap());
        assert!(rho_to_epsilon(0.1, 1e-6).unwrap() < rho_to_epsilon(0.1, 1e-9).unwrap());
        assert_eq!(rho_to_delta(0.0, 1.0), Ok(0.0));
        assert_eq!(rho_to_epsilon(0.0, 1e-6), Ok(0.0));
        // δ ≤ 1 always, even for ρ ≫ ε.
        assert_eq!(rho_to_delta(1e6, 0.1), Ok(1.0));
    }

    #[test]
    fn zcdp_is_never_better_than_the_exact_gaussian_curve() {
        // ρ-zCDP → (ε, δ) is a bound for every ρ-zCDP mechanism, including the Gaussian whose
        // exact δ Balle & Wang give; so it can only be larger.
        for &(sigma, eps) in &[(1.0, 1.0), (3.0, 0.5), (5.0, 2.0), (20.0, 0.1)] {
            let rho = gaussian_rho(sigma, 1.0).unwrap();
            let z = rho_to_delta(rho, eps).unwrap();
            let a = super::super::analytic_gaussian_delta(sigma, eps, 1.0).unwrap();
            assert!(z >= a, "σ={sigma}: zCDP {z} < exact {a}");
        }
    }

    #[test]
    fn invalid_inputs_are_named_errors() {
        use crate::Error::*;
        assert_eq!(gaussian_rho(0.0, 1.0), Err(InvalidParameter));
        assert_eq!(gaussian_rho(1.0, f64::NAN), Err(InvalidParameter));
        assert_eq!(gaussian_rho(1e-200, 1e200), Err(InvalidParameter)); // overflows
        assert_eq!(rho_to_delta(-1.0, 1.0), Err(InvalidParameter));
        assert_eq!(rho_to_delta(f64::INFINITY, 1.0), Err(InvalidParameter));
        assert_eq!(rho_to_delta(0.1, 0.0), Err(InvalidEpsilon));
        assert_eq!(rho_to_epsilon(0.1, 0.0), Err(InvalidDelta));
        assert_eq!(rho_to_epsilon(0.1, 1.5), Err(InvalidDelta));
        assert_eq!(rho_to_epsilon(f64::NAN, 0.1), Err(InvalidParameter));
    }
}
