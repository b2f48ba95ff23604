//! `fixed-toy`: the placeholder workload (see the crate docs). Replaced by re-exports of
//! `dpxattn::mechanism::{Plan, Attn, build}` when the mechanism lands.

use dpxattn::fixed::{Q30, mul_round, round_shr, sat_i32};
use dpxattn::{Error, Result};
use rand_core::TryRng;

/// Magic of a `fixed-toy` image ("QTOY", little-endian).
const MAGIC: u32 = u32::from_le_bytes(*b"QTOY");
/// Header: magic, d, dv, n as little-endian `u32`.
const HEADER: usize = 16;
/// Fraction bits dropped when storing `S`: Q30 products of |x| < ½ are < 2²⁸, sums of
/// ≤ 2⁸ of them < 2³⁶, so after the shift they fit an `i32` (< 2²⁸) with room to spare.
const STORE_SHIFT: u32 = 8;
/// Largest dimension accepted (keeps every size computation far from overflow).
const DIM_MAX: usize = 4096;

/// Public shape of a toy image, with the buffer sizes it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    d: usize,
    dv: usize,
    n_max: usize,
}

impl Plan {
    /// A plan for d × dv with at most `n_max` ≤ 256 rows.
    pub fn new(d: usize, dv: usize, n_max: usize) -> Result<Plan> {
        if d == 0 || dv == 0 || d > DIM_MAX || dv > DIM_MAX || n_max == 0 || n_max > 256 {
            return Err(Error::InvalidDimension);
        }
        Ok(Plan { d, dv, n_max })
    }
    /// Bytes of the image.
    pub fn image_bytes(&self) -> usize {
        HEADER + 4 * self.d * self.dv
    }
    /// Bytes of build scratch: the d × dv `i64` accumulators, then one value row in Q30.
    pub fn build_scratch_bytes(&self) -> usize {
        8 * self.d * self.dv + 4 * self.dv
    }
    /// Bytes of query scratch (`i64` accumulators, then the quantised query).
    pub fn query_scratch_bytes(&self) -> usize {
        8 * self.dv + 4 * self.d
    }
}

/// `bytes[..len]` as `T` (the caller's scratch must be 8-aligned).
fn view<T: bytemuck::Pod>(bytes: &mut [u8], len: usize) -> Result<&mut [T]> {
    let b = bytes
        .get_mut(..len * core::mem::size_of::<T>())
        .ok_or(Error::BufferTooSmall)?;
    bytemuck::try_cast_slice_mut(b).map_err(|_| Error::Misaligned)
}

fn q30(x: f32, row: usize) -> Result<i64> {
    if !x.is_finite() {
        return Err(Error::NonFiniteInput { row });
    }
    Q30::from_f64_toward_zero(f64::from(x))
        .map(|q| i64::from(q.raw()))
        .ok_or(Error::NonFiniteInput { row })
}

/// Build the image of `plan` from f32 `keys` (n × d) and `values` (n × dv) into `image`,
/// drawing from `rng`. Returns the image bytes written.
pub fn build<R: TryRng + ?Sized>(
    plan: &Plan,
    image: &mut [u8],
    keys: &[f32],
    values: &[f32],
    rng: &mut R,
    scratch: &mut [u8],
) -> Result<usize> {
    let (d, dv) = (plan.d, plan.dv);
    let n = keys.len() / d;
    if keys.len() != n * d || values.len() != n * dv {
        return Err(Error::WrongLength);
    }
    if n > plan.n_max {
        return Err(Error::TooManyRows);
    }
    let len = plan.image_bytes();
    let image = image.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let (acc_b, v_b) = scratch
        .get_mut(..plan.build_scratch_bytes())
        .ok_or(Error::BufferTooSmall)?
        .split_at_mut(8 * d * dv);
    let acc = view::<i64>(acc_b, d * dv)?;
    let vq = view::<i32>(v_b, dv)?;
    let (header, words) = image.split_at_mut(HEADER);
    for (slot, v) in header
        .chunks_exact_mut(4)
        .zip([MAGIC, d as u32, dv as u32, n as u32])
    {
        slot.copy_from_slice(&v.to_le_bytes());
    }
    // Each row is converted once; S accumulates its outer product k·vᵀ.
    acc.fill(0);
    for (t, (krow, vrow)) in keys
        .chunks_exact(d)
        .zip(values.chunks_exact(dv))
        .enumerate()
    {
        for (x, &f) in vq.iter_mut().zip(vrow) {
            *x = sat_i32(q30(f, t)?);
        }
        for (&kf, arow) in krow.iter().zip(acc.chunks_exact_mut(dv)) {
            let k = q30(kf, t)?;
            for (a, &v) in arow.iter_mut().zip(vq.iter()) {
                *a += mul_round(k, i64::from(v), 30);
            }
        }
    }
    for (slot, a) in words.chunks_exact_mut(4).zip(acc.iter()) {
        // Toy offset in [-128, 128) units of 2^-30: exercises the RNG path, not DP.
        let r = rng.try_next_u32().map_err(|_| Error::Rng)?;
        let noisy = a + i64::from(r >> 24) - 128;
        slot.copy_from_slice(&sat_i32(round_shr(noisy, STORE_SHIFT)).to_le_bytes());
    }
    Ok(len)
}

