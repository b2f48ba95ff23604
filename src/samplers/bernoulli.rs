//! Exact Bernoulli trials: rational probabilities and `exp(−x)` for rational `x ≥ 0`.
//!
//! The algorithms, exactness arguments and costs are documented on [`bernoulli_exp`]
//! (which covers the rational trial too).
//!
//! Every function returns [`Error::Rng`] as soon as a draw fails and never a value computed
//! after a failed draw.

use core::num::{NonZeroU64, NonZeroU128};

use rand_core::TryRng;

use super::uniform::{uniform_below_u64, uniform_below_u128};
use crate::{Error, Result};

/// A Bernoulli trial with probability exactly `num/den`.
///
/// Draws `u` uniform below `den` ([`uniform_below`](super::uniform_below): 1 RNG word if
/// `den ≤ 2^64`, else 2) and returns `u < num`. `num = 0` and `num = den` return without
/// drawing.
///
/// # Errors
/// [`Error::InvalidParameter`] if `den == 0` or `num > den`; [`Error::Rng`] if the RNG
/// fails.
pub fn bernoulli_rational<R: TryRng + ?Sized>(rng: &mut R, num: u128, den: u128) -> Result<bool> {
    if den == 0 || num > den {
        return Err(Error::InvalidParameter);
    }
    bern(rng, num, den)
}

/// A Bernoulli trial with probability exactly `exp(−num/den)`, for any `num/den ≥ 0`.
///
/// `⌊num/den⌋` independent Bernoulli(exp(−1)) trials that stop at the first
/// failure, then the CKS20 `K`-parity loop for the fractional part `f`. Exact for all
/// `u128` inputs. Expected cost: ≈ 1.6 words for the integer part (any size) plus `e^f`
/// trials for the fractional part, each 1 word when `den·k ≤ 2^64` (2–3 otherwise).
///
/// # Algorithms
/// - **Bernoulli(num/den)**: draw `u` uniform in `[0, den)` ([`uniform_below`](super::uniform_below)) and return
///   `u < num`. Exactly `num` of the `den` equally likely values succeed.
/// - **Bernoulli(exp(−x)), x = num/den ∈ [0, 1]** — Canonne, Kamath and Steinke, "The
///   Discrete Gaussian for Differential Privacy" (NeurIPS 2020, arXiv:2004.00010),
///   Algorithm 1. For `k = 1, 2, …` draw `Aₖ ~ Bernoulli(x/k)` until the first failure, at
///   index `K`; return `K` odd. Since `P[K > k] = xᵏ/k!`,
///   `P[K odd] = Σ_{j≥1} (x^{2j−2}/(2j−2)! − x^{2j−1}/(2j−1)!) = e^{−x}`.
/// - **x > 1** (CKS20 Algorithm 1, second part): `exp(−x) = exp(−1)^⌊x⌋ · exp(−(x − ⌊x⌋))`;
///   draw `⌊x⌋` independent Bernoulli(exp(−1)) trials, stopping at the first failure, then
///   one trial of the fractional part.
///
/// # Keeping every step exact in fixed width
/// - `Aₖ ~ Bernoulli(num/(den·k))` is one uniform draw below `den·k` when that product fits
///   in `u128` (in `u64` when it fits there, the fast path). When it does not fit, it is drawn
///   as `Bernoulli(num/den) ∧ Bernoulli(1/k)`: two independent trials whose conjunction has
///   probability exactly `num/den · 1/k`. Nothing is ever divided or rounded, so the
///   `(b/g)·k` vs `b·(k/g)` class of bug (cmpute/dashu#57, opendp#2638) cannot occur.
/// - Only the *distribution of K* matters, so several `Aₖ` may be resolved by one uniform
///   draw: with `D = c^m·m!` and `u` uniform in `[0, D)`, "`A₁…Aₖ` all succeed" is the event
///   `u < D/(cᵏ·k!)` for `x = 1/c`. These events are nested and have exactly the
///   probabilities `1/(cᵏ·k!)`, so `K` has the right law; `K > m` (probability `1/D`)
///   continues with independent trials from `k = m + 1`. This gives exp(−1) (c = 1, m = 19,
///   D = 19!) and exp(−1/2) (c = 2, m = 15, D = 2^15·15!) in one 64-bit word. `D ≤ 2^58`
///   is chosen so that the Lemire rejection rate `(2^64 mod D)/2^64 < D/2^64` stays below
///   1/64.
///
/// # Runtime (64-bit RNG words)
/// - Bernoulli(num/den): 1 word if `den ≤ 2^64`, else 2 (plus Lemire rejections, ≈ 0 except
///   for bounds just above a power of two); 0 if `num ∈ {0, den}`.
/// - Bernoulli(exp(−1)) and Bernoulli(exp(−1/2)): ≈ 1.003 words each (`K > m` has
///   probability `1/19!` resp. `1/(2^15·15!)`, below 10^-16; the Lemire rejection rates are
///   < 0.7 % and < 0.3 %).
/// - Bernoulli(exp(−x)), x ∈ (0, 1]: `E[K] = e^x ≤ e` trials of ≤ 1–2 words each.
/// - x > 1: the `⌊x⌋` loop stops at the first failure, so it costs at most
///   `1/(1 − e^{−1})` ≈ 1.58 Bernoulli(exp(−1)) trials in expectation, however large `x`.
///
/// # Errors
/// [`Error::InvalidParameter`] if `den == 0`; [`Error::Rng`] if the RNG fails;
/// [`Error::SampleOverflow`] only if the CKS20 loop index would pass 2^64 (probability
/// below `1/(2^64)!`, i.e. never).
pub fn bernoulli_exp<R: TryRng + ?Sized>(rng: &mut R, num: u128, den: u128) -> Result<bool> {
    let Some(d) = NonZeroU128::new(den) else {
        return Err(Error::InvalidParameter);
    };
    let int = num / d;
    let frac = num % d;
    Ok(exp_int(rng, int)? && exp_frac(rng, frac, den)?)
}

