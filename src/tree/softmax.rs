//! [`DPTreeSoftmax`]: private `Σ_{i in blocks [a, b)} w_i·exp(τ·<x_i, y>)` for any public
//! `y`, from private points `x_i` (‖x_i‖ ≤ R_x, in arrival order) with weights
//! `w_i ∈ [−R_w, R_w]`: the paper's softmax/KDE DPTree, built on the crate's polynomial
//! kernel ([`PolyKernel`]) and discrete Gaussian noise.
//!
//! # Construction
//! With `x̂ = x/R_x`, `ŷ = y/R_y` and `B = τ·R_x·R_y`, the kernel gives
//! `Φ²·<ψ(x̂), ψ(ŷ)> = P_s(B·<x̂, ŷ>) ≈ exp(τ<x, y>)` with `‖ψ‖ ≤ 1` exactly
//! (`P_s` the degree-`s` Taylor polynomial, `Φ² ≥ P_s(B)`). Points are grouped in leaves of
//! `block` consecutive points; a Fenwick tree over the leaves stores, per node, the
//! `r`-vector `Σ w_i·ψ(x̂_i)` on an integer grid, and every one of its `r` words is noised
//! once with the discrete Gaussian. A query is `Φ²·<ψ(ŷ), S[a, b)>`: at most `2L` node
//! vectors, O(r·log G).
//!
//! # Fixed point
//! `w` becomes `w_q = trunc(w/R_w·2³⁰)` and each contribution component is
//! `c_α = trunc(w_q·ψ_α / 2^{60−F})` (grid `R_w·2^−F`). Truncation toward zero never
//! increases a magnitude, so `‖c‖₂ ≤ 2^F·(|w_q|/2³⁰)·‖ψ‖ ≤ 2^F` holds **exactly**.
//!
//! # Privacy (replace one point and its weight; positions and `n` are public)
//! The replaced point stays in its leaf, so each of its `L = ⌊log2 G⌋ + 1` nodes changes by
//! the same `c' − c` with `‖c' − c‖₂ ≤ 2^{F+1}`: L2 sensitivity `2^{F+1}·√L` over the
//! `G·r` noised words, σ from `privacy::discrete_gaussian_sigma` (analytic Gaussian +
//! CKS20 discrete correction), rounded up. Only the discrete Gaussian is offered: the
//! Laplace alternative would pay `√r` in L1.
//!
//! # Error (per [`DPTreeSoftmax::bound`])
//! - noise: each node adds `<ψ(ŷ), z>`, subgaussian with `σ·‖ψ‖ ≤ σ` (CKS20); `k ≤ 2L`
//!   nodes; scaled by `Φ²·R_w·2^−F`;
//! - approximation (kernel truncation, [`taylor::rel_err`]):
//!   `|P_s(t) − e^t| ≤ ε_s·e^t`, so the error is `≤ ε_s·Σ|w_i|e^{t_i}` (relative `ε_s`
//!   for non-negative weights), reported with the public worst case `ε_s·m·R_w·e^B`;
//! - rounding: the feature map's fixed-point error `E` per vector (a running error
//!   analysis over all `r` features, [`SoftmaxPlan::feature_err`]), so
//!   `Φ²·|<ψ̂x, ψ̂y> − <ψx, ψy>| ≤ 2E·Φ²` per point; plus weight and contribution
//!   truncation and the final conversion.

use super::calib::{Calibration, plan_vector_part};
use super::fenwick::{self, lowbit, overlap};
use super::image::{self, Header, Kind, MAGIC_BUILDING, MAGIC_DONE, PartDesc};
use super::noise::{NodeNoise, OVERFLOW, zeroise};
use super::tail::{Shape, noise_tail};
use super::{Bound, MAX_LEAVES, Noise, check_budget, up};
use crate::fixed::{Q30, trunc_shr};
use crate::kernel::{Kernel, MAX_DEGREE, PolyKernel, taylor};
use crate::{ALIGN, Error, Result};
use rand_core::TryRng;

/// Largest input dimension `d`.
pub const SOFTMAX_MAX_DIM: usize = 4096;

/// Largest feature count `r`.
pub const SOFTMAX_MAX_FEATURES: usize = 1 << 24;

/// Largest score bound `B = τ·R_x·R_y` the kernel constants support.
const MAX_SCORE_BOUND: f64 = 64.0;

/// Bytes of the softmax image extension (kernel constants and parameters).
const EXT_BYTES: u32 = 112;

/// Public parameters of a [`DPTreeSoftmax`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxParams {
    /// Input dimension `d`, 1 ..= [`SOFTMAX_MAX_DIM`].
    pub dims: usize,
    /// Polynomial degree `s` (even, 2 ..= 12), or 0 to pick the smallest even degree whose
    /// relative error meets `kernel_rel_err`.
    pub degree: u32,
    /// Target relative kernel error `ε_s` in (0, 1) (used when `degree == 0`).
    pub kernel_rel_err: f64,
    /// Score scale τ > 0 (e.g. `1/√d`).
    pub score_scale: f64,
    /// L2 radius of the private points.
    pub radius_x: f64,
    /// L2 radius of the queries.
    pub radius_y: f64,
    /// Weights lie in `[−R_w, R_w]`.
    pub weight_bound: f64,
    /// Most points (public), 1 ..= `MAX_LEAVES · block`.
    pub n_max: usize,
    /// Points per leaf (range queries address blocks), ≥ 1.
    pub block: usize,
    /// ε > 0.
    pub epsilon: f64,
    /// δ in (0, 1).
    pub delta: f64,
}

