//! Directed rounding for the planning math: every helper returns a value on a *known side* of
//! the exact real result, so a chain of them yields a rigorous bound.
//!
//! Rust has no access to the FPU rounding mode, so the helpers round to nearest (the IEEE
//! default) and then step outward by a relative margin that dominates the rounding error,
//! plus [`f64::MIN_POSITIVE`] for results in the subnormal range (where a relative bound
//! does not hold).
//!
//! # The margins and why they dominate
//! - [`REL_ROUND`] = 2⁻⁵⁰ ≈ 8.9e-16 for one IEEE-754 operation (`+ − × ÷ √`), whose
//!   round-to-nearest error is ≤ 2⁻⁵³ relative: the margin is 8× the error. The step itself
//!   is rounded too, but `x ± |x|·2⁻⁵⁰` lies ≥ 4 ulp(x) away from `x`, so after rounding
//!   (≤ ½ ulp of a result that may sit in the next binade, i.e. ≤ 1 ulp(x)) it still lies
//!   ≥ 3 ulp(x) ≥ 1.5·2⁻⁵² |x| away — more than the 2⁻⁵³ |x| error it covers.
//! - [`REL_LIBM`] = 2⁻⁴⁴ ≈ 5.7e-14 for `libm::{exp, log, log1p, expm1}`. The `libm` crate is
//!   the FreeBSD/Sun msun code, whose sources state "the error is always less than 1 ulp"
//!   for each of these (`exp.rs`, `log.rs`, `log1p.rs`, `expm1.rs`); 1 ulp ≤ 2⁻⁵² relative,
//!   so the margin is 256× the documented error. The tests measure the real error against
//!   mpmath.
//! - The error function has its own, larger margin (see [`super::normal`]).
//!
//! Inputs to every helper are exact `f64` values; the *caller* proves monotonicity (e.g. that
//! an upper bound of a difference is `sub_up(upper, lower)`), and each call site says so.

/// Relative margin covering one correctly rounded IEEE operation (error ≤ 2⁻⁵³): 2⁻⁵⁰.
pub const REL_ROUND: f64 = 8.881_784_197_001_252e-16; // 2^-50

/// Relative margin covering one call of `libm::{exp, log, log1p, expm1}` (documented error
/// < 1 ulp ≤ 2⁻⁵² relative): 2⁻⁴⁴, i.e. 256× the documented error.
pub const REL_LIBM: f64 = 5.684_341_886_080_802e-14; // 2^-44

/// `x` moved up by `rel·|x|` and by the smallest normal number (covers subnormal results).
#[inline]
pub(crate) fn nudge_up(x: f64, rel: f64) -> f64 {
    x + x.abs() * rel + f64::MIN_POSITIVE
}

/// `x` moved down by `rel·|x|` and by the smallest normal number.
#[inline]
pub(crate) fn nudge_down(x: f64, rel: f64) -> f64 {
    x - x.abs() * rel - f64::MIN_POSITIVE
}

/// An upper bound on the exact `a + b`.
#[inline]
pub(crate) fn add_up(a: f64, b: f64) -> f64 {
    nudge_up(a + b, REL_ROUND)
}

/// A lower bound on the exact `a + b`.
#[inline]
pub(crate) fn add_down(a: f64, b: f64) -> f64 {
    nudge_down(a + b, REL_ROUND)
}

/// An upper bound on the exact `a − b`.
#[inline]
pub(crate) fn sub_up(a: f64, b: f64) -> f64 {
    nudge_up(a - b, REL_ROUND)
}

/// A lower bound on the exact `a − b`.
#[inline]
pub(crate) fn sub_down(a: f64, b: f64) -> f64 {
    nudge_down(a - b, REL_ROUND)
}

/// An upper bound on the exact `a · b`.
#[inline]
pub(crate) fn mul_up(a: f64, b: f64) -> f64 {
    nudge_up(a * b, REL_ROUND)
}

/// A lower bound on the exact `a · b`.
#[inline]
pub(crate) fn mul_down(a: f64, b: f64) -> f64 {
    nudge_down(a * b, REL_ROUND)
}

/// An upper bound on the exact `a / b`.
#[inline]
pub(crate) fn div_up(a: f64, b: f64) -> f64 {
    nudge_up(a / b, REL_ROUND)
}

/// A lower bound on the exact `a / b`.
#[inline]
pub(crate) fn div_down(a: f64, b: f64) -> f64 {
    nudge_down(a / b, REL_ROUND)
}

