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

/// Exact softmax attention for one query: `out = Σ_i softmax(τ·q·k_i)·v_i`.
///
/// `keys` is `n × d` row-major with `d = q.len()`, `values` is `n × dv` with
/// `dv = out.len()`.
///
/// # Panics
/// If `d` or `dv` is 0, `n` is 0, or the slice lengths disagree (a benchmark bug).
pub fn exact_attention(q: &[f32], keys: &[f32], values: &[f32], tau: f32, out: &mut [f32]) {
    let d = q.len();
    let dv = out.len();
    assert!(
        d > 0 && dv > 0 && keys.len().is_multiple_of(d),
        "bad shapes"
    );
    let n = keys.len() / d;
    assert!(n > 0 && values.len() == n * dv, "bad shapes");
    out.fill(0.0);
    let mut running_max = f32::NEG_INFINITY;
    let mut denom = 0.0f32;
    let mut scores = [0.0f32; BLOCK];
    for (kb, vb) in keys.chunks(BLOCK * d).zip(values.chunks(BLOCK * dv)) {
        let s = &mut scores[..kb.len() / d];
        for (si, k) in s.iter_mut().zip(kb.chunks_exact(d)) {
            *si = tau * dot(q, k);
        }
        let block_max = max_of(s);
        if block_max > running_max {
            // First block: running_max = −∞, so r ≈ 0 and denom = out = 0 stay 0.
            let r = exp_approx(running_max - block_max);
            denom *= r;
            for o in out.iter_mut() {
                *o *= r;
            }
            running_max = block_max;
        }
        for si in s.iter_mut() {
            *si = exp_approx(*si - running_max);
        }
        denom += sum_of(s);
        accumulate(out, s, vb);
    }
    // denom ≥ 1: the maximal score contributes exp(0) = 1.
    let inv = 1.0 / denom;
    for o in out.iter_mut() {
        *o *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};

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
        let (n, d, dv) = (600, 4, 2);
        let mut keys = vec![0.0f32; n * d];
        let mut values = vec![0.0f32; n * dv];
        for i in 0..n {
            keys[i * d] = i as f32 / n as f32; // score grows with i
            values[i * dv] = i as f32;
            values[i * dv + 1] = 1.0;
        }
        let q = [1.0f32, 0.0, 0.0, 0.0];
        let mut out = [0.0f32; 2];
        exact_attention(
            &q,
            &keys,
            &values,
            1000.0 * n as f32 / (n - 1) as f32,
            &mut out,
        );
        let want = naive_f64(&q, &keys, &values, 1000.0 * n as f32 / (n - 1) as f32, dv);
        assert!(out.iter().all(|x| x.is_finite()));
        assert!(
            (out[0] as f64 - want[0]).abs() < 1e-3 * want[0],
            "{out:?} {want:?}"
        );
        assert!((out[1] - 1.0).abs() < 1e-6);
        // The last key carries most of the weight (score gap 1000/(n-1) ≈ 1.67 between
        // neighbours), so the output is close to the last value.
        assert!(out[0] > (n - 2) as f32);
    }
}
