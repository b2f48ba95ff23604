//! The d-dimensional weighted ℓ1 distance structure from C (`dpx_highdim_*`): private
//! points `x_i in [0, R]^d` (row-major `n x d`) with weights `w_i in [-R_w, R_w]`,
//! answering `sum_i w_i ||y - x_i||_1` for a public `y` of length d.
//!
//! Conventions, handles and failure rules as in the `distance` module (the image holds the
//! exact sums until `dpx_highdim_finish`).

use super::build::zeroise_image;
use super::check::{FfiResult, Span, disjoint, input, input_buf, output_buf, output_struct};
use super::params::dpx_mechanism;
use super::rng::{CallbackRng, dpx_fill_fn};
use super::status::{DPX_ERR_LENGTH_OVERFLOW, dpx_status};
use super::tree::{dpx_bound_parts, family_image, noise_of, status, write_out};
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

impl dpx_highdim_params {
    fn to_params(self) -> FfiResult<HighDimParams> {
        Ok(HighDimParams {
            dims: self.dims,
            cells: self.cells,
            radius: self.radius,
            weight_bound: self.weight_bound,
            n_max: self.n_max,
            noise: noise_of(self.mechanism)?,
            epsilon: self.epsilon,
            delta: self.delta,
        })
    }
}

/// # Safety
/// `p` must be NULL or valid for reading one `dpx_highdim_params`.
unsafe fn plan_of(p: *const dpx_highdim_params) -> FfiResult<HighDimPlan> {
    // SAFETY: forwarded precondition; plain integers and floats.
    let params = unsafe { super::check::read_struct(p) }?.to_params()?;
    Ok(HighDimPlan::new(&params)?)
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
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let o = output_struct(out)?;
        // SAFETY: checked non-NULL and aligned; `*p` was copied before.
        unsafe {
            o.write(dpx_highdim_plan {
                image_bytes: plan.image_bytes,
                levels: plan.levels,
                cell_width: plan.cell_width,
                tree_epsilon: plan.tree_epsilon,
                tree_rho: plan.tree_rho,
            });
        }
        Ok(())
    };
    status(run())
}

/// `n x d` elements, or `DPX_ERR_LENGTH_OVERFLOW`.
fn elements(n: usize, d: usize) -> FfiResult<usize> {
    n.checked_mul(d).ok_or(DPX_ERR_LENGTH_OVERFLOW)
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
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let img = output_buf(image, image_bytes)?;
        let x = input(points, elements(n, plan.params.dims)?)?;
        let w = input(weights, n)?;
        disjoint(&[img.region(), x.region(), w.region()])?;
        // SAFETY: forwarded precondition on `fill`.
        let mut rng = unsafe { CallbackRng::new(fill, fill_ctx) }?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, x, w) = unsafe { (img.as_mut_slice(), x.as_slice(), w.as_slice()) };
        DPTreeHighDim::build(&plan, img, x, w, &mut rng)?;
        Ok(())
    };
    let r = run();
    if r.is_err() {
        // SAFETY: forwarded precondition; no slice made by `run` is alive.
        unsafe { zeroise_image(image, image_bytes) };
    }
    status(r)
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
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let img = output_buf(image, image_bytes)?;
        // SAFETY: checked; validity is the caller's precondition.
        HighDimBuilder::begin(&plan, unsafe { img.as_mut_slice() })?;
        Ok(())
    };
    let r = run();
    if r.is_err() {
        // SAFETY: forwarded precondition; no slice made by `run` is alive.
        unsafe { zeroise_image(image, image_bytes) };
    }
    status(r)
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
    let run = || -> FfiResult<()> {
        let img = output_buf(image, image_bytes)?;
        // SAFETY: checked; validity is the caller's precondition. This shared view ends
        // before the mutable one below is made.
        let dims = building_dims(unsafe { img.as_slice() })?;
        let x = input(points, elements(n, dims)?)?;
        let w = input(weights, n)?;
        disjoint(&[img.region(), x.region(), w.region()])?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, x, w) = unsafe { (img.as_mut_slice(), x.as_slice(), w.as_slice()) };
        HighDimBuilder::resume(img)?.push(x, w)?;
        Ok(())
    };
    status(run())
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
    let run = || -> FfiResult<()> {
        let img = output_buf(image, image_bytes)?;
        // SAFETY: forwarded precondition on `fill`.
        let mut rng = unsafe { CallbackRng::new(fill, fill_ctx) }?;
        // SAFETY: checked; validity is the caller's precondition.
        let b = HighDimBuilder::resume(unsafe { img.as_mut_slice() })?;
        b.finish(&mut rng)?;
        Ok(())
    };
    status(run())
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
    let run = || -> FfiResult<()> {
        let img = input_buf(image, image_bytes)?;
        // SAFETY: checked; validity is the caller's precondition.
        DPTreeHighDim::open(unsafe { img.as_slice() })?;
        // SAFETY: forwarded precondition.
        unsafe { write_out(&img, out, image.cast::<dpx_highdim>()) }
    };
    status(run())
}

/// # Safety
/// `h` NULL or a handle from [`dpx_highdim_open`] whose image is alive and unchanged.
unsafe fn view<'a>(h: *const dpx_highdim) -> FfiResult<(DPTreeHighDim<'a>, Span<u8>)> {
    // SAFETY: forwarded precondition.
    let img = unsafe { family_image(h.cast()) }?;
    // SAFETY: `dpx_highdim_open` checked the header length against `image_bytes`.
    Ok((DPTreeHighDim::open_trusted(unsafe { img.as_slice() })?, img))
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
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (d, img) = unsafe { view(h) }?;
        let ys = input(y, y_len)?;
        let o = output_struct(out)?;
        disjoint(&[img.region(), ys.region(), o.region()])?;
        // SAFETY: checked; validity is the caller's precondition.
        let v = d.evaluate(unsafe { ys.as_slice() })?;
        // SAFETY: checked non-NULL, aligned, disjoint.
        unsafe { o.write(v) };
        Ok(())
    };
    status(run())
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
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (d, img) = unsafe { view(h) }?;
        let ys = input(y, y_len)?;
        let o = output_struct(out)?;
        disjoint(&[img.region(), ys.region(), o.region()])?;
        // SAFETY: checked; validity is the caller's precondition.
        let b = dpx_bound_parts::from(d.bound(unsafe { ys.as_slice() }, beta)?);
        // SAFETY: checked non-NULL, aligned, disjoint.
        unsafe { o.write(b) };
        Ok(())
    };
    status(run())
}
