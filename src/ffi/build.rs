//! Building an image: one call (`dpx_build*`) or streaming (`dpx_build_begin`, any number
//! of `dpx_build_push*`, `dpx_build_finish`), from `float` rows or quantised `int8_t` /
//! `int16_t` rows with a scale.
//!
//! # What a failure leaves behind
//! - `dpx_build*` and `dpx_build_begin`: on **any** error the image buffer is zeroised
//!   (when `image` is non-NULL): a failed build never leaves a half-built, un-noised or
//!   stale image that `dpx_open` would accept. The scratch is zeroised by every failure
//!   that got as far as writing it.
//! - `dpx_build_push*`: a refused chunk (argument error, NaN row, out-of-ball row under
//!   `DPX_FLAG_REJECT`, too many rows) changes nothing, and the build can go on with
//!   another chunk. An entropy failure (`DPX_ERR_RNG`) ends the build: image and scratch
//!   are zeroised.
//! - `dpx_build_finish`: an entropy failure zeroises image and scratch; a state error
//!   (`DPX_ERR_BUILD_STATE`: not a build in progress, or a foreign scratch) changes nothing.
//!
//! In every case the exact (un-noised) sums only ever live in the scratch, which the
//! library zeroises when the build finishes or fails.

use super::check::{FfiResult, Region, Span, disjoint, input, output_buf, status};
use super::params::dpx_params;
use super::plan::plan_of;
use super::rng::{CallbackRng, dpx_fill_fn};
use super::status::{DPX_ERR_LENGTH_OVERFLOW, dpx_status};
use crate::mechanism::{Rows, build_begin, build_finish, build_push, build_rows, state_dims};
use core::ffi::c_void;

/// A C row matrix before its length is known.
#[derive(Clone, Copy)]
enum RowsPtr {
    F32(*const f32),
    I8(*const i8, f32),
    I16(*const i16, f32),
}

/// A checked C row matrix.
#[derive(Clone, Copy)]
enum RowSpan {
    F32(Span<f32>),
    I8(Span<i8>, f32),
    I16(Span<i16>, f32),
}

impl RowsPtr {
    fn span(self, len: usize) -> FfiResult<RowSpan> {
        Ok(match self {
            RowsPtr::F32(p) => RowSpan::F32(input(p, len)?),
            RowsPtr::I8(p, s) => RowSpan::I8(input(p, len)?, s),
            RowsPtr::I16(p, s) => RowSpan::I16(input(p, len)?, s),
        })
    }
}

impl RowSpan {
    fn region(&self) -> Region {
        match self {
            RowSpan::F32(s) => s.region(),
            RowSpan::I8(s, _) => s.region(),
            RowSpan::I16(s, _) => s.region(),
        }
    }

    /// # Safety
    /// As [`Span::as_slice`].
    unsafe fn rows<'a>(self) -> Rows<'a> {
        // SAFETY: forwarded precondition.
        unsafe {
            match self {
                RowSpan::F32(s) => Rows::F32(s.as_slice()),
                RowSpan::I8(s, k) => Rows::I8(s.as_slice(), k),
                RowSpan::I16(s, k) => Rows::I16(s.as_slice(), k),
            }
        }
    }
}

/// `rows x dim` elements, or `DPX_ERR_LENGTH_OVERFLOW`.
fn elements(rows: usize, dim: usize) -> FfiResult<usize> {
    rows.checked_mul(dim).ok_or(DPX_ERR_LENGTH_OVERFLOW)
}

/// Zeroises a failed build's image (when it is addressable at all).
///
/// # Safety
/// `image` must be NULL or valid for writing `image_bytes` bytes.
pub(super) unsafe fn zeroise_image(image: *mut c_void, image_bytes: usize) {
    // Alignment does not matter for bytes; NULL, empty or wrapping buffers are skipped.
    if let Ok(s) = super::check::output(image.cast::<u8>(), image_bytes) {
        // SAFETY: the caller's precondition; no reference to the image is alive here.
        unsafe { s.as_mut_slice().fill(0) };
    }
}

