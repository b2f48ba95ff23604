//! Building an image: one-shot or streaming (begin / push chunks / finish).
//!
//! # Privacy
//! Each row (k, v) becomes a payload P = ψ(k̂) ⊗ ω(v̂) with ‖ψ‖ ≤ 1 and ‖ω‖ ≤ 1 enforced
//! exactly in integers (and ‖P‖ ≤ C under contribution clipping). Each tree node stores the
//! sum of its rows' payloads plus independent discrete Gaussian (or Laplace) noise per
//! entry, scaled to the sensitivity computed in [`Plan::new`] (replace-one neighbours,
//! triangle inequality, tree depth, fixed-point rounding). The only entry left un-noised is
//! the constant-feature × denominator entry when clipping is off: it equals
//! n_node · round(ψ₀·g) for **every** dataset with the same (public) row count, so releasing
//! it reveals nothing beyond n.
//!
//! # What is never exposed
//! The exact sums live only in the caller's *scratch*, which is zeroised when the build
//! finishes, fails, or its [`Builder`] is dropped. The image buffer only ever receives
//! noised words and public header fields; it carries the open-able magic only after the last
//! word is written, and is zeroised on any error (RNG failure included).

use super::image::{self, BUILDING};
use super::noise::Noise;
use super::plan::{HEADER_BYTES, Plan};
use super::rows::Rows;
use crate::fixed::{round_shr, round_shr_fast, sat_i32};
use crate::kernel::{Kernel, enforce_norm, norm_sq, sq};
use crate::{ALIGN, Error, Result};
use rand_core::{TryCryptoRng, TryRng};

/// Marker of a live build state at the start of the scratch ("DPXBUILD").
const STATE_MAGIC: u64 = u64::from_le_bytes(*b"DPXBUILD");

fn aligned(b: &[u8]) -> bool {
    (b.as_ptr() as usize).is_multiple_of(ALIGN)
}

/// Builds an image in one call from f32 rows (`keys`: n×d, `values`: n×dv, row-major).
///
/// Returns the number of image bytes written (= [`Plan::image_bytes`]).
///
/// # Errors
/// [`Error::BufferTooSmall`] / [`Error::Misaligned`] for `image` or `scratch` (nothing is
/// written), [`Error::WrongLength`], [`Error::NonFiniteInput`], [`Error::OutOfBall`]
/// (reject policy), [`Error::TooManyRows`] (image and scratch zeroised), [`Error::Rng`]
/// (image and scratch zeroised).
pub fn build<R: TryRng + TryCryptoRng + ?Sized>(
    plan: &Plan,
    image: &mut [u8],
    keys: &[f32],
    values: &[f32],
    rng: &mut R,
    scratch: &mut [u8],
) -> Result<usize> {
    build_rows(
        plan,
        image,
        Rows::F32(keys),
        Rows::F32(values),
        rng,
        scratch,
    )
}

/// [`build`] for any row format (f32, or quantised i8/i16 with a scale).
pub fn build_rows<R: TryRng + TryCryptoRng + ?Sized>(
    plan: &Plan,
    image: &mut [u8],
    keys: Rows<'_>,
    values: Rows<'_>,
    rng: &mut R,
    scratch: &mut [u8],
) -> Result<usize> {
    let mut b = Builder::begin(plan, image, scratch)?;
    b.push(keys, values, rng)?;
    b.finish(rng)
}

/// A streaming build over the caller's image and scratch buffers.
///
/// Rows may arrive in chunks of any size. In the tree layout, every node is noised and
/// frozen as soon as its last block is complete (so the RNG is needed in `push` too).
/// Dropping a builder without `finish` zeroises both buffers.
pub struct Builder<'a> {
    image: &'a mut [u8],
    scratch: &'a mut [u8],
    done: bool,
}

