//! The classical Gaussian mechanism calibration, kept **for comparison only**.
//!
//! **Theorem (Dwork & Roth 2014, "The Algorithmic Foundations of Differential Privacy",
//! Theorem A.1, also Thm 3.22).** Let ε ∈ (0, 1). For c² > 2 ln(1.25/δ), Gaussian noise with
//! σ ≥ c·Δ₂/ε is (ε, δ)-DP. The analytic calibration ([`super::analytic_gaussian`]) is
//! exact and always needs less noise; this one is what most papers (including the one this
//! crate implements) use, so the evaluation reports both. For ε ≥ 1 the theorem does not
//! hold (Balle & Wang 2018, §3 show it fails), so we refuse to answer.

use super::rounding::{div_up, ln_up, mul_up, sqrt_up};
use super::{check_delta, check_epsilon, check_positive, finite_positive};
use crate::{Error, Result};

/// σ = Δ·√(2 ln(1.25/δ))/ε of Dwork & Roth 2014, Thm A.1, **rounded up** — valid only for
/// ε < 1; for comparison with [`super::analytic_gaussian_sigma`], which is always smaller.
///
/// Every step is rounded up (1.25/δ, its logarithm, the square root, the product and the
/// quotient), so the result is strictly above c·Δ/ε for c² = 2 ln(1.25/δ), as the theorem's
/// strict inequality requires.
///
/// # Errors
/// [`Error::InvalidEpsilon`] unless 0 < ε < 1 (the theorem's range); [`Error::InvalidDelta`]
/// unless δ ∈ (0, 1); [`Error::InvalidParameter`] unless `l2` is finite and > 0.
///
/// # Examples
/// ```
/// let s = dpxattn::privacy::classical_gaussian_sigma(0.5, 1e-5, 1.0).unwrap();
/// assert!(s > 9.6896); // √(2 ln 125000)/0.5 = 9.68961...
/// assert!(dpxattn::privacy::classical_gaussian_sigma(1.0, 1e-5, 1.0).is_err());
/// ```
pub fn classical_gaussian_sigma(epsilon: f64, delta: f64, l2: f64) -> Result<f64> {
    check_epsilon(epsilon)?;
    if epsilon >= 1.0 {
        return Err(Error::InvalidEpsilon);
    }
    check_delta(delta)?;
    check_positive(l2)?;
    let c = sqrt_up(mul_up(2.0, ln_up(div_up(1.25, delta))));
    finite_positive(div_up(mul_up(l2, c), epsilon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::analytic_gaussian_sigma;

    #[test]
    fn classical_is_above_analytic_and_matches_the_formula() {
        for &eps in &[0.01, 0.1, 0.5, 0.9, 0.999] {
            for &delta in &[1e-3, 1e-5, 1e-8, 1e-10, 1e-20] {
                let c = classical_gaussian_sigma(eps, delta, 2.0).unwrap();
                let a = analytic_gaussian_sigma(eps, delta, 2.0).unwrap();
                assert!(c > a, "ε={eps} δ={delta}: classical {c} ≤ analytic {a}");
                let plain = 2.0 * libm::sqrt(2.0 * libm::log(1.25 / delta)) / eps;
                assert!(c >= plain && c < plain * (1.0 + 1e-12), "{c} vs {plain}");
            }
        }
    }

    #[test]
    fn invalid_inputs_are_named_errors() {
        use crate::Error::*;
        assert_eq!(
            classical_gaussian_sigma(1.0, 1e-5, 1.0),
            Err(InvalidEpsilon)
        );
        assert_eq!(
            classical_gaussian_sigma(2.0, 1e-5, 1.0),
            Err(InvalidEpsilon)
        );
        assert_eq!(
            classical_gaussian_sigma(0.0, 1e-5, 1.0),
            Err(InvalidEpsilon)
        );
        assert_eq!(classical_gaussian_sigma(0.5, 0.0, 1.0), Err(InvalidDelta));
        assert_eq!(
            classical_gaussian_sigma(0.5, 1e-5, 0.0),
            Err(InvalidParameter)
        );
    }
}
