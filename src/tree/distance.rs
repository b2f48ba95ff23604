//! [`DPTreeDistance`]: private weighted 1-D ℓ1 distance, `f(y) = Σ_i w_i·|y − x_i|`, for any
//! public `y`, from private points `x_i ∈ [0, R]` with weights `w_i ∈ [−R_w, R_w]`.
//! The engine here also serves [`DPTreeHighDim`](super::DPTreeHighDim) (one pair of trees
//! per dimension).
//!
//! # Construction
//! `[0, R]` is cut into `G` public cells of width `c = R/G`; point `x` goes to cell
//! `j = ⌊x·G/R⌋` (clamped to `G − 1`) and is represented by the cell centre. Coordinates
//! are centred, `u = x − R/2 ∈ [−R/2, R/2]` (`f` is translation invariant), which halves
//! the moment contributions. Two trees over the `G` cells hold
//! - `A_j = Σ_{i in j} w_i` (contributions `|w| ≤ R_w`),
//! - `B_j = Σ_{i in j} w_i·ũ_j` (contributions `|w·ũ| ≤ R_w·R/2`), `ũ_j` the centred centre.
//!
//! For `y' = y − R/2` and `k = #{j : ũ_j ≤ y'}`,
//! `f̃(y) = Σ_{j<k} (y'A_j − B_j) + Σ_{j≥k} (B_j − y'A_j) = y'·(2·A[0,k) − A[0,G)) −
//! (2·B[0,k) − B[0,G))`: two prefix sums per tree, O(log G).
//!
//! # Error
//! - **Discretisation** (deterministic): `|f̃ − f| ≤ Σ_i |w_i|·|x_i − centre| ≤ (c/2)·Σ_i |w_i|`
//!   (half the cell width, because points are moved to centres), reported with the public
//!   worst case `(c/2)·n·R_w` (plus a float slop of `n·R_w·R·2^−45`).
//! - **Rounding** to the grids: `≤ n·(|y'|·h_A + h_B)/2`, plus float terms.
//! - **Noise**: `|y'|·h_A·|Z_A| + h_B·|Z_B|`, with `Z = 2·Σ_{chain(k)} z − Σ_{chain(G)} z`:
//!   coefficient 2 on nodes only in `chain(k)`, −1 on nodes only in `chain(G)`, 1 on common
//!   ones. Each tree's tail is taken at `β/(2d)` (union bound over the `2d` trees).
//!
//! # Privacy (replace one point and its weight)
//! Both trees see one contribution per point, so each has the sensitivities of
//! [`Calibration`]. The `2d` trees compose:
//! - Laplace: each tree gets `ε/(2d)` (rounded down); basic composition gives ε-DP.
//! - Gaussian: `ρ` = the largest zCDP budget whose CKS20 conversion is ≤ (ε, δ); each tree
//!   gets `ρ/(2d)` (rounded down); zCDP composition (Bun & Steinke 2016) gives ρ-zCDP,
//!   hence (ε, δ)-DP. (Equal split: for `y ∈ [0, R]` both trees' worst-case error terms are
//!   `R·R_w·L/ε_tree`-proportional, so the equal split minimises their sum.)

use super::calib::{Budget, Calibration, plan_part, rho_for};
use super::fenwick::{self, chain, lowbit, overlap};
use super::image::{self, Header, Kind, MAGIC_BUILDING, MAGIC_DONE, PartDesc};
use super::noise::{NodeNoise, OVERFLOW, zeroise};
use super::tail::{Shape, noise_tail};
use super::{Bound, MAX_LEAVES, Noise, check_budget, up};
use crate::{Error, Result};
use rand_core::TryRng;

/// Public parameters of a [`DPTreeDistance`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DistanceParams {
    /// Grid cells `G` over `[0, R]`, 1 ..= [`MAX_LEAVES`](super::MAX_LEAVES).
    pub cells: usize,
    /// Domain radius `R`: points lie in `[0, R]`; finite and > 0.
    pub radius: f64,
    /// Weight bound `R_w`: weights lie in `[−R_w, R_w]`; finite and > 0.
    pub weight_bound: f64,
    /// Most points that will be pushed (public), 1 ..= [`MAX_LEAVES`](super::MAX_LEAVES).
    pub n_max: usize,
    /// Noise family.
    pub noise: Noise,
    /// ε > 0 (total, for both trees).
    pub epsilon: f64,
    /// δ in (0, 1) for Gaussian (total); ignored for Laplace.
    pub delta: f64,
}

