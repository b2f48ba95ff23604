//! The image format: a little-endian, position-independent, checksummed header followed by
//! the noised aggregate words.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "DPXA" (written last; "DPXb" while a build is in progress)
//!      4     4  format version (1)
//!      8     4  header bytes (320)
//!     12     4  CRC-32C of bytes [0,12) ++ [16, total)
//!     16     8  total bytes
//!     24   ...  plan: dimensions, kernel constants, fixed-point scales, noise, numbers
//!    320   4·W  words: node-major, then column-major (dv+1 columns of r features), i32 LE
//! ```
//! Everything a query needs is in the image: it can be copied to flash or a file and opened
//! zero-copy by [`crate::mechanism::Attn::open`].

use super::params::{NoiseKind, Params, Policy};
use super::plan::{HEADER_BYTES, Plan};
use super::tree::Shape;
use crate::checksum::Crc32c;
use crate::kernel::{Kernel, MAX_DEGREE, PolyKernel};
use crate::{Error, Result};

/// Magic of a finished image ("DPXA" little-endian).
pub const MAGIC: u32 = u32::from_le_bytes(*b"DPXA");
/// Marker of an image whose build is in progress ("DPXb"): never opens.
pub(crate) const BUILDING: u32 = u32::from_le_bytes(*b"DPXb");
/// Magic of a serialised plan ("DPXp"): see [`Plan::write_to`]. Never opens as an image.
pub(crate) const PLAN_MAGIC: u32 = u32::from_le_bytes(*b"DPXp");
/// Current format version.
pub const VERSION: u32 = 1;

const OFF_CRC: usize = 12;
const OFF_N: usize = 32;

struct W<'a>(&'a mut [u8]);
impl W<'_> {
    fn put(&mut self, off: usize, bytes: &[u8]) {
        if let Some(dst) = self.0.get_mut(off..off + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    fn u32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_le_bytes());
    }
    fn i32(&mut self, off: usize, v: i32) {
        self.put(off, &v.to_le_bytes());
    }
    fn u64(&mut self, off: usize, v: u64) {
        self.put(off, &v.to_le_bytes());
    }
    fn f64(&mut self, off: usize, v: f64) {
        self.put(off, &v.to_bits().to_le_bytes());
    }
}

fn rd<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(s) = b.get(off..off + N) {
        a.copy_from_slice(s);
    }
    a
}
fn ru32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(rd(b, off))
}
fn ri32(b: &[u8], off: usize) -> i32 {
    i32::from_le_bytes(rd(b, off))
}
fn ru64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(rd(b, off))
}
fn rf64(b: &[u8], off: usize) -> f64 {
    f64::from_bits(ru64(b, off))
}

/// Writes the header of `plan` (with `magic` and `n` rows) into `h` (≥ HEADER_BYTES).
pub(crate) fn write_header(h: &mut [u8], plan: &Plan, magic: u32, n: u32) {
    let p = &plan.params;
    let s = &plan.shape;
    let mut w = W(h);
    if let Some(head) = w.0.get_mut(..HEADER_BYTES) {
        head.fill(0);
    }
    w.u32(0, magic);
    w.u32(4, VERSION);
    w.u32(8, HEADER_BYTES as u32);
    w.u64(16, s.image_bytes as u64);
    w.u32(24, p.d);
    w.u32(28, p.dv);
    w.u32(OFF_N, n);
    w.u32(36, p.n_max);
    w.u32(40, plan.kernel.degree());
    w.u32(44, plan.kernel.features() as u32);
    w.u32(48, p.block);
    w.u32(52, s.blocks_max);
    w.u32(56, s.levels);
    w.u32(60, s.nodes);
    w.u32(64, p.mechanism as u32);
    w.u32(68, p.policy as u32);
    w.u32(72, u32::from(plan.exact_const));
    w.u32(76, plan.f_noise);
    w.u32(80, plan.f_store);
    w.u32(84, plan.f_query);
    w.i32(88, plan.kernel.psi0());
    w.i32(92, plan.g);
    w.i32(96, plan.clip_q);
    w.u32(100, p.parts);
    w.u64(104, plan.noise_units);
    for (i, c) in plan.kernel.constants_q27().iter().enumerate() {
        w.i32(112 + 4 * i, *c);
    }
    let fs = [
        p.score_scale,
        p.radius_q,
        p.radius_k,
        p.radius_v,
        p.epsilon,
        p.delta,
        p.gamma,
        p.clip,
        p.kernel_rel_err,
        plan.b,
        plan.eps_s,
        plan.ratio_lo,
        plan.ratio_hi,
        plan.min_kernel,
        plan.sensitivity,
    ];
    for (i, v) in fs.iter().enumerate() {
        w.f64(160 + 8 * i, *v);
    }
}

