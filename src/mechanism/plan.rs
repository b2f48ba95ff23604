//! The pure plan: every size, scale, σ and bound of a structure, from public parameters.

use super::params::{NoiseKind, Params, Policy};
use super::tree::Shape;
use crate::kernel::{Kernel, MAX_DEGREE, PolyKernel, taylor};
use crate::{Error, Result};

/// Bytes of the image header (a multiple of [`crate::ALIGN`]).
pub const HEADER_BYTES: usize = 320;

/// Largest supported score bound B = τ·r_q·r_k. Beyond it P_s(B) overflows the
/// fixed-point constants (√(B/m) ≤ 8 in Q27) and the kernel is useless anyway.
pub const MAX_SCORE_BOUND: f64 = 64.0;

/// Noise scale in integer units that the plan aims for (2²⁸): large enough that the
/// fixed-point rounding of payloads is ≤ 10⁻⁴ of the sensitivity, small enough for exact
/// u128 sampling.
const TARGET_NOISE_UNITS: f64 = 268_435_456.0;

/// Smallest accepted radius (`radius_q`, `radius_k`, `radius_v`).
pub const MIN_RADIUS: f64 = 1e-30;
/// Largest accepted radius: outputs (inside the `radius_v` ball) stay finite in f32.
pub const MAX_RADIUS: f64 = 1e30;
/// Largest integer noise scale the plan asks of the samplers (their exact range ends at 2⁴⁸).
const MAX_NOISE_UNITS: f64 = 140_737_488_355_328.0; // 2^47

/// Relative safety margin for f64 planning numbers (see `kernel::taylor`).
const MARGIN: f64 = 1.0 / 1_099_511_627_776.0;

/// Everything derived from [`Params`]: sizes, fixed-point scales, sensitivity, σ and the
/// numbers the error bounds need. Pure: no RNG, no data.
///
/// A plan is also what an image header stores, so that an opened image knows exactly how
/// it was made.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Plan {
    pub(crate) params: Params,
    pub(crate) kernel: PolyKernel,
    pub(crate) shape: Shape,
    /// ω_dv = γ/W in Q30 (rounded down), W = √(1+γ²).
    pub(crate) g: i32,
    /// Contribution clip bound C in Q30 (rounded down), 0 = off.
    pub(crate) clip_q: i32,
    /// Fraction bits of the accumulator (and of the noise).
    pub(crate) f_noise: u32,
    /// Fraction bits of the image words.
    pub(crate) f_store: u32,
    /// Fraction bits of ψ(q) in the query dot products.
    pub(crate) f_query: u32,
    /// Noise scale in accumulator units (σ for Gaussian, b for Laplace), an integer.
    pub(crate) noise_units: u64,
    /// Whether the constant-feature × denominator entry is released exactly.
    pub(crate) exact_const: bool,
    /// Score bound B.
    pub(crate) b: f64,
    /// ε_s of the kernel (rounded up).
    pub(crate) eps_s: f64,
    /// Lower and upper bounds of P_s(t)·e^{−t} on [−B, B] (rounded outward).
    pub(crate) ratio_lo: f64,
    pub(crate) ratio_hi: f64,
    /// min over |t| ≤ B of P_s(t)/Φ², rounded down: the smallest kernel value <ψ(q),ψ(k)>.
    pub(crate) min_kernel: f64,
    /// Sensitivity of the whole released vector in normalised units (L2 for Gaussian, L1
    /// for Laplace), including fixed-point rounding and the tree depth.
    pub(crate) sensitivity: f64,
}

