//! Boundary checks: the **only** place that turns a C pointer and a length into a Rust
//! slice or reads/writes a C struct.
//!
//! Policy, applied to every pointer of every entry point, in this order:
//! 1. **NULL** is accepted only with a length of 0, and then means "empty" (no slice is
//!    made from it). NULL with a non-zero length is `DPX_ERR_NULL`. Struct pointers
//!    (inputs and outputs) have an implicit length of 1, so they must never be NULL.
//! 2. **Size**: `len x sizeof(T)` must not overflow, must stay <= `isize::MAX` (a Rust slice
//!    limit) and `ptr + bytes` must not wrap: else `DPX_ERR_LENGTH_OVERFLOW`.
//! 3. **Alignment**: `void *` image and scratch buffers need [`DPX_ALIGN`]; typed arrays
//!    and structs need their element's natural alignment (4 for `float`, 2 for `int16_t`):
//!    else `DPX_ERR_MISALIGNED`. An empty (length 0) buffer needs no alignment.
//! 4. **No aliasing**: every buffer the call writes must be disjoint from every other
//!    buffer of the call ([`disjoint`]), checked on raw addresses *before* any reference
//!    exists: else `DPX_ERR_OVERLAP`. (Overlapping `&mut` slices would be undefined
//!    behaviour in Rust, and an output overlapping an input would silently corrupt it.)
//!
//! What no check can establish -- that a non-NULL pointer addresses `len` valid elements --
//! is the caller's `# Safety` precondition on each entry point.

use super::DPX_ALIGN;
use super::status::{
    DPX_ERR_LENGTH_OVERFLOW, DPX_ERR_MISALIGNED, DPX_ERR_NULL, DPX_ERR_OVERLAP, DPX_OK, dpx_status,
};
use core::ffi::c_void;
use core::mem::{align_of, size_of};

/// Result of the boundary layer: a status code on error.
pub(crate) type FfiResult<T> = core::result::Result<T, dpx_status>;

/// The status an entry point returns for a boundary-layer result (`DPX_OK` on success).
pub(crate) fn status(r: FfiResult<()>) -> dpx_status {
    match r {
        Ok(()) => DPX_OK,
        Err(s) => s,
    }
}

/// A checked `(pointer, element count)` pair: not NULL unless empty, no size overflow,
/// aligned. Turning it into a slice is still `unsafe` (validity is the caller's promise).
pub(crate) struct Span<T> {
    ptr: *mut T,
    len: usize,
    bytes: usize,
    write: bool,
}

// Manual impls: a derive would require `T: Clone`.
impl<T> Clone for Span<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Span<T> {}

/// The raw byte range of a span, for the overlap check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    start: usize,
    end: usize,
    write: bool,
}

fn span<T>(ptr: *mut T, len: usize, align: usize, write: bool) -> FfiResult<Span<T>> {
    if len == 0 {
        // Empty: never dereferenced, so NULL or any alignment is fine.
        return Ok(Span {
            ptr: core::ptr::NonNull::dangling().as_ptr(),
            len: 0,
            bytes: 0,
            write,
        });
    }
    if ptr.is_null() {
        return Err(DPX_ERR_NULL);
    }
    let bytes = len
        .checked_mul(size_of::<T>())
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or(DPX_ERR_LENGTH_OVERFLOW)?;
    if ptr.addr().checked_add(bytes).is_none() {
        return Err(DPX_ERR_LENGTH_OVERFLOW);
    }
    if !ptr.addr().is_multiple_of(align.max(align_of::<T>())) {
        return Err(DPX_ERR_MISALIGNED);
    }
    Ok(Span {
        ptr,
        len,
        bytes,
        write,
    })
}

/// A read-only array of `len` elements of `T` at `ptr`.
pub(crate) fn input<T>(ptr: *const T, len: usize) -> FfiResult<Span<T>> {
    span(ptr.cast_mut(), len, 1, false)
}

/// A written array of `len` elements of `T` at `ptr`.
pub(crate) fn output<T>(ptr: *mut T, len: usize) -> FfiResult<Span<T>> {
    span(ptr, len, 1, true)
}

/// A read-only `void *` image buffer of `bytes` bytes, [`DPX_ALIGN`]-aligned.
pub(crate) fn input_buf(ptr: *const c_void, bytes: usize) -> FfiResult<Span<u8>> {
    span(ptr.cast_mut().cast::<u8>(), bytes, DPX_ALIGN, false)
}

/// A written `void *` image or scratch buffer of `bytes` bytes, [`DPX_ALIGN`]-aligned.
pub(crate) fn output_buf(ptr: *mut c_void, bytes: usize) -> FfiResult<Span<u8>> {
    span(ptr.cast::<u8>(), bytes, DPX_ALIGN, true)
}

/// A struct output (never NULL, naturally aligned).
pub(crate) fn output_struct<T>(ptr: *mut T) -> FfiResult<Span<T>> {
    span(ptr, 1, 1, true)
}

/// Reads a plain-data input struct by value (never NULL, naturally aligned).
///
/// # Safety
/// `ptr` must be NULL or valid for reading one `T`, and every bit pattern must be a valid
/// `T` (only used for `#[repr(C)]` structs of integers and floats).
pub(crate) unsafe fn read_struct<T: Copy>(ptr: *const T) -> FfiResult<T> {
    let s = input(ptr, 1)?;
    // SAFETY: `s.ptr` is non-NULL and aligned (checked by `input`); validity for one read
    // is the caller's precondition; T is plain data, so any bytes form a valid value.
    Ok(unsafe { s.ptr.read() })
}