/// Bernoulli(num/den) for `den ≥ 1`; `num ≥ den` means probability 1 (no draw).
/// Uses the one-word `u64` path whenever `den < 2^64`.
#[inline]
pub(crate) fn bern<R: TryRng + ?Sized>(rng: &mut R, num: u128, den: u128) -> Result<bool> {
    if num == 0 {
        return Ok(false);
    }
    if num >= den {
        return Ok(true);
    }
    // Here 1 ≤ num < den, so den ≥ 2 and the NonZero conversions succeed.
    match u64::try_from(den) {
        Ok(d) => match NonZeroU64::new(d) {
            Some(d) => Ok(u128::from(uniform_below_u64(rng, d)?) < num),
            None => Err(Error::InvalidParameter),
        },
        Err(_) => match NonZeroU128::new(den) {
            Some(d) => Ok(uniform_below_u128(rng, d)? < num),
            None => Err(Error::InvalidParameter),
        },
    }
}

/// Bernoulli(num/den) on the `u64` fast path (1 word); `num ≥ den` is probability 1.
#[inline]
pub(crate) fn bern_u64<R: TryRng + ?Sized>(rng: &mut R, num: u64, den: u64) -> Result<bool> {
    if num == 0 {
        return Ok(false);
    }
    if num >= den {
        return Ok(true);
    }
    match NonZeroU64::new(den) {
        Some(d) => Ok(uniform_below_u64(rng, d)? < num),
        None => Err(Error::InvalidParameter),
    }
}

/// Bernoulli(num/(den·k)), exactly: one draw below `den·k` if the product fits in `u128`,
/// else `Bernoulli(num/den) ∧ Bernoulli(1/k)` (independent, so the probabilities multiply).
#[inline]
pub(crate) fn bern_over_k<R: TryRng + ?Sized>(
    rng: &mut R,
    num: u128,
    den: u128,
    k: u64,
) -> Result<bool> {
    match den.checked_mul(u128::from(k)) {
        Some(dk) => bern(rng, num, dk),
        None => Ok(bern(rng, num, den)? && bern_u64(rng, 1, k)?),
    }
}

/// The CKS20 Algorithm 1 loop for `x = num/den ∈ [0, 1]`, starting at index `k0` (the
/// trials `A₁ … A_{k0−1}` are known to have succeeded): returns `K` odd, where `K ≥ k0` is
/// the first failing index.
pub(crate) fn exp1_from<R: TryRng + ?Sized>(
    rng: &mut R,
    num: u128,
    den: u128,
    k0: u64,
) -> Result<bool> {
    let mut k = k0;
    loop {
        if !bern_over_k(rng, num, den, k)? {
            return Ok(k & 1 == 1);
        }
        // Reaching k = 2^64 − 1 needs 2^64 − 2 consecutive successes (probability
        // ≤ 1/(2^64 − 2)!): report it rather than wrap or saturate.
        k = k.checked_add(1).ok_or(Error::SampleOverflow)?;
    }
}