impl Plan {
    /// Validates `params` and derives the plan.
    ///
    /// # Errors
    /// A named error for every invalid parameter: [`Error::InvalidEpsilon`],
    /// [`Error::InvalidDelta`], [`Error::InvalidDimension`], [`Error::InvalidDegree`],
    /// [`Error::InvalidRadius`], [`Error::InvalidClip`], [`Error::SizeOverflow`] (the
    /// structure does not fit in `usize`/`u32`), [`Error::PrecisionTooLow`].
    pub fn new(params: &Params) -> Result<Plan> {
        let mut p = *params;
        validate(&p)?;
        let b = score_bound(&p)?;
        // Record the degree actually used, so that `params()` (and a plan read back from
        // an image, whose header stores the degree) agree.
        p.degree = choose_degree(&p, b)?;
        let Derived {
            b,
            kernel,
            shape,
            g,
            clip_q,
            exact_const,
            f_query,
            eps_s,
            ratio_lo,
            ratio_hi,
            min_kernel,
        } = Derived::new(&p)?;
        let psi0 = kernel.psi0();
        let entries = shape.entries_per_node as f64;
        let noised = if exact_const { entries - 1.0 } else { entries };

        // Per-token payload norm bound over the noised entries (normalised units, exact
        // integers converted up). Without clipping the payload ψ⊗ω has ‖ψ‖ ≤ 1, ‖ω‖ ≤ 1
        // (enforced exactly in integers by `kernel::enforce_norm`), and the constant entry
        // ψ₀·g is the same for every token, so the other entries have squared norm
        // ≤ 1 − (ψ₀g/2⁶⁰)². With clipping, ‖P‖ ≤ C_q/2³⁰ is enforced exactly instead.
        let base = if exact_const {
            let c0 = f64::from(psi0) * f64::from(g) / (1u64 << 60) as f64;
            libm::sqrt((1.0 - c0 * c0 * (1.0 - MARGIN)) * (1.0 + MARGIN)) * (1.0 + MARGIN)
        } else {
            f64::from(clip_q) / (1u64 << 30) as f64
        };
        // Replace-one, one node: L2 ≤ the payload diameter of `sensitivity` (the better of
        // the triangle bound 2·base and the inner-product bound ≈ √2); L1 ≤ √k·2·base. A
        // token touches one node per tree level, so the whole released vector moves by
        // √levels times that in L2 and levels times in L1.
        // `parts` structures over the same rows: their concatenation moves by √parts times
        // more in L2 (one Gaussian mechanism, exact composition) and parts times more in L1.
        let levels = f64::from(shape.levels);
        let parts = f64::from(p.parts);
        // L2: the tighter of the triangle and inner-product bounds (`sensitivity`).
        let diameter = super::sensitivity::payload_diameter(&kernel, b, g, clip_q);
        let l2_exact = diameter * libm::sqrt(levels * parts);
        let l1_exact = 2.0 * base * libm::sqrt(noised) * levels * parts; // ‖x‖₁ ≤ √k‖x‖₂

        // Provisional noise scale (normalised) to choose the fixed-point scales; the 1.001
        // leaves room for the rounding term, checked below.
        let sigma0 = match p.mechanism {
            NoiseKind::Gaussian => {
                crate::privacy::analytic_gaussian_sigma(p.epsilon, p.delta, l2_exact * 1.001)?
            }
            NoiseKind::Laplace => crate::privacy::laplace_scale(p.epsilon, l1_exact * 1.001)?,
        };
        let n_bits = bits_for(u64::from(p.n_max) + 1);
        // Accumulator: n_max tokens × |entry| ≤ 2^F(1 + 2⁻³⁰) must stay < 2⁶²: F ≤ 61 − n_bits.
        let f_hi = 61u32.saturating_sub(n_bits).min(40);
        // The grid must also be fine enough for the rounding term to stay ≤ 10⁻³ of the
        // sensitivity (checked below); at very small ε the noise is large and this, not
        // the noise target, decides.
        let round_need = match p.mechanism {
            NoiseKind::Gaussian => libm::sqrt(noised * levels * parts) / (1e-3 * l2_exact),
            NoiseKind::Laplace => noised * levels * parts / (1e-3 * l1_exact),
        };
        let f_want = libm::floor(libm::log2(TARGET_NOISE_UNITS / sigma0))
            .max(libm::ceil(libm::log2(round_need)));
        let f_noise = if f_want < 0.0 {
            0
        } else if f_want > f64::from(f_hi) {
            f_hi
        } else {
            f_want as u32
        };
        let unit = libm::ldexp(1.0, f_noise as i32);

        // Rounding each payload entry to the accumulator grid moves it by ≤ ½ unit, so one
        // token's rounded payload differs from the exact one by ≤ ½√k units (L2) or ½k (L1),
        // and two tokens' by twice that: add it to the sensitivity (DESIGN §3).
        let (sensitivity_units, noise_units) = match p.mechanism {
            NoiseKind::Gaussian => {
                let round = libm::sqrt(noised * levels * parts);
                let l2 = (l2_exact * unit + round) * (1.0 + MARGIN);
                if round > 1e-3 * l2_exact * unit {
                    return Err(Error::PrecisionTooLow);
                }
                let dims = (shape.nodes as u64)
                    .saturating_mul(noised as u64)
                    .saturating_mul(u64::from(p.parts));
                let s = crate::privacy::discrete_gaussian_sigma(p.epsilon, p.delta, l2, dims)?;
                (l2, s)
            }
            NoiseKind::Laplace => {
                let l1 = (l1_exact * unit + noised * levels * parts) * (1.0 + MARGIN);
                if noised * levels * parts > 1e-3 * l1_exact * unit {
                    return Err(Error::PrecisionTooLow);
                }
                (l1, crate::privacy::laplace_scale(p.epsilon, l1)?)
            }
        };
        // Integer noise scale, rounded up (more noise is always safe); the samplers are
        // exact up to 2⁴⁸.
        let noise_ceil = libm::ceil(noise_units);
        if !(1.0..=MAX_NOISE_UNITS).contains(&noise_ceil) {
            return Err(Error::PrecisionTooLow);
        }
        let noise_units = noise_ceil as u64;
        let noise_norm = noise_units as f64 / unit;

        // Image words: |node entry| ≤ n_max (each token adds ≤ 1 normalised unit) plus noise;
        // keep n_max + 64·std below 2³¹ (a 64σ excursion has probability < 2⁻²⁹⁰⁰ per entry;
        // beyond it the word saturates, which is post-processing and only costs accuracy).
        let std = match p.mechanism {
            NoiseKind::Gaussian => noise_norm,
            NoiseKind::Laplace => noise_norm * core::f64::consts::SQRT_2,
        };
        let range = f64::from(p.n_max) + 1.0 + 64.0 * std;
        let f_store_f = libm::floor(libm::log2(2_147_483_647.0 / range));
        if f_store_f < 0.0 {
            return Err(Error::PrecisionTooLow);
        }
        let f_store = (f_store_f as u32).min(f_noise);
        // Quantisation of the stored words must stay ≤ 1% of the noise std (DESIGN §3).
        if libm::ldexp(1.0, -(f_store as i32)) > 0.01 * std {
            return Err(Error::PrecisionTooLow);
        }
        Ok(Plan {
            params: p,
            kernel,
            shape,
            g,
            clip_q,
            f_noise,
            f_store,
            f_query,
            noise_units,
            exact_const,
            b,
            eps_s,
            ratio_lo,
            ratio_hi,
            min_kernel,
            sensitivity: sensitivity_units / unit,
        })
    }