impl<T> Span<T> {
    /// The byte range, for [`disjoint`].
    pub(crate) fn region(&self) -> Region {
        let start = self.ptr.addr();
        Region {
            start,
            // No overflow: `span` checked `ptr + bytes` (and empty spans have 0 bytes).
            end: start.saturating_add(self.bytes),
            write: self.write,
        }
    }

    /// The length in bytes (0 for an empty span).
    pub(crate) fn region_len(&self) -> usize {
        self.bytes
    }

    /// The elements as a shared slice.
    ///
    /// # Safety
    /// The pointer must be valid for reading `len` elements for `'a`, and no buffer the
    /// same call writes may overlap it (established by [`disjoint`]).
    pub(crate) unsafe fn as_slice<'a>(self) -> &'a [T] {
        // SAFETY: non-NULL (or dangling with len 0), aligned, size <= isize::MAX (checked by
        // `span`); validity and absence of writers are the caller's precondition.
        unsafe { core::slice::from_raw_parts(self.ptr.cast_const(), self.len) }
    }

    /// The elements as a mutable slice.
    ///
    /// # Safety
    /// As [`Span::as_slice`], for writing too, and no other buffer of the call (read or
    /// written) may overlap it during `'a`.
    pub(crate) unsafe fn as_mut_slice<'a>(self) -> &'a mut [T] {
        // SAFETY: as in `as_slice`; exclusivity is the caller's precondition (`disjoint`).
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Writes one value at the first element (struct outputs), without making a reference.
    ///
    /// # Safety
    /// The pointer must be valid for writing one `T`; the span must not be empty.
    pub(crate) unsafe fn write(self, value: T) {
        debug_assert!(self.len >= 1);
        // SAFETY: non-NULL and aligned (checked); validity is the caller's precondition.
        unsafe { self.ptr.write(value) }
    }
}

/// `DPX_ERR_OVERLAP` if any written region intersects any other non-empty region.
pub(crate) fn disjoint(regions: &[Region]) -> FfiResult<()> {
    for (i, a) in regions.iter().enumerate() {
        for b in regions.iter().skip(i + 1) {
            let both_nonempty = a.start < a.end && b.start < b.end;
            let intersect = a.start < b.end && b.start < a.end;
            if (a.write || b.write) && both_nonempty && intersect {
                return Err(DPX_ERR_OVERLAP);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_only_with_zero_length() {
        assert!(input::<f32>(core::ptr::null(), 0).is_ok());
        assert_eq!(input::<f32>(core::ptr::null(), 1).err(), Some(DPX_ERR_NULL));
        assert_eq!(
            output_buf(core::ptr::null_mut(), 8).err(),
            Some(DPX_ERR_NULL)
        );
        assert_eq!(
            output_struct::<u64>(core::ptr::null_mut()).err(),
            Some(DPX_ERR_NULL)
        );
        let empty = input::<f32>(core::ptr::null(), 0).unwrap();
        // SAFETY: an empty span never reads memory.
        assert!(unsafe { empty.as_slice() }.is_empty());
    }

    #[test]
    fn sizes_and_alignment() {
        let words = [0u64; 4];
        let p = words.as_ptr().cast::<u8>();
        assert!(input_buf(p.cast(), 32).is_ok());
        assert_eq!(
            input_buf(p.wrapping_add(4).cast(), 8).err(),
            Some(DPX_ERR_MISALIGNED)
        );
        let f = p.wrapping_add(4).cast::<f32>();
        assert!(input(f, 2).is_ok(), "floats need 4, not 8");
        assert_eq!(
            input(p.wrapping_add(2).cast::<f32>(), 1).err(),
            Some(DPX_ERR_MISALIGNED)
        );
        assert_eq!(
            input(f, usize::MAX / 2).err(),
            Some(DPX_ERR_LENGTH_OVERFLOW)
        );
        assert_eq!(
            input(p, usize::MAX - 2).err(),
            Some(DPX_ERR_LENGTH_OVERFLOW)
        );
        // A misaligned but empty buffer is fine: it is never read.
        assert!(input(p.wrapping_add(1).cast::<f32>(), 0).is_ok());
    }

    #[test]
    fn overlap_detection() {
        let buf = [0u64; 8];
        let p = buf.as_ptr().cast::<u8>().cast_mut();
        let a = output_buf(p.cast(), 32).unwrap().region();
        let b = output_buf(p.wrapping_add(32).cast(), 32).unwrap().region();
        let c = input_buf(p.wrapping_add(24).cast(), 16).unwrap().region();
        let r1 = input_buf(p.cast(), 64).unwrap().region();
        assert_eq!(disjoint(&[a, b]), Ok(()));
        assert_eq!(disjoint(&[a, c]), Err(DPX_ERR_OVERLAP));
        assert_eq!(disjoint(&[b, c]), Err(DPX_ERR_OVERLAP));
        assert_eq!(disjoint(&[r1, c]), Ok(()), "two inputs may overlap");
        let empty = output_buf(p.cast(), 0).unwrap().region();
        assert_eq!(disjoint(&[a, empty, b]), Ok(()));
    }
}
