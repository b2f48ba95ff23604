//! The DPTree range-sum structure from C (`dpx_tree_*`), and what the whole DPTree family
//! shares at the boundary (`dpx_bound_parts`, the handle re-open, the noise selector).
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
//! through the handle re-reads the header ([`family_image`]: magic, version, sizes, CRC of
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

use super::build::zeroise_image;
use super::check::{
    FfiResult, Span, disjoint, input, input_buf, output_buf, output_struct, read_struct,
};
use super::params::{DPX_MECHANISM_GAUSSIAN, DPX_MECHANISM_LAPLACE, dpx_mechanism};
use super::rng::{CallbackRng, dpx_fill_fn};
use super::status::{DPX_ERR_INVALID_PARAMETER, DPX_OK, dpx_status};
use crate::tree::{
    Bound, DPTree, DPTreeParams, DPTreePlan, DPTreeWriter, IMAGE_HEADER_BYTES, Noise,
    finished_image_len,
};
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

pub(super) fn status(r: FfiResult<()>) -> dpx_status {
    match r {
        Ok(()) => DPX_OK,
        Err(s) => s,
    }
}

/// The noise family of a `dpx_mechanism` (`DPX_ERR_INVALID_PARAMETER` if unknown).
pub(super) fn noise_of(m: dpx_mechanism) -> FfiResult<Noise> {
    match m {
        DPX_MECHANISM_GAUSSIAN => Ok(Noise::Gaussian),
        DPX_MECHANISM_LAPLACE => Ok(Noise::Laplace),
        _ => Err(DPX_ERR_INVALID_PARAMETER),
    }
}

/// The `dpx_mechanism` of a noise family.
pub(super) fn mechanism_of(n: Noise) -> dpx_mechanism {
    match n {
        Noise::Gaussian => DPX_MECHANISM_GAUSSIAN,
        Noise::Laplace => DPX_MECHANISM_LAPLACE,
    }
}

/// The whole image behind a DPTree-family handle: reads the header, takes the image
/// length from it (magic, version, size fields checked), and returns the checked span.
///
/// # Safety
/// `h` must be NULL or a handle from one of the `dpx_*_open` functions of the DPTree
/// family whose image is alive, and not modified during the call.
pub(super) unsafe fn family_image(h: *const c_void) -> FfiResult<Span<u8>> {
    let head = input_buf(h, IMAGE_HEADER_BYTES)?;
    // SAFETY: the open function checked that the image holds at least its header.
    let total = finished_image_len(unsafe { head.as_slice() })?;
    input_buf(h, total)
}

/// Writes `value` to a struct output `out`, after checking it lies outside `image`.
///
/// # Safety
/// `out` must be NULL or valid for writing one `T`.
pub(super) unsafe fn write_out<T>(img: &Span<u8>, out: *mut T, value: T) -> FfiResult<()> {
    let o = output_struct(out)?;
    disjoint(&[img.region(), o.region()])?;
    // SAFETY: checked non-NULL, aligned and outside the image; writable is the precondition.
    unsafe { o.write(value) };
    Ok(())
}

impl dpx_tree_params {
    fn to_params(self) -> FfiResult<DPTreeParams> {
        Ok(DPTreeParams {
            n: self.n,
            value_bound: self.value_bound,
            noise: noise_of(self.mechanism)?,
            epsilon: self.epsilon,
            delta: self.delta,
        })
    }
}