impl<'a> Builder<'a> {
    /// Starts a build: checks and zeroes the buffers and writes the (public) header.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] or [`Error::Misaligned`] (nothing is written).
    pub fn begin(plan: &Plan, image: &'a mut [u8], scratch: &'a mut [u8]) -> Result<Self> {
        build_begin(plan, image, scratch)?;
        Ok(Builder {
            image,
            scratch,
            done: false,
        })
    }

    /// Adds a chunk of rows. A chunk with a bad row (wrong length, NaN, out of ball under
    /// `Reject`, too many rows) is refused whole and the build can continue.
    ///
    /// # Errors
    /// As [`build`]; an RNG failure ends the build (buffers zeroised).
    pub fn push<R: TryRng + TryCryptoRng + ?Sized>(
        &mut self,
        keys: Rows<'_>,
        values: Rows<'_>,
        rng: &mut R,
    ) -> Result<()> {
        build_push(self.image, self.scratch, keys, values, rng)
    }

    /// [`Builder::push`] for f32 rows.
    pub fn push_f32<R: TryRng + TryCryptoRng + ?Sized>(
        &mut self,
        keys: &[f32],
        values: &[f32],
        rng: &mut R,
    ) -> Result<()> {
        self.push(Rows::F32(keys), Rows::F32(values), rng)
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u32 {
        image::read_header(self.image).map_or(0, |(_, n)| n)
    }

    /// Adds the remaining noise, seals the image and zeroises the scratch.
    pub fn finish<R: TryRng + TryCryptoRng + ?Sized>(mut self, rng: &mut R) -> Result<usize> {
        let r = build_finish(self.image, self.scratch, rng);
        self.done = true;
        r
    }
}

impl Drop for Builder<'_> {
    fn drop(&mut self) {
        if !self.done {
            zeroise(self.image, self.scratch);
        }
    }
}

fn zeroise(image: &mut [u8], scratch: &mut [u8]) {
    image.fill(0);
    scratch.fill(0);
}

/// Resumable form of [`Builder::begin`], with all state in the two buffers (for the C ABI).
pub fn build_begin(plan: &Plan, image: &mut [u8], scratch: &mut [u8]) -> Result<()> {
    let s = &plan.shape;
    if image.len() < s.image_bytes || scratch.len() < s.build_scratch_bytes {
        return Err(Error::BufferTooSmall);
    }
    if !aligned(image) || !aligned(scratch) {
        return Err(Error::Misaligned);
    }
    // The lengths were checked above; `get_mut` keeps the impossible panics out of the
    // binary (no panic is reachable from the C ABI: `.ci/harden.sh`).
    let (img, scr) = match (
        image.get_mut(..s.image_bytes),
        scratch.get_mut(..s.build_scratch_bytes),
    ) {
        (Some(i), Some(c)) => (i, c),
        _ => return Err(Error::BufferTooSmall),
    };
    zeroise(img, scr);
    image::write_header(image, plan, BUILDING, 0);
    let crc = image::header_crc_rows_zero(image);
    if let Some((magic, rest)) = scratch.split_first_chunk_mut::<8>() {
        *magic = STATE_MAGIC.to_le_bytes();
        if let Some((c, _)) = rest.split_first_chunk_mut::<4>() {
            *c = crc.to_le_bytes();
        }
    }
    Ok(())
}

