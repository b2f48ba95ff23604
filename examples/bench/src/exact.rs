//! The exact baseline: f32 softmax attention `softmax(τ·q·Kᵀ)·V` for one query, written to
//! be fast so the comparison is against a good implementation, not a naive one.
//!
//! - One streaming pass over K and V in blocks of [`BLOCK`] keys ("online softmax"): each
//!   block's scores live in a stack array, the running maximum is subtracted before `exp`,
//!   and the accumulators are rescaled when a later block raises the maximum. No heap, so
//!   nothing is allocated in a timed loop, and K/V are read exactly once.
//! - Reductions (dot products, max, sum) use [`LANES`] independent accumulators, because the
//!   compiler may not reassociate float additions on its own; that is what lets them
//!   vectorise.
//! - `exp` is [`exp_approx`]: range reduction to `2^n·e^r` with a degree-7 polynomial,
//!   branch-free so it vectorises, within 3·10⁻⁷ relative of the true `exp` (tested below).
//!   The scalar libm `expf` would otherwise dominate the time.
//! - The weighted sum of values handles 4 keys per pass over the output row.

/// Independent accumulators per reduction (8 f32: one AVX or two SSE registers).
pub const LANES: usize = 8;
/// Keys per block of the streaming softmax (the block's scores sit on the stack).
pub const BLOCK: usize = 256;

/// `e^x` for `x ≤ 0` (the only range softmax needs after max-subtraction), relative error
/// below 3·10⁻⁷. Inputs below −87 are clamped to −87 (result ≈ 1.6·10⁻³⁸, still a normal
/// float), which is far below anything that changes an f32 softmax.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n·LN2_HI is exact for |n| < 2^8 (LN2_HI has 16 significant bits).
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5·2^23: adding it rounds to an integer and leaves that integer in the low mantissa
    // bits (valid for |t| < 2^22).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 0.0);
    let t = x * LOG2_E + ROUND;
    let n = t - ROUND; // round(x·log2 e), in [-126, 0]
    let n_int = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = (x - n * LN2_HI) - n * LN2_LO; // |r| ≤ ln2/2 (+ rounding)
    // Taylor series of e^r to r^7: truncation error < 0.3466^8/8! ≈ 5·10⁻⁹.
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // 2^n built from its exponent bits: n + 127 ∈ [1, 127], a normal float.
    let two_n = f32::from_bits(((n_int + 127) as u32) << 23);
    p * two_n
}

/// Dot product with [`LANES`] accumulators.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ac, ar) = a.as_chunks::<LANES>();
    let (bc, br) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in ac.iter().zip(bc) {
        for ((s, xi), yi) in acc.iter_mut().zip(x).zip(y) {
            *s += xi * yi;
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    hsum(acc) + tail
}

#[inline(always)]
fn hsum(acc: [f32; LANES]) -> f32 {
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7))
}

#[inline(always)]
fn max_of(s: &[f32]) -> f32 {
    let (c, r) = s.as_chunks::<LANES>();
    let mut acc = [f32::NEG_INFINITY; LANES];
    for x in c {
        for (m, xi) in acc.iter_mut().zip(x) {
            *m = m.max(*xi);
        }
    }
    let tail = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    acc.into_iter().fold(tail, f32::max)
}

#[inline(always)]
fn sum_of(s: &[f32]) -> f32 {
    let (c, r) = s.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for x in c {
        for (a, xi) in acc.iter_mut().zip(x) {
            *a += xi;
        }
    }
    hsum(acc) + r.iter().sum::<f32>()
}

/// `out += Σ_j w[j]·V[j]` over the rows of `v` (row length `out.len()`), 4 rows per pass.
#[inline(always)]
fn accumulate(out: &mut [f32], w: &[f32], v: &[f32]) {
    let dv = out.len();
    let (w4, wr) = w.as_chunks::<4>();
    for (ww, v4) in w4.iter().zip(v.chunks_exact(4 * dv)) {
        let (v0, rest) = v4.split_at(dv);
        let (v1, rest) = rest.split_at(dv);
        let (v2, v3) = rest.split_at(dv);
        let [w0, w1, w2, w3] = *ww;
        for ((((o, a), b), c), e) in out.iter_mut().zip(v0).zip(v1).zip(v2).zip(v3) {
            *o += (w0 * a + w1 * b) + (w2 * c + w3 * e);
        }
    }
    let done = w4.len() * 4 * dv;
    for (&wj, row) in wr.iter().zip(v[done..].chunks_exact(dv)) {
        for (o, x) in out.iter_mut().zip(row) {
            *o += wj * x;
        }
    }
}

