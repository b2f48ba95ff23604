//! Opening an image (`dpx_open`) and answering queries from it.
//!
//! # The handle
//! A `const dpx_attn *` **is the image**: `dpx_open` validates the image in full (magic,
//! version, header consistency, length, CRC-32C over every byte) and returns the image's
//! own address, cast to the opaque type. Nothing is copied or allocated, so the image may
//! live in flash, in a memory-mapped file or in RAM, and the handle needs no freeing.
//!
//! Each query then re-reads the header through the handle ([`handle`]): magic, version and
//! every header field are re-validated and the image length is taken from the header, but
//! the checksum is **not** recomputed (`Attn::open_trusted`). Why that is sound:
//! - *Cost.* The CRC pass reads the whole image at about one byte per table lookup, which
//!   costs several times a flat query (measured in `docs/notes/ffi.md`), while the header
//!   checks are O(header).
//! - *Memory safety.* Every slice the query takes is bounded by lengths the header
//!   validation recomputes from the parameters; no length comes from the unchecked words.
//!   The caller promises (`# Safety`) that the handle came from `dpx_open` and that the
//!   image stays alive and unchanged while the handle is used, so the header length is
//!   the length `dpx_open` checked against `image_bytes`.
//! - *Privacy.* Any function of a released image is post-processing: skipping a checksum
//!   cannot weaken the guarantee. A body corrupted after `dpx_open` (a flipped flash bit)
//!   only yields wrong outputs, exactly as between two queries of a Rust `Attn`.

use super::DPX_HEADER_BYTES;
use super::check::{
    FfiResult, Span, disjoint, input, input_buf, output, output_buf, output_struct, status,
};
use super::params::dpx_params;
use super::plan::dpx_plan;
use super::status::{DPX_ERR_WRONG_LENGTH, dpx_status};
use crate::mechanism::{Attn, Policy, Rows, image_len};
use core::ffi::c_void;

/// Opaque handle of an opened image (a pointer to the image's first byte; see
/// [`dpx_open`]). Never dereferenced by C code; valid as long as the image is.
///
/// Deliberately not `#[repr(C)]`: cbindgen then declares it as an incomplete type
/// (`typedef struct dpx_attn dpx_attn;`), which C can only point to.
pub struct dpx_attn {
    _private: [u8; 0],
}

/// What a query reports besides its output.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct dpx_query_info {
    /// 1 if the noisy denominator fell below its a-priori floor and the floor was used
    /// (DESIGN section 2.5): the output is then dominated by noise; treat it with suspicion.
    pub floor_used: u32,
}

/// Error bounds of an image (DESIGN section 2.6), in the units of the values: L2 norm of
/// `output - exact attention over the clipped rows`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_bound {
    /// The failure probability beta the bounds hold with.
    pub beta: f64,
    /// Deterministic kernel (and contribution-clipping) part.
    pub kernel: f64,
    /// Noise part for one fixed query, with probability >= 1 - beta.
    pub noise_single: f64,
    /// Noise part for all queries at once, with probability >= 1 - beta.
    pub noise_uniform: f64,
    /// Total for one fixed query: min(2*radius_v, kernel + noise_single).
    pub single: f64,
    /// Total for all queries at once: min(2*radius_v, kernel + noise_uniform).
    pub uniform: f64,
}

/// Facts about an opened image.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct dpx_attn_info {
    /// The parameters the image was built with (`degree` as chosen by the plan).
    pub params: dpx_params,
    /// Rows the image was built from.
    pub rows: u32,
    /// Blocks holding rows: valid `[block_begin, block_end)` lie in `[0, blocks]`
    /// (1 for the flat layout).
    pub blocks: usize,
    /// Bytes of the image.
    pub image_bytes: usize,
    /// Bytes of scratch one query needs.
    pub query_scratch_bytes: usize,
}

/// The image behind a handle, re-validated without its checksum (see the module docs),
/// and its byte span (for the overlap checks of the outputs).
///
/// # Safety
/// `a` must be NULL or a handle returned by [`dpx_open`] whose image is alive and
/// unchanged for `'a`.
unsafe fn handle<'a>(a: *const dpx_attn) -> FfiResult<(Attn<'a>, Span<u8>)> {
    let head = input_buf(a.cast(), DPX_HEADER_BYTES)?;
    // SAFETY: `dpx_open` checked that the image holds at least the header (precondition).
    let total = image_len(unsafe { head.as_slice() })?;
    let img = input_buf(a.cast(), total)?;
    // SAFETY: `dpx_open` checked `total <= image_bytes` for this unchanged image.
    let attn = Attn::open_trusted(unsafe { img.as_slice() })?;
    Ok((attn, img))
}

