//! Calibration of one tree: its fixed-point grid, integer sensitivities and integer noise scale.
//!
//! Every tree in the family stores sums of *contributions* (one value of a [`DPTree`], one
//! weight or weight·coordinate product of a distance structure). Each contribution `c` is a
//! real number with `|c| ≤ C` (a public bound) and is stored as the integer
//! `round(c · 2^F)` on the public grid of step `h = 2^−F`. Neighbouring inputs differ in one
//! contribution, which may change value *and* leaf (replace-one).
//!
//! # Sensitivity (integer units)
//! Rounding to nearest is monotone, so `|round(c·2^F)| ≤ round(C·2^F) =: D` for every
//! `|c| ≤ C`: the rounding of inputs is inside `D`. Replacing one contribution `u` (leaf `j`)
//! by `u'` (leaf `j'`) changes at most `L = ⌊log2 n⌋ + 1` nodes containing `j` and `L`
//! containing `j'` (see `fenwick`). With `c` nodes in common the changes are `−u` on the
//! `L − c` nodes of `j` only, `+u'` on the `L − c` of `j'` only and `u' − u` on the common
//! ones, so
//! - L1 ≤ (L−c)(|u|+|u'|) + c·|u'−u| ≤ 2·D·L,
//! - L2² ≤ (L−c)(u²+u'²) + c(u'−u)² ≤ 2(L−c)D² + 4cD² ≤ 4·D²·L, i.e. L2 ≤ 2·D·√L.
//!
//! These are the usual tree-mechanism factors (L1 × L, L2 × √L) applied to the replace-one
//! change `2D` of one contribution.
//!
//! # Noise
//! - Laplace (ε-DP): discrete Laplace of scale `b ≥ L1/ε` on every node. The vector of node
//!   sums has L1 sensitivity L1, and `P[z]/P[z+k] ≤ e^{|k|/b}` per coordinate, so the
//!   product over coordinates is ≤ `e^{L1/b} ≤ e^ε` (Canonne, Kamath, Steinke 2020,
//!   *The Discrete Gaussian for Differential Privacy*, Sec. 2 — the discrete Laplace
//!   mechanism).
//! - Gaussian, single structure ((ε,δ)-DP): σ from `privacy::discrete_gaussian_sigma`,
//!   which applies the analytic Gaussian condition (Balle & Wang 2018, Thm 8) to the L2
//!   sensitivity and the multivariate discrete-Gaussian correction of CKS20 over `dims`
//!   coordinates.
//! - Gaussian, part of a composition (zCDP): the discrete Gaussian with σ on L2 sensitivity
//!   Δ is `Δ²/(2σ²)`-zCDP, also for vectors of independent coordinates with Δ the L2
//!   sensitivity (CKS20, concentrated-DP analysis of the discrete Gaussian mechanism); zCDP
//!   adds up over parts (Bun & Steinke 2016, Lemma 2.3), and the total is converted to (ε,δ) once (`privacy::rho_to_epsilon`).
//!
//! The integer scale is rounded **up** to a rational (`ceil`, see [`ceil_rational`]); a
//! larger scale only adds privacy.
//!
//! # Grid choice and overflow
//! The grid depends on public parameters only. `F` is the largest integer such that the
//! integer noise scale is at most `2^SCALE_TARGET_BITS` (so sampler cost stays bounded and
//! each contribution's rounding error, ≤ h/2, is ≤ 2^−SCALE_TARGET_BITS of one node's noise
//! scale), then lowered until `count_max · D ≤ 2^52` and raised until `D ≥ 1`. With that cap
//! every exact node sum (at most `count_max` contributions) has magnitude ≤ 2^52, the noisy
//! node `sum + z` is formed with `checked_add` (a sample beyond ±(2^63 − 2^52) is reported
//! as [`Error::SampleOverflow`]), and a query adds at most 2·64 node words in `i128`, which
//! cannot overflow.