/// Everything derived from [`SoftmaxParams`]. Pure.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxPlan {
    /// The parameters, with `degree` resolved.
    pub params: SoftmaxParams,
    /// The kernel (shared with the mechanism: the same constants give the same features).
    pub kernel: PolyKernel,
    /// Feature count `r = C(d+s, s)`.
    pub features: usize,
    /// Score bound `B = τ·R_x·R_y`.
    pub score_bound: f64,
    /// `Φ² ≥ P_s(B)`, the feature normaliser (rounded up).
    pub phi_sq: f64,
    /// `ε_s`: `|P_s(t) − e^t| ≤ ε_s·e^t` on `|t| ≤ B` (rounded up, plus the float error
    /// of forming `B·<x̂, ŷ>`).
    pub kernel_rel_err: f64,
    /// `E`: worst-case `‖ψ̂(x) − ψ(x)‖₂` of the fixed-point feature map (rounded up).
    pub feature_err: f64,
    /// Leaves `G = ⌈n_max / block⌉`.
    pub leaves: usize,
    /// `L = ⌊log2 G⌋ + 1`.
    pub levels: u32,
    /// Grid (`R_w·2^−F` per unit), sensitivities and σ.
    pub calibration: Calibration,
    /// Exact image size: `128 + 32 + 112 + 8·G·r` bytes.
    pub image_bytes: usize,
    /// Scratch for pushes and queries: `4(r + d)` bytes rounded up to 8 (the feature vector,
    /// then the normalised input, as raw Q30 words).
    pub scratch_bytes: usize,
}

impl SoftmaxPlan {
    /// Validate `params` and derive the plan (O(r·s) for the feature-error analysis).
    ///
    /// # Errors
    /// [`Error::InvalidDimension`] (d, n_max, block, r too large),
    /// [`Error::InvalidDegree`], [`Error::InvalidRadius`] (τ, radii, R_w, or B > 64),
    /// [`Error::InvalidEpsilon`], [`Error::InvalidDelta`], [`Error::SizeOverflow`].
    pub fn new(p: &SoftmaxParams) -> Result<Self> {
        if p.dims == 0 || p.dims > SOFTMAX_MAX_DIM || p.n_max == 0 || p.block == 0 {
            return Err(Error::InvalidDimension);
        }
        let leaves = p.n_max.div_ceil(p.block);
        if leaves > MAX_LEAVES || p.n_max > MAX_LEAVES {
            return Err(Error::InvalidDimension);
        }
        let pos = |v: f64| v.is_finite() && v > 0.0;
        if !(pos(p.score_scale) && pos(p.radius_x) && pos(p.radius_y) && pos(p.weight_bound)) {
            return Err(Error::InvalidRadius);
        }
        let b = p.score_scale * p.radius_x * p.radius_y;
        if !(b > 0.0 && b <= MAX_SCORE_BOUND) {
            return Err(Error::InvalidRadius);
        }
        let delta = check_budget(Noise::Gaussian, p.epsilon, p.delta)?;
        let degree = if p.degree == 0 {
            if !(p.kernel_rel_err > 0.0 && p.kernel_rel_err < 1.0) {
                return Err(Error::InvalidDegree);
            }
            (1..=MAX_DEGREE / 2)
                .map(|h| 2 * h)
                .find(|&s| taylor::rel_err(s, b) <= p.kernel_rel_err)
                .ok_or(Error::InvalidDegree)?
        } else {
            p.degree
        };
        if degree == 0 || !degree.is_multiple_of(2) || degree > MAX_DEGREE {
            return Err(Error::InvalidDegree);
        }
        let d = u32::try_from(p.dims).map_err(|_| Error::InvalidDimension)?;
        let r = taylor::feature_count(u64::from(d), degree)
            .filter(|&r| r <= SOFTMAX_MAX_FEATURES as u64)
            .ok_or(Error::InvalidDimension)?;
        let phi_sq = taylor::eval_upper(degree, b);
        let (psi0, c) = PolyKernel::constants(degree, b, phi_sq);
        let kernel = PolyKernel::from_constants(d, degree, psi0, c)?;
        // B·<x̂, ŷ> is formed from rounded x̂ = x/R_x, ŷ = y/R_y and B = fl(τR_xR_y):
        // |t − τ<x,y>| ≤ 8·2^−52·B (a few ulps per factor), i.e. a relative error of
        // e^{8·2^−52·B} − 1 ≤ 16·2^−52·B in e^t, added to ε_s.
        let rel = taylor::rel_err(degree, b) + 16.0 * f64::EPSILON * b;
        let feature_err = feature_error(d, degree, b, phi_sq, psi0, &c, r);
        let g = leaves as u64;
        let levels = fenwick::levels(g);
        let dims_noised = g.checked_mul(r).ok_or(Error::SizeOverflow)?;
        let calibration =
            plan_vector_part(p.n_max as u64, levels, r, p.epsilon, delta, dims_noised)?;
        let image_bytes = image::image_bytes(1, g, r, u64::from(EXT_BYTES))?;
        let scratch_bytes =
            usize::try_from((r + u64::from(d)).div_ceil(2) * 8).map_err(|_| Error::SizeOverflow)?;
        Ok(SoftmaxPlan {
            params: SoftmaxParams {
                degree,
                delta,
                ..*p
            },
            kernel,
            features: r as usize,
            score_bound: b,
            phi_sq,
            kernel_rel_err: rel,
            feature_err,
            leaves,
            levels,
            calibration,
            image_bytes,
            scratch_bytes,
        })
    }