/// The one-shot build shared by `dpx_build`, `dpx_build_i8` and `dpx_build_i16`.
///
/// # Safety
/// The preconditions of [`dpx_build`].
#[allow(clippy::too_many_arguments)]
unsafe fn build_any(
    p: *const dpx_params,
    image: *mut c_void,
    image_bytes: usize,
    keys: RowsPtr,
    values: RowsPtr,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let (d, dv) = (plan.params().d as usize, plan.params().dv as usize);
        let img = output_buf(image, image_bytes)?;
        let scr = output_buf(scratch, scratch_bytes)?;
        let k = keys.span(elements(n, d)?)?;
        let v = values.span(elements(n, dv)?)?;
        disjoint(&[img.region(), scr.region(), k.region(), v.region()])?;
        // SAFETY: forwarded precondition on `fill`.
        let mut rng = unsafe { CallbackRng::new(fill, fill_ctx) }?;
        // SAFETY: all four buffers checked (NULL, size, alignment) and pairwise disjoint
        // where written; validity is the caller's precondition.
        let (img, scr, k, v) =
            unsafe { (img.as_mut_slice(), scr.as_mut_slice(), k.rows(), v.rows()) };
        build_rows(&plan, img, k, v, &mut rng, scr)?;
        Ok(())
    };
    let r = run();
    if r.is_err() {
        // SAFETY: forwarded precondition; every slice made by `run` is dead.
        unsafe { zeroise_image(image, image_bytes) };
    }
    status(r)
}

/// Builds a private image in one call from `n` float rows: `keys` is `n x d`, `values` is
/// `n x dv`, both row-major, with `d`, `dv` from `*p`. On success `image` holds a finished,
/// self-describing image of `dpx_plan.image_bytes` bytes (copy it anywhere: file, flash),
/// and the scratch is zeroised.
///
/// `image` and `scratch` must be `DPX_ALIGN`-aligned and at least `dpx_plan.image_bytes` /
/// `dpx_plan.scratch_bytes` long; `keys`/`values` 4-aligned; NULL only when `n == 0`.
///
/// # Errors
/// Pointer and size errors (-1xx, -2xx), parameter errors (-4xx), `DPX_ERR_NON_FINITE_INPUT`
/// / `DPX_ERR_OUT_OF_BALL` (a bad row), `DPX_ERR_TOO_MANY_ROWS` (`n > n_max`),
/// `DPX_ERR_NULL_CALLBACK`, `DPX_ERR_RNG`. On **any** error the image is zeroised (if
/// `image` is non-NULL), so it can never be opened.
///
/// # Safety
/// `p` must be NULL or valid for reading a `dpx_params`; each of `image`, `scratch`,
/// `keys`, `values` must be NULL or valid for its stated length (bytes for `image` and
/// `scratch`, `n*d` / `n*dv` floats for `keys` / `values`) and not written by anyone else
/// during the call; `fill` must follow the `dpx_fill_fn` contract with `fill_ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_build(
    p: *const dpx_params,
    image: *mut c_void,
    image_bytes: usize,
    keys: *const f32,
    values: *const f32,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    // SAFETY: forwarded preconditions.
    unsafe {
        build_any(
            p,
            image,
            image_bytes,
            RowsPtr::F32(keys),
            RowsPtr::F32(values),
            n,
            fill,
            fill_ctx,
            scratch,
            scratch_bytes,
        )
    }
}

/// [`dpx_build`] from quantised `int8_t` rows: the real value of an entry is
/// `entry x scale` (`keys_scale` for keys, `values_scale` for values; a non-finite product
/// is `DPX_ERR_NON_FINITE_INPUT`).
///
/// # Errors
/// As [`dpx_build`].
///
/// # Safety
/// As [`dpx_build`], with `n*d` / `n*dv` bytes for `keys` / `values`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_build_i8(
    p: *const dpx_params,
    image: *mut c_void,
    image_bytes: usize,
    keys: *const i8,
    keys_scale: f32,
    values: *const i8,
    values_scale: f32,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    // SAFETY: forwarded preconditions.
    unsafe {
        build_any(
            p,
            image,
            image_bytes,
            RowsPtr::I8(keys, keys_scale),
            RowsPtr::I8(values, values_scale),
            n,
            fill,
            fill_ctx,
            scratch,
            scratch_bytes,
        )
    }
}

