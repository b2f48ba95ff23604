//! [`DPTreeHighDim`]: private weighted ℓ1 distance in `d` dimensions,
//! `f(y) = Σ_i w_i·‖y − x_i‖₁ = Σ_k Σ_i w_i·|y_k − x_{ik}|`, for public `y ∈ R^d`, from
//! private points `x_i ∈ [0, R]^d` with weights `w_i ∈ [−R_w, R_w]`.
//!
//! The sum splits over coordinates, so the structure is `d` one-dimensional
//! [`DPTreeDistance`](super::DPTreeDistance) structures (two trees each, `G` cells per
//! coordinate) in one image. One point touches all `2d` trees, so the budget is composed
//! over them: Laplace `ε/(2d)` per tree (basic composition); Gaussian `ρ/(2d)` per tree with
//! `ρ` the largest zCDP budget whose conversion is ≤ (ε, δ) (zCDP composition, Bun & Steinke
//! 2016; conversion CKS20). The error bound sums the `d` per-coordinate bounds, each tree's
//! noise tail taken at `β/(2d)`.

use super::distance::{Builder, Plan, Spec, View, validate_points};
use super::image::Kind;
use super::{Bound, Calibration, Noise};
use crate::{Error, Result};
use rand_core::TryRng;

/// Public parameters of a [`DPTreeHighDim`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HighDimParams {
    /// Dimension `d`, 1 ..= 4096.
    pub dims: usize,
    /// Grid cells `G` per coordinate, 1 ..= [`MAX_LEAVES`](super::MAX_LEAVES).
    pub cells: usize,
    /// Every coordinate lies in `[0, R]`; finite and > 0.
    pub radius: f64,
    /// Weights lie in `[−R_w, R_w]`; finite and > 0.
    pub weight_bound: f64,
    /// Most points that will be pushed (public).
    pub n_max: usize,
    /// Noise family.
    pub noise: Noise,
    /// ε > 0 (total).
    pub epsilon: f64,
    /// δ in (0, 1) for Gaussian (total); ignored for Laplace.
    pub delta: f64,
}

/// Everything derived from [`HighDimParams`]. Pure.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HighDimPlan {
    /// The parameters (δ normalised to 0 for Laplace).
    pub params: HighDimParams,
    /// `L = ⌊log2 G⌋ + 1`.
    pub levels: u32,
    /// Cell width `R/G`.
    pub cell_width: f64,
    /// Calibration of every weight tree.
    pub weights: Calibration,
    /// Calibration of every moment tree.
    pub moments: Calibration,
    /// Laplace: ε of each of the `2d` trees; 0 for Gaussian.
    pub tree_epsilon: f64,
    /// Gaussian: zCDP ρ of each of the `2d` trees; 0 for Laplace.
    pub tree_rho: f64,
    /// Exact image size in bytes: `128 + 64d + 16 + 16dG`.
    pub image_bytes: usize,
}

impl HighDimPlan {
    /// Validate `params` and derive the plan.
    ///
    /// # Errors
    /// [`Error::InvalidDimension`] (dims, cells, n_max), [`Error::InvalidRadius`],
    /// [`Error::InvalidEpsilon`], [`Error::InvalidDelta`], [`Error::PrecisionTooLow`],
    /// [`Error::SizeOverflow`].
    pub fn new(params: &HighDimParams) -> Result<Self> {
        Ok(Self::from_engine(&Plan::new(spec(params)?)?))
    }

