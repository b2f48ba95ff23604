//! The d-dimensional weighted ℓ1 distance structure from C (`dpx_highdim_*`): private
//! points `x_i in [0, R]^d` (row-major `n x d`) with weights `w_i in [-R_w, R_w]`,
//! answering `sum_i w_i ||y - x_i||_1` for a public `y` of length d.
//!
//! Conventions, handles and failure rules as in the `distance` module (the image holds the
//! exact sums until `dpx_highdim_finish`).

use super::check::FfiResult;
use super::family::{
    Buf, CParams, Rows, answer_y, begin_rows, build_rows, finish_rows, noise_of, open, plan_new,
    push_rows,
};
use super::params::dpx_mechanism;
use super::rng::dpx_fill_fn;
use super::status::dpx_status;
use super::tree::dpx_bound_parts;
use crate::tree::{DPTreeHighDim, HighDimBuilder, HighDimParams, HighDimPlan, building_dims};
use core::ffi::c_void;

/// Opaque handle of an opened high-dimensional distance image.
pub struct dpx_highdim {
    _private: [u8; 0],
}

/// Public parameters of a d-dimensional distance structure (all written into the image).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_highdim_params {
    /// Dimension d, 1 ..= 4096.
    pub dims: usize,
    /// Grid cells G per coordinate over `[0, radius]`.
    pub cells: usize,
    /// Domain radius R: every coordinate lies in `[0, R]` (finite, > 0).
    pub radius: f64,
    /// Weight bound R_w (finite, > 0).
    pub weight_bound: f64,
    /// Most points (public).
    pub n_max: usize,
    /// `DPX_MECHANISM_GAUSSIAN` or `DPX_MECHANISM_LAPLACE`.
    pub mechanism: dpx_mechanism,
    /// Total epsilon (> 0), composed over the 2d trees.
    pub epsilon: f64,
    /// Total delta in (0, 1) for Gaussian; ignored for Laplace.
    pub delta: f64,
}

/// Everything derived from a `dpx_highdim_params` (pure).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_highdim_plan {
    /// Bytes of the image (`144 + 64d + 16dG`).
    pub image_bytes: usize,
    /// Tree levels L = floor(log2 G) + 1.
    pub levels: u32,
    /// Cell width c = R/G.
    pub cell_width: f64,
    /// Laplace: epsilon of each of the 2d trees; 0 for Gaussian.
    pub tree_epsilon: f64,
    /// Gaussian: zCDP rho of each of the 2d trees; 0 for Laplace.
    pub tree_rho: f64,
}

impl CParams for dpx_highdim_params {
    type Plan = HighDimPlan;
    fn plan(self) -> FfiResult<HighDimPlan> {
        Ok(HighDimPlan::new(&HighDimParams {
            dims: self.dims,
            cells: self.cells,
            radius: self.radius,
            weight_bound: self.weight_bound,
            n_max: self.n_max,
            noise: noise_of(self.mechanism)?,
            epsilon: self.epsilon,
            delta: self.delta,
        })?)
    }
}

/// Validates `*p` and derives the plan into `*out`.
///
/// # Errors
/// As `dpx_distance_plan_new` (`DPX_ERR_INVALID_DIMENSION` also for dims).
///
/// # Safety
/// `p` NULL or valid for reading one `dpx_highdim_params`; `out` NULL or valid for writing
/// one `dpx_highdim_plan`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_highdim_plan_new(
    p: *const dpx_highdim_params,
    out: *mut dpx_highdim_plan,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        plan_new(p, out, |plan| dpx_highdim_plan {
            image_bytes: plan.image_bytes,
            levels: plan.levels,
            cell_width: plan.cell_width,
            tree_epsilon: plan.tree_epsilon,
            tree_rho: plan.tree_rho,
        })
    }
}

