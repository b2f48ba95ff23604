//! Helpers shared by the fuzz targets: a seeded RNG that can fail on demand, aligned heap
//! buffers, image checksum repair, and the output invariants every query must keep.

use core::convert::Infallible;
use dpxattn::mechanism::{Attn, Params, Plan};
use dpxattn::{Error, checksum};
use rand_core::{TryCryptoRng, TryRng};

/// The error of [`FuzzRng`].
#[derive(Debug)]
pub struct Failed;
impl core::fmt::Display for Failed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("injected RNG failure")
    }
}
impl core::error::Error for Failed {}

/// SplitMix64 that fails on draw `fail_at` (0-based) and after (never, with `u64::MAX`).
/// Declared "crypto" only so that the library's `TryCryptoRng` bound accepts it.
pub struct FuzzRng {
    state: u64,
    fail_at: u64,
    /// Draws made so far (including failed ones).
    pub draws: u64,
}

impl FuzzRng {
    /// A generator from `seed` failing at draw `fail_at`.
    pub fn new(seed: u64, fail_at: u64) -> Self {
        FuzzRng {
            state: seed,
            fail_at,
            draws: 0,
        }
    }
    fn step(&mut self) -> Result<u64, Failed> {
        let k = self.draws;
        self.draws = self.draws.saturating_add(1);
        if k >= self.fail_at {
            return Err(Failed);
        }
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
}

impl TryRng for FuzzRng {
    type Error = Failed;
    fn try_next_u32(&mut self) -> Result<u32, Failed> {
        Ok((self.step()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Failed> {
        self.step()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Failed> {
        for c in dst.chunks_mut(8) {
            let v = self.step()?.to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
        Ok(())
    }
}
impl TryCryptoRng for FuzzRng {}

/// An infallible seeded generator.
pub struct Seeded(pub FuzzRng);
impl TryRng for Seeded {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.try_next_u32().unwrap_or(0))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.try_next_u64().unwrap_or(0))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let _ = self.0.try_fill_bytes(dst);
        Ok(())
    }
}
impl TryCryptoRng for Seeded {}

/// A heap byte buffer whose slice starts `off` bytes after an 8-aligned address.
pub struct ABuf {
    words: Vec<u64>,
    off: usize,
    len: usize,
}

impl ABuf {
    /// `len` zero bytes at misalignment `off` (0..8).
    pub fn new(len: usize, off: usize) -> Self {
        ABuf {
            words: vec![0u64; (len + off).div_ceil(8) + 1],
            off,
            len,
        }
    }
    /// A copy of `data` at misalignment `off`.
    pub fn from(data: &[u8], off: usize) -> Self {
        let mut b = ABuf::new(data.len(), off);
        b.bytes_mut().copy_from_slice(data);
        b
    }
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        let all: &[u8] = bytemuck_cast(&self.words);
        &all[self.off..self.off + self.len]
    }
    /// The bytes, mutable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let (off, len) = (self.off, self.len);
        let all: &mut [u8] = bytemuck_cast_mut(&mut self.words);
        &mut all[off..off + len]
    }
}

fn bytemuck_cast(w: &[u64]) -> &[u8] {
    // SAFETY: u8 has no alignment or validity requirements; the length is exact.
    unsafe { core::slice::from_raw_parts(w.as_ptr().cast::<u8>(), w.len() * 8) }
}
fn bytemuck_cast_mut(w: &mut [u64]) -> &mut [u8] {
    // SAFETY: as above, and the borrow is unique.
    unsafe { core::slice::from_raw_parts_mut(w.as_mut_ptr().cast::<u8>(), w.len() * 8) }
}

/// Recomputes the image checksum of `img` (header field "total bytes" at 16 decides the
/// covered length, clamped to the buffer) so that mutated headers get past the CRC and
/// exercise the parser behind it. Optionally forces the finished-image magic.
pub fn fix_crc(img: &mut [u8], set_magic: bool) {
    if img.len() < 24 {
        return;
    }
    if set_magic {
        img[0..4].copy_from_slice(b"DPXA");
    }
    let total = u64::from_le_bytes(img[16..24].try_into().unwrap_or([0; 8]));
    let total = usize::try_from(total).unwrap_or(usize::MAX).min(img.len());
    let mut c = checksum::Crc32c::new();
    c.update(&img[0..12]);
    if total > 16 {
        c.update(&img[16..total]);
    }
    let crc = c.finish();
    img[12..16].copy_from_slice(&crc.to_le_bytes());
}

/// Fixed queries of dimension `d`: zero, a constant, alternating signs, a huge one, a
/// subnormal one and one on the ball's edge. All are valid (finite) inputs.
pub fn fixed_queries(d: usize) -> Vec<Vec<f32>> {
    vec![
        vec![0.0; d],
        vec![0.5; d],
        (0..d)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect(),
        vec![f32::MAX; d],
        vec![f32::MIN_POSITIVE / 8.0; d],
        (0..d).map(|i| if i == 0 { -3.0e7 } else { 0.0 }).collect(),
    ]
}

/// Every query invariant the API promises, whatever image it was opened from:
/// outputs finite and inside the value ball (the query projects onto it); errors leave `out`
/// untouched; invalid queries (NaN, wrong length) are refused by name.
pub fn exercise_queries(attn: &Attn<'_>, max_ranges: usize) {
    let (d, dv) = (attn.d(), attn.dv());
    let rv = attn.plan().params().radius_v;
    // A forged header may claim a huge d or dv: such an image still passed validation
    // against its own length, so its d and dv are bounded by the input size.
    let mut scratch = ABuf::new(attn.query_scratch_bytes(), 0);
    let blocks = attn.blocks();
    let mut ranges = vec![(0usize, blocks)];
    'outer: for a in 0..blocks {
        for b in a + 1..=blocks {
            if ranges.len() >= max_ranges {
                break 'outer;
            }
            ranges.push((a, b));
        }
    }
    for q in fixed_queries(d) {
        for &(a, b) in &ranges {
            let mut out = vec![f32::from_bits(0x7FC0_1234); dv];
            match attn.query_range(a, b, &q, &mut out, scratch.bytes_mut()) {
                Ok(_) => check_output(&out, rv),
                Err(e) => {
                    assert!(
                        blocks == 0 && e == Error::InvalidRange,
                        "valid query refused: {e:?} range [{a},{b}) of {blocks}"
                    );
                    assert!(out.iter().all(|o| o.to_bits() == 0x7FC0_1234));
                }
            }
        }
    }
    // The batch API answers exactly like single queries, or refuses without writing.
    let qs: Vec<f32> = fixed_queries(d).concat();
    let m = qs.len() / d;
    let mut out = vec![f32::from_bits(0x7FC0_1234); m * dv];
    let mut info = vec![dpxattn::mechanism::QueryInfo::default(); m];
    match attn.query_batch(&qs, &mut out, &mut info, scratch.bytes_mut()) {
        Ok(()) => {
            for (q, o) in qs.chunks(d).zip(out.chunks(dv)) {
                let mut one = vec![0f32; dv];
                attn.query(q, &mut one, scratch.bytes_mut())
                    .expect("batch ok, single fails");
                assert!(
                    one.iter().zip(o).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "batch and single queries differ"
                );
            }
        }
        Err(e) => {
            assert!(
                blocks == 0 && e == Error::InvalidRange,
                "batch refused: {e:?}"
            );
            assert!(out.iter().all(|o| o.to_bits() == 0x7FC0_1234));
        }
    }
    // Bad queries are named and leave the output untouched.
    let mut out = vec![7.0f32; dv];
    let mut bad = vec![0.0f32; d];
    bad[d - 1] = f32::NAN;
    let r = attn.query(&bad, &mut out, scratch.bytes_mut());
    assert!(
        matches!(
            r,
            Err(Error::NonFiniteInput { row: 0 }) | Err(Error::InvalidRange)
        ),
        "{r:?}"
    );
    let r = attn.query(&bad[..d - 1], &mut out, scratch.bytes_mut());
    assert!(
        matches!(r, Err(Error::WrongLength) | Err(Error::InvalidRange)),
        "{r:?}"
    );
    assert!(out.iter().all(|&o| o == 7.0));
    let _ = attn.bound(0.05);
    let _ = attn.plan().bound(attn.rows(), 1e-9);
}

/// The output is finite and inside the ball of radius `rv` (with f32 rounding slack).
pub fn check_output(out: &[f32], rv: f64) {
    assert!(
        out.iter().all(|o| o.is_finite()),
        "non-finite output {out:?} (radius_v {rv})"
    );
    let n: f64 = out
        .iter()
        .map(|&o| f64::from(o) * f64::from(o))
        .sum::<f64>()
        .sqrt();
    assert!(
        n <= rv * (1.0 + 1e-5) + 1e-30,
        "output norm {n} outside the value ball {rv}"
    );
}

/// Plans a configuration, or `None` if it is refused or too large for a fuzz iteration.
pub fn small_plan(p: &Params, max_bytes: usize) -> Option<Plan> {
    let plan = Plan::new(p).ok()?;
    (plan.image_bytes() <= max_bytes
        && plan.build_scratch_bytes() <= max_bytes
        && plan.query_scratch_bytes() <= max_bytes)
        .then_some(plan)
}