/// [`dpx_build`] from quantised `int16_t` rows (2-aligned); see [`dpx_build_i8`].
///
/// # Errors
/// As [`dpx_build`].
///
/// # Safety
/// As [`dpx_build`], with `n*d` / `n*dv` `int16_t` for `keys` / `values`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_build_i16(
    p: *const dpx_params,
    image: *mut c_void,
    image_bytes: usize,
    keys: *const i16,
    keys_scale: f32,
    values: *const i16,
    values_scale: f32,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    // SAFETY: forwarded preconditions.
    unsafe {
        build_any(
            p,
            image,
            image_bytes,
            RowsPtr::I16(keys, keys_scale),
            RowsPtr::I16(values, values_scale),
            n,
            fill,
            fill_ctx,
            scratch,
            scratch_bytes,
        )
    }
}

/// Starts a streaming build: checks the buffers, writes the public header into `image`
/// (marked "in progress": it cannot be opened) and the build state into `scratch`. Every
/// later call of the build passes the same two buffers; all state lives in them, so a
/// build may be carried across function calls or tasks without any handle.
///
/// # Errors
/// Pointer, size and parameter errors. On any error the image is zeroised (if non-NULL).
///
/// # Safety
/// `p` must be NULL or valid for reading a `dpx_params`; `image` and `scratch` NULL or
/// valid for their stated byte lengths, and not used by anyone else until the build ends.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_build_begin(
    p: *const dpx_params,
    image: *mut c_void,
    image_bytes: usize,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let img = output_buf(image, image_bytes)?;
        let scr = output_buf(scratch, scratch_bytes)?;
        disjoint(&[img.region(), scr.region()])?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, scr) = unsafe { (img.as_mut_slice(), scr.as_mut_slice()) };
        build_begin(&plan, img, scr)?;
        Ok(())
    };
    let r = run();
    if r.is_err() {
        // SAFETY: forwarded precondition; no slice of `run` is alive.
        unsafe { zeroise_image(image, image_bytes) };
    }
    status(r)
}

/// The streaming push shared by the three row formats.
///
/// # Safety
/// The preconditions of [`dpx_build_push`].
#[allow(clippy::too_many_arguments)]
unsafe fn push_any(
    image: *mut c_void,
    image_bytes: usize,
    keys: RowsPtr,
    values: RowsPtr,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> FfiResult<()> {
    let img = output_buf(image, image_bytes)?;
    let scr = output_buf(scratch, scratch_bytes)?;
    disjoint(&[img.region(), scr.region()])?;
    // SAFETY: forwarded precondition on `fill`.
    let mut rng = unsafe { CallbackRng::new(fill, fill_ctx) }?;
    // SAFETY: image and scratch checked and disjoint; no reference to the rows exists yet.
    let (img_s, scr_s) = unsafe { (img.as_mut_slice(), scr.as_mut_slice()) };
    // The row shapes come from the authenticated build state in the buffers.
    let (d, dv) = state_dims(img_s, scr_s)?;
    let k = keys.span(elements(n, d)?)?;
    let v = values.span(elements(n, dv)?)?;
    // Checked on raw addresses before any reference to the rows is made.
    disjoint(&[img.region(), scr.region(), k.region(), v.region()])?;
    // SAFETY: checked, and disjoint from the two written buffers.
    let (k, v) = unsafe { (k.rows(), v.rows()) };
    build_push(img_s, scr_s, k, v, &mut rng)?;
    Ok(())
}

/// Adds `n` float rows (`keys`: `n x d`, `values`: `n x dv`, row-major) to a build started
/// by [`dpx_build_begin`]. Chunks may have any size (0 included). In the tree layout every
/// node whose last block is complete is noised and frozen right away, so the entropy
/// callback is needed here too.
///
/// # Errors
/// A refused chunk changes nothing and the build can continue: pointer and length errors,
/// `DPX_ERR_NON_FINITE_INPUT`, `DPX_ERR_OUT_OF_BALL`, `DPX_ERR_TOO_MANY_ROWS`,
/// `DPX_ERR_NULL_CALLBACK`, `DPX_ERR_BUILD_STATE` (no build in progress in these
/// buffers). `DPX_ERR_RNG` ends the build: image and scratch are zeroised.
///
/// # Safety
/// As [`dpx_build`] (without `p`): `image`/`scratch` are the buffers given to
/// `dpx_build_begin`, valid for their stated lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_build_push(
    image: *mut c_void,
    image_bytes: usize,
    keys: *const f32,
    values: *const f32,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    // SAFETY: forwarded preconditions.
    status(unsafe {
        push_any(
            image,
            image_bytes,
            RowsPtr::F32(keys),
            RowsPtr::F32(values),
            n,
            fill,
            fill_ctx,
            scratch,
            scratch_bytes,
        )
    })
}