/// Validates an image in full (magic, version, header, length, checksum) and returns a
/// handle to it in `*out`. Zero-copy: the handle points into `image`, which must stay alive
/// and unchanged while the handle is used (it may be in flash or a read-only mapping).
///
/// # Errors
/// `DPX_ERR_NULL`, `DPX_ERR_MISALIGNED` (`image` needs `DPX_ALIGN`), `DPX_ERR_OVERLAP`
/// (`out` inside the image), `DPX_ERR_BUFFER_TOO_SMALL` (truncated), `DPX_ERR_BAD_MAGIC`
/// (not an image, a build in progress, or a failed build's zeroised buffer),
/// `DPX_ERR_UNSUPPORTED_VERSION`, `DPX_ERR_CORRUPT_IMAGE`, `DPX_ERR_CHECKSUM_MISMATCH`.
/// `*out` is written only on success.
///
/// # Safety
/// `image` must be NULL or valid for reading `image_bytes` bytes; `out` NULL or valid for
/// writing one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_open(
    image: *const c_void,
    image_bytes: usize,
    out: *mut *const dpx_attn,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        let img = input_buf(image, image_bytes)?;
        let o = output_struct(out)?;
        disjoint(&[img.region(), o.region()])?;
        // SAFETY: checked; validity is the caller's precondition.
        Attn::open(unsafe { img.as_slice() })?;
        // SAFETY: checked non-NULL, aligned, not inside the image.
        unsafe { o.write(image.cast::<dpx_attn>()) };
        Ok(())
    };
    status(run())
}

/// Shared body of the single-query entry points.
///
/// # Safety
/// The preconditions of [`dpx_query_ex`] (with `info` possibly NULL = not wanted).
#[allow(clippy::too_many_arguments)]
unsafe fn query_any(
    a: *const dpx_attn,
    range: Option<(usize, usize)>,
    q: *const f32,
    q_len: usize,
    out: *mut f32,
    out_len: usize,
    info: Option<*mut dpx_query_info>,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> FfiResult<()> {
    // SAFETY: forwarded precondition.
    let (attn, img) = unsafe { handle(a) }?;
    let qs = input(q, q_len)?;
    let os = output(out, out_len)?;
    let scr = output_buf(scratch, scratch_bytes)?;
    let inf = match info {
        Some(p) => Some(output_struct(p)?),
        None => None,
    };
    let inf_region = inf.map(|s| s.region());
    disjoint(&[
        img.region(),
        qs.region(),
        os.region(),
        scr.region(),
        inf_region.unwrap_or(img.region()),
    ])?;
    // SAFETY: all checked; the written ones are disjoint from every other buffer.
    let (qv, ov, sv) = unsafe { (qs.as_slice(), os.as_mut_slice(), scr.as_mut_slice()) };
    let (b0, b1) = range.unwrap_or((0, attn.blocks()));
    let r = attn.query_range(b0, b1, qv, ov, sv)?;
    if let Some(s) = inf {
        // SAFETY: checked non-NULL, aligned, disjoint.
        unsafe {
            s.write(dpx_query_info {
                floor_used: u32::from(r.floor_used),
            });
        }
    }
    Ok(())
}

/// Attention over all rows of the image: `out ~= softmax(tau * q * K^T) * V`, with `q_len == d`
/// and `out_len == dv`. Costs no privacy (post-processing), however many queries.
///
/// # Errors
/// `DPX_ERR_WRONG_LENGTH`, `DPX_ERR_NON_FINITE_INPUT` (q holds NaN/inf),
/// `DPX_ERR_BUFFER_TOO_SMALL` / `DPX_ERR_MISALIGNED` (scratch: `dpx_plan.query_scratch_bytes`,
/// `DPX_ALIGN`), pointer errors, image errors if the handle is not an open image.
/// `out` is written only on success.
///
/// # Safety
/// `a` must be NULL or a handle from [`dpx_open`] whose image is alive and unchanged;
/// `q`, `out`, `scratch` NULL or valid for their stated lengths (`q_len`/`out_len` floats,
/// `scratch_bytes` bytes). Different threads may query one handle at once, each with its
/// own `out` and `scratch`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_query(
    a: *const dpx_attn,
    q: *const f32,
    q_len: usize,
    out: *mut f32,
    out_len: usize,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    // SAFETY: forwarded preconditions.
    status(unsafe {
        query_any(
            a,
            None,
            q,
            q_len,
            out,
            out_len,
            None,
            scratch,
            scratch_bytes,
        )
    })
}