    /// Re-derive from `params` and check equality: a caller-edited plan is refused.
    fn verified(&self) -> Result<Self> {
        let fresh = SoftmaxPlan::new(&self.params)?;
        if fresh == *self {
            return Ok(fresh);
        }
        #[cfg(test)]
        if fresh.without_noise() == *self {
            return Ok(*self);
        }
        Err(Error::InvalidParameter)
    }

    /// Test-only: the same plan with the noise switched off.
    #[cfg(test)]
    pub(crate) fn without_noise(mut self) -> Self {
        self.calibration.scale_num = 0;
        self.calibration.scale = 0.0;
        self
    }

    fn part(&self) -> PartDesc {
        PartDesc {
            frac_bits: self.calibration.frac_bits,
            bound_int: self.calibration.bound_int,
            scale_num: self.calibration.scale_num,
            scale_den: self.calibration.scale_den,
        }
    }

    fn header(&self) -> Header {
        Header {
            kind: Kind::Softmax,
            noise: Noise::Gaussian,
            parts: 1,
            levels: self.levels,
            leaves: self.leaves as u64,
            filled: 0,
            count: 0,
            count_max: self.params.n_max as u64,
            epsilon: self.params.epsilon,
            delta: self.params.delta,
            param0: self.params.radius_x,
            param1: self.params.weight_bound,
            dims: self.params.dims as u32,
            width: self.features as u32,
            ext: EXT_BYTES,
            node_sum: 0,
        }
    }

    /// The extension: public parameters the header has no field for, and the kernel
    /// constants (checked against a re-derivation on open).
    fn ext(&self) -> [u8; EXT_BYTES as usize] {
        let mut e = [0u8; EXT_BYTES as usize];
        let mut put = |at: usize, b: &[u8]| {
            if let Some(s) = e.get_mut(at..at + b.len()) {
                s.copy_from_slice(b);
            }
        };
        put(0, &self.params.degree.to_le_bytes());
        put(4, &self.kernel.psi0().to_le_bytes());
        for (k, v) in self.kernel.constants_q27().iter().enumerate() {
            put(8 + 4 * k, &v.to_le_bytes());
        }
        put(56, &self.params.score_scale.to_bits().to_le_bytes());
        put(64, &self.params.radius_y.to_bits().to_le_bytes());
        put(72, &self.params.kernel_rel_err.to_bits().to_le_bytes());
        put(80, &(self.params.block as u64).to_le_bytes());
        put(88, &self.phi_sq.to_bits().to_le_bytes());
        put(96, &self.feature_err.to_bits().to_le_bytes());
        put(104, &self.kernel_rel_err.to_bits().to_le_bytes());
        e
    }

    /// The plan an image describes, from its stored (CRC-protected) numbers only: no σ
    /// search and no feature-error pass, so opening is cheap. [`Self::check`] re-derives.
    fn from_image(h: &Header, img: &[u8]) -> Result<Self> {
        if h.kind != Kind::Softmax
            || h.parts != 1
            || h.ext != EXT_BYTES
            || h.noise != Noise::Gaussian
        {
            return Err(Error::BadMagic);
        }
        let at = image::ext_range(h).start;
        let f = |o: usize| image::rd_u64(img, at + o).map(f64::from_bits);
        let degree = image::rd_u32(img, at)?;
        let psi0 = i32::from_le_bytes(image::rd_u32(img, at + 4)?.to_le_bytes());
        let mut c = [0i32; MAX_DEGREE as usize];
        for (k, slot) in c.iter_mut().enumerate() {
            *slot = i32::from_le_bytes(image::rd_u32(img, at + 8 + 4 * k)?.to_le_bytes());
        }
        let params = SoftmaxParams {
            dims: h.dims as usize,
            degree,
            kernel_rel_err: f(72)?,
            score_scale: f(56)?,
            radius_x: h.param0,
            radius_y: f(64)?,
            weight_bound: h.param1,
            n_max: usize::try_from(h.count_max).map_err(|_| Error::CorruptImage)?,
            block: usize::try_from(image::rd_u64(img, at + 80)?)
                .map_err(|_| Error::CorruptImage)?,
            epsilon: h.epsilon,
            delta: h.delta,
        };
        let kernel =
            PolyKernel::from_constants(h.dims, degree, psi0, c).map_err(|_| Error::CorruptImage)?;
        let r = kernel.features();
        let (phi_sq, feature_err, rel) = (f(88)?, f(96)?, f(104)?);
        let sane = |v: f64| v.is_finite() && v >= 0.0;
        if r as u64 != u64::from(h.width)
            || h.dims as usize > SOFTMAX_MAX_DIM
            || !(sane(phi_sq) && phi_sq >= 1.0 && sane(feature_err) && sane(rel))
            || params.block == 0
        {
            return Err(Error::CorruptImage);
        }
        let part = image::read_part(img, h, 0)?;
        let calibration = Calibration::from_stored_vector(
            part.frac_bits,
            part.scale_num,
            part.scale_den,
            h.levels,
            r as u64,
        )?;
        if calibration.bound_int != part.bound_int {
            return Err(Error::CorruptImage);
        }
        Ok(SoftmaxPlan {
            params,
            kernel,
            features: r,
            score_bound: params.score_scale * params.radius_x * params.radius_y,
            phi_sq,
            kernel_rel_err: rel,
            feature_err,
            leaves: usize::try_from(h.leaves).map_err(|_| Error::CorruptImage)?,
            levels: h.levels,
            calibration,
            image_bytes: image::image_bytes(1, h.leaves, r as u64, u64::from(EXT_BYTES))?,
            scratch_bytes: (r + h.dims as usize).div_ceil(2) * 8,
        })
    }

