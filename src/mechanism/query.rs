//! Opening an image zero-copy and answering attention queries from it.
//!
//! Everything here is post-processing of the released image, so it costs no privacy, for
//! any number of adaptively chosen queries.

use super::image;
use super::plan::{HEADER_BYTES, Plan};
use super::rows::Rows;
use crate::fixed::round_shr_fast;
use crate::{ALIGN, Error, Result};

/// What a query reports besides its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueryInfo {
    /// The noisy denominator fell below the a-priori floor (DESIGN §2.5) and the floor was
    /// used instead. The output is then dominated by noise; treat it with suspicion.
    pub floor_used: bool,
}

/// An opened image: a validated view of the caller's bytes (flash, file, RAM), no copy.
#[derive(Debug, Clone, Copy)]
pub struct Attn<'a> {
    plan: Plan,
    n: u32,
    words: &'a [i32],
}

impl<'a> Attn<'a> {
    /// Validates an image (magic, version, header consistency, length, CRC-32C) and returns
    /// a view of it. The bytes must be 4-byte aligned (images built by this crate into an
    /// [`crate::ALIGN`]-aligned buffer, or `include_bytes!` into an aligned static, are).
    ///
    /// # Errors
    /// [`Error::BadMagic`] (not an image, or a build in progress), [`Error::UnsupportedVersion`],
    /// [`Error::CorruptImage`], [`Error::BufferTooSmall`] (truncated), [`Error::ChecksumMismatch`],
    /// [`Error::Misaligned`].
    pub fn open(bytes: &'a [u8]) -> Result<Attn<'a>> {
        let (plan, n) = image::validate(bytes)?;
        let body = bytes
            .get(HEADER_BYTES..plan.shape.image_bytes)
            .ok_or(Error::BufferTooSmall)?;
        let words = bytemuck::try_cast_slice::<u8, i32>(body).map_err(|_| Error::Misaligned)?;
        Ok(Attn { plan, n, words })
    }

    /// [`Attn::open`] without the CRC-32C pass: magic, version, header consistency and
    /// length are all re-checked (so every slice the query takes stays inside `bytes`), but
    /// the noised words are not re-hashed. O(header) instead of O(image).
    ///
    /// Used only by the C ABI (`src/ffi/attn.rs`), whose handles are images that
    /// [`Attn::open`] validated *in full* once (`dpx_open`), and that the caller promises
    /// not to change while it uses the handle. Skipping the checksum cannot affect privacy
    /// (any function of the released image is post-processing) nor memory safety (no
    /// length or index comes from the unchecked words); a body corrupted after `dpx_open`
    /// only yields wrong outputs, exactly as it would between two queries of a Rust `Attn`.
    pub(crate) fn open_trusted(bytes: &'a [u8]) -> Result<Attn<'a>> {
        let (plan, n) = image::validate_header(bytes)?;
        let body = bytes
            .get(HEADER_BYTES..plan.shape.image_bytes)
            .ok_or(Error::BufferTooSmall)?;
        let words = bytemuck::try_cast_slice::<u8, i32>(body).map_err(|_| Error::Misaligned)?;
        Ok(Attn { plan, n, words })
    }

    /// The plan the image was built with.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
    /// Rows the image was built from.
    pub fn rows(&self) -> u32 {
        self.n
    }
    /// Query dimension d.
    pub fn d(&self) -> usize {
        self.plan.params.d as usize
    }
    /// Output dimension dv.
    pub fn dv(&self) -> usize {
        self.plan.params.dv as usize
    }
    /// Blocks that hold rows (valid range ends for [`Attn::query_range`]); 1 for flat.
    pub fn blocks(&self) -> usize {
        self.plan.shape.blocks_built(self.n) as usize
    }
    /// Scratch bytes one query needs.
    pub fn query_scratch_bytes(&self) -> usize {
        self.plan.shape.query_scratch_bytes
    }

    /// Attention over all rows: `out ≈ softmax(τ·q·Kᵀ)·V` (`q.len() == d`, `out.len() == dv`).
    ///
    /// # Errors
    /// [`Error::WrongLength`], [`Error::NonFiniteInput`] (row 0 = the query),
    /// [`Error::BufferTooSmall`] / [`Error::Misaligned`] for `scratch`. On error `out` is
    /// untouched.
    pub fn query(&self, q: &[f32], out: &mut [f32], scratch: &mut [u8]) -> Result<QueryInfo> {
        self.query_range(0, self.blocks(), q, out, scratch)
    }

    /// Attention over the rows of blocks `[block_begin, block_end)` (tree layout; for the
    /// flat layout only `[0, 1)` is valid).
    ///
    /// # Errors
    /// As [`Attn::query`], plus [`Error::InvalidRange`].
    pub fn query_range(
        &self,
        block_begin: usize,
        block_end: usize,
        q: &[f32],
        out: &mut [f32],
        scratch: &mut [u8],
    ) -> Result<QueryInfo> {
        let s = &self.plan.shape;
        let built = self.blocks();
        if block_begin >= block_end || block_end > built {
            return Err(Error::InvalidRange);
        }
        if q.len() != s.d || out.len() != s.dv {
            return Err(Error::WrongLength);
        }
        Rows::F32(q).check(0, s.d, 1.0, super::params::Policy::Clip)?;
        if scratch.len() < s.query_scratch_bytes {
            return Err(Error::BufferTooSmall);
        }
        if !(scratch.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(Error::Misaligned);
        }
        let r = s.r;
        // r ≥ 1 for every valid plan; the check lets the compiler drop the panic path of
        // `chunks_exact` below (no panic is reachable from the C ABI: `.ci/harden.sh`).
        if r == 0 {
            return Err(Error::CorruptImage);
        }
        let cols = s.dv + 1;
        let psi_len = (r * 4).div_ceil(8) * 8;
        // Checked splits and slices: the sizes were checked against the plan above, so
        // these never fail, but an error costs nothing and keeps panics out of the binary.
        let (psi_b, rest) = scratch
            .split_at_mut_checked(psi_len)
            .ok_or(Error::BufferTooSmall)?;
        let (u_b, x_b) = rest
            .split_at_mut_checked(cols * 8)
            .ok_or(Error::BufferTooSmall)?;
        let psi_b = psi_b.get_mut(..r * 4).ok_or(Error::BufferTooSmall)?;
        let psi = bytemuck::try_cast_slice_mut::<u8, i32>(psi_b).map_err(|_| Error::Misaligned)?;
        let u = bytemuck::try_cast_slice_mut::<u8, i64>(u_b).map_err(|_| Error::Misaligned)?;
        let x_b = x_b.get_mut(..s.d * 4).ok_or(Error::BufferTooSmall)?;
        let x = bytemuck::try_cast_slice_mut::<u8, i32>(x_b).map_err(|_| Error::Misaligned)?;

        // ψ(q̂) in Q30, then down to F_query bits for the dot products.
        Rows::F32(q).normalise(0, self.plan.params.radius_q, 1.0, 0, x)?;
        self.plan.kernel.map_query(x, psi)?;
        let down = 30 - self.plan.f_query;
        for v in psi.iter_mut() {
            // |ψ| ≤ 2³⁰, so the result fits i32.
            *v = round_shr_fast(i64::from(*v), down) as i32;
        }
        u.fill(0);
        let (a, b) = (block_begin as u32, block_end as u32);
        let e = s.entries_per_node;
        for (l, j) in s.cover(a, b) {
            let idx = s.node_index(l, j).ok_or(Error::CorruptImage)?;
            let node = self
                .words
                .get(idx * e..(idx + 1) * e)
                .ok_or(Error::CorruptImage)?;
            for (uj, col) in u.iter_mut().zip(node.chunks_exact(r)) {
                *uj += dot(psi, col);
            }
        }

        // Back to real units: U = u / 2^(Fq+Fs) is Σ_i c_i<ψ(q),ψ(k_i)>ω_i + noise.
        let scale = 1.0 / libm::ldexp(1.0, (self.plan.f_query + self.plan.f_store) as i32);
        let den = u.get(s.dv).map_or(0.0, |&x| x as f64 * scale);
        let rows_in_range = self.rows_in_blocks(a, b);
        let floor = f64::from(rows_in_range)
            * self.plan.min_token_weight()
            * self.plan.min_kernel
            * (f64::from(self.plan.g) / (1u64 << 30) as f64);
        let (den_used, floor_used) = if den < floor {
            (floor, true)
        } else {
            (den, false)
        };
        let rv = self.plan.params.radius_v;
        let factor = if den_used > 0.0 {
            rv * self.plan.value_factor() * scale / den_used
        } else {
            0.0
        };
        // Project onto the ball of radius r_v: the exact attention output is a convex
        // combination of clipped values, so this never increases the error.
        let mut norm2 = 0.0f64;
        for &uj in u.iter().take(s.dv) {
            let o = uj as f64 * factor;
            norm2 += o * o;
        }
        let norm = libm::sqrt(norm2);
        let shrink = if norm > rv { rv / norm } else { 1.0 };
        for (o, &uj) in out.iter_mut().zip(u.iter()) {
            *o = (uj as f64 * factor * shrink) as f32;
        }
        Ok(QueryInfo {
            floor_used: floor_used || den_used <= 0.0,
        })
    }

    /// Answers `m = qs.len() / d` queries (row-major) into `out` (m × dv), one
    /// [`QueryInfo`] per query into `info` (length ≥ m).
    ///
    /// # Errors
    /// As [`Attn::query`]; [`Error::NonFiniteInput`] names the index of the first bad query
    /// in the batch. Every query and buffer is checked before the first is answered, so on
    /// error `out` and `info` are untouched (as everywhere else in the crate).
    pub fn query_batch(
        &self,
        qs: &[f32],
        out: &mut [f32],
        info: &mut [QueryInfo],
        scratch: &mut [u8],
    ) -> Result<()> {
        let (d, dv) = (self.d(), self.dv());
        // d, dv ≥ 1 for every valid plan (checked so that no division or chunking by zero
        // is left in the binary).
        if d == 0 || dv == 0 {
            return Err(Error::CorruptImage);
        }
        if !qs.len().is_multiple_of(d) {
            return Err(Error::WrongLength);
        }
        let m = qs.len() / d;
        // Checked: m·dv can exceed usize on 32-bit targets for a long enough `qs`.
        if Some(out.len()) != m.checked_mul(dv) || info.len() < m {
            return Err(Error::WrongLength);
        }
        if m == 0 {
            return Ok(());
        }
        // Validate up front what `query` would refuse (found by the robustness tests: the
        // batch used to stop half-written at the first bad query).
        if self.blocks() == 0 {
            return Err(Error::InvalidRange);
        }
        for (i, q) in qs.chunks_exact(d).enumerate() {
            Rows::F32(q)
                .check(0, d, 1.0, super::params::Policy::Clip)
                .map_err(|_| Error::NonFiniteInput { row: i })?;
        }
        if scratch.len() < self.query_scratch_bytes() {
            return Err(Error::BufferTooSmall);
        }
        if !(scratch.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(Error::Misaligned);
        }
        for ((q, o), inf) in qs
            .chunks_exact(d)
            .zip(out.chunks_exact_mut(dv))
            .zip(info.iter_mut())
        {
            *inf = self.query(q, o, scratch)?;
        }
        Ok(())
    }

    fn rows_in_blocks(&self, a: u32, b: u32) -> u32 {
        let s = &self.plan.shape;
        if s.block == 0 {
            return self.n;
        }
        let lo = u64::from(a) * u64::from(s.block);
        let hi = (u64::from(b) * u64::from(s.block)).min(u64::from(self.n));
        hi.saturating_sub(lo) as u32
    }
}

/// Σ ψ_α·w_α in i64: ψ has ≤ F_query bits and ‖ψ‖ ≤ 2^Fq, |w| < 2³¹, and the plan chose
/// F_query so that √r·2^Fq·2³¹ times the nodes of a range stays below 2⁶³ (so the
/// wrapping adds never wrap). Unrolled by four with independent accumulators: on a
/// Cortex-M4 each term is two loads and one SMLAL; on baseline x86-64 (no 32×32→64 SIMD
/// multiply before SSE4.1) it halves the time of the plain loop. The sum is exact integer
/// arithmetic, so both forms give identical results.
#[cfg(not(target_feature = "avx2"))]
#[inline]
fn dot(psi: &[i32], col: &[i32]) -> i64 {
    let n = psi.len().min(col.len());
    let (pa, pb) = psi.split_at(n - n % 4);
    let (ca, cb) = col.split_at(n - n % 4);
    let (mut s0, mut s1, mut s2, mut s3) = (0i64, 0i64, 0i64, 0i64);
    for (p, c) in pa.chunks_exact(4).zip(ca.chunks_exact(4)) {
        if let ([p0, p1, p2, p3], [c0, c1, c2, c3]) = (p, c) {
            s0 = s0.wrapping_add(i64::from(*p0) * i64::from(i32::from_le(*c0)));
            s1 = s1.wrapping_add(i64::from(*p1) * i64::from(i32::from_le(*c1)));
            s2 = s2.wrapping_add(i64::from(*p2) * i64::from(i32::from_le(*c2)));
            s3 = s3.wrapping_add(i64::from(*p3) * i64::from(i32::from_le(*c3)));
        }
    }
    for (&p, &c) in pb.iter().zip(cb.iter()) {
        s0 = s0.wrapping_add(i64::from(p) * i64::from(i32::from_le(c)));
    }
    s0.wrapping_add(s1).wrapping_add(s2.wrapping_add(s3))
}

/// With AVX2 (e.g. `-C target-cpu=x86-64-v3`) the plain loop vectorises to VPMULDQ, about
/// 3–5× faster than the unrolled scalar form; the integer sum is the same.
#[cfg(target_feature = "avx2")]
#[inline]
fn dot(psi: &[i32], col: &[i32]) -> i64 {
    psi.iter()
        .zip(col.iter())
        .map(|(&a, &w)| i64::from(a) * i64::from(i32::from_le(w)))
        .fold(0i64, |s, p| s.wrapping_add(p))
}