use super::Noise;
use crate::privacy;
use crate::{Error, Result};

/// The integer noise scale (σ or Laplace `b`, integer units) that the grid aims for: `F` is
/// chosen so that the scale is at most `2^SCALE_TARGET_BITS` (and more than half of it
/// unless the overflow cap binds).
pub const SCALE_TARGET_BITS: i32 = 24;

/// The largest magnitude of an exact node sum (`count_max · D ≤ MAX_SUM`).
pub const MAX_SUM: u64 = 1 << 52;

/// What one tree may spend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Budget {
    /// Pure ε for this tree (discrete Laplace).
    Laplace { epsilon: f64 },
    /// (ε, δ) for this tree alone (discrete Gaussian, analytic calibration); `dims` is the
    /// number of noised coordinates (nodes).
    GaussianDp { epsilon: f64, delta: f64, dims: u64 },
    /// A zCDP budget ρ for this tree (discrete Gaussian), as part of a composition.
    GaussianRho { rho: f64 },
}

/// The public calibration of one tree: grid, integer sensitivities and integer noise scale.
///
/// All integer quantities are in grid units (`h = 2^−frac_bits`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Calibration {
    /// Fraction bits `F` of the grid: a contribution `c` is stored as `round(c · 2^F)`.
    pub frac_bits: i32,
    /// The grid step `h = 2^−F` (exact).
    pub grid: f64,
    /// `D = round(C · 2^F)`: bound on one stored contribution (rounding included).
    pub bound_int: u64,
    /// Replace-one L1 sensitivity of the node vector, `2·D·L`.
    pub l1_sensitivity: u64,
    /// Replace-one L2 sensitivity of the node vector, `2·D·√L`, rounded up.
    pub l2_sensitivity: f64,
    /// Numerator of the integer noise scale (σ of the discrete Gaussian, or `b` of the
    /// discrete Laplace); exactly what the sampler uses.
    pub scale_num: u64,
    /// Denominator of the integer noise scale.
    pub scale_den: u64,
    /// `scale_num / scale_den` as `f64`, rounded up.
    pub scale: f64,
}

impl Calibration {
    /// Re-derive the public numbers from what an image stores (grid, `D`, scale) and `L`.
    pub(crate) fn from_stored(
        frac_bits: i32,
        bound_int: u64,
        scale_num: u64,
        scale_den: u64,
        levels: u32,
    ) -> Result<Self> {
        if bound_int == 0
            || bound_int > MAX_SUM
            || scale_den == 0
            || !(-1000..=1000).contains(&frac_bits)
        {
            return Err(Error::CorruptImage);
        }
        let l1 = bound_int
            .checked_mul(2)
            .and_then(|x| x.checked_mul(u64::from(levels)))
            .ok_or(Error::CorruptImage)?;
        Ok(Calibration {
            frac_bits,
            grid: libm::scalbn(1.0, -frac_bits),
            bound_int,
            l1_sensitivity: l1,
            l2_sensitivity: l2_sensitivity(bound_int, levels),
            scale_num,
            scale_den,
            scale: rational_up_f64(scale_num, scale_den),
        })
    }

    /// Re-derive the public numbers of a *vector* tree (softmax) from what its image
    /// stores; see [`plan_vector_part`].
    pub(crate) fn from_stored_vector(
        frac_bits: i32,
        scale_num: u64,
        scale_den: u64,
        levels: u32,
        width: u64,
    ) -> Result<Self> {
        if !(0..=52).contains(&frac_bits) || scale_den == 0 {
            return Err(Error::CorruptImage);
        }
        let bound_int = 1u64 << frac_bits;
        Ok(Calibration {
            frac_bits,
            grid: libm::scalbn(1.0, -frac_bits),
            bound_int,
            l1_sensitivity: vector_l1(bound_int, levels, width),
            l2_sensitivity: l2_sensitivity(bound_int, levels),
            scale_num,
            scale_den,
            scale: rational_up_f64(scale_num, scale_den),
        })
    }

