//! The 1-D weighted distance structure from C (`dpx_distance_*`): private points
//! `x_i in [0, R]` with weights `w_i in [-R_w, R_w]`, answering `sum_i w_i |y - x_i|` for
//! any public `y`.
//!
//! Conventions, handles and failure rules as in the `tree` module. A build keeps its exact
//! cell sums in the image itself (marked "in progress", never openable), so the streaming
//! form `dpx_distance_begin` / `dpx_distance_push` / `dpx_distance_finish` needs no
//! separate state; only `finish` draws randomness.

use super::check::FfiResult;
use super::family::{
    Buf, CParams, Rows, answer, begin_rows, build_rows, finish_rows, noise_of, open, plan_new,
    push_rows,
};
use super::params::dpx_mechanism;
use super::rng::dpx_fill_fn;
use super::status::dpx_status;
use super::tree::dpx_bound_parts;
use crate::tree::{DPTreeDistance, DistanceBuilder, DistanceParams, DistancePlan};
use core::ffi::c_void;

/// Opaque handle of an opened distance image (a pointer to its first byte).
pub struct dpx_distance {
    _private: [u8; 0],
}

/// Public parameters of a 1-D distance structure (all written into the image).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_distance_params {
    /// Grid cells G over `[0, radius]`, 1 ..= 2^32 - 1.
    pub cells: usize,
    /// Domain radius R: points lie in `[0, R]` (finite, > 0).
    pub radius: f64,
    /// Weight bound R_w: weights lie in `[-R_w, R_w]` (finite, > 0).
    pub weight_bound: f64,
    /// Most points that will be pushed (public), 1 ..= 2^32 - 1.
    pub n_max: usize,
    /// `DPX_MECHANISM_GAUSSIAN` or `DPX_MECHANISM_LAPLACE`.
    pub mechanism: dpx_mechanism,
    /// Total epsilon (> 0) for the structure.
    pub epsilon: f64,
    /// Total delta in (0, 1) for Gaussian; ignored for Laplace.
    pub delta: f64,
}

/// Everything derived from a `dpx_distance_params` (pure).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_distance_plan {
    /// Bytes of the image (`208 + 16G`).
    pub image_bytes: usize,
    /// Tree levels L = floor(log2 G) + 1.
    pub levels: u32,
    /// Cell width c = R/G: the bucketing error is at most `c/2 * sum |w_i|`.
    pub cell_width: f64,
    /// Laplace: epsilon of each of the two trees; 0 for Gaussian.
    pub tree_epsilon: f64,
    /// Gaussian: zCDP rho of each of the two trees; 0 for Laplace.
    pub tree_rho: f64,
    /// Noise scale of a node of the weight tree, in weight units (rounded up).
    pub weights_noise_scale: f64,
    /// Noise scale of a node of the moment tree, in weight x distance units (rounded up).
    pub moments_noise_scale: f64,
}

