//! Opening an image zero-copy and answering attention queries from it.
//!
//! Everything here is post-processing of the released image, so it costs no privacy, for
//! any number of adaptively chosen queries.

use super::image;
use super::plan::{HEADER_BYTES, Plan};
use super::rows::Rows;
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
        // Under the clip policy the only bad query is a non-finite one (checked here, from
        // the bits, so that it is reported before any buffer error).
        if q.iter().any(|x| x.to_bits() & 0x7fff_ffff >= 0x7f80_0000) {
            return Err(Error::NonFiniteInput { row: 0 });
        }
        if scratch.len() < s.query_scratch_bytes {
            return Err(Error::BufferTooSmall);
        }
        if !(scratch.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(Error::Misaligned);
        }
        let r = s.r;
        // r ≥ 1 for every valid plan (`Attn::open` re-derives it): a plan claiming r = 0
        // is a corrupt image, reported as such rather than answered with zeros.
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
        // round_shr_fast(ψ, down) (= ⌊(ψ + 2^(sh−1)) / 2^sh⌋, sh = max(down, 1)) in i32 for
        // every i32 ψ: with ψ = q·2^sh + r, 0 ≤ r < 2^sh, it is q plus bit (sh − 1) of ψ, and
        // q + 1 cannot overflow. (The map's output is not norm-enforced for queries, so no
        // bound on |ψ| is assumed.)
        let sh = 30u32.saturating_sub(self.plan.f_query).clamp(1, 30);
        for v in psi.iter_mut() {
            *v = (*v >> sh) + ((*v >> (sh - 1)) & 1);
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
            super::dot::accumulate(psi, node, u);
        }

        // Back to real units: U = u / 2^(Fq+Fs) is Σ_i c_i<ψ(q),ψ(k_i)>ω_i + noise.
        let scale = pow2_neg(self.plan.f_query + self.plan.f_store);
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
        project(u, out, factor, rv);
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

/// 1 / 2ᵉ as f64, exactly what `1.0 / libm::ldexp(1.0, e)` gives (2⁻ᵉ, subnormal down to
/// 2⁻¹⁰²³; 0 from e = 1024 on, where 2ᵉ overflows), built from the bits: no `ldexp`, no
/// division.
fn pow2_neg(e: u32) -> f64 {
    if e <= 1022 {
        f64::from_bits(u64::from(1023 - e) << 52)
    } else if e == 1023 {
        f64::from_bits(1u64 << 51)
    } else {
        0.0
    }
}

/// The outputs out_j = o_j with o_j = u_j·factor (f64, rounded to f32), projected onto the
/// ball of radius r_v: if the f64 norm √(Σ o_j²) > r_v, out_j = o_j·(r_v/norm) instead. The
/// exact attention output is a convex combination of clipped values, so the projection
/// never increases the error. `out.len()` outputs are written (the first entries of `u`).
///
/// Each o_j is computed once and parked (as f64 bits) in its own accumulator slot, which is
/// not needed any more, and out_j = o_j as f32 is written at once; where f32 is hardware
/// (`fixed::F32_IN_HARDWARE`) the f64 norm is only computed when [`surely_inside`] cannot
/// rule the projection out.
fn project(u: &mut [i64], out: &mut [f32], factor: f64, rv: f64) {
    let mut s32 = 0.0f32;
    for (uj, oj) in u.iter_mut().zip(out.iter_mut()) {
        let o = *uj as f64 * factor;
        *uj = o.to_bits() as i64;
        let f = o as f32;
        *oj = f;
        if crate::fixed::F32_IN_HARDWARE {
            s32 += f * f;
        }
    }
    if crate::fixed::F32_IN_HARDWARE && surely_inside(s32, out.len(), rv) {
        return;
    }
    // The f64 norm, exactly as specified; only it decides.
    let mut norm2 = 0.0f64;
    for &uj in u.iter().take(out.len()) {
        let o = f64::from_bits(uj as u64);
        norm2 += o * o;
    }
    let norm = libm::sqrt(norm2);
    if norm > rv {
        let shrink = rv / norm;
        for (o, &uj) in out.iter_mut().zip(u.iter()) {
            *o = (f64::from_bits(uj as u64) * shrink) as f32;
        }
    }
}