/// Everything derived from [`DistanceParams`]. Pure.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DistancePlan {
    /// The parameters (δ normalised to 0 for Laplace).
    pub params: DistanceParams,
    /// `L = ⌊log2 G⌋ + 1`.
    pub levels: u32,
    /// Cell width `c = R/G`.
    pub cell_width: f64,
    /// Calibration of the weight tree (`Σ w`).
    pub weights: Calibration,
    /// Calibration of the moment tree (`Σ w·(centre − R/2)`).
    pub moments: Calibration,
    /// Laplace: ε of each tree (ε/2); 0 for Gaussian.
    pub tree_epsilon: f64,
    /// Gaussian: zCDP ρ of each tree (ρ/2); 0 for Laplace.
    pub tree_rho: f64,
    /// Exact image size in bytes: `128 + 64 + 16 + 16G`.
    pub image_bytes: usize,
}

/// The shape shared by the 1-D and d-dimensional structures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Spec {
    pub kind: Kind,
    pub dims: u32,
    pub cells: u64,
    pub radius: f64,
    pub weight_bound: f64,
    pub n_max: u64,
    pub noise: Noise,
    pub epsilon: f64,
    pub delta: f64,
}

/// The engine's plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Plan {
    pub spec: Spec,
    pub levels: u32,
    pub cell_width: f64,
    pub weights: Calibration,
    pub moments: Calibration,
    pub tree_epsilon: f64,
    pub tree_rho: f64,
    pub image_bytes: usize,
}

/// Largest dimension count of [`DPTreeHighDim`](super::DPTreeHighDim) (2d part-table
/// entries must fit the image's 16-bit field).
pub(crate) const MAX_DIMS: u32 = 4096;

/// Image extension of the distance kinds: the per-tree ε (Laplace) and ρ (Gaussian).
const EXT_BYTES: u32 = 16;