/// Bernoulli(exp(−num/den)) for `num ≤ den` (the fractional part), `den ≥ 1`.
/// `num = 0` is probability 1 (no draw); `num = den` uses the one-word exp(−1) sampler.
#[inline]
pub(crate) fn exp_frac<R: TryRng + ?Sized>(rng: &mut R, num: u128, den: u128) -> Result<bool> {
    if num == 0 {
        return Ok(true);
    }
    if num >= den {
        return exp_minus_one(rng);
    }
    if num.checked_mul(2) == Some(den) {
        return exp_minus_half(rng);
    }
    exp1_from(rng, num, den, 1)
}

/// Bernoulli(exp(−n)) for an integer `n`: `n` independent Bernoulli(exp(−1)) trials,
/// stopping at the first failure (expected ≤ 1.58 trials whatever `n` is).
#[inline]
pub(crate) fn exp_int<R: TryRng + ?Sized>(rng: &mut R, n: u128) -> Result<bool> {
    let mut i = 0u128;
    while i < n {
        if !exp_minus_one(rng)? {
            return Ok(false);
        }
        i += 1;
    }
    Ok(true)
}

/// The number of successes of independent Bernoulli(exp(−1)) trials before the first
/// failure: geometric with `P[V ≥ v] = e^{−v}`.
///
/// # Errors
/// [`Error::SampleOverflow`] if the count would pass `u64::MAX` (probability `e^{−2^64}`).
#[inline]
pub(crate) fn geometric_exp_minus_one<R: TryRng + ?Sized>(rng: &mut R) -> Result<u64> {
    let mut v = 0u64;
    while exp_minus_one(rng)? {
        v = v.checked_add(1).ok_or(Error::SampleOverflow)?;
    }
    Ok(v)
}

/// Precomputed thresholds to resolve the first `m` trials of the CKS20 loop for
/// `x = 1/c` with one uniform draw below `d = c^m·m!` (see the module docs).
struct RecipTable {
    /// The reciprocal `c` (x = 1/c).
    c: u64,
    /// How many trials one draw resolves.
    m: u64,
    /// `c^m · m!`, the size of the uniform draw (≤ 2^58).
    d: u64,
    /// `th[k] = d / (c^k · k!)` for `k = 1..=m` (index `k − 1`); `u < th[k]` ⇔ `A₁…Aₖ` succeed.
    th: [u64; 20],
}

/// Build the table for `x = 1/c`: the largest `m ≤ 20` with `c^m·m! ≤ 2^58`.
const fn recip_table(c: u64) -> RecipTable {
    // Find m and d = c^m·m!.
    let mut m = 0u64;
    let mut d = 1u64;
    while m < 20 {
        let Some(next) = d.checked_mul(c) else { break };
        let Some(next) = next.checked_mul(m + 1) else {
            break;
        };
        if next > 1 << 58 {
            break;
        }
        d = next;
        m += 1;
    }
    // th[k] = d/(c^k·k!): exact because c^k·k! divides c^m·m! for k ≤ m.
    let mut th = [0u64; 20];
    let mut denom = 1u64; // c^k · k!
    let mut k = 1u64;
    while k <= m {
        denom *= c * k;
        th[(k - 1) as usize] = d / denom;
        k += 1;
    }
    RecipTable { c, m, d, th }
}

/// exp(−1): m = 19, d = 19! = 121 645 100 408 832 000 < 2^58.
static EXP_MINUS_ONE: RecipTable = recip_table(1);
/// exp(−1/2): m = 15, d = 2^15·15! = 42 849 873 690 624 000 < 2^58.
static EXP_MINUS_HALF: RecipTable = recip_table(2);

/// CKS20 Algorithm 1 for `x = 1/c`, resolving the first `m` trials with one draw.
#[inline]
fn exp_recip<R: TryRng + ?Sized>(rng: &mut R, t: &RecipTable) -> Result<bool> {
    let Some(d) = NonZeroU64::new(t.d) else {
        return Err(Error::InvalidParameter);
    };
    let u = uniform_below_u64(rng, d)?;
    // th is decreasing in k, so the first k with u ≥ th[k] is K (the first failure).
    for (k, &th) in (1u64..=t.m).zip(t.th.iter()) {
        if u >= th {
            return Ok(k & 1 == 1);
        }
    }
    // All of A₁…A_m succeeded (u < th[m] = 1, i.e. u = 0): continue the loop exactly.
    exp1_from(rng, 1, u128::from(t.c), t.m + 1)
}

/// Bernoulli(exp(−1)) in ≈ 1.003 words (CKS20 Algorithm 1 with x = 1, first 19 trials
/// resolved by one draw below 19!).
#[inline]
pub(crate) fn exp_minus_one<R: TryRng + ?Sized>(rng: &mut R) -> Result<bool> {
    exp_recip(rng, &EXP_MINUS_ONE)
}