    fn from_engine(p: &Plan) -> Self {
        HighDimPlan {
            params: HighDimParams {
                dims: p.spec.dims as usize,
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

    /// The engine plan, re-derived from `params`; a caller-edited plan is refused.
    fn engine(&self) -> Result<Plan> {
        let p = Plan::new(spec(&self.params)?)?;
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

fn spec(p: &HighDimParams) -> Result<Spec> {
    Ok(Spec {
        kind: Kind::HighDim,
        dims: u32::try_from(p.dims).map_err(|_| Error::InvalidDimension)?,
        cells: p.cells as u64,
        radius: p.radius,
        weight_bound: p.weight_bound,
        n_max: p.n_max as u64,
        noise: p.noise,
        epsilon: p.epsilon,
        delta: p.delta,
    })
}

/// Builds a [`DPTreeHighDim`] in place (see [`DistanceBuilder`](super::DistanceBuilder)).
pub struct HighDimBuilder<'a>(Builder<'a>);

impl<'a> HighDimBuilder<'a> {
    /// Start a build in `image` (at least `plan.image_bytes`, aligned to [`crate::ALIGN`]).
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`], [`Error::Misaligned`] (nothing written);
    /// [`Error::InvalidParameter`] if the plan was edited.
    pub fn begin(plan: &HighDimPlan, image: &'a mut [u8]) -> Result<Self> {
        Ok(HighDimBuilder(Builder::begin(&plan.engine()?, image)?))
    }

    /// Re-attach to a build in progress (for the C ABI).
    ///
    /// # Errors
    /// [`Error::BadMagic`] if `image` is not an unfinished high-dim build, and the header
    /// errors of [`DPTreeHighDim::open`].
    pub fn resume(image: &'a mut [u8]) -> Result<Self> {
        Ok(HighDimBuilder(Builder::resume(image, Kind::HighDim)?))
    }

    /// Points pushed so far.
    pub fn count(&self) -> usize {
        self.0.count() as usize
    }

    /// Add points (`points` row-major, `weights.len() × d`, every coordinate in `[0, R]`)
    /// with weights in `[−R_w, R_w]`.
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
    pub fn finish<R: TryRng + ?Sized>(self, rng: &mut R) -> Result<DPTreeHighDim<'a>> {
        Ok(DPTreeHighDim(self.0.finish(rng)?))
    }
}

/// A finished, read-only private d-dimensional ℓ1-distance structure.
#[derive(Clone, Copy, Debug)]
pub struct DPTreeHighDim<'a>(View<'a>);

impl<'a> DPTreeHighDim<'a> {
    /// Build in one call: validates all inputs first (nothing written on a bad input).
    ///
    /// # Errors
    /// Those of [`HighDimBuilder`].
    pub fn build<V, R>(
        plan: &HighDimPlan,
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
        let mut b = HighDimBuilder(Builder::begin(&engine, image)?);
        if let Err(e) = b.push(points, weights) {
            b.0.zeroise();
            return Err(e);
        }
        b.finish(rng)
    }

    /// Validate a finished image (O(dG)) and return a view.
    ///
    /// # Errors
    /// As [`DPTreeDistance::open`](super::DPTreeDistance::open).
    pub fn open(image: &'a [u8]) -> Result<Self> {
        Ok(DPTreeHighDim(View::open(image, Kind::HighDim)?))
    }

    /// [`open`](Self::open) without the node checksum (the C ABI's handle re-open).
    pub(crate) fn open_trusted(image: &'a [u8]) -> Result<Self> {
        Ok(DPTreeHighDim(View::open_trusted(image, Kind::HighDim)?))
    }

    /// The plan the image was built with.
    pub fn plan(&self) -> HighDimPlan {
        HighDimPlan::from_engine(self.0.plan())
    }

    /// Number of points `n` (public).
    pub fn count(&self) -> usize {
        self.0.count() as usize
    }

    /// Audit: re-derive the calibration from the image's own parameters and check that the
    /// stored noise scales are exactly what [`HighDimPlan::new`] gives (one σ search).
    ///
    /// # Errors
    /// [`Error::CorruptImage`] if they differ.
    pub fn check_calibration(&self) -> Result<HighDimPlan> {
        Ok(HighDimPlan::from_engine(&self.0.plan().check()?))
    }

    /// Private estimate of `Σ_i w_i·‖y − x_i‖₁` for a public finite `y` of length `d`.
    ///
    /// # Errors
    /// [`Error::WrongLength`], [`Error::NonFiniteInput`].
    pub fn evaluate(&self, y: &[f64]) -> Result<f64> {
        self.0.evaluate(y)
    }

    /// Error bound of [`evaluate(y)`](Self::evaluate) at probability `1 − beta`.
    ///
    /// # Errors
    /// [`Error::WrongLength`], [`Error::NonFiniteInput`], [`Error::InvalidParameter`]
    /// (β not in (0, 1)).
    pub fn bound(&self, y: &[f64], beta: f64) -> Result<Bound> {
        self.0.bound(y, beta)
    }
}