impl Plan {
    pub(crate) fn new(spec: Spec) -> Result<Self> {
        if spec.cells == 0
            || spec.cells > MAX_LEAVES as u64
            || spec.n_max == 0
            || spec.n_max > MAX_LEAVES as u64
            || spec.dims == 0
            || spec.dims > MAX_DIMS
        {
            return Err(Error::InvalidDimension);
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(spec.radius) || !positive(spec.weight_bound) {
            return Err(Error::InvalidRadius);
        }
        let delta = check_budget(spec.noise, spec.epsilon, spec.delta)?;
        let spec = Spec { delta, ..spec };
        let levels = fenwick::levels(spec.cells);
        let parts = 2.0 * f64::from(spec.dims);
        let (budget, tree_epsilon, tree_rho) = match spec.noise {
            Noise::Laplace => {
                let e = (spec.epsilon / parts).next_down();
                (Budget::Laplace { epsilon: e }, e, 0.0)
            }
            Noise::Gaussian => {
                let r = (rho_for(spec.epsilon, delta)? / parts).next_down();
                (Budget::GaussianRho { rho: r }, 0.0, r)
            }
        };
        let moment_bound = spec.weight_bound * (spec.radius * 0.5);
        if !(moment_bound.is_finite() && moment_bound > 0.0) {
            return Err(Error::InvalidRadius);
        }
        let weights = plan_part(spec.noise, spec.weight_bound, spec.n_max, levels, budget)?;
        let moments = plan_part(spec.noise, moment_bound, spec.n_max, levels, budget)?;
        let image_bytes = image::image_bytes(
            2 * u64::from(spec.dims),
            spec.cells,
            1,
            u64::from(EXT_BYTES),
        )?;
        Ok(Plan {
            spec,
            levels,
            cell_width: spec.radius / spec.cells as f64,
            weights,
            moments,
            tree_epsilon,
            tree_rho,
            image_bytes,
        })
    }

    fn parts(&self) -> u16 {
        // dims ≤ MAX_DIMS = 4096, so 2·dims fits u16.
        u16::try_from(2 * self.spec.dims).unwrap_or(u16::MAX)
    }

    fn desc(c: &Calibration) -> PartDesc {
        PartDesc {
            frac_bits: c.frac_bits,
            bound_int: c.bound_int,
            scale_num: c.scale_num,
            scale_den: c.scale_den,
        }
    }

    #[cfg(test)]
    pub(crate) fn without_noise(mut self) -> Self {
        for c in [&mut self.weights, &mut self.moments] {
            c.scale_num = 0;
            c.scale = 0.0;
        }
        self
    }

    /// The plan an image describes, from its stored (CRC-protected) numbers only: no σ
    /// search, so opening is cheap. [`Plan::check`] re-derives and compares.
    fn from_image(h: &Header, img: &[u8], kind: Kind) -> Result<Self> {
        if h.kind != kind
            || h.dims == 0
            || h.dims > MAX_DIMS
            || u32::from(h.parts) != 2 * h.dims
            || h.width != 1
            || h.ext != EXT_BYTES
        {
            return Err(Error::BadMagic);
        }
        let w = image::read_part(img, h, 0)?;
        let m = image::read_part(img, h, 1)?;
        // Every dimension uses the same pair of calibrations.
        for t in 2..h.parts {
            let want = if t % 2 == 0 { w } else { m };
            if image::read_part(img, h, t)? != want {
                return Err(Error::CorruptImage);
            }
        }
        let cal = |p: PartDesc| {
            Calibration::from_stored(p.frac_bits, p.bound_int, p.scale_num, p.scale_den, h.levels)
        };
        let at = image::ext_range(h).start;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(h.param0) || !positive(h.param1) || h.leaves > MAX_LEAVES as u64 {
            return Err(Error::CorruptImage);
        }
        Ok(Plan {
            spec: Spec {
                kind,
                dims: h.dims,
                cells: h.leaves,
                radius: h.param0,
                weight_bound: h.param1,
                n_max: h.count_max,
                noise: h.noise,
                epsilon: h.epsilon,
                delta: h.delta,
            },
            levels: h.levels,
            cell_width: h.param0 / h.leaves as f64,
            weights: cal(w)?,
            moments: cal(m)?,
            tree_epsilon: f64::from_bits(image::rd_u64(img, at)?),
            tree_rho: f64::from_bits(image::rd_u64(img, at + 8)?),
            image_bytes: image::image_bytes(u64::from(h.parts), h.leaves, 1, u64::from(EXT_BYTES))?,
        })
    }

    /// Audit: re-derive the plan from the stored parameters and compare (one σ search).
    pub(crate) fn check(&self) -> Result<Plan> {
        let fresh = Plan::new(self.spec).map_err(|_| Error::CorruptImage)?;
        if fresh == *self {
            return Ok(fresh);
        }
        #[cfg(test)]
        if fresh.without_noise() == *self {
            return Ok(*self);
        }
        Err(Error::CorruptImage)
    }

    /// Cell of a coordinate in `[0, R]`.
    fn cell(&self, x: f64) -> u64 {
        let g = self.spec.cells;
        let t = libm::floor(x / self.spec.radius * g as f64);
        // t ∈ [0, G] up to rounding; the cast saturates and the clamp keeps it a cell.
        let j = if t > 0.0 { t as u64 } else { 0 };
        j.min(g - 1)
    }

    /// Centred centre of cell `j`: `((2j + 1 − G)·R/(2G))`, clamped to `[−R/2, R/2]`;
    /// non-decreasing in `j` (an exact integer times a positive constant, rounded).
    fn centre(&self, j: u64) -> f64 {
        let g = self.spec.cells as f64;
        let half = self.spec.radius * 0.5;
        let v = ((2 * j + 1) as f64 - g) * (half / g);
        // Not `f64::clamp`, which asserts `min ≤ max` (a panic path from the C ABI that
        // the compiler cannot rule out). Same value whenever `half ≥ 0` and `v` is a number.
        v.max(-half).min(half)
    }

    /// `#{j : centre(j) ≤ y'}` by binary search.
    fn split(&self, yc: f64) -> u64 {
        let (mut lo, mut hi) = (0u64, self.spec.cells);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.centre(mid) <= yc {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// A build in progress: exact cell sums accumulate in the image (magic `"DPXb"`, which no
/// `open` accepts); `finish` noises every node and only then writes the final magic.
pub(crate) struct Builder<'a> {
    image: &'a mut [u8],
    header: Header,
    plan: Plan,
}

impl<'a> Builder<'a> {
    pub(crate) fn begin(plan: &Plan, image: &'a mut [u8]) -> Result<Self> {
        image::check_buffer(image, plan.image_bytes)?;
        // Fail on an unusable scale before touching the buffer.
        NodeNoise::new(
            plan.spec.noise,
            plan.weights.scale_num,
            plan.weights.scale_den,
        )?;
        NodeNoise::new(
            plan.spec.noise,
            plan.moments.scale_num,
            plan.moments.scale_den,
        )?;
        let image = image
            .get_mut(..plan.image_bytes)
            .ok_or(Error::BufferTooSmall)?;
        let header = Header {
            kind: plan.spec.kind,
            noise: plan.spec.noise,
            parts: plan.parts(),
            levels: plan.levels,
            leaves: plan.spec.cells,
            filled: 0,
            count: 0,
            count_max: plan.spec.n_max,
            epsilon: plan.spec.epsilon,
            delta: plan.spec.delta,
            param0: plan.spec.radius,
            param1: plan.spec.weight_bound,
            dims: plan.spec.dims,
            width: 1,
            ext: EXT_BYTES,
            node_sum: 0,
        };
        zeroise(image);
        let mut b = Builder {
            image,
            header,
            plan: *plan,
        };
        b.write_header(MAGIC_BUILDING)?;
        Ok(b)
    }

    fn write_header(&mut self, magic: [u8; 4]) -> Result<()> {
        image::write_header(self.image, magic, &self.header)?;
        for t in 0..self.header.parts {
            let c = if t % 2 == 0 {
                &self.plan.weights
            } else {
                &self.plan.moments
            };
            image::write_part(self.image, t, &Plan::desc(c))?;
        }
        let at = image::ext_range(&self.header).start;
        image::wr_u64(self.image, at, self.plan.tree_epsilon.to_bits())?;
        image::wr_u64(self.image, at + 8, self.plan.tree_rho.to_bits())?;
        image::seal(self.image, &self.header)
    }

    pub(crate) fn resume(image: &'a mut [u8], kind: Kind) -> Result<Self> {
        let header = image::read_header(image, MAGIC_BUILDING)?;
        let plan = Plan::from_image(&header, image, kind)?;
        let len = plan.image_bytes;
        Ok(Builder {
            image: image.get_mut(..len).ok_or(Error::BufferTooSmall)?,
            header,
            plan,
        })
    }

    pub(crate) fn count(&self) -> u64 {
        self.header.count
    }

    /// Zeroise the image (abandon the build).
    pub(crate) fn zeroise(&mut self) {
        zeroise(self.image);
    }

    /// Add `weights.len()` points (`points` row-major, `dims` coordinates each).
    pub(crate) fn push<V: Copy + Into<f64>>(&mut self, points: &[V], weights: &[V]) -> Result<()> {
        let room = self.header.count_max.saturating_sub(self.header.count);
        validate_points(&self.plan, points, weights, room)?;
        // Validated: from here on only an internal inconsistency can fail (no overflow is
        // possible: every cell sum is ≤ n_max·D ≤ 2^52). Zeroise if it does.
        match self.accumulate(points, weights) {
            Ok(()) => Ok(()),
            Err(e) => {
                zeroise(self.image);
                Err(e)
            }
        }
    }

    fn accumulate<V: Copy + Into<f64>>(&mut self, points: &[V], weights: &[V]) -> Result<()> {
        let d = self.plan.spec.dims as usize;
        let fa = self.plan.weights.frac_bits;
        let fb = self.plan.moments.frac_bits;
        for (row, w) in weights.iter().enumerate() {
            let w: f64 = (*w).into();
            // |w| ≤ R_w ⇒ |a| ≤ D_A ≤ 2^52 (monotone rounding): the cast is exact.
            let a = libm::round(libm::scalbn(w, fa)) as i64;
            for dim in 0..d {
                let x: f64 = points
                    .get(row * d + dim)
                    .copied()
                    .map(Into::into)
                    .ok_or(Error::WrongLength)?;
                let j = self.plan.cell(x);
                // |centre| ≤ R/2 (clamped) ⇒ |fl(w·centre)| ≤ fl(R_w·R/2) ⇒ |b| ≤ D_B.
                let mw = w * self.plan.centre(j);
                let b = libm::round(libm::scalbn(mw, fb)) as i64;
                // Parts 2·dim (weights) and 2·dim + 1 (moments); leaf j + 1 (1-based).
                let t = u16::try_from(2 * dim).map_err(|_| Error::CorruptImage)?;
                self.add(t, j + 1, a)?;
                self.add(t + 1, j + 1, b)?;
            }
        }
        self.header.count += weights.len() as u64;
        self.write_header(MAGIC_BUILDING)
    }

    fn add(&mut self, t: u16, i: u64, v: i64) -> Result<()> {
        let at = image::node_at(&self.header, t, i)?;
        let old = image::rd_i64(self.image, at)?;
        image::wr_i64(
            self.image,
            at,
            old.checked_add(v).ok_or(Error::CorruptImage)?,
        )
    }

    /// Turn the cell sums into noised Fenwick nodes and seal the image.
    ///
    /// On any error the image is zeroised.
    pub(crate) fn finish<R: TryRng + ?Sized>(mut self, rng: &mut R) -> Result<View<'a>> {
        match self.finish_inner(rng) {
            Ok(()) => Ok(View {
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
        let mut sum = 0u64;
        for t in 0..self.header.parts {
            let cal = if t % 2 == 0 {
                self.plan.weights
            } else {
                self.plan.moments
            };
            let noise = NodeNoise::new(self.plan.spec.noise, cal.scale_num, cal.scale_den)?;
            // In-place Fenwick construction: node i's children are < i, so each node is
            // complete when it is added to its parent.
            for i in 1..=g {
                let p = i + lowbit(i);
                if p <= g {
                    let v = image::rd_i64(self.image, image::node_at(&self.header, t, i)?)?;
                    self.add(t, p, v)?;
                }
            }
            for i in 1..=g {
                let at = image::node_at(&self.header, t, i)?;
                let exact = image::rd_i64(self.image, at)?;
                let noisy = exact.checked_add(noise.sample(rng)?).ok_or(OVERFLOW)?;
                image::wr_i64(self.image, at, noisy)?;
                sum = sum.wrapping_add(image::mix(image::word_key(&self.header, at), noisy));
            }
        }
        self.header.filled = g;
        self.header.node_sum = sum;
        self.write_header(MAGIC_DONE)
    }
}

/// A validated, read-only view of a finished distance image (1-D or d-dimensional).
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    image: &'a [u8],
    header: Header,
    plan: Plan,
}

impl<'a> View<'a> {
    pub(crate) fn open(image: &'a [u8], kind: Kind) -> Result<Self> {
        let v = Self::open_trusted(image, kind)?;
        image::verify_nodes(image, &v.header)?;
        Ok(v)
    }

    /// [`open`](Self::open) without the O(dG) node checksum (header, part table and sizes
    /// are still validated): the C ABI's per-call re-open of a handle.
    pub(crate) fn open_trusted(image: &'a [u8], kind: Kind) -> Result<Self> {
        let header = image::read_header(image, MAGIC_DONE)?;
        let plan = Plan::from_image(&header, image, kind)?;
        if header.filled != header.leaves {
            return Err(Error::CorruptImage);
        }
        Ok(View {
            image,
            header,
            plan,
        })
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    pub(crate) fn count(&self) -> u64 {
        self.header.count
    }

    fn prefix(&self, t: u16, b: u64) -> Result<i128> {
        let mut s: i128 = 0;
        for i in chain(b) {
            s += i128::from(image::rd_i64(
                self.image,
                image::node_at(&self.header, t, i)?,
            )?);
        }
        Ok(s)
    }

    fn check_y(&self, y: &[f64]) -> Result<()> {
        if y.len() != self.plan.spec.dims as usize {
            return Err(Error::WrongLength);
        }
        if y.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFiniteInput { row: 0 });
        }
        Ok(())
    }

    /// `Σ_i w_i·‖y − x_i‖₁` estimate.
    pub(crate) fn evaluate(&self, y: &[f64]) -> Result<f64> {
        self.check_y(y)?;
        let g = self.plan.spec.cells;
        let half = self.plan.spec.radius * 0.5;
        let mut total = 0.0f64;
        for (dim, &yv) in y.iter().enumerate() {
            let yc = yv - half;
            let k = self.plan.split(yc);
            let t = u16::try_from(2 * dim).map_err(|_| Error::CorruptImage)?;
            let sa = 2 * self.prefix(t, k)? - self.prefix(t, g)?;
            let sb = 2 * self.prefix(t + 1, k)? - self.prefix(t + 1, g)?;
            let a = self.plan.weights.real(sa as f64);
            let b = self.plan.moments.real(sb as f64);
            total += yc * a - b;
        }
        Ok(total)
    }

    /// Error bound of [`evaluate`](Self::evaluate) at `y`, probability ≥ 1 − β.
    pub(crate) fn bound(&self, y: &[f64], beta: f64) -> Result<Bound> {
        self.check_y(y)?;
        if !(beta > 0.0 && beta < 1.0) {
            return Err(Error::InvalidParameter);
        }
        let p = &self.plan;
        let g = p.spec.cells;
        let half = p.spec.radius * 0.5;
        let n = self.header.count as f64;
        let rw = p.spec.weight_bound;
        let beta_tree = beta / f64::from(2 * p.spec.dims);
        let (ha, hb) = (p.weights.grid, p.moments.grid);
        let (da, db) = (p.weights.bound_int as f64, p.moments.bound_int as f64);
        let mut noise = 0.0f64;
        let mut rounding = 0.0f64;
        let mut disc = 0.0f64;
        for &yv in y {
            let yc = yv - half;
            let ay = yc.abs();
            let k = p.split(yc);
            let o = overlap(k, g);
            // 2·chain(k) − chain(G): only in chain(k) → 2, only in chain(G) → −1, both → 1.
            let shape = Shape {
                ones: u64::from(o.only_b) + u64::from(o.both),
                twos: u64::from(o.only_a),
            };
            let ta = noise_tail(p.spec.noise, p.weights.scale, shape, beta_tree)?;
            let tb = noise_tail(p.spec.noise, p.moments.scale, shape, beta_tree)?;
            noise += ay * ha * ta + hb * tb;
            // Grid rounding of each contribution (≤ h/2), the f64 products w·centre and
            // y − R/2 (≤ 2^−52 relative each), and the final conversions (≤ 2^−50 of the
            // magnitudes, which on the same event are ≤ n·D + t).
            rounding += n * (ay * ha + hb) * 0.5
                + n * rw * (ay + half + yv.abs()) * f64::EPSILON * 2.0
                + (ay * ha * (n * da + ta) + hb * (n * db + tb)) * f64::EPSILON * 4.0;
            disc += n * rw * (p.cell_width * 0.5 + p.spec.radius * libm::scalbn(1.0, -45));
        }
        Ok(Bound::new(beta, up(noise), up(rounding), up(disc)))
    }
}

/// A finished, read-only private 1-D distance structure (zero-copy view of its image).
#[derive(Clone, Copy, Debug)]
pub struct DPTreeDistance<'a>(View<'a>);

impl DistancePlan {
    /// Validate `params` and derive the plan.
    ///
    /// # Errors
    /// [`Error::InvalidDimension`] (cells, n_max), [`Error::InvalidRadius`] (R, R_w),
    /// [`Error::InvalidEpsilon`], [`Error::InvalidDelta`], [`Error::PrecisionTooLow`],
    /// [`Error::SizeOverflow`].
    pub fn new(params: &DistanceParams) -> Result<Self> {
        let p = Plan::new(Spec {
            kind: Kind::Distance,
            dims: 1,
            cells: params.cells as u64,
            radius: params.radius,
            weight_bound: params.weight_bound,
            n_max: params.n_max as u64,
            noise: params.noise,
            epsilon: params.epsilon,
            delta: params.delta,
        })?;
        Ok(Self::from_engine(&p))
    }

    fn from_engine(p: &Plan) -> Self {
        DistancePlan {
            params: DistanceParams {
                cells: p.spec.cells as usize,
                radius: p.spec.radius,
                weight_bound: p.spec.weight_bound,
                n_max: p.spec.n_max as usize,
                noise: p.spec.noise,
                epsilon: p.spec.epsilon,
                delta: p.spec.delta,
            },
            levels: p.levels,
            cell_width: p.cell_width,
            weights: p.weights,
            moments: p.moments,
            tree_epsilon: p.tree_epsilon,
            tree_rho: p.tree_rho,
            image_bytes: p.image_bytes,
        }
    }

    /// The engine plan, re-derived from `params`: the public fields are informative only,
    /// and a caller-edited plan (say, a smaller noise scale) is refused.
    fn engine(&self) -> Result<Plan> {
        let p = Plan::new(Spec {
            kind: Kind::Distance,
            dims: 1,
            cells: self.params.cells as u64,
            radius: self.params.radius,
            weight_bound: self.params.weight_bound,
            n_max: self.params.n_max as u64,
            noise: self.params.noise,
            epsilon: self.params.epsilon,
            delta: self.params.delta,
        })?;
        let fresh = Self::from_engine(&p);
        if fresh == *self {
            return Ok(p);
        }
        #[cfg(test)]
        if fresh.without_noise() == *self {
            return Ok(p.without_noise());
        }
        Err(Error::InvalidParameter)
    }

    #[cfg(test)]
    pub(crate) fn without_noise(self) -> Self {
        let mut s = self;
        for c in [&mut s.weights, &mut s.moments] {
            c.scale_num = 0;
            c.scale = 0.0;
        }
        s
    }
}

/// Builds a [`DPTreeDistance`] in place: [`begin`](Self::begin), any number of
/// [`push`](Self::push) calls, then [`finish`](Self::finish) (which adds all the noise).
/// Until `finish` returns, the image holds exact cell sums and cannot be opened; on any
/// error after `begin` that touched private data, it is zeroised.
pub struct DistanceBuilder<'a>(Builder<'a>);

impl<'a> DistanceBuilder<'a> {
    /// Start a build in `image` (at least `plan.image_bytes`, aligned to [`crate::ALIGN`]).
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`], [`Error::Misaligned`] (nothing written);
    /// [`Error::InvalidParameter`] if the plan's calibration was edited.
    pub fn begin(plan: &DistancePlan, image: &'a mut [u8]) -> Result<Self> {
        Ok(DistanceBuilder(Builder::begin(&plan.engine()?, image)?))
    }

    /// Re-attach to a build in progress (for the C ABI).
    ///
    /// # Errors
    /// [`Error::BadMagic`] if `image` is not an unfinished distance build, and the header
    /// errors of [`DPTreeDistance::open`].
    pub fn resume(image: &'a mut [u8]) -> Result<Self> {
        Ok(DistanceBuilder(Builder::resume(image, Kind::Distance)?))
    }

    /// Points pushed so far.
    pub fn count(&self) -> usize {
        self.0.count() as usize
    }

    /// Add points `x_i ∈ [0, R]` with weights `w_i ∈ [−R_w, R_w]` (same length).
    ///
    /// # Errors
    /// [`Error::WrongLength`], [`Error::TooManyRows`], [`Error::NonFiniteInput`],
    /// [`Error::OutOfRange`] (row index in this call); nothing is written on error.
    pub fn push<V: Copy + Into<f64>>(&mut self, points: &[V], weights: &[V]) -> Result<()> {
        self.0.push(points, weights)
    }

    /// Noise every node and seal the image.
    ///
    /// # Errors
    /// [`Error::Rng`], [`Error::SampleOverflow`]: the image is zeroised.
    pub fn finish<R: TryRng + ?Sized>(self, rng: &mut R) -> Result<DPTreeDistance<'a>> {
        Ok(DPTreeDistance(self.0.finish(rng)?))
    }
}

impl<'a> DPTreeDistance<'a> {
    /// Build in one call: validates all inputs first (nothing written on a bad input), then
    /// begin, push, finish.
    ///
    /// # Errors
    /// Those of [`DistanceBuilder`].
    pub fn build<V, R>(
        plan: &DistancePlan,
        image: &'a mut [u8],
        points: &[V],
        weights: &[V],
        rng: &mut R,
    ) -> Result<Self>
    where
        V: Copy + Into<f64>,
        R: TryRng + ?Sized,
    {
        let engine = plan.engine()?;
        validate_points(&engine, points, weights, engine.spec.n_max)?;
        let mut b = Builder::begin(&engine, image)?;
        if let Err(e) = b.push(points, weights) {
            b.zeroise();
            return Err(e);
        }
        Ok(DPTreeDistance(b.finish(rng)?))
    }

    /// Validate a finished image (header, part table against its parameters, node
    /// checksum; O(G)) and return a view.
    ///
    /// # Errors
    /// [`Error::Misaligned`], [`Error::BufferTooSmall`], [`Error::BadMagic`] (also for an
    /// unfinished build), [`Error::UnsupportedVersion`], [`Error::ChecksumMismatch`],
    /// [`Error::CorruptImage`].
    pub fn open(image: &'a [u8]) -> Result<Self> {
        Ok(DPTreeDistance(View::open(image, Kind::Distance)?))
    }

    /// [`open`](Self::open) without the node checksum (the C ABI's handle re-open).
    pub(crate) fn open_trusted(image: &'a [u8]) -> Result<Self> {
        Ok(DPTreeDistance(View::open_trusted(image, Kind::Distance)?))
    }

    /// The plan the image was built with.
    pub fn plan(&self) -> DistancePlan {
        DistancePlan::from_engine(self.0.plan())
    }

    /// Number of points `n` (public).
    pub fn count(&self) -> usize {
        self.0.count() as usize
    }

    /// Audit: re-derive the calibration from the image's own parameters and check that the
    /// stored noise scales are exactly what [`DistancePlan::new`] gives (one σ search).
    ///
    /// # Errors
    /// [`Error::CorruptImage`] if they differ.
    pub fn check_calibration(&self) -> Result<DistancePlan> {
        Ok(DistancePlan::from_engine(&self.0.plan().check()?))
    }

    /// Private estimate of `Σ_i w_i·|y − x_i|` for a public, finite `y` (any real).
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`] for a NaN/∞ `y`.
    pub fn evaluate(&self, y: f64) -> Result<f64> {
        self.0.evaluate(&[y])
    }