/// Which implementation [`exact_attention`] uses on this machine.
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if x86::available() {
        return "x86-64 AVX2+FMA (runtime-detected)";
    }
    "portable (auto-vectorised)"
}

/// Exact softmax attention for one query: `out = Σ_i softmax(τ·q·k_i)·v_i`.
///
/// `keys` is `n × d` row-major with `d = q.len()`, `values` is `n × dv` with
/// `dv = out.len()`. On x86-64 with AVX2 and FMA (detected at run time) and `d`, `dv`
/// multiples of 8, an explicit-SIMD kernel is used (see [`x86`]); otherwise
/// [`exact_attention_portable`]. Both compute the same streaming softmax.
///
/// # Panics
/// If `d` or `dv` is 0, `n` is 0, or the slice lengths disagree (a benchmark bug).
pub fn exact_attention(q: &[f32], keys: &[f32], values: &[f32], tau: f32, out: &mut [f32]) {
    check_shapes(q, keys, values, out);
    #[cfg(target_arch = "x86_64")]
    if x86::available() && q.len().is_multiple_of(8) && out.len().is_multiple_of(8) {
        // SAFETY: AVX2 and FMA were detected on this CPU; shapes were checked above and
        // d, dv are multiples of 8 as the kernel requires.
        unsafe { x86::attention(q, keys, values, tau, out) };
        return;
    }
    exact_attention_portable(q, keys, values, tau, out);
}

fn check_shapes(q: &[f32], keys: &[f32], values: &[f32], out: &[f32]) {
    let d = q.len();
    let dv = out.len();
    assert!(
        d > 0 && dv > 0 && keys.len().is_multiple_of(d),
        "bad shapes"
    );
    let n = keys.len() / d;
    assert!(n > 0 && values.len() == n * dv, "bad shapes");
}

/// [`exact_attention`] in portable Rust: the same algorithm, left to the auto-vectoriser.
///
/// # Panics
/// As [`exact_attention`].
pub fn exact_attention_portable(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    tau: f32,
    out: &mut [f32],
) {
    check_shapes(q, keys, values, out);
    let (d, dv) = (q.len(), out.len());
    out.fill(0.0);
    let mut running_max = f32::NEG_INFINITY;
    let mut denom = 0.0f32;
    let mut scores = [0.0f32; BLOCK];
    for (kb, vb) in keys.chunks(BLOCK * d).zip(values.chunks(BLOCK * dv)) {
        let s = &mut scores[..kb.len() / d];
        for (si, k) in s.iter_mut().zip(kb.chunks_exact(d)) {
            *si = tau * dot(q, k);
        }
        softmax_step(s, &mut running_max, &mut denom, out);
        accumulate(out, s, vb);
    }
    finish(denom, out);
}

/// The streaming-softmax step on one block's scores: raise the running maximum (rescaling
/// what is accumulated so far), replace each score by its weight exp(s − max), add the
/// weights to the denominator.
#[inline(always)]
fn softmax_step(s: &mut [f32], running_max: &mut f32, denom: &mut f32, out: &mut [f32]) {
    let block_max = max_of(s);
    if block_max > *running_max {
        // First block: running_max = −∞, so r ≈ 0 and denom = out = 0 stay 0.
        let r = exp_approx(*running_max - block_max);
        *denom *= r;
        for o in out.iter_mut() {
            *o *= r;
        }
        *running_max = block_max;
    }
    let m = *running_max;
    for si in s.iter_mut() {
        *si = exp_approx(*si - m);
    }
    *denom += sum_of(s);
}