/// Bernoulli(exp(−1/2)) in ≈ 1.002 words (first 15 trials resolved by one draw below
/// 2^15·15!).
#[inline]
pub(crate) fn exp_minus_half<R: TryRng + ?Sized>(rng: &mut R) -> Result<bool> {
    exp_recip(rng, &EXP_MINUS_HALF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::testutil::{TestRng, check_rng_failures, wilson_contains};

    const N: u64 = 100_000;

    fn rate(mut f: impl FnMut(&mut TestRng) -> Result<bool>, seed: u64) -> u64 {
        let mut rng = TestRng::seeded(seed);
        (0..N).filter(|_| f(&mut rng).unwrap()).count() as u64
    }

    #[test]
    fn tables_are_exact() {
        assert_eq!(EXP_MINUS_ONE.m, 19);
        assert_eq!(EXP_MINUS_ONE.d, 121_645_100_408_832_000);
        assert_eq!(EXP_MINUS_ONE.th[0], EXP_MINUS_ONE.d); // A₁ = Bernoulli(1)
        assert_eq!(EXP_MINUS_ONE.th[18], 1);
        assert_eq!(EXP_MINUS_HALF.m, 15);
        assert_eq!(EXP_MINUS_HALF.d, 42_849_873_690_624_000);
        assert_eq!(EXP_MINUS_HALF.th[0], EXP_MINUS_HALF.d / 2);
        assert_eq!(EXP_MINUS_HALF.th[14], 1);
        // P[K odd] from the thresholds equals the truncated series of e^{-x}.
        for t in [&EXP_MINUS_ONE, &EXP_MINUS_HALF] {
            let mut p = 0.0;
            let mut prev = t.d as f64;
            for (k, &th) in (1u64..=t.m).zip(t.th.iter()) {
                if k % 2 == 1 {
                    p += (prev - th as f64) / t.d as f64;
                }
                prev = th as f64;
            }
            let want = (-1.0 / t.c as f64).exp();
            // The series is cut after m terms: the remainder is ≤ 1/d < 1e-16.
            assert!((p - want).abs() < 1e-15, "c = {}: {p} vs {want}", t.c);
        }
    }

    #[test]
    fn rational_rejects_bad_parameters_and_handles_endpoints() {
        let mut rng = TestRng::seeded(5);
        assert_eq!(
            bernoulli_rational(&mut rng, 1, 0),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            bernoulli_rational(&mut rng, 0, 0),
            Err(Error::InvalidParameter)
        );
        assert_eq!(
            bernoulli_rational(&mut rng, 4, 3),
            Err(Error::InvalidParameter)
        );
        assert_eq!(bernoulli_exp(&mut rng, 1, 0), Err(Error::InvalidParameter));
        for _ in 0..1000 {
            assert_eq!(bernoulli_rational(&mut rng, 0, 7), Ok(false));
            assert_eq!(bernoulli_rational(&mut rng, 7, 7), Ok(true));
            assert_eq!(bernoulli_rational(&mut rng, u128::MAX, u128::MAX), Ok(true));
            assert_eq!(bernoulli_exp(&mut rng, 0, 7), Ok(true));
            assert_eq!(bernoulli_exp(&mut rng, 0, u128::MAX), Ok(true));
        }
    }

    /// Wilson score intervals (α = 1e-6) at fixed points, including non-dyadic
    /// probabilities and denominators from small primes to ≈ 2^127.
    #[test]
    fn rational_fixed_points_wilson() {
        let pts: &[(u128, u128)] = &[
            (1, 2),
            (1, 3),
            (2, 3),
            (3, 4),
            (4, 5),
            (1, 1000),
            (1 << 29, (1 << 30) + 1),
            (43_691, 65_537),
            (666_669, 1_000_003),
            (u64::MAX as u128 / 3, u64::MAX as u128),
            ((1 << 100) / 3 * 2, (1 << 100) + 277),
            (u128::MAX / 5 * 4, u128::MAX - 1),
        ];
        for (i, &(a, b)) in pts.iter().enumerate() {
            let hits = rate(|r| bernoulli_rational(r, a, b), 100 + i as u64);
            let p = a as f64 / b as f64;
            assert!(wilson_contains(hits, N, p), "{a}/{b}: {hits}/{N} vs {p}");
        }
    }

    /// `x` as (num, den) pairs covering: 0, dyadic and non-dyadic points in (0, 1), x = 1,
    /// x > 1, and large denominators — including den ≈ 2^127 where `den·k` overflows
    /// `u128` and the `Bernoulli(x) ∧ Bernoulli(1/k)` path is taken.
    const EXP_POINTS: &[(u128, u128)] = &[
        (1, 8),
        (1, 4),
        (1, 2),
        (2, 3),
        (3, 4),
        (4, 5),
        (1, 1),
        (3, 2),
        (7, 3),
        (5, 1),
        (2 * (1 << 30) / 3, 1 << 30),
        (43_691, 65_537),
        (5 * 65_537 + 3, 65_537),
        (666_669, 1_000_003),
        (7_000_000, 1_000_003),
        ((1 << 100) / 3 * 2, (1 << 100) + 277),
        ((1 << 100) * 3 / 4 * 3, (1 << 100) + 277),
        ((1 << 126) / 5 * 4, (1 << 127) - 1),
        (u128::MAX / 3 * 2, u128::MAX),
    ];

    #[test]
    fn exp_fixed_points_wilson() {
        for (i, &(a, b)) in EXP_POINTS.iter().enumerate() {
            let hits = rate(|r| bernoulli_exp(r, a, b), 200 + i as u64);
            let p = (-(a as f64 / b as f64)).exp();
            assert!(
                wilson_contains(hits, N, p),
                "exp(-{a}/{b}): {hits}/{N} vs {p}"
            );
        }
    }

    /// The one-draw exp(−1) and exp(−1/2) samplers against the exact value, and against the
    /// plain CKS20 loop (`exp1_from` at k = 1), which uses one draw per trial.
    #[test]
    fn exp_special_cases_wilson() {
        let e1 = rate(exp_minus_one, 300);
        assert!(wilson_contains(e1, N, (-1.0f64).exp()), "exp(-1): {e1}");
        let e1_loop = rate(|r| exp1_from(r, 1, 1, 1), 301);
        assert!(
            wilson_contains(e1_loop, N, (-1.0f64).exp()),
            "loop exp(-1): {e1_loop}"
        );
        let eh = rate(exp_minus_half, 302);
        assert!(wilson_contains(eh, N, (-0.5f64).exp()), "exp(-1/2): {eh}");
        let eh_loop = rate(|r| exp1_from(r, 1, 2, 1), 303);
        assert!(
            wilson_contains(eh_loop, N, (-0.5f64).exp()),
            "loop exp(-1/2): {eh_loop}"
        );
        // Very large x: the integer loop stops at the first failure.
        let mut rng = TestRng::seeded(304);
        for _ in 0..1000 {
            assert_eq!(bernoulli_exp(&mut rng, u128::MAX, 1), Ok(false));
        }
    }

    /// P(x + y) = P(x)·P(y), comparing two independent estimates (α = 1e-6 via z-test on
    /// the difference of the two rates).
    #[test]
    fn exp_factorizes_over_addition() {
        // x = 2/3, y = 4/5 → x + y = 22/15.
        let sum = rate(|r| bernoulli_exp(r, 22, 15), 400) as f64 / N as f64;
        let prod = rate(
            |r| Ok(bernoulli_exp(r, 2, 3)? && bernoulli_exp(r, 4, 5)?),
            401,
        ) as f64
            / N as f64;
        let se = (sum * (1.0 - sum) / N as f64 + prod * (1.0 - prod) / N as f64).sqrt();
        assert!((sum - prod).abs() < 4.9 * se, "{sum} vs {prod}");
    }

    #[test]
    fn geometric_mean() {
        // E[V] = e^{-1}/(1 − e^{-1}); Var[V] = e^{-1}/(1 − e^{-1})^2.
        let mut rng = TestRng::seeded(500);
        let q = (-1.0f64).exp();
        let (mean, var) = (q / (1.0 - q), q / (1.0 - q).powi(2));
        let s: u64 = (0..N)
            .map(|_| geometric_exp_minus_one(&mut rng).unwrap())
            .sum();
        let z = (s as f64 / N as f64 - mean) / (var / N as f64).sqrt();
        assert!(z.abs() < 4.9, "z = {z}");
    }

    #[test]
    fn rng_failure_is_propagated() {
        for &(a, b) in &[(1u128, 3u128), (2, 3), ((1 << 100) / 3, (1 << 100) + 277)] {
            check_rng_failures(|rng| bernoulli_rational(rng, a, b));
        }
        for &(a, b) in EXP_POINTS {
            check_rng_failures(|rng| bernoulli_exp(rng, a, b));
        }
        check_rng_failures(geometric_exp_minus_one);
    }
}