/// Attention over the rows of blocks `[block_begin, block_end)` only (tree layout:
/// `dpx_params.block` rows per block, e.g. one RAG document; the flat layout has the single
/// range `[0, 1)`).
///
/// # Errors
/// As [`dpx_query`], plus `DPX_ERR_INVALID_RANGE` (empty, reversed, or beyond the built
/// blocks, see `dpx_attn_info.blocks`).
///
/// # Safety
/// As [`dpx_query`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_query_range(
    a: *const dpx_attn,
    block_begin: usize,
    block_end: usize,
    q: *const f32,
    q_len: usize,
    out: *mut f32,
    out_len: usize,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    // SAFETY: forwarded preconditions.
    status(unsafe {
        query_any(
            a,
            Some((block_begin, block_end)),
            q,
            q_len,
            out,
            out_len,
            None,
            scratch,
            scratch_bytes,
        )
    })
}

/// [`dpx_query_range`] that also reports whether the denominator floor was used
/// (`info->floor_used`). Query all rows with `[0, dpx_attn_info.blocks)`.
///
/// # Errors
/// As [`dpx_query_range`]. `out` and `*info` are written only on success.
///
/// # Safety
/// As [`dpx_query`]; `info` must be NULL or valid for writing one `dpx_query_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_query_ex(
    a: *const dpx_attn,
    block_begin: usize,
    block_end: usize,
    q: *const f32,
    q_len: usize,
    out: *mut f32,
    out_len: usize,
    info: *mut dpx_query_info,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    // SAFETY: forwarded preconditions.
    status(unsafe {
        query_any(
            a,
            Some((block_begin, block_end)),
            q,
            q_len,
            out,
            out_len,
            Some(info),
            scratch,
            scratch_bytes,
        )
    })
}

/// Answers `m = q_len / d` queries at once (`q`: `m x d` row-major) over all rows:
/// `out` is `m x dv` (`out_len == m*dv`). `info` receives one `dpx_query_info` per query
/// (`info_len == m`), or is NULL with `info_len == 0` when not wanted.
///
/// Every argument and every query row is checked before the first query runs, so a batch
/// either succeeds whole or fails without writing. (Should a query fail after those checks
/// anyway -- impossible for an image from `dpx_open` that stayed unchanged -- `out` and
/// `info` are zero-filled rather than left half-written.)
///
/// # Errors
/// As [`dpx_query`]; `DPX_ERR_WRONG_LENGTH` if `q_len` is not a multiple of d or the
/// output lengths do not match m; `DPX_ERR_NON_FINITE_INPUT` if any query holds NaN/inf.
///
/// # Safety
/// As [`dpx_query`], with `info` NULL or valid for `info_len` elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_query_batch(
    a: *const dpx_attn,
    q: *const f32,
    q_len: usize,
    out: *mut f32,
    out_len: usize,
    info: *mut dpx_query_info,
    info_len: usize,
    scratch: *mut c_void,
    scratch_bytes: usize,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (attn, img) = unsafe { handle(a) }?;
        let (d, dv) = (attn.d(), attn.dv());
        // d, dv ≥ 1 for a validated image: the check keeps division and chunking by zero
        // (panic paths) out of the binary (`.ci/harden.sh` checks for them).
        if d == 0 || dv == 0 {
            return Err(super::status::DPX_ERR_CORRUPT_IMAGE);
        }
        if !q_len.is_multiple_of(d) {
            return Err(DPX_ERR_WRONG_LENGTH);
        }
        let m = q_len / d;
        let qs = input(q, q_len)?;
        let os = output(out, out_len)?;
        let is = output(info, info_len)?;
        let scr = output_buf(scratch, scratch_bytes)?;
        if Some(out_len) != m.checked_mul(dv) || (info_len != 0 && info_len != m) {
            return Err(DPX_ERR_WRONG_LENGTH);
        }
        disjoint(&[
            img.region(),
            qs.region(),
            os.region(),
            is.region(),
            scr.region(),
        ])?;
        // SAFETY: all checked; the written ones are disjoint from every other buffer.
        let (qv, ov, iv, sv) = unsafe {
            (
                qs.as_slice(),
                os.as_mut_slice(),
                is.as_mut_slice(),
                scr.as_mut_slice(),
            )
        };
        // Every check a query makes, up front, so that nothing below can fail.
        for row in 0..m {
            Rows::F32(qv).check(row, d, 1.0, Policy::Clip)?;
        }
        if sv.len() < attn.query_scratch_bytes() {
            return Err(super::status::DPX_ERR_BUFFER_TOO_SMALL);
        }
        // A tree image of zero rows has no block to query: refuse before writing anything
        // (the loop below would fail on the first query and zero-fill `out`).
        if m > 0 && attn.blocks() == 0 {
            return Err(super::status::DPX_ERR_INVALID_RANGE);
        }
        let mut infos = iv.iter_mut();
        // Indexed rows rather than `chunks_exact(d).zip(..)`, whose out-of-line `Zip::new`
        // keeps a division-by-zero panic path in the binary.
        for row in 0..m {
            let (Some(qi), Some(oi)) = (
                qv.get(row * d..(row + 1) * d),
                ov.get_mut(row * dv..(row + 1) * dv),
            ) else {
                return Err(DPX_ERR_WRONG_LENGTH); // unreachable: lengths checked above
            };
            match attn.query(qi, oi, sv) {
                Ok(r) => {
                    if let Some(slot) = infos.next() {
                        slot.floor_used = u32::from(r.floor_used);
                    }
                }
                Err(e) => {
                    ov.fill(0.0);
                    iv.fill(dpx_query_info::default());
                    return Err(e.into());
                }
            }
        }
        Ok(())
    };
    status(run())
}