    /// Error bound of [`evaluate(y)`](Self::evaluate) at probability `1 − beta`.
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`]; [`Error::InvalidParameter`] unless `0 < beta < 1`.
    pub fn bound(&self, y: f64, beta: f64) -> Result<Bound> {
        self.0.bound(&[y], beta)
    }
}

/// The validation part of [`Builder::push`], run before anything is written: lengths, room
/// for `weights.len()` more points, and each row (weight, then its coordinates).
pub(crate) fn validate_points<V: Copy + Into<f64>>(
    plan: &Plan,
    points: &[V],
    weights: &[V],
    room: u64,
) -> Result<()> {
    let d = plan.spec.dims as usize;
    let m = weights.len();
    if m.checked_mul(d) != Some(points.len()) {
        return Err(Error::WrongLength);
    }
    if m as u64 > room {
        return Err(Error::TooManyRows);
    }
    let mut coords = points.chunks_exact(d.max(1));
    for (row, w) in weights.iter().enumerate() {
        let w: f64 = (*w).into();
        if !w.is_finite() {
            return Err(Error::NonFiniteInput { row });
        }
        // w is finite here, so the comparison is total.
        if w.abs() > plan.spec.weight_bound {
            return Err(Error::OutOfRange { row });
        }
        for x in coords.next().ok_or(Error::WrongLength)? {
            let x: f64 = (*x).into();
            if !x.is_finite() {
                return Err(Error::NonFiniteInput { row });
            }
            if !(0.0..=plan.spec.radius).contains(&x) {
                return Err(Error::OutOfRange { row });
            }
        }
    }
    Ok(())
}
