//! The Laplace scale for pure ε-DP, continuous or discrete.
//!
//! - Continuous: Dwork & Roth 2014, Theorem 3.6 — Lap(Δ₁/ε) noise per coordinate on a query
//!   of L1 sensitivity Δ₁ is (ε, 0)-DP.
//! - Discrete (what the crate samples): the discrete Laplace / two-sided geometric
//!   distribution P[Y = y] ∝ e^{−|y|/t} on ℤ, added to an **integer-valued** query. For
//!   neighbours q, q' the privacy loss at any output y is Σⱼ(|yⱼ − q'ⱼ| − |yⱼ − qⱼ|)/t ≤
//!   ‖q − q'‖₁/t by the triangle inequality (the normalising constants are equal because
//!   shifts are integers), so t ≥ Δ₁/ε gives ε-DP (Ghosh, Roughgarden & Sundararajan 2012,
//!   "Universally Utility-Maximizing Privacy Mechanisms"; Canonne, Kamath & Steinke 2020,
//!   arXiv:2004.00010, the discrete Laplace definition and its sampler).

use super::rounding::div_up;
use super::{check_epsilon, check_positive, finite_positive};
use crate::Result;

/// The Laplace scale t = Δ₁/ε, **rounded up**, for (ε, 0)-DP: continuous Laplace on any
/// query, or discrete Laplace (P(y) ∝ e^{−|y|/t}) on an integer-valued query with `l1` in
/// integer units.
///
/// Dwork & Roth 2014, Thm 3.6; Ghosh et al. 2012 / CKS20 for the discrete version (module
/// docs give the one-line proof). A larger scale only lowers the privacy loss (|y−q'|−|y−q|
/// is divided by a larger t), so rounding the quotient up is safe.
///
/// # Errors
/// [`crate::Error::InvalidEpsilon`] unless ε is finite and > 0;
/// [`crate::Error::InvalidParameter`] unless `l1` is finite and > 0, or if t overflows.
///
/// # Examples
/// ```
/// let t = dpxattn::privacy::laplace_scale(0.3, 1.0).unwrap();
/// assert!(t >= 1.0 / 0.3 && t < (1.0 / 0.3) * (1.0 + 1e-14));
/// ```
pub fn laplace_scale(epsilon: f64, l1: f64) -> Result<f64> {
    check_epsilon(epsilon)?;
    check_positive(l1)?;
    finite_positive(div_up(l1, epsilon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_rounded_up() {
        // 1/3 and 2/0.3 are not representable; the result must not be below the real quotient.
        for &(eps, l1) in &[(3.0, 1.0), (0.3, 2.0), (1e-6, 7.0), (0.7, 1e10)] {
            let t = laplace_scale(eps, l1).unwrap();
            // t·ε ≥ l1 up to the rounding of the check itself (one multiplication).
            assert!(t * eps * (1.0 + f64::EPSILON) >= l1, "{eps} {l1}: {t}");
            assert!(t <= (l1 / eps) * (1.0 + 1e-14));
        }
    }

    #[test]
    fn invalid_inputs_are_named_errors() {
        use crate::Error::*;
        assert_eq!(laplace_scale(0.0, 1.0), Err(InvalidEpsilon));
        assert_eq!(laplace_scale(f64::NAN, 1.0), Err(InvalidEpsilon));
        assert_eq!(laplace_scale(1.0, -1.0), Err(InvalidParameter));
        assert_eq!(laplace_scale(1e-300, 1e300), Err(InvalidParameter));
    }
}
