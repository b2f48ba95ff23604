//! `qw_*`: a temporary C ABI over `dpxattn::mechanism`, so the C firmware runs the real
//! mechanism before dpxattn's own `dpx_*` C ABI (branch `ffi`) lands on main. Its calls
//! are shaped like the `dpx_*` ones (`dpx_params`, `dpx_plan`, `dpx_build` with a
//! `dpx_fill_fn` RNG callback, `dpx_open`, `dpx_query_ex`), so the firmware switches by
//! renaming; then this crate is deleted and the firmware links `libdpxattn.a`.
//!
//! Return codes: 0 on success, -1 for a NULL pointer, -2 for any library error.
#![no_std]

use core::ffi::{c_int, c_void};

use dpxattn::mechanism::{Attn, NoiseKind, Params, Plan, build};
use rand_core::{TryCryptoRng, TryRng};

const OK: i32 = 0;
const NULL: i32 = -1;
const LIB_ERROR: i32 = -2;

/// C `qw_params` (the fields of `dpx_params` the firmware uses; the rest take the
/// library defaults: γ = 1, clip policy, one part).
#[repr(C)]
pub struct QwParams {
    /// d.
    pub d: u32,
    /// dv.
    pub dv: u32,
    /// n_max.
    pub n_max: u32,
    /// Degree (even, ≥ 2).
    pub degree: u32,
    /// τ.
    pub score_scale: f64,
    /// r_q.
    pub radius_q: f64,
    /// r_k.
    pub radius_k: f64,
    /// r_v.
    pub radius_v: f64,
    /// ε.
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// 0 Gaussian, 1 Laplace.
    pub mechanism: u32,
    /// Rows per block (0 = flat).
    pub block: u32,
    /// Contribution clipping C (0 = off).
    pub clip: f64,
}

fn params(p: &QwParams) -> Params {
    let mut q = Params::new(p.d, p.dv, p.n_max);
    q.degree = p.degree;
    q.score_scale = p.score_scale;
    q.radius_q = p.radius_q;
    q.radius_k = p.radius_k;
    q.radius_v = p.radius_v;
    q.epsilon = p.epsilon;
    q.delta = p.delta;
    q.mechanism = if p.mechanism == 1 {
        NoiseKind::Laplace
    } else {
        NoiseKind::Gaussian
    };
    q.block = p.block;
    q.clip = p.clip;
    q
}

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

/// The buffer sizes of a plan.
///
/// # Safety
/// Every pointer is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qw_plan(
    p: *const QwParams,
    image_bytes: *mut usize,
    scratch_bytes: *mut usize,
    qscratch_bytes: *mut usize,
) -> i32 {
    if p.is_null() || image_bytes.is_null() || scratch_bytes.is_null() || qscratch_bytes.is_null() {
        return NULL;
    }
    // SAFETY: checked non-NULL; caller contract for validity.
    let Ok(plan) = Plan::new(&params(unsafe { &*p })) else {
        return LIB_ERROR;
    };
    // SAFETY: checked non-NULL; caller contract for validity.
    unsafe {
        image_bytes.write(plan.image_bytes());
        scratch_bytes.write(plan.build_scratch_bytes());
        qscratch_bytes.write(plan.query_scratch_bytes());
    }
    OK
}

/// `dpx_fill_fn`: fill `len` bytes at `buf`, 0 on success.
pub type FillFn = unsafe extern "C" fn(ctx: *mut c_void, buf: *mut u8, len: usize) -> c_int;

/// The caller's fill callback as an RNG.
struct CallbackRng {
    fill: FillFn,
    ctx: *mut c_void,
}

/// An RNG failure reported by the callback.
#[derive(Debug)]
pub struct Failed;
impl core::fmt::Display for Failed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("fill callback failed")
    }
}
impl core::error::Error for Failed {}

impl TryRng for CallbackRng {
    type Error = Failed;
    fn try_next_u32(&mut self) -> Result<u32, Failed> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Failed> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Failed> {
        // SAFETY: `dst` is valid for `dst.len()` writes; the callback's contract.
        if unsafe { (self.fill)(self.ctx, dst.as_mut_ptr(), dst.len()) } == 0 {
            Ok(())
        } else {
            Err(Failed)
        }
    }
}
impl TryCryptoRng for CallbackRng {}

/// Build an image from `n` rows of f32 `keys` (n·d) and `values` (n·dv), drawing
/// randomness from `fill(fill_ctx, …)`; the image length goes to `*written`.
///
/// # Safety
/// Every pointer is NULL or valid for its length; `image` and `scratch` are 8-aligned;
/// `fill` follows the `dpx_fill_fn` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qw_build(
    p: *const QwParams,
    keys: *const f32,
    values: *const f32,
    n: usize,
    fill: Option<FillFn>,
    fill_ctx: *mut c_void,
    image: *mut u8,
    image_len: usize,
    scratch: *mut u8,
    scratch_len: usize,
    written: *mut usize,
) -> i32 {
    if p.is_null() || written.is_null() {
        return NULL;
    }
    // SAFETY: checked non-NULL; caller contract for validity.
    let prm = params(unsafe { &*p });
    let (d, dv) = (prm.d as usize, prm.dv as usize);
    // SAFETY: caller contract, lengths from the same dimensions the caller allocated for.
    let (Some(k), Some(v), Some(img), Some(scr), Some(fill)) = (unsafe {
        (
            slice(keys, n * d),
            slice(values, n * dv),
            slice_mut(image, image_len),
            slice_mut(scratch, scratch_len),
            fill,
        )
    }) else {
        return NULL;
    };
    let Ok(plan) = Plan::new(&prm) else {
        return LIB_ERROR;
    };
    let mut rng = CallbackRng {
        fill,
        ctx: fill_ctx,
    };
    match build(&plan, img, k, v, &mut rng, scr) {
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

/// Answer one f32 query `q` (length d) over blocks `[begin, end)` into `out` (length dv);
/// `*floor_used` receives `QueryInfo::floor_used` (0/1).
///
/// # Safety
/// `attn` was filled by a successful [`qw_open`] whose image is still valid; every other
/// pointer is NULL or valid for its length; `qscratch` is 8-aligned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qw_query_range(
    attn: *const QwAttn,
    begin: usize,
    end: usize,
    q: *const f32,
    d: usize,
    out: *mut f32,
    dv: usize,
    floor_used: *mut i32,
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
    if attn.is_null() || floor_used.is_null() {
        return NULL;
    }
    // SAFETY: `attn` holds an `Attn` written by `qw_open` (caller contract).
    let a = unsafe { &*attn.cast::<Attn<'static>>() };
    match a.query_range(begin, end, q, out, scr) {
        Ok(info) => {
            // SAFETY: checked non-NULL; caller contract for validity.
            unsafe { floor_used.write(i32::from(info.floor_used)) };
            OK
        }
        Err(_) => LIB_ERROR,
    }
}

/// Blocks of an opened image (the end of the full range).
///
/// # Safety
/// `attn` was filled by a successful [`qw_open`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qw_blocks(attn: *const QwAttn) -> usize {
    if attn.is_null() {
        return 0;
    }
    // SAFETY: caller contract.
    unsafe { &*attn.cast::<Attn<'static>>() }.blocks()
}
