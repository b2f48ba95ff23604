//! The DPTree range-sum structure from C (`dpx_tree_*`), and the bound struct the whole
//! DPTree family returns (`dpx_bound_parts`); the helpers the family shares at the boundary
//! (handle re-open, plan, build and query shapes, noise selector) are in `family`.
//!
//! # Conventions
//! Exactly those of the attention API (see the `ffi` module): status codes, checks through
//! `check`, outputs written only on success, `dpx_fill_fn` randomness. Inputs are `double`
//! arrays (8-aligned); a noise family is chosen with `DPX_MECHANISM_GAUSSIAN` /
//! `DPX_MECHANISM_LAPLACE`.
//!
//! # Handles
//! As for `dpx_attn`, a `const dpx_tree *` is the image's own address: `dpx_tree_open`
//! validates the image in full (header CRC-32C, part table, node checksum), and every call
//! through the handle re-reads the header (`family` module: magic, version, sizes, CRC of
//! the header, calibration) but not the O(n) node checksum (`DPTree::open_trusted`). The
//! image length always comes from the validated header, never from unchecked words.
//! A `dpx_tree` handle may be taken on an image that is still streaming: each call sees the
//! header as the latest `dpx_tree_push` left it (ranges inside the completed prefix).
//!
//! # Failure
//! `dpx_tree_build` and `dpx_tree_begin` zeroise the image (and `begin` the state) on any
//! error. `dpx_tree_push` changes nothing on a refused chunk (argument error, NaN, value out
//! of range, too many values) and zeroises image and state on an entropy failure (the
//! stream ends). `dpx_tree_finish` zeroises the state on success and changes nothing on
//! error.

use super::check::{FfiResult, disjoint, input, output_buf, status};
use super::family::{
    Buf, CParams, answer, mechanism_of, noise_of, open, plan_new, plan_of, status_wiping,
};
use super::params::dpx_mechanism;
use super::rng::{CallbackRng, dpx_fill_fn};
use super::status::dpx_status;
use crate::tree::{Bound, DPTree, DPTreeParams, DPTreePlan, DPTreeWriter};
use core::ffi::c_void;

/// Opaque handle of an opened DPTree image (a pointer to its first byte; see
/// [`dpx_tree_open`]). Never dereferenced by C code; valid as long as the image is.
pub struct dpx_tree {
    _private: [u8; 0],
}

/// Public parameters of a DPTree: a private array of `n` values in `[-value_bound,
/// value_bound]` answering range sums. Every field is public (written into the image).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_tree_params {
    /// Number of values n (capacity), 1 ..= 2^32 - 1.
    pub n: usize,
    /// Bound on each value |v_i| <= value_bound (finite, > 0).
    pub value_bound: f64,
    /// `DPX_MECHANISM_GAUSSIAN` ((epsilon, delta)-DP) or `DPX_MECHANISM_LAPLACE` (pure).
    pub mechanism: dpx_mechanism,
    /// Privacy epsilon (> 0).
    pub epsilon: f64,
    /// Privacy delta in (0, 1) for Gaussian; ignored (and reported as 0) for Laplace.
    pub delta: f64,
}

/// Everything derived from a `dpx_tree_params` (pure).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_tree_plan {
    /// Bytes of the image (`160 + 8n`).
    pub image_bytes: usize,
    /// Bytes of the private streaming state (`32 + 8L`; `dpx_tree_begin`/`push`/`finish`).
    pub state_bytes: usize,
    /// Tree levels L = floor(log2 n) + 1 (nodes a value touches).
    pub levels: u32,
    /// Fraction bits F of the fixed-point grid.
    pub frac_bits: i32,
    /// Grid step h = 2^-F (value units).
    pub grid: f64,
    /// Noise scale of every node in value units: sigma (Gaussian) or b (Laplace), rounded up.
    pub noise_scale: f64,
}