    /// Serialises the plan into `out` (≥ [`HEADER_BYTES`]) in the image-header format, so a
    /// device can build without planning (no f64 calibration code in its flash): plan on
    /// the host, ship the bytes, [`Plan::read_from`] on the device. Returns the bytes
    /// written.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`].
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize> {
        if out.len() < HEADER_BYTES {
            return Err(Error::BufferTooSmall);
        }
        super::image::write_header(out, self, super::image::PLAN_MAGIC, 0);
        Ok(HEADER_BYTES)
    }

    /// Reads a plan written by [`Plan::write_to`]. The bytes are checked for internal
    /// consistency (dimensions, sizes, kernel constants, scales); the privacy numbers are
    /// **trusted** as written — only load plans from a source you control (your firmware
    /// image), never from the party the data is protected from.
    ///
    /// # Errors
    /// [`Error::BadMagic`], [`Error::UnsupportedVersion`], [`Error::CorruptImage`],
    /// [`Error::BufferTooSmall`].
    pub fn read_from(bytes: &[u8]) -> Result<Plan> {
        let magic = bytes
            .first_chunk::<4>()
            .map(|b| u32::from_le_bytes(*b))
            .ok_or(Error::BufferTooSmall)?;
        if magic != super::image::PLAN_MAGIC {
            return Err(Error::BadMagic);
        }
        super::image::read_header(bytes).map(|(p, _)| p)
    }

