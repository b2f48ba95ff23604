//! The softmax-sum structure from C (`dpx_softmax_*`): private points `x_i` (`||x_i|| <=
//! R_x`, row-major `n x d`) with weights `w_i in [-R_w, R_w]`, answering
//! `sum_{i in blocks [a, b)} w_i exp(tau <x_i, y>)` for a public `y` (`||y|| <= R_y`).
//! Discrete Gaussian noise only.
//!
//! Conventions, handles and failure rules as in the `distance` module; pushes and queries
//! also take a scratch buffer (`dpx_softmax_plan.scratch_bytes`, `DPX_ALIGN`), last, and
//! queries take their block range right after the handle (like `dpx_query_range`).

use super::check::FfiResult;
use super::family::{
    Buf, CParams, Rows, answer, answer_y, begin_rows, build_rows, finish_rows, open, plan_new,
    push_rows,
};
use super::rng::dpx_fill_fn;
use super::status::dpx_status;
use super::tree::dpx_bound_parts;
use crate::tree::{DPTreeSoftmax, SoftmaxBuilder, SoftmaxParams, SoftmaxPlan, building_dims};
use core::ffi::c_void;

/// Opaque handle of an opened softmax-sum image.
pub struct dpx_softmax {
    _private: [u8; 0],
}

/// Public parameters of a softmax-sum structure (all written into the image).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_softmax_params {
    /// Input dimension d, 1 ..= 4096.
    pub dims: usize,
    /// Polynomial degree s (even, 2 ..= 12), or 0 for the smallest even degree meeting
    /// `kernel_rel_err`.
    pub degree: u32,
    /// Target relative kernel error in (0, 1), used when `degree == 0`.
    pub kernel_rel_err: f64,
    /// Score scale tau > 0.
    pub score_scale: f64,
    /// L2 radius R_x of the private points.
    pub radius_x: f64,
    /// L2 radius R_y of the queries.
    pub radius_y: f64,
    /// Weight bound R_w.
    pub weight_bound: f64,
    /// Most points (public).
    pub n_max: usize,
    /// Points per block (range queries address blocks), >= 1.
    pub block: usize,
    /// Privacy epsilon (> 0).
    pub epsilon: f64,
    /// Privacy delta in (0, 1).
    pub delta: f64,
}

/// Everything derived from a `dpx_softmax_params` (pure).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_softmax_plan {
    /// Bytes of the image (`272 + 8 G r`).
    pub image_bytes: usize,
    /// Bytes of scratch a push or a query needs (`4(r + d)` rounded up to 8).
    pub scratch_bytes: usize,
    /// Kernel features r = C(d+s, s).
    pub features: usize,
    /// Blocks G = ceil(n_max / block): block ranges lie in `[0, G]`.
    pub blocks: usize,
    /// Tree levels L = floor(log2 G) + 1.
    pub levels: u32,
    /// Degree s actually used.
    pub degree: u32,
    /// Score bound B = tau R_x R_y.
    pub score_bound: f64,
    /// Relative kernel error eps_s actually achieved (rounded up).
    pub kernel_rel_err: f64,
    /// Worst-case error of the fixed-point feature map (rounded up).
    pub feature_err: f64,
    /// Noise sigma of every node word, in grid units (rounded up).
    pub sigma: f64,
}

impl CParams for dpx_softmax_params {
    type Plan = SoftmaxPlan;
    fn plan(self) -> FfiResult<SoftmaxPlan> {
        Ok(SoftmaxPlan::new(&SoftmaxParams {
            dims: self.dims,
            degree: self.degree,
            kernel_rel_err: self.kernel_rel_err,
            score_scale: self.score_scale,
            radius_x: self.radius_x,
            radius_y: self.radius_y,
            weight_bound: self.weight_bound,
            n_max: self.n_max,
            block: self.block,
            epsilon: self.epsilon,
            delta: self.delta,
        })?)
    }
}