    /// Audit: re-derive the plan from the stored parameters and compare.
    fn check(&self) -> Result<Self> {
        let fresh = SoftmaxPlan::new(&self.params).map_err(|_| Error::CorruptImage)?;
        if fresh == *self {
            return Ok(fresh);
        }
        #[cfg(test)]
        if fresh.without_noise() == *self {
            return Ok(*self);
        }
        Err(Error::CorruptImage)
    }
}

/// Worst-case `‖ψ̂(x) − ψ(x)‖₂` (units of 1) of [`PolyKernel::map`] over the unit ball,
/// rounded up — a running error analysis that follows the map's arithmetic step by step.
///
/// In Q30 units, with the ideal feature `v` (`|v| ≤ V = 2³⁰·√(B^|α|/α!)/Φ`, as
/// `|x^α| ≤ 1`) and the computed `v̂ = v + e`:
/// - the constant: `ψ̂₀ = ⌊2³⁰/Φ⌋`, `e₀ ≤ 1`;
/// - a child by coordinate `x_i` with multiplicity `m`: `t̂ = round(v̂·x_q/2³⁰)` with
///   `x_q/2³⁰ = x_i + ξ`, `|ξ| ≤ 2^−29` (toward-zero conversion, plus one more unit if the
///   integer norm needed it), so `|t̂ − v·x_i| ≤ f = e(1+2^−29) + V·2^−29 + ½`; then
///   `v̂' = round(t̂·c_m/2²⁷)` with `ĉ_m = c_m/2²⁷` and `C_m = √(B/m)`:
///   `e' ≤ ½ + f·ĉ_m + V·|ĉ_m − C_m|`;
/// - `E_pre = √(Σ_α e_α²)/2³⁰`;
/// - the norm enforcement (`kernel::enforce_norm`) runs only if `‖ψ̂‖ > 1`, so while
///   `‖ψ̂‖ ≤ 1 + E_pre`; each round `j` scales by `1 − 2^{−k_j}` (`k` = 24, 23, …) and
///   truncates, moving the vector by `≤ 2^{−k_j}·‖ψ̂‖ + √(r−1)·2^−30`; the rounds are
///   bounded by simulating them on the upper bound `1 + E_pre`.
fn feature_error(
    d: u32,
    s: u32,
    b: f64,
    phi_sq: f64,
    psi0: i32,
    c: &[i32; MAX_DEGREE as usize],
    r: u64,
) -> f64 {
    const TWO30: f64 = 1_073_741_824.0;
    const TWO27: f64 = 134_217_728.0;
    let xi = 1.0 / 536_870_912.0; // 2^-29
    let phi = libm::sqrt(phi_sq);
    let v0 = TWO30 / phi;
    // ψ̂₀ = ⌊v0⌋ (computed in f64 by the kernel; allow one more unit for its rounding).
    let e0 = libm::fabs(v0 - f64::from(psi0)).max(1.0) + 1e-6;
    if s > MAX_DEGREE || d == 0 {
        return f64::INFINITY;
    }
    let s = s as usize;
    let mut cm = [0.0f64; MAX_DEGREE as usize];
    let mut chat = [0.0f64; MAX_DEGREE as usize];
    let mut dc = [0.0f64; MAX_DEGREE as usize];
    for m in 1..=s {
        let exact = libm::sqrt(b / m as f64);
        let h = f64::from(*c.get(m - 1).unwrap_or(&0)) / TWO27;
        if let (Some(a), Some(hh), Some(dd)) =
            (cm.get_mut(m - 1), chat.get_mut(m - 1), dc.get_mut(m - 1))
        {
            *a = exact;
            *hh = h;
            *dd = libm::fabs(h - exact) + exact * 4.0 * f64::EPSILON;
        }
    }
    // Depth-first over non-decreasing index sequences, as the kernel enumerates them.
    let d = d as usize;
    let mut idx = [0usize; MAX_DEGREE as usize];
    let mut run = [0usize; MAX_DEGREE as usize];
    let mut e = [0.0f64; MAX_DEGREE as usize + 1];
    let mut v = [0.0f64; MAX_DEGREE as usize + 1];
    // Constant indices into arrays: checked at compile time, no panic path.
    e[0] = e0;
    v[0] = v0;
    let mut sum_sq = e0 * e0;
    // The depth k stays in 1 ..= s ≤ MAX_DEGREE (it starts at 1, grows only while k < s,
    // and the loop ends when it falls to 0), so every `get` below is in bounds and the
    // `else` arms are unreachable; they return the safe-side bound (∞) rather than index,
    // which would leave a panic path reachable from the C ABI. The walk is the one of
    // `PolyKernel::map`.
    let mut k = 1usize;
    if s >= 1 && d >= 1 {
        loop {
            let (Some(&i), Some(&ek), Some(&vk)) = (idx.get(k - 1), e.get(k - 1), v.get(k - 1))
            else {
                return f64::INFINITY;
            };
            // Multiplicity: one more than the parent's if the index repeats.
            let m = match k
                .checked_sub(2)
                .and_then(|p| Some((*idx.get(p)?, *run.get(p)?)))
            {
                Some((pi, pm)) if pi == i => pm + 1,
                _ => 1,
            };
            let consts = m
                .checked_sub(1)
                .and_then(|j| Some((*cm.get(j)?, *chat.get(j)?, *dc.get(j)?)));
            let (Some(rk), Some((cmv, chv, dcv))) = (run.get_mut(k - 1), consts) else {
                return f64::INFINITY;
            };
            *rk = m;
            let f = ek * (1.0 + xi) + vk * xi + 0.5;
            let (Some(en), Some(vn)) = (e.get_mut(k), v.get_mut(k)) else {
                return f64::INFINITY;
            };
            *en = 0.5 + f * chv + vk * dcv;
            *vn = vk * cmv;
            sum_sq += *en * *en;
            if k < s {
                let Some(next) = idx.get_mut(k) else {
                    return f64::INFINITY;
                };
                *next = i;
                k += 1;
                continue;
            }
            // Advance the deepest index; pop levels whose index ran past d − 1.
            while k > 0 {
                let Some(ik) = idx.get_mut(k - 1) else {
                    return f64::INFINITY;
                };
                *ik += 1;
                if *ik < d {
                    break;
                }
                k -= 1;
            }
            if k == 0 {
                break;
            }
        }
    }
    let e_pre = libm::sqrt(sum_sq) / TWO30 * (1.0 + 1e-9);
    let trunc = libm::sqrt(r.saturating_sub(1) as f64) / TWO30;
    let mut norm_up = 1.0 + e_pre;
    let mut add = 0.0;
    let mut bits = 24i32;
    for _ in 0..64 {
        if norm_up <= 1.0 {
            break;
        }
        let f = libm::scalbn(1.0, -bits);
        add += f * norm_up + trunc;
        norm_up *= 1.0 - f;
        bits = (bits - 1).max(1);
    }
    ((e_pre + add) * (1.0 + 1e-9)).next_up()
}