    /// The noise scale in real units (`scale · h`), rounded up.
    pub fn scale_real(&self) -> f64 {
        (self.scale * self.grid).next_up()
    }

    /// Real value of an integer-unit quantity.
    pub(crate) fn real(self, x: f64) -> f64 {
        libm::scalbn(x, -self.frac_bits)
    }
}

/// `2·D·√L` rounded up (`D ≤ 2^52`, so `2D` is exact in `f64`; `sqrt` and the product each
/// round by ≤ ½ ulp, and each `next_up` covers one of them).
fn l2_sensitivity(bound_int: u64, levels: u32) -> f64 {
    let sqrt_l = libm::sqrt(f64::from(levels)).next_up();
    (2.0 * bound_int as f64 * sqrt_l).next_up()
}

/// `num / den` as `f64`, rounded up (two roundings, two `next_up`s; one more for the
/// conversions of `num` and `den` to `f64`, which may round to nearest).
pub(crate) fn rational_up_f64(num: u64, den: u64) -> f64 {
    if den == 0 {
        return f64::INFINITY;
    }
    let n = (num as f64).next_up();
    let d = (den as f64).next_down();
    (n / d).next_up()
}

/// The smallest rational `num/den ≥ x` with `den = 1` (when `x ≥ 2^16`) or `den = 2^16`.
///
/// `x · 2^16` is exact in `f64` (power-of-two scaling) and `ceil` is exact, so the result
/// is never below `x`; the relative increase is at most `2^−16`.
pub(crate) fn ceil_rational(x: f64) -> Result<(u64, u64)> {
    if !(x.is_finite() && x > 0.0) {
        return Err(Error::InvalidParameter);
    }
    const TWO16: f64 = 65536.0;
    let (num, den) = if x >= TWO16 {
        (libm::ceil(x), 1u64)
    } else {
        (libm::ceil(libm::scalbn(x, 16)), 1u64 << 16)
    };
    // 2^63 as f64 is exact; anything at or above it does not fit the sampler's u64.
    if num >= 9_223_372_036_854_775_808.0 {
        return Err(Error::PrecisionTooLow);
    }
    Ok((num as u64, den))
}

/// Largest ρ (zCDP) whose conversion by `privacy::rho_to_epsilon(ρ, δ)` is ≤ ε.
///
/// Bisection on a monotone function; every accepted candidate was checked with the
/// (safe-side) conversion itself, so the answer is certified whatever the float error.
pub(crate) fn rho_for(epsilon: f64, delta: f64) -> Result<f64> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(Error::InvalidEpsilon);
    }
    if !(delta > 0.0 && delta < 1.0) {
        return Err(Error::InvalidDelta);
    }
    // ε(ρ) ≥ ρ for the CKS20 conversion, so ρ ≤ ε.
    let mut hi = epsilon;
    if privacy::rho_to_epsilon(hi, delta)? <= epsilon {
        return Ok(hi);
    }
    // Start from the classical conversion ε = ρ + 2√(ρ·ln(1/δ)) (Bun & Steinke 2016,
    // Prop. 1.3), whose inverse is certified by the tighter CKS20 conversion in practice;
    // it is checked like every other candidate, and bisection from 0 is the fallback.
    let l = libm::log(1.0 / delta);
    let guess = {
        let r = libm::sqrt(l + epsilon) - libm::sqrt(l);
        r * r
    };
    let mut lo = 0.0f64;
    let guess = guess * (1.0 - 1e-6);
    if guess > 0.0 && guess < hi && privacy::rho_to_epsilon(guess, delta)? <= epsilon {
        lo = guess;
        // The CKS20 conversion gains well under 4× over the classical one: bracket tightly.
        let up = (4.0 * guess).min(hi);
        if privacy::rho_to_epsilon(up, delta)? <= epsilon {
            lo = up;
        } else {
            hi = up;
        }
    }
    // Bisection to a relative 2^−20 (the returned ρ is the certified lower end; giving up
    // a millionth of ρ only adds privacy).
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi || (lo > 0.0 && hi - lo <= lo * 9.6e-7) {
            break;
        }
        if privacy::rho_to_epsilon(mid, delta)? <= epsilon {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo > 0.0 {
        Ok(lo)
    } else {
        Err(Error::InvalidEpsilon)
    }
}

