//! The standard normal CDF Φ with rigorous two-sided bounds.
//!
//! Φ(x) = erfc(−x/√2)/2 (Abramowitz & Stegun 7.1.2 and 26.2.29). Using `erfc` of a
//! *positive* argument for the lower tail keeps the full relative precision down to
//! Φ(−36) ≈ 4e-284; `1 − erf` would lose everything below 1e-16. δ values of 1e-10 and
//! smaller are computed from these tails, so this matters.
//!
//! # Error budget (why the bounds are rigorous)
//! 1. The argument `z = −x·(1/√2)` is one product with a rounded constant: its relative
//!    error is ≤ 2·2⁻⁵³. Φ is increasing in `x`, i.e. `erfc` is decreasing in `z`, so we
//!    evaluate at `z` moved *outward* by 2⁻⁵⁰·|z| (+ the smallest normal), which provably
//!    lies on the safe side of the exact argument (see [`super::rounding`]).
//! 2. `libm::erfc` (FreeBSD/Sun `s_erf.c`) has no single documented error bound, only
//!    bounds ≤ 2⁻⁵⁷·⁹ for each rational approximation, combined with `exp`, whose error is
//!    < 1 ulp. The tests measure it against mpmath at 258 points spanning the whole range
//!    used here (`z` from −6 to 25.5): the worst observed error is 2.4e-16 relative
//!    (1.1 ulp). We use [`REL_ERFC`] = 2⁻⁴⁰ ≈ 9.1e-13, ~3800× the measured error (the test
//!    fails if the headroom ever drops below 1000×, e.g. with a different `libm`).
//! 3. Below Φ(−36) < 1e-283 the `erfc` result approaches the subnormal range where no
//!    relative bound holds, so both bounds carry an absolute slack [`PHI_ABS`] = 1e-280:
//!    the upper bound is never below 1e-280 (true for every x ≤ −36 since Φ is increasing)
//!    and the lower bound is 0 there. Privacy parameters this small are never meaningful.
//! 4. The final products and halvings are covered by the same margins (`(1+2⁻⁴⁰)(1−2⁻⁵³)`
//!    still exceeds 1 + the measured `erfc` error).

use super::rounding::{REL_ROUND, nudge_down, nudge_up};

/// Relative margin applied to `libm::erfc`: 2⁻⁴⁰ ≈ 9.1e-13 (measured error 2.4e-16).
pub const REL_ERFC: f64 = 9.094_947_017_729_282e-13; // 2^-40

/// Absolute slack of the Φ bounds, covering the range where `erfc` leaves the normal
/// floating-point range (Φ(x) < 1e-283 for x < −36).
pub const PHI_ABS: f64 = 1e-280;

/// An upper bound on Φ(x), the standard normal CDF; always in (0, 1].
///
/// Returns 1 for `x = +∞` and [`PHI_ABS`] for `x = −∞`; a NaN input gives 1
/// (the safe side for a probability that is *added* to δ).
///
/// # Errors
/// None: this is a bound, so it is total.
pub fn normal_cdf_upper(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return 1.0;
    }
    if x == f64::NEG_INFINITY {
        return PHI_ABS;
    }
    let z = -x * core::f64::consts::FRAC_1_SQRT_2;
    // erfc is decreasing: a smaller argument gives a larger value.
    let z_lo = nudge_down(z, REL_ROUND);
    let e = libm::erfc(z_lo);
    let up = nudge_up(e, REL_ERFC) * 0.5 + PHI_ABS;
    if up.is_nan() { 1.0 } else { up.min(1.0) }
}

/// A lower bound on Φ(x), the standard normal CDF; always in [0, 1].
///
/// A NaN input gives 0 (the safe side for a probability that is *subtracted* from δ).
///
/// # Errors
/// None: this is a bound, so it is total.
pub fn normal_cdf_lower(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return 0.0;
    }
    if x == f64::INFINITY {
        return 1.0;
    }
    let z = -x * core::f64::consts::FRAC_1_SQRT_2;
    // erfc is decreasing: a larger argument gives a smaller value.
    let z_hi = nudge_up(z, REL_ROUND);
    let e = libm::erfc(z_hi);
    let lo = nudge_down(e, REL_ERFC) * 0.5 - PHI_ABS;
    if lo.is_nan() { 0.0 } else { lo.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(x, Φ(x), z, erfc(z))`, `z = −x·FRAC_1_SQRT_2` in f64. Computed with mpmath at 60
    /// digits by `docs/notes/privacy_ref.py phi`, printed to 17 significant digits.
    const TABLE: &[(f64, f64, f64, f64)] = &include!("normal_table.in");

    #[test]
    fn bounds_bracket_mpmath_and_are_tight() {
        assert_eq!(TABLE.len(), 258);
        let ulp = f64::EPSILON; // the table's own rounding is ≤ ½ ulp
        for &(x, phi, _, _) in TABLE {
            let (lo, up) = (normal_cdf_lower(x), normal_cdf_upper(x));
            assert!(lo <= phi * (1.0 + ulp), "lower {lo} > Φ({x}) = {phi}");
            assert!(up >= phi * (1.0 - ulp), "upper {up} < Φ({x}) = {phi}");
            // Tight: relative width ≤ 1e-11 wherever Φ is far above the absolute slack.
            if phi > 1e-270 {
                assert!((up - lo) / phi < 1e-11, "x = {x}: [{lo}, {up}] vs {phi}");
            }
        }
    }

    #[test]
    fn libm_erfc_error_is_far_below_the_margin() {
        // The margin REL_ERFC must dominate the real error; assert a 1000× headroom.
        assert_eq!(TABLE.len(), 258);
        let mut worst = 0.0f64;
        for &(x, _, z, erfc_ref) in TABLE {
            assert_eq!(
                z,
                -x * core::f64::consts::FRAC_1_SQRT_2,
                "table z for x = {x}"
            );
            let rel = ((libm::erfc(z) - erfc_ref) / erfc_ref).abs();
            worst = worst.max(rel);
        }
        assert!(worst * 1000.0 < REL_ERFC, "worst libm erfc error {worst:e}");
    }

    #[test]
    fn extremes_and_monotonicity() {
        assert_eq!(normal_cdf_upper(f64::INFINITY), 1.0);
        assert_eq!(normal_cdf_lower(f64::NEG_INFINITY), 0.0);
        assert_eq!(normal_cdf_upper(f64::NEG_INFINITY), PHI_ABS);
        assert_eq!(normal_cdf_lower(f64::INFINITY), 1.0);
        assert!(normal_cdf_upper(-1e300) <= 2.0 * PHI_ABS);
        assert!(normal_cdf_lower(1e300) >= 1.0 - 2.0 * REL_ERFC);
        assert_eq!(normal_cdf_upper(f64::NAN), 1.0);
        assert_eq!(normal_cdf_lower(f64::NAN), 0.0);
        assert!(normal_cdf_lower(40.0) <= 1.0 && normal_cdf_lower(40.0) > 0.999);
        let mut prev = 0.0;
        for i in 0..2000 {
            let x = -40.0 + 0.025 * f64::from(i);
            let u = normal_cdf_upper(x);
            assert!(u >= prev, "upper not monotone at {x}");
            prev = u;
        }
    }
}