    /// The parameters this plan was made from (with `degree` as chosen).
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Bytes of the image: header plus `nodes × r × (dv+1)` 32-bit words.
    pub fn image_bytes(&self) -> usize {
        self.shape.image_bytes
    }
    /// Bytes of scratch a build needs (accumulators and row buffers).
    pub fn build_scratch_bytes(&self) -> usize {
        self.shape.build_scratch_bytes
    }
    /// Bytes of scratch a query needs (ψ(q) and the dv+1 dot products).
    pub fn query_scratch_bytes(&self) -> usize {
        self.shape.query_scratch_bytes
    }
    /// Number of features r = C(d+s, s).
    pub fn features(&self) -> usize {
        self.kernel.features()
    }
    /// The polynomial degree s.
    pub fn degree(&self) -> u32 {
        self.kernel.degree()
    }
    /// The kernel's relative error ε_s = max_{|t|≤B} |P_s(t)e^{−t} − 1| (rounded up).
    pub fn kernel_rel_err(&self) -> f64 {
        self.eps_s
    }
    /// The score bound B = τ·radius_q·radius_k.
    pub fn score_bound(&self) -> f64 {
        self.b
    }
    /// The noise scale of every released entry, in normalised payload units (σ of the
    /// discrete Gaussian, or b of the discrete Laplace), as actually used (rounded up).
    pub fn sigma(&self) -> f64 {
        self.noise_units as f64 / libm::ldexp(1.0, self.f_noise as i32)
    }
    /// The sensitivity the noise is calibrated to (L2 for Gaussian, L1 for Laplace), in
    /// normalised payload units, including fixed-point rounding and the tree depth.
    pub fn sensitivity(&self) -> f64 {
        self.sensitivity
    }
    /// Number of tree nodes (1 for the flat layout).
    pub fn nodes(&self) -> usize {
        self.shape.nodes as usize
    }
    /// Number of leaf blocks the layout can hold (1 for flat).
    pub fn blocks(&self) -> usize {
        self.shape.blocks_max as usize
    }
    /// Tree levels a token touches (1 for flat).
    pub fn levels(&self) -> u32 {
        self.shape.levels
    }
    /// Whether the denominator's constant entry is released exactly (no contribution
    /// clipping): it equals n·ψ₀·γ/W for every dataset of n rows.
    pub fn exact_constant_entry(&self) -> bool {
        self.exact_const
    }

    /// The smallest weight a token can keep after contribution clipping (1 without).
    pub(crate) fn min_token_weight(&self) -> f64 {
        if self.clip_q == 0 {
            1.0
        } else {
            f64::from(self.clip_q) / (1u64 << 30) as f64 * (1.0 - MARGIN)
        }
    }

    /// W = √(1+γ²) · (g/2³⁰) ≈ γ: the factor that turns U_j/U_dv into an output in units of
    /// radius_v (see `query`).
    pub(crate) fn value_factor(&self) -> f64 {
        let w = libm::sqrt(1.0 + self.params.gamma * self.params.gamma);
        w * f64::from(self.g) / (1u64 << 30) as f64
    }