/// Facts about an opened DPTree image.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_tree_info {
    /// The parameters the image was built with.
    pub params: dpx_tree_params,
    /// Values appended so far: ranges `[a, b)` with `a < b <= filled` are answerable.
    pub filled: usize,
    /// Bytes of the image.
    pub image_bytes: usize,
}

/// An error bound of one answer of the DPTree family, holding with probability
/// `>= 1 - beta` over the noise; every part in the units of the answer, rounded up.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_bound_parts {
    /// The failure probability beta.
    pub beta: f64,
    /// DP noise part (probability >= 1 - beta).
    pub noise: f64,
    /// Deterministic fixed-point and float rounding.
    pub rounding: f64,
    /// Deterministic approximation (distance: cell bucketing; softmax: Taylor and feature
    /// map); 0 for a DPTree.
    pub approximation: f64,
    /// noise + rounding + approximation, rounded up.
    pub total: f64,
}

impl From<Bound> for dpx_bound_parts {
    fn from(b: Bound) -> Self {
        dpx_bound_parts {
            beta: b.beta,
            noise: b.noise,
            rounding: b.rounding,
            approximation: b.approximation,
            total: b.total,
        }
    }
}

impl CParams for dpx_tree_params {
    type Plan = DPTreePlan;
    fn plan(self) -> FfiResult<DPTreePlan> {
        Ok(DPTreePlan::new(&DPTreeParams {
            n: self.n,
            value_bound: self.value_bound,
            noise: noise_of(self.mechanism)?,
            epsilon: self.epsilon,
            delta: self.delta,
        })?)
    }
}

/// Validates `*p` and derives the plan into `*out` (buffer sizes, grid, noise scale).
///
/// # Errors
/// `DPX_ERR_NULL` / `DPX_ERR_MISALIGNED` for the pointers; `DPX_ERR_INVALID_DIMENSION`
/// (n), `DPX_ERR_INVALID_PARAMETER` (value_bound, mechanism), `DPX_ERR_INVALID_EPSILON`,
/// `DPX_ERR_INVALID_DELTA`, `DPX_ERR_PRECISION_TOO_LOW`, `DPX_ERR_SIZE_OVERFLOW`. `*out` is
/// written only on success.
///
/// # Safety
/// `p` must be NULL or valid for reading one `dpx_tree_params`; `out` NULL or valid for
/// writing one `dpx_tree_plan`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_plan_new(
    p: *const dpx_tree_params,
    out: *mut dpx_tree_plan,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        plan_new(p, out, |plan| dpx_tree_plan {
            image_bytes: plan.image_bytes,
            state_bytes: plan.state_bytes,
            levels: plan.levels,
            frac_bits: plan.calibration.frac_bits,
            grid: plan.calibration.grid,
            noise_scale: plan.calibration.scale_real(),
        })
    }
}

/// Builds a DPTree image in one call from `n <= p->n` values (a tree built from fewer
/// values answers ranges inside `[0, n)`). Every node is noised once.
///
/// # Errors
/// Pointer and parameter errors; `DPX_ERR_BUFFER_TOO_SMALL` / `DPX_ERR_MISALIGNED`
/// (`image`: `dpx_tree_plan.image_bytes`, `DPX_ALIGN`); `DPX_ERR_OVERLAP`;
/// `DPX_ERR_TOO_MANY_ROWS` (n > p->n); `DPX_ERR_NON_FINITE_INPUT`, `DPX_ERR_OUT_OF_RANGE`
/// (a value); `DPX_ERR_NULL_CALLBACK`, `DPX_ERR_RNG`. On **any** error the image is
/// zeroised (when non-NULL).
///
/// # Safety
/// `p` NULL or valid for reading a `dpx_tree_params`; `image` NULL or valid for writing
/// `image_bytes` bytes; `values` NULL or valid for reading `n` doubles; nobody else writes
/// them during the call; `fill` follows the `dpx_fill_fn` contract with `fill_ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_build(
    p: *const dpx_tree_params,
    image: *mut c_void,
    image_bytes: usize,
    values: *const f64,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let img = output_buf(image, image_bytes)?;
        let v = input(values, n)?;
        disjoint(&[img.region(), v.region()])?;
        // SAFETY: forwarded precondition on `fill`.
        let mut rng = unsafe { CallbackRng::new(fill, fill_ctx) }?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, v) = unsafe { (img.as_mut_slice(), v.as_slice()) };
        DPTree::build(&plan, img, v, &mut rng)?;
        Ok(())
    };
    let image = Buf::new(image, image_bytes);
    // SAFETY: forwarded precondition; no slice made by `run` is alive.
    unsafe { status_wiping(run(), &[image]) }
}