impl CParams for dpx_distance_params {
    type Plan = DistancePlan;
    fn plan(self) -> FfiResult<DistancePlan> {
        Ok(DistancePlan::new(&DistanceParams {
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
/// Pointer errors; `DPX_ERR_INVALID_DIMENSION` (cells, n_max), `DPX_ERR_INVALID_RADIUS`
/// (radius, weight_bound), `DPX_ERR_INVALID_PARAMETER` (mechanism),
/// `DPX_ERR_INVALID_EPSILON`, `DPX_ERR_INVALID_DELTA`, `DPX_ERR_PRECISION_TOO_LOW`,
/// `DPX_ERR_SIZE_OVERFLOW`. `*out` is written only on success.
///
/// # Safety
/// `p` NULL or valid for reading one `dpx_distance_params`; `out` NULL or valid for writing
/// one `dpx_distance_plan`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_distance_plan_new(
    p: *const dpx_distance_params,
    out: *mut dpx_distance_plan,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        plan_new(p, out, |plan| dpx_distance_plan {
            image_bytes: plan.image_bytes,
            levels: plan.levels,
            cell_width: plan.cell_width,
            tree_epsilon: plan.tree_epsilon,
            tree_rho: plan.tree_rho,
            weights_noise_scale: plan.weights.scale_real(),
            moments_noise_scale: plan.moments.scale_real(),
        })
    }
}

/// Builds a distance image in one call from `n <= p->n_max` points `points[i]` with
/// weights `weights[i]`.
///
/// # Errors
/// Pointer, parameter and buffer errors (`image`: `dpx_distance_plan.image_bytes`,
/// `DPX_ALIGN`); `DPX_ERR_TOO_MANY_ROWS`; `DPX_ERR_NON_FINITE_INPUT`,
/// `DPX_ERR_OUT_OF_RANGE` (a point outside `[0, R]` or a weight outside `[-R_w, R_w]`);
/// `DPX_ERR_NULL_CALLBACK`, `DPX_ERR_RNG`. On **any** error the image is zeroised.
///
/// # Safety
/// `p` NULL or valid for reading a `dpx_distance_params`; `image` NULL or valid for writing
/// `image_bytes` bytes; `points`, `weights` NULL or valid for reading `n` doubles each;
/// nobody else writes them during the call; `fill` follows the `dpx_fill_fn` contract.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dpx_distance_build(
    p: *const dpx_distance_params,
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
    // One coordinate per point; no scratch.
    // SAFETY: forwarded precondition.
    unsafe {
        build_rows(
            p,
            image,
            rows,
            (fill, fill_ctx),
            Buf::NONE,
            |_| 1,
            |plan, img, x, w, _, rng| DPTreeDistance::build(plan, img, x, w, rng).map(drop),
        )
    }
}

/// Starts a build in `image` (marked "in progress": it cannot be opened until
/// [`dpx_distance_finish`]).
///
/// # Errors
/// Pointer, parameter and buffer errors. On any error the image is zeroised.
///
/// # Safety
/// `p` NULL or valid for reading a `dpx_distance_params`; `image` NULL or valid for writing
/// `image_bytes` bytes and used by nobody else until the build ends.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_distance_begin(
    p: *const dpx_distance_params,
    image: *mut c_void,
    image_bytes: usize,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    // SAFETY: forwarded precondition.
    unsafe {
        begin_rows(p, image, |plan, img| {
            DistanceBuilder::begin(plan, img).map(drop)
        })
    }
}

/// Adds `n` points with their weights to a build in progress (exact sums, no randomness).
///
/// # Errors
/// Pointer errors; `DPX_ERR_BAD_MAGIC` (not a distance build in progress) and other image
/// errors; `DPX_ERR_TOO_MANY_ROWS`, `DPX_ERR_NON_FINITE_INPUT`, `DPX_ERR_OUT_OF_RANGE`:
/// nothing written, the build goes on.
///
/// # Safety
/// As [`dpx_distance_begin`] for `image`; `points`, `weights` NULL or valid for reading `n`
/// doubles each.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_distance_push(
    image: *mut c_void,
    image_bytes: usize,
    points: *const f64,
    weights: *const f64,
    n: usize,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    let rows = Rows { points, weights, n };
    // One coordinate per point (the header is not read for it); no scratch.
    // SAFETY: forwarded precondition.
    unsafe {
        push_rows(
            image,
            rows,
            Buf::NONE,
            |_| Ok(1),
            |img, x, w, _| DistanceBuilder::resume(img)?.push(x, w),
        )
    }
}

/// Noises every node and seals the image, which can then be opened.
///
/// # Errors
/// Pointer errors; image errors (not a distance build in progress): nothing changed.
/// `DPX_ERR_NULL_CALLBACK`: nothing changed. `DPX_ERR_RNG`: the image is zeroised.
///
/// # Safety
/// As [`dpx_distance_begin`] for `image`; `fill` follows the `dpx_fill_fn` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_distance_finish(
    image: *mut c_void,
    image_bytes: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    // SAFETY: forwarded precondition.
    unsafe {
        finish_rows(image, fill, fill_ctx, |img, rng| {
            DistanceBuilder::resume(img)?.finish(rng).map(drop)
        })
    }
}

/// Validates a finished distance image in full and returns a zero-copy handle in `*out`.
///
/// # Errors
/// As `dpx_tree_open` (`DPX_ERR_BAD_MAGIC` also for a build in progress or another kind).
///
/// # Safety
/// `image` NULL or valid for reading `image_bytes` bytes; `out` NULL or valid for writing
/// one pointer; the image must stay alive and unchanged while the handle is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_distance_open(
    image: *const c_void,
    image_bytes: usize,
    out: *mut *const dpx_distance,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe { open::<DPTreeDistance, _>(image, image_bytes, out) }
}

/// Private estimate of `sum_i w_i |y - x_i|` for a public finite `y`, into `*out`.
///
/// # Errors
/// `DPX_ERR_NON_FINITE_INPUT` (y); pointer and image errors. `*out` is written only on
/// success.
///
/// # Safety
/// `h` NULL or a handle from [`dpx_distance_open`] (image alive and unchanged); `out` NULL
/// or valid for writing one double.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_distance_evaluate(
    h: *const dpx_distance,
    y: f64,
    out: *mut f64,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe { answer(h.cast(), out, |d: &DPTreeDistance, _| d.evaluate(y)) }
}

/// Error bound of [`dpx_distance_evaluate`]`(h, y)` at probability `1 - beta`.
///
/// # Errors
/// `DPX_ERR_NON_FINITE_INPUT`; `DPX_ERR_INVALID_PARAMETER` unless `0 < beta < 1`; pointer
/// and image errors. `*out` is written only on success.
///
/// # Safety
/// As [`dpx_distance_evaluate`], with `out` valid for writing one `dpx_bound_parts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_distance_bound(
    h: *const dpx_distance,
    y: f64,
    beta: f64,
    out: *mut dpx_bound_parts,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        answer(h.cast(), out, |d: &DPTreeDistance, _| {
            d.bound(y, beta).map(dpx_bound_parts::from)
        })
    }
}