    /// Kernel constant entry of the accumulator per token (exact): round(ψ₀·g / 2^(60−F)).
    #[cfg(test)]
    pub(crate) fn const_payload(&self) -> i64 {
        crate::fixed::round_shr(
            i64::from(self.kernel.psi0()) * i64::from(self.g),
            60 - self.f_noise,
        )
    }

    #[cfg(test)]
    pub(crate) fn with_noise_units(mut self, units: u64) -> Plan {
        self.noise_units = units;
        self
    }
}

/// The score bound B = τ·r_q·r_k of valid parameters.
fn score_bound(p: &Params) -> Result<f64> {
    let b = p.score_scale * p.radius_q * p.radius_k;
    if !(b.is_finite() && b > 0.0 && b <= MAX_SCORE_BOUND) {
        return Err(Error::InvalidRadius);
    }
    Ok(b)
}

/// Everything a plan derives from its parameters (with the degree chosen) without the
/// privacy calibration: a pure, deterministic function (integer and libm arithmetic).
///
/// An image header stores these numbers for the query; [`Plan::check_header`] recomputes
/// them, so a header that passes its checksum but was forged or produced by a buggy writer
/// cannot feed the query inconsistent constants (e.g. kernel constants whose feature map
/// overflows, or a denominator floor that makes the output non-finite).
struct Derived {
    b: f64,
    kernel: PolyKernel,
    shape: Shape,
    g: i32,
    clip_q: i32,
    exact_const: bool,
    f_query: u32,
    eps_s: f64,
    ratio_lo: f64,
    ratio_hi: f64,
    min_kernel: f64,
}

impl Derived {
    /// `p` must be valid and `p.degree` the degree in use.
    fn new(p: &Params) -> Result<Derived> {
        let b = score_bound(p)?;
        let degree = p.degree;
        let phi_sq = taylor::eval_upper(degree, b);
        let (psi0, c) = PolyKernel::constants(degree, b, phi_sq);
        let kernel = PolyKernel::from_constants(p.d, degree, psi0, c)?;
        let shape = Shape::new(p, kernel.features())?;

        let w = libm::sqrt(1.0 + p.gamma * p.gamma);
        let g = libm::floor(p.gamma / w * (1u64 << 30) as f64 * (1.0 - MARGIN)) as i32;
        let clip_q = if p.clip > 0.0 {
            libm::floor(p.clip * (1u64 << 30) as f64) as i32
        } else {
            0
        };
        let exact_const = clip_q == 0;

        // Query: |Σ_α ψ_α·word| ≤ ‖ψ‖·‖column‖ ≤ 2^Fq·√r·2³¹ per node, summed over at most
        // `max_query_nodes` nodes, must stay < 2⁶³.
        let r_bits = bits_for(kernel.features() as u64).div_ceil(2);
        let q_bits = bits_for(u64::from(shape.max_query_nodes));
        let f_query = 31u32.saturating_sub(r_bits + q_bits).min(30);

        let eps_s = taylor::rel_err(degree, b);
        let ratio_lo = (taylor::eval_lower(degree, b) * libm::exp(-b) * (1.0 - MARGIN)).max(0.0);
        let ratio_hi = taylor::eval_upper(degree, -b) * libm::exp(b) * (1.0 + MARGIN);
        let min_kernel = taylor::min_on(degree, b) / phi_sq * (1.0 - MARGIN);
        Ok(Derived {
            b,
            kernel,
            shape,
            g,
            clip_q,
            exact_const,
            f_query,
            eps_s,
            ratio_lo,
            ratio_hi,
            min_kernel,
        })
    }
}