/// Starts a stream (continual release): writes an empty but valid image (it may be
/// opened and published at once) and the private state. Keep the state secret and pass
/// both buffers to every `dpx_tree_push` and to `dpx_tree_finish`.
///
/// # Errors
/// Pointer, parameter and buffer errors (`state`: `dpx_tree_plan.state_bytes`,
/// `DPX_ALIGN`). On any error the image and the state are zeroised (when non-NULL).
///
/// # Safety
/// `p` NULL or valid for reading a `dpx_tree_params`; `image` and `state` NULL or valid for
/// writing their byte lengths, and used by nobody else until the stream ends.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_begin(
    p: *const dpx_tree_params,
    image: *mut c_void,
    image_bytes: usize,
    state: *mut c_void,
    state_bytes: usize,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let img = output_buf(image, image_bytes)?;
        let st = output_buf(state, state_bytes)?;
        disjoint(&[img.region(), st.region()])?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, st) = unsafe { (img.as_mut_slice(), st.as_mut_slice()) };
        DPTreeWriter::begin(&plan, img, st)?;
        Ok(())
    };
    let wipe = [Buf::new(image, image_bytes), Buf::new(state, state_bytes)];
    // SAFETY: forwarded precondition; no slice made by `run` is alive.
    unsafe { status_wiping(run(), &wipe) }
}

/// Appends `n` values to a stream started by [`dpx_tree_begin`], noising and freezing one
/// node per value; afterwards every range inside the completed prefix is answerable.
///
/// # Errors
/// Pointer errors; `DPX_ERR_BAD_MAGIC` and other image errors, `DPX_ERR_BUILD_STATE`
/// (`state` is not the live state of this image); `DPX_ERR_TOO_MANY_ROWS`,
/// `DPX_ERR_NON_FINITE_INPUT`, `DPX_ERR_OUT_OF_RANGE`: nothing written, the stream goes on.
/// `DPX_ERR_NULL_CALLBACK`: nothing written. `DPX_ERR_RNG`: image and state zeroised.
///
/// # Safety
/// As [`dpx_tree_begin`] for `image` and `state`; `values` NULL or valid for reading `n`
/// doubles; `fill` follows the `dpx_fill_fn` contract with `fill_ctx`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dpx_tree_push(
    image: *mut c_void,
    image_bytes: usize,
    state: *mut c_void,
    state_bytes: usize,
    values: *const f64,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        let img = output_buf(image, image_bytes)?;
        let st = output_buf(state, state_bytes)?;
        let v = input(values, n)?;
        disjoint(&[img.region(), st.region(), v.region()])?;
        // SAFETY: forwarded precondition on `fill`.
        let mut rng = unsafe { CallbackRng::new(fill, fill_ctx) }?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, st, v) = unsafe { (img.as_mut_slice(), st.as_mut_slice(), v.as_slice()) };
        let mut w = DPTreeWriter::resume(img, st)?;
        // `push` validates first (nothing written) and zeroises both buffers itself on an
        // entropy failure.
        w.push(v, &mut rng)?;
        Ok(())
    };
    status(run())
}

