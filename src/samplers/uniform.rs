//! Uniform integers below a bound, from whole 64-bit RNG words, without modulo bias.
//!
//! The algorithm, its exactness proof and its cost are documented on [`uniform_below`].

use core::num::{NonZeroU64, NonZeroU128};

use rand_core::TryRng;

use crate::{Error, Result};

/// One 64-bit word from the caller's RNG; any RNG error becomes [`Error::Rng`].
#[inline]
pub(crate) fn next_word<R: TryRng + ?Sized>(rng: &mut R) -> Result<u64> {
    rng.try_next_u64().map_err(|_| Error::Rng)
}

/// A uniform integer in `[0, bound)`, exactly (no modulo bias).
///
/// `bound = 1` returns 0 without drawing.
///
/// # Algorithm
/// Lemire's multiply-shift with exact rejection (D. Lemire, "Fast Random Integer
/// Generation in an Interval", ACM TOMACS 29(1), 2019, Algorithm 5). For a bound `b` and a
/// uniform `w`-bit word `x` (w = 64 or 128), form the 2w-bit product `x·b` and split it into
/// `hi = ⌊x·b / 2^w⌋` and `lo = x·b mod 2^w`. Accept when `lo ≥ 2^w mod b` and return `hi`.
///
/// # Exactness
/// Let `T = 2^w mod b`. For each `h < b`, the accepted words giving `hi = h` are the `x`
/// with `x·b ∈ [h·2^w + T, (h + 1)·2^w)`. That half-open interval has length
/// `2^w − T = b·⌊2^w/b⌋`, a multiple of `b`, so it contains exactly `⌊2^w/b⌋` multiples of
/// `b` — the same number for every `h` — and an accepted `hi` is exactly uniform on
/// `[0, b)`. Rejected words are discarded and a fresh word is drawn, so the output is
/// independent of how many rejections happened. (`lo < b` is checked first only to
/// skip computing `T`, which needs a division: `T < b`, so `lo ≥ b` always accepts.)
///
/// # Runtime
/// One RNG word per attempt for `b ≤ 2^64`, two for larger bounds (whole words only: the
/// fewest that can cover the bound). The rejection probability is `(2^w mod b) / 2^w`,
/// which is below `min(b, 2^w − b)/2^w ≤ 1/2`; for the bounds the samplers use (mostly far
/// below 2^58) it is negligible and the expected cost is 1 word, while the worst case
/// (b just above 2^(w−1)) costs 2 attempts on average. The `u64` path needs one 64×64→128
/// multiply per attempt, and a division only on the rare path where `lo < b`.
///
/// # Errors
/// [`Error::InvalidParameter`] if `bound == 0`; [`Error::Rng`] if the RNG fails (no value
/// is returned after a failed draw).
pub fn uniform_below<R: TryRng + ?Sized>(rng: &mut R, bound: u128) -> Result<u128> {
    let Some(nz) = NonZeroU128::new(bound) else {
        return Err(Error::InvalidParameter);
    };
    if bound == 1 {
        return Ok(0);
    }
    match u64::try_from(bound) {
        Ok(b) => match NonZeroU64::new(b) {
            Some(b) => uniform_below_u64(rng, b).map(u128::from),
            // Unreachable: bound ≥ 2 here.
            None => Err(Error::InvalidParameter),
        },
        // Exactly 2^64: one whole word is already uniform on [0, 2^64).
        Err(_) if bound == 1u128 << 64 => next_word(rng).map(u128::from),
        Err(_) => uniform_below_u128(rng, nz),
    }
}

/// A uniform integer in `[0, bound)` from 64-bit words (Lemire; one word per attempt).
/// `bound = 1` still consumes one word (callers avoid that case where it matters).
#[inline]
pub(crate) fn uniform_below_u64<R: TryRng + ?Sized>(rng: &mut R, bound: NonZeroU64) -> Result<u64> {
    let b = bound.get();
    // x < 2^64 and b < 2^64, so x·b < 2^128 fits in u128.
    let mut m = u128::from(next_word(rng)?) * u128::from(b);
    // Truncation intended: the low 64 bits of the product.
    if (m as u64) < b {
        // 2^64 mod b, computed as (2^64 − b) mod b in u64; the divisor is non-zero by type.
        let threshold = b.wrapping_neg() % bound;
        while (m as u64) < threshold {
            m = u128::from(next_word(rng)?) * u128::from(b);
        }
    }
    // hi = ⌊x·b / 2^64⌋ < b fits in u64.
    Ok((m >> 64) as u64)
}