impl Plan {
    /// Checks a plan read from an image header: its parameters must be valid (as
    /// [`Plan::new`] requires) and every parameter-derived number must be exactly what
    /// `Plan::new` derives from them (f64 compared bit for bit: the derivation is
    /// deterministic on every platform). The privacy numbers (noise scale, fixed-point
    /// scales of the noise) are range-checked by the reader; they only size the noise that
    /// was already added and the a-priori bounds.
    ///
    /// # Errors
    /// [`Error::CorruptImage`] on any mismatch.
    pub(crate) fn check_header(&self) -> Result<()> {
        let p = &self.params;
        validate(p).map_err(|_| Error::CorruptImage)?;
        let d = Derived::new(p).map_err(|_| Error::CorruptImage)?;
        let same_f64 = |a: f64, b: f64| a.to_bits() == b.to_bits();
        let ok = same_f64(d.b, self.b)
            && d.kernel == self.kernel
            && d.shape == self.shape
            && d.g == self.g
            && d.clip_q == self.clip_q
            && d.exact_const == self.exact_const
            && d.f_query == self.f_query
            && same_f64(d.eps_s, self.eps_s)
            && same_f64(d.ratio_lo, self.ratio_lo)
            && same_f64(d.ratio_hi, self.ratio_hi)
            && same_f64(d.min_kernel, self.min_kernel);
        if ok { Ok(()) } else { Err(Error::CorruptImage) }
    }
}

/// Number of bits needed to represent `x` (0 → 0).
const fn bits_for(x: u64) -> u32 {
    64 - x.leading_zeros()
}

fn validate(p: &Params) -> Result<()> {
    if !(p.epsilon.is_finite() && p.epsilon > 0.0) {
        return Err(Error::InvalidEpsilon);
    }
    if p.mechanism == NoiseKind::Gaussian && !(p.delta > 0.0 && p.delta < 1.0) {
        return Err(Error::InvalidDelta);
    }
    if p.d == 0 || p.dv == 0 || p.n_max == 0 || p.d > 65_536 || p.dv > 65_536 {
        return Err(Error::InvalidDimension);
    }
    if p.n_max > (1 << 30) {
        return Err(Error::InvalidDimension);
    }
    let pos = |x: f64| x.is_finite() && x > 0.0;
    if !pos(p.score_scale) {
        return Err(Error::InvalidRadius);
    }
    // Radii within [1e-30, 1e30] (found by fuzzing): inputs and outputs are f32, so an
    // output ball beyond f32::MAX made outputs ±Inf, and a radius below ~1e-268 made
    // ‖x‖/radius overflow f64 so rows were mapped to 0 instead of clipped onto the ball.
    let radius = |x: f64| (MIN_RADIUS..=MAX_RADIUS).contains(&x);
    if !(radius(p.radius_q) && radius(p.radius_k) && radius(p.radius_v)) {
        return Err(Error::InvalidRadius);
    }
    // γ ≥ 1e-6 so that the denominator weight g = ⌊γ/√(1+γ²)·2³⁰⌋ is ≥ 1 (found by
    // fuzzing: with g = 0 the header was refused by the reader, so such a build could
    // never be pushed to or finished).
    if !(p.gamma.is_finite() && (1e-6..=1e6).contains(&p.gamma)) {
        return Err(Error::InvalidRadius);
    }
    if !(p.clip == 0.0 || (p.clip.is_finite() && p.clip > 1e-6 && p.clip <= 1.0)) {
        return Err(Error::InvalidClip);
    }
    if p.parts == 0 || p.parts > 65_536 {
        return Err(Error::InvalidParameter);
    }
    if !matches!(p.policy, Policy::Clip | Policy::Reject) {
        return Err(Error::InvalidParameter);
    }
    Ok(())
}

fn choose_degree(p: &Params, b: f64) -> Result<u32> {
    if p.degree != 0 {
        if !p.degree.is_multiple_of(2) || p.degree > MAX_DEGREE {
            return Err(Error::InvalidDegree);
        }
        return Ok(p.degree);
    }
    if !(p.kernel_rel_err.is_finite() && p.kernel_rel_err > 0.0) {
        return Err(Error::InvalidDegree);
    }
    let mut s = 2;
    while s <= MAX_DEGREE {
        if taylor::rel_err(s, b) <= p.kernel_rel_err {
            return Ok(s);
        }
        s += 2;
    }
    Err(Error::InvalidDegree)
}