/// Builds an image in one call from `n` points (`points` is `n x d`, row-major) with
/// `weights[i]`.
///
/// # Errors
/// As `dpx_distance_build`. On **any** error the image is zeroised.
///
/// # Safety
/// As `dpx_distance_build`, with `points` valid for reading `n*d` doubles.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dpx_highdim_build(
    p: *const dpx_highdim_params,
    image: *mut c_void,
    image_bytes: usize,
    points: *const f64,
    weights: *const f64,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    let rows = Rows { points, weights, n };
    // d coordinates per point (from the plan); no scratch.
    // SAFETY: forwarded precondition.
    unsafe {
        build_rows(
            p,
            image,
            rows,
            (fill, fill_ctx),
            Buf::NONE,
            |plan| plan.params.dims,
            |plan, img, x, w, _, rng| DPTreeHighDim::build(plan, img, x, w, rng).map(drop),
        )
    }
}

/// Starts a build in `image` (not openable until [`dpx_highdim_finish`]).
///
/// # Errors
/// Pointer, parameter and buffer errors. On any error the image is zeroised.
///
/// # Safety
/// As `dpx_distance_begin`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_highdim_begin(
    p: *const dpx_highdim_params,
    image: *mut c_void,
    image_bytes: usize,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    // SAFETY: forwarded precondition.
    unsafe {
        begin_rows(p, image, |plan, img| {
            HighDimBuilder::begin(plan, img).map(drop)
        })
    }
}

/// Adds `n` points (`n x d`) with weights to a build in progress.
///
/// # Errors
/// As `dpx_distance_push`; `d` is read from the image header.
///
/// # Safety
/// As `dpx_distance_push`, with `points` valid for reading `n*d` doubles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_highdim_push(
    image: *mut c_void,
    image_bytes: usize,
    points: *const f64,
    weights: *const f64,
    n: usize,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    let rows = Rows { points, weights, n };
    // SAFETY: forwarded precondition.
    unsafe {
        push_rows(image, rows, Buf::NONE, building_dims, |img, x, w, _| {
            HighDimBuilder::resume(img)?.push(x, w)
        })
    }
}

/// Noises every node and seals the image.
///
/// # Errors
/// As `dpx_distance_finish` (`DPX_ERR_RNG` zeroises the image).
///
/// # Safety
/// As `dpx_distance_finish`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_highdim_finish(
    image: *mut c_void,
    image_bytes: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    // SAFETY: forwarded precondition.
    unsafe {
        finish_rows(image, fill, fill_ctx, |img, rng| {
            HighDimBuilder::resume(img)?.finish(rng).map(drop)
        })
    }
}

/// Validates a finished high-dimensional image in full and returns a handle in `*out`.
///
/// # Errors
/// As `dpx_distance_open`.
///
/// # Safety
/// As `dpx_distance_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_highdim_open(
    image: *const c_void,
    image_bytes: usize,
    out: *mut *const dpx_highdim,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe { open::<DPTreeHighDim, _>(image, image_bytes, out) }
}

/// Private estimate of `sum_i w_i ||y - x_i||_1` for a public finite `y` (`y_len == d`).
///
/// # Errors
/// `DPX_ERR_WRONG_LENGTH`, `DPX_ERR_NON_FINITE_INPUT`; pointer and image errors. `*out`
/// is written only on success.
///
/// # Safety
/// `h` NULL or a handle from [`dpx_highdim_open`] (image alive and unchanged); `y` NULL or
/// valid for reading `y_len` doubles; `out` NULL or valid for writing one double.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_highdim_evaluate(
    h: *const dpx_highdim,
    y: *const f64,
    y_len: usize,
    out: *mut f64,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        answer_y(
            h.cast(),
            (y, y_len),
            out,
            Buf::NONE,
            |d: &DPTreeHighDim, y, _| d.evaluate(y),
        )
    }
}

/// Error bound of [`dpx_highdim_evaluate`]`(h, y)` at probability `1 - beta`.
///
/// # Errors
/// As [`dpx_highdim_evaluate`]; `DPX_ERR_INVALID_PARAMETER` unless `0 < beta < 1`.
///
/// # Safety
/// As [`dpx_highdim_evaluate`], with `out` valid for writing one `dpx_bound_parts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_highdim_bound(
    h: *const dpx_highdim,
    y: *const f64,
    y_len: usize,
    beta: f64,
    out: *mut dpx_bound_parts,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        answer_y(
            h.cast(),
            (y, y_len),
            out,
            Buf::NONE,
            |d: &DPTreeHighDim, y, _| d.bound(y, beta).map(dpx_bound_parts::from),
        )
    }
}