/// CRC-32C of the header with the row count read as 0 (authenticates an in-progress build's
/// header between calls without copying it).
pub(crate) fn header_crc_rows_zero(h: &[u8]) -> u32 {
    let mut c = Crc32c::new();
    c.update(h.get(..OFF_N).unwrap_or(&[]));
    c.update(&[0u8; 4]);
    c.update(h.get(OFF_N + 4..HEADER_BYTES).unwrap_or(&[]));
    c.finish()
}

/// Updates the row count of an in-progress image header.
pub(crate) fn set_rows(h: &mut [u8], n: u32) {
    W(h).u32(OFF_N, n);
}

/// Seals a fully written image: checksum with the final magic, then the magic last.
pub(crate) fn seal(image: &mut [u8], total: usize) {
    let mut c = Crc32c::new();
    c.update(&MAGIC.to_le_bytes());
    c.update(image.get(4..OFF_CRC).unwrap_or(&[]));
    c.update(image.get(16..total).unwrap_or(&[]));
    let crc = c.finish();
    let mut w = W(image);
    w.u32(OFF_CRC, crc);
    w.u32(0, MAGIC);
}

/// Parses and validates a header (any magic is accepted here; callers check it).
/// Returns the plan and the number of rows.
pub(crate) fn read_header(b: &[u8]) -> Result<(Plan, u32)> {
    if b.len() < HEADER_BYTES {
        return Err(Error::BufferTooSmall);
    }
    if ru32(b, 4) != VERSION {
        return Err(Error::UnsupportedVersion);
    }
    if ru32(b, 8) as usize != HEADER_BYTES {
        return Err(Error::CorruptImage);
    }
    let mechanism = match ru32(b, 64) {
        0 => NoiseKind::Gaussian,
        1 => NoiseKind::Laplace,
        _ => return Err(Error::CorruptImage),
    };
    let policy = match ru32(b, 68) {
        0 => Policy::Clip,
        1 => Policy::Reject,
        _ => return Err(Error::CorruptImage),
    };
    let f = |i: usize| rf64(b, 160 + 8 * i);
    let params = Params {
        d: ru32(b, 24),
        dv: ru32(b, 28),
        n_max: ru32(b, 36),
        degree: ru32(b, 40),
        kernel_rel_err: f(8),
        score_scale: f(0),
        radius_q: f(1),
        radius_k: f(2),
        radius_v: f(3),
        epsilon: f(4),
        delta: f(5),
        mechanism,
        block: ru32(b, 48),
        policy,
        clip: f(7),
        gamma: f(6),
        parts: ru32(b, 100),
    };
    let n = ru32(b, OFF_N);
    if params.d == 0 || params.dv == 0 || params.n_max == 0 || params.parts == 0 || n > params.n_max
    {
        return Err(Error::CorruptImage);
    }
    let mut c = [0i32; MAX_DEGREE as usize];
    for (i, slot) in c.iter_mut().enumerate() {
        *slot = ri32(b, 112 + 4 * i);
    }
    let kernel = PolyKernel::from_constants(params.d, params.degree, ri32(b, 88), c)
        .map_err(|_| Error::CorruptImage)?;
    if kernel.features() as u32 != ru32(b, 44) {
        return Err(Error::CorruptImage);
    }
    let shape = Shape::new(&params, kernel.features()).map_err(|_| Error::CorruptImage)?;
    if shape.blocks_max != ru32(b, 52)
        || shape.levels != ru32(b, 56)
        || shape.nodes != ru32(b, 60)
        || shape.image_bytes as u64 != ru64(b, 16)
    {
        return Err(Error::CorruptImage);
    }
    let (f_noise, f_store, f_query) = (ru32(b, 76), ru32(b, 80), ru32(b, 84));
    if f_noise > 61 || f_store > f_noise || f_query > 30 {
        return Err(Error::CorruptImage);
    }
    let g = ri32(b, 92);
    let clip_q = ri32(b, 96);
    let flags = ru32(b, 72);
    if g <= 0 || clip_q < 0 || flags > 1 || (flags == 1) != (clip_q == 0) {
        return Err(Error::CorruptImage);
    }
    let nums = [f(9), f(10), f(11), f(12), f(13), f(14)];
    if nums.iter().any(|x| !x.is_finite() || *x < 0.0)
        || [params.radius_v, params.gamma]
            .iter()
            .any(|x| !(x.is_finite() && *x > 0.0))
    {
        return Err(Error::CorruptImage);
    }
    let plan = Plan {
        params,
        kernel,
        shape,
        g,
        clip_q,
        f_noise,
        f_store,
        f_query,
        noise_units: ru64(b, 104),
        exact_const: flags == 1,
        b: f(9),
        eps_s: f(10),
        ratio_lo: f(11),
        ratio_hi: f(12),
        min_kernel: f(13),
        sensitivity: f(14),
    };
    Ok((plan, n))
}