/// `x / radius` in Q30 (toward zero) with `Σ x_q² ≤ 2⁶⁰` exactly, or `OutOfRange`.
///
/// A NaN/∞ coordinate is [`Error::NonFiniteInput`]. A point with `‖x‖ ≤ radius` in exact
/// arithmetic may still overshoot by float rounding; then every coordinate moves one more
/// unit toward zero (covered by `ξ ≤ 2^−29` in [`feature_error`]). Generic over the input
/// type so that no `f64` copy of the row is needed; `out` (raw Q30) lives in the scratch.
fn to_unit<V: Copy + Into<f64>>(x: &[V], radius: f64, out: &mut [i32], row: usize) -> Result<()> {
    let mut n2 = 0.0f64;
    for v in x {
        let v: f64 = (*v).into();
        if !v.is_finite() {
            return Err(Error::NonFiniteInput { row });
        }
        let u = v / radius;
        n2 += u * u;
    }
    // Allow the f64 norm computation its rounding (a few ulps per term).
    if n2 > 1.0 + 4.0 * (x.len() as f64 + 2.0) * f64::EPSILON {
        return Err(Error::OutOfRange { row });
    }
    let mut sq: u128 = 0;
    for (o, v) in out.iter_mut().zip(x) {
        let v: f64 = (*v).into();
        *o = Q30::from_f64_toward_zero(v / radius)
            .ok_or(Error::NonFiniteInput { row })?
            .raw();
        let a = u128::from(o.unsigned_abs());
        sq += a * a;
    }
    if sq > 1u128 << 60 {
        sq = 0;
        for o in out.iter_mut() {
            *o -= o.signum();
            let a = u128::from(o.unsigned_abs());
            sq += a * a;
        }
        if sq > 1u128 << 60 {
            return Err(Error::OutOfRange { row });
        }
    }
    Ok(())
}

/// The caller's scratch as `r` feature words and `d` input words (raw Q30), alignment and
/// size checked.
fn scratch_words(scratch: &mut [u8], r: usize, d: usize) -> Result<(&mut [i32], &mut [i32])> {
    if !(scratch.as_ptr() as usize).is_multiple_of(ALIGN) {
        return Err(Error::Misaligned);
    }
    let words = r.checked_add(d).ok_or(Error::SizeOverflow)?;
    let bytes = scratch
        .get_mut(..words.checked_mul(4).ok_or(Error::SizeOverflow)?)
        .ok_or(Error::BufferTooSmall)?;
    let all = bytemuck::try_cast_slice_mut::<u8, i32>(bytes).map_err(|_| Error::Misaligned)?;
    Ok(all.split_at_mut(r))
}

/// Builds a [`DPTreeSoftmax`] in place: [`begin`](Self::begin), [`push`](Self::push) points
/// in order, [`finish`](Self::finish). Until `finish` returns the image holds exact sums and
/// cannot be opened; on an error after private data touched it, it is zeroised.
pub struct SoftmaxBuilder<'a> {
    image: &'a mut [u8],
    header: Header,
    plan: SoftmaxPlan,
}