/// Ends a stream: zeroises the private state. The image stays valid (and was valid all
/// along); open it with [`dpx_tree_open`].
///
/// # Errors
/// Pointer errors, image errors, `DPX_ERR_BUILD_STATE`: nothing changed.
///
/// # Safety
/// As [`dpx_tree_begin`] for `image` and `state`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_finish(
    image: *mut c_void,
    image_bytes: usize,
    state: *mut c_void,
    state_bytes: usize,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        let img = output_buf(image, image_bytes)?;
        let st = output_buf(state, state_bytes)?;
        disjoint(&[img.region(), st.region()])?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, st) = unsafe { (img.as_mut_slice(), st.as_mut_slice()) };
        DPTreeWriter::resume(img, st)?.finish();
        Ok(())
    };
    status(run())
}

/// Validates a DPTree image in full (magic, version, kind, header CRC, calibration, node
/// checksum) and returns a zero-copy handle to it in `*out`.
///
/// # Errors
/// `DPX_ERR_NULL`, `DPX_ERR_MISALIGNED`, `DPX_ERR_OVERLAP`, `DPX_ERR_BUFFER_TOO_SMALL`,
/// `DPX_ERR_BAD_MAGIC` (not a DPTree image, or a zeroised failed build),
/// `DPX_ERR_UNSUPPORTED_VERSION`, `DPX_ERR_CORRUPT_IMAGE`, `DPX_ERR_CHECKSUM_MISMATCH`.
/// `*out` is written only on success.
///
/// # Safety
/// `image` NULL or valid for reading `image_bytes` bytes; `out` NULL or valid for writing
/// one pointer. The image must stay alive, and change only through `dpx_tree_push`, while
/// the handle is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_open(
    image: *const c_void,
    image_bytes: usize,
    out: *mut *const dpx_tree,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe { open::<DPTree, _>(image, image_bytes, out) }
}

/// Facts about an opened tree: its parameters, `filled`, its size.
///
/// # Errors
/// Pointer errors; image errors if `t` is not an open DPTree image. `*out` is written
/// only on success.
///
/// # Safety
/// `t` NULL or a handle from [`dpx_tree_open`] (image alive, not modified during the
/// call); `out` NULL or valid for writing one `dpx_tree_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_info(t: *const dpx_tree, out: *mut dpx_tree_info) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        answer(t.cast(), out, |tr: &DPTree, img| {
            Ok(dpx_tree_info {
                params: dpx_tree_params {
                    n: tr.len(),
                    value_bound: tr.value_bound(),
                    mechanism: mechanism_of(tr.noise()),
                    epsilon: tr.epsilon(),
                    delta: tr.delta(),
                },
                filled: tr.filled(),
                image_bytes: img.region_len(),
            })
        })
    }
}

/// Noised `sum_{a <= i < b} v_i` into `*out`. Costs no privacy.
///
/// # Errors
/// `DPX_ERR_INVALID_RANGE` unless `a < b <= filled`; pointer and image errors. `*out` is
/// written only on success.
///
/// # Safety
/// As [`dpx_tree_info()`], with `out` valid for writing one double.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_range_sum(
    t: *const dpx_tree,
    a: usize,
    b: usize,
    out: *mut f64,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe { answer(t.cast(), out, |tr: &DPTree, _| tr.range_sum(a, b)) }
}

/// Error bound of [`dpx_tree_range_sum`]`(t, a, b)`: `|answer - exact| <= out->total` with
/// probability `>= 1 - beta`.
///
/// # Errors
/// `DPX_ERR_INVALID_RANGE`; `DPX_ERR_INVALID_PARAMETER` unless `0 < beta < 1`; pointer and
/// image errors. `*out` is written only on success.
///
/// # Safety
/// As [`dpx_tree_info()`], with `out` valid for writing one `dpx_bound_parts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_bound(
    t: *const dpx_tree,
    a: usize,
    b: usize,
    beta: f64,
    out: *mut dpx_bound_parts,
) -> dpx_status {
    // SAFETY: forwarded precondition.
    unsafe {
        answer(t.cast(), out, |tr: &DPTree, _| {
            tr.bound(a, b, beta).map(dpx_bound_parts::from)
        })
    }
}