#[inline(always)]
fn finish(denom: f32, out: &mut [f32]) {
    // denom ≥ 1: the maximal score contributes exp(0) = 1.
    let inv = 1.0 / denom;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

/// The explicit-SIMD kernel. The auto-vectoriser handles `exp`, max and sum well, but for
/// the dot products it picks strided gathers across keys (seen in the generated code) and
/// the portable kernel spends most of its time there; here 8 keys are scored at once with
/// 8 vertical accumulators and one transpose-reduction, and the value rows are accumulated
/// with FMA, 8 keys per pass.
#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use super::{BLOCK, exp_approx, finish};
    use std::arch::x86_64::*;

    /// [`exp_approx`] on 8 lanes: the same range reduction and polynomial, with FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn exp8(x: __m256) -> __m256 {
        const ROUND: f32 = 12_582_912.0;
        let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0)), _mm256_setzero_ps());
        let t = _mm256_fmadd_ps(
            x,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
            _mm256_set1_ps(ROUND),
        );
        let n = _mm256_sub_ps(t, _mm256_set1_ps(ROUND));
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_145_75), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428_606_8e-6), r);
        let mut p = _mm256_set1_ps(1.0 / 5040.0);
        for c in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        // 2^n from the integer left in t's low mantissa bits: n + 127 ∈ [1, 127].
        let n_int = _mm256_sub_epi32(
            _mm256_castps_si256(t),
            _mm256_set1_epi32(ROUND.to_bits() as i32),
        );
        let two_n = _mm256_slli_epi32::<23>(_mm256_add_epi32(n_int, _mm256_set1_epi32(127)));
        _mm256_mul_ps(p, _mm256_castsi256_ps(two_n))
    }

    /// The streaming-softmax step of [`super::exact_attention_portable`] (see
    /// `softmax_step` there), 8 lanes at a time.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn softmax_step(s: &mut [f32], running_max: &mut f32, denom: &mut f32, out: &mut [f32]) {
        let (s8, sr) = s.as_chunks_mut::<8>();
        let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
        for c in s8.iter() {
            // SAFETY: `c` is 8 floats.
            m = _mm256_max_ps(m, unsafe { _mm256_loadu_ps(c.as_ptr()) });
        }
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` is 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), m) };
        let block_max = lanes
            .iter()
            .chain(sr.iter())
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        if block_max > *running_max {
            let r = exp_approx(*running_max - block_max);
            *denom *= r;
            for o in out.iter_mut() {
                *o *= r;
            }
            *running_max = block_max;
        }
        let mv = _mm256_set1_ps(*running_max);
        let mut sum = _mm256_setzero_ps();
        for c in s8.iter_mut() {
            // SAFETY: `c` is 8 floats.
            unsafe {
                let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(c.as_ptr()), mv));
                sum = _mm256_add_ps(sum, e);
                _mm256_storeu_ps(c.as_mut_ptr(), e);
            }
        }
        let mut tail = 0.0f32;
        for si in sr.iter_mut() {
            *si = exp_approx(*si - *running_max);
            tail += *si;
        }
        *denom += hsum(sum) + tail;
    }

    /// AVX2 and FMA are present (cached by the standard library after the first call).
    pub fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// Sum of each of 8 vectors, as one vector `[Σa0, …, Σa7]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn reduce8(a: [__m256; 8]) -> __m256 {
        let t0 = _mm256_hadd_ps(a[0], a[1]);
        let t1 = _mm256_hadd_ps(a[2], a[3]);
        let t2 = _mm256_hadd_ps(a[4], a[5]);
        let t3 = _mm256_hadd_ps(a[6], a[7]);
        let u0 = _mm256_hadd_ps(t0, t1); // [a0 a1 a2 a3 | a0 a1 a2 a3] (low/high halves)
        let u1 = _mm256_hadd_ps(t2, t3); // [a4 a5 a6 a7 | a4 a5 a6 a7]
        let lo = _mm256_permute2f128_ps::<0x20>(u0, u1);
        let hi = _mm256_permute2f128_ps::<0x31>(u0, u1);
        _mm256_add_ps(lo, hi)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(a: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    /// `s[j] = τ·q·k_j` for the rows of `kb`.
    ///
    /// # Safety
    /// `q.len() = d` is a multiple of 8 and `kb.len() = s.len()·d`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block_scores(q: &[f32], kb: &[f32], tau: f32, s: &mut [f32]) {
        let d = q.len();
        let qp = q.as_ptr();
        let taus = _mm256_set1_ps(tau);
        let (s8, sr) = s.as_chunks_mut::<8>();
        for (g, out) in s8.iter_mut().enumerate() {
            // SAFETY: key rows 8g..8g+8 lie inside kb (kb.len() = s.len()·d).
            let kp = unsafe { kb.as_ptr().add(g * 8 * d) };
            let mut acc = [_mm256_setzero_ps(); 8];
            for c in (0..d).step_by(8) {
                // SAFETY: c + 8 ≤ d (d is a multiple of 8), so q[c..c+8] and each
                // k_j[c..c+8] are in bounds.
                let qv = unsafe { _mm256_loadu_ps(qp.add(c)) };
                for (j, a) in acc.iter_mut().enumerate() {
                    let kv = unsafe { _mm256_loadu_ps(kp.add(j * d + c)) };
                    *a = _mm256_fmadd_ps(qv, kv, *a);
                }
            }
            let v = _mm256_mul_ps(taus, reduce8(acc));
            // SAFETY: `out` is 8 floats.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
        }
        let done = s8.len() * 8;
        for (j, si) in sr.iter_mut().enumerate() {
            // SAFETY: row done + j < s.len() lies inside kb.
            let kp = unsafe { kb.as_ptr().add((done + j) * d) };
            let mut a = _mm256_setzero_ps();
            for c in (0..d).step_by(8) {
                // SAFETY: as above.
                a = unsafe {
                    _mm256_fmadd_ps(_mm256_loadu_ps(qp.add(c)), _mm256_loadu_ps(kp.add(c)), a)
                };
            }
            *si = tau * hsum(a);
        }
    }

    /// `out += Σ_j w[j]·v_j`.
    ///
    /// 8 rows per pass, summed as a tree before touching `out`: the only dependency chain
    /// between passes is one add through `out` (a chain of one FMA per row would make this
    /// loop latency-bound at ~4 cycles per row).
    ///
    /// # Safety
    /// `out.len() = dv` is a multiple of 8 and `vb.len() = w.len()·dv`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn accumulate(out: &mut [f32], w: &[f32], vb: &[f32]) {
        let dv = out.len();
        let op = out.as_mut_ptr();
        let (w8, wr) = w.as_chunks::<8>();
        for (g, ww) in w8.iter().enumerate() {
            // SAFETY: rows 8g..8g+8 lie inside vb; c + 8 ≤ dv for every c below.
            let vp = unsafe { vb.as_ptr().add(g * 8 * dv) };
            let wv = ww.map(|x| _mm256_set1_ps(x));
            for c in (0..dv).step_by(8) {
                unsafe {
                    let row = |j: usize| _mm256_loadu_ps(vp.add(j * dv + c));
                    let a = _mm256_fmadd_ps(wv[1], row(1), _mm256_mul_ps(wv[0], row(0)));
                    let b = _mm256_fmadd_ps(wv[3], row(3), _mm256_mul_ps(wv[2], row(2)));
                    let e = _mm256_fmadd_ps(wv[5], row(5), _mm256_mul_ps(wv[4], row(4)));
                    let f = _mm256_fmadd_ps(wv[7], row(7), _mm256_mul_ps(wv[6], row(6)));
                    let sum = _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(e, f));
                    _mm256_storeu_ps(op.add(c), _mm256_add_ps(_mm256_loadu_ps(op.add(c)), sum));
                }
            }
        }
        let done = w8.len() * 8;
        for (j, &wj) in wr.iter().enumerate() {
            // SAFETY: row done + j lies inside vb.
            let vp = unsafe { vb.as_ptr().add((done + j) * dv) };
            let wv = _mm256_set1_ps(wj);
            for c in (0..dv).step_by(8) {
                unsafe {
                    let o =
                        _mm256_fmadd_ps(wv, _mm256_loadu_ps(vp.add(c)), _mm256_loadu_ps(op.add(c)));
                    _mm256_storeu_ps(op.add(c), o);
                }
            }
        }
    }

    /// The AVX2+FMA [`super::exact_attention`].
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA ([`available`]); the shapes are consistent (as checked
    /// by `exact_attention`) and `d`, `dv` are multiples of 8.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn attention(q: &[f32], keys: &[f32], values: &[f32], tau: f32, out: &mut [f32]) {
        let (d, dv) = (q.len(), out.len());
        out.fill(0.0);
        let mut running_max = f32::NEG_INFINITY;
        let mut denom = 0.0f32;
        let mut scores = [0.0f32; BLOCK];
        for (kb, vb) in keys.chunks(BLOCK * d).zip(values.chunks(BLOCK * dv)) {
            let s = &mut scores[..kb.len() / d];
            // SAFETY: d is a multiple of 8 and kb holds exactly s.len() rows of d.
            unsafe { block_scores(q, kb, tau, s) };
            softmax_step(s, &mut running_max, &mut denom, out);
            // SAFETY: dv is a multiple of 8 and vb holds exactly s.len() rows of dv.
            unsafe { accumulate(out, s, vb) };
        }
        finish(denom, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};

    type Kernel = fn(&[f32], &[f32], &[f32], f32, &mut [f32]);

    fn uniform(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
            .collect()
    }

    /// The textbook definition in f64: scores, max-subtraction, exp, normalise.
    fn naive_f64(q: &[f32], keys: &[f32], values: &[f32], tau: f32, dv: usize) -> Vec<f64> {
        let d = q.len();
        let scores: Vec<f64> = keys
            .chunks_exact(d)
            .map(|k| {
                tau as f64
                    * k.iter()
                        .zip(q)
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum::<f64>()
            })
            .collect();
        let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
        let z: f64 = w.iter().sum();
        let mut out = vec![0.0; dv];
        for (wi, v) in w.iter().zip(values.chunks_exact(dv)) {
            for (o, &x) in out.iter_mut().zip(v) {
                *o += wi / z * x as f64;
            }
        }
        out
    }

    #[test]
    fn exp_approx_relative_error() {
        let mut worst = 0.0f64;
        // 2·10⁶ points over [-87, 0], plus the endpoints and tiny magnitudes.
        let xs = (0..=2_000_000)
            .map(|i| -87.0 * i as f64 / 2e6)
            .chain([-1e-30, -1e-7, -0.3466, -0.3467]);
        for x in xs {
            let x32 = x as f32;
            let got = exp_approx(x32) as f64;
            let want = (x32 as f64).exp();
            worst = worst.max((got / want - 1.0).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        // Clamping: below -87 the result is exp(-87), above 0 it is 1; never 0, inf or NaN.
        assert_eq!(exp_approx(-1e30), exp_approx(-87.0));
        assert_eq!(exp_approx(f32::NEG_INFINITY), exp_approx(-87.0));
        assert!(exp_approx(-87.0) > 0.0);
        assert_eq!(exp_approx(0.0), 1.0);
    }

    #[test]
    fn matches_naive_f64_softmax() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // Shapes around the block and lane boundaries, and the benchmark's shape.
        for &(n, d, dv) in &[
            (1, 1, 1),
            (3, 5, 7),
            (255, 32, 32),
            (256, 32, 32),
            (257, 32, 32),
            (1000, 9, 3),
            (2049, 32, 32),
            (13, 16, 8),
            (300, 64, 16),
        ] {
            for &tau in &[0.0f32, 1.0, 4.0, 300.0] {
                let q = uniform(&mut rng, d);
                let keys = uniform(&mut rng, n * d);
                let values = uniform(&mut rng, n * dv);
                let mut out = vec![f32::NAN; dv];
                exact_attention(&q, &keys, &values, tau, &mut out);
                let want = naive_f64(&q, &keys, &values, tau, dv);
                for (j, (&g, &w)) in out.iter().zip(&want).enumerate() {
                    // Outputs are convex combinations of values in [-1, 1]; f32 accumulation
                    // over ≤ 2049 terms stays well inside 2·10⁻⁵.
                    assert!(
                        (g as f64 - w).abs() < 2e-5,
                        "n={n} d={d} dv={dv} tau={tau} j={j}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn large_scores_do_not_overflow_and_late_max_wins() {
        // Scores up to 1000 (exp overflows f32 at 88): only the max-subtraction keeps this
        // finite. The dominant key is in the last block, so the rescaling path is exercised.
        // d = dv = 8 reaches the SIMD kernel where there is one; d = 4, dv = 2 the portable.
        for (d, dv) in [(4, 2), (8, 8)] {
            let n = 600;
            let mut keys = vec![0.0f32; n * d];
            let mut values = vec![0.0f32; n * dv];
            for i in 0..n {
                keys[i * d] = i as f32 / n as f32; // score grows with i
                values[i * dv] = i as f32;
                values[i * dv + 1] = 1.0;
            }
            let mut q = vec![0.0f32; d];
            q[0] = 1.0;
            let tau = 1000.0 * n as f32 / (n - 1) as f32;
            let want = naive_f64(&q, &keys, &values, tau, dv);
            let kernels: [Kernel; 2] = [exact_attention, exact_attention_portable];
            for f in kernels {
                let mut out = vec![0.0f32; dv];
                f(&q, &keys, &values, tau, &mut out);
                assert!(out.iter().all(|x| x.is_finite()));
                assert!(
                    (out[0] as f64 - want[0]).abs() < 1e-3 * want[0],
                    "{out:?} {want:?}"
                );
                assert!((out[1] - 1.0).abs() < 1e-6);
                // The last key carries most of the weight (score gap 1000/(n-1) ≈ 1.67
                // between neighbours), so the output is close to the last value.
                assert!(out[0] > (n - 2) as f32);
            }
        }
    }
}