impl<'a> SoftmaxBuilder<'a> {
    /// Start a build in `image` (≥ `plan.image_bytes`, aligned to [`crate::ALIGN`]).
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`], [`Error::Misaligned`] (nothing written);
    /// [`Error::InvalidParameter`] if the plan was edited.
    pub fn begin(plan: &SoftmaxPlan, image: &'a mut [u8]) -> Result<Self> {
        let plan = plan.verified()?;
        image::check_buffer(image, plan.image_bytes)?;
        NodeNoise::new(
            Noise::Gaussian,
            plan.calibration.scale_num,
            plan.calibration.scale_den,
        )?;
        let image = image
            .get_mut(..plan.image_bytes)
            .ok_or(Error::BufferTooSmall)?;
        zeroise(image);
        let mut b = SoftmaxBuilder {
            image,
            header: plan.header(),
            plan,
        };
        b.write_header(MAGIC_BUILDING)?;
        Ok(b)
    }

    /// Re-attach to a build in progress (for the C ABI).
    ///
    /// # Errors
    /// [`Error::BadMagic`] if `image` is not an unfinished softmax build; header errors.
    pub fn resume(image: &'a mut [u8]) -> Result<Self> {
        let header = image::read_header(image, MAGIC_BUILDING)?;
        let plan = SoftmaxPlan::from_image(&header, image)?;
        let len = plan.image_bytes;
        Ok(SoftmaxBuilder {
            image: image.get_mut(..len).ok_or(Error::BufferTooSmall)?,
            header,
            plan,
        })
    }

    fn write_header(&mut self, magic: [u8; 4]) -> Result<()> {
        image::write_header(self.image, magic, &self.header)?;
        image::write_part(self.image, 0, &self.plan.part())?;
        let range = image::ext_range(&self.header);
        // `zip` instead of `copy_from_slice`: the extension range comes from the header and
        // its length is EXT_BYTES by construction, but a length mismatch must be an error,
        // not a panic path reachable from the C ABI.
        let ext = self.plan.ext();
        let dst = self.image.get_mut(range).ok_or(Error::BufferTooSmall)?;
        if dst.len() != ext.len() {
            return Err(Error::CorruptImage);
        }
        for (d, s) in dst.iter_mut().zip(ext.iter()) {
            *d = *s;
        }
        image::seal(self.image, &self.header)
    }

    /// Points pushed so far.
    pub fn count(&self) -> usize {
        self.header.count as usize
    }

    /// Append points (`points` row-major, `weights.len() × d`, each `‖x‖ ≤ R_x`) with
    /// weights in `[−R_w, R_w]`; `scratch` ≥ `plan.scratch_bytes`, aligned.
    ///
    /// # Errors
    /// [`Error::WrongLength`], [`Error::TooManyRows`], [`Error::NonFiniteInput`],
    /// [`Error::OutOfRange`] (row in this call), [`Error::BufferTooSmall`] /
    /// [`Error::Misaligned`] (scratch): nothing written.
    pub fn push<V: Copy + Into<f64>>(
        &mut self,
        points: &[V],
        weights: &[V],
        scratch: &mut [u8],
    ) -> Result<()> {
        let p = self.plan;
        let room = self.header.count_max.saturating_sub(self.header.count);
        validate(&p, points, weights, scratch, room)?;
        match self.accumulate(points, weights, scratch) {
            Ok(()) => Ok(()),
            Err(e) => {
                zeroise(self.image);
                Err(e)
            }
        }
    }

    fn accumulate<V: Copy + Into<f64>>(
        &mut self,
        points: &[V],
        weights: &[V],
        scratch: &mut [u8],
    ) -> Result<()> {
        let p = self.plan;
        let d = p.params.dims;
        let sh = 60 - p.calibration.frac_bits as u32; // F ∈ [0, 60]
        let (psi, xq) = scratch_words(scratch, p.features, d)?;
        // `d.max(1)`: d ≥ 1 for a verified plan; the `max` only keeps `chunks_exact`'s
        // zero-size assertion out of the binary (no panic path from the C ABI).
        for (row, (w, x)) in weights
            .iter()
            .zip(points.chunks_exact(d.max(1)))
            .enumerate()
        {
            let w: f64 = (*w).into();
            to_unit(x, p.params.radius_x, xq, row)?;
            p.kernel.map(xq, psi)?;
            // |w/R_w| ≤ 1 ⇒ |w_q| ≤ 2³⁰ (toward zero).
            let wq = Q30::from_f64_toward_zero(w / p.params.weight_bound)
                .ok_or(Error::NonFiniteInput { row })?
                .raw();
            // block ≥ 1 for a verified plan; `checked_div` keeps the division by zero out.
            let leaf = self
                .header
                .count
                .checked_div(p.params.block as u64)
                .ok_or(Error::CorruptImage)?
                + 1;
            let at = image::node_at(&self.header, 0, leaf)?;
            for (f, &v) in psi.iter().enumerate() {
                // |w_q·ψ| ≤ 2⁶⁰: no overflow in i64; trunc keeps ‖c‖ ≤ 2^F.
                let c = trunc_shr(i64::from(wq) * i64::from(v), sh);
                let a = at + 8 * f;
                let old = image::rd_i64(self.image, a)?;
                image::wr_i64(
                    self.image,
                    a,
                    old.checked_add(c).ok_or(Error::CorruptImage)?,
                )?;
            }
            self.header.count += 1;
        }
        self.write_header(MAGIC_BUILDING)
    }

    /// Noise every word and seal the image.
    ///
    /// # Errors
    /// [`Error::Rng`], [`Error::SampleOverflow`]: the image is zeroised.
    pub fn finish<R: TryRng + ?Sized>(mut self, rng: &mut R) -> Result<DPTreeSoftmax<'a>> {
        match self.finish_inner(rng) {
            Ok(()) => Ok(DPTreeSoftmax {
                image: self.image,
                header: self.header,
                plan: self.plan,
            }),
            Err(e) => {
                zeroise(self.image);
                Err(e)
            }
        }
    }

    fn finish_inner<R: TryRng + ?Sized>(&mut self, rng: &mut R) -> Result<()> {
        let g = self.header.leaves;
        let r = self.plan.features;
        let cal = self.plan.calibration;
        let noise = NodeNoise::new(Noise::Gaussian, cal.scale_num, cal.scale_den)?;
        // In-place Fenwick construction over vector nodes (children precede parents).
        for i in 1..=g {
            let p = i + lowbit(i);
            if p <= g {
                let from = image::node_at(&self.header, 0, i)?;
                let to = image::node_at(&self.header, 0, p)?;
                for f in 0..r {
                    let v = image::rd_i64(self.image, from + 8 * f)?;
                    let old = image::rd_i64(self.image, to + 8 * f)?;
                    image::wr_i64(
                        self.image,
                        to + 8 * f,
                        old.checked_add(v).ok_or(Error::CorruptImage)?,
                    )?;
                }
            }
        }
        let mut sum = 0u64;
        for i in 1..=g {
            let at = image::node_at(&self.header, 0, i)?;
            for f in 0..r {
                let a = at + 8 * f;
                let exact = image::rd_i64(self.image, a)?;
                let noisy = exact.checked_add(noise.sample(rng)?).ok_or(OVERFLOW)?;
                image::wr_i64(self.image, a, noisy)?;
                sum = sum.wrapping_add(image::mix(image::word_key(&self.header, a), noisy));
            }
        }
        self.header.filled = g;
        self.header.node_sum = sum;
        self.write_header(MAGIC_DONE)
    }
}

/// A finished, read-only private softmax-sum structure (zero-copy view of its image).
#[derive(Clone, Copy, Debug)]
pub struct DPTreeSoftmax<'a> {
    image: &'a [u8],
    header: Header,
    plan: SoftmaxPlan,
}

impl<'a> DPTreeSoftmax<'a> {
    /// Build in one call (all inputs validated first: nothing written on a bad input).
    ///
    /// # Errors
    /// Those of [`SoftmaxBuilder`].
    pub fn build<V, R>(
        plan: &SoftmaxPlan,
        image: &'a mut [u8],
        points: &[V],
        weights: &[V],
        scratch: &mut [u8],
        rng: &mut R,
    ) -> Result<Self>
    where
        V: Copy + Into<f64>,
        R: TryRng + ?Sized,
    {
        let plan = plan.verified()?;
        // Validate first, so that a bad input leaves `image` untouched.
        image::check_buffer(image, plan.image_bytes)?;
        validate(&plan, points, weights, scratch, plan.params.n_max as u64)?;
        let mut b = SoftmaxBuilder::begin(&plan, image)?;
        if let Err(e) = b.push(points, weights, scratch) {
            zeroise(b.image);
            return Err(e);
        }
        b.finish(rng)
    }

    /// Validate a finished image (re-derives the plan and compares; O(G·r)).
    ///
    /// # Errors
    /// [`Error::Misaligned`], [`Error::BufferTooSmall`], [`Error::BadMagic`] (also for an
    /// unfinished build), [`Error::UnsupportedVersion`], [`Error::ChecksumMismatch`],
    /// [`Error::CorruptImage`].
    pub fn open(image: &'a [u8]) -> Result<Self> {
        let t = Self::open_trusted(image)?;
        image::verify_nodes(image, &t.header)?;
        Ok(t)
    }

    /// [`open`](Self::open) without the O(G·r) node checksum (header, kernel constants and
    /// sizes are still validated): the C ABI's per-call re-open of a handle.
    pub(crate) fn open_trusted(image: &'a [u8]) -> Result<Self> {
        let header = image::read_header(image, MAGIC_DONE)?;
        let plan = SoftmaxPlan::from_image(&header, image)?;
        if header.filled != header.leaves {
            return Err(Error::CorruptImage);
        }
        Ok(DPTreeSoftmax {
            image,
            header,
            plan,
        })
    }

    /// The plan the image was built with.
    pub fn plan(&self) -> &SoftmaxPlan {
        &self.plan
    }

    /// Audit: re-derive the plan (σ search and feature-error analysis) from the image's own
    /// parameters and check that the stored kernel constants, error numbers and noise scale
    /// are exactly what [`SoftmaxPlan::new`] gives.
    ///
    /// # Errors
    /// [`Error::CorruptImage`] if they differ.
    pub fn check_calibration(&self) -> Result<SoftmaxPlan> {
        self.plan.check()
    }

    /// Number of points (public).
    pub fn count(&self) -> usize {
        self.header.count as usize
    }

    /// Number of leaves (blocks) `G`.
    pub fn blocks(&self) -> usize {
        self.header.leaves as usize
    }

    fn check_blocks(&self, a: usize, b: usize) -> Result<(u64, u64)> {
        let (a, b) = (a as u64, b as u64);
        if a >= b || b > self.header.leaves {
            return Err(Error::InvalidRange);
        }
        Ok((a, b))
    }

    /// Private estimate of `Σ_{i in blocks [a, b)} w_i·exp(τ<x_i, y>)` for a public `y`
    /// with `‖y‖ ≤ R_y`; `scratch` ≥ `plan().scratch_bytes`, aligned.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] unless `a < b ≤ blocks()`; [`Error::WrongLength`];
    /// [`Error::NonFiniteInput`] / [`Error::OutOfRange`] for `y`; scratch errors.
    pub fn evaluate(&self, y: &[f64], a: usize, b: usize, scratch: &mut [u8]) -> Result<f64> {
        let (a, b) = self.check_blocks(a, b)?;
        let p = &self.plan;
        let d = p.params.dims;
        if y.len() != d {
            return Err(Error::WrongLength);
        }
        if y.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput { row: 0 });
        }
        let (psi, yq) = scratch_words(scratch, p.features, d)?;
        to_unit(y, p.params.radius_y, yq, 0)?;
        p.kernel.map(yq, psi)?;
        // Σ over chain(b) minus chain(a); the common nodes cancel exactly and are skipped.
        let mut dot: i128 = 0;
        fenwick::for_each_diff(a, b, |node, sign| {
            let at = image::node_at(&self.header, 0, node)?;
            let mut s: i128 = 0;
            for (f, &v) in psi.iter().enumerate() {
                // |ψ| ≤ 2³⁰, |word| < 2⁶³, r ≤ 2²⁴: |s| < 2¹¹⁷, no overflow.
                s += i128::from(v) * i128::from(image::rd_i64(self.image, at + 8 * f)?);
            }
            dot += i128::from(sign) * s;
            Ok(())
        })?;
        let scale = p.phi_sq * p.params.weight_bound;
        Ok(libm::scalbn(dot as f64, -(p.calibration.frac_bits + 30)) * scale)
    }

    /// Points in blocks `[a, b)`.
    fn points_in(&self, a: u64, b: u64) -> u64 {
        let blk = self.plan.params.block as u64;
        let n = self.header.count;
        b.saturating_mul(blk)
            .min(n)
            .saturating_sub(a.saturating_mul(blk).min(n))
    }

    /// Error bound of [`evaluate`](Self::evaluate) over blocks `[a, b)`, for every `y` with
    /// `‖y‖ ≤ R_y`, at probability `1 − beta` (per query).
    ///
    /// # Errors
    /// [`Error::InvalidRange`]; [`Error::InvalidParameter`] unless `0 < beta < 1`.
    pub fn bound(&self, a: usize, b: usize, beta: f64) -> Result<Bound> {
        let (a, b) = self.check_blocks(a, b)?;
        let p = &self.plan;
        let o = overlap(a, b);
        let shape = Shape {
            ones: u64::from(o.only_a) + u64::from(o.only_b),
            twos: 0,
        };
        // ‖ψ(ŷ)‖ ≤ 1, so <ψ, z> is σ-subgaussian per node.
        let t = noise_tail(Noise::Gaussian, p.calibration.scale, shape, beta)?;
        let unit = p.phi_sq * p.params.weight_bound; // value of <ψ, c>/2^F = 1
        let h = p.calibration.grid;
        let m = self.points_in(a, b) as f64;
        let noise = up(t * h * unit);
        let r = p.features as f64;
        // Per point: 2E (feature maps), 2^−29 (weight to Q30), √r·2^−F (truncation of
        // the r components); final conversion 2^−50 of |answer| ≤ unit·(m + t·h).
        let rounding = up(unit
            * (m * (2.0 * p.feature_err + libm::scalbn(1.0, -29) + libm::sqrt(r) * h)
                + (m + t * h) * 4.0 * f64::EPSILON));
        let approximation =
            up(p.kernel_rel_err * m * p.params.weight_bound * libm::exp(p.score_bound));
        Ok(Bound::new(beta, noise, rounding, approximation))
    }
}

/// Validation of a batch (the checks of [`SoftmaxBuilder::push`]), writing nothing.
fn validate<V: Copy + Into<f64>>(
    p: &SoftmaxPlan,
    points: &[V],
    weights: &[V],
    scratch: &mut [u8],
    room: u64,
) -> Result<()> {
    let d = p.params.dims;
    let m = weights.len();
    if m.checked_mul(d) != Some(points.len()) {
        return Err(Error::WrongLength);
    }
    if m as u64 > room {
        return Err(Error::TooManyRows);
    }
    let (_, xq) = scratch_words(scratch, p.features, d)?;
    // `d.max(1)`: d ≥ 1 for a verified plan (`SoftmaxPlan::new`); see `accumulate`.
    for (row, (w, x)) in weights
        .iter()
        .zip(points.chunks_exact(d.max(1)))
        .enumerate()
    {
        let w: f64 = (*w).into();
        if !w.is_finite() {
            return Err(Error::NonFiniteInput { row });
        }
        if w.abs() > p.params.weight_bound {
            return Err(Error::OutOfRange { row });
        }
        to_unit(x, p.params.radius_x, xq, row)?;
    }
    Ok(())
}