/// Whether the f64 norm the query would compute, √(Σ o_j²) with o_j the parked f64
/// outputs, is certainly ≤ `rv`, judged from `s32` = Σ f_j² summed in f32, f_j = o_j as f32
/// (one hardware multiply-add per output on a Cortex-M4F, where the f64 sum is soft float).
/// `true` only when the f64 computation would also find norm ≤ r_v, so the output is the
/// same bits either way; otherwise the caller computes the f64 norm.
///
/// Proof. Rounding to f32 gives |o_j| ≤ |f_j|(1 + 2⁻²⁴) + 2⁻¹⁵⁰ (overflow makes `s32`
/// infinite and the test false; NaN makes it false). The f32 sum of dv squares is
/// ≥ (1 − 2⁻²⁴)^dv·Σf_j² − dv·2⁻¹²⁵ (relative error per operation, plus underflow or
/// flush-to-zero of tiny terms), and the f64 sum N of fl(o_j²) is at most
/// (1 + 2⁻⁵³)^(dv+1)·Σo_j² plus dv·2⁻¹⁰⁷⁴. Together N ≤ s32·(1 + 2⁻²⁴)^(2dv+4) + 10⁻³⁰ ≤ s32·(1 + (dv+4)·2⁻²²) + 10⁻³⁰
/// (for dv ≤ 2¹⁶, since eˣ ≤ 1 + 2x for x ≤ 1). The test compares that, evaluated in f64
/// (relative error < 2⁻⁵⁰), with r_v²·(1 − 2⁻⁴⁰) (below the exact r_v² despite rounding).
/// N ≤ r_v² gives √N ≤ r_v, and a correctly rounded square root of N is then ≤ r_v too
/// (r_v is representable), so the query's test `norm > r_v` is false.
fn surely_inside(s32: f32, dv: usize, rv: f64) -> bool {
    // (Checked on its own: an infinite sum must fail even if r_v² overflows too.)
    if dv > 1 << 16 || !s32.is_finite() {
        return false;
    }
    let margin = 1.0 + (dv as f64 + 4.0) * (1.0 / 4_194_304.0); // 2⁻²²
    f64::from(s32) * margin + 1e-30 <= rv * rv * (1.0 - 1.0 / 1_099_511_627_776.0) // 2⁻⁴⁰
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The projection as first specified: always the f64 norm.
    fn reference(u: &[i64], factor: f64, rv: f64) -> Vec<f32> {
        let o: Vec<f64> = u.iter().map(|&x| x as f64 * factor).collect();
        let norm = libm::sqrt(o.iter().fold(0.0, |a, x| a + x * x));
        let shrink = if norm > rv { rv / norm } else { 1.0 };
        o.iter().map(|x| (x * shrink) as f32).collect()
    }

    #[test]
    fn pow2_neg_is_one_over_ldexp() {
        for e in 0..1100u32 {
            let want = 1.0 / libm::ldexp(1.0, e as i32);
            assert_eq!(pow2_neg(e).to_bits(), want.to_bits(), "e = {e}");
        }
    }

    #[test]
    fn projection_equals_the_f64_definition() {
        let mut seed = 99u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed
        };
        let mut inside = 0;
        for trial in 0..20_000 {
            let dv = 1 + (next() % 40) as usize;
            let mag = 1i64 << (next() % 50);
            let mut u: Vec<i64> = (0..dv).map(|_| (next() as i64) % mag).collect();
            let factor = f64::from_bits(0x3c00_0000_0000_0000 + (next() >> 12) % (1 << 60));
            let o: Vec<f64> = u.iter().map(|&x| x as f64 * factor).collect();
            let n = libm::sqrt(o.iter().fold(0.0, |a, x| a + x * x));
            // r_v around the norm: exactly at it, within a few ulps, and farther off.
            let rv = match trial % 5 {
                0 => n,
                1 => f64::from_bits(n.to_bits() + next() % 4),
                2 => f64::from_bits(n.to_bits().saturating_sub(next() % 4)),
                3 => n * (1.0 + (next() % 1000) as f64 * 1e-9),
                _ => n * (0.5 + (next() % 1000) as f64 / 500.0),
            };
            if !(rv > 0.0 && rv.is_finite()) {
                continue;
            }
            let want = reference(&u, factor, rv);
            let mut out = vec![0f32; dv];
            u.push(12345); // the denominator slot: must not be read or written
            project(&mut u, &mut out, factor, rv);
            assert_eq!(u[dv], 12345);
            let same = out
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "trial {trial}: dv={dv} rv={rv:e} norm={n:e}");
            let s32 = want.iter().map(|f| f * f).sum::<f32>();
            inside += usize::from(surely_inside(s32, dv, rv));
        }
        // The fast test does fire (for r_v well above the norm), so both paths are covered.
        assert!(inside > 1000, "{inside}");
    }
}