/// Calibrate one tree.
///
/// - `contrib_bound` (`C`): bound on one contribution, real units, finite and > 0;
/// - `count_max`: the most contributions one node can sum (≤ 2^32);
/// - `levels` (`L`): nodes per leaf, `⌊log2 leaves⌋ + 1`.
pub(crate) fn plan_part(
    noise: Noise,
    contrib_bound: f64,
    count_max: u64,
    levels: u32,
    budget: Budget,
) -> Result<Calibration> {
    if !(contrib_bound.is_finite() && contrib_bound > 0.0) {
        return Err(Error::InvalidParameter);
    }
    if count_max == 0 || count_max > (1 << 32) || levels == 0 || levels > 64 {
        return Err(Error::InvalidDimension);
    }
    match (noise, budget) {
        (Noise::Laplace, Budget::Laplace { .. })
        | (Noise::Gaussian, Budget::GaussianDp { .. })
        | (Noise::Gaussian, Budget::GaussianRho { .. }) => {}
        _ => return Err(Error::InvalidParameter),
    }
    let lf = f64::from(levels);
    let sqrt_l = libm::sqrt(lf).next_up();

    // 1. Estimate the real-unit scale to pick the grid. Only the grid depends on this
    //    estimate; the privacy of the result rests on step 3 alone.
    let unit = match budget {
        // The analytic σ is linear in Δ; the discrete correction only matters in step 3.
        Budget::GaussianDp { epsilon, delta, .. } => {
            privacy::analytic_gaussian_sigma(epsilon, delta, (2.0 * sqrt_l).next_up())?
        }
        _ => scale_for(budget, 2.0 * lf, (2.0 * sqrt_l).next_up())?,
    };
    let est = unit * contrib_bound;
    if !(est.is_finite() && est > 0.0) {
        return Err(Error::InvalidParameter);
    }
    let (m, e) = libm::frexp(est); // est = m · 2^e, m ∈ [0.5, 1)
    // Largest F with est · 2^F ≤ 2^T: F = floor(T − log2 est).
    let mut f = if m == 0.5 {
        SCALE_TARGET_BITS - e + 1
    } else {
        SCALE_TARGET_BITS - e
    };

    // 2. Cap for overflow, floor for a non-degenerate grid. D doubles per step of F and
    //    count_max ≤ 2^32 < 2^52, so the two conditions cannot both fail: the loop ends.
    let mut bound_int = 0u64;
    for _ in 0..4200 {
        let d = libm::round(libm::scalbn(contrib_bound, f));
        if d < 1.0 {
            f = f.checked_add(1).ok_or(Error::PrecisionTooLow)?;
            continue;
        }
        if d > MAX_SUM as f64 {
            f = f.checked_sub(1).ok_or(Error::PrecisionTooLow)?;
            continue;
        }
        // d ≤ 2^52 is an integer in f64: the conversion is exact.
        let di = d as u64;
        if u128::from(di) * u128::from(count_max) > u128::from(MAX_SUM) {
            f = f.checked_sub(1).ok_or(Error::PrecisionTooLow)?;
            continue;
        }
        bound_int = di;
        break;
    }
    if bound_int == 0 {
        return Err(Error::PrecisionTooLow);
    }

    // 3. Integer sensitivities and the integer scale, rounded up.
    let l1 = bound_int
        .checked_mul(2)
        .and_then(|x| x.checked_mul(u64::from(levels)))
        .ok_or(Error::SizeOverflow)?;
    let l1_f = {
        let x = l1 as f64;
        // u64 → f64 rounds to nearest; make sure the f64 is not below the integer.
        if (x as u128) < u128::from(l1) {
            x.next_up()
        } else {
            x
        }
    };
    let l2 = l2_sensitivity(bound_int, levels);
    let s_int = scale_for(budget, l1_f, l2)?;
    let (num, den) = ceil_rational(s_int)?;
    Ok(Calibration {
        frac_bits: f,
        grid: libm::scalbn(1.0, -f),
        bound_int,
        l1_sensitivity: l1,
        l2_sensitivity: l2,
        scale_num: num,
        scale_den: den,
        scale: rational_up_f64(num, den),
    })
}