/// A-priori error bounds for queries over all rows of the image, holding with probability
/// >= 1 - `beta` (for one fixed query, and for all queries at once).
///
/// # Errors
/// `DPX_ERR_INVALID_PARAMETER` if `beta` not in (0, 1); pointer and image errors. `*out` is
/// written only on success.
///
/// # Safety
/// `a` as in [`dpx_query`]; `out` NULL or valid for writing one `dpx_bound`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_bound(
    a: *const dpx_attn,
    beta: f64,
    out: *mut dpx_bound,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (attn, img) = unsafe { handle(a) }?;
        let o = output_struct(out)?;
        disjoint(&[img.region(), o.region()])?;
        let b = attn.bound(beta)?;
        // SAFETY: checked non-NULL, aligned, outside the image.
        unsafe {
            o.write(dpx_bound {
                beta: b.beta,
                kernel: b.kernel,
                noise_single: b.noise_single,
                noise_uniform: b.noise_uniform,
                single: b.single,
                uniform: b.uniform,
            });
        }
        Ok(())
    };
    status(run())
}

/// Parameters, row count, block count and sizes of an opened image.
///
/// # Errors
/// Pointer and image errors. `*out` is written only on success.
///
/// # Safety
/// `a` as in [`dpx_query`]; `out` NULL or valid for writing one `dpx_attn_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_attn_info(a: *const dpx_attn, out: *mut dpx_attn_info) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (attn, img) = unsafe { handle(a) }?;
        let o = output_struct(out)?;
        disjoint(&[img.region(), o.region()])?;
        let plan = attn.plan();
        // SAFETY: checked non-NULL, aligned, outside the image.
        unsafe {
            o.write(dpx_attn_info {
                params: dpx_params::from(plan.params()),
                rows: attn.rows(),
                blocks: attn.blocks(),
                image_bytes: plan.image_bytes(),
                query_scratch_bytes: attn.query_scratch_bytes(),
            });
        }
        Ok(())
    };
    status(run())
}

/// The plan (sizes, sigma, sensitivity, kernel error) an opened image was built with.
///
/// # Errors
/// Pointer and image errors. `*out` is written only on success.
///
/// # Safety
/// `a` as in [`dpx_query`]; `out` NULL or valid for writing one `dpx_plan`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_attn_plan(a: *const dpx_attn, out: *mut dpx_plan) -> dpx_status {
    let run = || -> FfiResult<()> {
        // SAFETY: forwarded precondition.
        let (attn, img) = unsafe { handle(a) }?;
        let o = output_struct(out)?;
        disjoint(&[img.region(), o.region()])?;
        // SAFETY: checked non-NULL, aligned, outside the image.
        unsafe { o.write(dpx_plan::from(attn.plan())) };
        Ok(())
    };
    status(run())
}

/// The total length of a stored image from its first `DPX_HEADER_BYTES` bytes (any
/// alignment): read the header of a file or stream, learn the size, then read the rest
/// into a `DPX_ALIGN`-aligned buffer and [`dpx_open`] it. The header is validated (magic,
/// version, consistency); the checksum is checked by `dpx_open`.
///
/// # Errors
/// `DPX_ERR_BUFFER_TOO_SMALL` (`header_bytes < DPX_HEADER_BYTES`), `DPX_ERR_BAD_MAGIC`,
/// `DPX_ERR_UNSUPPORTED_VERSION`, `DPX_ERR_CORRUPT_IMAGE`, pointer errors. `*out` is
/// written only on success.
///
/// # Safety
/// `header` must be NULL or valid for reading `header_bytes` bytes; `out` NULL or valid
/// for writing one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpx_image_size(
    header: *const c_void,
    header_bytes: usize,
    out: *mut usize,
) -> dpx_status {
    let run = || -> FfiResult<()> {
        let h = input(header.cast::<u8>(), header_bytes)?;
        let o = output_struct(out)?;
        disjoint(&[h.region(), o.region()])?;
        // SAFETY: checked; validity is the caller's precondition.
        let total = image_len(unsafe { h.as_slice() })?;
        // SAFETY: checked non-NULL, aligned, outside the header.
        unsafe { o.write(total) };
        Ok(())
    };
    status(run())
}