/// Validates `*p` and derives the plan into `*out`.
///
/// # Errors
/// Pointer errors; `DPX_ERR_INVALID_DIMENSION` (d, n_max, block, too many features),
/// `DPX_ERR_INVALID_DEGREE`, `DPX_ERR_INVALID_RADIUS` (tau, radii, R_w, or B > 64),
/// `DPX_ERR_INVALID_EPSILON`, `DPX_ERR_INVALID_DELTA`, `DPX_ERR_SIZE_OVERFLOW`. `*out` is
/// written only on success.
///
/// # Safety
/// `p` NULL or valid for reading one `dpx_softmax_params`; `out` NULL or valid for writing
/// one `dpx_softmax_plan`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_softmax_plan_new(
    p: *const dpx_softmax_params,
    out: *mut dpx_softmax_plan,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        plan_new(p, out, |plan| dpx_softmax_plan {
            image_bytes: plan.image_bytes,
            scratch_bytes: plan.scratch_bytes,
            features: plan.features,
            blocks: plan.leaves,
            levels: plan.levels,
            degree: plan.params.degree,
            score_bound: plan.score_bound,
            kernel_rel_err: plan.kernel_rel_err,
            feature_err: plan.feature_err,
            sigma: plan.calibration.scale,
        })
    }
}

/// Builds an image in one call from `n` points (`points` is `n x d`) with `weights[i]`.
///
/// # Errors
/// Pointer, parameter and buffer errors (`image`, and `scratch`:
/// `dpx_softmax_plan.scratch_bytes`); `DPX_ERR_TOO_MANY_ROWS`, `DPX_ERR_NON_FINITE_INPUT`,
/// `DPX_ERR_OUT_OF_RANGE` (a point outside its ball, a weight outside its bound);
/// `DPX_ERR_NULL_CALLBACK`, `DPX_ERR_RNG`. On **any** error the image is zeroised (the
/// scratch holds only public-size feature vectors of the last point and is zeroised too).
///
/// # Safety
/// `p` NULL or valid for reading a `dpx_softmax_params`; `image`, `scratch` NULL or valid
/// for writing their byte lengths; `points` NULL or valid for reading `n*d` doubles,
/// `weights` `n` doubles; nobody else writes them during the call; `fill` follows the
/// `dpx_fill_fn` contract.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dpx_softmax_build(
    p: *const dpx_softmax_params,
    image: *mut c_void,
    image_bytes: usize,
    points: *const f64,
    weights: *const f64,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    let scratch = Buf::new(scratch, scratch_bytes);
    let rows = Rows { points, weights, n };
    // SAFETY: forwarded precondition.
    unsafe {
        build_rows(
            p,
            image,
            rows,
            (fill, fill_ctx),
            scratch,
            |plan| plan.params.dims,
            |plan, img, x, w, scr, rng| DPTreeSoftmax::build(plan, img, x, w, scr, rng).map(drop),
        )
    }
}

/// Starts a build in `image` (not openable until [`dpx_softmax_finish`]).
///
/// # Errors
/// Pointer, parameter and buffer errors. On any error the image is zeroised.
///
/// # Safety
/// `p` NULL or valid for reading a `dpx_softmax_params`; `image` NULL or valid for writing
/// `image_bytes` bytes and used by nobody else until the build ends.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_softmax_begin(
    p: *const dpx_softmax_params,
    image: *mut c_void,
    image_bytes: usize,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    // SAFETY: forwarded precondition.
    unsafe {
        begin_rows(p, image, |plan, img| {
            SoftmaxBuilder::begin(plan, img).map(drop)
        })
    }
}

/// Appends `n` points (`n x d`, in order: they fill the blocks) with weights.
///
/// # Errors
/// Pointer errors; image errors (not a softmax build in progress);
/// `DPX_ERR_TOO_MANY_ROWS`, `DPX_ERR_NON_FINITE_INPUT`, `DPX_ERR_OUT_OF_RANGE`, scratch
/// errors: nothing written to the image, the build goes on.
///
/// # Safety
/// As [`dpx_softmax_begin`] for `image`; `points` NULL or valid for reading `n*d` doubles,
/// `weights` `n` doubles; `scratch` NULL or valid for writing `scratch_bytes` bytes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dpx_softmax_push(
    image: *mut c_void,
    image_bytes: usize,
    points: *const f64,
    weights: *const f64,
    n: usize,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    let scratch = Buf::new(scratch, scratch_bytes);
    let rows = Rows { points, weights, n };
    // SAFETY: forwarded precondition.
    unsafe {
        push_rows(image, rows, scratch, building_dims, |img, x, w, scr| {
            SoftmaxBuilder::resume(img)?.push(x, w, scr)
        })
    }
}

