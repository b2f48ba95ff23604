//! `qw_*`: a placeholder C ABI over `qemu-workload`, so the C firmware can run the same
//! workload as the Rust firmware today. When dpxattn's `dpx_*` C ABI lands, the C firmware
//! calls it directly, links `libdpxattn.a` (from `ffi-tests/build-lib.sh`) and this crate
//! is deleted.
//!
//! Return codes: 0 on success, -1 for a NULL pointer, -2 for any library error.
#![no_std]

use qemu_workload::{self as wl, Attn, Plan, TestRng};

const OK: i32 = 0;
const NULL: i32 = -1;
const LIB_ERROR: i32 = -2;

/// # Safety
/// `p` is NULL or valid for `len` reads of `T`.
unsafe fn slice<'a, T>(p: *const T, len: usize) -> Option<&'a [T]> {
    // SAFETY: caller contract.
    (!p.is_null()).then(|| unsafe { core::slice::from_raw_parts(p, len) })
}

/// # Safety
/// `p` is NULL or valid for `len` writes of `T`, not aliased.
unsafe fn slice_mut<'a, T>(p: *mut T, len: usize) -> Option<&'a mut [T]> {
    // SAFETY: caller contract.
    (!p.is_null()).then(|| unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// The buffer sizes of a (d, dv, n_max) image, as the mechanism's plan will report them.
///
/// # Safety
/// The out-pointers are NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qw_plan(
    d: usize,
    dv: usize,
    n_max: usize,
    image_bytes: *mut usize,
    scratch_bytes: *mut usize,
    qscratch_bytes: *mut usize,
) -> i32 {
    if image_bytes.is_null() || scratch_bytes.is_null() || qscratch_bytes.is_null() {
        return NULL;
    }
    let Ok(p) = Plan::new(d, dv, n_max) else {
        return LIB_ERROR;
    };
    // SAFETY: checked non-NULL; caller contract for validity.
    unsafe {
        image_bytes.write(p.image_bytes());
        scratch_bytes.write(p.build_scratch_bytes());
        qscratch_bytes.write(p.query_scratch_bytes());
    }
    OK
}

/// Build a (d, dv, n_max) image from `n` rows of f32 `keys` (n·d) and `values` (n·dv) with
/// the deterministic test RNG seeded by `seed`; the image length goes to `*written`.
///
/// # Safety
/// Every pointer is NULL or valid for its length; `image` and `scratch` are 8-aligned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qw_build(
    d: usize,
    dv: usize,
    n_max: usize,
    keys: *const f32,
    values: *const f32,
    n: usize,
    seed: u64,
    image: *mut u8,
    image_len: usize,
    scratch: *mut u8,
    scratch_len: usize,
    written: *mut usize,
) -> i32 {
    // SAFETY: caller contract, lengths from the same dimensions the caller allocated for.
    let (Some(k), Some(v), Some(img), Some(scr)) = (unsafe {
        (
            slice(keys, n * d),
            slice(values, n * dv),
            slice_mut(image, image_len),
            slice_mut(scratch, scratch_len),
        )
    }) else {
        return NULL;
    };
    if written.is_null() {
        return NULL;
    }
    let Ok(plan) = Plan::new(d, dv, n_max) else {
        return LIB_ERROR;
    };
    let mut rng = TestRng::new(seed);
    match wl::build(&plan, img, k, v, &mut rng, scr) {
        Ok(len) => {
            // SAFETY: checked non-NULL; caller contract for validity.
            unsafe { written.write(len) };
            OK
        }
        Err(_) => LIB_ERROR,
    }
}

/// Bytes of [`QwAttn`]: room for an opened image (checked at compile time below).
pub const QW_ATTN_BYTES: usize = 512;

/// C `qw_attn`: caller-owned, 8-aligned storage for an opened image (an `Attn` borrowing
/// the caller's image bytes, which must outlive it and stay unchanged).
#[repr(C, align(8))]
pub struct QwAttn {
    _opaque: [u8; QW_ATTN_BYTES],
}

const _: () = assert!(
    core::mem::size_of::<Attn<'static>>() <= QW_ATTN_BYTES
        && core::mem::align_of::<Attn<'static>>() <= 8
);

/// Open `image` in place (validating it) into `*attn`.
///
/// # Safety
/// `image` is NULL or valid for `image_len` reads, 4-aligned, and stays valid and unchanged
/// while `*attn` is used; `attn` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qw_open(image: *const u8, image_len: usize, attn: *mut QwAttn) -> i32 {
    // SAFETY: caller contract; the 'static lifetime stands for "while the caller keeps the
    // image alive", which the C contract above makes the caller's duty.
    let Some(img) = (unsafe { slice::<u8>(image, image_len) }) else {
        return NULL;
    };
    if attn.is_null() {
        return NULL;
    }
    match Attn::open(img) {
        Ok(a) => {
            // SAFETY: `attn` is non-NULL, valid for a write (caller contract), 8-aligned and
            // large enough (`QwAttn`'s repr and the compile-time assertion above).
            unsafe { attn.cast::<Attn<'static>>().write(a) };
            OK
        }
        Err(_) => LIB_ERROR,
    }
}

/// Answer one f32 query `q` (length d) into `out` (length dv) from an image opened by
/// [`qw_open`].
///
/// # Safety
/// `attn` was filled by a successful [`qw_open`] whose image is still valid; every other
/// pointer is NULL or valid for its length; `qscratch` is 8-aligned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qw_query(
    attn: *const QwAttn,
    q: *const f32,
    d: usize,
    out: *mut f32,
    dv: usize,
    qscratch: *mut u8,
    qscratch_len: usize,
) -> i32 {
    // SAFETY: caller contract.
    let (Some(q), Some(out), Some(scr)) = (unsafe {
        (
            slice(q, d),
            slice_mut(out, dv),
            slice_mut(qscratch, qscratch_len),
        )
    }) else {
        return NULL;
    };
    if attn.is_null() {
        return NULL;
    }
    // SAFETY: `attn` holds an `Attn` written by `qw_open` (caller contract).
    let a = unsafe { &*attn.cast::<Attn<'static>>() };
    match a.query(q, out, scr) {
        Ok(_) => OK,
        Err(_) => LIB_ERROR,
    }
}
