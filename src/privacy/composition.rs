//! Releasing several mechanisms on the same rows: joint Gaussian calibration, and the
//! basic and advanced composition splits (the latter is the paper's baseline, DESIGN §2.7).
//!
//! **Why calibrate Gaussians jointly.** `k` Gaussian mechanisms on the same data, each of L2
//! sensitivity Δ and noise N(0, σ²I), released together, *are* one Gaussian mechanism on the
//! concatenated output, whose L2 sensitivity is √(Σᵢ Δᵢ²) ≤ √k·Δ (the norm of the
//! concatenated difference — an identity, no slack beyond the per-part bounds). So one exact
//! calibration (Balle & Wang 2018, Thm 8) at Δ_joint = √k·Δ suffices, and σ grows like √k.
//! The same holds for adaptively chosen parts (Gaussian DP composes exactly: Dong, Roth &
//! Su 2019, Cor. 3.3, μ = √(Σ μᵢ²)). Splitting (ε, δ) instead — basic composition, ε/k per
//! part — makes σ grow like k·√(ln(k/δ)), and even advanced composition like
//! √(k ln(1/δ))·√(ln(k/δ)). Measured (ε = 1, δ = 1e-6, Δ = 1 per part; σ):
//!
//! | k | joint | basic split | advanced split |
//! |---|---|---|---|
//! | 16 | 16.9 | 66.1 | 93.6 |
//! | 153 | 52.3 | 631 | 305 |
//! | 4845 | 294 | 19 974 | 1 844 |

use super::analytic_gaussian_sigma;
use super::rounding::{add_up, div_down, expm1_up, ln_down, mul_up, sqrt_up, u64_up};
use super::search::largest_passing;
use super::{check_delta, check_epsilon, check_positive};
use crate::{Error, Result};

/// σ for `parts` Gaussian mechanisms released together on the same rows, each with L2
/// sensitivity `l2_per_part`, so that the **whole release** is (ε, δ)-DP — rounded up.
///
/// The release is one Gaussian mechanism with sensitivity √parts·Δ (module docs), so this
/// is [`analytic_gaussian_sigma`]`(ε, δ, √parts·Δ)` with √parts·Δ rounded up (a larger
/// sensitivity is a weaker, safe claim). This beats splitting (ε, δ) between the parts,
/// which grows σ linearly in `parts` instead of as √parts.
///
/// # Errors
/// As [`analytic_gaussian_sigma`]; [`Error::InvalidDimension`] if `parts` is 0.
///
/// # Examples
/// ```
/// use dpxattn::privacy::{analytic_gaussian_sigma, gaussian_sigma_for_parts};
/// let joint = gaussian_sigma_for_parts(1.0, 1e-6, 1.0, 16).unwrap();
/// let one = analytic_gaussian_sigma(1.0, 1e-6, 4.0).unwrap(); // √16 · 1
/// assert!(joint >= one && joint < one * (1.0 + 1e-12));
/// ```
pub fn gaussian_sigma_for_parts(
    epsilon: f64,
    delta: f64,
    l2_per_part: f64,
    parts: u32,
) -> Result<f64> {
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    check_positive(l2_per_part)?;
    if parts == 0 {
        return Err(Error::InvalidDimension);
    }
    let joint = mul_up(sqrt_up(f64::from(parts)), l2_per_part);
    check_positive(joint)?;
    analytic_gaussian_sigma(epsilon, delta, joint)
}

/// Basic composition split: each of `parts` mechanisms gets (ε/parts, δ/parts), both
/// **rounded down**, so that the parts compose to at most (ε, δ).
///
/// Dwork & Roth 2014, Theorem 3.16 (k-fold composition of (εᵢ, δᵢ)-DP mechanisms is
/// (Σεᵢ, Σδᵢ)-DP). Rounded down so that parts·εᵢ ≤ ε and parts·δᵢ ≤ δ hold exactly.
///
/// # Errors
/// [`Error::InvalidEpsilon`], [`Error::InvalidDelta`]; [`Error::InvalidDimension`] if
/// `parts` is 0; [`Error::InvalidParameter`] if a share underflows to 0.
///
/// # Examples
/// ```
/// let (e, d) = dpxattn::privacy::split_basic(1.0, 1e-6, 3).unwrap();
/// assert!(3.0 * e <= 1.0 && 3.0 * d <= 1e-6 && e > 0.3333);
/// ```
pub fn split_basic(epsilon: f64, delta: f64, parts: u32) -> Result<(f64, f64)> {
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    if parts == 0 {
        return Err(Error::InvalidDimension);
    }
    let k = f64::from(parts);
    let (e, d) = (div_down(epsilon, k), div_down(delta, k));
    if e > 0.0 && d > 0.0 {
        Ok((e, d))
    } else {
        Err(Error::InvalidParameter)
    }
}

