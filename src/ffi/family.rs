//! What the DPTree family's C wrappers (`tree`, `distance`, `highdim`, `softmax_tree`)
//! share, so that each `dpx_*` function states only what differs: its parameter struct, its
//! Rust call, and its extra buffers.
//!
//! Every helper keeps the exact order of the checks the wrappers made before they were
//! factored out (plan, then buffers in argument order, then overlap, then the callback), so
//! a call with several bad arguments still gets the same status. A structure without a
//! scratch buffer passes [`Buf::NONE`]: an empty span is never NULL, misaligned or
//! overlapping, so it changes no outcome.

use super::build::zeroise_image;
use super::check::{FfiResult, Span, disjoint, input, input_buf, output_buf, output_struct};
use super::check::{read_struct, status};
use super::params::{DPX_MECHANISM_GAUSSIAN, DPX_MECHANISM_LAPLACE, dpx_mechanism};
use super::rng::{CallbackRng, dpx_fill_fn};
use super::status::{DPX_ERR_INVALID_PARAMETER, DPX_ERR_LENGTH_OVERFLOW, dpx_status};
use crate::tree::{
    DPTree, DPTreeDistance, DPTreeHighDim, DPTreeSoftmax, IMAGE_HEADER_BYTES, Noise,
    finished_image_len,
};
use core::ffi::c_void;

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

/// A caller's `void *` buffer and its length in bytes (image, state or scratch).
#[derive(Clone, Copy)]
pub(super) struct Buf {
    /// The pointer as passed (checked only when used).
    pub ptr: *mut c_void,
    /// Its length in bytes.
    pub bytes: usize,
}

impl Buf {
    /// The buffer `ptr` of `bytes` bytes (checked only when used).
    pub const fn new(ptr: *mut c_void, bytes: usize) -> Buf {
        Buf { ptr, bytes }
    }

    /// No buffer: for the structures without scratch (always passes every check).
    pub const NONE: Buf = Buf {
        ptr: core::ptr::null_mut(),
        bytes: 0,
    };
}

/// The rows of a build or push: `points` (`n x d`, row-major) and `weights` (`n`).
#[derive(Clone, Copy)]
pub(super) struct Rows {
    /// `n x d` doubles.
    pub points: *const f64,
    /// `n` doubles.
    pub weights: *const f64,
    /// Number of rows.
    pub n: usize,
}

impl Rows {
    /// The checked spans for `d` coordinates per point, points first (as the C argument
    /// order). `n x d` overflowing is `DPX_ERR_LENGTH_OVERFLOW`.
    fn spans(self, d: usize) -> FfiResult<(Span<f64>, Span<f64>)> {
        let len = self.n.checked_mul(d).ok_or(DPX_ERR_LENGTH_OVERFLOW)?;
        Ok((input(self.points, len)?, input(self.weights, self.n)?))
    }
}

/// A C parameter struct of the family, validated into its Rust plan.
pub(super) trait CParams: Copy {
    /// The plan derived from the parameters.
    type Plan;
    /// Converts and validates (`DPX_ERR_*` of the parameters).
    fn plan(self) -> FfiResult<Self::Plan>;
}

/// Reads `*p` and derives its plan.
///
/// # Safety
/// `p` must be NULL or valid for reading one `P` (plain integers and floats).
pub(super) unsafe fn plan_of<P: CParams>(p: *const P) -> FfiResult<P::Plan> {
    // SAFETY: forwarded precondition; the struct is plain data.
    unsafe { read_struct(p) }?.plan()
}

/// A `dpx_*_plan_new`: derives the plan of `*p` and writes `describe(plan)` to `*out`
/// (only on success; `*p` is fully read before `out` is checked).
///
/// # Safety
/// `p` NULL or valid for reading one `P`; `out` NULL or valid for writing one `O`.
pub(super) unsafe fn plan_new<P: CParams, O>(
    p: *const P,
    out: *mut O,
    describe: impl FnOnce(&P::Plan) -> O,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let o = output_struct(out)?;
        // SAFETY: checked non-NULL and aligned; `*p` was copied before.
        unsafe { o.write(describe(&plan)) };
        Ok(())
    };
    status(run())
}

/// The status of a call that must not leave a partial build behind: on an error every
/// buffer of `wipe` is zeroised (NULL, empty or wrapping ones are skipped).
///
/// # Safety
/// Each buffer NULL or valid for writing its length; no reference to any is alive.
pub(super) unsafe fn status_wiping(r: FfiResult<()>, wipe: &[Buf]) -> dpx_status {
    if r.is_err() {
        for b in wipe {
            // SAFETY: forwarded precondition.
            unsafe { zeroise_image(b.ptr, b.bytes) };
        }
    }
    status(r)
}