/// Reads and authenticates the in-progress state: the header must carry the BUILDING
/// marker and match the checksum recorded in the scratch at `begin` (except the row count).
/// Always inlined: a separate frame holding its own copy of the plan would sit on top of
/// the caller's during the header parsing, the deepest stack path of a build step.
#[inline(always)]
fn load_state(image: &mut [u8], scratch: &[u8]) -> Result<(Plan, u32)> {
    let magic = image.first_chunk::<4>().map(|b| u32::from_le_bytes(*b));
    let state = scratch.first_chunk::<8>().map(|b| u64::from_le_bytes(*b));
    if magic != Some(BUILDING) || state != Some(STATE_MAGIC) {
        return Err(Error::BuildState);
    }
    if !aligned(image) || !aligned(scratch) {
        return Err(Error::Misaligned);
    }
    // The parsed header is checked in place and returned as is (no copies of the plan).
    let r = image::read_header(image);
    let Ok((plan, _)) = &r else {
        return Err(Error::BuildState);
    };
    if image.len() < plan.shape.image_bytes || scratch.len() < plan.shape.build_scratch_bytes {
        return Err(Error::BufferTooSmall);
    }
    // Recompute the header checksum as written at `begin` (row count 0), in pieces so that
    // no header copy lands on the stack.
    let want = scratch
        .get(8..)
        .and_then(|b| b.first_chunk::<4>())
        .map(|b| u32::from_le_bytes(*b));
    if Some(image::header_crc_rows_zero(image)) != want {
        return Err(Error::BuildState);
    }
    r
}

/// `(d, dv)` of an in-progress build, after authenticating its state like
/// [`build_push`] does: lets the C ABI size the row slices of a streaming push.
pub(crate) fn state_dims(image: &mut [u8], scratch: &[u8]) -> Result<(usize, usize)> {
    let (plan, _) = load_state(image, scratch)?;
    Ok((plan.params.d as usize, plan.params.dv as usize))
}

/// The caller's scratch, carved into typed regions.
pub(crate) struct Work<'s> {
    acc: &'s mut [i64],
    psi: &'s mut [i32],
    omega: &'s mut [i32],
    x: &'s mut [i32],
}

fn carve<'s>(plan: &Plan, scratch: &'s mut [u8]) -> Result<Work<'s>> {
    let s = &plan.shape;
    let (acc_off, acc_len) = s.scratch_acc();
    let (psi_off, psi_len) = s.scratch_psi();
    let (om_off, om_len) = s.scratch_omega();
    let (x_off, x_len) = s.scratch_x();
    let region = scratch.get_mut(acc_off..).ok_or(Error::BufferTooSmall)?;
    let split =
        |b: &'s mut [u8], at: usize| b.split_at_mut_checked(at).ok_or(Error::BufferTooSmall);
    let (acc, rest) = split(region, psi_off - acc_off)?;
    let (psi, rest) = split(rest, om_off - psi_off)?;
    let (omega, rest) = split(rest, x_off - om_off)?;
    let acc = bytemuck::try_cast_slice_mut::<u8, i64>(
        acc.get_mut(..acc_len).ok_or(Error::BufferTooSmall)?,
    )
    .map_err(|_| Error::Misaligned)?;
    let psi = bytemuck::try_cast_slice_mut::<u8, i32>(
        psi.get_mut(..psi_len).ok_or(Error::BufferTooSmall)?,
    )
    .map_err(|_| Error::Misaligned)?;
    let omega = bytemuck::try_cast_slice_mut::<u8, i32>(
        omega.get_mut(..om_len).ok_or(Error::BufferTooSmall)?,
    )
    .map_err(|_| Error::Misaligned)?;
    let x = bytemuck::try_cast_slice_mut::<u8, i32>(
        rest.get_mut(..x_len).ok_or(Error::BufferTooSmall)?,
    )
    .map_err(|_| Error::Misaligned)?;
    Ok(Work { acc, psi, omega, x })
}