/// Validates a finished image: magic, header, length and checksum.
pub(crate) fn validate(b: &[u8]) -> Result<(Plan, u32)> {
    let (plan, n) = validate_header(b)?;
    let total = plan.shape.image_bytes;
    let mut c = Crc32c::new();
    c.update(b.get(0..OFF_CRC).unwrap_or(&[]));
    c.update(b.get(16..total).unwrap_or(&[]));
    if c.finish() != ru32(b, OFF_CRC) {
        return Err(Error::ChecksumMismatch);
    }
    // The checksum only guards against accidents: a header whose CRC was recomputed after
    // editing must still describe a plan `Plan::new` could have made, or the query would
    // run on constants nothing was proven for (found by the `open` fuzz target: forged
    // kernel constants overflowed the feature map; a forged γ, radius or floor made the
    // outputs NaN or infinite). Done here, once per open, and not in `read_header`, which
    // also serves the per-query re-validation of C handles (images `dpx_open` validated in
    // full) and the build state (a header this crate wrote): the recomputation costs
    // microseconds on a host and far more in soft-float f64 on a Cortex-M0.
    plan.check_header()?;
    Ok((plan, n))
}

/// Validates everything of a finished image except its checksum: magic, header
/// consistency, and that `b` holds the whole image. O(header), not O(image).
pub(crate) fn validate_header(b: &[u8]) -> Result<(Plan, u32)> {
    if b.len() < 4 {
        return Err(Error::BufferTooSmall);
    }
    if ru32(b, 0) != MAGIC {
        return Err(Error::BadMagic);
    }
    let (plan, n) = read_header(b)?;
    if b.len() < plan.shape.image_bytes {
        return Err(Error::BufferTooSmall);
    }
    Ok((plan, n))
}

/// The total length of a finished image, from its first [`HEADER_BYTES`] bytes alone (for
/// reading an image from a file or a stream: read the header, then the rest). The header
/// is validated (magic, version, consistency); the checksum needs the whole image and is
/// checked by [`crate::mechanism::Attn::open`].
///
/// # Errors
/// [`Error::BufferTooSmall`] (fewer than [`HEADER_BYTES`] bytes), [`Error::BadMagic`],
/// [`Error::UnsupportedVersion`], [`Error::CorruptImage`].
pub fn image_len(header: &[u8]) -> Result<usize> {
    if header.len() < HEADER_BYTES {
        return Err(Error::BufferTooSmall);
    }
    if ru32(header, 0) != MAGIC {
        return Err(Error::BadMagic);
    }
    let (plan, _) = read_header(header)?;
    Ok(plan.shape.image_bytes)
}