/// One-shot build of a point structure (distance, highdim, softmax): plan, `image`,
/// `scratch`, the rows (`dims(plan)` coordinates each), overlap, the callback; then
/// `build`. On **any** error image and scratch are zeroised.
///
/// # Safety
/// `p` NULL or valid for reading one `P`; `image`, `scratch` NULL or valid for writing
/// their lengths; the rows NULL or valid for reading their lengths; nobody else writes
/// them during the call; `fill` follows the `dpx_fill_fn` contract with `fill_ctx`.
#[allow(clippy::too_many_arguments)] // the C arguments, grouped as far as they go
pub(super) unsafe fn build_rows<P: CParams>(
    p: *const P,
    image: Buf,
    rows: Rows,
    (fill, fill_ctx): (dpx_fill_fn, *mut c_void),
    scratch: Buf,
    dims: impl FnOnce(&P::Plan) -> usize,
    build: impl FnOnce(
        &P::Plan,
        &mut [u8],
        &[f64],
        &[f64],
        &mut [u8],
        &mut CallbackRng,
    ) -> crate::Result<()>,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let img = output_buf(image.ptr, image.bytes)?;
        let scr = output_buf(scratch.ptr, scratch.bytes)?;
        let (x, w) = rows.spans(dims(&plan))?;
        disjoint(&[img.region(), scr.region(), x.region(), w.region()])?;
        // SAFETY: forwarded precondition on `fill`.
        let mut rng = unsafe { CallbackRng::new(fill, fill_ctx) }?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, scr, x, w) = unsafe {
            (
                img.as_mut_slice(),
                scr.as_mut_slice(),
                x.as_slice(),
                w.as_slice(),
            )
        };
        build(&plan, img, x, w, scr, &mut rng)?;
        Ok(())
    };
    // SAFETY: forwarded precondition; no slice made by `run` is alive.
    unsafe { status_wiping(run(), &[image, scratch]) }
}

/// Start of a streamed point build: plan, `image`, then `begin`. On any error the image
/// is zeroised.
///
/// # Safety
/// `p` NULL or valid for reading one `P`; `image` NULL or valid for writing its length
/// and used by nobody else until the build ends.
pub(super) unsafe fn begin_rows<P: CParams>(
    p: *const P,
    image: Buf,
    begin: impl FnOnce(&P::Plan, &mut [u8]) -> crate::Result<()>,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let plan = unsafe { plan_of(p) }?;
        let img = output_buf(image.ptr, image.bytes)?;
        // SAFETY: checked; validity is the caller's precondition.
        begin(&plan, unsafe { img.as_mut_slice() })?;
        Ok(())
    };
    // SAFETY: forwarded precondition; no slice made by `run` is alive.
    unsafe { status_wiping(run(), &[image]) }
}

/// A push of rows into a build in progress: `image`, the point width `dims(image)` (read
/// from its header, before any mutable view exists), the rows, `scratch`, overlap; then
/// `push`, which writes nothing on a refused batch.
///
/// # Safety
/// As [`begin_rows`] for `image`; the rows NULL or valid for reading their lengths;
/// `scratch` NULL or valid for writing its length.
pub(super) unsafe fn push_rows(
    image: Buf,
    rows: Rows,
    scratch: Buf,
    dims: impl FnOnce(&[u8]) -> crate::Result<usize>,
    push: impl FnOnce(&mut [u8], &[f64], &[f64], &mut [u8]) -> crate::Result<()>,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        let img = output_buf(image.ptr, image.bytes)?;
        // SAFETY: checked; validity is the caller's precondition. This shared view ends
        // before the mutable one below is made.
        let d = dims(unsafe { img.as_slice() })?;
        let (x, w) = rows.spans(d)?;
        let scr = output_buf(scratch.ptr, scratch.bytes)?;
        disjoint(&[img.region(), x.region(), w.region(), scr.region()])?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (img, x, w, scr) = unsafe {
            (
                img.as_mut_slice(),
                x.as_slice(),
                w.as_slice(),
                scr.as_mut_slice(),
            )
        };
        push(img, x, w, scr)?;
        Ok(())
    };
    status(run())
}

/// End of a streamed point build: `image`, the callback, then `finish` (which zeroises
/// the image itself on an entropy failure, and changes nothing on the other errors).
///
/// # Safety
/// As [`begin_rows`] for `image`; `fill` follows the `dpx_fill_fn` contract.
pub(super) unsafe fn finish_rows(
    image: Buf,
    fill: dpx_fill_fn,
    fill_ctx: *mut c_void,
    finish: impl FnOnce(&mut [u8], &mut CallbackRng) -> crate::Result<()>,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        let img = output_buf(image.ptr, image.bytes)?;
        // SAFETY: forwarded precondition on `fill`.
        let mut rng = unsafe { CallbackRng::new(fill, fill_ctx) }?;
        // SAFETY: checked; validity is the caller's precondition.
        finish(unsafe { img.as_mut_slice() }, &mut rng)?;
        Ok(())
    };
    status(run())
}