/// Resumable form of [`Builder::push`].
pub fn build_push<R: TryRng + TryCryptoRng + ?Sized>(
    image: &mut [u8],
    scratch: &mut [u8],
    keys: Rows<'_>,
    values: Rows<'_>,
    rng: &mut R,
) -> Result<()> {
    // Borrowed in place (`ref`), not moved out of the `Result`: one plan on the stack.
    let state = load_state(image, scratch);
    let (plan, n0) = match state {
        Ok((ref plan, n)) => (plan, n),
        Err(e) => return Err(e),
    };
    let p = &plan.params;
    let (d, dv) = (p.d as usize, p.dv as usize);
    if !keys.len().is_multiple_of(d) {
        return Err(Error::WrongLength);
    }
    // d ≥ 1 (validated header): `checked_div` only keeps a division by zero out of the binary.
    let rows = keys.len().checked_div(d).ok_or(Error::BuildState)?;
    if values.len() != rows.checked_mul(dv).ok_or(Error::WrongLength)? {
        return Err(Error::WrongLength);
    }
    if rows as u64 + u64::from(n0) > u64::from(p.n_max) {
        return Err(Error::TooManyRows);
    }
    // Refuse the chunk before touching anything if any row is bad.
    for i in 0..rows {
        keys.check(i, d, p.radius_k, p.policy)?;
        values.check(i, dv, p.radius_v, p.policy)?;
    }
    let result = Noise::with(plan, |noise| {
        push_rows(plan, n0, image, scratch, keys, values, rows, noise, rng)
    })?;
    match result {
        Ok(n) => {
            image::set_rows(image, n);
            Ok(())
        }
        Err(e) => {
            zeroise(image, scratch);
            Err(e)
        }
    }
}

// Not inlined into `Noise::with`'s closure: its locals would then share that frame with the
// sampler construction, which is deeper than the row loop.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn push_rows<R: TryRng + ?Sized>(
    plan: &Plan,
    n0: u32,
    image: &mut [u8],
    scratch: &mut [u8],
    keys: Rows<'_>,
    values: Rows<'_>,
    rows: usize,
    noise: &Noise,
    rng: &mut R,
) -> Result<u32> {
    let mut w = carve(plan, scratch)?;
    let entries = plan.shape.entries_per_node;
    let r = plan.shape.r;
    if r == 0 {
        return Err(Error::BuildState); // impossible (r ≥ 1); keeps `chunks_exact` panic-free
    }
    let sh = 60 - plan.f_noise;
    let mut n = n0;
    for i in 0..rows {
        row_features(plan, keys, values, i, &mut w)?;
        // acc[level 0] += round(ψ ⊗ ω), column-major: the inner loop is contiguous.
        let acc0 = w.acc.get_mut(..entries).ok_or(Error::BufferTooSmall)?;
        add_payload(acc0, w.omega, w.psi, sh);
        n += 1;
        if plan.shape.block != 0 && n.is_multiple_of(plan.shape.block) {
            complete_block(plan, n / plan.shape.block - 1, w.acc, image, noise, rng)?;
        }
    }
    Ok(n)
}

/// `acc += round(ψ ⊗ ω / 2^sh)`, column-major (`acc` holds `omega.len()` columns of
/// `psi.len()` entries): one row's payload added to a node.
#[inline]
fn add_payload(acc: &mut [i64], omega: &[i32], psi: &[i32], sh: u32) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_avx2() {
        super::avx2::add_payload(acc, omega, psi, sh);
        return;
    }
    add_payload_body(acc, omega, psi, sh);
}

/// The body of [`add_payload`] (inlined into its AVX2 copy too).
#[inline(always)]
pub(super) fn add_payload_body(acc: &mut [i64], omega: &[i32], psi: &[i32], sh: u32) {
    let r = psi.len();
    if r == 0 {
        return;
    }
    for (col, &om) in acc.chunks_exact_mut(r).zip(omega.iter()) {
        let om = i64::from(om);
        for (a, &ps) in col.iter_mut().zip(psi.iter()) {
            // |ψ·ω| ≤ 2⁶⁰ and |acc| ≤ n_max·2^F_noise ≤ 2⁶¹ (plan): no overflow.
            *a += round_shr_fast(i64::from(ps) * om, sh);
        }
    }
}