/// Calibrate one tree of *vector* contributions (softmax): each contribution is an integer
/// vector `c` with `‖c‖₂ ≤ 2^F` (truncation toward zero keeps the norm of `w·ψ` with
/// `|w| ≤ 1`, `‖ψ‖ ≤ 1`; see `softmax.rs`), every component `|c_α| ≤ 2^F`.
///
/// Replace-one keeps the leaf (tokens are positional), so each of the `L` nodes of that leaf
/// changes by the same `c' − c`, `‖c' − c‖ ≤ 2^{F+1}`: L2 sensitivity `2^{F+1}·√L`. The
/// discrete Gaussian σ comes from `privacy::discrete_gaussian_sigma(ε, δ, L2, dims)` over
/// all `dims = leaves · width` coordinates. `F` aims the integer σ at `2^SCALE_TARGET_BITS`,
/// within `[0, 60]` and with `count_max · 2^F ≤ 2^52` (no component sum can overflow).
pub(crate) fn plan_vector_part(
    count_max: u64,
    levels: u32,
    width: u64,
    epsilon: f64,
    delta: f64,
    dims: u64,
) -> Result<Calibration> {
    if count_max == 0 || count_max > (1 << 32) || levels == 0 || levels > 64 || width == 0 {
        return Err(Error::InvalidDimension);
    }
    let sqrt_l = libm::sqrt(f64::from(levels)).next_up();
    let unit = privacy::analytic_gaussian_sigma(epsilon, delta, (2.0 * sqrt_l).next_up())?;
    if !(unit.is_finite() && unit > 0.0) {
        return Err(Error::InvalidParameter);
    }
    let (m, e) = libm::frexp(unit);
    let target = if m == 0.5 {
        SCALE_TARGET_BITS - e + 1
    } else {
        SCALE_TARGET_BITS - e
    };
    // count_max · 2^F ≤ 2^52 ⇔ F ≤ 52 − ⌈log2 count_max⌉.
    let cap = 52 - (64 - (count_max - 1).leading_zeros()) as i32;
    let f = target.min(cap).clamp(0, 60);
    let bound_int = 1u64 << f;
    let l1 = vector_l1(bound_int, levels, width);
    let l2 = l2_sensitivity(bound_int, levels);
    let sigma = privacy::discrete_gaussian_sigma(epsilon, delta, l2, dims)?;
    let (num, den) = ceil_rational(sigma)?;
    Ok(Calibration {
        frac_bits: f,
        grid: libm::scalbn(1.0, -f),
        bound_int,
        l1_sensitivity: l1,
        l2_sensitivity: l2,
        scale_num: num,
        scale_den: den,
        scale: rational_up_f64(num, den),
    })
}

/// L1 bound of a vector tree's node vector under replace-one: `‖v‖₁ ≤ √W·‖v‖₂`, so
/// `2·D·L·√W` (informative; the Gaussian uses the L2 sensitivity). Saturates at `u64::MAX`.
fn vector_l1(bound_int: u64, levels: u32, width: u64) -> u64 {
    let sqrt_w = libm::sqrt(width as f64).next_up();
    let l1 = libm::ceil(sqrt_w * 2.0 * bound_int as f64 * f64::from(levels)).next_up();
    if l1 < 1.8e19 { l1 as u64 } else { u64::MAX }
}