/// An upper bound on `√a` (`a ≥ 0`; `libm::sqrt` is correctly rounded, IEEE-754 §5.4.1).
#[inline]
pub(crate) fn sqrt_up(a: f64) -> f64 {
    nudge_up(libm::sqrt(a), REL_ROUND)
}

/// A lower bound on `√a` (`a ≥ 0`), never negative.
#[inline]
pub(crate) fn sqrt_down(a: f64) -> f64 {
    nudge_down(libm::sqrt(a), REL_ROUND).max(0.0)
}

/// An upper bound on `eᵃ`.
#[inline]
pub(crate) fn exp_up(a: f64) -> f64 {
    nudge_up(libm::exp(a), REL_LIBM)
}

/// A lower bound on `eᵃ`, never negative.
#[inline]
pub(crate) fn exp_down(a: f64) -> f64 {
    nudge_down(libm::exp(a), REL_LIBM).max(0.0)
}

/// An upper bound on `eᵃ − 1`.
#[inline]
pub(crate) fn expm1_up(a: f64) -> f64 {
    nudge_up(libm::expm1(a), REL_LIBM)
}

/// An upper bound on `ln a` (`a > 0`).
#[inline]
pub(crate) fn ln_up(a: f64) -> f64 {
    nudge_up(libm::log(a), REL_LIBM)
}

/// A lower bound on `ln a` (`a > 0`).
#[inline]
pub(crate) fn ln_down(a: f64) -> f64 {
    nudge_down(libm::log(a), REL_LIBM)
}

/// An upper bound on `ln(1 + a)` (`a > −1`).
#[inline]
pub(crate) fn ln_1p_up(a: f64) -> f64 {
    nudge_up(libm::log1p(a), REL_LIBM)
}

/// `n` as an `f64` that is ≥ `n` (exact for `n ≤ 2⁵³`; otherwise moved up past the rounding).
#[inline]
pub(crate) fn u64_up(n: u64) -> f64 {
    // `as` rounds to nearest; above 2⁵³ the error is ≤ 2⁻⁵³ relative, covered by REL_ROUND.
    if n <= (1u64 << 53) {
        n as f64
    } else {
        nudge_up(n as f64, REL_ROUND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nudges_bracket_exact_results() {
        // 0.1 + 0.2 is not exact in binary; the exact sum of the two f64 inputs lies between.
        let (a, b) = (0.1f64, 0.2f64);
        assert!(add_down(a, b) < a + b && a + b < add_up(a, b));
        // Exact results are strictly bracketed too (the margin is applied unconditionally).
        assert!(mul_down(3.0, 4.0) < 12.0 && 12.0 < mul_up(3.0, 4.0));
        // Subnormal results are still bracketed.
        let tiny = f64::MIN_POSITIVE / 1024.0;
        assert!(mul_up(tiny, 0.5) > tiny * 0.5 && mul_down(tiny, 0.5) < tiny * 0.5);
        // Relative width of a bracket is a few 2^-50, not more.
        let w = (div_up(1.0, 3.0) - div_down(1.0, 3.0)) / (1.0 / 3.0);
        assert!(w < 4.0 * REL_ROUND, "{w}");
    }

    #[test]
    fn u64_up_is_never_below() {
        for n in [0u64, 1, (1 << 53) + 1, u64::MAX, 12_345_678_901_234_567] {
            let f = u64_up(n);
            // Compare in u128 via the exact integer value of f (f ≤ 2^64 here).
            assert!(f >= n as f64);
            if n > 0 {
                assert!(f * (1.0 - 1e-15) <= n as f64 * (1.0 + 1e-15));
            }
        }
        assert_eq!(u64_up(12345), 12345.0);
    }

    #[test]
    fn libm_bounds_bracket_known_values() {
        // e = 2.718281828459045235360287..., ln 10 = 2.302585092994045684017991...
        let e = core::f64::consts::E;
        assert!(exp_down(1.0) <= e && e <= exp_up(1.0));
        let ln10 = core::f64::consts::LN_10;
        assert!(ln_down(10.0) <= ln10 && ln10 <= ln_up(10.0));
        assert!(sqrt_down(2.0) <= core::f64::consts::SQRT_2);
        assert!(core::f64::consts::SQRT_2 <= sqrt_up(2.0));
    }
}