/// Fills `w.psi` and `w.omega` with the factors of row `i`'s payload ψ ⊗ ω: key and value
/// clipped and normalised, ‖ψ‖ ≤ 1 and ‖ω‖ ≤ 1 exactly, then contribution clipping.
fn row_features(
    plan: &Plan,
    keys: Rows<'_>,
    values: Rows<'_>,
    i: usize,
    w: &mut Work<'_>,
) -> Result<()> {
    let p = &plan.params;
    let (d, dv) = (p.d as usize, p.dv as usize);
    let wnorm = libm::sqrt(1.0 + p.gamma * p.gamma);
    let x = w.x.get_mut(..d).ok_or(Error::BufferTooSmall)?;
    keys.normalise(i, p.radius_k, 1.0, 0, x)?;
    plan.kernel.map(x, w.psi)?;
    let (vpart, gpart) = w
        .omega
        .split_at_mut_checked(dv)
        .ok_or(Error::BufferTooSmall)?;
    values.normalise(i, p.radius_v, 1.0 / wnorm, sq(plan.g), vpart)?;
    if let Some(gslot) = gpart.first_mut() {
        *gslot = plan.g;
    }
    if plan.clip_q > 0 {
        clip_payload(w.psi, w.omega, plan.clip_q);
    }
    Ok(())
}

/// The rounded payload of row 0 of (`keys`, `values`) in accumulator units, column-major —
/// what one row adds to a node (tests of the sensitivity bound).
#[cfg(test)]
pub(crate) fn row_payload(plan: &Plan, keys: &[f32], values: &[f32]) -> Vec<i64> {
    let mut scratch = vec![0u64; plan.build_scratch_bytes().div_ceil(8)];
    let bytes =
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut scratch)[..plan.build_scratch_bytes()];
    let mut w = carve(plan, bytes).unwrap();
    row_features(plan, Rows::F32(keys), Rows::F32(values), 0, &mut w).unwrap();
    let sh = 60 - plan.f_noise;
    let mut out = Vec::new();
    for &om in w.omega.iter() {
        for &ps in w.psi.iter() {
            out.push(round_shr_fast(i64::from(ps) * i64::from(om), sh));
        }
    }
    out
}

/// Contribution clipping: scales ψ (all entries, so numerator and denominator alike) so that
/// ‖ψ‖·‖ω‖ ≤ C, checked exactly: Σψ² · Σω² ≤ C_q² · 2⁶⁰ in u128 (both sides ≤ 2¹²⁰).
///
/// Not inlined: its f64 temporaries would widen the row loop's frame, which is on the
/// deepest stack path of a build (row loop → node completion → noise sampler).
#[inline(never)]
fn clip_payload(psi: &mut [i32], omega: &[i32], clip_q: i32) {
    let nw = norm_sq(omega);
    let limit = sq(clip_q) << 60;
    let np = norm_sq(psi);
    if np.saturating_mul(nw) <= limit {
        return;
    }
    // f = C/(‖ψ‖‖ω‖) in f64, applied with truncation toward zero; `enforce_norm` then
    // makes the bound exact.
    let f = f64::from(clip_q)
        / (1u64 << 30) as f64
        / (libm::sqrt(np as f64) / (1u64 << 30) as f64)
        / (libm::sqrt(nw as f64) / (1u64 << 30) as f64);
    let fq = (f * (1u64 << 30) as f64) as i64;
    for v in psi.iter_mut() {
        *v = sat_i32(crate::fixed::trunc_shr(i64::from(*v) * fq, 30));
    }
    // Limit for Σψ² alone: floor(C_q²·2⁶⁰ / Σω²).
    let psi_limit = limit.checked_div(nw).unwrap_or(u128::MAX);
    enforce_norm(psi, 0, psi_limit);
}