/// The per-mechanism (ε₀, δ₀) of the **paper's baseline** (DESIGN §2.7): `k` (ε₀, δ₀)-DP
/// mechanisms composed adaptively are (ε, δ)-DP by advanced composition, with δ'' = δ/2
/// and δ₀ = δ/(2k). Both are **rounded down**.
///
/// Dwork, Rothblum & Vadhan 2010; Dwork & Roth 2014, Theorem 3.20: for all ε₀, δ₀, δ'' ≥ 0,
/// k-fold adaptive composition of (ε₀, δ₀)-DP mechanisms is (ε', kδ₀ + δ'')-DP with
/// ε' = √(2k ln(1/δ''))·ε₀ + k·ε₀(e^{ε₀} − 1). ε₀ is the largest value (bisection, to a
/// relative 1.2e-13) at which a rigorous **upper** bound on ε' is ≤ ε, so the true ε' is ≤ ε;
/// δ₀ = δ/(2k) rounded down makes kδ₀ + δ/2 ≤ δ.
///
/// # Errors
/// [`Error::InvalidEpsilon`], [`Error::InvalidDelta`]; [`Error::InvalidDimension`] if `k` is
/// 0; [`Error::InvalidParameter`] if ε₀ or δ₀ underflows to 0.
///
/// # Examples
/// ```
/// // mpmath: ε = 1, δ = 1e-5, k = 100 → ε₀ = 0.019465016540916754.
/// let (e0, d0) = dpxattn::privacy::advanced_composition_split(1.0, 1e-5, 100).unwrap();
/// assert!(e0 <= 0.019465016540916754 && e0 > 0.019465016540916754 * (1.0 - 1e-9));
/// assert!(100.0 * d0 <= 0.5e-5);
/// ```
pub fn advanced_composition_split(epsilon: f64, delta: f64, k: u64) -> Result<(f64, f64)> {
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    if k == 0 {
        return Err(Error::InvalidDimension);
    }
    let k_hi = u64_up(k);
    // δ'' = δ/2 (exact halving, or rounded down if subnormal), δ₀ = (δ/2)/k rounded down.
    let delta_pp = div_down(delta, 2.0);
    let delta0 = div_down(delta_pp, k_hi);
    if !(delta_pp > 0.0 && delta0 > 0.0) {
        return Err(Error::InvalidParameter);
    }
    // c ≥ √(2k ln(1/δ'')): ln(1/δ'') = −ln δ'' ≤ −ln_down(δ'').
    let ln_inv = -ln_down(delta_pp);
    let c = sqrt_up(mul_up(mul_up(2.0, k_hi), ln_inv));
    // ε'(e0) ≤ c·e0 + k·e0·(e^{e0} − 1), every term rounded up (all are ≥ 0, increasing).
    let eps_upper = |e0: f64| add_up(mul_up(c, e0), mul_up(mul_up(k_hi, e0), expm1_up(e0)));
    // ε'(0) = 0 ≤ ε; ε'(ε) ≥ c·ε > ε since c ≥ √(2 ln 2) > 1 (δ'' < ½).
    let e0 = largest_passing(0.0, epsilon, |e0| eps_upper(e0) <= epsilon);
    if e0 > 0.0 {
        Ok((e0, delta0))
    } else {
        Err(Error::InvalidParameter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(ε, δ, k, ε₀)`: the exact largest ε₀ of DR14 Thm 3.20 with δ'' = δ/2, mpmath at 60
    /// digits (`python3 docs/notes/privacy_ref.py adv`).
    const ADV_REF: &[(f64, f64, u64, f64)] = &[
        (1.0, 1e-05, 100, 0.019465016540916754),
        (1.0, 1e-06, 10000, 0.0017964360169053456),
        (4.0, 1e-08, 9945, 0.005920355396425079),
        (0.5, 1e-05, 10, 0.03136177753471029),
        (8.0, 1e-10, 1, 0.9454572074765011),
        (2.0, 1e-06, 1000000, 0.0003487032243101921),
    ];

    #[test]
    fn advanced_composition_matches_mpmath_from_below() {
        assert_eq!(ADV_REF.len(), 6);
        for &(eps, delta, k, exact) in ADV_REF {
            let (e0, d0) = advanced_composition_split(eps, delta, k).unwrap();
            assert!(
                e0 <= exact * (1.0 + f64::EPSILON),
                "{eps} {delta} {k}: {e0} > {exact}"
            );
            assert!(
                e0 >= exact * (1.0 - 1e-9),
                "{eps} {delta} {k}: {e0} vs {exact}"
            );
            // k δ₀ + δ/2 ≤ δ, checked in exact integer-free form: δ₀ ≤ δ/(2k).
            assert!(d0 * (k as f64) * (1.0 + f64::EPSILON) <= delta / 2.0 * (1.0 + 1e-15));
            // Plug back in: the composed ε (plain f64) is at most ε up to evaluation noise.
            let kf = k as f64;
            let composed =
                libm::sqrt(2.0 * kf * libm::log(2.0 / delta)) * e0 + kf * e0 * libm::expm1(e0);
            assert!(composed <= eps * (1.0 + 1e-12), "{composed} > {eps}");
        }
    }

    #[test]
    fn joint_gaussian_beats_splitting() {
        let (eps, delta, l2) = (1.0, 1e-6, 1.0);
        for k in [1u32, 4, 16, 153, 4845] {
            let joint = gaussian_sigma_for_parts(eps, delta, l2, k).unwrap();
            let (e, d) = split_basic(eps, delta, k).unwrap();
            let basic = analytic_gaussian_sigma(e, d, l2).unwrap();
            let (e0, d0) = advanced_composition_split(eps, delta, u64::from(k)).unwrap();
            let adv = analytic_gaussian_sigma(e0, d0, l2).unwrap();
            assert!(
                joint <= basic * (1.0 + 1e-12),
                "k={k}: joint {joint} > basic {basic}"
            );
            assert!(joint <= adv, "k={k}: joint {joint} > advanced {adv}");
            if k >= 16 {
                assert!(joint * 2.0 < basic.min(adv), "k={k}: {joint} {basic} {adv}");
            }
        }
    }

    #[test]
    fn basic_split_rounds_down() {
        for k in [1u32, 3, 7, 10, 1_000_003] {
            let (e, d) = split_basic(1.0, 1e-7, k).unwrap();
            let kf = f64::from(k);
            assert!(e <= 1.0 / kf && d <= 1e-7 / kf);
            assert!(e >= (1.0 / kf) * (1.0 - 1e-14));
        }
    }

    #[test]
    fn invalid_inputs_are_named_errors() {
        use crate::Error::*;
        assert_eq!(split_basic(1.0, 1e-6, 0), Err(InvalidDimension));
        assert_eq!(split_basic(0.0, 1e-6, 2), Err(InvalidEpsilon));
        assert_eq!(split_basic(1.0, 1.0, 2), Err(InvalidDelta));
        assert_eq!(
            advanced_composition_split(1.0, 1e-6, 0),
            Err(InvalidDimension)
        );
        assert_eq!(
            advanced_composition_split(f64::NAN, 1e-6, 3),
            Err(InvalidEpsilon)
        );
        assert_eq!(advanced_composition_split(1.0, -1e-6, 3), Err(InvalidDelta));
        assert_eq!(
            gaussian_sigma_for_parts(1.0, 1e-6, 1.0, 0),
            Err(InvalidDimension)
        );
        assert_eq!(
            gaussian_sigma_for_parts(1.0, 1e-6, 0.0, 3),
            Err(InvalidParameter)
        );
        assert_eq!(
            gaussian_sigma_for_parts(1.0, 0.0, 1.0, 3),
            Err(InvalidDelta)
        );
    }
}