/// [`dpx_build_push`] from quantised `int8_t` rows (`entry x scale`).
///
/// # Errors
/// As [`dpx_build_push`].
///
/// # Safety
/// As [`dpx_build_push`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_build_push_i8(
    image: *mut c_void,
    image_bytes: usize,
    keys: *const i8,
    keys_scale: f32,
    values: *const i8,
    values_scale: f32,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    // SAFETY: forwarded preconditions.
    status(unsafe {
        push_any(
            image,
            image_bytes,
            RowsPtr::I8(keys, keys_scale),
            RowsPtr::I8(values, values_scale),
            n,
            fill,
            fill_ctx,
            scratch,
            scratch_bytes,
        )
    })
}

/// [`dpx_build_push`] from quantised `int16_t` rows (`entry x scale`, 2-aligned).
///
/// # Errors
/// As [`dpx_build_push`].
///
/// # Safety
/// As [`dpx_build_push`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_build_push_i16(
    image: *mut c_void,
    image_bytes: usize,
    keys: *const i16,
    keys_scale: f32,
    values: *const i16,
    values_scale: f32,
    n: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    // SAFETY: forwarded preconditions.
    status(unsafe {
        push_any(
            image,
            image_bytes,
            RowsPtr::I16(keys, keys_scale),
            RowsPtr::I16(values, values_scale),
            n,
            fill,
            fill_ctx,
            scratch,
            scratch_bytes,
        )
    })
}

/// Finishes a streaming build: adds the remaining noise, seals the image (it can now be
/// opened, copied, stored) and zeroises the scratch. The image length is
/// `dpx_plan.image_bytes`.
///
/// # Errors
/// `DPX_ERR_BUILD_STATE` (no build in progress in these buffers; nothing changes),
/// pointer errors, `DPX_ERR_NULL_CALLBACK`, `DPX_ERR_RNG` (image and scratch zeroised).
///
/// # Safety
/// `image`/`scratch` must be NULL or valid for their stated lengths; `fill` must follow
/// the `dpx_fill_fn` contract with `fill_ctx`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_build_finish(
    image: *mut c_void,
    image_bytes: usize,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        let img = output_buf(image, image_bytes)?;
        let scr = output_buf(scratch, scratch_bytes)?;
        disjoint(&[img.region(), scr.region()])?;
        // SAFETY: forwarded precondition on `fill`.
        let mut rng = unsafe { CallbackRng::new(fill, fill_ctx) }?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, scr) = unsafe { (img.as_mut_slice(), scr.as_mut_slice()) };
        build_finish(img, scr, &mut rng)?;
        Ok(())
    };
    status(run())
}