/// Block `b` (0-based) just completed: fold it into the open node of every level, and
/// noise and write each node that ends with this block.
fn complete_block<R: TryRng + ?Sized>(
    plan: &Plan,
    b: u32,
    acc: &mut [i64],
    image: &mut [u8],
    noise: &Noise,
    rng: &mut R,
) -> Result<()> {
    let s = &plan.shape;
    let e = s.entries_per_node;
    if e == 0 {
        return Err(Error::BuildState); // impossible (e ≥ 2); keeps `chunks_exact` panic-free
    }
    let (lvl0, upper) = acc.split_at_mut_checked(e).ok_or(Error::BufferTooSmall)?;
    for node in upper.chunks_exact_mut(e) {
        for (a, &x) in node.iter_mut().zip(lvl0.iter()) {
            *a += x;
        }
    }
    for l in 0..s.levels {
        let span = 1u64 << l;
        if (u64::from(b) + 1) % span != 0 {
            continue;
        }
        let j = b >> l;
        let node = acc
            .get_mut(l as usize * e..(l as usize + 1) * e)
            .ok_or(Error::BufferTooSmall)?;
        if let Some(idx) = s.node_index(l, j) {
            emit_node(plan, node, idx, image, noise, rng)?;
        }
        node.fill(0);
    }
    Ok(())
}

/// Adds noise to one node's exact sums and writes the rounded words into the image.
fn emit_node<R: TryRng + ?Sized>(
    plan: &Plan,
    acc: &[i64],
    idx: usize,
    image: &mut [u8],
    noise: &Noise,
    rng: &mut R,
) -> Result<()> {
    let e = plan.shape.entries_per_node;
    let start = HEADER_BYTES + idx * e * 4;
    let bytes = image
        .get_mut(start..start + e * 4)
        .ok_or(Error::BufferTooSmall)?;
    let words = bytemuck::try_cast_slice_mut::<u8, i32>(bytes).map_err(|_| Error::Misaligned)?;
    let const_entry = plan.params.dv as usize * plan.shape.r; // column dv, feature 0
    let down = plan.f_noise - plan.f_store;
    for (k, (wd, &a)) in words.iter_mut().zip(acc.iter()).enumerate() {
        let noisy = if plan.exact_const && k == const_entry {
            a
        } else {
            a.saturating_add(noise.sample(rng)?)
        };
        *wd = sat_i32(round_shr(noisy, down)).to_le();
    }
    Ok(())
}

/// Resumable form of [`Builder::finish`].
pub fn build_finish<R: TryRng + TryCryptoRng + ?Sized>(
    image: &mut [u8],
    scratch: &mut [u8],
    rng: &mut R,
) -> Result<usize> {
    // Borrowed in place (`ref`), not moved out of the `Result`: one plan on the stack.
    let state = load_state(image, scratch);
    let (plan, n) = match state {
        Ok((ref plan, n)) => (plan, n),
        Err(e) => return Err(e),
    };
    let r = Noise::with(plan, |noise| {
        finish_nodes(plan, n, image, scratch, noise, rng)
    })?;
    match r {
        Ok(()) => {
            let total = plan.shape.image_bytes;
            image::set_rows(image, n);
            image::seal(image, total);
            scratch.fill(0);
            Ok(total)
        }
        Err(e) => {
            zeroise(image, scratch);
            Err(e)
        }
    }
}

#[inline(never)]
fn finish_nodes<R: TryRng + ?Sized>(
    plan: &Plan,
    n: u32,
    image: &mut [u8],
    scratch: &mut [u8],
    noise: &Noise,
    rng: &mut R,
) -> Result<()> {
    let w = carve(plan, scratch)?;
    if plan.shape.block == 0 {
        let e = plan.shape.entries_per_node;
        let acc = w.acc.get(..e).ok_or(Error::BufferTooSmall)?;
        emit_node(plan, acc, 0, image, noise, rng)
    } else if !n.is_multiple_of(plan.shape.block) {
        // The last, partial block: complete it so every node inside the built blocks exists.
        complete_block(plan, n / plan.shape.block, w.acc, image, noise, rng)
    } else {
        Ok(())
    }
}