/// An opened image: a zero-copy view of its words.
#[derive(Debug, Clone, Copy)]
pub struct Attn<'a> {
    plan: Plan,
    words: &'a [i32],
}

impl<'a> Attn<'a> {
    /// Open an image in place (flash or RAM). The buffer must be 4-byte aligned; words are
    /// read in native order, which is little-endian on every target this runs on.
    pub fn open(image: &'a [u8]) -> Result<Attn<'a>> {
        let word = |i: usize| -> Result<usize> {
            let b = image.get(4 * i..4 * i + 4).ok_or(Error::BufferTooSmall)?;
            let mut w = [0u8; 4];
            w.copy_from_slice(b);
            Ok(u32::from_le_bytes(w) as usize)
        };
        if word(0)? != MAGIC as usize {
            return Err(Error::BadMagic);
        }
        let plan =
            Plan::new(word(1)?, word(2)?, word(3)?.max(1)).map_err(|_| Error::CorruptImage)?;
        let body = image
            .get(HEADER..plan.image_bytes())
            .ok_or(Error::BufferTooSmall)?;
        let words = bytemuck::try_cast_slice(body).map_err(|_| Error::Misaligned)?;
        Ok(Attn { plan, words })
    }

    /// Query dimension d.
    pub fn d(&self) -> usize {
        self.plan.d
    }
    /// Output dimension dv.
    pub fn dv(&self) -> usize {
        self.plan.dv
    }
    /// Scratch bytes one query needs.
    pub fn query_scratch_bytes(&self) -> usize {
        self.plan.query_scratch_bytes()
    }

    /// `out = qᵀ·S` for an f32 query `q` (length d); `out` has length dv.
    pub fn query(&self, q: &[f32], out: &mut [f32], scratch: &mut [u8]) -> Result<()> {
        let (d, dv) = (self.plan.d, self.plan.dv);
        if q.len() != d || out.len() != dv {
            return Err(Error::WrongLength);
        }
        let (acc_b, q_b) = scratch
            .get_mut(..self.plan.query_scratch_bytes())
            .ok_or(Error::BufferTooSmall)?
            .split_at_mut(8 * dv);
        let acc = view::<i64>(acc_b, dv)?;
        let qq = view::<i32>(q_b, d)?;
        for (x, &f) in qq.iter_mut().zip(q) {
            // |f| ≤ 2 keeps Q30 exact-or-saturated; `sat_i32` documents the clamp.
            *x = sat_i32(q30(f, 0)?);
        }
        acc.fill(0);
        for (&qi, row) in qq.iter().zip(self.words.chunks_exact(dv)) {
            for (a, &s) in acc.iter_mut().zip(row) {
                *a += mul_round(i64::from(qi), i64::from(s), 30);
            }
        }
        // u is in units of 2^-(30 - STORE_SHIFT); scaling by a power of two is exact.
        let scale = 1.0 / (1u32 << (30 - STORE_SHIFT)) as f32;
        for (o, &a) in out.iter_mut().zip(acc.iter()) {
            *o = a as f32 * scale;
        }
        Ok(())
    }
}