/// An image type of the family, opened in full or trusted (re-opened behind a handle).
pub(super) trait Opened<'a>: Sized {
    /// Full validation, node checksum included (`dpx_*_open`).
    fn open_full(image: &'a [u8]) -> crate::Result<()>;
    /// Re-open behind a handle: header, calibration and sizes, not the O(n) checksum.
    fn open_trusted(image: &'a [u8]) -> crate::Result<Self>;
}

/// Implements [`Opened`] by the type's own `open` / `open_trusted`.
macro_rules! opened {
    ($($t:ident),*) => {$(
        impl<'a> Opened<'a> for $t<'a> {
            fn open_full(image: &'a [u8]) -> crate::Result<()> {
                $t::open(image).map(drop)
            }
            fn open_trusted(image: &'a [u8]) -> crate::Result<Self> {
                $t::open_trusted(image)
            }
        }
    )*};
}
opened!(DPTree, DPTreeDistance, DPTreeHighDim, DPTreeSoftmax);

/// A `dpx_*_open`: validates the image in full as a `T` and writes its address to `*out`
/// (the handle is the image itself).
///
/// # Safety
/// `image` NULL or valid for reading `image_bytes` bytes; `out` NULL or valid for writing
/// one pointer; the image must stay alive and unchanged while the handle is used.
pub(super) unsafe fn open<'a, T: Opened<'a>, H>(
    image: *const c_void,
    image_bytes: usize,
    out: *mut *const H,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        let img = input_buf(image, image_bytes)?;
        // SAFETY: checked; validity is the caller's precondition.
        T::open_full(unsafe { img.as_slice() })?;
        // SAFETY: forwarded precondition.
        unsafe { write_out(&img, out, image.cast::<H>()) }
    };
    status(run())
}

/// The whole image behind a DPTree-family handle: reads the header, takes the image
/// length from it (magic, version, size fields checked), and returns the checked span.
///
/// # Safety
/// `h` must be NULL or a handle from one of the `dpx_*_open` functions of the DPTree
/// family whose image is alive, and not modified during the call.
unsafe fn family_image(h: *const c_void) -> FfiResult<Span<u8>> {
    let head = input_buf(h, IMAGE_HEADER_BYTES)?;
    // SAFETY: the open function checked that the image holds at least its header.
    let total = finished_image_len(unsafe { head.as_slice() })?;
    input_buf(h, total)
}

/// The `T` behind a handle, re-opened from its header (`open_trusted`), and its image.
///
/// # Safety
/// `h` NULL or a handle from the `dpx_*_open` of `T` whose image is alive and unchanged
/// during `'a`.
unsafe fn handle<'a, T: Opened<'a>>(h: *const c_void) -> FfiResult<(T, Span<u8>)> {
    // SAFETY: forwarded precondition.
    let img = unsafe { family_image(h) }?;
    // SAFETY: the open function checked the header length against `image_bytes`.
    Ok((T::open_trusted(unsafe { img.as_slice() })?, img))
}

/// Writes `value` to a struct output `out`, after checking it lies outside `image`.
///
/// # Safety
/// `out` must be NULL or valid for writing one `T`.
unsafe fn write_out<T>(img: &Span<u8>, out: *mut T, value: T) -> FfiResult<()> {
    let o = output_struct(out)?;
    disjoint(&[img.region(), o.region()])?;
    // SAFETY: checked non-NULL, aligned and outside the image; writable is the precondition.
    unsafe { o.write(value) };
    Ok(())
}

/// A query through a handle with scalar arguments only: `*out = answer(t, image)`, written
/// only on success and only if it lies outside the image.
///
/// # Safety
/// `h` NULL or a handle from the `dpx_*_open` of `T` (image alive and unchanged); `out`
/// NULL or valid for writing one `O`.
pub(super) unsafe fn answer<'a, T: Opened<'a>, O>(
    h: *const c_void,
    out: *mut O,
    answer: impl FnOnce(&T, &Span<u8>) -> crate::Result<O>,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (t, img) = unsafe { handle::<T>(h) }?;
        let v = answer(&t, &img)?;
        // SAFETY: forwarded precondition.
        unsafe { write_out(&img, out, v) }
    };
    status(run())
}

/// A query through a handle with a public vector `y` (`y_len` doubles) and a scratch
/// buffer: checks handle, `y`, `out`, `scratch`, overlap; then `*out = answer(t, y,
/// scratch)`, written only on success.
///
/// # Safety
/// As [`answer`]; `y` NULL or valid for reading `y_len` doubles; `scratch` NULL or valid
/// for writing its length.
pub(super) unsafe fn answer_y<'a, T: Opened<'a>, O>(
    h: *const c_void,
    (y, y_len): (*const f64, usize),
    out: *mut O,
    scratch: Buf,
    answer: impl FnOnce(&T, &[f64], &mut [u8]) -> crate::Result<O>,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (t, img) = unsafe { handle::<T>(h) }?;
        let ys = input(y, y_len)?;
        let o = output_struct(out)?;
        let scr = output_buf(scratch.ptr, scratch.bytes)?;
        disjoint(&[img.region(), ys.region(), o.region(), scr.region()])?;
        // SAFETY: checked and disjoint; validity is the caller's precondition.
        let (yv, sv) = unsafe { (ys.as_slice(), scr.as_mut_slice()) };
        let v = answer(&t, yv, sv)?;
        // SAFETY: checked non-NULL, aligned, disjoint.
        unsafe { o.write(v) };
        Ok(())
    };
    status(run())
}