/// A uniform integer in `[0, bound)` from pairs of 64-bit words (Lemire with a 256-bit
/// product; two words per attempt).
pub(crate) fn uniform_below_u128<R: TryRng + ?Sized>(
    rng: &mut R,
    bound: NonZeroU128,
) -> Result<u128> {
    let b = bound.get();
    let (mut hi, mut lo) = mul_wide(draw_u128(rng)?, b);
    if lo < b {
        // 2^128 mod b; the divisor is non-zero by type.
        let threshold = b.wrapping_neg() % bound;
        while lo < threshold {
            (hi, lo) = mul_wide(draw_u128(rng)?, b);
        }
    }
    Ok(hi)
}

/// A uniform 128-bit word from two 64-bit words.
#[inline]
fn draw_u128<R: TryRng + ?Sized>(rng: &mut R) -> Result<u128> {
    let hi = next_word(rng)?;
    let lo = next_word(rng)?;
    Ok((u128::from(hi) << 64) | u128::from(lo))
}

/// The full 256-bit product `a·b` as `(high 128 bits, low 128 bits)`.
///
/// Schoolbook on 64-bit limbs. Every partial product `aᵢ·bⱼ < 2^128` fits in `u128`;
/// `mid = ⌊p00/2^64⌋ + (p01 mod 2^64) + (p10 mod 2^64) < 3·2^64` fits; and the high
/// sum is exactly `⌊a·b / 2^128⌋ < 2^128`, with every partial sum bounded by that final
/// value, so no addition overflows.
#[inline]
pub(crate) const fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const M: u128 = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & M);
    let (b1, b0) = (b >> 64, b & M);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & M) + (p10 & M);
    let lo = ((mid & M) << 64) | (p00 & M);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::testutil::{ALPHA, FailAt, TestRng, check_rng_failures, chi2_pvalue};

    #[test]
    fn zero_bound_is_rejected_and_one_is_always_zero() {
        let mut rng = TestRng::seeded(1);
        assert_eq!(uniform_below(&mut rng, 0), Err(Error::InvalidParameter));
        for _ in 0..1000 {
            assert_eq!(uniform_below(&mut rng, 1), Ok(0));
        }
        // bound = 1 needs no randomness, so even a failing RNG gives 0.
        let mut bad = FailAt::new(TestRng::seeded(1), 1, true);
        assert_eq!(uniform_below(&mut bad, 1), Ok(0));
    }

    #[test]
    fn mul_wide_matches_reference() {
        let cases = [
            (0u128, 0u128),
            (u128::MAX, u128::MAX),
            (u128::MAX, 2),
            (1 << 64, 1 << 64),
            (
                0x1234_5678_9abc_def0_1122_3344_5566_7788,
                0xffee_ddcc_bbaa_9988_7766_5544_3322_1100,
            ),
        ];
        for (a, b) in cases {
            let (hi, lo) = mul_wide(a, b);
            assert_eq!(lo, a.wrapping_mul(b));
            // Check hi via a·b = hi·2^128 + lo using the 64-bit split of a.
            let (h1, l1) = mul_wide(a >> 64, b);
            let (h0, l0) = mul_wide(a & u64::MAX as u128, b);
            // a·b = (a>>64)·b·2^64 + (a&M)·b
            let sum_lo = (l1 << 64).wrapping_add(l0);
            let carry = u128::from(sum_lo < l0);
            let want_hi = (h1 << 64) + (l1 >> 64) + h0 + carry;
            assert_eq!((hi, lo), (want_hi, sum_lo), "{a:#x} * {b:#x}");
        }
        assert_eq!(mul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
    }

    /// χ² test of uniformity: every value of a small bound is its own bin.
    #[test]
    fn small_bounds_are_uniform() {
        let mut rng = TestRng::seeded(2);
        for bound in [2u128, 3, 5, 6, 7, 10, 100, 1000] {
            let n = 40_000usize.max(bound as usize * 50);
            let mut counts = vec![0u64; bound as usize];
            for _ in 0..n {
                let v = uniform_below(&mut rng, bound).unwrap();
                counts[v as usize] += 1;
            }
            let e = n as f64 / bound as f64;
            let stat: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
            let p = chi2_pvalue(stat, (bound - 1) as f64);
            assert!(p > ALPHA, "bound {bound}: chi2 {stat}, p {p}");
        }
    }

    /// Large bounds, bucketed both by magnitude (high bits) and by residue mod 3 and mod 7
    /// (low bits), so a bias in either end of the value would show. (Skipping Lemire's
    /// rejection step, for example, makes every third value twice as likely at
    /// `b ≈ 3·2^62`, which only the residues reveal.)
    #[test]
    fn large_bounds_are_uniform() {
        let mut rng = TestRng::seeded(3);
        let bounds = [
            3 << 62,                            // u64 path, heavy rejection (1/4)
            (1u128 << 63) + (1 << 62) + 12_345, // the same, not a multiple of a power of 2
            u64::MAX as u128 - 58,              // u64 path, bound near 2^64
            1_000_000_007,                      // u64 path, small prime
            1u128 << 64,                        // exactly one word
            (1u128 << 64) + 1,                  // smallest u128-path bound
            (1u128 << 100) + 12_345,            // u128 path
            3u128 << 126,                       // u128 path, heavy rejection (1/4)
            (3u128 << 126) + 7,                 // the same, odd
            u128::MAX,                          // largest bound
        ];
        const BUCKETS: u128 = 64;
        let n = 64_000usize;
        for bound in bounds {
            let width = bound.div_ceil(BUCKETS);
            let mut by_size = vec![0u64; BUCKETS as usize];
            let mut by_res3 = [0u64; 3];
            let mut by_res7 = [0u64; 7];
            for _ in 0..n {
                let v = uniform_below(&mut rng, bound).unwrap();
                assert!(v < bound);
                by_size[(v / width) as usize] += 1;
                by_res3[(v % 3) as usize] += 1;
                by_res7[(v % 7) as usize] += 1;
            }
            // Expected share of bucket i: its number of values / bound.
            let mut stat = 0.0;
            let mut df = -1.0;
            for (i, &c) in by_size.iter().enumerate() {
                let lo = width * i as u128;
                let hi = lo.saturating_add(width).min(bound);
                let e = n as f64 * ((hi - lo) as f64 / bound as f64);
                stat += (c as f64 - e).powi(2) / e;
                df += 1.0;
            }
            let p = chi2_pvalue(stat, df);
            assert!(
                p > ALPHA,
                "bound {bound:#x} (magnitude): chi2 {stat}, p {p}"
            );
            // Residue shares differ from 1/m by < 1/bound, negligible here.
            for res in [&by_res3[..], &by_res7[..]] {
                let m = res.len() as f64;
                let e = n as f64 / m;
                let stat: f64 = res.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
                let p = chi2_pvalue(stat, m - 1.0);
                assert!(p > ALPHA, "bound {bound:#x} (mod {m}): chi2 {stat}, p {p}");
            }
        }
    }

    /// Whole words, as few as possible: 1 per draw below 2^64 (rejection ≈ 0 here) and 2
    /// above.
    #[test]
    fn word_usage() {
        let mut rng = FailAt::new(TestRng::seeded(4), u64::MAX, false);
        for _ in 0..10_000 {
            uniform_below(&mut rng, 1000).unwrap();
        }
        // Rejection probability is (2^64 mod 1000)/2^64 < 2^-54 per draw.
        assert_eq!(rng.draws(), 10_000);
        let mut rng = FailAt::new(TestRng::seeded(4), u64::MAX, false);
        for _ in 0..10_000 {
            uniform_below(&mut rng, (1 << 100) + 3).unwrap();
        }
        assert_eq!(rng.draws(), 20_000);
    }

    #[test]
    fn rng_failure_is_propagated() {
        for bound in [
            2u128,
            1000,
            (3 << 62) + 1,
            1 << 64,
            (1 << 64) + 1,
            (3 << 126) + 7,
        ] {
            check_rng_failures(|rng| uniform_below(rng, bound));
        }
    }
}