/// Reads `*p` and derives its plan.
///
/// # Safety
/// `p` must be NULL or valid for reading one `dpx_tree_params`.
unsafe fn tree_plan_of(p: *const dpx_tree_params) -> FfiResult<DPTreePlan> {
    // SAFETY: forwarded precondition; the struct is plain integers and floats.
    let params = unsafe { read_struct(p) }?.to_params()?;
    Ok(DPTreePlan::new(&params)?)
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
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { tree_plan_of(p) }?;
        let o = output_struct(out)?;
        let c = plan.calibration;
        // SAFETY: checked non-NULL and aligned; `*p` was copied before.
        unsafe {
            o.write(dpx_tree_plan {
                image_bytes: plan.image_bytes,
                state_bytes: plan.state_bytes,
                levels: plan.levels,
                frac_bits: c.frac_bits,
                grid: c.grid,
                noise_scale: c.scale_real(),
            });
        }
        Ok(())
    };
    status(run())
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
        let plan = unsafe { tree_plan_of(p) }?;
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
    let r = run();
    if r.is_err() {
        // SAFETY: forwarded precondition; no slice made by `run` is alive.
        unsafe { zeroise_image(image, image_bytes) };
    }
    status(r)
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
        let plan = unsafe { tree_plan_of(p) }?;
        let img = output_buf(image, image_bytes)?;
        let st = output_buf(state, state_bytes)?;
        disjoint(&[img.region(), st.region()])?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, st) = unsafe { (img.as_mut_slice(), st.as_mut_slice()) };
        DPTreeWriter::begin(&plan, img, st)?;
        Ok(())
    };
    let r = run();
    if r.is_err() {
        // SAFETY: forwarded precondition; no slice made by `run` is alive.
        unsafe {
            zeroise_image(image, image_bytes);
            zeroise_image(state, state_bytes);
        }
    }
    status(r)
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
    let run = || -> FfiResult<()> {
        let img = input_buf(image, image_bytes)?;
        // SAFETY: checked; validity is the caller's precondition.
        DPTree::open(unsafe { img.as_slice() })?;
        // SAFETY: forwarded precondition.
        unsafe { write_out(&img, out, image.cast::<dpx_tree>()) }
    };
    status(run())
}

/// The tree behind a handle, re-opened from its header (see the module docs).
///
/// # Safety
/// `t` NULL or a handle from [`dpx_tree_open`] whose image is alive and not modified
/// during the call.
unsafe fn tree<'a>(t: *const dpx_tree) -> FfiResult<(DPTree<'a>, Span<u8>)> {
    // SAFETY: forwarded precondition.
    let img = unsafe { family_image(t.cast()) }?;
    // SAFETY: `dpx_tree_open` checked the header length against `image_bytes`.
    Ok((DPTree::open_trusted(unsafe { img.as_slice() })?, img))
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
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (tr, img) = unsafe { tree(t) }?;
        let info = dpx_tree_info {
            params: dpx_tree_params {
                n: tr.len(),
                value_bound: tr.value_bound(),
                mechanism: mechanism_of(tr.noise()),
                epsilon: tr.epsilon(),
                delta: tr.delta(),
            },
            filled: tr.filled(),
            image_bytes: img.region_len(),
        };
        // SAFETY: forwarded precondition.
        unsafe { write_out(&img, out, info) }
    };
    status(run())
}

/// Noised `sum_{a <= i < b} v_i` into `*out`. Costs no privacy.
///
/// # Errors
/// `DPX_ERR_INVALID_RANGE` unless `a < b <= filled`; pointer and image errors. `*out` is
/// written only on success.
///
/// # Safety
/// As [`dpx_tree_info`], with `out` valid for writing one double.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_range_sum(
    t: *const dpx_tree,
    a: usize,
    b: usize,
    out: *mut f64,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (tr, img) = unsafe { tree(t) }?;
        let v = tr.range_sum(a, b)?;
        // SAFETY: forwarded precondition.
        unsafe { write_out(&img, out, v) }
    };
    status(run())
}

/// Error bound of [`dpx_tree_range_sum`]`(t, a, b)`: `|answer - exact| <= out->total` with
/// probability `>= 1 - beta`.
///
/// # Errors
/// `DPX_ERR_INVALID_RANGE`; `DPX_ERR_INVALID_PARAMETER` unless `0 < beta < 1`; pointer and
/// image errors. `*out` is written only on success.
///
/// # Safety
/// As [`dpx_tree_info`], with `out` valid for writing one `dpx_bound_parts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_tree_bound(
    t: *const dpx_tree,
    a: usize,
    b: usize,
    beta: f64,
    out: *mut dpx_bound_parts,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (tr, img) = unsafe { tree(t) }?;
        let bd = dpx_bound_parts::from(tr.bound(a, b, beta)?);
        // SAFETY: forwarded precondition.
        unsafe { write_out(&img, out, bd) }
    };
    status(run())
}