/// The noise scale for L1 sensitivity `l1` (Laplace) or L2 sensitivity `l2` (Gaussian), in
/// the same units as the sensitivities, rounded up.
fn scale_for(budget: Budget, l1: f64, l2: f64) -> Result<f64> {
    match budget {
        Budget::Laplace { epsilon } => privacy::laplace_scale(epsilon, l1),
        Budget::GaussianDp {
            epsilon,
            delta,
            dims,
        } => privacy::discrete_gaussian_sigma(epsilon, delta, l2, dims),
        Budget::GaussianRho { rho } => sigma_for_rho(rho, l2),
    }
}

/// Smallest σ (up to a relative 2^−40) with `Δ²/(2σ²) ≤ ρ`, checked with
/// `privacy::gaussian_rho` (rounded up) so the result is certified.
fn sigma_for_rho(rho: f64, l2: f64) -> Result<f64> {
    if !(rho.is_finite() && rho > 0.0) {
        return Err(Error::InvalidEpsilon);
    }
    let mut sigma = (l2 / libm::sqrt(2.0 * rho).next_down()).next_up();
    for _ in 0..64 {
        if !sigma.is_finite() {
            break;
        }
        if privacy::gaussian_rho(sigma, l2)? <= rho {
            return Ok(sigma);
        }
        sigma *= 1.0 + 1.0 / (1u64 << 40) as f64;
        sigma = sigma.next_up();
    }
    Err(Error::InvalidParameter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_rational_never_below() {
        for &x in &[
            1e-9, 0.3, 1.0, 1.5, 12345.678, 65535.9, 65536.0, 1e12, 3.3e15,
        ] {
            let (n, d) = ceil_rational(x).unwrap();
            assert!(n as f64 / d as f64 >= x, "{x}");
            assert!((n as f64 / d as f64 - x) <= x * 2f64.powi(-16) + 1.0 / 65536.0);
        }
        assert!(ceil_rational(0.0).is_err());
        assert!(ceil_rational(f64::NAN).is_err());
        assert!(ceil_rational(1e300).is_err());
    }

    #[test]
    fn grid_hits_target_and_caps() {
        let c = plan_part(
            Noise::Laplace,
            1.0,
            1000,
            10,
            Budget::Laplace { epsilon: 1.0 },
        )
        .unwrap();
        // scale in (2^(T-1), 2^T] up to the ceil.
        assert!(c.scale <= 2f64.powi(SCALE_TARGET_BITS) * (1.0 + 1e-9));
        assert!(c.scale > 2f64.powi(SCALE_TARGET_BITS - 1));
        assert_eq!(c.l1_sensitivity, 2 * c.bound_int * 10);
        assert!(c.scale >= c.l1_sensitivity as f64 / 1.0);
        // Huge epsilon: the overflow cap binds.
        let c = plan_part(
            Noise::Laplace,
            1.0,
            1 << 32,
            33,
            Budget::Laplace { epsilon: 1e6 },
        )
        .unwrap();
        assert!(c.bound_int << 32 <= MAX_SUM);
        assert!(c.bound_int >= 1);
        assert!(c.scale >= c.l1_sensitivity as f64 / 1e6);
    }

    #[test]
    fn rho_for_is_certified() {
        let r = rho_for(1.0, 1e-6).unwrap();
        assert!(privacy::rho_to_epsilon(r, 1e-6).unwrap() <= 1.0);
        assert!(privacy::rho_to_epsilon(r * 1.00001, 1e-6).unwrap() > 1.0);
        assert_eq!(rho_for(0.0, 1e-6), Err(Error::InvalidEpsilon));
        assert_eq!(rho_for(1.0, 0.0), Err(Error::InvalidDelta));
    }
}