/// Noises every node word and seals the image.
///
/// # Errors
/// Pointer errors; image errors (not a softmax build in progress): nothing changed.
/// `DPX_ERR_NULL_CALLBACK`: nothing changed. `DPX_ERR_RNG`: the image is zeroised.
///
/// # Safety
/// As [`dpx_softmax_begin`] for `image`; `fill` follows the `dpx_fill_fn` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_softmax_finish(
    image: *mut c_void,
    image_bytes: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
) -> dpx_status {
    let image = Buf::new(image, image_bytes);
    // SAFETY: forwarded precondition.
    unsafe {
        finish_rows(image, fill, fill_ctx, |img, rng| {
            SoftmaxBuilder::resume(img)?.finish(rng).map(drop)
        })
    }
}

/// Validates a finished softmax image in full and returns a handle in `*out`.
///
/// # Errors
/// As `dpx_tree_open`.
///
/// # Safety
/// `image` NULL or valid for reading `image_bytes` bytes; `out` NULL or valid for writing
/// one pointer; the image must stay alive and unchanged while the handle is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_softmax_open(
    image: *const c_void,
    image_bytes: usize,
    out: *mut *const dpx_softmax,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe { open::<DPTreeSoftmax, _>(image, image_bytes, out) }
}

/// Private estimate of `sum_{i in blocks [block_begin, block_end)} w_i exp(tau <x_i, y>)`
/// for a public `y` (`y_len == d`, `||y|| <= R_y`), into `*out`.
///
/// # Errors
/// `DPX_ERR_INVALID_RANGE` unless `block_begin < block_end <= blocks`;
/// `DPX_ERR_WRONG_LENGTH`; `DPX_ERR_NON_FINITE_INPUT` / `DPX_ERR_OUT_OF_RANGE` (y); scratch
/// (`DPX_ERR_BUFFER_TOO_SMALL`, `DPX_ERR_MISALIGNED`), pointer and image errors. `*out`
/// is written only on success.
///
/// # Safety
/// `h` NULL or a handle from [`dpx_softmax_open`] (image alive and unchanged); `y` NULL or
/// valid for reading `y_len` doubles; `out` NULL or valid for writing one double; `scratch`
/// NULL or valid for writing `scratch_bytes` bytes. Many threads may query one handle,
/// each with its own scratch.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dpx_softmax_evaluate(
    h: *const dpx_softmax,
    block_begin: usize,
    block_end: usize,
    y: *const f64,
    y_len: usize,
    out: *mut f64,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    let scratch = Buf::new(scratch, scratch_bytes);
    // SAFETY: forwarded precondition.
    unsafe {
        answer_y(
            h.cast(),
            (y, y_len),
            out,
            scratch,
            |s: &DPTreeSoftmax, y, scr| s.evaluate(y, block_begin, block_end, scr),
        )
    }
}

/// Error bound of [`dpx_softmax_evaluate`] over blocks `[block_begin, block_end)`, for
/// every `y` with `||y|| <= R_y`, at probability `1 - beta` (per query).
///
/// # Errors
/// `DPX_ERR_INVALID_RANGE`; `DPX_ERR_INVALID_PARAMETER` unless `0 < beta < 1`; pointer and
/// image errors. `*out` is written only on success.
///
/// # Safety
/// `h` as in [`dpx_softmax_evaluate`]; `out` NULL or valid for writing one
/// `dpx_bound_parts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_softmax_bound(
    h: *const dpx_softmax,
    block_begin: usize,
    block_end: usize,
    beta: f64,
    out: *mut dpx_bound_parts,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        answer(h.cast(), out, |s: &DPTreeSoftmax, _| {
            s.bound(block_begin, block_end, beta)
                .map(dpx_bound_parts::from)
        })
    }
}
